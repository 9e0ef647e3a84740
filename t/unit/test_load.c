/* test_load.c: what `dpcctl load` asks of one resource (dpc_load.c). */
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>

#include "dpc_fhir.h"
#include "dpc_load.h"
#include "unit.h"

static apr_pool_t *p;

static void setup(void)
{
    apr_pool_create(&p, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(p);
}

/* The JSON of text, tied to the pool. */
static json_t *j(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);

    ck_assert_msg(v != NULL, "bad test JSON: %s", err.text);
    return dpc_json_pool(p, v);
}

/* An R4 identifier of system sys and value v, with currency cur (or none). */
#define R4_ID(sys, v, cur) \
    "{\"type\":{\"coding\":[{" cur "\"system\":\"http://terminology.hl7.org/CodeSystem/" \
    "v2-0203\",\"code\":\"MC\"}]},\"system\":\"" sys "\",\"value\":\"" v "\"}"
#define R4_CUR(code) \
    "\"extension\":[{\"url\":\"" DPC_LOAD_CURRENCY_URL "\",\"valueCoding\":{\"code\":\"" \
    code "\"}}],"
#define MBI_SYS DPC_LOAD_MBI_SYSTEM

START_TEST(r4_patient_takes_the_current_mbi)
{
    json_t *pt = j("{\"resourceType\":\"Patient\",\"id\":\"567834\",\"meta\":{\"lastUpdated\":"
                   "\"2024-01-02T03:04:05Z\"},\"identifier\":["
                   R4_ID(MBI_SYS, "9AA0AA0AA00", R4_CUR("historic")) ","
                   R4_ID(MBI_SYS, "1EG4TE5MK73", R4_CUR("current")) ","
                   "{\"system\":\"https://bluebutton.cms.gov/resources/variables/bene_id\","
                   "\"type\":{},\"value\":\"567834\"}]}");
    dpc_load_res r;

    ck_assert_ptr_null(dpc_load_check(p, pt, 0, &r));
    ck_assert_str_eq(r.type, "Patient");
    ck_assert_str_eq(r.id, "567834");
    ck_assert_str_eq(r.bene_id, "567834");
    ck_assert_str_eq(r.mbi, "1EG4TE5MK73");
    ck_assert_ptr_null(r.mbi_invalid);
    ck_assert_int_eq(r.fhir_version, 4);
    ck_assert(r.last_updated_us == APR_INT64_C(1704164645000000));
    ck_assert_int_eq(r.placeholder, 0);
}
END_TEST

START_TEST(stu3_patient_marks_currency_on_the_identifier)
{
    json_t *pt = j("{\"resourceType\":\"Patient\",\"id\":\"1\",\"meta\":{\"lastUpdated\":"
                   "\"2024-01-02T03:04:05.123+02:00\"},\"identifier\":["
                   "{\"system\":\"https://bluebutton.cms.gov/resources/identifier/mbi-hash\","
                   "\"value\":\"82273caf\"},"
                   "{\"extension\":[{\"url\":\"" DPC_LOAD_CURRENCY_URL "\",\"valueCoding\":"
                   "{\"code\":\"historic\"}}],\"system\":\"" MBI_SYS "\",\"value\":\"9AA0AA0AA00\"},"
                   "{\"extension\":[{\"url\":\"" DPC_LOAD_CURRENCY_URL "\",\"valueCoding\":"
                   "{\"code\":\"current\"}}],\"system\":\"" MBI_SYS "\",\"value\":\"1EG4TE5MK73\"}]}");
    dpc_load_res r;

    ck_assert_ptr_null(dpc_load_check(p, pt, 0, &r));
    ck_assert_str_eq(r.mbi, "1EG4TE5MK73");
    ck_assert_int_eq(r.fhir_version, 3);
    ck_assert(r.last_updated_us == APR_INT64_C(1704157445123000));
}
END_TEST

