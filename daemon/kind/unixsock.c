/*
 * unixsock.c - what a caller may do with unix sockets and ports through
 * netd: never reach netd's own control sockets, use abstract names only
 * when netd acts with its own credentials for it (an abstract name has no
 * permissions, so its service could only check SO_PEERCRED) or a rule
 * grants them, bind ports below ip_unprivileged_port_start only as root or
 * by a grant, and make or remove socket files only as the caller could
 * (or, for a path a rule grants, as netd).
 *
 * A path is looked at as the caller (core/creds.c), so whatever a link or
 * a swapped directory leads to, the kernel answers with the caller's
 * rights; a granted path is looked at as netd, which makes its bind or
 * connect. A listener's socket file is kept by the directory it was bound
 * in (a descriptor opened before the bind) and the device and inode the
 * bind made; at close the file is removed only if it is still that one.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "kind.h"

/* "@name" or the path, for messages. */
static void unix_name(const struct sockaddr *sa, socklen_t len, char *out, size_t n)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
    size_t plen = len > offsetof(struct sockaddr_un, sun_path)
                      ? len - offsetof(struct sockaddr_un, sun_path)
                      : 0;
    if (plen > 0 && un->sun_path[0] == '\0')
        snprintf(out, n, "@%.*s", (int)(plen - 1), un->sun_path + 1);
    else
        snprintf(out, n, "%.*s", (int)strnlen(un->sun_path, plen), un->sun_path);
}

static bool is_abstract(const struct sockaddr *sa, socklen_t len)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
    return len > offsetof(struct sockaddr_un, sun_path) && un->sun_path[0] == '\0';
}

static int refuse_self(struct req *r, const char *what, const char *name)
{
    req_fail(r, NETD_E_DENIED, NULL,
             "%s %s: it is netd's own control socket, and netd is never its own client", what,
             name);
    return -1;
}

/* Whether an allow rule grants @id's caller the use of unix @sa for @use (access.c). */
static bool unix_granted(struct req *r, const struct ident *id, const struct sockaddr *sa,
                         socklen_t len, enum unix_use use)
{
    if (ident_is_netd(id))
        return false; /* served as netd anyway */
    struct policy_caller c = policy_caller_of(id, r->uid, r->gid);
    struct access_verdict v;
    /* An address handle is used later for a connect or a send-to: either grant will do. */
    enum policy_op ops[2] = {use == UNIX_SEND   ? POLICY_SEND_TO
                             : use == UNIX_BIND ? POLICY_LISTEN
                                                : POLICY_CONNECT,
                             POLICY_SEND_TO};
    for (int i = 0; i < (use == UNIX_ADDRESS ? 2 : 1); i++) {
        access_judge(&c, ops[i], sa, len, &v);
        if (v.allowed && v.grant)
            return true;
    }
    return false;
}

int unix_addr_check(struct req *r, const struct ident *id, const struct sockaddr *sa, socklen_t len,
                    enum unix_use use, const char *what)
{
    if (sa->sa_family != AF_UNIX)
        return 0;
    char name[sizeof(struct sockaddr_un) + 2];
    unix_name(sa, len, name, sizeof name);
    /* First, whatever the policy says: netd is never its own client. */
    if (use != UNIX_BIND && netd_is_control_addr(sa, len))
        return refuse_self(r, what, name);
    bool granted = unix_granted(r, id, sa, len, use);
    if (is_abstract(sa, len)) {
        if (ident_is_netd(id) || granted)
            return 0;
        req_fail(r, NETD_E_DENIED, NULL,
                 "%s %s: abstract unix names carry no permissions, so their services could "
                 "only see netd's credentials, not yours; use a socket path",
                 what, name);
        return -1;
    }
    /* A link (symbolic or hard) to a control socket's file: the same inode.
     * Looked up as whoever will make the call (the caller, or netd for a
     * granted path); when that fails, the call itself will say why. */
    struct stat st;
    if ((use == UNIX_CONNECT || use == UNIX_ADDRESS) &&
        creds_stat(granted ? NULL : id, ((const struct sockaddr_un *)sa)->sun_path, &st) == 0 &&
        netd_is_control_file(&st))
        return refuse_self(r, what, name);
    return 0;
}

bool unix_peer_is_control(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    return getpeername(fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_UNIX &&
           netd_is_control_addr((struct sockaddr *)&ss, len);
}

int unix_bind(const struct ident *id, int fd, const struct sockaddr *sa, socklen_t len,
              struct sockspec *spec)
{
    if (sa->sa_family != AF_UNIX || is_abstract(sa, len))
        return creds_bind(id, fd, sa, len);
    /* @id is NULL for a granted path: the file is netd's to make, look at and remove. */
    /* The directory first: whatever happens to the path afterwards, the
     * file is looked for (and removed) where the bind made it. */
    const char *path = ((const struct sockaddr_un *)sa)->sun_path;
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    char *base = strdup(slash ? slash + 1 : path);
    int dfd = dir && base ? creds_open(id, dir, O_PATH | O_DIRECTORY) : -ENOMEM;
    free(dir);
    int rc = dfd < 0 ? dfd : creds_bind(id, fd, sa, len);
    struct stat st;
    if (rc == 0 && creds_fstatat(id, dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISSOCK(st.st_mode)) {
        spec->has_file = true;
        spec->unix_netd = id == NULL;
        spec->unix_dirfd = dfd;
        spec->unix_name = base;
        spec->unix_dev = st.st_dev;
        spec->unix_ino = st.st_ino;
        return 0;
    }
    if (dfd >= 0)
        close(dfd);
    free(base);
    return rc;
}

void unix_unbind(const struct ident *id, struct sockspec *spec, bool remove)
{
    if (!spec->has_file)
        return;
    if (spec->unix_netd)
        id = NULL; /* bound by a grant, as netd */
    struct stat st;
    if (remove &&
        creds_fstatat(id, spec->unix_dirfd, spec->unix_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISSOCK(st.st_mode) && st.st_dev == spec->unix_dev && st.st_ino == spec->unix_ino)
        (void)creds_unlinkat(id, spec->unix_dirfd, spec->unix_name, 0);
    close(spec->unix_dirfd);
    free(spec->unix_name);
    spec->unix_name = NULL;
    spec->has_file = false;
}

int port_bind_check(struct req *r, const struct ident *id, enum policy_op op, int port,
                    const char *what)
{
    int start = netd_unprivileged_port_start();
    if (port <= 0 || port >= start || ident_is_root(id))
        return 0;
    struct policy_caller c = policy_caller_of(id, r->uid, r->gid);
    if (access_port_grantable(&c, op, port))
        return 0; /* a rule names the port: each address is judged when it is tried */
    req_fail(r, NETD_E_DENIED, json_pack("{s:i}", "unprivileged_port_start", start),
             "%s: port %d is privileged (below ip_unprivileged_port_start, %d); only root may "
             "bind it through netd",
             what, port, start);
    return -1;
}
