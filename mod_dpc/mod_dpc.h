/* mod_dpc.h: what the httpd glue files share. */
#ifndef MOD_DPC_H
#define MOD_DPC_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_optional.h>
#include <apr_dbd.h>
#include <mod_dbd.h>

#include <jansson.h>

#include "dpc_config.h"

/* mod_dpc.c declares the module, which names the log index there. */
#ifndef DPC_MODULE_MAIN
APLOG_USE_MODULE(dpc);
#endif
extern module AP_MODULE_DECLARE_DATA dpc_module;

#define DPC_VERSION "0.1.0"
#define DPC_HANDLER "dpc-api"

static APR_INLINE dpc_srv_conf *dpc_srv(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &dpc_module);
}

static APR_INLINE dpc_dir_conf *dpc_dir(const request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &dpc_module);
}

/* mod_dpc_config.c */
extern int dpc_api_configured;   /* some <Location> has DPCAPI: this pass */
extern const command_rec dpc_cmds[];
void *dpc_create_srv(apr_pool_t *p, server_rec *s);
void *dpc_merge_srv(apr_pool_t *p, void *base, void *add);
void *dpc_create_dir(apr_pool_t *p, char *dir);
void *dpc_merge_dir(apr_pool_t *p, void *base, void *add);
/* Check every server's settings after configuration; OK or an error. */
int dpc_config_check(apr_pool_t *p, server_rec *s);

/* mod_dpc_handlers.c */
int dpc_translate(request_rec *r);
int dpc_map_to_storage(request_rec *r);
int dpc_handler(request_rec *r);

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
/* This request's URL as the client asked for it: dpc_base_url, the path
 * below the base as httpd normalized it (an absolute-form target's scheme
 * and authority dropped, doubled slashes merged), re-escaped, and the
 * query string as sent. */
const char *dpc_request_url(request_rec *r);
/* The value of a query-string parameter (URL-decoded), NULL if absent. */
const char *dpc_query_param(request_rec *r, const char *name);
/* Does the request's Content-Type (without parameters) equal type? */
int dpc_content_type_is(request_rec *r, const char *type);

/* mod_dpc_auth.c: who is calling. */
typedef struct dpc_principal {
    const char *org_id;
    const char *client_token_id;
    const char *key_id;
    const char *scope;
} dpc_principal;

void dpc_auth_child_init(apr_pool_t *pchild);
/* Load DPCTokenSecretFile; OK or an error status. */
int dpc_auth_load_secrets(apr_pool_t *pconf, server_rec *s);
/* The bearer token's principal, or NULL after sending the 401/503. */
const dpc_principal *dpc_authenticate(request_rec *r, int *status);
int dpc_op_token_auth(request_rec *r);
int dpc_op_token_validate(request_rec *r);

/* mod_dpc_creds.c: an organization's client tokens and public keys. */
int dpc_op_token_list(request_rec *r, const dpc_principal *who);
int dpc_op_token_read(request_rec *r, const dpc_principal *who, const char *id);
int dpc_op_token_create(request_rec *r, const dpc_principal *who);
int dpc_op_token_delete(request_rec *r, const dpc_principal *who, const char *id);
int dpc_op_key_list(request_rec *r, const dpc_principal *who);
int dpc_op_key_read(request_rec *r, const dpc_principal *who, const char *id);
int dpc_op_key_create(request_rec *r, const dpc_principal *who);
int dpc_op_key_delete(request_rec *r, const dpc_principal *who, const char *id);

/* mod_dpc_people.c: Practitioner and Patient. */
enum {
    DPC_PERSON_CREATE, DPC_PERSON_READ, DPC_PERSON_SEARCH, DPC_PERSON_UPDATE,
    DPC_PERSON_DELETE, DPC_PERSON_SUBMIT, DPC_PERSON_VALIDATE
};
int dpc_op_person(request_rec *r, int op, int patient, const dpc_principal *who,
                  const char *id);
int dpc_op_everything(request_rec *r, const dpc_principal *who, const char *id);

/* mod_dpc_groups.c: attribution rosters. */
enum {
    DPC_GROUP_CREATE, DPC_GROUP_READ, DPC_GROUP_SEARCH, DPC_GROUP_REPLACE,
    DPC_GROUP_DELETE, DPC_GROUP_ADD, DPC_GROUP_REMOVE
};
int dpc_op_group(request_rec *r, int op, const dpc_principal *who, const char *id);

/* mod_dpc_export.c: Bulk Data export and downloads. */
int dpc_op_export(request_rec *r, const dpc_principal *who, const char *group);
int dpc_op_job_status(request_rec *r, const dpc_principal *who, const char *id);
int dpc_op_job_cancel(request_rec *r, const dpc_principal *who, const char *id);
int dpc_data_translate(request_rec *r, const char *path);
int dpc_data_map(request_rec *r);
int dpc_data_access(request_rec *r);
int dpc_data_fixups(request_rec *r);

/* mod_dpc_org.c: the caller's own Organization. */
int dpc_op_org_search(request_rec *r, const dpc_principal *who);
int dpc_op_org_read(request_rec *r, const dpc_principal *who, const char *id);

/* mod_dpc_worker.c */
int dpc_workers_start(apr_pool_t *pconf, server_rec *s);

/* mod_dbd, resolved once in post_config (NULL until then). */
extern APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *dpc_dbd_acquire;
extern APR_OPTIONAL_FN_TYPE(ap_dbd_prepare) *dpc_dbd_prepare;

#endif
