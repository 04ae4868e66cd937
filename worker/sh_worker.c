/* sh_worker.c - the worker's socket loop and per-lease state machine:
 *
 *   JOB -> FETCHING inputs (GET/CHUNK into the cache, verified by hash)
 *       -> QUEUED until a slot is free -> RUNNING (a job thread)
 *       -> UPLOADING outputs (PUT/ACK, verified by the broker) -> DONE
 *
 * or FAILED from any step. The job thread touches nothing but its own lease
 * struct (progress under a mutex, a finished flag) and wakes the loop with
 * one byte on an inproc socket; ZeroMQ sockets never cross threads. */
#include "sh_worker.h"

#include "sh_artstore.h"
#include "sh_log.h"
#include "sh_exec.h"
#include "sh_fetch.h"
#include "sh_file.h"
#include "sh_results.h"
#include "sh_rng.h"
#include "sh_zmq.h"

#include <errno.h>
#include <omp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_OUTPUTS 8

typedef enum { L_FETCHING, L_QUEUED, L_RUNNING, L_UPLOADING } lstate_t;

typedef struct {
    char name[64];
    char sha256[65];
    uint64_t size;
} output_t;

typedef struct lease {
    uint64_t lease;
    char job[65];
    sh_jobspec_t spec;
    char *spec_json;
    sh_wire_artifact_t inputs[2];
    int n_inputs;
    char data_name[32], data_sha256[65];
    char *data_path, *data_url;
    lstate_t state;
    /* fetching */
    int fetch_idx;
    uint64_t fetch_rid;
    sh_upload_t *fetch_up;
    /* running */
    pthread_t thread;
    int thread_started;
    atomic_int finished;
    volatile int cancel;
    sh_status_t status;
    sh_err_t err;
    sh_job_result_t result;
    pthread_mutex_t plock;
    sh_progress_t progress;
    int progress_seq, progress_sent;
    char workdir[4200];
    /* uploading */
    output_t outputs[MAX_OUTPUTS];
    int n_outputs, up_idx;
    uint64_t up_off, put_rid;
    struct worker *w;
    struct lease *next;
} lease_t;

typedef struct worker {
    sh_worker_opts_t o;
    void *zctx;
    void *sock;
    void *wake;            /* PULL: job threads say "finished" here */
    char wake_ep[64];
    sh_artstore_t *cache;
    sh_datasets_t *datasets;
    int own_datasets;
    lease_t *leases;
    int running;
    uint64_t next_rid;
    double last_recv, last_send, last_ready, backoff;
    int registered;
    int forbidden;          /* the broker refused our key (logged once) */
    char *chunk;
} worker_t;

static void wlog(worker_t *w, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void wlog(worker_t *w, int level, const char *fmt, ...)
{
    char who[160];
    snprintf(who, sizeof who, "worker %s", w->o.name);
    va_list ap;
    va_start(ap, fmt);
    sh_log_v(w->o.log, w->o.log_level, level, who, fmt, ap);
    va_end(ap);
}

static void send_msg(worker_t *w, int cmd, const void *body)
{
    if (sh_zsend(w->sock, NULL, SH_TAG_WORKER, cmd, body) != 0)
        wlog(w, SH_LOG_DEBUG, "send %s failed: %s", sh_cmd_name(cmd), zmq_strerror(errno));
    w->last_send = sh_now();
}

static int count_leases(const worker_t *w)
{
    int n = 0;
    for (const lease_t *l = w->leases; l; l = l->next)
        n++;
    return n;
}

static void send_ready(worker_t *w)
{
    sh_msg_ready_t r = {.threads = (uint64_t)w->o.threads, .slots = (uint64_t)w->o.slots,
                        .busy = (uint64_t)count_leases(w), .version = 1};
    snprintf(r.worker, sizeof r.worker, "%s", w->o.name);
    send_msg(w, SH_W_READY, &r);
    w->last_ready = sh_now();
}

/* ---- lease lifetime ------------------------------------------------------------- */

static void lease_free(worker_t *w, lease_t *l)
{
    lease_t **p = &w->leases;
    while (*p && *p != l)
        p = &(*p)->next;
    if (*p)
        *p = l->next;
    if (l->thread_started) {
        l->cancel = 1;
        pthread_join(l->thread, NULL);
        w->running--;
    }
    sh_upload_abort(&l->fetch_up);
    if (l->workdir[0]) {
        /* The work directory only ever holds this job's outputs. */
        static const char *const files[] = {SH_FINAL_CKPT, SH_MODEL_FILE, "out.bin"};
        char path[4400];
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "%s/%s", l->workdir, files[i]);
            unlink(path);
        }
        rmdir(l->workdir);
    }
    pthread_mutex_destroy(&l->plock);
    free(l->spec_json);
    free(l->data_path);
    free(l->data_url);
    free(l);
}

