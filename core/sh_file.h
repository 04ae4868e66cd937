/* sh_file.h - whole-file reads and crash-safe writes.
 *
 * Writes go to a temporary file in the destination's directory, are fsync'd,
 * and renamed over the destination, then the directory is fsync'd: a reader
 * sees the old file or the new one, never half of one. */
#ifndef SH_FILE_H
#define SH_FILE_H

#include "sh_common.h"

#include <stddef.h>

/* Reads all of path into a malloc'd buffer (NUL-terminated for convenience,
 * the NUL not counted in *len). Fails with SH_EFORMAT if the file is larger
 * than max bytes, SH_EIO if it cannot be read. */
sh_status_t sh_file_read(const char *path, size_t max, char **data, size_t *len,
                         sh_err_t *err);

/* Atomically replaces path with data[0..len). */
sh_status_t sh_file_write_atomic(const char *path, const void *data, size_t len,
                                 sh_err_t *err);

/* mkdir -p; existing directories are fine. */
sh_status_t sh_mkdirs(const char *path, sh_err_t *err);

int sh_file_exists(const char *path);

#endif
