/* dpc_meta.c: see dpc_meta.h. */
#include "dpc_meta.h"

#include <string.h>

#include <apr_strings.h>

#include "dpc_fhir.h"
#include "dpc_route.h"

#define BULK_CAPABILITY "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"
#define OAUTH_URIS "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"

static int is_r4(const dpc_dialect *d)
{
    return d->fhir_version == DPC_FHIR_R4;
}

const char *dpc_meta_token_url(apr_pool_t *p, const dpc_dialect *d, const char *base_url)
{
    const char *rest;
    size_t n;

    if (d->token_path[0] != '/')
        return apr_pstrcat(p, base_url, "/", d->token_path, NULL);
    /* a path of its own on the host: keep base_url's scheme and authority */
    rest = strstr(base_url, "://");
    rest = rest ? strchr(rest + 3, '/') : NULL;
    n = rest ? (size_t)(rest - base_url) : strlen(base_url);
    return apr_pstrcat(p, apr_pstrmemdup(p, base_url, n), d->token_path, NULL);
}

static json_t *security(const dpc_dialect *d, const char *token_url)
{
    const char *system = is_r4(d)
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

/* The FHIR resource types the route table serves, with what it does with
 * each: derived from the routes, so the statement never claims more. */
static const char *const fhir_types[] = {
    "Organization", "Practitioner", "Patient", "Group", NULL
};

/* The profiles the checks enforce (dpc_res.c, dpc_roster.c): for each, its
 * FHIR type and the elements it requires, with what they must hold. */
typedef struct profile_element {
    const char *path, *max, *rule;
} profile_element;

static const struct {
    const char *id, *type;
    profile_element el[6];
} profiles[] = {
    { "dpc-profile-attestation", "Provenance", {
        { "Provenance.recorded", "1", "when the attestation was made: an instant, not in "
          "the future" },
        { "Provenance.reason", "*", "ActReason#TREAT" },
        { "Provenance.agent", "1", "one agent, role RoleClass#AGNT" },
        { "Provenance.agent.who", "1", "Organization/{your organization id}" },
        { "Provenance.agent.onBehalfOf", "1", "the practitioner attested for (required on "
          "DPC v1; on DPC v2 optional, and then one the Group's members name)" },
        { NULL, NULL, NULL } } },
    { "dpc-profile-patient", "Patient", {
        { "Patient.identifier", "*", "the MBI, system http://hl7.org/fhir/sid/us-mbi" },
        { "Patient.name", "*", "the patient's name" },
        { "Patient.birthDate", "1", "the birth date (YYYY-MM-DD)" },
        { NULL, NULL, NULL } } },
    { "dpc-profile-practitioner", "Practitioner", {
        { "Practitioner.identifier", "*", "the NPI, system http://hl7.org/fhir/sid/us-npi" },
        { "Practitioner.name", "*", "the practitioner's name" },
        { NULL, NULL, NULL } } },
    { "dpc-profile-attribution-roster", "Group", {
        { "Group.type", "1", "person" },
        { "Group.actual", "1", "true" },
        { "Group.member", "*", "each patient once: Patient/{id}, or the MBI" },
        { "Group.member.extension", "*", "ext-attributedProvider with the NPI of the member's "
          "practitioner, unless the Group's attributed-to characteristic names it" },
        { NULL, NULL, NULL } } },
};

json_t *dpc_meta_profile(const dpc_dialect *d, const char *base_url, const char *id)
{
    json_t *els;
    char url[512], base[128];
    size_t i, j;

    for (i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
        if (!id || strcmp(profiles[i].id, id))
            continue;
        els = json_array();
        for (j = 0; profiles[i].el[j].path; j++)
            json_array_append_new(els, json_pack("{s:s, s:s, s:i, s:s, s:s}",
                                  "id", profiles[i].el[j].path, "path", profiles[i].el[j].path,
                                  "min", 1, "max", profiles[i].el[j].max,
                                  "short", profiles[i].el[j].rule));
        apr_snprintf(url, sizeof(url), "%s/StructureDefinition/%s", base_url, id);
        apr_snprintf(base, sizeof(base), "http://hl7.org/fhir/StructureDefinition/%s",
                     profiles[i].type);
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:{s:o}}",
                         "resourceType", "StructureDefinition", "id", id, "url", url,
                         "name", id, "status", "active", "fhirVersion", d->fhir_release,
                         "kind", "resource", "abstract", 0, "type", profiles[i].type,
                         "baseDefinition", base, "derivation", "constraint",
                         "differential", "element", els);
    }
    return NULL;
}

