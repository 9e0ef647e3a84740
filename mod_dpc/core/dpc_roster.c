/* dpc_roster.c: see dpc_roster.h. */
#include "dpc_roster.h"
#include "dpc_fhir.h"
#include "dpc_mbi.h"
#include "dpc_token.h"

#include <stdarg.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>

#define PATIENT_REF "Patient/"
#define PRACTITIONER_REF "Practitioner/"
#define ORGANIZATION_REF "Organization/"

static int streq(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

/* A UUID in the lower case our ids are stored in, so that duplicates and
 * lookups do not depend on how the client wrote it. */
static const char *uuid_lower(apr_pool_t *p, const char *s)
{
    char *u = apr_pstrdup(p, s), *c;

    for (c = u; *c; c++)
        *c = (char)apr_tolower(*c);
    return u;
}

/* "Type/{uuid}" gives the UUID, lower case; anything else NULL. */
static const char *ref_uuid(apr_pool_t *p, const char *ref, const char *prefix)
{
    size_t n = strlen(prefix);

    if (!ref || strncmp(ref, prefix, n) || !dpc_uuid_is_valid(ref + n))
        return NULL;
    return uuid_lower(p, ref + n);
}

static int coding_is(const json_t *coding, const char *sys1, const char *sys2,
                     const char *code)
{
    const char *s = dpc_jstr(coding, "system");

    return (streq(s, sys1) || streq(s, sys2)) && streq(dpc_jstr(coding, "code"), code);
}

/* Does a CodeableConcept (R4 and most of STU3), or a bare Coding (STU3's
 * Provenance.reason), carry system#code? */
static int concept_has(const json_t *cc, const char *sys1, const char *sys2, const char *code)
{
    const json_t *coding;
    size_t i;

    if (coding_is(cc, sys1, sys2, code))
        return 1;
    json_array_foreach(json_object_get(cc, "coding"), i, coding) {
        if (coding_is(coding, sys1, sys2, code))
            return 1;
    }
    return 0;
}

/* ---- attestation ------------------------------------------------------------ */

typedef struct att {
    apr_pool_t *p;
    json_t *oo;
    const dpc_attest_rules *rules;
    dpc_attestation *a;
} att;

/* An issue about the header: diagnostics say where the problem came from,
 * since the body of the same request is often fine. */
static void pbad(const att *c, const char *code, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void pbad(const att *c, const char *code, const char *expr, const char *fmt, ...)
{
    va_list ap;
    const char *msg;

    va_start(ap, fmt);
    msg = apr_pvsprintf(c->p, fmt, ap);
    va_end(ap);
    dpc_oo_add(c->oo, "error", code, apr_pstrcat(c->p, "X-Provenance: ", msg, NULL), expr);
}

static void check_recorded(const att *c, const json_t *prov)
{
    const json_t *r = json_object_get(prov, "recorded");
    const char *why = "must be a string";
    apr_time_t t;

    if (!r) {
        pbad(c, DPC_ISSUE_REQUIRED, "Provenance.recorded",
             "recorded (the time of the attestation, a FHIR instant) is required");
        return;
    }
    if (!json_is_string(r) || dpc_instant_parse(json_string_value(r), &t, &why)) {
        pbad(c, DPC_ISSUE_VALUE, "Provenance.recorded", "recorded: %s", why);
        return;
    }
    if (t > c->rules->now + c->rules->skew) {
        pbad(c, DPC_ISSUE_VALUE, "Provenance.recorded",
             "recorded (%s) is in the future", json_string_value(r));
        return;
    }
    if (c->rules->max_age > 0 && t < c->rules->now - c->rules->max_age) {
        pbad(c, DPC_ISSUE_VALUE, "Provenance.recorded",
             "recorded (%s) is more than %" APR_TIME_T_FMT " seconds old: attest anew",
             json_string_value(r), apr_time_sec(c->rules->max_age));
        return;
    }
    c->a->recorded = t;
}

static void check_reason(const att *c, const json_t *prov)
{
    const json_t *reasons = json_object_get(prov, "reason"), *r;
    size_t i;

    if (!json_is_array(reasons) || !json_array_size(reasons)) {
        pbad(c, DPC_ISSUE_REQUIRED, "Provenance.reason",
             "reason is required and must include " DPC_SYS_ACT_REASON "#TREAT");
        return;
    }
    json_array_foreach(reasons, i, r) {
        if (concept_has(r, DPC_SYS_ACT_REASON, DPC_SYS_ACT_REASON_R4, "TREAT"))
            return;
    }
    pbad(c, DPC_ISSUE_VALUE, "Provenance.reason",
         "reason must include " DPC_SYS_ACT_REASON "#TREAT (treatment is the only "
         "purpose supported)");
}

/* An element that is r4_name in R4 and stu3_name in STU3 (a choice type
 * there); both at once is ambiguous. */
static const json_t *choice(const att *c, const json_t *agent, int i, const char *r4_name,
                            const char *stu3_name, const char **expr)
{
    const json_t *r4 = json_object_get(agent, r4_name);
    const json_t *stu3 = json_object_get(agent, stu3_name);

    *expr = apr_psprintf(c->p, "Provenance.agent[%d].%s", i,
                         stu3 && !r4 ? stu3_name : r4_name);
    if (r4 && stu3) {
        pbad(c, DPC_ISSUE_STRUCTURE, *expr, "agent.%s and agent.%s are the same element "
             "in two FHIR versions: give one", r4_name, stu3_name);
        return NULL;
    }
    return r4 ? r4 : stu3;
}

static void check_who(const att *c, const json_t *agent, int i)
{
    const char *expr, *ref, *want;
    const json_t *who = choice(c, agent, i, "who", "whoReference", &expr);

    if (!who && !json_object_get(agent, "who") && !json_object_get(agent, "whoReference")) {
        pbad(c, DPC_ISSUE_REQUIRED, expr, "agent.who is required: a reference to the "
             "attesting organization, Organization/{id}");
        return;
    }
    if (!who)
        return;
    want = apr_pstrcat(c->p, ORGANIZATION_REF, c->rules->org_id, NULL);
    if (!(ref = dpc_jstr(who, "reference")))
        pbad(c, DPC_ISSUE_REQUIRED, expr, "agent.who.reference is required: %s", want);
    else if (strcmp(ref, want))
        pbad(c, DPC_ISSUE_SECURITY, expr, "agent.who is %s, but attestations are made by "
             "the organization calling, %s", ref, want);
    else
        c->a->org_id = apr_pstrdup(c->p, c->rules->org_id);
}

static void check_on_behalf_of_id(const att *c, const json_t *idf, const char *expr)
{
    const char *npi = dpc_jstr(idf, "value");

    if (!streq(dpc_jstr(idf, "system"), DPC_SYS_NPI))
        pbad(c, DPC_ISSUE_VALUE, expr, "agent.onBehalfOf.identifier must have system "
             DPC_SYS_NPI " and the practitioner's NPI");
    else if (!dpc_npi_accept(c->p, npi))
        pbad(c, DPC_ISSUE_VALUE, expr, "agent.onBehalfOf.identifier: \"%s\" is not a valid "
             "NPI", npi ? npi : "");
    else
        c->a->practitioner_npi = apr_pstrdup(c->p, npi);
}

static void check_on_behalf_of(const att *c, const json_t *agent, int i)
{
    const char *expr, *ref;
    const json_t *obo = choice(c, agent, i, "onBehalfOf", "onBehalfOfReference", &expr);
    const json_t *idf;

    if (!obo) {
        if (c->rules->require_on_behalf_of && !json_object_get(agent, "onBehalfOf")
            && !json_object_get(agent, "onBehalfOfReference"))
            pbad(c, DPC_ISSUE_REQUIRED, expr, "agent.onBehalfOf is required: the "
                 "practitioner attested for, Practitioner/{id} or an NPI identifier");
        return;
    }
    ref = dpc_jstr(obo, "reference");
    idf = json_object_get(obo, "identifier");
    if (!ref && !idf) {
        pbad(c, DPC_ISSUE_REQUIRED, expr, "agent.onBehalfOf must reference the "
             "practitioner (Practitioner/{id}) or carry an identifier with its NPI");
        return;
    }
    if (ref && !(c->a->practitioner_id = ref_uuid(c->p, ref, PRACTITIONER_REF)))
        pbad(c, DPC_ISSUE_VALUE, expr, "agent.onBehalfOf.reference must be "
             "Practitioner/{id} with the id of a registered Practitioner, not \"%s\"", ref);
    if (idf)
        check_on_behalf_of_id(c, idf, expr);
}

/* The agent with role AGNT: exactly one. */
static void check_agents(const att *c, const json_t *prov)
{
    const json_t *agents = json_object_get(prov, "agent"), *agent, *role;
    int found = -1;
    size_t i, j;

    if (!json_is_array(agents) || !json_array_size(agents)) {
        pbad(c, DPC_ISSUE_REQUIRED, "Provenance.agent", "agent is required: the "
             "organization attesting (role " DPC_SYS_ROLE_CLASS "#AGNT)");
        return;
    }
    json_array_foreach(agents, i, agent) {
        int agnt = 0;

        json_array_foreach(json_object_get(agent, "role"), j, role)
            agnt |= concept_has(role, DPC_SYS_ROLE_CLASS, DPC_SYS_ROLE_CLASS_R4, "AGNT");
        if (!agnt)
            continue;
        if (found >= 0) {
            pbad(c, DPC_ISSUE_VALUE, apr_psprintf(c->p, "Provenance.agent[%d]", (int)i),
                 "only one agent may have role AGNT (agent[%d] has it too)", found);
            return;
        }
        found = (int)i;
    }
    if (found < 0) {
        pbad(c, DPC_ISSUE_VALUE, "Provenance.agent", "agent must include one with role "
             DPC_SYS_ROLE_CLASS "#AGNT: the organization attesting");
        return;
    }
    agent = json_array_get(agents, found);
    check_who(c, agent, found);
    check_on_behalf_of(c, agent, found);
}

int dpc_attestation_check(apr_pool_t *p, const char *text, apr_size_t len,
                          const dpc_attest_rules *rules, json_t *oo,
                          dpc_attestation **out)
{
    att c = { p, oo, rules, apr_pcalloc(p, sizeof(dpc_attestation)) };
    size_t before = dpc_issue_count(oo);
    const char *rt;
    json_t *prov;

    if (!text) {
        pbad(&c, DPC_ISSUE_REQUIRED, NULL, "the header is required: a Provenance "
             "resource attesting a treatment relationship with the patients");
        return -1;
    }
    if (dpc_res_load(p, text, len, "X-Provenance", oo, &prov))
        return -1;
    if (!streq(rt = dpc_jstr(prov, "resourceType"), "Provenance")) {
        pbad(&c, DPC_ISSUE_VALUE, "Provenance.resourceType",
             "resourceType must be \"Provenance\"%s%s%s", rt ? ", not \"" : "",
             rt ? rt : "", rt ? "\"" : "");
        return -1;
    }
    check_recorded(&c, prov);
    check_reason(&c, prov);
    check_agents(&c, prov);
    if (dpc_issue_count(oo) != before)
        return -1;
    c.a->json = dpc_json_pdump(p, prov);
    *out = c.a;
    return 0;
}

/* ---- roster bodies ------------------------------------------------------------ */

/* What the member pass learns beyond the dpc_member. */
typedef struct member_npi {
    const char *npi;            /* a valid ext-attributedProvider NPI, or NULL */
    int has_ext;                /* an ext-attributedProvider was there, valid or not */
    int reported;               /* the member itself was malformed: say no more */
} member_npi;

typedef struct rchk {
    apr_pool_t *p;
    json_t *oo;
    dpc_roster *r;
    const char *npi;            /* the roster's, once one valid NPI is seen */
    const char *npi_src;        /* where it was seen */
    int has_char;               /* an attributed-to characteristic, valid or not */
    int npi_optional;           /* the URL names the roster: no NPI is fine */
    int per_member;             /* members may name different providers */
} rchk;

static void check_group_frame(rchk *c, const json_t *g)
{
    const json_t *actual = json_object_get(g, "actual");
    const json_t *active = json_object_get(g, "active");
    const json_t *name = json_object_get(g, "name");
    const char *type = dpc_jstr(g, "type");

    if (!json_object_get(g, "type"))
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_REQUIRED, "Group.type", "is required: person");
    else if (!streq(type, "person"))
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_VALUE, "Group.type",
                     "must be person: a roster lists patients");
    if (!actual)
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_REQUIRED, "Group.actual", "is required: true");
    else if (!json_is_true(actual))
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_VALUE, "Group.actual",
                     "must be true: a roster lists actual patients");
    if (active && !json_is_true(active))
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_VALUE, "Group.active",
                     "must be true when given: an inactive roster cannot be submitted");
    if (json_is_string(name))
        c->r->name = apr_pstrdup(c->p, json_string_value(name));
    else if (name)
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_STRUCTURE, "Group.name", "must be a string");
}

