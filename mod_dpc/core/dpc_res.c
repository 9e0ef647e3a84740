/* dpc_res.c: see dpc_res.h. */
#include "dpc_res.h"
#include "dpc_fhir.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>

/* ---- reporting and reading ----------------------------------------------- */

void dpc_issue(apr_pool_t *p, json_t *oo, const char *code, const char *expr,
               const char *fmt, ...)
{
    va_list ap;
    const char *msg;

    va_start(ap, fmt);
    msg = apr_pvsprintf(p, fmt, ap);
    va_end(ap);
    dpc_oo_add(oo, "error", code, msg, expr);
}

size_t dpc_issue_count(const json_t *oo)
{
    return oo ? json_array_size(json_object_get(oo, "issue")) : 0;
}

int dpc_res_load(apr_pool_t *p, const char *text, apr_size_t len, const char *what,
                 json_t *oo, json_t **out)
{
    json_error_t err;
    json_t *v;

    *out = NULL;
    v = dpc_json_pool(p, json_loadb(text ? text : "", text ? len : 0,
                                    JSON_REJECT_DUPLICATES, &err));
    if (!v) {
        dpc_issue(p, oo, DPC_ISSUE_STRUCTURE, NULL,
                  "%s: not valid JSON: %s (line %d, column %d)", what, err.text,
                  err.line, err.column);
        return -1;
    }
    if (!json_is_object(v)) {
        dpc_issue(p, oo, DPC_ISSUE_STRUCTURE, NULL,
                  "%s: must be a JSON object (a FHIR resource)", what);
        return -1;
    }
    *out = v;
    return 0;
}

