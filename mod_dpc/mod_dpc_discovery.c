/* mod_dpc_discovery.c: the CapabilityStatement and SMART configuration of
 * a <Location>'s dialect, built by the core from what its routes serve. */
#include "mod_dpc_discovery.h"

#include <http_protocol.h>

#include "dpc_meta.h"
#include "mod_dpc_respond.h"

int dpc_op_metadata(request_rec *r, const dpc_call *call)
{
    (void)call;
    return dpc_send_json(r, HTTP_OK, DPC_FHIR_JSON,
                         dpc_meta_capability(dpc_conf_dialect(dpc_dir(r)), dpc_base_url(r),
                                             DPC_VERSION, r->request_time));
}

/* SMART discovery is JSON whatever the Accept header asks for. */
int dpc_op_smart_config(request_rec *r, const dpc_call *call)
{
    (void)call;
    return dpc_send_json(r, HTTP_OK, "application/json",
                         dpc_meta_smart_config(dpc_conf_dialect(dpc_dir(r)), dpc_base_url(r)));
}
