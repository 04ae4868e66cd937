/* test_broker.c - the broker over a real socket (ipc): malformed frames and
 * garbage get error replies or are dropped while the broker keeps serving;
 * synthetic jobs are refused unless enabled; bad sweeps are refused with
 * file and line; unregistered workers are asked to reconnect; synthetic
 * jobs fail for good after max attempts. */
#include "sh_test.h"

#include "sh_broker.h"
#include "sh_mpack.h"
#include "sh_zmq.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    void *ctx;
    sh_broker_opts_t o;
    volatile int stop, ready;
    char endpoint[512], state[512];
    pthread_t thread;
} broker_fixture_t;

static void *broker_thread(void *p)
{
    broker_fixture_t *f = p;
    sh_err_t err;
    if (sh_broker_run(f->ctx, &f->o, &err) != SH_OK)
        fprintf(stderr, "broker: %s\n", err.msg);
    f->ready = -1;
    return NULL;
}

static int broker_start(broker_fixture_t *f, const char *name, int synthetic)
{
    memset(f, 0, sizeof *f);
    f->ctx = zmq_ctx_new();
    snprintf(f->endpoint, sizeof f->endpoint, "ipc://%s/%s.sock", sh_test_tmpdir(), name);
    snprintf(f->state, sizeof f->state, "%s/%s-state", sh_test_tmpdir(), name);
    f->o = (sh_broker_opts_t){.bind = f->endpoint, .state_dir = f->state, .heartbeat_ms = 100,
                              .liveness_ms = 400, .max_attempts = 2,
                              .allow_synthetic = synthetic, .log_level = SH_LOG_WARN,
                              .stop = &f->stop, .ready = &f->ready};
    pthread_create(&f->thread, NULL, broker_thread, f);
    for (int i = 0; i < 500 && !f->ready; i++)
        usleep(10000);
    return f->ready == 1 ? 0 : -1;
}

static void broker_stop(broker_fixture_t *f)
{
    f->stop = 1;
    pthread_join(f->thread, NULL);
    zmq_ctx_term(f->ctx);
}

static void *dealer(broker_fixture_t *f)
{
    void *s = zmq_socket(f->ctx, ZMQ_DEALER);
    sh_zsock_limits(s, 0);
    zmq_connect(s, f->endpoint);
    return s;
}

/* Receives one message within 2 s: returns its command, or -1. */
static int recv_cmd(void *s, sh_zframes_t *m)
{
    zmq_pollitem_t item = {.socket = s, .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, 2000) <= 0)
        return -1;
    const char *why;
    if (sh_zrecv(s, 0, 0, m, &why) != 0)
        return -1;
    return m->cmd;
}

static int expect_error(void *s, const char *code, const char *frag)
{
    sh_zframes_t m;
    int cmd = recv_cmd(s, &m);
    CHECK_MSG(cmd == SH_B_ERROR || cmd == SH_BW_ERROR, "expected ERROR, got %d", cmd);
    sh_msg_error_t e;
    CHECK(sh_wire_decode(cmd, zmq_msg_data(&m.body), zmq_msg_size(&m.body), &e, NULL) == SH_OK);
    int ok = !strcmp(e.code, code) && (!frag || strstr(e.message, frag));
    if (!ok)
        fprintf(stderr, "error %s: %s (wanted %s / %s)\n", e.code, e.message, code,
                frag ? frag : "");
    sh_wire_free(cmd, &e);
    sh_zframes_close(&m);
    return ok ? 0 : 1;
}

static void send_raw(void *s, const void *const *frames, const size_t *lens, int n)
{
    for (int i = 0; i < n; i++)
        zmq_send(s, frames[i], lens[i], i < n - 1 ? ZMQ_SNDMORE : 0);
}

