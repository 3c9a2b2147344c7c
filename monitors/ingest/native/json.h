/* A strict, validating JSON scanner over one line (RFC 8259). Anything it does not accept makes the
 * caller hand the line to the DuckDB path, so being stricter than DuckDB is always safe. */
#ifndef EHM_JSON_H
#define EHM_JSON_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define J_OK 0
#define J_BAD -1 /* not something this scanner reads: the line goes to the DuckDB path */
#define J_MAX_DEPTH 64

typedef struct {
    const char *p;
    const char *end;
    int high; /* a string held a byte >= 0x80 (the caller validates UTF-8 then) */
} Cur;

/* Skips spaces and tabs. A CR is JSON whitespace too, but DuckDB's line reader ends a line at a
 * bare CR: a line holding one (other than its last byte, which the caller drops) is left to
 * DuckDB, so both readers see the same lines. ``\n`` never occurs inside a line. */
static inline void j_ws(Cur *c) {
    /* compact JSON has none: one test of the next byte settles it */
    if (__builtin_expect(c->p < c->end && (unsigned char)*c->p > ' ', 1)) return;
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static inline uint64_t j_haszero(uint64_t v) { return (v - ONES) & ~v & HIGHS; }

/* The value of 4 hex digits at p, or -1. */
static inline int32_t j_hex4(const char *p) {
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        if (h >= '0' && h <= '9') v = v << 4 | (h - '0');
        else if ((h | 0x20) >= 'a' && (h | 0x20) <= 'f') v = v << 4 | ((h | 0x20) - 'a' + 10);
        else return -1;
    }
    return v;
}

/* c->p at the opening quote. On success: *s, *n = the raw bytes between the quotes, *esc = 1 when
 * they hold an escape; c->p after the closing quote. Raw control characters are refused. Each step
 * finds the next quote, backslash or control character (16 bytes at a time, then 8, then 1) and
 * lands on it. */
static inline int j_string(Cur *c, const char **s, size_t *n, int *esc) {
    const char *p = c->p + 1, *end = c->end;
    int e = 0;
    *s = p;
    for (;;) {
#ifdef __SSE2__
        {
            const __m128i q = _mm_set1_epi8('"'), b = _mm_set1_epi8('\\'), lim = _mm_set1_epi8(0x1F);
            int hi = 0, m = 0;
            while (p + 16 <= end) {
                __m128i v = _mm_loadu_si128((const __m128i *)p);
                hi |= _mm_movemask_epi8(v);
                /* control characters: v <= 0x1F as unsigned bytes */
                __m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, lim), lim);
                m = _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, b)), ctl));
                if (m) break;
                p += 16;
            }
            if (hi) c->high = 1;
            if (m) {
                p += __builtin_ctz((unsigned)m);
                goto found;
            }
        }
#endif
        while (p + 8 <= end) {
            uint64_t v;
            memcpy(&v, p, 8);
            if (v & HIGHS) c->high = 1;
            /* the lowest flagged byte is exact (borrows only flag bytes above a true hit) */
            uint64_t hit = j_haszero(v ^ (ONES * '"')) | j_haszero(v ^ (ONES * '\\')) | ((v - ONES * 0x20) & ~v & HIGHS);
            if (hit) {
                p += __builtin_ctzll(hit) >> 3;
                goto found;
            }
            p += 8;
        }
        for (;; p++) {
            if (p >= end) return J_BAD;
            unsigned char ch = (unsigned char)*p;
            if (ch == '"' || ch == '\\' || ch < 0x20) break;
            if (ch >= 0x80) c->high = 1;
        }
    found:;
        unsigned char ch = (unsigned char)*p;
        if (ch == '"') break;
        if (ch != '\\') return J_BAD; /* a raw control character */
        e = 1;
        if (p + 1 >= end) return J_BAD;
        char x = p[1];
        if (x == 'u') {
            int32_t cp = p + 6 <= end ? j_hex4(p + 2) : -1;
            p += 6;
            /* DuckDB refuses lone surrogates (and we leave \u0000 to it) */
            if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) return J_BAD;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int32_t lo = p + 6 <= end && p[0] == '\\' && p[1] == 'u' ? j_hex4(p + 2) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) return J_BAD;
                p += 6;
            }
        } else if (x == '"' || x == '\\' || x == '/' || x == 'b' || x == 'f' || x == 'n' || x == 'r' || x == 't') {
            p += 2;
        } else {
            return J_BAD;
        }
    }
    *n = (size_t)(p - *s);
    *esc = e;
    c->p = p + 1;
    return J_OK;
}

