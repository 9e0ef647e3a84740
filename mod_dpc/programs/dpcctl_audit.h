/* dpcctl_audit.h: `dpcctl audit`, the audit trail read back. */
#ifndef DPCCTL_AUDIT_H
#define DPCCTL_AUDIT_H

#include <apr_pools.h>
#include <libpq-fe.h>

/* dpcctl audit [--org ID] [--job ID] [--action A] [--since INSTANT]
 * [--until INSTANT] [--limit N]: matching rows, oldest first, one JSON
 * object a line. */
int dpcctl_audit(apr_pool_t *p, PGconn *conn, int argc, char **argv);

#endif
