/* dpc_type_filter.c: see dpc_type_filter.h. */
#include "dpc_type_filter.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <jansson.h>

#include "dpc_export.h"
#include "dpc_fhir.h"

#define EOB "ExplanationOfBenefit"
#define EOB_TYPE_SYSTEM "https://bluebutton.cms.gov/resources/codesystem/eob-type"
#define SUPPORTED "supported: ExplanationOfBenefit?type=, ExplanationOfBenefit?service-date=, " \
    "Coverage?status="

struct dpc_type_filter {
    apr_pool_t *p;
    json_t *root;               /* type -> [query, ...]; query: name -> [[value, ...], ...] */
};

static const char *const claim_types[] = {
    "carrier", "dme", "hha", "hospice", "inpatient", "outpatient", "pde", "snf", NULL
};
static const char *const coverage_statuses[] = {
    "active", "cancelled", "draft", "entered-in-error", NULL
};
/* service-date's prefixes, and what each compares (see dpc_type_filter.h) */
static const struct {
    const char *prefix, *sql;
} date_ops[] = {
    { "ge", "r.service_end >= DATE '%s'" },
    { "gt", "r.service_end > DATE '%s'" },
    { "le", "r.service_start <= DATE '%s'" },
    { "lt", "r.service_start < DATE '%s'" },
    { "eq", "(r.service_start >= DATE '%s' AND r.service_end <= DATE '%s')" },
};
#define N_DATE_OPS (sizeof(date_ops) / sizeof(date_ops[0]))

/* A claim type of the list (case-insensitive), as the list spells it. */
static const char *word_in(const char *const *list, const char *s, int any_case)
{
    int i;

    for (i = 0; s && list[i]; i++)
        if (any_case ? !strcasecmp(s, list[i]) : !strcmp(s, list[i]))
            return list[i];
    return NULL;
}

/* YYYY-MM-DD naming a day of the calendar? */
static int day_valid(const char *s)
{
    int i, y, m, d, mdays;

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    y = atoi(s);
    m = atoi(s + 5);
    d = atoi(s + 8);
    mdays = m == 2 ? 28 + (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
            : 30 + (m != 4 && m != 6 && m != 9 && m != 11);
    return m >= 1 && m <= 12 && d >= 1 && d <= mdays;
}

/* The operator of a normalized service-date value ("ge2020-01-01"), or -1. */
static int date_op(const char *v)
{
    size_t i;

    for (i = 0; v && i < N_DATE_OPS; i++)
        if (!strncmp(v, date_ops[i].prefix, 2) && day_valid(v + 2))
            return (int)i;
    return -1;
}

dpc_type_filter *dpc_type_filter_make(apr_pool_t *p)
{
    dpc_type_filter *f = apr_pcalloc(p, sizeof(*f));

    f->p = p;
    f->root = dpc_json_pool(p, json_object());
    return f;
}

/* ---- reading a _typeFilter value ---------------------------------------- */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* s..s+n with %XX decoded (a '+' stays a '+'), or NULL on a bad escape or
 * an escaped NUL. */
static char *pct_decode(apr_pool_t *p, const char *s, size_t n)
{
    char *out = apr_palloc(p, n + 1), *o = out;
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0
            || (hexval(s[i + 1]) | hexval(s[i + 2])) == 0)
            return NULL;
        *o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
        i += 2;
    }
    *o = '\0';
    return out;
}

/* Does a query start at s ("Type?", or "Type%3F" when the client encoded
 * its queries once more)? */
static int query_starts(const char *s)
{
    if (*s < 'A' || *s > 'Z')
        return 0;
    while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
        s++;
    return *s == '?' || !strncasecmp(s, "%3F", 3);
}

/* The value's queries (char *): a comma starts one only before "Type?". */
static apr_array_header_t *split_queries(apr_pool_t *p, const char *value)
{
    apr_array_header_t *a = apr_array_make(p, 2, sizeof(char *));
    const char *from = value, *s;

    for (s = value; *s; s++)
        if (*s == ',' && query_starts(s + 1)) {
            APR_ARRAY_PUSH(a, char *) = apr_pstrmemdup(p, from, (apr_size_t)(s - from));
            from = s + 1;
        }
    APR_ARRAY_PUSH(a, char *) = apr_pstrdup(p, from);
    return a;
}

