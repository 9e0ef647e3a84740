/* mod_dpc_auth.c: SMART Backend Services at /Token/auth, /Token/validate,
 * and the bearer check in front of every other route.
 *
 * Access tokens are HMAC-signed and self-contained (dpc_token.h), so the
 * bearer check costs no database round trip.  Revocation: deleting a client
 * token or key records its id (a trigger, whatever deleted it); each httpd
 * child refreshes its list of revoked ids at most once a second, with one
 * indexed query, so a revoked access token stops working within about a
 * second on every host.
 */
#include "mod_dpc_auth.h"

#include <http_protocol.h>
#include <apr_strings.h>

#include "dpc_auth.h"
#include "dpc_fhir.h"
#include "dpc_jwt.h"
#include "dpc_log.h"
#include "dpc_meta.h"
#include "dpc_pkey.h"
#include "dpc_token.h"
#include "mod_dpc_bcda_auth.h"
#include "mod_dpc_db.h"
#include "mod_dpc_respond.h"
#include "mod_dpc_token_form.h"

#define DPC_Q_TOKEN_LOOKUP "dpc_token_lookup"
#define DPC_Q_REVOKED "dpc_revoked"

const dpc_statement dpc_auth_statements[] = {
    /* /Token/auth in one round trip: the live client token with that hash,
     * the organization's key with that id, and the jti recorded (the row
     * count of the insert says whether it was new). */
    { DPC_Q_TOKEN_LOOKUP,
      "WITH ct AS (SELECT id, org_id FROM client_token"
      "            WHERE token_hash = %s AND expires_at > now()),"
      " k AS (SELECT pk.id, pk.pem FROM public_key pk JOIN ct ON pk.org_id = ct.org_id"
      "       WHERE pk.id = %s::uuid),"
      " j AS (INSERT INTO used_jti (client_token_id, jti, expires_at)"
      "       SELECT ct.id, %s, to_timestamp(%s::bigint) FROM ct, k"
      "       ON CONFLICT DO NOTHING RETURNING 1)"
      " SELECT ct.id, ct.org_id, k.id, k.pem, (SELECT count(*) FROM j)"
      " FROM ct LEFT JOIN k ON true" },
    /* every credential revoked while an access token made with it could
     * live (300 s), with room for a deleting transaction that commits late */
    { DPC_Q_REVOKED,
      "SELECT DISTINCT credential_id FROM revoked_credential"
      " WHERE revoked_at > now() - interval '10 minutes'" },
    { NULL, NULL }
};
/* DPC_Q_TOKEN_LOOKUP's columns */
enum { LOOKUP_CLIENT_TOKEN, LOOKUP_ORG, LOOKUP_KEY, LOOKUP_KEY_PEM, LOOKUP_JTI_NEW };

#define REVOCATION_REFRESH apr_time_from_sec(1)

static dpc_revocations *revoked;
static dpc_keycache *keys;

void dpc_auth_child_init(apr_pool_t *pchild)
{
    revoked = dpc_revocations_create(pchild);
    keys = dpc_keycache_create(pchild, 4096);
}

static apr_status_t release_pkey(void *k)
{
    EVP_PKEY_free(k);
    return APR_SUCCESS;
}

/* The verifying key for the stored PEM, parsed once per child. */
static EVP_PKEY *verifying_key(request_rec *r, const char *id, const char *pem)
{
    EVP_PKEY *k = dpc_keycache_get(keys, id, pem);
    dpc_pkey_t *key;
    const char *msg;

    if (!k) {
        if (dpc_pkey_from_pem(r->pool, pem, strlen(pem), &key, &msg) != DPC_PKEY_OK) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, DPCLOGNO(00135)
                          "stored public key %s does not parse: %s", id, msg);
            return NULL;
        }
        dpc_keycache_put(keys, id, pem, key->pkey);
        return key->pkey;       /* owned by r->pool */
    }
    apr_pool_cleanup_register(r->pool, k, release_pkey, apr_pool_cleanup_null);
    return k;
}

/* ---- server secrets ---------------------------------------------------- */

