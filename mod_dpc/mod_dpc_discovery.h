/* mod_dpc_discovery.h: discovery documents (public routes). */
#ifndef MOD_DPC_DISCOVERY_H
#define MOD_DPC_DISCOVERY_H

#include "mod_dpc_op.h"

int dpc_op_metadata(request_rec *r, const dpc_call *call);
int dpc_op_smart_config(request_rec *r, const dpc_call *call);

#endif
