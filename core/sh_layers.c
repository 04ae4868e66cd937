/* sh_layers.c - optimized layer kernels (CBLAS + OpenMP) and their naive
 * references. Shapes are documented in sh_layers.h.
 *
 * Parallel structure: dense products go to OpenBLAS with the job's threads.
 * Dense convolution lays a chunk of images' im2col matrices side by side so
 * each chunk is three large GEMMs; the copies around them are parallel over
 * images. Sparse convolution (weights as CSR) is data-parallel over images
 * with one im2col buffer and one gradient partial per thread, reduced in
 * thread order. Either way results are reproducible for a thread count. */
#include "sh_layers.h"

#include "sh_common.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* ---- linear ------------------------------------------------------------- */

void sh_linear_forward(float *out, const float *in, const float *w, const float *b,
                       int B, int C, int OC)
{
    float beta = 0.0f;
    if (b) {
        for (int i = 0; i < B; i++)
            memcpy(out + (size_t)i * OC, b, sizeof(float) * (size_t)OC);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, OC, C, 1.0f, in, C,
                w, C, beta, out, OC);
}

void sh_linear_backward(float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w, int B, int C, int OC)
{
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, C, OC, 1.0f,
                    dout, OC, w, C, 1.0f, din, C);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, B, 1.0f, dout,
                OC, in, C, 1.0f, dw, C);
    if (db) {
        for (int i = 0; i < B; i++) {
            const float *row = dout + (size_t)i * OC;
            for (int o = 0; o < OC; o++)
                db[o] += row[o];
        }
    }
}

void sh_linear_forward_ref(float *out, const float *in, const float *w,
                           const float *b, int B, int C, int OC)
{
    for (int i = 0; i < B; i++)
        for (int o = 0; o < OC; o++) {
            double acc = b ? b[o] : 0.0;
            for (int c = 0; c < C; c++)
                acc += (double)in[(size_t)i * C + c] * w[(size_t)o * C + c];
            out[(size_t)i * OC + o] = (float)acc;
        }
}

void sh_linear_backward_ref(float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w, int B, int C, int OC)
{
    for (int i = 0; i < B; i++)
        for (int o = 0; o < OC; o++) {
            float g = dout[(size_t)i * OC + o];
            if (db)
                db[o] += g;
            for (int c = 0; c < C; c++) {
                dw[(size_t)o * C + c] += g * in[(size_t)i * C + c];
                if (din)
                    din[(size_t)i * C + c] += g * w[(size_t)o * C + c];
            }
        }
}

/* ---- conv2d ------------------------------------------------------------- */

int sh_conv_shape_init(sh_conv_shape_t *s, int C, int H, int W, int OC, int K,
                       int stride, int pad)
{
    s->C = C;
    s->H = H;
    s->W = W;
    s->OC = OC;
    s->K = K;
    s->stride = stride;
    s->pad = pad;
    if (stride < 1 || K < 1 || H + 2 * pad < K || W + 2 * pad < K)
        return -1;
    s->OH = (H + 2 * pad - K) / stride + 1;
    s->OW = (W + 2 * pad - K) / stride + 1;
    return 0;
}

static int conv_is_pointwise(const sh_conv_shape_t *s)
{
    return s->K == 1 && s->stride == 1 && s->pad == 0;
}

static size_t conv_col_floats(const sh_conv_shape_t *s)
{
    return conv_is_pointwise(s) ? 0
                                : (size_t)s->C * s->K * s->K * s->OH * s->OW;
}

static size_t conv_dw_floats(const sh_conv_shape_t *s)
{
    return (size_t)s->OC * s->C * s->K * s->K + (size_t)s->OC;
}

/* The dense path works on chunks of images side by side: one im2col matrix
 * (CKK, nb*P) and one output block (OC, nb*P) per chunk, so each layer is a
 * few large GEMMs instead of a small one per image. A chunk holds at most
 * this many floats. */
#define CONV_CHUNK_FLOATS ((size_t)4 << 20)

