/* Unit tests of the MBI/NPI rules (mbi_suite) and of the synthetic data
 * generator and its template engine (synth_suite). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>

#include "dpc_export_req.h"
#include "dpc_mbi.h"
#include "dpc_synth.h"
#include "dpc_synth_tpl.h"
#include "dpc_load.h"
#include "unit.h"

/* ===== MBI and NPI ======================================================= */

/* CMS's published example MBI. */
static const char good_mbi[] = "1EG4TE5MK73";

START_TEST(mbi_accepts_valid)
{
    ck_assert(dpc_mbi_valid(good_mbi));
    ck_assert(dpc_mbi_valid("9AA0A00AA00"));
    ck_assert(dpc_mbi_valid("1C99C99CC99"));
}
END_TEST

/* Each position with a character its rule forbids. */
static const struct { int pos; char bad; } mbi_bad_chars[] = {
    { 0, '0' }, { 0, 'A' },             /* 1: digit 1-9 */
    { 1, '1' }, { 1, 'S' }, { 1, 'L' }, /* 2: letter, not S L O I B Z */
    { 2, 'O' }, { 2, 'I' }, { 2, '-' }, /* 3: letter or digit */
    { 3, 'A' },                         /* 4: digit */
    { 4, '5' }, { 4, 'B' },             /* 5: letter */
    { 5, 'Z' }, { 5, 'a' },             /* 6: letter or digit, upper case */
    { 6, 'K' },                         /* 7: digit */
    { 7, '3' }, { 7, 'O' },             /* 8: letter */
    { 8, '7' }, { 8, 'I' },             /* 9: letter */
    { 9, 'T' },                         /* 10: digit */
    { 10, 'X' },                        /* 11: digit */
};

START_TEST(mbi_rejects_each_rule)
{
    char s[12];

    memcpy(s, good_mbi, sizeof(s));
    s[mbi_bad_chars[_i].pos] = mbi_bad_chars[_i].bad;
    ck_assert_msg(!dpc_mbi_valid(s), "%s should be invalid", s);
}
END_TEST

START_TEST(mbi_rejects_shape)
{
    const char *excluded = "SLOIBZ";
    char s[12];
    int i;

    ck_assert(!dpc_mbi_valid(NULL));
    ck_assert(!dpc_mbi_valid(""));
    ck_assert(!dpc_mbi_valid("1EG4TE5MK7"));       /* 10 characters */
    ck_assert(!dpc_mbi_valid("1EG4TE5MK733"));     /* 12 */
    ck_assert(!dpc_mbi_valid("1eg4te5mk73"));      /* lower case */
    ck_assert(!dpc_mbi_valid("1EG4-TE5-MK73"));    /* dashes */
    for (i = 0; excluded[i]; i++) {                /* every excluded letter */
        memcpy(s, good_mbi, sizeof(s));
        s[1] = excluded[i];
        ck_assert(!dpc_mbi_valid(s));
    }
}
END_TEST

START_TEST(mbi_normalize)
{
    char out[12];

    ck_assert(dpc_mbi_normalize("1eg4-te5-mk73", out));
    ck_assert_str_eq(out, good_mbi);
    ck_assert(dpc_mbi_normalize(" 1EG4 TE5 MK73", out));
    ck_assert(!dpc_mbi_normalize("1EG4-TE5-MK733", out));
    ck_assert(!dpc_mbi_normalize("0EG4TE5MK73", out));
}
END_TEST

START_TEST(mbi_make)
{
    char a[12], b[12];
    uint64_t n;

    dpc_mbi_make(0, a);
    ck_assert(dpc_mbi_valid(a));
    dpc_mbi_make(DPC_MBI_SPACE - 1, a);
    ck_assert(dpc_mbi_valid(a));
    dpc_mbi_make(DPC_MBI_SPACE + 5, b);
    dpc_mbi_make(5, a);
    ck_assert_str_eq(a, b);                      /* numbered mod the space */
    for (n = 0; n < 100000; n += 7) {
        dpc_mbi_make(n * UINT64_C(129600001), a);
        dpc_mbi_make(n * UINT64_C(129600001) + 1, b);
        ck_assert_msg(dpc_mbi_valid(a), "%s", a);
        ck_assert_str_ne(a, b);
    }
}
END_TEST

