/* mod_dpc_bcda.c: see mod_dpc_bcda.h.
 *
 * Credentials are BCDA's: a client id (the bcda_credential row's id) and a
 * secret kept only as a PBKDF2 hash (dpc_secret.h).  An access token is the
 * same self-contained token DPC issues (dpc_token.h) with the audience
 * "bcda"; unlike DPC's, every bearer request also looks its credential up
 * (one indexed row), so expiry, rotation, deletion and the address
 * allow-list hold at once on every host. */
#include "mod_dpc_bcda.h"

#include <http_core.h>
#include <http_protocol.h>
#include <util_script.h>
#include <apr_strings.h>

#include "dpc_export_req.h"
#include "dpc_fhir.h"
#include "dpc_header.h"
#include "dpc_log.h"
#include "dpc_pg.h"
#include "dpc_res.h"
#include "dpc_type_filter.h"
#include "mod_dpc_export.h"
#include "mod_dpc_respond.h"

/* dpc_bcda_export_start: one text column, the JSON of the outcome. */
#define SQL_EXPORT_START                                                            \
    DPC_SQL_WHO "SELECT dpc_bcda_export_start(%s::uuid, %s, %s, %s::smallint, %s,"  \
    " %s::text[], to_timestamp(%s::bigint / 1e6), to_timestamp(%s::bigint / 1e6),"  \
    " %s::jsonb, %s::int, %s::int, %s::boolean,"                                      \
    " make_interval(secs => %s::bigint), %s::boolean)::text"                          \
    " FROM who, " DPC_SQL_OUTPUT_OPTIONS

/* dpc_bcda_cancel: the job's status before, and 1 when this cancelled it. */
enum { CANCEL_STATUS, CANCEL_DONE, CANCEL_ID };
#define SQL_CANCEL                                                                  \
    DPC_SQL_WHO ", j AS (SELECT id, status FROM export_job"                        \
    "  WHERE number = %s::bigint AND org_id = %s::uuid),"                          \
    " u AS (UPDATE export_job e SET status = 'cancelled' FROM j, who"               \
    "  WHERE e.id = j.id AND j.status = 'running' RETURNING e.id)"                  \
    " SELECT j.status, (SELECT count(*) FROM u), j.id FROM j"

/* dpc_bcda_jobs: the ACO's jobs of this dialect, newest first, in BCDA's
 * status words ($3: those wanted, or NULL for all). */
enum { JOBS_NUMBER, JOBS_STATUS, JOBS_REQUEST, JOBS_CREATED, JOBS_UPDATED };
#define SQL_JOBS                                                                    \
    "SELECT number, s.word, request_url,"                                           \
    " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"   \
    " to_char(coalesce(completed_at, created_at) AT TIME ZONE 'UTC',"               \
    "         'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"                                   \
    " FROM export_job j, LATERAL (SELECT CASE"                                      \
    "   WHEN j.status = 'running' AND NOT EXISTS (SELECT 1 FROM export_batch b"     \
    "        WHERE b.job_id = j.id AND b.claimed_at IS NOT NULL) THEN 'Pending'"    \
    "   WHEN j.status = 'running' THEN 'In Progress'"                              \
    "   WHEN j.status = 'completed' AND j.expires_at < now() THEN 'Expired'"        \
    "   WHEN j.status = 'completed' THEN 'Completed'"                               \
    "   WHEN j.status = 'failed' THEN 'Failed' ELSE 'Cancelled' END AS word) s"     \
    " WHERE org_id = %s::uuid AND dialect = %s AND population IS NOT NULL"          \
    "   AND (%s::text[] IS NULL OR s.word = ANY (%s::text[]))"                      \
    " ORDER BY number DESC"

enum { ATTR_KIND, ATTR_AT };
#define SQL_ATTRIBUTION                                                             \
    "SELECT kind, to_char(loaded_at AT TIME ZONE 'UTC',"                            \
    " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM aco_attribution"                    \
    " WHERE org_id = %s::uuid ORDER BY kind"

const dpc_statement dpc_bcda_statements[] = {
    { "dpc_bcda_export_start", SQL_EXPORT_START },
    { "dpc_bcda_cancel", SQL_CANCEL },
    { "dpc_bcda_jobs", SQL_JOBS },
    { "dpc_bcda_attribution", SQL_ATTRIBUTION },
    { "dpc_bcda_ping", "SELECT 1" },
    { NULL, NULL }
};

/* ---- /_version, /_health, /_auth -------------------------------------------------- */

int dpc_op_bcda_version(request_rec *r, const dpc_call *call)
{
    (void)call;
    return dpc_send_json(r, HTTP_OK, "application/json",
                         json_pack("{s:s}", "version", DPC_VERSION));
}

