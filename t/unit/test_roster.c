/* Unit tests of practitioners, patients, $submit Bundles, attestations
 * (X-Provenance), roster Groups and the Group responses (dpc_res.h,
 * dpc_roster.h).  The good examples are the DPC v1 and v2 guides' own, with
 * valid NPIs and MBIs put in where the guides' placeholders fail the checks.
 *
 * JSON is written with single quotes (Q() turns them into double quotes) so
 * the fixtures stay readable. */
#include <stdlib.h>
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>

#include "unit.h"
#include "dpc_fhir.h"
#include "dpc_mbi.h"
#include "dpc_res.h"
#include "dpc_roster.h"

#define NPI     "1234567893"
#define NPI2    "1111111112"
#define MBI     "1EG4TE5MK73"
#define MBI2    "2EG4TE5MK73"
#define ORG     "c5a40867-011a-43f9-996e-aa92207fbbe2"
#define PRAC    "0c527d2e-2e8a-4808-b11d-0fa06baf8254"
#define PAT1    "4d72ad76-fbc6-4525-be91-7f358f0fea9d"
#define PAT2    "74af8018-f3a1-469c-9bfa-1dfd8a646874"
#define ATR     DPC_EXT_ATTRIBUTED_PROVIDER
/* Identifier fixtures. */
#define NPI_ID(v) "{'system': 'http://hl7.org/fhir/sid/us-npi', 'value': '" v "'}"
#define MBI_ID(v) "{'system': 'http://hl7.org/fhir/sid/us-mbi', 'value': '" v "'}"

static apr_pool_t *pool;
static json_t *oo;
static apr_time_t now;          /* 2024-06-01T12:00:00Z */

static void setup(void)
{
    const char *why;

    apr_pool_create(&pool, NULL);
    oo = dpc_json_pool(pool, dpc_oo_new());
    ck_assert_int_eq(dpc_instant_parse("2024-06-01T12:00:00Z", &now, &why), 0);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

/* Single quotes to double quotes. */
static const char *Q(const char *s)
{
    char *d = apr_pstrdup(pool, s), *c;

    for (c = d; *c; c++) {
        if (*c == '\'')
            *c = '"';
    }
    return d;
}

/* Parse test JSON (single-quoted), owned by the pool. */
static json_t *J(const char *s)
{
    json_error_t err;
    json_t *v = json_loads(Q(s), JSON_DECODE_ANY, &err);

    ck_assert_msg(v != NULL, "test JSON: %s: %s", err.text, s);
    return dpc_json_pool(pool, v);
}

/* The same as a new reference, for the *_new() setters that take one. */
static json_t *JN(const char *s)
{
    return json_incref(J(s));
}

static size_t nissues(void)
{
    return dpc_issue_count(oo);
}

/* Start the outcome afresh, for the next case of a test. */
static void clear_issues(void)
{
    json_array_clear(json_object_get(oo, "issue"));
}

static json_t *issue(size_t i)
{
    return json_array_get(json_object_get(oo, "issue"), i);
}

static const char *issue_expr(size_t i)
{
    return json_string_value(json_array_get(json_object_get(issue(i), "expression"), 0));
}

static const char *issue_code(size_t i)
{
    return json_string_value(json_object_get(issue(i), "code"));
}

static const char *issue_diag(size_t i)
{
    return json_string_value(json_object_get(issue(i), "diagnostics"));
}

/* The issue at expr (first), or -1. */
static int find_issue(const char *expr)
{
    size_t i;

    for (i = 0; i < nissues(); i++) {
        if (issue_expr(i) && !strcmp(issue_expr(i), expr))
            return (int)i;
    }
    return -1;
}

/* Exactly one issue, at expr, with code; its diagnostics contain text. */
#define ONE_ISSUE(expr, code, text) do {                                        \
        ck_assert_msg(nissues() == 1, "expected 1 issue, got %zu: %s", nissues(), \
                      dpc_json_pdump(pool, oo));                                \
        if ((expr) != NULL)                                                     \
            ck_assert_str_eq(issue_expr(0), (expr));                            \
        else                                                                    \
            ck_assert_ptr_null(issue_expr(0));                                  \
        ck_assert_str_eq(issue_code(0), (code));                                \
        ck_assert_msg(strstr(issue_diag(0), (text)) != NULL,                    \
                      "diagnostics \"%s\" lack \"%s\"", issue_diag(0), (text)); \
    } while (0)

#define HAS_ISSUE(expr, code) do {                                              \
        int at_ = find_issue(expr);                                             \
        ck_assert_msg(at_ >= 0, "no issue at %s: %s", (expr), dpc_json_pdump(pool, oo)); \
        ck_assert_str_eq(issue_code(at_), (code));                              \
    } while (0)

/* ---- fixtures ----------------------------------------------------------------- */

/* The v1 guide's provider.json, with a valid NPI. */
static const char practitioner_v1[] =
    "{'meta': {'profile': ['https://dpc.cms.gov/api/v1/StructureDefinition/"
    "dpc-profile-practitioner'], 'lastUpdated': '2019-04-09T12:25:36.450182+00:00',"
    " 'versionId': 'MTU1NDgxMjczNjQ1MDE4MjAwMA'},"
    " 'resourceType': 'Practitioner', 'id': '" PRAC "',"
    " 'identifier': [{'system': 'http://hl7.org/fhir/sid/us-npi', 'value': '" NPI "'}],"
    " 'address': [{'city': 'PLYMOUTH', 'country': 'US', 'line': ['275 SANDWICH STREET'],"
    " 'postalCode': '02360', 'state': 'MA'}], 'gender': 'male',"
    " 'name': [{'family': 'Klocko335', 'given': ['Leonard963'], 'prefix': ['Dr.']}]}";

/* The v1 guide's patient.json (abridged), with an MBI for its bene_id. */
static const char patient_v1[] =
    "{'resourceType': 'Patient', 'id': '728b270d-d7de-4143-82fe-d3ccd92cebe4',"
    " 'meta': {'profile': ['https://dpc.cms.gov/api/v1/StructureDefinition/"
    "dpc-profile-patient'], 'lastUpdated': '2019-04-09T12:25:36.450182+00:00'},"
    " 'identifier': [{'system': 'http://hl7.org/fhir/sid/us-mbi', 'value': '1eg4-te5-mk73'}],"
    " 'name': [{'use': 'official', 'family': 'Prosacco', 'given': ['Jonathan'],"
    " 'prefix': ['Mr.']}], 'telecom': [{'system': 'phone', 'value': '555-719-3748',"
    " 'use': 'home'}], 'gender': 'male', 'birthDate': '1943-06-08',"
    " 'multipleBirthBoolean': false}";

static json_t *practitioner(void)
{
    return J(practitioner_v1);
}

static json_t *patient(void)
{
    return J(patient_v1);
}

/* A Patient with the given MBI, names and birth date. */
static json_t *patient_with(const char *mbi, const char *birth)
{
    json_t *p = patient();

    json_object_set_new(json_array_get(json_object_get(p, "identifier"), 0), "value",
                        json_string(mbi));
    json_object_set_new(p, "birthDate", json_string(birth));
    return p;
}

static json_t *practitioner_with(const char *npi)
{
    json_t *p = practitioner();

    json_object_set_new(json_array_get(json_object_get(p, "identifier"), 0), "value",
                        json_string(npi));
    return p;
}

/* ---- Practitioner --------------------------------------------------------------- */

START_TEST(practitioner_v1_guide_example)
{
    dpc_practitioner *pr = NULL;
    json_t *stored;

    ck_assert_int_eq(dpc_practitioner_check(pool, practitioner(), NULL, oo, &pr), 0);
    ck_assert_uint_eq(nissues(), 0);
    ck_assert_str_eq(pr->npi, NPI);
    ck_assert_str_eq(pr->family, "Klocko335");
    ck_assert_str_eq(pr->given, "Leonard963");
    /* the stored form: compact, without what the server owns */
    ck_assert_ptr_null(strchr(pr->json, '\n'));
    ck_assert_ptr_null(strstr(pr->json, "\": "));
    stored = J(pr->json);
    ck_assert_ptr_null(json_object_get(stored, "id"));
    ck_assert_ptr_null(json_object_get(json_object_get(stored, "meta"), "lastUpdated"));
    ck_assert_ptr_null(json_object_get(json_object_get(stored, "meta"), "versionId"));
    ck_assert_ptr_nonnull(json_object_get(json_object_get(stored, "meta"), "profile"));
    ck_assert_ptr_nonnull(json_object_get(stored, "address"));
}
END_TEST

START_TEST(practitioner_input_not_changed)
{
    json_t *in = practitioner();
    const char *before = dpc_json_pdump(pool, in);
    dpc_practitioner *pr;

    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), 0);
    ck_assert_str_eq(dpc_json_pdump(pool, in), before);
}
END_TEST

START_TEST(practitioner_meta_only_server_fields_dropped)
{
    json_t *in = practitioner();
    dpc_practitioner *pr;

    json_object_set_new(in, "meta", JN("{'lastUpdated': '2019-04-09T12:25:36Z'}"));
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), 0);
    ck_assert_ptr_null(json_object_get(J(pr->json), "meta"));
}
END_TEST

START_TEST(practitioner_not_an_object)
{
    dpc_practitioner *pr = NULL;

    ck_assert_int_eq(dpc_practitioner_check(pool, J("['Practitioner']"), NULL, oo, &pr), -1);
    ONE_ISSUE("Practitioner", DPC_ISSUE_STRUCTURE, "JSON object");
    ck_assert_ptr_null(pr);
}
END_TEST

START_TEST(practitioner_wrong_resource_type)
{
    dpc_practitioner *pr = NULL;

    ck_assert_int_eq(dpc_practitioner_check(pool, patient(), NULL, oo, &pr), -1);
    ONE_ISSUE("Practitioner.resourceType", DPC_ISSUE_VALUE, "not \"Patient\"");
    ck_assert_ptr_null(pr);
}
END_TEST

START_TEST(practitioner_missing_resource_type)
{
    json_t *in = practitioner();
    dpc_practitioner *pr;

    json_object_del(in, "resourceType");
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
    ONE_ISSUE("Practitioner.resourceType", DPC_ISSUE_REQUIRED, "Practitioner");
}
END_TEST

START_TEST(practitioner_missing_identifier)
{
    json_t *in = practitioner();
    dpc_practitioner *pr;

    json_object_del(in, "identifier");
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
    ONE_ISSUE("Practitioner.identifier", DPC_ISSUE_REQUIRED, "us-npi");
}
END_TEST

START_TEST(practitioner_identifier_other_system_only)
{
    json_t *in = practitioner();
    dpc_practitioner *pr;

    json_object_set_new(in, "identifier", JN("[{'system': 'urn:oid:1.2.3', 'value': '"
                                            NPI "'}]"));
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
    ONE_ISSUE("Practitioner.identifier", DPC_ISSUE_REQUIRED, "us-npi");
}
END_TEST

START_TEST(practitioner_identifier_not_array)
{
    json_t *in = practitioner();
    dpc_practitioner *pr;

    json_object_set_new(in, "identifier", JN("{'system': 'http://hl7.org/fhir/sid/us-npi',"
                                            " 'value': '" NPI "'}"));
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
    ONE_ISSUE("Practitioner.identifier", DPC_ISSUE_STRUCTURE, "array");
}
END_TEST

START_TEST(practitioner_identifier_element_not_object)
{
    json_t *in = practitioner();
    dpc_practitioner *pr;

    json_array_insert_new(json_object_get(in, "identifier"), 0, json_string(NPI));
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
    ONE_ISSUE("Practitioner.identifier[0]", DPC_ISSUE_STRUCTURE, "Identifier");
}
END_TEST

START_TEST(practitioner_bad_npis)
{
    /* wrong check digit, too short, letters, the guide's placeholder */
    static const char *const bad[] = { "1234567890", "123456789", "12345678A3",
                                       "3116145044854423862", "", NULL };
    int i;

    for (i = 0; bad[i]; i++) {
        dpc_practitioner *pr = NULL;

        clear_issues();
        ck_assert_int_eq(dpc_practitioner_check(pool, practitioner_with(bad[i]), NULL, oo,
                                                &pr), -1);
        if (*bad[i])
            ONE_ISSUE("Practitioner.identifier[0].value", DPC_ISSUE_VALUE, "not a valid NPI");
        else
            ONE_ISSUE("Practitioner.identifier[0].value", DPC_ISSUE_REQUIRED, "no value");
        ck_assert_ptr_null(pr);
    }
}
END_TEST

START_TEST(practitioner_npi_not_a_string)
{
    json_t *in = practitioner();
    dpc_practitioner *pr;

    json_object_set_new(json_array_get(json_object_get(in, "identifier"), 0), "value",
                        json_integer(1234567893));
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
    ONE_ISSUE("Practitioner.identifier[0].value", DPC_ISSUE_REQUIRED, "NPI");
}
END_TEST

