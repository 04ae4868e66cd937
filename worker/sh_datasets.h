/* sh_datasets.h - datasets for jobs: located by path (URL fetching lives in
 * the worker's fetch module), split and normalized once per process, shared
 * read-only by every job that runs there. */
#ifndef SH_DATASETS_H
#define SH_DATASETS_H

#include "sh_common.h"
#include "sh_data.h"

typedef struct {
    sh_dataset_t train;  /* training split (validation samples removed) */
    sh_dataset_t val;    /* n == 0 when no validation split */
    sh_dataset_t test;
    sh_norm_t norm;      /* computed on `train` */
} sh_data_bundle_t;

typedef struct sh_datasets sh_datasets_t;

sh_datasets_t *sh_datasets_new(void);
void sh_datasets_destroy(sh_datasets_t **self_p);

/* Returns the bundle for (name, directory, validation), loading it on first
 * use; thread-safe. The bundle lives until the cache is destroyed. The split
 * seed is fixed (0), so a validation split is the same for every job. */
sh_status_t sh_datasets_get(sh_datasets_t *self, const char *name, const char *dir,
                            int validation, const sh_data_bundle_t **out, sh_err_t *err);

#endif
