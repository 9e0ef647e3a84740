/* mod_dpc_audit.c: the audit rows of what leaves no row of its own in the
 * database: access tokens issued and export files downloaded.  Written
 * after the response, from httpd's log_transaction hook, when the bytes
 * sent are known; a handler asks for one by setting the note "dpc-audit"
 * to the action.  (Changes to credentials, rosters and exports are audited
 * by the database's triggers, in the transaction that makes them: see
 * sql/011_operations.sql.) */
#include "mod_dpc_audit.h"

#include <http_protocol.h>
#include <apr_strings.h>
#include <libpq-fe.h>

#include "dpc_fhir.h"
#include "dpc_log.h"

/* One INSERT, committed without waiting for its WAL flush
 * (synchronous_commit off for its own transaction): these rows are written
 * after the response anyway, and a flush of their own would double the
 * commits, and so the fsyncs, of a token request.  PostgreSQL crashing
 * may lose the last fraction of a second of them (wal_writer_delay);
 * nothing else can.  One round trip: the two statements go as one query
 * string, which PostgreSQL runs as one transaction. */
#define AUDIT_SQL                                                               \
    "SET LOCAL synchronous_commit TO off;"                                      \
    " INSERT INTO audit_event (actor, address, action, org_id, job_id, detail)"  \
    " VALUES (%s, %s, %s, %s::uuid, %s::uuid, %s::jsonb)"

/* v as an SQL literal (NULL for NULL or ""), or NULL when libpq cannot
 * quote it (out of memory, bad encoding). */
static const char *literal(request_rec *r, PGconn *c, const char *v)
{
    char *q;
    const char *out;

    if (!v || !*v)
        return "NULL";
    if (!(q = PQescapeLiteral(c, v, strlen(v))))
        return NULL;
    out = apr_pstrdup(r->pool, q);
    PQfreemem(q);
    return out;
}

/* Insert the row; 0, or -1 with *why. */
static int insert(request_rec *r, ap_dbd_t *db, const char *const *v, const char **why)
{
    PGconn *c = apr_dbd_native_handle(db->driver, db->handle);
    const char *l[6];
    PGresult *res;
    int i, ok;

    for (i = 0; i < 6; i++)
        if (!(l[i] = literal(r, c, v[i]))) {
            *why = apr_pstrdup(r->pool, PQerrorMessage(c));
            return -1;
        }
    res = PQexec(c, apr_psprintf(r->pool, AUDIT_SQL, l[0], l[1], l[2], l[3], l[4], l[5]));
    ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        *why = apr_pstrdup(r->pool, PQresultErrorMessage(res));
    PQclear(res);
    return ok ? 0 : -1;
}

/* What a download sent: the file, the bytes, and whether it was all of it
 * (a 200 that sent the whole body; a 206 sends a range). */
static json_t *download_detail(request_rec *r)
{
    const char *file = apr_table_get(r->notes, "dpc-data");
    int whole = r->status == HTTP_OK && r->finfo.filetype != APR_NOFILE
                && (apr_off_t)r->bytes_sent == r->finfo.size;

    return json_pack("{s:s, s:I, s:i, s:b, s:s}", "file", file ? file : "",
                     "bytes", (json_int_t)r->bytes_sent, "status", r->status,
                     "complete", whole,
                     "encoding", r->content_encoding ? r->content_encoding : "identity");
}

/* Did the response send the file's last byte, with every byte it meant to
 * send: a whole 200, or a single-range 206 ending at the file's end (the
 * rest of an interrupted download)?  Only then is a download counted
 * against DPCDownloadLimit. */
