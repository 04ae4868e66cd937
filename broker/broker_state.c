/* broker_state.c - the broker's working copy of jobs, rows and sweeps: the
 * id index, dependency bookkeeping, the ready heap, the stopping rule, and
 * recovery from SQLite at start. */
#include "broker_internal.h"

#include "sh_results.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void *grow(void *p, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return p;
    int ncap = *cap ? *cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    void *q = realloc(p, (size_t)ncap * elem);
    if (!q) {
        fprintf(stderr, "shears-broker: out of memory\n");
        abort();
    }
    *cap = ncap;
    return q;
}

static void push_int(int **arr, int *n, int *cap, int v)
{
    *arr = grow(*arr, cap, *n + 1, sizeof(int));
    (*arr)[(*n)++] = v;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* ---- id index (open addressing over the first 8 hex digits) ---------------- */

static uint32_t id_hash(const char *id)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ (unsigned char)id[i]) * 16777619u;
    return h;
}

static void index_insert(broker_t *b, int j)
{
    uint32_t mask = (uint32_t)b->index_cap - 1;
    for (uint32_t i = id_hash(b->jobs[j].id) & mask;; i = (i + 1) & mask)
        if (b->job_index[i] < 0) {
            b->job_index[i] = j;
            return;
        }
}

static void index_grow(broker_t *b)
{
    if (b->index_cap && b->n_jobs * 2 < b->index_cap)
        return;
    free(b->job_index);
    b->index_cap = b->index_cap ? b->index_cap * 2 : 1024;
    b->job_index = sh_xmalloc(sizeof(int) * (size_t)b->index_cap);
    for (int i = 0; i < b->index_cap; i++)
        b->job_index[i] = -1;
    for (int j = 0; j < b->n_jobs; j++)
        index_insert(b, j);
}

int job_find(const broker_t *b, const char *id)
{
    if (!b->index_cap)
        return -1;
    uint32_t mask = (uint32_t)b->index_cap - 1;
    for (uint32_t i = id_hash(id) & mask;; i = (i + 1) & mask) {
        int j = b->job_index[i];
        if (j < 0)
            return -1;
        if (!strcmp(b->jobs[j].id, id))
            return j;
    }
}

int job_add(broker_t *b, const char *id, const char *spec, sh_job_kind_t kind, int parent,
            int source, int sweep, double created)
{
    b->jobs = grow(b->jobs, &b->cap_jobs, b->n_jobs + 1, sizeof(job_t));
    int j = b->n_jobs++;
    job_t *job = &b->jobs[j];
    memset(job, 0, sizeof *job);
    snprintf(job->id, sizeof job->id, "%s", id);
    job->spec = strdup(spec);
    job->kind = kind;
    job->parent = parent;
    job->source = source;
    job->state = J_PENDING;
    job->sweep = sweep;
    job->created = created;
    job->worker = -1;
    if (parent >= 0)
        push_int(&b->jobs[parent].children, &b->jobs[parent].n_children,
                 &b->jobs[parent].cap_children, j);
    if (source >= 0 && source != parent)
        push_int(&b->jobs[source].children, &b->jobs[source].n_children,
                 &b->jobs[source].cap_children, j);
    index_grow(b);
    if (b->index_cap && b->n_jobs * 2 <= b->index_cap && job_find(b, id) < 0)
        index_insert(b, j);
    return j;
}

/* ---- wanted, priority, readiness ------------------------------------------------ */

static int has_live_row(const broker_t *b, int j)
{
    const job_t *job = &b->jobs[j];
    for (int i = 0; i < job->n_rows; i++) {
        const row_t *r = &b->rows[job->rows[i]];
        if (!r->skipped && !b->sweeps[r->sweep].cancelled)
            return 1;
    }
    return 0;
}

/* Wanted: a live row points at it, or an unfinished wanted job depends on it
 * (rewind points have no rows). */
int job_wanted(const broker_t *b, int j)
{
    if (has_live_row(b, j))
        return 1;
    const job_t *job = &b->jobs[j];
    for (int i = 0; i < job->n_children; i++) {
        int c = job->children[i];
        if (b->jobs[c].state != J_DONE && b->jobs[c].state != J_FAILED &&
            b->jobs[c].state != J_BLOCKED && job_wanted(b, c))
            return 1;
    }
    return 0;
}

int64_t job_priority(const broker_t *b, int j)
{
    int64_t best = INT64_MIN;
    const job_t *job = &b->jobs[j];
    for (int i = 0; i < job->n_rows; i++) {
        const sweep_t *s = &b->sweeps[b->rows[job->rows[i]].sweep];
        if (!s->cancelled && s->priority > best)
            best = s->priority;
    }
    for (int i = 0; best == INT64_MIN && i < job->n_children; i++)
        best = job_priority(b, job->children[i]);
    return best == INT64_MIN ? 0 : best;
}

