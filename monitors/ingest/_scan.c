/* The native scanner of the ingest hot path (see monitors/ingest/native.py).
 *
 * Reads clean Segment-spec messages, one per line, straight from a memory map and folds them into
 * the same aggregates the DuckDB path builds (monitors/ingest/sqlgen.py): per combination of
 * (event, type, bucket, flags, packed property types, key count) a count; per (event, type,
 * bucket) latency bins and HyperLogLog registers; keys outside the plan; and the sample rows of
 * each combination. Every line it is not sure about (batches, Track v2, rejects, odd timestamps,
 * escapes in keys, duplicate keys, non-string fields...) is handed back untouched for the DuckDB
 * path, so the results never depend on which reader ran. Leak signals are regular expressions: the
 * scanner interns the values they look at and Python evaluates each distinct value once (in
 * DuckDB, with the same SQL), between ``parse`` and ``aggregate``.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "native/duckhash.h"
#include "native/json.h"
#include "native/tables.h"

#define MAXC 4            /* packed type-code words per row (21 keys each) */
#define MAX_LAYOUT_KEYS 64
#define NFIELDS 10
#define NKINDS 6
#define F_IDENTIFIED 0
#define F_CHECKED 1
#define F_EMAIL_ID 2
#define F_NO_IDENTITY 3
#define F_TOO_LARGE 4
#define F_IMPOSSIBLE_TS 5
#define LEAK_BASE 40
#define HLL_P 12
#define HLL_M 4096
#define MIN_EPOCH 946684800.0
#define MAX_LINE (16 * 1024 * 1024)

/* value classes (item type masks use these bits) */
#define VC_STR 1
#define VC_OBJ 2
#define VC_ARR 4
#define VC_BOOL 8
#define VC_INT 16
#define VC_REAL 32
#define VC_NULL 64

static const char *SEG_TYPES[] = {"track", "identify", "page", "screen", "group", "alias"};
enum { MT_TRACK, MT_IDENTIFY, MT_PAGE, MT_SCREEN, MT_GROUP, MT_ALIAS };
/* leak fields and the kind of value (one interned table per kind) */
enum { L_LXEMAIL, L_CXEMAIL, L_UID, L_AID, L_URL, L_REF, L_BUILD, L_VERSION, L_NS, L_ENV };
static const int KIND_OF[NFIELDS] = {0, 0, 1, 2, 3, 3, 4, 4, 4, 5};

typedef struct {
    const char *s;
    size_t n;
    int present; /* key seen */
    int isnull;  /* JSON null (or key absent) */
    int hashed;  /* h holds bytes_hash(s, n) (its table slot is being prefetched) */
    uint64_t h;
} Str;

typedef struct {
    int64_t bucket;
    uint64_t flags, tc[MAXC], hu, hl, sh;
    int64_t off;
    int32_t len, ev, nkeys, xk_start, xk_n;
    int16_t lb[3];
    uint8_t lmask, umask;
    int32_t leak[NFIELDS];
    uint64_t ph; /* DuckDB's hash of the line: rows held back keep it, their bytes are gone by then */
} Row;

typedef struct {
    char *name;
    size_t n;
} Name;

/* The last valid minute prefix a scanner read: the timestamps of one log's lines mostly share it. */
typedef struct {
    char key[16];
    int64_t minute;
    int ok;
} TsCache;

/* A value skipped lately (an object, array or string of at most SKIP_MAX bytes) that passed
 * validation at ``depth``: the same bytes later are the same valid value. Lines of one log repeat
 * most of what is skipped (context.library, userAgent, integrations...). */
#define SKIP_SLOTS 16
#define SKIP_MAX 480
typedef struct {
    uint32_t n;
    int depth, high;
    char v[SKIP_MAX];
} SkipSlot;


typedef struct {
    int nkeys, items;
    Name keys[MAX_LAYOUT_KEYS];
} Layout;

typedef struct {
    Name name;
    int32_t req_bit, wrong_bit, allowed;
} ItemCheck;

typedef struct {
    Name name;
    int nchecks;
    ItemCheck *checks;
} ItemArray;

typedef struct {
    int32_t mt;
    int32_t layout; /* -1: none */
    int items;      /* the event plans an array with an item schema */
    int32_t alias;  /* -1, or the id its messages count under (OVERFLOW_NAME: a name not admitted) */
    int64_t held_bucket; /* the bucket of its last row held back (its group exists), else INT64_MIN */
} EvInfo;

#define OVERFLOW_NAME "(other events)"

typedef struct { int32_t ev, nkeys; int64_t bucket; uint64_t flags, tc[MAXC]; } ComboKey;
typedef struct { ComboKey k; int64_t n, g, sample; } ComboRec;
typedef struct { int32_t ev, nkeys; uint64_t flags, tc[MAXC]; } SampleKey;
typedef struct { SampleKey k; int64_t kept; uint64_t sh[3], ph[3]; int64_t off[3], len[3]; } SampleRec;
typedef struct { int32_t ev, pad; int64_t bucket; } GroupKey;
typedef struct { GroupKey k; int64_t g; } GroupRec;
typedef struct { uint64_t key; int64_t n; } LatRec; /* key: g * 4 * 65536 + hop * 65536 + bin + 32768 */

/* The latency bins of one (group, hop): a small open-addressing table, so that the three bins a
 * message adds touch three small tables of its own group rather than one large table. */
#define NO_BIN INT32_MIN
typedef struct {
    uint32_t cap, n;
    int32_t *bins;
    int64_t *counts;
} BinTab;

static void free_bintabs(Buf *lat) {
    for (size_t i = 0; i < lat->len / sizeof(BinTab); i++) {
        free(((BinTab *)lat->data)[i].bins);
        free(((BinTab *)lat->data)[i].counts);
    }
    lat->len = 0;
}

static void table_clear(Table *t) {
    t->recs.len = 0;
    t->n = 0;
    memset(t->slots, 0xff, t->nslots * sizeof(int32_t));
}

static int bintab_add(BinTab *t, int32_t bin) {
    if ((t->n + 1) * 2 > t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 16;
        int32_t *bins = (int32_t *)malloc(cap * sizeof(int32_t));
        int64_t *counts = (int64_t *)calloc(cap, sizeof(int64_t));
        if (!bins || !counts) {
            free(bins);
            free(counts);
            return -1;
        }
        for (uint32_t i = 0; i < cap; i++) bins[i] = NO_BIN;
        for (uint32_t i = 0; i < t->cap; i++) {
            if (t->bins[i] == NO_BIN) continue;
            uint32_t j = ((uint32_t)t->bins[i] * 0x9E3779B1u) & (cap - 1);
            while (bins[j] != NO_BIN) j = (j + 1) & (cap - 1);
            bins[j] = t->bins[i];
            counts[j] = t->counts[i];
        }
        free(t->bins);
        free(t->counts);
        t->bins = bins;
        t->counts = counts;
        t->cap = cap;
    }
    uint32_t mask = t->cap - 1, j = ((uint32_t)bin * 0x9E3779B1u) & mask;
    while (t->bins[j] != NO_BIN && t->bins[j] != bin) j = (j + 1) & mask;
    if (t->bins[j] == NO_BIN) {
        t->bins[j] = bin;
        t->n++;
    }
    t->counts[j]++;
    return 0;
}
typedef struct { int32_t ev, key, jtype, pad; int64_t bucket; } XKey;
typedef struct { XKey k; int64_t n; } XRec;
typedef struct { int32_t key, jtype; } XEntry;

typedef struct {
    PyObject_HEAD
    /* configuration */
    int64_t bucket_seconds;
    double now_epoch, hi, ln_gamma, min_value;
    int zero_bin, neg_bin, n_codes, max_payload;
    int nlayouts, identify_layout;
    Name *layout_names;
    Layout *layouts;
    int narrays;
    ItemArray *arrays;
    uint8_t field_mask[NFIELDS], null_bits[NFIELDS], kind_active[NKINDS];
    /* state */
    Strtab events;           /* msg type byte + event name */
    Buf evinfo;              /* EvInfo per event id */
    Strtab values[NKINDS];   /* leak values */
    Buf bits[NKINDS];        /* uint8 signals per value id */
    Buf aux[NKINDS];         /* 2 x uint64 per value id of ids: MD5, DuckDB hash */
    Strtab aid_md5;          /* anonymous ids of anonymous messages when AID values are not judged */
    Buf aid_aux;
    size_t evaluated[NKINDS];
    int32_t last_id[NFIELDS]; /* per leak field: the id of its previous value, -1 none */
    Strtab xkeys;
    Buf rows, xk, deferred, scratch;
    Table combos, samples, groups, extra;
    Buf lat; /* BinTab per (group, hop) */
    Buf regs; /* per group: 4 kinds x HLL_M registers */
    int64_t n_rows, n_deferred, n_blank;
    TsCache tsc;
    struct { int32_t id1; uint32_t n; int mt; } evc[16]; /* recent event names: id + 1 (0: empty) */
    int32_t type_ev1[6];                                  /* "$identify"...: id + 1 per message type */
    SkipSlot skipc[SKIP_SLOTS];                           /* values skipped lately, validated */
    int busy;
    /* event-name budget (set_names): at most max_names distinct track names, else names_over;
     * or, when admit_on, the admitted names, the others counting under OVERFLOW_NAME */
    int64_t max_names, n_names;
    int names_over, admit_on;
    Strtab admitted;
} Scanner;

static PyObject *TooManyNames; /* _scan.TooManyNames: parse() went over the event-name budget */

/* ------------------------------------------------------------------ timestamps */

static inline int dig2(const char *p) {
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return -1;
    return (p[0] - '0') * 10 + (p[1] - '0');
}

static inline int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The part of a timestamp after its seconds, s[19..n): [.f+][Z|+HH[:MM]|+HHMM]; ``secs``: the
 * epoch seconds of its local date and time. -1: not this form. */
