/* dpcctl_ab2d.c: see dpcctl_ab2d.h. */
#include "dpcctl_ab2d.h"
#include "dpcctl_out.h"

#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <apr_tables.h>

#include "dpc_fhir.h"
#include "dpc_mbi.h"
#include "dpc_pg.h"

/* ---- sponsor ---- */

/* A sponsor is an organization that holds contracts (or none yet: one
 * made here, with no NPI or CMS id). */
#define SPONSOR_JSON "json_build_object('id', o.id, 'name', o.name, 'contracts'," \
    " ARRAY(SELECT number FROM ab2d_contract k WHERE k.org_id = o.id ORDER BY number)," \
    " 'created_at', o.created_at)::text"
#define SPONSOR_WHERE "o.name = $1 AND o.npi IS NULL AND o.cms_id IS NULL"

static int cmd_sponsor(PGconn *c, int argc, char **argv)
{
    const char *params[1];

    if (argc >= 2 && !strcmp(argv[1], "create")
        && (params[0] = dpcctl_opt(argc, argv, 2, "--name")))
        return dpcctl_run_json(c, "WITH o AS (INSERT INTO organization (name)"
                               " SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM organization o"
                               " WHERE " SPONSOR_WHERE ") RETURNING *) SELECT " SPONSOR_JSON
                               " FROM o", 1, params, NULL, NULL);
    if (argc >= 2 && !strcmp(argv[1], "list"))
        return dpcctl_run_json(c, "SELECT " SPONSOR_JSON " FROM organization o WHERE EXISTS"
                               " (SELECT 1 FROM ab2d_contract k WHERE k.org_id = o.id)"
                               " ORDER BY o.name", 0, NULL, "sponsors", NULL);
    if (argc >= 3 && !strcmp(argv[1], "delete")) {
        params[0] = argv[2];
        return dpcctl_run_json(c, "WITH o AS (DELETE FROM organization o WHERE "
                               SPONSOR_WHERE " RETURNING *) SELECT json_build_object('id',"
                               " o.id, 'name', o.name)::text FROM o", 1, params, NULL, NULL);
    }
    return dpcctl_fail(DPCCTL_USAGE, "sponsor create --name NAME | list | delete NAME");
}

/* ---- contract ---- */

#define CONTRACT_JSON "json_build_object('number', k.number, 'sponsor', o.name," \
    " 'attested_at', k.attested_at, 'max_parallel_jobs', k.max_parallel_jobs," \
    " 'enrollees', (SELECT count(DISTINCT mbi) FROM ab2d_enrollment e" \
    " WHERE e.contract = k.number), 'created_at', k.created_at)::text"

static int contract_create(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *params[4], *why;
    apr_time_t t;

    params[0] = dpcctl_opt(argc, argv, 2, "--sponsor");
    params[1] = dpcctl_opt(argc, argv, 2, "--number");
    params[2] = dpcctl_opt(argc, argv, 2, "--attested");
    params[3] = dpcctl_opt(argc, argv, 2, "--max-jobs");
    if (!params[0] || !params[1])
        return dpcctl_fail(DPCCTL_USAGE, "contract create --sponsor NAME --number Z0000"
                           " [--attested INSTANT] [--max-jobs N]");
    if (params[2] && dpc_instant_parse(params[2], &t, &why))
        return dpcctl_fail(DPCCTL_USAGE, "--attested: %s", why);
    params[2] = params[2] ? apr_psprintf(p, "%" APR_TIME_T_FMT, apr_time_sec(t)) : NULL;
    return dpcctl_run_json(c, "WITH k AS (INSERT INTO ab2d_contract (number, org_id,"
                           " attested_at, max_parallel_jobs) SELECT $2, o.id,"
                           " coalesce(to_timestamp($3::bigint), now()), coalesce($4::int, 1)"
                           " FROM organization o WHERE o.name = $1 AND o.npi IS NULL"
                           " AND o.cms_id IS NULL RETURNING *) SELECT " CONTRACT_JSON
                           " FROM k JOIN organization o ON o.id = k.org_id", 4, params,
                           NULL, NULL);
}

static int cmd_contract(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *params[1];

    if (argc >= 2 && !strcmp(argv[1], "create"))
        return contract_create(p, c, argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "list")) {
        params[0] = dpcctl_opt(argc, argv, 2, "--sponsor");
        return dpcctl_run_json(c, "SELECT " CONTRACT_JSON " FROM ab2d_contract k JOIN"
                               " organization o ON o.id = k.org_id WHERE $1::text IS NULL"
                               " OR o.name = $1 ORDER BY k.number", 1, params, "contracts",
                               NULL);
    }
    if (argc >= 3 && !strcmp(argv[1], "delete")) {
        params[0] = argv[2];
        return dpcctl_run_json(c, "WITH k AS (DELETE FROM ab2d_contract WHERE number = $1"
                               " RETURNING *) SELECT json_build_object('number', k.number)"
                               "::text FROM k", 1, params, NULL, NULL);
    }
    return dpcctl_fail(DPCCTL_USAGE, "contract create --sponsor NAME --number Z0000"
                       " [--attested INSTANT] [--max-jobs N] | list [--sponsor NAME]"
                       " | delete NUMBER");
}

/* ---- enrollment ---- */