START_TEST(npi_luhn)
{
    char npi[11];
    uint64_t n;

    ck_assert(dpc_npi_valid("1234567893"));      /* CMS's worked example */
    ck_assert(!dpc_npi_valid("1234567890"));
    ck_assert(!dpc_npi_valid("123456789"));
    ck_assert(!dpc_npi_valid("12345678933"));
    ck_assert(!dpc_npi_valid("12345A7893"));
    ck_assert(!dpc_npi_valid(NULL));
    ck_assert_int_eq(dpc_npi_check_digit("123456789"), '3');
    ck_assert_int_eq(dpc_npi_check_digit("12345678X"), -1);
    for (n = 0; n < 5000; n++) {
        dpc_npi_make(n * UINT64_C(2654435761), npi);
        ck_assert_msg(dpc_npi_valid(npi), "%s", npi);
        ck_assert(npi[0] == '1' || npi[0] == '2');
    }
}
END_TEST

/* BFD's synthetic MBIs (S second) and the guides' sample NPIs: accepted
 * only where a pool is marked (DPCSyntheticIdentifiers On) */
START_TEST(synthetic_identifiers)
{
    apr_pool_t *strict, *sandbox, *sub;
    char out[DPC_MBI_LEN + 1];
    uint64_t n;

    ck_assert(dpc_mbi_synthetic("2SW4N00AA00"));
    ck_assert(dpc_mbi_synthetic("1S00A00AA00"));
    ck_assert(!dpc_mbi_valid("2SW4N00AA00"));
    ck_assert(!dpc_mbi_synthetic("1EG4TE5MK73"));       /* a real MBI's form */
    ck_assert(!dpc_mbi_synthetic("2SW4N00AA0"));
    ck_assert(!dpc_mbi_synthetic("2SS4N00AA00"));       /* S only second */
    ck_assert(!dpc_mbi_synthetic(NULL));
    ck_assert_int_eq(dpc_mbi_synthetic_number("1EG4TE5MK73"), -1);
    for (n = 0; n < DPC_MBI_SYNTHETIC_SPACE; n += DPC_MBI_SYNTHETIC_SPACE / 9973) {
        dpc_mbi_make_synthetic(n, out);
        ck_assert_msg(dpc_mbi_synthetic(out), "%s", out);
        ck_assert_int_eq(dpc_mbi_synthetic_number(out), (int64_t)n);
    }
    dpc_mbi_make_synthetic(DPC_MBI_SYNTHETIC_SPACE - 1, out);
    ck_assert_str_eq(out, "9SY9YY9YY99");
    apr_pool_create(&strict, NULL);
    apr_pool_create(&sandbox, NULL);
    dpc_ids_allow_synthetic(sandbox);
    apr_pool_create(&sub, sandbox);
    ck_assert(!dpc_mbi_accept(strict, "2sw4-n00-aa00", out));
    ck_assert(dpc_mbi_accept(sub, "2sw4-n00-aa00", out));
    ck_assert_str_eq(out, "2SW4N00AA00");
    ck_assert(dpc_mbi_accept(strict, "1EG4-TE5-MK73", out));
    ck_assert(!dpc_mbi_accept(sandbox, "2SW4N00AA0O", out));
    ck_assert(!dpc_npi_accept(strict, "9941339108"));   /* the v2 guide's NPI */
    ck_assert(dpc_npi_accept(sandbox, "9941339108"));
    ck_assert(dpc_npi_accept(strict, "1234567893"));
    ck_assert(!dpc_npi_accept(sandbox, "110001029483"));  /* not ten digits */
    ck_assert(!dpc_npi_accept(sandbox, "99413391O8"));
    apr_pool_destroy(strict);
    apr_pool_destroy(sandbox);
}
END_TEST

