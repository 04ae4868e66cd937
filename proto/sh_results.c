/* sh_results.c - result JSON and the metrics/table writers. */
#include "sh_results.h"

#include "sh_doc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void put_num(char *buf, size_t cap, size_t *k, const char *key, double v, int last)
{
    if (isfinite(v))
        *k += (size_t)snprintf(buf + *k, cap - *k, "\"%s\":%.17g%s", key, v, last ? "" : ",");
    else
        *k += (size_t)snprintf(buf + *k, cap - *k, "\"%s\":null%s", key, last ? "" : ",");
}

char *sh_result_to_json(const sh_job_result_t *r)
{
    const size_t cap = 1024;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    size_t k = 0;
    buf[k++] = '{';
    put_num(buf, cap, &k, "test_accuracy", r->test_accuracy, 0);
    put_num(buf, cap, &k, "test_loss", r->test_loss, 0);
    put_num(buf, cap, &k, "val_accuracy", r->val_accuracy, 0);
    put_num(buf, cap, &k, "val_loss", r->val_loss, 0);
    put_num(buf, cap, &k, "train_loss", r->train_loss, 0);
    put_num(buf, cap, &k, "density", r->density, 0);
    k += (size_t)snprintf(buf + k, cap - k, "\"alive\":%ld,\"prunable\":%ld,\"epochs\":%d,",
                          r->alive, r->prunable, r->epochs);
    put_num(buf, cap, &k, "seconds", r->seconds, 0);
    k += (size_t)snprintf(buf + k, cap - k, "\"model_bytes\":%llu,",
                          (unsigned long long)r->model_bytes);
    put_num(buf, cap, &k, "compression", r->compression, 0);
    put_num(buf, cap, &k, "model_accuracy", r->model_accuracy, 1);
    snprintf(buf + k, cap - k, "}");
    return buf;
}

static int num_or_null(const sh_doc_t *root, const char *key, double *out, sh_err_t *err)
{
    const sh_doc_t *n = sh_doc_child(root, key);
    if (!n) {
        sh_fail(err, SH_EFORMAT, "result: missing '%s'", key);
        return -1;
    }
    if (n->kind == SH_DOC_SCALAR && !n->quoted && !strcmp(n->text, "null")) {
        *out = NAN;
        return 0;
    }
    return sh_doc_double(n, "result", key, out, err) == SH_OK ? 0 : -1;
}

sh_status_t sh_result_parse(sh_job_result_t *r, const char *json, size_t len, sh_err_t *err)
{
    memset(r, 0, sizeof *r);
    sh_doc_t *root;
    if (sh_doc_parse(&root, json, len, "result", err) != SH_OK)
        return SH_EFORMAT;
    if (root->kind != SH_DOC_MAP) {
        sh_doc_free(&root);
        return sh_fail(err, SH_EFORMAT, "result: expected a map of fields");
    }
    double alive = 0, prunable = 0, epochs = 0;
    int bad = num_or_null(root, "test_accuracy", &r->test_accuracy, err) ||
              num_or_null(root, "test_loss", &r->test_loss, err) ||
              num_or_null(root, "val_accuracy", &r->val_accuracy, err) ||
              num_or_null(root, "val_loss", &r->val_loss, err) ||
              num_or_null(root, "train_loss", &r->train_loss, err) ||
              num_or_null(root, "density", &r->density, err) ||
              num_or_null(root, "alive", &alive, err) ||
              num_or_null(root, "prunable", &prunable, err) ||
              num_or_null(root, "epochs", &epochs, err) ||
              num_or_null(root, "seconds", &r->seconds, err);
    /* Compressed-model fields are optional (absent from older results). */
    double model_bytes = 0;
    r->compression = r->model_accuracy = NAN;
    if (!bad && sh_doc_child(root, "model_bytes"))
        bad = num_or_null(root, "model_bytes", &model_bytes, err) ||
              num_or_null(root, "compression", &r->compression, err) ||
              num_or_null(root, "model_accuracy", &r->model_accuracy, err);
    sh_doc_free(&root);
    if (bad)
        return SH_EFORMAT;
    if (!(alive >= 0 && alive <= 1e12 && prunable >= 0 && prunable <= 1e12 && epochs >= 0 &&
          epochs <= 1e6))
        return sh_fail(err, SH_EFORMAT, "result: counts out of range");
    if (!(model_bytes >= 0 && model_bytes <= 1e15))
        return sh_fail(err, SH_EFORMAT, "result: model_bytes out of range");
    r->model_bytes = (uint64_t)model_bytes;
    r->alive = (long)alive;
    r->prunable = (long)prunable;
    r->epochs = (int)epochs;
    return SH_OK;
}

void sh_row_init(sh_row_t *row, const sh_sweep_t *sw, const sh_dag_t *dag, int dag_row,
                 const sh_job_result_t *r)
{
    const sh_dag_row_t *dr = &dag->rows[dag_row];
    const sh_dag_node_t *node = &dag->nodes[dr->node];
    memset(row, 0, sizeof *row);
    memcpy(row->job, node->id, sizeof row->job);
    row->kind = node->spec.kind;
    snprintf(row->technique, sizeof row->technique, "%s",
             dr->technique < 0 ? "none" : sw->retrain[dr->technique].label);
    row->seed = sw->seeds[dr->seed_index];
    row->round = dr->round;
    row->target_density = dr->round == 0 ? 1.0 : node->spec.density;
    row->r = *r;
}

