/* dpc_job.c: see dpc_job.h. */
#include "dpc_job.h"

#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "dpc_crypt.h"
#include "dpc_dialect.h"
#include "dpc_export.h"
#include "dpc_fhir.h"
#include "dpc_log.h"
#include "dpc_manifest.h"
#include "dpc_pg.h"
#include "dpc_type_filter.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* How many rows are streamed between two looks at the clock and the stop
 * flag. */
#define CHECK_EVERY 256

/* $1 worker, $2 the dialects this build knows (text[]).  The oldest
 * claimable batch of a running job of one of those dialects: pending, or
 * running with a stale heartbeat (its worker died or lost its connection),
 * with what its job is exported with.  The job's status and dialect are
 * tested inside the locking subquery, so batches of other jobs never hide
 * the others behind LIMIT 1. */
static const char claim_sql[] =
    "UPDATE export_batch b SET status = 'running', worker_id = $1, heartbeat = now(),"
    "       claimed_at = coalesce(b.claimed_at, now())"
    " FROM (SELECT cb.job_id, cb.seq FROM export_batch cb"
    "        JOIN export_job cj ON cj.id = cb.job_id AND cj.status = 'running'"
    "                          AND cj.dialect = ANY($2::text[])"
    "       WHERE cb.status = 'pending' OR (cb.status = 'running' AND cb.heartbeat"
    "             < now() - interval '" STR(DPC_JOB_STALE_SECS) " seconds')"
    "       ORDER BY cj.created_at, cb.seq LIMIT 1 FOR UPDATE OF cb SKIP LOCKED) c,"
    "      export_job j"
    " WHERE b.job_id = c.job_id AND b.seq = c.seq AND j.id = b.job_id"
    " RETURNING b.job_id, b.seq, b.mbis::text, j.fhir_version,"
    "           array_to_string(j.types, ','), j.since::text, j.dialect,"
    "           j.resources_per_file, j.gzip::int, j.until::text, j.type_filter::text,"
    "           j.contract, j.organize_by, j.encrypt_key";
enum {
    CLAIM_JOB, CLAIM_SEQ, CLAIM_MBIS, CLAIM_VERSION, CLAIM_TYPES, CLAIM_SINCE,
    CLAIM_DIALECT, CLAIM_PER_FILE, CLAIM_GZIP, CLAIM_UNTIL, CLAIM_FILTER, CLAIM_CONTRACT,
    CLAIM_ORGANIZE_BY, CLAIM_ENCRYPT_KEY
};

/* $1 mbis, $2 FHIR version, $3 types, $4 since or NULL, $5 until or NULL;
 * with the job's _typeFilter, dpc_type_filter_sql() makes it a UNION ALL
 * of parts that test the claims store's columns (no body is parsed).
 * Every type of the
 * batch in one statement, in no particular order (each row goes to its
 * type's writer): one statement per batch keeps the server streaming, where
 * one per type, sorted, left it idle while each sort filled and each stream
 * drained (build/bench-export). */
static const char stream_sql[] =
    "SELECT r.resource_type, r.body FROM claims_resource r"
    " WHERE r.mbi = ANY($1::text[]) AND r.fhir_version = $2::smallint"
    "   AND r.resource_type = ANY($3::text[])"
    "   AND ($4::timestamptz IS NULL OR r.last_updated > $4::timestamptz)"
    "   AND ($5::timestamptz IS NULL OR r.last_updated <= $5::timestamptz)"
    "   AND NOT EXISTS (SELECT 1 FROM opt_out o WHERE o.mbi = r.mbi)";
enum { STREAM_TYPE, STREAM_BODY, STREAM_MBI };

/* organizeOutputBy=Patient: the same rows with the MBI that tells where a
 * patient ends, read through dpc_type_filter_sql() like stream_sql, then
 * each beneficiary's together, the Patient first (by_patient()).  Sorted,
 * so slower than stream_sql: only jobs that ask for it pay. */
static const char stream_patient_rows_sql[] =
    "SELECT r.resource_type, r.body, r.mbi FROM claims_resource r"
    " WHERE r.mbi = ANY($1::text[]) AND r.fhir_version = $2::smallint"
    "   AND r.resource_type = ANY($3::text[])"
    "   AND ($4::timestamptz IS NULL OR r.last_updated > $4::timestamptz)"
    "   AND ($5::timestamptz IS NULL OR r.last_updated <= $5::timestamptz)"
    "   AND NOT EXISTS (SELECT 1 FROM opt_out o WHERE o.mbi = r.mbi)";

/* The statement of an organized batch: rows (stream_patient_rows_sql with
 * the job's filter), each patient's together, the Patient first; NULL
 * when rows is. */
static const char *by_patient(apr_pool_t *p, const char *rows)
{
    return rows ? apr_pstrcat(p, "SELECT x.resource_type, x.body, x.mbi FROM (", rows,
                              ") x ORDER BY x.mbi, x.resource_type <> 'Patient',"
                              " x.resource_type", NULL)
                : NULL;
}

/* The same for a contract's job (AB2D; $5 until or NULL, $6 the job): only what a Part D
 * sponsor may be given, decided on the claims store's columns, no body
 * read: Part A and B claims (every claim type but pde) whose billable
 * period starts (or, without a start, ends) in a month the beneficiary
 * was enrolled in the contract, on or after 2020-01-01 and the contract's
 * attestation.  The job's contract is settled first (a materialized CTE),
 * so that the plan starts from the batch's claims and probes the
 * enrollment's primary key for each (measured: 0.16 s a batch of 100,
 * where a plan starting from the contract's enrollment took 2.9 s). */