SH_TEST(broker_survives_malformed_frames)
{
    broker_fixture_t f;
    CHECK(broker_start(&f, "malformed", 0) == 0);
    void *s = dealer(&f);
    unsigned char status_cmd = SH_C_STATUS, junk_cmd = 0x7f, submit_cmd = SH_C_SUBMIT;
    /* Unknown tag: dropped silently. */
    send_raw(s, (const void *[]){"hello"}, (size_t[]){5}, 1);
    /* Known tag, missing frames. */
    send_raw(s, (const void *[]){"SHC1"}, (size_t[]){4}, 1);
    CHECK(expect_error(s, "bad-request", "missing command frame") == 0);
    send_raw(s, (const void *[]){"SHC1", &status_cmd}, (size_t[]){4, 1}, 2);
    CHECK(expect_error(s, "bad-request", "missing body") == 0);
    /* Unknown command, a two-byte command frame, too many frames. */
    send_raw(s, (const void *[]){"SHC1", &junk_cmd, "\x80"}, (size_t[]){4, 1, 1}, 3);
    CHECK(expect_error(s, "bad-request", "unknown command") == 0);
    send_raw(s, (const void *[]){"SHC1", "ab", "\x80"}, (size_t[]){4, 2, 1}, 3);
    CHECK(expect_error(s, "bad-request", "one byte") == 0);
    send_raw(s, (const void *[]){"SHC1", &status_cmd, "\x80", "x"}, (size_t[]){4, 1, 1, 1}, 4);
    CHECK(expect_error(s, "bad-request", "too many frames") == 0);
    /* Bodies: not a map, huge declared string, deep nesting, wrong types. */
    send_raw(s, (const void *[]){"SHC1", &status_cmd, "\x93\x01\x02\x03"}, (size_t[]){4, 1, 4}, 3);
    CHECK(expect_error(s, "bad-request", "not a msgpack map") == 0);
    static const uint8_t huge[] = {0x81, 0xa3, 'r', 'i', 'd', 0xdb, 0xff, 0xff, 0xff, 0xf0};
    send_raw(s, (const void *[]){"SHC1", &status_cmd, huge}, (size_t[]){4, 1, sizeof huge}, 3);
    CHECK(expect_error(s, "bad-request", NULL) == 0);
    uint8_t deep[200];
    deep[0] = 0x82, deep[1] = 0xa3, deep[2] = 'r', deep[3] = 'i', deep[4] = 'd', deep[5] = 0x01;
    deep[6] = 0xa5;
    memcpy(deep + 7, "sweep", 5);
    for (int i = 12; i < 199; i++)
        deep[i] = 0x91;
    deep[199] = 0xc0;
    send_raw(s, (const void *[]){"SHC1", &status_cmd, deep}, (size_t[]){4, 1, sizeof deep}, 3);
    CHECK(expect_error(s, "bad-request", NULL) == 0);
    /* A worker command from a client, a client command with a worker tag. */
    send_raw(s, (const void *[]){"SHC1", "\x11", "\x80"}, (size_t[]){4, 1, 1}, 3);
    CHECK(expect_error(s, "bad-request", "not accepted from this side") == 0);
    send_raw(s, (const void *[]){"SHW1", &submit_cmd, "\x80"}, (size_t[]){4, 1, 1}, 3);
    CHECK(expect_error(s, "bad-request", "not accepted from this side") == 0);
    /* Random garbage of many shapes. */
    uint8_t junk[64];
    for (int i = 0; i < 200; i++) {
        for (int k = 0; k < 64; k++)
            junk[k] = (uint8_t)((i * 131 + k * 29) ^ (k << 3));
        unsigned char cmd = (unsigned char)(i % 9);
        send_raw(s, (const void *[]){"SHC1", &cmd, junk}, (size_t[]){4, 1, (size_t)(i % 64)}, 3);
    }
    /* Still serving: a valid STATUS gets a REPLY after the garbage answers. */
    sh_msg_sweep_req_t st = {.rid = 4242};
    CHECK(sh_zsend(s, NULL, SH_TAG_CLIENT, SH_C_STATUS, &st) == 0);
    int got_reply = 0;
    for (int i = 0; i < 400 && !got_reply; i++) {
        sh_zframes_t m;
        int cmd = recv_cmd(s, &m);
        CHECK(cmd >= 0);
        if (cmd == SH_B_REPLY) {
            sh_msg_reply_t r;
            CHECK(sh_wire_decode(cmd, zmq_msg_data(&m.body), zmq_msg_size(&m.body), &r, NULL) ==
                  SH_OK);
            got_reply = r.rid == 4242;
        }
        sh_zframes_close(&m);
    }
    CHECK(got_reply);
    zmq_close(s);
    broker_stop(&f);
    return 0;
}

