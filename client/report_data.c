/* report_data.c - results for plots and reports. A broker's sweep is first
 * fetched into a directory like `shears fetch` does, so both sources are
 * read the same way: the resolved sweep is expanded again and each row's
 * job is looked up under jobs/<id>/. */
#include "report_data.h"

#include "client_api.h"
#include "export.h"
#include "sh_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

static int is_sweep_id(const char *s)
{
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

static sh_status_t fetch_sweep(const char *id, const char *endpoint, const sh_curve_t *curve,
                               const char *dir, sh_err_t *err)
{
    void *ctx = zmq_ctx_new();
    sh_client_t *c;
    sh_status_t st = sh_client_open(&c, ctx, endpoint, curve, 30000, err);
    if (st == SH_OK) {
        sh_msg_sweep_req_t req = {.sweep = strtoull(id, NULL, 10)};
        char *data;
        size_t len;
        sh_results_payload_t res;
        st = sh_client_call(c, SH_C_RESULTS, &req, &data, &len, NULL, NULL, err);
        if (st == SH_OK) {
            if ((st = sh_results_decode(&res, data, len, err)) == SH_OK) {
                int files;
                st = sh_export_results(&res, dir, NULL, c, &files, err);
                sh_results_free(&res);
            }
            free(data);
        }
        sh_client_close(&c);
    }
    zmq_ctx_term(ctx);
    return st;
}

static int cmp_point(const void *a, const void *b)
{
    return ((const report_point_t *)a)->round - ((const report_point_t *)b)->round;
}

/* Averages the rows into the dense figure and one curve per technique. */
static void aggregate(report_data_t *d)
{
    double s = 0, sq = 0;
    for (int i = 0; i < d->n_rows; i++)
        if (d->rows[i].round == 0) {
            s += d->rows[i].r.test_accuracy;
            sq += d->rows[i].r.test_accuracy * d->rows[i].r.test_accuracy;
            d->n_dense++;
        }
    if (d->n_dense) {
        d->dense_acc = s / d->n_dense;
        d->dense_sd = d->n_dense > 1
                          ? sqrt(fmax(0.0, (sq - s * s / d->n_dense) / (d->n_dense - 1)))
                          : 0.0;
    }
    d->n_curves = d->sw.n_retrain;
    for (int t = 0; t < d->sw.n_retrain; t++) {
        report_curve_t *c = &d->curves[t];
        snprintf(c->label, sizeof c->label, "%s", d->sw.retrain[t].label);
        c->pts = sh_xcalloc((size_t)sh_sweep_rounds(&d->sw) + 1, sizeof *c->pts);
        for (int i = 0; i < d->n_rows; i++) {
            const sh_row_t *r = &d->rows[i];
            if (r->round == 0 || strcmp(r->technique, c->label) != 0)
                continue;
            report_point_t *p = NULL;
            for (int k = 0; k < c->n && !p; k++)
                if (c->pts[k].round == r->round)
                    p = &c->pts[k];
            if (!p) {
                p = &c->pts[c->n++];
                p->round = r->round;
                memcpy(p->job, r->job, sizeof p->job);
            }
            /* Running sums; turned into mean and sd below. */
            p->n_seeds++;
            p->density += r->r.density;
            p->acc_mean += r->r.test_accuracy;
            p->acc_sd += r->r.test_accuracy * r->r.test_accuracy;
            p->bytes += (double)r->r.model_bytes;
        }
        for (int k = 0; k < c->n; k++) {
            report_point_t *p = &c->pts[k];
            double n = p->n_seeds, sum = p->acc_mean;
            p->density /= n;
            p->bytes /= n;
            p->acc_mean = sum / n;
            p->acc_sd = n > 1 ? sqrt(fmax(0.0, (p->acc_sd - sum * sum / n) / (n - 1))) : 0.0;
        }
        qsort(c->pts, (size_t)c->n, sizeof *c->pts, cmp_point);
    }
}

static sh_status_t load_dir(report_data_t *d, const char *dir, sh_err_t *err)
{
    char path[4400];
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    snprintf(path, sizeof path, "%s/sweep.yaml", dir);
    size_t len;
    sh_status_t st = sh_file_read(path, SH_WIRE_MAX_TEXT, &d->yaml, &len, err);
    if (st != SH_OK) {
        sh_err_prefix(err, "%s is not a results directory", dir);
        return st;
    }
    if ((st = sh_sweep_parse(&d->sw, d->yaml, len, path, NULL, 0, err)) != SH_OK) {
        free(d->yaml);
        d->yaml = NULL;
        return st;
    }
    sh_dag_t dag;
    if ((st = sh_sweep_expand(&d->sw, &dag, err)) != SH_OK) {
        report_free(d);
        return st;
    }
    d->rows = sh_xcalloc((size_t)dag.n_rows + 1, sizeof *d->rows);
    for (int i = 0; i < dag.n_rows && st == SH_OK; i++) {
        snprintf(path, sizeof path, "%s/jobs/%s/result.json", dir, dag.nodes[dag.rows[i].node].id);
        char *json;
        if (!sh_file_exists(path))
            continue; /* not finished (or skipped by the stopping rule) */
        if ((st = sh_file_read(path, 1 << 20, &json, &len, err)) != SH_OK)
            break;
        sh_job_result_t r;
        st = sh_result_parse(&r, json, len, err);
        free(json);
        if (st != SH_OK) {
            sh_err_prefix(err, "%s", path);
            break;
        }
        sh_row_init(&d->rows[d->n_rows++], &d->sw, &dag, i, &r);
    }
    sh_dag_clear(&dag);
    if (st != SH_OK) {
        report_free(d);
        return st;
    }
    if (d->n_rows == 0) {
        report_free(d);
        return sh_fail(err, SH_ENOTFOUND, "%s: no finished jobs yet", dir);
    }
    aggregate(d);
    return SH_OK;
}

sh_status_t report_load(report_data_t *d, const char *src, const char *endpoint,
                        const sh_curve_t *curve, const char *cache_dir, sh_err_t *err)
{
    memset(d, 0, sizeof *d);
    struct stat stt;
    if (stat(src, &stt) == 0 && S_ISDIR(stt.st_mode))
        return load_dir(d, src, err);
    if (!is_sweep_id(src))
        return sh_fail(err, SH_EARG, "'%s' is neither a results directory nor a sweep id", src);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/sweep-%s", cache_dir, src);
    sh_status_t st = fetch_sweep(src, endpoint, curve, dir, err);
    if (st != SH_OK) {
        sh_err_prefix(err, "sweep %s", src);
        return st;
    }
    return load_dir(d, dir, err);
}

void report_free(report_data_t *d)
{
    for (int t = 0; t < d->n_curves; t++)
        free(d->curves[t].pts);
    d->n_curves = 0;
    free(d->rows);
    d->rows = NULL;
    free(d->yaml);
    d->yaml = NULL;
    if (d->sw.resolved)
        sh_sweep_clear(&d->sw);
}

void report_job_file(const report_data_t *d, const char *job, const char *name, char *buf,
                     size_t cap)
{
    buf[0] = '\0';
    if (!d->dir[0])
        return;
    snprintf(buf, cap, "%s/jobs/%s/%s", d->dir, job, name);
    if (!sh_file_exists(buf))
        buf[0] = '\0';
}
