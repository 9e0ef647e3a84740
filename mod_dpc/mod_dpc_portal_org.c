/* mod_dpc_portal_org.c: a team's provider organizations, their public keys
 * and client tokens.  The same rules as the API's /Key and /Token
 * (mod_dpc_creds.c): key size and curve, proof of possession, one
 * registration per key, labels, token lifetime.  Every statement is scoped
 * by the signed-in account's team: another team's organization, key or
 * token answers 404 like an unknown one. */
#include "mod_dpc_audit.h"
#include "mod_dpc_portal.h"

#include <http_protocol.h>
#include <apr_strings.h>

#include "dpc_auth.h"
#include "dpc_fhir.h"
#include "dpc_log.h"
#include "dpc_pkey.h"
#include "dpc_portal.h"
#include "dpc_token.h"

#define KEY_LABEL_MAX 25
#define TOKEN_LABEL_MAX 100
#define ORG_NAME_MAX 200
#define NPI_TRIES 3
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI \"UTC\"')"
/* the account's team owns organization %s */
#define OWNED(org) " FROM portal_team_org t JOIN portal_account a ON a.team_id = t.team_id" \
                   " WHERE a.email = lower(%s) AND t.org_id = " org

#define DPC_Q_ORG "dpc_portal_org"
#define DPC_Q_ORG_ADD "dpc_portal_org_add"
#define DPC_Q_KEYS "dpc_portal_keys"
#define DPC_Q_KEY_ADD "dpc_portal_key_add"
#define DPC_Q_KEY_DEL "dpc_portal_key_del"
#define DPC_Q_TOKENS "dpc_portal_tokens"
#define DPC_Q_TOKEN_ADD "dpc_portal_token_add"
#define DPC_Q_TOKEN_DEL "dpc_portal_token_del"

const dpc_statement dpc_portal_org_statements[] = {
    { DPC_Q_ORG,
      "SELECT o.id, o.name, o.npi FROM organization o JOIN portal_team_org t ON t.org_id = o.id"
      " JOIN portal_account a ON a.team_id = t.team_id"
      " WHERE a.email = lower(%s) AND o.id = %s::uuid" },
    { DPC_Q_ORG_ADD,
      "WITH a AS (SELECT id, team_id FROM portal_account WHERE email = lower(%s)),"
      " o AS (INSERT INTO organization (name, npi) SELECT %s, %s FROM a"
      "       ON CONFLICT (npi) DO NOTHING RETURNING id),"
      " l AS (INSERT INTO portal_team_org (org_id, team_id, created_by)"
      "       SELECT o.id, a.team_id, a.id FROM o, a RETURNING org_id)"
      " SELECT org_id FROM l" },
    { DPC_Q_KEYS,
      "SELECT k.id, k.label, k.alg, " TS("k.created_at") " FROM public_key k"
      " JOIN portal_team_org t ON t.org_id = k.org_id JOIN portal_account a ON a.team_id = t.team_id"
      " WHERE a.email = lower(%s) AND k.org_id = %s::uuid ORDER BY k.created_at, k.id" },
    { DPC_Q_KEY_ADD,
      "INSERT INTO public_key (org_id, label, alg, pem, fingerprint)"
      " SELECT t.org_id, %s, %s, %s, %s" OWNED("%s::uuid")
      " ON CONFLICT (fingerprint) DO NOTHING RETURNING id" },
    { DPC_Q_KEY_DEL,
      "DELETE FROM public_key k USING portal_team_org t, portal_account a"
      " WHERE k.id = %s::uuid AND k.org_id = %s::uuid AND t.org_id = k.org_id"
      " AND a.team_id = t.team_id AND a.email = lower(%s)" },
    { DPC_Q_TOKENS,
      "SELECT c.id, c.label, " TS("c.created_at") ", " TS("c.expires_at") " FROM client_token c"
      " JOIN portal_team_org t ON t.org_id = c.org_id JOIN portal_account a ON a.team_id = t.team_id"
      " WHERE a.email = lower(%s) AND c.org_id = %s::uuid ORDER BY c.created_at, c.id" },
    { DPC_Q_TOKEN_ADD,
      "INSERT INTO client_token (org_id, label, token_hash, expires_at)"
      " SELECT t.org_id, %s, %s, to_timestamp(%s::bigint)" OWNED("%s::uuid")
      " RETURNING id, " TS("expires_at") },
    { DPC_Q_TOKEN_DEL,
      "DELETE FROM client_token c USING portal_team_org t, portal_account a"
      " WHERE c.id = %s::uuid AND c.org_id = %s::uuid AND t.org_id = c.org_id"
      " AND a.team_id = t.team_id AND a.email = lower(%s)" },
    { NULL, NULL }
};
enum { ORG_ID, ORG_NAME, ORG_NPI };
enum { KEY_ID, KEY_LABEL, KEY_ALG, KEY_CREATED };
enum { CT_ID, CT_LABEL, CT_CREATED, CT_EXPIRES };