int dpc_op_bcda_health(request_rec *r, const dpc_call *call)
{
    apr_dbd_results_t *res;
    ap_dbd_t *db;

    (void)call;
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, "dpc_bcda_ping", &res, 0, NULL)
        || !dpc_db_row(r, db, res, 0))
        return dpc_send_json(r, HTTP_BAD_GATEWAY, "application/json",
                             json_pack("{s:s}", "database", "database ping error"));
    return dpc_send_json(r, HTTP_OK, "application/json", json_pack("{s:s}", "database", "ok"));
}

int dpc_op_bcda_auth_info(request_rec *r, const dpc_call *call)
{
    (void)call;
    return dpc_send_json(r, HTTP_OK, "application/json",
                         json_pack("{s:s, s:s}", "auth_provider", "mod_dpc",
                                   "version", DPC_VERSION));
}

/* ---- kick-offs ----------------------------------------------------------------------- */

/* Accept and Prefer, both required (lists, any case, with parameters); 0,
 * or -1 after the 400. */
static int kickoff_headers(request_rec *r)
{
    const char *accept = apr_table_get(r->headers_in, "Accept"),
               *prefer = apr_table_get(r->headers_in, "Prefer"), *msg = NULL;

    if (!accept)
        msg = "Accept header is required";
    else if (!dpc_header_has(r->pool, accept, "application/fhir+json"))
        msg = "application/fhir+json is the only supported response format";
    else if (!prefer)
        msg = "Prefer header is required";
    else if (!dpc_header_has(r->pool, prefer, "respond-async"))
        msg = "Only asynchronous responses are supported";
    if (!msg)
        return 0;
    dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_INVALID, msg);
    return -1;
}

/* The Bulk Data parameters BCDA does not take (there is no lenient
 * handling to ignore them; `patient` needs a POST, which BCDA has not).
 * _typeFilter and _until are taken, where the real server ignores them
 * (a bug its users meet: bcda-ab2d-behaviour A6). */
static int unsupported(const char *name)
{
    return !strcmp(name, "_elements") || !strcmp(name, "patient")
           || !strcmp(name, "includeAssociatedData");
}

/* What BCDA does not take among the query's parameters, refused in its
 * words. */
static const char *bcda_screen(request_rec *r, const char *name)
{
    if (name[0] == '?')
        return "Invalid parameter: query parameters cannot start with ?";
    if (unsupported(name))
        return apr_psprintf(r->pool, "Invalid parameter: this server does not support "
                            "the %s parameter.", name);
    return NULL;
}

/* The resource type of a "{Type}/$export" route: the path's segment before
 * "/$export". */
static const char *route_type(request_rec *r)
{
    const char *end = strstr(r->uri, "/$export"), *s = end;

    while (s && s > r->uri && s[-1] != '/')
        s--;
    return s ? apr_pstrmemdup(r->pool, s, (apr_size_t)(end - s)) : NULL;
}

/* dpc_bcda_export_start's arguments, in SQL_EXPORT_START's order. */
enum { START_ACTOR, START_ADDRESS, START_ORG, START_POPULATION, START_DIALECT, START_FHIR,
       START_URL, START_TYPES, START_SINCE, START_UNTIL, START_FILTER, START_BATCH,
       START_PER_FILE, START_GZIP, START_LIFETIME, START_ENCRYPT, START_PARTIAL,
       START_ORGANIZE, START_NARGS };

static void start_args(request_rec *r, const dpc_principal *who, const char *population,
                       const dpc_export_req *k, const char *args[START_NARGS])
{
    const dpc_dialect *d = dpc_conf_dialect(dpc_dir(r));

    dpc_db_who(r, who->client_token_id, args + START_ACTOR);
    args[START_ORG] = who->org_id;
    args[START_POPULATION] = population;
    args[START_DIALECT] = d->name;
    args[START_FHIR] = apr_itoa(r->pool, d->fhir_version);
    args[START_URL] = dpc_request_url(r);
    args[START_TYPES] = dpc_pg_text_array(r->pool, (const char *const *)k->types->elts,
                                          k->types->nelts);
    args[START_SINCE] = k->since ? apr_psprintf(r->pool, "%" APR_TIME_T_FMT, k->since) : NULL;
    args[START_UNTIL] = k->until ? apr_psprintf(r->pool, "%" APR_TIME_T_FMT, k->until) : NULL;
    args[START_FILTER] = dpc_type_filter_json(r->pool, k->filter);
    dpc_export_settings(r, args + START_BATCH);
    args[START_ENCRYPT] = dpc_conf_encrypt_files(dpc_dir(r)) ? "true" : "false";
    dpc_export_output_args(k, args + START_PARTIAL);
}