static int parse_ts_tail(const char *s, size_t n, int64_t secs, int64_t *micros) {
    /* the usual forms first: ".mmm+00:00" (most SDKs) and ".mmmZ" */
    if ((n == 29 || n == 24) && s[19] == '.') {
        unsigned d1 = (unsigned)(s[20] - '0'), d2 = (unsigned)(s[21] - '0'), d3 = (unsigned)(s[22] - '0');
        if (d1 < 10 && d2 < 10 && d3 < 10 &&
            (n == 24 ? s[23] == 'Z' : (s[23] == '+' && memcmp(s + 24, "00:00", 5) == 0))) {
            *micros = secs * 1000000 + (int64_t)(d1 * 100 + d2 * 10 + d3) * 1000;
            return 0;
        }
    }
    size_t i = 19;
    int64_t frac = 0;
    if (i < n && s[i] == '.') {
        i++;
        int nd = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') { /* DuckDB keeps microseconds: further digits are cut */
            if (++nd <= 6) frac = frac * 10 + (s[i] - '0');
            i++;
        }
        if (nd == 0) return -1;
        while (nd++ < 6) frac *= 10;
    }
    int64_t off = 0;
    if (i < n) {
        if (s[i] == 'Z') {
            i++;
        } else if (s[i] == '+' || s[i] == '-') {
            int sign = s[i] == '-' ? -1 : 1;
            i++;
            if (i + 2 > n) return -1;
            int oh = dig2(s + i), om = 0;
            if (oh < 0 || oh > 15) return -1;
            i += 2;
            if (i < n) {
                if (s[i] == ':') i++;
                if (i + 2 > n) return -1;
                om = dig2(s + i);
                if (om < 0 || om > 59) return -1;
                i += 2;
            }
            off = sign * (oh * 3600 + om * 60);
        } else {
            return -1;
        }
    }
    if (i != n) return -1;
    *micros = (secs - off) * 1000000 + frac;
    return 0;
}

/* The epoch seconds of "YYYY-MM-DD[T ]HH:MM" (s[0..16)), -1 if it is not a valid one. */
static int64_t parse_ts_minute(const char *s) {
    if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':') return -1;
    int y1 = dig2(s), y2 = dig2(s + 2), mo = dig2(s + 5), d = dig2(s + 8), h = dig2(s + 11), mi = dig2(s + 14);
    if (y1 < 0 || y2 < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59) return -1;
    int y = y1 * 100 + y2;
    if (y < 1970 || y > 2999) return -1;
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > dim[mo - 1] + (mo == 2 && leap)) return -1;
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

/* YYYY-MM-DD[T ]HH:MM:SS[.f+][Z|+HH[:MM]|+HHMM] -> microseconds since the epoch (fractions cut to
 * microseconds, as DuckDB does); -1: not this form. */
static int parse_ts(const char *s, size_t n, int64_t *micros) {
    if (n < 19 || s[16] != ':') return -1;
    int64_t minute = parse_ts_minute(s);
    int se = dig2(s + 17);
    if (minute < 0 || se < 0 || se > 59) return -1;
    return parse_ts_tail(s, n, minute + se, micros);
}

/* parse_ts, the same results, with the minute prefix looked up in ``tc`` first. */
static int parse_ts_cached(TsCache *tc, const char *s, size_t n, int64_t *micros) {
    if (n < 19 || s[16] != ':') return -1;
    int64_t minute;
    if (tc->ok && memcmp(s, tc->key, 16) == 0) {
        minute = tc->minute;
    } else {
        if ((minute = parse_ts_minute(s)) < 0) return -1;
        memcpy(tc->key, s, 16);
        tc->minute = minute;
        tc->ok = 1;
    }
    int se = dig2(s + 17);
    if (se < 0 || se > 59) return -1;
    return parse_ts_tail(s, n, minute + se, micros);
}

/* DuckDB's epoch() of a timestamp in microseconds: whole milliseconds / 1e3 plus the rest / 1e6
 * (not us / 1e6: the two differ in the last bit for a quarter of microsecond-precision times). */
static inline double epoch_of(int64_t us) {
    int64_t ms = us / 1000, rest = us % 1000;
    return (double)ms / 1e3 + (double)rest / 1e6;
}

/* ------------------------------------------------------------------ helpers */

static inline int name_eq(const Name *a, const char *s, size_t n) {
    return a->n == n && (n == 0 || (a->name[0] == s[0] && same_bytes(a->name, s, n)));
}

/* A string-ish field: a JSON string (unescaped), an integer (its text), or null. */
static int read_strish(Scanner *S, Cur *c, Str *out) {
    if (out->present) return J_BAD; /* duplicate key */
    out->present = 1;
    char ch = *c->p;
    if (ch == '"') {
        const char *s;
        size_t n;
        int esc;
        if (j_string(c, &s, &n, &esc)) return J_BAD;
        if (esc) {
            char *dst = S->scratch.data + S->scratch.len;
            n = j_unescape(s, n, dst);
            S->scratch.len += n;
            s = dst;
        }
        out->s = s;
        out->n = n;
        out->isnull = 0;
        return J_OK;
    }
    if (ch == 'n') {
        out->isnull = 1;
        return j_lit(c, "null", 4);
    }
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
        int kind;
        const char *s = c->p;
        if (j_number(c, &kind) || kind != N_INT) return J_BAD;
        out->s = s;
        out->n = (size_t)(c->p - s);
        out->isnull = 0;
        return J_OK;
    }
    return J_BAD;
}

/* A string field only (or null). */
static int read_str(Scanner *S, Cur *c, Str *out) {
    if (*c->p != '"' && *c->p != 'n') return J_BAD;
    return read_strish(S, c, out);
}

static int read_ts(TsCache *tc, Cur *c, int *present, int64_t *micros) {
    if (*present) return J_BAD;
    *present = 1;
    if (*c->p == 'n') {
        *present = 2; /* null */
        return j_lit(c, "null", 4);
    }
    if (*c->p != '"') return J_BAD;
    const char *s;
    size_t n;
    int esc;
    if (j_string(c, &s, &n, &esc) || esc) return J_BAD;
    return parse_ts_cached(tc, s, n, micros) ? J_BAD : J_OK;
}

/* Reads a key: c->p at its quote; the key must have no escapes. Leaves c->p after the colon and spaces. */
static inline int read_key(Cur *c, const char **k, size_t *kn) {
    int esc;
    if (c->p >= c->end || *c->p != '"' || j_string(c, k, kn, &esc) || esc) return J_BAD;
    if (!(c->p < c->end && *c->p == ':')) { /* compact JSON: the colon is the next byte */
        j_ws(c);
        if (c->p >= c->end || *c->p != ':') return J_BAD;
    }
    c->p++;
    j_ws(c);
    return c->p < c->end ? J_OK : J_BAD;
}

/* Opens an object: c->p at '{'. Returns 1 if it has members, 0 if empty. */
static inline int open_object(Cur *c) {
    c->p++;
    j_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 0;
    }
    return 1;
}

/* Skips (validates) the value of key k at c->p, as j_skip(c, depth) does; a value whose bytes are
 * those of the one last skipped for a key like it is passed over without a second validation. */
static int skip_value(Scanner *S, Cur *c, const char *k, size_t kn, int depth) {
    char first = *c->p;
    if (first != '{' && first != '[' && first != '"') return j_skip(c, depth); /* numbers are not self-delimiting */
    unsigned h = (unsigned)(kn * 7 + (kn ? (unsigned char)k[0] * 3 + (unsigned char)k[kn - 1] : 0) + (unsigned)depth * 5);
    SkipSlot *sl = &S->skipc[h & (SKIP_SLOTS - 1)];
    if (sl->n && sl->depth == depth && sl->v[0] == first && sl->n <= (size_t)(c->end - c->p) &&
        memcmp(sl->v, c->p, sl->n) == 0) {
        c->p += sl->n;
        if (sl->high) c->high = 1;
        return J_OK;
    }
    const char *start = c->p;
    int high_before = c->high;
    c->high = 0;
    int r = j_skip(c, depth);
    int high = c->high;
    c->high = high_before | high;
    if (r == J_OK && (size_t)(c->p - start) <= SKIP_MAX) {
        sl->n = (uint32_t)(c->p - start);
        sl->depth = depth;
        sl->high = high;
        memcpy(sl->v, start, sl->n);
    }
    return r;
}

/* An object whose listed keys are string fields (others skipped); null allowed for the object. */
static int read_fields(Scanner *S, Cur *c, int nk, const char *const *keys, Str **outs) {
    if (*c->p == 'n') return j_lit(c, "null", 4);
    if (*c->p != '{') return J_BAD;
    int more = open_object(c);
    while (more == 1) {
        const char *k;
        size_t kn;
        if (read_key(c, &k, &kn)) return J_BAD;
        int hit = -1;
        for (int i = 0; i < nk; i++)
            if (keys[i][0] == k[0] && strlen(keys[i]) == kn && same_bytes(keys[i], k, kn)) hit = i;
        if (hit >= 0) {
            if (read_str(S, c, outs[hit])) return J_BAD;
        } else if (skip_value(S, c, k, kn, 2)) {
            return J_BAD;
        }
        more = j_next(c, '}');
    }
    return more;
}

/* context: traits.email, page.url / referrer, app.build / version / namespace, environment, env. */
static int read_context(Scanner *S, Cur *c, Str *f /* [8] */) {
    if (*c->p == 'n') return j_lit(c, "null", 4);
    if (*c->p != '{') return J_BAD;
    int seen = 0, more = open_object(c);
    while (more == 1) {
        const char *k;
        size_t kn;
        if (read_key(c, &k, &kn)) return J_BAD;
        int r;
        if (kn == 6 && same_bytes(k, "traits", 6)) {
            static const char *const ks[] = {"email"};
            Str *o[] = {&f[0]};
            if (seen & 1) return J_BAD;
            seen |= 1;
            r = read_fields(S, c, 1, ks, o);
        } else if (kn == 4 && same_bytes(k, "page", 4)) {
            static const char *const ks[] = {"url", "referrer"};
            Str *o[] = {&f[1], &f[2]};
            if (seen & 2) return J_BAD;
            seen |= 2;
            r = read_fields(S, c, 2, ks, o);
        } else if (kn == 3 && same_bytes(k, "app", 3)) {
            static const char *const ks[] = {"build", "version", "namespace"};
            Str *o[] = {&f[3], &f[4], &f[5]};
            if (seen & 4) return J_BAD;
            seen |= 4;
            r = read_fields(S, c, 3, ks, o);
        } else if (kn == 11 && same_bytes(k, "environment", 11)) {
            r = read_str(S, c, &f[6]);
        } else if (kn == 3 && same_bytes(k, "env", 3)) {
            r = read_str(S, c, &f[7]);
        } else {
            r = skip_value(S, c, k, kn, 1);
        }
        if (r < 0) return J_BAD;
        more = j_next(c, '}');
    }
    return more;
}

