/*
 * creds.c - acting with the caller's identity: the only file of netd that
 * changes credentials, and the only one that makes the system calls the
 * kernel checks against the caller (creating, binding and connecting
 * sockets, opening files, removing socket files). tools/check-layers holds
 * the rest of daemon/ to that.
 *
 * Linux credentials belong to a thread. The raw system calls setresuid,
 * setresgid and setgroups change only the calling thread; glibc's wrappers
 * of the same names change every thread of the process (through a signal
 * to each), so netd never calls those. A wrapper here takes the caller's
 * groups, egid and euid on the worker's thread, makes its one call, and
 * goes back to netd's own before it returns: the saved and real uid stay
 * netd's (root), which is what lets the thread return, and what keeps the
 * caller from signalling or tracing netd meanwhile. The euid switch also
 * drops the effective capabilities, so the kernel refuses privileged
 * ports and capability-gated options as it would for the caller, and the
 * peer of a unix connect sees the caller in SO_PEERCRED. docs/security.md
 * has the kernel's answers and the costs, measured.
 *
 * Callers that netd serves with its own credentials (root, netd's own uid,
 * and netd's own work, a NULL identity) skip the switch.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "core.h"

/* The 32-bit forms where both exist (i386, arm): the plain ones take 16-bit ids there. */
#ifdef SYS_setresuid32
#define NR_SETRESUID SYS_setresuid32
#define NR_SETRESGID SYS_setresgid32
#define NR_SETGROUPS SYS_setgroups32
#else
#define NR_SETRESUID SYS_setresuid
#define NR_SETRESGID SYS_setresgid
#define NR_SETGROUPS SYS_setgroups
#endif

/* ---- identities ---- */

#define UID_STAT_SLOTS 4096
static struct uid_stats uid_table[UID_STAT_SLOTS];

/* The counters of @uid, claimed on first use (lock-free, like quota.c). NULL when full. */
static struct uid_stats *uid_stats_of(uid_t uid)
{
    uint64_t key = (uint64_t)uid + 1;
    for (size_t i = 0, s = (key * 2654435761u) % UID_STAT_SLOTS; i < UID_STAT_SLOTS;
         i++, s = (s + 1) % UID_STAT_SLOTS) {
        uint64_t cur = __atomic_load_n(&uid_table[s].key, __ATOMIC_ACQUIRE);
        if (cur == key)
            return &uid_table[s];
        if (cur == 0) {
            uint64_t expect = 0;
            if (__atomic_compare_exchange_n(&uid_table[s].key, &expect, key, false,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ||
                expect == key)
                return &uid_table[s];
        }
    }
    return NULL;
}

struct ident *ident_new(uid_t uid, gid_t gid, pid_t pid, const gid_t *groups, int ngroups)
{
    struct ident *id = calloc(1, sizeof *id);
    if (!id)
        return NULL;
    if (ngroups > 0) {
        id->groups = malloc((size_t)ngroups * sizeof *groups);
        if (!id->groups) {
            free(id);
            return NULL;
        }
        memcpy(id->groups, groups, (size_t)ngroups * sizeof *groups);
        id->ngroups = ngroups;
    }
    id->uid = uid;
    id->gid = gid;
    id->pid = pid;
    id->stats = uid == 0 ? NULL : uid_stats_of(uid);
    id->refs = 1;
    return id;
}

struct ident *ident_from_peer(int fd)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
        return NULL;
    /* A list cut short would deny the caller rights it has: when the
     * buffer is too small the kernel says ERANGE and how much it needs. */
    gid_t small[64], *groups = small;
    socklen_t glen = sizeof small;
    int n = 0;
    while (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) < 0) {
        if (errno != ERANGE || glen <= (groups == small ? sizeof small : 0) ||
            glen > 65536 * sizeof(gid_t)) {
            glen = 0;
            break;
        }
        gid_t *bigger = realloc(groups == small ? NULL : groups, glen);
        if (!bigger) {
            if (groups != small)
                free(groups);
            return NULL;
        }
        groups = bigger;
    }
    n = (int)(glen / sizeof(gid_t));
    struct ident *id = ident_new(cr.uid, cr.gid, cr.pid, groups, n);
    if (groups != small)
        free(groups);
    return id;
}

