/* test_job.c: the pure helpers of dpc_job.c (the batch work itself is
 * tested end to end against PostgreSQL). */
#include <apr_pools.h>

#include "dpc_job.h"
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

Suite *job_suite(void)
{
    Suite *s = suite_create("job");
    TCase *tc = tcase_create("split_types");

    tcase_add_test(tc, split_types_ok);
    tcase_add_test(tc, split_types_bad);
    suite_add_tcase(s, tc);
    return s;
}
