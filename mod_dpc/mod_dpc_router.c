/* mod_dpc_router.c: a request below a DPCAPI <Location> is matched against
 * its dialect's route table (the core's) and handed, through one dispatch
 * table, to the function that handles that operation: after the bearer
 * check unless the route is public, and the scope check if it writes. */
#include "mod_dpc_router.h"

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>

#include "dpc_auth.h"
#include "dpc_fhir.h"
#include "dpc_mbi.h"
#include "dpc_route.h"
#include "mod_dpc_ab2d.h"
#include "mod_dpc_auth.h"
#include "mod_dpc_bcda.h"
#include "mod_dpc_creds.h"
#include "mod_dpc_discovery.h"
#include "mod_dpc_export.h"
#include "mod_dpc_groups.h"
#include "mod_dpc_org.h"
#include "mod_dpc_people.h"
#include "mod_dpc_respond.h"

/* Is this request below a <Location> that speaks a DPC dialect? */
static int is_ours(request_rec *r)
{
    dpc_dir_conf *d = dpc_dir(r);

    return d && dpc_dialect_serves(dpc_conf_dialect(d)) && d->base_path;
}

/* Our routes are virtual: claim them before the file system is consulted. */
int dpc_translate(request_rec *r)
{
    const char *path;

    if (!is_ours(r))
        return DECLINED;
    /* for httpd's CustomLog: %{dpc-dialect}n, on API calls and downloads */
    apr_table_setn(r->notes, "dpc-dialect", dpc_conf_dialect(dpc_dir(r))->name);
    /* export files are served by httpd itself, after our access check */
    path = dpc_conf_dialect(dpc_dir(r))->data_on_host ? r->uri : dpc_relative_path(r);
    if (path && dpc_data_translate(r, path) == OK)
        return OK;
    r->filename = apr_pstrcat(r->pool, "dpc:", r->uri, NULL);
    r->handler = DPC_HANDLER;
    return OK;
}

int dpc_map_to_storage(request_rec *r)
{
    if (r->handler && !strcmp(r->handler, DPC_HANDLER))
        return OK;
    return dpc_data_map(r);
}

static int method_bit(request_rec *r)
{
    switch (r->method_number) {
    case M_GET:
        return r->header_only ? DPC_M_HEAD : DPC_M_GET;
    case M_POST:
        return DPC_M_POST;
    case M_PUT:
        return DPC_M_PUT;
    case M_DELETE:
        return DPC_M_DELETE;
    default:
        return 0;
    }
}

/* The one dispatch table: each operation a route names, and the function
 * that handles it, with the variant it serves (Practitioner or Patient). */
typedef struct dpc_handler_entry {
    dpc_op_fn *fn;
    int what;
} dpc_handler_entry;

