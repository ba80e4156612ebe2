/*
 * harness_peers.c - the harness's local peers (one poll() thread each),
 * refused and free ports, and the test's own plain sockets. Compiled as
 * part of harness.c, whose registry it shares; never built on its own.
 */
/* ------------------------------------------------------------------ */
/* Local peers                                                         */

struct pconn {
    int fd;
    const unsigned char *out; /* bytes still to send: the echo buffer or the payload */
    size_t outlen, outoff;
    unsigned char *buf; /* echo buffer */
    long long next_ms;  /* PEER_DRIP: when the next few bytes go */
    int eof;            /* the client's end of stream was seen */
};

struct peer {
    enum peer_mode mode;
    int lfd;
    int wake[2]; /* a byte on wake[1] stops the thread */
    pthread_t thread;
    int port;
    char host[INET6_ADDRSTRLEN];
    char path[108];
    int is_file;
    unsigned char *payload;
    size_t payload_len;
    int fillers[16]; /* PEER_FULL: connections that fill the backlog */
    int nfillers, full;
    struct pconn *conns; /* owned by the thread while it runs */
    size_t nconns, capconns;
    pthread_mutex_t mu; /* guards the counters below */
    pthread_cond_t cv;
    int accepted, eofs;
    char last_host[INET6_ADDRSTRLEN];
    int last_port;
};

enum { ECHO_BUF = 65536, DRIP_BYTES = 7, DRIP_MS = 2 };

static void peer_count_eof(struct peer *p, struct pconn *c)
{
    if (c->eof)
        return;
    c->eof = 1;
    pthread_mutex_lock(&p->mu);
    p->eofs++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void peer_drop(struct pconn *c)
{
    close(c->fd);
    c->fd = -1;
}

static void peer_note_remote(struct peer *p, const struct sockaddr_storage *ss)
{
    pthread_mutex_lock(&p->mu);
    p->accepted++;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, p->last_host, sizeof p->last_host);
        p->last_port = ntohs(in->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, p->last_host, sizeof p->last_host);
        p->last_port = ntohs(in6->sin6_port);
    }
    pthread_mutex_unlock(&p->mu);
}

static void peer_accept(struct peer *p)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof ss;
    int fd = accept4(p->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    peer_note_remote(p, &ss);
    if (p->mode == PEER_CLOSE) {
        close(fd);
        return;
    }
    if (p->nconns == p->capconns) {
        size_t cap = p->capconns ? 2 * p->capconns : 16;
        struct pconn *nc = realloc(p->conns, cap * sizeof *nc);
        if (!nc) {
            close(fd);
            return;
        }
        p->conns = nc;
        p->capconns = cap;
    }
    struct pconn *c = &p->conns[p->nconns++];
    *c = (struct pconn){.fd = fd, .next_ms = h_now_ms()};
    if (p->mode == PEER_PAYLOAD || p->mode == PEER_DRIP) {
        c->out = p->payload;
        c->outlen = p->payload_len;
    }
}

/* Echo: read a buffer's worth, then write it all back before reading more,
 * so a client that does not read its echo is slowed down, not buffered. */
static void peer_echo_io(struct peer *p, struct pconn *c, short revents)
{
    if (c->outoff < c->outlen) {
        ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (n > 0)
            c->outoff += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            peer_count_eof(p, c), peer_drop(c);
    } else if (!c->eof && (revents & (POLLIN | POLLHUP | POLLERR))) {
        if (!c->buf && !(c->buf = malloc(ECHO_BUF)))
            return;
        ssize_t n = recv(c->fd, c->buf, ECHO_BUF, 0);
        if (n > 0) {
            c->out = c->buf;
            c->outlen = (size_t)n;
            c->outoff = 0;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            peer_count_eof(p, c);
            if (n < 0)
                peer_drop(c);
        }
    }
    if (c->fd >= 0 && c->eof && c->outoff >= c->outlen)
        peer_drop(c);
}

