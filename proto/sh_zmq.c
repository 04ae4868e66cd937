/* sh_zmq.c - framing on top of libzmq's multipart messages. */
#include "sh_zmq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void sh_zsock_limits(void *sock, int router)
{
    int64_t max = SH_WIRE_MAX_MSG + 4096;
    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max, sizeof max);
    int linger = 200;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (router) {
        int one = 1;
        zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    }
}

static void drain(void *sock)
{
    int more = 1;
    size_t sz = sizeof more;
    while (more) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, sock, 0) < 0) {
            zmq_msg_close(&f);
            return;
        }
        more = zmq_msg_more(&f);
        zmq_msg_close(&f);
        (void)sz;
    }
}

void sh_zframes_close(sh_zframes_t *m)
{
    if (m->has_identity)
        zmq_msg_close(&m->identity);
    if (m->has_body)
        zmq_msg_close(&m->body);
    m->has_identity = m->has_body = 0;
}

int sh_zrecv(void *sock, int router, int flags, sh_zframes_t *m, const char **why)
{
    memset(m, 0, sizeof *m);
    *why = NULL;
    zmq_msg_t f;
    if (router) {
        zmq_msg_init(&m->identity);
        if (zmq_msg_recv(&m->identity, sock, flags) < 0) {
            zmq_msg_close(&m->identity);
            return -1;
        }
        m->has_identity = 1;
        if (!zmq_msg_more(&m->identity)) {
            *why = "empty message";
            return 1;
        }
        flags = 0; /* the rest of a multipart message is already here */
    }
    /* Frame 0: tag. */
    zmq_msg_init(&f);
    if (zmq_msg_recv(&f, sock, flags) < 0) {
        zmq_msg_close(&f);
        sh_zframes_close(m);
        return -1;
    }
    int more = zmq_msg_more(&f);
    if (zmq_msg_size(&f) == SH_TAG_LEN && !memcmp(zmq_msg_data(&f), SH_TAG_CLIENT, SH_TAG_LEN))
        m->side = 'C';
    else if (zmq_msg_size(&f) == SH_TAG_LEN &&
             !memcmp(zmq_msg_data(&f), SH_TAG_WORKER, SH_TAG_LEN))
        m->side = 'W';
    else if (zmq_msg_size(&f) == SH_TAG_LEN && !memcmp(zmq_msg_data(&f), "SHB1", SH_TAG_LEN))
        m->side = 'B';
    zmq_msg_close(&f);
    if (!m->side) {
        if (more)
            drain(sock);
        *why = "unknown protocol tag (expected SHC1 or SHW1)";
        return 1;
    }
    if (!more) {
        *why = "missing command frame";
        return 1;
    }
    /* Frame 1: command byte. */
    zmq_msg_init(&f);
    zmq_msg_recv(&f, sock, 0);
    more = zmq_msg_more(&f);
    if (zmq_msg_size(&f) != 1) {
        zmq_msg_close(&f);
        if (more)
            drain(sock);
        *why = "command frame must be one byte";
        return 1;
    }
    m->cmd = *(unsigned char *)zmq_msg_data(&f);
    zmq_msg_close(&f);
    if (!sh_wire_body_size(m->cmd)) {
        if (more)
            drain(sock);
        *why = "unknown command";
        return 1;
    }
    if (!more) {
        *why = "missing body frame";
        return 1;
    }
    /* Frame 2: body. */
    zmq_msg_init(&m->body);
    zmq_msg_recv(&m->body, sock, 0);
    m->has_body = 1;
    if (zmq_msg_more(&m->body)) {
        drain(sock);
        *why = "too many frames";
        return 1;
    }
    return 0;
}

static int send_frames(void *sock, const void *id, size_t id_len, const char *tag, int cmd,
                       const char *body, size_t len)
{
    /* Never blocks: a DEALER whose connection was refused (a CURVE key not
     * allowed) has no pipe, and a blocking send would hang its caller for
     * good. A message that cannot go now fails with EAGAIN; every sender
     * recovers by timeout or reconnection. Once the first frame is
     * accepted the rest of the message is too. */
    unsigned char c = (unsigned char)cmd;
    const int more = ZMQ_SNDMORE | ZMQ_DONTWAIT;
    if (id && zmq_send(sock, id, id_len, more) < 0)
        return -1;
    if (zmq_send(sock, tag, SH_TAG_LEN, more) < 0 || zmq_send(sock, &c, 1, more) < 0 ||
        zmq_send(sock, body, len, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}

int sh_zsend_to(void *sock, const void *id, size_t id_len, const char *tag, int cmd,
                const void *body)
{
    char *buf;
    size_t len;
    if (sh_wire_encode(cmd, body, &buf, &len, NULL) != SH_OK) {
        errno = EINVAL;
        return -1;
    }
    int rc = send_frames(sock, id, id_len, tag, cmd, buf, len);
    int e = errno;
    free(buf);
    errno = e;
    return rc;
}

int sh_zsend(void *sock, const zmq_msg_t *identity, const char *tag, int cmd, const void *body)
{
    if (!identity)
        return sh_zsend_to(sock, NULL, 0, tag, cmd, body);
    return sh_zsend_to(sock, zmq_msg_data((zmq_msg_t *)identity),
                       zmq_msg_size((zmq_msg_t *)identity), tag, cmd, body);
}
