/* sh_fetch.c - dataset downloads through libcurl, verified by manifest hash,
 * serialized by an flock on the cache so concurrent jobs download once. */
#include "sh_fetch.h"

#include "sh_artstore.h"
#include "sh_file.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DATASET_FILE ((curl_off_t)2 << 30)

static const char *const idx_files[] = {
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", NULL,
};
static const char *const cifar_files[] = {
    "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
    "data_batch_5.bin", "test_batch.bin", NULL,
};

const char *const *sh_dataset_files(const char *name)
{
    if (!strcmp(name, "fashion-mnist") || !strcmp(name, "mnist"))
        return idx_files;
    if (!strcmp(name, "cifar10"))
        return cifar_files;
    return NULL;
}

static int is_dir(const char *p)
{
    struct stat st;
    return p && p[0] && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

sh_status_t sh_dataset_manifest(const char *name, const char *dir, char sha256[65], sh_err_t *err)
{
    const char *const *files = sh_dataset_files(name);
    if (!files)
        return sh_fail(err, SH_ENOTFOUND, "unknown dataset '%s'", name);
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    for (int i = 0; files[i]; i++) {
        char path[4300], fsha[65];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        sh_status_t st = sh_sha256_file(path, fsha, NULL, err);
        if (st != SH_OK)
            return st;
        char line[256];
        int n = snprintf(line, sizeof line, "%s  %s\n", fsha, files[i]);
        crypto_hash_sha256_update(&h, (const unsigned char *)line, (unsigned long long)n);
    }
    unsigned char out[32];
    crypto_hash_sha256_final(&h, out);
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        sha256[2 * i] = d[out[i] >> 4];
        sha256[2 * i + 1] = d[out[i] & 15];
    }
    sha256[64] = '\0';
    return SH_OK;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Downloads url to path; HTTP errors, timeouts and oversize files fail. */
static sh_status_t download(const char *url, const char *path, sh_err_t *err)
{
    pthread_once(&curl_once, curl_init);
    FILE *f = fopen(path, "wb");
    if (!f)
        return sh_fail(err, SH_EIO, "%s: %s", path, strerror(errno));
    CURL *c = curl_easy_init();
    char msg[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    /* Stalled transfers fail after SHEARS_FETCH_TIMEOUT seconds (default 30). */
    const char *t = getenv("SHEARS_FETCH_TIMEOUT");
    long timeout = t && atol(t) > 0 ? atol(t) : 30;
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, timeout);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, MAX_DATASET_FILE);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, msg);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    int close_failed = fclose(f) != 0;
    if (rc == CURLE_HTTP_RETURNED_ERROR)
        return sh_fail(err, SH_EIO, "%s: HTTP %ld", url, status);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return sh_fail(err, SH_EIO, "%s: timed out (%s)", url, msg[0] ? msg : "no progress");
    if (rc != CURLE_OK)
        return sh_fail(err, SH_EIO, "%s: %s", url, msg[0] ? msg : curl_easy_strerror(rc));
    if (close_failed)
        return sh_fail(err, SH_EIO, "%s: write failed", path);
    return SH_OK;
}

static void remove_tree(const char *dir, const char *const *files)
{
    char path[4400];
    for (int i = 0; files[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

sh_status_t sh_fetch_dataset_dir(const char *cache_dir, const char *name, const char *path,
                                 const char *url, const char *sha256, char *out, size_t cap,
                                 sh_err_t *err)
{
    if (is_dir(path)) {
        snprintf(out, cap, "%s", path);
        return SH_OK;
    }
    if (!url || !url[0]) {
        if (path && path[0])
            return sh_fail(err, SH_ENOTFOUND, "dataset directory %s does not exist on this node "
                           "(give dataset.url to download it)", path);
        return sh_fail(err, SH_EARG, "dataset %s has neither a path nor a URL", name);
    }
    const char *const *files = sh_dataset_files(name);
    if (!files)
        return sh_fail(err, SH_ENOTFOUND, "unknown dataset '%s'", name);
    if (!sha256 || strlen(sha256) != 64)
        return sh_fail(err, SH_EARG, "dataset URL %s needs dataset.sha256 (shears dataset-hash)",
                       url);
    char base[4200], final[4300], tmp[4300], lockpath[4300];
    snprintf(base, sizeof base, "%s/datasets", cache_dir);
    sh_status_t st = sh_mkdirs(base, err);
    if (st != SH_OK)
        return st;
    snprintf(final, sizeof final, "%s/%s", base, sha256);
    snprintf(lockpath, sizeof lockpath, "%s/.lock", base);
    int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0)
        return sh_fail(err, SH_EIO, "%s: %s", lockpath, strerror(errno));
    flock(lock, LOCK_EX);
    if (is_dir(final)) {
        snprintf(out, cap, "%s", final);
        close(lock);
        return SH_OK;
    }
    snprintf(tmp, sizeof tmp, "%s/.part-%s", base, sha256);
    remove_tree(tmp, files);
    st = sh_mkdirs(tmp, err);
    for (int i = 0; files[i] && st == SH_OK; i++) {
        char furl[4400], fpath[4400];
        size_t ul = strlen(url);
        snprintf(furl, sizeof furl, "%s%s%s", url, ul && url[ul - 1] == '/' ? "" : "/", files[i]);
        snprintf(fpath, sizeof fpath, "%s/%s", tmp, files[i]);
        st = download(furl, fpath, err);
    }
    char got[65];
    if (st == SH_OK)
        st = sh_dataset_manifest(name, tmp, got, err);
    if (st == SH_OK && strcmp(got, sha256) != 0)
        st = sh_fail(err, SH_EFORMAT, "dataset from %s fails its checksum: expected %.16s..., "
                     "got %.16s...", url, sha256, got);
    if (st == SH_OK && rename(tmp, final) != 0)
        st = sh_fail(err, SH_EIO, "%s: %s", final, strerror(errno));
    if (st != SH_OK)
        remove_tree(tmp, files);
    else
        snprintf(out, cap, "%s", final);
    close(lock);
    return st;
}
