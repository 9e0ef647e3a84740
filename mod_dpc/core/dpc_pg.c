/* dpc_pg.c: see dpc_pg.h. */
#include "dpc_pg.h"

#include <errno.h>
#include <poll.h>
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

/* c's connection values in use, as keywords and values (each ending with
 * NULL); 0, or -1 out of memory. */
static int values_of(apr_pool_t *p, PGconn *c, const char *const **keywords,
                     const char *const **values)
{
    PQconninfoOption *opts = PQconninfo(c), *o;
    apr_array_header_t *keys = apr_array_make(p, 32, sizeof(const char *));
    apr_array_header_t *vals = apr_array_make(p, 32, sizeof(const char *));

    if (!opts)
        return -1;
    for (o = opts; o->keyword; o++) {
        if (o->val && *o->val) {
            APR_ARRAY_PUSH(keys, const char *) = apr_pstrdup(p, o->keyword);
            APR_ARRAY_PUSH(vals, const char *) = apr_pstrdup(p, o->val);
        }
    }
    PQconninfoFree(opts);
    APR_ARRAY_PUSH(keys, const char *) = NULL;
    APR_ARRAY_PUSH(vals, const char *) = NULL;
    *keywords = (const char *const *)keys->elts;
    *values = (const char *const *)vals->elts;
    return 0;
}

PGconn *dpc_pg_connect_like(apr_pool_t *p, PGconn *c, const char **err)
{
    const char *const *keys, *const *vals;
    PGconn *like;

    if (values_of(p, c, &keys, &vals)) {
        *err = "out of memory";
        return NULL;
    }
    like = PQconnectdbParams(keys, vals, 0);
    if (PQstatus(like) != CONNECTION_OK) {
        *err = dpc_pg_error(p, like, NULL);
        PQfinish(like);
        return NULL;
    }
    return like;
}

PGconn *dpc_pg_connect_start_like(apr_pool_t *p, PGconn *c)
{
    const char *const *keys, *const *vals;
    PGconn *like = values_of(p, c, &keys, &vals) ? NULL
                   : PQconnectStartParams(keys, vals, 0);

    if (like && PQstatus(like) == CONNECTION_BAD) {
        PQfinish(like);
        return NULL;
    }
    return like;
}

int dpc_pg_wait(PGconn *c, int out, int timeout_ms)
{
    struct pollfd fd;
    int n;

    fd.fd = PQsocket(c);
    fd.events = out ? POLLOUT : POLLIN;
    fd.revents = 0;
    n = poll(&fd, 1, timeout_ms);
    return n < 0 && errno == EINTR ? 0 : n;
}

ConnStatusType dpc_pg_connect_wait(PGconn *c, PostgresPollingStatusType *st, int timeout_ms)
{
    while (*st != PGRES_POLLING_OK && *st != PGRES_POLLING_FAILED) {
        int n = dpc_pg_wait(c, *st != PGRES_POLLING_READING, timeout_ms);

        if (n == 0)
            return CONNECTION_STARTED;      /* not yet */
        *st = n < 0 ? PGRES_POLLING_FAILED : PQconnectPoll(c);
    }
    return *st == PGRES_POLLING_OK ? CONNECTION_OK : CONNECTION_BAD;
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
