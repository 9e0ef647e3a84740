/* mod_dpc_bcda.h: what only the BCDA dialects have (their token endpoint
 * and credential check: mod_dpc_bcda_auth.h): /_version, /_health,
 * /_auth, population kick-offs, the job list and cancel, and
 * attribution_status.  Job status and downloads are the shared ones
 * (mod_dpc_export.c), asked through the dialect's descriptor. */
#ifndef MOD_DPC_BCDA_H
#define MOD_DPC_BCDA_H

#include "dpc_token.h"
#include "mod_dpc_db.h"
#include "mod_dpc_op.h"

int dpc_op_bcda_version(request_rec *r, const dpc_call *call);
int dpc_op_bcda_health(request_rec *r, const dpc_call *call);
int dpc_op_bcda_auth_info(request_rec *r, const dpc_call *call);
int dpc_op_bcda_export(request_rec *r, const dpc_call *call);
int dpc_op_bcda_job_list(request_rec *r, const dpc_call *call);
int dpc_op_bcda_job_cancel(request_rec *r, const dpc_call *call);
int dpc_op_bcda_attribution_status(request_rec *r, const dpc_call *call);

extern const dpc_statement dpc_bcda_statements[];

#endif
