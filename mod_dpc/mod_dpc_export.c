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
#include "dpc_fhir.h"
#include "dpc_header.h"
#include "dpc_log.h"
#include "dpc_pg.h"
#include "dpc_res.h"
#include "dpc_token.h"
#include "mod_dpc_auth.h"
#include "mod_dpc_respond.h"

#define USEC DPC_SQL_USEC
#define KICKOFF_BODY_LIMIT (64 * 1024)
#define NDJSON "application/fhir+ndjson"

const dpc_statement dpc_export_statements[] = {
    { "dpc_export_start",
      "SELECT dpc_export_start(%s::uuid, %s::uuid, %s, %s::smallint, %s, %s::text[],"
      " to_timestamp(%s::bigint / 1e6), %s::text[], %s::int, %s::int, %s::boolean,"
      " make_interval(secs => %s::bigint))::text" },
    { "dpc_job_get",
      "SELECT j.status, j.request_url, " USEC("j.transaction_time") ", j.batches_total,"
      " (SELECT count(*) FROM export_batch b WHERE b.job_id = j.id AND b.status = 'done'),"
      " j.error, " USEC("j.expires_at") ", (j.expires_at < now())::int"
      " FROM export_job j WHERE j.id = %s::uuid AND j.org_id = %s::uuid" },
    { "dpc_job_files",
      "SELECT name, type, count, bytes, sha256 FROM export_file WHERE job_id = %s::uuid"
      " ORDER BY type, batch_seq, name" },
    { "dpc_job_cancel",
      "UPDATE export_job SET status = 'cancelled' WHERE id = %s::uuid AND org_id = %s::uuid"
      " AND status IN ('running', 'completed') RETURNING id" },
    { "dpc_file_owner",
      "SELECT j.status, (j.expires_at < now())::int, f.gz_name FROM export_file f"
      " JOIN export_job j ON j.id = f.job_id"
      " WHERE f.job_id = %s::uuid AND f.name = %s AND j.org_id = %s::uuid" },
    { NULL, NULL }
};

static const char *const export_types[] = {
    "Patient", "Coverage", "ExplanationOfBenefit", NULL
};

/* ---- kick-off parameters ----------------------------------------------------- */

typedef struct kickoff {
    int lenient;                    /* Prefer: handling=lenient */
    apr_array_header_t *types;      /* const char * */
    apr_time_t since;               /* 0: none */
    apr_array_header_t *notes;      /* what lenient ignored */
} kickoff;

static int bad_request(request_rec *r, const char *msg)
{
    return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_INVALID, msg);
}

/* For the parameter readers: answer 400, and tell the caller to stop. */
static int refuse(request_rec *r, const char *msg)
{
    bad_request(r, msg);
    return -1;
}

/* Answer with an OperationOutcome, and tell the caller to stop. */
static int refuse_oo(request_rec *r, int status, const char *code, const char *msg)
{
    dpc_send_oo(r, status, code, msg);
    return -1;
}

static int type_known(const char *t)
{
    int i;

    for (i = 0; export_types[i]; i++)
        if (!strcmp(t, export_types[i]))
            return 1;
    return 0;
}

/* Can a token with this scope read type t? */
static int scope_reads(apr_pool_t *p, const char *scope, const char *t)
{
    char *copy = apr_pstrdup(p, scope), *s, *state = NULL;
    int ok = 0;
    size_t n = strlen(t);

    for (s = apr_strtok(copy, " ", &state); s && !ok; s = apr_strtok(NULL, " ", &state))
        ok = !strncmp(s, "system/*.", 9)
             || (!strncmp(s, "system/", 7) && !strncmp(s + 7, t, n) && s[7 + n] == '.');
    return ok;
}

static int add_types(request_rec *r, kickoff *k, const char *value)
{
    char *copy = apr_pstrdup(r->pool, value), *t, *state = NULL;

    for (t = apr_strtok(copy, ",", &state); t; t = apr_strtok(NULL, ",", &state)) {
        apr_collapse_spaces(t, t);
        if (!type_known(t)) {
            if (!k->lenient)
                return refuse(r, apr_psprintf(r->pool, "_type %s is not exported here: "
                                              "Patient, Coverage and ExplanationOfBenefit are",
                                              t));
            APR_ARRAY_PUSH(k->notes, const char *) = apr_psprintf(r->pool, "_type=%s", t);
            continue;
        }
        APR_ARRAY_PUSH(k->types, const char *) = t;
    }
    return 0;
}