Suite *mbi_suite(void)
{
    Suite *s = suite_create("mbi");
    TCase *tc = tcase_create("rules");

    tcase_add_test(tc, mbi_accepts_valid);
    tcase_add_loop_test(tc, mbi_rejects_each_rule, 0,
                        sizeof(mbi_bad_chars) / sizeof(mbi_bad_chars[0]));
    tcase_add_test(tc, mbi_rejects_shape);
    tcase_add_test(tc, mbi_normalize);
    tcase_add_test(tc, mbi_make);
    tcase_add_test(tc, npi_luhn);
    tcase_add_test(tc, synthetic_identifiers);
    suite_add_tcase(s, tc);
    return s;
}

/* ===== template engine =================================================== */

static const char *const t_vars[] = { "x", "i" };
static const char *const t_secs[] = { "s", "o" };
static const dpc_tpl_vocab t_vocab = { t_vars, 2, t_secs, 2 };

static void t_slot(void *ctx, int var, int64_t arg, const int *pos, dpc_sbuf *out)
{
    (void)ctx;
    if (var == 0)
        dpc_sbuf_put_cents(out, arg);
    else
        dpc_sbuf_put_u64(out, (uint64_t)(arg / 100 + pos[0]));
}

static int t_count(void *ctx, int sec, int64_t arg, const int *pos)
{
    (void)pos;
    return sec == 0 ? *(int *)ctx : (int)(arg / 100);
}

static const char *t_render(apr_pool_t *p, const char *text, int count)
{
    static char out[256];
    dpc_tpl *t;
    dpc_sbuf b = { 0 };

    if (dpc_tpl_compile(p, "test", text, strlen(text), &t_vocab, &t) != APR_SUCCESS)
        return NULL;
    ck_assert_int_eq(dpc_tpl_render(t, t_slot, t_count, &count, &b), 0);
    snprintf(out, sizeof(out), "%.*s", (int)b.len, b.data);
    dpc_sbuf_free(&b);
    return out;
}

START_TEST(tpl_render)
{
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    /* whitespace goes outside strings only; args are hundredths */
    ck_assert_str_eq(t_render(p, "{ \"a b\" : {{x:1.5}},\n \"c\" : \"{{x:-2}} \" }", 0),
                     "{\"a b\":1.50,\"c\":\"-2.00 \"}");
    /* joined, prefixed and empty sections; pos during and after */
    ck_assert_str_eq(t_render(p, "[ {{*s}}{{i:1}}{{/s}} ]", 3), "[1,2,3]");
    ck_assert_str_eq(t_render(p, "[ 0{{#s}}, {{i:1}}{{/s}}, {{i:1}} ]", 2), "[0,1,2,3]");
    ck_assert_str_eq(t_render(p, "[ 0{{#s}}, {{i}}{{/s}} ]", 0), "[0]");
    ck_assert_str_eq(t_render(p, "{{#o:2}}a{{#s}}b{{/s}}{{/o}}", 2), "abbabb");
    /* escaped quotes do not end strings */
    ck_assert_str_eq(t_render(p, "\"a\\\" b\" ", 0), "\"a\\\" b\"");
    /* errors */
    ck_assert_ptr_null(t_render(p, "{{nope}}", 0));
    ck_assert_ptr_null(t_render(p, "{{#s}}x", 0));
    ck_assert_ptr_null(t_render(p, "{{#s}}{{/o}}", 0));
    ck_assert_ptr_null(t_render(p, "{{x:1.234}}", 0));
    ck_assert_ptr_null(t_render(p, "{{x", 0));
    apr_pool_destroy(p);
}
END_TEST

/* ===== generator ========================================================= */

/* The samples' top-level members (deceasedDateTime only for the dead) and
 * R4 profiles, by FHIR version and claim type / "Patient" / coverage part. */
