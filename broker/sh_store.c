/* sh_store.c - SQLite schema, prepared statements and loaders. */
#include "sh_store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION "1"

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS sweeps(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    "  yaml TEXT NOT NULL, priority INTEGER NOT NULL, created REAL NOT NULL,"
    "  state TEXT NOT NULL, has_stop INTEGER NOT NULL, max_drop REAL NOT NULL,"
    "  data_name TEXT NOT NULL, data_path TEXT, data_url TEXT, data_sha256 TEXT);"
    "CREATE TABLE IF NOT EXISTS rows(sweep INTEGER NOT NULL, idx INTEGER NOT NULL,"
    "  job TEXT NOT NULL, seed_index INTEGER NOT NULL, technique INTEGER NOT NULL,"
    "  label TEXT NOT NULL, seed INTEGER NOT NULL, round INTEGER NOT NULL,"
    "  target REAL NOT NULL, skipped INTEGER NOT NULL, PRIMARY KEY(sweep, idx));"
    "CREATE TABLE IF NOT EXISTS jobs(seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,"
    "  spec TEXT NOT NULL, kind TEXT NOT NULL, parent TEXT NOT NULL, source TEXT NOT NULL,"
    "  state TEXT NOT NULL, attempts INTEGER NOT NULL, last_error TEXT, result TEXT,"
    "  created REAL NOT NULL, finished REAL, sweep INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS artifacts(job TEXT NOT NULL, name TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY(job, name));"
    "CREATE TABLE IF NOT EXISTS attempts(lease INTEGER PRIMARY KEY, job TEXT NOT NULL,"
    "  worker TEXT NOT NULL, started REAL NOT NULL, ended REAL, outcome TEXT, error TEXT);"
    "CREATE TABLE IF NOT EXISTS workers(name TEXT PRIMARY KEY, threads INTEGER,"
    "  slots INTEGER, first_seen REAL, last_seen REAL);"
    "INSERT OR IGNORE INTO meta VALUES('schema', '" SCHEMA_VERSION "');";

enum {
    S_BEGIN, S_COMMIT, S_ADD_SWEEP, S_ADD_ROW, S_ADD_JOB, S_SET_JOB, S_ADD_ART, S_SKIP_ROW,
    S_SWEEP_STATE, S_ATT_BEGIN, S_ATT_END, S_WORKER, S_COUNT
};

static const char *const sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ADD_SWEEP] = "INSERT INTO sweeps(name, yaml, priority, created, state, has_stop, max_drop,"
                    " data_name, data_path, data_url, data_sha256)"
                    " VALUES(?,?,?,?,?,?,?,?,?,?,?)",
    [S_ADD_ROW] = "INSERT INTO rows VALUES(?,?,?,?,?,?,?,?,?,?)",
    [S_ADD_JOB] = "INSERT OR IGNORE INTO jobs(id, spec, kind, parent, source, state, attempts,"
                  " last_error, result, created, finished, sweep)"
                  " VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_SET_JOB] = "UPDATE jobs SET state=?, attempts=?, last_error=?, result=?, finished=?"
                  " WHERE id=?",
    [S_ADD_ART] = "INSERT OR REPLACE INTO artifacts VALUES(?,?,?,?)",
    [S_SKIP_ROW] = "UPDATE rows SET skipped=1 WHERE sweep=? AND idx=?",
    [S_SWEEP_STATE] = "UPDATE sweeps SET state=? WHERE id=?",
    [S_ATT_BEGIN] = "INSERT OR REPLACE INTO attempts(lease, job, worker, started) VALUES(?,?,?,?)",
    [S_ATT_END] = "UPDATE attempts SET ended=?, outcome=?, error=? WHERE lease=?",
    [S_WORKER] = "INSERT INTO workers VALUES(?1,?2,?3,?4,?4) ON CONFLICT(name) DO UPDATE SET"
                 " threads=?2, slots=?3, last_seen=?4",
};

struct sh_store {
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT];
    int in_tx;
    char error[256];
};

static int fail(sh_store_t *s)
{
    snprintf(s->error, sizeof s->error, "sqlite: %s", sqlite3_errmsg(s->db));
    return -1;
}

const char *sh_store_error(sh_store_t *self) { return self->error; }

