/* mod_dpc_people.c: the Practitioner and Patient resources of an
 * organization: create, read, search by identifier, update, delete, $submit
 * (a Bundle of many, all or nothing) and $validate.  Both resource types
 * follow one set of rules; a `kind` names what differs. */
#include "mod_dpc_people.h"

#include <http_protocol.h>
#include <apr_strings.h>

#include "dpc_fhir.h"
#include "dpc_log.h"
#include "dpc_res.h"
#include "dpc_token.h"
#include "mod_dpc_respond.h"

#define ONE_LIMIT (1024 * 1024)               /* one resource */
#define SUBMIT_LIMIT (32 * 1024 * 1024)       /* a $submit Bundle */
#define SUBMIT_MAX 10000
#define SEARCH_DEFAULT 100
#define SEARCH_MAX 1000

#define USEC DPC_SQL_USEC

const dpc_statement dpc_people_statements[] = {
    { "dpc_prac_create",
      "INSERT INTO practitioner (org_id, npi, family, given, resource)"
      " VALUES (%s::uuid, %s, %s, %s, %s) ON CONFLICT (org_id, npi) DO NOTHING"
      " RETURNING id, " USEC("updated_at") },
    { "dpc_pat_create",
      "INSERT INTO patient (org_id, mbi, family, given, birth_date, resource)"
      " VALUES (%s::uuid, %s, %s, %s, %s::date, %s) ON CONFLICT (org_id, mbi) DO NOTHING"
      " RETURNING id, " USEC("updated_at") },
    { "dpc_prac_read",
      "SELECT id, resource, " USEC("updated_at") " FROM practitioner"
      " WHERE org_id = %s::uuid AND id = %s::uuid" },
    { "dpc_pat_read",
      "SELECT id, resource, " USEC("updated_at") " FROM patient"
      " WHERE org_id = %s::uuid AND id = %s::uuid" },
    /* a page of matches, and the total in every row; an empty page is one
     * row with a NULL id, so the total is known even then */
    { "dpc_prac_search",
      "WITH m AS (SELECT id, resource, updated_at, created_at FROM practitioner"
      " WHERE org_id = %s::uuid AND (%s = '' OR npi = %s)),"
      " pg AS (SELECT * FROM m ORDER BY created_at, id LIMIT %s::int OFFSET %s::int)"
      " SELECT pg.id, pg.resource, " USEC("pg.updated_at") ", (SELECT count(*) FROM m)"
      " FROM (SELECT 1) one LEFT JOIN pg ON true ORDER BY pg.created_at, pg.id" },
    { "dpc_pat_search",
      "WITH m AS (SELECT id, resource, updated_at, created_at FROM patient"
      " WHERE org_id = %s::uuid AND (%s = '' OR mbi = %s)),"
      " pg AS (SELECT * FROM m ORDER BY created_at, id LIMIT %s::int OFFSET %s::int)"
      " SELECT pg.id, pg.resource, " USEC("pg.updated_at") ", (SELECT count(*) FROM m)"
      " FROM (SELECT 1) one LEFT JOIN pg ON true ORDER BY pg.created_at, pg.id" },
    /* An update may change the identifier, but not to one another resource
     * of the organization has (then no row is updated).  A practitioner's
     * NPI stays while it has a roster: the roster is attributed to that NPI.
     * A patient whose MBI changes is another beneficiary: its memberships
     * end, and only a new attestation puts it back on a roster. */
    { "dpc_prac_update",
      DPC_SQL_WHO ", a AS (SELECT %s::uuid AS org, %s::uuid AS id, %s AS npi, %s AS family,"
      " %s AS given, %s AS resource FROM who)"
      " UPDATE practitioner p SET npi = a.npi, family = a.family, given = a.given,"
      " resource = a.resource, updated_at = now() FROM a"
      " WHERE p.org_id = a.org AND p.id = a.id AND NOT EXISTS (SELECT 1 FROM practitioner o"
      " WHERE o.org_id = a.org AND o.npi = a.npi AND o.id <> a.id)"
      " AND (p.npi = a.npi OR (NOT EXISTS (SELECT 1 FROM roster r WHERE r.practitioner_id = p.id)"
      " AND NOT EXISTS (SELECT 1 FROM attribution t WHERE t.practitioner_id = p.id)))"
      " RETURNING p.id, " USEC("p.updated_at") },
    { "dpc_pat_update",
      DPC_SQL_WHO ", a AS (SELECT %s::uuid AS org, %s::uuid AS id, %s AS mbi, %s AS family,"
      " %s AS given, %s::date AS birth_date, %s AS resource FROM who),"
      " ok AS (SELECT a.* FROM a JOIN patient p ON p.org_id = a.org AND p.id = a.id"
      "  WHERE NOT EXISTS (SELECT 1 FROM patient o WHERE o.org_id = a.org AND o.mbi = a.mbi"
      "  AND o.id <> a.id)),"
      " ended AS (UPDATE attribution t SET removed_at = now() FROM ok, patient p"
      "  WHERE t.patient_id = ok.id AND p.id = ok.id AND p.mbi <> ok.mbi"
      "  AND t.removed_at IS NULL RETURNING 1)"
      " UPDATE patient p SET mbi = ok.mbi, family = ok.family, given = ok.given,"
      " birth_date = ok.birth_date, resource = ok.resource, updated_at = now() FROM ok"
      " WHERE p.id = ok.id"
      " RETURNING p.id, " USEC("p.updated_at") ", (SELECT count(*) FROM ended)" },
    { "dpc_prac_delete",
      DPC_SQL_WHO "DELETE FROM practitioner USING who WHERE org_id = %s::uuid AND id = %s::uuid" },
    { "dpc_pat_delete",
      DPC_SQL_WHO "DELETE FROM patient USING who WHERE org_id = %s::uuid AND id = %s::uuid" },
    /* $submit: the whole Bundle in one statement, so it is stored whole or
     * not at all; resources already registered (same NPI or MBI) are
     * updated. */
    { "dpc_prac_submit",
      "INSERT INTO practitioner (org_id, npi, family, given, resource)"
      " SELECT %s::uuid, e->>'key', e->>'family', e->>'given', e->>'json'"
      " FROM jsonb_array_elements(%s::jsonb) e"
      " ON CONFLICT (org_id, npi) DO UPDATE SET family = excluded.family,"
      " given = excluded.given, resource = excluded.resource, updated_at = now()"
      " RETURNING id, resource, " USEC("updated_at") },
    { "dpc_pat_submit",
      "INSERT INTO patient (org_id, mbi, family, given, birth_date, resource)"
      " SELECT %s::uuid, e->>'key', e->>'family', e->>'given', (e->>'birth_date')::date,"
      " e->>'json' FROM jsonb_array_elements(%s::jsonb) e"
      " ON CONFLICT (org_id, mbi) DO UPDATE SET family = excluded.family,"
      " given = excluded.given, birth_date = excluded.birth_date,"
      " resource = excluded.resource, updated_at = now()"
      " RETURNING id, resource, " USEC("updated_at") },
    /* $everything: the organization's patient, and whether any of its
     * rosters holds the patient now */
    { "dpc_pat_attributed",
      "SELECT p.mbi, EXISTS (SELECT 1 FROM attribution a JOIN roster r ON r.id = a.roster_id"
      " WHERE a.patient_id = p.id AND r.org_id = p.org_id AND a.removed_at IS NULL"
      " AND a.period_end > now())::int FROM patient p"
      " WHERE p.org_id = %s::uuid AND p.id = %s::uuid" },
    { "dpc_pat_claims",
      "SELECT body FROM claims_resource WHERE mbi = %s AND fhir_version = %s::smallint"
      " AND last_updated > to_timestamp(%s::bigint / 1e6)"
      " ORDER BY CASE resource_type WHEN 'Patient' THEN 0 WHEN 'Coverage' THEN 1"
      " ELSE 2 END, resource_id" },
    { NULL, NULL }
};
/* The statements' columns, in order.  A stored resource (_read, _search,
 * _submit; _search adds the total of matches); a written one (_create,
 * _update; dpc_pat_update adds how many memberships ended); $everything's
 * dpc_pat_attributed. */
