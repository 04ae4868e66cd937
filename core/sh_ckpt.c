/* sh_ckpt.c - checkpoint encoding (msgpack-c packer) and bounded decoding
 * (sh_mpack). Floats are stored little-endian, as this host keeps them. */
#include "sh_ckpt.h"

#include "sh_file.h"
#include "sh_mpack.h"

#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

_Static_assert(sizeof(float) == 4, "float must be IEEE binary32");

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static uLong blob_crc(uLong crc, const void *p, size_t n)
{
    const Bytef *b = p;
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, b, chunk);
        b += chunk;
        n -= chunk;
    }
    return crc;
}

sh_status_t sh_ckpt_encode(const sh_model_t *m, const sh_ckpt_meta_t *meta,
                           char **data, size_t *len, sh_err_t *err)
{
    if (!host_is_little_endian())
        return sh_fail(err, SH_EARG, "checkpoints need a little-endian host");
    const size_t pbytes = sizeof(float) * m->n_params;
    const size_t mbytes = sizeof(uint64_t) * sh_mask_words(m->n_params);
    const size_t bbytes = sizeof(float) * m->n_buffers;
    const int has_v = meta->opt == SH_OPT_ADAM && m->opt_v;
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = blob_crc(crc, m->params, pbytes);
    crc = blob_crc(crc, m->mask, mbytes);
    crc = blob_crc(crc, m->buffers, bbytes);
    crc = blob_crc(crc, m->opt_m, pbytes);
    if (has_v)
        crc = blob_crc(crc, m->opt_v, pbytes);

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 18 + (meta->has_norm ? 1 : 0));
    sh_mpw_str(&pk, "magic");
    sh_mpw_str(&pk, SH_CKPT_MAGIC);
    sh_mpw_str(&pk, "version");
    msgpack_pack_int(&pk, SH_CKPT_VERSION);
    sh_mpw_str(&pk, "arch");
    sh_mpw_str(&pk, m->arch);
    sh_mpw_str(&pk, "input");
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, m->in_c);
    msgpack_pack_int(&pk, m->in_h);
    msgpack_pack_int(&pk, m->in_w);
    sh_mpw_str(&pk, "classes");
    msgpack_pack_int(&pk, m->n_classes);
    sh_mpw_str(&pk, "step");
    msgpack_pack_int64(&pk, m->step);
    sh_mpw_str(&pk, "opt_steps");
    msgpack_pack_int64(&pk, m->opt_steps);
    sh_mpw_str(&pk, "epoch");
    msgpack_pack_int(&pk, meta->epoch);
    sh_mpw_str(&pk, "seed");
    msgpack_pack_uint64(&pk, meta->seed);
    sh_mpw_str(&pk, "optimizer");
    sh_mpw_str(&pk, meta->opt == SH_OPT_SGD ? "sgd" : meta->opt == SH_OPT_ADAM ? "adam" : "none");
    sh_mpw_str(&pk, "hparams");
    sh_mpw_str(&pk, meta->hparams ? meta->hparams : "{}");
    if (meta->has_norm) {
        sh_mpw_str(&pk, "norm");
        msgpack_pack_array(&pk, (size_t)meta->norm.c * 2);
        for (int c = 0; c < meta->norm.c; c++)
            msgpack_pack_float(&pk, meta->norm.mean[c]);
        for (int c = 0; c < meta->norm.c; c++)
            msgpack_pack_float(&pk, meta->norm.std[c]);
    }
    sh_mpw_str(&pk, "tensors");
    msgpack_pack_array(&pk, (size_t)m->n_tensors);
    for (int t = 0; t < m->n_tensors; t++) {
        const sh_tensor_t *tt = &m->tensors[t];
        msgpack_pack_array(&pk, 3);
        sh_mpw_str(&pk, tt->name);
        msgpack_pack_uint64(&pk, tt->offset);
        msgpack_pack_array(&pk, (size_t)tt->ndim);
        for (int d = 0; d < tt->ndim; d++)
            msgpack_pack_int(&pk, tt->shape[d]);
    }
    sh_mpw_str(&pk, "params");
    sh_mpw_bin(&pk, m->params, pbytes);
    sh_mpw_str(&pk, "mask");
    sh_mpw_bin(&pk, m->mask, mbytes);
    sh_mpw_str(&pk, "buffers");
    sh_mpw_bin(&pk, m->buffers, bbytes);
    sh_mpw_str(&pk, "opt_m");
    sh_mpw_bin(&pk, m->opt_m, pbytes);
    sh_mpw_str(&pk, "opt_v");
    if (has_v)
        sh_mpw_bin(&pk, m->opt_v, pbytes);
    else
        msgpack_pack_nil(&pk);
    sh_mpw_str(&pk, "crc32");
    msgpack_pack_uint32(&pk, (uint32_t)crc);
    *data = sb.data;
    *len = sb.size;
    return SH_OK;
}

