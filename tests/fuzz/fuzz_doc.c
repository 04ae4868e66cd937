/* fuzz_doc.c - libFuzzer target for the sweep-file parser and writers.
 *
 * Any input must parse or fail cleanly; a parsed tree must serialize, and
 * its YAML must read back to the same canonical JSON (sorted and unsorted).
 * The input's first line is also tried as a --set override on a small tree.
 *
 * Build (no CMake target yet):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I core \
 *     -I proto tests/fuzz/fuzz_doc.c proto/sh_doc.c core/sh_common.c -lyaml \
 *     -o /tmp/fuzz_doc
 *   /tmp/fuzz_doc tests/fuzz/corpus/doc */
#include "sh_doc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_round_trip(const sh_doc_t *doc)
{
    char *json[2] = {sh_doc_to_json(doc, 0), sh_doc_to_json(doc, 1)};
    char *yaml = sh_doc_to_yaml(doc);
    if (!json[0] || !json[1] || !yaml)
        abort();
    sh_doc_t *again = NULL;
    sh_err_t err = {{0}};
    if (sh_doc_parse(&again, yaml, strlen(yaml), "yaml", &err) != SH_OK) {
        fprintf(stderr, "emitted YAML does not parse: %s\n---\n%s---\n", err.msg, yaml);
        abort();
    }
    for (int sorted = 0; sorted < 2; sorted++) {
        char *j = sh_doc_to_json(again, sorted);
        if (!j || strcmp(j, json[sorted]) != 0) {
            fprintf(stderr, "round trip differs\n%s\n%s\n---\n%s---\n", json[sorted],
                    j ? j : "(null)", yaml);
            abort();
        }
        free(j);
    }
    sh_doc_t *copy = sh_doc_clone(doc);
    char *j = copy ? sh_doc_to_json(copy, 1) : NULL;
    if (!j || strcmp(j, json[1]) != 0)
        abort();
    free(j);
    sh_doc_free(&copy);
    sh_doc_free(&again);
    free(json[0]);
    free(json[1]);
    free(yaml);
}

static void try_set(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t n = nl ? (size_t)(nl - data) : size;
    if (n > 512 || !memchr(data, '=', n))
        return;
    char *assignment = malloc(n + 1);
    if (!assignment)
        return;
    memcpy(assignment, data, n);
    assignment[n] = '\0';
    static const char base[] = "a: {b: 1, c: [1, {d: x}]}\ne: [[1]]\n";
    sh_doc_t *doc = NULL;
    if (sh_doc_parse(&doc, base, sizeof base - 1, "base", NULL) != SH_OK)
        abort();
    sh_err_t err = {{0}};
    if (sh_doc_set(doc, assignment, &err) == SH_OK)
        check_round_trip(doc);
    sh_doc_free(&doc);
    free(assignment);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sh_doc_t *doc = NULL;
    sh_err_t err = {{0}};
    if (sh_doc_parse(&doc, (const char *)data, size, "fuzz", &err) == SH_OK) {
        check_round_trip(doc);
        /* Typed reads must not crash whatever the node holds. */
        const sh_doc_t *first = doc->n > 0 ? doc->items[0] : doc;
        int64_t i;
        double d;
        int b;
        const char *s;
        (void)sh_doc_int(first, "fuzz", "k", &i, &err);
        (void)sh_doc_double(first, "fuzz", "k", &d, &err);
        (void)sh_doc_bool(first, "fuzz", "k", &b, &err);
        (void)sh_doc_string(first, "fuzz", "k", &s, &err);
        (void)sh_doc_path(doc, "a.0.b");
        sh_doc_free(&doc);
    } else if (doc != NULL) {
        abort();
    }
    try_set(data, size);
    return 0;
}
