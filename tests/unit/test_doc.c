/* test_doc.c - the sweep-file document tree: parsing and its limits, --set,
 * typed reads, canonical JSON and the YAML round trip. */
#include "sh_doc.h"
#include "sh_test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char SWEEP[] =
    "name: lenet-fmnist\n"
    "dataset: {name: fashion-mnist, path: /usr/share/datasets/fashion-mnist}\n"
    "model: lenet_300_100\n"
    "seeds: [1, 2, 3]\n"
    "train:  {epochs: 20, batch: 128, optimizer: sgd, lr: 0.1, momentum: 0.9, "
    "weight_decay: 1.0e-4, schedule: {milestones: [10, 15], gamma: 0.1}}\n"
    "prune:  {method: magnitude, scope: global, rate: 0.2, rounds: 15}\n"
    "retrain:\n"
    "  - {technique: lr-rewind}\n"
    "  - {technique: weight-rewind, rewind_epoch: 1}\n"
    "  - {technique: finetune, lr: 0.001}\n"
    "stop:   {max_drop: 0.01}\n";

static sh_doc_t *parse(const char *text)
{
    sh_doc_t *doc = NULL;
    sh_err_t err = {{0}};
    if (sh_doc_parse(&doc, text, strlen(text), "test.yaml", &err) != SH_OK)
        fprintf(stderr, "parse failed: %s\n", err.msg);
    return doc;
}

/* Parses text expecting SH_EFORMAT and a message naming the file, a line
 * and containing `want`. Returns 0 when all of that holds. */
static int expect_format_error(const char *text, size_t len, const char *want)
{
    sh_doc_t *doc = (sh_doc_t *)1;
    sh_err_t err = {{0}};
    sh_status_t st = sh_doc_parse(&doc, text, len, "bad.yaml", &err);
    if (st != SH_EFORMAT || doc != NULL) {
        fprintf(stderr, "expected SH_EFORMAT, got %d (%s)\n", st, err.msg);
        return 1;
    }
    int line = 0;
    if (sscanf(err.msg, "bad.yaml:%d:", &line) != 1 || line < 1) {
        fprintf(stderr, "message lacks name:line: %s\n", err.msg);
        return 1;
    }
    if (!strstr(err.msg, want)) {
        fprintf(stderr, "message lacks '%s': %s\n", want, err.msg);
        return 1;
    }
    return 0;
}

static int json_equals(const sh_doc_t *doc, int sorted, const char *want)
{
    char *json = sh_doc_to_json(doc, sorted);
    int same = json && strcmp(json, want) == 0;
    if (!same)
        fprintf(stderr, "json %s\n want %s\n", json ? json : "(null)", want);
    free(json);
    return same;
}

SH_TEST(doc_parse_nested)
{
    sh_doc_t *doc = parse(SWEEP);
    CHECK(doc && doc->kind == SH_DOC_MAP && doc->n == 8);
    CHECK(strcmp(doc->keys[0], "name") == 0 && strcmp(doc->keys[7], "stop") == 0);

    sh_doc_t *n = sh_doc_path(doc, "name");
    CHECK(n && n->kind == SH_DOC_SCALAR && n->line == 1 && !n->quoted);
    CHECK(strcmp(n->text, "lenet-fmnist") == 0);
    CHECK(sh_doc_path(doc, "dataset.path")->line == 2);
    n = sh_doc_path(doc, "train.schedule.milestones");
    CHECK(n && n->kind == SH_DOC_SEQ && n->n == 2 && n->line == 5);
    CHECK(strcmp(n->items[1]->text, "15") == 0);
    n = sh_doc_path(doc, "retrain.1.rewind_epoch");
    CHECK(n && n->line == 9 && strcmp(n->text, "1") == 0);
    CHECK(sh_doc_path(doc, "retrain")->line == 8);
    CHECK(sh_doc_path(doc, "stop.max_drop")->line == 11);

    CHECK(sh_doc_child(doc, "model") == sh_doc_path(doc, "model"));
    CHECK(sh_doc_child(doc, "nope") == NULL);
    CHECK(sh_doc_child(n, "x") == NULL);
    CHECK(sh_doc_path(doc, "retrain.3") == NULL);
    CHECK(sh_doc_path(doc, "retrain.x") == NULL);
    CHECK(sh_doc_path(doc, "train..lr") == NULL);
    CHECK(sh_doc_path(doc, "") == NULL);
    CHECK(sh_doc_path(doc, "name.x") == NULL);

    /* Block style with comments, quoted scalars and a multi-line flow map. */
    sh_doc_free(&doc);
    doc = parse("# sweep\n"
                "a:\n"
                "  b: 'quoted'   # comment\n"
                "  c:\n"
                "    - \"x\"\n"
                "    - {d: 1,\n"
                "       e: 2}\n");
    CHECK(doc);
    n = sh_doc_path(doc, "a.b");
    CHECK(n && n->quoted && n->line == 3 && strcmp(n->text, "quoted") == 0);
    CHECK(sh_doc_path(doc, "a.c.0")->quoted);
    CHECK(sh_doc_path(doc, "a.c.1.e")->line == 7);
    sh_doc_free(&doc);
    CHECK(doc == NULL);
    sh_doc_free(&doc);
    sh_doc_free(NULL);
    return 0;
}

