/* dpc_jwt.c: see dpc_jwt.h. */
#include "dpc_jwt.h"
#include "dpc_b64.h"
#include "dpc_token.h"          /* dpc_uuid_v4 */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#define ES384_HALF 48           /* P-384 coordinate / scalar size */

static dpc_jwt_err_e fail(dpc_jwt_err_e rv, const char **errmsg,
                          const char *msg)
{
    if (errmsg)
        *errmsg = msg;
    return rv;
}

static apr_status_t json_cleanup(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

static json_t *json_pool_own(apr_pool_t *p, json_t *j)
{
    if (j)
        apr_pool_cleanup_register(p, j, json_cleanup, apr_pool_cleanup_null);
    return j;
}

void dpc_jwt_policy_init(dpc_jwt_policy_t *pol, const char *aud,
                         apr_int64_t now)
{
    memset(pol, 0, sizeof(*pol));
    pol->aud = aud;
    pol->now = now;
    pol->max_lifetime = DPC_JWT_MAX_LIFETIME;
    pol->skew = DPC_JWT_SKEW;
    pol->require_typ = 1;
}

/* ---------------------------------------------------------------------- */
/* parsing                                                                  */

/* Decode one base64url part into a JSON object; what_is is "header is"
 * or "claims are", for the messages. */
static dpc_jwt_err_e decode_object(apr_pool_t *p, const char *what_is,
                                   const char *b64, apr_size_t len,
                                   json_t **out, const char **errmsg)
{
    unsigned char *raw;
    apr_size_t rawlen;
    json_error_t jerr;
    json_t *j;

    if (dpc_b64url_decode(p, b64, len, &raw, &rawlen) != APR_SUCCESS)
        return fail(DPC_JWT_MALFORMED, errmsg, apr_psprintf(p,
                    "the JWT %s not valid base64url (unpadded, "
                    "RFC 7515)", what_is));
    /* Duplicate member names are rejected: with two "iss" members, which
     * one a verifier reads would be a matter of library choice. */
    j = json_loadb((const char *)raw, rawlen,
                   JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!j)
        return fail(DPC_JWT_MALFORMED, errmsg, apr_psprintf(p,
                    "the JWT %s not valid JSON: %s", what_is, jerr.text));
    json_pool_own(p, j);
    if (!json_is_object(j))
        return fail(DPC_JWT_MALFORMED, errmsg, apr_psprintf(p,
                    "the JWT %s not a JSON object", what_is));
    *out = j;
    return DPC_JWT_OK;
}

static int get_int(const json_t *obj, const char *name, apr_int64_t *v)
{
    const json_t *j = json_object_get(obj, name);

    if (!json_is_integer(j))
        return 0;
    *v = (apr_int64_t)json_integer_value(j);
    return 1;
}

/* Copy the members callers look at into plain fields. */
static void extract(apr_pool_t *p, dpc_jwt_t *jwt)
{
    const json_t *h = jwt->header, *c = jwt->claims, *aud;
    size_t i;

    jwt->alg = json_string_value(json_object_get(h, "alg"));
    jwt->kid = json_string_value(json_object_get(h, "kid"));
    jwt->typ = json_string_value(json_object_get(h, "typ"));
    jwt->has_jku = json_object_get(h, "jku") != NULL;
    jwt->has_x5u = json_object_get(h, "x5u") != NULL;
    jwt->has_jwk = json_object_get(h, "jwk") != NULL;
    jwt->has_x5c = json_object_get(h, "x5c") != NULL;
    jwt->has_crit = json_object_get(h, "crit") != NULL;

    jwt->iss = json_string_value(json_object_get(c, "iss"));
    jwt->sub = json_string_value(json_object_get(c, "sub"));
    jwt->jti = json_string_value(json_object_get(c, "jti"));
    jwt->has_exp = get_int(c, "exp", &jwt->exp);
    jwt->has_nbf = get_int(c, "nbf", &jwt->nbf);
    jwt->has_iat = get_int(c, "iat", &jwt->iat);

    aud = json_object_get(c, "aud");
    jwt->aud = apr_array_make(p, 1, sizeof(const char *));
    jwt->aud_is_array = json_is_array(aud);
    if (json_is_string(aud)) {
        APR_ARRAY_PUSH(jwt->aud, const char *) = json_string_value(aud);
    }
    else if (json_is_array(aud)) {
        for (i = 0; i < json_array_size(aud); i++) {
            const char *s = json_string_value(json_array_get(aud, i));
            if (s)
                APR_ARRAY_PUSH(jwt->aud, const char *) = s;
        }
    }
}

dpc_jwt_err_e dpc_jwt_parse(apr_pool_t *p, const char *token, dpc_jwt_t **out,
                            const char **errmsg)
{
    const char *d1, *d2, *d;
    apr_size_t len;
    int dots = 0;
    dpc_jwt_t *jwt;
    dpc_jwt_err_e rv;

    *out = NULL;
    if (!token || !*token)
        return fail(DPC_JWT_MALFORMED, errmsg, "the JWT is empty");
    len = strlen(token);
    if (len > DPC_JWT_MAX_LEN)
        return fail(DPC_JWT_MALFORMED, errmsg, apr_psprintf(p,
                    "the JWT is longer than %d bytes", DPC_JWT_MAX_LEN));
    for (d = token; (d = strchr(d, '.')) != NULL; d++)
        dots++;
    if (dots != 2)
        return fail(DPC_JWT_MALFORMED, errmsg, apr_psprintf(p,
                    "the JWT must have 3 dot-separated parts (compact JWS), "
                    "not %d", dots + 1));
    d1 = strchr(token, '.');
    d2 = strchr(d1 + 1, '.');
    if (d1 == token)
        return fail(DPC_JWT_MALFORMED, errmsg, "the JWT header is empty");
    if (d2 == d1 + 1)
        return fail(DPC_JWT_MALFORMED, errmsg, "the JWT claims are empty");

    jwt = apr_pcalloc(p, sizeof(*jwt));
    jwt->raw = token;
    jwt->signing_input_len = (apr_size_t)(d2 - token);
    if ((rv = decode_object(p, "header is", token,
                            (apr_size_t)(d1 - token), &jwt->header,
                            errmsg)) != DPC_JWT_OK
        || (rv = decode_object(p, "claims are", d1 + 1,
                               (apr_size_t)(d2 - d1 - 1), &jwt->claims,
                               errmsg)) != DPC_JWT_OK)
        return rv;
    /* An empty signature is let through here so that an unsigned
     * ("alg":"none") JWT is reported for its alg, which is the real fault. */
    if (dpc_b64url_decode(p, d2 + 1, strlen(d2 + 1), &jwt->sig, &jwt->sig_len)
            != APR_SUCCESS)
        return fail(DPC_JWT_MALFORMED, errmsg, "the JWT signature is not "
                    "valid base64url (unpadded, RFC 7515)");
    extract(p, jwt);
    *out = jwt;
    return DPC_JWT_OK;
}

/* ---------------------------------------------------------------------- */
/* header and claim rules                                                   */

static void add(apr_pool_t *p, apr_array_header_t *list, const char *where,
                dpc_jwt_err_e code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void add(apr_pool_t *p, apr_array_header_t *list, const char *where,
                dpc_jwt_err_e code, const char *fmt, ...)
{
    dpc_jwt_problem_t *pr = apr_array_push(list);
    va_list ap;

    va_start(ap, fmt);
    pr->where = where;
    pr->code = code;
    pr->message = apr_psprintf(p, "%s: %s", where, apr_pvsprintf(p, fmt, ap));
    va_end(ap);
}

/* Why an alg is refused, or NULL if it is on the allow-list. */
static const char *alg_refusal(apr_pool_t *p, const char *alg)
{
    if (dpc_alg_from_name(alg) != DPC_ALG_UNKNOWN)
        return NULL;
    if (strcasecmp(alg, "none") == 0)
        return "\"none\" (an unsigned JWT) is not allowed; sign with RS384 "
               "or ES384";
    if (strncasecmp(alg, "HS", 2) == 0)
        return apr_psprintf(p, "\"%.20s\" (a shared-secret MAC) is not "
                            "allowed; sign with RS384 or ES384", alg);
    return apr_psprintf(p, "\"%.20s\" is not allowed; sign with RS384 or "
                        "ES384", alg);
}

/* A required string member: present, a string, non-empty, not too long. */
static void need_id(apr_pool_t *p, apr_array_header_t *list,
                    const json_t *obj, const char *name, const char *where,
                    dpc_jwt_err_e code, const char *what)
{
    const json_t *j = json_object_get(obj, name);
    const char *s = json_string_value(j);

    if (!j)
        add(p, list, where, code, "is required (%s)", what);
    else if (!s)
        add(p, list, where, code, "must be a string");
    else if (!*s)
        add(p, list, where, code, "must not be empty");
    else if (strlen(s) > DPC_JWT_MAX_ID_LEN)
        add(p, list, where, code, "is longer than %d characters",
            DPC_JWT_MAX_ID_LEN);
}

static void check_header(apr_pool_t *p, const dpc_jwt_t *jwt,
                         const dpc_jwt_policy_t *pol, apr_array_header_t *l)
{
    static const struct { const char *name, *where, *why; } refused[] = {
        { "jku", "header.jku", "keys are registered with the server, not "
          "fetched from a URL" },
        { "x5u", "header.x5u", "keys are registered with the server, not "
          "fetched from a URL" },
        { "jwk", "header.jwk", "a key embedded in the JWT proves nothing; "
          "keys are registered with the server" },
        { "x5c", "header.x5c", "a certificate embedded in the JWT is not "
          "used; keys are registered with the server" },
        { "crit", "header.crit", "no critical JWS extensions are supported" },
    };
    const json_t *h = jwt->header, *alg = json_object_get(h, "alg");
    const json_t *typ = json_object_get(h, "typ");
    const char *why;
    size_t i;

    if (!alg)
        add(p, l, "header.alg", DPC_JWT_BAD_ALG, "is required (RS384 or "
            "ES384)");
    else if (!json_is_string(alg))
        add(p, l, "header.alg", DPC_JWT_BAD_ALG, "must be a string");
    else if ((why = alg_refusal(p, json_string_value(alg))) != NULL)
        add(p, l, "header.alg", DPC_JWT_BAD_ALG, "%s", why);

    need_id(p, l, h, "kid", "header.kid", DPC_JWT_BAD_HEADER,
            "the id of your registered public key");

    if (typ) {
        const char *t = json_string_value(typ);
        /* RFC 7519 5.1: "JWT", compared as a media type: case-insensitive,
         * "application/" optional. */
        if (!t || (strcasecmp(t, "JWT") != 0
                   && strcasecmp(t, "application/jwt") != 0))
            add(p, l, "header.typ", DPC_JWT_BAD_HEADER, "must be \"JWT\"");
    }
    else if (pol->require_typ) {
        add(p, l, "header.typ", DPC_JWT_BAD_HEADER, "is required (\"JWT\")");
    }

    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (json_object_get(h, refused[i].name))
            add(p, l, refused[i].where, DPC_JWT_BAD_HEADER,
                "is not allowed: %s", refused[i].why);
}

static void check_aud(apr_pool_t *p, const dpc_jwt_t *jwt,
                      const dpc_jwt_policy_t *pol, apr_array_header_t *l)
{
    const json_t *aud = json_object_get(jwt->claims, "aud");
    const char *want = pol->aud ? pol->aud : "";
    int i;

    if (!aud) {
        add(p, l, "claims.aud", DPC_JWT_BAD_CLAIMS, "is required (the token "
            "URL, %s)", want);
        return;
    }
    if (json_is_array(aud)) {
        if (json_array_size(aud) == 0) {
            add(p, l, "claims.aud", DPC_JWT_BAD_CLAIMS, "must not be an "
                "empty array");
            return;
        }
        if ((size_t)jwt->aud->nelts != json_array_size(aud)) {
            add(p, l, "claims.aud", DPC_JWT_BAD_CLAIMS, "must be an array "
                "of strings");
            return;
        }
    }
    else if (!json_is_string(aud)) {
        add(p, l, "claims.aud", DPC_JWT_BAD_CLAIMS, "must be a string or an "
            "array of strings");
        return;
    }
    /* Exact comparison (RFC 7519 4.1.3): no URL normalisation, so that
     * what the client signed is exactly what we are. */
    for (i = 0; i < jwt->aud->nelts; i++)
        if (pol->aud && strcmp(APR_ARRAY_IDX(jwt->aud, i, const char *),
                               pol->aud) == 0)
            return;
    if (jwt->aud_is_array)
        add(p, l, "claims.aud", DPC_JWT_BAD_CLAIMS, "does not contain this "
            "server's token URL %s", want);
    else
        add(p, l, "claims.aud", DPC_JWT_BAD_CLAIMS, "\"%.200s\" is not this "
            "server's token URL %s",
            APR_ARRAY_IDX(jwt->aud, 0, const char *), want);
}

/* Report a time claim that is present but not an integer; return whether
 * it is usable. */
static int time_claim(apr_pool_t *p, const dpc_jwt_t *jwt, const char *name,
                      const char *where, apr_array_header_t *l)
{
    const json_t *j = json_object_get(jwt->claims, name);

    if (j && !json_is_integer(j)) {
        add(p, l, where, DPC_JWT_BAD_CLAIMS, "must be an integer "
            "(seconds since 1970-01-01T00:00:00Z)");
        return 0;
    }
    return j != NULL;
}

static void check_times(apr_pool_t *p, const dpc_jwt_t *jwt,
                        const dpc_jwt_policy_t *pol, apr_array_header_t *l)
{
    apr_int64_t now = pol->now;
    int skew = pol->skew < 0 ? DPC_JWT_SKEW : pol->skew;
    int life = pol->max_lifetime <= 0 ? DPC_JWT_MAX_LIFETIME
                                      : pol->max_lifetime;
    int exp_ok = 0;

    if (!json_object_get(jwt->claims, "exp"))
        add(p, l, "claims.exp", DPC_JWT_BAD_CLAIMS, "is required (at most "
            "%d seconds after now)", life);
    else if (time_claim(p, jwt, "exp", "claims.exp", l)) {
        /* Written as differences from now so that no sum can overflow. */
        if (jwt->exp <= now - skew)
            add(p, l, "claims.exp", DPC_JWT_BAD_CLAIMS, "the JWT expired "
                "%" APR_INT64_T_FMT " seconds ago", now - jwt->exp);
        else if (jwt->exp - now > (apr_int64_t)life + skew)
            add(p, l, "claims.exp", DPC_JWT_BAD_CLAIMS, "is %" APR_INT64_T_FMT
                " seconds in the future; at most %d are allowed",
                jwt->exp - now, life);
        else
            exp_ok = 1;
    }
    if (time_claim(p, jwt, "nbf", "claims.nbf", l)) {
        if (jwt->nbf > now + skew)
            add(p, l, "claims.nbf", DPC_JWT_BAD_CLAIMS, "the JWT is not valid "
                "for another %" APR_INT64_T_FMT " seconds", jwt->nbf - now);
        else if (exp_ok && jwt->nbf > jwt->exp)
            add(p, l, "claims.nbf", DPC_JWT_BAD_CLAIMS, "is after claims.exp");
    }
    if (time_claim(p, jwt, "iat", "claims.iat", l)) {
        if (jwt->iat > now + skew)
            add(p, l, "claims.iat", DPC_JWT_BAD_CLAIMS, "is %" APR_INT64_T_FMT
                " seconds in the future", jwt->iat - now);
        else if (exp_ok && jwt->iat > jwt->exp)
            add(p, l, "claims.iat", DPC_JWT_BAD_CLAIMS, "is after claims.exp");
    }
}

static void check_claims(apr_pool_t *p, const dpc_jwt_t *jwt,
                         const dpc_jwt_policy_t *pol, apr_array_header_t *l)
{
    const json_t *c = jwt->claims;

    need_id(p, l, c, "iss", "claims.iss", DPC_JWT_BAD_CLAIMS,
            "your client token");
    need_id(p, l, c, "sub", "claims.sub", DPC_JWT_BAD_CLAIMS,
            "your client token, the same as iss");
    if (jwt->iss && jwt->sub && *jwt->iss && *jwt->sub
        && strcmp(jwt->iss, jwt->sub) != 0)
        add(p, l, "claims.sub", DPC_JWT_BAD_CLAIMS, "must be equal to "
            "claims.iss (both are your client token)");
    check_aud(p, jwt, pol, l);
    check_times(p, jwt, pol, l);
    need_id(p, l, c, "jti", "claims.jti", DPC_JWT_BAD_CLAIMS,
            "a unique id for this JWT");
}

int dpc_jwt_problems(apr_pool_t *p, const dpc_jwt_t *jwt,
                     const dpc_jwt_policy_t *pol,
                     apr_array_header_t *problems)
{
    int before = problems->nelts;

    check_header(p, jwt, pol, problems);
    check_claims(p, jwt, pol, problems);
    return problems->nelts - before;
}

dpc_jwt_err_e dpc_jwt_check(apr_pool_t *p, const dpc_jwt_t *jwt,
                            const dpc_jwt_policy_t *pol, const char **errmsg)
{
    apr_array_header_t *l = apr_array_make(p, 4, sizeof(dpc_jwt_problem_t));
    const dpc_jwt_problem_t *first;

    if (dpc_jwt_problems(p, jwt, pol, l) == 0)
        return DPC_JWT_OK;
    first = &APR_ARRAY_IDX(l, 0, dpc_jwt_problem_t);
    return fail(first->code, errmsg, first->message);
}

/* ---------------------------------------------------------------------- */
/* signatures                                                               */

/* JOSE ES384 signatures are r||s, 48 bytes each; OpenSSL wants DER. */
static int es384_raw_to_der(apr_pool_t *p, const unsigned char *raw,
                            unsigned char **der, apr_size_t *derlen)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, ES384_HALF, NULL);
    BIGNUM *s = BN_bin2bn(raw + ES384_HALF, ES384_HALF, NULL);
    unsigned char *buf = NULL;
    int len = -1;

    if (sig && r && s && ECDSA_SIG_set0(sig, r, s)) {
        r = s = NULL;           /* now owned by sig */
        len = i2d_ECDSA_SIG(sig, &buf);
    }
    if (len > 0) {
        *der = apr_pmemdup(p, buf, (apr_size_t)len);
        *derlen = (apr_size_t)len;
    }
    OPENSSL_free(buf);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return len > 0;
}

