/* dpcctl_out.c: see dpcctl_out.h. */
#include "dpcctl_out.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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