SH_TEST(doc_parse_json_and_flow)
{
    sh_doc_t *doc = parse("{\"a\": [1, 2.5, \"s\", true, null],\n \"b\": {\"c\": {}}, \"d\": []}");
    CHECK(doc && doc->n == 3);
    CHECK(json_equals(doc, 0, "{\"a\":[1,2.5,\"s\",true,null],\"b\":{\"c\":{}},\"d\":[]}"));
    CHECK(sh_doc_path(doc, "b.c")->line == 2);
    sh_doc_free(&doc);

    doc = parse("[a, [b, c], {d: e}]");
    CHECK(doc && doc->kind == SH_DOC_SEQ && doc->n == 3);
    CHECK(sh_doc_path(doc, "1.1") && strcmp(sh_doc_path(doc, "1.1")->text, "c") == 0);
    CHECK(strcmp(sh_doc_path(doc, "2.d")->text, "e") == 0);
    sh_doc_free(&doc);

    /* A bare scalar root is returned; the caller decides. */
    doc = parse("just text");
    CHECK(doc && doc->kind == SH_DOC_SCALAR && strcmp(doc->text, "just text") == 0);
    sh_doc_free(&doc);

    /* Empty input, comments only, and "---" alone are an empty map. */
    const char *empties[] = {"", "# nothing\n", "---\n", "--- \n...\n", "\n\n"};
    for (int i = 0; i < 5; i++) {
        doc = parse(empties[i]);
        CHECK_MSG(doc && doc->kind == SH_DOC_MAP && doc->n == 0, "input %d", i);
        sh_doc_free(&doc);
    }
    sh_doc_t *none = NULL;
    CHECK(sh_doc_parse(&none, NULL, 0, "x", NULL) == SH_OK && none && none->n == 0);
    sh_doc_free(&none);

    /* Anchors without aliases and tags are ignored. */
    doc = parse("a: &anchor 1\nb: !!str 2\n");
    CHECK(doc && strcmp(sh_doc_path(doc, "a")->text, "1") == 0);
    CHECK(json_equals(doc, 1, "{\"a\":1,\"b\":2}"));
    sh_doc_free(&doc);
    return 0;
}