static int dep_state(const broker_t *b, int d)
{
    return d < 0 ? J_DONE : (int)b->jobs[d].state;
}

void job_make_ready(broker_t *b, int j)
{
    job_t *job = &b->jobs[j];
    if (job->state != J_PENDING)
        return;
    int p = dep_state(b, job->parent), s = dep_state(b, job->source);
    if (p == J_FAILED || p == J_BLOCKED || s == J_FAILED || s == J_BLOCKED) {
        job->state = J_BLOCKED;
        job_persist(b, j);
        return;
    }
    if (p == J_DONE && s == J_DONE) {
        job->state = J_READY;
        job_persist(b, j);
        heap_push(b, j);
    }
}

static const char *state_name(jstate_t s)
{
    static const char *const names[] = {"pending", "ready", "ready", "done", "failed", "blocked"};
    return names[s]; /* leases are not durable: a leased job restarts as ready */
}

void job_persist(broker_t *b, int j)
{
    const job_t *job = &b->jobs[j];
    sh_store_begin(b->store);
    if (sh_store_set_job(b->store, job->id, state_name(job->state), job->attempts,
                         job->last_error, job->result,
                         job->state == J_DONE ? b->now : 0.0) != 0)
        blog(b, SH_LOG_ERROR, "state: %s", sh_store_error(b->store));
}

void job_block_descendants(broker_t *b, int j)
{
    job_t *job = &b->jobs[j];
    for (int i = 0; i < job->n_children; i++) {
        int c = job->children[i];
        if (b->jobs[c].state == J_PENDING || b->jobs[c].state == J_READY) {
            b->jobs[c].state = J_BLOCKED;
            job_persist(b, c);
            touch_watchers(b, c);
            job_block_descendants(b, c);
        }
    }
}

void job_finish(broker_t *b, int j, const char *result, const art_t *arts, int n_arts)
{
    job_t *job = &b->jobs[j];
    job->state = J_DONE;
    free(job->result);
    job->result = strdup(result);
    free(job->arts);
    job->arts = n_arts ? sh_xmalloc(sizeof(art_t) * (size_t)n_arts) : NULL;
    if (n_arts)
        memcpy(job->arts, arts, sizeof(art_t) * (size_t)n_arts);
    job->n_arts = n_arts;
    job->has_progress = 0;
    job_persist(b, j);
    for (int i = 0; i < n_arts; i++) {
        sh_artifact_rec_t rec = {.job = job->id, .name = arts[i].name, .sha256 = arts[i].sha256,
                                 .size = arts[i].size};
        sh_store_add_artifact(b->store, &rec);
    }
    b->completed++;
    for (int i = 0; i < job->n_children; i++)
        job_make_ready(b, job->children[i]);
    apply_stop_rule(b, j);
    touch_watchers(b, j);
}

/* ---- the stopping rule ---------------------------------------------------------- */

static int row_accuracy(const broker_t *b, const row_t *r, double *acc)
{
    const job_t *job = &b->jobs[r->job];
    if (job->state != J_DONE || !job->result)
        return 0;
    sh_job_result_t res;
    if (sh_result_parse(&res, job->result, strlen(job->result), NULL) != SH_OK)
        return 0;
    *acc = res.test_accuracy;
    return 1;
}

/* For each live row of job j in a sweep with a stopping rule: when its
 * accuracy is more than max_drop below its seed's dense accuracy, the later
 * rounds of its chain are skipped (durably). */
void apply_stop_rule(broker_t *b, int j)
{
    job_t *job = &b->jobs[j];
    for (int i = 0; i < job->n_rows; i++) {
        const row_t *r = &b->rows[job->rows[i]];
        const sweep_t *s = &b->sweeps[r->sweep];
        if (!s->has_stop || r->technique < 0 || r->skipped || s->cancelled)
            continue;
        double acc, dense = 0;
        int have_dense = 0;
        for (int k = 0; k < s->n_rows && !have_dense; k++) {
            const row_t *d = &b->rows[s->rows[k]];
            if (d->seed_index == r->seed_index && d->technique < 0)
                have_dense = row_accuracy(b, d, &dense);
        }
        if (!have_dense || !row_accuracy(b, r, &acc) || acc >= dense - s->max_drop)
            continue;
        int skipped = 0;
        for (int k = 0; k < s->n_rows; k++) {
            row_t *o = &b->rows[s->rows[k]];
            if (o->seed_index == r->seed_index && o->technique == r->technique &&
                o->round > r->round && !o->skipped) {
                o->skipped = 1;
                sh_store_begin(b->store);
                sh_store_skip_row(b->store, s->id, o->idx);
                skipped++;
            }
        }
        if (skipped)
            blog(b, SH_LOG_INFO, "sweep %lld: %s seed %llu stops after round %d "
                 "(%.2f%% vs dense %.2f%%), %d round%s skipped", (long long)s->id, r->label,
                 (unsigned long long)r->seed, r->round, 100 * acc, 100 * dense, skipped,
                 skipped == 1 ? "" : "s");
    }
}

