/* sh_store.h - the broker's durable state in SQLite (WAL, synchronous=FULL).
 *
 * Tables: sweeps, rows (a sweep's cells, pointing at jobs), jobs (shared
 * between sweeps by content id), deps implied by jobs.parent/source,
 * artifacts (job outputs by SHA-256), attempts (one per lease: who ran what,
 * how it ended), workers, meta. The broker keeps a working copy in memory
 * and writes through this interface inside group-committed transactions:
 * nothing it acknowledges is sent before the transaction holding it commits.
 * Every function returns 0 on success, -1 on an SQLite error (logged in
 * sh_store_error). */
#ifndef SH_STORE_H
#define SH_STORE_H

#include "sh_common.h"

#include <stdint.h>

typedef struct sh_store sh_store_t;

sh_status_t sh_store_open(sh_store_t **out, const char *path, sh_err_t *err);
void sh_store_close(sh_store_t **self_p);
const char *sh_store_error(sh_store_t *self);

/* Transactions: begin is idempotent (a no-op when one is open). */
int sh_store_begin(sh_store_t *self);
int sh_store_commit(sh_store_t *self);
int sh_store_in_tx(const sh_store_t *self);

typedef struct {
    int64_t id;
    const char *name, *yaml;
    int64_t priority;
    double created;
    const char *state;      /* "active", "cancelled" */
    int has_stop;
    double max_drop;
    const char *data_name, *data_path, *data_url, *data_sha256;
} sh_sweep_rec_t;

typedef struct {
    int64_t sweep;
    int idx;
    const char *job;
    int seed_index, technique;
    const char *label;
    uint64_t seed;
    int round;
    double target;
    int skipped;
} sh_row_rec_t;

typedef struct {
    const char *id, *spec, *kind, *parent, *source; /* parent/source may be "" */
    const char *state;      /* pending ready leased done failed blocked */
    int attempts;
    const char *last_error; /* may be NULL */
    const char *result;     /* JSON, NULL until done */
    double created, finished;
    int64_t sweep;          /* the first sweep that asked for it (data source) */
} sh_job_rec_t;

typedef struct {
    const char *job, *name, *sha256;
    uint64_t size;
} sh_artifact_rec_t;

/* Inserts; returns the new sweep id in *id. */
int sh_store_add_sweep(sh_store_t *self, sh_sweep_rec_t *rec);
int sh_store_add_row(sh_store_t *self, const sh_row_rec_t *rec);
/* Inserts a job unless one with the same id exists. */
int sh_store_add_job(sh_store_t *self, const sh_job_rec_t *rec);
int sh_store_set_job(sh_store_t *self, const char *id, const char *state, int attempts,
                     const char *last_error, const char *result, double finished);
int sh_store_add_artifact(sh_store_t *self, const sh_artifact_rec_t *rec);
int sh_store_skip_row(sh_store_t *self, int64_t sweep, int idx);
int sh_store_set_sweep_state(sh_store_t *self, int64_t sweep, const char *state);
int sh_store_attempt_begin(sh_store_t *self, uint64_t lease, const char *job,
                           const char *worker, double when);
int sh_store_attempt_end(sh_store_t *self, uint64_t lease, const char *outcome,
                         const char *error, double when);
int sh_store_worker_seen(sh_store_t *self, const char *name, int threads, int slots,
                         double when);

/* Loading, in insertion order. Callbacks return 0 to continue. */
int sh_store_each_sweep(sh_store_t *self, int (*fn)(void *, const sh_sweep_rec_t *), void *u);
int sh_store_each_row(sh_store_t *self, int (*fn)(void *, const sh_row_rec_t *), void *u);
int sh_store_each_job(sh_store_t *self, int (*fn)(void *, const sh_job_rec_t *), void *u);
int sh_store_each_artifact(sh_store_t *self, int (*fn)(void *, const sh_artifact_rec_t *),
                           void *u);
/* Highest lease id ever granted (0 if none). */
uint64_t sh_store_max_lease(sh_store_t *self);

typedef struct {
    const char *name;
    int threads, slots;
    double first_seen, last_seen;
} sh_worker_rec_t;
int sh_store_each_worker(sh_store_t *self, int (*fn)(void *, const sh_worker_rec_t *), void *u);

#endif
