/* mod_dpc_auth.h: SMART Backend Services: the token endpoint, JWT
 * validation, and the bearer check of every other route. */
#ifndef MOD_DPC_AUTH_H
#define MOD_DPC_AUTH_H

#include "mod_dpc_db.h"
#include "mod_dpc_op.h"

void dpc_auth_child_init(apr_pool_t *pchild);
/* Load DPCTokenSecretFile; OK or an error status. */
int dpc_auth_load_secrets(apr_pool_t *pconf, server_rec *s);
/* The bearer token's principal, or NULL after sending the 401/503. */
const dpc_principal *dpc_authenticate(request_rec *r, int *status);
int dpc_op_token_auth(request_rec *r, const dpc_call *call);
int dpc_op_token_validate(request_rec *r, const dpc_call *call);

extern const dpc_statement dpc_auth_statements[];

#endif