/* Class of the value at c->p, which is skipped (validated). */
static inline int value_class(Cur *c, int depth) {
    char ch = *c->p;
    const char *s;
    size_t n;
    int e, kind;
    switch (ch) {
    case '"':
        return j_string(c, &s, &n, &e) ? J_BAD : VC_STR;
    case '{':
        return j_skip(c, depth) ? J_BAD : VC_OBJ;
    case '[':
        return j_skip(c, depth) ? J_BAD : VC_ARR;
    case 't':
        return j_lit(c, "true", 4) ? J_BAD : VC_BOOL;
    case 'f':
        return j_lit(c, "false", 5) ? J_BAD : VC_BOOL;
    case 'n':
        return j_lit(c, "null", 4) ? J_BAD : VC_NULL;
    default: {
        const char *start = c->p;
        if (j_number(c, &kind)) return J_BAD;
        if (kind == N_INT) return VC_INT;
        int whole = j_whole(start, (size_t)(c->p - start)); /* 1.0 is an integer, as in JSON Schema */
        return whole < 0 ? J_BAD : whole ? VC_INT : VC_REAL;
    }
    }
}

static inline int code_of(int vc) {
    switch (vc) {
    case VC_STR: return 1;
    case VC_INT: return 2;
    case VC_REAL: return 3;
    case VC_BOOL: return 4;
    case VC_ARR: return 5;
    case VC_OBJ: return 6;
    default: return 7;
    }
}

/* The items of a planned array: c->p at '['. Sets the item-check flag bits. */
static int read_items(Cur *c, const ItemArray *arr, uint64_t *flags) {
    c->p++;
    j_ws(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        return J_OK;
    }
    int vcs[64];
    if (arr->nchecks > 64) return J_BAD;
    for (;;) {
        if (c->p >= c->end || *c->p != '{') return J_BAD; /* only arrays of objects */
        for (int j = 0; j < arr->nchecks; j++) vcs[j] = 0;
        int more = open_object(c);
        while (more == 1) {
            const char *k;
            size_t kn;
            if (read_key(c, &k, &kn)) return J_BAD;
            int hit = -1;
            for (int j = 0; j < arr->nchecks; j++)
                if (name_eq(&arr->checks[j].name, k, kn)) hit = j;
            if (hit >= 0) {
                if (vcs[hit]) return J_BAD; /* duplicate */
                int vc = value_class(c, 3);
                if (vc < 0) return J_BAD;
                vcs[hit] = vc;
            } else if (j_skip(c, 3)) {
                return J_BAD;
            }
            more = j_next(c, '}');
        }
        if (more < 0) return J_BAD;
        for (int j = 0; j < arr->nchecks; j++) {
            const ItemCheck *ck = &arr->checks[j];
            int vc = vcs[j];
            if (vc == 0 || vc == VC_NULL) {
                if (ck->req_bit >= 0) *flags |= 1ULL << ck->req_bit;
            } else if (!(vc & ck->allowed)) {
                *flags |= 1ULL << ck->wrong_bit;
            }
        }
        int next = j_next(c, ']');
        if (next <= 0) return next;
    }
}


/* properties / traits of a message whose event info is ``ei``: type codes, key count, item flags,
 * keys outside the plan; the traits' email for identify. c->p at '{'. */
static int read_props(Scanner *S, Cur *c, const EvInfo *ei, Row *r, Str *email) {
    const Layout *lay = ei->layout >= 0 ? &S->layouts[ei->layout] : NULL;
    uint64_t seen = 0;
    int more = open_object(c);
    while (more == 1) {
        const char *k;
        size_t kn;
        int esc;
        if (c->p >= c->end || *c->p != '"' || j_string(c, &k, &kn, &esc)) return J_BAD;
        if (esc) {
            char *dst = S->scratch.data + S->scratch.len;
            kn = j_unescape(k, kn, dst);
            S->scratch.len += kn;
            k = dst;
        }
        j_ws(c);
        if (c->p >= c->end || *c->p != ':') return J_BAD;
        c->p++;
        j_ws(c);
        if (c->p >= c->end) return J_BAD;
        r->nkeys++;
        int idx = -1;
        if (lay)
            for (int i = 0; i < lay->nkeys; i++)
                if (name_eq(&lay->keys[i], k, kn)) {
                    idx = i;
                    break;
                }
        int vc;
        if (email && kn == 5 && same_bytes(k, "email", 5)) {
            if (email->present) return J_BAD;
            const char *v = c->p;
            if (read_strish(S, c, email)) return J_BAD;
            vc = *v == '"' ? VC_STR : *v == 'n' ? VC_NULL : VC_INT;
        } else if (ei->items && *c->p == '[') {
            const ItemArray *arr = NULL;
            for (int a = 0; a < S->narrays; a++)
                if (name_eq(&S->arrays[a].name, k, kn)) arr = &S->arrays[a];
            if (arr) {
                if (read_items(c, arr, &r->flags)) return J_BAD;
            } else if (j_skip(c, 2)) {
                return J_BAD;
            }
            vc = VC_ARR;
        } else {
            vc = value_class(c, 2);
            if (vc < 0) return J_BAD;
        }
        if (idx >= 0) {
            if (seen >> idx & 1) return J_BAD; /* duplicate planned key */
            seen |= 1ULL << idx;
            r->tc[idx / 21] |= (uint64_t)code_of(vc) << (3 * (idx % 21));
        } else {
            int created;
            int32_t id = strtab_id(&S->xkeys, k, kn, &created);
            if (id < 0) return J_BAD;
            if (created && !utf8_valid((const unsigned char *)k, kn)) {
                strtab_pop(&S->xkeys);
                return J_BAD;
            }
            XEntry *xs = (XEntry *)(S->xk.data) + r->xk_start;
            for (int i = 0; i < r->xk_n; i++)
                if (xs[i].key == id) return J_BAD; /* duplicate key outside the plan */
            XEntry x = {id, code_of(vc)};
            if (buf_put(&S->xk, &x, sizeof x)) return J_BAD;
            r->xk_n++;
        }
        more = j_next(c, '}');
    }
    return more < 0 ? J_BAD : J_OK;
}


/* [^@\s]+@[^@\s]+\.[^@\s]+ as a full match (RE2's \s: tab, newline, form feed, carriage return, space). */
static int email_like(const char *s, size_t n) {
    size_t at = n;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '@') {
            if (at != n) return 0;
            at = i;
        } else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\f' || ch == '\r') {
            return 0;
        }
    }
    if (at == n || at == 0) return 0;
    for (size_t i = at + 2; i + 1 < n; i++)
        if (s[i] == '.') return 1;
    return 0;
}

/* The bin of a hop: the difference of two epoch doubles, rounded to the microsecond first (the
 * times are whole microseconds; their doubles are not, and a 1.695 ms hop came out 1.69478 ms, a
 * bin too low: 1.01 % off). The three readers round the same way. */
static inline int16_t lat_bin(Scanner *S, double x) {
    x = round(x * 1e6) / 1e6;
    if (x < 0) return (int16_t)S->neg_bin;
    if (x < S->min_value) return (int16_t)S->zero_bin;
    double b = ceil(log(x) / S->ln_gamma);
    if (b > 30000) b = 30000;
    return (int16_t)b;
}

static int32_t intern_event(Scanner *S, int mt, const char *e, size_t n) {
    char *key = S->scratch.data + S->scratch.len;
    key[0] = (char)mt;
    memcpy(key + 1, e, n);
    int created;
    int32_t id = strtab_id(&S->events, key, n + 1, &created);
    if (id < 0) return id;
    if (!created) {
        int32_t alias = ((const EvInfo *)S->evinfo.data)[id].alias;
        return alias >= 0 ? alias : id;
    }
    if (!utf8_valid((const unsigned char *)e, n)) { /* the line is not UTF-8: DuckDB's; forget the name */
        strtab_pop(&S->events);
        return -2;
    }
    EvInfo info = {mt, -1, 0, -1, INT64_MIN};
    if (mt == MT_TRACK && S->admit_on && !(n == sizeof OVERFLOW_NAME - 1 && memcmp(e, OVERFLOW_NAME, n) == 0)) {
        int fresh;
        int32_t known = strtab_id(&S->admitted, e, n, &fresh);
        if (known < 0) return -2;
        if (fresh) { /* not admitted: its messages count under OVERFLOW_NAME */
            strtab_pop(&S->admitted);
            if (buf_put(&S->evinfo, &info, sizeof info)) return -2;
            int32_t over = intern_event(S, MT_TRACK, OVERFLOW_NAME, sizeof OVERFLOW_NAME - 1);
            if (over < 0) return over;
            ((EvInfo *)S->evinfo.data)[id].alias = over;
            return over;
        }
    }
    if (mt == MT_TRACK && S->max_names > 0 && ++S->n_names > S->max_names) { /* over budget: the caller decides */
        S->names_over = 1;
        strtab_pop(&S->events);
        return -2;
    }
    const char *lname = mt == MT_TRACK ? e : NULL;
    if (mt == MT_IDENTIFY) {
        info.layout = S->identify_layout;
    } else if (lname) {
        for (int i = 0; i < S->nlayouts; i++)
            if (i != S->identify_layout && name_eq(&S->layout_names[i], e, n)) info.layout = i;
    }
    if (mt == MT_TRACK && info.layout >= 0) info.items = S->layouts[info.layout].items;
    if (buf_put(&S->evinfo, &info, sizeof info)) return -2;
    return id;
}

#define K_UID 1
#define K_AID 2

static int32_t intern_leak(Scanner *S, int field, const Str *v) {
    int kind = KIND_OF[field];
    if (!v->present || v->isnull || !S->kind_active[kind]) return -1;
    int32_t last = S->last_id[field];
    if (last >= 0) { /* the same value as this field's previous one (a referrer, say) */
        size_t n;
        const char *q = strtab_str(&S->values[kind], (size_t)last, &n);
        if (n == v->n && same_bytes(q, v->s, n)) return last;
    }
    int created;
    int32_t id = v->hashed ? strtab_id_h(&S->values[kind], v->s, v->n, v->h, &created)
                           : strtab_id(&S->values[kind], v->s, v->n, &created);
    if (id >= 0) S->last_id[field] = id;
    if (id < 0) return -3;
    if (created && (kind == K_UID || kind == K_AID)) {
        uint64_t h[2] = {ehm_md5_number_upper(v->s, v->n), ehm_duck_hash_bytes(v->s, v->n)};
        if (buf_put(&S->aux[kind], h, sizeof h)) return -3;
    }
    return id;
}