static const char stream_contract_sql[] =
    "WITH k AS MATERIALIZED (SELECT j.contract, greatest(date '" DPC_JOB_CONTRACT_FLOOR "',"
    "                        (c.attested_at AT TIME ZONE 'UTC')::date) AS floor"
    "         FROM export_job j JOIN ab2d_contract c ON c.number = j.contract"
    "        WHERE j.id = $6::uuid)"
    " SELECT r.resource_type, r.body FROM claims_resource r, k"
    " WHERE r.mbi = ANY($1::text[]) AND r.fhir_version = $2::smallint"
    "   AND r.resource_type = ANY($3::text[])"
    "   AND ($4::timestamptz IS NULL OR r.last_updated > $4::timestamptz)"
    "   AND ($5::timestamptz IS NULL OR r.last_updated <= $5::timestamptz)"
    "   AND r.claim_type <> 'pde' AND coalesce(r.service_start, r.service_end) >= k.floor"
    "   AND EXISTS (SELECT 1 FROM ab2d_enrollment e WHERE e.contract = k.contract"
    "               AND e.mbi = r.mbi AND e.month = date_trunc('month',"
    "                   coalesce(r.service_start, r.service_end))::date)"
    "   AND NOT EXISTS (SELECT 1 FROM opt_out o WHERE o.mbi = r.mbi)";

/* $1 job, $2 seq, $3 mbis, $4 FHIR version: what goes into the batch's
 * error file, in order: the job's ignored kick-off parameters (batch 0
 * only), then each beneficiary of the batch who has opted out or has no
 * data at all (no resource of any type in this version). */
static const char problems_sql[] =
    "SELECT kind, detail FROM ("
    "  SELECT 0 AS o, u.ord, 'ignored' AS kind, u.n AS detail"
    "    FROM export_job j, unnest(j.notes) WITH ORDINALITY AS u(n, ord)"
    "   WHERE j.id = $1 AND $2::int = 0"
    "  UNION ALL"
    "  SELECT 1, u.ord, CASE WHEN EXISTS (SELECT 1 FROM opt_out o WHERE o.mbi = u.m)"
    "                   THEN 'opted-out' ELSE 'no-data' END, u.m"
    "    FROM unnest($3::text[]) WITH ORDINALITY AS u(m, ord)"
    "   WHERE EXISTS (SELECT 1 FROM opt_out o WHERE o.mbi = u.m)"
    "      OR NOT EXISTS (SELECT 1 FROM claims_resource r WHERE r.mbi = u.m"
    "                     AND r.fhir_version = $4::smallint)"
    ") x ORDER BY o, ord";
enum { PROBLEM_KIND, PROBLEM_DETAIL };

/* Also keeps our worker row alive, which the main loop cannot touch while
 * it is busy with a batch. */
static const char beat_sql[] =
    "WITH w AS (UPDATE worker SET heartbeat = now() WHERE id = $3::bigint)"
    " UPDATE export_batch b SET heartbeat = now() FROM export_job j"
    " WHERE b.job_id = $1 AND b.seq = $2::int AND b.worker_id = $3::bigint"
    "   AND b.status = 'running' AND j.id = b.job_id AND j.status = 'running'"
    " RETURNING b.seq";

static const char release_sql[] =
    "UPDATE export_batch SET status = 'pending', worker_id = NULL, heartbeat = NULL"
    " WHERE job_id = $1 AND seq = $2::int AND worker_id = $3::bigint"
    "   AND status = 'running' RETURNING seq";

static const char fail_sql[] =
    "UPDATE export_job SET status = 'failed', error = $2"
    " WHERE id = $1 AND status = 'running' RETURNING id";

static const char lock_job_sql[] =
    "SELECT status FROM export_job WHERE id = $1 FOR UPDATE";
enum { LOCK_STATUS };

/* The rows the job refers to, share-locked before the job row, parents
 * first, in the order a delete of them takes them (organization, then its
 * contract or Group, then the job its cascade reaches).  Once the batch has
 * changed the job row (each file's place is counted on it), every further
 * change of the row checks its foreign keys, which share-locks these rows:
 * taken then, while the job row is held, they deadlocked with a Group
 * deleted at that moment (its cascade waiting for the job row), and the
 * export failed. */
static const char *const lock_parents_sql[] = {
    "SELECT 1 FROM organization WHERE id = (SELECT org_id FROM export_job WHERE id = $1)"
    " FOR KEY SHARE",
    "SELECT 1 FROM ab2d_contract WHERE number = (SELECT contract FROM export_job"
    " WHERE id = $1) FOR KEY SHARE",
    "SELECT 1 FROM roster WHERE id = (SELECT roster_id FROM export_job WHERE id = $1)"
    " FOR KEY SHARE",
    NULL
};

static const char done_sql[] =
    "UPDATE export_batch SET status = 'done', heartbeat = now(), done_at = now()"
    " WHERE job_id = $1 AND seq = $2::int AND worker_id = $3::bigint"
    "   AND status = 'running' RETURNING seq";

static const char file_sql[] =
    "INSERT INTO export_file (job_id, batch_seq, name, type, count, bytes, sha256,"
    "                         gz_name, gz_bytes, encrypted_key)"
    " VALUES ($1, $2::int, $3, $4, $5::bigint, $6::bigint, $7, $8, $9::bigint, $10)";

/* The job row is locked (above), so two workers finishing a job's last two
 * batches at once are serialized and the second sees the first's batch
 * done.  Its files live for the job's own file_lifetime. */
static const char complete_sql[] =
    "UPDATE export_job SET status = 'completed', completed_at = now(),"
    "       expires_at = now() + file_lifetime"
    " WHERE id = $1 AND status = 'running'"
    "   AND NOT EXISTS (SELECT 1 FROM export_batch"
    "                   WHERE job_id = $1 AND status <> 'done')"
    " RETURNING id";

