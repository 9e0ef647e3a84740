/* fuzz_token: bearer tokens on every API request, and client tokens.
 *
 *   dpc_access_token_verify     "dpc2." payload "." MAC, under a current and
 *                               a previous secret, at a fixed now.  An
 *                               input starting "dpc2." is verified as it
 *                               is (what a client can send: the MAC stops
 *                               it); any other input is taken as a payload
 *                               and MACed here with the current secret, so
 *                               the payload reader behind the MAC is
 *                               fuzzed too
 *   dpc_access_token_issue      a verified token's fields, issued again,
 *                               verify to the same fields
 *   dpc_client_token_well_formed, dpc_client_token_matches,
 *   dpc_uuid_is_valid           the other token-shaped inputs
 */
#include "fuzz.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "dpc_b64.h"
#include "dpc_token.h"

#define NOW 1700000000

static const dpc_token_secrets_t secrets = {
    (const unsigned char *)"fuzzing-secret-current-0123456789abcdef", 39,
    (const unsigned char *)"fuzzing-secret-previous-0123456789abcdef", 40
};

/* Printable ASCII without '"' or '\\', as dpc_token.h promises. */
static int safe(const char *s)
{
    for (; s && *s; s++)
        if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

static void reissue(apr_pool_t *p, const dpc_access_token_t *t)
{
    dpc_access_token_t copy = *t, *again;
    const char *token, *err;

    if (dpc_access_token_issue(p, &secrets, &copy, &token, &err) != DPC_TOKEN_OK)
        return;     /* fields a token may carry but issue refuses, e.g. exp <= iat */
    FUZZ_CHECK(dpc_access_token_verify(p, &secrets, token, t->iat, 0, &again, &err)
               == DPC_TOKEN_OK);
    FUZZ_CHECK(!strcmp(again->org_id, t->org_id) && !strcmp(again->scope, t->scope));
    FUZZ_CHECK(again->iat == t->iat && again->exp == t->exp);
}

/* "dpc2." base64url(payload) "." base64url(HMAC-SHA256 under current). */
static const char *mac_payload(apr_pool_t *p, const uint8_t *data, size_t size)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    const char *input = apr_pstrcat(p, DPC_ACCESS_TOKEN_PREFIX,
                                    dpc_b64url_encode(p, data, size), NULL);

    FUZZ_CHECK(HMAC(EVP_sha256(), secrets.current, (int)secrets.current_len,
                    (const unsigned char *)input, strlen(input), mac, &maclen));
    return apr_pstrcat(p, input, ".", dpc_b64url_encode(p, mac, maclen), NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *s = fuzz_text(p, data, size), *err = NULL;
    dpc_access_token_t *t = NULL;
    dpc_token_err_e rc;

    int as_sent = !strncmp(s, DPC_ACCESS_TOKEN_PREFIX, strlen(DPC_ACCESS_TOKEN_PREFIX));

    rc = dpc_access_token_verify(p, &secrets, as_sent ? s : mac_payload(p, data, size),
                                 NOW, 5, &t, &err);
    if (rc == DPC_TOKEN_OK || rc == DPC_TOKEN_EXPIRED || rc == DPC_TOKEN_NOT_YET_VALID) {
        FUZZ_CHECK(t && t->org_id && t->scope && t->token_id);
        if (safe(t->token_id) && safe(t->org_id) && safe(t->client_token_id)
            && safe(t->key_id) && safe(t->scope))
            reissue(p, t);
    }
    else
        FUZZ_CHECK(err != NULL);
    if (dpc_client_token_well_formed(s))
        FUZZ_CHECK(strlen(s) == DPC_CLIENT_TOKEN_LEN);
    FUZZ_CHECK(!dpc_client_token_matches(s, s));   /* no SHA-256 fixed point */
    FUZZ_CHECK(dpc_client_token_matches(s, dpc_client_token_hash(p, s)));
    if (dpc_uuid_is_valid(s))
        FUZZ_CHECK(strlen(s) == 36);
    fuzz_end(p);
    return 0;
}
