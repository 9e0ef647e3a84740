/* test_export_req.c: unit tests of the export kick-off request
 * (dpc_export_req.h).
 *
 * Suite: export_req_suite (run by main.c).
 *
 *   params   each parameter: _type (lists, spaces, repeats), _since (the
 *            '+' that arrived as a space, the future), _outputFormat, the
 *            unsupported ones, unknown names ignored; UTF-8
 *   refusals every refusal's kind, status, issue code and exact message
 *            (the API tests check the same words on the wire)
 *   lenient  what handling=lenient ignores, and the notes it leaves
 *   scope    the types chosen from the token's scope, and 403s
 */
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "unit.h"
#include "dpc_export.h"
#include "dpc_export_req.h"
#include "dpc_fhir.h"
#include "dpc_type_filter.h"

/* 2024-06-01T00:00:00Z, the request's time */
#define NOW APR_TIME_C(1717200000000000)

static apr_pool_t *pool;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

static dpc_export_req *req_new(int lenient)
{
    dpc_export_req *req = apr_palloc(pool, sizeof(*req));

    dpc_export_req_init(pool, req, lenient, NOW);
    return req;
}

/* Take name=value, which must be accepted. */
static void take_ok(dpc_export_req *req, const char *name, const char *value)
{
    dpc_export_req_err err;

    memset(&err, 0, sizeof(err));
    ck_assert_msg(dpc_export_req_param(req, name, value, &err) == DPC_EXPORT_REQ_OK,
                  "%s=%s refused: %s", name, value, err.msg ? err.msg : "");
    ck_assert_int_eq(err.rc, DPC_EXPORT_REQ_OK);     /* left alone */
}

/* Take name=value, which must be refused as rc with exactly this message. */
static void take_refused(dpc_export_req *req, const char *name, const char *value,
                         dpc_export_req_rc rc, const char *msg)
{
    dpc_export_req_err err;

    ck_assert_int_eq(dpc_export_req_param(req, name, value, &err), rc);
    ck_assert_int_eq(err.rc, rc);
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.issue, rc == DPC_EXPORT_REQ_NOT_SUPPORTED ? DPC_ISSUE_NOT_SUPPORTED
                                                                   : DPC_ISSUE_INVALID);
    ck_assert_str_eq(err.msg, msg);
}

static const char *type_at(const dpc_export_req *req, int i)
{
    return APR_ARRAY_IDX(req->types, i, const char *);
}

static const char *note_at(const dpc_export_req *req, int i)
{
    return APR_ARRAY_IDX(req->notes, i, const char *);
}

START_TEST(fresh_request)
{
    dpc_export_req *req = req_new(1);

    ck_assert_int_eq(req->lenient, 1);
    ck_assert_int_eq(req->types->nelts, 0);
    ck_assert_int_eq(req->notes->nelts, 0);
    ck_assert(req->since == 0);
    ck_assert(req->now == NOW);
    ck_assert_int_eq(req_new(0)->lenient, 0);
}
END_TEST

START_TEST(param_type)
{
    dpc_export_req *req = req_new(0);

    take_ok(req, "_type", "Patient, ExplanationOfBenefit");
    take_ok(req, "_type", "Coverage");
    take_ok(req, "_type", ",,");                /* empty pieces are nothing */
    ck_assert_int_eq(req->types->nelts, 3);
    ck_assert_str_eq(type_at(req, 0), "Patient");
    ck_assert_str_eq(type_at(req, 1), "ExplanationOfBenefit");
    ck_assert_str_eq(type_at(req, 2), "Coverage");
    ck_assert_int_eq(req->notes->nelts, 0);
    take_refused(req, "_type", "Patient,Observation", DPC_EXPORT_REQ_INVALID,
                 "_type Observation is not exported here: Patient, Coverage and "
                 "ExplanationOfBenefit are");
    /* case matters, as FHIR resource names do */
    take_refused(req_new(0), "_type", "patient", DPC_EXPORT_REQ_INVALID,
                 "_type patient is not exported here: Patient, Coverage and "
                 "ExplanationOfBenefit are");
}
END_TEST

