/* sh_broker.c - the broker's event loop: receive, handle, group-commit, then
 * send. Also the worker side of the protocol (registration, heartbeats,
 * leases, results, artifact transfer) and the scheduler.
 *
 * Ordering rule: every outgoing message is queued and sent only after the
 * SQLite transaction of the loop iteration commits. A client's SUBMIT is
 * therefore acknowledged only once the sweep is durable, and a lease is
 * only granted once it is recorded. */
#include "broker_internal.h"

#include "sh_file.h"
#include "sh_results.h"
#include "sh_zmq.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void blog(broker_t *b, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sh_log_v(b->o->log, b->o->log_level, level, "broker", fmt, ap);
    va_end(ap);
}

/* ---- outgoing ------------------------------------------------------------------ */

static void queue_encoded(broker_t *b, const unsigned char *id, size_t id_len, const char *tag,
                          int cmd, char *body, size_t len)
{
    if (b->n_out == b->cap_out) {
        b->cap_out = b->cap_out ? b->cap_out * 2 : 256;
        b->out = realloc(b->out, sizeof *b->out * (size_t)b->cap_out);
        if (!b->out) {
            fprintf(stderr, "shears-broker: out of memory\n");
            abort();
        }
    }
    outmsg_t *m = &b->out[b->n_out++];
    memcpy(m->identity, id, id_len);
    m->id_len = id_len;
    memcpy(m->tag, tag, 5);
    m->cmd = cmd;
    m->body = body;
    m->len = len;
}

void queue_msg(broker_t *b, const unsigned char *id, size_t id_len, const char *tag, int cmd,
               const void *body)
{
    char *buf;
    size_t len;
    if (sh_wire_encode(cmd, body, &buf, &len, NULL) != SH_OK)
        return;
    queue_encoded(b, id, id_len, tag, cmd, buf, len);
}

void queue_error(broker_t *b, const unsigned char *id, size_t id_len, const char *tag,
                 uint64_t rid, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sh_msg_error_t e = {.rid = rid, .message = msg};
    snprintf(e.code, sizeof e.code, "%s", code);
    queue_msg(b, id, id_len, tag, !strcmp(tag, SH_TAG_WORKER) ? SH_BW_ERROR : SH_B_ERROR, &e);
}

void queue_reply_raw(broker_t *b, const unsigned char *id, size_t id_len, int cmd, uint64_t rid,
                     const char *data, size_t len)
{
    sh_msg_reply_t r = {.rid = rid, .data = {(const uint8_t *)data, (uint32_t)len}};
    queue_msg(b, id, id_len, SH_TAG_CLIENT, cmd, &r);
}

