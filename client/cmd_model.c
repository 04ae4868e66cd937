/* cmd_model.c - compressed models: `shears compress` (checkpoint -> .shm),
 * `shears inspect` (what is in a .shm and what it costs), `shears infer`
 * (accuracy and throughput of a .shm on a labelled set, sparse kernels). */
#include "commands.h"

#include "sh_ckpt.h"
#include "sh_fetch.h"
#include "sh_shm.h"
#include "sh_train.h"

#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_compress(int argc, char **argv)
{
    static const char usage[] =
        "usage: shears compress CHECKPOINT -o MODEL.shm [--values fp32|fp16|int8]\n"
        "                       [--dataset NAME --data DIR]\n\n"
        "Writes a compressed model: each pruned tensor in its smallest encoding\n"
        "(dense, bitmask or delta-coded sparse, optionally deflated), values in the\n"
        "given precision (int8 keeps one scale per output channel). The input\n"
        "normalization comes from the checkpoint, or from the dataset's training split\n"
        "for checkpoints that lack it.\n";
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},     {"values", required_argument, NULL, 'v'},
        {"dataset", required_argument, NULL, 'd'}, {"data", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *dataset = NULL, *data_dir = NULL;
    sh_values_t values = SH_VAL_INT8;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': out = optarg; break;
        case 'v':
            if (sh_values_parse(optarg, &values) != 0) {
                fprintf(stderr, "shears compress: --values must be fp32, fp16 or int8\n");
                return EXIT_USAGE;
            }
            break;
        case 'd': dataset = optarg; break;
        case 'D': data_dir = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (argc - optind != 1 || !out) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    sh_model_t *m;
    sh_ckpt_meta_t cm;
    sh_err_t err;
    if (sh_ckpt_load(&m, &cm, argv[optind], &err) != SH_OK) {
        fprintf(stderr, "shears compress: %s\n", err.msg);
        return EXIT_USAGE;
    }
    sh_shm_meta_t meta = {.test_accuracy = NAN};
    if (cm.has_norm) {
        meta.norm = cm.norm;
    } else if (dataset && data_dir) {
        sh_dataset_t train, test;
        if (sh_dataset_load_dir(dataset, data_dir, &train, &test, &err) != SH_OK) {
            fprintf(stderr, "shears compress: %s\n", err.msg);
            sh_model_destroy(&m);
            sh_ckpt_meta_clear(&cm);
            return EXIT_USAGE;
        }
        sh_norm_compute(&meta.norm, &train);
        sh_dataset_free(&train);
        sh_dataset_free(&test);
    } else {
        fprintf(stderr, "shears compress: the checkpoint does not record its input "
                        "normalization; give --dataset NAME --data DIR\n");
        sh_model_destroy(&m);
        sh_ckpt_meta_clear(&cm);
        return EXIT_USAGE;
    }
    size_t bytes = 0;
    sh_status_t st = sh_shm_save(m, &meta, values, out, &bytes, &err);
    if (st != SH_OK)
        fprintf(stderr, "shears compress: %s\n", err.msg);
    else
        printf("%s: %zu bytes (%s values), %.1fx smaller than dense fp32, %.2f%% of weights\n",
               out, bytes, sh_values_name(values),
               (double)sh_shm_dense_bytes(m) / (double)bytes, 100 * sh_model_density(m));
    sh_model_destroy(&m);
    sh_ckpt_meta_clear(&cm);
    return st == SH_OK ? 0 : EXIT_USAGE;
}

