/* sh_shm.h - compressed models (.shm): what a pruned network costs to ship.
 *
 * Each prunable tensor is stored in whichever encoding is smallest for it:
 * dense, bitmask + packed values, or "csr" (positions as relative deltas in
 * row-major order, in the narrowest index width that fits, with filler
 * entries where a gap overflows the width); values as fp32, fp16, or int8
 * with a per-output-channel scale; each blob optionally deflated. Biases and
 * batchnorm are stored dense. docs/FORMAT.md specifies every field; a SHA-256
 * of the payload guards against corruption. */
#ifndef SH_SHM_H
#define SH_SHM_H

#include "sh_data.h"
#include "sh_model.h"

#define SH_SHM_MAGIC "shears-model"
#define SH_SHM_VERSION 1
#define SH_SHM_MAX_BYTES ((size_t)2 << 30)
#define SH_SHM_MAX_PARAMS ((size_t)1 << 28) /* 1 GiB of float32 */

typedef enum { SH_VAL_FP32 = 0, SH_VAL_FP16, SH_VAL_INT8 } sh_values_t;

const char *sh_values_name(sh_values_t v);
int sh_values_parse(const char *name, sh_values_t *out);

/* Per-tensor outcome of encoding (for `shears inspect` and metrics). */
typedef struct {
    char name[64];
    char format[8];      /* "dense", "bitmask", "csr" */
    int index_bits;      /* csr: 4, 8 or 16 */
    int deflate;
    sh_values_t values;
    uint64_t numel, alive, bytes;
} sh_shm_tensor_info_t;

typedef struct {
    sh_norm_t norm;
    char job[65];           /* optional provenance */
    double test_accuracy;   /* optional, NAN if unknown */
    /* filled by decode / inspect */
    char sha256[65];
    int n_info;
    sh_shm_tensor_info_t *info;
} sh_shm_meta_t;

/* Encodes model m (weights, mask, batchnorm statistics) with the given
 * value precision into a malloc'd buffer. */
sh_status_t sh_shm_encode(const sh_model_t *m, const sh_shm_meta_t *meta, sh_values_t values,
                          char **data, size_t *len, sh_err_t *err);
sh_status_t sh_shm_save(const sh_model_t *m, const sh_shm_meta_t *meta, sh_values_t values,
                        const char *path, size_t *bytes, sh_err_t *err);

/* Decodes untrusted bytes into a model ready for inference (mask set from
 * the stored entries, pruned weights zero). Checks magic, version, the
 * architecture's tensor shapes, every size and index against its tensor,
 * and the payload SHA-256. meta->info is malloc'd (sh_shm_meta_free). */
sh_status_t sh_shm_decode(sh_model_t **out, sh_shm_meta_t *meta, const void *data, size_t len,
                          sh_err_t *err);
sh_status_t sh_shm_load(sh_model_t **out, sh_shm_meta_t *meta, const char *path, sh_err_t *err);
void sh_shm_meta_free(sh_shm_meta_t *meta);

/* IEEE binary16 conversions (round to nearest even), as stored in .shm. */
uint16_t sh_half_from_float(float f);
float sh_half_to_float(uint16_t h);

/* Size of the same model as a dense fp32 .shm (the reference for
 * compression ratios). */
size_t sh_shm_dense_bytes(const sh_model_t *m);

#endif
