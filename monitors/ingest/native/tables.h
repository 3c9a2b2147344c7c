/* Growable buffers and open-addressing hash tables of fixed-size keys or strings. */
#ifndef EHM_TABLES_H
#define EHM_TABLES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *d = (char *)realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const void *p, size_t n) {
    if (!n) return 0;
    if (buf_reserve(b, n)) return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static void buf_free(Buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static inline int same_bytes(const char *a, const char *b, size_t n) {
    /* whole words, the last one overlapping the one before it when n is not a multiple of its
     * size (memcmp of a constant size compiles to loads) */
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8)
            if (memcmp(a + i, b + i, 8)) return 0;
        return memcmp(a + n - 8, b + n - 8, 8) == 0;
    }
    if (n >= 4) return memcmp(a, b, 4) == 0 && memcmp(a + n - 4, b + n - 4, 4) == 0;
    if (n >= 2) return memcmp(a, b, 2) == 0 && memcmp(a + n - 2, b + n - 2, 2) == 0;
    return n == 0 || *a == *b;
}

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t bytes_hash(const void *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xc6a4a7935bd1e995ULL);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xd6e8feb86659fd93ULL;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, s, n);
    h = (h ^ v) * 0xd6e8feb86659fd93ULL;
    return mix64(h);
}

/* A table of fixed-size records (key of ``ksize`` bytes first, then the value), by key. */
typedef struct {
    size_t ksize, rsize;
    Buf recs;            /* records, in insertion order */
    int32_t *slots;      /* -1 empty, else record index */
    size_t nslots, n;
} Table;

static int table_init(Table *t, size_t ksize, size_t rsize) {
    memset(t, 0, sizeof *t);
    t->ksize = ksize;
    t->rsize = rsize;
    t->nslots = 1024;
    t->slots = (int32_t *)malloc(t->nslots * sizeof(int32_t));
    if (!t->slots) return -1;
    memset(t->slots, 0xff, t->nslots * sizeof(int32_t));
    return 0;
}

static void table_free(Table *t) {
    buf_free(&t->recs);
    free(t->slots);
    t->slots = NULL;
}

static inline void *table_rec(Table *t, size_t i) { return t->recs.data + i * t->rsize; }

static int table_grow(Table *t) {
    size_t ns = t->nslots * 2;
    int32_t *s = (int32_t *)malloc(ns * sizeof(int32_t));
    if (!s) return -1;
    memset(s, 0xff, ns * sizeof(int32_t));
    for (size_t i = 0; i < t->n; i++) {
        size_t j = bytes_hash(table_rec(t, i), t->ksize) & (ns - 1);
        while (s[j] >= 0) j = (j + 1) & (ns - 1);
        s[j] = (int32_t)i;
    }
    free(t->slots);
    t->slots = s;
    t->nslots = ns;
    return 0;
}

/* The record of ``key`` (created zero-filled past the key when new, *created = 1); NULL: no memory. */
static void *table_get(Table *t, const void *key, int *created) {
    if ((t->n + 1) * 2 > t->nslots && table_grow(t)) return NULL;
    size_t mask = t->nslots - 1, j = bytes_hash(key, t->ksize) & mask;
    for (;;) {
        int32_t i = t->slots[j];
        if (i < 0) break;
        void *r = table_rec(t, (size_t)i);
        if (same_bytes((const char *)r, (const char *)key, t->ksize)) {
            if (created) *created = 0;
            return r;
        }
        j = (j + 1) & mask;
    }
    if (buf_reserve(&t->recs, t->rsize)) return NULL;
    void *r = t->recs.data + t->recs.len;
    memset(r, 0, t->rsize);
    memcpy(r, key, t->ksize);
    t->recs.len += t->rsize;
    t->slots[j] = (int32_t)t->n++;
    if (created) *created = 1;
    return r;
}

/* Interned strings: id by bytes. A slot holds the hash tag, the id and where the bytes are, so a
 * probe touches one slot and, when tag and length agree, the bytes. */
typedef struct {
    uint32_t tag, idp1; /* idp1 = id + 1; 0: empty */
    uint64_t where;     /* offset << 24 | length (lengths < 16 MB) */
} Slot;

typedef struct {
    Buf bytes;
    Buf offs; /* uint64 offset per id, plus one past the end */
    Slot *slots;
    size_t nslots, n;
} Strtab;

