/*
 * m_sockopt.c - `setsockopt` and `getsockopt`; the option table is in
 * kind/sockopt.c.
 */
#include "method.h"

void m_setsockopt(struct worker *w, struct req *r)
{
    sockopt_set(w, r);
}

void m_getsockopt(struct worker *w, struct req *r)
{
    sockopt_get(w, r);
}