static const struct sample_shape {
    int version;
    const char *kind;
    const char *profile;
    const char *keys;
} shapes[] = {
    { 3, "carrier", NULL, "resourceType id meta contained extension identifier "
      "status type patient billablePeriod referral disposition information careTeam "
      "diagnosis insurance item payment" },
    { 3, "dme", NULL, "resourceType id meta contained extension identifier status "
      "type patient billablePeriod referral disposition information careTeam "
      "diagnosis insurance item payment" },
    { 3, "hha", NULL, "resourceType id meta extension identifier status type patient "
      "billablePeriod provider organization facility information careTeam diagnosis "
      "insurance hospitalization item totalCost payment benefitBalance" },
    { 3, "hospice", NULL, "resourceType id meta extension identifier status type "
      "patient billablePeriod provider organization facility information careTeam "
      "diagnosis insurance hospitalization item totalCost payment benefitBalance" },
    { 3, "inpatient", NULL, "resourceType id meta extension identifier status type "
      "patient billablePeriod provider organization facility information careTeam "
      "diagnosis procedure insurance hospitalization item totalCost payment "
      "benefitBalance" },
    { 3, "outpatient", NULL, "resourceType id meta extension identifier status type "
      "patient billablePeriod provider organization facility information careTeam "
      "diagnosis procedure insurance item totalCost payment" },
    { 3, "pde", NULL, "resourceType id meta identifier status type patient "
      "billablePeriod organization facility information careTeam insurance item "
      "payment" },
    { 3, "snf", NULL, "resourceType id meta extension identifier status type patient "
      "billablePeriod provider organization facility information careTeam diagnosis "
      "procedure insurance hospitalization item totalCost payment benefitBalance" },
    { 3, "Patient", NULL, "resourceType id meta extension identifier name gender "
      "birthDate address" },
    { 3, "part-a", NULL, "resourceType id meta extension status type beneficiary "
      "period grouping" },
    { 3, "part-b", NULL, "resourceType id meta extension status type beneficiary "
      "period grouping" },
    { 3, "part-c", NULL, "resourceType id meta extension status type beneficiary "
      "grouping" },
    { 3, "part-d", NULL, "resourceType id meta extension status type beneficiary "
      "grouping" },
    { 4, "carrier", "C4BB-ExplanationOfBenefit-Professional-NonClinician",
      "resourceType id meta contained extension identifier status type use patient "
      "billablePeriod created insurer provider referral outcome disposition careTeam "
      "supportingInfo diagnosis insurance item total payment benefitBalance" },
    { 4, "dme", "C4BB-ExplanationOfBenefit-Inpatient-Institutional",
      "resourceType id meta contained extension identifier status type use patient "
      "billablePeriod created insurer provider referral outcome disposition careTeam "
      "supportingInfo diagnosis insurance item total payment benefitBalance" },
    { 4, "hha", "C4BB-ExplanationOfBenefit-Professional-NonClinician",
      "resourceType id meta contained extension identifier status type subType use "
      "patient billablePeriod created insurer provider facility outcome careTeam "
      "supportingInfo diagnosis insurance item total payment benefitBalance" },
    { 4, "hospice", "C4BB-ExplanationOfBenefit-Inpatient-Institutional",
      "resourceType id meta contained extension identifier status type subType use "
      "patient billablePeriod created insurer provider facility outcome careTeam "
      "supportingInfo diagnosis insurance item total payment benefitBalance" },
    { 4, "inpatient", "C4BB-ExplanationOfBenefit-Inpatient-Institutional",
      "resourceType id meta contained extension identifier status type subType use "
      "patient billablePeriod created insurer provider facility outcome careTeam "
      "supportingInfo diagnosis procedure insurance item total payment "
      "benefitBalance" },
    { 4, "outpatient", "C4BB-ExplanationOfBenefit-Outpatient-Institutional",
      "resourceType id meta contained extension identifier status type subType use "
      "patient billablePeriod created insurer provider facility outcome careTeam "
      "supportingInfo diagnosis procedure insurance item total payment "
      "benefitBalance" },
    { 4, "pde", "C4BB-ExplanationOfBenefit-Pharmacy",
      "resourceType id meta identifier status type use patient billablePeriod "
      "created insurer provider facility outcome careTeam supportingInfo insurance "
      "item total payment" },
    { 4, "snf", "C4BB-ExplanationOfBenefit-Inpatient-Institutional",
      "resourceType id meta contained extension identifier status type subType use "
      "patient billablePeriod created insurer provider facility outcome careTeam "
      "supportingInfo diagnosis procedure insurance item total payment "
      "benefitBalance" },
    { 4, "Patient", "C4BB-Patient", "resourceType id meta extension identifier name "
      "gender birthDate address" },
    { 4, "part-a", "C4BB-Coverage", "resourceType id meta extension status type "
      "subscriberId beneficiary relationship period payor class" },
    { 4, "part-b", "C4BB-Coverage", "resourceType id meta extension status type "
      "subscriberId beneficiary relationship period payor class" },
    { 4, "part-c", "C4BB-Coverage", "resourceType id meta extension status type "
      "subscriberId beneficiary relationship payor class" },
    { 4, "part-d", "C4BB-Coverage", "resourceType id meta extension status type "
      "subscriberId beneficiary relationship period payor class" },
};

