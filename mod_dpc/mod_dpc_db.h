/* mod_dpc_db.h: SQL statements the handlers run through mod_dbd, prepared
 * once at configuration time, and small helpers around apr_dbd. */
#ifndef MOD_DPC_DB_H
#define MOD_DPC_DB_H

#include <apr_dbd.h>
#include <apr_optional.h>
#include <mod_dbd.h>

#include "mod_dpc_module.h"

/* A labelled statement; each module keeps a table of them, ended by a
 * NULL label. */
typedef struct dpc_statement {
    const char *label;
    const char *sql;
} dpc_statement;

/* This file's own: credentials, the token endpoint, the organization. */

/* A statement that changes what the audit trail records (credentials,
 * rosters, exports) starts with this CTE and reads `who` (FROM who, USING
 * who), so that its audit rows, written by the database's triggers, name
 * the caller: its first two arguments are what dpc_db_who() gives. */
#define DPC_SQL_WHO                                                         \
    "WITH who AS MATERIALIZED (SELECT set_config('dpc.actor', %s, true) AS actor," \
    " set_config('dpc.address', %s, true) AS address) "

/* Timestamps come out of the database as epoch microseconds. */
#define DPC_SQL_USEC(col) "(extract(epoch from " col ") * 1000000)::bigint"

/* Prepare every statement of tables (NULL-terminated) for this server, once
 * (from the DPCAPI directive, when mod_dbd's optional functions are
 * known).  NULL or an error message. */
const char *dpc_db_prepare_all(cmd_parms *cmd, const dpc_statement *const *tables);

/* Find mod_dbd's optional functions (post_config, after mod_dbd's hooks):
 * 1 when mod_dbd is loaded. */
int dpc_db_resolve(void);

/* DPC_SQL_WHO's two arguments into args[0] and args[1]: the actor
 * ("client_token:<id>") and the client's address.  Returns 2. */
int dpc_db_who(request_rec *r, const char *client_token_id, const char **args);

/* The request's pooled connection, or NULL after logging why. */
ap_dbd_t *dpc_db(request_rec *r);

/* Run a prepared SELECT (random access): rows in *res.  0 or -1 (logged). */
int dpc_db_select(request_rec *r, ap_dbd_t *db, const char *label,
                  apr_dbd_results_t **res, int nargs, const char **args);
/* Run a prepared statement that returns no rows: *nrows affected. */
int dpc_db_query(request_rec *r, ap_dbd_t *db, const char *label, int *nrows,
                 int nargs, const char **args);

/* Row i of res (0-based), NULL past the end. */
apr_dbd_row_t *dpc_db_row(request_rec *r, ap_dbd_t *db, apr_dbd_results_t *res, int i);
/* Column j of a row as text, NULL for SQL NULL. */
const char *dpc_db_col(request_rec *r, ap_dbd_t *db, apr_dbd_row_t *row, int j);
int dpc_db_nrows(ap_dbd_t *db, apr_dbd_results_t *res);
/* Column j as an apr_time_t (from DPC_SQL_USEC), 0 for NULL. */
apr_time_t dpc_db_time(request_rec *r, ap_dbd_t *db, apr_dbd_row_t *row, int j);


#endif
