/*
 * quota.c - how many handles each uid holds, shared by all workers without
 * a lock: a fixed open-addressing table whose slots are claimed with
 * compare-and-swap. The only state the request path shares between threads.
 */
#include "handle.h"

/* Per-uid handle counts, shared by all workers without a lock: a fixed
 * open-addressing table whose slots are claimed with compare-and-swap. */
#define QUOTA_SLOTS 4096
static struct {
    uint64_t key; /* uid + 1; 0 = free */
    uint64_t count;
} quota[QUOTA_SLOTS];

static uint64_t *quota_counter(uid_t uid)
{
    uint64_t key = (uint64_t)uid + 1;
    for (size_t i = 0, s = (key * 2654435761u) % QUOTA_SLOTS; i < QUOTA_SLOTS;
         i++, s = (s + 1) % QUOTA_SLOTS) {
        uint64_t cur = __atomic_load_n(&quota[s].key, __ATOMIC_ACQUIRE);
        if (cur == key)
            return &quota[s].count;
        if (cur == 0) {
            uint64_t expect = 0;
            if (__atomic_compare_exchange_n(&quota[s].key, &expect, key, false, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE) ||
                expect == key)
                return &quota[s].count;
        }
    }
    return NULL;
}

bool quota_take(uid_t uid)
{
    uint64_t *c = quota_counter(uid);
    if (!c)
        return false;
    uint64_t n = __atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
    /* A policy rule's max-handles, else --max-handles. */
    if (n > policy_max_handles(uid, netd_cfg.max_handles, NULL)) {
        __atomic_sub_fetch(c, 1, __ATOMIC_RELAXED);
        return false;
    }
    return true;
}

void quota_release(uid_t uid)
{
    uint64_t *c = quota_counter(uid);
    if (c)
        __atomic_sub_fetch(c, 1, __ATOMIC_RELAXED);
}