START_TEST(param_since)
{
    dpc_export_req *req = req_new(0);
    apr_time_t t;
    const char *why;

    take_ok(req, "_since", "2024-01-02T03:04:05Z");
    ck_assert_int_eq(dpc_instant_parse("2024-01-02T03:04:05Z", &t, &why), 0);
    ck_assert(req->since == t);
    /* "+02:00" sent unencoded reaches us as " 02:00" */
    req = req_new(0);
    take_ok(req, "_since", "2024-01-02T05:04:05 02:00");
    ck_assert(req->since == t);
    req = req_new(0);
    take_ok(req, "_since", "2024-06-01T00:00:00Z");     /* now is not the future */
    ck_assert(req->since == NOW);
    take_refused(req_new(0), "_since", "2024-06-01T00:00:00.001Z", DPC_EXPORT_REQ_INVALID,
                 "_since is in the future");
    take_refused(req_new(0), "_since", "yesterday", DPC_EXPORT_REQ_INVALID,
                 apr_pstrcat(pool, "_since: ",
                             (dpc_instant_parse("yesterday", &t, &why), why), NULL));
    take_refused(req_new(0), "_since", "", DPC_EXPORT_REQ_INVALID,
                 apr_pstrcat(pool, "_since: ", (dpc_instant_parse("", &t, &why), why), NULL));
    /* BFD's convention (both guides): a _since from 2020-01-01 to before
     * 2020-02-12 returns all history, which carries lastUpdated 2020-01-01 */
    req = req_new(0);
    take_ok(req, "_since", "2020-01-20T08:00:00.000-05:00");
    ck_assert(req->since == DPC_BFD_MARKER - 1);
    req = req_new(0);
    take_ok(req, "_since", "2020-01-01T00:00:00Z");
    ck_assert(req->since == DPC_BFD_MARKER - 1);
    req = req_new(0);
    take_ok(req, "_since", "2020-02-11T23:59:59.999Z");
    ck_assert(req->since == DPC_BFD_MARKER - 1);
    /* the v2 guide's examples are after the load date: taken as they are */
    req = req_new(0);
    take_ok(req, "_since", "2020-02-13T08:00:00.000-05:00");
    ck_assert_int_eq(dpc_instant_parse("2020-02-13T13:00:00Z", &t, &why), 0);
    ck_assert(req->since == t);
    req = req_new(0);
    take_ok(req, "_since", "2020-02-12T00:00:00Z");
    ck_assert(req->since == DPC_BFD_LOAD_DATE);
    req = req_new(0);
    take_ok(req, "_since", "2019-06-01T00:00:00Z");
    ck_assert_int_eq(dpc_instant_parse("2019-06-01T00:00:00Z", &t, &why), 0);
    ck_assert(req->since == t);
}
END_TEST

START_TEST(param_output_format)
{
    dpc_export_req *req = req_new(0);

    take_ok(req, "_outputFormat", "application/fhir+ndjson");
    take_ok(req, "_outputFormat", "application/ndjson");
    take_ok(req, "_outputFormat", "ndjson");
    ck_assert_int_eq(req->types->nelts + req->notes->nelts, 0);
    take_refused(req, "_outputFormat", "text/csv", DPC_EXPORT_REQ_INVALID,
                 "_outputFormat must be application/fhir+ndjson, application/ndjson "
                 "or ndjson");
    /* not lenient about it: a format we cannot write is never ignored */
    take_refused(req_new(1), "_outputFormat", "application/fhir+json",
                 DPC_EXPORT_REQ_INVALID, "_outputFormat must be application/fhir+ndjson, "
                 "application/ndjson or ndjson");
}
END_TEST

/* allowPartialManifests and organizeOutputBy (the IG's next version) */
START_TEST(param_output_options)
{
    dpc_export_req *req = req_new(0);

    ck_assert_int_eq(req->allow_partial, 0);
    ck_assert_ptr_null(req->organize_by);
    take_ok(req, "allowPartialManifests", "true");
    ck_assert_int_eq(req->allow_partial, 1);
    take_ok(req, "allowPartialManifests", "false");
    ck_assert_int_eq(req->allow_partial, 0);
    take_ok(req, "organizeOutputBy", "Patient");
    ck_assert_str_eq(req->organize_by, "Patient");
    ck_assert_int_eq(req->notes->nelts, 0);
    take_refused(req_new(0), "allowPartialManifests", "yes", DPC_EXPORT_REQ_INVALID,
                 "allowPartialManifests must be true or false, not \"yes\"");
    /* a boolean is never ignored, even under lenient */
    take_refused(req_new(1), "allowPartialManifests", "", DPC_EXPORT_REQ_INVALID,
                 "allowPartialManifests must be true or false, not \"\"");
    req = req_new(0);
    take_refused(req, "organizeOutputBy", "Coverage", DPC_EXPORT_REQ_NOT_SUPPORTED,
                 "organizeOutputBy=Coverage is not supported: output can be organized "
                 "by Patient only");
    ck_assert_ptr_null(req->organize_by);
    take_refused(req_new(0), "organizeOutputBy", "patient", DPC_EXPORT_REQ_NOT_SUPPORTED,
                 "organizeOutputBy=patient is not supported: output can be organized "
                 "by Patient only");
    /* lenient: ignored and noted */
    req = req_new(1);
    take_ok(req, "organizeOutputBy", "Group");
    ck_assert_ptr_null(req->organize_by);
    ck_assert_int_eq(req->notes->nelts, 1);
    ck_assert_str_eq(note_at(req, 0), "organizeOutputBy=Group");
}
END_TEST

