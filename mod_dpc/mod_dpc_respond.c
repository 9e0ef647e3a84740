/* mod_dpc_respond.c: see mod_dpc_respond.h. */
#include "mod_dpc_respond.h"

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_script.h>
#include <apr_strings.h>

#include "dpc_fhir.h"
#include "dpc_log.h"

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

const char *dpc_host_url(request_rec *r)
{
    const char *base = dpc_base_url(r), *auth = strstr(base, "://"), *path;

    path = auth ? strchr(auth + 3, '/') : NULL;
    return path ? apr_pstrmemdup(r->pool, base, (apr_size_t)(path - base)) : base;
}

const char *dpc_data_url(request_rec *r)
{
    return apr_pstrcat(r->pool, dpc_conf_dialect(dpc_dir(r))->data_on_host
                                ? dpc_host_url(r) : dpc_base_url(r), "/data", NULL);
}

const char *dpc_request_url(request_rec *r)
{
    const char *path = dpc_relative_path(r);

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

const char *dpc_relative_path(request_rec *r)
{
    const char *base = dpc_dir(r)->base_path;
    size_t n = strlen(base);

    if (strcmp(base, "/") == 0)
        return r->uri;
    if (strncmp(r->uri, base, n) || (r->uri[n] && r->uri[n] != '/'))
        return NULL;
    return r->uri + n;
}