/* A claim type value: "code" or "system|code"; NULL with *why. */
static const char *claim_type_of(apr_pool_t *p, const char *v, const char **why)
{
    const char *bar = strchr(v, '|'), *t;

    if (bar && bar != v && strncmp(v, EOB_TYPE_SYSTEM "|", (size_t)(bar - v) + 1)) {
        *why = apr_psprintf(p, "type %s: the system of a claim type is " EOB_TYPE_SYSTEM,
                            dpc_utf8_clean(p, v));
        return NULL;
    }
    if (!(t = word_in(claim_types, bar ? bar + 1 : v, 1)))
        *why = apr_psprintf(p, "type %s is not a claim type (carrier, dme, hha, hospice, "
                            "inpatient, outpatient, pde, snf)", dpc_utf8_clean(p, v));
    return t;
}

/* A service-date value, normalized to its prefix and day; NULL with *why
 * (*unsupported for a prefix FHIR has and this server does not). */
static const char *service_date_of(apr_pool_t *p, const char *v, const char **why,
                                   int *unsupported)
{
    const char *n = (v[0] >= '0' && v[0] <= '9') ? apr_pstrcat(p, "eq", v, NULL) : v;

    if (date_op(n) >= 0)
        return n;
    if (strlen(v) > 2 && (!strncmp(v, "ne", 2) || !strncmp(v, "sa", 2) || !strncmp(v, "eb", 2)
                          || !strncmp(v, "ap", 2)) && day_valid(v + 2)) {
        *unsupported = 1;
        *why = apr_psprintf(p, "service-date prefix %.2s is not supported (ge, gt, le, lt "
                            "and eq are)", v);
        return NULL;
    }
    *why = apr_psprintf(p, "service-date %s is not [ge|gt|le|lt|eq]YYYY-MM-DD",
                        dpc_utf8_clean(p, v));
    return NULL;
}

/* One value of parameter name of a query of type; NULL with *why. */
static const char *value_of(apr_pool_t *p, const char *type, const char *name, const char *v,
                            const char **why, int *unsupported)
{
    const char *s;

    if (!strcmp(type, EOB) && !strcmp(name, "type"))
        return claim_type_of(p, v, why);
    if (!strcmp(type, EOB) && !strcmp(name, "service-date"))
        return service_date_of(p, v, why, unsupported);
    if (!(s = word_in(coverage_statuses, v, 0)))
        *why = apr_psprintf(p, "status %s is not a Coverage status (active, cancelled, "
                            "draft, entered-in-error)", dpc_utf8_clean(p, v));
    return s;
}

/* Take name=value into query q of type; NULL, or why not. */
static const char *take_param(apr_pool_t *p, const char *type, json_t *q, const char *name,
                              const char *value, int *unsupported)
{
    json_t *list = json_array(), *all;
    char *copy = apr_pstrdup(p, value), *v, *state = NULL;
    const char *why = NULL, *n;

    *unsupported = 0;
    if (!((!strcmp(type, EOB) && (!strcmp(name, "type") || !strcmp(name, "service-date")))
          || (!strcmp(type, "Coverage") && !strcmp(name, "status")))) {
        json_decref(list);
        *unsupported = 1;
        return apr_psprintf(p, "%s?%s is not a filter this server has (" SUPPORTED ")",
                            type, dpc_utf8_clean(p, name));
    }
    for (v = apr_strtok(copy, ",", &state); v && !why; v = apr_strtok(NULL, ",", &state))
        if ((n = value_of(p, type, name, v, &why, unsupported)) != NULL)
            json_array_append_new(list, json_string(n));
    if (!why && !json_array_size(list))
        why = apr_psprintf(p, "%s has no value", dpc_utf8_clean(p, name));
    if (why) {
        json_decref(list);
        return why;
    }
    if (!(all = json_object_get(q, name)))
        json_object_set_new(q, name, all = json_array());
    json_array_append_new(all, list);
    return NULL;
}