START_TEST(param_unsupported)
{
    static const char *const names[] = { "_elements", "includeAssociatedData", NULL };
    int i;

    for (i = 0; names[i]; i++)
        take_refused(req_new(0), names[i], "x", DPC_EXPORT_REQ_NOT_SUPPORTED,
                     apr_psprintf(pool, "%s is not supported (send Prefer: "
                                  "handling=lenient to have it ignored)", names[i]));
}
END_TEST

START_TEST(param_ignored)
{
    dpc_export_req *req = req_new(0);

    /* other names are ignored without a note, as FHIR search does */
    take_ok(req, "_count", "10");
    take_ok(req, "whatever", "");
    take_ok(req, "", "");
    ck_assert_int_eq(req->types->nelts + req->notes->nelts, 0);
    ck_assert(req->since == 0);
}
END_TEST

START_TEST(param_utf8)
{
    take_refused(req_new(0), "_type", "Patient\xff", DPC_EXPORT_REQ_INVALID,
                 "the value of _type is not UTF-8 text");
    /* the name is cleaned for the message; the value is checked first, so
     * lenient ignores nothing here */
    take_refused(req_new(1), "x\xc3", "\xc0\x80", DPC_EXPORT_REQ_INVALID,
                 "the value of x\xef\xbf\xbd is not UTF-8 text");
    take_ok(req_new(0), "whatever", "caf\xc3\xa9");
}
END_TEST

START_TEST(lenient_notes)
{
    dpc_export_req *req = req_new(1);

    take_ok(req, "_type", "Patient,Observation, Foo");
    take_ok(req, "_typeFilter", "ExplanationOfBenefit?type=carrier");
    take_ok(req, "patient", "Patient/1");
    take_ok(req, "_elements", "id");
    take_ok(req, "includeAssociatedData", "LatestProvenanceResources");
    take_ok(req, "_until", "2020-01-01T00:00:00Z");     /* the dialect has none */
    take_ok(req, "_typeFilter", "Coverage?_sort=status");
    ck_assert_int_eq(req->types->nelts, 1);
    ck_assert_str_eq(type_at(req, 0), "Patient");
    ck_assert_int_eq(req->notes->nelts, 7);
    ck_assert_str_eq(note_at(req, 0), "_type=Observation");
    ck_assert_str_eq(note_at(req, 1), "_type=Foo");
    ck_assert_str_eq(note_at(req, 2), "patient");
    ck_assert_str_eq(note_at(req, 3), "_elements");
    ck_assert_str_eq(note_at(req, 4), "includeAssociatedData");
    ck_assert_str_eq(note_at(req, 5), "_until");
    ck_assert_str_eq(note_at(req, 6), "_typeFilter=Coverage?_sort=status (Coverage?_sort is not "
                     "a filter this server has (supported: ExplanationOfBenefit?type=, "
                     "ExplanationOfBenefit?service-date=, Coverage?status=))");
    /* the supported filter is kept; the other query left with nothing
     * filters nothing */
    ck_assert_str_eq(dpc_type_filter_json(pool, req->filter),
                     "{\"ExplanationOfBenefit\":[{\"type\":[[\"carrier\"]]}],"
                     "\"Coverage\":[{}]}");
}
END_TEST

/* ---- _until, _typeFilter, patient ------------------------------------------ */

/* Finish with every type readable; rc and (unless OK) exactly msg. */
static void finish_as(dpc_export_req *req, dpc_export_req_rc rc, const char *msg)
{
    dpc_export_req_err err;

    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(dpc_export_req_finish(req, "system/*.read", &err), rc);
    if (rc != DPC_EXPORT_REQ_OK)
        ck_assert_str_eq(err.msg, msg);
}

