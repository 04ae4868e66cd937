/* sh_shm.c - .shm encoding (smallest of dense / bitmask / csr x index width
 * x raw / deflate per tensor) and bounded decoding. */
#include "sh_shm.h"

#include "sh_file.h"
#include "sh_hash.h"
#include "sh_mpack.h"

#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char *const value_names[] = {"fp32", "fp16", "int8"};
static const size_t value_bytes[] = {4, 2, 1};

const char *sh_values_name(sh_values_t v) { return value_names[v]; }

int sh_values_parse(const char *name, sh_values_t *out)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, value_names[i])) {
            *out = (sh_values_t)i;
            return 0;
        }
    return -1;
}

/* ---- IEEE binary16 <-> binary32 (round to nearest even), by bits, so any C11
 * compiler builds it the same ------------------------------------------------ */

static uint16_t half_from_float(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, abs = x & 0x7fffffffu;
    if (abs > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u); /* NaN */
    if (abs >= 0x477ff000u)
        return (uint16_t)(sign | 0x7c00u); /* rounds to infinity (>= 65520) */
    int32_t exp = (int32_t)(abs >> 23) - 127 + 15;
    uint32_t mant = abs & 0x7fffffu;
    if (exp <= 0) { /* subnormal half, or zero */
        if (exp < -10)
            return (uint16_t)sign;
        mant |= 0x800000u;
        int shift = 14 - exp;
        uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1u)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)exp << 10) | (mant >> 13), rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++; /* a carry into the exponent is the right answer */
    return (uint16_t)(sign | h);
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, x;
    if (exp == 0) {
        if (!mant) {
            x = sign;
        } else { /* subnormal: normalize */
            int e = -1;
            do {
                mant <<= 1;
                e++;
            } while (!(mant & 0x400u));
            x = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        x = sign | 0x7f800000u | (mant << 13);
    } else {
        x = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

uint16_t sh_half_from_float(float f) { return half_from_float(f); }
float sh_half_to_float(uint16_t h) { return half_to_float(h); }

/* ---- growable byte buffers ---------------------------------------------------- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} buf_t;

static void buf_put(buf_t *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            abort();
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_value(buf_t *b, float v, sh_values_t t, float scale)
{
    if (t == SH_VAL_FP32) {
        buf_put(b, &v, 4);
    } else if (t == SH_VAL_FP16) {
        uint16_t h = half_from_float(v);
        buf_put(b, &h, 2);
    } else {
        float q = scale > 0 ? roundf(v / scale) : 0.0f;
        int8_t i = (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
        buf_put(b, &i, 1);
    }
}

static float get_value(const unsigned char *p, size_t i, sh_values_t t, float scale)
{
    if (t == SH_VAL_FP32) {
        float v;
        memcpy(&v, p + 4 * i, 4);
        return v;
    }
    if (t == SH_VAL_FP16) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        return half_to_float(h);
    }
    return (float)(int8_t)p[i] * scale;
}

/* Deflates src; returns the compressed buffer or NULL if it did not shrink. */
static unsigned char *deflate_blob(const buf_t *src, size_t *out_len)
{
    uLongf cap = compressBound(src->n);
    unsigned char *dst = malloc(cap ? cap : 1);
    if (!dst || compress2(dst, &cap, src->p, src->n, 9) != Z_OK || cap >= src->n) {
        free(dst);
        return NULL;
    }
    *out_len = cap;
    return dst;
}

/* ---- candidate encodings of one tensor -------------------------------------------- */

typedef struct {
    int format;          /* 0 dense, 1 bitmask, 2 csr */
    int index_bits;
    uint64_t nnz;        /* stored entries */
    buf_t index, mask, data;
    int deflate;
    /* stored blobs (deflated or not) */
    unsigned char *s_index, *s_mask, *s_data;
    size_t l_index, l_mask, l_data;
    size_t total;
} cand_t;

static void cand_free(cand_t *c)
{
    if (c->s_index != c->index.p)
        free(c->s_index);
    if (c->s_mask != c->mask.p)
        free(c->s_mask);
    if (c->s_data != c->data.p)
        free(c->s_data);
    free(c->index.p);
    free(c->mask.p);
    free(c->data.p);
    memset(c, 0, sizeof *c);
}

/* Fixes the stored form: raw, or deflated if that is smaller overall. */
static void cand_finish(cand_t *c, size_t scales_bytes)
{
    size_t raw = c->index.n + c->mask.n + c->data.n;
    size_t li = 0, lm = 0, ld = 0;
    unsigned char *di = c->index.n ? deflate_blob(&c->index, &li) : NULL;
    unsigned char *dm = c->mask.n ? deflate_blob(&c->mask, &lm) : NULL;
    unsigned char *dd = c->data.n ? deflate_blob(&c->data, &ld) : NULL;
    /* Deflate applies to every blob of a tensor or to none. */
    int all = (!c->index.n || di) && (!c->mask.n || dm) && (!c->data.n || dd);
    size_t defl = (di ? li : 0) + (dm ? lm : 0) + (dd ? ld : 0);
    if (all && defl < raw) {
        c->deflate = 1;
        c->s_index = di, c->l_index = li;
        c->s_mask = dm, c->l_mask = lm;
        c->s_data = dd, c->l_data = ld;
    } else {
        free(di), free(dm), free(dd);
        c->s_index = c->index.p, c->l_index = c->index.n;
        c->s_mask = c->mask.p, c->l_mask = c->mask.n;
        c->s_data = c->data.p, c->l_data = c->data.n;
    }
    c->total = c->l_index + c->l_mask + c->l_data + scales_bytes;
}

static int alive_at(const sh_model_t *m, const sh_tensor_t *t, size_t i)
{
    return sh_mask_get(m->mask, t->offset + i);
}

static void encode_dense(cand_t *c, const sh_model_t *m, const sh_tensor_t *t, sh_values_t v,
                         const float *scales, size_t row_len)
{
    c->format = 0;
    c->nnz = t->numel;
    for (size_t i = 0; i < t->numel; i++)
        put_value(&c->data, alive_at(m, t, i) ? m->params[t->offset + i] : 0.0f, v,
                  scales ? scales[i / row_len] : 0.0f);
}

static void encode_bitmask(cand_t *c, const sh_model_t *m, const sh_tensor_t *t, sh_values_t v,
                           const float *scales, size_t row_len)
{
    c->format = 1;
    for (size_t i0 = 0; i0 < t->numel; i0 += 8) {
        unsigned char byte = 0;
        for (size_t i = i0; i < i0 + 8 && i < t->numel; i++)
            if (alive_at(m, t, i)) {
                byte |= (unsigned char)(1u << (i - i0));
                put_value(&c->data, m->params[t->offset + i], v,
                          scales ? scales[i / row_len] : 0.0f);
                c->nnz++;
            }
        buf_put(&c->mask, &byte, 1);
    }
}

/* Relative positions: entry k sits (delta_k + 1) after entry k-1 (the first
 * at delta_0); a gap longer than the width allows becomes filler entries of
 * value 0, each advancing by the largest delta. */
static void encode_csr(cand_t *c, const sh_model_t *m, const sh_tensor_t *t, sh_values_t v,
                       const float *scales, size_t row_len, int bits)
{
    c->format = 2;
    c->index_bits = bits;
    const uint64_t maxd = ((uint64_t)1 << bits) - 1;
    uint64_t next = 0; /* position the next delta counts from */
    unsigned char nib = 0;
    int half = 0;
    for (size_t i = 0; i < t->numel; i++) {
        if (!alive_at(m, t, i))
            continue;
        uint64_t gap = i - next;
        for (;;) {
            uint64_t d = gap > maxd ? maxd : gap;
            int filler = gap > maxd;
            if (bits == 4) {
                if (!half) {
                    nib = (unsigned char)d;
                    half = 1;
                } else {
                    nib |= (unsigned char)(d << 4);
                    buf_put(&c->index, &nib, 1);
                    half = 0;
                }
            } else if (bits == 8) {
                unsigned char b = (unsigned char)d;
                buf_put(&c->index, &b, 1);
            } else {
                uint16_t w = (uint16_t)d;
                buf_put(&c->index, &w, 2);
            }
            size_t pos = next + d;
            put_value(&c->data, filler ? 0.0f : m->params[t->offset + i], v,
                      scales ? scales[pos / row_len] : 0.0f);
            c->nnz++;
            next = pos + 1;
            if (!filler)
                break;
            gap = i - next;
        }
    }
    if (half)
        buf_put(&c->index, &nib, 1);
}

/* Rice-coded gaps: each delta d (as in csr) is written as d >> k in unary
 * (that many 1 bits, then a 0) followed by the k low bits of d, into an
 * LSB-first bit stream. Near-optimal for the geometric gaps of random
 * sparsity, with no filler entries; k is chosen per tensor. */
typedef struct {
    buf_t *b;
    uint64_t acc;
    int used;
} bits_t;

static void bits_put(bits_t *w, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        w->acc |= ((v >> i) & 1u) << w->used;
        if (++w->used == 8) {
            unsigned char byte = (unsigned char)w->acc;
            buf_put(w->b, &byte, 1);
            w->acc = 0;
            w->used = 0;
        }
    }
}

static void bits_flush(bits_t *w)
{
    if (w->used) {
        unsigned char byte = (unsigned char)w->acc;
        buf_put(w->b, &byte, 1);
    }
}

static void encode_rice(cand_t *c, const sh_model_t *m, const sh_tensor_t *t, sh_values_t v,
                        const float *scales, size_t row_len, int k)
{
    c->format = 3;
    c->index_bits = k;
    bits_t w = {.b = &c->index};
    uint64_t next = 0;
    for (size_t i = 0; i < t->numel; i++) {
        if (!alive_at(m, t, i))
            continue;
        uint64_t d = i - next;
        for (uint64_t q = d >> k; q > 0; q--)
            bits_put(&w, 1, 1);
        bits_put(&w, 0, 1);
        bits_put(&w, d & (((uint64_t)1 << k) - 1), k);
        put_value(&c->data, m->params[t->offset + i], v, scales ? scales[i / row_len] : 0.0f);
        c->nnz++;
        next = i + 1;
    }
    bits_flush(&w);
}

/* ---- writing ------------------------------------------------------------------------- */

size_t sh_shm_dense_bytes(const sh_model_t *m)
{
    size_t n = 256 + sizeof(float) * m->n_buffers;
    for (int t = 0; t < m->n_tensors; t++)
        n += 64 + sizeof(float) * m->tensors[t].numel;
    return n;
}

sh_status_t sh_shm_encode(const sh_model_t *m, const sh_shm_meta_t *meta, sh_values_t values,
                          char **data, size_t *len, sh_err_t *err)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    sh_sha256_t h;
    sh_sha256_init(&h);
    msgpack_pack_map(&pk, 11);
    sh_mpw_str(&pk, "magic");
    sh_mpw_str(&pk, SH_SHM_MAGIC);
    sh_mpw_str(&pk, "version");
    msgpack_pack_int(&pk, SH_SHM_VERSION);
    sh_mpw_str(&pk, "arch");
    sh_mpw_str(&pk, m->arch);
    sh_mpw_str(&pk, "input");
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, m->in_c);
    msgpack_pack_int(&pk, m->in_h);
    msgpack_pack_int(&pk, m->in_w);
    sh_mpw_str(&pk, "classes");
    msgpack_pack_int(&pk, m->n_classes);
    sh_mpw_str(&pk, "norm");
    msgpack_pack_map(&pk, 2);
    sh_mpw_str(&pk, "mean");
    msgpack_pack_array(&pk, (size_t)m->in_c);
    for (int c = 0; c < m->in_c; c++)
        msgpack_pack_float(&pk, c < meta->norm.c ? meta->norm.mean[c] : 0.0f);
    sh_mpw_str(&pk, "std");
    msgpack_pack_array(&pk, (size_t)m->in_c);
    for (int c = 0; c < m->in_c; c++)
        msgpack_pack_float(&pk, c < meta->norm.c ? meta->norm.std[c] : 1.0f);
    sh_mpw_str(&pk, "job");
    sh_mpw_str(&pk, meta->job);
    sh_mpw_str(&pk, "test_accuracy");
    if (isfinite(meta->test_accuracy))
        msgpack_pack_double(&pk, meta->test_accuracy);
    else
        msgpack_pack_nil(&pk);
    sh_mpw_str(&pk, "tensors");
    msgpack_pack_array(&pk, (size_t)m->n_tensors);
    for (int ti = 0; ti < m->n_tensors; ti++) {
        const sh_tensor_t *t = &m->tensors[ti];
        const size_t rows = (size_t)t->shape[0], row_len = t->numel / rows;
        /* Biases and batchnorm: dense, fp16 unless fp32 was asked for. */
        sh_values_t v = t->prunable ? values : values == SH_VAL_FP32 ? SH_VAL_FP32 : SH_VAL_FP16;
        float *scales = NULL;
        if (v == SH_VAL_INT8) {
            scales = sh_xcalloc(rows, sizeof(float));
            for (size_t r = 0; r < rows; r++) {
                float mx = 0.0f;
                for (size_t k = 0; k < row_len; k++)
                    if (alive_at(m, t, r * row_len + k))
                        mx = fmaxf(mx, fabsf(m->params[t->offset + r * row_len + k]));
                scales[r] = mx > 0 ? mx / 127.0f : 1.0f;
                if (scales[r] < 1e-7f)
                    scales[r] = 1e-7f; /* stays a normal fp16 number */
            }
        }
        /* Scales are stored as fp16 (the value grid they define is int8). */
        size_t scales_bytes = scales ? rows * 2 : 0;
        uint16_t *scales16 = NULL;
        if (scales) {
            scales16 = sh_xmalloc(scales_bytes);
            for (size_t r = 0; r < rows; r++) {
                scales16[r] = half_from_float(scales[r]);
                scales[r] = half_to_float(scales16[r]); /* quantize against the stored scale */
            }
        }
        cand_t best = {0}, c = {0};
        encode_dense(&best, m, t, v, scales, row_len);
        cand_finish(&best, scales_bytes);
        if (t->prunable) {
            /* The Rice parameter near log2 of the mean gap, and its neighbours. */
            size_t alive = sh_tensor_alive(m, ti);
            int k0 = 0;
            while (alive && ((size_t)1 << (k0 + 1)) * alive < t->numel && k0 < 20)
                k0++;
            static const int widths[3] = {4, 8, 16};
            for (int k = -1; k < 6; k++) {
                if (k < 0)
                    encode_bitmask(&c, m, t, v, scales, row_len);
                else if (k < 3)
                    encode_csr(&c, m, t, v, scales, row_len, widths[k]);
                else if (k0 + k - 4 >= 0)
                    encode_rice(&c, m, t, v, scales, row_len, k0 + k - 4);
                else
                    continue;
                cand_finish(&c, scales_bytes);
                if (c.total < best.total) {
                    cand_free(&best);
                    best = c;
                    memset(&c, 0, sizeof c);
                } else {
                    cand_free(&c);
                }
            }
        }
        static const char *const fmt[] = {"dense", "bitmask", "csr", "rice"};
        int fields = 7 + (best.format >= 2) * 2 + (best.format == 1) + (scales != NULL);
        msgpack_pack_map(&pk, (size_t)fields);
        sh_mpw_str(&pk, "name");
        sh_mpw_str(&pk, t->name);
        sh_mpw_str(&pk, "shape");
        msgpack_pack_array(&pk, (size_t)t->ndim);
        for (int d = 0; d < t->ndim; d++)
            msgpack_pack_int(&pk, t->shape[d]);
        sh_mpw_str(&pk, "format");
        sh_mpw_str(&pk, fmt[best.format]);
        sh_mpw_str(&pk, "values");
        sh_mpw_str(&pk, value_names[v]);
        sh_mpw_str(&pk, "deflate");
        if (best.deflate)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
        sh_mpw_str(&pk, "nnz");
        msgpack_pack_uint64(&pk, best.nnz);
        if (best.format >= 2) {
            sh_mpw_str(&pk, best.format == 2 ? "index_bits" : "rice_k");
            msgpack_pack_int(&pk, best.index_bits);
            sh_mpw_str(&pk, "index");
            sh_mpw_bin(&pk, best.s_index, best.l_index);
            sh_sha256_update(&h, best.s_index, best.l_index);
        }
        if (best.format == 1) {
            sh_mpw_str(&pk, "mask");
            sh_mpw_bin(&pk, best.s_mask, best.l_mask);
            sh_sha256_update(&h, best.s_mask, best.l_mask);
        }
        sh_mpw_str(&pk, "data");
        sh_mpw_bin(&pk, best.s_data, best.l_data);
        sh_sha256_update(&h, best.s_data, best.l_data);
        if (scales) {
            sh_mpw_str(&pk, "scales");
            sh_mpw_bin(&pk, scales16, scales_bytes);
            sh_sha256_update(&h, scales16, scales_bytes);
        }
        cand_free(&best);
        free(scales);
        free(scales16);
    }
    sh_mpw_str(&pk, "buffers");
    sh_mpw_bin(&pk, m->buffers, sizeof(float) * m->n_buffers);
    sh_sha256_update(&h, m->buffers, sizeof(float) * m->n_buffers);
    char sha[65];
    sh_sha256_final_hex(&h, sha);
    sh_mpw_str(&pk, "payload_sha256");
    sh_mpw_str(&pk, sha);
    *data = sb.data;
    *len = sb.size;
    (void)err;
    return SH_OK;
}

