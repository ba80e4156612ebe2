/*
 * carry.c - what the kinds share to carry their state over a restart:
 * bytes and address lists as JSON members of a handle's record, the socket
 * file a handle owns, and the table from a record's kind name to the
 * kind's operations.
 *
 * Addresses are kept as their raw socket address bytes (base64), so an
 * abstract unix name, a scope id or a flow label comes back exactly.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kind.h"

json_t *carry_bytes(const uint8_t *p, size_t n)
{
    char *s = malloc(netd_base64_len(n) + 1);
    if (!s)
        return NULL;
    netd_base64_encode(p, n, s);
    s[netd_base64_len(n)] = 0;
    json_t *v = json_stringn(s, netd_base64_len(n));
    free(s);
    return v;
}

int carry_bytes_get(const json_t *rec, const char *key, uint8_t **out, size_t *n)
{
    json_t *v = json_object_get(rec, key);
    *out = NULL;
    *n = 0;
    if (!v)
        return 0;
    if (!json_is_string(v) ||
        netd_data_decode(json_string_value(v), json_string_length(v), NETD_ENC_BASE64, out, n) < 0)
        return -EINVAL;
    return 0;
}

json_t *carry_addrlist(const struct addrlist *al)
{
    json_t *list = json_array();
    for (size_t i = 0; i < al->count; i++)
        json_array_append_new(list,
                              json_pack("{s:o,s:i}", "sa",
                                        carry_bytes((const uint8_t *)&al->addrs[i], al->lens[i]),
                                        "socktype", al->socktypes[i]));
    json_t *o = json_pack("{s:o}", "addrs", list);
    if (al->canonname)
        json_object_set_new(o, "canonname", json_string(al->canonname));
    return o;
}

int carry_addrlist_get(const json_t *v, struct addrlist *al)
{
    json_t *list = json_object_get(v, "addrs");
    memset(al, 0, sizeof *al);
    if (!json_is_array(list))
        return -EINVAL;
    size_t n = json_array_size(list);
    if (n == 0)
        return 0;
    al->addrs = calloc(n, sizeof *al->addrs);
    al->lens = calloc(n, sizeof *al->lens);
    al->socktypes = calloc(n, sizeof *al->socktypes);
    if (!al->addrs || !al->lens || !al->socktypes) {
        addrlist_free(al);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i);
        uint8_t *sa;
        size_t len;
        json_t *st = json_object_get(e, "socktype");
        if (carry_bytes_get(e, "sa", &sa, &len) < 0 || !sa || len < sizeof(sa_family_t) ||
            len > sizeof al->addrs[i] || !json_is_integer(st)) {
            free(sa);
            addrlist_free(al);
            return -EINVAL;
        }
        memcpy(&al->addrs[i], sa, len);
        free(sa);
        al->lens[i] = (socklen_t)len;
        al->socktypes[i] = (int)json_integer_value(st);
        al->count = i + 1;
    }
    const char *cn = json_string_value(json_object_get(v, "canonname"));
    al->canonname = cn ? strdup(cn) : NULL;
    return 0;
}

void carry_spec_save(struct sockspec *spec, json_t *rec)
{
    /* The socket file stays for the handle that lives on in the new netd:
     * this one must not remove it on its way out. The new netd does not
     * remove it at close either (it cannot prove it is still the file the
     * bind made: the directory descriptor does not travel); said in README. */
    if (spec->has_file) {
        json_object_set_new(rec, "socket_file", json_string(spec->unix_name));
        unix_unbind(NULL, spec, false);
    }
}

void carry_spec_restore(struct sockspec *spec, const json_t *rec)
{
    (void)spec;
    (void)rec;
}

const struct handle_ops *kind_ops_named(const char *name)
{
    static const struct handle_ops *const all[] = {&address_ops, &stream_ops, &listener_ops,
                                                   &dgram_ops};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(handle_kind_name(all[i]->kind), name) == 0)
            return all[i];
    return NULL;
}
