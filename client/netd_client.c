/*
 * netd_client.c - libnetdclient: one control connection to netd.
 *
 * Everything netd sends is read in chunks, split into lines and parsed as
 * it arrives, then kept on one queue in arrival order. netd_client_wait()
 * takes the answer it wants out of that queue and leaves the rest, so any
 * number of requests can be in flight and answered in any order.
 *
 * Descriptors (SCM_RIGHTS) arrive beside the bytes of a recvmsg() chunk,
 * not inside a line, so the library must decide which line they belong to.
 * netd sends a descriptor on a sendmsg() of its own whose bytes are the
 * answer line, and Linux ends a recvmsg() on a stream socket right after
 * the bytes of a message that carried descriptors: bytes of earlier
 * messages may come before them in the same chunk, later ones never do.
 * The descriptors therefore go to the last line that begins in their chunk,
 * or, when no line begins there (the chunk was cut short inside a long
 * line), to the line the chunk continues.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "netd.h"
#include "codec.h"
#include "lean.h"
#include "line.h"
#include "rpc.h"

/* netd's own request limit is 16 MiB; answers (read "all") can be larger. */
#define CLIENT_MAX_LINE ((size_t)256 << 20)
#define CLIENT_CHUNK ((size_t)256 << 10)
#define CLIENT_MAX_FDS 16

enum entry_kind { E_RESPONSE, E_NOTIFICATION, E_OTHER };

/* One message netd sent that nobody has taken yet. */
struct entry {
    struct entry *next;
    json_t *msg;
    enum entry_kind kind;
    long long id; /* E_RESPONSE only */
    int *fds;     /* descriptors that came with it */
    size_t nfds;
};

/* A descriptor whose message was taken, waiting for netd_client_take_fd(). */
struct fdrec {
    struct fdrec *next;
    long long id;
    int fd;
};

struct netd_client {
    int fd;
    long long last_id;
    bool eof;   /* netd closed its side; what is queued can still be taken */
    int bad;    /* errno (EPROTO, ENOMEM) of lines lost since it was last reported */
    int broken; /* errno of a write that failed inside a line: framing is lost */
    struct netd_line lb;
    char *chunk; /* CLIENT_CHUNK bytes */
    struct entry *head, *tail;
    struct entry *last_in_chunk; /* newest entry queued by the current chunk */
    int *carry_fds;              /* descriptors for the line still incomplete */
    size_t ncarry;
    struct fdrec *fds;
};

/* ---- deadlines ---- */

struct deadline {
    bool forever;
    struct timespec at;
};

static void deadline_init(struct deadline *d, int timeout_ms)
{
    d->forever = timeout_ms < 0;
    clock_gettime(CLOCK_MONOTONIC, &d->at);
    if (d->forever)
        return;
    d->at.tv_sec += timeout_ms / 1000;
    d->at.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (d->at.tv_nsec >= 1000000000L) {
        d->at.tv_sec++;
        d->at.tv_nsec -= 1000000000L;
    }
}

/* Milliseconds left for poll(), rounded up so a wait never ends early; -1 for none. */
static int deadline_left(const struct deadline *d)
{
    if (d->forever)
        return -1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ns =
        (long long)(d->at.tv_sec - now.tv_sec) * 1000000000LL + (d->at.tv_nsec - now.tv_nsec);
    if (ns <= 0)
        return 0;
    long long ms = (ns + 999999) / 1000000;
    return ms > 1000000000LL ? 1000000000 : (int)ms;
}

/* ---- descriptors ---- */

static void close_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

/* Appends @n descriptors to the array *@fds of *@count; closes them if memory runs out. */
static void fds_append(int **fds, size_t *count, const int *add, size_t n)
{
    if (n == 0)
        return;
    int *grown = realloc(*fds, (*count + n) * sizeof **fds);
    if (!grown) {
        close_fds((int *)add, n);
        return;
    }
    memcpy(grown + *count, add, n * sizeof *add);
    *fds = grown;
    *count += n;
}

