/* sh_doc.c - the sweep-file document tree: libyaml events folded into maps,
 * sequences and scalars that remember their source line; `--set` overrides;
 * typed scalar reads; canonical JSON (hashed into job ids) and block YAML.
 *
 * Input is untrusted. Limits are checked as events arrive, every error path
 * frees what was built so far, and nothing here aborts on bad input. */
#include "sh_doc.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

/* ---- nodes ------------------------------------------------------------ */

static sh_doc_t *node_new(sh_doc_kind_t kind, int line)
{
    sh_doc_t *node = calloc(1, sizeof *node);
    if (node) {
        node->kind = kind;
        node->line = line;
    }
    return node;
}

static char *str_dup_n(const char *s, size_t n)
{
    char *copy = malloc(n + 1);
    if (copy) {
        memcpy(copy, s, n);
        copy[n] = '\0';
    }
    return copy;
}

static sh_doc_t *scalar_new(const char *text, size_t len, int quoted, int line)
{
    sh_doc_t *node = node_new(SH_DOC_SCALAR, line);
    if (!node)
        return NULL;
    node->text = str_dup_n(text, len);
    if (!node->text) {
        free(node);
        return NULL;
    }
    node->quoted = quoted;
    return node;
}

void sh_doc_free(sh_doc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sh_doc_t *self = *self_p;
    for (int i = 0; i < self->n; i++) {
        if (self->keys)
            free(self->keys[i]);
        sh_doc_free(&self->items[i]);
    }
    free(self->keys);
    free(self->items);
    free(self->text);
    free(self);
    *self_p = NULL;
}

sh_doc_t *sh_doc_clone(const sh_doc_t *self)
{
    if (!self)
        return NULL;
    sh_doc_t *copy = node_new(self->kind, self->line);
    if (!copy)
        return NULL;
    copy->quoted = self->quoted;
    if (self->kind == SH_DOC_SCALAR) {
        copy->text = str_dup_n(self->text, strlen(self->text));
        if (!copy->text)
            goto fail;
        return copy;
    }
    if (self->n == 0)
        return copy;
    copy->items = calloc((size_t)self->n, sizeof *copy->items);
    if (!copy->items)
        goto fail;
    if (self->kind == SH_DOC_MAP) {
        copy->keys = calloc((size_t)self->n, sizeof *copy->keys);
        if (!copy->keys)
            goto fail;
    }
    /* copy->n counts finished entries, so a failure frees exactly those. */
    for (int i = 0; i < self->n; i++) {
        sh_doc_t *item = sh_doc_clone(self->items[i]);
        if (!item)
            goto fail;
        if (copy->keys) {
            copy->keys[i] = str_dup_n(self->keys[i], strlen(self->keys[i]));
            if (!copy->keys[i]) {
                sh_doc_free(&item);
                goto fail;
            }
        }
        copy->items[i] = item;
        copy->n = i + 1;
    }
    return copy;
fail:
    sh_doc_free(&copy);
    return NULL;
}

static int key_equals(const char *key, const char *s, size_t n)
{
    return strncmp(key, s, n) == 0 && key[n] == '\0';
}

static int find_key(const sh_doc_t *map, const char *s, size_t n)
{
    for (int i = 0; i < map->n; i++)
        if (key_equals(map->keys[i], s, n))
            return i;
    return -1;
}

sh_doc_t *sh_doc_child(const sh_doc_t *self, const char *key)
{
    if (!self || self->kind != SH_DOC_MAP || !key)
        return NULL;
    int i = find_key(self, key, strlen(key));
    return i < 0 ? NULL : self->items[i];
}

/* A sequence index: 1..9 decimal digits, no sign. Returns -1 otherwise. */
static int parse_index(const char *s, size_t n)
{
    if (n == 0 || n > 9)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* A map is searched by key even when the component looks like a number, so
 * a key named "0" stays reachable; only sequences take indexes. */
sh_doc_t *sh_doc_path(const sh_doc_t *root, const char *path)
{
    if (!root || !path || !*path)
        return NULL;
    const sh_doc_t *node = root;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0)
            return NULL;
        int i = -1;
        if (node->kind == SH_DOC_MAP) {
            i = find_key(node, p, n);
        } else if (node->kind == SH_DOC_SEQ) {
            i = parse_index(p, n);
            if (i >= node->n)
                i = -1;
        }
        if (i < 0)
            return NULL;
        node = node->items[i];
        if (!dot)
            return (sh_doc_t *)node;
        p = dot + 1;
    }
}

