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
