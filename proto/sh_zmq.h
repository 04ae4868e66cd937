/* sh_zmq.h - sending and receiving shears messages on ZeroMQ sockets.
 *
 * Every socket gets ZMQ_MAXMSGSIZE (oversized frames are dropped by libzmq
 * before they reach us), a short linger, and ROUTER sockets get
 * ZMQ_ROUTER_MANDATORY so a reply to a vanished peer is an error, not a
 * silent drop. */
#ifndef SH_ZMQ_H
#define SH_ZMQ_H

#include "sh_wire.h"

#include <zmq.h>

/* Applies the limits above; router selects ROUTER_MANDATORY. */
void sh_zsock_limits(void *sock, int router);

/* A received message: optional identity, tag, command, body. */
typedef struct {
    zmq_msg_t identity;
    int has_identity;
    char side;            /* 'C' or 'W' from the tag, 0 if unknown */
    int cmd;
    zmq_msg_t body;
    int has_body;
} sh_zframes_t;

/* Receives one whole message (all frames). With `router`, the first frame
 * is the peer identity. Returns 0 with *m filled (release with
 * sh_zframes_close), 1 if a message arrived but is malformed at the framing
 * level (wrong frame count, unknown tag, unknown command; *why says which,
 * and the identity is kept so an error can be sent back), -1 on a socket
 * error (errno set; EAGAIN with ZMQ_DONTWAIT). */
int sh_zrecv(void *sock, int router, int flags, sh_zframes_t *m, const char **why);
void sh_zframes_close(sh_zframes_t *m);

/* Encodes body for cmd and sends [identity] tag cmd body. tag is
 * SH_TAG_CLIENT or SH_TAG_WORKER (the sender's side; the broker answers
 * with the tag it received). Returns 0, or -1 (errno set, e.g. EHOSTUNREACH
 * for a vanished peer on a ROUTER). */
int sh_zsend(void *sock, const zmq_msg_t *identity, const char *tag, int cmd,
             const void *body);

/* Same with a ready-made identity buffer. */
int sh_zsend_to(void *sock, const void *id, size_t id_len, const char *tag, int cmd,
                const void *body);

#endif
