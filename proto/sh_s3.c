/* sh_s3.c - S3 requests over libcurl. curl signs (CURLOPT_AWS_SIGV4); we
 * supply the payload hash, stream bodies from and to files, and turn HTTP
 * errors into messages that carry the S3 error Code. */
#include "sh_s3.h"

#include "sh_artstore.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENDPOINT_MAX 1024
#define KEY_MAX 1024
#define REGION_MAX 63
#define ERR_BODY_MAX 2048 /* of an error response kept for its Code/Message */

/* x-amz-content-sha256 of an empty body. */
static const char EMPTY_SHA256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/* Read-only after sh_s3_open, hence shareable between threads. */
struct sh_s3 {
    char endpoint[ENDPOINT_MAX + 1]; /* no trailing '/' */
    char bucket[64];
    char sigv4[REGION_MAX + 32];     /* "aws:amz:REGION:s3" */
    char *access_key, *secret_key;
};

/* One request: its URL, the body source or sink, and what came back. */
typedef struct {
    CURL *curl;
    const char *method; /* GET, PUT, HEAD or DELETE */
    char url[ENDPOINT_MAX + 64 + KEY_MAX + 32];
    const char *file;   /* local file named in messages */
    FILE *in;           /* PUT body (NULL: empty) */
    uint64_t in_size, in_left;
    int in_errno;
    FILE *out;          /* GET body on success (NULL: discard) */
    int out_errno;
    char body[ERR_BODY_MAX]; /* non-2xx response body, truncated */
    size_t body_len;
    char curl_msg[CURL_ERROR_SIZE];
    long status;
    curl_off_t content_length; /* -1 if unknown */
} s3_call_t;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static sh_status_t ensure_curl(sh_err_t *err)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return sh_fail(err, SH_EIO, "s3: curl_global_init failed: %s",
                       curl_easy_strerror(curl_init_rc));
    return SH_OK;
}

int sh_s3_key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = key[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '/' || ch == '-'))
            return 0;
    }
    /* Segments: none empty, none "." or ".." (curl would normalize them). */
    for (const char *seg = key;;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && !strncmp(seg, "..", 2)))
            return 0;
        if (!end)
            return 1;
        seg = end + 1;
    }
}

static sh_status_t bad_key(sh_err_t *err, const char *key)
{
    return sh_fail(err, SH_EARG,
                   "s3: invalid key '%.100s' (want 1..%d characters of [A-Za-z0-9._/-], "
                   "no empty, '.' or '..' segment)", key ? key : "(null)", KEY_MAX);
}

/* S3 bucket naming: 3..63 of [a-z0-9.-], starting and ending alphanumeric. */
static int bucket_valid(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '.' ||
              b[i] == '-'))
            return 0;
    return b[0] != '.' && b[0] != '-' && b[n - 1] != '.' && b[n - 1] != '-';
}

static int region_valid(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > REGION_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
            return 0;
    return 1;
}

/* ---- one request ---- */

/* key NULL: the bucket itself; query (may be NULL) goes after '?'. */
static void call_init(s3_call_t *c, const sh_s3_t *s, const char *method, const char *key,
                      const char *query)
{
    memset(c, 0, sizeof *c);
    c->method = method;
    c->content_length = -1;
    snprintf(c->url, sizeof c->url, "%s/%s%s%s%s%s", s->endpoint, s->bucket, key ? "/" : "",
             key ? key : "", query ? "?" : "", query ? query : "");
}

/* Body sink: a 2xx body goes to c->out, any other is kept (truncated) for
 * its error Code. Returning less than len makes curl stop with a write
 * error. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    s3_call_t *c = ud;
    size_t len = size * nmemb;
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
        if (c->out && fwrite(data, 1, len, c->out) != len) {
            c->out_errno = errno ? errno : EIO;
            return 0;
        }
        return len;
    }
    size_t room = sizeof c->body - 1 - c->body_len;
    size_t n = SH_MIN(room, len);
    memcpy(c->body + c->body_len, data, n);
    c->body_len += n;
    c->body[c->body_len] = '\0';
    return len;
}

/* Body source: at most in_size bytes of c->in. A file that ends early makes
 * curl fail the upload (it knows the announced length). */
