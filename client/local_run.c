/* local_run.c - the in-process sweep runner: job threads pick ready DAG
 * nodes, run them with sh_exec_job, publish result.json, apply the stopping
 * rule, and keep metrics files current; the calling thread draws progress. */
#include "local_run.h"

#include "sh_exec.h"
#include "sh_file.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum { N_PENDING, N_RUNNING, N_DONE, N_FAILED, N_SKIPPED, N_BLOCKED } nstate_t;

typedef struct {
    nstate_t state;
    int reused;
    sh_job_result_t result;
    char error[512];
} node_state_t;

typedef struct {
    int node;           /* -1 when idle */
    sh_progress_t p;
    double started;
} slot_t;

typedef struct {
    const sh_sweep_t *sw;
    const local_run_opts_t *o;
    sh_dag_t dag;
    node_state_t *ns;
    char *row_skipped;
    slot_t *slots;
    sh_datasets_t *datasets;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int running;
    int finished_threads;
    sh_err_t first_error;
    int had_error;
} runner_t;

typedef struct {
    runner_t *r;
    int slot;
} worker_arg_t;

/* ---- paths and labels ------------------------------------------------------ */

static void job_dir(const runner_t *r, int node, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/jobs/%s", r->o->out_dir, r->dag.nodes[node].id);
}

static int first_row(const runner_t *r, int node)
{
    for (int i = 0; i < r->dag.n_rows; i++)
        if (r->dag.rows[i].node == node)
            return i;
    return -1;
}

static void node_label(const runner_t *r, int node, char *buf, size_t cap)
{
    int row = first_row(r, node);
    if (row < 0) { /* a rewind point */
        const sh_jobspec_t *s = &r->dag.nodes[node].spec;
        snprintf(buf, cap, "rewind-point e%d seed %llu", s->until, (unsigned long long)s->seed);
        return;
    }
    const sh_dag_row_t *dr = &r->dag.rows[row];
    if (dr->technique < 0)
        snprintf(buf, cap, "dense seed %llu", (unsigned long long)r->sw->seeds[dr->seed_index]);
    else
        snprintf(buf, cap, "%s r%d seed %llu", r->sw->retrain[dr->technique].label, dr->round,
                 (unsigned long long)r->sw->seeds[dr->seed_index]);
}

/* ---- state transitions (lock held) --------------------------------------- */

/* A node is wanted when one of its rows is not skipped, or when a wanted
 * node that is not done yet depends on it (rewind points have no rows).
 * Nodes are in topological order, so one backward pass settles it. */
static void compute_wanted(const runner_t *r, char *wanted)
{
    memset(wanted, 0, (size_t)r->dag.n_nodes);
    for (int i = 0; i < r->dag.n_rows; i++)
        if (!r->row_skipped[i])
            wanted[r->dag.rows[i].node] = 1;
    for (int i = r->dag.n_nodes - 1; i >= 0; i--) {
        if (!wanted[i] || r->ns[i].state == N_DONE)
            continue;
        if (r->dag.nodes[i].parent >= 0)
            wanted[r->dag.nodes[i].parent] = 1;
        if (r->dag.nodes[i].source >= 0)
            wanted[r->dag.nodes[i].source] = 1;
    }
}

/* Settles pending nodes whose fate is already decided: unwanted -> skipped,
 * parent failed -> blocked, parent skipped -> skipped. */
static void settle(runner_t *r)
{
    char *wanted = sh_xmalloc((size_t)r->dag.n_nodes + 1);
    compute_wanted(r, wanted);
    for (int i = 0; i < r->dag.n_nodes; i++) {
        if (r->ns[i].state != N_PENDING)
            continue;
        const sh_dag_node_t *n = &r->dag.nodes[i];
        int deps[2] = {n->parent, n->source};
        for (int d = 0; d < 2; d++) {
            if (deps[d] < 0)
                continue;
            nstate_t ds = r->ns[deps[d]].state;
            if (ds == N_FAILED || ds == N_BLOCKED)
                r->ns[i].state = N_BLOCKED;
            else if (ds == N_SKIPPED && r->ns[i].state == N_PENDING)
                r->ns[i].state = N_SKIPPED;
        }
        if (r->ns[i].state == N_PENDING && !wanted[i])
            r->ns[i].state = N_SKIPPED;
    }
    free(wanted);
}

static int ready(const runner_t *r, int i)
{
    const sh_dag_node_t *n = &r->dag.nodes[i];
    return r->ns[i].state == N_PENDING && (n->parent < 0 || r->ns[n->parent].state == N_DONE) &&
           (n->source < 0 || r->ns[n->source].state == N_DONE);
}

/* The stopping rule: a chain whose accuracy fell more than max_drop below
 * its seed's dense accuracy runs no further rounds. */
