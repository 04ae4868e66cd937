/* sh_rng.h - deterministic random numbers.
 *
 * Every random choice in shears (initialization, shuffling, augmentation,
 * random pruning) comes from a generator seeded by (seed, stream), where the
 * stream names the purpose and position (e.g. "shuffle, epoch 7"). Randomness
 * is therefore a pure function of the job's seed and the training step, which
 * is what makes a resumed checkpoint bit-identical to an uninterrupted run. */
#ifndef SH_RNG_H
#define SH_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4]; /* xoshiro256** state */
} sh_rng_t;

/* Mixes two words into one (splitmix64 finalizer over a ^ rotated b). */
uint64_t sh_mix64(uint64_t a, uint64_t b);

/* Seeds rng from a seed and a stream id; distinct streams are independent. */
void sh_rng_seed(sh_rng_t *rng, uint64_t seed, uint64_t stream);

uint64_t sh_rng_next(sh_rng_t *rng);
/* Uniform in [0, 1) with 24 random bits. */
float sh_rng_uniform(sh_rng_t *rng);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint32_t sh_rng_below(sh_rng_t *rng, uint32_t n);
/* Standard normal (Box-Muller, one draw per call, no hidden cache). */
float sh_rng_normal(sh_rng_t *rng);

/* Fills perm with a uniformly random permutation of 0..n-1 determined by
 * (seed, stream) alone (Fisher-Yates). */
void sh_permutation(int32_t *perm, int32_t n, uint64_t seed, uint64_t stream);

/* Stream ids: purpose tag in the high byte, index below. */
#define SH_STREAM(tag, index) (((uint64_t)(tag) << 56) ^ (uint64_t)(index))
enum {
    SH_STREAM_INIT = 1,     /* weight initialization, index = tensor */
    SH_STREAM_SHUFFLE = 2,  /* epoch order, index = epoch (+ job salt) */
    SH_STREAM_AUGMENT = 3,  /* augmentation, index = global step */
    SH_STREAM_PRUNE = 4,    /* random pruning, index = round */
    SH_STREAM_SPLIT = 5,    /* validation split */
    SH_STREAM_TEST = 6,     /* tests and synthetic data */
};

#endif
