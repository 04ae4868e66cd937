/* gen_seeds.c - writes the seed corpora of the fuzz targets that need real
 * encoder output: checkpoints (ckpt), msgpack samples (mpack), job specs
 * expanded from sweeps (jobspec), sweeps (sweep), results (result), IDX /
 * CIFAR-10 files (idx), wire messages (wire) and compressed models (shm).
 * The doc corpus is written by hand.
 *
 *   fuzz_gen_seeds SOURCE_DIR CORPUS_DIR
 *
 * SOURCE_DIR is the repository (for the example sweeps). Existing seeds with
 * the same names are overwritten; regression seeds are left alone. The
 * output is deterministic, so rerunning it changes nothing. */
#include "sh_ckpt.h"
#include "sh_mpack.h"
#include "sh_prune.h"
#include "sh_results.h"
#include "sh_shm.h"
#include "sh_sweep.h"
#include "sh_wire.h"

#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static const char *g_out;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_gen_seeds: %s\n", what);
    exit(1);
}

static void write_seed(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_out, dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die(path);
    snprintf(path, sizeof path, "%s/%s/%s", g_out, dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        die(path);
}

static void write_gz_seed(const char *dir, const char *name, const void *data, size_t len)
{
    uLongf cap = compressBound((uLong)len) + 32;
    Bytef *buf = malloc(cap);
    z_stream zs = {0};
    /* windowBits 15 + 16: a gzip wrapper, as gzread expects. */
    if (!buf || deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        die("deflateInit2");
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = buf;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        die("deflate");
    write_seed(dir, name, buf, zs.total_out);
    deflateEnd(&zs);
    free(buf);
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path);
    char *buf = malloc(SH_DOC_MAX_BYTES + 1);
    if (!buf)
        die("out of memory");
    *len = fread(buf, 1, SH_DOC_MAX_BYTES, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* ---- checkpoints -------------------------------------------------------- */

/* Where the value of the top-level key `key` starts (just after the key). */
static size_t find_key(const char *data, size_t len, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i + n + 1 <= len; i++)
        if ((uint8_t)data[i] == (0xa0 | n) && memcmp(data + i + 1, key, n) == 0)
            return i + 1 + n;
    die("key not found in checkpoint");
    return 0;
}

static void fill_model(sh_model_t *m, uint64_t seed, int adam)
{
    sh_model_init(m, seed, 0);
    for (size_t i = 0; i < m->n_params; i++)
        m->opt_m[i] = (float)((int)(i % 13) - 6) * 0.01f;
    for (size_t i = 0; i < m->n_params; i += 3)
        sh_mask_clear(m->mask, i);
    sh_model_apply_mask(m);
    if (adam) {
        m->opt_v = sh_xaligned(sizeof(float) * m->n_params);
        for (size_t i = 0; i < m->n_params; i++)
            m->opt_v[i] = (float)(i % 7) * 0.001f;
    }
    m->step = 1234;
    m->opt_steps = 56;
}

static void ckpt_seed(const char *name, const char *arch, int c, int h, int w, int classes,
                      sh_opt_kind_t opt, const char *hparams)
{
    sh_model_t *m;
    sh_err_t err;
    if (sh_model_new(&m, arch, c, h, w, classes, &err) != SH_OK)
        die(err.msg);
    fill_model(m, 7, opt == SH_OPT_ADAM);
    /* SGD seeds also carry the input normalization (the "norm" key). */
    sh_ckpt_meta_t meta = {.seed = 7, .epoch = 3, .opt = opt, .hparams = (char *)hparams,
                           .has_norm = opt == SH_OPT_SGD,
                           .norm = {.c = c, .mean = {0.2860f}, .std = {0.3530f}}};
    char *data;
    size_t len;
    if (sh_ckpt_encode(m, &meta, &data, &len, &err) != SH_OK)
        die(err.msg);
    write_seed("ckpt", name, data, len);
    free(data);
    sh_model_destroy(&m);
}

/* A checkpoint without optimizer state: opt_m is nil and the CRC covers
 * only params, mask and buffers. Made by editing an encoded one, since the
 * encoder always writes opt_m. */
static void ckpt_nil_opt_seed(const char *name)
{
    sh_model_t *m;
    sh_err_t err;
    if (sh_model_new(&m, "lenet5", 1, 12, 12, 10, &err) != SH_OK)
        die(err.msg);
    fill_model(m, 9, 0);
    sh_ckpt_meta_t meta = {.seed = 9, .epoch = 0, .opt = 0, .hparams = NULL};
    char *data;
    size_t len;
    if (sh_ckpt_encode(m, &meta, &data, &len, &err) != SH_OK)
        die(err.msg);
    size_t opt_m = find_key(data, len, "opt_m");
    size_t opt_v = find_key(data, len, "opt_v") - 6; /* back to the key's header */
    size_t crc_at = find_key(data, len, "crc32");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_sbuffer_write(&sb, data, opt_m);
    msgpack_pack_nil(&pk);
    msgpack_sbuffer_write(&sb, data + opt_v, crc_at - opt_v);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, (const Bytef *)m->params, (uInt)(sizeof(float) * m->n_params));
    crc = crc32(crc, (const Bytef *)m->mask, (uInt)(sizeof(uint64_t) * sh_mask_words(m->n_params)));
    crc = crc32(crc, (const Bytef *)m->buffers, (uInt)(sizeof(float) * m->n_buffers));
    msgpack_pack_uint32(&pk, (uint32_t)crc);
    sh_model_t *back;
    sh_ckpt_meta_t meta_back;
    if (sh_ckpt_decode(&back, &meta_back, sb.data, sb.size, &err) != SH_OK)
        die(err.msg);
    sh_model_destroy(&back);
    sh_ckpt_meta_clear(&meta_back);
    write_seed("ckpt", name, sb.data, sb.size);
    /* The header and tensor table alone: a truncated file. */
    size_t params = find_key(sb.data, sb.size, "params");
    write_seed("ckpt", "truncated-after-tensors", sb.data, params);
    msgpack_sbuffer_destroy(&sb);
    free(data);
    sh_model_destroy(&m);
}

/* ---- compressed models ------------------------------------------------------- */

/* lenet5 pruned to `density`, so the encoder picks dense, bitmask, csr or
 * rice per tensor; one seed per value precision. */
static void shm_seed(const char *name, double density, sh_values_t values)
{
    sh_model_t *m;
    sh_err_t err;
    if (sh_model_new(&m, "lenet5", 1, 12, 12, 10, &err) != SH_OK)
        die(err.msg);
    sh_model_init(m, 5, 0);
    if (density < 1) {
        sh_prune_plan_t plan = {.method = SH_PRUNE_MAGNITUDE, .scope = SH_SCOPE_GLOBAL,
                                .density = density};
        sh_prune(m, &plan, NULL);
    }
    sh_shm_meta_t meta = {.norm = {.c = 1, .mean = {0.2860f}, .std = {0.3530f}},
                          .test_accuracy = 0.875};
    snprintf(meta.job, sizeof meta.job, "%064d", 7);
    char *data;
    size_t len;
    if (sh_shm_encode(m, &meta, values, &data, &len, &err) != SH_OK)
        die(err.msg);
    write_seed("shm", name, data, len);
    free(data);
    sh_model_destroy(&m);
}

/* ---- msgpack -------------------------------------------------------------- */

typedef struct {
    uint8_t b[8192];
    size_t n;
} bytes_t;

static void put(bytes_t *o, const void *p, size_t n)
{
    if (o->n + n > sizeof o->b)
        die("msgpack seed too large");
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put1(bytes_t *o, unsigned v)
{
    uint8_t b = (uint8_t)v;
    put(o, &b, 1);
}

static void put_be(bytes_t *o, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--)
        put1(o, (unsigned)(v >> (8 * i)));
}

static void mpack_seeds(void)
{
    bytes_t o = {0};
    /* Scalars in every encoding, as a sequence of top-level values. */
    put1(&o, 0xc0);                              /* nil */
    put1(&o, 0xc2);                              /* false */
    put1(&o, 0xc3);                              /* true */
    put1(&o, 0x05), put1(&o, 0x7f), put1(&o, 0xff), put1(&o, 0xe0); /* fixints */
    put1(&o, 0xcc), put_be(&o, 200, 1);
    put1(&o, 0xcd), put_be(&o, 60000, 2);
    put1(&o, 0xce), put_be(&o, 4000000000u, 4);
    put1(&o, 0xcf), put_be(&o, UINT64_MAX, 8);   /* above INT64_MAX */
    put1(&o, 0xcf), put_be(&o, 5, 8);
    put1(&o, 0xd0), put_be(&o, 0x80, 1);         /* -128 */
    put1(&o, 0xd1), put_be(&o, 0x8000, 2);
    put1(&o, 0xd2), put_be(&o, 0xfffffffe, 4);
    put1(&o, 0xd3), put_be(&o, 0x8000000000000000u, 8);
    put1(&o, 0xca), put_be(&o, 0x3fc00000, 4);   /* 1.5f */
    put1(&o, 0xcb), put_be(&o, 0x400921fb54442d18u, 8); /* pi */
    put1(&o, 0xa3), put(&o, "abc", 3);
    put1(&o, 0xa5), put(&o, "magic", 5);
    put1(&o, 0xd9), put_be(&o, 4, 1), put(&o, "a\0bc", 4); /* NUL inside */
    put1(&o, 0xda), put_be(&o, 20, 2), put(&o, "a string of 20 bytes", 20);
    put1(&o, 0xdb), put_be(&o, 2, 4), put(&o, "hi", 2);
    put1(&o, 0xc4), put_be(&o, 3, 1), put(&o, "\1\2\3", 3);
    put1(&o, 0xc5), put_be(&o, 1, 2), put(&o, "\4", 1);
    put1(&o, 0xc6), put_be(&o, 0, 4);
    for (unsigned k = 0; k < 5; k++) {           /* fixext 1, 2, 4, 8, 16 */
        put1(&o, 0xd4 + k), put1(&o, 0x01);
        for (unsigned i = 0; i < (1u << k); i++)
            put1(&o, i);
    }
    put1(&o, 0xc7), put_be(&o, 2, 1), put1(&o, 0xff), put(&o, "xy", 2);
    put1(&o, 0xc8), put_be(&o, 1, 2), put1(&o, 0x02), put(&o, "z", 1);
    put1(&o, 0xc9), put_be(&o, 0, 4), put1(&o, 0x03);
    write_seed("mpack", "scalars", o.b, o.n);

    /* Containers in every encoding. */
    o.n = 0;
    put1(&o, 0x93), put1(&o, 1), put1(&o, 0xc0), put1(&o, 0xa1), put(&o, "x", 1);
    put1(&o, 0xdc), put_be(&o, 2, 2), put1(&o, 0x90), put1(&o, 0x80);
    put1(&o, 0xdd), put_be(&o, 1, 4), put1(&o, 0xc3);
    put1(&o, 0x82), put1(&o, 0xa1), put(&o, "a", 1), put1(&o, 1), put1(&o, 2), put1(&o, 0x91),
        put1(&o, 3);
    put1(&o, 0xde), put_be(&o, 1, 2), put1(&o, 0xa1), put(&o, "k", 1), put1(&o, 0xcb),
        put_be(&o, 0, 8);
    put1(&o, 0xdf), put_be(&o, 1, 4), put1(&o, 0xc0), put1(&o, 0xd4), put1(&o, 0), put1(&o, 0);
    write_seed("mpack", "containers", o.b, o.n);

    /* Nesting exactly at the limit, then one level beyond it. */
    o.n = 0;
    for (int d = 0; d < SH_MPR_MAX_DEPTH; d++)
        put1(&o, 0x91);
    put1(&o, 0x90);
    write_seed("mpack", "depth-limit", o.b, o.n);
    o.n = 0;
    for (int d = 0; d <= SH_MPR_MAX_DEPTH; d++)
        put1(&o, 0x81), put1(&o, 0xa1), put(&o, "k", 1);
    put1(&o, 0xc0);
    write_seed("mpack", "too-deep", o.b, o.n);

    /* Counts that promise more than the input holds. */
    o.n = 0;
    put1(&o, 0xdd), put_be(&o, 0xffffffffu, 4), put1(&o, 0);
    write_seed("mpack", "huge-array", o.b, o.n);
    o.n = 0;
    put1(&o, 0xdb), put_be(&o, 0xffffffffu, 4), put(&o, "abc", 3);
    write_seed("mpack", "huge-str", o.b, o.n);
    o.n = 0;
    put1(&o, 0xc9), put_be(&o, 0xfffffff0u, 4), put1(&o, 1);
    write_seed("mpack", "huge-ext", o.b, o.n);
}

/* The start of a real checkpoint: map header, magic, version, tensor table. */
static void mpack_ckpt_seed(void)
{
    sh_model_t *m;
    sh_err_t err;
    if (sh_model_new(&m, "lenet5", 1, 12, 12, 10, &err) != SH_OK)
        die(err.msg);
    sh_ckpt_meta_t meta = {.seed = 1, .epoch = 2, .opt = SH_OPT_SGD, .hparams = "{}"};
    char *data;
    size_t len;
    if (sh_ckpt_encode(m, &meta, &data, &len, &err) != SH_OK)
        die(err.msg);
    write_seed("mpack", "ckpt-head", data, find_key(data, len, "params"));
    free(data);
    sh_model_destroy(&m);
}

/* ---- sweeps and job specs --------------------------------------------------- */

static const char *const extra_sweeps[][2] = {
    {"adam-cosine.yaml",
     "name: adam-cosine\n"
     "dataset: {name: mnist, url: https://example.org/mnist,\n"
     "          sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef,\n"
     "          validation: 5000}\n"
     "model: lenet5\n"
     "seeds: [3, 9]\n"
     "train:\n"
     "  epochs: 6\n"
     "  batch: 64\n"
     "  optimizer: adam\n"
     "  lr: 0.002\n"
     "  beta1: 0.85\n"
     "  beta2: 0.995\n"
     "  eps: 1.0e-7\n"
     "  weight_decay: 0\n"
     "  schedule: {kind: cosine, min_lr: 0.0001, warmup_epochs: 0.5}\n"
     "  augment: {crop: true, flip: true}\n"
     "prune:\n"
     "  method: magnitude\n"
     "  scope: layerwise\n"
     "  mode: oneshot\n"
     "  densities: [0.5, 0.25, 0.1]\n"
     "  layer_rates: {fc3: 0.1}\n"
     "  ignore: [conv1]\n"
     "retrain:\n"
     "  - {technique: weight-rewind, rewind_epoch: 2}\n"
     "  - {technique: reinit}\n"
     "  - {technique: random-prune, epochs: 4, name: rp}\n"
     "  - {technique: finetune, epochs: 3, lr: 0.0005}\n"
     "stop: {max_drop: 0.05}\n"},
    {"cifar.json",
     "{\"dataset\": {\"name\": \"cifar10\", \"path\": \"/data/cifar\"}, \"model\": \"resnet20\","
     " \"seed\": 5, \"train\": {\"epochs\": 4, \"augment\": true, \"nesterov\": true,"
     " \"schedule\": {\"kind\": \"constant\"}}, \"prune\": {\"rate\": 0.5, \"rounds\": 2,"
     " \"method\": \"random\", \"layer_rates\": {\"layer1.0.conv1\": 0.5, \"fc.weight\": 0.2}},"
     " \"retrain\": {\"technique\": \"lr-rewind\", \"epochs\": 2}}\n"},
    {"shorthand.yaml",
     "dataset: fashion-mnist\n"
     "model: conv2\n"
     "train: {epochs: 3}\n"
     "prune: {rounds: 1}\n"
     "retrain: [lr-rewind, finetune]\n"},
};

/* Writes a few distinct job specs of a sweep: the dense run, and rounds 1
 * and last of each technique for the first seed. */
static void jobspec_seeds(const char *stem, const char *text, size_t len)
{
    sh_sweep_t sw;
    sh_dag_t dag;
    sh_err_t err;
    if (sh_sweep_parse(&sw, text, len, stem, NULL, 0, &err) != SH_OK)
        die(err.msg);
    if (sh_sweep_expand(&sw, &dag, &err) != SH_OK)
        die(err.msg);
    for (int t = -1; t < sw.n_retrain; t++)
        for (int k = 0; k < (t < 0 ? 1 : 2); k++) {
            int round = t < 0 ? 0 : k == 0 ? 1 : sw.rounds;
            if (k == 1 && sw.rounds == 1)
                continue;
            int row = sh_dag_find_row(&dag, 0, t, round);
            if (row < 0)
                die("row not found");
            char *json = sh_jobspec_to_json(&dag.nodes[dag.rows[row].node].spec);
            if (!json)
                die("out of memory");
            char name[128];
            snprintf(name, sizeof name, "%s-%s-r%d.json", stem,
                     t < 0 ? "train" : sw.retrain[t].label, round);
            write_seed("jobspec", name, json, strlen(json));
            free(json);
        }
    sh_dag_clear(&dag);
    sh_sweep_clear(&sw);
}

static void sweep_seeds(const char *src)
{
    static const char *const examples[] = {"default.yaml", "lenet-fmnist.yaml"};
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        char path[4096], stem[64];
        snprintf(path, sizeof path, "%s/examples/%s", src, examples[i]);
        size_t len;
        char *text = read_text(path, &len);
        write_seed("sweep", examples[i], text, len);
        snprintf(stem, sizeof stem, "%.*s", (int)(strchr(examples[i], '.') - examples[i]),
                 examples[i]);
        jobspec_seeds(stem, text, len);
        free(text);
    }
    for (size_t i = 0; i < sizeof extra_sweeps / sizeof extra_sweeps[0]; i++) {
        const char *name = extra_sweeps[i][0], *text = extra_sweeps[i][1];
        char stem[64];
        write_seed("sweep", name, text, strlen(text));
        snprintf(stem, sizeof stem, "%.*s", (int)(strchr(name, '.') - name), name);
        jobspec_seeds(stem, text, strlen(text));
    }
}

