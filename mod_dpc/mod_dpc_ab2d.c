/* mod_dpc_ab2d.c: see mod_dpc_ab2d.h.
 *
 * A Part D sponsor's credential belongs to one contract; a kick-off
 * exports that contract's enrollees (dpc_ab2d_export_start, one
 * statement), and the workers give them only what AB2D may: Part A and B
 * ExplanationOfBenefits of the months enrolled, from 2020 and the
 * contract's attestation on (dpc_job.c). */
#include "mod_dpc_ab2d.h"

#include <http_core.h>
#include <http_protocol.h>
#include <apr_strings.h>

#include "dpc_export_req.h"
#include "dpc_fhir.h"
#include "dpc_pg.h"
#include "dpc_res.h"
#include "dpc_token.h"
#include "mod_dpc_export.h"
#include "mod_dpc_respond.h"

/* The earliest _since AB2D takes: 2020-02-13T00:00:00-05:00. */
#define AB2D_SINCE_MIN APR_TIME_C(1581570000000000)
#define AB2D_SINCE_MIN_TEXT "2020-02-13T00:00:00-05:00"
#define EOB "ExplanationOfBenefit"

/* dpc_ab2d_export_start: one text column, the JSON of the outcome. */
#define SQL_EXPORT_START                                                            \
    DPC_SQL_WHO "SELECT dpc_ab2d_export_start(%s::uuid, %s, %s, %s::smallint, %s,"  \
    " to_timestamp(%s::bigint / 1e6), to_timestamp(%s::bigint / 1e6),"              \
    " %s::int, %s::int, %s::boolean,"                                               \
    " make_interval(secs => %s::bigint))::text FROM who"

/* dpc_ab2d_cancel: the job's status before, and 1 when this cancelled it. */
enum { CANCEL_STATUS, CANCEL_DONE };
#define SQL_CANCEL                                                                  \
    DPC_SQL_WHO ", j AS (SELECT id, status FROM export_job"                        \
    "  WHERE id = %s::uuid AND org_id = %s::uuid),"                                \
    " u AS (UPDATE export_job e SET status = 'cancelled' FROM j, who"               \
    "  WHERE e.id = j.id AND j.status = 'running' RETURNING e.id)"                  \
    " SELECT j.status, (SELECT count(*) FROM u) FROM j"

const dpc_statement dpc_ab2d_statements[] = {
    { "dpc_ab2d_export_start", SQL_EXPORT_START },
    { "dpc_ab2d_cancel", SQL_CANCEL },
    { "dpc_ab2d_ping", "SELECT 1" },
    { NULL, NULL }
};

/* ---- /health, /status ------------------------------------------------------------- */

/* 200 with no body while the database answers, else 500 (AB2D's). */
int dpc_op_ab2d_health(request_rec *r, const dpc_call *call)
{
    apr_dbd_results_t *res;
    ap_dbd_t *db;

    (void)call;
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, "dpc_ab2d_ping", &res, 0, NULL)
        || !dpc_db_row(r, db, res, 0))
        return dpc_send_oo(r, HTTP_INTERNAL_SERVER_ERROR, DPC_ISSUE_TRANSIENT,
                           "the database does not answer");
    apr_table_setn(r->headers_out, "Content-Length", "0");
    return OK;
}

/* Never in maintenance: there is no such mode here. */
int dpc_op_ab2d_status(request_rec *r, const dpc_call *call)
{
    (void)call;
    return dpc_send_json(r, HTTP_OK, "application/json",
                         json_pack("{s:s}", "maintenanceMode", "false"));
}

/* ---- kick-off ----------------------------------------------------------------------- */

/* The parameters AB2D refuses by name alone, in its words; NULL takes it.
 * _typeFilter: an AB2D export is one type already narrowed to what the
 * contract may have, so a filter has nothing left to choose from; the
 * Bulk Data IG's next version's output options are not AB2D's. */
static const char *ab2d_screen(request_rec *r, const char *name)
{
    if (!strcmp(name, "_until") && !dpc_conf_dialect(dpc_dir(r))->until_allowed)
        return "The _until parameter is only available with version 2 and version 3 "
               "of the API";
    if (!strcmp(name, "_typeFilter"))
        return "_typeFilter is not supported by AB2D: its exports are ExplanationOfBenefit "
               "only, already limited to the contract's Part A and B claims";
    if (!strcmp(name, "allowPartialManifests") || !strcmp(name, "organizeOutputBy"))
        return apr_pstrcat(r->pool, name, " is not supported by AB2D: poll the job's "
                           "$status until it answers 200 with the whole manifest", NULL);
    return NULL;
}

/* The rules AB2D adds to the shared parser's: EOB only, and no _since
 * before its floor.  0, or -1 after the 400. */
static int ab2d_rules(request_rec *r, dpc_export_req *k)
{
    const char *msg = NULL;

    if (k->types->nelts == 0)
        APR_ARRAY_PUSH(k->types, const char *) = EOB;
    if (k->types->nelts != 1 || strcmp(APR_ARRAY_IDX(k->types, 0, const char *), EOB))
        msg = "_type must be " EOB;
    else if (k->since && k->since < AB2D_SINCE_MIN)
        msg = "_since must be after " AB2D_SINCE_MIN_TEXT;
    if (!msg)
        return 0;
    dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_INVALID, msg);
    return -1;
}

