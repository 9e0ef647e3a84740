/* dpc_export_req.c: see dpc_export_req.h. */
#include "dpc_export_req.h"

#include <string.h>

#include <apr_strings.h>

#include "dpc_export.h"
#include "dpc_fhir.h"
#include "dpc_mbi.h"
#include "dpc_res.h"
#include "dpc_type_filter.h"

#define HTTP_400 400
#define HTTP_403 403

/* Fill *err and return its kind. */
static dpc_export_req_rc refuse(dpc_export_req_err *err, dpc_export_req_rc rc,
                                const char *msg)
{
    static const struct { int status; const char *issue; } kinds[] = {
        [DPC_EXPORT_REQ_INVALID] = { HTTP_400, DPC_ISSUE_INVALID },
        [DPC_EXPORT_REQ_NOT_SUPPORTED] = { HTTP_400, DPC_ISSUE_NOT_SUPPORTED },
        [DPC_EXPORT_REQ_FORBIDDEN] = { HTTP_403, DPC_ISSUE_FORBIDDEN },
    };

    err->rc = rc;
    err->status = kinds[rc].status;
    err->issue = kinds[rc].issue;
    err->msg = msg;
    return rc;
}

void dpc_export_req_init(apr_pool_t *p, dpc_export_req *req, int lenient,
                         apr_time_t now)
{
    memset(req, 0, sizeof(*req));
    req->p = p;
    req->lenient = lenient;
    req->now = now;
    req->types = apr_array_make(p, 3, sizeof(const char *));
    req->notes = apr_array_make(p, 2, sizeof(const char *));
    req->filter = dpc_type_filter_make(p);
    req->patients = apr_array_make(p, 2, sizeof(const char *));
}

/* A refusal, or under lenient handling a note (the parameter is ignored). */
static dpc_export_req_rc refuse_or_note(dpc_export_req *req, dpc_export_req_err *err,
                                        dpc_export_req_rc rc, const char *msg,
                                        const char *note)
{
    if (!req->lenient)
        return refuse(err, rc, msg);
    APR_ARRAY_PUSH(req->notes, const char *) = note;
    return DPC_EXPORT_REQ_OK;
}

int dpc_export_scope_reads(apr_pool_t *p, const char *scope, const char *type)
{
    char *copy, *s, *state = NULL;
    size_t n = strlen(type);
    int ok = 0;

    if (!scope)
        return 0;
    copy = apr_pstrdup(p, scope);
    for (s = apr_strtok(copy, " ", &state); s && !ok; s = apr_strtok(NULL, " ", &state))
        ok = !strncmp(s, "system/*.", 9)
             || (!strncmp(s, "system/", 7) && !strncmp(s + 7, type, n) && s[7 + n] == '.');
    return ok;
}

static int has_type(const dpc_export_req *req, const char *t)
{
    int i;

    for (i = 0; i < req->types->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(req->types, i, const char *), t))
            return 1;
    return 0;
}

/* _type: a comma-separated list, added to what earlier _type gave. */
static dpc_export_req_rc take_types(dpc_export_req *req, const char *value,
                                    dpc_export_req_err *err)
{
    char *copy = apr_pstrdup(req->p, value), *t, *state = NULL;

    for (t = apr_strtok(copy, ",", &state); t; t = apr_strtok(NULL, ",", &state)) {
        apr_collapse_spaces(t, t);
        if (req->refuse_repeats && has_type(req, t))
            return refuse(err, DPC_EXPORT_REQ_INVALID,
                          apr_psprintf(req->p, "_type names %s twice (repeated resource "
                                       "type)", t));
        if (dpc_export_type_exported(t))
            APR_ARRAY_PUSH(req->types, const char *) = t;
        else if (req->lenient)
            APR_ARRAY_PUSH(req->notes, const char *) = apr_psprintf(req->p, "_type=%s", t);
        else
            return refuse(err, DPC_EXPORT_REQ_INVALID,
                          apr_psprintf(req->p, "_type %s is not exported here: Patient, "
                                       "Coverage and ExplanationOfBenefit are", t));
    }
    return DPC_EXPORT_REQ_OK;
}

/* A FHIR instant of parameter name into *t; a '+' of a time zone that was
 * not URL-encoded arrives as a space. */
static dpc_export_req_rc take_instant(dpc_export_req *req, const char *name,
                                      const char *value, apr_time_t *t,
                                      dpc_export_req_err *err)
{
    char *v = apr_pstrdup(req->p, value), *sp;
    const char *why;

    if ((sp = strchr(v, ' ')) != NULL)
        *sp = '+';
    if (dpc_instant_parse(v, t, &why))
        return refuse(err, DPC_EXPORT_REQ_INVALID, apr_pstrcat(req->p, name, ": ", why, NULL));
    return DPC_EXPORT_REQ_OK;
}

