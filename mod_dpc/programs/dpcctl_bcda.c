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

/* The value after `name` among argv[from..], or NULL. */
static const char *opt(int argc, char **argv, int from, const char *name)
{
    int i;

    for (i = from; i < argc - 1; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

/* Run sql, which returns one json column per row; print the first row's
 * JSON (with `extra` merged in), or {"list_key": [rows]} when list_key is
 * set.  DPCCTL_OK, or a failure reported ("not found" for no row). */
static int run_json(PGconn *c, const char *sql, int n, const char *const *params,
                    const char *list_key, json_t *extra)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    json_t *out = list_key ? json_array() : NULL, *v;
    int i, rc = DPCCTL_OK;

    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = dpcctl_fail(DPCCTL_FAIL, "%s", PQresultErrorMessage(res));
    else if (!list_key && PQntuples(res) == 0)
        rc = dpcctl_fail(DPCCTL_FAIL, "not found");
    for (i = 0; rc == DPCCTL_OK && i < PQntuples(res); i++) {
        v = json_loads(PQgetvalue(res, i, 0), 0, NULL);
        if (list_key)
            json_array_append_new(out, v);
        else {
            if (extra)
                json_object_update(v, extra);
            out = v;
            break;
        }
    }
    PQclear(res);
    json_decref(extra);
    if (rc == DPCCTL_OK)
        dpcctl_print(list_key ? json_pack("{s:o}", list_key, out) : out);
    else
        json_decref(out);
    return rc;
}

/* ---- aco ---- */

#define ACO_JSON "json_build_object('id', id, 'cms_id', cms_id, 'name', name," \
                 " 'created_at', created_at)::text"

static int cmd_aco(PGconn *c, int argc, char **argv)
{
    const char *params[2];

    if (argc >= 2 && !strcmp(argv[1], "create")) {
        params[0] = opt(argc, argv, 2, "--cms-id");
        params[1] = opt(argc, argv, 2, "--name");
        if (!params[0])
            return dpcctl_fail(DPCCTL_USAGE, "aco create needs --cms-id ID (e.g. A9990)");
        if (!params[1])
            params[1] = params[0];
        return run_json(c, "INSERT INTO organization (cms_id, name) VALUES ($1, $2)"
                        " RETURNING " ACO_JSON, 2, params, NULL, NULL);
    }
    if (argc >= 2 && !strcmp(argv[1], "list"))
        return run_json(c, "SELECT " ACO_JSON " FROM organization WHERE cms_id IS NOT NULL"
                        " ORDER BY cms_id", 0, NULL, "acos", NULL);
    if (argc >= 3 && !strcmp(argv[1], "delete")) {
        params[0] = argv[2];
        return run_json(c, "DELETE FROM organization WHERE cms_id = $1 RETURNING " ACO_JSON,
                        1, params, NULL, NULL);
    }
    return dpcctl_fail(DPCCTL_USAGE, "aco create --cms-id ID [--name N] | list | delete ID");
}

/* ---- credential ---- */

#define CRED_JSON "json_build_object('client_id', c.id, 'aco', o.cms_id, 'label', c.label," \
                  " 'ips', c.ips, 'expires_at', c.expires_at, 'rotated_at', c.rotated_at," \
                  " 'created_at', c.created_at)::text"

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
    if ((*secret = opt(argc, argv, 2, "--secret")) != NULL)
        return strlen(*secret) >= 32 ? DPCCTL_OK
               : dpcctl_fail(DPCCTL_USAGE, "--secret must be at least 32 characters");
    return dpc_secret_generate(p, secret) == APR_SUCCESS ? DPCCTL_OK
           : dpcctl_fail(DPCCTL_FAIL, "no random bytes");
}