START_TEST(param_until)
{
    dpc_export_req *req = req_new(0);

    take_refused(req, "_until", "2020-01-01T00:00:00Z", DPC_EXPORT_REQ_NOT_SUPPORTED,
                 "_until is not supported by this API (send Prefer: handling=lenient to "
                 "have it ignored)");
    req = req_new(0);
    req->until_allowed = 1;
    take_ok(req, "_until", "2020-01-01T00:00:00 01:00");    /* the '+' as a space */
    ck_assert(req->until == APR_TIME_C(1577833200000000));
    req = req_new(0);
    req->until_allowed = 1;
    ck_assert_int_eq(dpc_export_req_param(req, "_until", "2020-01-01", &(dpc_export_req_err){0}),
                     DPC_EXPORT_REQ_INVALID);
    /* a window; not one that closes before it opens */
    req = req_new(0);
    req->until_allowed = 1;
    take_ok(req, "_since", "2021-01-01T00:00:00Z");
    take_ok(req, "_until", "2021-06-01T00:00:00Z");
    finish_as(req, DPC_EXPORT_REQ_OK, NULL);
    req = req_new(0);
    req->until_allowed = 1;
    take_ok(req, "_since", "2021-01-01T00:00:00Z");
    take_ok(req, "_until", "2020-06-01T00:00:00Z");
    finish_as(req, DPC_EXPORT_REQ_INVALID, "_until is before _since");
    req = req_new(1);
    req->until_allowed = 1;
    take_ok(req, "_since", "2021-01-01T00:00:00Z");
    take_ok(req, "_until", "2020-06-01T00:00:00Z");
    finish_as(req, DPC_EXPORT_REQ_OK, NULL);
    ck_assert(req->until == 0);
    ck_assert_str_eq(note_at(req, 0), "_until (before _since)");
}
END_TEST

/* The SQL a filter gives the worker, from a kick-off's _typeFilter values. */
static const char *filter_sql_of(const char *const *values)
{
    dpc_export_req *req = req_new(0);
    int i;

    for (i = 0; values[i]; i++)
        take_ok(req, "_typeFilter", values[i]);
    finish_as(req, DPC_EXPORT_REQ_OK, NULL);
    return dpc_type_filter_sql(pool, dpc_type_filter_json(pool, req->filter), "S");
}

START_TEST(type_filter_taken)
{
    static const char *const ors[] = {
        "ExplanationOfBenefit?type=carrier,PDE,https://bluebutton.cms.gov/resources/"
        "codesystem/eob-type|SNF,ExplanationOfBenefit?service-date=ge2020-01-01"
        "&service-date=lt2021-01-01", "Coverage%3Fstatus%3Dactive", NULL
    };
    static const char *const dates[] = {
        "ExplanationOfBenefit?service-date=gt2020-02-29,le2019-01-01,2018-05-05", NULL
    };
    static const char *const none[] = { NULL };

    /* the unfiltered types, then each filtered type in a part of its own */
    ck_assert_str_eq(filter_sql_of(ors),
                     "S AND r.resource_type <> ALL ('{ExplanationOfBenefit,Coverage}')"
                     " UNION ALL S AND r.resource_type = 'ExplanationOfBenefit' AND ("
                     "((r.claim_type = 'carrier' OR r.claim_type = 'pde' OR r.claim_type = "
                     "'snf')) OR ((r.service_end >= DATE '2020-01-01') AND "
                     "(r.service_start < DATE '2021-01-01')))"
                     " UNION ALL S AND r.resource_type = 'Coverage' AND "
                     "(((r.coverage_status = 'active')))");
    ck_assert_str_eq(filter_sql_of(dates),
                     "S AND r.resource_type <> ALL ('{ExplanationOfBenefit}')"
                     " UNION ALL S AND r.resource_type = 'ExplanationOfBenefit' AND ((("
                     "r.service_end > DATE '2020-02-29' OR r.service_start <= DATE '2019-01-01' "
                     "OR (r.service_start >= DATE '2018-05-05' AND r.service_end <= DATE "
                     "'2018-05-05'))))");
    ck_assert_str_eq(filter_sql_of(none), "S");
}
END_TEST

