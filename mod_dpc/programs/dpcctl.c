/* dpcctl: mod_dpc's admin tool.
 *
 *   dpcctl [--db CONNINFO] COMMAND ...
 *
 * The database comes from --db or $DPC_DB (a libpq conninfo).  Every command
 * prints one JSON object on stdout, so scripts can read what it made; errors
 * go to stderr with a non-zero exit status (1: failed, 2: usage).
 */
#include "dpcctl_audit.h"
#include "dpcctl_ab2d.h"
#include "dpcctl_bcda.h"
#include "dpcctl_load.h"
#include "dpcctl_ops.h"
#include "dpcctl_out.h"
#include "dpcctl_synth.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "dpc_auth.h"
#include "dpc_fhir.h"
#include "dpc_log.h"
#include "dpc_migrate.h"
#include "dpc_pg.h"
#include "dpc_pkey.h"
#include "dpc_token.h"

static const char usage[] =
    "usage: dpcctl [--db CONNINFO] [-v] COMMAND ...\n"
    "  migrate [--sql-dir DIR]               apply the schema migrations, then the\n"
    "                                        function files that changed (compiled\n"
    "                                        in, or DIR/NNN_*.sql and\n"
    "                                        DIR/functions/NAME.sql)\n"
    "  schema                                print the schema version\n"
    "  synth --patients N --seed S [--offset K] [--chunk N] [--jobs N]\n"
    "        [--skip-existing] [--dry-run] [--out FILE [--out-beneficiary FILE]]\n"
    "        [--format text|binary]          generate synthetic claims (same seed,\n"
    "                                        same bytes) and load them with COPY,\n"
    "                                        or write them to FILE\n"
    "  load [--strict] [--fhir stu3|r4] [--mbi BENE_ID=MBI]... FILE...\n"
    "                                        load BFD-shaped Patient, Coverage and\n"
    "                                        ExplanationOfBenefit NDJSON (exit 3: bad\n"
    "                                        lines were skipped)\n"
    "  jobs [--org ID] [--status S] [JOB_ID] list export jobs, or one with its batches\n"
    "                                        and files\n"
    "  workers                               export workers: heartbeat, alive, batches\n"
    "  expire --export-root DIR              remove expired, failed and cancelled jobs'\n"
    "                                        files now\n"
    "  org create --name NAME [--npi NPI]    create a provider organization\n"
    "  org list | org delete ID\n"
    "  key add --org ID --label L --pem FILE [--min-bits N]\n"
    "                                        register a public key (RSA >= 4096 bits\n"
    "                                        or EC P-384)\n"
    "  key list --org ID | key delete ID\n"
    "  token create --org ID --label L [--expires INSTANT]\n"
    "                                        create a client token (printed once)\n"
    "  token list --org ID | token delete ID\n"
    "  aco create --cms-id ID [--name N] | aco list | aco delete ID\n"
    "                                        BCDA's ACOs (ids like A9990)\n"
    "  credential create (--aco ID | --contract NUMBER) [--label L]\n"
    "        [--days N | --expires INSTANT] [--ip ADDR]... [--client-id ID --secret S]\n"
    "                                        a BCDA or AB2D client id and secret\n"
    "                                        (printed once; BCDA's expire in 90 days)\n"
    "  credential list (--aco ID | --contract NUMBER) | rotate CLIENT_ID\n"
    "        | disable CLIENT_ID | enable CLIENT_ID | allow CLIENT_ID [--ip ADDR]...\n"
    "        | delete CLIENT_ID\n"
    "  sponsor create --name NAME | sponsor list | sponsor delete NAME\n"
    "                                        AB2D's Part D sponsors (PDP-100)\n"
    "  contract create --sponsor NAME --number Z0000 [--attested INSTANT]\n"
    "        [--max-jobs N] | contract list [--sponsor NAME] | contract delete NUMBER\n"
    "  enrollment load (--file F | --contract Z0000 --synthetic N [--offset K]\n"
    "        [--from YYYY-MM] [--to YYYY-MM])\n"
    "                                        AB2D enrollment (contract,MBI,YYYY-MM\n"
    "                                        rows); adds to what is there\n"
    "  aco-key register --aco ID --file PUBLIC.pem [--label L]\n"
    "                                        the RSA key (>= 2048 bits) an ACO's\n"
    "                                        encrypted files are made for\n"
    "  aco-key list [--aco ID] | aco-key delete --aco ID\n"
    "  attribution load --aco ID (--file F | --synthetic N [--offset K])\n"
    "        [--runout] [--year YYYY]        an ACO's beneficiaries (MBI a line, or\n"
    "                                        CCLF8); replaces the older load\n"
    "  audit [--org ID] [--job ID] [--action A] [--since INSTANT] [--until INSTANT]\n"
    "        [--limit N]                     the audit trail, oldest first, one JSON\n"
    "                                        object a line\n"
    "The database is --db or $DPC_DB (libpq conninfo).\n";

