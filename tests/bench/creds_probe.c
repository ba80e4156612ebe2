/*
 * creds_probe.c - what the kernel does when one thread of a root process
 * takes another uid's credentials with the raw system calls, and what that
 * costs. The figures and answers are the ones docs/security.md quotes.
 *
 * Two ways for a worker thread to act as uid U (gid U, groups {G}):
 *   fs:   setgroups, setfsgid, setfsuid (the euid stays 0);
 *   euid: setgroups, setresgid(-1, U, -1), setresuid(-1, U, -1).
 * Both use syscall(SYS_...), which changes only the calling thread; glibc's
 * wrappers would change every thread of the process.
 *
 * Run as root: build/tests/bench/creds-probe [uid gid group] (default
 * 40123 40123 40124). Each question is answered by a real socket, file or
 * port; nothing is assumed. Exits 1 when a question cannot be asked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static uid_t U = 40123;
static gid_t UG = 40123, G = 40124;
static char dir[64];

enum way { AS_ROOT, AS_FS, AS_EUID };
static const char *const way_name[] = {"root", "fsuid", "euid"};

/* Takes the caller's identity on this thread only. */
static int become(enum way w)
{
    if (w == AS_ROOT)
        return 0;
    gid_t groups[1] = {G};
    if (syscall(SYS_setgroups, 1, groups) < 0)
        return -1;
    if (w == AS_FS) {
        syscall(SYS_setfsgid, UG);
        syscall(SYS_setfsuid, U);
        /* setfsuid reports the previous value, never an error: ask again. */
        return (uid_t)syscall(SYS_setfsuid, -1) == U ? 0 : -1;
    }
    if (syscall(SYS_setresgid, -1, UG, -1) < 0)
        return -1;
    return (int)syscall(SYS_setresuid, -1, U, -1);
}

/* Back to root's identity (the saved uid is still 0, so this is allowed). */
static void unbecome(enum way w)
{
    if (w == AS_EUID) {
        syscall(SYS_setresuid, -1, 0, -1);
        syscall(SYS_setresgid, -1, 0, -1);
    } else if (w == AS_FS) {
        syscall(SYS_setfsuid, 0);
        syscall(SYS_setfsgid, 0);
    }
    if (w != AS_ROOT)
        syscall(SYS_setgroups, 0, NULL);
}

static socklen_t un_addr(const char *path, struct sockaddr_un *un)
{
    memset(un, 0, sizeof *un);
    un->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n >= sizeof un->sun_path)
        n = sizeof un->sun_path - 1; /* the probe's own paths are short */
    memcpy(un->sun_path, path, n);
    return sizeof *un;
}

static struct sockaddr_in lo(int port)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return in;
}

/* ---- the questions; each runs on a fresh thread ---- */

struct q {
    enum way way;
    int result; /* errno, or a uid */
    const char *path;
    int port;
};

/* A unix stream connect to q->path; the listener reads the peer's uid. */
static void *q_connect_unix(void *arg)
{
    struct q *q = arg;
    if (become(q->way) < 0) {
        q->result = -errno;
        return NULL;
    }
    struct sockaddr_un un;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    q->result = connect(fd, (struct sockaddr *)&un, un_addr(q->path, &un)) == 0 ? 0 : errno;
    unbecome(q->way);
    return (void *)(intptr_t)fd;
}

/* A TCP listener with SO_REUSEPORT on q->port, as the caller. */
static void *q_reuseport(void *arg)
{
    struct q *q = arg;
    become(q->way);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    struct sockaddr_in in = lo(q->port);
    q->result = bind(fd, (struct sockaddr *)&in, sizeof in) == 0 ? 0 : errno;
    unbecome(q->way);
    close(fd);
    return NULL;
}

/* The socket is made as the caller, bound after the thread is root again. */
static void *q_reuseport_made_as_caller(void *arg)
{
    struct q *q = arg;
    become(q->way);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    unbecome(q->way);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    struct sockaddr_in in = lo(q->port);
    q->result = bind(fd, (struct sockaddr *)&in, sizeof in) == 0 ? 0 : errno;
    close(fd);
    return NULL;
}

/* The socket is made by root, bound while the thread is the caller. */
static void *q_reuseport_bound_as_caller(void *arg)
{
    struct q *q = arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    become(q->way);
    struct sockaddr_in in = lo(q->port);
    q->result = bind(fd, (struct sockaddr *)&in, sizeof in) == 0 ? 0 : errno;
    unbecome(q->way);
    close(fd);
    return NULL;
}

/* A bind to privileged port q->port. */
static void *q_privileged(void *arg)
{
    struct q *q = arg;
    become(q->way);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in in = lo(q->port);
    q->result = bind(fd, (struct sockaddr *)&in, sizeof in) == 0 ? 0 : errno;
    unbecome(q->way);
    close(fd);
    return NULL;
}

