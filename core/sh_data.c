/* sh_data.c - labelled image datasets: reading IDX (MNIST, Fashion-MNIST) and
 * CIFAR-10 binary files, splitting off a validation set, computing the
 * normalization, and turning uint8 samples into normalized, optionally
 * augmented float batches.
 *
 * Everything read from disk is untrusted: header fields are bounded before
 * they size anything, and payloads go into buffers that grow with the bytes
 * actually present, so a header that lies about its size gives SH_EFORMAT
 * instead of a giant allocation. */
#include "sh_data.h"

#include "sh_rng.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define N_CLASSES 10
#define MAX_SAMPLES 10000000u /* more than any dataset these formats carry */
#define MAX_SIDE 4096u

#define IDX_IMAGES_MAGIC 0x00000803u /* uint8 elements, 3 dimensions */
#define IDX_LABELS_MAGIC 0x00000801u /* uint8 elements, 1 dimension */

#define CIFAR_PIXELS (3 * 32 * 32)
#define CIFAR_RECORD (1 + CIFAR_PIXELS)

#define CROP_PAD 4
#define MAX_BATCH 65536 /* augmentation streams are step * MAX_BATCH + i */

#define READ_CHUNK ((size_t)1 << 20)
#define GZ_MAX_READ ((size_t)1 << 30) /* gzread takes an unsigned length */

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads up to n bytes, stopping early only at end of file; *got says how many
 * arrived. A gzip stream cut short reads as an early end of file. Returns
 * SH_EIO on a read error, SH_EFORMAT on corrupt gzip data. */
static sh_status_t gz_read(gzFile f, uint8_t *buf, size_t n, size_t *got,
                           const char *path, sh_err_t *err)
{
    *got = 0;
    while (*got < n) {
        unsigned chunk = (unsigned)SH_MIN(n - *got, GZ_MAX_READ);
        int r = gzread(f, buf + *got, chunk);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            size_t len = strlen(path); /* zlib's message repeats the path */
            if (strncmp(msg, path, len) == 0 && strncmp(msg + len, ": ", 2) == 0)
                msg += len + 2;
            if (zerr == Z_ERRNO)
                return sh_fail(err, SH_EIO, "%s: read error: %s", path, msg);
            return sh_fail(err, SH_EFORMAT, "%s: corrupt gzip data: %s", path, msg);
        }
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return SH_OK;
}

/* Reads an n-byte payload (n > 0) into a new malloc'd buffer, growing it as
 * the bytes arrive so that memory follows the file, not the header's claim.
 * Returns SH_EFORMAT if the file ends early, SH_ENOMEM, or gz_read's failure;
 * *out is set only on success. */
static sh_status_t read_payload(gzFile f, size_t n, uint8_t **out, const char *path,
                                const char *what, sh_err_t *err)
{
    uint8_t *buf = NULL;
    size_t have = 0;
    while (have < n) {
        size_t cap = SH_MIN(n, SH_MAX(READ_CHUNK, 2 * have));
        uint8_t *grown = realloc(buf, cap);
        if (!grown) {
            free(buf);
            return sh_fail(err, SH_ENOMEM, "%s: out of memory for %zu bytes of %s",
                           path, n, what);
        }
        buf = grown;
        size_t got;
        sh_status_t st = gz_read(f, buf + have, cap - have, &got, path, err);
        if (st != SH_OK) {
            free(buf);
            return st;
        }
        have += got;
        if (have < cap) {
            free(buf);
            return sh_fail(err, SH_EFORMAT,
                           "%s: truncated: header promises %zu bytes of %s, file has %zu",
                           path, n, what, have);
        }
    }
    *out = buf;
    return SH_OK;
}

/* Reads one IDX file of uint8 elements with the given magic (whose low byte is
 * the number of dimensions, 1 or 3). dims[0] is the item count, the rest the
 * item shape. Returns SH_EIO if the file cannot be opened or read, SH_EFORMAT
 * for a wrong magic, implausible dims or a truncated file, SH_ENOMEM; the
 * message names the file. *data is set only on success. */
