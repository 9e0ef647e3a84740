/* mod_dpc_db.c: see mod_dpc_db.h.  apr_dbd's pgsql driver turns the %s
 * placeholders into $1, $2, ...; casts in the SQL give the types. */
#include "mod_dpc_db.h"

#include <http_log.h>
#include <apr_strings.h>
#include <libpq-fe.h>
#include <string.h>

#include "dpc_log.h"

static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *dpc_dbd_acquire;
static APR_OPTIONAL_FN_TYPE(ap_dbd_prepare) *dpc_dbd_prepare;
/* What dpc_db_prepare_all gave mod_dbd, to prepare again on a reconnected
 * session (set while reading the configuration, read-only after). */
static const dpc_statement *const *prepared;

int dpc_db_who(request_rec *r, const char *client_token_id, const char **args)
{
    args[0] = client_token_id ? apr_pstrcat(r->pool, "client_token:", client_token_id, NULL)
                              : "";
    args[1] = r->useragent_ip ? r->useragent_ip : "";
    return 2;
}

int dpc_db_resolve(void)
{
    dpc_dbd_prepare = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare);
    dpc_dbd_acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    return dpc_dbd_prepare && dpc_dbd_acquire;
}

const char *dpc_db_prepare_all(cmd_parms *cmd, const dpc_statement *const *tables)
{
    dpc_srv_conf *c = dpc_srv(cmd->server);
    const dpc_statement *st;

    if (!dpc_dbd_prepare && !dpc_db_resolve())
        return "mod_dbd is required by DPCAPI: load mod_dbd before mod_dpc";
    prepared = tables;
    if (c->dbd_prepared)
        return NULL;
    for (; *tables; tables++)
        for (st = *tables; st->label; st++)
            dpc_dbd_prepare(cmd->server, st->sql, st->label);
    c->dbd_prepared = 1;
    return NULL;
}

ap_dbd_t *dpc_db(request_rec *r)
{
    ap_dbd_t *db = dpc_dbd_acquire ? dpc_dbd_acquire(r) : NULL;

    if (!db)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, DPCLOGNO(00120)
                      "no database connection from mod_dbd (check DBDriver/DBDParams "
                      "and that PostgreSQL is up)");
    return db;
}

/* libpq reconnects a broken connection in place (mod_dbd's check calls
 * PQreset), and the new server session has none of the statements mod_dbd
 * prepared on the old one: every query would then fail until the child
 * exits.  So a failure that says so prepares ours again on this handle. */
static int lost_statement(ap_dbd_t *db, int rv)
{
    const char *e = apr_dbd_error(db->driver, db->handle, rv);

    return e && strstr(e, "prepared statement") && strstr(e, "does not exist");
}

static int reprepare(request_rec *r, ap_dbd_t *db)
{
    const dpc_statement *const *t;
    const dpc_statement *st;
    apr_dbd_prepared_t *p;

    for (t = prepared; t && *t; t++)
        for (st = *t; st->label; st++) {
            p = NULL;
            if (apr_dbd_prepare(db->driver, db->pool, db->handle, st->sql, st->label, &p))
                return -1;
            apr_hash_set(db->prepared, st->label, APR_HASH_KEY_STRING, p);
        }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, DPCLOGNO(00155)
                  "prepared the statements again on a reconnected database session");
    return 0;
}

/* Did the statement fail because the server session had already ended, so
 * that it cannot have run?  A pooled connection whose server was restarted
 * answers its next statement with the FATAL sent when the session was
 * terminated (57P01); libpq says "no connection" when it sent nothing.  (A
 * connection that merely broke mid-statement is not retried: a write may
 * have committed.) */
static int session_ended(ap_dbd_t *db, int rv)
{
    PGconn *c = apr_dbd_native_handle(db->driver, db->handle);
    const char *e = apr_dbd_error(db->driver, db->handle, rv);

    return c && PQstatus(c) != CONNECTION_OK && e
           && (strstr(e, "terminating connection due to administrator command")
               || strstr(e, "no connection to the server"));
}

/* Did PostgreSQL roll the statement back to let a concurrent one through
 * (deadlock_detected 40P01, serialization_failure 40001)?  Every statement
 * of the glue is a transaction of its own, so nothing of it stayed and it
 * may run again, once the other has had a moment to finish: run at once,
 * it takes its first lock again before the other wakes up, and deadlocks
 * with it again.  (The pgsql driver gives the message, not the SQLSTATE.) */
#define CONFLICT_PAUSE_MS 20

static int conflicted(ap_dbd_t *db, int rv)
{
    const char *e = apr_dbd_error(db->driver, db->handle, rv);

    return e && (strstr(e, "deadlock detected") || strstr(e, "could not serialize access"));
}

