/* dpc_token.c: see dpc_token.h. */
#include "dpc_token.h"
#include "dpc_b64.h"
#include "dpc_pkey.h"           /* dpc_ossl_errmsg */

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_time.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define HMAC_LEN 32             /* SHA-256 */
#define FIELD_MAX 256           /* longest string field in a token */

static dpc_token_err_e fail(dpc_token_err_e rv, const char **errmsg,
                            const char *msg)
{
    if (errmsg)
        *errmsg = msg;
    return rv;
}

/* ---------------------------------------------------------------------- */
/* random values and time                                                   */

apr_status_t dpc_random_bytes(unsigned char *buf, apr_size_t n)
{
    if (n > INT_MAX)
        return APR_EINVAL;
    if (RAND_bytes(buf, (int)n) != 1) {
        ERR_clear_error();
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

apr_status_t dpc_uuid_v4(apr_pool_t *p, const char **uuid)
{
    unsigned char b[16];
    char *hex;
    apr_status_t rv;

    if ((rv = dpc_random_bytes(b, sizeof(b))) != APR_SUCCESS)
        return rv;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* RFC 9562 variant */
    hex = dpc_hex_encode(p, b, sizeof(b));
    *uuid = apr_psprintf(p, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
                         hex + 12, hex + 16, hex + 20);
    return APR_SUCCESS;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}

int dpc_uuid_is_valid(const char *s)
{
    int i;

    if (!s || strlen(s) != 36)
        return 0;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        }
        else if (!is_hex(s[i])) {
            return 0;
        }
    }
    return 1;
}

apr_int64_t dpc_now(void)
{
    return (apr_int64_t)apr_time_sec(apr_time_now());
}

/* ---------------------------------------------------------------------- */
/* client tokens                                                            */

#define PREFIX_LEN (sizeof(DPC_CLIENT_TOKEN_PREFIX) - 1)

apr_status_t dpc_client_token_generate(apr_pool_t *p, const char **token)
{
    unsigned char b[DPC_CLIENT_TOKEN_BYTES];
    apr_status_t rv;

    if ((rv = dpc_random_bytes(b, sizeof(b))) != APR_SUCCESS)
        return rv;
    *token = apr_pstrcat(p, DPC_CLIENT_TOKEN_PREFIX,
                         dpc_b64url_encode(p, b, sizeof(b)), NULL);
    OPENSSL_cleanse(b, sizeof(b));
    return APR_SUCCESS;
}

static int is_b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int dpc_client_token_well_formed(const char *s)
{
    apr_size_t i;

    if (!s || strlen(s) != DPC_CLIENT_TOKEN_LEN
        || strncmp(s, DPC_CLIENT_TOKEN_PREFIX, PREFIX_LEN) != 0)
        return 0;
    for (i = PREFIX_LEN; i < DPC_CLIENT_TOKEN_LEN; i++)
        if (!is_b64url_char(s[i]))
            return 0;
    return 1;
}

static int sha256(const void *data, apr_size_t len, unsigned char *md)
{
    unsigned int mdlen = 0;
    int ok = EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);

    if (!ok)
        ERR_clear_error();
    return ok && mdlen == 32;
}

const char *dpc_client_token_hash(apr_pool_t *p, const char *token)
{
    unsigned char md[32];

    if (!token || !sha256(token, strlen(token), md))
        return NULL;
    return dpc_hex_encode(p, md, sizeof(md));
}

int dpc_client_token_matches(const char *token, const char *stored_hex)
{
    unsigned char md[32], want[32];
    int i;

    if (!token || !stored_hex || strlen(stored_hex) != 64)
        return 0;
    for (i = 0; i < 32; i++) {
        int hi = dpc_hexval(stored_hex[2 * i]), lo = dpc_hexval(stored_hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        want[i] = (unsigned char)(hi << 4 | lo);
    }
    if (!sha256(token, strlen(token), md))
        return 0;
    /* Compare digests, not hex text, and in constant time: the hash is
     * looked up by value, but we never want a timing oracle on secrets. */
    return CRYPTO_memcmp(md, want, sizeof(md)) == 0;
}

/* ---------------------------------------------------------------------- */
/* access tokens                                                            */

static int secret_ok(const unsigned char *s, apr_size_t len)
{
    return s && len >= DPC_TOKEN_SECRET_MIN;
}

dpc_token_err_e dpc_token_secrets_check(const dpc_token_secrets_t *secrets,
                                        const char **errmsg)
{
    if (!secrets || !secret_ok(secrets->current, secrets->current_len))
        return fail(DPC_TOKEN_BAD_SECRET, errmsg, "the token signing secret "
                    "must be at least 32 bytes");
    if ((secrets->previous || secrets->previous_len)
        && !secret_ok(secrets->previous, secrets->previous_len))
        return fail(DPC_TOKEN_BAD_SECRET, errmsg, "the previous token "
                    "signing secret must be at least 32 bytes");
    return DPC_TOKEN_OK;
}

static int hmac(const unsigned char *key, apr_size_t keylen,
                const char *data, apr_size_t len, unsigned char *out)
{
    size_t outlen = 0;

    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen,
                   (const unsigned char *)data, len, out, HMAC_LEN, &outlen)
        || outlen != HMAC_LEN) {
        ERR_clear_error();
        return 0;
    }
    return 1;
}