START_TEST(practitioner_two_different_npis)
{
    json_t *in = practitioner();
    dpc_practitioner *pr;

    json_array_append_new(json_object_get(in, "identifier"),
                          JN(NPI_ID(NPI2)));
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
    ONE_ISSUE("Practitioner.identifier[1]", DPC_ISSUE_VALUE, "second, different NPI");
}
END_TEST

START_TEST(practitioner_same_npi_twice_and_other_ids)
{
    json_t *in = practitioner();
    dpc_practitioner *pr;

    json_array_insert_new(json_object_get(in, "identifier"), 0,
                          JN("{'system': 'urn:oid:2.16.840.1.113883.4.6', 'value': 'x'}"));
    json_array_append_new(json_object_get(in, "identifier"),
                          JN(NPI_ID(NPI)));
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), 0);
    ck_assert_str_eq(pr->npi, NPI);
}
END_TEST

START_TEST(practitioner_missing_name)
{
    json_t *in = practitioner();
    dpc_practitioner *pr;

    json_object_del(in, "name");
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
    ONE_ISSUE("Practitioner.name", DPC_ISSUE_REQUIRED, "family and given");
    clear_issues();
    json_object_set_new(in, "name", json_array());
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
    ONE_ISSUE("Practitioner.name", DPC_ISSUE_REQUIRED, "family and given");
    clear_issues();
    json_object_set_new(in, "name", JN("{'family': 'X', 'given': ['Y']}"));
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
    ONE_ISSUE("Practitioner.name", DPC_ISSUE_STRUCTURE, "array");
}
END_TEST

START_TEST(practitioner_name_without_family)
{
    json_t *in = practitioner();
    dpc_practitioner *pr;

    json_object_set_new(in, "name", JN("[{'given': ['Leonard963']}]"));
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
    ONE_ISSUE("Practitioner.name[0].family", DPC_ISSUE_REQUIRED, "family");
    clear_issues();
    json_object_set_new(in, "name", JN("[{'family': '  ', 'given': ['Leonard963']}]"));
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
    ONE_ISSUE("Practitioner.name[0].family", DPC_ISSUE_REQUIRED, "family");
}
END_TEST

START_TEST(practitioner_name_without_given)
{
    static const char *const names[] = {
        "[{'family': 'Klocko335'}]",
        "[{'family': 'Klocko335', 'given': []}]",
        "[{'family': 'Klocko335', 'given': ['']}]",
        "[{'family': 'Klocko335', 'given': 'Leonard963'}]",
        NULL
    };
    int i;

    for (i = 0; names[i]; i++) {
        json_t *in = practitioner();
        dpc_practitioner *pr;

        clear_issues();
        json_object_set_new(in, "name", JN(names[i]));
        ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
        ONE_ISSUE("Practitioner.name[0].given", DPC_ISSUE_REQUIRED, "given name");
    }
}
END_TEST

START_TEST(practitioner_name_neither_part)
{
    json_t *in = practitioner();
    dpc_practitioner *pr;

    json_object_set_new(in, "name", JN("[{'text': 'Dr Leonard Klocko'}]"));
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
    ck_assert_uint_eq(nissues(), 2);
    HAS_ISSUE("Practitioner.name[0].family", DPC_ISSUE_REQUIRED);
    HAS_ISSUE("Practitioner.name[0].given", DPC_ISSUE_REQUIRED);
    clear_issues();
    json_object_set_new(in, "name", JN("['Leonard Klocko']"));
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
    ONE_ISSUE("Practitioner.name[0]", DPC_ISSUE_STRUCTURE, "HumanName");
}
END_TEST

START_TEST(practitioner_later_complete_name_used)
{
    json_t *in = practitioner();
    dpc_practitioner *pr;

    json_object_set_new(in, "name", JN("[{'text': 'Leo'}, {'family': 'Klocko',"
                                      " 'given': ['Leonard', 'L']}]"));
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), 0);
    ck_assert_str_eq(pr->family, "Klocko");
    ck_assert_str_eq(pr->given, "Leonard");
}
END_TEST

START_TEST(practitioner_every_problem_reported)
{
    json_t *in = practitioner();
    dpc_practitioner *pr;

    json_object_del(in, "identifier");
    json_object_del(in, "name");
    ck_assert_int_eq(dpc_practitioner_check(pool, in, NULL, oo, &pr), -1);
    ck_assert_uint_eq(nissues(), 2);
    HAS_ISSUE("Practitioner.identifier", DPC_ISSUE_REQUIRED);
    HAS_ISSUE("Practitioner.name", DPC_ISSUE_REQUIRED);
}
END_TEST

START_TEST(practitioner_where_prefix_and_diagnostics)
{
    json_t *in = practitioner_with("1234567890");
    dpc_practitioner *pr;

    ck_assert_int_eq(dpc_practitioner_check(pool, in, "Bundle.entry[3].resource", oo, &pr),
                     -1);
    ONE_ISSUE("Bundle.entry[3].resource.identifier[0].value", DPC_ISSUE_VALUE, "1234567890");
    /* the diagnostics name the element too */
    ck_assert_ptr_eq(strstr(issue_diag(0), "Bundle.entry[3].resource.identifier[0].value: "),
                     issue_diag(0));
    ck_assert_str_eq(json_string_value(json_object_get(issue(0), "severity")), "error");
}
END_TEST

START_TEST(checks_judge_only_their_own_issues)
{
    dpc_practitioner *pr = NULL;

    /* an outcome already holding an issue (say, from the X-Provenance
     * check) does not make a good resource fail */
    dpc_oo_add(oo, "error", DPC_ISSUE_VALUE, "earlier", NULL);
    ck_assert_int_eq(dpc_practitioner_check(pool, practitioner(), NULL, oo, &pr), 0);
    ck_assert_ptr_nonnull(pr);
    ck_assert_uint_eq(nissues(), 1);
}
END_TEST

/* ---- Patient ------------------------------------------------------------------ */

START_TEST(patient_v1_guide_example)
{
    dpc_patient *pt = NULL;
    json_t *stored;

    ck_assert_int_eq(dpc_patient_check(pool, patient(), NULL, now, oo, &pt), 0);
    ck_assert_uint_eq(nissues(), 0);
    ck_assert_str_eq(pt->mbi, MBI);
    ck_assert_str_eq(pt->family, "Prosacco");
    ck_assert_str_eq(pt->given, "Jonathan");
    ck_assert_str_eq(pt->birth_date, "1943-06-08");
    ck_assert_str_eq(pt->gender, "male");
    stored = J(pt->json);
    ck_assert_ptr_null(json_object_get(stored, "id"));
    /* the identifier keeps what the client wrote */
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
        json_object_get(stored, "identifier"), 0), "value")), "1eg4-te5-mk73");
    ck_assert_ptr_nonnull(json_object_get(stored, "telecom"));
}
END_TEST

START_TEST(patient_blue_button_mbi_system)
{
    json_t *in = patient();
    dpc_patient *pt;

    json_object_set_new(in, "identifier", JN("[{'system': 'https://bluebutton.cms.gov/"
                                             "resources/identifier/mbi', "
                                             "'value': '" MBI "'}]"));
    ck_assert_int_eq(dpc_patient_check(pool, in, NULL, now, oo, &pt), 0);
    ck_assert_str_eq(pt->mbi, MBI);
}
END_TEST

START_TEST(patient_bene_id_is_not_an_mbi)
{
    json_t *in = patient();
    dpc_patient *pt;

    /* the v1 guide's example identifier */
    json_object_set_new(in, "identifier", JN("[{'system': 'https://bluebutton.cms.gov/"
                                            "resources/variables/bene_id', "
                                            "'value': '-20000000001809'}]"));
    ck_assert_int_eq(dpc_patient_check(pool, in, NULL, now, oo, &pt), -1);
    ONE_ISSUE("Patient.identifier", DPC_ISSUE_REQUIRED, "us-mbi");
}
END_TEST

START_TEST(patient_bad_mbis)
{
    /* S is not an MBI letter; 0 cannot lead; too long; too short; blank */
    static const char *const bad[] = { "1SG4TE5MK73", "0EG4TE5MK73", "1EG4TE5MK734",
                                       "1EG4TE5MK7", "---", NULL };
    int i;

    for (i = 0; bad[i]; i++) {
        dpc_patient *pt = NULL;

        clear_issues();
        ck_assert_int_eq(dpc_patient_check(pool, patient_with(bad[i], "1943-06-08"), NULL,
                                           now, oo, &pt), -1);
        ONE_ISSUE("Patient.identifier[0].value", DPC_ISSUE_VALUE, "not a valid MBI");
        ck_assert_ptr_null(pt);
    }
}
END_TEST

START_TEST(patient_two_different_mbis)
{
    json_t *in = patient();
    dpc_patient *pt;

    json_array_append_new(json_object_get(in, "identifier"),
                          JN(MBI_ID(MBI2)));
    ck_assert_int_eq(dpc_patient_check(pool, in, NULL, now, oo, &pt), -1);
    ONE_ISSUE("Patient.identifier[1]", DPC_ISSUE_VALUE, "second, different MBI");
}
END_TEST

START_TEST(patient_missing_birth_date)
{
    json_t *in = patient();
    dpc_patient *pt;

    json_object_del(in, "birthDate");
    ck_assert_int_eq(dpc_patient_check(pool, in, NULL, now, oo, &pt), -1);
    ONE_ISSUE("Patient.birthDate", DPC_ISSUE_REQUIRED, "birth date is required");
}
END_TEST

START_TEST(patient_birth_date_not_a_string)
{
    json_t *in = patient();
    dpc_patient *pt;

    json_object_set_new(in, "birthDate", json_integer(19430608));
    ck_assert_int_eq(dpc_patient_check(pool, in, NULL, now, oo, &pt), -1);
    ONE_ISSUE("Patient.birthDate", DPC_ISSUE_STRUCTURE, "string");
}
END_TEST

START_TEST(patient_birth_date_partial)
{
    static const char *const partial[] = { "1943", "1943-06", NULL };
    int i;

    for (i = 0; partial[i]; i++) {
        dpc_patient *pt;

        clear_issues();
        ck_assert_int_eq(dpc_patient_check(pool, patient_with(MBI, partial[i]), NULL, now,
                                           oo, &pt), -1);
        ONE_ISSUE("Patient.birthDate", DPC_ISSUE_VALUE, "full date");
    }
}
END_TEST

START_TEST(patient_birth_date_malformed_or_unreal)
{
    static const char *const bad[] = { "1943-6-8", "06/08/1943", "1943-06-08T00:00:00Z",
                                       "1943-02-30", "1900-02-29", "1943-13-01",
                                       "1943-00-10", "1943-06-00", "0000-01-01", "", NULL };
    int i;

    for (i = 0; bad[i]; i++) {
        dpc_patient *pt;

        clear_issues();
        ck_assert_int_eq(dpc_patient_check(pool, patient_with(MBI, bad[i]), NULL, now, oo,
                                           &pt), -1);
        ck_assert_msg(nissues() == 1 && !strcmp(issue_expr(0), "Patient.birthDate")
                      && !strcmp(issue_code(0), DPC_ISSUE_VALUE), "%s", bad[i]);
    }
}
END_TEST

START_TEST(patient_birth_date_leap_and_today)
{
    dpc_patient *pt;

    ck_assert_int_eq(dpc_patient_check(pool, patient_with(MBI, "2000-02-29"), NULL, now, oo,
                                       &pt), 0);
    ck_assert_int_eq(dpc_patient_check(pool, patient_with(MBI, "2024-06-01"), NULL, now, oo,
                                       &pt), 0);
    ck_assert_str_eq(pt->birth_date, "2024-06-01");
}
END_TEST

START_TEST(patient_birth_date_in_the_future)
{
    dpc_patient *pt;

    ck_assert_int_eq(dpc_patient_check(pool, patient_with(MBI, "2024-06-02"), NULL, now, oo,
                                       &pt), -1);
    ONE_ISSUE("Patient.birthDate", DPC_ISSUE_VALUE, "in the future");
}
END_TEST

START_TEST(birth_date_check_direct)
{
    const char *why;

    ck_assert_int_eq(dpc_birth_date_check("1943-06-08", now, &why), 0);
    ck_assert_ptr_null(why);
    ck_assert_int_eq(dpc_birth_date_check(NULL, now, &why), -1);
    ck_assert_int_eq(dpc_birth_date_check("1943-06-08 ", now, &why), -1);
    ck_assert_int_eq(dpc_birth_date_check("2100-01-01", now, &why), -1);
    ck_assert_str_eq(why, "is in the future");
    /* the UTC day decides: just before midnight UTC it is still June 1st */
    ck_assert_int_eq(dpc_birth_date_check("2024-06-02",
                                          now + apr_time_from_sec(11 * 3600 + 59 * 60),
                                          &why), -1);
    ck_assert_int_eq(dpc_birth_date_check("2024-06-02", now + apr_time_from_sec(12 * 3600),
                                          &why), 0);
}
END_TEST

