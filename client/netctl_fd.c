/*
 * netctl_fd.c - commands where sockets cross between netd and processes
 * as descriptors: `pair` makes two connected sockets inside netd,
 * `assign` hands netd a socket netctl was given, and `release` takes one
 * out of netd and runs a program on it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netctl.h"

/* The exit statuses of a shell for a command that cannot be run. */

static void print_pair(const json_t *res)
{
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(res, "handles"), i, h)
    {
        printf("%s\n", json_string_value(h));
    }
}

int cmd_pair(struct netctl *n, const struct args *a)
{
    json_t *p = json_pack("{s:b}", "keep", 1);
    if (opt_get(a, "datagram"))
        json_object_set_new(p, "type", json_string("datagram"));
    return call_and_print(n, "pair", p, print_pair);
}

/* Which descriptor `assign` passes: stdin, or --fd N. -1 after a usage error. */
static int assign_fd(struct netctl *n, const struct args *a)
{
    const char *s = opt_get(a, "fd");
    long long fd = 0;
    if (!s)
        return 0;
    if (strcmp(s, "0") != 0 && (parse_count(s, &fd) < 0 || fd > 1000000)) {
        usage_error(n, "--fd needs a descriptor number, not \"%s\"", s);
        return -1;
    }
    return (int)fd;
}

int cmd_assign(struct netctl *n, const struct args *a)
{
    int fd = assign_fd(n, a);
    if (fd < 0)
        return EXIT_USAGE;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return fail(n, "descriptor %d is not open: %s", fd, strerror(errno));
    if (!S_ISSOCK(st.st_mode))
        return fail(n,
                    "descriptor %d is not a socket; run netctl assign with a socket as its stdin "
                    "(e.g. from socat or systemd-socket-activate --inetd), or give --fd",
                    fd);
    json_t *res = NULL;
    int rc = netctl_call_fd(n, "assign", json_pack("{s:b}", "keep", 1), fd, &res, NULL);
    if (rc)
        return rc;
    /* Under socat or inetd stdout is often the connection itself; the
     * handle then goes to stderr, so that no byte of ours reaches the peer. */
    struct stat out;
    bool out_is_sock =
        fstat(STDOUT_FILENO, &out) == 0 && out.st_dev == st.st_dev && out.st_ino == st.st_ino;
    FILE *f = out_is_sock ? stderr : stdout;
    if (n->json)
        print_json_to(f, res);
    else
        fprintf(f, "%s\n", json_string_value(json_object_get(res, "handle")));
    json_decref(res);
    return EXIT_OK;
}

/*
 * Finds COMMAND as execvp() would, so that a mistyped name fails before
 * the socket leaves netd: once released, a socket nobody runs on is lost.
 * 0, or -1 with errno ENOENT or EACCES.
 */
int command_runnable(const char *cmd)
{
    if (strchr(cmd, '/'))
        return access(cmd, X_OK);
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    int err = ENOENT;
    for (const char *p = path;; p++) {
        size_t len = strcspn(p, ":");
        char full[4096];
        snprintf(full, sizeof full, "%.*s/%s", len ? (int)len : 1, len ? p : ".", cmd);
        if (access(full, X_OK) == 0)
            return 0;
        if (errno == EACCES)
            err = EACCES;
        p += len;
        if (*p == '\0')
            break;
    }
    errno = err;
    return -1;
}

/* Puts @fd on stdin and stdout and becomes COMMAND; returns only on failure. */
int run_on_socket(struct netctl *n, int fd, char **argv)
{
    fflush(stdout);
    if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
        return fail(n, "cannot put the socket on stdin and stdout: %s", strerror(errno));
    if (fd > STDOUT_FILENO)
        close(fd);
    netd_client_free(n->client);
    n->client = NULL;
    execvp(argv[0], argv);
    int err = errno;
    fail(n, "cannot run %s: %s", argv[0], strerror(err));
    return err == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC;
}

int cmd_release(struct netctl *n, const struct args *a)
{
    if (a->dashdash != 1)
        return usage_error(n, "put -- between H and COMMAND");
    char **argv = a->argv + 1;
    if (command_runnable(argv[0]) < 0) {
        int err = errno;
        fail(n, "cannot run %s: %s; %s stays in netd", argv[0], strerror(err), a->argv[0]);
        return err == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC;
    }
    int fd = -1;
    int rc = netctl_call_fd(n, "release", json_pack("{s:s}", "handle", a->argv[0]), -1, NULL, &fd);
    if (rc)
        return rc;
    if (fd < 0)
        return fail(n, "netd answered but passed no descriptor; is it older than this netctl?");
    return run_on_socket(n, fd, argv);
}