enum stored_col { STORED_ID, STORED_RESOURCE, STORED_UPDATED, STORED_TOTAL };
enum written_col { WRITTEN_ID, WRITTEN_UPDATED, WRITTEN_ENDED };
enum attributed_col { ATTRIBUTED_MBI, ATTRIBUTED_NOW };

typedef struct kind {
    const char *type;               /* "Practitioner" */
    dpc_res_type_e rtype;
    const char *key_system;         /* identifier system searched */
    const char *q_create, *q_read, *q_search, *q_update, *q_delete, *q_submit;
} kind;

static const kind practitioner = {
    "Practitioner", DPC_RES_PRACTITIONER, DPC_SYS_NPI, "dpc_prac_create",
    "dpc_prac_read", "dpc_prac_search", "dpc_prac_update", "dpc_prac_delete",
    "dpc_prac_submit"
};

static const kind patient = {
    "Patient", DPC_RES_PATIENT, DPC_SYS_MBI, "dpc_pat_create", "dpc_pat_read",
    "dpc_pat_search", "dpc_pat_update", "dpc_pat_delete", "dpc_pat_submit"
};

/* What both resource types have in common once checked. */
typedef struct person {
    const char *key;                /* NPI or normalized MBI */
    const char *family, *given;
    const char *birth_date;         /* Patient only */
    const char *json;               /* stored form */
} person;