static int is_attributed_to(const json_t *ch)
{
    const json_t *coding;
    size_t i;

    json_array_foreach(json_object_get(json_object_get(ch, "code"), "coding"), i, coding) {
        if (streq(dpc_jstr(coding, "code"), DPC_CHARACTERISTIC_ATTRIBUTED_TO))
            return 1;
    }
    return 0;
}

/* Take a valid NPI found at expr as the roster's, or report a second one. */
static void roster_npi(rchk *c, const char *npi, const char *expr)
{
    if (!c->npi) {
        c->npi = npi;
        c->npi_src = expr;
    }
    else if (strcmp(c->npi, npi))
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_VALUE, expr, "NPI %s differs from NPI %s in "
                     "%s: a roster is attributed to one provider", npi, c->npi,
                     c->npi_src);
}

static void characteristic_npi(rchk *c, const json_t *ch, int i)
{
    const char *base = apr_psprintf(c->p, "Group.characteristic[%d].valueCodeableConcept",
                                    i);
    const json_t *vcc = json_object_get(ch, "valueCodeableConcept"), *coding;
    int found = 0;
    size_t j;

    json_array_foreach(json_object_get(vcc, "coding"), j, coding) {
        const char *expr = apr_psprintf(c->p, "%s.coding[%d]", base, (int)j);
        const char *code_expr = apr_pstrcat(c->p, expr, ".code", NULL);
        const char *npi = dpc_jstr(coding, "code");

        if (!streq(dpc_jstr(coding, "system"), DPC_SYS_NPI))
            continue;
        found = 1;
        /* The v1 guide puts the NPI in code; an Identifier habit puts it
         * in value, which a Coding does not have. */
        if (!npi)
            dpc_issue_at(c->p, c->oo, DPC_ISSUE_REQUIRED, code_expr,
                         "the provider's NPI goes in code%s",
                         json_object_get(coding, "value") ? " (not value)" : "");
        else if (!dpc_npi_accept(c->p, npi))
            dpc_issue_at(c->p, c->oo, DPC_ISSUE_VALUE, code_expr, "\"%s\" is not a valid "
                         "NPI (10 digits with a correct check digit)", npi);
        else
            roster_npi(c, apr_pstrdup(c->p, npi), expr);
    }
    if (!found)
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_REQUIRED, base, "the attributed-to "
                     "characteristic needs valueCodeableConcept.coding with system "
                     DPC_SYS_NPI " and the provider's NPI in code");
}

