/* mod_dpc_bcda_auth.c: the BCDA dialects' credentials at work: the token
 * endpoint with HTTP Basic client credentials (POST /auth/token), and the
 * credential check of every bearer request (expiry, rotation, address
 * allow-list).  Apart from the rest of BCDA (mod_dpc_bcda.c), which uses
 * the export glue, since the bearer check (mod_dpc_auth.c) calls this and
 * the export glue calls the bearer check. */
#include "mod_dpc_bcda_auth.h"

#include <http_core.h>
#include <http_protocol.h>
#include <apr_strings.h>

#include "dpc_b64.h"
#include "dpc_fhir.h"
#include "dpc_log.h"
#include "dpc_secret.h"
#include "mod_dpc_token_form.h"
#include "mod_dpc_respond.h"

/* What a BCDA token may read: every exported type. */
#define BCDA_SCOPE "system/*.read"

/* dpc_bcda_cred (by the row's id: a token's credential) and
 * dpc_bcda_cred_client (by the client id a token request sends, among the
 * credentials of this API): a credential, with whether it is live and
 * allows the address ($1 address, $2 id or client id, $3 audience). */
enum { CRED_ORG, CRED_HASH, CRED_LIVE, CRED_ADDRESS_OK, CRED_LABEL, CRED_ROTATED,
       CRED_ID, CRED_DISABLED };
#define SQL_CRED(where)                                                             \
    "SELECT org_id, secret_hash,"                                                   \
    " (NOT disabled AND (expires_at IS NULL OR expires_at > now()))::int,"          \
    " (cardinality(ips) = 0 OR %s::inet <<= ANY (ips))::int, label,"               \
    " extract(epoch from date_trunc('second', rotated_at))::bigint, id::text,"      \
    " disabled::int FROM bcda_credential WHERE " where

const dpc_statement dpc_bcda_auth_statements[] = {
    { "dpc_bcda_cred", SQL_CRED("id = %s::uuid") },
    { "dpc_bcda_cred_client", SQL_CRED("coalesce(client_id, id::text) = %s AND audience = %s") },
    { NULL, NULL }
};

static const char *client_address(request_rec *r)
{
    return r->useragent_ip ? r->useragent_ip : r->connection->client_ip;
}

/* The credential row of id (a row's id; by_client: a client id of this
 * API's credentials), or NULL (not found, or a database error: *db_failed
 * says which). */
static apr_dbd_row_t *credential(request_rec *r, ap_dbd_t **db, const char *id,
                                 int by_client, int *db_failed)
{
    apr_dbd_results_t *res;
    const char *args[3];

    *db_failed = 0;
    args[0] = client_address(r);
    args[1] = id;
    args[2] = dpc_conf_dialect(dpc_dir(r))->token_audience;
    if (!(*db = dpc_db(r)) || dpc_db_select(r, *db, by_client ? "dpc_bcda_cred_client"
                                            : "dpc_bcda_cred", &res, by_client ? 3 : 2,
                                            args)) {
        *db_failed = 1;
        return NULL;
    }
    return dpc_db_row(r, *db, res, 0);
}

static void log_address_refused(request_rec *r, const char *id, const char *label)
{
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, DPCLOGNO(02000)
                  "%s credential %s (%s) refused: the address %s is not on its "
                  "allow-list", dpc_conf_dialect(dpc_dir(r))->title, id, label,
                  client_address(r));
}

/* ---- the bearer check ------------------------------------------------------- */

static int bearer_refused(request_rec *r, int http, const char *msg, int *status)
{
    if (http == HTTP_UNAUTHORIZED && dpc_conf_dialect(dpc_dir(r))->refuse_with_403)
        http = HTTP_FORBIDDEN;      /* AB2D: a token it will not take */
    if (http == HTTP_UNAUTHORIZED)
        apr_table_setn(r->headers_out, "WWW-Authenticate",
                       apr_psprintf(r->pool, "Bearer realm=\"BCDA\", error=\"invalid_token\", "
                                    "error_description=\"%s\"", msg));
    *status = dpc_send_oo(r, http, http == HTTP_FORBIDDEN ? DPC_ISSUE_FORBIDDEN
                                                           : DPC_ISSUE_LOGIN, msg);
    return -1;
}