sh_status_t sh_ckpt_save(const sh_model_t *m, const sh_ckpt_meta_t *meta,
                         const char *path, sh_err_t *err)
{
    char *data;
    size_t len;
    sh_status_t st = sh_ckpt_encode(m, meta, &data, &len, err);
    if (st != SH_OK)
        return st;
    st = sh_file_write_atomic(path, data, len, err);
    free(data);
    return st;
}

void sh_ckpt_meta_clear(sh_ckpt_meta_t *meta)
{
    free(meta->hparams);
    memset(meta, 0, sizeof *meta);
}

/* Fields gathered while walking the map, validated once at the end. */
typedef struct {
    int have_magic, version;
    char arch[32];
    int64_t input[3], classes, step, opt_steps, epoch;
    uint64_t seed, crc;
    int have_crc;
    char opt[8];
    const char *hparams;
    uint32_t hparams_len;
    const uint8_t *params, *mask, *buffers, *opt_m, *opt_v;
    uint32_t params_n, mask_n, buffers_n, opt_m_n, opt_v_n;
    int n_norm;
    double norm[2 * SH_DATA_MAX_CHANNELS];
    const uint8_t *tensors; /* position of the tensor table, checked later */
    size_t tensors_len;
} fields_t;

static int read_blob_or_nil(sh_mpr_t *r, const uint8_t **p, uint32_t *n)
{
    if (sh_mpr_peek(r) == SH_MP_NIL) {
        *p = NULL;
        *n = 0;
        return sh_mpr_nil(r);
    }
    return sh_mpr_bin(r, p, n);
}

