/* sh_model.h - networks as a flat list of ops over numbered activation slots,
 * with every parameter in one arena.
 *
 * Memory: params, grads, optimizer state (m, v) and non-trainable buffers
 * (batchnorm running statistics) are each one allocation, carved into named
 * tensors by the tensor table; activations and their gradients are one
 * allocation each, sized for a batch capacity. The pruning mask is a bitset
 * over the parameter arena, so "all weights" is always one flat loop. */
#ifndef SH_MODEL_H
#define SH_MODEL_H

#include "sh_common.h"
#include "sh_layers.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SH_OP_LINEAR = 1,
    SH_OP_CONV2D,
    SH_OP_BATCHNORM2D,
    SH_OP_RELU,
    SH_OP_MAXPOOL2D,
    SH_OP_AVGPOOL,   /* global average pool */
    SH_OP_RESIDUAL,  /* out = x + shortcut(x2) */
} sh_op_kind_t;

typedef struct {
    char name[32];       /* "fc1.weight" */
    size_t offset;       /* into the parameter arena */
    size_t numel;
    int ndim;
    int shape[4];
    int fan_in;
    int prunable;        /* conv and linear weights only */
    int op;              /* index of the op that owns it */
} sh_tensor_t;

typedef struct {
    sh_op_kind_t kind;
    char name[24];          /* layer name: "conv1", "layer2.0.bn1" */
    int x, x2, y;           /* activation slots: inputs and output (x2 = -1) */
    int w, b;               /* tensor indices or -1 */
    int C, H, W;            /* input shape per sample (x) */
    int OC, OH, OW;         /* output shape per sample */
    int K, stride, pad;
    sh_conv_shape_t conv;   /* SH_OP_CONV2D */
    size_t buf_offset;      /* SH_OP_BATCHNORM2D: running mean, var (2C) */
    size_t saved_offset;    /* SH_OP_BATCHNORM2D: saved stats (2C floats) */
    size_t argmax_offset;   /* SH_OP_MAXPOOL2D: int32 per output element */
    sh_csr_t *csr;          /* live weights as CSR when below the crossover */
    unsigned csr_version;   /* mask version csr was decided for */
    unsigned csr_values;    /* parameter version its values were gathered at */
} sh_op_t;

typedef struct sh_model sh_model_t;
struct sh_model {
    char arch[32];
    int in_c, in_h, in_w, n_classes;

    sh_tensor_t *tensors;
    int n_tensors;
    sh_op_t *ops;
    int n_ops;

    size_t n_params;      /* floats in the parameter arena */
    size_t n_prunable;    /* prunable weights among them */
    float *params;
    float *grads;
    float *opt_m;         /* optimizer state: momentum / Adam first moment */
    float *opt_v;         /* Adam second moment (NULL until Adam runs) */
    uint64_t *mask;       /* bit i = 1: params[i] is alive */
    size_t n_buffers;
    float *buffers;       /* non-trainable state (batchnorm running stats) */

    int n_slots;
    size_t *slot_numel;   /* per sample */
    int batch_cap;        /* activations are sized for this batch */
    float *acts;
    float *dacts;
    float **slot_act;     /* per slot: pointer into acts */
    float **slot_grad;    /* per slot: pointer into dacts */
    size_t n_saved;       /* batchnorm saved-stat floats */
    float *saved;
    size_t n_argmax;      /* maxpool argmax int32 per sample */
    int32_t *argmax;
    size_t scratch_n;     /* conv scratch floats, for scratch_threads */
    int scratch_threads;
    float *scratch;

    unsigned mask_version; /* bumped whenever the mask changes */
    unsigned param_version; /* bumped by every optimizer step; code that writes
                               params directly calls sh_model_apply_mask */
    double sparse_below;  /* layers with density below this use sparse kernels */
    float *sparse_ws;     /* scratch for the sparse paths */
    size_t sparse_ws_n;

    long step;            /* schedule position: global step of the next update */
    long opt_steps;       /* updates since the optimizer state was reset */
};

