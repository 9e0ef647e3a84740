/* dpc_pkey.c: see dpc_pkey.h. */
#include "dpc_pkey.h"
#include "dpc_b64.h"

#include <string.h>

#include <apr_strings.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* ---------------------------------------------------------------------- */
/* helpers                                                                  */

const char *dpc_ossl_errmsg(apr_pool_t *p, const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();   /* the oldest: usually the cause */

    ERR_clear_error();
    if (e == 0)
        return what;
    ERR_error_string_n(e, buf, sizeof(buf));
    return apr_psprintf(p, "%s: %s", what, buf);
}

static apr_status_t pkey_cleanup(void *data)
{
    EVP_PKEY_free(data);
    return APR_SUCCESS;
}

EVP_PKEY *dpc_pkey_pool_own(apr_pool_t *p, EVP_PKEY *pkey)
{
    if (pkey)
        apr_pool_cleanup_register(p, pkey, pkey_cleanup,
                                  apr_pool_cleanup_null);
    return pkey;
}

static dpc_pkey_err_e fail(dpc_pkey_err_e rv, const char **errmsg,
                           const char *msg)
{
    if (errmsg)
        *errmsg = msg;
    return rv;
}

static dpc_pkey_err_e fail_ossl(apr_pool_t *p, const char **errmsg,
                                const char *what)
{
    return fail(DPC_PKEY_INTERNAL, errmsg, dpc_ossl_errmsg(p, what));
}

/* Copy a memory BIO's contents into the pool as a string. */
static const char *bio_pstrdup(apr_pool_t *p, BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);

    return n > 0 ? apr_pstrmemdup(p, data, (apr_size_t)n) : NULL;
}

const char *dpc_alg_name(dpc_alg_e alg)
{
    switch (alg) {
    case DPC_ALG_RS384:
        return "RS384";
    case DPC_ALG_ES384:
        return "ES384";
    default:
        return NULL;
    }
}

dpc_alg_e dpc_alg_from_name(const char *name)
{
    if (name && strcmp(name, "RS384") == 0)
        return DPC_ALG_RS384;
    if (name && strcmp(name, "ES384") == 0)
        return DPC_ALG_ES384;
    return DPC_ALG_UNKNOWN;
}

dpc_alg_e dpc_pkey_alg_of(EVP_PKEY *pkey, const char **group, apr_pool_t *p)
{
    char name[64];
    size_t len = 0;

    if (group)
        *group = NULL;
    if (!pkey)
        return DPC_ALG_UNKNOWN;
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
        return DPC_ALG_RS384;
    case EVP_PKEY_EC:
        if (!EVP_PKEY_get_group_name(pkey, name, sizeof(name), &len)) {
            ERR_clear_error();  /* explicit curve parameters: no name */
            return DPC_ALG_UNKNOWN;
        }
        if (group && p)
            *group = apr_pstrmemdup(p, name, len);
        return strcmp(name, "secp384r1") == 0 ? DPC_ALG_ES384
                                                : DPC_ALG_UNKNOWN;
    default:
        return DPC_ALG_UNKNOWN;
    }
}

/* Fill in everything about a freshly decoded public key.  Refuses key
 * types other than plain RSA and EC (RSA-PSS-restricted, Ed25519, DSA...):
 * nothing else can ever verify an RS384 or ES384 signature. */