struct ident *ident_ref(struct ident *id)
{
    if (id)
        __atomic_add_fetch(&id->refs, 1, __ATOMIC_RELAXED);
    return id;
}

void ident_unref(struct ident *id)
{
    if (!id || __atomic_sub_fetch(&id->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    free(id->groups);
    free(id);
}

bool ident_in_group(const struct ident *id, gid_t g)
{
    if (id->gid == g)
        return true;
    for (int i = 0; i < id->ngroups; i++)
        if (id->groups[i] == g)
            return true;
    return false;
}

/* ---- netd's own identity, and what it reads from the system ---- */

static struct {
    uid_t uid;
    gid_t gid;
    pid_t pid; /* the pid a unix peer sees in SCM_CREDENTIALS of netd's sends */
    int ngroups;
    gid_t *groups;
} self;
static int unpriv_start = 1024;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void read_unpriv_start(void)
{
    int fd = open("/proc/sys/net/ipv4/ip_unprivileged_port_start", O_RDONLY | O_CLOEXEC);
    char buf[32];
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    int v = 1024;
    if (n > 0) {
        buf[n] = '\0';
        v = atoi(buf);
    }
    __atomic_store_n(&unpriv_start, v < 0 ? 0 : v > 65536 ? 65536 : v, __ATOMIC_RELAXED);
}

static void self_init(void)
{
    self.uid = geteuid();
    self.gid = getegid();
    self.pid = getpid();
    int n = getgroups(0, NULL);
    if (n > 0) {
        self.groups = malloc((size_t)n * sizeof(gid_t));
        if (self.groups)
            n = getgroups(n, self.groups);
        self.ngroups = self.groups && n > 0 ? n : 0;
    }
    read_unpriv_start();
}

int netd_unprivileged_port_start(void)
{
    pthread_once(&self_once, self_init);
    return __atomic_load_n(&unpriv_start, __ATOMIC_RELAXED);
}

void creds_reload(void)
{
    pthread_once(&self_once, self_init);
    read_unpriv_start();
}

bool ident_is_root(const struct ident *id)
{
    return !id || id->uid == 0;
}

bool ident_is_netd(const struct ident *id)
{
    pthread_once(&self_once, self_init);
    return !id || id->uid == 0 || id->uid == self.uid;
}

/* ---- the switch ---- */

/* Back to netd's own identity. It cannot fail while the real and saved
 * uid are netd's; if it ever did, this thread would go on with the
 * caller's rights, so netd stops instead. */
static void leave(void)
{
    if (syscall(NR_SETRESUID, -1, self.uid, -1) < 0 ||
        syscall(NR_SETRESGID, -1, self.gid, -1) < 0 ||
        syscall(NR_SETGROUPS, self.ngroups, self.groups) < 0) {
        netd_log(LOG_ERR, "cannot take back netd's own credentials: %s; stopping", strerror(errno));
        abort();
    }
}

static int told_cannot; /* the warning that netd cannot switch is logged once */

/* Takes @id's groups, gid and uid on this thread (in that order: the gid and
 * groups need root's CAP_SETGID). 0, or -errno with this thread back to netd's. */
static int enter(const struct ident *id)
{
    if (syscall(NR_SETGROUPS, id->ngroups, id->groups) < 0) {
        /* Nothing changed: netd may not switch at all (no CAP_SETGID). */
        int e = errno;
        if (!__atomic_exchange_n(&told_cannot, 1, __ATOMIC_RELAXED))
            netd_log(LOG_WARN,
                     "cannot act as uid %u: %s; netd needs CAP_SETUID and CAP_SETGID to act "
                     "for callers other than root, and their calls fail until it has them",
                     (unsigned)id->uid, strerror(e));
        return -e;
    }
    if (syscall(NR_SETRESGID, -1, id->gid, -1) < 0 || syscall(NR_SETRESUID, -1, id->uid, -1) < 0) {
        int e = errno;
        leave();
        netd_log(LOG_WARN, "cannot act as uid %u: %s", (unsigned)id->uid, strerror(e));
        return -e;
    }
    return 0;
}

/* Whether a call for @id needs the switch. */
static bool switching(const struct ident *id)
{
    return !ident_is_netd(id);
}

/* Runs @call (an expression that sets rc, returning -1 with errno on failure) as @id. */
#define AS_CALLER(id, rc, call)                                                                    \
    do {                                                                                           \
        bool sw_ = switching(id);                                                                  \
        int e_ = sw_ ? enter(id) : 0;                                                              \
        if (e_ < 0) {                                                                              \
            rc = e_;                                                                               \
            break;                                                                                 \
        }                                                                                          \
        rc = (call);                                                                               \
        e_ = rc < 0 ? -errno : 0;                                                                  \
        if (sw_)                                                                                   \
            leave();                                                                               \
        if (rc < 0)                                                                                \
            rc = e_;                                                                               \
    } while (0)

int creds_socket(const struct ident *id, int domain, int type, int protocol)
{
    int rc;
    AS_CALLER(id, rc, socket(domain, type, protocol));
    return rc;
}

int creds_socketpair(const struct ident *id, int domain, int type, int protocol, int sv[2])
{
    int rc;
    AS_CALLER(id, rc, socketpair(domain, type, protocol, sv));
    return rc;
}

int creds_bind(const struct ident *id, int fd, const struct sockaddr *sa, socklen_t len)
{
    int rc;
    AS_CALLER(id, rc, bind(fd, sa, len));
    return rc;
}

int creds_connect(const struct ident *id, int fd, const struct sockaddr *sa, socklen_t len)
{
    int rc;
    /* An inet connect checks nothing of the caller's: the socket has its owner already. */
    if (sa->sa_family != AF_UNIX)
        id = NULL;
    AS_CALLER(id, rc, connect(fd, sa, len));
    return rc;
}

/* ---- per-message credentials on unix sockets ----
 *
 * A unix peer that sets SO_PASSCRED reads, with each message, the uid, gid
 * and pid the sender attached (SCM_CREDENTIALS), or, when it attached none,
 * the sending thread's *real* uid and gid and its process's pid. netd's
 * real uid stays 0 while it acts as a caller (see enter()), so without a
 * message of its own every byte it sent for a caller would say uid 0. The
 * kernel (scm_check_creds) lets netd name any uid and gid with CAP_SETUID
 * and CAP_SETGID, or its own effective ones (which a switched thread has:
 * the caller's), but only its own pid without CAP_SYS_ADMIN, which netd
 * does not have: the pid is netd's. */

union scm_buf {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(struct ucred))];
};