static int read_secret(apr_pool_t *p, server_rec *s, const char *file,
                       const unsigned char **out, apr_size_t *len)
{
    char *buf;
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n;
    apr_status_t rv;

    if ((rv = apr_file_open(&f, file, APR_FOPEN_READ, 0, p)) != APR_SUCCESS
        || (rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, DPCLOGNO(00131)
                     "DPCTokenSecretFile %s cannot be read", file);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    n = fi.size > 4096 ? 4096 : (apr_size_t)fi.size;
    buf = apr_palloc(p, n + 1);
    rv = apr_file_read_full(f, buf, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS || fi.size > 4096) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, DPCLOGNO(00154)
                     "DPCTokenSecretFile %s cannot be read whole (at most 4096 bytes)",
                     file);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* a trailing newline from `echo` or an editor is not part of it */
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    *out = (const unsigned char *)buf;
    *len = n;
    return OK;
}

int dpc_auth_load_secrets(apr_pool_t *pconf, server_rec *s)
{
    for (; s; s = s->next) {
        dpc_srv_conf *c = dpc_srv(s);
        dpc_token_secrets_t sec;
        const char *msg;

        if (!c->token_secret_file) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, DPCLOGNO(00132)
                         "DPCTokenSecretFile is required where DPCAPI serves an API: "
                         "it signs access tokens (at least %d random bytes)",
                         DPC_TOKEN_SECRET_MIN);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (read_secret(pconf, s, c->token_secret_file, &c->secret, &c->secret_len)
            || (c->token_secret_prev_file
                && read_secret(pconf, s, c->token_secret_prev_file, &c->secret_prev,
                               &c->secret_prev_len)))
            return HTTP_INTERNAL_SERVER_ERROR;
        sec.current = c->secret;
        sec.current_len = c->secret_len;
        sec.previous = c->secret_prev;
        sec.previous_len = c->secret_prev_len;
        if (dpc_token_secrets_check(&sec, &msg) != DPC_TOKEN_OK) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, DPCLOGNO(00133)
                         "DPCTokenSecretFile %s: %s", c->token_secret_file, msg);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

static dpc_token_secrets_t secrets_of(request_rec *r)
{
    dpc_srv_conf *c = dpc_srv(r->server);
    dpc_token_secrets_t sec;

    sec.current = c->secret;
    sec.current_len = c->secret_len;
    sec.previous = c->secret_prev;
    sec.previous_len = c->secret_prev_len;
    return sec;
}

/* ---- the bearer check ---------------------------------------------------- */

static int unauthorized(request_rec *r, const char *error, const char *desc)
{
    /* AB2D answers a token it will not take (not a missing one) with 403 */
    if (error && !strcmp(error, "invalid_token")
        && dpc_conf_dialect(dpc_dir(r))->refuse_with_403)
        return dpc_send_oo(r, HTTP_FORBIDDEN, DPC_ISSUE_FORBIDDEN, desc);
    /* RFC 6750 3: no error attribute when no credentials were sent */
    apr_table_setn(r->headers_out, "WWW-Authenticate",
                   error ? apr_psprintf(r->pool, "Bearer realm=\"DPC\", error=\"%s\", "
                                        "error_description=\"%s\"", error, desc)
                         : "Bearer realm=\"DPC\"");
    return dpc_send_oo(r, HTTP_UNAUTHORIZED, DPC_ISSUE_LOGIN, desc);
}

/* Bring this child's revocation list up to date if it is older than a
 * second.  -1 when the database cannot be asked. */
static int refresh_revocations(request_rec *r)
{
    apr_dbd_results_t *res;
    apr_array_header_t *ids;
    ap_dbd_t *db;
    int i, n;

    if (!dpc_revocations_stale(revoked, r->request_time, REVOCATION_REFRESH))
        return 0;
    if (!(db = dpc_db(r)) || dpc_db_select(r, db, DPC_Q_REVOKED, &res, 0, NULL))
        return -1;
    n = dpc_db_nrows(db, res);
    ids = apr_array_make(r->pool, n ? n : 1, sizeof(const char *));
    for (i = 0; i < n; i++)
        APR_ARRAY_PUSH(ids, const char *) = dpc_db_col(r, db, dpc_db_row(r, db, res, i), 0);
    dpc_revocations_set(revoked, r->request_time, ids);
    return 0;
}