/* ---- parsing ---------------------------------------------------------- */

/* One open collection. Maps also hold the key read but not yet given its
 * value, and each key's line for the duplicate-key report. */
typedef struct {
    sh_doc_t *node;
    int cap;         /* allocated length of node->items (and node->keys) */
    int *key_lines;
    char *key;
    int key_line;
} frame_t;

typedef struct {
    const char *name;
    sh_err_t *err;
    sh_doc_t *root;
    frame_t stack[SH_DOC_MAX_DEPTH];
    int depth;
    long n_nodes;
    int n_docs;
} builder_t;

static sh_status_t fail_at(builder_t *b, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static sh_status_t fail_at(builder_t *b, int line, const char *fmt, ...)
{
    char problem[sizeof b->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    return sh_fail(b->err, SH_EFORMAT, "%s:%d: %s", b->name, line, problem);
}

static sh_status_t out_of_memory(builder_t *b)
{
    return sh_fail(b->err, SH_ENOMEM, "%s: out of memory", b->name);
}

/* Appends child to the collection of frame f (under the pending key for a
 * map). Takes ownership of child even on failure. */
static sh_status_t frame_add(builder_t *b, frame_t *f, sh_doc_t *child)
{
    sh_doc_t *c = f->node;
    if (c->n == f->cap) {
        int cap = f->cap ? 2 * f->cap : 4;
        sh_doc_t **items = realloc(c->items, (size_t)cap * sizeof *items);
        if (!items)
            goto oom;
        c->items = items;
        if (c->kind == SH_DOC_MAP) {
            char **keys = realloc(c->keys, (size_t)cap * sizeof *keys);
            if (!keys)
                goto oom;
            c->keys = keys;
            int *lines = realloc(f->key_lines, (size_t)cap * sizeof *lines);
            if (!lines)
                goto oom;
            f->key_lines = lines;
        }
        f->cap = cap;
    }
    if (c->kind == SH_DOC_MAP) {
        c->keys[c->n] = f->key;
        f->key_lines[c->n] = f->key_line;
        f->key = NULL;
    }
    c->items[c->n++] = child;
    return SH_OK;
oom:
    sh_doc_free(&child);
    return out_of_memory(b);
}

static sh_status_t attach(builder_t *b, sh_doc_t *node)
{
    if (b->depth == 0) {
        b->root = node; /* one document, so one root */
        return SH_OK;
    }
    return frame_add(b, &b->stack[b->depth - 1], node);
}

typedef struct {
    const char *key;
    int index;
} keyref_t;

static int keyref_cmp(const void *pa, const void *pb)
{
    const keyref_t *a = pa, *b = pb;
    int c = strcmp(a->key, b->key);
    return c ? c : (a->index > b->index) - (a->index < b->index);
}

/* Sorting instead of checking each key as it arrives keeps a 100000-key map
 * at n log n. Reports the first repeated key in document order. */
static sh_status_t check_duplicates(builder_t *b, const frame_t *f)
{
    const sh_doc_t *map = f->node;
    if (map->n < 2)
        return SH_OK;
    keyref_t *refs = malloc((size_t)map->n * sizeof *refs);
    if (!refs)
        return out_of_memory(b);
    for (int i = 0; i < map->n; i++)
        refs[i] = (keyref_t){map->keys[i], i};
    qsort(refs, (size_t)map->n, sizeof *refs, keyref_cmp);
    int dup = -1;
    for (int i = 1; i < map->n; i++)
        if (strcmp(refs[i - 1].key, refs[i].key) == 0 && (dup < 0 || refs[i].index < dup))
            dup = refs[i].index;
    free(refs);
    if (dup < 0)
        return SH_OK;
    return fail_at(b, f->key_lines[dup], "duplicate key '%s'", map->keys[dup]);
}

static sh_status_t on_scalar(builder_t *b, const yaml_event_t *ev, int line)
{
    const char *text = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    /* "\0" escapes would silently cut the C string short. */
    if (memchr(text, '\0', len))
        return fail_at(b, line, "NUL characters are not supported");
    frame_t *top = b->depth ? &b->stack[b->depth - 1] : NULL;
    if (top && top->node->kind == SH_DOC_MAP && !top->key) {
        top->key = str_dup_n(text, len);
        top->key_line = line;
        return top->key ? SH_OK : out_of_memory(b);
    }
    if (++b->n_nodes > SH_DOC_MAX_NODES)
        return fail_at(b, line, "more than %d nodes", SH_DOC_MAX_NODES);
    yaml_scalar_style_t style = ev->data.scalar.style;
    int quoted = style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                 style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    sh_doc_t *node = scalar_new(text, len, quoted, line);
    if (!node)
        return out_of_memory(b);
    return attach(b, node);
}

static sh_status_t on_open(builder_t *b, sh_doc_kind_t kind, int line)
{
    frame_t *top = b->depth ? &b->stack[b->depth - 1] : NULL;
    if (top && top->node->kind == SH_DOC_MAP && !top->key)
        return fail_at(b, line, "map keys must be scalars");
    if (b->depth == SH_DOC_MAX_DEPTH)
        return fail_at(b, line, "nesting deeper than %d levels", SH_DOC_MAX_DEPTH);
    if (++b->n_nodes > SH_DOC_MAX_NODES)
        return fail_at(b, line, "more than %d nodes", SH_DOC_MAX_NODES);
    sh_doc_t *node = node_new(kind, line);
    if (!node)
        return out_of_memory(b);
    sh_status_t st = attach(b, node);
    if (st != SH_OK)
        return st;
    b->stack[b->depth++] = (frame_t){.node = node};
    return SH_OK;
}

static sh_status_t on_close(builder_t *b, int line)
{
    if (b->depth == 0) /* libyaml balances its events; be safe anyway */
        return fail_at(b, line, "unbalanced collection end");
    frame_t *top = &b->stack[b->depth - 1];
    if (top->node->kind == SH_DOC_MAP) {
        sh_status_t st = check_duplicates(b, top);
        if (st != SH_OK)
            return st;
    }
    free(top->key);
    free(top->key_lines);
    b->depth--;
    return SH_OK;
}

static sh_status_t on_event(builder_t *b, const yaml_event_t *ev, int *done)
{
    int line = (int)ev->start_mark.line + 1;
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        *done = 1;
        return SH_OK;
    case YAML_DOCUMENT_START_EVENT:
        if (++b->n_docs > 1)
            return fail_at(b, line, "more than one document");
        return SH_OK;
    case YAML_ALIAS_EVENT:
        return fail_at(b, line, "aliases are not supported");
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev, line);
    case YAML_SEQUENCE_START_EVENT:
        return on_open(b, SH_DOC_SEQ, line);
    case YAML_MAPPING_START_EVENT:
        return on_open(b, SH_DOC_MAP, line);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_close(b, line);
    default: /* stream start, document end; anchors and tags are ignored */
        return SH_OK;
    }
}

