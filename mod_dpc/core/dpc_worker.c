/* dpc_worker.c: see dpc_worker.h.
 *
 * The loop sleeps in poll() on the connection's socket, so a NOTIFY on
 * dpc_jobs wakes it at once and nothing busy-polls; the poll timeout bounds
 * how late it notices a stop request, a dead parent or a due heartbeat.
 *
 * After a wake-up, and at least every CLAIM_INTERVAL otherwise (to pick up
 * batches whose worker died), it claims and exports batches until none is
 * left (dpc_job.h).  Exporting needs two connections: `conn` streams and
 * records, `beat` heartbeats the batch meanwhile.  Losing either drops
 * both and reconnects; the batch in hand is left to go stale and be
 * reclaimed.
 */
#include "dpc_worker.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "dpc_job.h"
#include "dpc_log.h"
#include "dpc_migrate.h"
#include "dpc_pg.h"

#define WAKE_CHANNEL "dpc_jobs"
#define TICK_MS 250
#define CLAIM_INTERVAL apr_time_from_sec(1)

static volatile sig_atomic_t *stop_flag;

static void on_stop(int sig)
{
    (void)sig;
    if (stop_flag)
        *stop_flag = 1;
}

void dpc_worker_signals(volatile sig_atomic_t *stop)
{
    struct sigaction sa;
    int i;
    static const int reset[] = { SIGCHLD, SIGALRM };

    stop_flag = stop;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* httpd's graceful-restart signals are for httpd, not for us */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    for (i = 0; i < (int)(sizeof(reset) / sizeof(reset[0])); i++)
        sigaction(reset[i], &sa, NULL);
}

static int should_stop(const dpc_worker_opts *o)
{
    return *o->stop || (o->parent && getppid() != o->parent);
}

/* Sleep up to ms, waking early for a stop request. */
static void nap(const dpc_worker_opts *o, int ms)
{
    while (ms > 0 && !should_stop(o)) {
        poll(NULL, 0, ms < TICK_MS ? ms : TICK_MS);
        ms -= TICK_MS;
    }
}

typedef struct worker_state {
    PGconn *conn;
    PGconn *beat;            /* heartbeats batches while conn streams */
    const char *id;          /* our row in table worker: id_buf */
    char id_buf[24];         /* (attach()'s pool is cleared every turn) */
    apr_time_t last_beat;
    apr_time_t last_sweep;
    apr_time_t last_claim;
} worker_state;

#define SWEEP_INTERVAL apr_time_from_sec(10)

/* Housekeeping any worker may do (it is idempotent, so several at once do
 * no harm): forget expired JWT ids and old revocations, mark workers whose
 * heartbeat stopped as gone, and drop long-gone ones. */
static const char sweep_sql[] =
    "DELETE FROM used_jti WHERE expires_at < now();"
    "DELETE FROM revoked_credential WHERE revoked_at < now() - interval '1 hour';"
    "UPDATE worker SET stopped_at = heartbeat WHERE stopped_at IS NULL"
    " AND heartbeat < now() - interval '1 minute';"
    "DELETE FROM worker WHERE stopped_at < now() - interval '7 days'";

/* The audit trail's retention: rows older than it go, through the one
 * function its guard lets delete.  -1 when the connection is gone. */
static int audit_expire(apr_pool_t *p, const dpc_worker_opts *o, worker_state *w)
{
    const char *err, *secs = apr_psprintf(p, "%" APR_INT64_T_FMT, o->audit_retention_secs),
               *n = dpc_pg_value(p, w->conn, "SELECT dpc_audit_expire(make_interval(secs => "
                                 "$1::bigint))", 1, &secs, &err);

    if (err) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(00014)
                       "cannot remove audit rows past their retention: %s", err);
        return PQstatus(w->conn) == CONNECTION_OK ? 0 : -1;
    }
    if (n && strcmp(n, "0"))
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_INFO, 0, DPCLOGNO(00015)
                       "removed %s audit rows older than the retention (%s s)", n, secs);
    return 0;
}

