/* fuzz_mpack.c - libFuzzer target for the bounded msgpack reader.
 *
 * The input is walked value by value twice: once with sh_mpr_skip and once
 * with the typed readers chosen by sh_mpr_peek (containers opened with
 * sh_mpr_map/sh_mpr_array and walked to the same depth limit). The two walks
 * must agree on where each value ends and on whether it is valid, every
 * returned pointer must lie inside the input, and ASan checks that no read
 * goes past its end (libFuzzer passes an exactly sized heap copy). */
#include "sh_mpack.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t *g_begin, *g_end;

static void check_span(const void *p, size_t n)
{
    const uint8_t *b = p;
    if (b < g_begin || b > g_end || n > (size_t)(g_end - b)) {
        fprintf(stderr, "reader returned bytes outside the input\n");
        abort();
    }
}

static void check_reader(const sh_mpr_t *r)
{
    if (r->p < g_begin || r->p > g_end || r->end != g_end)
        abort();
    if (r->failed && !r->what[0])
        abort();
}

/* Reads one value with the typed accessors; mirrors skip_depth's limit. */
static int walk_typed(sh_mpr_t *r, int depth)
{
    if (depth > SH_MPR_MAX_DEPTH)
        return sh_mpr_fail(r, "too deep");
    uint32_t n;
    int rc = -1;
    switch (sh_mpr_peek(r)) {
    case SH_MP_NIL:
        rc = sh_mpr_nil(r);
        break;
    case SH_MP_BOOL: {
        int v;
        rc = sh_mpr_bool(r, &v);
        if (rc == 0 && v != 0 && v != 1)
            abort();
        break;
    }
    case SH_MP_INT: {
        /* Signed first; values above INT64_MAX only fit the unsigned read. */
        sh_mpr_t trial = *r, as_double = *r;
        int64_t i;
        uint64_t u;
        double d;
        int signed_ok = sh_mpr_int(&trial, &i) == 0;
        int double_ok = sh_mpr_double(&as_double, &d) == 0;
        /* A double read takes exactly the integers a signed read takes. */
        if (signed_ok != double_ok || (signed_ok && (d != (double)i || as_double.p != trial.p)))
            abort();
        if (signed_ok) {
            *r = trial;
            rc = 0;
        } else {
            rc = sh_mpr_uint(r, &u);
        }
        break;
    }
    case SH_MP_FLOAT: {
        double d;
        rc = sh_mpr_double(r, &d);
        break;
    }
    case SH_MP_STR: {
        const char *s;
        uint32_t len;
        char small[16];
        sh_mpr_t copy = *r;
        rc = sh_mpr_str(r, &s, &len);
        if (rc == 0) {
            check_span(s, len);
            if (sh_mpr_str_copy(&copy, small, sizeof small) == 0 &&
                (strlen(small) != len || memcmp(small, s, len) != 0 || copy.p != r->p))
                abort();
            (void)sh_mpr_key_is(s, len, "magic");
        }
        break;
    }
    case SH_MP_BIN: {
        const uint8_t *p;
        uint32_t len;
        rc = sh_mpr_bin(r, &p, &len);
        if (rc == 0)
            check_span(p, len);
        break;
    }
    case SH_MP_ARRAY:
        if ((rc = sh_mpr_array(r, &n)) != 0)
            break;
        if (n > sh_mpr_remaining(r))
            abort();
        for (uint32_t i = 0; i < n && rc == 0; i++)
            rc = walk_typed(r, depth + 1);
        break;
    case SH_MP_MAP:
        if ((rc = sh_mpr_map(r, &n)) != 0)
            break;
        if ((uint64_t)n * 2 > sh_mpr_remaining(r))
            abort();
        for (uint32_t i = 0; i < 2 * n && rc == 0; i++)
            rc = walk_typed(r, depth + 1);
        break;
    case SH_MP_EXT:
        rc = sh_mpr_skip(r);
        break;
    case SH_MP_INVALID:
        rc = sh_mpr_fail(r, "invalid");
        break;
    }
    check_reader(r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_begin = data;
    g_end = data + size;
    sh_mpr_t skip, typed;
    sh_mpr_init(&skip, data, size);
    sh_mpr_init(&typed, data, size);
    while (sh_mpr_remaining(&skip) > 0) {
        int a = sh_mpr_skip(&skip);
        int b = walk_typed(&typed, 0);
        check_reader(&skip);
        if (a != b || (a == 0 && skip.p != typed.p)) {
            fprintf(stderr, "skip (%d, offset %td) and typed walk (%d, offset %td) disagree\n",
                    a, skip.p - data, b, typed.p - data);
            abort();
        }
        if (a != 0)
            break;
    }
    /* Sticky errors: after a failure every call fails and moves nothing. */
    if (skip.failed) {
        const uint8_t *p = skip.p;
        uint32_t n;
        int64_t i;
        if (sh_mpr_skip(&skip) == 0 || sh_mpr_map(&skip, &n) == 0 ||
            sh_mpr_int(&skip, &i) == 0 || skip.p != p || sh_mpr_peek(&skip) != SH_MP_INVALID)
            abort();
    }
    return 0;
}