static lease_t *lease_by_id(worker_t *w, uint64_t id)
{
    for (lease_t *l = w->leases; l; l = l->next)
        if (l->lease == id)
            return l;
    return NULL;
}

static void lease_fail(worker_t *w, lease_t *l, const char *why, int handback)
{
    sh_msg_failed_t f = {.lease = l->lease, .error = (char *)why, .handback = handback};
    memcpy(f.job, l->job, 65);
    send_msg(w, SH_W_FAILED, &f);
    if (handback)
        wlog(w, SH_LOG_INFO, "job %.12s handed back", l->job);
    else
        wlog(w, SH_LOG_WARN, "job %.12s failed: %s", l->job, why);
    lease_free(w, l);
}

/* ---- fetching inputs ------------------------------------------------------------- */

static void request_chunk(worker_t *w, lease_t *l, uint64_t offset)
{
    sh_msg_fetch_t g = {.rid = ++w->next_rid, .offset = offset, .length = SH_WIRE_CHUNK};
    memcpy(g.sha256, l->inputs[l->fetch_idx].sha256, 65);
    l->fetch_rid = g.rid;
    send_msg(w, SH_W_GET, &g);
}

static void start_queued(worker_t *w);

/* Advances to the next input not yet in the cache, or queues the job. */
static void fetch_next(worker_t *w, lease_t *l)
{
    while (l->fetch_idx < l->n_inputs &&
           sh_artstore_has(w->cache, l->inputs[l->fetch_idx].sha256, NULL))
        l->fetch_idx++;
    if (l->fetch_idx < l->n_inputs) {
        sh_err_t err;
        const sh_wire_artifact_t *in = &l->inputs[l->fetch_idx];
        if (sh_upload_begin(w->cache, in->sha256, in->size, &l->fetch_up, &err) != SH_OK) {
            lease_fail(w, l, err.msg, 0);
            return;
        }
        wlog(w, SH_LOG_DEBUG, "job %.12s: fetching %s (%.12s, %llu bytes)", l->job, in->name,
             in->sha256, (unsigned long long)in->size);
        request_chunk(w, l, 0);
        return;
    }
    l->state = L_QUEUED;
    start_queued(w);
}

static void handle_chunk(worker_t *w, const sh_msg_chunk_t *c)
{
    lease_t *l = w->leases;
    while (l && !(l->state == L_FETCHING && l->fetch_rid == c->rid))
        l = l->next;
    if (!l)
        return; /* a late reply to a request we no longer care about */
    sh_err_t err;
    sh_status_t st = sh_upload_write(l->fetch_up, c->offset, c->data.p, c->data.len, &err);
    if (st == SH_OK && c->eof)
        st = sh_upload_finish(&l->fetch_up, &err);
    if (st != SH_OK) {
        sh_upload_abort(&l->fetch_up);
        lease_fail(w, l, err.msg, 0);
        return;
    }
    if (c->eof) {
        l->fetch_idx++;
        fetch_next(w, l);
    } else {
        request_chunk(w, l, c->offset + c->data.len);
    }
}

/* ---- running ------------------------------------------------------------------------ */

static void on_progress(void *user, const sh_progress_t *p)
{
    lease_t *l = user;
    pthread_mutex_lock(&l->plock);
    l->progress = *p;
    l->progress_seq++;
    pthread_mutex_unlock(&l->plock);
}

