/* sh_common.h - status codes, error messages and checked allocation shared by
 * every shears library.
 *
 * Conventions: functions that can fail because of something outside the
 * program (a file, a flag, a wire message) return sh_status_t and, when given
 * a non-NULL sh_err_t, describe what was wrong in err->msg. Programmer errors
 * (violated preconditions) trip SH_ASSERT, which prints file and line. */
#ifndef SH_COMMON_H
#define SH_COMMON_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SH_OK = 0,
    SH_EARG,      /* bad argument or bad user input (flag, spec value) */
    SH_ENOMEM,    /* allocation failed */
    SH_EIO,       /* operating-system level I/O error */
    SH_EFORMAT,   /* malformed or unsupported file/message contents */
    SH_ECANCELED, /* stopped on request */
    SH_ENOTFOUND, /* named thing does not exist */
    SH_ENUMERIC,  /* training diverged (non-finite loss) */
} sh_status_t;

typedef struct {
    char msg[512];
} sh_err_t;

/* Formats a message into err (if err is not NULL) and returns status, so a
 * failing path reads `return sh_fail(err, SH_EFORMAT, "...", ...)`. */
sh_status_t sh_fail(sh_err_t *err, sh_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes err->msg with "prefix: " (used to add a file name or key path). */
void sh_err_prefix(sh_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const char *sh_status_str(sh_status_t s);

/* Allocation that reports file and line and aborts: for sizes the program
 * chose itself. Sizes derived from untrusted input must be bounded first and
 * allocated with plain malloc and a status return. */
void *sh_malloc_check(size_t n, const char *file, int line);
void *sh_calloc_check(size_t n, size_t size, const char *file, int line);
#define sh_xmalloc(n) sh_malloc_check((n), __FILE__, __LINE__)
#define sh_xcalloc(n, s) sh_calloc_check((n), (s), __FILE__, __LINE__)

/* Allocation aligned to 64 bytes (cache line / AVX-512), freed with free(). */
void *sh_aligned_alloc_check(size_t n, const char *file, int line);
#define sh_xaligned(n) sh_aligned_alloc_check((n), __FILE__, __LINE__)

void sh_assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));
#define SH_ASSERT(cond) \
    ((cond) ? (void)0 : sh_assert_fail(#cond, __FILE__, __LINE__))

/* Monotonic wall clock in seconds. */
double sh_now(void);

#define SH_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SH_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