static int is_patient(const kind *k)
{
    return k->rtype == DPC_RES_PATIENT;
}

static int check_one(request_rec *r, const kind *k, const json_t *res, const char *where,
                     json_t *oo, person *out)
{
    if (is_patient(k)) {
        dpc_patient *pt;

        if (dpc_patient_check(r->pool, res, where, r->request_time, oo, &pt))
            return -1;
        out->key = pt->mbi;
        out->family = pt->family;
        out->given = pt->given;
        out->birth_date = pt->birth_date;
        out->json = pt->json;
    }
    else {
        dpc_practitioner *pr;

        if (dpc_practitioner_check(r->pool, res, where, oo, &pr))
            return -1;
        out->key = pr->npi;
        out->family = pr->family;
        out->given = pr->given;
        out->birth_date = NULL;
        out->json = pr->json;
    }
    return 0;
}

/* The columns of a person after the ones a statement starts with, in the
 * order the create and update statements take them; the new count. */
static int person_args(const kind *k, const person *ps, const char **args, int n)
{
    args[n++] = ps->key;
    args[n++] = ps->family;
    args[n++] = ps->given;
    if (is_patient(k))
        args[n++] = ps->birth_date;
    args[n++] = ps->json;
    return n;
}

static int send_outcome(request_rec *r, int status, json_t *oo)
{
    return dpc_send_json(r, status, DPC_FHIR_JSON, oo);
}

/* The request body (at most limit bytes of FHIR JSON) as one JSON object,
 * or NULL with the 4xx sent. */
static json_t *read_json(request_rec *r, apr_size_t limit, int *status)
{
    const char *body;
    apr_size_t len;
    json_t *oo, *v = NULL;
    int rc;

    if (!dpc_json_type_ok(r, status))
        return NULL;
    if ((rc = dpc_read_body(r, limit, &body, &len)) != OK) {
        *status = dpc_send_oo(r, rc, rc == HTTP_REQUEST_ENTITY_TOO_LARGE
                              ? DPC_ISSUE_TOO_COSTLY : DPC_ISSUE_STRUCTURE,
                              apr_psprintf(r->pool, "the body cannot be read, or is over "
                                           "%" APR_SIZE_T_FMT " KB", limit / 1024));
        return NULL;
    }
    oo = dpc_oo_new();
    if (dpc_res_load(r->pool, body, len, "body", oo, &v)) {
        *status = send_outcome(r, HTTP_BAD_REQUEST, oo);
        return NULL;
    }
    json_decref(oo);
    return v;
}

static const char *resource_url(request_rec *r, const kind *k, const char *id)
{
    return apr_pstrcat(r->pool, dpc_base_url(r), "/", k->type, "/", id, NULL);
}

/* A stored resource with its id and meta.  Stored text is always an object
 * (it was checked on the way in); an empty one stands in should it not be. */
static json_t *output(request_rec *r, const char *json, const char *id, apr_time_t updated)
{
    json_t *o = json ? dpc_res_output(r->pool, json, strlen(json), id, updated, NULL) : NULL;

    if (!o) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, DPCLOGNO(00151)
                      "stored resource %s is not a JSON object", id);
        o = json_pack("{s:s}", "id", id);
    }
    return o;
}