static int es384_der_to_raw(const unsigned char *der, size_t derlen,
                            unsigned char *raw)
{
    const unsigned char *q = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &q, (long)derlen);
    const BIGNUM *r, *s;
    int ok = 0;

    if (sig) {
        ECDSA_SIG_get0(sig, &r, &s);
        ok = BN_bn2binpad(r, raw, ES384_HALF) == ES384_HALF
             && BN_bn2binpad(s, raw + ES384_HALF, ES384_HALF) == ES384_HALF;
        ECDSA_SIG_free(sig);
    }
    return ok;
}

/* Does alg fit the key?  NULL if so, else why not. */
static const char *alg_key_mismatch(apr_pool_t *p, dpc_alg_e alg,
                                    EVP_PKEY *pkey)
{
    const char *group = NULL;
    dpc_alg_e key_alg = dpc_pkey_alg_of(pkey, &group, p);
    const char *kind;

    if (key_alg == alg)
        return NULL;
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
        kind = "an RSA key";
        break;
    case EVP_PKEY_EC:
        kind = group ? apr_psprintf(p, "an EC %s key", group) : "an EC key";
        break;
    default:
        kind = "a key of another type";
    }
    return apr_psprintf(p, "header.alg: %s needs %s, but the registered key "
                        "is %s", dpc_alg_name(alg),
                        alg == DPC_ALG_RS384 ? "an RSA key" : "an EC P-384 key",
                        kind);
}

