/* client_api.c - request/reply over a DEALER socket, and bounded decoding of
 * the broker's reply payloads (sh_mpr: the broker is trusted no more than
 * any other peer). */
#include "client_api.h"

#include "sh_artstore.h"
#include "sh_file.h"
#include "sh_mpack.h"
#include "sh_zmq.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every client request body starts with its request id. */
_Static_assert(offsetof(sh_msg_submit_t, rid) == 0, "rid first");
_Static_assert(offsetof(sh_msg_sweep_req_t, rid) == 0, "rid first");
_Static_assert(offsetof(sh_msg_rid_t, rid) == 0, "rid first");
_Static_assert(offsetof(sh_msg_fetch_t, rid) == 0, "rid first");
_Static_assert(offsetof(sh_msg_synthetic_t, rid) == 0, "rid first");

struct sh_client {
    void *sock;
    char endpoint[512];
    int timeout_ms;
    int curve;
    uint64_t next_rid;
};

sh_status_t sh_client_open(sh_client_t **out, void *zctx, const char *endpoint,
                           const sh_curve_t *curve, int timeout_ms, sh_err_t *err)
{
    *out = NULL;
    void *sock = zmq_socket(zctx, ZMQ_DEALER);
    if (!sock)
        return sh_fail(err, SH_EIO, "cannot create a socket: %s", zmq_strerror(errno));
    sh_zsock_limits(sock, 0);
    if (curve && sh_curve_client_socket(sock, curve) != 0) {
        int e = errno;
        zmq_close(sock);
        return sh_fail(err, SH_EIO, "cannot enable CURVE: %s", zmq_strerror(e));
    }
    if (zmq_connect(sock, endpoint) != 0) {
        int e = errno;
        zmq_close(sock);
        return sh_fail(err, SH_EARG, "bad broker address '%s': %s", endpoint, zmq_strerror(e));
    }
    sh_client_t *c = sh_xcalloc(1, sizeof *c);
    c->sock = sock;
    snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
    c->curve = curve != NULL;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    c->next_rid = (uint64_t)getpid() << 32;
    *out = c;
    return SH_OK;
}

void sh_client_close(sh_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zmq_close((*self_p)->sock);
    free(*self_p);
    *self_p = NULL;
}

sh_status_t sh_client_call(sh_client_t *c, int cmd, void *body, char **data, size_t *len,
                           void (*on_partial)(void *user, const char *data, size_t len),
                           void *user, sh_err_t *err)
{
    uint64_t rid = ++c->next_rid;
    *(uint64_t *)body = rid;
    *data = NULL;
    *len = 0;
    if (sh_zsend(c->sock, NULL, SH_TAG_CLIENT, cmd, body) != 0)
        return sh_fail(err, SH_EIO, "sending %s to %s: %s", sh_cmd_name(cmd), c->endpoint,
                       zmq_strerror(errno));
    double deadline = sh_now() + c->timeout_ms / 1000.0;
    for (;;) {
        double left = deadline - sh_now();
        if (left <= 0)
            return sh_fail(err, SH_EIO, "no reply from the broker at %s within %.0f s (%s)",
                           c->endpoint, c->timeout_ms / 1000.0,
                           c->curve ? "is shears-broker running there, with this client's public "
                                      "key in its allow list and the right server key here?"
                                    : "is shears-broker running there? if it uses CURVE, give "
                                      "--curve-server and --curve-secret");
        zmq_pollitem_t item = {.socket = c->sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, (long)(left * 1000) + 1) < 0 && errno == EINTR)
            return sh_fail(err, SH_ECANCELED, "interrupted");
        if (!(item.revents & ZMQ_POLLIN))
            continue;
        sh_zframes_t m;
        const char *why;
        int rc = sh_zrecv(c->sock, 0, 0, &m, &why);
        if (rc < 0)
            continue;
        if (rc == 1 || m.side != 'C') {
            sh_zframes_close(&m);
            continue;
        }
        const void *bd = zmq_msg_data(&m.body);
        size_t bl = zmq_msg_size(&m.body);
        sh_status_t st = SH_OK;
        int finished = 0;
        if (m.cmd == SH_B_ERROR) {
            sh_msg_error_t e;
            if (sh_wire_decode(SH_B_ERROR, bd, bl, &e, NULL) == SH_OK) {
                if (e.rid == rid || e.rid == 0) {
                    st = sh_fail(err, SH_EARG, "%s: %s", e.code, e.message);
                    finished = 1;
                }
                sh_wire_free(SH_B_ERROR, &e);
            }
        } else if (m.cmd == SH_B_REPLY || m.cmd == SH_B_PARTIAL) {
            sh_msg_reply_t r;
            if (sh_wire_decode(m.cmd, bd, bl, &r, NULL) == SH_OK && r.rid == rid) {
                if (m.cmd == SH_B_PARTIAL) {
                    if (on_partial)
                        on_partial(user, (const char *)r.data.p, r.data.len);
                    deadline = sh_now() + c->timeout_ms / 1000.0;
                } else {
                    *data = sh_xmalloc(r.data.len + 1);
                    memcpy(*data, r.data.p, r.data.len);
                    *len = r.data.len;
                    finished = 1;
                }
            }
        }
        sh_zframes_close(&m);
        if (finished)
            return st;
    }
}

