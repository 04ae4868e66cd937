/* bench_broker.c - the broker under synthetic load, with SQLite durability
 * on (WAL, synchronous=FULL, group commit), over tcp on loopback.
 *
 *   bench_broker throughput N_JOBS N_WORKERS
 *       0-second synthetic jobs; lightweight fake workers answer each JOB
 *       with DONE at once. Prints jobs/s and dispatch latency percentiles
 *       (worker sends DONE -> receives its next JOB).
 *   bench_broker makespan N_JOBS N_WORKERS SLEEP_MS
 *       jobs that take SLEEP_MS each; prints the makespan against the ideal
 *       ceil(N_JOBS / N_WORKERS) * SLEEP_MS.
 *   bench_broker status N_JOBS N_WORKERS N_QUERIES
 *       N_JOBS long jobs queued and N_WORKERS connected (busy): STATUS
 *       round-trip percentiles and the broker's resident memory.
 *
 * The fake workers speak the protocol directly (proto/PROTOCOL.md); the
 * broker is the real one, in a thread of this process. */
#include "sh_broker.h"
#include "sh_file.h"
#include "sh_mpack.h"
#include "sh_zmq.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int stop_broker, broker_ready, stop_workers;
static char endpoint[128], state_dir[256];
static void *zctx;

static void *broker_main(void *arg)
{
    (void)arg;
    sh_broker_opts_t o = {.bind = endpoint, .state_dir = state_dir, .allow_synthetic = 1,
                          .heartbeat_ms = 1000, .liveness_ms = 30000, .log_level = SH_LOG_WARN,
                          .stop = &stop_broker, .ready = &broker_ready};
    sh_err_t err;
    if (sh_broker_run(zctx, &o, &err) != SH_OK) {
        fprintf(stderr, "broker: %s\n", err.msg);
        exit(1);
    }
    return NULL;
}

typedef struct {
    int index;
    int sleep_ms;
    int hold;          /* never finish jobs (status benchmark) */
    double *lat;       /* dispatch latencies, seconds */
    long n_lat, cap_lat;
    long done;
} fake_t;

static void *fake_worker(void *arg)
{
    fake_t *f = arg;
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    sh_zsock_limits(s, 0);
    zmq_connect(s, endpoint);
    sh_msg_ready_t rd = {.threads = 1, .slots = 1, .version = 1};
    snprintf(rd.worker, sizeof rd.worker, "fake-%d", f->index);
    sh_zsend(s, NULL, SH_TAG_WORKER, SH_W_READY, &rd);
    double done_at = 0, last_hb = sh_now();
    while (!stop_workers) {
        zmq_pollitem_t item = {.socket = s, .events = ZMQ_POLLIN};
        zmq_poll(&item, 1, 100);
        double now = sh_now();
        if (now - last_hb > 0.5) {
            sh_msg_empty_t hb;
            sh_zsend(s, NULL, SH_TAG_WORKER, SH_W_HEARTBEAT, &hb);
            last_hb = now;
        }
        if (!(item.revents & ZMQ_POLLIN))
            continue;
        sh_zframes_t m;
        const char *why;
        if (sh_zrecv(s, 0, 0, &m, &why) != 0)
            continue;
        if (m.cmd == SH_BW_JOB) {
            sh_msg_job_t job;
            if (sh_wire_decode(m.cmd, zmq_msg_data(&m.body), zmq_msg_size(&m.body), &job, NULL) ==
                SH_OK) {
                if (done_at > 0) {
                    if (f->n_lat == f->cap_lat) {
                        f->cap_lat = f->cap_lat ? 2 * f->cap_lat : 4096;
                        f->lat = realloc(f->lat, sizeof(double) * (size_t)f->cap_lat);
                    }
                    f->lat[f->n_lat++] = sh_now() - done_at;
                }
                if (!f->hold) {
                    if (f->sleep_ms)
                        usleep((useconds_t)f->sleep_ms * 1000);
                    sh_msg_done_t d = {.lease = job.lease, .result = "{}"};
                    memcpy(d.job, job.job, 65);
                    sh_zsend(s, NULL, SH_TAG_WORKER, SH_W_DONE, &d);
                    done_at = sh_now();
                    f->done++;
                }
                sh_wire_free(m.cmd, &job);
            }
        } else if (m.cmd == SH_BW_RECONNECT) {
            sh_zsend(s, NULL, SH_TAG_WORKER, SH_W_READY, &rd);
        }
        sh_zframes_close(&m);
    }
    zmq_close(s);
    return NULL;
}

/* One client request; returns the reply payload (malloc'd) or NULL. */
static char *request(void *c, int cmd, void *body, size_t *len)
{
    sh_zsend(c, NULL, SH_TAG_CLIENT, cmd, body);
    for (;;) {
        sh_zframes_t m;
        const char *why;
        if (sh_zrecv(c, 0, 0, &m, &why) != 0)
            continue;
        if (m.cmd == SH_B_REPLY) {
            sh_msg_reply_t r;
            char *out = NULL;
            if (sh_wire_decode(m.cmd, zmq_msg_data(&m.body), zmq_msg_size(&m.body), &r, NULL) ==
                SH_OK) {
                out = malloc(r.data.len + 1);
                memcpy(out, r.data.p, r.data.len);
                *len = r.data.len;
            }
            sh_zframes_close(&m);
            return out;
        }
        sh_zframes_close(&m);
        if (m.cmd == SH_B_ERROR)
            return NULL;
    }
}

