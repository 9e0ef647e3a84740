/* fuzz_fhir: the FHIR bodies clients POST and PUT.
 *
 * The input is parsed once (dpc_res_load, as every handler does) and the
 * object handed to every check, as each route would:
 *   dpc_practitioner_check, dpc_patient_check   POST Practitioner / Patient
 *   dpc_submit_check                            $submit Bundles of either
 *   dpc_roster_check (+ dpc_res_unwrap)         Group POST, PUT, $add, $remove
 *   dpc_group_r4, dpc_group_stu3                an accepted roster's members
 *                                               rendered back as a Group
 *   dpc_res_output                              an accepted resource's stored
 *                                               form, as read back
 * Invariants: a check that succeeds added no issue and one that fails added
 * at least one; an accepted Practitioner or Patient's stored JSON is
 * accepted again with the same keys; every roster member is a UUID or a
 * valid MBI, and the NPI valid.
 */
#include "fuzz.h"

#include "dpc_fhir.h"
#include "dpc_mbi.h"
#include "dpc_res.h"
#include "dpc_roster.h"
#include "dpc_token.h"

#define NOW apr_time_from_sec(1700000000)

static json_t *new_oo(apr_pool_t *p)
{
    return dpc_json_pool(p, dpc_oo_new());
}

/* rc from a check that reported into oo, which held `before` issues. */
static void consistent(int rc, const json_t *oo, size_t before)
{
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((rc == 0) == (dpc_issue_count(oo) == before));
}

static json_t *reload(apr_pool_t *p, const char *stored)
{
    json_t *v = NULL;

    FUZZ_CHECK(dpc_res_load(p, stored, strlen(stored), "stored", new_oo(p), &v) == 0);
    return v;
}

static void people(apr_pool_t *p, const json_t *body)
{
    json_t *oo = new_oo(p), *out;
    dpc_practitioner *pr;
    dpc_patient *pa, *pa2;
    int rc;

    rc = dpc_practitioner_check(p, body, NULL, oo, &pr);
    consistent(rc, oo, 0);
    if (rc == 0) {
        dpc_practitioner *again;

        FUZZ_CHECK(dpc_npi_valid(pr->npi));
        FUZZ_CHECK(dpc_practitioner_check(p, reload(p, pr->json), NULL, oo, &again) == 0);
        FUZZ_CHECK(!strcmp(again->npi, pr->npi) && !strcmp(again->json, pr->json));
        out = dpc_json_pool(p, dpc_res_output(p, pr->json, strlen(pr->json),
                                              "id-1", NOW, "1"));
        FUZZ_CHECK(json_is_object(out));
    }
    oo = new_oo(p);
    rc = dpc_patient_check(p, body, "Bundle.entry[0].resource", NOW, oo, &pa);
    consistent(rc, oo, 0);
    if (rc == 0) {
        FUZZ_CHECK(dpc_mbi_valid(pa->mbi));
        FUZZ_CHECK(dpc_patient_check(p, reload(p, pa->json), NULL, NOW, oo, &pa2) == 0);
        FUZZ_CHECK(!strcmp(pa2->mbi, pa->mbi) && !strcmp(pa2->birth_date, pa->birth_date));
    }
}

static void submit(apr_pool_t *p, const json_t *body, dpc_res_type_e type)
{
    json_t *oo = new_oo(p);
    dpc_submit *sub = NULL;
    int rc = dpc_submit_check(p, body, type, 50, NOW, oo, &sub);

    consistent(rc, oo, 0);
    if (rc == 0) {
        FUZZ_CHECK(sub && sub->n >= 1 && sub->n <= 50 && sub->type == type);
        FUZZ_CHECK(type == DPC_RES_PATIENT ? sub->patients != NULL
                                           : sub->practitioners != NULL);
    }
}

/* per_member: a DPC v2 Group, whose members may name different providers */
static void roster(apr_pool_t *p, const json_t *body, int allow_empty, int per_member)
{
    dpc_roster_rules rules = { 100, allow_empty, 0, per_member };
    json_t *oo = new_oo(p);
    dpc_member_row *rows;
    dpc_group_view g;
    dpc_roster *r = NULL;
    int rc = dpc_roster_check(p, body, &rules, oo, &r), i;

    consistent(rc, oo, 0);
    if (rc)
        return;
    FUZZ_CHECK(per_member ? !r->npi || dpc_npi_valid(r->npi) : dpc_npi_valid(r->npi));
    FUZZ_CHECK(r->n <= 100 && r->n == r->n_ref + r->n_mbi && (r->n > 0 || allow_empty));
    rows = apr_pcalloc(p, sizeof(*rows) * ((apr_size_t)r->n + 1));
    for (i = 0; i < r->n; i++) {
        const dpc_member *m = &r->members[i];

        FUZZ_CHECK(m->kind == DPC_MEMBER_REF ? dpc_uuid_is_valid(m->value)
                                             : dpc_mbi_valid(m->value));
        FUZZ_CHECK(m->npi && dpc_npi_valid(m->npi));
        rows[i].npi = m->npi;
        rows[i].patient_id = m->kind == DPC_MEMBER_REF ? m->value : NULL;
        rows[i].mbi = m->kind == DPC_MEMBER_MBI ? m->value : NULL;
        rows[i].period_start = NOW;
    }
    memset(&g, 0, sizeof(g));
    g.id = g.org_id = "5f6b0e3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
    g.npi = r->npi;
    g.name = r->name;
    g.last_updated = NOW;
    g.members = rows;
    g.n = r->n;
    json_decref(dpc_group_r4(p, &g));
    json_decref(dpc_group_stu3(p, &g));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    json_t *oo = new_oo(p), *body = NULL;
    const json_t *inner;

    if (dpc_res_load(p, (const char *)data, size, "body", oo, &body)) {
        FUZZ_CHECK(dpc_issue_count(oo) == 1);
        fuzz_end(p);
        return 0;
    }
    FUZZ_CHECK(json_is_object(body));
    people(p, body);
    if ((inner = dpc_res_unwrap(p, body, "Bundle", new_oo(p))) != NULL)
        FUZZ_CHECK(json_is_object(inner));
    submit(p, body, DPC_RES_PRACTITIONER);
    submit(p, body, DPC_RES_PATIENT);
    roster(p, body, 0, 0);
    roster(p, body, 1, 0);
    roster(p, body, 0, 1);
    fuzz_end(p);
    return 0;
}
