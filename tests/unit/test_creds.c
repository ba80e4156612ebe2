/*
 * test_creds.c - core/creds.c: identities from a real peer (every group),
 * files read whole with their bounds (a FIFO never blocks, a large file is
 * not read), and the switch itself when run as root: a call made as
 * another uid gets that uid's answer from the kernel, the thread is root
 * again afterwards, and another thread never sees the switch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>

#include "core.h"

#define OTHER_UID 40123 /* unused, as test_trust needs it */

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/netd-creds-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* The peer of a socket pair is this process: its uid, gid, pid and groups. */
static void test_ident_from_peer(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct ident *id = ident_from_peer(sv[0]);
    assert_non_null(id);
    assert_int_equal(id->uid, geteuid());
    assert_int_equal(id->gid, getegid());
    assert_int_equal(id->pid, getpid());
    int n = getgroups(0, NULL);
    assert_int_equal(id->ngroups, n);
    assert_ptr_equal(ident_ref(id), id);
    ident_unref(id);
    ident_unref(id);
    close(sv[0]);
    close(sv[1]);
}

/* More groups than the first buffer holds: the list is read whole (ERANGE, then the size). */
static void test_ident_every_group(void **state)
{
    if (geteuid() != 0)
        skip();
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The peer credentials are taken at connect: a socket made now
         * by a process with 200 groups. */
        gid_t groups[200];
        for (int i = 0; i < 200; i++)
            groups[i] = (gid_t)(50000 + i);
        if (setgroups(200, groups) < 0)
            _exit(1);
        int p[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) < 0)
            _exit(2);
        char byte = 0, cbuf[CMSG_SPACE(sizeof(int))] = {0};
        struct iovec iov = {&byte, 1};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &p[0], sizeof(int));
        _exit(sendmsg(sv[1], &mh, 0) == 1 ? 0 : 3);
    }
    char byte, cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&byte, 1};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    assert_int_equal(recvmsg(sv[0], &mh, 0), 1);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(WEXITSTATUS(st), 0);
    int fd;
    memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof fd);
    struct ident *id = ident_from_peer(fd);
    assert_non_null(id);
    assert_int_equal(id->ngroups, 200);
    assert_true(ident_in_group(id, 50199));
    assert_false(ident_in_group(id, 50200));
    ident_unref(id);
    close(fd);
    close(sv[0]);
    close(sv[1]);
}

