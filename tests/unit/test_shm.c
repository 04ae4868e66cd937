/* test_shm.c - compressed models: every encoding round-trips (fp32 exactly,
 * fp16 and int8 within their quantization step), the mask survives, the
 * smallest encoding wins, and damaged files are refused. */
#include "sh_test.h"

#include "sh_prune.h"
#include "sh_shm.h"

#include <stdlib.h>
#include <string.h>

static sh_model_t *pruned(const char *arch, int c, int hw, double density, int layerwise)
{
    sh_model_t *m;
    if (sh_model_new(&m, arch, c, hw, hw, 10, NULL) != SH_OK)
        return NULL;
    sh_model_init(m, 8, 0);
    for (size_t i = 0; i < m->n_buffers; i++)
        m->buffers[i] = 0.5f + (float)(i % 7); /* batchnorm stats survive too */
    sh_prune_plan_t plan = {.method = SH_PRUNE_MAGNITUDE,
                            .scope = layerwise ? SH_SCOPE_LAYERWISE : SH_SCOPE_GLOBAL,
                            .density = density};
    sh_prune(m, &plan, NULL);
    return m;
}

static int round_trip(sh_model_t *m, sh_values_t v, size_t *bytes)
{
    sh_shm_meta_t meta = {.norm = {.c = m->in_c, .mean = {0.1f, 0.2f, 0.3f},
                                   .std = {0.5f, 0.6f, 0.7f}},
                          .test_accuracy = 0.875};
    snprintf(meta.job, sizeof meta.job, "%064d", 7);
    char *data;
    size_t len;
    sh_err_t err;
    CHECK(sh_shm_encode(m, &meta, v, &data, &len, &err) == SH_OK);
    /* Deterministic: the same model encodes to the same bytes. */
    char *again;
    size_t len2;
    CHECK(sh_shm_encode(m, &meta, v, &again, &len2, &err) == SH_OK);
    CHECK(len == len2 && memcmp(data, again, len) == 0);
    free(again);
    sh_model_t *back;
    sh_shm_meta_t out;
    CHECK_MSG(sh_shm_decode(&back, &out, data, len, &err) == SH_OK, "%s", err.msg);
    CHECK(out.norm.c == m->in_c && out.norm.std[0] == 0.5f && out.test_accuracy == 0.875);
    CHECK(!strcmp(out.job, meta.job) && strlen(out.sha256) == 64);
    CHECK(memcmp(back->buffers, m->buffers, sizeof(float) * m->n_buffers) == 0);
    for (int t = 0; t < m->n_tensors; t++) {
        const sh_tensor_t *tt = &m->tensors[t];
        /* The quantization step of this tensor's rows. */
        for (size_t i = 0; i < tt->numel; i++) {
            size_t p = tt->offset + i;
            float a = m->params[p], b = back->params[p];
            int alive = sh_mask_get(m->mask, p);
            if (!alive) {
                CHECK(b == 0.0f && !sh_mask_get(back->mask, p));
                continue;
            }
            double tol = v == SH_VAL_FP32 ? 0.0 : v == SH_VAL_FP16 ? 1e-3 * fabs(a) + 1e-7 : 0.0;
            if (v == SH_VAL_INT8 && tt->prunable) {
                size_t row_len = tt->numel / (size_t)tt->shape[0], r = i / row_len;
                float mx = 0;
                for (size_t k = 0; k < row_len; k++)
                    if (sh_mask_get(m->mask, tt->offset + r * row_len + k))
                        mx = fmaxf(mx, fabsf(m->params[tt->offset + r * row_len + k]));
                tol = 0.5 * mx / 127.0 * 1.01 + 1e-6;
                /* A weight that rounds to 0 becomes pruned. */
                if (b == 0.0f) {
                    CHECK(fabs(a) <= tol && !sh_mask_get(back->mask, p));
                    continue;
                }
            } else if (v == SH_VAL_INT8) {
                tol = 1e-3 * fabs(a) + 1e-7; /* non-prunable tensors are fp16 */
            }
            CHECK_MSG(fabs((double)a - b) <= tol, "%s[%zu] %.9g vs %.9g", tt->name, i, a, b);
            CHECK(sh_mask_get(back->mask, p) || b == 0.0f);
        }
    }
    *bytes = len;
    sh_shm_meta_free(&out);
    sh_model_destroy(&back);
    free(data);
    return 0;
}

SH_TEST(shm_round_trip_every_encoding)
{
    static const double densities[] = {1.0, 0.5, 0.2, 0.05, 0.01};
    static const char *const archs[] = {"lenet_300_100", "lenet5", "resnet20"};
    for (int a = 0; a < 3; a++)
        for (size_t d = 0; d < sizeof densities / sizeof densities[0]; d++) {
            sh_model_t *m = pruned(archs[a], a == 2 ? 3 : 1, a == 2 ? 16 : 28, densities[d], d % 2);
            CHECK(m != NULL);
            size_t sizes[3];
            for (int v = 0; v < 3; v++)
                CHECK_MSG(round_trip(m, (sh_values_t)v, &sizes[v]) == 0, "%s density %g %s",
                          archs[a], densities[d], sh_values_name((sh_values_t)v));
            /* Lower precision is never larger. */
            CHECK(sizes[2] <= sizes[1] && sizes[1] <= sizes[0]);
            sh_model_destroy(&m);
        }
    return 0;
}