static void check_characteristics(rchk *c, const json_t *g)
{
    const json_t *chars = json_object_get(g, "characteristic"), *ch;
    size_t i;

    if (!chars)
        return;
    if (!json_is_array(chars)) {
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_STRUCTURE, "Group.characteristic",
                     "must be an array");
        c->has_char = 1;
        return;
    }
    /* Other characteristics describe the group in ways a roster does not
     * use: they are kept out of the way, not refused. */
    json_array_foreach(chars, i, ch) {
        if (!is_attributed_to(ch))
            continue;
        c->has_char = 1;
        characteristic_npi(c, ch, (int)i);
    }
}

/* The member's ext-attributedProvider NPI. */
static void member_ext_npi(rchk *c, const json_t *m, int i, member_npi *mn)
{
    const json_t *ext;
    size_t j;

    json_array_foreach(json_object_get(m, "extension"), j, ext) {
        const char *expr = apr_psprintf(c->p, "Group.member[%d].extension[%d]", i, (int)j);
        const json_t *idf;
        const char *npi;

        if (!streq(dpc_jstr(ext, "url"), DPC_EXT_ATTRIBUTED_PROVIDER))
            continue;
        mn->has_ext = 1;
        idf = json_object_get(json_object_get(ext, "valueReference"), "identifier");
        npi = dpc_jstr(idf, "value");
        if (!streq(dpc_jstr(idf, "system"), DPC_SYS_NPI) || !npi)
            dpc_issue_at(c->p, c->oo, DPC_ISSUE_REQUIRED, expr, "ext-attributedProvider "
                         "needs valueReference.identifier with system " DPC_SYS_NPI
                         " and the provider's NPI in value");
        else if (!dpc_npi_accept(c->p, npi))
            dpc_issue_at(c->p, c->oo, DPC_ISSUE_VALUE, expr, "\"%s\" is not a valid NPI",
                         npi);
        else if (!mn->npi)
            mn->npi = apr_pstrdup(c->p, npi);
        else if (strcmp(mn->npi, npi))
            dpc_issue_at(c->p, c->oo, DPC_ISSUE_VALUE, expr, "a second, different attributed "
                         "provider (%s, and %s): a member has one", npi, mn->npi);
    }
}