static const dpc_handler_entry handlers[] = {
    [DPC_OP_METADATA]       = { dpc_op_metadata, 0 },
    [DPC_OP_SMART_CONFIG]   = { dpc_op_smart_config, 0 },
    [DPC_OP_TOKEN_AUTH]     = { dpc_op_token_auth, 0 },
    [DPC_OP_TOKEN_VALIDATE] = { dpc_op_token_validate, 0 },
    [DPC_OP_TOKEN_LIST]     = { dpc_op_token_list, 0 },
    [DPC_OP_TOKEN_CREATE]   = { dpc_op_token_create, 0 },
    [DPC_OP_TOKEN_READ]     = { dpc_op_token_read, 0 },
    [DPC_OP_TOKEN_DELETE]   = { dpc_op_token_delete, 0 },
    [DPC_OP_KEY_LIST]       = { dpc_op_key_list, 0 },
    [DPC_OP_KEY_CREATE]     = { dpc_op_key_create, 0 },
    [DPC_OP_KEY_READ]       = { dpc_op_key_read, 0 },
    [DPC_OP_KEY_DELETE]     = { dpc_op_key_delete, 0 },
    [DPC_OP_ORG_SEARCH]     = { dpc_op_org_search, 0 },
    [DPC_OP_ORG_READ]       = { dpc_op_org_read, 0 },
    [DPC_OP_PRAC_CREATE]    = { dpc_op_person_create, DPC_PRACTITIONER },
    [DPC_OP_PRAC_READ]      = { dpc_op_person_read, DPC_PRACTITIONER },
    [DPC_OP_PRAC_SEARCH]    = { dpc_op_person_search, DPC_PRACTITIONER },
    [DPC_OP_PRAC_UPDATE]    = { dpc_op_person_update, DPC_PRACTITIONER },
    [DPC_OP_PRAC_DELETE]    = { dpc_op_person_delete, DPC_PRACTITIONER },
    [DPC_OP_PRAC_SUBMIT]    = { dpc_op_person_submit, DPC_PRACTITIONER },
    [DPC_OP_PRAC_VALIDATE]  = { dpc_op_person_validate, DPC_PRACTITIONER },
    [DPC_OP_PAT_CREATE]     = { dpc_op_person_create, DPC_PATIENT },
    [DPC_OP_PAT_READ]       = { dpc_op_person_read, DPC_PATIENT },
    [DPC_OP_PAT_SEARCH]     = { dpc_op_person_search, DPC_PATIENT },
    [DPC_OP_PAT_UPDATE]     = { dpc_op_person_update, DPC_PATIENT },
    [DPC_OP_PAT_DELETE]     = { dpc_op_person_delete, DPC_PATIENT },
    [DPC_OP_PAT_SUBMIT]     = { dpc_op_person_submit, DPC_PATIENT },
    [DPC_OP_PAT_VALIDATE]   = { dpc_op_person_validate, DPC_PATIENT },
    [DPC_OP_PAT_EVERYTHING] = { dpc_op_everything, 0 },
    [DPC_OP_GROUP_CREATE]   = { dpc_op_group_create, 0 },
    [DPC_OP_GROUP_READ]     = { dpc_op_group_read, 0 },
    [DPC_OP_GROUP_SEARCH]   = { dpc_op_group_search, 0 },
    [DPC_OP_GROUP_REPLACE]  = { dpc_op_group_replace, 0 },
    [DPC_OP_GROUP_DELETE]   = { dpc_op_group_delete, 0 },
    [DPC_OP_GROUP_ADD]      = { dpc_op_group_add, 0 },
    [DPC_OP_GROUP_REMOVE]   = { dpc_op_group_remove, 0 },
    [DPC_OP_EXPORT]         = { dpc_op_export, 0 },
    [DPC_OP_EXPORT_PATIENTS] = { dpc_op_export, DPC_EXPORT_PATIENTS },
    [DPC_OP_EXPORT_SYSTEM]  = { dpc_op_export, DPC_EXPORT_SYSTEM },
    [DPC_OP_JOB_STATUS]     = { dpc_op_job_status, 0 },
    [DPC_OP_JOB_CANCEL]     = { dpc_op_job_cancel, 0 },
    [DPC_OP_BCDA_VERSION]   = { dpc_op_bcda_version, 0 },
    [DPC_OP_BCDA_HEALTH]    = { dpc_op_bcda_health, 0 },
    [DPC_OP_BCDA_AUTH_INFO] = { dpc_op_bcda_auth_info, 0 },
    [DPC_OP_BCDA_EXPORT_TYPE]  = { dpc_op_bcda_export, 0 },
    [DPC_OP_BCDA_EXPORT_GROUP] = { dpc_op_bcda_export, 0 },
    [DPC_OP_BCDA_JOB_LIST]  = { dpc_op_bcda_job_list, 0 },
    [DPC_OP_BCDA_JOB_CANCEL] = { dpc_op_bcda_job_cancel, 0 },
    [DPC_OP_BCDA_ATTRIBUTION_STATUS] = { dpc_op_bcda_attribution_status, 0 },
    [DPC_OP_OPERATION_DEF]  = { dpc_op_operation_def, 0 },
    [DPC_OP_VERSION]        = { dpc_op_version, 0 },
    [DPC_OP_HEALTH]         = { dpc_op_health, 0 },
    [DPC_OP_OPENAPI]        = { dpc_op_openapi, 0 },
    [DPC_OP_OPENAPI_PAGE]   = { dpc_op_openapi_page, 0 },
    [DPC_OP_PROFILE]        = { dpc_op_profile, 0 },
    /* AB2D */
    [DPC_OP_AB2D_HEALTH]    = { dpc_op_ab2d_health, 0 },
    [DPC_OP_AB2D_STATUS]    = { dpc_op_ab2d_status, 0 },
    [DPC_OP_AB2D_EXPORT]    = { dpc_op_ab2d_export, 0 },
    [DPC_OP_AB2D_JOB_CANCEL] = { dpc_op_ab2d_job_cancel, 0 },
};

