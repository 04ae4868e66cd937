/* sh_curve.c - CURVE key files, socket options and the allow list. */
#include "sh_curve.h"

#include "sh_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define KEY_FILE_MAX 4096

static sh_status_t write_new(const char *path, int mode, const char *text, sh_err_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return sh_fail(err, errno == EEXIST ? SH_EARG : SH_EIO, "%s: %s%s", path, strerror(errno),
                       errno == EEXIST ? " (not overwritten)" : "");
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    int e = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(path);
        return sh_fail(err, SH_EIO, "%s: %s", path, strerror(e));
    }
    return SH_OK;
}

sh_status_t sh_curve_keygen(const char *base, sh_err_t *err)
{
    char pub[SH_Z85_KEY + 1], sec[SH_Z85_KEY + 1];
    if (zmq_curve_keypair(pub, sec) != 0)
        return sh_fail(err, SH_EIO, "cannot make a CURVE key pair: %s (libzmq without CURVE?)",
                       zmq_strerror(errno));
    char key_path[4200], pub_path[4200], text[256];
    snprintf(key_path, sizeof key_path, "%s.key", base);
    snprintf(pub_path, sizeof pub_path, "%s.pub", base);
    if (access(key_path, F_OK) == 0 || access(pub_path, F_OK) == 0)
        return sh_fail(err, SH_EARG, "%s: exists (not overwritten)",
                       access(key_path, F_OK) == 0 ? key_path : pub_path);
    snprintf(text, sizeof text, "# shears CURVE secret key: keep it private\n%s\n", sec);
    sh_status_t st = write_new(key_path, 0600, text, err);
    if (st != SH_OK)
        return st;
    snprintf(text, sizeof text, "# shears CURVE public key\n%s\n", pub);
    if ((st = write_new(pub_path, 0644, text, err)) != SH_OK)
        unlink(key_path);
    return st;
}

static int is_z85_key(const char *s, size_t len)
{
    uint8_t bin[32];
    char tmp[SH_Z85_KEY + 1];
    if (len != SH_Z85_KEY)
        return 0;
    memcpy(tmp, s, SH_Z85_KEY);
    tmp[SH_Z85_KEY] = '\0';
    return zmq_z85_decode(bin, tmp) != NULL;
}

sh_status_t sh_curve_read_key(const char *path, char key[SH_Z85_KEY + 1], sh_err_t *err)
{
    char *text;
    size_t len;
    sh_status_t st = sh_file_read(path, KEY_FILE_MAX, &text, &len, err);
    if (st != SH_OK)
        return st;
    st = sh_fail(err, SH_EFORMAT, "%s: no CURVE key (a line of 40 Z85 characters)", path);
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        size_t n = next ? (size_t)(next - line) : strlen(line);
        if (next)
            next++;
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            n--;
        while (n && (*line == ' ' || *line == '\t')) {
            line++;
            n--;
        }
        if (n == 0 || *line == '#')
            continue;
        if (!is_z85_key(line, n)) {
            st = sh_fail(err, SH_EFORMAT, "%s: not a CURVE key: expected 40 Z85 characters",
                         path);
            break;
        }
        memcpy(key, line, SH_Z85_KEY);
        key[SH_Z85_KEY] = '\0';
        st = SH_OK;
        break;
    }
    free(text);
    return st;
}

sh_status_t sh_curve_load(sh_curve_t *c, const char *secret_path, const char *server_path,
                          sh_err_t *err)
{
    memset(c, 0, sizeof *c);
    sh_status_t st = sh_curve_read_key(secret_path, c->secret_key, err);
    if (st != SH_OK)
        return st;
    if (zmq_curve_public(c->public_key, c->secret_key) != 0)
        return sh_fail(err, SH_EFORMAT, "%s: cannot derive a public key: %s", secret_path,
                       zmq_strerror(errno));
    if (server_path && (st = sh_curve_read_key(server_path, c->server_key, err)) != SH_OK)
        return st;
    return SH_OK;
}

int sh_curve_client_socket(void *sock, const sh_curve_t *c)
{
    return zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, c->server_key, SH_Z85_KEY) ||
                   zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, c->public_key, SH_Z85_KEY) ||
                   zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, c->secret_key, SH_Z85_KEY)
               ? -1
               : 0;
}

int sh_curve_server_socket(void *sock, const sh_curve_t *c)
{
    int one = 1;
    return zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
                   zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, c->secret_key, SH_Z85_KEY) ||
                   zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, SH_ZAP_DOMAIN, strlen(SH_ZAP_DOMAIN))
               ? -1
               : 0;
}

static sh_status_t load_role(sh_allow_t *a, const char *dir, const char *sub, int role,
                             sh_err_t *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? SH_OK
                               : sh_fail(err, SH_EIO, "allow list %s: %s", path, strerror(errno));
    sh_status_t st = SH_OK;
    struct dirent *e;
    while (st == SH_OK && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n < 5 || strcmp(e->d_name + n - 4, ".pub") != 0)
            continue;
        char file[4700], key[SH_Z85_KEY + 1];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        if ((st = sh_curve_read_key(file, key, err)) != SH_OK)
            break;
        sh_allow_entry_t *hit = NULL;
        for (int i = 0; i < a->n && !hit; i++)
            if (!strcmp(a->v[i].key, key))
                hit = &a->v[i];
        if (!hit) {
            sh_allow_entry_t *v = realloc(a->v, (size_t)(a->n + 1) * sizeof *a->v);
            if (!v) {
                st = sh_fail(err, SH_ENOMEM, "out of memory");
                break;
            }
            a->v = v;
            hit = &a->v[a->n++];
            memset(hit, 0, sizeof *hit);
            memcpy(hit->key, key, sizeof key);
            snprintf(hit->name, sizeof hit->name, "%.*s", (int)(n - 4), e->d_name);
        }
        hit->roles |= role;
    }
    closedir(d);
    return st;
}

sh_status_t sh_allow_load(sh_allow_t *a, const char *dir, sh_err_t *err)
{
    a->v = NULL;
    a->n = 0;
    sh_status_t st = load_role(a, dir, "clients", SH_ROLE_CLIENT, err);
    if (st == SH_OK)
        st = load_role(a, dir, "workers", SH_ROLE_WORKER, err);
    if (st != SH_OK)
        sh_allow_free(a);
    return st;
}

void sh_allow_free(sh_allow_t *a)
{
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

const sh_allow_entry_t *sh_allow_find(const sh_allow_t *a, const char *key)
{
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->v[i].key, key))
            return &a->v[i];
    return NULL;
}