SH_TEST(shm_picks_small_encodings)
{
    /* At 5% density with int8 values the file is a small fraction of dense fp32;
     * at full density the dense format wins and nothing is lost. */
    sh_model_t *m = pruned("lenet_300_100", 1, 28, 0.05, 0);
    sh_shm_meta_t meta = {.norm = {.c = 1, .mean = {0}, .std = {1}}, .test_accuracy = NAN};
    char *data;
    size_t len;
    CHECK(sh_shm_encode(m, &meta, SH_VAL_INT8, &data, &len, NULL) == SH_OK);
    double ratio = (double)sh_shm_dense_bytes(m) / (double)len;
    fprintf(stderr, "  lenet_300_100 5%% int8: %zu bytes, %.1fx smaller than dense fp32\n", len,
            ratio);
    CHECK(ratio > 30.0); /* random-init weights: trained ones compress better */
    sh_model_t *back;
    sh_shm_meta_t out;
    CHECK(sh_shm_decode(&back, &out, data, len, NULL) == SH_OK);
    int sparse_formats = 0;
    for (int i = 0; i < out.n_info; i++)
        sparse_formats += strcmp(out.info[i].format, "dense") != 0;
    CHECK(sparse_formats >= 2);
    sh_shm_meta_free(&out);
    sh_model_destroy(&back);
    free(data);
    sh_model_destroy(&m);
    return 0;
}

SH_TEST(shm_rejects_damaged_files)
{
    sh_model_t *m = pruned("lenet5", 1, 28, 0.1, 0);
    sh_shm_meta_t meta = {.norm = {.c = 1, .mean = {0}, .std = {1}}, .test_accuracy = NAN};
    char *data;
    size_t len;
    CHECK(sh_shm_encode(m, &meta, SH_VAL_INT8, &data, &len, NULL) == SH_OK);
    sh_model_t *back;
    sh_shm_meta_t out;
    sh_err_t err;
    for (size_t cut = 0; cut < len; cut += len / 101 + 1) {
        CHECK(sh_shm_decode(&back, &out, data, cut, &err) == SH_EFORMAT);
        CHECK(back == NULL);
    }
    /* Any flipped byte past the header (tensors, statistics, checksum) is
     * caught: by the checksum, a size or bounds check, or the parser. */
    for (size_t at = len / 3; at < len; at += len / 57 + 1) {
        data[at] ^= 0x5a;
        CHECK_MSG(sh_shm_decode(&back, &out, data, len, &err) == SH_EFORMAT,
                  "flip at %zu of %zu accepted", at, len);
        data[at] ^= 0x5a;
    }
    char *mg = memmem(data, len, "shears-model", 12);
    CHECK(mg);
    mg[0] = 'S';
    CHECK(sh_shm_decode(&back, &out, data, len, &err) == SH_EFORMAT);
    CHECK(strstr(err.msg, "magic") != NULL);
    mg[0] = 's';
    CHECK(sh_shm_decode(&back, &out, "\x81\xa5magic\xa3xyz", 11, &err) == SH_EFORMAT);
    CHECK(sh_shm_load(&back, &out, "/nonexistent.shm", &err) == SH_EIO);
    free(data);
    sh_model_destroy(&m);
    return 0;
}

SH_TEST(shm_half_precision_conversions)
{
    /* Every binary16 value survives the round trip (NaNs stay NaN). */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = sh_half_to_float((uint16_t)h);
        if (isnan(f)) {
            CHECK(isnan(sh_half_to_float(sh_half_from_float(f))));
            continue;
        }
        CHECK_MSG(sh_half_from_float(f) == (uint16_t)h, "0x%04x", h);
    }
    /* Known values and rounding to nearest, ties to even. */
    CHECK(sh_half_from_float(1.0f) == 0x3c00 && sh_half_from_float(-2.0f) == 0xc000);
    CHECK(sh_half_from_float(65504.0f) == 0x7bff && sh_half_from_float(65520.0f) == 0x7c00);
    CHECK(sh_half_from_float(65519.0f) == 0x7bff);
    CHECK(sh_half_from_float(1.0f + 1.0f / 2048) == 0x3c00);            /* tie: even */
    CHECK(sh_half_from_float(1.0f + 3.0f / 2048) == 0x3c02);            /* tie: even */
    CHECK(sh_half_from_float(5.960464477539063e-08f) == 0x0001);        /* smallest subnormal */
    CHECK(sh_half_from_float(2.9e-08f) == 0x0000 && sh_half_from_float(3.0e-08f) == 0x0001);
    CHECK(sh_half_to_float(0x3555) == 0.333251953125f);
    return 0;
}
