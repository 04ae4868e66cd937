/* sh_model.c - model construction by architecture name, the arenas, forward
 * and backward passes over the op list, and mask bookkeeping.
 *
 * Tensors start at multiples of 64 floats in the parameter arena, so each
 * tensor owns whole words of the mask bitset and whole cache lines; the
 * padding between tensors is permanently masked out and always zero. */
#include "sh_model.h"

#include "sh_rng.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TENSOR_ALIGN 64

/* ---- builder ------------------------------------------------------------ */

typedef struct {
    sh_model_t *m;
    int cap_ops, cap_tensors, cap_slots;
    struct slot_shape { int c, h, w; } *slots;
    int n_relu, n_pool;
    size_t n_buffers, n_saved, n_argmax;
} builder_t;

static void *grow(void *p, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return p;
    int ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *q = realloc(p, (size_t)ncap * elem);
    if (!q) {
        fprintf(stderr, "shears: out of memory building a model\n");
        abort();
    }
    *cap = ncap;
    return q;
}

static int add_slot(builder_t *b, int c, int h, int w)
{
    sh_model_t *m = b->m;
    b->slots = grow(b->slots, &b->cap_slots, m->n_slots + 1, sizeof *b->slots);
    b->slots[m->n_slots] = (struct slot_shape){c, h, w};
    return m->n_slots++;
}

static int add_tensor(builder_t *b, const char *layer, const char *suffix, int ndim,
                      const int *shape, int fan_in, int prunable)
{
    sh_model_t *m = b->m;
    m->tensors = grow(m->tensors, &b->cap_tensors, m->n_tensors + 1, sizeof(sh_tensor_t));
    sh_tensor_t *t = &m->tensors[m->n_tensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s.%s", layer, suffix);
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->numel *= (size_t)shape[i];
    }
    t->fan_in = fan_in;
    t->prunable = prunable;
    t->op = m->n_ops;
    t->offset = m->n_params;
    m->n_params += (t->numel + TENSOR_ALIGN - 1) / TENSOR_ALIGN * TENSOR_ALIGN;
    if (prunable)
        m->n_prunable += t->numel;
    return m->n_tensors++;
}

static sh_op_t *add_op(builder_t *b, sh_op_kind_t kind, const char *name, int x)
{
    sh_model_t *m = b->m;
    m->ops = grow(m->ops, &b->cap_ops, m->n_ops + 1, sizeof(sh_op_t));
    sh_op_t *op = &m->ops[m->n_ops];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    snprintf(op->name, sizeof op->name, "%s", name);
    op->x = x;
    op->x2 = -1;
    op->w = op->b = -1;
    op->C = b->slots[x].c;
    op->H = b->slots[x].h;
    op->W = b->slots[x].w;
    return op;
}

static int finish_op(builder_t *b, sh_op_t *op)
{
    op->y = add_slot(b, op->OC, op->OH, op->OW);
    b->m->n_ops++;
    return op->y;
}

static int b_conv(builder_t *b, int x, const char *name, int OC, int K, int stride,
                  int pad, int bias)
{
    sh_op_t *op = add_op(b, SH_OP_CONV2D, name, x);
    if (sh_conv_shape_init(&op->conv, op->C, op->H, op->W, OC, K, stride, pad) != 0)
        return -1;
    op->OC = OC;
    op->OH = op->conv.OH;
    op->OW = op->conv.OW;
    op->K = K;
    op->stride = stride;
    op->pad = pad;
    int fan_in = op->C * K * K;
    op->w = add_tensor(b, name, "weight", 4, (int[]){OC, op->C, K, K}, fan_in, 1);
    if (bias)
        op->b = add_tensor(b, name, "bias", 1, (int[]){OC}, fan_in, 0);
    return finish_op(b, op);
}

static int b_linear(builder_t *b, int x, const char *name, int OC)
{
    sh_op_t *op = add_op(b, SH_OP_LINEAR, name, x);
    int C = op->C * op->H * op->W; /* flatten is a view: NCHW is contiguous */
    op->OC = OC;
    op->OH = op->OW = 1;
    op->w = add_tensor(b, name, "weight", 2, (int[]){OC, C}, C, 1);
    op->b = add_tensor(b, name, "bias", 1, (int[]){OC}, C, 0);
    return finish_op(b, op);
}

