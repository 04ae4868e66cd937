/* cmd_remote.c - the commands that talk to a running broker: submit, status,
 * watch, results, fetch, cancel, workers; and dataset-hash, which prints
 * the checksum a sweep needs to download a dataset by URL. */
#include "client_api.h"
#include "commands.h"
#include "export.h"
#include "progress.h"
#include "remote_opts.h"

#include "sh_fetch.h"
#include "sh_file.h"
#include "sh_mpack.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

int parse_opts(int argc, char **argv, const char *usage, int need_arg, opts_t *o)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'},  {"priority", required_argument, NULL, 'p'},
        {"set", required_argument, NULL, 's'},     {"watch", no_argument, NULL, 'w'},
        {"csv", no_argument, NULL, 'c'},           {"json", no_argument, NULL, 'j'},
        {"out", required_argument, NULL, 'o'},     {"timeout", required_argument, NULL, 't'},
        {"curve-secret", required_argument, NULL, 'k'},
        {"curve-server", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->curve_secret = getenv("SHEARS_CURVE_SECRET") && *getenv("SHEARS_CURVE_SECRET")
                          ? getenv("SHEARS_CURVE_SECRET") : NULL;
    o->curve_server = getenv("SHEARS_CURVE_SERVER") && *getenv("SHEARS_CURVE_SERVER")
                          ? getenv("SHEARS_CURVE_SERVER") : NULL;
    o->broker = getenv("SHEARS_BROKER") && *getenv("SHEARS_BROKER") ? getenv("SHEARS_BROKER")
                                                                     : DEFAULT_BROKER;
    o->timeout_ms = 10000;
    o->sets = calloc((size_t)argc + 1, sizeof *o->sets);
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "b:o:h", longopts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'b': o->broker = optarg; break;
        case 'o': o->out = optarg; break;
        case 'k': o->curve_secret = optarg; break;
        case 'K': o->curve_server = optarg; break;
        case 's': o->sets[o->n_sets++] = optarg; break;
        case 'w': o->watch = 1; break;
        case 'c': o->csv = 1; break;
        case 'j': o->json = 1; break;
        case 'p':
            o->priority = strtoll(optarg, &end, 10);
            if (!*optarg || *end) {
                fprintf(stderr, "shears %s: --priority must be an integer\n", argv[0]);
                return -1;
            }
            break;
        case 't':
            o->timeout_ms = (int)(strtod(optarg, &end) * 1000);
            if (!*optarg || *end || o->timeout_ms <= 0) {
                fprintf(stderr, "shears %s: --timeout must be a positive number of seconds\n",
                        argv[0]);
                return -1;
            }
            break;
        case 'h': fputs(usage, stdout); return 1;
        default: fputs(usage, stderr); return -1;
        }
    }
    if (argc - optind > 1 || (need_arg == 1 && argc - optind != 1)) {
        fprintf(stderr, "%s", usage);
        return -1;
    }
    o->arg = optind < argc ? argv[optind] : NULL;
    if (!o->curve_secret != !o->curve_server) {
        fprintf(stderr, "shears %s: CURVE needs both --curve-secret (this client's key) and "
                        "--curve-server (the broker's public key)\n", argv[0]);
        return -1;
    }
    sh_err_t err;
    if (o->curve_secret &&
        sh_curve_load(&o->curve, o->curve_secret, o->curve_server, &err) != SH_OK) {
        fprintf(stderr, "shears %s: %s\n", argv[0], err.msg);
        return -1;
    }
    return 0;
}

static int parse_sweep_id(const char *s, uint64_t *id)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || v == 0) {
        fprintf(stderr, "shears: '%s' is not a sweep id (a positive integer)\n", s);
        return -1;
    }
    *id = v;
    return 0;
}

