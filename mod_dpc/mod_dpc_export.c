/* mod_dpc_export.c: Bulk Data export (FHIR Bulk Data IG v2): the kick-offs
 * on Group/{id}/$export, Patient/$export and the system-level $export, job
 * status and cancel on Jobs/{id}, and the download of files, which httpd's
 * own handler serves after our check.
 *
 * The kick-off only records the job and its batches of beneficiaries (one
 * statement, dpc_export_start) and wakes the workers; it never reads
 * claims. */
#include "mod_dpc_export.h"

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_script.h>
#include <apr_strings.h>

#include "dpc_export.h"
#include "dpc_export_req.h"
#include "dpc_fhir.h"
#include "dpc_header.h"
#include "dpc_log.h"
#include "dpc_manifest.h"
#include "dpc_pg.h"
#include "dpc_res.h"
#include "dpc_token.h"
#include "dpc_type_filter.h"
#include "mod_dpc_auth.h"
#include "mod_dpc_respond.h"

#define USEC DPC_SQL_USEC
#define KICKOFF_BODY_LIMIT (64 * 1024)
#define NDJSON "application/fhir+ndjson"

/* The statements, each with the names of its result columns beside it. */

/* dpc_export_start: one text column, the JSON of the outcome. */
enum { STARTED_JSON };
#define SQL_EXPORT_START                                                            \
    DPC_SQL_WHO "SELECT dpc_export_start(%s::uuid, %s::uuid, %s, %s, %s::smallint, %s," \
    " %s::text[], to_timestamp(%s::bigint / 1e6), to_timestamp(%s::bigint / 1e6),"  \
    " %s::jsonb, %s::text[], %s::boolean, %s::text[], %s::int, %s::int,"            \
    " %s::boolean, make_interval(secs => %s::bigint))::text FROM who, " DPC_SQL_OUTPUT_OPTIONS

/* dpc_job_get (by id) and dpc_job_get_n (by number, BCDA's job ids): a
 * job of the organization. */
enum { JOB_STATUS, JOB_REQUEST_URL, JOB_TRANSACTION_TIME, JOB_BATCHES_TOTAL,
       JOB_BATCHES_DONE, JOB_ERROR, JOB_EXPIRES_AT, JOB_EXPIRED, JOB_ID, JOB_NUMBER,
       JOB_BATCHES_CLAIMED,
       JOB_ALLOW_PARTIAL, JOB_ORGANIZE_BY, JOB_FILES_LISTED };
#define SQL_JOB_GET(where)                                                          \
    "SELECT j.status, j.request_url, " USEC("j.transaction_time") ", j.batches_total," \
    " (SELECT count(*) FROM export_batch b WHERE b.job_id = j.id AND b.status = 'done')," \
    " j.error, " USEC("j.expires_at") ", (j.expires_at < now())::int, j.id, j.number," \
    " (SELECT count(*) FROM export_batch b WHERE b.job_id = j.id"                  \
    "   AND b.claimed_at IS NOT NULL),"                                              \
    " j.allow_partial::int, j.organize_by, j.files_listed"                          \
    " FROM export_job j WHERE " where " AND j.org_id = %s::uuid"

/* dpc_job_files: a job's files, in the manifest's order. */
enum { FILE_NAME, FILE_TYPE, FILE_COUNT, FILE_BYTES, FILE_SHA256, FILE_ENCRYPTED_KEY };
#define SQL_JOB_FILES                                                               \
    "SELECT name, type, count, bytes, sha256, encrypted_key FROM export_file"      \
    " WHERE job_id = %s::uuid"                                                       \
    " ORDER BY type, batch_seq, name"

/* dpc_job_files_page: the files at list places [$2, $2 + $3), in order:
 * a page of a partial manifest (the columns of dpc_job_files). */
#define SQL_JOB_FILES_PAGE                                                          \
    "SELECT name, type, count, bytes, sha256, encrypted_key FROM export_file"      \
    " WHERE job_id = %s::uuid"                                                       \
    " AND ordinal >= %s::int AND ordinal < %s::int + %s::int ORDER BY ordinal"

/* dpc_job_cancel: a row (the job's id) when the job was cancelled. */
#define SQL_JOB_CANCEL                                                              \
    DPC_SQL_WHO "UPDATE export_job SET status = 'cancelled' FROM who"               \
    " WHERE id = %s::uuid AND org_id = %s::uuid"                                     \
    " AND status IN ('running', 'completed') RETURNING id"

/* dpc_file_owner (by job id) and dpc_file_owner_n (by job number): the
 * job of a file, if the organization owns it, and what the file holds. */
enum { OWNER_JOB_STATUS, OWNER_EXPIRED, OWNER_GZ_NAME, OWNER_TYPE, OWNER_COUNT,
       OWNER_JOB_ID, OWNER_DOWNLOADS, OWNER_ALLOW_PARTIAL, OWNER_ORGANIZE_BY, OWNER_TYPES,
       OWNER_ENCRYPTED };
#define SQL_FILE_OWNER(where)                                                       \
    "SELECT j.status, coalesce(j.expires_at < now(), false)::int, f.gz_name, f.type," \
    " f.count, j.id, f.downloads,"                                                   \
    " j.allow_partial::int, j.organize_by, array_to_string(j.types, ','),"           \
    " (f.encrypted_key IS NOT NULL)::int"                                            \
    " FROM export_file f"                                                            \
    " JOIN export_job j ON j.id = f.job_id"                                          \
    " WHERE " where " AND f.name = %s AND j.org_id = %s::uuid"

