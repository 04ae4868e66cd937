/* export.c - results payload -> files. */
#include "export.h"

#include "sh_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static sh_status_t write_mem(const char *path, void (*fn)(FILE *, const sh_row_t *, int),
                             const sh_row_t *rows, int n, sh_err_t *err)
{
    char *buf;
    size_t len;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return sh_fail(err, SH_ENOMEM, "out of memory");
    fn(mem, rows, n);
    fclose(mem);
    sh_status_t st = sh_file_write_atomic(path, buf, len, err);
    free(buf);
    return st;
}

static int has_size(const char *path, uint64_t size)
{
    struct stat st;
    return stat(path, &st) == 0 && (uint64_t)st.st_size == size;
}

sh_status_t sh_export_results(const sh_results_payload_t *r, const char *dir,
                              const char *store_dir, sh_client_t *c, int *n_files, sh_err_t *err)
{
    char path[4400];
    *n_files = 0;
    snprintf(path, sizeof path, "%s/jobs", dir);
    sh_status_t st = sh_mkdirs(path, err);
    if (st != SH_OK)
        return st;
    sh_row_t *rows = sh_xcalloc((size_t)r->n_rows + 1, sizeof *rows);
    int n = sh_results_done_rows(r, rows);
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    st = write_mem(path, sh_rows_write_csv, rows, n, err);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    if (st == SH_OK)
        st = write_mem(path, sh_rows_write_jsonl, rows, n, err);
    snprintf(path, sizeof path, "%s/sweep.yaml", dir);
    if (st == SH_OK && r->yaml && r->yaml[0])
        st = sh_file_write_atomic(path, r->yaml, strlen(r->yaml), err);
    for (int i = 0; i < n && st == SH_OK; i++) {
        char jdir[4300];
        snprintf(jdir, sizeof jdir, "%s/jobs/%s", dir, rows[i].job);
        if ((st = sh_mkdirs(jdir, err)) != SH_OK)
            break;
        char *json = sh_result_to_json(&rows[i].r);
        snprintf(path, sizeof path, "%s/result.json", jdir);
        st = json ? sh_file_write_atomic(path, json, strlen(json), err)
                  : sh_fail(err, SH_ENOMEM, "out of memory");
        free(json);
    }
    for (int a = 0; a < r->n_arts && st == SH_OK; a++) {
        const sh_result_artifact_t *art = &r->arts[a];
        char jdir[4300];
        snprintf(jdir, sizeof jdir, "%s/jobs/%s", dir, art->job);
        if ((st = sh_mkdirs(jdir, err)) != SH_OK)
            break;
        snprintf(path, sizeof path, "%s/%s", jdir, art->name);
        if (has_size(path, art->size))
            continue;
        unlink(path);
        int linked = 0;
        if (store_dir) {
            char src[4400];
            snprintf(src, sizeof src, "%s/%.2s/%s", store_dir, art->sha256, art->sha256);
            linked = link(src, path) == 0;
        }
        if (!linked) {
            if (!c) {
                st = sh_fail(err, SH_ENOTFOUND, "artifact %.12s is not available locally",
                             art->sha256);
                break;
            }
            st = sh_client_fetch_artifact(c, art->sha256, art->size, path, err);
        }
        (*n_files)++;
    }
    free(rows);
    return st;
}