static const char *error_note(dpc_portal_req *q, const char *err)
{
    return err ? dpc_html_fmt(q->r->pool, "<p class=\"error\" role=\"alert\">%s</p>", err) : "";
}

/* The team's organization q->id[0]: its row, or NULL (*status sent: 404
 * for an unknown, malformed or foreign id). */
static apr_dbd_row_t *own_org(dpc_portal_req *q, ap_dbd_t **db, int *status)
{
    const char *args[2];
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;

    if (!dpc_uuid_is_valid(q->id[0])) {
        *status = dpc_portal_not_found(q);
        return NULL;
    }
    args[0] = q->user;
    args[1] = q->id[0];
    if (!(*db = dpc_db(q->r)) || dpc_db_select(q->r, *db, DPC_Q_ORG, &res, 2, args)) {
        *status = dpc_portal_db_error(q);
        return NULL;
    }
    if (!(row = dpc_db_row(q->r, *db, res, 0)))
        *status = dpc_portal_not_found(q);
    return row;
}

/* ---- organizations ------------------------------------------------------------ */

int dpc_portal_org_form(dpc_portal_req *q)
{
    return dpc_portal_page(q, HTTP_OK, "Add Provider Organization", dpc_html_fmt(q->r->pool,
        "<p>In the sandbox, a fake provider NPI is generated for the new organization. "
        "It cannot be changed.</p>"
        "<form method=\"post\" action=\"%s/org/new\" class=\"stack\">%r"
        "<label for=\"name\">Name (optional)</label>"
        "<input id=\"name\" name=\"name\" maxlength=\"200\">"
        "<button type=\"submit\">Add Provider Organization</button></form>",
        q->base, dpc_portal_csrf_field(q)));
}

int dpc_portal_org_add(dpc_portal_req *q)
{
    const char *name = dpc_portal_field(q, "name"), *args[3], *id = NULL;
    char npi[DPC_NPI_LEN + 1];
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    int i;

    if (*name && !dpc_label_valid(name, ORG_NAME_MAX))
        return dpc_portal_message(q, HTTP_BAD_REQUEST, "Add Provider Organization",
                                  "name: up to 200 characters, not only spaces");
    if (!(db = dpc_db(q->r)))
        return dpc_portal_db_error(q);
    /* a generated NPI may already be taken: draw again */
    for (i = 0; i < NPI_TRIES && !id; i++) {
        if (dpc_portal_npi(npi) != APR_SUCCESS)
            return dpc_portal_db_error(q);
        args[0] = q->user;
        args[1] = *name ? name : apr_pstrcat(q->r->pool, "Sandbox Provider ", npi, NULL);
        args[2] = npi;
        if (dpc_db_select(q->r, db, DPC_Q_ORG_ADD, &res, 3, args))
            return dpc_portal_db_error(q);
        if ((row = dpc_db_row(q->r, db, res, 0)) != NULL)
            id = dpc_db_col(q->r, db, row, 0);
    }
    if (!id)
        return dpc_portal_db_error(q);
    dpc_audit_note(q->r, "portal.organization_added",
                   apr_pstrcat(q->r->pool, "account:", q->user, NULL), id,
                   json_pack("{s:s}", "npi", npi));
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, q->r, DPCLOGNO(00206)
                  "portal: account %s added organization %s (NPI %s)", q->user, id, npi);
    return dpc_portal_redirect(q, "/");
}