sh_status_t sh_store_open(sh_store_t **out, const char *path, sh_err_t *err)
{
    *out = NULL;
    sh_store_t *s = sh_xcalloc(1, sizeof *s);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        sh_fail(err, SH_EIO, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        sqlite3_close(s->db);
        free(s);
        return SH_EIO;
    }
    sqlite3_busy_timeout(s->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                            "PRAGMA foreign_keys=OFF;", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        sh_fail(err, SH_EIO, "%s: %s", path, msg ? msg : "schema");
        sqlite3_free(msg);
        sqlite3_close(s->db);
        free(s);
        return SH_EIO;
    }
    for (int i = 0; i < S_COUNT; i++)
        if (sqlite3_prepare_v2(s->db, sql[i], -1, &s->st[i], NULL) != SQLITE_OK) {
            sh_fail(err, SH_EIO, "%s: preparing statement: %s", path, sqlite3_errmsg(s->db));
            sh_store_close(&s);
            return SH_EIO;
        }
    *out = s;
    return SH_OK;
}

void sh_store_close(sh_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sh_store_t *s = *self_p;
    if (s->in_tx)
        sh_store_commit(s);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s);
    *self_p = NULL;
}

static int run(sh_store_t *s, int which)
{
    sqlite3_stmt *st = s->st[which];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fail(s);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

int sh_store_begin(sh_store_t *s)
{
    if (s->in_tx)
        return 0;
    if (run(s, S_BEGIN) != 0)
        return -1;
    s->in_tx = 1;
    return 0;
}

int sh_store_commit(sh_store_t *s)
{
    if (!s->in_tx)
        return 0;
    s->in_tx = 0;
    return run(s, S_COMMIT);
}

int sh_store_in_tx(const sh_store_t *s) { return s->in_tx; }

int sh_store_add_sweep(sh_store_t *s, sh_sweep_rec_t *r)
{
    sqlite3_stmt *st = s->st[S_ADD_SWEEP];
    bind_text(st, 1, r->name);
    bind_text(st, 2, r->yaml);
    sqlite3_bind_int64(st, 3, r->priority);
    sqlite3_bind_double(st, 4, r->created);
    bind_text(st, 5, r->state);
    sqlite3_bind_int(st, 6, r->has_stop);
    sqlite3_bind_double(st, 7, r->max_drop);
    bind_text(st, 8, r->data_name);
    bind_text(st, 9, r->data_path);
    bind_text(st, 10, r->data_url);
    bind_text(st, 11, r->data_sha256);
    if (run(s, S_ADD_SWEEP) != 0)
        return -1;
    r->id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int sh_store_add_row(sh_store_t *s, const sh_row_rec_t *r)
{
    sqlite3_stmt *st = s->st[S_ADD_ROW];
    sqlite3_bind_int64(st, 1, r->sweep);
    sqlite3_bind_int(st, 2, r->idx);
    bind_text(st, 3, r->job);
    sqlite3_bind_int(st, 4, r->seed_index);
    sqlite3_bind_int(st, 5, r->technique);
    bind_text(st, 6, r->label);
    sqlite3_bind_int64(st, 7, (int64_t)r->seed);
    sqlite3_bind_int(st, 8, r->round);
    sqlite3_bind_double(st, 9, r->target);
    sqlite3_bind_int(st, 10, r->skipped);
    return run(s, S_ADD_ROW);
}

int sh_store_add_job(sh_store_t *s, const sh_job_rec_t *r)
{
    sqlite3_stmt *st = s->st[S_ADD_JOB];
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->spec);
    bind_text(st, 3, r->kind);
    bind_text(st, 4, r->parent ? r->parent : "");
    bind_text(st, 5, r->source ? r->source : "");
    bind_text(st, 6, r->state);
    sqlite3_bind_int(st, 7, r->attempts);
    bind_text(st, 8, r->last_error);
    bind_text(st, 9, r->result);
    sqlite3_bind_double(st, 10, r->created);
    sqlite3_bind_double(st, 11, r->finished);
    sqlite3_bind_int64(st, 12, r->sweep);
    return run(s, S_ADD_JOB);
}

int sh_store_set_job(sh_store_t *s, const char *id, const char *state, int attempts,
                     const char *last_error, const char *result, double finished)
{
    sqlite3_stmt *st = s->st[S_SET_JOB];
    bind_text(st, 1, state);
    sqlite3_bind_int(st, 2, attempts);
    bind_text(st, 3, last_error);
    bind_text(st, 4, result);
    sqlite3_bind_double(st, 5, finished);
    bind_text(st, 6, id);
    return run(s, S_SET_JOB);
}

int sh_store_add_artifact(sh_store_t *s, const sh_artifact_rec_t *r)
{
    sqlite3_stmt *st = s->st[S_ADD_ART];
    bind_text(st, 1, r->job);
    bind_text(st, 2, r->name);
    bind_text(st, 3, r->sha256);
    sqlite3_bind_int64(st, 4, (int64_t)r->size);
    return run(s, S_ADD_ART);
}

int sh_store_skip_row(sh_store_t *s, int64_t sweep, int idx)
{
    sqlite3_bind_int64(s->st[S_SKIP_ROW], 1, sweep);
    sqlite3_bind_int(s->st[S_SKIP_ROW], 2, idx);
    return run(s, S_SKIP_ROW);
}

int sh_store_set_sweep_state(sh_store_t *s, int64_t sweep, const char *state)
{
    bind_text(s->st[S_SWEEP_STATE], 1, state);
    sqlite3_bind_int64(s->st[S_SWEEP_STATE], 2, sweep);
    return run(s, S_SWEEP_STATE);
}

int sh_store_attempt_begin(sh_store_t *s, uint64_t lease, const char *job, const char *worker,
                           double when)
{
    sqlite3_stmt *st = s->st[S_ATT_BEGIN];
    sqlite3_bind_int64(st, 1, (int64_t)lease);
    bind_text(st, 2, job);
    bind_text(st, 3, worker);
    sqlite3_bind_double(st, 4, when);
    return run(s, S_ATT_BEGIN);
}

int sh_store_attempt_end(sh_store_t *s, uint64_t lease, const char *outcome, const char *error,
                         double when)
{
    sqlite3_stmt *st = s->st[S_ATT_END];
    sqlite3_bind_double(st, 1, when);
    bind_text(st, 2, outcome);
    bind_text(st, 3, error);
    sqlite3_bind_int64(st, 4, (int64_t)lease);
    return run(s, S_ATT_END);
}

int sh_store_worker_seen(sh_store_t *s, const char *name, int threads, int slots, double when)
{
    sqlite3_stmt *st = s->st[S_WORKER];
    bind_text(st, 1, name);
    sqlite3_bind_int(st, 2, threads);
    sqlite3_bind_int(st, 3, slots);
    sqlite3_bind_double(st, 4, when);
    return run(s, S_WORKER);
}

/* ---- loading -------------------------------------------------------------------- */

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Runs a query and hands each row to `row` (which returns 0 to go on). */
static int each(sh_store_t *s, const char *sqltext, int (*row)(void *ctx, sqlite3_stmt *st),
                void *ctx)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sqltext, -1, &st, NULL) != SQLITE_OK)
        return fail(s);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (row(ctx, st) != 0)
            break;
    int bad = rc != SQLITE_ROW && rc != SQLITE_DONE;
    sqlite3_finalize(st);
    return bad ? fail(s) : 0;
}

