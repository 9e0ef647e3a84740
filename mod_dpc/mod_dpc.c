/* mod_dpc.c: module declaration and hooks.
 *
 * mod_dpc serves Medicare claims data through the DPC FHIR Bulk Data API.
 * The httpd-free work lives in the dpc_* core; this file wires it to httpd:
 * the log callback, the startup checks, the worker daemon, the handler.
 */
#define DPC_MODULE_MAIN
#include "mod_dpc_module.h"

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>
#include <mod_auth.h>
#include <ap_mpm.h>
#include <mod_status.h>

#include "dpc_log.h"
#include "mod_dpc_audit.h"
#include "mod_dpc_auth.h"
#include "mod_dpc_config.h"
#include "mod_dpc_db.h"
#include "mod_dpc_export.h"
#include "mod_dpc_portal.h"
#include "mod_dpc_router.h"
#include "mod_dpc_status.h"
#include "mod_dpc_worker.h"

/* The core logs through httpd's error log, tagged with our module so that
 * "LogLevel dpc:debug" works. */
static void log_to_httpd(void *baton, const char *file, int line, int level,
                         apr_status_t rv, const char *msg)
{
    ap_log_error(file, line, APLOG_MODULE_INDEX, level, rv, (server_rec *)baton,
                 "%s", msg);
}

static int log_level_httpd(void *baton, int level)
{
    return APLOG_IS_LEVEL((server_rec *)baton, level);
}

static int dpc_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)pconf;
    (void)plog;
    (void)ptemp;
    dpc_api_configured = 0;
    dpc_portal_configured = 0;
    return OK;
}

static int dpc_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s)
{
    int rv;

    (void)plog;

    dpc_log_set(log_to_httpd, log_level_httpd, s);
    /* The first pass only checks the configuration's syntax. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;

    if (!dpc_db_resolve() && (dpc_api_configured || dpc_portal_configured)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, DPCLOGNO(00100)
                     "mod_dbd is required by mod_dpc: LoadModule dbd_module and set "
                     "DBDriver pgsql and DBDParams");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if ((rv = dpc_config_check(ptemp, s)) != OK)
        return rv;
    ap_add_version_component(pconf, "mod_dpc/" DPC_VERSION);
    return dpc_workers_start(pconf, s);
}

static void dpc_child_init(apr_pool_t *p, server_rec *s)
{
    dpc_log_set(log_to_httpd, log_level_httpd, s);
    dpc_auth_child_init(p);
}

static void dpc_register_hooks(apr_pool_t *p)
{
    /* mod_dbd's optional functions are registered in its own hooks; resolve
     * them after it. */
    static const char *const after_dbd[] = { "mod_dbd.c", NULL };

    (void)p;

    ap_hook_pre_config(dpc_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(dpc_post_config, after_dbd, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(dpc_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_translate_name(dpc_translate, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_map_to_storage(dpc_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_check_access(dpc_data_access, NULL, NULL, APR_HOOK_MIDDLE,
                         AP_AUTH_INTERNAL_PER_URI);
    ap_hook_fixups(dpc_data_fixups, NULL, NULL, APR_HOOK_LAST);
    ap_hook_handler(dpc_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(dpc_audit_log, NULL, NULL, APR_HOOK_MIDDLE);
    /* mod_status calls it when loaded; nothing happens when it is not */
    APR_OPTIONAL_HOOK(ap, status_hook, dpc_status_hook, NULL, NULL, APR_HOOK_MIDDLE);
    /* the Sandbox Portal */
    ap_hook_translate_name(dpc_portal_translate, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_map_to_storage(dpc_portal_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_fixups(dpc_portal_fixups, NULL, NULL, APR_HOOK_LAST);
    ap_hook_handler(dpc_portal_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(dpc_portal_log, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(dpc) = {
    STANDARD20_MODULE_STUFF,
    dpc_create_dir,
    dpc_merge_dir,
    dpc_create_srv,
    dpc_merge_srv,
    dpc_cmds,
    dpc_register_hooks,
    AP_MODULE_FLAG_NONE
};
