/* mod_dpc_groups.c: attribution rosters (FHIR Group).  On DPC v1 one roster
 * per practitioner per organization; on DPC v2 (groups_per_request) a new
 * Group for every export request, each member naming its own practitioner.
 * Members carry a period (DPCAttributionDays
 * from their last attestation) and read as inactive once it has passed or
 * they were removed.  Every write is one call of dpc_roster_write() in the
 * database: one transaction, checked whole before anything is written. */
#include "mod_dpc_groups.h"

#include <http_protocol.h>
#include <apr_strings.h>

#include "dpc_fhir.h"
#include "dpc_log.h"
#include "dpc_res.h"
#include "dpc_roster.h"
#include "dpc_token.h"
#include "mod_dpc_respond.h"

/* A roster body: room for DPCRosterCap members of a few hundred bytes */
#define BODY_LIMIT(c) ((apr_size_t)dpc_conf_roster_cap(c) * 1024 + 64 * 1024)
#define USEC DPC_SQL_USEC

const dpc_statement dpc_group_statements[] = {
    { "dpc_group_write",
      DPC_SQL_WHO "SELECT dpc_roster_write(%s::uuid, %s::uuid, %s, %s::boolean, %s, %s,"
      " %s::jsonb, %s::uuid, %s, to_timestamp(%s::bigint / 1e6), %s, %s::uuid, %s::int,"
      " %s::int)::text FROM who" },
    { "dpc_group_get",
      "SELECT r.id, r.name, p.npi, " USEC("r.updated_at") ", r.version FROM roster r"
      " LEFT JOIN practitioner p ON p.id = r.practitioner_id"
      " WHERE r.org_id = %s::uuid AND r.id = %s::uuid" },
    { "dpc_group_members",
      "SELECT a.patient_id, p.mbi, " USEC("a.period_start") ", " USEC("a.period_end")
      ", (a.removed_at IS NOT NULL OR a.period_end <= now())::int, pr.npi"
      " FROM attribution a JOIN patient p ON p.id = a.patient_id"
      " JOIN practitioner pr ON pr.id = a.practitioner_id"
      " WHERE a.roster_id = %s::uuid ORDER BY p.mbi" },
    { "dpc_group_search",
      "SELECT r.id FROM roster r WHERE r.org_id = %s::uuid AND (%s = '' OR EXISTS"
      " (SELECT 1 FROM practitioner p WHERE p.org_id = r.org_id AND p.npi = %s"
      "  AND (p.id = r.practitioner_id OR EXISTS (SELECT 1 FROM attribution a"
      "  WHERE a.roster_id = r.id AND a.practitioner_id = p.id))))"
      " ORDER BY r.created_at, r.id" },
    { "dpc_group_delete",
      DPC_SQL_WHO "DELETE FROM roster USING who WHERE org_id = %s::uuid AND id = %s::uuid" },
    { NULL, NULL }
};
/* The columns of dpc_group_get and of dpc_group_members, in order. */
enum group_col { GROUP_ID, GROUP_NAME, GROUP_NPI, GROUP_UPDATED, GROUP_VERSION };
enum member_col { MEMBER_PATIENT, MEMBER_MBI, MEMBER_START, MEMBER_END, MEMBER_INACTIVE,
                  MEMBER_NPI };

static int is_r4(request_rec *r)
{
    return dpc_conf_dialect(dpc_dir(r))->fhir_version == DPC_FHIR_R4;
}

static int group_not_found(request_rec *r)
{
    return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND, "no such Group");
}

/* The roster as the dialect shows it, or NULL (not found, or database
 * trouble: *status tells which and was sent).  Not found is 404, or, with
 * `gone` (a roster this request has just written), 409 saying so. */
