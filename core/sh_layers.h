/* sh_layers.h - layer kernels: plain functions over raw NCHW float buffers.
 *
 * Every layer is a forward/backward pair. Backward functions ADD into their
 * gradient outputs (parameter gradients and the input gradient), so a tensor
 * read by two consumers (a residual input) gets both contributions and one
 * zero_grad per step clears everything. A NULL input-gradient pointer skips
 * that computation (the first layer has no use for it).
 *
 * Each optimized kernel has a naive `_ref` twin that the tests compare
 * against; the references are written for clarity, not speed. */
#ifndef SH_LAYERS_H
#define SH_LAYERS_H

#include "sh_sparse.h"

#include <stddef.h>
#include <stdint.h>

/* ---- linear --------------------------------------------------------------
 * in (B,C), w (OC,C), b (OC) or NULL, out (B,OC) */
void sh_linear_forward(float *out, const float *in, const float *w, const float *b,
                       int B, int C, int OC);
/* dout (B,OC); din (B,C) += dout w; dw (OC,C) += dout^T in; db (OC) += sum dout */
void sh_linear_backward(float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w, int B, int C, int OC);
void sh_linear_forward_ref(float *out, const float *in, const float *w,
                           const float *b, int B, int C, int OC);
void sh_linear_backward_ref(float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w, int B, int C, int OC);

/* ---- conv2d (im2col + sgemm) ----------------------------------------------
 * in (B,C,H,W), w (OC,C,K,K), b (OC) or NULL, out (B,OC,OH,OW),
 * OH = (H + 2 pad - K) / stride + 1. */
typedef struct {
    int C, H, W;
    int OC, K, stride, pad;
    int OH, OW;
} sh_conv_shape_t;

/* Fills OH/OW; returns 0, or -1 if the output would be empty. */
int sh_conv_shape_init(sh_conv_shape_t *s, int C, int H, int W, int OC, int K,
                       int stride, int pad);

/* Scratch floats the conv kernels need with nth threads: an im2col buffer per
 * thread, plus per-thread weight-gradient partials for backward. */
size_t sh_conv_scratch_floats(const sh_conv_shape_t *s, int nth);

void sh_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                       int B, const sh_conv_shape_t *s, float *scratch, int nth);
void sh_conv2d_backward(float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w, int B,
                        const sh_conv_shape_t *s, float *scratch, int nth);
void sh_conv2d_forward_ref(float *out, const float *in, const float *w,
                           const float *b, int B, const sh_conv_shape_t *s);
void sh_conv2d_backward_ref(float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w, int B,
                            const sh_conv_shape_t *s);

/* The same with the weights as CSR (OC x C*K*K, see sh_sparse.h). The
 * weight gradient goes to g, one entry per live weight in CSR order; gpart
 * is scratch of nth * (nnz + OC) floats for per-thread partials. */
void sh_conv2d_forward_sparse(float *out, const float *in, const sh_csr_t *w, const float *b,
                              int B, const sh_conv_shape_t *s, float *scratch, int nth);
void sh_conv2d_backward_sparse(float *din, float *g, float *db, const float *dout,
                               const float *in, const sh_csr_t *w, int B,
                               const sh_conv_shape_t *s, float *scratch, float *gpart, int nth);

/* im2col of one image: col (C*K*K, OH*OW); col2im adds back into img. */
void sh_im2col(float *col, const float *img, const sh_conv_shape_t *s);
void sh_col2im_add(float *img, const float *col, const sh_conv_shape_t *s);

/* ---- batchnorm2d ----------------------------------------------------------
 * in (B,C,HW), gamma/beta (C), running mean/var (C), out (B,C,HW).
 * Training: normalizes with batch statistics, saves mean and 1/std per
 * channel into saved (2C), and updates running stats (PyTorch semantics:
 * momentum 0.1, unbiased variance for the running estimate). Evaluation:
 * uses the running statistics. */
#define SH_BN_EPS 1e-5f
#define SH_BN_MOMENTUM 0.1f
void sh_batchnorm_forward_train(float *out, float *saved, float *run_mean,
                                float *run_var, const float *in,
                                const float *gamma, const float *beta, int B,
                                int C, int HW);
void sh_batchnorm_forward_eval(float *out, const float *in, const float *gamma,
                               const float *beta, const float *run_mean,
                               const float *run_var, int B, int C, int HW);
/* Backward of the training-mode forward; saved as written by it. */
void sh_batchnorm_backward(float *din, float *dgamma, float *dbeta,
                           const float *dout, const float *in, const float *saved,
                           const float *gamma, int B, int C, int HW);

/* ---- relu: out = max(in, 0), n elements; backward uses out's sign -------- */
void sh_relu_forward(float *out, const float *in, size_t n);
void sh_relu_backward(float *din, const float *dout, const float *out, size_t n);

/* ---- maxpool2d (no padding) -----------------------------------------------
 * in (B,C,H,W), out (B,C,OH,OW) with OH = (H - K) / stride + 1; argmax
 * (B,C,OH,OW) records the winning input offset within the image plane. */
void sh_maxpool_forward(float *out, int32_t *argmax, const float *in, int B,
                        int C, int H, int W, int K, int stride);
void sh_maxpool_backward(float *din, const float *dout, const int32_t *argmax,
                         int B, int C, int H, int W, int K, int stride);

/* ---- global average pool: in (B,C,HW) -> out (B,C) ------------------------ */
void sh_avgpool_forward(float *out, const float *in, int B, int C, int HW);
void sh_avgpool_backward(float *din, const float *dout, int B, int C, int HW);

/* ---- residual add with CIFAR-ResNet "option A" shortcut --------------------
 * out (B,OC,OH,OW) = a (B,OC,OH,OW) + shortcut(x), x (B,C,H,W).
 * If C == OC and H == OH the shortcut is the identity; otherwise x is
 * subsampled with the stride H / OH and zero-padded with (OC - C) / 2
 * channels on each side (He et al. 2016, parameter-free). */
void sh_residual_forward(float *out, const float *a, const float *x, int B,
                         int C, int H, int W, int OC, int OH, int OW);
void sh_residual_backward(float *da, float *dx, const float *dout, int B, int C,
                          int H, int W, int OC, int OH, int OW);

/* ---- softmax cross-entropy --------------------------------------------------
 * logits (B,K), labels (B). Returns the mean loss; writes dlogits (B,K) =
 * (softmax - onehot) / B when dlogits is not NULL, and the number of correct
 * argmax predictions into *correct when not NULL. */
float sh_softmax_xent(float *dlogits, int *correct, const float *logits,
                      const int32_t *labels, int B, int K);

#endif