/* The value after `name` among argv[from..], or NULL. */
static const char *opt(int argc, char **argv, int from, const char *name)
{
    int i;

    for (i = from; i < argc - 1; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

static int has_flag(int argc, char **argv, const char *name)
{
    int i;

    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], name))
            return 1;
    return 0;
}

/* Run a query with text parameters; its rows as a JSON array of objects
 * (column names as keys, NULL as null) in *rows.  DPCCTL_OK or a failure
 * already reported. */
static int query_rows(PGconn *c, const char *sql, int n, const char *const *params,
                      json_t **rows)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    int i, j;

    *rows = NULL;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        dpcctl_fail(DPCCTL_FAIL, "%s", PQresultErrorMessage(res));
        PQclear(res);
        return DPCCTL_FAIL;
    }
    *rows = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_t *o = json_object();

        for (j = 0; j < PQnfields(res); j++)
            json_object_set_new(o, PQfname(res, j), PQgetisnull(res, i, j) ? json_null()
                                : json_string(PQgetvalue(res, i, j)));
        json_array_append_new(*rows, o);
    }
    PQclear(res);
    return DPCCTL_OK;
}

/* Print the rows as {"list_key": [...]}, or the one row (not found: fail). */
static int print_rows(PGconn *c, const char *sql, int n, const char *const *params,
                      const char *list_key)
{
    json_t *rows;
    int rc = query_rows(c, sql, n, params, &rows);

    if (rc != DPCCTL_OK)
        return rc;
    if (list_key)
        dpcctl_print(json_pack("{s:O}", list_key, rows));
    else if (json_array_size(rows) == 1)
        dpcctl_print(json_incref(json_array_get(rows, 0)));
    else
        rc = dpcctl_fail(DPCCTL_FAIL, "not found");
    json_decref(rows);
    return rc;
}

static int cmd_migrate(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *err, *dir = opt(argc, argv, 1, "--sql-dir");
    const dpc_embedded_file *files = dpc_migrations, *functions = dpc_functions;
    dpc_migrate_result done;
    json_t *names;
    int i;

    if (dir && (!(files = dpc_migrate_load_dir(p, dir, &err))
                || !(functions = dpc_migrate_load_functions(
                         p, apr_pstrcat(p, dir, "/functions", NULL), &err))))
        return dpcctl_fail(DPCCTL_FAIL, "%s", err);
    if (dpc_migrate(p, c, files, functions, &done, &err))
        return dpcctl_fail(DPCCTL_FAIL, "%s", err);
    names = json_array();
    for (i = 0; i < done.functions->nelts; i++)
        json_array_append_new(names, json_string(APR_ARRAY_IDX(done.functions, i,
                                                               const char *)));
    dpcctl_print(json_pack("{s:i, s:i, s:o}", "schema_version",
                           dpc_migrate_current(p, c, &err), "applied", done.migrations,
                           "functions_applied", names));
    return DPCCTL_OK;
}

static int cmd_schema(apr_pool_t *p, PGconn *c)
{
    const char *err = NULL;
    int v = dpc_migrate_current(p, c, &err);

    if (v < 0)
        return dpcctl_fail(DPCCTL_FAIL, "%s", err);
    dpcctl_print(json_pack("{s:i, s:i}", "schema_version", v, "latest",
                           dpc_migrate_latest()));
    return DPCCTL_OK;
}

static int cmd_org(PGconn *c, int argc, char **argv)
{
    const char *params[2];

    if (argc >= 2 && !strcmp(argv[1], "create")) {
        params[0] = opt(argc, argv, 2, "--name");
        params[1] = opt(argc, argv, 2, "--npi");
        if (!params[0])
            return dpcctl_fail(DPCCTL_USAGE, "org create needs --name NAME");
        return print_rows(c, "INSERT INTO organization (name, npi) VALUES ($1, $2) "
                          "RETURNING id, name, npi, created_at", 2, params, NULL);
    }
    if (argc >= 2 && !strcmp(argv[1], "list"))
        return print_rows(c, "SELECT id, name, npi, created_at FROM organization "
                          "ORDER BY created_at, id", 0, NULL, "organizations");
    if (argc >= 3 && !strcmp(argv[1], "delete")) {
        params[0] = argv[2];
        return print_rows(c, "DELETE FROM organization WHERE id::text = $1 "
                          "RETURNING id, name, npi", 1, params, NULL);
    }
    return dpcctl_fail(DPCCTL_USAGE, "org create|list|delete");
}

