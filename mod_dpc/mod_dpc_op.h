/* mod_dpc_op.h: what every handler gets, and its type.  The router's
 * dispatch table holds one dpc_op_fn per operation of the route tables. */
#ifndef MOD_DPC_OP_H
#define MOD_DPC_OP_H

#include "mod_dpc_module.h"

/* Who is calling: what the bearer token says. */
typedef struct dpc_principal {
    const char *org_id;
    const char *client_token_id;
    const char *key_id;
    const char *scope;
} dpc_principal;

typedef struct dpc_call {
    const dpc_principal *who;   /* NULL on public routes */
    const char *id;             /* the route's first "*" segment, or NULL */
    int what;                   /* the dispatch table's variant (DPC_PATIENT, ...) */
} dpc_call;

/* A handler: answers the request and returns OK, or an HTTP status. */
typedef int dpc_op_fn(request_rec *r, const dpc_call *call);

#endif