static int conv_chunk(const sh_conv_shape_t *s)
{
    size_t per_image = ((size_t)s->C * s->K * s->K + (size_t)s->OC) * s->OH * s->OW;
    size_t nb = CONV_CHUNK_FLOATS / per_image;
    return nb < 1 ? 1 : nb > 4096 ? 4096 : (int)nb;
}

size_t sh_conv_scratch_floats(const sh_conv_shape_t *s, int nth)
{
    size_t sparse = (size_t)nth * (conv_col_floats(s) + conv_dw_floats(s));
    size_t dense = (size_t)conv_chunk(s) * ((size_t)s->C * s->K * s->K + (size_t)s->OC) *
                   s->OH * s->OW;
    return sparse > dense ? sparse : dense;
}

/* Output columns [*lo, *hi) of kernel column kx read inside the image; the
 * rest fall in the zero padding. */
static void valid_cols(const sh_conv_shape_t *s, int kx, int *lo, int *hi)
{
    int first = s->pad - kx; /* ox * stride >= pad - kx */
    *lo = first <= 0 ? 0 : (first + s->stride - 1) / s->stride;
    int last = s->W - 1 + s->pad - kx; /* ox * stride <= W - 1 + pad - kx */
    *hi = last < 0 ? 0 : SH_MIN(s->OW, last / s->stride + 1);
    if (*lo > *hi)
        *lo = *hi;
}

/* im2col with rows `ld` floats apart (several images side by side). Each
 * output row is a zero prefix, a run copied from one input row (contiguous
 * for stride 1) and a zero suffix, so there is no per-element bounds test. */
static void im2col_ld(float *col, size_t ld, const float *img, const sh_conv_shape_t *s)
{
    const int K = s->K, OH = s->OH, OW = s->OW, st = s->stride;
    for (int c = 0; c < s->C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                float *dst = col + ((size_t)(c * K + ky) * K + kx) * ld;
                const float *plane = img + (size_t)c * s->H * s->W;
                int lo, hi;
                valid_cols(s, kx, &lo, &hi);
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * st - s->pad + ky;
                    float *drow = dst + (size_t)oy * OW;
                    if (iy < 0 || iy >= s->H) {
                        memset(drow, 0, sizeof(float) * (size_t)OW);
                        continue;
                    }
                    /* For ox in [lo, hi), ix = ox * st + kx - pad is in [0, W). */
                    const float *srow = plane + (size_t)iy * s->W;
                    const int shift = kx - s->pad;
                    for (int ox = 0; ox < lo; ox++)
                        drow[ox] = 0.0f;
                    if (st == 1) {
                        for (int ox = lo; ox < hi; ox++) /* short rows: no memcpy call */
                            drow[ox] = srow[ox + shift];
                    } else {
                        for (int ox = lo; ox < hi; ox++)
                            drow[ox] = srow[ox * st + shift];
                    }
                    for (int ox = hi; ox < OW; ox++)
                        drow[ox] = 0.0f;
                }
            }
}

void sh_im2col(float *col, const float *img, const sh_conv_shape_t *s)
{
    im2col_ld(col, (size_t)s->OH * s->OW, img, s);
}

static void col2im_add_ld(float *img, const float *col, size_t ld, const sh_conv_shape_t *s)
{
    const int K = s->K, OH = s->OH, OW = s->OW, st = s->stride;
    for (int c = 0; c < s->C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                const float *src = col + ((size_t)(c * K + ky) * K + kx) * ld;
                float *plane = img + (size_t)c * s->H * s->W;
                int lo, hi;
                valid_cols(s, kx, &lo, &hi);
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * st - s->pad + ky;
                    if (iy < 0 || iy >= s->H)
                        continue;
                    float *drow = plane + (size_t)iy * s->W;
                    const float *srow = src + (size_t)oy * OW;
                    const int shift = kx - s->pad;
                    for (int ox = lo; ox < hi; ox++)
                        drow[ox * st + shift] += srow[ox];
                }
            }
}