static int b_bn(builder_t *b, int x, const char *name)
{
    sh_op_t *op = add_op(b, SH_OP_BATCHNORM2D, name, x);
    op->OC = op->C;
    op->OH = op->H;
    op->OW = op->W;
    op->w = add_tensor(b, name, "weight", 1, (int[]){op->C}, 0, 0);
    op->b = add_tensor(b, name, "bias", 1, (int[]){op->C}, 0, 0);
    op->buf_offset = b->n_buffers;
    b->n_buffers += 2 * (size_t)op->C;
    op->saved_offset = b->n_saved;
    b->n_saved += 2 * (size_t)op->C;
    return finish_op(b, op);
}

static int b_relu(builder_t *b, int x)
{
    char name[24];
    snprintf(name, sizeof name, "relu%d", ++b->n_relu);
    sh_op_t *op = add_op(b, SH_OP_RELU, name, x);
    op->OC = op->C;
    op->OH = op->H;
    op->OW = op->W;
    return finish_op(b, op);
}

static int b_maxpool(builder_t *b, int x, int K, int stride)
{
    char name[24];
    snprintf(name, sizeof name, "pool%d", ++b->n_pool);
    sh_op_t *op = add_op(b, SH_OP_MAXPOOL2D, name, x);
    if (op->H < K || op->W < K)
        return -1;
    op->K = K;
    op->stride = stride;
    op->OC = op->C;
    op->OH = (op->H - K) / stride + 1;
    op->OW = (op->W - K) / stride + 1;
    op->argmax_offset = b->n_argmax;
    b->n_argmax += (size_t)op->OC * op->OH * op->OW;
    return finish_op(b, op);
}

static int b_avgpool(builder_t *b, int x)
{
    sh_op_t *op = add_op(b, SH_OP_AVGPOOL, "avgpool", x);
    op->OC = op->C;
    op->OH = op->OW = 1;
    return finish_op(b, op);
}

static int b_residual(builder_t *b, int a, int x, const char *name)
{
    sh_op_t *op = add_op(b, SH_OP_RESIDUAL, name, a);
    op->x2 = x;
    op->OC = op->C;
    op->OH = op->H;
    op->OW = op->W;
    /* op->C/H/W describe the shortcut input x for the kernel. */
    op->C = b->slots[x].c;
    op->H = b->slots[x].h;
    op->W = b->slots[x].w;
    return finish_op(b, op);
}

/* ---- architectures ------------------------------------------------------- */

#define TRY(expr)              \
    do {                       \
        if ((x = (expr)) < 0)  \
            return -1;         \
    } while (0)

static int build_lenet_300_100(builder_t *b, int x, int n_classes)
{
    TRY(b_linear(b, x, "fc1", 300));
    TRY(b_relu(b, x));
    TRY(b_linear(b, x, "fc2", 100));
    TRY(b_relu(b, x));
    TRY(b_linear(b, x, "fc3", n_classes));
    return x;
}

static int build_lenet5(builder_t *b, int x, int n_classes)
{
    TRY(b_conv(b, x, "conv1", 6, 5, 1, 2, 1));
    TRY(b_relu(b, x));
    TRY(b_maxpool(b, x, 2, 2));
    TRY(b_conv(b, x, "conv2", 16, 5, 1, 0, 1));
    TRY(b_relu(b, x));
    TRY(b_maxpool(b, x, 2, 2));
    TRY(b_linear(b, x, "fc1", 120));
    TRY(b_relu(b, x));
    TRY(b_linear(b, x, "fc2", 84));
    TRY(b_relu(b, x));
    TRY(b_linear(b, x, "fc3", n_classes));
    return x;
}

/* Conv-2/4/6 of Frankle & Carbin (2019): pairs of 3x3 convs (64, 128, 256
 * channels) each followed by 2x2 max pooling, then FC 256-256-classes. */
static int build_convn(builder_t *b, int x, int n_classes, int pairs)
{
    static const int widths[3] = {64, 128, 256};
    char name[24];
    int k = 0;
    for (int p = 0; p < pairs; p++) {
        for (int r = 0; r < 2; r++) {
            snprintf(name, sizeof name, "conv%d", ++k);
            TRY(b_conv(b, x, name, widths[p], 3, 1, 1, 1));
            TRY(b_relu(b, x));
        }
        TRY(b_maxpool(b, x, 2, 2));
    }
    TRY(b_linear(b, x, "fc1", 256));
    TRY(b_relu(b, x));
    TRY(b_linear(b, x, "fc2", 256));
    TRY(b_relu(b, x));
    TRY(b_linear(b, x, "fc3", n_classes));
    return x;
}