typedef struct {
    union {
        int (*sweep)(void *, const sh_sweep_rec_t *);
        int (*row)(void *, const sh_row_rec_t *);
        int (*job)(void *, const sh_job_rec_t *);
        int (*artifact)(void *, const sh_artifact_rec_t *);
        int (*worker)(void *, const sh_worker_rec_t *);
    } fn;
    void *u;
} visit_t;

static int sweep_row(void *ctx, sqlite3_stmt *st)
{
    visit_t *v = ctx;
    sh_sweep_rec_t rec = {
        .id = sqlite3_column_int64(st, 0), .name = col_text(st, 1), .yaml = col_text(st, 2),
        .priority = sqlite3_column_int64(st, 3), .created = sqlite3_column_double(st, 4),
        .state = col_text(st, 5), .has_stop = sqlite3_column_int(st, 6),
        .max_drop = sqlite3_column_double(st, 7), .data_name = col_text(st, 8),
        .data_path = col_text(st, 9), .data_url = col_text(st, 10),
        .data_sha256 = col_text(st, 11),
    };
    return v->fn.sweep(v->u, &rec);
}

int sh_store_each_sweep(sh_store_t *s, int (*fn)(void *, const sh_sweep_rec_t *), void *u)
{
    visit_t v = {.fn.sweep = fn, .u = u};
    return each(s, "SELECT id, name, yaml, priority, created, state, has_stop, max_drop,"
                   " data_name, data_path, data_url, data_sha256 FROM sweeps ORDER BY id",
                sweep_row, &v);
}