/* Runs one request; prints the error and returns its exit status. */
static int call(opts_t *o, void **ctx, sh_client_t **c, int cmd, void *body, char **data,
                size_t *len, void (*partial)(void *, const char *, size_t), void *user)
{
    sh_err_t err;
    if (!*c) {
        *ctx = zmq_ctx_new();
        if (sh_client_open(c, *ctx, o->broker, o->curve_secret ? &o->curve : NULL, o->timeout_ms, &err) != SH_OK) {
            fprintf(stderr, "shears: %s\n", err.msg);
            return EXIT_USAGE;
        }
    }
    sh_status_t st = sh_client_call(*c, cmd, body, data, len, partial, user, &err);
    if (st != SH_OK) {
        fprintf(stderr, "shears: %s\n", err.msg);
        return st == SH_EIO ? EXIT_UNREACHABLE : st == SH_ECANCELED ? EXIT_INTERRUPTED
                                                                    : EXIT_USAGE;
    }
    return 0;
}

static void done(opts_t *o, void *ctx, sh_client_t *c)
{
    sh_client_close(&c);
    if (ctx)
        zmq_ctx_term(ctx);
    free(o->sets);
}

static int int_field(const char *data, size_t len, const char *want, int64_t *out)
{
    sh_mpr_t r;
    sh_mpr_init(&r, data, len);
    uint32_t n;
    if (sh_mpr_map(&r, &n))
        return -1;
    for (uint32_t i = 0; i < n && !r.failed; i++) {
        const char *key;
        uint32_t kl;
        if (sh_mpr_str(&r, &key, &kl))
            return -1;
        if (sh_mpr_key_is(key, kl, want))
            return sh_mpr_int(&r, out);
        sh_mpr_skip(&r);
    }
    return -1;
}

/* ---- watch -------------------------------------------------------------------------- */

static void on_status(void *user, const char *data, size_t len)
{
    progress_t *p = user;
    sh_status_payload_t s;
    if (sh_status_decode(&s, data, len, NULL) == SH_OK) {
        progress_show(p, &s);
        sh_status_free(&s);
    }
}

static int watch_sweep(opts_t *o, void **ctx, sh_client_t **c, uint64_t id)
{
    progress_t p;
    progress_init(&p, stderr, isatty(STDERR_FILENO));
    sh_msg_sweep_req_t req = {.sweep = id};
    char *data;
    size_t len;
    /* Progress keeps the stream alive; a long silence means a lost broker. */
    int rc = call(o, ctx, c, SH_C_WATCH, &req, &data, &len, on_status, &p);
    if (rc == 0) {
        on_status(&p, data, len);
        sh_status_payload_t s;
        if (sh_status_decode(&s, data, len, NULL) == SH_OK) {
            for (int i = 0; i < s.n_sweeps; i++)
                printf("sweep %lld %s: %s, %d done, %d failed, %d blocked, %d skipped\n",
                       (long long)s.sweeps[i].id, s.sweeps[i].name, s.sweeps[i].state,
                       s.sweeps[i].done, s.sweeps[i].failed, s.sweeps[i].blocked,
                       s.sweeps[i].skipped);
            if (s.n_sweeps && (s.sweeps[0].failed || s.sweeps[0].blocked))
                rc = EXIT_JOBS_FAILED;
            sh_status_free(&s);
        }
        free(data);
    }
    progress_free(&p);
    return rc;
}

int cmd_watch(int argc, char **argv)
{
    static const char usage[] =
        "usage: shears watch SWEEP [--broker URL]\n\n"
        "Follows a sweep until it finishes: progress bars per running job and for the\n"
        "sweep on a terminal, plain lines otherwise. Exit status 1 if jobs failed.\n";
    opts_t o;
    int rc = parse_opts(argc, argv, usage, 1, &o);
    uint64_t id;
    if (rc || parse_sweep_id(o.arg, &id)) {
        free(o.sets);
        return rc > 0 ? 0 : EXIT_USAGE;
    }
    o.timeout_ms = SH_MAX(o.timeout_ms, 60000);
    void *ctx = NULL;
    sh_client_t *c = NULL;
    rc = watch_sweep(&o, &ctx, &c, id);
    done(&o, ctx, c);
    return rc;
}