int cmd_inspect(int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *f = argc == 2 ? stdout : stderr;
        fprintf(f, "usage: shears inspect MODEL.shm\n\n"
                   "Shows a compressed model: architecture, per-layer density, storage format\n"
                   "and bytes, multiply-adds per image dense and sparse, and whether the\n"
                   "payload checksum verifies.\n");
        return argc == 2 ? 0 : EXIT_USAGE;
    }
    sh_model_t *m;
    sh_shm_meta_t meta;
    sh_err_t err;
    if (sh_shm_load(&m, &meta, argv[1], &err) != SH_OK) {
        fprintf(stderr, "shears inspect: %s\n", err.msg);
        return EXIT_USAGE;
    }
    size_t file_bytes = 0;
    FILE *f = fopen(argv[1], "rb");
    if (f) {
        fseek(f, 0, SEEK_END);
        file_bytes = (size_t)ftell(f);
        fclose(f);
    }
    printf("%s: %s, input %dx%dx%d, %d classes\n", argv[1], m->arch, m->in_c, m->in_h, m->in_w,
           m->n_classes);
    if (meta.job[0])
        printf("job %s", meta.job);
    if (isfinite(meta.test_accuracy))
        printf("%stest accuracy %.2f%% (float model)", meta.job[0] ? ", " : "",
               100 * meta.test_accuracy);
    if (meta.job[0] || isfinite(meta.test_accuracy))
        printf("\n");
    printf("normalization: mean");
    for (int c = 0; c < meta.norm.c; c++)
        printf(" %.4f", meta.norm.mean[c]);
    printf(", std");
    for (int c = 0; c < meta.norm.c; c++)
        printf(" %.4f", meta.norm.std[c]);
    printf("\n\n%-24s %-16s %8s %-9s %6s %5s %10s\n", "tensor", "shape", "density", "format",
           "values", "defl", "bytes");
    for (int i = 0; i < meta.n_info; i++) {
        const sh_shm_tensor_info_t *t = &meta.info[i];
        const sh_tensor_t *mt = &m->tensors[i];
        char shape[48] = "", fmt[16];
        for (int d = 0; d < mt->ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%d", d ? "x" : "",
                     mt->shape[d]);
        if (!strcmp(t->format, "csr"))
            snprintf(fmt, sizeof fmt, "csr/%d", t->index_bits);
        else if (!strcmp(t->format, "rice"))
            snprintf(fmt, sizeof fmt, "rice/k%d", t->index_bits);
        else
            snprintf(fmt, sizeof fmt, "%s", t->format);
        printf("%-24s %-16s %7.2f%% %-9s %6s %5s %10llu\n", t->name, shape,
               100.0 * (double)t->alive / (double)t->numel, fmt, sh_values_name(t->values),
               t->deflate ? "yes" : "no", (unsigned long long)t->bytes);
    }
    double dense = 0, sparse = 0;
    for (int o = 0; o < m->n_ops; o++) {
        const sh_op_t *op = &m->ops[o];
        double macs = 0;
        if (op->kind == SH_OP_LINEAR)
            macs = (double)op->C * op->H * op->W * op->OC;
        else if (op->kind == SH_OP_CONV2D)
            macs = (double)op->OC * op->OH * op->OW * op->C * op->K * op->K;
        else
            continue;
        const sh_tensor_t *t = &m->tensors[op->w];
        dense += macs;
        sparse += macs * (double)sh_tensor_alive(m, op->w) / (double)t->numel;
    }
    printf("\nweights alive: %.2f%% of %zu prunable\n", 100 * sh_model_density(m), m->n_prunable);
    printf("multiply-adds per image: dense %.3g, sparse %.3g (%.1fx fewer)\n", dense, sparse,
           sparse > 0 ? dense / sparse : 0.0);
    printf("file: %zu bytes; dense fp32 would be %zu bytes (%.1fx smaller)\n", file_bytes,
           sh_shm_dense_bytes(m), file_bytes ? (double)sh_shm_dense_bytes(m) / file_bytes : 0.0);
    printf("payload sha256 %s: OK\n", meta.sha256);
    sh_shm_meta_free(&meta);
    sh_model_destroy(&m);
    return 0;
}