static json_t *load_group(request_rec *r, ap_dbd_t *db, const dpc_principal *who,
                          const char *id, const char *gone, int *status)
{
    const char *args[2];
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    dpc_group_view g;
    dpc_member_row *m;
    int i;

    args[0] = who->org_id;
    args[1] = id;
    if (dpc_db_select(r, db, "dpc_group_get", &res, 2, args)) {
        *status = dpc_send_db_error(r);
        return NULL;
    }
    if (!(row = dpc_db_row(r, db, res, 0))) {
        *status = gone ? dpc_send_oo(r, HTTP_CONFLICT, DPC_ISSUE_DELETED, gone)
                       : group_not_found(r);
        return NULL;
    }
    memset(&g, 0, sizeof(g));
    g.id = dpc_db_col(r, db, row, GROUP_ID);
    g.name = dpc_db_col(r, db, row, GROUP_NAME);
    g.npi = dpc_db_col(r, db, row, GROUP_NPI);
    g.last_updated = dpc_db_time(r, db, row, GROUP_UPDATED);
    g.version_id = dpc_db_col(r, db, row, GROUP_VERSION);
    g.org_id = who->org_id;
    if (dpc_db_select(r, db, "dpc_group_members", &res, 1, &g.id)) {
        *status = dpc_send_db_error(r);
        return NULL;
    }
    g.n = dpc_db_nrows(db, res);
    g.members = m = apr_pcalloc(r->pool, sizeof(*m) * (g.n ? g.n : 1));
    for (i = 0; i < g.n; i++) {
        row = dpc_db_row(r, db, res, i);
        m[i].patient_id = dpc_db_col(r, db, row, MEMBER_PATIENT);
        m[i].mbi = dpc_db_col(r, db, row, MEMBER_MBI);
        m[i].period_start = dpc_db_time(r, db, row, MEMBER_START);
        m[i].period_end = dpc_db_time(r, db, row, MEMBER_END);
        m[i].inactive = atoi(dpc_db_col(r, db, row, MEMBER_INACTIVE));
        m[i].npi = dpc_db_col(r, db, row, MEMBER_NPI);
    }
    return is_r4(r) ? dpc_group_r4(r->pool, &g) : dpc_group_stu3(r->pool, &g);
}

static int op_read(request_rec *r, const dpc_principal *who, const char *id)
{
    ap_dbd_t *db;
    json_t *g;
    int status;

    if (!dpc_uuid_is_valid(id))
        return group_not_found(r);
    if (!(db = dpc_db(r)))
        return dpc_send_db_error(r);
    if (!(g = load_group(r, db, who, id, NULL, &status)))
        return status;
    return dpc_send_json(r, HTTP_OK, DPC_FHIR_JSON, g);
}

/* The NPI of a search: characteristic-value=[|]attributed-to$[system|]NPI,
 * or characteristic=attributed-to&characteristic-code=NPI (the v1 guide's
 * two spellings); "" for every roster, NULL after a 400. */
static const char *search_npi(request_rec *r, int *status)
{
    const char *cv = dpc_query_param(r, "characteristic-value");
    const char *c = dpc_query_param(r, "characteristic");
    const char *npi = dpc_query_param(r, "characteristic-code"), *dollar, *bar;
    const char *bad = NULL;

    if (cv) {
        if (*cv == '|')
            cv++;
        dollar = strchr(cv, '$');
        if (!dollar || dollar - cv != 13 || strncmp(cv, "attributed-to", 13))
            bad = "characteristic-value must be attributed-to${NPI}";
        else
            npi = (bar = strchr(dollar + 1, '|')) != NULL ? bar + 1 : dollar + 1;
    }
    else if (c && strcmp(c, "attributed-to"))
        bad = "only the attributed-to characteristic can be searched";
    else if (c && !npi)
        bad = "characteristic=attributed-to needs characteristic-code={NPI}";
    else if (!npi)
        return "";                      /* no filter: every roster */
    if (!bad && !*npi)
        bad = "the attributed-to search needs an NPI";
    if (bad) {
        *status = dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_VALUE, bad);
        return NULL;
    }
    return npi;
}

static int op_search(request_rec *r, const dpc_principal *who)
{
    const char *args[3], *npi;
    apr_dbd_results_t *res;
    ap_dbd_t *db;
    json_t *entries;
    int status, i, n;

    if (!(npi = search_npi(r, &status)))
        return status;
    if (!(db = dpc_db(r)))
        return dpc_send_db_error(r);
    args[0] = who->org_id;
    args[1] = npi;
    args[2] = npi;
    if (dpc_db_select(r, db, "dpc_group_search", &res, 3, args))
        return dpc_send_db_error(r);
    n = dpc_db_nrows(db, res);
    entries = dpc_json_pool(r->pool, json_array());
    for (i = 0; i < n; i++) {
        const char *id = dpc_db_col(r, db, dpc_db_row(r, db, res, i), 0);
        json_t *g = load_group(r, db, who, id, NULL, &status);

        if (!g)
            return status;
        json_array_append_new(entries, json_pack("{s:s, s:o}", "fullUrl",
                              apr_pstrcat(r->pool, dpc_base_url(r), "/Group/", id, NULL),
                              "resource", g));
    }
    return dpc_send_json(r, HTTP_OK, DPC_FHIR_JSON,
                         json_pack("{s:s, s:s, s:i, s:O}", "resourceType", "Bundle",
                                   "type", "searchset", "total", n, "entry", entries));
}