/* ---- submit ----------------------------------------------------------------------------- */

int cmd_submit(int argc, char **argv)
{
    static const char usage[] =
        "usage: shears submit SWEEP.yaml [--broker URL] [--priority N] [--set K=V]... "
        "[--watch]\n\n"
        "Submits a sweep to the broker (URL from --broker, SHEARS_BROKER, or\n"
        DEFAULT_BROKER ") and prints its id once the broker has stored it durably.\n"
        "Jobs already finished in earlier sweeps are reused, not run again.\n"
        "  --priority N   higher runs first (default 0)\n"
        "  --set K=V      override a sweep field, as for `shears run`\n"
        "  --watch        follow the sweep until it finishes\n";
    opts_t o;
    int rc = parse_opts(argc, argv, usage, 1, &o);
    if (rc) {
        free(o.sets);
        return rc > 0 ? 0 : EXIT_USAGE;
    }
    char *text;
    size_t text_len;
    sh_err_t err;
    if (sh_file_read(o.arg, SH_WIRE_MAX_TEXT, &text, &text_len, &err) != SH_OK) {
        fprintf(stderr, "shears submit: %s\n", err.msg);
        free(o.sets);
        return EXIT_USAGE;
    }
    sh_msg_submit_t req = {.sweep = text, .name = (char *)o.arg, .sets = (char **)o.sets,
                           .n_sets = (uint32_t)o.n_sets, .priority = o.priority};
    void *ctx = NULL;
    sh_client_t *c = NULL;
    char *data;
    size_t len;
    rc = call(&o, &ctx, &c, SH_C_SUBMIT, &req, &data, &len, NULL, NULL);
    free(text);
    int64_t id = 0, jobs = 0, reused = 0;
    if (rc == 0) {
        int_field(data, len, "sweep", &id);
        int_field(data, len, "jobs", &jobs);
        int_field(data, len, "reused", &reused);
        free(data);
        printf("%lld\n", (long long)id);
        fflush(stdout);
        fprintf(stderr, "sweep %lld submitted: %lld jobs, %lld already done\n", (long long)id,
                (long long)jobs, (long long)reused);
        if (o.watch) {
            o.timeout_ms = SH_MAX(o.timeout_ms, 60000);
            sh_client_close(&c);
            sh_client_open(&c, ctx, o.broker, o.curve_secret ? &o.curve : NULL, o.timeout_ms, &err);
            rc = watch_sweep(&o, &ctx, &c, (uint64_t)id);
        }
    }
    done(&o, ctx, c);
    return rc;
}

/* ---- status, cancel, workers -------------------------------------------------------------- */

