/* sh_sweep.c - sweep validation with file:line:key errors, defaults, the
 * resolved document, and DAG expansion. */
#include "sh_sweep.h"

#include "sh_data.h"
#include "sh_model.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name; /* document name for messages */
    sh_err_t *err;
    int failed;
} ctx_t;

static int fail_at(ctx_t *c, const sh_doc_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(ctx_t *c, const sh_doc_t *node, const char *fmt, ...)
{
    if (c->failed)
        return -1;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (node && node->line > 0)
        sh_fail(c->err, SH_EARG, "%s:%d: %s", c->name, node->line, msg);
    else
        sh_fail(c->err, SH_EARG, "%s (from --set): %s", c->name, msg);
    c->failed = 1;
    return -1;
}

/* Rejects keys of a map that are not in `known`. */
static void check_keys(ctx_t *c, const sh_doc_t *map, const char *path,
                       const char *const *known)
{
    if (c->failed || !map)
        return;
    if (map->kind != SH_DOC_MAP) {
        fail_at(c, map, "'%s' must be a map", path);
        return;
    }
    for (int i = 0; i < map->n; i++) {
        int found = 0;
        for (const char *const *k = known; *k && !found; k++)
            found = !strcmp(*k, map->keys[i]);
        if (!found) {
            char list[256] = "";
            for (const char *const *k = known; *k; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                         k == known ? "" : ", ", *k);
            fail_at(c, map->items[i], "unknown key '%s%s%s' (expected one of: %s)", path,
                    path[0] ? "." : "", map->keys[i], list);
            return;
        }
    }
}

static void key_path(char *out, size_t cap, const char *path, const char *key)
{
    snprintf(out, cap, "%s%s%s", path, path[0] ? "." : "", key);
}

static int64_t get_int(ctx_t *c, const sh_doc_t *map, const char *path, const char *key,
                       int64_t def, int64_t lo, int64_t hi)
{
    const sh_doc_t *n = sh_doc_child(map, key);
    if (c->failed || !n)
        return def;
    char full[128];
    key_path(full, sizeof full, path, key);
    int64_t v;
    if (sh_doc_int(n, c->name, full, &v, c->err) != SH_OK) {
        c->failed = 1;
        return def;
    }
    if (v < lo || v > hi)
        fail_at(c, n, "'%s' = %lld is out of range [%lld, %lld]", full, (long long)v,
                (long long)lo, (long long)hi);
    return v;
}

static double get_double(ctx_t *c, const sh_doc_t *map, const char *path, const char *key,
                         double def, double lo, double hi)
{
    const sh_doc_t *n = sh_doc_child(map, key);
    if (c->failed || !n)
        return def;
    char full[128];
    key_path(full, sizeof full, path, key);
    double v;
    if (sh_doc_double(n, c->name, full, &v, c->err) != SH_OK) {
        c->failed = 1;
        return def;
    }
    if (!(v >= lo && v <= hi))
        fail_at(c, n, "'%s' = %g is out of range [%g, %g]", full, v, lo, hi);
    return v;
}

static int get_bool(ctx_t *c, const sh_doc_t *map, const char *path, const char *key, int def)
{
    const sh_doc_t *n = sh_doc_child(map, key);
    if (c->failed || !n)
        return def;
    char full[128];
    key_path(full, sizeof full, path, key);
    int v;
    if (sh_doc_bool(n, c->name, full, &v, c->err) != SH_OK) {
        c->failed = 1;
        return def;
    }
    return v;
}

/* String value copied into out; `def` when absent. */
static void get_str(ctx_t *c, const sh_doc_t *map, const char *path, const char *key,
                    const char *def, char *out, size_t cap)
{
    snprintf(out, cap, "%s", def);
    const sh_doc_t *n = sh_doc_child(map, key);
    if (c->failed || !n)
        return;
    char full[128];
    key_path(full, sizeof full, path, key);
    const char *s;
    if (sh_doc_string(n, c->name, full, &s, c->err) != SH_OK) {
        c->failed = 1;
        return;
    }
    if (strlen(s) >= cap) {
        fail_at(c, n, "'%s' is longer than %zu characters", full, cap - 1);
        return;
    }
    snprintf(out, cap, "%s", s);
}

/* A name from a fixed set; returns its index. */
static int get_choice(ctx_t *c, const sh_doc_t *map, const char *path, const char *key,
                      int def, const char *const *choices)
{
    const sh_doc_t *n = sh_doc_child(map, key);
    if (c->failed || !n)
        return def;
    char val[64], full[128];
    get_str(c, map, path, key, "", val, sizeof val);
    if (c->failed)
        return def;
    for (int i = 0; choices[i]; i++)
        if (!strcmp(val, choices[i]))
            return i;
    key_path(full, sizeof full, path, key);
    char list[200] = "";
    for (int i = 0; choices[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 choices[i]);
    fail_at(c, n, "'%s' is '%s'; expected one of: %s", full, val, list);
    return def;
}

static const sh_doc_t *get_map(ctx_t *c, const sh_doc_t *map, const char *path,
                               const char *key)
{
    const sh_doc_t *n = sh_doc_child(map, key);
    if (c->failed || !n)
        return NULL;
    if (n->kind != SH_DOC_MAP) {
        char full[128];
        key_path(full, sizeof full, path, key);
        fail_at(c, n, "'%s' must be a map", full);
        return NULL;
    }
    return n;
}

/* ---- sections ------------------------------------------------------------ */

static void parse_dataset(ctx_t *c, sh_sweep_t *sw, const sh_doc_t *root)
{
    const sh_doc_t *ds = sh_doc_child(root, "dataset");
    if (!ds) {
        fail_at(c, root, "missing 'dataset'");
        return;
    }
    if (ds->kind == SH_DOC_SCALAR) { /* shorthand: dataset: fashion-mnist */
        get_str(c, root, "", "dataset", "", sw->dataset, sizeof sw->dataset);
    } else {
        static const char *const keys[] = {"name", "path", "url", "sha256", "validation", NULL};
        check_keys(c, ds, "dataset", keys);
        get_str(c, ds, "dataset", "name", "", sw->dataset, sizeof sw->dataset);
        get_str(c, ds, "dataset", "path", "", sw->data_path, sizeof sw->data_path);
        get_str(c, ds, "dataset", "url", "", sw->data_url, sizeof sw->data_url);
        get_str(c, ds, "dataset", "sha256", "", sw->data_sha256, sizeof sw->data_sha256);
        sw->validation = (int)get_int(c, ds, "dataset", "validation", 0, 0, 1000000);
    }
    if (c->failed)
        return;
    static const char *const known[] = {"fashion-mnist", "mnist", "cifar10", NULL};
    int ok = 0;
    for (int i = 0; known[i]; i++)
        ok |= !strcmp(sw->dataset, known[i]);
    if (!ok) {
        fail_at(c, ds, "unknown dataset '%s' (expected fashion-mnist, mnist or cifar10)",
                sw->dataset);
        return;
    }
    if (sw->data_sha256[0]) {
        int hex = strlen(sw->data_sha256) == SH_ID_HEX;
        for (int i = 0; hex && i < SH_ID_HEX; i++)
            hex = (sw->data_sha256[i] >= '0' && sw->data_sha256[i] <= '9') ||
                  (sw->data_sha256[i] >= 'a' && sw->data_sha256[i] <= 'f');
        if (!hex) {
            fail_at(c, ds, "'dataset.sha256' must be 64 lowercase hex digits");
            return;
        }
    }
    if (sw->data_path[0] && sw->data_url[0]) {
        fail_at(c, ds, "give 'dataset.path' or 'dataset.url', not both");
        return;
    }
    if (!sw->data_path[0] && !sw->data_url[0]) {
        if (!strcmp(sw->dataset, "fashion-mnist"))
            snprintf(sw->data_path, sizeof sw->data_path, "/usr/share/datasets/fashion-mnist");
        else
            fail_at(c, ds, "dataset '%s' needs 'path' or 'url'", sw->dataset);
    }
}

static void parse_seeds(ctx_t *c, sh_sweep_t *sw, const sh_doc_t *root)
{
    const sh_doc_t *n = sh_doc_child(root, "seeds");
    sw->n_seeds = 1;
    sw->seeds[0] = 1;
    if (!n)
        n = sh_doc_child(root, "seed");
    if (!n || c->failed)
        return;
    if (n->kind == SH_DOC_SCALAR) {
        int64_t v;
        if (sh_doc_int(n, c->name, "seeds", &v, c->err) != SH_OK || v < 0) {
            c->failed = 1;
            if (v < 0)
                fail_at(c, n, "'seeds' must be non-negative");
            return;
        }
        sw->seeds[0] = (uint64_t)v;
        return;
    }
    if (n->kind != SH_DOC_SEQ || n->n < 1 || n->n > SH_SWEEP_MAX_SEEDS) {
        fail_at(c, n, "'seeds' must be a list of 1 to %d integers", SH_SWEEP_MAX_SEEDS);
        return;
    }
    sw->n_seeds = n->n;
    for (int i = 0; i < n->n && !c->failed; i++) {
        char key[32];
        snprintf(key, sizeof key, "seeds.%d", i);
        int64_t v;
        if (sh_doc_int(n->items[i], c->name, key, &v, c->err) != SH_OK) {
            c->failed = 1;
            return;
        }
        if (v < 0) {
            fail_at(c, n->items[i], "'%s' must be non-negative", key);
            return;
        }
        for (int j = 0; j < i; j++)
            if (sw->seeds[j] == (uint64_t)v) {
                fail_at(c, n->items[i], "seed %lld is listed twice", (long long)v);
                return;
            }
        sw->seeds[i] = (uint64_t)v;
    }
}

static void parse_int_list(ctx_t *c, const sh_doc_t *n, const char *path, int *out, int *count,
                           int max, int lo, int hi)
{
    if (n->kind != SH_DOC_SEQ || n->n > max) {
        fail_at(c, n, "'%s' must be a list of at most %d integers", path, max);
        return;
    }
    *count = n->n;
    for (int i = 0; i < n->n && !c->failed; i++) {
        char key[96];
        snprintf(key, sizeof key, "%s.%d", path, i);
        int64_t v;
        if (sh_doc_int(n->items[i], c->name, key, &v, c->err) != SH_OK) {
            c->failed = 1;
            return;
        }
        if (v < lo || v > hi)
            fail_at(c, n->items[i], "'%s' = %lld is out of range [%d, %d]", key, (long long)v,
                    lo, hi);
        out[i] = (int)v;
    }
}

static void parse_train(ctx_t *c, sh_sweep_t *sw, const sh_doc_t *root)
{
    sh_train_spec_t *t = &sw->train;
    const sh_doc_t *tr = get_map(c, root, "", "train");
    static const char *const keys[] = {"epochs", "batch", "optimizer", "lr", "momentum",
                                       "nesterov", "weight_decay", "beta1", "beta2", "eps",
                                       "schedule", "augment", NULL};
    check_keys(c, tr, "train", keys);
    t->epochs = (int)get_int(c, tr, "train", "epochs", 20, 1, 10000);
    t->batch = (int)get_int(c, tr, "train", "batch", 128, 1, 65536);
    static const char *const opts[] = {"sgd", "adam", NULL};
    int opt = get_choice(c, tr, "train", "optimizer", 0, opts);
    t->opt.kind = opt == 1 ? SH_OPT_ADAM : SH_OPT_SGD;
    t->opt.weight_decay = (float)get_double(c, tr, "train", "weight_decay", 1e-4, 0, 1);
    if (t->opt.kind == SH_OPT_SGD) {
        t->opt.momentum = (float)get_double(c, tr, "train", "momentum", 0.9, 0, 0.999999);
        t->opt.nesterov = get_bool(c, tr, "train", "nesterov", 0);
    } else {
        t->opt.beta1 = (float)get_double(c, tr, "train", "beta1", 0.9, 0, 0.999999);
        t->opt.beta2 = (float)get_double(c, tr, "train", "beta2", 0.999, 0, 0.999999);
        t->opt.eps = (float)get_double(c, tr, "train", "eps", 1e-8, 1e-12, 1);
    }
    t->sched.lr = get_double(c, tr, "train", "lr", t->opt.kind == SH_OPT_ADAM ? 1e-3 : 0.1,
                             1e-9, 100);
    const sh_doc_t *sc = get_map(c, tr, "train", "schedule");
    static const char *const skeys[] = {"kind", "milestones", "gamma", "min_lr",
                                        "warmup_epochs", NULL};
    check_keys(c, sc, "train.schedule", skeys);
    static const char *const kinds[] = {"constant", "multistep", "cosine", NULL};
    int def_kind = (sc && sh_doc_child(sc, "milestones")) ? 1 : 0;
    int kind = get_choice(c, sc, "train.schedule", "kind", def_kind, kinds);
    t->sched.kind = kind == 1 ? SH_SCHED_MULTISTEP : kind == 2 ? SH_SCHED_COSINE
                                                             : SH_SCHED_CONSTANT;
    t->sched.total_epochs = t->epochs;
    if (t->sched.kind == SH_SCHED_MULTISTEP) {
        const sh_doc_t *ms = sh_doc_child(sc, "milestones");
        if (!ms) {
            fail_at(c, sc, "'train.schedule' of kind multistep needs 'milestones'");
            return;
        }
        parse_int_list(c, ms, "train.schedule.milestones", t->sched.milestones,
                       &t->sched.n_milestones, SH_MAX_MILESTONES, 1, t->epochs);
        for (int i = 1; i < t->sched.n_milestones && !c->failed; i++)
            if (t->sched.milestones[i] <= t->sched.milestones[i - 1])
                fail_at(c, ms, "'train.schedule.milestones' must be strictly increasing");
        t->sched.gamma = get_double(c, sc, "train.schedule", "gamma", 0.1, 1e-6, 1);
    } else if (t->sched.kind == SH_SCHED_COSINE) {
        t->sched.min_lr = get_double(c, sc, "train.schedule", "min_lr", 0, 0, t->sched.lr);
    }
    t->sched.warmup_epochs = get_double(c, sc, "train.schedule", "warmup_epochs", 0, 0,
                                        t->epochs);
    const sh_doc_t *aug = sh_doc_child(tr, "augment");
    if (aug && aug->kind == SH_DOC_MAP) {
        static const char *const akeys[] = {"crop", "flip", NULL};
        check_keys(c, aug, "train.augment", akeys);
        t->augment = (get_bool(c, aug, "train.augment", "crop", 0) ? SH_AUG_CROP : 0) |
                     (get_bool(c, aug, "train.augment", "flip", 0) ? SH_AUG_FLIP : 0);
    } else if (aug) {
        t->augment = get_bool(c, tr, "train", "augment", 0) ? SH_AUG_CROP | SH_AUG_FLIP : 0;
    }
}

static void parse_layer_names(ctx_t *c, const sh_model_t *m, const sh_doc_t *n,
                              const char *path, char (*out)[SH_NAME_MAX], int *count)
{
    if (n->kind != SH_DOC_SEQ || n->n > SH_MAX_LAYER_RULES) {
        fail_at(c, n, "'%s' must be a list of at most %d layer names", path,
                SH_MAX_LAYER_RULES);
        return;
    }
    for (int i = 0; i < n->n && !c->failed; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s.%d", path, i);
        const char *s;
        if (sh_doc_string(n->items[i], c->name, key, &s, c->err) != SH_OK) {
            c->failed = 1;
            return;
        }
        int t = sh_model_find_tensor(m, s);
        if (t < 0 || !m->tensors[t].prunable || strlen(s) >= SH_NAME_MAX) {
            fail_at(c, n->items[i], "'%s': model %s has no prunable layer '%s'", key, m->arch,
                    s);
            return;
        }
        snprintf(out[i], SH_NAME_MAX, "%s", s);
        (*count)++;
    }
}

static void parse_prune(ctx_t *c, sh_sweep_t *sw, const sh_doc_t *root, const sh_model_t *m)
{
    const sh_doc_t *pr = get_map(c, root, "", "prune");
    static const char *const keys[] = {"method", "scope", "rate", "rounds", "densities",
                                       "mode", "layer_rates", "ignore", NULL};
    check_keys(c, pr, "prune", keys);
    static const char *const methods[] = {"magnitude", "random", NULL};
    static const char *const scopes[] = {"global", "layerwise", NULL};
    static const char *const modes[] = {"iterative", "oneshot", NULL};
    sw->method = get_choice(c, pr, "prune", "method", 0, methods) ? SH_PRUNE_RANDOM
                                                                   : SH_PRUNE_MAGNITUDE;
    sw->scope = get_choice(c, pr, "prune", "scope", 0, scopes) ? SH_SCOPE_LAYERWISE
                                                                : SH_SCOPE_GLOBAL;
    sw->oneshot = get_choice(c, pr, "prune", "mode", 0, modes);
    const sh_doc_t *dens = sh_doc_child(pr, "densities");
    if (dens && (sh_doc_child(pr, "rate") || sh_doc_child(pr, "rounds"))) {
        fail_at(c, dens, "give 'prune.densities' or 'prune.rate' and 'prune.rounds', not both");
        return;
    }
    if (dens) {
        if (dens->kind != SH_DOC_SEQ || dens->n < 1 || dens->n > SH_SWEEP_MAX_ROUNDS) {
            fail_at(c, dens, "'prune.densities' must be a list of 1 to %d numbers",
                    SH_SWEEP_MAX_ROUNDS);
            return;
        }
        sw->rounds = dens->n;
        for (int i = 0; i < dens->n && !c->failed; i++) {
            char key[64];
            snprintf(key, sizeof key, "prune.densities.%d", i);
            double v;
            if (sh_doc_double(dens->items[i], c->name, key, &v, c->err) != SH_OK) {
                c->failed = 1;
                return;
            }
            if (!(v > 0 && v < 1))
                fail_at(c, dens->items[i], "'%s' = %g must be in (0, 1)", key, v);
            else if (i > 0 && !(v < sw->densities[i - 1]))
                fail_at(c, dens->items[i], "'prune.densities' must be strictly decreasing");
            sw->densities[i] = v;
        }
    } else {
        sw->rate = get_double(c, pr, "prune", "rate", 0.2, 1e-6, 0.999999);
        sw->rounds = (int)get_int(c, pr, "prune", "rounds", 10, 1, SH_SWEEP_MAX_ROUNDS);
    }
    const sh_doc_t *lr = sh_doc_child(pr, "layer_rates");
    if (lr && !c->failed) {
        if (lr->kind != SH_DOC_MAP || lr->n > SH_MAX_LAYER_RULES) {
            fail_at(c, lr, "'prune.layer_rates' must be a map of at most %d layer: rate",
                    SH_MAX_LAYER_RULES);
            return;
        }
        for (int i = 0; i < lr->n && !c->failed; i++) {
            int t = sh_model_find_tensor(m, lr->keys[i]);
            if (t < 0 || !m->tensors[t].prunable || strlen(lr->keys[i]) >= SH_NAME_MAX) {
                fail_at(c, lr->items[i], "'prune.layer_rates': model %s has no prunable "
                        "layer '%s'", m->arch, lr->keys[i]);
                return;
            }
            snprintf(sw->layer_rates[i].layer, SH_NAME_MAX, "%s", lr->keys[i]);
            sw->layer_rates[i].density =
                get_double(c, lr, "prune.layer_rates", lr->keys[i], 0, 0, 0.999999);
            sw->n_layer_rates++;
        }
    }
    const sh_doc_t *ign = sh_doc_child(pr, "ignore");
    if (ign && !c->failed)
        parse_layer_names(c, m, ign, "prune.ignore", sw->ignore, &sw->n_ignore);
}

static void parse_retrain(ctx_t *c, sh_sweep_t *sw, const sh_doc_t *root)
{
    const sh_doc_t *rt = sh_doc_child(root, "retrain");
    const int T = sw->train.epochs;
    if (!rt) {
        sw->n_retrain = 1;
        sw->retrain[0] = (sh_retrain_t){.label = "lr-rewind", .technique = SH_TECH_LR_REWIND,
                                        .epochs = T};
        return;
    }
    sh_doc_t single;
    sh_doc_t *one[1];
    if (rt->kind == SH_DOC_MAP) { /* a single technique, not in a list */
        one[0] = (sh_doc_t *)rt;
        single = (sh_doc_t){.kind = SH_DOC_SEQ, .line = rt->line, .n = 1, .items = one};
        rt = &single;
    }
    if (rt->kind != SH_DOC_SEQ || rt->n < 1 || rt->n > SH_SWEEP_MAX_TECHNIQUES) {
        fail_at(c, rt, "'retrain' must be a list of 1 to %d techniques",
                SH_SWEEP_MAX_TECHNIQUES);
        return;
    }
    double final_lr = sh_sched_final_lr(&sw->train.sched, T, 1);
    for (int i = 0; i < rt->n && !c->failed; i++) {
        const sh_doc_t *item = rt->items[i];
        char path[32];
        snprintf(path, sizeof path, "retrain.%d", i);
        sh_retrain_t *r = &sw->retrain[i];
        if (item->kind == SH_DOC_SCALAR) { /* shorthand: - lr-rewind */
            const char *s;
            if (sh_doc_string(item, c->name, path, &s, c->err) != SH_OK) {
                c->failed = 1;
                return;
            }
            if (sh_technique_parse(s, &r->technique) != 0) {
                fail_at(c, item, "'%s': unknown technique '%s' (expected finetune, "
                        "weight-rewind, lr-rewind, reinit or random-prune)", path, s);
                return;
            }
            snprintf(r->label, sizeof r->label, "%s", s);
            r->epochs = T;
            r->lr = final_lr;
        } else {
            static const char *const keys[] = {"technique", "name", "epochs", "rewind_epoch", "lr",
                                               NULL};
            check_keys(c, item, path, keys);
            char tech[32];
            get_str(c, item, path, "technique", "", tech, sizeof tech);
            if (c->failed)
                return;
            if (!tech[0] || sh_technique_parse(tech, &r->technique) != 0) {
                fail_at(c, item, "'%s.technique': %s%s%s (expected finetune, weight-rewind, "
                        "lr-rewind, reinit or random-prune)", path, tech[0] ? "unknown technique '" : "missing",
                        tech, tech[0] ? "'" : "");
                return;
            }
            get_str(c, item, path, "name", tech, r->label, sizeof r->label);
            int max_epochs = r->technique == SH_TECH_FINETUNE ? 10000 : T;
            r->epochs = (int)get_int(c, item, path, "epochs", T, 1, max_epochs);
            r->rewind_epoch = (int)get_int(c, item, path, "rewind_epoch", 0, 0, T - 1);
            /* Any positive LR: the default, the schedule's final LR, can be
             * far below train.lr's floor of 1e-9 and must read back. */
            r->lr = get_double(c, item, path, "lr", final_lr, DBL_MIN, 100);
            const sh_doc_t *bad = NULL;
            const char *what = NULL;
            if (r->technique != SH_TECH_WEIGHT_REWIND && (bad = sh_doc_child(item, "rewind_epoch")))
                what = "rewind_epoch";
            else if (r->technique == SH_TECH_WEIGHT_REWIND && (bad = sh_doc_child(item, "epochs")))
                what = "epochs";
            else if (r->technique == SH_TECH_REINIT && (bad = sh_doc_child(item, "epochs")))
                what = "epochs";
            else if (r->technique != SH_TECH_FINETUNE && (bad = sh_doc_child(item, "lr")))
                what = "lr";
            if (what) {
                fail_at(c, bad, "'%s.%s' does not apply to %s", path, what, tech);
                return;
            }
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(sw->retrain[j].label, r->label)) {
                fail_at(c, item, "technique name '%s' is used twice; give one a 'name'",
                        r->label);
                return;
            }
        sw->n_retrain++;
    }
}

/* ---- resolved document ---------------------------------------------------- */

/* Shortest decimal text that reads back as v (as a double, or as a float
 * for the single-precision fields). */
static const char *num_d(char buf[40], double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, 40, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

static const char *num_f(char buf[40], float v)
{
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, 40, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            break;
    }
    return buf;
}

/* Longest quote() output for a string field of the sweep: every character
 * escaped as \uXXXX (6 bytes per byte in the worst case), quotes, NUL. */
#define QUOTED_MAX (6 * sizeof ((sh_sweep_t *)0)->data_path + 3)
/* Longest flow list: 200 densities of up to 23 characters, ", " between. */
#define LIST_MAX (SH_SWEEP_MAX_ROUNDS * 25 + 8)

static int rset(sh_doc_t *root, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rset(sh_doc_t *root, const char *fmt, ...)
{
    char a[8192]; /* a key and QUOTED_MAX or LIST_MAX bytes of value */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(a, sizeof a, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof a)
        return -1;
    return sh_doc_set(root, a, NULL) == SH_OK ? 0 : -1;
}


/* JSON-quotes s (UTF-8, as libyaml checked it) into out, for values that are
 * arbitrary text. Besides '"', '\\' and C0 controls, the characters libyaml
 * rejects or folds when they appear raw (DEL, C1 controls including NEL,
 * U+2028/9, U+FEFF, U+FFFE/F) are escaped, so the text reads back as s. */
static void quote(char *out, size_t cap, const char *s)
{
    size_t k = 0;
    if (cap < 3)
        return;
    out[k++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && k + 8 < cap;) {
        int n = *p < 0x80 ? 1 : *p < 0xe0 ? 2 : *p < 0xf0 ? 3 : 4;
        uint32_t cp = n == 1 ? *p : *p & (0x7fu >> n);
        for (int i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) { /* not UTF-8 after all: byte by byte */
                n = 1;
                cp = *p;
                break;
            }
            cp = cp << 6 | (p[i] & 0x3fu);
        }
        if (cp == '"' || cp == '\\') {
            out[k++] = '\\';
            out[k++] = (char)cp;
        } else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
                   cp == 0xfeff || cp == 0xfffe || cp == 0xffff) {
            k += (size_t)snprintf(out + k, cap - k, "\\u%04x", (unsigned)cp);
        } else {
            memcpy(out + k, p, (size_t)n);
            k += (size_t)n;
        }
        p += n;
    }
    out[k++] = '"';
    out[k] = '\0';
}

static sh_doc_t *build_resolved(const sh_sweep_t *sw)
{
    sh_doc_t *r;
    if (sh_doc_parse(&r, "{}", 2, "resolved", NULL) != SH_OK)
        return NULL;
    char q[QUOTED_MAX], nb[40];
    int rc = 0;
    quote(q, sizeof q, sw->name);
    rc |= rset(r, "name=%s", q);
    rc |= rset(r, "dataset.name=%s", sw->dataset);
    if (sw->data_path[0]) {
        quote(q, sizeof q, sw->data_path);
        rc |= rset(r, "dataset.path=%s", q);
    }
    if (sw->data_url[0]) {
        quote(q, sizeof q, sw->data_url);
        rc |= rset(r, "dataset.url=%s", q);
    }
    if (sw->data_sha256[0])
        rc |= rset(r, "dataset.sha256=\"%s\"", sw->data_sha256);
    rc |= rset(r, "dataset.validation=%d", sw->validation);
    rc |= rset(r, "model=%s", sw->model);
    char list[LIST_MAX] = "[";
    for (int i = 0; i < sw->n_seeds; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%llu", i ? ", " : "",
                 (unsigned long long)sw->seeds[i]);
    strcat(list, "]");
    rc |= rset(r, "seeds=%s", list);
    const sh_train_spec_t *t = &sw->train;
    rc |= rset(r, "train.epochs=%d", t->epochs);
    rc |= rset(r, "train.batch=%d", t->batch);
    rc |= rset(r, "train.optimizer=%s", t->opt.kind == SH_OPT_ADAM ? "adam" : "sgd");
    rc |= rset(r, "train.lr=%s", num_d(nb, t->sched.lr));
    if (t->opt.kind == SH_OPT_ADAM) {
        rc |= rset(r, "train.beta1=%s", num_f(nb, t->opt.beta1));
        rc |= rset(r, "train.beta2=%s", num_f(nb, t->opt.beta2));
        rc |= rset(r, "train.eps=%s", num_f(nb, t->opt.eps));
    } else {
        rc |= rset(r, "train.momentum=%s", num_f(nb, t->opt.momentum));
        rc |= rset(r, "train.nesterov=%s", t->opt.nesterov ? "true" : "false");
    }
    rc |= rset(r, "train.weight_decay=%s", num_f(nb, t->opt.weight_decay));
    static const char *const kinds[] = {"", "constant", "multistep", "cosine"};
    rc |= rset(r, "train.schedule.kind=%s", kinds[t->sched.kind]);
    if (t->sched.kind == SH_SCHED_MULTISTEP) {
        strcpy(list, "[");
        for (int i = 0; i < t->sched.n_milestones; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", i ? ", " : "",
                     t->sched.milestones[i]);
        strcat(list, "]");
        rc |= rset(r, "train.schedule.milestones=%s", list);
        rc |= rset(r, "train.schedule.gamma=%s", num_d(nb, t->sched.gamma));
    } else if (t->sched.kind == SH_SCHED_COSINE) {
        rc |= rset(r, "train.schedule.min_lr=%s", num_d(nb, t->sched.min_lr));
    }
    rc |= rset(r, "train.schedule.warmup_epochs=%s", num_d(nb, t->sched.warmup_epochs));
    rc |= rset(r, "train.augment.crop=%s", (t->augment & SH_AUG_CROP) ? "true" : "false");
    rc |= rset(r, "train.augment.flip=%s", (t->augment & SH_AUG_FLIP) ? "true" : "false");
    rc |= rset(r, "prune.method=%s", sw->method == SH_PRUNE_RANDOM ? "random" : "magnitude");
    rc |= rset(r, "prune.scope=%s", sw->scope == SH_SCOPE_LAYERWISE ? "layerwise" : "global");
    rc |= rset(r, "prune.mode=%s", sw->oneshot ? "oneshot" : "iterative");
    if (sw->rate > 0) {
        rc |= rset(r, "prune.rate=%s", num_d(nb, sw->rate));
        rc |= rset(r, "prune.rounds=%d", sw->rounds);
    } else {
        strcpy(list, "[");
        for (int i = 0; i < sw->rounds; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     num_d(nb, sw->densities[i]));
        strcat(list, "]");
        rc |= rset(r, "prune.densities=%s", list);
    }
    /* One flow map, not a path per layer: layer names may hold dots
     * ("layer1.0.conv1", "fc3.weight"), which a path would split. */
    strcpy(list, "{");
    for (int i = 0; i < sw->n_layer_rates; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\": %s", i ? ", " : "",
                 sw->layer_rates[i].layer, num_d(nb, sw->layer_rates[i].density));
    strcat(list, "}");
    rc |= rset(r, "prune.layer_rates=%s", list);
    strcpy(list, "[");
    for (int i = 0; i < sw->n_ignore; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 sw->ignore[i]);
    strcat(list, "]");
    rc |= rset(r, "prune.ignore=%s", list);
    rc |= rset(r, "retrain=[]");
    for (int i = 0; i < sw->n_retrain; i++) {
        const sh_retrain_t *rt = &sw->retrain[i];
        char item[512];
        quote(q, sizeof q, rt->label);
        int n = snprintf(item, sizeof item, "{technique: %s, name: %s",
                         sh_technique_name(rt->technique), q);
        if (rt->technique == SH_TECH_WEIGHT_REWIND)
            n += snprintf(item + n, sizeof item - (size_t)n, ", rewind_epoch: %d",
                          rt->rewind_epoch);
        else if (rt->technique != SH_TECH_REINIT)
            n += snprintf(item + n, sizeof item - (size_t)n, ", epochs: %d", rt->epochs);
        if (rt->technique == SH_TECH_FINETUNE)
            n += snprintf(item + n, sizeof item - (size_t)n, ", lr: %s", num_d(nb, rt->lr));
        snprintf(item + n, sizeof item - (size_t)n, "}");
        /* Append by index: the list grows one item at a time. */
        sh_doc_t *seq = sh_doc_child(r, "retrain");
        sh_doc_t *parsed;
        if (!seq || sh_doc_parse(&parsed, item, strlen(item), "resolved", NULL) != SH_OK) {
            rc = -1;
            break;
        }
        sh_doc_t **items = realloc(seq->items, sizeof *items * (size_t)(seq->n + 1));
        if (!items) {
            sh_doc_free(&parsed);
            rc = -1;
            break;
        }
        seq->items = items;
        seq->items[seq->n++] = parsed;
    }
    if (sw->has_stop)
        rc |= rset(r, "stop.max_drop=%s", num_d(nb, sw->max_drop));
    if (rc) {
        sh_doc_free(&r);
        return NULL;
    }
    return r;
}

/* ---- entry points ---------------------------------------------------------- */

sh_status_t sh_sweep_parse(sh_sweep_t *sw, const char *text, size_t len, const char *name,
                           const char *const *overrides, int n_overrides, sh_err_t *err)
{
    memset(sw, 0, sizeof *sw);
    sh_doc_t *root;
    if (sh_doc_parse(&root, text, len, name, err) != SH_OK)
        return SH_EARG;
    for (int i = 0; i < n_overrides; i++)
        if (sh_doc_set(root, overrides[i], err) != SH_OK) {
            sh_doc_free(&root);
            return SH_EARG;
        }
    ctx_t c = {.name = name, .err = err};
    if (root->kind != SH_DOC_MAP) {
        fail_at(&c, root, "a sweep must be a map of keys");
        sh_doc_free(&root);
        return SH_EARG;
    }
    static const char *const keys[] = {"name", "dataset", "model", "seeds", "seed", "train",
                                       "prune", "retrain", "stop", NULL};
    check_keys(&c, root, "", keys);
    const char *base = strrchr(name, '/');
    char def_name[64];
    snprintf(def_name, sizeof def_name, "%s", base ? base + 1 : name);
    char *dot = strrchr(def_name, '.');
    if (dot && dot != def_name)
        *dot = '\0';
    get_str(&c, root, "", "name", def_name, sw->name, sizeof sw->name);
    parse_dataset(&c, sw, root);
    if (!c.failed && !sh_doc_child(root, "model"))
        fail_at(&c, root, "missing 'model' (one of lenet_300_100, lenet5, conv2, conv4, "
                "conv6, resnet20, resnet32, resnet56, vgg16)");
    get_str(&c, root, "", "model", "", sw->model, sizeof sw->model);
    sh_model_t *m = NULL;
    if (!c.failed) {
        /* Layer names do not depend on the input size; 3x32x32 fits all. */
        sh_err_t merr;
        if (sh_model_new(&m, sw->model, 3, 32, 32, 10, &merr) != SH_OK)
            fail_at(&c, sh_doc_child(root, "model"), "'model': %s", merr.msg);
    }
    parse_seeds(&c, sw, root);
    parse_train(&c, sw, root);
    if (!c.failed)
        parse_prune(&c, sw, root, m);
    parse_retrain(&c, sw, root);
    const sh_doc_t *stop = get_map(&c, root, "", "stop");
    if (stop && !c.failed) {
        static const char *const stop_keys[] = {"max_drop", NULL};
        check_keys(&c, stop, "stop", stop_keys);
        sw->has_stop = sh_doc_child(stop, "max_drop") != NULL;
        sw->max_drop = get_double(&c, stop, "stop", "max_drop", 1.0, 0, 1);
    }
    sh_model_destroy(&m);
    long jobs = (long)sw->n_seeds * (1 + (long)sw->n_retrain * sw->rounds);
    if (!c.failed && jobs > SH_SWEEP_MAX_JOBS)
        fail_at(&c, root, "the sweep expands to %ld jobs, more than the limit of %d", jobs,
                SH_SWEEP_MAX_JOBS);
    sh_doc_free(&root);
    if (!c.failed) {
        sw->resolved = build_resolved(sw);
        if (!sw->resolved)
            return sh_fail(err, SH_ENOMEM, "out of memory resolving the sweep");
    }
    return c.failed ? SH_EARG : SH_OK;
}

sh_status_t sh_sweep_load(sh_sweep_t *sw, const char *path, const char *const *overrides,
                          int n_overrides, sh_err_t *err)
{
    memset(sw, 0, sizeof *sw);
    FILE *f = fopen(path, "rb");
    if (!f)
        return sh_fail(err, SH_EIO, "%s: cannot open sweep file", path);
    char *buf = malloc(SH_DOC_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return sh_fail(err, SH_ENOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, SH_DOC_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    sh_status_t st;
    if (bad)
        st = sh_fail(err, SH_EIO, "%s: read error", path);
    else if (n > SH_DOC_MAX_BYTES)
        st = sh_fail(err, SH_EARG, "%s: sweep file is larger than %u bytes", path,
                     SH_DOC_MAX_BYTES);
    else
        st = sh_sweep_parse(sw, buf, n, path, overrides, n_overrides, err);
    free(buf);
    return st;
}

void sh_sweep_clear(sh_sweep_t *sw) { sh_doc_free(&sw->resolved); }

int sh_sweep_rounds(const sh_sweep_t *sw) { return sw->rounds; }

double sh_sweep_density(const sh_sweep_t *sw, int round)
{
    if (sw->rate > 0)
        return pow(1.0 - sw->rate, round);
    return sw->densities[round - 1];
}

/* ---- expansion -------------------------------------------------------------- */

static int add_node(sh_dag_t *dag, const sh_jobspec_t *spec, int parent, int source)
{
    char id[SH_ID_HEX + 1];
    if (sh_jobspec_id(spec, id) != 0)
        return -1;
    for (int i = 0; i < dag->n_nodes; i++)
        if (!strcmp(dag->nodes[i].id, id))
            return i;
    sh_dag_node_t *nodes = realloc(dag->nodes, sizeof *nodes * (size_t)(dag->n_nodes + 1));
    if (!nodes)
        return -1;
    dag->nodes = nodes;
    sh_dag_node_t *n = &dag->nodes[dag->n_nodes];
    memcpy(n->id, id, sizeof id);
    n->spec = *spec;
    n->parent = parent;
    n->source = source;
    return dag->n_nodes++;
}

static int add_row(sh_dag_t *dag, int node, int seed_index, int technique, int round)
{
    sh_dag_row_t *rows = realloc(dag->rows, sizeof *rows * (size_t)(dag->n_rows + 1));
    if (!rows)
        return -1;
    dag->rows = rows;
    dag->rows[dag->n_rows++] = (sh_dag_row_t){node, seed_index, technique, round};
    return 0;
}

sh_status_t sh_sweep_expand(const sh_sweep_t *sw, sh_dag_t *dag, sh_err_t *err)
{
    memset(dag, 0, sizeof *dag);
    sh_jobspec_t base = {0};
    snprintf(base.dataset, sizeof base.dataset, "%s", sw->dataset);
    memcpy(base.data_sha256, sw->data_sha256, sizeof base.data_sha256);
    base.validation = sw->validation;
    snprintf(base.model, sizeof base.model, "%s", sw->model);
    base.train = sw->train;
    sh_jobspec_t train = base;
    train.kind = SH_JOB_TRAIN;
    train.until = sw->train.epochs;
    for (int s = 0; s < sw->n_seeds; s++) {
        train.seed = sw->seeds[s];
        int tnode = add_node(dag, &train, -1, -1);
        if (tnode < 0 || add_row(dag, tnode, s, -1, 0) != 0)
            goto nomem;
        for (int ti = 0; ti < sw->n_retrain; ti++) {
            const sh_retrain_t *rt = &sw->retrain[ti];
            /* Weight rewinding starts from the dense run's epoch-k state:
             * its own job (the first k epochs), so the dense run's id does
             * not depend on which rewind points sweeps ask for. */
            int rewind = -1;
            if (rt->technique == SH_TECH_WEIGHT_REWIND) {
                sh_jobspec_t point = train;
                point.until = rt->rewind_epoch;
                if ((rewind = add_node(dag, &point, -1, -1)) < 0)
                    goto nomem;
            }
            int parent = tnode;
            for (int round = 1; round <= sw->rounds; round++) {
                sh_jobspec_t p = base;
                p.kind = SH_JOB_PRUNE;
                p.seed = sw->seeds[s];
                memcpy(p.parent, dag->nodes[parent].id, sizeof p.parent);
                if (rewind >= 0)
                    memcpy(p.source, dag->nodes[rewind].id, sizeof p.source);
                p.round = round;
                p.technique = rt->technique;
                p.tech_epochs = rt->technique == SH_TECH_REINIT ? sw->train.epochs : rt->epochs;
                p.rewind_epoch = rt->technique == SH_TECH_WEIGHT_REWIND ? rt->rewind_epoch : 0;
                p.tech_lr = rt->technique == SH_TECH_FINETUNE ? rt->lr : 0.0;
                p.method = rt->technique == SH_TECH_RANDOM_PRUNE ? SH_PRUNE_RANDOM : sw->method;
                p.scope = sw->scope;
                p.density = sh_sweep_density(sw, round);
                for (int l = 0; l < sw->n_layer_rates; l++) {
                    snprintf(p.layers[l].layer, SH_NAME_MAX, "%s", sw->layer_rates[l].layer);
                    p.layers[l].density = pow(1.0 - sw->layer_rates[l].density, round);
                }
                p.n_layers = sw->n_layer_rates;
                memcpy(p.ignore, sw->ignore, sizeof p.ignore);
                p.n_ignore = sw->n_ignore;
                int node = add_node(dag, &p, parent, rewind);
                if (node < 0 || add_row(dag, node, s, ti, round) != 0)
                    goto nomem;
                if (!sw->oneshot)
                    parent = node;
            }
        }
    }
    return SH_OK;
nomem:
    sh_dag_clear(dag);
    return sh_fail(err, SH_ENOMEM, "out of memory expanding the sweep");
}

void sh_dag_clear(sh_dag_t *dag)
{
    free(dag->nodes);
    free(dag->rows);
    memset(dag, 0, sizeof *dag);
}

int sh_dag_find_row(const sh_dag_t *dag, int seed_index, int technique, int round)
{
    for (int i = 0; i < dag->n_rows; i++)
        if (dag->rows[i].seed_index == seed_index && dag->rows[i].technique == technique &&
            dag->rows[i].round == round)
            return i;
    return -1;
}
