/* mod_dpc_worker.h: the export workers httpd starts and supervises. */
#ifndef MOD_DPC_WORKER_H
#define MOD_DPC_WORKER_H

#include "mod_dpc_module.h"

int dpc_workers_start(apr_pool_t *pconf, server_rec *s);

#endif