/* CIFAR ResNet-(6n+2) of He et al. (2016) with option-A shortcuts. */
static int build_resnet(builder_t *b, int x, int n_classes, int n)
{
    char name[24], name2[24];
    TRY(b_conv(b, x, "conv1", 16, 3, 1, 1, 0));
    TRY(b_bn(b, x, "bn1"));
    TRY(b_relu(b, x));
    int width = 16;
    for (int stage = 0; stage < 3; stage++, width *= 2)
        for (int blk = 0; blk < n; blk++) {
            int stride = (stage > 0 && blk == 0) ? 2 : 1;
            int in = x;
            snprintf(name, sizeof name, "layer%d.%d.conv1", stage + 1, blk);
            TRY(b_conv(b, x, name, width, 3, stride, 1, 0));
            snprintf(name, sizeof name, "layer%d.%d.bn1", stage + 1, blk);
            TRY(b_bn(b, x, name));
            TRY(b_relu(b, x));
            snprintf(name, sizeof name, "layer%d.%d.conv2", stage + 1, blk);
            TRY(b_conv(b, x, name, width, 3, 1, 1, 0));
            snprintf(name, sizeof name, "layer%d.%d.bn2", stage + 1, blk);
            TRY(b_bn(b, x, name));
            snprintf(name2, sizeof name2, "layer%d.%d.add", stage + 1, blk);
            TRY(b_residual(b, x, in, name2));
            TRY(b_relu(b, x));
        }
    TRY(b_avgpool(b, x));
    TRY(b_linear(b, x, "fc", n_classes));
    return x;
}

/* VGG-16 for CIFAR (as in Frankle & Carbin's experiments): 13 3x3 convs with
 * batchnorm, five 2x2 max pools, one linear classifier over 512 features. */
static int build_vgg16(builder_t *b, int x, int n_classes)
{
    static const int cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0,
                              512, 512, 512, 0, 512, 512, 512, 0};
    char name[24];
    int k = 0;
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        if (cfg[i] == 0) {
            TRY(b_maxpool(b, x, 2, 2));
            continue;
        }
        k++;
        snprintf(name, sizeof name, "conv%d", k);
        TRY(b_conv(b, x, name, cfg[i], 3, 1, 1, 0));
        snprintf(name, sizeof name, "bn%d", k);
        TRY(b_bn(b, x, name));
        TRY(b_relu(b, x));
    }
    TRY(b_avgpool(b, x));
    TRY(b_linear(b, x, "fc", n_classes));
    return x;
}

#undef TRY

static const char *const arch_names[] = {
    "lenet_300_100", "lenet5", "conv2", "conv4", "conv6",
    "resnet20", "resnet32", "resnet56", "vgg16", NULL,
};

const char *const *sh_model_archs(void) { return arch_names; }

static int build_arch(builder_t *b, const char *arch, int x, int n_classes)
{
    if (!strcmp(arch, "lenet_300_100")) return build_lenet_300_100(b, x, n_classes);
    if (!strcmp(arch, "lenet5")) return build_lenet5(b, x, n_classes);
    if (!strcmp(arch, "conv2")) return build_convn(b, x, n_classes, 1);
    if (!strcmp(arch, "conv4")) return build_convn(b, x, n_classes, 2);
    if (!strcmp(arch, "conv6")) return build_convn(b, x, n_classes, 3);
    if (!strcmp(arch, "resnet20")) return build_resnet(b, x, n_classes, 3);
    if (!strcmp(arch, "resnet32")) return build_resnet(b, x, n_classes, 5);
    if (!strcmp(arch, "resnet56")) return build_resnet(b, x, n_classes, 9);
    if (!strcmp(arch, "vgg16")) return build_vgg16(b, x, n_classes);
    return -2;
}

/* ---- lifetime ------------------------------------------------------------ */

size_t sh_mask_words(size_t n_params) { return (n_params + 63) / 64; }