SH_TEST(doc_parse_errors)
{
    const char *syntax = "a: 1\nb: [1, 2\nc: 3\n";
    CHECK(expect_format_error(syntax, strlen(syntax), "") == 0);
    const char *indent = "a:\n  b: 1\n c: 2\n";
    CHECK(expect_format_error(indent, strlen(indent), "") == 0);

    const char *dup = "a: 1\nb: 2\na: 3\n";
    CHECK(expect_format_error(dup, strlen(dup), "bad.yaml:3: duplicate key 'a'") == 0);
    const char *dup_flow = "x: {k: 1, k: 2}";
    CHECK(expect_format_error(dup_flow, strlen(dup_flow), "duplicate key 'k'") == 0);
    /* Many keys go through the sorted check; the later copy is reported. */
    char big[4096] = "";
    for (int i = 0; i < 100; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "k%d: %d\n", i, i);
    strcat(big, "k42: again\n");
    CHECK(expect_format_error(big, strlen(big), "bad.yaml:101: duplicate key 'k42'") == 0);

    const char *alias = "a: &x 1\nb: *x\n";
    CHECK(expect_format_error(alias, strlen(alias), "bad.yaml:2: aliases are not supported") == 0);
    const char *merge = "base: &b {x: 1}\nd:\n  <<: *b\n";
    CHECK(expect_format_error(merge, strlen(merge), "aliases are not supported") == 0);

    const char *complex_key = "? [a, b]\n: 1\n";
    CHECK(expect_format_error(complex_key, strlen(complex_key), "map keys must be scalars") == 0);
    const char *flow_key = "{[a]: 1}";
    CHECK(expect_format_error(flow_key, strlen(flow_key), "map keys must be scalars") == 0);

    const char *two = "a: 1\n---\nb: 2\n";
    CHECK(expect_format_error(two, strlen(two), "bad.yaml:2: more than one document") == 0);

    const char *nul = "a: \"x\\0y\"\n";
    CHECK(expect_format_error(nul, strlen(nul), "NUL") == 0);
    const char raw_nul[] = "a: b\0c\n";
    CHECK(expect_format_error(raw_nul, sizeof raw_nul - 1, "") == 0);
    const char bad_utf8[] = "a: 1\nb: \xff\n";
    CHECK(expect_format_error(bad_utf8, sizeof bad_utf8 - 1, "bad.yaml:2:") == 0);

    /* Depth: 32 nested collections are fine, 33 and 40 are not. */
    char deep[128];
    for (int depth = 32; depth <= 40; depth += 8) {
        for (int i = 0; i < depth; i++) {
            deep[i] = '[';
            deep[2 * depth - 1 - i] = ']';
        }
        deep[2 * depth] = '\0';
        if (depth == 32) {
            sh_doc_t *doc = parse(deep);
            CHECK(doc != NULL);
            sh_doc_free(&doc);
        } else {
            CHECK(expect_format_error(deep, strlen(deep), "nesting deeper than 32") == 0);
        }
    }
    const char *deep33 = "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]";
    CHECK(expect_format_error(deep33, strlen(deep33), "nesting deeper") == 0);

    /* Nodes: the root plus 100000 items is one too many. */
    size_t cap = 2 * (size_t)SH_DOC_MAX_NODES + 8;
    char *many = malloc(cap);
    CHECK(many);
    size_t len = 0;
    many[len++] = '[';
    for (int i = 0; i < SH_DOC_MAX_NODES; i++) {
        many[len++] = '0';
        many[len++] = ',';
    }
    many[len - 1] = ']';
    int rc = expect_format_error(many, len, "more than 100000 nodes");
    /* One fewer item fits exactly. */
    many[len - 3] = ']';
    sh_doc_t *doc = NULL;
    sh_status_t st = sh_doc_parse(&doc, many, len - 2, "ok.yaml", NULL);
    free(many);
    CHECK(rc == 0);
    CHECK(st == SH_OK && doc && doc->n == SH_DOC_MAX_NODES - 1);
    sh_doc_free(&doc);

    /* Size limit, checked before any parsing. */
    char *huge = malloc(SH_DOC_MAX_BYTES + 1);
    CHECK(huge);
    memset(huge, ' ', SH_DOC_MAX_BYTES + 1);
    sh_err_t err = {{0}};
    doc = (sh_doc_t *)1;
    st = sh_doc_parse(&doc, huge, SH_DOC_MAX_BYTES + 1, "huge.yaml", &err);
    free(huge);
    CHECK(st == SH_EFORMAT && doc == NULL && strstr(err.msg, "huge.yaml"));
    return 0;
}

SH_TEST(doc_load_file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/doc_sweep.yaml", sh_test_tmpdir());
    FILE *f = fopen(path, "w");
    CHECK(f);
    fputs(SWEEP, f);
    fclose(f);
    sh_doc_t *doc = NULL;
    sh_err_t err = {{0}};
    CHECK(sh_doc_load_file(&doc, path, &err) == SH_OK);
    CHECK(sh_doc_path(doc, "train.lr") != NULL);
    sh_doc_free(&doc);

    f = fopen(path, "w");
    CHECK(f);
    fputs("a: 1\nb: [\n", f);
    fclose(f);
    CHECK(sh_doc_load_file(&doc, path, &err) == SH_EFORMAT && doc == NULL);
    CHECK_MSG(strncmp(err.msg, path, strlen(path)) == 0, "%s", err.msg);

    snprintf(path, sizeof path, "%s/doc_missing.yaml", sh_test_tmpdir());
    CHECK(sh_doc_load_file(&doc, path, &err) == SH_EIO && doc == NULL);
    CHECK(sh_doc_load_file(&doc, sh_test_tmpdir(), &err) == SH_EIO && doc == NULL);
    return 0;
}

