/* mod_dpc_bcda_auth.h: the BCDA dialects' token endpoint (HTTP Basic
 * client credentials) and the credential check of every bearer request. */
#ifndef MOD_DPC_BCDA_AUTH_H
#define MOD_DPC_BCDA_AUTH_H

#include "dpc_token.h"
#include "mod_dpc_db.h"
#include "mod_dpc_op.h"

/* The bearer token's credential is still there, not expired, not rotated
 * since the token was issued, and allows the client's address.  0, or -1
 * after the refusal (401, 403, or a database error) was sent, with its
 * status in *status. */
int dpc_bcda_credential_check(request_rec *r, const dpc_access_token_t *t, int *status);

int dpc_op_bcda_token(request_rec *r, const dpc_call *call);

extern const dpc_statement dpc_bcda_auth_statements[];

#endif
