/* dpcctl_load.h: `dpcctl load`, claims brought by the operator (BFD-shaped
 * NDJSON) into the claims store. */
#ifndef DPCCTL_LOAD_H
#define DPCCTL_LOAD_H

#include <libpq-fe.h>

/* Exit status when the load committed but bad lines were skipped. */
#define DPCCTL_LOAD_SKIPPED 3

int dpcctl_load(PGconn *conn, int argc, char **argv);

#endif
