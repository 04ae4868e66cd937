/* sh_rng.c - xoshiro256** seeded through splitmix64 (Vigna's published
 * constants), plus the helpers built on it. */
#include "sh_rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sh_mix64(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ rotl(b, 23) ^ 0x6a09e667f3bcc909ULL;
    (void)splitmix64(&x);
    return splitmix64(&x);
}

void sh_rng_seed(sh_rng_t *rng, uint64_t seed, uint64_t stream)
{
    uint64_t x = sh_mix64(seed, stream);
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

uint64_t sh_rng_next(sh_rng_t *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float sh_rng_uniform(sh_rng_t *rng)
{
    return (float)(sh_rng_next(rng) >> 40) * (1.0f / 16777216.0f);
}

uint32_t sh_rng_below(sh_rng_t *rng, uint32_t n)
{
    /* Lemire's multiply-shift with rejection of the biased low range. */
    uint64_t m = (uint64_t)(uint32_t)(sh_rng_next(rng) >> 32) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = -n % n;
        while (low < threshold) {
            m = (uint64_t)(uint32_t)(sh_rng_next(rng) >> 32) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float sh_rng_normal(sh_rng_t *rng)
{
    /* u1 in (0, 1] so log() is finite. */
    double u1 = ((double)(sh_rng_next(rng) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(sh_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void sh_permutation(int32_t *perm, int32_t n, uint64_t seed, uint64_t stream)
{
    sh_rng_t rng;
    sh_rng_seed(&rng, seed, stream);
    for (int32_t i = 0; i < n; i++)
        perm[i] = i;
    for (int32_t i = n - 1; i > 0; i--) {
        int32_t j = (int32_t)sh_rng_below(&rng, (uint32_t)i + 1);
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