int dpc_bcda_credential_check(request_rec *r, const dpc_access_token_t *t, int *status)
{
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    int failed;

    if (!(row = credential(r, &db, t->client_token_id, 0, &failed))) {
        if (failed) {
            *status = dpc_send_db_error(r);
            return -1;
        }
        return bearer_refused(r, HTTP_UNAUTHORIZED, "the access token's credential has "
                              "been deleted", status);
    }
    if (strcmp(dpc_db_col(r, db, row, CRED_LIVE), "1"))
        return bearer_refused(r, HTTP_UNAUTHORIZED, apr_pstrcat(r->pool, "the access "
                              "token's credential has ", strcmp(dpc_db_col(r, db, row,
                              CRED_DISABLED), "1") ? "expired" : "been disabled", NULL),
                              status);
    if (apr_atoi64(dpc_db_col(r, db, row, CRED_ROTATED)) > t->iat)
        return bearer_refused(r, HTTP_UNAUTHORIZED, "the access token's credential has "
                              "been rotated since: get a new token", status);
    if (strcmp(dpc_db_col(r, db, row, CRED_ADDRESS_OK), "1")) {
        log_address_refused(r, t->client_token_id, dpc_db_col(r, db, row, CRED_LABEL));
        return bearer_refused(r, HTTP_FORBIDDEN, apr_psprintf(r->pool, "requests from "
                              "%s are not allowed for this credential", client_address(r)),
                              status);
    }
    return 0;
}

/* ---- POST /auth/token ----------------------------------------------------------- */

/* The client id and secret of an "Authorization: Basic" header; 0, or -1
 * (malformed or missing). */
static int basic_credentials(request_rec *r, const char **id, const char **secret)
{
    const char *h = apr_table_get(r->headers_in, "Authorization");
    unsigned char *raw;
    apr_size_t len;
    char *colon;

    if (!h || strncasecmp(h, "Basic ", 6))
        return -1;
    for (h += 6; *h == ' '; h++)
        ;
    if (!*h || dpc_b64_decode(r->pool, h, strlen(h), &raw, &len) != APR_SUCCESS
        || memchr(raw, '\0', len))
        return -1;
    raw = (unsigned char *)apr_pstrmemdup(r->pool, (const char *)raw, len);
    if (!(colon = strchr((char *)raw, ':')))
        return -1;
    *colon = '\0';
    *id = (const char *)raw;
    *secret = colon + 1;
    return 0;
}

static int token_issue(request_rec *r, const char *id, const char *org)
{
    const dpc_dialect *d = dpc_conf_dialect(dpc_dir(r));
    dpc_srv_conf *c = dpc_srv(r->server);
    dpc_token_secrets_t sec;
    dpc_access_token_t t;
    const char *token, *msg;

    sec.current = c->secret;
    sec.current_len = c->secret_len;
    sec.previous = c->secret_prev;
    sec.previous_len = c->secret_prev_len;
    memset(&t, 0, sizeof(t));
    t.org_id = org;
    t.client_token_id = t.key_id = id;
    t.scope = BCDA_SCOPE;
    t.audience = d->token_audience;
    t.iat = apr_time_sec(r->request_time);
    t.exp = t.iat + d->access_token_seconds;
    if (dpc_access_token_issue(r->pool, &sec, &t, &token, &msg) != DPC_TOKEN_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, DPCLOGNO(02001)
                      "cannot issue a BCDA access token: %s", msg);
        return dpc_send_oauth_error(r, HTTP_INTERNAL_SERVER_ERROR, "server_error",
                                    "the access token could not be made");
    }
    apr_table_setn(r->notes, "dpc-org", org);
    apr_table_setn(r->notes, "dpc-credential", id);
    apr_table_setn(r->notes, "dpc-key", id);
    apr_table_setn(r->notes, "dpc-scope", BCDA_SCOPE);
    apr_table_setn(r->notes, "dpc-audit", "token.issued");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "Pragma", "no-cache");
    if (d->token_scope)     /* AB2D: Okta's answer, with the scope granted */
        return dpc_send_json(r, HTTP_OK, "application/json",
                             json_pack("{s:s, s:i, s:s, s:s}", "token_type", "Bearer",
                                       "expires_in", (int)(t.exp - t.iat),
                                       "access_token", token, "scope", d->token_scope));
    return dpc_send_json(r, HTTP_OK, "application/json",
                         json_pack("{s:s, s:s, s:i}", "access_token", token,
                                   "token_type", "bearer", "expires_in",
                                   (int)(t.exp - t.iat)));
}

