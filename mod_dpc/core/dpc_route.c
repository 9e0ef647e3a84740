/* dpc_route.c: see dpc_route.h. */
#include "dpc_route.h"

#include <string.h>

#include <apr_strings.h>

/* DPC v2 (R4) and v1 (STU3) share paths; the FHIR version is the dialect's. */
const dpc_route dpc_routes_dpc[] = {
    { "metadata", DPC_M_GET, DPC_OP_METADATA, DPC_ROUTE_PUBLIC },
    { ".well-known/smart-configuration", DPC_M_GET, DPC_OP_SMART_CONFIG,
      DPC_ROUTE_PUBLIC },
    { "Token/auth", DPC_M_POST, DPC_OP_TOKEN_AUTH, DPC_ROUTE_PUBLIC },
    { "Token/validate", DPC_M_POST, DPC_OP_TOKEN_VALIDATE, DPC_ROUTE_PUBLIC },
    { "Token", DPC_M_GET, DPC_OP_TOKEN_LIST, 0 },
    { "Token", DPC_M_POST, DPC_OP_TOKEN_CREATE, DPC_ROUTE_WRITE },
    { "Token/*", DPC_M_GET, DPC_OP_TOKEN_READ, 0 },
    { "Token/*", DPC_M_DELETE, DPC_OP_TOKEN_DELETE, DPC_ROUTE_WRITE },
    { "Key", DPC_M_GET, DPC_OP_KEY_LIST, 0 },
    { "Key", DPC_M_POST, DPC_OP_KEY_CREATE, DPC_ROUTE_WRITE },
    { "Key/*", DPC_M_GET, DPC_OP_KEY_READ, 0 },
    { "Key/*", DPC_M_DELETE, DPC_OP_KEY_DELETE, DPC_ROUTE_WRITE },
    { "Organization", DPC_M_GET, DPC_OP_ORG_SEARCH, 0 },
    { "Organization/*", DPC_M_GET, DPC_OP_ORG_READ, 0 },
    { "Practitioner", DPC_M_POST, DPC_OP_PRAC_CREATE, DPC_ROUTE_WRITE },
    { "Practitioner", DPC_M_GET, DPC_OP_PRAC_SEARCH, 0 },
    { "Practitioner/*", DPC_M_GET, DPC_OP_PRAC_READ, 0 },
    { "Practitioner/*", DPC_M_PUT, DPC_OP_PRAC_UPDATE, DPC_ROUTE_WRITE },
    { "Practitioner/*", DPC_M_DELETE, DPC_OP_PRAC_DELETE, DPC_ROUTE_WRITE },
    { "Practitioner/$submit", DPC_M_POST, DPC_OP_PRAC_SUBMIT, DPC_ROUTE_WRITE },
    { "Practitioner/$validate", DPC_M_POST, DPC_OP_PRAC_VALIDATE, 0 },
    { "Patient", DPC_M_POST, DPC_OP_PAT_CREATE, DPC_ROUTE_WRITE },
    { "Patient", DPC_M_GET, DPC_OP_PAT_SEARCH, 0 },
    { "Patient/*", DPC_M_GET, DPC_OP_PAT_READ, 0 },
    { "Patient/*", DPC_M_PUT, DPC_OP_PAT_UPDATE, DPC_ROUTE_WRITE },
    { "Patient/*", DPC_M_DELETE, DPC_OP_PAT_DELETE, DPC_ROUTE_WRITE },
    { "Patient/$submit", DPC_M_POST, DPC_OP_PAT_SUBMIT, DPC_ROUTE_WRITE },
    { "Patient/$validate", DPC_M_POST, DPC_OP_PAT_VALIDATE, 0 },
    { "Patient/*/$everything", DPC_M_GET, DPC_OP_PAT_EVERYTHING, 0 },
    { "Group", DPC_M_POST, DPC_OP_GROUP_CREATE, DPC_ROUTE_WRITE },
    { "Group", DPC_M_GET, DPC_OP_GROUP_SEARCH, 0 },
    { "Group/*", DPC_M_GET, DPC_OP_GROUP_READ, 0 },
    { "Group/*", DPC_M_PUT, DPC_OP_GROUP_REPLACE, DPC_ROUTE_WRITE },
    { "Group/*", DPC_M_DELETE, DPC_OP_GROUP_DELETE, DPC_ROUTE_WRITE },
    { "Group/*/$add", DPC_M_POST, DPC_OP_GROUP_ADD, DPC_ROUTE_WRITE },
    { "Group/*/$remove", DPC_M_POST, DPC_OP_GROUP_REMOVE, DPC_ROUTE_WRITE },
    { "Group/*/$export", DPC_M_GET, DPC_OP_EXPORT, 0 },
    { "Group/*/$export", DPC_M_POST, DPC_OP_EXPORT, 0 },
    { "Patient/$export", DPC_M_GET, DPC_OP_EXPORT_PATIENTS, 0 },
    { "Patient/$export", DPC_M_POST, DPC_OP_EXPORT_PATIENTS, 0 },
    { "$export", DPC_M_GET, DPC_OP_EXPORT_SYSTEM, 0 },
    { "$export", DPC_M_POST, DPC_OP_EXPORT_SYSTEM, 0 },
    { "Jobs/*", DPC_M_GET, DPC_OP_JOB_STATUS, 0 },
    { "Jobs/*", DPC_M_DELETE, DPC_OP_JOB_CANCEL, 0 },
    { "OperationDefinition/*", DPC_M_GET, DPC_OP_OPERATION_DEF, DPC_ROUTE_PUBLIC },
    { "StructureDefinition/*", DPC_M_GET, DPC_OP_PROFILE, DPC_ROUTE_PUBLIC },
    { "_version", DPC_M_GET, DPC_OP_VERSION, DPC_ROUTE_PUBLIC },
    { "_health", DPC_M_GET, DPC_OP_HEALTH, DPC_ROUTE_PUBLIC },
    { "swagger", DPC_M_GET, DPC_OP_OPENAPI_PAGE, DPC_ROUTE_PUBLIC },
    { "swagger.json", DPC_M_GET, DPC_OP_OPENAPI, DPC_ROUTE_PUBLIC },
    { NULL, 0, 0, 0 }
};

