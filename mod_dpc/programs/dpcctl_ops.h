/* dpcctl_ops.h: the operator's commands on exports: `dpcctl jobs`,
 * `dpcctl workers` and `dpcctl expire`. */
#ifndef DPCCTL_OPS_H
#define DPCCTL_OPS_H

#include <apr_pools.h>
#include <libpq-fe.h>

/* dpcctl jobs [--org ID] [--status S] [JOB_ID] */
int dpcctl_jobs(apr_pool_t *p, PGconn *conn, int argc, char **argv);
/* dpcctl workers */
int dpcctl_workers(apr_pool_t *p, PGconn *conn, int argc, char **argv);
/* dpcctl expire --export-root DIR */
int dpcctl_expire(apr_pool_t *p, PGconn *conn, int argc, char **argv);

#endif