static apr_pool_t *gen_pool;
static dpc_synth *gen;

static void gen_setup(void)
{
    apr_pool_create(&gen_pool, NULL);
    ck_assert_int_eq(dpc_synth_create(gen_pool, &gen), APR_SUCCESS);
}

static void gen_teardown(void)
{
    apr_pool_destroy(gen_pool);
}

static const struct sample_shape *shape_of(const dpc_synth_row *r)
{
    const char *kind = r->claim_type ? r->claim_type : r->resource_type;
    char part[7];
    size_t i;

    if (!strcmp(r->resource_type, "Coverage")) {
        snprintf(part, sizeof(part), "%s", r->resource_id);
        kind = part;
    }
    for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        if (shapes[i].version == r->fhir_version && !strcmp(shapes[i].kind, kind))
            return &shapes[i];
    }
    return NULL;
}

/* The object's member names, in order, space separated; deceasedDateTime
 * left out (the sample's patient has one; ours only when dead). */
static void member_names(json_t *o, char *out, size_t n)
{
    const char *k;
    json_t *v;

    out[0] = '\0';
    json_object_foreach(o, k, v) {
        if (strcmp(k, "deceasedDateTime")) {
            strncat(out, out[0] ? " " : "", n - strlen(out) - 1);
            strncat(out, k, n - strlen(out) - 1);
        }
    }
}

static const char *jstr(json_t *o, const char *path)
{
    json_t *v = o;
    char buf[128], *key, *save = NULL;

    snprintf(buf, sizeof(buf), "%s", path);
    for (key = strtok_r(buf, ".", &save); key && v; key = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(key)) : json_object_get(v, key);
    return json_string_value(v);
}

static int has_mbi_identifier(json_t *body, const char *mbi)
{
    json_t *id;
    size_t i;

    json_array_foreach(json_object_get(body, "identifier"), i, id) {
        const char *sys = jstr(id, "system"), *val = jstr(id, "value");

        if (sys && !strcmp(sys, "http://hl7.org/fhir/sid/us-mbi") && val
            && !strcmp(val, mbi) && jstr(id, "period.start")
            && !strcmp(jstr(id, "type.coding.0.extension.0.valueCoding.code"), "current"))
            return 1;
    }
    return 0;
}

static void check_patient(json_t *body, const dpc_synth_row *r)
{
    ck_assert_str_eq(jstr(body, "id"), r->bene_id);
    if (r->fhir_version == 4) {
        ck_assert(has_mbi_identifier(body, r->mbi));
        return;
    }
    ck_assert_str_eq(jstr(body, "identifier.0.system"),
                     "https://bluebutton.cms.gov/resources/identifier/mbi-hash");
    ck_assert_uint_eq(strlen(jstr(body, "identifier.0.value")), 64);
    ck_assert_str_eq(jstr(body, "identifier.1.value"), r->bene_id);
}

static void check_references(json_t *body, const dpc_synth_row *r)
{
    char want[64];
    const char *cov = r->fhir_version == 4 ? jstr(body, "insurance.0.coverage.reference")
                                           : jstr(body, "insurance.coverage.reference");

    snprintf(want, sizeof(want), "Patient/%s", r->bene_id);
    ck_assert_str_eq(jstr(body, "patient.reference"), want);
    ck_assert_ptr_nonnull(cov);
    ck_assert_str_eq(cov + strlen("Coverage/part-x-"), r->bene_id);
}