static sh_status_t read_idx(const char *path, uint32_t magic, uint32_t dims[3],
                            uint8_t **data, sh_err_t *err)
{
    const char *what = magic == IDX_IMAGES_MAGIC ? "images" : "labels";
    unsigned ndims = magic & 0xff;
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return sh_fail(err, SH_EIO, "%s: cannot open: %s", path,
                       errno ? strerror(errno) : "out of memory");

    uint8_t header[4 + 4 * 3];
    size_t got;
    sh_status_t st = gz_read(f, header, 4, &got, path, err);
    if (st != SH_OK)
        goto done;
    if (got < 4) {
        st = sh_fail(err, SH_EFORMAT, "%s: too short for an IDX header (%zu bytes)",
                     path, got);
        goto done;
    }
    if (load_be32(header) != magic) {
        st = sh_fail(err, SH_EFORMAT,
                     "%s: bad magic 0x%08x, expected 0x%08x (IDX %s: uint8, %u dims)",
                     path, load_be32(header), magic, what, ndims);
        goto done;
    }
    st = gz_read(f, header + 4, 4 * ndims, &got, path, err);
    if (st != SH_OK)
        goto done;
    if (got < 4 * ndims) {
        st = sh_fail(err, SH_EFORMAT, "%s: truncated IDX header", path);
        goto done;
    }

    size_t bytes = 1;
    for (unsigned k = 0; k < ndims; k++) {
        dims[k] = load_be32(header + 4 + 4 * k);
        uint32_t limit = k == 0 ? MAX_SAMPLES : MAX_SIDE;
        if (dims[k] == 0 || dims[k] > limit) {
            st = sh_fail(err, SH_EFORMAT, "%s: IDX dimension %u is %u, expected 1..%u",
                         path, k, dims[k], limit);
            goto done;
        }
        if (__builtin_mul_overflow(bytes, (size_t)dims[k], &bytes)) {
            st = sh_fail(err, SH_EFORMAT, "%s: IDX dimensions overflow", path);
            goto done;
        }
    }
    st = read_payload(f, bytes, data, path, what, err);
done:
    gzclose(f);
    return st;
}

sh_status_t sh_dataset_load_idx(sh_dataset_t *out, const char *images_path,
                                const char *labels_path, sh_err_t *err)
{
    memset(out, 0, sizeof *out);
    uint32_t image_dims[3], label_dims[3];
    uint8_t *images = NULL, *labels = NULL;
    sh_status_t st = read_idx(images_path, IDX_IMAGES_MAGIC, image_dims, &images, err);
    if (st == SH_OK)
        st = read_idx(labels_path, IDX_LABELS_MAGIC, label_dims, &labels, err);
    if (st == SH_OK && label_dims[0] != image_dims[0])
        st = sh_fail(err, SH_EFORMAT, "%s: %u labels for the %u images in %s",
                     labels_path, label_dims[0], image_dims[0], images_path);
    for (uint32_t i = 0; st == SH_OK && i < image_dims[0]; i++)
        if (labels[i] >= N_CLASSES)
            st = sh_fail(err, SH_EFORMAT, "%s: label %u of sample %u is not in 0..%d",
                         labels_path, labels[i], i, N_CLASSES - 1);
    if (st != SH_OK) {
        free(images);
        free(labels);
        return st;
    }
    *out = (sh_dataset_t){
        .n = (int32_t)image_dims[0],
        .c = 1,
        .h = (int32_t)image_dims[1],
        .w = (int32_t)image_dims[2],
        .n_classes = N_CLASSES,
        .images = images,
        .labels = labels,
    };
    return SH_OK;
}

/* Appends the records of one CIFAR-10 batch file to *images and *labels, which
 * hold *n samples so far, and advances *n. Returns SH_EIO if the file cannot
 * be opened or read, SH_EFORMAT if it is not a nonzero multiple of 3073 bytes,
 * holds a label >= 10 or pushes the total past MAX_SAMPLES, SH_ENOMEM. The
 * buffers stay valid and owned by the caller whatever happens. */
