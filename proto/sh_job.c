/* sh_job.c - job spec <-> canonical JSON, and content ids (SHA-256 through
 * libsodium). The JSON is built as an sh_doc tree and printed with sorted
 * keys, so field order in this file never changes an id. */
#include "sh_job.h"

#include "sh_data.h"
#include "sh_doc.h"
#include "sh_hash.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tech_names[] = {
    [SH_TECH_FINETUNE] = "finetune",         [SH_TECH_WEIGHT_REWIND] = "weight-rewind",
    [SH_TECH_LR_REWIND] = "lr-rewind",       [SH_TECH_REINIT] = "reinit",
    [SH_TECH_RANDOM_PRUNE] = "random-prune",
};

const char *sh_technique_name(sh_technique_t t)
{
    return t >= SH_TECH_FINETUNE && t <= SH_TECH_RANDOM_PRUNE ? tech_names[t] : "none";
}

int sh_technique_parse(const char *name, sh_technique_t *t)
{
    for (int i = SH_TECH_FINETUNE; i <= SH_TECH_RANDOM_PRUNE; i++)
        if (!strcmp(name, tech_names[i])) {
            *t = (sh_technique_t)i;
            return 0;
        }
    return -1;
}

/* ---- building ------------------------------------------------------------ */

/* Sets path=value in the tree; value is YAML/JSON text. */
static int jset(sh_doc_t *root, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int jset(sh_doc_t *root, const char *path, const char *fmt, ...)
{
    char value[1024], assignment[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    snprintf(assignment, sizeof assignment, "%s=%s", path, value);
    return sh_doc_set(root, assignment, NULL) == SH_OK ? 0 : -1;
}

/* Shortest %g text that reads back as the same double. */
static void fmt_double(char *buf, size_t cap, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* Shortest %g text that reads back as the same float. */
static void fmt_float(char *buf, size_t cap, float v)
{
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, cap, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            return;
    }
}

static int set_float(sh_doc_t *root, const char *path, float v)
{
    char num[40];
    fmt_float(num, sizeof num, v);
    return jset(root, path, "%s", num);
}

static int set_double(sh_doc_t *root, const char *path, double v)
{
    char num[40];
    fmt_double(num, sizeof num, v);
    return jset(root, path, "%s", num);
}

static const char *sched_kind_name(sh_sched_kind_t k)
{
    return k == SH_SCHED_MULTISTEP ? "multistep" : k == SH_SCHED_COSINE ? "cosine" : "constant";
}

static int build_train(sh_doc_t *root, const sh_train_spec_t *t)
{
    char list[256] = "[";
    for (int i = 0; i < t->sched.n_milestones; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", i ? "," : "",
                 t->sched.milestones[i]);
    strcat(list, "]");
    int rc = 0;
    rc |= jset(root, "train.epochs", "%d", t->epochs);
    rc |= jset(root, "train.batch", "%d", t->batch);
    rc |= jset(root, "train.optimizer", "%s", t->opt.kind == SH_OPT_ADAM ? "adam" : "sgd");
    rc |= set_float(root, "train.weight_decay", t->opt.weight_decay);
    if (t->opt.kind == SH_OPT_ADAM) {
        rc |= set_float(root, "train.beta1", t->opt.beta1);
        rc |= set_float(root, "train.beta2", t->opt.beta2);
        rc |= set_float(root, "train.eps", t->opt.eps);
    } else {
        rc |= set_float(root, "train.momentum", t->opt.momentum);
        rc |= jset(root, "train.nesterov", "%s", t->opt.nesterov ? "true" : "false");
    }
    rc |= set_double(root, "train.lr", t->sched.lr);
    rc |= jset(root, "train.schedule.kind", "%s", sched_kind_name(t->sched.kind));
    if (t->sched.kind == SH_SCHED_MULTISTEP) {
        rc |= jset(root, "train.schedule.milestones", "%s", list);
        rc |= set_double(root, "train.schedule.gamma", t->sched.gamma);
    } else if (t->sched.kind == SH_SCHED_COSINE) {
        rc |= set_double(root, "train.schedule.min_lr", t->sched.min_lr);
    }
    rc |= set_double(root, "train.schedule.warmup_epochs", t->sched.warmup_epochs);
    rc |= jset(root, "train.augment.crop", "%s", (t->augment & SH_AUG_CROP) ? "true" : "false");
    rc |= jset(root, "train.augment.flip", "%s", (t->augment & SH_AUG_FLIP) ? "true" : "false");
    return rc;
}

static char *synthetic_to_json(const sh_jobspec_t *s)
{
    char *json = malloc(256);
    if (json)
        snprintf(json, 256,
                 "{\"fail\":%s,\"index\":%llu,\"kind\":\"synthetic\",\"payload\":%llu,"
                 "\"salt\":%llu,\"shears_job\":%d,\"sleep_ms\":%llu}",
                 s->synth.fail ? "true" : "false", (unsigned long long)s->synth.index,
                 (unsigned long long)s->synth.payload, (unsigned long long)s->synth.salt,
                 SH_JOB_VERSION, (unsigned long long)s->synth.sleep_ms);
    return json;
}

char *sh_jobspec_to_json(const sh_jobspec_t *s)
{
    if (s->kind == SH_JOB_SYNTHETIC)
        return synthetic_to_json(s);
    sh_doc_t *root;
    if (sh_doc_parse(&root, "{}", 2, "jobspec", NULL) != SH_OK)
        return NULL;
    int rc = 0;
    rc |= jset(root, "shears_job", "%d", SH_JOB_VERSION);
    rc |= jset(root, "kind", "%s", s->kind == SH_JOB_TRAIN ? "train" : "prune");
    rc |= jset(root, "dataset.name", "\"%s\"", s->dataset);
    rc |= jset(root, "dataset.validation", "%d", s->validation);
    if (s->data_sha256[0])
        rc |= jset(root, "dataset.sha256", "\"%s\"", s->data_sha256);
    rc |= jset(root, "model", "\"%s\"", s->model);
    rc |= jset(root, "seed", "%llu", (unsigned long long)s->seed);
    rc |= build_train(root, &s->train);
    if (s->kind == SH_JOB_TRAIN) {
        if (s->until != s->train.epochs)
            rc |= jset(root, "until", "%d", s->until);
    } else {
        rc |= jset(root, "parent", "\"%s\"", s->parent);
        if (s->technique == SH_TECH_WEIGHT_REWIND)
            rc |= jset(root, "source", "\"%s\"", s->source);
        rc |= jset(root, "round", "%d", s->round);
        rc |= jset(root, "technique.name", "%s", sh_technique_name(s->technique));
        if (s->technique == SH_TECH_WEIGHT_REWIND)
            rc |= jset(root, "technique.rewind_epoch", "%d", s->rewind_epoch);
        else
            rc |= jset(root, "technique.epochs", "%d", s->tech_epochs);
        if (s->technique == SH_TECH_FINETUNE)
            rc |= set_double(root, "technique.lr", s->tech_lr);
        rc |= jset(root, "prune.method", "%s",
                   s->method == SH_PRUNE_RANDOM ? "random" : "magnitude");
        rc |= jset(root, "prune.scope", "%s",
                   s->scope == SH_SCOPE_LAYERWISE ? "layerwise" : "global");
        rc |= set_double(root, "prune.density", s->density);
        /* One flow map, not a path per layer: layer names may hold dots
         * ("layer1.0.conv1", "fc3.weight"), which a path would split. */
        char layers[SH_MAX_LAYER_RULES * (SH_NAME_MAX + 32) + 4] = "{";
        for (int i = 0; i < s->n_layers; i++) {
            char num[40];
            fmt_double(num, sizeof num, s->layers[i].density);
            snprintf(layers + strlen(layers), sizeof layers - strlen(layers), "%s\"%s\": %s",
                     i ? ", " : "", s->layers[i].layer, num);
        }
        strcat(layers, "}");
        rc |= jset(root, "prune.layers", "%s", layers);
        char list[SH_MAX_LAYER_RULES * (SH_NAME_MAX + 4) + 4] = "[";
        for (int i = 0; i < s->n_ignore; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", i ? "," : "",
                     s->ignore[i]);
        strcat(list, "]");
        rc |= jset(root, "prune.ignore", "%s", list);
    }
    char *json = rc == 0 ? sh_doc_to_json(root, 1) : NULL;
    sh_doc_free(&root);
    return json;
}

int sh_jobspec_id(const sh_jobspec_t *spec, char id[SH_ID_HEX + 1])
{
    char *json = sh_jobspec_to_json(spec);
    if (!json)
        return -1;
    sh_sha256_hex(id, json, strlen(json));
    free(json);
    return 0;
}

void sh_jobspec_epochs(const sh_jobspec_t *s, int *begin, int *end)
{
    const int T = s->train.epochs;
    *end = T;
    *begin = 0;
    if (s->kind == SH_JOB_TRAIN) {
        *end = s->until;
        return;
    }
    switch (s->technique) {
    case SH_TECH_WEIGHT_REWIND:
        *begin = s->rewind_epoch;
        break;
    case SH_TECH_LR_REWIND:
    case SH_TECH_RANDOM_PRUNE:
        *begin = T - s->tech_epochs;
        break;
    case SH_TECH_FINETUNE: /* constant LR: its own [0, t) */
        *end = s->tech_epochs;
        break;
    case SH_TECH_REINIT:
        break;
    }
}

/* ---- parsing ---------------------------------------------------------------- */

typedef struct {
    const sh_doc_t *root;
    sh_err_t *err;
    int failed;
} reader_t;

static const sh_doc_t *need_node(reader_t *r, const char *path)
{
    if (r->failed)
        return NULL;
    const sh_doc_t *n = sh_doc_path(r->root, path);
    if (!n) {
        sh_fail(r->err, SH_EFORMAT, "job spec: missing '%s'", path);
        r->failed = 1;
    }
    return n;
}

static int64_t get_int(reader_t *r, const char *path, int64_t lo, int64_t hi)
{
    const sh_doc_t *n = need_node(r, path);
    int64_t v = 0;
    if (!n)
        return 0;
    if (sh_doc_int(n, "job spec", path, &v, r->err) != SH_OK) {
        r->failed = 1;
        return 0;
    }
    if (v < lo || v > hi) {
        sh_fail(r->err, SH_EFORMAT, "job spec: '%s' = %lld is outside [%lld, %lld]", path,
                (long long)v, (long long)lo, (long long)hi);
        r->failed = 1;
    }
    return v;
}

/* The number at node n (named path in messages), within [lo, hi]. */
static double node_double(reader_t *r, const sh_doc_t *n, const char *path, double lo,
                          double hi)
{
    double v = 0;
    if (sh_doc_double(n, "job spec", path, &v, r->err) != SH_OK) {
        r->failed = 1;
        return 0;
    }
    if (!(v >= lo && v <= hi)) {
        sh_fail(r->err, SH_EFORMAT, "job spec: '%s' = %g is outside [%g, %g]", path, v, lo, hi);
        r->failed = 1;
    }
    return v;
}

static double get_double(reader_t *r, const char *path, double lo, double hi)
{
    const sh_doc_t *n = need_node(r, path);
    return n ? node_double(r, n, path, lo, hi) : 0;
}

static int get_bool(reader_t *r, const char *path)
{
    const sh_doc_t *n = need_node(r, path);
    int v = 0;
    if (n && sh_doc_bool(n, "job spec", path, &v, r->err) != SH_OK)
        r->failed = 1;
    return v;
}

static int valid_name(const char *s, size_t cap)
{
    size_t len = strlen(s);
    int ok = len > 0 && len < cap;
    for (size_t i = 0; ok && i < len; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
             (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.';
    return ok;
}

/* Copies a string that must be a plain name ([A-Za-z0-9_.-]) or hex id. */
static void get_name(reader_t *r, const char *path, char *out, size_t cap)
{
    const sh_doc_t *n = need_node(r, path);
    const char *s = NULL;
    out[0] = '\0';
    if (!n)
        return;
    if (sh_doc_string(n, "job spec", path, &s, r->err) != SH_OK) {
        r->failed = 1;
        return;
    }
    if (!valid_name(s, cap)) {
        sh_fail(r->err, SH_EFORMAT, "job spec: '%s' must be a name of 1-%zu characters "
                "[A-Za-z0-9_.-]", path, cap - 1);
        r->failed = 1;
        return;
    }
    memcpy(out, s, strlen(s) + 1);
}

static void get_id(reader_t *r, const char *path, char out[SH_ID_HEX + 1])
{
    const sh_doc_t *n = need_node(r, path);
    const char *s = NULL;
    out[0] = '\0';
    if (!n)
        return;
    if (sh_doc_string(n, "job spec", path, &s, r->err) != SH_OK) {
        r->failed = 1;
        return;
    }
    int ok = strlen(s) == SH_ID_HEX;
    for (int i = 0; ok && i < SH_ID_HEX; i++)
        ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
    if (!ok) {
        sh_fail(r->err, SH_EFORMAT, "job spec: '%s' is not a job id (64 hex digits)", path);
        r->failed = 1;
        return;
    }
    memcpy(out, s, SH_ID_HEX + 1);
}

/* Every key present must be one this version knows. */
static int check_keys(reader_t *r, const char *path, const char *const *known)
{
    const sh_doc_t *n = path[0] ? sh_doc_path(r->root, path) : r->root;
    if (r->failed || !n)
        return -1;
    if (n->kind != SH_DOC_MAP) {
        sh_fail(r->err, SH_EFORMAT, "job spec: '%s' must be a map", path[0] ? path : "(root)");
        r->failed = 1;
        return -1;
    }
    for (int i = 0; i < n->n; i++) {
        int found = 0;
        for (const char *const *k = known; *k && !found; k++)
            found = !strcmp(*k, n->keys[i]);
        if (!found) {
            sh_fail(r->err, SH_EFORMAT, "job spec: unknown key '%s%s%s'", path,
                    path[0] ? "." : "", n->keys[i]);
            r->failed = 1;
            return -1;
        }
    }
    return 0;
}

static int get_int_list(reader_t *r, const char *path, int *out, int max, int lo, int hi)
{
    const sh_doc_t *n = need_node(r, path);
    if (!n)
        return 0;
    if (n->kind != SH_DOC_SEQ || n->n > max) {
        sh_fail(r->err, SH_EFORMAT, "job spec: '%s' must be a list of at most %d integers",
                path, max);
        r->failed = 1;
        return 0;
    }
    for (int i = 0; i < n->n; i++) {
        char p[96];
        snprintf(p, sizeof p, "%s.%d", path, i);
        out[i] = (int)get_int(r, p, lo, hi);
    }
    return n->n;
}

static void parse_train(reader_t *r, sh_train_spec_t *t)
{
    static const char *const keys[] = {"epochs", "batch", "optimizer", "weight_decay",
                                       "momentum", "nesterov", "beta1", "beta2", "eps",
                                       "lr", "schedule", "augment", NULL};
    static const char *const sched_keys[] = {"kind", "milestones", "gamma", "min_lr",
                                             "warmup_epochs", NULL};
    static const char *const aug_keys[] = {"crop", "flip", NULL};
    check_keys(r, "train", keys);
    check_keys(r, "train.schedule", sched_keys);
    check_keys(r, "train.augment", aug_keys);
    t->epochs = (int)get_int(r, "train.epochs", 1, 100000);
    t->batch = (int)get_int(r, "train.batch", 1, 65536);
    char opt[16];
    get_name(r, "train.optimizer", opt, sizeof opt);
    t->opt.weight_decay = (float)get_double(r, "train.weight_decay", 0, 1);
    if (!strcmp(opt, "adam")) {
        t->opt.kind = SH_OPT_ADAM;
        t->opt.beta1 = (float)get_double(r, "train.beta1", 0, 0.999999);
        t->opt.beta2 = (float)get_double(r, "train.beta2", 0, 0.999999);
        t->opt.eps = (float)get_double(r, "train.eps", 1e-12, 1);
    } else if (!strcmp(opt, "sgd")) {
        t->opt.kind = SH_OPT_SGD;
        t->opt.momentum = (float)get_double(r, "train.momentum", 0, 0.999999);
        t->opt.nesterov = get_bool(r, "train.nesterov");
    } else if (!r->failed) {
        sh_fail(r->err, SH_EFORMAT, "job spec: unknown optimizer '%s'", opt);
        r->failed = 1;
    }
    t->sched.lr = get_double(r, "train.lr", 0, 100);
    char kind[16];
    get_name(r, "train.schedule.kind", kind, sizeof kind);
    if (!strcmp(kind, "multistep")) {
        t->sched.kind = SH_SCHED_MULTISTEP;
        t->sched.n_milestones = get_int_list(r, "train.schedule.milestones", t->sched.milestones,
                                             SH_MAX_MILESTONES, 0, 100000);
        t->sched.gamma = get_double(r, "train.schedule.gamma", 0, 1);
    } else if (!strcmp(kind, "cosine")) {
        t->sched.kind = SH_SCHED_COSINE;
        t->sched.min_lr = get_double(r, "train.schedule.min_lr", 0, 100);
    } else if (!strcmp(kind, "constant")) {
        t->sched.kind = SH_SCHED_CONSTANT;
    } else if (!r->failed) {
        sh_fail(r->err, SH_EFORMAT, "job spec: unknown schedule '%s'", kind);
        r->failed = 1;
    }
    t->sched.total_epochs = t->epochs;
    t->sched.warmup_epochs = get_double(r, "train.schedule.warmup_epochs", 0, 100000);
    t->augment = (get_bool(r, "train.augment.crop") ? SH_AUG_CROP : 0) |
                 (get_bool(r, "train.augment.flip") ? SH_AUG_FLIP : 0);
}

sh_status_t sh_jobspec_parse(sh_jobspec_t *s, const char *json, size_t len, sh_err_t *err)
{
    memset(s, 0, sizeof *s);
    sh_doc_t *root;
    if (sh_doc_parse(&root, json, len, "job spec", err) != SH_OK)
        return SH_EFORMAT;
    reader_t r = {.root = root, .err = err};
    static const char *const keys[] = {"shears_job", "kind", "dataset", "model", "seed",
                                       "train", "until", "parent", "source", "round",
                                       "technique", "prune", NULL};
    const sh_doc_t *kind_node = sh_doc_child(root, "kind");
    if (kind_node && kind_node->kind == SH_DOC_SCALAR && !strcmp(kind_node->text, "synthetic")) {
        static const char *const skeys[] = {"shears_job", "kind", "index", "salt", "sleep_ms",
                                            "payload", "fail", NULL};
        check_keys(&r, "", skeys);
        s->kind = SH_JOB_SYNTHETIC;
        if (!r.failed && get_int(&r, "shears_job", 0, 1000) != SH_JOB_VERSION && !r.failed) {
            sh_fail(err, SH_EFORMAT, "job spec: unsupported version");
            r.failed = 1;
        }
        s->synth.index = (uint64_t)get_int(&r, "index", 0, INT64_MAX);
        s->synth.salt = (uint64_t)get_int(&r, "salt", 0, INT64_MAX);
        s->synth.sleep_ms = (uint64_t)get_int(&r, "sleep_ms", 0, 3600000);
        s->synth.payload = (uint64_t)get_int(&r, "payload", 0, 64 << 20);
        s->synth.fail = get_bool(&r, "fail");
        sh_doc_free(&root);
        return r.failed ? SH_EFORMAT : SH_OK;
    }
    static const char *const ds_keys[] = {"name", "validation", "sha256", NULL};
    check_keys(&r, "", keys);
    check_keys(&r, "dataset", ds_keys);
    if (!r.failed && get_int(&r, "shears_job", 0, 1000) != SH_JOB_VERSION && !r.failed) {
        sh_fail(err, SH_EFORMAT, "job spec: unsupported version (expected %d)", SH_JOB_VERSION);
        r.failed = 1;
    }
    char kind[16];
    get_name(&r, "kind", kind, sizeof kind);
    get_name(&r, "dataset.name", s->dataset, sizeof s->dataset);
    s->validation = (int)get_int(&r, "dataset.validation", 0, 10000000);
    if (!r.failed && sh_doc_path(root, "dataset.sha256")) {
        get_name(&r, "dataset.sha256", s->data_sha256, sizeof s->data_sha256);
    }
    get_name(&r, "model", s->model, sizeof s->model);
    s->seed = (uint64_t)get_int(&r, "seed", 0, INT64_MAX);
    parse_train(&r, &s->train);
    if (!strcmp(kind, "train")) {
        s->kind = SH_JOB_TRAIN;
        s->until = s->train.epochs;
        if (!r.failed && sh_doc_path(root, "until"))
            s->until = (int)get_int(&r, "until", 0, s->train.epochs - 1);
        if (!r.failed && (sh_doc_path(root, "parent") || sh_doc_path(root, "technique"))) {
            sh_fail(err, SH_EFORMAT, "job spec: a train job has no parent or technique");
            r.failed = 1;
        }
    } else if (!strcmp(kind, "prune")) {
        static const char *const tech_keys[] = {"name", "epochs", "rewind_epoch", "lr", NULL};
        static const char *const prune_keys[] = {"method", "scope", "density", "layers",
                                                 "ignore", NULL};
        s->kind = SH_JOB_PRUNE;
        if (!r.failed && sh_doc_path(root, "until")) {
            sh_fail(err, SH_EFORMAT, "job spec: only train jobs have 'until'");
            r.failed = 1;
        }
        check_keys(&r, "technique", tech_keys);
        check_keys(&r, "prune", prune_keys);
        get_id(&r, "parent", s->parent);
        s->round = (int)get_int(&r, "round", 1, 1000);
        char tech[32];
        get_name(&r, "technique.name", tech, sizeof tech);
        if (!r.failed && sh_technique_parse(tech, &s->technique) != 0) {
            sh_fail(err, SH_EFORMAT, "job spec: unknown technique '%s'", tech);
            r.failed = 1;
        }
        if (s->technique == SH_TECH_WEIGHT_REWIND) {
            s->rewind_epoch = (int)get_int(&r, "technique.rewind_epoch", 0, s->train.epochs - 1);
            get_id(&r, "source", s->source);
        } else if (!r.failed && sh_doc_path(root, "source")) {
            sh_fail(err, SH_EFORMAT, "job spec: only weight-rewind has a 'source'");
            r.failed = 1;
        }
        else if (!r.failed)
            s->tech_epochs = (int)get_int(&r, "technique.epochs", 1,
                                          s->technique == SH_TECH_FINETUNE ? 100000
                                                                           : s->train.epochs);
        if (s->technique == SH_TECH_FINETUNE)
            s->tech_lr = get_double(&r, "technique.lr", 0, 100);
        char method[16], scope[16];
        get_name(&r, "prune.method", method, sizeof method);
        get_name(&r, "prune.scope", scope, sizeof scope);
        s->method = !strcmp(method, "random") ? SH_PRUNE_RANDOM : SH_PRUNE_MAGNITUDE;
        s->scope = !strcmp(scope, "layerwise") ? SH_SCOPE_LAYERWISE : SH_SCOPE_GLOBAL;
        if (!r.failed && ((strcmp(method, "random") && strcmp(method, "magnitude")) ||
                          (strcmp(scope, "layerwise") && strcmp(scope, "global")))) {
            sh_fail(err, SH_EFORMAT, "job spec: unknown prune method or scope");
            r.failed = 1;
        }
        s->density = get_double(&r, "prune.density", 0, 1);
        const sh_doc_t *layers = need_node(&r, "prune.layers");
        if (layers && layers->kind == SH_DOC_MAP && layers->n <= SH_MAX_LAYER_RULES) {
            for (int i = 0; i < layers->n && !r.failed; i++) {
                char path[96];
                snprintf(path, sizeof path, "prune.layers.%s", layers->keys[i]);
                if (!valid_name(layers->keys[i], SH_NAME_MAX)) {
                    sh_fail(err, SH_EFORMAT, "job spec: bad layer name in 'prune.layers'");
                    r.failed = 1;
                    break;
                }
                strcpy(s->layers[i].layer, layers->keys[i]);
                /* By key, not by path: layer names may hold dots. */
                s->layers[i].density = node_double(&r, layers->items[i], path, 0, 1);
                s->n_layers++;
            }
        } else if (!r.failed) {
            sh_fail(err, SH_EFORMAT, "job spec: 'prune.layers' must be a map of at most %d",
                    SH_MAX_LAYER_RULES);
            r.failed = 1;
        }
        const sh_doc_t *ign = need_node(&r, "prune.ignore");
        if (ign && ign->kind == SH_DOC_SEQ && ign->n <= SH_MAX_LAYER_RULES) {
            for (int i = 0; i < ign->n && !r.failed; i++) {
                char path[64];
                snprintf(path, sizeof path, "prune.ignore.%d", i);
                get_name(&r, path, s->ignore[i], SH_NAME_MAX);
                s->n_ignore++;
            }
        } else if (!r.failed) {
            sh_fail(err, SH_EFORMAT, "job spec: 'prune.ignore' must be a list of at most %d",
                    SH_MAX_LAYER_RULES);
            r.failed = 1;
        }
    } else if (!r.failed) {
        sh_fail(err, SH_EFORMAT, "job spec: unknown kind '%s'", kind);
        r.failed = 1;
    }
    sh_doc_free(&root);
    return r.failed ? SH_EFORMAT : SH_OK;
}
