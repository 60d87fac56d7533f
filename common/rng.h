/*
 * common/rng.h — a small deterministic pseudo-random generator for data
 * generators, benchmarks and tests: xoshiro256** (Blackman and Vigna),
 * its state seeded through splitmix64. The same seed gives the same stream
 * on every machine (integer arithmetic only; st_rng_unit is exact). Not
 * for anything secret. Header only; a generator belongs to one thread.
 */
#ifndef ST_COMMON_RNG_H
#define ST_COMMON_RNG_H

#include <stdint.h>

typedef struct st_rng { uint64_t s[4]; } st_rng;

/* splitmix64: the next value of the sequence kept in *x (also a fine
 * generator on its own for tests that want one 64-bit state). */
static inline uint64_t st_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t st_rng__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t st_rng_next(st_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = st_rng__rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = st_rng__rotl(s[3], 45);
    return out;
}

/* Independent streams of one seed (a host, a unit, a series each). */
static inline void st_rng_seed(st_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (0xD1B54A32D192ED03ULL * (stream + 1));
    for (int i = 0; i < 4; i++) r->s[i] = st_splitmix64(&x);
}

/* Uniform in [0, 1), 53 random bits. */
static inline double st_rng_unit(st_rng *r) { return (double)(st_rng_next(r) >> 11) * 0x1.0p-53; }

/* Uniform in [0, n), n < 2^32 (multiply-shift; the bias is below 2^-32). */
static inline uint32_t st_rng_below(st_rng *r, uint32_t n)
{
    return (uint32_t)(((st_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

#endif