/* Payload and drip: send, then shut the writing side, then wait for the
 * client's end of stream (discarding what it sends) before closing, so the
 * client sees a clean FIN and never a reset. */
static void peer_send_io(struct peer *p, struct pconn *c, short revents)
{
    if (c->outoff < c->outlen) {
        size_t n = c->outlen - c->outoff;
        if (p->mode == PEER_DRIP) {
            if (h_now_ms() < c->next_ms)
                return;
            n = n < DRIP_BYTES ? n : DRIP_BYTES;
            c->next_ms = h_now_ms() + DRIP_MS;
        }
        ssize_t k = send(c->fd, c->out + c->outoff, n, MSG_NOSIGNAL);
        if (k > 0)
            c->outoff += (size_t)k;
        else if (k < 0 && errno != EAGAIN && errno != EINTR)
            peer_count_eof(p, c), peer_drop(c);
        if (c->fd >= 0 && c->outoff == c->outlen)
            shutdown(c->fd, SHUT_WR);
        return;
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        char sink[4096];
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            peer_count_eof(p, c), peer_drop(c);
    }
}

/*
 * Reset: waits for the client's first bytes, reads them, then closes with
 * SO_LINGER 0 so the kernel sends RST. Resetting only after data came in
 * means the client's connect has surely completed; a reset right after
 * accept can reach a non-blocking connect before it is seen as done.
 */
static void peer_reset_io(struct peer *p, struct pconn *c)
{
    char sink[4096];
    struct linger lg = {1, 0};
    (void)!recv(c->fd, sink, sizeof sink, 0);
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    peer_count_eof(p, c);
    peer_drop(c);
}

static short peer_events(const struct peer *p, const struct pconn *c)
{
    switch (p->mode) {
    case PEER_ECHO:
        return c->outoff < c->outlen ? POLLOUT : POLLIN;
    case PEER_PAYLOAD:
        return c->outoff < c->outlen ? POLLOUT : POLLIN;
    case PEER_DRIP:
        return c->outoff < c->outlen ? 0 : POLLIN;
    case PEER_RESET:
        return POLLIN;
    default:
        return 0; /* the black hole never reads; poll still reports a hangup */
    }
}

/* Milliseconds until the next drip is due; -1 when nothing is timed. */
static int peer_timeout(const struct peer *p)
{
    long long next = -1, now = h_now_ms();
    for (size_t i = 0; p->mode == PEER_DRIP && i < p->nconns; i++)
        if (p->conns[i].outoff < p->conns[i].outlen && (next < 0 || p->conns[i].next_ms < next))
            next = p->conns[i].next_ms;
    return next < 0 ? -1 : next <= now ? 0 : (int)(next - now);
}

static void peer_serve(struct peer *p, const struct pollfd *pf, size_t n)
{
    for (size_t i = 0; i < n && i < p->nconns; i++) {
        struct pconn *c = &p->conns[i];
        short rev = pf[i].revents;
        if (p->mode == PEER_ECHO && (rev || c->outoff < c->outlen))
            peer_echo_io(p, c, rev);
        else if (p->mode == PEER_PAYLOAD || p->mode == PEER_DRIP)
            peer_send_io(p, c, rev);
        else if (p->mode == PEER_RESET && rev)
            peer_reset_io(p, c);
        else if (p->mode == PEER_BLACKHOLE && (rev & (POLLHUP | POLLERR)))
            peer_count_eof(p, c), peer_drop(c);
    }
    size_t k = 0; /* forget dropped connections */
    for (size_t i = 0; i < p->nconns; i++) {
        if (p->conns[i].fd >= 0)
            p->conns[k++] = p->conns[i];
        else
            free(p->conns[i].buf);
    }
    p->nconns = k;
}

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    for (;;) {
        size_t n = p->nconns;
        struct pollfd *pf = calloc(n + 2, sizeof *pf);
        if (!pf)
            break;
        pf[0] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        pf[1] = (struct pollfd){.fd = p->mode == PEER_FULL ? -1 : p->lfd, .events = POLLIN};
        for (size_t i = 0; i < n; i++)
            pf[i + 2] =
                (struct pollfd){.fd = p->conns[i].fd, .events = peer_events(p, &p->conns[i])};
        int rc = poll(pf, n + 2, peer_timeout(p));
        if (rc < 0 && errno != EINTR) {
            free(pf);
            break;
        }
        int stop = pf[0].revents != 0;
        if (!stop) {
            peer_serve(p, pf + 2, n);
            if (pf[1].revents & POLLIN)
                peer_accept(p);
        }
        free(pf);
        if (stop)
            break;
    }
    return NULL;
}