START_TEST(patient_mbi_rules)
{
    const char *bad;

    /* no currency mark at all: the first MBI identifier */
    ck_assert_str_eq(dpc_load_patient_mbi(j("{\"identifier\":[{\"system\":\"" MBI_SYS
                     "\",\"value\":\"1EG4TE5MK73\"},{\"system\":\"" MBI_SYS
                     "\",\"value\":\"9AA0AA0AA00\"}]}"), &bad), "1EG4TE5MK73");
    ck_assert_ptr_null(bad);
    /* historic ones only: none */
    ck_assert_ptr_null(dpc_load_patient_mbi(j("{\"identifier\":[" R4_ID(MBI_SYS,
                       "1EG4TE5MK73", R4_CUR("historic")) "]}"), &bad));
    ck_assert_ptr_null(bad);
    /* BFD's STU3 sample: only the hash, which is no MBI */
    ck_assert_ptr_null(dpc_load_patient_mbi(j("{\"identifier\":[{\"system\":"
                       "\"https://bluebutton.cms.gov/resources/identifier/mbi-hash\","
                       "\"value\":\"82273caf4d2c\"}]}"), &bad));
    ck_assert_ptr_null(bad);
    /* BFD's R4 sample: the current one is not a well-formed MBI */
    ck_assert_ptr_null(dpc_load_patient_mbi(j("{\"identifier\":[" R4_ID(MBI_SYS, "3456789",
                       R4_CUR("current")) "," R4_ID(MBI_SYS, "1EG4TE5MK73",
                       R4_CUR("historic")) "]}"), &bad));
    ck_assert_str_eq(bad, "3456789");
    /* lower case or dashes are not taken as the MBI */
    ck_assert_ptr_null(dpc_load_patient_mbi(j("{\"identifier\":[{\"system\":\"" MBI_SYS
                       "\",\"value\":\"1eg4-te5-mk73\"}]}"), &bad));
    ck_assert_str_eq(bad, "1eg4-te5-mk73");
    ck_assert_ptr_null(dpc_load_patient_mbi(j("{\"identifier\":\"x\"}"), &bad));
    /* BFD's synthetic MBIs (S second), which dpcctl synth writes, are MBIs */
    ck_assert_str_eq(dpc_load_patient_mbi(j("{\"identifier\":[" R4_ID(MBI_SYS,
                     "2SW4N00AA00", R4_CUR("current")) "]}"), &bad), "2SW4N00AA00");
    ck_assert_ptr_null(bad);
    ck_assert_int_eq(dpc_load_mbi_valid("2SW4N00AA00"), 1);
    ck_assert_int_eq(dpc_load_mbi_valid("1EG4TE5MK73"), 1);
    /* an S elsewhere, or an S-second MBI otherwise malformed, is none */
    ck_assert_int_eq(dpc_load_mbi_valid("1EG4SE5MK73"), 0);
    ck_assert_int_eq(dpc_load_mbi_valid("2SW4N00AA0"), 0);
}
END_TEST

START_TEST(version_from_shape)
{
    ck_assert_int_eq(dpc_load_version(j("{\"resourceType\":\"ExplanationOfBenefit\","
                                        "\"insurance\":[{}]}")), 4);
    ck_assert_int_eq(dpc_load_version(j("{\"resourceType\":\"ExplanationOfBenefit\","
                                        "\"insurance\":{}}")), 3);
    ck_assert_int_eq(dpc_load_version(j("{\"resourceType\":\"ExplanationOfBenefit\"}")), 0);
    ck_assert_int_eq(dpc_load_version(j("{\"resourceType\":\"Coverage\",\"class\":[]}")), 4);
    ck_assert_int_eq(dpc_load_version(j("{\"resourceType\":\"Coverage\",\"grouping\":{}}")), 3);
    ck_assert_int_eq(dpc_load_version(j("{\"resourceType\":\"Coverage\"}")), 0);
    ck_assert_int_eq(dpc_load_version(j("{\"resourceType\":\"Patient\",\"identifier\":"
                                        "[{\"value\":\"1\"},{\"type\":{}}]}")), 4);
    ck_assert_int_eq(dpc_load_version(j("{\"resourceType\":\"Patient\",\"identifier\":"
                                        "[{\"value\":\"1\"}]}")), 3);
    ck_assert_int_eq(dpc_load_version(j("{\"resourceType\":\"Patient\"}")), 0);
    ck_assert_int_eq(dpc_load_version(j("{\"resourceType\":\"Observation\"}")), 0);
}
END_TEST

