/* dpc_worker.h: the export worker's main loop.  It runs forked from httpd
 * (supervised by mod_dpc) or standalone as dpc-worker, on its own libpq
 * connection: mod_dbd's pools do not exist in a process forked before
 * child_init. */
#ifndef DPC_WORKER_H
#define DPC_WORKER_H

#include <signal.h>

#include <apr.h>
#include <sys/types.h>

/* Exit status meaning "do not respawn me": the configuration is wrong and a
 * new process would fail the same way (EX_CONFIG). */
#define DPC_WORKER_EXIT_CONFIG 78

typedef struct dpc_worker_opts {
    const char *conninfo;         /* libpq conninfo */
    const char *export_root;      /* where NDJSON files go */
    int heartbeat_secs;           /* how often the worker row is touched */
    apr_int64_t audit_retention_secs; /* the sweep removes audit rows older than
                                   * this (dpc_audit_expire); 0: keeps them */
    /* What a job is exported with (resources per file, gzip twins, file
     * lifetime) is not here: it comes with the job's row (dpc_job.h). */
    pid_t parent;                 /* exit when our parent is no longer this; 0: none */
    volatile sig_atomic_t *stop;  /* set by the host's signal handler */
} dpc_worker_opts;

/* Run until *stop is set or the parent goes away.  Reconnects to PostgreSQL
 * with backoff.  Returns the process exit status. */
int dpc_worker_run(const dpc_worker_opts *o);

/* Install SIGTERM/SIGINT/SIGHUP handlers that set *stop, restore defaults for
 * the rest of what a forked httpd process inherited. */
void dpc_worker_signals(volatile sig_atomic_t *stop);

#endif
