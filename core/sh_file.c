/* sh_file.c - whole-file reads, atomic writes, mkdir -p. */
#include "sh_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

sh_status_t sh_file_read(const char *path, size_t max, char **data, size_t *len,
                         sh_err_t *err)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sh_fail(err, SH_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sh_fail(err, SH_EIO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max) {
        close(fd);
        return sh_fail(err, SH_EFORMAT, "%s: file is %lld bytes, more than the limit of %zu",
                       path, (long long)st.st_size, max);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return sh_fail(err, SH_ENOMEM, "%s: cannot allocate %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            return sh_fail(err, SH_EIO, "%s: read failed: %s", path,
                           r == 0 ? "file shrank while reading" : strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return SH_OK;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

sh_status_t sh_file_write_atomic(const char *path, const void *data, size_t len,
                                 sh_err_t *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    char *dir = strdup(path);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        return sh_fail(err, SH_ENOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    sh_status_t st = SH_OK;
    if (fd < 0) {
        st = sh_fail(err, SH_EIO, "%s: cannot create temporary file: %s", path,
                     strerror(errno));
        goto done;
    }
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        st = sh_fail(err, SH_EIO, "%s: write failed: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        goto done;
    }
    fchmod(fd, 0644);
    close(fd);
    if (rename(tmp, path) != 0) {
        st = sh_fail(err, SH_EIO, "%s: rename failed: %s", path, strerror(errno));
        unlink(tmp);
        goto done;
    }
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
done:
    free(tmp);
    free(dir);
    return st;
}

sh_status_t sh_mkdirs(const char *path, sh_err_t *err)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return sh_fail(err, SH_EARG, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return sh_fail(err, SH_EIO, "cannot create directory %s: %s", buf,
                           strerror(errno));
        buf[i] = c;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return sh_fail(err, SH_EIO, "%s is not a directory", path);
    return SH_OK;
}

int sh_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}