/* Unescapes a string body validated by j_string (so surrogates come in pairs and there is no
 * \u0000) into out (capacity >= n bytes: UTF-8 of an escape is never longer than the escape).
 * Returns the length. */
static inline size_t j_unescape(const char *s, size_t n, char *out) {
    size_t i = 0, o = 0;
    while (i < n) {
        char ch = s[i];
        if (ch != '\\') {
            out[o++] = ch;
            i++;
            continue;
        }
        char x = s[i + 1];
        if (x != 'u') {
            out[o++] = x == 'b' ? '\b' : x == 'f' ? '\f' : x == 'n' ? '\n' : x == 'r' ? '\r' : x == 't' ? '\t' : x;
            i += 2;
            continue;
        }
        uint32_t cp = (uint32_t)j_hex4(s + i + 2);
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)j_hex4(s + i + 2) - 0xDC00);
            i += 6;
        }
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else if (cp < 0x800) {
            out[o++] = (char)(0xC0 | cp >> 6);
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[o++] = (char)(0xE0 | cp >> 12);
            out[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | cp >> 18);
            out[o++] = (char)(0x80 | (cp >> 12 & 0x3F));
            out[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return o;
}

/* Number kinds. */
#define N_INT 1   /* integer that fits comfortably in an int64 (at most 18 digits), not "-0" */
#define N_REAL 2  /* fraction or exponent */

/* c->p at '-' or a digit. Validates the grammar; *kind = N_INT or N_REAL (J_BAD for very long
 * integers and "-0", whose text DuckDB would rewrite). */
static inline int j_number(Cur *c, int *kind) {
    const char *p = c->p, *end = c->end, *start = p;
    if (p < end && *p == '-') p++;
    if (p >= end) return J_BAD;
    const char *digits = p;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') p++;
    } else {
        return J_BAD;
    }
    size_t nd = (size_t)(p - digits);
    int real = 0;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') return J_BAD;
        while (p < end && *p >= '0' && *p <= '9') p++;
        real = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return J_BAD;
        const char *ex = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p - ex > 3) return J_BAD; /* 1e400 and friends: DuckDB's call */
        real = 1;
    }
    if (!real) {
        if (nd > 18) return J_BAD;
        if (*start == '-' && nd == 1 && *digits == '0') return J_BAD;
    } else if (nd > 300) {
        return J_BAD;
    }
    *kind = real ? N_REAL : N_INT;
    c->p = p;
    return J_OK;
}

/* Whether the valid JSON real number s[0..n) (j_number's N_REAL) has a whole value, as the double
 * DuckDB reads from it (``x = floor(x)``, finite): 1 whole, 0 not, J_BAD when the text is too long
 * to judge here. JSON Schema counts such numbers (``1.0``, ``25.00``, ``1e2``) as integers. Decided
 * on the text (the fraction's digits past the exponent all zero); strtod settles the numbers the
 * double could round (more than 15 significant digits) or overflow. */
