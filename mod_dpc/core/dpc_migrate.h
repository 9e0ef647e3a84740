/* dpc_migrate.h: schema migrations (sql/NNN_name.sql, compiled in), applied
 * in order, each in its own transaction, recorded in dpc_schema_migration. */
#ifndef DPC_MIGRATE_H
#define DPC_MIGRATE_H

#include <apr_pools.h>
#include <libpq-fe.h>

#include "dpc_embed.h"

/* The newest migration this build knows (of dpc_migrations). */
int dpc_migrate_latest(void);

/* Load NNN_*.sql from a directory instead of the compiled-in set, sorted by
 * name (for checking migrations before they ship).  NULL with *err. */
const dpc_embedded_file *dpc_migrate_load_dir(apr_pool_t *p, const char *dir,
                                              const char **err);

/* The version the database is at (0: none applied), or -1 with *err. */
int dpc_migrate_current(apr_pool_t *p, PGconn *c, const char **err);

/* Apply what is missing.  Serialized across processes by an advisory lock.
 * On a failed migration, that migration is rolled back, the ones before it
 * stay, and *err names the file.  Returns 0 or -1; *applied counts. */
int dpc_migrate(apr_pool_t *p, PGconn *c, const dpc_embedded_file *files,
                int *applied, const char **err);

#endif