static int set_ok(sh_doc_t *doc, const char *assignment)
{
    sh_err_t err = {{0}};
    sh_status_t st = sh_doc_set(doc, assignment, &err);
    if (st != SH_OK)
        fprintf(stderr, "set %s: %s\n", assignment, err.msg);
    return st == SH_OK;
}

static int set_fails(sh_doc_t *doc, const char *assignment, const char *want)
{
    sh_err_t err = {{0}};
    char *before = sh_doc_to_json(doc, 0);
    sh_status_t st = sh_doc_set(doc, assignment, &err);
    char *after = sh_doc_to_json(doc, 0);
    int unchanged = before && after && strcmp(before, after) == 0;
    free(before);
    free(after);
    if (st != SH_EARG || !strstr(err.msg, want) || !unchanged) {
        fprintf(stderr, "set %s: status %d, unchanged %d, message: %s (want '%s')\n",
                assignment, st, unchanged, err.msg, want);
        return 0;
    }
    return 1;
}

SH_TEST(doc_set)
{
    sh_doc_t *doc = parse(SWEEP);
    CHECK(doc);
    double lr;
    int64_t i64;

    CHECK(set_ok(doc, "train.lr=0.05"));
    CHECK(sh_doc_double(sh_doc_path(doc, "train.lr"), "s", "train.lr", &lr, NULL) == SH_OK);
    CHECK(lr == 0.05);
    CHECK(sh_doc_path(doc, "train.lr")->line == 0);
    /* Replaced in place: key order is kept. */
    CHECK(strcmp(sh_doc_path(doc, "train")->keys[3], "lr") == 0);

    CHECK(set_ok(doc, "train.schedule.milestones=[10, 15, 18]"));
    sh_doc_t *m = sh_doc_path(doc, "train.schedule.milestones");
    CHECK(m && m->kind == SH_DOC_SEQ && m->n == 3 && m->line == 0 && m->items[2]->line == 0);

    CHECK(set_ok(doc, "seeds.1=7"));
    CHECK(sh_doc_int(sh_doc_path(doc, "seeds.1"), "s", "seeds.1", &i64, NULL) == SH_OK);
    CHECK(i64 == 7);
    CHECK(set_ok(doc, "retrain.0.technique=finetune"));
    CHECK(strcmp(sh_doc_path(doc, "retrain.0.technique")->text, "finetune") == 0);
    CHECK(set_ok(doc, "retrain.2.lr=1e-3"));

    /* New keys go at the end; missing intermediate maps are created. */
    CHECK(set_ok(doc, "train.warmup=2"));
    sh_doc_t *train = sh_doc_path(doc, "train");
    CHECK(strcmp(train->keys[train->n - 1], "warmup") == 0);
    CHECK(set_ok(doc, "log.level.value=debug"));
    CHECK(strcmp(doc->keys[doc->n - 1], "log") == 0);
    CHECK(sh_doc_path(doc, "log")->kind == SH_DOC_MAP && sh_doc_path(doc, "log")->line == 0);
    CHECK(strcmp(sh_doc_path(doc, "log.level.value")->text, "debug") == 0);
    CHECK(set_ok(doc, "prune={method: random, rate: 0.5}"));
    CHECK(sh_doc_path(doc, "prune.scope") == NULL);
    CHECK(set_ok(doc, "name='quoted = fine'"));
    CHECK(strcmp(sh_doc_path(doc, "name")->text, "quoted = fine") == 0);
    CHECK(set_ok(doc, "dataset.x-y_Z9=''"));
    CHECK(set_fails(doc, "dataset.x-y_Z9.deeper=1", "'dataset.x-y_Z9' is not a map"));
    CHECK(set_fails(doc, "model.x=1", "--set model.x: 'model' is not a map"));

    /* Errors leave the tree unchanged. */
    CHECK(set_fails(doc, "train.lr=", "--set train.lr: empty value"));
    CHECK(set_fails(doc, "train.lr=  ", "empty value"));
    CHECK(set_fails(doc, "no-equals-sign", "expected key.path=value"));
    CHECK(set_fails(doc, "=1", "bad key path"));
    CHECK(set_fails(doc, "a..b=1", "bad key path"));
    CHECK(set_fails(doc, ".a=1", "bad key path"));
    CHECK(set_fails(doc, "a.=1", "bad key path"));
    CHECK(set_fails(doc, "a b=1", "bad key path"));
    CHECK(set_fails(doc, "train.lr.x=1", "--set train.lr.x: 'train.lr' is not a map"));
    CHECK(set_fails(doc, "name.a.b=1", "'name' is not a map"));
    CHECK(set_fails(doc, "seeds.3=1", "not an index"));
    CHECK(set_fails(doc, "seeds.x=1", "not an index"));
    CHECK(set_fails(doc, "seeds.-1=1", "not an index"));
    CHECK(set_fails(doc, "train.lr=[1, 2", "--set train.lr:"));
    CHECK(set_fails(doc, "train.lr=a: 1\nb: *x", "aliases"));
    char deep[200] = "a";
    for (int i = 1; i < 33; i++)
        strcat(deep, ".a");
    strcat(deep, "=1");
    CHECK(set_fails(doc, deep, "bad key path"));
    CHECK(set_fails(doc, "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d="
                         "[[[1]]]", "nesting deeper"));

    /* A value nested to the limit is checked in linear time. */
    char nested[128] = "deep=";
    for (int i = 0; i < 31; i++)
        strcat(nested, "- ");
    double t0 = sh_now();
    CHECK(set_ok(doc, nested));
    CHECK(sh_now() - t0 < 1.0);
    CHECK(sh_doc_path(doc, "deep.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"));
    CHECK(set_fails(doc, "x.y=- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -",
                    "nesting deeper"));

    /* On a document that is not a map. */
    sh_doc_t *scalar = parse("text");
    CHECK(scalar);
    CHECK(set_fails(scalar, "a=1", "not a map"));
    sh_doc_free(&scalar);
    sh_doc_free(&doc);
    return 0;
}