/* Moves the descriptors of a taken message to the list netd_client_take_fd() reads. */
static void fds_claim(netd_client *c, struct entry *e)
{
    long long key = e->kind == E_RESPONSE ? e->id : 0;
    struct fdrec **tailp = &c->fds;
    while (*tailp)
        tailp = &(*tailp)->next;
    for (size_t i = 0; i < e->nfds; i++) {
        struct fdrec *r = malloc(sizeof *r);
        if (!r) {
            close(e->fds[i]);
            continue;
        }
        r->next = NULL;
        r->id = key;
        r->fd = e->fds[i];
        *tailp = r;
        tailp = &r->next;
    }
    free(e->fds);
    e->fds = NULL;
    e->nfds = 0;
}

/* ---- the queue ---- */

static void entry_free(struct entry *e)
{
    json_decref(e->msg);
    close_fds(e->fds, e->nfds);
    free(e->fds);
    free(e);
}

/* Tells a response (an object with an integer id and a result or an error) from the rest. */
static void entry_classify(struct entry *e)
{
    json_t *m = e->msg;
    e->kind = E_OTHER;
    if (!json_is_object(m))
        return;
    if (json_is_string(json_object_get(m, "method"))) {
        e->kind = E_NOTIFICATION;
        return;
    }
    json_t *id = json_object_get(m, "id");
    bool answered = json_object_get(m, "result") || json_object_get(m, "error");
    if (json_is_integer(id) && answered) {
        e->kind = E_RESPONSE;
        e->id = (long long)json_integer_value(id);
    }
}

static void queue_push(netd_client *c, struct entry *e)
{
    e->next = NULL;
    if (c->tail)
        c->tail->next = e;
    else
        c->head = e;
    c->tail = e;
}

/* Unlinks and returns the first entry @match accepts, or NULL. */
static struct entry *queue_take(netd_client *c, bool (*match)(const struct entry *, long long),
                                long long id)
{
    struct entry *prev = NULL;
    for (struct entry *e = c->head; e; prev = e, e = e->next) {
        if (!match(e, id))
            continue;
        if (prev)
            prev->next = e->next;
        else
            c->head = e->next;
        if (c->tail == e)
            c->tail = prev;
        if (c->last_in_chunk == e)
            c->last_in_chunk = NULL;
        e->next = NULL;
        return e;
    }
    return NULL;
}

static bool match_id(const struct entry *e, long long id)
{
    return e->kind == E_RESPONSE && e->id == id;
}

static bool match_any(const struct entry *e, long long id)
{
    return true;
}

static bool match_notification(const struct entry *e, long long id)
{
    return e->kind == E_NOTIFICATION;
}

/* ---- reading ---- */

/*
 * Forgets a line that could not be queued (not JSON, too long, no memory):
 * descriptors that came with it have no message to be claimed with.
 */
static void client_drop_line(netd_client *c)
{
    close_fds(c->carry_fds, c->ncarry);
    free(c->carry_fds);
    c->carry_fds = NULL;
    c->ncarry = 0;
    c->last_in_chunk = NULL;
}

/*
 * Parses one line. A read answer's data (result.data, plain base64 or hex)
 * takes the lean path (proto/lean.h): jansson parses the rest, and the
 * data's characters become its string as they are, without jansson's lexer
 * going over them one by one. The lean attempt refuses duplicate keys, so
 * such a line is parsed whole with the usual flags, as any other unusual
 * line is: the message is the same either way.
 */
static json_t *client_parse(const char *line, size_t len)
{
    size_t off, n;
    json_t *msg = netd_lean_load(line, len, "result", "data",
                                 JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &off, &n);
    if (msg) {
        json_t *data = json_stringn_nocheck(line + off, n);
        if (data && json_object_set_new(json_object_get(msg, "result"), "data", data) == 0)
            return msg;
        json_decref(msg);
    }
    return json_loadb(line, len, JSON_ALLOW_NUL, NULL);
}

/*
 * Parses one complete line and queues it. Descriptors carried over from an
 * earlier chunk belong to this line, since it is the one that was still
 * incomplete when they came. Returns 0, or -1 if the line is not JSON.
 */
static int client_line(netd_client *c, const char *line, size_t len)
{
    json_t *msg = client_parse(line, len);
    struct entry *e = msg ? calloc(1, sizeof *e) : NULL;
    if (!e) {
        json_decref(msg);
        return -1;
    }
    e->msg = msg;
    entry_classify(e);
    e->fds = c->carry_fds;
    e->nfds = c->ncarry;
    c->carry_fds = NULL;
    c->ncarry = 0;
    queue_push(c, e);
    c->last_in_chunk = e;
    return 0;
}

