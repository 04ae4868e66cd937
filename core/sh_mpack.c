/* sh_mpack.c - bounded msgpack cursor (see sh_mpack.h). Format reference:
 * the msgpack specification's type table (fixint, fixmap, fixarray, fixstr,
 * nil, bool, bin/str/array/map/ext 8/16/32, float 32/64, int/uint 8..64). */
#include "sh_mpack.h"

#include <stdio.h>
#include <string.h>

void sh_mpr_init(sh_mpr_t *r, const void *data, size_t len)
{
    r->p = data;
    r->end = r->p + len;
    r->failed = 0;
    r->what[0] = '\0';
}

size_t sh_mpr_remaining(const sh_mpr_t *r) { return (size_t)(r->end - r->p); }

int sh_mpr_fail(sh_mpr_t *r, const char *what)
{
    if (!r->failed) {
        r->failed = 1;
        snprintf(r->what, sizeof r->what, "%s", what);
    }
    return -1;
}

static int need(sh_mpr_t *r, size_t n)
{
    if (r->failed)
        return -1;
    if (sh_mpr_remaining(r) < n)
        return sh_mpr_fail(r, "truncated msgpack data");
    return 0;
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

sh_mp_type_t sh_mpr_peek(const sh_mpr_t *r)
{
    if (r->failed || r->p >= r->end)
        return SH_MP_INVALID;
    uint8_t b = *r->p;
    if (b <= 0x7f || b >= 0xe0) return SH_MP_INT;
    if (b <= 0x8f) return SH_MP_MAP;
    if (b <= 0x9f) return SH_MP_ARRAY;
    if (b <= 0xbf) return SH_MP_STR;
    switch (b) {
    case 0xc0: return SH_MP_NIL;
    case 0xc2: case 0xc3: return SH_MP_BOOL;
    case 0xc4: case 0xc5: case 0xc6: return SH_MP_BIN;
    case 0xc7: case 0xc8: case 0xc9: case 0xd4: case 0xd5: case 0xd6: case 0xd7:
    case 0xd8: return SH_MP_EXT;
    case 0xca: case 0xcb: return SH_MP_FLOAT;
    case 0xcc: case 0xcd: case 0xce: case 0xcf: case 0xd0: case 0xd1: case 0xd2:
    case 0xd3: return SH_MP_INT;
    case 0xd9: case 0xda: case 0xdb: return SH_MP_STR;
    case 0xdc: case 0xdd: return SH_MP_ARRAY;
    case 0xde: case 0xdf: return SH_MP_MAP;
    }
    return SH_MP_INVALID; /* 0xc1 is never used */
}

/* Reads a length-prefixed header: fixed form (mask/limit) or 8/16/32-bit. */
static int read_len(sh_mpr_t *r, uint32_t *n, uint8_t fix_lo, uint8_t fix_hi,
                    int16_t op8, int16_t op16, int16_t op32, const char *type)
{
    if (need(r, 1))
        return -1;
    uint8_t b = *r->p;
    int width;
    if (b >= fix_lo && b <= fix_hi) {
        *n = b - fix_lo;
        r->p++;
        return 0;
    } else if (op8 >= 0 && b == op8) {
        width = 1;
    } else if (b == op16) {
        width = 2;
    } else if (b == op32) {
        width = 4;
    } else {
        char msg[64];
        snprintf(msg, sizeof msg, "expected %s", type);
        return sh_mpr_fail(r, msg);
    }
    if (need(r, 1 + (size_t)width))
        return -1;
    *n = (uint32_t)be(r->p + 1, width);
    r->p += 1 + width;
    return 0;
}

int sh_mpr_map(sh_mpr_t *r, uint32_t *n)
{
    if (read_len(r, n, 0x80, 0x8f, -1, 0xde, 0xdf, "a map"))
        return -1;
    /* A key and a value per entry, at least one byte each. */
    if ((uint64_t)*n * 2 > sh_mpr_remaining(r))
        return sh_mpr_fail(r, "map declares more entries than bytes remain");
    return 0;
}

int sh_mpr_array(sh_mpr_t *r, uint32_t *n)
{
    if (read_len(r, n, 0x90, 0x9f, -1, 0xdc, 0xdd, "an array"))
        return -1;
    if ((uint64_t)*n > sh_mpr_remaining(r))
        return sh_mpr_fail(r, "array declares more items than bytes remain");
    return 0;
}

int sh_mpr_str(sh_mpr_t *r, const char **s, uint32_t *len)
{
    if (read_len(r, len, 0xa0, 0xbf, 0xd9, 0xda, 0xdb, "a string"))
        return -1;
    if (need(r, *len))
        return -1;
    *s = (const char *)r->p;
    r->p += *len;
    return 0;
}

int sh_mpr_str_copy(sh_mpr_t *r, char *buf, size_t cap)
{
    const char *s;
    uint32_t len;
    if (sh_mpr_str(r, &s, &len))
        return -1;
    if (len >= cap)
        return sh_mpr_fail(r, "string too long");
    if (memchr(s, '\0', len))
        return sh_mpr_fail(r, "string contains a NUL byte");
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 0;
}

int sh_mpr_bin(sh_mpr_t *r, const uint8_t **p, uint32_t *len)
{
    /* No fixed form for bin: use an impossible fixed range. */
    if (need(r, 1))
        return -1;
    uint8_t b = *r->p;
    if (b != 0xc4 && b != 0xc5 && b != 0xc6)
        return sh_mpr_fail(r, "expected binary data");
    if (read_len(r, len, 0xff, 0xfe, 0xc4, 0xc5, 0xc6, "binary data"))
        return -1;
    if (need(r, *len))
        return -1;
    *p = r->p;
    r->p += *len;
    return 0;
}

int sh_mpr_bool(sh_mpr_t *r, int *v)
{
    if (need(r, 1))
        return -1;
    if (*r->p != 0xc2 && *r->p != 0xc3)
        return sh_mpr_fail(r, "expected a boolean");
    *v = *r->p == 0xc3;
    r->p++;
    return 0;
}

int sh_mpr_nil(sh_mpr_t *r)
{
    if (need(r, 1))
        return -1;
    if (*r->p != 0xc0)
        return sh_mpr_fail(r, "expected nil");
    r->p++;
    return 0;
}

/* Reads any integer as a sign flag plus magnitude bits. */
static int read_integer(sh_mpr_t *r, int *negative, uint64_t *bits)
{
    if (need(r, 1))
        return -1;
    uint8_t b = *r->p;
    int width = 0, is_signed = 0;
    if (b <= 0x7f) {
        *negative = 0;
        *bits = b;
        r->p++;
        return 0;
    }
    if (b >= 0xe0) {
        *negative = 1;
        *bits = (uint64_t)(int64_t)(int8_t)b;
        r->p++;
        return 0;
    }
    switch (b) {
    case 0xcc: width = 1; break;
    case 0xcd: width = 2; break;
    case 0xce: width = 4; break;
    case 0xcf: width = 8; break;
    case 0xd0: width = 1; is_signed = 1; break;
    case 0xd1: width = 2; is_signed = 1; break;
    case 0xd2: width = 4; is_signed = 1; break;
    case 0xd3: width = 8; is_signed = 1; break;
    default: return sh_mpr_fail(r, "expected an integer");
    }
    if (need(r, 1 + (size_t)width))
        return -1;
    uint64_t v = be(r->p + 1, width);
    r->p += 1 + width;
    if (is_signed) {
        int shift = 64 - 8 * width;
        int64_t sv = shift ? (int64_t)(v << shift) >> shift : (int64_t)v;
        *negative = sv < 0;
        *bits = (uint64_t)sv;
    } else {
        *negative = 0;
        *bits = v;
    }
    return 0;
}

int sh_mpr_int(sh_mpr_t *r, int64_t *v)
{
    int neg;
    uint64_t bits;
    if (read_integer(r, &neg, &bits))
        return -1;
    if (!neg && bits > (uint64_t)INT64_MAX)
        return sh_mpr_fail(r, "integer out of range");
    *v = (int64_t)bits;
    return 0;
}

int sh_mpr_uint(sh_mpr_t *r, uint64_t *v)
{
    int neg;
    uint64_t bits;
    if (read_integer(r, &neg, &bits))
        return -1;
    if (neg)
        return sh_mpr_fail(r, "expected a non-negative integer");
    *v = bits;
    return 0;
}

int sh_mpr_double(sh_mpr_t *r, double *v)
{
    if (need(r, 1))
        return -1;
    uint8_t b = *r->p;
    if (b == 0xca) {
        if (need(r, 5))
            return -1;
        uint32_t u = (uint32_t)be(r->p + 1, 4);
        float f;
        memcpy(&f, &u, 4);
        *v = f;
        r->p += 5;
        return 0;
    }
    if (b == 0xcb) {
        if (need(r, 9))
            return -1;
        uint64_t u = be(r->p + 1, 8);
        memcpy(v, &u, 8);
        r->p += 9;
        return 0;
    }
    int64_t i;
    if (sh_mpr_peek(r) != SH_MP_INT)
        return sh_mpr_fail(r, "expected a number");
    if (sh_mpr_int(r, &i))
        return -1;
    *v = (double)i;
    return 0;
}

static int skip_depth(sh_mpr_t *r, int depth)
{
    if (depth > SH_MPR_MAX_DEPTH)
        return sh_mpr_fail(r, "msgpack nesting too deep");
    uint32_t n;
    const char *s;
    const uint8_t *bp;
    int64_t iv;
    double dv;
    int bv;
    switch (sh_mpr_peek(r)) {
    case SH_MP_NIL: return sh_mpr_nil(r);
    case SH_MP_BOOL: return sh_mpr_bool(r, &bv);
    case SH_MP_INT: {
        int neg;
        uint64_t bits;
        (void)iv;
        return read_integer(r, &neg, &bits);
    }
    case SH_MP_FLOAT: return sh_mpr_double(r, &dv);
    case SH_MP_STR: return sh_mpr_str(r, &s, &n);
    case SH_MP_BIN: return sh_mpr_bin(r, &bp, &n);
    case SH_MP_ARRAY:
        if (sh_mpr_array(r, &n))
            return -1;
        for (uint32_t i = 0; i < n; i++)
            if (skip_depth(r, depth + 1))
                return -1;
        return 0;
    case SH_MP_MAP:
        if (sh_mpr_map(r, &n))
            return -1;
        for (uint32_t i = 0; i < 2 * n; i++)
            if (skip_depth(r, depth + 1))
                return -1;
        return 0;
    case SH_MP_EXT: {
        uint8_t b = *r->p;
        size_t len, hdr;
        if (b >= 0xd4 && b <= 0xd8) {
            len = (size_t)1 << (b - 0xd4);
            hdr = 2;
        } else {
            int width = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4;
            if (need(r, 1 + (size_t)width))
                return -1;
            len = (size_t)be(r->p + 1, width);
            hdr = 2 + (size_t)width;
        }
        if (need(r, hdr) || need(r, hdr + len))
            return -1;
        r->p += hdr + len;
        return 0;
    }
    case SH_MP_INVALID:
        break;
    }
    return sh_mpr_fail(r, r->p >= r->end ? "truncated msgpack data" : "invalid msgpack byte");
}

int sh_mpr_skip(sh_mpr_t *r) { return skip_depth(r, 0); }

int sh_mpr_key_is(const char *s, uint32_t len, const char *lit)
{
    size_t n = strlen(lit);
    return n == len && memcmp(s, lit, n) == 0;
}

void sh_mpw_str(msgpack_packer *pk, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s ? s : "", n);
}

void sh_mpw_bin(msgpack_packer *pk, const void *p, size_t n)
{
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, p, n);
}
