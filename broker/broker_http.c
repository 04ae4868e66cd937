/* broker_http.c - the broker's read-only status page (libmicrohttpd).
 *
 *   GET /                   the live page (HTML; its script polls the API)
 *   GET /api/status         workers alive, queue depth, live sweeps with
 *                           their running jobs and progress (STATUS payload)
 *   GET /api/workers        every worker seen (WORKERS payload)
 *   GET /api/sweeps/N       sweep N's rows and results (RESULTS payload)
 *
 * The API returns the same data as the ZeroMQ replies (proto/PROTOCOL.md),
 * as JSON. The daemon runs without threads of its own: the broker's loop
 * polls its epoll descriptor and calls broker_http_run, so handlers read
 * the broker's state with no locking. With a token, every request must
 * carry it ("Authorization: Bearer TOKEN", or ?token=TOKEN for a browser);
 * the broker requires one when CURVE is on. */
#include "broker_internal.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct broker_http {
    struct MHD_Daemon *d;
    broker_t *b;
    char *token;
};

/* broker/status_page.html, compiled in (broker/CMakeLists.txt). */
extern const char sh_status_page[];
extern const size_t sh_status_page_len;

/* ---- msgpack -> JSON --------------------------------------------------------------- */

static void json_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_of(FILE *f, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: fputs("null", f); break;
    case MSGPACK_OBJECT_BOOLEAN: fputs(o->via.boolean ? "true" : "false", f); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: fprintf(f, "%llu", (unsigned long long)o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: fprintf(f, "%lld", (long long)o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (isfinite(o->via.f64))
            fprintf(f, "%.17g", o->via.f64);
        else
            fputs("null", f);
        break;
    case MSGPACK_OBJECT_STR: json_str(f, o->via.str.ptr, o->via.str.size); break;
    case MSGPACK_OBJECT_ARRAY:
        fputc('[', f);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                fputc(',', f);
            json_of(f, &o->via.array.ptr[i]);
        }
        fputc(']', f);
        break;
    case MSGPACK_OBJECT_MAP:
        fputc('{', f);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (i)
                fputc(',', f);
            if (kv->key.type == MSGPACK_OBJECT_STR)
                json_str(f, kv->key.via.str.ptr, kv->key.via.str.size);
            else
                fputs("\"?\"", f);
            fputc(':', f);
            json_of(f, &kv->val);
        }
        fputc('}', f);
        break;
    default: fputs("null", f); break; /* bin and ext are never sent */
    }
}

/* The broker's own payload as JSON (malloc'd). */
static char *to_json(const msgpack_sbuffer *sb, size_t *len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    char *out = NULL;
    *len = 0;
    if (msgpack_unpack_next(&u, sb->data, sb->size, NULL) == MSGPACK_UNPACK_SUCCESS) {
        FILE *f = open_memstream(&out, len);
        if (f) {
            json_of(f, &u.data);
            fclose(f);
        }
    }
    msgpack_unpacked_destroy(&u);
    return out;
}

/* ---- requests ------------------------------------------------------------------------ */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned code, const char *type,
                               char *body, size_t len, int owned)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; script-src 'unsafe-inline'; "
                            "style-src 'unsafe-inline'; connect-src 'self'");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result error(struct MHD_Connection *c, unsigned code, const char *msg)
{
    char *body;
    size_t len;
    FILE *f = open_memstream(&body, &len);
    fputs("{\"error\":", f);
    json_str(f, msg, strlen(msg));
    fputs("}\n", f);
    fclose(f);
    return respond(c, code, "application/json", body, len, 1);
}

static int authorized(const broker_http_t *h, struct MHD_Connection *c)
{
    if (!h->token)
        return 1;
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    if (q && !strcmp(q, h->token))
        return 1;
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return a && !strncmp(a, "Bearer ", 7) && !strcmp(a + 7, h->token);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    (void)upload;
    broker_http_t *h = cls;
    broker_t *b = h->b;
    if (!*state) { /* first call: headers only; answer on the second */
        *state = h;
        return MHD_YES;
    }
    if (*upload_size)
        return error(c, 413, "no request bodies here");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return error(c, 405, "read-only: GET only");
    if (!authorized(h, c))
        return error(c, 401, "a token is required (?token=... or Authorization: Bearer ...)");
    if (!strcmp(url, "/"))
        return respond(c, 200, "text/html; charset=utf-8", (char *)sh_status_page,
                       sh_status_page_len, 0);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (!strcmp(url, "/api/status")) {
        broker_pack_status(b, -1, &sb);
    } else if (!strcmp(url, "/api/workers")) {
        broker_pack_workers(b, &sb);
    } else if (!strncmp(url, "/api/sweeps/", 12)) {
        char *end;
        long long id = strtoll(url + 12, &end, 10);
        int s = -1;
        for (int k = 0; k < b->n_sweeps && *end == '\0' && url[12]; k++)
            if (b->sweeps[k].id == id)
                s = k;
        if (s < 0) {
            msgpack_sbuffer_destroy(&sb);
            return error(c, 404, "no such sweep");
        }
        broker_pack_results(b, s, &sb);
    } else {
        msgpack_sbuffer_destroy(&sb);
        return error(c, 404, "not found: try /, /api/status, /api/workers, /api/sweeps/N");
    }
    size_t len;
    char *json = to_json(&sb, &len);
    msgpack_sbuffer_destroy(&sb);
    if (!json)
        return error(c, 500, "out of memory");
    return respond(c, 200, "application/json", json, len, 1);
}

sh_status_t broker_http_start(broker_http_t **out, broker_t *b, const char *addr,
                              const char *token, sh_err_t *err)
{
    *out = NULL;
    char host[64] = "127.0.0.1";
    const char *colon = strrchr(addr, ':');
    const char *port_s = colon ? colon + 1 : addr;
    if (colon && (size_t)(colon - addr) >= sizeof host)
        return sh_fail(err, SH_EARG, "--http '%s': expected HOST:PORT or PORT", addr);
    if (colon && colon > addr)
        snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
    char *end;
    long port = strtol(port_s, &end, 10);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (!*port_s || *end || port < 1 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return sh_fail(err, SH_EARG, "--http '%s': expected HOST:PORT or PORT, HOST an IPv4 address",
                       addr);
    broker_http_t *h = sh_xcalloc(1, sizeof *h);
    h->b = b;
    h->token = token ? strdup(token) : NULL;
    h->d = MHD_start_daemon(MHD_USE_EPOLL, (uint16_t)port, NULL, NULL, handle, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    if (!h->d) {
        free(h->token);
        free(h);
        return sh_fail(err, SH_EIO, "cannot serve the status page on %s:%ld (port in use?)", host,
                       port);
    }
    *out = h;
    return SH_OK;
}

int broker_http_fd(const broker_http_t *h)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    return i ? i->epoll_fd : -1;
}

void broker_http_run(broker_http_t *h)
{
    MHD_run(h->d);
}

void broker_http_stop(broker_http_t **hp)
{
    broker_http_t *h = *hp;
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h->token);
    free(h);
    *hp = NULL;
}
