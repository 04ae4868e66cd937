/* broker_internal.h - the broker's in-memory state, shared by the files of
 * broker/: sh_broker.c (loop, workers, scheduling), broker_state.c (jobs,
 * sweeps, recovery, the stopping rule) and broker_client.c (client
 * requests). SQLite is the durable copy; this is the working copy, rebuilt
 * from SQLite at start. */
#ifndef BROKER_INTERNAL_H
#define BROKER_INTERNAL_H

#include "sh_artstore.h"
#include "sh_broker.h"
#include "sh_curve.h"
#include "sh_job.h"
#include "sh_s3.h"
#include "sh_store.h"
#include "sh_wire.h"

#include <msgpack.h>
#include <zmq.h>

typedef enum { J_PENDING, J_READY, J_LEASED, J_DONE, J_FAILED, J_BLOCKED } jstate_t;

typedef struct {
    char name[64];
    char sha256[65];
    uint64_t size;
} art_t;

typedef struct {
    char id[65];
    char *spec;           /* canonical JSON */
    sh_job_kind_t kind;
    int parent, source;   /* job indices or -1 */
    jstate_t state;
    int attempts;
    char *last_error;
    char *result;         /* JSON once done */
    art_t *arts;
    int n_arts;
    int sweep;            /* first sweep that asked for it: data source */
    double created;
    uint64_t lease;       /* while J_LEASED */
    int worker;           /* while J_LEASED: worker index */
    sh_msg_progress_t progress;
    int has_progress;
    int *children;
    int n_children, cap_children;
    int *rows;            /* row indices that point at this job */
    int n_rows, cap_rows;
    int in_heap;
} job_t;

typedef struct {
    int sweep;            /* sweep index */
    int idx;              /* row number within the sweep */
    int job;
    int seed_index, technique;
    char label[32];
    uint64_t seed;
    int round;
    double target;
    int skipped;
} row_t;

typedef struct {
    int64_t id;           /* durable id, shown to users */
    char *name, *yaml;
    int64_t priority;
    double created;
    int cancelled;
    int has_stop;
    double max_drop;
    char data_name[32];
    char *data_path, *data_url;
    char data_sha256[65];
    int *rows;
    int n_rows, cap_rows;
    int finished_logged;
} sweep_t;

typedef struct {
    unsigned char identity[256];
    size_t id_len;
    char tag[5];          /* "SHW1" */
    char name[128];
    int threads, slots, busy_unknown;
    int alive;
    double last_recv, last_send, joined;
    int *leased;          /* jobs leased to it (job indices) */
    int n_leases, cap_leases;
    sh_upload_t *upload;  /* the artifact it is uploading */
    char key[SH_Z85_KEY + 1]; /* its CURVE public key, when CURVE is on */
} worker_t;

typedef struct {
    unsigned char identity[256];
    size_t id_len;
    uint64_t rid;
    int sweep;
    double last_sent;
    int dirty;
} watcher_t;

/* A message queued until the transaction that justifies it commits. */
typedef struct {
    unsigned char identity[256];
    size_t id_len;
    char tag[5];
    int cmd;
    char *body;
    size_t len;
} outmsg_t;

typedef struct broker_zap broker_zap_t;
typedef struct broker_http broker_http_t;

typedef struct broker {
    const sh_broker_opts_t *o;
    void *sock;
    sh_store_t *store;
    sh_artstore_t *arts;
    sh_s3_t *s3;          /* optional off-node artifact store */

    job_t *jobs;
    int n_jobs, cap_jobs;
    int *job_index;       /* open-addressing hash: id -> job, -1 empty */
    int index_cap;
    row_t *rows;
    int n_rows, cap_rows;
    sweep_t *sweeps;
    int n_sweeps, cap_sweeps;
    worker_t *workers;
    int n_workers, cap_workers;
    watcher_t *watchers;
    int n_watchers, cap_watchers;
    int *heap;            /* ready jobs */
    int n_heap, cap_heap;
    outmsg_t *out;
    int n_out, cap_out;

    broker_zap_t *zap;    /* CURVE: the ZAP handler thread */
    broker_http_t *http;  /* the status page, when asked for */
    sh_allow_t allow;     /* CURVE: allowed keys and their roles, reread every second */
    double allow_read;
    char allow_err[sizeof(sh_err_t)];  /* the last reread's error, logged once */

    uint64_t next_lease;
    double now;
    char *chunk;          /* SH_WIRE_CHUNK scratch for reads */
    /* counters for logs and benchmarks */
    uint64_t dispatched, completed;
} broker_t;

