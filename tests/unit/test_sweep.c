/* test_sweep.c - sweep files: defaults, errors that name file/line/key,
 * --set overrides, DAG expansion, job ids and job-spec round trips. */
#include "sh_test.h"

#include "sh_results.h"
#include "sh_sweep.h"

#include <stdlib.h>
#include <string.h>

static const char *design_sweep =
    "name: lenet-fmnist\n"
    "dataset: {name: fashion-mnist, path: /usr/share/datasets/fashion-mnist}\n"
    "model: lenet_300_100\n"
    "seeds: [1, 2, 3]\n"
    "train:  {epochs: 20, batch: 128, optimizer: sgd, lr: 0.1, momentum: 0.9,\n"
    "         weight_decay: 1.0e-4, schedule: {milestones: [10, 15], gamma: 0.1}}\n"
    "prune:  {method: magnitude, scope: global, rate: 0.2, rounds: 15}\n"
    "retrain:\n"
    "  - {technique: lr-rewind}\n"
    "  - {technique: weight-rewind, rewind_epoch: 1}\n"
    "  - {technique: finetune, lr: 0.001}\n"
    "stop:   {max_drop: 0.01}\n";

static sh_status_t parse(sh_sweep_t *sw, const char *text, sh_err_t *err)
{
    return sh_sweep_parse(sw, text, strlen(text), "sweep.yaml", NULL, 0, err);
}

SH_TEST(sweep_design_example)
{
    sh_sweep_t sw;
    sh_err_t err;
    CHECK_MSG(parse(&sw, design_sweep, &err) == SH_OK, "%s", err.msg);
    CHECK(!strcmp(sw.name, "lenet-fmnist") && !strcmp(sw.model, "lenet_300_100"));
    CHECK(sw.n_seeds == 3 && sw.seeds[2] == 3);
    CHECK(sw.train.epochs == 20 && sw.train.batch == 128 && sw.train.opt.kind == SH_OPT_SGD);
    CHECK(sw.train.sched.kind == SH_SCHED_MULTISTEP && sw.train.sched.n_milestones == 2);
    CHECK(sw.train.sched.milestones[1] == 15 && fabs(sw.train.sched.gamma - 0.1) < 1e-12);
    CHECK(fabs(sw.train.opt.weight_decay - 1e-4f) < 1e-9);
    CHECK(sw.rounds == 15 && fabs(sh_sweep_density(&sw, 12) - pow(0.8, 12)) < 1e-12);
    CHECK(sw.n_retrain == 3 && sw.retrain[1].technique == SH_TECH_WEIGHT_REWIND);
    CHECK(sw.retrain[1].rewind_epoch == 1 && sw.retrain[0].epochs == 20);
    CHECK(fabs(sw.retrain[2].lr - 0.001) < 1e-12);
    CHECK(sw.has_stop && fabs(sw.max_drop - 0.01) < 1e-12);

    sh_dag_t dag;
    CHECK(sh_sweep_expand(&sw, &dag, &err) == SH_OK);
    /* Per seed: the dense run, the epoch-1 rewind point, 3 chains of 15. */
    CHECK(dag.n_nodes == 3 * (2 + 3 * 15) && dag.n_rows == 3 * (1 + 3 * 15));
    int train = dag.rows[sh_dag_find_row(&dag, 0, -1, 0)].node;
    CHECK(dag.nodes[train].spec.until == 20);
    int r1 = dag.rows[sh_dag_find_row(&dag, 0, 1, 1)].node;
    int r2 = dag.rows[sh_dag_find_row(&dag, 0, 1, 2)].node;
    CHECK(dag.nodes[r1].parent == train && dag.nodes[r2].parent == r1);
    int point = dag.nodes[r2].source;
    CHECK(point >= 0 && dag.nodes[point].spec.kind == SH_JOB_TRAIN);
    CHECK(dag.nodes[point].spec.until == 1 && dag.nodes[point].spec.seed == 1);
    CHECK(!strcmp(dag.nodes[r2].spec.parent, dag.nodes[r1].id));
    CHECK(!strcmp(dag.nodes[r2].spec.source, dag.nodes[point].id));
    /* Other techniques have no source; the dense run's id is the same as in
     * a sweep without weight rewinding. */
    int lr1 = dag.rows[sh_dag_find_row(&dag, 0, 0, 1)].node;
    CHECK(dag.nodes[lr1].source == -1);
    sh_sweep_t plain;
    const char *no_wr[] = {"retrain=[lr-rewind]"};
    CHECK(sh_sweep_parse(&plain, design_sweep, strlen(design_sweep), "s", no_wr, 1, &err) == SH_OK);
    sh_dag_t pd;
    CHECK(sh_sweep_expand(&plain, &pd, &err) == SH_OK);
    CHECK(!strcmp(pd.nodes[0].id, dag.nodes[train].id));
    CHECK(!strcmp(pd.nodes[1].id, dag.nodes[lr1].id));
    sh_dag_clear(&pd);
    sh_sweep_clear(&plain);
    /* Topological: parents come first. */
    for (int i = 0; i < dag.n_nodes; i++)
        CHECK(dag.nodes[i].parent < i);
    sh_dag_clear(&dag);
    sh_sweep_clear(&sw);
    return 0;
}