START_TEST(type_filter_refused)
{
    static const struct {
        const char *value;
        dpc_export_req_rc rc;
        const char *msg;
    } cases[] = {
        { "ExplanationOfBenefit?type=foo", DPC_EXPORT_REQ_INVALID,
          "_typeFilter ExplanationOfBenefit?type=foo: type foo is not a claim type (carrier, "
          "dme, hha, hospice, inpatient, outpatient, pde, snf)" },
        { "ExplanationOfBenefit?type=http://x|pde", DPC_EXPORT_REQ_INVALID,
          "_typeFilter ExplanationOfBenefit?type=http://x|pde: type http://x|pde: the system "
          "of a claim type is https://bluebutton.cms.gov/resources/codesystem/eob-type" },
        { "ExplanationOfBenefit?service-date=2020-02-30", DPC_EXPORT_REQ_INVALID,
          "_typeFilter ExplanationOfBenefit?service-date=2020-02-30: service-date 2020-02-30 "
          "is not [ge|gt|le|lt|eq]YYYY-MM-DD" },
        { "ExplanationOfBenefit?service-date=ne2020-02-03", DPC_EXPORT_REQ_NOT_SUPPORTED,
          "_typeFilter ExplanationOfBenefit?service-date=ne2020-02-03: service-date prefix ne "
          "is not supported (ge, gt, le, lt and eq are)" },
        { "Coverage?status=gone", DPC_EXPORT_REQ_INVALID,
          "_typeFilter Coverage?status=gone: status gone is not a Coverage status (active, "
          "cancelled, draft, entered-in-error)" },
        { "Patient?gender=male", DPC_EXPORT_REQ_NOT_SUPPORTED,
          "_typeFilter Patient?gender=male: Patient?gender is not a filter this server has "
          "(supported: ExplanationOfBenefit?type=, ExplanationOfBenefit?service-date=, "
          "Coverage?status=)" },
        { "ExplanationOfBenefit?_include=*", DPC_EXPORT_REQ_NOT_SUPPORTED,
          "_typeFilter ExplanationOfBenefit?_include=*: ExplanationOfBenefit?_include is not "
          "a filter this server has (supported: ExplanationOfBenefit?type=, "
          "ExplanationOfBenefit?service-date=, Coverage?status=)" },
        { "Observation?code=1", DPC_EXPORT_REQ_NOT_SUPPORTED,
          "_typeFilter Observation?code=1: Observation is not a type this server exports" },
        { "ExplanationOfBenefit", DPC_EXPORT_REQ_INVALID,
          "_typeFilter ExplanationOfBenefit: not a query (Type?name=value)" },
        { "Coverage?status", DPC_EXPORT_REQ_INVALID,
          "_typeFilter Coverage?status: status is not name=value" },
        { "Coverage?status=%zz", DPC_EXPORT_REQ_INVALID,
          "_typeFilter Coverage?status=%zz: status=%zz is not name=value" },
    };
    dpc_export_req *req;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        take_refused(req_new(0), "_typeFilter", cases[i].value, cases[i].rc, cases[i].msg);
        /* lenient: taken, the parameter dropped and noted */
        req = req_new(1);
        take_ok(req, "_typeFilter", cases[i].value);
        ck_assert_int_eq(req->notes->nelts, 1);
        ck_assert_ptr_nonnull(strstr(note_at(req, 0), "_typeFilter="));
    }
    /* a filter of a type the export leaves out */
    req = req_new(0);
    take_ok(req, "_type", "Patient,Coverage");
    take_ok(req, "_typeFilter", "ExplanationOfBenefit?type=pde");
    finish_as(req, DPC_EXPORT_REQ_INVALID, "_typeFilter ExplanationOfBenefit?...: "
              "ExplanationOfBenefit is not among the types this export writes (_type)");
    req = req_new(1);
    take_ok(req, "_type", "Patient,Coverage");
    take_ok(req, "_typeFilter", "ExplanationOfBenefit?type=pde");
    finish_as(req, DPC_EXPORT_REQ_OK, NULL);
    ck_assert_ptr_null(dpc_type_filter_json(pool, req->filter));
    /* what the worker takes is only what the kick-off writes */
    ck_assert_ptr_null(dpc_type_filter_sql(pool, "{\"ExplanationOfBenefit\":[{\"type\":"
                                                 "[[\"x'; DROP TABLE t; --\"]]}]}", "S"));
    ck_assert_ptr_null(dpc_type_filter_sql(pool, "{\"Claim\":[{}]}", "S"));
    ck_assert_ptr_null(dpc_type_filter_sql(pool, "{\"Coverage\":[{\"type\":[[\"pde\"]]}]}", "S"));
    ck_assert_ptr_null(dpc_type_filter_sql(pool, "[]", "S"));
    ck_assert_str_eq(dpc_type_filter_sql(pool, "{\"Patient\":[{}]}", "S"),
                     "S AND r.resource_type <> ALL ('{Patient}') UNION ALL S AND "
                     "r.resource_type = 'Patient' AND ((TRUE))");
    ck_assert_str_eq(dpc_type_filter_sql(pool, "{}", "S"), "S");
}
END_TEST

