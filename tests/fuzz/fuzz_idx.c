/* fuzz_idx.c - libFuzzer target for the IDX and CIFAR-10 loaders.
 *
 * The loaders take paths, so each input is written to a memfd that lives as
 * long as the process and is opened again through /proc/self/fd/N. The input
 * is loaded as the IDX image file (with a fixed valid label file for two
 * samples), as the IDX label file (with a fixed valid image file of two 2x3
 * samples), as a CIFAR-10 batch alone, and as the second batch after a valid
 * one-record batch. Either IDX file may be gzip-compressed. Whatever loads
 * must be consistent: counts, shapes and labels below 10. */
#include "sh_data.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct {
    int fd;
    char path[64];
} memfile_t;

static memfile_t g_input, g_images, g_labels, g_cifar;
static volatile unsigned g_sink; /* keeps the reads of loaded pixels */

static void memfile_write(memfile_t *f, const void *data, size_t size)
{
    if (ftruncate(f->fd, 0) != 0 || (size && pwrite(f->fd, data, size, 0) != (ssize_t)size)) {
        perror("fuzz_idx: memfd write");
        abort();
    }
}

static void memfile_open(memfile_t *f, const char *name, const void *data, size_t size)
{
    f->fd = memfd_create(name, 0);
    if (f->fd < 0) {
        perror("fuzz_idx: memfd_create");
        abort();
    }
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
    memfile_write(f, data, size);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const uint8_t images[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3,
                                     1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    static const uint8_t labels[] = {0, 0, 8, 1, 0, 0, 0, 2, 3, 9};
    static uint8_t cifar[1 + 3 * 32 * 32];
    for (size_t i = 0; i < sizeof cifar; i++)
        cifar[i] = (uint8_t)(i * 7);
    cifar[0] = 4;
    memfile_open(&g_input, "fuzz-input", NULL, 0);
    memfile_open(&g_images, "fuzz-images", images, sizeof images);
    memfile_open(&g_labels, "fuzz-labels", labels, sizeof labels);
    memfile_open(&g_cifar, "fuzz-cifar", cifar, sizeof cifar);
    return 0;
}

static void check(sh_status_t st, sh_dataset_t *d, const sh_err_t *err)
{
    if (st != SH_OK) {
        /* Memory follows the bytes present, so SH_ENOMEM would be a bug. */
        if (d->images || d->labels || d->n || !err->msg[0] || st == SH_ENOMEM)
            abort();
        return;
    }
    if (d->n < 1 || d->c < 1 || d->h < 1 || d->w < 1 || d->n_classes != 10 || !d->images ||
        !d->labels)
        abort();
    /* Touch every byte: ASan checks the buffers hold what the header said. */
    size_t bytes = (size_t)d->n * (size_t)d->c * (size_t)d->h * (size_t)d->w;
    unsigned sum = 0;
    for (size_t i = 0; i < bytes; i++)
        sum += d->images[i];
    for (int32_t i = 0; i < d->n; i++)
        if (d->labels[i] >= 10)
            abort();
    g_sink = sum;
    sh_dataset_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memfile_write(&g_input, data, size);
    sh_dataset_t d;
    sh_err_t err = {{0}};
    check(sh_dataset_load_idx(&d, g_input.path, g_labels.path, &err), &d, &err);
    err.msg[0] = '\0';
    check(sh_dataset_load_idx(&d, g_images.path, g_input.path, &err), &d, &err);
    err.msg[0] = '\0';
    const char *one[1] = {g_input.path};
    check(sh_dataset_load_cifar10(&d, one, 1, &err), &d, &err);
    err.msg[0] = '\0';
    const char *two[2] = {g_cifar.path, g_input.path};
    check(sh_dataset_load_cifar10(&d, two, 2, &err), &d, &err);
    return 0;
}
