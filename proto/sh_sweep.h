/* sh_sweep.h - sweep files: parsing, validation, defaults, and expansion
 * into the job DAG.
 *
 * A sweep names a dataset, a model, seeds, dense training, a pruning
 * schedule and retraining techniques (docs/SWEEP.md lists every key). It
 * expands into one `train` job per seed and, per seed and technique, a chain
 * of `prune` rounds (each round's parent is the previous round; round 1's is
 * the train job; in one-shot mode every round's parent is the train job).
 * Weight rewinding to epoch k adds a `train` job with `until: k` per seed:
 * the rewind point, a node with no row of its own.
 * Identical jobs (same spec) appear once in the DAG, however many techniques
 * or sweeps name them. */
#ifndef SH_SWEEP_H
#define SH_SWEEP_H

#include "sh_doc.h"
#include "sh_job.h"

#define SH_SWEEP_MAX_SEEDS 64
#define SH_SWEEP_MAX_TECHNIQUES 16
#define SH_SWEEP_MAX_ROUNDS 200
#define SH_SWEEP_MAX_JOBS 20000

typedef struct {
    char label[SH_NAME_MAX];    /* shown in tables; default: technique name */
    sh_technique_t technique;
    int epochs;                 /* t (finetune, lr-rewind, random-prune, reinit) */
    int rewind_epoch;           /* weight-rewind: k */
    double lr;                  /* finetune */
} sh_retrain_t;

typedef struct {
    char name[64];
    /* dataset */
    char dataset[SH_NAME_MAX];
    char data_path[1024];       /* directory with the dataset's files, or "" */
    char data_url[1024];        /* base URL, or "" */
    char data_sha256[SH_ID_HEX + 1];
    int validation;
    char model[SH_NAME_MAX];
    uint64_t seeds[SH_SWEEP_MAX_SEEDS];
    int n_seeds;
    sh_train_spec_t train;
    /* pruning schedule */
    sh_prune_method_t method;
    sh_prune_scope_t scope;
    int oneshot;
    double rate;                /* per round, when no explicit densities */
    int rounds;
    double densities[SH_SWEEP_MAX_ROUNDS]; /* density after each round */
    sh_layer_density_t layer_rates[SH_MAX_LAYER_RULES]; /* per-round rate */
    int n_layer_rates;
    char ignore[SH_MAX_LAYER_RULES][SH_NAME_MAX];
    int n_ignore;
    sh_retrain_t retrain[SH_SWEEP_MAX_TECHNIQUES];
    int n_retrain;
    /* stopping rule: a chain ends once accuracy < dense - max_drop */
    int has_stop;
    double max_drop;
    /* Resolved document: the input with every default filled in. */
    sh_doc_t *resolved;
} sh_sweep_t;

/* Parses a sweep from text (YAML or JSON) and applies `--set` overrides
 * in order. `name` is used in messages ("sweep.yaml:12: ..."). Returns
 * SH_EARG with a message naming file, line and key on any problem: unknown
 * keys, wrong types, values out of range, unknown model or technique,
 * layer names the model does not have, too many jobs. */
sh_status_t sh_sweep_parse(sh_sweep_t *sw, const char *text, size_t len, const char *name,
                           const char *const *overrides, int n_overrides, sh_err_t *err);

/* Reads a sweep file (at most SH_DOC_MAX_BYTES) and parses it. */
sh_status_t sh_sweep_load(sh_sweep_t *sw, const char *path, const char *const *overrides,
                          int n_overrides, sh_err_t *err);

void sh_sweep_clear(sh_sweep_t *sw);

/* Target density of round r (1-based) for the shared pool and for a layer
 * with its own per-round rate. */
double sh_sweep_density(const sh_sweep_t *sw, int round);
int sh_sweep_rounds(const sh_sweep_t *sw);

typedef struct {
    char id[SH_ID_HEX + 1];
    sh_jobspec_t spec;
    int parent;   /* node index, or -1 */
    int source;   /* weight-rewind: node index of the rewind point, or -1 */
} sh_dag_node_t;

/* A row is one (seed, technique, round) cell of the results table; several
 * rows may share a node when their jobs are identical. */
typedef struct {
    int node;
    int seed_index;
    int technique;  /* index into sw->retrain, or -1 for the dense run */
    int round;      /* 0 for the dense run */
} sh_dag_row_t;

typedef struct {
    sh_dag_node_t *nodes;
    int n_nodes;
    sh_dag_row_t *rows;
    int n_rows;
} sh_dag_t;

/* Expands the sweep. Nodes come in topological order (parents first). */
sh_status_t sh_sweep_expand(const sh_sweep_t *sw, sh_dag_t *dag, sh_err_t *err);
void sh_dag_clear(sh_dag_t *dag);

/* Row of (seed_index, technique, round), or -1. */
int sh_dag_find_row(const sh_dag_t *dag, int seed_index, int technique, int round);

#endif