START_TEST(patient_gender)
{
    json_t *in = patient();
    dpc_patient *pt;

    json_object_set_new(in, "gender", json_string("M"));
    ck_assert_int_eq(dpc_patient_check(pool, in, NULL, now, oo, &pt), -1);
    ONE_ISSUE("Patient.gender", DPC_ISSUE_VALUE, "male, female, other, unknown");
    clear_issues();
    json_object_del(in, "gender");
    ck_assert_int_eq(dpc_patient_check(pool, in, NULL, now, oo, &pt), 0);
    ck_assert_ptr_null(pt->gender);
    json_object_set_new(in, "gender", json_string("unknown"));
    ck_assert_int_eq(dpc_patient_check(pool, in, NULL, now, oo, &pt), 0);
    ck_assert_str_eq(pt->gender, "unknown");
}
END_TEST

START_TEST(patient_wrong_type_and_names)
{
    json_t *in = patient();
    dpc_patient *pt;

    ck_assert_int_eq(dpc_patient_check(pool, practitioner(), NULL, now, oo, &pt), -1);
    ONE_ISSUE("Patient.resourceType", DPC_ISSUE_VALUE, "\"Patient\"");
    clear_issues();
    json_object_set_new(in, "name", JN("[{'family': 'Prosacco'}]"));
    ck_assert_int_eq(dpc_patient_check(pool, in, NULL, now, oo, &pt), -1);
    ONE_ISSUE("Patient.name[0].given", DPC_ISSUE_REQUIRED, "given");
}
END_TEST

START_TEST(patient_every_problem_reported)
{
    json_t *in = J("{'resourceType': 'Patient', 'gender': 'x', 'birthDate': '1943'}");
    dpc_patient *pt;

    ck_assert_int_eq(dpc_patient_check(pool, in, NULL, now, oo, &pt), -1);
    ck_assert_uint_eq(nissues(), 4);
    HAS_ISSUE("Patient.identifier", DPC_ISSUE_REQUIRED);
    HAS_ISSUE("Patient.name", DPC_ISSUE_REQUIRED);
    HAS_ISSUE("Patient.birthDate", DPC_ISSUE_VALUE);
    HAS_ISSUE("Patient.gender", DPC_ISSUE_VALUE);
}
END_TEST

/* ---- $submit ---------------------------------------------------------------------- */

/* A Bundle of the given type holding the resources. */
static json_t *bundle_of(const char *type, json_t *const *res, int n)
{
    json_t *b = J("{'resourceType': 'Bundle', 'entry': []}");
    int i;

    if (type)
        json_object_set_new(b, "type", json_string(type));
    for (i = 0; i < n; i++)
        json_array_append_new(json_object_get(b, "entry"),
                              json_pack("{s:O}", "resource", res[i]));
    return b;
}

static json_t *parameters_of(json_t *res)
{
    return dpc_json_pool(pool, json_pack("{s:s, s:[{s:s, s:O}]}", "resourceType",
                                         "Parameters", "parameter", "name", "resource",
                                         "resource", res));
}

START_TEST(submit_practitioners_in_parameters)
{
    json_t *res[2] = { practitioner(), practitioner_with(NPI2) };
    dpc_submit *s = NULL;

    ck_assert_int_eq(dpc_submit_check(pool, parameters_of(bundle_of("collection", res, 2)),
                                      DPC_RES_PRACTITIONER, 10000, now, oo, &s), 0);
    ck_assert_uint_eq(nissues(), 0);
    ck_assert_int_eq(s->n, 2);
    ck_assert_int_eq(s->type, DPC_RES_PRACTITIONER);
    ck_assert_ptr_null(s->patients);
    ck_assert_str_eq(s->practitioners[0]->npi, NPI);
    ck_assert_str_eq(s->practitioners[1]->npi, NPI2);
}
END_TEST

START_TEST(submit_patients_bare_batch_bundle)
{
    json_t *res[2] = { patient(), patient_with(MBI2, "1950-01-31") };
    dpc_submit *s = NULL;

    ck_assert_int_eq(dpc_submit_check(pool, bundle_of("batch", res, 2), DPC_RES_PATIENT,
                                      10000, now, oo, &s), 0);
    ck_assert_int_eq(s->n, 2);
    ck_assert_ptr_null(s->practitioners);
    ck_assert_str_eq(s->patients[0]->mbi, MBI);
    ck_assert_str_eq(s->patients[1]->mbi, MBI2);
    ck_assert_str_eq(s->patients[1]->birth_date, "1950-01-31");
}
END_TEST

START_TEST(submit_every_bad_entry_reported)
{
    json_t *res[4] = { patient(), patient_with(MBI2, "1943"), patient_with("3EG4TE5MK73",
                       "1960-01-01"), patient_with("nope", "1961-01-01") };
    dpc_submit *s = NULL;

    json_object_del(res[2], "name");
    ck_assert_int_eq(dpc_submit_check(pool, parameters_of(bundle_of("collection", res, 4)),
                                      DPC_RES_PATIENT, 10000, now, oo, &s), -1);
    ck_assert_ptr_null(s);
    ck_assert_uint_eq(nissues(), 3);
    HAS_ISSUE("Bundle.entry[1].resource.birthDate", DPC_ISSUE_VALUE);
    HAS_ISSUE("Bundle.entry[2].resource.name", DPC_ISSUE_REQUIRED);
    HAS_ISSUE("Bundle.entry[3].resource.identifier[0].value", DPC_ISSUE_VALUE);
}
END_TEST

START_TEST(submit_duplicate_npi)
{
    json_t *res[3] = { practitioner(), practitioner_with(NPI2), practitioner() };
    dpc_submit *s = NULL;

    ck_assert_int_eq(dpc_submit_check(pool, bundle_of("collection", res, 3),
                                      DPC_RES_PRACTITIONER, 10000, now, oo, &s), -1);
    ONE_ISSUE("Bundle.entry[2].resource.identifier", DPC_ISSUE_DUPLICATE,
              "NPI " NPI " is also in Bundle.entry[0]");
}
END_TEST

START_TEST(submit_duplicate_mbi_written_differently)
{
    json_t *res[2] = { patient_with("1EG4-TE5-MK73", "1943-06-08"),
                       patient_with("1eg4te5mk73", "1950-01-01") };
    dpc_submit *s = NULL;

    ck_assert_int_eq(dpc_submit_check(pool, bundle_of("batch", res, 2), DPC_RES_PATIENT,
                                      10000, now, oo, &s), -1);
    ONE_ISSUE("Bundle.entry[1].resource.identifier", DPC_ISSUE_DUPLICATE, "MBI " MBI);
}
END_TEST

START_TEST(submit_wrong_resource_in_entry)
{
    json_t *res[2] = { practitioner(), patient() };
    dpc_submit *s;

    ck_assert_int_eq(dpc_submit_check(pool, bundle_of("collection", res, 2),
                                      DPC_RES_PRACTITIONER, 10000, now, oo, &s), -1);
    ONE_ISSUE("Bundle.entry[1].resource.resourceType", DPC_ISSUE_VALUE, "\"Practitioner\"");
}
END_TEST

START_TEST(submit_entry_shapes)
{
    json_t *b = J("{'resourceType': 'Bundle', 'type': 'collection', 'entry': "
                  "[{'fullUrl': 'urn:uuid:x'}, 'Patient', {'resource': 'Patient'}]}");
    dpc_submit *s;

    ck_assert_int_eq(dpc_submit_check(pool, b, DPC_RES_PATIENT, 10000, now, oo, &s), -1);
    ck_assert_uint_eq(nissues(), 3);
    HAS_ISSUE("Bundle.entry[0].resource", DPC_ISSUE_REQUIRED);
    HAS_ISSUE("Bundle.entry[1]", DPC_ISSUE_STRUCTURE);
    HAS_ISSUE("Bundle.entry[2].resource", DPC_ISSUE_STRUCTURE);
}
END_TEST

START_TEST(submit_bundle_type)
{
    json_t *res[1] = { practitioner() };
    dpc_submit *s;

    ck_assert_int_eq(dpc_submit_check(pool, bundle_of("transaction", res, 1),
                                      DPC_RES_PRACTITIONER, 10, now, oo, &s), -1);
    ONE_ISSUE("Bundle.type", DPC_ISSUE_VALUE, "collection or batch");
    clear_issues();
    ck_assert_int_eq(dpc_submit_check(pool, bundle_of(NULL, res, 1),
                                      DPC_RES_PRACTITIONER, 10, now, oo, &s), -1);
    ONE_ISSUE("Bundle.type", DPC_ISSUE_REQUIRED, "collection or batch");
}
END_TEST

START_TEST(submit_no_entries)
{
    dpc_submit *s;

    ck_assert_int_eq(dpc_submit_check(pool, bundle_of("collection", NULL, 0),
                                      DPC_RES_PATIENT, 10, now, oo, &s), -1);
    ONE_ISSUE("Bundle.entry", DPC_ISSUE_REQUIRED, "at least one entry");
    clear_issues();
    ck_assert_int_eq(dpc_submit_check(pool, J("{'resourceType': 'Bundle', 'type': 'batch'}"),
                                      DPC_RES_PATIENT, 10, now, oo, &s), -1);
    ONE_ISSUE("Bundle.entry", DPC_ISSUE_REQUIRED, "at least one entry");
}
END_TEST

START_TEST(submit_over_the_limit)
{
    json_t *bad = J("{'resourceType': 'Patient'}");
    json_t *res[4] = { bad, bad, bad, bad };
    dpc_submit *s;

    /* one issue, and the (bad) entries are not even looked at */
    ck_assert_int_eq(dpc_submit_check(pool, bundle_of("batch", res, 4), DPC_RES_PATIENT, 3,
                                      now, oo, &s), -1);
    ONE_ISSUE("Bundle.entry", DPC_ISSUE_TOO_COSTLY, "at most 3 entries");
    clear_issues();
    ck_assert_int_eq(dpc_submit_check(pool, bundle_of("batch", res, 3), DPC_RES_PATIENT, 3,
                                      now, oo, &s), -1);
    ck_assert_uint_eq(nissues(), 9);    /* at the limit, every entry is checked */
}
END_TEST

START_TEST(submit_parameters_malformed)
{
    static const char *const bodies[] = {
        "{'resourceType': 'Parameters'}",
        "{'resourceType': 'Parameters', 'parameter': []}",
        "{'resourceType': 'Parameters', 'parameter': [{'name': 'bundle', 'resource': {}}]}",
        "{'resourceType': 'Parameters', 'parameter': [{'name': 'resource', 'resource': {}},"
        " {'name': 'resource', 'resource': {}}]}",
        NULL
    };
    int i;

    for (i = 0; bodies[i]; i++) {
        dpc_submit *s;

        clear_issues();
        ck_assert_int_eq(dpc_submit_check(pool, J(bodies[i]), DPC_RES_PATIENT, 10, now, oo,
                                          &s), -1);
        ONE_ISSUE("Parameters.parameter", DPC_ISSUE_STRUCTURE, "exactly one parameter");
    }
}
END_TEST

/* Entries that break FHIR's rules for a parameter are named, whatever
 * the operation: no value at all, two value[x], a value and a resource. */
START_TEST(submit_parameters_entry_rules)
{
    static const struct { const char *body, *expr, *text; } cases[] = {
        { "{'resourceType': 'Parameters', 'parameter': [{'name': 'resource'}]}",
          "Parameters.parameter[0]", "must have one of value[x], resource or part, and has none" },
        { "{'resourceType': 'Parameters', 'parameter': [{'name': 'resource', 'resource': {},"
          " 'valueString': 'x'}]}",
          "Parameters.parameter[0]", "not valueString and resource" },
        { "{'resourceType': 'Parameters', 'parameter': [{'name': 'resource', 'resource': {}},"
          " {'name': 'n', 'valueString': 'x', 'valueInstant': 'y'}]}",
          "Parameters.parameter[1]", "the parameter n has more than one value[x]: "
          "valueInstant and valueString" },
        { "{'resourceType': 'Parameters', 'parameter': {'name': 'resource', 'resource': {}}}",
          "Parameters.parameter", "must be an array" },
        { "{'resourceType': 'Parameters', 'parameter': ['resource']}",
          "Parameters.parameter[0]", "must be an object" },
        { NULL, NULL, NULL }
    };
    int i;

    for (i = 0; cases[i].body; i++) {
        dpc_submit *s;

        clear_issues();
        ck_assert_int_eq(dpc_submit_check(pool, J(cases[i].body), DPC_RES_PATIENT, 10, now,
                                          oo, &s), -1);
        ONE_ISSUE(cases[i].expr, DPC_ISSUE_STRUCTURE, cases[i].text);
    }
}
END_TEST

