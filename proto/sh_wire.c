/* sh_wire.c - field tables for every command, and the one encoder and one
 * bounded decoder that walk them. */
#include "sh_wire.h"

#include "sh_mpack.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    F_U64 = 1, /* uint64_t */
    F_I64,     /* int64_t */
    F_F64,     /* double */
    F_BOOL,    /* int */
    F_NAME,    /* char[cap]: printable text, no NUL, < cap bytes */
    F_ID,      /* char[65]: 64 lowercase hex digits */
    F_STR,     /* char *: malloc'd, at most cap bytes */
    F_STRLIST, /* char **, count at count_off: at most SH_WIRE_MAX_LIST of <= cap */
    F_BIN,     /* sh_wire_bin_t, at most cap bytes */
    F_RAW,     /* sh_wire_raw_t: any one msgpack value, at most cap bytes */
    F_ARTS,    /* sh_wire_artifact_t *, count at count_off */
} ftype_t;

typedef struct {
    const char *key;
    ftype_t type;
    size_t off;
    size_t count_off;
    uint32_t cap;
    int required;
} field_t;

#define FLD(T, k, ty, m, c, req) {k, ty, offsetof(T, m), 0, c, req}
#define LST(T, k, ty, m, n, c, req) {k, ty, offsetof(T, m), offsetof(T, n), c, req}

