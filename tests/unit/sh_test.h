/* sh_test.h - the unit-test harness: SH_TEST(name) { ... return 0; }
 *
 * Tests register themselves at load time; tests/CMakeLists.txt scans the
 * sources for SH_TEST(...) and registers each name with ctest, so
 * `shears-unit NAME` runs one and `shears-unit` runs all. */
#ifndef SH_TEST_H
#define SH_TEST_H

#include <math.h>
#include <stdio.h>

typedef int (*sh_test_fn)(void);
void sh_test_register(const char *name, sh_test_fn fn);

#define SH_TEST(name)                                                       \
    static int test_##name(void);                                           \
    __attribute__((constructor)) static void test_register_##name(void)     \
    {                                                                       \
        sh_test_register(#name, test_##name);                               \
    }                                                                       \
    static int test_##name(void)

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
            return 1;                                                        \
        }                                                                    \
    } while (0)

#define CHECK_MSG(cond, ...)                                                 \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, \
                    #cond);                                                  \
            fprintf(stderr, __VA_ARGS__);                                    \
            fprintf(stderr, "\n");                                           \
            return 1;                                                        \
        }                                                                    \
    } while (0)

/* |a - b| <= atol + rtol * |b| */
#define CHECK_CLOSE(a, b, atol, rtol)                                        \
    do {                                                                     \
        double a_ = (a), b_ = (b);                                           \
        if (!(fabs(a_ - b_) <= (atol) + (rtol)*fabs(b_))) {                  \
            fprintf(stderr, "%s:%d: CHECK_CLOSE failed: %s = %.9g vs %s = %.9g\n", \
                    __FILE__, __LINE__, #a, a_, #b, b_);                     \
            return 1;                                                        \
        }                                                                    \
    } while (0)

/* A scratch directory unique to this test process, created on first use. */
const char *sh_test_tmpdir(void);

#endif