/* dpc_params_read itself: what it gives back, and what it refuses. */
START_TEST(params_read_entries_and_refusals)
{
    static const char *const refused[] = {
        "{'resourceType': 'Group', 'parameter': []}",
        "{'parameter': []}",
        "{'resourceType': 'Parameters', 'parameter': 'x'}",
        "{'resourceType': 'Parameters', 'parameter': 3}",
        "{'resourceType': 'Parameters', 'parameter': null}",
        "{'resourceType': 'Parameters', 'parameter': [null]}",
        "{'resourceType': 'Parameters', 'parameter': [{'valueString': 'x'}]}",
        "{'resourceType': 'Parameters', 'parameter': [{'name': 3, 'valueString': 'x'}]}",
        "{'resourceType': 'Parameters', 'parameter': [{'name': 'a', 'part': {}}]}",
        "{'resourceType': 'Parameters', 'parameter': [{'name': 'a', 'resource': []}]}",
        "{'resourceType': 'Parameters', 'parameter': [{'name': 'a', 'valueString': 'x',"
        " 'part': []}]}",
        NULL
    };
    dpc_param *ps;
    int i;

    clear_issues();
    ck_assert_int_eq(dpc_params_read(pool, J("{'resourceType': 'Parameters', 'parameter': ["
                                             "{'name': '_type', 'valueString': 'Patient',"
                                             " '_valueString': {'id': 'x'}},"
                                             " {'name': 'r', 'resource': {'a': 1}},"
                                             " {'name': 'p', 'part': []}]}"), oo, &ps), 3);
    ck_assert_uint_eq(nissues(), 0);
    ck_assert_str_eq(ps[0].name, "_type");
    ck_assert_str_eq(ps[0].value_key, "valueString");
    ck_assert_str_eq(json_string_value(ps[0].value), "Patient");
    ck_assert_ptr_null(ps[0].resource);
    ck_assert_ptr_nonnull(ps[1].resource);
    ck_assert_ptr_null(ps[1].value);
    ck_assert_ptr_nonnull(ps[2].part);
    ck_assert_int_eq(dpc_params_read(pool, J("{'resourceType': 'Parameters'}"), oo, &ps), 0);
    for (i = 0; refused[i]; i++) {
        clear_issues();
        ck_assert_msg(dpc_params_read(pool, J(refused[i]), oo, &ps) == -1, "%s", refused[i]);
        ck_assert_msg(nissues() == 1, "%s: %s", refused[i], dpc_json_pdump(pool, oo));
    }
}
END_TEST

START_TEST(submit_body_not_a_bundle)
{
    dpc_submit *s;

    ck_assert_int_eq(dpc_submit_check(pool, patient(), DPC_RES_PATIENT, 10, now, oo, &s), -1);
    ONE_ISSUE("Bundle.resourceType", DPC_ISSUE_VALUE, "\"Bundle\", not \"Patient\"");
    clear_issues();
    ck_assert_int_eq(dpc_submit_check(pool, J("[1]"), DPC_RES_PATIENT, 10, now, oo, &s), -1);
    ONE_ISSUE("Bundle", DPC_ISSUE_STRUCTURE, "JSON object");
    clear_issues();
    ck_assert_int_eq(dpc_submit_check(pool, NULL, DPC_RES_PATIENT, 10, now, oo, &s), -1);
    ONE_ISSUE("Bundle", DPC_ISSUE_STRUCTURE, "JSON object");
}
END_TEST

/* ---- loading and output of stored resources ------------------------------------- */

START_TEST(load_reports_bad_json)
{
    const char *text = "{\"resourceType\": \"Group\",\n \"type\": }";
    json_t *v = (json_t *)1;

    ck_assert_int_eq(dpc_res_load(pool, text, strlen(text), "body", oo, &v), -1);
    ck_assert_ptr_null(v);
    ONE_ISSUE(NULL, DPC_ISSUE_STRUCTURE, "body: not valid JSON");
    ck_assert_ptr_nonnull(strstr(issue_diag(0), "line 2"));
    clear_issues();
    ck_assert_int_eq(dpc_res_load(pool, "[]", 2, "body", oo, &v), -1);
    ONE_ISSUE(NULL, DPC_ISSUE_STRUCTURE, "JSON object");
    clear_issues();
    ck_assert_int_eq(dpc_res_load(pool, "{\"a\":1,\"a\":2}", 13, "body", oo, &v), -1);
    ONE_ISSUE(NULL, DPC_ISSUE_STRUCTURE, "duplicate");
    clear_issues();
    ck_assert_int_eq(dpc_res_load(pool, NULL, 0, "body", oo, &v), -1);
    ck_assert_int_eq(dpc_res_load(pool, "{\"a\":1} trailing", 7, "body", oo, &v), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "a")), 1);
}
END_TEST

START_TEST(output_sets_id_and_meta)
{
    dpc_practitioner *pr;
    json_t *out;
    const char *key;
    void *it;

    ck_assert_int_eq(dpc_practitioner_check(pool, practitioner(), NULL, oo, &pr), 0);
    out = dpc_json_pool(pool, dpc_res_output(pool, pr->json, strlen(pr->json), "abc",
                                             now, "3"));
    ck_assert_ptr_nonnull(out);
    ck_assert_str_eq(dpc_jstr(out, "id"), "abc");
    ck_assert_str_eq(dpc_jstr(json_object_get(out, "meta"), "lastUpdated"),
                     "2024-06-01T12:00:00.000Z");
    ck_assert_str_eq(dpc_jstr(json_object_get(out, "meta"), "versionId"), "3");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(out, "meta"), "profile"));
    /* resourceType, id, meta lead */
    it = json_object_iter(out);
    key = json_object_iter_key(it);
    ck_assert_str_eq(key, "resourceType");
    ck_assert_str_eq(json_object_iter_key(json_object_iter_next(out, it)), "id");
    ck_assert_str_eq(json_object_iter_key(json_object_iter_next(out,
                                          json_object_iter_next(out, it))), "meta");
    /* and it is a Practitioner we would accept again */
    ck_assert_int_eq(dpc_practitioner_check(pool, out, NULL, oo, &pr), 0);
    ck_assert_str_eq(pr->npi, NPI);
}
END_TEST

START_TEST(output_without_meta_or_version)
{
    const char *stored = "{\"resourceType\":\"Patient\",\"birthDate\":\"1943-06-08\"}";
    json_t *out = dpc_json_pool(pool, dpc_res_output(pool, stored, strlen(stored), "p1",
                                                     now, NULL));

    ck_assert_str_eq(dpc_jstr(json_object_get(out, "meta"), "lastUpdated"),
                     "2024-06-01T12:00:00.000Z");
    ck_assert_ptr_null(json_object_get(json_object_get(out, "meta"), "versionId"));
    ck_assert_str_eq(dpc_jstr(out, "birthDate"), "1943-06-08");
    ck_assert_ptr_null(dpc_res_output(pool, "[]", 2, "x", now, NULL));
    ck_assert_ptr_null(dpc_res_output(pool, "{", 1, "x", now, NULL));
    ck_assert_ptr_null(dpc_res_output(pool, NULL, 0, "x", now, NULL));
}
END_TEST

/* ---- attestation ------------------------------------------------------------------ */

/* The v1 guide's example, with real ids and a recent recorded time. */
static const char prov_v1[] =
    "{'resourceType': 'Provenance', 'meta': {'profile': ['https://dpc.cms.gov/api/v1/"
    "StructureDefinition/dpc-profile-attestation']},"
    " 'recorded': '2024-06-01T06:59:00.000-05:00',"
    " 'reason': [{'system': 'http://hl7.org/fhir/v3/ActReason', 'code': 'TREAT'}],"
    " 'agent': [{'role': [{'coding': [{'system': 'http://hl7.org/fhir/v3/RoleClass',"
    " 'code': 'AGNT'}]}], 'whoReference': {'reference': 'Organization/" ORG "'},"
    " 'onBehalfOfReference': {'reference': 'Practitioner/" PRAC "'}}]}";

/* The v2 guide's example: R4 shapes, no onBehalfOf. */
static const char prov_v2[] =
    "{'resourceType': 'Provenance', 'recorded': '2024-06-01T05:04:05-07:00',"
    " 'reason': [{'coding': [{'system': 'http://hl7.org/fhir/v3/ActReason',"
    " 'code': 'TREAT'}]}],"
    " 'agent': [{'role': [{'coding': [{'system': 'http://hl7.org/fhir/v3/RoleClass',"
    " 'code': 'AGNT'}]}], 'who': {'reference': 'Organization/" ORG "'}}]}";

static dpc_attest_rules rules_v1(void)
{
    dpc_attest_rules r = { ORG, now, DPC_ATTESTATION_SKEW, 0, 1 };

    return r;
}

static dpc_attest_rules rules_v2(void)
{
    dpc_attest_rules r = { ORG, now, DPC_ATTESTATION_SKEW, 0, 0 };

    return r;
}

static int attest(const json_t *prov, const dpc_attest_rules *r, dpc_attestation **a)
{
    const char *text = dpc_json_pdump(pool, prov);

    *a = NULL;
    return dpc_attestation_check(pool, text, strlen(text), r, oo, a);
}

/* The first agent of a Provenance fixture. */
static json_t *agent0(json_t *prov)
{
    return json_array_get(json_object_get(prov, "agent"), 0);
}

START_TEST(attest_v1_guide_example)
{
    dpc_attest_rules r = rules_v1();
    const char *text = Q(prov_v1);
    apr_time_t want;
    const char *why;
    dpc_attestation *a = NULL;

    ck_assert_int_eq(dpc_attestation_check(pool, text, strlen(text), &r, oo, &a), 0);
    ck_assert_uint_eq(nissues(), 0);
    ck_assert_int_eq(dpc_instant_parse("2024-06-01T11:59:00Z", &want, &why), 0);
    ck_assert(a->recorded == want);
    ck_assert_str_eq(a->org_id, ORG);
    ck_assert_str_eq(a->practitioner_id, PRAC);
    ck_assert_ptr_null(a->practitioner_npi);
    /* the audit copy is compact JSON of the same resource */
    ck_assert_ptr_null(strstr(a->json, "\": "));
    ck_assert(json_equal(J(a->json), J(prov_v1)));
}
END_TEST

START_TEST(attest_v2_guide_example)
{
    dpc_attest_rules r = rules_v2();
    dpc_attestation *a;

    ck_assert_int_eq(attest(J(prov_v2), &r, &a), 0);
    ck_assert_str_eq(a->org_id, ORG);
    ck_assert_ptr_null(a->practitioner_id);
    ck_assert_ptr_null(a->practitioner_npi);
    /* v1 rules want the practitioner */
    r = rules_v1();
    ck_assert_int_eq(attest(J(prov_v2), &r, &a), -1);
    ONE_ISSUE("Provenance.agent[0].onBehalfOf", DPC_ISSUE_REQUIRED,
              "X-Provenance: agent.onBehalfOf is required");
}
END_TEST

START_TEST(attest_terminology_systems)
{
    json_t *prov = J(prov_v2);
    dpc_attest_rules r = rules_v2();
    dpc_attestation *a;

    json_object_set_new(prov, "reason",
                        JN("[{'coding': [{'system': 'http://terminology.hl7.org/"
                           "CodeSystem/v3-ActReason', 'code': 'TREAT'}]}]"));
    json_object_set_new(agent0(prov), "role",
                        JN("[{'coding': [{'system': 'http://terminology.hl7.org/CodeSystem/"
                          "v3-RoleClass', 'code': 'AGNT'}]}]"));
    ck_assert_int_eq(attest(prov, &r, &a), 0);
}
END_TEST

START_TEST(attest_on_behalf_of_npi)
{
    json_t *prov = J(prov_v2);
    dpc_attest_rules r = rules_v1();
    dpc_attestation *a;

    json_object_set_new(agent0(prov), "onBehalfOf",
                        JN("{'identifier': {'system': 'http://hl7.org/fhir/sid/us-npi',"
                          " 'value': '" NPI "'}}"));
    ck_assert_int_eq(attest(prov, &r, &a), 0);
    ck_assert_str_eq(a->practitioner_npi, NPI);
    ck_assert_ptr_null(a->practitioner_id);
    /* reference and identifier together: both kept, for the caller to check */
    json_object_set_new(json_object_get(agent0(prov), "onBehalfOf"), "reference",
                        json_string("Practitioner/0C527D2E-2E8A-4808-B11D-0FA06BAF8254"));
    ck_assert_int_eq(attest(prov, &r, &a), 0);
    ck_assert_str_eq(a->practitioner_npi, NPI);
    ck_assert_str_eq(a->practitioner_id, PRAC);
}
END_TEST