static int row_row(void *ctx, sqlite3_stmt *st)
{
    visit_t *v = ctx;
    sh_row_rec_t rec = {
        .sweep = sqlite3_column_int64(st, 0), .idx = sqlite3_column_int(st, 1),
        .job = col_text(st, 2), .seed_index = sqlite3_column_int(st, 3),
        .technique = sqlite3_column_int(st, 4), .label = col_text(st, 5),
        .seed = (uint64_t)sqlite3_column_int64(st, 6), .round = sqlite3_column_int(st, 7),
        .target = sqlite3_column_double(st, 8), .skipped = sqlite3_column_int(st, 9),
    };
    return v->fn.row(v->u, &rec);
}

int sh_store_each_row(sh_store_t *s, int (*fn)(void *, const sh_row_rec_t *), void *u)
{
    visit_t v = {.fn.row = fn, .u = u};
    return each(s, "SELECT sweep, idx, job, seed_index, technique, label, seed, round, target,"
                   " skipped FROM rows ORDER BY sweep, idx",
                row_row, &v);
}

static int job_row(void *ctx, sqlite3_stmt *st)
{
    visit_t *v = ctx;
    sh_job_rec_t rec = {
        .id = col_text(st, 0), .spec = col_text(st, 1), .kind = col_text(st, 2),
        .parent = col_text(st, 3), .source = col_text(st, 4), .state = col_text(st, 5),
        .attempts = sqlite3_column_int(st, 6), .last_error = col_text(st, 7),
        .result = col_text(st, 8), .created = sqlite3_column_double(st, 9),
        .finished = sqlite3_column_double(st, 10), .sweep = sqlite3_column_int64(st, 11),
    };
    return v->fn.job(v->u, &rec);
}

int sh_store_each_job(sh_store_t *s, int (*fn)(void *, const sh_job_rec_t *), void *u)
{
    visit_t v = {.fn.job = fn, .u = u};
    return each(s, "SELECT id, spec, kind, parent, source, state, attempts, last_error, result,"
                   " created, finished, sweep FROM jobs ORDER BY seq",
                job_row, &v);
}

static int artifact_row(void *ctx, sqlite3_stmt *st)
{
    visit_t *v = ctx;
    sh_artifact_rec_t rec = {.job = col_text(st, 0), .name = col_text(st, 1),
                             .sha256 = col_text(st, 2),
                             .size = (uint64_t)sqlite3_column_int64(st, 3)};
    return v->fn.artifact(v->u, &rec);
}

int sh_store_each_artifact(sh_store_t *s, int (*fn)(void *, const sh_artifact_rec_t *), void *u)
{
    visit_t v = {.fn.artifact = fn, .u = u};
    return each(s, "SELECT job, name, sha256, size FROM artifacts ORDER BY rowid", artifact_row,
                &v);
}

static int worker_row(void *ctx, sqlite3_stmt *st)
{
    visit_t *v = ctx;
    sh_worker_rec_t rec = {.name = col_text(st, 0), .threads = sqlite3_column_int(st, 1),
                           .slots = sqlite3_column_int(st, 2),
                           .first_seen = sqlite3_column_double(st, 3),
                           .last_seen = sqlite3_column_double(st, 4)};
    return v->fn.worker(v->u, &rec);
}

int sh_store_each_worker(sh_store_t *s, int (*fn)(void *, const sh_worker_rec_t *), void *u)
{
    visit_t v = {.fn.worker = fn, .u = u};
    return each(s, "SELECT name, threads, slots, first_seen, last_seen FROM workers"
                   " ORDER BY last_seen DESC",
                worker_row, &v);
}

uint64_t sh_store_max_lease(sh_store_t *s)
{
    sqlite3_stmt *st;
    uint64_t v = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT max(lease) FROM attempts", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = (uint64_t)sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    return v;
}