/* The op list and tensor table of sh_model_new, without the arenas. */
static sh_status_t model_build(sh_model_t **out, const char *arch, int c, int h, int w,
                               int n_classes, sh_err_t *err)
{
    *out = NULL;
    if (c < 1 || c > 3 || h < 1 || w < 1 || h > 1024 || w > 1024 || n_classes < 2 ||
        n_classes > 100000)
        return sh_fail(err, SH_EARG, "model %s: unsupported input %dx%dx%d with %d classes",
                       arch, c, h, w, n_classes);
    sh_model_t *m = sh_xcalloc(1, sizeof *m);
    snprintf(m->arch, sizeof m->arch, "%s", arch);
    m->in_c = c;
    m->in_h = h;
    m->in_w = w;
    m->n_classes = n_classes;
    builder_t b = {.m = m};
    int x = add_slot(&b, c, h, w);
    int y = build_arch(&b, arch, x, n_classes);
    if (y < 0) {
        free(b.slots);
        sh_model_destroy(&m);
        if (y == -2)
            return sh_fail(err, SH_ENOTFOUND, "unknown model '%s'", arch);
        return sh_fail(err, SH_EARG, "model %s: input %dx%dx%d is too small", arch, c, h, w);
    }
    m->slot_numel = sh_xcalloc((size_t)m->n_slots, sizeof(size_t));
    for (int s = 0; s < m->n_slots; s++)
        m->slot_numel[s] = (size_t)b.slots[s].c * b.slots[s].h * b.slots[s].w;
    free(b.slots);
    m->n_buffers = b.n_buffers;
    m->n_saved = b.n_saved;
    m->n_argmax = b.n_argmax;
    *out = m;
    return SH_OK;
}

sh_status_t sh_model_sizes(const char *arch, int c, int h, int w, int n_classes,
                           size_t *n_params, size_t *n_buffers, sh_err_t *err)
{
    sh_model_t *m;
    sh_status_t st = model_build(&m, arch, c, h, w, n_classes, err);
    if (st != SH_OK)
        return st;
    *n_params = m->n_params;
    *n_buffers = m->n_buffers;
    sh_model_destroy(&m);
    return SH_OK;
}

sh_status_t sh_model_new(sh_model_t **out, const char *arch, int c, int h, int w,
                         int n_classes, sh_err_t *err)
{
    sh_model_t *m;
    sh_status_t st = model_build(&m, arch, c, h, w, n_classes, err);
    if (st != SH_OK)
        return st;
    m->mask_version = 1;
    m->sparse_below = SH_SPARSE_BELOW;
    const char *env = getenv("SHEARS_SPARSE_BELOW");
    if (env && *env)
        m->sparse_below = atof(env);
    m->params = sh_xaligned(sizeof(float) * m->n_params);
    m->grads = sh_xaligned(sizeof(float) * m->n_params);
    m->opt_m = sh_xaligned(sizeof(float) * m->n_params);
    memset(m->params, 0, sizeof(float) * m->n_params);
    memset(m->grads, 0, sizeof(float) * m->n_params);
    memset(m->opt_m, 0, sizeof(float) * m->n_params);
    m->buffers = sh_xcalloc(m->n_buffers ? m->n_buffers : 1, sizeof(float));
    m->saved = sh_xcalloc(m->n_saved ? m->n_saved : 1, sizeof(float));
    size_t words = sh_mask_words(m->n_params);
    m->mask = sh_xcalloc(words, sizeof(uint64_t));
    for (int t = 0; t < m->n_tensors; t++) {
        const sh_tensor_t *tt = &m->tensors[t];
        for (size_t i = 0; i < tt->numel; i++)
            sh_mask_set(m->mask, tt->offset + i);
    }
    for (int o = 0; o < m->n_ops; o++)
        if (m->ops[o].kind == SH_OP_BATCHNORM2D)
            for (int ch = 0; ch < m->ops[o].C; ch++)
                m->buffers[m->ops[o].buf_offset + (size_t)m->ops[o].C + ch] = 1.0f;
    *out = m;
    return SH_OK;
}

void sh_model_destroy(sh_model_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sh_model_t *m = *self_p;
    for (int o = 0; o < m->n_ops; o++)
        if (m->ops[o].csr) {
            sh_csr_free(m->ops[o].csr);
            free(m->ops[o].csr);
        }
    free(m->sparse_ws);
    free(m->tensors);
    free(m->ops);
    free(m->slot_numel);
    free(m->params);
    free(m->grads);
    free(m->opt_m);
    free(m->opt_v);
    free(m->mask);
    free(m->buffers);
    free(m->acts);
    free(m->dacts);
    free(m->slot_act);
    free(m->slot_grad);
    free(m->saved);
    free(m->argmax);
    free(m->scratch);
    free(m);
    *self_p = NULL;
}