START_TEST(attest_on_behalf_of_bad)
{
    static const char *const obo[] = {
        "{'identifier': {'system': 'http://hl7.org/fhir/sid/us-npi', 'value': '1234567890'}}",
        "{'identifier': {'system': 'urn:oid:1', 'value': '" NPI "'}}",
        "{'identifier': {'value': '" NPI "'}}",
        "{'reference': 'Practitioner/123'}",
        "{'reference': 'Patient/" PAT1 "'}",
        "{'reference': 'https://dpc.cms.gov/api/v1/Practitioner/" PRAC "'}",
        NULL
    };
    int i;

    for (i = 0; obo[i]; i++) {
        json_t *prov = J(prov_v2);
        dpc_attest_rules r = rules_v2();
        dpc_attestation *a;

        clear_issues();
        json_object_set_new(agent0(prov), "onBehalfOf", JN(obo[i]));
        ck_assert_int_eq(attest(prov, &r, &a), -1);
        ONE_ISSUE("Provenance.agent[0].onBehalfOf", DPC_ISSUE_VALUE,
                  "X-Provenance: agent.onBehalfOf");
    }
}
END_TEST

START_TEST(attest_on_behalf_of_empty)
{
    json_t *prov = J(prov_v1);
    dpc_attest_rules r = rules_v2();
    dpc_attestation *a;

    /* even where optional, one that is there must say something */
    json_object_set_new(agent0(prov), "onBehalfOfReference", JN("{'display': 'Dr K'}"));
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.agent[0].onBehalfOfReference", DPC_ISSUE_REQUIRED,
              "Practitioner/{id}");
    clear_issues();
    json_object_set_new(agent0(prov), "onBehalfOf",
                        JN("{'reference': 'Practitioner/" PRAC "'}"));
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.agent[0].onBehalfOf", DPC_ISSUE_STRUCTURE, "give one");
}
END_TEST

START_TEST(attest_missing_header)
{
    dpc_attest_rules r = rules_v1();
    dpc_attestation *a = NULL;

    ck_assert_int_eq(dpc_attestation_check(pool, NULL, 0, &r, oo, &a), -1);
    ONE_ISSUE(NULL, DPC_ISSUE_REQUIRED, "X-Provenance: the header is required");
    ck_assert_ptr_null(a);
}
END_TEST

START_TEST(attest_malformed)
{
    dpc_attest_rules r = rules_v1();
    dpc_attestation *a = NULL;

    ck_assert_int_eq(dpc_attestation_check(pool, "{resourceType", 13, &r, oo, &a), -1);
    ONE_ISSUE(NULL, DPC_ISSUE_STRUCTURE, "X-Provenance: not valid JSON");
    clear_issues();
    ck_assert_int_eq(dpc_attestation_check(pool, "\"Provenance\"", 12, &r, oo, &a), -1);
    ONE_ISSUE(NULL, DPC_ISSUE_STRUCTURE, "X-Provenance: not valid JSON");
    clear_issues();
    ck_assert_int_eq(dpc_attestation_check(pool, "[{}]", 4, &r, oo, &a), -1);
    ONE_ISSUE(NULL, DPC_ISSUE_STRUCTURE, "X-Provenance: must be a JSON object");
    clear_issues();
    ck_assert_int_eq(attest(J("{'resourceType': 'Consent'}"), &r, &a), -1);
    ONE_ISSUE("Provenance.resourceType", DPC_ISSUE_VALUE, "not \"Consent\"");
    clear_issues();
    ck_assert_int_eq(attest(J("{'recorded': '2024-06-01T12:00:00Z'}"), &r, &a), -1);
    ONE_ISSUE("Provenance.resourceType", DPC_ISSUE_VALUE, "must be \"Provenance\"");
    ck_assert_ptr_null(a);
}
END_TEST

START_TEST(attest_recorded_missing_or_bad)
{
    static const char *const bad[] = { "2024-06-01", "2024-06-01T12:00:00",
                                       "2024-02-30T12:00:00Z", "yesterday", NULL };
    json_t *prov = J(prov_v1);
    dpc_attest_rules r = rules_v1();
    dpc_attestation *a;
    int i;

    json_object_del(prov, "recorded");
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.recorded", DPC_ISSUE_REQUIRED, "X-Provenance: recorded");
    for (i = 0; bad[i]; i++) {
        clear_issues();
        json_object_set_new(prov, "recorded", json_string(bad[i]));
        ck_assert_int_eq(attest(prov, &r, &a), -1);
        ONE_ISSUE("Provenance.recorded", DPC_ISSUE_VALUE, "X-Provenance: recorded: ");
    }
    clear_issues();
    json_object_set_new(prov, "recorded", json_integer(1717243200));
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.recorded", DPC_ISSUE_VALUE, "must be a string");
}
END_TEST

START_TEST(attest_recorded_future_and_skew)
{
    json_t *prov = J(prov_v1);
    dpc_attest_rules r = rules_v1();
    dpc_attestation *a;

    /* four minutes ahead: within the skew */
    json_object_set_new(prov, "recorded", json_string("2024-06-01T12:04:00Z"));
    ck_assert_int_eq(attest(prov, &r, &a), 0);
    json_object_set_new(prov, "recorded", json_string("2024-06-01T12:05:01Z"));
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.recorded", DPC_ISSUE_VALUE, "in the future");
    clear_issues();
    r.skew = 0;
    json_object_set_new(prov, "recorded", json_string("2024-06-01T12:00:01Z"));
    ck_assert_int_eq(attest(prov, &r, &a), -1);
}
END_TEST

START_TEST(attest_recorded_old)
{
    json_t *prov = J(prov_v1);
    dpc_attest_rules r = rules_v1();
    dpc_attestation *a;

    /* the v1 guide's own example date passes by default... */
    json_object_set_new(prov, "recorded", json_string("1990-01-01T00:00:00.000-05:00"));
    ck_assert_int_eq(attest(prov, &r, &a), 0);
    /* ...but not with a maximum age */
    r.max_age = apr_time_from_sec(86400);
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.recorded", DPC_ISSUE_VALUE, "more than 86400 seconds old");
    clear_issues();
    json_object_set_new(prov, "recorded", json_string("2024-05-31T12:00:01Z"));
    ck_assert_int_eq(attest(prov, &r, &a), 0);
}
END_TEST

START_TEST(attest_reason)
{
    static const char *const bad[] = {
        "[{'system': 'http://hl7.org/fhir/v3/ActReason', 'code': 'ETREAT'}]",
        "[{'system': 'http://example.org/reasons', 'code': 'TREAT'}]",
        "[{'coding': [{'code': 'TREAT'}]}]",
        "[{'text': 'treatment'}]",
        NULL
    };
    json_t *prov = J(prov_v1);
    dpc_attest_rules r = rules_v1();
    dpc_attestation *a;
    int i;

    json_object_del(prov, "reason");
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.reason", DPC_ISSUE_REQUIRED,
              "X-Provenance: reason is required and must include "
              "http://hl7.org/fhir/v3/ActReason#TREAT");
    clear_issues();
    json_object_set_new(prov, "reason", json_array());
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.reason", DPC_ISSUE_REQUIRED, "ActReason#TREAT");
    for (i = 0; bad[i]; i++) {
        clear_issues();
        json_object_set_new(prov, "reason", JN(bad[i]));
        ck_assert_int_eq(attest(prov, &r, &a), -1);
        ONE_ISSUE("Provenance.reason", DPC_ISSUE_VALUE,
                  "X-Provenance: reason must include http://hl7.org/fhir/v3/ActReason#TREAT");
    }
    /* TREAT among others is enough */
    json_object_set_new(prov, "reason", JN("[{'system': 'http://hl7.org/fhir/v3/ActReason',"
                                          " 'code': 'HPAYMT'}, {'coding': [{'system': "
                                          "'http://hl7.org/fhir/v3/ActReason', 'code': 'X'},"
                                          " {'system': 'http://hl7.org/fhir/v3/ActReason',"
                                          " 'code': 'TREAT'}]}]"));
    ck_assert_int_eq(attest(prov, &r, &a), 0);
}
END_TEST

START_TEST(attest_agent_missing_or_no_agnt)
{
    json_t *prov = J(prov_v1);
    dpc_attest_rules r = rules_v1();
    dpc_attestation *a;

    json_object_del(prov, "agent");
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.agent", DPC_ISSUE_REQUIRED, "agent is required");
    clear_issues();
    prov = J(prov_v1);
    json_object_set_new(agent0(prov), "role", JN("[{'coding': [{'system': "
                                                "'http://hl7.org/fhir/v3/RoleClass', "
                                                "'code': 'PROV'}]}]"));
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.agent", DPC_ISSUE_VALUE, "RoleClass#AGNT");
    clear_issues();
    json_object_del(agent0(prov), "role");
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.agent", DPC_ISSUE_VALUE, "RoleClass#AGNT");
}
END_TEST

START_TEST(attest_agnt_among_other_agents)
{
    json_t *prov = J(prov_v1), *agents;
    dpc_attest_rules r = rules_v1();
    dpc_attestation *a;

    /* the AGNT agent need not be first; another agent is no concern of ours */
    json_array_insert_new(json_object_get(prov, "agent"), 0,
                          JN("{'role': [{'coding': [{'code': 'author'}]}],"
                            " 'whoReference': {'reference': 'Organization/other'}}"));
    ck_assert_int_eq(attest(prov, &r, &a), 0);
    ck_assert_str_eq(a->practitioner_id, PRAC);
    /* but two AGNT agents are ambiguous */
    agents = json_object_get(prov, "agent");
    json_array_append(agents, json_array_get(agents, 1));
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.agent[2]", DPC_ISSUE_VALUE, "only one agent may have role AGNT");
}
END_TEST

START_TEST(attest_who)
{
    json_t *prov = J(prov_v2);
    dpc_attest_rules r = rules_v2();
    dpc_attestation *a;

    json_object_set_new(agent0(prov), "who",
                        JN("{'reference': "
                           "'Organization/11111111-2222-3333-4444-555555555555'}"));
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.agent[0].who", DPC_ISSUE_SECURITY, "Organization/" ORG);
    clear_issues();
    /* exact match: no case folding, no absolute URLs */
    json_object_set_new(agent0(prov), "who", JN("{'reference': 'organization/" ORG "'}"));
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.agent[0].who", DPC_ISSUE_SECURITY, "the organization calling");
    clear_issues();
    json_object_set_new(agent0(prov), "who", JN("{'display': 'Acme'}"));
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.agent[0].who", DPC_ISSUE_REQUIRED, "agent.who.reference");
    clear_issues();
    json_object_del(agent0(prov), "who");
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.agent[0].who", DPC_ISSUE_REQUIRED, "agent.who is required");
    clear_issues();
    json_object_set_new(agent0(prov), "who", JN("{'reference': 'Organization/" ORG "'}"));
    json_object_set_new(agent0(prov), "whoReference",
                        JN("{'reference': 'Organization/" ORG "'}"));
    ck_assert_int_eq(attest(prov, &r, &a), -1);
    ONE_ISSUE("Provenance.agent[0].who", DPC_ISSUE_STRUCTURE, "give one");
}
END_TEST

START_TEST(attest_every_problem_reported)
{
    dpc_attest_rules r = rules_v1();
    dpc_attestation *a;

    ck_assert_int_eq(attest(J("{'resourceType': 'Provenance'}"), &r, &a), -1);
    ck_assert_uint_eq(nissues(), 3);
    HAS_ISSUE("Provenance.recorded", DPC_ISSUE_REQUIRED);
    HAS_ISSUE("Provenance.reason", DPC_ISSUE_REQUIRED);
    HAS_ISSUE("Provenance.agent", DPC_ISSUE_REQUIRED);
    ck_assert_ptr_null(a);
}
END_TEST

/* ---- roster bodies ---------------------------------------------------------------- */

/* The v1 guide's group.json, with a valid NPI. */
static const char group_v1[] =
    "{'resourceType': 'Group', 'type': 'person', 'actual': true,"
    " 'characteristic': [{'code': {'coding': [{'code': 'attributed-to'}]},"
    " 'valueCodeableConcept': {'coding': [{'system': 'http://hl7.org/fhir/sid/us-npi',"
    " 'code': '" NPI "'}]}}],"
    " 'member': [{'entity': {'reference': 'Patient/" PAT1 "'}},"
    " {'entity': {'reference': 'Patient/" PAT2 "'}}]}";