static const field_t f_submit[] = {
    FLD(sh_msg_submit_t, "rid", F_U64, rid, 0, 1),
    FLD(sh_msg_submit_t, "sweep", F_STR, sweep, SH_WIRE_MAX_TEXT, 1),
    FLD(sh_msg_submit_t, "name", F_STR, name, 1024, 0),
    LST(sh_msg_submit_t, "sets", F_STRLIST, sets, n_sets, 4096, 0),
    FLD(sh_msg_submit_t, "priority", F_I64, priority, 0, 0),
    {0},
};
static const field_t f_sweep_req[] = {
    FLD(sh_msg_sweep_req_t, "rid", F_U64, rid, 0, 1),
    FLD(sh_msg_sweep_req_t, "sweep", F_U64, sweep, 0, 0),
    {0},
};
static const field_t f_rid[] = {
    FLD(sh_msg_rid_t, "rid", F_U64, rid, 0, 1),
    {0},
};
static const field_t f_ack[] = {
    FLD(sh_msg_ack_t, "rid", F_U64, rid, 0, 1),
    FLD(sh_msg_ack_t, "complete", F_BOOL, complete, 0, 0),
    {0},
};
static const field_t f_fetch[] = {
    FLD(sh_msg_fetch_t, "rid", F_U64, rid, 0, 1),
    FLD(sh_msg_fetch_t, "sha256", F_ID, sha256, 65, 1),
    FLD(sh_msg_fetch_t, "offset", F_U64, offset, 0, 1),
    FLD(sh_msg_fetch_t, "length", F_U64, length, 0, 1),
    {0},
};
static const field_t f_synthetic[] = {
    FLD(sh_msg_synthetic_t, "rid", F_U64, rid, 0, 1),
    FLD(sh_msg_synthetic_t, "count", F_U64, count, 0, 1),
    FLD(sh_msg_synthetic_t, "sleep_ms", F_U64, sleep_ms, 0, 0),
    FLD(sh_msg_synthetic_t, "fail_every", F_U64, fail_every, 0, 0),
    FLD(sh_msg_synthetic_t, "priority", F_I64, priority, 0, 0),
    FLD(sh_msg_synthetic_t, "salt", F_U64, salt, 0, 0),
    FLD(sh_msg_synthetic_t, "payload", F_U64, payload, 0, 0),
    {0},
};
static const field_t f_reply[] = {
    FLD(sh_msg_reply_t, "rid", F_U64, rid, 0, 1),
    FLD(sh_msg_reply_t, "data", F_RAW, data, SH_WIRE_MAX_MSG, 1),
    {0},
};
static const field_t f_error[] = {
    FLD(sh_msg_error_t, "rid", F_U64, rid, 0, 0),
    FLD(sh_msg_error_t, "code", F_NAME, code, 32, 1),
    FLD(sh_msg_error_t, "message", F_STR, message, 4096, 1),
    {0},
};
static const field_t f_ready[] = {
    FLD(sh_msg_ready_t, "worker", F_NAME, worker, 128, 1),
    FLD(sh_msg_ready_t, "threads", F_U64, threads, 0, 1),
    FLD(sh_msg_ready_t, "slots", F_U64, slots, 0, 1),
    FLD(sh_msg_ready_t, "busy", F_U64, busy, 0, 0),
    FLD(sh_msg_ready_t, "version", F_U64, version, 0, 1),
    {0},
};
static const field_t f_empty[] = {{0}};
static const field_t f_progress[] = {
    FLD(sh_msg_progress_t, "lease", F_U64, lease, 0, 1),
    FLD(sh_msg_progress_t, "phase", F_NAME, phase, 16, 1),
    FLD(sh_msg_progress_t, "epoch", F_U64, epoch, 0, 1),
    FLD(sh_msg_progress_t, "epochs", F_U64, epochs, 0, 1),
    FLD(sh_msg_progress_t, "batch", F_U64, batch, 0, 1),
    FLD(sh_msg_progress_t, "batches", F_U64, batches, 0, 1),
    FLD(sh_msg_progress_t, "loss", F_F64, loss, 0, 1),
    {0},
};
static const field_t f_done[] = {
    FLD(sh_msg_done_t, "lease", F_U64, lease, 0, 1),
    FLD(sh_msg_done_t, "job", F_ID, job, 65, 1),
    FLD(sh_msg_done_t, "result", F_STR, result, 65536, 1),
    LST(sh_msg_done_t, "artifacts", F_ARTS, artifacts, n_artifacts, 0, 1),
    {0},
};
static const field_t f_failed[] = {
    FLD(sh_msg_failed_t, "lease", F_U64, lease, 0, 1),
    FLD(sh_msg_failed_t, "job", F_ID, job, 65, 1),
    FLD(sh_msg_failed_t, "error", F_STR, error, 4096, 1),
    FLD(sh_msg_failed_t, "handback", F_BOOL, handback, 0, 0),
    {0},
};
static const field_t f_put[] = {
    FLD(sh_msg_put_t, "rid", F_U64, rid, 0, 1),
    FLD(sh_msg_put_t, "sha256", F_ID, sha256, 65, 1),
    FLD(sh_msg_put_t, "offset", F_U64, offset, 0, 1),
    FLD(sh_msg_put_t, "size", F_U64, size, 0, 1),
    FLD(sh_msg_put_t, "data", F_BIN, data, SH_WIRE_CHUNK, 1),
    FLD(sh_msg_put_t, "last", F_BOOL, last, 0, 1),
    {0},
};
static const field_t f_job[] = {
    FLD(sh_msg_job_t, "lease", F_U64, lease, 0, 1),
    FLD(sh_msg_job_t, "job", F_ID, job, 65, 1),
    FLD(sh_msg_job_t, "spec", F_STR, spec, SH_WIRE_MAX_TEXT, 1),
    LST(sh_msg_job_t, "inputs", F_ARTS, inputs, n_inputs, 0, 1),
    FLD(sh_msg_job_t, "data_name", F_NAME, data_name, 32, 1),
    FLD(sh_msg_job_t, "data_path", F_STR, data_path, 4096, 0),
    FLD(sh_msg_job_t, "data_url", F_STR, data_url, 4096, 0),
    FLD(sh_msg_job_t, "data_sha256", F_NAME, data_sha256, 65, 0),
    {0},
};
static const field_t f_lease[] = {
    FLD(sh_msg_lease_t, "lease", F_U64, lease, 0, 1),
    {0},
};
static const field_t f_chunk[] = {
    FLD(sh_msg_chunk_t, "rid", F_U64, rid, 0, 1),
    FLD(sh_msg_chunk_t, "sha256", F_ID, sha256, 65, 1),
    FLD(sh_msg_chunk_t, "offset", F_U64, offset, 0, 1),
    FLD(sh_msg_chunk_t, "size", F_U64, size, 0, 1),
    FLD(sh_msg_chunk_t, "data", F_BIN, data, SH_WIRE_CHUNK, 1),
    FLD(sh_msg_chunk_t, "eof", F_BOOL, eof, 0, 1),
    {0},
};