sh_status_t sh_shm_save(const sh_model_t *m, const sh_shm_meta_t *meta, sh_values_t values,
                        const char *path, size_t *bytes, sh_err_t *err)
{
    char *data;
    size_t len;
    sh_status_t st = sh_shm_encode(m, meta, values, &data, &len, err);
    if (st != SH_OK)
        return st;
    st = sh_file_write_atomic(path, data, len, err);
    free(data);
    if (bytes)
        *bytes = len;
    return st;
}

/* ---- reading ------------------------------------------------------------------------ */

typedef struct {
    char name[64], format[8], values[8];
    int shape[4], ndim, deflate, index_bits, rice_k, has_rice_k;
    uint64_t nnz;
    const uint8_t *index, *mask, *data, *scales;
    uint32_t l_index, l_mask, l_data, l_scales;
} rtensor_t;

static int read_tensor(sh_mpr_t *r, rtensor_t *t)
{
    uint32_t n;
    if (sh_mpr_map(r, &n))
        return -1;
    for (uint32_t i = 0; i < n && !r->failed; i++) {
        const char *k;
        uint32_t kl;
        if (sh_mpr_str(r, &k, &kl))
            return -1;
        if (sh_mpr_key_is(k, kl, "name")) {
            sh_mpr_str_copy(r, t->name, sizeof t->name);
        } else if (sh_mpr_key_is(k, kl, "shape")) {
            uint32_t d;
            if (sh_mpr_array(r, &d) || d < 1 || d > 4)
                return sh_mpr_fail(r, "tensor shape must have 1 to 4 dimensions");
            t->ndim = (int)d;
            for (uint32_t j = 0; j < d; j++) {
                int64_t v;
                if (sh_mpr_int(r, &v) || v < 1 || v > (1 << 24))
                    return sh_mpr_fail(r, "bad tensor dimension");
                t->shape[j] = (int)v;
            }
        } else if (sh_mpr_key_is(k, kl, "format")) {
            sh_mpr_str_copy(r, t->format, sizeof t->format);
        } else if (sh_mpr_key_is(k, kl, "values")) {
            sh_mpr_str_copy(r, t->values, sizeof t->values);
        } else if (sh_mpr_key_is(k, kl, "deflate")) {
            sh_mpr_bool(r, &t->deflate);
        } else if (sh_mpr_key_is(k, kl, "nnz")) {
            sh_mpr_uint(r, &t->nnz);
        } else if (sh_mpr_key_is(k, kl, "index_bits")) {
            int64_t b;
            sh_mpr_int(r, &b);
            t->index_bits = (int)(b == 4 || b == 8 || b == 16 ? b : 0);
        } else if (sh_mpr_key_is(k, kl, "rice_k")) {
            int64_t b;
            if (sh_mpr_int(r, &b) || b < 0 || b > 30)
                return sh_mpr_fail(r, "rice_k must be from 0 to 30");
            t->rice_k = (int)b;
            t->has_rice_k = 1;
        } else if (sh_mpr_key_is(k, kl, "index")) {
            sh_mpr_bin(r, &t->index, &t->l_index);
        } else if (sh_mpr_key_is(k, kl, "mask")) {
            sh_mpr_bin(r, &t->mask, &t->l_mask);
        } else if (sh_mpr_key_is(k, kl, "data")) {
            sh_mpr_bin(r, &t->data, &t->l_data);
        } else if (sh_mpr_key_is(k, kl, "scales")) {
            sh_mpr_bin(r, &t->scales, &t->l_scales);
        } else {
            sh_mpr_skip(r);
        }
    }
    return r->failed ? -1 : 0;
}