static int credential_create(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *params[7], *secret, *exp = opt(argc, argv, 2, "--expires"), *why;
    apr_time_t t;
    int rc;

    params[0] = opt(argc, argv, 2, "--aco");
    params[1] = opt(argc, argv, 2, "--label");
    params[5] = opt(argc, argv, 2, "--days");
    params[6] = opt(argc, argv, 2, "--client-id");
    if (!params[0])
        return dpcctl_fail(DPCCTL_USAGE, "credential create needs --aco ID");
    if (!params[1])
        params[1] = "credential";
    if (!dpc_label_valid(params[1], 100))
        return dpcctl_fail(DPCCTL_USAGE, "label must be 1 to 100 printable characters");
    if (params[6] && !dpc_uuid_is_valid(params[6]))
        return dpcctl_fail(DPCCTL_USAGE, "--client-id must be a UUID");
    if (exp && dpc_instant_parse(exp, &t, &why))
        return dpcctl_fail(DPCCTL_USAGE, "--expires: %s", why);
    if ((rc = secret_of(p, argc, argv, &secret)) || (rc = ips_of(p, argc, argv, &params[3])))
        return rc;
    params[2] = dpc_secret_hash(p, secret, DPC_SECRET_ITERATIONS);
    params[4] = exp ? apr_psprintf(p, "%" APR_TIME_T_FMT, apr_time_sec(t)) : NULL;
    if (!params[5])
        params[5] = DEFAULT_DAYS;
    /* the secret is printed this once and stored only as its hash */
    return run_json(c, "WITH c AS (INSERT INTO bcda_credential (id, org_id, label,"
                    " secret_hash, ips, expires_at)"
                    " SELECT coalesce($7::uuid, gen_random_uuid()), o.id, $2, $3,"
                    " $4::text[]::cidr[], coalesce(to_timestamp($5::bigint),"
                    " now() + make_interval(days => $6::int))"
                    " FROM organization o WHERE o.cms_id = $1 RETURNING *)"
                    " SELECT " CRED_JSON " FROM c JOIN organization o ON o.id = c.org_id",
                    7, params, NULL, json_pack("{s:s}", "client_secret", secret));
}

