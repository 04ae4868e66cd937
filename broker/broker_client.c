/* broker_client.c - client requests: SUBMIT (parse, expand, make durable),
 * STATUS and WATCH (progress snapshots), RESULTS, FETCH, CANCEL, WORKERS
 * and SYNTHETIC. Reply payloads are msgpack maps built here; their fields
 * are listed in proto/PROTOCOL.md. */
#include "broker_internal.h"

#include "sh_mpack.h"
#include "sh_sweep.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

static void pk_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    sh_mpw_str(pk, k);
    sh_mpw_str(pk, v);
}

static void pk_kv_int(msgpack_packer *pk, const char *k, int64_t v)
{
    sh_mpw_str(pk, k);
    msgpack_pack_int64(pk, v);
}

static const char *job_kind_name(sh_job_kind_t k)
{
    return k == SH_JOB_TRAIN ? "train" : k == SH_JOB_PRUNE ? "prune" : "synthetic";
}

static const char *jstate_name(jstate_t s)
{
    static const char *const n[] = {"pending", "ready", "running", "done", "failed", "blocked"};
    return n[s];
}

/* ---- adding sweeps ------------------------------------------------------------------ */

static int new_sweep(broker_t *b, const sh_sweep_rec_t *rec)
{
    if (b->n_sweeps == b->cap_sweeps) {
        b->cap_sweeps = b->cap_sweeps ? b->cap_sweeps * 2 : 16;
        b->sweeps = realloc(b->sweeps, sizeof *b->sweeps * (size_t)b->cap_sweeps);
        if (!b->sweeps)
            abort();
    }
    int s = b->n_sweeps++;
    sweep_t *sw = &b->sweeps[s];
    memset(sw, 0, sizeof *sw);
    sw->id = rec->id;
    sw->name = strdup(rec->name);
    sw->yaml = strdup(rec->yaml);
    sw->priority = rec->priority;
    sw->created = rec->created;
    sw->has_stop = rec->has_stop;
    sw->max_drop = rec->max_drop;
    snprintf(sw->data_name, sizeof sw->data_name, "%s", rec->data_name);
    sw->data_path = rec->data_path ? strdup(rec->data_path) : NULL;
    sw->data_url = rec->data_url ? strdup(rec->data_url) : NULL;
    snprintf(sw->data_sha256, sizeof sw->data_sha256, "%s", rec->data_sha256 ? rec->data_sha256 : "");
    return s;
}

static void add_row(broker_t *b, int s, int idx, int j, int seed_index, int technique,
                    const char *label, uint64_t seed, int round, double target)
{
    if (b->n_rows == b->cap_rows) {
        b->cap_rows = b->cap_rows ? b->cap_rows * 2 : 256;
        b->rows = realloc(b->rows, sizeof *b->rows * (size_t)b->cap_rows);
        if (!b->rows)
            abort();
    }
    int ri = b->n_rows++;
    row_t *r = &b->rows[ri];
    memset(r, 0, sizeof *r);
    r->sweep = s;
    r->idx = idx;
    r->job = j;
    r->seed_index = seed_index;
    r->technique = technique;
    snprintf(r->label, sizeof r->label, "%s", label);
    r->seed = seed;
    r->round = round;
    r->target = target;
    sweep_t *sw = &b->sweeps[s];
    if (sw->n_rows == sw->cap_rows) {
        sw->cap_rows = sw->cap_rows ? sw->cap_rows * 2 : 64;
        sw->rows = realloc(sw->rows, sizeof(int) * (size_t)sw->cap_rows);
    }
    sw->rows[sw->n_rows++] = ri;
    job_t *job = &b->jobs[j];
    if (job->n_rows == job->cap_rows) {
        job->cap_rows = job->cap_rows ? job->cap_rows * 2 : 4;
        job->rows = realloc(job->rows, sizeof(int) * (size_t)job->cap_rows);
    }
    job->rows[job->n_rows++] = ri;
    sh_row_rec_t rec = {.sweep = sw->id, .idx = idx, .job = job->id, .seed_index = seed_index,
                        .technique = technique, .label = label, .seed = seed, .round = round,
                        .target = target};
    sh_store_add_row(b->store, &rec);
}