int sweep_settled(const broker_t *b, int s)
{
    const sweep_t *sw = &b->sweeps[s];
    if (sw->cancelled)
        return 1;
    for (int k = 0; k < sw->n_rows; k++) {
        const row_t *r = &b->rows[sw->rows[k]];
        jstate_t st = b->jobs[r->job].state;
        if (!r->skipped && st != J_DONE && st != J_FAILED && st != J_BLOCKED)
            return 0;
    }
    return 1;
}

int sweep_find(const broker_t *b, int64_t id)
{
    for (int s = 0; s < b->n_sweeps; s++)
        if (b->sweeps[s].id == id)
            return s;
    return -1;
}

/* ---- ready heap: highest priority first, then oldest --------------------------------- */

static int heap_before(const broker_t *b, int x, int y)
{
    int64_t px = job_priority(b, x), py = job_priority(b, y);
    if (px != py)
        return px > py;
    if (b->jobs[x].created != b->jobs[y].created)
        return b->jobs[x].created < b->jobs[y].created;
    return x < y;
}

void heap_push(broker_t *b, int j)
{
    if (b->jobs[j].in_heap)
        return;
    b->heap = grow(b->heap, &b->cap_heap, b->n_heap + 1, sizeof(int));
    int i = b->n_heap++;
    b->heap[i] = j;
    b->jobs[j].in_heap = 1;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!heap_before(b, b->heap[i], b->heap[p]))
            break;
        int t = b->heap[i];
        b->heap[i] = b->heap[p];
        b->heap[p] = t;
        i = p;
    }
}

int heap_pop(broker_t *b)
{
    if (!b->n_heap)
        return -1;
    int top = b->heap[0];
    b->heap[0] = b->heap[--b->n_heap];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < b->n_heap && heap_before(b, b->heap[l], b->heap[m]))
            m = l;
        if (r < b->n_heap && heap_before(b, b->heap[r], b->heap[m]))
            m = r;
        if (m == i)
            break;
        int t = b->heap[i];
        b->heap[i] = b->heap[m];
        b->heap[m] = t;
        i = m;
    }
    b->jobs[top].in_heap = 0;
    return top;
}

/* ---- recovery ------------------------------------------------------------------------ */

static int load_sweep(void *u, const sh_sweep_rec_t *r)
{
    broker_t *b = u;
    b->sweeps = grow(b->sweeps, &b->cap_sweeps, b->n_sweeps + 1, sizeof(sweep_t));
    sweep_t *s = &b->sweeps[b->n_sweeps++];
    memset(s, 0, sizeof *s);
    s->id = r->id;
    s->name = strdup(r->name ? r->name : "");
    s->yaml = strdup(r->yaml ? r->yaml : "");
    s->priority = r->priority;
    s->created = r->created;
    s->cancelled = r->state && !strcmp(r->state, "cancelled");
    s->has_stop = r->has_stop;
    s->max_drop = r->max_drop;
    snprintf(s->data_name, sizeof s->data_name, "%s", r->data_name ? r->data_name : "");
    s->data_path = dup_or_null(r->data_path);
    s->data_url = dup_or_null(r->data_url);
    snprintf(s->data_sha256, sizeof s->data_sha256, "%s", r->data_sha256 ? r->data_sha256 : "");
    return 0;
}

static jstate_t parse_state(const char *s)
{
    if (!s)
        return J_PENDING;
    if (!strcmp(s, "done")) return J_DONE;
    if (!strcmp(s, "failed")) return J_FAILED;
    if (!strcmp(s, "blocked")) return J_BLOCKED;
    if (!strcmp(s, "ready")) return J_READY;
    return J_PENDING;
}

static int load_job(void *u, const sh_job_rec_t *r)
{
    broker_t *b = u;
    int parent = r->parent && r->parent[0] ? job_find(b, r->parent) : -1;
    int source = r->source && r->source[0] ? job_find(b, r->source) : -1;
    sh_job_kind_t kind = !strcmp(r->kind, "train") ? SH_JOB_TRAIN
                         : !strcmp(r->kind, "prune") ? SH_JOB_PRUNE
                                                     : SH_JOB_SYNTHETIC;
    int s = sweep_find(b, r->sweep);
    int j = job_add(b, r->id, r->spec, kind, parent, source, s < 0 ? 0 : s, r->created);
    job_t *job = &b->jobs[j];
    job->state = parse_state(r->state);
    job->attempts = r->attempts;
    job->last_error = dup_or_null(r->last_error);
    job->result = dup_or_null(r->result);
    return 0;
}

