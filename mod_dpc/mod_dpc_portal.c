/* mod_dpc_portal.c: the Sandbox Portal's hooks, its route table, the page
 * shell, forms and CSRF tokens.  The pages are in mod_dpc_portal_account.c
 * (sign-in, sign-up, team, password) and mod_dpc_portal_org.c (provider
 * organizations, keys, client tokens). */
#include "mod_dpc_portal.h"

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>
#include <util_cookies.h>
#include <util_script.h>

#include "dpc_log.h"
#include "dpc_portal.h"
#include "mod_dpc_respond.h"

int dpc_portal_configured;

#define CSRF_COOKIE "dpc_csrf"
#define FORM_LIMIT (64 * 1024)
#define FORM_LOGIN_HANDLER "form-login-handler"
#define FORM_LOGOUT_HANDLER "form-logout-handler"
/* a refusal decided in fixups, rendered by our handler */
#define NOTE_REFUSAL "dpc-portal-refusal"
/* failed sign-ins from one address count for this long */
#define FAILURE_WINDOW "15 minutes"

#define DPC_Q_LOGIN_FAILURES "dpc_portal_login_failures"
#define DPC_Q_LOGIN_FAILED "dpc_portal_login_failed"

const dpc_statement dpc_portal_statements[] = {
    { DPC_Q_LOGIN_FAILURES,
      "SELECT count(*), coalesce(extract(epoch from now() - max(at))::bigint, 0)"
      " FROM portal_login_failure WHERE client = %s"
      " AND at > now() - interval '" FAILURE_WINDOW "'" },
    { DPC_Q_LOGIN_FAILED,
      "WITH old AS (DELETE FROM portal_login_failure WHERE at < now() - interval '1 day')"
      " INSERT INTO portal_login_failure (client) VALUES (%s)" },
    { NULL, NULL }
};
enum { FAIL_COUNT, FAIL_SINCE };

/* ---- routes ------------------------------------------------------------------ */

/* A route: method, path below the base ('*' is one segment), whether it is
 * public (no r->user needed), and its page. */
typedef struct portal_route {
    int method;
    const char *path;
    int public;
    dpc_portal_fn *fn;
} portal_route;

static const portal_route routes[] = {
    { M_GET, "/login", 1, dpc_portal_login },
    { M_GET, "/signup", 1, dpc_portal_signup_form },
    { M_POST, "/signup", 1, dpc_portal_signup },
    { M_GET, "/invite/*", 1, dpc_portal_invite_form },
    { M_POST, "/invite/*", 1, dpc_portal_invite_accept },
    { M_GET, "/", 0, dpc_portal_home },
    { M_GET, "/team", 0, dpc_portal_team },
    { M_POST, "/team/invite", 0, dpc_portal_invite },
    { M_GET, "/password", 0, dpc_portal_password_form },
    { M_POST, "/password", 0, dpc_portal_password },
    { M_GET, "/org/new", 0, dpc_portal_org_form },
    { M_POST, "/org/new", 0, dpc_portal_org_add },
    { M_GET, "/org/*", 0, dpc_portal_org },
    { M_GET, "/org/*/key/new", 0, dpc_portal_key_form },
    { M_POST, "/org/*/key/new", 0, dpc_portal_key_add },
    { M_POST, "/org/*/key/*/delete", 0, dpc_portal_key_delete },
    { M_GET, "/org/*/token/new", 0, dpc_portal_token_form },
    { M_POST, "/org/*/token/new", 0, dpc_portal_token_add },
    { M_POST, "/org/*/token/*/delete", 0, dpc_portal_token_delete },
    { 0, NULL, 0, NULL }
};

/* Does path match pattern?  Fills id[] with the '*' segments. */
static int route_match(apr_pool_t *p, const char *pattern, const char *path,
                       const char *id[2])
{
    int n = 0;

    while (*pattern && *path) {
        if (*pattern == '*') {
            const char *end = strchr(path, '/');
            apr_size_t len = end ? (apr_size_t)(end - path) : strlen(path);

            if (!len || n >= 2)
                return 0;
            id[n++] = apr_pstrmemdup(p, path, len);
            path += len;
            pattern++;
        }
        else if (*pattern++ != *path++)
            return 0;
    }
    return !*pattern && !*path;
}

