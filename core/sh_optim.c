/* sh_optim.c - masked SGD/Adam updates and the schedules. */
#include "sh_optim.h"

#include <math.h>
#include <string.h>

/* SGD over a contiguous run of live weights (PyTorch semantics: the decay
 * joins the gradient, buf = mu buf + d, step along buf or d + mu buf). The
 * branches are hoisted so each loop vectorizes. */
static inline void sgd_span(float *restrict w, const float *restrict g, float *restrict buf,
                            size_t n, float lr, float mu, float wd, int nesterov)
{
    if (mu == 0.0f) {
        for (size_t i = 0; i < n; i++)
            w[i] -= lr * (g[i] + wd * w[i]);
    } else if (nesterov) {
        for (size_t i = 0; i < n; i++) {
            float d = g[i] + wd * w[i];
            float b = mu * buf[i] + d;
            buf[i] = b;
            w[i] -= lr * (d + mu * b);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float b = mu * buf[i] + (g[i] + wd * w[i]);
            buf[i] = b;
            w[i] -= lr * b;
        }
    }
}

void sh_optim_reset(sh_model_t *m)
{
    memset(m->opt_m, 0, sizeof(float) * m->n_params);
    if (m->opt_v)
        memset(m->opt_v, 0, sizeof(float) * m->n_params);
    m->opt_steps = 0;
}

void sh_optim_step(const sh_optim_t *opt, sh_model_t *m, float lr)
{
    const long t = ++m->opt_steps;
    m->param_version++;
    const size_t words = sh_mask_words(m->n_params);
    const float wd = opt->weight_decay;
    float *w = m->params, *g = m->grads, *buf = m->opt_m;
    if (opt->kind == SH_OPT_SGD) {
        const float mu = opt->momentum;
        const int nesterov = opt->nesterov;
#pragma omp parallel for schedule(static)
        for (size_t wi = 0; wi < words; wi++) {
            uint64_t word = m->mask[wi];
            if (!word)
                continue;
            size_t base = wi * 64, end = SH_MIN(base + 64, m->n_params);
            if (word == ~(uint64_t)0 && end - base == 64) {
                sgd_span(w + base, g + base, buf + base, 64, lr, mu, wd, nesterov);
                continue;
            }
            /* Visit the live entries only: pruned ones are already zero,
             * with zero momentum, and nothing here writes them. */
            for (uint64_t rest = word; rest; rest &= rest - 1) {
                size_t i = base + (size_t)__builtin_ctzll(rest);
                if (i < end)
                    sgd_span(w + i, g + i, buf + i, 1, lr, mu, wd, nesterov);
            }
        }
        return;
    }
    if (!m->opt_v) {
        m->opt_v = sh_xaligned(sizeof(float) * m->n_params);
        memset(m->opt_v, 0, sizeof(float) * m->n_params);
    }
    float *v = m->opt_v;
    const float b1 = opt->beta1, b2 = opt->beta2, eps = opt->eps;
    const float c1 = 1.0f - powf(b1, (float)t), c2 = 1.0f - powf(b2, (float)t);
    const float step = lr / c1, rc2 = 1.0f / sqrtf(c2);
#pragma omp parallel for schedule(static)
    for (size_t wi = 0; wi < words; wi++) {
        uint64_t word = m->mask[wi];
        if (!word)
            continue;
        size_t base = wi * 64, end = SH_MIN(base + 64, m->n_params);
        for (size_t i = base; i < end; i++) {
            float alive = (float)((word >> (i - base)) & 1u);
            float d = (g[i] + wd * w[i]) * alive;
            buf[i] = b1 * buf[i] + (1.0f - b1) * d;
            v[i] = b2 * v[i] + (1.0f - b2) * d * d;
            w[i] = (w[i] - step * buf[i] / (sqrtf(v[i]) * rc2 + eps)) * alive;
        }
    }
}

double sh_sched_lr(const sh_sched_t *s, long step, long steps_per_epoch)
{
    double lr = s->lr;
    long epoch = step / steps_per_epoch;
    switch (s->kind) {
    case SH_SCHED_CONSTANT:
        break;
    case SH_SCHED_MULTISTEP:
        for (int i = 0; i < s->n_milestones; i++)
            if (epoch >= s->milestones[i])
                lr *= s->gamma;
        break;
    case SH_SCHED_COSINE: {
        double total = (double)s->total_epochs * steps_per_epoch;
        double frac = total > 0 ? (double)step / total : 1.0;
        if (frac > 1.0)
            frac = 1.0;
        lr = s->min_lr + (s->lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * frac));
        break;
    }
    }
    double warm = s->warmup_epochs * (double)steps_per_epoch;
    if (warm > 0 && (double)step < warm)
        lr *= ((double)step + 1.0) / warm;
    return lr;
}

double sh_sched_final_lr(const sh_sched_t *s, int total_epochs, long steps_per_epoch)
{
    long last = (long)total_epochs * steps_per_epoch - 1;
    return sh_sched_lr(s, last < 0 ? 0 : last, steps_per_epoch);
}