/* ---- payload decoding ----------------------------------------------------------------- */

#define KEY(k) sh_mpr_key_is(key, kl, k)

static int read_int(sh_mpr_t *r, int *out)
{
    int64_t v;
    if (sh_mpr_int(r, &v))
        return -1;
    *out = (int)(v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : v);
    return 0;
}

static int read_long(sh_mpr_t *r, long *out)
{
    int64_t v;
    if (sh_mpr_int(r, &v))
        return -1;
    *out = (long)v;
    return 0;
}

static int decode_active(sh_mpr_t *r, sh_active_t *a)
{
    uint32_t n;
    if (sh_mpr_map(r, &n))
        return -1;
    for (uint32_t i = 0; i < n && !r->failed; i++) {
        const char *key;
        uint32_t kl;
        if (sh_mpr_str(r, &key, &kl))
            return -1;
        uint64_t u;
        if (KEY("job")) sh_mpr_str_copy(r, a->job, sizeof a->job);
        else if (KEY("technique")) sh_mpr_str_copy(r, a->technique, sizeof a->technique);
        else if (KEY("worker")) sh_mpr_str_copy(r, a->worker, sizeof a->worker);
        else if (KEY("phase")) sh_mpr_str_copy(r, a->phase, sizeof a->phase);
        else if (KEY("seed")) { sh_mpr_uint(r, &u); a->seed = u; }
        else if (KEY("round")) read_int(r, &a->round);
        else if (KEY("epoch")) read_long(r, &a->epoch);
        else if (KEY("epochs")) read_long(r, &a->epochs);
        else if (KEY("batch")) read_long(r, &a->batch);
        else if (KEY("batches")) read_long(r, &a->batches);
        else if (KEY("loss")) sh_mpr_double(r, &a->loss);
        else sh_mpr_skip(r);
    }
    return r->failed ? -1 : 0;
}

static int decode_sweep_status(sh_mpr_t *r, sh_sweep_status_t *s)
{
    uint32_t n;
    if (sh_mpr_map(r, &n))
        return -1;
    for (uint32_t i = 0; i < n && !r->failed; i++) {
        const char *key;
        uint32_t kl;
        if (sh_mpr_str(r, &key, &kl))
            return -1;
        if (KEY("id")) sh_mpr_int(r, &s->id);
        else if (KEY("name")) sh_mpr_str_copy(r, s->name, sizeof s->name);
        else if (KEY("state")) sh_mpr_str_copy(r, s->state, sizeof s->state);
        else if (KEY("priority")) sh_mpr_int(r, &s->priority);
        else if (KEY("done")) read_int(r, &s->done);
        else if (KEY("running")) read_int(r, &s->running);
        else if (KEY("queued")) read_int(r, &s->queued);
        else if (KEY("failed")) read_int(r, &s->failed);
        else if (KEY("blocked")) read_int(r, &s->blocked);
        else if (KEY("skipped")) read_int(r, &s->skipped);
        else if (KEY("active")) {
            uint32_t k;
            if (sh_mpr_array(r, &k))
                return -1;
            s->active = sh_xcalloc(k ? k : 1, sizeof *s->active);
            for (uint32_t j = 0; j < k && !r->failed; j++, s->n_active++)
                decode_active(r, &s->active[j]);
        } else {
            sh_mpr_skip(r);
        }
    }
    return r->failed ? -1 : 0;
}