/* Synthetic jobs: sleep (cancellable), fail on purpose, or write a payload
 * whose bytes depend only on the job id. */
static sh_status_t run_synthetic(lease_t *l, sh_err_t *err)
{
    double end = sh_now() + (double)l->spec.synth.sleep_ms / 1000.0;
    while (sh_now() < end) {
        if (l->cancel)
            return sh_fail(err, SH_ECANCELED, "canceled");
        double left = end - sh_now();
        struct timespec ts = {0, (long)(SH_MIN(left, 0.01) * 1e9)};
        if (left > 0)
            nanosleep(&ts, NULL);
    }
    if (l->spec.synth.fail)
        return sh_fail(err, SH_EARG, "synthetic job %llu fails on purpose",
                       (unsigned long long)l->spec.synth.index);
    if (l->spec.synth.payload) {
        size_t n = (size_t)l->spec.synth.payload;
        unsigned char *buf = sh_xmalloc(n);
        sh_rng_t rng;
        sh_rng_seed(&rng, strtoull(l->job + 48, NULL, 16), 0);
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)(sh_rng_next(&rng) >> 56);
        char path[4300];
        snprintf(path, sizeof path, "%s/out.bin", l->workdir);
        sh_status_t st = sh_file_write_atomic(path, buf, n, err);
        free(buf);
        return st;
    }
    return SH_OK;
}

static void *job_main(void *arg)
{
    lease_t *l = arg;
    worker_t *w = l->w;
    sh_status_t st = sh_mkdirs(l->workdir, &l->err);
    if (st == SH_OK && l->spec.kind == SH_JOB_SYNTHETIC) {
        st = run_synthetic(l, &l->err);
    } else if (st == SH_OK) {
        char dir[4200];
        st = sh_fetch_dataset_dir(w->o.cache_dir, l->data_name, l->data_path, l->data_url,
                                  l->data_sha256, dir, sizeof dir, &l->err);
        const sh_data_bundle_t *data = NULL;
        if (st == SH_OK)
            st = sh_datasets_get(w->datasets, l->data_name, dir, l->spec.validation, &data,
                                 &l->err);
        char parent[4300] = "", source[4300] = "";
        for (int i = 0; i < l->n_inputs; i++) {
            char *dst = !strcmp(l->inputs[i].name, "parent") ? parent : source;
            sh_artstore_path(w->cache, l->inputs[i].sha256, dst, 4300);
        }
        if (st == SH_OK) {
            sh_exec_t x = {.spec = &l->spec, .data = data,
                           .parent_ckpt = parent[0] ? parent : NULL,
                           .source_ckpt = source[0] ? source : NULL, .out_dir = l->workdir,
                           .threads = w->o.threads, .progress = on_progress,
                           .cancel = &l->cancel, .user = l};
            st = sh_exec_job(&x, &l->result, &l->err);
        }
    }
    l->status = st;
    atomic_store(&l->finished, 1);
    void *push = zmq_socket(w->zctx, ZMQ_PUSH);
    zmq_connect(push, w->wake_ep);
    zmq_send(push, "x", 1, 0);
    zmq_close(push);
    return NULL;
}

static void start_queued(worker_t *w)
{
    int draining = (w->o.drain && *w->o.drain) || (w->o.stop && *w->o.stop);
    for (lease_t *l = w->leases; l && w->running < w->o.slots && !draining; l = l->next) {
        if (l->state != L_QUEUED)
            continue;
        snprintf(l->workdir, sizeof l->workdir, "%s/work/%llu-%.16s", w->o.cache_dir,
                 (unsigned long long)l->lease, l->job);
        l->state = L_RUNNING;
        w->running++;
        if (pthread_create(&l->thread, NULL, job_main, l) != 0) {
            w->running--;
            lease_fail(w, l, "cannot start a job thread", 0);
            return;
        }
        l->thread_started = 1;
        wlog(w, SH_LOG_INFO, "job %.12s started (lease %llu)", l->job,
             (unsigned long long)l->lease);
    }
}