/* A field must be present, short, and printable ASCII without the JSON
 * specials, so that whatever it carries can be logged or compared as is. */
static int field_ok(const char *s)
{
    apr_size_t n = 0;

    if (!s || !*s)
        return 0;
    for (; *s; s++, n++)
        if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\' || n >= FIELD_MAX)
            return 0;
    return 1;
}

dpc_token_err_e dpc_access_token_issue(apr_pool_t *p,
                                       const dpc_token_secrets_t *secrets,
                                       dpc_access_token_t *f,
                                       const char **token,
                                       const char **errmsg)
{
    json_t *payload;
    char *json, *signing_input;
    unsigned char mac[HMAC_LEN];
    dpc_token_err_e rv;

    *token = NULL;
    if ((rv = dpc_token_secrets_check(secrets, errmsg)) != DPC_TOKEN_OK)
        return rv;
    if (!f->token_id && dpc_uuid_v4(p, &f->token_id) != APR_SUCCESS)
        return fail(DPC_TOKEN_INTERNAL, errmsg, "random number generator "
                    "failed");
    if (!field_ok(f->token_id) || !field_ok(f->org_id)
        || !field_ok(f->client_token_id) || !field_ok(f->key_id)
        || !field_ok(f->scope))
        return fail(DPC_TOKEN_BAD_FIELDS, errmsg, "access token fields must "
                    "be non-empty printable ASCII");
    if (f->exp <= f->iat)
        return fail(DPC_TOKEN_BAD_FIELDS, errmsg, "access token must expire "
                    "after it is issued");
    if (f->audience && !field_ok(f->audience))
        return fail(DPC_TOKEN_BAD_FIELDS, errmsg, "access token fields must "
                    "be non-empty printable ASCII");

    payload = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
                        "jti", f->token_id, "org", f->org_id,
                        "ct", f->client_token_id, "kid", f->key_id,
                        "scope", f->scope, "iat", (json_int_t)f->iat,
                        "exp", (json_int_t)f->exp);
    if (payload && f->audience)
        json_object_set_new(payload, "aud", json_string(f->audience));
    json = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);
    if (!json)
        return fail(DPC_TOKEN_INTERNAL, errmsg, "cannot encode access token");
    signing_input = apr_pstrcat(p, DPC_ACCESS_TOKEN_PREFIX,
                                dpc_b64url_encode(p, (unsigned char *)json,
                                                  strlen(json)), NULL);
    free(json);
    if (!hmac(secrets->current, secrets->current_len, signing_input,
              strlen(signing_input), mac))
        return fail(DPC_TOKEN_INTERNAL, errmsg, "HMAC-SHA256 failed");
    *token = apr_pstrcat(p, signing_input, ".",
                         dpc_b64url_encode(p, mac, sizeof(mac)), NULL);
    return DPC_TOKEN_OK;
}

/* Does the MAC match under key?  Constant-time comparison. */
static int mac_matches(const unsigned char *key, apr_size_t keylen,
                       const char *input, apr_size_t len,
                       const unsigned char *mac)
{
    unsigned char want[HMAC_LEN];

    if (!key || !hmac(key, keylen, input, len, want))
        return 0;
    return CRYPTO_memcmp(want, mac, HMAC_LEN) == 0;
}

