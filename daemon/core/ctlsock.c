/*
 * ctlsock.c - the control sockets netd listens on: the ones systemd
 * passed (LISTEN_FDS, LISTEN_FDNAMES), or the --socket names, opened here.
 *
 * A path that is already bound is tried first: if nothing answers there
 * (the file of a netd that was killed), the file is replaced; if something
 * does, netd refuses to take the name from it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core.h"

#define LISTEN_FDS_START 3

int listen_fds_take(struct passed_fd *out, int max)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    const char *names = getenv("LISTEN_FDNAMES");
    int n = 0;
    if (pid && fds && (pid_t)strtol(pid, NULL, 10) == getpid())
        n = atoi(fds);
    if (n < 0)
        n = 0;
    if (n > max)
        n = max;
    const char *p = names;
    for (int i = 0; i < n; i++) {
        struct passed_fd *pf = &out[i];
        pf->fd = LISTEN_FDS_START + i;
        pf->name[0] = 0;
        if (p) {
            size_t len = strcspn(p, ":");
            snprintf(pf->name, sizeof pf->name, "%.*s", (int)len, p);
            p = p[len] ? p + len + 1 : NULL;
        }
        fcntl(pf->fd, F_SETFD, FD_CLOEXEC);
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return n;
}

/* "@name", a path, or "fd N" for what a socket is bound to. */
static void describe(int fd, char *out, size_t n)
{
    struct sockaddr_un sun;
    socklen_t len = sizeof sun;
    memset(&sun, 0, sizeof sun);
    if (getsockname(fd, (struct sockaddr *)&sun, &len) < 0 || sun.sun_family != AF_UNIX ||
        len <= offsetof(struct sockaddr_un, sun_path)) {
        snprintf(out, n, "fd %d", fd);
        return;
    }
    size_t plen = len - offsetof(struct sockaddr_un, sun_path);
    if (sun.sun_path[0] == 0)
        snprintf(out, n, "@%.*s", (int)(plen - 1), sun.sun_path + 1);
    else
        snprintf(out, n, "%.*s", (int)strnlen(sun.sun_path, plen), sun.sun_path);
}

int ctlsock_adopt(struct ctlsock *cs, int fd, const char *fdname)
{
    int type = 0, acc = 0, dom = 0;
    socklen_t l = sizeof type;
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l);
    l = sizeof acc;
    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l);
    l = sizeof dom;
    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l);
    memset(cs, 0, sizeof *cs);
    cs->fd = fd;
    describe(fd, cs->name, sizeof cs->name);
    if (type != SOCK_STREAM || !acc || dom != AF_UNIX) {
        netd_log(LOG_ERR,
                 "the socket systemd passed as '%s' (%s) is not a listening unix stream "
                 "socket; fix the socket unit",
                 fdname, cs->name);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    netd_log(LOG_INFO, "serving %s (from systemd, '%s')", cs->name, fdname);
    return 0;
}

/* Whether something accepts connections on path @ss: 1 yes, 0 no (stale). */
static int path_is_live(const struct sockaddr_storage *ss, socklen_t len)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return 1;
    int rc = connect(fd, (const struct sockaddr *)ss, len);
    int err = errno;
    close(fd);
    /* EAGAIN: a full backlog, which only a live listener has. */
    return rc == 0 || err == EAGAIN || err == EINPROGRESS ? 1 : 0;
}

static int bind_listen(int fd, const char *name, const struct sockaddr_storage *ss, socklen_t len)
{
    bool is_path = name[0] != '@';
    mode_t old = is_path ? umask(0117) : 0; /* the socket file is created 0660 */
    int rc = bind(fd, (const struct sockaddr *)ss, len);
    int err = errno;
    if (is_path)
        umask(old);
    if (rc == 0 && listen(fd, SOMAXCONN) < 0)
        return -errno;
    return rc < 0 ? -err : 0;
}

int ctlsock_open(struct ctlsock *cs, const char *name)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(cs, 0, sizeof *cs);
    cs->fd = -1;
    snprintf(cs->name, sizeof cs->name, "%s", name);
    int rc = sockaddr_unix(name, &ss, &len);
    if (rc < 0) {
        netd_log(LOG_ERR, "bad socket name '%s': %s", name, strerror(-rc));
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    bool is_path = name[0] != '@';
    rc = bind_listen(fd, name, &ss, len);
    if (rc == -EADDRINUSE && is_path) {
        struct stat st;
        if (lstat(name, &st) == 0 && !S_ISSOCK(st.st_mode)) {
            netd_log(LOG_ERR, "cannot listen on %s: the file exists and is not a socket", name);
            close(fd);
            return -1;
        }
        if (!path_is_live(&ss, len)) {
            /* A file left by a netd that was killed: nothing will answer there again. */
            netd_log(LOG_WARN, "replacing the stale socket file %s (nothing answers on it)", name);
            unlink(name);
            rc = bind_listen(fd, name, &ss, len);
        } else {
            netd_log(LOG_ERR,
                     "cannot listen on %s: a live program (another netd?) answers on it; "
                     "stop it, or use --socket NAME",
                     name);
            close(fd);
            return -1;
        }
    }
    if (rc < 0) {
        netd_log(LOG_ERR, "cannot listen on %s: %s%s", name, strerror(-rc),
                 rc == -EADDRINUSE ? " (another netd? use --socket NAME)" : "");
        close(fd);
        return -1;
    }
    cs->fd = fd;
    cs->unlink_at_exit = is_path;
    netd_log(LOG_INFO, "serving %s", name);
    return 0;
}

void ctlsock_close(struct ctlsock *cs)
{
    if (cs->fd < 0)
        return;
    close(cs->fd);
    cs->fd = -1;
    if (cs->unlink_at_exit)
        unlink(cs->name);
}