/* A dialect with a token scope (AB2D) takes grant_type=client_credentials
 * and scope={its scope}, in the URL or a form body (RFC 6749 4.4); 0, or
 * -1 after the OAuth error was sent (*status). */
static int scoped_grant(request_rec *r, const char *want, int *status)
{
    apr_table_t *form;
    const char *v;

    if (dpc_token_params(r, &form, status))
        return -1;
    if (!(v = apr_table_get(form, "grant_type")) || !*v)
        *status = dpc_send_oauth_error(r, HTTP_BAD_REQUEST, "invalid_request",
                                       "grant_type is required");
    else if (strcmp(v, "client_credentials"))
        *status = dpc_send_oauth_error(r, HTTP_BAD_REQUEST, "unsupported_grant_type",
                                       "grant_type must be client_credentials");
    else if (!(v = apr_table_get(form, "scope")) || strcmp(v, want))
        *status = dpc_send_oauth_error(r, HTTP_BAD_REQUEST, "invalid_scope",
                                       apr_pstrcat(r->pool, "scope must be ", want, NULL));
    else
        return 0;
    return -1;
}

/* A client id as credentials are found by: 1 to 64 characters of letters,
 * digits and "._-" (a BCDA client id, a UUID, in lower case); NULL if it
 * cannot be one. */
static const char *client_id_of(request_rec *r, const char *id)
{
    size_t n = strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                          "0123456789._-");
    char *low;

    if (n == 0 || n > 64 || id[n])
        return NULL;
    if (!dpc_uuid_is_valid(id))
        return id;
    low = apr_pstrdup(r->pool, id);
    ap_str_tolower(low);
    return low;
}

int dpc_op_bcda_token(request_rec *r, const dpc_call *call)
{
    const dpc_dialect *d = dpc_conf_dialect(dpc_dir(r));
    const char *id, *secret;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    int failed, status;

    (void)call;
    if (basic_credentials(r, &id, &secret))
        return dpc_send_oauth_error(r, HTTP_BAD_REQUEST, "invalid_request",
                                    "send the client id and secret as Authorization: "
                                    "Basic base64(client_id:client_secret)");
    if (d->token_scope && scoped_grant(r, d->token_scope, &status))
        return status;
    if (!(id = client_id_of(r, id)) || !*secret)
        return dpc_send_oauth_error(r, HTTP_UNAUTHORIZED, "invalid_client",
                                    "unknown client id or wrong secret");
    if (!(row = credential(r, &db, id, 1, &failed)))
        return failed ? dpc_send_db_error(r)
                      : dpc_send_oauth_error(r, HTTP_UNAUTHORIZED, "invalid_client",
                                             "unknown client id or wrong secret");
    if (!dpc_secret_matches(r->pool, secret, dpc_db_col(r, db, row, CRED_HASH)))
        return dpc_send_oauth_error(r, HTTP_UNAUTHORIZED, "invalid_client",
                                    "unknown client id or wrong secret");
    if (strcmp(dpc_db_col(r, db, row, CRED_LIVE), "1"))
        return dpc_send_oauth_error(r, HTTP_UNAUTHORIZED, "invalid_client",
                                    strcmp(dpc_db_col(r, db, row, CRED_DISABLED), "1")
                                    ? "this credential has expired: create or rotate one"
                                    : "this credential has been disabled");
    if (strcmp(dpc_db_col(r, db, row, CRED_ADDRESS_OK), "1")) {
        log_address_refused(r, id, dpc_db_col(r, db, row, CRED_LABEL));
        return dpc_send_oauth_error(r, HTTP_FORBIDDEN, "access_denied",
                                    apr_psprintf(r->pool, "requests from %s are not allowed "
                                                 "for this credential", client_address(r)));
    }
    return token_issue(r, dpc_db_col(r, db, row, CRED_ID), dpc_db_col(r, db, row, CRED_ORG));
}
