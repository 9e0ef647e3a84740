/* mod_dpc_handlers.c: routing, the shared response helpers, and discovery.
 * Handlers are short: validate, ask the core or the database, answer.
 * Every error is a FHIR OperationOutcome (or, on the token endpoint, an
 * RFC 6749 error) with its real status. */
#include "mod_dpc.h"

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_script.h>
#include <apr_strings.h>

#include "dpc_auth.h"
#include "dpc_fhir.h"
#include "dpc_log.h"
#include "dpc_meta.h"
#include "dpc_route.h"

static const char *relative_path(request_rec *r);

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
    /* export files are served by httpd itself, after our access check */
    if ((path = relative_path(r)) != NULL && dpc_data_translate(r, path) == OK)
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

int dpc_send_body(request_rec *r, int status, const char *type, const char *body)
{
    if (!body) {
        /* a document that could not be built: say so rather than crash */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, DPCLOGNO(00153)
                      "a %d response body could not be built", status);
        status = HTTP_INTERNAL_SERVER_ERROR;
        type = DPC_FHIR_JSON;
        body = "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":"
               "\"error\",\"code\":\"exception\"}]}";
    }
    r->status = status;
    ap_set_content_type(r, type);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, strlen(body));
    ap_rputs(body, r);
    return OK;
}

int dpc_send_json(request_rec *r, int status, const char *type, json_t *v)
{
    return dpc_send_body(r, status, type, dpc_json_pdump_decref(r->pool, v));
}

int dpc_send_oo(request_rec *r, int status, const char *code, const char *diag)
{
    return dpc_send_body(r, status, DPC_FHIR_JSON, dpc_oo_simple(r->pool, code, diag));
}

int dpc_send_oauth_error(request_rec *r, int status, const char *error, const char *desc)
{
    apr_table_setn(r->headers_out, "Pragma", "no-cache");
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, DPCLOGNO(00130)
                  "token request refused: %s: %s", error, desc);
    return dpc_send_json(r, status, "application/json",
                         json_pack("{s:s, s:s}", "error", error, "error_description",
                                   dpc_utf8_clean(r->pool, desc)));
}

int dpc_send_db_error(request_rec *r)
{
    /* A statement that failed on a live connection will fail again: no
     * Retry-After for that.  No connection at all is worth retrying. */
    const char *why = apr_table_get(r->notes, "dpc-db-failed");

    if (why && !strcmp(why, "statement"))
        return dpc_send_oo(r, HTTP_INTERNAL_SERVER_ERROR, DPC_ISSUE_EXCEPTION,
                           "the request failed in the database (see the server's log)");
    if (why && !strcmp(why, "conflict"))
        return dpc_send_oo(r, HTTP_CONFLICT, DPC_ISSUE_CONFLICT,
                           "the request collided with concurrent changes to the same "
                           "records and was rolled back: nothing was written; try again");
    apr_table_setn(r->headers_out, "Retry-After", "5");
    return dpc_send_oo(r, HTTP_SERVICE_UNAVAILABLE, DPC_ISSUE_TRANSIENT,
                       "the database is not available; try again shortly");
}

int dpc_read_body(request_rec *r, apr_size_t limit, const char **body, apr_size_t *len)
{
    apr_bucket_brigade *all = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t total = 0;
    apr_status_t rv;
    char *buf;
    int eos = 0;

    *body = "";
    *len = 0;
    if (cl && apr_atoi64(cl) > (apr_int64_t)limit) {
        r->connection->keepalive = AP_CONN_CLOSE;     /* do not read it all */
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    while (!eos) {
        apr_bucket *b, *next;

        rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES, APR_BLOCK_READ,
                            HUGE_STRING_LEN);
        if (rv != APR_SUCCESS)   /* LimitRequestBody: 413, a timeout: 408, ... */
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        if (APR_BRIGADE_EMPTY(bb))
            break;
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = next) {
            next = APR_BUCKET_NEXT(b);
            if (APR_BUCKET_IS_EOS(b))
                eos = 1;
            if (APR_BUCKET_IS_METADATA(b))
                apr_bucket_delete(b);
            else if (apr_bucket_setaside(b, r->pool) != APR_SUCCESS)
                return HTTP_BAD_REQUEST;
        }
        APR_BRIGADE_CONCAT(all, bb);
        apr_brigade_length(all, 1, &total);
        if (total > (apr_off_t)limit) {
            r->connection->keepalive = AP_CONN_CLOSE;
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    }
    /* only as much memory as the body needs */
    buf = apr_palloc(r->pool, (apr_size_t)total + 1);
    *len = (apr_size_t)total;
    if (apr_brigade_flatten(all, buf, len) != APR_SUCCESS)
        return HTTP_BAD_REQUEST;
    buf[*len] = '\0';
    *body = buf;
    apr_brigade_destroy(all);
    return OK;
}

