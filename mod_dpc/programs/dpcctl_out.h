/* dpcctl_out.h: how every dpcctl subcommand answers: one JSON object on
 * stdout, or a message on stderr, and the exit status. */
#ifndef DPCCTL_OUT_H
#define DPCCTL_OUT_H

#include <jansson.h>
#include <apr_pools.h>
#include <libpq-fe.h>

/* Exit statuses */
#define DPCCTL_OK 0
#define DPCCTL_FAIL 1     /* the operation failed */
#define DPCCTL_USAGE 2    /* the command line is wrong */

/* Print one JSON object on stdout and release it. */
void dpcctl_print(json_t *v);
/* Print an error ("dpcctl: ...") on stderr and return status. */
int dpcctl_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Run sql with text params; a failure is reported as "dpcctl: WHAT:
 * message".  0, or -1.  A command's, a query's or a COPY's start all
 * succeed; *keep (when keep is not NULL) gets the result, else it is
 * cleared. */
int dpcctl_exec(PGconn *c, const char *what, const char *sql, int nparams,
                const char *const *params, PGresult **keep);

/* The value after `name` among argv[from..], or NULL. */
const char *dpcctl_opt(int argc, char **argv, int from, const char *name);

/* Run sql, which returns one json column per row; print the first row's
 * JSON (with `extra` merged in, and released), or {"list_key": [rows]}
 * when list_key is set.  DPCCTL_OK, or a failure reported ("not found"
 * for no row). */
int dpcctl_run_json(PGconn *c, const char *sql, int n, const char *const *params,
                    const char *list_key, json_t *extra);

/* Read a text file of rows, one a line: fn gets each line that is not
 * blank (its end of line cut off) and its number, and answers NULL, or
 * why the line is refused.  BFD's synthetic MBIs are accepted (they are
 * never a real beneficiary's; the sandbox's claims are made with them).
 * DPCCTL_OK, or a failure naming the file and the first refused line. */
typedef const char *dpcctl_line_fn(apr_pool_t *p, char *line, int n, void *ctx);
int dpcctl_read_lines(apr_pool_t *p, const char *path, dpcctl_line_fn *fn, void *ctx);

#endif
