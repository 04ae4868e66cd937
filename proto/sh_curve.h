/* sh_curve.h - CURVE keys for the broker, its workers and its clients.
 *
 * A key file holds one Z85-encoded 32-byte key (40 characters) on a line of
 * its own; blank lines and lines starting with '#' are ignored. `shears
 * keygen NAME` writes NAME.key (the secret key, mode 0600) and NAME.pub (the
 * public key). A secret key file is all a peer needs of its own pair: the
 * public key is derived from it.
 *
 * The broker's allow directory has two subdirectories, clients/ and
 * workers/, each holding the *.pub files of the peers allowed in that role.
 * It is read again on every handshake and every second by the broker, so
 * adding or removing a file takes effect without a restart (docs/SECURITY.md). */
#ifndef SH_CURVE_H
#define SH_CURVE_H

#include "sh_common.h"

#define SH_Z85_KEY 40   /* characters of a Z85-encoded CURVE key */
#define SH_ZAP_DOMAIN "shears"

typedef struct {
    char public_key[SH_Z85_KEY + 1];
    char secret_key[SH_Z85_KEY + 1];
    char server_key[SH_Z85_KEY + 1]; /* the broker's public key; empty on the broker */
} sh_curve_t;

enum { SH_ROLE_CLIENT = 1, SH_ROLE_WORKER = 2 };

/* One allowed key: its role bits and the file's name without ".pub". */
typedef struct {
    char key[SH_Z85_KEY + 1];
    char name[64];
    int roles;
} sh_allow_entry_t;

typedef struct {
    sh_allow_entry_t *v;
    int n;
} sh_allow_t;

/* Writes BASE.key (0600) and BASE.pub; refuses to overwrite either. */
sh_status_t sh_curve_keygen(const char *base, sh_err_t *err);

/* Reads one key from a key file; errors name the file. */
sh_status_t sh_curve_read_key(const char *path, char key[SH_Z85_KEY + 1], sh_err_t *err);

/* Loads our key pair from a secret key file and, when server_path is not
 * NULL, the broker's public key. */
sh_status_t sh_curve_load(sh_curve_t *c, const char *secret_path, const char *server_path,
                          sh_err_t *err);

/* Socket options for the connecting side (client, worker) and for the
 * broker's side (CURVE server, ZAP domain). Call before connect/bind.
 * Return 0 or -1 (errno set). */
int sh_curve_client_socket(void *sock, const sh_curve_t *c);
int sh_curve_server_socket(void *sock, const sh_curve_t *c);

/* Reads DIR/clients/ and DIR/workers/ (*.pub). A file that does not hold a
 * key is an error naming it; a missing subdirectory is an empty list. */
sh_status_t sh_allow_load(sh_allow_t *a, const char *dir, sh_err_t *err);
void sh_allow_free(sh_allow_t *a);
/* The entry for a Z85 key, or NULL. */
const sh_allow_entry_t *sh_allow_find(const sh_allow_t *a, const char *key);

#endif
