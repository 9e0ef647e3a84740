/* dpc_migrate.c: see dpc_migrate.h. */
#include "dpc_migrate.h"

#include <stdlib.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <openssl/evp.h>

#include "dpc_embed.h"
#include "dpc_log.h"
#include "dpc_pg.h"

/* Any constant will do; it only has to be ours. */
#define MIGRATE_LOCK "7340032901"

static int version_of(const dpc_embedded_file *f)
{
    return atoi(f->name);
}

int dpc_migrate_latest(void)
{
    const dpc_embedded_file *f;
    int v = 0;

    for (f = dpc_migrations; f->name; f++)
        if (version_of(f) > v)
            v = version_of(f);
    return v;
}

int dpc_migrate_current(apr_pool_t *p, PGconn *c, const char **err)
{
    const char *v;

    v = dpc_pg_value(p, c, "SELECT to_regclass('dpc_schema_migration') IS NOT NULL",
                     0, NULL, err);
    if (*err)
        return -1;
    if (!v || strcmp(v, "t"))
        return 0;
    v = dpc_pg_value(p, c, "SELECT coalesce(max(version), 0) FROM dpc_schema_migration",
                     0, NULL, err);
    return *err ? -1 : atoi(v);
}

static int apply_one(apr_pool_t *p, PGconn *c, const dpc_embedded_file *f,
                     const char **err)
{
    const char *params[2];
    const char *e2;

    params[0] = apr_itoa(p, version_of(f));
    params[1] = f->name;
    if (dpc_pg_exec(p, c, "BEGIN", err))
        return -1;
    if (dpc_pg_exec(p, c, f->data, err)) {
        *err = apr_psprintf(p, "migration %s failed, nothing of it applied: %s",
                            f->name, *err);
        dpc_pg_exec(p, c, "ROLLBACK", &e2);
        return -1;
    }
    dpc_pg_value(p, c, "INSERT INTO dpc_schema_migration (version, name) "
                 "VALUES ($1::int, $2) RETURNING version", 2, params, err);
    if (*err || dpc_pg_exec(p, c, "COMMIT", err)) {
        dpc_pg_exec(p, c, "ROLLBACK", &e2);
        return -1;
    }
    dpc_log_perror(DPC_LOG_MARK, DPC_LOG_INFO, 0, DPCLOGNO(00001)
                   "applied migration %s", f->name);
    return 0;
}

/* ---- function files ---------------------------------------------------- */

static const char function_table_sql[] =
    "CREATE TABLE IF NOT EXISTS dpc_schema_function ("
    " name text PRIMARY KEY,"
    " sha256 text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

/* What each function file was when it was last applied. */
static const char applied_functions_sql[] =
    "SELECT name, sha256 FROM dpc_schema_function";
enum { AF_NAME, AF_SHA256 };

/* $1 name, $2 sha256 */
static const char record_function_sql[] =
    "INSERT INTO dpc_schema_function (name, sha256) VALUES ($1, $2)"
    " ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now()"
    " RETURNING name";

/* The lower-case hex SHA-256 of f's text, from p; NULL if OpenSSL fails. */
static const char *text_sha256(apr_pool_t *p, const dpc_embedded_file *f)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    char *hex;

    if (!EVP_Digest(f->data, f->len, md, &n, EVP_sha256(), NULL))
        return NULL;
    hex = apr_palloc(p, 2 * n + 1);
    for (i = 0; i < n; i++)
        apr_snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[2 * n] = '\0';
    return hex;
}

/* name -> sha256 of every function file applied so far; NULL with *err. */
static apr_hash_t *applied_functions(apr_pool_t *p, PGconn *c, const char **err)
{
    apr_hash_t *h = apr_hash_make(p);
    PGresult *res;
    int i;

    if (dpc_pg_exec(p, c, function_table_sql, err))
        return NULL;
    res = PQexec(c, applied_functions_sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        *err = dpc_pg_error(p, c, res);
        PQclear(res);
        return NULL;
    }
    for (i = 0; i < PQntuples(res); i++)
        apr_hash_set(h, apr_pstrdup(p, PQgetvalue(res, i, AF_NAME)), APR_HASH_KEY_STRING,
                     apr_pstrdup(p, PQgetvalue(res, i, AF_SHA256)));
    PQclear(res);
    return h;
}

/* Run one file's text and record it, in one transaction. */
static int apply_function(apr_pool_t *p, PGconn *c, const dpc_embedded_file *f,
                          const char *sha256, const char **err)
{
    const char *params[2], *e2;

    params[0] = f->name;
    params[1] = sha256;
    if (dpc_pg_exec(p, c, "BEGIN", err))
        return -1;
    if (dpc_pg_exec(p, c, f->data, err)) {
        *err = apr_psprintf(p, "function file %s failed, not applied: %s", f->name, *err);
        dpc_pg_exec(p, c, "ROLLBACK", &e2);
        return -1;
    }
    dpc_pg_value(p, c, record_function_sql, 2, params, err);
    if (*err || dpc_pg_exec(p, c, "COMMIT", err)) {
        dpc_pg_exec(p, c, "ROLLBACK", &e2);
        return -1;
    }
    dpc_log_perror(DPC_LOG_MARK, DPC_LOG_INFO, 0, DPCLOGNO(00013)
                   "applied function file %s", f->name);
    return 0;
}

/* Apply every function file whose text changed since it was last applied,
 * or every one when `all` (a migration ran).  Names go to `done`. */
