/* sh_common.c - status strings, error formatting, checked allocation. */
#include "sh_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

sh_status_t sh_fail(sh_err_t *err, sh_status_t status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

void sh_err_prefix(sh_err_t *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char tmp[sizeof err->msg];
    size_t plen = strlen(prefix);
    if (plen > sizeof tmp - 3)
        plen = sizeof tmp - 3;
    memcpy(tmp, prefix, plen);
    memcpy(tmp + plen, ": ", 2);
    size_t rest = sizeof tmp - plen - 3;
    size_t mlen = strnlen(err->msg, rest);
    memcpy(tmp + plen + 2, err->msg, mlen);
    tmp[plen + 2 + mlen] = '\0';
    memcpy(err->msg, tmp, sizeof tmp);
}

const char *sh_status_str(sh_status_t s)
{
    switch (s) {
    case SH_OK: return "ok";
    case SH_EARG: return "invalid argument";
    case SH_ENOMEM: return "out of memory";
    case SH_EIO: return "I/O error";
    case SH_EFORMAT: return "bad format";
    case SH_ECANCELED: return "canceled";
    case SH_ENOTFOUND: return "not found";
    case SH_ENUMERIC: return "numerical failure";
    }
    return "unknown status";
}

void *sh_malloc_check(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "shears: out of memory allocating %zu bytes at %s:%d\n",
                n, file, line);
        abort();
    }
    return p;
}

void *sh_calloc_check(size_t n, size_t size, const char *file, int line)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "shears: out of memory allocating %zu x %zu bytes at %s:%d\n",
                n, size, file, line);
        abort();
    }
    return p;
}

void *sh_aligned_alloc_check(size_t n, const char *file, int line)
{
    size_t rounded = (n + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) {
        fprintf(stderr, "shears: out of memory allocating %zu aligned bytes at %s:%d\n",
                n, file, line);
        abort();
    }
    return p;
}

void sh_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "shears: assertion failed: %s at %s:%d\n", expr, file, line);
    abort();
}

double sh_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