/* A refusal (NULL under lenient, after the note). */
static const char *drop(dpc_type_filter *f, const char *query, const char *why, int lenient,
                        apr_array_header_t *notes)
{
    const char *q = dpc_utf8_clean(f->p, query);

    if (!lenient)
        return apr_psprintf(f->p, "_typeFilter %s: %s", q, why);
    APR_ARRAY_PUSH(notes, const char *) = apr_psprintf(f->p, "_typeFilter=%s (%s)", q, why);
    return NULL;
}

/* Each name=value of a query's text into q; NULL, or the refusal. */
static const char *take_params(dpc_type_filter *f, const char *query, const char *type,
                               char *params, json_t *q, int lenient,
                               apr_array_header_t *notes, int *unsupported)
{
    char *item, *state = NULL, *eq, *name, *value;
    const char *why;

    for (item = apr_strtok(params, "&", &state); item; item = apr_strtok(NULL, "&", &state)) {
        *unsupported = 0;
        eq = strchr(item, '=');
        name = pct_decode(f->p, item, eq ? (size_t)(eq - item) : strlen(item));
        value = eq ? pct_decode(f->p, eq + 1, strlen(eq + 1)) : NULL;
        if (!name || !eq || !value)
            why = apr_psprintf(f->p, "%s is not name=value", dpc_utf8_clean(f->p, item));
        else
            why = take_param(f->p, type, q, name, value, unsupported);
        if (why && (why = drop(f, query, why, lenient, notes)) != NULL)
            return why;
    }
    return NULL;
}

/* One query of the value. */
static const char *take_query(dpc_type_filter *f, const char *query, int lenient,
                              apr_array_header_t *notes, int *unsupported)
{
    const char *qm, *type, *why;
    json_t *q, *list;

    *unsupported = 0;
    /* encoded once more by the client: decoded here, once */
    if (!strchr(query, '?') && query_starts(query) && (type = pct_decode(f->p, query,
                                                                         strlen(query))))
        query = type;
    qm = strchr(query, '?');
    type = qm ? apr_pstrmemdup(f->p, query, (apr_size_t)(qm - query)) : NULL;
    if (!type)
        return drop(f, query, "not a query (Type?name=value)", lenient, notes);
    if (!dpc_export_type_exported(type)) {
        *unsupported = 1;
        return drop(f, query, apr_psprintf(f->p, "%s is not a type this server exports",
                                           dpc_utf8_clean(f->p, type)), lenient, notes);
    }
    q = json_object();
    if ((why = take_params(f, query, type, apr_pstrdup(f->p, qm + 1), q, lenient, notes,
                           unsupported)) != NULL) {
        json_decref(q);
        return why;
    }
    if (!(list = json_object_get(f->root, type)))
        json_object_set_new(f->root, type, list = json_array());
    json_array_append_new(list, q);
    return NULL;
}

const char *dpc_type_filter_take(dpc_type_filter *f, const char *value, int lenient,
                                 apr_array_header_t *notes, int *unsupported)
{
    apr_array_header_t *queries = split_queries(f->p, value);
    const char *why;
    int i;

    *unsupported = 0;
    for (i = 0; i < queries->nelts; i++) {
        const char *query = APR_ARRAY_IDX(queries, i, char *);

        if (!*query)
            continue;       /* "a,,b" or a trailing comma */
        if ((why = take_query(f, query, lenient, notes, unsupported)) != NULL)
            return why;
    }
    return NULL;
}

const char *dpc_type_filter_settle(dpc_type_filter *f, const apr_array_header_t *types,
                                   int lenient, apr_array_header_t *notes)
{
    const char *type, *why;
    void *iter = json_object_iter(f->root);
    int i, found;

    while (iter) {
        type = json_object_iter_key(iter);
        iter = json_object_iter_next(f->root, iter);
        for (i = found = 0; i < types->nelts && !found; i++)
            found = !strcmp(APR_ARRAY_IDX(types, i, const char *), type);
        if (found)
            continue;
        why = apr_psprintf(f->p, "%s is not among the types this export writes (_type)",
                           type);
        if (!lenient)
            return apr_psprintf(f->p, "_typeFilter %s?...: %s", type, why);
        APR_ARRAY_PUSH(notes, const char *) = apr_psprintf(f->p, "_typeFilter=%s?... (%s)",
                                                           type, why);
        json_object_del(f->root, type);
    }
    return NULL;
}

