/* dpc-worker: the export worker on its own, for hosts that run workers but
 * serve no HTTP.  It shares the database and the export volume with the
 * httpd hosts.
 *
 *   dpc-worker --db CONNINFO --export-root DIR [--per-file N]
 *              [--file-lifetime SECS] [--gzip] [-v]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>

#include "dpc_log.h"
#include "dpc_worker.h"

/* A positive int, or -1. */
static int positive(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    return end != s && !*end && v > 0 && v <= 0x7fffffff ? (int)v : -1;
}

int main(int argc, char **argv)
{
    static volatile sig_atomic_t stop;
    dpc_worker_opts o;
    int i, level = DPC_LOG_INFO, rc;

    memset(&o, 0, sizeof(o));
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--db") && i + 1 < argc)
            o.conninfo = argv[++i];
        else if (!strcmp(argv[i], "--export-root") && i + 1 < argc)
            o.export_root = argv[++i];
        else if (!strcmp(argv[i], "--per-file") && i + 1 < argc
                 && (o.per_file = positive(argv[++i])) > 0)
            ;
        else if (!strcmp(argv[i], "--file-lifetime") && i + 1 < argc
                 && (o.file_lifetime_secs = positive(argv[++i])) > 0)
            ;
        else if (!strcmp(argv[i], "--gzip"))
            o.gzip = 1;
        else if (!strcmp(argv[i], "-v"))
            level = DPC_LOG_DEBUG;
        else {
            fprintf(stderr, "usage: dpc-worker --db CONNINFO --export-root DIR"
                    " [--per-file N] [--file-lifetime SECS] [--gzip] [-v]\n");
            return 2;
        }
    }
    if (!o.conninfo || !o.export_root) {
        fprintf(stderr, "dpc-worker: --db and --export-root are required\n");
        return 2;
    }
    apr_app_initialize(&argc, (const char *const **)&argv, NULL);
    dpc_log_set(dpc_log_stderr, dpc_log_stderr_level, &level);
    o.heartbeat_secs = 5;
    o.stop = &stop;
    dpc_worker_signals(&stop);
    rc = dpc_worker_run(&o);
    apr_terminate();
    return rc;
}
