/* test_data.c - dataset loading, splitting, normalization and batching.
 *
 * The tests write their own small IDX (raw and gzip) and CIFAR-10 files into
 * the scratch directory, so they need no downloads; data_fashion_mnist_real
 * additionally checks the real Fashion-MNIST when SHEARS_FMNIST names it. */
#include "sh_data.h"
#include "sh_rng.h"
#include "sh_test.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u
#define CIFAR_PIXELS 3072

/* ---- helpers ------------------------------------------------------------ */

/* Writes dir/name into buf (512 bytes); scratch paths are short, so running
 * out of room is a broken test machine, not a test failure. */
static void join_path(char *buf, const char *dir, const char *name)
{
    int len = snprintf(buf, 512, "%s/%s", dir, name);
    if (len < 0 || len >= 512)
        abort();
}

static void tmp_path(char *buf, const char *name)
{
    join_path(buf, sh_test_tmpdir(), name);
}

/* Writes len bytes to path, gzip-compressed if gz. Returns 0 on success. */
static int write_file(const char *path, int gz, const void *data, size_t len)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f)
            return -1;
        int ok = len == 0 || gzwrite(f, data, (unsigned)len) == (int)len;
        return gzclose(f) == Z_OK && ok ? 0 : -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = len == 0 || fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Writes an IDX file: magic, ndims big-endian dims, then len payload bytes
 * (fewer than the dims promise makes a truncated file). Returns 0 on success. */
static int write_idx(const char *path, int gz, uint32_t magic, const uint32_t *dims,
                     int ndims, const uint8_t *payload, size_t len)
{
    size_t header = 4 + 4 * (size_t)ndims;
    uint8_t *buf = malloc(header + len + 1);
    if (!buf)
        return -1;
    put_be32(buf, magic);
    for (int k = 0; k < ndims; k++)
        put_be32(buf + 4 + 4 * k, dims[k]);
    if (len)
        memcpy(buf + header, payload, len);
    int rc = write_file(path, gz, buf, header + len);
    free(buf);
    return rc;
}

/* The synthetic dataset every IDX test uses: n images of h x w. */
static uint8_t synth_pixel(int i, int k) { return (uint8_t)(i * 31 + k * 7 + 3); }
static uint8_t synth_label(int i) { return (uint8_t)((i * 3) % 10); }

/* Writes <tmpdir>/<stem>-images and <stem>-labels holding the synthetic
 * dataset and leaves their paths in images/labels (512-byte buffers).
 * Returns 0 on success. */
static int write_synth_idx(const char *stem, int gz, int n, int h, int w, char *images,
                           char *labels)
{
    char name[256];
    snprintf(name, sizeof name, "%s-images", stem);
    tmp_path(images, name);
    snprintf(name, sizeof name, "%s-labels", stem);
    tmp_path(labels, name);
    size_t len = (size_t)n * h * w;
    uint8_t *pix = malloc(len), *lab = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < h * w; k++)
            pix[(size_t)i * h * w + k] = synth_pixel(i, k);
        lab[i] = synth_label(i);
    }
    uint32_t idims[3] = {(uint32_t)n, (uint32_t)h, (uint32_t)w}, ldims[1] = {(uint32_t)n};
    int rc = write_idx(images, gz, IDX_IMAGES, idims, 3, pix, len) ||
             write_idx(labels, gz, IDX_LABELS, ldims, 1, lab, (size_t)n);
    free(pix);
    free(lab);
    return rc;
}

/* Checks that d holds exactly the synthetic dataset. Returns 0 if it does. */
static int check_synth(const sh_dataset_t *d, int n, int h, int w)
{
    CHECK(d->n == n && d->c == 1 && d->h == h && d->w == w && d->n_classes == 10);
    for (int i = 0; i < n; i++) {
        CHECK(d->labels[i] == synth_label(i));
        for (int k = 0; k < h * w; k++)
            CHECK(d->images[(size_t)i * h * w + k] == synth_pixel(i, k));
    }
    return 0;
}

/* A heap dataset with random pixels (so sh_dataset_free and split work). */
static sh_dataset_t make_dataset(int n, int c, int h, int w, uint64_t seed)
{
    sh_dataset_t d = {.n = n, .c = c, .h = h, .w = w, .n_classes = 10};
    size_t len = (size_t)n * c * h * w;
    d.images = malloc(len);
    d.labels = malloc((size_t)n);
    sh_rng_t rng;
    sh_rng_seed(&rng, seed, SH_STREAM(SH_STREAM_TEST, 0));
    for (size_t k = 0; k < len; k++)
        d.images[k] = (uint8_t)sh_rng_below(&rng, 256);
    for (int i = 0; i < n; i++)
        d.labels[i] = (uint8_t)(i % 10);
    return d;
}

/* Expects a failed load: the given status, the file named in the message,
 * and an empty dataset. Returns 0 if so. */