/* Inflates a blob to exactly `want` bytes (or copies it when not deflated).
 * Returns a malloc'd buffer, or NULL if the sizes do not agree. */
static unsigned char *expand(const uint8_t *p, uint32_t len, int deflated, uint64_t want)
{
    if (want > SH_SHM_MAX_BYTES)
        return NULL;
    unsigned char *out = malloc(want ? (size_t)want : 1);
    if (!out)
        return NULL;
    if (!deflated) {
        if (len != want) {
            free(out);
            return NULL;
        }
        if (len)
            memcpy(out, p, len);
        return out;
    }
    if (!p) {
        free(out);
        return NULL;
    }
    uLongf got = (uLongf)want;
    if (uncompress(out, &got, p, len) != Z_OK || got != want) {
        free(out);
        return NULL;
    }
    return out;
}

/* Fills tensor t of model m from its stored form. */
/* Where the sparse formats put what they decode: stored value number k
 * goes to position pos of the tensor. */
typedef struct {
    sh_model_t *m;
    const sh_tensor_t *t;
    float *w;
    sh_values_t v;
    const float *scales;  /* int8: one per output channel */
    size_t row_len;
    uint64_t alive;
} sink_t;

/* Returns NULL, or the problem with the value. The tensor starts at zero,
 * so an explicit zero stays pruned and needs no write. */
