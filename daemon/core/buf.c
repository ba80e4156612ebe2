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
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - used < extra) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
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