const dpc_statement dpc_export_statements[] = {
    { "dpc_export_start", SQL_EXPORT_START },
    { "dpc_job_get", SQL_JOB_GET("j.id = %s::uuid") },
    { "dpc_job_get_n", SQL_JOB_GET("j.number = %s::bigint") },
    { "dpc_job_files", SQL_JOB_FILES },
    { "dpc_job_files_page", SQL_JOB_FILES_PAGE },
    { "dpc_job_cancel", SQL_JOB_CANCEL },
    { "dpc_file_owner", SQL_FILE_OWNER("f.job_id = %s::uuid") },
    { "dpc_file_owner_n", SQL_FILE_OWNER("j.number = %s::bigint") },
    /* is there such a job (or a file of it) of anyone?  For the dialects
     * that answer another organization's with 403 (refuse_with_403) */
    { "dpc_job_anyones", "SELECT 1 FROM export_job WHERE id = %s::uuid" },
    { "dpc_file_anyones", "SELECT 1 FROM export_file WHERE job_id = %s::uuid AND name = %s" },
    { NULL, NULL }
};

/* ---- kick-off parameters: read here, meant in the core (dpc_export_req) ---------- */

/* For the request's readers: answer 400, and tell the caller to stop. */
static int refuse(request_rec *r, const char *msg)
{
    dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_INVALID, msg);
    return -1;
}

/* Answer the core's refusal with its OperationOutcome; -1 on a refusal,
 * else 0. */
static int refused(request_rec *r, dpc_export_req_rc rc, const dpc_export_req_err *err)
{
    if (rc == DPC_EXPORT_REQ_OK)
        return 0;
    dpc_send_oo(r, err->status, err->issue, err->msg);
    return -1;
}

int dpc_export_query_params(request_rec *r, dpc_export_req *k, dpc_param_screen *screen)
{
    const apr_array_header_t *arr;
    apr_table_t *args = NULL;
    dpc_export_req_err err;
    const char *why;
    int i;

    if (!r->args)
        return 0;
    ap_args_to_table(r, &args);
    arr = apr_table_elts(args);
    for (i = 0; i < arr->nelts; i++) {
        const apr_table_entry_t *e = &APR_ARRAY_IDX(arr, i, apr_table_entry_t);

        if (screen && (why = screen(r, e->key)) != NULL) {
            dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_INVALID, why);
            return -1;
        }
        if (refused(r, dpc_export_req_param(k, e->key, e->val ? e->val : "", &err), &err))
            return -1;
    }
    return 0;
}

/* Refuse a Parameters body with the issues found in oo (400); -1. */
static int refuse_issues(request_rec *r, json_t *oo)
{
    dpc_send_json(r, HTTP_BAD_REQUEST, DPC_FHIR_JSON, json_incref(oo));
    return -1;
}

/* A `patient` parameter's valueReference into k; 0, or -1 after the
 * refusal was sent. */
static int body_patient(request_rec *r, dpc_export_req *k, const dpc_param *param)
{
    const json_t *ident = json_object_get(param->value, "identifier");
    dpc_export_req_err err;

    return refused(r, dpc_export_req_patient(k, dpc_jstr(param->value, "reference"),
                                             dpc_jstr(ident, "system"),
                                             dpc_jstr(ident, "value"), &err), &err);
}

/* A parameter's value as the kick-off reads it: a valueBoolean (the
 * IG's allowPartialManifests) as "true" or "false", else its text. */
static const char *param_text(const json_t *v)
{
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return json_string_value(v);
}

/* Can the kick-off take this entry of the body: `patient` with a
 * valueReference, any other with a text value[x] or a valueBoolean? */
static int body_value_ok(const dpc_param *param)
{
    if (!strcmp(param->name, "patient"))
        return param->value && !strcmp(param->value_key, "valueReference")
               && json_is_object(param->value);
    return json_is_string(param->value) || json_is_boolean(param->value);
}

/* POST: a Parameters resource (as dpc_params_read reads one) whose every
 * parameter has a string or boolean value[x] (`patient` a valueReference);
 * no body at all is no parameters. */
static int body_params(request_rec *r, dpc_export_req *k)
{
    const char *body;
    apr_size_t len;
    json_t *v, *oo;
    dpc_param *ps;
    dpc_export_req_err err;
    int i, n, status;

    if (!dpc_has_body(r))
        return 0;
    if (!dpc_json_type_ok(r, &status))
        return -1;
    if (dpc_read_body(r, KICKOFF_BODY_LIMIT, &body, &len) != OK)
        return refuse(r, "the Parameters body cannot be read (at most 64 KB)");
    oo = dpc_json_pool(r->pool, dpc_oo_new());
    if (dpc_res_load(r->pool, body, len, "body", oo, &v)
        || (n = dpc_params_read(r->pool, v, oo, &ps)) < 0)
        return refuse_issues(r, oo);
    for (i = 0; i < n; i++)
        if (!body_value_ok(&ps[i]))
            dpc_issue_at(r->pool, oo, DPC_ISSUE_STRUCTURE,
                         apr_psprintf(r->pool, "Parameters.parameter[%d]", i),
                         !strcmp(ps[i].name, "patient")
                         ? "the kick-off parameter %s takes a valueReference"
                         : "the kick-off parameter %s takes a text value[x] (valueString, "
                           "valueInstant, valueCode...) or a valueBoolean", ps[i].name);
    if (dpc_issue_count(oo))
        return refuse_issues(r, oo);
    for (i = 0; i < n; i++) {
        if (!strcmp(ps[i].name, "patient") ? body_patient(r, k, &ps[i])
            : refused(r, dpc_export_req_param(k, ps[i].name, param_text(ps[i].value),
                                              &err), &err))
            return -1;
    }
    return 0;
}

