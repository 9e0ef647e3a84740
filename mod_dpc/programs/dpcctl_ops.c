/* dpcctl_ops.c: the operator's commands on exports.
 *
 *   dpcctl jobs [--org ID] [--status S] [JOB_ID]
 *   dpcctl workers
 *   dpcctl expire --export-root DIR
 *
 * jobs lists export jobs ({"jobs": [...]}, oldest first): id, org, status,
 * types, since, created, completed, expires, batches done of total, error,
 * whether the files were removed.  With JOB_ID, that job alone, with its
 * batches (seq, status, worker, heartbeat and its age in seconds, number of
 * beneficiaries) and its files.
 *
 * workers lists the rows of the worker table ({"workers": [...]}): id,
 * host, pid, started, last heartbeat and its age, stopped, alive (not
 * stopped, heartbeat fresher than DPC_JOB_STALE_SECS, the age after which
 * the others reclaim its batches), and the batches it holds.
 *
 * expire runs the workers' file sweep (dpc_job_sweep) now against DIR, the
 * server's DPCExportRoot: the directories of cancelled, failed and expired
 * jobs that no live worker still writes go.  It prints the jobs whose files
 * it removed ({"removed": [...]}), each saying whether its directory was
 * there under DIR: a sweep marks a job's files removed even when its
 * directory is missing, so a wrong DIR leaves files behind (the command then
 * warns).
 *
 * Values come from PostgreSQL as JSON (row_to_json), so numbers, arrays and
 * nulls keep their types.
 */
#include "dpcctl_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_file_info.h>
#include <apr_strings.h>
#include <jansson.h>

#include "dpc_export.h"
#include "dpc_job.h"
#include "dpc_pg.h"
#include "dpcctl_out.h"

#define STR2(x) #x
#define STR(x) STR2(x)

/* The one JSON value a query returns (its first column, first row), or
 * NULL: not found (*found = 0) or failed (reported). */
static json_t *query_json(apr_pool_t *p, PGconn *c, const char *sql, int n,
                          const char *const *params, int *found)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    json_t *v = NULL;

    *found = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        dpcctl_fail(DPCCTL_FAIL, "%s", dpc_pg_error(p, c, res));
    else if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        v = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, NULL);
        *found = 1;
    }
    PQclear(res);
    return v;
}

/* Print v and release it; decimals with 15 significant digits, so that
 * PostgreSQL's 0.1 prints as 0.1. */
static void print_json(json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;

    if (s)
        puts(s);
    free(s);
    json_decref(v);
}

/* Print {key: value of sql} (value alone when key is NULL). */
static int print_query(apr_pool_t *p, PGconn *c, const char *key, const char *sql,
                       int n, const char *const *params, const char *what)
{
    int found;
    json_t *v = query_json(p, c, sql, n, params, &found);

    if (!v)
        return found || PQstatus(c) != CONNECTION_OK ? DPCCTL_FAIL
               : dpcctl_fail(DPCCTL_FAIL, "no %s", what);
    print_json(key ? json_pack("{s:o}", key, v) : v);
    return DPCCTL_OK;
}

/* ---- jobs --------------------------------------------------------------- */

#define JOB_COLUMNS \
    "j.id, j.org_id AS org, j.status, j.types, j.since, j.created_at AS created," \
    " j.completed_at AS completed, j.expires_at AS expires," \
    " (SELECT count(*) FROM export_batch b WHERE b.job_id = j.id" \
    "  AND b.status = 'done') AS batches_done, j.batches_total, j.error," \
    " j.files_removed"

static const char jobs_sql[] =
    "SELECT coalesce(json_agg(row_to_json(x) ORDER BY x.created, x.id), '[]')"
    " FROM (SELECT " JOB_COLUMNS " FROM export_job j"
    "       WHERE ($1::text IS NULL OR j.org_id::text = $1)"
    "         AND ($2::text IS NULL OR j.status = $2)) x";

static const char job_sql[] =
    "SELECT row_to_json(x) FROM (SELECT " JOB_COLUMNS ","
    " (SELECT coalesce(json_agg(row_to_json(b) ORDER BY b.seq), '[]') FROM"
    "  (SELECT seq, status, worker_id AS worker, heartbeat,"
    "   round(extract(epoch FROM now() - heartbeat), 1) AS heartbeat_age,"
    "   cardinality(mbis) AS beneficiaries FROM export_batch"
    "   WHERE job_id = j.id) b) AS batches,"
    " (SELECT coalesce(json_agg(row_to_json(f) ORDER BY f.batch_seq, f.name), '[]') FROM"
    "  (SELECT name, type, batch_seq, count, bytes, sha256, gz_name, gz_bytes"
    "   FROM export_file WHERE job_id = j.id) f) AS files"
    " FROM export_job j WHERE j.id::text = $1) x";

static int status_valid(const char *s)
{
    return !strcmp(s, "running") || !strcmp(s, "completed") || !strcmp(s, "failed")
           || !strcmp(s, "cancelled");
}

int dpcctl_jobs(apr_pool_t *p, PGconn *conn, int argc, char **argv)
{
    const char *params[2] = { NULL, NULL }, *job = NULL;
    int i;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--org") && i + 1 < argc)
            params[0] = argv[++i];
        else if (!strcmp(argv[i], "--status") && i + 1 < argc && status_valid(argv[i + 1]))
            params[1] = argv[++i];
        else if (argv[i][0] != '-' && !job)
            job = argv[i];
        else
            return dpcctl_fail(DPCCTL_USAGE, "jobs [--org ID] [--status running|completed|"
                               "failed|cancelled] [JOB_ID]");
    }
    if (job)
        return print_query(p, conn, NULL, job_sql, 1, &job,
                           apr_psprintf(p, "export job %s", job));
    return print_query(p, conn, "jobs", jobs_sql, 2, params, "jobs");
}

