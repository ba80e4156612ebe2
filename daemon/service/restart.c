/*
 * restart.c - kept handles carried over a restart through systemd's file
 * descriptor store (sd_notify's FDSTORE=1; FileDescriptorStoreMax= in the
 * unit).
 *
 * At the stop, in the end step, every worker takes from each kept handle
 * its record (the handle layer's common part and the kind's own, through
 * ops->save) and its descriptor, and the handle then closes without its
 * socket. A kept handle that cannot be carried (a TLS session, a socket
 * still connecting, a failure) closes as it always did and is remembered as
 * lost. Once the stop is over the main thread sends systemd the state
 * first: a sealed memfd named "netd-state" that holds, as JSON, every
 * record, every worker's seq counter and the lost handles; then one message
 * per descriptor, named after its handle. All with FDPOLL=0: a stream
 * whose peer has hung up still holds bytes to read, so systemd must not
 * drop it on POLLHUP.
 *
 * At start the descriptors systemd passes back are told apart from control
 * sockets by name (a handle's name, or "netd-state"). Each worker makes its
 * handles again under their names, in the order of their seqs, then moves
 * its seq counter past the stored one, so no name is ever given twice; netd
 * then asks systemd to drop what it passed (FDSTOREREMOVE=1), so that the
 * same state is never taken twice. The owner of a lost handle hears
 * `closed {handle, reason: "restart"}` on its uid's next control
 * connection (accept.c's adopted hook).
 *
 * Threads: the per-worker slots are written by their worker only, during
 * the end step (stop) or its restore message (start), and read by the main
 * thread after that step has been reported (stop.c's atomic counts) or the
 * restore has signalled (a mutex). Everything else here is main thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handlename.h"
#include "rpc.h"
#include "service.h"

#define STATE_NAME "netd-state"
#define STATE_VERSION 1
#define STATE_MAX (1u << 30) /* a state larger than this is not one netd wrote */

/* One worker's part: its carried records with their descriptors. */
struct slot {
    json_t *recs; /* array of records */
    int *fds;     /* fds[i] goes with recs[i]; -1: none */
    size_t cap;
    json_t *lost; /* [{handle, uid}]: kept handles that came back closed */
    uint64_t next_seq;
};

static struct slot *slots;
static int nslots;
static bool carrying;    /* the stop hands kept handles to systemd */
static unsigned fds_out; /* descriptors taken for the store (atomic) */
static json_t *lost;     /* main: owners still to tell, {handle, uid} */
static json_t *seqs;     /* main: the seq counters of the state taken at start */
static char (*taken_names)[256];
static int ntaken;

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int restoring; /* workers still restoring */

static json_t *lost_new(const char *name, uid_t uid)
{
    return json_pack("{s:s,s:I}", "handle", name, "uid", (json_int_t)uid);
}

static void slot_add(struct slot *t, json_t *rec, int fd)
{
    size_t n = json_array_size(t->recs);
    if (n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->fds = realloc(t->fds, t->cap * sizeof *t->fds);
        if (!t->fds)
            abort();
    }
    t->fds[n] = fd;
    json_array_append_new(t->recs, rec);
}

static void slots_free(void)
{
    for (int i = 0; i < nslots; i++) {
        for (size_t k = 0; k < json_array_size(slots[i].recs); k++)
            if (slots[i].fds[k] >= 0)
                close(slots[i].fds[k]);
        json_decref(slots[i].recs);
        json_decref(slots[i].lost);
        free(slots[i].fds);
    }
    free(slots);
    slots = NULL;
    nslots = 0;
}

static int slots_grow(int n)
{
    if (n <= nslots)
        return 0;
    struct slot *s = realloc(slots, (size_t)n * sizeof *s);
    if (!s)
        return -ENOMEM;
    slots = s;
    for (int i = nslots; i < n; i++) {
        memset(&slots[i], 0, sizeof slots[i]);
        slots[i].recs = json_array();
        slots[i].lost = json_array();
    }
    nslots = n;
    return 0;
}

static uint64_t rec_seq(const json_t *rec, int *worker)
{
    const char *name = json_string_value(json_object_get(rec, "handle"));
    uint64_t seq = 0;
    int wi = -1;
    if (!name || netd_handle_parse(name, strlen(name), &wi, &seq) < 0)
        return 0;
    if (worker)
        *worker = wi;
    return seq;
}

/* Orders a slot's records (and their descriptors) by seq: the order they are
 * stored in, and the order they must be made again in. */