/* One parameter of the kick-off; 0, or -1 after the 400. */
static int take_param(request_rec *r, kickoff *k, const char *name, const char *value)
{
    const char *why;

    /* the values go into the database, which takes only UTF-8 */
    if (!dpc_utf8_valid(value))
        return refuse(r, apr_psprintf(r->pool, "the value of %s is not UTF-8 text",
                                      dpc_utf8_clean(r->pool, name)));
    if (!strcmp(name, "_type"))
        return add_types(r, k, value);
    if (!strcmp(name, "_since")) {
        char *v = apr_pstrdup(r->pool, value), *sp;

        /* a '+' of a time zone that was not URL-encoded arrives as a space */
        if ((sp = strchr(v, ' ')) != NULL)
            *sp = '+';
        if (dpc_instant_parse(v, &k->since, &why))
            return refuse(r, apr_pstrcat(r->pool, "_since: ", why, NULL));
        if (k->since > r->request_time)
            return refuse(r, "_since is in the future");
        return 0;
    }
    if (!strcmp(name, "_outputFormat")) {
        if (strcmp(value, "application/fhir+ndjson") && strcmp(value, "application/ndjson")
            && strcmp(value, "ndjson"))
            return refuse(r, "_outputFormat must be application/fhir+ndjson, "
                               "application/ndjson or ndjson");
        return 0;
    }
    if (!strcmp(name, "_typeFilter") || !strcmp(name, "_elements") || !strcmp(name, "patient")
        || !strcmp(name, "includeAssociatedData")) {
        if (!k->lenient)
            return refuse_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_NOT_SUPPORTED,
                               apr_psprintf(r->pool, "%s is not supported (send Prefer: "
                                            "handling=lenient to have it ignored)", name));
        APR_ARRAY_PUSH(k->notes, const char *) = name;
    }
    return 0;                       /* anything else is ignored, as FHIR search does */
}

