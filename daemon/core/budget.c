/*
 * budget.c - what each uid holds of netd: bytes of memory, control
 * connections and name lookups, counted in one table shared by every
 * thread without a lock (slots claimed with compare-and-swap, counters
 * changed with atomic adds), and the daemon-wide sum of memory.
 *
 * The layers that allocate for a client charge it here before they
 * allocate and give it back when they free: a stream's read buffer and
 * write queue, a parked datagram, a request in flight, a control
 * connection's unfinished line and queued answers. A charge that would
 * pass the uid's --max-memory, or the daemon's --max-memory-total, is
 * refused and the caller fails the work with `limit` "max_memory" (or
 * stops reading). Root always has the last --max-memory of the total for
 * itself, so no other uid can take the memory root needs to be served.
 */
#include <malloc.h>

#include "core.h"

#define UID_SLOTS 4096

static struct {
    uint64_t key; /* uid + 1; 0 = free */
    uint64_t count[UC__COUNT];
} uids[UID_SLOTS];

static uint64_t mem_all;  /* bytes charged, every uid */
static uint64_t mem_peak; /* the most mem_all was since the last trim */

/* Freed memory goes back to the system once this much less is held than
 * at the peak: glibc keeps freed heap and arena memory otherwise. */
#define TRIM_STEP (8u << 20)

uint64_t *uid_counter(uid_t uid, enum uid_count which)
{
    uint64_t key = (uint64_t)uid + 1;
    for (size_t i = 0, s = (key * 2654435761u) % UID_SLOTS; i < UID_SLOTS;
         i++, s = (s + 1) % UID_SLOTS) {
        uint64_t cur = __atomic_load_n(&uids[s].key, __ATOMIC_ACQUIRE);
        if (cur == key)
            return &uids[s].count[which];
        if (cur == 0) {
            uint64_t expect = 0;
            if (__atomic_compare_exchange_n(&uids[s].key, &expect, key, false, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE) ||
                expect == key)
                return &uids[s].count[which];
        }
    }
    return NULL;
}

bool uid_take(uid_t uid, enum uid_count which, uint64_t max)
{
    uint64_t *c = uid_counter(uid, which);
    if (!c)
        return false;
    if (__atomic_add_fetch(c, 1, __ATOMIC_RELAXED) > max) {
        __atomic_sub_fetch(c, 1, __ATOMIC_RELAXED);
        return false;
    }
    return true;
}

void uid_give(uid_t uid, enum uid_count which)
{
    uint64_t *c = uid_counter(uid, which);
    if (c)
        __atomic_sub_fetch(c, 1, __ATOMIC_RELAXED);
}

uint64_t uid_get(uid_t uid, enum uid_count which)
{
    uint64_t *c = uid_counter(uid, which);
    return c ? __atomic_load_n(c, __ATOMIC_RELAXED) : 0;
}

/* The most the uid may hold, and the most the daemon may hold once the
 * charge is counted, at @level. */
static void mem_caps(uid_t uid, enum mem_level level, uint64_t *per_uid, uint64_t *all)
{
    uint64_t m = netd_cfg.max_memory;
    uint64_t t = netd_cfg.max_memory_total ? netd_cfg.max_memory_total : UINT64_MAX / 2;
    uint64_t reserve = uid == 0 ? 0 : m; /* root's own share of the total */
    *per_uid = m;
    *all = t > reserve ? t - reserve : 0;
    if (level == MEM_DRAIN) {
        /* Calls that drain or free memory may go a little further, so a
         * client at its budget can still read and close. */
        *per_uid += m / 8;
        *all += m / 8;
    }
}

bool mem_charge(uid_t uid, size_t n, enum mem_level level)
{
    if (n == 0)
        return true;
    uint64_t *c = uid_counter(uid, UC_MEMORY);
    if (!c)
        return false;
    uint64_t used = __atomic_add_fetch(c, n, __ATOMIC_RELAXED);
    uint64_t all = __atomic_add_fetch(&mem_all, n, __ATOMIC_RELAXED);
    uint64_t peak = __atomic_load_n(&mem_peak, __ATOMIC_RELAXED);
    while (all > peak && !__atomic_compare_exchange_n(&mem_peak, &peak, all, true, __ATOMIC_RELAXED,
                                                      __ATOMIC_RELAXED))
        ;
    if (level == MEM_FORCE)
        return true;
    uint64_t cap_uid, cap_all;
    mem_caps(uid, level, &cap_uid, &cap_all);
    if (used > cap_uid || all > cap_all) {
        __atomic_sub_fetch(c, n, __ATOMIC_RELAXED);
        __atomic_sub_fetch(&mem_all, n, __ATOMIC_RELAXED);
        return false;
    }
    return true;
}

void mem_release(uid_t uid, size_t n)
{
    if (n == 0)
        return;
    uint64_t *c = uid_counter(uid, UC_MEMORY);
    if (!c)
        return;
    __atomic_sub_fetch(c, n, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&mem_all, n, __ATOMIC_RELAXED);
}

bool mem_over(uid_t uid)
{
    uint64_t cap_uid, cap_all;
    mem_caps(uid, MEM_NORMAL, &cap_uid, &cap_all);
    return uid_get(uid, UC_MEMORY) >= cap_uid ||
           __atomic_load_n(&mem_all, __ATOMIC_RELAXED) >= cap_all;
}

uint64_t mem_total(void)
{
    return __atomic_load_n(&mem_all, __ATOMIC_RELAXED);
}

void mem_trim(void)
{
    uint64_t now = __atomic_load_n(&mem_all, __ATOMIC_RELAXED);
    uint64_t peak = __atomic_load_n(&mem_peak, __ATOMIC_RELAXED);
    if (peak < now + TRIM_STEP)
        return;
    /* Whoever lowers the peak trims; another thread that saw it too loses. */
    if (!__atomic_compare_exchange_n(&mem_peak, &peak, now, false, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
        return;
    malloc_trim(0);
}