/* open(O_RDONLY) of q->path. */
static void *q_open(void *arg)
{
    struct q *q = arg;
    become(q->way);
    int fd = open(q->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    q->result = fd >= 0 ? 0 : errno;
    unbecome(q->way);
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* bind of a unix socket at q->path: the file's owner. */
static void *q_bind_owner(void *arg)
{
    struct q *q = arg;
    become(q->way);
    struct sockaddr_un un;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = bind(fd, (struct sockaddr *)&un, un_addr(q->path, &un));
    unbecome(q->way);
    struct stat st;
    q->result = rc < 0 ? -errno : stat(q->path, &st) == 0 ? (int)st.st_uid : -errno;
    close(fd);
    unlink(q->path);
    return NULL;
}

/* A thread that holds the caller's euid until told to stop, while the
 * main thread checks that its own identity did not change. */
static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static int hold_state; /* 1: switched; 2: may go back */

static void *q_hold(void *arg)
{
    become(AS_EUID);
    pthread_mutex_lock(&hold_lock);
    hold_state = 1;
    pthread_cond_broadcast(&hold_cond);
    while (hold_state != 2)
        pthread_cond_wait(&hold_cond, &hold_lock);
    pthread_mutex_unlock(&hold_lock);
    unbecome(AS_EUID);
    return NULL;
}

/* Runs @fn on a new thread and returns its struct q result. */
static int ask(void *(*fn)(void *), enum way w, const char *path, int port, void **ret)
{
    struct q q = {w, -1, path, port};
    pthread_t t;
    pthread_create(&t, NULL, fn, &q);
    void *r;
    pthread_join(t, &r);
    if (ret)
        *ret = r;
    return q.result;
}

static const char *err(int e)
{
    static char buf[4][32];
    static int k;
    char *b = buf[k++ % 4];
    if (e == 0)
        return "ok";
    snprintf(b, 32, "%s", strerrorname_np(e < 0 ? -e : e) ? strerrorname_np(e < 0 ? -e : e) : "?");
    return b;
}

/* ---- costs ---- */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct cost {
    enum way way;
    int port, n;
    double switch_ns, connect_ns;
};

/* Per iteration: become + unbecome only; then socket + connect + close of a
 * loopback TCP connection with the switch around socket() and connect(). */
static void *q_cost(void *arg)
{
    struct cost *c = arg;
    double t0 = now_ns();
    for (int i = 0; i < c->n; i++) {
        become(c->way);
        unbecome(c->way);
    }
    c->switch_ns = (now_ns() - t0) / c->n;
    struct sockaddr_in in = lo(c->port);
    t0 = now_ns();
    for (int i = 0; i < c->n; i++) {
        become(c->way);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int rc = connect(fd, (struct sockaddr *)&in, sizeof in);
        unbecome(c->way);
        if (rc < 0) {
            perror("connect");
            exit(1);
        }
        close(fd);
    }
    c->connect_ns = (now_ns() - t0) / c->n;
    return NULL;
}

/* Accepts and closes everything on @arg's listener until told to stop. */
static volatile int draining = 1;
static void *drain(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    while (draining) {
        int fd = accept(lfd, NULL, NULL);
        if (fd >= 0)
            close(fd);
    }
    return NULL;
}

static int listener(int type, int port, int reuseport)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), on = 1;
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    struct sockaddr_in in = lo(port);
    if (bind(fd, (struct sockaddr *)&in, sizeof in) < 0 ||
        (type == SOCK_STREAM && listen(fd, 4096) < 0)) {
        perror("listener");
        exit(1);
    }
    return fd;
}

static int port_of(int fd)
{
    struct sockaddr_in in;
    socklen_t len = sizeof in;
    getsockname(fd, (struct sockaddr *)&in, &len);
    return ntohs(in.sin_port);
}