/* Each bad sweep must fail with a message containing every fragment. */
static int expect_error(const char *text, const char *frag1, const char *frag2)
{
    sh_sweep_t sw;
    sh_err_t err = {{0}};
    sh_status_t st = parse(&sw, text, &err);
    if (st == SH_OK) {
        fprintf(stderr, "accepted:\n%s\n", text);
        sh_sweep_clear(&sw);
        return 1;
    }
    if (!strstr(err.msg, frag1) || (frag2 && !strstr(err.msg, frag2))) {
        fprintf(stderr, "message '%s' lacks '%s' / '%s'\n", err.msg, frag1, frag2 ? frag2 : "");
        return 1;
    }
    return 0;
}

#define BASE "dataset: fashion-mnist\nmodel: lenet_300_100\n"

SH_TEST(sweep_errors_name_file_line_key)
{
    CHECK(expect_error(BASE "trian: {epochs: 2}\n", "sweep.yaml:3", "unknown key 'trian'") == 0);
    CHECK(expect_error(BASE "train:\n  epochs: two\n", "sweep.yaml:4", "'train.epochs'") == 0);
    CHECK(expect_error(BASE "train:\n  epochs: 0\n", "sweep.yaml:4", "out of range") == 0);
    CHECK(expect_error(BASE "train: {lr: \"0.1\"}\n", "sweep.yaml:3", "'train.lr'") == 0);
    CHECK(expect_error("dataset: fashion-mnist\nmodel: resnet99\n", "sweep.yaml:2",
                       "resnet99") == 0);
    CHECK(expect_error("model: lenet5\n", "missing 'dataset'", NULL) == 0);
    CHECK(expect_error("dataset: fashion-mnist\n", "missing 'model'", NULL) == 0);
    CHECK(expect_error("dataset: {name: cifar10}\nmodel: resnet20\n", "needs 'path' or 'url'",
                       NULL) == 0);
    CHECK(expect_error(BASE "retrain:\n  - {technique: lr-rewinding}\n", "sweep.yaml:4",
                       "unknown technique 'lr-rewinding'") == 0);
    CHECK(expect_error(BASE "retrain:\n  - lr-rewind\n  - lr-rewind\n", "sweep.yaml:5",
                       "used twice") == 0);
    CHECK(expect_error(BASE "retrain: [{technique: finetune, rewind_epoch: 2}]\n",
                       "'retrain.0.rewind_epoch' does not apply", NULL) == 0);
    CHECK(expect_error(BASE "prune: {ignore: [fc9]}\n", "sweep.yaml:3", "no prunable layer 'fc9'") == 0);
    CHECK(expect_error(BASE "prune: {layer_rates: {fc3.bias: 0.1}}\n", "fc3.bias", NULL) == 0);
    CHECK(expect_error(BASE "prune: {rate: 0.2, densities: [0.5]}\n", "not both", NULL) == 0);
    CHECK(expect_error(BASE "prune: {densities: [0.5, 0.6]}\n", "strictly decreasing", NULL) == 0);
    CHECK(expect_error(BASE "train: {schedule: {milestones: [15, 10]}}\n", "strictly increasing",
                       NULL) == 0);
    CHECK(expect_error(BASE "train: {epochs: 10, schedule: {milestones: [20]}}\n",
                       "milestones.0", "out of range") == 0);
    CHECK(expect_error(BASE "seeds: [1, 1]\n", "listed twice", NULL) == 0);
    CHECK(expect_error(BASE "seeds: [1, 2, 3, 4, 5, 6, 7]\nprune: {rounds: 200}\nretrain: [lr-rewind, finetune, "
                       "reinit, weight-rewind, random-prune, {technique: lr-rewind, name: a}, "
                       "{technique: lr-rewind, name: b}, {technique: lr-rewind, name: c}, "
                       "{technique: lr-rewind, name: d}, {technique: lr-rewind, name: e}, "
                       "{technique: lr-rewind, name: f}, {technique: lr-rewind, name: g}, "
                       "{technique: lr-rewind, name: h}, {technique: lr-rewind, name: i}, "
                       "{technique: lr-rewind, name: j}, {technique: lr-rewind, name: k}]\n"
                       "train: {epochs: 5}\n",
                       "jobs, more than the limit", NULL) == 0);
    CHECK(expect_error("- a\n- b\n", "must be a map", NULL) == 0);
    CHECK(expect_error(BASE "train: {epochs: [1\n", "sweep.yaml:", NULL) == 0);
    CHECK(expect_error(BASE "stop: {max_drop: 2}\n", "'stop.max_drop'", NULL) == 0);
    return 0;
}