static void fmt_opt(char *buf, size_t cap, double v, const char *fmt)
{
    if (isfinite(v))
        snprintf(buf, cap, fmt, v);
    else
        buf[0] = '\0';
}

void sh_rows_write_csv(FILE *f, const sh_row_t *rows, int n)
{
    fprintf(f, "job,kind,technique,seed,round,density,target_density,test_accuracy,test_loss,"
               "val_accuracy,train_loss,epochs,seconds,model_bytes,compression,"
               "model_accuracy\n");
    for (int i = 0; i < n; i++) {
        const sh_row_t *w = &rows[i];
        char val[40], comp[40], macc[40];
        fmt_opt(val, sizeof val, w->r.val_accuracy, "%.6f");
        fmt_opt(comp, sizeof comp, w->r.model_bytes ? w->r.compression : NAN, "%.2f");
        fmt_opt(macc, sizeof macc, w->r.model_bytes ? w->r.model_accuracy : NAN, "%.6f");
        fprintf(f, "%s,%s,%s,%llu,%d,%.8f,%.8f,%.6f,%.6f,%s,%.6f,%d,%.3f,%llu,%s,%s\n", w->job,
                w->kind == SH_JOB_TRAIN ? "train" : "prune", w->technique,
                (unsigned long long)w->seed, w->round, w->r.density, w->target_density,
                w->r.test_accuracy, w->r.test_loss, val, w->r.train_loss, w->r.epochs,
                w->r.seconds, (unsigned long long)w->r.model_bytes, comp, macc);
    }
}

void sh_rows_write_jsonl(FILE *f, const sh_row_t *rows, int n)
{
    for (int i = 0; i < n; i++) {
        const sh_row_t *w = &rows[i];
        char val[40], comp[40], macc[40];
        fmt_opt(val, sizeof val, w->r.val_accuracy, "%.6f");
        fmt_opt(comp, sizeof comp, w->r.model_bytes ? w->r.compression : NAN, "%.2f");
        fmt_opt(macc, sizeof macc, w->r.model_bytes ? w->r.model_accuracy : NAN, "%.6f");
        fprintf(f,
                "{\"job\":\"%s\",\"kind\":\"%s\",\"technique\":\"%s\",\"seed\":%llu,"
                "\"round\":%d,\"density\":%.8f,\"target_density\":%.8f,"
                "\"test_accuracy\":%.6f,\"test_loss\":%.6f,\"val_accuracy\":%s,"
                "\"train_loss\":%.6f,\"epochs\":%d,\"seconds\":%.3f,\"model_bytes\":%llu,"
                "\"compression\":%s,\"model_accuracy\":%s}\n",
                w->job, w->kind == SH_JOB_TRAIN ? "train" : "prune", w->technique,
                (unsigned long long)w->seed, w->round, w->r.density, w->target_density,
                w->r.test_accuracy, w->r.test_loss, val[0] ? val : "null", w->r.train_loss,
                w->r.epochs, w->r.seconds, (unsigned long long)w->r.model_bytes,
                comp[0] ? comp : "null", macc[0] ? macc : "null");
    }
}

/* Mean and sample standard deviation of test accuracy over matching rows. */
static int cell(const sh_row_t *rows, int n, const char *technique, int round, double *mean,
                double *sd, double *density)
{
    double s = 0, sq = 0, d = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (rows[i].round == round && !strcmp(rows[i].technique, technique)) {
            s += rows[i].r.test_accuracy;
            sq += rows[i].r.test_accuracy * rows[i].r.test_accuracy;
            d += rows[i].r.density;
            k++;
        }
    if (!k)
        return 0;
    *mean = s / k;
    *sd = k > 1 ? sqrt(fmax(0.0, (sq - s * s / k) / (k - 1))) : 0.0;
    *density = d / k;
    return k;
}

void sh_rows_print_table(FILE *f, const sh_sweep_t *sw, const sh_row_t *rows, int n)
{
    double mean, sd, dens;
    int k = cell(rows, n, "none", 0, &mean, &sd, &dens);
    fprintf(f, "\n%s: %s on %s, %d seed%s\n", sw->name, sw->model, sw->dataset, sw->n_seeds,
            sw->n_seeds == 1 ? "" : "s");
    if (k)
        fprintf(f, "dense test accuracy: %.2f%%%s\n", 100 * mean,
                k > 1 ? "" : "");
    if (k > 1)
        fprintf(f, "  (+/- %.2f over %d seeds)\n", 100 * sd, k);
    fprintf(f, "\n%5s %9s", "round", "density");
    for (int t = 0; t < sw->n_retrain; t++)
        fprintf(f, " %*s", sw->n_seeds > 1 ? 17 : 14, sw->retrain[t].label);
    fprintf(f, "\n");
    for (int round = 1; round <= sw->rounds; round++) {
        fprintf(f, "%5d %8.2f%%", round, 100 * sh_sweep_density(sw, round));
        for (int t = 0; t < sw->n_retrain; t++) {
            char text[40];
            int got = cell(rows, n, sw->retrain[t].label, round, &mean, &sd, &dens);
            if (!got)
                snprintf(text, sizeof text, "-");
            else if (sw->n_seeds > 1)
                snprintf(text, sizeof text, "%.2f%% +/-%.2f", 100 * mean, 100 * sd);
            else
                snprintf(text, sizeof text, "%.2f%%", 100 * mean);
            fprintf(f, " %*s", sw->n_seeds > 1 ? 17 : 14, text);
        }
        fprintf(f, "\n");
    }
}