dpc_jwt_err_e dpc_jwt_verify_signature(apr_pool_t *p, const dpc_jwt_t *jwt,
                                       EVP_PKEY *pkey, const char **errmsg)
{
    dpc_alg_e alg;
    const char *why;
    const unsigned char *sig = jwt->sig;
    apr_size_t siglen = jwt->sig_len;
    unsigned char *der;
    EVP_MD_CTX *md = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    int ok;
    dpc_jwt_err_e rv = DPC_JWT_INTERNAL;

    if (!jwt->alg)
        return fail(DPC_JWT_BAD_ALG, errmsg, "header.alg: is required "
                    "(RS384 or ES384)");
    if ((why = alg_refusal(p, jwt->alg)) != NULL)
        return fail(DPC_JWT_BAD_ALG, errmsg,
                    apr_pstrcat(p, "header.alg: ", why, NULL));
    alg = dpc_alg_from_name(jwt->alg);
    if (!pkey)
        return fail(DPC_JWT_INTERNAL, errmsg, "no key to verify with");
    if ((why = alg_key_mismatch(p, alg, pkey)) != NULL)
        return fail(DPC_JWT_BAD_ALG, errmsg, why);
    if (siglen == 0)
        return fail(DPC_JWT_BAD_SIGNATURE, errmsg, "the JWT signature is "
                    "empty");

    if (alg == DPC_ALG_ES384) {
        if (siglen != 2 * ES384_HALF)
            return fail(DPC_JWT_BAD_SIGNATURE, errmsg, apr_psprintf(p,
                        "an ES384 signature is 96 bytes (r||s), not %lu; "
                        "DER-encoded ECDSA signatures are not valid in a JWS",
                        (unsigned long)siglen));
        if (!es384_raw_to_der(p, sig, &der, &siglen))
            return fail(DPC_JWT_INTERNAL, errmsg,
                        dpc_ossl_errmsg(p, "cannot convert ES384 signature"));
        sig = der;
    }
    else if (siglen != (apr_size_t)EVP_PKEY_get_size(pkey)) {
        return fail(DPC_JWT_BAD_SIGNATURE, errmsg, apr_psprintf(p,
                    "an RS384 signature with this key is %d bytes, not %lu",
                    EVP_PKEY_get_size(pkey), (unsigned long)siglen));
    }

    if (!(md = EVP_MD_CTX_new())
        || EVP_DigestVerifyInit(md, &pctx, EVP_sha384(), NULL, pkey) != 1
        || (alg == DPC_ALG_RS384
            && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)) {
        rv = fail(DPC_JWT_INTERNAL, errmsg,
                  dpc_ossl_errmsg(p, "cannot set up signature verification"));
        goto end;
    }
    ok = EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt->raw,
                          jwt->signing_input_len);
    ERR_clear_error();          /* a failed verify queues errors */
    rv = ok == 1 ? DPC_JWT_OK
                 : fail(DPC_JWT_BAD_SIGNATURE, errmsg, "the JWT signature "
                        "does not verify with the registered public key");