static int walk_fields(sh_mpr_t *r, fields_t *f)
{
    uint32_t n;
    if (sh_mpr_map(r, &n))
        return -1;
    for (uint32_t i = 0; i < n && !r->failed; i++) {
        const char *k;
        uint32_t kl;
        if (sh_mpr_str(r, &k, &kl))
            return -1;
        if (i == 0 && !sh_mpr_key_is(k, kl, "magic"))
            return sh_mpr_fail(r, "not a shears checkpoint (no magic)");
        if (sh_mpr_key_is(k, kl, "magic")) {
            char magic[32];
            if (sh_mpr_str_copy(r, magic, sizeof magic) || strcmp(magic, SH_CKPT_MAGIC))
                return sh_mpr_fail(r, "not a shears checkpoint (bad magic)");
            f->have_magic = 1;
        } else if (sh_mpr_key_is(k, kl, "version")) {
            int64_t v;
            if (sh_mpr_int(r, &v))
                return -1;
            f->version = (int)(v > 1000000 ? 1000000 : v < -1 ? -1 : v);
        } else if (sh_mpr_key_is(k, kl, "arch")) {
            sh_mpr_str_copy(r, f->arch, sizeof f->arch);
        } else if (sh_mpr_key_is(k, kl, "input")) {
            uint32_t a;
            if (sh_mpr_array(r, &a) || a != 3)
                return sh_mpr_fail(r, "input must be [c, h, w]");
            for (int d = 0; d < 3; d++)
                sh_mpr_int(r, &f->input[d]);
        } else if (sh_mpr_key_is(k, kl, "classes")) {
            sh_mpr_int(r, &f->classes);
        } else if (sh_mpr_key_is(k, kl, "step")) {
            sh_mpr_int(r, &f->step);
        } else if (sh_mpr_key_is(k, kl, "opt_steps")) {
            sh_mpr_int(r, &f->opt_steps);
        } else if (sh_mpr_key_is(k, kl, "epoch")) {
            sh_mpr_int(r, &f->epoch);
        } else if (sh_mpr_key_is(k, kl, "seed")) {
            sh_mpr_uint(r, &f->seed);
        } else if (sh_mpr_key_is(k, kl, "optimizer")) {
            sh_mpr_str_copy(r, f->opt, sizeof f->opt);
        } else if (sh_mpr_key_is(k, kl, "hparams")) {
            sh_mpr_str(r, &f->hparams, &f->hparams_len);
        } else if (sh_mpr_key_is(k, kl, "norm")) {
            uint32_t a;
            if (sh_mpr_array(r, &a) || a % 2 || a > 2 * SH_DATA_MAX_CHANNELS)
                return sh_mpr_fail(r, "norm must hold a mean and a std per channel");
            for (uint32_t j = 0; j < a; j++)
                sh_mpr_double(r, &f->norm[j]);
            f->n_norm = (int)a;
        } else if (sh_mpr_key_is(k, kl, "tensors")) {
            f->tensors = r->p;
            if (sh_mpr_skip(r))
                return -1;
            f->tensors_len = (size_t)(r->p - f->tensors);
        } else if (sh_mpr_key_is(k, kl, "params")) {
            sh_mpr_bin(r, &f->params, &f->params_n);
        } else if (sh_mpr_key_is(k, kl, "mask")) {
            sh_mpr_bin(r, &f->mask, &f->mask_n);
        } else if (sh_mpr_key_is(k, kl, "buffers")) {
            sh_mpr_bin(r, &f->buffers, &f->buffers_n);
        } else if (sh_mpr_key_is(k, kl, "opt_m")) {
            read_blob_or_nil(r, &f->opt_m, &f->opt_m_n);
        } else if (sh_mpr_key_is(k, kl, "opt_v")) {
            read_blob_or_nil(r, &f->opt_v, &f->opt_v_n);
        } else if (sh_mpr_key_is(k, kl, "crc32")) {
            f->have_crc = sh_mpr_uint(r, &f->crc) == 0;
        } else {
            sh_mpr_skip(r); /* unknown keys: forward compatibility */
        }
    }
    return r->failed ? -1 : 0;
}

/* The stored tensor table must describe exactly the model built from arch. */
static int check_tensors(const sh_model_t *m, const fields_t *f, sh_mpr_t *outer)
{
    sh_mpr_t r;
    sh_mpr_init(&r, f->tensors, f->tensors_len);
    uint32_t n;
    if (sh_mpr_array(&r, &n) || n != (uint32_t)m->n_tensors)
        return sh_mpr_fail(outer, "tensor table does not match the architecture");
    for (int t = 0; t < m->n_tensors; t++) {
        const sh_tensor_t *tt = &m->tensors[t];
        uint32_t a, nd;
        char name[64];
        uint64_t off;
        if (sh_mpr_array(&r, &a) || a != 3 || sh_mpr_str_copy(&r, name, sizeof name) ||
            sh_mpr_uint(&r, &off) || sh_mpr_array(&r, &nd))
            return sh_mpr_fail(outer, "malformed tensor table");
        int ok = !strcmp(name, tt->name) && off == tt->offset && nd == (uint32_t)tt->ndim;
        for (uint32_t d = 0; d < nd && d < 4; d++) {
            int64_t dim;
            if (sh_mpr_int(&r, &dim))
                return sh_mpr_fail(outer, "malformed tensor table");
            ok = ok && dim == tt->shape[d];
        }
        if (!ok || nd > 4) {
            char msg[128];
            snprintf(msg, sizeof msg, "tensor %d (%s) does not match the architecture", t,
                     tt->name);
            return sh_mpr_fail(outer, msg);
        }
    }
    return 0;
}