static int status_done(void *c, int64_t *done_count)
{
    sh_msg_sweep_req_t st = {.rid = 2, .sweep = 1};
    size_t len;
    char *data = request(c, SH_C_STATUS, &st, &len);
    if (!data)
        return -1;
    /* Crude but bounded: find "done" followed by its integer. */
    sh_mpr_t r;
    sh_mpr_init(&r, data, len);
    const char *key = "done";
    int found = 0;
    for (size_t i = 0; i + 5 < len && !found; i++)
        if ((unsigned char)data[i] == 0xa4 && !memcmp(data + i + 1, key, 4)) {
            sh_mpr_init(&r, data + i + 5, len - i - 5);
            found = sh_mpr_int(&r, done_count) == 0;
        }
    free(data);
    return found ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *v, long n, double p)
{
    if (!n)
        return 0;
    long i = (long)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_broker throughput N_JOBS N_WORKERS\n"
                        "       bench_broker makespan N_JOBS N_WORKERS SLEEP_MS\n"
                        "       bench_broker status N_JOBS N_WORKERS N_QUERIES\n");
        return 2;
    }
    const char *mode = argv[1];
    long n_jobs = atol(argv[2]);
    int n_workers = atoi(argv[3]);
    int sleep_ms = !strcmp(mode, "makespan") && argc > 4 ? atoi(argv[4]) : 0;
    int hold = !strcmp(mode, "status");
    snprintf(state_dir, sizeof state_dir, "%s/shears-bench-broker-%d",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", 20000 + (int)(getpid() % 30000));
    zctx = zmq_ctx_new();
    pthread_t bt;
    pthread_create(&bt, NULL, broker_main, NULL);
    while (!broker_ready)
        usleep(1000);
    fake_t *fakes = calloc((size_t)n_workers, sizeof *fakes);
    pthread_t *wt = calloc((size_t)n_workers, sizeof *wt);
    for (int i = 0; i < n_workers; i++) {
        fakes[i] = (fake_t){.index = i, .sleep_ms = sleep_ms, .hold = hold};
        pthread_create(&wt[i], NULL, fake_worker, &fakes[i]);
    }
    usleep(300000); /* let every worker register */
    void *c = zmq_socket(zctx, ZMQ_DEALER);
    sh_zsock_limits(c, 0);
    zmq_connect(c, endpoint);
    long before = rss_kb();
    double t0 = sh_now();
    sh_msg_synthetic_t syn = {.rid = 1, .count = (uint64_t)n_jobs, .salt = (uint64_t)getpid()};
    size_t len;
    free(request(c, SH_C_SYNTHETIC, &syn, &len));
    double t_submit = sh_now() - t0;
    if (!hold) {
        int64_t done = 0;
        while (done < n_jobs) {
            usleep(20000);
            if (status_done(c, &done) != 0)
                break;
        }
        double secs = sh_now() - t0 - t_submit;
        long n_lat = 0;
        for (int i = 0; i < n_workers; i++)
            n_lat += fakes[i].n_lat;
        double *lat = malloc(sizeof(double) * (size_t)(n_lat + 1));
        long k = 0;
        for (int i = 0; i < n_workers; i++)
            for (long j = 0; j < fakes[i].n_lat; j++)
                lat[k++] = fakes[i].lat[j];
        qsort(lat, (size_t)n_lat, sizeof(double), cmp_double);
        if (!strcmp(mode, "throughput")) {
            printf("jobs %ld workers %d submit_s %.3f run_s %.3f jobs_per_s %.0f "
                   "dispatch_ms_p50 %.3f p99 %.3f max %.3f\n",
                   n_jobs, n_workers, t_submit, secs, n_jobs / secs,
                   1000 * percentile(lat, n_lat, 0.5), 1000 * percentile(lat, n_lat, 0.99),
                   1000 * percentile(lat, n_lat, 1.0));
        } else {
            double ideal = (double)((n_jobs + n_workers - 1) / n_workers) * sleep_ms / 1000.0;
            printf("jobs %ld workers %d sleep_ms %d makespan_s %.3f ideal_s %.3f ratio %.4f\n",
                   n_jobs, n_workers, sleep_ms, secs, ideal, secs / ideal);
        }
        free(lat);
    } else {
        long n_q = argc > 4 ? atol(argv[4]) : 200;
        double *lat = malloc(sizeof(double) * (size_t)n_q);
        for (long q = 0; q < n_q; q++) {
            sh_msg_sweep_req_t st = {.rid = 3 + (uint64_t)q, .sweep = 0};
            double s0 = sh_now();
            free(request(c, SH_C_STATUS, &st, &len));
            lat[q] = sh_now() - s0;
            usleep(5000);
        }
        qsort(lat, (size_t)n_q, sizeof(double), cmp_double);
        printf("queued %ld workers %d status_ms_p50 %.3f p99 %.3f max %.3f rss_mb_before %.1f "
               "rss_mb_after %.1f\n", n_jobs, n_workers, 1000 * percentile(lat, n_q, 0.5),
               1000 * percentile(lat, n_q, 0.99), 1000 * percentile(lat, n_q, 1.0),
               before / 1024.0, rss_kb() / 1024.0);
        free(lat);
    }
    zmq_close(c);
    stop_workers = 1;
    for (int i = 0; i < n_workers; i++) {
        pthread_join(wt[i], NULL);
        free(fakes[i].lat);
    }
    stop_broker = 1;
    pthread_join(bt, NULL);
    zmq_ctx_term(zctx);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", state_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", state_dir);
    free(fakes);
    free(wt);
    return 0;
}