end:
    EVP_MD_CTX_free(md);
    return rv;
}

dpc_jwt_err_e dpc_jwt_verify(apr_pool_t *p, const dpc_jwt_t *jwt,
                             EVP_PKEY *pkey, const dpc_jwt_policy_t *pol,
                             const char **errmsg)
{
    apr_array_header_t *l = apr_array_make(p, 4, sizeof(dpc_jwt_problem_t));
    dpc_jwt_err_e rv;

    check_header(p, jwt, pol, l);
    if (l->nelts > 0) {
        const dpc_jwt_problem_t *pr = &APR_ARRAY_IDX(l, 0, dpc_jwt_problem_t);
        return fail(pr->code, errmsg, pr->message);
    }
    if ((rv = dpc_jwt_verify_signature(p, jwt, pkey, errmsg)) != DPC_JWT_OK)
        return rv;
    check_claims(p, jwt, pol, l);
    if (l->nelts > 0) {
        const dpc_jwt_problem_t *pr = &APR_ARRAY_IDX(l, 0, dpc_jwt_problem_t);
        return fail(pr->code, errmsg, pr->message);
    }
    return DPC_JWT_OK;
}

/* ---------------------------------------------------------------------- */
/* signing                                                                  */

/* Compact JSON, base64url-encoded, from the pool. */
static char *b64url_json(apr_pool_t *p, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    char *out;

    if (!s)
        return NULL;
    out = dpc_b64url_encode(p, (unsigned char *)s, strlen(s));
    free(s);
    return out;
}

