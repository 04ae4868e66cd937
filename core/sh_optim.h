/* sh_optim.h - optimizers and learning-rate schedules.
 *
 * A schedule is a pure function of the global step, so a run can be replayed
 * from any point: learning-rate rewinding simply starts the step counter at
 * epoch T - t of the dense schedule. Optimizer updates honor the pruning
 * mask: a pruned weight, its momentum and its Adam moments stay exactly 0. */
#ifndef SH_OPTIM_H
#define SH_OPTIM_H

#include "sh_model.h"

#define SH_MAX_MILESTONES 16

typedef enum { SH_OPT_SGD = 1, SH_OPT_ADAM } sh_opt_kind_t;

typedef struct {
    sh_opt_kind_t kind;
    float momentum;      /* SGD */
    int nesterov;        /* SGD */
    float weight_decay;  /* L2, added to the gradient (PyTorch semantics) */
    float beta1, beta2, eps; /* Adam */
} sh_optim_t;

/* One update of every parameter with learning rate lr, counting it in
 * m->opt_steps (Adam's bias correction uses that count). Allocates Adam's
 * second moment on first use. Masked-out entries are kept at exactly zero,
 * along with their optimizer state. */
void sh_optim_step(const sh_optim_t *opt, sh_model_t *m, float lr);

/* Forgets momentum and moments (a retraining run starts fresh). */
void sh_optim_reset(sh_model_t *m);

typedef enum {
    SH_SCHED_CONSTANT = 1,
    SH_SCHED_MULTISTEP,
    SH_SCHED_COSINE,
} sh_sched_kind_t;

typedef struct {
    sh_sched_kind_t kind;
    double lr;                          /* base learning rate */
    int milestones[SH_MAX_MILESTONES];  /* MULTISTEP: epochs, ascending */
    int n_milestones;
    double gamma;                       /* MULTISTEP: factor per milestone */
    int total_epochs;                   /* COSINE: length of the decay */
    double min_lr;                      /* COSINE: floor */
    double warmup_epochs;               /* linear warmup from 0 (any kind) */
} sh_sched_t;

/* Learning rate for the update at 0-based global `step`. */
double sh_sched_lr(const sh_sched_t *s, long step, long steps_per_epoch);

/* Learning rate in effect at the end of the schedule (for fine-tuning). */
double sh_sched_final_lr(const sh_sched_t *s, int total_epochs, long steps_per_epoch);

#endif
