/* dpc_job.h: the export work a worker does, one batch at a time.
 *
 * A batch (export_batch) is a job's slice of beneficiaries.  A worker claims
 * one with FOR UPDATE SKIP LOCKED, streams each of the job's resource types
 * for those beneficiaries out of claims_resource in libpq single-row mode
 * (memory stays flat) into dpc_export writers, and then, in one
 * transaction, records the published files, marks the batch done and, when
 * it was the job's last batch, completes the job.
 *
 * Heartbeats.  The streaming connection cannot run another statement while
 * a single-row result is in flight, so the batch row is heartbeated on a
 * second connection (dpc_job_ctx.beat) at most every DPC_JOB_BEAT_SECS,
 * checked every few hundred rows, between types and before the final
 * transaction.  A batch whose heartbeat is older than DPC_JOB_STALE_SECS is
 * claimed again, by any worker.  The heartbeat also tells the worker that it
 * lost the batch (another worker reclaimed it) or that the job stopped
 * running (cancelled, failed): it then abandons the batch and removes what
 * it wrote.
 *
 * Outcomes of a batch:
 *  - done: files listed, batch done, job completed if it was the last;
 *  - a connection is lost: nothing is marked; files already published stay
 *    (they are not listed, and go with the job directory); the batch keeps
 *    its stale heartbeat and is reclaimed later;
 *  - lost the batch or the job stopped, or the worker is stopping: the
 *    files are removed and the batch, if still ours, is put back to
 *    pending at once;
 *  - any other error (SQL error, I/O error such as a full disk, an invalid
 *    job): the files are removed, the job is marked failed with a clear
 *    error text, and the batch put back to pending (nobody claims batches
 *    of a job that is not running).
 *
 * What a job is exported with travels on its row (export_job: dialect,
 * resources_per_file, gzip, file_lifetime; encrypt_key, the ACO's public
 * key BCDA's data files are encrypted for, dpc_crypt.h), written by the
 * kick-off from the configuration of the httpd (virtual host) that took it
 * and the organization's key: a worker reads them from the job of the
 * batch it claims and has no say in them, so workers on any host agree
 * with httpd and with each other.  A worker
 * claims only jobs of the dialects its build knows (dpc_dialects[]): a job
 * of a newer dialect waits for a worker that knows it.
 *
 * A job organized by patient (export_job.organize_by, the kick-off's
 * organizeOutputBy=Patient) has one data writer per batch instead of one
 * per type, named after the organizing type, fed each beneficiary's
 * resources together, the Patient first, and rotating only between
 * patients: no patient is split across files.
 *
 * Beneficiaries in opt_out are never exported, whatever the batch holds.
 *
 * The error file.  After the data, each batch writes OperationOutcome lines
 * (type "OperationOutcome", listed under the manifest's "error") for each of
 * its beneficiaries who has opted out or has no data at all, and batch 0
 * also one per kick-off parameter ignored under handling=lenient.  A batch
 * with nothing to report writes no error file, and an error file is never
 * encrypted (BCDA encrypted data files only).  The data and the error
 * lines are read in one REPEATABLE READ transaction, so every member of
 * the batch is either exported or reported, whatever changes meanwhile.
 */
#ifndef DPC_JOB_H
#define DPC_JOB_H

#include <signal.h>

#include <apr_pools.h>
#include <libpq-fe.h>

/* A contract's job (AB2D) never gives claims from before this day. */
#define DPC_JOB_CONTRACT_FLOOR "2020-01-01"

/* A running batch whose heartbeat is older than this is claimed again. */
#define DPC_JOB_STALE_SECS 30
/* How often a batch being worked on is heartbeated (well under STALE). */
#define DPC_JOB_BEAT_SECS 5

typedef struct dpc_job_ctx {
    PGconn *conn;                 /* streams and records (the worker's own) */
    PGconn *beat;                 /* heartbeats while conn streams */
    const char *worker_id;        /* our row in table worker */
    const char *export_root;      /* absolute; job directories go below */
    volatile sig_atomic_t *stop;  /* abandon the batch when set; may be NULL */
} dpc_job_ctx;

/* Results of dpc_job_run_one(). */
#define DPC_JOB_IDLE 0            /* nothing to claim */
#define DPC_JOB_WORKED 1          /* a batch was claimed and dealt with */
#define DPC_JOB_LOST (-1)         /* a connection is gone: reconnect */

/* Claim one batch and do it.  Everything is allocated from p, which the
 * caller clears afterwards. */
int dpc_job_run_one(apr_pool_t *p, const dpc_job_ctx *c);

/* Housekeeping: remove the directories of jobs that are cancelled, failed
 * or expired and not yet cleaned (files_removed = false), once no worker
 * holds a fresh batch of theirs, and record it.  Returns -1 when the
 * connection is gone, else 0 (failures are logged and retried next time). */
int dpc_job_sweep(apr_pool_t *p, PGconn *conn, const char *export_root);

/* The error file's line for a problem of `kind` with `detail`: "ignored"
 * (a kick-off parameter), "opted-out" or "no-data" (an MBI).  A compact
 * OperationOutcome from p, or NULL for an unknown kind. */
const char *dpc_job_problem_line(apr_pool_t *p, const char *kind, const char *detail);

/* A pure helper, exposed for the unit tests: split "A,B,C" into types, checking each with
 * dpc_export_type_valid().  Returns the number of types, or -1 (and
 * *bad = the offending one) if one is invalid or the list is empty. */
int dpc_job_split_types(apr_pool_t *p, const char *list, const char ***types,
                        const char **bad);

#endif
