/* dpcctl_bcda.h: the BCDA dialect's administration:
 *   aco create --cms-id ID [--name N] | list | delete ID
 *   credential create --aco ID [--label L] [--days N | --expires INSTANT]
 *       [--ip ADDR]... [--client-id UUID --secret S] | list --aco ID
 *       | rotate CLIENT_ID | delete CLIENT_ID
 *   attribution load --aco ID (--file F | --synthetic N [--offset K])
 *       [--runout] [--year YYYY]
 * A credential's secret is printed once (create, rotate) and stored only as
 * its hash.  An attribution load replaces the ACO's older load of its kind. */
#ifndef DPCCTL_BCDA_H
#define DPCCTL_BCDA_H

#include <apr_pools.h>
#include <libpq-fe.h>

/* argv[0] is "aco", "credential" or "attribution". */
int dpcctl_bcda(apr_pool_t *p, PGconn *conn, int argc, char **argv);

#endif