static int check_load_fails(sh_status_t st, sh_status_t want, const sh_err_t *err,
                            const char *path, const sh_dataset_t *d)
{
    CHECK_MSG(st == want, "status %s, want %s (%s)", sh_status_str(st),
              sh_status_str(want), err->msg);
    CHECK_MSG(strstr(err->msg, path) != NULL, "message '%s' does not name %s", err->msg,
              path);
    CHECK(d->n == 0 && d->images == NULL && d->labels == NULL);
    return 0;
}

/* ---- IDX ------------------------------------------------------------------ */

SH_TEST(data_idx_roundtrip)
{
    char images[512], labels[512];
    CHECK(write_synth_idx("data_rt", 0, 7, 3, 5, images, labels) == 0);
    sh_dataset_t d;
    memset(&d, 0xab, sizeof d);
    sh_err_t err = {{0}};
    CHECK_MSG(sh_dataset_load_idx(&d, images, labels, &err) == SH_OK, "%s", err.msg);
    if (check_synth(&d, 7, 3, 5))
        return 1;
    sh_dataset_free(&d);
    CHECK(d.images == NULL && d.labels == NULL && d.n == 0);
    sh_dataset_free(&d); /* freeing twice and freeing NULL are harmless */
    sh_dataset_free(NULL);
    return 0;
}

SH_TEST(data_idx_gz_matches_raw)
{
    char raw_i[512], raw_l[512], gz_i[512], gz_l[512];
    CHECK(write_synth_idx("data_gzraw", 0, 9, 4, 6, raw_i, raw_l) == 0);
    CHECK(write_synth_idx("data_gzgz", 1, 9, 4, 6, gz_i, gz_l) == 0);
    sh_dataset_t a, b, mixed;
    sh_err_t err = {{0}};
    CHECK_MSG(sh_dataset_load_idx(&a, raw_i, raw_l, &err) == SH_OK, "%s", err.msg);
    CHECK_MSG(sh_dataset_load_idx(&b, gz_i, gz_l, &err) == SH_OK, "%s", err.msg);
    CHECK_MSG(sh_dataset_load_idx(&mixed, gz_i, raw_l, &err) == SH_OK, "%s", err.msg);
    if (check_synth(&a, 9, 4, 6))
        return 1;
    CHECK(a.n == b.n && a.h == b.h && a.w == b.w && a.c == b.c);
    CHECK(memcmp(a.images, b.images, (size_t)a.n * a.h * a.w) == 0);
    CHECK(memcmp(a.labels, b.labels, (size_t)a.n) == 0);
    CHECK(memcmp(a.images, mixed.images, (size_t)a.n * a.h * a.w) == 0);
    CHECK(memcmp(a.labels, mixed.labels, (size_t)a.n) == 0);
    sh_dataset_free(&a);
    sh_dataset_free(&b);
    sh_dataset_free(&mixed);
    return 0;
}

SH_TEST(data_idx_truncated)
{
    char images[512], labels[512], path[512];
    CHECK(write_synth_idx("data_trunc", 0, 5, 4, 4, images, labels) == 0);
    uint8_t pix[5 * 16] = {0};
    uint32_t dims[3] = {5, 4, 4};
    sh_dataset_t d;
    sh_err_t err;

    /* One byte of pixel data missing, raw and gzip. */
    for (int gz = 0; gz <= 1; gz++) {
        tmp_path(path, gz ? "data_trunc_short.gz" : "data_trunc_short");
        CHECK(write_idx(path, gz, IDX_IMAGES, dims, 3, pix, sizeof pix - 1) == 0);
        if (check_load_fails(sh_dataset_load_idx(&d, path, labels, &err), SH_EFORMAT,
                             &err, path, &d))
            return 1;
    }
    /* Header cut inside the dims. */
    tmp_path(path, "data_trunc_header");
    CHECK(write_file(path, 0, "\0\0\x08\x03\0\0", 6) == 0);
    if (check_load_fails(sh_dataset_load_idx(&d, path, labels, &err), SH_EFORMAT, &err,
                         path, &d))
        return 1;
    /* Empty file. */
    tmp_path(path, "data_trunc_empty");
    CHECK(write_file(path, 0, "", 0) == 0);
    if (check_load_fails(sh_dataset_load_idx(&d, path, labels, &err), SH_EFORMAT, &err,
                         path, &d))
        return 1;
    /* Labels one short of their own header. */
    tmp_path(path, "data_trunc_labels");
    uint32_t ldims[1] = {5};
    CHECK(write_idx(path, 0, IDX_LABELS, ldims, 1, (const uint8_t *)"\1\2\3\4", 4) == 0);
    if (check_load_fails(sh_dataset_load_idx(&d, images, path, &err), SH_EFORMAT, &err,
                         path, &d))
        return 1;
    /* A gzip stream cut in the middle. */
    char whole[512];
    tmp_path(whole, "data_trunc_whole.gz");
    uint8_t big[64 * 64 * 3];
    sh_rng_t rng;
    sh_rng_seed(&rng, 1, SH_STREAM(SH_STREAM_TEST, 1));
    for (size_t k = 0; k < sizeof big; k++)
        big[k] = (uint8_t)sh_rng_below(&rng, 256); /* incompressible */
    uint32_t bdims[3] = {3, 64, 64};
    CHECK(write_idx(whole, 1, IDX_IMAGES, bdims, 3, big, sizeof big) == 0);
    FILE *f = fopen(whole, "rb");
    CHECK(f);
    uint8_t gzbuf[sizeof big + 1024];
    size_t gzlen = fread(gzbuf, 1, sizeof gzbuf, f);
    fclose(f);
    tmp_path(path, "data_trunc_cut.gz");
    CHECK(write_file(path, 0, gzbuf, gzlen / 2) == 0);
    if (check_load_fails(sh_dataset_load_idx(&d, path, labels, &err), SH_EFORMAT, &err,
                         path, &d))
        return 1;
    return 0;
}

