/* dpc_pkey.h: client public keys, their policy, and proof of possession.
 *
 * An organization registers PEM public keys (POST /Key, DPC v1; the sandbox
 * portal, DPC v2) and signs its JWT client assertions with the matching
 * private key.  This file turns a PEM or JWK into an EVP_PKEY, decides which
 * JWS algorithm the key may verify, enforces the registration policy (RSA of
 * at least N bits, or EC on P-384), computes a stable fingerprint so the
 * same key cannot be registered twice in two spellings, and checks the
 * proof-of-possession signature DPC asks for at upload.
 *
 * It also holds the client half (key generation, PEM output, signing the
 * snippet) for the reference client and the admin tool.
 *
 * Memory: every EVP_PKEY handed out here is owned by the pool it was made
 * in (freed by a pool cleanup); callers never call EVP_PKEY_free on them.
 * Errors: a dpc_pkey_err_e plus a human message from the pool, suitable
 * for an OperationOutcome diagnostics string.  No function leaves entries
 * on the OpenSSL error queue (which mod_ssl shares per thread).
 */
#ifndef DPC_PKEY_H
#define DPC_PKEY_H

#include <apr_pools.h>
#include <jansson.h>
#include <openssl/evp.h>

/* The fixed text DPC's proof of possession signs, byte for byte and with
 * no trailing newline (the portal's "download snippet" file serves exactly
 * these 53 bytes; dpc-app's KeyResource.SNIPPET holds the same string).
 * The DPC v2 guide only says "Public Key Signature" and does not show it. */
#define DPC_PKEY_SNIPPET "This is the snippet used to verify a key pair in DPC."

/* DPC's rule: RSA keys of at least 4096 bits. Configurable by the caller. */
#define DPC_PKEY_RSA_MIN_BITS_DEFAULT 4096
/* Largest RSA key accepted (OpenSSL's own verification limit). */
#define DPC_PKEY_RSA_MAX_BITS 16384

/* PEM input larger than this is refused before parsing (a 16384-bit RSA
 * SubjectPublicKeyInfo is about 2.8 KB of PEM). */
#define DPC_PKEY_MAX_PEM 16384

/* The JWS algorithms this project accepts (the allow-list). */
typedef enum {
    DPC_ALG_UNKNOWN = 0,        /* none of ours: refused */
    DPC_ALG_RS384,              /* RSASSA-PKCS1-v1_5 with SHA-384 */
    DPC_ALG_ES384               /* ECDSA on P-384 with SHA-384 */
} dpc_alg_e;

typedef enum {
    DPC_PKEY_OK = 0,
    DPC_PKEY_NOT_PEM,           /* not a (single) PEM public key */
    DPC_PKEY_UNSUPPORTED,       /* a key type other than RSA or EC */
    DPC_PKEY_TOO_SMALL,         /* RSA below the configured minimum */
    DPC_PKEY_TOO_LARGE,         /* RSA above DPC_PKEY_RSA_MAX_BITS */
    DPC_PKEY_BAD_CURVE,         /* EC on a curve other than P-384 */
    DPC_PKEY_INVALID,           /* parsed but mathematically invalid */
    DPC_PKEY_BAD_JWK,           /* JWK missing or malformed members */
    DPC_PKEY_BAD_SIGNATURE,     /* signature not base64 or does not verify */
    DPC_PKEY_INTERNAL           /* OpenSSL or RNG failure */
} dpc_pkey_err_e;

typedef struct dpc_pkey_t {
    EVP_PKEY *pkey;             /* owned by the pool */
    dpc_alg_e alg;              /* RS384 for RSA, ES384 for EC P-384, else
                                 * DPC_ALG_UNKNOWN (e.g. EC P-256) */
    const char *kty;            /* "RSA" or "EC" */
    const char *curve;          /* EC group short name ("secp384r1"), or NULL */
    int bits;                   /* RSA modulus / EC field size in bits */
    const char *fingerprint;    /* hex SHA-256 of the DER SPKI (64 chars) */
    const char *pem;            /* canonical "BEGIN PUBLIC KEY" PEM */
} dpc_pkey_t;

/* JWS name of an algorithm ("RS384"), or NULL for DPC_ALG_UNKNOWN. */
const char *dpc_alg_name(dpc_alg_e alg);

/* Allow-list lookup: DPC_ALG_RS384/ES384 for exactly "RS384"/"ES384"
 * (case-sensitive, as RFC 7515 requires), DPC_ALG_UNKNOWN for anything else. */
dpc_alg_e dpc_alg_from_name(const char *name);

/* Parse one PEM public key, "BEGIN PUBLIC KEY" (SubjectPublicKeyInfo) or
 * "BEGIN RSA PUBLIC KEY" (PKCS#1), surrounded by optional whitespace.  Only
 * RSA and EC keys are accepted; no size/curve policy (see dpc_pkey_check).
 * Private keys, certificates and several PEM blocks are refused with a
 * message saying so. */
dpc_pkey_err_e dpc_pkey_from_pem(apr_pool_t *p, const char *pem,
                                 apr_size_t len, dpc_pkey_t **key,
                                 const char **errmsg);