/* $1 job: the stem of its next data file, or error file ($2 true), for
 * AB2D's names: "<contract>_0001", "<contract>_0001_error", numbered in
 * the job (a batch given up and done again leaves a gap). */
static const char name_sql[] =
    "WITH n AS (UPDATE export_job SET parts_named = parts_named + (NOT $2::boolean)::int,"
    "                  errors_named = errors_named + $2::boolean::int"
    "            WHERE id = $1 AND contract IS NOT NULL"
    "            RETURNING contract, CASE WHEN $2::boolean THEN errors_named"
    "                                     ELSE parts_named END AS k)"
    " SELECT contract || '_' || CASE WHEN k < 10000 THEN lpad(k::text, 4, '0')"
    "        ELSE k::text END || CASE WHEN $2::boolean THEN '_error' ELSE '' END FROM n";

/* Every name a completed job lists: what its directory keeps. */
static const char listed_sql[] =
    "SELECT name FROM export_file WHERE job_id = $1"
    " UNION ALL SELECT gz_name FROM export_file WHERE job_id = $1 AND gz_name IS NOT NULL";
enum { LISTED_NAME };

/* Outcome of a step. */
typedef enum {
    B_OK,
    B_FAIL,     /* fail the job: b->error says why */
    B_LOST,     /* a connection is gone: mark nothing */
    B_GONE,     /* the batch is not ours any more, or the job stopped */
    B_STOP      /* the worker is stopping */
} outcome;

typedef struct batch {
    apr_pool_t *p;
    const dpc_job_ctx *c;
    const char *job_id;
    const char *seq;
    const char *mbis;           /* text[] literal */
    const char *version;
    const char *since;          /* or NULL */
    const char *until;          /* or NULL */
    const char *stream_sql;     /* stream_sql with the job's _typeFilter, or
                                 * NULL when the stored filter is not one we
                                 * write */
    const char *dialect;        /* the job's, by name */
    const dpc_dialect *d;       /* its descriptor (claimed: one we know) */
    int per_file;               /* the job's resources per file */
    int gzip;                   /* the job's: also write gzip twins */
    const char *contract;       /* the job's AB2D contract, or NULL */
    const char *organize_by;    /* the job's organizeOutputBy ("Patient"):
                                 * one writer of whole patients, or NULL */
    char last_mbi[16];          /* organized: the patient being written */
    const char *encrypt_key;    /* the job's: encrypt data files for this
                                 * PEM public key (BCDA), or NULL */
    EVP_PKEY *enc_pub;          /* encrypt_key parsed (encryption_key()) */
    const char **types;
    const char *types_array;    /* the same as a text[] literal */
    int ntypes;
    const char *dir;
    apr_array_header_t *writers; /* dpc_export_writer * */
    apr_time_t last_beat;
    const char *error;          /* for export_job.error (B_FAIL) */
    int keep_files;             /* commit outcome unknown: leave the files */
    apr_uint64_t resources, files, refused;
} batch;

int dpc_job_split_types(apr_pool_t *p, const char *list, const char ***types,
                        const char **bad)
{
    apr_array_header_t *a = apr_array_make(p, 4, sizeof(const char *));
    char *s = apr_pstrdup(p, list ? list : ""), *last, *t;

    *bad = NULL;
    for (t = apr_strtok(s, ",", &last); t; t = apr_strtok(NULL, ",", &last)) {
        if (!dpc_export_type_valid(t)) {
            *bad = t;
            return -1;
        }
        APR_ARRAY_PUSH(a, const char *) = t;
    }
    if (!a->nelts) {
        *bad = "";
        return -1;
    }
    *types = (const char **)a->elts;
    return a->nelts;
}

static const char *errtext(apr_pool_t *p, apr_status_t rv)
{
    char buf[256];

    return apr_pstrdup(p, apr_strerror(rv, buf, sizeof(buf)));
}

static int stopping(const batch *b)
{
    return b->c->stop && *b->c->stop;
}

/* Classify a failed statement on conn: lost, or a job failure. */
static outcome db_failed(batch *b, PGconn *conn, const char *what, const char *err)
{
    if (PQstatus(conn) != CONNECTION_OK) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(01100)
                       "export job %s batch %s: connection lost while %s: %s",
                       b->job_id, b->seq, what, err);
        return B_LOST;
    }
    b->error = apr_psprintf(b->p, "database error while %s: %s", what, err);
    return B_FAIL;
}

/* Heartbeat the batch on the side connection, if due (or if force). */
static outcome beat(batch *b, int force)
{
    const char *params[3], *v, *err;

    if (stopping(b))
        return B_STOP;
    if (!force && apr_time_now() - b->last_beat < apr_time_from_sec(DPC_JOB_BEAT_SECS))
        return B_OK;
    params[0] = b->job_id;
    params[1] = b->seq;
    params[2] = b->c->worker_id;
    v = dpc_pg_value(b->p, b->c->beat, beat_sql, 3, params, &err);
    if (err) {
        /* Not the job's fault: leave the batch to be reclaimed. */
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(01101)
                       "export job %s batch %s: heartbeat failed: %s",
                       b->job_id, b->seq, err);
        return B_LOST;
    }
    if (!v) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_INFO, 0, DPCLOGNO(01102)
                       "export job %s batch %s: job no longer running or batch "
                       "reclaimed by another worker; abandoning it",
                       b->job_id, b->seq);
        return B_GONE;
    }
    b->last_beat = apr_time_now();
    return B_OK;
}

/* Read what is left of a result we gave up on, after asking the server to
 * cancel it, so the connection is usable again. */