static inline int j_whole(const char *s, size_t n) {
    /* 29.99: a fraction ending in a non-zero digit, too short for the double to round it */
    if (n <= 16 && s[n - 1] != '0' && memchr(s, 'e', n) == NULL && memchr(s, 'E', n) == NULL) return 0;
    if (n > 400) return J_BAD;
    size_t i = s[0] == '-' ? 1 : 0, nint = 0, nfrac = 0, sig = 0, zeros = 0;
    int in_frac = 0, lead = 1;
    long ex = 0;
    for (; i < n; i++) {
        char ch = s[i];
        if (ch == '.') {
            in_frac = 1;
            continue;
        }
        if (ch == 'e' || ch == 'E') {
            ex = strtol(s + i + 1, NULL, 10); /* at most 3 digits (j_number) and a sign */
            break;
        }
        if (in_frac) nfrac++;
        else nint++;
        if (ch == '0') {
            zeros++; /* trailing zeros so far */
        } else {
            zeros = 0;
            lead = 0;
        }
        if (!lead) sig++;
    }
    if (lead) return 1; /* all zeros: 0.0, -0.0, 0e5 */
    int whole = (long)zeros >= (long)nfrac - ex;
    if ((!whole && sig > 15) || (whole && (long)nint + ex > 300)) {
        char buf[416];
        memcpy(buf, s, n);
        buf[n] = 0;
        double x = strtod(buf, NULL);
        return isfinite(x) && x == floor(x);
    }
    return whole;
}

/* After a member or an element: ',' (1: more follow, spaces skipped), ``close`` (0: done), else J_BAD. */
static inline int j_next(Cur *c, char close) {
    if (c->p >= c->end) return J_BAD;
    if (*c->p == ',') { /* compact JSON: the separator is the next byte, a key's quote after it */
        c->p++;
        if (!(c->p < c->end && *c->p == '"')) j_ws(c);
        return 1;
    }
    j_ws(c);
    if (c->p >= c->end) return J_BAD;
    if (*c->p == ',') {
        c->p++;
        j_ws(c);
        return 1;
    }
    if (*c->p == close) {
        c->p++;
        return 0;
    }
    return J_BAD;
}

static int j_skip(Cur *c, int depth);

static inline int j_lit(Cur *c, const char *lit, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0) return J_BAD;
    c->p += n;
    return J_OK;
}

/* Skips (and validates) one value; c->p at its first character. */
static int j_skip(Cur *c, int depth) {
    if (c->p >= c->end) return J_BAD;
    char ch = *c->p;
    const char *s;
    size_t n;
    int e, k;
    switch (ch) {
    case '"':
        return j_string(c, &s, &n, &e);
    case '{':
        if (depth >= J_MAX_DEPTH) return J_BAD;
        c->p++;
        j_ws(c);
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            return J_OK;
        }
        for (;;) {
            if (c->p >= c->end || *c->p != '"' || j_string(c, &s, &n, &e)) return J_BAD;
            j_ws(c);
            if (c->p >= c->end || *c->p != ':') return J_BAD;
            c->p++;
            j_ws(c);
            if (j_skip(c, depth + 1)) return J_BAD;
            int more = j_next(c, '}');
            if (more <= 0) return more;
        }
    case '[':
        if (depth >= J_MAX_DEPTH) return J_BAD;
        c->p++;
        j_ws(c);
        if (c->p < c->end && *c->p == ']') {
            c->p++;
            return J_OK;
        }
        for (;;) {
            if (j_skip(c, depth + 1)) return J_BAD;
            int more = j_next(c, ']');
            if (more <= 0) return more;
        }
    case 't':
        return j_lit(c, "true", 4);
    case 'f':
        return j_lit(c, "false", 5);
    case 'n':
        return j_lit(c, "null", 4);
    default:
        if (ch == '-' || (ch >= '0' && ch <= '9')) return j_number(c, &k);
        return J_BAD;
    }
}

/* Valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static inline int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char ch = s[i];
        if (ch < 0x80) {
            i++;
            continue;
        }
        if (ch >= 0xC2 && ch <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return 0;
            i += 2;
        } else if (ch >= 0xE0 && ch <= 0xEF) {
            if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) return 0;
            if (ch == 0xE0 && s[i + 1] < 0xA0) return 0;
            if (ch == 0xED && s[i + 1] >= 0xA0) return 0;
            i += 3;
        } else if (ch >= 0xF0 && ch <= 0xF4) {
            if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80)
                return 0;
            if (ch == 0xF0 && s[i + 1] < 0x90) return 0;
            if (ch == 0xF4 && s[i + 1] >= 0x90) return 0;
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

#endif
