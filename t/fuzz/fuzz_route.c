/* fuzz_route: the route matcher every request goes through.
 *
 *   dpc_route_find   the path, for every dialect and method (and through
 *                    dpc_route_find_at, as a host path with and without
 *                    the same path below a base): a match
 *                    names a route of the right method with non-empty
 *                    params that hold no '/'; a 405 says which methods the
 *                    path allows, and those methods then match
 *   dpc_route_allow  the Allow header of a 405
 */
#include "fuzz.h"

#include "dpc_route.h"

static const int methods[] = {
    DPC_M_GET, DPC_M_POST, DPC_M_PUT, DPC_M_DELETE, DPC_M_HEAD
};

static void one(apr_pool_t *p, const dpc_dialect *d, const char *uri, const char *path,
                int method)
{
    dpc_route_match m;
    dpc_route_result r = dpc_route_find_at(p, d, uri, path, method, &m);
    int i;

    if (r == DPC_ROUTE_FOUND) {
        FUZZ_CHECK(m.route && m.nparams >= 0 && m.nparams <= DPC_ROUTE_MAX_PARAMS);
        FUZZ_CHECK(m.route->method == method
                   || (method == DPC_M_HEAD && m.route->method == DPC_M_GET));
        for (i = 0; i < m.nparams; i++)
            FUZZ_CHECK(*m.params[i] && !strchr(m.params[i], '/'));
    }
    else if (r == DPC_ROUTE_BAD_METHOD) {
        FUZZ_CHECK(m.allowed != 0 && !(m.allowed & method));
        FUZZ_CHECK(*dpc_route_allow(p, m.allowed));
        for (i = 0; i < (int)(sizeof(methods) / sizeof(*methods)); i++)
            if (m.allowed & methods[i]) {
                dpc_route_match again;

                FUZZ_CHECK(dpc_route_find_at(p, d, uri, path, methods[i], &again)
                           == DPC_ROUTE_FOUND);
            }
    }
    else
        FUZZ_CHECK(r == DPC_ROUTE_NOT_FOUND);
}

/* A dialect with host paths of its own beside its base (none of the
 * shipped ones has yet): a token endpoint and a pattern below it. */
static const dpc_route beside_routes[] = {
    { "/auth/token", DPC_M_POST, DPC_OP_TOKEN_AUTH, DPC_ROUTE_PUBLIC },
    { "/auth/*/x", DPC_M_GET, DPC_OP_METADATA, DPC_ROUTE_PUBLIC },
    { "Jobs/*", DPC_M_GET, DPC_OP_JOB_STATUS, 0 },
    { NULL, 0, 0, 0 }
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dpc_dialect beside = dpc_dialect_dpc_v1;
    apr_pool_t *p = fuzz_pool();
    const char *path = fuzz_text(p, data, size);
    int i, j;

    for (j = 0; dpc_dialects[j]; j++)
        for (i = 0; i < (int)(sizeof(methods) / sizeof(*methods)); i++) {
            one(p, dpc_dialects[j], NULL, path, methods[i]);
            one(p, dpc_dialects[j], path, NULL, methods[i]);
            one(p, dpc_dialects[j], path, path, methods[i]);
        }
    beside.routes = beside_routes;
    beside.token_path = "/auth/token";
    for (i = 0; i < (int)(sizeof(methods) / sizeof(*methods)); i++) {
        one(p, &beside, path, NULL, methods[i]);
        one(p, &beside, path, path, methods[i]);
    }
    (void)dpc_route_allow(p, size ? data[0] : 0);
    fuzz_end(p);
    return 0;
}