static int op_delete(request_rec *r, const dpc_principal *who, const char *id)
{
    const char *args[4];
    ap_dbd_t *db;
    int n, nargs;

    if (!dpc_uuid_is_valid(id))
        return group_not_found(r);
    nargs = dpc_db_who(r, who->client_token_id, args);
    args[nargs++] = who->org_id;
    args[nargs++] = id;
    if (!(db = dpc_db(r)) || dpc_db_query(r, db, "dpc_group_delete", &n, nargs, args))
        return dpc_send_db_error(r);
    if (!n)
        return group_not_found(r);
    return dpc_send_oo(r, HTTP_OK, DPC_ISSUE_INFORMATIONAL,
                       apr_psprintf(r->pool, "Group/%s was deleted", id));
}

/* ---- writes ------------------------------------------------------------------ */

typedef struct roster_write {
    const char *action;              /* create, add, replace, remove */
    const char *roster_id;           /* NULL for create */
    dpc_roster *roster;
    dpc_attestation *attest;         /* NULL for remove */
} roster_write;

/* Body and X-Provenance, checked together so the client hears of every
 * problem at once.  OK, or the 400/422 sent. */
static int read_write(request_rec *r, const dpc_principal *who, roster_write *w,
                      int *status)
{
    dpc_srv_conf *c = dpc_srv(r->server);
    const char *body, *prov = apr_table_get(r->headers_in, "X-Provenance");
    apr_size_t len;
    json_t *oo = dpc_json_pool(r->pool, dpc_oo_new()), *v;
    dpc_roster_rules rules;
    dpc_attest_rules ar;
    int rc, bad = 0;

    if (!dpc_json_type_ok(r, status))
        return -1;
    if ((rc = dpc_read_body(r, BODY_LIMIT(c), &body, &len)) != OK) {
        *status = dpc_send_oo(r, rc, rc == HTTP_REQUEST_ENTITY_TOO_LARGE
                              ? DPC_ISSUE_TOO_COSTLY : DPC_ISSUE_STRUCTURE,
                              "the body cannot be read, or is too large for a roster");
        return -1;
    }
    if (dpc_res_load(r->pool, body, len, "body", oo, &v)) {
        *status = dpc_send_json(r, HTTP_BAD_REQUEST, DPC_FHIR_JSON, json_incref(oo));
        return -1;
    }
    rules.max_members = dpc_conf_roster_cap(c);
    rules.allow_empty = !strcmp(w->action, "replace");
    rules.npi_optional = !strcmp(w->action, "remove");
    rules.per_member_provider = dpc_conf_dialect(dpc_dir(r))->groups_per_request;
    bad |= dpc_roster_check(r->pool, v, &rules, oo, &w->roster) != 0;
    if (strcmp(w->action, "remove")) {
        memset(&ar, 0, sizeof(ar));
        ar.org_id = who->org_id;
        ar.now = r->request_time;
        ar.skew = apr_time_from_sec(300);
        ar.require_on_behalf_of = dpc_conf_dialect(dpc_dir(r))->attest_on_behalf_of_required;
        bad |= dpc_attestation_check(r->pool, prov, prov ? strlen(prov) : 0, &ar, oo,
                                     &w->attest) != 0;
    }
    if (bad) {
        *status = dpc_send_json(r, HTTP_UNPROCESSABLE_ENTITY, DPC_FHIR_JSON,
                                json_incref(oo));
        return -1;
    }
    return 0;
}