int main(int argc, char **argv)
{
    if (argc == 4) {
        U = (uid_t)atoi(argv[1]);
        UG = (gid_t)atoi(argv[2]);
        G = (gid_t)atoi(argv[3]);
    }
    if (geteuid() != 0) {
        fprintf(stderr, "creds-probe: needs root\n");
        return 1;
    }
    snprintf(dir, sizeof dir, "/tmp/creds-probe-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    chmod(dir, 0755);
    char rdir[128], rsock[160], rfile[160], gsock[160], udir[128], usock[160];
    snprintf(rdir, sizeof rdir, "%s/root", dir);
    snprintf(udir, sizeof udir, "%s/u", dir);
    mkdir(rdir, 0700);
    mkdir(udir, 0755);
    chown(udir, U, UG);
    snprintf(rsock, sizeof rsock, "%s/root/srv.sock", dir);
    snprintf(rfile, sizeof rfile, "%s/root/key.pem", dir);
    snprintf(gsock, sizeof gsock, "%s/g.sock", dir);
    snprintf(usock, sizeof usock, "%s/u/mine.sock", dir);
    int f = open(rfile, O_CREAT | O_WRONLY, 0600);
    close(f);

    /* Unix listeners: root-only (0600 in a 0700 directory) and group G (0660). */
    struct sockaddr_un un;
    int rl = socket(AF_UNIX, SOCK_STREAM, 0), gl = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(rl, (struct sockaddr *)&un, un_addr(rsock, &un));
    bind(gl, (struct sockaddr *)&un, un_addr(gsock, &un));
    listen(rl, 16);
    listen(gl, 16);
    chmod(rsock, 0600);
    chown(gsock, 0, G);
    chmod(gsock, 0660);

    printf("uid %u gid %u group %u; kernel answers:\n", U, UG, G);
    for (enum way w = AS_ROOT; w <= AS_EUID; w++) {
        void *r;
        int e = ask(q_connect_unix, w, gsock, 0, &r);
        int uid = -1;
        if (e == 0) {
            int a = accept(gl, NULL, NULL);
            struct ucred cr;
            socklen_t len = sizeof cr;
            getsockopt(a, SOL_SOCKET, SO_PEERCRED, &cr, &len);
            uid = (int)cr.uid;
            close(a);
        }
        close((int)(intptr_t)r);
        int e2 = ask(q_connect_unix, w, rsock, 0, &r);
        if (e2 == 0)
            close(accept(rl, NULL, NULL));
        close((int)(intptr_t)r);
        printf("  %-6s connect to a 0660 root:G socket: %s, peer's SO_PEERCRED uid %d; "
               "to a 0600 socket in a 0700 dir: %s\n",
               way_name[w], err(e), uid, err(e2));
    }

    int tl = listener(SOCK_STREAM, 0, 1);
    int rp = port_of(tl);
    for (enum way w = AS_ROOT; w <= AS_EUID; w++)
        printf("  %-6s SO_REUSEPORT bind on root's port: made+bound as caller %s, made as "
               "caller/bound as root %s, made as root/bound as caller %s\n",
               way_name[w], err(ask(q_reuseport, w, NULL, rp, NULL)),
               err(ask(q_reuseport_made_as_caller, w, NULL, rp, NULL)),
               err(ask(q_reuseport_bound_as_caller, w, NULL, rp, NULL)));
    close(tl);

    int priv = 0;
    for (int p = 1023; p > 900 && !priv; p--) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in in = lo(p);
        if (bind(fd, (struct sockaddr *)&in, sizeof in) == 0)
            priv = p;
        close(fd);
    }
    for (enum way w = AS_ROOT; w <= AS_EUID; w++)
        printf("  %-6s bind 127.0.0.1:%d: %s; open a 0600 file in a 0700 dir: %s; "
               "bind in its own dir, file owner %d\n",
               way_name[w], priv, err(ask(q_privileged, w, NULL, priv, NULL)),
               err(ask(q_open, w, rfile, 0, NULL)), ask(q_bind_owner, w, usock, 0, NULL));
    /* After the thread went back, root's powers are whole again. */
    printf("  after euid U and back on the same thread: bind %d %s, open %s\n", priv,
           err(ask(q_privileged, AS_ROOT, NULL, priv, NULL)),
           err(ask(q_open, AS_ROOT, rfile, 0, NULL)));

    pthread_t ht;
    pthread_create(&ht, NULL, q_hold, NULL);
    pthread_mutex_lock(&hold_lock);
    while (hold_state != 1)
        pthread_cond_wait(&hold_cond, &hold_lock);
    pthread_mutex_unlock(&hold_lock);
    int mf = open(rfile, O_RDONLY);
    printf("  while another thread is euid %u: this thread's euid %u, open %s\n", U,
           (unsigned)geteuid(), mf >= 0 ? "ok" : err(errno));
    if (mf >= 0)
        close(mf);
    pthread_mutex_lock(&hold_lock);
    hold_state = 2;
    pthread_cond_broadcast(&hold_cond);
    pthread_mutex_unlock(&hold_lock);
    pthread_join(ht, NULL);

    /* Costs: a loopback TCP connect with each way of switching around it. */
    int cl = listener(SOCK_STREAM, 0, 0);
    pthread_t dt;
    pthread_create(&dt, NULL, drain, (void *)(intptr_t)cl);
    int n = 20000;
    printf("costs over %d iterations (ns per call, one thread):\n", n);
    for (enum way w = AS_ROOT; w <= AS_EUID; w++) {
        struct cost c = {w, port_of(cl), n, 0, 0};
        pthread_t t;
        pthread_create(&t, NULL, q_cost, &c);
        pthread_join(t, NULL);
        printf("  %-6s switch and back %.0f ns; socket+connect+close %.0f ns\n", way_name[w],
               c.switch_ns, c.connect_ns);
    }
    draining = 0;
    int poke = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = lo(port_of(cl));
    connect(poke, (struct sockaddr *)&in, sizeof in);
    pthread_join(dt, NULL);
    close(poke);
    close(cl);
    close(rl);
    close(gl);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
