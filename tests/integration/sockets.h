/*
 * sockets.h - the test's own side of datagram, unix and raw TCP traffic for
 * the seed-API scenarios (test_datagram.c, test_loop.c, test_sockopt.c,
 * test_fdpass.c, test_polling_shutdown_unix.c), and a few netd calls those files share.
 *
 * Everything here is static inline so that each test file, built alone
 * with harness.c, takes only what it uses. Like the h_* helpers, these
 * assert, so they may only be called from the test's main thread.
 * Descriptors they return belong to the caller, who closes them.
 */
#ifndef NETD_TEST_SOCKETS_H
#define NETD_TEST_SOCKETS_H

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

/* ------------------------------------------------------------------ */
/* Addresses                                                           */

/** Fills @ss from a numeric @host and @port; returns the length. Fails on a name. */
static inline socklen_t s_inet(const char *host, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        return sizeof *in;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return sizeof *in6;
    }
    fail_msg("not a numeric address: %s", host);
    return 0;
}

/** Fills @ss from a unix @path ("@name": abstract, covering exactly the name). */
static inline socklen_t s_unix(const char *path, struct sockaddr_storage *ss)
{
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    size_t n = strlen(path);
    memset(ss, 0, sizeof *ss);
    un->sun_family = AF_UNIX;
    assert_true(n > 0 && n < sizeof un->sun_path);
    if (path[0] == '@') {
        memcpy(un->sun_path + 1, path + 1, n - 1);
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    }
    memcpy(un->sun_path, path, n + 1);
    return (socklen_t)sizeof *un;
}

/** The port of an inet or inet6 address. */
static inline int s_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/** The local port @fd is bound to. */
static inline int s_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        fail_msg("getsockname: %s", strerror(errno));
    return s_port(&ss);
}

/**
 * A fresh unix socket name for this process: a path in /tmp (removed
 * first), or "@name" when @abstract. Written into @out (108 bytes).
 */
static inline void s_unix_name(char *out, size_t n, int abstract)
{
    static unsigned counter;
    if (abstract) {
        snprintf(out, n, "@netd-seed-%d-%u", (int)getpid(), counter++);
    } else {
        snprintf(out, n, "/tmp/netd-seed-%d-%u.sock", (int)getpid(), counter++);
        unlink(out);
    }
}

/* ------------------------------------------------------------------ */
/* Plain sockets                                                       */

/**
 * A datagram socket bound to @host (numeric) and a free port, which goes to
 * *port. Returns -1 only when @host is IPv6 and this machine cannot bind
 * it (the caller skips); fails the test otherwise.
 */
static inline int s_udp(const char *host, int *port)
{
    struct sockaddr_storage ss;
    socklen_t len = s_inet(host, 0, &ss);
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (ss.ss_family == AF_INET6)
            return -1;
        fail_msg("cannot bind a UDP socket on %s: %s", host, strerror(e));
    }
    *port = s_local_port(fd);
    return fd;
}

/** A unix datagram socket bound to @path (see s_unix), or unbound when @path is NULL. */
static inline int s_unix_dgram(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail_msg("socket: %s", strerror(errno));
    if (path) {
        struct sockaddr_storage ss;
        socklen_t len = s_unix(path, &ss);
        if (bind(fd, (struct sockaddr *)&ss, len) < 0)
            fail_msg("bind %s: %s", path, strerror(errno));
    }
    return fd;
}

/** A TCP listener on @host (numeric) and a free port (*port); backlog 128. */
static inline int s_tcp_listener(const char *host, int *port)
{
    struct sockaddr_storage ss;
    socklen_t len = s_inet(host, 0, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0)
        fail_msg("TCP listener on %s: %s", host, strerror(errno));
    *port = s_local_port(fd);
    return fd;
}

/** A blocking TCP connection to @host:@port that the caller closes. */
static inline int s_tcp_connect(const char *host, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = s_inet(host, port, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) < 0)
        fail_msg("connect to %s port %d: %s", host, port, strerror(errno));
    return fd;
}

