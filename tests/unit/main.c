/* main.c - runs the registered unit tests: all of them, or those named on the
 * command line. Exit status is the number of failures (capped at 1). */
#include "sh_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TESTS 512

static struct {
    const char *name;
    sh_test_fn fn;
} tests[MAX_TESTS];
static int n_tests;

void sh_test_register(const char *name, sh_test_fn fn)
{
    if (n_tests == MAX_TESTS) {
        fprintf(stderr, "too many tests\n");
        exit(2);
    }
    tests[n_tests].name = name;
    tests[n_tests].fn = fn;
    n_tests++;
}

const char *sh_test_tmpdir(void)
{
    static char dir[256];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/shears-unit-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return dir;
}

static int run(int i)
{
    fprintf(stderr, "[ RUN  ] %s\n", tests[i].name);
    int rc = tests[i].fn();
    fprintf(stderr, "[ %s ] %s\n", rc ? "FAIL" : " OK ", tests[i].name);
    return rc != 0;
}

int main(int argc, char **argv)
{
    int failed = 0;
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < n_tests; i++)
            printf("%s\n", tests[i].name);
        return 0;
    }
    if (argc == 1) {
        for (int i = 0; i < n_tests; i++)
            failed += run(i);
    } else {
        for (int a = 1; a < argc; a++) {
            int found = 0;
            for (int i = 0; i < n_tests; i++)
                if (strcmp(tests[i].name, argv[a]) == 0) {
                    failed += run(i);
                    found = 1;
                }
            if (!found) {
                fprintf(stderr, "no test named %s\n", argv[a]);
                failed++;
            }
        }
    }
    return failed ? 1 : 0;
}