/* ---- kick-off ------------------------------------------------------------------- */

static int job_not_found(request_rec *r)
{
    return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such job");
}

int dpc_not_ours(request_rec *r, ap_dbd_t *db, const char *label, const char **args, int n)
{
    apr_dbd_results_t *res;

    if (!dpc_conf_dialect(dpc_dir(r))->refuse_with_403
        || dpc_db_select(r, db, label, &res, n, args) || !dpc_db_row(r, db, res, 0))
        return 0;
    dpc_send_oo(r, HTTP_FORBIDDEN, DPC_ISSUE_FORBIDDEN,
                "this belongs to another organization: your credential cannot see it");
    return 1;
}

static const char *pg_array(request_rec *r, const apr_array_header_t *a)
{
    return dpc_pg_text_array(r->pool, (const char *const *)a->elts, a->nelts);
}

const char *dpc_job_url(request_rec *r, const char *id)
{
    const dpc_dialect *d = dpc_conf_dialect(dpc_dir(r));

    if (d->job_path)
        return apr_pstrcat(r->pool, dpc_base_url(r), "/",
                           apr_psprintf(r->pool, d->job_path, id), NULL);
    return apr_pstrcat(r->pool, dpc_base_url(r),
                       dpc_conf_dialect(dpc_dir(r))->job_id_form == DPC_JOB_ID_NUMBER
                       ? "/jobs/" : "/Jobs/", id, NULL);
}

int dpc_job_key(request_rec *r, const char *id, const char **label)
{
    if (dpc_conf_dialect(dpc_dir(r))->job_id_form == DPC_JOB_ID_NUMBER) {
        *label = "dpc_job_get_n";
        if (dpc_job_number_valid(id))
            return 0;
        dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_INVALID,
                    "a job id is a whole number, as in .../jobs/42");
        return -1;
    }
    *label = "dpc_job_get";
    if (dpc_uuid_is_valid(id))
        return 0;
    job_not_found(r);
    return -1;
}

int dpc_job_number_valid(const char *id)
{
    size_t n = id ? strspn(id, "0123456789") : 0;

    return n > 0 && n <= 15 && !id[n] && id[0] != '0';
}

/* Accept and Prefer of a kick-off; 0, or -1 after the 400. */
static int kickoff_headers(request_rec *r)
{
    const char *accept = apr_table_get(r->headers_in, "Accept"),
               *prefer = apr_table_get(r->headers_in, "Prefer");

    if (accept && !dpc_header_has(r->pool, accept, "application/fhir+json")
        && !dpc_header_has(r->pool, accept, "*/*")
        && !dpc_header_has(r->pool, accept, "application/*"))
        return refuse(r, "Accept must allow application/fhir+json");
    if (!dpc_header_has(r->pool, prefer, "respond-async"))
        return refuse(r, "Prefer: respond-async is required");
    return 0;
}

/* The request, read and settled against the token's scope; NULL after the
 * refusal was sent. */
static dpc_export_req *kickoff_request(request_rec *r, const dpc_principal *who,
                                       int system_level)
{
    dpc_export_req *k = apr_palloc(r->pool, sizeof(*k));
    int lenient = dpc_header_has(r->pool, apr_table_get(r->headers_in, "Prefer"),
                                 "handling=lenient");
    dpc_export_req_err err;

    dpc_export_req_init(r->pool, k, lenient, r->request_time);
    k->until_allowed = dpc_conf_dialect(dpc_dir(r))->until_allowed;
    k->system_level = system_level;
    if ((r->method_number == M_POST ? body_params(r, k) : dpc_export_query_params(r, k, NULL))
        || refused(r, dpc_export_req_finish(k, who->scope, &err), &err))
        return NULL;
    return k;
}

/* dpc_export_start's arguments (SQL_EXPORT_START's parameters), in order;
 * kickoff_args is the one place that builds them. */
enum { START_ACTOR, START_ADDRESS, START_ORG, START_GROUP, START_POPULATION, START_DIALECT,
       START_FHIR, START_URL, START_TYPES, START_SINCE, START_UNTIL, START_FILTER,
       START_PATIENTS, START_LENIENT, START_NOTES, START_BATCH, START_PER_FILE, START_GZIP,
       START_LIFETIME, START_PARTIAL, START_ORGANIZE, START_NARGS };