static const char *interaction_of(const dpc_route *rt, const char *type)
{
    size_t n = strlen(type);
    const char *rest = rt->pattern + n;

    if (strncmp(rt->pattern, type, n) || (*rest && *rest != '/'))
        return NULL;
    if (!*rest)
        return rt->method == DPC_M_GET ? "search-type"
             : rt->method == DPC_M_POST ? "create" : NULL;
    if (!strcmp(rest, "/*"))
        return rt->method == DPC_M_GET ? "read" : rt->method == DPC_M_PUT ? "update"
             : rt->method == DPC_M_DELETE ? "delete" : NULL;
    return NULL;
}

/* Where an operation is defined: FHIR's own, else this server's. */
static json_t *op_definition(const dpc_dialect *d, const char *base_url, const char *type,
                             const char *name)
{
    char url[512];

    if (!strcmp(name, "everything"))
        apr_snprintf(url, sizeof(url), "http://hl7.org/fhir/OperationDefinition/"
                     "Patient-everything");
    else if (!strcmp(name, "export"))
        apr_snprintf(url, sizeof(url), "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/"
                     "%s", !type ? "export" : !strcmp(type, "Patient") ? "patient-export"
                     : "group-export");
    else if (!strcmp(name, "validate"))
        apr_snprintf(url, sizeof(url), "http://hl7.org/fhir/OperationDefinition/"
                     "Resource-validate");
    else
        apr_snprintf(url, sizeof(url), "%s/OperationDefinition/%s-%s", base_url,
                     type ? type : "System", name);
    /* R4: a canonical; STU3: a Reference */
    return is_r4(d) ? json_string(url) : json_pack("{s:s}", "reference", url);
}

static const struct {
    const char *type, *param, *kind;
} search_params[] = {
    { "Practitioner", "identifier", "token" },
    { "Patient", "identifier", "token" },
    { "Group", "characteristic-value", "composite" },
};

static void add_search_params(json_t *res, const char *type)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; i < sizeof(search_params) / sizeof(search_params[0]); i++)
        if (!strcmp(search_params[i].type, type))
            json_array_append_new(a, json_pack("{s:s, s:s}", "name", search_params[i].param,
                                               "type", search_params[i].kind));
    if (json_array_size(a))
        json_object_set_new(res, "searchParam", a);
    else
        json_decref(a);
}

static int has_op(const json_t *ops, const char *name)
{
    const json_t *o;
    size_t i;

    json_array_foreach(ops, i, o) {
        if (!strcmp(json_string_value(json_object_get(o, "name")), name))
            return 1;
    }
    return 0;
}

/* The route of operation `name` on `type` this server defines itself (not
 * FHIR's everything, export and validate), or NULL. */
static const dpc_route *own_operation(const dpc_dialect *d, const char *type, const char *name)
{
    const dpc_route *rt;
    size_t n = strlen(type);

    if (!strcmp(name, "everything") || !strcmp(name, "export") || !strcmp(name, "validate"))
        return NULL;
    for (rt = d->routes; rt->pattern; rt++) {
        const char *op = strchr(rt->pattern, '$');

        if (op && !strcmp(op + 1, name) && !strncmp(rt->pattern, type, n)
            && rt->pattern[n] == '/')
            return rt;
    }
    return NULL;
}

json_t *dpc_meta_operation(const dpc_dialect *d, const char *base_url, const char *id)
{
    const char *dash = id ? strchr(id, '-') : NULL;
    char type[32], url[512];
    const dpc_route *rt;
    int instance, i;

    if (!dash || (size_t)(dash - id) >= sizeof(type))
        return NULL;
    memcpy(type, id, (size_t)(dash - id));
    type[dash - id] = '\0';
    for (i = 0; fhir_types[i] && strcmp(fhir_types[i], type); i++)
        ;
    if (!fhir_types[i] || !(rt = own_operation(d, type, dash + 1)))
        return NULL;
    instance = strchr(rt->pattern, '*') != NULL;
    apr_snprintf(url, sizeof(url), "%s/OperationDefinition/%s", base_url, id);
    /* in: the resource the operation takes (a Group's members, or a Bundle
     * of resources to register); out: what it answers with */
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:b, s:b, s:b, "
                     "s:[{s:s, s:s, s:i, s:s, s:s}, {s:s, s:s, s:i, s:s, s:s}]}",
                     "resourceType", "OperationDefinition", "id", id,
                     "url", url,
                     "name", dash + 1, "status", "active", "kind", "operation",
                     "code", dash + 1, "resource", type, "system", 0, "type", !instance,
                     "instance", instance, "parameter",
                     "name", "resource", "use", "in", "min", 1, "max", "1",
                     "type", instance ? type : "Bundle",
                     "name", "return", "use", "out", "min", 1, "max", "1",
                     "type", instance ? type : "Bundle");
}

