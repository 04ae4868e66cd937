/* sh_wire.h - the shears wire protocol: commands, their msgpack bodies, and
 * a bounded, table-driven codec. proto/PROTOCOL.md is the specification; this
 * header is its C rendering.
 *
 * A message as a DEALER sends it is three frames:
 *   frame 0  protocol tag, 4 bytes: "SHC1" (client) or "SHW1" (worker)
 *   frame 1  command, 1 byte
 *   frame 2  body, a msgpack map
 * (The broker's ROUTER sees the peer identity as an extra first frame.)
 *
 * Each command's body is described by a field table (key, type, limits,
 * required). The same table drives encoding and decoding, so they cannot
 * drift apart. Decoding reads through sh_mpr (bounded), checks every type,
 * refuses unknown keys and over-long values, and copies strings into memory
 * it owns; binaries point into the frame (valid while the frame is). */
#ifndef SH_WIRE_H
#define SH_WIRE_H

#include "sh_common.h"

#include <stddef.h>
#include <stdint.h>

#define SH_TAG_CLIENT "SHC1"
#define SH_TAG_WORKER "SHW1"
#define SH_TAG_LEN 4

#define SH_WIRE_MAX_MSG (8u << 20)     /* ZMQ_MAXMSGSIZE on every socket */
#define SH_WIRE_CHUNK (1u << 20)       /* artifact transfer chunk */
#define SH_WIRE_MAX_TEXT (1u << 20)    /* sweep text, job spec */
#define SH_WIRE_MAX_LIST 64            /* --set overrides, artifacts */

/* Commands. Client -> broker 0x01..0x0f, broker -> client 0x81..0x8f,
 * worker -> broker 0x11..0x1f, broker -> worker 0x91..0x9f. */
typedef enum {
    SH_C_SUBMIT = 0x01,
    SH_C_STATUS = 0x02,
    SH_C_WATCH = 0x03,
    SH_C_RESULTS = 0x04,
    SH_C_FETCH = 0x05,
    SH_C_CANCEL = 0x06,
    SH_C_WORKERS = 0x07,
    SH_C_SYNTHETIC = 0x08,
    SH_B_REPLY = 0x81,
    SH_B_PARTIAL = 0x82,
    SH_B_ERROR = 0x83,
    SH_W_READY = 0x11,
    SH_W_HEARTBEAT = 0x12,
    SH_W_PROGRESS = 0x13,
    SH_W_DONE = 0x14,
    SH_W_FAILED = 0x15,
    SH_W_GET = 0x16,
    SH_W_PUT = 0x17,
    SH_W_DISCONNECT = 0x18,
    SH_BW_JOB = 0x91,
    SH_BW_HEARTBEAT = 0x92,
    SH_BW_CANCEL = 0x93,
    SH_BW_CHUNK = 0x94,
    SH_BW_ACK = 0x95,
    SH_BW_ERROR = 0x96,
    SH_BW_RECONNECT = 0x97,
} sh_cmd_t;

const char *sh_cmd_name(int cmd);

/* ---- field values shared by several messages ------------------------------- */

typedef struct {
    char name[64];
    char sha256[65];
    uint64_t size;
} sh_wire_artifact_t;

typedef struct {
    const uint8_t *p;  /* into the frame; not owned */
    uint32_t len;
} sh_wire_bin_t;

/* A value of any msgpack type kept as raw bytes (e.g. a reply payload). */
typedef struct {
    const uint8_t *p;
    uint32_t len;
} sh_wire_raw_t;

/* ---- message bodies ----------------------------------------------------------
 * Owned strings are char * (malloc'd by the decoder, freed by sh_wire_free);
 * fixed-size char arrays hold short names and ids. */

typedef struct {
    uint64_t rid;
    char *sweep;          /* sweep file text (YAML or JSON) */
    char *name;           /* file name for error messages */
    char **sets;          /* --set overrides */
    uint32_t n_sets;
    int64_t priority;
} sh_msg_submit_t;

typedef struct {
    uint64_t rid;
    uint64_t sweep;       /* 0: all sweeps (STATUS only) */
} sh_msg_sweep_req_t;     /* STATUS, WATCH, RESULTS, CANCEL */

