/* fuzz_wire.c - libFuzzer target for the wire codec (proto/sh_wire.h).
 *
 * The first byte is the command (frame 1), the rest its msgpack body (frame
 * 2), so one corpus covers every message type. A body must decode or fail
 * with SH_EFORMAT and a message, freeing what it allocated (LeakSanitizer
 * checks). A decoded body must encode, and decoding and encoding that again
 * must give the same bytes: the codec is one table read both ways. */
#include "sh_wire.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int cmd = data[0];
    alignas(max_align_t) char body[BODY_MAX], again[BODY_MAX];
    size_t body_size = sh_wire_body_size(cmd);
    if (body_size > BODY_MAX)
        abort();
    sh_err_t err = {{0}};
    sh_status_t st = sh_wire_decode(cmd, data + 1, size - 1, body, &err);
    if (st != SH_OK) {
        if (st != SH_EFORMAT || !err.msg[0]) {
            fprintf(stderr, "decode failed with status %d: %s\n", (int)st, err.msg);
            abort();
        }
        return 0;
    }
    if (body_size == 0)
        abort(); /* an unknown command decoded */
    char *enc, *enc2;
    size_t len, len2;
    if (sh_wire_encode(cmd, body, &enc, &len, &err) != SH_OK) {
        fprintf(stderr, "%s: decoded body does not encode: %s\n", sh_cmd_name(cmd), err.msg);
        abort();
    }
    if (sh_wire_decode(cmd, enc, len, again, &err) != SH_OK) {
        fprintf(stderr, "%s: encoded body does not decode: %s\n", sh_cmd_name(cmd), err.msg);
        abort();
    }
    if (sh_wire_encode(cmd, again, &enc2, &len2, &err) != SH_OK || len != len2 ||
        memcmp(enc, enc2, len) != 0) {
        fprintf(stderr, "%s: body changes on a second round trip\n", sh_cmd_name(cmd));
        abort();
    }
    sh_wire_free(cmd, again);
    sh_wire_free(cmd, body);
    free(enc);
    free(enc2);
    return 0;
}