static void member_mbi(rchk *c, const json_t *idf, const char *expr, dpc_member *mb)
{
    char norm[DPC_MBI_LEN + 1];
    const char *v = dpc_jstr(idf, "value");

    if (!dpc_sys_is_mbi(dpc_jstr(idf, "system")))
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_VALUE, expr, "entity.identifier must have system "
                     DPC_SYS_MBI " and the patient's MBI");
    else if (!dpc_mbi_accept(c->p, v, norm))
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_VALUE, expr, "\"%s\" is not a valid MBI "
                     "(11 characters, e.g. 1EG4-TE5-MK73)", v ? v : "");
    else {
        mb->kind = DPC_MEMBER_MBI;
        mb->value = apr_pstrdup(c->p, norm);
    }
}

static void member_entity(rchk *c, const json_t *m, int i, dpc_member *mb)
{
    const char *expr = apr_psprintf(c->p, "Group.member[%d].entity", i);
    const json_t *entity = json_object_get(m, "entity");
    const json_t *ref = json_object_get(entity, "reference");
    const json_t *idf = json_object_get(entity, "identifier");
    const json_t *type = json_object_get(entity, "type");

    if (!json_is_object(entity) || (!ref && !idf)) {
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_REQUIRED, expr, "is required: a reference "
                     "Patient/{id}, or an identifier with system " DPC_SYS_MBI
                     " and the patient's MBI");
        return;
    }
    if (type && !streq(json_string_value(type), "Patient"))
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_VALUE, apr_pstrcat(c->p, expr, ".type", NULL),
                     "must be Patient");
    if (ref && idf) {
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_VALUE, expr, "give a reference or an MBI "
                     "identifier, not both");
        return;
    }
    if (idf) {
        member_mbi(c, idf, apr_pstrcat(c->p, expr, ".identifier", NULL), mb);
        return;
    }
    if (!(mb->value = ref_uuid(c->p, json_string_value(ref), PATIENT_REF))) {
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_VALUE,
                     apr_pstrcat(c->p, expr, ".reference", NULL),
                     "must be Patient/{id} with the id of a registered Patient%s%s%s",
                     json_is_string(ref) ? ", not \"" : "",
                     json_is_string(ref) ? json_string_value(ref) : "",
                     json_is_string(ref) ? "\"" : "");
        return;
    }
    mb->kind = DPC_MEMBER_REF;
}

