/*
 * duckhash.h - bit-exact C99 re-implementations of values DuckDB 2.0.1 computes in SQL.
 *
 *   ehm_duck_hash_bytes(p, n)  == hash(x)             for a VARCHAR x whose UTF-8 bytes are p[0..n)
 *   ehm_duck_hash_double(v)    == hash(v::DOUBLE)     (-0.0 hashes as 0.0, every NaN as the canonical NaN)
 *   EHM_DUCK_NULL_HASH         == hash(NULL)          (same for every type: NULL::VARCHAR, NULL::DOUBLE, ...)
 *   ehm_duck_combine(acc, h)   folds one more argument into a multi-argument hash, left to right:
 *       hash(a)          == H(a)
 *       hash(a, b)       == ehm_duck_combine(H(a), H(b))
 *       hash(a, b, c)    == ehm_duck_combine(ehm_duck_combine(H(a), H(b)), H(c))
 *     where H(x) is ehm_duck_hash_bytes / ehm_duck_hash_double, or EHM_DUCK_NULL_HASH when x is NULL
 *     (a NULL argument does not make the result NULL; it contributes the NULL hash). Not commutative.
 *   ehm_md5_number_upper(p, n) == md5_number_upper(x) (UBIGINT): digest bytes 0..7 read as a
 *     little-endian integer (despite the name, these are the FIRST eight bytes of the MD5 digest).
 *
 * Where the formulas come from (DuckDB source):
 *   src/include/duckdb/common/types/hash.hpp      MurmurHash64 finaliser (below: ehm__duck_mix64)
 *   src/common/types/hash.cpp                     Hash(double) (FloatingPointEqualityTransform, then
 *                                                 MurmurHash64 of the bits); HashBytes / Hash(string_t)
 *   src/common/vector_operations/vector_hash.cpp  HashOp::NULL_HASH, CombineHashScalar
 *   src/common/types/data_chunk.cpp               DataChunk::Hash: Hash(col 0), then CombineHash per column
 *   core_functions scalar/generic/hash.cpp        hash(...) = args.Hash(result)
 *   core_functions scalar/string/md5.cpp          MD5Number64Operator<false>: Load<uint64_t>(&digest[0])
 * DuckDB inlines strings of <= 12 bytes (string_t) and hashes them on a separate branchless path; that
 * path is asserted in DuckDB to equal HashBytes, and the parity tests confirm it, so one routine serves
 * every length here. DuckDB reads words in host order; this header reads them as little-endian, which is
 * what DuckDB does on every little-endian host (x86-64, arm64).
 *
 * Only <stdint.h> and <string.h>. No allocation, no global state; safe to include in several
 * translation units (everything is static inline). The code itself uses bit tests (no isnan, no float ==),
 * so its results do not change under -ffast-math; but see ehm_duck_hash_double about such builds.
 */
#ifndef EHM_DUCKHASH_H
#define EHM_DUCKHASH_H

#include <stdint.h>
#include <string.h>

#define EHM_DUCK_NULL_HASH UINT64_C(0xbf58476d1ce4e5b9) /* 13787848793156543929 */

#define EHM__DUCK_MUL UINT64_C(0xd6e8feb86659fd93)

/* MurmurHash64 in DuckDB (a splitmix/murmur-style finaliser). */
static inline uint64_t ehm__duck_mix64(uint64_t x) {
    x ^= x >> 32;
    x *= EHM__DUCK_MUL;
    x ^= x >> 32;
    x *= EHM__DUCK_MUL;
    x ^= x >> 32;
    return x;
}

/* k (0..8) bytes at p as a little-endian integer, missing high bytes zero. */
static inline uint64_t ehm__load_le(const unsigned char *p, size_t k) {
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v = 0;
    memcpy(&v, p, k);
    return v;
#else
    uint64_t v = 0;
    while (k > 0) {
        k--;
        v = (v << 8) | p[k];
    }
    return v;
#endif
}

/* hash(VARCHAR): seed from the length, xor-multiply 8-byte little-endian words (the last one
 * zero-padded), then MurmurHash64. */
static inline uint64_t ehm_duck_hash_bytes(const char *p, size_t n) {
    const unsigned char *u = (const unsigned char *)p;
    uint64_t h = UINT64_C(0xe17a1465) ^ ((uint64_t)n * UINT64_C(0xc6a4a7935bd1e995));
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        h ^= ehm__load_le(u + i, 8);
        h *= EHM__DUCK_MUL;
    }
    if (i < n) {
        h ^= ehm__load_le(u + i, n - i);
        h *= EHM__DUCK_MUL;
    }
    return ehm__duck_mix64(h);
}

/* hash(DOUBLE): -0.0 -> +0.0, any NaN -> 0x7ff8000000000000 (std::numeric_limits<double>::quiet_NaN),
 * then MurmurHash64 of the IEEE-754 bits. Subnormals keep their bits, as in DuckDB under the default
 * floating-point mode. Do not link anything built with -ffast-math/-Ofast into the process: GCC then
 * sets flush-to-zero/denormals-are-zero for the whole process, and DuckDB's own `val == 0.0` test starts
 * hashing every subnormal as 0.0, so DuckDB itself would disagree with this function. */