static void apply_stop(runner_t *r, int node, FILE *log)
{
    if (!r->sw->has_stop)
        return;
    for (int i = 0; i < r->dag.n_rows; i++) {
        const sh_dag_row_t *dr = &r->dag.rows[i];
        if (dr->node != node || dr->technique < 0 || r->row_skipped[i])
            continue;
        int dense = sh_dag_find_row(&r->dag, dr->seed_index, -1, 0);
        if (dense < 0 || r->ns[r->dag.rows[dense].node].state != N_DONE)
            continue;
        double base = r->ns[r->dag.rows[dense].node].result.test_accuracy;
        double acc = r->ns[node].result.test_accuracy;
        if (acc >= base - r->sw->max_drop)
            continue;
        int stopped = 0;
        for (int j = 0; j < r->dag.n_rows; j++) {
            const sh_dag_row_t *o = &r->dag.rows[j];
            if (o->seed_index == dr->seed_index && o->technique == dr->technique &&
                o->round > dr->round && !r->row_skipped[j]) {
                r->row_skipped[j] = 1;
                stopped++;
            }
        }
        if (stopped && log)
            fprintf(log, "stop   %s seed %llu after round %d: %.2f%% is more than %.2f points "
                         "below dense %.2f%%; %d round%s skipped\n",
                    r->sw->retrain[dr->technique].label,
                    (unsigned long long)r->sw->seeds[dr->seed_index], dr->round, 100 * acc,
                    100 * r->sw->max_drop, 100 * base, stopped, stopped == 1 ? "" : "s");
    }
    settle(r);
}

/* Rows of finished nodes, in DAG row order. */
static int collect_rows(const runner_t *r, sh_row_t **out)
{
    sh_row_t *rows = sh_xcalloc((size_t)r->dag.n_rows + 1, sizeof *rows);
    int n = 0;
    for (int i = 0; i < r->dag.n_rows; i++) {
        int node = r->dag.rows[i].node;
        if (r->ns[node].state == N_DONE && !r->row_skipped[i])
            sh_row_init(&rows[n++], r->sw, &r->dag, i, &r->ns[node].result);
    }
    *out = rows;
    return n;
}

static void write_metrics(const runner_t *r)
{
    sh_row_t *rows;
    int n = collect_rows(r, &rows);
    char path[4096];
    char *buf;
    size_t len;
    FILE *mem = open_memstream(&buf, &len);
    if (mem) {
        sh_rows_write_csv(mem, rows, n);
        fclose(mem);
        snprintf(path, sizeof path, "%s/metrics.csv", r->o->out_dir);
        sh_file_write_atomic(path, buf, len, NULL);
        free(buf);
    }
    mem = open_memstream(&buf, &len);
    if (mem) {
        sh_rows_write_jsonl(mem, rows, n);
        fclose(mem);
        snprintf(path, sizeof path, "%s/metrics.jsonl", r->o->out_dir);
        sh_file_write_atomic(path, buf, len, NULL);
        free(buf);
    }
    free(rows);
}

/* A node whose directory holds a valid result.json and final.ckpt is done. */
static int load_previous(runner_t *r, int node)
{
    char dir[4096], path[4200];
    job_dir(r, node, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, SH_FINAL_CKPT);
    if (!sh_file_exists(path))
        return 0;
    snprintf(path, sizeof path, "%s/result.json", dir);
    char *json;
    size_t len;
    if (sh_file_read(path, 1 << 16, &json, &len, NULL) != SH_OK)
        return 0;
    int ok = sh_result_parse(&r->ns[node].result, json, len, NULL) == SH_OK;
    free(json);
    return ok;
}

/* ---- job threads ------------------------------------------------------------ */

static void on_progress(void *user, const sh_progress_t *p)
{
    slot_t *s = user;
    /* Torn reads by the display thread are harmless: it only prints them. */
    s->p = *p;
}

