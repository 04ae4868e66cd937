/* sh_train.h - the training loop and evaluation.
 *
 * sh_train runs schedule epochs [epoch_begin, epoch_end) of a run whose
 * learning rate is sched(step); the model's step counter says where in the
 * schedule it is. Dense training runs [0, T); learning-rate rewinding runs
 * [T - t, T) from the pruned final weights; weight rewinding runs [k, T) from
 * the epoch-k weights. Epoch e always visits the data in the order
 * sh_permutation(seed, SH_STREAM(SH_STREAM_SHUFFLE, e)). */
#ifndef SH_TRAIN_H
#define SH_TRAIN_H

#include "sh_data.h"
#include "sh_model.h"
#include "sh_optim.h"

typedef struct {
    double loss;      /* mean training loss over the epoch */
    double accuracy;  /* training accuracy over the epoch (augmented data) */
    double seconds;
} sh_epoch_stats_t;

typedef struct {
    const sh_dataset_t *data;
    const sh_norm_t *norm;
    int augment;             /* SH_AUG_* flags */
    int batch;
    sh_optim_t opt;
    sh_sched_t sched;
    uint64_t seed;
    int epoch_begin, epoch_end;
    /* Called after each epoch with the number of schedule epochs completed;
     * a non-zero return stops training with SH_ECANCELED (e.g. the callback
     * failed to save a checkpoint and set its own error). */
    int (*on_epoch)(void *user, int epochs_done, const sh_epoch_stats_t *stats);
    /* Called after each batch with the learning rate it used (rate-limit
     * any output in the callback). */
    void (*on_batch)(void *user, int epoch, long batch, long n_batches, float loss,
                     float lr);
    /* Checked before every batch; non-zero stops with SH_ECANCELED. */
    const volatile int *cancel;
    void *user;
} sh_train_cfg_t;

long sh_steps_per_epoch(long n_samples, int batch);

/* Trains in place. Returns SH_OK, SH_ECANCELED, SH_ENUMERIC when the loss
 * becomes non-finite (message names epoch and step), or SH_ENOMEM. */
sh_status_t sh_train(sh_model_t *m, const sh_train_cfg_t *cfg, sh_err_t *err);

/* Mean loss and accuracy on d in evaluation mode. */
sh_status_t sh_evaluate(sh_model_t *m, const sh_dataset_t *d, const sh_norm_t *norm,
                        int batch, double *loss, double *accuracy, sh_err_t *err);

#endif