/*
 * Feeds one chunk to the splitter and queues its complete lines, then gives
 * the chunk's descriptors to the right line (see the top of this file).
 * A line that cannot be queued (not JSON, too long) is noted in c->bad, to
 * be reported once the messages that arrived with it have been taken.
 */
static void client_chunk(netd_client *c, const char *data, size_t n, int *fds, size_t nfds)
{
    c->last_in_chunk = NULL;
    if (netd_line_feed(&c->lb, data, n) != 0) {
        close_fds(fds, nfds);
        c->bad = ENOMEM;
        return;
    }
    for (;;) {
        char *line;
        size_t len;
        int rc = netd_line_next(&c->lb, &line, &len);
        if (rc == NETD_LINE_NONE)
            break;
        if (rc == NETD_LINE_OK && client_line(c, line, len) == 0)
            continue;
        client_drop_line(c);
        c->bad = rc == NETD_LINE_NOMEM ? ENOMEM : EPROTO;
    }
    if (netd_line_buffered(&c->lb) > 0)
        fds_append(&c->carry_fds, &c->ncarry, fds, nfds);
    else if (c->last_in_chunk)
        fds_append(&c->last_in_chunk->fds, &c->last_in_chunk->nfds, fds, nfds);
    else
        close_fds(fds, nfds); /* they came with a line that could not be parsed */
}

/* Collects the descriptors of a received message into @fds; returns how many. */
static size_t cmsg_fds(struct msghdr *mh, int *fds)
{
    size_t n = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k && n < CLIENT_MAX_FDS; i++)
            memcpy(&fds[n++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
    }
    return n;
}

/*
 * Waits until netd's socket is readable or @d passes, reads one chunk and
 * queues what it completes. Returns 0, or -1 with errno: ETIMEDOUT,
 * ECONNRESET once netd has closed the connection, or another errno of
 * poll()/recvmsg().
 */
static int client_pump(netd_client *c, const struct deadline *d)
{
    if (c->eof) {
        errno = ECONNRESET;
        return -1;
    }
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int rc = poll(&p, 1, deadline_left(d));
    if (rc < 0)
        return errno == EINTR ? 0 : -1;
    if (rc == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    union {
        char buf[CMSG_SPACE(sizeof(int) * CLIENT_MAX_FDS)];
        struct cmsghdr align;
    } cbuf;
    struct iovec iov = {.iov_base = c->chunk, .iov_len = CLIENT_CHUNK};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = cbuf.buf,
                        .msg_controllen = sizeof cbuf.buf};
    ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    int fds[CLIENT_MAX_FDS];
    size_t nfds = cmsg_fds(&mh, fds);
    if (n == 0) {
        close_fds(fds, nfds);
        c->eof = true;
        errno = ECONNRESET;
        return -1;
    }
    client_chunk(c, c->chunk, (size_t)n, fds, nfds);
    return 0;
}

/*
 * Takes the first queued message @match accepts, reading more until
 * @timeout_ms passes. A line that could not be understood fails one call
 * with EPROTO, but only when nothing queued matches: the bad line might
 * have been the answer the caller waits for, which would otherwise never
 * come, while messages that did arrive are not held back by it.
 */
static struct entry *client_take(netd_client *c, bool (*match)(const struct entry *, long long),
                                 long long id, int timeout_ms)
{
    struct deadline d;
    deadline_init(&d, timeout_ms);
    for (;;) {
        struct entry *e = queue_take(c, match, id);
        if (e)
            return e;
        if (c->bad) {
            errno = c->bad;
            c->bad = 0;
            return NULL;
        }
        if (client_pump(c, &d) < 0)
            return NULL;
    }
}

/* ---- writing ---- */

/* Sends the first bytes of a message, with @fd attached when it is >= 0. */
static ssize_t send_first(int sock, const char *p, size_t n, int fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } cbuf;
    struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&cbuf, 0, sizeof cbuf);
        mh.msg_control = cbuf.buf;
        mh.msg_controllen = sizeof cbuf.buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    }
    return sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/*
 * Waits until the socket takes more bytes. Answers that arrive meanwhile
 * are read into the queue: netd stops reading requests from a client whose
 * answers pile up, so a writer that never read would wait forever.
 */