void sh_model_init(sh_model_t *m, uint64_t seed, uint64_t salt)
{
    for (int t = 0; t < m->n_tensors; t++) {
        const sh_tensor_t *tt = &m->tensors[t];
        const sh_op_t *op = &m->ops[tt->op];
        float *p = m->params + tt->offset;
        int is_weight = tt == &m->tensors[op->w];
        if (op->kind == SH_OP_BATCHNORM2D) {
            for (size_t i = 0; i < tt->numel; i++)
                p[i] = is_weight ? 1.0f : 0.0f;
        } else if (is_weight) {
            sh_rng_t rng;
            sh_rng_seed(&rng, seed, SH_STREAM(SH_STREAM_INIT, salt * 4096 + (uint64_t)t));
            float std = sqrtf(2.0f / (float)tt->fan_in);
            for (size_t i = 0; i < tt->numel; i++)
                p[i] = std * sh_rng_normal(&rng);
        } else {
            memset(p, 0, sizeof(float) * tt->numel);
        }
    }
    for (int o = 0; o < m->n_ops; o++)
        if (m->ops[o].kind == SH_OP_BATCHNORM2D) {
            float *buf = m->buffers + m->ops[o].buf_offset;
            for (int ch = 0; ch < m->ops[o].C; ch++) {
                buf[ch] = 0.0f;
                buf[m->ops[o].C + ch] = 1.0f;
            }
        }
    sh_model_apply_mask(m);
}

sh_status_t sh_model_reserve(sh_model_t *m, int B)
{
    if (B <= m->batch_cap)
        return SH_OK;
    size_t total = 0;
    for (int s = 0; s < m->n_slots; s++)
        total += m->slot_numel[s] * (size_t)B;
    float *acts = aligned_alloc(64, (sizeof(float) * total + 63) & ~(size_t)63);
    float *dacts = aligned_alloc(64, (sizeof(float) * total + 63) & ~(size_t)63);
    int32_t *argmax = malloc(sizeof(int32_t) * (m->n_argmax * (size_t)B + 1));
    float **sa = malloc(sizeof(float *) * (size_t)m->n_slots);
    float **sg = malloc(sizeof(float *) * (size_t)m->n_slots);
    if (!acts || !dacts || !argmax || !sa || !sg) {
        free(acts);
        free(dacts);
        free(argmax);
        free(sa);
        free(sg);
        return SH_ENOMEM;
    }
    free(m->acts);
    free(m->dacts);
    free(m->argmax);
    free(m->slot_act);
    free(m->slot_grad);
    m->acts = acts;
    m->dacts = dacts;
    m->argmax = argmax;
    m->slot_act = sa;
    m->slot_grad = sg;
    size_t off = 0;
    for (int s = 0; s < m->n_slots; s++) {
        sa[s] = acts + off;
        sg[s] = dacts + off;
        off += m->slot_numel[s] * (size_t)B;
    }
    m->batch_cap = B;
    return SH_OK;
}

/* Conv scratch grows with the thread count seen at call time. */
static void ensure_scratch(sh_model_t *m, int nth)
{
    if (nth <= m->scratch_threads && m->scratch)
        return;
    size_t need = 0;
    for (int o = 0; o < m->n_ops; o++)
        if (m->ops[o].kind == SH_OP_CONV2D) {
            size_t n = sh_conv_scratch_floats(&m->ops[o].conv, nth);
            need = n > need ? n : need;
        }
    free(m->scratch);
    m->scratch = sh_xaligned(sizeof(float) * (need ? need : 1));
    m->scratch_n = need;
    m->scratch_threads = nth;
}

static const float *tensor_ptr(const sh_model_t *m, int t)
{
    return t < 0 ? NULL : m->params + m->tensors[t].offset;
}

static float *grad_ptr(const sh_model_t *m, int t)
{
    return t < 0 ? NULL : m->grads + m->tensors[t].offset;
}

/* ---- sparse path ------------------------------------------------------------ */

void sh_model_set_sparse(sh_model_t *m, double below)
{
    m->sparse_below = below;
    m->mask_version++;
}

static float *sparse_scratch(sh_model_t *m, size_t n)
{
    if (n > m->sparse_ws_n) {
        free(m->sparse_ws);
        m->sparse_ws = sh_xaligned(sizeof(float) * n);
        m->sparse_ws_n = n;
    }
    return m->sparse_ws;
}

