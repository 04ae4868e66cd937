/* sh_s3.h - a small client for S3-compatible object stores (AWS S3, Ceph
 * radosgw, MinIO), for keeping shears artifacts off-node.
 *
 * Requests are path-style (ENDPOINT/BUCKET/KEY) and signed with AWS
 * Signature V4 by libcurl. Every request carries the real SHA-256 of its body
 * in x-amz-content-sha256, so the server rejects an upload whose bytes
 * changed on the way (XAmzContentSHA256Mismatch). Files stream both ways:
 * nothing is held in memory whole, whatever its size.
 *
 * Thread-safety: an sh_s3_t is read-only after sh_s3_open and each call uses
 * its own curl handle, so one client may be shared by many threads.
 *
 * Failures: SH_EARG for a bad configuration or key (nothing was sent),
 * SH_ENOTFOUND when the server answers 404, SH_EIO for everything else
 * (connection refused, timeouts, other HTTP errors, local file errors). The
 * message names the method, URL, HTTP status and the S3 error Code from the
 * response body when there is one, e.g.
 *   "s3 GET http://127.0.0.1:7480/b/k: HTTP 403 SignatureDoesNotMatch". */
#ifndef SH_S3_H
#define SH_S3_H

#include "sh_common.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *endpoint;   /* e.g. http://127.0.0.1:7480 (http or https) */
    const char *bucket;
    const char *region;     /* default "us-east-1" */
    const char *access_key;
    const char *secret_key;
} sh_s3_cfg_t;

typedef struct sh_s3 sh_s3_t;

/* Fills *cfg from a URL; the strings are copied into buf[0..cap) and cfg
 * points into it, so buf must outlive cfg. Accepted forms:
 *   s3://ACCESS:SECRET@HOST[:PORT]/BUCKET      plain HTTP to HOST:PORT
 *   http://ACCESS:SECRET@HOST[:PORT]/BUCKET    the same, spelled out
 *   https://ACCESS:SECRET@HOST[:PORT]/BUCKET   TLS
 * A trailing '/' after BUCKET is allowed; anything more in the path is not.
 * ACCESS and SECRET are percent-decoded (write '/' in a secret as %2F). If
 * the URL has no credentials they come from $AWS_ACCESS_KEY_ID and
 * $AWS_SECRET_ACCESS_KEY; the region comes from $AWS_REGION, else
 * $AWS_DEFAULT_REGION, else "us-east-1". Returns SH_EARG for a malformed URL
 * or missing credentials, SH_ENOMEM if buf is too small. */
sh_status_t sh_s3_cfg_parse(sh_s3_cfg_t *cfg, const char *url, char *buf, size_t cap,
                            sh_err_t *err);

/* Validates cfg, copies it, and checks that the bucket exists, creating it
 * if the server says NoSuchBucket. Returns SH_OK with *out set, SH_EARG for
 * a bad configuration (endpoint not http(s)://, invalid bucket name, missing
 * keys), SH_EIO if the server cannot be reached or refuses (wrong keys give
 * "HTTP 403 SignatureDoesNotMatch" or "InvalidAccessKeyId"). *out is NULL
 * on failure. */
sh_status_t sh_s3_open(sh_s3_t **out, const sh_s3_cfg_t *cfg, sh_err_t *err);

/* Frees the client and sets *self_p to NULL; NULL-safe. */
void sh_s3_close(sh_s3_t **self_p);

/* Keys: 1..1024 characters of [A-Za-z0-9._/-], without a leading '/', an
 * empty segment ("a//b") or a "." / ".." segment (which URL handling would
 * rewrite). Returns 1 if key is acceptable, else 0. */
int sh_s3_key_valid(const char *key);

/* Uploads the regular file at path as key (replacing any object there). The
 * file is read twice, streaming: once for its SHA-256 and size, once to send
 * it. Returns SH_OK once the server has stored it; SH_EARG for a bad key,
 * SH_EIO if the file cannot be read or changes during the upload, or the
 * server refuses. */
sh_status_t sh_s3_put_file(sh_s3_t *s, const char *key, const char *path, sh_err_t *err);

/* Downloads key to path: the body streams into "path.part", which is
 * fsync'd and renamed over path (then the directory is fsync'd), so path is
 * either untouched or complete. Returns SH_ENOTFOUND if the key (or bucket)
 * does not exist, SH_EARG for a bad key, SH_EIO otherwise; on failure
 * path.part is removed. */
sh_status_t sh_s3_get_file(sh_s3_t *s, const char *key, const char *path, sh_err_t *err);

/* Asks for key's metadata; *size (if size is not NULL) gets its length in
 * bytes. Returns SH_ENOTFOUND if absent, SH_EARG for a bad key, SH_EFORMAT
 * if the answer has no Content-Length, SH_EIO otherwise. A HEAD response
 * has no body, so errors here carry the HTTP status only. */
sh_status_t sh_s3_head(sh_s3_t *s, const char *key, uint64_t *size, sh_err_t *err);

/* Deletes key. Deleting a key that does not exist succeeds (S3 semantics);
 * SH_ENOTFOUND means the bucket itself is gone; SH_EARG for a bad key,
 * SH_EIO otherwise. */
sh_status_t sh_s3_delete(sh_s3_t *s, const char *key, sh_err_t *err);

#endif