/* Remember a member's patient; report it if an earlier member named it. */
static void check_unique_member(rchk *c, apr_hash_t *seen, const dpc_member *mb)
{
    const char *key = apr_pstrcat(c->p, mb->kind == DPC_MEMBER_REF ? "R" : "M", mb->value,
                                  NULL);
    const dpc_member *first = apr_hash_get(seen, key, APR_HASH_KEY_STRING);

    if (first)
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_DUPLICATE,
                     apr_psprintf(c->p, "Group.member[%d].entity", mb->index),
                     "the same patient as Group.member[%d] (%s %s): list each patient once",
                     first->index, mb->kind == DPC_MEMBER_REF ? "Patient" : "MBI", mb->value);
    else
        apr_hash_set(seen, key, APR_HASH_KEY_STRING, mb);
}

/* Each member's provider on its own: its extension's NPI, else the
 * Group's attributed-to; the Group's NPI is the attributed-to's, else the
 * one every member names (NULL when they differ). */
static void resolve_member_npis(rchk *c, const json_t *members, const member_npi *mn)
{
    size_t i, n = json_array_size(members);
    const char *common = NULL;
    int same = 1;

    for (i = 0; i < n; i++) {
        const char *npi = mn[i].npi ? mn[i].npi : c->npi;

        if (!npi && !mn[i].has_ext && !mn[i].reported && !c->npi_optional)
            dpc_issue_at(c->p, c->oo, DPC_ISSUE_REQUIRED,
                         apr_psprintf(c->p, "Group.member[%d]", (int)i), "names no "
                         "provider: give it an ext-attributedProvider with the NPI of its "
                         "attributed practitioner (or the Group an attributed-to "
                         "characteristic)");
        c->r->members[i].npi = npi;
        if (npi && common && strcmp(npi, common))
            same = 0;
        common = common ? common : npi;
    }
    c->r->npi = c->npi ? c->npi : same ? common : NULL;
}

