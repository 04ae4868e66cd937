/* test_layers.c - every layer against finite differences, and every
 * optimized kernel against its naive reference. */
#include "sh_test.h"

#include "sh_layers.h"
#include "sh_rng.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

static float *randn(size_t n, uint64_t stream, float scale)
{
    sh_rng_t rng;
    sh_rng_seed(&rng, 42, SH_STREAM(SH_STREAM_TEST, stream));
    float *v = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        v[i] = scale * sh_rng_normal(&rng);
    return v;
}

/* Values bounded away from zero and from each other, so ReLU and max-pool
 * kinks are not crossed by a finite-difference step. */
static float *spaced(size_t n, uint64_t stream)
{
    sh_rng_t rng;
    sh_rng_seed(&rng, 7, SH_STREAM(SH_STREAM_TEST, stream));
    float *v = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) {
        float u = 0.1f + 0.9f * sh_rng_uniform(&rng) + 0.001f * (float)(i % 97);
        v[i] = (sh_rng_next(&rng) & 1) ? u : -u;
    }
    return v;
}

static float *zeros(size_t n) { return calloc(n, sizeof(float)); }

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* The loss is <out, R> for a fixed random R, so dL/dout = R. */
typedef double (*loss_fn)(void *ctx);

/* Compares analytic gradient `grad` of buffer `x` (n entries, every
 * `stride`-th checked) against central differences of f. */
static int check_grad(const char *what, loss_fn f, void *ctx, float *x,
                      const float *grad, size_t n, size_t stride, float eps,
                      double atol, double rtol)
{
    for (size_t i = 0; i < n; i += stride) {
        float orig = x[i];
        x[i] = orig + eps;
        double lp = f(ctx);
        x[i] = orig - eps;
        double lm = f(ctx);
        x[i] = orig;
        double fd = (lp - lm) / (2.0 * eps);
        if (!(fabs(fd - grad[i]) <= atol + rtol * fabs(fd))) {
            fprintf(stderr, "%s[%zu]: analytic %.6g vs numeric %.6g\n", what, i,
                    grad[i], fd);
            return 1;
        }
    }
    return 0;
}

static int check_equal_arrays(const char *what, const float *a, const float *b,
                              size_t n, double atol, double rtol)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)a[i] - b[i]) <= atol + rtol * fabs((double)b[i]))) {
            fprintf(stderr, "%s[%zu]: %.7g vs %.7g\n", what, i, a[i], b[i]);
            return 1;
        }
    return 0;
}

/* ---- linear ------------------------------------------------------------- */

typedef struct {
    float *in, *w, *b, *out, *R;
    int B, C, OC;
} lin_ctx;

static double lin_loss(void *p)
{
    lin_ctx *c = p;
    sh_linear_forward(c->out, c->in, c->w, c->b, c->B, c->C, c->OC);
    return dot(c->out, c->R, (size_t)c->B * c->OC);
}

SH_TEST(layer_linear_grad)
{
    lin_ctx c = {.B = 5, .C = 7, .OC = 4};
    c.in = randn(35, 1, 1.0f);
    c.w = randn(28, 2, 0.5f);
    c.b = randn(4, 3, 0.5f);
    c.out = zeros(20);
    c.R = randn(20, 4, 1.0f);
    float *din = zeros(35), *dw = zeros(28), *db = zeros(4);
    lin_loss(&c);
    sh_linear_backward(din, dw, db, c.R, c.in, c.w, c.B, c.C, c.OC);
    int rc = check_grad("linear.in", lin_loss, &c, c.in, din, 35, 1, 1e-2f, 1e-3, 1e-3) ||
             check_grad("linear.w", lin_loss, &c, c.w, dw, 28, 1, 1e-2f, 1e-3, 1e-3) ||
             check_grad("linear.b", lin_loss, &c, c.b, db, 4, 1, 1e-2f, 1e-3, 1e-3);
    free(c.in), free(c.w), free(c.b), free(c.out), free(c.R), free(din), free(dw), free(db);
    return rc;
}

