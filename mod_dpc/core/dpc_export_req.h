/* dpc_export_req.h: a Bulk Data export's kick-off request, as data.
 *
 * The kick-off's parameters (from the query string of a GET, or the
 * Parameters body of a POST) mean the same in every dialect and every
 * program: this is the one place that reads them.  The caller (httpd's
 * glue) does only the HTTP parts: it reads the query string or the body
 * into name/value pairs, checks Accept and Prefer, and turns a refusal into
 * the response its API sends (an OperationOutcome with refusal's status,
 * issue code and message).
 *
 * Use: dpc_export_req_init(), then dpc_export_req_param() for each pair in
 * the order received (stop at the first refusal), then
 * dpc_export_req_finish() with the access token's scope.  A refused
 * request must not start an export; nothing here touches the database.
 *
 * Parameters:
 *   _type           comma-separated resource types, spaces dropped; each
 *                   must be one of dpc_export_types[] (dpc_export.h; lenient: an unknown
 *                   one is ignored and noted as "_type=NAME").  Repeated
 *                   _type parameters add up.
 *   _since          a FHIR instant, not after `now`; a space in it is read
 *                   as '+' (a time zone's '+' that was not URL-encoded).
 *                   One from DPC_BFD_MARKER to before DPC_BFD_LOAD_DATE
 *                   becomes DPC_BFD_MARKER - 1 us: all history.
 *   _until          a FHIR instant (the '+' as for _since), where the
 *                   dialect takes it (until_allowed; else not supported):
 *                   resources last updated after it are left out.  Not
 *                   before _since (checked by finish).  A future one is
 *                   taken (the export stops at its transaction time anyway).
 *   _outputFormat   application/fhir+ndjson, application/ndjson or ndjson.
 *   _typeFilter     see dpc_type_filter.h; repeated ones add up, as the IG
 *                   says.  finish() refuses a query of a type not exported.
 *   patient         a POST's valueReference, taken by
 *                   dpc_export_req_patient(); as a text parameter (a GET's
 *                   query) it is refused, and so is any on a system-level
 *                   export (system_level), as the IG says it does not apply.
 *   _elements, includeAssociatedData
 *                   not supported: refused (lenient: ignored and noted by
 *                   name).
 *   allowPartialManifests
 *                   "true" or "false" (FHIR boolean; a POST's valueBoolean
 *                   arrives as that text): status may answer 202 with the
 *                   files finished so far, in pages (the IG's next version).
 *   organizeOutputBy
 *                   "Patient": each file holds whole patients, the Patient
 *                   first; another value is refused naming it (lenient:
 *                   ignored and noted as "organizeOutputBy=VALUE").
 *   anything else   ignored without a note, as FHIR search does.
 * Under lenient handling every refusal above except a non-UTF-8 value and
 * a scope's 403 becomes a note instead: the parameter is ignored.
 * Every value must be UTF-8 (the values go into the database). */
#ifndef DPC_EXPORT_REQ_H
#define DPC_EXPORT_REQ_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

/* The claims store follows Beneficiary FHIR Data's convention, which both
 * DPC guides describe: data loaded before BFD's load date (2020-02-12)
 * carries the arbitrary lastUpdated DPC_BFD_MARKER (2020-01-01T00:00:00Z),
 * and a _since between the two returns all history.  So such a _since
 * takes effect as just before the marker.  apr_time_t (microseconds). */
#define DPC_BFD_MARKER    APR_TIME_C(1577836800000000)    /* 2020-01-01T00:00:00Z */
#define DPC_BFD_LOAD_DATE APR_TIME_C(1581465600000000)    /* 2020-02-12T00:00:00Z */


/* A kick-off request.  Everything is allocated from `p`. */
typedef struct dpc_export_req {
    apr_pool_t *p;
    int lenient;                    /* Prefer: handling=lenient */
    int refuse_repeats;             /* a type named twice is refused (BCDA);
                                     * set after init */
    apr_time_t now;                 /* the request's time: _since's limit */
    apr_array_header_t *types;      /* const char *: asked for, then chosen */
    apr_time_t since;               /* 0: none */
    apr_array_header_t *notes;      /* const char *: what lenient ignored */
    /* Set after init, from the route and the dialect: */
    int until_allowed;              /* the dialect takes _until */
    int system_level;               /* [base]/$export: no `patient` */
    apr_time_t until;               /* 0: none */
    struct dpc_type_filter *filter; /* _typeFilter (dpc_type_filter.h) */
    apr_array_header_t *patients;   /* const char *: "Patient/<id>" or
                                     * "mbi|<MBI>", in the order given */

    /* The output options (allowPartialManifests, organizeOutputBy) */
    int allow_partial;              /* 1: partial manifests while running */
    const char *organize_by;        /* "Patient", or NULL: one type a file */
} dpc_export_req;

/* What kind of refusal; DPC_EXPORT_REQ_OK (0) is none. */
typedef enum {
    DPC_EXPORT_REQ_OK = 0,
    DPC_EXPORT_REQ_INVALID,         /* 400, issue "invalid" */
    DPC_EXPORT_REQ_NOT_SUPPORTED,   /* 400, issue "not-supported" */
    DPC_EXPORT_REQ_FORBIDDEN        /* 403, issue "forbidden" */
} dpc_export_req_rc;

/* A refusal, ready for an OperationOutcome: its HTTP status, issue code
 * (DPC_ISSUE_*) and message (UTF-8, from the request's pool). */
typedef struct dpc_export_req_err {
    dpc_export_req_rc rc;
    int status;
    const char *issue;
    const char *msg;
} dpc_export_req_err;

/* Start a request: no types, no _since, no notes.  `now` is the time the
 * request arrived (a later _since is refused). */
void dpc_export_req_init(apr_pool_t *p, dpc_export_req *req, int lenient,
                         apr_time_t now);

/* Take one parameter (name and value NUL-terminated, value "" when it had
 * none).  DPC_EXPORT_REQ_OK, or a refusal described in *err (which is left
 * alone on OK); after a refusal the request is not to be used further. */
dpc_export_req_rc dpc_export_req_param(dpc_export_req *req, const char *name,
                                       const char *value, dpc_export_req_err *err);

/* Take a POST's `patient` valueReference: its reference ("Patient/<id>",
 * or a URL ending so), else its identifier (system us-mbi, value an MBI as
 * dpc_mbi_accept() takes one with the request's pool: a synthetic one in a
 * sandbox).
 * A reference that is neither, or a system-level export, is refused as
 * dpc_export_req_param() refuses (lenient: noted). */
dpc_export_req_rc dpc_export_req_patient(dpc_export_req *req, const char *reference,
                                         const char *system, const char *value,
                                         dpc_export_req_err *err);

/* Settle the types against the access token's scope (space-separated
 * SMART scopes; NULL is none): when none was asked for, every type of
 * dpc_export_types[] the scope reads; then refuse (403) a type the scope
 * does not read, or an empty list.  The message names the scope, as UTF-8
 * (dpc_utf8_clean) whatever bytes it holds.  Then _until against _since,
 * and the _typeFilter against the types (dpc_type_filter_settle). */
dpc_export_req_rc dpc_export_req_finish(dpc_export_req *req, const char *scope,
                                        dpc_export_req_err *err);

/* Does the SMART scope list `scope` let its holder read resources of
 * `type`: does it hold "system/" "*.ANY" or "system/TYPE.ANY" (any
 * permission after the dot)?  NULL reads nothing. */
int dpc_export_scope_reads(apr_pool_t *p, const char *scope, const char *type);


#endif
