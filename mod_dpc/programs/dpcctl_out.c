/* dpcctl_out.c: see dpcctl_out.h. */
#include "dpcctl_out.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpc_mbi.h"

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

int dpcctl_exec(PGconn *c, const char *what, const char *sql, int nparams,
                const char *const *params, PGresult **keep)
{
    PGresult *res = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    int st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_COPY_IN) {
        const char *msg = res ? PQresultErrorMessage(res) : "";

        dpcctl_fail(DPCCTL_FAIL, "%s: %s", what, *msg ? msg : PQerrorMessage(c));
        PQclear(res);
        return -1;
    }
    if (keep)
        *keep = res;
    else
        PQclear(res);
    return 0;
}

/* The value after `name` among argv[from..], or NULL. */
const char *dpcctl_opt(int argc, char **argv, int from, const char *name)
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
int dpcctl_run_json(PGconn *c, const char *sql, int n, const char *const *params,
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

int dpcctl_read_lines(apr_pool_t *p, const char *path, dpcctl_line_fn *fn, void *ctx)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    const char *why;
    int n = 0;

    dpc_ids_allow_synthetic(p);
    if (!f)
        return dpcctl_fail(DPCCTL_FAIL, "cannot read %s", path);
    while (fgets(line, sizeof(line), f)) {
        n++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[strspn(line, " \t")])
            continue;
        if ((why = fn(p, line, n, ctx)) != NULL) {
            fclose(f);
            return dpcctl_fail(DPCCTL_FAIL, "%s line %d: %s", path, n, why);
        }
    }
    fclose(f);
    return DPCCTL_OK;
}