static const dpc_handler_entry *handler_of(dpc_op_t op)
{
    if ((size_t)op >= sizeof(handlers) / sizeof(handlers[0]) || !handlers[op].fn)
        return NULL;
    return &handlers[op];
}

/* DPCTokenEndpoint On: the <Location>'s own path is its dialect's token
 * endpoint, wherever the operator placed it (AB2D's is a path of Okta's
 * that a deployment may not want to copy).  OK or a status when this was
 * it, DECLINED otherwise. */
static int token_endpoint(request_rec *r, const char *path)
{
    dpc_call call = { NULL, NULL, 0 };

    if (!dpc_conf_token_endpoint(dpc_dir(r)) || !path || (*path && strcmp(path, "/")))
        return DECLINED;
    if (r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "POST");
        return dpc_send_oo(r, HTTP_METHOD_NOT_ALLOWED, DPC_ISSUE_NOT_SUPPORTED,
                           "the token endpoint takes POST");
    }
    return dpc_op_token_auth(r, &call);
}

int dpc_handler(request_rec *r)
{
    const dpc_handler_entry *h;
    dpc_route_match m;
    dpc_call call;
    const char *path;
    int status;

    if (!r->handler || strcmp(r->handler, DPC_HANDLER))
        return DECLINED;
    path = dpc_relative_path(r);
    if ((status = token_endpoint(r, path)) != DECLINED)
        return status;
    /* a dialect whose downloads are at /data on the host has nothing else
     * there (no route of its API answers below /data under another name) */
    if (dpc_conf_dialect(dpc_dir(r))->data_on_host && !strncmp(r->uri, "/data/", 6))
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such file");
    switch (dpc_route_find_at(r->pool, dpc_conf_dialect(dpc_dir(r)), r->uri, path,
                              method_bit(r), &m)) {
    case DPC_ROUTE_NOT_FOUND:
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND,
                           apr_psprintf(r->pool, "no such route: %s %s", r->method,
                                        path ? path : r->uri));
    case DPC_ROUTE_BAD_METHOD:
        apr_table_setn(r->headers_out, "Allow", dpc_route_allow(r->pool, m.allowed));
        return dpc_send_oo(r, HTTP_METHOD_NOT_ALLOWED, DPC_ISSUE_NOT_SUPPORTED,
                           apr_psprintf(r->pool, "%s is not allowed here; allowed: %s",
                                        r->method, dpc_route_allow(r->pool, m.allowed)));
    case DPC_ROUTE_FOUND:
        break;
    }
    if (!(h = handler_of(m.route->op)))
        return dpc_send_oo(r, HTTP_NOT_IMPLEMENTED, DPC_ISSUE_NOT_SUPPORTED,
                           "this operation is not implemented");
    if (dpc_conf_synthetic_ids(dpc_srv(r->server)))
        dpc_ids_allow_synthetic(r->pool);
    call.who = NULL;
    call.id = m.nparams ? m.params[0] : NULL;   /* literal routes bind nothing */
    call.what = h->what;
    if (m.route->flags & DPC_ROUTE_PUBLIC)
        return h->fn(r, &call);
    if (!(call.who = dpc_authenticate(r, &status)))
        return status;
    if ((m.route->flags & DPC_ROUTE_WRITE) && !dpc_scope_can_write(call.who->scope))
        return dpc_send_oo(r, HTTP_FORBIDDEN, DPC_ISSUE_FORBIDDEN,
                           apr_psprintf(r->pool, "the access token's scope (%s) does not "
                                        "allow changes; request system/*.*",
                                        call.who->scope));
    return h->fn(r, &call);
}
