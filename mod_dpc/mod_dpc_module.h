/* mod_dpc_module.h: the module record, as every glue file sees it: its
 * configuration records and its log tag.  Nothing else: each area of the
 * glue has a header of its own. */
#ifndef MOD_DPC_MODULE_H
#define MOD_DPC_MODULE_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>

#include "dpc_config.h"

/* mod_dpc.c declares the module, which names the log index there. */
#ifndef DPC_MODULE_MAIN
APLOG_USE_MODULE(dpc);
#endif
extern module AP_MODULE_DECLARE_DATA dpc_module;

#define DPC_VERSION "0.1.0"
#define DPC_HANDLER "dpc-api"

static APR_INLINE dpc_srv_conf *dpc_srv(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &dpc_module);
}

/* The module-wide settings (DPCWorkers, DPCWorkerDatabase, DPCExportRoot):
 * the same record from any server. */
static APR_INLINE dpc_global_conf *dpc_global(const server_rec *s)
{
    return dpc_srv(s)->global;
}

static APR_INLINE dpc_dir_conf *dpc_dir(const request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &dpc_module);
}

#endif