/* ------------------------------------------------------------------ aggregation */

static inline void hll_add(uint8_t *regs, uint64_t hv) {
    size_t idx = (size_t)(hv >> (64 - HLL_P));
    uint64_t low = hv & ((1ULL << (64 - HLL_P)) - 1);
    if (!low) low = 1;
    uint8_t rank = (uint8_t)(__builtin_clzll(low) - 11);
    if (regs[idx] < rank) regs[idx] = rank;
}

/* Whether a row (sample hash, line hash) comes before kept sample ``i``: larger sample hash first,
 * ties broken by DuckDB's hash of the line (as ``max_by(sample, (sh, hash(sample)), 3)`` over raw
 * lines). ``*ph`` is the row's line hash, computed from ``line`` on first need (0 = not yet). */
static inline int sample_before(uint64_t sh, uint64_t *ph, int *has_ph, const char *line, int64_t len, const SampleRec *sr, int i) {
    if (sh != sr->sh[i]) return sh > sr->sh[i];
    if (!*has_ph) {
        *ph = ehm_duck_hash_bytes(line, (size_t)len);
        *has_ph = 1;
    }
    return *ph > sr->ph[i];
}

/* Folds row ``r`` in; ``line``: its bytes when still in the buffer (NULL: held back, r->ph is set). */
/* The index of the (event, bucket) group, created (with its registers and latency bins) if new; -1: no memory. */
static int64_t group_of(Scanner *S, int32_t ev, int64_t bucket) {
    GroupKey gk = {ev, 0, bucket};
    int gnew;
    GroupRec *gr = (GroupRec *)table_get(&S->groups, &gk, &gnew);
    if (!gr) return -1;
    if (gnew) {
        gr->g = (int64_t)S->groups.n - 1;
        if (buf_reserve(&S->regs, 4 * HLL_M)) return -1;
        memset(S->regs.data + S->regs.len, 0, 4 * HLL_M);
        S->regs.len += 4 * HLL_M;
        BinTab empty[3];
        memset(empty, 0, sizeof empty);
        if (buf_put(&S->lat, empty, sizeof empty)) return -1;
    }
    return gr->g;
}

static int aggregate_row(Scanner *S, const Row *r, const char *line) {
    uint64_t leak = 0;
    for (int f = 0; f < NFIELDS; f++) {
        int32_t v = r->leak[f];
        uint8_t b = v >= 0 ? (uint8_t)S->bits[KIND_OF[f]].data[v] : S->null_bits[f];
        leak |= (uint64_t)(b & S->field_mask[f]);
    }
    uint64_t flags = r->flags | (leak << LEAK_BASE);
    ComboKey ck;
    memset(&ck, 0, sizeof ck);
    ck.ev = r->ev;
    ck.nkeys = r->nkeys;
    ck.bucket = r->bucket;
    ck.flags = flags;
    memcpy(ck.tc, r->tc, sizeof ck.tc);
    int created;
    ComboRec *cr = (ComboRec *)table_get(&S->combos, &ck, &created);
    if (!cr) return -1;
    if (created) {
        int64_t g = group_of(S, r->ev, r->bucket);
        if (g < 0) return -1;
        SampleKey sk;
        memset(&sk, 0, sizeof sk);
        sk.ev = r->ev;
        sk.nkeys = r->nkeys;
        sk.flags = flags;
        memcpy(sk.tc, r->tc, sizeof sk.tc);
        SampleRec *sr0 = (SampleRec *)table_get(&S->samples, &sk, NULL);
        if (!sr0) return -1;
        int64_t si = (int64_t)(((char *)sr0 - S->samples.recs.data) / (ptrdiff_t)sizeof(SampleRec));
        cr->g = g;
        cr->sample = si;
    }
    cr->n++;
    SampleRec *sr = (SampleRec *)table_rec(&S->samples, (size_t)cr->sample);
    uint64_t ph = r->ph;
    int has_ph = line == NULL;
    if (sr->kept < 3 || sample_before(r->sh, &ph, &has_ph, line, r->len, sr, (int)sr->kept - 1)) {
        int pos = sr->kept < 3 ? (int)sr->kept++ : 2;
        while (pos > 0 && sample_before(r->sh, &ph, &has_ph, line, r->len, sr, pos - 1)) {
            sr->sh[pos] = sr->sh[pos - 1];
            sr->ph[pos] = sr->ph[pos - 1];
            sr->off[pos] = sr->off[pos - 1];
            sr->len[pos] = sr->len[pos - 1];
            pos--;
        }
        if (!has_ph) ph = ehm_duck_hash_bytes(line, (size_t)r->len);
        sr->sh[pos] = r->sh;
        sr->ph[pos] = ph;
        sr->off[pos] = r->off;
        sr->len[pos] = r->len;
    }
    uint64_t g = (uint64_t)cr->g;
    for (int hop = 0; hop < 3; hop++) {
        if (!(r->lmask >> hop & 1)) continue;
        if (bintab_add((BinTab *)S->lat.data + g * 3 + (uint64_t)hop, r->lb[hop])) return -1;
    }
    uint8_t *regs = (uint8_t *)S->regs.data + g * 4 * HLL_M;
    if (r->umask & 1) {
        hll_add(regs, r->hu);
        hll_add(regs + ((r->umask & 2) ? 1 : 2) * HLL_M, r->hu);
    }
    if (r->umask & 4) hll_add(regs + 3 * HLL_M, r->hl);
    const XEntry *xk = (const XEntry *)S->xk.data;
    for (int x = 0; x < r->xk_n; x++) {
        const XEntry *e = &xk[r->xk_start + x];
        XKey k = {r->ev, e->key, e->jtype, 0, r->bucket};
        XRec *xr = (XRec *)table_get(&S->extra, &k, NULL);
        if (!xr) return -1;
        xr->n++;
    }
    return 0;
}

static int aggregate_rows(Scanner *S) {
    size_t n = S->rows.len / sizeof(Row);
    const Row *rows = (const Row *)S->rows.data;
    for (size_t i = 0; i < n; i++)
        if (aggregate_row(S, &rows[i], NULL)) return -1;
    S->rows.len = 0;
    S->xk.len = 0;
    return 0;
}

/* The event id of a message of type ``mt`` (track: named ``event``); J_BAD when DuckDB should judge. */
static int32_t resolve_event(Scanner *S, int mt, const Str *event) {
    if (mt == MT_TRACK) {
        if (!event->present || event->isnull || event->n == 0 || event->n > 255) return J_BAD;
        /* DuckDB's trim() knows Unicode spaces: names that start or end with anything but visible ASCII go there */
        unsigned char first = (unsigned char)event->s[0], last = (unsigned char)event->s[event->n - 1];
        if (first <= 0x20 || first >= 0x7F || last <= 0x20 || last >= 0x7F) return J_BAD;
        /* a log has a handful of names: the last one seen in this slot is usually the one */
        unsigned slot = (unsigned)(event->n * 31 + first + last * 7) & 15;
        if (S->evc[slot].id1 && S->evc[slot].n == event->n && S->evc[slot].mt == mt) {
            size_t kn;
            const char *k = strtab_str(&S->events, (size_t)(S->evc[slot].id1 - 1), &kn);
            if (kn == event->n + 1 && same_bytes(k + 1, event->s, event->n)) return S->evc[slot].id1 - 1;
        }
        int32_t ev = intern_event(S, mt, event->s, event->n);
        if (ev < 0) return J_BAD;
        S->evc[slot].id1 = ev + 1;
        S->evc[slot].n = (uint32_t)event->n;
        S->evc[slot].mt = mt;
        return ev;
    }
    if (S->type_ev1[mt]) return S->type_ev1[mt] - 1;
    char name[16];
    name[0] = '$';
    size_t tn = strlen(SEG_TYPES[mt]);
    memcpy(name + 1, SEG_TYPES[mt], tn);
    int32_t ev = intern_event(S, mt, name, tn + 1);
    if (ev < 0) return J_BAD;
    S->type_ev1[mt] = ev + 1;
    return ev;
}

static int type_code(const Str *type) {
    if (!type->present || type->isnull) return -1;
    for (int t = 0; t < 6; t++)
        if (strlen(SEG_TYPES[t]) == type->n && same_bytes(SEG_TYPES[t], type->s, type->n)) return t;
    return -1;
}

