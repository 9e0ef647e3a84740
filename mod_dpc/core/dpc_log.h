/* dpc_log.h: logging from the httpd-free core through a callback.
 *
 * The core never writes to stderr or to httpd's error log itself: the host
 * (mod_dpc inside httpd, the worker daemon, the command-line tools) installs a
 * callback with dpc_log_set().  Levels follow syslog/httpd numbering so the
 * glue can pass them straight to ap_log_error().
 */
#ifndef DPC_LOG_H
#define DPC_LOG_H

#include <apr.h>
#include <apr_errno.h>

#define DPC_LOG_EMERG   0
#define DPC_LOG_ALERT   1
#define DPC_LOG_CRIT    2
#define DPC_LOG_ERR     3
#define DPC_LOG_WARNING 4
#define DPC_LOG_NOTICE  5
#define DPC_LOG_INFO    6
#define DPC_LOG_DEBUG   7
#define DPC_LOG_TRACE1  8

/* Every message at debug level or above carries a unique, never reused tag:
 * DPCLOGNO(00001) expands to "DPC00001: ".  The next free number is kept in
 * mod_dpc/LOGNO. */
#define DPCLOGNO(n) "DPC" #n ": "

typedef void dpc_log_fn(void *baton, const char *file, int line, int level,
                        apr_status_t rv, const char *msg);
typedef int dpc_log_level_fn(void *baton, int level);

/* Install the sink. level_cb may be NULL (everything is formatted). */
void dpc_log_set(dpc_log_fn *cb, dpc_log_level_fn *level_cb, void *baton);

/* Would a message at this level be written? Guards costly formatting. */
int dpc_log_is_level(int level);

void dpc_log_perror(const char *file, int line, int level, apr_status_t rv,
                    const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define DPC_LOG_MARK __FILE__, __LINE__

/* A ready-made sink for command-line programs and the standalone worker:
 * "[time] [level] [pid N] message: status text" on stderr, filtered by the
 * level given in baton (an int* holding the maximum level), or WARNING. */
void dpc_log_stderr(void *baton, const char *file, int line, int level,
                    apr_status_t rv, const char *msg);
int dpc_log_stderr_level(void *baton, int level);

#endif
