/* sh_mpack.h - a bounded msgpack reader for untrusted bytes, and two
 * writing helpers.
 *
 * Encoding goes through msgpack-c's packer; decoding of files and wire
 * messages goes through this cursor instead, because msgpack-c's unpacker has
 * no allocation limits. The reader never allocates: strings and binaries are
 * returned as pointers into the input (copy them out when the input goes
 * away). Every declared count is checked against the bytes that remain (each
 * element needs at least one), nesting is limited when skipping, and each
 * accessor checks the type it expects.
 *
 * Errors are sticky: after the first failure every call fails, so a decoder
 * can read a whole structure and check r->failed once. */
#ifndef SH_MPACK_H
#define SH_MPACK_H

#include "sh_common.h"

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define SH_MPR_MAX_DEPTH 32

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    int failed;
    char what[160];  /* first error */
} sh_mpr_t;

void sh_mpr_init(sh_mpr_t *r, const void *data, size_t len);
size_t sh_mpr_remaining(const sh_mpr_t *r);

/* Type of the next value without consuming it. */
typedef enum {
    SH_MP_NIL = 1, SH_MP_BOOL, SH_MP_INT, SH_MP_FLOAT, SH_MP_STR, SH_MP_BIN,
    SH_MP_ARRAY, SH_MP_MAP, SH_MP_EXT, SH_MP_INVALID,
} sh_mp_type_t;
sh_mp_type_t sh_mpr_peek(const sh_mpr_t *r);

/* Each returns 0 on success, -1 on failure (type mismatch, truncation,
 * out-of-range value, or an earlier failure). */
int sh_mpr_map(sh_mpr_t *r, uint32_t *n);
int sh_mpr_array(sh_mpr_t *r, uint32_t *n);
int sh_mpr_str(sh_mpr_t *r, const char **s, uint32_t *len);
/* Copies a string into buf (cap bytes incl. NUL); fails if it does not fit
 * or contains a NUL byte. */
int sh_mpr_str_copy(sh_mpr_t *r, char *buf, size_t cap);
int sh_mpr_bin(sh_mpr_t *r, const uint8_t **p, uint32_t *len);
int sh_mpr_bool(sh_mpr_t *r, int *v);
int sh_mpr_nil(sh_mpr_t *r);
/* Integers: any msgpack integer encoding whose value fits. */
int sh_mpr_int(sh_mpr_t *r, int64_t *v);
int sh_mpr_uint(sh_mpr_t *r, uint64_t *v);
/* Numbers: float32, float64 or an integer. */
int sh_mpr_double(sh_mpr_t *r, double *v);
/* Skips one value of any type, nested up to SH_MPR_MAX_DEPTH. */
int sh_mpr_skip(sh_mpr_t *r);

/* Records a failure message (first one wins) and returns -1. */
int sh_mpr_fail(sh_mpr_t *r, const char *what);

/* Matches a map key read with sh_mpr_str against a literal. */
int sh_mpr_key_is(const char *s, uint32_t len, const char *lit);

/* Packs a string (NULL as ""), or n bytes as a bin. */
void sh_mpw_str(msgpack_packer *pk, const char *s);
void sh_mpw_bin(msgpack_packer *pk, const void *p, size_t n);

#endif