static void test_read_file(void **state)
{
    char p[128];
    path_in(p, sizeof p, "a.pem");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("hello", f);
    fclose(f);
    struct filedata fd;
    assert_int_equal(creds_read_file(NULL, p, NETD_FILE_MAX, &fd), FILE_OK);
    assert_int_equal(fd.len, 5);
    assert_string_equal((char *)fd.data, "hello");
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(fd.st.st_ino, st.st_ino);
    filedata_free(&fd);
    /* Bounded: a file one byte over is not read. */
    assert_int_equal(creds_read_file(NULL, p, 4, &fd), FILE_ETOOBIG);
    assert_null(fd.data);
    /* Missing: the kernel's errno. */
    path_in(p, sizeof p, "missing.pem");
    assert_int_equal(creds_read_file(NULL, p, NETD_FILE_MAX, &fd), FILE_EOPEN);
    assert_int_equal(fd.err, ENOENT);
    /* A directory and a FIFO are not regular files; the FIFO does not block. */
    assert_int_equal(creds_read_file(NULL, dir, NETD_FILE_MAX, &fd), FILE_ENOTREG);
    path_in(p, sizeof p, "fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(creds_read_file(NULL, p, NETD_FILE_MAX, &fd), FILE_ENOTREG);
}

static void test_read_dir(void **state)
{
    char p[256], sub[128];
    path_in(sub, sizeof sub, "certs");
    assert_int_equal(mkdir(sub, 0755), 0);
    const char *names[] = {"one.pem", "two.pem", ".hidden"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", sub, names[i]);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs(names[i], f);
        fclose(f);
    }
    snprintf(p, sizeof p, "%s/fifo", sub);
    assert_int_equal(mkfifo(p, 0600), 0);
    snprintf(p, sizeof p, "%s/inner", sub);
    assert_int_equal(mkdir(p, 0755), 0);
    struct filelist l;
    assert_int_equal(creds_read_dir(NULL, sub, &l), FILE_OK);
    /* The two regular files; not the hidden one, the FIFO or the directory. */
    assert_int_equal(l.count, 2);
    for (size_t i = 0; i < l.count; i++)
        assert_string_equal((char *)l.files[i].data, l.names[i]);
    filelist_free(&l);
    path_in(p, sizeof p, "missing");
    assert_int_equal(creds_read_dir(NULL, p, &l), FILE_EOPEN);
    assert_int_equal(l.err, ENOENT);
    snprintf(p, sizeof p, "%s/one.pem", sub);
    assert_int_equal(creds_read_dir(NULL, p, &l), FILE_ENOTDIR);
}

struct watch {
    pid_t tid;        /* the thread that acts as the caller */
    const char *fifo; /* it blocks opening this as the caller */
    uid_t seen_euid;  /* that thread's effective uid, seen from here */
    uid_t own_euid;   /* this thread's, meanwhile */
};

/* The effective uid of thread @tid of this process, from /proc; -1 if unknown. */
static long thread_euid(pid_t tid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    FILE *f = fopen(path, "r");
    long euid = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Uid: %*d %ld", &euid) == 1)
            break;
    if (f)
        fclose(f);
    return euid;
}

static void *other_thread(void *arg)
{
    struct watch *w = arg;
    for (int i = 0; i < 500 && thread_euid(w->tid) != OTHER_UID; i++)
        usleep(10000);
    w->seen_euid = (uid_t)thread_euid(w->tid);
    w->own_euid = geteuid();
    int fd = open(w->fifo, O_WRONLY | O_CLOEXEC); /* lets the other open return */
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* As another uid the kernel answers for it, and the thread is root again after. */
static void test_switch(void **state)
{
    if (geteuid() != 0 || getpwuid(OTHER_UID))
        skip();
    char p[128];
    path_in(p, sizeof p, "root-only");
    int fd = open(p, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    struct ident *u = ident_new(OTHER_UID, OTHER_UID, 1, NULL, 0);
    assert_false(ident_is_netd(u));
    assert_true(ident_is_netd(NULL));
    assert_int_equal(creds_open(u, p, O_RDONLY), -EACCES);
    assert_int_equal(geteuid(), 0);
    fd = creds_open(NULL, p, O_RDONLY);
    assert_true(fd >= 0);
    close(fd);
    /* A socket made as the caller belongs to it: its bind to a port below
     * the unprivileged start is refused, root's is not. */
    int start = netd_unprivileged_port_start();
    if (start > 1) {
        struct sockaddr_in in = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)(start - 1)),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int s = creds_socket(u, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s >= 0);
        assert_int_equal(creds_bind(u, s, (struct sockaddr *)&in, sizeof in), -EACCES);
        close(s);
    }
    /* While this thread acts as the caller (blocked in the open of a FIFO,
     * made as the caller), it is that uid, and another thread is root. */
    assert_int_equal(chmod(dir, 0755), 0);
    char fifo[128];
    path_in(fifo, sizeof fifo, "fifo");
    assert_int_equal(mkfifo(fifo, 0666), 0);
    assert_int_equal(chmod(fifo, 0666), 0);
    struct watch w = {.tid = gettid(), .fifo = fifo};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread, &w), 0);
    fd = creds_open(u, fifo, O_RDONLY);
    pthread_join(t, NULL);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(w.seen_euid, OTHER_UID);
    assert_int_equal(w.own_euid, 0);
    assert_int_equal(geteuid(), 0);
    assert_int_equal(thread_euid(gettid()), 0);
    ident_unref(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ident_from_peer),
        cmocka_unit_test(test_ident_every_group),
        cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_switch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