/* Decides (once per mask version) whether op runs sparse, and refreshes the
 * CSR values from the dense weights. Returns the CSR or NULL (dense). */
static sh_csr_t *sparse_weights(sh_model_t *m, sh_op_t *op)
{
    const sh_tensor_t *t = &m->tensors[op->w];
    if (op->csr_version != m->mask_version) {
        op->csr_version = m->mask_version;
        if (op->csr) {
            sh_csr_free(op->csr);
            free(op->csr);
            op->csr = NULL;
        }
        double density = (double)sh_tensor_alive(m, op->w) / (double)t->numel;
        if (t->prunable && density < m->sparse_below) {
            op->csr = sh_xcalloc(1, sizeof *op->csr);
            if (sh_csr_build(op->csr, m->params + t->offset, m->mask, t->offset, t->shape[0],
                             (int)(t->numel / (size_t)t->shape[0])) != 0) {
                free(op->csr);
                op->csr = NULL; /* out of memory: the dense path still works */
            }
            op->csr_values = m->param_version;
        }
        return op->csr;
    }
    /* Values change only when the optimizer steps (inference never pays). */
    if (op->csr && op->csr_values != m->param_version) {
        sh_csr_refresh(op->csr, m->params + t->offset);
        op->csr_values = m->param_version;
    }
    return op->csr;
}

int sh_model_sparse_layers(sh_model_t *m)
{
    int n = 0;
    for (int o = 0; o < m->n_ops; o++) {
        sh_op_t *op = &m->ops[o];
        if ((op->kind == SH_OP_LINEAR || op->kind == SH_OP_CONV2D) && sparse_weights(m, op))
            n++;
    }
    return n;
}

/* Adds the per-entry weight gradient g (CSR order) into the dense arena. */
static void scatter_grad(float *grad, const sh_csr_t *a, const float *g)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < a->rows; r++)
        for (int32_t p = a->row_ptr[r]; p < a->row_ptr[r + 1]; p++)
            grad[(size_t)r * a->cols + a->col[p]] += g[p];
}

static void linear_forward_sparse(sh_model_t *m, const sh_op_t *op, float *out, const float *in,
                                  int B)
{
    const int C = op->C * op->H * op->W, OC = op->OC;
    const float *bias = m->params + m->tensors[op->b].offset;
    if (B == 1) { /* batch-1 inference: a plain SpMV, no transposes */
        sh_spmv(out, op->csr, in);
        for (int o = 0; o < OC; o++)
            out[o] += bias[o];
        return;
    }
    float *inT = sparse_scratch(m, (size_t)B * (C + OC)), *outT = inT + (size_t)B * C;
    sh_transpose(inT, in, B, C);
    sh_spmm(outT, op->csr, inT, B, 0);
    sh_transpose(out, outT, OC, B);
    for (int i = 0; i < B; i++)
        for (int o = 0; o < OC; o++)
            out[(size_t)i * OC + o] += bias[o];
}

static void linear_backward_sparse(sh_model_t *m, const sh_op_t *op, float *din,
                                   const float *dout, const float *in, int B)
{
    const int C = op->C * op->H * op->W, OC = op->OC;
    const sh_csr_t *a = op->csr;
    float *inT = sparse_scratch(m, (size_t)B * (2 * C + OC) + (size_t)a->nnz);
    float *doutT = inT + (size_t)B * C, *dinT = doutT + (size_t)B * OC;
    float *g = dinT + (size_t)B * C;
    sh_transpose(inT, in, B, C);
    sh_transpose(doutT, dout, B, OC);
    memset(g, 0, sizeof(float) * (size_t)a->nnz);
    sh_sddmm(g, a, doutT, inT, B);
    scatter_grad(m->grads + m->tensors[op->w].offset, a, g);
    float *db = m->grads + m->tensors[op->b].offset;
    for (int i = 0; i < B; i++)
        for (int o = 0; o < OC; o++)
            db[o] += dout[(size_t)i * OC + o];
    if (!din)
        return;
    memset(dinT, 0, sizeof(float) * (size_t)B * C);
    sh_spmm_t(dinT, a, doutT, B);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < B; i++)
        for (int c = 0; c < C; c++)
            din[(size_t)i * C + c] += dinT[(size_t)c * B + i];
}