/* The route for this request: NULL with *status 404 or 405. */
static const portal_route *find_route(dpc_portal_req *q, const char *path, int *status)
{
    const portal_route *rt;

    *status = HTTP_NOT_FOUND;
    for (rt = routes; rt->path; rt++) {
        if (!route_match(q->r->pool, rt->path, path, q->id))
            continue;
        if (rt->method == q->r->method_number)
            return rt;
        *status = HTTP_METHOD_NOT_ALLOWED;
    }
    return NULL;
}

/* The path below the portal's base ("/" for the base itself), or NULL. */
static const char *portal_path(request_rec *r)
{
    const char *base = dpc_dir(r)->portal.base_path;
    size_t n = strlen(base);

    if (strcmp(base, "/") == 0)
        return r->uri;
    if (strncmp(r->uri, base, n) || (r->uri[n] && r->uri[n] != '/'))
        return NULL;
    return r->uri[n] ? r->uri + n : "/";
}

static int is_asset(const char *path)
{
    return !strncmp(path, "/assets/", 8);
}

/* ---- hooks ------------------------------------------------------------------- */

int dpc_portal_translate(request_rec *r)
{
    const char *path;

    if (!dpc_conf_portal(dpc_dir(r)) || !(path = portal_path(r)) || is_asset(path))
        return DECLINED;
    r->filename = apr_pstrcat(r->pool, "dpc-portal:", r->uri, NULL);
    r->handler = DPC_PORTAL_HANDLER;
    return OK;
}

int dpc_portal_map_to_storage(request_rec *r)
{
    return r->handler && !strcmp(r->handler, DPC_PORTAL_HANDLER) ? OK : DECLINED;
}

/* The browser's CSRF nonce: the cookie's, else a new one, set now. */
static const char *csrf_nonce(request_rec *r, int make)
{
    const char *v = NULL, *attrs;
    dpc_dir_conf *d = dpc_dir(r);

    if ((v = apr_table_get(r->notes, CSRF_COOKIE)) != NULL)
        return v;
    if (ap_cookie_read(r, CSRF_COOKIE, &v, 0) != APR_SUCCESS || !dpc_csrf_nonce_valid(v)) {
        if (!make || dpc_csrf_nonce(r->pool, &v) != APR_SUCCESS)
            return NULL;
        attrs = apr_pstrcat(r->pool, "path=", d->portal.base_path, ";HttpOnly;SameSite=Strict",
                            strcmp(ap_http_scheme(r), "https") ? "" : ";Secure", NULL);
        ap_cookie_write(r, CSRF_COOKIE, v, attrs, 0, r->err_headers_out, NULL);
    }
    apr_table_setn(r->notes, CSRF_COOKIE, v);
    return v;
}

static int csrf_ok(request_rec *r, const char *token)
{
    dpc_srv_conf *c = dpc_srv(r->server);

    return dpc_csrf_check(r->pool, c->secret, c->secret_len, csrf_nonce(r, 0), token);
}

static const char *content_security_policy(request_rec *r)
{
    const char *api = dpc_conf_portal_api(dpc_dir(r)), *origin = "";

    /* an API on another origin is where the JWT Tool exchanges its JWT */
    if (!strncmp(api, "http://", 7) || !strncmp(api, "https://", 8)) {
        const char *slash = strchr(strstr(api, "//") + 2, '/');
        origin = apr_pstrcat(r->pool, " ", slash ? apr_pstrmemdup(r->pool, api, (apr_size_t)(slash - api))
                                                 : api, NULL);
    }
    return apr_pstrcat(r->pool, "default-src 'none'; script-src 'self'; style-src 'self'; "
                       "img-src 'self'; connect-src 'self'", origin, "; form-action 'self'; "
                       "frame-ancestors 'none'; base-uri 'none'", NULL);
}

/* A sign-in may go ahead: 0, or the seconds this address must still wait
 * after its recent failures (-1 when the database cannot tell: go ahead). */