void sh_col2im_add(float *img, const float *col, const sh_conv_shape_t *s)
{
    col2im_add_ld(img, col, (size_t)s->OH * s->OW, s);
}

void sh_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                       int B, const sh_conv_shape_t *s, float *scratch, int nth)
{
    const int P = s->OH * s->OW, CKK = s->C * s->K * s->K, OC = s->OC;
    const size_t in_sz = (size_t)s->C * s->H * s->W, out_sz = (size_t)OC * P;
    const int cap = conv_chunk(s);
    for (int i0 = 0; i0 < B; i0 += cap) {
        const int nb = SH_MIN(cap, B - i0);
        const size_t ld = (size_t)nb * P;
        float *col = scratch, *outc = scratch + (size_t)CKK * ld;
#pragma omp parallel for schedule(static) num_threads(nth)
        for (int i = 0; i < nb; i++)
            im2col_ld(col + (size_t)i * P, ld, in + (size_t)(i0 + i) * in_sz, s);
        /* outc (OC, nb*P) = w (OC, CKK) col (CKK, nb*P) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, (int)ld, CKK, 1.0f, w, CKK,
                    col, (int)ld, 0.0f, outc, (int)ld);
#pragma omp parallel for schedule(static) num_threads(nth)
        for (int i = 0; i < nb; i++)
            for (int oc = 0; oc < OC; oc++) {
                const float *src = outc + (size_t)oc * ld + (size_t)i * P;
                float *dst = out + (size_t)(i0 + i) * out_sz + (size_t)oc * P;
                const float bias = b ? b[oc] : 0.0f;
                for (int p = 0; p < P; p++)
                    dst[p] = src[p] + bias;
            }
    }
}

void sh_conv2d_backward(float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w, int B,
                        const sh_conv_shape_t *s, float *scratch, int nth)
{
    const int P = s->OH * s->OW, CKK = s->C * s->K * s->K, OC = s->OC;
    const size_t in_sz = (size_t)s->C * s->H * s->W, out_sz = (size_t)OC * P;
    const int cap = conv_chunk(s);
    for (int i0 = 0; i0 < B; i0 += cap) {
        const int nb = SH_MIN(cap, B - i0);
        const size_t ld = (size_t)nb * P;
        float *col = scratch, *gc = scratch + (size_t)CKK * ld;
#pragma omp parallel for schedule(static) num_threads(nth)
        for (int i = 0; i < nb; i++) {
            im2col_ld(col + (size_t)i * P, ld, in + (size_t)(i0 + i) * in_sz, s);
            for (int oc = 0; oc < OC; oc++)
                memcpy(gc + (size_t)oc * ld + (size_t)i * P,
                       dout + (size_t)(i0 + i) * out_sz + (size_t)oc * P, sizeof(float) * P);
        }
        /* dw (OC, CKK) += gc (OC, nb*P) col^T (nb*P, CKK) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, CKK, (int)ld, 1.0f, gc,
                    (int)ld, col, (int)ld, 1.0f, dw, CKK);
        if (db) {
#pragma omp parallel for schedule(static) num_threads(nth)
            for (int oc = 0; oc < OC; oc++) {
                float acc = 0.0f;
                const float *g = gc + (size_t)oc * ld;
                for (size_t j = 0; j < ld; j++)
                    acc += g[j];
                db[oc] += acc;
            }
        }
        if (!din)
            continue;
        /* dcol (CKK, nb*P) = w^T (CKK, OC) gc (OC, nb*P), into the col buffer */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, (int)ld, OC, 1.0f, w, CKK, gc,
                    (int)ld, 0.0f, col, (int)ld);
#pragma omp parallel for schedule(static) num_threads(nth)
        for (int i = 0; i < nb; i++)
            col2im_add_ld(din + (size_t)(i0 + i) * in_sz, col + (size_t)i * P, ld, s);
    }
}