static int sent_last_byte(request_rec *r)
{
    const char *cr = apr_table_get(r->headers_out, "Content-Range");
    apr_off_t from, to, size;
    char *end;

    if (r->finfo.filetype == APR_NOFILE)
        return 0;
    if (r->status == HTTP_OK)
        return (apr_off_t)r->bytes_sent == r->finfo.size;
    if (r->status != HTTP_PARTIAL_CONTENT || !cr || strncmp(cr, "bytes ", 6))
        return 0;
    if (apr_strtoff(&from, cr + 6, &end, 10) || *end != '-'
        || apr_strtoff(&to, end + 1, &end, 10) || *end != '/'
        || apr_strtoff(&size, end + 1, &end, 10) || *end)
        return 0;
    return size == r->finfo.size && to == size - 1
           && (apr_off_t)r->bytes_sent == to - from + 1;
}

/* Count a download that sent the last byte of its file (the access check
 * asks, with the note dpc-count-download, under a DPCDownloadLimit). */
static void count_download(request_rec *r, ap_dbd_t *db)
{
    PGconn *c = apr_dbd_native_handle(db->driver, db->handle);
    const char *params[2];
    PGresult *res;

    if (!apr_table_get(r->notes, "dpc-count-download") || !sent_last_byte(r))
        return;
    params[0] = apr_table_get(r->notes, "dpc-job");
    params[1] = apr_table_get(r->notes, "dpc-data");
    res = PQexecParams(c, "UPDATE export_file SET downloads = downloads + 1"
                       " WHERE job_id = $1::uuid AND name = $2", 2, NULL, params,
                       NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, DPCLOGNO(03000)
                      "download of %s (job %s) not counted: %s", params[1], params[0],
                      PQresultErrorMessage(res));
    PQclear(res);
}

static json_t *token_detail(request_rec *r)
{
    const char *scope = apr_table_get(r->notes, "dpc-scope");

    return json_pack("{s:s, s:s}", "scope", scope ? scope : "",
                     "key", apr_table_get(r->notes, "dpc-key")
                            ? apr_table_get(r->notes, "dpc-key") : "");
}

void dpc_audit_note(request_rec *r, const char *action, const char *actor, const char *org,
                    json_t *detail)
{
    apr_table_setn(r->notes, "dpc-audit", action);
    apr_table_setn(r->notes, "dpc-actor", actor);
    if (org)
        apr_table_setn(r->notes, "dpc-org", org);
    if (detail)
        apr_table_setn(r->notes, "dpc-audit-detail", dpc_json_pdump_decref(r->pool, detail));
}

int dpc_audit_log(request_rec *r)
{
    const char *action = apr_table_get(r->notes, "dpc-audit"), *args[6], *org, *why = NULL;
    ap_dbd_t *db;
    json_t *detail;
    int n;

    if (!action || r->main || r->prev)
        return DECLINED;
    if (!strcmp(action, "file.downloaded")) {
        /* a HEAD, a 304 or a refusal sent no claims data */
        if (r->header_only || (r->status != HTTP_OK && r->status != HTTP_PARTIAL_CONTENT))
            return DECLINED;
        detail = download_detail(r);
    }
    else if (!strcmp(action, "token.issued"))
        detail = token_detail(r);
    else
        detail = json_loads(apr_table_get(r->notes, "dpc-audit-detail")
                            ? apr_table_get(r->notes, "dpc-audit-detail") : "{}", 0, NULL);
    detail = dpc_json_pool(r->pool, detail);
    n = dpc_db_who(r, apr_table_get(r->notes, "dpc-credential"), args);
    if (apr_table_get(r->notes, "dpc-actor"))
        args[0] = apr_table_get(r->notes, "dpc-actor");
    args[n++] = action;
    args[n++] = org = apr_table_get(r->notes, "dpc-org");
    args[n++] = apr_table_get(r->notes, "dpc-job");
    args[n++] = dpc_json_pdump(r->pool, detail);
    if (!(db = dpc_db(r)) || insert(r, db, args, &why))
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, DPCLOGNO(00170)
                      "audit row not written: %s for organization %s: %s", action,
                      org ? org : "(none)", db ? why : "no database connection");
    if (db && !strcmp(action, "file.downloaded"))
        count_download(r, db);
    return DECLINED;
}