/* Each bad resource gets its own reason. */
START_TEST(bad_resources)
{
    static const struct { const char *json, *why; } cases[] = {
        { "[1]", "not a JSON object" },
        { "{\"id\":\"1\"}", "no resourceType" },
        { "{\"resourceType\":\"Observation\",\"id\":\"1\"}", "resourceType \"Observation\"" },
        { "{\"resourceType\":\"Patient\"}", "no id" },
        { "{\"resourceType\":\"Patient\",\"id\":\"a/b\"}", "id \"a/b\" is not a FHIR id" },
        { "{\"resourceType\":\"Patient\",\"id\":\"1\"}", "no meta.lastUpdated" },
        { "{\"resourceType\":\"Patient\",\"id\":\"1\",\"meta\":{\"lastUpdated\":\"2024-01-02\"}}",
          "meta.lastUpdated \"2024-01-02\" is not a FHIR instant" },
        { "{\"resourceType\":\"Patient\",\"id\":\"1\",\"meta\":{\"lastUpdated\":5}}",
          "no meta.lastUpdated" },
        { "{\"resourceType\":\"Coverage\",\"id\":\"c\",\"meta\":{\"lastUpdated\":"
          "\"2024-01-02T03:04:05Z\"},\"class\":[]}", "no beneficiary.reference" },
        { "{\"resourceType\":\"Coverage\",\"id\":\"c\",\"meta\":{\"lastUpdated\":"
          "\"2024-01-02T03:04:05Z\"},\"beneficiary\":{\"reference\":\"Organization/1\"}}",
          "beneficiary.reference \"Organization/1\" is not Patient/<id>" },
        { "{\"resourceType\":\"ExplanationOfBenefit\",\"id\":\"e\",\"meta\":{\"lastUpdated\":"
          "\"2024-01-02T03:04:05Z\"},\"patient\":{\"reference\":\"Patient/\"}}",
          "patient.reference \"Patient/\" is not Patient/<id>" },
        { "{\"resourceType\":\"ExplanationOfBenefit\",\"id\":\"e\",\"meta\":{\"lastUpdated\":"
          "\"2024-01-02T03:04:05Z\"},\"patient\":{\"reference\":\"Patient/1\"}}",
          "cannot tell STU3 from R4" },
    };
    dpc_load_res r;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = dpc_load_check(p, j(cases[i].json), 0, &r);

        ck_assert_msg(why && strstr(why, cases[i].why), "%s: got %s", cases[i].json,
                      why ? why : "(good)");
    }
}
END_TEST

START_TEST(claims_name_their_patient)
{
    json_t *eob = j("{\"resourceType\":\"ExplanationOfBenefit\",\"id\":\"carrier-1\","
                    "\"meta\":{\"lastUpdated\":\"" DPC_LOAD_PLACEHOLDER "\"},"
                    "\"patient\":{\"reference\":\"Patient/567834\"}}");
    json_t *cov = j("{\"resourceType\":\"Coverage\",\"id\":\"part-a-1\",\"meta\":"
                    "{\"lastUpdated\":\"2024-01-02T03:04:05Z\"},\"grouping\":{},"
                    "\"beneficiary\":{\"reference\":\"Patient/-1\"}}");
    dpc_load_res r;

    /* the version forced, and BFD's placeholder for the time */
    ck_assert_ptr_null(dpc_load_check(p, eob, 4, &r));
    ck_assert_str_eq(r.bene_id, "567834");
    ck_assert_int_eq(r.fhir_version, 4);
    ck_assert_int_eq(r.placeholder, 1);
    ck_assert_ptr_null(r.mbi);
    ck_assert_ptr_null(dpc_load_check(p, cov, 0, &r));
    ck_assert_str_eq(r.bene_id, "-1");
    ck_assert_int_eq(r.fhir_version, 3);
}
END_TEST