typedef struct {
    int cmd;
    const char *name;
    char from; /* 'C' client, 'W' worker, 'B' broker */
    const field_t *fields;
    size_t size;
} cmd_desc_t;

static const cmd_desc_t cmds[] = {
    {SH_C_SUBMIT, "SUBMIT", 'C', f_submit, sizeof(sh_msg_submit_t)},
    {SH_C_STATUS, "STATUS", 'C', f_sweep_req, sizeof(sh_msg_sweep_req_t)},
    {SH_C_WATCH, "WATCH", 'C', f_sweep_req, sizeof(sh_msg_sweep_req_t)},
    {SH_C_RESULTS, "RESULTS", 'C', f_sweep_req, sizeof(sh_msg_sweep_req_t)},
    {SH_C_FETCH, "FETCH", 'C', f_fetch, sizeof(sh_msg_fetch_t)},
    {SH_C_CANCEL, "CANCEL", 'C', f_sweep_req, sizeof(sh_msg_sweep_req_t)},
    {SH_C_WORKERS, "WORKERS", 'C', f_rid, sizeof(sh_msg_rid_t)},
    {SH_C_SYNTHETIC, "SYNTHETIC", 'C', f_synthetic, sizeof(sh_msg_synthetic_t)},
    {SH_B_REPLY, "REPLY", 'B', f_reply, sizeof(sh_msg_reply_t)},
    {SH_B_PARTIAL, "PARTIAL", 'B', f_reply, sizeof(sh_msg_reply_t)},
    {SH_B_ERROR, "ERROR", 'B', f_error, sizeof(sh_msg_error_t)},
    {SH_W_READY, "READY", 'W', f_ready, sizeof(sh_msg_ready_t)},
    {SH_W_HEARTBEAT, "HEARTBEAT", 'W', f_empty, sizeof(sh_msg_empty_t)},
    {SH_W_PROGRESS, "PROGRESS", 'W', f_progress, sizeof(sh_msg_progress_t)},
    {SH_W_DONE, "DONE", 'W', f_done, sizeof(sh_msg_done_t)},
    {SH_W_FAILED, "FAILED", 'W', f_failed, sizeof(sh_msg_failed_t)},
    {SH_W_GET, "GET", 'W', f_fetch, sizeof(sh_msg_fetch_t)},
    {SH_W_PUT, "PUT", 'W', f_put, sizeof(sh_msg_put_t)},
    {SH_W_DISCONNECT, "DISCONNECT", 'W', f_empty, sizeof(sh_msg_empty_t)},
    {SH_BW_JOB, "JOB", 'B', f_job, sizeof(sh_msg_job_t)},
    {SH_BW_HEARTBEAT, "HEARTBEAT", 'B', f_empty, sizeof(sh_msg_empty_t)},
    {SH_BW_CANCEL, "CANCEL", 'B', f_lease, sizeof(sh_msg_lease_t)},
    {SH_BW_CHUNK, "CHUNK", 'B', f_chunk, sizeof(sh_msg_chunk_t)},
    {SH_BW_ACK, "ACK", 'B', f_ack, sizeof(sh_msg_ack_t)},
    {SH_BW_ERROR, "ERROR", 'B', f_error, sizeof(sh_msg_error_t)},
    {SH_BW_RECONNECT, "RECONNECT", 'B', f_empty, sizeof(sh_msg_empty_t)},
};

static const cmd_desc_t *find_cmd(int cmd)
{
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (cmds[i].cmd == cmd)
            return &cmds[i];
    return NULL;
}

const char *sh_cmd_name(int cmd)
{
    const cmd_desc_t *d = find_cmd(cmd);
    return d ? d->name : "UNKNOWN";
}

size_t sh_wire_body_size(int cmd)
{
    const cmd_desc_t *d = find_cmd(cmd);
    return d ? d->size : 0;
}

