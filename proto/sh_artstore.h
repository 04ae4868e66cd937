/* sh_artstore.h - a content-addressed file store: DIR/<first 2 hex>/<sha256>.
 *
 * The broker keeps every job output here; each worker keeps a cache of the
 * same shape, so a parent checkpoint crosses the network once per node.
 * Files enter only through a verified path: an upload is written to
 * DIR/tmp/, hashed as it arrives, and renamed into place only if its size
 * and SHA-256 match what was announced; a local file is hashed, then moved
 * in. A file in the store therefore always matches its name. */
#ifndef SH_ARTSTORE_H
#define SH_ARTSTORE_H

#include "sh_common.h"

#include <stdint.h>

typedef struct sh_artstore sh_artstore_t;
typedef struct sh_upload sh_upload_t;

/* Opens (creating) a store; uploads larger than max_size are refused. */
sh_status_t sh_artstore_open(sh_artstore_t **out, const char *dir, uint64_t max_size,
                             sh_err_t *err);
void sh_artstore_close(sh_artstore_t **self_p);

/* Path of an artifact (whether or not it exists). */
void sh_artstore_path(const sh_artstore_t *self, const char *sha256, char *buf, size_t cap);

/* A path for a temporary file inside the store (same file system, so it
 * can be moved in with sh_artstore_add_file). */
void sh_artstore_tmp_path(const sh_artstore_t *self, const char *name, char *buf, size_t cap);

/* 1 and its size if present, else 0. */
int sh_artstore_has(const sh_artstore_t *self, const char *sha256, uint64_t *size);

/* Reads up to len bytes at offset into buf; *n bytes read, *total the
 * artifact's size. SH_ENOTFOUND if absent. */
sh_status_t sh_artstore_read(const sh_artstore_t *self, const char *sha256, uint64_t offset,
                             void *buf, size_t len, size_t *n, uint64_t *total, sh_err_t *err);

/* Hashes a local file and moves it into the store (copying across file
 * systems); reports its hash and size. */
sh_status_t sh_artstore_add_file(sh_artstore_t *self, const char *path, char sha256[65],
                                 uint64_t *size, sh_err_t *err);

/* Chunked, verified upload. Chunks must arrive in order (offset == bytes
 * written so far). finish verifies size and hash, fsyncs and renames; any
 * failure discards the partial file. */
sh_status_t sh_upload_begin(sh_artstore_t *self, const char *sha256, uint64_t size,
                            sh_upload_t **out, sh_err_t *err);
sh_status_t sh_upload_write(sh_upload_t *up, uint64_t offset, const void *data, size_t len,
                            sh_err_t *err);
sh_status_t sh_upload_finish(sh_upload_t **up_p, sh_err_t *err);
void sh_upload_abort(sh_upload_t **up_p);
const char *sh_upload_sha256(const sh_upload_t *up);
uint64_t sh_upload_written(const sh_upload_t *up);

/* SHA-256 of a whole file, streamed. */
sh_status_t sh_sha256_file(const char *path, char sha256[65], uint64_t *size, sh_err_t *err);

#endif
