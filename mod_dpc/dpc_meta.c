/* dpc_meta.c: see dpc_meta.h. */
#include "dpc_meta.h"

#include <apr_strings.h>

#include "dpc_fhir.h"
#include "dpc_route.h"

#define BULK_CAPABILITY "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"
#define OAUTH_URIS "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"

static int is_r4(dpc_api_t api)
{
    return api == DPC_API_DPC_V2;
}

const char *dpc_meta_token_url(apr_pool_t *p, dpc_api_t api, const char *base_url)
{
    (void)api;
    return apr_pstrcat(p, base_url, "/Token/auth", NULL);
}

static json_t *security(dpc_api_t api, const char *token_url)
{
    const char *system = is_r4(api)
        ? "http://terminology.hl7.org/CodeSystem/restful-security-service"
        : "http://hl7.org/fhir/restful-security-service";

    return json_pack("{s:[{s:s, s:[{s:s, s:s}]}], s:[{s:[{s:s, s:s}]}], s:s}",
                     "extension", "url", OAUTH_URIS, "extension", "url", "token",
                     "valueUri", token_url,
                     "service", "coding", "system", system, "code", "SMART-on-FHIR",
                     "description", "SMART Backend Services: a client_credentials grant "
                     "with a JWT client assertion (RS384 or ES384) at the token URL; "
                     "every other request needs its bearer access token.");
}

json_t *dpc_meta_capability(dpc_api_t api, const char *base_url, const char *version,
                            apr_time_t now)
{
    apr_pool_t *p;
    json_t *cs, *rest;
    char date[APR_RFC822_DATE_LEN];
    apr_time_exp_t tm;

    apr_pool_create(&p, NULL);
    apr_time_exp_gmt(&tm, now);
    apr_snprintf(date, sizeof(date), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday);
    rest = json_pack("{s:s, s:o}", "mode", "server", "security",
                     security(api, dpc_meta_token_url(p, api, base_url)));
    cs = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], "
                   "s:{s:s, s:s}, s:{s:s, s:s}, s:s, s:[s, s], s:[o]}",
                   "resourceType", "CapabilityStatement",
                   "id", "dpc-capabilities",
                   "name", "DPCCapabilities",
                   "title", "Data at the Point of Care (mod_dpc)",
                   "status", "active",
                   "date", date,
                   "publisher", "mod_dpc",
                   "kind", "instance",
                   "instantiates", BULK_CAPABILITY,
                   "software", "name", DPC_SOFTWARE_NAME, "version", version,
                   "implementation", "description", "Medicare claims data through "
                   "FHIR Bulk Data", "url", base_url,
                   "fhirVersion", is_r4(api) ? "4.0.1" : "3.0.2",
                   "format", "application/fhir+json", "application/json",
                   "rest", rest);
    if (!is_r4(api))
        json_object_set_new(cs, "acceptUnknown", json_string("extensions"));
    apr_pool_destroy(p);
    return cs;
}

json_t *dpc_meta_smart_config(dpc_api_t api, const char *base_url)
{
    apr_pool_t *p;
    json_t *sc;

    apr_pool_create(&p, NULL);
    sc = json_pack("{s:s, s:[s], s:[s], s:[s, s], s:[s, s, s, s, s, s, s, s], "
                   "s:[s, s, s], s:[s]}",
                   "token_endpoint", dpc_meta_token_url(p, api, base_url),
                   "grant_types_supported", "client_credentials",
                   "token_endpoint_auth_methods_supported", "private_key_jwt",
                   "token_endpoint_auth_signing_alg_values_supported", "RS384", "ES384",
                   "scopes_supported", "system/*.read", "system/*.rs",
                   "system/Patient.read", "system/Patient.rs",
                   "system/Coverage.read", "system/Coverage.rs",
                   "system/ExplanationOfBenefit.read", "system/ExplanationOfBenefit.rs",
                   "capabilities", "client-confidential-asymmetric", "permission-v1",
                   "permission-v2",
                   "code_challenge_methods_supported", "S256");
    apr_pool_destroy(p);
    return sc;
}
