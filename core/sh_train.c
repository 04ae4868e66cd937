/* sh_train.c - minibatch SGD over a dataset with a replayable schedule. */
#include "sh_train.h"

#include "sh_rng.h"

#include <math.h>
#include <stdlib.h>

long sh_steps_per_epoch(long n_samples, int batch)
{
    return (n_samples + batch - 1) / batch;
}

sh_status_t sh_train(sh_model_t *m, const sh_train_cfg_t *cfg, sh_err_t *err)
{
    const sh_dataset_t *d = cfg->data;
    const int B = cfg->batch;
    if (B < 1 || d->n < 1)
        return sh_fail(err, SH_EARG, "empty dataset or batch");
    const long spe = sh_steps_per_epoch(d->n, B);
    if (sh_model_reserve(m, B) != SH_OK)
        return sh_fail(err, SH_ENOMEM, "cannot allocate activations for batch %d", B);
    const size_t sample = (size_t)d->c * d->h * d->w;
    float *x = sh_xaligned(sizeof(float) * sample * (size_t)B);
    int32_t *y = sh_xmalloc(sizeof(int32_t) * (size_t)B);
    int32_t *perm = sh_xmalloc(sizeof(int32_t) * (size_t)d->n);
    sh_status_t st = SH_OK;

    m->step = (long)cfg->epoch_begin * spe;
    for (int epoch = cfg->epoch_begin; epoch < cfg->epoch_end && st == SH_OK; epoch++) {
        double t0 = sh_now(), loss_sum = 0.0;
        long correct = 0;
        sh_permutation(perm, d->n, cfg->seed, SH_STREAM(SH_STREAM_SHUFFLE, epoch));
        for (long bi = 0; bi < spe; bi++) {
            if (cfg->cancel && *cfg->cancel) {
                st = sh_fail(err, SH_ECANCELED, "canceled at epoch %d", epoch + 1);
                break;
            }
            int nb = (int)SH_MIN((long)B, d->n - bi * B);
            sh_batch_fill(d, perm + bi * B, nb, cfg->norm, cfg->augment, cfg->seed,
                          (uint64_t)m->step, x, y);
            sh_model_forward(m, x, nb, 1);
            sh_model_zero_grad(m);
            int ok = 0;
            float loss = sh_model_loss(m, y, nb, 1, &ok);
            if (!isfinite(loss)) {
                st = sh_fail(err, SH_ENUMERIC,
                             "training diverged: loss is %f at epoch %d, step %ld", loss,
                             epoch + 1, m->step);
                break;
            }
            sh_model_backward(m, nb);
            float lr = (float)sh_sched_lr(&cfg->sched, m->step, spe);
            sh_optim_step(&cfg->opt, m, lr);
            m->step++;
            loss_sum += (double)loss * nb;
            correct += ok;
            if (cfg->on_batch)
                cfg->on_batch(cfg->user, epoch, bi, spe, loss, lr);
        }
        if (st != SH_OK)
            break;
        sh_epoch_stats_t stats = {
            .loss = loss_sum / d->n,
            .accuracy = (double)correct / d->n,
            .seconds = sh_now() - t0,
        };
        if (cfg->on_epoch && cfg->on_epoch(cfg->user, epoch + 1, &stats) != 0)
            st = SH_ECANCELED;
    }
    free(x);
    free(y);
    free(perm);
    return st;
}

sh_status_t sh_evaluate(sh_model_t *m, const sh_dataset_t *d, const sh_norm_t *norm,
                        int batch, double *loss, double *accuracy, sh_err_t *err)
{
    if (sh_model_reserve(m, batch) != SH_OK)
        return sh_fail(err, SH_ENOMEM, "cannot allocate activations for batch %d", batch);
    const size_t sample = (size_t)d->c * d->h * d->w;
    float *x = sh_xaligned(sizeof(float) * sample * (size_t)batch);
    int32_t *y = sh_xmalloc(sizeof(int32_t) * (size_t)batch);
    int32_t *idx = sh_xmalloc(sizeof(int32_t) * (size_t)batch);
    double loss_sum = 0.0;
    long correct = 0;
    for (int32_t start = 0; start < d->n; start += batch) {
        int nb = (int)SH_MIN((int32_t)batch, d->n - start);
        for (int i = 0; i < nb; i++)
            idx[i] = start + i;
        sh_batch_fill(d, idx, nb, norm, SH_AUG_NONE, 0, 0, x, y);
        sh_model_forward(m, x, nb, 0);
        int ok = 0;
        loss_sum += (double)sh_model_loss(m, y, nb, 0, &ok) * nb;
        correct += ok;
    }
    free(x);
    free(y);
    free(idx);
    *loss = d->n ? loss_sum / d->n : 0.0;
    *accuracy = d->n ? (double)correct / d->n : 0.0;
    return SH_OK;
}