/** Accepts one connection on listener @lfd within @ms; fails otherwise. */
static inline int s_accept(int lfd, int ms)
{
    struct pollfd pf = {lfd, POLLIN, 0};
    if (poll(&pf, 1, ms) != 1)
        fail_msg("no connection arrived within %d ms", ms);
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        fail_msg("accept: %s", strerror(errno));
    return fd;
}

/** 1 if @fd has @events within @ms, else 0. */
static inline int s_ready(int fd, short events, int ms)
{
    struct pollfd pf = {fd, events, 0};
    int rc;
    while ((rc = poll(&pf, 1, ms)) < 0 && errno == EINTR)
        ;
    return rc == 1;
}

/** Sends one datagram of @n bytes to @ss; fails the test unless all of it went. */
static inline void s_sendto(int fd, const void *data, size_t n, const struct sockaddr_storage *ss,
                            socklen_t len)
{
    ssize_t k = sendto(fd, data, n, MSG_NOSIGNAL, (const struct sockaddr *)ss, len);
    if (k < 0 || (size_t)k != n)
        fail_msg("sendto: %s", k < 0 ? strerror(errno) : "short");
}

/** s_sendto() to a numeric @host and @port. */
static inline void s_sendto_inet(int fd, const void *data, size_t n, const char *host, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = s_inet(host, port, &ss);
    s_sendto(fd, data, n, &ss, len);
}

/** s_sendto() to a unix @path. */
static inline void s_sendto_unix(int fd, const void *data, size_t n, const char *path)
{
    struct sockaddr_storage ss;
    socklen_t len = s_unix(path, &ss);
    s_sendto(fd, data, n, &ss, len);
}

/**
 * Receives one datagram within @ms into @buf (@cap bytes) and returns its
 * length; @from and @fromlen (both may be NULL) get the sender. Fails the
 * test when nothing comes.
 */
static inline size_t s_recvfrom(int fd, void *buf, size_t cap, int ms,
                                struct sockaddr_storage *from, socklen_t *fromlen)
{
    if (!s_ready(fd, POLLIN, ms))
        fail_msg("no datagram arrived within %d ms", ms);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ssize_t k = recvfrom(fd, buf, cap, 0, (struct sockaddr *)&ss, &len);
    if (k < 0)
        fail_msg("recvfrom: %s", strerror(errno));
    if (from)
        *from = ss;
    if (fromlen)
        *fromlen = len;
    return (size_t)k;
}

/** Receives one datagram within @ms and compares it with the string @want. */
static inline void s_expect_dgram(int fd, const char *want, int ms)
{
    char buf[65536];
    size_t n = s_recvfrom(fd, buf, sizeof buf, ms, NULL, NULL);
    if (n != strlen(want) || memcmp(buf, want, n) != 0)
        fail_msg("expected the datagram \"%s\", got %zu bytes \"%.*s\"", want, n, (int)n, buf);
}

/**
 * Makes a fresh self-signed certificate for localhost and 127.0.0.1 with the
 * openssl command: @dir (PATH_MAX) gets a new directory holding cert.pem
 * and key.pem. Returns 0, or -1 when openssl is not there (callers skip).
 */