int cmd_infer(int argc, char **argv)
{
    static const char usage[] =
        "usage: shears infer MODEL.shm --data DIR|URL [--dataset NAME] [--sha256 HEX]\n"
        "                    [--batch N] [--threads N] [--export FILE]\n\n"
        "Runs a compressed model on a dataset's test split with the sparse kernels and\n"
        "prints accuracy, loss and throughput. --export writes one line per image:\n"
        "index,label,prediction. NAME defaults to fashion-mnist for 1-channel models\n"
        "and cifar10 for 3-channel ones; a URL needs --sha256 (shears dataset-hash).\n";
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'D'},   {"dataset", required_argument, NULL, 'd'},
        {"sha256", required_argument, NULL, 's'}, {"batch", required_argument, NULL, 'b'},
        {"threads", required_argument, NULL, 't'}, {"export", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *data = NULL, *dataset = NULL, *sha = NULL, *export_path = NULL;
    int batch = 256, threads = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'D': data = optarg; break;
        case 'd': dataset = optarg; break;
        case 's': sha = optarg; break;
        case 'b':
            batch = atoi(optarg);
            if (batch < 1 || batch > 65536) {
                fprintf(stderr, "shears infer: --batch must be from 1 to 65536\n");
                return EXIT_USAGE;
            }
            break;
        case 't': threads = atoi(optarg); break;
        case 'e': export_path = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (argc - optind != 1 || !data) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (threads > 0)
        omp_set_num_threads(threads);
    sh_model_t *m;
    sh_shm_meta_t meta;
    sh_err_t err;
    if (sh_shm_load(&m, &meta, argv[optind], &err) != SH_OK) {
        fprintf(stderr, "shears infer: %s\n", err.msg);
        return EXIT_USAGE;
    }
    if (!dataset)
        dataset = m->in_c == 3 ? "cifar10" : "fashion-mnist";
    int is_url = strstr(data, "://") != NULL;
    char dir[4200], cache[4200];
    const char *home = getenv("HOME");
    snprintf(cache, sizeof cache, "%s/.cache/shears", home && *home ? home : "/var/tmp");
    sh_dataset_t train, test;
    sh_status_t st = sh_fetch_dataset_dir(cache, dataset, is_url ? NULL : data,
                                          is_url ? data : NULL, sha, dir, sizeof dir, &err);
    if (st == SH_OK)
        st = sh_dataset_load_dir(dataset, dir, &train, &test, &err);
    if (st != SH_OK) {
        fprintf(stderr, "shears infer: %s\n", err.msg);
        sh_model_destroy(&m);
        sh_shm_meta_free(&meta);
        return EXIT_USAGE;
    }
    sh_dataset_free(&train);
    if (test.c != m->in_c || test.h != m->in_h || test.w != m->in_w) {
        fprintf(stderr, "shears infer: the model takes %dx%dx%d inputs, %s has %dx%dx%d\n",
                m->in_c, m->in_h, m->in_w, dataset, test.c, test.h, test.w);
        sh_dataset_free(&test);
        sh_model_destroy(&m);
        sh_shm_meta_free(&meta);
        return EXIT_USAGE;
    }
    if (sh_model_reserve(m, batch) != SH_OK) {
        fprintf(stderr, "shears infer: cannot allocate for batch %d\n", batch);
        return EXIT_USAGE;
    }
    const size_t sample = (size_t)test.c * test.h * test.w;
    float *x = sh_xaligned(sizeof(float) * sample * (size_t)batch);
    int32_t *y = sh_xmalloc(sizeof(int32_t) * (size_t)batch), *idx = sh_xmalloc(sizeof(int32_t) * (size_t)batch);
    FILE *ex = export_path ? fopen(export_path, "w") : NULL;
    if (export_path && !ex) {
        fprintf(stderr, "shears infer: cannot write %s\n", export_path);
        return EXIT_USAGE;
    }
    if (ex)
        fprintf(ex, "index,label,prediction\n");
    double loss = 0, compute = 0;
    long correct = 0;
    for (int32_t start = 0; start < test.n; start += batch) {
        int nb = (int)SH_MIN((int32_t)batch, test.n - start);
        for (int i = 0; i < nb; i++)
            idx[i] = start + i;
        sh_batch_fill(&test, idx, nb, &meta.norm, SH_AUG_NONE, 0, 0, x, y);
        double t0 = sh_now();
        const float *logits = sh_model_forward(m, x, nb, 0);
        compute += sh_now() - t0;
        int ok = 0;
        loss += (double)sh_model_loss(m, y, nb, 0, &ok) * nb;
        correct += ok;
        for (int i = 0; ex && i < nb; i++) {
            int best = 0;
            for (int k = 1; k < m->n_classes; k++)
                if (logits[(size_t)i * m->n_classes + k] > logits[(size_t)i * m->n_classes + best])
                    best = k;
            fprintf(ex, "%d,%d,%d\n", start + i, y[i], best);
        }
    }
    printf("%s on %s test (%d images): accuracy %.2f%%, loss %.4f\n", argv[optind], dataset,
           test.n, 100.0 * (double)correct / test.n, loss / test.n);
    printf("throughput %.0f images/s at batch %d (%d sparse layer%s, %d thread%s)\n",
           test.n / compute, batch, sh_model_sparse_layers(m),
           sh_model_sparse_layers(m) == 1 ? "" : "s", omp_get_max_threads(),
           omp_get_max_threads() == 1 ? "" : "s");
    if (ex) {
        fclose(ex);
        printf("predictions written to %s\n", export_path);
    }
    free(x);
    free(y);
    free(idx);
    sh_dataset_free(&test);
    sh_model_destroy(&m);
    sh_shm_meta_free(&meta);
    return 0;
}