static size_t on_upload(char *buf, size_t size, size_t nmemb, void *ud)
{
    s3_call_t *c = ud;
    size_t want = (size_t)SH_MIN((uint64_t)(size * nmemb), c->in_left);
    if (want == 0 || !c->in)
        return 0;
    size_t n = fread(buf, 1, want, c->in);
    if (n == 0 && ferror(c->in)) {
        c->in_errno = errno ? errno : EIO;
        return CURL_READFUNC_ABORT;
    }
    c->in_left -= n;
    return n;
}

/* Rewinds the body when curl must resend it (e.g. after a redirect or a
 * rejected Expect: 100-continue). */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
    s3_call_t *c = ud;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > c->in_size)
        return CURL_SEEKFUNC_CANTSEEK;
    if (c->in && fseeko(c->in, (off_t)offset, SEEK_SET) != 0)
        return CURL_SEEKFUNC_FAIL;
    c->in_left = c->in_size - (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* Copies the text of the first <tag>...</tag> in xml into out (empty if
 * there is none). S3 error bodies are flat, so no XML parser is needed. */
static void xml_field(const char *xml, const char *tag, char *out, size_t cap)
{
    char open[32], close[32];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    out[0] = '\0';
    const char *a = strstr(xml, open);
    if (!a)
        return;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (!b)
        return;
    size_t n = SH_MIN((size_t)(b - a), cap - 1);
    memcpy(out, a, n);
    out[n] = '\0';
}

/* Describes a finished non-2xx response: "HTTP 403 SignatureDoesNotMatch:
 * message". 404 is SH_ENOTFOUND, the rest SH_EIO. */
static sh_status_t http_fail(const s3_call_t *c, sh_err_t *err)
{
    char code[128], msg[256];
    xml_field(c->body, "Code", code, sizeof code);
    xml_field(c->body, "Message", msg, sizeof msg);
    const char *hint = "";
    if (!code[0] && c->status == 403 && !strcmp(c->method, "HEAD"))
        hint = " (HEAD responses carry no error code; check the access and secret keys)";
    return sh_fail(err, c->status == 404 ? SH_ENOTFOUND : SH_EIO, "s3 %s %s: HTTP %ld%s%s%s%s%s",
                   c->method, c->url, c->status, code[0] ? " " : "", code, msg[0] ? ": " : "", msg,
                   hint);
}

/* Describes a transfer that did not complete. */
static sh_status_t transport_fail(const s3_call_t *c, CURLcode rc, long os_errno, sh_err_t *err)
{
    const char *detail = c->curl_msg[0] ? c->curl_msg : curl_easy_strerror(rc);
    if (c->out_errno)
        return sh_fail(err, SH_EIO, "s3 %s %s: writing %s: %s", c->method, c->url, c->file,
                       strerror(c->out_errno));
    if (c->in_errno)
        return sh_fail(err, SH_EIO, "s3 %s %s: reading %s: %s", c->method, c->url, c->file,
                       strerror(c->in_errno));
    if (c->in && c->in_left > 0 && feof(c->in))
        return sh_fail(err, SH_EIO, "s3 %s %s: %s shrank during the upload", c->method, c->url,
                       c->file);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return sh_fail(err, SH_EIO, "s3 %s %s: cannot connect%s%s (%s)", c->method, c->url,
                       os_errno ? ": " : "", os_errno ? strerror((int)os_errno) : "", detail);
    case CURLE_OPERATION_TIMEDOUT:
        return sh_fail(err, SH_EIO, "s3 %s %s: timed out (%s)", c->method, c->url, detail);
    default:
        return sh_fail(err, SH_EIO, "s3 %s %s: %s", c->method, c->url, detail);
    }
}

/* Runs the request with payload_sha256 (hex) as its declared body hash.
 * Returns SH_OK on a 2xx answer; otherwise see http_fail/transport_fail. */
static sh_status_t call_run(s3_call_t *c, const sh_s3_t *s, const char *payload_sha256,
                            sh_err_t *err)
{
    sh_status_t st = ensure_curl(err);
    if (st != SH_OK)
        return st;
    char hdr[128];
    snprintf(hdr, sizeof hdr, "x-amz-content-sha256: %s", payload_sha256);
    struct curl_slist *headers = curl_slist_append(NULL, hdr);
    c->curl = curl_easy_init();
    if (!headers || !c->curl) {
        curl_slist_free_all(headers);
        curl_easy_cleanup(c->curl);
        return sh_fail(err, SH_ENOMEM, "s3: cannot allocate a curl handle");
    }
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_msg);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, s->access_key);
    curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret_key);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    /* Fail fast on a dead host, and on a transfer that stalls (under 1 KiB/s
     * for 30 s) rather than after a fixed total time: files may be GBs. */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    if (!strcmp(c->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(c->method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->in_size);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_upload);
        curl_easy_setopt(h, CURLOPT_READDATA, c);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, c);
    } else if (strcmp(c->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
    }
    CURLcode rc = curl_easy_perform(h);
    long os_errno = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &c->content_length);
    curl_easy_cleanup(h);
    c->curl = NULL;
    curl_slist_free_all(headers);
    /* A server may answer an error and hang up before taking the whole
     * body; its answer says more than the broken pipe. */
    if (c->status >= 300 && (rc == CURLE_OK || rc == CURLE_SEND_ERROR))
        return http_fail(c, err);
    if (rc != CURLE_OK)
        return transport_fail(c, rc, os_errno, err);
    if (c->status < 200 || c->status >= 300)
        return http_fail(c, err);
    return SH_OK;
}