void sh_conv2d_forward_ref(float *out, const float *in, const float *w,
                           const float *b, int B, const sh_conv_shape_t *s)
{
    const int K = s->K;
    for (int i = 0; i < B; i++)
        for (int oc = 0; oc < s->OC; oc++)
            for (int oy = 0; oy < s->OH; oy++)
                for (int ox = 0; ox < s->OW; ox++) {
                    double acc = b ? b[oc] : 0.0;
                    for (int c = 0; c < s->C; c++)
                        for (int ky = 0; ky < K; ky++)
                            for (int kx = 0; kx < K; kx++) {
                                int iy = oy * s->stride - s->pad + ky;
                                int ix = ox * s->stride - s->pad + kx;
                                if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W)
                                    continue;
                                acc += (double)in[(((size_t)i * s->C + c) * s->H + iy) * s->W + ix] *
                                       w[(((size_t)oc * s->C + c) * K + ky) * K + kx];
                            }
                    out[(((size_t)i * s->OC + oc) * s->OH + oy) * s->OW + ox] = (float)acc;
                }
}

void sh_conv2d_backward_ref(float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w, int B,
                            const sh_conv_shape_t *s)
{
    const int K = s->K;
    for (int i = 0; i < B; i++)
        for (int oc = 0; oc < s->OC; oc++)
            for (int oy = 0; oy < s->OH; oy++)
                for (int ox = 0; ox < s->OW; ox++) {
                    float g = dout[(((size_t)i * s->OC + oc) * s->OH + oy) * s->OW + ox];
                    if (db)
                        db[oc] += g;
                    for (int c = 0; c < s->C; c++)
                        for (int ky = 0; ky < K; ky++)
                            for (int kx = 0; kx < K; kx++) {
                                int iy = oy * s->stride - s->pad + ky;
                                int ix = ox * s->stride - s->pad + kx;
                                if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W)
                                    continue;
                                size_t ii = (((size_t)i * s->C + c) * s->H + iy) * s->W + ix;
                                size_t wi = (((size_t)oc * s->C + c) * K + ky) * K + kx;
                                dw[wi] += g * in[ii];
                                if (din)
                                    din[ii] += g * w[wi];
                            }
                }
}

/* ---- batchnorm2d -------------------------------------------------------- */

void sh_batchnorm_forward_train(float *out, float *saved, float *run_mean,
                                float *run_var, const float *in,
                                const float *gamma, const float *beta, int B,
                                int C, int HW)
{
    const double N = (double)B * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double sum = 0.0, sq = 0.0;
        for (int i = 0; i < B; i++) {
            const float *x = in + ((size_t)i * C + c) * HW;
            for (int p = 0; p < HW; p++)
                sum += x[p];
        }
        double mean = sum / N;
        for (int i = 0; i < B; i++) {
            const float *x = in + ((size_t)i * C + c) * HW;
            for (int p = 0; p < HW; p++) {
                double d = x[p] - mean;
                sq += d * d;
            }
        }
        double var = sq / N;
        float invstd = (float)(1.0 / sqrt(var + SH_BN_EPS));
        float m = (float)mean;
        float scale = gamma[c] * invstd, shift = beta[c];
        for (int i = 0; i < B; i++) {
            const float *x = in + ((size_t)i * C + c) * HW;
            float *y = out + ((size_t)i * C + c) * HW;
            for (int p = 0; p < HW; p++)
                y[p] = (x[p] - m) * scale + shift;
        }
        saved[c] = m;
        saved[C + c] = invstd;
        double unbiased = N > 1 ? var * N / (N - 1) : var;
        run_mean[c] = (1.0f - SH_BN_MOMENTUM) * run_mean[c] + SH_BN_MOMENTUM * m;
        run_var[c] = (1.0f - SH_BN_MOMENTUM) * run_var[c] +
                     SH_BN_MOMENTUM * (float)unbiased;
    }
}