/* Finds or creates the job; a failed or blocked job asked for again gets a
 * fresh start. */
static int ensure_job(broker_t *b, const char *id, const sh_jobspec_t *spec, int parent,
                      int source, int s)
{
    int j = job_find(b, id);
    if (j >= 0) {
        job_t *job = &b->jobs[j];
        if (job->state == J_FAILED || job->state == J_BLOCKED) {
            job->state = J_PENDING;
            job->attempts = 0;
            job_persist(b, j);
        }
        return j;
    }
    char *json = sh_jobspec_to_json(spec);
    if (!json)
        return -1;
    j = job_add(b, id, json, spec->kind, parent, source, s, b->now);
    sh_job_rec_t rec = {.id = id, .spec = json, .kind = job_kind_name(spec->kind),
                        .parent = parent >= 0 ? b->jobs[parent].id : "",
                        .source = source >= 0 ? b->jobs[source].id : "",
                        .state = "pending", .created = b->now, .sweep = b->sweeps[s].id};
    sh_store_add_job(b->store, &rec);
    free(json);
    return j;
}

static void reply_submitted(broker_t *b, const unsigned char *id, size_t id_len, uint64_t rid,
                            int s)
{
    const sweep_t *sw = &b->sweeps[s];
    int done = 0;
    for (int k = 0; k < sw->n_rows; k++)
        done += b->jobs[b->rows[sw->rows[k]].job].state == J_DONE;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    pk_kv_int(&pk, "sweep", sw->id);
    pk_kv_str(&pk, "name", sw->name);
    pk_kv_int(&pk, "jobs", sw->n_rows);
    pk_kv_int(&pk, "reused", done);
    queue_reply_raw(b, id, id_len, SH_B_REPLY, rid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* Makes the new sweep's jobs runnable. A ready job may have left the heap
 * while nobody wanted it (a cancelled sweep): it goes back in. */
static void settle_new_sweep(broker_t *b, int s)
{
    const sweep_t *sw = &b->sweeps[s];
    for (int k = 0; k < sw->n_rows; k++) {
        int j = b->rows[sw->rows[k]].job;
        int deps[3] = {b->jobs[j].source, b->jobs[j].parent, j};
        for (int d = 0; d < 3; d++) {
            if (deps[d] < 0)
                continue;
            job_make_ready(b, deps[d]);
            if (b->jobs[deps[d]].state == J_READY)
                heap_push(b, deps[d]);
        }
    }
    /* Replay the stopping rule over results that already exist. */
    for (int k = 0; k < sw->n_rows; k++) {
        int j = b->rows[sw->rows[k]].job;
        if (b->jobs[j].state == J_DONE)
            apply_stop_rule(b, j);
    }
}

static void handle_submit(broker_t *b, const unsigned char *id, size_t id_len,
                          const sh_msg_submit_t *m)
{
    sh_sweep_t sw;
    sh_err_t err;
    const char *name = m->name && m->name[0] ? m->name : "sweep";
    if (sh_sweep_parse(&sw, m->sweep, strlen(m->sweep), name, (const char *const *)m->sets,
                       (int)m->n_sets, &err) != SH_OK) {
        queue_error(b, id, id_len, SH_TAG_CLIENT, m->rid, "bad-sweep", "%s", err.msg);
        return;
    }
    sh_dag_t dag;
    if (sh_sweep_expand(&sw, &dag, &err) != SH_OK) {
        queue_error(b, id, id_len, SH_TAG_CLIENT, m->rid, "internal", "%s", err.msg);
        sh_sweep_clear(&sw);
        return;
    }
    char *yaml = sh_doc_to_yaml(sw.resolved);
    sh_sweep_rec_t rec = {.name = sw.name, .yaml = yaml ? yaml : "", .priority = m->priority,
                          .created = b->now, .state = "active", .has_stop = sw.has_stop,
                          .max_drop = sw.max_drop, .data_name = sw.dataset,
                          .data_path = sw.data_path[0] ? sw.data_path : NULL,
                          .data_url = sw.data_url[0] ? sw.data_url : NULL,
                          .data_sha256 = sw.data_sha256[0] ? sw.data_sha256 : NULL};
    sh_store_begin(b->store);
    sh_store_add_sweep(b->store, &rec);
    int s = new_sweep(b, &rec);
    int *node_job = sh_xmalloc(sizeof(int) * (size_t)dag.n_nodes);
    for (int i = 0; i < dag.n_nodes; i++) {
        const sh_dag_node_t *n = &dag.nodes[i];
        node_job[i] = ensure_job(b, n->id, &n->spec, n->parent >= 0 ? node_job[n->parent] : -1,
                                 n->source >= 0 ? node_job[n->source] : -1, s);
    }
    for (int r = 0; r < dag.n_rows; r++) {
        const sh_dag_row_t *dr = &dag.rows[r];
        const char *label = dr->technique < 0 ? "none" : sw.retrain[dr->technique].label;
        add_row(b, s, r, node_job[dr->node], dr->seed_index, dr->technique, label,
                sw.seeds[dr->seed_index], dr->round,
                dr->round == 0 ? 1.0 : dag.nodes[dr->node].spec.density);
    }
    settle_new_sweep(b, s);
    b->sweeps[s].finished_logged = sweep_settled(b, s);
    blog(b, SH_LOG_INFO, "sweep %lld (%s) submitted: %d jobs", (long long)rec.id, sw.name,
         dag.n_rows);
    reply_submitted(b, id, id_len, m->rid, s);
    free(node_job);
    free(yaml);
    sh_dag_clear(&dag);
    sh_sweep_clear(&sw);
}

static void handle_synthetic(broker_t *b, const unsigned char *id, size_t id_len,
                             const sh_msg_synthetic_t *m)
{
    if (!b->o->allow_synthetic) {
        queue_error(b, id, id_len, SH_TAG_CLIENT, m->rid, "forbidden",
                    "synthetic jobs are off (start the broker with --allow-synthetic)");
        return;
    }
    if (m->count == 0 || m->count > 100000 || m->sleep_ms > 3600000 || m->payload > (64u << 20)) {
        queue_error(b, id, id_len, SH_TAG_CLIENT, m->rid, "bad-request",
                    "synthetic: count 1..100000, sleep_ms <= 3600000, payload <= 64 MiB");
        return;
    }
    char name[64];
    snprintf(name, sizeof name, "synthetic-%llu", (unsigned long long)m->count);
    sh_sweep_rec_t rec = {.name = name, .yaml = "", .priority = m->priority, .created = b->now,
                          .state = "active", .data_name = "none"};
    sh_store_begin(b->store);
    sh_store_add_sweep(b->store, &rec);
    int s = new_sweep(b, &rec);
    for (uint64_t i = 0; i < m->count; i++) {
        sh_jobspec_t spec = {.kind = SH_JOB_SYNTHETIC};
        spec.synth.index = i;
        spec.synth.salt = m->salt;
        spec.synth.sleep_ms = m->sleep_ms;
        spec.synth.payload = m->payload;
        spec.synth.fail = m->fail_every && (i + 1) % m->fail_every == 0;
        char *json = sh_jobspec_to_json(&spec);
        char jid[65];
        sh_sha256_hex(jid, json, strlen(json));
        free(json);
        int j = ensure_job(b, jid, &spec, -1, -1, s);
        add_row(b, s, (int)i, j, 0, -1, "synthetic", 0, (int)i, 1.0);
    }
    settle_new_sweep(b, s);
    blog(b, SH_LOG_INFO, "sweep %lld (%s) submitted", (long long)rec.id, name);
    reply_submitted(b, id, id_len, m->rid, s);
}

/* ---- status --------------------------------------------------------------------------- */

static void pack_sweep_status(broker_t *b, msgpack_packer *pk, int s)
{
    const sweep_t *sw = &b->sweeps[s];
    int done = 0, running = 0, failed = 0, blocked = 0, skipped = 0, queued = 0;
    for (int k = 0; k < sw->n_rows; k++) {
        const row_t *r = &b->rows[sw->rows[k]];
        jstate_t st = b->jobs[r->job].state;
        if (r->skipped)
            skipped++;
        else if (st == J_DONE)
            done++;
        else if (st == J_LEASED)
            running++;
        else if (st == J_FAILED)
            failed++;
        else if (st == J_BLOCKED)
            blocked++;
        else
            queued++;
    }
    const char *state = sw->cancelled ? "cancelled" : sweep_settled(b, s) ? "done" : "running";
    msgpack_pack_map(pk, 11);
    pk_kv_int(pk, "id", sw->id);
    pk_kv_str(pk, "name", sw->name);
    pk_kv_str(pk, "state", state);
    pk_kv_int(pk, "priority", sw->priority);
    pk_kv_int(pk, "done", done);
    pk_kv_int(pk, "running", running);
    pk_kv_int(pk, "queued", queued);
    pk_kv_int(pk, "failed", failed);
    pk_kv_int(pk, "blocked", blocked);
    pk_kv_int(pk, "skipped", skipped);
    sh_mpw_str(pk, "active");
    int n_active = 0;
    for (int k = 0; k < sw->n_rows; k++)
        n_active += !b->rows[sw->rows[k]].skipped && b->jobs[b->rows[sw->rows[k]].job].state == J_LEASED;
    msgpack_pack_array(pk, (size_t)n_active);
    for (int k = 0; k < sw->n_rows; k++) {
        const row_t *r = &b->rows[sw->rows[k]];
        const job_t *job = &b->jobs[r->job];
        if (r->skipped || job->state != J_LEASED)
            continue;
        const sh_msg_progress_t *p = &job->progress;
        msgpack_pack_map(pk, 11);
        pk_kv_str(pk, "job", job->id);
        pk_kv_str(pk, "technique", r->label);
        pk_kv_int(pk, "seed", (int64_t)r->seed);
        pk_kv_int(pk, "round", r->round);
        pk_kv_str(pk, "worker", job->worker >= 0 ? b->workers[job->worker].name : "");
        pk_kv_str(pk, "phase", job->has_progress ? p->phase : "starting");
        pk_kv_int(pk, "epoch", job->has_progress ? (int64_t)p->epoch : 0);
        pk_kv_int(pk, "epochs", job->has_progress ? (int64_t)p->epochs : 0);
        pk_kv_int(pk, "batch", job->has_progress ? (int64_t)p->batch : 0);
        pk_kv_int(pk, "batches", job->has_progress ? (int64_t)p->batches : 0);
        sh_mpw_str(pk, "loss");
        msgpack_pack_double(pk, job->has_progress ? p->loss : 0.0);
    }
}

void broker_pack_status(broker_t *b, int only, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int alive = 0, ready = 0;
    for (int w = 0; w < b->n_workers; w++)
        alive += b->workers[w].alive;
    for (int j = 0; j < b->n_jobs; j++)
        ready += b->jobs[j].state == J_READY && job_wanted(b, j);
    int n = 0;
    for (int s = 0; s < b->n_sweeps; s++)
        n += only < 0 ? (!b->sweeps[s].cancelled && !sweep_settled(b, s)) || s == b->n_sweeps - 1
                      : s == only;
    msgpack_pack_map(&pk, 3);
    pk_kv_int(&pk, "workers", alive);
    pk_kv_int(&pk, "queue", ready);
    sh_mpw_str(&pk, "sweeps");
    msgpack_pack_array(&pk, (size_t)n);
    for (int s = 0; s < b->n_sweeps; s++)
        if (only < 0 ? (!b->sweeps[s].cancelled && !sweep_settled(b, s)) || s == b->n_sweeps - 1
                     : s == only)
            pack_sweep_status(b, &pk, s);
}

void update_watchers(broker_t *b, int force)
{
    for (int w = 0; w < b->n_watchers; w++) {
        watcher_t *wt = &b->watchers[w];
        int settled = sweep_settled(b, wt->sweep);
        if (!settled && !force && (!wt->dirty || b->now - wt->last_sent < 0.25))
            continue;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        broker_pack_status(b, wt->sweep, &sb);
        queue_reply_raw(b, wt->identity, wt->id_len, settled ? SH_B_REPLY : SH_B_PARTIAL, wt->rid,
                        sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        wt->dirty = 0;
        wt->last_sent = b->now;
        if (settled)
            b->watchers[w--] = b->watchers[--b->n_watchers];
    }
}

/* ---- results, fetch, workers, cancel ---------------------------------------------------- */

static void pack_arts(msgpack_packer *pk, const job_t *job, int *count, int write)
{
    for (int a = 0; a < job->n_arts; a++) {
        (*count)++;
        if (!write)
            continue;
        msgpack_pack_array(pk, 4);
        sh_mpw_str(pk, job->id);
        sh_mpw_str(pk, job->arts[a].name);
        sh_mpw_str(pk, job->arts[a].sha256);
        msgpack_pack_uint64(pk, job->arts[a].size);
    }
}

void broker_pack_results(broker_t *b, int s, msgpack_sbuffer *sbuf)
{
    const sweep_t *sw = &b->sweeps[s];
    msgpack_packer pk;
    msgpack_packer_init(&pk, sbuf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    pk_kv_int(&pk, "sweep", sw->id);
    pk_kv_str(&pk, "name", sw->name);
    pk_kv_str(&pk, "yaml", sw->yaml);
    pk_kv_str(&pk, "state", sw->cancelled ? "cancelled" : sweep_settled(b, s) ? "done" : "running");
    sh_mpw_str(&pk, "rows");
    msgpack_pack_array(&pk, (size_t)sw->n_rows);
    for (int k = 0; k < sw->n_rows; k++) {
        const row_t *r = &b->rows[sw->rows[k]];
        const job_t *job = &b->jobs[r->job];
        msgpack_pack_array(&pk, 9);
        sh_mpw_str(&pk, job->id);
        sh_mpw_str(&pk, job_kind_name(job->kind));
        sh_mpw_str(&pk, r->label);
        msgpack_pack_uint64(&pk, r->seed);
        msgpack_pack_int(&pk, r->round);
        msgpack_pack_double(&pk, r->target);
        sh_mpw_str(&pk, r->skipped ? "skipped" : jstate_name(job->state));
        if (job->state == J_DONE && job->result)
            sh_mpw_str(&pk, job->result);
        else
            msgpack_pack_nil(&pk);
        if (job->last_error && job->state == J_FAILED)
            sh_mpw_str(&pk, job->last_error);
        else
            msgpack_pack_nil(&pk);
    }
    /* Artifacts of the rows' jobs and of the rewind points they start from. */
    sh_mpw_str(&pk, "artifacts");
    for (int pass = 0; pass < 2; pass++) {
        int count = 0;
        for (int k = 0; k < sw->n_rows; k++) {
            const job_t *job = &b->jobs[b->rows[sw->rows[k]].job];
            int dup = 0;
            for (int q = 0; q < k && !dup; q++)
                dup = b->rows[sw->rows[q]].job == b->rows[sw->rows[k]].job;
            if (dup)
                continue;
            pack_arts(&pk, job, &count, pass);
            if (job->source >= 0 && b->jobs[job->source].n_rows == 0) {
                int seen = 0;
                for (int q = 0; q < k && !seen; q++)
                    seen = b->jobs[b->rows[sw->rows[q]].job].source == job->source;
                if (!seen)
                    pack_arts(&pk, &b->jobs[job->source], &count, pass);
            }
        }
        if (pass == 0)
            msgpack_pack_array(&pk, (size_t)count);
    }
}

static void handle_results(broker_t *b, const unsigned char *id, size_t id_len, uint64_t rid,
                           int s)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    broker_pack_results(b, s, &sb);
    queue_reply_raw(b, id, id_len, SH_B_REPLY, rid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

static void handle_fetch(broker_t *b, const unsigned char *id, size_t id_len,
                         const sh_msg_fetch_t *m)
{
    size_t n = 0;
    uint64_t total = 0;
    sh_err_t err;
    size_t len = (size_t)SH_MIN(m->length, (uint64_t)SH_WIRE_CHUNK);
    if (m->offset == 0)
        artifact_local(b, m->sha256, NULL);
    if (sh_artstore_read(b->arts, m->sha256, m->offset, b->chunk, len, &n, &total, &err) != SH_OK) {
        queue_error(b, id, id_len, SH_TAG_CLIENT, m->rid, "not-found", "%s", err.msg);
        return;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    pk_kv_int(&pk, "offset", (int64_t)m->offset);
    pk_kv_int(&pk, "size", (int64_t)total);
    sh_mpw_str(&pk, "data");
    msgpack_pack_bin(&pk, n);
    msgpack_pack_bin_body(&pk, b->chunk, n);
    sh_mpw_str(&pk, "eof");
    if (m->offset + n >= total)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    queue_reply_raw(b, id, id_len, SH_B_REPLY, m->rid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

static int count_worker_rec(void *u, const sh_worker_rec_t *r)
{
    (void)r;
    (*(int *)u)++;
    return 0;
}

typedef struct {
    broker_t *b;
    msgpack_packer *pk;
} wpack_t;

static int pack_worker_rec(void *u, const sh_worker_rec_t *r)
{
    wpack_t *wp = u;
    broker_t *b = wp->b;
    int live = -1;
    for (int w = 0; w < b->n_workers && live < 0; w++)
        if (b->workers[w].alive && !strcmp(b->workers[w].name, r->name))
            live = w;
    msgpack_pack_map(wp->pk, 6);
    pk_kv_str(wp->pk, "name", r->name);
    pk_kv_int(wp->pk, "threads", r->threads);
    pk_kv_int(wp->pk, "slots", r->slots);
    pk_kv_str(wp->pk, "state", live >= 0 ? "alive" : "gone");
    pk_kv_int(wp->pk, "running", live >= 0 ? b->workers[live].n_leases : 0);
    sh_mpw_str(wp->pk, "seen_ago");
    msgpack_pack_double(wp->pk, live >= 0 ? b->now - b->workers[live].last_recv
                                          : b->now - r->last_seen);
    return 0;
}

void broker_pack_workers(broker_t *b, msgpack_sbuffer *sb)
{
    /* Durable list (every worker ever seen) joined with the live table. */
    sh_store_commit(b->store);
    int n = 0;
    sh_store_each_worker(b->store, count_worker_rec, &n);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    sh_mpw_str(&pk, "workers");
    msgpack_pack_array(&pk, (size_t)n);
    wpack_t wp = {b, &pk};
    sh_store_each_worker(b->store, pack_worker_rec, &wp);
}

static void handle_workers(broker_t *b, const unsigned char *id, size_t id_len, uint64_t rid)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    broker_pack_workers(b, &sb);
    queue_reply_raw(b, id, id_len, SH_B_REPLY, rid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

static void handle_cancel(broker_t *b, const unsigned char *id, size_t id_len, uint64_t rid,
                          int s)
{
    sweep_t *sw = &b->sweeps[s];
    int dropped = 0;
    if (!sw->cancelled) {
        for (int k = 0; k < sw->n_rows; k++) {
            jstate_t st = b->jobs[b->rows[sw->rows[k]].job].state;
            dropped += st == J_PENDING || st == J_READY || st == J_LEASED;
        }
        sw->cancelled = 1;
        sh_store_begin(b->store);
        sh_store_set_sweep_state(b->store, sw->id, "cancelled");
        blog(b, SH_LOG_INFO, "sweep %lld (%s) cancelled", (long long)sw->id, sw->name);
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pk_kv_int(&pk, "sweep", sw->id);
    pk_kv_int(&pk, "cancelled", dropped);
    queue_reply_raw(b, id, id_len, SH_B_REPLY, rid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    for (int w = 0; w < b->n_watchers; w++)
        if (b->watchers[w].sweep == s)
            b->watchers[w].dirty = 1;
}

void handle_client(broker_t *b, const unsigned char *id, size_t id_len, int cmd,
                   const void *data, size_t len)
{
    char body[1024];
    sh_err_t err;
    SH_ASSERT(sh_wire_body_size(cmd) <= sizeof body);
    if (sh_wire_decode(cmd, data, len, body, &err) != SH_OK) {
        blog(b, SH_LOG_WARN, "malformed %s from a client: %s", sh_cmd_name(cmd), err.msg);
        queue_error(b, id, id_len, SH_TAG_CLIENT, 0, "bad-request", "%s", err.msg);
        return;
    }
    const sh_msg_sweep_req_t *sr = (const sh_msg_sweep_req_t *)body;
    int s = -1;
    if (cmd == SH_C_WATCH || cmd == SH_C_RESULTS || cmd == SH_C_CANCEL ||
        (cmd == SH_C_STATUS && sr->sweep)) {
        s = sweep_find(b, (int64_t)sr->sweep);
        if (s < 0) {
            queue_error(b, id, id_len, SH_TAG_CLIENT, sr->rid, "not-found", "no sweep %llu",
                        (unsigned long long)sr->sweep);
            sh_wire_free(cmd, body);
            return;
        }
    }
    switch (cmd) {
    case SH_C_SUBMIT:
        handle_submit(b, id, id_len, (sh_msg_submit_t *)body);
        break;
    case SH_C_SYNTHETIC:
        handle_synthetic(b, id, id_len, (sh_msg_synthetic_t *)body);
        break;
    case SH_C_STATUS: {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        broker_pack_status(b, s, &sb);
        queue_reply_raw(b, id, id_len, SH_B_REPLY, sr->rid, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        break;
    }
    case SH_C_WATCH:
        if (b->n_watchers == b->cap_watchers) {
            b->cap_watchers = b->cap_watchers ? b->cap_watchers * 2 : 8;
            b->watchers = realloc(b->watchers, sizeof *b->watchers * (size_t)b->cap_watchers);
        }
        if (b->n_watchers >= 1024) {
            queue_error(b, id, id_len, SH_TAG_CLIENT, sr->rid, "busy", "too many watchers");
            break;
        }
        b->watchers[b->n_watchers++] = (watcher_t){.id_len = id_len, .rid = sr->rid, .sweep = s,
                                                   .dirty = 1};
        memcpy(b->watchers[b->n_watchers - 1].identity, id, id_len);
        break;
    case SH_C_RESULTS:
        handle_results(b, id, id_len, sr->rid, s);
        break;
    case SH_C_FETCH:
        handle_fetch(b, id, id_len, (sh_msg_fetch_t *)body);
        break;
    case SH_C_CANCEL:
        handle_cancel(b, id, id_len, sr->rid, s);
        break;
    case SH_C_WORKERS:
        handle_workers(b, id, id_len, ((sh_msg_rid_t *)body)->rid);
        break;
    }
    sh_wire_free(cmd, body);
}
