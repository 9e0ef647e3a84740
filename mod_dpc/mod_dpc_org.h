/* mod_dpc_org.h: the caller's own Organization. */
#ifndef MOD_DPC_ORG_H
#define MOD_DPC_ORG_H

#include "mod_dpc_db.h"
#include "mod_dpc_op.h"

int dpc_op_org_search(request_rec *r, const dpc_call *call);
int dpc_op_org_read(request_rec *r, const dpc_call *call);

extern const dpc_statement dpc_org_statements[];

#endif