static const char *members_json(request_rec *r, const dpc_roster *ro)
{
    json_t *a = json_array();
    int i;

    for (i = 0; i < ro->n; i++) {
        json_t *m = json_pack("{s:s}", ro->members[i].kind == DPC_MEMBER_REF ? "ref" : "mbi",
                              ro->members[i].value);

        if (ro->members[i].npi)
            json_object_set_new(m, "npi", json_string(ro->members[i].npi));
        json_array_append_new(a, m);
    }
    return dpc_json_pdump_decref(r->pool, a);
}

/* The write as the client named it, for messages. */
static const char *verb(const roster_write *w)
{
    static const char *const verbs[][2] = {
        { "create", "POST" }, { "add", "$add" }, { "replace", "PUT" }, { "remove", "$remove" }
    };
    size_t i;

    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (!strcmp(w->action, verbs[i][0]))
            return verbs[i][1];
    return w->action;
}

/* "A, B, C" from a JSON array of strings. */
static const char *joined(apr_pool_t *p, json_t *a)
{
    const char *s = "";
    size_t i;

    for (i = 0; i < json_array_size(a); i++)
        s = apr_pstrcat(p, s, i ? ", " : "", json_string_value(json_array_get(a, i)), NULL);
    return s;
}

/* Refusals of a write that raced a DELETE or another writer (see
 * sql/009_roster_locks.sql), or DECLINED when e is none of them. */
static int lost_race(request_rec *r, const char *e, json_t *res, const roster_write *w)
{
    if (!strcmp(e, "gone"))
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_DELETED,
                           apr_psprintf(r->pool, "Group/%s was deleted by another request "
                                        "while this %s was being written: nothing was "
                                        "written", w->roster_id, verb(w)));
    if (!strcmp(e, "deleted"))
        return dpc_send_oo(r, HTTP_CONFLICT, DPC_ISSUE_DELETED,
                           apr_psprintf(r->pool, "deleted by another request while this %s "
                                        "was being written: %s; nothing was written",
                                        verb(w), joined(r->pool,
                                                        json_object_get(res, "deleted"))));
    if (!strcmp(e, "conflict"))
        return dpc_send_oo(r, HTTP_CONFLICT, DPC_ISSUE_CONFLICT,
                           "another request changed this roster, its practitioner or its "
                           "patients at the same time: nothing was written; try again");
    return DECLINED;
}

/* What the database refused, as the client should hear it. */
static int refused(request_rec *r, json_t *res, const roster_write *w)
{
    const char *e = dpc_jstr(res, "error");
    int status;

    if (!strcmp(e, "not_found"))
        return group_not_found(r);
    if ((status = lost_race(r, e, res, w)) != DECLINED)
        return status;
    if (!strcmp(e, "no_practitioner"))
        return dpc_send_oo(r, HTTP_UNPROCESSABLE_ENTITY, DPC_ISSUE_NOT_FOUND,
                           apr_psprintf(r->pool, "no Practitioner of your organization has "
                                        "NPI %s: register it first (POST Practitioner)",
                                        joined(r->pool, json_object_get(res, "npis"))));
    if (!strcmp(e, "attestation_practitioner"))
        return dpc_send_oo(r, HTTP_UNPROCESSABLE_ENTITY, DPC_ISSUE_SECURITY,
                           "X-Provenance: agent.onBehalfOf must be a Practitioner the "
                           "Group's members are attributed to");
    if (!strcmp(e, "npi_mismatch"))
        return dpc_send_oo(r, HTTP_UNPROCESSABLE_ENTITY, DPC_ISSUE_INVALID,
                           "the Group is attributed to another NPI than this roster");
    if (!strcmp(e, "duplicate")) {
        apr_table_setn(r->headers_out, "Location",
                       apr_pstrcat(r->pool, dpc_base_url(r), "/Group/",
                                   dpc_jstr(res, "roster"), NULL));
        return dpc_send_oo(r, HTTP_CONFLICT, DPC_ISSUE_DUPLICATE,
                           apr_psprintf(r->pool, "NPI %s already has a roster: Group/%s; "
                                        "use $add or PUT", w->roster->npi,
                                        dpc_jstr(res, "roster")));
    }
    if (!strcmp(e, "cap_exceeded"))
        return dpc_send_oo(r, HTTP_UNPROCESSABLE_ENTITY, DPC_ISSUE_TOO_COSTLY,
                           apr_psprintf(r->pool, "the roster would have %" APR_INT64_T_FMT
                                        " members; at most %" APR_INT64_T_FMT " are "
                                        "allowed per Group", (apr_int64_t)
                                        json_integer_value(json_object_get(res, "members")),
                                        (apr_int64_t)json_integer_value(
                                        json_object_get(res, "cap"))));
    if (!strcmp(e, "unknown_patients"))
        return dpc_send_oo(r, HTTP_UNPROCESSABLE_ENTITY, DPC_ISSUE_NOT_FOUND,
                           apr_psprintf(r->pool, "not patients of your organization: %s",
                                        dpc_json_pdump(r->pool,
                                                       json_object_get(res, "patients"))));
    return dpc_send_oo(r, HTTP_INTERNAL_SERVER_ERROR, DPC_ISSUE_EXCEPTION, e);
}