static void slot_sort(struct slot *t)
{
    size_t n = json_array_size(t->recs);
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && rec_seq(json_array_get(t->recs, k - 1), NULL) >
                                        rec_seq(json_array_get(t->recs, k), NULL);
             k--) {
            json_t *a = json_incref(json_array_get(t->recs, k - 1));
            json_array_set(t->recs, k - 1, json_array_get(t->recs, k));
            json_array_set_new(t->recs, k, a);
            int fd = t->fds[k - 1];
            t->fds[k - 1] = t->fds[k];
            t->fds[k] = fd;
        }
}

/* ---- the stop: taking the kept handles (workers), storing them (main) ---- */

/* The drain need not wait for a kept handle's bytes: they go with it. */
static bool restart_carried(struct handle *h)
{
    return h->kept && handle_carry_probe(h);
}

static bool restart_spare(struct handle *h)
{
    if (!h->kept)
        return false;
    struct slot *t = &slots[h->w->index];
    /* Whole writes end now (`aborted`, with data.written): only the bytes
     * partial writes accepted are the stream's, and travel with it. */
    h->ops->cancel(h);
    json_t *rec;
    int fd;
    if (handle_carry_save(h, &rec, &fd) < 0) {
        json_array_append_new(t->lost, lost_new(h->name, h->uid));
        return false; /* it closes as ever: a TLS session sends close_notify */
    }
    if (fd >= 0 && __atomic_add_fetch(&fds_out, 1, __ATOMIC_RELAXED) > RESTART_MAX_FDS) {
        netd_log(LOG_WARN, "restart: %s cannot be carried: more than %d descriptors to store",
                 h->name, RESTART_MAX_FDS);
        /* A socket file it bound stays: netd removes files only through the
         * directory the bind was made in, and that is gone from the record. */
        close(fd);
        json_decref(rec);
        json_array_append_new(t->lost, lost_new(h->name, h->uid));
        return false;
    }
    slot_add(t, rec, fd);
    /* Its socket is taken: the handle closes here without it. */
    return false;
}

static void restart_ended(struct worker *w)
{
    slots[w->index].next_seq = handles_next_seq(w);
}

const struct stop_keep *restart_prepare(void)
{
    static const struct stop_keep keep = {
        .carried = restart_carried, .spare = restart_spare, .ended = restart_ended};
    if (!sdn_enabled())
        return NULL;
    slots_free();
    if (slots_grow(netd_nworkers) < 0)
        return NULL;
    __atomic_store_n(&fds_out, 0, __ATOMIC_RELAXED);
    carrying = true;
    return &keep;
}

/* The state as a sealed memfd, or -1. */
static int state_memfd(json_t *state)
{
    char *text = json_dumps(state, JSON_COMPACT);
    int fd = text ? memfd_create(STATE_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING) : -1;
    size_t len = text ? strlen(text) : 0, off = 0;
    while (fd >= 0 && off < len) {
        ssize_t k = write(fd, text + off, len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            close(fd);
            fd = -1;
            break;
        }
        off += (size_t)k;
    }
    free(text);
    if (fd >= 0)
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    return fd;
}

/* Every worker's counter, and those of workers a netd before this one ran. */
static json_t *state_seqs(void)
{
    size_t n = (size_t)nslots > json_array_size(seqs) ? (size_t)nslots : json_array_size(seqs);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        uint64_t v = i < (size_t)nslots ? slots[i].next_seq : 0;
        uint64_t old = (uint64_t)json_integer_value(json_array_get(seqs, i));
        json_array_append_new(a, json_integer((json_int_t)(old > v ? old : v)));
    }
    return a;
}

void restart_store(void)
{
    if (!carrying)
        return;
    carrying = false;
    json_t *handles = json_array(), *all_lost = json_deep_copy(lost);
    size_t nfd = 0;
    for (int i = 0; i < nslots; i++) {
        slot_sort(&slots[i]);
        for (size_t k = 0; k < json_array_size(slots[i].recs); k++) {
            json_t *rec = json_array_get(slots[i].recs, k);
            json_object_set_new(rec, "fd", json_boolean(slots[i].fds[k] >= 0));
            json_array_append(handles, rec);
            nfd += slots[i].fds[k] >= 0;
        }
        json_array_extend(all_lost, slots[i].lost);
    }
    size_t nh = json_array_size(handles), nlost = json_array_size(all_lost);
    json_t *state = json_pack("{s:i,s:o,s:o,s:o}", "netd", STATE_VERSION, "workers", state_seqs(),
                              "handles", handles, "lost", all_lost);
    int mfd = state_memfd(state);
    json_decref(state);
    if (mfd < 0 || sdn_send("FDSTORE=1\nFDNAME=" STATE_NAME "\nFDPOLL=0", &mfd, 1) <= 0) {
        netd_log(LOG_ERR, "restart: the state could not be stored (%s); %zu kept handles end here",
                 mfd < 0 ? strerror(errno) : "systemd's socket refused it", nh);
        if (mfd >= 0)
            close(mfd);
        slots_free();
        return;
    }
    close(mfd);
    for (int i = 0; i < nslots; i++)
        for (size_t k = 0; k < json_array_size(slots[i].recs); k++) {
            int fd = slots[i].fds[k];
            if (fd < 0)
                continue;
            char msg[128];
            snprintf(
                msg, sizeof msg, "FDSTORE=1\nFDNAME=%s\nFDPOLL=0",
                json_string_value(json_object_get(json_array_get(slots[i].recs, k), "handle")));
            sdn_send(msg, &fd, 1);
            close(fd);
            slots[i].fds[k] = -1;
        }
    netd_log(LOG_INFO,
             "restart: %zu kept handle%s handed to systemd's store (%zu descriptor%s), %zu "
             "to come back closed",
             nh, nh == 1 ? "" : "s", nfd, nfd == 1 ? "" : "s", nlost);
    slots_free();
}

