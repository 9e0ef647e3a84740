/* mod_dpc_portal_account.c: the portal's account pages: sign-in (the form;
 * mod_auth_form checks it), sign-up, invites, the team, the password and
 * the home page.  Every change is logged at info level with the account
 * that made it. */
#include "mod_dpc_audit.h"
#include "mod_dpc_portal.h"

#include <http_protocol.h>
#include <apr_md5.h>
#include <apr_thread_proc.h>
#include <apr_strings.h>

#include "dpc_auth.h"
#include "dpc_log.h"
#include "dpc_portal.h"
#include "dpc_token.h"

#define TEAM_NAME_MAX 100
#define INVITE_DAYS "7"
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI \"UTC\"')"

#define DPC_Q_SIGNUP "dpc_portal_signup"
#define DPC_Q_TEAM "dpc_portal_team"
#define DPC_Q_MEMBERS "dpc_portal_members"
#define DPC_Q_INVITES "dpc_portal_invites"
#define DPC_Q_INVITE_ADD "dpc_portal_invite_add"
#define DPC_Q_INVITE_GET "dpc_portal_invite_get"
#define DPC_Q_ACCEPT "dpc_portal_accept"
#define DPC_Q_PW_GET "dpc_portal_pw_get"
#define DPC_Q_PW_SET "dpc_portal_pw_set"
#define DPC_Q_ORGS "dpc_portal_orgs"

const dpc_statement dpc_portal_account_statements[] = {
    { DPC_Q_SIGNUP, "SELECT dpc_portal_signup(%s, %s, %s)" },
    { DPC_Q_TEAM,
      "SELECT t.id, t.name FROM portal_account a JOIN portal_team t ON t.id = a.team_id"
      " WHERE a.email = lower(%s)" },
    { DPC_Q_MEMBERS,
      "SELECT m.email, " TS("m.created_at") " FROM portal_account a"
      " JOIN portal_account m ON m.team_id = a.team_id WHERE a.email = lower(%s)"
      " ORDER BY m.created_at, m.email" },
    { DPC_Q_INVITES,
      "SELECT i.email, " TS("i.expires_at") " FROM portal_account a"
      " JOIN portal_invite i ON i.team_id = a.team_id WHERE a.email = lower(%s)"
      " AND i.used_at IS NULL AND i.expires_at > now() ORDER BY i.created_at" },
    { DPC_Q_INVITE_ADD,
      "INSERT INTO portal_invite (team_id, email, token_hash, invited_by, expires_at)"
      " SELECT a.team_id, %s, %s, a.id, now() + interval '" INVITE_DAYS " days'"
      " FROM portal_account a WHERE a.email = lower(%s)"
      " AND NOT EXISTS (SELECT 1 FROM portal_account WHERE email = %s)"
      " RETURNING " TS("expires_at") },
    { DPC_Q_INVITE_GET,
      "SELECT i.email, t.name FROM portal_invite i JOIN portal_team t ON t.id = i.team_id"
      " WHERE i.token_hash = %s AND i.used_at IS NULL AND i.expires_at > now()" },
    { DPC_Q_ACCEPT, "SELECT dpc_portal_accept(%s, %s)" },
    { DPC_Q_PW_GET, "SELECT password_hash FROM portal_account WHERE email = lower(%s)" },
    { DPC_Q_PW_SET,
      "UPDATE portal_account SET password_hash = %s, password_at = now()"
      " WHERE email = lower(%s)" },
    { DPC_Q_ORGS,
      "SELECT o.id, o.name, o.npi FROM portal_account a"
      " JOIN portal_team_org t ON t.team_id = a.team_id"
      " JOIN organization o ON o.id = t.org_id WHERE a.email = lower(%s)"
      " ORDER BY o.created_at, o.id" },
    { NULL, NULL }
};
enum { TEAM_ID, TEAM_NAME };
enum { ORG_ID, ORG_NAME, ORG_NPI };

/* Run a SELECT with args; the first row (NULL when none), *db and *res set.
 * *failed is 1 after a database error (logged). */
static apr_dbd_row_t *first_row(dpc_portal_req *q, const char *label, int n,
                                const char **args, ap_dbd_t **db, apr_dbd_results_t **res,
                                int *failed)
{
    *failed = 0;
    if (!(*db = dpc_db(q->r)) || dpc_db_select(q->r, *db, label, res, n, args)) {
        *failed = 1;
        return NULL;
    }
    return dpc_db_row(q->r, *db, *res, 0);
}

