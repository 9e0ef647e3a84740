/* mod_dpc_org.c: GET /Organization and /Organization/{id}.  An organization
 * reads only itself: another's id answers 404, like an unknown one. */
#include "mod_dpc_org.h"

#include <http_protocol.h>
#include <apr_strings.h>

#include "dpc_fhir.h"
#include "mod_dpc_db.h"
#include "mod_dpc_respond.h"

#define NPI_SYSTEM "http://hl7.org/fhir/sid/us-npi"
#define DPC_Q_ORG_GET "dpc_org_get"

const dpc_statement dpc_org_statements[] = {
    { DPC_Q_ORG_GET,
      "SELECT id, name, npi, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
      " FROM organization WHERE id = %s::uuid" },
    { NULL, NULL }
};
enum { ORG_ID, ORG_NAME, ORG_NPI, ORG_CREATED };

/* The caller's Organization resource, or NULL with *status sent. */
static json_t *own_org(request_rec *r, const dpc_principal *who, int *status)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    json_t *o;
    const char *npi, *arg = who->org_id;

    if (!(db = dpc_db(r)) || dpc_db_select(r, db, DPC_Q_ORG_GET, &res, 1, &arg)) {
        *status = dpc_send_db_error(r);
        return NULL;
    }
    if (!(row = dpc_db_row(r, db, res, 0))) {
        /* the token outlived its organization */
        *status = dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND,
                              "no such organization");
        return NULL;
    }
    o = json_pack("{s:s, s:s, s:{s:s}, s:s, s:b}", "resourceType", "Organization",
                  "id", dpc_db_col(r, db, row, ORG_ID),
                  "meta", "lastUpdated", dpc_db_col(r, db, row, ORG_CREATED),
                  "name", dpc_db_col(r, db, row, ORG_NAME), "active", 1);
    if ((npi = dpc_db_col(r, db, row, ORG_NPI)) != NULL)
        json_object_set_new(o, "identifier",
                            json_pack("[{s:s, s:s}]", "system", NPI_SYSTEM, "value", npi));
    return o;
}

int dpc_op_org_read(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    const char *id = call->id;
    json_t *o;
    int status;

    if (strcasecmp(id, who->org_id))
        return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND,
                           "no such organization");
    if (!(o = own_org(r, who, &status)))
        return status;
    return dpc_send_json(r, HTTP_OK, DPC_FHIR_JSON, o);
}

/* A searchset Bundle holding the caller's Organization. */
int dpc_op_org_search(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    json_t *o;
    int status;

    if (!(o = own_org(r, who, &status)))
        return status;
    return dpc_send_json(r, HTTP_OK, DPC_FHIR_JSON,
                         json_pack("{s:s, s:s, s:i, s:[{s:s, s:o}]}", "resourceType",
                                   "Bundle", "type", "searchset", "total", 1, "entry",
                                   "fullUrl", apr_pstrcat(r->pool, dpc_base_url(r),
                                                          "/Organization/",
                                                          who->org_id, NULL),
                                   "resource", o));
}
