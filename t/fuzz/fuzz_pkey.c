/* fuzz_pkey: public keys organizations upload, and the proof of possession.
 *
 * Every input goes through each reader:
 *   dpc_pkey_from_pem          PEM public keys (SPKI, PKCS#1); a parsed key's
 *   dpc_pkey_check             canonical PEM parses to the same fingerprint;
 *                              the policy check
 *   dpc_pkey_parse             both, as the key upload handler calls them
 *   dpc_pkey_from_jwk_text     JWK JSON (RSA n/e, EC crv/x/y)
 *   dpc_pkey_private_from_pem  private key files (the client's --key)
 *   dpc_pkey_verify_pop        the input as the base64 signature of the
 *                              snippet, against an EC P-384 key
 *   dpc_b64_decode/encode      standard base64: decode, encode, decode gives
 *                              the same bytes
 */
#include "fuzz.h"

#include "dpc_b64.h"
#include "dpc_pkey.h"
#include "fuzz_keys.h"

static EVP_PKEY *ec_key;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ec_key = fuzz_key("fuzz_pkey", DPC_ALG_ES384, 0);
    return 0;
}

static void same_key(apr_pool_t *p, const dpc_pkey_t *key)
{
    dpc_pkey_t *again;
    const char *err;

    FUZZ_CHECK(key->pkey && key->fingerprint && strlen(key->fingerprint) == 64);
    FUZZ_CHECK(dpc_pkey_from_pem(p, key->pem, strlen(key->pem), &again, &err) == DPC_PKEY_OK);
    FUZZ_CHECK(!strcmp(again->fingerprint, key->fingerprint));
    FUZZ_CHECK(!strcmp(again->pem, key->pem));
    FUZZ_CHECK(again->alg == key->alg && again->bits == key->bits);
}

static void b64_round_trip(apr_pool_t *p, const char *s, size_t size)
{
    unsigned char *bytes, *again;
    apr_size_t len, len2;
    const char *enc;

    if (dpc_b64_decode(p, s, size, &bytes, &len) != APR_SUCCESS)
        return;
    FUZZ_CHECK(bytes[len] == '\0');
    enc = dpc_b64_encode(p, bytes, len);
    FUZZ_CHECK(dpc_b64_decode(p, enc, strlen(enc), &again, &len2) == APR_SUCCESS);
    FUZZ_CHECK(len2 == len && !memcmp(again, bytes, len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *s = fuzz_text(p, data, size), *err = NULL;
    dpc_pkey_t *key = NULL;
    EVP_PKEY *priv = NULL;

    if (dpc_pkey_from_pem(p, s, size, &key, &err) == DPC_PKEY_OK) {
        same_key(p, key);
        (void)dpc_pkey_check(p, key, 0, &err);
        (void)dpc_pkey_check(p, key, 1024, &err);
    }
    else
        FUZZ_CHECK(err != NULL);
    if (dpc_pkey_parse(p, s, size, 2048, &key, &err) == DPC_PKEY_OK)
        same_key(p, key);
    if (dpc_pkey_from_jwk_text(p, s, &key, &err) == DPC_PKEY_OK) {
        same_key(p, key);
        (void)dpc_pkey_check(p, key, 0, &err);
    }
    if (dpc_pkey_private_from_pem(p, s, size, &priv, &err) == DPC_PKEY_OK)
        FUZZ_CHECK(priv != NULL);
    FUZZ_CHECK(dpc_pkey_verify_pop(p, ec_key, s, &err) != DPC_PKEY_OK);
    b64_round_trip(p, s, size);
    fuzz_end(p);
    return 0;
}