typedef struct {
    uint64_t rid;
} sh_msg_rid_t;           /* WORKERS */

typedef struct {
    uint64_t rid;
    int complete;         /* the artifact is already stored: send no more */
} sh_msg_ack_t;           /* ACK (to a worker's PUT) */

typedef struct {
    uint64_t rid;
    char sha256[65];
    uint64_t offset;
    uint64_t length;
} sh_msg_fetch_t;         /* FETCH (client), GET (worker) */

typedef struct {
    uint64_t rid;
    uint64_t count;       /* jobs */
    uint64_t sleep_ms;    /* each job sleeps this long */
    uint64_t fail_every;  /* every n-th job fails on purpose (0: none) */
    int64_t priority;
    uint64_t salt;        /* makes the jobs distinct from earlier ones */
    uint64_t payload;     /* bytes of output artifact per job (0: none) */
} sh_msg_synthetic_t;

typedef struct {
    uint64_t rid;
    sh_wire_raw_t data;   /* command-specific payload (msgpack value) */
} sh_msg_reply_t;         /* REPLY, PARTIAL */

typedef struct {
    uint64_t rid;
    char code[32];
    char *message;
} sh_msg_error_t;         /* ERROR (to clients and workers) */

typedef struct {
    char worker[128];     /* worker name, unique per process */
    uint64_t threads;
    uint64_t slots;
    uint64_t busy;        /* jobs still running from before a reconnect */
    uint64_t version;
} sh_msg_ready_t;

typedef struct {
    uint64_t lease;
    char phase[16];
    uint64_t epoch, epochs, batch, batches;
    double loss;
} sh_msg_progress_t;

typedef struct {
    uint64_t lease;
    char job[65];
    char *result;         /* result JSON */
    sh_wire_artifact_t *artifacts;
    uint32_t n_artifacts;
} sh_msg_done_t;

typedef struct {
    uint64_t lease;
    char job[65];
    char *error;
    int handback;         /* returned unrun (draining): no attempt is charged */
} sh_msg_failed_t;

typedef struct {
    uint64_t rid;
    char sha256[65];
    uint64_t offset;
    uint64_t size;        /* total size of the artifact */
    sh_wire_bin_t data;
    int last;
} sh_msg_put_t;

typedef struct {
    uint64_t lease;
    char job[65];
    char *spec;           /* canonical job spec JSON */
    sh_wire_artifact_t *inputs;  /* named "parent", "source" */
    uint32_t n_inputs;
    char data_name[32];
    char *data_path;
    char *data_url;
    char data_sha256[65];
} sh_msg_job_t;

typedef struct {
    uint64_t lease;
} sh_msg_lease_t;         /* CANCEL (to worker) */

typedef struct {
    uint64_t rid;
    char sha256[65];
    uint64_t offset;
    uint64_t size;        /* total size of the artifact */
    sh_wire_bin_t data;
    int eof;
} sh_msg_chunk_t;

typedef struct {
    char unused;
} sh_msg_empty_t;         /* HEARTBEAT, DISCONNECT, RECONNECT, ACK uses rid */

/* Encodes body for cmd into a malloc'd msgpack buffer. */
sh_status_t sh_wire_encode(int cmd, const void *body, char **out, size_t *len,
                           sh_err_t *err);

/* Decodes a body for cmd from untrusted bytes into *body (the struct type
 * for cmd, zeroed first). Returns SH_EFORMAT with a message naming the key
 * on any problem, having freed whatever it allocated. */
sh_status_t sh_wire_decode(int cmd, const void *data, size_t len, void *body,
                           sh_err_t *err);

/* Frees what sh_wire_decode allocated in body (not body itself). */
void sh_wire_free(int cmd, void *body);

/* Size of the body struct for cmd, or 0 for an unknown command. */
size_t sh_wire_body_size(int cmd);

/* Whether cmd may be sent by the given side: 'C' client, 'W' worker. */
int sh_wire_cmd_from(int cmd, char side);

#endif