SH_TEST(data_idx_absurd_dims)
{
    char images[512], labels[512], path[512];
    CHECK(write_synth_idx("data_absurd", 0, 2, 2, 2, images, labels) == 0);
    const uint32_t cases[][3] = {
        {10000001, 28, 28}, /* too many samples */
        {10, 4097, 28},     /* side too long */
        {10, 28, 0},        /* empty side */
        {0, 28, 28},        /* no samples */
        {0xffffffffu, 0xffffffffu, 0xffffffffu},
        {10000000, 4096, 4096}, /* within bounds, but the file is tiny */
    };
    uint8_t pix[16] = {0};
    sh_dataset_t d;
    sh_err_t err;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tmp_path(path, "data_absurd_images");
        CHECK(write_idx(path, 0, IDX_IMAGES, cases[k], 3, pix, sizeof pix) == 0);
        if (check_load_fails(sh_dataset_load_idx(&d, path, labels, &err), SH_EFORMAT,
                             &err, path, &d))
            return 1;
    }
    return 0;
}

SH_TEST(data_idx_bad_magic)
{
    char images[512], labels[512], path[512];
    CHECK(write_synth_idx("data_magic", 0, 3, 2, 2, images, labels) == 0);
    uint8_t pix[12] = {0};
    uint32_t dims[3] = {3, 2, 2};
    sh_dataset_t d;
    sh_err_t err;
    /* Labels where images belong, images where labels belong, float data,
     * and something that is not IDX at all. */
    if (check_load_fails(sh_dataset_load_idx(&d, labels, labels, &err), SH_EFORMAT, &err,
                         labels, &d))
        return 1;
    if (check_load_fails(sh_dataset_load_idx(&d, images, images, &err), SH_EFORMAT, &err,
                         images, &d))
        return 1;
    tmp_path(path, "data_magic_float");
    CHECK(write_idx(path, 0, 0x00000d03u, dims, 3, pix, sizeof pix) == 0);
    if (check_load_fails(sh_dataset_load_idx(&d, path, labels, &err), SH_EFORMAT, &err,
                         path, &d))
        return 1;
    tmp_path(path, "data_magic_text");
    CHECK(write_file(path, 1, "hello, world\n", 13) == 0);
    if (check_load_fails(sh_dataset_load_idx(&d, path, labels, &err), SH_EFORMAT, &err,
                         path, &d))
        return 1;
    return 0;
}

SH_TEST(data_idx_label_mismatch)
{
    char images[512], labels[512], path[512];
    CHECK(write_synth_idx("data_mismatch", 0, 5, 2, 2, images, labels) == 0);
    sh_dataset_t d;
    sh_err_t err;
    uint32_t four[1] = {4};
    tmp_path(path, "data_mismatch_labels4");
    CHECK(write_idx(path, 0, IDX_LABELS, four, 1, (const uint8_t *)"\1\2\3\4", 4) == 0);
    if (check_load_fails(sh_dataset_load_idx(&d, images, path, &err), SH_EFORMAT, &err,
                         path, &d))
        return 1;
    return 0;
}

SH_TEST(data_idx_label_out_of_range)
{
    char images[512], labels[512], path[512];
    CHECK(write_synth_idx("data_label10", 1, 5, 2, 2, images, labels) == 0);
    sh_dataset_t d;
    sh_err_t err;
    uint32_t five[1] = {5};
    tmp_path(path, "data_label10_labels");
    CHECK(write_idx(path, 1, IDX_LABELS, five, 1, (const uint8_t *)"\0\11\12\3\4", 5) == 0);
    if (check_load_fails(sh_dataset_load_idx(&d, images, path, &err), SH_EFORMAT, &err,
                         path, &d))
        return 1;
    CHECK(strstr(err.msg, "10") != NULL);
    return 0;
}

SH_TEST(data_idx_missing_file)
{
    char images[512], labels[512], path[512];
    CHECK(write_synth_idx("data_missing", 0, 3, 2, 2, images, labels) == 0);
    tmp_path(path, "data_missing_nonexistent");
    sh_dataset_t d;
    sh_err_t err;
    if (check_load_fails(sh_dataset_load_idx(&d, path, labels, &err), SH_EIO, &err, path,
                         &d))
        return 1;
    /* The images load, then the labels are missing: nothing may leak. */
    if (check_load_fails(sh_dataset_load_idx(&d, images, path, &err), SH_EIO, &err, path,
                         &d))
        return 1;
    /* A directory opens but cannot be read. */
    const char *dir = sh_test_tmpdir();
    if (check_load_fails(sh_dataset_load_idx(&d, dir, labels, &err), SH_EIO, &err, dir, &d))
        return 1;
    return 0;
}

