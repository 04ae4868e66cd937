/* sh_results.h - job results and the tables made of them.
 *
 * A result travels as JSON (result.json beside a job's checkpoints, and in
 * the broker's database). A row is one cell of a sweep's table: a result
 * plus where it sits (seed, technique, round). metrics.csv, metrics.jsonl
 * and `shears results` all print rows with the same field names:
 *   job, kind, technique, seed, round, density, target_density,
 *   test_accuracy, test_loss, val_accuracy, train_loss, epochs, seconds,
 *   model_bytes, compression, model_accuracy */
#ifndef SH_RESULTS_H
#define SH_RESULTS_H

#include "sh_job.h"
#include "sh_sweep.h"

#include <stdio.h>

typedef struct {
    char job[SH_ID_HEX + 1];
    sh_job_kind_t kind;
    char technique[SH_NAME_MAX];  /* "none" for the dense run */
    uint64_t seed;
    int round;
    double target_density;
    sh_job_result_t r;
} sh_row_t;

/* result <-> JSON (malloc'd; NULL on allocation failure). Non-finite
 * values are written as null. */
char *sh_result_to_json(const sh_job_result_t *r);
sh_status_t sh_result_parse(sh_job_result_t *r, const char *json, size_t len, sh_err_t *err);

/* Fills the presentation fields of a row from the sweep and DAG row. */
void sh_row_init(sh_row_t *row, const sh_sweep_t *sw, const sh_dag_t *dag, int dag_row,
                 const sh_job_result_t *r);

void sh_rows_write_csv(FILE *f, const sh_row_t *rows, int n);
void sh_rows_write_jsonl(FILE *f, const sh_row_t *rows, int n);

/* The accuracy-vs-density table: one line per round, one column per
 * technique, mean (and spread over seeds when there are several). */
void sh_rows_print_table(FILE *f, const sh_sweep_t *sw, const sh_row_t *rows, int n);

#endif