SH_TEST(sweep_set_overrides_and_json)
{
    const char *sets[] = {"train.epochs=3", "train.schedule.milestones=[1, 2]", "seeds=[7]",
                          "retrain.0.epochs=2"};
    sh_sweep_t sw;
    sh_err_t err;
    CHECK_MSG(sh_sweep_parse(&sw, design_sweep, strlen(design_sweep), "s.yaml", sets, 4, &err) ==
                  SH_OK, "%s", err.msg);
    CHECK(sw.train.epochs == 3 && sw.train.sched.milestones[1] == 2 && sw.seeds[0] == 7);
    CHECK(sw.retrain[0].epochs == 2);
    sh_sweep_clear(&sw);
    const char *bad[] = {"train.epochs=-1"};
    CHECK(sh_sweep_parse(&sw, design_sweep, strlen(design_sweep), "s.yaml", bad, 1, &err) ==
          SH_EARG);
    CHECK_MSG(strstr(err.msg, "--set") && strstr(err.msg, "train.epochs"), "%s", err.msg);
    /* JSON is accepted and means the same thing. */
    const char *json = "{\"dataset\": \"fashion-mnist\", \"model\": \"lenet5\", \"seeds\": [4],"
                       " \"train\": {\"epochs\": 3, \"lr\": 0.05}}";
    CHECK_MSG(sh_sweep_parse(&sw, json, strlen(json), "s.json", NULL, 0, &err) == SH_OK, "%s",
              err.msg);
    CHECK(sw.train.epochs == 3 && fabs(sw.train.sched.lr - 0.05) < 1e-12 && sw.seeds[0] == 4);
    CHECK(sw.n_retrain == 1 && sw.retrain[0].technique == SH_TECH_LR_REWIND);
    /* The resolved sweep parses back to the same sweep (same job ids). */
    char *yaml = sh_doc_to_yaml(sw.resolved);
    sh_sweep_t again;
    CHECK_MSG(sh_sweep_parse(&again, yaml, strlen(yaml), "resolved", NULL, 0, &err) == SH_OK,
              "%s", err.msg);
    sh_dag_t a, b;
    CHECK(sh_sweep_expand(&sw, &a, &err) == SH_OK && sh_sweep_expand(&again, &b, &err) == SH_OK);
    CHECK(a.n_nodes == b.n_nodes);
    for (int i = 0; i < a.n_nodes; i++)
        CHECK(!strcmp(a.nodes[i].id, b.nodes[i].id));
    sh_dag_clear(&a);
    sh_dag_clear(&b);
    free(yaml);
    sh_sweep_clear(&sw);
    sh_sweep_clear(&again);
    return 0;
}