/* Build a public key from a JWK object: kty "RSA" with n and e, or kty "EC"
 * with crv "P-256"/"P-384"/"P-521", x and y (base64url, strict).  Private
 * members (d, p, q, ...) are ignored; only the public part is used.  If
 * the JWK has "alg", it must agree with the key type. */
dpc_pkey_err_e dpc_pkey_from_jwk(apr_pool_t *p, const json_t *jwk,
                                 dpc_pkey_t **key, const char **errmsg);

/* Same, from JWK JSON text. */
dpc_pkey_err_e dpc_pkey_from_jwk_text(apr_pool_t *p, const char *json,
                                      dpc_pkey_t **key, const char **errmsg);

/* Registration policy: RSA with at least rsa_min_bits bits (<= 0 means the
 * default 4096) and at most 16384, or EC on P-384; and the key passes OpenSSL's public key
 * validation.  Messages name the problem, e.g. "RSA key of 2048 bits is
 * below the minimum of 4096 bits", "EC curve prime256v1 is not P-384". */
dpc_pkey_err_e dpc_pkey_check(apr_pool_t *p, const dpc_pkey_t *key,
                              int rsa_min_bits, const char **errmsg);

/* from_pem followed by check: what the key upload handler wants. */
dpc_pkey_err_e dpc_pkey_parse(apr_pool_t *p, const char *pem, apr_size_t len,
                              int rsa_min_bits, dpc_pkey_t **key,
                              const char **errmsg);

/* Verify a standard-base64 signature (whitespace and line breaks allowed)
 * over data with SHA-256: RSASSA-PKCS1-v1_5 for RSA keys, DER ECDSA for EC
 * keys.  This is what `openssl dgst -sha256 -sign private.pem file | base64`
 * produces for either key type. */
dpc_pkey_err_e dpc_pkey_verify_sha256(apr_pool_t *p, EVP_PKEY *pkey,
                                      const void *data, apr_size_t len,
                                      const char *sig_b64,
                                      const char **errmsg);

/* Proof of possession: dpc_pkey_verify_sha256 over DPC_PKEY_SNIPPET. */
dpc_pkey_err_e dpc_pkey_verify_pop(apr_pool_t *p, EVP_PKEY *pkey,
                                   const char *sig_b64, const char **errmsg);

/* --- client side --- */

/* Generate a key pair for alg: RSA of rsa_bits (<= 0: 4096) for RS384, or
 * EC P-384 for ES384.  RSA-4096 generation takes about a second. */
dpc_pkey_err_e dpc_pkey_generate(apr_pool_t *p, dpc_alg_e alg, int rsa_bits,
                                 EVP_PKEY **pkey, const char **errmsg);

/* Load an unencrypted private key PEM (PKCS#8 "BEGIN PRIVATE KEY", or the
 * traditional "BEGIN RSA/EC PRIVATE KEY").  Never prompts for a passphrase:
 * an encrypted key is an error. */
dpc_pkey_err_e dpc_pkey_private_from_pem(apr_pool_t *p, const char *pem,
                                         apr_size_t len, EVP_PKEY **pkey,
                                         const char **errmsg);

/* PEM text of a key pair: unencrypted PKCS#8 private key, SPKI public key. */
dpc_pkey_err_e dpc_pkey_private_pem(apr_pool_t *p, EVP_PKEY *pkey,
                                    const char **pem, const char **errmsg);
dpc_pkey_err_e dpc_pkey_public_pem(apr_pool_t *p, EVP_PKEY *pkey,
                                   const char **pem, const char **errmsg);

/* Sign data with the given digest: RSASSA-PKCS1-v1_5 for RSA keys, DER
 * ECDSA for EC keys; the raw signature bytes from p. */
dpc_pkey_err_e dpc_pkey_sign(apr_pool_t *p, EVP_PKEY *pkey, const EVP_MD *digest,
                             const void *data, apr_size_t len, unsigned char **sig,
                             apr_size_t *siglen, const char **errmsg);

/* Sign data with SHA-256 (PKCS#1 v1.5 / DER ECDSA), standard base64 out. */
dpc_pkey_err_e dpc_pkey_sign_sha256(apr_pool_t *p, EVP_PKEY *pkey,
                                    const void *data, apr_size_t len,
                                    const char **sig_b64, const char **errmsg);

/* The proof-of-possession signature for a key upload. */
dpc_pkey_err_e dpc_pkey_sign_pop(apr_pool_t *p, EVP_PKEY *pkey,
                                 const char **sig_b64, const char **errmsg);

/* --- shared helpers --- */

/* Describe and drain the calling thread's OpenSSL error queue:
 * "what: <first error>", or just what if the queue was empty.  Uses
 * ERR_error_string_n into a local buffer (never the static one). */
const char *dpc_ossl_errmsg(apr_pool_t *p, const char *what);

/* Hand an EVP_PKEY to a pool: EVP_PKEY_free runs when p is cleared. */
EVP_PKEY *dpc_pkey_pool_own(apr_pool_t *p, EVP_PKEY *pkey);

/* Which alg may this key verify: RS384 (any RSA), ES384 (EC P-384), or
 * DPC_ALG_UNKNOWN. Also the group name of an EC key if group is not NULL. */
dpc_alg_e dpc_pkey_alg_of(EVP_PKEY *pkey, const char **group, apr_pool_t *p);

#endif