SH_TEST(doc_typed_getters)
{
    sh_doc_t *doc = parse("i: 42\nneg: -7\nplus: +3\nbig: 9223372036854775807\n"
                          "small: -9223372036854775808\nover: 9223372036854775808\n"
                          "d1: 0.1\nd2: 1.0e-4\nd3: .5\nd4: -0.1\nd5: 1e-4\nd6: 3.\n"
                          "inf: .inf\ninf2: inf\nnan: nan\nhex: 0x10\njunk: 1.5x\n"
                          "huge: 1e999\nqd: \"0.1\"\nqi: '3'\nqb: 'true'\n"
                          "b1: yes\nb2: Off\nb3: TRUE\nb4: false\nb5: y\n"
                          "s: hello\nm: {a: 1}\nl: [1]\nn: ~\nempty:\n");
    CHECK(doc);
    int64_t i;
    double d;
    int b;
    const char *s;
    sh_err_t err = {{0}};
#define GET(fn, key, out) fn(sh_doc_path(doc, key), "t.yaml", key, out, &err)
    CHECK(GET(sh_doc_int, "i", &i) == SH_OK && i == 42);
    CHECK(GET(sh_doc_int, "neg", &i) == SH_OK && i == -7);
    CHECK(GET(sh_doc_int, "plus", &i) == SH_OK && i == 3);
    CHECK(GET(sh_doc_int, "big", &i) == SH_OK && i == INT64_MAX);
    CHECK(GET(sh_doc_int, "small", &i) == SH_OK && i == INT64_MIN);
    CHECK(GET(sh_doc_int, "over", &i) == SH_EARG);
    CHECK_MSG(strcmp(err.msg, "t.yaml:6: 'over' expects an integer, got "
                              "'9223372036854775808'") == 0, "%s", err.msg);
    CHECK(GET(sh_doc_int, "d1", &i) == SH_EARG);
    CHECK(GET(sh_doc_int, "d5", &i) == SH_EARG);
    CHECK(GET(sh_doc_int, "qi", &i) == SH_EARG);
    CHECK(strstr(err.msg, "quoted"));
    CHECK(GET(sh_doc_int, "m", &i) == SH_EARG);
    CHECK_MSG(strcmp(err.msg, "t.yaml:28: 'm' expects an integer, got a map") == 0, "%s",
              err.msg);
    CHECK(GET(sh_doc_int, "missing", &i) == SH_EARG);
    CHECK(strstr(err.msg, "t.yaml") && strstr(err.msg, "'missing'"));

    CHECK(GET(sh_doc_double, "d1", &d) == SH_OK && d == 0.1);
    CHECK(GET(sh_doc_double, "d2", &d) == SH_OK && d == 1e-4);
    CHECK(GET(sh_doc_double, "d3", &d) == SH_OK && d == 0.5);
    CHECK(GET(sh_doc_double, "d4", &d) == SH_OK && d == -0.1);
    CHECK(GET(sh_doc_double, "d5", &d) == SH_OK && d == 1e-4);
    CHECK(GET(sh_doc_double, "d6", &d) == SH_OK && d == 3.0);
    CHECK(GET(sh_doc_double, "i", &d) == SH_OK && d == 42.0);
    CHECK(GET(sh_doc_double, "over", &d) == SH_OK && d == 9223372036854775808.0);
    const char *not_numbers[] = {"inf", "inf2", "nan", "hex", "junk", "huge", "qd",
                                 "s", "n", "empty", "l", "b1"};
    for (int k = 0; k < 12; k++)
        CHECK_MSG(GET(sh_doc_double, not_numbers[k], &d) == SH_EARG, "%s", not_numbers[k]);
    CHECK(GET(sh_doc_double, "qd", &d) == SH_EARG);
    CHECK_MSG(strcmp(err.msg, "t.yaml:19: 'qd' expects a number, got '0.1' (quoted, so a "
                              "string)") == 0, "%s", err.msg);

    CHECK(GET(sh_doc_bool, "b1", &b) == SH_OK && b == 1);
    CHECK(GET(sh_doc_bool, "b2", &b) == SH_OK && b == 0);
    CHECK(GET(sh_doc_bool, "b3", &b) == SH_OK && b == 1);
    CHECK(GET(sh_doc_bool, "b4", &b) == SH_OK && b == 0);
    CHECK(GET(sh_doc_bool, "b5", &b) == SH_EARG);
    CHECK(GET(sh_doc_bool, "qb", &b) == SH_EARG);
    CHECK(GET(sh_doc_bool, "i", &b) == SH_EARG);

    CHECK(GET(sh_doc_string, "s", &s) == SH_OK && strcmp(s, "hello") == 0);
    CHECK(GET(sh_doc_string, "qd", &s) == SH_OK && strcmp(s, "0.1") == 0);
    CHECK(GET(sh_doc_string, "i", &s) == SH_OK && strcmp(s, "42") == 0);
    CHECK(GET(sh_doc_string, "l", &s) == SH_EARG);
    CHECK(strstr(err.msg, "got a sequence"));

    /* A value from --set is reported against the override. */
    CHECK(set_ok(doc, "i=abc"));
    CHECK(GET(sh_doc_int, "i", &i) == SH_EARG);
    CHECK_MSG(strcmp(err.msg, "--set i: expects an integer, got 'abc'") == 0, "%s", err.msg);
#undef GET
    sh_doc_free(&doc);
    return 0;
}

