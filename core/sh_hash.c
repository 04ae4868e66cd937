/* sh_hash.c - SHA-256 through libsodium. */
#include "sh_hash.h"

#include <sodium.h>
#include <string.h>

_Static_assert(sizeof(crypto_hash_sha256_state) <= sizeof(((sh_sha256_t *)0)->state),
               "sh_sha256_t too small");

static void to_hex(char hex[SH_SHA256_HEX + 1], const unsigned char h[32])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[h[i] >> 4];
        hex[2 * i + 1] = digits[h[i] & 15];
    }
    hex[SH_SHA256_HEX] = '\0';
}

void sh_sha256_hex(char hex[SH_SHA256_HEX + 1], const void *data, size_t len)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    to_hex(hex, h);
}

void sh_sha256_init(sh_sha256_t *h)
{
    crypto_hash_sha256_init((crypto_hash_sha256_state *)(void *)h->state);
}

void sh_sha256_update(sh_sha256_t *h, const void *data, size_t len)
{
    crypto_hash_sha256_update((crypto_hash_sha256_state *)(void *)h->state, data,
                              (unsigned long long)len);
}

void sh_sha256_final_hex(sh_sha256_t *h, char hex[SH_SHA256_HEX + 1])
{
    unsigned char out[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final((crypto_hash_sha256_state *)(void *)h->state, out);
    to_hex(hex, out);
}