static int client_wait_writable(netd_client *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLOUT | (c->eof ? 0 : POLLIN)};
    if (poll(&p, 1, -1) < 0)
        return errno == EINTR ? 0 : -1;
    if ((p.revents & POLLIN) && !c->eof) {
        struct deadline now;
        deadline_init(&now, 0);
        int rc = client_pump(c, &now);
        if (rc < 0 && errno != ETIMEDOUT && errno != ECONNRESET)
            return -1;
    }
    return 0;
}

/* Writes all of @p (with @fd on the first bytes). 0, or -1 with errno. */
static int client_write(netd_client *c, const char *p, size_t n, int fd)
{
    if (c->broken) {
        errno = c->broken;
        return -1;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t k = done == 0 ? send_first(c->fd, p, n, fd)
                              : send(c->fd, p + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k >= 0) {
            done += (size_t)k;
            continue;
        }
        if (errno == EINTR)
            continue;
        if ((errno == EAGAIN || errno == EWOULDBLOCK) && client_wait_writable(c) == 0)
            continue;
        if (done > 0)
            c->broken = errno; /* half a line went out; nothing after it could be framed */
        return -1;
    }
    return 0;
}

/* Serialises a request (@id NULL: a notification), adds the newline and writes it. */
static int client_send_line(netd_client *c, json_t *id, const char *method, json_t *params, int fd)
{
    char *line = netd_rpc_request(id, method, params);
    if (!line) {
        errno = ENOMEM;
        return -1;
    }
    size_t n = strlen(line);
    char *framed = realloc(line, n + 2);
    if (!framed) {
        free(line);
        errno = ENOMEM;
        return -1;
    }
    framed[n] = '\n';
    framed[n + 1] = '\0';
    int rc = client_write(c, framed, n + 1, fd);
    int saved = errno;
    free(framed);
    errno = saved;
    return rc;
}

/* ---- connecting ---- */

