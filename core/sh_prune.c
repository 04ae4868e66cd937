/* sh_prune.c - magnitude and random pruning by exact count.
 *
 * The cut is exact: the k-th smallest magnitude is found by selection, every
 * weight below it goes, and ties at the threshold go in index order until
 * exactly k are gone. So a global prune hits its target to the weight. */
#include "sh_prune.h"

#include "sh_rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Quickselect with a three-way partition (robust to many equal values):
 * returns the k-th smallest (0-based) of v[0..n), reordering v. */
static float select_kth(float *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    uint64_t state = 0x2545f4914f6cdd1dULL;
    while (lo < hi) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        float pivot = v[lo + state % (hi - lo + 1)];
        size_t lt = lo, i = lo, gt = hi;
        while (i <= gt) {
            if (v[i] < pivot) {
                float t = v[lt];
                v[lt++] = v[i];
                v[i++] = t;
            } else if (v[i] > pivot) {
                float t = v[gt];
                v[gt] = v[i];
                v[i] = t;
                gt--; /* the pivot value sits in [lt, gt], so gt >= lt here */
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt - 1;
        else if (k > gt)
            lo = gt + 1;
        else
            return pivot;
    }
    return v[k];
}

typedef struct {
    int *tensors;
    int n;
    double density;
} group_t;

static size_t group_size(const sh_model_t *m, const group_t *g)
{
    size_t n = 0;
    for (int i = 0; i < g->n; i++)
        n += m->tensors[g->tensors[i]].numel;
    return n;
}

static size_t group_alive(const sh_model_t *m, const group_t *g)
{
    size_t n = 0;
    for (int i = 0; i < g->n; i++)
        n += sh_tensor_alive(m, g->tensors[i]);
    return n;
}

static void prune_magnitude(sh_model_t *m, const group_t *g, size_t remove)
{
    size_t alive = group_alive(m, g);
    float *mags = sh_xmalloc(sizeof(float) * (alive ? alive : 1));
    size_t k = 0;
    for (int i = 0; i < g->n; i++) {
        const sh_tensor_t *t = &m->tensors[g->tensors[i]];
        for (size_t j = 0; j < t->numel; j++)
            if (sh_mask_get(m->mask, t->offset + j))
                mags[k++] = fabsf(m->params[t->offset + j]);
    }
    float thr = select_kth(mags, alive, remove - 1);
    free(mags);
    /* Everything strictly below the threshold goes; ties fill the rest. */
    size_t below = 0;
    for (int i = 0; i < g->n; i++) {
        const sh_tensor_t *t = &m->tensors[g->tensors[i]];
        for (size_t j = 0; j < t->numel; j++)
            if (sh_mask_get(m->mask, t->offset + j) &&
                fabsf(m->params[t->offset + j]) < thr)
                below++;
    }
    size_t ties = remove - below;
    for (int i = 0; i < g->n; i++) {
        const sh_tensor_t *t = &m->tensors[g->tensors[i]];
        for (size_t j = 0; j < t->numel; j++) {
            size_t p = t->offset + j;
            if (!sh_mask_get(m->mask, p))
                continue;
            float a = fabsf(m->params[p]);
            if (a < thr) {
                sh_mask_clear(m->mask, p);
            } else if (a == thr && ties > 0) {
                sh_mask_clear(m->mask, p);
                ties--;
            }
        }
    }
}

static void prune_random(sh_model_t *m, const group_t *g, size_t remove,
                         uint64_t seed, uint64_t stream)
{
    size_t alive = group_alive(m, g);
    size_t *pos = sh_xmalloc(sizeof(size_t) * (alive ? alive : 1));
    size_t k = 0;
    for (int i = 0; i < g->n; i++) {
        const sh_tensor_t *t = &m->tensors[g->tensors[i]];
        for (size_t j = 0; j < t->numel; j++)
            if (sh_mask_get(m->mask, t->offset + j))
                pos[k++] = t->offset + j;
    }
    sh_rng_t rng;
    sh_rng_seed(&rng, seed, stream);
    /* Partial Fisher-Yates: the first `remove` entries are a uniform sample. */
    for (size_t i = 0; i < remove; i++) {
        size_t j = i + (size_t)(sh_rng_next(&rng) % (uint64_t)(alive - i));
        size_t t = pos[i];
        pos[i] = pos[j];
        pos[j] = t;
        sh_mask_clear(m->mask, pos[i]);
    }
    free(pos);
}

static void prune_group(sh_model_t *m, const group_t *g, const sh_prune_plan_t *plan,
                        uint64_t stream)
{
    if (g->n == 0)
        return;
    size_t size = group_size(m, g), alive = group_alive(m, g);
    size_t keep = (size_t)llround(g->density * (double)size);
    if (keep >= alive)
        return;
    size_t remove = alive - keep;
    if (plan->method == SH_PRUNE_RANDOM)
        prune_random(m, g, remove, plan->seed, stream);
    else
        prune_magnitude(m, g, remove);
}

sh_status_t sh_prune(sh_model_t *m, const sh_prune_plan_t *plan, sh_err_t *err)
{
    if (!(plan->density >= 0.0 && plan->density <= 1.0))
        return sh_fail(err, SH_EARG, "prune density %g is outside [0, 1]", plan->density);
    for (int t = 0; t < m->n_tensors; t++) {
        double d = plan->tensor_density ? plan->tensor_density[t] : -1.0;
        if (m->tensors[t].prunable && d >= 0.0 && !(d <= 1.0))
            return sh_fail(err, SH_EARG, "prune density %g for %s is outside [0, 1]", d,
                           m->tensors[t].name);
    }
    int *pool = sh_xmalloc(sizeof(int) * (size_t)m->n_tensors);
    group_t shared = {.tensors = pool, .n = 0, .density = plan->density};
    for (int t = 0; t < m->n_tensors; t++) {
        if (!m->tensors[t].prunable)
            continue;
        double d = plan->tensor_density ? plan->tensor_density[t] : -1.0;
        uint64_t stream = SH_STREAM(SH_STREAM_PRUNE, plan->round * 4096 + (uint64_t)t + 1);
        if (d >= 0.0) {
            group_t own = {.tensors = &t, .n = 1, .density = d};
            prune_group(m, &own, plan, stream);
        } else if (plan->scope == SH_SCOPE_LAYERWISE) {
            group_t own = {.tensors = &t, .n = 1, .density = plan->density};
            prune_group(m, &own, plan, stream);
        } else {
            pool[shared.n++] = t;
        }
    }
    prune_group(m, &shared, plan, SH_STREAM(SH_STREAM_PRUNE, plan->round * 4096));
    free(pool);
    sh_model_apply_mask(m);
    return SH_OK;
}