static void drain(PGconn *conn, int cancel)
{
    PGresult *res;

    if (cancel) {
        PGcancel *pc = PQgetCancel(conn);
        char errbuf[256];

        if (pc) {
            PQcancel(pc, errbuf, sizeof(errbuf));
            PQfreeCancel(pc);
        }
    }
    while ((res = PQgetResult(conn)) != NULL)
        PQclear(res);
}

/* A part's name for AB2D's files (dpc_export_namer), asked on the side
 * connection: the main one may be streaming the batch. */
static const char *contract_part_name(void *ctx, const char *type, apr_pool_t *p)
{
    batch *b = ctx;
    const char *params[2], *err, *v;

    params[0] = b->job_id;
    params[1] = strcmp(type, DPC_MANIFEST_ERROR_TYPE) ? "false" : "true";
    v = dpc_pg_value(p, b->c->beat, name_sql, 2, params, &err);
    if (!v)
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, 0, DPCLOGNO(01125)
                       "export job %s batch %s: cannot number its next %s file: %s",
                       b->job_id, b->seq, type, err ? err : "not a contract's job");
    return v;
}

/* A new writer for `type`, kept in b->writers; NULL (b->error set) on
 * failure. */
static dpc_export_writer *new_writer(batch *b, const char *type)
{
    dpc_export_writer *w;
    const char *why;
    apr_status_t rv;
    int grouped = b->organize_by && !strcmp(type, b->organize_by);

    rv = dpc_export_writer_create(b->p, b->dir, type, (apr_uint64_t)b->per_file,
                                  (b->gzip ? DPC_EXPORT_GZIP : 0)
                                  | (grouped ? DPC_EXPORT_WHOLE_GROUPS : 0)
                                  | (b->d->file_naming == DPC_FILES_UUID
                                     ? DPC_EXPORT_UUID_NAMES : 0), &w, &why);
    if (rv != APR_SUCCESS) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, 0, DPCLOGNO(01103)
                       "export job %s batch %s: cannot start %s output: %s",
                       b->job_id, b->seq, type, why);
        b->error = apr_psprintf(b->p, "cannot write %s output: %s", type,
                                errtext(b->p, rv));
        return NULL;
    }
    if (b->d->file_naming == DPC_FILES_CONTRACT)
        dpc_export_writer_namer(w, contract_part_name, b);
    APR_ARRAY_PUSH(b->writers, dpc_export_writer *) = w;
    /* data files only: the error file names who was not exported and
     * why, and goes out plain (as BCDA's did once it encrypted only data) */
    if (b->enc_pub && strcmp(type, DPC_MANIFEST_ERROR_TYPE)
        && (rv = dpc_export_writer_encrypt(w, b->enc_pub)) != APR_SUCCESS) {
        b->error = apr_psprintf(b->p, "cannot encrypt %s output: %s", type,
                                dpc_export_writer_error(w));
        return NULL;
    }
    return w;
}

/* A write to w failed: log it, and fail the job. */
static outcome write_failed(batch *b, dpc_export_writer *w, const char *type,
                            apr_status_t rv)
{
    dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, 0, DPCLOGNO(01104)
                   "export job %s batch %s: %s",
                   b->job_id, b->seq, dpc_export_writer_error(w));
    b->error = apr_psprintf(b->p, "writing %s output failed: %s", type,
                            errtext(b->p, rv));
    return B_FAIL;
}

const char *dpc_job_problem_line(apr_pool_t *p, const char *kind, const char *detail)
{
    json_t *oo = dpc_oo_new();

    if (!strcmp(kind, "ignored"))
        dpc_oo_add(oo, "warning", DPC_ISSUE_NOT_SUPPORTED,
                   apr_pstrcat(p, "The kick-off parameter ", detail, " was ignored "
                               "(Prefer: handling=lenient)", NULL), NULL);
    else if (!strcmp(kind, "opted-out"))
        dpc_oo_add(oo, "error", "suppressed",
                   apr_pstrcat(p, "No data for the beneficiary with MBI ", detail,
                               ": the beneficiary has opted out of data sharing", NULL),
                   NULL);
    else if (!strcmp(kind, "no-data"))
        dpc_oo_add(oo, "error", DPC_ISSUE_NOT_FOUND,
                   apr_pstrcat(p, "No data for the beneficiary with MBI ", detail,
                               ": nothing is held for this beneficiary", NULL),
                   NULL);
    else {
        json_decref(oo);
        return NULL;
    }
    return dpc_json_pdump_decref(p, oo);
}

/* The batch's error file's writer.  With uuid names it takes the uuid of
 * the batch's first data file still being written, so that
 * "<uuid>-error.ndjson" sits beside the data it describes. */
static dpc_export_writer *error_writer(batch *b)
{
    dpc_export_writer *w = new_writer(b, DPC_MANIFEST_ERROR_TYPE);
    const char *name;
    int i;

    if (!w || b->d->file_naming != DPC_FILES_UUID)
        return w;
    for (i = 0; i < b->writers->nelts - 1; i++)
        if ((name = dpc_export_writer_part_name(APR_ARRAY_IDX(b->writers, i,
                                                              dpc_export_writer *)))) {
            dpc_export_writer_stem(w, apr_pstrmemdup(b->p, name, 36));
            break;
        }
    return w;
}

/* Write the batch's error file: one OperationOutcome per ignored kick-off
 * parameter (batch 0) and per beneficiary that cannot be exported. */
