/* dpc_header.c: see dpc_header.h. */
#include "dpc_header.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

/* Split the next list item off *state into name and params (both trimmed of
 * spaces, params NULL without a ';'); NULL when the list is done. */
static char *next_item(char **state, char **params)
{
    char *item = apr_strtok(NULL, ",", state), *semi;

    if (!item)
        return NULL;
    if ((semi = strchr(item, ';')) != NULL) {
        *semi = '\0';
        *params = semi + 1;
    }
    else
        *params = NULL;
    apr_collapse_spaces(item, item);
    return item;
}

int dpc_header_has(apr_pool_t *p, const char *value, const char *token)
{
    char *state, *item, *params;

    if (!value)
        return 0;
    state = apr_pstrdup(p, value);
    while ((item = next_item(&state, &params)) != NULL)
        if (!strcasecmp(item, token))
            return 1;
    return 0;
}

/* The q of an entry's parameters: 1 without one, 0 for anything that is
 * not a qvalue ("0", "0.5", "1.000"). */
static double qvalue(char *params)
{
    char *state = NULL, *p;

    for (p = params ? apr_strtok(params, ";", &state) : NULL; p;
         p = apr_strtok(NULL, ";", &state)) {
        char *end;
        double q;

        apr_collapse_spaces(p, p);
        if (strncasecmp(p, "q=", 2))
            continue;
        if (!(p[2] == '0' || p[2] == '1'))
            return 0;
        q = strtod(p + 2, &end);
        return *end || q < 0 || q > 1 ? 0 : q;
    }
    return 1;
}

int dpc_header_accepts_coding(apr_pool_t *p, const char *value, const char *coding)
{
    char *state, *item, *params;
    double star = -1, own = -1;

    if (!value)
        return 0;
    state = apr_pstrdup(p, value);
    while ((item = next_item(&state, &params)) != NULL) {
        if (!strcasecmp(item, coding)
            || (!strcasecmp(coding, "gzip") && !strcasecmp(item, "x-gzip")))
            own = qvalue(params);
        else if (!strcmp(item, "*"))
            star = qvalue(params);
    }
    return own >= 0 ? own > 0 : star > 0;
}