static int load_row(void *u, const sh_row_rec_t *r)
{
    broker_t *b = u;
    int s = sweep_find(b, r->sweep), j = job_find(b, r->job);
    if (s < 0 || j < 0)
        return 0; /* inconsistent row: ignore it */
    b->rows = grow(b->rows, &b->cap_rows, b->n_rows + 1, sizeof(row_t));
    int ri = b->n_rows++;
    row_t *row = &b->rows[ri];
    memset(row, 0, sizeof *row);
    row->sweep = s;
    row->idx = r->idx;
    row->job = j;
    row->seed_index = r->seed_index;
    row->technique = r->technique;
    snprintf(row->label, sizeof row->label, "%s", r->label);
    row->seed = r->seed;
    row->round = r->round;
    row->target = r->target;
    row->skipped = r->skipped;
    sweep_t *sw = &b->sweeps[s];
    push_int(&sw->rows, &sw->n_rows, &sw->cap_rows, ri);
    job_t *job = &b->jobs[j];
    push_int(&job->rows, &job->n_rows, &job->cap_rows, ri);
    return 0;
}

static int load_artifact(void *u, const sh_artifact_rec_t *r)
{
    broker_t *b = u;
    int j = job_find(b, r->job);
    if (j < 0)
        return 0;
    job_t *job = &b->jobs[j];
    job->arts = realloc(job->arts, sizeof(art_t) * (size_t)(job->n_arts + 1));
    art_t *a = &job->arts[job->n_arts++];
    snprintf(a->name, sizeof a->name, "%s", r->name);
    snprintf(a->sha256, sizeof a->sha256, "%s", r->sha256);
    a->size = r->size;
    return 0;
}

sh_status_t state_load(broker_t *b, sh_err_t *err)
{
    if (sh_store_each_sweep(b->store, load_sweep, b) || sh_store_each_job(b->store, load_job, b) ||
        sh_store_each_row(b->store, load_row, b) ||
        sh_store_each_artifact(b->store, load_artifact, b))
        return sh_fail(err, SH_EIO, "loading state: %s", sh_store_error(b->store));
    b->next_lease = sh_store_max_lease(b->store) + 1;
    /* Leases do not survive a restart: every unfinished job is re-examined.
     * A job whose artifacts vanished from the store is run again. */
    for (int j = 0; j < b->n_jobs; j++) {
        job_t *job = &b->jobs[j];
        for (int a = 0; job->state == J_DONE && a < job->n_arts; a++)
            if (!artifact_local(b, job->arts[a].sha256, NULL)) {
                blog(b, SH_LOG_WARN, "job %.12s: artifact %s is missing; running it again",
                     job->id, job->arts[a].name);
                job->state = J_PENDING;
            }
        if (job->state == J_READY)
            job->state = J_PENDING;
    }
    int ready = 0, done = 0;
    for (int j = 0; j < b->n_jobs; j++) {
        job_make_ready(b, j);
        ready += b->jobs[j].state == J_READY;
        done += b->jobs[j].state == J_DONE;
    }
    for (int s = 0; s < b->n_sweeps; s++)
        b->sweeps[s].finished_logged = sweep_settled(b, s);
    blog(b, SH_LOG_INFO, "state: %d sweeps, %d jobs (%d done, %d ready), next lease %llu",
         b->n_sweeps, b->n_jobs, done, ready, (unsigned long long)b->next_lease);
    return SH_OK;
}

void state_free(broker_t *b)
{
    for (int j = 0; j < b->n_jobs; j++) {
        job_t *job = &b->jobs[j];
        free(job->spec);
        free(job->last_error);
        free(job->result);
        free(job->arts);
        free(job->children);
        free(job->rows);
    }
    for (int s = 0; s < b->n_sweeps; s++) {
        free(b->sweeps[s].name);
        free(b->sweeps[s].yaml);
        free(b->sweeps[s].data_path);
        free(b->sweeps[s].data_url);
        free(b->sweeps[s].rows);
    }
    for (int w = 0; w < b->n_workers; w++) {
        sh_upload_abort(&b->workers[w].upload);
        free(b->workers[w].leased);
    }
    for (int i = 0; i < b->n_out; i++)
        free(b->out[i].body);
    free(b->jobs);
    free(b->job_index);
    free(b->rows);
    free(b->sweeps);
    free(b->workers);
    free(b->watchers);
    free(b->heap);
    free(b->out);
}

void touch_watchers(broker_t *b, int j)
{
    const job_t *job = &b->jobs[j];
    for (int w = 0; w < b->n_watchers; w++)
        for (int i = 0; i < job->n_rows; i++)
            if (b->rows[job->rows[i]].sweep == b->watchers[w].sweep)
                b->watchers[w].dirty = 1;
}
