/* dpc_res.h: the Practitioner and Patient resources organizations register,
 * one at a time or in a $submit Bundle: validation, extraction of the
 * columns the database keys on, and the stored form.
 *
 * Both FHIR versions (STU3 for DPC v1, R4 for DPC v2) are handled by the
 * same rules: the elements DPC requires (identifier, name, birthDate,
 * gender) have the same shape in both.
 *
 * Every check reports into an OperationOutcome the caller owns (dpc_oo_new),
 * one issue per problem, each naming the element in its `expression` the
 * way FHIRPath does ("Patient.name[0].family",
 * "Bundle.entry[3].resource.birthDate").  A check returns 0 when it added
 * no issue, -1 otherwise, so several checks can report into one outcome
 * (a Group body and its X-Provenance header, say) and the client sees every
 * problem at once.  Results are copied into the pool: they do not depend on
 * the json_t they came from.
 */
#ifndef DPC_RES_H
#define DPC_RES_H

#include <apr_pools.h>
#include <apr_time.h>
#include <jansson.h>

#include "dpc_mbi.h"

/* Identifier systems. */
#define DPC_SYS_NPI     "http://hl7.org/fhir/sid/us-npi"
#define DPC_SYS_MBI     "http://hl7.org/fhir/sid/us-mbi"
/* The Blue Button MBI system some STU3 clients still send. */
#define DPC_SYS_MBI_BB  "https://bluebutton.cms.gov/resources/identifier/mbi"

/* ---- reporting and reading, shared with dpc_roster.c ---- */

/* Add an error issue to oo; diagnostics formatted into p. expr may be NULL. */
void dpc_issue(apr_pool_t *p, json_t *oo, const char *code, const char *expr,
               const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The same with the diagnostics "expr: message": many clients show only
 * the diagnostics, so they name the element too. */
void dpc_issue_at(apr_pool_t *p, json_t *oo, const char *code, const char *expr,
                  const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The number of issues oo holds (0 for NULL). */
size_t dpc_issue_count(const json_t *oo);

/* Parse text as one JSON object (duplicate keys refused) whose lifetime is
 * tied to p.  On failure adds one "structure" issue whose diagnostics start
 * with `what` ("X-Provenance", "body") and carry jansson's reason and
 * position, and returns -1. */
int dpc_res_load(apr_pool_t *p, const char *text, apr_size_t len, const char *what,
                 json_t *oo, json_t **out);

/* The resource a body carries, always a JSON object: the one parameter
 * named "resource" of a Parameters, the R of {"resource": R} (what the v1
 * guide's $add/$remove fragments become once wrapped in braces), or else
 * the body itself, whose resourceType the caller's check judges.  NULL
 * after one "structure" issue when the body is not an object or the
 * Parameters is not that.  `type` ("Group", "Bundle") words the issue. */
const json_t *dpc_res_unwrap(apr_pool_t *p, const json_t *body, const char *type,
                             json_t *oo);

/* One entry of a Parameters resource, as dpc_params_read found it: exactly
 * one of value (with value_key its element name, "valueString" say),
 * resource and part is set. */
typedef struct dpc_param {
    const char *name;
    const char *value_key;
    const json_t *value;
    const json_t *resource;     /* a JSON object */
    const json_t *part;         /* a JSON array */
} dpc_param;

/* Read a Parameters resource as FHIR defines it: body a JSON object whose
 * resourceType is "Parameters"; parameter absent or an array; each entry
 * an object with a string name and one and only one of value[x], resource
 * and part (FHIR's invariant inv-1: two value[x], say valueString and
 * valueInstant, are refused, naming them).  The entries (pointing into
 * body) and their number, or -1 after "structure" issues at "Parameters"
 * or "Parameters.parameter[i]", one per bad entry. */
int dpc_params_read(apr_pool_t *p, const json_t *body, json_t *oo, dpc_param **out);

/* o[key] as a string if it is one, else NULL. */
const char *dpc_jstr(const json_t *o, const char *key);

/* Is s one of the MBI identifier systems (DPC_SYS_MBI, DPC_SYS_MBI_BB)? */
int dpc_sys_is_mbi(const char *s);

/* Is s a FHIR date of the full form YYYY-MM-DD naming a real day, not
 * after the UTC day of now?  0 if so; else -1 with a reason (static). */
int dpc_birth_date_check(const char *s, apr_time_t now, const char **why);

/* ---- Practitioner ---- */

typedef struct dpc_practitioner {
    const char *npi;            /* the valid NPI of the us-npi identifier */
    const char *family;         /* of the first name with family and given */
    const char *given;          /* its first given name */
    const char *json;           /* compact resource to store (see below) */
} dpc_practitioner;

/* Check a Practitioner: resourceType, exactly one NPI (identifiers with the
 * us-npi system may repeat only with the same value), a name with family
 * and given.  `where` prefixes every expression ("Practitioner" when NULL,
 * "Bundle.entry[2].resource" inside a Bundle).  *out is set only on success.
 *
 * The stored form drops the client's id, meta.lastUpdated and
 * meta.versionId (the server owns them: dpc_res_output() puts ours back)
 * and keeps everything else, meta.profile included. */
int dpc_practitioner_check(apr_pool_t *p, const json_t *res, const char *where,
                           json_t *oo, dpc_practitioner **out);

/* ---- Patient ---- */

typedef struct dpc_patient {
    const char *mbi;            /* normalized: upper case, no dashes */
    const char *family;
    const char *given;
    const char *birth_date;     /* YYYY-MM-DD */
    const char *gender;         /* male, female, other, unknown, or NULL */
    const char *json;           /* compact resource to store */
} dpc_patient;

/* Check a Patient: resourceType, exactly one MBI (system us-mbi or the Blue
 * Button one; dashes and case forgiven), a name with family and given,
 * birthDate a full real date not after today (UTC, from now), and gender
 * a FHIR administrative gender when present.  Stored form as above; the
 * identifier keeps the value as the client wrote it. */
int dpc_patient_check(apr_pool_t *p, const json_t *res, const char *where,
                      apr_time_t now, json_t *oo, dpc_patient **out);

/* ---- $submit ---- */

typedef enum {
    DPC_RES_PRACTITIONER = 1,
    DPC_RES_PATIENT
} dpc_res_type_e;

typedef struct dpc_submit {
    dpc_res_type_e type;
    int n;                               /* entries, at least 1 */
    const dpc_practitioner **practitioners;  /* n of them, or NULL */
    const dpc_patient **patients;            /* n of them, or NULL */
} dpc_submit;

/* Check a $submit body: Parameters with the single parameter "resource"
 * holding a Bundle, or the Bundle itself; Bundle.type collection or batch;
 * 1 to max_entries entries, each holding a resource of the expected type.
 * All or nothing: every entry is checked and every problem reported with
 * the entry's index; an NPI or MBI that repeats within the Bundle is an
 * error.  Over max_entries, one "too-costly" issue and no entry is looked
 * at. */
int dpc_submit_check(apr_pool_t *p, const json_t *body, dpc_res_type_e type,
                     int max_entries, apr_time_t now, json_t *oo, dpc_submit **out);

/* ---- output ---- */

/* A stored resource (compact JSON text) as the API returns it: with id,
 * meta.lastUpdated and, when version_id is not NULL, meta.versionId set;
 * other meta elements (profile) are kept.  A new reference, or NULL when
 * the stored text is not a JSON object. */
json_t *dpc_res_output(apr_pool_t *p, const char *stored, apr_size_t len,
                       const char *id, apr_time_t last_updated,
                       const char *version_id);

#endif