/* ---- CURVE (broker_zap.c) ---------------------------------------------------- */
sh_status_t broker_zap_start(broker_zap_t **out, void *zctx, const char *allow_dir, FILE *log,
                             int log_level, sh_err_t *err);
void broker_zap_stop(broker_zap_t **z);

/* ---- payloads (broker_client.c), for client replies and the status page ---- */
/* STATUS: every live sweep and the newest (only < 0), or sweep index only. */
void broker_pack_status(broker_t *b, int only, msgpack_sbuffer *sb);
/* RESULTS of sweep index s, and WORKERS. */
void broker_pack_results(broker_t *b, int s, msgpack_sbuffer *sb);
void broker_pack_workers(broker_t *b, msgpack_sbuffer *sb);

/* ---- the status page (broker_http.c) ------------------------------------------ */
/* Serves the page and /api/... on addr ("HOST:PORT" or "PORT", loopback by
 * default); token, when not NULL, is required on every request. */
sh_status_t broker_http_start(broker_http_t **out, broker_t *b, const char *addr,
                              const char *token, sh_err_t *err);
/* The descriptor to poll for HTTP activity, and the work to do when it is
 * readable (and at least every loop iteration). */
int broker_http_fd(const broker_http_t *h);
void broker_http_run(broker_http_t *h);
void broker_http_stop(broker_http_t **h);

/* ---- logging --------------------------------------------------------------- */
void blog(broker_t *b, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- outgoing (sh_broker.c) -------------------------------------------------- */
void queue_msg(broker_t *b, const unsigned char *id, size_t id_len, const char *tag, int cmd,
               const void *body);
void queue_error(broker_t *b, const unsigned char *id, size_t id_len, const char *tag,
                 uint64_t rid, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
void queue_reply_raw(broker_t *b, const unsigned char *id, size_t id_len, int cmd, uint64_t rid,
                     const char *data, size_t len);

/* ---- artifacts (sh_broker.c) ------------------------------------------------------ */
/* 1 if the artifact is in the local store, fetching it from S3 first when
 * it is only there (verified against its hash). */
int artifact_local(broker_t *b, const char *sha256, uint64_t *size);

/* ---- state (broker_state.c) ---------------------------------------------------- */
int job_find(const broker_t *b, const char *id);
int job_add(broker_t *b, const char *id, const char *spec, sh_job_kind_t kind, int parent,
            int source, int sweep, double created);
int job_wanted(const broker_t *b, int j);
int64_t job_priority(const broker_t *b, int j);
void job_make_ready(broker_t *b, int j);     /* pending -> ready if deps are done */
void job_persist(broker_t *b, int j);
void job_block_descendants(broker_t *b, int j);
void job_finish(broker_t *b, int j, const char *result, const art_t *arts, int n_arts);
void apply_stop_rule(broker_t *b, int j);
int sweep_settled(const broker_t *b, int s);  /* nothing wanted is left to run */
int sweep_find(const broker_t *b, int64_t id);
void heap_push(broker_t *b, int j);
int heap_pop(broker_t *b);
sh_status_t state_load(broker_t *b, sh_err_t *err);
void state_free(broker_t *b);
void touch_watchers(broker_t *b, int j);

/* ---- scheduling (sh_broker.c) ------------------------------------------------- */
void worker_add_lease(broker_t *b, int w, int j);
void worker_drop_lease(broker_t *b, int w, int j);
void release_lease(broker_t *b, int j, const char *outcome, const char *error, int charge);
void dispatch(broker_t *b);

/* ---- clients (broker_client.c) -------------------------------------------------- */
void handle_client(broker_t *b, const unsigned char *id, size_t id_len, int cmd,
                   const void *data, size_t len);
void update_watchers(broker_t *b, int force);

#endif