/* Points @mh's control part at @cb, filled with @id's uid and gid and netd's pid. */
static void scm_fill(const struct ident *id, union scm_buf *cb, struct msghdr *mh)
{
    memset(cb, 0, sizeof *cb);
    cb->h.cmsg_level = SOL_SOCKET;
    cb->h.cmsg_type = SCM_CREDENTIALS;
    cb->h.cmsg_len = CMSG_LEN(sizeof(struct ucred));
    struct ucred uc = {.pid = self.pid, .uid = id->uid, .gid = id->gid};
    memcpy(CMSG_DATA(&cb->h), &uc, sizeof uc);
    mh->msg_control = cb->buf;
    mh->msg_controllen = sizeof cb->buf;
}

bool creds_scm_wanted(const struct ident *id, int fd)
{
    int domain = AF_UNSPEC;
    socklen_t len = sizeof domain;
    return !ident_is_netd(id) && fd >= 0 &&
           getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX;
}

/* sendmsg as netd with @id's SCM_CREDENTIALS (a plain sendto for callers
 * netd serves as itself); @to may be NULL on a connected socket. */
static ssize_t send_scm(const struct ident *id, int fd, const void *buf, size_t len, int flags,
                        const struct sockaddr *to, socklen_t tolen)
{
    ssize_t rc;
    if (ident_is_netd(id)) {
        rc = sendto(fd, buf, len, flags, to, to ? tolen : 0);
        return rc < 0 ? -errno : rc;
    }
    union scm_buf cb;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr mh = {
        .msg_name = (void *)to, .msg_namelen = to ? tolen : 0, .msg_iov = &iov, .msg_iovlen = 1};
    scm_fill(id, &cb, &mh);
    rc = sendmsg(fd, &mh, flags);
    return rc < 0 ? -errno : rc;
}

