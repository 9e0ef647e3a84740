/* mod_dpc_worker.c: start and supervise the export worker daemons, the way
 * mod_cgid supervises its daemon.
 *
 * Workers are forked in the real post_config pass and registered as "other
 * children": the MPM's main loop reports their death, and we respawn them
 * unless httpd is stopping or the worker said its configuration is unusable.
 * They are noted as subprocesses of pconf, so a restart or stop sends SIGTERM
 * (then SIGKILL after 3 s) and the next generation's post_config starts new
 * ones.  Job state lives in PostgreSQL, so a killed worker loses nothing.
 */
#include "mod_dpc_worker.h"

#include <ap_mpm.h>
#include <http_main.h>
#include <mpm_common.h>
#include <ap_listen.h>
#include <apr_thread_proc.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "dpc_log.h"
#include "dpc_worker.h"

typedef struct worker_slot {
    apr_proc_t proc;
    apr_pool_t *pconf;
    server_rec *s;
    int index;
    int noted;          /* pconf knows this slot's proc (the pid changes) */
} worker_slot;

static int worker_start(worker_slot *w);

static int httpd_stopping(void)
{
    int state;

    return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) != APR_SUCCESS
        || state == AP_MPMQ_STOPPING;
}

static void worker_maint(int reason, void *data, apr_wait_t status)
{
    worker_slot *w = data;

    switch (reason) {
    case APR_OC_REASON_DEATH:
        apr_proc_other_child_unregister(w);
        if (httpd_stopping())
            break;
        if (WIFEXITED(status) && WEXITSTATUS(status) == DPC_WORKER_EXIT_CONFIG) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, w->s, DPCLOGNO(00110)
                         "export worker %d (pid %ld) cannot run with this "
                         "configuration; not restarting it", w->index, (long)w->proc.pid);
            break;
        }
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, w->s, DPCLOGNO(00111)
                     "export worker %d (pid %ld) died (%s %d), restarting", w->index,
                     (long)w->proc.pid, WIFSIGNALED(status) ? "signal" : "exit",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        worker_start(w);
        break;
    case APR_OC_REASON_LOST:
        apr_proc_other_child_unregister(w);
        if (!httpd_stopping())
            worker_start(w);
        break;
    case APR_OC_REASON_RESTART:
    case APR_OC_REASON_UNREGISTER:
        /* pconf is going away: the subprocess note ends the worker */
        break;
    }
}

/* In the forked child: become a worker and never return to httpd's code. */
static void worker_child(worker_slot *w, pid_t httpd_pid)
{
    static volatile sig_atomic_t stop;
    const dpc_global_conf *g = dpc_global(w->s);
    dpc_worker_opts o;
    apr_pool_t *p;
    int rc;

    memset(&o, 0, sizeof(o));

    dpc_worker_signals(&stop);
    ap_close_listeners();
    apr_pool_create(&p, w->pconf);
    if (ap_run_drop_privileges(p, ap_server_conf) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, 0, w->s, DPCLOGNO(00112)
                     "export worker could not drop privileges to User/Group");
        _exit(DPC_WORKER_EXIT_CONFIG);
    }
    /* what a job is exported with travels on its row (dpc_job.h) */
    o.conninfo = g->worker_db;
    o.export_root = g->export_root;
    o.heartbeat_secs = 5;
    o.audit_retention_secs = apr_time_sec(dpc_conf_audit_retention(g));
    o.parent = httpd_pid;
    o.stop = &stop;
    rc = dpc_worker_run(&o);
#if defined(__SANITIZE_ADDRESS__)
    /* Under AddressSanitizer (build/test's sanitized run), the leak check
     * that _exit skips: what the worker left unreachable. */
    __lsan_do_recoverable_leak_check();
#endif
    /* _exit: pool cleanups and atexit handlers belong to httpd, not to us */
    _exit(rc);
}

static int worker_start(worker_slot *w)
{
    pid_t httpd_pid = getpid();
    apr_status_t rv = apr_proc_fork(&w->proc, w->pconf);

    if (rv == APR_INCHILD)
        worker_child(w, httpd_pid);
    if (rv != APR_INPARENT) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, w->s, DPCLOGNO(00113)
                     "cannot fork export worker %d", w->index);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* one note per slot: it points at w->proc, which a respawn updates */
    if (!w->noted) {
        apr_pool_note_subprocess(w->pconf, &w->proc, APR_KILL_AFTER_TIMEOUT);
        w->noted = 1;
    }
    apr_proc_other_child_register(&w->proc, worker_maint, w, NULL, w->pconf);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, w->s, DPCLOGNO(00114)
                 "started export worker %d (pid %ld)", w->index, (long)w->proc.pid);
    return OK;
}

int dpc_workers_start(apr_pool_t *pconf, server_rec *s)
{
    int i, n = dpc_conf_workers(dpc_global(s));

    for (i = 0; i < n; i++) {
        worker_slot *w = apr_pcalloc(pconf, sizeof(*w));

        w->pconf = pconf;
        w->s = s;
        w->index = i;
        if (worker_start(w) != OK)
            return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}
