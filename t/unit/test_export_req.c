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
#include "dpc_export_req.h"
#include "dpc_fhir.h"

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
    static const char *const names[] = {
        "_typeFilter", "_elements", "patient", "includeAssociatedData", NULL
    };
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
    take_ok(req, "_until", "2020-01-01T00:00:00Z");
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
    take_ok(req, "_until", "2020-01-01T00:00:00Z");     /* no note: ignored anyway */
    ck_assert_int_eq(req->types->nelts, 1);
    ck_assert_str_eq(type_at(req, 0), "Patient");
    ck_assert_int_eq(req->notes->nelts, 6);
    ck_assert_str_eq(note_at(req, 0), "_type=Observation");
    ck_assert_str_eq(note_at(req, 1), "_type=Foo");
    ck_assert_str_eq(note_at(req, 2), "_typeFilter");
    ck_assert_str_eq(note_at(req, 3), "patient");
    ck_assert_str_eq(note_at(req, 4), "_elements");
    ck_assert_str_eq(note_at(req, 5), "includeAssociatedData");
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
    suite_add_tcase(s, tc);

    tc = tcase_create("scope");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, scope_choice);
    tcase_add_test(tc, scope_refusals);
    tcase_add_test(tc, scope_reads);
    suite_add_tcase(s, tc);
    return s;
}
