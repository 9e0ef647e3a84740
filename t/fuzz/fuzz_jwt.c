/* fuzz_jwt: client assertions as /Token/auth and /Token/validate read them.
 *
 *   dpc_jwt_parse             the compact JWS: parts, base64url, JSON
 *   dpc_jwt_problems          every header and claim rule
 *   dpc_jwt_check             the first problem
 *   dpc_jwt_verify            rules and signature, against an EC P-384 and
 *   dpc_jwt_verify_signature  an RSA key made at start-up
 *   dpc_b64url_decode/encode  each part re-encodes to itself (one spelling)
 *   dpc_jwt_sign              a parsed token's claims, signed again, parse
 *                             back to the same claims and verify
 */
#include "fuzz.h"

#include "dpc_b64.h"
#include "dpc_jwt.h"
#include "dpc_pkey.h"
#include "fuzz_keys.h"

#define AUD "https://dpc.example/api/v2/Token/auth"
#define NOW 1700000000

static EVP_PKEY *ec_key, *rsa_key;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ec_key = fuzz_key("fuzz_jwt", DPC_ALG_ES384, 0);
    rsa_key = fuzz_key("fuzz_jwt", DPC_ALG_RS384, 2048);
    return 0;
}

/* Each of the three parts decodes and encodes back to exactly itself. */
static void parts_canonical(apr_pool_t *p, const char *raw)
{
    const char *s = raw, *dot;
    int part;

    for (part = 0; part < 3; part++) {
        apr_size_t n = (dot = strchr(s, '.')) != NULL ? (apr_size_t)(dot - s) : strlen(s);
        unsigned char *bytes;
        apr_size_t len;

        FUZZ_CHECK(dpc_b64url_decode(p, s, n, &bytes, &len) == APR_SUCCESS);
        FUZZ_CHECK(strlen(dpc_b64url_encode(p, bytes, len)) == n);
        FUZZ_CHECK(!strncmp(dpc_b64url_encode(p, bytes, len), s, n));
        s = dot ? dot + 1 : s + n;
    }
}

/* Sign the claims again (header from the key) and read them back. */
static void resign(apr_pool_t *p, const dpc_jwt_t *jwt)
{
    const char *token, *err;
    dpc_jwt_t *again;

    if (dpc_jwt_sign(p, ec_key, jwt->kid, NULL, jwt->claims, &token, &err) != DPC_JWT_OK)
        return;     /* e.g. claims jansson cannot dump: not a parser matter */
    FUZZ_CHECK(dpc_jwt_parse(p, token, &again, &err) == DPC_JWT_OK);
    FUZZ_CHECK(json_equal(again->claims, jwt->claims));
    FUZZ_CHECK(dpc_jwt_verify_signature(p, again, ec_key, &err) == DPC_JWT_OK);
}

static void check_parsed(apr_pool_t *p, const dpc_jwt_t *jwt)
{
    dpc_jwt_policy_t pol;
    apr_array_header_t *problems = apr_array_make(p, 4, sizeof(dpc_jwt_problem_t));
    const char *err;
    int n, i;

    FUZZ_CHECK(json_is_object(jwt->header) && json_is_object(jwt->claims));
    FUZZ_CHECK(jwt->signing_input_len < strlen(jwt->raw));
    FUZZ_CHECK(jwt->raw[jwt->signing_input_len] == '.');
    parts_canonical(p, jwt->raw);
    dpc_jwt_policy_init(&pol, AUD, NOW);
    n = dpc_jwt_problems(p, jwt, &pol, problems);
    FUZZ_CHECK(n == problems->nelts);
    for (i = 0; i < n; i++) {
        const dpc_jwt_problem_t *pr = &APR_ARRAY_IDX(problems, i, dpc_jwt_problem_t);

        FUZZ_CHECK(pr->where && pr->message && pr->code != DPC_JWT_OK);
    }
    /* check reports a problem exactly when problems finds one */
    FUZZ_CHECK((dpc_jwt_check(p, jwt, &pol, &err) == DPC_JWT_OK) == (n == 0));
    pol.require_typ = 0;
    pol.skew = 0;
    (void)dpc_jwt_check(p, jwt, &pol, &err);
    (void)dpc_jwt_verify(p, jwt, ec_key, &pol, &err);
    (void)dpc_jwt_verify(p, jwt, rsa_key, &pol, &err);
    (void)dpc_jwt_verify_signature(p, jwt, rsa_key, &err);
    resign(p, jwt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *token = fuzz_text(p, data, size), *err = NULL;
    dpc_jwt_t *jwt = NULL;

    if (dpc_jwt_parse(p, token, &jwt, &err) == DPC_JWT_OK)
        check_parsed(p, jwt);
    else
        FUZZ_CHECK(err != NULL);
    fuzz_end(p);
    return 0;
}