SH_TEST(doc_canonical_json)
{
    sh_doc_t *a = parse("train: {lr: 0.1, epochs: 20, wd: 1.0e-4, on: yes}\nname: x\n"
                        "seeds: [1, 2]\nbig: 1e20\nn: ~\nm: 20.0\np: +5\nz: 007\n");
    sh_doc_t *b = parse("z: 7\np: 5\nm: 20\nn: null\nbig: 100000000000000000000\n"
                        "seeds: [1, 2]\nname: \"x\"\n"
                        "train:\n  on: True\n  wd: 0.0001\n  epochs: 20\n  lr: 1e-1\n");
    CHECK(a && b);
    char *ja = sh_doc_to_json(a, 1);
    char *jb = sh_doc_to_json(b, 1);
    CHECK(ja && jb);
    int same = strcmp(ja, jb) == 0;
    int want = strcmp(ja, "{\"big\":1e+20,\"m\":20,\"n\":null,\"name\":\"x\",\"p\":5,"
                          "\"seeds\":[1,2],\"train\":{\"epochs\":20,\"lr\":0.1,\"on\":true,"
                          "\"wd\":0.0001},\"z\":7}") == 0;
    if (!same || !want)
        fprintf(stderr, "%s\n%s\n", ja, jb);
    free(ja);
    free(jb);
    CHECK(same && want);
    /* Unsorted keeps document order. */
    CHECK(json_equals(b, 0, "{\"z\":7,\"p\":5,\"m\":20,\"n\":null,\"big\":1e+20,"
                            "\"seeds\":[1,2],\"name\":\"x\",\"train\":{\"on\":true,"
                            "\"wd\":0.0001,\"epochs\":20,\"lr\":0.1}}"));
    sh_doc_free(&a);
    sh_doc_free(&b);

    /* Number forms, and quoted scalars that stay strings. */
    a = parse("[0.1, 1.0e-1, .1, 1e-1, 0.9, 1e-05, 123456.0, -0.0, 1.5e16, 2.5e-310,"
              " 3., '1', \"true\", '', \"null\", 1.5x, .inf, yes, OFF, ~, {k: }, Null]");
    CHECK(a);
    CHECK(json_equals(a, 1, "[0.1,0.1,0.1,0.1,0.9,1e-05,123456,-0,15000000000000000,"
                            "2.5e-310,3,\"1\",\"true\",\"\",\"null\",\"1.5x\",\".inf\","
                            "true,false,null,{\"k\":null},null]"));
    sh_doc_free(&a);

    /* Sorting is bytewise (uppercase before lowercase, UTF-8 last). */
    a = parse("{b: 1, a: 2, B: 3, \xc3\xa9: 4, aa: 5, \"\": 6}");
    CHECK(a);
    CHECK(json_equals(a, 1, "{\"\":6,\"B\":3,\"a\":2,\"aa\":5,\"b\":1,\"\xc3\xa9\":4}"));
    sh_doc_free(&a);

    /* The sweep file's canonical JSON does not depend on the spelling. */
    a = parse(SWEEP);
    CHECK(a);
    b = sh_doc_clone(a);
    CHECK(b);
    CHECK(set_ok(b, "train.lr=1e-1"));
    CHECK(set_ok(b, "train.weight_decay=0.0001"));
    ja = sh_doc_to_json(a, 1);
    jb = sh_doc_to_json(b, 1);
    same = ja && jb && strcmp(ja, jb) == 0;
    free(ja);
    free(jb);
    CHECK(same);
    sh_doc_free(&a);
    sh_doc_free(&b);
    return 0;
}