static void kickoff_args(request_rec *r, const dpc_principal *who, const char *group,
                         const dpc_export_req *k, const char *args[START_NARGS])
{
    dpc_db_who(r, who->client_token_id, args + START_ACTOR);
    args[START_ORG] = who->org_id;
    args[START_GROUP] = group;
    /* no Group: the organization's members (dpc_export_start) */
    args[START_POPULATION] = group ? NULL : k->system_level ? "system" : "patient";
    args[START_UNTIL] = k->until ? apr_psprintf(r->pool, "%" APR_TIME_T_FMT, k->until) : NULL;
    args[START_FILTER] = dpc_type_filter_json(r->pool, k->filter);
    args[START_PATIENTS] = pg_array(r, k->patients);
    args[START_LENIENT] = k->lenient ? "true" : "false";
    /* the job carries what its workers export it with: this vhost's settings */
    args[START_DIALECT] = dpc_conf_dialect(dpc_dir(r))->name;
    args[START_FHIR] = apr_itoa(r->pool, dpc_conf_dialect(dpc_dir(r))->fhir_version);
    args[START_URL] = dpc_request_url(r);
    args[START_TYPES] = pg_array(r, k->types);
    args[START_SINCE] = k->since ? apr_psprintf(r->pool, "%" APR_TIME_T_FMT, k->since) : NULL;
    args[START_NOTES] = pg_array(r, k->notes);
    dpc_export_settings(r, args + START_BATCH);
    dpc_export_output_args(k, args + START_PARTIAL);
}

void dpc_export_output_args(const dpc_export_req *k, const char *args[2])
{
    args[0] = k->allow_partial ? "true" : "false";
    args[1] = k->organize_by ? k->organize_by : "";
}

void dpc_export_settings(request_rec *r, const char **args)
{
    dpc_srv_conf *c = dpc_srv(r->server);

    args[0] = apr_itoa(r->pool, dpc_conf_export_batch(c));
    args[1] = apr_itoa(r->pool, dpc_conf_resources_per_file(c));
    args[2] = dpc_conf_export_gzip(c) ? "true" : "false";
    args[3] = apr_psprintf(r->pool, "%" APR_TIME_T_FMT,
                           apr_time_sec(dpc_conf_file_lifetime(c)));
}

/* The patients of a kick-off's `patient` that are not among its
 * beneficiaries, for the 400: "Patient/x, MBI 1S00A00AA00". */
static const char *patients_named(request_rec *r, const json_t *list)
{
    const char *out = NULL, *ref, *one;
    const json_t *v;
    size_t i;

    json_array_foreach(list, i, v) {
        ref = json_string_value(v);
        one = ref && !strncmp(ref, "mbi|", 4) ? apr_pstrcat(r->pool, "MBI ", ref + 4, NULL)
              : ref;
        out = out ? apr_pstrcat(r->pool, out, ", ", one, NULL) : one;
    }
    return out ? out : "";
}

/* Answer dpc_export_start's refusal e. */
static int not_started(request_rec *r, const char *e, const json_t *result, int group)
{
    if (!strcmp(e, "not_found"))
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such Group");
    if (!strcmp(e, "patients"))
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_INVALID,
                           apr_psprintf(r->pool, "patient: not among the beneficiaries of "
                                        "this export: %s (send Prefer: handling=lenient to "
                                        "have them skipped)",
                                        patients_named(r, json_object_get(result, "patients"))));
    apr_table_setn(r->headers_out, "Retry-After", "10");
    if (dpc_jstr(result, "job"))
        apr_table_setn(r->headers_out, "Content-Location",
                       dpc_job_url(r, dpc_jstr(result, "job")));
    return dpc_send_oo(r, HTTP_TOO_MANY_REQUESTS, DPC_ISSUE_THROTTLED, group
                       ? "an export of this Group is running: follow its Content-Location"
                       : "an export of this organization's patients is running: follow "
                         "its Content-Location");
}

int dpc_op_export(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    const char *group = call->id;
    const char *args[START_NARGS], *out, *e;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    json_t *result;
    dpc_export_req *k;

    if (kickoff_headers(r))
        return OK;
    if (call->what == DPC_EXPORT_GROUP && !dpc_uuid_is_valid(group))
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such Group");
    if (!(k = kickoff_request(r, who, call->what == DPC_EXPORT_SYSTEM)))
        return OK;
    kickoff_args(r, who, group, k, args);
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, "dpc_export_start", &res, START_NARGS, args)
        || !(row = dpc_db_row(r, db, res, 0)) || !(out = dpc_db_col(r, db, row, STARTED_JSON)))
        return dpc_send_db_error(r);
    result = dpc_json_pool(r->pool, json_loads(out, 0, NULL));
    if ((e = dpc_jstr(result, "error")) != NULL)
        return not_started(r, e, result, group != NULL);
    apr_table_setn(r->notes, "dpc-job", dpc_jstr(result, "job"));
    apr_table_setn(r->headers_out, "Content-Location", dpc_job_url(r, dpc_jstr(result, "job")));
    /* "There is no BODY to the Response, only headers" (both guides; the
     * Bulk Data IG makes an OperationOutcome optional) */
    r->status = HTTP_ACCEPTED;
    return OK;
}

/* ---- status and cancel ------------------------------------------------------------ */

