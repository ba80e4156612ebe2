/*
 * tls.c - TLS streams. Until the wolfSSL transport lands, every TLS request
 * fails plainly with the `tls` error instead of quietly going plaintext.
 */
#include "netd.h"

void m_starttls(struct worker *w, struct req *r)
{
    req_fail(r, NETD_E_TLS, NULL, "TLS is not available in this build of netd yet");
}

void m_tls_config(struct worker *w, struct req *r)
{
    req_fail(r, NETD_E_TLS, NULL, "TLS is not available in this build of netd yet");
}
