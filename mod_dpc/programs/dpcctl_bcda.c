/* dpcctl_bcda.c: see dpcctl_bcda.h. */
#include "dpcctl_bcda.h"
#include "dpcctl_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <apr_strings.h>
#include <apr_tables.h>

#include "dpc_auth.h"
#include "dpc_crypt.h"
#include "dpc_fhir.h"
#include "dpc_mbi.h"
#include "dpc_pg.h"
#include "dpc_secret.h"
#include "dpc_token.h"

/* The most addresses or CIDR ranges a credential may be bound to. */
#define MAX_IPS 8
/* A credential lives this long unless --expires or --days says otherwise. */
#define DEFAULT_DAYS "90"

/* ---- aco ---- */

#define ACO_JSON "json_build_object('id', id, 'cms_id', cms_id, 'name', name," \
                 " 'created_at', created_at)::text"

static int cmd_aco(PGconn *c, int argc, char **argv)
{
    const char *params[2];

    if (argc >= 2 && !strcmp(argv[1], "create")) {
        params[0] = dpcctl_opt(argc, argv, 2, "--cms-id");
        params[1] = dpcctl_opt(argc, argv, 2, "--name");
        if (!params[0])
            return dpcctl_fail(DPCCTL_USAGE, "aco create needs --cms-id ID (e.g. A9990)");
        if (!params[1])
            params[1] = params[0];
        return dpcctl_run_json(c, "INSERT INTO organization (cms_id, name) VALUES ($1, $2)"
                        " RETURNING " ACO_JSON, 2, params, NULL, NULL);
    }
    if (argc >= 2 && !strcmp(argv[1], "list"))
        return dpcctl_run_json(c, "SELECT " ACO_JSON " FROM organization WHERE cms_id IS NOT NULL"
                        " ORDER BY cms_id", 0, NULL, "acos", NULL);
    if (argc >= 3 && !strcmp(argv[1], "delete")) {
        params[0] = argv[2];
        return dpcctl_run_json(c, "DELETE FROM organization WHERE cms_id = $1 RETURNING " ACO_JSON,
                        1, params, NULL, NULL);
    }
    return dpcctl_fail(DPCCTL_USAGE, "aco create --cms-id ID [--name N] | list | delete ID");
}

/* ---- credential ---- */

#define CRED_JSON "json_build_object('client_id', coalesce(c.client_id, c.id::text)," \
                  " 'aco', o.cms_id, 'contract', c.contract, 'sponsor', CASE WHEN" \
                  " c.contract IS NOT NULL THEN o.name END, 'label', c.label," \
                  " 'ips', c.ips, 'expires_at', c.expires_at, 'rotated_at', c.rotated_at," \
                  " 'disabled', c.disabled, 'created_at', c.created_at)::text"
/* A credential by the client id dpcctl prints ($1). */
#define CRED_WHERE "coalesce(client_id, id::text) = $1"

/* Who a new credential is for ($1 an ACO's CMS id, or $8 an AB2D
 * contract), with what it is: BCDA's client id is the row's id ($7, a
 * UUID, or a new one); AB2D's is text ($9, or a new "0oa..." one) and it
 * does not expire unless asked ($5, $6 given). */
#define SQL_CRED_CREATE                                                                 \
    "WITH w AS (SELECT o.id AS org_id, NULL::text AS contract FROM organization o"      \
    "            WHERE o.cms_id = $1 AND $8::text IS NULL"                              \
    "           UNION ALL SELECT k.org_id, k.number FROM ab2d_contract k"              \
    "            WHERE k.number = $8::text),"                                           \
    " c AS (INSERT INTO bcda_credential (id, org_id, label, secret_hash, ips,"          \
    "        expires_at, audience, client_id, contract)"                                \
    "       SELECT coalesce($7::uuid, gen_random_uuid()), w.org_id, $2, $3,"           \
    "        $4::text[]::cidr[], CASE WHEN w.contract IS NULL OR $5::bigint IS NOT NULL" \
    "        OR $6::int IS NOT NULL THEN coalesce(to_timestamp($5::bigint),"             \
    "        now() + make_interval(days => coalesce($6::int, " DEFAULT_DAYS ")))"       \
    "        END, CASE WHEN w.contract IS NULL THEN 'bcda' ELSE 'ab2d' END,"            \
    "        CASE WHEN w.contract IS NOT NULL THEN $9::text END, w.contract FROM w"     \
    "       RETURNING *)"                                                                \
    " SELECT " CRED_JSON " FROM c JOIN organization o ON o.id = c.org_id"