/* The v2 guide's Group (its response, resubmitted), with a valid MBI. */
static const char group_v2[] =
    "{'resourceType': 'Group', 'type': 'person', 'actual': true, 'name': 'Sample Group',"
    " 'member': [{'entity': {'identifier': {'system': 'http://hl7.org/fhir/sid/us-mbi',"
    " 'value': '1eg4-te5-mk73'}, 'type': 'Patient'}, 'extension': [{'url': '" ATR "',"
    " 'valueReference': {'identifier': {'system': 'http://hl7.org/fhir/sid/us-npi',"
    " 'value': '" NPI "'}, 'type': 'Practitioner'}}]}]}";

/* A v2-style member for mbi attributed to npi. */
static json_t *member_v2(const char *mbi, const char *npi)
{
    return dpc_json_pool(pool, json_pack(
        "{s:{s:{s:s, s:s}}, s:[{s:s, s:{s:{s:s, s:s}}}]}", "entity", "identifier", "system",
        DPC_SYS_MBI, "value", mbi, "extension", "url", ATR, "valueReference", "identifier",
        "system", DPC_SYS_NPI, "value", npi));
}

static json_t *members_of(json_t *g)
{
    return json_object_get(g, "member");
}

static const dpc_roster_rules rules = { 5000, 0, 0, 0 };

START_TEST(roster_v1_guide_example)
{
    dpc_roster *r = NULL;

    ck_assert_int_eq(dpc_roster_check(pool, J(group_v1), &rules, oo, &r), 0);
    ck_assert_uint_eq(nissues(), 0);
    ck_assert_str_eq(r->npi, NPI);
    ck_assert_ptr_null(r->name);
    ck_assert_int_eq(r->n, 2);
    ck_assert_int_eq(r->n_ref, 2);
    ck_assert_int_eq(r->n_mbi, 0);
    ck_assert_int_eq(r->members[0].kind, DPC_MEMBER_REF);
    ck_assert_str_eq(r->members[0].value, PAT1);
    ck_assert_int_eq(r->members[1].index, 1);
    ck_assert_str_eq(r->members[1].value, PAT2);
}
END_TEST

START_TEST(roster_v1_add_fragment_and_parameters)
{
    dpc_roster *r;
    json_t *g = J(group_v1);

    /* the guide's "resource": {...} fragment, once wrapped in braces */
    ck_assert_int_eq(dpc_roster_check(pool, dpc_json_pool(pool, json_pack("{s:O}",
                                      "resource", g)), &rules, oo, &r), 0);
    ck_assert_int_eq(r->n, 2);
    ck_assert_int_eq(dpc_roster_check(pool, parameters_of(g), &rules, oo, &r), 0);
    ck_assert_str_eq(r->npi, NPI);
    ck_assert_uint_eq(nissues(), 0);
}
END_TEST

START_TEST(roster_parameters_malformed)
{
    dpc_roster *r;

    ck_assert_int_eq(dpc_roster_check(pool, J("{'resourceType': 'Parameters', 'parameter': "
                                              "[{'name': 'group', 'resource': {}}]}"),
                                      &rules, oo, &r), -1);
    ONE_ISSUE("Parameters.parameter", DPC_ISSUE_STRUCTURE, "whose resource is the Group");
}
END_TEST

START_TEST(roster_v2_guide_example)
{
    dpc_roster *r = NULL;

    ck_assert_int_eq(dpc_roster_check(pool, J(group_v2), &rules, oo, &r), 0);
    ck_assert_str_eq(r->npi, NPI);
    ck_assert_str_eq(r->name, "Sample Group");
    ck_assert_int_eq(r->n, 1);
    ck_assert_int_eq(r->n_mbi, 1);
    ck_assert_int_eq(r->members[0].kind, DPC_MEMBER_MBI);
    ck_assert_str_eq(r->members[0].value, MBI);
}
END_TEST

START_TEST(roster_mixed_members)
{
    json_t *g = J(group_v1);
    dpc_roster *r;

    json_array_append_new(members_of(g), json_incref(member_v2(MBI, NPI)));
    json_array_append_new(members_of(g),
                          JN("{'entity': {'identifier': {'system': "
                             "'https://bluebutton.cms.gov/resources/identifier/mbi',"
                             " 'value': '" MBI2 "'}}}"));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), 0);
    ck_assert_int_eq(r->n, 4);
    ck_assert_int_eq(r->n_ref, 2);
    ck_assert_int_eq(r->n_mbi, 2);
    ck_assert_int_eq(r->members[2].kind, DPC_MEMBER_MBI);
    ck_assert_str_eq(r->members[3].value, MBI2);
}
END_TEST

START_TEST(roster_extension_differs_from_characteristic)
{
    json_t *g = J(group_v1);
    dpc_roster *r;

    json_array_append_new(members_of(g), json_incref(member_v2(MBI, NPI2)));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.member[2]", DPC_ISSUE_VALUE,
              "attributed provider " NPI2 " differs from the roster's NPI " NPI);
    ck_assert_ptr_nonnull(strstr(issue_diag(0), "Group.characteristic[0]"));
}
END_TEST

START_TEST(roster_extensions_differ_between_members)
{
    json_t *g = J(group_v2);
    dpc_roster *r;

    json_array_append_new(members_of(g), json_incref(member_v2(MBI2, NPI)));
    json_array_append_new(members_of(g), json_incref(member_v2("3EG4TE5MK73", NPI2)));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.member[2]", DPC_ISSUE_VALUE, "differs from the roster's NPI " NPI
              " (Group.member[0])");
}
END_TEST

START_TEST(roster_v2_member_without_extension)
{
    json_t *g = J(group_v2);
    dpc_roster *r;

    json_array_append_new(members_of(g), JN("{'entity': {'identifier': {'system': "
                                           "'http://hl7.org/fhir/sid/us-mbi', 'value': '"
                                           MBI2 "'}}}"));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.member[1]", DPC_ISSUE_REQUIRED, "every member must name the provider");
}
END_TEST

START_TEST(roster_no_provider_anywhere)
{
    json_t *g = J(group_v1);
    dpc_roster *r;

    json_object_del(g, "characteristic");
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.characteristic", DPC_ISSUE_REQUIRED, "must name the provider");
    /* other characteristics do not name one either */
    clear_issues();
    json_object_set_new(g, "characteristic", JN("[{'code': {'coding': [{'code': 'gender'}]},"
                                               " 'valueCodeableConcept': {'text': 'any'}}]"));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.characteristic", DPC_ISSUE_REQUIRED, "must name the provider");
}
END_TEST

/* $remove: the URL names the roster, so a body of members alone is fine;
 * an NPI it does give is still checked */
START_TEST(roster_remove_without_provider)
{
    json_t *g = J(group_v1);
    dpc_roster_rules remove = { 5000, 0, 1, 0 };
    dpc_roster *r;

    json_object_del(g, "characteristic");
    ck_assert_int_eq(dpc_roster_check(pool, g, &remove, oo, &r), 0);
    ck_assert_ptr_null(r->npi);
    ck_assert_int_eq(r->n, 2);
    json_object_set_new(g, "characteristic", JN("[{'code': {'coding': [{'code': "
                                               "'attributed-to'}]}, 'valueCodeableConcept':"
                                               " {'coding': [{'system': "
                                               "'http://hl7.org/fhir/sid/us-npi', 'code': "
                                               "'1234567890'}]}}]"));
    ck_assert_int_eq(dpc_roster_check(pool, g, &remove, oo, &r), -1);
    ONE_ISSUE("Group.characteristic[0].valueCodeableConcept.coding[0].code",
              DPC_ISSUE_VALUE, "check digit");
}
END_TEST

/* A DPC v2 Group (one per export request): each member names its own
 * practitioner; the Group's NPI is the one they share, else none */
START_TEST(roster_members_name_their_own_provider)
{
    json_t *g = J(group_v2);
    dpc_roster_rules v2 = { 5000, 0, 0, 1 };
    dpc_roster *r;

    json_array_append(members_of(g), member_v2("1EG4TE5MK74", "1245319599"));
    ck_assert_int_eq(dpc_roster_check(pool, g, &v2, oo, &r), 0);
    ck_assert_ptr_null(r->npi);
    ck_assert_str_eq(r->members[0].npi, NPI);
    ck_assert_str_eq(r->members[1].npi, "1245319599");
    /* one provider for the whole roster refuses the same body */
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    clear_issues();
    /* a member without the extension takes the attributed-to's NPI */
    json_array_append_new(members_of(g), JN("{'entity': {'identifier': {'system': "
                                            "'http://hl7.org/fhir/sid/us-mbi', "
                                            "'value': '1EG4TE5MK75'}}}"));
    ck_assert_int_eq(dpc_roster_check(pool, g, &v2, oo, &r), -1);
    ONE_ISSUE("Group.member[2]", DPC_ISSUE_REQUIRED, "names no provider");
    clear_issues();
    json_object_set_new(g, "characteristic", JN("[{'code': {'coding': [{'code': "
                                               "'attributed-to'}]}, 'valueCodeableConcept':"
                                               " {'coding': [{'system': "
                                               "'http://hl7.org/fhir/sid/us-npi', 'code': '"
                                               NPI "'}]}}]"));
    ck_assert_int_eq(dpc_roster_check(pool, g, &v2, oo, &r), 0);
    ck_assert_str_eq(r->npi, NPI);
    ck_assert_str_eq(r->members[2].npi, NPI);
    ck_assert_str_eq(r->members[1].npi, "1245319599");
}
END_TEST

START_TEST(roster_two_characteristic_npis)
{
    json_t *g = J(group_v1);
    dpc_roster *r;

    json_array_append_new(json_object_get(g, "characteristic"), JN(
        "{'code': {'coding': [{'code': 'attributed-to'}]}, 'valueCodeableConcept': "
        "{'coding': [{'system': 'http://hl7.org/fhir/sid/us-npi', 'code': '" NPI2 "'}]}}"));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.characteristic[1].valueCodeableConcept.coding[0]", DPC_ISSUE_VALUE,
              "one provider");
    /* the same NPI twice is not ambiguous */
    clear_issues();
    g = J(group_v1);
    json_array_append(json_object_get(g, "characteristic"),
                      json_array_get(json_object_get(g, "characteristic"), 0));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), 0);
}
END_TEST

START_TEST(roster_characteristic_npi_problems)
{
    json_t *g = J(group_v1);
    json_t *coding = json_array_get(json_object_get(json_object_get(json_array_get(
        json_object_get(g, "characteristic"), 0), "valueCodeableConcept"), "coding"), 0);
    dpc_roster *r;

    /* the guide's own placeholder is not an NPI */
    json_object_set_new(coding, "code", json_string("110001029483"));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.characteristic[0].valueCodeableConcept.coding[0].code", DPC_ISSUE_VALUE,
              "not a valid NPI");
    /* in value, as an Identifier would have it */
    clear_issues();
    json_object_del(coding, "code");
    json_object_set_new(coding, "value", json_string(NPI));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.characteristic[0].valueCodeableConcept.coding[0].code",
              DPC_ISSUE_REQUIRED, "not value");
    /* no us-npi coding at all */
    clear_issues();
    json_object_set_new(coding, "system", json_string("urn:oid:1"));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.characteristic[0].valueCodeableConcept", DPC_ISSUE_REQUIRED, "us-npi");
    /* nor a valueCodeableConcept */
    clear_issues();
    json_object_del(json_array_get(json_object_get(g, "characteristic"), 0),
                    "valueCodeableConcept");
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.characteristic[0].valueCodeableConcept", DPC_ISSUE_REQUIRED, "us-npi");
    /* not an array */
    clear_issues();
    json_object_set_new(g, "characteristic", json_object());
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.characteristic", DPC_ISSUE_STRUCTURE, "array");
}
END_TEST

START_TEST(roster_frame)
{
    json_t *g;
    dpc_roster *r;

    g = J(group_v1);
    json_object_set_new(g, "type", json_string("practitioner"));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.type", DPC_ISSUE_VALUE, "person");
    clear_issues();
    json_object_del(g, "type");
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.type", DPC_ISSUE_REQUIRED, "person");

    clear_issues();
    g = J(group_v1);
    json_object_set_new(g, "actual", json_false());
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.actual", DPC_ISSUE_VALUE, "must be true");
    clear_issues();
    json_object_set_new(g, "actual", json_string("true"));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.actual", DPC_ISSUE_VALUE, "must be true");
    clear_issues();
    json_object_del(g, "actual");
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.actual", DPC_ISSUE_REQUIRED, "true");

    clear_issues();
    g = J(group_v1);
    json_object_set_new(g, "active", json_false());
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.active", DPC_ISSUE_VALUE, "must be true");
    clear_issues();
    json_object_set_new(g, "active", json_true());
    json_object_set_new(g, "name", json_integer(3));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.name", DPC_ISSUE_STRUCTURE, "string");
}
END_TEST