static sh_status_t cifar_append(const char *path, uint8_t **images, uint8_t **labels,
                                size_t *n, sh_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sh_fail(err, SH_EIO, "%s: cannot open: %s", path, strerror(errno));
    sh_status_t st = SH_OK;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        st = sh_fail(err, SH_EIO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = sh_fail(err, SH_EFORMAT, "%s: not a regular file", path);
        goto done;
    }
    if (sb.st_size == 0 || sb.st_size % CIFAR_RECORD != 0) {
        st = sh_fail(err, SH_EFORMAT,
                     "%s: size %lld is not a nonzero multiple of %d bytes "
                     "(1 label + 3x32x32 pixels)",
                     path, (long long)sb.st_size, CIFAR_RECORD);
        goto done;
    }
    size_t records = (size_t)sb.st_size / CIFAR_RECORD;
    if (records > MAX_SAMPLES - *n) {
        st = sh_fail(err, SH_EFORMAT, "%s: more than %u samples in total", path,
                     MAX_SAMPLES);
        goto done;
    }

    uint8_t *grown = realloc(*images, (*n + records) * CIFAR_PIXELS);
    if (grown) {
        *images = grown;
        grown = realloc(*labels, *n + records);
    }
    if (!grown) {
        st = sh_fail(err, SH_ENOMEM, "%s: out of memory for %zu samples", path,
                     *n + records);
        goto done;
    }
    *labels = grown;
    for (size_t r = 0; r < records; r++) {
        size_t k = *n + r;
        if (fread(*labels + k, 1, 1, f) != 1 ||
            fread(*images + k * CIFAR_PIXELS, 1, CIFAR_PIXELS, f) != CIFAR_PIXELS) {
            st = ferror(f) ? sh_fail(err, SH_EIO, "%s: read error: %s", path, strerror(errno))
                           : sh_fail(err, SH_EFORMAT, "%s: truncated at record %zu", path, r);
            goto done;
        }
        if ((*labels)[k] >= N_CLASSES) {
            st = sh_fail(err, SH_EFORMAT, "%s: record %zu has label %u, expected 0..%d",
                         path, r, (*labels)[k], N_CLASSES - 1);
            goto done;
        }
    }
    *n += records;
done:
    fclose(f);
    return st;
}

sh_status_t sh_dataset_load_cifar10(sh_dataset_t *out, const char *const *paths,
                                    int n_paths, sh_err_t *err)
{
    memset(out, 0, sizeof *out);
    if (n_paths <= 0)
        return sh_fail(err, SH_EARG, "cifar10: no batch files given");
    uint8_t *images = NULL, *labels = NULL;
    size_t n = 0;
    for (int k = 0; k < n_paths; k++) {
        sh_status_t st = cifar_append(paths[k], &images, &labels, &n, err);
        if (st != SH_OK) {
            free(images);
            free(labels);
            return st;
        }
    }
    *out = (sh_dataset_t){
        .n = (int32_t)n,
        .c = 3,
        .h = 32,
        .w = 32,
        .n_classes = N_CLASSES,
        .images = images,
        .labels = labels,
    };
    return SH_OK;
}

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Writes dir/name into path. Returns SH_EARG if it does not fit. */
static sh_status_t join_path(char path[PATH_MAX], const char *dir, const char *name,
                             sh_err_t *err)
{
    int len = snprintf(path, PATH_MAX, "%s/%s", dir, name);
    if (len < 0 || len >= PATH_MAX)
        return sh_fail(err, SH_EARG, "%s: path too long", dir);
    return SH_OK;
}

/* Finds dir/base.gz, else dir/base. Returns SH_ENOTFOUND if neither exists. */
static sh_status_t find_idx(char path[PATH_MAX], const char *dir, const char *base,
                            sh_err_t *err)
{
    char name[128];
    snprintf(name, sizeof name, "%s.gz", base);
    sh_status_t st = join_path(path, dir, name, err);
    if (st != SH_OK || is_file(path))
        return st;
    st = join_path(path, dir, base, err);
    if (st != SH_OK || is_file(path))
        return st;
    return sh_fail(err, SH_ENOTFOUND, "%s: no %s or %s.gz", dir, base, base);
}

/* Loads the IDX pair for one split ("train" or "t10k") from dir. */
static sh_status_t load_idx_split(const char *dir, const char *split, sh_dataset_t *out,
                                  sh_err_t *err)
{
    char images[PATH_MAX], labels[PATH_MAX], base[64];
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", split);
    sh_status_t st = find_idx(images, dir, base, err);
    if (st != SH_OK)
        return st;
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", split);
    st = find_idx(labels, dir, base, err);
    if (st != SH_OK)
        return st;
    return sh_dataset_load_idx(out, images, labels, err);
}

/* Loads CIFAR-10's five training batches and its test batch, from dir or from
 * dir/cifar-10-batches-bin (where the official archive unpacks). */