static dpc_pkey_err_e describe(apr_pool_t *p, EVP_PKEY *pkey,
                               dpc_pkey_t **out, const char **errmsg)
{
    dpc_pkey_t *key;
    unsigned char *der = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int derlen, id = EVP_PKEY_get_base_id(pkey);
    BIO *bio = NULL;
    dpc_pkey_err_e rv = DPC_PKEY_INTERNAL;

    if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC) {
        const char *t = EVP_PKEY_get0_type_name(pkey);
        return fail(DPC_PKEY_UNSUPPORTED, errmsg, apr_psprintf(p,
                    "%s keys are not supported; use RSA (%d bits or more) "
                    "or EC P-384", t ? t : "this type of",
                    DPC_PKEY_RSA_MIN_BITS_DEFAULT));
    }
    key = apr_pcalloc(p, sizeof(*key));
    key->pkey = pkey;
    key->kty = id == EVP_PKEY_RSA ? "RSA" : "EC";
    key->bits = EVP_PKEY_get_bits(pkey);
    key->alg = dpc_pkey_alg_of(pkey, &key->curve, p);

    /* Fingerprint the re-encoded SubjectPublicKeyInfo, not the input text,
     * so the PKCS#1 and SPKI spellings of one key (or different line
     * wrapping) give the same value. */
    derlen = i2d_PUBKEY(pkey, &der);
    if (derlen <= 0
        || !EVP_Digest(der, (size_t)derlen, md, &mdlen, EVP_sha256(), NULL)) {
        rv = fail_ossl(p, errmsg, "cannot encode public key");
        goto end;
    }
    key->fingerprint = dpc_hex_encode(p, md, mdlen);

    if (!(bio = BIO_new(BIO_s_mem())) || !PEM_write_bio_PUBKEY(bio, pkey)) {
        rv = fail_ossl(p, errmsg, "cannot write public key PEM");
        goto end;
    }
    key->pem = bio_pstrdup(p, bio);
    *out = key;
    rv = DPC_PKEY_OK;
end:
    OPENSSL_free(der);
    BIO_free(bio);
    return rv;
}

/* ---------------------------------------------------------------------- */
/* PEM                                                                      */

