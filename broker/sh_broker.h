/* sh_broker.h - the shears broker: one ROUTER socket serving clients and
 * workers, the scheduler, durable state in SQLite and the artifact store.
 * `shears-broker` is a thin main() over sh_broker_run; `shears run` runs the
 * same function in a thread on an inproc endpoint. */
#ifndef SH_BROKER_H
#define SH_BROKER_H

#include "sh_common.h"
#include "sh_curve.h"
#include "sh_log.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *bind;        /* ZeroMQ endpoint, e.g. tcp://127.0.0.1:5555 */
    const char *state_dir;   /* state.db and artifacts/ live here */
    int heartbeat_ms;        /* heartbeat interval both ways (default 1000) */
    int liveness_ms;         /* a worker silent this long is lost (default 5000) */
    int max_attempts;        /* a job failing on this many workers fails (default 3) */
    int allow_synthetic;     /* accept SYNTHETIC sweeps (tests and benchmarks) */
    uint64_t max_artifact;   /* bytes (default 4 GiB) */
    const char *s3;          /* S3 store URL (sh_s3.h), or NULL: artifacts are
                                written through to it and read back from it
                                when the local copy is missing */
    const sh_curve_t *curve; /* the broker's key pair: CURVE on every connection,
                                or NULL for plaintext */
    const char *allow_dir;   /* with curve: clients/ and workers/ hold the
                                allowed public keys (sh_curve.h) */
    const char *http;        /* status page address ("HOST:PORT" or "PORT",
                                loopback by default), or NULL for none */
    const char *http_token;  /* required on every HTTP request when set;
                                the broker refuses CURVE + http without one */
    int log_level;           /* SH_LOG_* (default INFO) */
    FILE *log;               /* default stderr */
    const volatile int *stop;      /* the loop returns once *stop is set */
    volatile int *ready;           /* set to 1 once bound (may be NULL) */
} sh_broker_opts_t;

/* Runs the broker until *opts->stop. Returns SH_OK after a clean stop, or an
 * error when the state cannot be opened or the endpoint cannot be bound.
 * zctx is the ZeroMQ context (shared with inproc peers). */
sh_status_t sh_broker_run(void *zctx, const sh_broker_opts_t *opts, sh_err_t *err);

#endif