/* ---- configuration ---- */

typedef struct {
    char *buf;
    size_t cap, len;
    int full;
} strbuf_t;

/* Appends a NUL-terminated formatted string; returns where it starts. */
__attribute__((format(printf, 2, 3))) static const char *sb_add(strbuf_t *b, const char *fmt, ...)
{
    if (b->full || b->len >= b->cap) {
        b->full = 1;
        return "";
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len) {
        b->full = 1;
        return "";
    }
    const char *start = b->buf + b->len;
    b->len += (size_t)n + 1;
    return start;
}

/* One part of a parsed URL, or NULL if absent; free with curl_free. */
static char *url_part(CURLU *u, CURLUPart part, unsigned flags)
{
    char *v = NULL;
    if (curl_url_get(u, part, &v, flags) != CURLUE_OK)
        return NULL;
    return v;
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* url as it may appear in a message: credentials (userinfo) become "***". */
static void redact_url(const char *url, char *out, size_t cap)
{
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth + auth_len; p++)
        if (*p == '@')
            at = p;
    if (at)
        snprintf(out, cap, "%.*s***%s", (int)(auth - url), url, at);
    else
        snprintf(out, cap, "%s", url);
}

sh_status_t sh_s3_cfg_parse(sh_s3_cfg_t *cfg, const char *url, char *buf, size_t cap,
                            sh_err_t *err)
{
    memset(cfg, 0, sizeof *cfg);
    sh_status_t st = ensure_curl(err);
    if (st != SH_OK)
        return st;
    CURLU *u = curl_url();
    if (!u)
        return sh_fail(err, SH_ENOMEM, "s3: out of memory");
    char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *pass = NULL, *path = NULL,
         *query = NULL, *frag = NULL;
    char shown[160];
    redact_url(url, shown, sizeof shown);
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    if (uc != CURLUE_OK) {
        st = sh_fail(err, SH_EARG, "s3: cannot parse URL '%s': %s", shown, curl_url_strerror(uc));
        goto out;
    }
    scheme = url_part(u, CURLUPART_SCHEME, 0);
    host = url_part(u, CURLUPART_HOST, 0);
    port = url_part(u, CURLUPART_PORT, 0);
    user = url_part(u, CURLUPART_USER, CURLU_URLDECODE);
    pass = url_part(u, CURLUPART_PASSWORD, CURLU_URLDECODE);
    path = url_part(u, CURLUPART_PATH, 0);
    query = url_part(u, CURLUPART_QUERY, 0);
    frag = url_part(u, CURLUPART_FRAGMENT, 0);
    const char *http = NULL;
    if (scheme && (!strcmp(scheme, "s3") || !strcmp(scheme, "http")))
        http = "http";
    else if (scheme && !strcmp(scheme, "https"))
        http = "https";
    if (!http || !host || !host[0]) {
        st = sh_fail(err, SH_EARG, "s3: URL '%s' is not s3://, http:// or https://HOST/BUCKET",
                     shown);
        goto out;
    }
    if (query || frag) {
        st = sh_fail(err, SH_EARG, "s3: URL '%s' has a query or fragment", shown);
        goto out;
    }
    /* The path is exactly "/BUCKET" or "/BUCKET/". */
    const char *bucket = path && path[0] == '/' ? path + 1 : "";
    size_t blen = strcspn(bucket, "/");
    if (blen == 0 || (bucket[blen] == '/' && bucket[blen + 1] != '\0')) {
        st = sh_fail(err, SH_EARG, "s3: URL '%s' must name exactly one bucket: .../BUCKET", shown);
        goto out;
    }
    const char *access = user && user[0] ? user : env_nonempty("AWS_ACCESS_KEY_ID");
    const char *secret = pass && pass[0] ? pass : env_nonempty("AWS_SECRET_ACCESS_KEY");
    if (!access || !secret) {
        st = sh_fail(err, SH_EARG, "s3: no %s for '%s': give s3://ACCESS:SECRET@HOST/BUCKET "
                     "or set %s", access ? "secret key" : "access key", shown,
                     access ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        goto out;
    }
    const char *region = env_nonempty("AWS_REGION");
    if (!region)
        region = env_nonempty("AWS_DEFAULT_REGION");
    strbuf_t b = {buf, cap, 0, 0};
    cfg->endpoint = sb_add(&b, "%s://%s%s%s", http, host, port ? ":" : "", port ? port : "");
    cfg->bucket = sb_add(&b, "%.*s", (int)blen, bucket);
    cfg->region = sb_add(&b, "%s", region ? region : "us-east-1");
    cfg->access_key = sb_add(&b, "%s", access);
    cfg->secret_key = sb_add(&b, "%s", secret);
    if (b.full) {
        memset(cfg, 0, sizeof *cfg);
        st = sh_fail(err, SH_ENOMEM, "s3: a %zu-byte buffer cannot hold the parsed URL", cap);
    }
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(user);
    curl_free(pass);
    curl_free(path);
    curl_free(query);
    curl_free(frag);
    curl_url_cleanup(u);
    return st;
}

/* ---- the client ---- */

/* SH_OK if the bucket exists (GET ?location is cheap and, unlike HEAD, has
 * an error body naming SignatureDoesNotMatch and the like). */
static sh_status_t bucket_exists(sh_s3_t *s, sh_err_t *err)
{
    s3_call_t c;
    /* "location=" rather than "location": curl 7.88 signs the query as
     * written, and the canonical form has the '='. */
    call_init(&c, s, "GET", NULL, "location=");
    return call_run(&c, s, EMPTY_SHA256, err);
}

/* Checks the bucket, creating it if missing. A lost race with another
 * creator (409) is fine as long as the bucket then exists. */
static sh_status_t bucket_ensure(sh_s3_t *s, sh_err_t *err)
{
    sh_status_t st = bucket_exists(s, err);
    if (st != SH_ENOTFOUND)
        return st;
    s3_call_t c;
    call_init(&c, s, "PUT", NULL, NULL);
    st = call_run(&c, s, EMPTY_SHA256, err);
    if (st != SH_OK && c.status == 409 && bucket_exists(s, NULL) == SH_OK)
        return SH_OK;
    if (st != SH_OK)
        sh_err_prefix(err, "creating bucket %s", s->bucket);
    return st;
}

sh_status_t sh_s3_open(sh_s3_t **out, const sh_s3_cfg_t *cfg, sh_err_t *err)
{
    SH_ASSERT(out && cfg);
    *out = NULL;
    const char *ep = cfg->endpoint ? cfg->endpoint : "";
    if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0)
        return sh_fail(err, SH_EARG, "s3: endpoint '%s' is not an http:// or https:// URL", ep);
    size_t eplen = strlen(ep);
    while (eplen > 0 && ep[eplen - 1] == '/')
        eplen--;
    if (eplen > ENDPOINT_MAX || strpbrk(ep, "?# \t\r\n"))
        return sh_fail(err, SH_EARG, "s3: endpoint '%.100s' is too long or has a query, "
                       "fragment or space", ep);
    if (!cfg->bucket || !bucket_valid(cfg->bucket))
        return sh_fail(err, SH_EARG, "s3: invalid bucket name '%s' (3..63 of [a-z0-9.-], "
                       "starting and ending with a letter or digit)",
                       cfg->bucket ? cfg->bucket : "(null)");
    const char *region = cfg->region && cfg->region[0] ? cfg->region : "us-east-1";
    if (!region_valid(region))
        return sh_fail(err, SH_EARG, "s3: invalid region '%.80s' (want [a-z0-9-])", region);
    if (!cfg->access_key || !cfg->access_key[0] || !cfg->secret_key || !cfg->secret_key[0])
        return sh_fail(err, SH_EARG, "s3: access key and secret key are required");
    sh_status_t st = ensure_curl(err);
    if (st != SH_OK)
        return st;
    sh_s3_t *s = sh_xcalloc(1, sizeof *s);
    memcpy(s->endpoint, ep, eplen);
    s->endpoint[eplen] = '\0';
    snprintf(s->bucket, sizeof s->bucket, "%s", cfg->bucket);
    snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", region);
    s->access_key = strdup(cfg->access_key);
    s->secret_key = strdup(cfg->secret_key);
    if (!s->access_key || !s->secret_key) {
        sh_s3_close(&s);
        return sh_fail(err, SH_ENOMEM, "s3: out of memory");
    }
    st = bucket_ensure(s, err);
    if (st != SH_OK) {
        sh_s3_close(&s);
        return st;
    }
    *out = s;
    return SH_OK;
}

