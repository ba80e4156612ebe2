/*
 * params.c - reading a request's parameters. proto/ has checked their
 * names and types against the method table before the request was made,
 * so these only pick values out.
 */
#include <stdlib.h>

#include "req.h"

json_t *param(const struct req *r, const char *name)
{
    json_t *v = json_object_get(r->params, name);
    return json_is_null(v) ? NULL : v;
}

const char *param_str(const struct req *r, const char *name)
{
    return json_string_value(param(r, name));
}

bool param_bool(const struct req *r, const char *name, bool dflt)
{
    json_t *v = param(r, name);
    return v ? json_is_true(v) : dflt;
}

double req_timeout(const struct req *r)
{
    json_t *v = param(r, "timeout");
    return v ? json_number_value(v) : -1.0;
}

enum netd_encoding param_encoding(const struct req *r)
{
    const char *name = param_str(r, "encoding");
    enum netd_encoding enc = NETD_ENC_BASE64;
    netd_encoding_parse(name ? name : "base64", &enc);
    return enc;
}

void req_take_data(struct req *r, const char *s, size_t n)
{
    r->has_data = true;
    r->data_bad = netd_data_decode(s, n, param_encoding(r), &r->data, &r->data_len) < 0;
}

int req_data(struct req *r, uint8_t **data, size_t *len)
{
    enum netd_encoding enc = param_encoding(r);
    if (r->has_data && !r->data_bad) {
        *data = r->data;
        *len = r->data_len;
        r->data = NULL;
        r->has_data = false;
        json_object_del(r->params, "data"); /* "" here; dropped as below */
        return 0;
    }
    json_t *d = param(r, "data");
    if (r->data_bad ||
        netd_data_decode(json_string_value(d), json_string_length(d), enc, data, len) < 0) {
        req_fail(r, NETD_E_PARAMS, NULL, "parameter 'data' is not valid %s",
                 netd_encoding_name(enc));
        return -1;
    }
    json_object_del(r->params, "data"); /* a waiting write holds its bytes once, not twice */
    return 0;
}