ssize_t creds_send(const struct ident *id, int fd, const void *buf, size_t len, int flags)
{
    return send_scm(id, fd, buf, len, flags, NULL, 0);
}

ssize_t creds_sendto_granted(const struct ident *id, int fd, const void *buf, size_t len, int flags,
                             const struct sockaddr *to, socklen_t tolen)
{
    return send_scm(to && to->sa_family == AF_UNIX ? id : NULL, fd, buf, len, flags, to, tolen);
}

ssize_t creds_sendto(const struct ident *id, int fd, const void *buf, size_t len, int flags,
                     const struct sockaddr *to, socklen_t tolen)
{
    if (!to || to->sa_family != AF_UNIX)
        id = NULL;
    ssize_t rc;
    if (!switching(id)) {
        AS_CALLER(id, rc, sendto(fd, buf, len, flags, to, tolen));
        return rc;
    }
    /* To a unix address as the caller, with the caller's credentials: its
     * own euid and egid, which the switched thread may name. */
    union scm_buf cb;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr mh = {
        .msg_name = (void *)to, .msg_namelen = tolen, .msg_iov = &iov, .msg_iovlen = 1};
    scm_fill(id, &cb, &mh);
    AS_CALLER(id, rc, sendmsg(fd, &mh, flags));
    return rc;
}

int creds_listen(const struct ident *id, int fd, int backlog)
{
    int rc;
    AS_CALLER(id, rc, listen(fd, backlog));
    return rc;
}

int creds_accept(const struct ident *id, int fd, int flags)
{
    int rc;
    AS_CALLER(id, rc, accept4(fd, NULL, NULL, flags));
    return rc;
}

/* Options that no capability governs, which netd sets on its own sockets
 * often enough that a switch each time would show: SO_REUSEPORT's group is
 * checked against the socket's owner at bind, not at setsockopt. */
static bool needs_no_privilege(int level, int name)
{
    return (level == SOL_SOCKET && (name == SO_REUSEADDR || name == SO_REUSEPORT)) ||
           (level == IPPROTO_TCP && name == TCP_NODELAY);
}

int creds_setsockopt(const struct ident *id, int fd, int level, int name, const void *val,
                     socklen_t len)
{
    if (needs_no_privilege(level, name))
        id = NULL;
    int rc;
    AS_CALLER(id, rc, setsockopt(fd, level, name, val, len));
    return rc;
}

int creds_open(const struct ident *id, const char *path, int flags)
{
    int rc;
    AS_CALLER(id, rc, open(path, flags | O_CLOEXEC | O_NOCTTY));
    return rc;
}

int creds_stat(const struct ident *id, const char *path, struct stat *st)
{
    int rc;
    AS_CALLER(id, rc, stat(path, st));
    return rc;
}

int creds_fstatat(const struct ident *id, int dirfd, const char *name, struct stat *st, int flags)
{
    int rc;
    AS_CALLER(id, rc, fstatat(dirfd, name, st, flags));
    return rc;
}

int creds_unlinkat(const struct ident *id, int dirfd, const char *name, int flags)
{
    int rc;
    AS_CALLER(id, rc, unlinkat(dirfd, name, flags));
    return rc;
}

/* ---- files read whole ---- */

void filedata_free(struct filedata *f)
{
    free(f->data);
    f->data = NULL;
    f->len = 0;
}

