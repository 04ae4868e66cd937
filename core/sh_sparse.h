/* sh_sparse.h - sparse kernels for pruned layers.
 *
 * A pruned weight matrix W (rows x cols, row-major in the parameter arena,
 * rows = output channels) is indexed once per mask as CSR, plus a
 * transposed index for the backward pass. The values are gathered from the
 * dense arena, where pruned weights are exactly zero, so the optimizer and
 * checkpoints keep working on the dense arena while the products touch only
 * the live weights.
 *
 * Dense operands are row-major with a contiguous "dense dimension" n (the
 * batch for linear layers, the output positions for convolutions); the
 * kernels are register-blocked over n and parallel over output rows, so
 * each thread writes only its own rows and results do not depend on the
 * thread count. Each kernel has a naive _ref twin for the tests. */
#ifndef SH_SPARSE_H
#define SH_SPARSE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int rows, cols;
    int64_t nnz;
    int32_t *row_ptr;  /* rows + 1 */
    int32_t *col;      /* nnz: column of each entry, ascending within a row */
    float *val;        /* nnz */
    /* Transposed index: entries of column c are t_pos[t_ptr[c] .. t_ptr[c+1]),
     * positions into col/val, with their rows in t_row. */
    int32_t *t_ptr, *t_row, *t_pos;
} sh_csr_t;

/* Indexes the live entries of W (mask bit offset + r * cols + c) and
 * gathers their values. Returns 0, or -1 if memory runs out (m stays empty). */
int sh_csr_build(sh_csr_t *m, const float *w, const uint64_t *mask, size_t offset, int rows,
                 int cols);
/* Re-gathers values from W after an optimizer step (same structure). */
void sh_csr_refresh(sh_csr_t *m, const float *w);
void sh_csr_free(sh_csr_t *m);

/* y (rows, n) = W x, x (cols, n); accumulate adds into y instead. */
void sh_spmm(float *y, const sh_csr_t *m, const float *x, int n, int accumulate);
/* y (cols, n) += W^T x, x (rows, n). */
void sh_spmm_t(float *y, const sh_csr_t *m, const float *x, int n);
/* Weight gradient on the live entries only (SDDMM):
 * g[k] += sum_j dy[row(k), j] * x[col(k), j] for every entry k,
 * dy (rows, n), x (cols, n); g has nnz entries, in CSR order. */
void sh_sddmm(float *g, const sh_csr_t *m, const float *dy, const float *x, int n);
/* y (rows) = W x (cols): batch-1 inference. */
void sh_spmv(float *y, const sh_csr_t *m, const float *x);

void sh_spmm_ref(float *y, const sh_csr_t *m, const float *x, int n, int accumulate);
void sh_spmm_t_ref(float *y, const sh_csr_t *m, const float *x, int n);
void sh_sddmm_ref(float *g, const sh_csr_t *m, const float *dy, const float *x, int n);

/* Out-of-place transpose of a (r, c) row-major matrix into (c, r). */
void sh_transpose(float *dst, const float *src, int r, int c);

#endif
