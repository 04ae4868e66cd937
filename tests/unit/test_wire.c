/* test_wire.c - every message type round-trips through the codec; malformed
 * bodies (truncated, wrong types, huge declared lengths, deep nesting,
 * unknown keys and commands) are refused with a message and no leak. */
#include "sh_test.h"

#include "sh_mpack.h"
#include "sh_wire.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

static const char *ID_A = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const char *ID_B = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/* Encodes, decodes into `back`, re-encodes and compares bytes. */
static int round_trip(int cmd, const void *body, void *back)
{
    char *a, *b;
    size_t la, lb;
    sh_err_t err;
    CHECK(sh_wire_encode(cmd, body, &a, &la, &err) == SH_OK);
    CHECK_MSG(sh_wire_decode(cmd, a, la, back, &err) == SH_OK, "%s: %s", sh_cmd_name(cmd),
              err.msg);
    CHECK(sh_wire_encode(cmd, back, &b, &lb, &err) == SH_OK);
    CHECK_MSG(la == lb && !memcmp(a, b, la), "%s re-encodes differently", sh_cmd_name(cmd));
    /* Every strict prefix is refused. */
    for (size_t cut = 0; cut < la; cut++) {
        char scratch[4096];
        SH_ASSERT(sh_wire_body_size(cmd) <= sizeof scratch);
        if (sh_wire_decode(cmd, a, cut, scratch, &err) != SH_EFORMAT) {
            fprintf(stderr, "%s: prefix of %zu/%zu bytes accepted\n", sh_cmd_name(cmd), cut, la);
            return 1;
        }
    }
    free(a);
    free(b);
    return 0;
}

