/* sh_doc.h - a small document tree for sweep files: YAML (JSON accepted,
 * being a YAML subset) parsed with libyaml into maps, sequences and scalars
 * that remember their source line, so every error can name file, line and key.
 *
 * The tree is untrusted input: parsing enforces a depth limit, a node limit
 * and rejects YAML aliases (no billion-laughs expansion), duplicate map keys,
 * and non-scalar map keys. */
#ifndef SH_DOC_H
#define SH_DOC_H

#include "sh_common.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SH_DOC_SCALAR = 1,
    SH_DOC_SEQ,
    SH_DOC_MAP,
} sh_doc_kind_t;

typedef struct sh_doc sh_doc_t;
struct sh_doc {
    sh_doc_kind_t kind;
    int line;          /* 1-based source line, 0 for nodes made by sh_doc_set */
    int quoted;        /* scalar was quoted: always a string, never a number */
    char *text;        /* SH_DOC_SCALAR: the scalar's text, NUL-terminated */
    int n;             /* SH_DOC_SEQ/SH_DOC_MAP: number of items */
    char **keys;       /* SH_DOC_MAP: keys[i] names items[i] */
    sh_doc_t **items;  /* SH_DOC_SEQ/SH_DOC_MAP: children */
};

#define SH_DOC_MAX_DEPTH 32
#define SH_DOC_MAX_NODES 100000
#define SH_DOC_MAX_BYTES (1u << 20) /* sweep files are small */

/* Parses one YAML/JSON document from text[0..len). `name` (a file name, or
 * e.g. "--set") prefixes error messages: "sweep.yaml:12: ...". An empty
 * document yields an empty map. Returns SH_EFORMAT with a message on any
 * syntax error or limit violation; *out is NULL then. */
sh_status_t sh_doc_parse(sh_doc_t **out, const char *text, size_t len,
                         const char *name, sh_err_t *err);

/* Reads and parses a file of at most SH_DOC_MAX_BYTES. */
sh_status_t sh_doc_load_file(sh_doc_t **out, const char *path, sh_err_t *err);

void sh_doc_free(sh_doc_t **self_p);

/* Deep copy; NULL on allocation failure. */
sh_doc_t *sh_doc_clone(const sh_doc_t *self);

/* Map lookup of one key; NULL if self is not a map or has no such key. */
sh_doc_t *sh_doc_child(const sh_doc_t *self, const char *key);

/* Lookup by dotted path, e.g. "train.schedule.gamma"; a path component that
 * is a decimal number indexes a sequence ("retrain.0.technique"). */
sh_doc_t *sh_doc_path(const sh_doc_t *root, const char *path);

/* Applies an override "key.path=value" as given to `--set`. The value is
 * parsed as YAML (so "2", "0.1", "[10, 15]", "{a: 1}" and "lr-rewind" all
 * work). Missing intermediate maps are created; a component that indexes a
 * sequence must exist. Returns SH_EARG naming the path on failure. */
sh_status_t sh_doc_set(sh_doc_t *root, const char *assignment, sh_err_t *err);

/* Scalar conversions. Each returns SH_EARG if the node is missing, not a
 * scalar, or not of that type (a quoted scalar is never a number or bool);
 * the message is "<name>:<line>: '<key>' expects <what>, got '<text>'" where
 * name is the document name the tree was parsed with and key is the caller's
 * dotted path for the node. */
sh_status_t sh_doc_int(const sh_doc_t *node, const char *name, const char *key,
                       int64_t *out, sh_err_t *err);
sh_status_t sh_doc_double(const sh_doc_t *node, const char *name, const char *key,
                          double *out, sh_err_t *err);
sh_status_t sh_doc_bool(const sh_doc_t *node, const char *name, const char *key,
                        int *out, sh_err_t *err);
sh_status_t sh_doc_string(const sh_doc_t *node, const char *name, const char *key,
                          const char **out, sh_err_t *err);

/* Serializes the tree. JSON: compact, map keys sorted bytewise when `sorted`
 * (the canonical form hashed into job ids), scalars that are numbers, bools
 * (true/false) or null (null, ~, empty) emitted bare, every other scalar as a
 * JSON string with proper escaping. YAML: block style, keys in document order.
 * Returns a malloc'd NUL-terminated string, or NULL on allocation failure. */
char *sh_doc_to_json(const sh_doc_t *self, int sorted);
char *sh_doc_to_yaml(const sh_doc_t *self);

#endif
