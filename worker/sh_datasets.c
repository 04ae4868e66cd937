/* sh_datasets.c - a small process-wide dataset cache guarded by a mutex. */
#include "sh_datasets.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char key[1200];
    sh_data_bundle_t bundle;
    struct entry *next;
} entry_t;

struct sh_datasets {
    pthread_mutex_t lock;
    entry_t *entries;
};

sh_datasets_t *sh_datasets_new(void)
{
    sh_datasets_t *self = sh_xcalloc(1, sizeof *self);
    pthread_mutex_init(&self->lock, NULL);
    return self;
}

void sh_datasets_destroy(sh_datasets_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sh_datasets_t *self = *self_p;
    for (entry_t *e = self->entries, *next; e; e = next) {
        next = e->next;
        sh_dataset_free(&e->bundle.train);
        sh_dataset_free(&e->bundle.val);
        sh_dataset_free(&e->bundle.test);
        free(e);
    }
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

sh_status_t sh_datasets_get(sh_datasets_t *self, const char *name, const char *dir,
                            int validation, const sh_data_bundle_t **out, sh_err_t *err)
{
    char key[1200];
    snprintf(key, sizeof key, "%s|%s|%d", name, dir, validation);
    pthread_mutex_lock(&self->lock);
    for (entry_t *e = self->entries; e; e = e->next)
        if (!strcmp(e->key, key)) {
            *out = &e->bundle;
            pthread_mutex_unlock(&self->lock);
            return SH_OK;
        }
    /* Loading under the lock: concurrent first uses wait instead of loading
     * the same files twice. */
    entry_t *e = sh_xcalloc(1, sizeof *e);
    snprintf(e->key, sizeof e->key, "%s", key);
    sh_status_t st = sh_dataset_load_dir(name, dir, &e->bundle.train, &e->bundle.test, err);
    if (st == SH_OK && validation > 0)
        st = sh_dataset_split(&e->bundle.train, &e->bundle.val, validation, 0, err);
    if (st != SH_OK) {
        sh_dataset_free(&e->bundle.train);
        sh_dataset_free(&e->bundle.test);
        free(e);
        pthread_mutex_unlock(&self->lock);
        return st;
    }
    sh_norm_compute(&e->bundle.norm, &e->bundle.train);
    e->next = self->entries;
    self->entries = e;
    *out = &e->bundle;
    pthread_mutex_unlock(&self->lock);
    return SH_OK;
}