START_TEST(param_patient)
{
    dpc_export_req *req = req_new(0);
    dpc_export_req_err err;

    ck_assert_int_eq(dpc_export_req_patient(req, "Patient/abc-1", NULL, NULL, &err), 0);
    ck_assert_int_eq(dpc_export_req_patient(req, "https://x/api/v2/Patient/d.2", NULL, NULL,
                                            &err), 0);
    ck_assert_int_eq(dpc_export_req_patient(req, NULL, "http://hl7.org/fhir/sid/us-mbi",
                                            "1EG4TE5MK73", &err), 0);
    ck_assert_int_eq(req->patients->nelts, 3);
    ck_assert_str_eq(APR_ARRAY_IDX(req->patients, 0, const char *), "Patient/abc-1");
    ck_assert_str_eq(APR_ARRAY_IDX(req->patients, 1, const char *), "Patient/d.2");
    ck_assert_str_eq(APR_ARRAY_IDX(req->patients, 2, const char *), "mbi|1EG4TE5MK73");
    ck_assert_int_eq(dpc_export_req_patient(req, "Group/1", NULL, NULL, &err),
                     DPC_EXPORT_REQ_INVALID);
    ck_assert_str_eq(err.msg, "patient Group/1 is neither a reference Patient/{id} nor an "
                     "identifier of system http://hl7.org/fhir/sid/us-mbi whose value is an MBI");
    ck_assert_int_eq(dpc_export_req_patient(req, NULL, "urn:x", "1EG4TE5MK73", &err),
                     DPC_EXPORT_REQ_INVALID);
    ck_assert_int_eq(dpc_export_req_patient(req, NULL, "http://hl7.org/fhir/sid/us-mbi",
                                            "123", &err), DPC_EXPORT_REQ_INVALID);
    /* as text (a GET), or on a system-level export */
    take_refused(req_new(0), "patient", "Patient/1", DPC_EXPORT_REQ_INVALID,
                 "patient is taken in a POST's Parameters body, as a valueReference "
                 "(Patient/{id} or an MBI identifier)");
    req = req_new(0);
    req->system_level = 1;
    ck_assert_int_eq(dpc_export_req_patient(req, "Patient/1", NULL, NULL, &err),
                     DPC_EXPORT_REQ_NOT_SUPPORTED);
    ck_assert_str_eq(err.msg, "patient does not apply to a system-level export (use "
                     "Patient/$export or Group/{id}/$export)");
    req = req_new(1);
    req->system_level = 1;
    ck_assert_int_eq(dpc_export_req_patient(req, "Patient/1", NULL, NULL, &err), 0);
    ck_assert_int_eq(dpc_export_req_patient(req, "Group/1", NULL, NULL, &err), 0);
    ck_assert_int_eq(req->patients->nelts, 0);
    ck_assert_str_eq(note_at(req, 0), "patient");
    ck_assert_str_eq(note_at(req, 1), "patient");
}
END_TEST

/* Finish with this scope: refused as 403 with exactly msg, or (msg NULL)
 * accepted. */
static void finish(dpc_export_req *req, const char *scope, const char *msg)
{
    dpc_export_req_err err;
    dpc_export_req_rc rc = dpc_export_req_finish(req, scope, &err);

    if (!msg) {
        ck_assert_int_eq(rc, DPC_EXPORT_REQ_OK);
        return;
    }
    ck_assert_int_eq(rc, DPC_EXPORT_REQ_FORBIDDEN);
    ck_assert_int_eq(err.status, 403);
    ck_assert_str_eq(err.issue, DPC_ISSUE_FORBIDDEN);
    ck_assert_str_eq(err.msg, msg);
}

