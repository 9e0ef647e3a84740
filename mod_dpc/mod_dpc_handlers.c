/* mod_dpc_handlers.c: routing and the request handlers.  Handlers are short:
 * validate, ask the core or the database, answer.  Every error is a FHIR
 * OperationOutcome with its real status. */
#include "mod_dpc.h"

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>

#include "dpc_fhir.h"
#include "dpc_log.h"
#include "dpc_meta.h"
#include "dpc_route.h"

#define FHIR_JSON "application/fhir+json"

/* Is this request below a <Location> that speaks a DPC dialect? */
static int is_ours(request_rec *r)
{
    dpc_dir_conf *d = dpc_dir(r);

    return d && dpc_conf_api(d) != DPC_API_NONE && d->base_path;
}

/* Our routes are virtual: claim them before the file system is consulted. */
int dpc_translate(request_rec *r)
{
    if (!is_ours(r))
        return DECLINED;
    r->filename = apr_pstrcat(r->pool, "dpc:", r->uri, NULL);
    r->handler = DPC_HANDLER;
    return OK;
}

int dpc_map_to_storage(request_rec *r)
{
    return r->handler && !strcmp(r->handler, DPC_HANDLER) ? OK : DECLINED;
}

static int send_body(request_rec *r, int status, const char *type, const char *body)
{
    r->status = status;
    ap_set_content_type(r, type);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, strlen(body));
    ap_rputs(body, r);
    return OK;
}

static int send_json(request_rec *r, int status, const char *type, json_t *v)
{
    return send_body(r, status, type, dpc_json_pdump_decref(r->pool, v));
}

static int send_oo(request_rec *r, int status, const char *code, const char *diag)
{
    return send_body(r, status, FHIR_JSON, dpc_oo_simple(r->pool, code, diag));
}

/* The FHIR base URL as clients see it. */
static const char *base_url(request_rec *r)
{
    dpc_dir_conf *d = dpc_dir(r);

    if (d->public_url)
        return d->public_url;
    return ap_construct_url(r->pool, d->base_path, r);
}

/* The path below the base, or NULL when r->uri is not below it. */
static const char *relative_path(request_rec *r)
{
    const char *base = dpc_dir(r)->base_path;
    size_t n = strlen(base);

    if (strcmp(base, "/") == 0)
        return r->uri;
    if (strncmp(r->uri, base, n) || (r->uri[n] && r->uri[n] != '/'))
        return NULL;
    return r->uri + n;
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

static int op_metadata(request_rec *r)
{
    return send_json(r, HTTP_OK, FHIR_JSON,
                     dpc_meta_capability(dpc_conf_api(dpc_dir(r)), base_url(r),
                                         DPC_VERSION, r->request_time));
}

/* SMART discovery is JSON whatever the Accept header asks for. */
static int op_smart_config(request_rec *r)
{
    return send_json(r, HTTP_OK, "application/json",
                     dpc_meta_smart_config(dpc_conf_api(dpc_dir(r)), base_url(r)));
}

static int dispatch(request_rec *r, const dpc_route_match *m)
{
    switch (m->route->op) {
    case DPC_OP_METADATA:
        return op_metadata(r);
    case DPC_OP_SMART_CONFIG:
        return op_smart_config(r);
    }
    return send_oo(r, HTTP_NOT_IMPLEMENTED, DPC_ISSUE_NOT_SUPPORTED,
                   "this operation is not implemented");
}

int dpc_handler(request_rec *r)
{
    dpc_route_match m;
    const char *path;

    if (!r->handler || strcmp(r->handler, DPC_HANDLER))
        return DECLINED;
    path = relative_path(r);
    if (!path)
        return send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such route");
    switch (dpc_route_find(r->pool, dpc_conf_api(dpc_dir(r)), path, method_bit(r), &m)) {
    case DPC_ROUTE_NOT_FOUND:
        return send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND,
                       apr_psprintf(r->pool, "no such route: %s %s", r->method,
                                    path));
    case DPC_ROUTE_BAD_METHOD:
        apr_table_setn(r->headers_out, "Allow", dpc_route_allow(r->pool, m.allowed));
        return send_oo(r, HTTP_METHOD_NOT_ALLOWED, DPC_ISSUE_NOT_SUPPORTED,
                       apr_psprintf(r->pool, "%s is not allowed here; allowed: %s",
                                    r->method, dpc_route_allow(r->pool, m.allowed)));
    case DPC_ROUTE_FOUND:
        break;
    }
    return dispatch(r, &m);
}