START_TEST(roster_resource_type)
{
    dpc_roster *r;

    ck_assert_int_eq(dpc_roster_check(pool, patient(), &rules, oo, &r), -1);
    ONE_ISSUE("Group.resourceType", DPC_ISSUE_VALUE, "not \"Patient\"");
    clear_issues();
    ck_assert_int_eq(dpc_roster_check(pool, J("{'type': 'person'}"), &rules, oo, &r), -1);
    ONE_ISSUE("Group.resourceType", DPC_ISSUE_REQUIRED, "\"Group\"");
    clear_issues();
    ck_assert_int_eq(dpc_roster_check(pool, J("[]"), &rules, oo, &r), -1);
    ONE_ISSUE("Group", DPC_ISSUE_STRUCTURE, "JSON object");
    clear_issues();
    ck_assert_int_eq(dpc_roster_check(pool, NULL, &rules, oo, &r), -1);
    ONE_ISSUE("Group", DPC_ISSUE_STRUCTURE, "JSON object");
    /* what a Parameters wraps is judged like a bare body */
    clear_issues();
    ck_assert_int_eq(dpc_roster_check(pool, parameters_of(patient()), &rules, oo, &r), -1);
    ONE_ISSUE("Group.resourceType", DPC_ISSUE_VALUE, "not \"Patient\"");
}
END_TEST

START_TEST(roster_duplicate_members)
{
    json_t *g = J(group_v1);
    dpc_roster *r;

    /* the same id in upper case, and the same MBI written two ways */
    json_array_append_new(members_of(g),
                          JN("{'entity': {'reference': "
                             "'Patient/4D72AD76-FBC6-4525-BE91-7F358F0FEA9D'}}"));
    json_array_append_new(members_of(g), json_incref(member_v2(MBI, NPI)));
    json_array_append_new(members_of(g), json_incref(member_v2("1eg4-te5-mk73", NPI)));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ck_assert_uint_eq(nissues(), 2);
    HAS_ISSUE("Group.member[2].entity", DPC_ISSUE_DUPLICATE);
    ck_assert_ptr_nonnull(strstr(issue_diag(find_issue("Group.member[2].entity")),
                                 "the same patient as Group.member[0]"));
    HAS_ISSUE("Group.member[4].entity", DPC_ISSUE_DUPLICATE);
    ck_assert_ptr_nonnull(strstr(issue_diag(find_issue("Group.member[4].entity")),
                                 "Group.member[3] (MBI " MBI ")"));
}
END_TEST

START_TEST(roster_member_entity_problems)
{
    static const struct {
        const char *member, *expr, *code, *text;
    } bad[] = {
        { "{'entity': {'reference': 'Practitioner/" PRAC "'}}",
          "Group.member[0].entity.reference", DPC_ISSUE_VALUE, "Patient/{id}" },
        { "{'entity': {'reference': 'Patient/123'}}", "Group.member[0].entity.reference",
          DPC_ISSUE_VALUE, "not \"Patient/123\"" },
        { "{'entity': {'reference': 42}}", "Group.member[0].entity.reference",
          DPC_ISSUE_VALUE, "Patient/{id}" },
        { "{'entity': {'identifier': {'system': 'http://hl7.org/fhir/sid/us-npi', 'value': '"
          NPI "'}}}", "Group.member[0].entity.identifier", DPC_ISSUE_VALUE, "us-mbi" },
        { "{'entity': {'identifier': {'system': 'http://hl7.org/fhir/sid/us-mbi', 'value': "
          "'1SG4TE5MK73'}}}", "Group.member[0].entity.identifier", DPC_ISSUE_VALUE,
          "not a valid MBI" },
        { "{'entity': {'identifier': {'system': 'http://hl7.org/fhir/sid/us-mbi'}}}",
          "Group.member[0].entity.identifier", DPC_ISSUE_VALUE, "not a valid MBI" },
        { "{'entity': {'reference': 'Patient/" PAT1 "', 'identifier': {'system': "
          "'http://hl7.org/fhir/sid/us-mbi', 'value': '" MBI "'}}}", "Group.member[0].entity",
          DPC_ISSUE_VALUE, "not both" },
        { "{'entity': {'reference': 'Patient/" PAT1 "', 'type': 'Practitioner'}}",
          "Group.member[0].entity.type", DPC_ISSUE_VALUE, "must be Patient" },
        { "{'entity': {'display': 'Jonathan'}}", "Group.member[0].entity", DPC_ISSUE_REQUIRED,
          "is required" },
        { "{'inactive': false}", "Group.member[0].entity", DPC_ISSUE_REQUIRED,
          "is required" },
        { "'Patient/" PAT1 "'", "Group.member[0]", DPC_ISSUE_STRUCTURE, "object" },
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *g = J(group_v1);
        dpc_roster *r;

        clear_issues();
        json_array_set_new(members_of(g), 0, json_incref(J(bad[i].member)));
        ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
        ONE_ISSUE(bad[i].expr, bad[i].code, bad[i].text);
    }
}
END_TEST

START_TEST(roster_malformed_extension)
{
    json_t *g = J(group_v2);
    json_t *ext = json_array_get(json_object_get(json_array_get(members_of(g), 0),
                                                 "extension"), 0);
    dpc_roster *r;

    /* a reference alone does not give the NPI */
    json_object_set_new(ext, "valueReference", JN("{'reference': 'Practitioner/" PRAC "'}"));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.member[0].extension[0]", DPC_ISSUE_REQUIRED,
              "valueReference.identifier");
    clear_issues();
    json_object_set_new(ext, "valueReference", JN("{'identifier': {'system': "
                                                 "'http://hl7.org/fhir/sid/us-npi', "
                                                 "'value': '1234567890'}}"));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.member[0].extension[0]", DPC_ISSUE_VALUE, "not a valid NPI");
    /* two attributed providers on one member */
    clear_issues();
    g = J(group_v2);
    json_array_append_new(json_object_get(json_array_get(members_of(g), 0), "extension"),
                          json_incref(json_array_get(json_object_get(member_v2(MBI, NPI2),
                                                                     "extension"), 0)));
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.member[0].extension[1]", DPC_ISSUE_VALUE, "a member has one");
}
END_TEST

START_TEST(roster_other_extensions_ignored)
{
    json_t *g = J(group_v1);
    dpc_roster *r;

    json_object_set_new(json_array_get(members_of(g), 0), "extension",
                        JN("[{'url': 'http://example.org/x', 'valueString': 'y'}]"));
    /* period and inactive, as in our own responses, are ignored too */
    json_object_set_new(json_array_get(members_of(g), 1), "period",
                        JN("{'start': '2019-10-30T14:00:30+00:00'}"));
    json_object_set_new(json_array_get(members_of(g), 1), "inactive", json_true());
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), 0);
    ck_assert_int_eq(r->n, 2);
}
END_TEST

START_TEST(roster_empty)
{
    json_t *g = J(group_v1);
    dpc_roster_rules put = { 5000, 1, 0, 0 };
    dpc_roster *r;

    json_object_set_new(g, "member", json_array());
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.member", DPC_ISSUE_REQUIRED, "at least one member");
    clear_issues();
    json_object_del(g, "member");
    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ONE_ISSUE("Group.member", DPC_ISSUE_REQUIRED, "at least one member");
    /* a PUT may empty a roster; the NPI still comes from the characteristic */
    clear_issues();
    ck_assert_int_eq(dpc_roster_check(pool, g, &put, oo, &r), 0);
    ck_assert_int_eq(r->n, 0);
    ck_assert_str_eq(r->npi, NPI);
    json_object_set_new(g, "member", json_object());
    ck_assert_int_eq(dpc_roster_check(pool, g, &put, oo, &r), -1);
    ONE_ISSUE("Group.member", DPC_ISSUE_STRUCTURE, "array");
}
END_TEST

START_TEST(roster_over_the_limit)
{
    json_t *g = J(group_v1);
    dpc_roster_rules small = { 1, 0, 0, 0 };
    dpc_roster *r;

    json_array_append_new(members_of(g), JN("{'entity': 'bad'}"));
    ck_assert_int_eq(dpc_roster_check(pool, g, &small, oo, &r), -1);
    ONE_ISSUE("Group.member", DPC_ISSUE_TOO_COSTLY, "at most 1 members may be sent at once; "
              "this Group has 3");
}
END_TEST

START_TEST(roster_large)
{
    json_t *g = J(group_v1), *m = json_array();
    dpc_roster_rules cap = { 5500, 0, 0, 0 };
    char mbi[DPC_MBI_LEN + 1];
    dpc_roster *r;
    int i;

    for (i = 0; i < 5500; i++) {
        dpc_mbi_make((uint64_t)i * 7919, mbi);
        json_array_append_new(m, json_pack("{s:{s:{s:s, s:s}}}", "entity", "identifier",
                                           "system", DPC_SYS_MBI, "value", mbi));
    }
    json_object_set_new(g, "member", m);
    ck_assert_int_eq(dpc_roster_check(pool, g, &cap, oo, &r), 0);
    ck_assert_int_eq(r->n, 5500);
    ck_assert_int_eq(r->n_mbi, 5500);
    dpc_mbi_make(5499ull * 7919, mbi);
    ck_assert_str_eq(r->members[5499].value, mbi);
}
END_TEST

START_TEST(roster_every_problem_reported)
{
    json_t *g = J("{'resourceType': 'Group', 'member': [{'entity': {'reference': 'x'}},"
                  " {'entity': {'reference': 'Patient/" PAT1 "'}}]}");
    dpc_roster *r = NULL;

    ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), -1);
    ck_assert_uint_eq(nissues(), 4);
    HAS_ISSUE("Group.type", DPC_ISSUE_REQUIRED);
    HAS_ISSUE("Group.actual", DPC_ISSUE_REQUIRED);
    HAS_ISSUE("Group.member[0].entity.reference", DPC_ISSUE_VALUE);
    HAS_ISSUE("Group.characteristic", DPC_ISSUE_REQUIRED);
    ck_assert_ptr_null(r);
}
END_TEST

/* ---- roster output ------------------------------------------------------------ */

static apr_time_t at(const char *instant)
{
    const char *why;
    apr_time_t t;

    ck_assert_int_eq(dpc_instant_parse(instant, &t, &why), 0);
    return t;
}

static dpc_group_view view(dpc_member_row *rows)
{
    dpc_group_view g = { "719cf174-ec46-4122-90c9-0f5244a5a3bd", ORG, NPI, "Sample Group",
                         "0", 0, rows, 2 };

    memset(rows, 0, 2 * sizeof(*rows));
    rows[0].patient_id = PAT1;
    rows[0].mbi = MBI;
    rows[0].period_start = at("2019-10-30T14:00:30Z");
    rows[0].period_end = at("2020-01-28T14:00:53Z");
    rows[0].inactive = 0;
    rows[1].patient_id = PAT2;
    rows[1].mbi = MBI2;
    rows[1].period_start = at("2019-10-30T14:00:30Z");
    rows[1].period_end = at("2020-01-28T14:00:53Z");
    rows[1].inactive = 1;
    g.last_updated = at("2021-08-05T14:31:04.441Z");
    return g;
}

/* Dump and parse again, as a client would see it. */
static json_t *reparse(json_t *v)
{
    return J(dpc_json_pdump_decref(pool, v));
}

START_TEST(group_r4_shape)
{
    dpc_member_row rows[2];
    dpc_group_view gv = view(rows);
    json_t *g = reparse(dpc_group_r4(pool, &gv)), *m0, *ext, *ch;

    ck_assert_str_eq(dpc_jstr(g, "resourceType"), "Group");
    ck_assert_str_eq(dpc_jstr(g, "id"), gv.id);
    ck_assert_str_eq(dpc_jstr(json_object_get(g, "meta"), "lastUpdated"),
                     "2021-08-05T14:31:04.441Z");
    ck_assert_str_eq(dpc_jstr(json_object_get(g, "meta"), "versionId"), "0");
    ck_assert_str_eq(dpc_jstr(json_object_get(g, "managingEntity"), "reference"),
                     "Organization/" ORG);
    ck_assert_str_eq(dpc_jstr(g, "type"), "person");
    ck_assert(json_is_true(json_object_get(g, "actual")));
    ck_assert_str_eq(dpc_jstr(g, "name"), "Sample Group");
    ch = json_array_get(json_object_get(g, "characteristic"), 0);
    ck_assert_str_eq(dpc_jstr(json_array_get(json_object_get(json_object_get(ch, "code"),
                                                             "coding"), 0), "code"),
                     "attributed-to");
    ck_assert_str_eq(dpc_jstr(json_array_get(json_object_get(json_object_get(
        ch, "valueCodeableConcept"), "coding"), 0), "code"), NPI);
    ck_assert(json_is_false(json_object_get(ch, "exclude")));
    ck_assert_uint_eq(json_array_size(json_object_get(g, "member")), 2);
    m0 = json_array_get(json_object_get(g, "member"), 0);
    ck_assert_str_eq(dpc_jstr(json_object_get(json_object_get(m0, "entity"), "identifier"),
                              "system"), DPC_SYS_MBI);
    ck_assert_str_eq(dpc_jstr(json_object_get(json_object_get(m0, "entity"), "identifier"),
                              "value"), MBI);
    ck_assert_str_eq(dpc_jstr(json_object_get(m0, "entity"), "type"), "Patient");
    ck_assert_ptr_null(json_object_get(json_object_get(m0, "entity"), "reference"));
    ext = json_array_get(json_object_get(m0, "extension"), 0);
    ck_assert_str_eq(dpc_jstr(ext, "url"), ATR);
    ck_assert_str_eq(dpc_jstr(json_object_get(json_object_get(ext, "valueReference"),
                                              "identifier"), "value"), NPI);
    ck_assert_str_eq(dpc_jstr(json_object_get(ext, "valueReference"), "type"),
                     "Practitioner");
    ck_assert_str_eq(dpc_jstr(json_object_get(m0, "period"), "start"),
                     "2019-10-30T14:00:30.000Z");
    ck_assert_str_eq(dpc_jstr(json_object_get(m0, "period"), "end"),
                     "2020-01-28T14:00:53.000Z");
    ck_assert(json_is_false(json_object_get(m0, "inactive")));
    ck_assert(json_is_true(json_object_get(json_array_get(json_object_get(g, "member"), 1),
                                           "inactive")));
}
END_TEST

