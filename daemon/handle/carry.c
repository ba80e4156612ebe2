/*
 * carry.c - the common part of a kept handle carried over a restart: what
 * every handle has (name, owner, kind, host name, default timeouts) goes
 * into a JSON record beside the kind's own members (ops->save), and comes
 * back out of it on the new netd under the same name (ops->restore).
 *
 * A handle keeps its name because its seq is made again exactly: the
 * worker's counter is moved up to it before the handle is created, and the
 * records of one worker are restored in the order of their seqs. Where the
 * records go between the two processes (systemd's descriptor store) is the
 * service layer's business.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handle.h"
#include "handlename.h"

bool handle_carry_probe(struct handle *h)
{
    return h->ops->save && h->state == HS_SUCCESS && h->ops->save(h, NULL, NULL) == 0;
}

int handle_carry_save(struct handle *h, json_t **rec, int *fd)
{
    *rec = NULL;
    *fd = -1;
    if (!h->ops->save || h->state != HS_SUCCESS)
        return -ENOTSUP;
    json_t *r = json_pack("{s:s,s:s,s:I,s:i,s:f,s:f,s:b,s:b}", "handle", h->name, "kind",
                          handle_kind_name(h->ops->kind), "uid", (json_int_t)h->uid, "type",
                          h->type, "rcvtimeo", h->rcvtimeo, "sndtimeo", h->sndtimeo, "looped",
                          h->looped, "closed_told", h->closed_told);
    if (!r)
        return -ENOMEM;
    if (h->hostname)
        json_object_set_new(r, "hostname", json_string(h->hostname));
    int rc = h->ops->save(h, r, fd);
    if (rc < 0) {
        json_decref(r);
        return rc;
    }
    *rec = r;
    return 0;
}

static bool field_type_ok(const json_t *rec)
{
    json_t *t = json_object_get(rec, "type");
    return json_is_integer(t) &&
           (json_integer_value(t) == SOCK_STREAM || json_integer_value(t) == SOCK_DGRAM);
}

struct handle *handle_carry_restore(struct worker *w, const json_t *rec, int fd,
                                    const struct handle_ops *ops, char *why, size_t whylen)
{
    const char *name = json_string_value(json_object_get(rec, "handle"));
    json_t *uidv = json_object_get(rec, "uid");
    int wi = -1;
    uint64_t seq = 0;
    struct handle *h = NULL;
    if (!name || netd_handle_parse(name, strlen(name), &wi, &seq) < 0 || wi != w->index ||
        !json_is_integer(uidv) || json_integer_value(uidv) < 0 || !field_type_ok(rec) ||
        !ops->restore) {
        snprintf(why, whylen, "its record is not one netd writes");
        goto fail;
    }
    if (seq < handles_next_seq(w)) {
        snprintf(why, whylen, "its seq is taken already");
        goto fail;
    }
    handles_seq_from(w, seq);
    uid_t uid = (uid_t)json_integer_value(uidv);
    /* The record holds the owner's uid only: netd acts for a restored handle
     * with that uid and no group privilege at all (nogroup, no supplementary
     * groups), never with more than the owner had. */
    struct ident *owner = ident_new(uid, (gid_t)65534, 0, NULL, 0);
    h = owner ? handle_create(w, 0, w->index, owner, true, ops) : NULL;
    ident_unref(owner);
    if (!h) {
        snprintf(why, whylen, "uid %u is at --max-handles", (unsigned)uid);
        goto fail;
    }
    h->type = (int)json_integer_value(json_object_get(rec, "type"));
    const char *host = json_string_value(json_object_get(rec, "hostname"));
    h->hostname = host ? strdup(host) : NULL;
    h->rcvtimeo = json_number_value(json_object_get(rec, "rcvtimeo"));
    h->sndtimeo = json_number_value(json_object_get(rec, "sndtimeo"));
    h->looped = json_is_true(json_object_get(rec, "looped"));
    h->closed_told = json_is_true(json_object_get(rec, "closed_told"));
    if (ops->restore(h, rec, fd) < 0) {
        snprintf(why, whylen, "its %s record is not one netd writes", handle_kind_name(ops->kind));
        handle_close(h, "restore failed");
        goto fail;
    }
    return h;
fail:
    if (fd >= 0)
        close(fd);
    return NULL;
}