SH_TEST(doc_json_escaping)
{
    sh_doc_t *doc = parse("s: \"quote\\\" backslash\\\\ nl\\n tab\\t bell\\a del\\x7f "
                          "\\u00e9 \\u2028\"\n\"k\\\"ey\": 1\n");
    CHECK(doc);
    CHECK(json_equals(doc, 0, "{\"s\":\"quote\\\" backslash\\\\ nl\\u000a tab\\u0009 "
                              "bell\\u0007 del\x7f \xc3\xa9 \xe2\x80\xa8\",\"k\\\"ey\":1}"));
    sh_doc_free(&doc);
    return 0;
}

/* parse -> to_yaml -> parse must give the same JSON, sorted and not. */
static int round_trips(const char *text)
{
    sh_doc_t *a = parse(text);
    if (!a)
        return 0;
    char *yaml = sh_doc_to_yaml(a);
    sh_doc_t *b = yaml ? parse(yaml) : NULL;
    int ok = b != NULL;
    for (int sorted = 0; ok && sorted < 2; sorted++) {
        char *ja = sh_doc_to_json(a, sorted);
        char *jb = sh_doc_to_json(b, sorted);
        ok = ja && jb && strcmp(ja, jb) == 0;
        if (!ok)
            fprintf(stderr, "round trip differs:\n%s\n%s\n", ja, jb);
        free(ja);
        free(jb);
    }
    if (!ok)
        fprintf(stderr, "input:\n%s\nyaml:\n%s\n", text, yaml ? yaml : "(null)");
    free(yaml);
    sh_doc_free(&a);
    sh_doc_free(&b);
    return ok;
}