/* Creates an untrained model by architecture name for inputs (c, h, w) and
 * n_classes outputs. Known names: lenet_300_100, lenet5, conv2, conv4, conv6,
 * resnet20, resnet32, resnet56, vgg16. Returns SH_ENOTFOUND for an unknown
 * name and SH_EARG when the input is too small for the architecture.
 * Parameters are zero until sh_model_init. */
sh_status_t sh_model_new(sh_model_t **out, const char *arch, int c, int h, int w,
                         int n_classes, sh_err_t *err);
void sh_model_destroy(sh_model_t **self_p);

/* Floats in the parameter arena and in the buffers of the model sh_model_new
 * would build, without allocating either (for checking untrusted sizes
 * before committing memory). Fails as sh_model_new does. */
sh_status_t sh_model_sizes(const char *arch, int c, int h, int w, int n_classes,
                           size_t *n_params, size_t *n_buffers, sh_err_t *err);

/* Lists the known architecture names, NULL-terminated. */
const char *const *sh_model_archs(void);

/* Kaiming-normal (fan-in, ReLU gain) weights, zero biases, batchnorm gamma 1
 * and beta 0, running stats (0, 1); randomness from (seed, stream salt). The
 * mask is left as it is and applied afterwards. */
void sh_model_init(sh_model_t *m, uint64_t seed, uint64_t salt);

/* Makes activations room for batches up to B. Returns SH_ENOMEM on failure. */
sh_status_t sh_model_reserve(sh_model_t *m, int B);

/* Forward pass over x (B, c, h, w); returns the logits (B, n_classes), which
 * live in the model's activation arena until the next forward. train selects
 * batch statistics for batchnorm. B <= batch_cap. */
const float *sh_model_forward(sh_model_t *m, const float *x, int B, int train);

/* Loss on the logits of the last forward; writes their gradient when
 * `backward` is set (then call sh_model_backward). */
float sh_model_loss(sh_model_t *m, const int32_t *y, int B, int backward,
                    int *correct);

/* Clears parameter and activation gradients. */
void sh_model_zero_grad(sh_model_t *m);

/* Backward pass; parameter gradients are added into m->grads. */
void sh_model_backward(sh_model_t *m, int B);

/* Mask helpers. */
static inline int sh_mask_get(const uint64_t *mask, size_t i)
{
    return (int)((mask[i >> 6] >> (i & 63)) & 1u);
}
static inline void sh_mask_clear(uint64_t *mask, size_t i)
{
    mask[i >> 6] &= ~((uint64_t)1 << (i & 63));
}
static inline void sh_mask_set(uint64_t *mask, size_t i)
{
    mask[i >> 6] |= (uint64_t)1 << (i & 63);
}
size_t sh_mask_words(size_t n_params);

/* Zeroes every masked-out parameter (and its optimizer state). */
void sh_model_apply_mask(sh_model_t *m);
/* Alive prunable weights, and per tensor. */
size_t sh_model_alive(const sh_model_t *m);
size_t sh_tensor_alive(const sh_model_t *m, int t);
/* Fraction of prunable weights alive. */
double sh_model_density(const sh_model_t *m);

/* Index of the tensor named name ("fc3.weight"), or of the prunable weight
 * of the layer named name ("fc3"); -1 if none. */
int sh_model_find_tensor(const sh_model_t *m, const char *name);

/* Conv and linear layers whose weight density is below `below` run on the
 * sparse kernels (sh_sparse.h); 0 turns them off. The default,
 * SH_SPARSE_BELOW, is the crossover measured in bench/ (docs/BENCHMARKS.md);
 * the environment variable SHEARS_SPARSE_BELOW overrides it at model
 * creation. Results match the dense path within float rounding. */
#define SH_SPARSE_BELOW 0.2
void sh_model_set_sparse(sh_model_t *m, double below);
/* Number of layers currently on the sparse path. */
int sh_model_sparse_layers(sh_model_t *m);

/* Multiply-accumulates per sample of a dense forward pass (conv + linear). */
double sh_model_flops(const sh_model_t *m);

#endif