/* ---- workers ------------------------------------------------------------ */

static const char workers_sql[] =
    "SELECT coalesce(json_agg(row_to_json(x) ORDER BY x.id), '[]') FROM"
    " (SELECT w.id, w.host, w.pid, w.started_at AS started, w.heartbeat,"
    "  round(extract(epoch FROM now() - w.heartbeat), 1) AS age, w.stopped_at AS stopped,"
    "  (w.stopped_at IS NULL AND w.heartbeat >= now() - interval '"
    STR(DPC_JOB_STALE_SECS) " seconds') AS alive,"
    "  (SELECT coalesce(json_agg(json_build_object('job', b.job_id, 'seq', b.seq)"
    "   ORDER BY b.job_id, b.seq), '[]') FROM export_batch b"
    "   WHERE b.worker_id = w.id AND b.status = 'running') AS batches"
    "  FROM worker w) x";

int dpcctl_workers(apr_pool_t *p, PGconn *conn, int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return dpcctl_fail(DPCCTL_USAGE, "workers takes no arguments");
    return print_query(p, conn, "workers", workers_sql, 0, NULL, "workers");
}

/* ---- expire ------------------------------------------------------------- */

/* What the sweep may remove now, as its query picks them. */
static const char candidates_sql[] =
    "SELECT coalesce(json_agg(j.id), '[]') FROM export_job j WHERE NOT files_removed"
    " AND (status IN ('cancelled', 'failed') OR expires_at < now())";

static const char removed_sql[] =
    "SELECT coalesce(json_agg(row_to_json(x) ORDER BY x.id), '[]') FROM"
    " (SELECT id, org_id AS org, status, expires_at AS expires FROM export_job"
    "  WHERE id::text = ANY($1::text[]) AND files_removed) x";

/* The candidates' ids as a text[] literal, and which of them have a
 * directory under root (a hash of ids). */
static const char *candidates(apr_pool_t *p, PGconn *c, const char *root,
                              apr_hash_t *had_dir)
{
    int found;
    json_t *ids = query_json(p, c, candidates_sql, 0, NULL, &found), *id;
    const char **list;
    apr_finfo_t fi;
    size_t i;

    if (!ids)
        return NULL;
    list = apr_pcalloc(p, sizeof(*list) * (json_array_size(ids) + 1));
    json_array_foreach(ids, i, id) {
        list[i] = apr_pstrdup(p, json_string_value(id));
        if (apr_stat(&fi, dpc_export_job_dir(p, root, list[i]), APR_FINFO_TYPE, p)
            == APR_SUCCESS && fi.filetype == APR_DIR)
            apr_hash_set(had_dir, list[i], APR_HASH_KEY_STRING, "");
    }
    json_decref(ids);
    return dpc_pg_text_array(p, list, (int)i);
}

/* Add "directory" (was it there) to each removed job; count those not. */
static int mark_dirs(json_t *removed, apr_hash_t *had_dir)
{
    json_t *job;
    size_t i;
    int missing = 0;

    json_array_foreach(removed, i, job) {
        int had = apr_hash_get(had_dir, json_string_value(json_object_get(job, "id")),
                               APR_HASH_KEY_STRING) != NULL;

        json_object_set_new(job, "directory", json_boolean(had));
        missing += !had;
    }
    return missing;
}

static int root_dir(apr_pool_t *p, int argc, char **argv, const char **root)
{
    apr_finfo_t fi;
    char *abs;

    if (argc != 3 || strcmp(argv[1], "--export-root"))
        return dpcctl_fail(DPCCTL_USAGE, "expire --export-root DIR");
    if (apr_filepath_merge(&abs, NULL, argv[2], APR_FILEPATH_TRUENAME, p) != APR_SUCCESS
        || apr_stat(&fi, abs, APR_FINFO_TYPE, p) != APR_SUCCESS || fi.filetype != APR_DIR)
        return dpcctl_fail(DPCCTL_FAIL, "expire: %s is not a directory", argv[2]);
    *root = abs;
    return 0;
}

int dpcctl_expire(apr_pool_t *p, PGconn *conn, int argc, char **argv)
{
    apr_hash_t *had_dir = apr_hash_make(p);
    const char *root = NULL, *ids;
    json_t *removed;
    int rc = root_dir(p, argc, argv, &root), found, missing;

    if (rc)
        return rc;
    if (!(ids = candidates(p, conn, root, had_dir)))
        return DPCCTL_FAIL;
    if (dpc_job_sweep(p, conn, root) < 0)
        return dpcctl_fail(DPCCTL_FAIL, "expire: the connection was lost");
    if (!(removed = query_json(p, conn, removed_sql, 1, &ids, &found)))
        return DPCCTL_FAIL;
    if ((missing = mark_dirs(removed, had_dir)) > 0)
        dpcctl_fail(DPCCTL_OK, "expire: %d job(s) had no directory under %s: is it "
                    "the server's DPCExportRoot?", missing, root);
    print_json(json_pack("{s:s, s:o}", "export_root", root, "removed", removed));
    return DPCCTL_OK;
}