/* The roster's NPI: the characteristic's, else the first member's
 * extension; then every member's extension must agree with it. */
static void resolve_npi(rchk *c, const json_t *members, const member_npi *mn)
{
    const char *src = c->npi_src;
    size_t i, n = json_array_size(members);

    if (c->per_member) {
        resolve_member_npis(c, members, mn);
        return;
    }
    for (i = 0; !c->npi && i < n; i++) {
        if (mn[i].npi) {
            c->npi = mn[i].npi;
            src = apr_psprintf(c->p, "Group.member[%d]", (int)i);
        }
    }
    if (!c->npi) {
        int any_ext = 0;

        for (i = 0; i < n; i++)
            any_ext |= mn[i].has_ext;
        if (!c->has_char && !any_ext && !c->npi_optional)
            dpc_issue_at(c->p, c->oo, DPC_ISSUE_REQUIRED, "Group.characteristic",
                         "the Group must name the provider: a characteristic coded "
                         "attributed-to with the NPI, or an ext-attributedProvider with "
                         "the NPI on every member");
        return;
    }
    for (i = 0; i < n; i++) {
        const char *expr = apr_psprintf(c->p, "Group.member[%d]", (int)i);

        if (mn[i].npi && strcmp(mn[i].npi, c->npi))
            dpc_issue_at(c->p, c->oo, DPC_ISSUE_VALUE, expr, "attributed provider %s differs "
                         "from the roster's NPI %s (%s): a roster is attributed to one "
                         "provider", mn[i].npi, c->npi, src);
        else if (!mn[i].has_ext && !mn[i].reported && !c->has_char)
            dpc_issue_at(c->p, c->oo, DPC_ISSUE_REQUIRED, expr, "has no "
                         "ext-attributedProvider, and the Group has no attributed-to "
                         "characteristic: every member must name the provider");
    }
    c->r->npi = c->npi;
    for (i = 0; i < n; i++)
        c->r->members[i].npi = c->npi;
}