sh_status_t sh_status_decode(sh_status_payload_t *out, const char *data, size_t len, sh_err_t *err)
{
    memset(out, 0, sizeof *out);
    sh_mpr_t r;
    sh_mpr_init(&r, data, len);
    uint32_t n;
    if (sh_mpr_map(&r, &n) == 0)
        for (uint32_t i = 0; i < n && !r.failed; i++) {
            const char *key;
            uint32_t kl;
            if (sh_mpr_str(&r, &key, &kl))
                break;
            if (KEY("workers")) read_int(&r, &out->workers);
            else if (KEY("queue")) read_int(&r, &out->queue);
            else if (KEY("sweeps")) {
                uint32_t k;
                if (sh_mpr_array(&r, &k))
                    break;
                out->sweeps = sh_xcalloc(k ? k : 1, sizeof *out->sweeps);
                for (uint32_t j = 0; j < k && !r.failed; j++, out->n_sweeps++)
                    decode_sweep_status(&r, &out->sweeps[j]);
            } else {
                sh_mpr_skip(&r);
            }
        }
    if (r.failed) {
        sh_status_free(out);
        return sh_fail(err, SH_EFORMAT, "malformed status from the broker: %s", r.what);
    }
    return SH_OK;
}

void sh_status_free(sh_status_payload_t *s)
{
    for (int i = 0; i < s->n_sweeps; i++)
        free(s->sweeps[i].active);
    free(s->sweeps);
    memset(s, 0, sizeof *s);
}

static int decode_row(sh_mpr_t *r, sh_results_payload_t *out, int i)
{
    uint32_t n;
    if (sh_mpr_array(r, &n) || n != 9)
        return sh_mpr_fail(r, "a row must have 9 fields");
    sh_row_t *row = &out->rows[i];
    char kind[16];
    uint64_t seed;
    int64_t round;
    if (sh_mpr_str_copy(r, row->job, sizeof row->job) || sh_mpr_str_copy(r, kind, sizeof kind) ||
        sh_mpr_str_copy(r, row->technique, sizeof row->technique) || sh_mpr_uint(r, &seed) ||
        sh_mpr_int(r, &round) || sh_mpr_double(r, &row->target_density) ||
        sh_mpr_str_copy(r, out->row_state[i], sizeof out->row_state[i]))
        return -1;
    row->kind = !strcmp(kind, "train") ? SH_JOB_TRAIN
                : !strcmp(kind, "prune") ? SH_JOB_PRUNE
                                         : SH_JOB_SYNTHETIC;
    row->seed = seed;
    row->round = (int)round;
    row->r.val_accuracy = row->r.val_loss = NAN;
    if (sh_mpr_peek(r) == SH_MP_NIL) {
        sh_mpr_nil(r);
    } else {
        const char *s;
        uint32_t sl;
        if (sh_mpr_str(r, &s, &sl))
            return -1;
        if (sh_result_parse(&row->r, s, sl, NULL) != SH_OK && row->kind != SH_JOB_SYNTHETIC)
            return sh_mpr_fail(r, "a row has a malformed result");
    }
    if (sh_mpr_peek(r) == SH_MP_NIL) {
        sh_mpr_nil(r);
    } else {
        const char *s;
        uint32_t sl;
        if (sh_mpr_str(r, &s, &sl))
            return -1;
        out->row_error[i] = sh_xmalloc(sl + 1);
        memcpy(out->row_error[i], s, sl);
        out->row_error[i][sl] = '\0';
    }
    return 0;
}