static int credential_rotate(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *params[2], *secret;
    int rc;

    if ((rc = secret_of(p, argc, argv, &secret)))
        return rc;
    params[0] = argv[2];
    params[1] = dpc_secret_hash(p, secret, DPC_SECRET_ITERATIONS);
    return run_json(c, "WITH c AS (UPDATE bcda_credential SET secret_hash = $2,"
                    " rotated_at = now() WHERE id::text = $1 RETURNING *)"
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
    if (argc >= 2 && !strcmp(argv[1], "list") && (params[0] = opt(argc, argv, 2, "--aco")))
        return run_json(c, "SELECT " CRED_JSON " FROM bcda_credential c JOIN organization o"
                        " ON o.id = c.org_id WHERE o.cms_id = $1 ORDER BY c.created_at",
                        1, params, "credentials", NULL);
    if (argc >= 3 && !strcmp(argv[1], "delete")) {
        params[0] = argv[2];
        return run_json(c, "WITH c AS (DELETE FROM bcda_credential WHERE id::text = $1"
                        " RETURNING *) SELECT " CRED_JSON " FROM c JOIN organization o"
                        " ON o.id = c.org_id", 1, params, NULL, NULL);
    }
    return dpcctl_fail(DPCCTL_USAGE, "credential create --aco ID [--label L] [--days N |"
                       " --expires INSTANT] [--ip ADDR]... [--client-id UUID --secret S]"
                       " | list --aco ID | rotate CLIENT_ID | delete CLIENT_ID");
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
    const char *params[5], *file = opt(argc, argv, 2, "--file"), *pem = NULL, *why;
    dpc_pkey_t *key;
    apr_size_t len = 0;
    int rc;

    params[0] = opt(argc, argv, 2, "--aco");
    params[1] = opt(argc, argv, 2, "--label") ? opt(argc, argv, 2, "--label")
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
    return run_json(c, "WITH k AS (INSERT INTO aco_key (org_id, label, pem, bits, fingerprint)"
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
    params[0] = opt(argc, argv, 2, "--aco");
    if (argc >= 2 && !strcmp(argv[1], "list"))
        return run_json(c, "SELECT " KEY_JSON " FROM aco_key k JOIN organization o"
                        " ON o.id = k.org_id WHERE $1::text IS NULL OR o.cms_id = $1"
                        " ORDER BY o.cms_id", 1, params, "keys", NULL);
    if (argc >= 2 && !strcmp(argv[1], "delete") && params[0])
        return run_json(c, "WITH k AS (DELETE FROM aco_key WHERE org_id ="
                        " (SELECT id FROM organization WHERE cms_id = $1) RETURNING *)"
                        " SELECT " KEY_JSON " FROM k JOIN organization o ON o.id = k.org_id",
                        1, params, NULL, NULL);
    return dpcctl_fail(DPCCTL_USAGE, "aco-key register --aco ID --file PUBLIC.pem [--label L]"
                       " | list [--aco ID] | delete --aco ID");
}

/* ---- attribution ---- */

/* The MBIs of a file: one a line, or CCLF8 (the MBI in the first 11
 * characters of each fixed-width line).  DPCCTL_OK, or a failure naming
 * the first bad line. */
static int read_mbis(apr_pool_t *p, const char *path, apr_array_header_t *mbis)
{
    FILE *f = fopen(path, "r");
    char line[4096], mbi[DPC_MBI_LEN + 1];
    int n = 0;

    /* an attribution file may name BFD's synthetic MBIs (S second): never
     * a real beneficiary's, so taking them costs production nothing, and
     * the sandbox's claims are made with them */
    dpc_ids_allow_synthetic(p);
    if (!f)
        return dpcctl_fail(DPCCTL_FAIL, "cannot read %s", path);
    while (fgets(line, sizeof(line), f)) {
        n++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[strspn(line, " \t")])
            continue;
        if (strlen(line) > DPC_MBI_LEN)
            line[DPC_MBI_LEN] = '\0';       /* CCLF8: the MBI comes first */
        if (!dpc_mbi_accept(p, line, mbi)) {
            fclose(f);
            return dpcctl_fail(DPCCTL_FAIL, "%s line %d: \"%s\" is not an MBI", path, n, line);
        }
        APR_ARRAY_PUSH(mbis, const char *) = apr_pstrdup(p, mbi);
    }
    fclose(f);
    return DPCCTL_OK;
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
    rc = ok ? run_json(c, SQL_LOAD, 7, params, NULL, NULL) : DPCCTL_FAIL;
    PQclear(PQexec(c, rc == DPCCTL_OK ? "COMMIT" : "ROLLBACK"));
    return rc;
}

static int cmd_attribution(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *params[7], *file = opt(argc, argv, 2, "--file"),
               *synth = opt(argc, argv, 2, "--synthetic"), *year = opt(argc, argv, 2, "--year");
    apr_array_header_t *mbis = apr_array_make(p, 64, sizeof(const char *));
    int runout = 0, i, rc;
    time_t now = time(NULL);
    struct tm tm;

    for (i = 2; i < argc; i++)
        runout |= !strcmp(argv[i], "--runout");
    params[0] = opt(argc, argv, 2, "--aco");
    if (argc < 2 || strcmp(argv[1], "load") || !params[0] || (!file == !synth))
        return dpcctl_fail(DPCCTL_USAGE, "attribution load --aco ID (--file F | --synthetic N"
                           " [--offset K]) [--runout] [--year YYYY]");
    gmtime_r(&now, &tm);
    params[1] = runout ? "runout" : "attribution";
    params[2] = year ? year : apr_itoa(p, tm.tm_year + 1900 - runout);
    params[3] = file;
    if (file && (rc = read_mbis(p, file, mbis)))
        return rc;
    params[4] = file ? dpc_pg_text_array(p, (const char *const *)mbis->elts, mbis->nelts)
                     : NULL;
    params[5] = synth;
    params[6] = opt(argc, argv, 2, "--offset") ? opt(argc, argv, 2, "--offset") : "0";
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
