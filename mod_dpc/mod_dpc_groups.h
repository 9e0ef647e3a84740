/* mod_dpc_groups.h: attribution rosters (FHIR Group). */
#ifndef MOD_DPC_GROUPS_H
#define MOD_DPC_GROUPS_H

#include "mod_dpc_db.h"
#include "mod_dpc_op.h"

int dpc_op_group_create(request_rec *r, const dpc_call *call);
int dpc_op_group_read(request_rec *r, const dpc_call *call);
int dpc_op_group_search(request_rec *r, const dpc_call *call);
int dpc_op_group_replace(request_rec *r, const dpc_call *call);
int dpc_op_group_delete(request_rec *r, const dpc_call *call);
int dpc_op_group_add(request_rec *r, const dpc_call *call);
int dpc_op_group_remove(request_rec *r, const dpc_call *call);

extern const dpc_statement dpc_group_statements[];

#endif
