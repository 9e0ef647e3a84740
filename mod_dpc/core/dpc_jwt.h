/* dpc_jwt.h: JWT client assertions (SMART Backend Services, RFC 7523).
 *
 * Server side, in the order /Token/auth needs it:
 *
 *   dpc_jwt_parse()            structure only: 3 parts, strict base64url,
 *                              header and claims JSON objects, size limit.
 *                              Exposes kid and iss so the caller can find
 *                              the client token and its organization's key.
 *   dpc_jwt_verify()           header rules + signature + claim rules, i.e.
 *                              everything but the database: the caller still
 *                              checks that iss is a live client token, kid a
 *                              key of that token's organization, and jti
 *                              unused (replay window: exp + skew).
 *
 * and the pieces dpc_jwt_verify() is made of, for other uses:
 *
 *   dpc_jwt_verify_signature() alg allow-list (RS384, ES384), alg fits the
 *                              key, signature valid.
 *   dpc_jwt_check()            the first header or claim problem as one
 *                              error (no signature check).
 *   dpc_jwt_problems()         every header and claim problem, for
 *                              /Token/validate, which "returns an error
 *                              message with details as to which claims or
 *                              values on the JWT are missing or incorrect"
 *                              without checking the signature.
 *
 * Client side (reference client, tests): dpc_jwt_sign(), and
 * dpc_jwt_client_assertion() which builds DPC's claims and signs them.
 *
 * Errors: a dpc_jwt_err_e plus a human message from the pool.  The mapping
 * to OAuth errors is the caller's, typically MALFORMED -> invalid_request
 * and everything else -> invalid_client (SMART: authentication failures
 * SHALL be invalid_client).
 */
#ifndef DPC_JWT_H
#define DPC_JWT_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "dpc_pkey.h"

/* Compact JWS longer than this is refused before any decoding. */
#define DPC_JWT_MAX_LEN 16384
/* Longest iss/sub/jti/kid accepted (they end up in database columns). */
#define DPC_JWT_MAX_ID_LEN 256
/* SMART: exp "SHALL be no more than five minutes in the future". */
#define DPC_JWT_MAX_LIFETIME 300
/* Clock skew allowed on exp/nbf/iat comparisons. */
#define DPC_JWT_SKEW 60

typedef enum {
    DPC_JWT_OK = 0,
    DPC_JWT_MALFORMED,          /* not a compact JWS with JSON objects */
    DPC_JWT_BAD_HEADER,         /* kid/typ wrong, jku/x5u/jwk/x5c/crit set */
    DPC_JWT_BAD_ALG,            /* not on the allow-list or wrong for key */
    DPC_JWT_BAD_SIGNATURE,      /* signature does not verify */
    DPC_JWT_BAD_CLAIMS,         /* a claim is missing or wrong */
    DPC_JWT_INTERNAL            /* OpenSSL/jansson failure */
} dpc_jwt_err_e;

typedef struct dpc_jwt_t {
    const char *raw;            /* the compact JWS as given */
    apr_size_t signing_input_len; /* raw[0..len) is "header.payload" */
    json_t *header;             /* owned by the pool (json_decref cleanup) */
    json_t *claims;             /* idem */
    unsigned char *sig;         /* decoded signature */
    apr_size_t sig_len;

    /* Header members; NULL when absent or not a string. */
    const char *alg;
    const char *kid;
    const char *typ;
    /* Header members we refuse when present (any JSON type). */
    int has_jku, has_x5u, has_jwk, has_x5c, has_crit;

    /* Claims; strings NULL when absent or not a string, has_* false when
     * absent or not an integer. dpc_jwt_problems() tells the cases apart. */
    const char *iss;
    const char *sub;
    const char *jti;
    apr_array_header_t *aud;    /* const char *; string aud gives one entry */
    int aud_is_array;
    int has_exp, has_nbf, has_iat;
    apr_int64_t exp, nbf, iat;
} dpc_jwt_t;

/* What the claims must satisfy. */
typedef struct {
    const char *aud;            /* this server's token URL (required) */
    apr_int64_t now;            /* seconds since the epoch */
    int max_lifetime;           /* exp <= now + max_lifetime + skew; <= 0
                                 * means DPC_JWT_MAX_LIFETIME */
    int skew;                   /* < 0 means DPC_JWT_SKEW; 0 allowed */
    int require_typ;            /* typ must be present (and "JWT") */
} dpc_jwt_policy_t;

