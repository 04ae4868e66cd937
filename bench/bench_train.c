/* bench_train.c - epoch time of the training core on Fashion-MNIST, and
 * achieved GFLOP/s of its conv and linear layers against OpenBLAS sgemm
 * peak measured in the same process.
 *
 *   bench_train epoch MODEL THREADS EPOCHS   -> "epoch_seconds <best>"
 *   bench_train layers THREADS               -> per-layer GFLOP/s table
 *
 * The epoch run trains exactly as `shears run` does (batch 128, SGD with
 * momentum 0.9, weight decay 1e-4, data shuffled and normalized per batch). */
#include "sh_data.h"
#include "sh_layers.h"
#include "sh_model.h"
#include "sh_prune.h"
#include "sh_ckpt.h"
#include "sh_shm.h"
#include <math.h>
#include "sh_rng.h"
#include "sh_train.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double best_epoch = 1e30;

static int on_epoch(void *user, int epochs_done, const sh_epoch_stats_t *st)
{
    (void)user;
    fprintf(stderr, "  epoch %d: %.3f s (loss %.4f)\n", epochs_done, st->seconds, st->loss);
    if (st->seconds < best_epoch)
        best_epoch = st->seconds;
    return 0;
}

static int bench_epoch(const char *arch, int threads, int epochs)
{
    const char *dir = getenv("SHEARS_FMNIST");
    sh_dataset_t train, test;
    sh_err_t err;
    if (sh_dataset_load_dir("fashion-mnist", dir ? dir : "/usr/share/datasets/fashion-mnist",
                            &train, &test, &err) != SH_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    sh_norm_t norm;
    sh_norm_compute(&norm, &train);
    omp_set_num_threads(threads);
    sh_model_t *m;
    if (sh_model_new(&m, arch, 1, 28, 28, 10, &err) != SH_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    sh_model_init(m, 1, 0);
    sh_train_cfg_t cfg = {
        .data = &train, .norm = &norm, .batch = 128,
        .opt = {.kind = SH_OPT_SGD, .momentum = 0.9f, .weight_decay = 1e-4f},
        .sched = {.kind = SH_SCHED_CONSTANT, .lr = arch[0] == 'l' ? 0.1 : 0.01},
        .seed = 1, .epoch_begin = 0, .epoch_end = epochs, .on_epoch = on_epoch,
    };
    if (sh_train(m, &cfg, &err) != SH_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("epoch_seconds %.4f\n", best_epoch);
    sh_model_destroy(&m);
    sh_dataset_free(&train);
    sh_dataset_free(&test);
    return 0;
}

static float *filled(size_t n)
{
    float *p = malloc(sizeof(float) * n);
    sh_rng_t rng;
    sh_rng_seed(&rng, 1, n);
    for (size_t i = 0; i < n; i++)
        p[i] = sh_rng_uniform(&rng) - 0.5f;
    return p;
}

/* Best time of `reps` calls of fn, after one warm-up call. */
#define TIME_BEST(reps, stmt)                      \
    ({                                             \
        stmt;                                      \
        double best_ = 1e30;                       \
        for (int r_ = 0; r_ < (reps); r_++) {      \
            double t0_ = sh_now();                 \
            stmt;                                  \
            double dt_ = sh_now() - t0_;           \
            best_ = dt_ < best_ ? dt_ : best_;     \
        }                                          \
        best_;                                     \
    })

static int bench_layers(int threads)
{
    omp_set_num_threads(threads);
    /* Peak: a large square sgemm. */
    const int N = 1536;
    float *a = filled((size_t)N * N), *b = filled((size_t)N * N), *c = filled((size_t)N * N);
    double t = TIME_BEST(3, cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f,
                                        a, N, b, N, 0.0f, c, N));
    double peak = 2.0 * N * N * N / t / 1e9;
    printf("sgemm_peak %d threads %.1f GFLOP/s\n", threads, peak);
    free(a), free(b), free(c);

    /* Layers at training shapes, batch 128: forward + backward. */
    static const struct {
        const char *name;
        int conv, C, H, OC, K, pad;
    } layers[] = {
        {"lenet300.fc1 784->300", 0, 784, 1, 300, 0, 0},
        {"lenet300.fc2 300->100", 0, 300, 1, 100, 0, 0},
        {"conv2.conv1 1->64 3x3 28x28", 1, 1, 28, 64, 3, 1},
        {"conv2.conv2 64->64 3x3 28x28", 1, 64, 28, 64, 3, 1},
        {"conv2.fc1 12544->256", 0, 12544, 1, 256, 0, 0},
        {"lenet5.conv2 6->16 5x5 14x14", 1, 6, 14, 16, 5, 0},
    };
    const int B = 128;
    printf("%-30s %10s %10s %8s\n", "layer (batch 128)", "fwd GF/s", "bwd GF/s", "of peak");
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        double fwd, bwd, flops;
        if (!layers[i].conv) {
            int C = layers[i].C, OC = layers[i].OC;
            float *in = filled((size_t)B * C), *w = filled((size_t)OC * C), *bias = filled(OC);
            float *out = filled((size_t)B * OC), *din = filled((size_t)B * C);
            float *dw = filled((size_t)OC * C), *db = filled(OC);
            flops = 2.0 * B * C * OC;
            fwd = TIME_BEST(20, sh_linear_forward(out, in, w, bias, B, C, OC));
            bwd = TIME_BEST(20, sh_linear_backward(din, dw, db, out, in, w, B, C, OC));
            free(in), free(w), free(bias), free(out), free(din), free(dw), free(db);
        } else {
            sh_conv_shape_t s;
            sh_conv_shape_init(&s, layers[i].C, layers[i].H, layers[i].H, layers[i].OC,
                               layers[i].K, 1, layers[i].pad);
            size_t n_in = (size_t)B * s.C * s.H * s.W, n_out = (size_t)B * s.OC * s.OH * s.OW;
            size_t n_w = (size_t)s.OC * s.C * s.K * s.K;
            float *in = filled(n_in), *w = filled(n_w), *bias = filled(s.OC), *out = filled(n_out);
            float *din = filled(n_in), *dw = filled(n_w), *db = filled(s.OC);
            float *scratch = filled(sh_conv_scratch_floats(&s, threads));
            flops = 2.0 * B * s.OC * s.OH * s.OW * s.C * s.K * s.K;
            fwd = TIME_BEST(5, sh_conv2d_forward(out, in, w, bias, B, &s, scratch, threads));
            bwd = TIME_BEST(5, sh_conv2d_backward(din, dw, db, out, in, w, B, &s, scratch,
                                                  threads));
            free(in), free(w), free(bias), free(out), free(din), free(dw), free(db), free(scratch);
        }
        double gf_f = flops / fwd / 1e9, gf_b = 2 * flops / bwd / 1e9;
        printf("%-30s %10.1f %10.1f %7.0f%%\n", layers[i].name, gf_f, gf_b,
               100.0 * (gf_f + gf_b) / 2 / peak);
    }
    return 0;
}

/* Epoch time at several densities, dense kernels against sparse ones, in
 * one process (same data, same model, same thread count). */
static int bench_sparse(const char *arch, int threads, int steps)
{
    const char *dir = getenv("SHEARS_FMNIST");
    sh_dataset_t train, test;
    sh_err_t err;
    if (sh_dataset_load_dir("fashion-mnist", dir ? dir : "/usr/share/datasets/fashion-mnist",
                            &train, &test, &err) != SH_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    sh_norm_t norm;
    sh_norm_compute(&norm, &train);
    omp_set_num_threads(threads);
    static const double all[] = {1.0, 0.5, 0.35, 0.2, 0.1, 0.05, 0.02};
    const char *only = getenv("SHEARS_BENCH_DENSITY");
    double one[1] = {only ? atof(only) : 0};
    const double *densities = only ? one : all;
    const size_t n_densities = only ? 1 : sizeof all / sizeof all[0];
    printf("%-14s %8s %12s %12s %8s\n", "model", "density", "dense ms/step", "sparse ms/step",
           "ratio");
    for (size_t k = 0; k < n_densities; k++) {
        double ms[2];
        for (int sparse = 0; sparse < 2; sparse++) {
            sh_model_t *m;
            sh_model_new(&m, arch, 1, 28, 28, 10, &err);
            sh_model_init(m, 1, 0);
            sh_prune_plan_t plan = {.method = SH_PRUNE_MAGNITUDE, .scope = SH_SCOPE_GLOBAL,
                                    .density = densities[k]};
            sh_prune(m, &plan, &err);
            sh_model_set_sparse(m, sparse ? 1.01 : 0.0);
            sh_model_reserve(m, 128);
            float *x = sh_xaligned(sizeof(float) * 128 * 784);
            int32_t y[128], idx[128];
            for (int i = 0; i < 128; i++)
                idx[i] = i;
            sh_batch_fill(&train, idx, 128, &norm, 0, 0, 0, x, y);
            sh_optim_t opt = {.kind = SH_OPT_SGD, .momentum = 0.9f};
            double best = 1e30;
            for (int rep = 0; rep < 3; rep++) {
                double t0 = sh_now();
                for (int st = 0; st < steps; st++) {
                    sh_model_forward(m, x, 128, 1);
                    sh_model_zero_grad(m);
                    sh_model_loss(m, y, 128, 1, NULL);
                    sh_model_backward(m, 128);
                    sh_optim_step(&opt, m, 0.01f);
                }
                double dt = (sh_now() - t0) / steps;
                best = dt < best ? dt : best;
            }
            ms[sparse] = 1000 * best;
            free(x);
            sh_model_destroy(&m);
        }
        printf("%-14s %7.0f%% %12.3f %12.3f %8.2f\n", arch, 100 * densities[k], ms[0], ms[1],
               ms[1] / ms[0]);
    }
    sh_dataset_free(&train);
    sh_dataset_free(&test);
    return 0;
}

/* Inference latency (evaluation mode, one thread): dense kernels against
 * sparse ones at several densities, batch 1 and batch 64. */
static int bench_infer(const char *arch)
{
    static const double densities[] = {1.0, 0.5, 0.2, 0.1, 0.05, 0.02};
    static const int batches[] = {1, 64};
    omp_set_num_threads(1);
    sh_err_t err;
    printf("%-14s %6s %8s %14s %14s %8s\n", "model", "batch", "density", "dense us",
           "sparse us", "ratio");
    for (int bi = 0; bi < 2; bi++)
        for (size_t k = 0; k < sizeof densities / sizeof densities[0]; k++) {
            const int B = batches[bi];
            double us[2];
            for (int sparse = 0; sparse < 2; sparse++) {
                sh_model_t *m;
                sh_model_new(&m, arch, 1, 28, 28, 10, &err);
                sh_model_init(m, 1, 0);
                sh_prune_plan_t plan = {.method = SH_PRUNE_MAGNITUDE, .scope = SH_SCOPE_GLOBAL,
                                        .density = densities[k]};
                sh_prune(m, &plan, &err);
                sh_model_set_sparse(m, sparse ? 1.01 : 0.0);
                sh_model_reserve(m, B);
                float *x = filled((size_t)B * 784);
                int reps = B == 1 ? 2000 : 100;
                double best = 1e30;
                for (int round = 0; round < 5; round++) {
                    double t0 = sh_now();
                    for (int r = 0; r < reps; r++)
                        sh_model_forward(m, x, B, 0);
                    double dt = (sh_now() - t0) / reps;
                    best = dt < best ? dt : best;
                }
                us[sparse] = 1e6 * best;
                free(x);
                sh_model_destroy(&m);
            }
            printf("%-14s %6d %7.0f%% %14.2f %14.2f %8.2f\n", arch, B, 100 * densities[k], us[0],
                   us[1], us[1] / us[0]);
        }
    return 0;
}

/* File sizes of one trained LeNet-300-100 pruned (one-shot) to several
 * densities: dense fp32, classic CSR fp32 (32-bit column indices and row
 * pointers), and the .shm writer's best encoding with fp16 and int8 values. */
static int bench_sizes(void)
{
    const char *dir = getenv("SHEARS_FMNIST");
    sh_dataset_t train, test;
    sh_err_t err;
    if (sh_dataset_load_dir("fashion-mnist", dir ? dir : "/usr/share/datasets/fashion-mnist",
                            &train, &test, &err) != SH_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    sh_norm_t norm;
    sh_norm_compute(&norm, &train);
    sh_model_t *dense;
    sh_model_new(&dense, "lenet_300_100", 1, 28, 28, 10, &err);
    sh_model_init(dense, 1, 0);
    sh_train_cfg_t cfg = {
        .data = &train, .norm = &norm, .batch = 128,
        .opt = {.kind = SH_OPT_SGD, .momentum = 0.9f, .weight_decay = 1e-4f},
        .sched = {.kind = SH_SCHED_CONSTANT, .lr = 0.1}, .seed = 1, .epoch_begin = 0,
        .epoch_end = 3,
    };
    sh_train(dense, &cfg, &err);
    static const double densities[] = {1.0, 0.5, 0.2, 0.1, 0.05, 0.02};
    printf("| density | dense fp32 | CSR fp32 | best fp16 | best int8 | int8 vs dense fp32 |\n");
    printf("|---:|---:|---:|---:|---:|---:|\n");
    for (size_t k = 0; k < sizeof densities / sizeof densities[0]; k++) {
        sh_ckpt_meta_t cm;
        char *ck;
        size_t ck_len;
        sh_ckpt_meta_t meta = {.seed = 1};
        sh_ckpt_encode(dense, &meta, &ck, &ck_len, &err);
        sh_model_t *m;
        sh_ckpt_decode(&m, &cm, ck, ck_len, &err);
        free(ck);
        sh_ckpt_meta_clear(&cm);
        sh_prune_plan_t plan = {.method = SH_PRUNE_MAGNITUDE, .scope = SH_SCOPE_GLOBAL,
                                .density = densities[k]};
        sh_prune(m, &plan, &err);
        size_t csr = 0;
        for (int t = 0; t < m->n_tensors; t++) {
            const sh_tensor_t *tt = &m->tensors[t];
            size_t alive = sh_tensor_alive(m, t);
            csr += tt->prunable ? alive * 8 + ((size_t)tt->shape[0] + 1) * 4 : tt->numel * 4;
        }
        size_t sizes[2];
        for (int v = 0; v < 2; v++) {
            sh_shm_meta_t sm = {.norm = norm, .test_accuracy = NAN};
            char *data;
            size_t len;
            sh_shm_encode(m, &sm, v ? SH_VAL_INT8 : SH_VAL_FP16, &data, &len, &err);
            free(data);
            sizes[v] = len;
        }
        size_t d = sh_shm_dense_bytes(m);
        printf("| %.0f%% | %zu | %zu | %zu | %zu | %.1fx |\n", 100 * densities[k], d, csr,
               sizes[0], sizes[1], (double)d / (double)sizes[1]);
        sh_model_destroy(&m);
    }
    sh_model_destroy(&dense);
    sh_dataset_free(&train);
    sh_dataset_free(&test);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "infer"))
        return bench_infer(argv[2]);
    if (argc == 2 && !strcmp(argv[1], "sizes"))
        return bench_sizes();
    if (argc == 5 && !strcmp(argv[1], "sparse"))
        return bench_sparse(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc == 5 && !strcmp(argv[1], "epoch"))
        return bench_epoch(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc == 3 && !strcmp(argv[1], "layers"))
        return bench_layers(atoi(argv[2]));
    fprintf(stderr, "usage: bench_train epoch MODEL THREADS EPOCHS | layers THREADS |"
                    " sparse MODEL THREADS STEPS | infer MODEL | sizes\n");
    return 2;
}
