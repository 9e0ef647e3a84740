/* dpc_auth.h: the httpd-free rules of the token endpoint and of API
 * credentials: form bodies, scopes, labels, and the revocation list each
 * httpd child keeps. */
#ifndef DPC_AUTH_H
#define DPC_AUTH_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_thread_mutex.h>
#include <apr_time.h>

#define DPC_ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define DPC_SCOPE_ALL "system/*.*"

/* Parse an application/x-www-form-urlencoded body into a table.  A name
 * given twice is an error (RFC 6749 3.2: parameters MUST NOT be included
 * more than once), as is bad %-encoding, a NUL, or a pair with no name
 * ("=x", "=").  A bare name ("grant_type") has the empty value; empty pairs
 * ("&&", a trailing '&') are skipped.  0, or -1 with *err. */
int dpc_form_parse(apr_pool_t *p, const char *body, apr_size_t len,
                   apr_table_t **out, const char **err);

/* A copy of the query or form string s with the value of every `name=`
 * pair overwritten by as many 'x' (the string keeps its length, so the
 * caller can patch a copy of it inside a longer string, such as a request
 * line).  NULL for NULL. */
const char *dpc_form_redact(apr_pool_t *p, const char *s, const char *name);

/* Check a requested scope (space-separated).  Accepted: DPC's system-wide
 * scope DPC_SCOPE_ALL, and read scopes ("system/T.read", or the SMART v2
 * read permissions: "system/T.rs", ".r", ".s") where T is any type ("*"),
 * Patient, Coverage, ExplanationOfBenefit or Group.  Anything that asks for writing on its own (".write", ".c", ".u",
 * ".d", ...), other resource types, or other contexts (user/, patient/) is
 * refused.  On success *granted is the normalized scope (duplicates
 * dropped, order kept). */
int dpc_scope_check(apr_pool_t *p, const char *scope, const char **granted,
                    const char **err);

/* May a token with this granted scope write (create keys, tokens, rosters)? */
int dpc_scope_can_write(const char *granted);

/* Labels: 1 to max characters of well-formed UTF-8 text, without control
 * characters, and not only spaces. */
int dpc_label_valid(const char *label, apr_size_t max);

/* The revocation list of one httpd child: ids of credentials (client
 * tokens, keys) revoked recently enough that an access token issued with
 * them could still be alive.  Each refresh replaces the whole list with what
 * the database holds for that window: tracking a high-water sequence number
 * would miss a revocation whose transaction commits after a later one's.
 * Thread-safe. */
typedef struct dpc_revocations dpc_revocations;

dpc_revocations *dpc_revocations_create(apr_pool_t *p);
/* Is a refresh due (more than interval since the last one)? */
int dpc_revocations_stale(dpc_revocations *rv, apr_time_t now,
                          apr_interval_time_t interval);
/* Replace the list with ids (const char *), as of now. */
void dpc_revocations_set(dpc_revocations *rv, apr_time_t now,
                         const apr_array_header_t *ids);
int dpc_revocations_has(dpc_revocations *rv, const char *id);

/* Public keys already parsed, by key id, for one httpd child.  Parsing a
 * PEM with OpenSSL 3's decoders costs about 240 us, four times the RSA-4096
 * signature check itself, so the token endpoint parses each key once.  An
 * entry is used only while the stored PEM is byte for byte the same.
 * Thread-safe; keys handed out carry their own reference. */
typedef struct dpc_keycache dpc_keycache;

dpc_keycache *dpc_keycache_create(apr_pool_t *p, int max_entries);
/* The parsed key for id if cached with this exact PEM: a new reference
 * (EVP_PKEY_free it), or NULL. */
struct evp_pkey_st *dpc_keycache_get(dpc_keycache *kc, const char *id, const char *pem);
/* Remember pkey (the cache takes its own reference). */
void dpc_keycache_put(dpc_keycache *kc, const char *id, const char *pem,
                      struct evp_pkey_st *pkey);

#endif
