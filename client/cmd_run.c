/* cmd_run.c - `shears run`: a broker and N workers in this process, over
 * inproc sockets, driven by the same client calls as a remote sweep. The
 * local and the distributed path are one code path; only the transport
 * differs. State lives in DIR/.shears (SQLite, artifacts), so rerunning into
 * the same DIR reuses every finished job and an interrupted run continues. */
#include "client_api.h"
#include "commands.h"
#include "export.h"
#include "progress.h"

#include "sh_broker.h"
#include "sh_file.h"
#include "sh_mpack.h"
#include "sh_sweep.h"
#include "sh_worker.h"

#include <getopt.h>
#include <omp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

int print_results(const sh_results_payload_t *res, int csv, int json);

/* examples/default.yaml, compiled in (client/CMakeLists.txt). */
extern const char default_sweep_yaml[];

static volatile int interrupted;
static volatile int stop_workers, stop_broker;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: shears run [SWEEP.yaml] [-o DIR] [-j N] [-t THREADS] [--set KEY=VALUE]...\n\n"
            "Runs every job of a sweep on this machine and prints the accuracy-vs-density\n"
            "table. Without SWEEP.yaml, runs the built-in sweep (LeNet-300-100 on\n"
            "Fashion-MNIST). A broker and N workers run inside this process, exactly as\n"
            "they would across machines. Finished jobs in DIR are reused, so an\n"
            "interrupted run continues where it stopped.\n\n"
            "  -o, --out DIR       output directory (default: runs/<sweep name>)\n"
            "  -j, --jobs N        workers, i.e. jobs in parallel (default: 2 or the number\n"
            "                      of CPUs, whichever is smaller)\n"
            "  -t, --threads N     OpenMP threads in all, split between workers\n"
            "                      (default: the number of CPUs)\n"
            "      --set K=V       override a sweep field, e.g. --set train.epochs=2\n"
            "                      (repeatable; V is YAML, e.g. '[10, 15]')\n"
            "      --print-sweep   print the resolved sweep and exit\n"
            "  -q, --quiet         no progress output\n\n"
            "DIR gets metrics.csv, metrics.jsonl, sweep.yaml (the sweep with every\n"
            "default filled in) and jobs/<id>/ (checkpoint, result.json) per job;\n"
            "DIR/.shears holds the embedded broker's state and its log.\n");
}

