/* mod_dpc_creds.h: an organization's client tokens and public keys. */
#ifndef MOD_DPC_CREDS_H
#define MOD_DPC_CREDS_H

#include "mod_dpc_db.h"
#include "mod_dpc_op.h"

int dpc_op_token_list(request_rec *r, const dpc_call *call);
int dpc_op_token_read(request_rec *r, const dpc_call *call);
int dpc_op_token_create(request_rec *r, const dpc_call *call);
int dpc_op_token_delete(request_rec *r, const dpc_call *call);
int dpc_op_key_list(request_rec *r, const dpc_call *call);
int dpc_op_key_read(request_rec *r, const dpc_call *call);
int dpc_op_key_create(request_rec *r, const dpc_call *call);
int dpc_op_key_delete(request_rec *r, const dpc_call *call);

extern const dpc_statement dpc_creds_statements[];

#endif
