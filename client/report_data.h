/* report_data.h - a sweep's results gathered for plots and reports: from a
 * results directory (what `shears run -o DIR` and `shears fetch` write) or
 * from a broker by sweep id. */
#ifndef REPORT_DATA_H
#define REPORT_DATA_H

#include "sh_curve.h"
#include "sh_results.h"
#include "sh_sweep.h"

/* One technique's curve: a point per round with results, averaged over
 * seeds (sd is the sample standard deviation, 0 for a single seed). */
typedef struct {
    int round;
    int n_seeds;
    double density, acc_mean, acc_sd;
    double bytes;            /* mean compressed model size, 0 if none */
    char job[SH_ID_HEX + 1]; /* the first seed's job */
} report_point_t;

typedef struct {
    char label[SH_NAME_MAX];
    report_point_t *pts;
    int n;
} report_curve_t;

typedef struct {
    sh_sweep_t sw;
    char *yaml;              /* the resolved sweep */
    sh_row_t *rows;          /* finished rows */
    int n_rows;
    double dense_acc, dense_sd;
    int n_dense;
    report_curve_t curves[SH_SWEEP_MAX_TECHNIQUES];
    int n_curves;
    char dir[4096];          /* results directory with jobs/<id>/, or "" */
} report_data_t;

/* Loads from a results directory (sweep.yaml and jobs/<id>/result.json),
 * or, when src is a sweep id, from the broker at endpoint (with CURVE when
 * curve is not NULL), fetching the compressed models of finished jobs into
 * cache_dir. Errors name the source. */
sh_status_t report_load(report_data_t *d, const char *src, const char *endpoint,
                        const sh_curve_t *curve, const char *cache_dir, sh_err_t *err);
void report_free(report_data_t *d);

/* Path of a job's file (model.shm, final.ckpt) if present locally, else "". */
void report_job_file(const report_data_t *d, const char *job, const char *name, char *buf,
                     size_t cap);

#endif
