/* test_torch_ref.c - the whole forward/backward/update path against
 * PyTorch 1.13 (reference files made by tests/ref/gen_torch_ref.py): logits,
 * loss, every parameter gradient, three SGD steps' losses and batchnorm
 * running statistics. An independent implementation catches what
 * per-layer finite differences cannot: wiring, layout and naming mistakes. */
#include "sh_test.h"

#include "sh_model.h"
#include "sh_optim.h"

#include <stdlib.h>
#include <string.h>

#ifndef SH_REF_DIR
#error "SH_REF_DIR must point at tests/ref"
#endif

typedef struct {
    char name[96];
    int ndim;
    uint32_t dims[4];
    size_t n;
    float *data;
} ref_rec_t;

typedef struct {
    ref_rec_t *recs;
    uint32_t n;
} ref_t;

static int ref_load(ref_t *ref, const char *arch)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.ref", SH_REF_DIR, arch);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    char magic[8];
    int ok = fread(magic, 1, 8, f) == 8 && !memcmp(magic, "SHREF001", 8) &&
             fread(&ref->n, 4, 1, f) == 1 && ref->n < 10000;
    ref->recs = ok ? calloc(ref->n, sizeof(ref_rec_t)) : NULL;
    for (uint32_t i = 0; ok && i < ref->n; i++) {
        ref_rec_t *r = &ref->recs[i];
        uint32_t len, nd;
        ok = fread(&len, 4, 1, f) == 1 && len < sizeof r->name && fread(r->name, 1, len, f) == len &&
             fread(&nd, 4, 1, f) == 1 && nd <= 4 && fread(r->dims, 4, nd, f) == nd;
        if (!ok)
            break;
        r->ndim = (int)nd;
        r->n = 1;
        for (uint32_t d = 0; d < nd; d++)
            r->n *= r->dims[d];
        r->data = malloc(sizeof(float) * (r->n ? r->n : 1));
        ok = fread(r->data, sizeof(float), r->n, f) == r->n;
    }
    fclose(f);
    if (!ok)
        fprintf(stderr, "%s: malformed reference file\n", path);
    return ok ? 0 : -1;
}

static void ref_free(ref_t *ref)
{
    for (uint32_t i = 0; ref->recs && i < ref->n; i++)
        free(ref->recs[i].data);
    free(ref->recs);
}

static const ref_rec_t *ref_get(const ref_t *ref, const char *name)
{
    for (uint32_t i = 0; i < ref->n; i++)
        if (!strcmp(ref->recs[i].name, name))
            return &ref->recs[i];
    return NULL;
}

/* Max |a - b| relative to max |b| over the tensor. */
static double rel_err(const float *a, const float *b, size_t n)
{
    double diff = 0.0, scale = 1e-6;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return diff / scale;
}

static int check_arch(const char *arch)
{
    ref_t ref = {0};
    CHECK(ref_load(&ref, arch) == 0);
    const ref_rec_t *in = ref_get(&ref, "input"), *lab = ref_get(&ref, "labels");
    CHECK(in && lab && in->ndim == 4);
    int B = (int)in->dims[0];
    sh_model_t *m;
    sh_err_t err;
    CHECK_MSG(sh_model_new(&m, arch, (int)in->dims[1], (int)in->dims[2], (int)in->dims[3], 10,
                           &err) == SH_OK, "%s", err.msg);
    for (int t = 0; t < m->n_tensors; t++) {
        char key[96];
        snprintf(key, sizeof key, "param:%s", m->tensors[t].name);
        const ref_rec_t *p = ref_get(&ref, key);
        CHECK_MSG(p && p->n == m->tensors[t].numel, "%s missing or wrong size", key);
        memcpy(m->params + m->tensors[t].offset, p->data, sizeof(float) * p->n);
    }
    int32_t *y = malloc(sizeof(int32_t) * (size_t)B);
    for (int i = 0; i < B; i++)
        y[i] = (int32_t)lab->data[i];
    CHECK(sh_model_reserve(m, B) == SH_OK);
    sh_optim_t opt = {.kind = SH_OPT_SGD, .momentum = 0.9f, .weight_decay = 5e-4f};
    const ref_rec_t *losses = ref_get(&ref, "losses");
    CHECK(losses && losses->n == 3);
    for (int step = 0; step < 3; step++) {
        const float *logits = sh_model_forward(m, in->data, B, 1);
        sh_model_zero_grad(m);
        float loss = sh_model_loss(m, y, B, 1, NULL);
        sh_model_backward(m, B);
        if (step == 0) {
            const ref_rec_t *rl = ref_get(&ref, "logits");
            CHECK(rl && rl->n == (size_t)B * 10);
            double e = rel_err(logits, rl->data, rl->n);
            CHECK_MSG(e < 1e-4, "%s logits differ by %.3g", arch, e);
            for (int t = 0; t < m->n_tensors; t++) {
                char key[96];
                snprintf(key, sizeof key, "grad:%s", m->tensors[t].name);
                const ref_rec_t *g = ref_get(&ref, key);
                CHECK(g && g->n == m->tensors[t].numel);
                e = rel_err(m->grads + m->tensors[t].offset, g->data, g->n);
                CHECK_MSG(e < 1e-3, "%s %s differs by %.3g", arch, key, e);
            }
        }
        CHECK_MSG(fabs(loss - losses->data[step]) < 1e-4 * fmax(1.0, fabs(losses->data[step])),
                  "%s step %d loss %.7g vs torch %.7g", arch, step, loss, losses->data[step]);
        sh_optim_step(&opt, m, 0.01f);
    }
    /* Batchnorm running statistics after three training steps. */
    for (int o = 0; o < m->n_ops; o++) {
        const sh_op_t *op = &m->ops[o];
        if (op->kind != SH_OP_BATCHNORM2D)
            continue;
        char key[96];
        snprintf(key, sizeof key, "buffer:%s.running_var", op->name);
        const ref_rec_t *rv = ref_get(&ref, key);
        CHECK_MSG(rv && rv->n == (size_t)op->C, "%s missing", key);
        double ev = rel_err(m->buffers + op->buf_offset + op->C, rv->data, rv->n);
        CHECK_MSG(ev < 1e-4, "%s differs by %.3g", key, ev);
        snprintf(key, sizeof key, "buffer:%s.running_mean", op->name);
        const ref_rec_t *rm = ref_get(&ref, key);
        CHECK(rm && rel_err(m->buffers + op->buf_offset, rm->data, rm->n) < 1e-3);
    }
    fprintf(stderr, "  %s matches PyTorch: losses %.5f %.5f %.5f\n", arch, losses->data[0],
            losses->data[1], losses->data[2]);
    free(y);
    sh_model_destroy(&m);
    ref_free(&ref);
    return 0;
}

SH_TEST(torch_ref_lenet_300_100) { return check_arch("lenet_300_100"); }
SH_TEST(torch_ref_lenet5) { return check_arch("lenet5"); }
SH_TEST(torch_ref_resnet20) { return check_arch("resnet20"); }