sh_status_t sh_results_decode(sh_results_payload_t *out, const char *data, size_t len,
                              sh_err_t *err)
{
    memset(out, 0, sizeof *out);
    sh_mpr_t r;
    sh_mpr_init(&r, data, len);
    uint32_t n;
    if (sh_mpr_map(&r, &n) == 0)
        for (uint32_t i = 0; i < n && !r.failed; i++) {
            const char *key;
            uint32_t kl;
            if (sh_mpr_str(&r, &key, &kl))
                break;
            if (KEY("sweep")) sh_mpr_int(&r, &out->sweep);
            else if (KEY("name")) sh_mpr_str_copy(&r, out->name, sizeof out->name);
            else if (KEY("state")) sh_mpr_str_copy(&r, out->state, sizeof out->state);
            else if (KEY("yaml")) {
                const char *s;
                uint32_t sl;
                if (sh_mpr_str(&r, &s, &sl))
                    break;
                out->yaml = sh_xmalloc(sl + 1);
                memcpy(out->yaml, s, sl);
                out->yaml[sl] = '\0';
            } else if (KEY("rows")) {
                uint32_t k;
                if (sh_mpr_array(&r, &k))
                    break;
                out->rows = sh_xcalloc(k ? k : 1, sizeof *out->rows);
                out->row_state = sh_xcalloc(k ? k : 1, sizeof *out->row_state);
                out->row_error = sh_xcalloc(k ? k : 1, sizeof *out->row_error);
                for (uint32_t j = 0; j < k && !r.failed; j++, out->n_rows++)
                    decode_row(&r, out, (int)j);
            } else if (KEY("artifacts")) {
                uint32_t k;
                if (sh_mpr_array(&r, &k))
                    break;
                out->arts = sh_xcalloc(k ? k : 1, sizeof *out->arts);
                for (uint32_t j = 0; j < k && !r.failed; j++) {
                    uint32_t f;
                    sh_result_artifact_t *a = &out->arts[j];
                    if (sh_mpr_array(&r, &f) || f != 4 ||
                        sh_mpr_str_copy(&r, a->job, sizeof a->job) ||
                        sh_mpr_str_copy(&r, a->name, sizeof a->name) ||
                        sh_mpr_str_copy(&r, a->sha256, sizeof a->sha256) ||
                        sh_mpr_uint(&r, &a->size) || strchr(a->name, '/') ||
                        !a->name[0] || a->name[0] == '.' || strlen(a->sha256) != 64) {
                        sh_mpr_fail(&r, "malformed artifact");
                        break;
                    }
                    out->n_arts++;
                }
            } else {
                sh_mpr_skip(&r);
            }
        }
    if (r.failed) {
        sh_results_free(out);
        return sh_fail(err, SH_EFORMAT, "malformed results from the broker: %s", r.what);
    }
    return SH_OK;
}

void sh_results_free(sh_results_payload_t *r)
{
    for (int i = 0; r->row_error && i < r->n_rows; i++)
        free(r->row_error[i]);
    free(r->row_error);
    free(r->row_state);
    free(r->rows);
    free(r->arts);
    free(r->yaml);
    memset(r, 0, sizeof *r);
}

int sh_results_done_rows(const sh_results_payload_t *r, sh_row_t *out)
{
    int n = 0;
    for (int i = 0; i < r->n_rows; i++)
        if (!strcmp(r->row_state[i], "done"))
            out[n++] = r->rows[i];
    return n;
}

sh_status_t sh_client_fetch_artifact(sh_client_t *c, const char *sha256, uint64_t size,
                                     const char *path, sh_err_t *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.part", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return sh_fail(err, SH_EIO, "%s: %s", tmp, strerror(errno));
    uint64_t off = 0;
    sh_status_t st = SH_OK;
    for (;;) {
        sh_msg_fetch_t req = {.offset = off, .length = SH_WIRE_CHUNK};
        memcpy(req.sha256, sha256, 65);
        char *data;
        size_t len;
        st = sh_client_call(c, SH_C_FETCH, &req, &data, &len, NULL, NULL, err);
        if (st != SH_OK)
            break;
        sh_mpr_t r;
        sh_mpr_init(&r, data, len);
        uint32_t n;
        const uint8_t *bytes = NULL;
        uint32_t blen = 0;
        int eof = 0;
        int64_t got_off = -1;
        if (sh_mpr_map(&r, &n) == 0)
            for (uint32_t i = 0; i < n && !r.failed; i++) {
                const char *key;
                uint32_t kl;
                if (sh_mpr_str(&r, &key, &kl))
                    break;
                if (KEY("offset")) sh_mpr_int(&r, &got_off);
                else if (KEY("data")) sh_mpr_bin(&r, &bytes, &blen);
                else if (KEY("eof")) sh_mpr_bool(&r, &eof);
                else sh_mpr_skip(&r);
            }
        if (r.failed || !bytes || got_off != (int64_t)off || off + blen > size ||
            fwrite(bytes, 1, blen, f) != blen) {
            free(data);
            st = sh_fail(err, SH_EFORMAT, "bad chunk of artifact %.12s", sha256);
            break;
        }
        off += blen;
        free(data);
        if (eof)
            break;
    }
    if (fclose(f) != 0 && st == SH_OK)
        st = sh_fail(err, SH_EIO, "%s: write failed", tmp);
    if (st == SH_OK) {
        char got[65];
        uint64_t got_size;
        st = sh_sha256_file(tmp, got, &got_size, err);
        if (st == SH_OK && (strcmp(got, sha256) != 0 || got_size != size))
            st = sh_fail(err, SH_EFORMAT, "artifact %.12s arrived corrupted", sha256);
    }
    if (st == SH_OK && rename(tmp, path) != 0)
        st = sh_fail(err, SH_EIO, "%s: %s", path, strerror(errno));
    if (st != SH_OK)
        unlink(tmp);
    return st;
}