void sh_s3_close(sh_s3_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sh_s3_t *s = *self_p;
    free(s->access_key);
    if (s->secret_key) {
        /* Do not leave the secret in freed memory. */
        volatile char *p = s->secret_key;
        while (*p)
            *p++ = '\0';
        free(s->secret_key);
    }
    free(s);
    *self_p = NULL;
}

sh_status_t sh_s3_put_file(sh_s3_t *s, const char *key, const char *path, sh_err_t *err)
{
    if (!sh_s3_key_valid(key))
        return bad_key(err, key);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return sh_fail(err, SH_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return sh_fail(err, SH_EIO, "%s: not a regular file", path);
    char sha[65];
    uint64_t size;
    sh_status_t st = sh_sha256_file(path, sha, &size, err);
    if (st != SH_OK)
        return st;
    FILE *f = fopen(path, "rbe");
    if (!f)
        return sh_fail(err, SH_EIO, "%s: %s", path, strerror(errno));
    s3_call_t c;
    call_init(&c, s, "PUT", key, NULL);
    c.file = path;
    c.in = f;
    c.in_size = c.in_left = size;
    st = call_run(&c, s, sha, err);
    fclose(f);
    return st;
}

/* fsyncs the directory holding path, so a rename into it is durable. */
static sh_status_t fsync_parent(const char *path, sh_err_t *err)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return sh_fail(err, SH_EIO, "%s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) /* some file systems cannot sync directories */
        return sh_fail(err, SH_EIO, "fsync %s: %s", dir, strerror(e));
    return SH_OK;
}

sh_status_t sh_s3_get_file(sh_s3_t *s, const char *key, const char *path, sh_err_t *err)
{
    if (!sh_s3_key_valid(key))
        return bad_key(err, key);
    size_t n = strlen(path);
    char *part = sh_xmalloc(n + sizeof ".part");
    memcpy(part, path, n);
    memcpy(part + n, ".part", sizeof ".part");
    FILE *f = fopen(part, "wbe");
    if (!f) {
        sh_status_t st = sh_fail(err, SH_EIO, "%s: %s", part, strerror(errno));
        free(part);
        return st;
    }
    s3_call_t c;
    call_init(&c, s, "GET", key, NULL);
    c.file = part;
    c.out = f;
    sh_status_t st = call_run(&c, s, EMPTY_SHA256, err);
    if (st == SH_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        st = sh_fail(err, SH_EIO, "%s: %s", part, strerror(errno));
    if (fclose(f) != 0 && st == SH_OK)
        st = sh_fail(err, SH_EIO, "%s: %s", part, strerror(errno));
    if (st == SH_OK && rename(part, path) != 0)
        st = sh_fail(err, SH_EIO, "rename %s to %s: %s", part, path, strerror(errno));
    if (st == SH_OK)
        st = fsync_parent(path, err);
    if (st != SH_OK)
        unlink(part);
    free(part);
    return st;
}

sh_status_t sh_s3_head(sh_s3_t *s, const char *key, uint64_t *size, sh_err_t *err)
{
    if (!sh_s3_key_valid(key))
        return bad_key(err, key);
    s3_call_t c;
    call_init(&c, s, "HEAD", key, NULL);
    sh_status_t st = call_run(&c, s, EMPTY_SHA256, err);
    if (st != SH_OK)
        return st;
    if (c.content_length < 0)
        return sh_fail(err, SH_EFORMAT, "s3 HEAD %s: no Content-Length in the answer", c.url);
    if (size)
        *size = (uint64_t)c.content_length;
    return SH_OK;
}

sh_status_t sh_s3_delete(sh_s3_t *s, const char *key, sh_err_t *err)
{
    if (!sh_s3_key_valid(key))
        return bad_key(err, key);
    s3_call_t c;
    call_init(&c, s, "DELETE", key, NULL);
    return call_run(&c, s, EMPTY_SHA256, err);
}