/* Read the (already authenticated) payload into a struct. */
static int read_payload(apr_pool_t *p, const unsigned char *json,
                        apr_size_t len, dpc_access_token_t *f)
{
    json_t *o = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES,
                           NULL);
    json_t *iat, *exp;
    int ok = 0;

    if (!json_is_object(o))
        goto end;
    f->token_id = json_string_value(json_object_get(o, "jti"));
    f->org_id = json_string_value(json_object_get(o, "org"));
    f->client_token_id = json_string_value(json_object_get(o, "ct"));
    f->key_id = json_string_value(json_object_get(o, "kid"));
    f->scope = json_string_value(json_object_get(o, "scope"));
    iat = json_object_get(o, "iat");
    exp = json_object_get(o, "exp");
    if (!f->token_id || !f->org_id || !f->client_token_id || !f->key_id
        || !f->scope || !json_is_integer(iat) || !json_is_integer(exp))
        goto end;
    /* Copy out of the JSON tree before it goes away. */
    f->token_id = apr_pstrdup(p, f->token_id);
    f->org_id = apr_pstrdup(p, f->org_id);
    f->client_token_id = apr_pstrdup(p, f->client_token_id);
    f->key_id = apr_pstrdup(p, f->key_id);
    f->scope = apr_pstrdup(p, f->scope);
    f->audience = json_string_value(json_object_get(o, "aud"));
    f->audience = f->audience ? apr_pstrdup(p, f->audience) : NULL;
    f->iat = json_integer_value(iat);
    f->exp = json_integer_value(exp);
    ok = 1;
end:
    json_decref(o);
    return ok;
}

dpc_token_err_e dpc_access_token_verify(apr_pool_t *p,
                                        const dpc_token_secrets_t *secrets,
                                        const char *token, apr_int64_t now,
                                        int skew, dpc_access_token_t **out,
                                        const char **errmsg)
{
    const apr_size_t plen = sizeof(DPC_ACCESS_TOKEN_PREFIX) - 1;
    const char *body, *dot;
    unsigned char *mac, *json;
    apr_size_t len, maclen, jsonlen, signed_len;
    dpc_access_token_t *f;
    dpc_token_err_e rv;

    *out = NULL;
    if ((rv = dpc_token_secrets_check(secrets, errmsg)) != DPC_TOKEN_OK)
        return rv;
    if (!token || (len = strlen(token)) > DPC_ACCESS_TOKEN_MAX_LEN
        || len <= plen || strncmp(token, DPC_ACCESS_TOKEN_PREFIX, plen) != 0)
        return fail(DPC_TOKEN_MALFORMED, errmsg, "the access token is "
                    "malformed");
    body = token + plen;
    dot = strchr(body, '.');
    /* Exactly two parts after the prefix; base64url has no dots, so a
     * further dot would land in a part and fail to decode anyway. */
    if (!dot || dot == body
        || dpc_b64url_decode(p, dot + 1, strlen(dot + 1), &mac, &maclen)
               != APR_SUCCESS
        || maclen != HMAC_LEN)
        return fail(DPC_TOKEN_MALFORMED, errmsg, "the access token is "
                    "malformed");

    signed_len = (apr_size_t)(dot - token);
    if (!mac_matches(secrets->current, secrets->current_len, token,
                     signed_len, mac)
        && !mac_matches(secrets->previous, secrets->previous_len, token,
                        signed_len, mac))
        return fail(DPC_TOKEN_BAD_MAC, errmsg, "the access token is not "
                    "valid (bad signature)");

    f = apr_pcalloc(p, sizeof(*f));
    if (dpc_b64url_decode(p, body, (apr_size_t)(dot - body), &json, &jsonlen)
            != APR_SUCCESS
        || !read_payload(p, json, jsonlen, f))
        return fail(DPC_TOKEN_MALFORMED, errmsg, "the access token payload "
                    "is malformed");
    *out = f;
    if (skew < 0)
        skew = 0;
    /* exp and iat are whatever JSON integers the payload holds: compare
     * against now +/- skew, which cannot overflow, never exp + skew */
    if (f->exp <= now - skew)
        return fail(DPC_TOKEN_EXPIRED, errmsg, apr_psprintf(p,
                    "the access token expired %" APR_INT64_T_FMT " seconds ago",
                    f->exp < 0 && now > APR_INT64_MAX + f->exp ? APR_INT64_MAX
                                                               : now - f->exp));
    if (f->iat > now + skew)
        return fail(DPC_TOKEN_NOT_YET_VALID, errmsg, apr_psprintf(p,
                    "the access token is not valid for another %"
                    APR_INT64_T_FMT " seconds", f->iat - now));
    return DPC_TOKEN_OK;
}
