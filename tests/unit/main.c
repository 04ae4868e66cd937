/* main.c - runs the registered unit tests: all of them, or those named on the
 * command line. Exit status is the number of failures (capped at 1). The
 * scratch directory (sh_test_tmpdir) is removed when every test passed and
 * kept, with its path printed, when one failed. */
#define _XOPEN_SOURCE 700
#include "sh_test.h"

#include <ftw.h>
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

static char tmpdir[256];

static const char *made_tmpdir(void)
{
    return tmpdir[0] ? tmpdir : NULL;
}

const char *sh_test_tmpdir(void)
{
    char *dir = tmpdir;
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof tmpdir, "%s/shears-unit-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
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
    const char *dir = made_tmpdir();
    if (dir && failed)
        fprintf(stderr, "scratch files kept in %s\n", dir);
    else if (dir)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return failed ? 1 : 0;
}