static const char *key_rows(dpc_portal_req *q, ap_dbd_t *db, apr_dbd_results_t *res)
{
    int i, n = dpc_db_nrows(db, res);
    const char *html = "";

    for (i = 0; i < n; i++) {
        apr_dbd_row_t *row = dpc_db_row(q->r, db, res, i);
        const char *id = dpc_db_col(q->r, db, row, KEY_ID);

        html = dpc_html_fmt(q->r->pool,
            "%r<tr><td>%s</td><td><code>%s</code></td><td>%s</td><td>%s</td><td>"
            "<a href=\"%s/assets/jwt.html#kid=%s&amp;aud=%s\">Make a JWT</a> "
            "<form method=\"post\" action=\"%s/org/%s/key/%s/delete\" class=\"inline\">%r"
            "<button type=\"submit\" class=\"danger\">Delete<span class=\"visually-hidden\"> "
            "key %s</span></button></form></td></tr>",
            html, dpc_db_col(q->r, db, row, KEY_LABEL), id, dpc_db_col(q->r, db, row, KEY_ALG),
            dpc_db_col(q->r, db, row, KEY_CREATED), q->base, id,
            ap_escape_urlencoded(q->r->pool, apr_pstrcat(q->r->pool, dpc_portal_api_url(q),
                                                         "/Token/auth", NULL)),
            q->base, q->id[0], id, dpc_portal_csrf_field(q),
            dpc_db_col(q->r, db, row, KEY_LABEL));
    }
    return n ? html : "<tr><td colspan=\"5\">No public keys yet.</td></tr>";
}

static const char *token_rows(dpc_portal_req *q, ap_dbd_t *db, apr_dbd_results_t *res)
{
    int i, n = dpc_db_nrows(db, res);
    const char *html = "";

    for (i = 0; i < n; i++) {
        apr_dbd_row_t *row = dpc_db_row(q->r, db, res, i);
        const char *id = dpc_db_col(q->r, db, row, CT_ID);

        html = dpc_html_fmt(q->r->pool,
            "%r<tr><td>%s</td><td><code>%s</code></td><td>%s</td><td>%s</td><td>"
            "<form method=\"post\" action=\"%s/org/%s/token/%s/delete\" class=\"inline\">%r"
            "<button type=\"submit\" class=\"danger\">Delete<span class=\"visually-hidden\"> "
            "token %s</span></button></form></td></tr>",
            html, dpc_db_col(q->r, db, row, CT_LABEL), id,
            dpc_db_col(q->r, db, row, CT_CREATED), dpc_db_col(q->r, db, row, CT_EXPIRES),
            q->base, q->id[0], id, dpc_portal_csrf_field(q),
            dpc_db_col(q->r, db, row, CT_LABEL));
    }
    return n ? html : "<tr><td colspan=\"5\">No client tokens yet.</td></tr>";
}

int dpc_portal_org(dpc_portal_req *q)
{
    apr_dbd_results_t *keys, *tokens;
    apr_dbd_row_t *org;
    const char *args[2];
    ap_dbd_t *db;
    int status;

    if (!(org = own_org(q, &db, &status)))
        return status;
    args[0] = q->user;
    args[1] = q->id[0];
    if (dpc_db_select(q->r, db, DPC_Q_KEYS, &keys, 2, args)
        || dpc_db_select(q->r, db, DPC_Q_TOKENS, &tokens, 2, args))
        return dpc_portal_db_error(q);
    return dpc_portal_page(q, HTTP_OK, dpc_db_col(q->r, db, org, ORG_NAME), dpc_html_fmt(q->r->pool,
        "<dl class=\"facts\"><dt>Org ID</dt><dd><code id=\"org-id\">%s</code></dd>"
        "<dt>NPI</dt><dd><code>%s</code></dd>"
        "<dt>API</dt><dd><code>%s</code></dd></dl>"
        "<section aria-labelledby=\"keys\"><h2 id=\"keys\">Public Keys</h2>"
        "<p><a class=\"button\" href=\"%s/org/%s/key/new\">Add New Key</a></p>"
        "<table><thead><tr><th scope=\"col\">Label</th><th scope=\"col\">Key ID</th>"
        "<th scope=\"col\">Algorithm</th><th scope=\"col\">Added</th><th scope=\"col\">"
        "<span class=\"visually-hidden\">Actions</span></th></tr></thead><tbody>%r</tbody>"
        "</table></section>"
        "<section aria-labelledby=\"tokens\"><h2 id=\"tokens\">Client Tokens</h2>"
        "<p><a class=\"button\" href=\"%s/org/%s/token/new\">Add New Token</a></p>"
        "<table><thead><tr><th scope=\"col\">Label</th><th scope=\"col\">Token ID</th>"
        "<th scope=\"col\">Created</th><th scope=\"col\">Expires</th><th scope=\"col\">"
        "<span class=\"visually-hidden\">Actions</span></th></tr></thead><tbody>%r</tbody>"
        "</table></section>",
        dpc_db_col(q->r, db, org, ORG_ID), dpc_db_col(q->r, db, org, ORG_NPI),
        dpc_portal_api_url(q), q->base, q->id[0], key_rows(q, db, keys), q->base, q->id[0],
        token_rows(q, db, tokens)));
}

