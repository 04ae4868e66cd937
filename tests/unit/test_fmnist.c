/* test_fmnist.c - real data: LeNet-300-100 on Fashion-MNIST for a few epochs
 * must reach 85% test accuracy. Needs dataset-fashion-mnist; the directory
 * comes from SHEARS_FMNIST (set by ctest). */
#include "sh_test.h"

#include "sh_data.h"
#include "sh_model.h"
#include "sh_train.h"

#include <stdlib.h>

static int print_epoch(void *user, int epochs_done, const sh_epoch_stats_t *st)
{
    (void)user;
    fprintf(stderr, "  epoch %d: train loss %.4f acc %.4f (%.2f s)\n", epochs_done, st->loss,
            st->accuracy, st->seconds);
    return 0;
}

SH_TEST(fmnist_lenet_reaches_85)
{
    const char *dir = getenv("SHEARS_FMNIST");
    CHECK_MSG(dir != NULL, "SHEARS_FMNIST is not set");
    sh_dataset_t train, test;
    sh_err_t err;
    CHECK_MSG(sh_dataset_load_dir("fashion-mnist", dir, &train, &test, &err) == SH_OK, "%s",
              err.msg);
    sh_norm_t norm;
    sh_norm_compute(&norm, &train);
    sh_model_t *m;
    CHECK(sh_model_new(&m, "lenet_300_100", 1, 28, 28, 10, &err) == SH_OK);
    sh_model_init(m, 1, 0);
    sh_train_cfg_t cfg = {
        .data = &train, .norm = &norm, .batch = 128,
        .opt = {.kind = SH_OPT_SGD, .momentum = 0.9f, .weight_decay = 1e-4f},
        .sched = {.kind = SH_SCHED_MULTISTEP, .lr = 0.1, .gamma = 0.1, .milestones = {2},
                  .n_milestones = 1},
        .seed = 1, .epoch_begin = 0, .epoch_end = 3, .on_epoch = print_epoch,
    };
    CHECK_MSG(sh_train(m, &cfg, &err) == SH_OK, "%s", err.msg);
    double loss, acc;
    CHECK(sh_evaluate(m, &test, &norm, 1000, &loss, &acc, &err) == SH_OK);
    fprintf(stderr, "  test accuracy %.4f, loss %.4f\n", acc, loss);
    CHECK(acc >= 0.85);
    sh_model_destroy(&m);
    sh_dataset_free(&train);
    sh_dataset_free(&test);
    return 0;
}