/* A dpc_job_files row as the manifest's file, whose URL is base + name. */
static void file_of_row(request_rec *r, ap_dbd_t *db, apr_dbd_row_t *row, const char *base,
                        dpc_manifest_file_t *f)
{
    memset(f, 0, sizeof(*f));
    f->url = apr_pstrcat(r->pool, base, dpc_db_col(r, db, row, FILE_NAME), NULL);
    f->type = dpc_db_col(r, db, row, FILE_TYPE);
    f->count = apr_atoi64(dpc_db_col(r, db, row, FILE_COUNT));
    f->length = apr_atoi64(dpc_db_col(r, db, row, FILE_BYTES));
    f->sha256 = dpc_db_col(r, db, row, FILE_SHA256);
    f->encrypted_key = dpc_db_col(r, db, row, FILE_ENCRYPTED_KEY);
}

/* The manifest's fields of a job (its dpc_job_get row), without files. */
static void manifest_head(request_rec *r, ap_dbd_t *db, apr_dbd_row_t *job,
                          dpc_manifest_t *m)
{
    const dpc_dialect *d = dpc_conf_dialect(dpc_dir(r));

    memset(m, 0, sizeof(*m));
    m->transaction_time = dpc_db_time(r, db, job, JOB_TRANSACTION_TIME);
    m->human_time = d->transaction_time_form == DPC_TIME_HUMAN;
    m->request = dpc_db_col(r, db, job, JOB_REQUEST_URL);
    m->requires_token = 1;
    m->ext_checksum = d->ext_checksum;
    m->ext_file_length = d->ext_file_length;
    m->job_id = d->manifest_job_id ? apr_atoi64(dpc_db_col(r, db, job, JOB_NUMBER)) : 0;
    m->organized_by = dpc_db_col(r, db, job, JOB_ORGANIZE_BY);
}

/* The files of a dpc_files_* result, as the manifest lists them (at the
 * dialect's file path, with the job id of the request's URL); NULL after
 * a database error. */
static apr_array_header_t *files_of(request_rec *r, ap_dbd_t *db, const char *label,
                                    int nargs, const char **args, const char *id)
{
    const dpc_dialect *d = dpc_conf_dialect(dpc_dir(r));
    const char *base = d->file_path
                       ? apr_pstrcat(r->pool, dpc_base_url(r), "/",
                                     apr_psprintf(r->pool, d->file_path, id), NULL)
                       : apr_pstrcat(r->pool, dpc_data_url(r), "/", id, "/", NULL);
    apr_dbd_results_t *res;
    apr_array_header_t *files;
    int i, n;

    if (dpc_db_select(r, db, label, &res, nargs, args))
        return NULL;
    n = dpc_db_nrows(db, res);
    files = apr_array_make(r->pool, n ? n : 1, sizeof(dpc_manifest_file_t));
    for (i = 0; i < n; i++)
        file_of_row(r, db, dpc_db_row(r, db, res, i), base, apr_array_push(files));
    return files;
}

/* The manifest of a completed job (its dpc_job_get row), built by the
 * core from its files' rows; NULL after a database error. */
static json_t *manifest(request_rec *r, ap_dbd_t *db, const char *id, apr_dbd_row_t *job)
{
    dpc_manifest_t m;
    const char *job_id = dpc_db_col(r, db, job, JOB_ID);

    manifest_head(r, db, job, &m);
    if (!(m.files = files_of(r, db, "dpc_job_files", 1, &job_id, id)))
        return NULL;
    return dpc_manifest_build(r->pool, &m);
}

/* 202 with the progress of a running job (and no body: the page of a
 * partial manifest is the caller's to send). */
static int job_running(request_rec *r, ap_dbd_t *db, apr_dbd_row_t *row)
{
    long total = atol(dpc_db_col(r, db, row, JOB_BATCHES_TOTAL)),
         done = atol(dpc_db_col(r, db, row, JOB_BATCHES_DONE)),
         claimed = atol(dpc_db_col(r, db, row, JOB_BATCHES_CLAIMED));

    const dpc_dialect *d = dpc_conf_dialect(dpc_dir(r));

    apr_table_setn(r->headers_out, "X-Progress",
                   d->progress_form == DPC_PROGRESS_WORDS
                   ? dpc_manifest_progress_words(r->pool, claimed, done, total)
                   : d->progress_form == DPC_PROGRESS_PERCENT
                   ? dpc_manifest_progress_percent(r->pool, done, total)
                   : dpc_manifest_progress(r->pool, done, total));
    apr_table_setn(r->headers_out, "Retry-After",
                   apr_itoa(r->pool, d->status_retry_after ? d->status_retry_after : 2));
    r->status = HTTP_ACCEPTED;
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    return OK;
}

/* ---- partial manifests (allowPartialManifests) ------------------------------------ */

/* The page a status request asks for: ?page=N (N >= 1), 1 without it;
 * -1 after the 400 was sent. */
static long page_asked(request_rec *r)
{
    const char *v = dpc_query_param(r, "page");
    char *end;
    long n;

    if (!v)
        return 1;
    n = strtol(v, &end, 10);
    if (*v < '1' || *v > '9' || *end || n < 1 || n > 1000000) {
        dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_INVALID,
                    "page is a whole number from 1, as the manifest's next link gives it");
        return -1;
    }
    return n;
}

/* Page `page` of the manifest of a job that allows partial manifests (its
 * dpc_job_get row), running (202, with X-Progress) or completed (200):
 * the files listed so far at the page's places, and the link to the next
 * page once this one is full. */
