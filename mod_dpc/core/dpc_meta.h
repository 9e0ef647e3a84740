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

/* An OpenAPI 3.0 description of the dialect's routes, generated from its
 * route table (so it cannot drift from what is served): one path per
 * pattern ("*" becomes "{id}"), one operation per method, bearer security
 * unless the route is public.  A new reference. */
json_t *dpc_meta_openapi(const dpc_dialect *d, const char *base_url, const char *version);

/* The StructureDefinition of a profile this server enforces, by id:
 * dpc-profile-attestation (the X-Provenance), dpc-profile-patient,
 * dpc-profile-practitioner, dpc-profile-attribution-roster (Group): the
 * elements the checks require, each with what it must hold.  NULL for
 * another id.  A new reference. */
json_t *dpc_meta_profile(const dpc_dialect *d, const char *base_url, const char *id);

/* The OperationDefinition that the CapabilityStatement names for one of
 * this server's own operations, by id "{Type}-{name}" ("Group-add"), as
 * the route table serves it; NULL for none (FHIR's own operations are
 * named by FHIR's URLs).  A new reference. */
json_t *dpc_meta_operation(const dpc_dialect *d, const char *base_url, const char *id);

/* The OAuth token endpoint of a FHIR base. */
const char *dpc_meta_token_url(apr_pool_t *p, const dpc_dialect *d, const char *base_url);

#endif
