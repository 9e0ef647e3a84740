/* dpcctl_out.h: how every dpcctl subcommand answers: one JSON object on
 * stdout, or a message on stderr, and the exit status. */
#ifndef DPCCTL_OUT_H
#define DPCCTL_OUT_H

#include <jansson.h>

/* Exit statuses */
#define DPCCTL_OK 0
#define DPCCTL_FAIL 1     /* the operation failed */
#define DPCCTL_USAGE 2    /* the command line is wrong */

/* Print one JSON object on stdout and release it. */
void dpcctl_print(json_t *v);
/* Print an error ("dpcctl: ...") on stderr and return status. */
int dpcctl_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
