/* sh_sparse.c - CSR indexing and the sparse kernels (see sh_sparse.h).
 *
 * Register blocking: a block of 32 outputs of one row is accumulated in a
 * fixed-size local array across all the row's entries, so the compiler
 * keeps it in vector registers and each entry costs one broadcast and four
 * fused multiply-adds (AVX2) instead of a load-modify-store of y.
 *
 * Rounding: the AVX2 variants contract a * b + c into FMA (this file is
 * compiled with -ffp-contract=fast), the baseline ones do not, so results
 * are reproducible on one kind of CPU, and within float rounding across
 * kinds, like OpenBLAS's own per-CPU kernels. */
#include "sh_sparse.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK 32

static int bit(const uint64_t *mask, size_t i) { return (int)((mask[i >> 6] >> (i & 63)) & 1u); }

void sh_csr_free(sh_csr_t *m)
{
    free(m->row_ptr);
    free(m->col);
    free(m->val);
    free(m->t_ptr);
    free(m->t_row);
    free(m->t_pos);
    memset(m, 0, sizeof *m);
}

int sh_csr_build(sh_csr_t *m, const float *w, const uint64_t *mask, size_t offset, int rows,
                 int cols)
{
    memset(m, 0, sizeof *m);
    int64_t nnz = 0;
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        nnz += bit(mask, offset + i);
    m->rows = rows;
    m->cols = cols;
    m->nnz = nnz;
    m->row_ptr = malloc(sizeof(int32_t) * ((size_t)rows + 1));
    m->col = malloc(sizeof(int32_t) * (size_t)(nnz ? nnz : 1));
    m->val = malloc(sizeof(float) * (size_t)(nnz ? nnz : 1));
    m->t_ptr = calloc((size_t)cols + 1, sizeof(int32_t));
    m->t_row = malloc(sizeof(int32_t) * (size_t)(nnz ? nnz : 1));
    m->t_pos = malloc(sizeof(int32_t) * (size_t)(nnz ? nnz : 1));
    if (!m->row_ptr || !m->col || !m->val || !m->t_ptr || !m->t_row || !m->t_pos) {
        sh_csr_free(m);
        return -1;
    }
    int64_t k = 0;
    for (int r = 0; r < rows; r++) {
        m->row_ptr[r] = (int32_t)k;
        for (int c = 0; c < cols; c++)
            if (bit(mask, offset + (size_t)r * cols + c)) {
                m->col[k] = c;
                m->val[k] = w[(size_t)r * cols + c];
                m->t_ptr[c + 1]++;
                k++;
            }
    }
    m->row_ptr[rows] = (int32_t)k;
    for (int c = 0; c < cols; c++)
        m->t_ptr[c + 1] += m->t_ptr[c];
    int32_t *fill = calloc((size_t)cols + 1, sizeof(int32_t));
    if (!fill) {
        sh_csr_free(m);
        return -1;
    }
    for (int r = 0; r < rows; r++)
        for (int32_t p = m->row_ptr[r]; p < m->row_ptr[r + 1]; p++) {
            int c = m->col[p];
            int32_t q = m->t_ptr[c] + fill[c]++;
            m->t_row[q] = r;
            m->t_pos[q] = p;
        }
    free(fill);
    return 0;
}

void sh_csr_refresh(sh_csr_t *m, const float *w)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < m->rows; r++)
        for (int32_t p = m->row_ptr[r]; p < m->row_ptr[r + 1]; p++)
            m->val[p] = w[(size_t)r * m->cols + m->col[p]];
}

/* ---- row kernels ------------------------------------------------------------
 * Each is written once as an always-inline body and compiled twice: for the
 * x86-64 baseline and for AVX2+FMA, picked at run time. The vector width of
 * the baseline is 4 floats, of AVX2 8, and the sparse products are mostly
 * streaming multiply-adds, so the difference is the whole point. */

/* Eight floats as one value (GCC/Clang vector extensions: AVX registers in
 * the AVX2 variants, pairs of SSE registers in the baseline ones). */
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4))); /* unaligned access */

static inline __attribute__((always_inline)) v8 load8(const float *p) { return *(const v8u *)p; }
static inline __attribute__((always_inline)) void store8(float *p, v8 v) { *(v8u *)p = v; }

/* y[0..n) (+)= sum over row r's entries of val * x[col]: 32 outputs at a
 * time held in four vector registers across all the row's entries. */
