/* sh_job.h - job specifications and content ids.
 *
 * A job spec says everything that determines a job's result and nothing
 * else: dataset identity (not where it is stored), model, seed, training
 * hyperparameters, and for prune jobs the technique, the target density and
 * the ids of the jobs whose checkpoints it starts from. Its canonical form is
 * compact JSON with sorted keys; the job id is the SHA-256 of that text, so
 * the same job in any sweep has the same id and its result is reused.
 * Presentation (technique labels, sweep names) and policy (stopping rules,
 * priorities) are deliberately left out. */
#ifndef SH_JOB_H
#define SH_JOB_H

#include "sh_common.h"
#include "sh_hash.h"
#include "sh_optim.h"
#include "sh_prune.h"

#define SH_JOB_VERSION 1
#define SH_ID_HEX 64
#define SH_MAX_LAYER_RULES 16
#define SH_NAME_MAX 32

/* SH_JOB_SYNTHETIC exists for scheduler, fault and load tests: it sleeps,
 * fails on purpose or writes a payload. No sweep file can produce one; the
 * broker accepts them only when started with --allow-synthetic. */
typedef enum { SH_JOB_TRAIN = 1, SH_JOB_PRUNE, SH_JOB_SYNTHETIC } sh_job_kind_t;

typedef enum {
    SH_TECH_FINETUNE = 1,  /* fixed small LR for t epochs */
    SH_TECH_WEIGHT_REWIND, /* weights and schedule back to epoch k */
    SH_TECH_LR_REWIND,     /* keep weights, replay schedule from T - t */
    SH_TECH_REINIT,        /* magnitude mask, fresh random weights, full run */
    SH_TECH_RANDOM_PRUNE,  /* random mask at the same density, then as lr-rewind */
} sh_technique_t;

const char *sh_technique_name(sh_technique_t t);
/* Returns 0 and sets *t for a known name, -1 otherwise. */
int sh_technique_parse(const char *name, sh_technique_t *t);

/* Dense training hyperparameters. */
typedef struct {
    int epochs;
    int batch;
    sh_optim_t opt;
    sh_sched_t sched;
    int augment; /* SH_AUG_* flags */
} sh_train_spec_t;

typedef struct {
    char layer[SH_NAME_MAX];
    double density;
} sh_layer_density_t;

typedef struct {
    sh_job_kind_t kind;
    char dataset[SH_NAME_MAX];     /* "fashion-mnist", "mnist", "cifar10" */
    char data_sha256[SH_ID_HEX + 1]; /* optional content hash of the data */
    int validation;                /* training samples held out */
    char model[SH_NAME_MAX];
    uint64_t seed;
    sh_train_spec_t train;
    /* train: stop after this many epochs of the T-epoch schedule. Less than
     * T makes a rewind point: the dense run's state at epoch `until`, the
     * same bits as the full run has there (training is deterministic). */
    int until;
    /* prune */
    char parent[SH_ID_HEX + 1];    /* weights and mask come from here */
    char source[SH_ID_HEX + 1];    /* weight-rewind: the rewind point's job */
    int round;
    sh_technique_t technique;
    int tech_epochs;               /* retraining epochs t */
    int rewind_epoch;              /* weight-rewind: k */
    double tech_lr;                /* finetune: the fixed LR */
    sh_prune_method_t method;
    sh_prune_scope_t scope;
    double density;                /* target fraction of prunable weights */
    sh_layer_density_t layers[SH_MAX_LAYER_RULES]; /* own targets per layer */
    int n_layers;
    char ignore[SH_MAX_LAYER_RULES][SH_NAME_MAX];  /* never pruned */
    int n_ignore;
    /* synthetic */
    struct {
        uint64_t index, salt, sleep_ms, payload;
        int fail;
    } synth;
} sh_jobspec_t;

/* What a finished job reports. */
typedef struct {
    double test_accuracy, test_loss;
    double val_accuracy, val_loss;  /* NAN without a validation split */
    double train_loss;              /* mean over the last epoch */
    double density;                 /* fraction of prunable weights alive */
    long alive, prunable;
    int epochs;                     /* epochs trained by this job */
    double seconds;
    /* prune jobs: the compressed model (model.shm, int8 values) */
    uint64_t model_bytes;           /* 0 when none was written */
    double compression;             /* dense fp32 bytes / model bytes */
    double model_accuracy;          /* test accuracy of the compressed model */
} sh_job_result_t;

/* Canonical JSON of a spec; malloc'd. NULL only on allocation failure. */
char *sh_jobspec_to_json(const sh_jobspec_t *spec);

/* Parses and validates a spec from (untrusted) JSON text. Unknown keys,
 * missing keys, wrong types and out-of-range values are SH_EFORMAT errors
 * naming the key. */
sh_status_t sh_jobspec_parse(sh_jobspec_t *spec, const char *json, size_t len,
                             sh_err_t *err);


/* Job id of a spec: SHA-256 of its canonical JSON. Returns -1 on
 * allocation failure. */
int sh_jobspec_id(const sh_jobspec_t *spec, char id[SH_ID_HEX + 1]);

/* Schedule epoch range the job trains over, [*begin, *end). */
void sh_jobspec_epochs(const sh_jobspec_t *spec, int *begin, int *end);

#endif