/* Sign input with SHA-384 and return the JWS signature bytes (ES384 in the
 * JOSE r||s form). */
static dpc_jwt_err_e sign384(apr_pool_t *p, EVP_PKEY *pkey, dpc_alg_e alg,
                             const char *input, unsigned char **sig,
                             apr_size_t *siglen, const char **errmsg)
{
    unsigned char *buf, *raw;
    apr_size_t len;
    const char *msg;

    if (dpc_pkey_sign(p, pkey, EVP_sha384(), input, strlen(input), &buf, &len, &msg)
        != DPC_PKEY_OK)
        return fail(DPC_JWT_INTERNAL, errmsg, msg);
    if (alg == DPC_ALG_ES384) {
        raw = apr_palloc(p, 2 * ES384_HALF);
        if (!es384_der_to_raw(buf, len, raw))
            return fail(DPC_JWT_INTERNAL, errmsg, dpc_ossl_errmsg(p, "cannot convert "
                        "ECDSA signature to r||s"));
        buf = raw;
        len = 2 * ES384_HALF;
    }
    *sig = buf;
    *siglen = len;
    return DPC_JWT_OK;
}

dpc_jwt_err_e dpc_jwt_sign(apr_pool_t *p, EVP_PKEY *pkey, const char *kid,
                           json_t *extra_header, json_t *claims,
                           const char **token, const char **errmsg)
{
    dpc_alg_e alg = dpc_pkey_alg_of(pkey, NULL, NULL);
    json_t *header;
    char *h64, *c64, *input;
    unsigned char *sig;
    apr_size_t siglen;
    dpc_jwt_err_e rv;

    *token = NULL;
    if (alg == DPC_ALG_UNKNOWN)
        return fail(DPC_JWT_BAD_ALG, errmsg, "the key can sign neither RS384 "
                    "(RSA) nor ES384 (EC P-384)");
    if (!json_is_object(claims))
        return fail(DPC_JWT_INTERNAL, errmsg, "claims must be a JSON object");
    header = json_pool_own(p, json_object());
    if (!header
        || json_object_set_new(header, "alg",
                               json_string(dpc_alg_name(alg))) != 0
        || (kid && json_object_set_new(header, "kid", json_string(kid)) != 0)
        || json_object_set_new(header, "typ", json_string("JWT")) != 0
        || (extra_header && json_object_update(header, extra_header) != 0)
        || json_object_set_new(header, "alg",
                               json_string(dpc_alg_name(alg))) != 0)
        return fail(DPC_JWT_INTERNAL, errmsg, "cannot build the JWT header");
    if (!(h64 = b64url_json(p, header)) || !(c64 = b64url_json(p, claims)))
        return fail(DPC_JWT_INTERNAL, errmsg, "cannot serialize the JWT");
    input = apr_pstrcat(p, h64, ".", c64, NULL);
    if ((rv = sign384(p, pkey, alg, input, &sig, &siglen, errmsg))
            != DPC_JWT_OK)
        return rv;
    *token = apr_pstrcat(p, input, ".", dpc_b64url_encode(p, sig, siglen),
                         NULL);
    return DPC_JWT_OK;
}

dpc_jwt_err_e dpc_jwt_client_assertion(apr_pool_t *p, EVP_PKEY *pkey,
                                       const char *kid,
                                       const char *client_token,
                                       const char *aud, apr_int64_t now,
                                       int lifetime, const char **token,
                                       const char **errmsg)
{
    const char *jti;
    json_t *claims;

    *token = NULL;
    if (!client_token || !aud)
        return fail(DPC_JWT_INTERNAL, errmsg, "a client token and the token "
                    "URL are required");
    if (lifetime <= 0)
        lifetime = DPC_JWT_MAX_LIFETIME;
    if (dpc_uuid_v4(p, &jti) != APR_SUCCESS)
        return fail(DPC_JWT_INTERNAL, errmsg, "random number generator "
                    "failed");
    claims = json_pool_own(p, json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}",
                                        "iss", client_token,
                                        "sub", client_token, "aud", aud,
                                        "iat", (json_int_t)now,
                                        "exp", (json_int_t)(now + lifetime),
                                        "jti", jti));
    if (!claims)
        return fail(DPC_JWT_INTERNAL, errmsg, "cannot build the JWT claims");
    return dpc_jwt_sign(p, pkey, kid, NULL, claims, token, errmsg);
}