static int sweep(apr_pool_t *p, const dpc_worker_opts *o, worker_state *w)
{
    const char *err;

    if (apr_time_now() - w->last_sweep < SWEEP_INTERVAL)
        return 0;
    w->last_sweep = apr_time_now();
    if (dpc_pg_exec(p, w->conn, sweep_sql, &err)) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(00009)
                       "worker housekeeping failed: %s", err);
        return PQstatus(w->conn) == CONNECTION_OK ? 0 : -1;
    }
    if (o->audit_retention_secs > 0 && audit_expire(p, o, w) < 0)
        return -1;
    return dpc_job_sweep(p, w->conn, o->export_root);
}

/* After a reconnect: the batch we held when the connection went (this
 * process knows it gave it up) is put back to pending at once rather than
 * after DPC_JOB_STALE_SECS, and our old row is marked stopped.  A batch whose
 * commit did land is done, not running, and is left alone; one still locked
 * by our old session (half-open over TCP) is skipped, not waited for: the
 * stale rule reclaims it. */
static const char release_old_sql[] =
    "WITH b AS (UPDATE export_batch SET status = 'pending', worker_id = NULL,"
    "           heartbeat = NULL WHERE (job_id, seq) IN"
    "           (SELECT job_id, seq FROM export_batch WHERE worker_id = $1::bigint"
    "             AND status = 'running' FOR UPDATE SKIP LOCKED)"
    "           RETURNING 1),"
    "     w AS (UPDATE worker SET stopped_at = now()"
    "           WHERE id = $1::bigint AND stopped_at IS NULL)"
    " SELECT count(*) FROM b";

/* Connect, check the schema, register and LISTEN.  0 on success. */
static int attach(apr_pool_t *p, const dpc_worker_opts *o, worker_state *w)
{
    const char *err = NULL, *params[2];
    char host[256];
    int have, need = dpc_migrate_latest();

    w->conn = dpc_pg_connect(p, o->conninfo, "dpc-worker", &err);
    if (!w->conn) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, 0, DPCLOGNO(00002)
                       "worker cannot connect to PostgreSQL: %s", err);
        return -1;
    }
    have = dpc_migrate_current(p, w->conn, &err);
    if (have < need) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, 0, DPCLOGNO(00003)
                       "database schema is at version %d, this build needs %d: "
                       "run dpcctl migrate%s%s", have, need, err ? ": " : "",
                       err ? err : "");
        goto fail;
    }
    if (gethostname(host, sizeof(host)))
        apr_cpystrn(host, "localhost", sizeof(host));
    params[0] = host;
    params[1] = apr_itoa(p, (int)getpid());
    w->id = dpc_pg_value(p, w->conn, "INSERT INTO worker (host, pid) VALUES ($1, $2::int)"
                         " RETURNING id", 2, params, &err);
    if (!w->id || dpc_pg_exec(p, w->conn, "LISTEN " WAKE_CHANNEL, &err)) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, 0, DPCLOGNO(00004)
                       "worker cannot register: %s", err);
        goto fail;
    }
    if (w->id_buf[0]) {
        const char *old = w->id_buf,
                   *n = dpc_pg_value(p, w->conn, release_old_sql, 1, &old, &err);

        if (err)
            dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(00011)
                           "worker cannot release what it held before reconnecting: %s",
                           err);
        else if (n && strcmp(n, "0"))
            dpc_log_perror(DPC_LOG_MARK, DPC_LOG_INFO, 0, DPCLOGNO(00012)
                           "worker released %s export batch(es) it held before "
                           "reconnecting", n);
    }
    apr_cpystrn(w->id_buf, w->id, sizeof(w->id_buf));
    w->id = w->id_buf;
    w->beat = dpc_pg_connect(p, o->conninfo, "dpc-worker-heartbeat", &err);
    if (!w->beat) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, 0, DPCLOGNO(00010)
                       "worker cannot open its heartbeat connection: %s", err);
        goto fail;
    }
    w->last_beat = apr_time_now();
    dpc_log_perror(DPC_LOG_MARK, DPC_LOG_INFO, 0, DPCLOGNO(00005)
                   "export worker %s (pid %ld) ready", w->id, (long)getpid());
    return 0;
fail:
    PQfinish(w->conn);
    w->conn = NULL;
    return -1;
}