int cmd_status(int argc, char **argv)
{
    static const char usage[] =
        "usage: shears status [SWEEP] [--broker URL]\n\n"
        "Shows one sweep, or every unfinished sweep and the most recent one: jobs done,\n"
        "running, queued, failed and skipped, and what each running job is doing.\n";
    opts_t o;
    int rc = parse_opts(argc, argv, usage, 0, &o);
    uint64_t id = 0;
    if (rc || (o.arg && parse_sweep_id(o.arg, &id))) {
        free(o.sets);
        return rc > 0 ? 0 : EXIT_USAGE;
    }
    sh_msg_sweep_req_t req = {.sweep = id};
    void *ctx = NULL;
    sh_client_t *c = NULL;
    char *data;
    size_t len;
    rc = call(&o, &ctx, &c, SH_C_STATUS, &req, &data, &len, NULL, NULL);
    if (rc == 0) {
        sh_status_payload_t s;
        sh_err_t err;
        if (sh_status_decode(&s, data, len, &err) != SH_OK) {
            fprintf(stderr, "shears status: %s\n", err.msg);
            rc = EXIT_UNREACHABLE;
        } else {
            printf("workers: %d, jobs queued: %d\n", s.workers, s.queue);
            for (int i = 0; i < s.n_sweeps; i++) {
                const sh_sweep_status_t *sw = &s.sweeps[i];
                printf("sweep %lld %s: %s, priority %lld: %d done, %d running, %d queued, "
                       "%d failed, %d blocked, %d skipped\n",
                       (long long)sw->id, sw->name, sw->state, (long long)sw->priority, sw->done,
                       sw->running, sw->queued, sw->failed, sw->blocked, sw->skipped);
                for (int j = 0; j < sw->n_active; j++) {
                    const sh_active_t *a = &sw->active[j];
                    printf("  %s r%d seed %llu on %s: %s epoch %ld/%ld batch %ld/%ld loss %.4f\n",
                           a->technique, a->round, (unsigned long long)a->seed, a->worker,
                           a->phase, a->epoch, a->epochs, a->batch, a->batches, a->loss);
                }
            }
            sh_status_free(&s);
        }
        free(data);
    }
    done(&o, ctx, c);
    return rc;
}

int cmd_cancel(int argc, char **argv)
{
    static const char usage[] =
        "usage: shears cancel SWEEP [--broker URL]\n\n"
        "Cancels a sweep: queued jobs are dropped, running ones are told to stop,\n"
        "finished results stay (and are reused by later sweeps).\n";
    opts_t o;
    int rc = parse_opts(argc, argv, usage, 1, &o);
    uint64_t id;
    if (rc || parse_sweep_id(o.arg, &id)) {
        free(o.sets);
        return rc > 0 ? 0 : EXIT_USAGE;
    }
    sh_msg_sweep_req_t req = {.sweep = id};
    void *ctx = NULL;
    sh_client_t *c = NULL;
    char *data;
    size_t len;
    rc = call(&o, &ctx, &c, SH_C_CANCEL, &req, &data, &len, NULL, NULL);
    if (rc == 0) {
        int64_t n = 0;
        int_field(data, len, "cancelled", &n);
        printf("sweep %llu cancelled: %lld unfinished job%s dropped\n", (unsigned long long)id,
               (long long)n, n == 1 ? "" : "s");
        free(data);
    }
    done(&o, ctx, c);
    return rc;
}

int cmd_workers(int argc, char **argv)
{
    static const char usage[] =
        "usage: shears workers [--broker URL]\n\n"
        "Lists every worker the broker has seen: alive or gone, threads, job slots,\n"
        "jobs running, and seconds since it was last heard from.\n";
    opts_t o;
    int rc = parse_opts(argc, argv, usage, 0, &o);
    if (rc) {
        free(o.sets);
        return rc > 0 ? 0 : EXIT_USAGE;
    }
    sh_msg_rid_t req = {0};
    void *ctx = NULL;
    sh_client_t *c = NULL;
    char *data;
    size_t len;
    rc = call(&o, &ctx, &c, SH_C_WORKERS, &req, &data, &len, NULL, NULL);
    if (rc == 0) {
        sh_mpr_t r;
        sh_mpr_init(&r, data, len);
        uint32_t n, k;
        printf("%-32s %-6s %7s %5s %7s %9s\n", "worker", "state", "threads", "slots", "running",
               "seen ago");
        if (sh_mpr_map(&r, &n) == 0 && n == 1) {
            const char *key;
            uint32_t kl;
            sh_mpr_str(&r, &key, &kl);
            if (sh_mpr_array(&r, &k) == 0)
                for (uint32_t i = 0; i < k && !r.failed; i++) {
                    char name[128] = "", state[16] = "";
                    int64_t threads = 0, slots = 0, running = 0;
                    double ago = 0;
                    uint32_t f;
                    if (sh_mpr_map(&r, &f))
                        break;
                    for (uint32_t j = 0; j < f && !r.failed; j++) {
                        sh_mpr_str(&r, &key, &kl);
                        if (sh_mpr_key_is(key, kl, "name")) sh_mpr_str_copy(&r, name, sizeof name);
                        else if (sh_mpr_key_is(key, kl, "state")) sh_mpr_str_copy(&r, state, sizeof state);
                        else if (sh_mpr_key_is(key, kl, "threads")) sh_mpr_int(&r, &threads);
                        else if (sh_mpr_key_is(key, kl, "slots")) sh_mpr_int(&r, &slots);
                        else if (sh_mpr_key_is(key, kl, "running")) sh_mpr_int(&r, &running);
                        else if (sh_mpr_key_is(key, kl, "seen_ago")) sh_mpr_double(&r, &ago);
                        else sh_mpr_skip(&r);
                    }
                    printf("%-32s %-6s %7lld %5lld %7lld %8.1fs\n", name, state, (long long)threads,
                           (long long)slots, (long long)running, ago);
                }
        }
        if (r.failed) {
            fprintf(stderr, "shears workers: malformed reply: %s\n", r.what);
            rc = EXIT_UNREACHABLE;
        }
        free(data);
    }
    done(&o, ctx, c);
    return rc;
}