START_TEST(fhir_ids)
{
    char id[66];

    ck_assert(dpc_load_id_valid("carrier-9991831999"));
    ck_assert(dpc_load_id_valid("a.B-9"));
    ck_assert(!dpc_load_id_valid(""));
    ck_assert(!dpc_load_id_valid(NULL));
    ck_assert(!dpc_load_id_valid("a b"));
    ck_assert(!dpc_load_id_valid("a_b"));
    memset(id, 'x', 64);
    id[64] = '\0';
    ck_assert(dpc_load_id_valid(id));
    id[64] = 'x';
    id[65] = '\0';
    ck_assert(!dpc_load_id_valid(id));
}
END_TEST

/* ---- the fast path against jansson and dpc_load_check() ------------------ */

/* If dpc_load_quick() takes text, jansson parses it and dpc_load_check()
 * finds the same; returns what dpc_load_quick() said. */
static int quick_agrees(const char *text, apr_size_t len, int version)
{
    dpc_load_res q, r;
    json_error_t err;
    json_t *v;
    int took = dpc_load_quick(p, text, len, version, &q);

    if (!took)
        return 0;
    v = json_loadb(text, len, 0, &err);
    ck_assert_msg(v != NULL, "quick took what jansson refuses (%s): %.*s", err.text,
                  (int)len, text);
    ck_assert_ptr_null(dpc_load_check(p, dpc_json_pool(p, v), version, &r));
    ck_assert_str_eq(q.type, r.type);
    ck_assert_str_eq(q.id, r.id);
    ck_assert_str_eq(q.bene_id, r.bene_id);
    ck_assert_int_eq(q.fhir_version, r.fhir_version);
    ck_assert(q.last_updated_us == r.last_updated_us);
    ck_assert_int_eq(r.placeholder, 0);
    ck_assert_pstr_eq(q.claim_type, r.claim_type);
    ck_assert_pstr_eq(q.service_start, r.service_start);
    ck_assert_pstr_eq(q.service_end, r.service_end);
    ck_assert_pstr_eq(q.coverage_status, r.coverage_status);
    return 1;
}

static int quick(const char *text)
{
    return quick_agrees(text, strlen(text), 0);
}

#define EOB_R4 "{\"resourceType\":\"ExplanationOfBenefit\",\"id\":\"carrier-1\",\"meta\":" \
    "{\"lastUpdated\":\"2024-01-02T03:04:05.5+01:00\"},\"patient\":{\"reference\":" \
    "\"Patient/-19990000000001\"},\"insurance\":[{\"focal\":true}],\"total\":[{\"amount\":" \
    "{\"value\":-12.5e+1,\"x\":[null,false,0,\"\\u00e9\\ud83d\\ude00\\n\\\"\",\"\xc3\xa9\xf0\x9f\x98\x80\"]}}]}"

START_TEST(quick_takes_good_claims)
{
    ck_assert_int_eq(quick(EOB_R4), 1);
    ck_assert_int_eq(quick(" " EOB_R4 "\t "), 1);
    ck_assert_int_eq(quick("{\"resourceType\":\"Coverage\",\"id\":\"part-a-1\",\"meta\":{"
                           "\"lastUpdated\":\"2024-01-02T03:04:05Z\"},\"grouping\":{},"
                           "\"beneficiary\" : { \"reference\" : \"Patient/1\" } }"), 1);
    ck_assert_int_eq(quick("{\"resourceType\":\"Coverage\",\"id\":\"part-a-1\",\"meta\":{"
                           "\"lastUpdated\":\"2024-01-02T03:04:05Z\"},\"class\":[],"
                           "\"beneficiary\":{\"reference\":\"Patient/1\"}}"), 1);
    /* the version forced */
    ck_assert_int_eq(quick_agrees(EOB_R4, strlen(EOB_R4), 3), 1);
}
END_TEST