static void check_npis(json_t *body)
{
    json_t *ct;
    size_t i;

    json_array_foreach(json_object_get(body, "careTeam"), i, ct) {
        const char *npi = jstr(ct, "provider.identifier.value");
        const char *type = jstr(ct, "provider.identifier.type.coding.0.code");

        if (!type || strcmp(type, "npi"))
            continue;           /* e.g. the hospice sample's UPIN */
        ck_assert_msg(npi && dpc_npi_valid(npi), "bad NPI %s", npi ? npi : "(none)");
    }
}

/* The row's filter columns are what `dpcctl load` reads from its body. */
static void check_columns(json_t *body, const dpc_synth_row *r)
{
    dpc_load_res res;

    ck_assert_ptr_null(dpc_load_check(gen_pool, body, r->fhir_version, &res));
    ck_assert_pstr_eq(r->claim_type, res.claim_type);
    ck_assert_pstr_eq(r->service_start, res.service_start);
    ck_assert_pstr_eq(r->service_end, res.service_end);
    ck_assert_pstr_eq(r->coverage_status, res.coverage_status);
    if (r->claim_type)
        ck_assert(r->service_start && r->service_end
                  && strcmp(r->service_start, r->service_end) <= 0);
}

/* Everything a single row must satisfy. */
static void check_row(const dpc_synth_row *r)
{
    const struct sample_shape *sh = shape_of(r);
    json_error_t err;
    json_t *body = json_loadb(r->body, r->body_len, 0, &err);
    char keys[1024];

    ck_assert_msg(body != NULL, "%s %s: %s", r->resource_type, r->resource_id, err.text);
    ck_assert_ptr_nonnull(sh);
    ck_assert_ptr_null(memchr(r->body, ' ', 64));       /* compact */
    member_names(body, keys, sizeof(keys));
    ck_assert_str_eq(keys, sh->keys);
    ck_assert_str_eq(jstr(body, "resourceType"), r->resource_type);
    ck_assert_str_eq(jstr(body, "id"), r->resource_id);
    ck_assert_str_eq(jstr(body, "meta.lastUpdated"), r->last_updated);
    if (sh->profile)
        ck_assert_ptr_nonnull(strstr(jstr(body, "meta.profile.0"), sh->profile));
    if (!strcmp(r->resource_type, "Patient"))
        check_patient(body, r);
    else if (r->claim_type) {
        check_references(body, r);
        if (r->fhir_version == 4)
            check_npis(body);
    }
    else
        ck_assert_str_eq(jstr(body, "beneficiary.reference") + strlen("Patient/"),
                         r->bene_id);
    check_columns(body, r);
    json_decref(body);
}

static int check_sink(void *ctx, const dpc_synth_row *r)
{
    (*(int *)ctx)++;
    ck_assert(dpc_mbi_synthetic(r->mbi) && r->bene_id[0] == '-');
    check_row(r);
    return 0;
}

START_TEST(synth_rows_valid)
{
    int rows = 0, i;

    for (i = 0; i < 12; i++)
        ck_assert_int_eq(dpc_synth_beneficiary(gen, 11, (uint64_t)i * 977, check_sink,
                                               &rows), 0);
    ck_assert_int_gt(rows, 12 * 8);
}
END_TEST

/* ---- statistics over many beneficiaries ------------------------------- */

typedef struct synth_tally {
    long rows, eobs, eob_bytes, min_eob, max_eob;
    long by_type[2][DPC_SYNTH_CLAIM_TYPES];
    int coverage[4];
    int64_t min_us, max_us;
    long n_marker, n_between;   /* lastUpdated at BFD's marker; after it, before its load */
    unsigned long long fnv;     /* FNV-1a of every byte, for determinism */
    apr_hash_t *claim_ids;
    apr_pool_t *pool;
} synth_tally;

static void tally_hash(synth_tally *t, const char *s, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++)
        t->fnv = (t->fnv ^ (unsigned char)s[i]) * 1099511628211ULL;
}

