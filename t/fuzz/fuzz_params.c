/* fuzz_params: Parameters bodies (export kick-offs, $submit, $validate,
 * Group bodies) and the text[] literals their values become.
 *
 *   dpc_params_read    refused with at least one issue, or every entry has
 *                      a name and exactly one of value[x], resource, part
 *   dpc_pg_text_array  the string values (and the input split at commas)
 *                      as an array literal that reads back element for
 *                      element, by PostgreSQL's own quoting rules
 */
#include "fuzz.h"

#include <jansson.h>

#include "dpc_fhir.h"
#include "dpc_pg.h"
#include "dpc_res.h"

/* Read a literal as dpc_pg_text_array writes it ({"a","b\"c"}) back into
 * its elements; -1 if it is not of that form. */
static int unquote(apr_pool_t *p, const char *lit, const char **items, int max)
{
    const char *s = lit;
    int n = 0;

    if (*s++ != '{')
        return -1;
    if (!strcmp(s, "}"))
        return 0;
    for (;;) {
        char *out, *o;

        if (*s++ != '"' || n == max)
            return -1;
        o = out = apr_palloc(p, strlen(s) + 1);
        while (*s && *s != '"') {
            if (*s == '\\' && s[1])
                s++;
            *o++ = *s++;
        }
        if (*s++ != '"')
            return -1;
        *o = '\0';
        items[n++] = out;
        if (*s == '}')
            return s[1] ? -1 : n;
        if (*s++ != ',')
            return -1;
    }
}

static void round_trip(apr_pool_t *p, const char *const *items, int n)
{
    const char *lit = dpc_pg_text_array(p, items, n), **back;
    int i;

    back = apr_palloc(p, sizeof(*back) * (n + 1));
    FUZZ_CHECK(unquote(p, lit, back, n + 1) == n);
    for (i = 0; i < n; i++)
        FUZZ_CHECK(!strcmp(back[i], items[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *text = fuzz_text(p, data, size), **items;
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    json_t *oo = dpc_oo_new();
    dpc_param *ps;
    char *copy, *tok, *state;
    int n, i, k = 0;

    if (body) {
        n = dpc_params_read(p, body, oo, &ps);
        if (n < 0)
            FUZZ_CHECK(json_array_size(json_object_get(oo, "issue")) > 0);
        else {
            items = apr_palloc(p, sizeof(*items) * (n + 1));
            for (i = 0; i < n; i++) {
                FUZZ_CHECK(ps[i].name != NULL);
                FUZZ_CHECK((ps[i].value != NULL) + (ps[i].resource != NULL)
                           + (ps[i].part != NULL) == 1);
                FUZZ_CHECK(!ps[i].value || (ps[i].value_key
                                            && !strncmp(ps[i].value_key, "value", 5)));
                FUZZ_CHECK(!ps[i].resource || json_is_object(ps[i].resource));
                FUZZ_CHECK(!ps[i].part || json_is_array(ps[i].part));
                if (ps[i].value && json_is_string(ps[i].value))
                    items[k++] = json_string_value(ps[i].value);
            }
            round_trip(p, items, k);
        }
        json_decref(body);
    }
    json_decref(oo);
    /* any text, split at commas as _type is: each piece reads back */
    items = apr_palloc(p, sizeof(*items) * (size + 1));
    copy = apr_pstrdup(p, text);
    for (k = 0, tok = apr_strtok(copy, ",", &state); tok; tok = apr_strtok(NULL, ",", &state))
        items[k++] = tok;
    round_trip(p, items, k);
    fuzz_end(p);
    return 0;
}