/* The profile a resource type's writes are checked against, if any. */
static void add_profile(const dpc_dialect *d, const char *base_url, json_t *res, const char *t)
{
    char url[512];
    size_t i;

    for (i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
        if (strcmp(profiles[i].type, t))
            continue;
        apr_snprintf(url, sizeof(url), "%s/StructureDefinition/%s", base_url, profiles[i].id);
        /* R4: a canonical; STU3: a Reference */
        json_object_set_new(res, "profile", is_r4(d) ? json_string(url)
                            : json_pack("{s:s}", "reference", url));
    }
}

static json_t *resources(const dpc_dialect *d, const char *base_url)
{
    json_t *out = json_array();
    const dpc_route *rt;
    int i;

    for (i = 0; fhir_types[i]; i++) {
        json_t *inter = json_array(), *ops = json_array(), *res;
        const char *t = fhir_types[i];

        for (rt = d->routes; rt->pattern; rt++) {
            const char *what = interaction_of(rt, t), *op;

            if (what)
                json_array_append_new(inter, json_pack("{s:s}", "code", what));
            else if (!strncmp(rt->pattern, t, strlen(t)) && rt->pattern[strlen(t)] == '/'
                     && (op = strchr(rt->pattern, '$')) != NULL
                     && !has_op(ops, op + 1))       /* GET and POST: one operation */
                json_array_append_new(ops, json_pack("{s:s, s:o}", "name", op + 1,
                                                     "definition", op_definition(d,
                                                     base_url, t, op + 1)));
        }
        if (!json_array_size(inter) && !json_array_size(ops)) {
            json_decref(inter);
            json_decref(ops);
            continue;
        }
        res = json_pack("{s:s, s:o}", "type", t, "interaction", inter);
        add_profile(d, base_url, res, t);
        add_search_params(res, t);
        if (json_array_size(ops))
            json_object_set_new(res, "operation", ops);
        else
            json_decref(ops);
        json_array_append_new(out, res);
    }
    return out;
}

/* The system-level operations (routes "$name"), once each, or NULL. */
static json_t *system_operations(const dpc_dialect *d, const char *base_url)
{
    json_t *ops = json_array();
    const dpc_route *rt;

    for (rt = d->routes; rt->pattern; rt++)
        if (rt->pattern[0] == '$' && !has_op(ops, rt->pattern + 1))
            json_array_append_new(ops, json_pack("{s:s, s:o}", "name", rt->pattern + 1,
                                                 "definition", op_definition(d, base_url, NULL,
                                                                             rt->pattern + 1)));
    if (json_array_size(ops))
        return ops;
    json_decref(ops);
    return NULL;
}

json_t *dpc_meta_capability(const dpc_dialect *d, const char *base_url, const char *version,
                            apr_time_t now)
{
    apr_pool_t *p;
    json_t *cs, *rest, *ops;
    char date[APR_RFC822_DATE_LEN];
    apr_time_exp_t tm;

    apr_pool_create(&p, NULL);
    apr_time_exp_gmt(&tm, now);
    apr_snprintf(date, sizeof(date), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday);
    rest = json_pack("{s:s, s:o, s:o}", "mode", "server", "security",
                     security(d, dpc_meta_token_url(p, d, base_url)),
                     "resource", resources(d, base_url));
    if ((ops = system_operations(d, base_url)) != NULL)
        json_object_set_new(rest, "operation", ops);
    cs = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], "
                   "s:{s:s, s:s}, s:{s:s, s:s}, s:s, s:[s, s], s:[o]}",
                   "resourceType", "CapabilityStatement",
                   "id", d->capability_id,
                   "name", d->capability_name,
                   "title", d->capability_title,
                   "status", "active",
                   "date", date,
                   "publisher", "mod_dpc",
                   "kind", "instance",
                   "instantiates", BULK_CAPABILITY,
                   "software", "name", d->software_name, "version", version,
                   "implementation", "description", "Medicare claims data through "
                   "FHIR Bulk Data", "url", base_url,
                   "fhirVersion", d->fhir_release,
                   "format", "application/fhir+json", "application/json",
                   "rest", rest);
    json_object_set_new(cs, "version", json_string(version));  /* as the v1 guide's */
    if (!is_r4(d))
        json_object_set_new(cs, "acceptUnknown", json_string("extensions"));
    apr_pool_destroy(p);
    return cs;
}