static void check_members(rchk *c, const json_t *g, const dpc_roster_rules *rules)
{
    const json_t *members = json_object_get(g, "member"), *m;
    apr_hash_t *seen = apr_hash_make(c->p);
    size_t i, n = json_array_size(members);
    member_npi *mn;

    if (members && !json_is_array(members)) {
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_STRUCTURE, "Group.member", "must be an array");
        return;
    }
    if (!n && !rules->allow_empty)
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_REQUIRED, "Group.member",
                     "at least one member is required");
    if (n > (size_t)(rules->max_members > 0 ? rules->max_members : 0)) {
        dpc_issue_at(c->p, c->oo, DPC_ISSUE_TOO_COSTLY, "Group.member", "at most %d "
                     "members may be sent at once; this Group has %d", rules->max_members,
                     (int)n);
        return;
    }
    c->r->members = apr_pcalloc(c->p, (n ? n : 1) * sizeof(dpc_member));
    mn = apr_pcalloc(c->p, (n ? n : 1) * sizeof(*mn));
    json_array_foreach(members, i, m) {
        dpc_member *mb = &c->r->members[i];

        mb->index = (int)i;
        if (!json_is_object(m)) {
            dpc_issue_at(c->p, c->oo, DPC_ISSUE_STRUCTURE,
                         apr_psprintf(c->p, "Group.member[%d]", (int)i), "must be an object");
            mn[i].reported = 1;
            continue;
        }
        member_entity(c, m, (int)i, mb);
        member_ext_npi(c, m, (int)i, &mn[i]);
        if (mb->value)
            check_unique_member(c, seen, mb);
    }
    c->r->n = (int)n;
    resolve_npi(c, members, mn);
}

int dpc_roster_check(apr_pool_t *p, const json_t *body, const dpc_roster_rules *rules,
                     json_t *oo, dpc_roster **out)
{
    rchk c = { p, oo, apr_pcalloc(p, sizeof(dpc_roster)), NULL, NULL, 0,
               rules->npi_optional, rules->per_member_provider };
    size_t before = dpc_issue_count(oo);
    const json_t *g;
    const char *rt;
    int i;

    if (!(g = dpc_res_unwrap(p, body, "Group", oo)))
        return -1;
    if (!streq(rt = dpc_jstr(g, "resourceType"), "Group")) {
        dpc_issue_at(p, oo, rt ? DPC_ISSUE_VALUE : DPC_ISSUE_REQUIRED, "Group.resourceType",
                     "must be \"Group\"%s%s%s", rt ? ", not \"" : "", rt ? rt : "",
                     rt ? "\"" : "");
        return -1;
    }
    check_group_frame(&c, g);
    check_characteristics(&c, g);
    check_members(&c, g, rules);
    if (dpc_issue_count(oo) != before)
        return -1;
    for (i = 0; i < c.r->n; i++) {
        if (c.r->members[i].kind == DPC_MEMBER_REF)
            c.r->n_ref++;
        else
            c.r->n_mbi++;
    }
    *out = c.r;
    return 0;
}

/* ---- roster output ------------------------------------------------------------ */

static json_t *npi_identifier(const char *npi)
{
    return json_pack("{s:s, s:s}", "system", DPC_SYS_NPI, "value", npi);
}

/* The characteristic both versions return, as the v1 guide shows it, with
 * exclude (1..1 in FHIR, left out of the guide's example). */
static json_t *attributed_to(const char *npi)
{
    return json_pack("[{s:{s:[{s:s}]}, s:{s:[{s:s, s:s}]}, s:b}]",
                     "code", "coding", "code", DPC_CHARACTERISTIC_ATTRIBUTED_TO,
                     "valueCodeableConcept", "coding", "system", DPC_SYS_NPI, "code", npi,
                     "exclude", 0);
}