/* ---- CIFAR-10 ------------------------------------------------------------- */

static uint8_t cifar_pixel(int i, int k) { return (uint8_t)(i * 13 + k * 5 + k / 1024); }

/* Writes n CIFAR records, global sample ids first..first+n-1. */
static int write_cifar(const char *path, int first, int n)
{
    size_t len = (size_t)n * (1 + CIFAR_PIXELS);
    uint8_t *buf = malloc(len);
    for (int r = 0; r < n; r++) {
        uint8_t *rec = buf + (size_t)r * (1 + CIFAR_PIXELS);
        rec[0] = synth_label(first + r);
        for (int k = 0; k < CIFAR_PIXELS; k++)
            rec[1 + k] = cifar_pixel(first + r, k);
    }
    int rc = write_file(path, 0, buf, len);
    free(buf);
    return rc;
}

static int check_cifar(const sh_dataset_t *d, int n)
{
    CHECK(d->n == n && d->c == 3 && d->h == 32 && d->w == 32 && d->n_classes == 10);
    for (int i = 0; i < n; i++) {
        CHECK(d->labels[i] == synth_label(i));
        for (int k = 0; k < CIFAR_PIXELS; k++)
            CHECK(d->images[(size_t)i * CIFAR_PIXELS + k] == cifar_pixel(i, k));
    }
    return 0;
}

SH_TEST(data_cifar_roundtrip)
{
    char a[512], b[512];
    tmp_path(a, "data_cifar_a.bin");
    tmp_path(b, "data_cifar_b.bin");
    CHECK(write_cifar(a, 0, 2) == 0);
    CHECK(write_cifar(b, 2, 3) == 0);
    const char *paths[2] = {a, b};
    sh_dataset_t d;
    sh_err_t err = {{0}};
    CHECK_MSG(sh_dataset_load_cifar10(&d, paths, 2, &err) == SH_OK, "%s", err.msg);
    if (check_cifar(&d, 5))
        return 1;
    sh_dataset_free(&d);
    CHECK(sh_dataset_load_cifar10(&d, paths, 0, &err) == SH_EARG);
    return 0;
}

SH_TEST(data_cifar_bad_files)
{
    char good[512], path[512];
    tmp_path(good, "data_cifar_good.bin");
    CHECK(write_cifar(good, 0, 2) == 0);
    sh_dataset_t d;
    sh_err_t err;

    /* Two records and a stray byte; an empty file. */
    uint8_t buf[2 * 3073 + 1] = {0};
    tmp_path(path, "data_cifar_odd.bin");
    CHECK(write_file(path, 0, buf, sizeof buf) == 0);
    const char *odd[2] = {good, path};
    if (check_load_fails(sh_dataset_load_cifar10(&d, odd, 2, &err), SH_EFORMAT, &err, path,
                         &d))
        return 1;
    tmp_path(path, "data_cifar_empty.bin");
    CHECK(write_file(path, 0, buf, 0) == 0);
    const char *empty[1] = {path};
    if (check_load_fails(sh_dataset_load_cifar10(&d, empty, 1, &err), SH_EFORMAT, &err,
                         path, &d))
        return 1;
    /* Label 10 in the second record. */
    buf[3073] = 10;
    tmp_path(path, "data_cifar_label10.bin");
    CHECK(write_file(path, 0, buf, 2 * 3073) == 0);
    const char *bad_label[2] = {good, path};
    if (check_load_fails(sh_dataset_load_cifar10(&d, bad_label, 2, &err), SH_EFORMAT, &err,
                         path, &d))
        return 1;
    /* Missing file after a good one. */
    tmp_path(path, "data_cifar_nonexistent.bin");
    const char *missing[2] = {good, path};
    if (check_load_fails(sh_dataset_load_cifar10(&d, missing, 2, &err), SH_EIO, &err, path,
                         &d))
        return 1;
    return 0;
}

/* ---- sh_dataset_load_dir -------------------------------------------------- */

