/* dpc_pg.h: libpq helpers for the processes that own a connection (the
 * worker daemon and the command-line tools; handlers use mod_dbd). */
#ifndef DPC_PG_H
#define DPC_PG_H

#include <apr_pools.h>
#include <libpq-fe.h>

/* Connect; on failure return NULL and set *err (from p). */
PGconn *dpc_pg_connect(apr_pool_t *p, const char *conninfo, const char *app_name,
                       const char **err);

/* A second connection made as c was (PQconninfo gives the values in use:
 * host, database, user, password, options, application name); on failure
 * NULL and *err (from p). */
PGconn *dpc_pg_connect_like(apr_pool_t *p, PGconn *c, const char **err);

/* The same, started without waiting (PQconnectStartParams()): NULL if it
 * cannot start; dpc_pg_connect_wait() goes on with it. */
PGconn *dpc_pg_connect_start_like(apr_pool_t *p, PGconn *c);

/* Wait at most timeout_ms (-1: no limit) until c's socket can be written
 * (out) or read: > 0 it can, 0 not yet (or a signal came), < 0 failed. */
int dpc_pg_wait(PGconn *c, int out, int timeout_ms);

/* Go on with a connection started, waiting at most timeout_ms (-1: until
 * it is made or fails; connect_timeout is not applied).  *st is the last
 * PQconnectPoll() answer, PGRES_POLLING_WRITING at first.  CONNECTION_OK
 * when made, CONNECTION_BAD when it failed (PQerrorMessage() says why),
 * else CONNECTION_STARTED. */
ConnStatusType dpc_pg_connect_wait(PGconn *c, PostgresPollingStatusType *st,
                                   int timeout_ms);

/* Run a command that returns no rows (or rows we ignore). 0 on success,
 * else -1 with *err (from p) holding the server's message. */
int dpc_pg_exec(apr_pool_t *p, PGconn *c, const char *sql, const char **err);

/* Run a one-row-one-column query; the value (from p) or NULL with *err. A
 * NULL result with *err == NULL means SQL NULL or no row. */
const char *dpc_pg_value(apr_pool_t *p, PGconn *c, const char *sql,
                         int nparams, const char *const *params, const char **err);

/* The server's message for a failed result, trimmed, from p. */
const char *dpc_pg_error(apr_pool_t *p, PGconn *c, const PGresult *res);

/* items[0..n-1] as a PostgreSQL text[] literal, for a statement parameter
 * cast to text[]: every element double-quoted with '"' and '\' escaped, so
 * any text (quotes, backslashes, braces, commas, spaces, the word NULL)
 * comes back element for element; "{}" when n is 0.  The only place array
 * literals are built: the text must be UTF-8 (the server refuses other
 * bytes), which callers check where it comes from a client. */
const char *dpc_pg_text_array(apr_pool_t *p, const char *const *items, int n);

#endif