static int read_file(apr_pool_t *p, const char *path, const char **out)
{
    FILE *f = fopen(path, "rb");
    char *buf = apr_palloc(p, DPC_PKEY_MAX_PEM + 1);
    size_t n;

    if (!f)
        return -1;
    n = fread(buf, 1, DPC_PKEY_MAX_PEM + 1, f);
    fclose(f);
    if (n > DPC_PKEY_MAX_PEM)
        return -1;
    buf[n] = '\0';
    *out = buf;
    return 0;
}

static int cmd_key(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *params[5], *pem, *err, *bits;
    dpc_pkey_t *key;

    if (argc >= 2 && !strcmp(argv[1], "add")) {
        const char *file = opt(argc, argv, 2, "--pem");

        params[0] = opt(argc, argv, 2, "--org");
        params[1] = opt(argc, argv, 2, "--label");
        bits = opt(argc, argv, 2, "--min-bits");
        if (!params[0] || !params[1] || !file)
            return dpcctl_fail(DPCCTL_USAGE, "key add needs --org ID --label L --pem FILE");
        if (!dpc_label_valid(params[1], 25))
            return dpcctl_fail(DPCCTL_FAIL, "label must be 1 to 25 printable characters");
        if (read_file(p, file, &pem))
            return dpcctl_fail(DPCCTL_FAIL, "cannot read %s (or it is over 16 KB)", file);
        if (dpc_pkey_parse(p, pem, strlen(pem), bits ? atoi(bits) : 0, &key, &err))
            return dpcctl_fail(DPCCTL_FAIL, "%s: %s", file, err);
        params[2] = dpc_alg_name(key->alg);
        params[3] = key->pem;
        params[4] = key->fingerprint;
        return print_rows(c, "INSERT INTO public_key (org_id, label, alg, pem, fingerprint)"
                          " VALUES ($1::uuid, $2, $3, $4, $5) RETURNING id, org_id, label,"
                          " alg, fingerprint, created_at", 5, params, NULL);
    }
    if (argc >= 2 && !strcmp(argv[1], "list") && (params[0] = opt(argc, argv, 2, "--org")))
        return print_rows(c, "SELECT id, label, alg, fingerprint, created_at FROM public_key"
                          " WHERE org_id = $1::uuid ORDER BY created_at, id", 1, params,
                          "keys");
    if (argc >= 3 && !strcmp(argv[1], "delete")) {
        params[0] = argv[2];
        return print_rows(c, "DELETE FROM public_key WHERE id::text = $1"
                          " RETURNING id, org_id, label", 1, params, NULL);
    }
    return dpcctl_fail(DPCCTL_USAGE, "key add|list|delete");
}

static int cmd_token(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *params[4], *token, *exp, *why;
    json_t *rows, *row;
    apr_time_t t;
    int rc;

    if (argc >= 2 && !strcmp(argv[1], "create")) {
        params[0] = opt(argc, argv, 2, "--org");
        params[1] = opt(argc, argv, 2, "--label");
        exp = opt(argc, argv, 2, "--expires");
        if (!params[0] || !params[1])
            return dpcctl_fail(DPCCTL_USAGE, "token create needs --org ID --label L");
        if (!dpc_label_valid(params[1], 100))
            return dpcctl_fail(DPCCTL_FAIL, "label must be 1 to 100 printable characters");
        if (exp && dpc_instant_parse(exp, &t, &why))
            return dpcctl_fail(DPCCTL_FAIL, "--expires: %s", why);
        if (dpc_client_token_generate(p, &token) != APR_SUCCESS)
            return dpcctl_fail(DPCCTL_FAIL, "no random bytes");
        params[2] = dpc_client_token_hash(p, token);
        params[3] = exp ? apr_psprintf(p, "%" APR_TIME_T_FMT, apr_time_sec(t)) : NULL;
        rc = query_rows(c, "INSERT INTO client_token (org_id, label, token_hash, expires_at)"
                        " VALUES ($1::uuid, $2, $3, coalesce(to_timestamp($4::bigint),"
                        " now() + interval '365 days')) RETURNING id, org_id, label,"
                        " expires_at, created_at", 4, params, &rows);
        if (rc != DPCCTL_OK)
            return rc;
        /* the token itself is printed this once and stored nowhere */
        row = json_incref(json_array_get(rows, 0));
        json_object_set_new(row, "token", json_string(token));
        dpcctl_print(row);
        json_decref(rows);
        return DPCCTL_OK;
    }
    if (argc >= 2 && !strcmp(argv[1], "list") && (params[0] = opt(argc, argv, 2, "--org")))
        return print_rows(c, "SELECT id, label, expires_at, created_at FROM client_token"
                          " WHERE org_id = $1::uuid ORDER BY created_at, id", 1, params,
                          "tokens");
    if (argc >= 3 && !strcmp(argv[1], "delete")) {
        params[0] = argv[2];
        return print_rows(c, "DELETE FROM client_token WHERE id::text = $1"
                          " RETURNING id, org_id, label", 1, params, NULL);
    }
    return dpcctl_fail(DPCCTL_USAGE, "token create|list|delete");
}