static int apply_functions(apr_pool_t *p, PGconn *c, const dpc_embedded_file *files,
                           int all, apr_array_header_t *done, const char **err)
{
    const dpc_embedded_file *f;
    apr_hash_t *had = applied_functions(p, c, err);

    if (!had)
        return -1;
    for (f = files; f->name; f++) {
        const char *sha = text_sha256(p, f), *was;

        if (!sha) {
            *err = apr_psprintf(p, "function file %s: cannot hash it", f->name);
            return -1;
        }
        was = apr_hash_get(had, f->name, APR_HASH_KEY_STRING);
        if (!all && was && !strcmp(was, sha))
            continue;
        if (apply_function(p, c, f, sha, err))
            return -1;
        APR_ARRAY_PUSH(done, const char *) = f->name;
    }
    return 0;
}

/* ---- migrations ---------------------------------------------------------- */

static int apply_migrations(apr_pool_t *p, PGconn *c, const dpc_embedded_file *files,
                            int *applied, const char **err)
{
    const dpc_embedded_file *f;
    int current;

    if (dpc_pg_exec(p, c, "CREATE TABLE IF NOT EXISTS dpc_schema_migration ("
                    " version integer PRIMARY KEY,"
                    " name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())", err)
        || (current = dpc_migrate_current(p, c, err)) < 0)
        return -1;
    for (f = files; f->name; f++) {
        if (version_of(f) <= current)
            continue;
        if (apply_one(p, c, f, err))
            return -1;
        (*applied)++;
    }
    return 0;
}

int dpc_migrate(apr_pool_t *p, PGconn *c, const dpc_embedded_file *migrations,
                const dpc_embedded_file *functions, dpc_migrate_result *out,
                const char **err)
{
    const char *e2;
    int rc;

    out->migrations = 0;
    out->functions = apr_array_make(p, 8, sizeof(const char *));
    if (dpc_pg_exec(p, c, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", err))
        return -1;
    rc = apply_migrations(p, c, migrations, &out->migrations, err);
    if (!rc)
        rc = apply_functions(p, c, functions, out->migrations > 0, out->functions, err);
    dpc_pg_exec(p, c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")", &e2);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const dpc_embedded_file *)a)->name, ((const dpc_embedded_file *)b)->name);
}

static int is_migration_name(const char *n)
{
    size_t len = strlen(n);

    return len > 8 && apr_isdigit(n[0]) && apr_isdigit(n[1]) && apr_isdigit(n[2])
        && n[3] == '_' && !strcmp(n + len - 4, ".sql");
}

static int is_function_name(const char *n)
{
    size_t len = strlen(n), i;

    if (len < 5 || strcmp(n + len - 4, ".sql"))
        return 0;
    for (i = 0; i < len - 4; i++)
        if (!apr_islower(n[i]) && !apr_isdigit(n[i]) && n[i] != '_')
            return 0;
    return 1;
}

/* The files of dir whose names pass `wanted`, sorted by name, ended by a
 * NULL name; NULL with *err. */
static const dpc_embedded_file *load_dir(apr_pool_t *p, const char *dir,
                                         int (*wanted)(const char *), const char **err)
{
    apr_array_header_t *files = apr_array_make(p, 16, sizeof(dpc_embedded_file));
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_status_t rv;
    char buf[256];

    if ((rv = apr_dir_open(&d, dir, p)) != APR_SUCCESS) {
        *err = apr_psprintf(p, "%s: %s", dir, apr_strerror(rv, buf, sizeof(buf)));
        return NULL;
    }
    while ((rv = apr_dir_read(&fi, APR_FINFO_NAME, d)) == APR_SUCCESS
           || rv == APR_INCOMPLETE) {
        dpc_embedded_file *f;
        apr_file_t *fh;
        apr_size_t n;
        const char *path, *name;

        if (!fi.name || !wanted(fi.name))
            continue;
        name = apr_pstrdup(p, fi.name);
        path = apr_pstrcat(p, dir, "/", name, NULL);
        if ((rv = apr_stat(&fi, path, APR_FINFO_SIZE | APR_FINFO_TYPE, p))
            || (rv = fi.filetype == APR_REG ? APR_SUCCESS : APR_EINVAL)
            || (rv = apr_file_open(&fh, path, APR_FOPEN_READ, 0, p))) {
            *err = apr_psprintf(p, "%s: %s", path, apr_strerror(rv, buf, sizeof(buf)));
            apr_dir_close(d);
            return NULL;
        }
        f = apr_array_push(files);
        f->name = name;
        n = (apr_size_t)fi.size;
        f->data = apr_pcalloc(p, n + 1);
        apr_file_read_full(fh, (void *)f->data, n, &n);
        f->len = n;
        apr_file_close(fh);
    }
    apr_dir_close(d);
    qsort(files->elts, files->nelts, sizeof(dpc_embedded_file), by_name);
    memset(apr_array_push(files), 0, sizeof(dpc_embedded_file));
    return (const dpc_embedded_file *)files->elts;
}

const dpc_embedded_file *dpc_migrate_load_dir(apr_pool_t *p, const char *dir,
                                              const char **err)
{
    return load_dir(p, dir, is_migration_name, err);
}

const dpc_embedded_file *dpc_migrate_load_functions(apr_pool_t *p, const char *dir,
                                                    const char **err)
{
    return load_dir(p, dir, is_function_name, err);
}
