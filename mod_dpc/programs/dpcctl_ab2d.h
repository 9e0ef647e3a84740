/* dpcctl_ab2d.h: the AB2D dialect's administration:
 *   sponsor create --name PDP-100 | list | delete NAME
 *   contract create --sponsor NAME --number Z0000 [--attested INSTANT]
 *       [--max-jobs N] | list [--sponsor NAME] | delete NUMBER
 *   enrollment load (--file F | --contract Z0000 --synthetic N [--offset K]
 *       [--from YYYY-MM] [--to YYYY-MM])
 * A sponsor is an organization; its contracts' credentials are made with
 * `credential create --contract NUMBER` (dpcctl_bcda.h).  An enrollment
 * file has a "contract,MBI,YYYY-MM" row a line; a load adds to what is
 * there (a row already there is kept). */
#ifndef DPCCTL_AB2D_H
#define DPCCTL_AB2D_H

#include <apr_pools.h>
#include <libpq-fe.h>

/* argv[0] is "sponsor", "contract" or "enrollment". */
int dpcctl_ab2d(apr_pool_t *p, PGconn *conn, int argc, char **argv);

#endif
