/* mod_dpc_token_form.c: see mod_dpc_token_form.h. */
#include "mod_dpc_token_form.h"

#include <string.h>

#include <http_protocol.h>
#include <apr_strings.h>

#include "dpc_auth.h"
#include "dpc_config.h"
#include "mod_dpc_module.h"
#include "mod_dpc_respond.h"

/* Overwrite the client assertion in the request line and the query, so that
 * no access log format (%r, %q) nor server-status shows it; done before
 * anything is checked, so a refused request is redacted too. */
static void redact_url_assertion(request_rec *r)
{
    const char *red = dpc_form_redact(r->pool, r->args, "client_assertion");
    char *at;

    if (!red || !strcmp(red, r->args))
        return;
    if (r->the_request && (at = strstr(r->the_request, r->args)) != NULL)
        memcpy(at, red, strlen(red));       /* same length: see dpc_form_redact */
    r->args = apr_pstrdup(r->pool, red);
}

/* Does the request come without a body (no length, or length 0, and not
 * chunked)? */
static int no_body(request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");

    return (!cl || !strcmp(cl, "0")) && !apr_table_get(r->headers_in, "Transfer-Encoding");
}

/* The parameters of a token request: the form body, or, where the dialect
 * allows it and the body is empty, the URL's query.  Never both.  OK, or
 * the error response already sent. */
int dpc_token_params(request_rec *r, apr_table_t **form, int *status)
{
    const char *body, *err, *args = r->args && *r->args ? apr_pstrdup(r->pool, r->args) : NULL;
    apr_size_t len = 0;

    if (args) {
        redact_url_assertion(r);
        if (!dpc_conf_dialect(dpc_dir(r))->token_params_in_url) {
            *status = dpc_send_oauth_error(r, HTTP_BAD_REQUEST, "invalid_request",
                                           "send the parameters in an application/"
                                           "x-www-form-urlencoded body, not the URL");
            return -1;
        }
    }
    if (args && no_body(r)) {
        if (dpc_form_parse(r->pool, args, strlen(args), form, &err)) {
            *status = dpc_send_oauth_error(r, HTTP_BAD_REQUEST, "invalid_request", err);
            return -1;
        }
        return 0;
    }
    if (!dpc_content_type_is(r, "application/x-www-form-urlencoded")) {
        *status = dpc_send_oauth_error(r, HTTP_BAD_REQUEST, "invalid_request",
                                       "Content-Type must be "
                                       "application/x-www-form-urlencoded");
        return -1;
    }
    if (dpc_read_body(r, TOKEN_BODY_LIMIT, &body, &len) != OK
        || dpc_form_parse(r->pool, body, len, form, &err)) {
        *status = dpc_send_oauth_error(r, HTTP_BAD_REQUEST, "invalid_request",
                                       len > TOKEN_BODY_LIMIT || !body[0] ? "the form body is "
                                       "missing, unreadable or too large" : err);
        return -1;
    }
    if (args) {
        *status = dpc_send_oauth_error(r, HTTP_BAD_REQUEST, "invalid_request",
                                       "the parameters go in the form body or in the URL, "
                                       "not both (the body is preferred: URLs end up in "
                                       "logs)");
        return -1;
    }
    return 0;
}