static void drop_connections(worker_state *w)
{
    PQfinish(w->conn);
    w->conn = NULL;
    if (w->beat)
        PQfinish(w->beat);
    w->beat = NULL;
}

static void detach(apr_pool_t *p, worker_state *w)
{
    const char *err;

    if (!w->conn)
        return;
    if (w->id && PQstatus(w->conn) == CONNECTION_OK)
        dpc_pg_value(p, w->conn, "UPDATE worker SET stopped_at = now() WHERE id = $1"
                     " RETURNING id", 1, &w->id, &err);
    drop_connections(w);
}

/* Touch our row; returns -1 when the connection is gone. */
static int heartbeat(apr_pool_t *p, const dpc_worker_opts *o, worker_state *w)
{
    const char *err;

    if (apr_time_now() - w->last_beat < apr_time_from_sec(o->heartbeat_secs))
        return 0;
    dpc_pg_value(p, w->conn, "UPDATE worker SET heartbeat = now() WHERE id = $1"
                 " RETURNING id", 1, &w->id, &err);
    if (err) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(00006)
                       "worker heartbeat failed: %s", err);
        return -1;
    }
    w->last_beat = apr_time_now();
    return 0;
}

/* Wait for a notification or a tick; returns -1 when the connection is gone,
 * 1 when woken by a NOTIFY, else 0. */
static int wait_for_work(worker_state *w)
{
    struct pollfd pfd;
    PGnotify *n;
    int woken = 0;

    pfd.fd = PQsocket(w->conn);
    pfd.events = POLLIN;
    if (pfd.fd < 0)
        return -1;
    if (poll(&pfd, 1, TICK_MS) < 0 && errno != EINTR)
        return -1;
    if (!PQconsumeInput(w->conn))
        return -1;
    while ((n = PQnotifies(w->conn)) != NULL) {
        woken = 1;
        PQfreemem(n);
    }
    return woken;
}

/* Claim and export batches until none is left; -1 when a connection is
 * gone. */
static int work(apr_pool_t *p, const dpc_worker_opts *o, worker_state *w)
{
    dpc_job_ctx c;
    apr_pool_t *bp;
    int r = DPC_JOB_WORKED;

    w->last_claim = apr_time_now();
    memset(&c, 0, sizeof(c));
    c.conn = w->conn;
    c.beat = w->beat;
    c.worker_id = w->id;
    c.export_root = o->export_root;
    c.stop = o->stop;
    apr_pool_create(&bp, p);
    while (r == DPC_JOB_WORKED && !should_stop(o)) {
        apr_pool_clear(bp);
        r = dpc_job_run_one(bp, &c);
        if (r == DPC_JOB_WORKED && heartbeat(bp, o, w) < 0)
            r = DPC_JOB_LOST;
    }
    apr_pool_destroy(bp);
    return r == DPC_JOB_LOST ? -1 : 0;
}

int dpc_worker_run(const dpc_worker_opts *o)
{
    apr_pool_t *p, *iter;
    worker_state w;
    int backoff_ms = 500, woken;

    memset(&w, 0, sizeof(w));
    apr_pool_create(&p, NULL);
    apr_pool_create(&iter, p);
    while (!should_stop(o)) {
        apr_pool_clear(iter);
        if (!w.conn) {
            if (attach(iter, o, &w)) {
                nap(o, backoff_ms);
                backoff_ms = backoff_ms * 2 > 10000 ? 10000 : backoff_ms * 2;
                continue;
            }
            backoff_ms = 500;
        }
        woken = wait_for_work(&w);
        if (woken < 0 || heartbeat(iter, o, &w) < 0 || sweep(iter, o, &w) < 0
            || ((woken || apr_time_now() - w.last_claim >= CLAIM_INTERVAL)
                && work(iter, o, &w) < 0)) {
            dpc_log_perror(DPC_LOG_MARK, DPC_LOG_WARNING, 0, DPCLOGNO(00007)
                           "worker lost its database connection; reconnecting");
            drop_connections(&w);
        }
    }
    detach(iter, &w);
    dpc_log_perror(DPC_LOG_MARK, DPC_LOG_INFO, 0, DPCLOGNO(00008)
                   "export worker (pid %ld) stopping", (long)getpid());
    apr_pool_destroy(p);
    return 0;
}