static int login_wait(request_rec *r)
{
    const char *arg = r->useragent_ip;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;

    if (!(db = dpc_db(r)) || dpc_db_select(r, db, DPC_Q_LOGIN_FAILURES, &res, 1, &arg)
        || !(row = dpc_db_row(r, db, res, 0)))
        return -1;
    return dpc_portal_login_wait(atoi(dpc_db_col(r, db, row, FAIL_COUNT)),
                                 apr_atoi64(dpc_db_col(r, db, row, FAIL_SINCE)));
}

/* Our handler renders a refusal decided here. */
static int refuse(request_rec *r, const char *why)
{
    apr_table_setn(r->notes, NOTE_REFUSAL, why);
    r->handler = DPC_PORTAL_HANDLER;
    return OK;
}

/* Every response below the portal gets the security headers; the POSTs
 * that mod_auth_form handles (sign-in, sign-out) carry their CSRF token in
 * the query, since that module reads the body; sign-ins are slowed after
 * repeated failures. */
int dpc_portal_fixups(request_rec *r)
{
    int wait;

    if (!dpc_conf_portal(dpc_dir(r)) || !portal_path(r))
        return DECLINED;
    apr_table_setn(r->err_headers_out, "Content-Security-Policy", content_security_policy(r));
    apr_table_setn(r->err_headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->err_headers_out, "X-Frame-Options", "DENY");
    apr_table_setn(r->err_headers_out, "Referrer-Policy", "no-referrer");
    if (!r->handler || !strcmp(r->handler, DPC_PORTAL_HANDLER)
        || (strcmp(r->handler, FORM_LOGIN_HANDLER) && strcmp(r->handler, FORM_LOGOUT_HANDLER)))
        return DECLINED;
    if (r->method_number != M_POST)
        return refuse(r, "method");
    if (!csrf_ok(r, dpc_query_param(r, "csrf")))
        return refuse(r, "csrf");
    if (!strcmp(r->handler, FORM_LOGIN_HANDLER) && (wait = login_wait(r)) > 0)
        return refuse(r, apr_itoa(r->pool, wait));
    return DECLINED;
}

/* Did mod_auth_form refuse this sign-in?  It names the user either way;
 * a refusal sends the browser to AuthFormLoginRequiredLocation, which the
 * portal's configuration sets to {base}/login?failed=1 (the login page shows
 * why from that same parameter). */
static int login_failed(request_rec *r)
{
    const char *to = apr_table_get(r->headers_out, "Location");
    const char *login = apr_pstrcat(r->pool, dpc_dir(r)->portal.base_path, "/login?", NULL);

    if (r->status == HTTP_UNAUTHORIZED)
        return 1;
    if (!to)
        return 0;
    if (!strncmp(to, "http://", 7) || !strncmp(to, "https://", 8))
        to = (to = strchr(strstr(to, "//") + 2, '/')) ? to : "";
    return !strncmp(to, login, strlen(login)) && strstr(to, "failed");
}

/* Count a failed sign-in of this client address. */
int dpc_portal_log(request_rec *r)
{
    const char *arg = r->useragent_ip;
    ap_dbd_t *db;
    int n;

    if (!r->handler || strcmp(r->handler, FORM_LOGIN_HANDLER) || r->method_number != M_POST
        || !dpc_conf_portal(dpc_dir(r)) || !login_failed(r))
        return DECLINED;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, DPCLOGNO(00200)
                  "portal: failed sign-in as %s from %s", r->user ? r->user : "-",
                  r->useragent_ip);
    if ((db = dpc_db(r)) != NULL)
        dpc_db_query(r, db, DPC_Q_LOGIN_FAILED, &n, 1, &arg);
    return DECLINED;
}

/* ---- forms ------------------------------------------------------------------- */

