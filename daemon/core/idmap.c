/*
 * idmap.c - open-addressing hash map from a non-zero uint64 id to a pointer.
 * Each map belongs to one worker thread, so it needs no locking. Ids are
 * never reused, which makes tombstones (deleted slots) safe to skip.
 */
#include <stdlib.h>

#include "core.h"

#define TOMB ((void *)&tomb_marker)
static const char tomb_marker;

static size_t slot_of(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

static int grow(struct idmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    if (m->count * 4 < m->cap)
        cap = m->cap; /* mostly tombstones: rehash in place size */
    uint64_t *keys = calloc(cap, sizeof *keys);
    void **vals = calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i] || m->vals[i] == TOMB)
            continue;
        size_t s = slot_of(m->keys[i], cap);
        while (keys[s])
            s = (s + 1) & (cap - 1);
        keys[s] = m->keys[i];
        vals[s] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    m->tombs = 0;
    return 0;
}

int idmap_put(struct idmap *m, uint64_t key, void *val)
{
    if ((m->count + m->tombs + 1) * 4 >= m->cap * 3 && grow(m) < 0)
        return -1;
    size_t s = slot_of(key, m->cap);
    while (m->keys[s])
        s = (s + 1) & (m->cap - 1);
    m->keys[s] = key;
    m->vals[s] = val;
    m->count++;
    return 0;
}

static size_t find(const struct idmap *m, uint64_t key)
{
    if (!m->cap)
        return SIZE_MAX;
    size_t s = slot_of(key, m->cap);
    while (m->keys[s]) {
        if (m->keys[s] == key && m->vals[s] != TOMB)
            return s;
        s = (s + 1) & (m->cap - 1);
    }
    return SIZE_MAX;
}

void *idmap_get(const struct idmap *m, uint64_t key)
{
    size_t s = find(m, key);
    return s == SIZE_MAX ? NULL : m->vals[s];
}

void *idmap_del(struct idmap *m, uint64_t key)
{
    size_t s = find(m, key);
    if (s == SIZE_MAX)
        return NULL;
    void *v = m->vals[s];
    m->vals[s] = TOMB;
    m->count--;
    m->tombs++;
    return v;
}

void *idmap_next(const struct idmap *m, size_t *pos)
{
    for (; *pos < m->cap; (*pos)++) {
        size_t i = *pos;
        if (m->keys[i] && m->vals[i] != TOMB) {
            (*pos)++;
            return m->vals[i];
        }
    }
    return NULL;
}

void idmap_free(struct idmap *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->count = m->tombs = 0;
}
