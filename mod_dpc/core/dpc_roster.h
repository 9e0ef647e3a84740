/* dpc_roster.h: attribution rosters (FHIR Group resources naming the
 * patients a provider treats) and the attestation (a Provenance sent in the
 * X-Provenance header) that must come with every roster addition.
 *
 * Checks follow dpc_res.h's conventions: they report into an
 * OperationOutcome the caller owns, one issue per problem with an
 * `expression` ("Group.member[2].entity", "Provenance.agent[0].who"), and
 * return 0 when they added no issue, -1 otherwise.  Issue codes: structure
 * (not JSON, wrong JSON types), required (missing), value (wrong value),
 * duplicate, too-costly (over a limit) and, for an attestation made by
 * another organization than the caller's, security.
 *
 * Both DPC versions are read by the same code.  v1 (STU3) rosters say the
 * provider in a characteristic and list members by reference to Patient
 * resources registered first; v2 (R4) rosters list members by MBI, each
 * with a Da Vinci ATR ext-attributedProvider carrying the NPI.  A Group may
 * mix the two member styles.
 */
#ifndef DPC_ROSTER_H
#define DPC_ROSTER_H

#include <apr_pools.h>
#include <apr_time.h>
#include <jansson.h>

#include "dpc_res.h"

#define DPC_SYS_ACT_REASON       "http://hl7.org/fhir/v3/ActReason"
#define DPC_SYS_ACT_REASON_R4    "http://terminology.hl7.org/CodeSystem/v3-ActReason"
#define DPC_SYS_ROLE_CLASS       "http://hl7.org/fhir/v3/RoleClass"
#define DPC_SYS_ROLE_CLASS_R4    "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
#define DPC_EXT_ATTRIBUTED_PROVIDER \
    "http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-attributedProvider"
#define DPC_CHARACTERISTIC_ATTRIBUTED_TO "attributed-to"

/* Clock skew allowed between a client's Provenance.recorded and ours. */
#define DPC_ATTESTATION_SKEW apr_time_from_sec(300)

/* ---- attestation (X-Provenance) ---- */

typedef struct dpc_attest_rules {
    const char *org_id;         /* the caller's organization id */
    apr_time_t now;
    apr_interval_time_t skew;   /* recorded may be this far ahead of now */
    /* recorded may be at most this far behind now; 0 for no limit.  DPC
     * only asks that recorded be there (the v1 guide's own example says
     * 1990), so 0 is the faithful choice; a deployment wanting fresh
     * attestations can set a day. */
    apr_interval_time_t max_age;
    /* v1 names the practitioner in agent.onBehalfOf; v2's guide leaves it
     * out (the members' ext-attributedProvider says who), so there it is
     * optional and checked only when present. */
    int require_on_behalf_of;
} dpc_attest_rules;

typedef struct dpc_attestation {
    apr_time_t recorded;
    const char *org_id;             /* == rules->org_id */
    /* Who the organization attests for, from agent.onBehalfOf: the id of
     * "Practitioner/{id}" (a UUID, lower case) and/or the NPI of an
     * identifier with the us-npi system; NULL when not given.  The caller
     * checks them against the roster's provider. */
    const char *practitioner_id;
    const char *practitioner_npi;
    const char *json;               /* compact Provenance, for the audit table */
} dpc_attestation;

/* Check an X-Provenance header value (NULL when the header is missing: one
 * "required" issue).  The Provenance must have recorded (a FHIR instant not
 * beyond now + skew, nor older than max_age when set), a reason coded
 * ActReason#TREAT, and exactly one agent whose role is RoleClass#AGNT, whose
 * who is "Organization/{rules->org_id}" and whose onBehalfOf (required as
 * the rules say) references "Practitioner/{uuid}" or carries an NPI
 * identifier.  Both shapes are read: STU3 (reason as Coding,
 * agent.whoReference, agent.onBehalfOfReference) and R4 (reason as
 * CodeableConcept, agent.who, agent.onBehalfOf); both ActReason and
 * RoleClass system URLs (v3 and terminology.hl7.org) are accepted.
 * Diagnostics start with "X-Provenance: ". */
int dpc_attestation_check(apr_pool_t *p, const char *text, apr_size_t len,
                          const dpc_attest_rules *rules, json_t *oo,
                          dpc_attestation **out);