void sh_batchnorm_forward_eval(float *out, const float *in, const float *gamma,
                               const float *beta, const float *run_mean,
                               const float *run_var, int B, int C, int HW)
{
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float invstd = 1.0f / sqrtf(run_var[c] + SH_BN_EPS);
        float scale = gamma[c] * invstd, m = run_mean[c], shift = beta[c];
        for (int i = 0; i < B; i++) {
            const float *x = in + ((size_t)i * C + c) * HW;
            float *y = out + ((size_t)i * C + c) * HW;
            for (int p = 0; p < HW; p++)
                y[p] = (x[p] - m) * scale + shift;
        }
    }
}

void sh_batchnorm_backward(float *din, float *dgamma, float *dbeta,
                           const float *dout, const float *in, const float *saved,
                           const float *gamma, int B, int C, int HW)
{
    const double N = (double)B * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float m = saved[c], invstd = saved[C + c];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int i = 0; i < B; i++) {
            const float *x = in + ((size_t)i * C + c) * HW;
            const float *dy = dout + ((size_t)i * C + c) * HW;
            for (int p = 0; p < HW; p++) {
                sum_dy += dy[p];
                sum_dy_xhat += (double)dy[p] * ((x[p] - m) * invstd);
            }
        }
        dgamma[c] += (float)sum_dy_xhat;
        dbeta[c] += (float)sum_dy;
        if (!din)
            continue;
        float k = gamma[c] * invstd;
        float mean_dy = (float)(sum_dy / N), mean_dy_xhat = (float)(sum_dy_xhat / N);
        for (int i = 0; i < B; i++) {
            const float *x = in + ((size_t)i * C + c) * HW;
            const float *dy = dout + ((size_t)i * C + c) * HW;
            float *dx = din + ((size_t)i * C + c) * HW;
            for (int p = 0; p < HW; p++) {
                float xhat = (x[p] - m) * invstd;
                dx[p] += k * (dy[p] - mean_dy - xhat * mean_dy_xhat);
            }
        }
    }
}

/* ---- relu --------------------------------------------------------------- */

/* Elementwise loops keep their restrict pointers in plain functions (OpenMP
 * outlining would drop them and the vectorizer with them); big arrays are
 * split into one contiguous span per thread. */
static void relu_fwd_span(float *restrict out, const float *restrict in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

static void relu_bwd_span(float *restrict din, const float *restrict dout,
                          const float *restrict out, size_t n)
{
    /* Both loads unconditional, so the select vectorizes. */
    for (size_t i = 0; i < n; i++) {
        const float g = dout[i];
        din[i] += out[i] > 0.0f ? g : 0.0f;
    }
}

#define SPAN_BEGIN(n)                                                   \
    _Pragma("omp parallel if ((n) > 65536)")                            \
    {                                                                   \
        const size_t nth_ = (size_t)omp_get_num_threads();              \
        const size_t t_ = (size_t)omp_get_thread_num();                 \
        const size_t lo_ = (n) * t_ / nth_, len_ = (n) * (t_ + 1) / nth_ - lo_;
#define SPAN_END }

void sh_relu_forward(float *out, const float *in, size_t n)
{
    SPAN_BEGIN(n)
    relu_fwd_span(out + lo_, in + lo_, len_);
    SPAN_END
}

void sh_relu_backward(float *din, const float *dout, const float *out, size_t n)
{
    SPAN_BEGIN(n)
    relu_bwd_span(din + lo_, dout + lo_, out + lo_, len_);
    SPAN_END
}

/* ---- maxpool2d ---------------------------------------------------------- */

void sh_maxpool_forward(float *out, int32_t *argmax, const float *in, int B,
                        int C, int H, int W, int K, int stride)
{
    const int OH = (H - K) / stride + 1, OW = (W - K) / stride + 1;
#pragma omp parallel for schedule(static)
    for (int plane = 0; plane < B * C; plane++) {
        const float *x = in + (size_t)plane * H * W;
        float *y = out + (size_t)plane * OH * OW;
        int32_t *am = argmax + (size_t)plane * OH * OW;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                int best = (oy * stride) * W + ox * stride;
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++) {
                        int idx = (oy * stride + ky) * W + ox * stride + kx;
                        if (x[idx] > x[best])
                            best = idx;
                    }
                y[oy * OW + ox] = x[best];
                am[oy * OW + ox] = best;
            }
    }
}

