/* mod_dpc_export.c: Bulk Data export (FHIR Bulk Data IG v2): the kick-off
 * on Group/{id}/$export, job status and cancel on Jobs/{id}, and the
 * download of files, which httpd's own handler serves after our check.
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
#include "mod_dpc_auth.h"
#include "mod_dpc_respond.h"

#define USEC DPC_SQL_USEC
#define KICKOFF_BODY_LIMIT (64 * 1024)
#define NDJSON "application/fhir+ndjson"

/* The statements, each with the names of its result columns beside it. */

/* dpc_export_start: one text column, the JSON of the outcome. */
enum { STARTED_JSON };
#define SQL_EXPORT_START                                                            \
    DPC_SQL_WHO "SELECT dpc_export_start(%s::uuid, %s::uuid, %s, %s::smallint, %s,"  \
    " %s::text[], to_timestamp(%s::bigint / 1e6), %s::text[], %s::int, %s::int,"    \
    " %s::boolean, make_interval(secs => %s::bigint))::text FROM who"

/* dpc_job_get (by id) and dpc_job_get_n (by number, BCDA's job ids): a
 * job of the organization. */
enum { JOB_STATUS, JOB_REQUEST_URL, JOB_TRANSACTION_TIME, JOB_BATCHES_TOTAL,
       JOB_BATCHES_DONE, JOB_ERROR, JOB_EXPIRES_AT, JOB_EXPIRED, JOB_ID, JOB_NUMBER,
       JOB_BATCHES_CLAIMED };
#define SQL_JOB_GET(where)                                                          \
    "SELECT j.status, j.request_url, " USEC("j.transaction_time") ", j.batches_total," \
    " (SELECT count(*) FROM export_batch b WHERE b.job_id = j.id AND b.status = 'done')," \
    " j.error, " USEC("j.expires_at") ", (j.expires_at < now())::int, j.id, j.number," \
    " (SELECT count(*) FROM export_batch b WHERE b.job_id = j.id"                  \
    "   AND b.claimed_at IS NOT NULL)"                                               \
    " FROM export_job j WHERE " where " AND j.org_id = %s::uuid"

/* dpc_job_files: a job's files, in the manifest's order. */
enum { FILE_NAME, FILE_TYPE, FILE_COUNT, FILE_BYTES, FILE_SHA256, FILE_ENCRYPTED_KEY };
#define SQL_JOB_FILES                                                               \
    "SELECT name, type, count, bytes, sha256, encrypted_key FROM export_file"      \
    " WHERE job_id = %s::uuid"                                                       \
    " ORDER BY type, batch_seq, name"

/* dpc_job_cancel: a row (the job's id) when the job was cancelled. */
#define SQL_JOB_CANCEL                                                              \
    DPC_SQL_WHO "UPDATE export_job SET status = 'cancelled' FROM who"               \
    " WHERE id = %s::uuid AND org_id = %s::uuid"                                     \
    " AND status IN ('running', 'completed') RETURNING id"

/* dpc_file_owner (by job id) and dpc_file_owner_n (by job number): the
 * job of a file, if the organization owns it, and what the file holds. */
enum { OWNER_JOB_STATUS, OWNER_EXPIRED, OWNER_GZ_NAME, OWNER_TYPE, OWNER_COUNT,
       OWNER_JOB_ID, OWNER_ENCRYPTED };
#define SQL_FILE_OWNER(where)                                                       \
    "SELECT j.status, (j.expires_at < now())::int, f.gz_name, f.type, f.count, j.id," \
    " (f.encrypted_key IS NOT NULL)::int"                                            \
    " FROM export_file f"                                                            \
    " JOIN export_job j ON j.id = f.job_id"                                          \
    " WHERE " where " AND f.name = %s AND j.org_id = %s::uuid"

const dpc_statement dpc_export_statements[] = {
    { "dpc_export_start", SQL_EXPORT_START },
    { "dpc_job_get", SQL_JOB_GET("j.id = %s::uuid") },
    { "dpc_job_get_n", SQL_JOB_GET("j.number = %s::bigint") },
    { "dpc_job_files", SQL_JOB_FILES },
    { "dpc_job_cancel", SQL_JOB_CANCEL },
    { "dpc_file_owner", SQL_FILE_OWNER("f.job_id = %s::uuid") },
    { "dpc_file_owner_n", SQL_FILE_OWNER("j.number = %s::bigint") },
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

/* POST: a Parameters resource (as dpc_params_read reads one) whose every
 * parameter has a string value[x]; no body at all is no parameters. */
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
        if (!json_is_string(ps[i].value))
            dpc_issue_at(r->pool, oo, DPC_ISSUE_STRUCTURE,
                         apr_psprintf(r->pool, "Parameters.parameter[%d]", i),
                         "the kick-off parameter %s takes a text value[x] (valueString, "
                         "valueInstant, valueCode...)", ps[i].name);
    if (dpc_issue_count(oo))
        return refuse_issues(r, oo);
    for (i = 0; i < n; i++)
        if (refused(r, dpc_export_req_param(k, ps[i].name, json_string_value(ps[i].value),
                                            &err), &err))
            return -1;
    return 0;
}

