/* sh_data.h - labelled image datasets: loading (IDX, CIFAR-10 binary),
 * normalization, deterministic batching and augmentation.
 *
 * Images are kept as uint8 in NCHW order and converted to normalized floats
 * one batch at a time, so Fashion-MNIST costs 47 MB instead of 188 MB. */
#ifndef SH_DATA_H
#define SH_DATA_H

#include "sh_common.h"

#include <stdint.h>

#define SH_DATA_MAX_CHANNELS 3

typedef struct {
    int32_t n;          /* samples */
    int32_t c, h, w;    /* per-sample shape */
    int32_t n_classes;  /* labels are in [0, n_classes) */
    uint8_t *images;    /* n * c * h * w bytes, NCHW */
    uint8_t *labels;    /* n bytes */
} sh_dataset_t;

/* Per-channel normalization: x = (pixel / 255 - mean[c]) / std[c]. */
typedef struct {
    int32_t c;
    float mean[SH_DATA_MAX_CHANNELS];
    float std[SH_DATA_MAX_CHANNELS];
} sh_norm_t;

/* Loads an IDX image file (magic 0x00000803, uint8, 3 dims) and an IDX label
 * file (0x00000801) as one dataset. Either file may be gzip-compressed
 * (detected from content, not the name). Returns SH_EIO if a file cannot be
 * opened, SH_EFORMAT on a bad magic, inconsistent counts, labels >= 10 or a
 * truncated file; the message names the file. On failure *out is left empty. */
sh_status_t sh_dataset_load_idx(sh_dataset_t *out, const char *images_path,
                                const char *labels_path, sh_err_t *err);

/* Loads CIFAR-10 binary batches (records of 1 label byte + 3072 pixel bytes)
 * from the given files, concatenated in order. */
sh_status_t sh_dataset_load_cifar10(sh_dataset_t *out, const char *const *paths,
                                    int n_paths, sh_err_t *err);

/* Loads a named dataset's train and test splits from a directory:
 *   "mnist", "fashion-mnist": {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
 *   "cifar10": data_batch_{1..5}.bin and test_batch.bin, directly in dir or in
 *              dir/cifar-10-batches-bin/.
 * Returns SH_ENOTFOUND for an unknown name or missing files. */
sh_status_t sh_dataset_load_dir(const char *name, const char *dir,
                                sh_dataset_t *train, sh_dataset_t *test,
                                sh_err_t *err);

void sh_dataset_free(sh_dataset_t *d);

/* Moves the last `count` samples of the order given by
 * sh_permutation(seed, SH_STREAM_SPLIT) out of `train` into `val`. */
sh_status_t sh_dataset_split(sh_dataset_t *train, sh_dataset_t *val,
                             int32_t count, uint64_t seed, sh_err_t *err);

/* Mean and standard deviation per channel over all pixels of d. */
void sh_norm_compute(sh_norm_t *norm, const sh_dataset_t *d);

/* Augmentations, applied per sample i of a batch with randomness from
 * sh_rng_seed(seed, SH_STREAM(SH_STREAM_AUGMENT, step * 65536 + i)), so the
 * result does not depend on the thread count (batches hold <= 65536). */
enum {
    SH_AUG_NONE = 0,
    SH_AUG_CROP = 1, /* pad by 4 with zeros (after normalization), random crop */
    SH_AUG_FLIP = 2, /* horizontal flip with probability 1/2 */
};

/* Writes B normalized samples, taken at indices idx[0..B), into
 * x (B, c, h, w) and their labels into y. Augmentation flags as above; seed
 * and step select the randomness. Parallel over samples (OpenMP), results do
 * not depend on the thread count. */
void sh_batch_fill(const sh_dataset_t *d, const int32_t *idx, int32_t B,
                   const sh_norm_t *norm, int aug, uint64_t seed, uint64_t step,
                   float *x, int32_t *y);

#endif
