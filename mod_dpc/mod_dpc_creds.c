/* mod_dpc_creds.c: an organization's client tokens (/Token) and public
 * keys (/Key).  Every query is scoped by the caller's organization, and an
 * id that is not the caller's (or not an id at all) answers 404. */
#include "mod_dpc_creds.h"

#include <http_protocol.h>
#include <apr_strings.h>

#include "dpc_auth.h"
#include "dpc_fhir.h"
#include "dpc_log.h"
#include "dpc_pkey.h"
#include "dpc_token.h"
#include "mod_dpc_db.h"
#include "mod_dpc_respond.h"

#define KEY_BODY_LIMIT (64 * 1024)
#define KEY_LABEL_MAX 25
#define TOKEN_LABEL_MAX 100

#define DPC_Q_CT_LIST "dpc_ct_list"
#define DPC_Q_CT_GET "dpc_ct_get"
#define DPC_Q_CT_CREATE "dpc_ct_create"
#define DPC_Q_CT_DELETE "dpc_ct_delete"
#define DPC_Q_KEY_LIST "dpc_key_list"
#define DPC_Q_KEY_GET "dpc_key_get"
#define DPC_Q_KEY_CREATE "dpc_key_create"
#define DPC_Q_KEY_DELETE "dpc_key_delete"

/* Each statement's result columns are named by the JSON keys they are sent
 * under, in the statement's column order: token_keys for DPC_Q_CT_LIST, _GET
 * and _CREATE, key_keys for DPC_Q_KEY_LIST, _GET and _CREATE. */
/* tokenType: the one type the DPC v1 guide shows (our client tokens are
 * opaque random strings; README says why the field says MACAROON) */
static const char *const token_keys[] = { "id", "tokenType", "label", "createdAt", "expiresAt",
                                          NULL };
static const char *const key_keys[] = { "id", "label", "publicKey", "createdAt", NULL };

const dpc_statement dpc_creds_statements[] = {
    { DPC_Q_CT_LIST,
      "SELECT id, 'MACAROON', label, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
      " to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
      " FROM client_token WHERE org_id = %s::uuid ORDER BY created_at, id" },
    { DPC_Q_CT_GET,
      "SELECT id, 'MACAROON', label, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
      " to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
      " FROM client_token WHERE org_id = %s::uuid AND id = %s::uuid" },
    { DPC_Q_CT_CREATE,
      DPC_SQL_WHO "INSERT INTO client_token (org_id, label, token_hash, expires_at)"
      " SELECT %s::uuid, %s, %s, to_timestamp(%s::bigint) FROM who"
      " RETURNING id, 'MACAROON', label, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
      " to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')" },
    { DPC_Q_CT_DELETE,
      DPC_SQL_WHO "DELETE FROM client_token USING who WHERE org_id = %s::uuid AND id = %s::uuid" },
    { DPC_Q_KEY_LIST,
      "SELECT id, label, pem, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
      " FROM public_key WHERE org_id = %s::uuid ORDER BY created_at, id" },
    { DPC_Q_KEY_GET,
      "SELECT id, label, pem, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
      " FROM public_key WHERE org_id = %s::uuid AND id = %s::uuid" },
    { DPC_Q_KEY_CREATE,
      DPC_SQL_WHO "INSERT INTO public_key (org_id, label, alg, pem, fingerprint)"
      " SELECT %s::uuid, %s, %s, %s, %s FROM who ON CONFLICT (fingerprint) DO NOTHING"
      " RETURNING id, label, pem, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')" },
    { DPC_Q_KEY_DELETE,
      DPC_SQL_WHO "DELETE FROM public_key USING who WHERE org_id = %s::uuid AND id = %s::uuid" },
    { NULL, NULL }
};

static int not_found(request_rec *r, const char *what)
{
    return dpc_send_oo(r, HTTP_NOT_FOUND, DPC_ISSUE_NOT_FOUND,
                       apr_psprintf(r->pool, "no such %s", what));
}

/* One row as a JSON object with the given keys (NULL columns skipped). */
static json_t *row_object(request_rec *r, ap_dbd_t *db, apr_dbd_row_t *row,
                          const char *const *keys)
{
    json_t *o = json_object();
    int j;

    for (j = 0; keys[j]; j++) {
        const char *v = dpc_db_col(r, db, row, j);

        if (v)
            json_object_set_new(o, keys[j], json_string(v));
    }
    return o;
}

/* Run a query scoped by organization (and maybe an id) and send its rows:
 * a list {"created_at", "count", "entities"} or one entity, or 404. */
