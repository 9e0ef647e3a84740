/* dpc_secret.h: client secrets (BCDA's client id + secret credentials).
 *
 * A secret is 40 random bytes as 80 lower-case hex characters, as BCDA
 * issues them.  It is shown once and stored only as a slow, salted hash:
 *
 *     "pbkdf2-sha256$" ITERATIONS "$" hex(16-byte salt) "$" hex(32-byte key)
 *
 * PBKDF2-HMAC-SHA256 (OpenSSL's PKCS5_PBKDF2_HMAC) with a salt of its own
 * per credential, so a leaked table costs an attacker ITERATIONS HMACs per
 * guess per credential.  The iteration count travels in the stored text, so
 * it can be raised for new secrets without breaking the old ones.  Checking
 * compares in constant time (CRYPTO_memcmp). */
#ifndef DPC_SECRET_H
#define DPC_SECRET_H

#include <apr_pools.h>
#include <apr_errno.h>

#define DPC_SECRET_BYTES 40
#define DPC_SECRET_LEN (2 * DPC_SECRET_BYTES)
/* About 40 ms of one core here: a token request is rare (tokens live 20
 * minutes), a guess must be expensive. */
#define DPC_SECRET_ITERATIONS 100000
/* Stored texts with more iterations than this are refused (a corrupted or
 * hostile row must not pin a CPU). */
#define DPC_SECRET_ITERATIONS_MAX 10000000

/* A new secret: 80 lower-case hex characters. */
apr_status_t dpc_secret_generate(apr_pool_t *p, const char **secret);

/* The storage form of secret, with a fresh salt; NULL if OpenSSL fails. */
const char *dpc_secret_hash(apr_pool_t *p, const char *secret, int iterations);

/* Does secret match the stored form?  0 for anything malformed (wrong
 * scheme, iteration count out of range, bad hex). */
int dpc_secret_matches(apr_pool_t *p, const char *secret, const char *stored);

#endif
