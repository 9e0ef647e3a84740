/* dpc_load.c: see dpc_load.h. */
#include "dpc_load.h"

#include <string.h>

#include <apr_strings.h>

#include "dpc_fhir.h"
#include "dpc_mbi.h"

int dpc_load_id_valid(const char *s)
{
    size_t n = 0;

    for (; s && *s; s++, n++) {
        char c = *s;

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '-' || c == '.'))
            return 0;
    }
    return n >= 1 && n <= 64;
}

static const char *str_at(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The identifier-currency code among an extension array, or NULL. */
static const char *currency_in(const json_t *exts)
{
    size_t i;
    json_t *e;

    json_array_foreach(exts, i, e) {
        const char *url = str_at(e, "url");

        if (url && !strcmp(url, DPC_LOAD_CURRENCY_URL))
            return str_at(json_object_get(e, "valueCoding"), "code");
    }
    return NULL;
}

/* "current", "historic", ... or NULL when the identifier has no mark: on
 * the identifier (STU3) or on a coding of its type (R4). */
static const char *currency(const json_t *ident)
{
    const char *c = currency_in(json_object_get(ident, "extension"));
    json_t *coding;
    size_t i;

    json_array_foreach(json_object_get(json_object_get(ident, "type"), "coding"), i, coding) {
        if (!c)
            c = currency_in(json_object_get(coding, "extension"));
    }
    return c;
}

const char *dpc_load_patient_mbi(const json_t *patient, const char **invalid)
{
    const char *current = NULL, *unmarked = NULL, *v;
    json_t *ident;
    size_t i;

    json_array_foreach(json_object_get(patient, "identifier"), i, ident) {
        const char *sys = str_at(ident, "system"), *cur;

        if (!sys || strcmp(sys, DPC_LOAD_MBI_SYSTEM) || !(v = str_at(ident, "value")))
            continue;
        cur = currency(ident);
        if (cur && !strcmp(cur, "current") && !current)
            current = v;
        else if (!cur && !unmarked)
            unmarked = v;
    }
    v = current ? current : unmarked;
    *invalid = v && !dpc_mbi_valid(v) ? v : NULL;
    return v && !*invalid ? v : NULL;
}

static int patient_version(const json_t *r)
{
    json_t *ident;
    size_t i;

    json_array_foreach(json_object_get(r, "identifier"), i, ident) {
        if (json_object_get(ident, "type"))
            return 4;
    }
    return json_array_size(json_object_get(r, "identifier")) ? 3 : 0;
}

int dpc_load_version(const json_t *r)
{
    const char *type = str_at(r, "resourceType");
    json_t *v;

    if (!type)
        return 0;
    if (!strcmp(type, "ExplanationOfBenefit")) {
        v = json_object_get(r, "insurance");
        return json_is_array(v) ? 4 : json_is_object(v) ? 3 : 0;
    }
    if (!strcmp(type, "Coverage"))
        return json_object_get(r, "class") ? 4 : json_object_get(r, "grouping") ? 3 : 0;
    if (!strcmp(type, "Patient"))
        return patient_version(r);
    return 0;
}

/* The bene id of a "Patient/<id>" reference at r.key.reference, or NULL
 * with *why set. */
static const char *patient_ref(apr_pool_t *p, const json_t *r, const char *key,
                               const char **why)
{
    const char *ref = str_at(json_object_get(r, key), "reference");

    if (!ref) {
        *why = apr_psprintf(p, "no %s.reference to its Patient", key);
        return NULL;
    }
    if (strncmp(ref, "Patient/", 8) || !dpc_load_id_valid(ref + 8)) {
        *why = apr_psprintf(p, "%s.reference \"%s\" is not Patient/<id>", key,
                            dpc_utf8_clean(p, ref));
        return NULL;
    }
    return ref + 8;
}

static const char *check_updated(apr_pool_t *p, const json_t *r, dpc_load_res *out)
{
    const char *lu = str_at(json_object_get(r, "meta"), "lastUpdated"), *why;
    apr_time_t t;

    if (!lu)
        return "no meta.lastUpdated";
    if (!strcmp(lu, DPC_LOAD_PLACEHOLDER)) {
        out->placeholder = 1;
        return NULL;
    }
    if (dpc_instant_parse(lu, &t, &why))
        return apr_psprintf(p, "meta.lastUpdated \"%s\" is not a FHIR instant: %s",
                            dpc_utf8_clean(p, lu), why);
    out->last_updated_us = t;
    return NULL;
}

static const char *check_type(apr_pool_t *p, const json_t *r, dpc_load_res *out)
{
    const char *type = str_at(r, "resourceType");

    if (!type)
        return "no resourceType";
    if (strcmp(type, "Patient") && strcmp(type, "Coverage")
        && strcmp(type, "ExplanationOfBenefit"))
        return apr_psprintf(p, "resourceType \"%s\" is not Patient, Coverage or "
                            "ExplanationOfBenefit", dpc_utf8_clean(p, type));
    out->type = type;
    out->id = str_at(r, "id");
    if (!out->id)
        return "no id";
    if (!dpc_load_id_valid(out->id))
        return apr_psprintf(p, "id \"%s\" is not a FHIR id", dpc_utf8_clean(p, out->id));
    return NULL;
}

static const char *check_bene(apr_pool_t *p, const json_t *r, dpc_load_res *out)
{
    const char *why = NULL;

    if (!strcmp(out->type, "Patient")) {
        out->bene_id = out->id;
        out->mbi = dpc_load_patient_mbi(r, &out->mbi_invalid);
        return NULL;
    }
    out->bene_id = patient_ref(p, r, !strcmp(out->type, "Coverage") ? "beneficiary"
                               : "patient", &why);
    return why;
}

const char *dpc_load_check(apr_pool_t *p, const json_t *r, int version,
                           dpc_load_res *out)
{
    const char *why;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(r))
        return "not a JSON object";
    if ((why = check_type(p, r, out)) || (why = check_updated(p, r, out))
        || (why = check_bene(p, r, out)))
        return why;
    out->fhir_version = version ? version : dpc_load_version(r);
    if (!out->fhir_version)
        return apr_psprintf(p, "cannot tell STU3 from R4 by its shape (pass --fhir)");
    return NULL;
}
