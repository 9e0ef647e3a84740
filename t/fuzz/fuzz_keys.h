/* fuzz_keys.h: a key pair made once, at a harness's initialization, for the
 * harnesses that sign or verify (fuzz_jwt, fuzz_pkey).  A failure aborts:
 * without the key the harness would test nothing. */
#ifndef DPC_FUZZ_KEYS_H
#define DPC_FUZZ_KEYS_H

#include "fuzz.h"
#include "dpc_pkey.h"

/* A new key of alg (bits for RSA), kept for the life of the process. */
static inline EVP_PKEY *fuzz_key(const char *harness, dpc_alg_e alg, int bits)
{
    static apr_pool_t *keep;
    EVP_PKEY *key;
    const char *err;

    if (!keep) {
        apr_initialize();
        apr_pool_create(&keep, NULL);
    }
    if (dpc_pkey_generate(keep, alg, bits, &key, &err)) {
        fprintf(stderr, "%s: key generation failed: %s\n", harness, err);
        abort();
    }
    return key;
}

#endif