/* One line: 1 a row, 0 blank, J_BAD defer. */
static int parse_line(Scanner *S, const char *line, size_t len, int64_t off) {
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
    if (i == len) return 0;
    if (line[len - 1] == '\r') len--; /* CRLF line ends: the line is what comes before them */
    if (len > MAX_LINE) return J_BAD;
    S->scratch.len = 0;
    if (buf_reserve(&S->scratch, len + 512)) return J_BAD;

    Cur c = {line + i, line + len};
    if (*c.p != '{') return J_BAD;
    Str type = {0}, event = {0}, user = {0}, anon = {0}, mid = {0}, id = {0}, ctx[8] = {{0}};
    int ts_p = 0, ots_p = 0, sent_p = 0, recv_p = 0;
    int64_t ts = 0, ots = 0, sent = 0, recv = 0;
    const char *props = NULL, *traits = NULL;
    int props_seen = 0, traits_seen = 0, ctx_seen = 0, done_props = 0, mt = -1;
    int32_t ev = -1;
    Str email = {0};
    Row row;
    memset(&row, 0, sizeof row);
    row.xk_start = (int32_t)(S->xk.len / sizeof(XEntry));
#define BAIL()                                                   \
    do {                                                         \
        S->xk.len = (size_t)row.xk_start * sizeof(XEntry);       \
        return J_BAD;                                            \
    } while (0)

    int more = open_object(&c);
    while (more == 1) {
        const char *k;
        size_t kn;
        if (read_key(&c, &k, &kn)) BAIL();
        int r = J_OK;
        switch (kn) {
        case 2:
            r = same_bytes(k, "id", 2) ? read_strish(S, &c, &id) : skip_value(S, &c, k, kn, 1);
            break;
        case 4:
            if (same_bytes(k, "type", 4)) {
                r = read_str(S, &c, &type);
                if (r == J_OK && (mt = type_code(&type)) < 0) r = J_BAD;
            } else r = skip_value(S, &c, k, kn, 1);
            break;
        case 5:
            if (same_bytes(k, "event", 5)) r = read_str(S, &c, &event); /* a number, object…: DuckDB's bad_event_name */
            else if (same_bytes(k, "batch", 5)) r = J_BAD;
            else r = skip_value(S, &c, k, kn, 1);
            break;
        case 6:
            if (same_bytes(k, "userId", 6)) {
                r = read_strish(S, &c, &user);
                if (r == J_OK && !user.isnull && S->kind_active[1]) { /* its table slot loads while the line is read */
                    user.h = bytes_hash(user.s, user.n);
                    user.hashed = 1;
                    strtab_prefetch(&S->values[1], user.h);
                }
            }
            else if (same_bytes(k, "sentAt", 6)) r = read_ts(&S->tsc, &c, &sent_p, &sent);
            else if (same_bytes(k, "action", 6)) r = J_BAD;
            else if (same_bytes(k, "traits", 6)) {
                if (traits_seen++) BAIL();
                traits = c.p;
                if ((mt == MT_IDENTIFY || mt == MT_GROUP) && *c.p == '{') {
                    if ((ev = resolve_event(S, mt, &event)) < 0) BAIL();
                    r = read_props(S, &c, (const EvInfo *)S->evinfo.data + ev, &row, mt == MT_IDENTIFY ? &email : NULL);
                    done_props = 1;
                } else r = skip_value(S, &c, k, kn, 1);
            } else r = skip_value(S, &c, k, kn, 1);
            break;
        case 7:
            if (same_bytes(k, "context", 7)) {
                if (ctx_seen++) BAIL();
                r = read_context(S, &c, ctx);
            } else r = skip_value(S, &c, k, kn, 1);
            break;
        case 9:
            if (same_bytes(k, "messageId", 9)) r = read_strish(S, &c, &mid);
            else if (same_bytes(k, "timestamp", 9)) r = read_ts(&S->tsc, &c, &ts_p, &ts);
            else r = skip_value(S, &c, k, kn, 1);
            break;
        case 10:
            if (same_bytes(k, "receivedAt", 10)) r = read_ts(&S->tsc, &c, &recv_p, &recv);
            else if (same_bytes(k, "properties", 10)) {
                if (props_seen++) BAIL();
                props = c.p;
                if (mt >= 0 && mt != MT_IDENTIFY && mt != MT_GROUP && *c.p == '{' && (mt != MT_TRACK || event.present)) {
                    if ((ev = resolve_event(S, mt, &event)) < 0) BAIL();
                    r = read_props(S, &c, (const EvInfo *)S->evinfo.data + ev, &row, NULL);
                    done_props = 1;
                } else r = skip_value(S, &c, k, kn, 1);
            } else r = skip_value(S, &c, k, kn, 1);
            break;
        case 11:
            if (same_bytes(k, "anonymousId", 11)) r = read_strish(S, &c, &anon);
            else if (same_bytes(k, "identifiers", 11)) r = J_BAD;
            else r = skip_value(S, &c, k, kn, 1);
            break;
        case 17:
            r = same_bytes(k, "originalTimestamp", 17) ? read_ts(&S->tsc, &c, &ots_p, &ots) : skip_value(S, &c, k, kn, 1);
            break;
        default:
            r = skip_value(S, &c, k, kn, 1);
        }
        if (r < 0) BAIL();
        more = j_next(&c, '}');
    }
    if (more < 0) BAIL();
    j_ws(&c);
    if (c.p != c.end) BAIL();
    if (c.high && !utf8_valid((const unsigned char *)line, len)) BAIL(); /* non-ASCII: the line must be UTF-8 */

    /* what it is */
    if (mt < 0) BAIL();
    if (ev < 0 && (ev = resolve_event(S, mt, &event)) < 0) BAIL();
    const EvInfo *ei = (const EvInfo *)S->evinfo.data + ev;

    int has_ev = (ts_p == 1) || (ts_p != 1 && ots_p == 1);
    int64_t ev_us = ts_p == 1 ? ts : ots;
    if (!has_ev && sent_p != 1 && recv_p != 1) BAIL(); /* missing_timestamp: DuckDB's */
    double ev_t = has_ev ? epoch_of(ev_us) : 0, sent_t = epoch_of(sent), recv_t = epoch_of(recv);
    int has_sent = sent_p == 1, has_recv = recv_p == 1;

    Row r = row;
    r.off = off;
    r.len = (int32_t)len;
    r.ev = ev;

    /* bucket */
    double bt;
    if (has_ev && ev_t >= MIN_EPOCH && ev_t <= S->hi) bt = ev_t;
    else if (has_recv) bt = recv_t;
    else if (has_sent) bt = sent_t;
    else bt = S->now_epoch;
    r.bucket = (int64_t)(floor(bt / (double)S->bucket_seconds) * (double)S->bucket_seconds);

    /* latency bins: a hop with an impossible end (before 2000, over a day ahead: a device clock at
     * 1970 in sentAt, say) measures none */
    int ev_ok = has_ev && ev_t >= MIN_EPOCH && ev_t <= S->hi;
    int sent_ok = has_sent && sent_t >= MIN_EPOCH && sent_t <= S->hi;
    int recv_ok = has_recv && recv_t >= MIN_EPOCH && recv_t <= S->hi;
    if (ev_ok && sent_ok) { r.lb[0] = lat_bin(S, sent_t - ev_t); r.lmask |= 1; }
    if (sent_ok && recv_ok) { r.lb[1] = lat_bin(S, recv_t - sent_t); r.lmask |= 2; }
    if (ev_ok && recv_ok) { r.lb[2] = lat_bin(S, recv_t - ev_t); r.lmask |= 4; }

    /* identity */
    int uid_ok = user.present && !user.isnull && user.n > 0;
    int aid_ok = anon.present && !anon.isnull && anon.n > 0;
    uint64_t flags = 1ULL << F_CHECKED;
    if (uid_ok) flags |= 1ULL << F_IDENTIFIED;
    if (uid_ok && email_like(user.s, user.n)) flags |= 1ULL << F_EMAIL_ID;
    if (mt != MT_ALIAS && !uid_ok && !aid_ok) flags |= 1ULL << F_NO_IDENTITY;
    if (len > (size_t)S->max_payload) flags |= 1ULL << F_TOO_LARGE;
    if (has_ev && (ev_t < MIN_EPOCH || ev_t > S->hi)) flags |= 1ULL << F_IMPOSSIBLE_TS;
    r.flags |= flags;

    /* properties / traits (when they came before the type or event) */
    const char *pv = (mt == MT_IDENTIFY || mt == MT_GROUP) ? traits : props;
    if (!done_props && pv && *pv == '{') {
        Cur pc = {pv, line + len};
        if (read_props(S, &pc, ei, &r, mt == MT_IDENTIFY ? &email : NULL)) BAIL();
    }

    const Str *msg = (mid.present && !mid.isnull) ? &mid : &id;
    uint64_t h = (msg->present && !msg->isnull) ? ehm_duck_hash_bytes(msg->s, msg->n) : EHM_DUCK_NULL_HASH;
    h = ehm_duck_combine(h, (user.present && !user.isnull) ? ehm_duck_hash_bytes(user.s, user.n) : EHM_DUCK_NULL_HASH);
    uint64_t anon_h = (anon.present && !anon.isnull) ? ehm_duck_hash_bytes(anon.s, anon.n) : EHM_DUCK_NULL_HASH;
    h = ehm_duck_combine(h, anon_h);
    h = ehm_duck_combine(h, has_ev ? ehm_duck_hash_double(ev_t) : EHM_DUCK_NULL_HASH);
    h = ehm_duck_combine(h, has_sent ? ehm_duck_hash_double(sent_t) : EHM_DUCK_NULL_HASH);
    h = ehm_duck_combine(h, has_recv ? ehm_duck_hash_double(recv_t) : EHM_DUCK_NULL_HASH);
    r.sh = h;

    /* leak values */
    Str env = (ctx[6].present && !ctx[6].isnull) ? ctx[6] : ctx[7];
    const Str *vals[NFIELDS] = {&email, &ctx[0], &user, &anon, &ctx[1], &ctx[2], &ctx[3], &ctx[4], &ctx[5], &env};
    for (int f = 0; f < NFIELDS; f++) {
        int32_t v = intern_leak(S, f, vals[f]);
        if (v == -3) {
            S->xk.len = (size_t)r.xk_start * sizeof(XEntry);
            return J_BAD;
        }
        r.leak[f] = v;
    }
    /* user sketches: one MD5 per distinct id (interned) */
    if (uid_ok) {
        r.hu = ((const uint64_t *)S->aux[K_UID].data)[2 * r.leak[L_UID]];
        r.umask |= 3;
    } else if (aid_ok) {
        int32_t a = r.leak[L_AID];
        if (a < 0) { /* not interned for leak signals: intern it for its MD5 */
            int created;
            a = strtab_id(&S->aid_md5, anon.s, anon.n, &created);
            if (a < 0) BAIL();
            if (created) {
                uint64_t h[2] = {ehm_md5_number_upper(anon.s, anon.n), 0};
                if (buf_put(&S->aid_aux, h, sizeof h)) BAIL();
            }
            r.hu = ((const uint64_t *)S->aid_aux.data)[2 * a];
        } else {
            r.hu = ((const uint64_t *)S->aux[K_AID].data)[2 * a];
        }
        r.umask |= 1;
    }
    if (uid_ok && aid_ok) {
        r.hl = anon_h; /* DuckDB's hash of the anonymousId, as in the sample hash */
        r.umask |= 4;
    }
    int known = 1;
    for (int f = 0; f < NFIELDS; f++)
        if (r.leak[f] >= 0 && (size_t)r.leak[f] >= S->evaluated[KIND_OF[f]]) known = 0;
    if (known) { /* every signal known already: fold it in now */
        int rc = aggregate_row(S, &r, line);
        S->xk.len = (size_t)r.xk_start * sizeof(XEntry);
        return rc ? -4 : 1;
    }
    r.ph = ehm_duck_hash_bytes(line, len); /* held back: its bytes may be gone when it is folded in */
    /* its group now, so that groups() counts what the read holds (see native.MAX_GROUPS); rows
     * of an event mostly share its last bucket, whose group exists already */
    EvInfo *held = (EvInfo *)S->evinfo.data + r.ev;
    if (held->held_bucket != r.bucket) {
        if (group_of(S, r.ev, r.bucket) < 0) {
            S->xk.len = (size_t)r.xk_start * sizeof(XEntry);
            return -4;
        }
        held->held_bucket = r.bucket;
    }
    if (buf_put(&S->rows, &r, sizeof r)) {
        S->xk.len = (size_t)r.xk_start * sizeof(XEntry);
        return -4;
    }
    return 1;
}

