/* mod_dpc_token_form.h: the parameters of a request to a token endpoint,
 * read the same way by every dialect's (SMART Backend Services' JWT
 * assertion, BCDA's and AB2D's Basic credentials), below both. */
#ifndef MOD_DPC_TOKEN_FORM_H
#define MOD_DPC_TOKEN_FORM_H

#include <httpd.h>
#include <apr_tables.h>

/* The largest form body a token request may have. */
#define TOKEN_BODY_LIMIT (64 * 1024)

/* The parameters of a token request: the form body, or, where the dialect
 * allows it (token_params_in_url) and the body is empty, the URL's query;
 * never both.  A client assertion in the URL is redacted from the request
 * line first.  0, or -1 after the OAuth error was sent (*status). */
int dpc_token_params(request_rec *r, apr_table_t **form, int *status);

#endif
