/* mod_dpc_discovery.c: the CapabilityStatement and SMART configuration of
 * a <Location>'s dialect, built by the core from what its routes serve. */
#include "mod_dpc_discovery.h"

#include <http_protocol.h>
#include <apr_strings.h>

#include "dpc_fhir.h"
#include "dpc_job.h"
#include "dpc_meta.h"
#include "mod_dpc_db.h"
#include "mod_dpc_respond.h"

#define DPC_Q_HEALTH "dpc_health"

/* Workers alive: heartbeat fresher than the staleness after which their
 * batches are claimed again (as server-status counts them). */
const dpc_statement dpc_discovery_statements[] = {
    { DPC_Q_HEALTH,
      "SELECT count(*) FROM worker WHERE stopped_at IS NULL"
      " AND heartbeat > now() - make_interval(secs => %s::int)" },
    { NULL, NULL }
};

int dpc_op_metadata(request_rec *r, const dpc_call *call)
{
    (void)call;
    return dpc_send_json(r, HTTP_OK, DPC_FHIR_JSON,
                         dpc_meta_capability(dpc_conf_dialect(dpc_dir(r)), dpc_base_url(r),
                                             DPC_VERSION, r->request_time));
}

/* SMART discovery is JSON whatever the Accept header asks for. */
int dpc_op_smart_config(request_rec *r, const dpc_call *call)
{
    (void)call;
    return dpc_send_json(r, HTTP_OK, "application/json",
                         dpc_meta_smart_config(dpc_conf_dialect(dpc_dir(r)), dpc_base_url(r)));
}

int dpc_op_operation_def(request_rec *r, const dpc_call *call)
{
    json_t *od = dpc_meta_operation(dpc_conf_dialect(dpc_dir(r)), dpc_base_url(r), call->id);

    if (!od)
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND,
                           "no such OperationDefinition");
    return dpc_send_json(r, HTTP_OK, DPC_FHIR_JSON, od);
}

/* For operators: what is running here. */
int dpc_op_version(request_rec *r, const dpc_call *call)
{
    (void)call;
    return dpc_send_json(r, HTTP_OK, "application/json",
                         json_pack("{s:s, s:s}", "version", DPC_VERSION,
                                   "dialect", dpc_conf_dialect(dpc_dir(r))->name));
}

/* For operators and load balancers: 200 when the database answers and an
 * export worker is alive, else 503 saying which is not. */
int dpc_op_health(request_rec *r, const dpc_call *call)
{
    const char *arg = apr_itoa(r->pool, DPC_JOB_STALE_SECS), *n = NULL;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    int db_ok, workers;

    (void)call;
    db_ok = (db = dpc_db(r)) != NULL && !dpc_db_select(r, db, DPC_Q_HEALTH, &res, 1, &arg)
            && (row = dpc_db_row(r, db, res, 0)) != NULL
            && (n = dpc_db_col(r, db, row, 0)) != NULL;
    workers = db_ok ? atoi(n) : 0;
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    return dpc_send_json(r, db_ok && workers > 0 ? HTTP_OK : HTTP_SERVICE_UNAVAILABLE,
                         "application/json",
                         json_pack("{s:s, s:s, s:i}", "status",
                                   db_ok && workers > 0 ? "ok" : "unavailable",
                                   "database", db_ok ? "ok" : "unreachable",
                                   "workers_alive", workers));
}

/* GET swagger.json: the OpenAPI description of this Location's routes. */
int dpc_op_openapi(request_rec *r, const dpc_call *call)
{
    (void)call;
    return dpc_send_json(r, HTTP_OK, "application/json",
                         dpc_meta_openapi(dpc_conf_dialect(dpc_dir(r)), dpc_base_url(r),
                                          DPC_VERSION));
}

/* GET swagger: the same description as a page for people, one row per
 * route, from the same document. */
int dpc_op_openapi_page(request_rec *r, const dpc_call *call)
{
    json_t *doc = dpc_meta_openapi(dpc_conf_dialect(dpc_dir(r)), dpc_base_url(r),
                                   DPC_VERSION), *item, *op;
    const char *path, *method;

    (void)call;
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rprintf(r, "<!DOCTYPE html>\n<html><head><title>%s: API</title></head><body>\n"
               "<h1>%s</h1>\n<p>Base URL: <code>%s</code>. OpenAPI 3.0: "
               "<a href=\"swagger.json\">swagger.json</a>.</p>\n<table>\n"
               "<tr><th>method</th><th>path</th><th>access token</th></tr>\n",
               ap_escape_html(r->pool, json_string_value(json_object_get(
                   json_object_get(doc, "info"), "title"))),
               ap_escape_html(r->pool, json_string_value(json_object_get(
                   json_object_get(doc, "info"), "title"))),
               ap_escape_html(r->pool, dpc_base_url(r)));
    json_object_foreach(json_object_get(doc, "paths"), path, item) {
        json_object_foreach(item, method, op) {
            ap_rprintf(r, "<tr><td>%s</td><td><code>%s</code></td><td>%s</td></tr>\n",
                       ap_escape_html(r->pool, method), ap_escape_html(r->pool, path),
                       json_array_size(json_object_get(op, "security")) ? "required" : "no");
        }
    }
    ap_rputs("</table>\n</body></html>\n", r);
    json_decref(doc);
    return OK;
}

/* GET StructureDefinition/{id}: the profiles the CapabilityStatement names
 * and the writes are checked against. */
int dpc_op_profile(request_rec *r, const dpc_call *call)
{
    json_t *sd = dpc_meta_profile(dpc_conf_dialect(dpc_dir(r)), dpc_base_url(r), call->id);

    if (!sd)
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND,
                           "no such StructureDefinition");
    return dpc_send_json(r, HTTP_OK, DPC_FHIR_JSON, sd);
}