SH_TEST(wire_round_trip_every_command)
{
    char *sets[] = {"train.epochs=2", "seeds=[1, 2]"};
    sh_msg_submit_t sub = {.rid = 7, .sweep = "model: lenet5\n", .name = "x.yaml", .sets = sets,
                           .n_sets = 2, .priority = -3}, sub2;
    CHECK(round_trip(SH_C_SUBMIT, &sub, &sub2) == 0);
    CHECK(sub2.rid == 7 && !strcmp(sub2.sweep, sub.sweep) && sub2.n_sets == 2 &&
          !strcmp(sub2.sets[1], "seeds=[1, 2]") && sub2.priority == -3);
    sh_wire_free(SH_C_SUBMIT, &sub2);

    sh_msg_sweep_req_t sr = {.rid = 1, .sweep = 42}, sr2;
    for (int c = SH_C_STATUS; c <= SH_C_CANCEL; c++) {
        if (c == SH_C_FETCH)
            continue;
        CHECK(round_trip(c, &sr, &sr2) == 0 && sr2.sweep == 42);
    }
    sh_msg_rid_t rid = {.rid = 99}, rid2;
    CHECK(round_trip(SH_C_WORKERS, &rid, &rid2) == 0 && rid2.rid == 99);
    sh_msg_ack_t ack = {.rid = 5, .complete = 1}, ack2;
    CHECK(round_trip(SH_BW_ACK, &ack, &ack2) == 0 && ack2.complete == 1);

    sh_msg_fetch_t fe = {.rid = 2, .offset = 1 << 20, .length = 1 << 20}, fe2;
    strcpy(fe.sha256, ID_A);
    CHECK(round_trip(SH_C_FETCH, &fe, &fe2) == 0 && !strcmp(fe2.sha256, ID_A));
    CHECK(round_trip(SH_W_GET, &fe, &fe2) == 0 && fe2.offset == 1 << 20);

    sh_msg_synthetic_t sy = {.rid = 3, .count = 300, .sleep_ms = 50, .fail_every = 7,
                             .priority = 2, .salt = 11}, sy2;
    CHECK(round_trip(SH_C_SYNTHETIC, &sy, &sy2) == 0 && sy2.count == 300 && sy2.salt == 11);

    /* A reply carries any msgpack value as its payload. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str(&pk, 5);
    msgpack_pack_str_body(&pk, "sweep", 5);
    msgpack_pack_uint64(&pk, 12);
    sh_msg_reply_t rep = {.rid = 4, .data = {(const uint8_t *)sb.data, (uint32_t)sb.size}}, rep2;
    CHECK(round_trip(SH_B_REPLY, &rep, &rep2) == 0);
    CHECK(rep2.data.len == sb.size); /* bytes compared by the re-encode */
    CHECK(round_trip(SH_B_PARTIAL, &rep, &rep2) == 0);
    msgpack_sbuffer_destroy(&sb);

    sh_msg_error_t er = {.rid = 5, .code = "bad-sweep", .message = "x.yaml:3: nope"}, er2;
    CHECK(round_trip(SH_B_ERROR, &er, &er2) == 0 && !strcmp(er2.code, "bad-sweep"));
    sh_wire_free(SH_B_ERROR, &er2);
    CHECK(round_trip(SH_BW_ERROR, &er, &er2) == 0);
    sh_wire_free(SH_BW_ERROR, &er2);

    sh_msg_ready_t rd = {.worker = "node-a/123", .threads = 2, .slots = 1, .version = 1}, rd2;
    CHECK(round_trip(SH_W_READY, &rd, &rd2) == 0 && !strcmp(rd2.worker, "node-a/123"));

    sh_msg_empty_t em, em2;
    CHECK(round_trip(SH_W_HEARTBEAT, &em, &em2) == 0);
    CHECK(round_trip(SH_BW_HEARTBEAT, &em, &em2) == 0);
    CHECK(round_trip(SH_W_DISCONNECT, &em, &em2) == 0);
    CHECK(round_trip(SH_BW_RECONNECT, &em, &em2) == 0);

    sh_msg_progress_t pr = {.lease = 9, .phase = "train", .epoch = 3, .epochs = 20, .batch = 100,
                            .batches = 469, .loss = 0.25}, pr2;
    CHECK(round_trip(SH_W_PROGRESS, &pr, &pr2) == 0 && pr2.loss == 0.25);

    sh_wire_artifact_t arts[2] = {{"final.ckpt", "", 1234}, {"epoch-1.ckpt", "", 99}};
    strcpy(arts[0].sha256, ID_A);
    strcpy(arts[1].sha256, ID_B);
    sh_msg_done_t dn = {.lease = 9, .result = "{\"test_accuracy\":0.9}", .artifacts = arts,
                        .n_artifacts = 2}, dn2;
    strcpy(dn.job, ID_B);
    CHECK(round_trip(SH_W_DONE, &dn, &dn2) == 0 && dn2.n_artifacts == 2);
    CHECK(!strcmp(dn2.artifacts[1].name, "epoch-1.ckpt") && dn2.artifacts[0].size == 1234);
    sh_wire_free(SH_W_DONE, &dn2);

    sh_msg_failed_t fa = {.lease = 9, .error = "training diverged"}, fa2;
    strcpy(fa.job, ID_A);
    CHECK(round_trip(SH_W_FAILED, &fa, &fa2) == 0);
    sh_wire_free(SH_W_FAILED, &fa2);

    uint8_t payload[300];
    for (int i = 0; i < 300; i++)
        payload[i] = (uint8_t)i;
    sh_msg_put_t pu = {.rid = 6, .offset = 0, .size = 300, .data = {payload, 300}, .last = 1}, pu2;
    strcpy(pu.sha256, ID_A);
    CHECK(round_trip(SH_W_PUT, &pu, &pu2) == 0 && pu2.last == 1 && pu2.data.len == 300);

    sh_msg_job_t jb = {.lease = 10, .spec = "{\"kind\":\"train\"}", .inputs = arts, .n_inputs = 1,
                       .data_name = "fashion-mnist", .data_path = "/data"}, jb2;
    strcpy(jb.job, ID_A);
    CHECK(round_trip(SH_BW_JOB, &jb, &jb2) == 0 && !strcmp(jb2.data_path, "/data"));
    CHECK(jb2.data_url == NULL && jb2.n_inputs == 1);
    sh_wire_free(SH_BW_JOB, &jb2);

    sh_msg_lease_t le = {.lease = 77}, le2;
    CHECK(round_trip(SH_BW_CANCEL, &le, &le2) == 0 && le2.lease == 77);
    sh_msg_chunk_t ch = {.rid = 8, .offset = 10, .size = 310, .data = {payload, 300}, .eof = 1}, ch2;
    strcpy(ch.sha256, ID_B);
    CHECK(round_trip(SH_BW_CHUNK, &ch, &ch2) == 0 && ch2.eof && ch2.data.len == 300);
    return 0;
}