/* Answer dpc_bcda_export_start's outcome. */
static int started(request_rec *r, json_t *result)
{
    const char *e = dpc_jstr(result, "error");
    json_t *n = json_object_get(result, "number");
    const char *number = n ? apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                                          (apr_int64_t)json_integer_value(n)) : NULL;

    if (e && !strcmp(e, "no_attribution"))
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND,
                           "failed to start job; attribution file not found");
    if (e && !strcmp(e, "no_key")) {
        const char *org = apr_table_get(r->notes, "dpc-org");

        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, DPCLOGNO(02010)
                      "BCDA kick-off refused: files are encrypted here (DPCEncryptFiles) "
                      "and organization %s has no key (dpcctl aco-key register)",
                      org ? org : "(unknown)");
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_INVALID,
                           "failed to start job; all data files of this API are encrypted "
                           "for the ACO's RSA public key, and this ACO has none registered: "
                           "have the server's operator register one (PEM, RSA of 2048 bits "
                           "or more) with 'dpcctl aco-key register --aco ACO_ID --file "
                           "public.pem', then kick off again");
    }
    if (e || !number) {
        apr_table_setn(r->headers_out, "Retry-After", "10");
        if (number)
            apr_table_setn(r->headers_out, "Content-Location", dpc_job_url(r, number));
        return dpc_send_oo(r, HTTP_TOO_MANY_REQUESTS, DPC_ISSUE_THROTTLED,
                           "a job of this ACO for the same or overlapping resource types "
                           "is still running: follow its Content-Location");
    }
    apr_table_setn(r->notes, "dpc-job", dpc_jstr(result, "job"));
    apr_table_setn(r->headers_out, "Content-Location", dpc_job_url(r, number));
    r->status = HTTP_ACCEPTED;
    return OK;
}

/* Both kick-offs: Group/{all|runout}/$export (every type by default) and
 * {Type}/$export (that type by default). */
int dpc_op_bcda_export(request_rec *r, const dpc_call *call)
{
    const char *population = "all", *args[START_NARGS], *out, *type = NULL;
    dpc_export_req k;
    dpc_export_req_err err;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;

    if (call->id && strcmp(call->id, "all") && strcmp(call->id, "runout"))
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_INVALID,
                           "Invalid group ID: it must be all or runout");
    if (call->id)
        population = call->id;
    else
        type = route_type(r);
    if (kickoff_headers(r))
        return OK;
    dpc_export_req_init(r->pool, &k, 0, r->request_time);
    k.refuse_repeats = dpc_conf_dialect(dpc_dir(r))->refuse_repeated_type;
    k.until_allowed = dpc_conf_dialect(dpc_dir(r))->until_allowed;
    if (dpc_export_query_params(r, &k, bcda_screen))
        return OK;
    if (type && !k.types->nelts)
        APR_ARRAY_PUSH(k.types, const char *) = type;
    if (dpc_export_req_finish(&k, call->who->scope, &err))
        return dpc_send_oo(r, err.status, err.issue, err.msg);
    start_args(r, call->who, population, &k, args);
    if (!(db = dpc_db(r))
        || dpc_db_select(r, db, "dpc_bcda_export_start", &res, START_NARGS, args)
        || !(row = dpc_db_row(r, db, res, 0)) || !(out = dpc_db_col(r, db, row, 0)))
        return dpc_send_db_error(r);
    return started(r, dpc_json_pool(r->pool, json_loads(out, 0, NULL)));
}

/* ---- jobs ------------------------------------------------------------------------------ */

int dpc_op_bcda_job_cancel(request_rec *r, const dpc_call *call)
{
    const char *args[4];
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    int n;

    if (!dpc_job_number_valid(call->id))
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_INVALID,
                           "a job id is a whole number, as in .../jobs/42");
    n = dpc_db_who(r, call->who->client_token_id, args);
    args[n++] = call->id;
    args[n++] = call->who->org_id;
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, "dpc_bcda_cancel", &res, n, args))
        return dpc_send_db_error(r);
    if (!(row = dpc_db_row(r, db, res, 0)))
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such job");
    apr_table_setn(r->notes, "dpc-job", dpc_db_col(r, db, row, CANCEL_ID));
    if (strcmp(dpc_db_col(r, db, row, CANCEL_DONE), "1"))
        return dpc_send_oo(r, HTTP_GONE, DPC_ISSUE_NOT_FOUND, "job was not cancelled "
                           "because it is not Pending or In Progress");
    r->status = HTTP_ACCEPTED;
    return OK;
}

/* The _status list as a text[] literal, into *out (NULL: every job); 0, or
 * -1 after the 400. */