static void tally_eob(synth_tally *t, const dpc_synth_row *r)
{
    int i;

    t->eobs++;
    t->eob_bytes += (long)r->body_len;
    if ((long)r->body_len < t->min_eob)
        t->min_eob = (long)r->body_len;
    if ((long)r->body_len > t->max_eob)
        t->max_eob = (long)r->body_len;
    for (i = 0; i < DPC_SYNTH_CLAIM_TYPES; i++) {
        if (!strcmp(r->claim_type, dpc_synth_claim_type(i)))
            t->by_type[r->fhir_version - 3][i]++;
    }
    if (r->fhir_version == 4) {     /* claim ids unique over the data set */
        const char *id = apr_pstrdup(t->pool, r->resource_id);

        ck_assert_msg(!apr_hash_get(t->claim_ids, id, APR_HASH_KEY_STRING),
                      "duplicate %s", id);
        apr_hash_set(t->claim_ids, id, APR_HASH_KEY_STRING, "");
    }
}

static int tally_sink(void *ctx, const dpc_synth_row *r)
{
    synth_tally *t = ctx;

    t->rows++;
    tally_hash(t, r->body, r->body_len);
    tally_hash(t, r->resource_id, strlen(r->resource_id));
    if (r->last_updated_us < t->min_us)
        t->min_us = r->last_updated_us;
    if (r->last_updated_us > t->max_us)
        t->max_us = r->last_updated_us;
    t->n_marker += r->last_updated_us == DPC_BFD_MARKER;
    t->n_between += r->last_updated_us > DPC_BFD_MARKER
                    && r->last_updated_us < DPC_BFD_LOAD_DATE;
    if (r->claim_type)
        tally_eob(t, r);
    else if (!strcmp(r->resource_type, "Coverage") && r->fhir_version == 4)
        t->coverage[r->resource_id[5] - 'a']++;
    return 0;
}

static void tally_init(synth_tally *t, apr_pool_t *p)
{
    memset(t, 0, sizeof(*t));
    t->min_eob = 1L << 30;
    t->min_us = INT64_MAX;
    t->fnv = 14695981039346656037ULL;
    t->pool = p;
    t->claim_ids = apr_hash_make(p);
}

#define STAT_BENES 200

START_TEST(synth_statistics)
{
    synth_tally t;
    int i, none = 0, v;
    long claims = 0;
    dpc_synth_bene info;

    tally_init(&t, gen_pool);
    for (i = 0; i < STAT_BENES; i++) {
        ck_assert_int_eq(dpc_synth_bene_info(gen, 5, (uint64_t)i, &info), APR_SUCCESS);
        claims += info.claims;
        none += info.claims == 0;
        ck_assert_int_eq(dpc_synth_beneficiary(gen, 5, (uint64_t)i, tally_sink, &t), 0);
    }
    ck_assert_int_eq(t.eobs, claims * 2);
    ck_assert_msg(claims >= 60 * STAT_BENES && claims <= 100 * STAT_BENES,
                  "mean claims %.1f", (double)claims / STAT_BENES);
    ck_assert_msg(none >= 2 && none <= 25, "%d of %d without claims", none, STAT_BENES);
    ck_assert_msg(t.min_eob >= 5000 && t.max_eob <= DPC_SYNTH_MAX_BODY,
                  "EOB sizes %ld..%ld", t.min_eob, t.max_eob);
    for (v = 0; v < 2; v++) {
        for (i = 0; i < DPC_SYNTH_CLAIM_TYPES; i++)
            ck_assert_msg(t.by_type[v][i] > 0, "no %s v%d", dpc_synth_claim_type(i), v + 3);
        for (i = 0; i < DPC_SYNTH_CLAIM_TYPES; i++)     /* carrier, pde lead */
            ck_assert(i == 0 || i == 6 || t.by_type[v][i] < t.by_type[v][6]);
        ck_assert(t.by_type[v][6] < t.by_type[v][0]);
    }
    ck_assert_int_eq(t.coverage[0], STAT_BENES);
    ck_assert_int_eq(t.coverage[1], STAT_BENES);
    ck_assert_int_eq(t.coverage[3], STAT_BENES);
    ck_assert(t.coverage[2] > 0 && t.coverage[2] < STAT_BENES);
    /* lastUpdated spreads over 2020 .. 2026 (us since 1970); what BFD
     * loaded before 2020-02-12 carries its marker date, 2020-01-01 */
    ck_assert(t.min_us == DPC_BFD_MARKER);
    ck_assert(t.n_marker > 0 && t.n_between == 0);
    ck_assert(t.max_us > INT64_C(1735689600000000));    /* after 2025 */
    ck_assert(t.max_us < INT64_C(1798761600000000));    /* before 2027 */
}
END_TEST