/* After a failure: repair what can be repaired and say whether to run the
 * statement once more.  A lost prepared statement is prepared again; an
 * ended session is reconnected (mod_dbd's check resets the connection) and
 * prepared again, so that one restart of PostgreSQL does not cost every
 * pooled connection a failed request. */
static int retry(request_rec *r, ap_dbd_t *db, int rv)
{
    if (conflicted(db, rv)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, DPCLOGNO(00157)
                      "statement rolled back for a concurrent one (%s): running it again",
                      apr_dbd_error(db->driver, db->handle, rv));
        apr_sleep(apr_time_from_msec(CONFLICT_PAUSE_MS));
        return 1;
    }
    if (lost_statement(db, rv))
        return !reprepare(r, db);
    if (session_ended(db, rv)) {
        if (apr_dbd_check_conn(db->driver, r->pool, db->handle) != APR_SUCCESS)
            return 0;
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, DPCLOGNO(00156)
                      "database session had ended (server restarted?): reconnected");
        return !reprepare(r, db);
    }
    return 0;
}

/* Why a statement failed: the connection went away (503, worth retrying),
 * it lost to concurrent statements twice (409: nothing was written, try
 * again), or the statement itself failed (500).  The log level to report
 * it at: a lost race is no fault of the server's. */
static int note_failure(request_rec *r, ap_dbd_t *db, int rv)
{
    PGconn *c = apr_dbd_native_handle(db->driver, db->handle);
    int conflict = conflicted(db, rv);

    apr_table_setn(r->notes, "dpc-db-failed", conflict ? "conflict"
                   : c && PQstatus(c) == CONNECTION_OK ? "statement" : "connection");
    return conflict ? APLOG_INFO : APLOG_ERR;
}

static apr_dbd_prepared_t *stmt(request_rec *r, ap_dbd_t *db, const char *label)
{
    apr_dbd_prepared_t *st = apr_hash_get(db->prepared, label, APR_HASH_KEY_STRING);

    if (!st)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, DPCLOGNO(00121)
                      "statement %s is not prepared (is DPCAPI set in this server?)",
                      label);
    return st;
}

int dpc_db_select(request_rec *r, ap_dbd_t *db, const char *label,
                  apr_dbd_results_t **res, int nargs, const char **args)
{
    apr_dbd_prepared_t *st = stmt(r, db, label);
    int rv;

    *res = NULL;
    if (!st)
        return -1;
    rv = apr_dbd_pselect(db->driver, r->pool, db->handle, res, st, 1, nargs, args);
    if (rv && retry(r, db, rv) && (st = stmt(r, db, label)))
        rv = apr_dbd_pselect(db->driver, r->pool, db->handle, res, st, 1, nargs, args);
    if (rv) {
        ap_log_rerror(APLOG_MARK, note_failure(r, db, rv), 0, r, DPCLOGNO(00122)
                      "query %s failed: %s", label, apr_dbd_error(db->driver, db->handle, rv));
        return -1;
    }
    return 0;
}

int dpc_db_query(request_rec *r, ap_dbd_t *db, const char *label, int *nrows,
                 int nargs, const char **args)
{
    apr_dbd_prepared_t *st = stmt(r, db, label);
    int rv;

    *nrows = 0;
    if (!st)
        return -1;
    rv = apr_dbd_pquery(db->driver, r->pool, db->handle, nrows, st, nargs, args);
    if (rv && retry(r, db, rv) && (st = stmt(r, db, label)))
        rv = apr_dbd_pquery(db->driver, r->pool, db->handle, nrows, st, nargs, args);
    if (rv) {
        ap_log_rerror(APLOG_MARK, note_failure(r, db, rv), 0, r, DPCLOGNO(00123)
                      "statement %s failed: %s", label,
                      apr_dbd_error(db->driver, db->handle, rv));
        return -1;
    }
    return 0;
}

apr_dbd_row_t *dpc_db_row(request_rec *r, ap_dbd_t *db, apr_dbd_results_t *res, int i)
{
    apr_dbd_row_t *row = NULL;

    if (apr_dbd_get_row(db->driver, r->pool, res, &row, i + 1) != 0)
        return NULL;
    return row;
}

const char *dpc_db_col(request_rec *r, ap_dbd_t *db, apr_dbd_row_t *row, int j)
{
    const char *v = NULL;

    (void)r;
    /* the pgsql driver answers APR_ENOENT for SQL NULL */
    if (apr_dbd_datum_get(db->driver, row, j, APR_DBD_TYPE_STRING, &v) != APR_SUCCESS)
        return NULL;
    return v;
}

int dpc_db_nrows(ap_dbd_t *db, apr_dbd_results_t *res)
{
    return apr_dbd_num_tuples(db->driver, res);
}

apr_time_t dpc_db_time(request_rec *r, ap_dbd_t *db, apr_dbd_row_t *row, int j)
{
    const char *v = dpc_db_col(r, db, row, j);

    return v ? (apr_time_t)apr_atoi64(v) : 0;
}