/* ---- uploading ------------------------------------------------------------------------ */

static void send_done(worker_t *w, lease_t *l)
{
    sh_wire_artifact_t arts[MAX_OUTPUTS];
    for (int i = 0; i < l->n_outputs; i++) {
        snprintf(arts[i].name, sizeof arts[i].name, "%s", l->outputs[i].name);
        memcpy(arts[i].sha256, l->outputs[i].sha256, 65);
        arts[i].size = l->outputs[i].size;
    }
    char *json = sh_result_to_json(&l->result);
    sh_msg_done_t d = {.lease = l->lease, .result = json ? json : "{}", .artifacts = arts,
                       .n_artifacts = (uint32_t)l->n_outputs};
    memcpy(d.job, l->job, 65);
    send_msg(w, SH_W_DONE, &d);
    free(json);
    wlog(w, SH_LOG_INFO, "job %.12s done in %.1f s", l->job, l->result.seconds);
    lease_free(w, l);
}

/* Sends the next chunk of the current output, or DONE after the last. */
static void upload_next(worker_t *w, lease_t *l)
{
    if (l->up_idx >= l->n_outputs) {
        send_done(w, l);
        return;
    }
    const output_t *o = &l->outputs[l->up_idx];
    size_t n = 0;
    uint64_t total = 0;
    sh_err_t err;
    if (sh_artstore_read(w->cache, o->sha256, l->up_off, w->chunk, SH_WIRE_CHUNK, &n, &total,
                         &err) != SH_OK) {
        lease_fail(w, l, err.msg, 0);
        return;
    }
    sh_msg_put_t p = {.rid = ++w->next_rid, .offset = l->up_off, .size = total,
                      .data = {(const uint8_t *)w->chunk, (uint32_t)n},
                      .last = l->up_off + n >= total};
    memcpy(p.sha256, o->sha256, 65);
    l->put_rid = p.rid;
    l->up_off += n;
    send_msg(w, SH_W_PUT, &p);
}

static void handle_ack(worker_t *w, const sh_msg_ack_t *a)
{
    lease_t *l = w->leases;
    while (l && !(l->state == L_UPLOADING && l->put_rid == a->rid))
        l = l->next;
    if (!l)
        return;
    if (a->complete || l->up_off >= l->outputs[l->up_idx].size) {
        l->up_idx++;
        l->up_off = 0;
    }
    upload_next(w, l);
}

/* A job thread finished: collect outputs into the cache and upload them. */
static void collect(worker_t *w, lease_t *l)
{
    pthread_join(l->thread, NULL);
    l->thread_started = 0;
    w->running--;
    if (l->status == SH_ECANCELED) {
        wlog(w, SH_LOG_INFO, "job %.12s canceled", l->job);
        if (w->o.stop && *w->o.stop)
            lease_fail(w, l, "worker stopping", 1);
        else
            lease_free(w, l);
        return;
    }
    if (l->status != SH_OK) {
        lease_fail(w, l, l->err.msg, 0);
        return;
    }
    static const char *const files[] = {SH_FINAL_CKPT, SH_MODEL_FILE, "out.bin"};
    for (int i = 0; i < 3; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", l->workdir, files[i]);
        if (!sh_file_exists(path))
            continue;
        output_t *o = &l->outputs[l->n_outputs];
        sh_err_t err;
        if (sh_artstore_add_file(w->cache, path, o->sha256, &o->size, &err) != SH_OK) {
            lease_fail(w, l, err.msg, 0);
            return;
        }
        snprintf(o->name, sizeof o->name, "%s", files[i]);
        l->n_outputs++;
    }
    l->state = L_UPLOADING;
    l->up_idx = 0;
    l->up_off = 0;
    upload_next(w, l);
}

/* ---- broker messages ------------------------------------------------------------------ */

