/* test_job.c: the pure helpers of dpc_job.c (the batch work itself is
 * tested end to end against PostgreSQL). */
#include <string.h>

#include <apr_pools.h>
#include <jansson.h>

#include "dpc_job.h"
#include "dpc_pg.h"
#include "unit.h"

START_TEST(split_types_ok)
{
    apr_pool_t *p;
    const char **t, *bad;

    apr_pool_create(&p, NULL);
    ck_assert_int_eq(dpc_job_split_types(p, "Patient,Coverage,ExplanationOfBenefit",
                                         &t, &bad), 3);
    ck_assert_str_eq(t[0], "Patient");
    ck_assert_str_eq(t[1], "Coverage");
    ck_assert_str_eq(t[2], "ExplanationOfBenefit");
    ck_assert_ptr_null(bad);
    ck_assert_int_eq(dpc_job_split_types(p, "Patient", &t, &bad), 1);
    ck_assert_str_eq(t[0], "Patient");
    apr_pool_destroy(p);
}
END_TEST

START_TEST(split_types_bad)
{
    apr_pool_t *p;
    const char **t, *bad;

    apr_pool_create(&p, NULL);
    ck_assert_int_eq(dpc_job_split_types(p, "", &t, &bad), -1);
    ck_assert_int_eq(dpc_job_split_types(p, NULL, &t, &bad), -1);
    ck_assert_int_eq(dpc_job_split_types(p, ",", &t, &bad), -1);
    ck_assert_int_eq(dpc_job_split_types(p, "Patient,../etc", &t, &bad), -1);
    ck_assert_str_eq(bad, "../etc");
    ck_assert_int_eq(dpc_job_split_types(p, "patient", &t, &bad), -1);
    ck_assert_str_eq(bad, "patient");
    ck_assert_int_eq(dpc_job_split_types(p, "Patient,Cov erage", &t, &bad), -1);
    apr_pool_destroy(p);
}
END_TEST

/* Each problem line is one compact OperationOutcome naming what it is about. */
START_TEST(problem_lines_are_operation_outcomes)
{
    static const struct { const char *kind, *severity, *code; } cases[] = {
        { "ignored", "warning", "not-supported" },
        { "opted-out", "error", "suppressed" },
        { "no-data", "error", "not-found" },
    };
    apr_pool_t *p;
    size_t i;

    apr_pool_create(&p, NULL);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *line = dpc_job_problem_line(p, cases[i].kind, "1S00E00AA00\"\n");
        json_error_t e;
        json_t *oo, *issue;

        ck_assert_ptr_nonnull(line);
        ck_assert_ptr_null(strchr(line, '\n'));     /* one NDJSON line */
        oo = json_loads(line, 0, &e);
        ck_assert_msg(oo != NULL, "%s: %s", line, e.text);
        ck_assert_str_eq(json_string_value(json_object_get(oo, "resourceType")),
                         "OperationOutcome");
        ck_assert_int_eq(json_array_size(json_object_get(oo, "issue")), 1);
        issue = json_array_get(json_object_get(oo, "issue"), 0);
        ck_assert_str_eq(json_string_value(json_object_get(issue, "severity")),
                         cases[i].severity);
        ck_assert_str_eq(json_string_value(json_object_get(issue, "code")), cases[i].code);
        ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(issue, "diagnostics")),
                                     "1S00E00AA00\"\n"));
        json_decref(oo);
    }
    ck_assert_ptr_null(dpc_job_problem_line(p, "other", "x"));
    apr_pool_destroy(p);
}
END_TEST

/* The one builder of text[] literals: every element quoted and escaped, so
 * quotes, backslashes, braces, commas and NULL come back as they were (the
 * server's parse of these literals is tested end to end in findings.t). */
START_TEST(text_array_literals_are_escaped)
{
    static const char *const items[] = {
        "Patient", "a\"b", "c\\d", "{x}", "NULL", "e,f", " g ", ""
    };
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    ck_assert_str_eq(dpc_pg_text_array(p, items, 0), "{}");
    ck_assert_str_eq(dpc_pg_text_array(p, items, 1), "{\"Patient\"}");
    ck_assert_str_eq(dpc_pg_text_array(p, items, 8),
                     "{\"Patient\",\"a\\\"b\",\"c\\\\d\",\"{x}\",\"NULL\",\"e,f\","
                     "\" g \",\"\"}");
    apr_pool_destroy(p);
}
END_TEST

Suite *job_suite(void)
{
    Suite *s = suite_create("job");
    TCase *tc = tcase_create("split_types");

    tcase_add_test(tc, split_types_ok);
    tcase_add_test(tc, split_types_bad);
    tcase_add_test(tc, text_array_literals_are_escaped);
    suite_add_tcase(s, tc);
    tc = tcase_create("problems");
    tcase_add_test(tc, problem_lines_are_operation_outcomes);
    suite_add_tcase(s, tc);
    return s;
}
