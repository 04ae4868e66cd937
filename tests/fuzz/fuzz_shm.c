/* fuzz_shm.c - libFuzzer target for the compressed-model decoder
 * (core/sh_shm.h).
 *
 * Any input must decode or fail with SH_EFORMAT, a message and nothing left
 * allocated. The payload SHA-256 is compared only after every tensor has
 * been decoded, so mutated files still reach each encoding's decoder (dense,
 * bitmask, csr, rice; fp32, fp16, int8; deflated or not). A decoded model
 * must have no mask bits in the padding between tensors and zeros wherever
 * the mask is clear. Seeds: lenet5 at several densities and precisions, from
 * fuzz_gen_seeds. */
#include "sh_shm.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_model(const sh_model_t *m)
{
    size_t words = sh_mask_words(m->n_params);
    uint64_t *live = calloc(words ? words : 1, sizeof *live);
    if (!live)
        abort();
    for (int t = 0; t < m->n_tensors; t++)
        for (size_t i = 0; i < m->tensors[t].numel; i++)
            sh_mask_set(live, m->tensors[t].offset + i);
    for (size_t w = 0; w < words; w++)
        if (m->mask[w] & ~live[w])
            abort();
    free(live);
    for (size_t i = 0; i < m->n_params; i++)
        if (!sh_mask_get(m->mask, i) && m->params[i] != 0.0f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sh_model_t *m = NULL;
    sh_shm_meta_t meta;
    memset(&meta, 0, sizeof meta);
    sh_err_t err = {{0}};
    sh_status_t st = sh_shm_decode(&m, &meta, data, size, &err);
    if (st == SH_OK) {
        if (!m)
            abort();
        check_model(m);
        sh_model_destroy(&m);
        sh_shm_meta_free(&meta);
    } else if (m || meta.info || !err.msg[0] || st == SH_ENOMEM) {
        fprintf(stderr, "failed decode left state behind or no message\n");
        abort();
    }
    return 0;
}