/* A Bundle entry of a stored resource row (id, resource, updated usec). */
static json_t *entry(request_rec *r, const kind *k, ap_dbd_t *db, apr_dbd_row_t *row)
{
    const char *id = dpc_db_col(r, db, row, STORED_ID);

    return json_pack("{s:s, s:o}", "fullUrl", resource_url(r, k, id), "resource",
                     output(r, dpc_db_col(r, db, row, STORED_RESOURCE), id,
                            dpc_db_time(r, db, row, STORED_UPDATED)));
}

/* ---- create, read, update, delete ------------------------------------------ */

static int op_create(request_rec *r, const kind *k, const dpc_principal *who)
{
    const char *args[6], *id;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    json_t *body, *oo;
    person ps;
    int n = 0, status;

    if (!(body = read_json(r, ONE_LIMIT, &status)))
        return status;
    oo = dpc_json_pool(r->pool, dpc_oo_new());
    if (check_one(r, k, body, NULL, oo, &ps))
        return send_outcome(r, HTTP_UNPROCESSABLE_ENTITY, json_incref(oo));
    args[n++] = who->org_id;
    n = person_args(k, &ps, args, n);
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, k->q_create, &res, n, args))
        return dpc_send_db_error(r);
    if (!(row = dpc_db_row(r, db, res, 0)))
        return dpc_send_oo(r, HTTP_CONFLICT, DPC_ISSUE_DUPLICATE,
                           apr_psprintf(r->pool, "a %s with %s %s is already registered "
                                        "(search ?identifier=%s to find it)", k->type,
                                        is_patient(k) ? "MBI" : "NPI", ps.key, ps.key));
    id = dpc_db_col(r, db, row, WRITTEN_ID);
    apr_table_setn(r->headers_out, "Location", resource_url(r, k, id));
    return dpc_send_json(r, HTTP_CREATED, DPC_FHIR_JSON,
                         output(r, ps.json, id, dpc_db_time(r, db, row, WRITTEN_UPDATED)));
}

static int not_found(request_rec *r, const kind *k)
{
    return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND,
                       apr_psprintf(r->pool, "no such %s", k->type));
}

static int op_read(request_rec *r, const kind *k, const dpc_principal *who, const char *id)
{
    const char *args[2];
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;

    if (!dpc_uuid_is_valid(id))
        return not_found(r, k);
    args[0] = who->org_id;
    args[1] = id;
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, k->q_read, &res, 2, args))
        return dpc_send_db_error(r);
    if (!(row = dpc_db_row(r, db, res, 0)))
        return not_found(r, k);
    return dpc_send_json(r, HTTP_OK, DPC_FHIR_JSON,
                         output(r, dpc_db_col(r, db, row, STORED_RESOURCE),
                                dpc_db_col(r, db, row, STORED_ID),
                                dpc_db_time(r, db, row, STORED_UPDATED)));
}

static int op_update(request_rec *r, const kind *k, const dpc_principal *who,
                     const char *id)
{
    const char *args[9], *given_id;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    json_t *body, *oo;
    person ps;
    int n = 0, status;

    if (!dpc_uuid_is_valid(id))
        return not_found(r, k);
    if (!(body = read_json(r, ONE_LIMIT, &status)))
        return status;
    /* FHIR update: the body's id, when given, must be the URL's */
    given_id = dpc_jstr(body, "id");
    if (given_id && strcasecmp(given_id, id))
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_INVALID,
                           apr_psprintf(r->pool, "%s.id (%s) is not the id in the URL",
                                        k->type, given_id));
    oo = dpc_json_pool(r->pool, dpc_oo_new());
    if (check_one(r, k, body, NULL, oo, &ps))
        return send_outcome(r, HTTP_UNPROCESSABLE_ENTITY, json_incref(oo));
    n = dpc_db_who(r, who->client_token_id, args);
    args[n++] = who->org_id;
    args[n++] = id;
    n = person_args(k, &ps, args, n);
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, k->q_update, &res, n, args))
        return dpc_send_db_error(r);
    if ((row = dpc_db_row(r, db, res, 0)) != NULL)
        return dpc_send_json(r, HTTP_OK, DPC_FHIR_JSON,
                             output(r, ps.json, id,
                                    dpc_db_time(r, db, row, WRITTEN_UPDATED)));
    /* Nothing updated: either no such resource, or the new identifier is
     * another resource's. */
    args[0] = who->org_id;
    args[1] = id;
    if (dpc_db_select(r, db, k->q_read, &res, 2, args))
        return dpc_send_db_error(r);
    if (!dpc_db_row(r, db, res, 0))
        return not_found(r, k);
    return dpc_send_oo(r, HTTP_CONFLICT, DPC_ISSUE_CONFLICT,
                       is_patient(k) ? apr_psprintf(r->pool, "another Patient of your "
                                                    "organization has MBI %s", ps.key)
                       : apr_psprintf(r->pool, "the NPI cannot become %s: another "
                                      "Practitioner has it, or this one has a roster "
                                      "attributed to its NPI", ps.key));
}

