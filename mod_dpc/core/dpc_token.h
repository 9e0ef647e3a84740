/* dpc_token.h: client tokens, access tokens, and the random values behind
 * them.
 *
 * Client tokens are long-lived bearer secrets an organization puts in the
 * iss/sub of its JWT assertions.  The server keeps only their SHA-256, so
 * a database leak does not leak usable tokens; 256 random bits make a
 * plain (unsalted, fast) hash sufficient.
 *
 * Access tokens are what /Token/auth hands out, valid for minutes.  They are
 * opaque to clients but self-contained, so checking one on every API
 * request needs no database round trip:
 *
 *     "dpc2." base64url(payload JSON) "." base64url(HMAC-SHA256)
 *
 * The MAC covers everything before the last dot, version prefix included.
 * The payload is parsed only after the MAC checks out.  HMAC rather than a
 * signature because RSA-4096 signs only ~260/s per core; revocation (a
 * deleted client token or key) is the caller's job: it can look up the
 * client token id or key id carried in the token, and short lifetimes bound
 * the window.  Two secrets may be configured at once so the server secret
 * can be rotated without cutting off tokens already issued.
 *
 * Errors: a dpc_token_err_e plus a human message from the pool.
 */
#ifndef DPC_TOKEN_H
#define DPC_TOKEN_H

#include <apr_pools.h>
#include <apr_errno.h>

/* ---- random values and time ---- */

/* Fill buf with n bytes from OpenSSL's CSPRNG. */
apr_status_t dpc_random_bytes(unsigned char *buf, apr_size_t n);

/* A random (version 4, RFC 9562) UUID, lower-case 8-4-4-4-12 text. */
apr_status_t dpc_uuid_v4(apr_pool_t *p, const char **uuid);

/* Is s a UUID in canonical text form (any version, either case)? */
int dpc_uuid_is_valid(const char *s);

/* Current time in whole seconds since the epoch (JWT NumericDate). */
apr_int64_t dpc_now(void);

/* ---- client tokens ---- */

/* Prefix of every client token: lets people, log scrubbers and secret
 * scanners recognise one, and lets us reject junk without hashing it. */
#define DPC_CLIENT_TOKEN_PREFIX "dpcct_"
/* Random bytes per client token (256 bits), 43 base64url characters. */
#define DPC_CLIENT_TOKEN_BYTES 32
#define DPC_CLIENT_TOKEN_LEN (sizeof(DPC_CLIENT_TOKEN_PREFIX) - 1 + 43)

/* A new client token: "dpcct_" + base64url of 32 random bytes. */
apr_status_t dpc_client_token_generate(apr_pool_t *p, const char **token);

/* Does s have the exact shape of a client token (prefix, length, alphabet)?
 * Cheap syntax check before any lookup. */
int dpc_client_token_well_formed(const char *s);

/* Storage form: lower-case hex SHA-256 of the token text (64 chars). */
const char *dpc_client_token_hash(apr_pool_t *p, const char *token);

/* Does token hash to stored_hex?  Constant time (CRYPTO_memcmp); false for
 * a stored value that is not 64 hex characters. */
int dpc_client_token_matches(const char *token, const char *stored_hex);

/* ---- access tokens ---- */

#define DPC_ACCESS_TOKEN_PREFIX "dpc2."
/* Minimum server secret length in bytes (HMAC-SHA256 key strength). */
#define DPC_TOKEN_SECRET_MIN 32
/* Tokens longer than this are malformed without further work. */
#define DPC_ACCESS_TOKEN_MAX_LEN 2048
/* Default lifetime: SMART asks for short-lived tokens (<= 300 s). */
#define DPC_ACCESS_TOKEN_LIFETIME 300
/* Whose an access token without an audience is: tokens were DPC's alone
 * before audiences were added, and one issued then may still be live. */
#define DPC_TOKEN_AUDIENCE_UNMARKED "dpc"
/* BCDA's access tokens live 20 minutes, as the real server's. */
#define DPC_BCDA_ACCESS_TOKEN_LIFETIME 1200
/* AB2D's guide: "The bearer token will expire in 1 hour." */
#define DPC_AB2D_ACCESS_TOKEN_LIFETIME 3600

typedef enum {
    DPC_TOKEN_OK = 0,
    DPC_TOKEN_MALFORMED,        /* not a dpc2 token, bad base64url/JSON */
    DPC_TOKEN_BAD_MAC,          /* not made with any configured secret */
    DPC_TOKEN_EXPIRED,          /* now >= exp (+ skew) */
    DPC_TOKEN_NOT_YET_VALID,    /* iat in the future (beyond skew) */
    DPC_TOKEN_BAD_SECRET,       /* secret missing or shorter than 32 bytes */
    DPC_TOKEN_BAD_FIELDS,       /* issue(): missing or unsafe field */
    DPC_TOKEN_INTERNAL          /* OpenSSL or RNG failure */
} dpc_token_err_e;

/* The server secrets: current signs and verifies; previous (optional,
 * NULL/0 when unset) only verifies, during a rotation. */
typedef struct {
    const unsigned char *current;
    apr_size_t current_len;
    const unsigned char *previous;
    apr_size_t previous_len;
} dpc_token_secrets_t;

/* What an access token says.  All strings are printable ASCII without
 * '"' or '\\' (checked at issue), so they can go into logs and SQL
 * parameters as they are. */
typedef struct {
    const char *token_id;       /* random UUID; generated if NULL at issue */
    const char *org_id;         /* organization UUID */
    const char *client_token_id;/* id (not the secret) of the client token */
    const char *key_id;         /* id of the public key that signed the JWT */
    const char *scope;          /* granted scope, e.g. DPC's system-wide one */
    const char *audience;       /* the issuing dialect's token_audience
                                 * ("dpc", "bcda"); NULL in a token made
                                 * without one (before audiences existed:
                                 * DPC_TOKEN_AUDIENCE_UNMARKED's) */
    apr_int64_t iat;            /* issued at, seconds since the epoch */
    apr_int64_t exp;            /* expiry, seconds since the epoch */
} dpc_access_token_t;

/* Validate secrets: current at least DPC_TOKEN_SECRET_MIN bytes, and the
 * previous one too if set. For post_config / directive checks. */
dpc_token_err_e dpc_token_secrets_check(const dpc_token_secrets_t *secrets,
                                        const char **errmsg);

/* Issue a token for *fields with the current secret.  If token_id is NULL
 * a UUID is generated (and stored back in *fields); iat and exp must be set
 * by the caller (exp > iat). */
dpc_token_err_e dpc_access_token_issue(apr_pool_t *p,
                                       const dpc_token_secrets_t *secrets,
                                       dpc_access_token_t *fields,
                                       const char **token,
                                       const char **errmsg);

/* Check a token (without any "Bearer " prefix): shape, MAC under the
 * current then the previous secret (constant-time compare), then times:
 * expired when now >= exp + skew, not yet valid when iat > now + skew.
 * skew 0 is right for a single host; a few seconds for several hosts.
 * On DPC_TOKEN_EXPIRED/NOT_YET_VALID *out is still filled in, for logs. */
dpc_token_err_e dpc_access_token_verify(apr_pool_t *p,
                                        const dpc_token_secrets_t *secrets,
                                        const char *token, apr_int64_t now,
                                        int skew, dpc_access_token_t **out,
                                        const char **errmsg);

#endif