static void flush_out(broker_t *b)
{
    for (int i = 0; i < b->n_out; i++) {
        outmsg_t *m = &b->out[i];
        unsigned char c = (unsigned char)m->cmd;
        if (zmq_send(b->sock, m->identity, m->id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
            zmq_send(b->sock, m->tag, SH_TAG_LEN, ZMQ_SNDMORE) < 0 ||
            zmq_send(b->sock, &c, 1, ZMQ_SNDMORE) < 0 || zmq_send(b->sock, m->body, m->len, 0) < 0)
            blog(b, SH_LOG_DEBUG, "send %s failed: %s", sh_cmd_name(m->cmd), zmq_strerror(errno));
        free(m->body);
    }
    b->n_out = 0;
}

static void commit(broker_t *b)
{
    if (sh_store_in_tx(b->store) && sh_store_commit(b->store) != 0) {
        /* The state on disk did not change; nothing queued may be sent as if
         * it had. Crash-consistent recovery is the only safe way on. */
        blog(b, SH_LOG_ERROR, "commit failed: %s; exiting", sh_store_error(b->store));
        abort();
    }
    flush_out(b);
}

/* ---- artifacts: local store, optionally backed by S3 ------------------------------- */

int artifact_local(broker_t *b, const char *sha256, uint64_t *size)
{
    if (sh_artstore_has(b->arts, sha256, size))
        return 1;
    if (!b->s3)
        return 0;
    char tmp[4400], got[65];
    uint64_t got_size;
    sh_err_t err;
    char name[80];
    snprintf(name, sizeof name, "%s.s3", sha256);
    sh_artstore_tmp_path(b->arts, name, tmp, sizeof tmp);
    if (sh_s3_get_file(b->s3, sha256, tmp, &err) != SH_OK) {
        blog(b, SH_LOG_WARN, "artifact %.12s: not in S3 either: %s", sha256, err.msg);
        return 0;
    }
    /* add_file hashes what arrived and moves it into place. */
    if (sh_artstore_add_file(b->arts, tmp, got, &got_size, &err) != SH_OK ||
        strcmp(got, sha256) != 0) {
        blog(b, SH_LOG_ERROR, "artifact %.12s from S3 is corrupted", sha256);
        unlink(tmp);
        return 0;
    }
    blog(b, SH_LOG_INFO, "artifact %.12s restored from S3", sha256);
    return sh_artstore_has(b->arts, sha256, size);
}

/* Makes sure S3 holds a stored artifact. Returns 0, or -1 with err set. */
static int replicate(broker_t *b, const char *sha256, sh_err_t *err)
{
    if (!b->s3)
        return 0;
    uint64_t have;
    if (sh_s3_head(b->s3, sha256, &have, NULL) == SH_OK && sh_artstore_has(b->arts, sha256, NULL))
        return 0;
    char path[4400];
    sh_artstore_path(b->arts, sha256, path, sizeof path);
    return sh_s3_put_file(b->s3, sha256, path, err) == SH_OK ? 0 : -1;
}

/* ---- workers ------------------------------------------------------------------- */

static int worker_find(const broker_t *b, const unsigned char *id, size_t id_len)
{
    for (int w = 0; w < b->n_workers; w++)
        if (b->workers[w].alive && b->workers[w].id_len == id_len &&
            !memcmp(b->workers[w].identity, id, id_len))
            return w;
    return -1;
}

static void send_worker(broker_t *b, int w, int cmd, const void *body)
{
    worker_t *wk = &b->workers[w];
    queue_msg(b, wk->identity, wk->id_len, SH_TAG_WORKER, cmd, body);
    wk->last_send = b->now;
}

void worker_add_lease(broker_t *b, int w, int j)
{
    worker_t *wk = &b->workers[w];
    if (wk->n_leases == wk->cap_leases) {
        wk->cap_leases = wk->cap_leases ? wk->cap_leases * 2 : 8;
        wk->leased = realloc(wk->leased, sizeof(int) * (size_t)wk->cap_leases);
        if (!wk->leased)
            abort();
    }
    wk->leased[wk->n_leases++] = j;
}

void worker_drop_lease(broker_t *b, int w, int j)
{
    worker_t *wk = &b->workers[w];
    for (int i = 0; i < wk->n_leases; i++)
        if (wk->leased[i] == j) {
            wk->leased[i] = wk->leased[--wk->n_leases];
            return;
        }
}

/* Ends job j's lease. charge counts the attempt against max_attempts. */
void release_lease(broker_t *b, int j, const char *outcome, const char *error, int charge)
{
    job_t *job = &b->jobs[j];
    if (job->state != J_LEASED)
        return;
    sh_store_begin(b->store);
    sh_store_attempt_end(b->store, job->lease, outcome, error, b->now);
    if (job->worker >= 0)
        worker_drop_lease(b, job->worker, j);
    job->worker = -1;
    job->lease = 0;
    job->has_progress = 0;
    if (charge)
        job->attempts++;
    if (error) {
        free(job->last_error);
        job->last_error = strdup(error);
    }
    if (charge && job->attempts >= b->o->max_attempts) {
        job->state = J_FAILED;
        job_persist(b, j);
        blog(b, SH_LOG_WARN, "job %.12s failed after %d attempts: %s", job->id, job->attempts,
             error ? error : "?");
        job_block_descendants(b, j);
    } else {
        job->state = J_READY;
        job_persist(b, j);
        heap_push(b, j);
    }
    touch_watchers(b, j);
}

static void worker_lost(broker_t *b, int w, const char *why)
{
    worker_t *wk = &b->workers[w];
    wk->alive = 0;
    sh_upload_abort(&wk->upload);
    int n = 0;
    while (wk->n_leases > 0) {
        int j = wk->leased[wk->n_leases - 1];
        blog(b, SH_LOG_INFO, "lease %llu expired: job %.12s requeued",
             (unsigned long long)b->jobs[j].lease, b->jobs[j].id);
        release_lease(b, j, "lost", why, 1); /* drops it from wk->leased */
        n++;
    }
    blog(b, SH_LOG_INFO, "worker %s lost (%s), %d lease%s requeued", wk->name, why, n,
         n == 1 ? "" : "s");
    sh_store_begin(b->store);
    sh_store_worker_seen(b->store, wk->name, wk->threads, wk->slots, b->now);
}

static void handle_ready(broker_t *b, const unsigned char *id, size_t id_len,
                         const sh_msg_ready_t *m, zmq_msg_t *msg)
{
    int w = worker_find(b, id, id_len);
    if (w < 0) {
        /* Reuse a dead slot so the table stays small under churn. */
        for (w = 0; w < b->n_workers && b->workers[w].alive; w++)
            ;
        if (w == b->n_workers) {
            if (b->n_workers == b->cap_workers) {
                b->cap_workers = b->cap_workers ? b->cap_workers * 2 : 16;
                b->workers = realloc(b->workers, sizeof *b->workers * (size_t)b->cap_workers);
                if (!b->workers)
                    abort();
            }
            memset(&b->workers[b->n_workers++], 0, sizeof b->workers[0]);
        }
        /* A reused slot keeps its (empty) lease array. */
        int *leased = b->workers[w].leased, cap = b->workers[w].cap_leases;
        memset(&b->workers[w], 0, sizeof b->workers[w]);
        b->workers[w].leased = leased;
        b->workers[w].cap_leases = cap;
        b->workers[w].joined = b->now;
    }
    worker_t *wk = &b->workers[w];
    memcpy(wk->identity, id, id_len);
    if (b->o->curve)
        snprintf(wk->key, sizeof wk->key, "%s", zmq_msg_gets(msg, "User-Id"));
    wk->id_len = id_len;
    snprintf(wk->name, sizeof wk->name, "%s", m->worker);
    wk->threads = (int)SH_MIN(m->threads, 4096);
    wk->slots = (int)SH_MIN(SH_MAX(m->slots, 1), 256);
    wk->busy_unknown = (int)SH_MIN(m->busy, 256);
    wk->alive = 1;
    wk->last_recv = b->now;
    blog(b, SH_LOG_INFO, "worker %s joined: %d thread%s, %d slot%s", wk->name, wk->threads,
         wk->threads == 1 ? "" : "s", wk->slots, wk->slots == 1 ? "" : "s");
    sh_store_begin(b->store);
    sh_store_worker_seen(b->store, wk->name, wk->threads, wk->slots, b->now);
    sh_msg_empty_t hb;
    send_worker(b, w, SH_BW_HEARTBEAT, &hb);
}

/* The job of a lease held by worker w, or -1. */
static int lease_job(const broker_t *b, int w, uint64_t lease, const char *job_id)
{
    (void)job_id;
    const worker_t *wk = &b->workers[w];
    for (int i = 0; i < wk->n_leases; i++) {
        int j = wk->leased[i];
        if (b->jobs[j].state == J_LEASED && b->jobs[j].lease == lease)
            return j;
    }
    return -1;
}

static void handle_done(broker_t *b, int w, const sh_msg_done_t *m)
{
    worker_t *wk = &b->workers[w];
    int j = job_find(b, m->job);
    if (j < 0) {
        blog(b, SH_LOG_WARN, "worker %s reported unknown job %.12s", wk->name, m->job);
        return;
    }
    job_t *job = &b->jobs[j];
    int holds = job->state == J_LEASED && job->lease == m->lease && job->worker == w;
    if (!holds && wk->busy_unknown > 0)
        wk->busy_unknown--;
    if (job->state == J_DONE) {
        blog(b, SH_LOG_DEBUG, "duplicate result for job %.12s dropped", job->id);
        return;
    }
    /* Results are accepted from any lease (one granted before a broker
     * restart included): the first valid result of a job wins. */
    art_t arts[SH_WIRE_MAX_LIST];
    for (uint32_t i = 0; i < m->n_artifacts; i++) {
        uint64_t size;
        if (!artifact_local(b, m->artifacts[i].sha256, &size) ||
            size != m->artifacts[i].size) {
            char why[160];
            snprintf(why, sizeof why, "artifact %s (%.12s) was not uploaded",
                     m->artifacts[i].name, m->artifacts[i].sha256);
            blog(b, SH_LOG_WARN, "job %.12s from %s: %s", job->id, wk->name, why);
            if (holds)
                release_lease(b, j, "failed", why, 1);
            return;
        }
        snprintf(arts[i].name, sizeof arts[i].name, "%s", m->artifacts[i].name);
        memcpy(arts[i].sha256, m->artifacts[i].sha256, 65);
        arts[i].size = size;
    }
    sh_job_result_t res;
    sh_err_t err;
    if (job->kind != SH_JOB_SYNTHETIC &&
        sh_result_parse(&res, m->result, strlen(m->result), &err) != SH_OK) {
        blog(b, SH_LOG_WARN, "job %.12s from %s: bad result: %s", job->id, wk->name, err.msg);
        if (holds)
            release_lease(b, j, "failed", err.msg, 1);
        return;
    }
    uint64_t lease = holds ? job->lease : m->lease;
    if (holds) {
        sh_store_begin(b->store);
        sh_store_attempt_end(b->store, job->lease, "done", NULL, b->now);
        worker_drop_lease(b, w, j);
    } else if (job->state == J_LEASED) {
        /* Someone else holds it now: tell them to stop. */
        int other = job->worker;
        sh_msg_lease_t c = {.lease = job->lease};
        if (other >= 0 && b->workers[other].alive)
            send_worker(b, other, SH_BW_CANCEL, &c);
        sh_store_begin(b->store);
        sh_store_attempt_end(b->store, job->lease, "superseded", NULL, b->now);
        if (other >= 0)
            worker_drop_lease(b, other, j);
    }
    job->worker = -1;
    job->lease = 0;
    job_finish(b, j, m->result, arts, (int)m->n_artifacts);
    blog(b, SH_LOG_INFO, "job %.12s done by %s (lease %llu)", job->id, wk->name,
         (unsigned long long)lease);
}

static void handle_failed(broker_t *b, int w, const sh_msg_failed_t *m)
{
    int j = lease_job(b, w, m->lease, m->job);
    if (j < 0) {
        if (b->workers[w].busy_unknown > 0)
            b->workers[w].busy_unknown--;
        return; /* a stale lease: the job was already requeued */
    }
    if (m->handback)
        blog(b, SH_LOG_INFO, "job %.12s handed back by %s", b->jobs[j].id, b->workers[w].name);
    else
        blog(b, SH_LOG_WARN, "job %.12s failed on %s: %s", b->jobs[j].id, b->workers[w].name,
             m->error);
    release_lease(b, j, m->handback ? "handed back" : "failed", m->error, !m->handback);
}

static void handle_get(broker_t *b, int w, const sh_msg_fetch_t *m, const char *tag)
{
    worker_t *wk = &b->workers[w];
    size_t n = 0;
    uint64_t total = 0;
    sh_err_t err;
    size_t len = (size_t)SH_MIN(m->length, (uint64_t)SH_WIRE_CHUNK);
    if (m->offset == 0)
        artifact_local(b, m->sha256, NULL);
    if (sh_artstore_read(b->arts, m->sha256, m->offset, b->chunk, len, &n, &total, &err) != SH_OK) {
        queue_error(b, wk->identity, wk->id_len, tag, m->rid, "not-found", "%s", err.msg);
        return;
    }
    sh_msg_chunk_t c = {.rid = m->rid, .offset = m->offset, .size = total,
                        .data = {(const uint8_t *)b->chunk, (uint32_t)n},
                        .eof = m->offset + n >= total};
    memcpy(c.sha256, m->sha256, 65);
    send_worker(b, w, SH_BW_CHUNK, &c);
}

static void handle_put(broker_t *b, int w, const sh_msg_put_t *m)
{
    worker_t *wk = &b->workers[w];
    sh_err_t err;
    sh_status_t st = SH_OK;
    uint64_t have;
    if (m->offset == 0 && artifact_local(b, m->sha256, &have) && have == m->size &&
        replicate(b, m->sha256, &err) == 0) {
        /* Already stored (same content from another job or worker). */
        sh_upload_abort(&wk->upload);
        sh_msg_ack_t ack = {.rid = m->rid, .complete = 1};
        send_worker(b, w, SH_BW_ACK, &ack);
        return;
    }
    if (m->offset == 0) {
        sh_upload_abort(&wk->upload);
        st = sh_upload_begin(b->arts, m->sha256, m->size, &wk->upload, &err);
    } else if (!wk->upload || strcmp(sh_upload_sha256(wk->upload), m->sha256) != 0) {
        st = sh_fail(&err, SH_EARG, "no upload of %.12s in progress", m->sha256);
    }
    if (st == SH_OK)
        st = sh_upload_write(wk->upload, m->offset, m->data.p, m->data.len, &err);
    if (st == SH_OK && m->last) {
        st = sh_upload_finish(&wk->upload, &err);
        /* With S3 configured, an upload is done once it is off-node too. */
        if (st == SH_OK && replicate(b, m->sha256, &err) != 0)
            st = SH_EIO;
    }
    if (st != SH_OK) {
        sh_upload_abort(&wk->upload);
        blog(b, SH_LOG_WARN, "upload from %s refused: %s", wk->name, err.msg);
        queue_error(b, wk->identity, wk->id_len, SH_TAG_WORKER, m->rid, "upload", "%s", err.msg);
        return;
    }
    sh_msg_ack_t ack = {.rid = m->rid, .complete = m->last};
    send_worker(b, w, SH_BW_ACK, &ack);
}

static void handle_worker(broker_t *b, const unsigned char *id, size_t id_len, int cmd,
                          const void *data, size_t len, zmq_msg_t *msg)
{
    char body[2048];
    sh_err_t err;
    SH_ASSERT(sh_wire_body_size(cmd) <= sizeof body);
    if (sh_wire_decode(cmd, data, len, body, &err) != SH_OK) {
        blog(b, SH_LOG_WARN, "malformed %s from a worker: %s", sh_cmd_name(cmd), err.msg);
        queue_error(b, id, id_len, SH_TAG_WORKER, 0, "bad-request", "%s", err.msg);
        return;
    }
    int w = worker_find(b, id, id_len);
    if (cmd == SH_W_READY) {
        handle_ready(b, id, id_len, (sh_msg_ready_t *)body, msg);
    } else if (w < 0) {
        /* Not registered (the broker restarted, or the worker was declared
         * lost): ask it to introduce itself again. */
        sh_msg_empty_t e;
        queue_msg(b, id, id_len, SH_TAG_WORKER, SH_BW_RECONNECT, &e);
    } else {
        b->workers[w].last_recv = b->now;
        switch (cmd) {
        case SH_W_HEARTBEAT:
            break;
        case SH_W_PROGRESS: {
            const sh_msg_progress_t *p = (const sh_msg_progress_t *)body;
            int j = lease_job(b, w, p->lease, NULL);
            if (j >= 0) {
                b->jobs[j].progress = *p;
                b->jobs[j].has_progress = 1;
                touch_watchers(b, j);
            }
            break;
        }
        case SH_W_DONE:
            handle_done(b, w, (sh_msg_done_t *)body);
            break;
        case SH_W_FAILED:
            handle_failed(b, w, (sh_msg_failed_t *)body);
            break;
        case SH_W_GET:
            handle_get(b, w, (sh_msg_fetch_t *)body, SH_TAG_WORKER);
            break;
        case SH_W_PUT:
            handle_put(b, w, (sh_msg_put_t *)body);
            break;
        case SH_W_DISCONNECT:
            blog(b, SH_LOG_INFO, "worker %s left", b->workers[w].name);
            worker_lost(b, w, "disconnected");
            break;
        }
    }
    sh_wire_free(cmd, body);
}

/* ---- scheduling ------------------------------------------------------------------ */

static int pick_worker(const broker_t *b)
{
    int best = -1, best_free = 0;
    for (int w = 0; w < b->n_workers; w++) {
        const worker_t *wk = &b->workers[w];
        int free_slots = wk->slots - wk->n_leases - wk->busy_unknown;
        if (wk->alive && free_slots > best_free) {
            best = w;
            best_free = free_slots;
        }
    }
    return best;
}

static void send_job(broker_t *b, int j, int w)
{
    job_t *job = &b->jobs[j];
    const sweep_t *s = &b->sweeps[job->sweep];
    sh_wire_artifact_t inputs[2];
    uint32_t n_inputs = 0;
    int deps[2] = {job->parent, job->source};
    static const char *const names[2] = {"parent", "source"};
    for (int d = 0; d < 2; d++) {
        if (deps[d] < 0)
            continue;
        const job_t *dep = &b->jobs[deps[d]];
        for (int a = 0; a < dep->n_arts; a++)
            if (!strcmp(dep->arts[a].name, "final.ckpt")) {
                snprintf(inputs[n_inputs].name, sizeof inputs[n_inputs].name, "%s", names[d]);
                memcpy(inputs[n_inputs].sha256, dep->arts[a].sha256, 65);
                inputs[n_inputs].size = dep->arts[a].size;
                n_inputs++;
            }
    }
    sh_msg_job_t m = {.lease = job->lease, .spec = job->spec, .inputs = inputs,
                      .n_inputs = n_inputs, .data_path = s->data_path, .data_url = s->data_url};
    memcpy(m.job, job->id, 65);
    snprintf(m.data_name, sizeof m.data_name, "%s", s->data_name);
    snprintf(m.data_sha256, sizeof m.data_sha256, "%s", s->data_sha256);
    send_worker(b, w, SH_BW_JOB, &m);
}

/* Grants ready, wanted jobs to workers with free slots: highest sweep
 * priority first, then oldest; each goes to the worker with the most free
 * slots, so load spreads evenly. */
void dispatch(broker_t *b)
{
    for (;;) {
        int w = pick_worker(b);
        if (w < 0)
            return;
        int j = -1;
        while ((j = heap_pop(b)) >= 0)
            if (b->jobs[j].state == J_READY && job_wanted(b, j))
                break;
        if (j < 0)
            return;
        job_t *job = &b->jobs[j];
        job->state = J_LEASED;
        job->lease = b->next_lease++;
        job->worker = w;
        worker_add_lease(b, w, j);
        sh_store_begin(b->store);
        sh_store_attempt_begin(b->store, job->lease, job->id, b->workers[w].name, b->now);
        send_job(b, j, w);
        b->dispatched++;
        blog(b, SH_LOG_DEBUG, "lease %llu granted: job %.12s to %s",
             (unsigned long long)job->lease, job->id, b->workers[w].name);
        touch_watchers(b, j);
    }
}

/* Leases of jobs nobody wants any more (cancelled sweeps, stopped chains)
 * are taken back. */
static void reclaim_unwanted(broker_t *b)
{
    for (int j = 0; j < b->n_jobs; j++) {
        job_t *job = &b->jobs[j];
        if (job->state != J_LEASED || job_wanted(b, j))
            continue;
        int w = job->worker;
        sh_msg_lease_t c = {.lease = job->lease};
        if (w >= 0 && b->workers[w].alive)
            send_worker(b, w, SH_BW_CANCEL, &c);
        blog(b, SH_LOG_INFO, "lease %llu cancelled: job %.12s is no longer wanted",
             (unsigned long long)job->lease, job->id);
        release_lease(b, j, "cancelled", NULL, 0);
    }
}

/* ---- the loop ---------------------------------------------------------------------- */

static void periodic(broker_t *b)
{
    for (int w = 0; w < b->n_workers; w++) {
        worker_t *wk = &b->workers[w];
        if (!wk->alive)
            continue;
        if (b->now - wk->last_recv > b->o->liveness_ms / 1000.0) {
            worker_lost(b, w, "silent past the liveness window");
            continue;
        }
        if (b->now - wk->last_send >= b->o->heartbeat_ms / 1000.0) {
            sh_msg_empty_t hb;
            send_worker(b, w, SH_BW_HEARTBEAT, &hb);
        }
    }
    for (int s = 0; s < b->n_sweeps; s++)
        if (!b->sweeps[s].finished_logged && sweep_settled(b, s)) {
            b->sweeps[s].finished_logged = 1;
            blog(b, SH_LOG_INFO, "sweep %lld (%s) finished", (long long)b->sweeps[s].id,
                 b->sweeps[s].name);
        }
}

/* ---- CURVE: roles per message, allow list reread ------------------------------------ */

/* With CURVE on, every message must come from a key the allow list holds
 * in the role of the side it speaks for: a client key cannot act as a
 * worker, and a removed key stops working at the next reread, even on a
 * connection made before. The ZAP handler put the key in User-Id. */
static int peer_allowed(broker_t *b, sh_zframes_t *m, const unsigned char *id, size_t id_len)
{
    const char *key = zmq_msg_gets(&m->body, "User-Id");
    const sh_allow_entry_t *e = key ? sh_allow_find(&b->allow, key) : NULL;
    int role = m->side == 'W' ? SH_ROLE_WORKER : SH_ROLE_CLIENT;
    if (e && (e->roles & role)) {
        if (m->side == 'W') {
            int w = worker_find(b, id, id_len);
            if (w >= 0 && b->workers[w].alive && strcmp(b->workers[w].key, key) != 0)
                return 0; /* an identity cannot change keys */
        }
        return 1;
    }
    const char *what = m->side == 'W' ? "worker" : "client";
    if (m->side == 'W' && m->cmd != SH_W_READY)
        blog(b, SH_LOG_DEBUG, "refused a %s message: key not allowed as a worker", sh_cmd_name(m->cmd));
    else
        blog(b, SH_LOG_WARN, "refused %s from key %s (%s): not allowed as a %s",
             sh_cmd_name(m->cmd), key ? key : "(none)", e ? e->name : "unknown", what);
    queue_error(b, id, id_len, m->side == 'W' ? SH_TAG_WORKER : SH_TAG_CLIENT, 0, "forbidden",
                "this key is not allowed as a %s", what);
    return 0;
}

/* Rereads the allow list; workers whose key lost the worker role are
 * dropped and their leases requeued. A list that cannot be read leaves the
 * previous one in force (the ZAP handler refuses everyone meanwhile). */
static void allow_reread(broker_t *b)
{
    sh_allow_t a;
    sh_err_t err;
    b->allow_read = b->now;
    if (sh_allow_load(&a, b->o->allow_dir, &err) != SH_OK) {
        if (strcmp(err.msg, b->allow_err) != 0)
            blog(b, SH_LOG_ERROR, "allow list: %s; keeping the previous one", err.msg);
        snprintf(b->allow_err, sizeof b->allow_err, "%s", err.msg);
        return;
    }
    b->allow_err[0] = '\0';
    sh_allow_free(&b->allow);
    b->allow = a;
    for (int w = 0; w < b->n_workers; w++) {
        worker_t *wk = &b->workers[w];
        const sh_allow_entry_t *e = sh_allow_find(&b->allow, wk->key);
        if (wk->alive && !(e && (e->roles & SH_ROLE_WORKER))) {
            sh_msg_empty_t e2;
            send_worker(b, w, SH_BW_RECONNECT, &e2);
            worker_lost(b, w, "key removed from the allow list");
        }
    }
}

static void handle_message(broker_t *b)
{
    sh_zframes_t m;
    const char *why;
    int rc = sh_zrecv(b->sock, 1, ZMQ_DONTWAIT, &m, &why);
    if (rc < 0)
        return;
    const unsigned char *id = zmq_msg_data(&m.identity);
    size_t id_len = zmq_msg_size(&m.identity);
    if (id_len > sizeof b->workers[0].identity) {
        sh_zframes_close(&m);
        return;
    }
    if (rc == 1) {
        blog(b, SH_LOG_DEBUG, "dropped a malformed message: %s", why);
        /* Tell a peer that speaks our protocol what was wrong. */
        if (m.side)
            queue_error(b, id, id_len, m.side == 'W' ? SH_TAG_WORKER : SH_TAG_CLIENT, 0,
                        "bad-request", "%s", why);
        sh_zframes_close(&m);
        return;
    }
    const void *data = zmq_msg_data(&m.body);
    size_t len = zmq_msg_size(&m.body);
    if (b->o->curve && !peer_allowed(b, &m, id, id_len)) {
        sh_zframes_close(&m);
        return;
    }
    if (m.side == 'C' && sh_wire_cmd_from(m.cmd, 'C'))
        handle_client(b, id, id_len, m.cmd, data, len);
    else if (m.side == 'W' && sh_wire_cmd_from(m.cmd, 'W'))
        handle_worker(b, id, id_len, m.cmd, data, len, &m.body);
    else
        queue_error(b, id, id_len, m.side == 'W' ? SH_TAG_WORKER : SH_TAG_CLIENT, 0,
                    "bad-request", "command %s is not accepted from this side",
                    sh_cmd_name(m.cmd));
    sh_zframes_close(&m);
}

sh_status_t sh_broker_run(void *zctx, const sh_broker_opts_t *opts, sh_err_t *err)
{
    sh_broker_opts_t o = *opts;
    if (o.heartbeat_ms <= 0)
        o.heartbeat_ms = 1000;
    if (o.liveness_ms <= 0)
        o.liveness_ms = 5000;
    if (o.max_attempts <= 0)
        o.max_attempts = 3;
    if (!o.max_artifact)
        o.max_artifact = (uint64_t)4 << 30;
    broker_t b = {.o = &o};
    b.now = sh_now();
    sh_status_t st = sh_mkdirs(o.state_dir, err);
    if (st != SH_OK)
        return st;
    char path[4200];
    snprintf(path, sizeof path, "%s/state.db", o.state_dir);
    if ((st = sh_store_open(&b.store, path, err)) != SH_OK)
        return st;
    snprintf(path, sizeof path, "%s/artifacts", o.state_dir);
    if ((st = sh_artstore_open(&b.arts, path, o.max_artifact, err)) != SH_OK) {
        sh_store_close(&b.store);
        return st;
    }
    if (o.s3) {
        char buf[2048];
        sh_s3_cfg_t cfg;
        if ((st = sh_s3_cfg_parse(&cfg, o.s3, buf, sizeof buf, err)) != SH_OK ||
            (st = sh_s3_open(&b.s3, &cfg, err)) != SH_OK) {
            sh_err_prefix(err, "S3 store");
            goto done;
        }
        blog(&b, SH_LOG_INFO, "artifacts are written through to S3 bucket %s at %s", cfg.bucket,
             cfg.endpoint);
    }
    if ((st = state_load(&b, err)) != SH_OK)
        goto done;
    commit(&b);
    b.sock = zmq_socket(zctx, ZMQ_ROUTER);
    sh_zsock_limits(b.sock, 1);
    if (o.curve) {
        /* The ZAP handler is up before the endpoint exists: no handshake
         * ever happens without it. */
        if (!o.allow_dir) {
            st = sh_fail(err, SH_EARG, "CURVE needs an allow directory");
            goto done;
        }
        if ((st = broker_zap_start(&b.zap, zctx, o.allow_dir, o.log, o.log_level, err)) != SH_OK)
            goto done;
        allow_reread(&b);
        if (sh_curve_server_socket(b.sock, o.curve) != 0) {
            st = sh_fail(err, SH_EIO, "cannot enable CURVE: %s", zmq_strerror(errno));
            goto done;
        }
    }
    if (zmq_bind(b.sock, o.bind) != 0) {
        st = sh_fail(err, SH_EIO, "cannot bind %s: %s", o.bind, zmq_strerror(errno));
        goto done;
    }
    if (o.http) {
        if (o.curve && !(o.http_token && *o.http_token)) {
            st = sh_fail(err, SH_EARG, "with CURVE on, the status page needs a token "
                                       "(--http-token-file)");
            goto done;
        }
        if ((st = broker_http_start(&b.http, &b, o.http, o.http_token, err)) != SH_OK)
            goto done;
        blog(&b, SH_LOG_INFO, "status page on http://%s%s/%s", strchr(o.http, ':') ? "" : "127.0.0.1:",
             o.http, o.http_token ? " (token required)" : "");
    }
    if (o.curve) {
        int clients = 0, workers = 0;
        for (int i = 0; i < b.allow.n; i++) {
            clients += !!(b.allow.v[i].roles & SH_ROLE_CLIENT);
            workers += !!(b.allow.v[i].roles & SH_ROLE_WORKER);
        }
        blog(&b, SH_LOG_INFO, "listening on %s (CURVE, public key %s; %d client and %d worker "
             "keys allowed from %s), state in %s", o.bind, o.curve->public_key, clients, workers,
             o.allow_dir, o.state_dir);
    } else {
        blog(&b, SH_LOG_INFO, "listening on %s (plaintext: no authentication, no encryption), "
             "state in %s", o.bind, o.state_dir);
    }
    if (o.ready)
        *o.ready = 1;
    b.chunk = sh_xmalloc(SH_WIRE_CHUNK);
    double last_periodic = 0;
    while (!(o.stop && *o.stop)) {
        zmq_pollitem_t items[2] = {{.socket = b.sock, .events = ZMQ_POLLIN},
                                   {.fd = b.http ? broker_http_fd(b.http) : -1,
                                    .events = ZMQ_POLLIN}};
        zmq_pollitem_t item = items[0];
        int timeout = SH_MIN(o.heartbeat_ms / 2, 100);
        zmq_poll(items, b.http ? 2 : 1, timeout);
        item.revents = items[0].revents;
        b.now = sh_now();
        if (b.http)
            broker_http_run(b.http);
        /* Drain a batch of messages into one transaction. */
        for (int n = 0; n < 512 && (item.revents & ZMQ_POLLIN); n++) {
            int events = 0;
            size_t sz = sizeof events;
            zmq_getsockopt(b.sock, ZMQ_EVENTS, &events, &sz);
            if (!(events & ZMQ_POLLIN))
                break;
            handle_message(&b);
        }
        if (b.now - last_periodic >= 0.05) {
            if (o.curve && b.now - b.allow_read >= 1.0)
                allow_reread(&b);
            periodic(&b);
            reclaim_unwanted(&b);
            update_watchers(&b, 0);
            last_periodic = b.now;
        }
        dispatch(&b);
        commit(&b);
    }
    blog(&b, SH_LOG_INFO, "stopping");
done:
    if (b.sock)
        zmq_close(b.sock);
    broker_http_stop(&b.http);
    broker_zap_stop(&b.zap);
    sh_allow_free(&b.allow);
    sh_store_close(&b.store);
    sh_artstore_close(&b.arts);
    sh_s3_close(&b.s3);
    free(b.chunk);
    state_free(&b);
    return st;
}