static const char *error_note(dpc_portal_req *q, const char *err)
{
    return err ? dpc_html_fmt(q->r->pool, "<p class=\"error\" role=\"alert\">%s</p>", err) : "";
}

/* ---- sign-in ------------------------------------------------------------------ */

static const char *login_note(dpc_portal_req *q)
{
    const char *a = q->r->args ? q->r->args : "";

    if (strstr(a, "failed"))
        return error_note(q, "That email and password do not match an account.");
    if (strstr(a, "out"))
        return "<p class=\"note\" role=\"status\">You are signed out.</p>";
    if (strstr(a, "created"))
        return "<p class=\"note\" role=\"status\">Your account is ready: sign in.</p>";
    if (strstr(a, "changed"))
        return "<p class=\"note\" role=\"status\">Your password was changed: sign in "
               "with the new one.</p>";
    return "";
}

int dpc_portal_login(dpc_portal_req *q)
{
    dpc_dir_conf *d = dpc_dir(q->r);

    return dpc_portal_page(q, HTTP_OK, "Sign in", dpc_html_fmt(q->r->pool,
        "%r<form method=\"post\" action=\"%s/dologin?csrf=%s\" class=\"stack\">%r"
        "<label for=\"email\">Email</label>"
        "<input id=\"email\" name=\"httpd_username\" type=\"email\" autocomplete=\"username\" required>"
        "<label for=\"password\">Password</label>"
        "<input id=\"password\" name=\"httpd_password\" type=\"password\" "
        "autocomplete=\"current-password\" required>"
        "<button type=\"submit\">Sign in</button></form>%r",
        login_note(q), q->base, q->csrf, dpc_portal_csrf_field(q),
        dpc_conf_portal_signup(d)
            ? dpc_html_fmt(q->r->pool, "<p>New to the sandbox? <a href=\"%s/signup\">Sign up "
                           "for an account</a>. Joining a team? Ask a member for an invite.</p>",
                           q->base)
            : "<p>To join a team, ask one of its members for an invite.</p>"));
}

/* ---- sign-up ------------------------------------------------------------------ */

static int signup_page(dpc_portal_req *q, int status, const char *err)
{
    return dpc_portal_page(q, status, "Sign up", dpc_html_fmt(q->r->pool,
        "<p>The DPC Sandbox Portal is for Health IT teams. Signing up creates your team; "
        "invite your teammates from the Team page.</p>%r"
        "<form method=\"post\" action=\"%s/signup\" class=\"stack\">%r"
        "<label for=\"team\">Team (your organization's name)</label>"
        "<input id=\"team\" name=\"team\" maxlength=\"100\" required value=\"%s\">"
        "<label for=\"email\">Email</label>"
        "<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required "
        "value=\"%s\">"
        "<label for=\"password\">Password (12 characters or more)</label>"
        "<input id=\"password\" name=\"password\" type=\"password\" minlength=\"12\" "
        "autocomplete=\"new-password\" required>"
        "<label for=\"password2\">Password again</label>"
        "<input id=\"password2\" name=\"password2\" type=\"password\" minlength=\"12\" "
        "autocomplete=\"new-password\" required>"
        "<button type=\"submit\">Create account</button></form>"
        "<p>Have an account? <a href=\"%s/login\">Sign in</a>.</p>",
        error_note(q, err), q->base, dpc_portal_csrf_field(q), dpc_portal_field(q, "team"),
        dpc_portal_field(q, "email"), q->base));
}

int dpc_portal_signup_form(dpc_portal_req *q)
{
    if (!dpc_conf_portal_signup(dpc_dir(q->r)))
        return dpc_portal_not_found(q);
    return signup_page(q, HTTP_OK, NULL);
}

/* The new password of a form (fields password, password2): NULL with *err. */
static const char *new_password(dpc_portal_req *q, const char **err)
{
    const char *pw = dpc_portal_field(q, "password"), *hash;

    if (!dpc_portal_password_ok(pw, err))
        return NULL;
    if (strcmp(pw, dpc_portal_field(q, "password2"))) {
        *err = "the two passwords differ";
        return NULL;
    }
    if (dpc_portal_password_hash(q->r->pool, pw, &hash) != APR_SUCCESS) {
        *err = "the password could not be hashed; try again";
        return NULL;
    }
    return hash;
}

