/* test_sparse.c - sparse kernels against their naive references, and the
 * sparse training path of whole models against the dense path. */
#include "sh_test.h"

#include "sh_model.h"
#include "sh_optim.h"
#include "sh_prune.h"
#include "sh_rng.h"
#include "sh_sparse.h"

#include <stdlib.h>
#include <string.h>

static float *rnd(size_t n, uint64_t stream)
{
    sh_rng_t rng;
    sh_rng_seed(&rng, 3, SH_STREAM(SH_STREAM_TEST, stream));
    float *v = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        v[i] = sh_rng_normal(&rng);
    return v;
}

static int close_arrays(const float *a, const float *b, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > tol * (1.0 + fabs((double)b[i]))) {
            fprintf(stderr, "  [%zu] %.7g vs %.7g\n", i, a[i], b[i]);
            return 0;
        }
    return 1;
}

static int kernel_case(int rows, int cols, int n, double density)
{
    size_t nw = (size_t)rows * cols;
    float *w = rnd(nw, 1);
    uint64_t *mask = calloc((nw + 63) / 64 + 1, sizeof(uint64_t));
    sh_rng_t rng;
    sh_rng_seed(&rng, 9, 9);
    for (size_t i = 0; i < nw; i++)
        if (sh_rng_uniform(&rng) < density)
            mask[i >> 6] |= (uint64_t)1 << (i & 63);
        else
            w[i] = 0.0f;
    sh_csr_t a;
    CHECK(sh_csr_build(&a, w, mask, 0, rows, cols) == 0);
    /* Structure: CSR and its transpose list the same entries. */
    CHECK(a.row_ptr[rows] == a.nnz && a.t_ptr[cols] == a.nnz);
    for (int c = 0; c < cols; c++)
        for (int32_t q = a.t_ptr[c]; q < a.t_ptr[c + 1]; q++)
            CHECK(a.col[a.t_pos[q]] == c);
    float *x = rnd((size_t)cols * n, 2), *dy = rnd((size_t)rows * n, 3);
    float *y1 = rnd((size_t)rows * n, 4), *y2 = malloc(sizeof(float) * (size_t)rows * n);
    memcpy(y2, y1, sizeof(float) * (size_t)rows * n);
    sh_spmm(y1, &a, x, n, 1);
    sh_spmm_ref(y2, &a, x, n, 1);
    CHECK(close_arrays(y1, y2, (size_t)rows * n, 1e-5));
    sh_spmm(y1, &a, x, n, 0);
    sh_spmm_ref(y2, &a, x, n, 0);
    CHECK(close_arrays(y1, y2, (size_t)rows * n, 1e-5));
    /* Against the dense product too. */
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int c = 0; c < cols; c++)
                acc += (double)w[(size_t)r * cols + c] * x[(size_t)c * n + j];
            CHECK_CLOSE(y1[(size_t)r * n + j], acc, 1e-4, 1e-4);
        }
    float *t1 = calloc((size_t)cols * n, sizeof(float)), *t2 = calloc((size_t)cols * n, sizeof(float));
    sh_spmm_t(t1, &a, dy, n);
    sh_spmm_t_ref(t2, &a, dy, n);
    CHECK(close_arrays(t1, t2, (size_t)cols * n, 1e-5));
    float *g1 = calloc((size_t)a.nnz + 1, sizeof(float)), *g2 = calloc((size_t)a.nnz + 1, sizeof(float));
    sh_sddmm(g1, &a, dy, x, n);
    sh_sddmm_ref(g2, &a, dy, x, n);
    CHECK(close_arrays(g1, g2, (size_t)a.nnz, 1e-4));
    float *v1 = malloc(sizeof(float) * (size_t)rows), *xv = rnd((size_t)cols, 5);
    sh_spmv(v1, &a, xv);
    for (int r = 0; r < rows; r++) {
        double acc = 0;
        for (int c = 0; c < cols; c++)
            acc += (double)w[(size_t)r * cols + c] * xv[c];
        CHECK_CLOSE(v1[r], acc, 1e-4, 1e-4);
    }
    /* refresh picks up new values at the same positions. */
    for (size_t i = 0; i < nw; i++)
        w[i] *= 2.0f;
    sh_csr_refresh(&a, w);
    for (int32_t p = 0; p < a.row_ptr[1]; p++)
        CHECK(a.val[p] == w[a.col[p]]);
    sh_csr_free(&a);
    free(w), free(mask), free(x), free(dy), free(y1), free(y2), free(t1), free(t2);
    free(g1), free(g2), free(v1), free(xv);
    return 0;
}