SH_TEST(layer_linear_vs_ref)
{
    const int B = 33, C = 70, OC = 19;
    float *in = randn((size_t)B * C, 1, 1.0f), *w = randn((size_t)OC * C, 2, 0.3f);
    float *b = randn(OC, 3, 0.3f), *dout = randn((size_t)B * OC, 4, 1.0f);
    float *o1 = zeros((size_t)B * OC), *o2 = zeros((size_t)B * OC);
    float *di1 = zeros((size_t)B * C), *di2 = zeros((size_t)B * C);
    float *dw1 = zeros((size_t)OC * C), *dw2 = zeros((size_t)OC * C);
    float *db1 = zeros(OC), *db2 = zeros(OC);
    sh_linear_forward(o1, in, w, b, B, C, OC);
    sh_linear_forward_ref(o2, in, w, b, B, C, OC);
    sh_linear_backward(di1, dw1, db1, dout, in, w, B, C, OC);
    sh_linear_backward_ref(di2, dw2, db2, dout, in, w, B, C, OC);
    int rc = check_equal_arrays("out", o1, o2, (size_t)B * OC, 1e-4, 1e-4) ||
             check_equal_arrays("din", di1, di2, (size_t)B * C, 1e-4, 1e-4) ||
             check_equal_arrays("dw", dw1, dw2, (size_t)OC * C, 1e-4, 1e-4) ||
             check_equal_arrays("db", db1, db2, OC, 1e-4, 1e-4);
    free(in), free(w), free(b), free(dout), free(o1), free(o2), free(di1), free(di2);
    free(dw1), free(dw2), free(db1), free(db2);
    return rc;
}

/* ---- conv2d ------------------------------------------------------------- */

typedef struct {
    float *in, *w, *b, *out, *R, *scratch;
    int B;
    sh_conv_shape_t s;
} conv_ctx;

static double conv_loss(void *p)
{
    conv_ctx *c = p;
    sh_conv2d_forward(c->out, c->in, c->w, c->b, c->B, &c->s, c->scratch, 2);
    return dot(c->out, c->R, (size_t)c->B * c->s.OC * c->s.OH * c->s.OW);
}

static int conv_case(int B, int C, int H, int W, int OC, int K, int stride, int pad)
{
    conv_ctx c = {.B = B};
    CHECK(sh_conv_shape_init(&c.s, C, H, W, OC, K, stride, pad) == 0);
    size_t n_in = (size_t)B * C * H * W, n_w = (size_t)OC * C * K * K;
    size_t n_out = (size_t)B * OC * c.s.OH * c.s.OW;
    c.in = randn(n_in, 11, 1.0f);
    c.w = randn(n_w, 12, 0.3f);
    c.b = randn(OC, 13, 0.3f);
    c.out = zeros(n_out);
    c.R = randn(n_out, 14, 1.0f);
    c.scratch = zeros(sh_conv_scratch_floats(&c.s, 2));
    float *din = zeros(n_in), *dw = zeros(n_w), *db = zeros(OC);
    conv_loss(&c);
    sh_conv2d_backward(din, dw, db, c.R, c.in, c.w, B, &c.s, c.scratch, 2);
    int rc = check_grad("conv.in", conv_loss, &c, c.in, din, n_in, 3, 1e-2f, 2e-3, 2e-3) ||
             check_grad("conv.w", conv_loss, &c, c.w, dw, n_w, 1, 1e-2f, 2e-3, 2e-3) ||
             check_grad("conv.b", conv_loss, &c, c.b, db, OC, 1, 1e-2f, 2e-3, 2e-3);
    /* And against the naive reference. */
    float *o2 = zeros(n_out), *din2 = zeros(n_in), *dw2 = zeros(n_w), *db2 = zeros(OC);
    float *din1 = zeros(n_in), *dw1 = zeros(n_w), *db1 = zeros(OC);
    conv_loss(&c);
    sh_conv2d_forward_ref(o2, c.in, c.w, c.b, B, &c.s);
    sh_conv2d_backward(din1, dw1, db1, c.R, c.in, c.w, B, &c.s, c.scratch, 2);
    sh_conv2d_backward_ref(din2, dw2, db2, c.R, c.in, c.w, B, &c.s);
    rc = rc || check_equal_arrays("conv.out", c.out, o2, n_out, 1e-4, 1e-4) ||
         check_equal_arrays("conv.din", din1, din2, n_in, 1e-4, 1e-4) ||
         check_equal_arrays("conv.dw", dw1, dw2, n_w, 1e-4, 1e-4) ||
         check_equal_arrays("conv.db", db1, db2, OC, 1e-4, 1e-4);
    free(c.in), free(c.w), free(c.b), free(c.out), free(c.R), free(c.scratch);
    free(din), free(dw), free(db), free(o2), free(din2), free(dw2), free(db2);
    free(din1), free(dw1), free(db1);
    return rc;
}

