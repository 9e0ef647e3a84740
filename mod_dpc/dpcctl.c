/* dpcctl: mod_dpc's admin tool.
 *
 *   dpcctl [--db CONNINFO] COMMAND ...
 *
 * The database comes from --db or $DPC_DB (a libpq conninfo).  Every command
 * prints one JSON object on stdout, so scripts can read what it made; errors
 * go to stderr with a non-zero exit status (1: failed, 2: usage).
 */
#include "dpcctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "dpc_log.h"
#include "dpc_migrate.h"
#include "dpc_pg.h"

static const char usage[] =
    "usage: dpcctl [--db CONNINFO] [-v] COMMAND ...\n"
    "  migrate [--sql-dir DIR]               apply the schema migrations (compiled in,\n"
    "                                        or NNN_*.sql from DIR)\n"
    "  schema                                print the schema version\n"
    "  synth --patients N --seed S [--offset K] [--out FILE]\n"
    "                                        generate (and load) synthetic claims\n"
    "  org create --name NAME [--npi NPI]    create a provider organization\n"
    "  org list | org delete ID\n"
    "The database is --db or $DPC_DB (libpq conninfo).\n";

void dpcctl_print(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);

    if (s) {
        puts(s);
        free(s);
    }
    json_decref(v);
}

int dpcctl_fail(int status, const char *fmt, ...)
{
    va_list ap;

    fputs("dpcctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return status;
}

/* The value after `name` among argv[from..], or NULL. */
static const char *opt(int argc, char **argv, int from, const char *name)
{
    int i;

    for (i = from; i < argc - 1; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

/* Run a query with text parameters and print its rows as JSON: one object
 * (single) or {"key": [objects]}.  Column names become keys; NULL stays null. */
static int print_rows(PGconn *c, const char *sql, int n, const char *const *params,
                      const char *list_key)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    json_t *rows = json_array();
    int i, j, rc = DPCCTL_OK;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = dpcctl_fail(DPCCTL_FAIL, "%s", PQresultErrorMessage(res));
        goto end;
    }
    for (i = 0; i < PQntuples(res); i++) {
        json_t *o = json_object();

        for (j = 0; j < PQnfields(res); j++)
            json_object_set_new(o, PQfname(res, j), PQgetisnull(res, i, j) ? json_null()
                                : json_string(PQgetvalue(res, i, j)));
        json_array_append_new(rows, o);
    }
    if (list_key)
        dpcctl_print(json_pack("{s:O}", list_key, rows));
    else if (json_array_size(rows) == 1)
        dpcctl_print(json_incref(json_array_get(rows, 0)));
    else
        rc = dpcctl_fail(DPCCTL_FAIL, "not found");
end:
    json_decref(rows);
    PQclear(res);
    return rc;
}

static int cmd_migrate(apr_pool_t *p, PGconn *c, int argc, char **argv)
{
    const char *err, *dir = opt(argc, argv, 1, "--sql-dir");
    const dpc_embedded_file *files = dpc_migrations;
    int applied;

    if (dir && !(files = dpc_migrate_load_dir(p, dir, &err)))
        return dpcctl_fail(DPCCTL_FAIL, "%s", err);
    if (dpc_migrate(p, c, files, &applied, &err))
        return dpcctl_fail(DPCCTL_FAIL, "%s", err);
    dpcctl_print(json_pack("{s:i, s:i}", "schema_version", dpc_migrate_current(p, c, &err),
                           "applied", applied));
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

static int run(apr_pool_t *p, const char *db, int argc, char **argv)
{
    const char *err;
    PGconn *c;
    int rc;

    if (!strcmp(argv[0], "synth") && opt(argc, argv, 1, "--out"))
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
    else if (!strcmp(argv[0], "org"))
        rc = cmd_org(c, argc, argv);
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