static int only_space(const char *s, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

/* Decode the DER of a labelled block; NULL unless every byte is used. */
static EVP_PKEY *decode_public_der(const char *label, const unsigned char *der,
                                   long len)
{
    const unsigned char *q = der;
    EVP_PKEY *pkey = NULL;

    if (strcmp(label, PEM_STRING_PUBLIC) == 0)
        pkey = d2i_PUBKEY(NULL, &q, len);
    else if (strcmp(label, PEM_STRING_RSA_PUBLIC) == 0)
        pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, len);
    if (pkey && q != der + len) {       /* trailing bytes inside the DER */
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    return pkey;
}

/* Say what a non-public-key PEM label is, so people who paste their
 * private key or a certificate learn what to send instead. */
static const char *wrong_label_msg(apr_pool_t *p, const char *label)
{
    if (strstr(label, "PRIVATE KEY"))
        return "this is a private key: send only the public key "
               "(\"BEGIN PUBLIC KEY\"), and keep the private key secret";
    if (strcmp(label, "CERTIFICATE") == 0)
        return "not a PEM public key: a certificate was given; send its "
               "public key (\"BEGIN PUBLIC KEY\")";
    return apr_psprintf(p, "not a PEM public key: unexpected PEM block "
                        "\"%.40s\"", label);
}

dpc_pkey_err_e dpc_pkey_from_pem(apr_pool_t *p, const char *pem,
                                 apr_size_t len, dpc_pkey_t **key,
                                 const char **errmsg)
{
    BIO *bio = NULL;
    char *label = NULL, *header = NULL;
    unsigned char *der = NULL;
    long derlen = 0;
    apr_size_t lead = 0;
    EVP_PKEY *pkey = NULL;
    char *rest = NULL;
    long restlen;
    dpc_pkey_err_e rv = DPC_PKEY_NOT_PEM;

    *key = NULL;
    if (!pem || len == 0)
        return fail(rv, errmsg, "not a PEM public key: empty input");
    if (len > DPC_PKEY_MAX_PEM)
        return fail(rv, errmsg, "not a PEM public key: input too large");
    while (lead < len && only_space(pem + lead, 1))
        lead++;
    /* PEM_read_bio would skip any prose before the BEGIN line; we insist
     * the input is the key and nothing else. */
    if (len - lead < 11 || memcmp(pem + lead, "-----BEGIN ", 11) != 0)
        return fail(rv, errmsg, "not a PEM public key: it must start with "
                    "\"-----BEGIN PUBLIC KEY-----\"");
    if (!(bio = BIO_new_mem_buf(pem + lead, (int)(len - lead))))
        return fail_ossl(p, errmsg, "cannot allocate BIO");
    if (!PEM_read_bio(bio, &label, &header, &der, &derlen)) {
        ERR_clear_error();
        rv = fail(rv, errmsg, "not a PEM public key: malformed PEM "
                  "(check the BEGIN/END lines and the base64 body)");
        goto end;
    }
    if (header && *header) {
        rv = fail(rv, errmsg, "not a PEM public key: PEM headers are not "
                  "allowed");
        goto end;
    }
    if (strcmp(label, PEM_STRING_PUBLIC) != 0
        && strcmp(label, PEM_STRING_RSA_PUBLIC) != 0) {
        rv = fail(rv, errmsg, wrong_label_msg(p, label));
        goto end;
    }
    restlen = BIO_get_mem_data(bio, &rest);
    if (restlen > 0 && !only_space(rest, (apr_size_t)restlen)) {
        rv = fail(rv, errmsg, "not a PEM public key: extra data after the "
                  "END line (send exactly one key)");
        goto end;
    }
    if (!(pkey = decode_public_der(label, der, derlen))) {
        ERR_clear_error();
        rv = fail(rv, errmsg, apr_psprintf(p, "not a PEM public key: the "
                  "\"%s\" block does not decode", label));
        goto end;
    }
    dpc_pkey_pool_own(p, pkey);
    rv = describe(p, pkey, key, errmsg);
end:
    OPENSSL_free(label);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(bio);
    return rv;
}

/* ---------------------------------------------------------------------- */
/* JWK                                                                      */

/* A required base64url member of a JWK, decoded strictly. */
static dpc_pkey_err_e jwk_bytes(apr_pool_t *p, const json_t *jwk,
                                const char *name, unsigned char **out,
                                apr_size_t *outlen, const char **errmsg)
{
    const char *s = json_string_value(json_object_get(jwk, name));

    if (!s || !*s)
        return fail(DPC_PKEY_BAD_JWK, errmsg, apr_psprintf(p,
                    "JWK member \"%s\" is missing or not a string", name));
    if (dpc_b64url_decode(p, s, strlen(s), out, outlen) != APR_SUCCESS)
        return fail(DPC_PKEY_BAD_JWK, errmsg, apr_psprintf(p,
                    "JWK member \"%s\" is not valid base64url", name));
    return DPC_PKEY_OK;
}

/* Build an EVP_PKEY of keytype from an OSSL_PARAM list. */
static EVP_PKEY *pkey_fromdata(const char *keytype, OSSL_PARAM *params)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, keytype, NULL);
    EVP_PKEY *pkey = NULL;

    if (ctx && EVP_PKEY_fromdata_init(ctx) > 0)
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static dpc_pkey_err_e jwk_rsa(apr_pool_t *p, const json_t *jwk,
                              EVP_PKEY **out, const char **errmsg)
{
    unsigned char *n, *e;
    apr_size_t nlen, elen;
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    dpc_pkey_err_e rv;

    if ((rv = jwk_bytes(p, jwk, "n", &n, &nlen, errmsg)) != DPC_PKEY_OK
        || (rv = jwk_bytes(p, jwk, "e", &e, &elen, errmsg)) != DPC_PKEY_OK)
        return rv;
    if (elen > 8)               /* real exponents are 3 or 65537 */
        return fail(DPC_PKEY_BAD_JWK, errmsg,
                    "JWK exponent \"e\" is too large");
    if (nlen > DPC_PKEY_RSA_MAX_BITS / 8)
        return fail(DPC_PKEY_BAD_JWK, errmsg,
                    "JWK modulus \"n\" is too large");
    if (!(bn_n = BN_bin2bn(n, (int)nlen, NULL))
        || !(bn_e = BN_bin2bn(e, (int)elen, NULL))
        || !(bld = OSSL_PARAM_BLD_new())
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e)
        || !(params = OSSL_PARAM_BLD_to_param(bld))) {
        rv = fail_ossl(p, errmsg, "cannot build RSA parameters");
        goto end;
    }
    if (!(*out = pkey_fromdata("RSA", params))) {
        rv = fail(DPC_PKEY_BAD_JWK, errmsg,
                  dpc_ossl_errmsg(p, "JWK is not a valid RSA public key"));
        goto end;
    }
    rv = DPC_PKEY_OK;
end:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return rv;
}

static dpc_pkey_err_e jwk_ec(apr_pool_t *p, const json_t *jwk,
                             EVP_PKEY **out, const char **errmsg)
{
    static const struct { const char *jose, *group; apr_size_t size; }
    curves[] = {
        { "P-256", "prime256v1", 32 },
        { "P-384", "secp384r1", 48 },
        { "P-521", "secp521r1", 66 },
    };
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    unsigned char *x, *y, *point;
    apr_size_t xlen, ylen, i, size = 0;
    const char *group = NULL;
    OSSL_PARAM params[3];
    dpc_pkey_err_e rv;

    for (i = 0; crv && i < sizeof(curves) / sizeof(curves[0]); i++) {
        if (strcmp(crv, curves[i].jose) == 0) {
            group = curves[i].group;
            size = curves[i].size;
        }
    }
    if (!crv)
        return fail(DPC_PKEY_BAD_JWK, errmsg,
                    "JWK member \"crv\" is missing or not a string");
    if (!group)
        return fail(DPC_PKEY_BAD_JWK, errmsg, apr_psprintf(p,
                    "JWK curve \"%.20s\" is not supported", crv));
    if ((rv = jwk_bytes(p, jwk, "x", &x, &xlen, errmsg)) != DPC_PKEY_OK
        || (rv = jwk_bytes(p, jwk, "y", &y, &ylen, errmsg)) != DPC_PKEY_OK)
        return rv;
    /* RFC 7518 6.2.1.2: x and y are the full field size, leading zeros
     * included; anything else is a malformed key. */
    if (xlen != size || ylen != size)
        return fail(DPC_PKEY_BAD_JWK, errmsg, apr_psprintf(p,
                    "JWK coordinates for %s must be %lu bytes each", crv,
                    (unsigned long)size));
    point = apr_palloc(p, 1 + 2 * size);
    point[0] = 0x04;            /* uncompressed SEC1 point */
    memcpy(point + 1, x, size);
    memcpy(point + 1 + size, y, size);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  point, 1 + 2 * size);
    params[2] = OSSL_PARAM_construct_end();
    /* Decoding the point checks that it lies on the curve. */
    if (!(*out = pkey_fromdata("EC", params)))
        return fail(DPC_PKEY_BAD_JWK, errmsg,
                    dpc_ossl_errmsg(p, "JWK is not a valid EC public key"));
    return DPC_PKEY_OK;
}

dpc_pkey_err_e dpc_pkey_from_jwk(apr_pool_t *p, const json_t *jwk,
                                 dpc_pkey_t **key, const char **errmsg)
{
    const char *kty, *alg, *use;
    EVP_PKEY *pkey = NULL;
    dpc_pkey_err_e rv;

    *key = NULL;
    if (!json_is_object(jwk))
        return fail(DPC_PKEY_BAD_JWK, errmsg, "JWK is not a JSON object");
    kty = json_string_value(json_object_get(jwk, "kty"));
    if (!kty)
        return fail(DPC_PKEY_BAD_JWK, errmsg,
                    "JWK member \"kty\" is missing or not a string");
    if (strcmp(kty, "RSA") == 0)
        rv = jwk_rsa(p, jwk, &pkey, errmsg);
    else if (strcmp(kty, "EC") == 0)
        rv = jwk_ec(p, jwk, &pkey, errmsg);
    else
        return fail(DPC_PKEY_UNSUPPORTED, errmsg, apr_psprintf(p,
                    "JWK key type \"%.20s\" is not supported; use RSA or EC",
                    kty));
    if (rv != DPC_PKEY_OK)
        return rv;
    dpc_pkey_pool_own(p, pkey);
    if ((rv = describe(p, pkey, key, errmsg)) != DPC_PKEY_OK)
        return rv;

    use = json_string_value(json_object_get(jwk, "use"));
    if (use && strcmp(use, "sig") != 0)
        return fail(DPC_PKEY_BAD_JWK, errmsg, apr_psprintf(p,
                    "JWK \"use\" is \"%.20s\", not \"sig\"", use));
    /* A JWK "alg" binds the key to one algorithm: it must be the one the
     * key type gives here, or the key is meant for something else. */
    alg = json_string_value(json_object_get(jwk, "alg"));
    if (alg && (*key)->alg != DPC_ALG_UNKNOWN
        && strcmp(alg, dpc_alg_name((*key)->alg)) != 0) {
        *key = NULL;
        return fail(DPC_PKEY_BAD_JWK, errmsg, apr_psprintf(p,
                    "JWK \"alg\" %.20s does not match an %s key (expected %s)",
                    alg, kty, dpc_alg_name(dpc_pkey_alg_of(pkey, NULL, p))));
    }
    return DPC_PKEY_OK;
}