SH_TEST(layer_conv2d_grad)
{
    CHECK(conv_case(3, 2, 6, 5, 4, 3, 1, 1) == 0);  /* same padding */
    CHECK(conv_case(2, 3, 7, 7, 5, 3, 2, 1) == 0);  /* strided */
    CHECK(conv_case(2, 2, 8, 8, 3, 5, 1, 2) == 0);  /* 5x5 */
    CHECK(conv_case(4, 3, 5, 5, 6, 1, 1, 0) == 0);  /* pointwise fast path */
    CHECK(conv_case(1, 1, 6, 6, 2, 5, 1, 0) == 0);  /* valid, single image */
    return 0;
}

/* ---- batchnorm ---------------------------------------------------------- */

typedef struct {
    float *in, *gamma, *beta, *out, *R, *saved, *rm, *rv;
    int B, C, HW;
} bn_ctx;

static double bn_loss(void *p)
{
    bn_ctx *c = p;
    sh_batchnorm_forward_train(c->out, c->saved, c->rm, c->rv, c->in, c->gamma,
                               c->beta, c->B, c->C, c->HW);
    return dot(c->out, c->R, (size_t)c->B * c->C * c->HW);
}

SH_TEST(layer_batchnorm_grad)
{
    bn_ctx c = {.B = 4, .C = 3, .HW = 5};
    size_t n = 60;
    c.in = randn(n, 21, 2.0f);
    c.gamma = randn(3, 22, 1.0f);
    c.beta = randn(3, 23, 1.0f);
    c.out = zeros(n);
    c.R = randn(n, 24, 1.0f);
    c.saved = zeros(6);
    c.rm = zeros(3);
    c.rv = zeros(3);
    float *din = zeros(n), *dg = zeros(3), *dbt = zeros(3);
    bn_loss(&c);
    sh_batchnorm_backward(din, dg, dbt, c.R, c.in, c.saved, c.gamma, c.B, c.C, c.HW);
    int rc = check_grad("bn.in", bn_loss, &c, c.in, din, n, 1, 1e-2f, 5e-3, 1e-2) ||
             check_grad("bn.gamma", bn_loss, &c, c.gamma, dg, 3, 1, 1e-2f, 5e-3, 1e-2) ||
             check_grad("bn.beta", bn_loss, &c, c.beta, dbt, 3, 1, 1e-2f, 5e-3, 1e-2);
    /* Normalized output has zero mean and unit variance per channel. */
    float *plain = zeros(n);
    float one[3] = {1, 1, 1}, zero3[3] = {0, 0, 0};
    sh_batchnorm_forward_train(plain, c.saved, c.rm, c.rv, c.in, one, zero3, 4, 3, 5);
    for (int ch = 0; ch < 3 && !rc; ch++) {
        double s = 0, sq = 0;
        for (int i = 0; i < 4; i++)
            for (int p = 0; p < 5; p++) {
                double v = plain[(i * 3 + ch) * 5 + p];
                s += v;
                sq += v * v;
            }
        if (fabs(s / 20) > 1e-5 || fabs(sq / 20 - 1.0) > 1e-3)
            rc = 1;
    }
    /* Eval mode with running stats set to the batch's stats matches train. */
    float rm[3], rv[3], *ev = zeros(n);
    for (int ch = 0; ch < 3; ch++) {
        rm[ch] = c.saved[ch];
        float is = c.saved[3 + ch];
        rv[ch] = 1.0f / (is * is) - SH_BN_EPS;
    }
    sh_batchnorm_forward_eval(ev, c.in, one, zero3, rm, rv, 4, 3, 5);
    rc = rc || check_equal_arrays("bn.eval", ev, plain, n, 1e-4, 1e-3);
    free(c.in), free(c.gamma), free(c.beta), free(c.out), free(c.R), free(c.saved);
    free(c.rm), free(c.rv), free(din), free(dg), free(dbt), free(plain), free(ev);
    return rc;
}