static int strtab_init(Strtab *t) {
    memset(t, 0, sizeof *t);
    t->nslots = 1024;
    t->slots = (Slot *)calloc(t->nslots, sizeof(Slot));
    if (!t->slots) return -1;
    uint64_t zero = 0;
    return buf_put(&t->offs, &zero, 8);
}

static void strtab_free(Strtab *t) {
    buf_free(&t->bytes);
    buf_free(&t->offs);
    free(t->slots);
    t->slots = NULL;
}

static inline const char *strtab_str(const Strtab *t, size_t i, size_t *n) {
    const uint64_t *o = (const uint64_t *)t->offs.data;
    *n = (size_t)(o[i + 1] - o[i]);
    return t->bytes.data + o[i];
}

static int strtab_grow(Strtab *t) {
    size_t ns = t->nslots * 2;
    Slot *s = (Slot *)calloc(ns, sizeof(Slot));
    if (!s) return -1;
    for (size_t k = 0; k < t->nslots; k++) {
        Slot v = t->slots[k];
        if (!v.idp1) continue;
        const char *p = t->bytes.data + (v.where >> 24);
        size_t j = bytes_hash(p, (size_t)(v.where & 0xffffff)) & (ns - 1);
        while (s[j].idp1) j = (j + 1) & (ns - 1);
        s[j] = v;
    }
    free(t->slots);
    t->slots = s;
    t->nslots = ns;
    return 0;
}


/* Starts loading the slot where a string of hash ``h`` would be (call early, look up later). */
static inline void strtab_prefetch(const Strtab *t, uint64_t h) { __builtin_prefetch(&t->slots[h & (t->nslots - 1)]); }

/* Id of the string of hash ``h`` (added when new, *created = 1); -2: no memory or too long. */
static int32_t strtab_id_h(Strtab *t, const char *p, size_t n, uint64_t h, int *created) {
    if (n >= (1u << 24)) return -2;
    if ((t->n + 1) * 2 > t->nslots && strtab_grow(t)) return -2;
    uint32_t tag = (uint32_t)(h >> 32);
    size_t mask = t->nslots - 1, j = h & mask;
    for (;;) {
        const Slot *v = &t->slots[j];
        if (!v->idp1) break;
        if (v->tag == tag && (v->where & 0xffffff) == n && same_bytes(t->bytes.data + (v->where >> 24), p, n)) {
            if (created) *created = 0;
            return (int32_t)(v->idp1 - 1);
        }
        j = (j + 1) & mask;
    }
    uint64_t off = t->bytes.len;
    if (buf_put(&t->bytes, p, n)) return -2;
    uint64_t end = t->bytes.len;
    if (buf_put(&t->offs, &end, 8)) return -2;
    t->slots[j].tag = tag;
    t->slots[j].idp1 = (uint32_t)(t->n + 1);
    t->slots[j].where = off << 24 | (uint64_t)n;
    if (created) *created = 1;
    return (int32_t)t->n++;
}

/* Forgets the string added last (its slot too). */
static void strtab_pop(Strtab *t) {
    if (!t->n) return;
    uint32_t idp1 = (uint32_t)t->n;
    for (size_t j = 0; j < t->nslots; j++) /* rare: only for a line DuckDB must read after all */
        if (t->slots[j].idp1 == idp1) {
            /* re-insert the rest of the probe run so that lookups still find them */
            t->slots[j].idp1 = 0;
            size_t mask = t->nslots - 1, k = (j + 1) & mask;
            while (t->slots[k].idp1) {
                Slot v = t->slots[k];
                t->slots[k].idp1 = 0;
                size_t h = bytes_hash(t->bytes.data + (v.where >> 24), (size_t)(v.where & 0xffffff)) & mask;
                while (t->slots[h].idp1) h = (h + 1) & mask;
                t->slots[h] = v;
                k = (k + 1) & mask;
            }
            break;
        }
    t->n--;
    t->offs.len -= 8;
    t->bytes.len = (size_t)((const uint64_t *)t->offs.data)[t->n];
}

static inline int32_t strtab_id(Strtab *t, const char *p, size_t n, int *created) {
    return strtab_id_h(t, p, n, bytes_hash(p, n), created);
}

#endif