static int first_id(const char *text, char id[SH_ID_HEX + 1], int node)
{
    sh_sweep_t sw;
    sh_err_t err;
    if (parse(&sw, text, &err) != SH_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    sh_dag_t dag;
    sh_sweep_expand(&sw, &dag, &err);
    memcpy(id, dag.nodes[node].id, SH_ID_HEX + 1);
    sh_dag_clear(&dag);
    sh_sweep_clear(&sw);
    return 0;
}

SH_TEST(sweep_job_ids_are_content_addressed)
{
    char a[65], b[65], c[65], d[65], e[65];
    CHECK(first_id(BASE "train: {lr: 0.1, epochs: 4}\nname: one\n", a, 1) == 0);
    /* Key order, number spelling, sweep name and stopping rule do not matter. */
    CHECK(first_id("name: two\ntrain: {epochs: 4, lr: 1.0e-1}\n" BASE "stop: {max_drop: 0.5}\n",
                   b, 1) == 0);
    CHECK(!strcmp(a, b));
    /* Hyperparameters and technique labels: the former matter, the latter not. */
    CHECK(first_id(BASE "train: {lr: 0.2, epochs: 4}\n", c, 1) == 0);
    CHECK(strcmp(a, c) != 0);
    CHECK(first_id(BASE "train: {lr: 0.1, epochs: 4}\nretrain: [{technique: lr-rewind, name: x}]\n",
                   d, 1) == 0);
    CHECK(!strcmp(a, d));
    /* A dataset path is where data lives, not what it is. */
    CHECK(first_id("dataset: {name: fashion-mnist, path: /elsewhere}\nmodel: lenet_300_100\n"
                   "train: {lr: 0.1, epochs: 4}\n", e, 1) == 0);
    CHECK(!strcmp(a, e));
    return 0;
}

SH_TEST(sweep_dedup_oneshot_densities)
{
    /* Two labels for the same technique and settings share every job. */
    const char *text = BASE "prune: {rounds: 3}\nretrain: [{technique: lr-rewind, name: a},"
                            " {technique: lr-rewind, name: b}]\n";
    sh_sweep_t sw;
    sh_err_t err;
    CHECK(parse(&sw, text, &err) == SH_OK);
    sh_dag_t dag;
    CHECK(sh_sweep_expand(&sw, &dag, &err) == SH_OK);
    CHECK(dag.n_nodes == 4 && dag.n_rows == 7);
    sh_dag_clear(&dag);
    sh_sweep_clear(&sw);
    /* One-shot: every round starts from the dense run. */
    text = BASE "prune: {densities: [0.5, 0.1, 0.02], mode: oneshot}\n";
    CHECK(parse(&sw, text, &err) == SH_OK);
    CHECK(sh_sweep_expand(&sw, &dag, &err) == SH_OK);
    CHECK(dag.n_nodes == 4);
    for (int i = 1; i < 4; i++)
        CHECK(dag.nodes[i].parent == 0 && dag.nodes[i].source == -1);
    CHECK(fabs(dag.nodes[3].spec.density - 0.02) < 1e-12);
    sh_dag_clear(&dag);
    sh_sweep_clear(&sw);
    /* Per-layer rates compound per round; ignored layers are carried. */
    text = BASE "prune: {rate: 0.2, rounds: 2, layer_rates: {fc3: 0.1}, ignore: [fc2]}\n";
    CHECK(parse(&sw, text, &err) == SH_OK);
    CHECK(sh_sweep_expand(&sw, &dag, &err) == SH_OK);
    CHECK(dag.nodes[2].spec.n_layers == 1 && fabs(dag.nodes[2].spec.layers[0].density - 0.81) < 1e-12);
    CHECK(dag.nodes[2].spec.n_ignore == 1 && !strcmp(dag.nodes[2].spec.ignore[0], "fc2"));
    sh_dag_clear(&dag);
    sh_sweep_clear(&sw);
    return 0;
}

SH_TEST(jobspec_round_trip_and_rejects)
{
    sh_sweep_t sw;
    sh_err_t err;
    const char *text = BASE "train: {optimizer: adam, epochs: 6, schedule: {kind: cosine}, augment: true}\n"
                            "prune: {rate: 0.3, rounds: 2, layer_rates: {fc3: 0.1}, ignore: [fc2]}\n"
                            "retrain: [{technique: weight-rewind, rewind_epoch: 2}, finetune, reinit,"
                            " random-prune]\n";
    CHECK_MSG(parse(&sw, text, &err) == SH_OK, "%s", err.msg);
    sh_dag_t dag;
    CHECK(sh_sweep_expand(&sw, &dag, &err) == SH_OK);
    for (int i = 0; i < dag.n_nodes; i++) {
        char *json = sh_jobspec_to_json(&dag.nodes[i].spec);
        sh_jobspec_t back;
        CHECK_MSG(sh_jobspec_parse(&back, json, strlen(json), &err) == SH_OK, "%s: %s", err.msg,
                  json);
        char *again = sh_jobspec_to_json(&back);
        CHECK_MSG(!strcmp(json, again), "%s\nvs\n%s", json, again);
        char id[65];
        CHECK(sh_jobspec_id(&back, id) == 0 && !strcmp(id, dag.nodes[i].id));
        free(json);
        free(again);
    }
    /* Malformed specs (edits of the first prune job's spec). */
    int first_prune = 0;
    while (dag.nodes[first_prune].spec.kind != SH_JOB_PRUNE)
        first_prune++;
    char *json = sh_jobspec_to_json(&dag.nodes[first_prune].spec);
    char *bad = malloc(strlen(json) + 64);
    static const struct {
        const char *from, *to, *want;
    } edits[] = {
        {"\"kind\":\"prune\"", "\"kind\":\"dance\"", "unknown kind"},
        {"\"round\":1", "\"round\":0", "round"},
        {"\"parent\":\"", "\"until\":3,\"parent\":\"", "until"},
        {"\"model\":", "\"modal\":", "unknown key"},
        {"\"shears_job\":1", "\"shears_job\":2", "version"},
        {"\"parent\":\"", "\"parent\":\"zz", "job id"},
    };
    for (size_t k = 0; k < sizeof edits / sizeof edits[0]; k++) {
        char *at = strstr(json, edits[k].from);
        CHECK_MSG(at != NULL, "%s not in %s", edits[k].from, json);
        size_t pre = (size_t)(at - json);
        memcpy(bad, json, pre);
        strcpy(bad + pre, edits[k].to);
        strcat(bad, at + strlen(edits[k].from));
        sh_jobspec_t s;
        CHECK_MSG(sh_jobspec_parse(&s, bad, strlen(bad), &err) == SH_EFORMAT, "%s", bad);
        CHECK_MSG(strstr(err.msg, edits[k].want) != NULL, "'%s' lacks '%s'", err.msg,
                  edits[k].want);
    }
    sh_jobspec_t s;
    CHECK(sh_jobspec_parse(&s, "[1,2]", 5, &err) == SH_EFORMAT);
    CHECK(sh_jobspec_parse(&s, "{", 1, &err) == SH_EFORMAT);
    free(bad);
    free(json);
    sh_dag_clear(&dag);
    sh_sweep_clear(&sw);
    return 0;
}

SH_TEST(result_json_round_trip)
{
    sh_job_result_t r = {.test_accuracy = 0.8934, .test_loss = 0.31, .val_accuracy = NAN,
                         .val_loss = NAN, .train_loss = 0.2, .density = 0.068719476736,
                         .alive = 18321, .prunable = 266200, .epochs = 20, .seconds = 31.5};
    char *json = sh_result_to_json(&r);
    sh_job_result_t back;
    sh_err_t err;
    CHECK_MSG(sh_result_parse(&back, json, strlen(json), &err) == SH_OK, "%s", err.msg);
    CHECK(back.test_accuracy == r.test_accuracy && back.density == r.density);
    CHECK(isnan(back.val_accuracy) && back.alive == 18321 && back.epochs == 20);
    free(json);
    CHECK(sh_result_parse(&back, "{\"test_accuracy\": 1}", 19, &err) == SH_EFORMAT);
    return 0;
}
