/*
 * m_relay.c - the data plane's methods: `attach` (a stream relayed to the
 * caller without JSON) and `splice` (two streams relayed into each other).
 * The relays themselves are the kind layer's (kind/relay.c, kind/attach.c).
 */
#include <string.h>

#include "method.h"

void m_attach(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_STREAM);
    if (!h)
        return;
    const char *mode = param_str(r, "mode");
    stream_attach(sock_of(h), r, !mode || strcmp(mode, "upgrade") == 0);
}

void m_splice(struct worker *w, struct req *r)
{
    stream_splice(w, r);
}
