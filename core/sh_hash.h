/* sh_hash.h - SHA-256 (libsodium) for content ids and file checksums. */
#ifndef SH_HASH_H
#define SH_HASH_H

#include <stddef.h>

#define SH_SHA256_HEX 64

/* Lowercase hex SHA-256 of data[0..len) into hex (65 bytes). */
void sh_sha256_hex(char hex[SH_SHA256_HEX + 1], const void *data, size_t len);

/* Incremental form. */
typedef struct {
    unsigned char state[128]; /* crypto_hash_sha256_state, opaque here */
} sh_sha256_t;
void sh_sha256_init(sh_sha256_t *h);
void sh_sha256_update(sh_sha256_t *h, const void *data, size_t len);
void sh_sha256_final_hex(sh_sha256_t *h, char hex[SH_SHA256_HEX + 1]);

#endif