void sh_maxpool_backward(float *din, const float *dout, const int32_t *argmax,
                         int B, int C, int H, int W, int K, int stride)
{
    const int OH = (H - K) / stride + 1, OW = (W - K) / stride + 1;
#pragma omp parallel for schedule(static)
    for (int plane = 0; plane < B * C; plane++) {
        float *dx = din + (size_t)plane * H * W;
        const float *dy = dout + (size_t)plane * OH * OW;
        const int32_t *am = argmax + (size_t)plane * OH * OW;
        for (int j = 0; j < OH * OW; j++)
            dx[am[j]] += dy[j];
    }
}

/* ---- global average pool ------------------------------------------------ */

void sh_avgpool_forward(float *out, const float *in, int B, int C, int HW)
{
    for (int plane = 0; plane < B * C; plane++) {
        const float *x = in + (size_t)plane * HW;
        float acc = 0.0f;
        for (int p = 0; p < HW; p++)
            acc += x[p];
        out[plane] = acc / (float)HW;
    }
}

void sh_avgpool_backward(float *din, const float *dout, int B, int C, int HW)
{
    for (int plane = 0; plane < B * C; plane++) {
        float g = dout[plane] / (float)HW;
        float *dx = din + (size_t)plane * HW;
        for (int p = 0; p < HW; p++)
            dx[p] += g;
    }
}

/* ---- residual add (option A shortcut) ----------------------------------- */

void sh_residual_forward(float *out, const float *a, const float *x, int B,
                         int C, int H, int W, int OC, int OH, int OW)
{
    const int stride = H / OH, pad = (OC - C) / 2;
    const size_t plane = (size_t)OH * OW;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < B; i++)
        for (int oc = 0; oc < OC; oc++) {
            const float *ap = a + ((size_t)i * OC + oc) * plane;
            float *op = out + ((size_t)i * OC + oc) * plane;
            int c = oc - pad;
            if (c < 0 || c >= C) {
                memcpy(op, ap, sizeof(float) * plane);
                continue;
            }
            const float *xp = x + ((size_t)i * C + c) * H * W;
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++)
                    op[oy * OW + ox] = ap[oy * OW + ox] + xp[(oy * stride) * W + ox * stride];
        }
}

void sh_residual_backward(float *da, float *dx, const float *dout, int B, int C,
                          int H, int W, int OC, int OH, int OW)
{
    const int stride = H / OH, pad = (OC - C) / 2;
    const size_t plane = (size_t)OH * OW;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < B; i++)
        for (int oc = 0; oc < OC; oc++) {
            const float *gp = dout + ((size_t)i * OC + oc) * plane;
            float *dap = da + ((size_t)i * OC + oc) * plane;
            for (size_t p = 0; p < plane; p++)
                dap[p] += gp[p];
            int c = oc - pad;
            if (!dx || c < 0 || c >= C)
                continue;
            float *dxp = dx + ((size_t)i * C + c) * H * W;
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++)
                    dxp[(oy * stride) * W + ox * stride] += gp[oy * OW + ox];
        }
}

/* ---- softmax cross-entropy ---------------------------------------------- */

float sh_softmax_xent(float *dlogits, int *correct, const float *logits,
                      const int32_t *labels, int B, int K)
{
    SH_ASSERT(K > 0); /* the sum below includes exp(0) for the arg max: log is finite */
    double loss = 0.0;
    int n_correct = 0;
    for (int i = 0; i < B; i++) {
        const float *z = logits + (size_t)i * K;
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > z[arg])
                arg = k;
        n_correct += arg == labels[i];
        float zmax = z[arg];
        double sum = 0.0;
        for (int k = 0; k < K; k++)
            sum += exp((double)(z[k] - zmax));
        /* sum >= 1: the term k = arg is exp(0). */
        // cppcheck-suppress invalidFunctionArg
        double logsum = log(sum);
        loss += logsum - (double)(z[labels[i]] - zmax);
        if (dlogits) {
            float *d = dlogits + (size_t)i * K;
            for (int k = 0; k < K; k++) {
                double p = exp((double)(z[k] - zmax) - logsum);
                d[k] = (float)((p - (k == labels[i])) / B);
            }
        }
    }
    if (correct)
        *correct = n_correct;
    return (float)(loss / B);
}

