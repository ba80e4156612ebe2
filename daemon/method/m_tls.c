/*
 * m_tls.c - `starttls` and `tls-config`; TLS itself is in tls/.
 */
#include "method.h"

void m_starttls(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_STREAM);
    if (h)
        tls_starttls(sock_of(h), r);
}

void m_tls_config(struct worker *w, struct req *r)
{
    tls_config(r);
}