/* ---- kick-off ------------------------------------------------------------------- */

static int job_not_found(request_rec *r)
{
    return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such job");
}

static const char *pg_array(request_rec *r, const apr_array_header_t *a)
{
    return dpc_pg_text_array(r->pool, (const char *const *)a->elts, a->nelts);
}

const char *dpc_job_url(request_rec *r, const char *id)
{
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
static dpc_export_req *kickoff_request(request_rec *r, const dpc_principal *who)
{
    dpc_export_req *k = apr_palloc(r->pool, sizeof(*k));
    int lenient = dpc_header_has(r->pool, apr_table_get(r->headers_in, "Prefer"),
                                 "handling=lenient");
    dpc_export_req_err err;

    dpc_export_req_init(r->pool, k, lenient, r->request_time);
    if ((r->method_number == M_POST ? body_params(r, k) : dpc_export_query_params(r, k, NULL))
        || refused(r, dpc_export_req_finish(k, who->scope, &err), &err))
        return NULL;
    return k;
}

/* dpc_export_start's arguments (SQL_EXPORT_START's parameters), in order;
 * kickoff_args is the one place that builds them. */
enum { START_ACTOR, START_ADDRESS, START_ORG, START_GROUP, START_DIALECT, START_FHIR,
       START_URL, START_TYPES, START_SINCE, START_NOTES, START_BATCH, START_PER_FILE,
       START_GZIP, START_LIFETIME, START_NARGS };

static void kickoff_args(request_rec *r, const dpc_principal *who, const char *group,
                         const dpc_export_req *k, const char *args[START_NARGS])
{
    dpc_srv_conf *c = dpc_srv(r->server);

    dpc_db_who(r, who->client_token_id, args + START_ACTOR);
    args[START_ORG] = who->org_id;
    args[START_GROUP] = group;
    /* the job carries what its workers export it with: this vhost's settings */
    args[START_DIALECT] = dpc_conf_dialect(dpc_dir(r))->name;
    args[START_FHIR] = apr_itoa(r->pool, dpc_conf_dialect(dpc_dir(r))->fhir_version);
    args[START_URL] = dpc_request_url(r);
    args[START_TYPES] = pg_array(r, k->types);
    args[START_SINCE] = k->since ? apr_psprintf(r->pool, "%" APR_TIME_T_FMT, k->since) : NULL;
    args[START_NOTES] = pg_array(r, k->notes);
    args[START_BATCH] = apr_itoa(r->pool, dpc_conf_export_batch(c));
    args[START_PER_FILE] = apr_itoa(r->pool, dpc_conf_resources_per_file(c));
    args[START_GZIP] = dpc_conf_export_gzip(c) ? "true" : "false";
    args[START_LIFETIME] = apr_psprintf(r->pool, "%" APR_TIME_T_FMT,
                                        apr_time_sec(dpc_conf_file_lifetime(c)));
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
    if (!dpc_uuid_is_valid(group))
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such Group");
    if (!(k = kickoff_request(r, who)))
        return OK;
    kickoff_args(r, who, group, k, args);
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, "dpc_export_start", &res, START_NARGS, args)
        || !(row = dpc_db_row(r, db, res, 0)) || !(out = dpc_db_col(r, db, row, STARTED_JSON)))
        return dpc_send_db_error(r);
    result = dpc_json_pool(r->pool, json_loads(out, 0, NULL));
    if ((e = dpc_jstr(result, "error")) != NULL) {
        if (!strcmp(e, "not_found"))
            return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such Group");
        apr_table_setn(r->headers_out, "Retry-After", "10");
        if (dpc_jstr(result, "job"))
            apr_table_setn(r->headers_out, "Content-Location",
                           dpc_job_url(r, dpc_jstr(result, "job")));
        return dpc_send_oo(r, HTTP_TOO_MANY_REQUESTS, DPC_ISSUE_THROTTLED,
                           "an export of this Group is running: follow its "
                           "Content-Location");
    }
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

/* The manifest of a completed job (its dpc_job_get row), built by the
 * core from its files' rows; NULL after a database error. */