/* Is s "YYYY-MM" (2000 to 2100)? */
static int month_valid(const char *s)
{
    return strlen(s) == 7 && strspn(s, "0123456789") == 4 && s[4] == '-'
           && strspn(s + 5, "0123456789") == 2 && strncmp(s, "2000", 4) >= 0
           && strncmp(s, "2100", 4) <= 0 && strncmp(s + 5, "01", 2) >= 0
           && strncmp(s + 5, "12", 2) <= 0;
}

/* One "contract,MBI,YYYY-MM" row into the three arrays of ctx
 * (dpcctl_line_fn); a first line starting "contract" is a header. */
static const char *enrollment_row(apr_pool_t *p, char *line, int n, void *ctx)
{
    apr_array_header_t **cols = ctx;
    char *f[3], *state = NULL, mbi[DPC_MBI_LEN + 1];
    const char *why = apr_psprintf(p, "not \"contract,MBI,YYYY-MM\": %s", line);
    int i;

    if (n == 1 && !strncasecmp(line, "contract", 8))
        return NULL;
    for (i = 0; i < 3; i++)
        if (!(f[i] = apr_strtok(i ? NULL : line, ", \t", &state)))
            return why;
    if (apr_strtok(NULL, ", \t", &state) || !month_valid(f[2]) || !dpc_mbi_accept(p, f[1], mbi))
        return why;
    APR_ARRAY_PUSH(cols[0], const char *) = apr_pstrdup(p, f[0]);
    APR_ARRAY_PUSH(cols[1], const char *) = apr_pstrdup(p, mbi);
    APR_ARRAY_PUSH(cols[2], const char *) = apr_pstrcat(p, f[2], "-01", NULL);
    return NULL;
}

/* The rows ($1 contracts, $2 MBIs, $3 months, as arrays), or $5
 * beneficiaries of the claims store from offset $6 enrolled in contract $4
 * every month from $7 to $8; rows already there are kept.  An unknown
 * contract fails the whole load (its foreign key). */
#define SQL_ENROLL                                                                      \
    "WITH x AS (SELECT * FROM unnest($1::text[], $2::text[], $3::date[]) AS u(c, m, d)" \
    "           WHERE $4::text IS NULL"                                                 \
    "           UNION ALL SELECT $4, b.mbi, g::date FROM (SELECT mbi FROM beneficiary"   \
    "            ORDER BY mbi OFFSET $6::int LIMIT $5::int) b,"                          \
    "            generate_series(($7 || '-01')::date, ($8 || '-01')::date,"             \
    "                            interval '1 month') g WHERE $4::text IS NOT NULL),"     \
    " i AS (INSERT INTO ab2d_enrollment (contract, mbi, month)"                          \
    "       SELECT c, m, d FROM x ON CONFLICT DO NOTHING RETURNING 1)"                   \
    " SELECT json_build_object('rows', (SELECT count(*) FROM x), 'added',"              \
    " (SELECT count(*) FROM i), 'beneficiaries', (SELECT count(DISTINCT m) FROM x))::text"

static int cmd_enrollment(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *params[8], *file = dpcctl_opt(argc, argv, 2, "--file");
    apr_array_header_t *cols[3];
    apr_time_exp_t now;
    int i, rc;

    memset(params, 0, sizeof(params));
    params[3] = dpcctl_opt(argc, argv, 2, "--contract");
    params[4] = dpcctl_opt(argc, argv, 2, "--synthetic");
    if (argc < 2 || strcmp(argv[1], "load") || !file == !params[4] || !params[4] != !params[3])
        return dpcctl_fail(DPCCTL_USAGE, "enrollment load (--file F | --contract Z0000"
                           " --synthetic N [--offset K] [--from YYYY-MM] [--to YYYY-MM])");
    for (i = 0; i < 3; i++)
        cols[i] = apr_array_make(p, 64, sizeof(const char *));
    if (file && (rc = dpcctl_read_lines(p, file, enrollment_row, cols)))
        return rc;
    for (i = 0; i < 3; i++)
        params[i] = dpc_pg_text_array(p, (const char *const *)cols[i]->elts, cols[i]->nelts);
    apr_time_exp_gmt(&now, apr_time_now());
    params[5] = dpcctl_opt(argc, argv, 2, "--offset") ? dpcctl_opt(argc, argv, 2, "--offset")
                                                       : "0";
    params[6] = dpcctl_opt(argc, argv, 2, "--from") ? dpcctl_opt(argc, argv, 2, "--from")
                                                     : "2020-01";
    params[7] = dpcctl_opt(argc, argv, 2, "--to") ? dpcctl_opt(argc, argv, 2, "--to")
                : apr_psprintf(p, "%04d-%02d", now.tm_year + 1900, now.tm_mon + 1);
    if (!month_valid(params[6]) || !month_valid(params[7]))
        return dpcctl_fail(DPCCTL_USAGE, "--from and --to are months: YYYY-MM");
    return dpcctl_run_json(c, SQL_ENROLL, 8, params, NULL, NULL);
}

int dpcctl_ab2d(apr_pool_t *p, PGconn *conn, int argc, char **argv)
{
    if (!strcmp(argv[0], "sponsor"))
        return cmd_sponsor(conn, argc, argv);
    if (!strcmp(argv[0], "contract"))
        return cmd_contract(p, conn, argc, argv);
    return cmd_enrollment(p, conn, argc, argv);
}