static inline int s_self_signed(char *dir, size_t n)
{
    snprintf(dir, n, "/tmp/netd-seed-tls-%d-XXXXXX", (int)getpid());
    if (!mkdtemp(dir))
        fail_msg("mkdtemp: %s", strerror(errno));
    /* Room for the directory twice over, so the command is never cut short. */
    char cmd[2 * PATH_MAX + 256];
    int len = snprintf(cmd, sizeof cmd,
                       "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                       "-days 2 -subj /CN=localhost -addext "
                       "subjectAltName=DNS:localhost,IP:127.0.0.1 "
                       "-keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1",
                       dir, dir);
    if (len < 0 || (size_t)len >= sizeof cmd)
        fail_msg("the openssl command for %s does not fit", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/** Removes what s_self_signed() made. */
static inline void s_self_signed_free(const char *dir)
{
    char cmd[PATH_MAX + 16];
    int len = snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (len < 0 || (size_t)len >= sizeof cmd)
        fail_msg("the rm command for %s does not fit", dir);
    (void)!system(cmd);
}

/* ------------------------------------------------------------------ */
/* netd calls                                                          */

/** {"host": @host, "port": @port}, a new reference. */
static inline json_t *n_inet(const char *host, int port)
{
    return json_pack("{s:s, s:i}", "host", host, "port", port);
}

/** The "port" of the address object netd answers to localname {handle}. */
static inline int n_local_port(netd_client *c, const char *h)
{
    json_t *r = h_call(c, "localname", json_pack("{s:s}", "handle", h));
    int port = (int)h_int(r, "port");
    json_decref(r);
    return port;
}

/** send-to {handle, dest (stolen), data: @text as utf8}; expects written == strlen(@text). */
static inline void n_send_to(netd_client *c, const char *h, json_t *dest, const char *text)
{
    json_t *r = h_call(c, "send-to",
                       json_pack("{s:s, s:o, s:s, s:s}", "handle", h, "dest", dest, "data", text,
                                 "encoding", "utf8"));
    assert_int_equal(h_int(r, "written"), strlen(text));
    json_decref(r);
}

/** recv-from {handle, nbytes, timeout 10, encoding hex}; returns the whole result. */
static inline json_t *n_recv_from(netd_client *c, const char *h, long long nbytes)
{
    return h_call(c, "recv-from",
                  json_pack("{s:s, s:I, s:f, s:s}", "handle", h, "nbytes", (json_int_t)nbytes,
                            "timeout", 10.0, "encoding", "hex"));
}

/** Expects result @r to carry exactly the bytes of string @want. */
static inline void n_expect_data(const json_t *r, const char *want)
{
    size_t n;
    unsigned char *d = h_data(r, &n);
    if (n != strlen(want) || memcmp(d, want, n) != 0)
        fail_msg("expected data \"%s\", got %zu bytes \"%.*s\"", want, n, (int)n, d);
    free(d);
}

/** getsockopt {handle, option}; returns "value" (new reference). */
static inline json_t *n_getopt(netd_client *c, const char *h, const char *opt)
{
    json_t *r = h_call(c, "getsockopt", json_pack("{s:s, s:s}", "handle", h, "option", opt));
    json_t *v = json_incref(json_object_get(r, "value"));
    if (!v)
        fail_msg("getsockopt %s answered without a value", opt);
    json_decref(r);
    return v;
}

/** setsockopt {handle, option, value (stolen)}; expects {}. */
static inline void n_setopt(netd_client *c, const char *h, const char *opt, json_t *value)
{
    json_t *r = h_call(c, "setsockopt",
                       json_pack("{s:s, s:s, s:o}", "handle", h, "option", opt, "value", value));
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
}

/** The status object of @h (new reference). */
static inline json_t *n_status(netd_client *c, const char *h)
{
    return h_call(c, "status", json_pack("{s:s}", "handle", h));
}

/** stats.handles[@kind]. */
static inline long long n_stats_handles(netd_client *c, const char *kind)
{
    json_t *r = h_call(c, "stats", NULL);
    long long v = h_int(json_object_get(r, "handles"), kind);
    json_decref(r);
    return v;
}

/** netd's pid, from the peer credentials of control connection @c. */
static inline pid_t n_pid(netd_client *c)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(netd_client_fd(c), SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
        fail_msg("SO_PEERCRED: %s", strerror(errno));
    return cr.pid;
}

/*
 * S_SANITIZED: this build (netd's too, from the same build directory) runs
 * under ASan or TSan. Those keep freed memory (ASan's quarantine) and shadow
 * memory in the process, so RSS says nothing about netd's own bounds there;
 * the tests check RSS bounds in plain builds only, and say so otherwise.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define S_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define S_SANITIZED 1
#endif
#endif
#ifndef S_SANITIZED
#define S_SANITIZED 0
#endif

/** VmRSS of process @pid in KiB, from /proc/<pid>/status. */
static inline long s_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    if (kib < 0)
        fail_msg("no VmRSS in %s", path);
    return kib;
}

#endif