/* ---- roster bodies (POST, PUT, $add, $remove) ---- */

typedef enum {
    DPC_MEMBER_REF = 1,         /* entity.reference "Patient/{uuid}" */
    DPC_MEMBER_MBI              /* entity.identifier with the patient's MBI */
} dpc_member_kind_e;

typedef struct dpc_member {
    dpc_member_kind_e kind;
    const char *value;          /* REF: the UUID, lower case; MBI: normalized */
    const char *npi;            /* its attributed provider (NULL: none named) */
    int index;                  /* its position in Group.member */
} dpc_member;

typedef struct dpc_roster {
    const char *npi;            /* the provider the patients are attributed to
                                 * (NULL only under rules->npi_optional) */
    const char *name;           /* Group.name, or NULL */
    int n;                      /* members, in body order */
    dpc_member *members;
    int n_ref, n_mbi;           /* how many of each kind */
} dpc_roster;

typedef struct dpc_roster_rules {
    int max_members;            /* more is one too-costly issue */
    int allow_empty;            /* may member be empty or missing (PUT) */
    /* The URL names the roster ($remove): a body naming no provider is
     * fine (dpc_roster.npi stays NULL); one that names it is still
     * checked. */
    int npi_optional;
    /* Members may name different providers (a DPC v2 Group, one per export
     * request): each member's NPI is its ext-attributedProvider's, else
     * the attributed-to characteristic's; dpc_roster.npi is the
     * characteristic's, or the one all members share, else NULL.  Without
     * it, one provider for the whole roster, and every member's npi is
     * it. */
    int per_member_provider;
} dpc_roster_rules;

/* Check a roster body: a Group, or a Parameters (or {"resource": ...})
 * wrapping one.  The Group has type "person", actual true, active not
 * false, and one unambiguous provider NPI: from the characteristics coded
 * "attributed-to" (valueCodeableConcept.coding with system us-npi and the
 * NPI in code, as the v1 guide shows) and from the members'
 * ext-attributedProvider (valueReference.identifier, system us-npi); every
 * NPI given must be valid and the same.  Without the characteristic, every
 * member must carry the extension, unless rules->npi_optional and no
 * member names one.  Each member's entity is either a
 * reference "Patient/{uuid}" or an identifier with an MBI system and a
 * valid MBI (entity.type, if given, "Patient"), not both; a patient listed
 * twice (same UUID, or same MBI after normalizing) is an error.  Member
 * period and inactive (as in our own responses) are ignored.  A reference
 * and an MBI naming the same patient cannot be told apart here: the caller
 * de-duplicates after resolving them. */
int dpc_roster_check(apr_pool_t *p, const json_t *body, const dpc_roster_rules *rules,
                     json_t *oo, dpc_roster **out);

/* ---- roster output ---- */

typedef struct dpc_member_row {
    const char *patient_id;     /* Patient resource id (UUID) */
    const char *mbi;
    const char *npi;            /* its attributed provider; NULL: the Group's */
    apr_time_t period_start;
    apr_time_t period_end;      /* 0: no end given */
    int inactive;
} dpc_member_row;

typedef struct dpc_group_view {
    const char *id;             /* Group id */
    const char *org_id;         /* managing organization */
    const char *npi;            /* the attributed provider, or NULL (a v2
                                 * Group whose members name their own) */
    const char *name;           /* or NULL */
    const char *version_id;     /* or NULL */
    apr_time_t last_updated;
    const dpc_member_row *members;
    int n;
} dpc_group_view;

/* The Group as DPC v2 (R4) returns it: id, meta (lastUpdated, versionId),
 * name, managingEntity Organization/{org}, type person, actual true, the
 * attributed-to characteristic with the NPI, and each member as
 * entity.identifier (us-mbi) + entity.type Patient (entity.reference when
 * the row has no MBI), the ext-attributedProvider with the NPI, period and
 * inactive.  A new reference (json_decref it, or hand it to
 * dpc_send_json). */
json_t *dpc_group_r4(apr_pool_t *p, const dpc_group_view *g);

/* The Group as DPC v1 (STU3) returns it ("Attribution Response"): the same
 * without managingEntity (STU3 has none) and with members as
 * entity.reference "Patient/{id}" (entity.identifier when the row has no
 * id), period and inactive. */
json_t *dpc_group_stu3(apr_pool_t *p, const dpc_group_view *g);

#endif
