/* sh_exec.c - one job: set up the model, prune, retrain, evaluate, save. */
#include "sh_exec.h"

#include "sh_ckpt.h"
#include "sh_shm.h"
#include "sh_file.h"
#include "sh_train.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const sh_exec_t *x;
    sh_model_t *m;
    char *hparams;
    int first_epoch, n_epochs;
    double last_loss;
    sh_err_t *err;
} run_t;

/* Writes the model as out_dir/file. */
static sh_status_t save(run_t *r, const char *file, int epoch)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", r->x->out_dir, file);
    sh_ckpt_meta_t meta = {.seed = r->x->spec->seed, .epoch = epoch,
                           .opt = r->x->spec->train.opt.kind, .hparams = r->hparams,
                           .has_norm = 1, .norm = r->x->data->norm};
    return sh_ckpt_save(r->m, &meta, path, r->err);
}

static int on_epoch(void *user, int epochs_done, const sh_epoch_stats_t *st)
{
    run_t *r = user;
    (void)epochs_done;
    r->last_loss = st->loss;
    return 0;
}

static void on_batch(void *user, int epoch, long batch, long n_batches, float loss, float lr)
{
    run_t *r = user;
    (void)lr;
    if (!r->x->progress)
        return;
    sh_progress_t p = {.phase = "train", .epoch = epoch - r->first_epoch + 1,
                       .epochs = r->n_epochs, .batch = batch + 1, .batches = n_batches,
                       .loss = loss};
    r->x->progress(r->x->user, &p);
}

/* Loads a checkpoint and checks it was made for this job's model and data. */
static sh_status_t load_checked(sh_model_t **m, const char *path, const sh_jobspec_t *s,
                                const sh_dataset_t *d, sh_err_t *err)
{
    sh_ckpt_meta_t meta;
    sh_status_t st = sh_ckpt_load(m, &meta, path, err);
    sh_ckpt_meta_clear(&meta);
    if (st != SH_OK)
        return st;
    if (strcmp((*m)->arch, s->model) || (*m)->in_c != d->c || (*m)->in_h != d->h ||
        (*m)->in_w != d->w || (*m)->n_classes != d->n_classes) {
        sh_model_destroy(m);
        return sh_fail(err, SH_EFORMAT, "%s: checkpoint is for a different model or input", path);
    }
    return SH_OK;
}

/* Builds the pruning plan of a prune job for model m. */
static sh_status_t prune_for(sh_model_t *m, const sh_jobspec_t *s, sh_err_t *err)
{
    double *td = sh_xmalloc(sizeof(double) * (size_t)m->n_tensors);
    for (int t = 0; t < m->n_tensors; t++)
        td[t] = -1.0;
    sh_status_t st = SH_OK;
    for (int i = 0; i < s->n_layers && st == SH_OK; i++) {
        int t = sh_model_find_tensor(m, s->layers[i].layer);
        if (t < 0 || !m->tensors[t].prunable)
            st = sh_fail(err, SH_EARG, "model %s has no prunable layer '%s'", m->arch,
                         s->layers[i].layer);
        else
            td[t] = s->layers[i].density;
    }
    for (int i = 0; i < s->n_ignore && st == SH_OK; i++) {
        int t = sh_model_find_tensor(m, s->ignore[i]);
        if (t < 0 || !m->tensors[t].prunable)
            st = sh_fail(err, SH_EARG, "model %s has no prunable layer '%s'", m->arch,
                         s->ignore[i]);
        else
            td[t] = 1.0;
    }
    if (st == SH_OK) {
        sh_prune_plan_t plan = {.method = s->method, .scope = s->scope, .density = s->density,
                                .tensor_density = td, .seed = s->seed,
                                .round = (uint64_t)s->round};
        st = sh_prune(m, &plan, err);
    }
    free(td);
    return st;
}

/* Weight rewinding: parameters and batchnorm statistics from the rewind
 * checkpoint, under the mask just computed. */
static sh_status_t rewind_weights(sh_model_t *m, const sh_exec_t *x, const sh_dataset_t *d,
                                  sh_err_t *err)
{
    if (!x->source_ckpt)
        return sh_fail(err, SH_EARG, "weight-rewind needs the rewind point's checkpoint "
                       "(epoch %d of the dense run)", x->spec->rewind_epoch);
    sh_model_t *src;
    sh_status_t st = load_checked(&src, x->source_ckpt, x->spec, d, err);
    if (st != SH_OK)
        return st;
    memcpy(m->params, src->params, sizeof(float) * m->n_params);
    memcpy(m->buffers, src->buffers, sizeof(float) * m->n_buffers);
    sh_model_destroy(&src);
    return SH_OK;
}

/* Writes model.shm (int8 values) next to the checkpoint and measures what
 * the compression costs: its size against dense fp32, and the test accuracy
 * of the model as decoded from the file. */