sh_status_t sh_ckpt_decode(sh_model_t **out, sh_ckpt_meta_t *meta, const void *data,
                           size_t len, sh_err_t *err)
{
    *out = NULL;
    memset(meta, 0, sizeof *meta);
    if (!host_is_little_endian())
        return sh_fail(err, SH_EARG, "checkpoints need a little-endian host");
    sh_mpr_t r;
    sh_mpr_init(&r, data, len);
    fields_t f = {0};
    if (walk_fields(&r, &f) != 0)
        return sh_fail(err, SH_EFORMAT, "%s", r.what);
    if (!f.have_magic)
        return sh_fail(err, SH_EFORMAT, "not a shears checkpoint (no magic)");
    if (f.version != SH_CKPT_VERSION)
        return sh_fail(err, SH_EFORMAT, "checkpoint version %d is not supported (expected %d)",
                       f.version, SH_CKPT_VERSION);
    if (!f.arch[0] || !f.tensors || !f.params || !f.mask || !f.buffers || !f.have_crc)
        return sh_fail(err, SH_EFORMAT, "checkpoint is missing required fields");
    for (int d = 0; d < 3; d++)
        if (f.input[d] < 1 || f.input[d] > 4096)
            return sh_fail(err, SH_EFORMAT, "checkpoint input shape is out of range");
    if (f.classes < 2 || f.classes > 100000 || f.step < 0 || f.opt_steps < 0 || f.epoch < 0 || f.epoch > 1000000)
        return sh_fail(err, SH_EFORMAT, "checkpoint header values are out of range");
    sh_opt_kind_t opt = 0;
    if (!strcmp(f.opt, "sgd"))
        opt = SH_OPT_SGD;
    else if (!strcmp(f.opt, "adam"))
        opt = SH_OPT_ADAM;
    else if (strcmp(f.opt, "none") != 0)
        return sh_fail(err, SH_EFORMAT, "unknown optimizer '%s' in checkpoint", f.opt);

    /* Sizes first: the header alone may describe a model of gigabytes, and
     * the blobs that must match it are bounded by the bytes given. */
    size_t n_params, n_buffers;
    sh_status_t st = sh_model_sizes(f.arch, (int)f.input[0], (int)f.input[1],
                                    (int)f.input[2], (int)f.classes, &n_params, &n_buffers,
                                    err);
    if (st == SH_OK && (f.params_n != sizeof(float) * n_params ||
                        f.buffers_n != sizeof(float) * n_buffers))
        return sh_fail(err, SH_EFORMAT, "a state blob has the wrong size for the architecture");
    sh_model_t *m;
    if (st == SH_OK)
        st = sh_model_new(&m, f.arch, (int)f.input[0], (int)f.input[1], (int)f.input[2],
                          (int)f.classes, err);
    if (st != SH_OK) {
        sh_err_prefix(err, "checkpoint");
        return SH_EFORMAT;
    }
    const size_t pbytes = sizeof(float) * m->n_params;
    const size_t mbytes = sizeof(uint64_t) * sh_mask_words(m->n_params);
    const size_t bbytes = sizeof(float) * m->n_buffers;
    const char *problem = NULL;
    if (check_tensors(m, &f, &r) != 0)
        problem = r.what;
    else if (f.params_n != pbytes || f.mask_n != mbytes || f.buffers_n != bbytes ||
             (f.opt_m && f.opt_m_n != pbytes) || (f.opt_v && f.opt_v_n != pbytes))
        problem = "a state blob has the wrong size for the architecture";
    if (!problem) {
        uLong crc = crc32(0L, Z_NULL, 0);
        crc = blob_crc(crc, f.params, pbytes);
        crc = blob_crc(crc, f.mask, mbytes);
        crc = blob_crc(crc, f.buffers, bbytes);
        if (f.opt_m)
            crc = blob_crc(crc, f.opt_m, pbytes);
        if (f.opt_v)
            crc = blob_crc(crc, f.opt_v, pbytes);
        if ((uint64_t)crc != f.crc)
            problem = "checksum mismatch (file is corrupted)";
    }
    char *hp = NULL;
    if (!problem && f.hparams) {
        hp = malloc((size_t)f.hparams_len + 1);
        if (!hp) {
            sh_model_destroy(&m);
            return sh_fail(err, SH_ENOMEM, "out of memory");
        }
        memcpy(hp, f.hparams, f.hparams_len);
        hp[f.hparams_len] = '\0';
    }
    if (problem) {
        sh_model_destroy(&m);
        return sh_fail(err, SH_EFORMAT, "%s", problem);
    }
    memcpy(m->params, f.params, pbytes);
    memcpy(m->mask, f.mask, mbytes);
    memcpy(m->buffers, f.buffers, bbytes);
    if (f.opt_m)
        memcpy(m->opt_m, f.opt_m, pbytes);
    if (f.opt_v) {
        m->opt_v = sh_xaligned(pbytes);
        memcpy(m->opt_v, f.opt_v, pbytes);
    }
    /* Padding between tensors must stay dead whatever the file says. */
    uint64_t *keep = sh_xcalloc(sh_mask_words(m->n_params), sizeof(uint64_t));
    for (int t = 0; t < m->n_tensors; t++)
        for (size_t i = 0; i < m->tensors[t].numel; i++)
            sh_mask_set(keep, m->tensors[t].offset + i);
    for (size_t wi = 0; wi < sh_mask_words(m->n_params); wi++)
        m->mask[wi] &= keep[wi];
    free(keep);
    m->mask_version++;
    m->step = f.step;
    m->opt_steps = f.opt_steps;
    meta->seed = f.seed;
    meta->epoch = (int)f.epoch;
    meta->opt = opt;
    meta->hparams = hp;
    if (f.n_norm && f.n_norm != 2 * (int)f.input[0]) {
        sh_model_destroy(&m);
        free(hp);
        return sh_fail(err, SH_EFORMAT, "norm must hold a mean and a std per input channel");
    }
    for (int j = 0; j < f.n_norm; j++)
        if (!isfinite(f.norm[j]) || (j >= f.n_norm / 2 && !(f.norm[j] > 0))) {
            sh_model_destroy(&m);
            free(hp);
            return sh_fail(err, SH_EFORMAT, "norm values must be finite, std positive");
        }
    if (f.n_norm == 2 * (int)f.input[0]) {
        meta->has_norm = 1;
        meta->norm.c = (int)f.input[0];
        for (int c = 0; c < meta->norm.c; c++) {
            meta->norm.mean[c] = (float)f.norm[c];
            meta->norm.std[c] = (float)f.norm[meta->norm.c + c];
        }
    }
    *out = m;
    return SH_OK;
}

sh_status_t sh_ckpt_load(sh_model_t **out, sh_ckpt_meta_t *meta, const char *path,
                         sh_err_t *err)
{
    char *data;
    size_t len;
    *out = NULL;
    memset(meta, 0, sizeof *meta);
    sh_status_t st = sh_file_read(path, SH_CKPT_MAX_BYTES, &data, &len, err);
    if (st != SH_OK)
        return st;
    st = sh_ckpt_decode(out, meta, data, len, err);
    free(data);
    if (st != SH_OK)
        sh_err_prefix(err, "%s", path);
    return st;
}