/* ---- results and fetch -------------------------------------------------------------------- */

static int get_results(opts_t *o, void **ctx, sh_client_t **c, uint64_t id,
                       sh_results_payload_t *res)
{
    sh_msg_sweep_req_t req = {.sweep = id};
    char *data;
    size_t len;
    int rc = call(o, ctx, c, SH_C_RESULTS, &req, &data, &len, NULL, NULL);
    if (rc)
        return rc;
    sh_err_t err;
    sh_status_t st = sh_results_decode(res, data, len, &err);
    free(data);
    if (st != SH_OK) {
        fprintf(stderr, "shears: %s\n", err.msg);
        return EXIT_UNREACHABLE;
    }
    return 0;
}

/* Prints the accuracy-vs-density table (or the rows as CSV/JSON lines). */
int print_results(const sh_results_payload_t *res, int csv, int json)
{
    sh_row_t *rows = sh_xcalloc((size_t)res->n_rows + 1, sizeof *rows);
    int n = sh_results_done_rows(res, rows);
    if (csv) {
        sh_rows_write_csv(stdout, rows, n);
    } else if (json) {
        sh_rows_write_jsonl(stdout, rows, n);
    } else {
        sh_sweep_t sw;
        if (res->yaml && sh_sweep_parse(&sw, res->yaml, strlen(res->yaml), "sweep", NULL, 0,
                                        NULL) == SH_OK) {
            sh_rows_print_table(stdout, &sw, rows, n);
            sh_sweep_clear(&sw);
        } else {
            printf("sweep %lld %s: %d finished job%s\n", (long long)res->sweep, res->name, n,
                   n == 1 ? "" : "s");
        }
        for (int i = 0; i < res->n_rows; i++)
            if (res->row_error[i])
                printf("failed: %s round %d seed %llu: %s\n", res->rows[i].technique,
                       res->rows[i].round, (unsigned long long)res->rows[i].seed,
                       res->row_error[i]);
    }
    free(rows);
    return 0;
}

int cmd_results(int argc, char **argv)
{
    static const char usage[] =
        "usage: shears results SWEEP [--csv|--json] [--broker URL]\n\n"
        "Prints a sweep's accuracy-vs-density table per technique. --csv and --json\n"
        "print one row per finished job instead, with the fields of `shears run`'s\n"
        "metrics.csv and metrics.jsonl.\n";
    opts_t o;
    int rc = parse_opts(argc, argv, usage, 1, &o);
    uint64_t id;
    if (rc || parse_sweep_id(o.arg, &id)) {
        free(o.sets);
        return rc > 0 ? 0 : EXIT_USAGE;
    }
    void *ctx = NULL;
    sh_client_t *c = NULL;
    sh_results_payload_t res;
    rc = get_results(&o, &ctx, &c, id, &res);
    if (rc == 0) {
        print_results(&res, o.csv, o.json);
        sh_results_free(&res);
    }
    done(&o, ctx, c);
    return rc;
}