int dpc_has_body(request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");

    return apr_table_get(r->headers_in, "Transfer-Encoding") != NULL
           || (cl && apr_atoi64(cl) > 0);
}

int dpc_type_refused(request_rec *r, const char *accepted)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");

    return dpc_send_oo(r, HTTP_UNSUPPORTED_MEDIA_TYPE, DPC_ISSUE_NOT_SUPPORTED,
                       ct ? apr_psprintf(r->pool, "Content-Type %s is not supported: "
                                         "send %s", ct, accepted)
                          : apr_pstrcat(r->pool, "the request has no Content-Type: "
                                        "send ", accepted, NULL));
}

int dpc_json_type_ok(request_rec *r, int *status)
{
    if (dpc_content_type_is(r, "application/fhir+json")
        || dpc_content_type_is(r, "application/json"))
        return 1;
    *status = dpc_type_refused(r, "application/fhir+json (or application/json)");
    return 0;
}

/* Without DPCPublicURL the base is built from ServerName and the port the
 * connection came in on, never from the client's Host header: token
 * audiences are checked against it, and a Host header would let an
 * assertion made for another server be accepted here. */
const char *dpc_base_url(request_rec *r)
{
    dpc_dir_conf *d = dpc_dir(r);
    const char *scheme = ap_http_scheme(r);
    apr_port_t port;

    if (d->public_url)
        return d->public_url;
    port = r->server->port ? r->server->port : r->connection->local_addr->port;
    if (port == ap_default_port(r))
        return apr_pstrcat(r->pool, scheme, "://", r->server->server_hostname,
                           d->base_path, NULL);
    return apr_psprintf(r->pool, "%s://%s:%u%s", scheme, r->server->server_hostname,
                        (unsigned)port, d->base_path);
}

const char *dpc_request_url(request_rec *r)
{
    const char *path = relative_path(r);

    return apr_pstrcat(r->pool, dpc_base_url(r), ap_escape_uri(r->pool, path ? path : ""),
                       r->args ? "?" : "", r->args ? r->args : "", NULL);
}

const char *dpc_query_param(request_rec *r, const char *name)
{
    apr_table_t *args = NULL;

    if (!r->args)
        return NULL;
    ap_args_to_table(r, &args);
    return args ? apr_table_get(args, name) : NULL;
}

int dpc_content_type_is(request_rec *r, const char *type)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    size_t n = strlen(type);

    return ct && !strncasecmp(ct, type, n) && (ct[n] == '\0' || ct[n] == ';'
                                                || ct[n] == ' ');
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
    return dpc_send_json(r, HTTP_OK, DPC_FHIR_JSON,
                         dpc_meta_capability(dpc_conf_dialect(dpc_dir(r)), dpc_base_url(r),
                                             DPC_VERSION, r->request_time));
}

/* SMART discovery is JSON whatever the Accept header asks for. */
static int op_smart_config(request_rec *r)
{
    return dpc_send_json(r, HTTP_OK, "application/json",
                         dpc_meta_smart_config(dpc_conf_dialect(dpc_dir(r)), dpc_base_url(r)));
}

static int dispatch_public(request_rec *r, const dpc_route_match *m)
{
    switch (m->route->op) {
    case DPC_OP_METADATA:
        return op_metadata(r);
    case DPC_OP_SMART_CONFIG:
        return op_smart_config(r);
    case DPC_OP_TOKEN_AUTH:
        return dpc_op_token_auth(r);
    case DPC_OP_TOKEN_VALIDATE:
        return dpc_op_token_validate(r);
    default:
        return DECLINED;
    }
}