/* ---- the start: taking the handles back ---- */

static json_t *state_read(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size <= 0 || (size_t)st.st_size > STATE_MAX)
        return NULL;
    size_t len = (size_t)st.st_size, off = 0;
    char *text = malloc(len);
    while (text && off < len) {
        ssize_t k = pread(fd, text + off, len - off, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        off += (size_t)k;
    }
    json_t *state = text && off == len ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    json_t *v = json_object_get(state, "netd");
    if (!json_is_integer(v) || json_integer_value(v) != STATE_VERSION ||
        !json_is_array(json_object_get(state, "handles"))) {
        json_decref(state);
        return NULL;
    }
    return state;
}

static void name_taken(const char *name)
{
    for (int i = 0; i < ntaken; i++)
        if (strcmp(taken_names[i], name) == 0)
            return;
    snprintf(taken_names[ntaken++], sizeof taken_names[0], "%s", name);
}

static void close_stored(json_t *stored, const char *why)
{
    const char *name;
    json_t *v;
    json_object_foreach(stored, name, v)
    {
        netd_log(LOG_WARN, "restart: the stored descriptor '%s' %s; closed", name, why);
        close((int)json_integer_value(v));
    }
    json_object_clear(stored);
}

/* Sorts the state's records onto the slots of their workers, each with the
 * descriptor stored under its name. */
static void distribute(json_t *state, json_t *stored)
{
    json_t *rec;
    size_t i;
    json_array_foreach(json_object_get(state, "handles"), i, rec)
    {
        int wi = -1;
        const char *name = json_string_value(json_object_get(rec, "handle"));
        json_t *uid = json_object_get(rec, "uid");
        if (rec_seq(rec, &wi) == 0 || !json_is_integer(uid) || slots_grow(wi + 1) < 0) {
            netd_log(LOG_WARN, "restart: a record of the state names no handle; skipped");
            continue;
        }
        json_t *fdv = json_object_get(stored, name);
        int fd = fdv ? (int)json_integer_value(fdv) : -1;
        json_object_del(stored, name);
        bool wants = json_is_true(json_object_get(rec, "fd"));
        if (wants && fd < 0) {
            netd_log(LOG_WARN, "restart: %s came without its descriptor; it comes back closed",
                     name);
            json_array_append_new(lost, lost_new(name, (uid_t)json_integer_value(uid)));
            continue;
        }
        if (!wants && fd >= 0) {
            close(fd);
            fd = -1;
        }
        slot_add(&slots[wi], json_incref(rec), fd);
    }
    for (int w = 0; w < nslots; w++)
        slot_sort(&slots[w]);
    json_array_extend(lost, json_object_get(state, "lost"));
    json_t *sq = json_object_get(state, "workers");
    if (json_is_array(sq))
        json_array_extend(seqs, sq);
}