START_TEST(scope_choice)
{
    dpc_export_req *req = req_new(0);

    finish(req, "system/*.read", NULL);
    ck_assert_int_eq(req->types->nelts, 3);
    ck_assert_str_eq(type_at(req, 0), "Patient");
    ck_assert_str_eq(type_at(req, 1), "Coverage");
    ck_assert_str_eq(type_at(req, 2), "ExplanationOfBenefit");

    req = req_new(0);
    finish(req, "system/ExplanationOfBenefit.read system/Patient.read", NULL);
    ck_assert_int_eq(req->types->nelts, 2);
    ck_assert_str_eq(type_at(req, 0), "Patient");
    ck_assert_str_eq(type_at(req, 1), "ExplanationOfBenefit");

    /* asked-for types are kept as asked */
    req = req_new(0);
    take_ok(req, "_type", "Coverage");
    finish(req, "system/*.*", NULL);
    ck_assert_int_eq(req->types->nelts, 1);
    ck_assert_str_eq(type_at(req, 0), "Coverage");
}
END_TEST

START_TEST(scope_refusals)
{
    dpc_export_req *req = req_new(0);

    take_ok(req, "_type", "Patient,Coverage");
    finish(req, "system/Patient.read",
           "the access token's scope (system/Patient.read) does not cover Coverage");
    finish(req_new(0), "system/Group.read openid",
           "the access token's scope covers no exported type");
    finish(req_new(0), "", "the access token's scope covers no exported type");
    finish(req_new(0), NULL, "the access token's scope covers no exported type");
    /* found by fuzzing: the message must be UTF-8 whatever the scope holds */
    req = req_new(0);
    take_ok(req, "_type", "Patient");
    finish(req, "s\x82stem/Patient.read",
           "the access token's scope (s\xef\xbf\xbdstem/Patient.read) does not cover Patient");
    /* lenient dropped every asked type: the scope then chooses */
    req = req_new(1);
    take_ok(req, "_type", "Observation");
    finish(req, "system/Coverage.read", NULL);
    ck_assert_int_eq(req->types->nelts, 1);
    ck_assert_str_eq(type_at(req, 0), "Coverage");
}
END_TEST

START_TEST(scope_reads)
{
    ck_assert(dpc_export_scope_reads(pool, "system/*.read", "Patient"));
    ck_assert(dpc_export_scope_reads(pool, "system/*.*", "Coverage"));
    ck_assert(dpc_export_scope_reads(pool, "openid system/Patient.read", "Patient"));
    ck_assert(dpc_export_scope_reads(pool, "system/Patient.rs", "Patient"));
    ck_assert(!dpc_export_scope_reads(pool, "system/Patient.read", "Coverage"));
    /* a prefix of a type's name is not the type */
    ck_assert(!dpc_export_scope_reads(pool, "system/Patient.read", "Pat"));
    ck_assert(!dpc_export_scope_reads(pool, "system/Pat.read", "Patient"));
    ck_assert(!dpc_export_scope_reads(pool, "user/*.read patient/*.read", "Patient"));
    ck_assert(!dpc_export_scope_reads(pool, "system/Patient", "Patient"));
    ck_assert(!dpc_export_scope_reads(pool, "", "Patient"));
    ck_assert(!dpc_export_scope_reads(pool, NULL, "Patient"));
    ck_assert(dpc_export_type_exported("ExplanationOfBenefit"));
    ck_assert(!dpc_export_type_exported("OperationOutcome"));
    ck_assert(!dpc_export_type_exported(""));
}
END_TEST

Suite *export_req_suite(void)
{
    Suite *s = suite_create("export_req");
    TCase *tc = tcase_create("params");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, fresh_request);
    tcase_add_test(tc, param_type);
    tcase_add_test(tc, param_since);
    tcase_add_test(tc, param_output_format);
    tcase_add_test(tc, param_unsupported);
    tcase_add_test(tc, param_output_options);
    tcase_add_test(tc, param_ignored);
    tcase_add_test(tc, param_utf8);
    tcase_add_test(tc, lenient_notes);
    tcase_add_test(tc, param_until);
    tcase_add_test(tc, type_filter_taken);
    tcase_add_test(tc, type_filter_refused);
    tcase_add_test(tc, param_patient);
    suite_add_tcase(s, tc);

    tc = tcase_create("scope");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, scope_choice);
    tcase_add_test(tc, scope_refusals);
    tcase_add_test(tc, scope_reads);
    suite_add_tcase(s, tc);
    return s;
}
