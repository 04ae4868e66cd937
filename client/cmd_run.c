/* cmd_run.c - `shears run`: expand a sweep and run it on this machine. */
#include "commands.h"
#include "default_sweep.h"
#include "local_run.h"

#include <getopt.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile int interrupted;

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
            "Fashion-MNIST). Finished jobs in DIR are reused, so an interrupted run\n"
            "continues where it stopped.\n\n"
            "  -o, --out DIR       output directory (default: runs/<sweep name>)\n"
            "  -j, --jobs N        jobs in parallel (default: 2 or the number of CPUs,\n"
            "                      whichever is smaller)\n"
            "  -t, --threads N     OpenMP threads in all, split between jobs\n"
            "                      (default: the number of CPUs)\n"
            "      --set K=V       override a sweep field, e.g. --set train.epochs=2\n"
            "                      (repeatable; V is YAML, e.g. '[10, 15]')\n"
            "      --print-sweep   print the resolved sweep and exit\n"
            "  -q, --quiet         no progress output\n\n"
            "DIR gets jobs/<id>/ (checkpoints, result.json), metrics.csv, metrics.jsonl\n"
            "and sweep.yaml (the sweep with every default filled in).\n");
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
    sh_sweep_t sw;
    sh_err_t err;
    sh_status_t st;
    if (optind < argc)
        st = sh_sweep_load(&sw, argv[optind], sets, n_sets, &err);
    else
        st = sh_sweep_parse(&sw, default_sweep_yaml, strlen(default_sweep_yaml),
                            "built-in sweep", sets, n_sets, &err);
    free(sets);
    if (st != SH_OK) {
        fprintf(stderr, "shears run: %s\n", err.msg);
        return EXIT_USAGE;
    }
    if (print_sweep) {
        char *yaml = sh_doc_to_yaml(sw.resolved);
        fputs(yaml ? yaml : "", stdout);
        free(yaml);
        sh_sweep_clear(&sw);
        return 0;
    }
    char default_out[256];
    if (!out_dir) {
        snprintf(default_out, sizeof default_out, "runs/%s", sw.name);
        out_dir = default_out;
    }
    if (jobs > threads)
        threads = jobs;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    local_run_opts_t o = {.out_dir = out_dir, .jobs = jobs, .threads = threads,
                          .tty = !quiet && isatty(STDERR_FILENO), .quiet = quiet,
                          .cancel = &interrupted};
    if (!quiet)
        fprintf(stderr, "shears run: sweep %s, %s on %s, %d job%s in parallel x %d thread%s, "
                        "output in %s\n", sw.name, sw.model, sw.dataset, jobs, jobs == 1 ? "" : "s",
                threads / jobs, threads / jobs == 1 ? "" : "s", out_dir);
    local_run_summary_t sum;
    st = local_run(&sw, &o, &sum, &err);
    sh_rows_print_table(stdout, &sw, sum.rows, sum.n_rows);
    printf("\n%d job%s done (%d reused), %d skipped by the stopping rule, %d failed, "
           "%d blocked; metrics in %s/metrics.csv\n",
           sum.done, sum.done == 1 ? "" : "s", sum.reused, sum.skipped, sum.failed, sum.blocked,
           out_dir);
    free(sum.rows);
    sh_sweep_clear(&sw);
    if (st == SH_ECANCELED) {
        fprintf(stdout, "interrupted: %s\n", err.msg);
        return EXIT_INTERRUPTED;
    }
    if (st != SH_OK) {
        fprintf(stdout, "shears run: %s\n", err.msg);
        return EXIT_JOBS_FAILED;
    }
    return 0;
usage_error:
    free(sets);
    run_usage(stderr);
    return EXIT_USAGE;
}