SH_TEST(data_load_dir)
{
    char dir[512], path[512];
    tmp_path(dir, "data_dir_fm");
    CHECK(mkdir(dir, 0700) == 0);

    /* train: gz images next to a decoy raw file that must lose; raw labels. */
    uint32_t dims[3] = {6, 3, 3}, ldims[1] = {6};
    uint8_t pix[6 * 9], lab[6];
    for (int i = 0; i < 6; i++) {
        for (int k = 0; k < 9; k++)
            pix[i * 9 + k] = synth_pixel(i, k);
        lab[i] = synth_label(i);
    }
    join_path(path, dir, "train-images-idx3-ubyte.gz");
    CHECK(write_idx(path, 1, IDX_IMAGES, dims, 3, pix, sizeof pix) == 0);
    join_path(path, dir, "train-images-idx3-ubyte");
    uint8_t decoy[6 * 9] = {0};
    CHECK(write_idx(path, 0, IDX_IMAGES, dims, 3, decoy, sizeof decoy) == 0);
    join_path(path, dir, "train-labels-idx1-ubyte");
    CHECK(write_idx(path, 0, IDX_LABELS, ldims, 1, lab, sizeof lab) == 0);

    sh_dataset_t train, test;
    sh_err_t err = {{0}};
    /* No test split yet: not found, and the loaded train split is released. */
    CHECK(sh_dataset_load_dir("fashion-mnist", dir, &train, &test, &err) == SH_ENOTFOUND);
    CHECK(strstr(err.msg, "t10k-images-idx3-ubyte") != NULL);
    CHECK(train.images == NULL && test.images == NULL);

    uint32_t tdims[3] = {4, 3, 3}, tldims[1] = {4};
    join_path(path, dir, "t10k-images-idx3-ubyte");
    CHECK(write_idx(path, 0, IDX_IMAGES, tdims, 3, pix, 4 * 9) == 0);
    join_path(path, dir, "t10k-labels-idx1-ubyte.gz");
    CHECK(write_idx(path, 1, IDX_LABELS, tldims, 1, lab, 4) == 0);

    CHECK_MSG(sh_dataset_load_dir("fashion-mnist", dir, &train, &test, &err) == SH_OK, "%s",
              err.msg);
    if (check_synth(&train, 6, 3, 3) || check_synth(&test, 4, 3, 3))
        return 1;
    sh_dataset_free(&train);
    sh_dataset_free(&test);
    CHECK_MSG(sh_dataset_load_dir("mnist", dir, &train, &test, &err) == SH_OK, "%s", err.msg);
    CHECK(train.n == 6 && test.n == 4);
    sh_dataset_free(&train);
    sh_dataset_free(&test);

    CHECK(sh_dataset_load_dir("imagenet", dir, &train, &test, &err) == SH_ENOTFOUND);
    CHECK(strstr(err.msg, "imagenet") != NULL);
    join_path(path, dir, "nonexistent");
    CHECK(sh_dataset_load_dir("mnist", path, &train, &test, &err) == SH_ENOTFOUND);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(sh_dataset_load_dir("cifar10", path, &train, &test, &err) == SH_ENOTFOUND);
    CHECK(train.n == 0 && test.n == 0);
    return 0;
}

SH_TEST(data_load_dir_cifar)
{
    char dir[512], sub[512], path[512];
    tmp_path(dir, "data_dir_cifar");
    join_path(sub, dir, "cifar-10-batches-bin");
    CHECK(mkdir(dir, 0700) == 0 && mkdir(sub, 0700) == 0);
    for (int k = 1; k <= 5; k++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", k);
        join_path(path, sub, name);
        CHECK(write_cifar(path, k - 1, 1) == 0);
    }
    sh_dataset_t train, test;
    sh_err_t err = {{0}};
    CHECK(sh_dataset_load_dir("cifar10", dir, &train, &test, &err) == SH_ENOTFOUND);
    CHECK(strstr(err.msg, "test_batch.bin") != NULL);
    join_path(path, sub, "test_batch.bin");
    CHECK(write_cifar(path, 0, 2) == 0);
    /* Found through the subdirectory and directly. */
    CHECK_MSG(sh_dataset_load_dir("cifar10", dir, &train, &test, &err) == SH_OK, "%s",
              err.msg);
    if (check_cifar(&train, 5) || check_cifar(&test, 2))
        return 1;
    sh_dataset_free(&train);
    sh_dataset_free(&test);
    CHECK_MSG(sh_dataset_load_dir("cifar10", sub, &train, &test, &err) == SH_OK, "%s",
              err.msg);
    CHECK(train.n == 5 && test.n == 2);
    sh_dataset_free(&train);
    sh_dataset_free(&test);
    return 0;
}

/* ---- split ---------------------------------------------------------------- */

/* n samples of 2x2 whose first pixel is the sample id. */
static sh_dataset_t make_id_dataset(int n)
{
    sh_dataset_t d = make_dataset(n, 1, 2, 2, 5);
    for (int i = 0; i < n; i++)
        d.images[i * 4] = (uint8_t)i;
    return d;
}