void filelist_free(struct filelist *l)
{
    for (size_t i = 0; i < l->count; i++) {
        filedata_free(&l->files[i]);
        free(l->names[i]);
    }
    free(l->files);
    free(l->names);
    memset(l, 0, sizeof *l);
}

/* Reads regular file @fd (already fstat'ed into out->st) of at most @max bytes. */
static enum file_err read_all(int fd, size_t max, struct filedata *out)
{
    if (!S_ISREG(out->st.st_mode))
        return FILE_ENOTREG;
    if (out->st.st_size < 0 || (uint64_t)out->st.st_size > max)
        return FILE_ETOOBIG;
    size_t cap = (size_t)out->st.st_size + 1, len = 0;
    out->data = malloc(cap + 1);
    if (!out->data) {
        out->err = ENOMEM;
        return FILE_EREAD;
    }
    /* One byte more than fstat said: a file that grows meanwhile is seen. */
    for (;;) {
        ssize_t n = read(fd, out->data + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            out->err = errno;
            return FILE_EREAD;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap)
            return FILE_ETOOBIG;
    }
    out->data[len] = '\0';
    out->len = len;
    return FILE_OK;
}

/* Opens @name (in @dirfd, or a path when @dirfd is AT_FDCWD) as the caller. */
static int open_file(const struct ident *id, int dirfd, const char *name)
{
    int rc;
    AS_CALLER(id, rc, openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    return rc;
}

static enum file_err read_at(const struct ident *id, int dirfd, const char *name, size_t max,
                             struct filedata *out)
{
    memset(out, 0, sizeof *out);
    int fd = open_file(id, dirfd, name);
    if (fd < 0) {
        out->err = -fd;
        return FILE_EOPEN;
    }
    enum file_err e = FILE_EREAD;
    if (fstat(fd, &out->st) < 0)
        out->err = errno;
    else
        e = read_all(fd, max, out);
    close(fd);
    if (e != FILE_OK)
        filedata_free(out);
    return e;
}

enum file_err creds_read_file(const struct ident *id, const char *path, size_t max,
                              struct filedata *out)
{
    return read_at(id, AT_FDCWD, path, max, out);
}

static int list_add(struct filelist *l, const char *name, struct filedata *f)
{
    if (l->count % 64 == 0) {
        size_t cap = l->count + 64;
        struct filedata *files = realloc(l->files, cap * sizeof *files);
        if (files)
            l->files = files;
        char **names = files ? realloc(l->names, cap * sizeof *names) : NULL;
        if (!names)
            return -1;
        l->names = names;
    }
    l->names[l->count] = strdup(name);
    if (!l->names[l->count])
        return -1;
    l->files[l->count++] = *f;
    return 0;
}

enum file_err creds_read_dir(const struct ident *id, const char *path, struct filelist *out)
{
    memset(out, 0, sizeof *out);
    int dfd;
    AS_CALLER(id, dfd, open(path, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC));
    if (dfd < 0) {
        out->err = -dfd;
        return -dfd == ENOTDIR ? FILE_ENOTDIR : FILE_EOPEN;
    }
    DIR *d = fstat(dfd, &out->dir) == 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        out->err = errno;
        close(dfd);
        return FILE_EREAD;
    }
    enum file_err e = FILE_OK;
    size_t total = 0, seen = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) && e == FILE_OK) {
        if (ent->d_name[0] == '.')
            continue;
        if (++seen > NETD_DIR_ENTRIES_MAX) {
            e = FILE_ETOOBIG;
            break;
        }
        struct filedata f;
        enum file_err fe = read_at(id, dirfd(d), ent->d_name, NETD_FILE_MAX, &f);
        if (fe == FILE_ETOOBIG)
            e = FILE_ETOOBIG;
        if (fe != FILE_OK)
            continue;
        total += f.len;
        if (total > NETD_DIR_FILES_MAX) {
            filedata_free(&f);
            e = FILE_ETOOBIG;
        } else if (list_add(out, ent->d_name, &f) < 0) {
            filedata_free(&f);
            out->err = ENOMEM;
            e = FILE_EREAD;
        }
    }
    closedir(d);
    return e;
}
