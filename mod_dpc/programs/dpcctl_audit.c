/* dpcctl_audit.c: see dpcctl_audit.h.  Rows are streamed (libpq single-row
 * mode), so a query over years of the trail holds one row in memory. */
#include "dpcctl_audit.h"
#include "dpcctl_out.h"

#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "dpc_fhir.h"
#include "dpc_token.h"

#define AUDIT_QUERY                                                             \
    "SELECT json_build_object('id', id, 'at', to_char(at AT TIME ZONE 'UTC',"   \
    " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'action', action, 'org', org_id,"  \
    " 'actor', actor, 'address', address, 'job', job_id, 'detail', detail)::text" \
    " FROM audit_event WHERE ($1::uuid IS NULL OR org_id = $1::uuid)"           \
    " AND ($2::uuid IS NULL OR job_id = $2::uuid) AND ($3::text IS NULL OR action = $3)" \
    " AND ($4::timestamptz IS NULL OR at >= $4::timestamptz)"                   \
    " AND ($5::timestamptz IS NULL OR at < $5::timestamptz)"                    \
    " ORDER BY id LIMIT $6::bigint"

enum { ARG_ORG, ARG_JOB, ARG_ACTION, ARG_SINCE, ARG_UNTIL, ARG_LIMIT, ARG_N };

/* Read the options into params; DPCCTL_OK or a usage failure reported. */
static int read_args(apr_pool_t *p, int argc, char **argv, const char **params)
{
    apr_time_t t;
    const char *why;
    int i;

    memset(params, 0, sizeof(*params) * ARG_N);
    params[ARG_LIMIT] = "9223372036854775807";
    for (i = 1; i < argc; i += 2) {
        const char *name = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!v)
            return dpcctl_fail(DPCCTL_USAGE, "audit: %s needs a value", name);
        if (!strcmp(name, "--org") || !strcmp(name, "--job")) {
            if (!dpc_uuid_is_valid(v))
                return dpcctl_fail(DPCCTL_USAGE, "audit: %s %s is not an id (a UUID)", name, v);
            params[name[2] == 'o' ? ARG_ORG : ARG_JOB] = v;
        }
        else if (!strcmp(name, "--action"))
            params[ARG_ACTION] = v;
        else if (!strcmp(name, "--since") || !strcmp(name, "--until")) {
            if (dpc_instant_parse(v, &t, &why))
                return dpcctl_fail(DPCCTL_USAGE, "audit: %s %s: %s (e.g. 2026-01-31T00:00:00Z)",
                                   name, v, why);
            params[name[2] == 's' ? ARG_SINCE : ARG_UNTIL] = v;
        }
        else if (!strcmp(name, "--limit")) {
            char *end;
            apr_int64_t n = apr_strtoi64(v, &end, 10);

            if (*end || n < 1)
                return dpcctl_fail(DPCCTL_USAGE, "audit: --limit takes a positive number");
            params[ARG_LIMIT] = apr_psprintf(p, "%" APR_INT64_T_FMT, n);
        }
        else
            return dpcctl_fail(DPCCTL_USAGE, "audit [--org ID] [--job ID] [--action A] "
                               "[--since INSTANT] [--until INSTANT] [--limit N]");
    }
    return DPCCTL_OK;
}

int dpcctl_audit(apr_pool_t *p, PGconn *conn, int argc, char **argv)
{
    const char *params[ARG_N];
    PGresult *res;
    int rc = read_args(p, argc, argv, params), failed = 0;

    if (rc != DPCCTL_OK)
        return rc;
    if (!PQsendQueryParams(conn, AUDIT_QUERY, ARG_N, NULL, params, NULL, NULL, 0)
        || !PQsetSingleRowMode(conn))
        return dpcctl_fail(DPCCTL_FAIL, "audit: %s", PQerrorMessage(conn));
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) == PGRES_SINGLE_TUPLE)
            printf("%s\n", PQgetvalue(res, 0, 0));
        else if (PQresultStatus(res) != PGRES_TUPLES_OK && !failed) {
            failed = 1;
            dpcctl_fail(DPCCTL_FAIL, "audit: %s", PQresultErrorMessage(res));
        }
        PQclear(res);
    }
    return failed || fflush(stdout) ? DPCCTL_FAIL : DPCCTL_OK;
}
