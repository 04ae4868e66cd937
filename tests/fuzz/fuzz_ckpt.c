/* fuzz_ckpt.c - libFuzzer target for the checkpoint decoder.
 *
 * Any input must decode or fail with SH_EFORMAT and nothing allocated. A
 * decoded checkpoint must carry a model whose mask has no bits in the
 * padding between tensors, and must encode again without trouble. The CRC
 * covers only the blobs, so mutations of the header keep reaching the
 * success path; the seeds (tests/fuzz/corpus/ckpt, written by
 * fuzz_gen_seeds) supply valid blobs. Run with -max_len=2000000. */
#include "sh_ckpt.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_model(const sh_model_t *m, const sh_ckpt_meta_t *meta)
{
    size_t words = sh_mask_words(m->n_params);
    uint64_t *live = calloc(words ? words : 1, sizeof *live);
    if (!live)
        abort();
    for (int t = 0; t < m->n_tensors; t++)
        for (size_t i = 0; i < m->tensors[t].numel; i++)
            sh_mask_set(live, m->tensors[t].offset + i);
    for (size_t w = 0; w < words; w++)
        if (m->mask[w] & ~live[w]) {
            fprintf(stderr, "mask word %zu has bits outside every tensor\n", w);
            abort();
        }
    free(live);
    if (m->step < 0 || m->opt_steps < 0 || meta->epoch < 0)
        abort();

    char *data = NULL;
    size_t len = 0;
    sh_err_t err = {{0}};
    if (sh_ckpt_encode(m, meta, &data, &len, &err) != SH_OK || !data || len == 0)
        abort();
    free(data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sh_model_t *m = NULL;
    sh_ckpt_meta_t meta;
    sh_err_t err = {{0}};
    sh_status_t st = sh_ckpt_decode(&m, &meta, data, size, &err);
    if (st == SH_OK) {
        if (!m)
            abort();
        check_model(m, &meta);
        sh_model_destroy(&m);
        sh_ckpt_meta_clear(&meta);
    } else if (m || meta.hparams || !err.msg[0] || st == SH_ENOMEM) {
        fprintf(stderr, "failed decode left state behind or no message\n");
        abort();
    }
    return 0;
}