static void conv_backward_sparse(sh_model_t *m, const sh_op_t *op, float *din, const float *dout,
                                 const float *in, int B, int nth)
{
    const sh_csr_t *a = op->csr;
    size_t per = (size_t)a->nnz + (size_t)op->OC;
    float *g = sparse_scratch(m, (size_t)a->nnz + per * (size_t)nth);
    memset(g, 0, sizeof(float) * (size_t)a->nnz);
    sh_conv2d_backward_sparse(din, g, grad_ptr(m, op->b), dout, in, a, B, &op->conv, m->scratch,
                              g + a->nnz, nth);
    scatter_grad(m->grads + m->tensors[op->w].offset, a, g);
}

/* ---- passes -------------------------------------------------------------- */

const float *sh_model_forward(sh_model_t *m, const float *x, int B, int train)
{
    SH_ASSERT(B >= 1 && B <= m->batch_cap);
    const int nth = omp_get_max_threads();
    ensure_scratch(m, nth);
    memcpy(m->slot_act[0], x, sizeof(float) * m->slot_numel[0] * (size_t)B);
    for (int o = 0; o < m->n_ops; o++) {
        sh_op_t *op = &m->ops[o];
        const float *in = m->slot_act[op->x];
        float *out = m->slot_act[op->y];
        switch (op->kind) {
        case SH_OP_LINEAR:
            if (sparse_weights(m, op))
                linear_forward_sparse(m, op, out, in, B);
            else
                sh_linear_forward(out, in, tensor_ptr(m, op->w), tensor_ptr(m, op->b), B,
                                  op->C * op->H * op->W, op->OC);
            break;
        case SH_OP_CONV2D:
            if (sparse_weights(m, op))
                sh_conv2d_forward_sparse(out, in, op->csr, tensor_ptr(m, op->b), B, &op->conv,
                                         m->scratch, nth);
            else
                sh_conv2d_forward(out, in, tensor_ptr(m, op->w), tensor_ptr(m, op->b), B,
                                  &op->conv, m->scratch, nth);
            break;
        case SH_OP_BATCHNORM2D: {
            float *run = m->buffers + op->buf_offset;
            if (train)
                sh_batchnorm_forward_train(out, m->saved + op->saved_offset, run,
                                           run + op->C, in, tensor_ptr(m, op->w),
                                           tensor_ptr(m, op->b), B, op->C,
                                           op->H * op->W);
            else
                sh_batchnorm_forward_eval(out, in, tensor_ptr(m, op->w),
                                          tensor_ptr(m, op->b), run, run + op->C, B,
                                          op->C, op->H * op->W);
            break;
        }
        case SH_OP_RELU:
            sh_relu_forward(out, in, m->slot_numel[op->x] * (size_t)B);
            break;
        case SH_OP_MAXPOOL2D:
            sh_maxpool_forward(out, m->argmax + op->argmax_offset * (size_t)m->batch_cap,
                               in, B, op->C, op->H, op->W, op->K, op->stride);
            break;
        case SH_OP_AVGPOOL:
            sh_avgpool_forward(out, in, B, op->C, op->H * op->W);
            break;
        case SH_OP_RESIDUAL:
            sh_residual_forward(out, in, m->slot_act[op->x2], B, op->C, op->H, op->W,
                                op->OC, op->OH, op->OW);
            break;
        }
    }
    return m->slot_act[m->n_slots - 1];
}

float sh_model_loss(sh_model_t *m, const int32_t *y, int B, int backward, int *correct)
{
    int last = m->n_slots - 1;
    return sh_softmax_xent(backward ? m->slot_grad[last] : NULL, correct,
                           m->slot_act[last], y, B, m->n_classes);
}

void sh_model_zero_grad(sh_model_t *m)
{
    memset(m->grads, 0, sizeof(float) * m->n_params);
    /* Only the first batch_cap-sized region of each slot is in use; the
     * logits' gradient is written, not accumulated, by the loss. */
    for (int s = 1; s < m->n_slots - 1; s++)
        memset(m->slot_grad[s], 0, sizeof(float) * m->slot_numel[s] * (size_t)m->batch_cap);
}