static unsigned long long fingerprint(dpc_synth *g, uint64_t seed, uint64_t first, int n)
{
    apr_pool_t *p;
    synth_tally t;
    int i;

    apr_pool_create(&p, NULL);
    tally_init(&t, p);
    for (i = 0; i < n; i++)
        ck_assert_int_eq(dpc_synth_beneficiary(g, seed, first + i, tally_sink, &t), 0);
    apr_pool_destroy(p);
    return t.fnv;
}

START_TEST(synth_deterministic)
{
    dpc_synth *other;
    unsigned long long a = fingerprint(gen, 99, 1000, 5);

    ck_assert_int_eq(dpc_synth_create(gen_pool, &other), APR_SUCCESS);
    ck_assert(fingerprint(other, 99, 1000, 5) == a);     /* same seed, same bytes */
    fingerprint(gen, 98, 0, 3);                          /* whatever came before */
    ck_assert(fingerprint(gen, 99, 1000, 5) == a);
    ck_assert(fingerprint(gen, 98, 1000, 5) != a);       /* another seed */
    ck_assert(fingerprint(gen, 99, 1001, 5) != a);
}
END_TEST

START_TEST(synth_identities)
{
    apr_hash_t *mbis = apr_hash_make(gen_pool), *ids = apr_hash_make(gen_pool);
    dpc_synth_bene info, again;
    int i;

    for (i = 0; i < 3000; i++) {
        ck_assert_int_eq(dpc_synth_bene_info(gen, 1, (uint64_t)i, &info), APR_SUCCESS);
        /* BFD's synthetic form: S second, never a real MBI; negative ids */
        ck_assert_msg(dpc_mbi_synthetic(info.mbi) && !dpc_mbi_valid(info.mbi), "%s", info.mbi);
        ck_assert_msg(info.bene_id[0] == '-' && info.bene_id[1] != '0', "%s", info.bene_id);
        ck_assert(!apr_hash_get(mbis, info.mbi, APR_HASH_KEY_STRING));
        ck_assert(!apr_hash_get(ids, info.bene_id, APR_HASH_KEY_STRING));
        apr_hash_set(mbis, apr_pstrdup(gen_pool, info.mbi), APR_HASH_KEY_STRING, "");
        apr_hash_set(ids, apr_pstrdup(gen_pool, info.bene_id), APR_HASH_KEY_STRING, "");
        /* Patient, parts A B D (and maybe C), claims: in 2 versions */
        ck_assert(info.resources == 2 * (info.claims + 4)
                  || info.resources == 2 * (info.claims + 5));
    }
    /* the guides' MBI is index 0 of every data set */
    dpc_synth_bene_info(gen, 1, 0, &info);
    ck_assert_str_eq(info.mbi, "2SW4N00AA00");
    dpc_synth_bene_info(gen, 2, 0, &info);
    ck_assert_str_eq(info.mbi, "2SW4N00AA00");
    dpc_synth_bene_info(gen, 1, 7, &info);
    dpc_synth_bene_info(gen, 1, 7, &again);
    ck_assert_str_eq(info.mbi, again.mbi);
    ck_assert_str_eq(info.last_updated, again.last_updated);
    ck_assert_int_ne(dpc_synth_bene_info(gen, 1, DPC_SYNTH_MAX_INDEX, &info), APR_SUCCESS);
}
END_TEST

Suite *synth_suite(void)
{
    Suite *s = suite_create("synth");
    TCase *tpl = tcase_create("template");
    TCase *tc = tcase_create("generator");

    tcase_add_test(tpl, tpl_render);
    suite_add_tcase(s, tpl);
    tcase_add_checked_fixture(tc, gen_setup, gen_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, synth_rows_valid);
    tcase_add_test(tc, synth_statistics);
    tcase_add_test(tc, synth_deterministic);
    tcase_add_test(tc, synth_identities);
    suite_add_tcase(s, tc);
    return s;
}
