/* mod_dpc_router.h: the hooks that claim and route API requests. */
#ifndef MOD_DPC_ROUTER_H
#define MOD_DPC_ROUTER_H

#include "mod_dpc_module.h"

int dpc_translate(request_rec *r);
int dpc_map_to_storage(request_rec *r);
int dpc_handler(request_rec *r);

#endif