SH_TEST(data_split)
{
    const int n = 50, count = 15;
    sh_dataset_t orig = make_id_dataset(n);
    sh_dataset_t train = make_id_dataset(n), val;
    sh_err_t err = {{0}};
    CHECK_MSG(sh_dataset_split(&train, &val, count, 42, &err) == SH_OK, "%s", err.msg);
    CHECK(train.n == n - count && val.n == count);
    CHECK(val.c == 1 && val.h == 2 && val.w == 2 && val.n_classes == 10);

    /* Every sample lands in exactly one half, intact, in original order. */
    int seen[50] = {0};
    const sh_dataset_t *halves[2] = {&train, &val};
    for (int hlf = 0; hlf < 2; hlf++) {
        int prev = -1;
        for (int i = 0; i < halves[hlf]->n; i++) {
            const uint8_t *img = halves[hlf]->images + i * 4;
            int id = img[0];
            CHECK(id > prev && id < n);
            prev = id;
            seen[id]++;
            CHECK(memcmp(img, orig.images + id * 4, 4) == 0);
            CHECK(halves[hlf]->labels[i] == orig.labels[id]);
        }
    }
    for (int i = 0; i < n; i++)
        CHECK(seen[i] == 1);

    /* val is the tail of the documented permutation. */
    int32_t perm[50];
    sh_permutation(perm, n, 42, SH_STREAM(SH_STREAM_SPLIT, 0));
    int in_val[50] = {0};
    for (int k = n - count; k < n; k++)
        in_val[perm[k]] = 1;
    for (int i = 0; i < val.n; i++)
        CHECK(in_val[val.images[i * 4]]);

    /* Same seed, same split; another seed, another split. */
    sh_dataset_t train2 = make_id_dataset(n), val2, train3 = make_id_dataset(n), val3;
    CHECK(sh_dataset_split(&train2, &val2, count, 42, &err) == SH_OK);
    CHECK(sh_dataset_split(&train3, &val3, count, 43, &err) == SH_OK);
    CHECK(memcmp(val.images, val2.images, (size_t)count * 4) == 0);
    CHECK(memcmp(train.images, train2.images, (size_t)(n - count) * 4) == 0);
    CHECK(memcmp(val.images, val3.images, (size_t)count * 4) != 0);

    sh_dataset_free(&orig);
    sh_dataset_free(&train);
    sh_dataset_free(&val);
    sh_dataset_free(&train2);
    sh_dataset_free(&val2);
    sh_dataset_free(&train3);
    sh_dataset_free(&val3);
    return 0;
}

SH_TEST(data_split_bad_count)
{
    sh_dataset_t train = make_id_dataset(10), orig = make_id_dataset(10), val;
    const int32_t counts[] = {0, -1, 10, 11};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        sh_err_t err = {{0}};
        memset(&val, 0xab, sizeof val);
        CHECK(sh_dataset_split(&train, &val, counts[k], 1, &err) == SH_EARG);
        CHECK(err.msg[0] != '\0');
        CHECK(val.n == 0 && val.images == NULL);
        CHECK(train.n == 10 && memcmp(train.images, orig.images, 40) == 0);
    }
    sh_dataset_free(&train);
    sh_dataset_free(&orig);
    return 0;
}

/* ---- normalization and batches ------------------------------------------- */

SH_TEST(data_norm_compute)
{
    /* Two 1x2 samples of 3 channels, NCHW:
     *   ch0 {0,255}x2     -> mean 0.5, std 0.5
     *   ch1 all 51        -> mean 0.2, std 0 reported as 1
     *   ch2 {0,51,102,153} -> mean 0.3, std sqrt(0.05) */
    uint8_t images[12] = {0, 255, 51, 51, 0, 51, 0, 255, 51, 51, 102, 153};
    uint8_t labels[2] = {0, 1};
    sh_dataset_t d = {.n = 2, .c = 3, .h = 1, .w = 2, .n_classes = 10,
                      .images = images, .labels = labels};
    sh_norm_t norm;
    sh_norm_compute(&norm, &d);
    CHECK(norm.c == 3);
    CHECK_CLOSE(norm.mean[0], 0.5, 1e-7, 0);
    CHECK_CLOSE(norm.std[0], 0.5, 1e-7, 0);
    CHECK_CLOSE(norm.mean[1], 0.2, 1e-7, 0);
    CHECK(norm.std[1] == 1.0f);
    CHECK_CLOSE(norm.mean[2], 0.3, 1e-7, 0);
    CHECK_CLOSE(norm.std[2], sqrt(0.05), 1e-7, 0);
    return 0;
}

static float normalized(uint8_t p, const sh_norm_t *norm, int ch)
{
    return (float)((p / 255.0 - norm->mean[ch]) / norm->std[ch]);
}

SH_TEST(data_batch_fill_exact)
{
    sh_dataset_t d = make_dataset(6, 3, 4, 5, 9);
    sh_norm_t norm = {.c = 3, .mean = {0.3f, 0.5f, 0.1f}, .std = {0.7f, 0.25f, 2.0f}};
    const int32_t idx[4] = {4, 0, 4, 2};
    const size_t sample = 3 * 4 * 5;
    float x[4 * 60], x2[4 * 60];
    int32_t y[4];
    sh_batch_fill(&d, idx, 4, &norm, SH_AUG_NONE, 1, 0, x, y);
    for (int b = 0; b < 4; b++) {
        CHECK(y[b] == d.labels[idx[b]]);
        for (size_t k = 0; k < sample; k++) {
            int ch = (int)(k / 20);
            uint8_t p = d.images[idx[b] * sample + k];
            CHECK_MSG(x[b * sample + k] == normalized(p, &norm, ch), "b %d k %zu", b, k);
        }
    }
    /* Without augmentation seed and step do not matter. */
    sh_batch_fill(&d, idx, 4, &norm, SH_AUG_NONE, 77, 1234, x2, y);
    CHECK(memcmp(x, x2, sizeof x) == 0);
    sh_dataset_free(&d);
    return 0;
}