static sh_status_t syntax_error(builder_t *b, const yaml_parser_t *p,
                                const char *text, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR)
        return out_of_memory(b);
    const char *problem = p->problem ? p->problem : "syntax error";
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors carry a byte offset instead of a mark. */
        int line = 1;
        size_t end = SH_MIN(p->problem_offset, len);
        for (size_t i = 0; i < end; i++)
            line += text[i] == '\n';
        if (p->problem_value != -1)
            return fail_at(b, line, "%s (%#x)", problem, (unsigned)p->problem_value);
        return fail_at(b, line, "%s", problem);
    }
    int line = (int)p->problem_mark.line + 1;
    if (p->context)
        return fail_at(b, line, "%s (%s at line %d)", problem, p->context,
                       (int)p->context_mark.line + 1);
    return fail_at(b, line, "%s", problem);
}

sh_status_t sh_doc_parse(sh_doc_t **out, const char *text, size_t len,
                         const char *name, sh_err_t *err)
{
    SH_ASSERT(out && (text || len == 0));
    *out = NULL;
    builder_t b = {.name = name ? name : "<input>", .err = err};
    if (len > SH_DOC_MAX_BYTES)
        return sh_fail(err, SH_EFORMAT, "%s: larger than %u bytes", b.name,
                       SH_DOC_MAX_BYTES);
    if (!text)
        text = "";

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return out_of_memory(&b);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    sh_status_t st = SH_OK;
    for (int done = 0; !done && st == SH_OK;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            st = syntax_error(&b, &parser, text, len);
            break;
        }
        st = on_event(&b, &ev, &done);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    for (int i = 0; i < b.depth; i++) { /* open collections after an error */
        free(b.stack[i].key);
        free(b.stack[i].key_lines);
    }

    /* No document, or "---" alone (an empty plain scalar): an empty map. */
    sh_doc_t *root = b.root;
    if (st == SH_OK && (!root || (root->kind == SH_DOC_SCALAR && !root->quoted &&
                                  root->text[0] == '\0'))) {
        sh_doc_free(&b.root);
        b.root = node_new(SH_DOC_MAP, 1);
        if (!b.root)
            st = out_of_memory(&b);
    }
    if (st != SH_OK) {
        sh_doc_free(&b.root);
        return st;
    }
    *out = b.root;
    return SH_OK;
}