static sh_status_t load_cifar_dir(const char *dir, sh_dataset_t *train,
                                  sh_dataset_t *test, sh_err_t *err)
{
    static const char *const names[6] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
        "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin",
    };
    char base[PATH_MAX], paths[6][PATH_MAX];
    sh_status_t st = join_path(paths[0], dir, names[0], err);
    if (st != SH_OK)
        return st;
    if (is_file(paths[0]))
        snprintf(base, sizeof base, "%s", dir);
    else if ((st = join_path(base, dir, "cifar-10-batches-bin", err)) != SH_OK)
        return st;
    for (int k = 0; k < 6; k++) {
        if ((st = join_path(paths[k], base, names[k], err)) != SH_OK)
            return st;
        if (!is_file(paths[k]))
            return sh_fail(err, SH_ENOTFOUND, "%s: no %s", base, names[k]);
    }
    const char *const train_paths[5] = {paths[0], paths[1], paths[2], paths[3], paths[4]};
    const char *const test_paths[1] = {paths[5]};
    st = sh_dataset_load_cifar10(train, train_paths, 5, err);
    if (st == SH_OK)
        st = sh_dataset_load_cifar10(test, test_paths, 1, err);
    return st;
}

sh_status_t sh_dataset_load_dir(const char *name, const char *dir,
                                sh_dataset_t *train, sh_dataset_t *test,
                                sh_err_t *err)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    sh_status_t st;
    if (strcmp(name, "mnist") == 0 || strcmp(name, "fashion-mnist") == 0) {
        st = load_idx_split(dir, "train", train, err);
        if (st == SH_OK)
            st = load_idx_split(dir, "t10k", test, err);
    } else if (strcmp(name, "cifar10") == 0) {
        st = load_cifar_dir(dir, train, test, err);
    } else {
        return sh_fail(err, SH_ENOTFOUND,
                       "unknown dataset '%s' (known: mnist, fashion-mnist, cifar10)", name);
    }
    if (st != SH_OK)
        sh_dataset_free(train); /* test is still empty: loaders leave it so */
    return st;
}

void sh_dataset_free(sh_dataset_t *d)
{
    if (!d)
        return;
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

/* Returns SH_EARG unless 0 < count < train->n, SH_ENOMEM; on failure train is
 * untouched and val empty. Both halves keep the samples' original relative
 * order, so the split only removes samples from the training order. */
sh_status_t sh_dataset_split(sh_dataset_t *train, sh_dataset_t *val, int32_t count,
                             uint64_t seed, sh_err_t *err)
{
    SH_ASSERT(train != val);
    memset(val, 0, sizeof *val);
    int32_t n = train->n;
    if (count <= 0 || count >= n)
        return sh_fail(err, SH_EARG, "validation split of %d samples: need 0 < count < %d",
                       count, n);
    size_t sample = (size_t)train->c * (size_t)train->h * (size_t)train->w;
    int32_t *perm = malloc((size_t)n * sizeof *perm);
    uint8_t *in_val = calloc((size_t)n, 1);
    uint8_t *val_images = malloc((size_t)count * sample);
    uint8_t *val_labels = malloc((size_t)count);
    if (!perm || !in_val || !val_images || !val_labels) {
        free(perm);
        free(in_val);
        free(val_images);
        free(val_labels);
        return sh_fail(err, SH_ENOMEM, "validation split: out of memory");
    }
    sh_permutation(perm, n, seed, SH_STREAM(SH_STREAM_SPLIT, 0));
    for (int32_t k = n - count; k < n; k++)
        in_val[perm[k]] = 1;

    /* Compacting train in place is safe: kept never passes i. */
    size_t kept = 0, moved = 0;
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *src = train->images + (size_t)i * sample;
        if (in_val[i]) {
            memcpy(val_images + moved * sample, src, sample);
            val_labels[moved++] = train->labels[i];
        } else {
            memmove(train->images + kept * sample, src, sample);
            train->labels[kept++] = train->labels[i];
        }
    }
    free(perm);
    free(in_val);

    /* Give back the tail; if shrinking fails the larger block is still fine. */
    uint8_t *shrunk = realloc(train->images, kept * sample);
    if (shrunk)
        train->images = shrunk;
    shrunk = realloc(train->labels, kept);
    if (shrunk)
        train->labels = shrunk;
    train->n = (int32_t)kept;
    *val = (sh_dataset_t){
        .n = count,
        .c = train->c,
        .h = train->h,
        .w = train->w,
        .n_classes = train->n_classes,
        .images = val_images,
        .labels = val_labels,
    };
    return SH_OK;
}

/* Population mean and standard deviation of pixel / 255 per channel. A
 * channel without variation gets std 1 so normalizing it stays finite. */