dpc_pkey_err_e dpc_pkey_from_jwk_text(apr_pool_t *p, const char *json,
                                      dpc_pkey_t **key, const char **errmsg)
{
    json_error_t jerr;
    json_t *jwk;
    dpc_pkey_err_e rv;

    *key = NULL;
    if (!json || !(jwk = json_loads(json, JSON_REJECT_DUPLICATES, &jerr)))
        return fail(DPC_PKEY_BAD_JWK, errmsg, "JWK is not valid JSON");
    rv = dpc_pkey_from_jwk(p, jwk, key, errmsg);
    json_decref(jwk);
    return rv;
}

/* ---------------------------------------------------------------------- */
/* policy                                                                   */

dpc_pkey_err_e dpc_pkey_check(apr_pool_t *p, const dpc_pkey_t *key,
                              int rsa_min_bits, const char **errmsg)
{
    EVP_PKEY_CTX *ctx;
    int ok;

    if (rsa_min_bits <= 0)
        rsa_min_bits = DPC_PKEY_RSA_MIN_BITS_DEFAULT;
    if (strcmp(key->kty, "RSA") == 0) {
        if (key->bits < rsa_min_bits)
            return fail(DPC_PKEY_TOO_SMALL, errmsg, apr_psprintf(p,
                        "RSA key of %d bits is below the minimum of %d bits",
                        key->bits, rsa_min_bits));
        /* OpenSSL refuses to verify with larger moduli anyway, and each
         * verification costs the square of the size: refuse at upload. */
        if (key->bits > DPC_PKEY_RSA_MAX_BITS)
            return fail(DPC_PKEY_TOO_LARGE, errmsg, apr_psprintf(p,
                        "RSA key of %d bits is above the maximum of %d bits",
                        key->bits, DPC_PKEY_RSA_MAX_BITS));
    }
    else if (key->alg != DPC_ALG_ES384) {
        return fail(DPC_PKEY_BAD_CURVE, errmsg, key->curve
                    ? apr_psprintf(p, "EC curve %s is not P-384", key->curve)
                    : "EC keys with explicit curve parameters are not "
                      "supported; use the named curve P-384");
    }
    /* SP 800-56B style checks for RSA (odd modulus and exponent, no small
     * factors); point-on-curve and order checks for EC. */
    if (!(ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL)))
        return fail_ossl(p, errmsg, "cannot check public key");
    ok = EVP_PKEY_public_check(ctx);
    EVP_PKEY_CTX_free(ctx);
    if (ok != 1)
        return fail(DPC_PKEY_INVALID, errmsg,
                    dpc_ossl_errmsg(p, "public key failed validation"));
    return DPC_PKEY_OK;
}

dpc_pkey_err_e dpc_pkey_parse(apr_pool_t *p, const char *pem, apr_size_t len,
                              int rsa_min_bits, dpc_pkey_t **key,
                              const char **errmsg)
{
    dpc_pkey_err_e rv = dpc_pkey_from_pem(p, pem, len, key, errmsg);

    if (rv == DPC_PKEY_OK
        && (rv = dpc_pkey_check(p, *key, rsa_min_bits, errmsg)) != DPC_PKEY_OK)
        *key = NULL;
    return rv;
}

/* ---------------------------------------------------------------------- */
/* SHA-256 signatures (proof of possession)                                 */

