/* sh_exec.h - runs one job on the training core.
 *
 * Inputs are the job spec, the dataset bundle and the checkpoints it starts
 * from (by path); outputs are checkpoints in out_dir and a result. The same
 * function runs jobs for `shears run` and for a distributed worker, so both
 * paths give the same bits for the same spec, seed and thread count.
 *
 *   train:          init(seed) -> train [0, until) -> final.ckpt (until < T is
 *                   a rewind point: the dense run's state at that epoch)
 *   prune (round r): load parent final.ckpt -> prune to the round's density ->
 *     finetune       train at the fixed LR for t epochs
 *     lr-rewind      train [T - t, T) of the dense schedule
 *     random-prune   random mask at the density, then as lr-rewind
 *     weight-rewind  weights and batchnorm statistics from the dense run's
 *                    epoch-k checkpoint under the new mask, train [k, T)
 *     reinit         fresh random weights under the new mask, train [0, T)
 *   Retraining always starts with fresh optimizer state. */
#ifndef SH_EXEC_H
#define SH_EXEC_H

#include "sh_datasets.h"
#include "sh_job.h"

typedef struct {
    const char *phase;  /* "train", "evaluate" */
    int epoch;          /* 1-based, within this job */
    int epochs;
    long batch;
    long batches;
    float loss;
} sh_progress_t;

typedef struct {
    const sh_jobspec_t *spec;
    const sh_data_bundle_t *data;
    const char *parent_ckpt;   /* prune: the parent's final.ckpt */
    const char *source_ckpt;   /* weight-rewind: the rewind point's final.ckpt */
    const char *out_dir;       /* must exist */
    int threads;               /* OpenMP threads for this job */
    void (*progress)(void *user, const sh_progress_t *p);
    const volatile int *cancel;
    void *user;
} sh_exec_t;

/* Runs the job. Returns SH_OK with *res filled and final.ckpt written;
 * otherwise a status with a message (bad or mismatched checkpoint, divergence,
 * cancellation, I/O). A failed job leaves no final.ckpt behind. */
sh_status_t sh_exec_job(const sh_exec_t *x, sh_job_result_t *res, sh_err_t *err);

/* What a job leaves in its directory: its checkpoint and, for prune jobs,
 * its compressed model (int8 values). */
#define SH_FINAL_CKPT "final.ckpt"
#define SH_MODEL_FILE "model.shm"

#endif