static inline __attribute__((always_inline)) void spmm_row_body(float *restrict yr,
                                                                const sh_csr_t *m, int r,
                                                                const float *x, int n,
                                                                int accumulate)
{
    const int full = n / BLOCK * BLOCK;
    const int32_t p0 = m->row_ptr[r], p1 = m->row_ptr[r + 1];
    for (int j0 = 0; j0 < full; j0 += BLOCK) {
        v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        if (accumulate) {
            a0 = load8(yr + j0), a1 = load8(yr + j0 + 8);
            a2 = load8(yr + j0 + 16), a3 = load8(yr + j0 + 24);
        }
        for (int32_t p = p0; p < p1; p++) {
            const float v = m->val[p];
            const float *xr = x + (size_t)m->col[p] * n + j0;
            a0 += v * load8(xr);
            a1 += v * load8(xr + 8);
            a2 += v * load8(xr + 16);
            a3 += v * load8(xr + 24);
        }
        store8(yr + j0, a0), store8(yr + j0 + 8, a1);
        store8(yr + j0 + 16, a2), store8(yr + j0 + 24, a3);
    }
    for (int j = full; j < n; j++) {
        float acc = accumulate ? yr[j] : 0.0f;
        for (int32_t p = p0; p < p1; p++)
            acc += m->val[p] * x[(size_t)m->col[p] * n + j];
        yr[j] = acc;
    }
}

/* y[0..n) += sum over column c's entries of val * x[row]. */
static inline __attribute__((always_inline)) void spmm_t_col_body(float *restrict yc,
                                                                  const sh_csr_t *m, int c,
                                                                  const float *x, int n)
{
    const int full = n / BLOCK * BLOCK;
    const int32_t q0 = m->t_ptr[c], q1 = m->t_ptr[c + 1];
    for (int j0 = 0; j0 < full; j0 += BLOCK) {
        v8 a0 = load8(yc + j0), a1 = load8(yc + j0 + 8);
        v8 a2 = load8(yc + j0 + 16), a3 = load8(yc + j0 + 24);
        for (int32_t q = q0; q < q1; q++) {
            const float v = m->val[m->t_pos[q]];
            const float *xr = x + (size_t)m->t_row[q] * n + j0;
            a0 += v * load8(xr);
            a1 += v * load8(xr + 8);
            a2 += v * load8(xr + 16);
            a3 += v * load8(xr + 24);
        }
        store8(yc + j0, a0), store8(yc + j0 + 8, a1);
        store8(yc + j0 + 16, a2), store8(yc + j0 + 24, a3);
    }
    for (int j = full; j < n; j++) {
        float acc = yc[j];
        for (int32_t q = q0; q < q1; q++)
            acc += m->val[m->t_pos[q]] * x[(size_t)m->t_row[q] * n + j];
        yc[j] = acc;
    }
}

/* g[p] += <dy row r, x row col[p]> for row r's entries: eight independent
 * lanes per dot product, summed in a fixed order at the end. */
static inline __attribute__((always_inline)) void sddmm_row_body(float *g, const sh_csr_t *m,
                                                                 int r, const float *dy,
                                                                 const float *x, int n)
{
    const float *dr = dy + (size_t)r * n;
    const int full = n / 16 * 16;
    for (int32_t p = m->row_ptr[r]; p < m->row_ptr[r + 1]; p++) {
        const float *xr = x + (size_t)m->col[p] * n;
        v8 l0 = {0}, l1 = {0};
        for (int j0 = 0; j0 < full; j0 += 16) {
            l0 += load8(dr + j0) * load8(xr + j0);
            l1 += load8(dr + j0 + 8) * load8(xr + j0 + 8);
        }
        v8 l = l0 + l1;
        float acc = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
        for (int j = full; j < n; j++)
            acc += dr[j] * xr[j];
        g[p] += acc;
    }
}

#define DEFINE_VARIANTS(suffix, attr)                                                       \
    attr static void spmm_row_##suffix(float *yr, const sh_csr_t *m, int r, const float *x, \
                                       int n, int accumulate)                               \
    {                                                                                       \
        spmm_row_body(yr, m, r, x, n, accumulate);                                          \
    }                                                                                       \
    attr static void spmm_t_col_##suffix(float *yc, const sh_csr_t *m, int c,               \
                                         const float *x, int n)                             \
    {                                                                                       \
        spmm_t_col_body(yc, m, c, x, n);                                                    \
    }                                                                                       \
    attr static void sddmm_row_##suffix(float *g, const sh_csr_t *m, int r,                 \
                                        const float *dy, const float *x, int n)             \
    {                                                                                       \
        sddmm_row_body(g, m, r, dy, x, n);                                                  \
    }

