/*
 * method.h - the method handlers, one m_* per method of proto/'s table
 * (`chunk` shares read's). A handler finds the handles its parameters name,
 * checks what only it knows, and asks the kind (kind/) or TLS (tls/) to
 * act; it keeps no state of its own. rpc/ routes each request to the
 * worker that owns its handle and calls the handler there.
 *
 * Where a method is served: m_admin.c (ping, rpc.discover, stats, handles,
 * status, wait, keep, close, cancel), m_address.c (address,
 * address-unpack), m_connect.c (connect), m_listen.c (listen, server,
 * accept, accept-loop), m_stream.c (read, chunk, write, pending, flush,
 * shutdown, localname, peername, disconnect), m_datagram.c (recv-from,
 * send-to), m_sockopt.c (setsockopt, getsockopt), m_fd.c (pair, release,
 * assign, local-addresses), m_tls.c (starttls, tls-config), m_relay.c
 * (attach, splice).
 */
#ifndef NETD_METHOD_H
#define NETD_METHOD_H

#include "kind.h"
#include "tls.h"

/** Reads the built-in OpenRPC document once (rpc.discover); 0 or -1. */
int method_init(void);
void method_fini(void);

typedef void (*method_fn)(struct worker *w, struct req *r);

void m_ping(struct worker *w, struct req *r);
void m_discover(struct worker *w, struct req *r);
void m_stats(struct worker *w, struct req *r);
void m_handles(struct worker *w, struct req *r);
void m_status(struct worker *w, struct req *r);
void m_wait(struct worker *w, struct req *r);
void m_keep(struct worker *w, struct req *r);
void m_close(struct worker *w, struct req *r);
void m_cancel(struct worker *w, struct req *r);
void m_address(struct worker *w, struct req *r);
void m_address_unpack(struct worker *w, struct req *r);
void m_connect(struct worker *w, struct req *r);
void m_listen(struct worker *w, struct req *r);
void m_server(struct worker *w, struct req *r);
void m_accept(struct worker *w, struct req *r);
void m_accept_loop(struct worker *w, struct req *r);
void m_read(struct worker *w, struct req *r);
void m_write(struct worker *w, struct req *r);
void m_pending(struct worker *w, struct req *r);
void m_flush(struct worker *w, struct req *r);
void m_shutdown(struct worker *w, struct req *r);
void m_localname(struct worker *w, struct req *r);
void m_peername(struct worker *w, struct req *r);
void m_disconnect(struct worker *w, struct req *r);
void m_recv_from(struct worker *w, struct req *r);
void m_send_to(struct worker *w, struct req *r);
void m_setsockopt(struct worker *w, struct req *r);
void m_getsockopt(struct worker *w, struct req *r);
void m_pair(struct worker *w, struct req *r);
void m_release(struct worker *w, struct req *r);
void m_assign(struct worker *w, struct req *r);
void m_local_addresses(struct worker *w, struct req *r);
void m_starttls(struct worker *w, struct req *r);
void m_tls_config(struct worker *w, struct req *r);
void m_attach(struct worker *w, struct req *r);
void m_splice(struct worker *w, struct req *r);

#endif