int restart_take(struct passed_fd *p, int n)
{
    if (!lost) {
        lost = json_array();
        seqs = json_array();
    }
    json_t *stored = json_object();
    int state_fd = -1, keep = 0;
    free(taken_names);
    taken_names = calloc((size_t)n + 1, sizeof *taken_names);
    ntaken = 0;
    for (int i = 0; i < n; i++) {
        const char *name = p[i].name;
        int wi;
        uint64_t seq;
        bool is_state = strcmp(name, STATE_NAME) == 0;
        if (!is_state && netd_handle_parse(name, strlen(name), &wi, &seq) < 0) {
            p[keep++] = p[i]; /* a control socket */
            continue;
        }
        name_taken(name);
        if (is_state ? state_fd >= 0 : json_object_get(stored, name) != NULL) {
            netd_log(LOG_WARN, "restart: '%s' was passed twice; the second is closed", name);
            close(p[i].fd);
        } else if (is_state) {
            state_fd = p[i].fd;
        } else {
            json_object_set_new(stored, name, json_integer(p[i].fd));
        }
    }
    if (state_fd < 0 && json_object_size(stored) == 0) {
        json_decref(stored);
        return keep;
    }
    json_t *state = state_fd >= 0 ? state_read(state_fd) : NULL;
    if (state_fd >= 0)
        close(state_fd);
    if (!state) {
        netd_log(LOG_ERR, "restart: systemd passed %s; no kept handle comes back",
                 state_fd >= 0 ? "a state netd cannot read" : "descriptors without their state");
        close_stored(stored, "has no state");
    } else {
        distribute(state, stored);
        close_stored(stored, "is not in the state");
        json_decref(state);
    }
    json_decref(stored);
    return keep;
}

int restart_workers_needed(void)
{
    for (int i = nslots; i > 0; i--)
        if (json_array_size(slots[i - 1].recs) > 0)
            return i;
    return 0;
}

struct restore_msg {
    struct msg hdr;
};

static void on_restore(struct worker *w, struct msg *m)
{
    free(m);
    struct slot *t = w->index < nslots ? &slots[w->index] : NULL;
    for (size_t i = 0; t && i < json_array_size(t->recs); i++) {
        json_t *rec = json_array_get(t->recs, i);
        const char *name = json_string_value(json_object_get(rec, "handle"));
        const char *kind = json_string_value(json_object_get(rec, "kind"));
        const struct handle_ops *ops = kind_ops_named(kind);
        char why[160] = "its kind is unknown";
        int fd = t->fds[i];
        t->fds[i] = -1;
        struct handle *h = ops ? handle_carry_restore(w, rec, fd, ops, why, sizeof why) : NULL;
        if (!h) {
            if (!ops && fd >= 0)
                close(fd);
            netd_log(LOG_WARN, "restart: %s cannot be made again (%s); it comes back closed", name,
                     why);
            json_array_append_new(
                t->lost, lost_new(name, (uid_t)json_integer_value(json_object_get(rec, "uid"))));
            continue;
        }
        netd_log(LOG_DEBUG, "restart: %s (%s of uid %u) is back", h->name, kind, (unsigned)h->uid);
    }
    json_t *sq = json_array_get(seqs, (size_t)w->index);
    if (sq)
        handles_seq_from(w, (uint64_t)json_integer_value(sq));
    pthread_mutex_lock(&done_lock);
    restoring--;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&done_lock);
}

void restart_restore(void)
{
    if (ntaken == 0)
        return;
    restoring = netd_nworkers;
    for (int i = 0; i < netd_nworkers; i++) {
        struct restore_msg *m = calloc(1, sizeof *m);
        if (!m)
            abort();
        m->hdr.fn = on_restore;
        worker_post(i, &m->hdr);
    }
    pthread_mutex_lock(&done_lock);
    while (restoring > 0)
        pthread_cond_wait(&done_cond, &done_lock);
    pthread_mutex_unlock(&done_lock);
    size_t back = 0;
    for (int i = 0; i < nslots; i++) {
        back += json_array_size(slots[i].recs) - json_array_size(slots[i].lost);
        json_array_extend(lost, slots[i].lost);
    }
    /* Taken: systemd forgets them, so they are never taken twice. */
    for (int i = 0; i < ntaken; i++) {
        char msg[300];
        snprintf(msg, sizeof msg, "FDSTOREREMOVE=1\nFDNAME=%s", taken_names[i]);
        sdn_send(msg, NULL, 0);
    }
    netd_log(LOG_INFO, "restart: %zu kept handle%s back from systemd's store, %zu closed", back,
             back == 1 ? "" : "s", json_array_size(lost));
    slots_free();
    free(taken_names);
    taken_names = NULL;
    ntaken = 0;
}

void restart_adopted(int worker, uint64_t conn_id, uid_t uid)
{
    size_t i = 0;
    while (i < json_array_size(lost)) {
        json_t *e = json_array_get(lost, i);
        if ((uid_t)json_integer_value(json_object_get(e, "uid")) != uid) {
            i++;
            continue;
        }
        char *line = netd_rpc_notification(
            "closed",
            json_pack("{s:O,s:s}", "handle", json_object_get(e, "handle"), "reason", "restart"));
        handle_notify(worker, conn_id, line, -1, 0);
        json_array_remove(lost, i);
    }
}

void restart_fini(void)
{
    slots_free();
    json_decref(lost);
    json_decref(seqs);
    lost = seqs = NULL;
    free(taken_names);
    taken_names = NULL;
}