static struct peer *peer_new(enum peer_mode mode, const void *payload, size_t n)
{
    struct peer *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->mode = mode;
    p->lfd = -1;
    if (n) {
        p->payload = malloc(n);
        assert_non_null(p->payload);
        memcpy(p->payload, payload, n);
        p->payload_len = n;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pipe2(p->wake, O_CLOEXEC) < 0)
        fail_msg("pipe: %s", strerror(errno));
    return p;
}

static void peer_run(struct peer *p)
{
    int rc = pthread_create(&p->thread, NULL, peer_main, p);
    if (rc != 0)
        fail_msg("pthread_create: %s", strerror(rc));
    reg_add((void **)reg.peers, &reg.npeers, 64, p);
}

/* Connects to our own full-backlog listener until a connect hangs. */
static void peer_fill(struct peer *p, const struct sockaddr *sa, socklen_t sl)
{
    while (p->nfillers < 16) {
        int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return;
        int rc = connect(fd, sa, sl);
        struct pollfd pf = {fd, POLLOUT, 0};
        if (rc < 0 && errno == EINPROGRESS && poll(&pf, 1, 300) == 0) {
            close(fd); /* this one hangs: the backlog is full */
            p->full = 1;
            return;
        }
        p->fillers[p->nfillers++] = fd;
    }
}

struct peer *h_peer_tcp(enum peer_mode mode, int family, const void *payload, size_t n)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl = 0;
    if (family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        sl = sizeof *in6;
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *in;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (family == AF_INET6)
            return NULL;
        fail_msg("cannot bind a loopback TCP socket: %s", strerror(e));
    }
    if (mode == PEER_BLACKHOLE) {
        /* Set on the listener so the accepted socket advertises a small window from the start. */
        int small = 4096;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    if (listen(fd, mode == PEER_FULL ? 0 : 512) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        fail_msg("listen: %s", strerror(errno));
    struct peer *p = peer_new(mode, payload, n);
    p->lfd = fd;
    strcpy(p->host, family == AF_INET6 ? "::1" : "127.0.0.1");
    p->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    if (mode == PEER_FULL)
        peer_fill(p, (struct sockaddr *)&ss, sl);
    peer_run(p);
    return p;
}

struct peer *h_peer_unix(enum peer_mode mode, int abstract)
{
    struct peer *p = peer_new(mode, NULL, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    unsigned k = name_counter++;
    socklen_t sl = 0;
    if (abstract) {
        snprintf(p->path, sizeof p->path, "@netd-peer-%d-%u", (int)getpid(), k);
        memcpy(sa.sun_path + 1, p->path + 1, strlen(p->path + 1));
        sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(p->path));
    } else {
        snprintf(p->path, sizeof p->path, "/tmp/netd-peer-%d-%u.sock", (int)getpid(), k);
        unlink(p->path);
        strcpy(sa.sun_path, p->path);
        sl = sizeof sa;
        p->is_file = 1;
    }
    p->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sl) < 0 || listen(p->lfd, 512) < 0)
        fail_msg("unix listener %s: %s", p->path, strerror(errno));
    peer_run(p);
    return p;
}

const char *h_peer_host(const struct peer *p)
{
    return p->host;
}

int h_peer_port(const struct peer *p)
{
    return p->port;
}

const char *h_peer_path(const struct peer *p)
{
    return p->path;
}