static int op_write(request_rec *r, const dpc_principal *who, const char *action,
                    const char *id)
{
    dpc_srv_conf *c = dpc_srv(r->server);
    const char *args[16], *out;
    roster_write w;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    json_t *result, *g;
    int status, n;

    if (id && !dpc_uuid_is_valid(id))
        return group_not_found(r);
    memset(&w, 0, sizeof(w));
    w.action = action;
    w.roster_id = id;
    if (read_write(r, who, &w, &status))
        return status;
    n = dpc_db_who(r, who->client_token_id, args);
    args[n++] = who->org_id;
    args[n++] = id;
    args[n++] = action;
    args[n++] = dpc_conf_dialect(dpc_dir(r))->groups_per_request ? "true" : "false";
    args[n++] = w.roster->npi;
    args[n++] = w.roster->name;
    args[n++] = members_json(r, w.roster);
    args[n++] = w.attest ? w.attest->practitioner_id : NULL;
    args[n++] = w.attest ? w.attest->practitioner_npi : NULL;
    args[n++] = apr_psprintf(r->pool, "%" APR_TIME_T_FMT,
                             w.attest ? w.attest->recorded : r->request_time);
    args[n++] = w.attest ? w.attest->json : NULL;
    args[n++] = who->client_token_id;
    args[n++] = apr_itoa(r->pool, dpc_conf_attribution_days(c));
    args[n++] = apr_itoa(r->pool, dpc_conf_roster_cap(c));
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, "dpc_group_write", &res, n, args)
        || !(row = dpc_db_row(r, db, res, 0)) || !(out = dpc_db_col(r, db, row, 0)))
        return dpc_send_db_error(r);
    result = dpc_json_pool(r->pool, json_loads(out, 0, NULL));
    if (dpc_jstr(result, "error"))
        return refused(r, result, &w);
    id = dpc_jstr(result, "roster");
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, DPCLOGNO(00152)
                  "organization %s: roster %s %s with %d members", who->org_id, id,
                  action, w.roster->n);
    if (!(g = load_group(r, db, who, id, apr_psprintf(r->pool, "Group/%s: the %s was "
                         "written, but another request deleted the Group before it could "
                         "be read back", id, verb(&w)), &status)))
        return status;
    if (!strcmp(action, "create"))
        apr_table_setn(r->headers_out, "Location",
                       apr_pstrcat(r->pool, dpc_base_url(r), "/Group/", id, NULL));
    return dpc_send_json(r, strcmp(action, "create") ? HTTP_OK : HTTP_CREATED,
                         DPC_FHIR_JSON, g);
}

int dpc_op_group_create(request_rec *r, const dpc_call *call)
{
    return op_write(r, call->who, "create", NULL);
}

int dpc_op_group_read(request_rec *r, const dpc_call *call)
{
    return op_read(r, call->who, call->id);
}

int dpc_op_group_search(request_rec *r, const dpc_call *call)
{
    return op_search(r, call->who);
}

int dpc_op_group_replace(request_rec *r, const dpc_call *call)
{
    return op_write(r, call->who, "replace", call->id);
}

int dpc_op_group_delete(request_rec *r, const dpc_call *call)
{
    return op_delete(r, call->who, call->id);
}

int dpc_op_group_add(request_rec *r, const dpc_call *call)
{
    return op_write(r, call->who, "add", call->id);
}

int dpc_op_group_remove(request_rec *r, const dpc_call *call)
{
    return op_write(r, call->who, "remove", call->id);
}