SH_TEST(layer_batchnorm_running_stats)
{
    /* PyTorch semantics: running = 0.9 running + 0.1 batch, unbiased var. */
    float in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8], saved[2], rm = 0, rv = 1;
    float g = 1, b = 0;
    sh_batchnorm_forward_train(out, saved, &rm, &rv, in, &g, &b, 2, 1, 4);
    CHECK_CLOSE(rm, 0.45, 1e-6, 0);
    CHECK_CLOSE(rv, 0.9 + 0.1 * 6.0, 1e-6, 0); /* var of 1..8 unbiased = 6 */
    return 0;
}

/* ---- relu, maxpool, avgpool, residual ------------------------------------ */

typedef struct {
    int kind; /* 0 relu, 1 maxpool, 2 avgpool, 3 residual(a), 4 residual(x) */
    float *in, *in2, *out, *R;
    int32_t *argmax;
    int B, C, H, W, OC, OH, OW;
    size_t n_out;
} elt_ctx;

static double elt_loss(void *p)
{
    elt_ctx *c = p;
    switch (c->kind) {
    case 0: sh_relu_forward(c->out, c->in, c->n_out); break;
    case 1: sh_maxpool_forward(c->out, c->argmax, c->in, c->B, c->C, c->H, c->W, 2, 2); break;
    case 2: sh_avgpool_forward(c->out, c->in, c->B, c->C, c->H * c->W); break;
    default:
        sh_residual_forward(c->out, c->in2, c->in, c->B, c->C, c->H, c->W, c->OC, c->OH, c->OW);
    }
    return dot(c->out, c->R, c->n_out);
}

SH_TEST(layer_relu_grad)
{
    elt_ctx c = {.kind = 0, .n_out = 40};
    c.in = spaced(40, 31);
    c.out = zeros(40);
    c.R = randn(40, 32, 1.0f);
    float *din = zeros(40);
    elt_loss(&c);
    sh_relu_backward(din, c.R, c.out, 40);
    int rc = check_grad("relu.in", elt_loss, &c, c.in, din, 40, 1, 1e-3f, 1e-3, 1e-3);
    free(c.in), free(c.out), free(c.R), free(din);
    return rc;
}

SH_TEST(layer_maxpool_grad)
{
    elt_ctx c = {.kind = 1, .B = 2, .C = 3, .H = 6, .W = 4};
    c.n_out = 2 * 3 * 3 * 2;
    c.in = spaced(144, 33);
    c.out = zeros(c.n_out);
    c.R = randn(c.n_out, 34, 1.0f);
    c.argmax = calloc(c.n_out, sizeof(int32_t));
    float *din = zeros(144);
    elt_loss(&c);
    sh_maxpool_backward(din, c.R, c.argmax, 2, 3, 6, 4, 2, 2);
    int rc = check_grad("maxpool.in", elt_loss, &c, c.in, din, 144, 1, 1e-4f, 1e-3, 1e-3);
    /* Output is the max of each window. */
    for (size_t j = 0; j < c.n_out && !rc; j++)
        rc = c.out[j] != c.in[(j / 6) * 24 + c.argmax[j]];
    free(c.in), free(c.out), free(c.R), free(c.argmax), free(din);
    return rc;
}

SH_TEST(layer_avgpool_grad)
{
    elt_ctx c = {.kind = 2, .B = 2, .C = 3, .H = 4, .W = 4};
    c.n_out = 6;
    c.in = randn(96, 35, 1.0f);
    c.out = zeros(6);
    c.R = randn(6, 36, 1.0f);
    float *din = zeros(96);
    elt_loss(&c);
    sh_avgpool_backward(din, c.R, 2, 3, 16);
    int rc = check_grad("avgpool.in", elt_loss, &c, c.in, din, 96, 1, 1e-2f, 1e-4, 1e-3);
    free(c.in), free(c.out), free(c.R), free(din);
    return rc;
}

