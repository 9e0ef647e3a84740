/* dpc_pg.c: see dpc_pg.h. */
#include "dpc_pg.h"

#include <string.h>

#include <apr_strings.h>
#include <apr_tables.h>

const char *dpc_pg_error(apr_pool_t *p, PGconn *c, const PGresult *res)
{
    const char *m = res ? PQresultErrorMessage(res) : NULL;
    size_t n;

    if (!m || !*m)
        m = PQerrorMessage(c);
    n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    return apr_pstrmemdup(p, m, n);
}

PGconn *dpc_pg_connect(apr_pool_t *p, const char *conninfo, const char *app_name,
                       const char **err)
{
    const char *keys[] = { "dbname", "fallback_application_name", NULL };
    const char *vals[] = { conninfo, app_name, NULL };
    PGconn *c = PQconnectdbParams(keys, vals, 1);

    if (PQstatus(c) != CONNECTION_OK) {
        *err = dpc_pg_error(p, c, NULL);
        PQfinish(c);
        return NULL;
    }
    return c;
}

PGconn *dpc_pg_connect_like(apr_pool_t *p, PGconn *c, const char **err)
{
    PQconninfoOption *opts = PQconninfo(c), *o;
    apr_array_header_t *keys = apr_array_make(p, 32, sizeof(const char *));
    apr_array_header_t *vals = apr_array_make(p, 32, sizeof(const char *));
    PGconn *like;

    if (!opts) {
        *err = "out of memory";
        return NULL;
    }
    for (o = opts; o->keyword; o++) {
        if (o->val && *o->val) {
            APR_ARRAY_PUSH(keys, const char *) = apr_pstrdup(p, o->keyword);
            APR_ARRAY_PUSH(vals, const char *) = apr_pstrdup(p, o->val);
        }
    }
    PQconninfoFree(opts);
    APR_ARRAY_PUSH(keys, const char *) = NULL;
    APR_ARRAY_PUSH(vals, const char *) = NULL;
    like = PQconnectdbParams((const char *const *)keys->elts,
                             (const char *const *)vals->elts, 0);
    if (PQstatus(like) != CONNECTION_OK) {
        *err = dpc_pg_error(p, like, NULL);
        PQfinish(like);
        return NULL;
    }
    return like;
}

int dpc_pg_exec(apr_pool_t *p, PGconn *c, const char *sql, const char **err)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

    if (!ok)
        *err = dpc_pg_error(p, c, res);
    PQclear(res);
    return ok ? 0 : -1;
}

const char *dpc_pg_value(apr_pool_t *p, PGconn *c, const char *sql,
                         int nparams, const char *const *params, const char **err)
{
    PGresult *res = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    const char *v = NULL;

    *err = NULL;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        *err = dpc_pg_error(p, c, res);
    else if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        v = apr_pstrdup(p, PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

const char *dpc_pg_text_array(apr_pool_t *p, const char *const *items, int n)
{
    apr_size_t len = 3;     /* "{", "}" and the NUL */
    const char *s;
    char *out, *o;
    int i;

    for (i = 0; i < n; i++) {
        len += 3;           /* two quotes and a comma */
        for (s = items[i]; *s; s++)
            len += (*s == '"' || *s == '\\') ? 2 : 1;
    }
    o = out = apr_palloc(p, len);
    *o++ = '{';
    for (i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        *o++ = '"';
        for (s = items[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                *o++ = '\\';
            *o++ = *s;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return out;
}