const char *dpc_type_filter_json(apr_pool_t *p, const dpc_type_filter *f)
{
    if (!json_object_size(f->root))
        return NULL;
    return dpc_json_pdump(p, f->root);
}

/* ---- the worker's SQL ----------------------------------------------------- */

/* One value's condition, or NULL when the value is not one we write. */
static const char *value_sql(apr_pool_t *p, const char *type, const char *name,
                             const char *v)
{
    int op;

    if (!v)
        return NULL;
    if (!strcmp(type, EOB) && !strcmp(name, "type") && word_in(claim_types, v, 0))
        return apr_psprintf(p, "r.claim_type = '%s'", v);
    if (!strcmp(type, "Coverage") && !strcmp(name, "status") && word_in(coverage_statuses, v, 0))
        return apr_psprintf(p, "r.coverage_status = '%s'", v);
    if (!strcmp(type, EOB) && !strcmp(name, "service-date") && (op = date_op(v)) >= 0)
        return apr_psprintf(p, date_ops[op].sql, v + 2, v + 2);
    return NULL;
}

/* A parameter's value lists: (a OR b) AND (c) ...; NULL when malformed. */
static const char *param_sql(apr_pool_t *p, const char *type, const char *name,
                             const json_t *lists)
{
    const char *out = NULL, *c, *one;
    const json_t *list, *v;
    size_t i, j;

    if (!json_is_array(lists) || !json_array_size(lists))
        return NULL;
    json_array_foreach(lists, i, list) {
        if (!json_is_array(list) || !json_array_size(list))
            return NULL;
        one = NULL;
        json_array_foreach(list, j, v) {
            if (!(c = value_sql(p, type, name, json_string_value(v))))
                return NULL;
            one = one ? apr_pstrcat(p, one, " OR ", c, NULL) : c;
        }
        one = apr_pstrcat(p, "(", one, ")", NULL);
        out = out ? apr_pstrcat(p, out, " AND ", one, NULL) : one;
    }
    return out;
}

/* One query: its parameters ANDed ("TRUE" when it has none). */
static const char *query_sql(apr_pool_t *p, const char *type, const json_t *q)
{
    const char *out = NULL, *name, *c;
    const json_t *lists;

    if (!json_is_object(q))
        return NULL;
    json_object_foreach((json_t *)q, name, lists) {
        if (!(c = param_sql(p, type, name, lists)))
            return NULL;
        out = out ? apr_pstrcat(p, out, " AND ", c, NULL) : c;
    }
    return apr_pstrcat(p, "(", out ? out : "TRUE", ")", NULL);
}

const char *dpc_type_filter_sql(apr_pool_t *p, const char *json, const char *select)
{
    json_t *root, *queries, *q;
    const char *parts = "", *types = NULL, *type, *one, *c;
    size_t i;

    if (!json || !*json)
        return select;
    root = dpc_json_pool(p, json_loads(json, 0, NULL));
    if (!json_is_object(root))
        return NULL;
    json_object_foreach(root, type, queries) {
        if (!dpc_export_type_exported(type) || !json_is_array(queries)
            || !json_array_size(queries))
            return NULL;
        one = NULL;
        json_array_foreach(queries, i, q) {
            if (!(c = query_sql(p, type, q)))
                return NULL;
            one = one ? apr_pstrcat(p, one, " OR ", c, NULL) : c;
        }
        parts = apr_psprintf(p, "%s UNION ALL %s AND r.resource_type = '%s' AND (%s)", parts,
                             select, type, one);
        types = types ? apr_pstrcat(p, types, ",", type, NULL) : type;
    }
    if (!types)
        return select;
    return apr_psprintf(p, "%s AND r.resource_type <> ALL ('{%s}')%s", select, types, parts);
}