static int partial_page(request_rec *r, ap_dbd_t *db, const char *id, apr_dbd_row_t *job,
                        long page)
{
    int complete = !strcmp(dpc_db_col(r, db, job, JOB_STATUS), DPC_JOB_COMPLETED);
    long listed = atol(dpc_db_col(r, db, job, JOB_FILES_LISTED)), first, n;
    const char *args[4];
    dpc_manifest_t m;
    int has_next;
    json_t *body;

    if (dpc_manifest_page(page, listed, complete,
                          dpc_conf_manifest_page_size(dpc_srv(r->server)), &first, &n,
                          &has_next))
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND,
                           "no such page of the manifest (yet): follow the next links");
    manifest_head(r, db, job, &m);
    /* SQL_JOB_FILES_PAGE: the job, the first place (twice), how many */
    args[0] = dpc_db_col(r, db, job, JOB_ID);
    args[1] = args[2] = apr_ltoa(r->pool, first);
    args[3] = apr_ltoa(r->pool, n);
    if (!(m.files = files_of(r, db, "dpc_job_files_page", 4, args, id)))
        return dpc_send_db_error(r);
    if (has_next)
        m.next_url = apr_psprintf(r->pool, "%s?page=%ld", dpc_job_url(r, id), page + 1);
    if (!(body = dpc_manifest_build(r->pool, &m)))
        return dpc_send_db_error(r);
    if (!complete) {
        job_running(r, db, job);
        return dpc_send_json(r, HTTP_ACCEPTED, "application/json", body);
    }
    apr_table_setn(r->headers_out, "Expires",
                   ap_ht_time(r->pool, dpc_db_time(r, db, job, JOB_EXPIRES_AT),
                              "%a, %d %b %Y %H:%M:%S GMT", 1));
    return dpc_send_json(r, HTTP_OK, "application/json", body);
}

int dpc_op_job_status(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    const char *id = call->id;
    const char *args[2], *status, *label;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    json_t *m;
    long page = 1;
    int partial;

    if (dpc_job_key(r, id, &label))
        return OK;
    args[0] = id;
    args[1] = who->org_id;
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, label, &res, 2, args))
        return dpc_send_db_error(r);
    if (!(row = dpc_db_row(r, db, res, 0)))
        return dpc_not_ours(r, db, "dpc_job_anyones", args, 1) ? OK : job_not_found(r);
    status = dpc_db_col(r, db, row, JOB_STATUS);
    apr_table_setn(r->notes, "dpc-job", dpc_db_col(r, db, row, JOB_ID));
    if (!strcmp(status, DPC_JOB_CANCELLED))
        return job_not_found(r);
    if (!strcmp(status, DPC_JOB_FAILED))
        return dpc_send_oo(r, HTTP_INTERNAL_SERVER_ERROR, DPC_ISSUE_EXCEPTION,
                           apr_pstrcat(r->pool, "the export failed: ",
                                       dpc_db_col(r, db, row, JOB_ERROR), NULL));
    partial = !strcmp(dpc_db_col(r, db, row, JOB_ALLOW_PARTIAL), "1");
    if (partial && (page = page_asked(r)) < 0)
        return OK;
    if (!strcmp(status, DPC_JOB_RUNNING))
        return partial ? partial_page(r, db, id, row, page) : job_running(r, db, row);
    if (!strcmp(dpc_db_col(r, db, row, JOB_EXPIRED), "1"))
        return dpc_send_oo(r, HTTP_GONE, DPC_ISSUE_EXPIRED, "the export's files have expired");
    if (partial)
        return partial_page(r, db, id, row, page);
    if (!(m = manifest(r, db, id, row)))
        return dpc_send_db_error(r);
    apr_table_setn(r->headers_out, "Expires",
                   ap_ht_time(r->pool, dpc_db_time(r, db, row, JOB_EXPIRES_AT),
                              "%a, %d %b %Y %H:%M:%S GMT", 1));
    return dpc_send_json(r, HTTP_OK, "application/json", m);
}

int dpc_op_job_cancel(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    const char *id = call->id;
    const char *args[4];
    apr_dbd_results_t *res;
    ap_dbd_t *db;
    int n;

    if (!dpc_uuid_is_valid(id))
        return job_not_found(r);
    n = dpc_db_who(r, who->client_token_id, args);
    args[n++] = id;
    args[n++] = who->org_id;
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, "dpc_job_cancel", &res, n, args))
        return dpc_send_db_error(r);
    if (!dpc_db_row(r, db, res, 0))
        return job_not_found(r);
    apr_table_setn(r->notes, "dpc-job", id);
    return dpc_send_oo(r, HTTP_ACCEPTED, DPC_ISSUE_INFORMATIONAL,
                       "the export is cancelled; its files will be removed");
}

/* ---- downloads -------------------------------------------------------------------- */

/* GET {base}/data/{job}/{file}: names are checked against what the writer
 * makes, so nothing from the URL can reach outside the export root; the file
 * is then httpd's to serve (sendfile, Range, ETag, If-None-Match). */
/* The job and file a download path names: "/data/{job}/{name}", or the
 * dialect's file_path ("/Job/{job}/file/{name}"); 0, or -1 when it is not
 * a download path. */
