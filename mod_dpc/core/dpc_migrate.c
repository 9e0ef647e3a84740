/* dpc_migrate.c: see dpc_migrate.h. */
#include "dpc_migrate.h"

#include <stdlib.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>

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

int dpc_migrate(apr_pool_t *p, PGconn *c, const dpc_embedded_file *files,
                int *applied, const char **err)
{
    const dpc_embedded_file *f;
    const char *e2;
    int current, rc = 0;

    *applied = 0;
    if (dpc_pg_exec(p, c, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", err))
        return -1;
    if (dpc_pg_exec(p, c, "CREATE TABLE IF NOT EXISTS dpc_schema_migration ("
                    " version integer PRIMARY KEY,"
                    " name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())", err)
        || (current = dpc_migrate_current(p, c, err)) < 0) {
        rc = -1;
        goto unlock;
    }
    for (f = files; f->name; f++) {
        if (version_of(f) <= current)
            continue;
        if (apply_one(p, c, f, err)) {
            rc = -1;
            break;
        }
        (*applied)++;
    }
unlock:
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

const dpc_embedded_file *dpc_migrate_load_dir(apr_pool_t *p, const char *dir,
                                              const char **err)
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

        if (!fi.name || !is_migration_name(fi.name))
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