/* A v2 Group's members each name their own practitioner */
START_TEST(group_r4_member_providers)
{
    dpc_member_row rows[2];
    dpc_group_view gv = view(rows);
    json_t *g;

    gv.npi = NULL;
    rows[1].npi = "1245319599";
    g = reparse(dpc_group_r4(pool, &gv));
    ck_assert_ptr_null(json_object_get(g, "characteristic"));
    ck_assert_ptr_null(json_object_get(json_array_get(members_of(g), 0), "extension"));
    ck_assert_str_eq(dpc_jstr(json_object_get(json_object_get(json_array_get(json_object_get(
        json_array_get(members_of(g), 1), "extension"), 0), "valueReference"), "identifier"),
        "value"), "1245319599");
}
END_TEST

START_TEST(group_stu3_shape)
{
    dpc_member_row rows[2];
    dpc_group_view gv = view(rows);
    json_t *g = reparse(dpc_group_stu3(pool, &gv)), *m1;

    ck_assert_str_eq(dpc_jstr(g, "id"), gv.id);
    ck_assert_ptr_null(json_object_get(g, "managingEntity"));
    ck_assert_str_eq(dpc_jstr(g, "type"), "person");
    ck_assert_ptr_nonnull(json_object_get(g, "characteristic"));
    m1 = json_array_get(json_object_get(g, "member"), 1);
    ck_assert_str_eq(dpc_jstr(json_object_get(m1, "entity"), "reference"), "Patient/" PAT2);
    ck_assert_ptr_null(json_object_get(json_object_get(m1, "entity"), "identifier"));
    ck_assert_ptr_null(json_object_get(m1, "extension"));
    ck_assert_str_eq(dpc_jstr(json_object_get(m1, "period"), "end"),
                     "2020-01-28T14:00:53.000Z");
    ck_assert(json_is_true(json_object_get(m1, "inactive")));
}
END_TEST

START_TEST(group_optional_parts)
{
    dpc_member_row rows[2];
    dpc_group_view gv = view(rows);
    json_t *g, *m0, *m1;

    gv.name = NULL;
    gv.version_id = NULL;
    rows[0].period_end = 0;
    rows[1].period_start = rows[1].period_end = 0;
    rows[1].mbi = NULL;         /* R4 falls back to the reference */
    g = reparse(dpc_group_r4(pool, &gv));
    ck_assert_ptr_null(json_object_get(g, "name"));
    ck_assert_ptr_null(json_object_get(json_object_get(g, "meta"), "versionId"));
    m0 = json_array_get(json_object_get(g, "member"), 0);
    m1 = json_array_get(json_object_get(g, "member"), 1);
    ck_assert_ptr_null(json_object_get(json_object_get(m0, "period"), "end"));
    ck_assert_ptr_null(json_object_get(m1, "period"));
    ck_assert_str_eq(dpc_jstr(json_object_get(m1, "entity"), "reference"), "Patient/" PAT2);
    /* STU3 falls back to the MBI */
    rows[0].patient_id = NULL;
    g = reparse(dpc_group_stu3(pool, &gv));
    m0 = json_array_get(json_object_get(g, "member"), 0);
    ck_assert_str_eq(dpc_jstr(json_object_get(json_object_get(m0, "entity"), "identifier"),
                              "value"), MBI);
    /* no members: an empty array */
    gv.n = 0;
    g = reparse(dpc_group_stu3(pool, &gv));
    ck_assert(json_is_array(json_object_get(g, "member")));
    ck_assert_uint_eq(json_array_size(json_object_get(g, "member")), 0);
}
END_TEST

START_TEST(group_round_trips)
{
    dpc_member_row rows[2];
    dpc_group_view gv = view(rows);
    dpc_roster *r;

    /* what we return can be sent back as it is (a PUT of a fetched roster) */
    ck_assert_int_eq(dpc_roster_check(pool, reparse(dpc_group_r4(pool, &gv)), &rules, oo,
                                      &r), 0);
    ck_assert_str_eq(r->npi, NPI);
    ck_assert_str_eq(r->name, "Sample Group");
    ck_assert_int_eq(r->n_mbi, 2);
    ck_assert_str_eq(r->members[1].value, MBI2);
    ck_assert_int_eq(dpc_roster_check(pool, reparse(dpc_group_stu3(pool, &gv)), &rules, oo,
                                      &r), 0);
    ck_assert_int_eq(r->n_ref, 2);
    ck_assert_str_eq(r->members[0].value, PAT1);
    ck_assert_uint_eq(nissues(), 0);
    /* and the R4 form carries the NPI even without the characteristic */
    {
        json_t *g = reparse(dpc_group_r4(pool, &gv));

        json_object_del(g, "characteristic");
        ck_assert_int_eq(dpc_roster_check(pool, g, &rules, oo, &r), 0);
        ck_assert_str_eq(r->npi, NPI);
    }
}
END_TEST

Suite *roster_suite(void)
{
    Suite *s = suite_create("roster");
    TCase *tc;

    tc = tcase_create("practitioner");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, practitioner_v1_guide_example);
    tcase_add_test(tc, practitioner_input_not_changed);
    tcase_add_test(tc, practitioner_meta_only_server_fields_dropped);
    tcase_add_test(tc, practitioner_not_an_object);
    tcase_add_test(tc, practitioner_wrong_resource_type);
    tcase_add_test(tc, practitioner_missing_resource_type);
    tcase_add_test(tc, practitioner_missing_identifier);
    tcase_add_test(tc, practitioner_identifier_other_system_only);
    tcase_add_test(tc, practitioner_identifier_not_array);
    tcase_add_test(tc, practitioner_identifier_element_not_object);
    tcase_add_test(tc, practitioner_bad_npis);
    tcase_add_test(tc, practitioner_npi_not_a_string);
    tcase_add_test(tc, practitioner_two_different_npis);
    tcase_add_test(tc, practitioner_same_npi_twice_and_other_ids);
    tcase_add_test(tc, practitioner_missing_name);
    tcase_add_test(tc, practitioner_name_without_family);
    tcase_add_test(tc, practitioner_name_without_given);
    tcase_add_test(tc, practitioner_name_neither_part);
    tcase_add_test(tc, practitioner_later_complete_name_used);
    tcase_add_test(tc, practitioner_every_problem_reported);
    tcase_add_test(tc, practitioner_where_prefix_and_diagnostics);
    tcase_add_test(tc, checks_judge_only_their_own_issues);
    suite_add_tcase(s, tc);

    tc = tcase_create("patient");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, patient_v1_guide_example);
    tcase_add_test(tc, patient_blue_button_mbi_system);
    tcase_add_test(tc, patient_bene_id_is_not_an_mbi);
    tcase_add_test(tc, patient_bad_mbis);
    tcase_add_test(tc, patient_two_different_mbis);
    tcase_add_test(tc, patient_missing_birth_date);
    tcase_add_test(tc, patient_birth_date_not_a_string);
    tcase_add_test(tc, patient_birth_date_partial);
    tcase_add_test(tc, patient_birth_date_malformed_or_unreal);
    tcase_add_test(tc, patient_birth_date_leap_and_today);
    tcase_add_test(tc, patient_birth_date_in_the_future);
    tcase_add_test(tc, birth_date_check_direct);
    tcase_add_test(tc, patient_gender);
    tcase_add_test(tc, patient_wrong_type_and_names);
    tcase_add_test(tc, patient_every_problem_reported);
    suite_add_tcase(s, tc);

    tc = tcase_create("submit");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, submit_practitioners_in_parameters);
    tcase_add_test(tc, submit_patients_bare_batch_bundle);
    tcase_add_test(tc, submit_every_bad_entry_reported);
    tcase_add_test(tc, submit_duplicate_npi);
    tcase_add_test(tc, submit_duplicate_mbi_written_differently);
    tcase_add_test(tc, submit_wrong_resource_in_entry);
    tcase_add_test(tc, submit_entry_shapes);
    tcase_add_test(tc, submit_bundle_type);
    tcase_add_test(tc, submit_no_entries);
    tcase_add_test(tc, submit_over_the_limit);
    tcase_add_test(tc, submit_parameters_malformed);
    tcase_add_test(tc, submit_parameters_entry_rules);
    tcase_add_test(tc, params_read_entries_and_refusals);
    tcase_add_test(tc, submit_body_not_a_bundle);
    tcase_add_test(tc, load_reports_bad_json);
    tcase_add_test(tc, output_sets_id_and_meta);
    tcase_add_test(tc, output_without_meta_or_version);
    suite_add_tcase(s, tc);

    tc = tcase_create("attestation");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, attest_v1_guide_example);
    tcase_add_test(tc, attest_v2_guide_example);
    tcase_add_test(tc, attest_terminology_systems);
    tcase_add_test(tc, attest_on_behalf_of_npi);
    tcase_add_test(tc, attest_on_behalf_of_bad);
    tcase_add_test(tc, attest_on_behalf_of_empty);
    tcase_add_test(tc, attest_missing_header);
    tcase_add_test(tc, attest_malformed);
    tcase_add_test(tc, attest_recorded_missing_or_bad);
    tcase_add_test(tc, attest_recorded_future_and_skew);
    tcase_add_test(tc, attest_recorded_old);
    tcase_add_test(tc, attest_reason);
    tcase_add_test(tc, attest_agent_missing_or_no_agnt);
    tcase_add_test(tc, attest_agnt_among_other_agents);
    tcase_add_test(tc, attest_who);
    tcase_add_test(tc, attest_every_problem_reported);
    suite_add_tcase(s, tc);

    tc = tcase_create("group");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, roster_v1_guide_example);
    tcase_add_test(tc, roster_v1_add_fragment_and_parameters);
    tcase_add_test(tc, roster_parameters_malformed);
    tcase_add_test(tc, roster_v2_guide_example);
    tcase_add_test(tc, roster_mixed_members);
    tcase_add_test(tc, roster_extension_differs_from_characteristic);
    tcase_add_test(tc, roster_extensions_differ_between_members);
    tcase_add_test(tc, roster_v2_member_without_extension);
    tcase_add_test(tc, roster_no_provider_anywhere);
    tcase_add_test(tc, roster_two_characteristic_npis);
    tcase_add_test(tc, roster_characteristic_npi_problems);
    tcase_add_test(tc, roster_frame);
    tcase_add_test(tc, roster_resource_type);
    tcase_add_test(tc, roster_duplicate_members);
    tcase_add_test(tc, roster_member_entity_problems);
    tcase_add_test(tc, roster_malformed_extension);
    tcase_add_test(tc, roster_other_extensions_ignored);
    tcase_add_test(tc, roster_empty);
    tcase_add_test(tc, roster_remove_without_provider);
    tcase_add_test(tc, roster_members_name_their_own_provider);
    tcase_add_test(tc, roster_over_the_limit);
    tcase_add_test(tc, roster_large);
    tcase_add_test(tc, roster_every_problem_reported);
    suite_add_tcase(s, tc);

    tc = tcase_create("group-output");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, group_r4_shape);
    tcase_add_test(tc, group_stu3_shape);
    tcase_add_test(tc, group_r4_member_providers);
    tcase_add_test(tc, group_optional_parts);
    tcase_add_test(tc, group_round_trips);
    suite_add_tcase(s, tc);
    return s;
}