/* ---- conv2d with sparse weights -------------------------------------------- */

void sh_conv2d_forward_sparse(float *out, const float *in, const sh_csr_t *w, const float *b,
                              int B, const sh_conv_shape_t *s, float *scratch, int nth)
{
    const int P = s->OH * s->OW;
    const size_t in_sz = (size_t)s->C * s->H * s->W, out_sz = (size_t)s->OC * P;
    const size_t per_thread = conv_col_floats(s) + conv_dw_floats(s);
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int i = 0; i < B; i++) {
        const float *img = in + (size_t)i * in_sz;
        float *o = out + (size_t)i * out_sz;
        const float *col = img;
        if (!conv_is_pointwise(s)) {
            float *buf = scratch + (size_t)omp_get_thread_num() * per_thread;
            sh_im2col(buf, img, s);
            col = buf;
        }
        sh_spmm(o, w, col, P, 0);
        if (b)
            for (int oc = 0; oc < s->OC; oc++)
                for (int p = 0; p < P; p++)
                    o[(size_t)oc * P + p] += b[oc];
    }
}

void sh_conv2d_backward_sparse(float *din, float *g, float *db, const float *dout,
                               const float *in, const sh_csr_t *w, int B,
                               const sh_conv_shape_t *s, float *scratch, float *gpart, int nth)
{
    const int P = s->OH * s->OW, OC = s->OC;
    const size_t in_sz = (size_t)s->C * s->H * s->W, out_sz = (size_t)OC * P;
    const size_t col_n = conv_col_floats(s), per_thread = col_n + conv_dw_floats(s);
    const size_t nnz = (size_t)w->nnz;
    int team = 1;
#pragma omp parallel num_threads(nth)
    {
        const int t = omp_get_thread_num();
#pragma omp single
        team = omp_get_num_threads();
        float *col_buf = scratch + (size_t)t * per_thread;
        float *pg = gpart + (size_t)t * (nnz + (size_t)OC);
        float *pdb = pg + nnz;
        memset(pg, 0, sizeof(float) * (nnz + (size_t)OC));
#pragma omp for schedule(static)
        for (int i = 0; i < B; i++) {
            const float *img = in + (size_t)i * in_sz;
            const float *gi = dout + (size_t)i * out_sz;
            const float *col = img;
            if (!conv_is_pointwise(s)) {
                sh_im2col(col_buf, img, s);
                col = col_buf;
            }
            sh_sddmm(pg, w, gi, col, P);
            for (int oc = 0; oc < OC; oc++) {
                float acc = 0.0f;
                for (int p = 0; p < P; p++)
                    acc += gi[(size_t)oc * P + p];
                pdb[oc] += acc;
            }
            if (!din)
                continue;
            float *dimg = din + (size_t)i * in_sz;
            if (conv_is_pointwise(s)) {
                sh_spmm_t(dimg, w, gi, P);
            } else {
                memset(col_buf, 0, sizeof(float) * col_n);
                sh_spmm_t(col_buf, w, gi, P);
                sh_col2im_add(dimg, col_buf, s);
            }
        }
    }
#pragma omp parallel for schedule(static) num_threads(nth)
    for (size_t j = 0; j < nnz + (size_t)OC; j++) {
        float acc = 0.0f;
        for (int t = 0; t < team; t++)
            acc += gpart[(size_t)t * (nnz + (size_t)OC) + j];
        if (j < nnz)
            g[j] += acc;
        else if (db)
            db[j - nnz] += acc;
    }
}