static outcome write_problems(batch *b)
{
    const char *params[4], *line;
    dpc_export_writer *w = NULL;
    PGresult *res;
    apr_status_t rv;
    int i, n;

    params[0] = b->job_id;
    params[1] = b->seq;
    params[2] = b->mbis;
    params[3] = b->version;
    res = PQexecParams(b->c->conn, problems_sql, 4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        outcome r = db_failed(b, b->c->conn, "listing beneficiaries without data",
                              dpc_pg_error(b->p, b->c->conn, res));
        PQclear(res);
        return r;
    }
    n = PQntuples(res);
    for (i = 0; i < n; i++) {
        if (!(line = dpc_job_problem_line(b->p, PQgetvalue(res, i, PROBLEM_KIND),
                                          PQgetvalue(res, i, PROBLEM_DETAIL))))
            continue;
        if (!w && !(w = error_writer(b))) {
            PQclear(res);
            return B_FAIL;
        }
        if ((rv = dpc_export_write(w, line, strlen(line))) != APR_SUCCESS) {
            PQclear(res);
            return write_failed(b, w, "OperationOutcome", rv);
        }
    }
    PQclear(res);
    return B_OK;
}

/* The writer of the batch's type `type` (writers are made in the order of
 * b->types; organized, the one writer takes every type), or NULL. */
static dpc_export_writer *writer_of(const batch *b, const char *type)
{
    int i;

    for (i = 0; i < b->ntypes; i++)
        if (!strcmp(b->types[i], type))
            return APR_ARRAY_IDX(b->writers, b->organize_by ? 0 : i,
                                 dpc_export_writer *);
    return NULL;
}

/* ---- organizeOutputBy=Patient -------------------------------------------- */

/* The batch's data writers: one per type, or organized one of whole
 * patients (named after the organizing type). */
static int make_data_writers(batch *b)
{
    int i;

    if (b->organize_by)
        return new_writer(b, b->organize_by) ? 0 : -1;
    for (i = 0; i < b->ntypes; i++)
        if (!new_writer(b, b->types[i]))
            return -1;
    return 0;
}

/* Organized: before a row of beneficiary `mbi`, end the file at the
 * previous patient if it is full. */
static apr_status_t next_patient(batch *b, dpc_export_writer *w, const char *mbi)
{
    if (!b->organize_by || !strcmp(b->last_mbi, mbi))
        return APR_SUCCESS;
    apr_cpystrn(b->last_mbi, mbi, sizeof(b->last_mbi));
    return dpc_export_writer_group(w);
}

/* Stream every type of the batch, each into its own writer. */
static outcome stream_batch(batch *b)
{
    PGconn *conn = b->c->conn;
    dpc_export_writer *w;
    const char *params[6];
    apr_status_t rv;
    PGresult *res;
    outcome r = B_OK;
    apr_uint64_t rows = 0;
    int early = 0;

    if (make_data_writers(b))
        return B_FAIL;
    params[0] = b->mbis;
    params[1] = b->version;
    params[2] = b->types_array;
    params[3] = b->since;
    params[4] = b->until;
    params[5] = b->job_id;
    if (!(b->contract ? PQsendQueryParams(conn, stream_contract_sql, 6, NULL, params, NULL,
                                          NULL, 0)
                      : PQsendQueryParams(conn, b->stream_sql, 5, NULL, params, NULL, NULL, 0)))
        return db_failed(b, conn, "reading resources", dpc_pg_error(b->p, conn, NULL));
    if (!PQsetSingleRowMode(conn)) {
        drain(conn, 1);
        return db_failed(b, conn, "reading resources", "cannot use single-row mode");
    }
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);

        if (st == PGRES_SINGLE_TUPLE) {
            const char *type = PQgetvalue(res, 0, STREAM_TYPE);

            if (!(w = writer_of(b, type))) {
                b->error = apr_psprintf(b->p, "the database returned a resource of "
                                        "type \"%s\", not asked for", type);
                PQclear(res);
                r = B_FAIL;
                early = 1;
                break;
            }
            if ((rv = next_patient(b, w, b->organize_by ? PQgetvalue(res, 0, STREAM_MBI)
                                                         : "")) == APR_SUCCESS)
                rv = dpc_export_write(w, PQgetvalue(res, 0, STREAM_BODY),
                                      (apr_size_t)PQgetlength(res, 0, STREAM_BODY));
            if (rv != APR_SUCCESS && rv != APR_EINVAL) {
                r = write_failed(b, w, apr_pstrdup(b->p, type), rv);
                PQclear(res);
                early = 1;
                break;
            }
            PQclear(res);
            if (rv == APR_EINVAL) {
                b->refused++;
                continue;
            }
            if (++rows % CHECK_EVERY == 0 && (r = beat(b, 0)) != B_OK) {
                early = 1;
                break;
            }
            continue;
        }
        if (st != PGRES_TUPLES_OK) {
            r = db_failed(b, conn, "reading resources", dpc_pg_error(b->p, conn, res));
            PQclear(res);
            if (r == B_LOST)
                return r;
            continue; /* read on to the end (NULL) */
        }
        PQclear(res);
    }
    if (early) /* cancel the rest of the stream and read it to the end */
        drain(conn, 1);
    if (PQstatus(conn) != CONNECTION_OK)
        return db_failed(b, conn, "reading resources", dpc_pg_error(b->p, conn, NULL));
    b->resources += rows;
    return r;
}

/* The data and the error file from one snapshot: a beneficiary who opts out
 * (or back in) while the batch streams is either exported or reported, never
 * both and never neither. */