/* Make RSA use PKCS#1 v1.5 explicitly: it is OpenSSL's default today, but
 * the wire format is fixed by what `openssl dgst -sign` produced, so we do
 * not want to depend on a default. */
static int set_pkcs1(EVP_PKEY *pkey, EVP_PKEY_CTX *pctx)
{
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
        return 1;
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
}

dpc_pkey_err_e dpc_pkey_verify_sha256(apr_pool_t *p, EVP_PKEY *pkey,
                                      const void *data, apr_size_t len,
                                      const char *sig_b64,
                                      const char **errmsg)
{
    EVP_MD_CTX *md = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *sig;
    apr_size_t siglen;
    int id = EVP_PKEY_get_base_id(pkey), ok;
    dpc_pkey_err_e rv = DPC_PKEY_INTERNAL;

    if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC)
        return fail(DPC_PKEY_UNSUPPORTED, errmsg,
                    "only RSA and EC keys can verify a signature here");
    if (!sig_b64 || !*sig_b64)
        return fail(DPC_PKEY_BAD_SIGNATURE, errmsg, "the signature is empty");
    if (dpc_b64_decode(p, sig_b64, strlen(sig_b64), &sig, &siglen)
            != APR_SUCCESS || siglen == 0)
        return fail(DPC_PKEY_BAD_SIGNATURE, errmsg,
                    "the signature is not valid base64");
    if (siglen > (apr_size_t)EVP_PKEY_get_size(pkey))
        return fail(DPC_PKEY_BAD_SIGNATURE, errmsg,
                    "the signature is too long for this key");
    if (!(md = EVP_MD_CTX_new())
        || EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, pkey) != 1
        || !set_pkcs1(pkey, pctx)) {
        rv = fail_ossl(p, errmsg, "cannot set up signature verification");
        goto end;
    }
    ok = EVP_DigestVerify(md, sig, siglen, data, len);
    ERR_clear_error();          /* a bad signature queues errors */
    if (ok != 1) {
        rv = fail(DPC_PKEY_BAD_SIGNATURE, errmsg, "the signature does not "
                  "verify with this public key (sign the snippet with "
                  "SHA-256 using the matching private key)");
        goto end;
    }
    rv = DPC_PKEY_OK;
end:
    EVP_MD_CTX_free(md);
    return rv;
}

dpc_pkey_err_e dpc_pkey_verify_pop(apr_pool_t *p, EVP_PKEY *pkey,
                                   const char *sig_b64, const char **errmsg)
{
    return dpc_pkey_verify_sha256(p, pkey, DPC_PKEY_SNIPPET,
                                  sizeof(DPC_PKEY_SNIPPET) - 1, sig_b64,
                                  errmsg);
}

/* ---------------------------------------------------------------------- */
/* client side                                                              */

dpc_pkey_err_e dpc_pkey_generate(apr_pool_t *p, dpc_alg_e alg, int rsa_bits,
                                 EVP_PKEY **pkey, const char **errmsg)
{
    *pkey = NULL;
    if (alg == DPC_ALG_RS384) {
        if (rsa_bits <= 0)
            rsa_bits = DPC_PKEY_RSA_MIN_BITS_DEFAULT;
        if (rsa_bits < 2048 || rsa_bits > DPC_PKEY_RSA_MAX_BITS)
            return fail(rsa_bits < 2048 ? DPC_PKEY_TOO_SMALL
                                        : DPC_PKEY_TOO_LARGE, errmsg,
                        "RSA key size must be between 2048 and 16384 bits");
        *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
    }
    else if (alg == DPC_ALG_ES384) {
        *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    }
    else {
        return fail(DPC_PKEY_UNSUPPORTED, errmsg,
                    "key generation supports RS384 and ES384 only");
    }
    if (!*pkey)
        return fail_ossl(p, errmsg, "key generation failed");
    dpc_pkey_pool_own(p, *pkey);
    return DPC_PKEY_OK;
}