/* ------------------------------------------------------------------ batch bodies */

static int put_str(Buf *b, const char *s) { return buf_put(b, s, strlen(s)); }

/* Whether ``"batch"`` occurs in the line (a cheap test before explode_batch parses it). */
static int has_batch_key(const char *p, size_t n) {
    const char *end = p + n;
    while (p + 7 <= end) {
        const char *q = (const char *)memchr(p, '"', (size_t)(end - p - 6));
        if (!q) return 0;
        if (memcmp(q, "\"batch\"", 7) == 0) return 1;
        p = q + 1;
    }
    return 0;
}

/* A Pipelines batch body ``{"batch": [...], "sentAt": ..., "context": ...}`` (strict JSON, UTF-8,
 * keys without escapes, each of those three once) written to ``out`` as one line per element:
 * ``{"batch":[<element>],"sentAt":...,"context":...}``, the element's and the batch's own bytes
 * untouched. DuckDB's batch reader gives each element the batch's sentAt and context, so the
 * lines mean what the body means; but a body of thousands of messages on one line made DuckDB
 * hold vectors of 2,048 such lines (hundreds of MB). Returns 1 written, 0 not a body this reads
 * (the caller defers the line as it is). */
static int explode_batch(Buf *out, const char *line, size_t len) {
    if (len && line[len - 1] == '\r') len--;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
    Cur c = {line + i, line + len, 0};
    if (c.p >= c.end || *c.p != '{') return 0;
    const char *span[3][2] = {{NULL, NULL}, {NULL, NULL}, {NULL, NULL}}; /* batch, sentAt, context */
    static const char *const names[3] = {"batch", "sentAt", "context"};
    int more = open_object(&c);
    while (more == 1) {
        const char *k;
        size_t kn;
        if (read_key(&c, &k, &kn)) return 0;
        const char *v = c.p;
        if (j_skip(&c, 1)) return 0;
        for (int f = 0; f < 3; f++)
            if (kn == strlen(names[f]) && same_bytes(k, names[f], kn)) {
                if (span[f][0]) return 0; /* twice: DuckDB's call */
                span[f][0] = v;
                span[f][1] = c.p;
            }
        more = j_next(&c, '}');
    }
    if (more < 0) return 0;
    j_ws(&c);
    if (c.p != c.end) return 0;
    if (c.high && !utf8_valid((const unsigned char *)line, len)) return 0;
    if (!span[0][0] || *span[0][0] != '[') return 0;
    size_t mark = out->len;
    Cur a = {span[0][0] + 1, span[0][1], 0};
    j_ws(&a);
    if (a.p < a.end && *a.p == ']') return 1; /* no messages */
    for (;;) {
        const char *e = a.p;
        if (j_skip(&a, 2)) goto undo; /* validated above: cannot fail */
        if (put_str(out, "{\"batch\":[") || buf_put(out, e, (size_t)(a.p - e)) || put_str(out, "]")) goto undo;
        for (int f = 1; f < 3; f++)
            if (span[f][0] && (put_str(out, f == 1 ? ",\"sentAt\":" : ",\"context\":") ||
                               buf_put(out, span[f][0], (size_t)(span[f][1] - span[f][0]))))
                goto undo;
        if (put_str(out, "}\n")) goto undo;
        int nx = j_next(&a, ']');
        if (nx == 0) return 1;
        if (nx < 0) goto undo;
    }
undo:
    out->len = mark;
    return 0;
}

/* ------------------------------------------------------------------ Python type */

static int copy_name(PyObject *s, Name *out) {
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    if (!p) return -1;
    out->name = (char *)malloc((size_t)n + 1);
    if (!out->name) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(out->name, p, (size_t)n + 1);
    out->n = (size_t)n;
    return 0;
}

static void Scanner_dealloc(Scanner *S) {
    if (S->layout_names) {
        for (int i = 0; i < S->nlayouts; i++) {
            free(S->layout_names[i].name);
            for (int k = 0; k < S->layouts[i].nkeys; k++) free(S->layouts[i].keys[k].name);
        }
    }
    free(S->layout_names);
    free(S->layouts);
    if (S->arrays) {
        for (int a = 0; a < S->narrays; a++) {
            free(S->arrays[a].name.name);
            for (int j = 0; j < S->arrays[a].nchecks; j++) free(S->arrays[a].checks[j].name.name);
            free(S->arrays[a].checks);
        }
    }
    free(S->arrays);
    strtab_free(&S->events);
    strtab_free(&S->xkeys);
    strtab_free(&S->aid_md5);
    buf_free(&S->aid_aux);
    for (int k = 0; k < NKINDS; k++) {
        strtab_free(&S->values[k]);
        buf_free(&S->bits[k]);
        buf_free(&S->aux[k]);
    }
    buf_free(&S->evinfo);
    strtab_free(&S->admitted);
    buf_free(&S->rows);
    buf_free(&S->xk);
    buf_free(&S->deferred);
    buf_free(&S->scratch);
    buf_free(&S->regs);
    table_free(&S->combos);
    table_free(&S->samples);
    table_free(&S->groups);
    free_bintabs(&S->lat);
    buf_free(&S->lat);
    table_free(&S->extra);
    Py_TYPE(S)->tp_free((PyObject *)S);
}

/* Scanner(bucket_seconds, now_epoch, ln_gamma, min_value, zero_bin, neg_bin, max_payload,
 *         layouts: [(name, is_identify, [keys], has_items)], arrays: [(name, [(item, req_bit, wrong_bit, allowed)])],
 *         field_mask: bytes[10], null_bits: bytes[10], kind_active: bytes[6]) */
static int Scanner_init(Scanner *S, PyObject *args, PyObject *kwds) {
    long long bs;
    double now, lng, minv;
    int zb, nb, mp;
    PyObject *layouts, *arrays;
    Py_buffer fm, nbits, ka;
    if (!PyArg_ParseTuple(args, "Ldddiii" "O!O!y*y*y*", &bs, &now, &lng, &minv, &zb, &nb, &mp, &PyList_Type,
                          &layouts, &PyList_Type, &arrays, &fm, &nbits, &ka))
        return -1;
    (void)kwds;
    int rc = -1;
    if (fm.len != NFIELDS || nbits.len != NFIELDS || ka.len != NKINDS || bs <= 0) {
        PyErr_SetString(PyExc_ValueError, "bad scanner configuration");
        goto done;
    }
    S->bucket_seconds = bs;
    S->now_epoch = now;
    S->hi = now + 86400;
    S->ln_gamma = lng;
    S->min_value = minv;
    S->zero_bin = zb;
    S->neg_bin = nb;
    S->max_payload = mp;
    memcpy(S->field_mask, fm.buf, NFIELDS);
    memcpy(S->null_bits, nbits.buf, NFIELDS);
    memcpy(S->kind_active, ka.buf, NKINDS);
    S->nlayouts = (int)PyList_GET_SIZE(layouts);
    S->identify_layout = -1;
    S->layout_names = (Name *)calloc((size_t)S->nlayouts + 1, sizeof(Name));
    S->layouts = (Layout *)calloc((size_t)S->nlayouts + 1, sizeof(Layout));
    if (!S->layout_names || !S->layouts) {
        PyErr_NoMemory();
        goto done;
    }
    for (int i = 0; i < S->nlayouts; i++) {
        PyObject *t = PyList_GET_ITEM(layouts, i), *name, *keys;
        int is_identify, items;
        if (!PyArg_ParseTuple(t, "UpO!p", &name, &is_identify, &PyList_Type, &keys, &items)) goto done;
        if (copy_name(name, &S->layout_names[i])) goto done;
        S->layouts[i].items = items;
        if (is_identify) S->identify_layout = i;
        Py_ssize_t nk = PyList_GET_SIZE(keys);
        if (nk > MAX_LAYOUT_KEYS) {
            PyErr_SetString(PyExc_ValueError, "too many planned keys for the native scanner");
            goto done;
        }
        S->layouts[i].nkeys = (int)nk;
        for (Py_ssize_t k = 0; k < nk; k++)
            if (copy_name(PyList_GET_ITEM(keys, k), &S->layouts[i].keys[k])) goto done;
    }
    S->narrays = (int)PyList_GET_SIZE(arrays);
    S->arrays = (ItemArray *)calloc((size_t)S->narrays + 1, sizeof(ItemArray));
    if (!S->arrays) {
        PyErr_NoMemory();
        goto done;
    }
    for (int a = 0; a < S->narrays; a++) {
        PyObject *t = PyList_GET_ITEM(arrays, a), *name, *checks;
        if (!PyArg_ParseTuple(t, "UO!", &name, &PyList_Type, &checks)) goto done;
        if (copy_name(name, &S->arrays[a].name)) goto done;
        Py_ssize_t nc = PyList_GET_SIZE(checks);
        S->arrays[a].checks = (ItemCheck *)calloc((size_t)nc + 1, sizeof(ItemCheck));
        if (!S->arrays[a].checks) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t j = 0; j < nc; j++) {
            PyObject *item;
            ItemCheck *ck = &S->arrays[a].checks[j];
            if (!PyArg_ParseTuple(PyList_GET_ITEM(checks, j), "Uiii", &item, &ck->req_bit, &ck->wrong_bit, &ck->allowed))
                goto done;
            if (copy_name(item, &ck->name)) goto done;
            S->arrays[a].nchecks++;
        }
    }
    if (strtab_init(&S->events) || strtab_init(&S->xkeys) || strtab_init(&S->aid_md5) || strtab_init(&S->admitted) || table_init(&S->combos, sizeof(ComboKey), sizeof(ComboRec)) ||
        table_init(&S->samples, sizeof(SampleKey), sizeof(SampleRec)) ||
        table_init(&S->groups, sizeof(GroupKey), sizeof(GroupRec)) ||
        table_init(&S->extra, sizeof(XKey), sizeof(XRec))) {
        PyErr_NoMemory();
        goto done;
    }
    for (int f = 0; f < NFIELDS; f++) S->last_id[f] = -1;
    for (int k = 0; k < NKINDS; k++)
        if (strtab_init(&S->values[k])) {
            PyErr_NoMemory();
            goto done;
        }
    rc = 0;