const dpc_route dpc_routes_none[] = { { NULL, 0, 0, 0 } };

/* BCDA: /auth/token, /_version, /_health and /_auth are host paths (beside
 * /api/vN, as the real server has them), and below the base too; the
 * download path /data/{job}/{file} is served by httpd (mod_dpc_export.c). */
#define DPC_ROUTES_BCDA_SHARED                                                   \
    { "/auth/token", DPC_M_POST, DPC_OP_TOKEN_AUTH, DPC_ROUTE_PUBLIC },          \
    { "/_version", DPC_M_GET, DPC_OP_BCDA_VERSION, DPC_ROUTE_PUBLIC },           \
    { "/_health", DPC_M_GET, DPC_OP_BCDA_HEALTH, DPC_ROUTE_PUBLIC },             \
    { "/_auth", DPC_M_GET, DPC_OP_BCDA_AUTH_INFO, DPC_ROUTE_PUBLIC },            \
    { "_version", DPC_M_GET, DPC_OP_BCDA_VERSION, DPC_ROUTE_PUBLIC },            \
    { "_health", DPC_M_GET, DPC_OP_BCDA_HEALTH, DPC_ROUTE_PUBLIC },              \
    { "_auth", DPC_M_GET, DPC_OP_BCDA_AUTH_INFO, DPC_ROUTE_PUBLIC },             \
    { "metadata", DPC_M_GET, DPC_OP_METADATA, DPC_ROUTE_PUBLIC },                \
    { "Patient/$export", DPC_M_GET, DPC_OP_BCDA_EXPORT_TYPE, 0 },                \
    { "Group/*/$export", DPC_M_GET, DPC_OP_BCDA_EXPORT_GROUP, 0 },               \
    { "jobs", DPC_M_GET, DPC_OP_BCDA_JOB_LIST, 0 },                              \
    { "jobs/*", DPC_M_GET, DPC_OP_JOB_STATUS, 0 },                               \
    { "jobs/*", DPC_M_DELETE, DPC_OP_BCDA_JOB_CANCEL, 0 },                       \
    { "attribution_status", DPC_M_GET, DPC_OP_BCDA_ATTRIBUTION_STATUS, 0 }

const dpc_route dpc_routes_bcda_v2[] = {
    DPC_ROUTES_BCDA_SHARED,
    { NULL, 0, 0, 0 }
};

/* v1 also has the per-type kick-offs of the 2018-2019 guides. */
const dpc_route dpc_routes_bcda_v1[] = {
    DPC_ROUTES_BCDA_SHARED,
    { "ExplanationOfBenefit/$export", DPC_M_GET, DPC_OP_BCDA_EXPORT_TYPE, 0 },
    { "Coverage/$export", DPC_M_GET, DPC_OP_BCDA_EXPORT_TYPE, 0 },
    { NULL, 0, 0, 0 }
};

/* AB2D v1 and v2: the guide's token endpoint, /health and /status are host
 * paths; downloads at Job/{id}/file/{name} are served by httpd
 * (mod_dpc_export.c). */