static outcome read_batch(batch *b)
{
    PGconn *conn = b->c->conn;
    const char *err;
    outcome r;

    if (dpc_pg_exec(b->p, conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", &err))
        return db_failed(b, conn, "starting to read", err);
    r = stream_batch(b);
    if (r == B_OK)
        r = write_problems(b);
    if (PQstatus(conn) != CONNECTION_OK)
        return r == B_OK ? db_failed(b, conn, "reading resources", "connection lost") : r;
    if (dpc_pg_exec(b->p, conn, r == B_OK ? "COMMIT" : "ROLLBACK", &err) && r == B_OK)
        return db_failed(b, conn, "ending the read", err);
    return r;
}

/* Run one statement of the final transaction; NULL on error with *err. */
static PGresult *tx_exec(batch *b, const char *sql, int n, const char *const *params,
                         const char **err)
{
    PGresult *res = PQexecParams(b->c->conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        *err = NULL;
        return res;
    }
    *err = dpc_pg_error(b->p, b->c->conn, res);
    PQclear(res);
    return NULL;
}

/* The job is complete: remove what interrupted batches left in its
 * directory (a killed worker's temp files, parts it published but never
 * recorded), which would otherwise stay until the job expires.  No batch of
 * the job can record a file any more; a worker still writing one of its
 * old batches loses the file it writes, and its batch was done by another.
 * Best effort: the files listed are the job's, whatever happens here. */
static void prune(batch *b)
{
    const char *err;
    apr_hash_t *keep = apr_hash_make(b->p);
    PGresult *res = PQexecParams(b->c->conn, listed_sql, 1, NULL, &b->job_id, NULL, NULL, 0);
    int i, removed = 0;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(01122)
                       "export job %s: cannot list its files to tidy its directory: %s",
                       b->job_id, dpc_pg_error(b->p, b->c->conn, res));
        PQclear(res);
        return;
    }
    for (i = 0; i < PQntuples(res); i++)
        apr_hash_set(keep, apr_pstrdup(b->p, PQgetvalue(res, i, LISTED_NAME)),
                     APR_HASH_KEY_STRING, "");
    PQclear(res);
    if (dpc_export_prune_dir(b->p, b->c->export_root, b->job_id, keep, &removed, &err))
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(01123)
                       "export job %s: cannot tidy its directory: %s", b->job_id, err);
    else if (removed)
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_INFO, 0, DPCLOGNO(01124)
                       "export job %s: removed %d file(s) that interrupted batches left",
                       b->job_id, removed);
}

/* Finish the writers, then record the files, mark the batch done and maybe
 * complete the job, all in one transaction. */
static outcome publish(batch *b)
{
    PGconn *conn = b->c->conn;
    const char *params[10], *err;
    PGresult *res;
    apr_status_t rv;
    int i, j, rows;

    for (i = 0; i < b->writers->nelts; i++) {
        dpc_export_writer *w = APR_ARRAY_IDX(b->writers, i, dpc_export_writer *);
        apr_array_header_t *files;

        rv = dpc_export_writer_finish(w, &files);
        if (rv != APR_SUCCESS) {
            dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, 0, DPCLOGNO(01105)
                           "export job %s batch %s: %s",
                           b->job_id, b->seq, dpc_export_writer_error(w));
            b->error = apr_psprintf(b->p, "writing %s output failed: %s",
                                    dpc_export_writer_type(w),
                                    errtext(b->p, rv));
            return B_FAIL;
        }
    }
    /* fsyncs may have taken a while: make sure the batch is still ours */
    {
        outcome r = beat(b, 1);
        if (r != B_OK)
            return r;
    }

    if (dpc_pg_exec(b->p, conn, "BEGIN", &err))
        return db_failed(b, conn, "recording files", err);
    params[0] = b->job_id;
    for (i = 0; lock_parents_sql[i]; i++) {
        if (!(res = tx_exec(b, lock_parents_sql[i], 1, params, &err)))
            goto sql_error;
        PQclear(res);
    }
    if (!(res = tx_exec(b, lock_job_sql, 1, params, &err)))
        goto sql_error;
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, LOCK_STATUS), "running")) {
        PQclear(res);
        dpc_pg_exec(b->p, conn, "ROLLBACK", &err);
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_INFO, 0, DPCLOGNO(01106)
                       "export job %s stopped running before batch %s was "
                       "recorded; its files are removed", b->job_id, b->seq);
        return B_GONE;
    }
    PQclear(res);
    params[1] = b->seq;
    params[2] = b->c->worker_id;
    if (!(res = tx_exec(b, done_sql, 3, params, &err)))
        goto sql_error;
    rows = PQntuples(res);
    PQclear(res);
    if (rows != 1) {
        dpc_pg_exec(b->p, conn, "ROLLBACK", &err);
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(01107)
                       "export job %s batch %s was reclaimed by another worker "
                       "(our heartbeat went stale); discarding our files",
                       b->job_id, b->seq);
        return B_GONE;
    }
    for (i = 0; i < b->writers->nelts; i++) {
        dpc_export_writer *w = APR_ARRAY_IDX(b->writers, i, dpc_export_writer *);
        apr_array_header_t *files;

        dpc_export_writer_finish(w, &files); /* the same array again */
        for (j = 0; j < files->nelts; j++) {
            const dpc_export_file *f = &APR_ARRAY_IDX(files, j, dpc_export_file);

            params[2] = f->name;
            params[3] = f->type;
            params[4] = apr_psprintf(b->p, "%" APR_UINT64_T_FMT, f->count);
            params[5] = apr_psprintf(b->p, "%" APR_UINT64_T_FMT, f->bytes);
            params[6] = f->sha256;
            params[7] = f->gz_name;
            params[8] = f->gz_name ? apr_psprintf(b->p, "%" APR_UINT64_T_FMT,
                                                  f->gz_bytes) : NULL;
            params[9] = f->encrypted_key;
            if (!(res = tx_exec(b, file_sql, 10, params, &err)))
                goto sql_error;
            PQclear(res);
            b->files++;
        }
    }
    if (!(res = tx_exec(b, complete_sql, 1, params, &err)))
        goto sql_error;
    rows = PQntuples(res);
    PQclear(res);
    if (dpc_pg_exec(b->p, conn, "COMMIT", &err)) {
        if (PQstatus(conn) != CONNECTION_OK) {
            /* It may have committed: removing files it lists would be
             * worse than leaving unlisted ones (they go with the job
             * directory). */
            b->keep_files = 1;
            dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(01108)
                           "export job %s batch %s: connection lost at commit, "
                           "outcome unknown: %s", b->job_id, b->seq, err);
            return B_LOST;
        }
        return db_failed(b, conn, "recording files", err);
    }
    dpc_log_perror(DPC_LOG_MARK, DPC_LOG_DEBUG, 0, DPCLOGNO(01109)
                   "export job %s batch %s done: %" APR_UINT64_T_FMT " resources in %"
                   APR_UINT64_T_FMT " files", b->job_id, b->seq, b->resources, b->files);
    if (rows) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_INFO, 0, DPCLOGNO(01110)
                       "export job %s completed", b->job_id);
        prune(b);
    }
    return B_OK;