static void handle_job(worker_t *w, const sh_msg_job_t *m)
{
    if (lease_by_id(w, m->lease))
        return;
    lease_t *l = sh_xcalloc(1, sizeof *l);
    l->w = w;
    l->lease = m->lease;
    memcpy(l->job, m->job, 65);
    pthread_mutex_init(&l->plock, NULL);
    l->next = w->leases;
    w->leases = l;
    sh_err_t err;
    char id[65];
    if (sh_jobspec_parse(&l->spec, m->spec, strlen(m->spec), &err) != SH_OK) {
        lease_fail(w, l, err.msg, 0);
        return;
    }
    sh_jobspec_id(&l->spec, id);
    if (strcmp(id, m->job) != 0) {
        lease_fail(w, l, "job spec does not hash to the job id", 0);
        return;
    }
    l->spec_json = strdup(m->spec);
    l->n_inputs = (int)SH_MIN(m->n_inputs, 2u);
    memcpy(l->inputs, m->inputs, sizeof(sh_wire_artifact_t) * (size_t)l->n_inputs);
    snprintf(l->data_name, sizeof l->data_name, "%s", m->data_name);
    snprintf(l->data_sha256, sizeof l->data_sha256, "%s", m->data_sha256);
    l->data_path = m->data_path ? strdup(m->data_path) : NULL;
    l->data_url = m->data_url ? strdup(m->data_url) : NULL;
    if ((w->o.drain && *w->o.drain) || (w->o.stop && *w->o.stop)) {
        lease_fail(w, l, "worker draining", 1);
        return;
    }
    wlog(w, SH_LOG_DEBUG, "job %.12s leased (lease %llu)", l->job, (unsigned long long)l->lease);
    l->state = L_FETCHING;
    fetch_next(w, l);
}

static void reconnect(worker_t *w);

static void handle_broker_error(worker_t *w, const sh_msg_error_t *e)
{
    if (!strcmp(e->code, "forbidden")) {
        /* Our key is not (or no longer) on the broker's allow list: every
         * message gets this answer until it is again. Say so once. */
        if (!w->forbidden)
            wlog(w, SH_LOG_ERROR, "broker refuses this worker's key: %s; retrying", e->message);
        w->forbidden = 1;
        return;
    }
    wlog(w, SH_LOG_WARN, "broker: %s: %s", e->code, e->message);
    for (lease_t *l = w->leases; l; l = l->next)
        if ((l->state == L_FETCHING && l->fetch_rid == e->rid) ||
            (l->state == L_UPLOADING && l->put_rid == e->rid)) {
            lease_fail(w, l, e->message, 0);
            return;
        }
}

static void handle_broker(worker_t *w)
{
    sh_zframes_t m;
    const char *why;
    int rc = sh_zrecv(w->sock, 0, ZMQ_DONTWAIT, &m, &why);
    if (rc < 0)
        return;
    w->last_recv = sh_now();
    w->backoff = 0;
    if (rc == 1 || m.side != 'W' || !sh_wire_cmd_from(m.cmd, 'B')) {
        wlog(w, SH_LOG_WARN, "malformed message from the broker: %s", why ? why : "bad command");
        sh_zframes_close(&m);
        return;
    }
    char body[2048];
    sh_err_t err;
    if (sh_wire_decode(m.cmd, zmq_msg_data(&m.body), zmq_msg_size(&m.body), body, &err) != SH_OK) {
        wlog(w, SH_LOG_WARN, "malformed %s from the broker: %s", sh_cmd_name(m.cmd), err.msg);
        sh_zframes_close(&m);
        return;
    }
    if (!w->registered && m.cmd != SH_BW_ERROR) {
        w->registered = 1;
        wlog(w, SH_LOG_INFO, "connected to %s", w->o.broker);
    }
    switch (m.cmd) {
    case SH_BW_JOB:
        handle_job(w, (sh_msg_job_t *)body);
        break;
    case SH_BW_CHUNK:
        handle_chunk(w, (sh_msg_chunk_t *)body);
        break;
    case SH_BW_ACK:
        handle_ack(w, (sh_msg_ack_t *)body);
        break;
    case SH_BW_CANCEL: {
        lease_t *l = lease_by_id(w, ((sh_msg_lease_t *)body)->lease);
        if (l && l->state == L_RUNNING) {
            l->cancel = 1;
        } else if (l) {
            wlog(w, SH_LOG_INFO, "job %.12s canceled", l->job);
            lease_free(w, l);
        }
        break;
    }
    case SH_BW_ERROR:
        handle_broker_error(w, (sh_msg_error_t *)body);
        break;
    case SH_BW_HEARTBEAT:
        if (w->forbidden)
            wlog(w, SH_LOG_INFO, "broker accepts this worker's key again");
        w->forbidden = 0;
        break;
    case SH_BW_RECONNECT:
        /* The broker does not know this connection (it restarted, or
         * declared us lost) and dropped what we sent: start over on a
         * fresh connection, transfers in flight included. */
        sh_wire_free(m.cmd, body);
        sh_zframes_close(&m);
        reconnect(w);
        return;
    }
    sh_wire_free(m.cmd, body);
    sh_zframes_close(&m);
}

