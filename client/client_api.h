/* client_api.h - talking to a broker from the CLI: requests with replies,
 * streamed WATCH updates, and the decoded forms of the reply payloads
 * (status, results, workers) that the commands print. */
#ifndef CLIENT_API_H
#define CLIENT_API_H

#include "sh_results.h"
#include "sh_curve.h"
#include "sh_wire.h"

typedef struct sh_client sh_client_t;

/* Connects a DEALER to endpoint (nothing is sent yet), over CURVE when
 * curve is not NULL. timeout_ms bounds each wait for a reply. */
sh_status_t sh_client_open(sh_client_t **out, void *zctx, const char *endpoint,
                           const sh_curve_t *curve, int timeout_ms, sh_err_t *err);
void sh_client_close(sh_client_t **self_p);

/* Sends cmd with body (whose first field is its request id, set here) and
 * waits for the final reply. On REPLY returns SH_OK with the payload copied
 * into *data (malloc'd msgpack). On ERROR returns SH_EARG with
 * "<code>: <message>" in err; on timeout SH_EIO. on_partial, when given,
 * receives each PARTIAL payload first. */
sh_status_t sh_client_call(sh_client_t *c, int cmd, void *body, char **data, size_t *len,
                           void (*on_partial)(void *user, const char *data, size_t len),
                           void *user, sh_err_t *err);

/* ---- payloads ----------------------------------------------------------------------- */

typedef struct {
    char job[65], technique[32], worker[128], phase[16];
    uint64_t seed;
    int round;
    long epoch, epochs, batch, batches;
    double loss;
} sh_active_t;

typedef struct {
    int64_t id;
    char name[64], state[16];
    int64_t priority;
    int done, running, queued, failed, blocked, skipped;
    sh_active_t *active;
    int n_active;
} sh_sweep_status_t;

typedef struct {
    int workers, queue;
    sh_sweep_status_t *sweeps;
    int n_sweeps;
} sh_status_payload_t;

sh_status_t sh_status_decode(sh_status_payload_t *out, const char *data, size_t len, sh_err_t *err);
void sh_status_free(sh_status_payload_t *s);

typedef struct {
    char job[65], name[64], sha256[65];
    uint64_t size;
} sh_result_artifact_t;

typedef struct {
    int64_t sweep;
    char name[64], state[16];
    char *yaml;                   /* resolved sweep */
    sh_row_t *rows;               /* every row, finished or not */
    char (*row_state)[16];        /* per row: pending, ready, running, done, ... */
    char **row_error;             /* per row: last error of a failed job, or NULL */
    int n_rows;
    sh_result_artifact_t *arts;
    int n_arts;
} sh_results_payload_t;

sh_status_t sh_results_decode(sh_results_payload_t *out, const char *data, size_t len,
                              sh_err_t *err);
void sh_results_free(sh_results_payload_t *r);

/* Finished rows only, in order (pointers into r). */
int sh_results_done_rows(const sh_results_payload_t *r, sh_row_t *out);

/* Downloads one artifact into path (temp file, verified SHA-256, rename). */
sh_status_t sh_client_fetch_artifact(sh_client_t *c, const char *sha256, uint64_t size,
                                     const char *path, sh_err_t *err);

#endif