/* Read a urlencoded body into q->form: OK, or an HTTP status. */
static int read_form(dpc_portal_req *q)
{
    apr_array_header_t *pairs = NULL;
    request_rec *r = q->r;

    q->form = apr_table_make(r->pool, 8);
    if (!dpc_content_type_is(r, "application/x-www-form-urlencoded"))
        return HTTP_UNSUPPORTED_MEDIA_TYPE;
    if (ap_parse_form_data(r, NULL, &pairs, 32, FORM_LIMIT) != OK || !pairs)
        return HTTP_BAD_REQUEST;
    while (pairs->nelts) {
        ap_form_pair_t *pair = (ap_form_pair_t *)apr_array_pop(pairs);
        apr_off_t len;
        apr_size_t size;
        char *buf;

        apr_brigade_length(pair->value, 1, &len);
        size = (apr_size_t)len;
        buf = apr_palloc(r->pool, size + 1);
        apr_brigade_flatten(pair->value, buf, &size);
        buf[size] = '\0';
        if (strlen(buf) != size)
            return HTTP_BAD_REQUEST;    /* a NUL inside a field */
        apr_table_setn(q->form, pair->name, buf);
    }
    return OK;
}

const char *dpc_portal_field(dpc_portal_req *q, const char *name)
{
    const char *v = q->form ? apr_table_get(q->form, name) : NULL;

    return v ? v : "";
}

const char *dpc_portal_csrf_field(dpc_portal_req *q)
{
    return dpc_html_fmt(q->r->pool, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">",
                        q->csrf);
}

/* scheme://host[:port] of this server as it names itself (ServerName and
 * the port, never the Host header: mod_dpc_respond.c's dpc_base_url). */
static const char *own_origin(request_rec *r)
{
    apr_port_t port = r->server->port ? r->server->port : r->connection->local_addr->port;

    if (port == ap_default_port(r))
        return apr_pstrcat(r->pool, ap_http_scheme(r), "://", r->server->server_hostname, NULL);
    return apr_psprintf(r->pool, "%s://%s:%u", ap_http_scheme(r), r->server->server_hostname,
                        (unsigned)port);
}

const char *dpc_portal_api_url(dpc_portal_req *q)
{
    const char *api = dpc_conf_portal_api(dpc_dir(q->r));

    if (!strncmp(api, "http://", 7) || !strncmp(api, "https://", 8))
        return api;
    return apr_pstrcat(q->r->pool, own_origin(q->r), api, NULL);
}

const char *dpc_portal_url(dpc_portal_req *q, const char *path)
{
    return apr_pstrcat(q->r->pool, own_origin(q->r), q->base, path, NULL);
}

/* ---- responses --------------------------------------------------------------- */

static const char *nav(dpc_portal_req *q)
{
    apr_pool_t *p = q->r->pool;

    if (!q->user)
        return "";
    return dpc_html_fmt(p,
        "<nav aria-label=\"Portal\"><ul>"
        "<li><a href=\"%s/\">Home</a></li>"
        "<li><a href=\"%s/team\">Team</a></li>"
        "<li><a href=\"%s/assets/jwt.html\">JWT Tool</a></li>"
        "<li><a href=\"%s/password\">Password</a></li>"
        "<li><form method=\"post\" action=\"%s/logout?csrf=%s\">%r"
        "<button type=\"submit\" class=\"link\">Sign out</button></form></li>"
        "</ul><p class=\"who\">Signed in as %s</p></nav>",
        q->base, q->base, q->base, q->base, q->base, q->csrf, dpc_portal_csrf_field(q),
        q->user);
}

int dpc_portal_page(dpc_portal_req *q, int status, const char *title, const char *body)
{
    request_rec *r = q->r;
    const char *html = dpc_html_fmt(r->pool,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>%s - DPC Sandbox Portal</title>"
        "<link rel=\"stylesheet\" href=\"%s/assets/portal.css\">"
        "<script src=\"%s/assets/portal.js\" defer></script></head>\n<body>"
        "<a class=\"skip\" href=\"#main\">Skip to content</a>"
        "<header><p class=\"brand\"><a href=\"%s/\">DPC Sandbox Portal</a></p>%r</header>\n"
        "<main id=\"main\"><h1>%s</h1>\n%r</main>\n</body></html>\n",
        title, q->base, q->base, q->base, nav(q), title, body);

    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    return dpc_send_body(r, status, "text/html; charset=utf-8", html);
}