/* Whatever is not plainly a good claim goes to jansson. */
START_TEST(quick_leaves_the_rest)
{
    static const char *const cases[] = {
        "{\"resourceType\":\"Patient\",\"id\":\"1\",\"meta\":{\"lastUpdated\":"
        "\"2024-01-02T03:04:05Z\"},\"identifier\":[{\"value\":\"1\"}]}",
        "{\"resourceType\":\"Bundle\",\"entry\":[]}",
        "{\"resourc\\u0065Type\":\"Coverage\"}",
        "{\"resourceType\":\"Cov\\u0065rage\"}",
        "[]", "1", "", "   ", "{", "{}", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":01}", "{\"a\":1.}",
        "{\"a\":.5}", "{\"a\":1e}", "{\"a\":-}", "{\"a\":+1}", "{\"a\":NaN}", "{\"a\":tru}",
        "{'a':1}", "{\"a\":\"\t\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
        "{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"\xff\"}", "{\"a\":\"\xc0\xaf\"}",
        "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":\"\xe2\x82\"}",
        "{\"a\":12345678901234567890}", "{\"a\":1e400}", "{\"a\":1}x", "{\"a\":1}{}",
        "{\"a\":[1 2]}", "{\"a\":[1,]}", "{\"a\":\"unterminated}",
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(quick(cases[i]) == 0, "took: %s", cases[i]);
    /* good JSON, not a good claim: the placeholder, a bad id, no reference */
    ck_assert_int_eq(quick("{\"resourceType\":\"Coverage\",\"id\":\"c\",\"meta\":{"
                           "\"lastUpdated\":\"" DPC_LOAD_PLACEHOLDER "\"},\"class\":[],"
                           "\"beneficiary\":{\"reference\":\"Patient/1\"}}"), 0);
    ck_assert_int_eq(quick("{\"resourceType\":\"Coverage\",\"id\":\"c c\",\"meta\":{"
                           "\"lastUpdated\":\"2024-01-02T03:04:05Z\"},\"class\":[],"
                           "\"beneficiary\":{\"reference\":\"Patient/1\"}}"), 0);
    ck_assert_int_eq(quick("{\"resourceType\":\"Coverage\",\"id\":\"c\",\"meta\":{"
                           "\"lastUpdated\":\"2024-01-02T03:04:05Z\"},\"class\":[]}"), 0);
    ck_assert_int_eq(quick("{\"resourceType\":\"Coverage\",\"id\":\"c\",\"meta\":{"
                           "\"lastUpdated\":\"2024-01-02\"},\"class\":[],"
                           "\"beneficiary\":{\"reference\":\"Patient/1\"}}"), 0);
    /* nesting past the scanner's depth */
    {
        char deep[2400];
        int d;

        strcpy(deep, EOB_R4);
        deep[strlen(deep) - 1] = '\0';
        strcat(deep, ",\"z\":");
        for (d = 0; d < 600; d++)
            strcat(deep, "[");
        for (d = 0; d < 600; d++)
            strcat(deep, "]");
        strcat(deep, "}");
        ck_assert_int_eq(quick(deep), 0);
    }
}
END_TEST

/* A claim with what the filter columns are read from. */
#define EOB_COLS "{\"resourceType\":\"ExplanationOfBenefit\",\"id\":\"snf-1\",\"meta\":" \
    "{\"lastUpdated\":\"2024-01-02T03:04:05Z\"},\"type\":{\"coding\":[{\"system\":" \
    "\"https://bluebutton.cms.gov/resources/codesystem/eob-type\",\"code\":\"OTHER\"}," \
    "{\"system\":\"x\",\"code\":\"pde\"},{\"system\":" \
    "\"https://bluebutton.cms.gov/resources/codesystem/eob-type\",\"code\":\"SNF\"}]}," \
    "\"billablePeriod\":{\"start\":\"2013-12-01\",\"end\":\"2013-12-18T10:00:00Z\"}," \
    "\"patient\":{\"reference\":\"Patient/-1\"},\"insurance\":[]}"

/* What the claims store's filter columns hold (sql/018_claim_columns.sql
 * has the same rules), by the fast path and by jansson alike. */
START_TEST(filter_columns)
{
    static const struct {
        const char *type, *period, *claim_type, *start, *end;
    } cases[] = {
        { "{\"coding\":[{\"system\":\"" DPC_LOAD_EOB_TYPE_SYSTEM "\",\"code\":\"CARRIER\"}]}",
          "{\"start\":\"1999-10-27\",\"end\":\"1999-10-27\"}", "carrier", "1999-10-27",
          "1999-10-27" },
        { "{\"coding\":[{\"system\":\"" DPC_LOAD_EOB_TYPE_SYSTEM "\",\"code\":\"dme\"}]}",
          "{\"start\":\"2016-02-29\"}", "dme", "2016-02-29", NULL },
        { "{\"coding\":[{\"system\":\"" DPC_LOAD_EOB_TYPE_SYSTEM "\",\"code\":\"NOPE\"}]}",
          "{\"start\":\"2015-02-29\",\"end\":\"2015-05\"}", NULL, NULL, NULL },
        { "{\"coding\":{\"system\":\"" DPC_LOAD_EOB_TYPE_SYSTEM "\",\"code\":\"PDE\"}}",
          "\"2015-01-01\"", NULL, NULL, NULL },
        { "\"PDE\"", "{\"start\":\"2015-13-01\",\"end\":\"2015-01-01X\"}", NULL, NULL,
          NULL },
    };
    char text[1024];
    dpc_load_res r;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        apr_snprintf(text, sizeof(text), "{\"resourceType\":\"ExplanationOfBenefit\","
                     "\"id\":\"c-1\",\"meta\":{\"lastUpdated\":\"2024-01-02T03:04:05Z\"},"
                     "\"type\":%s,\"billablePeriod\":%s,\"patient\":{\"reference\":"
                     "\"Patient/-1\"},\"insurance\":[]}", cases[i].type, cases[i].period);
        ck_assert_msg(quick(text) == 1, "quick refused %s", text);
        ck_assert_ptr_null(dpc_load_check(p, j(text), 0, &r));
        ck_assert_pstr_eq(r.claim_type, cases[i].claim_type);
        ck_assert_pstr_eq(r.service_start, cases[i].start);
        ck_assert_pstr_eq(r.service_end, cases[i].end);
        ck_assert_ptr_null(r.coverage_status);
    }
    /* the first coding of the system with one of the eight codes */
    ck_assert_int_eq(quick(EOB_COLS), 1);
    ck_assert_ptr_null(dpc_load_check(p, j(EOB_COLS), 0, &r));
    ck_assert_str_eq(r.claim_type, "snf");
    ck_assert_str_eq(r.service_end, "2013-12-18");
    /* a Coverage has its status, an EOB none */
    ck_assert_int_eq(quick("{\"resourceType\":\"Coverage\",\"id\":\"c\",\"meta\":{"
                           "\"lastUpdated\":\"2024-01-02T03:04:05Z\"},\"class\":[],"
                           "\"status\":\"cancelled\",\"beneficiary\":{\"reference\":"
                           "\"Patient/1\"}}"), 1);
    ck_assert_ptr_null(dpc_load_check(p, j("{\"resourceType\":\"Coverage\",\"id\":\"c\","
                                           "\"meta\":{\"lastUpdated\":\"2024-01-02T03:04:05Z\"},"
                                           "\"class\":[],\"status\":\"cancelled\","
                                           "\"beneficiary\":{\"reference\":\"Patient/1\"}}"),
                                         0, &r));
    ck_assert_str_eq(r.coverage_status, "cancelled");
    /* escapes where the columns are read: jansson decides */
    ck_assert_int_eq(quick("{\"resourceType\":\"Coverage\",\"id\":\"c\",\"meta\":{"
                           "\"lastUpdated\":\"2024-01-02T03:04:05Z\"},\"class\":[],"
                           "\"status\":\"a\\u0063tive\",\"beneficiary\":{\"reference\":"
                           "\"Patient/1\"}}"), 0);
    ck_assert_ptr_null(dpc_load_check(p, j("{\"resourceType\":\"Coverage\",\"id\":\"c\","
                                           "\"meta\":{\"lastUpdated\":\"2024-01-02T03:04:05Z\"},"
                                           "\"class\":[],\"status\":\"a\\u0063tive\","
                                           "\"beneficiary\":{\"reference\":\"Patient/1\"}}"),
                                         0, &r));
    ck_assert_str_eq(r.coverage_status, "active");
    ck_assert_str_eq(dpc_load_claim_type("Inpatient"), "inpatient");
    ck_assert_ptr_null(dpc_load_claim_type("inpatien"));
    ck_assert_ptr_null(dpc_load_claim_type(NULL));
}
END_TEST

