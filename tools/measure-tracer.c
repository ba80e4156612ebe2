/*
 * measure-tracer.c - the function tracer that tools/measure-structure links
 * into a netd built with -finstrument-functions, in a build directory of its
 * own. It is never part of the normal build.
 *
 * Every instrumented function calls __cyg_profile_func_enter() on entry.
 * While tracing is on, the tracer records the function's address (as an
 * offset from the executable's start, so addr2line can map it) and the
 * calling thread. Tracing goes on when a socket read returns bytes that
 * contain the marker (environment NETD_TRACE_MARKER; the traced request's
 * id) and off when a write of bytes that contain it returns (the answer
 * repeats the id). The socket calls are wrapped with ld's --wrap, so only
 * netd's own calls are seen, not libev's or wolfSSL's. When tracing goes off
 * the record is written to NETD_TRACE_FILE, one line per event:
 *
 *   start <offset>          the code that called the read (its return address)
 *   enter <tid> <offset>    a function entered, in order
 *   end <offset>            the code that called the write (missing when
 *                           netd stopped before writing the answer)
 *
 * The tracer itself is compiled without -finstrument-functions.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define NOTRACE __attribute__((no_instrument_function))
#define MAX_ENTRIES (1u << 20)

struct entry {
    uintptr_t off;
    int tid;
};

extern char __executable_start;

static const char *marker;
static size_t marker_len;
static atomic_int tracing;
static atomic_uint nentries;
static struct entry entries[MAX_ENTRIES];
static uintptr_t start_site, end_site;

void __cyg_profile_func_enter(void *fn, void *site) NOTRACE;
void __cyg_profile_func_exit(void *fn, void *site) NOTRACE;

ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __real_recv(int fd, void *buf, size_t n, int flags);
ssize_t __real_recvmsg(int fd, struct msghdr *m, int flags);
ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __real_send(int fd, const void *buf, size_t n, int flags);
ssize_t __real_sendmsg(int fd, const struct msghdr *m, int flags);
ssize_t __real_writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t __wrap_read(int fd, void *buf, size_t n) NOTRACE;
ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags) NOTRACE;
ssize_t __wrap_recvmsg(int fd, struct msghdr *m, int flags) NOTRACE;
ssize_t __wrap_write(int fd, const void *buf, size_t n) NOTRACE;
ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags) NOTRACE;
ssize_t __wrap_sendmsg(int fd, const struct msghdr *m, int flags) NOTRACE;
ssize_t __wrap_writev(int fd, const struct iovec *iov, int iovcnt) NOTRACE;

static NOTRACE uintptr_t offset_of(const void *p)
{
    return (uintptr_t)p - (uintptr_t)&__executable_start;
}

static NOTRACE __attribute__((constructor)) void tracer_init(void)
{
    marker = getenv("NETD_TRACE_MARKER");
    marker_len = marker ? strlen(marker) : 0;
}

void __cyg_profile_func_enter(void *fn, void *site)
{
    if (!atomic_load_explicit(&tracing, memory_order_relaxed))
        return;
    unsigned i = atomic_fetch_add(&nentries, 1);
    if (i < MAX_ENTRIES) {
        entries[i].off = offset_of(fn);
        entries[i].tid = (int)syscall(SYS_gettid);
    }
}

void __cyg_profile_func_exit(void *fn, void *site) {}

/* Whether the first @n bytes spread over @iov contain the marker (which may
 * straddle two buffers: the bytes are gathered into one copy first). */
static NOTRACE int has_marker(const struct iovec *iov, size_t iovcnt, size_t n)
{
    if (marker_len == 0 || n < marker_len)
        return 0;
    char *all = malloc(n);
    if (!all)
        return 0;
    size_t got = 0;
    for (size_t i = 0; i < iovcnt && got < n; i++) {
        size_t k = iov[i].iov_len < n - got ? iov[i].iov_len : n - got;
        memcpy(all + got, iov[i].iov_base, k);
        got += k;
    }
    int found = memmem(all, got, marker, marker_len) != NULL;
    free(all);
    return found;
}

static NOTRACE void dump(void)
{
    const char *path = getenv("NETD_TRACE_FILE");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f)
        return;
    unsigned n = atomic_load(&nentries);
    if (n > MAX_ENTRIES)
        n = MAX_ENTRIES;
    fprintf(f, "start %#lx\n", (unsigned long)start_site);
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "enter %d %#lx\n", entries[i].tid, (unsigned long)entries[i].off);
    if (end_site)
        fprintf(f, "end %#lx\n", (unsigned long)end_site);
    fclose(f);
}

/* netd stopped while tracing was on: the answer's write was never seen.
 * What was recorded is written all the same, without an end line. */
static NOTRACE __attribute__((destructor)) void tracer_fini(void)
{
    if (atomic_load(&tracing)) {
        atomic_store(&tracing, 0);
        dump();
    }
}

/* A read returned @n bytes in @iov: tracing starts if they carry the marker. */
static NOTRACE void after_read(const struct iovec *iov, size_t iovcnt, ssize_t n, void *site)
{
    if (n <= 0 || atomic_load(&tracing) || atomic_load(&nentries) > 0)
        return; /* one window per run */
    if (has_marker(iov, iovcnt, (size_t)n)) {
        start_site = offset_of(site);
        atomic_store(&tracing, 1);
    }
}

/* A write sent @n bytes of @iov: tracing ends if they carry the marker. */
static NOTRACE void after_write(const struct iovec *iov, size_t iovcnt, ssize_t n, void *site)
{
    if (n <= 0 || !atomic_load(&tracing))
        return;
    if (has_marker(iov, iovcnt, (size_t)n)) {
        atomic_store(&tracing, 0);
        end_site = offset_of(site);
        dump();
    }
}

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
    ssize_t k = __real_read(fd, buf, n);
    struct iovec v = {buf, n};
    after_read(&v, 1, k, __builtin_return_address(0));
    return k;
}

ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags)
{
    ssize_t k = __real_recv(fd, buf, n, flags);
    struct iovec v = {buf, n};
    after_read(&v, 1, k, __builtin_return_address(0));
    return k;
}

ssize_t __wrap_recvmsg(int fd, struct msghdr *m, int flags)
{
    ssize_t k = __real_recvmsg(fd, m, flags);
    after_read(m->msg_iov, m->msg_iovlen, k, __builtin_return_address(0));
    return k;
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    ssize_t k = __real_write(fd, buf, n);
    struct iovec v = {(void *)buf, n};
    after_write(&v, 1, k, __builtin_return_address(0));
    return k;
}

ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags)
{
    ssize_t k = __real_send(fd, buf, n, flags);
    struct iovec v = {(void *)buf, n};
    after_write(&v, 1, k, __builtin_return_address(0));
    return k;
}

ssize_t __wrap_sendmsg(int fd, const struct msghdr *m, int flags)
{
    ssize_t k = __real_sendmsg(fd, m, flags);
    after_write(m->msg_iov, m->msg_iovlen, k, __builtin_return_address(0));
    return k;
}

ssize_t __wrap_writev(int fd, const struct iovec *iov, int iovcnt)
{
    ssize_t k = __real_writev(fd, iov, iovcnt);
    after_write(iov, (size_t)iovcnt, k, __builtin_return_address(0));
    return k;
}
