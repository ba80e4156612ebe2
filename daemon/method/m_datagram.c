/*
 * m_datagram.c - `recv-from` and `send-to`.
 *
 * send-to whose `dest` is an address handle on another worker first visits
 * that worker, which copies the address into the request, and then the
 * worker of the datagram handle (rpc/ routes the first hop).
 */
#include "method.h"

void m_recv_from(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_DATAGRAM);
    if (h)
        dgram_recv(sock_of(h), r);
}

void m_send_to(struct worker *w, struct req *r)
{
    if (r->u.send.hop) {
        /* On the worker of the dest handle: take its address along. */
        if (dgram_dest(w, r, &r->u.send.dest, &r->u.send.dest_len) < 0)
            return;
        int next = r->u.send.hop - 1;
        r->u.send.hop = 0;
        req_forward(r, next);
        return;
    }
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_DATAGRAM);
    if (!h)
        return;
    struct sockaddr_storage ss;
    socklen_t len;
    if (r->u.send.dest_len) {
        ss = r->u.send.dest;
        len = r->u.send.dest_len;
    } else if (dgram_dest(w, r, &ss, &len) < 0) {
        return;
    }
    uint8_t *data;
    size_t n;
    if (req_data(r, &data, &n) < 0)
        return;
    dgram_send_to(sock_of(h), r, data, n, &ss, len);
}
