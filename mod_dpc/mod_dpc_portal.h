/* mod_dpc_portal.h: the Sandbox Portal (DPCPortal in a <Location>).
 *
 * Who is signed in is httpd's business: the portal reads r->user, set by
 * whatever authentication the <Location> has (the sandbox: mod_auth_form
 * with mod_session and mod_authn_dbd over portal_account).  Pages are
 * server-rendered HTML; every POST carries a CSRF token bound to a cookie
 * of ours; every query is scoped to the signed-in account's team, and
 * another team's ids answer 404.  Static files (CSS, the JWT Tool) are
 * below {base}/assets/ and served by httpd itself.
 */
#ifndef MOD_DPC_PORTAL_H
#define MOD_DPC_PORTAL_H

#include "mod_dpc_db.h"

#define DPC_PORTAL_HANDLER "dpc-portal"

extern int dpc_portal_configured;   /* some <Location> has DPCPortal On */
extern const dpc_statement dpc_portal_statements[];

/* Hooks (registered in mod_dpc.c). */
int dpc_portal_translate(request_rec *r);
int dpc_portal_map_to_storage(request_rec *r);
int dpc_portal_fixups(request_rec *r);
int dpc_portal_handler(request_rec *r);
int dpc_portal_log(request_rec *r);

/* ---- shared by the page files --------------------------------------------- */

/* One portal request: what the pages need. */
typedef struct dpc_portal_req {
    request_rec *r;
    const char *base;           /* the portal's base path ("/portal") */
    const char *user;           /* r->user, or NULL on public pages */
    const char *csrf;           /* the token this page's forms carry */
    apr_table_t *form;          /* a POST's fields, after the CSRF check */
    const char *id[2];          /* the route's "*" segments */
} dpc_portal_req;

typedef int dpc_portal_fn(dpc_portal_req *q);

/* Send a whole page: the shell (head, navigation, main) around body, which
 * is trusted HTML made with dpc_html_fmt.  Returns OK. */
int dpc_portal_page(dpc_portal_req *q, int status, const char *title, const char *body);
/* A page whose body is one message (escaped), with a link back. */
int dpc_portal_message(dpc_portal_req *q, int status, const char *title,
                       const char *msg);
/* 303 See Other to base + path (path starts with '/'). */
int dpc_portal_redirect(dpc_portal_req *q, const char *path);
/* The 404 page every foreign or unknown id gets. */
int dpc_portal_not_found(dpc_portal_req *q);
/* The page after a database failure (already logged). */
int dpc_portal_db_error(dpc_portal_req *q);
/* A form's field, or "" when absent. */
const char *dpc_portal_field(dpc_portal_req *q, const char *name);
/* The hidden CSRF field every form starts with. */
const char *dpc_portal_csrf_field(dpc_portal_req *q);
/* The DPC v2 API's base URL as clients see it (DPCPortalAPI, made absolute
 * with this server's own name and port, never the Host header). */
const char *dpc_portal_api_url(dpc_portal_req *q);
/* The absolute URL of a portal path (path starts with '/'), named the same
 * way: what redirects and invite links use. */
const char *dpc_portal_url(dpc_portal_req *q, const char *path);

/* The pages (mod_dpc_portal_account.c, mod_dpc_portal_org.c). */
dpc_portal_fn dpc_portal_login, dpc_portal_signup_form, dpc_portal_signup,
    dpc_portal_invite_form, dpc_portal_invite_accept, dpc_portal_home,
    dpc_portal_team, dpc_portal_invite, dpc_portal_password_form,
    dpc_portal_password;
dpc_portal_fn dpc_portal_org_form, dpc_portal_org_add, dpc_portal_org,
    dpc_portal_key_form, dpc_portal_key_add, dpc_portal_key_delete,
    dpc_portal_token_form, dpc_portal_token_add, dpc_portal_token_delete;

/* The statements of each page file, gathered into dpc_portal_statements. */
extern const dpc_statement dpc_portal_account_statements[];
extern const dpc_statement dpc_portal_org_statements[];

#endif