SH_TEST(broker_refuses_bad_requests)
{
    broker_fixture_t f;
    CHECK(broker_start(&f, "refuse", 0) == 0);
    void *s = dealer(&f);
    sh_msg_synthetic_t syn = {.rid = 1, .count = 10};
    CHECK(sh_zsend(s, NULL, SH_TAG_CLIENT, SH_C_SYNTHETIC, &syn) == 0);
    CHECK(expect_error(s, "forbidden", "--allow-synthetic") == 0);
    sh_msg_submit_t sub = {.rid = 2, .sweep = "model: lenet_300_100\ndataset: fashion-mnist\n"
                                              "train: {epochs: -3}\n", .name = "bad.yaml"};
    CHECK(sh_zsend(s, NULL, SH_TAG_CLIENT, SH_C_SUBMIT, &sub) == 0);
    CHECK(expect_error(s, "bad-sweep", "bad.yaml:3: 'train.epochs'") == 0);
    sh_msg_sweep_req_t res = {.rid = 3, .sweep = 77};
    CHECK(sh_zsend(s, NULL, SH_TAG_CLIENT, SH_C_RESULTS, &res) == 0);
    CHECK(expect_error(s, "not-found", "no sweep 77") == 0);
    sh_msg_fetch_t fe = {.rid = 4, .length = 10};
    memset(fe.sha256, 'a', 64);
    CHECK(sh_zsend(s, NULL, SH_TAG_CLIENT, SH_C_FETCH, &fe) == 0);
    CHECK(expect_error(s, "not-found", NULL) == 0);
    /* A worker that never said READY is asked to. */
    void *w = dealer(&f);
    sh_msg_empty_t hb;
    CHECK(sh_zsend(w, NULL, SH_TAG_WORKER, SH_W_HEARTBEAT, &hb) == 0);
    sh_zframes_t m;
    CHECK(recv_cmd(w, &m) == SH_BW_RECONNECT);
    sh_zframes_close(&m);
    zmq_close(w);
    zmq_close(s);
    broker_stop(&f);
    return 0;
}

/* A fake worker that fails every job it gets. */
SH_TEST(broker_fails_job_after_max_attempts)
{
    broker_fixture_t f;
    CHECK(broker_start(&f, "attempts", 1) == 0);
    void *c = dealer(&f), *w = dealer(&f);
    sh_msg_ready_t rd = {.worker = "fake", .threads = 1, .slots = 1, .version = 1};
    CHECK(sh_zsend(w, NULL, SH_TAG_WORKER, SH_W_READY, &rd) == 0);
    sh_msg_synthetic_t syn = {.rid = 9, .count = 1, .salt = 5};
    CHECK(sh_zsend(c, NULL, SH_TAG_CLIENT, SH_C_SYNTHETIC, &syn) == 0);
    sh_zframes_t m;
    CHECK(recv_cmd(c, &m) == SH_B_REPLY);
    sh_zframes_close(&m);
    int failures = 0;
    for (int i = 0; i < 100 && failures < 2; i++) {
        int cmd = recv_cmd(w, &m);
        CHECK(cmd >= 0);
        if (cmd == SH_BW_JOB) {
            sh_msg_job_t job;
            CHECK(sh_wire_decode(cmd, zmq_msg_data(&m.body), zmq_msg_size(&m.body), &job, NULL) ==
                  SH_OK);
            sh_msg_failed_t fl = {.lease = job.lease, .error = "boom"};
            memcpy(fl.job, job.job, 65);
            CHECK(sh_zsend(w, NULL, SH_TAG_WORKER, SH_W_FAILED, &fl) == 0);
            sh_wire_free(cmd, &job);
            failures++;
        } else {
            sh_msg_empty_t hb;
            sh_zsend(w, NULL, SH_TAG_WORKER, SH_W_HEARTBEAT, &hb);
        }
        sh_zframes_close(&m);
    }
    CHECK(failures == 2);
    /* Failed for good: the sweep is settled with one failed job. */
    sh_msg_sweep_req_t st = {.rid = 10, .sweep = 1};
    int failed = 0;
    for (int i = 0; i < 50 && !failed; i++) {
        CHECK(sh_zsend(c, NULL, SH_TAG_CLIENT, SH_C_RESULTS, &st) == 0);
        int cmd;
        while ((cmd = recv_cmd(c, &m)) >= 0 && cmd != SH_B_REPLY)
            sh_zframes_close(&m);
        CHECK(cmd == SH_B_REPLY);
        sh_msg_reply_t r;
        CHECK(sh_wire_decode(cmd, zmq_msg_data(&m.body), zmq_msg_size(&m.body), &r, NULL) == SH_OK);
        failed = memmem(r.data.p, r.data.len, "failed", 6) && memmem(r.data.p, r.data.len, "boom", 4);
        sh_zframes_close(&m);
        usleep(20000);
    }
    CHECK(failed);
    zmq_close(c);
    zmq_close(w);
    broker_stop(&f);
    return 0;
}
