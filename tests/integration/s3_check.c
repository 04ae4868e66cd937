/* s3_check.c - exercises proto/sh_s3 against a live S3 server (radosgw from
 * s3_server.sh in the integration test).
 *
 *   s3_check ENDPOINT ACCESS_KEY SECRET_KEY
 *
 * Each check prints "ok - NAME" or "not ok - NAME: why"; the last line is
 * "N passed, N failed" and the exit status is 1 if any check failed. Works in
 * a fresh bucket with a random name, so runs do not see each other. */
#include "sh_artstore.h"
#include "sh_s3.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int n_pass, n_fail;
static char tmpdir[4096];

static void check(int ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void check(int ok, const char *name, const char *fmt, ...)
{
    if (ok) {
        n_pass++;
        printf("ok - %s\n", name);
    } else {
        n_fail++;
        printf("not ok - %s: ", name);
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
    }
    fflush(stdout);
}

/* xorshift64*: the test data need not be cryptographic, only incompressible
 * and different per run. Each file gets its own stream, seeded under a lock,
 * so threads can make files at once. */
static uint64_t rng_seed;
static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rng_next(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545F4914F6CDD1DULL;
}

static uint64_t rng_fork(void)
{
    pthread_mutex_lock(&rng_lock);
    uint64_t s = rng_next(&rng_seed) | 1;
    pthread_mutex_unlock(&rng_lock);
    return s;
}

/* Writes size random bytes to tmpdir/name and its path to path[0..cap).
 * Returns 0, or -1 if the file cannot be written. */
static int make_file(char *path, size_t cap, const char *name, size_t size)
{
    snprintf(path, cap, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    uint64_t buf[8192], state = rng_fork();
    while (size > 0) {
        for (size_t i = 0; i < 8192; i++)
            buf[i] = rng_next(&state);
        size_t n = SH_MIN(size, sizeof buf);
        if (fwrite(buf, 1, n, f) != n) {
            fclose(f);
            return -1;
        }
        size -= n;
    }
    return fclose(f);
}

/* 1 if the two files have identical bytes. */
static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    char *ba = sh_xmalloc(1 << 16), *bb = sh_xmalloc(1 << 16);
    int same = fa && fb;
    while (same) {
        size_t na = fread(ba, 1, sizeof ba, fa), nb = fread(bb, 1, sizeof bb, fb);
        if (na != nb || memcmp(ba, bb, na) != 0)
            same = 0;
        if (na == 0)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    free(ba);
    free(bb);
    return same;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A loopback port nothing listens on: bind to port 0, note it, close. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return 1; /* port 1 is as good: nothing runs there on a test box */
    }
    close(fd);
    return ntohs(a.sin_port);
}

static void check_cfg_parse(const char *endpoint, const char *access, const char *secret)
{
    char url[1024], buf[1024];
    sh_s3_cfg_t cfg;
    sh_err_t err = {""};
    const char *hostport = strstr(endpoint, "://") ? strstr(endpoint, "://") + 3 : endpoint;
    snprintf(url, sizeof url, "s3://%s:%s@%s/some-bucket/", access, secret, hostport);
    char want_ep[1100];
    snprintf(want_ep, sizeof want_ep, "http://%s", hostport);
    sh_status_t st = sh_s3_cfg_parse(&cfg, url, buf, sizeof buf, &err);
    check(st == SH_OK && !strcmp(cfg.endpoint, want_ep) && !strcmp(cfg.bucket, "some-bucket") &&
              !strcmp(cfg.access_key, access) && !strcmp(cfg.secret_key, secret) &&
              cfg.region[0],
          "cfg_parse s3:// URL", "%s -> %s (%s)", url, sh_status_str(st), err.msg);

    st = sh_s3_cfg_parse(&cfg, "https://AK:s%2Fe%40c@s3.example.com/bkt", buf, sizeof buf, &err);
    check(st == SH_OK && !strcmp(cfg.endpoint, "https://s3.example.com") &&
              !strcmp(cfg.secret_key, "s/e@c") && !strcmp(cfg.bucket, "bkt"),
          "cfg_parse https:// URL with percent-encoded secret", "%s (%s)", sh_status_str(st),
          err.msg);

    static const char *const bad[] = {
        "ftp://a:b@host/bkt", "s3://a:b@host/", "s3://a:b@host/bkt/extra", "s3://a:b@host/bkt?x=1",
        "not a url", NULL,
    };
    for (int i = 0; bad[i]; i++) {
        st = sh_s3_cfg_parse(&cfg, bad[i], buf, sizeof buf, &err);
        char name[128];
        snprintf(name, sizeof name, "cfg_parse rejects '%s'", bad[i]);
        check(st == SH_EARG, name, "got %s", sh_status_str(st));
    }
    st = sh_s3_cfg_parse(&cfg, "ftp://AKID:TopSecret@host/bkt", buf, sizeof buf, &err);
    check(st == SH_EARG && !strstr(err.msg, "TopSecret") && !strstr(err.msg, "AKID") &&
              strstr(err.msg, "ftp://***@host/bkt"),
          "cfg_parse errors hide the credentials", "%s", err.msg);
    st = sh_s3_cfg_parse(&cfg, "s3://AKID:TopSecret@host/a/b", buf, sizeof buf, &err);
    check(st == SH_EARG && !strstr(err.msg, "TopSecret"), "cfg_parse bucket error hides the secret",
          "%s", err.msg);
    unsetenv("AWS_ACCESS_KEY_ID");
    st = sh_s3_cfg_parse(&cfg, "s3://host:9000/bkt", buf, sizeof buf, &err);
    check(st == SH_EARG && strstr(err.msg, "AWS_ACCESS_KEY_ID"),
          "cfg_parse without credentials names the env variable", "%s: %s", sh_status_str(st),
          err.msg);
    setenv("AWS_ACCESS_KEY_ID", "envAK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envSK", 1);
    setenv("AWS_REGION", "eu-west-3", 1);
    st = sh_s3_cfg_parse(&cfg, "s3://host:9000/bkt", buf, sizeof buf, &err);
    check(st == SH_OK && !strcmp(cfg.access_key, "envAK") && !strcmp(cfg.secret_key, "envSK") &&
              !strcmp(cfg.region, "eu-west-3") && !strcmp(cfg.endpoint, "http://host:9000"),
          "cfg_parse env fallbacks", "%s: %s", sh_status_str(st), err.msg);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_REGION");
    char tiny[16];
    st = sh_s3_cfg_parse(&cfg, url, tiny, sizeof tiny, &err);
    check(st == SH_ENOMEM, "cfg_parse reports a small buffer", "got %s", sh_status_str(st));
}

typedef struct {
    sh_s3_t *s;
    int id;
    int ok;
    char msg[600];
} worker_t;

/* One thread's round trip: put a 256 KiB file, get it back, compare. */
static void *worker_main(void *arg)
{
    worker_t *w = arg;
    char src[4200], dst[4200], key[64];
    char name[32];
    snprintf(name, sizeof name, "thread-%d", w->id);
    snprintf(key, sizeof key, "threads/%d", w->id);
    snprintf(dst, sizeof dst, "%s/thread-%d.back", tmpdir, w->id);
    sh_err_t err = {""};
    w->ok = 0;
    if (make_file(src, sizeof src, name, 256 << 10) != 0) {
        snprintf(w->msg, sizeof w->msg, "cannot write %.300s", src);
        return NULL;
    }
    if (sh_s3_put_file(w->s, key, src, &err) != SH_OK ||
        sh_s3_get_file(w->s, key, dst, &err) != SH_OK) {
        snprintf(w->msg, sizeof w->msg, "%s", err.msg);
        return NULL;
    }
    w->ok = same_file(src, dst);
    if (!w->ok)
        snprintf(w->msg, sizeof w->msg, "%.250s differs from %.250s", dst, src);
    sh_s3_delete(w->s, key, NULL);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s ENDPOINT ACCESS_KEY SECRET_KEY\n", argv[0]);
        return 2;
    }
    const char *endpoint = argv[1], *access = argv[2], *secret = argv[3];
    rng_seed = ((uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid() << 20) | 1;
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/s3_check.XXXXXX", t && t[0] ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    char bucket[64];
    snprintf(bucket, sizeof bucket, "shears-check-%08llx", (unsigned long long)(rng_fork() >> 32));
    sh_err_t err = {""};
    sh_status_t st;

    check_cfg_parse(endpoint, access, secret);

    /* Configuration errors are caught before any request. */
    sh_s3_t *s = NULL;
    sh_s3_cfg_t cfg = {"ftp://127.0.0.1", bucket, NULL, access, secret};
    st = sh_s3_open(&s, &cfg, &err);
    check(st == SH_EARG && !s, "open rejects a non-http endpoint", "%s: %s", sh_status_str(st),
          err.msg);
    cfg = (sh_s3_cfg_t){endpoint, "Bad_Bucket", NULL, access, secret};
    st = sh_s3_open(&s, &cfg, &err);
    check(st == SH_EARG, "open rejects an invalid bucket name", "%s: %s", sh_status_str(st),
          err.msg);

    /* Connection refused on a closed port: a clear error, quickly. */
    char closed[64];
    snprintf(closed, sizeof closed, "http://127.0.0.1:%d", closed_port());
    cfg = (sh_s3_cfg_t){closed, bucket, NULL, access, secret};
    double t0 = sh_now();
    st = sh_s3_open(&s, &cfg, &err);
    check(st == SH_EIO && strstr(err.msg, "Connection refused") && sh_now() - t0 < 5,
          "connection refused is reported", "%s: %s", sh_status_str(st), err.msg);
    printf("#   %s\n", err.msg);

    /* Wrong secret: the server's SignatureDoesNotMatch reaches the caller. */
    cfg = (sh_s3_cfg_t){endpoint, bucket, NULL, access, "not-the-secret"};
    st = sh_s3_open(&s, &cfg, &err);
    check(st == SH_EIO && strstr(err.msg, "SignatureDoesNotMatch") && strstr(err.msg, "403"),
          "wrong secret key -> SignatureDoesNotMatch", "%s: %s", sh_status_str(st), err.msg);
    printf("#   %s\n", err.msg);
    cfg = (sh_s3_cfg_t){endpoint, bucket, NULL, "NOSUCHACCESSKEY", secret};
    st = sh_s3_open(&s, &cfg, &err);
    check(st == SH_EIO && strstr(err.msg, "InvalidAccessKeyId"),
          "unknown access key -> InvalidAccessKeyId", "%s: %s", sh_status_str(st), err.msg);

    /* Open creates the (random, so new) bucket; a second open finds it. */
    cfg = (sh_s3_cfg_t){endpoint, bucket, NULL, access, secret};
    st = sh_s3_open(&s, &cfg, &err);
    check(st == SH_OK && s, "open creates a missing bucket", "%s: %s", sh_status_str(st),
          err.msg);
    if (!s) {
        printf("%d passed, %d failed\n", n_pass, n_fail + 1);
        return 1;
    }
    sh_s3_t *s2 = NULL;
    st = sh_s3_open(&s2, &cfg, &err);
    check(st == SH_OK, "open finds an existing bucket", "%s: %s", sh_status_str(st), err.msg);
    sh_s3_close(&s2);
    sh_s3_close(&s2);
    check(s2 == NULL, "close is NULL-safe and clears the pointer", "not cleared");

    /* A 5 MiB random file under its own SHA-256, as shears stores artifacts. */
    char src[4200], dst[4200], part[4300], sha[65];
    uint64_t size = 0;
    const size_t big = 5u << 20;
    int made = make_file(src, sizeof src, "big.bin", big) == 0 &&
               sh_sha256_file(src, sha, NULL, &err) == SH_OK;
    check(made, "make a 5 MiB file", "%s", err.msg);
    t0 = sh_now();
    st = sh_s3_put_file(s, sha, src, &err);
    check(st == SH_OK, "put 5 MiB", "%s: %s", sh_status_str(st), err.msg);
    printf("#   put 5 MiB in %.2fs\n", sh_now() - t0);
    st = sh_s3_head(s, sha, &size, &err);
    check(st == SH_OK && size == big, "head reports the size", "%s: %s, size %llu",
          sh_status_str(st), err.msg, (unsigned long long)size);
    snprintf(dst, sizeof dst, "%s/big.back", tmpdir);
    snprintf(part, sizeof part, "%s.part", dst);
    st = sh_s3_get_file(s, sha, dst, &err);
    check(st == SH_OK && same_file(src, dst) && !exists(part),
          "get returns identical bytes and leaves no .part", "%s: %s", sh_status_str(st), err.msg);

    /* Overwrite with other content; get sees the new bytes. */
    make_file(src, sizeof src, "big2.bin", 12345);
    st = sh_s3_put_file(s, sha, src, &err);
    if (st == SH_OK)
        st = sh_s3_get_file(s, sha, dst, &err);
    check(st == SH_OK && same_file(src, dst), "put replaces an object", "%s: %s",
          sh_status_str(st), err.msg);

    /* An empty file. */
    make_file(src, sizeof src, "empty", 0);
    st = sh_s3_put_file(s, "dir/empty", src, &err);
    if (st == SH_OK)
        st = sh_s3_head(s, "dir/empty", &size, &err);
    check(st == SH_OK && size == 0, "put and head an empty file", "%s: %s", sh_status_str(st),
          err.msg);

    /* Missing keys: SH_ENOTFOUND, and get leaves nothing behind. */
    snprintf(dst, sizeof dst, "%s/missing.back", tmpdir);
    snprintf(part, sizeof part, "%s.part", dst);
    st = sh_s3_get_file(s, "no/such/key", dst, &err);
    check(st == SH_ENOTFOUND && !exists(dst) && !exists(part) && strstr(err.msg, "404"),
          "get of a missing key -> SH_ENOTFOUND", "%s: %s", sh_status_str(st), err.msg);
    printf("#   %s\n", err.msg);
    st = sh_s3_head(s, "no/such/key", &size, &err);
    check(st == SH_ENOTFOUND, "head of a missing key -> SH_ENOTFOUND", "%s: %s",
          sh_status_str(st), err.msg);

    /* Local file errors. */
    st = sh_s3_put_file(s, "x", "/nonexistent/file", &err);
    check(st == SH_EIO && strstr(err.msg, "/nonexistent/file"), "put of a missing local file",
          "%s: %s", sh_status_str(st), err.msg);
    st = sh_s3_get_file(s, "dir/empty", "/nonexistent/dir/out", &err);
    check(st == SH_EIO, "get into a missing directory", "%s: %s", sh_status_str(st), err.msg);

    /* Delete: gone afterwards; deleting again is fine. */
    st = sh_s3_delete(s, sha, &err);
    check(st == SH_OK, "delete", "%s: %s", sh_status_str(st), err.msg);
    st = sh_s3_head(s, sha, &size, &err);
    check(st == SH_ENOTFOUND, "head after delete -> SH_ENOTFOUND", "%s: %s", sh_status_str(st),
          err.msg);
    st = sh_s3_delete(s, sha, &err);
    check(st == SH_OK, "delete of an absent key succeeds", "%s: %s", sh_status_str(st), err.msg);
    sh_s3_delete(s, "dir/empty", NULL);

    /* Bad keys are refused before any request. */
    static const char *const bad_keys[] = {
        "", "has space", "../escape", "a//b", "a/./b", "/lead", "trail/", "q?x", "pct%41",
        "h#x", "caf\xc3\xa9", NULL,
    };
    int all_earg = 1;
    for (int i = 0; bad_keys[i]; i++) {
        sh_status_t a = sh_s3_put_file(s, bad_keys[i], src, &err);
        sh_status_t b = sh_s3_get_file(s, bad_keys[i], dst, &err);
        sh_status_t c = sh_s3_head(s, bad_keys[i], &size, &err);
        sh_status_t d = sh_s3_delete(s, bad_keys[i], &err);
        if (a != SH_EARG || b != SH_EARG || c != SH_EARG || d != SH_EARG) {
            all_earg = 0;
            printf("#   key '%s': put %s get %s head %s delete %s\n", bad_keys[i],
                   sh_status_str(a), sh_status_str(b), sh_status_str(c), sh_status_str(d));
        }
    }
    check(all_earg, "bad keys -> SH_EARG", "see above");
    check(sh_s3_key_valid("ab/CD-0.9_x") && !sh_s3_key_valid(NULL), "key_valid", "wrong");

    /* One client shared by four threads. */
    worker_t w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){.s = s, .id = i};
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    int threads_ok = 1;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        if (!w[i].ok) {
            threads_ok = 0;
            printf("#   thread %d: %s\n", i, w[i].msg);
        }
    }
    check(threads_ok, "four threads share one client", "see above");

    sh_s3_close(&s);
    char cmd[4200 + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "s3_check: could not remove %s\n", tmpdir);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