int cmd_fetch(int argc, char **argv)
{
    static const char usage[] =
        "usage: shears fetch SWEEP -o DIR [--broker URL]\n\n"
        "Downloads a sweep's finished results into DIR: metrics.csv, metrics.jsonl,\n"
        "sweep.yaml, and jobs/<id>/ with each job's checkpoint and result.json.\n"
        "Every file is checked against its SHA-256; files already in DIR are kept.\n";
    opts_t o;
    int rc = parse_opts(argc, argv, usage, 1, &o);
    uint64_t id;
    if (rc || parse_sweep_id(o.arg, &id)) {
        free(o.sets);
        return rc > 0 ? 0 : EXIT_USAGE;
    }
    if (!o.out) {
        fprintf(stderr, "shears fetch: -o DIR is required\n");
        free(o.sets);
        return EXIT_USAGE;
    }
    void *ctx = NULL;
    sh_client_t *c = NULL;
    sh_results_payload_t res;
    rc = get_results(&o, &ctx, &c, id, &res);
    if (rc == 0) {
        sh_err_t err;
        int files = 0;
        if (sh_export_results(&res, o.out, NULL, c, &files, &err) != SH_OK) {
            fprintf(stderr, "shears fetch: %s\n", err.msg);
            rc = EXIT_UNREACHABLE;
        } else {
            sh_row_t *rows = sh_xcalloc((size_t)res.n_rows + 1, sizeof *rows);
            printf("fetched sweep %llu into %s: %d finished job%s, %d file%s downloaded\n",
                   (unsigned long long)id, o.out, sh_results_done_rows(&res, rows),
                   res.n_rows == 1 ? "" : "s", files, files == 1 ? "" : "s");
            free(rows);
        }
        sh_results_free(&res);
    }
    done(&o, ctx, c);
    return rc;
}

int cmd_dataset_hash(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: shears dataset-hash NAME DIR\n\n"
               "Prints the checksum to put in a sweep's dataset.sha256 when the dataset is\n"
               "downloaded by URL: the SHA-256 of its manifest (\"<sha256>  <file>\" per\n"
               "file of the dataset, in order). NAME: fashion-mnist, mnist or cifar10.\n");
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: shears dataset-hash NAME DIR\n");
        return EXIT_USAGE;
    }
    char sha[65];
    sh_err_t err;
    if (sh_dataset_manifest(argv[1], argv[2], sha, &err) != SH_OK) {
        fprintf(stderr, "shears dataset-hash: %s\n", err.msg);
        return EXIT_USAGE;
    }
    printf("%s\n", sha);
    return 0;
}

int cmd_keygen(int argc, char **argv)
{
    static const char usage[] =
        "usage: shears keygen NAME\n\n"
        "Writes a new CURVE key pair: NAME.key (the secret key, mode 0600) and\n"
        "NAME.pub (the public key), Z85 text. Existing files are not overwritten.\n"
        "The broker, each worker and each client has its own pair. Give the broker\n"
        "its NAME.key (--curve-secret) and put the .pub files of the peers it lets in\n"
        "under its allow directory: DIR/clients/ and DIR/workers/. Workers and\n"
        "clients get their own NAME.key and the broker's .pub (--curve-server).\n";
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc != 2 || !argv[1][0] || argv[1][0] == '-') {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    sh_err_t err;
    if (sh_curve_keygen(argv[1], &err) != SH_OK) {
        fprintf(stderr, "shears keygen: %s\n", err.msg);
        return EXIT_USAGE;
    }
    printf("wrote %s.key (secret) and %s.pub (public)\n", argv[1], argv[1]);
    return 0;
}
