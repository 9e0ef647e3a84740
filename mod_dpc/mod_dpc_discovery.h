/* mod_dpc_discovery.h: discovery documents (public routes). */
#ifndef MOD_DPC_DISCOVERY_H
#define MOD_DPC_DISCOVERY_H

#include "mod_dpc_db.h"
#include "mod_dpc_op.h"

int dpc_op_metadata(request_rec *r, const dpc_call *call);
int dpc_op_smart_config(request_rec *r, const dpc_call *call);
/* GET OperationDefinition/{Type}-{name}: the definitions the
 * CapabilityStatement names. */
int dpc_op_operation_def(request_rec *r, const dpc_call *call);
/* GET StructureDefinition/{id}: the profiles the writes are checked
 * against. */
int dpc_op_profile(request_rec *r, const dpc_call *call);
/* GET _version: {"version", "dialect"}. */
int dpc_op_version(request_rec *r, const dpc_call *call);
/* GET _health: 200 {"status": "ok", "database": "ok", "workers_alive": N}
 * when the database answers and a worker is alive, else 503. */
int dpc_op_health(request_rec *r, const dpc_call *call);

/* GET swagger.json and swagger: the routes as OpenAPI 3.0, and as a page. */
int dpc_op_openapi(request_rec *r, const dpc_call *call);
int dpc_op_openapi_page(request_rec *r, const dpc_call *call);

extern const dpc_statement dpc_discovery_statements[];

#endif
