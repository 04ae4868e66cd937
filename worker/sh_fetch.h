/* sh_fetch.h - where a job's dataset lives on this node.
 *
 * A dataset is given by a directory path, or by a URL (http, https or file)
 * under which the dataset's standard files can be found, plus a SHA-256
 * that pins the content: the hash of its manifest, one line
 * "<sha256 of file>  <file name>\n" per file in the dataset's file order
 * (`shears dataset-hash NAME DIR` prints it). Downloads land in
 * CACHE/datasets/<sha256>/ and are verified before anything uses them. */
#ifndef SH_FETCH_H
#define SH_FETCH_H

#include "sh_common.h"

#include <stddef.h>

/* The files of a named dataset, NULL-terminated; NULL for an unknown name. */
const char *const *sh_dataset_files(const char *name);

/* Manifest hash of a dataset directory (see above). */
sh_status_t sh_dataset_manifest(const char *name, const char *dir, char sha256[65],
                                sh_err_t *err);

/* Resolves the directory to load the dataset from into out: `path` when it
 * exists on this node, else the verified download of `url` (fetched once
 * per cache, safe against concurrent callers in any process). Errors name
 * the URL and say what went wrong: HTTP status, timeout, checksum mismatch. */
sh_status_t sh_fetch_dataset_dir(const char *cache_dir, const char *name, const char *path,
                                 const char *url, const char *sha256, char *out, size_t cap,
                                 sh_err_t *err);

#endif