static int query_params(request_rec *r, kickoff *k)
{
    const apr_array_header_t *arr;
    apr_table_t *args = NULL;
    int i;

    if (!r->args)
        return 0;
    ap_args_to_table(r, &args);
    arr = apr_table_elts(args);
    for (i = 0; i < arr->nelts; i++) {
        const apr_table_entry_t *e = &APR_ARRAY_IDX(arr, i, apr_table_entry_t);

        if (take_param(r, k, e->key, e->val ? e->val : ""))
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
static int body_params(request_rec *r, kickoff *k)
{
    const char *body;
    apr_size_t len;
    json_t *v, *oo;
    dpc_param *ps;
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
        if (take_param(r, k, ps[i].name, json_string_value(ps[i].value)))
            return -1;
    return 0;
}

/* ---- kick-off ------------------------------------------------------------------- */

static const char *pg_array(request_rec *r, const apr_array_header_t *a)
{
    return dpc_pg_text_array(r->pool, (const char *const *)a->elts, a->nelts);
}

/* The types to export: asked for, or every type the token may read. */
static int choose_types(request_rec *r, const dpc_principal *who, kickoff *k)
{
    int i;

    if (k->types->nelts == 0)
        for (i = 0; export_types[i]; i++)
            if (scope_reads(r->pool, who->scope, export_types[i]))
                APR_ARRAY_PUSH(k->types, const char *) = export_types[i];
    for (i = 0; i < k->types->nelts; i++)
        if (!scope_reads(r->pool, who->scope, APR_ARRAY_IDX(k->types, i, const char *)))
            return refuse_oo(r, HTTP_FORBIDDEN, DPC_ISSUE_FORBIDDEN,
                               apr_psprintf(r->pool, "the access token's scope (%s) does "
                                            "not cover %s", who->scope,
                                            APR_ARRAY_IDX(k->types, i, const char *)));
    if (!k->types->nelts)
        return refuse_oo(r, HTTP_FORBIDDEN, DPC_ISSUE_FORBIDDEN,
                           "the access token's scope covers no exported type");
    return 0;
}

static const char *job_url(request_rec *r, const char *id)
{
    return apr_pstrcat(r->pool, dpc_base_url(r), "/Jobs/", id, NULL);
}

int dpc_op_export(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    const char *group = call->id;
    dpc_srv_conf *c = dpc_srv(r->server);
    const char *accept = apr_table_get(r->headers_in, "Accept"),
               *prefer = apr_table_get(r->headers_in, "Prefer"), *args[12], *out, *e;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    json_t *result;
    kickoff k;

    memset(&k, 0, sizeof(k));
    k.types = apr_array_make(r->pool, 3, sizeof(const char *));
    k.notes = apr_array_make(r->pool, 2, sizeof(const char *));
    k.lenient = dpc_header_has(r->pool, prefer, "handling=lenient");
    if (accept && !dpc_header_has(r->pool, accept, "application/fhir+json")
        && !dpc_header_has(r->pool, accept, "*/*")
        && !dpc_header_has(r->pool, accept, "application/*"))
        return bad_request(r, "Accept must allow application/fhir+json");
    if (!dpc_header_has(r->pool, prefer, "respond-async"))
        return bad_request(r, "Prefer: respond-async is required");
    if (!dpc_uuid_is_valid(group))
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such Group");
    if ((r->method_number == M_POST ? body_params(r, &k) : query_params(r, &k))
        || choose_types(r, who, &k))
        return OK;
    /* the job carries what its workers export it with: this vhost's settings */
    args[0] = who->org_id;
    args[1] = group;
    args[2] = dpc_conf_dialect(dpc_dir(r))->name;
    args[3] = apr_itoa(r->pool, dpc_conf_dialect(dpc_dir(r))->fhir_version);
    args[4] = dpc_request_url(r);
    args[5] = pg_array(r, k.types);
    args[6] = k.since ? apr_psprintf(r->pool, "%" APR_TIME_T_FMT, k.since) : NULL;
    args[7] = pg_array(r, k.notes);
    args[8] = apr_itoa(r->pool, dpc_conf_export_batch(c));
    args[9] = apr_itoa(r->pool, dpc_conf_resources_per_file(c));
    args[10] = dpc_conf_export_gzip(c) ? "true" : "false";
    args[11] = apr_psprintf(r->pool, "%" APR_TIME_T_FMT,
                            apr_time_sec(dpc_conf_file_lifetime(c)));
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, "dpc_export_start", &res, 12, args)
        || !(row = dpc_db_row(r, db, res, 0)) || !(out = dpc_db_col(r, db, row, 0)))
        return dpc_send_db_error(r);
    result = dpc_json_pool(r->pool, json_loads(out, 0, NULL));
    if ((e = dpc_jstr(result, "error")) != NULL) {
        if (!strcmp(e, "not_found"))
            return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such Group");
        apr_table_setn(r->headers_out, "Retry-After", "10");
        if (dpc_jstr(result, "job"))
            apr_table_setn(r->headers_out, "Content-Location",
                           job_url(r, dpc_jstr(result, "job")));
        return dpc_send_oo(r, HTTP_TOO_MANY_REQUESTS, DPC_ISSUE_THROTTLED,
                           "an export of this Group is running: follow its "
                           "Content-Location");
    }
    apr_table_setn(r->notes, "dpc-job", dpc_jstr(result, "job"));
    apr_table_setn(r->headers_out, "Content-Location", job_url(r, dpc_jstr(result, "job")));
    return dpc_send_oo(r, HTTP_ACCEPTED, DPC_ISSUE_INFORMATIONAL,
                       "the export has started: poll its Content-Location");
}

/* ---- status and cancel ------------------------------------------------------------ */

static int job_not_found(request_rec *r)
{
    return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such job");
}

static json_t *manifest(request_rec *r, ap_dbd_t *db, const char *id, const char *url,
                        apr_time_t tt)
{
    apr_dbd_results_t *res;
    json_t *output = json_array(), *error = json_array();
    int i, n;

    if (dpc_db_select(r, db, "dpc_job_files", &res, 1, &id)) {
        json_decref(output);
        json_decref(error);
        return NULL;
    }
    n = dpc_db_nrows(db, res);
    for (i = 0; i < n; i++) {
        apr_dbd_row_t *row = dpc_db_row(r, db, res, i);
        const char *type = dpc_db_col(r, db, row, 1);

        /* the error file holds OperationOutcomes, and only it does */
        json_array_append_new(strcmp(type, "OperationOutcome") ? output : error,
                              json_pack("{s:s, s:s, s:I, s:[{s:s, s:s}, {s:s, s:I}]}",
            "type", type,
            "url", apr_pstrcat(r->pool, dpc_base_url(r), "/data/", id, "/",
                               dpc_db_col(r, db, row, 0), NULL),
            "count", (json_int_t)apr_atoi64(dpc_db_col(r, db, row, 2)),
            "extension", "url", dpc_conf_dialect(dpc_dir(r))->ext_checksum, "valueString",
            apr_pstrcat(r->pool, "sha256:", dpc_db_col(r, db, row, 4), NULL),
            "url", dpc_conf_dialect(dpc_dir(r))->ext_file_length, "valueDecimal",
            (json_int_t)apr_atoi64(dpc_db_col(r, db, row, 3))));
    }
    return json_pack("{s:s, s:s, s:b, s:o, s:o}", "transactionTime",
                     dpc_instant_format(r->pool, tt), "request", url,
                     "requiresAccessToken", 1, "output", output, "error", error);
}