static json_t *manifest(request_rec *r, ap_dbd_t *db, const char *id, apr_dbd_row_t *job)
{
    const dpc_dialect *d = dpc_conf_dialect(dpc_dir(r));
    const char *base = apr_pstrcat(r->pool, dpc_data_url(r), "/", id, "/", NULL);
    apr_dbd_results_t *res;
    apr_array_header_t *files;
    dpc_manifest_t m;
    int i, n;

    m.transaction_time = dpc_db_time(r, db, job, JOB_TRANSACTION_TIME);
    m.request = dpc_db_col(r, db, job, JOB_REQUEST_URL);
    m.requires_token = 1;
    m.ext_checksum = d->ext_checksum;
    m.ext_file_length = d->ext_file_length;
    m.job_id = d->manifest_job_id ? apr_atoi64(dpc_db_col(r, db, job, JOB_NUMBER)) : 0;
    id = dpc_db_col(r, db, job, JOB_ID);
    if (dpc_db_select(r, db, "dpc_job_files", &res, 1, &id))
        return NULL;
    n = dpc_db_nrows(db, res);
    files = apr_array_make(r->pool, n ? n : 1, sizeof(dpc_manifest_file_t));
    for (i = 0; i < n; i++)
        file_of_row(r, db, dpc_db_row(r, db, res, i), base, apr_array_push(files));
    m.files = files;
    return dpc_manifest_build(r->pool, &m);
}

/* 202 with the progress of a running job. */
static int job_running(request_rec *r, ap_dbd_t *db, apr_dbd_row_t *row)
{
    long total = atol(dpc_db_col(r, db, row, JOB_BATCHES_TOTAL)),
         done = atol(dpc_db_col(r, db, row, JOB_BATCHES_DONE)),
         claimed = atol(dpc_db_col(r, db, row, JOB_BATCHES_CLAIMED));

    apr_table_setn(r->headers_out, "X-Progress",
                   dpc_conf_dialect(dpc_dir(r))->progress_form == DPC_PROGRESS_WORDS
                   ? dpc_manifest_progress_words(r->pool, claimed, done, total)
                   : dpc_manifest_progress(r->pool, done, total));
    apr_table_setn(r->headers_out, "Retry-After", "2");
    r->status = HTTP_ACCEPTED;
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    return OK;
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

    if (dpc_job_key(r, id, &label))
        return OK;
    args[0] = id;
    args[1] = who->org_id;
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, label, &res, 2, args))
        return dpc_send_db_error(r);
    if (!(row = dpc_db_row(r, db, res, 0)))
        return job_not_found(r);
    status = dpc_db_col(r, db, row, JOB_STATUS);
    apr_table_setn(r->notes, "dpc-job", dpc_db_col(r, db, row, JOB_ID));
    if (!strcmp(status, DPC_JOB_CANCELLED))
        return job_not_found(r);
    if (!strcmp(status, DPC_JOB_FAILED))
        return dpc_send_oo(r, HTTP_INTERNAL_SERVER_ERROR, DPC_ISSUE_EXCEPTION,
                           apr_pstrcat(r->pool, "the export failed: ",
                                       dpc_db_col(r, db, row, JOB_ERROR), NULL));
    if (!strcmp(status, DPC_JOB_RUNNING))
        return job_running(r, db, row);
    if (!strcmp(dpc_db_col(r, db, row, JOB_EXPIRED), "1"))
        return dpc_send_oo(r, HTTP_GONE, DPC_ISSUE_EXPIRED, "the export's files have expired");
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
int dpc_data_translate(request_rec *r, const char *path)
{
    const dpc_global_conf *c = dpc_global(r->server);
    const char *job, *name, *dir, *slash;

    if (strncmp(path, "/data/", 6) || !c->export_root)
        return DECLINED;
    job = path + 6;
    if (!(slash = strchr(job, '/')))
        return DECLINED;
    name = slash + 1;
    job = apr_pstrmemdup(r->pool, job, slash - job);
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

/* Bearer token, then ownership and expiry; a refusal is answered here (an
 * OperationOutcome) and the request ends (DONE). */
int dpc_data_access(request_rec *r)
{
    const char *name = apr_table_get(r->notes, "dpc-data"), *args[3], *status, *type;
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
     * disk filled up) are nobody's, whatever their name */
    if (!(row = dpc_db_row(r, db, res, 0))
        || strcmp((status = dpc_db_col(r, db, row, OWNER_JOB_STATUS)), DPC_JOB_COMPLETED)) {
        dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such file");
        return DONE;
    }
    if (!strcmp(dpc_db_col(r, db, row, OWNER_EXPIRED), "1")) {
        dpc_send_oo(r, HTTP_GONE, DPC_ISSUE_EXPIRED, "this export file has expired");
        return DONE;
    }
    if (apr_table_get(r->notes, "dpc-job-number") && resolve_number(r, db, row))
        return DONE;
    if (r->finfo.filetype != APR_REG) {
        dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such file");
        return DONE;
    }
    /* a token may read only the types its scope names; the error file
     * (OperationOutcome) is the job's, and any token of its owner reads it */
    type = dpc_db_col(r, db, row, OWNER_TYPE);
    if (strcmp(type, DPC_MANIFEST_ERROR_TYPE) && !dpc_export_scope_reads(r->pool, who->scope, type)) {
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