SH_TEST(doc_yaml_round_trip)
{
    CHECK(round_trips(SWEEP));

    sh_doc_t *doc = parse(SWEEP);
    CHECK(doc);
    char *yaml = sh_doc_to_yaml(doc);
    sh_doc_free(&doc);
    CHECK(yaml);
    const char *want =
        "name: lenet-fmnist\n"
        "dataset:\n"
        "  name: fashion-mnist\n"
        "  path: /usr/share/datasets/fashion-mnist\n"
        "model: lenet_300_100\n"
        "seeds:\n"
        "  - 1\n"
        "  - 2\n"
        "  - 3\n"
        "train:\n"
        "  epochs: 20\n"
        "  batch: 128\n"
        "  optimizer: sgd\n"
        "  lr: 0.1\n"
        "  momentum: 0.9\n"
        "  weight_decay: 1.0e-4\n"
        "  schedule:\n"
        "    milestones:\n"
        "      - 10\n"
        "      - 15\n"
        "    gamma: 0.1\n"
        "prune:\n"
        "  method: magnitude\n"
        "  scope: global\n"
        "  rate: 0.2\n"
        "  rounds: 15\n"
        "retrain:\n"
        "  - technique: lr-rewind\n"
        "  - technique: weight-rewind\n"
        "    rewind_epoch: 1\n"
        "  - technique: finetune\n"
        "    lr: 0.001\n"
        "stop:\n"
        "  max_drop: 0.01\n";
    int same = strcmp(yaml, want) == 0;
    if (!same)
        fprintf(stderr, "%s", yaml);
    free(yaml);
    CHECK(same);

    /* Strings that need quoting to read back as the same strings. */
    CHECK(round_trips("a: ['0.1', '1', 'yes', 'null', '~', '', ' lead', 'trail ', 'a: b',"
                      " 'x #y', '#c', '- d', '[e]', '{f}', 'g,h', '*i', '&j', '!k', '%l',"
                      " '@m', '`n', '|o', '>p', '?q', ':r', 's:', '\"t', \"'u\", '...',"
                      " '---', 'v\\w', .x, 'line\n\n  break', \"\\t\\x01\\x7f\\x85\","
                      " \"\\u2028\\u2029\\ufeff\\uffff\", \"\\u00e9t\\u00e9\"]\n"));
    /* Typed scalars, nulls and empty collections in every position. */
    CHECK(round_trips("a: ~\nb:\nc: null\nd: [~, {k: , l: 1}, {}, [], [[]], [[1, 2], [3]], {x: {}}]\n"
                      "e: {}\nf: []\ng: -1\nh: +.5e3\ni:\n- -1\n- -.5\n- -x\n-\n- ~\n"));
    CHECK(round_trips("[]"));
    CHECK(round_trips("{}"));
    CHECK(round_trips("[[[1, [2, {a: [3, {}]}]]], {b: [c, {d: e}]}]"));
    CHECK(round_trips("'0.5'"));
    CHECK(round_trips("''"));
    CHECK(round_trips("plain"));
    CHECK(round_trips("-1.5"));
    CHECK(round_trips("- - - 1\n    - 2\n  - 3\n- {}\n"));
    /* Literal and folded blocks are unquoted strings. */
    CHECK(round_trips("lit: |\n  line 1\n  line 2\nfold: >-\n  0.5\n"));
    /* Keys that need quoting, and one too long for an implicit key. */
    char long_key[1200];
    memset(long_key, 'k', 1100);
    long_key[1100] = '\0';
    char text[4000];
    snprintf(text, sizeof text,
             "'': 1\n'a: b': 2\n'- c': 3\n'd#': 4\n\"e\\n\": 5\n'1': 6\n'true': 7\n"
             "? \"%s\"\n: {x: [1]}\nz: [\"%s\"]\ns:\n- ? %s\n  : 1\n",
             long_key, long_key, long_key);
    CHECK(round_trips(text));
    return 0;
}

SH_TEST(doc_clone)
{
    sh_doc_t *a = parse(SWEEP);
    CHECK(a);
    sh_doc_t *b = sh_doc_clone(a);
    CHECK(b && b != a);
    CHECK(sh_doc_path(b, "train.lr") != sh_doc_path(a, "train.lr"));
    CHECK(sh_doc_path(b, "train.lr")->line == 5);
    char *ja = sh_doc_to_json(a, 0);
    char *jb = sh_doc_to_json(b, 0);
    int same = ja && jb && strcmp(ja, jb) == 0;
    free(ja);
    free(jb);
    CHECK(same);
    /* The clone grows independently of the original. */
    CHECK(set_ok(b, "extra.key=1"));
    CHECK(sh_doc_path(a, "extra") == NULL);
    sh_doc_free(&a);
    sh_doc_free(&b);
    CHECK(sh_doc_clone(NULL) == NULL);
    return 0;
}