sh_status_t sh_doc_load_file(sh_doc_t **out, const char *path, sh_err_t *err)
{
    SH_ASSERT(out && path);
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sh_fail(err, SH_EIO, "%s: %s", path, strerror(errno));
    /* One byte more than the limit tells "too large" from "exactly at it". */
    char *text = malloc(SH_DOC_MAX_BYTES + 1);
    if (!text) {
        fclose(f);
        return sh_fail(err, SH_ENOMEM, "%s: out of memory", path);
    }
    size_t len = fread(text, 1, SH_DOC_MAX_BYTES + 1, f);
    int read_error = ferror(f) ? errno : 0;
    fclose(f);
    sh_status_t st;
    if (read_error)
        st = sh_fail(err, SH_EIO, "%s: %s", path, strerror(read_error));
    else if (len > SH_DOC_MAX_BYTES)
        st = sh_fail(err, SH_EFORMAT, "%s: larger than %u bytes", path, SH_DOC_MAX_BYTES);
    else
        st = sh_doc_parse(out, text, len, path, err);
    free(text);
    return st;
}

/* ---- scalar types ----------------------------------------------------- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Optional sign and decimal digits, within int64. */
static int parse_int(const char *s, int64_t *out)
{
    int neg = *s == '-';
    if (*s == '+' || *s == '-')
        s++;
    if (!*s)
        return 0;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t mag = 0;
    for (; *s; s++) {
        if (!is_digit(*s))
            return 0;
        unsigned d = (unsigned)(*s - '0');
        if (mag > (limit - d) / 10)
            return 0;
        mag = mag * 10 + d;
    }
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 1;
}

/* Decimal with optional fraction and exponent ("1.0e-4", ".5", "3."), the
 * grammar checked by hand so strtod's inf/nan/hex forms never get through;
 * overflow to infinity is rejected, underflow toward zero is accepted. */
static int parse_double(const char *s, double *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    int digits = 0;
    while (is_digit(*p))
        p++, digits++;
    if (*p == '.') {
        p++;
        while (is_digit(*p))
            p++, digits++;
    }
    if (digits == 0)
        return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!is_digit(*p))
            return 0;
        while (is_digit(*p))
            p++;
    }
    if (*p)
        return 0;
    char *end;
    double v = strtod(s, &end);
    if (end != p || isinf(v) || isnan(v))
        return 0;
    *out = v;
    return 1;
}

static int ascii_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char ca = (*a >= 'A' && *a <= 'Z') ? (char)(*a + 32) : *a;
        if (ca != *b)
            return 0;
    }
    return *a == *b;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const names[] = {"false", "no", "off", "true", "yes", "on"};
    for (int i = 0; i < 6; i++) {
        if (ascii_ieq(s, names[i])) {
            *out = i >= 3;
            return 1;
        }
    }
    return 0;
}

