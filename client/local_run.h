/* local_run.h - runs a sweep's DAG in this process with a pool of job
 * threads, writing DIR/jobs/<id>/ per job plus metrics.csv, metrics.jsonl
 * and sweep.yaml. A job whose result.json exists is reused, not rerun. */
#ifndef LOCAL_RUN_H
#define LOCAL_RUN_H

#include "sh_results.h"
#include "sh_sweep.h"

typedef struct {
    const char *out_dir;
    int jobs;        /* jobs in parallel */
    int threads;     /* total OpenMP threads, split between jobs */
    int tty;         /* live progress display instead of log lines */
    int quiet;       /* neither (failures are still reported) */
    const volatile int *cancel;
} local_run_opts_t;

typedef struct {
    int done, reused, failed, skipped, blocked;
    sh_row_t *rows;  /* finished rows in table order; caller frees */
    int n_rows;
} local_run_summary_t;

/* Returns SH_OK when every wanted job finished (some may have been skipped
 * by the stopping rule), SH_ECANCELED on interrupt, another status when a
 * job failed (the rest of the sweep still ran). */
sh_status_t local_run(const sh_sweep_t *sw, const local_run_opts_t *opts,
                      local_run_summary_t *summary, sh_err_t *err);

#endif