const char *dpc_jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* strcmp for values that may be missing: NULL equals nothing. */
static int streq(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

int dpc_sys_is_mbi(const char *s)
{
    return streq(s, DPC_SYS_MBI) || streq(s, DPC_SYS_MBI_BB);
}

static int sys_is_npi(const char *s)
{
    return streq(s, DPC_SYS_NPI);
}

/* FHIR forbids empty strings; a value of blanks is as good as missing for
 * a name. */
static int blank(const char *s)
{
    if (!s)
        return 1;
    while (apr_isspace(*s))
        s++;
    return *s == '\0';
}

/* One place in a resource being checked: where issues go and what their
 * expressions start with. */
typedef struct chk {
    apr_pool_t *p;
    json_t *oo;
    const char *where;
} chk;

static void vissue_at(apr_pool_t *p, json_t *oo, const char *code, const char *expr,
                      const char *fmt, va_list ap)
{
    const char *msg = apr_pvsprintf(p, fmt, ap);

    dpc_oo_add(oo, "error", code, expr ? apr_pstrcat(p, expr, ": ", msg, NULL) : msg, expr);
}

void dpc_issue_at(apr_pool_t *p, json_t *oo, const char *code, const char *expr,
                  const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vissue_at(p, oo, code, expr, fmt, ap);
    va_end(ap);
}

/* Report at where + suffix. */
static void bad(const chk *c, const char *code, const char *suffix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void bad(const chk *c, const char *code, const char *suffix, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vissue_at(c->p, c->oo, code, apr_pstrcat(c->p, c->where, suffix, NULL), fmt, ap);
    va_end(ap);
}

static int check_resource_type(const chk *c, const json_t *res, const char *type)
{
    const char *rt;

    if (!json_is_object(res)) {
        bad(c, DPC_ISSUE_STRUCTURE, "", "must be a JSON object (a FHIR %s resource)", type);
        return -1;
    }
    rt = dpc_jstr(res, "resourceType");
    if (!rt) {
        bad(c, DPC_ISSUE_REQUIRED, ".resourceType", "is required and must be \"%s\"", type);
        return -1;
    }
    if (strcmp(rt, type)) {
        bad(c, DPC_ISSUE_VALUE, ".resourceType", "must be \"%s\", not \"%s\"", type, rt);
        return -1;
    }
    return 0;
}

/* Find the value of the identifiers whose system satisfies sys_ok.  Several
 * such identifiers may only repeat one value.  0 with *value (NULL when
 * there is none) and *at (its index), or -1 after reporting. */
static int find_identifier(const chk *c, const json_t *res, int (*sys_ok)(const char *),
                           const char *label, const char **value, int *at)
{
    const json_t *ids = json_object_get(res, "identifier"), *id;
    size_t i;
    int rv = 0;

    *value = NULL;
    *at = 0;
    if (!ids)
        return 0;
    if (!json_is_array(ids)) {
        bad(c, DPC_ISSUE_STRUCTURE, ".identifier", "must be an array of Identifier");
        return -1;
    }
    json_array_foreach(ids, i, id) {
        const char *v, *sfx = apr_psprintf(c->p, ".identifier[%d]", (int)i);

        if (!json_is_object(id)) {
            bad(c, DPC_ISSUE_STRUCTURE, sfx, "must be an Identifier object");
            rv = -1;
            continue;
        }
        if (!sys_ok(dpc_jstr(id, "system")))
            continue;
        v = dpc_jstr(id, "value");
        if (blank(v)) {
            bad(c, DPC_ISSUE_REQUIRED, apr_pstrcat(c->p, sfx, ".value", NULL),
                "the %s identifier has no value", label);
            rv = -1;
        }
        else if (!*value) {
            *value = v;
            *at = (int)i;
        }
        else if (strcmp(*value, v)) {
            bad(c, DPC_ISSUE_VALUE, sfx, "a second, different %s (%s, and %s in "
                "identifier[%d]): a resource has one", label, v, *value, *at);
            rv = -1;
        }
    }
    return rv;
}

/* The first name with a family and a given name; if none has both, report
 * what the first one lacks. */
static int check_name(const chk *c, const json_t *res, const char **family,
                      const char **given)
{
    const json_t *names = json_object_get(res, "name"), *n;
    size_t i;

    if (!names || (json_is_array(names) && !json_array_size(names))) {
        bad(c, DPC_ISSUE_REQUIRED, ".name", "a name with family and given is required");
        return -1;
    }
    if (!json_is_array(names)) {
        bad(c, DPC_ISSUE_STRUCTURE, ".name", "must be an array of HumanName");
        return -1;
    }
    json_array_foreach(names, i, n) {
        const char *f = dpc_jstr(n, "family");
        const char *g = json_string_value(json_array_get(json_object_get(n, "given"), 0));

        if (!blank(f) && !blank(g)) {
            *family = apr_pstrdup(c->p, f);
            *given = apr_pstrdup(c->p, g);
            return 0;
        }
    }
    n = json_array_get(names, 0);
    if (!json_is_object(n)) {
        bad(c, DPC_ISSUE_STRUCTURE, ".name[0]", "must be a HumanName object");
        return -1;
    }
    if (blank(dpc_jstr(n, "family")))
        bad(c, DPC_ISSUE_REQUIRED, ".name[0].family", "the family name is required");
    if (blank(json_string_value(json_array_get(json_object_get(n, "given"), 0))))
        bad(c, DPC_ISSUE_REQUIRED, ".name[0].given",
            "at least one given name is required (an array of strings)");
    return -1;
}

/* The stored form: the resource without what the server owns (id,
 * meta.lastUpdated, meta.versionId).  Shallow copies, so the input is not
 * changed and nothing deep is duplicated. */
static const char *stored_form(apr_pool_t *p, const json_t *res)
{
    json_t *copy = json_copy((json_t *)res);
    json_t *meta = json_object_get(copy, "meta");

    json_object_del(copy, "id");
    if (json_is_object(meta)) {
        meta = json_copy(meta);
        json_object_del(meta, "lastUpdated");
        json_object_del(meta, "versionId");
        if (json_object_size(meta))
            json_object_set_new(copy, "meta", meta);
        else {
            json_decref(meta);
            json_object_del(copy, "meta");
        }
    }
    return dpc_json_pdump_decref(p, copy);
}

/* ---- Practitioner ---------------------------------------------------------- */

static int practitioner_check(const chk *c, const json_t *res, dpc_practitioner **out)
{
    dpc_practitioner *pr = apr_pcalloc(c->p, sizeof(*pr));
    size_t before = dpc_issue_count(c->oo);
    const char *npi;
    int at;

    if (check_resource_type(c, res, "Practitioner"))
        return -1;
    if (!find_identifier(c, res, sys_is_npi, "NPI", &npi, &at)) {
        if (!npi)
            bad(c, DPC_ISSUE_REQUIRED, ".identifier",
                "an identifier with system " DPC_SYS_NPI " and the provider's NPI "
                "is required");
        else if (!dpc_npi_accept(c->p, npi))
            bad(c, DPC_ISSUE_VALUE, apr_psprintf(c->p, ".identifier[%d].value", at),
                "\"%s\" is not a valid NPI (10 digits with a correct check digit)",
                npi);
        else
            pr->npi = apr_pstrdup(c->p, npi);
    }
    check_name(c, res, &pr->family, &pr->given);
    if (dpc_issue_count(c->oo) != before)
        return -1;
    pr->json = stored_form(c->p, res);
    *out = pr;
    return 0;
}

int dpc_practitioner_check(apr_pool_t *p, const json_t *res, const char *where,
                           json_t *oo, dpc_practitioner **out)
{
    chk c = { p, oo, where ? where : "Practitioner" };

    return practitioner_check(&c, res, out);
}

/* ---- Patient ---------------------------------------------------------------- */

static int days_in_month(int y, int m)
{
    static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Does s match the digit/dash pattern pat ('9' a digit, others literal)? */
static int shaped(const char *s, const char *pat)
{
    for (; *pat; s++, pat++) {
        if (*pat == '9' ? !apr_isdigit(*s) : *s != *pat)
            return 0;
    }
    return *s == '\0';
}

int dpc_birth_date_check(const char *s, apr_time_t now, const char **why)
{
    apr_time_exp_t tm;
    char today[16];
    int y, m, d;

    *why = NULL;
    if (!s || shaped(s, "9999") || shaped(s, "9999-99")) {
        *why = "must be a full date (YYYY-MM-DD), not only a year or a month";
        return -1;
    }
    if (!shaped(s, "9999-99-99")) {
        *why = "must be a FHIR date, YYYY-MM-DD";
        return -1;
    }
    y = atoi(s);
    m = atoi(s + 5);
    d = atoi(s + 8);
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) {
        *why = "names a day that does not exist";
        return -1;
    }
    /* Fixed-width dates compare as strings. */
    apr_time_exp_gmt(&tm, now);
    apr_snprintf(today, sizeof(today), "%04d-%02d-%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday);
    if (strcmp(s, today) > 0) {
        *why = "is in the future";
        return -1;
    }
    return 0;
}

static const char *const genders[] = { "male", "female", "other", "unknown", NULL };

static int gender_known(const char *g)
{
    int i;

    for (i = 0; genders[i]; i++) {
        if (!strcmp(g, genders[i]))
            return 1;
    }
    return 0;
}

static void patient_mbi(const chk *c, const json_t *res, dpc_patient *pt)
{
    char norm[DPC_MBI_LEN + 1];
    const char *mbi;
    int at;

    if (find_identifier(c, res, dpc_sys_is_mbi, "MBI", &mbi, &at))
        return;
    if (!mbi)
        bad(c, DPC_ISSUE_REQUIRED, ".identifier",
            "an identifier with system " DPC_SYS_MBI " and the patient's Medicare "
            "Beneficiary Identifier (MBI) is required");
    else if (!dpc_mbi_accept(c->p, mbi, norm))
        bad(c, DPC_ISSUE_VALUE, apr_psprintf(c->p, ".identifier[%d].value", at),
            "\"%s\" is not a valid MBI (11 characters, e.g. 1EG4-TE5-MK73)", mbi);
    else
        pt->mbi = apr_pstrdup(c->p, norm);
}

static void patient_birth_gender(const chk *c, const json_t *res, apr_time_t now,
                                 dpc_patient *pt)
{
    const json_t *bd = json_object_get(res, "birthDate"), *g = json_object_get(res, "gender");
    const char *why;

    if (!bd)
        bad(c, DPC_ISSUE_REQUIRED, ".birthDate", "the birth date is required (YYYY-MM-DD)");
    else if (!json_is_string(bd))
        bad(c, DPC_ISSUE_STRUCTURE, ".birthDate", "must be a string (YYYY-MM-DD)");
    else if (dpc_birth_date_check(json_string_value(bd), now, &why))
        bad(c, DPC_ISSUE_VALUE, ".birthDate", "\"%s\" %s", json_string_value(bd), why);
    else
        pt->birth_date = apr_pstrdup(c->p, json_string_value(bd));
    if (!g)
        return;
    if (!json_is_string(g) || !gender_known(json_string_value(g)))
        bad(c, DPC_ISSUE_VALUE, ".gender", "must be one of male, female, other, unknown");
    else
        pt->gender = apr_pstrdup(c->p, json_string_value(g));
}

static int patient_check(const chk *c, const json_t *res, apr_time_t now, dpc_patient **out)
{
    dpc_patient *pt = apr_pcalloc(c->p, sizeof(*pt));
    size_t before = dpc_issue_count(c->oo);

    if (check_resource_type(c, res, "Patient"))
        return -1;
    patient_mbi(c, res, pt);
    check_name(c, res, &pt->family, &pt->given);
    patient_birth_gender(c, res, now, pt);
    if (dpc_issue_count(c->oo) != before)
        return -1;
    pt->json = stored_form(c->p, res);
    *out = pt;
    return 0;
}

int dpc_patient_check(apr_pool_t *p, const json_t *res, const char *where,
                      apr_time_t now, json_t *oo, dpc_patient **out)
{
    chk c = { p, oo, where ? where : "Patient" };

    return patient_check(&c, res, now, out);
}

/* ---- Parameters ------------------------------------------------------------- */

/* Is key the name of a value[x] element ("valueString", not "_valueString"
 * nor "values")? */
static int is_value_key(const char *key)
{
    return !strncmp(key, "value", 5) && apr_isupper(key[5]);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "a", "a and b", "a, b and c". */
static const char *and_list(apr_pool_t *p, const apr_array_header_t *a)
{
    const char *s = "";
    int i;

    for (i = 0; i < a->nelts; i++)
        s = apr_pstrcat(p, s, i == 0 ? "" : i == a->nelts - 1 ? " and " : ", ",
                        APR_ARRAY_IDX(a, i, const char *), NULL);
    return s;
}

/* Entry i of parameter into *e; 0, or -1 after one issue at its place. */
static int param_entry(apr_pool_t *p, const json_t *entry, size_t i, json_t *oo,
                       dpc_param *e)
{
    const char *where = apr_psprintf(p, "Parameters.parameter[%d]", (int)i), *key;
    apr_array_header_t *values = apr_array_make(p, 2, sizeof(const char *)),
                       *kinds = apr_array_make(p, 3, sizeof(const char *));
    json_t *v;

    if (!json_is_object(entry)) {
        dpc_issue_at(p, oo, DPC_ISSUE_STRUCTURE, where, "must be an object with a name "
                     "and a value[x]");
        return -1;
    }
    if (!(e->name = dpc_jstr(entry, "name"))) {
        dpc_issue_at(p, oo, DPC_ISSUE_STRUCTURE, where, "needs a name (a string)");
        return -1;
    }
    json_object_foreach((json_t *)entry, key, v)
        if (is_value_key(key)) {
            APR_ARRAY_PUSH(values, const char *) = key;
            e->value_key = key;
            e->value = v;
        }
    qsort(values->elts, values->nelts, sizeof(const char *), cmp_str);
    if (values->nelts > 1) {
        dpc_issue_at(p, oo, DPC_ISSUE_STRUCTURE, where, "the parameter %s has more than "
                     "one value[x]: %s", e->name, and_list(p, values));
        return -1;
    }
    e->resource = json_object_get(entry, "resource");
    e->part = json_object_get(entry, "part");
    if (values->nelts)
        APR_ARRAY_PUSH(kinds, const char *) = e->value_key;
    if (e->resource)
        APR_ARRAY_PUSH(kinds, const char *) = "resource";
    if (e->part)
        APR_ARRAY_PUSH(kinds, const char *) = "part";
    if (kinds->nelts != 1) {
        dpc_issue_at(p, oo, DPC_ISSUE_STRUCTURE, where, "the parameter %s must have one "
                     "of value[x], resource or part, %s%s", e->name,
                     kinds->nelts ? "not " : "and has none", and_list(p, kinds));
        return -1;
    }
    if ((e->resource && !json_is_object(e->resource)) || (e->part && !json_is_array(e->part))) {
        dpc_issue_at(p, oo, DPC_ISSUE_STRUCTURE, where, "the parameter %s: %s", e->name,
                     e->resource ? "resource must be an object" : "part must be an array");
        return -1;
    }
    return 0;
}

int dpc_params_read(apr_pool_t *p, const json_t *body, json_t *oo, dpc_param **out)
{
    const json_t *params = json_object_get(body, "parameter");
    size_t i, n = json_array_size(params);
    int bad = 0;

    *out = NULL;
    if (!json_is_object(body) || !streq(dpc_jstr(body, "resourceType"), "Parameters")) {
        dpc_issue_at(p, oo, DPC_ISSUE_STRUCTURE, "Parameters", "the body must be a FHIR "
                     "Parameters resource (resourceType \"Parameters\")");
        return -1;
    }
    if (params && !json_is_array(params)) {
        dpc_issue_at(p, oo, DPC_ISSUE_STRUCTURE, "Parameters.parameter", "must be an array "
                     "of parameters");
        return -1;
    }
    *out = apr_pcalloc(p, (n ? n : 1) * sizeof(dpc_param));
    for (i = 0; i < n; i++)
        bad |= param_entry(p, json_array_get(params, i), i, oo, &(*out)[i]);
    return bad ? -1 : (int)n;
}

/* ---- $submit ---------------------------------------------------------------- */

/* Parameters{parameter: [{name: "resource", resource: R}]} gives R; so does
 * the bare {"resource": R} the v1 guide's fragments suggest; any other
 * object is taken to be the resource itself (its checker judges
 * resourceType). */
static const json_t *unwrap_parameters(const chk *c, const json_t *body, const char *type)
{
    dpc_param *params;
    int n;

    if (!json_is_object(body)) {
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_STRUCTURE, type, "must be a JSON object (a FHIR "
                     "%s resource)", type);
        return NULL;
    }
    if (!json_object_get(body, "resourceType") && json_object_size(body) == 1
        && json_is_object(json_object_get(body, "resource")))
        return json_object_get(body, "resource");
    if (!streq(dpc_jstr(body, "resourceType"), "Parameters"))
        return body;
    if ((n = dpc_params_read(c->p, body, c->oo, &params)) < 0)
        return NULL;
    if (n != 1 || strcmp(params[0].name, "resource") || !params[0].resource) {
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_STRUCTURE, "Parameters.parameter",
                     "must hold exactly one parameter, named \"resource\", whose "
                     "resource is the %s", type);
        return NULL;
    }
    return params[0].resource;
}

const json_t *dpc_res_unwrap(apr_pool_t *p, const json_t *body, const char *type, json_t *oo)
{
    chk c = { p, oo, type };

    return unwrap_parameters(&c, body, type);
}

static int check_bundle_frame(const chk *c, const json_t *bundle, int max_entries)
{
    const json_t *entries = json_object_get(bundle, "entry");
    const char *type = dpc_jstr(bundle, "type");
    int rv = 0;

    if (check_resource_type(c, bundle, "Bundle"))
        return -1;
    if (!type) {
        bad(c, DPC_ISSUE_REQUIRED, ".type", "is required: collection or batch");
        rv = -1;
    }
    else if (strcmp(type, "collection") && strcmp(type, "batch")) {
        bad(c, DPC_ISSUE_VALUE, ".type", "must be collection or batch, not \"%s\"", type);
        rv = -1;
    }
    if (!json_is_array(entries) || !json_array_size(entries)) {
        bad(c, DPC_ISSUE_REQUIRED, ".entry", "at least one entry is required");
        return -1;
    }
    if (json_array_size(entries) > (size_t)(max_entries > 0 ? max_entries : 0)) {
        bad(c, DPC_ISSUE_TOO_COSTLY, ".entry", "at most %d entries may be submitted at "
            "once; this Bundle has %d", max_entries, (int)json_array_size(entries));
        return -1;
    }
    return rv;
}

/* Remember key (an NPI or MBI) for entry i; report it if an earlier entry
 * had it. */
static void check_unique(const chk *c, apr_hash_t *seen, const char *label,
                         const char *key, int i)
{
    const int *first = apr_hash_get(seen, key, APR_HASH_KEY_STRING);
    int *at;

    if (first) {
        bad(c, DPC_ISSUE_DUPLICATE, ".identifier", "%s %s is also in Bundle.entry[%d]: "
            "each may be submitted once", label, key, *first);
        return;
    }
    at = apr_palloc(c->p, sizeof(*at));
    *at = i;
    apr_hash_set(seen, key, APR_HASH_KEY_STRING, at);
}

static void submit_entry(const chk *bc, const json_t *entry, int i, dpc_res_type_e type,
                         apr_time_t now, apr_hash_t *seen, dpc_submit *s)
{
    chk c = { bc->p, bc->oo, apr_psprintf(bc->p, "Bundle.entry[%d]", i) };
    const json_t *res = json_object_get(entry, "resource");

    if (!json_is_object(entry)) {
        bad(&c, DPC_ISSUE_STRUCTURE, "", "must be an object with a resource");
        return;
    }
    if (!res) {
        bad(&c, DPC_ISSUE_REQUIRED, ".resource", "is required: the %s to register",
            type == DPC_RES_PATIENT ? "Patient" : "Practitioner");
        return;
    }
    c.where = apr_pstrcat(c.p, c.where, ".resource", NULL);
    if (type == DPC_RES_PATIENT) {
        dpc_patient *pt;

        if (!patient_check(&c, res, now, &pt)) {
            s->patients[i] = pt;
            check_unique(&c, seen, "MBI", pt->mbi, i);
        }
    }
    else {
        dpc_practitioner *pr;

        if (!practitioner_check(&c, res, &pr)) {
            s->practitioners[i] = pr;
            check_unique(&c, seen, "NPI", pr->npi, i);
        }
    }
}

int dpc_submit_check(apr_pool_t *p, const json_t *body, dpc_res_type_e type,
                     int max_entries, apr_time_t now, json_t *oo, dpc_submit **out)
{
    chk c = { p, oo, "Bundle" };
    size_t before = dpc_issue_count(oo), i;
    const json_t *bundle, *entries, *entry;
    apr_hash_t *seen = apr_hash_make(p);
    dpc_submit *s;

    if (!(bundle = unwrap_parameters(&c, body, "Bundle"))
        || check_bundle_frame(&c, bundle, max_entries))
        return -1;
    entries = json_object_get(bundle, "entry");
    s = apr_pcalloc(p, sizeof(*s));
    s->type = type;
    s->n = (int)json_array_size(entries);
    if (type == DPC_RES_PATIENT)
        s->patients = apr_pcalloc(p, s->n * sizeof(*s->patients));
    else
        s->practitioners = apr_pcalloc(p, s->n * sizeof(*s->practitioners));
    json_array_foreach(entries, i, entry)
        submit_entry(&c, entry, (int)i, type, now, seen, s);
    if (dpc_issue_count(oo) != before)
        return -1;
    *out = s;
    return 0;
}

/* ---- output ------------------------------------------------------------------ */

json_t *dpc_res_output(apr_pool_t *p, const char *stored, apr_size_t len,
                       const char *id, apr_time_t last_updated,
                       const char *version_id)
{
    json_t *in = stored ? json_loadb(stored, len, 0, NULL) : NULL;
    json_t *out, *meta, *v;
    const char *key;

    if (!json_is_object(in)) {
        json_decref(in);
        return NULL;
    }
    /* resourceType, id and meta first, as FHIR servers usually write them;
     * the rest in stored order. */
    out = json_object();
    if ((v = json_object_get(in, "resourceType")))
        json_object_set(out, "resourceType", v);
    if (id)
        json_object_set_new(out, "id", json_string(id));
    meta = json_is_object(json_object_get(in, "meta")) ?
        json_copy(json_object_get(in, "meta")) : json_object();
    json_object_set_new(meta, "lastUpdated",
                        json_string(dpc_instant_format(p, last_updated)));
    if (version_id)
        json_object_set_new(meta, "versionId", json_string(version_id));
    json_object_set_new(out, "meta", meta);
    json_object_foreach(in, key, v) {
        if (!json_object_get(out, key))
            json_object_set(out, key, v);
    }
    json_decref(in);
    return out;
}
