/* fuzz_load: what `dpcctl load` reads of each NDJSON line (dpc_load.c).
 *
 * The input is one line, as raw bytes (no NUL after it, so a read past its
 * end is caught).  Invariants: dpc_load_quick() takes a line only if
 * jansson parses it and dpc_load_check() finds it good with the same type,
 * id, bene id, version and lastUpdated; dpc_load_check() on whatever
 * jansson parses either gives a reason or a resource of the three types
 * with a valid id and bene id, and a current MBI only when well-formed.
 */
#include "fuzz.h"

#include <jansson.h>

#include "dpc_load.h"
#include "dpc_mbi.h"

static void check_parsed(apr_pool_t *p, const json_t *v, const dpc_load_res *q, int took)
{
    dpc_load_res r;
    const char *why = dpc_load_check(p, v, 0, &r);

    FUZZ_CHECK(!took || why == NULL);
    if (why)
        return;
    FUZZ_CHECK(!strcmp(r.type, "Patient") || !strcmp(r.type, "Coverage")
               || !strcmp(r.type, "ExplanationOfBenefit"));
    FUZZ_CHECK(dpc_load_id_valid(r.id) && dpc_load_id_valid(r.bene_id));
    FUZZ_CHECK(r.fhir_version == 3 || r.fhir_version == 4);
    FUZZ_CHECK(!r.mbi || dpc_mbi_valid(r.mbi));
    if (took) {
        FUZZ_CHECK(!strcmp(q->type, r.type) && !strcmp(q->id, r.id));
        FUZZ_CHECK(!strcmp(q->bene_id, r.bene_id));
        FUZZ_CHECK(q->fhir_version == r.fhir_version);
        FUZZ_CHECK(q->last_updated_us == r.last_updated_us && !r.placeholder);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    dpc_load_res q;
    int took = dpc_load_quick(p, (const char *)data, size, 0, &q);
    json_t *v = json_loadb((const char *)data, size, 0, NULL);

    FUZZ_CHECK(!took || v != NULL);
    if (v)
        check_parsed(p, v, &q, took);
    json_decref(v);
    fuzz_end(p);
    return 0;
}