static int is_null_text(const char *s)
{
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

typedef enum { TYPE_STRING, TYPE_NULL, TYPE_BOOL, TYPE_INT, TYPE_DOUBLE } scalar_type_t;

/* What an unquoted scalar with this text means. */
static scalar_type_t plain_type(const char *s, int64_t *i, double *d, int *b)
{
    if (is_null_text(s))
        return TYPE_NULL;
    if (parse_bool(s, b))
        return TYPE_BOOL;
    if (parse_int(s, i))
        return TYPE_INT;
    if (parse_double(s, d))
        return TYPE_DOUBLE;
    return TYPE_STRING;
}

static scalar_type_t scalar_type(const sh_doc_t *s, int64_t *i, double *d, int *b)
{
    return s->quoted ? TYPE_STRING : plain_type(s->text, i, d, b);
}

static sh_status_t type_error(const sh_doc_t *node, const char *name, const char *key,
                              const char *what, sh_err_t *err)
{
    if (!name)
        name = "<input>";
    if (!key)
        key = "?";
    if (!node)
        return sh_fail(err, SH_EARG, "%s: '%s' is missing, expected %s", name, key, what);
    const char *got = node->kind == SH_DOC_MAP ? "a map"
                      : node->kind == SH_DOC_SEQ ? "a sequence"
                                                 : NULL;
    const char *note = node->quoted ? " (quoted, so a string)" : "";
    /* Line 0 marks a node made by --set: point at the override instead. */
    if (node->line == 0) {
        if (got)
            return sh_fail(err, SH_EARG, "--set %s: expects %s, got %s", key, what, got);
        return sh_fail(err, SH_EARG, "--set %s: expects %s, got '%s'%s", key, what,
                       node->text, note);
    }
    if (got)
        return sh_fail(err, SH_EARG, "%s:%d: '%s' expects %s, got %s", name, node->line,
                       key, what, got);
    return sh_fail(err, SH_EARG, "%s:%d: '%s' expects %s, got '%s'%s", name, node->line,
                   key, what, node->text, note);
}

sh_status_t sh_doc_int(const sh_doc_t *node, const char *name, const char *key,
                       int64_t *out, sh_err_t *err)
{
    int64_t v;
    if (!node || node->kind != SH_DOC_SCALAR || node->quoted || !parse_int(node->text, &v))
        return type_error(node, name, key, "an integer", err);
    *out = v;
    return SH_OK;
}

sh_status_t sh_doc_double(const sh_doc_t *node, const char *name, const char *key,
                          double *out, sh_err_t *err)
{
    double v;
    if (!node || node->kind != SH_DOC_SCALAR || node->quoted ||
        !parse_double(node->text, &v))
        return type_error(node, name, key, "a number", err);
    *out = v;
    return SH_OK;
}

sh_status_t sh_doc_bool(const sh_doc_t *node, const char *name, const char *key,
                        int *out, sh_err_t *err)
{
    int v;
    if (!node || node->kind != SH_DOC_SCALAR || node->quoted || !parse_bool(node->text, &v))
        return type_error(node, name, key, "a boolean (true/false)", err);
    *out = v;
    return SH_OK;
}

sh_status_t sh_doc_string(const sh_doc_t *node, const char *name, const char *key,
                          const char **out, sh_err_t *err)
{
    if (!node || node->kind != SH_DOC_SCALAR)
        return type_error(node, name, key, "a string", err);
    *out = node->text;
    return SH_OK;
}

/* ---- --set ------------------------------------------------------------ */

static int container_depth(const sh_doc_t *node)
{
    if (node->kind == SH_DOC_SCALAR)
        return 0;
    int deepest = 0;
    for (int i = 0; i < node->n; i++) {
        int d = container_depth(node->items[i]); /* not inside SH_MAX: 2^depth calls */
        if (d > deepest)
            deepest = d;
    }
    return 1 + deepest;
}

static void clear_lines(sh_doc_t *node)
{
    node->line = 0;
    for (int i = 0; i < node->n; i++)
        clear_lines(node->items[i]);
}

/* Adds key -> item at the end of map, taking ownership of item (freed on
 * failure). Sizes are exact: overrides are few, and trees from elsewhere
 * carry no spare capacity to rely on. */
static sh_status_t map_append(sh_doc_t *map, const char *key, size_t key_len, sh_doc_t *item)
{
    char *k = str_dup_n(key, key_len);
    if (!k)
        goto oom;
    sh_doc_t **items = realloc(map->items, (size_t)(map->n + 1) * sizeof *items);
    if (!items)
        goto oom;
    map->items = items;
    char **keys = realloc(map->keys, (size_t)(map->n + 1) * sizeof *keys);
    if (!keys)
        goto oom;
    map->keys = keys;
    map->keys[map->n] = k;
    map->items[map->n++] = item;
    return SH_OK;
oom:
    free(k);
    sh_doc_free(&item);
    return SH_ENOMEM;
}

typedef struct {
    const char *s;
    size_t n;
} span_t;

/* Splits "a.b.0" into components of [A-Za-z0-9_-]+. Returns the count, or -1
 * if the path is malformed or deeper than the document may nest. */
static int split_path(const char *path, size_t len, span_t comps[SH_DOC_MAX_DEPTH])
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && path[i] != '.') {
            char c = path[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
                  c == '_' || c == '-'))
                return -1;
            continue;
        }
        if (i == start || n == SH_DOC_MAX_DEPTH)
            return -1;
        comps[n++] = (span_t){path + start, i - start};
        start = i + 1;
    }
    return n;
}

/* Puts value at comps[0..n) under root; takes ownership of value. Nothing is
 * changed unless it returns SH_OK. */