int dpc_portal_signup(dpc_portal_req *q)
{
    const char *team = dpc_portal_field(q, "team"), *email, *err = NULL, *args[3];
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    int failed;

    if (!dpc_conf_portal_signup(dpc_dir(q->r)))
        return dpc_portal_not_found(q);
    if (!dpc_label_valid(team, TEAM_NAME_MAX))
        return signup_page(q, HTTP_BAD_REQUEST, "team: 1 to 100 characters, not only spaces");
    if (!(email = dpc_portal_email(q->r->pool, dpc_portal_field(q, "email"), &err)))
        return signup_page(q, HTTP_BAD_REQUEST, apr_pstrcat(q->r->pool, "email: ", err, NULL));
    if (!(args[2] = new_password(q, &err)))
        return signup_page(q, HTTP_BAD_REQUEST, apr_pstrcat(q->r->pool, "password: ", err, NULL));
    args[0] = team;
    args[1] = email;
    row = first_row(q, DPC_Q_SIGNUP, 3, args, &db, &res, &failed);
    if (failed || !row)
        return dpc_portal_db_error(q);
    if (!dpc_db_col(q->r, db, row, 0))
        return signup_page(q, HTTP_CONFLICT, "an account with this email exists: sign in, "
                           "or ask your team for an invite");
    dpc_audit_note(q->r, "portal.signup", apr_pstrcat(q->r->pool, "account:", email, NULL),
                   NULL, json_pack("{s:s}", "team", team));
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, q->r, DPCLOGNO(00202)
                  "portal: account %s signed up, with a new team \"%s\"", email, team);
    return dpc_portal_redirect(q, "/login?created=1");
}

/* ---- invites -------------------------------------------------------------------- */

static int invite_page(dpc_portal_req *q, int status, const char *email, const char *team,
                       const char *err)
{
    return dpc_portal_page(q, status, "Join your team", dpc_html_fmt(q->r->pool,
        "<p>You are invited to join <strong>%s</strong> in the DPC Sandbox Portal as "
        "<strong>%s</strong>. Choose a password to create your account.</p>%r"
        "<form method=\"post\" action=\"%s/invite/%s\" class=\"stack\">%r"
        "<label for=\"password\">Password (12 characters or more)</label>"
        "<input id=\"password\" name=\"password\" type=\"password\" minlength=\"12\" "
        "autocomplete=\"new-password\" required>"
        "<label for=\"password2\">Password again</label>"
        "<input id=\"password2\" name=\"password2\" type=\"password\" minlength=\"12\" "
        "autocomplete=\"new-password\" required>"
        "<button type=\"submit\">Create account</button></form>",
        team, email, error_note(q, err), q->base, q->id[0], dpc_portal_csrf_field(q)));
}

/* The live invite of the link in q->id[0]: its row, or NULL (*status
 * sent). */
static apr_dbd_row_t *live_invite(dpc_portal_req *q, ap_dbd_t **db, int *status)
{
    const char *arg;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    int failed;

    if (!dpc_portal_invite_token_valid(q->id[0])) {
        *status = dpc_portal_not_found(q);
        return NULL;
    }
    arg = dpc_client_token_hash(q->r->pool, q->id[0]);
    row = first_row(q, DPC_Q_INVITE_GET, 1, &arg, db, &res, &failed);
    if (failed)
        *status = dpc_portal_db_error(q);
    else if (!row)
        *status = dpc_portal_message(q, HTTP_NOT_FOUND, "Invite not valid",
                                     "This invite link was already used, has expired, or "
                                     "never existed. Ask your team for a new one.");
    return row;
}

int dpc_portal_invite_form(dpc_portal_req *q)
{
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    int status;

    if (!(row = live_invite(q, &db, &status)))
        return status;
    return invite_page(q, HTTP_OK, dpc_db_col(q->r, db, row, 0), dpc_db_col(q->r, db, row, 1),
                       NULL);
}