/* Refuse to prompt on the terminal for a passphrase, which is what a NULL
 * callback would do: an encrypted key is simply an error here. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

dpc_pkey_err_e dpc_pkey_private_from_pem(apr_pool_t *p, const char *pem,
                                         apr_size_t len, EVP_PKEY **pkey,
                                         const char **errmsg)
{
    BIO *bio;

    *pkey = NULL;
    if (!pem || len == 0 || len > DPC_PKEY_MAX_PEM)
        return fail(DPC_PKEY_NOT_PEM, errmsg,
                    "not a PEM private key: empty or too large");
    if (!(bio = BIO_new_mem_buf(pem, (int)len)))
        return fail_ossl(p, errmsg, "cannot allocate BIO");
    *pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (!*pkey)
        return fail(DPC_PKEY_NOT_PEM, errmsg, dpc_ossl_errmsg(p,
                    "not an unencrypted PEM private key"));
    dpc_pkey_pool_own(p, *pkey);
    return DPC_PKEY_OK;
}

dpc_pkey_err_e dpc_pkey_private_pem(apr_pool_t *p, EVP_PKEY *pkey,
                                    const char **pem, const char **errmsg)
{
    BIO *bio = BIO_new(BIO_s_mem());
    dpc_pkey_err_e rv = DPC_PKEY_OK;

    /* With no cipher, OpenSSL 3 writes unencrypted PKCS#8. */
    if (!bio || !PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL,
                                          NULL))
        rv = fail_ossl(p, errmsg, "cannot write private key PEM");
    else
        *pem = bio_pstrdup(p, bio);
    BIO_free(bio);
    return rv;
}

dpc_pkey_err_e dpc_pkey_public_pem(apr_pool_t *p, EVP_PKEY *pkey,
                                   const char **pem, const char **errmsg)
{
    BIO *bio = BIO_new(BIO_s_mem());
    dpc_pkey_err_e rv = DPC_PKEY_OK;

    if (!bio || !PEM_write_bio_PUBKEY(bio, pkey))
        rv = fail_ossl(p, errmsg, "cannot write public key PEM");
    else
        *pem = bio_pstrdup(p, bio);
    BIO_free(bio);
    return rv;
}

dpc_pkey_err_e dpc_pkey_sign(apr_pool_t *p, EVP_PKEY *pkey, const EVP_MD *digest,
                             const void *data, apr_size_t len, unsigned char **sig,
                             apr_size_t *siglen, const char **errmsg)
{
    EVP_MD_CTX *md = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    size_t n = 0;
    dpc_pkey_err_e rv = DPC_PKEY_INTERNAL;

    if (!(md = EVP_MD_CTX_new())
        || EVP_DigestSignInit(md, &pctx, digest, NULL, pkey) != 1
        || !set_pkcs1(pkey, pctx)
        || EVP_DigestSign(md, NULL, &n, data, len) != 1) {
        rv = fail_ossl(p, errmsg, "cannot set up signing");
        goto end;
    }
    *sig = apr_palloc(p, n);
    if (EVP_DigestSign(md, *sig, &n, data, len) != 1) {
        rv = fail_ossl(p, errmsg, "signing failed");
        goto end;
    }
    *siglen = n;
    rv = DPC_PKEY_OK;
end:
    EVP_MD_CTX_free(md);
    return rv;
}

dpc_pkey_err_e dpc_pkey_sign_sha256(apr_pool_t *p, EVP_PKEY *pkey,
                                    const void *data, apr_size_t len,
                                    const char **sig_b64, const char **errmsg)
{
    unsigned char *sig;
    apr_size_t siglen;
    dpc_pkey_err_e rv = dpc_pkey_sign(p, pkey, EVP_sha256(), data, len, &sig, &siglen,
                                      errmsg);

    if (rv == DPC_PKEY_OK)
        *sig_b64 = dpc_b64_encode(p, sig, siglen);
    return rv;
}

dpc_pkey_err_e dpc_pkey_sign_pop(apr_pool_t *p, EVP_PKEY *pkey,
                                 const char **sig_b64, const char **errmsg)
{
    return dpc_pkey_sign_sha256(p, pkey, DPC_PKEY_SNIPPET,
                                sizeof(DPC_PKEY_SNIPPET) - 1, sig_b64, errmsg);
}
