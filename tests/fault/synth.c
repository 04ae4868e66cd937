/* synth.c - the fault and load tests' client for what `shears` does not
 * offer: synthetic sweeps (refused unless the broker runs with
 * --allow-synthetic) and timed STATUS round trips.
 *
 *   shears-synth submit ENDPOINT COUNT SLEEP_MS PAYLOAD SALT
 *       submits COUNT synthetic jobs that sleep SLEEP_MS and write PAYLOAD
 *       bytes each; prints the sweep id.
 *   shears-synth status ENDPOINT N
 *       N STATUS requests one after another; prints
 *       "status_ms p50 P p99 P max M answered N". */
#include "client_api.h"

#include "sh_mpack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t arg_u64(const char *s, const char *what)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end) {
        fprintf(stderr, "shears-synth: %s must be a non-negative integer, not '%s'\n", what, s);
        exit(2);
    }
    return v;
}

static int submit(sh_client_t *c, char **argv)
{
    sh_msg_synthetic_t syn = {.count = arg_u64(argv[0], "COUNT"),
                              .sleep_ms = arg_u64(argv[1], "SLEEP_MS"),
                              .payload = arg_u64(argv[2], "PAYLOAD"),
                              .salt = arg_u64(argv[3], "SALT")};
    char *data;
    size_t len;
    sh_err_t err;
    if (sh_client_call(c, SH_C_SYNTHETIC, &syn, &data, &len, NULL, NULL, &err) != SH_OK) {
        fprintf(stderr, "shears-synth: %s\n", err.msg);
        return 1;
    }
    sh_mpr_t r;
    sh_mpr_init(&r, data, len);
    uint32_t n;
    int64_t sweep = 0;
    if (sh_mpr_map(&r, &n) == 0)
        for (uint32_t i = 0; i < n && !r.failed; i++) {
            const char *key;
            uint32_t kl;
            sh_mpr_str(&r, &key, &kl);
            if (sh_mpr_key_is(key, kl, "sweep"))
                sh_mpr_int(&r, &sweep);
            else
                sh_mpr_skip(&r);
        }
    free(data);
    if (sweep <= 0) {
        fprintf(stderr, "shears-synth: no sweep id in the reply\n");
        return 1;
    }
    printf("%lld\n", (long long)sweep);
    return 0;
}

static int status(sh_client_t *c, const char *count)
{
    long n = (long)arg_u64(count, "N");
    double *lat = calloc((size_t)n + 1, sizeof *lat);
    long answered = 0;
    for (long q = 0; q < n; q++) {
        sh_msg_sweep_req_t req = {.sweep = 0};
        char *data;
        size_t len;
        sh_err_t err;
        double t0 = sh_now();
        if (sh_client_call(c, SH_C_STATUS, &req, &data, &len, NULL, NULL, &err) != SH_OK) {
            fprintf(stderr, "shears-synth: %s\n", err.msg);
            continue;
        }
        lat[answered++] = 1000 * (sh_now() - t0);
        free(data);
    }
    qsort(lat, (size_t)answered, sizeof *lat, cmp_double);
    printf("status_ms p50 %.2f p99 %.2f max %.2f answered %ld\n",
           answered ? lat[answered / 2] : 0.0,
           answered ? lat[(long)(0.99 * (double)(answered - 1))] : 0.0,
           answered ? lat[answered - 1] : 0.0, answered);
    free(lat);
    return answered == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    int is_submit = argc == 7 && !strcmp(argv[1], "submit");
    int is_status = argc == 4 && !strcmp(argv[1], "status");
    if (!is_submit && !is_status) {
        fprintf(stderr, "usage: shears-synth submit ENDPOINT COUNT SLEEP_MS PAYLOAD SALT\n"
                        "       shears-synth status ENDPOINT N\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    sh_client_t *c;
    sh_err_t err;
    if (sh_client_open(&c, ctx, argv[2], NULL, 10000, &err) != SH_OK) {
        fprintf(stderr, "shears-synth: %s\n", err.msg);
        return 2;
    }
    int rc = is_submit ? submit(c, argv + 3) : status(c, argv[3]);
    sh_client_close(&c);
    zmq_ctx_term(ctx);
    return rc;
}