int h_peer_is_full(struct peer *p)
{
    return p->full;
}

int h_peer_accepted(struct peer *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->accepted;
    pthread_mutex_unlock(&p->mu);
    return n;
}

int h_peer_wait_eofs(struct peer *p, int n, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    while (p->eofs < n && rc == 0)
        rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
    int ok = p->eofs >= n;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

void h_peer_last_remote(struct peer *p, char *host, size_t hostlen, int *port)
{
    pthread_mutex_lock(&p->mu);
    snprintf(host, hostlen, "%s", p->last_host);
    *port = p->last_port;
    pthread_mutex_unlock(&p->mu);
}

void h_peer_stop(struct peer *p)
{
    reg_remove((void **)reg.peers, &reg.npeers, p);
    (void)!write(p->wake[1], "x", 1);
    pthread_join(p->thread, NULL);
    for (size_t i = 0; i < p->nconns; i++) {
        close(p->conns[i].fd);
        free(p->conns[i].buf);
    }
    for (int i = 0; i < p->nfillers; i++)
        close(p->fillers[i]);
    free(p->conns);
    close(p->lfd);
    close(p->wake[0]);
    close(p->wake[1]);
    if (p->is_file)
        unlink(p->path);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->payload);
    free(p);
}

/* ------------------------------------------------------------------ */
/* Ports and plain sockets                                             */

/* A TCP socket bound to 127.0.0.1 port 0; returns its descriptor and port. */
static int bound_loopback(int *port)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof in;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&in, sl) < 0 ||
        getsockname(fd, (struct sockaddr *)&in, &sl) < 0)
        fail_msg("cannot bind a loopback port: %s", strerror(errno));
    *port = ntohs(in.sin_port);
    return fd;
}

int h_refused_port(void)
{
    int port, fd = bound_loopback(&port);
    if (reg.nfds == REG_MAX)
        fail_msg("too many plain sockets");
    reg.fds[reg.nfds++] = fd; /* bound but never listening: SYNs get a reset */
    return port;
}

int h_free_port(void)
{
    int port, fd = bound_loopback(&port);
    close(fd);
    return port;
}

int h_plain_connect(const char *host, int port)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl = 0;
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        sl = sizeof *in;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        sl = sizeof *in6;
    } else {
        fail_msg("not a numeric address: %s", host);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0)
        fail_msg("connect to %s port %d: %s", host, port, strerror(errno));
    if (reg.nfds == REG_MAX)
        fail_msg("too many plain sockets");
    reg.fds[reg.nfds++] = fd;
    return fd;
}

void h_plain_write(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            fail_msg("send: %s", strerror(errno));
        p += k;
        n -= (size_t)k;
    }
}

void h_plain_read_expect(int fd, const void *expect, size_t n, int timeout_ms)
{
    unsigned char *buf = malloc(n ? n : 1);
    assert_non_null(buf);
    size_t got = 0;
    long long deadline = h_now_ms() + timeout_ms;
    while (got < n) {
        struct pollfd pf = {fd, POLLIN, 0};
        long long left = deadline - h_now_ms();
        if (left <= 0 || poll(&pf, 1, (int)left) == 0)
            fail_msg("only %zu of %zu bytes arrived within %d ms", got, n, timeout_ms);
        ssize_t k = recv(fd, buf + got, n - got, 0);
        if (k == 0)
            fail_msg("end of stream after %zu of %zu bytes", got, n);
        if (k < 0 && errno != EINTR)
            fail_msg("recv: %s", strerror(errno));
        if (k > 0)
            got += (size_t)k;
    }
    if (memcmp(buf, expect, n) != 0)
        fail_msg("the %zu bytes received differ from those expected", n);
    free(buf);
}

void h_plain_close(int fd)
{
    for (int i = 0; i < reg.nfds; i++) {
        if (reg.fds[i] == fd) {
            reg.fds[i] = reg.fds[--reg.nfds];
            break;
        }
    }
    close(fd);
}