static sh_status_t emit_model(run_t *r, sh_job_result_t *res, sh_err_t *err)
{
    sh_shm_meta_t meta = {.norm = r->x->data->norm, .test_accuracy = res->test_accuracy};
    sh_jobspec_id(r->x->spec, meta.job);
    char *bytes;
    size_t len;
    sh_status_t st = sh_shm_encode(r->m, &meta, SH_VAL_INT8, &bytes, &len, err);
    if (st != SH_OK)
        return st;
    sh_model_t *q;
    sh_shm_meta_t qmeta;
    st = sh_shm_decode(&q, &qmeta, bytes, len, err);
    if (st == SH_OK) {
        double loss;
        st = sh_evaluate(q, &r->x->data->test, &r->x->data->norm, 1000, &loss,
                         &res->model_accuracy, err);
        sh_shm_meta_free(&qmeta);
        sh_model_destroy(&q);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", r->x->out_dir, SH_MODEL_FILE);
    if (st == SH_OK)
        st = sh_file_write_atomic(path, bytes, len, err);
    res->model_bytes = len;
    res->compression = (double)sh_shm_dense_bytes(r->m) / (double)len;
    free(bytes);
    return st;
}

sh_status_t sh_exec_job(const sh_exec_t *x, sh_job_result_t *res, sh_err_t *err)
{
    const sh_jobspec_t *s = x->spec;
    const sh_data_bundle_t *data = x->data;
    const double t0 = sh_now();
    memset(res, 0, sizeof *res);
    if (x->threads > 0)
        omp_set_num_threads(x->threads);
    run_t r = {.x = x, .err = err};
    r.hparams = sh_jobspec_to_json(s);
    if (!r.hparams)
        return sh_fail(err, SH_ENOMEM, "out of memory");
    sh_status_t st = SH_OK;
    int begin, end;
    sh_jobspec_epochs(s, &begin, &end);
    if (s->kind == SH_JOB_TRAIN) {
        st = sh_model_new(&r.m, s->model, data->train.c, data->train.h, data->train.w,
                          data->train.n_classes, err);
        if (st == SH_OK)
            sh_model_init(r.m, s->seed, 0);
    } else {
        if (!x->parent_ckpt)
            st = sh_fail(err, SH_EARG, "prune job without a parent checkpoint");
        else
            st = load_checked(&r.m, x->parent_ckpt, s, &data->train, err);
        if (st == SH_OK)
            st = prune_for(r.m, s, err);
        if (st == SH_OK && s->technique == SH_TECH_WEIGHT_REWIND)
            st = rewind_weights(r.m, x, &data->train, err);
        if (st == SH_OK && s->technique == SH_TECH_REINIT) {
            sh_model_init(r.m, s->seed, 1 + (uint64_t)s->round);
        }
        if (st == SH_OK) {
            sh_model_apply_mask(r.m);
            sh_optim_reset(r.m);
        }
    }
    if (st == SH_OK) {
        sh_train_cfg_t cfg = {
            .data = &data->train, .norm = &data->norm, .augment = s->train.augment,
            .batch = s->train.batch, .opt = s->train.opt, .sched = s->train.sched,
            .seed = s->seed, .epoch_begin = begin, .epoch_end = end,
            .on_epoch = on_epoch, .on_batch = on_batch, .cancel = x->cancel, .user = &r,
        };
        if (s->kind == SH_JOB_PRUNE && s->technique == SH_TECH_FINETUNE)
            cfg.sched = (sh_sched_t){.kind = SH_SCHED_CONSTANT, .lr = s->tech_lr};
        r.first_epoch = begin;
        r.n_epochs = end - begin;
        st = sh_train(r.m, &cfg, err);
        res->epochs = end - begin;
        res->train_loss = r.last_loss;
    }
    if (st == SH_OK) {
        if (x->progress) {
            sh_progress_t p = {.phase = "evaluate", .epoch = r.n_epochs, .epochs = r.n_epochs,
                               .batch = 1, .batches = 1, .loss = (float)r.last_loss};
            x->progress(x->user, &p);
        }
        st = sh_evaluate(r.m, &data->test, &data->norm, 1000, &res->test_loss,
                         &res->test_accuracy, err);
        res->val_accuracy = res->val_loss = NAN;
        if (st == SH_OK && data->val.n > 0)
            st = sh_evaluate(r.m, &data->val, &data->norm, 1000, &res->val_loss,
                             &res->val_accuracy, err);
    }
    if (st == SH_OK) {
        res->alive = (long)sh_model_alive(r.m);
        res->prunable = (long)r.m->n_prunable;
        res->density = sh_model_density(r.m);
        st = save(&r, SH_FINAL_CKPT, end);
    }
    res->compression = res->model_accuracy = NAN;
    if (st == SH_OK && s->kind == SH_JOB_PRUNE)
        st = emit_model(&r, res, err);
    res->seconds = sh_now() - t0;
    sh_model_destroy(&r.m);
    free(r.hparams);
    return st;
}
