/* main.c - shears-broker: flags and environment over sh_broker_run. */
#include "sh_broker.h"
#include "sh_curve.h"
#include "sh_file.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static volatile int stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: shears-broker --bind ENDPOINT --state DIR [options]\n\n"
            "Serves shears clients and workers on one ZeroMQ ROUTER endpoint, keeping\n"
            "sweeps, jobs, leases and results in DIR/state.db (SQLite) and job outputs in\n"
            "DIR/artifacts/ (content-addressed by SHA-256).\n\n"
            "  --bind ENDPOINT      e.g. tcp://0.0.0.0:5555            [SHEARS_BIND]\n"
            "  --state DIR          state directory                    [SHEARS_STATE]\n"
            "  --heartbeat-ms N     heartbeat interval (1000)          [SHEARS_HEARTBEAT_MS]\n"
            "  --liveness-ms N      a worker silent this long is lost (5000)\n"
            "                                                          [SHEARS_LIVENESS_MS]\n"
            "  --max-attempts N     a job failing on N workers fails (3)\n"
            "                                                          [SHEARS_MAX_ATTEMPTS]\n"
            "  --max-artifact-mb N  refuse uploads larger than N MiB (4096)\n"
            "                                                          [SHEARS_MAX_ARTIFACT_MB]\n"
            "  --allow-synthetic    accept synthetic test jobs         [SHEARS_ALLOW_SYNTHETIC=1]\n"
            "  --log-level LEVEL    error, warn, info or debug (info)  [SHEARS_LOG_LEVEL]\n"
            "  --curve-secret FILE  the broker's CURVE secret key (shears keygen): CURVE\n"
            "                       on every connection         [SHEARS_BROKER_CURVE_SECRET]\n"
            "  --allow DIR          with --curve-secret: DIR/clients/*.pub and\n"
            "                       DIR/workers/*.pub are the keys let in, reread\n"
            "                       every second                       [SHEARS_ALLOW]\n"
            "  --plaintext          serve without CURVE on a non-loopback endpoint\n"
            "                       (a trusted network only)           [SHEARS_PLAINTEXT=1]\n"
            "  --http ADDR          serve a read-only status page and JSON API on\n"
            "                       HOST:PORT, or PORT on 127.0.0.1    [SHEARS_HTTP]\n"
            "  --http-token-file F  require the token in F on every HTTP request\n"
            "                       (needed with CURVE)          [SHEARS_HTTP_TOKEN_FILE]\n"
            "  --s3 URL             also keep artifacts in an S3 bucket: s3://KEY:SECRET@HOST:PORT/\n"
            "                       BUCKET (https:// for TLS; keys may come from\n"
            "                       AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)  [SHEARS_S3]\n"
            "\nWithout --curve-secret the endpoint has no authentication and no encryption;\n"
            "the broker then binds only to loopback (tcp://127.0.0.1, ipc://) unless\n"
            "--plaintext is given.\n"
            "SIGINT or SIGTERM stops the broker cleanly; state survives any stop.\n");
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
        fprintf(stderr, "shears-broker: %s must be an integer from %d to %d, not '%s'\n", what,
                lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Endpoints only this machine can reach. */
static int loopback(const char *ep)
{
    return !strncmp(ep, "ipc://", 6) || !strncmp(ep, "inproc://", 9) ||
           !strncmp(ep, "tcp://127.", 10) || !strncmp(ep, "tcp://localhost:", 16) ||
           !strncmp(ep, "tcp://[::1]:", 12);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"bind", required_argument, NULL, 'b'},        {"state", required_argument, NULL, 's'},
        {"heartbeat-ms", required_argument, NULL, 'H'}, {"liveness-ms", required_argument, NULL, 'L'},
        {"max-attempts", required_argument, NULL, 'A'}, {"allow-synthetic", no_argument, NULL, 'y'},
        {"log-level", required_argument, NULL, 'l'},   {"help", no_argument, NULL, 'h'},
        {"s3", required_argument, NULL, '3'},          {"curve-secret", required_argument, NULL, 'k'},
        {"allow", required_argument, NULL, 'a'},       {"plaintext", no_argument, NULL, 'P'},
        {"max-artifact-mb", required_argument, NULL, 'M'},
        {"http", required_argument, NULL, 'w'},        {"http-token-file", required_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    sh_broker_opts_t o = {
        .bind = env_or("SHEARS_BIND", NULL),
        .state_dir = env_or("SHEARS_STATE", NULL),
        .allow_synthetic = !strcmp(env_or("SHEARS_ALLOW_SYNTHETIC", "0"), "1"),
        .log_level = SH_LOG_INFO,
        .stop = &stop,
        .s3 = env_or("SHEARS_S3", NULL),
    };
    const char *level = env_or("SHEARS_LOG_LEVEL", "info");
    const char *hb = env_or("SHEARS_HEARTBEAT_MS", NULL), *lv = env_or("SHEARS_LIVENESS_MS", NULL);
    const char *ma = env_or("SHEARS_MAX_ATTEMPTS", NULL);
    const char *mam = env_or("SHEARS_MAX_ARTIFACT_MB", NULL);
    const char *token_file = env_or("SHEARS_HTTP_TOKEN_FILE", NULL);
    o.http = env_or("SHEARS_HTTP", NULL);
    const char *secret = env_or("SHEARS_BROKER_CURVE_SECRET", NULL);
    o.allow_dir = env_or("SHEARS_ALLOW", NULL);
    int plaintext = !strcmp(env_or("SHEARS_PLAINTEXT", "0"), "1");
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b': o.bind = optarg; break;
        case 's': o.state_dir = optarg; break;
        case 'H': hb = optarg; break;
        case 'L': lv = optarg; break;
        case 'A': ma = optarg; break;
        case 'y': o.allow_synthetic = 1; break;
        case 'l': level = optarg; break;
        case '3': o.s3 = optarg; break;
        case 'k': secret = optarg; break;
        case 'a': o.allow_dir = optarg; break;
        case 'P': plaintext = 1; break;
        case 'M': mam = optarg; break;
        case 'w': o.http = optarg; break;
        case 'T': token_file = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shears-broker: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o.bind || !o.state_dir) {
        fprintf(stderr, "shears-broker: --bind and --state are required\n\n");
        usage(stderr);
        return 2;
    }
    if ((hb && parse_int(hb, "--heartbeat-ms", 10, 600000, &o.heartbeat_ms)) ||
        (lv && parse_int(lv, "--liveness-ms", 20, 3600000, &o.liveness_ms)) ||
        (ma && parse_int(ma, "--max-attempts", 1, 1000, &o.max_attempts)))
        return 2;
    int max_mb = 4096;
    if (mam && parse_int(mam, "--max-artifact-mb", 1, 1 << 20, &max_mb))
        return 2;
    o.max_artifact = (uint64_t)max_mb << 20;
    if ((o.log_level = sh_log_level_parse(level)) < 0) {
        fprintf(stderr, "shears-broker: unknown log level '%s'\n", level);
        return 2;
    }
    sh_curve_t curve;
    sh_err_t err;
    char token[256] = "";
    if (token_file) {
        char *text;
        size_t len;
        if (sh_file_read(token_file, sizeof token - 1, &text, &len, &err) != SH_OK) {
            fprintf(stderr, "shears-broker: --http-token-file: %s\n", err.msg);
            return 2;
        }
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
            len--;
        memcpy(token, text, len);
        token[len] = '\0';
        free(text);
        if (len < 16 || strcspn(token, " \t\r\n&?#%") != len) {
            fprintf(stderr, "shears-broker: --http-token-file %s: the token must be at least 16 "
                            "characters, one line, no spaces or &?#%%\n", token_file);
            return 2;
        }
        o.http_token = token;
    }
    if (secret) {
        if (!o.allow_dir) {
            fprintf(stderr, "shears-broker: --curve-secret needs --allow DIR (the keys let in)\n");
            return 2;
        }
        if (sh_curve_load(&curve, secret, NULL, &err) != SH_OK) {
            fprintf(stderr, "shears-broker: --curve-secret: %s\n", err.msg);
            return 2;
        }
        o.curve = &curve;
    } else if (o.allow_dir) {
        fprintf(stderr, "shears-broker: --allow needs --curve-secret FILE\n");
        return 2;
    } else if (!plaintext && !loopback(o.bind)) {
        fprintf(stderr, "shears-broker: refusing to serve %s without CURVE: give --curve-secret "
                        "FILE --allow DIR, or --plaintext on a trusted network\n", o.bind);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    void *ctx = zmq_ctx_new();
    sh_status_t st = sh_broker_run(ctx, &o, &err);
    zmq_ctx_term(ctx);
    if (st != SH_OK) {
        fprintf(stderr, "shears-broker: %s\n", err.msg);
        return 1;
    }
    return 0;
}