static sh_status_t set_path(sh_doc_t *root, const char *path, const span_t *comps, int n,
                            sh_doc_t *value, sh_err_t *err)
{
    sh_doc_t *node = root;
    for (int c = 0; c < n; c++) {
        int prefix = c ? (int)(comps[c - 1].s + comps[c - 1].n - path) : 0;
        int last = c == n - 1;
        sh_doc_t **slot = NULL;
        if (node->kind == SH_DOC_MAP) {
            int i = find_key(node, comps[c].s, comps[c].n);
            if (i >= 0) {
                slot = &node->items[i];
            } else {
                /* Missing from here on: wrap value in fresh maps, innermost
                 * first, then hang the chain on node in one step. */
                for (int k = n - 1; k > c; k--) {
                    sh_doc_t *wrap = node_new(SH_DOC_MAP, 0);
                    if (!wrap || map_append(wrap, comps[k].s, comps[k].n, value) != SH_OK) {
                        if (!wrap) /* otherwise map_append freed it */
                            sh_doc_free(&value);
                        sh_doc_free(&wrap);
                        return sh_fail(err, SH_ENOMEM, "--set %s: out of memory", path);
                    }
                    value = wrap;
                }
                if (map_append(node, comps[c].s, comps[c].n, value) != SH_OK)
                    return sh_fail(err, SH_ENOMEM, "--set %s: out of memory", path);
                return SH_OK;
            }
        } else if (node->kind == SH_DOC_SEQ) {
            int i = parse_index(comps[c].s, comps[c].n);
            if (i < 0 || i >= node->n) {
                sh_doc_free(&value);
                return sh_fail(err, SH_EARG,
                               "--set %s: '%.*s' is a sequence of %d items, "
                               "'%.*s' is not an index into it",
                               path, prefix, path, node->n, (int)comps[c].n, comps[c].s);
            }
            slot = &node->items[i];
        } else {
            sh_doc_free(&value);
            if (c == 0)
                return sh_fail(err, SH_EARG, "--set %s: the document is not a map", path);
            return sh_fail(err, SH_EARG, "--set %s: '%.*s' is not a map", path, prefix, path);
        }
        if (last) {
            sh_doc_free(slot);
            *slot = value;
            return SH_OK;
        }
        node = *slot;
    }
    sh_doc_free(&value); /* n == 0 is rejected by the caller */
    return SH_EARG;
}

sh_status_t sh_doc_set(sh_doc_t *root, const char *assignment, sh_err_t *err)
{
    SH_ASSERT(root && assignment);
    const char *eq = strchr(assignment, '=');
    if (!eq)
        return sh_fail(err, SH_EARG, "--set %s: expected key.path=value", assignment);
    size_t path_len = (size_t)(eq - assignment);
    span_t comps[SH_DOC_MAX_DEPTH];
    int n = split_path(assignment, path_len, comps);
    if (n <= 0)
        return sh_fail(err, SH_EARG,
                       "--set %s: bad key path '%.*s' (want names of [A-Za-z0-9_-] "
                       "or indexes, joined by '.', at most %d deep)",
                       assignment, (int)path_len, assignment, SH_DOC_MAX_DEPTH);

    char *path = str_dup_n(assignment, path_len);
    if (!path)
        return sh_fail(err, SH_ENOMEM, "--set: out of memory");
    const char *text = eq + 1;
    sh_status_t st = SH_OK;
    if (text[strspn(text, " \t\r\n")] == '\0') {
        st = sh_fail(err, SH_EARG, "--set %s: empty value", path);
        goto done;
    }
    char name[300];
    snprintf(name, sizeof name, "--set %s", path);
    sh_doc_t *value;
    st = sh_doc_parse(&value, text, strlen(text), name, err);
    if (st != SH_OK) {
        if (st == SH_EFORMAT)
            st = SH_EARG;
        goto done;
    }
    if (n + container_depth(value) > SH_DOC_MAX_DEPTH) {
        sh_doc_free(&value);
        st = sh_fail(err, SH_EARG, "--set %s: nesting deeper than %d levels", path,
                     SH_DOC_MAX_DEPTH);
        goto done;
    }
    clear_lines(value);
    /* Re-point comps into path, which set_path's messages slice. */
    for (int i = 0; i < n; i++)
        comps[i].s = path + (comps[i].s - assignment);
    st = set_path(root, path, comps, n, value, err);
done:
    free(path);
    return st;
}

/* ---- output ----------------------------------------------------------- */

typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} buf_t;