static int status_filter(request_rec *r, const char **out)
{
    static const char *const words[] = {
        "Completed", "Archived", "Expired", "Failed", "FailedExpired", "Pending",
        "In Progress", "Cancelled", "CancelledExpired", NULL
    };
    const char *v = dpc_query_param(r, "_status");
    apr_array_header_t *a = apr_array_make(r->pool, 4, sizeof(const char *));
    char *copy, *s, *state = NULL;
    int i, j;

    *out = NULL;
    if (!v)
        return 0;
    copy = apr_pstrdup(r->pool, v);
    for (s = apr_strtok(copy, ",", &state); s; s = apr_strtok(NULL, ",", &state)) {
        for (i = 0; words[i] && strcmp(words[i], s); i++)
            ;
        for (j = 0; j < a->nelts && strcmp(APR_ARRAY_IDX(a, j, const char *), s); j++)
            ;
        if (!words[i] || j < a->nelts) {
            dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_INVALID, apr_psprintf(r->pool,
                        words[i] ? "Repeated status type %s" : "invalid status type %s",
                        dpc_utf8_clean(r->pool, s)));
            return -1;
        }
        APR_ARRAY_PUSH(a, const char *) = s;
    }
    *out = dpc_pg_text_array(r->pool, (const char *const *)a->elts, a->nelts);
    return 0;
}

/* A dpc_bcda_jobs row as a Bundle entry holding a Task. */
static json_t *task_entry(request_rec *r, ap_dbd_t *db, apr_dbd_row_t *row)
{
    static const struct { const char *word, *task; } map[] = {
        { "Pending", "accepted" }, { "In Progress", "in-progress" },
        { "Completed", "completed" }, { "Expired", "completed" },
        { "Failed", "failed" }, { "Cancelled", "cancelled" },
    };
    const char *word = dpc_db_col(r, db, row, JOBS_STATUS), *task = "cancelled";
    size_t i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(map[i].word, word))
            task = map[i].task;
    return json_pack("{s:{s:s, s:[{s:s, s:s, s:s}], s:s, s:s, s:[{s:{s:s}, s:s}],"
                     " s:{s:s, s:s}}}", "resource", "resourceType", "Task",
                     "identifier", "use", "official", "system",
                     apr_pstrcat(r->pool, dpc_base_url(r), "/jobs", NULL),
                     "value", dpc_db_col(r, db, row, JOBS_NUMBER),
                     "status", task, "intent", "order",
                     "input", "type", "text", "BULK FHIR Export", "valueString",
                     apr_pstrcat(r->pool, "GET ", dpc_db_col(r, db, row, JOBS_REQUEST), NULL),
                     "executionPeriod", "start", dpc_db_col(r, db, row, JOBS_CREATED),
                     "end", dpc_db_col(r, db, row, JOBS_UPDATED));
}

int dpc_op_bcda_job_list(request_rec *r, const dpc_call *call)
{
    const char *args[4], *filter;
    apr_dbd_results_t *res;
    ap_dbd_t *db;
    json_t *entries;
    int i, n;

    if (kickoff_headers(r) || status_filter(r, &filter))
        return OK;
    args[0] = call->who->org_id;
    args[1] = dpc_conf_dialect(dpc_dir(r))->name;
    args[2] = args[3] = filter;
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, "dpc_bcda_jobs", &res, 4, args))
        return dpc_send_db_error(r);
    n = dpc_db_nrows(db, res);
    entries = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(entries, task_entry(r, db, dpc_db_row(r, db, res, i)));
    return dpc_send_json(r, HTTP_OK, "application/json",
                         json_pack("{s:s, s:s, s:i, s:o}", "resourceType", "Bundle",
                                   "type", "searchset", "total", n, "entry", entries));
}

int dpc_op_bcda_attribution_status(request_rec *r, const dpc_call *call)
{
    const char *org = call->who->org_id;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    json_t *dates;
    int i;

    if (!(db = dpc_db(r)) || dpc_db_select(r, db, "dpc_bcda_attribution", &res, 1, &org))
        return dpc_send_db_error(r);
    dates = dpc_json_pool(r->pool, json_array());
    for (i = 0; (row = dpc_db_row(r, db, res, i)) != NULL; i++)
        json_array_append_new(dates, json_pack("{s:s, s:s}", "timestamp",
                              dpc_db_col(r, db, row, ATTR_AT), "type",
                              strcmp(dpc_db_col(r, db, row, ATTR_KIND), "runout")
                              ? "last_attribution_update" : "last_runout_update"));
    if (!json_array_size(dates))
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND,
                           "no attribution has been loaded for this ACO");
    return dpc_send_json(r, HTTP_OK, "application/json",
                         json_pack("{s:O}", "ingestion_dates", dates));
}
