/* sh_artstore.c - content-addressed files with verified entry. */
#include "sh_artstore.h"

#include "sh_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sh_artstore {
    char dir[4096];
    uint64_t max_size;
};

struct sh_upload {
    sh_artstore_t *store;
    char sha256[65];
    uint64_t size, written;
    int fd;
    char tmp[4200];
    crypto_hash_sha256_state h;
};

static int is_sha(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static void hex(char out[65], const unsigned char h[32])
{
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = d[h[i] >> 4];
        out[2 * i + 1] = d[h[i] & 15];
    }
    out[64] = '\0';
}

sh_status_t sh_artstore_open(sh_artstore_t **out, const char *dir, uint64_t max_size,
                             sh_err_t *err)
{
    *out = NULL;
    if (strlen(dir) > 3800)
        return sh_fail(err, SH_EARG, "store directory path is too long");
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    sh_status_t st = sh_mkdirs(tmp, err);
    if (st != SH_OK)
        return st;
    sh_artstore_t *s = sh_xcalloc(1, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    s->max_size = max_size;
    *out = s;
    return SH_OK;
}

void sh_artstore_close(sh_artstore_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

void sh_artstore_path(const sh_artstore_t *s, const char *sha, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%.2s/%s", s->dir, sha, sha);
}

void sh_artstore_tmp_path(const sh_artstore_t *s, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/tmp/%s", s->dir, name);
}

int sh_artstore_has(const sh_artstore_t *s, const char *sha, uint64_t *size)
{
    if (!is_sha(sha))
        return 0;
    char path[4200];
    sh_artstore_path(s, sha, path, sizeof path);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    if (size)
        *size = (uint64_t)st.st_size;
    return 1;
}

sh_status_t sh_artstore_read(const sh_artstore_t *s, const char *sha, uint64_t offset, void *buf,
                             size_t len, size_t *n, uint64_t *total, sh_err_t *err)
{
    *n = 0;
    if (!is_sha(sha))
        return sh_fail(err, SH_EARG, "not a sha256: '%.70s'", sha);
    char path[4200];
    sh_artstore_path(s, sha, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sh_fail(err, SH_ENOTFOUND, "artifact %.12s is not in the store", sha);
    struct stat st;
    fstat(fd, &st);
    *total = (uint64_t)st.st_size;
    if (offset > *total) {
        close(fd);
        return sh_fail(err, SH_EARG, "offset %llu is past the end of artifact %.12s",
                       (unsigned long long)offset, sha);
    }
    size_t want = (size_t)SH_MIN((uint64_t)len, *total - offset);
    while (*n < want) {
        ssize_t r = pread(fd, (char *)buf + *n, want - *n, (off_t)(offset + *n));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(fd);
            return sh_fail(err, SH_EIO, "reading artifact %.12s: %s", sha,
                           r < 0 ? strerror(errno) : "short read");
        }
        *n += (size_t)r;
    }
    close(fd);
    return SH_OK;
}

sh_status_t sh_sha256_file(const char *path, char sha256[65], uint64_t *size, sh_err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sh_fail(err, SH_EIO, "%s: %s", path, strerror(errno));
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    unsigned char buf[1 << 16];
    uint64_t total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return sh_fail(err, SH_EIO, "%s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        crypto_hash_sha256_update(&h, buf, (unsigned long long)r);
        total += (uint64_t)r;
    }
    close(fd);
    unsigned char out[32];
    crypto_hash_sha256_final(&h, out);
    hex(sha256, out);
    if (size)
        *size = total;
    return SH_OK;
}

static sh_status_t place(sh_artstore_t *s, const char *tmp, const char *sha, sh_err_t *err)
{
    char dir[4200], path[4200];
    snprintf(dir, sizeof dir, "%s/%.2s", s->dir, sha);
    sh_status_t st = sh_mkdirs(dir, err);
    if (st != SH_OK)
        return st;
    sh_artstore_path(s, sha, path, sizeof path);
    if (rename(tmp, path) != 0)
        return sh_fail(err, SH_EIO, "storing artifact %.12s: %s", sha, strerror(errno));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return SH_OK;
}

sh_status_t sh_artstore_add_file(sh_artstore_t *s, const char *path, char sha256[65],
                                 uint64_t *size, sh_err_t *err)
{
    sh_status_t st = sh_sha256_file(path, sha256, size, err);
    if (st != SH_OK)
        return st;
    if (sh_artstore_has(s, sha256, NULL)) {
        unlink(path);
        return SH_OK;
    }
    /* Same file system: rename. Otherwise copy through the upload path. */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s/tmp/%s.add", s->dir, sha256);
    if (rename(path, tmp) == 0)
        return place(s, tmp, sha256, err);
    sh_upload_t *up;
    st = sh_upload_begin(s, sha256, *size, &up, err);
    if (st != SH_OK)
        return st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sh_upload_abort(&up);
        return sh_fail(err, SH_EIO, "%s: %s", path, strerror(errno));
    }
    char buf[1 << 16];
    ssize_t r;
    uint64_t off = 0;
    while ((r = read(fd, buf, sizeof buf)) > 0 && st == SH_OK) {
        st = sh_upload_write(up, off, buf, (size_t)r, err);
        off += (uint64_t)r;
    }
    close(fd);
    if (st != SH_OK) {
        sh_upload_abort(&up);
        return st;
    }
    st = sh_upload_finish(&up, err);
    if (st == SH_OK)
        unlink(path);
    return st;
}

sh_status_t sh_upload_begin(sh_artstore_t *s, const char *sha, uint64_t size, sh_upload_t **out,
                            sh_err_t *err)
{
    *out = NULL;
    if (!is_sha(sha))
        return sh_fail(err, SH_EARG, "not a sha256: '%.70s'", sha);
    if (size > s->max_size)
        return sh_fail(err, SH_EARG, "artifact of %llu bytes exceeds the limit of %llu",
                       (unsigned long long)size, (unsigned long long)s->max_size);
    sh_upload_t *up = sh_xcalloc(1, sizeof *up);
    up->store = s;
    memcpy(up->sha256, sha, 65);
    up->size = size;
    snprintf(up->tmp, sizeof up->tmp, "%s/tmp/%.16s.XXXXXX", s->dir, sha);
    up->fd = mkstemp(up->tmp);
    if (up->fd < 0) {
        int e = errno;
        free(up);
        return sh_fail(err, SH_EIO, "cannot create upload file: %s", strerror(e));
    }
    crypto_hash_sha256_init(&up->h);
    *out = up;
    return SH_OK;
}

sh_status_t sh_upload_write(sh_upload_t *up, uint64_t offset, const void *data, size_t len,
                            sh_err_t *err)
{
    if (offset != up->written)
        return sh_fail(err, SH_EARG, "chunk at offset %llu, expected %llu",
                       (unsigned long long)offset, (unsigned long long)up->written);
    if (up->written + len > up->size)
        return sh_fail(err, SH_EARG, "upload exceeds its announced size of %llu bytes",
                       (unsigned long long)up->size);
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(up->fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return sh_fail(err, SH_EIO, "writing upload: %s", strerror(errno));
        p += w;
        left -= (size_t)w;
    }
    crypto_hash_sha256_update(&up->h, data, len);
    up->written += len;
    return SH_OK;
}

void sh_upload_abort(sh_upload_t **up_p)
{
    if (!up_p || !*up_p)
        return;
    sh_upload_t *up = *up_p;
    close(up->fd);
    unlink(up->tmp);
    free(up);
    *up_p = NULL;
}

sh_status_t sh_upload_finish(sh_upload_t **up_p, sh_err_t *err)
{
    sh_upload_t *up = *up_p;
    unsigned char h[32];
    char got[65];
    crypto_hash_sha256_final(&up->h, h);
    hex(got, h);
    sh_status_t st = SH_OK;
    if (up->written != up->size)
        st = sh_fail(err, SH_EARG, "upload ended at %llu of %llu bytes",
                     (unsigned long long)up->written, (unsigned long long)up->size);
    else if (strcmp(got, up->sha256) != 0)
        st = sh_fail(err, SH_EFORMAT, "upload hash mismatch: announced %.12s, got %.12s",
                     up->sha256, got);
    else if (fsync(up->fd) != 0)
        st = sh_fail(err, SH_EIO, "fsync of upload failed: %s", strerror(errno));
    if (st != SH_OK) {
        sh_upload_abort(up_p);
        return st;
    }
    close(up->fd);
    up->fd = -1;
    st = place(up->store, up->tmp, up->sha256, err);
    if (st != SH_OK)
        unlink(up->tmp);
    free(up);
    *up_p = NULL;
    return st;
}

const char *sh_upload_sha256(const sh_upload_t *up) { return up->sha256; }
uint64_t sh_upload_written(const sh_upload_t *up) { return up->written; }
