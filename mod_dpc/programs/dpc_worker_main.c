/* dpc-worker: the export worker on its own, for hosts that run workers but
 * serve no HTTP.  It shares the database and the export volume with the
 * httpd hosts.
 *
 *   dpc-worker --db CONNINFO --export-root DIR [--audit-retention DURATION] [-v]
 *
 * What a job is exported with (resources per file, gzip twins, file
 * lifetime) comes with the job, set by the httpd that took the kick-off:
 * the options that once set them here are refused, saying so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>

#include "dpc_config.h"
#include "dpc_log.h"
#include "dpc_worker.h"

static const char usage[] = "usage: dpc-worker --db CONNINFO --export-root DIR"
                            " [--audit-retention DURATION] [-v]\n";

/* The directive that now sets what an old option set, or NULL. */
static const char *moved_option(const char *arg)
{
    static const char *const moved[][2] = {
        { "--per-file", "DPCResourcesPerFile" },
        { "--file-lifetime", "DPCFileLifetime" },
        { "--gzip", "DPCExportGzip" },
    };
    size_t i;

    for (i = 0; i < sizeof(moved) / sizeof(moved[0]); i++)
        if (!strcmp(arg, moved[i][0]))
            return moved[i][1];
    return NULL;
}

/* --audit-retention DURATION | forever into o; 0, or 2 after the message. */
static int audit_retention(const char *arg, dpc_worker_opts *o)
{
    apr_interval_time_t t = 0;
    const char *err = NULL;
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    if (strcmp(arg, "forever"))
        err = dpc_parse_duration_max(p, "--audit-retention", arg, 100 * 366, &t);
    if (err)
        fprintf(stderr, "dpc-worker: %s\n%s", err, usage);
    o->audit_retention_secs = apr_time_sec(t);
    apr_pool_destroy(p);
    return err ? 2 : 0;
}

int main(int argc, char **argv)
{
    static volatile sig_atomic_t stop;
    dpc_worker_opts o;
    const char *directive, *retention = NULL;
    int i, level = DPC_LOG_INFO, rc;

    memset(&o, 0, sizeof(o));
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--db") && i + 1 < argc)
            o.conninfo = argv[++i];
        else if (!strcmp(argv[i], "--export-root") && i + 1 < argc)
            o.export_root = argv[++i];
        else if (!strcmp(argv[i], "--audit-retention") && i + 1 < argc)
            retention = argv[++i];
        else if (!strcmp(argv[i], "-v"))
            level = DPC_LOG_DEBUG;
        else if ((directive = moved_option(argv[i])) != NULL) {
            fprintf(stderr, "dpc-worker: %s is gone: each export job carries its own "
                    "settings, written by the httpd that took the kick-off (%s there, "
                    "which may differ per <VirtualHost>)\n%s", argv[i], directive, usage);
            return 2;
        }
        else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (!o.conninfo || !o.export_root) {
        fprintf(stderr, "dpc-worker: --db and --export-root are required\n");
        return 2;
    }
    apr_app_initialize(&argc, (const char *const **)&argv, NULL);
    if (retention && (rc = audit_retention(retention, &o)) != 0)
        return rc;
    dpc_log_set(dpc_log_stderr, dpc_log_stderr_level, &level);
    o.heartbeat_secs = 5;
    o.stop = &stop;
    dpc_worker_signals(&stop);
    rc = dpc_worker_run(&o);
    apr_terminate();
    return rc;
}