/* ---- public keys ------------------------------------------------------------------ */

static int key_page(dpc_portal_req *q, int status, const char *org_name, const char *err)
{
    return dpc_portal_page(q, status, "Add Public Key", dpc_html_fmt(q->r->pool,
        "<p>For <strong>%s</strong></p>"
        "<details><summary>How to generate a public key and signature</summary>"
        "<ol><li>Make a key pair (RSA of 4096 bits, or EC on P-384) and keep the private key "
        "on your machine:<pre><code>openssl genpkey -algorithm RSA -pkeyopt "
        "rsa_keygen_bits:4096 -out private.pem\n"
        "openssl pkey -in private.pem -pubout -out public.pem</code></pre></li>"
        "<li>Save the snippet below to a file with no line break at its end "
        "(<a href=\"%s/assets/snippet.txt\" download>download snippet.txt</a>):"
        "<pre><code>%s</code></pre></li>"
        "<li>Sign it with the private key:<pre><code>openssl dgst -sha256 -sign private.pem "
        "snippet.txt | openssl base64 -A &gt; signature.txt</code></pre></li>"
        "<li>Paste public.pem and signature.txt below. (<code>dpc-client keygen --out "
        "PREFIX</code> writes all three files at once: PREFIX.pem, PREFIX.pub.pem, "
        "PREFIX.sig.)</li></ol></details>%r"
        "<form method=\"post\" action=\"%s/org/%s/key/new\" class=\"stack\">%r"
        "<label for=\"label\">Label (1 to 25 characters)</label>"
        "<input id=\"label\" name=\"label\" maxlength=\"25\" required value=\"%s\">"
        "<label for=\"public_key\">Public Key (PEM)</label>"
        "<textarea id=\"public_key\" name=\"public_key\" rows=\"8\" required "
        "spellcheck=\"false\">%s</textarea>"
        "<label for=\"signature\">Public Key Signature (base64)</label>"
        "<textarea id=\"signature\" name=\"signature\" rows=\"4\" required "
        "spellcheck=\"false\">%s</textarea>"
        "<button type=\"submit\">Add Key</button></form>",
        org_name, q->base, DPC_PKEY_SNIPPET, error_note(q, err), q->base, q->id[0],
        dpc_portal_csrf_field(q), dpc_portal_field(q, "label"),
        dpc_portal_field(q, "public_key"), dpc_portal_field(q, "signature")));
}

int dpc_portal_key_form(dpc_portal_req *q)
{
    apr_dbd_row_t *org;
    ap_dbd_t *db;
    int status;

    if (!(org = own_org(q, &db, &status)))
        return status;
    return key_page(q, HTTP_OK, dpc_db_col(q->r, db, org, ORG_NAME), NULL);
}

/* The key of the form, checked as POST /Key checks it: NULL with *err. */
static dpc_pkey_t *form_key(dpc_portal_req *q, const char **err)
{
    const char *pem = dpc_portal_field(q, "public_key"), *sig = dpc_portal_field(q, "signature");
    dpc_pkey_t *key;

    if (!dpc_label_valid(dpc_portal_field(q, "label"), KEY_LABEL_MAX)) {
        *err = "label: 1 to 25 characters, not only spaces";
        return NULL;
    }
    if (dpc_pkey_parse(q->r->pool, pem, strlen(pem), dpc_conf_key_min_bits(dpc_srv(q->r->server)),
                       &key, err) != DPC_PKEY_OK) {
        *err = apr_pstrcat(q->r->pool, "public key: ", *err, NULL);
        return NULL;
    }
    if (!*sig) {
        *err = "signature: paste the base64 signature of the snippet";
        return NULL;
    }
    if (dpc_pkey_verify_pop(q->r->pool, key->pkey, sig, err) != DPC_PKEY_OK) {
        *err = apr_pstrcat(q->r->pool, "signature: ", *err, NULL);
        return NULL;
    }
    return key;
}