/* ---- results ------------------------------------------------------------------ */

static void result_seeds(void)
{
    sh_job_result_t r = {.test_accuracy = 0.8925, .test_loss = 0.327, .val_accuracy = 0.9,
                         .val_loss = 0.25, .train_loss = 0.153, .density = 0.107374,
                         .alive = 28583, .prunable = 266200, .epochs = 20, .seconds = 31.6};
    char *json = sh_result_to_json(&r);
    write_seed("result", "full.json", json, strlen(json));
    free(json);
    r.val_accuracy = r.val_loss = NAN;
    json = sh_result_to_json(&r);
    write_seed("result", "no-validation.json", json, strlen(json));
    free(json);
    static const char yaml[] = "test_accuracy: 1\ntest_loss: 0\nval_accuracy: ~\n"
                               "val_loss: null\ntrain_loss: 1.0e-3\ndensity: 1\nalive: 0\n"
                               "prunable: 0\nepochs: 1\nseconds: 0.5\n";
    write_seed("result", "yaml.yaml", yaml, sizeof yaml - 1);
}

/* ---- datasets ------------------------------------------------------------------ */

static void idx_seeds(void)
{
    /* Two 4x4 images (the fuzz target's fixed label file has two labels). */
    uint8_t images[16 + 2 * 16];
    static const uint8_t head[16] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 4};
    memcpy(images, head, sizeof head);
    for (int i = 0; i < 32; i++)
        images[16 + i] = (uint8_t)(i * 8);
    write_seed("idx", "images-idx3", images, sizeof images);
    write_gz_seed("idx", "images-idx3.gz", images, sizeof images);
    /* Two labels (the fixed image file has two images). */
    static const uint8_t labels[] = {0, 0, 8, 1, 0, 0, 0, 2, 7, 1};
    write_seed("idx", "labels-idx1", labels, sizeof labels);
    write_gz_seed("idx", "labels-idx1.gz", labels, sizeof labels);
    /* CIFAR-10: two records of label + 3x32x32 pixels. */
    static uint8_t cifar[2 * 3073];
    for (size_t i = 0; i < sizeof cifar; i++)
        cifar[i] = (uint8_t)(i * 31);
    cifar[0] = 3;
    cifar[3073] = 9;
    write_seed("idx", "cifar-2", cifar, sizeof cifar);
}