/* Fills @sa for "@abstract" or a path; the length covers exactly the name. */
static int address_fill(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
    size_t n = strlen(name);
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (n == 0 || (name[0] == '@' && n == 1)) {
        errno = EINVAL;
        return -1;
    }
    if (n >= sizeof sa->sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (name[0] == '@') {
        memcpy(sa->sun_path + 1, name + 1, n - 1);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        memcpy(sa->sun_path, name, n);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

/*
 * connect() interrupted by a signal goes on in the background; calling it
 * again would fail with EALREADY, so wait for the outcome instead.
 */
static int connect_retry(int fd, const struct sockaddr_un *sa, socklen_t len)
{
    if (connect(fd, (const struct sockaddr *)sa, len) == 0)
        return 0;
    if (errno != EINTR)
        return -1;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR)
            return -1;
    int err = 0;
    socklen_t elen = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
        return -1;
    errno = err;
    return err ? -1 : 0;
}

netd_client *netd_client_connect(const char *name)
{
    if (!name || !*name)
        name = getenv("NETD_SOCKET");
    if (!name || !*name)
        name = NETD_DEFAULT_SOCKET;
    struct sockaddr_un sa;
    socklen_t len;
    if (address_fill(name, &sa, &len) < 0)
        return NULL;
    netd_client *c = calloc(1, sizeof *c);
    char *chunk = malloc(CLIENT_CHUNK);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (!c || !chunk || fd < 0 || connect_retry(fd, &sa, len) < 0) {
        int saved = c && chunk ? errno : ENOMEM;
        if (fd >= 0)
            close(fd);
        free(chunk);
        free(c);
        errno = saved;
        return NULL;
    }
    c->fd = fd;
    c->chunk = chunk;
    netd_line_init(&c->lb, CLIENT_MAX_LINE);
    return c;
}

void netd_client_free(netd_client *c)
{
    if (!c)
        return;
    while (c->head) {
        struct entry *e = c->head;
        c->head = e->next;
        entry_free(e);
    }
    while (c->fds) {
        struct fdrec *r = c->fds;
        c->fds = r->next;
        close(r->fd);
        free(r);
    }
    close_fds(c->carry_fds, c->ncarry);
    free(c->carry_fds);
    netd_line_free(&c->lb);
    free(c->chunk);
    close(c->fd);
    free(c);
}

int netd_client_fd(const netd_client *c)
{
    return c->fd;
}

/* ---- requests ---- */

long long netd_client_send_fd(netd_client *c, const char *method, json_t *params, int fd)
{
    long long id = ++c->last_id;
    json_t *jid = json_integer((json_int_t)id);
    if (!jid) {
        json_decref(params);
        errno = ENOMEM;
        return -1;
    }
    int rc = client_send_line(c, jid, method, params, fd);
    json_decref(jid);
    return rc < 0 ? -1 : id;
}

long long netd_client_send_write(netd_client *c, const char *handle, const void *data, size_t n)
{
    json_t *h = json_string(handle);
    char *hs = h ? json_dumps(h, JSON_ENCODE_ANY) : NULL;
    json_decref(h);
    if (!hs) {
        errno = h ? ENOMEM : EINVAL;
        return -1;
    }
    long long id = ++c->last_id;
    char head[128];
    static const char tail[] = "\"}}\n";
    int hn = snprintf(head, sizeof head,
                      "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"write\",\"params\":{"
                      "\"handle\":",
                      id);
    size_t b64 = netd_base64_len(n), total = (size_t)hn + strlen(hs) + 9 + b64 + sizeof tail - 1;
    char *line = malloc(total + 1), *p = line;
    if (!line) {
        free(hs);
        errno = ENOMEM;
        return -1;
    }
    p += sprintf(p, "%s%s,\"data\":\"", head, hs);
    free(hs);
    netd_base64_encode(data, n, p);
    memcpy(p + b64, tail, sizeof tail);
    int rc = client_write(c, line, total, -1);
    int saved = errno;
    free(line);
    errno = saved;
    return rc < 0 ? -1 : id;
}

long long netd_client_send(netd_client *c, const char *method, json_t *params)
{
    return netd_client_send_fd(c, method, params, -1);
}

int netd_client_notify(netd_client *c, const char *method, json_t *params)
{
    return client_send_line(c, NULL, method, params, -1);
}

int netd_client_send_raw(netd_client *c, const void *data, size_t n)
{
    return client_write(c, data, n, -1);
}

int netd_client_wait(netd_client *c, long long id, int timeout_ms, json_t **result, json_t **error)
{
    struct entry *e = client_take(c, match_id, id, timeout_ms);
    if (!e)
        return -1;
    json_t *err = json_object_get(e->msg, "error");
    int rc = err ? 1 : 0;
    json_t **out = err ? error : result;
    if (out)
        *out = json_incref(err ? err : json_object_get(e->msg, "result"));
    fds_claim(c, e);
    entry_free(e);
    return rc;
}

int netd_call(netd_client *c, const char *method, json_t *params, json_t **result, json_t **error)
{
    long long id = netd_client_send(c, method, params);
    if (id < 0)
        return -1;
    return netd_client_wait(c, id, -1, result, error);
}

/* Hands the message of a taken entry to the caller and frees the entry. */
static int entry_hand_out(netd_client *c, struct entry *e, json_t **msg)
{
    if (!e)
        return -1;
    fds_claim(c, e);
    if (msg)
        *msg = json_incref(e->msg);
    entry_free(e);
    return 0;
}

int netd_client_next(netd_client *c, int timeout_ms, json_t **msg)
{
    return entry_hand_out(c, client_take(c, match_any, 0, timeout_ms), msg);
}

int netd_client_notification(netd_client *c, int timeout_ms, json_t **note)
{
    return entry_hand_out(c, client_take(c, match_notification, 0, timeout_ms), note);
}

int netd_client_take_fd(netd_client *c, long long id)
{
    for (struct fdrec **pp = &c->fds; *pp; pp = &(*pp)->next) {
        struct fdrec *r = *pp;
        if (r->id != id)
            continue;
        int fd = r->fd;
        *pp = r->next;
        free(r);
        return fd;
    }
    errno = ENOENT;
    return -1;
}

size_t netd_client_queued(const netd_client *c)
{
    size_t n = 0;
    for (const struct entry *e = c->head; e; e = e->next)
        n++;
    return n;
}

/* ---- errors ---- */

const char *netd_error_message(const json_t *error)
{
    const char *m = json_string_value(json_object_get(error, "message"));
    return m ? m : "netd gave no error message";
}

int netd_error_code(const json_t *error)
{
    json_t *code = json_object_get(error, "code");
    return json_is_integer(code) ? (int)json_integer_value(code) : 0;
}