/* New socket, fresh identity: transfers in flight start over. */
static void reconnect(worker_t *w)
{
    if (w->sock)
        zmq_close(w->sock);
    w->sock = zmq_socket(w->zctx, ZMQ_DEALER);
    sh_zsock_limits(w->sock, 0);
    if (w->o.curve)
        sh_curve_client_socket(w->sock, w->o.curve);
    zmq_connect(w->sock, w->o.broker);
    w->registered = 0;
    for (lease_t *l = w->leases; l; l = l->next) {
        if (l->state == L_FETCHING) {
            sh_upload_abort(&l->fetch_up);
            l->fetch_rid = 0;
        } else if (l->state == L_UPLOADING) {
            l->up_idx = 0;
            l->up_off = 0;
            l->put_rid = 0;
        }
    }
    send_ready(w);
    w->last_recv = sh_now();
    for (lease_t *l = w->leases; l; l = l->next) {
        if (l->state == L_FETCHING)
            fetch_next(w, l);
        else if (l->state == L_UPLOADING)
            upload_next(w, l);
    }
}

static void send_progress(worker_t *w)
{
    for (lease_t *l = w->leases; l; l = l->next) {
        if (l->state != L_RUNNING)
            continue;
        pthread_mutex_lock(&l->plock);
        sh_progress_t p = l->progress;
        int seq = l->progress_seq;
        pthread_mutex_unlock(&l->plock);
        if (seq == l->progress_sent)
            continue;
        l->progress_sent = seq;
        sh_msg_progress_t m = {.lease = l->lease, .epoch = (uint64_t)p.epoch,
                               .epochs = (uint64_t)p.epochs, .batch = (uint64_t)p.batch,
                               .batches = (uint64_t)p.batches, .loss = p.loss};
        snprintf(m.phase, sizeof m.phase, "%s", p.phase ? p.phase : "train");
        send_msg(w, SH_W_PROGRESS, &m);
    }
}