int dpc_portal_key_add(dpc_portal_req *q)
{
    const char *err = NULL, *args[6], *name;
    apr_dbd_results_t *res;
    apr_dbd_row_t *org, *row;
    dpc_pkey_t *key;
    ap_dbd_t *db;
    int status;

    if (!(org = own_org(q, &db, &status)))
        return status;
    name = dpc_db_col(q->r, db, org, ORG_NAME);
    if (!(key = form_key(q, &err)))
        return key_page(q, HTTP_BAD_REQUEST, name, err);
    args[0] = dpc_portal_field(q, "label");
    args[1] = dpc_alg_name(key->alg);
    args[2] = key->pem;
    args[3] = key->fingerprint;
    args[4] = q->user;
    args[5] = q->id[0];
    if (dpc_db_select(q->r, db, DPC_Q_KEY_ADD, &res, 6, args))
        return dpc_portal_db_error(q);
    if (!(row = dpc_db_row(q->r, db, res, 0)))
        return key_page(q, HTTP_CONFLICT, name, "public key: this key is already registered; "
                        "make a new key pair");
    dpc_audit_note(q->r, "portal.key_added", apr_pstrcat(q->r->pool, "account:", q->user, NULL),
                   q->id[0], json_pack("{s:s}", "key", dpc_db_col(q->r, db, row, 0)));
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, q->r, DPCLOGNO(00207)
                  "portal: account %s added public key %s (%s) to organization %s", q->user,
                  dpc_db_col(q->r, db, row, 0), args[1], q->id[0]);
    return dpc_portal_redirect(q, apr_pstrcat(q->r->pool, "/org/", q->id[0], NULL));
}

/* Delete a key or token (label) of the team's organization. */
static int delete_cred(dpc_portal_req *q, const char *label, const char *what)
{
    const char *args[3];
    ap_dbd_t *db;
    int n;

    if (!dpc_uuid_is_valid(q->id[0]) || !dpc_uuid_is_valid(q->id[1]))
        return dpc_portal_not_found(q);
    args[0] = q->id[1];
    args[1] = q->id[0];
    args[2] = q->user;
    if (!(db = dpc_db(q->r)) || dpc_db_query(q->r, db, label, &n, 3, args))
        return dpc_portal_db_error(q);
    if (!n)
        return dpc_portal_not_found(q);
    dpc_audit_note(q->r, "portal.credential_deleted",
                   apr_pstrcat(q->r->pool, "account:", q->user, NULL), q->id[0],
                   json_pack("{s:s, s:s}", "kind", what, "id", q->id[1]));
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, q->r, DPCLOGNO(00208)
                  "portal: account %s deleted %s %s of organization %s", q->user, what,
                  q->id[1], q->id[0]);
    return dpc_portal_redirect(q, apr_pstrcat(q->r->pool, "/org/", q->id[0], NULL));
}

int dpc_portal_key_delete(dpc_portal_req *q)
{
    return delete_cred(q, DPC_Q_KEY_DEL, "public key");
}

/* ---- client tokens ---------------------------------------------------------------- */

static int token_page(dpc_portal_req *q, int status, const char *org_name, const char *err)
{
    return dpc_portal_page(q, status, "Add Client Token", dpc_html_fmt(q->r->pool,
        "<p>For <strong>%s</strong>. Use a different client token for each provider "
        "organization you serve.</p>%r"
        "<form method=\"post\" action=\"%s/org/%s/token/new\" class=\"stack\">%r"
        "<label for=\"label\">Label (1 to 100 characters; name the environment)</label>"
        "<input id=\"label\" name=\"label\" maxlength=\"100\" required value=\"%s\">"
        "<label for=\"expires\">Expires on (optional, UTC; at most %d days ahead)</label>"
        "<input id=\"expires\" name=\"expires\" type=\"date\" value=\"%s\">"
        "<button type=\"submit\">Create Token</button></form>",
        org_name, error_note(q, err), q->base, q->id[0], dpc_portal_csrf_field(q),
        dpc_portal_field(q, "label"),
        (int)(apr_time_sec(dpc_conf_client_token_lifetime(dpc_srv(q->r->server))) / 86400),
        dpc_portal_field(q, "expires")));
}