static int parse_count(const char *s, const char *what, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 4096) {
        fprintf(stderr, "shears run: %s must be a number from 1 to 4096, not '%s'\n", what, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

typedef struct {
    void *ctx;
    sh_broker_opts_t bo;
    sh_worker_opts_t wo;
    sh_status_t st;
    sh_err_t err;
} thread_arg_t;

static void *broker_main(void *p)
{
    thread_arg_t *a = p;
    a->st = sh_broker_run(a->ctx, &a->bo, &a->err);
    if (a->bo.ready)
        *a->bo.ready = -1; /* also wakes a starter waiting for a failed bind */
    return NULL;
}

static void *worker_main(void *p)
{
    thread_arg_t *a = p;
    a->st = sh_worker_run(a->ctx, &a->wo, &a->err);
    return NULL;
}

/* Following a sweep: the live display, and DIR kept current - the results of
 * finished jobs are exported as they finish (at most every EXPORT_EVERY
 * seconds, since each export rewrites every row), so a long sweep's
 * metrics.csv can be read (and plotted) while it runs. */
#define EXPORT_EVERY 2.0

typedef struct {
    progress_t p;
    int show;
    sh_client_t *c; /* a second connection: the first is busy watching */
    int64_t sweep;
    const char *out_dir, *store_dir;
    int exported;       /* finished jobs at the last export */
    double exported_at; /* when (sh_now) */
} follow_t;

/* Fetches the sweep's results into *res (free with sh_results_free and
 * free(*data)). */
static sh_status_t fetch_results(sh_client_t *c, int64_t sweep, sh_results_payload_t *res,
                                 char **data, sh_err_t *err)
{
    sh_msg_sweep_req_t req = {.sweep = (uint64_t)sweep};
    size_t len;
    sh_status_t st = sh_client_call(c, SH_C_RESULTS, &req, data, &len, NULL, NULL, err);
    if (st != SH_OK)
        return st;
    if ((st = sh_results_decode(res, *data, len, err)) != SH_OK)
        free(*data);
    return st;
}

static void export_now(follow_t *f)
{
    sh_err_t err;
    sh_results_payload_t res;
    char *data;
    int files;
    if (fetch_results(f->c, f->sweep, &res, &data, &err) != SH_OK)
        return; /* the final export reports errors */
    sh_export_results(&res, f->out_dir, f->store_dir, f->c, &files, &err);
    sh_results_free(&res);
    free(data);
}

static void on_partial(void *user, const char *data, size_t len)
{
    follow_t *f = user;
    sh_status_payload_t s;
    if (sh_status_decode(&s, data, len, NULL) != SH_OK)
        return;
    if (f->show)
        progress_show(&f->p, &s);
    int finished = 0;
    for (int i = 0; i < s.n_sweeps; i++)
        if (s.sweeps[i].id == f->sweep)
            finished = s.sweeps[i].done + s.sweeps[i].skipped + s.sweeps[i].failed;
    sh_status_free(&s);
    if (finished > f->exported && f->c && sh_now() - f->exported_at >= EXPORT_EVERY) {
        f->exported = finished;
        f->exported_at = sh_now();
        export_now(f);
    }
}

static int read_sweep_text(const char *path, char **text, size_t *len)
{
    sh_err_t err;
    if (!path) {
        *text = strdup(default_sweep_yaml);
        *len = strlen(*text);
        return 0;
    }
    if (sh_file_read(path, SH_WIRE_MAX_TEXT, text, len, &err) != SH_OK) {
        fprintf(stderr, "shears run: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},     {"jobs", required_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 't'}, {"set", required_argument, NULL, 's'},
        {"quiet", no_argument, NULL, 'q'},         {"print-sweep", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *out_dir = NULL;
    int procs = omp_get_num_procs();
    int jobs = procs < 2 ? procs : 2, threads = procs, quiet = 0, print_sweep = 0;
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int n_sets = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:j:t:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': out_dir = optarg; break;
        case 'j':
            if (parse_count(optarg, "-j", &jobs)) goto usage_error;
            break;
        case 't':
            if (parse_count(optarg, "--threads", &threads)) goto usage_error;
            break;
        case 's': sets[n_sets++] = optarg; break;
        case 'q': quiet = 1; break;
        case 'p': print_sweep = 1; break;
        case 'h':
            run_usage(stdout);
            free(sets);
            return 0;
        default: goto usage_error;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "shears run: expected at most one sweep file\n");
        goto usage_error;
    }
    const char *file = optind < argc ? argv[optind] : NULL;
    const char *name = file ? file : "built-in sweep";
    char *text;
    size_t text_len;
    if (read_sweep_text(file, &text, &text_len) != 0) {
        free(sets);
        return EXIT_USAGE;
    }
    /* Validate here too, for a quick error before anything starts. */
    sh_sweep_t sw;
    sh_err_t err;
    if (sh_sweep_parse(&sw, text, text_len, name, sets, n_sets, &err) != SH_OK) {
        fprintf(stderr, "shears run: %s\n", err.msg);
        free(text);
        free(sets);
        return EXIT_USAGE;
    }
    if (print_sweep) {
        char *yaml = sh_doc_to_yaml(sw.resolved);
        fputs(yaml ? yaml : "", stdout);
        free(yaml);
        sh_sweep_clear(&sw);
        free(text);
        free(sets);
        return 0;
    }
    char default_out[256], state_dir[4200], log_path[4300], store_dir[4300];
    if (!out_dir) {
        snprintf(default_out, sizeof default_out, "runs/%s", sw.name);
        out_dir = default_out;
    }
    snprintf(state_dir, sizeof state_dir, "%s/.shears", out_dir);
    snprintf(log_path, sizeof log_path, "%s/log", state_dir);
    snprintf(store_dir, sizeof store_dir, "%s/artifacts", state_dir);
    if (jobs > threads)
        threads = jobs;
    if (sh_mkdirs(state_dir, &err) != SH_OK) {
        fprintf(stderr, "shears run: %s\n", err.msg);
        sh_sweep_clear(&sw);
        free(text);
        free(sets);
        return EXIT_USAGE;
    }
    FILE *log = fopen(log_path, "a");
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (!quiet)
        fprintf(stderr, "shears run: sweep %s, %s on %s, %d worker%s x %d thread%s, output in "
                        "%s (log: %s)\n", sw.name, sw.model, sw.dataset, jobs,
                jobs == 1 ? "" : "s", threads / jobs, threads / jobs == 1 ? "" : "s", out_dir,
                log_path);

    /* The broker, then the workers, all on one inproc endpoint. */
    void *ctx = zmq_ctx_new();
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://shears-run-%d", (int)getpid());
    volatile int ready = 0;
    thread_arg_t barg = {.ctx = ctx,
                         .bo = {.bind = endpoint, .state_dir = state_dir, .log = log,
                                .log_level = SH_LOG_INFO, .stop = &stop_broker, .ready = &ready}};
    pthread_t bt;
    pthread_create(&bt, NULL, broker_main, &barg);
    while (!ready)
        usleep(2000);
    sh_datasets_t *datasets = sh_datasets_new();
    thread_arg_t *wargs = sh_xcalloc((size_t)jobs, sizeof *wargs);
    pthread_t *wt = sh_xcalloc((size_t)jobs, sizeof *wt);
    char (*names)[32] = sh_xcalloc((size_t)jobs, sizeof *names);
    int rc = 0;
    if (ready < 0) {
        fprintf(stderr, "shears run: %s\n", barg.err.msg);
        rc = EXIT_USAGE;
        jobs = 0;
    }
    for (int i = 0; i < jobs; i++) {
        snprintf(names[i], sizeof names[i], "local-%d", i + 1);
        wargs[i] = (thread_arg_t){.ctx = ctx,
                                  .wo = {.broker = endpoint, .name = names[i], .slots = 1,
                                         .threads = threads / jobs, .cache_dir = state_dir,
                                         .log = log, .log_level = SH_LOG_INFO,
                                         .datasets = datasets, .drain = &stop_workers,
                                         .stop = &interrupted}};
        pthread_create(&wt[i], NULL, worker_main, &wargs[i]);
    }

    sh_client_t *c = NULL;
    int64_t sweep_id = 0, reused = 0;
    if (rc == 0 && sh_client_open(&c, ctx, endpoint, NULL, 10000, &err) != SH_OK) {
        fprintf(stderr, "shears run: %s\n", err.msg);
        rc = EXIT_USAGE;
    }
    if (rc == 0) {
        sh_msg_submit_t req = {.sweep = text, .name = (char *)name, .sets = (char **)sets,
                               .n_sets = (uint32_t)n_sets};
        char *data;
        size_t len;
        if (sh_client_call(c, SH_C_SUBMIT, &req, &data, &len, NULL, NULL, &err) != SH_OK) {
            fprintf(stderr, "shears run: %s\n", err.msg);
            rc = EXIT_USAGE;
        } else {
            sh_mpr_t r;
            sh_mpr_init(&r, data, len);
            uint32_t n;
            if (sh_mpr_map(&r, &n) == 0)
                for (uint32_t i = 0; i < n && !r.failed; i++) {
                    const char *key;
                    uint32_t kl;
                    sh_mpr_str(&r, &key, &kl);
                    if (sh_mpr_key_is(key, kl, "sweep")) sh_mpr_int(&r, &sweep_id);
                    else if (sh_mpr_key_is(key, kl, "reused")) sh_mpr_int(&r, &reused);
                    else sh_mpr_skip(&r);
                }
            free(data);
            if (reused && !quiet)
                fprintf(stderr, "reusing %lld finished job%s from %s\n", (long long)reused,
                        reused == 1 ? "" : "s", out_dir);
        }
    }
    if (rc == 0) {
        /* Follow the sweep; replies keep coming while jobs make progress. */
        sh_client_close(&c);
        sh_client_open(&c, ctx, endpoint, NULL, 24 * 3600 * 1000, &err);
        follow_t f = {.show = !quiet, .sweep = sweep_id, .out_dir = out_dir,
                      .store_dir = store_dir, .exported = (int)reused};
        progress_init(&f.p, stderr, !quiet && isatty(STDERR_FILENO));
        if (sh_client_open(&f.c, ctx, endpoint, NULL, 30000, &err) != SH_OK)
            f.c = NULL;
        sh_msg_sweep_req_t req = {.sweep = (uint64_t)sweep_id};
        char *data;
        size_t len;
        sh_status_t st = sh_client_call(c, SH_C_WATCH, &req, &data, &len, on_partial, &f, &err);
        if (st == SH_OK) {
            on_partial(&f, data, len);
            free(data);
        } else if (st == SH_ECANCELED || interrupted) {
            rc = EXIT_INTERRUPTED;
        } else {
            fprintf(stderr, "shears run: %s\n", err.msg);
            rc = EXIT_JOBS_FAILED;
        }
        progress_free(&f.p);
        sh_client_close(&f.c);
    }
    if (rc == 0 || rc == EXIT_INTERRUPTED) {
        /* Results of whatever finished, exported to DIR. */
        sh_client_close(&c);
        sh_client_open(&c, ctx, endpoint, NULL, 30000, &err);
        char *data;
        sh_results_payload_t res;
        if (fetch_results(c, sweep_id, &res, &data, &err) == SH_OK) {
            int files;
            if (sh_export_results(&res, out_dir, store_dir, c, &files, &err) != SH_OK)
                fprintf(stderr, "shears run: writing results: %s\n", err.msg);
            print_results(&res, 0, 0);
            int done = 0, skipped = 0, failed = 0, blocked = 0;
            for (int i = 0; i < res.n_rows; i++) {
                done += !strcmp(res.row_state[i], "done");
                skipped += !strcmp(res.row_state[i], "skipped");
                failed += !strcmp(res.row_state[i], "failed");
                blocked += !strcmp(res.row_state[i], "blocked");
            }
            printf("\n%d job%s done (%lld reused), %d skipped by the stopping rule, %d failed, "
                   "%d blocked; metrics in %s/metrics.csv\n", done, done == 1 ? "" : "s",
                   (long long)reused, skipped, failed, blocked, out_dir);
            if (rc == 0 && (failed || blocked))
                rc = EXIT_JOBS_FAILED;
            sh_results_free(&res);
            free(data);
        } else if (rc == 0) {
            fprintf(stderr, "shears run: %s\n", err.msg);
            rc = EXIT_JOBS_FAILED;
        }
        if (rc == EXIT_INTERRUPTED)
            printf("interrupted: finished jobs are kept in %s; run again to continue\n", out_dir);
    }
    sh_client_close(&c);
    stop_workers = 1;
    for (int i = 0; i < jobs; i++)
        pthread_join(wt[i], NULL);
    stop_broker = 1;
    pthread_join(bt, NULL);
    zmq_ctx_term(ctx);
    sh_datasets_destroy(&datasets);
    if (log)
        fclose(log);
    free(wargs);
    free(wt);
    free(names);
    sh_sweep_clear(&sw);
    free(text);
    free(sets);
    return rc;
usage_error:
    free(sets);
    run_usage(stderr);
    return EXIT_USAGE;
}
