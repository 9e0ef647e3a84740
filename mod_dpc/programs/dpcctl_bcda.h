/* dpcctl_bcda.h: the BCDA dialect's administration:
 *   aco create --cms-id ID [--name N] | list | delete ID
 *   credential create --aco ID [--label L] [--days N | --expires INSTANT]
 *       [--ip ADDR]... [--client-id UUID --secret S] | list --aco ID
 *       | rotate CLIENT_ID | delete CLIENT_ID
 *   aco-key register --aco ID --file PUBLIC.pem [--label L] | list [--aco ID]
 *       | delete --aco ID
 *   attribution load --aco ID (--file F | --synthetic N [--offset K])
 *       [--runout] [--year YYYY]
 * A credential's secret is printed once (create, rotate) and stored only as
 * its hash.  An attribution load replaces the ACO's older load of its kind.
 * An ACO has one RSA public key (2048 bits or more) that its encrypted
 * files are made for; registering another replaces it. */
#ifndef DPCCTL_BCDA_H
#define DPCCTL_BCDA_H

#include <apr_pools.h>
#include <libpq-fe.h>

/* argv[0] is "aco", "credential", "aco-key" or "attribution". */
int dpcctl_bcda(apr_pool_t *p, PGconn *conn, int argc, char **argv);

#endif
