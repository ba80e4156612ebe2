/*
 * m_stream.c - methods on connected sockets: read, chunk, write, pending,
 * flush, shutdown, localname, peername, disconnect. Reading and writing
 * belong to the kind (a stream moves bytes, a datagram socket whole
 * datagrams): the handle's operations table serves them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "method.h"

#define CONNECTED ((1u << HK_STREAM) | (1u << HK_DATAGRAM))

void m_read(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", CONNECTED);
    if (h)
        h->ops->read(h, r);
}

void m_write(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", CONNECTED);
    if (!h || relay_refuse(sock_of(h), r, "write"))
        return;
    uint8_t *data;
    size_t len;
    if (req_data(r, &data, &len) < 0)
        return;
    struct sock *s = sock_of(h);
    if (h->state != HS_SUCCESS || s->werr || s->shut_wr || s->shut_wr_pending) {
        free(data);
        if (h->state == HS_FAILURE)
            handle_fail_req(r, h);
        else
            sock_fail_io(s, r,
                         h->state == HS_WAITING ? ENOTCONN
                         : s->werr              ? s->werr
                                                : EPIPE,
                         "write");
        return;
    }
    h->ops->write(h, r, data, len);
}

void m_pending(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_STREAM);
    if (h)
        req_ok(r, json_pack("{s:I}", "bytes", (json_int_t)stream_pending(sock_of(h))));
}

void m_flush(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_STREAM);
    if (!h)
        return;
    stream_flush(sock_of(h));
    req_ok(r, json_object());
}

void m_shutdown(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_STREAM);
    if (!h || relay_refuse(sock_of(h), r, "shutdown"))
        return;
    const char *mode = param_str(r, "mode");
    bool rd = !mode || strchr(mode, 'r'), wr = !mode || strchr(mode, 'w');
    int rc = stream_shutdown(sock_of(h), rd, wr);
    if (rc < 0)
        req_fail_errno(r, -rc, "shutdown");
    else
        req_ok(r, json_object());
}

static void name_of(struct worker *w, struct req *r, bool peer)
{
    unsigned kinds = CONNECTED | (peer ? 0 : 1u << HK_LISTENER);
    struct handle *h = handle_get_kind(w, r, "handle", kinds);
    if (!h)
        return;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int rc = h->fd < 0 ? (errno = ENOTCONN, -1)
             : peer    ? getpeername(h->fd, (struct sockaddr *)&ss, &len)
                       : getsockname(h->fd, (struct sockaddr *)&ss, &len);
    if (rc < 0) {
        req_fail_errno(r, errno, peer ? "peername" : "localname");
        return;
    }
    req_ok(r, sockaddr_json((struct sockaddr *)&ss, len));
}

void m_localname(struct worker *w, struct req *r)
{
    name_of(w, r, false);
}

void m_peername(struct worker *w, struct req *r)
{
    name_of(w, r, true);
}

void m_disconnect(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", CONNECTED);
    if (h)
        sock_disconnect(sock_of(h), r);
}
