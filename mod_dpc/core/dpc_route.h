/* dpc_route.h: the route tables of the dialects, matched on the path below
 * a <Location>'s base.  Patterns are '/'-separated segments where "*" binds
 * one non-empty segment, e.g. "Group/ * /$export" (without spaces).  A
 * pattern that starts with '/' is a path of its own on the host, matched
 * against the whole request path: a token endpoint beside the API's base,
 * as BCDA's /auth/token is beside /api/v1 (a <Location> covering it, with
 * the same DPCAPI, hands it to mod_dpc). */
#ifndef DPC_ROUTE_H
#define DPC_ROUTE_H

#include <apr_pools.h>
#include "dpc_dialect.h"

#define DPC_M_GET    0x01
#define DPC_M_POST   0x02
#define DPC_M_PUT    0x04
#define DPC_M_DELETE 0x08
#define DPC_M_HEAD   0x10   /* implied by GET */

/* The operations routes name; the glue's router holds, for each, the
 * function that handles it. */
typedef enum {
    DPC_OP_METADATA = 1,
    DPC_OP_SMART_CONFIG,
    DPC_OP_TOKEN_AUTH,
    DPC_OP_TOKEN_VALIDATE,
    DPC_OP_TOKEN_LIST,
    DPC_OP_TOKEN_CREATE,
    DPC_OP_TOKEN_READ,
    DPC_OP_TOKEN_DELETE,
    DPC_OP_KEY_LIST,
    DPC_OP_KEY_CREATE,
    DPC_OP_KEY_READ,
    DPC_OP_KEY_DELETE,
    DPC_OP_ORG_SEARCH,
    DPC_OP_ORG_READ,
    DPC_OP_PRAC_CREATE,
    DPC_OP_PRAC_READ,
    DPC_OP_PRAC_SEARCH,
    DPC_OP_PRAC_UPDATE,
    DPC_OP_PRAC_DELETE,
    DPC_OP_PRAC_SUBMIT,
    DPC_OP_PRAC_VALIDATE,
    DPC_OP_PAT_CREATE,
    DPC_OP_PAT_READ,
    DPC_OP_PAT_SEARCH,
    DPC_OP_PAT_UPDATE,
    DPC_OP_PAT_DELETE,
    DPC_OP_PAT_SUBMIT,
    DPC_OP_PAT_VALIDATE,
    DPC_OP_GROUP_CREATE,
    DPC_OP_GROUP_READ,
    DPC_OP_GROUP_SEARCH,
    DPC_OP_GROUP_REPLACE,
    DPC_OP_GROUP_DELETE,
    DPC_OP_GROUP_ADD,
    DPC_OP_GROUP_REMOVE,
    DPC_OP_PAT_EVERYTHING,
    DPC_OP_EXPORT,
    DPC_OP_EXPORT_PATIENTS,     /* Patient/$export: every member of the org */
    DPC_OP_EXPORT_SYSTEM,       /* $export: the same, system-level */
    DPC_OP_JOB_STATUS,
    DPC_OP_JOB_CANCEL,
    /* BCDA */
    DPC_OP_BCDA_VERSION,
    DPC_OP_BCDA_HEALTH,
    DPC_OP_BCDA_AUTH_INFO,
    DPC_OP_BCDA_EXPORT_TYPE,    /* {Type}/$export: the route's literal type */
    DPC_OP_BCDA_EXPORT_GROUP,   /* Group/{all|runout}/$export */
    DPC_OP_BCDA_JOB_LIST,
    DPC_OP_BCDA_JOB_CANCEL,
    DPC_OP_BCDA_ATTRIBUTION_STATUS,
    DPC_OP_OPERATION_DEF,       /* OperationDefinition/{Type}-{name} */
    DPC_OP_VERSION,             /* _version */
    DPC_OP_HEALTH,              /* _health */
    DPC_OP_OPENAPI,             /* swagger.json: OpenAPI of the routes */
    DPC_OP_OPENAPI_PAGE,        /* swagger: the same for people */
    DPC_OP_PROFILE,             /* StructureDefinition/{id} */
    /* AB2D */
    DPC_OP_AB2D_HEALTH,         /* /health */
    DPC_OP_AB2D_STATUS,         /* /status: maintenance mode */
    DPC_OP_AB2D_EXPORT,         /* Patient/$export, Group/{contract}/$export */
    DPC_OP_AB2D_JOB_CANCEL      /* DELETE Job/{id}/$status */
} dpc_op_t;

#define DPC_ROUTE_PUBLIC 0x01   /* no bearer token required */
#define DPC_ROUTE_WRITE  0x02   /* changes state: needs a scope that writes */

/* One method of one path.  A path made only of literal segments wins over
 * patterns with "*" ("Token/auth" is not the token with id "auth"). */
typedef struct dpc_route {
    const char *pattern;
    int method;                 /* one DPC_M_* bit */
    dpc_op_t op;
    int flags;
} dpc_route;

#define DPC_ROUTE_MAX_PARAMS 3

typedef struct dpc_route_match {
    const dpc_route *route;            /* NULL when nothing matched */
    const char *params[DPC_ROUTE_MAX_PARAMS];
    int nparams;
    int allowed;                       /* methods the path allows (for 405) */
} dpc_route_match;

typedef enum {
    DPC_ROUTE_FOUND = 0,
    DPC_ROUTE_NOT_FOUND,               /* 404 */
    DPC_ROUTE_BAD_METHOD               /* 405, with match->allowed */
} dpc_route_result;

/* The route tables the dialects use (dpc_dialect.c), each ended by a NULL
 * pattern. */
extern const dpc_route dpc_routes_dpc[];
extern const dpc_route dpc_routes_none[];
extern const dpc_route dpc_routes_bcda_v2[];
extern const dpc_route dpc_routes_bcda_v1[];
extern const dpc_route dpc_routes_ab2d[];

/* Match a request: `uri` is its whole path (for the patterns starting with
 * '/'), `rel` the path below the <Location>'s base (for the others; NULL
 * when the request is not below it), both with or without a leading '/'
 * and already URL-decoded by httpd, and the method bit.  A literal pattern
 * wins over one with "*", wherever it matched.  Params are copied into p. */
dpc_route_result dpc_route_find_at(apr_pool_t *p, const dpc_dialect *d, const char *uri,
                                   const char *rel, int method, dpc_route_match *m);

/* The same for a path below the base only (no host path). */
dpc_route_result dpc_route_find(apr_pool_t *p, const dpc_dialect *d, const char *path,
                                int method, dpc_route_match *m);

/* "GET, HEAD, POST" for an Allow header. */
const char *dpc_route_allow(apr_pool_t *p, int methods);

#endif