static void buf_put(buf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data) {
            b->failed = 1;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_puts(buf_t *b, const char *s) { buf_put(b, s, strlen(s)); }
static void buf_putc(buf_t *b, char c) { buf_put(b, &c, 1); }

static char *buf_finish(buf_t *b)
{
    if (b->failed) {
        free(b->data);
        return NULL;
    }
    return b->data;
}

/* Shortest "%.*g" that reads back as the same double, widened to plain
 * notation below 1e17 so 20.0 prints "20", not "2e+01". A function of the
 * value alone: this is what makes "0.1" and "1.0e-1" hash the same. */
static void format_double(char out[40], double v)
{
    int p = 1;
    for (; p < 17; p++) {
        snprintf(out, 40, "%.*g", p, v);
        if (strtod(out, NULL) == v)
            break;
    }
    char sci[40];
    snprintf(sci, sizeof sci, "%.*e", p - 1, v);
    const char *e = strchr(sci, 'e');
    int exp10 = e ? atoi(e + 1) : 0;
    if (exp10 >= p && exp10 < 17)
        p = exp10 + 1;
    snprintf(out, 40, "%.*g", p, v);
}

static void json_string(buf_t *b, const char *s)
{
    buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)*p);
        } else if (*p < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            buf_puts(b, esc);
        } else {
            buf_putc(b, (char)*p);
        }
    }
    buf_putc(b, '"');
}

static void json_scalar(buf_t *b, const sh_doc_t *s)
{
    int64_t i;
    double d;
    int flag;
    char num[40];
    switch (scalar_type(s, &i, &d, &flag)) {
    case TYPE_NULL:
        buf_puts(b, "null");
        break;
    case TYPE_BOOL:
        buf_puts(b, flag ? "true" : "false");
        break;
    case TYPE_INT:
        snprintf(num, sizeof num, "%" PRId64, i);
        buf_puts(b, num);
        break;
    case TYPE_DOUBLE:
        format_double(num, d);
        buf_puts(b, num);
        break;
    case TYPE_STRING:
        json_string(b, s->text);
        break;
    }
}

static void json_node(buf_t *b, const sh_doc_t *node, int sorted)
{
    if (node->kind == SH_DOC_SCALAR) {
        json_scalar(b, node);
        return;
    }
    if (node->kind == SH_DOC_SEQ) {
        buf_putc(b, '[');
        for (int i = 0; i < node->n; i++) {
            if (i)
                buf_putc(b, ',');
            json_node(b, node->items[i], sorted);
        }
        buf_putc(b, ']');
        return;
    }
    keyref_t *order = NULL;
    if (node->n > 0) {
        order = malloc((size_t)node->n * sizeof *order);
        if (!order) {
            b->failed = 1;
            return;
        }
        for (int i = 0; i < node->n; i++)
            order[i] = (keyref_t){node->keys[i], i};
        if (sorted)
            qsort(order, (size_t)node->n, sizeof *order, keyref_cmp);
    }
    buf_putc(b, '{');
    for (int i = 0; i < node->n; i++) {
        if (i)
            buf_putc(b, ',');
        json_string(b, order[i].key);
        buf_putc(b, ':');
        json_node(b, node->items[order[i].index], sorted);
    }
    buf_putc(b, '}');
    free(order);
}

char *sh_doc_to_json(const sh_doc_t *self, int sorted)
{
    SH_ASSERT(self);
    buf_t b = {0};
    json_node(&b, self, sorted);
    return buf_finish(&b);
}

/* Decodes one UTF-8 sequence; an invalid byte decodes as itself, length 1. */
static int utf8_next(const unsigned char *s, uint32_t *cp)
{
    int n = s[0] < 0x80 ? 1 : s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    uint32_t v = n == 1 ? s[0] : n == 2 ? s[0] & 0x1Fu : n == 3 ? s[0] & 0x0Fu : s[0] & 0x07u;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            n = 0;
            break;
        }
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (n == 0) {
        *cp = s[0];
        return 1;
    }
    *cp = v;
    return n;
}

/* Code points YAML will not read back verbatim: controls, C1 controls,
 * the Unicode line breaks libyaml folds (NEL, LS, PS), BOM, non-characters. */
static int yaml_must_escape(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0xFEFF || cp == 0xFFFE || cp == 0xFFFF;
}

/* Whether s survives as a plain scalar in block context. Deliberately
 * stricter than YAML requires: quoting too often costs only looks. */