/* Fill in a policy with the defaults above, the given aud and now. */
void dpc_jwt_policy_init(dpc_jwt_policy_t *pol, const char *aud,
                         apr_int64_t now);

/* One problem found by dpc_jwt_problems(). */
typedef struct {
    const char *where;          /* "header.alg", "claims.exp", ... */
    dpc_jwt_err_e code;         /* DPC_JWT_BAD_HEADER/BAD_ALG/BAD_CLAIMS */
    const char *message;        /* human text, names the member */
} dpc_jwt_problem_t;

/* Parse a compact JWS.  DPC_JWT_MALFORMED with a precise message for: too
 * long, not three non-empty parts, invalid base64url, invalid JSON or
 * duplicate member names, header or claims not a JSON object. */
dpc_jwt_err_e dpc_jwt_parse(apr_pool_t *p, const char *token, dpc_jwt_t **jwt,
                            const char **errmsg);

/* Check alg against the allow-list and the key (RS384 needs an RSA key,
 * ES384 an EC P-384 key), then the signature.  ES384 signatures must be the
 * 96-byte JOSE r||s form; RS384 ones exactly the modulus size. */
dpc_jwt_err_e dpc_jwt_verify_signature(apr_pool_t *p, const dpc_jwt_t *jwt,
                                       EVP_PKEY *pkey, const char **errmsg);

/* Append every header and claim problem to problems (an array of
 * dpc_jwt_problem_t, created by the caller with apr_array_make) and return
 * how many were added.  Checks, in this order:
 *   header: alg present and on the allow-list; kid a non-empty string; typ
 *           "JWT" (case-insensitive; "application/jwt" too) when present,
 *           and present if pol->require_typ; no jku, x5u, jwk, x5c, crit.
 *   claims: iss, sub, jti non-empty strings (<= 256 chars); sub == iss;
 *           aud a string equal to pol->aud, or an array of strings holding
 *           it; exp an integer, exp + skew > now (not expired) and
 *           exp <= now + max_lifetime + skew; nbf, iat optional integers not
 *           after now + skew and not after exp. */
int dpc_jwt_problems(apr_pool_t *p, const dpc_jwt_t *jwt,
                     const dpc_jwt_policy_t *pol,
                     apr_array_header_t *problems);

/* The first problem dpc_jwt_problems() would report, as an error code and
 * message ("claims.exp: ..."), or DPC_JWT_OK. */
dpc_jwt_err_e dpc_jwt_check(apr_pool_t *p, const dpc_jwt_t *jwt,
                            const dpc_jwt_policy_t *pol, const char **errmsg);

/* Everything but the database: dpc_jwt_check header part, then the
 * signature, then claims. A forged token is reported as a bad signature
 * even if its claims are also wrong, so claim errors never help an attacker
 * without the key. */
dpc_jwt_err_e dpc_jwt_verify(apr_pool_t *p, const dpc_jwt_t *jwt,
                             EVP_PKEY *pkey, const dpc_jwt_policy_t *pol,
                             const char **errmsg);

/* --- client side --- */

/* Sign claims with pkey. The header is {"alg", "kid", "typ":"JWT"} plus
 * the members of extra_header if not NULL (tests use it to add jku etc.);
 * alg comes from the key (RSA -> RS384, EC P-384 -> ES384) and overrides
 * any alg in extra_header.  kid may be NULL (omitted). */
dpc_jwt_err_e dpc_jwt_sign(apr_pool_t *p, EVP_PKEY *pkey, const char *kid,
                           json_t *extra_header, json_t *claims,
                           const char **token, const char **errmsg);

/* DPC's client assertion: iss = sub = client_token, aud, iat = now,
 * exp = now + lifetime (<= 0: 300), jti = random UUID; signed as above. */
dpc_jwt_err_e dpc_jwt_client_assertion(apr_pool_t *p, EVP_PKEY *pkey,
                                       const char *kid,
                                       const char *client_token,
                                       const char *aud, apr_int64_t now,
                                       int lifetime, const char **token,
                                       const char **errmsg);

#endif