static int op_delete(request_rec *r, const kind *k, const dpc_principal *who,
                     const char *id)
{
    const char *args[4];
    ap_dbd_t *db;
    int n, nargs;

    if (!dpc_uuid_is_valid(id))
        return not_found(r, k);
    nargs = dpc_db_who(r, who->client_token_id, args);
    args[nargs++] = who->org_id;
    args[nargs++] = id;
    if (!(db = dpc_db(r)) || dpc_db_query(r, db, k->q_delete, &n, nargs, args))
        return dpc_send_db_error(r);
    if (!n)
        return not_found(r, k);
    return dpc_send_oo(r, HTTP_OK, DPC_ISSUE_INFORMATIONAL,
                       apr_psprintf(r->pool, "%s/%s was deleted", k->type, id));
}

/* ---- search --------------------------------------------------------------------- */

/* ?identifier=VALUE or SYSTEM|VALUE: the key to match ("" for all), or NULL
 * with the 400 sent. */
static const char *search_key(request_rec *r, const kind *k, int *status)
{
    const char *v = dpc_query_param(r, "identifier"), *bar;
    char mbi[DPC_MBI_LEN + 1];

    if (!v)
        return "";
    if (!*v || !strcmp(v, "|")) {
        *status = dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_VALUE,
                              "identifier needs a value: ?identifier=[system|]value");
        return NULL;
    }
    if ((bar = strchr(v, '|')) != NULL) {
        const char *system = apr_pstrmemdup(r->pool, v, bar - v);

        if (*system && strcmp(system, k->key_system)
            && !(is_patient(k) && dpc_sys_is_mbi(system))) {
            *status = dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_VALUE,
                                  apr_psprintf(r->pool, "identifier system must be %s",
                                               k->key_system));
            return NULL;
        }
        v = bar + 1;
    }
    if (is_patient(k))
        return dpc_mbi_accept(r->pool, v, mbi) ? apr_pstrdup(r->pool, mbi) : "-";
    return v;
}

static int page_param(request_rec *r, const char *name, int def, int max, int *out)
{
    const char *v = dpc_query_param(r, name);
    char *end;
    long n;

    *out = def;
    if (!v)
        return 0;
    n = strtol(v, &end, 10);
    if (end == v || *end || n < 0 || n > max)
        return -1;
    *out = (int)n;
    return 0;
}

static int op_search(request_rec *r, const kind *k, const dpc_principal *who)
{
    const char *args[5], *key;
    apr_dbd_results_t *res;
    ap_dbd_t *db;
    json_t *entries, *bundle;
    int status = OK, count, offset, total = 0, i, n;

    if (!(key = search_key(r, k, &status)))
        return status;
    if (page_param(r, "_count", SEARCH_DEFAULT, SEARCH_MAX, &count)
        || page_param(r, "_offset", 0, 100000000, &offset))
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_VALUE, apr_psprintf(r->pool,
                           "_count must be 0 to %d and _offset a whole number", SEARCH_MAX));
    args[0] = who->org_id;
    args[1] = key;
    args[2] = key;
    args[3] = apr_itoa(r->pool, count);
    args[4] = apr_itoa(r->pool, offset);
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, k->q_search, &res, 5, args))
        return dpc_send_db_error(r);
    n = dpc_db_nrows(db, res);
    entries = json_array();
    for (i = 0; i < n; i++) {
        apr_dbd_row_t *row = dpc_db_row(r, db, res, i);
        const char *id = dpc_db_col(r, db, row, STORED_ID);
        json_t *e;

        total = atoi(dpc_db_col(r, db, row, STORED_TOTAL));
        if (!id) {
            n = 0;              /* the empty page */
            break;
        }
        e = entry(r, k, db, row);
        json_object_set_new(e, "search", json_pack("{s:s}", "mode", "match"));
        json_array_append_new(entries, e);
    }
    bundle = json_pack("{s:s, s:s, s:i, s:o}", "resourceType", "Bundle", "type",
                       "searchset", "total", total, "entry", entries);
    if (n && offset + n < total) {
        const char *next = apr_psprintf(r->pool, "%s/%s?%s%s_count=%d&_offset=%d",
                                        dpc_base_url(r), k->type,
                                        *key ? "identifier=" : "", *key
                                        ? apr_pstrcat(r->pool, key, "&", NULL) : "",
                                        count, offset + n);

        json_object_set_new(bundle, "link", json_pack("[{s:s, s:s}]", "relation", "next",
                                                      "url", next));
    }
    return dpc_send_json(r, HTTP_OK, DPC_FHIR_JSON, bundle);
}

