/* main.c - shears-worker: flags and environment over sh_worker_run.
 * SIGTERM (or SIGINT) drains: no new jobs, running ones finish and upload,
 * then the worker leaves and exits 0. A second signal stops at once: running
 * jobs are canceled within a batch and handed back. */
#include "sh_log.h"
#include "sh_curve.h"
#include "sh_worker.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static volatile int drain, stop;

static void on_signal(int sig)
{
    (void)sig;
    if (drain)
        stop = 1;
    drain = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: shears-worker --broker ENDPOINT [options]\n\n"
            "Runs shears jobs leased by a broker: dense training and prune/retrain rounds\n"
            "on the OpenMP training core. Inputs are cached by SHA-256 so a parent\n"
            "checkpoint is downloaded once per node.\n\n"
            "  --broker ENDPOINT    e.g. tcp://10.0.0.1:5555           [SHEARS_BROKER]\n"
            "  --threads N          OpenMP threads per job (CPUs / slots) [SHEARS_THREADS]\n"
            "  --slots N            jobs at once (1)                   [SHEARS_SLOTS]\n"
            "  --cache DIR          artifact and dataset cache (~/.cache/shears or\n"
            "                       /var/tmp/shears-cache)              [SHEARS_CACHE]\n"
            "  --name NAME          name shown by the broker (host/pid) [SHEARS_WORKER_NAME]\n"
            "  --heartbeat-ms N     heartbeat interval (1000)          [SHEARS_HEARTBEAT_MS]\n"
            "  --liveness-ms N      reconnect when the broker is silent this long (5000)\n"
            "                                                          [SHEARS_LIVENESS_MS]\n"
            "  --log-level LEVEL    error, warn, info or debug (info)  [SHEARS_LOG_LEVEL]\n"
            "  --curve-secret FILE  this worker's CURVE secret key (shears keygen)\n"
            "                                                          [SHEARS_CURVE_SECRET]\n"
            "  --curve-server FILE  the broker's CURVE public key      [SHEARS_CURVE_SERVER]\n"
            "\nSIGTERM drains (finish running jobs, then exit 0); a second SIGTERM stops\n"
            "at once, handing running jobs back to the broker.\n");
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static int parse_int(const char *s, const char *what, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "shears-worker: %s must be an integer from %d to %d, not '%s'\n", what,
                lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'},      {"threads", required_argument, NULL, 't'},
        {"slots", required_argument, NULL, 's'},       {"cache", required_argument, NULL, 'c'},
        {"name", required_argument, NULL, 'n'},        {"heartbeat-ms", required_argument, NULL, 'H'},
        {"liveness-ms", required_argument, NULL, 'L'}, {"log-level", required_argument, NULL, 'l'},
        {"curve-secret", required_argument, NULL, 'k'}, {"curve-server", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0},
    };
    char default_cache[4096];
    const char *home = getenv("HOME");
    if (home && *home)
        snprintf(default_cache, sizeof default_cache, "%s/.cache/shears", home);
    else
        snprintf(default_cache, sizeof default_cache, "/var/tmp/shears-cache");
    sh_worker_opts_t o = {
        .broker = env_or("SHEARS_BROKER", NULL),
        .cache_dir = env_or("SHEARS_CACHE", default_cache),
        .name = env_or("SHEARS_WORKER_NAME", NULL),
        .log_level = SH_LOG_INFO,
        .drain = &drain,
        .stop = &stop,
    };
    const char *threads = env_or("SHEARS_THREADS", NULL), *slots = env_or("SHEARS_SLOTS", NULL);
    const char *hb = env_or("SHEARS_HEARTBEAT_MS", NULL), *lv = env_or("SHEARS_LIVENESS_MS", NULL);
    const char *level = env_or("SHEARS_LOG_LEVEL", "info");
    const char *secret = env_or("SHEARS_CURVE_SECRET", NULL);
    const char *server = env_or("SHEARS_CURVE_SERVER", NULL);
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b': o.broker = optarg; break;
        case 't': threads = optarg; break;
        case 's': slots = optarg; break;
        case 'c': o.cache_dir = optarg; break;
        case 'n': o.name = optarg; break;
        case 'k': secret = optarg; break;
        case 'K': server = optarg; break;
        case 'H': hb = optarg; break;
        case 'L': lv = optarg; break;
        case 'l': level = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shears-worker: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o.broker) {
        fprintf(stderr, "shears-worker: --broker (or SHEARS_BROKER) is required\n\n");
        usage(stderr);
        return 2;
    }
    if ((threads && parse_int(threads, "--threads", 1, 1024, &o.threads)) ||
        (slots && parse_int(slots, "--slots", 1, 256, &o.slots)) ||
        (hb && parse_int(hb, "--heartbeat-ms", 10, 600000, &o.heartbeat_ms)) ||
        (lv && parse_int(lv, "--liveness-ms", 20, 3600000, &o.liveness_ms)))
        return 2;
    sh_curve_t curve;
    if (!secret != !server) {
        fprintf(stderr, "shears-worker: CURVE needs both --curve-secret (this worker's key) and "
                        "--curve-server (the broker's public key)\n");
        return 2;
    }
    if (secret) {
        sh_err_t err;
        if (sh_curve_load(&curve, secret, server, &err) != SH_OK) {
            fprintf(stderr, "shears-worker: %s\n", err.msg);
            return 2;
        }
        o.curve = &curve;
    }
    if ((o.log_level = sh_log_level_parse(level)) < 0) {
        fprintf(stderr, "shears-worker: unknown log level '%s'\n", level);
        return 2;
    }
    if (o.name && strlen(o.name) >= 128) {
        fprintf(stderr, "shears-worker: --name is longer than 127 characters\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    void *ctx = zmq_ctx_new();
    sh_err_t err;
    sh_status_t st = sh_worker_run(ctx, &o, &err);
    zmq_ctx_term(ctx);
    if (st != SH_OK) {
        fprintf(stderr, "shears-worker: %s\n", err.msg);
        return 1;
    }
    return 0;
}