static const char *sink_put(sink_t *s, const unsigned char *data, uint64_t k, uint64_t pos)
{
    float val = get_value(data, k, s->v, s->scales ? s->scales[pos / s->row_len] : 0.0f);
    if (!isfinite(val))
        return "non-finite value";
    if (val != 0.0f) {
        s->w[pos] = val;
        sh_mask_set(s->m->mask, s->t->offset + pos);
        s->alive++;
    }
    return NULL;
}

static const char *fill_tensor(sh_model_t *m, int ti, const rtensor_t *rt, uint64_t *alive_out)
{
    const sh_tensor_t *t = &m->tensors[ti];
    if (strcmp(rt->name, t->name) || rt->ndim != t->ndim)
        return "tensor does not match the architecture";
    for (int d = 0; d < t->ndim; d++)
        if (rt->shape[d] != t->shape[d])
            return "tensor shape does not match the architecture";
    sh_values_t v;
    if (sh_values_parse(rt->values, &v) != 0)
        return "unknown value encoding";
    const size_t rows = (size_t)t->shape[0], row_len = t->numel / rows;
    float *scales = NULL;
    if (v == SH_VAL_INT8) {
        if (!rt->scales || rt->l_scales != rows * 2)
            return "int8 tensor without one scale per output channel";
        scales = malloc(rows * sizeof(float));
        if (!scales)
            return "out of memory";
        for (size_t r = 0; r < rows; r++) {
            uint16_t hv;
            memcpy(&hv, rt->scales + 2 * r, 2);
            scales[r] = half_to_float(hv);
        }
        for (size_t r = 0; r < rows; r++)
            if (!isfinite(scales[r])) {
                free(scales);
                return "non-finite scale";
            }
    }
    float *w = m->params + t->offset;
    const size_t vb = value_bytes[v];
    const char *problem = NULL;
    unsigned char *data = NULL, *aux = NULL;
    sink_t sink = {.m = m, .t = t, .w = w, .v = v, .scales = scales, .row_len = row_len};
    if (!strcmp(rt->format, "dense")) {
        if (rt->nnz != t->numel ||
            !(data = expand(rt->data, rt->l_data, rt->deflate, t->numel * vb))) {
            problem = "dense tensor has the wrong size";
        } else {
            for (size_t i = 0; i < t->numel; i++) {
                w[i] = get_value(data, i, v, scales ? scales[i / row_len] : 0.0f);
                if (!isfinite(w[i]))
                    problem = "non-finite value";
                if (w[i] != 0.0f || !t->prunable) {
                    sh_mask_set(m->mask, t->offset + i);
                    sink.alive++;
                }
            }
        }
    } else if (!strcmp(rt->format, "bitmask") && t->prunable) {
        size_t mbytes = (t->numel + 7) / 8;
        if (rt->nnz > t->numel || !(aux = expand(rt->mask, rt->l_mask, rt->deflate, mbytes)) ||
            !(data = expand(rt->data, rt->l_data, rt->deflate, rt->nnz * vb))) {
            problem = "bitmask tensor has the wrong size";
        } else {
            uint64_t k = 0;
            for (size_t i = 0; i < t->numel && !problem; i++)
                if ((aux[i >> 3] >> (i & 7)) & 1) {
                    if (k >= rt->nnz) {
                        problem = "bitmask has more bits set than values";
                        break;
                    }
                    problem = sink_put(&sink, data, k++, i);
                }
            if (!problem && k != rt->nnz)
                problem = "bitmask has fewer bits set than values";
        }
    } else if (!strcmp(rt->format, "csr") && t->prunable) {
        int bits = rt->index_bits;
        uint64_t ibytes = bits == 4 ? (rt->nnz + 1) / 2 : rt->nnz * (uint64_t)(bits / 8);
        if (!bits || rt->nnz > (uint64_t)t->numel * 16 ||
            !(aux = expand(rt->index, rt->l_index, rt->deflate, ibytes)) ||
            !(data = expand(rt->data, rt->l_data, rt->deflate, rt->nnz * vb))) {
            problem = "csr tensor has the wrong size";
        } else {
            uint64_t next = 0;
            for (uint64_t k = 0; k < rt->nnz && !problem; k++) {
                uint64_t d;
                if (bits == 4)
                    d = (aux[k >> 1] >> ((k & 1) * 4)) & 15;
                else if (bits == 8)
                    d = aux[k];
                else
                    d = (uint64_t)aux[2 * k] | ((uint64_t)aux[2 * k + 1] << 8);
                uint64_t pos = next + d;
                if (pos >= t->numel) {
                    problem = "csr position outside the tensor";
                    break;
                }
                problem = sink_put(&sink, data, k, pos);
                next = pos + 1;
            }
        }
    } else if (!strcmp(rt->format, "rice") && t->prunable && rt->has_rice_k) {
        /* The bit stream's length is not known up front: inflate to at most
         * what nnz gaps could need (unary parts are bounded by the tensor). */
        const int k = rt->rice_k;
        if (rt->nnz > t->numel || !(data = expand(rt->data, rt->l_data, rt->deflate, rt->nnz * vb))) {
            problem = "rice tensor has the wrong size";
        } else {
            uint64_t cap = rt->deflate ? ((uint64_t)t->numel >> k) / 8 + rt->nnz * (uint64_t)(k + 1) / 8 + 16
                                       : rt->l_index;
            const unsigned char *bitsrc = rt->index;
            uint64_t nbytes = rt->l_index;
            if (rt->deflate) {
                uLongf got = (uLongf)cap;
                aux = malloc(cap ? (size_t)cap : 1);
                if (!aux || uncompress(aux, &got, rt->index, rt->l_index) != Z_OK)
                    problem = "rice index does not inflate";
                bitsrc = aux;
                nbytes = got;
            }
            uint64_t bitpos = 0, total_bits = nbytes * 8, next = 0;
            for (uint64_t e = 0; e < rt->nnz && !problem; e++) {
                uint64_t q = 0;
                for (;;) {
                    if (bitpos >= total_bits) {
                        problem = "rice index ends early";
                        break;
                    }
                    int bit_v = (bitsrc[bitpos >> 3] >> (bitpos & 7)) & 1;
                    bitpos++;
                    if (!bit_v)
                        break;
                    if (++q > (uint64_t)t->numel) {
                        problem = "rice gap longer than the tensor";
                        break;
                    }
                }
                if (problem)
                    break;
                if (bitpos + (uint64_t)k > total_bits) {
                    problem = "rice index ends early";
                    break;
                }
                uint64_t rem = 0;
                for (int b = 0; b < k; b++, bitpos++)
                    rem |= (uint64_t)((bitsrc[bitpos >> 3] >> (bitpos & 7)) & 1) << b;
                uint64_t pos = next + (q << k) + rem;
                if (pos >= t->numel || pos < next) {
                    problem = "rice position outside the tensor";
                    break;
                }
                problem = sink_put(&sink, data, e, pos);
                next = pos + 1;
            }
        }
    } else {
        problem = "unknown tensor format";
    }
    free(data);
    free(aux);
    free(scales);
    *alive_out = sink.alive;
    return problem;
}