const dpc_principal *dpc_authenticate(request_rec *r, int *status)
{
    const char *h = apr_table_get(r->headers_in, "Authorization");
    const dpc_dialect *d = dpc_conf_dialect(dpc_dir(r));
    dpc_token_secrets_t sec = secrets_of(r);
    dpc_access_token_t *t;
    dpc_principal *who;
    const char *msg;

    if (!h || !*h) {
        *status = unauthorized(r, NULL, apr_psprintf(r->pool, "an access token is required: "
                               "Authorization: Bearer {access_token} (get one at %s)",
                               d->token_path));
        return NULL;
    }
    if (strncasecmp(h, "Bearer ", 7)) {
        *status = unauthorized(r, "invalid_request",
                               "the Authorization header must be: Bearer {access_token}");
        return NULL;
    }
    for (h += 7; *h == ' '; h++)
        ;
    switch (dpc_access_token_verify(r->pool, &sec, h, apr_time_sec(r->request_time), 0,
                                    &t, &msg)) {
    case DPC_TOKEN_OK:
        break;
    case DPC_TOKEN_EXPIRED:
        *status = unauthorized(r, "invalid_token", "the access token has expired");
        return NULL;
    default:
        *status = unauthorized(r, "invalid_token", "the access token is not valid");
        return NULL;
    }
    /* a token of another API (DPC's at BCDA's routes, or the other way) */
    if (strcmp(t->audience ? t->audience : DPC_TOKEN_AUDIENCE_UNMARKED, d->token_audience)) {
        *status = unauthorized(r, "invalid_token", apr_psprintf(r->pool, "the access token "
                               "was not issued for this API: get one at %s", d->token_path));
        return NULL;
    }
    if (refresh_revocations(r)) {
        *status = dpc_send_db_error(r);
        return NULL;
    }
    if (dpc_revocations_has(revoked, t->client_token_id)
        || dpc_revocations_has(revoked, t->key_id)) {
        *status = unauthorized(r, "invalid_token", "the access token has been revoked: "
                               "its client token or key was deleted");
        return NULL;
    }
    who = apr_pcalloc(r->pool, sizeof(*who));
    who->org_id = t->org_id;
    who->client_token_id = t->client_token_id;
    who->key_id = t->key_id;
    who->scope = t->scope;
    apr_table_setn(r->notes, "dpc-org", who->org_id);
    apr_table_setn(r->notes, "dpc-credential", who->client_token_id);
    apr_table_setn(r->notes, "dpc-key", who->key_id);
    if (d->credential_lookup && dpc_bcda_credential_check(r, t, status))
        return NULL;
    return who;
}

/* ---- /Token/auth ------------------------------------------------------------ */

typedef struct token_request {
    const char *scope;           /* granted */
    dpc_jwt_t *jwt;
    const char *client_token_id;
    const char *org_id;
    const char *key_id;
    const char *key_pem;
} token_request;

/* The form's parameters, each checked in the order RFC 6749 lists them.
 * OK, or the error response already sent. */
static int read_token_form(request_rec *r, token_request *tr, int *status)
{
    const char *err, *v;
    apr_table_t *form;

    if (dpc_token_params(r, &form, status))
        return -1;
    if (!(v = apr_table_get(form, "grant_type")) || !*v) {
        *status = dpc_send_oauth_error(r, HTTP_BAD_REQUEST, "invalid_request",
                                       "grant_type is required");
        return -1;
    }
    if (strcmp(v, "client_credentials")) {
        *status = dpc_send_oauth_error(r, HTTP_BAD_REQUEST, "unsupported_grant_type",
                                       "grant_type must be client_credentials");
        return -1;
    }
    v = apr_table_get(form, "client_assertion_type");
    if (!v || strcmp(v, DPC_ASSERTION_TYPE)) {
        *status = dpc_send_oauth_error(r, HTTP_BAD_REQUEST, "invalid_request",
                                       "client_assertion_type must be " DPC_ASSERTION_TYPE);
        return -1;
    }
    if (!(v = apr_table_get(form, "client_assertion")) || !*v) {
        *status = dpc_send_oauth_error(r, HTTP_BAD_REQUEST, "invalid_request",
                                       "client_assertion (a signed JWT) is required");
        return -1;
    }
    if (dpc_jwt_parse(r->pool, v, &tr->jwt, &err) != DPC_JWT_OK) {
        *status = dpc_send_oauth_error(r, HTTP_BAD_REQUEST, "invalid_request",
                                       apr_pstrcat(r->pool, "client_assertion: ", err, NULL));
        return -1;
    }
    if (dpc_scope_check(r->pool, apr_table_get(form, "scope"), &tr->scope, &err)) {
        *status = dpc_send_oauth_error(r, HTTP_BAD_REQUEST, "invalid_scope", err);
        return -1;
    }
    return 0;
}