int dpc_portal_invite_accept(dpc_portal_req *q)
{
    const char *err = NULL, *args[2], *email;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    int status, failed;

    if (!(row = live_invite(q, &db, &status)))
        return status;
    if (!(args[1] = new_password(q, &err)))
        return invite_page(q, HTTP_BAD_REQUEST, dpc_db_col(q->r, db, row, 0),
                           dpc_db_col(q->r, db, row, 1),
                           apr_pstrcat(q->r->pool, "password: ", err, NULL));
    args[0] = dpc_client_token_hash(q->r->pool, q->id[0]);
    row = first_row(q, DPC_Q_ACCEPT, 2, args, &db, &res, &failed);
    if (failed || !row)
        return dpc_portal_db_error(q);
    if (!(email = dpc_db_col(q->r, db, row, 0)))
        return dpc_portal_message(q, HTTP_CONFLICT, "Invite not valid",
                                  "This invite was used at the same moment, or its email "
                                  "has an account by now.");
    dpc_audit_note(q->r, "portal.invite_accepted",
                   apr_pstrcat(q->r->pool, "account:", email, NULL), NULL, NULL);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, q->r, DPCLOGNO(00203)
                  "portal: account %s created from an invite", email);
    return dpc_portal_redirect(q, "/login?created=1");
}

/* ---- home ------------------------------------------------------------------------- */

/* The account's team: its row, or NULL (*status sent: no portal account). */
static apr_dbd_row_t *own_team(dpc_portal_req *q, ap_dbd_t **db, int *status)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    int failed;

    row = first_row(q, DPC_Q_TEAM, 1, &q->user, db, &res, &failed);
    if (failed)
        *status = dpc_portal_db_error(q);
    else if (!row)
        *status = dpc_portal_message(q, HTTP_FORBIDDEN, "No portal account",
                                     apr_psprintf(q->r->pool, "You are signed in as %s, "
                                                  "which has no portal account. Ask a team "
                                                  "for an invite.", q->user));
    return row;
}

static const char *org_list(dpc_portal_req *q, ap_dbd_t *db, apr_dbd_results_t *res)
{
    apr_pool_t *p = q->r->pool;
    int i, n = dpc_db_nrows(db, res);
    const char *html = "";

    if (!n)
        return "<p>No provider organizations yet.</p>";
    for (i = 0; i < n; i++) {
        apr_dbd_row_t *row = dpc_db_row(q->r, db, res, i);

        html = dpc_html_fmt(p, "%r<li><a href=\"%s/org/%s\">%s</a>"
                            "<br><span class=\"meta\">Org ID: <code>%s</code> &middot; "
                            "NPI: <code>%s</code></span></li>",
                            html, q->base, dpc_db_col(q->r, db, row, ORG_ID),
                            dpc_db_col(q->r, db, row, ORG_NAME),
                            dpc_db_col(q->r, db, row, ORG_ID),
                            dpc_db_col(q->r, db, row, ORG_NPI));
    }
    return dpc_html_fmt(p, "<ul class=\"cards\">%r</ul>", html);
}

int dpc_portal_home(dpc_portal_req *q)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *team;
    ap_dbd_t *db;
    int status;

    if (!(team = own_team(q, &db, &status)))
        return status;
    if (dpc_db_select(q->r, db, DPC_Q_ORGS, &res, 1, &q->user))
        return dpc_portal_db_error(q);
    return dpc_portal_page(q, HTTP_OK, "Sandbox Portal", dpc_html_fmt(q->r->pool,
        "<p>Team <strong>%s</strong></p>"
        "<section aria-labelledby=\"orgs\"><h2 id=\"orgs\">Provider Organizations</h2>"
        "<p><a class=\"button\" href=\"%s/org/new\">Add New Provider Org</a></p>%r</section>",
        dpc_db_col(q->r, db, team, TEAM_NAME), q->base, org_list(q, db, res)));
}

/* ---- team ---------------------------------------------------------------------------- */

static const char *rows_html(dpc_portal_req *q, ap_dbd_t *db, apr_dbd_results_t *res)
{
    int i, n = dpc_db_nrows(db, res);
    const char *html = "";

    for (i = 0; i < n; i++) {
        apr_dbd_row_t *row = dpc_db_row(q->r, db, res, i);

        html = dpc_html_fmt(q->r->pool, "%r<tr><td>%s</td><td>%s</td></tr>", html,
                            dpc_db_col(q->r, db, row, 0), dpc_db_col(q->r, db, row, 1));
    }
    return html;
}

