/*
 * buf.c - a byte buffer consumed from the front and appended at the back.
 * Consumed space is reclaimed by moving the live bytes down only when that
 * avoids growing, so a buffer that is drained as fast as it is filled never
 * reallocates.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* The allocation @b needs for @extra more bytes: b->cap when it has room
 * (moving the live bytes down if need be), 0 when too large. */
static size_t grown_cap(const struct buf *b, size_t extra)
{
    size_t used = buf_used(b);
    if (b->cap - b->len >= extra || b->cap - used >= extra)
        return b->cap;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - used < extra) {
        if (cap > SIZE_MAX / 2)
            return 0;
        cap *= 2;
    }
    return cap;
}

int buf_reserve(struct buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    size_t used = buf_used(b);
    if (b->off > 0 && b->cap - used >= extra) {
        memmove(b->data, b->data + b->off, used);
        b->off = 0;
        b->len = used;
        return 0;
    }
    size_t cap = grown_cap(b, extra);
    if (cap == 0)
        return -ENOMEM;
    uint8_t *p = malloc(cap);
    if (!p)
        return -ENOMEM;
    if (used)
        memcpy(p, b->data + b->off, used);
    free(b->data);
    b->data = p;
    b->cap = cap;
    b->off = 0;
    b->len = used;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void buf_consume(struct buf *b, size_t n)
{
    b->off += n;
    if (b->off == b->len)
        b->off = b->len = 0;
}

void buf_free(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

int buf_reserve_for(struct buf *b, size_t extra, uid_t uid, int level)
{
    size_t cap = grown_cap(b, extra);
    if (cap == 0)
        return -ENOMEM;
    if (cap > b->cap && !mem_charge(uid, cap - b->cap, (enum mem_level)level))
        return -ENOBUFS;
    size_t old = b->cap;
    int rc = buf_reserve(b, extra);
    if (rc < 0)
        mem_release(uid, cap - old);
    return rc;
}

void buf_free_for(struct buf *b, uid_t uid)
{
    mem_release(uid, b->cap);
    buf_free(b);
}