static int dispatch(request_rec *r, const dpc_route_match *m, const dpc_principal *who)
{
    const char *id = m->params[0];
    int op = m->route->op;

    if (op >= DPC_OP_PRAC_CREATE && op <= DPC_OP_PRAC_VALIDATE)
        return dpc_op_person(r, op - DPC_OP_PRAC_CREATE, 0, who, id);
    if (op >= DPC_OP_PAT_CREATE && op <= DPC_OP_PAT_VALIDATE)
        return dpc_op_person(r, op - DPC_OP_PAT_CREATE, 1, who, id);
    if (op >= DPC_OP_GROUP_CREATE && op <= DPC_OP_GROUP_REMOVE)
        return dpc_op_group(r, op - DPC_OP_GROUP_CREATE, who, id);
    switch (op) {
    case DPC_OP_TOKEN_LIST:
        return dpc_op_token_list(r, who);
    case DPC_OP_TOKEN_CREATE:
        return dpc_op_token_create(r, who);
    case DPC_OP_TOKEN_READ:
        return dpc_op_token_read(r, who, id);
    case DPC_OP_TOKEN_DELETE:
        return dpc_op_token_delete(r, who, id);
    case DPC_OP_KEY_LIST:
        return dpc_op_key_list(r, who);
    case DPC_OP_KEY_CREATE:
        return dpc_op_key_create(r, who);
    case DPC_OP_KEY_READ:
        return dpc_op_key_read(r, who, id);
    case DPC_OP_KEY_DELETE:
        return dpc_op_key_delete(r, who, id);
    case DPC_OP_EXPORT:
        return dpc_op_export(r, who, id);
    case DPC_OP_JOB_STATUS:
        return dpc_op_job_status(r, who, id);
    case DPC_OP_JOB_CANCEL:
        return dpc_op_job_cancel(r, who, id);
    case DPC_OP_PAT_EVERYTHING:
        return dpc_op_everything(r, who, id);
    case DPC_OP_ORG_SEARCH:
        return dpc_op_org_search(r, who);
    case DPC_OP_ORG_READ:
        return dpc_op_org_read(r, who, id);
    default:
        return dpc_send_oo(r, HTTP_NOT_IMPLEMENTED, DPC_ISSUE_NOT_SUPPORTED,
                           "this operation is not implemented");
    }
}

int dpc_handler(request_rec *r)
{
    dpc_route_match m;
    const dpc_principal *who;
    const char *path;
    int status;

    if (!r->handler || strcmp(r->handler, DPC_HANDLER))
        return DECLINED;
    path = relative_path(r);
    if (!path)
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such route");
    switch (dpc_route_find(r->pool, dpc_conf_dialect(dpc_dir(r)), path, method_bit(r), &m)) {
    case DPC_ROUTE_NOT_FOUND:
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND,
                           apr_psprintf(r->pool, "no such route: %s %s", r->method, path));
    case DPC_ROUTE_BAD_METHOD:
        apr_table_setn(r->headers_out, "Allow", dpc_route_allow(r->pool, m.allowed));
        return dpc_send_oo(r, HTTP_METHOD_NOT_ALLOWED, DPC_ISSUE_NOT_SUPPORTED,
                           apr_psprintf(r->pool, "%s is not allowed here; allowed: %s",
                                        r->method, dpc_route_allow(r->pool, m.allowed)));
    case DPC_ROUTE_FOUND:
        break;
    }
    if (m.route->flags & DPC_ROUTE_PUBLIC)
        return dispatch_public(r, &m);
    if (!(who = dpc_authenticate(r, &status)))
        return status;
    if ((m.route->flags & DPC_ROUTE_WRITE) && !dpc_scope_can_write(who->scope))
        return dpc_send_oo(r, HTTP_FORBIDDEN, DPC_ISSUE_FORBIDDEN,
                           apr_psprintf(r->pool, "the access token's scope (%s) does not "
                                        "allow changes; request system/*.*", who->scope));
    return dispatch(r, &m, who);
}