static void hash_blob(sh_sha256_t *h, const uint8_t *p, uint32_t n)
{
    if (p)
        sh_sha256_update(h, p, n);
}

sh_status_t sh_shm_decode(sh_model_t **out, sh_shm_meta_t *meta, const void *data, size_t len,
                          sh_err_t *err)
{
    *out = NULL;
    memset(meta, 0, sizeof *meta);
    meta->test_accuracy = NAN;
    sh_mpr_t r;
    sh_mpr_init(&r, data, len);
    uint32_t n;
    char magic[32] = "", arch[32] = "", sha[65] = "";
    int64_t version = 0, input[3] = {0, 0, 0}, classes = 0;
    float mean[3] = {0, 0, 0}, stdv[3] = {1, 1, 1};
    int n_mean = 0, n_std = 0;
    const uint8_t *tensors = NULL, *buffers = NULL;
    size_t tensors_len = 0;
    uint32_t buffers_len = 0;
    if (sh_mpr_map(&r, &n))
        return sh_fail(err, SH_EFORMAT, "not a shears model: %s", r.what);
    for (uint32_t i = 0; i < n && !r.failed; i++) {
        const char *k;
        uint32_t kl;
        if (sh_mpr_str(&r, &k, &kl))
            break;
        if (i == 0 && !sh_mpr_key_is(k, kl, "magic")) {
            sh_mpr_fail(&r, "not a shears model (no magic)");
        } else if (sh_mpr_key_is(k, kl, "magic")) {
            sh_mpr_str_copy(&r, magic, sizeof magic);
        } else if (sh_mpr_key_is(k, kl, "version")) {
            sh_mpr_int(&r, &version);
        } else if (sh_mpr_key_is(k, kl, "arch")) {
            sh_mpr_str_copy(&r, arch, sizeof arch);
        } else if (sh_mpr_key_is(k, kl, "input")) {
            uint32_t a;
            if (sh_mpr_array(&r, &a) || a != 3)
                sh_mpr_fail(&r, "input must be [c, h, w]");
            for (uint32_t j = 0; j < a && j < 3; j++)
                sh_mpr_int(&r, &input[j]);
        } else if (sh_mpr_key_is(k, kl, "classes")) {
            sh_mpr_int(&r, &classes);
        } else if (sh_mpr_key_is(k, kl, "norm")) {
            uint32_t nm;
            if (sh_mpr_map(&r, &nm))
                break;
            for (uint32_t j = 0; j < nm && !r.failed; j++) {
                const char *nk;
                uint32_t nkl, a;
                if (sh_mpr_str(&r, &nk, &nkl))
                    break;
                int is_mean = sh_mpr_key_is(nk, nkl, "mean");
                if (!is_mean && !sh_mpr_key_is(nk, nkl, "std")) {
                    sh_mpr_fail(&r, "norm holds only mean and std");
                    break;
                }
                if (sh_mpr_array(&r, &a) || a > 3) {
                    sh_mpr_fail(&r, "norm arrays have one entry per channel");
                    break;
                }
                for (uint32_t q = 0; q < a; q++) {
                    double dv = 0;
                    if (sh_mpr_double(&r, &dv))
                        break;
                    if (!isfinite(dv) || (!is_mean && !(dv > 0))) {
                        sh_mpr_fail(&r, "norm values must be finite, std positive");
                        break;
                    }
                    (is_mean ? mean : stdv)[q] = (float)dv;
                }
                *(is_mean ? &n_mean : &n_std) = (int)a;
            }
        } else if (sh_mpr_key_is(k, kl, "job")) {
            sh_mpr_str_copy(&r, meta->job, sizeof meta->job);
        } else if (sh_mpr_key_is(k, kl, "test_accuracy")) {
            if (sh_mpr_peek(&r) == SH_MP_NIL)
                sh_mpr_nil(&r);
            else
                sh_mpr_double(&r, &meta->test_accuracy);
        } else if (sh_mpr_key_is(k, kl, "tensors")) {
            tensors = r.p;
            if (sh_mpr_skip(&r))
                break;
            tensors_len = (size_t)(r.p - tensors);
        } else if (sh_mpr_key_is(k, kl, "buffers")) {
            sh_mpr_bin(&r, &buffers, &buffers_len);
        } else if (sh_mpr_key_is(k, kl, "payload_sha256")) {
            sh_mpr_str_copy(&r, sha, sizeof sha);
        } else {
            sh_mpr_skip(&r);
        }
    }
    if (r.failed)
        return sh_fail(err, SH_EFORMAT, "%s", r.what);
    if (strcmp(magic, SH_SHM_MAGIC))
        return sh_fail(err, SH_EFORMAT, "not a shears model (bad magic)");
    if (version != SH_SHM_VERSION)
        return sh_fail(err, SH_EFORMAT, "model version %lld is not supported (expected %d)",
                       (long long)version, SH_SHM_VERSION);
    if (!tensors || !buffers || strlen(sha) != 64)
        return sh_fail(err, SH_EFORMAT, "model is missing required fields");
    for (int d = 0; d < 3; d++)
        if (input[d] < 1 || input[d] > 4096)
            return sh_fail(err, SH_EFORMAT, "model input shape is out of range");
    if (classes < 2 || classes > 100000 || n_mean != input[0] || n_std != input[0])
        return sh_fail(err, SH_EFORMAT, "model header values are out of range");
    /* Sizes before memory: deflated blobs can claim far more than the file. */
    size_t n_params, n_buffers;
    if (sh_model_sizes(arch, (int)input[0], (int)input[1], (int)input[2], (int)classes, &n_params,
                       &n_buffers, err) != SH_OK) {
        sh_err_prefix(err, "model");
        return SH_EFORMAT;
    }
    if (n_params > SH_SHM_MAX_PARAMS || buffers_len != sizeof(float) * n_buffers)
        return sh_fail(err, SH_EFORMAT, "model %s at %lldx%lldx%lld has %zu parameters (limit %zu) "
                       "or the wrong statistics size", arch, (long long)input[0],
                       (long long)input[1], (long long)input[2], n_params,
                       (size_t)SH_SHM_MAX_PARAMS);
    sh_model_t *m;
    if (sh_model_new(&m, arch, (int)input[0], (int)input[1], (int)input[2], (int)classes, err) !=
        SH_OK) {
        sh_err_prefix(err, "model");
        return SH_EFORMAT;
    }
    memset(m->mask, 0, 8 * sh_mask_words(m->n_params));
    memset(m->params, 0, sizeof(float) * m->n_params);
    const char *problem = NULL;
    sh_sha256_t h;
    sh_sha256_init(&h);
    meta->info = sh_xcalloc((size_t)m->n_tensors, sizeof *meta->info);
    sh_mpr_t tr;
    sh_mpr_init(&tr, tensors, tensors_len);
    uint32_t nt;
    if (sh_mpr_array(&tr, &nt) || nt != (uint32_t)m->n_tensors)
        problem = "tensor list does not match the architecture";
    for (int ti = 0; ti < m->n_tensors && !problem; ti++) {
        rtensor_t rt = {0};
        if (read_tensor(&tr, &rt) != 0) {
            problem = tr.what;
            break;
        }
        hash_blob(&h, rt.index, rt.l_index);
        hash_blob(&h, rt.mask, rt.l_mask);
        hash_blob(&h, rt.data, rt.l_data);
        hash_blob(&h, rt.scales, rt.l_scales);
        uint64_t alive = 0;
        problem = fill_tensor(m, ti, &rt, &alive);
        sh_shm_tensor_info_t *info = &meta->info[meta->n_info++];
        snprintf(info->name, sizeof info->name, "%s", rt.name);
        snprintf(info->format, sizeof info->format, "%s", rt.format);
        info->index_bits = !strcmp(rt.format, "rice") ? rt.rice_k : rt.index_bits;
        info->deflate = rt.deflate;
        sh_values_parse(rt.values, &info->values);
        info->numel = m->tensors[ti].numel;
        info->alive = alive;
        info->bytes = (uint64_t)rt.l_index + rt.l_mask + rt.l_data + rt.l_scales;
    }
    if (!problem && buffers_len != sizeof(float) * m->n_buffers)
        problem = "batchnorm statistics have the wrong size";
    if (!problem) {
        memcpy(m->buffers, buffers, buffers_len);
        sh_sha256_update(&h, buffers, buffers_len);
        char got[65];
        sh_sha256_final_hex(&h, got);
        if (strcmp(got, sha))
            problem = "payload checksum mismatch (file is corrupted)";
        memcpy(meta->sha256, got, sizeof got);
    }
    if (problem) {
        sh_model_destroy(&m);
        sh_shm_meta_free(meta);
        return sh_fail(err, SH_EFORMAT, "%s", problem);
    }
    meta->norm.c = (int)input[0];
    for (int c = 0; c < meta->norm.c; c++) {
        meta->norm.mean[c] = mean[c];
        meta->norm.std[c] = stdv[c];
    }
    sh_model_apply_mask(m);
    *out = m;
    return SH_OK;
}

sh_status_t sh_shm_load(sh_model_t **out, sh_shm_meta_t *meta, const char *path, sh_err_t *err)
{
    char *data;
    size_t len;
    *out = NULL;
    memset(meta, 0, sizeof *meta);
    sh_status_t st = sh_file_read(path, SH_SHM_MAX_BYTES, &data, &len, err);
    if (st != SH_OK)
        return st;
    st = sh_shm_decode(out, meta, data, len, err);
    free(data);
    if (st != SH_OK)
        sh_err_prefix(err, "%s", path);
    return st;
}

void sh_shm_meta_free(sh_shm_meta_t *meta)
{
    free(meta->info);
    meta->info = NULL;
    meta->n_info = 0;
}