/* A long string value read eight bytes at a time: each kind of byte that
 * needs a look, at every place of the string, is seen exactly as jansson
 * sees it (taken whenever jansson takes the line, refused otherwise). */
START_TEST(quick_reads_long_strings)
{
    static const char *const bytes[] = { "\x01", "\x1f", "\t", "\x7f", "\x80", "\xff",
        "\\", "\\n", "\\q", "\"", "\xc3\xa9", "\xc3", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
    const char *head = "{\"resourceType\":\"Coverage\",\"id\":\"c\",\"meta\":{\"lastUpdated\":"
                       "\"2024-01-02T03:04:05Z\"},\"class\":[],\"beneficiary\":{\"reference\":"
                       "\"Patient/1\"},\"note\":\"";
    size_t b, at;
    int took = 0;

    for (b = 0; b < sizeof(bytes) / sizeof(bytes[0]); b++) {
        for (at = 0; at < 24; at++) {
            const char *line = apr_psprintf(p, "%s%.*s%s%.*s\"}", head, (int)at,
                                            "abcdefghijklmnopqrstuvwx", bytes[b],
                                            (int)(24 - at), "ABCDEFGHIJKLMNOPQRSTUVWX");
            json_t *v = json_loads(line, 0, NULL);

            ck_assert_msg(quick(line) == (v != NULL), "byte %zu at %zu: %s", b, at, line);
            took += v != NULL;
            json_decref(v);
        }
    }
    ck_assert_int_eq(took, 5 * 24);     /* DEL, the escape \n, three good UTF-8 sequences */
}
END_TEST

/* Random damage to a good line: whatever dpc_load_quick() still takes,
 * jansson and dpc_load_check() take the same way. */
START_TEST(quick_never_takes_more_than_jansson)
{
    char buf[sizeof(EOB_R4)];
    unsigned seed = 12345;
    int i, k, took = 0;

    for (i = 0; i < 200000; i++) {
        memcpy(buf, EOB_R4, sizeof(buf));
        for (k = 0; k < 1 + i % 3; k++) {
            seed = seed * 1103515245 + 12345;
            buf[(seed >> 8) % (sizeof(buf) - 1)] = (char)(seed >> 20);
        }
        took += quick_agrees(buf, sizeof(buf) - 1, 0);
    }
    ck_assert_int_gt(took, 0);
}
END_TEST

/* The same with the filter columns' members damaged too. */
START_TEST(quick_columns_never_differ)
{
    char buf[sizeof(EOB_COLS)];
    unsigned seed = 54321;
    int i, k, took = 0;

    for (i = 0; i < 100000; i++) {
        memcpy(buf, EOB_COLS, sizeof(buf));
        for (k = 0; k < 1 + i % 3; k++) {
            seed = seed * 1103515245 + 12345;
            buf[(seed >> 8) % (sizeof(buf) - 1)] = (char)(seed >> 20);
        }
        took += quick_agrees(buf, sizeof(buf) - 1, 0);
    }
    ck_assert_int_gt(took, 0);
}
END_TEST

Suite *load_suite(void)
{
    Suite *s = suite_create("load");
    TCase *tc = tcase_create("resources");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, r4_patient_takes_the_current_mbi);
    tcase_add_test(tc, stu3_patient_marks_currency_on_the_identifier);
    tcase_add_test(tc, patient_mbi_rules);
    tcase_add_test(tc, version_from_shape);
    tcase_add_test(tc, bad_resources);
    tcase_add_test(tc, claims_name_their_patient);
    tcase_add_test(tc, fhir_ids);
    tcase_add_test(tc, quick_takes_good_claims);
    tcase_add_test(tc, filter_columns);
    tcase_add_test(tc, quick_columns_never_differ);
    tcase_add_test(tc, quick_leaves_the_rest);
    tcase_add_test(tc, quick_never_takes_more_than_jansson);
    tcase_add_test(tc, quick_reads_long_strings);
    suite_add_tcase(s, tc);
    return s;
}