void sh_norm_compute(sh_norm_t *norm, const sh_dataset_t *d)
{
    SH_ASSERT(d->c >= 1 && d->c <= SH_DATA_MAX_CHANNELS);
    memset(norm, 0, sizeof *norm);
    norm->c = d->c;
    size_t plane = (size_t)d->h * (size_t)d->w;
    for (int32_t ch = 0; ch < d->c; ch++) {
        /* A histogram makes both passes of the variance 256 steps long and
         * exact, instead of two passes over every pixel. */
        uint64_t hist[256] = {0};
        for (int32_t i = 0; i < d->n; i++) {
            const uint8_t *p = d->images + ((size_t)i * (size_t)d->c + (size_t)ch) * plane;
            for (size_t k = 0; k < plane; k++)
                hist[p[k]]++;
        }
        double count = 0, sum = 0;
        for (int v = 0; v < 256; v++) {
            count += (double)hist[v];
            sum += (double)hist[v] * (v / 255.0);
        }
        double mean = count > 0 ? sum / count : 0, var = 0;
        for (int v = 0; v < 256; v++) {
            double dv = v / 255.0 - mean;
            var += (double)hist[v] * dv * dv;
        }
        double sd = count > 0 ? sqrt(var / count) : 0;
        norm->mean[ch] = (float)mean;
        norm->std[ch] = sd > 0 ? (float)sd : 1.0f;
    }
}

void sh_batch_fill(const sh_dataset_t *d, const int32_t *idx, int32_t B,
                   const sh_norm_t *norm, int aug, uint64_t seed, uint64_t step,
                   float *x, int32_t *y)
{
    SH_ASSERT(norm->c == d->c && d->c >= 1 && d->c <= SH_DATA_MAX_CHANNELS);
    SH_ASSERT(B >= 0 && B <= MAX_BATCH);
    /* Normalizing is a table lookup, so every pixel of a given value and
     * channel gets bit-identical floats on every path. */
    float lut[SH_DATA_MAX_CHANNELS][256];
    for (int32_t ch = 0; ch < d->c; ch++)
        for (int v = 0; v < 256; v++)
            lut[ch][v] = (float)((v / 255.0 - norm->mean[ch]) / norm->std[ch]);

    const int32_t h = d->h, w = d->w;
    const size_t plane = (size_t)h * (size_t)w, sample = (size_t)d->c * plane;
#pragma omp parallel for schedule(static)
    for (int32_t i = 0; i < B; i++) {
        int32_t s = idx[i];
        SH_ASSERT(s >= 0 && s < d->n);
        /* One stream per sample keeps the draws independent of the thread
         * count. All three are drawn whatever aug says, so turning crop on or
         * off does not change which samples get flipped. */
        sh_rng_t rng;
        sh_rng_seed(&rng, seed, SH_STREAM(SH_STREAM_AUGMENT, step * MAX_BATCH + (uint64_t)i));
        int32_t dx = (int32_t)sh_rng_below(&rng, 2 * CROP_PAD + 1) - CROP_PAD;
        int32_t dy = (int32_t)sh_rng_below(&rng, 2 * CROP_PAD + 1) - CROP_PAD;
        int flip = (int)sh_rng_below(&rng, 2);
        if (!(aug & SH_AUG_CROP))
            dx = dy = 0;
        if (!(aug & SH_AUG_FLIP))
            flip = 0;

        /* out(oy, ox) = padded(oy + dy, (flip ? w-1-ox : ox) + dx), where the
         * padding outside the image is 0 in normalized units. */
        const uint8_t *src = d->images + (size_t)s * sample;
        float *dst = x + (size_t)i * sample;
        for (int32_t ch = 0; ch < d->c; ch++) {
            for (int32_t oy = 0; oy < h; oy++) {
                float *row = dst + (size_t)ch * plane + (size_t)oy * (size_t)w;
                int32_t sy = oy + dy;
                if (sy < 0 || sy >= h) {
                    memset(row, 0, (size_t)w * sizeof *row);
                    continue;
                }
                const uint8_t *srow = src + (size_t)ch * plane + (size_t)sy * (size_t)w;
                for (int32_t ox = 0; ox < w; ox++) {
                    int32_t sx = (flip ? w - 1 - ox : ox) + dx;
                    row[ox] = sx >= 0 && sx < w ? lut[ch][srow[sx]] : 0.0f;
                }
            }
        }
        y[i] = d->labels[s];
    }
}