int dpc_op_job_status(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    const char *id = call->id;
    const char *args[2], *status;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    json_t *m;
    long total, done;

    if (!dpc_uuid_is_valid(id))
        return job_not_found(r);
    args[0] = id;
    args[1] = who->org_id;
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, "dpc_job_get", &res, 2, args))
        return dpc_send_db_error(r);
    if (!(row = dpc_db_row(r, db, res, 0)))
        return job_not_found(r);
    status = dpc_db_col(r, db, row, 0);
    apr_table_setn(r->notes, "dpc-job", id);
    if (!strcmp(status, "cancelled"))
        return job_not_found(r);
    if (!strcmp(status, "failed"))
        return dpc_send_oo(r, HTTP_INTERNAL_SERVER_ERROR, DPC_ISSUE_EXCEPTION,
                           apr_pstrcat(r->pool, "the export failed: ",
                                       dpc_db_col(r, db, row, 5), NULL));
    if (!strcmp(status, "running")) {
        total = atol(dpc_db_col(r, db, row, 3));
        done = atol(dpc_db_col(r, db, row, 4));
        apr_table_setn(r->headers_out, "X-Progress",
                       apr_psprintf(r->pool, "%ld%% (%ld of %ld batches)",
                                    total ? done * 100 / total : 0, done, total));
        apr_table_setn(r->headers_out, "Retry-After", "2");
        r->status = HTTP_ACCEPTED;
        apr_table_setn(r->headers_out, "Cache-Control", "no-store");
        return OK;
    }
    if (!strcmp(dpc_db_col(r, db, row, 7), "1"))
        return dpc_send_oo(r, HTTP_GONE, DPC_ISSUE_EXPIRED, "the export's files have expired");
    if (!(m = manifest(r, db, id, dpc_db_col(r, db, row, 1), dpc_db_time(r, db, row, 2))))
        return dpc_send_db_error(r);
    apr_table_setn(r->headers_out, "Expires",
                   ap_ht_time(r->pool, dpc_db_time(r, db, row, 6), "%a, %d %b %Y %H:%M:%S GMT", 1));
    return dpc_send_json(r, HTTP_OK, "application/json", m);
}

int dpc_op_job_cancel(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    const char *id = call->id;
    const char *args[2];
    apr_dbd_results_t *res;
    ap_dbd_t *db;

    if (!dpc_uuid_is_valid(id))
        return job_not_found(r);
    args[0] = id;
    args[1] = who->org_id;
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, "dpc_job_cancel", &res, 2, args))
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
    if (!dpc_export_name_valid(name) || !(dir = dpc_export_job_dir(r->pool, c->export_root, job)))
        return DECLINED;
    r->filename = apr_pstrcat(r->pool, dir, "/", name, NULL);
    apr_table_setn(r->notes, "dpc-job", job);
    apr_table_setn(r->notes, "dpc-data", name);
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

/* Bearer token, then ownership and expiry; a refusal is answered here (an
 * OperationOutcome) and the request ends (DONE). */
int dpc_data_access(request_rec *r)
{
    const char *name = apr_table_get(r->notes, "dpc-data"), *args[3], *status;
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
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, "dpc_file_owner", &res, 3, args)) {
        dpc_send_db_error(r);
        return DONE;
    }
    /* a failed or cancelled job's files (say, of its batches done before a
     * disk filled up) are nobody's, whatever their name */
    if (!(row = dpc_db_row(r, db, res, 0))
        || strcmp((status = dpc_db_col(r, db, row, 0)), "completed")) {
        dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such file");
        return DONE;
    }
    if (!strcmp(dpc_db_col(r, db, row, 1), "1")) {
        dpc_send_oo(r, HTTP_GONE, DPC_ISSUE_EXPIRED, "this export file has expired");
        return DONE;
    }
    if (r->finfo.filetype != APR_REG) {
        dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such file");
        return DONE;
    }
    choose_coding(r, dpc_db_col(r, db, row, 2));
    r->handler = NULL;
    return OK;
}

int dpc_data_fixups(request_rec *r)
{
    if (!apr_table_get(r->notes, "dpc-data"))
        return DECLINED;
    ap_set_content_type(r, NDJSON);
    /* after mod_mime, which may have taken ".gz" for its own encoding name */
    r->content_encoding = apr_table_get(r->notes, "dpc-gzip") ? "gzip" : NULL;
    return OK;
}