DEFINE_VARIANTS(base, )
#if defined(__x86_64__) && defined(__GNUC__)
DEFINE_VARIANTS(avx2, __attribute__((target("avx2,fma"))))
static int use_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define spmm_row_avx2 spmm_row_base
#define spmm_t_col_avx2 spmm_t_col_base
#define sddmm_row_avx2 sddmm_row_base
static int use_avx2(void) { return 0; }
#endif

void sh_spmm(float *y, const sh_csr_t *m, const float *x, int n, int accumulate)
{
    const int avx2 = use_avx2();
#pragma omp parallel for schedule(dynamic, 8)
    for (int r = 0; r < m->rows; r++) {
        if (avx2)
            spmm_row_avx2(y + (size_t)r * n, m, r, x, n, accumulate);
        else
            spmm_row_base(y + (size_t)r * n, m, r, x, n, accumulate);
    }
}

void sh_spmm_t(float *y, const sh_csr_t *m, const float *x, int n)
{
    const int avx2 = use_avx2();
#pragma omp parallel for schedule(dynamic, 8)
    for (int c = 0; c < m->cols; c++) {
        if (avx2)
            spmm_t_col_avx2(y + (size_t)c * n, m, c, x, n);
        else
            spmm_t_col_base(y + (size_t)c * n, m, c, x, n);
    }
}

void sh_sddmm(float *g, const sh_csr_t *m, const float *dy, const float *x, int n)
{
    const int avx2 = use_avx2();
#pragma omp parallel for schedule(dynamic, 8)
    for (int r = 0; r < m->rows; r++) {
        if (avx2)
            sddmm_row_avx2(g, m, r, dy, x, n);
        else
            sddmm_row_base(g, m, r, dy, x, n);
    }
}

/* Batch 1: each row is a gathered dot product. Four independent
 * accumulators hide the latency of the multiply-add chain (one accumulator
 * would wait on the previous add for every entry); they are summed in a
 * fixed order. */
void sh_spmv(float *y, const sh_csr_t *m, const float *x)
{
#pragma omp parallel for schedule(static) if (m->nnz > 262144)
    for (int r = 0; r < m->rows; r++) {
        const int32_t *restrict col = m->col;
        const float *restrict val = m->val;
        int32_t p = m->row_ptr[r];
        const int32_t end = m->row_ptr[r + 1];
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        for (; p + 4 <= end; p += 4) {
            a0 += val[p] * x[col[p]];
            a1 += val[p + 1] * x[col[p + 1]];
            a2 += val[p + 2] * x[col[p + 2]];
            a3 += val[p + 3] * x[col[p + 3]];
        }
        for (; p < end; p++)
            a0 += val[p] * x[col[p]];
        y[r] = (a0 + a1) + (a2 + a3);
    }
}

void sh_spmm_ref(float *y, const sh_csr_t *m, const float *x, int n, int accumulate)
{
    for (int r = 0; r < m->rows; r++)
        for (int j = 0; j < n; j++) {
            double acc = accumulate ? y[(size_t)r * n + j] : 0.0;
            for (int32_t p = m->row_ptr[r]; p < m->row_ptr[r + 1]; p++)
                acc += (double)m->val[p] * x[(size_t)m->col[p] * n + j];
            y[(size_t)r * n + j] = (float)acc;
        }
}

void sh_spmm_t_ref(float *y, const sh_csr_t *m, const float *x, int n)
{
    for (int r = 0; r < m->rows; r++)
        for (int32_t p = m->row_ptr[r]; p < m->row_ptr[r + 1]; p++)
            for (int j = 0; j < n; j++)
                y[(size_t)m->col[p] * n + j] += m->val[p] * x[(size_t)r * n + j];
}

void sh_sddmm_ref(float *g, const sh_csr_t *m, const float *dy, const float *x, int n)
{
    for (int r = 0; r < m->rows; r++)
        for (int32_t p = m->row_ptr[r]; p < m->row_ptr[r + 1]; p++) {
            double acc = 0.0;
            for (int j = 0; j < n; j++)
                acc += (double)dy[(size_t)r * n + j] * x[(size_t)m->col[p] * n + j];
            g[p] += (float)acc;
        }
}

void sh_transpose(float *dst, const float *src, int r, int c)
{
    const int T = 32;
#pragma omp parallel for schedule(static) if ((size_t)r * c > 65536)
    for (int i0 = 0; i0 < r; i0 += T)
        for (int j0 = 0; j0 < c; j0 += T)
            for (int i = i0; i < i0 + T && i < r; i++)
                for (int j = j0; j < j0 + T && j < c; j++)
                    dst[(size_t)j * r + i] = src[(size_t)i * c + j];
}