/* ---- $submit and $validate ------------------------------------------------------ */

static json_t *submit_rows(const kind *k, const dpc_submit *sub)
{
    json_t *rows = json_array();
    int i;

    for (i = 0; i < sub->n; i++) {
        json_t *e;

        if (is_patient(k)) {
            const dpc_patient *pt = sub->patients[i];

            e = json_pack("{s:s, s:s, s:s, s:s, s:s}", "key", pt->mbi, "family",
                          pt->family, "given", pt->given, "birth_date", pt->birth_date,
                          "json", pt->json);
        }
        else {
            const dpc_practitioner *pr = sub->practitioners[i];

            e = json_pack("{s:s, s:s, s:s, s:s}", "key", pr->npi, "family", pr->family,
                          "given", pr->given, "json", pr->json);
        }
        json_array_append_new(rows, e);
    }
    return rows;
}

static int op_submit(request_rec *r, const kind *k, const dpc_principal *who)
{
    const char *args[2];
    apr_dbd_results_t *res;
    ap_dbd_t *db;
    json_t *body, *oo, *entries;
    dpc_submit *sub;
    int status, i, n;

    if (!(body = read_json(r, SUBMIT_LIMIT, &status)))
        return status;
    oo = dpc_json_pool(r->pool, dpc_oo_new());
    if (dpc_submit_check(r->pool, body, k->rtype, SUBMIT_MAX, r->request_time, oo, &sub))
        return send_outcome(r, HTTP_UNPROCESSABLE_ENTITY, json_incref(oo));
    args[0] = who->org_id;
    args[1] = dpc_json_pdump_decref(r->pool, submit_rows(k, sub));
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, k->q_submit, &res, 2, args))
        return dpc_send_db_error(r);
    n = dpc_db_nrows(db, res);
    entries = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(entries, entry(r, k, db, dpc_db_row(r, db, res, i)));
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, DPCLOGNO(00150)
                  "organization %s submitted %d %s resources", who->org_id, n, k->type);
    return dpc_send_json(r, HTTP_OK, DPC_FHIR_JSON,
                         json_pack("{s:s, s:s, s:i, s:o}", "resourceType", "Bundle",
                                   "type", "collection", "total", n, "entry", entries));
}

/* A warning when the identifier was accepted only because this server is a
 * sandbox (DPCSyntheticIdentifiers On): production would refuse it. */
static void add_synthetic_warning(request_rec *r, const kind *k, const char *key, json_t *oo)
{
    if (is_patient(k) ? dpc_mbi_valid(key) : dpc_npi_valid(key))
        return;
    dpc_oo_add(oo, "warning", DPC_ISSUE_VALUE,
               apr_psprintf(r->pool, "%s %s is accepted here because this server takes "
                            "synthetic identifiers (DPCSyntheticIdentifiers On, a sandbox); "
                            "production refuses it", is_patient(k) ? "the synthetic MBI"
                            : "the NPI without a valid check digit", key),
               is_patient(k) ? "Patient.identifier" : "Practitioner.identifier");
}

/* FHIR $validate: the resource, bare or as the "resource" parameter of a
 * Parameters; 200 with the OperationOutcome whatever it finds. */