/* The augmentation as specified, written the slow obvious way: pad the
 * normalized image with 4 zeros per side, crop at (oy, ox) in [0, 8], flip. */
static void reference_sample(const sh_dataset_t *d, int s, const sh_norm_t *norm,
                             int aug, uint64_t seed, uint64_t step, int i, float *out)
{
    sh_rng_t rng;
    sh_rng_seed(&rng, seed, SH_STREAM(SH_STREAM_AUGMENT, step * 65536 + (uint64_t)i));
    int ox = (int)sh_rng_below(&rng, 9), oy = (int)sh_rng_below(&rng, 9);
    int flip = (int)sh_rng_below(&rng, 2);
    if (!(aug & SH_AUG_CROP))
        ox = oy = 4;
    if (!(aug & SH_AUG_FLIP))
        flip = 0;
    int h = d->h, w = d->w, ph = h + 8, pw = w + 8;
    float *padded = calloc((size_t)ph * pw, sizeof *padded);
    for (int ch = 0; ch < d->c; ch++) {
        memset(padded, 0, (size_t)ph * pw * sizeof *padded);
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++) {
                uint8_t p = d->images[(((size_t)s * d->c + ch) * h + r) * w + c];
                padded[(r + 4) * pw + c + 4] = normalized(p, norm, ch);
            }
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++) {
                float v = padded[(r + oy) * pw + c + ox];
                int oc = flip ? w - 1 - c : c;
                out[((size_t)ch * h + r) * w + oc] = v;
            }
    }
    free(padded);
}

SH_TEST(data_batch_fill_matches_reference)
{
    sh_dataset_t d = make_dataset(10, 3, 7, 9, 11);
    sh_norm_t norm;
    sh_norm_compute(&norm, &d);
    enum { B = 24 };
    int32_t idx[B], y[B];
    for (int b = 0; b < B; b++)
        idx[b] = (b * 7) % 10;
    const size_t sample = 3 * 7 * 9;
    float *x = malloc(B * sample * sizeof *x), *ref = malloc(sample * sizeof *ref);
    const int augs[] = {SH_AUG_CROP, SH_AUG_FLIP, SH_AUG_CROP | SH_AUG_FLIP};
    for (size_t a = 0; a < 3; a++) {
        sh_batch_fill(&d, idx, B, &norm, augs[a], 5, 17, x, y);
        for (int b = 0; b < B; b++) {
            reference_sample(&d, idx[b], &norm, augs[a], 5, 17, b, ref);
            CHECK_MSG(memcmp(x + b * sample, ref, sample * sizeof *ref) == 0,
                      "aug %d sample %d", augs[a], b);
            CHECK(y[b] == d.labels[idx[b]]);
        }
    }
    free(x);
    free(ref);
    sh_dataset_free(&d);
    return 0;
}

SH_TEST(data_batch_fill_deterministic)
{
    sh_dataset_t d = make_dataset(40, 3, 8, 8, 13);
    sh_norm_t norm;
    sh_norm_compute(&norm, &d);
    enum { B = 37 };
    int32_t idx[B], y[B];
    for (int b = 0; b < B; b++)
        idx[b] = (b * 11) % 40;
    const size_t len = (size_t)B * 3 * 8 * 8;
    float *x1 = malloc(len * sizeof(float)), *x2 = malloc(len * sizeof(float));
    const int aug = SH_AUG_CROP | SH_AUG_FLIP;
    int saved = omp_get_max_threads();

    omp_set_num_threads(1);
    sh_batch_fill(&d, idx, B, &norm, aug, 99, 3, x1, y);
    omp_set_num_threads(2);
    sh_batch_fill(&d, idx, B, &norm, aug, 99, 3, x2, y);
    int same_threads = memcmp(x1, x2, len * sizeof(float)) == 0;
    omp_set_num_threads(3);
    sh_batch_fill(&d, idx, B, &norm, aug, 99, 3, x2, y);
    int same_threads3 = memcmp(x1, x2, len * sizeof(float)) == 0;
    sh_batch_fill(&d, idx, B, &norm, aug, 99, 3, x2, y);
    int same_again = memcmp(x1, x2, len * sizeof(float)) == 0;
    sh_batch_fill(&d, idx, B, &norm, aug, 99, 4, x2, y);
    int differs_step = memcmp(x1, x2, len * sizeof(float)) != 0;
    sh_batch_fill(&d, idx, B, &norm, aug, 100, 3, x2, y);
    int differs_seed = memcmp(x1, x2, len * sizeof(float)) != 0;
    omp_set_num_threads(saved);

    free(x1);
    free(x2);
    sh_dataset_free(&d);
    CHECK(same_threads && same_threads3 && same_again);
    CHECK(differs_step && differs_seed);
    return 0;
}