static int data_path(request_rec *r, const char *path, const char **job, const char **name)
{
    const char *fp = dpc_conf_dialect(dpc_dir(r))->file_path, *pre = "/data/", *post = "/";
    const char *slash, *mark;

    if (fp && (mark = strstr(fp, "%s")) != NULL) {     /* "Job/%s/file/" */
        pre = apr_pstrcat(r->pool, "/", apr_pstrmemdup(r->pool, fp, mark - fp), NULL);
        post = mark + 2;
    }
    if (strncmp(path, pre, strlen(pre)))
        return -1;
    path += strlen(pre);
    if (!(slash = strchr(path, '/')) || strncmp(slash, post, strlen(post)))
        return -1;
    *job = apr_pstrmemdup(r->pool, path, slash - path);
    *name = slash + strlen(post);
    return 0;
}

int dpc_data_translate(request_rec *r, const char *path)
{
    const dpc_global_conf *c = dpc_global(r->server);
    const char *job, *name, *dir;

    if (!c->export_root || data_path(r, path, &job, &name))
        return DECLINED;
    if (!dpc_export_name_valid(name))
        return DECLINED;
    /* a job number (BCDA's) is resolved to its directory by the access
     * check, which looks the job up anyway */
    if (dpc_conf_dialect(dpc_dir(r))->job_id_form == DPC_JOB_ID_NUMBER) {
        if (!dpc_job_number_valid(job))
            return DECLINED;
        dir = apr_pstrcat(r->pool, c->export_root, "/", job, NULL);
        apr_table_setn(r->notes, "dpc-job-number", job);
    }
    else if (!(dir = dpc_export_job_dir(r->pool, c->export_root, job)))
        return DECLINED;
    r->filename = apr_pstrcat(r->pool, dir, "/", name, NULL);
    apr_table_setn(r->notes, "dpc-job", job);
    apr_table_setn(r->notes, "dpc-data", name);
    apr_table_setn(r->notes, "dpc-audit", "file.downloaded");
    return OK;
}

/* The file's own metadata, and no <Directory> walk: access is ours. */
int dpc_data_map(request_rec *r)
{
    if (!apr_table_get(r->notes, "dpc-data"))
        return DECLINED;
    if (apr_stat(&r->finfo, r->filename, APR_FINFO_MIN, r->pool) != APR_SUCCESS)
        r->finfo.filetype = APR_NOFILE;
    return OK;
}

/* The gzip twin instead of the NDJSON, when the worker wrote one and the
 * client accepts gzip.  Either way the response varies on Accept-Encoding,
 * and the manifest's checksum and length describe the NDJSON. */
static void choose_coding(request_rec *r, const char *gz_name)
{
    apr_finfo_t fi;
    const char *path;

    if (!gz_name || !dpc_export_name_valid(gz_name))
        return;
    apr_table_mergen(r->headers_out, "Vary", "Accept-Encoding");
    if (!dpc_header_accepts_coding(r->pool, apr_table_get(r->headers_in, "Accept-Encoding"),
                                   "gzip"))
        return;
    path = apr_pstrcat(r->pool, ap_make_dirstr_parent(r->pool, r->filename), gz_name, NULL);
    if (apr_stat(&fi, path, APR_FINFO_MIN, r->pool) != APR_SUCCESS || fi.filetype != APR_REG)
        return;     /* never worse than the plain file */
    r->filename = (char *)path;
    r->finfo = fi;
    apr_table_setn(r->notes, "dpc-gzip", "1");
}

/* A download by job number: the file is in the directory of the job's id
 * (the owner row's), and the job's notes name the id.  0, or -1 after the
 * refusal was sent. */
static int resolve_number(request_rec *r, ap_dbd_t *db, apr_dbd_row_t *row)
{
    const char *id = dpc_db_col(r, db, row, OWNER_JOB_ID),
               *dir = dpc_export_job_dir(r->pool, dpc_global(r->server)->export_root, id);

    if (!dir) {
        dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such file");
        return -1;
    }
    r->filename = apr_pstrcat(r->pool, dir, "/", apr_table_get(r->notes, "dpc-data"), NULL);
    if (apr_stat(&r->finfo, r->filename, APR_FINFO_MIN, r->pool) != APR_SUCCESS)
        r->finfo.filetype = APR_NOFILE;
    apr_table_setn(r->notes, "dpc-job", id);
    return 0;
}

/* A file past its expiry, or downloaded DPCDownloadLimit times already
 * (the log_transaction hook counts a download that sent the last byte):
 * 1 after the 410 was sent.  Under a limit, the hook is asked to count. */
static int download_refused(request_rec *r, ap_dbd_t *db, apr_dbd_row_t *row)
{
    int limit = dpc_conf_download_limit(dpc_dir(r));
    long done = atol(dpc_db_col(r, db, row, OWNER_DOWNLOADS));

    if (!strcmp(dpc_db_col(r, db, row, OWNER_EXPIRED), "1")) {
        dpc_send_oo(r, HTTP_GONE, DPC_ISSUE_EXPIRED, "this export file has expired and "
                    "was removed: start a new export job to get the data again");
        return 1;
    }
    if (limit > 0 && done >= limit) {
        dpc_send_oo(r, HTTP_GONE, DPC_ISSUE_EXPIRED, apr_psprintf(r->pool, "this export "
                    "file has been downloaded %ld time%s in full, the most allowed: start a "
                    "new export job to get the data again", done, done == 1 ? "" : "s"));
        return 1;
    }
    if (limit > 0)
        apr_table_setn(r->notes, "dpc-count-download", "1");
    return 0;
}