json_t *dpc_meta_smart_config(const dpc_dialect *d, const char *base_url)
{
    apr_pool_t *p;
    json_t *sc;

    apr_pool_create(&p, NULL);
    sc = json_pack("{s:s, s:[s], s:[s], s:[s, s], s:[s, s, s, s, s, s, s, s, s], "
                   "s:[s, s, s], s:[s]}",
                   "token_endpoint", dpc_meta_token_url(p, d, base_url),
                   "grant_types_supported", "client_credentials",
                   "token_endpoint_auth_methods_supported", "private_key_jwt",
                   "token_endpoint_auth_signing_alg_values_supported", "RS384", "ES384",
                   "scopes_supported", "system/*.*", "system/*.read", "system/*.rs",
                   "system/Patient.read", "system/Patient.rs",
                   "system/Coverage.read", "system/Coverage.rs",
                   "system/ExplanationOfBenefit.read", "system/ExplanationOfBenefit.rs",
                   "capabilities", "client-confidential-asymmetric", "permission-v1",
                   "permission-v2",
                   "code_challenge_methods_supported", "S256");
    apr_pool_destroy(p);
    return sc;
}

/* ---- OpenAPI ------------------------------------------------------------------ */

static const char *method_name(int m)
{
    return m == DPC_M_GET ? "get" : m == DPC_M_POST ? "post" : m == DPC_M_PUT ? "put"
         : m == DPC_M_DELETE ? "delete" : NULL;
}

/* "Group/{star}/$export" -> "/Group/{id}/$export" */
static const char *openapi_path(apr_pool_t *p, const char *pattern)
{
    const char *out = "", *seg = pattern, *end;

    do {
        end = strchr(seg, '/');
        if ((end ? (size_t)(end - seg) : strlen(seg)) == 1 && *seg == '*')
            out = apr_pstrcat(p, out, "/{id}", NULL);
        else
            out = apr_pstrcat(p, out, "/", end ? apr_pstrmemdup(p, seg, (apr_size_t)(end - seg))
                              : seg, NULL);
        seg = end ? end + 1 : NULL;
    } while (seg);
    return out;
}

static json_t *openapi_operation(const dpc_route *rt, const char *path, const char *method)
{
    json_t *op = json_pack("{s:o, s:{s:{s:s}}}", "summary",
                           json_sprintf("%s %s", method, path),
                           "responses", "default", "description",
                           "the result, or an OperationOutcome (OAuth error JSON at the "
                           "token endpoint) saying what is wrong");

    if (strchr(rt->pattern, '*'))
        json_object_set_new(op, "parameters", json_pack("[{s:s, s:s, s:b, s:{s:s}}]",
                            "name", "id", "in", "path", "required", 1, "schema",
                            "type", "string"));
    json_object_set_new(op, "security", rt->flags & DPC_ROUTE_PUBLIC ? json_array()
                        : json_pack("[{s:[]}]", "bearer"));
    return op;
}

json_t *dpc_meta_openapi(const dpc_dialect *d, const char *base_url, const char *version)
{
    apr_pool_t *p;
    json_t *paths = json_object(), *item;
    const dpc_route *rt;

    apr_pool_create(&p, NULL);
    for (rt = d->routes; rt->pattern; rt++) {
        const char *path = openapi_path(p, rt->pattern[0] == '/' ? rt->pattern + 1
                                        : rt->pattern), *m = method_name(rt->method);

        if (!m)
            continue;
        if (!(item = json_object_get(paths, path))) {
            item = json_object();
            json_object_set_new(paths, path, item);
        }
        json_object_set_new(item, m, openapi_operation(rt, path, apr_pstrdup(p, m)));
    }
    apr_pool_destroy(p);
    return json_pack("{s:s, s:{s:s, s:s}, s:[{s:s}], s:o, s:{s:{s:{s:s, s:s}}}}",
                     "openapi", "3.0.3", "info", "title", d->capability_title,
                     "version", version, "servers", "url", base_url, "paths", paths,
                     "components", "securitySchemes", "bearer", "type", "http",
                     "scheme", "bearer");
}