static int send_rows(request_rec *r, const char *label, const char *org, const char *id,
                     const char *const *keys, const char *what, json_t *extra)
{
    const char *args[2];
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    json_t *list;
    int i, n;

    if (id && !dpc_uuid_is_valid(id))
        return not_found(r, what);
    if (!(db = dpc_db(r)))
        return dpc_send_db_error(r);
    args[0] = org;
    args[1] = id;
    if (dpc_db_select(r, db, label, &res, id ? 2 : 1, args))
        return dpc_send_db_error(r);
    n = dpc_db_nrows(db, res);
    if (id) {
        json_t *o;

        if (!(row = dpc_db_row(r, db, res, 0)))
            return not_found(r, what);
        o = row_object(r, db, row, keys);
        if (extra)
            json_object_update(o, extra);
        return dpc_send_json(r, HTTP_OK, "application/json", o);
    }
    list = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(list, row_object(r, db, dpc_db_row(r, db, res, i), keys));
    return dpc_send_json(r, HTTP_OK, "application/json",
                         json_pack("{s:s, s:i, s:o}", "created_at",
                                   dpc_instant_format(r->pool, r->request_time),
                                   "count", n, "entities", list));
}

static int delete_scoped(request_rec *r, const char *label, const dpc_principal *who,
                         const char *id, const char *what)
{
    const char *args[4], *org = who->org_id;
    ap_dbd_t *db;
    int n, nargs;

    if (!dpc_uuid_is_valid(id))
        return not_found(r, what);
    if (!(db = dpc_db(r)))
        return dpc_send_db_error(r);
    nargs = dpc_db_who(r, who->client_token_id, args);
    args[nargs++] = org;
    args[nargs++] = id;
    if (dpc_db_query(r, db, label, &n, nargs, args))
        return dpc_send_db_error(r);
    if (n == 0)
        return not_found(r, what);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, DPCLOGNO(00140)
                  "organization %s deleted %s %s", org, what, id);
    return dpc_send_oo(r, HTTP_OK, DPC_ISSUE_INFORMATIONAL,
                       apr_psprintf(r->pool, "%s %s was removed", what, id));
}

/* ---- client tokens ------------------------------------------------------- */

int dpc_op_token_list(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    return send_rows(r, DPC_Q_CT_LIST, who->org_id, NULL, token_keys, "client token",
                     NULL);
}

int dpc_op_token_read(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    const char *id = call->id;
    return send_rows(r, DPC_Q_CT_GET, who->org_id, id, token_keys, "client token", NULL);
}

int dpc_op_token_delete(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    const char *id = call->id;
    return delete_scoped(r, DPC_Q_CT_DELETE, who, id, "client token");
}

/* When the new token expires: ?expiration=<instant>, no later than the
 * configured lifetime (also the default). */
static int token_expiry(request_rec *r, apr_time_t *exp, const char **err)
{
    apr_interval_time_t max = dpc_conf_client_token_lifetime(dpc_srv(r->server));
    const char *v = dpc_query_param(r, "expiration"), *why;

    if (!v) {
        *exp = r->request_time + max;
        return 0;
    }
    if (dpc_instant_parse(v, exp, &why)) {
        *err = apr_psprintf(r->pool, "expiration: %s", why);
        return -1;
    }
    if (*exp <= r->request_time) {
        *err = "expiration must be in the future";
        return -1;
    }
    if (*exp > r->request_time + max) {
        *err = apr_psprintf(r->pool, "expiration may be at most %" APR_TIME_T_FMT
                            " days ahead", apr_time_sec(max) / 86400);
        return -1;
    }
    return 0;
}

int dpc_op_token_create(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    const char *label = dpc_query_param(r, "label"), *token, *err, *args[6];
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_time_t exp;
    ap_dbd_t *db;
    json_t *o;
    int n;

    if (!label)
        label = apr_psprintf(r->pool, "Token for organization %s.", who->org_id);
    if (!dpc_label_valid(label, TOKEN_LABEL_MAX))
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_VALUE,
                           "label must be 1 to 100 printable characters");
    if (token_expiry(r, &exp, &err))
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_VALUE, err);
    if (dpc_client_token_generate(r->pool, &token) != APR_SUCCESS)
        return dpc_send_oo(r, HTTP_INTERNAL_SERVER_ERROR, DPC_ISSUE_EXCEPTION,
                           "no random bytes for a new token");
    if (!(db = dpc_db(r)))
        return dpc_send_db_error(r);
    n = dpc_db_who(r, who->client_token_id, args);
    args[n++] = who->org_id;
    args[n++] = label;
    args[n++] = dpc_client_token_hash(r->pool, token);
    args[n++] = apr_psprintf(r->pool, "%" APR_TIME_T_FMT, apr_time_sec(exp));
    if (dpc_db_select(r, db, DPC_Q_CT_CREATE, &res, n, args)
        || !(row = dpc_db_row(r, db, res, 0)))
        return dpc_send_db_error(r);
    o = row_object(r, db, row, token_keys);
    /* shown this once; only its hash is stored */
    json_object_set_new(o, "token", json_string(token));
    return dpc_send_json(r, HTTP_CREATED, "application/json", o);
}

