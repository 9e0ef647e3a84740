/* mod_dpc_config.h: the DPC* directives and the configuration checks. */
#ifndef MOD_DPC_CONFIG_H
#define MOD_DPC_CONFIG_H

#include "mod_dpc_module.h"

extern int dpc_api_configured;   /* some <Location> has DPCAPI: this pass */
extern const command_rec dpc_cmds[];
void *dpc_create_srv(apr_pool_t *p, server_rec *s);
void *dpc_merge_srv(apr_pool_t *p, void *base, void *add);
void *dpc_create_dir(apr_pool_t *p, char *dir);
void *dpc_merge_dir(apr_pool_t *p, void *base, void *add);
/* Check every server's settings after configuration; OK or an error. */
int dpc_config_check(apr_pool_t *p, server_rec *s);

#endif