/* The team page, with a message and what an invite just made (trusted
 * HTML) on top. */
static int team_page(dpc_portal_req *q, int status, const char *top)
{
    apr_dbd_results_t *members, *invites;
    apr_dbd_row_t *team;
    ap_dbd_t *db;
    int st;

    if (!(team = own_team(q, &db, &st)))
        return st;
    if (dpc_db_select(q->r, db, DPC_Q_MEMBERS, &members, 1, &q->user)
        || dpc_db_select(q->r, db, DPC_Q_INVITES, &invites, 1, &q->user))
        return dpc_portal_db_error(q);
    return dpc_portal_page(q, status, "Team", dpc_html_fmt(q->r->pool,
        "%r<p>Team <strong>%s</strong></p>"
        "<h2>Members</h2><table><thead><tr><th scope=\"col\">Email</th>"
        "<th scope=\"col\">Since</th></tr></thead><tbody>%r</tbody></table>"
        "<h2>Open invites</h2><table><thead><tr><th scope=\"col\">Email</th>"
        "<th scope=\"col\">Expires</th></tr></thead><tbody>%r</tbody></table>"
        "<h2>Invite a teammate</h2>"
        "<form method=\"post\" action=\"%s/team/invite\" class=\"stack\">%r"
        "<label for=\"email\">Their email</label>"
        "<input id=\"email\" name=\"email\" type=\"email\" required>"
        "<button type=\"submit\">Create invite link</button></form>",
        top ? top : "", dpc_db_col(q->r, db, team, TEAM_NAME), rows_html(q, db, members),
        rows_html(q, db, invites), q->base, dpc_portal_csrf_field(q)));
}

int dpc_portal_team(dpc_portal_req *q)
{
    return team_page(q, HTTP_OK, NULL);
}

/* Mail an invite through the DPCPortalSendmail command (run by /bin/sh,
 * the message on its standard input, To: first).  The email was checked
 * (dpc_portal_email: no spaces, quotes or line breaks), so it is safe in a
 * header.  0 when the command exited 0. */
static int mail_invite(dpc_portal_req *q, const char *cmd, const char *email,
                       const char *link, const char *expires)
{
    request_rec *r = q->r;
    const char *args[] = { cmd, NULL }, *msg;
    apr_procattr_t *attr;
    apr_exit_why_e why;
    apr_size_t len;
    apr_proc_t proc;
    int code = -1;

    msg = apr_psprintf(r->pool, "To: %s\nSubject: Your invite to the DPC Sandbox Portal\n"
                       "Content-Type: text/plain; charset=utf-8\n\n"
                       "%s invites you to their team in the DPC Sandbox Portal.\n"
                       "Create your account with this link (it works once, until %s):\n\n"
                       "%s\n", email, q->user, expires, link);
    len = strlen(msg);
    if (apr_procattr_create(&attr, r->pool) != APR_SUCCESS
        || apr_procattr_io_set(attr, APR_FULL_BLOCK, APR_NO_PIPE, APR_NO_PIPE) != APR_SUCCESS
        || apr_procattr_cmdtype_set(attr, APR_SHELLCMD) != APR_SUCCESS
        || apr_proc_create(&proc, cmd, args, NULL, attr, r->pool) != APR_SUCCESS)
        return -1;
    apr_file_write_full(proc.in, msg, len, NULL);
    apr_file_close(proc.in);
    apr_proc_wait(&proc, &code, &why, APR_WAIT);
    return why == APR_PROC_EXIT && code == 0 ? 0 : -1;
}

