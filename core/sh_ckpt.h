/* sh_ckpt.h - checkpoints: the complete training state of a model.
 *
 * A checkpoint holds the architecture and input shape, every parameter, the
 * mask, batchnorm running statistics, optimizer state, the step counter, the
 * seed and the hyperparameters of the job that wrote it. All randomness in
 * shears is a function of (seed, step) (see sh_rng.h), so (seed, step) is the
 * complete RNG state, and training on from a loaded checkpoint is
 * bit-identical to never having stopped. Layout: docs/FORMAT.md. */
#ifndef SH_CKPT_H
#define SH_CKPT_H

#include "sh_data.h"
#include "sh_model.h"
#include "sh_optim.h"

#define SH_CKPT_MAGIC "shears-checkpoint"
#define SH_CKPT_VERSION 1
#define SH_CKPT_MAX_BYTES ((size_t)4 << 30)

typedef struct {
    uint64_t seed;
    int epoch;              /* schedule epochs completed */
    sh_opt_kind_t opt;      /* optimizer whose state is saved (0: none) */
    char *hparams;          /* job parameters as JSON; owned, may be NULL */
    int has_norm;           /* the input normalization the model was trained with */
    sh_norm_t norm;
} sh_ckpt_meta_t;

/* Serializes model + meta into a malloc'd buffer. */
sh_status_t sh_ckpt_encode(const sh_model_t *m, const sh_ckpt_meta_t *meta,
                           char **data, size_t *len, sh_err_t *err);

/* Writes a checkpoint atomically (temp file, fsync, rename). */
sh_status_t sh_ckpt_save(const sh_model_t *m, const sh_ckpt_meta_t *meta,
                         const char *path, sh_err_t *err);

/* Decodes a checkpoint from untrusted bytes: builds the model named in it
 * and fills its state. Returns SH_EFORMAT (with what was wrong) on a bad
 * magic, an unsupported version, a tensor table that does not match the
 * architecture, wrong blob sizes, a checksum mismatch or any malformed
 * msgpack; nothing is allocated then. meta->hparams is malloc'd. */
sh_status_t sh_ckpt_decode(sh_model_t **out, sh_ckpt_meta_t *meta, const void *data,
                           size_t len, sh_err_t *err);

sh_status_t sh_ckpt_load(sh_model_t **out, sh_ckpt_meta_t *meta, const char *path,
                         sh_err_t *err);

void sh_ckpt_meta_clear(sh_ckpt_meta_t *meta);

#endif