static int run(apr_pool_t *p, const char *db, int argc, char **argv)
{
    const char *err;
    PGconn *c;
    int rc;

    /* writing rows to a file needs no database */
    if (!strcmp(argv[0], "synth")
        && (opt(argc, argv, 1, "--out") || has_flag(argc, argv, "--dry-run")))
        return dpcctl_synth(NULL, argc, argv);
    if (!db)
        return dpcctl_fail(DPCCTL_USAGE, "no database: pass --db CONNINFO or set DPC_DB");
    c = dpc_pg_connect(p, db, "dpcctl", &err);
    if (!c)
        return dpcctl_fail(DPCCTL_FAIL, "cannot connect: %s", err);
    if (!strcmp(argv[0], "migrate"))
        rc = cmd_migrate(p, c, argc, argv);
    else if (!strcmp(argv[0], "schema"))
        rc = cmd_schema(p, c);
    else if (!strcmp(argv[0], "synth"))
        rc = dpcctl_synth(c, argc, argv);
    else if (!strcmp(argv[0], "load"))
        rc = dpcctl_load(c, argc, argv);
    else if (!strcmp(argv[0], "jobs"))
        rc = dpcctl_jobs(p, c, argc, argv);
    else if (!strcmp(argv[0], "workers"))
        rc = dpcctl_workers(p, c, argc, argv);
    else if (!strcmp(argv[0], "expire"))
        rc = dpcctl_expire(p, c, argc, argv);
    else if (!strcmp(argv[0], "org"))
        rc = cmd_org(c, argc, argv);
    else if (!strcmp(argv[0], "key"))
        rc = cmd_key(p, c, argc, argv);
    else if (!strcmp(argv[0], "token"))
        rc = cmd_token(p, c, argc, argv);
    else if (!strcmp(argv[0], "aco") || !strcmp(argv[0], "credential")
             || !strcmp(argv[0], "attribution") || !strcmp(argv[0], "aco-key"))
        rc = dpcctl_bcda(p, c, argc, argv);
    else if (!strcmp(argv[0], "sponsor") || !strcmp(argv[0], "contract")
             || !strcmp(argv[0], "enrollment"))
        rc = dpcctl_ab2d(p, c, argc, argv);
    else if (!strcmp(argv[0], "audit"))
        rc = dpcctl_audit(p, c, argc, argv);
    else
        rc = dpcctl_fail(DPCCTL_USAGE, "unknown command '%s'\n%s", argv[0], usage);
    PQfinish(c);
    return rc;
}

int main(int argc, char **argv)
{
    apr_pool_t *p;
    const char *db = getenv("DPC_DB");
    int level = DPC_LOG_WARNING, i = 1, rc;

    while (i < argc && argv[i][0] == '-') {
        if (!strcmp(argv[i], "--db") && i + 1 < argc)
            db = argv[i + 1], i += 2;
        else if (!strcmp(argv[i], "-v"))
            level = DPC_LOG_DEBUG, i++;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return DPCCTL_OK;
        }
        else
            return dpcctl_fail(DPCCTL_USAGE, "unknown option %s\n%s", argv[i], usage);
    }
    if (i >= argc) {
        fputs(usage, stderr);
        return DPCCTL_USAGE;
    }
    apr_app_initialize(&argc, (const char *const **)&argv, NULL);
    apr_pool_create(&p, NULL);
    dpc_log_set(dpc_log_stderr, dpc_log_stderr_level, &level);
    rc = run(p, db, argc - i, argv + i);
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}
