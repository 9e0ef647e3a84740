/* The core's unit tests: every suite in one runner, TAP-free plain Check
 * output ("N%: Checks: N, Failures: N, Errors: N"). */
#include <stdlib.h>

#include <apr_general.h>

#include "unit.h"

int main(void)
{
    SRunner *sr;
    int failed;

    apr_initialize();
    sr = srunner_create(config_suite());
    srunner_add_suite(sr, fhir_suite());
    srunner_add_suite(sr, route_suite());
    srunner_add_suite(sr, meta_suite());
    srunner_add_suite(sr, auth_rules_suite());
    srunner_add_suite(sr, b64_suite());
    srunner_add_suite(sr, jwt_suite());
    srunner_add_suite(sr, pkey_suite());
    srunner_add_suite(sr, token_suite());
    srunner_add_suite(sr, mbi_suite());
    srunner_add_suite(sr, synth_suite());
    srunner_add_suite(sr, http_suite());
    srunner_add_suite(sr, roster_suite());
    srunner_add_suite(sr, export_suite());
    srunner_add_suite(sr, job_suite());
    srunner_add_suite(sr, export_req_suite());
    srunner_add_suite(sr, manifest_suite());
    srunner_add_suite(sr, load_suite());
    srunner_add_suite(sr, portal_suite());
    srunner_add_suite(sr, crypt_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