static int yaml_plain_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || strchr("-?:,[]{}#&*!|>'\"%@`. ", s[0]))
        return 0;
    if (s[n - 1] == ' ' || s[n - 1] == ':')
        return 0;
    if (strstr(s, ": ") || strpbrk(s, "#,[]{}"))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        uint32_t cp;
        p += utf8_next(p, &cp);
        if (yaml_must_escape(cp))
            return 0;
    }
    return 1;
}

static void yaml_quoted(buf_t *b, const char *s)
{
    buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        uint32_t cp;
        int n = utf8_next(p, &cp);
        char esc[12];
        if (cp == '"' || cp == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)cp);
        } else if (cp == '\n') {
            buf_puts(b, "\\n");
        } else if (cp == '\t') {
            buf_puts(b, "\\t");
        } else if (yaml_must_escape(cp)) {
            snprintf(esc, sizeof esc, cp <= 0xFF ? "\\x%02X" : "\\u%04X", (unsigned)cp);
            buf_puts(b, esc);
        } else {
            buf_put(b, (const char *)p, (size_t)n);
        }
        p += n;
    }
    buf_putc(b, '"');
}

/* A scalar as YAML: typed plain scalars as written, strings plain when that
 * reads back as the same string, double-quoted otherwise. */
static void yaml_scalar(buf_t *b, const sh_doc_t *s)
{
    int64_t i;
    double d;
    int flag;
    if (!s->quoted && plain_type(s->text, &i, &d, &flag) != TYPE_STRING)
        buf_puts(b, s->text);
    else if (plain_type(s->text, &i, &d, &flag) == TYPE_STRING && yaml_plain_ok(s->text))
        buf_puts(b, s->text);
    else
        yaml_quoted(b, s->text);
}

static void yaml_pad(buf_t *b, int indent)
{
    for (int i = 0; i < indent; i++)
        buf_putc(b, ' ');
}

static void yaml_block(buf_t *b, const sh_doc_t *node, int indent, int inline_first);

/* What follows "key:" or "-": the value and its line break. Collections go
 * on the following lines, except that a sequence item starts one inline
 * ("- a: 1"). */
static void yaml_value(buf_t *b, const sh_doc_t *v, int indent, int inline_ok)
{
    if (v->kind == SH_DOC_SCALAR) {
        if (!v->quoted && v->text[0] == '\0') { /* empty plain: null */
            buf_putc(b, '\n');
            return;
        }
        buf_putc(b, ' ');
        yaml_scalar(b, v);
        buf_putc(b, '\n');
    } else if (v->n == 0) {
        buf_puts(b, v->kind == SH_DOC_MAP ? " {}\n" : " []\n");
    } else if (inline_ok) {
        buf_putc(b, ' ');
        yaml_block(b, v, indent, 1);
    } else {
        buf_putc(b, '\n');
        yaml_block(b, v, indent, 0);
    }
}

/* libyaml limits implicit keys to 1024 characters; escapes can grow a key
 * fourfold, so longer ones are written as explicit "? key" entries. */
#define YAML_LONG_KEY 200

static void yaml_block(buf_t *b, const sh_doc_t *node, int indent, int inline_first)
{
    for (int i = 0; i < node->n; i++) {
        if (i > 0 || !inline_first)
            yaml_pad(b, indent);
        if (node->kind == SH_DOC_SEQ) {
            buf_putc(b, '-');
            yaml_value(b, node->items[i], indent + 2, 1);
            continue;
        }
        const char *key = node->keys[i];
        int explicit_key = strlen(key) > YAML_LONG_KEY;
        if (explicit_key)
            buf_puts(b, "? ");
        if (yaml_plain_ok(key))
            buf_puts(b, key);
        else
            yaml_quoted(b, key);
        if (explicit_key) {
            buf_putc(b, '\n');
            yaml_pad(b, indent);
        }
        buf_putc(b, ':');
        yaml_value(b, node->items[i], indent + 2, 0);
    }
}

char *sh_doc_to_yaml(const sh_doc_t *self)
{
    SH_ASSERT(self);
    buf_t b = {0};
    if (self->kind == SH_DOC_SCALAR) {
        if (!self->quoted && self->text[0] == '\0')
            buf_puts(&b, "~"); /* an empty document would read back as {} */
        else
            yaml_scalar(&b, self);
        buf_putc(&b, '\n');
    } else if (self->n == 0) {
        buf_puts(&b, self->kind == SH_DOC_MAP ? "{}\n" : "[]\n");
    } else {
        yaml_block(&b, self, 0, 0);
    }
    return buf_finish(&b);
}