/* Every --ip value (at most MAX_IPS), as a text[] literal, into *out. */
static int ips_of(apr_pool_t *p, int argc, char **argv, const char **out)
{
    apr_array_header_t *a = apr_array_make(p, MAX_IPS, sizeof(const char *));
    int i;

    for (i = 2; i < argc - 1; i++)
        if (!strcmp(argv[i], "--ip"))
            APR_ARRAY_PUSH(a, const char *) = argv[++i];
    if (a->nelts > MAX_IPS)
        return dpcctl_fail(DPCCTL_USAGE, "at most %d --ip addresses or CIDR ranges", MAX_IPS);
    *out = dpc_pg_text_array(p, (const char *const *)a->elts, a->nelts);
    return DPCCTL_OK;
}

/* The secret: --secret (the sandbox's published ones) or a new one. */
static int secret_of(apr_pool_t *p, int argc, char **argv, const char **secret)
{
    if ((*secret = dpcctl_opt(argc, argv, 2, "--secret")) != NULL)
        return strlen(*secret) >= 32 ? DPCCTL_OK
               : dpcctl_fail(DPCCTL_USAGE, "--secret must be at least 32 characters");
    return dpc_secret_generate(p, secret) == APR_SUCCESS ? DPCCTL_OK
           : dpcctl_fail(DPCCTL_FAIL, "no random bytes");
}

/* The client id of a new credential: --client-id (checked), or for an AB2D
 * contract a new one in Okta's form ("0oa" and 17 letters or digits);
 * BCDA's is left NULL (the row's new id).  DPCCTL_OK, or the refusal. */