SH_TEST(sparse_kernels_vs_reference)
{
    CHECK(kernel_case(37, 53, 128, 0.1) == 0);   /* full register blocks */
    CHECK(kernel_case(30, 40, 45, 0.3) == 0);    /* a partial block */
    CHECK(kernel_case(16, 9, 7, 0.02) == 0);     /* nearly empty rows */
    CHECK(kernel_case(8, 16, 64, 1.0) == 0);     /* fully dense */
    CHECK(kernel_case(5, 5, 3, 0.0) == 0);       /* empty */
    float src[6] = {1, 2, 3, 4, 5, 6}, dst[6];
    sh_transpose(dst, src, 2, 3);
    CHECK(dst[0] == 1 && dst[1] == 4 && dst[2] == 2 && dst[5] == 6);
    return 0;
}

/* Forward/backward of a pruned model on the sparse path equals the dense
 * path: logits, and the gradient of every live weight. */
static int model_case(const char *arch, int c, int hw, double density)
{
    sh_model_t *d, *s;
    sh_err_t err;
    CHECK(sh_model_new(&d, arch, c, hw, hw, 10, &err) == SH_OK);
    CHECK(sh_model_new(&s, arch, c, hw, hw, 10, &err) == SH_OK);
    sh_model_init(d, 4, 0);
    sh_prune_plan_t plan = {.method = SH_PRUNE_MAGNITUDE, .scope = SH_SCOPE_LAYERWISE,
                            .density = density};
    CHECK(sh_prune(d, &plan, &err) == SH_OK);
    memcpy(s->params, d->params, sizeof(float) * d->n_params);
    memcpy(s->mask, d->mask, 8 * sh_mask_words(d->n_params));
    sh_model_apply_mask(s);
    sh_model_set_sparse(d, 0.0);
    sh_model_set_sparse(s, 1.01);
    const int B = 6;
    CHECK(sh_model_reserve(d, B) == SH_OK && sh_model_reserve(s, B) == SH_OK);
    float *x = rnd((size_t)B * c * hw * hw, 7);
    int32_t y[6] = {1, 2, 3, 4, 5, 6};
    sh_optim_t opt = {.kind = SH_OPT_SGD, .momentum = 0.9f, .weight_decay = 1e-4f};
    for (int step = 0; step < 3; step++) {
        const float *ld = sh_model_forward(d, x, B, 1), *ls = sh_model_forward(s, x, B, 1);
        CHECK_MSG(close_arrays(ls, ld, (size_t)B * 10, 1e-4), "%s logits", arch);
        sh_model_zero_grad(d);
        sh_model_zero_grad(s);
        sh_model_loss(d, y, B, 1, NULL);
        sh_model_loss(s, y, B, 1, NULL);
        sh_model_backward(d, B);
        sh_model_backward(s, B);
        for (size_t i = 0; i < d->n_params; i++)
            if (sh_mask_get(d->mask, i) &&
                fabs(d->grads[i] - s->grads[i]) > 1e-4 * (1 + fabs(d->grads[i]))) {
                fprintf(stderr, "%s grad[%zu]: dense %.7g sparse %.7g\n", arch, i, d->grads[i],
                        s->grads[i]);
                return 1;
            }
        sh_optim_step(&opt, d, 0.01f);
        sh_optim_step(&opt, s, 0.01f);
    }
    CHECK(sh_model_sparse_layers(s) > 0 && sh_model_sparse_layers(d) == 0);
    /* Pruned weights stay zero on the sparse path too. */
    for (size_t i = 0; i < s->n_params; i++)
        if (!sh_mask_get(s->mask, i))
            CHECK(s->params[i] == 0.0f);
    free(x);
    sh_model_destroy(&d);
    sh_model_destroy(&s);
    return 0;
}

SH_TEST(sparse_training_matches_dense)
{
    CHECK(model_case("lenet_300_100", 1, 28, 0.05) == 0);
    CHECK(model_case("lenet5", 1, 28, 0.1) == 0);
    CHECK(model_case("conv2", 1, 12, 0.2) == 0);
    CHECK(model_case("resnet20", 3, 8, 0.1) == 0); /* includes 1x1-free 3x3 convs */
    return 0;
}