/* ---- wire messages ---------------------------------------------------------- */

/* One seed per command: the command byte, then the encoded body. */
static void wire_seed(int cmd, const void *body)
{
    char *enc;
    size_t len;
    sh_err_t err;
    if (sh_wire_encode(cmd, body, &enc, &len, &err) != SH_OK)
        die(err.msg);
    char *msg = malloc(len + 1);
    if (!msg)
        die("out of memory");
    msg[0] = (char)cmd;
    memcpy(msg + 1, enc, len);
    char name[64];
    snprintf(name, sizeof name, "%02x-%s", (unsigned)cmd, sh_cmd_name(cmd));
    write_seed("wire", name, msg, len + 1);
    free(msg);
    free(enc);
}

static void wire_seeds(void)
{
    static const char id_a[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char *sets[] = {"train.epochs=2", "seeds=[1, 2]"};
    sh_msg_submit_t sub = {.rid = 7, .sweep = "model: lenet5\n", .name = "x.yaml", .sets = sets,
                           .n_sets = 2, .priority = -3};
    wire_seed(SH_C_SUBMIT, &sub);
    sh_msg_sweep_req_t sr = {.rid = 1, .sweep = 42};
    wire_seed(SH_C_STATUS, &sr);
    wire_seed(SH_C_CANCEL, &sr);
    sh_msg_rid_t rid = {.rid = 99};
    wire_seed(SH_C_WORKERS, &rid);
    sh_msg_ack_t ack = {.rid = 5, .complete = 1};
    wire_seed(SH_BW_ACK, &ack);
    sh_msg_fetch_t fe = {.rid = 2, .offset = 1 << 20, .length = 1 << 20};
    memcpy(fe.sha256, id_a, sizeof fe.sha256);
    wire_seed(SH_C_FETCH, &fe);
    wire_seed(SH_W_GET, &fe);
    sh_msg_synthetic_t sy = {.rid = 3, .count = 300, .sleep_ms = 50, .fail_every = 7,
                             .priority = 2, .salt = 11, .payload = 100};
    wire_seed(SH_C_SYNTHETIC, &sy);
    static const uint8_t payload[] = {0x82, 0xa5, 's', 'w', 'e', 'e', 'p', 0x0c,
                                      0xa4, 'j', 'o', 'b', 's', 0x92, 0xc0, 0xc3};
    sh_msg_reply_t rep = {.rid = 4, .data = {payload, sizeof payload}};
    wire_seed(SH_B_REPLY, &rep);
    sh_msg_error_t er = {.rid = 5, .code = "bad-sweep", .message = "x.yaml:3: nope"};
    wire_seed(SH_B_ERROR, &er);
    sh_msg_ready_t rd = {.worker = "node-a/123", .threads = 2, .slots = 1, .version = 1};
    wire_seed(SH_W_READY, &rd);
    sh_msg_empty_t em = {0};
    wire_seed(SH_W_HEARTBEAT, &em);
    sh_msg_progress_t pr = {.lease = 9, .phase = "train", .epoch = 3, .epochs = 20,
                            .batch = 100, .batches = 469, .loss = 0.25};
    wire_seed(SH_W_PROGRESS, &pr);
    sh_wire_artifact_t arts[2] = {{"final.ckpt", "", 1234}, {"epoch-1.ckpt", "", 99}};
    memcpy(arts[0].sha256, id_a, sizeof arts[0].sha256);
    memcpy(arts[1].sha256, id_a, sizeof arts[1].sha256);
    sh_msg_done_t dn = {.lease = 9, .result = "{\"test_accuracy\":0.9}", .artifacts = arts,
                        .n_artifacts = 2};
    memcpy(dn.job, id_a, sizeof dn.job);
    wire_seed(SH_W_DONE, &dn);
    sh_msg_failed_t fa = {.lease = 9, .error = "training diverged", .handback = 1};
    memcpy(fa.job, id_a, sizeof fa.job);
    wire_seed(SH_W_FAILED, &fa);
    sh_msg_put_t pu = {.rid = 6, .offset = 0, .size = 16, .data = {payload, 16}, .last = 1};
    memcpy(pu.sha256, id_a, sizeof pu.sha256);
    wire_seed(SH_W_PUT, &pu);
    sh_msg_job_t jb = {.lease = 10, .spec = "{\"kind\":\"train\"}", .inputs = arts,
                       .n_inputs = 2, .data_name = "cifar10", .data_path = "/data",
                       .data_url = "https://example.org/cifar"};
    memcpy(jb.job, id_a, sizeof jb.job);
    memcpy(jb.data_sha256, id_a, sizeof jb.data_sha256);
    wire_seed(SH_BW_JOB, &jb);
    sh_msg_lease_t le = {.lease = 77};
    wire_seed(SH_BW_CANCEL, &le);
    sh_msg_chunk_t ch = {.rid = 8, .offset = 10, .size = 26, .data = {payload, 16}, .eof = 1};
    memcpy(ch.sha256, id_a, sizeof ch.sha256);
    wire_seed(SH_BW_CHUNK, &ch);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fuzz_gen_seeds SOURCE_DIR CORPUS_DIR\n");
        return 2;
    }
    g_out = argv[2];
    static const char hparams[] =
        "{\"dataset\":{\"name\":\"fashion-mnist\",\"validation\":0},\"kind\":\"train\"}";
    ckpt_seed("lenet5-sgd", "lenet5", 1, 12, 12, 10, SH_OPT_SGD, hparams);
    ckpt_seed("lenet5-adam", "lenet5", 1, 12, 12, 3, SH_OPT_ADAM, NULL);
    ckpt_seed("lenet_300_100-sgd", "lenet_300_100", 1, 1, 1, 2, SH_OPT_SGD, "{}");
    ckpt_nil_opt_seed("lenet5-no-optimizer");
    mpack_seeds();
    mpack_ckpt_seed();
    sweep_seeds(argv[1]);
    result_seeds();
    idx_seeds();
    wire_seeds();
    shm_seed("lenet5-dense-fp32", 1.0, SH_VAL_FP32);
    shm_seed("lenet5-d50-fp16", 0.5, SH_VAL_FP16);
    shm_seed("lenet5-d10-int8", 0.1, SH_VAL_INT8);
    shm_seed("lenet5-d02-int8", 0.02, SH_VAL_INT8);
    return 0;
}
