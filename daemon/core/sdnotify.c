/*
 * sdnotify.c - systemd's notification protocol, spoken directly: one
 * datagram per message to the unix socket NOTIFY_SOCKET names ("@" for an
 * abstract one), descriptors attached with SCM_RIGHTS (FDSTORE=1). No
 * libsystemd: the protocol is documented in sd_notify(3) and small.
 *
 * Main thread only: netd's service messages all come from its main loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "core.h"

static int notify_fd = -1;
static struct sockaddr_storage notify_addr;
static socklen_t notify_len;

int sdn_init(void)
{
    const char *e = getenv("NOTIFY_SOCKET");
    if (!e || !*e)
        return 0;
    if ((e[0] != '/' && e[0] != '@') || sockaddr_unix(e, &notify_addr, &notify_len) < 0) {
        netd_log(LOG_WARN, "NOTIFY_SOCKET '%s' is not a unix socket name; not notifying", e);
        return -EINVAL;
    }
    notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (notify_fd < 0)
        return -errno;
    return 1;
}

bool sdn_enabled(void)
{
    return notify_fd >= 0;
}

void sdn_fini(void)
{
    if (notify_fd >= 0)
        close(notify_fd);
    notify_fd = -1;
}

int sdn_send(const char *msg, const int *fds, int nfds)
{
    if (notify_fd < 0)
        return 0;
    struct iovec iov = {.iov_base = (void *)msg, .iov_len = strlen(msg)};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * 16)];
    } u;
    struct msghdr mh = {
        .msg_name = &notify_addr, .msg_namelen = notify_len, .msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 16)
        return -E2BIG;
    if (nfds > 0) {
        memset(&u, 0, sizeof u);
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    do
        n = sendmsg(notify_fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        int err = errno;
        netd_log(LOG_WARN, "cannot notify systemd: %s", strerror(err));
        return -err;
    }
    return 1;
}

int sdn_sendf(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sdn_send(msg, NULL, 0);
}

uint64_t sdn_watchdog_usec(void)
{
    const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (!us || (pid && (pid_t)strtol(pid, NULL, 10) != getpid()))
        return 0;
    char *end;
    unsigned long long v = strtoull(us, &end, 10);
    return *end || end == us ? 0 : (uint64_t)v;
}
