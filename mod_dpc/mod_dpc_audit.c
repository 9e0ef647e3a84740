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

#include "dpc_fhir.h"
#include "dpc_log.h"

#define DPC_Q_AUDIT "dpc_audit_add"

/* One plain INSERT (no function, no settings): it runs once for every
 * token issued and every file sent, in the thread that served them. */
const dpc_statement dpc_audit_statements[] = {
    { DPC_Q_AUDIT,
      "INSERT INTO audit_event (actor, address, action, org_id, job_id, detail)"
      " VALUES (nullif(%s, ''), nullif(%s, ''), %s, %s::uuid, %s::uuid, %s::jsonb)" },
    { NULL, NULL }
};

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

static json_t *token_detail(request_rec *r)
{
    const char *scope = apr_table_get(r->notes, "dpc-scope");

    return json_pack("{s:s, s:s}", "scope", scope ? scope : "",
                     "key", apr_table_get(r->notes, "dpc-key")
                            ? apr_table_get(r->notes, "dpc-key") : "");
}

int dpc_audit_log(request_rec *r)
{
    const char *action = apr_table_get(r->notes, "dpc-audit"), *args[6];
    ap_dbd_t *db;
    json_t *detail;
    int n, rows;

    if (!action || r->main || r->prev)
        return DECLINED;
    if (!strcmp(action, "file.downloaded")) {
        /* a HEAD, a 304 or a refusal sent no claims data */
        if (r->header_only || (r->status != HTTP_OK && r->status != HTTP_PARTIAL_CONTENT))
            return DECLINED;
        detail = download_detail(r);
    }
    else
        detail = token_detail(r);
    detail = dpc_json_pool(r->pool, detail);
    n = dpc_db_who(r, apr_table_get(r->notes, "dpc-credential"), args);
    args[n++] = action;
    args[n++] = apr_table_get(r->notes, "dpc-org");
    args[n++] = apr_table_get(r->notes, "dpc-job");
    args[n++] = dpc_json_pdump(r->pool, detail);
    if (!(db = dpc_db(r)) || dpc_db_query(r, db, DPC_Q_AUDIT, &rows, n, args))
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, DPCLOGNO(00170)
                      "audit row not written: %s for organization %s", action,
                      args[n - 3] ? args[n - 3] : "(none)");
    return DECLINED;
}