sql_error:
    if (PQstatus(conn) == CONNECTION_OK)
        dpc_pg_exec(b->p, conn, "ROLLBACK", &err);
    return db_failed(b, conn, "recording files", err);
}

/* Remove everything our writers wrote (unless told to keep it). */
static void discard(batch *b)
{
    int i;

    if (b->keep_files)
        return;
    for (i = 0; i < b->writers->nelts; i++) {
        dpc_export_writer *w = APR_ARRAY_IDX(b->writers, i, dpc_export_writer *);
        apr_status_t rv = dpc_export_writer_abort(w);

        if (rv != APR_SUCCESS)
            dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(01111)
                           "export job %s batch %s: cannot remove its files: %s",
                           b->job_id, b->seq, dpc_export_writer_error(w));
    }
}

/* Put the batch back to pending if it is still ours, so it is claimed at
 * once rather than after the stale threshold. */
static int release(batch *b)
{
    const char *params[3], *err;

    params[0] = b->job_id;
    params[1] = b->seq;
    params[2] = b->c->worker_id;
    dpc_pg_value(b->p, b->c->conn, release_sql, 3, params, &err);
    if (err)
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(01112)
                       "export job %s batch %s: cannot release it: %s",
                       b->job_id, b->seq, err);
    return PQstatus(b->c->conn) == CONNECTION_OK ? 0 : -1;
}

static int fail_job(batch *b)
{
    const char *params[2], *err;

    dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, 0, DPCLOGNO(01113)
                   "export job %s failed (batch %s): %s", b->job_id, b->seq, b->error);
    params[0] = b->job_id;
    params[1] = b->error;
    dpc_pg_value(b->p, b->c->conn, fail_sql, 2, params, &err);
    if (err) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, 0, DPCLOGNO(01114)
                       "export job %s: cannot mark it failed: %s", b->job_id, err);
        if (PQstatus(b->c->conn) != CONNECTION_OK)
            return -1;
    }
    return release(b);
}

/* The names of the dialects this build serves, as a text[] literal. */
static const char *known_dialects(apr_pool_t *p)
{
    apr_array_header_t *a = apr_array_make(p, 4, sizeof(const char *));
    int i;

    for (i = 0; dpc_dialects[i]; i++)
        if (dpc_dialect_serves(dpc_dialects[i]))
            APR_ARRAY_PUSH(a, const char *) = dpc_dialects[i]->name;
    return dpc_pg_text_array(p, (const char *const *)a->elts, a->nelts);
}

/* The job's public key (checked again: the row is the worker's only
 * word), or NULL with b->error set. */
static EVP_PKEY *encryption_key(batch *b)
{
    dpc_pkey_t *key;
    const char *why;

    if (dpc_crypt_aco_key(b->p, b->encrypt_key, strlen(b->encrypt_key), &key, &why)) {
        b->error = apr_pstrcat(b->p, "the job's encryption key is not usable: ", why, NULL);
        return NULL;
    }
    return key->pkey;
}

/* Fill b from the claim's row: the batch and what its job is exported
 * with.  *bad is set as by dpc_job_split_types(). */
static void take_claim(batch *b, const PGresult *res, const char **bad)
{
    apr_pool_t *p = b->p;
    const char *filter;

    b->job_id = apr_pstrdup(p, PQgetvalue(res, 0, CLAIM_JOB));
    b->seq = apr_pstrdup(p, PQgetvalue(res, 0, CLAIM_SEQ));
    b->mbis = apr_pstrdup(p, PQgetvalue(res, 0, CLAIM_MBIS));
    b->version = apr_pstrdup(p, PQgetvalue(res, 0, CLAIM_VERSION));
    b->since = PQgetisnull(res, 0, CLAIM_SINCE) ? NULL
             : apr_pstrdup(p, PQgetvalue(res, 0, CLAIM_SINCE));
    b->until = PQgetisnull(res, 0, CLAIM_UNTIL) ? NULL
             : apr_pstrdup(p, PQgetvalue(res, 0, CLAIM_UNTIL));
    b->dialect = apr_pstrdup(p, PQgetvalue(res, 0, CLAIM_DIALECT));
    if (!(b->d = dpc_dialect_find(b->dialect)))
        b->d = &dpc_dialect_none;   /* not claimed: the claim names ours */
    b->per_file = atoi(PQgetvalue(res, 0, CLAIM_PER_FILE));
    b->gzip = atoi(PQgetvalue(res, 0, CLAIM_GZIP));
    b->contract = PQgetisnull(res, 0, CLAIM_CONTRACT) ? NULL
                  : apr_pstrdup(p, PQgetvalue(res, 0, CLAIM_CONTRACT));
    b->organize_by = PQgetisnull(res, 0, CLAIM_ORGANIZE_BY) ? NULL
                   : apr_pstrdup(p, PQgetvalue(res, 0, CLAIM_ORGANIZE_BY));
    /* a contract's job (AB2D) has its own statement, one type, unorganized */
    if (b->contract)
        b->organize_by = NULL;
    filter = PQgetisnull(res, 0, CLAIM_FILTER) ? NULL : PQgetvalue(res, 0, CLAIM_FILTER);
    b->stream_sql = b->organize_by
                    ? by_patient(p, dpc_type_filter_sql(p, filter, stream_patient_rows_sql))
                    : dpc_type_filter_sql(p, filter, stream_sql);
    b->encrypt_key = PQgetisnull(res, 0, CLAIM_ENCRYPT_KEY) ? NULL
                   : apr_pstrdup(p, PQgetvalue(res, 0, CLAIM_ENCRYPT_KEY));
    b->ntypes = dpc_job_split_types(p, PQgetvalue(res, 0, CLAIM_TYPES), &b->types, bad);
    b->types_array = dpc_pg_text_array(p, b->types, b->ntypes > 0 ? b->ntypes : 0);
    b->writers = apr_array_make(p, b->ntypes > 0 ? b->ntypes + 1 : 1,
                                sizeof(dpc_export_writer *));
    b->last_beat = apr_time_now();
}

