/* fuzz_provenance: the X-Provenance header of roster writes.
 *
 *   dpc_attestation_check  with the v1 rules (onBehalfOf required) and the
 *                          v2 rules (optional), at a fixed now and org; an
 *                          accepted attestation's stored JSON is accepted
 *                          again with the same result
 */
#include "fuzz.h"

#include "dpc_fhir.h"
#include "dpc_res.h"
#include "dpc_roster.h"

#define ORG "5f6b0e3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"

static void check(apr_pool_t *p, const char *text, size_t len, int v1)
{
    dpc_attest_rules rules = { ORG, 0, DPC_ATTESTATION_SKEW, 0, v1 };
    json_t *oo = dpc_json_pool(p, dpc_oo_new());
    dpc_attestation *a = NULL, *again = NULL;

    rules.now = apr_time_from_sec(1700000000);
    if (dpc_attestation_check(p, text, len, &rules, oo, &a)) {
        FUZZ_CHECK(dpc_issue_count(oo) > 0);
        return;
    }
    FUZZ_CHECK(dpc_issue_count(oo) == 0);
    FUZZ_CHECK(a && a->json && !strcmp(a->org_id, ORG));
    FUZZ_CHECK(a->recorded <= rules.now + rules.skew);
    FUZZ_CHECK(!v1 || a->practitioner_id || a->practitioner_npi);
    FUZZ_CHECK(dpc_attestation_check(p, a->json, strlen(a->json), &rules, oo, &again) == 0);
    FUZZ_CHECK(again->recorded == a->recorded);
    FUZZ_CHECK(!strcmp(again->json, a->json));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *s = fuzz_text(p, data, size);

    check(p, s, size, 1);
    check(p, s, size, 0);
    fuzz_end(p);
    return 0;
}