/* dpc_ab2d_export_start's arguments, in SQL_EXPORT_START's order. */
enum { START_ACTOR, START_ADDRESS, START_CREDENTIAL, START_CONTRACT, START_DIALECT,
       START_FHIR, START_URL, START_SINCE, START_UNTIL, START_BATCH, START_PER_FILE,
       START_GZIP, START_LIFETIME, START_NARGS };

static void start_args(request_rec *r, const dpc_call *call, const dpc_export_req *k,
                       const char *args[START_NARGS])
{
    const dpc_dialect *d = dpc_conf_dialect(dpc_dir(r));

    dpc_db_who(r, call->who->client_token_id, args + START_ACTOR);
    args[START_CREDENTIAL] = call->who->client_token_id;
    args[START_CONTRACT] = call->id;
    args[START_DIALECT] = d->name;
    args[START_FHIR] = apr_itoa(r->pool, d->fhir_version);
    args[START_URL] = dpc_request_url(r);
    args[START_SINCE] = k->since ? apr_psprintf(r->pool, "%" APR_TIME_T_FMT, k->since) : NULL;
    args[START_UNTIL] = k->until ? apr_psprintf(r->pool, "%" APR_TIME_T_FMT, k->until) : NULL;
    dpc_export_settings(r, args + START_BATCH);
}

/* 429 with AB2D's message, Retry-After and the running jobs' status URLs
 * in one Content-Location, ", "-separated. */
static int too_many(request_rec *r, json_t *jobs)
{
    const char *list = NULL;
    size_t i;

    for (i = 0; i < json_array_size(jobs); i++) {
        const char *url = dpc_job_url(r, json_string_value(json_array_get(jobs, i)));

        list = list ? apr_pstrcat(r->pool, list, ", ", url, NULL) : url;
    }
    apr_table_setn(r->headers_out, "Retry-After", "5");
    if (list)
        apr_table_setn(r->headers_out, "Content-Location", list);
    return dpc_send_oo(r, HTTP_TOO_MANY_REQUESTS, DPC_ISSUE_THROTTLED,
                       "You already have active export requests in progress. Please wait "
                       "until they complete before submitting a new one.");
}

/* Answer dpc_ab2d_export_start's outcome. */
static int started(request_rec *r, json_t *result)
{
    const char *e = dpc_jstr(result, "error"), *job = dpc_jstr(result, "job");

    if (e && !strcmp(e, "not_yours"))
        return dpc_send_oo(r, HTTP_FORBIDDEN, DPC_ISSUE_FORBIDDEN,
                           "this contract is not the one of your credential");
    if (e || !job)
        return too_many(r, json_object_get(result, "jobs"));
    apr_table_setn(r->notes, "dpc-job", job);
    apr_table_setn(r->headers_out, "Content-Location", dpc_job_url(r, job));
    r->status = HTTP_ACCEPTED;
    return OK;
}

/* Patient/$export (the caller's contract) and Group/{contract}/$export
 * (which must be the caller's).  Accept and Prefer are not required, as
 * AB2D does not enforce them. */
int dpc_op_ab2d_export(request_rec *r, const dpc_call *call)
{
    const char *args[START_NARGS], *out;
    dpc_export_req k;
    dpc_export_req_err err;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;

    dpc_export_req_init(r->pool, &k, 0, r->request_time);
    k.refuse_repeats = dpc_conf_dialect(dpc_dir(r))->refuse_repeated_type;
    k.until_allowed = dpc_conf_dialect(dpc_dir(r))->until_allowed;
    if (dpc_export_query_params(r, &k, ab2d_screen) || ab2d_rules(r, &k))
        return OK;
    if (dpc_export_req_finish(&k, call->who->scope, &err))
        return dpc_send_oo(r, err.status, err.issue, err.msg);
    start_args(r, call, &k, args);
    if (!(db = dpc_db(r))
        || dpc_db_select(r, db, "dpc_ab2d_export_start", &res, START_NARGS, args)
        || !(row = dpc_db_row(r, db, res, 0)) || !(out = dpc_db_col(r, db, row, 0)))
        return dpc_send_db_error(r);
    return started(r, dpc_json_pool(r->pool, json_loads(out, 0, NULL)));
}

/* ---- cancel --------------------------------------------------------------------------- */

int dpc_op_ab2d_job_cancel(request_rec *r, const dpc_call *call)
{
    const char *args[4];
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    int n;

    if (!dpc_uuid_is_valid(call->id))
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such job");
    n = dpc_db_who(r, call->who->client_token_id, args);
    args[n++] = call->id;
    args[n++] = call->who->org_id;
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, "dpc_ab2d_cancel", &res, n, args))
        return dpc_send_db_error(r);
    if (!(row = dpc_db_row(r, db, res, 0)))
        return dpc_not_ours(r, db, "dpc_job_anyones", args + n - 2, 1) ? OK
               : dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such job");
    apr_table_setn(r->notes, "dpc-job", call->id);
    if (strcmp(dpc_db_col(r, db, row, CANCEL_DONE), "1"))
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_INVALID,
                           apr_psprintf(r->pool, "Job has a status of %s, so it cannot be "
                                        "cancelled", dpc_db_col(r, db, row, CANCEL_STATUS)));
    apr_table_setn(r->headers_out, "Content-Length", "0");
    r->status = HTTP_ACCEPTED;
    return OK;
}