static int client_id_of(apr_pool_t *p, int argc, char **argv, int ab2d, const char **uuid,
                        const char **text)
{
    const char *id = dpcctl_opt(argc, argv, 2, "--client-id"), *rnd;

    *uuid = *text = NULL;
    if (!ab2d) {
        if (id && !dpc_uuid_is_valid(id))
            return dpcctl_fail(DPCCTL_USAGE, "--client-id must be a UUID");
        *uuid = id;
        return DPCCTL_OK;
    }
    if (id && (strlen(id) < 8 || strlen(id) > 64 || id[strspn(id, "abcdefghijklmnopqrstuvwxyz"
               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")]))
        return dpcctl_fail(DPCCTL_USAGE, "--client-id must be 8 to 64 letters, digits or ._-");
    if (!id && dpc_secret_generate(p, &rnd) != APR_SUCCESS)
        return dpcctl_fail(DPCCTL_FAIL, "no random bytes");
    *text = id ? id : apr_pstrcat(p, "0oa", apr_pstrndup(p, rnd, 17), NULL);
    return DPCCTL_OK;
}

static int credential_create(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *params[9], *secret, *exp = dpcctl_opt(argc, argv, 2, "--expires"), *why;
    apr_time_t t;
    int rc;

    params[0] = dpcctl_opt(argc, argv, 2, "--aco");
    params[1] = dpcctl_opt(argc, argv, 2, "--label");
    params[5] = dpcctl_opt(argc, argv, 2, "--days");
    params[7] = dpcctl_opt(argc, argv, 2, "--contract");
    if (!params[0] == !params[7])
        return dpcctl_fail(DPCCTL_USAGE, "credential create needs --aco ID (BCDA) or "
                           "--contract NUMBER (AB2D)");
    if (!params[1])
        params[1] = "credential";
    if (!dpc_label_valid(params[1], 100))
        return dpcctl_fail(DPCCTL_USAGE, "label must be 1 to 100 printable characters");
    if ((rc = client_id_of(p, argc, argv, params[7] != NULL, &params[6], &params[8])))
        return rc;
    if (exp && dpc_instant_parse(exp, &t, &why))
        return dpcctl_fail(DPCCTL_USAGE, "--expires: %s", why);
    if ((rc = secret_of(p, argc, argv, &secret)) || (rc = ips_of(p, argc, argv, &params[3])))
        return rc;
    params[2] = dpc_secret_hash(p, secret, DPC_SECRET_ITERATIONS);
    params[4] = exp ? apr_psprintf(p, "%" APR_TIME_T_FMT, apr_time_sec(t)) : NULL;
    /* the secret is printed this once and stored only as its hash */
    return dpcctl_run_json(c, SQL_CRED_CREATE, 9, params, NULL,
                    json_pack("{s:s}", "client_secret", secret));
}

/* disable, enable, or a new allow-list (--ip..., none: any address). */
static int credential_set(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *params[3];
    int rc;

    params[0] = argv[2];
    params[1] = !strcmp(argv[1], "disable") ? "true" : !strcmp(argv[1], "enable") ? "false"
                : NULL;
    params[2] = NULL;
    if (!strcmp(argv[1], "allow") && (rc = ips_of(p, argc, argv, &params[2])))
        return rc;
    return dpcctl_run_json(c, "WITH c AS (UPDATE bcda_credential SET disabled = coalesce($2::boolean,"
                    " disabled), ips = coalesce($3::text[]::cidr[], ips) WHERE " CRED_WHERE
                    " RETURNING *) SELECT " CRED_JSON " FROM c JOIN organization o"
                    " ON o.id = c.org_id", 3, params, NULL, NULL);
}

static int credential_rotate(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *params[2], *secret;
    int rc;

    if ((rc = secret_of(p, argc, argv, &secret)))
        return rc;
    params[0] = argv[2];
    params[1] = dpc_secret_hash(p, secret, DPC_SECRET_ITERATIONS);
    return dpcctl_run_json(c, "WITH c AS (UPDATE bcda_credential SET secret_hash = $2,"
                    " rotated_at = now() WHERE " CRED_WHERE " RETURNING *)"
                    " SELECT " CRED_JSON " FROM c JOIN organization o ON o.id = c.org_id",
                    2, params, NULL, json_pack("{s:s}", "client_secret", secret));
}

static int cmd_credential(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *params[1];

    if (argc >= 2 && !strcmp(argv[1], "create"))
        return credential_create(p, c, argc, argv);
    if (argc >= 3 && !strcmp(argv[1], "rotate"))
        return credential_rotate(p, c, argc, argv);
    if (argc >= 3 && (!strcmp(argv[1], "disable") || !strcmp(argv[1], "enable")
                      || !strcmp(argv[1], "allow")))
        return credential_set(p, c, argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "list") && (params[0] = dpcctl_opt(argc, argv, 2, "--aco")))
        return dpcctl_run_json(c, "SELECT " CRED_JSON " FROM bcda_credential c JOIN organization o"
                        " ON o.id = c.org_id WHERE o.cms_id = $1 ORDER BY c.created_at",
                        1, params, "credentials", NULL);
    if (argc >= 2 && !strcmp(argv[1], "list") && (params[0] = dpcctl_opt(argc, argv, 2, "--contract")))
        return dpcctl_run_json(c, "SELECT " CRED_JSON " FROM bcda_credential c JOIN organization o"
                        " ON o.id = c.org_id WHERE c.contract = $1 ORDER BY c.created_at",
                        1, params, "credentials", NULL);
    if (argc >= 3 && !strcmp(argv[1], "delete")) {
        params[0] = argv[2];
        return dpcctl_run_json(c, "WITH c AS (DELETE FROM bcda_credential WHERE " CRED_WHERE
                        " RETURNING *) SELECT " CRED_JSON " FROM c JOIN organization o"
                        " ON o.id = c.org_id", 1, params, NULL, NULL);
    }
    return dpcctl_fail(DPCCTL_USAGE, "credential create (--aco ID | --contract NUMBER)"
                       " [--label L] [--days N | --expires INSTANT] [--ip ADDR]..."
                       " [--client-id ID --secret S] | list (--aco ID | --contract NUMBER)"
                       " | rotate CLIENT_ID | disable CLIENT_ID | enable CLIENT_ID"
                       " | allow CLIENT_ID [--ip ADDR]... | delete CLIENT_ID");
}

/* ---- aco-key: the RSA public key an ACO's files are encrypted for ---- */

#define KEY_JSON "json_build_object('aco', o.cms_id, 'id', k.id, 'label', k.label," \
                 " 'bits', k.bits, 'fingerprint', k.fingerprint, 'created_at'," \
                 " k.created_at)::text"

/* The PEM file at path, at most DPC_PKEY_MAX_PEM bytes; DPCCTL_OK or a
 * failure reported. */
static int read_pem(apr_pool_t *p, const char *path, const char **pem, apr_size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = apr_palloc(p, DPC_PKEY_MAX_PEM + 1);

    if (!f)
        return dpcctl_fail(DPCCTL_FAIL, "cannot read %s", path);
    *len = fread(buf, 1, DPC_PKEY_MAX_PEM + 1, f);
    fclose(f);
    if (*len > DPC_PKEY_MAX_PEM)
        return dpcctl_fail(DPCCTL_USAGE, "%s: larger than a PEM public key can be", path);
    buf[*len] = '\0';
    *pem = buf;
    return DPCCTL_OK;
}

/* Register (or replace) the ACO's key: RSA, 2048 bits or more, checked
 * here; the canonical PEM is stored. */
static int key_register(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *params[5], *file = dpcctl_opt(argc, argv, 2, "--file"), *pem = NULL, *why;
    dpc_pkey_t *key;
    apr_size_t len = 0;
    int rc;

    params[0] = dpcctl_opt(argc, argv, 2, "--aco");
    params[1] = dpcctl_opt(argc, argv, 2, "--label") ? dpcctl_opt(argc, argv, 2, "--label")
                                              : "encryption key";
    if (!params[0] || !file)
        return dpcctl_fail(DPCCTL_USAGE, "aco-key register needs --aco ID and --file PUBLIC.pem");
    if (!dpc_label_valid(params[1], 100))
        return dpcctl_fail(DPCCTL_USAGE, "label must be 1 to 100 printable characters");
    if ((rc = read_pem(p, file, &pem, &len)))
        return rc;
    if (dpc_crypt_aco_key(p, pem, len, &key, &why) != DPC_PKEY_OK)
        return dpcctl_fail(DPCCTL_USAGE, "%s: %s", file, why);
    params[2] = key->pem;
    params[3] = apr_itoa(p, key->bits);
    params[4] = key->fingerprint;
    return dpcctl_run_json(c, "WITH k AS (INSERT INTO aco_key (org_id, label, pem, bits, fingerprint)"
                    " SELECT o.id, $2, $3, $4::int, $5 FROM organization o WHERE o.cms_id = $1"
                    " ON CONFLICT (org_id) DO UPDATE SET label = EXCLUDED.label,"
                    " pem = EXCLUDED.pem, bits = EXCLUDED.bits,"
                    " fingerprint = EXCLUDED.fingerprint, created_at = now() RETURNING *)"
                    " SELECT " KEY_JSON " FROM k JOIN organization o ON o.id = k.org_id",
                    5, params, NULL, NULL);
}

static int cmd_aco_key(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *params[1];

    if (argc >= 2 && !strcmp(argv[1], "register"))
        return key_register(p, c, argc, argv);
    params[0] = dpcctl_opt(argc, argv, 2, "--aco");
    if (argc >= 2 && !strcmp(argv[1], "list"))
        return dpcctl_run_json(c, "SELECT " KEY_JSON " FROM aco_key k JOIN organization o"
                        " ON o.id = k.org_id WHERE $1::text IS NULL OR o.cms_id = $1"
                        " ORDER BY o.cms_id", 1, params, "keys", NULL);
    if (argc >= 2 && !strcmp(argv[1], "delete") && params[0])
        return dpcctl_run_json(c, "WITH k AS (DELETE FROM aco_key WHERE org_id ="
                        " (SELECT id FROM organization WHERE cms_id = $1) RETURNING *)"
                        " SELECT " KEY_JSON " FROM k JOIN organization o ON o.id = k.org_id",
                        1, params, NULL, NULL);
    return dpcctl_fail(DPCCTL_USAGE, "aco-key register --aco ID --file PUBLIC.pem [--label L]"
                       " | list [--aco ID] | delete --aco ID");
}

/* ---- attribution ---- */

/* An attribution file's line: an MBI, or CCLF8 (the MBI in the first 11
 * characters of a fixed-width line), into the array ctx (dpcctl_line_fn). */
static const char *mbi_line(apr_pool_t *p, char *line, int n, void *ctx)
{
    char mbi[DPC_MBI_LEN + 1];

    (void)n;
    if (strlen(line) > DPC_MBI_LEN)
        line[DPC_MBI_LEN] = '\0';       /* CCLF8: the MBI comes first */
    if (!dpc_mbi_accept(p, line, mbi))
        return apr_psprintf(p, "\"%s\" is not an MBI", line);
    APR_ARRAY_PUSH((apr_array_header_t *)ctx, const char *) = apr_pstrdup(p, mbi);
    return NULL;
}

/* The older load of the kind goes ($1 ACO, $2 kind), in the transaction
 * that makes the new one. */
#define SQL_UNLOAD                                                                      \
    "DELETE FROM aco_attribution a USING organization o"                                \
    " WHERE a.org_id = o.id AND o.cms_id = $1 AND a.kind = $2"

/* The new load with its members ($5: a text[] of MBIs, or NULL to take $6
 * beneficiaries of the claims store from offset $7). */
#define SQL_LOAD                                                                        \
    "WITH o AS (SELECT id FROM organization WHERE cms_id = $1),"                        \
    " l AS (INSERT INTO aco_attribution (org_id, kind, performance_year, file_name)"     \
    "       SELECT o.id, $2, $3::int, $4 FROM o RETURNING id, org_id, kind,"              \
    "       performance_year, loaded_at),"                                               \
    " m AS (INSERT INTO aco_beneficiary (attribution_id, mbi)"                          \
    "       SELECT DISTINCT l.id, x.mbi FROM l, (SELECT unnest($5::text[]) AS mbi"      \
    "        WHERE $5 IS NOT NULL UNION ALL SELECT mbi FROM (SELECT mbi FROM beneficiary" \
    "        WHERE $5 IS NULL ORDER BY mbi OFFSET $7::int LIMIT $6::int) s) x"           \
    "       RETURNING mbi)"                                                              \
    " SELECT json_build_object('aco', $1, 'kind', l.kind, 'performance_year',"          \
    " l.performance_year, 'loaded_at', l.loaded_at, 'beneficiaries',"                   \
    " (SELECT count(*) FROM m), 'opted_out', (SELECT count(*) FROM m JOIN opt_out x"   \
    " USING (mbi)))::text FROM l"

/* SQL_UNLOAD then SQL_LOAD in one transaction: all of it or nothing. */
static int load_in_transaction(PGconn *c, const char *const *params)
{
    PGresult *res = PQexec(c, "BEGIN");
    int rc, ok = PQresultStatus(res) == PGRES_COMMAND_OK;

    PQclear(res);
    if (ok) {
        res = PQexecParams(c, SQL_UNLOAD, 2, NULL, params, NULL, NULL, 0);
        ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            dpcctl_fail(DPCCTL_FAIL, "%s", PQresultErrorMessage(res));
        PQclear(res);
    }
    rc = ok ? dpcctl_run_json(c, SQL_LOAD, 7, params, NULL, NULL) : DPCCTL_FAIL;
    PQclear(PQexec(c, rc == DPCCTL_OK ? "COMMIT" : "ROLLBACK"));
    return rc;
}

static int cmd_attribution(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *params[7], *file = dpcctl_opt(argc, argv, 2, "--file"),
               *synth = dpcctl_opt(argc, argv, 2, "--synthetic"), *year = dpcctl_opt(argc, argv, 2, "--year");
    apr_array_header_t *mbis = apr_array_make(p, 64, sizeof(const char *));
    int runout = 0, i, rc;
    time_t now = time(NULL);
    struct tm tm;

    for (i = 2; i < argc; i++)
        runout |= !strcmp(argv[i], "--runout");
    params[0] = dpcctl_opt(argc, argv, 2, "--aco");
    if (argc < 2 || strcmp(argv[1], "load") || !params[0] || (!file == !synth))
        return dpcctl_fail(DPCCTL_USAGE, "attribution load --aco ID (--file F | --synthetic N"
                           " [--offset K]) [--runout] [--year YYYY]");
    gmtime_r(&now, &tm);
    params[1] = runout ? "runout" : "attribution";
    params[2] = year ? year : apr_itoa(p, tm.tm_year + 1900 - runout);
    params[3] = file;
    if (file && (rc = dpcctl_read_lines(p, file, mbi_line, mbis)))
        return rc;
    params[4] = file ? dpc_pg_text_array(p, (const char *const *)mbis->elts, mbis->nelts)
                     : NULL;
    params[5] = synth;
    params[6] = dpcctl_opt(argc, argv, 2, "--offset") ? dpcctl_opt(argc, argv, 2, "--offset") : "0";
    return load_in_transaction(c, params);
}

int dpcctl_bcda(apr_pool_t *p, PGconn *conn, int argc, char **argv)
{
    if (!strcmp(argv[0], "aco"))
        return cmd_aco(conn, argc, argv);
    if (!strcmp(argv[0], "credential"))
        return cmd_credential(p, conn, argc, argv);
    if (!strcmp(argv[0], "aco-key"))
        return cmd_aco_key(p, conn, argc, argv);
    return cmd_attribution(p, conn, argc, argv);
}