SH_TEST(data_batch_fill_crop_padding)
{
    /* A constant image: every output pixel is the image value or the
     * normalized zero of the padding, laid out as one rectangle of image
     * touching two opposite-corner edges, with at most 4 rows/cols of pad. */
    enum { H = 6, W = 7, B = 64 };
    uint8_t images[H * W];
    memset(images, 200, sizeof images);
    uint8_t labels[1] = {3};
    sh_dataset_t d = {.n = 1, .c = 1, .h = H, .w = W, .n_classes = 10,
                      .images = images, .labels = labels};
    sh_norm_t norm = {.c = 1, .mean = {0.25f}, .std = {0.5f}};
    const float v = normalized(200, &norm, 0);
    int32_t idx[B] = {0}, y[B];
    float x[B * H * W];
    int padded_samples = 0, whole_samples = 0;
    sh_batch_fill(&d, idx, B, &norm, SH_AUG_CROP | SH_AUG_FLIP, 7, 0, x, y);
    for (int b = 0; b < B; b++) {
        const float *img = x + b * H * W;
        int top = H, bottom = -1, left = W, right = -1, n_image = 0;
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++) {
                float p = img[r * W + c];
                CHECK(p == v || p == 0.0f);
                if (p == v) {
                    top = SH_MIN(top, r);
                    bottom = SH_MAX(bottom, r);
                    left = SH_MIN(left, c);
                    right = SH_MAX(right, c);
                    n_image++;
                }
            }
        CHECK(n_image > 0);
        CHECK(n_image == (bottom - top + 1) * (right - left + 1)); /* a rectangle */
        CHECK(top == 0 || bottom == H - 1);
        CHECK(left == 0 || right == W - 1);
        CHECK(top <= 4 && H - 1 - bottom <= 4 && left <= 4 && W - 1 - right <= 4);
        if (n_image == H * W)
            whole_samples++;
        else
            padded_samples++;
        CHECK(y[b] == 3);
    }
    CHECK(padded_samples > 0 && whole_samples > 0);

    /* Flip alone never pads: a constant image stays constant. */
    sh_batch_fill(&d, idx, B, &norm, SH_AUG_FLIP, 7, 0, x, y);
    for (int k = 0; k < B * H * W; k++)
        CHECK(x[k] == v);
    return 0;
}

SH_TEST(data_batch_fill_flip)
{
    /* Each output is the image or its mirror, and both happen. */
    sh_dataset_t d = make_dataset(1, 2, 3, 5, 21);
    sh_norm_t norm = {.c = 2, .mean = {0.5f, 0.4f}, .std = {0.3f, 0.2f}};
    enum { B = 32, S = 2 * 3 * 5 };
    int32_t idx[B] = {0}, y[B];
    float x[B * S], plain[S], mirror[S];
    sh_batch_fill(&d, idx, 1, &norm, SH_AUG_NONE, 0, 0, plain, y);
    for (int ch = 0; ch < 2; ch++)
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 5; c++)
                mirror[(ch * 3 + r) * 5 + c] = plain[(ch * 3 + r) * 5 + 4 - c];
    int n_plain = 0, n_mirror = 0;
    sh_batch_fill(&d, idx, B, &norm, SH_AUG_FLIP, 8, 2, x, y);
    for (int b = 0; b < B; b++) {
        int is_plain = memcmp(x + b * S, plain, sizeof plain) == 0;
        int is_mirror = memcmp(x + b * S, mirror, sizeof mirror) == 0;
        CHECK(is_plain || is_mirror);
        n_plain += is_plain;
        n_mirror += is_mirror;
    }
    CHECK(n_plain > 0 && n_mirror > 0);
    sh_dataset_free(&d);
    return 0;
}

/* ---- the real thing ------------------------------------------------------- */

SH_TEST(data_fashion_mnist_real)
{
    const char *dir = getenv("SHEARS_FMNIST");
    struct stat sb;
    if (!dir || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "skipped: SHEARS_FMNIST unset or not a directory\n");
        return 0;
    }
    sh_dataset_t train, test;
    sh_err_t err = {{0}};
    CHECK_MSG(sh_dataset_load_dir("fashion-mnist", dir, &train, &test, &err) == SH_OK, "%s",
              err.msg);
    CHECK(train.n == 60000 && test.n == 10000);
    CHECK(train.c == 1 && train.h == 28 && train.w == 28 && train.n_classes == 10);
    CHECK(test.c == 1 && test.h == 28 && test.w == 28 && test.n_classes == 10);
    /* Fashion-MNIST is balanced: 6000 / 1000 of each class. */
    int train_count[10] = {0}, test_count[10] = {0};
    for (int i = 0; i < train.n; i++) {
        CHECK(train.labels[i] < 10);
        train_count[train.labels[i]]++;
    }
    for (int i = 0; i < test.n; i++) {
        CHECK(test.labels[i] < 10);
        test_count[test.labels[i]]++;
    }
    for (int k = 0; k < 10; k++)
        CHECK(train_count[k] == 6000 && test_count[k] == 1000);
    sh_norm_t norm;
    sh_norm_compute(&norm, &train);
    CHECK_CLOSE(norm.mean[0], 0.286, 0.001, 0);
    CHECK_CLOSE(norm.std[0], 0.353, 0.001, 0);
    sh_dataset_free(&train);
    sh_dataset_free(&test);
    return 0;
}