static dpc_export_req_rc take_since(dpc_export_req *req, const char *value,
                                    dpc_export_req_err *err)
{
    if (take_instant(req, "_since", value, &req->since, err))
        return err->rc;
    if (req->since > req->now)
        return refuse(err, DPC_EXPORT_REQ_INVALID, "_since is in the future");
    /* BFD's marker date: what was loaded before its load date is all there */
    if (req->since >= DPC_BFD_MARKER && req->since < DPC_BFD_LOAD_DATE)
        req->since = DPC_BFD_MARKER - 1;
    return DPC_EXPORT_REQ_OK;
}

static dpc_export_req_rc take_until(dpc_export_req *req, const char *value,
                                    dpc_export_req_err *err)
{
    apr_time_t t;

    if (!req->until_allowed)
        return refuse_or_note(req, err, DPC_EXPORT_REQ_NOT_SUPPORTED,
                              "_until is not supported by this API (send Prefer: "
                              "handling=lenient to have it ignored)", "_until");
    if (take_instant(req, "_until", value, &t, err))
        return refuse_or_note(req, err, err->rc, err->msg,
                              apr_pstrcat(req->p, "_until=", value, NULL));
    req->until = t;
    return DPC_EXPORT_REQ_OK;
}

static dpc_export_req_rc take_type_filter(dpc_export_req *req, const char *value,
                                          dpc_export_req_err *err)
{
    int unsupported;
    const char *why = dpc_type_filter_take(req->filter, value, req->lenient, req->notes,
                                           &unsupported);

    if (!why)
        return DPC_EXPORT_REQ_OK;
    return refuse(err, unsupported ? DPC_EXPORT_REQ_NOT_SUPPORTED : DPC_EXPORT_REQ_INVALID,
                  why);
}

/* A FHIR id: 1 to 64 of A-Z a-z 0-9 - and . */
static int fhir_id(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.");

    return n >= 1 && n <= 64 && !s[n];
}

/* `patient` where it cannot be taken: a text value, or a system-level
 * export. */
static dpc_export_req_rc patient_misplaced(dpc_export_req *req, dpc_export_req_err *err)
{
    if (req->system_level)
        return refuse_or_note(req, err, DPC_EXPORT_REQ_NOT_SUPPORTED,
                              "patient does not apply to a system-level export (use "
                              "Patient/$export or Group/{id}/$export)", "patient");
    return refuse_or_note(req, err, DPC_EXPORT_REQ_INVALID,
                          "patient is taken in a POST's Parameters body, as a "
                          "valueReference (Patient/{id} or an MBI identifier)", "patient");
}

dpc_export_req_rc dpc_export_req_patient(dpc_export_req *req, const char *reference,
                                         const char *system, const char *value,
                                         dpc_export_req_err *err)
{
    const char *id = reference ? strstr(reference, "Patient/") : NULL;
    char mbi[DPC_MBI_LEN + 1];

    if (req->system_level)
        return patient_misplaced(req, err);
    while (id && strstr(id + 8, "Patient/"))
        id = strstr(id + 8, "Patient/");
    if (id && (id == reference || id[-1] == '/') && fhir_id(id + 8)) {
        APR_ARRAY_PUSH(req->patients, const char *) = apr_pstrdup(req->p, id);
        return DPC_EXPORT_REQ_OK;
    }
    if (!reference && system && dpc_sys_is_mbi(system) && value
        && dpc_mbi_accept(req->p, value, mbi)) {
        APR_ARRAY_PUSH(req->patients, const char *) = apr_pstrcat(req->p, "mbi|", mbi, NULL);
        return DPC_EXPORT_REQ_OK;
    }
    return refuse_or_note(req, err, DPC_EXPORT_REQ_INVALID,
                          apr_psprintf(req->p, "patient %s is neither a reference "
                                       "Patient/{id} nor an identifier of system "
                                       DPC_SYS_MBI " whose value is an MBI",
                                       dpc_utf8_clean(req->p, reference ? reference
                                                      : value ? value : "(empty)")),
                          apr_pstrcat(req->p, "patient=", dpc_utf8_clean(req->p, reference
                                      ? reference : value ? value : ""), NULL));
}

static dpc_export_req_rc take_format(const char *value, dpc_export_req_err *err)
{
    if (strcmp(value, "application/fhir+ndjson") && strcmp(value, "application/ndjson")
        && strcmp(value, "ndjson"))
        return refuse(err, DPC_EXPORT_REQ_INVALID, "_outputFormat must be "
                      "application/fhir+ndjson, application/ndjson or ndjson");
    return DPC_EXPORT_REQ_OK;
}

/* ---- output options: allowPartialManifests, organizeOutputBy ---- */

/* The resource types output can be organized by. */
static const char *const organize_types[] = { "Patient", NULL };