const dpc_route dpc_routes_ab2d[] = {
    { "/oauth2/aus2r7y3gdaFMKBol297/v1/token", DPC_M_POST, DPC_OP_TOKEN_AUTH,
      DPC_ROUTE_PUBLIC },
    { "/health", DPC_M_GET, DPC_OP_AB2D_HEALTH, DPC_ROUTE_PUBLIC },
    { "/status", DPC_M_GET, DPC_OP_AB2D_STATUS, DPC_ROUTE_PUBLIC },
    { "metadata", DPC_M_GET, DPC_OP_METADATA, DPC_ROUTE_PUBLIC },
    { "Patient/$export", DPC_M_GET, DPC_OP_AB2D_EXPORT, 0 },
    { "Group/*/$export", DPC_M_GET, DPC_OP_AB2D_EXPORT, 0 },
    { "Job/*/$status", DPC_M_GET, DPC_OP_JOB_STATUS, 0 },
    { "Job/*/$status", DPC_M_DELETE, DPC_OP_AB2D_JOB_CANCEL, 0 },
    { NULL, 0, 0, 0 }
};

/* Does `path` (no leading '/') fit `pattern`?  Fills params on success. */
static int match_one(apr_pool_t *p, const char *pattern, const char *path,
                     dpc_route_match *m)
{
    const char *pp = pattern, *sp = path;

    m->nparams = 0;
    for (;;) {
        const char *pe = strchr(pp, '/'), *se = strchr(sp, '/');
        size_t pl = pe ? (size_t)(pe - pp) : strlen(pp);
        size_t sl = se ? (size_t)(se - sp) : strlen(sp);

        if (sl == 0)
            return 0;                           /* empty segment: "a//b" */
        if (pl == 1 && *pp == '*') {
            if (m->nparams == DPC_ROUTE_MAX_PARAMS)
                return 0;
            m->params[m->nparams++] = apr_pstrmemdup(p, sp, sl);
        }
        else if (pl != sl || memcmp(pp, sp, pl))
            return 0;
        if (!pe || !se)
            return !pe && !se;
        pp = pe + 1;
        sp = se + 1;
    }
}

static const char *skip_slashes(const char *s)
{
    while (s && *s == '/')
        s++;
    return s;
}

/* Match among literal patterns (wild == 0) or wildcard ones (wild == 1):
 * a pattern starting with '/' against uri, the others against rel (either
 * may be NULL: nothing to match). */
static void find_pass(apr_pool_t *p, const dpc_route *r, const char *uri, const char *rel,
                      int method, int wild, dpc_route_match *m)
{
    dpc_route_match tmp;
    const char *path;

    for (; r->pattern; r++) {
        if ((strchr(r->pattern, '*') != NULL) != wild)
            continue;
        path = r->pattern[0] == '/' ? uri : rel;
        if (!path || !match_one(p, skip_slashes(r->pattern), path, &tmp))
            continue;
        m->allowed |= r->method;
        if (r->method == method && !m->route) {
            memcpy(m->params, tmp.params, sizeof(m->params));
            m->nparams = tmp.nparams;
            m->route = r;
        }
    }
}

dpc_route_result dpc_route_find_at(apr_pool_t *p, const dpc_dialect *d, const char *uri,
                                   const char *rel, int method, dpc_route_match *m)
{
    memset(m, 0, sizeof(*m));
    uri = skip_slashes(uri);
    rel = skip_slashes(rel);
    if (method == DPC_M_HEAD)
        method = DPC_M_GET;
    find_pass(p, d->routes, uri, rel, method, 0, m);
    if (!m->allowed)
        find_pass(p, d->routes, uri, rel, method, 1, m);
    if (m->route)
        return DPC_ROUTE_FOUND;
    return m->allowed ? DPC_ROUTE_BAD_METHOD : DPC_ROUTE_NOT_FOUND;
}

dpc_route_result dpc_route_find(apr_pool_t *p, const dpc_dialect *d, const char *path,
                                int method, dpc_route_match *m)
{
    return dpc_route_find_at(p, d, NULL, path, method, m);
}

const char *dpc_route_allow(apr_pool_t *p, int methods)
{
    static const struct {
        int bit;
        const char *name;
    } names[] = {
        { DPC_M_GET, "GET, HEAD" }, { DPC_M_POST, "POST" },
        { DPC_M_PUT, "PUT" }, { DPC_M_DELETE, "DELETE" },
    };
    const char *out = NULL;
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (methods & names[i].bit)
            out = out ? apr_pstrcat(p, out, ", ", names[i].name, NULL) : names[i].name;
    return out ? out : "";
}