static sh_status_t run_node(runner_t *r, int node, slot_t *slot, sh_job_result_t *res,
                            sh_err_t *err)
{
    const sh_dag_node_t *n = &r->dag.nodes[node];
    char dir[4096], parent[4300], source[4300], path[4300];
    job_dir(r, node, dir, sizeof dir);
    sh_status_t st = sh_mkdirs(dir, err);
    if (st != SH_OK)
        return st;
    const sh_data_bundle_t *data;
    st = sh_datasets_get(r->datasets, r->sw->dataset, r->sw->data_path, r->sw->validation, &data,
                         err);
    if (st != SH_OK)
        return st;
    sh_exec_t x = {.spec = &n->spec, .data = data, .out_dir = dir, .progress = on_progress,
                   .cancel = r->o->cancel, .user = slot};
    x.threads = r->o->threads / r->o->jobs > 0 ? r->o->threads / r->o->jobs : 1;
    if (n->parent >= 0) {
        job_dir(r, n->parent, parent, sizeof parent);
        strcat(parent, "/" SH_FINAL_CKPT);
        x.parent_ckpt = parent;
    }
    if (n->source >= 0) {
        job_dir(r, n->source, source, sizeof source);
        strcat(source, "/" SH_FINAL_CKPT);
        x.source_ckpt = source;
    }
    st = sh_exec_job(&x, res, err);
    if (st != SH_OK)
        return st;
    char *json = sh_result_to_json(res);
    if (!json)
        return sh_fail(err, SH_ENOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/result.json", dir);
    st = sh_file_write_atomic(path, json, strlen(json), err);
    free(json);
    return st;
}

static int pick(runner_t *r)
{
    for (int i = 0; i < r->dag.n_nodes; i++)
        if (ready(r, i))
            return i;
    return -1;
}

static void *worker_main(void *p)
{
    worker_arg_t *a = p;
    runner_t *r = a->r;
    slot_t *slot = &r->slots[a->slot];
    FILE *log = r->o->tty || r->o->quiet ? NULL : stderr;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        if (r->o->cancel && *r->o->cancel)
            break;
        int node = pick(r);
        if (node < 0) {
            if (r->running == 0)
                break;
            pthread_cond_wait(&r->cond, &r->lock);
            continue;
        }
        r->ns[node].state = N_RUNNING;
        r->running++;
        char label[96];
        node_label(r, node, label, sizeof label);
        slot->node = node;
        slot->started = sh_now();
        memset(&slot->p, 0, sizeof slot->p);
        if (log)
            fprintf(log, "start  %-28s job %.12s\n", label, r->dag.nodes[node].id);
        pthread_mutex_unlock(&r->lock);

        sh_job_result_t res;
        sh_err_t err = {{0}};
        sh_status_t st = run_node(r, node, slot, &res, &err);

        pthread_mutex_lock(&r->lock);
        r->running--;
        slot->node = -1;
        if (st == SH_OK) {
            r->ns[node].state = N_DONE;
            r->ns[node].result = res;
            if (log)
                fprintf(log, "done   %-28s test accuracy %.2f%% at density %.2f%% (%.1f s)\n",
                        label, 100 * res.test_accuracy, 100 * res.density, res.seconds);
            apply_stop(r, node, log ? log : NULL);
            write_metrics(r);
        } else if (st == SH_ECANCELED) {
            r->ns[node].state = N_PENDING;
        } else {
            r->ns[node].state = N_FAILED;
            snprintf(r->ns[node].error, sizeof r->ns[node].error, "%s", err.msg);
            fprintf(stderr, "failed %-28s %s\n", label, err.msg);
            if (!r->had_error) {
                r->had_error = 1;
                snprintf(r->first_error.msg, sizeof r->first_error.msg, "%.80s: %.400s", label,
                         err.msg);
            }
            settle(r);
        }
        pthread_cond_broadcast(&r->cond);
    }
    r->finished_threads++;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* ---- display ------------------------------------------------------------------ */

static void count(const runner_t *r, int *done, int *total, int *failed)
{
    *done = *total = *failed = 0;
    for (int i = 0; i < r->dag.n_nodes; i++) {
        nstate_t s = r->ns[i].state;
        if (s == N_SKIPPED)
            continue;
        (*total)++;
        *done += s == N_DONE;
        *failed += s == N_FAILED || s == N_BLOCKED;
    }
}

static void bar(char *buf, size_t width, double frac)
{
    size_t fill = (size_t)(frac * (double)width + 0.5);
    if (fill > width)
        fill = width;
    for (size_t i = 0; i < width; i++)
        buf[i] = i < fill ? '#' : '.';
    buf[width] = '\0';
}

/* Redraws the block of progress lines in place (ANSI cursor movement). */
static int draw(runner_t *r, int prev_lines, double t0)
{
    int done, total, failed;
    count(r, &done, &total, &failed);
    for (int i = 0; i < prev_lines; i++)
        fputs("\033[1A\033[2K", stderr);
    char b[41];
    bar(b, 40, total ? (double)done / total : 1.0);
    fprintf(stderr, "sweep %s [%s] %d/%d jobs", r->sw->name, b, done, total);
    if (failed)
        fprintf(stderr, ", %d failed", failed);
    fprintf(stderr, "  %.0f s\n", sh_now() - t0);
    int lines = 1;
    for (int s = 0; s < r->o->jobs; s++) {
        slot_t *sl = &r->slots[s];
        if (sl->node < 0) {
            fprintf(stderr, "  idle\n");
        } else {
            char label[96], pb[25];
            node_label(r, sl->node, label, sizeof label);
            sh_progress_t p = sl->p;
            double frac = p.epochs > 0 && p.batches > 0
                              ? ((p.epoch - 1) + (double)p.batch / p.batches) / p.epochs
                              : 0.0;
            bar(pb, 24, frac);
            fprintf(stderr, "  %-26s epoch %3d/%-3d [%s] loss %.4f %s\n", label, p.epoch,
                    p.epochs, pb, p.loss, p.phase ? p.phase : "starting");
        }
        lines++;
    }
    fflush(stderr);
    return lines;
}

sh_status_t local_run(const sh_sweep_t *sw, const local_run_opts_t *o,
                      local_run_summary_t *summary, sh_err_t *err)
{
    memset(summary, 0, sizeof *summary);
    runner_t r = {.sw = sw, .o = o};
    sh_status_t st = sh_sweep_expand(sw, &r.dag, err);
    if (st != SH_OK)
        return st;
    char path[4096];
    snprintf(path, sizeof path, "%s/jobs", o->out_dir);
    if ((st = sh_mkdirs(path, err)) != SH_OK) {
        sh_dag_clear(&r.dag);
        return st;
    }
    char *yaml = sh_doc_to_yaml(sw->resolved);
    snprintf(path, sizeof path, "%s/sweep.yaml", o->out_dir);
    st = yaml ? sh_file_write_atomic(path, yaml, strlen(yaml), err)
              : sh_fail(err, SH_ENOMEM, "out of memory");
    free(yaml);
    if (st != SH_OK) {
        sh_dag_clear(&r.dag);
        return st;
    }
    r.ns = sh_xcalloc((size_t)r.dag.n_nodes, sizeof *r.ns);
    r.row_skipped = sh_xcalloc((size_t)r.dag.n_rows + 1, 1);
    r.slots = sh_xcalloc((size_t)o->jobs, sizeof *r.slots);
    for (int s = 0; s < o->jobs; s++)
        r.slots[s].node = -1;
    r.datasets = sh_datasets_new();
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.cond, NULL);

    /* Reuse finished jobs, replaying the stopping rule over them in order. */
    for (int i = 0; i < r.dag.n_nodes; i++)
        if (load_previous(&r, i)) {
            r.ns[i].state = N_DONE;
            r.ns[i].reused = 1;
            summary->reused++;
        }
    for (int i = 0; i < r.dag.n_nodes; i++)
        if (r.ns[i].state == N_DONE)
            apply_stop(&r, i, NULL);
    settle(&r);
    write_metrics(&r);
    if (summary->reused && !o->tty && !o->quiet)
        fprintf(stderr, "reusing %d finished job%s from %s\n", summary->reused,
                summary->reused == 1 ? "" : "s", o->out_dir);

    pthread_t *threads = sh_xcalloc((size_t)o->jobs, sizeof *threads);
    worker_arg_t *args = sh_xcalloc((size_t)o->jobs, sizeof *args);
    for (int s = 0; s < o->jobs; s++) {
        args[s] = (worker_arg_t){.r = &r, .slot = s};
        pthread_create(&threads[s], NULL, worker_main, &args[s]);
    }
    double t0 = sh_now();
    int lines = 0;
    pthread_mutex_lock(&r.lock);
    while (r.finished_threads < o->jobs) {
        if (o->tty)
            lines = draw(&r, lines, t0);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r.cond, &r.lock, &ts);
        if (o->cancel && *o->cancel)
            pthread_cond_broadcast(&r.cond);
    }
    if (o->tty)
        draw(&r, lines, t0);
    pthread_mutex_unlock(&r.lock);
    for (int s = 0; s < o->jobs; s++)
        pthread_join(threads[s], NULL);
    free(threads);
    free(args);

    for (int i = 0; i < r.dag.n_nodes; i++) {
        switch (r.ns[i].state) {
        case N_DONE: summary->done++; break;
        case N_FAILED: summary->failed++; break;
        case N_SKIPPED: summary->skipped++; break;
        case N_BLOCKED: summary->blocked++; break;
        default: break;
        }
    }
    write_metrics(&r);
    summary->n_rows = collect_rows(&r, &summary->rows);
    if (o->cancel && *o->cancel)
        st = sh_fail(err, SH_ECANCELED, "interrupted; finished jobs are kept in %s", o->out_dir);
    else if (r.had_error)
        st = sh_fail(err, SH_EIO, "%d job%s failed (first: %s)", summary->failed,
                     summary->failed == 1 ? "" : "s", r.first_error.msg);
    else
        st = SH_OK;
    sh_datasets_destroy(&r.datasets);
    pthread_mutex_destroy(&r.lock);
    pthread_cond_destroy(&r.cond);
    free(r.ns);
    free(r.row_skipped);
    free(r.slots);
    sh_dag_clear(&r.dag);
    return st;
}