int sh_wire_cmd_from(int cmd, char side)
{
    const cmd_desc_t *d = find_cmd(cmd);
    return d && d->from == side;
}

/* ---- encoding ----------------------------------------------------------------- */

static int field_present(const field_t *f, const char *base)
{
    const void *p = base + f->off;
    switch (f->type) {
    case F_STR: return *(char *const *)p != NULL;
    case F_NAME: return f->required || ((const char *)p)[0] != '\0';
    default: return 1;
    }
}

sh_status_t sh_wire_encode(int cmd, const void *body, char **out, size_t *len, sh_err_t *err)
{
    const cmd_desc_t *d = find_cmd(cmd);
    if (!d)
        return sh_fail(err, SH_EARG, "cannot encode unknown command 0x%02x", cmd);
    const char *base = body;
    uint32_t n = 0;
    for (const field_t *f = d->fields; f->key; f++)
        n += (uint32_t)field_present(f, base);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    for (const field_t *f = d->fields; f->key; f++) {
        if (!field_present(f, base))
            continue;
        const void *p = base + f->off;
        sh_mpw_str(&pk, f->key);
        switch (f->type) {
        case F_U64: msgpack_pack_uint64(&pk, *(const uint64_t *)p); break;
        case F_I64: msgpack_pack_int64(&pk, *(const int64_t *)p); break;
        case F_F64: msgpack_pack_double(&pk, *(const double *)p); break;
        case F_BOOL:
            if (*(const int *)p)
                msgpack_pack_true(&pk);
            else
                msgpack_pack_false(&pk);
            break;
        case F_NAME:
        case F_ID: sh_mpw_str(&pk, (const char *)p); break;
        case F_STR: sh_mpw_str(&pk, *(char *const *)p); break;
        case F_STRLIST: {
            char *const *list = *(char **const *)p;
            uint32_t count = *(const uint32_t *)(base + f->count_off);
            msgpack_pack_array(&pk, count);
            for (uint32_t i = 0; i < count; i++)
                sh_mpw_str(&pk, list[i]);
            break;
        }
        case F_BIN: {
            const sh_wire_bin_t *b = p;
            msgpack_pack_bin(&pk, b->len);
            msgpack_pack_bin_body(&pk, b->p, b->len);
            break;
        }
        case F_RAW: {
            const sh_wire_raw_t *r = p;
            if (r->len)
                msgpack_sbuffer_write(&sb, (const char *)r->p, r->len);
            else
                msgpack_pack_nil(&pk);
            break;
        }
        case F_ARTS: {
            const sh_wire_artifact_t *a = *(sh_wire_artifact_t *const *)p;
            uint32_t count = *(const uint32_t *)(base + f->count_off);
            msgpack_pack_array(&pk, count);
            for (uint32_t i = 0; i < count; i++) {
                msgpack_pack_array(&pk, 3);
                sh_mpw_str(&pk, a[i].name);
                sh_mpw_str(&pk, a[i].sha256);
                msgpack_pack_uint64(&pk, a[i].size);
            }
            break;
        }
        }
    }
    *out = sb.data;
    *len = sb.size;
    return SH_OK;
}

/* ---- decoding ----------------------------------------------------------------- */