int dpc_portal_token_form(dpc_portal_req *q)
{
    apr_dbd_row_t *org;
    ap_dbd_t *db;
    int status;

    if (!(org = own_org(q, &db, &status)))
        return status;
    return token_page(q, HTTP_OK, dpc_db_col(q->r, db, org, ORG_NAME), NULL);
}

/* When the token expires: the start of the date given (UTC), or the
 * longest lifetime; within (now, now + lifetime].  0, or -1 with *err. */
static int form_expiry(dpc_portal_req *q, apr_time_t *exp, const char **err)
{
    apr_interval_time_t max = dpc_conf_client_token_lifetime(dpc_srv(q->r->server));
    const char *v = dpc_portal_field(q, "expires"), *why;

    if (!*v) {
        *exp = q->r->request_time + max;
        return 0;
    }
    if (strlen(v) != 10
        || dpc_instant_parse(apr_pstrcat(q->r->pool, v, "T00:00:00Z", NULL), exp, &why)) {
        *err = "expires: a date such as 2027-01-31";
        return -1;
    }
    if (*exp <= q->r->request_time || *exp > q->r->request_time + max) {
        *err = apr_psprintf(q->r->pool, "expires: a date after today and at most %d days "
                            "ahead", (int)(apr_time_sec(max) / 86400));
        return -1;
    }
    return 0;
}

int dpc_portal_token_add(dpc_portal_req *q)
{
    const char *err = NULL, *args[5], *token, *name;
    apr_dbd_results_t *res;
    apr_dbd_row_t *org, *row;
    apr_time_t exp;
    ap_dbd_t *db;
    int status;

    if (!(org = own_org(q, &db, &status)))
        return status;
    name = dpc_db_col(q->r, db, org, ORG_NAME);
    if (!dpc_label_valid(dpc_portal_field(q, "label"), TOKEN_LABEL_MAX))
        return token_page(q, HTTP_BAD_REQUEST, name, "label: 1 to 100 characters, not only "
                          "spaces");
    if (form_expiry(q, &exp, &err))
        return token_page(q, HTTP_BAD_REQUEST, name, err);
    if (dpc_client_token_generate(q->r->pool, &token) != APR_SUCCESS)
        return dpc_portal_db_error(q);
    args[0] = dpc_portal_field(q, "label");
    args[1] = dpc_client_token_hash(q->r->pool, token);
    args[2] = apr_psprintf(q->r->pool, "%" APR_TIME_T_FMT, apr_time_sec(exp));
    args[3] = q->user;
    args[4] = q->id[0];
    if (dpc_db_select(q->r, db, DPC_Q_TOKEN_ADD, &res, 5, args)
        || !(row = dpc_db_row(q->r, db, res, 0)))
        return dpc_portal_db_error(q);
    dpc_audit_note(q->r, "portal.client_token_added",
                   apr_pstrcat(q->r->pool, "account:", q->user, NULL), q->id[0],
                   json_pack("{s:s}", "client_token", dpc_db_col(q->r, db, row, 0)));
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, q->r, DPCLOGNO(00209)
                  "portal: account %s created client token %s of organization %s", q->user,
                  dpc_db_col(q->r, db, row, 0), q->id[0]);
    /* shown this once; only its hash is stored */
    return dpc_portal_page(q, HTTP_CREATED, "Client Token Created", dpc_html_fmt(q->r->pool,
        "<p role=\"status\">Copy and save this client token now: it is shown only once. It "
        "expires %s.</p>"
        "<p><code id=\"client-token\" class=\"secret\">%s</code> "
        "<button type=\"button\" class=\"copy\" data-copy=\"client-token\">Copy</button></p>"
        "<p>Token ID <code>%s</code>, label %s.</p>"
        "<p><a class=\"button\" href=\"%s/org/%s\">Back to %s</a></p>",
        dpc_db_col(q->r, db, row, 1), token, dpc_db_col(q->r, db, row, 0), args[0], q->base,
        q->id[0], name));
}

int dpc_portal_token_delete(dpc_portal_req *q)
{
    return delete_cred(q, DPC_Q_TOKEN_DEL, "client token");
}
