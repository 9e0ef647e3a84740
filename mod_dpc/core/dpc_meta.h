/* dpc_meta.h: discovery documents, built from what the route table really
 * serves: the CapabilityStatement (R4 or STU3) and SMART configuration. */
#ifndef DPC_META_H
#define DPC_META_H

#include <apr_pools.h>
#include <jansson.h>
#include "dpc_dialect.h"

#define DPC_SOFTWARE_NAME "mod_dpc"

/* base_url: the FHIR base as clients see it, without a trailing '/'.
 * now: the statement's date.  Returns a new reference. */
json_t *dpc_meta_capability(const dpc_dialect *d, const char *base_url,
                            const char *version, apr_time_t now);
json_t *dpc_meta_smart_config(const dpc_dialect *d, const char *base_url);

/* The OAuth token endpoint of a FHIR base. */
const char *dpc_meta_token_url(apr_pool_t *p, const dpc_dialect *d, const char *base_url);

#endif