void sh_model_backward(sh_model_t *m, int B)
{
    const int nth = omp_get_max_threads();
    ensure_scratch(m, nth);
    for (int o = m->n_ops - 1; o >= 0; o--) {
        sh_op_t *op = &m->ops[o];
        const float *in = m->slot_act[op->x];
        const float *dout = m->slot_grad[op->y];
        float *din = op->x == 0 ? NULL : m->slot_grad[op->x];
        switch (op->kind) {
        case SH_OP_LINEAR:
            /* The forward pass decided and refreshed op->csr. */
            if (op->csr)
                linear_backward_sparse(m, op, din, dout, in, B);
            else
                sh_linear_backward(din, grad_ptr(m, op->w), grad_ptr(m, op->b), dout, in,
                                   tensor_ptr(m, op->w), B, op->C * op->H * op->W, op->OC);
            break;
        case SH_OP_CONV2D:
            if (op->csr)
                conv_backward_sparse(m, op, din, dout, in, B, nth);
            else
                sh_conv2d_backward(din, grad_ptr(m, op->w), grad_ptr(m, op->b), dout, in,
                                   tensor_ptr(m, op->w), B, &op->conv, m->scratch, nth);
            break;
        case SH_OP_BATCHNORM2D:
            sh_batchnorm_backward(din, grad_ptr(m, op->w), grad_ptr(m, op->b), dout, in,
                                  m->saved + op->saved_offset, tensor_ptr(m, op->w), B,
                                  op->C, op->H * op->W);
            break;
        case SH_OP_RELU:
            if (din)
                sh_relu_backward(din, dout, m->slot_act[op->y],
                                 m->slot_numel[op->x] * (size_t)B);
            break;
        case SH_OP_MAXPOOL2D:
            if (din)
                sh_maxpool_backward(din, dout,
                                    m->argmax + op->argmax_offset * (size_t)m->batch_cap,
                                    B, op->C, op->H, op->W, op->K, op->stride);
            break;
        case SH_OP_AVGPOOL:
            if (din)
                sh_avgpool_backward(din, dout, B, op->C, op->H * op->W);
            break;
        case SH_OP_RESIDUAL:
            sh_residual_backward(m->slot_grad[op->x],
                                 op->x2 == 0 ? NULL : m->slot_grad[op->x2], dout, B,
                                 op->C, op->H, op->W, op->OC, op->OH, op->OW);
            break;
        }
    }
}

/* ---- masks ---------------------------------------------------------------- */

void sh_model_apply_mask(sh_model_t *m)
{
    m->mask_version++;
    size_t words = sh_mask_words(m->n_params);
#pragma omp parallel for schedule(static)
    for (size_t wi = 0; wi < words; wi++) {
        uint64_t word = m->mask[wi];
        if (word == ~(uint64_t)0)
            continue;
        size_t base = wi * 64;
        size_t end = SH_MIN(base + 64, m->n_params);
        for (size_t i = base; i < end; i++)
            if (!((word >> (i - base)) & 1u)) {
                m->params[i] = 0.0f;
                m->opt_m[i] = 0.0f;
                if (m->opt_v)
                    m->opt_v[i] = 0.0f;
            }
    }
}

size_t sh_tensor_alive(const sh_model_t *m, int t)
{
    const sh_tensor_t *tt = &m->tensors[t];
    size_t alive = 0, w0 = tt->offset / 64, w1 = (tt->offset + tt->numel + 63) / 64;
    for (size_t wi = w0; wi < w1; wi++)
        alive += (size_t)__builtin_popcountll(m->mask[wi]);
    return alive;
}

size_t sh_model_alive(const sh_model_t *m)
{
    size_t alive = 0;
    for (int t = 0; t < m->n_tensors; t++)
        if (m->tensors[t].prunable)
            alive += sh_tensor_alive(m, t);
    return alive;
}

double sh_model_density(const sh_model_t *m)
{
    return m->n_prunable ? (double)sh_model_alive(m) / (double)m->n_prunable : 1.0;
}

int sh_model_find_tensor(const sh_model_t *m, const char *name)
{
    for (int t = 0; t < m->n_tensors; t++)
        if (!strcmp(m->tensors[t].name, name))
            return t;
    for (int o = 0; o < m->n_ops; o++)
        if (!strcmp(m->ops[o].name, name) && m->ops[o].w >= 0 &&
            m->tensors[m->ops[o].w].prunable)
            return m->ops[o].w;
    return -1;
}

double sh_model_flops(const sh_model_t *m)
{
    double f = 0.0;
    for (int o = 0; o < m->n_ops; o++) {
        const sh_op_t *op = &m->ops[o];
        if (op->kind == SH_OP_LINEAR)
            f += (double)op->C * op->H * op->W * op->OC;
        else if (op->kind == SH_OP_CONV2D)
            f += (double)op->OC * op->OH * op->OW * op->C * op->K * op->K;
    }
    return f;
}