int dpc_portal_message(dpc_portal_req *q, int status, const char *title, const char *msg)
{
    return dpc_portal_page(q, status, title, dpc_html_fmt(q->r->pool,
        "<p role=\"alert\">%s</p><p><a href=\"%s/\">Back to the portal</a></p>", msg, q->base));
}

int dpc_portal_redirect(dpc_portal_req *q, const char *path)
{
    apr_table_setn(q->r->headers_out, "Location", dpc_portal_url(q, path));
    return HTTP_SEE_OTHER;
}

int dpc_portal_not_found(dpc_portal_req *q)
{
    return dpc_portal_message(q, HTTP_NOT_FOUND, "Not found",
                              "There is no such page, or it is not your team's.");
}

int dpc_portal_db_error(dpc_portal_req *q)
{
    return dpc_portal_message(q, HTTP_SERVICE_UNAVAILABLE, "Try again",
                              "The portal could not reach its database; try again in a "
                              "moment.");
}

/* A refusal decided in fixups: a forged or stale form, a GET sign-out, or a
 * sign-in too soon after repeated failures. */
static int send_refusal(dpc_portal_req *q, const char *why)
{
    ap_discard_request_body(q->r);
    if (!strcmp(why, "csrf"))
        return dpc_portal_message(q, HTTP_FORBIDDEN, "Form refused",
                                  "This form has expired or came from another site. "
                                  "Reload the page and try again.");
    if (!strcmp(why, "method")) {
        apr_table_setn(q->r->headers_out, "Allow", "POST");
        return dpc_portal_message(q, HTTP_METHOD_NOT_ALLOWED, "Not allowed",
                                  "Use the form's button.");
    }
    apr_table_setn(q->r->err_headers_out, "Retry-After", why);
    return dpc_portal_message(q, HTTP_TOO_MANY_REQUESTS, "Too many attempts",
                              apr_psprintf(q->r->pool, "Too many failed sign-ins from your "
                                           "address: wait %s seconds before trying again.",
                                           why));
}

static int dispatch(dpc_portal_req *q, const char *path)
{
    const portal_route *rt;
    int status, rv;

    if (!(rt = find_route(q, path, &status))) {
        if (status == HTTP_METHOD_NOT_ALLOWED)
            return dpc_portal_message(q, status, "Not allowed",
                                      "This page does not take that method.");
        return dpc_portal_not_found(q);
    }
    if (!rt->public && !q->user)
        return dpc_portal_message(q, HTTP_FORBIDDEN, "Sign in first",
                                  "This page needs a signed-in account.");
    if (rt->method == M_POST) {
        if ((rv = read_form(q)) != OK)
            return dpc_portal_message(q, rv, "Form refused",
                                      "The form could not be read (too large, or not a "
                                      "form).");
        if (!csrf_ok(q->r, dpc_portal_field(q, "csrf")))
            return dpc_portal_message(q, HTTP_FORBIDDEN, "Form refused",
                                      "This form has expired or came from another site. "
                                      "Reload the page and try again.");
    }
    return rt->fn(q);
}

int dpc_portal_handler(request_rec *r)
{
    dpc_portal_req q;
    const char *why, *path;
    dpc_srv_conf *c = dpc_srv(r->server);

    if (!r->handler || strcmp(r->handler, DPC_PORTAL_HANDLER)
        || !dpc_conf_portal(dpc_dir(r)) || !(path = portal_path(r)))
        return DECLINED;
    memset(&q, 0, sizeof(q));
    q.r = r;
    q.base = dpc_dir(r)->portal.base_path;
    if (!strcmp(q.base, "/"))
        q.base = "";
    q.user = r->user && *r->user ? r->user : NULL;
    q.csrf = c->secret ? dpc_csrf_token(r->pool, c->secret, c->secret_len, csrf_nonce(r, 1))
                       : NULL;
    if (!q.csrf) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, DPCLOGNO(00201)
                      "portal: no CSRF token (DPCTokenSecretFile not loaded?)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if ((why = apr_table_get(r->notes, NOTE_REFUSAL)) != NULL)
        return send_refusal(&q, why);
    return dispatch(&q, path);
}