done:
    PyBuffer_Release(&fm);
    PyBuffer_Release(&nbits);
    PyBuffer_Release(&ka);
    return rc;
}

/* parse(buffer, start, end, base=0) -> (rows, deferred bytes, blank lines); ``base``: the file
 * offset of the buffer's first byte (rows and samples keep file offsets). */
static PyObject *Scanner_parse(Scanner *S, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end, base_off = 0;
    if (!PyArg_ParseTuple(args, "y*nn|n", &view, &start, &end, &base_off)) return NULL;
    if (start < 0 || end > view.len || start > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "range outside the buffer");
        return NULL;
    }
    if (S->busy) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_RuntimeError, "scanner in use");
        return NULL;
    }
    S->busy = 1;
    const char *base = (const char *)view.buf;
    int64_t rows = 0, blank = 0;
    int oom = 0;
    S->deferred.len = 0;
    Py_BEGIN_ALLOW_THREADS
    const char *p = base + start, *stop = base + end;
    while (p < stop) {
        const char *nl = (const char *)memchr(p, '\n', (size_t)(stop - p));
        const char *le = nl ? nl : stop;
        int r = parse_line(S, p, (size_t)(le - p), (int64_t)(p - base) + (int64_t)base_off);
        if (r == -4) {
            oom = 1;
            break;
        }
        if (S->names_over) break; /* over the event-name budget: this read is abandoned */
        if (r == 1) rows++;
        else if (r == 0) blank++;
        else if (has_batch_key(p, (size_t)(le - p)) && explode_batch(&S->deferred, p, (size_t)(le - p))) { /* one line per message */ }
        else if (buf_put(&S->deferred, p, (size_t)(le - p)) || buf_put(&S->deferred, "\n", 1)) {
            oom = 1;
            break;
        }
        p = nl ? nl + 1 : stop;
    }
    Py_END_ALLOW_THREADS
    S->busy = 0;
    PyBuffer_Release(&view);
    if (oom) return PyErr_NoMemory();
    if (S->names_over) {
        PyErr_Format(TooManyNames, "over %lld distinct event names", (long long)S->max_names);
        return NULL;
    }
    S->n_rows += rows;
    S->n_blank += blank;
    PyObject *deferred = PyBytes_FromStringAndSize(S->deferred.data, (Py_ssize_t)S->deferred.len);
    S->deferred.len = 0;
    if (!deferred) return NULL;
    return Py_BuildValue("LNL", (long long)rows, deferred, (long long)blank);
}

/* pending() -> [[bytes, ...] per kind]: values not yet judged */
static PyObject *Scanner_pending(Scanner *S, PyObject *unused) {
    (void)unused;
    PyObject *out = PyList_New(NKINDS);
    if (!out) return NULL;
    for (int k = 0; k < NKINDS; k++) {
        size_t from = S->evaluated[k], to = S->values[k].n;
        PyObject *lst = PyList_New((Py_ssize_t)(to - from));
        if (!lst) {
            Py_DECREF(out);
            return NULL;
        }
        for (size_t i = from; i < to; i++) {
            size_t n;
            const char *s = strtab_str(&S->values[k], i, &n);
            PyObject *b = PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "strict");
            if (!b) {
                Py_DECREF(lst);
                Py_DECREF(out);
                return NULL;
            }
            PyList_SET_ITEM(lst, (Py_ssize_t)(i - from), b);
        }
        PyList_SET_ITEM(out, k, lst);
    }
    return out;
}

/* resolve([bytes per kind]): the signals of the pending values, in order */
static PyObject *Scanner_resolve(Scanner *S, PyObject *args) {
    PyObject *lst;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &lst)) return NULL;
    if (PyList_GET_SIZE(lst) != NKINDS) {
        PyErr_SetString(PyExc_ValueError, "one bytes object per kind");
        return NULL;
    }
    for (int k = 0; k < NKINDS; k++) {
        PyObject *b = PyList_GET_ITEM(lst, k);
        char *data;
        Py_ssize_t n;
        if (PyBytes_AsStringAndSize(b, &data, &n)) return NULL;
        if ((size_t)n != S->values[k].n - S->evaluated[k]) {
            PyErr_SetString(PyExc_ValueError, "signals do not match the pending values");
            return NULL;
        }
        if (buf_put(&S->bits[k], data, (size_t)n)) return PyErr_NoMemory();
        S->evaluated[k] = S->values[k].n;
    }
    Py_RETURN_NONE;
}

/* reset(): forget the aggregates (after result()), keep what was learnt about values (interned
 * leak values and their signals, MD5s, event and key names): the next range of the same file
 * starts warm. */
static PyObject *Scanner_reset(Scanner *S, PyObject *unused) {
    (void)unused;
    if (S->busy || S->rows.len) {
        PyErr_SetString(PyExc_RuntimeError, "scanner in use or rows held back");
        return NULL;
    }
    table_clear(&S->combos);
    table_clear(&S->samples);
    table_clear(&S->groups);
    table_clear(&S->extra);
    for (size_t i = 0; i < S->events.n; i++) ((EvInfo *)S->evinfo.data)[i].held_bucket = INT64_MIN; /* groups gone */
    free_bintabs(&S->lat);
    S->regs.len = 0;
    S->xk.len = 0;
    S->n_rows = S->n_blank = 0;
    Py_RETURN_NONE;
}

/* backlog() -> (values awaiting their signals, rows waiting for them) */
static PyObject *Scanner_backlog(Scanner *S, PyObject *unused) {
    (void)unused;
    size_t values = 0;
    for (int k = 0; k < NKINDS; k++) values += S->values[k].n - S->evaluated[k];
    return Py_BuildValue("nn", (Py_ssize_t)values, (Py_ssize_t)(S->rows.len / sizeof(Row)));
}

/* aggregate(): fold the rows held back into the aggregates. */
static PyObject *Scanner_aggregate(Scanner *S, PyObject *unused) {
    (void)unused;
    for (int k = 0; k < NKINDS; k++)
        if (S->evaluated[k] != S->values[k].n) {
            PyErr_SetString(PyExc_RuntimeError, "resolve the pending values first");
            return NULL;
        }
    if (S->busy) {
        PyErr_SetString(PyExc_RuntimeError, "scanner in use");
        return NULL;
    }
    S->busy = 1;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = aggregate_rows(S);
    Py_END_ALLOW_THREADS
    S->busy = 0;
    if (rc) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *bytes_of(const Buf *b) { return PyBytes_FromStringAndSize(b->data, (Py_ssize_t)b->len); }

static PyObject *names_of(const Strtab *t, int skip_first_byte) {
    PyObject *lst = PyList_New((Py_ssize_t)t->n);
    if (!lst) return NULL;
    for (size_t i = 0; i < t->n; i++) {
        size_t n;
        const char *s = strtab_str(t, i, &n);
        PyObject *u = PyUnicode_DecodeUTF8(s + skip_first_byte, (Py_ssize_t)(n - (size_t)skip_first_byte), "strict");
        if (!u) {
            Py_DECREF(lst);
            return NULL;
        }
        PyList_SET_ITEM(lst, (Py_ssize_t)i, u);
    }
    return lst;
}

/* result() -> dict of raw arrays (see native.py for their layouts) */
static PyObject *Scanner_result(Scanner *S, PyObject *unused) {
    (void)unused;
    PyObject *events = names_of(&S->events, 1);
    if (!events) return NULL;
    PyObject *mts = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)S->events.n);
    if (!mts) {
        Py_DECREF(events);
        return NULL;
    }
    for (size_t i = 0; i < S->events.n; i++) PyBytes_AS_STRING(mts)[i] = (char)((const EvInfo *)S->evinfo.data)[i].mt;
    PyObject *xkeys = names_of(&S->xkeys, 0);
    if (!xkeys) {
        Py_DECREF(events);
        Py_DECREF(mts);
        return NULL;
    }
    Buf flat = {0};
    size_t ntabs = S->lat.len / sizeof(BinTab);
    for (size_t i = 0; i < ntabs; i++) {
        const BinTab *t = (const BinTab *)S->lat.data + i;
        for (uint32_t j = 0; j < t->cap; j++) {
            if (t->bins[j] == NO_BIN) continue;
            LatRec rec = {(uint64_t)(i / 3) * 4 * 65536 + (uint64_t)(i % 3) * 65536 + (uint64_t)(t->bins[j] + 32768), t->counts[j]};
            if (buf_put(&flat, &rec, sizeof rec)) {
                buf_free(&flat);
                Py_DECREF(events);
                Py_DECREF(mts);
                Py_DECREF(xkeys);
                return PyErr_NoMemory();
            }
        }
    }
    PyObject *latency = bytes_of(&flat);
    buf_free(&flat);
    return Py_BuildValue("{s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:L,s:L}", "events", events, "msg_types", mts,
                         "xkeys", xkeys, "combos", bytes_of(&S->combos.recs), "samples", bytes_of(&S->samples.recs),
                         "groups", bytes_of(&S->groups.recs), "latency", latency, "extra",
                         bytes_of(&S->extra.recs), "registers", bytes_of(&S->regs), "rows", (long long)S->n_rows,
                         "blank", (long long)S->n_blank);
}

/* set_names(max_names, admitted) on a fresh scanner: at most max_names distinct track names (0: no
 * limit; one more makes parse() raise TooManyNames), or, with a list of admitted names, every other
 * track name counted under OVERFLOW_NAME. */
