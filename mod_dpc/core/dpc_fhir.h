/* dpc_fhir.h: small FHIR pieces shared by every route: OperationOutcome,
 * instants, and JSON held in pools. */
#ifndef DPC_FHIR_H
#define DPC_FHIR_H

#include <apr_pools.h>
#include <apr_time.h>
#include <jansson.h>

/* OperationOutcome issue codes we use (http://hl7.org/fhir/issue-type). */
#define DPC_ISSUE_INVALID      "invalid"
#define DPC_ISSUE_STRUCTURE    "structure"
#define DPC_ISSUE_REQUIRED     "required"
#define DPC_ISSUE_VALUE        "value"
#define DPC_ISSUE_SECURITY     "security"
#define DPC_ISSUE_LOGIN        "login"
#define DPC_ISSUE_EXPIRED      "expired"
#define DPC_ISSUE_FORBIDDEN    "forbidden"
#define DPC_ISSUE_NOT_FOUND    "not-found"
#define DPC_ISSUE_NOT_SUPPORTED "not-supported"
#define DPC_ISSUE_DUPLICATE    "duplicate"
#define DPC_ISSUE_TOO_COSTLY   "too-costly"
#define DPC_ISSUE_THROTTLED    "throttled"
#define DPC_ISSUE_CONFLICT     "conflict"
#define DPC_ISSUE_EXCEPTION    "exception"
#define DPC_ISSUE_TRANSIENT    "transient"
#define DPC_ISSUE_DELETED      "deleted"
#define DPC_ISSUE_INFORMATIONAL "informational"

/* A one-issue OperationOutcome (severity "error" unless code is
 * informational), as compact JSON from p. */
const char *dpc_oo_simple(apr_pool_t *p, const char *code, const char *diagnostics);

/* Build one with several issues: create, add, then dump. */
json_t *dpc_oo_new(void);
void dpc_oo_add(json_t *oo, const char *severity, const char *code,
                const char *diagnostics, const char *expression);

/* Dump any JSON value compactly into p (the json_t is not released). */
const char *dpc_json_pdump(apr_pool_t *p, const json_t *v);
/* Same, and release v. */
const char *dpc_json_pdump_decref(apr_pool_t *p, json_t *v);
/* Tie a json_t's lifetime to a pool: json_decref runs at pool cleanup. */
json_t *dpc_json_pool(apr_pool_t *p, json_t *v);

/* s as well-formed UTF-8: invalid bytes become U+FFFD, so text that came
 * from a client (a path, a parameter) can go into a JSON message.  s itself
 * when it is already valid. */
const char *dpc_utf8_clean(apr_pool_t *p, const char *s);
/* Is s well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF)? */
int dpc_utf8_valid(const char *s);
/* Length of the well-formed UTF-8 sequence at s, or 0. */
int dpc_utf8_seq(const unsigned char *s);

/* FHIR instant ("2024-01-02T03:04:05Z", "...05.123+02:00"): parse strictly
 * into microseconds since the epoch.  Returns 0 on success, else -1 with a
 * reason in *why (static text). */
int dpc_instant_parse(const char *s, apr_time_t *out, const char **why);
/* Format as UTC "YYYY-MM-DDThh:mm:ss.sssZ" (FHIR instant). */
const char *dpc_instant_format(apr_pool_t *p, apr_time_t t);

#endif
