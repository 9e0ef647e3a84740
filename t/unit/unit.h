/* unit.h: the suites t/unit/main.c runs. */
#ifndef DPC_UNIT_H
#define DPC_UNIT_H

#include <check.h>

Suite *config_suite(void);
Suite *fhir_suite(void);
Suite *route_suite(void);
Suite *meta_suite(void);
Suite *auth_rules_suite(void);
Suite *b64_suite(void);
Suite *jwt_suite(void);
Suite *pkey_suite(void);
Suite *token_suite(void);
Suite *synth_suite(void);
Suite *mbi_suite(void);
Suite *http_suite(void);
Suite *roster_suite(void);
Suite *export_suite(void);
Suite *job_suite(void);
Suite *export_req_suite(void);
Suite *manifest_suite(void);
Suite *load_suite(void);
Suite *portal_suite(void);
Suite *crypt_suite(void);

#endif