/* Helpers to hand-craft bodies. */
typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} buf_t;

static void b_init(buf_t *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

static void b_str(buf_t *b, const char *s)
{
    msgpack_pack_str(&b->pk, strlen(s));
    msgpack_pack_str_body(&b->pk, s, strlen(s));
}

static int expect_bad(int cmd, const void *data, size_t len, const char *frag)
{
    char body[4096];
    sh_err_t err = {{0}};
    if (sh_wire_decode(cmd, data, len, body, &err) != SH_EFORMAT) {
        fprintf(stderr, "accepted a bad %s body\n", sh_cmd_name(cmd));
        return 1;
    }
    if (frag && !strstr(err.msg, frag)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, frag);
        return 1;
    }
    return 0;
}

SH_TEST(wire_rejects_malformed)
{
    buf_t b;
    /* Not a map. */
    CHECK(expect_bad(SH_C_STATUS, "\x93\x01\x02\x03", 4, "not a msgpack map") == 0);
    /* Unknown command. */
    CHECK(expect_bad(0x7e, "\x80", 1, "unknown command") == 0);
    /* Unknown key, duplicate key, missing key, wrong type. */
    b_init(&b);
    msgpack_pack_map(&b.pk, 2);
    b_str(&b, "rid"), msgpack_pack_uint64(&b.pk, 1);
    b_str(&b, "sweeep"), msgpack_pack_uint64(&b.pk, 1);
    CHECK(expect_bad(SH_C_STATUS, b.sb.data, b.sb.size, "unknown key 'sweeep'") == 0);
    msgpack_sbuffer_destroy(&b.sb);
    b_init(&b);
    msgpack_pack_map(&b.pk, 2);
    b_str(&b, "rid"), msgpack_pack_uint64(&b.pk, 1);
    b_str(&b, "rid"), msgpack_pack_uint64(&b.pk, 2);
    CHECK(expect_bad(SH_C_STATUS, b.sb.data, b.sb.size, "duplicate key 'rid'") == 0);
    msgpack_sbuffer_destroy(&b.sb);
    b_init(&b);
    msgpack_pack_map(&b.pk, 1);
    b_str(&b, "sweep"), msgpack_pack_uint64(&b.pk, 2);
    CHECK(expect_bad(SH_C_STATUS, b.sb.data, b.sb.size, "missing 'rid'") == 0);
    msgpack_sbuffer_destroy(&b.sb);
    b_init(&b);
    msgpack_pack_map(&b.pk, 1);
    b_str(&b, "rid"), b_str(&b, "seven");
    CHECK(expect_bad(SH_C_STATUS, b.sb.data, b.sb.size, "rid") == 0);
    msgpack_sbuffer_destroy(&b.sb);
    /* Negative where unsigned is required. */
    b_init(&b);
    msgpack_pack_map(&b.pk, 1);
    b_str(&b, "rid"), msgpack_pack_int64(&b.pk, -5);
    CHECK(expect_bad(SH_C_WORKERS, b.sb.data, b.sb.size, NULL) == 0);
    msgpack_sbuffer_destroy(&b.sb);
    /* Huge declared lengths: str32, array32, map32 and bin32 claiming 4 GiB. */
    static const uint8_t huge_str[] = {0x81, 0xa3, 'r', 'i', 'd', 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'};
    CHECK(expect_bad(SH_C_WORKERS, huge_str, sizeof huge_str, NULL) == 0);
    static const uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa3, 'r', 'i', 'd', 0x01};
    CHECK(expect_bad(SH_C_WORKERS, huge_map, sizeof huge_map, NULL) == 0);
    static const uint8_t huge_list[] = {0x82, 0xa3, 'r', 'i', 'd', 0x01, 0xa4, 's', 'e', 't', 's',
                                        0xdd, 0xff, 0xff, 0xff, 0xff, 0xa1, 'a'};
    char body[4096];
    sh_err_t err;
    CHECK(sh_wire_decode(SH_C_SUBMIT, huge_list, sizeof huge_list, body, &err) == SH_EFORMAT);
    static const uint8_t huge_bin[] = {0x81, 0xa4, 'd', 'a', 't', 'a', 0xc6, 0xff, 0xff, 0xff, 0xff};
    CHECK(expect_bad(SH_W_PUT, huge_bin, sizeof huge_bin, NULL) == 0);
    /* Deep nesting inside a raw payload: 100 nested arrays. */
    b_init(&b);
    msgpack_pack_map(&b.pk, 2);
    b_str(&b, "rid"), msgpack_pack_uint64(&b.pk, 1);
    b_str(&b, "data");
    for (int i = 0; i < 100; i++)
        msgpack_pack_array(&b.pk, 1);
    msgpack_pack_nil(&b.pk);
    CHECK(expect_bad(SH_B_REPLY, b.sb.data, b.sb.size, NULL) == 0);
    msgpack_sbuffer_destroy(&b.sb);
    /* Over-long list, bad id, name with control characters, trailing bytes. */
    b_init(&b);
    msgpack_pack_map(&b.pk, 3);
    b_str(&b, "rid"), msgpack_pack_uint64(&b.pk, 1);
    b_str(&b, "sweep"), b_str(&b, "x");
    b_str(&b, "sets");
    msgpack_pack_array(&b.pk, SH_WIRE_MAX_LIST + 1);
    for (int i = 0; i <= SH_WIRE_MAX_LIST; i++)
        b_str(&b, "a=1");
    CHECK(expect_bad(SH_C_SUBMIT, b.sb.data, b.sb.size, "more than 64 items") == 0);
    msgpack_sbuffer_destroy(&b.sb);
    b_init(&b);
    msgpack_pack_map(&b.pk, 4);
    b_str(&b, "rid"), msgpack_pack_uint64(&b.pk, 1);
    b_str(&b, "sha256"), b_str(&b, "ABCDEF");
    b_str(&b, "offset"), msgpack_pack_uint64(&b.pk, 0);
    b_str(&b, "length"), msgpack_pack_uint64(&b.pk, 1);
    CHECK(expect_bad(SH_C_FETCH, b.sb.data, b.sb.size, "64 lowercase hex") == 0);
    msgpack_sbuffer_destroy(&b.sb);
    b_init(&b);
    msgpack_pack_map(&b.pk, 4);
    b_str(&b, "worker"), b_str(&b, "evil\nname");
    b_str(&b, "threads"), msgpack_pack_uint64(&b.pk, 1);
    b_str(&b, "slots"), msgpack_pack_uint64(&b.pk, 1);
    b_str(&b, "version"), msgpack_pack_uint64(&b.pk, 1);
    CHECK(expect_bad(SH_W_READY, b.sb.data, b.sb.size, "printable") == 0);
    msgpack_sbuffer_destroy(&b.sb);
    static const uint8_t trailing[] = {0x81, 0xa3, 'r', 'i', 'd', 0x01, 0xc0};
    CHECK(expect_bad(SH_C_WORKERS, trailing, sizeof trailing, "trailing") == 0);
    /* Garbage of every length never crashes and never succeeds by accident
     * for a body with required fields. */
    uint8_t junk[256];
    for (int i = 0; i < 256; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof junk; n++)
        for (int c = 0; c < 256; c++)
            if (sh_wire_body_size(c) && sh_wire_decode(c, junk, n, body, &err) == SH_OK)
                sh_wire_free(c, body);
    return 0;
}
