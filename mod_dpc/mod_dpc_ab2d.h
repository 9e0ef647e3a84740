/* mod_dpc_ab2d.h: what only the AB2D dialects have: /health, /status, the
 * contract kick-offs (Patient/$export, Group/{contract}/$export) and the
 * cancel at DELETE Job/{id}/$status.  The token endpoint and credential
 * check are BCDA's (mod_dpc_bcda_auth.h, asked through the descriptor);
 * job status and downloads are the shared ones (mod_dpc_export.c). */
#ifndef MOD_DPC_AB2D_H
#define MOD_DPC_AB2D_H

#include "mod_dpc_db.h"
#include "mod_dpc_op.h"

int dpc_op_ab2d_health(request_rec *r, const dpc_call *call);
int dpc_op_ab2d_status(request_rec *r, const dpc_call *call);
int dpc_op_ab2d_export(request_rec *r, const dpc_call *call);
int dpc_op_ab2d_job_cancel(request_rec *r, const dpc_call *call);

extern const dpc_statement dpc_ab2d_statements[];

#endif