static dpc_export_req_rc take_partial(dpc_export_req *req, const char *value,
                                      dpc_export_req_err *err)
{
    if (strcmp(value, "true") && strcmp(value, "false"))
        return refuse(err, DPC_EXPORT_REQ_INVALID,
                      apr_psprintf(req->p, "allowPartialManifests must be true or false, "
                                   "not \"%s\"", value));
    req->allow_partial = !strcmp(value, "true");
    return DPC_EXPORT_REQ_OK;
}

static dpc_export_req_rc take_organize(dpc_export_req *req, const char *value,
                                       dpc_export_req_err *err)
{
    int i;

    for (i = 0; organize_types[i]; i++)
        if (!strcmp(value, organize_types[i])) {
            req->organize_by = organize_types[i];
            return DPC_EXPORT_REQ_OK;
        }
    if (req->lenient) {
        APR_ARRAY_PUSH(req->notes, const char *) =
            apr_psprintf(req->p, "organizeOutputBy=%s", value);
        return DPC_EXPORT_REQ_OK;
    }
    return refuse(err, DPC_EXPORT_REQ_NOT_SUPPORTED,
                  apr_psprintf(req->p, "organizeOutputBy=%s is not supported: output "
                               "can be organized by Patient only", value));
}

/* One of the output options: 1 when `name` is one (the outcome in *rc). */
static int output_option(dpc_export_req *req, const char *name, const char *value,
                         dpc_export_req_err *err, dpc_export_req_rc *rc)
{
    if (!strcmp(name, "allowPartialManifests"))
        *rc = take_partial(req, value, err);
    else if (!strcmp(name, "organizeOutputBy"))
        *rc = take_organize(req, value, err);
    else
        return 0;
    return 1;
}

/* The Bulk Data parameters not implemented (yet): refused, or noted. */
static int unsupported(const char *name)
{
    return !strcmp(name, "_elements") || !strcmp(name, "includeAssociatedData");
}

dpc_export_req_rc dpc_export_req_param(dpc_export_req *req, const char *name,
                                       const char *value, dpc_export_req_err *err)
{
    dpc_export_req_rc rc;

    /* the values go into the database, which takes only UTF-8 */
    if (!dpc_utf8_valid(value))
        return refuse(err, DPC_EXPORT_REQ_INVALID,
                      apr_psprintf(req->p, "the value of %s is not UTF-8 text",
                                   dpc_utf8_clean(req->p, name)));
    if (!strcmp(name, "_type"))
        return take_types(req, value, err);
    if (!strcmp(name, "_since"))
        return take_since(req, value, err);
    if (!strcmp(name, "_outputFormat"))
        return take_format(value, err);
    if (!strcmp(name, "_until"))
        return take_until(req, value, err);
    if (!strcmp(name, "_typeFilter"))
        return take_type_filter(req, value, err);
    if (!strcmp(name, "patient"))
        return patient_misplaced(req, err);
    if (output_option(req, name, value, err, &rc))
        return rc;
    if (unsupported(name)) {
        if (!req->lenient)
            return refuse(err, DPC_EXPORT_REQ_NOT_SUPPORTED,
                          apr_psprintf(req->p, "%s is not supported (send Prefer: "
                                       "handling=lenient to have it ignored)", name));
        APR_ARRAY_PUSH(req->notes, const char *) = apr_pstrdup(req->p, name);
    }
    return DPC_EXPORT_REQ_OK;       /* anything else is ignored, as FHIR search does */
}

dpc_export_req_rc dpc_export_req_finish(dpc_export_req *req, const char *scope,
                                        dpc_export_req_err *err)
{
    const char *t;
    int i;

    if (req->types->nelts == 0)
        for (i = 0; dpc_export_types[i]; i++)
            if (dpc_export_scope_reads(req->p, scope, dpc_export_types[i]))
                APR_ARRAY_PUSH(req->types, const char *) = dpc_export_types[i];
    for (i = 0; i < req->types->nelts; i++) {
        t = APR_ARRAY_IDX(req->types, i, const char *);
        if (!dpc_export_scope_reads(req->p, scope, t))
            return refuse(err, DPC_EXPORT_REQ_FORBIDDEN,
                          apr_psprintf(req->p, "the access token's scope (%s) does not "
                                       "cover %s", dpc_utf8_clean(req->p, scope ? scope : ""),
                                       t));
    }
    if (!req->types->nelts)
        return refuse(err, DPC_EXPORT_REQ_FORBIDDEN,
                      "the access token's scope covers no exported type");
    if (req->until && req->since && req->until < req->since) {
        if (refuse_or_note(req, err, DPC_EXPORT_REQ_INVALID, "_until is before _since",
                           "_until (before _since)"))
            return err->rc;
        req->until = 0;
    }
    if ((t = dpc_type_filter_settle(req->filter, req->types, req->lenient, req->notes)))
        return refuse(err, DPC_EXPORT_REQ_INVALID, t);
    return DPC_EXPORT_REQ_OK;
}
