/* dpc_migrate.h: the schema.
 *
 * Migrations (sql/NNN_name.sql, compiled in) are applied in order, each in
 * its own transaction, recorded in dpc_schema_migration.  They are history:
 * an existing database went through them, so they are never edited.
 *
 * Stored functions live apart, one file each (sql/functions/NAME.sql,
 * compiled in), holding the function's current definition (CREATE OR
 * REPLACE).  After the migrations, each file is applied in its own
 * transaction and recorded in dpc_schema_function with the SHA-256 of its
 * text; a file whose text is what was last applied is skipped, unless a
 * migration was applied in the same run (it may have dropped or changed
 * what the function stood on), so a run with nothing to do runs no
 * function file and costs a few small queries.  A migration that changes a function's parameter list drops the
 * old signature itself (DROP FUNCTION IF EXISTS name(old types)): CREATE OR
 * REPLACE with a new list would add an overload beside it.
 *
 * Everything runs under one advisory lock, so processes migrating at once
 * (dpcctl on several hosts, say) take turns and the later ones find
 * nothing to do. */
#ifndef DPC_MIGRATE_H
#define DPC_MIGRATE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <libpq-fe.h>

#include "dpc_embed.h"

/* The newest migration this build knows (of dpc_migrations). */
int dpc_migrate_latest(void);

/* Load NNN_*.sql from a directory instead of the compiled-in set, sorted by
 * name (for checking migrations before they ship).  NULL with *err. */
const dpc_embedded_file *dpc_migrate_load_dir(apr_pool_t *p, const char *dir,
                                              const char **err);

/* Load NAME.sql (lower-case letters, digits and '_') from a directory of
 * function files instead of the compiled-in set, sorted by name.  NULL with
 * *err. */
const dpc_embedded_file *dpc_migrate_load_functions(apr_pool_t *p, const char *dir,
                                                    const char **err);

/* What dpc_migrate() did. */
typedef struct dpc_migrate_result {
    int migrations;                 /* migrations applied */
    apr_array_header_t *functions;  /* const char *: function files applied */
} dpc_migrate_result;

/* The version the database is at (0: none applied), or -1 with *err. */
int dpc_migrate_current(apr_pool_t *p, PGconn *c, const char **err);

/* Apply the migrations that are missing, then the function files that
 * changed (see above).  On a failed migration or function file, that file
 * is rolled back, what came before it stays, nothing after it is tried,
 * and *err names the file.  Returns 0 or -1; *out says what was applied
 * (also on failure), from p. */
int dpc_migrate(apr_pool_t *p, PGconn *c, const dpc_embedded_file *migrations,
                const dpc_embedded_file *functions, dpc_migrate_result *out,
                const char **err);

#endif
