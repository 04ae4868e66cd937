/* sh_prune.h - unstructured pruning over the mask bitset.
 *
 * Only prunable tensors (conv and linear weights) are ever pruned. A plan
 * gives each such tensor either the shared (global or per-layer) target
 * density, its own density, or no pruning at all. Targets count weights
 * against the tensor's (or pool's) full size, so iterative rounds compound:
 * density 0.8 then 0.64 then 0.512 of the original weights. */
#ifndef SH_PRUNE_H
#define SH_PRUNE_H

#include "sh_model.h"

typedef enum { SH_PRUNE_MAGNITUDE = 1, SH_PRUNE_RANDOM } sh_prune_method_t;
typedef enum { SH_SCOPE_GLOBAL = 1, SH_SCOPE_LAYERWISE } sh_prune_scope_t;

typedef struct {
    sh_prune_method_t method;
    sh_prune_scope_t scope;
    double density;          /* target for tensors without their own */
    double *tensor_density;  /* per tensor: < 0 = use `density`, else own
                                target (1.0 leaves it unpruned); may be NULL */
    uint64_t seed;           /* SH_PRUNE_RANDOM: randomness */
    uint64_t round;          /* SH_PRUNE_RANDOM: stream index */
} sh_prune_plan_t;

/* Clears mask bits so each group reaches its target: keeps
 * round(density * size) weights of the group, removing the alive ones of
 * smallest magnitude (ties broken by position) or, for SH_PRUNE_RANDOM,
 * uniformly chosen alive ones. A group already at or below its target is left
 * alone (masks only ever shrink). Then zeroes the pruned weights.
 * With SH_SCOPE_GLOBAL the tensors using `density` form one pool;
 * with SH_SCOPE_LAYERWISE each tensor is its own group.
 * Returns SH_EARG for a density outside [0, 1]. */
sh_status_t sh_prune(sh_model_t *m, const sh_prune_plan_t *plan, sh_err_t *err);

#endif