/* ---- public keys ------------------------------------------------------------ */

int dpc_op_key_list(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    return send_rows(r, DPC_Q_KEY_LIST, who->org_id, NULL, key_keys, "public key", NULL);
}

int dpc_op_key_read(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    const char *id = call->id;
    return send_rows(r, DPC_Q_KEY_GET, who->org_id, id, key_keys, "public key", NULL);
}

int dpc_op_key_delete(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    const char *id = call->id;
    return delete_scoped(r, DPC_Q_KEY_DELETE, who, id, "public key");
}

/* The upload: a PEM (text/plain), or DPC v2's JSON {"key": PEM, "signature":
 * base64 signature of DPC_PKEY_SNIPPET made with the private key}.  v2
 * requires the signature (proof of possession); v1 takes it when given. */
static int read_key_upload(request_rec *r, const char **pem, const char **sig,
                           const char **err)
{
    const char *body;
    apr_size_t len;
    json_t *v;

    *sig = NULL;
    if (dpc_read_body(r, KEY_BODY_LIMIT, &body, &len) != OK || !len) {
        *err = "the body must hold the public key (PEM, at most 64 KB)";
        return -1;
    }
    if (!dpc_content_type_is(r, "application/json")) {
        *pem = body;
        return 0;
    }
    v = dpc_json_pool(r->pool, json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL));
    if (!json_is_object(v) || !json_is_string(json_object_get(v, "key"))) {
        *err = "a JSON key upload is {\"key\": \"<PEM>\", \"signature\": \"<base64>\"}";
        return -1;
    }
    *pem = json_string_value(json_object_get(v, "key"));
    *sig = json_string_value(json_object_get(v, "signature"));
    return 0;
}

int dpc_op_key_create(request_rec *r, const dpc_call *call)
{
    const dpc_principal *who = call->who;
    const char *label = dpc_query_param(r, "label"), *pem, *sig, *err, *args[7];
    dpc_srv_conf *c = dpc_srv(r->server);
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    dpc_pkey_t *key;
    ap_dbd_t *db;
    int n;

    if (!dpc_label_valid(label, KEY_LABEL_MAX))
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_VALUE,
                           "label is required: 1 to 25 printable characters");
    /* any other type is read as a PEM, as v1 clients send it; none is refused */
    if (!apr_table_get(r->headers_in, "Content-Type"))
        return dpc_type_refused(r, "text/plain (the PEM) or application/json "
                                "({\"key\": PEM, \"signature\": base64})");
    if (read_key_upload(r, &pem, &sig, &err))
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_STRUCTURE, err);
    if (dpc_pkey_parse(r->pool, pem, strlen(pem), dpc_conf_key_min_bits(c), &key, &err)
        != DPC_PKEY_OK)
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_VALUE, err);
    if (!sig && dpc_conf_dialect(dpc_dir(r))->key_pop_required)
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_REQUIRED,
                           "signature is required: send {\"key\": PEM, \"signature\": "
                           "base64 of the snippet signed with the private key} as "
                           "application/json");
    if (sig && dpc_pkey_verify_pop(r->pool, key->pkey, sig, &err) != DPC_PKEY_OK)
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_SECURITY,
                           apr_pstrcat(r->pool, "signature: ", err, NULL));
    if (!(db = dpc_db(r)))
        return dpc_send_db_error(r);
    n = dpc_db_who(r, who->client_token_id, args);
    args[n++] = who->org_id;
    args[n++] = label;
    args[n++] = dpc_alg_name(key->alg);
    args[n++] = key->pem;
    args[n++] = key->fingerprint;
    if (dpc_db_select(r, db, DPC_Q_KEY_CREATE, &res, n, args))
        return dpc_send_db_error(r);
    if (!(row = dpc_db_row(r, db, res, 0)))
        return dpc_send_oo(r, HTTP_CONFLICT, DPC_ISSUE_DUPLICATE,
                           "this public key is already registered");
    return dpc_send_json(r, HTTP_CREATED, "application/json",
                         row_object(r, db, row, key_keys));
}