static inline uint64_t ehm_duck_hash_double(double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    if ((bits << 1) == 0) { /* +0.0 or -0.0; bit tests stay exact under -ffast-math */
        bits = 0;
    } else if ((bits & UINT64_C(0x7ff0000000000000)) == UINT64_C(0x7ff0000000000000) &&
               (bits & UINT64_C(0x000fffffffffffff)) != 0) {
        bits = UINT64_C(0x7ff8000000000000);
    }
    return ehm__duck_mix64(bits);
}

/* CombineHashScalar: half a MurmurHash round on the accumulator, then xor the next argument's hash. */
static inline uint64_t ehm_duck_combine(uint64_t acc, uint64_t next) {
    acc ^= acc >> 32;
    acc *= EHM__DUCK_MUL;
    return acc ^ next;
}

/* ---- MD5 (RFC 1321), written from the RFC's description ---------------------------------------- */

static inline uint32_t ehm__rotl32(uint32_t x, unsigned c) {
    return (x << c) | (x >> (32U - c));
}

static inline void ehm__md5_block(uint32_t st[4], const unsigned char *blk) {
    static const uint32_t K[64] = {
        0xd76aa478U, 0xe8c7b756U, 0x242070dbU, 0xc1bdceeeU, 0xf57c0fafU, 0x4787c62aU, 0xa8304613U, 0xfd469501U,
        0x698098d8U, 0x8b44f7afU, 0xffff5bb1U, 0x895cd7beU, 0x6b901122U, 0xfd987193U, 0xa679438eU, 0x49b40821U,
        0xf61e2562U, 0xc040b340U, 0x265e5a51U, 0xe9b6c7aaU, 0xd62f105dU, 0x02441453U, 0xd8a1e681U, 0xe7d3fbc8U,
        0x21e1cde6U, 0xc33707d6U, 0xf4d50d87U, 0x455a14edU, 0xa9e3e905U, 0xfcefa3f8U, 0x676f02d9U, 0x8d2a4c8aU,
        0xfffa3942U, 0x8771f681U, 0x6d9d6122U, 0xfde5380cU, 0xa4beea44U, 0x4bdecfa9U, 0xf6bb4b60U, 0xbebfbc70U,
        0x289b7ec6U, 0xeaa127faU, 0xd4ef3085U, 0x04881d05U, 0xd9d4d039U, 0xe6db99e5U, 0x1fa27cf8U, 0xc4ac5665U,
        0xf4292244U, 0x432aff97U, 0xab9423a7U, 0xfc93a039U, 0x655b59c3U, 0x8f0ccc92U, 0xffeff47dU, 0x85845dd1U,
        0x6fa87e4fU, 0xfe2ce6e0U, 0xa3014314U, 0x4e0811a1U, 0xf7537e82U, 0xbd3af235U, 0x2ad7d2bbU, 0xeb86d391U,
    };
    static const unsigned char S[16] = {7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21};
    uint32_t m[16];
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
    unsigned i;
    for (i = 0; i < 16; i++) {
        const unsigned char *q = blk + 4 * i;
        m[i] = (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) | ((uint32_t)q[3] << 24);
    }
    for (i = 0; i < 64; i++) {
        uint32_t f;
        unsigned g;
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) & 15;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) & 15;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) & 15;
        }
        f += a + K[i] + m[g];
        a = d;
        d = c;
        c = b;
        b += ehm__rotl32(f, S[((i >> 4) << 2) | (i & 3)]);
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
}

/* The four MD5 state words after the whole message; the digest is their little-endian bytes. */
static inline void ehm__md5_state(const char *p, size_t n, uint32_t st[4]) {
    const unsigned char *u = (const unsigned char *)p;
    unsigned char tail[128];
    uint64_t bits = (uint64_t)n * 8U;
    size_t full = n & ~(size_t)63, rest = n - full, padded, i;
    st[0] = 0x67452301U;
    st[1] = 0xefcdab89U;
    st[2] = 0x98badcfeU;
    st[3] = 0x10325476U;
    for (i = 0; i < full; i += 64) {
        ehm__md5_block(st, u + i);
    }
    padded = rest < 56 ? 64 : 128;
    memset(tail, 0, sizeof tail);
    if (rest > 0) {
        memcpy(tail, u + full, rest);
    }
    tail[rest] = 0x80;
    for (i = 0; i < 8; i++) {
        tail[padded - 8 + i] = (unsigned char)(bits >> (8 * i));
    }
    ehm__md5_block(st, tail);
    if (padded == 128) {
        ehm__md5_block(st, tail + 64);
    }
}

/* md5_number_upper(x): digest bytes 0..7 as a little-endian UBIGINT, i.e. state words A | B << 32. */
static inline uint64_t ehm_md5_number_upper(const char *p, size_t n) {
    uint32_t st[4];
    ehm__md5_state(p, n, st);
    return (uint64_t)st[0] | ((uint64_t)st[1] << 32);
}

#endif /* EHM_DUCKHASH_H */
