/* mod_dpc.h: what the httpd glue files share. */
#ifndef MOD_DPC_H
#define MOD_DPC_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_optional.h>
#include <apr_dbd.h>
#include <mod_dbd.h>

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

static APR_INLINE dpc_dir_conf *dpc_dir(const request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &dpc_module);
}

/* mod_dpc_config.c */
extern const command_rec dpc_cmds[];
void *dpc_create_srv(apr_pool_t *p, server_rec *s);
void *dpc_merge_srv(apr_pool_t *p, void *base, void *add);
void *dpc_create_dir(apr_pool_t *p, char *dir);
void *dpc_merge_dir(apr_pool_t *p, void *base, void *add);
/* Check every server's settings after configuration; OK or an error. */
int dpc_config_check(apr_pool_t *p, server_rec *s);

/* mod_dpc_handlers.c */
int dpc_translate(request_rec *r);
int dpc_map_to_storage(request_rec *r);
int dpc_handler(request_rec *r);

/* mod_dpc_worker.c */
int dpc_workers_start(apr_pool_t *pconf, server_rec *s);

/* mod_dbd, resolved once in post_config (NULL until then). */
extern APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *dpc_dbd_acquire;
extern APR_OPTIONAL_FN_TYPE(ap_dbd_prepare) *dpc_dbd_prepare;

#endif
