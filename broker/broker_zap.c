/* broker_zap.c - the ZAP handler (ZeroMQ RFC 27) that admits CURVE peers.
 *
 * It runs in its own thread on inproc://zeromq.zap.01 of the broker's
 * context, bound before the broker's endpoint so that no handshake can
 * happen without it. It fails closed: a request for another domain or
 * mechanism, a malformed request or a key absent from the allow list gets
 * 400. The allow list is read from disk on every request, so a file added
 * or removed takes effect at the next handshake; the User-Id of an admitted
 * peer is its Z85 public key, which the broker checks again, per message and
 * role, against its own copy (broker_check_peer in sh_broker.c). */
#include "broker_internal.h"

#include "sh_curve.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES 8

struct broker_zap {
    void *sock;
    const char *allow_dir;
    FILE *log;
    int log_level;
    volatile int stop;
    pthread_t thread;
};

static void zlog(broker_zap_t *z, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void zlog(broker_zap_t *z, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sh_log_v(z->log, z->log_level, level, "broker", fmt, ap);
    va_end(ap);
}

static int frame_is(const zmq_msg_t *f, const char *s)
{
    return zmq_msg_size((zmq_msg_t *)f) == strlen(s) &&
           memcmp(zmq_msg_data((zmq_msg_t *)f), s, strlen(s)) == 0;
}

static void send_str(void *sock, const char *s, size_t len, int more)
{
    zmq_send(sock, s, len, more ? ZMQ_SNDMORE : 0);
}

/* Decides one request: frames are version, request id, domain, address,
 * identity, mechanism, then the mechanism's credentials. */
static void answer(broker_zap_t *z, zmq_msg_t *f, int n)
{
    const char *code = "400", *text = "bad ZAP request";
    char user[SH_Z85_KEY + 1] = "";
    char addr[64] = "?";
    if (n >= 4)
        snprintf(addr, sizeof addr, "%.*s", (int)SH_MIN(zmq_msg_size(&f[3]), 63),
                 (const char *)zmq_msg_data(&f[3]));
    if (n < 6 || !frame_is(&f[0], "1.0")) {
        text = "bad ZAP request";
    } else if (!frame_is(&f[2], SH_ZAP_DOMAIN)) {
        text = "wrong ZAP domain";
    } else if (!frame_is(&f[5], "CURVE") || n != 7 || zmq_msg_size(&f[6]) != 32) {
        text = "CURVE required";
    } else {
        char key[SH_Z85_KEY + 1];
        sh_allow_t allow;
        sh_err_t err;
        zmq_z85_encode(key, zmq_msg_data(&f[6]), 32);
        if (sh_allow_load(&allow, z->allow_dir, &err) != SH_OK) {
            zlog(z, SH_LOG_ERROR, "allow list unreadable, refusing %s: %s", addr, err.msg);
            text = "allow list unreadable";
        } else {
            if (sh_allow_find(&allow, key)) {
                code = "200";
                text = "OK";
                memcpy(user, key, sizeof user);
            } else {
                text = "key not allowed";
                zlog(z, SH_LOG_WARN, "refused CURVE key %s from %s: not in the allow list", key,
                     addr);
            }
            sh_allow_free(&allow);
        }
    }
    if (strcmp(code, "200") != 0 && strcmp(text, "key not allowed") != 0)
        zlog(z, SH_LOG_WARN, "refused a connection from %s: %s", addr, text);
    /* version, request id, status code, status text, user id, metadata */
    send_str(z->sock, "1.0", 3, 1);
    if (n >= 2)
        zmq_send(z->sock, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
    else
        send_str(z->sock, "", 0, 1);
    send_str(z->sock, code, 3, 1);
    send_str(z->sock, text, strlen(text), 1);
    send_str(z->sock, user, strlen(user), 1);
    send_str(z->sock, "", 0, 0);
}

static void *zap_main(void *arg)
{
    broker_zap_t *z = arg;
    while (!z->stop) {
        zmq_pollitem_t item = {.socket = z->sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, 200) <= 0)
            continue;
        zmq_msg_t f[ZAP_FRAMES];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t scratch, *part = n < ZAP_FRAMES ? &f[n] : &scratch;
            zmq_msg_init(part);
            if (zmq_msg_recv(part, z->sock, 0) < 0) {
                zmq_msg_close(part);
                break;
            }
            more = zmq_msg_more(part);
            if (part == &scratch)
                zmq_msg_close(part);
            else
                n++;
        }
        answer(z, f, more ? 0 : n);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
    return NULL;
}

sh_status_t broker_zap_start(broker_zap_t **out, void *zctx, const char *allow_dir, FILE *log,
                             int log_level, sh_err_t *err)
{
    *out = NULL;
    sh_allow_t allow;
    sh_status_t st = sh_allow_load(&allow, allow_dir, err);
    if (st != SH_OK)
        return st;
    sh_allow_free(&allow);
    broker_zap_t *z = sh_xcalloc(1, sizeof *z);
    z->allow_dir = allow_dir;
    z->log = log;
    z->log_level = log_level;
    z->sock = zmq_socket(zctx, ZMQ_REP);
    int linger = 0;
    zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(z->sock, ZAP_ENDPOINT) != 0) {
        st = sh_fail(err, SH_EIO, "cannot start the ZAP handler: %s", zmq_strerror(errno));
        zmq_close(z->sock);
        free(z);
        return st;
    }
    if (pthread_create(&z->thread, NULL, zap_main, z) != 0) {
        zmq_close(z->sock);
        free(z);
        return sh_fail(err, SH_EIO, "cannot start the ZAP thread");
    }
    *out = z;
    return SH_OK;
}

void broker_zap_stop(broker_zap_t **zp)
{
    broker_zap_t *z = *zp;
    if (!z)
        return;
    z->stop = 1;
    pthread_join(z->thread, NULL);
    zmq_close(z->sock);
    free(z);
    *zp = NULL;
}