int dpc_portal_invite(dpc_portal_req *q)
{
    const char *sendmail = dpc_dir(q->r)->portal.sendmail;
    const char *email, *err = NULL, *token, *args[4], *link, *expires;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    int failed, mailed = 0;

    if (!(email = dpc_portal_email(q->r->pool, dpc_portal_field(q, "email"), &err)))
        return team_page(q, HTTP_BAD_REQUEST, error_note(q, apr_pstrcat(q->r->pool, "email: ",
                                                                        err, NULL)));
    if (dpc_portal_invite_token(q->r->pool, &token) != APR_SUCCESS)
        return dpc_portal_db_error(q);
    args[0] = email;
    args[1] = dpc_client_token_hash(q->r->pool, token);
    args[2] = q->user;
    args[3] = email;
    row = first_row(q, DPC_Q_INVITE_ADD, 4, args, &db, &res, &failed);
    if (failed)
        return dpc_portal_db_error(q);
    if (!row)
        return team_page(q, HTTP_CONFLICT, error_note(q, "that email already has an account"));
    link = dpc_portal_url(q, apr_pstrcat(q->r->pool, "/invite/", token, NULL));
    expires = dpc_db_col(q->r, db, row, 0);
    dpc_audit_note(q->r, "portal.invite", apr_pstrcat(q->r->pool, "account:", q->user, NULL),
                   NULL, json_pack("{s:s, s:s}", "email", email, "expires", expires));
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, q->r, DPCLOGNO(00204)
                  "portal: account %s invited %s: %s (single use, expires %s)", q->user,
                  email, link, expires);
    if (sendmail && (mailed = mail_invite(q, sendmail, email, link, expires)) != 0)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, q->r, DPCLOGNO(00210)
                      "portal: DPCPortalSendmail (%s) failed to mail the invite of %s",
                      sendmail, email);
    return team_page(q, HTTP_OK, dpc_html_fmt(q->r->pool,
        "<div class=\"note\" role=\"status\"><p>%s It works once and expires %s.</p>"
        "<p><code id=\"invite-link\">%s</code> "
        "<button type=\"button\" class=\"copy\" data-copy=\"invite-link\">Copy</button></p></div>",
        !sendmail ? apr_psprintf(q->r->pool, "Send this link to %s.", email)
        : mailed ? apr_psprintf(q->r->pool, "The invite could not be mailed: send this link "
                                "to %s yourself.", email)
        : apr_psprintf(q->r->pool, "The invite was mailed to %s.", email), expires, link));
}

/* ---- password ------------------------------------------------------------------------ */

static int password_page(dpc_portal_req *q, int status, const char *err)
{
    return dpc_portal_page(q, status, "Change password", dpc_html_fmt(q->r->pool,
        "%r<form method=\"post\" action=\"%s/password\" class=\"stack\">%r"
        "<label for=\"current\">Current password</label>"
        "<input id=\"current\" name=\"current\" type=\"password\" "
        "autocomplete=\"current-password\" required>"
        "<label for=\"password\">New password (12 characters or more)</label>"
        "<input id=\"password\" name=\"password\" type=\"password\" minlength=\"12\" "
        "autocomplete=\"new-password\" required>"
        "<label for=\"password2\">New password again</label>"
        "<input id=\"password2\" name=\"password2\" type=\"password\" minlength=\"12\" "
        "autocomplete=\"new-password\" required>"
        "<button type=\"submit\">Change password</button></form>"
        "<p>Changing it signs you out everywhere.</p>",
        error_note(q, err), q->base, dpc_portal_csrf_field(q)));
}

int dpc_portal_password_form(dpc_portal_req *q)
{
    return password_page(q, HTTP_OK, NULL);
}

int dpc_portal_password(dpc_portal_req *q)
{
    const char *hash, *err = NULL, *args[2];
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ap_dbd_t *db;
    int failed, n;

    row = first_row(q, DPC_Q_PW_GET, 1, &q->user, &db, &res, &failed);
    if (failed)
        return dpc_portal_db_error(q);
    if (!row || !(hash = dpc_db_col(q->r, db, row, 0))
        || apr_password_validate(dpc_portal_field(q, "current"), hash) != APR_SUCCESS)
        return password_page(q, HTTP_BAD_REQUEST, "the current password is not right");
    if (!(args[0] = new_password(q, &err)))
        return password_page(q, HTTP_BAD_REQUEST, apr_pstrcat(q->r->pool, "new password: ",
                                                               err, NULL));
    args[1] = q->user;
    if (dpc_db_query(q->r, db, DPC_Q_PW_SET, &n, 2, args) || n != 1)
        return dpc_portal_db_error(q);
    dpc_audit_note(q->r, "portal.password_changed",
                   apr_pstrcat(q->r->pool, "account:", q->user, NULL), NULL, NULL);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, q->r, DPCLOGNO(00205)
                  "portal: account %s changed its password", q->user);
    /* the session holds the old one: every session of the account ends */
    return dpc_portal_redirect(q, "/login?changed=1");
}