/* Is the file of this dpc_file_owner row served: its job completed, or
 * running with partial manifests (a listed file is complete)? */
static int file_served(request_rec *r, ap_dbd_t *db, apr_dbd_row_t *row)
{
    const char *status = dpc_db_col(r, db, row, OWNER_JOB_STATUS);

    return !strcmp(status, DPC_JOB_COMPLETED)
           || (!strcmp(status, DPC_JOB_RUNNING)
               && !strcmp(dpc_db_col(r, db, row, OWNER_ALLOW_PARTIAL), "1"));
}

/* The type of a data file (dpc_file_owner row) that the scope does not
 * read, or NULL.  A file organized by patient holds every type of its job. */
static const char *scope_misses(request_rec *r, ap_dbd_t *db, apr_dbd_row_t *row,
                                const char *scope)
{
    const char *type = dpc_db_col(r, db, row, OWNER_TYPE);
    char *types, *t, *state = NULL;

    if (!dpc_db_col(r, db, row, OWNER_ORGANIZE_BY))
        return dpc_export_scope_reads(r->pool, scope, type) ? NULL : type;
    types = apr_pstrdup(r->pool, dpc_db_col(r, db, row, OWNER_TYPES));
    for (t = apr_strtok(types, ",", &state); t; t = apr_strtok(NULL, ",", &state))
        if (!dpc_export_scope_reads(r->pool, scope, t))
            return t;
    return NULL;
}

/* Bearer token, then ownership and expiry; a refusal is answered here (an
 * OperationOutcome) and the request ends (DONE). */
int dpc_data_access(request_rec *r)
{
    const char *name = apr_table_get(r->notes, "dpc-data"), *args[3], *type;
    const dpc_principal *who;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    int st;

    if (!name)
        return DECLINED;
    if (r->method_number != M_GET) {
        apr_table_setn(r->headers_out, "Allow", "GET, HEAD");
        dpc_send_oo(r, HTTP_METHOD_NOT_ALLOWED, DPC_ISSUE_NOT_SUPPORTED,
                    "export files are read with GET");
        return DONE;
    }
    if (!(who = dpc_authenticate(r, &st)))
        return DONE;
    args[0] = apr_table_get(r->notes, "dpc-job");
    args[1] = name;
    args[2] = who->org_id;
    if (!(db = dpc_db(r))
        || dpc_db_select(r, db, apr_table_get(r->notes, "dpc-job-number")
                                ? "dpc_file_owner_n" : "dpc_file_owner", &res, 3, args)) {
        dpc_send_db_error(r);
        return DONE;
    }
    /* a failed or cancelled job's files (say, of its batches done before a
     * disk filled up) are nobody's, whatever their name; a running job's
     * listed files are its owner's when it allows partial manifests */
    if (!(row = dpc_db_row(r, db, res, 0)) || !file_served(r, db, row)) {
        if (!row && dpc_not_ours(r, db, "dpc_file_anyones", args, 2))
            return DONE;
        dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such file");
        return DONE;
    }
    if (download_refused(r, db, row))
        return DONE;
    if (apr_table_get(r->notes, "dpc-job-number") && resolve_number(r, db, row))
        return DONE;
    if (r->finfo.filetype != APR_REG) {
        dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such file");
        return DONE;
    }
    /* a token may read only the types its scope names; the error file
     * (OperationOutcome) is the job's, and any token of its owner reads it */
    type = dpc_db_col(r, db, row, OWNER_TYPE);
    if (strcmp(type, DPC_MANIFEST_ERROR_TYPE) && (type = scope_misses(r, db, row, who->scope))) {
        dpc_send_oo(r, HTTP_FORBIDDEN, DPC_ISSUE_FORBIDDEN,
                    apr_psprintf(r->pool, "the access token's scope (%s) does not cover %s",
                                 dpc_utf8_clean(r->pool, who->scope), type));
        return DONE;
    }
    choose_coding(r, dpc_db_col(r, db, row, OWNER_GZ_NAME));
    /* an encrypted file (BCDA) is bytes until the ACO decrypts it */
    if (!strcmp(dpc_db_col(r, db, row, OWNER_ENCRYPTED), "1"))
        apr_table_setn(r->notes, "dpc-encrypted", "1");
    /* for httpd's CustomLog: %{dpc-resources}n */
    apr_table_setn(r->notes, "dpc-resources", dpc_db_col(r, db, row, OWNER_COUNT));
    r->handler = NULL;
    return OK;
}

int dpc_data_fixups(request_rec *r)
{
    if (!apr_table_get(r->notes, "dpc-data"))
        return DECLINED;
    ap_set_content_type(r, apr_table_get(r->notes, "dpc-encrypted")
                           ? "application/octet-stream" : NDJSON);
    /* after mod_mime, which may have taken ".gz" for its own encoding name */
    r->content_encoding = apr_table_get(r->notes, "dpc-gzip") ? "gzip" : NULL;
    return OK;
}