sh_status_t sh_worker_run(void *zctx, const sh_worker_opts_t *opts, sh_err_t *err)
{
    worker_t w = {.o = *opts, .zctx = zctx};
    char default_name[160];
    if (!w.o.name) {
        char host[128] = "worker";
        gethostname(host, sizeof host - 1);
        snprintf(default_name, sizeof default_name, "%s/%d", host, (int)getpid());
        w.o.name = default_name;
    }
    if (w.o.slots <= 0)
        w.o.slots = 1;
    if (w.o.threads <= 0)
        w.o.threads = SH_MAX(1, omp_get_num_procs() / w.o.slots);
    if (w.o.heartbeat_ms <= 0)
        w.o.heartbeat_ms = 1000;
    if (w.o.liveness_ms <= 0)
        w.o.liveness_ms = 5000;
    if (!w.o.cache_dir)
        return sh_fail(err, SH_EARG, "worker needs a cache directory");
    char path[4200];
    snprintf(path, sizeof path, "%s/artifacts", w.o.cache_dir);
    sh_status_t st = sh_artstore_open(&w.cache, path, (uint64_t)8 << 30, err);
    if (st != SH_OK)
        return st;
    w.datasets = w.o.datasets;
    if (!w.datasets) {
        w.datasets = sh_datasets_new();
        w.own_datasets = 1;
    }
    w.chunk = sh_xmalloc(SH_WIRE_CHUNK);
    snprintf(w.wake_ep, sizeof w.wake_ep, "inproc://shears-worker-%p", (void *)&w);
    w.wake = zmq_socket(zctx, ZMQ_PULL);
    zmq_bind(w.wake, w.wake_ep);
    reconnect(&w);
    wlog(&w, SH_LOG_INFO, "started: %d slot%s x %d thread%s, broker %s", w.o.slots,
         w.o.slots == 1 ? "" : "s", w.o.threads, w.o.threads == 1 ? "" : "s", w.o.broker);
    int drained = 0;
    double last_progress = 0;
    for (;;) {
        int stopping = w.o.stop && *w.o.stop, draining = w.o.drain && *w.o.drain;
        if (stopping || draining) {
            for (lease_t *l = w.leases, *next; l; l = next) {
                next = l->next;
                if (l->state == L_RUNNING && stopping)
                    l->cancel = 1;
                else if (l->state == L_FETCHING || l->state == L_QUEUED)
                    lease_fail(&w, l, stopping ? "worker stopping" : "worker draining", 1);
            }
            if (!w.leases || (stopping && w.running == 0 && !w.leases)) {
                drained = 1;
                break;
            }
            if (stopping && w.running == 0) {
                /* Uploads in flight are abandoned: the broker requeues. */
                for (lease_t *l = w.leases, *next; l; l = next) {
                    next = l->next;
                    lease_fail(&w, l, "worker stopping", 1);
                }
                drained = 1;
                break;
            }
        }
        zmq_pollitem_t items[2] = {{.socket = w.sock, .events = ZMQ_POLLIN},
                                   {.socket = w.wake, .events = ZMQ_POLLIN}};
        zmq_poll(items, 2, SH_MIN(w.o.heartbeat_ms / 2, 100));
        if (items[1].revents & ZMQ_POLLIN) {
            char byte;
            while (zmq_recv(w.wake, &byte, 1, ZMQ_DONTWAIT) >= 0)
                ;
        }
        for (int n = 0; n < 256; n++) {
            int events = 0;
            size_t sz = sizeof events;
            zmq_getsockopt(w.sock, ZMQ_EVENTS, &events, &sz);
            if (!(events & ZMQ_POLLIN))
                break;
            handle_broker(&w);
        }
        for (lease_t *l = w.leases, *next; l; l = next) {
            next = l->next;
            if (l->state == L_RUNNING && atomic_load(&l->finished))
                collect(&w, l);
        }
        start_queued(&w);
        double now = sh_now();
        if (now - last_progress >= 0.5) {
            send_progress(&w);
            last_progress = now;
        }
        if (now - w.last_recv > w.o.liveness_ms / 1000.0) {
            /* Broker silent: reconnect, backing off while it stays away. */
            if (now - w.last_ready >= w.backoff) {
                wlog(&w, w.registered ? SH_LOG_WARN : SH_LOG_DEBUG,
                     "broker silent for %.1f s; reconnecting", now - w.last_recv);
                w.backoff = w.backoff ? SH_MIN(w.backoff * 2, 5.0) : 0.1;
                reconnect(&w);
                w.last_recv = now - w.o.liveness_ms / 1000.0; /* stay in backoff */
            }
        } else if (now - w.last_send >= w.o.heartbeat_ms / 1000.0) {
            sh_msg_empty_t hb;
            send_msg(&w, SH_W_HEARTBEAT, &hb);
        }
    }
    if (drained) {
        sh_msg_empty_t bye;
        send_msg(&w, SH_W_DISCONNECT, &bye);
        wlog(&w, SH_LOG_INFO, "drained; leaving");
    }
    zmq_close(w.sock);
    zmq_close(w.wake);
    sh_artstore_close(&w.cache);
    if (w.own_datasets)
        sh_datasets_destroy(&w.datasets);
    free(w.chunk);
    return SH_OK;
}
