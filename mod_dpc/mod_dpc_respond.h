/* mod_dpc_respond.h: what every handler answers with, and reads the
 * request through: responses (FHIR OperationOutcome, RFC 6749 errors),
 * bodies, content types, query parameters and the URLs clients see. */
#ifndef MOD_DPC_RESPOND_H
#define MOD_DPC_RESPOND_H

#include <jansson.h>

#include "mod_dpc_module.h"

#define DPC_FHIR_JSON "application/fhir+json"
/* Responses: set status, type and body; return OK for the handler. */
int dpc_send_body(request_rec *r, int status, const char *type, const char *body);
int dpc_send_json(request_rec *r, int status, const char *type, json_t *v);
int dpc_send_oo(request_rec *r, int status, const char *code, const char *diag);
/* RFC 6749 5.2 error: {"error": ..., "error_description": ...}. */
int dpc_send_oauth_error(request_rec *r, int status, const char *error,
                         const char *desc);
/* 500/503 OperationOutcome after a database failure (already logged). */
int dpc_send_db_error(request_rec *r);
/* Read the request body, at most limit bytes.  OK, or an HTTP status after
 * which the caller sends its own error (413 too large, 400 unreadable). */
int dpc_read_body(request_rec *r, apr_size_t limit, const char **body, apr_size_t *len);
/* Does the request announce a body (Transfer-Encoding, or a Content-Length
 * over 0)? */
int dpc_has_body(request_rec *r);
/* Send the 415 for a body whose Content-Type is not `accepted` (the text
 * that names the accepted types), or that has none; returns OK. */
int dpc_type_refused(request_rec *r, const char *accepted);
/* FHIR writes take application/fhir+json or application/json, and a
 * missing Content-Type is refused like a wrong one: 1, or 0 after sending
 * the 415 (*status). */
int dpc_json_type_ok(request_rec *r, int *status);
/* The FHIR base URL of this request's <Location> as clients see it. */
const char *dpc_base_url(request_rec *r);
/* dpc_base_url without its path: "https://host:port". */
const char *dpc_host_url(request_rec *r);
/* Where export files are downloaded: "{base}/data", or "{host}/data" for
 * a dialect whose downloads are on the host (data_on_host). */
const char *dpc_data_url(request_rec *r);
/* This request's URL as the client asked for it: dpc_base_url, the path
 * below the base as httpd normalized it (an absolute-form target's scheme
 * and authority dropped, doubled slashes merged), re-escaped, and the
 * query string as sent. */
const char *dpc_request_url(request_rec *r);
/* The value of a query-string parameter (URL-decoded), NULL if absent. */
const char *dpc_query_param(request_rec *r, const char *name);
/* Does the request's Content-Type (without parameters) equal type? */
int dpc_content_type_is(request_rec *r, const char *type);
/* The path below the request's <Location> base, or NULL when r->uri is
 * not below it. */
const char *dpc_relative_path(request_rec *r);

#endif
