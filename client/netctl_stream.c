/*
 * netctl_stream.c - the commands that move a stream of bytes: `cat` reads
 * a handle to its end, `nc` copies stdin to a connection and the
 * connection to stdout at the same time.
 *
 * `nc` keeps several requests in flight on one control connection: a read
 * is always outstanding while writes go, and the answers are matched to
 * their requests by id as they arrive in whatever order netd sends them.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "netctl.h"

/* netd's read-ahead per handle is 1 MiB by default; asking for more gains nothing. */
#define STREAM_READ_SIZE (1 << 20)
#define NC_WRITE_SIZE (64 * 1024)
#define NC_MAX_WRITES 4

/* Writes the bytes of a read result to stdout; sets *eof. Returns 0 or EXIT_FAIL. */
static int emit_read(struct netctl *n, const json_t *res, uint64_t *count, bool *eof)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (result_bytes(res, &bytes, &len) < 0)
        return fail(n, "netd sent data that does not decode");
    int rc = 0;
    if (write_all(STDOUT_FILENO, bytes, len) < 0)
        rc = fail(n, "writing to stdout failed: %s", strerror(errno));
    free(bytes);
    *count += len;
    *eof = json_is_true(json_object_get(res, "eof"));
    return rc;
}

/* cat through `read` calls, for a netd without attach. */
static int cat_by_reads(struct netctl *n, const struct args *a)
{
    struct progress prog;
    progress_init(&prog);
    uint64_t total = 0;
    bool eof = false;
    int rc = 0;
    while (!eof && rc == 0) {
        json_t *res = NULL;
        json_t *p = json_pack("{s:s,s:i}", "handle", a->argv[0], "nbytes", STREAM_READ_SIZE);
        rc = netctl_call(n, "read", p, &res);
        if (rc)
            break;
        rc = emit_read(n, res, &total, &eof);
        json_decref(res);
        progress_show(&prog, total, 0, false);
    }
    progress_end(&prog);
    return rc;
}

int cmd_cat(struct netctl *n, const struct args *a)
{
    int fd;
    int rc = netctl_attach_fd(n, a->argv[0], &fd);
    if (rc == ATTACH_MISSING)
        return cat_by_reads(n, a);
    return rc ? rc : netctl_copy_attached(n, fd, false);
}

/* ---- nc ---- */

struct nc {
    struct netctl *n;
    netd_client *c;
    const char *h;
    long long read_id, shut_id; /* 0: none in flight */
    long long writes[NC_MAX_WRITES];
    int nwrites;
    bool stdin_eof, peer_eof, shut_done;
    uint64_t in, out;
    struct progress prog;
};

static int nc_send(struct nc *s, const char *method, json_t *params, long long *id)
{
    *id = netd_client_send(s->c, method, params);
    return *id < 0 ? netctl_lost(s->n, method, errno) : 0;
}

static int nc_read_more(struct nc *s)
{
    json_t *p = json_pack("{s:s,s:i}", "handle", s->h, "nbytes", STREAM_READ_SIZE);
    return nc_send(s, "read", p, &s->read_id);
}

/* Reads what stdin has and sends it as one write; at end of input only notes it. */
static int nc_from_stdin(struct nc *s)
{
    char buf[NC_WRITE_SIZE];
    ssize_t k = read(STDIN_FILENO, buf, sizeof buf);
    if (k < 0)
        return errno == EINTR || errno == EAGAIN ? 0
                                                 : fail(s->n, "reading stdin: %s", strerror(errno));
    if (k == 0) {
        s->stdin_eof = true;
        return 0;
    }
    enum netd_encoding used;
    json_t *data = netd_data_encode((const uint8_t *)buf, (size_t)k, NETD_ENC_BASE64, &used);
    json_t *p = json_pack("{s:s,s:o}", "handle", s->h, "data", data);
    return nc_send(s, "write", p, &s->writes[s->nwrites++]);
}

/* Index of write @id among those in flight, or -1. */
static int nc_write_index(const struct nc *s, long long id)
{
    for (int i = 0; i < s->nwrites; i++)
        if (s->writes[i] == id)
            return i;
    return -1;
}