/* Find the client token (iss), its organization's key (kid) and record the
 * jti, in one round trip.  OK, or the error response already sent. */
static int lookup_client(request_rec *r, token_request *tr, const dpc_jwt_policy_t *pol,
                         int *status)
{
    const dpc_jwt_t *j = tr->jwt;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    const char *args[4], *fresh;

    if (!j->iss || !dpc_client_token_well_formed(j->iss) || !j->sub
        || strcmp(j->iss, j->sub)) {
        *status = dpc_send_oauth_error(r, HTTP_UNAUTHORIZED, "invalid_client",
                                       "iss and sub must both be your client token");
        return -1;
    }
    if (!j->kid || !dpc_uuid_is_valid(j->kid) || !j->jti || !j->has_exp) {
        *status = dpc_send_oauth_error(r, HTTP_UNAUTHORIZED, "invalid_client",
                                       !j->kid || !dpc_uuid_is_valid(j->kid)
                                       ? "kid must be the id of one of your public keys"
                                       : !j->jti ? "jti is required" : "exp is required");
        return -1;
    }
    if (!(db = dpc_db(r))) {
        *status = dpc_send_db_error(r);
        return -1;
    }
    args[0] = dpc_client_token_hash(r->pool, j->iss);
    args[1] = j->kid;
    args[2] = j->jti;
    /* the jti is remembered until the assertion itself has expired */
    args[3] = apr_psprintf(r->pool, "%" APR_INT64_T_FMT, j->exp + pol->skew);
    if (dpc_db_select(r, db, DPC_Q_TOKEN_LOOKUP, &res, 4, args)) {
        *status = dpc_send_db_error(r);
        return -1;
    }
    if (!(row = dpc_db_row(r, db, res, 0))) {
        *status = dpc_send_oauth_error(r, HTTP_UNAUTHORIZED, "invalid_client",
                                       "unknown, expired or deleted client token");
        return -1;
    }
    tr->client_token_id = dpc_db_col(r, db, row, LOOKUP_CLIENT_TOKEN);
    tr->org_id = dpc_db_col(r, db, row, LOOKUP_ORG);
    tr->key_id = dpc_db_col(r, db, row, LOOKUP_KEY);
    tr->key_pem = dpc_db_col(r, db, row, LOOKUP_KEY_PEM);
    fresh = dpc_db_col(r, db, row, LOOKUP_JTI_NEW);
    if (!tr->key_id) {
        *status = dpc_send_oauth_error(r, HTTP_UNAUTHORIZED, "invalid_client",
                                       "kid is not a public key of your organization");
        return -1;
    }
    if (!fresh || strcmp(fresh, "1")) {
        *status = dpc_send_oauth_error(r, HTTP_UNAUTHORIZED, "invalid_client",
                                       "this assertion's jti has been used already: "
                                       "sign a new assertion for each token request");
        return -1;
    }
    return 0;
}

static int issue(request_rec *r, const token_request *tr)
{
    dpc_token_secrets_t sec = secrets_of(r);
    dpc_access_token_t t;
    const char *token, *msg;

    memset(&t, 0, sizeof(t));
    t.org_id = tr->org_id;
    t.client_token_id = tr->client_token_id;
    t.key_id = tr->key_id;
    t.scope = tr->scope;
    t.audience = dpc_conf_dialect(dpc_dir(r))->token_audience;
    t.iat = apr_time_sec(r->request_time);
    t.exp = t.iat + dpc_conf_dialect(dpc_dir(r))->access_token_seconds;
    if (dpc_access_token_issue(r->pool, &sec, &t, &token, &msg) != DPC_TOKEN_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, DPCLOGNO(00134)
                      "cannot issue an access token: %s", msg);
        return dpc_send_oauth_error(r, HTTP_INTERNAL_SERVER_ERROR, "server_error",
                                    "the access token could not be made");
    }
    apr_table_setn(r->notes, "dpc-org", tr->org_id);
    apr_table_setn(r->notes, "dpc-credential", tr->client_token_id);
    apr_table_setn(r->notes, "dpc-key", tr->key_id);
    apr_table_setn(r->notes, "dpc-scope", tr->scope);
    apr_table_setn(r->notes, "dpc-audit", "token.issued");
    apr_table_setn(r->headers_out, "Pragma", "no-cache");
    return dpc_send_json(r, HTTP_OK, "application/json",
                         json_pack("{s:s, s:s, s:i, s:s}", "access_token", token,
                                   "token_type", "bearer", "expires_in",
                                   (int)(t.exp - t.iat), "scope", tr->scope));
}

