/* mod_dpc_bcda.h: what only the BCDA dialects have: the token endpoint
 * with HTTP Basic client credentials, the credential check of every bearer
 * request (expiry, rotation, address allow-list), /_version, /_health,
 * /_auth, population kick-offs, the job list and cancel, and
 * attribution_status.  Job status and downloads are the shared ones
 * (mod_dpc_export.c), asked through the dialect's descriptor. */
#ifndef MOD_DPC_BCDA_H
#define MOD_DPC_BCDA_H

#include "dpc_token.h"
#include "mod_dpc_db.h"
#include "mod_dpc_op.h"

/* The bearer token's credential is still there, not expired, not rotated
 * since the token was issued, and allows the client's address.  0, or -1
 * after the refusal (401, 403, or a database error) was sent, with its
 * status in *status. */
int dpc_bcda_credential_check(request_rec *r, const dpc_access_token_t *t, int *status);

int dpc_op_bcda_token(request_rec *r, const dpc_call *call);
int dpc_op_bcda_version(request_rec *r, const dpc_call *call);
int dpc_op_bcda_health(request_rec *r, const dpc_call *call);
int dpc_op_bcda_auth_info(request_rec *r, const dpc_call *call);
int dpc_op_bcda_export(request_rec *r, const dpc_call *call);
int dpc_op_bcda_job_list(request_rec *r, const dpc_call *call);
int dpc_op_bcda_job_cancel(request_rec *r, const dpc_call *call);
int dpc_op_bcda_attribution_status(request_rec *r, const dpc_call *call);

extern const dpc_statement dpc_bcda_statements[];

#endif