int dpc_job_run_one(apr_pool_t *p, const dpc_job_ctx *c)
{
    PGresult *res;
    batch b;
    outcome r = B_OK;
    const char *bad, *params[2];

    params[0] = c->worker_id;
    params[1] = known_dialects(p);
    res = PQexecParams(c->conn, claim_sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(01115)
                       "cannot claim an export batch: %s", dpc_pg_error(p, c->conn, res));
        PQclear(res);
        return PQstatus(c->conn) == CONNECTION_OK ? DPC_JOB_IDLE : DPC_JOB_LOST;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return DPC_JOB_IDLE;
    }
    memset(&b, 0, sizeof(b));
    b.p = p;
    b.c = c;
    take_claim(&b, res, &bad);
    PQclear(res);
    dpc_log_perror(DPC_LOG_MARK, DPC_LOG_DEBUG, 0, DPCLOGNO(01116)
                   "export job %s (%s): claimed batch %s, %d resources a file%s%s",
                   b.job_id, b.dialect, b.seq, b.per_file, b.gzip ? ", gzip twins" : "",
                   b.encrypt_key ? ", encrypted" : "");

    if (b.ntypes < 0) {
        b.error = apr_psprintf(p, "invalid resource type \"%s\"", bad);
        r = B_FAIL;
    }
    else if (!b.stream_sql) {
        b.error = "the job's _typeFilter is not one this worker can apply";
        r = B_FAIL;
    }
    else if (!(b.dir = dpc_export_job_dir(p, c->export_root, b.job_id))) {
        b.error = "invalid job id";
        r = B_FAIL;
    }
    else if (b.encrypt_key && !(b.enc_pub = encryption_key(&b)))
        r = B_FAIL;
    if (r == B_OK && (r = beat(&b, 0)) == B_OK)
        r = read_batch(&b);
    if (r == B_OK)
        r = publish(&b);
    if (b.refused)
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(01117)
                       "export job %s batch %s: %" APR_UINT64_T_FMT " stored resource "
                       "bodies were empty or multi-line and were left out",
                       b.job_id, b.seq, b.refused);
    switch (r) {
    case B_OK:
        return DPC_JOB_WORKED;
    case B_LOST:
        discard(&b);
        return DPC_JOB_LOST;
    case B_FAIL:
        discard(&b);
        return fail_job(&b) ? DPC_JOB_LOST : DPC_JOB_WORKED;
    case B_GONE:
    case B_STOP:
    default:
        discard(&b);
        return release(&b) ? DPC_JOB_LOST : DPC_JOB_WORKED;
    }
}

static const char sweep_jobs_sql[] =
    "SELECT id FROM export_job j WHERE NOT files_removed"
    "   AND (status IN ('cancelled', 'failed') OR expires_at < now())"
    "   AND NOT EXISTS (SELECT 1 FROM export_batch b WHERE b.job_id = j.id"
    "                   AND b.status = 'running' AND b.heartbeat"
    "                   >= now() - interval '" STR(DPC_JOB_STALE_SECS) " seconds')"
    " ORDER BY created_at LIMIT 1000";
enum { SWEEP_ID };

int dpc_job_sweep(apr_pool_t *p, PGconn *conn, const char *export_root)
{
    PGresult *res = PQexec(conn, sweep_jobs_sql);
    const char *why, *err, *id;
    apr_status_t rv;
    int i, n;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(01118)
                       "cannot list export jobs to clean up: %s",
                       dpc_pg_error(p, conn, res));
        PQclear(res);
        return PQstatus(conn) == CONNECTION_OK ? 0 : -1;
    }
    n = PQntuples(res);
    for (i = 0; i < n; i++) {
        id = PQgetvalue(res, i, SWEEP_ID);
        rv = dpc_export_remove_dir(p, export_root, id, &why);
        if (rv != APR_SUCCESS) {
            dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(01119)
                           "cannot remove the files of export job %s: %s", id,
                           why ? why : "");
            continue;
        }
        dpc_pg_value(p, conn, "UPDATE export_job SET files_removed = true"
                     " WHERE id = $1 RETURNING id", 1, &id, &err);
        if (err) {
            dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(01120)
                           "export job %s: cannot record its files removed: %s",
                           id, err);
            if (PQstatus(conn) != CONNECTION_OK)
                break;
        }
        else
            dpc_log_perror(DPC_LOG_MARK, DPC_LOG_DEBUG, 0, DPCLOGNO(01121)
                           "removed the files of export job %s", id);
    }
    PQclear(res);
    return PQstatus(conn) == CONNECTION_OK ? 0 : -1;
}