static int residual_case(int C, int H, int OC, int OH)
{
    elt_ctx c = {.kind = 3, .B = 2, .C = C, .H = H, .W = H, .OC = OC, .OH = OH, .OW = OH};
    size_t nx = (size_t)2 * C * H * H;
    c.n_out = (size_t)2 * OC * OH * OH;
    c.in = randn(nx, 37, 1.0f);
    c.in2 = randn(c.n_out, 38, 1.0f);
    c.out = zeros(c.n_out);
    c.R = randn(c.n_out, 39, 1.0f);
    float *dx = zeros(nx), *da = zeros(c.n_out);
    elt_loss(&c);
    sh_residual_backward(da, dx, c.R, 2, C, H, H, OC, OH, OH);
    int rc = check_grad("residual.x", elt_loss, &c, c.in, dx, nx, 1, 1e-2f, 1e-3, 1e-3) ||
             check_grad("residual.a", elt_loss, &c, c.in2, da, c.n_out, 1, 1e-2f, 1e-3, 1e-3);
    free(c.in), free(c.in2), free(c.out), free(c.R), free(dx), free(da);
    return rc;
}

SH_TEST(layer_residual_grad)
{
    CHECK(residual_case(4, 6, 4, 6) == 0); /* identity */
    CHECK(residual_case(4, 6, 8, 3) == 0); /* option A: subsample + pad */
    /* Option A pads (OC - C) / 2 zero channels on each side. */
    float x[4] = {1, 2, 3, 4}, a[8] = {0}, out[8];
    sh_residual_forward(out, a, x, 1, 1, 2, 2, 2, 1, 1); /* C=1 -> OC=2: pad 0 */
    CHECK(out[0] == 1.0f && out[1] == 0.0f);
    return 0;
}

/* ---- softmax cross-entropy ---------------------------------------------- */

typedef struct {
    float *logits;
    int32_t *labels;
} xent_ctx;

static double xent_loss(void *p)
{
    xent_ctx *c = p;
    return sh_softmax_xent(NULL, NULL, c->logits, c->labels, 3, 5);
}

SH_TEST(layer_softmax_xent_grad)
{
    xent_ctx c;
    c.logits = randn(15, 41, 2.0f);
    int32_t labels[3] = {0, 4, 2};
    c.labels = labels;
    float *d = zeros(15);
    int correct = -1;
    float loss = sh_softmax_xent(d, &correct, c.logits, labels, 3, 5);
    CHECK(loss > 0.0f && correct >= 0 && correct <= 3);
    int rc = check_grad("xent.logits", xent_loss, &c, c.logits, d, 15, 1, 1e-2f, 1e-4, 1e-2);
    /* Uniform logits give log(K). */
    float flat[5] = {0};
    int32_t l0 = 3;
    CHECK_CLOSE(sh_softmax_xent(NULL, NULL, flat, &l0, 1, 5), log(5.0), 1e-6, 0);
    free(c.logits), free(d);
    return rc;
}

SH_TEST(layer_conv2d_threads_reproducible)
{
    /* Same thread count, same bits; and 1 vs 2 threads agree closely. */
    sh_conv_shape_t s;
    sh_conv_shape_init(&s, 3, 9, 9, 8, 3, 1, 1);
    const int B = 6;
    size_t n_in = (size_t)B * 3 * 81, n_w = 8 * 27, n_out = (size_t)B * 8 * 81;
    float *in = randn(n_in, 51, 1.0f), *w = randn(n_w, 52, 0.2f), *g = randn(n_out, 53, 1.0f);
    float *scratch = zeros(sh_conv_scratch_floats(&s, 2));
    float *dw1 = zeros(n_w), *dw2 = zeros(n_w), *dw3 = zeros(n_w);
    sh_conv2d_backward(NULL, dw1, NULL, g, in, w, B, &s, scratch, 2);
    sh_conv2d_backward(NULL, dw2, NULL, g, in, w, B, &s, scratch, 2);
    sh_conv2d_backward(NULL, dw3, NULL, g, in, w, B, &s, scratch, 1);
    int rc = memcmp(dw1, dw2, sizeof(float) * n_w) != 0;
    rc = rc || check_equal_arrays("dw 1 vs 2 threads", dw3, dw1, n_w, 1e-4, 1e-4);
    free(in), free(w), free(g), free(scratch), free(dw1), free(dw2), free(dw3);
    return rc;
}
