/* fuzz_export_req: the export kick-off's parameters (dpc_export_req.h).
 *
 * Input: a flags byte (bit 0: Prefer: handling=lenient; bit 1: the
 * dialect takes _until; bit 2: a system-level export), then the token's
 * scope up to the first '\n', then name=value pairs separated by '&' (a
 * value runs to the next '&'; a pair without '=' has the value "").
 *
 *   dpc_export_req_param   OK, or a 400 refusal (invalid or not-supported,
 *                          the latter never when lenient) with a UTF-8
 *                          message; after OK every type is exported,
 *                          _since is not after now, and notes appear only
 *                          when lenient
 *   dpc_export_req_finish  OK with at least one type, each read by the
 *                          scope, _until not before _since, and a
 *                          _typeFilter the worker takes (dpc_type_filter_sql
 *                          of what the job row would carry); or a 403 (or
 *                          400) refusal with a UTF-8 message
 */
#include "fuzz.h"

#include "dpc_export.h"
#include "dpc_export_req.h"
#include "dpc_fhir.h"
#include "dpc_type_filter.h"

/* 2024-06-01T00:00:00Z */
#define NOW APR_TIME_C(1717200000000000)

static void check_refusal(const dpc_export_req *req, dpc_export_req_rc rc,
                          const dpc_export_req_err *err)
{
    FUZZ_CHECK(err->rc == rc && err->msg && dpc_utf8_valid(err->msg) && err->issue);
    if (rc == DPC_EXPORT_REQ_FORBIDDEN)
        FUZZ_CHECK(err->status == 403 && !strcmp(err->issue, DPC_ISSUE_FORBIDDEN));
    else if (rc == DPC_EXPORT_REQ_NOT_SUPPORTED)
        FUZZ_CHECK(err->status == 400 && !strcmp(err->issue, DPC_ISSUE_NOT_SUPPORTED)
                   && !req->lenient);
    else
        FUZZ_CHECK(rc == DPC_EXPORT_REQ_INVALID && err->status == 400
                   && !strcmp(err->issue, DPC_ISSUE_INVALID));
}

static void check_accepted(const dpc_export_req *req, int notes_before)
{
    int i;

    for (i = 0; i < req->types->nelts; i++)
        FUZZ_CHECK(dpc_export_type_exported(APR_ARRAY_IDX(req->types, i, const char *)));
    FUZZ_CHECK(req->since <= req->now);
    FUZZ_CHECK(req->lenient || req->notes->nelts == notes_before);
}

/* Take every pair; 0 when all were accepted. */
static int take_all(dpc_export_req *req, char *query)
{
    dpc_export_req_err err;
    dpc_export_req_rc rc;
    char *pair, *state = NULL, *eq;
    int before;

    for (pair = apr_strtok(query, "&", &state); pair; pair = apr_strtok(NULL, "&", &state)) {
        if ((eq = strchr(pair, '=')) != NULL)
            *eq++ = '\0';
        before = req->notes->nelts;
        if ((rc = dpc_export_req_param(req, pair, eq ? eq : "", &err)) != DPC_EXPORT_REQ_OK) {
            check_refusal(req, rc, &err);
            return -1;
        }
        check_accepted(req, before);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    dpc_export_req req;
    dpc_export_req_err err;
    dpc_export_req_rc rc;
    char *text, *nl;
    int i;

    if (size < 1) {
        fuzz_end(p);
        return 0;
    }
    text = fuzz_text(p, data + 1, size - 1);
    nl = strchr(text, '\n');
    if (nl)
        *nl++ = '\0';
    dpc_export_req_init(p, &req, data[0] & 1, NOW);
    req.until_allowed = (data[0] >> 1) & 1;
    req.system_level = (data[0] >> 2) & 1;
    if (take_all(&req, nl ? nl : apr_pstrdup(p, "")) == 0) {
        if ((rc = dpc_export_req_finish(&req, text, &err)) != DPC_EXPORT_REQ_OK)
            check_refusal(&req, rc, &err);
        else {
            FUZZ_CHECK(req.types->nelts > 0);
            FUZZ_CHECK(!req.until || !req.since || req.until >= req.since);
            FUZZ_CHECK(dpc_type_filter_sql(p, dpc_type_filter_json(p, req.filter), "S") != NULL);
            for (i = 0; i < req.types->nelts; i++)
                FUZZ_CHECK(dpc_export_scope_reads(p, text,
                                                  APR_ARRAY_IDX(req.types, i, const char *)));
        }
    }
    fuzz_end(p);
    return 0;
}
