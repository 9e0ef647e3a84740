/* dpc_secret.c: see dpc_secret.h. */
#include "dpc_secret.h"

#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "dpc_b64.h"
#include "dpc_token.h"

#define SCHEME "pbkdf2-sha256"
#define SALT_BYTES 16
#define KEY_BYTES 32

apr_status_t dpc_secret_generate(apr_pool_t *p, const char **secret)
{
    unsigned char b[DPC_SECRET_BYTES];
    apr_status_t rv;

    if ((rv = dpc_random_bytes(b, sizeof(b))) != APR_SUCCESS)
        return rv;
    *secret = dpc_hex_encode(p, b, sizeof(b));
    OPENSSL_cleanse(b, sizeof(b));
    return APR_SUCCESS;
}

static int derive(const char *secret, const unsigned char *salt, int iterations,
                  unsigned char *key)
{
    if (!PKCS5_PBKDF2_HMAC(secret, (int)strlen(secret), salt, SALT_BYTES, iterations,
                           EVP_sha256(), KEY_BYTES, key)) {
        ERR_clear_error();
        return 0;
    }
    return 1;
}

const char *dpc_secret_hash(apr_pool_t *p, const char *secret, int iterations)
{
    unsigned char salt[SALT_BYTES], key[KEY_BYTES];

    if (!secret || iterations < 1 || iterations > DPC_SECRET_ITERATIONS_MAX
        || dpc_random_bytes(salt, sizeof(salt)) != APR_SUCCESS
        || !derive(secret, salt, iterations, key))
        return NULL;
    return apr_psprintf(p, SCHEME "$%d$%s$%s", iterations,
                        dpc_hex_encode(p, salt, sizeof(salt)),
                        dpc_hex_encode(p, key, sizeof(key)));
}

/* n bytes from 2n hex characters ending exactly at a '$' or NUL; 0 if not. */
static int unhex(const char *s, unsigned char *out, size_t n, char end)
{
    size_t i;

    for (i = 0; i < n; i++) {
        int hi = dpc_hexval(s[2 * i]), lo = hi < 0 ? -1 : dpc_hexval(s[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return 0;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return s[2 * n] == end;
}

int dpc_secret_matches(apr_pool_t *p, const char *secret, const char *stored)
{
    unsigned char salt[SALT_BYTES], want[KEY_BYTES], got[KEY_BYTES];
    const char *s;
    char *end;
    long iter;

    (void)p;
    if (!secret || !stored || strncmp(stored, SCHEME "$", sizeof(SCHEME)))
        return 0;
    s = stored + sizeof(SCHEME);
    iter = strtol(s, &end, 10);
    if (end == s || *end != '$' || iter < 1 || iter > DPC_SECRET_ITERATIONS_MAX)
        return 0;
    s = end + 1;
    if (!unhex(s, salt, SALT_BYTES, '$') || !unhex(s + 2 * SALT_BYTES + 1, want, KEY_BYTES, '\0'))
        return 0;
    if (!derive(secret, salt, (int)iter, got))
        return 0;
    return CRYPTO_memcmp(got, want, KEY_BYTES) == 0;
}