static PyObject *Scanner_set_names(Scanner *S, PyObject *args) {
    long long cap;
    PyObject *admitted;
    if (!PyArg_ParseTuple(args, "LO", &cap, &admitted)) return NULL;
    if (S->busy || S->events.n) {
        PyErr_SetString(PyExc_RuntimeError, "set_names() on a scanner that has read");
        return NULL;
    }
    S->max_names = cap > 0 ? cap : 0;
    S->admit_on = admitted != Py_None;
    if (!S->admit_on) Py_RETURN_NONE;
    if (!PyList_Check(admitted)) {
        PyErr_SetString(PyExc_TypeError, "admitted: a list of names or None");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(admitted); i++) {
        Py_ssize_t n;
        const char *name = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(admitted, i), &n);
        int created;
        if (!name) return NULL;
        if (strtab_id(&S->admitted, name, (size_t)n, &created) < 0) return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

static PyObject *Scanner_groups(Scanner *S, PyObject *unused) {
    (void)unused;
    return PyLong_FromSize_t(S->groups.n);
}

static PyMethodDef Scanner_methods[] = {
    {"groups", (PyCFunction)Scanner_groups, METH_NOARGS, "(event, bucket) groups held"},
    {"set_names", (PyCFunction)Scanner_set_names, METH_VARARGS, "set_names(max_names, admitted names or None)"},
    {"parse", (PyCFunction)Scanner_parse, METH_VARARGS, "parse(buffer, start, end) -> (rows, deferred, blank)"},
    {"pending", (PyCFunction)Scanner_pending, METH_NOARGS, "values awaiting their leak signals, per kind"},
    {"resolve", (PyCFunction)Scanner_resolve, METH_VARARGS, "resolve([bytes per kind])"},
    {"reset", (PyCFunction)Scanner_reset, METH_NOARGS, "forget the aggregates, keep the learnt values"},
    {"backlog", (PyCFunction)Scanner_backlog, METH_NOARGS, "(values awaiting signals, rows waiting for them)"},
    {"aggregate", (PyCFunction)Scanner_aggregate, METH_NOARGS, "fold the parsed rows into the aggregates"},
    {"result", (PyCFunction)Scanner_result, METH_NOARGS, "the aggregates as raw arrays"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "monitors.ingest._scan.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
    .tp_doc = "Native scanner of clean Segment-spec JSON lines (see monitors/ingest/native.py).",
};

/* ------------------------------------------------------------------ module-level helpers (tests) */

static PyObject *of_bytes(PyObject *args, uint64_t (*fn)(const char *, size_t)) {
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "y*", &b)) return NULL;
    uint64_t h = fn((const char *)b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    return PyLong_FromUnsignedLongLong(h);
}

static PyObject *m_hash_str(PyObject *self, PyObject *args) {
    (void)self;
    return of_bytes(args, ehm_duck_hash_bytes);
}

static PyObject *m_hash_double(PyObject *self, PyObject *args) {
    double x;
    (void)self;
    if (!PyArg_ParseTuple(args, "d", &x)) return NULL;
    return PyLong_FromUnsignedLongLong(ehm_duck_hash_double(x));
}

static PyObject *m_hash_combine(PyObject *self, PyObject *args) {
    unsigned long long a, b;
    (void)self;
    if (!PyArg_ParseTuple(args, "KK", &a, &b)) return NULL;
    return PyLong_FromUnsignedLongLong(ehm_duck_combine(a, b));
}

static PyObject *m_md5_upper(PyObject *self, PyObject *args) {
    (void)self;
    return of_bytes(args, ehm_md5_number_upper);
}

static PyObject *m_parse_ts(PyObject *self, PyObject *args) {
    const char *s;
    Py_ssize_t n;
    int64_t us;
    (void)self;
    if (!PyArg_ParseTuple(args, "s#", &s, &n)) return NULL;
    if (parse_ts(s, (size_t)n, &us)) Py_RETURN_NONE;
    return PyFloat_FromDouble(epoch_of(us));
}

/* parse_ts over a sequence of strings read in order, as the scanner reads them (with its cache of
 * the last minute prefix): a list of epochs or None. */
static PyObject *m_parse_ts_seq(PyObject *self, PyObject *arg) {
    (void)self;
    PyObject *seq = PySequence_Fast(arg, "a sequence of str");
    if (!seq) return NULL;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
    PyObject *out = PyList_New(len);
    TsCache tc;
    memset(&tc, 0, sizeof tc);
    for (Py_ssize_t i = 0; out && i < len; i++) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(seq, i), &n);
        int64_t us;
        PyObject *v = NULL;
        if (!s) {
            Py_CLEAR(out);
        } else if (parse_ts_cached(&tc, s, (size_t)n, &us)) {
            v = Py_NewRef(Py_None);
        } else {
            v = PyFloat_FromDouble(epoch_of(us));
            if (!v) Py_CLEAR(out);
        }
        if (out) PyList_SET_ITEM(out, i, v);
    }
    Py_DECREF(seq);
    return out;
}

/* hll_encode(registers: 4096 bytes) -> bytes: monitors.sketch.HLL.encode, byte for byte. */
static PyObject *m_hll_encode(PyObject *self, PyObject *args) {
    Py_buffer b;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &b)) return NULL;
    if (b.len != HLL_M) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "4096 registers expected");
        return NULL;
    }
    const uint8_t *r = (const uint8_t *)b.buf;
    uint32_t n = 0;
    for (int i = 0; i < HLL_M; i++) n += r[i] != 0;
    PyObject *out;
    if (3 * n > HLL_M) {
        out = PyBytes_FromStringAndSize(NULL, 2 + HLL_M);
        if (out) {
            char *o = PyBytes_AS_STRING(out);
            o[0] = 'H';
            o[1] = '2';
            memcpy(o + 2, r, HLL_M);
        }
    } else {
        out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(6 + 3 * n));
        if (out) {
            unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
            o[0] = 'H';
            o[1] = '1';
            o[2] = (unsigned char)(n & 0xff);
            o[3] = (unsigned char)(n >> 8 & 0xff);
            o[4] = (unsigned char)(n >> 16 & 0xff);
            o[5] = (unsigned char)(n >> 24);
            unsigned char *idx = o + 6, *rank = o + 6 + 2 * n;
            for (int w = 0; w < HLL_M; w += 8) { /* sparse: skip the all-zero words */
                uint64_t word;
                memcpy(&word, r + w, 8);
                if (!word) continue;
                for (int i = w; i < w + 8; i++)
                    if (r[i]) {
                        *idx++ = (unsigned char)(i & 0xff);
                        *idx++ = (unsigned char)(i >> 8);
                        *rank++ = r[i];
                    }
            }
        }
    }
    PyBuffer_Release(&b);
    return out;
}

/* max_rows(out: (G, M) uint8 C-contiguous, writable, rows: int64[n], src: (n, M) uint8, any strides):
 * out[rows[i]] = max(out[rows[i]], src[i]) for each i, in one pass (HyperLogLog register merges). */
static PyObject *m_max_rows(PyObject *self, PyObject *args) {
    PyObject *o_out, *o_rows, *o_src;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOO", &o_out, &o_rows, &o_src)) return NULL;
    Py_buffer out, rows, src;
    if (PyObject_GetBuffer(o_out, &out, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    if (PyObject_GetBuffer(o_rows, &rows, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&out);
        return NULL;
    }
    if (PyObject_GetBuffer(o_src, &src, PyBUF_RECORDS_RO) < 0) {
        PyBuffer_Release(&out);
        PyBuffer_Release(&rows);
        return NULL;
    }
    PyObject *result = NULL;
    if (out.ndim != 2 || src.ndim != 2 || rows.ndim != 1 || out.itemsize != 1 || src.itemsize != 1 || rows.itemsize != 8 ||
        src.shape[1] != out.shape[1] || src.shape[0] != rows.shape[0] || src.strides[1] != 1) {
        PyErr_SetString(PyExc_ValueError, "max_rows: (G, M) uint8, int64[n], (n, M) uint8 with unit inner stride");
        goto done;
    }
    {
        const int64_t *idx = (const int64_t *)rows.buf;
        Py_ssize_t n = rows.shape[0], m = out.shape[1], g = out.shape[0];
        for (Py_ssize_t i = 0; i < n; i++)
            if (idx[i] < 0 || idx[i] >= g) {
                PyErr_SetString(PyExc_IndexError, "max_rows: row out of range");
                goto done;
            }
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++) {
            uint8_t *restrict d = (uint8_t *)out.buf + idx[i] * m;
            const uint8_t *restrict s = (const uint8_t *)src.buf + i * src.strides[0];
            for (Py_ssize_t j = 0; j < m; j++) d[j] = d[j] > s[j] ? d[j] : s[j];
        }
        Py_END_ALLOW_THREADS
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&src);
    return result;
}

static PyMethodDef module_methods[] = {
    {"max_rows", m_max_rows, METH_VARARGS, "out[rows[i]] = max(out[rows[i]], src[i])"},
    {"hll_encode", m_hll_encode, METH_VARARGS, "HLL.encode of 4096 registers"},
    {"hash_str", m_hash_str, METH_VARARGS, "DuckDB's hash() of a VARCHAR"},
    {"hash_double", m_hash_double, METH_VARARGS, "DuckDB's hash() of a DOUBLE"},
    {"hash_combine", m_hash_combine, METH_VARARGS, "DuckDB's combination of column hashes"},
    {"md5_upper", m_md5_upper, METH_VARARGS, "DuckDB's md5_number_upper()"},
    {"parse_ts", m_parse_ts, METH_VARARGS, "epoch seconds of a timestamp the scanner reads, else None"},
    {"parse_ts_seq", m_parse_ts_seq, METH_O, "parse_ts of each string in order, with the scanner's prefix cache"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_scan", "Native scanner of the ingest hot path.", -1,
                                       module_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__scan(void) {
    if (PyType_Ready(&ScannerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    Py_INCREF(&ScannerType);
    TooManyNames = PyErr_NewException("_scan.TooManyNames", NULL, NULL);
    if (!TooManyNames) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(TooManyNames);
    if (PyModule_AddObject(m, "TooManyNames", TooManyNames) < 0 ||
        PyModule_AddStringConstant(m, "OVERFLOW_NAME", OVERFLOW_NAME) < 0 ||
        PyModule_AddObject(m, "Scanner", (PyObject *)&ScannerType) < 0 ||
        PyModule_AddObject(m, "NULL_HASH", PyLong_FromUnsignedLongLong(EHM_DUCK_NULL_HASH)) < 0 ||
        PyModule_AddIntConstant(m, "ROW_BYTES", (long)sizeof(Row)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
