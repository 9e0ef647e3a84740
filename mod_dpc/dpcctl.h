/* dpcctl.h: the admin tool's subcommands. */
#ifndef DPCCTL_H
#define DPCCTL_H

#include <apr_pools.h>
#include <jansson.h>
#include <libpq-fe.h>

/* Exit statuses */
#define DPCCTL_OK 0
#define DPCCTL_FAIL 1     /* the operation failed */
#define DPCCTL_USAGE 2    /* the command line is wrong */

/* Print one JSON object on stdout and release it. */
void dpcctl_print(json_t *v);
/* Print an error ("dpcctl: ...") on stderr and return status. */
int dpcctl_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* dpcctl_synth.c */
int dpcctl_synth(PGconn *conn, int argc, char **argv);

#endif
