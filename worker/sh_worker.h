/* sh_worker.h - a shears worker node: a DEALER connection to the broker,
 * owned by one thread (the caller of sh_worker_run), and a job thread per
 * running job. The socket thread keeps heartbeats and progress flowing while
 * jobs compute, downloads inputs into a content-addressed cache (once per
 * node), uploads outputs in verified chunks, and reconnects with backoff
 * when the broker goes away. */
#ifndef SH_WORKER_H
#define SH_WORKER_H

#include "sh_common.h"
#include "sh_curve.h"
#include "sh_datasets.h"

#include <stdio.h>

typedef struct {
    const char *broker;        /* endpoint, e.g. tcp://10.0.0.1:5555 */
    const sh_curve_t *curve;   /* our key pair and the broker's key, or NULL */
    const char *name;          /* shown by the broker; default host/pid */
    int threads;               /* OpenMP threads per job (default: CPUs / slots) */
    int slots;                 /* jobs at once (default 1) */
    const char *cache_dir;     /* artifact cache, datasets, work directories */
    int heartbeat_ms;          /* default 1000 */
    int liveness_ms;           /* broker silent this long: reconnect (default 5000) */
    int log_level;             /* SH_LOG_* (sh_log.h) */
    FILE *log;                 /* default stderr */
    sh_datasets_t *datasets;   /* shared dataset cache, or NULL for a private one */
    const volatile int *drain; /* take no new jobs, finish running ones, exit */
    const volatile int *stop;  /* cancel running jobs, hand everything back, exit */
} sh_worker_opts_t;

/* Runs until drained or stopped. Returns SH_OK on a clean exit. */
sh_status_t sh_worker_run(void *zctx, const sh_worker_opts_t *opts, sh_err_t *err);

#endif