static int op_validate(request_rec *r, const kind *k)
{
    const json_t *res;
    json_t *body, *oo;
    person ps;
    int status;

    if (!(body = read_json(r, ONE_LIMIT, &status)))
        return status;
    oo = dpc_json_pool(r->pool, dpc_oo_new());
    if (!(res = dpc_res_unwrap(r->pool, body, k->type, oo))
        || check_one(r, k, res, NULL, oo, &ps))
        return send_outcome(r, HTTP_OK, json_incref(oo));
    dpc_oo_add(oo, "information", DPC_ISSUE_INFORMATIONAL,
               apr_psprintf(r->pool, "the %s is valid", k->type), NULL);
    add_synthetic_warning(r, k, ps.key, oo);
    return send_outcome(r, HTTP_OK, json_incref(oo));
}

/* ---- Patient/{id}/$everything ------------------------------------------------------ */

/* The patient's claims data (Patient, Coverage, ExplanationOfBenefit from
 * the claims store, in the dialect's FHIR version), while the patient is on
 * one of the organization's rosters.  The stored bodies are spliced into the
 * Bundle as they are: nothing is parsed or re-serialized. */
int dpc_op_everything(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    const char *id = call->id;
    const char *args[3], *since = dpc_query_param(r, "_since"), *why, *mbi;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_time_t t = 0;
    ap_dbd_t *db;
    int i, n;

    if (!dpc_uuid_is_valid(id))
        return not_found(r, &patient);
    if (since && dpc_instant_parse(since, &t, &why))
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_VALUE,
                           apr_pstrcat(r->pool, "_since: ", why, NULL));
    if (since && t > r->request_time)
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_VALUE,
                           "_since is in the future");
    args[0] = who->org_id;
    args[1] = id;
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, "dpc_pat_attributed", &res, 2, args))
        return dpc_send_db_error(r);
    if (!(row = dpc_db_row(r, db, res, 0)))
        return not_found(r, &patient);
    mbi = dpc_db_col(r, db, row, ATTRIBUTED_MBI);
    if (strcmp(dpc_db_col(r, db, row, ATTRIBUTED_NOW), "1"))
        return dpc_send_oo(r, HTTP_FORBIDDEN, DPC_ISSUE_FORBIDDEN,
                           "the patient is not on an active roster of your organization: "
                           "attest for treatment with Group/$add first");
    args[0] = mbi;
    args[1] = apr_itoa(r->pool, dpc_conf_dialect(dpc_dir(r))->fhir_version);
    args[2] = apr_psprintf(r->pool, "%" APR_TIME_T_FMT, t);
    if (dpc_db_select(r, db, "dpc_pat_claims", &res, 3, args))
        return dpc_send_db_error(r);
    n = dpc_db_nrows(db, res);
    r->status = HTTP_OK;
    ap_set_content_type(r, DPC_FHIR_JSON);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_rprintf(r, "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"total\":%d,"
               "\"entry\":[", n);
    for (i = 0; i < n; i++) {
        ap_rputs(i ? ",{\"resource\":" : "{\"resource\":", r);
        ap_rputs(dpc_db_col(r, db, dpc_db_row(r, db, res, i), 0), r);
        ap_rputs("}", r);
    }
    ap_rputs("]}", r);
    return OK;
}

/* ---- the handlers: call->what says Practitioner or Patient -------------------------- */

static const kind *kind_of(const dpc_call *call)
{
    return call->what == DPC_PATIENT ? &patient : &practitioner;
}

int dpc_op_person_create(request_rec *r, const dpc_call *call)
{
    return op_create(r, kind_of(call), call->who);
}

int dpc_op_person_read(request_rec *r, const dpc_call *call)
{
    return op_read(r, kind_of(call), call->who, call->id);
}

int dpc_op_person_search(request_rec *r, const dpc_call *call)
{
    return op_search(r, kind_of(call), call->who);
}

int dpc_op_person_update(request_rec *r, const dpc_call *call)
{
    return op_update(r, kind_of(call), call->who, call->id);
}

int dpc_op_person_delete(request_rec *r, const dpc_call *call)
{
    return op_delete(r, kind_of(call), call->who, call->id);
}

int dpc_op_person_submit(request_rec *r, const dpc_call *call)
{
    return op_submit(r, kind_of(call), call->who);
}

int dpc_op_person_validate(request_rec *r, const dpc_call *call)
{
    return op_validate(r, kind_of(call));
}
