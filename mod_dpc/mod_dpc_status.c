/* mod_dpc_status.c: mod_dpc's section of mod_status's /server-status: the
 * export workers and jobs, read from PostgreSQL (where all of their state
 * is) in one statement.  With ?auto, the same figures as "key: value"
 * lines for monitoring. */
#include "mod_dpc_status.h"

#include <http_protocol.h>
#include <apr_network_io.h>
#include <apr_strings.h>
#include <mod_status.h>

#include "dpc_job.h"
#include "dpc_log.h"
#include "mod_dpc_db.h"

#define DPC_Q_STATUS "dpc_status"

/* Alive: a worker whose heartbeat is fresher than the staleness after
 * which its batches are claimed again.  Queued: a running job none of
 * whose batches was ever claimed.  Rates over the last minute, totals over
 * the last hour. */
const dpc_statement dpc_status_statements[] = {
    { DPC_Q_STATUS,
      "WITH live AS (SELECT host FROM worker WHERE stopped_at IS NULL"
      "              AND heartbeat > now() - make_interval(secs => %s::int)),"
      " run AS (SELECT j.id, j.created_at, EXISTS (SELECT 1 FROM export_batch b"
      "         WHERE b.job_id = j.id AND b.claimed_at IS NOT NULL) AS started"
      "         FROM export_job j WHERE j.status = 'running')"
      " SELECT (SELECT count(*) FROM live WHERE host = %s),"
      "  (SELECT count(*) FROM live),"
      "  (SELECT count(*) FROM run WHERE NOT started),"
      "  (SELECT count(*) FROM run WHERE started),"
      "  (SELECT count(*) FROM export_job WHERE status = 'completed'"
      "   AND completed_at > now() - interval '1 hour'),"
      "  (SELECT count(*) FROM export_job WHERE status = 'failed'"
      "   AND completed_at > now() - interval '1 hour'),"
      "  (SELECT count(*) FROM export_batch WHERE done_at > now() - interval '1 minute'),"
      "  (SELECT coalesce(sum(f.bytes), 0) FROM export_file f JOIN export_batch b"
      "   ON b.job_id = f.job_id AND b.seq = f.batch_seq"
      "   WHERE b.done_at > now() - interval '1 hour'),"
      "  (SELECT coalesce(extract(epoch from now() - min(created_at))::bigint, 0) FROM run)" },
    { NULL, NULL }
};

/* The statement's columns, in order, with their names for ?auto. */
enum status_col {
    ST_WORKERS_HERE, ST_WORKERS_ALL, ST_QUEUED, ST_RUNNING, ST_COMPLETED_1H,
    ST_FAILED_1H, ST_BATCHES_1M, ST_BYTES_1H, ST_OLDEST, ST_COLS
};

static const char *const auto_keys[ST_COLS] = {
    "DPCWorkersAliveHere", "DPCWorkersAlive", "DPCJobsQueued", "DPCJobsRunning",
    "DPCJobsCompletedLastHour", "DPCJobsFailedLastHour", NULL, "DPCBytesWrittenLastHour",
    "DPCOldestRunningJobSeconds"
};

static const char *const html_labels[ST_COLS] = {
    "export workers alive on this host", "export workers alive on all hosts",
    "jobs queued", "jobs running", "jobs completed in the last hour",
    "jobs failed in the last hour", NULL, "bytes written in the last hour",
    "oldest running job (seconds)"
};

static int read_figures(request_rec *r, const char **v)
{
    char host[APRMAXHOSTLEN + 1];
    const char *args[2];
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    int i;

    if (apr_gethostname(host, sizeof(host), r->pool) != APR_SUCCESS)
        apr_cpystrn(host, "localhost", sizeof(host));
    args[0] = apr_itoa(r->pool, DPC_JOB_STALE_SECS);
    args[1] = host;
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, DPC_Q_STATUS, &res, 2, args)
        || !(row = dpc_db_row(r, db, res, 0)))
        return -1;
    for (i = 0; i < ST_COLS; i++)
        v[i] = dpc_db_col(r, db, row, i);
    return 0;
}

/* Batches finished per second over the last minute. */
static const char *batch_rate(request_rec *r, const char *per_minute)
{
    return apr_psprintf(r->pool, "%.2f", per_minute ? atof(per_minute) / 60.0 : 0.0);
}

static void show_auto(request_rec *r, const char *const *v)
{
    int i;

    for (i = 0; i < ST_COLS; i++)
        if (auto_keys[i])
            ap_rprintf(r, "%s: %s\n", auto_keys[i], v[i] ? v[i] : "0");
    ap_rprintf(r, "DPCBatchesPerSecond: %s\n", batch_rate(r, v[ST_BATCHES_1M]));
}

static void show_html(request_rec *r, const char *const *v)
{
    int i;

    ap_rputs("<hr />\n<h2>mod_dpc exports</h2>\n<table>\n", r);
    for (i = 0; i < ST_COLS; i++)
        if (html_labels[i])
            ap_rprintf(r, "<tr><td>%s</td><td>%s</td></tr>\n", html_labels[i],
                       ap_escape_html(r->pool, v[i] ? v[i] : "0"));
    ap_rprintf(r, "<tr><td>batches per second (last minute)</td><td>%s</td></tr>\n",
               batch_rate(r, v[ST_BATCHES_1M]));
    ap_rputs("</table>\n", r);
}

int dpc_status_hook(request_rec *r, int flags)
{
    const char *v[ST_COLS];

    if (!dpc_srv(r->server)->dbd_prepared)
        return OK;                  /* no DPCAPI in this server */
    if (read_figures(r, v)) {
        if (flags & AP_STATUS_SHORT)
            ap_rputs("DPCStatus: database unavailable\n", r);
        else
            ap_rputs("<hr />\n<h2>mod_dpc exports</h2>\n<p>The database cannot be read "
                     "(see the error log).</p>\n", r);
        return OK;
    }
    if (flags & AP_STATUS_SHORT)
        show_auto(r, v);
    else
        show_html(r, v);
    return OK;
}