int dpc_op_token_auth(request_rec *r, const dpc_call *call)
{
    token_request tr;
    dpc_jwt_policy_t pol;
    EVP_PKEY *key;
    const char *msg;
    int status;

    /* the dialect's grant decides: BCDA's is HTTP Basic, no assertion */
    if (dpc_conf_dialect(dpc_dir(r))->grant == DPC_GRANT_BASIC)
        return dpc_op_bcda_token(r, call);
    memset(&tr, 0, sizeof(tr));
    if (read_token_form(r, &tr, &status))
        return status;
    dpc_jwt_policy_init(&pol, dpc_meta_token_url(r->pool, dpc_conf_dialect(dpc_dir(r)),
                                                 dpc_base_url(r)),
                        apr_time_sec(r->request_time));
    /* Every header and claim rule first: no database work (and no jti
     * spent) for an assertion that could never be accepted. */
    if (tr.jwt->has_jku || tr.jwt->has_x5u)
        return dpc_send_oauth_error(r, HTTP_UNAUTHORIZED, "invalid_client",
                                    "jku and x5u are not accepted: keys are registered "
                                    "with /Key");
    if (dpc_jwt_check(r->pool, tr.jwt, &pol, &msg) != DPC_JWT_OK)
        return dpc_send_oauth_error(r, HTTP_UNAUTHORIZED, "invalid_client", msg);
    if (lookup_client(r, &tr, &pol, &status))
        return status;
    if (!(key = verifying_key(r, tr.key_id, tr.key_pem)))
        return dpc_send_oauth_error(r, HTTP_INTERNAL_SERVER_ERROR, "server_error",
                                    "the registered key cannot be used");
    if (dpc_jwt_verify(r->pool, tr.jwt, key, &pol, &msg) != DPC_JWT_OK)
        return dpc_send_oauth_error(r, HTTP_UNAUTHORIZED, "invalid_client", msg);
    return issue(r, &tr);
}

/* ---- /Token/validate ---------------------------------------------------------- */

/* Which headers and claims are missing or wrong; no signature, key or
 * client token check (as DPC documents it). */
int dpc_op_token_validate(request_rec *r, const dpc_call *call)
{
    (void)call;
    apr_array_header_t *problems = apr_array_make(r->pool, 8, sizeof(dpc_jwt_problem_t));
    const char *body, *msg;
    apr_size_t len;
    dpc_jwt_policy_t pol;
    dpc_jwt_t *jwt;
    json_t *oo;
    int i, status = dpc_read_body(r, TOKEN_BODY_LIMIT, &body, &len);

    if (status != OK)
        return dpc_send_oo(r, status, DPC_ISSUE_INVALID, "the body must be a JWT "
                           "(text/plain) of at most 64 KB");
    while (len && (body[len - 1] == '\n' || body[len - 1] == '\r' || body[len - 1] == ' '))
        len--;
    if (dpc_jwt_parse(r->pool, apr_pstrmemdup(r->pool, body, len), &jwt, &msg)
        != DPC_JWT_OK)
        return dpc_send_oo(r, HTTP_BAD_REQUEST, DPC_ISSUE_STRUCTURE, msg);
    dpc_jwt_policy_init(&pol, dpc_meta_token_url(r->pool, dpc_conf_dialect(dpc_dir(r)),
                                                 dpc_base_url(r)),
                        apr_time_sec(r->request_time));
    pol.require_typ = 1;
    if (dpc_jwt_problems(r->pool, jwt, &pol, problems) == 0)
        return dpc_send_oo(r, HTTP_OK, DPC_ISSUE_INFORMATIONAL,
                           "the JWT has every required header and claim (its signature, "
                           "key and client token were not checked)");
    oo = dpc_oo_new();
    for (i = 0; i < problems->nelts; i++) {
        dpc_jwt_problem_t *pr = &APR_ARRAY_IDX(problems, i, dpc_jwt_problem_t);

        dpc_oo_add(oo, "error", DPC_ISSUE_INVALID, pr->message, pr->where);
    }
    return dpc_send_json(r, HTTP_BAD_REQUEST, DPC_FHIR_JSON, oo);
}