/* Handles the answer to one of nc's requests. Returns 0 or EXIT_FAIL. */
static int nc_answer(struct nc *s, long long id, const json_t *result, const json_t *error)
{
    int w = nc_write_index(s, id);
    if (id != s->read_id && w < 0 && id != s->shut_id)
        return 0; /* not one of ours: nothing waits for it */
    const char *method = id == s->read_id ? "read" : w >= 0 ? "write" : "shutdown";
    if (error)
        return netctl_report(s->n, method, error);
    if (id == s->read_id) {
        s->read_id = 0;
        int rc = emit_read(s->n, result, &s->in, &s->peer_eof);
        return rc ? rc : s->peer_eof ? 0 : nc_read_more(s);
    }
    if (w >= 0) {
        s->out += json_integer_value(json_object_get(result, "written"));
        s->writes[w] = s->writes[--s->nwrites];
    } else if (id == s->shut_id) {
        s->shut_done = true;
    }
    return 0;
}

/* Takes every message already read or readable now, without waiting. */
static int nc_drain(struct nc *s)
{
    json_t *msg;
    while (netd_client_next(s->c, 0, &msg) == 0) {
        json_t *id = json_object_get(msg, "id");
        int rc = 0;
        if (json_is_integer(id))
            rc = nc_answer(s, json_integer_value(id), json_object_get(msg, "result"),
                           json_object_get(msg, "error"));
        else if (json_object_get(msg, "error"))
            rc = netctl_report(s->n, "nc", json_object_get(msg, "error"));
        json_decref(msg);
        if (rc)
            return rc;
    }
    return errno == ETIMEDOUT ? 0 : netctl_lost(s->n, "nc", errno);
}

/* Sleeps until stdin or netd has something, then reads stdin if it does. */
static int nc_poll(struct nc *s)
{
    struct pollfd p[2] = {{.fd = netd_client_fd(s->c), .events = POLLIN},
                          {.fd = STDIN_FILENO, .events = POLLIN}};
    /* Stdin is read only while a write slot is free, so memory stays bounded. */
    nfds_t np = !s->stdin_eof && s->nwrites < NC_MAX_WRITES ? 2 : 1;
    if (poll(p, np, -1) < 0)
        return errno == EINTR ? 0 : fail(s->n, "poll: %s", strerror(errno));
    if (np == 2 && p[1].revents)
        return nc_from_stdin(s);
    return 0;
}

/* The copy loop: ends when the peer's side has ended and ours is shut down. */
static int nc_run(struct nc *s)
{
    int rc = nc_read_more(s);
    while (rc == 0) {
        rc = nc_drain(s);
        if (rc)
            break;
        progress_show(&s->prog, s->in, s->out, false);
        /* Only after every write is answered, so the shutdown cannot overtake one. */
        if (s->stdin_eof && s->nwrites == 0 && !s->shut_id) {
            json_t *p = json_pack("{s:s,s:s}", "handle", s->h, "mode", "w");
            rc = nc_send(s, "shutdown", p, &s->shut_id);
            continue;
        }
        if (s->peer_eof && s->shut_done)
            break;
        rc = nc_poll(s);
    }
    progress_show(&s->prog, s->in, s->out, true);
    progress_end(&s->prog);
    return rc;
}

/*
 * nc's connection is the one handle netctl does not keep: it never leaves
 * this run, and if netctl is interrupted netd should close it rather than
 * hold it for nobody.
 */
int cmd_nc(struct netctl *n, const struct args *a)
{
    json_t *p = json_object();
    int rc = add_destination(n, a, p, false);
    if (!rc)
        rc = add_tls_opts(n, a, p);
    if (rc) {
        json_decref(p);
        return rc;
    }
    json_t *res = NULL;
    rc = netctl_call(n, "connect", p, &res);
    if (rc)
        return rc;
    struct nc s = {.n = n, .c = n->client, .h = json_string_value(json_object_get(res, "handle"))};
    int fd;
    rc = netctl_attach_fd(n, s.h, &fd);
    if (rc != ATTACH_MISSING) { /* the handle ends with its relay */
        json_decref(res);
        return rc ? rc : netctl_copy_attached(n, fd, true);
    }
    progress_init(&s.prog);
    rc = nc_run(&s);
    if (rc == 0)
        rc = netctl_call(n, "close", json_pack("{s:s}", "handle", s.h), NULL);
    json_decref(res);
    return rc;
}