static json_t *period(apr_pool_t *p, const dpc_member_row *row)
{
    json_t *o = json_object();

    if (row->period_start)
        json_object_set_new(o, "start",
                            json_string(dpc_instant_format(p, row->period_start)));
    if (row->period_end)
        json_object_set_new(o, "end", json_string(dpc_instant_format(p, row->period_end)));
    return o;
}

static json_t *entity_by_mbi(const char *mbi)
{
    return json_pack("{s:{s:s, s:s}, s:s}", "identifier", "system", DPC_SYS_MBI,
                     "value", mbi, "type", "Patient");
}

static json_t *entity_by_ref(apr_pool_t *p, const char *id)
{
    return json_pack("{s:s}", "reference", apr_pstrcat(p, PATIENT_REF, id, NULL));
}

static void member_tail(apr_pool_t *p, json_t *m, const dpc_member_row *row)
{
    json_t *per = period(p, row);

    if (json_object_size(per))
        json_object_set_new(m, "period", per);
    else
        json_decref(per);
    json_object_set_new(m, "inactive", json_boolean(row->inactive));
}

static json_t *member_r4(apr_pool_t *p, const dpc_group_view *g, const dpc_member_row *row)
{
    json_t *m = json_object();

    json_object_set_new(m, "entity", row->mbi ? entity_by_mbi(row->mbi)
                        : entity_by_ref(p, row->patient_id ? row->patient_id : ""));
    if (row->npi || g->npi)
        json_object_set_new(m, "extension", json_pack("[{s:s, s:{s:o, s:s}}]",
                            "url", DPC_EXT_ATTRIBUTED_PROVIDER, "valueReference",
                            "identifier", npi_identifier(row->npi ? row->npi : g->npi),
                            "type", "Practitioner"));
    member_tail(p, m, row);
    return m;
}

static json_t *member_stu3(apr_pool_t *p, const dpc_member_row *row)
{
    json_t *m = json_object();

    json_object_set_new(m, "entity", row->patient_id ? entity_by_ref(p, row->patient_id)
                        : entity_by_mbi(row->mbi ? row->mbi : ""));
    member_tail(p, m, row);
    return m;
}

/* What both versions share, in the order FHIR servers write it; r4 adds
 * managingEntity, which STU3's Group lacks. */
static json_t *group_common(apr_pool_t *p, const dpc_group_view *g, int r4)
{
    json_t *o = json_pack("{s:s}", "resourceType", "Group");
    json_t *meta = json_pack("{s:s}", "lastUpdated", dpc_instant_format(p, g->last_updated));
    json_t *members = json_array();
    int i;

    if (g->id)
        json_object_set_new(o, "id", json_string(g->id));
    if (g->version_id)
        json_object_set_new(meta, "versionId", json_string(g->version_id));
    json_object_set_new(o, "meta", meta);
    json_object_set_new(o, "type", json_string("person"));
    json_object_set_new(o, "actual", json_true());
    if (g->name)
        json_object_set_new(o, "name", json_string(g->name));
    if (r4 && g->org_id)
        json_object_set_new(o, "managingEntity", json_pack("{s:s}", "reference",
                            apr_pstrcat(p, ORGANIZATION_REF, g->org_id, NULL)));
    if (g->npi)
        json_object_set_new(o, "characteristic", attributed_to(g->npi));
    for (i = 0; i < g->n; i++)
        json_array_append_new(members, r4 ? member_r4(p, g, &g->members[i])
                              : member_stu3(p, &g->members[i]));
    json_object_set_new(o, "member", members);
    return o;
}

json_t *dpc_group_r4(apr_pool_t *p, const dpc_group_view *g)
{
    return group_common(p, g, 1);
}

json_t *dpc_group_stu3(apr_pool_t *p, const dpc_group_view *g)
{
    return group_common(p, g, 0);
}