static int is_hex_id(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Names must be printable ASCII without control characters. */
static int is_printable(const char *s, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return 0;
    return 1;
}

static char *copy_str(sh_mpr_t *r, uint32_t cap, const char *key, sh_err_t *err)
{
    const char *s;
    uint32_t len;
    if (sh_mpr_str(r, &s, &len))
        return NULL;
    if (len > cap) {
        sh_fail(err, SH_EFORMAT, "'%s' is longer than %u bytes", key, cap);
        sh_mpr_fail(r, "too long");
        return NULL;
    }
    if (memchr(s, '\0', len)) {
        sh_fail(err, SH_EFORMAT, "'%s' contains a NUL byte", key);
        sh_mpr_fail(r, "NUL");
        return NULL;
    }
    char *out = malloc((size_t)len + 1);
    if (!out) {
        sh_fail(err, SH_ENOMEM, "out of memory");
        sh_mpr_fail(r, "oom");
        return NULL;
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

static int decode_field(sh_mpr_t *r, const field_t *f, char *base, sh_err_t *err)
{
    void *p = base + f->off;
    switch (f->type) {
    case F_U64:
        return sh_mpr_uint(r, p);
    case F_I64:
        return sh_mpr_int(r, p);
    case F_F64:
        return sh_mpr_double(r, p);
    case F_BOOL:
        return sh_mpr_bool(r, p);
    case F_NAME:
    case F_ID: {
        const char *s;
        uint32_t len;
        if (sh_mpr_str(r, &s, &len))
            return -1;
        if (len >= f->cap || memchr(s, '\0', len) || !is_printable(s, len)) {
            sh_fail(err, SH_EFORMAT, "'%s' must be printable text shorter than %u bytes",
                    f->key, f->cap);
            return sh_mpr_fail(r, "bad name");
        }
        memcpy(p, s, len);
        ((char *)p)[len] = '\0';
        if (f->type == F_ID && !is_hex_id(p)) {
            sh_fail(err, SH_EFORMAT, "'%s' must be 64 lowercase hex digits", f->key);
            return sh_mpr_fail(r, "bad id");
        }
        return 0;
    }
    case F_STR: {
        char *s = copy_str(r, f->cap, f->key, err);
        if (!s)
            return -1;
        *(char **)p = s;
        return 0;
    }
    case F_STRLIST: {
        uint32_t n;
        if (sh_mpr_array(r, &n))
            return -1;
        if (n > SH_WIRE_MAX_LIST) {
            sh_fail(err, SH_EFORMAT, "'%s' has more than %d items", f->key, SH_WIRE_MAX_LIST);
            return sh_mpr_fail(r, "list too long");
        }
        char **list = calloc(n ? n : 1, sizeof *list);
        if (!list)
            return sh_mpr_fail(r, "oom");
        *(char ***)p = list;
        for (uint32_t i = 0; i < n; i++) {
            list[i] = copy_str(r, f->cap, f->key, err);
            if (!list[i])
                return -1;
            (*(uint32_t *)(base + f->count_off))++;
        }
        return 0;
    }
    case F_BIN: {
        sh_wire_bin_t *b = p;
        if (sh_mpr_bin(r, &b->p, &b->len))
            return -1;
        if (b->len > f->cap) {
            sh_fail(err, SH_EFORMAT, "'%s' is longer than %u bytes", f->key, f->cap);
            return sh_mpr_fail(r, "bin too long");
        }
        return 0;
    }
    case F_RAW: {
        sh_wire_raw_t *raw = p;
        const uint8_t *start = r->p;
        if (sh_mpr_skip(r))
            return -1;
        raw->p = start;
        raw->len = (uint32_t)(r->p - start);
        return 0;
    }
    case F_ARTS: {
        uint32_t n;
        if (sh_mpr_array(r, &n))
            return -1;
        if (n > SH_WIRE_MAX_LIST) {
            sh_fail(err, SH_EFORMAT, "'%s' has more than %d items", f->key, SH_WIRE_MAX_LIST);
            return sh_mpr_fail(r, "list too long");
        }
        sh_wire_artifact_t *a = calloc(n ? n : 1, sizeof *a);
        if (!a)
            return sh_mpr_fail(r, "oom");
        *(sh_wire_artifact_t **)p = a;
        *(uint32_t *)(base + f->count_off) = n;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k;
            const char *s;
            uint32_t len;
            if (sh_mpr_array(r, &k) || k != 3) {
                sh_fail(err, SH_EFORMAT, "'%s' items must be [name, sha256, size]", f->key);
                return sh_mpr_fail(r, "bad artifact");
            }
            if (sh_mpr_str(r, &s, &len))
                return -1;
            if (len == 0 || len >= sizeof a[i].name || !is_printable(s, len) ||
                memchr(s, '/', len) || memchr(s, '\0', len)) {
                sh_fail(err, SH_EFORMAT, "'%s': bad artifact name", f->key);
                return sh_mpr_fail(r, "bad artifact name");
            }
            memcpy(a[i].name, s, len);
            if (sh_mpr_str(r, &s, &len))
                return -1;
            if (len != 64) {
                sh_fail(err, SH_EFORMAT, "'%s': bad artifact sha256", f->key);
                return sh_mpr_fail(r, "bad artifact hash");
            }
            memcpy(a[i].sha256, s, 64);
            if (!is_hex_id(a[i].sha256)) {
                sh_fail(err, SH_EFORMAT, "'%s': bad artifact sha256", f->key);
                return sh_mpr_fail(r, "bad artifact hash");
            }
            if (sh_mpr_uint(r, &a[i].size))
                return -1;
        }
        return 0;
    }
    }
    return sh_mpr_fail(r, "bad field type");
}

sh_status_t sh_wire_decode(int cmd, const void *data, size_t len, void *body, sh_err_t *err)
{
    const cmd_desc_t *d = find_cmd(cmd);
    if (!d)
        return sh_fail(err, SH_EFORMAT, "unknown command 0x%02x", cmd);
    memset(body, 0, d->size);
    char *base = body;
    sh_mpr_t r;
    sh_mpr_init(&r, data, len);
    uint32_t n;
    uint64_t seen = 0;
    if (err)
        err->msg[0] = '\0';
    if (sh_mpr_map(&r, &n)) {
        sh_fail(err, SH_EFORMAT, "%s: body is not a msgpack map (%s)", d->name, r.what);
        return SH_EFORMAT;
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kl;
        if (sh_mpr_str(&r, &k, &kl))
            break;
        const field_t *f = NULL;
        int idx = 0;
        for (const field_t *g = d->fields; g->key; g++, idx++)
            if (sh_mpr_key_is(k, kl, g->key)) {
                f = g;
                break;
            }
        if (!f) {
            sh_fail(err, SH_EFORMAT, "%s: unknown key '%.*s'", d->name, (int)(kl > 40 ? 40 : kl),
                    k);
            sh_mpr_fail(&r, "unknown key");
            break;
        }
        if (seen & ((uint64_t)1 << idx)) {
            sh_fail(err, SH_EFORMAT, "%s: duplicate key '%s'", d->name, f->key);
            sh_mpr_fail(&r, "duplicate key");
            break;
        }
        seen |= (uint64_t)1 << idx;
        if (decode_field(&r, f, base, err)) {
            if (err && !err->msg[0])
                sh_fail(err, SH_EFORMAT, "'%s': %s", f->key, r.what);
            sh_err_prefix(err, "%s", d->name);
            break;
        }
    }
    if (!r.failed && sh_mpr_remaining(&r) != 0) {
        sh_fail(err, SH_EFORMAT, "%s: trailing bytes after the body", d->name);
        r.failed = 1;
    }
    int idx = 0;
    for (const field_t *g = d->fields; g->key && !r.failed; g++, idx++)
        if (g->required && !(seen & ((uint64_t)1 << idx))) {
            sh_fail(err, SH_EFORMAT, "%s: missing '%s'", d->name, g->key);
            r.failed = 1;
        }
    if (r.failed) {
        if (err && !err->msg[0])
            sh_fail(err, SH_EFORMAT, "%s: %s", d->name, r.what);
        sh_wire_free(cmd, body);
        return SH_EFORMAT;
    }
    return SH_OK;
}

void sh_wire_free(int cmd, void *body)
{
    const cmd_desc_t *d = find_cmd(cmd);
    if (!d || !body)
        return;
    char *base = body;
    for (const field_t *f = d->fields; f->key; f++) {
        void *p = base + f->off;
        switch (f->type) {
        case F_STR:
            free(*(char **)p);
            *(char **)p = NULL;
            break;
        case F_STRLIST: {
            char **list = *(char ***)p;
            uint32_t *count = (uint32_t *)(base + f->count_off);
            for (uint32_t i = 0; list && i < *count; i++)
                free(list[i]);
            free(list);
            *(char ***)p = NULL;
            *count = 0;
            break;
        }
        case F_ARTS:
            free(*(sh_wire_artifact_t **)p);
            *(sh_wire_artifact_t **)p = NULL;
            *(uint32_t *)(base + f->count_off) = 0;
            break;
        default:
            break;
        }
    }
}
