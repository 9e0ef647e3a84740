/* dpc_portal.h: the httpd-free half of the Sandbox Portal: HTML escaping
 * and formatting, CSRF tokens, the checks on what people type, password
 * hashes, generated NPIs, invite tokens and the sign-in slowdown.
 *
 * Everything here is pure (or draws only on OpenSSL's random numbers) and
 * is unit-tested on its own; the pages and their SQL are in the glue
 * (mod_dpc_portal*.c).
 */
#ifndef DPC_PORTAL_H
#define DPC_PORTAL_H

#include <apr_pools.h>
#include <apr_errno.h>

#include "dpc_mbi.h"

/* ---- HTML ---- */

/* s with & < > " ' replaced by entities, safe in text and in quoted
 * attribute values.  NULL reads as "". */
const char *dpc_html_escape(apr_pool_t *p, const char *s);

/* printf for HTML, escaping by default: %s is text (escaped), %r is raw,
 * trusted HTML (another dpc_html_fmt result or a constant), %d an int,
 * %u an unsigned, %% a percent sign.  Nothing else is a directive. */
char *dpc_html_fmt(apr_pool_t *p, const char *fmt, ...);

/* ---- CSRF ---- */

/* The per-browser secret a portal cookie holds: 32 random bytes as
 * base64url (43 characters). */
#define DPC_CSRF_NONCE_LEN 43
apr_status_t dpc_csrf_nonce(apr_pool_t *p, const char **nonce);
/* Has s the exact shape of a nonce? */
int dpc_csrf_nonce_valid(const char *s);
/* The token a form carries: base64url(HMAC-SHA256(secret, "dpc-portal-csrf\0"
 * nonce)).  Only a page that has read the cookie, from a server holding the
 * secret, can make it.  NULL when the nonce is not well formed. */
const char *dpc_csrf_token(apr_pool_t *p, const unsigned char *secret,
                           apr_size_t secret_len, const char *nonce);
/* Does token match the nonce?  Constant time; 0 for any missing part. */
int dpc_csrf_check(apr_pool_t *p, const unsigned char *secret, apr_size_t secret_len,
                   const char *nonce, const char *token);

/* ---- what people type ---- */

/* An email as accounts are named: trimmed, lower-cased, 3 to 254
 * characters, one '@' with text on both sides, a dot in the domain, no
 * spaces or control characters, no quotes or angle brackets.  The email,
 * or NULL with *err saying what is wrong. */
const char *dpc_portal_email(apr_pool_t *p, const char *s, const char **err);

#define DPC_PORTAL_PASSWORD_MIN 12
#define DPC_PORTAL_PASSWORD_MAX 128
/* 12 to 128 bytes, no control characters.  1, or 0 with *err. */
int dpc_portal_password_ok(const char *pw, const char **err);

/* ---- secrets ---- */

/* bcrypt (the "$2y$" form apr_password_validate and httpd's authn
 * providers check) of pw with a random salt, at DPC_PORTAL_BCRYPT_COST. */
#define DPC_PORTAL_BCRYPT_COST 10
apr_status_t dpc_portal_password_hash(apr_pool_t *p, const char *pw, const char **hash);

/* A random 10-digit NPI with a valid check digit (sandbox organizations). */
apr_status_t dpc_portal_npi(char out[DPC_NPI_LEN + 1]);

/* An invite link's token: 32 random bytes as base64url.  Stored as
 * dpc_client_token_hash of it. */
apr_status_t dpc_portal_invite_token(apr_pool_t *p, const char **token);
/* Has s the exact shape of an invite token? */
int dpc_portal_invite_token_valid(const char *s);

/* ---- sign-in slowdown ---- */

/* Failures from one client address that cost nothing; from the next one
 * on, each failure doubles the wait before another attempt, up to
 * DPC_PORTAL_WAIT_MAX seconds. */
#define DPC_PORTAL_FREE_FAILURES 5
#define DPC_PORTAL_WAIT_MAX 900
/* Seconds still to wait before the next attempt, given the failures in the
 * window and the seconds since the last one; 0 when it may go ahead. */
int dpc_portal_login_wait(int failures, apr_int64_t since_last);

#endif
