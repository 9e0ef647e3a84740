/* dpc-client: the reference client for users of the DPC API.
 *
 *   dpc-client [-v] COMMAND [OPTIONS]
 *
 * It replaces DPC's downloadable JWT tool: it makes the key pair and the
 * proof-of-possession signature an organization uploads, signs client
 * assertions, trades them for access tokens (SMART Backend Services), and
 * makes authenticated requests.  Every command prints one JSON object on
 * stdout on success; errors go to stderr with exit status 1 (failed) or 2
 * (usage).  Nothing secret is ever written to stdout except the JWT or
 * access token asked for.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_general.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <unistd.h>

#include "dpc_b64.h"
#include "dpc_crypt.h"
#include "dpc_fhir.h"
#include "dpc_http.h"
#include "dpc_jwt.h"
#include "dpc_log.h"
#include "dpc_manifest.h"
#include "dpc_pkey.h"
#include "dpc_token.h"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
/* Returned by the option parser for --help: print usage, exit 0. */
#define EXIT_HELP (-1)

/* Private key files larger than this are not keys. */
#define MAX_KEY_FILE (64 * 1024)
#define DEFAULT_SCOPE "system/*.*"
#define USER_AGENT "dpc-client/1"

static const char usage[] =
    "usage: dpc-client [-v] COMMAND [OPTIONS]\n"
    "  keygen [--alg RS384|ES384] [--bits N] --out PREFIX\n"
    "        write PREFIX.pem (private key, mode 0600), PREFIX.pub.pem (public\n"
    "        key to register) and PREFIX.sig (its proof-of-possession signature)\n"
    "  jwt    CREDENTIALS --aud TOKEN_URL [--lifetime SECS] [--count N]\n"
    "        print a signed client assertion (lifetime at most 300 s); N of\n"
    "        them, one a line, with --count\n"
    "  token  CREDENTIALS --token-url URL [--scope S] [TLS]\n"
    "        trade a fresh client assertion for an access token\n"
    "  get URL [--token ACCESS_TOKEN | --sandbox FILE] [--header 'Name: value']...\n"
    "          [--fail] [TLS]\n"
    "        GET a URL; prints {\"status\",\"headers\",\"body\"}; --fail exits 1\n"
    "        on an HTTP status of 400 or more\n"
    "  export --group ID [--type T[,T...]] [--since INSTANT] --dir DIR\n"
    "          (--sandbox FILE | CREDENTIALS --token-url URL --base URL)\n"
    "          [--parallel N] [--no-partial] [--job STATUS_URL] [--decrypt-key PRIVATE.pem]\n"
    "          [TLS]\n"
    "        Bulk Data export of a Group: kick off, poll (progress on stderr),\n"
    "        download every file into DIR with N connections (default 4),\n"
    "        resuming DIR/NAME.part, and verify SHA-256 and length.  Files\n"
    "        are downloaded as soon as they are finished, while the export\n"
    "        runs (allowPartialManifests, following the pages' next links);\n"
    "        --no-partial waits for the complete manifest instead.  --job\n"
    "        polls and downloads an existing job instead of kicking one off.\n"
    "        The manifest's error files (OperationOutcomes: who could not be\n"
    "        exported and why, and warnings such as ignored parameters) are\n"
    "        fetched and verified too, and named on stderr.  Prints {job,\n"
    "        files, resources (data files only), error_files, outcomes,\n"
    "        bytes, resumed, verified (all files), first_byte_ms (from the\n"
    "        start to the first byte of a file, -1 if none)}.\n"
    "        The base URL may come from the sandbox file's base_url.\n"
    "        --token ACCESS_TOKEN instead of CREDENTIALS uses that bearer token\n"
    "        (BCDA's, from its /auth/token).  Encrypted files (BCDA: the\n"
    "        manifest gives their encryptedKey) are fetched as NAME.encrypted\n"
    "        and, with --decrypt-key (the ACO's RSA private key), decrypted\n"
    "        into NAME once downloaded (streaming, in constant memory); a file\n"
    "        whose GCM tag does not check fails the export and leaves no\n"
    "        plaintext.\n"
    "CREDENTIALS: --key PRIVATE.pem --kid KEY_ID --client-token TOKEN, or\n"
    "        --sandbox FILE (JSON with private_key, key_id, client_token and\n"
    "        token_url, as build/run writes to var/sandbox.json); options given\n"
    "        on the command line override the file.\n"
    "TLS:    --cacert FILE (extra trusted CAs), --insecure (no certificate\n"
    "        checks: a local sandbox with a self-signed certificate only)\n";

static int fail(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(int status, const char *fmt, ...)
{
    va_list ap;

    /* one message at a time: export's download threads report too */
    flockfile(stderr);
    fputs("dpc-client: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (status == EXIT_USAGE)
        fputs("run 'dpc-client --help' for usage\n", stderr);
    funlockfile(stderr);
    return status;
}

/* Print a JSON object on one line of stdout, and release it. */
static int print_json(json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;

    json_decref(v);
    if (!s)
        return fail(EXIT_FAIL, "out of memory");
    puts(s);
    free(s);
    return fflush(stdout) ? fail(EXIT_FAIL, "cannot write to stdout") : EXIT_OK;
}

/* ====================================================================== */
/* options                                                                  */

typedef struct {
    const char *name;           /* "--out" */
    int has_value;
    int repeatable;
} opt_spec_t;

typedef struct {
    apr_table_t *opts;          /* name -> value ("" for flags) */
    apr_array_header_t *args;   /* positional arguments */
} cmdline_t;

static const opt_spec_t *find_spec(const opt_spec_t *specs, const char *name,
                                   apr_size_t len)
{
    for (; specs->name; specs++)
        if (strlen(specs->name) == len && !strncmp(specs->name, name, len))
            return specs;
    return NULL;
}

/* Parse argv[1..] of a command strictly: only the options in specs,
 * "--name value" or "--name=value", each at most once unless repeatable,
 * and at most max_args positional arguments. */
static int parse_cmdline(apr_pool_t *p, const char *cmd, const opt_spec_t *specs,
                         int max_args, int argc, char **argv, cmdline_t *cl)
{
    const opt_spec_t *spec;
    const char *a, *eq, *value;
    int i;

    cl->opts = apr_table_make(p, 8);
    cl->args = apr_array_make(p, 2, sizeof(const char *));
    for (i = 1; i < argc; i++) {
        a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return EXIT_HELP;
        if (strncmp(a, "--", 2)) {
            if (cl->args->nelts >= max_args)
                return fail(EXIT_USAGE, "%s: unexpected argument '%s'", cmd, a);
            APR_ARRAY_PUSH(cl->args, const char *) = a;
            continue;
        }
        eq = strchr(a, '=');
        spec = find_spec(specs, a, eq ? (apr_size_t)(eq - a) : strlen(a));
        if (!spec)
            return fail(EXIT_USAGE, "%s: unknown option '%s'", cmd, a);
        if (!spec->has_value && eq)
            return fail(EXIT_USAGE, "%s: %s takes no value", cmd, spec->name);
        if (spec->has_value && !eq && i + 1 >= argc)
            return fail(EXIT_USAGE, "%s: %s needs a value", cmd, spec->name);
        if (!spec->repeatable && apr_table_get(cl->opts, spec->name))
            return fail(EXIT_USAGE, "%s: %s given twice", cmd, spec->name);
        value = !spec->has_value ? "" : eq ? eq + 1 : argv[++i];
        apr_table_add(cl->opts, spec->name, value);
    }
    return EXIT_OK;
}

static const char *opt(const cmdline_t *cl, const char *name)
{
    return apr_table_get(cl->opts, name);
}

/* A whole decimal number in [min, max], or a usage error. */
static int opt_int(const cmdline_t *cl, const char *cmd, const char *name,
                   int dflt, int min, int max, int *out)
{
    const char *s = opt(cl, name);
    char *end;
    apr_int64_t v;

    *out = dflt;
    if (!s)
        return EXIT_OK;
    errno = 0;
    v = apr_strtoi64(s, &end, 10);
    if (errno || end == s || *end || !apr_isdigit(*s))
        return fail(EXIT_USAGE, "%s: %s must be a whole number, not '%s'", cmd,
                    name, s);
    if (v < min || v > max)
        return fail(EXIT_USAGE, "%s: %s must be between %d and %d", cmd, name,
                    min, max);
    *out = (int)v;
    return EXIT_OK;
}

/* ====================================================================== */
/* files                                                                    */

static int read_file(apr_pool_t *p, const char *path, apr_size_t max,
                     char **data, apr_size_t *len)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    char err[256];

    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p);
    if (rv == APR_SUCCESS)
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    if (rv != APR_SUCCESS)
        return fail(EXIT_FAIL, "cannot read %s: %s", path,
                    apr_strerror(rv, err, sizeof(err)));
    if (fi.size > (apr_off_t)max) {
        apr_file_close(f);
        return fail(EXIT_FAIL, "%s is larger than %lu bytes", path,
                    (unsigned long)max);
    }
    *data = apr_palloc(p, (apr_size_t)fi.size + 1);
    rv = apr_file_read_full(f, *data, (apr_size_t)fi.size, len);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF)
        return fail(EXIT_FAIL, "cannot read %s: %s", path,
                    apr_strerror(rv, err, sizeof(err)));
    (*data)[*len] = '\0';
    return EXIT_OK;
}

/* Create path (never replacing a file: keys are not overwritten by
 * accident), write data and sync it to disk. */
static int write_new_file(apr_pool_t *p, const char *path, const char *data,
                          apr_fileperms_t perms)
{
    apr_file_t *f;
    apr_status_t rv;
    char err[256];

    rv = apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                       | APR_FOPEN_EXCL | APR_FOPEN_BINARY, perms, p);
    if (APR_STATUS_IS_EEXIST(rv))
        return fail(EXIT_FAIL, "%s already exists; not overwriting it", path);
    if (rv == APR_SUCCESS) {
        rv = apr_file_write_full(f, data, strlen(data), NULL);
        if (rv == APR_SUCCESS)
            rv = apr_file_sync(f);
        if (apr_file_close(f) != APR_SUCCESS && rv == APR_SUCCESS)
            rv = APR_EGENERAL;
        if (rv != APR_SUCCESS)
            apr_file_remove(path, p);
    }
    if (rv != APR_SUCCESS)
        return fail(EXIT_FAIL, "cannot write %s: %s", path,
                    apr_strerror(rv, err, sizeof(err)));
    return EXIT_OK;
}

/* ====================================================================== */
/* keygen                                                                   */

static const opt_spec_t keygen_opts[] = {
    { "--alg", 1, 0 }, { "--bits", 1, 0 }, { "--out", 1, 0 }, { NULL, 0, 0 }
};

/* The three texts keygen writes. */
typedef struct {
    const char *private_pem, *public_pem, *sig_b64;
} keyset_t;

static int make_keyset(apr_pool_t *p, dpc_alg_e alg, int bits, keyset_t *ks)
{
    EVP_PKEY *pkey;
    const char *err;

    if (dpc_pkey_generate(p, alg, bits, &pkey, &err)
        || dpc_pkey_private_pem(p, pkey, &ks->private_pem, &err)
        || dpc_pkey_public_pem(p, pkey, &ks->public_pem, &err)
        || dpc_pkey_sign_pop(p, pkey, &ks->sig_b64, &err))
        return fail(EXIT_FAIL, "keygen: %s", err);
    ks->sig_b64 = apr_pstrcat(p, ks->sig_b64, "\n", NULL);
    return EXIT_OK;
}

static int cmd_keygen(apr_pool_t *p, int argc, char **argv)
{
    cmdline_t cl;
    keyset_t ks;
    const char *alg_name, *out, *priv, *pub, *sig;
    dpc_alg_e alg;
    int rc, bits;

    if ((rc = parse_cmdline(p, "keygen", keygen_opts, 0, argc, argv, &cl)))
        return rc;
    alg_name = opt(&cl, "--alg") ? opt(&cl, "--alg") : "RS384";
    if ((alg = dpc_alg_from_name(alg_name)) == DPC_ALG_UNKNOWN)
        return fail(EXIT_USAGE, "keygen: --alg must be RS384 or ES384");
    if (alg == DPC_ALG_ES384 && opt(&cl, "--bits"))
        return fail(EXIT_USAGE, "keygen: --bits is for RS384 keys only");
    if ((rc = opt_int(&cl, "keygen", "--bits", DPC_PKEY_RSA_MIN_BITS_DEFAULT,
                      2048, DPC_PKEY_RSA_MAX_BITS, &bits)))
        return rc;
    if (!(out = opt(&cl, "--out")) || !*out)
        return fail(EXIT_USAGE, "keygen: --out PREFIX is required");
    if (alg == DPC_ALG_RS384 && bits < DPC_PKEY_RSA_MIN_BITS_DEFAULT)
        fprintf(stderr, "dpc-client: warning: DPC accepts RSA keys of %d bits "
                "or more only\n", DPC_PKEY_RSA_MIN_BITS_DEFAULT);
    priv = apr_pstrcat(p, out, ".pem", NULL);
    pub = apr_pstrcat(p, out, ".pub.pem", NULL);
    sig = apr_pstrcat(p, out, ".sig", NULL);
    if ((rc = make_keyset(p, alg, bits, &ks)))
        return rc;
    /* The private key first, readable by its owner only; on any failure
     * remove what was written, so a half key set never lingers. */
    if ((rc = write_new_file(p, priv, ks.private_pem,
                             APR_FPROT_UREAD | APR_FPROT_UWRITE)))
        return rc;
    if ((rc = write_new_file(p, pub, ks.public_pem, APR_FPROT_OS_DEFAULT))) {
        apr_file_remove(priv, p);
        return rc;
    }
    if ((rc = write_new_file(p, sig, ks.sig_b64, APR_FPROT_OS_DEFAULT))) {
        apr_file_remove(priv, p);
        apr_file_remove(pub, p);
        return rc;
    }
    return print_json(json_pack("{s:s, s:s, s:s, s:s}", "private_key", priv,
                                "public_key", pub, "signature", sig,
                                "alg", dpc_alg_name(alg)));
}

/* ====================================================================== */
/* credentials, assertions, tokens                                          */

typedef struct {
    const char *key_file;
    const char *kid;
    const char *client_token;
    const char *token_url;      /* also the assertion's aud */
    EVP_PKEY *pkey;
} creds_t;

/* A string member of the sandbox file, or NULL. */
static const char *sandbox_str(apr_pool_t *p, json_t *sb, const char *key)
{
    const char *s = json_string_value(json_object_get(sb, key));

    return s ? apr_pstrdup(p, s) : NULL;
}

/* Fill in whatever the command line left out from --sandbox FILE. */
static int read_sandbox(apr_pool_t *p, const char *path, creds_t *cr)
{
    json_error_t jerr;
    json_t *sb = dpc_json_pool(p, json_load_file(path, JSON_REJECT_DUPLICATES,
                                                 &jerr));

    if (!json_is_object(sb))
        return fail(EXIT_FAIL, "sandbox file %s: %s", path,
                    sb ? "not a JSON object" : jerr.text);
    if (!cr->key_file)
        cr->key_file = sandbox_str(p, sb, "private_key");
    if (!cr->kid)
        cr->kid = sandbox_str(p, sb, "key_id");
    if (!cr->client_token)
        cr->client_token = sandbox_str(p, sb, "client_token");
    if (!cr->token_url)
        cr->token_url = sandbox_str(p, sb, "token_url");
    return EXIT_OK;
}

/* Credentials from the options (url_opt names the token URL option) and
 * --sandbox, all four required; then the private key is loaded. */
static int get_creds(apr_pool_t *p, const char *cmd, const cmdline_t *cl,
                     const char *url_opt, creds_t *cr)
{
    const char *sandbox = opt(cl, "--sandbox"), *err;
    char *pem;
    apr_size_t len;
    int rc;

    memset(cr, 0, sizeof(*cr));
    cr->key_file = opt(cl, "--key");
    cr->kid = opt(cl, "--kid");
    cr->client_token = opt(cl, "--client-token");
    cr->token_url = opt(cl, url_opt);
    if (sandbox && (rc = read_sandbox(p, sandbox, cr)))
        return rc;
    if (!cr->key_file || !cr->kid || !cr->client_token || !cr->token_url)
        return fail(EXIT_USAGE, "%s: missing %s (give it, or --sandbox FILE)",
                    cmd, !cr->key_file ? "--key" : !cr->kid ? "--kid"
                    : !cr->client_token ? "--client-token" : url_opt);
    if ((rc = read_file(p, cr->key_file, MAX_KEY_FILE, &pem, &len)))
        return rc;
    if (dpc_pkey_private_from_pem(p, pem, len, &cr->pkey, &err))
        return fail(EXIT_FAIL, "%s: %s", cr->key_file, err);
    return EXIT_OK;
}

static int make_assertion(apr_pool_t *p, const creds_t *cr, int lifetime,
                          const char **jwt)
{
    const char *err;

    if (dpc_jwt_client_assertion(p, cr->pkey, cr->kid, cr->client_token,
                                 cr->token_url, dpc_now(), lifetime, jwt, &err))
        return fail(EXIT_FAIL, "cannot sign the client assertion: %s", err);
    return EXIT_OK;
}

static const opt_spec_t jwt_opts[] = {
    { "--key", 1, 0 }, { "--kid", 1, 0 }, { "--client-token", 1, 0 },
    { "--aud", 1, 0 }, { "--sandbox", 1, 0 }, { "--lifetime", 1, 0 },
    { "--count", 1, 0 },
    { NULL, 0, 0 }
};

static int cmd_jwt(apr_pool_t *p, int argc, char **argv)
{
    cmdline_t cl;
    creds_t cr;
    const char *jwt;
    apr_pool_t *iter;
    int rc, lifetime, count, i;

    if ((rc = parse_cmdline(p, "jwt", jwt_opts, 0, argc, argv, &cl))
        || (rc = opt_int(&cl, "jwt", "--lifetime", DPC_JWT_MAX_LIFETIME, 1,
                         DPC_JWT_MAX_LIFETIME, &lifetime))
        || (rc = opt_int(&cl, "jwt", "--count", 1, 1, 10000000, &count))
        || (rc = get_creds(p, "jwt", &cl, "--aud", &cr)))
        return rc;
    /* --count N: N assertions, each with its own jti, one JSON object a
     * line (for load tests, where every token request needs a fresh one) */
    apr_pool_create(&iter, p);
    for (i = 0; i < count && !rc; i++) {
        apr_pool_clear(iter);
        if (!(rc = make_assertion(iter, &cr, lifetime, &jwt)))
            rc = print_json(json_pack("{s:s}", "jwt", jwt));
    }
    apr_pool_destroy(iter);
    return rc;
}

/* An HTTP client with the --insecure and --cacert choices. */
static int http_client(apr_pool_t *p, const cmdline_t *cl,
                       dpc_http_client_t **client)
{
    dpc_http_options_t o;
    const char *err;

    memset(&o, 0, sizeof(o));
    o.ca_file = opt(cl, "--cacert");
    o.insecure = opt(cl, "--insecure") != NULL;
    o.user_agent = USER_AGENT;
    if (dpc_http_client_create(p, &o, client, &err))
        return fail(EXIT_FAIL, "%s", err);
    return EXIT_OK;
}

/* POST a fresh assertion to the token URL (SMART Backend Services, DPC
 * guide "Obtain an access token"); *answer is the server's JSON object. */
static int fetch_token(apr_pool_t *p, dpc_http_client_t *client,
                       const creds_t *cr, const char *scope, json_t **answer)
{
    const char *jwt, *err, *form[9];
    dpc_http_request_t req;
    dpc_http_response_t resp;
    json_t *j;
    int rc;

    if ((rc = make_assertion(p, cr, DPC_JWT_MAX_LIFETIME, &jwt)))
        return rc;
    form[0] = "grant_type";            form[1] = "client_credentials";
    form[2] = "scope";                 form[3] = scope;
    form[4] = "client_assertion_type";
    form[5] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    form[6] = "client_assertion";      form[7] = jwt;
    form[8] = NULL;
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = cr->token_url;
    req.headers = apr_table_make(p, 2);
    apr_table_set(req.headers, "Content-Type", "application/x-www-form-urlencoded");
    apr_table_set(req.headers, "Accept", "application/json");
    req.body = dpc_http_form_encode(p, form);
    req.body_len = strlen(req.body);
    if (dpc_http_request(p, client, &req, &resp, &err))
        return fail(EXIT_FAIL, "token request to %s failed: %s", cr->token_url,
                    err);
    j = dpc_json_pool(p, json_loadb(resp.body, resp.body_len, 0, NULL));
    if (resp.status != 200 || !json_is_object(j)
        || !json_is_string(json_object_get(j, "access_token"))) {
        /* The server's answer as it came: an OAuth error object. */
        fprintf(stderr, "%s\n", resp.body);
        return fail(EXIT_FAIL, "token request to %s failed: HTTP %d %s",
                    cr->token_url, resp.status, resp.reason);
    }
    *answer = j;
    return EXIT_OK;
}

static const opt_spec_t token_opts[] = {
    { "--key", 1, 0 }, { "--kid", 1, 0 }, { "--client-token", 1, 0 },
    { "--token-url", 1, 0 }, { "--sandbox", 1, 0 }, { "--scope", 1, 0 },
    { "--insecure", 0, 0 }, { "--cacert", 1, 0 },
    { NULL, 0, 0 }
};

static int cmd_token(apr_pool_t *p, int argc, char **argv)
{
    cmdline_t cl;
    creds_t cr;
    dpc_http_client_t *client;
    json_t *answer;
    const char *scope;
    int rc;

    if ((rc = parse_cmdline(p, "token", token_opts, 0, argc, argv, &cl))
        || (rc = get_creds(p, "token", &cl, "--token-url", &cr))
        || (rc = http_client(p, &cl, &client)))
        return rc;
    scope = opt(&cl, "--scope") ? opt(&cl, "--scope") : DEFAULT_SCOPE;
    if ((rc = fetch_token(p, client, &cr, scope, &answer)))
        return rc;
    return print_json(json_incref(answer));
}

/* ====================================================================== */
/* get                                                                      */

static const opt_spec_t get_opts[] = {
    { "--token", 1, 0 }, { "--header", 1, 1 }, { "--sandbox", 1, 0 },
    { "--fail", 0, 0 }, { "--insecure", 0, 0 }, { "--cacert", 1, 0 },
    { NULL, 0, 0 }
};

/* --header 'Name: value' into headers. */
static int add_header(void *baton, const char *key, const char *value)
{
    apr_table_t *headers = baton;
    const char *colon = strchr(value, ':'), *v;
    apr_pool_t *p = apr_table_elts(headers)->pool;

    (void)key;
    if (!colon || colon == value) {
        fail(EXIT_USAGE, "get: --header needs 'Name: value', not '%s'", value);
        return 0;
    }
    for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
        ;
    apr_table_add(headers, apr_pstrmemdup(p, value, (apr_size_t)(colon - value)),
                  v);
    return 1;
}

/* Response headers as a JSON object: lower-case names, repeated fields
 * joined with ", " (RFC 9110 section 5.3). */
static int header_to_json(void *baton, const char *key, const char *value)
{
    json_t *obj = baton;
    char *name = strdup(key), *c;
    json_t *old;

    if (!name)
        return 0;
    for (c = name; *c; c++)
        *c = (char)apr_tolower(*c);
    old = json_object_get(obj, name);
    if (old) {
        size_t n = strlen(json_string_value(old)) + strlen(value) + 3;
        char *joined = malloc(n);

        if (joined) {
            snprintf(joined, n, "%s, %s", json_string_value(old), value);
            json_object_set_new(obj, name, json_string(joined));
            free(joined);
        }
    }
    else {
        json_object_set_new(obj, name, json_string(value));
    }
    free(name);
    return 1;
}

/* {"status", "headers", "body"}; a body that is not UTF-8 text goes in
 * "body_base64" instead, so the output stays valid JSON. */
static json_t *response_json(apr_pool_t *p, const dpc_http_response_t *resp)
{
    json_t *headers = json_object(), *body;

    apr_table_do(header_to_json, headers, resp->headers, NULL);
    body = json_stringn(resp->body, resp->body_len);
    if (body)
        return json_pack("{s:i, s:o, s:o}", "status", resp->status,
                         "headers", headers, "body", body);
    return json_pack("{s:i, s:o, s:s}", "status", resp->status, "headers",
                     headers, "body_base64",
                     dpc_b64_encode(p, (const unsigned char *)resp->body,
                                    resp->body_len));
}

/* The access token for get: --token, or one fetched with --sandbox, or
 * none (an unauthenticated request, e.g. /metadata). */
static int get_token(apr_pool_t *p, const cmdline_t *cl,
                     dpc_http_client_t *client, const char **token)
{
    creds_t cr;
    json_t *answer;
    int rc;

    *token = opt(cl, "--token");
    if (*token || !opt(cl, "--sandbox"))
        return EXIT_OK;
    if ((rc = get_creds(p, "get", cl, "--token-url", &cr))
        || (rc = fetch_token(p, client, &cr, DEFAULT_SCOPE, &answer)))
        return rc;
    *token = json_string_value(json_object_get(answer, "access_token"));
    return EXIT_OK;
}

static int cmd_get(apr_pool_t *p, int argc, char **argv)
{
    cmdline_t cl;
    dpc_http_client_t *client;
    dpc_http_request_t req;
    dpc_http_response_t resp;
    const char *token, *err;
    int rc;

    if ((rc = parse_cmdline(p, "get", get_opts, 1, argc, argv, &cl)))
        return rc;
    if (cl.args->nelts != 1)
        return fail(EXIT_USAGE, "get: exactly one URL is needed");
    if (opt(&cl, "--token") && opt(&cl, "--sandbox"))
        return fail(EXIT_USAGE, "get: --token and --sandbox exclude each other");
    memset(&req, 0, sizeof(req));
    req.url = APR_ARRAY_IDX(cl.args, 0, const char *);
    req.headers = apr_table_make(p, 4);
    if (!apr_table_do(add_header, req.headers, cl.opts, "--header", NULL))
        return EXIT_USAGE;
    if ((opt(&cl, "--token") || opt(&cl, "--sandbox"))
        && apr_table_get(req.headers, "Authorization"))
        return fail(EXIT_USAGE, "get: an Authorization header and a token "
                    "exclude each other");
    if ((rc = http_client(p, &cl, &client))
        || (rc = get_token(p, &cl, client, &token)))
        return rc;
    if (token)
        apr_table_set(req.headers, "Authorization",
                      apr_pstrcat(p, "Bearer ", token, NULL));
    if (dpc_http_request(p, client, &req, &resp, &err))
        return fail(EXIT_FAIL, "GET %s failed: %s", req.url, err);
    rc = print_json(response_json(p, &resp));
    if (rc == EXIT_OK && opt(&cl, "--fail") && resp.status >= 400)
        return fail(EXIT_FAIL, "GET %s: HTTP %d %s", req.url, resp.status,
                    resp.reason);
    return rc;
}

/* ====================================================================== */
/* export                                                                   */

static const opt_spec_t export_opts[] = {
    { "--group", 1, 0 }, { "--type", 1, 0 }, { "--since", 1, 0 },
    { "--dir", 1, 0 }, { "--job", 1, 0 }, { "--base", 1, 0 },
    { "--parallel", 1, 0 }, { "--no-partial", 0, 0 },
    { "--key", 1, 0 }, { "--kid", 1, 0 }, { "--client-token", 1, 0 },
    { "--token-url", 1, 0 }, { "--sandbox", 1, 0 },
    { "--insecure", 0, 0 }, { "--cacert", 1, 0 },
    { "--token", 1, 0 }, { "--decrypt-key", 1, 0 },
    { NULL, 0, 0 }
};

/* A token is renewed when it has less than this left to live. */
#define TOKEN_MARGIN apr_time_from_sec(30)
#define TOKEN_LIFE_DEFAULT 300
/* Status polling: Retry-After is obeyed within these bounds (seconds). */
#define POLL_MIN 1
#define POLL_MAX 60
#define POLL_DEFAULT 5
/* Tries per file on connection failures and 5xx answers. */
#define DOWNLOAD_ATTEMPTS 3
#define DOWNLOAD_BUF (64 * 1024)
#define PROGRESS_WIDTH 30

/* The access token shared by the poller and the download threads. */
typedef struct {
    creds_t cr;
    apr_pool_t *pool;           /* token answers; used under lock only */
    dpc_http_client_t *client;  /* token requests; under lock only */
    apr_thread_mutex_t *lock;
    const char *token;
    apr_time_t expires;
    int fixed;                  /* --token: the one given, never renewed */
} token_state_t;

/* The current access token, copied into p; a new one is fetched when
 * there is none yet or it expires within 30 s (tokens live 300 s, an
 * export can take longer). */
static int current_token(token_state_t *ts, apr_pool_t *p, const char **token)
{
    json_t *answer;
    json_int_t life;
    apr_time_t asked;
    int rc = EXIT_OK;

    apr_thread_mutex_lock(ts->lock);
    if (!ts->fixed && (!ts->token || apr_time_now() + TOKEN_MARGIN >= ts->expires)) {
        asked = apr_time_now();
        rc = fetch_token(ts->pool, ts->client, &ts->cr, DEFAULT_SCOPE, &answer);
        if (rc == EXIT_OK) {
            life = json_integer_value(json_object_get(answer, "expires_in"));
            if (life <= 0)
                life = TOKEN_LIFE_DEFAULT;
            ts->token = json_string_value(json_object_get(answer, "access_token"));
            ts->expires = asked + apr_time_from_sec(life);
        }
    }
    if (rc == EXIT_OK)
        *token = apr_pstrdup(p, ts->token);
    apr_thread_mutex_unlock(ts->lock);
    return rc;
}

static void set_bearer(apr_pool_t *p, apr_table_t *headers, const char *token)
{
    apr_table_set(headers, "Authorization", apr_pstrcat(p, "Bearer ", token, NULL));
}

/* The diagnostics of an OperationOutcome answer, or the body as it came. */
static void print_outcome(const dpc_http_response_t *resp)
{
    json_t *j = json_loadb(resp->body, resp->body_len, 0, NULL), *issue;
    const char *d, *code;
    size_t i;
    int shown = 0;

    flockfile(stderr);
    json_array_foreach(json_object_get(j, "issue"), i, issue) {
        d = json_string_value(json_object_get(issue, "diagnostics"));
        code = json_string_value(json_object_get(issue, "code"));
        if (d || code) {
            fprintf(stderr, "dpc-client: %s: %s\n", code ? code : "error",
                    d ? d : "(no diagnostics)");
            shown = 1;
        }
    }
    if (!shown && resp->body_len)
        fprintf(stderr, "%s\n", resp->body);
    funlockfile(stderr);
    json_decref(j);
}

/* ---- kick-off ---- */

/* GET {base}/Group/{id}/$export with Prefer: respond-async; *job is the
 * Content-Location of the 202. */
static int kick_off(apr_pool_t *p, token_state_t *ts, dpc_http_client_t *client,
                    const cmdline_t *cl, const char *base, const char **job)
{
    const char *types = opt(cl, "--type"), *since = opt(cl, "--since");
    const char *token, *err, *loc, *t;
    char *url, *copy, *last;
    dpc_http_request_t req;
    dpc_http_response_t resp;
    apr_size_t n = strlen(base);
    int rc, first;

    while (n && base[n - 1] == '/')
        n--;
    url = apr_pstrcat(p, apr_pstrmemdup(p, base, n), "/Group/",
                      dpc_http_form_escape(p, opt(cl, "--group")), "/$export",
                      NULL);
    if (types) {
        /* each type escaped, the commas between them kept as they are */
        url = apr_pstrcat(p, url, "?_type=", NULL);
        copy = apr_pstrdup(p, types);
        first = 1;
        for (t = apr_strtok(copy, ",", &last); t; t = apr_strtok(NULL, ",", &last)) {
            url = apr_pstrcat(p, url, first ? "" : ",", dpc_http_form_escape(p, t),
                              NULL);
            first = 0;
        }
    }
    if (since)
        url = apr_pstrcat(p, url, types ? "&" : "?", "_since=",
                          dpc_http_form_escape(p, since), NULL);
    /* files are downloaded as they are finished, from the pages of a
     * partial manifest (the Bulk Data IG's next version) */
    if (!opt(cl, "--no-partial"))
        url = apr_pstrcat(p, url, types || since ? "&" : "?", "allowPartialManifests=true",
                          NULL);
    if ((rc = current_token(ts, p, &token)))
        return rc;
    memset(&req, 0, sizeof(req));
    req.url = url;
    req.headers = apr_table_make(p, 4);
    apr_table_set(req.headers, "Prefer", "respond-async");
    apr_table_set(req.headers, "Accept", "application/fhir+json");
    set_bearer(p, req.headers, token);
    if (dpc_http_request(p, client, &req, &resp, &err))
        return fail(EXIT_FAIL, "export kick-off GET %s failed: %s", url, err);
    if (resp.status != 202) {
        print_outcome(&resp);
        return fail(EXIT_FAIL, "export kick-off GET %s: HTTP %d %s", url,
                    resp.status, resp.reason);
    }
    loc = apr_table_get(resp.headers, "Content-Location");
    if (!loc || !*loc)
        return fail(EXIT_FAIL, "export kick-off GET %s: 202 without a "
                    "Content-Location", url);
    *job = apr_pstrdup(p, loc);
    return EXIT_OK;
}

/* ---- status polling ---- */

typedef struct {
    int tty;
    int drawn;                  /* a bar is on the terminal's last line */
    char last[256];             /* the X-Progress shown last */
} progress_t;

static void show_progress(progress_t *pg, const char *xp)
{
    static const char hashes[] = "##############################";
    static const char dots[] = "..............................";
    int pct, filled;

    if (!xp || !*xp)
        xp = "in progress";
    if (!strncmp(pg->last, xp, sizeof(pg->last) - 1))
        return;
    apr_cpystrn(pg->last, xp, sizeof(pg->last));
    if (!pg->tty) {
        fprintf(stderr, "dpc-client: export progress: %s\n", xp);
        return;
    }
    /* "In Progress (50%, 2 of 4 batches)": the first number is the percent */
    pct = strpbrk(xp, "0123456789") ? atoi(strpbrk(xp, "0123456789")) : 0;
    pct = pct < 0 ? 0 : pct > 100 ? 100 : pct;
    filled = pct * PROGRESS_WIDTH / 100;
    fprintf(stderr, "\r[%.*s%.*s] %s\033[K", filled, hashes,
            PROGRESS_WIDTH - filled, dots, xp);
    fflush(stderr);
    pg->drawn = 1;
}

static void end_progress(progress_t *pg)
{
    if (pg->drawn)
        fputc('\n', stderr);
    pg->drawn = 0;
}

/* ---- the manifest's files ---- */

typedef struct {
    const char *url, *name;
    const char *sha256;         /* expected, lower-case hex, or NULL */
    apr_off_t length;           /* expected, or -1 */
    apr_int64_t count;
    int is_error;               /* listed under the manifest's "error" */
    int requires_token;         /* the manifest's requiresAccessToken */
    const char *encrypted_key;  /* an encrypted file's wrapped key, or NULL */
    /* results, each written by the one thread that downloads the file */
    int done, ok, resumed, decrypted;
    apr_off_t bytes;
} xfile_t;

/* ---- downloads ---- */

/* The files to download, which the download threads take in order as the
 * status poller adds them (a partial manifest's pages, as the job runs). */
typedef struct {
    apr_pool_t *pool;           /* the poller's: the records of the files */
    apr_array_header_t *files;  /* xfile_t *, as listed; grows */
    apr_hash_t *names;          /* name -> xfile_t *: each file once */
    int next;                   /* the next file to take */
    int closed;                 /* the last page is in: no more files */
    int stop;                   /* the export failed: take no more */
    apr_time_t first_byte;      /* when a download's first byte came, or 0 */
    apr_thread_mutex_t *lock;   /* over all of the above */
    apr_thread_cond_t *more;    /* files added, closed or stopped */
    token_state_t *ts;
    const char *dir;
    dpc_http_options_t opts;
    EVP_PKEY *decrypt_key;      /* --decrypt-key, or NULL */
} dl_shared_t;

/* One download attempt's state: the part file, and the hash and length
 * of what it holds. */
typedef struct {
    apr_pool_t *p;
    dl_shared_t *sh;
    xfile_t *f;
    apr_file_t *fd;
    EVP_MD_CTX *md;
    apr_off_t have;
    int decided;                /* the response's status was looked at */
    int noted;                  /* its first byte was noted in sh */
    const char *why;            /* why the body callback stopped */
} dl_state_t;

/* Hash what path holds into st (a missing file holds nothing). */
static apr_status_t hash_existing(dl_state_t *st, const char *path)
{
    apr_file_t *fd;
    apr_status_t rv;
    apr_size_t n;
    char *buf;

    rv = apr_file_open(&fd, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, st->p);
    if (APR_STATUS_IS_ENOENT(rv))
        return APR_SUCCESS;
    if (rv != APR_SUCCESS)
        return rv;
    buf = apr_palloc(st->p, DOWNLOAD_BUF);
    for (;;) {
        n = DOWNLOAD_BUF;
        rv = apr_file_read(fd, buf, &n);
        if (n) {
            EVP_DigestUpdate(st->md, buf, n);
            st->have += (apr_off_t)n;
        }
        if (rv != APR_SUCCESS)
            break;
    }
    apr_file_close(fd);
    return APR_STATUS_IS_EOF(rv) ? APR_SUCCESS : rv;
}

/* At the first body byte (or after a bodyless 2xx): a 206 must continue
 * the part exactly; a 200 starts it over. */
static apr_status_t dl_decide(dl_state_t *st, const dpc_http_response_t *resp)
{
    apr_off_t first, last, complete;
    apr_status_t rv;

    st->decided = 1;
    if (resp->status == 206 && st->have > 0) {
        if (dpc_http_content_range(apr_table_get(resp->headers, "Content-Range"),
                                   &first, &last, &complete)
            || first != st->have
            || (st->f->length >= 0 && complete >= 0 && complete != st->f->length)) {
            st->why = "206 with a Content-Range that does not continue the "
                "partial file";
            return APR_EGENERAL;
        }
        st->f->resumed = 1;
        return APR_SUCCESS;
    }
    if (resp->status == 200) {
        if (st->have > 0) {
            if ((rv = apr_file_trunc(st->fd, 0)) != APR_SUCCESS) {
                st->why = "cannot truncate the partial file";
                return rv;
            }
            EVP_DigestInit_ex(st->md, EVP_sha256(), NULL);
            st->have = 0;
        }
        return APR_SUCCESS;
    }
    st->why = apr_psprintf(st->p, "unexpected HTTP status %d", resp->status);
    return APR_EGENERAL;
}

static apr_status_t dl_body(void *baton, const dpc_http_response_t *resp,
                            const char *data, apr_size_t len)
{
    dl_state_t *st = baton;
    apr_status_t rv;

    if (!st->decided && (rv = dl_decide(st, resp)) != APR_SUCCESS)
        return rv;
    if (len && !st->noted) {
        st->noted = 1;
        apr_thread_mutex_lock(st->sh->lock);
        if (!st->sh->first_byte)
            st->sh->first_byte = apr_time_now();
        apr_thread_mutex_unlock(st->sh->lock);
    }
    if ((rv = apr_file_write_full(st->fd, data, len, NULL)) != APR_SUCCESS) {
        st->why = "cannot write the partial file";
        return rv;
    }
    EVP_DigestUpdate(st->md, data, len);
    st->have += (apr_off_t)len;
    return APR_SUCCESS;
}

static void hex_digest(EVP_MD_CTX *md, char hex[2 * EVP_MAX_MD_SIZE + 1])
{
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    EVP_DigestFinal_ex(md, dig, &n);
    for (i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", dig[i]);
    hex[2 * n] = '\0';
}

/* Does what path holds match the manifest? */
static int file_matches(apr_pool_t *p, xfile_t *f, const char *path)
{
    dl_state_t st;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    apr_finfo_t fi;
    int ok;

    if (!f->sha256 || apr_stat(&fi, path, APR_FINFO_SIZE, p) != APR_SUCCESS
        || (f->length >= 0 && fi.size != f->length))
        return 0;
    memset(&st, 0, sizeof(st));
    st.p = p;
    st.f = f;
    if (!(st.md = EVP_MD_CTX_new()))
        return 0;
    EVP_DigestInit_ex(st.md, EVP_sha256(), NULL);
    ok = hash_existing(&st, path) == APR_SUCCESS;
    hex_digest(st.md, hex);
    EVP_MD_CTX_free(st.md);
    return ok && !strcasecmp(hex, f->sha256);
}

/* One try at DIR/name.part: hash what it holds, ask for the rest (or all
 * of it), append.  Returns 0 when the part is complete, 1 when worth
 * another try, -1 on a failure a retry will not mend. */
static int download_attempt(apr_pool_t *p, dl_shared_t *sh,
                            dpc_http_client_t *client, xfile_t *f,
                            const char *part, dl_state_t *st, int last_try)
{
    dpc_http_request_t req;
    dpc_http_response_t resp;
    dpc_http_err_e e;
    const char *token, *err;
    apr_status_t rv;
    char errbuf[256];

    if ((rv = hash_existing(st, part)) != APR_SUCCESS) {
        fail(EXIT_FAIL, "cannot read %s: %s", part,
             apr_strerror(rv, errbuf, sizeof(errbuf)));
        return -1;
    }
    if (f->length >= 0 && st->have >= f->length)
        return 0;               /* all there already: verify it */
    rv = apr_file_open(&st->fd, part, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                       | APR_FOPEN_APPEND | APR_FOPEN_BINARY | APR_FOPEN_BUFFERED,
                       APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        fail(EXIT_FAIL, "cannot write %s: %s", part,
             apr_strerror(rv, errbuf, sizeof(errbuf)));
        return -1;
    }
    memset(&req, 0, sizeof(req));
    req.url = f->url;
    req.headers = apr_table_make(p, 4);
    apr_table_set(req.headers, "Accept", "application/fhir+ndjson");
    if (f->requires_token) {
        if (current_token(sh->ts, p, &token)) {
            apr_file_close(st->fd);
            return -1;
        }
        set_bearer(p, req.headers, token);
    }
    if (st->have > 0)
        apr_table_set(req.headers, "Range",
                      apr_psprintf(p, "bytes=%" APR_OFF_T_FMT "-", st->have));
    req.body_cb = dl_body;
    req.body_baton = st;
    e = dpc_http_request(p, client, &req, &resp, &err);
    if (e == DPC_HTTP_OK && resp.status >= 200 && resp.status < 300
        && !st->decided && dl_decide(st, &resp) != APR_SUCCESS)
        e = DPC_HTTP_ABORTED;
    rv = apr_file_close(st->fd);
    if (rv != APR_SUCCESS) {
        fail(EXIT_FAIL, "cannot write %s: %s", part,
             apr_strerror(rv, errbuf, sizeof(errbuf)));
        return -1;
    }
    if (e == DPC_HTTP_ABORTED && st->why) {
        fail(EXIT_FAIL, "GET %s: %s", f->url, st->why);
        return -1;
    }
    if (e != DPC_HTTP_OK) {
        if (last_try)
            fail(EXIT_FAIL, "GET %s failed: %s", f->url, err);
        return 1;
    }
    if (resp.status >= 300) {
        if (resp.status >= 500 && !last_try)
            return 1;
        print_outcome(&resp);
        fail(EXIT_FAIL, "GET %s: HTTP %d %s", f->url, resp.status, resp.reason);
        return -1;
    }
    return 0;
}

/* After an encrypted file's download (to `path`): decrypt it into DIR/name
 * with --decrypt-key (the manifest's name is the key's label), removing
 * the ciphertext once the tag checks; without the key it stays as it is. */
static int decrypt_downloaded(apr_pool_t *p, dl_shared_t *sh, xfile_t *f, const char *path)
{
    const char *why;

    if (f->encrypted_key && sh->decrypt_key) {
        if (dpc_crypt_decrypt_file(p, sh->decrypt_key, f->encrypted_key, f->name, path,
                                   apr_pstrcat(p, sh->dir, "/", f->name, NULL), &why))
            return fail(EXIT_FAIL, "cannot decrypt %s: %s (the encrypted file is kept)",
                        f->name, why);
        apr_file_remove(path, p);
        f->decrypted = 1;
    }
    f->ok = 1;
    return EXIT_OK;
}

/* Download one file into DIR/name (by way of name.part), verifying it; a
 * file that does not match the manifest is kept as name.bad. */
static int download_file(apr_pool_t *p, dl_shared_t *sh,
                         dpc_http_client_t *client, xfile_t *f)
{
    /* an encrypted file is kept under a name of its own: NAME is for
     * plaintext only */
    const char *final = apr_pstrcat(p, sh->dir, "/", f->name,
                                    f->encrypted_key ? ".encrypted" : "", NULL);
    const char *part = apr_pstrcat(p, final, ".part", NULL);
    const char *bad = apr_pstrcat(p, final, ".bad", NULL);
    char hex[2 * EVP_MAX_MD_SIZE + 1], errbuf[256];
    apr_finfo_t fi;
    apr_status_t rv;
    dl_state_t st;
    int attempt, r = 1;

    /* done by an earlier run, and intact: nothing to fetch */
    if (apr_stat(&fi, part, APR_FINFO_TYPE, p) != APR_SUCCESS
        && file_matches(p, f, final)) {
        f->bytes = f->length;
        return decrypt_downloaded(p, sh, f, final);
    }
    memset(&st, 0, sizeof(st));
    for (attempt = 1; attempt <= DOWNLOAD_ATTEMPTS && r > 0; attempt++) {
        if (attempt > 1)
            apr_sleep(apr_time_from_sec(attempt - 1));
        if (st.md)
            EVP_MD_CTX_free(st.md);
        memset(&st, 0, sizeof(st));
        st.p = p;
        st.sh = sh;
        st.f = f;
        if (!(st.md = EVP_MD_CTX_new())
            || !EVP_DigestInit_ex(st.md, EVP_sha256(), NULL)) {
            r = -1;
            fail(EXIT_FAIL, "out of memory");
            break;
        }
        r = download_attempt(p, sh, client, f, part, &st,
                             attempt == DOWNLOAD_ATTEMPTS);
    }
    if (r != 0) {
        if (st.md)
            EVP_MD_CTX_free(st.md);
        return EXIT_FAIL;       /* the part stays, for the next run */
    }
    hex_digest(st.md, hex);
    EVP_MD_CTX_free(st.md);
    f->bytes = st.have;
    if ((f->length >= 0 && st.have != f->length)
        || (f->sha256 && strcasecmp(hex, f->sha256))) {
        apr_file_rename(part, bad, p);
        return fail(EXIT_FAIL, "%s does not match the manifest: %" APR_OFF_T_FMT
                    " bytes, sha256:%s; expected %" APR_OFF_T_FMT " bytes, "
                    "sha256:%s; kept as %s", f->name, st.have, hex, f->length,
                    f->sha256 ? f->sha256 : "(none)", bad);
    }
    if ((rv = apr_file_rename(part, final, p)) != APR_SUCCESS)
        return fail(EXIT_FAIL, "cannot rename %s: %s", part,
                    apr_strerror(rv, errbuf, sizeof(errbuf)));
    return decrypt_downloaded(p, sh, f, final);
}

/* The next file to download, waiting for the poller to list one; NULL
 * when there will be none. */
static xfile_t *take_file(dl_shared_t *sh)
{
    xfile_t *f = NULL;

    apr_thread_mutex_lock(sh->lock);
    while (!sh->stop && !sh->closed && sh->next >= sh->files->nelts)
        apr_thread_cond_wait(sh->more, sh->lock);
    if (!sh->stop && sh->next < sh->files->nelts)
        f = APR_ARRAY_IDX(sh->files, sh->next++, xfile_t *);
    apr_thread_mutex_unlock(sh->lock);
    return f;
}

static void *APR_THREAD_FUNC dl_worker(apr_thread_t *thd, void *data)
{
    dl_shared_t *sh = data;
    dpc_http_client_t *client = NULL;
    apr_pool_t *wp, *fp;
    const char *err;
    xfile_t *f;

    /* a pool with an allocator of its own: this thread's alone */
    if (apr_pool_create_unmanaged_ex(&wp, NULL, NULL) != APR_SUCCESS) {
        fail(EXIT_FAIL, "out of memory");
        apr_thread_exit(thd, APR_ENOMEM);
        return NULL;
    }
    if (dpc_http_client_create(wp, &sh->opts, &client, &err))
        fail(EXIT_FAIL, "%s", err);
    apr_pool_create(&fp, wp);
    while (client && (f = take_file(sh)) != NULL) {
        apr_pool_clear(fp);
        download_file(fp, sh, client, f);
        f->done = 1;
    }
    apr_pool_destroy(wp);
    apr_thread_exit(thd, APR_SUCCESS);
    return NULL;
}

/* Start `parallel` download threads, which wait for files (threads[] of
 * parallel entries, NULL where none started); -1 if none could start. */
static int start_downloads(apr_pool_t *p, dl_shared_t *sh, int parallel,
                           apr_thread_t **threads)
{
    apr_threadattr_t *attr;
    apr_status_t rv;
    char errbuf[256];
    int i;

    if ((rv = apr_thread_mutex_create(&sh->lock, APR_THREAD_MUTEX_DEFAULT, p))
        || (rv = apr_thread_cond_create(&sh->more, p))
        || (rv = apr_threadattr_create(&attr, p))) {
        fail(EXIT_FAIL, "cannot start downloads: %s", apr_strerror(rv, errbuf, sizeof(errbuf)));
        return -1;
    }
    for (i = 0; i < parallel; i++) {
        rv = apr_thread_create(&threads[i], attr, dl_worker, sh, p);
        if (rv != APR_SUCCESS) {
            threads[i] = NULL;
            fail(EXIT_FAIL, "cannot start a download thread: %s",
                 apr_strerror(rv, errbuf, sizeof(errbuf)));
            return i ? 0 : -1;
        }
    }
    return 0;
}

/* No more files will come (stop: the export failed, take no more); wait
 * for the threads.  EXIT_OK when every file listed was downloaded and
 * verified. */
static int finish_downloads(dl_shared_t *sh, int stop, apr_thread_t **threads, int parallel)
{
    apr_status_t trv;
    int i, rc = EXIT_OK;

    apr_thread_mutex_lock(sh->lock);
    sh->closed = 1;
    sh->stop = stop;
    apr_thread_cond_broadcast(sh->more);
    apr_thread_mutex_unlock(sh->lock);
    for (i = 0; i < parallel && threads[i]; i++)
        apr_thread_join(&trv, threads[i]);
    for (i = 0; i < sh->files->nelts; i++)
        if (!APR_ARRAY_IDX(sh->files, i, xfile_t *)->ok)
            rc = EXIT_FAIL;
    return rc;
}

/* ---- status polling, and the manifest's pages ---- */

/* Queue the files of one manifest (page) not queued before, by name, for
 * the download threads; EXIT_OK, or EXIT_FAIL after the error was said. */
static int queue_files(dl_shared_t *sh, json_t *m)
{
    apr_array_header_t *listed;
    const char *err;
    int i, added = 0, token = json_is_true(json_object_get(m, "requiresAccessToken"));

    if (dpc_manifest_files(sh->pool, m, &listed, &err))
        return fail(EXIT_FAIL, "%s", err);
    apr_thread_mutex_lock(sh->lock);
    for (i = 0; i < listed->nelts; i++) {
        const dpc_manifest_file_t *l = &APR_ARRAY_IDX(listed, i, dpc_manifest_file_t);
        xfile_t *f;

        if (apr_hash_get(sh->names, l->name, APR_HASH_KEY_STRING))
            continue;
        f = apr_pcalloc(sh->pool, sizeof(*f));
        f->url = l->url;
        f->name = l->name;
        f->sha256 = l->sha256;
        f->length = l->length;
        f->count = l->count;
        f->is_error = l->is_error;
        f->encrypted_key = l->encrypted_key;
        f->requires_token = token;
        apr_hash_set(sh->names, f->name, APR_HASH_KEY_STRING, f);
        APR_ARRAY_PUSH(sh->files, xfile_t *) = f;
        added++;
    }
    if (added)
        apr_thread_cond_broadcast(sh->more);
    apr_thread_mutex_unlock(sh->lock);
    return EXIT_OK;
}

/* Seconds to wait before polling again, from Retry-After (within 1-60). */
static apr_int64_t poll_delay(const dpc_http_response_t *resp)
{
    apr_int64_t delay = dpc_http_retry_after(apr_table_get(resp->headers, "Retry-After"),
                                             apr_time_now());

    if (delay < 0)
        delay = POLL_DEFAULT;
    return delay < POLL_MIN ? POLL_MIN : delay > POLL_MAX ? POLL_MAX : delay;
}

/* One answer of the status URL (or a manifest page): its files queued;
 * *next the page to read next (NULL: none).  1 when this was the last
 * page (200 without a next link), 0 to go on, -1 after an error was
 * said. */
static int take_page(apr_pool_t *p, dl_shared_t *sh, const char *url,
                     const dpc_http_response_t *resp, const char **next)
{
    const char *err, *n;
    json_t *m;

    *next = NULL;
    if (resp->status == 202) {
        /* a partial manifest, if the job allows them; else no body */
        if (!resp->body_len || !(m = dpc_manifest_load(p, resp->body, resp->body_len, &err)))
            return 0;
    }
    else if (!(m = dpc_manifest_load(p, resp->body, resp->body_len, &err))) {
        fail(EXIT_FAIL, "export status GET %s: %s", url, err);
        return -1;
    }
    if (queue_files(sh, m) != EXIT_OK)
        return -1;
    if ((n = dpc_manifest_next(m)) != NULL) {
        if (!strcmp(n, url)) {
            fail(EXIT_FAIL, "export status GET %s: the next page is the same", url);
            return -1;
        }
        *next = apr_pstrdup(sh->pool, n);
    }
    return resp->status == 200 && !*next;
}

/* Follow the job's status URL until its last manifest page, queueing the
 * files of each page for the download threads as they appear: while the
 * job runs (202), the pages of a partial manifest, each followed to its
 * next page once full and polled again (after Retry-After) while not;
 * then the pages of the completed job (200).  An error status ends the
 * export. */
static int follow_job(apr_pool_t *p, token_state_t *ts, dpc_http_client_t *client,
                      const char *job, dl_shared_t *sh)
{
    dpc_http_request_t req;
    dpc_http_response_t resp;
    const char *token, *err, *url = job, *next;
    apr_pool_t *iter;
    progress_t pg;
    int rc = EXIT_OK, r;

    memset(&pg, 0, sizeof(pg));
    pg.tty = isatty(STDERR_FILENO);
    apr_pool_create(&iter, p);
    for (;;) {
        apr_pool_clear(iter);
        if ((rc = current_token(ts, iter, &token)))
            break;
        memset(&req, 0, sizeof(req));
        req.url = url;
        req.headers = apr_table_make(iter, 2);
        apr_table_set(req.headers, "Accept", "application/json");
        set_bearer(iter, req.headers, token);
        if (dpc_http_request(iter, client, &req, &resp, &err)) {
            end_progress(&pg);
            rc = fail(EXIT_FAIL, "export status GET %s failed: %s", url, err);
            break;
        }
        if (resp.status != 200 && resp.status != 202) {
            end_progress(&pg);
            if (resp.status >= 400)
                print_outcome(&resp);
            rc = fail(EXIT_FAIL, "export status GET %s: HTTP %d %s", url, resp.status,
                      resp.reason);
            break;
        }
        if (resp.status == 202)
            show_progress(&pg, apr_table_get(resp.headers, "X-Progress"));
        if ((r = take_page(iter, sh, url, &resp, &next)) != 0) {
            end_progress(&pg);
            rc = r > 0 ? EXIT_OK : EXIT_FAIL;
            break;
        }
        if (next)
            url = next;         /* a full page: on to the next, at once */
        else if (resp.status == 202)
            apr_sleep(apr_time_from_sec(poll_delay(&resp)));
    }
    apr_pool_destroy(iter);
    return rc;
}

static apr_status_t destroy_pool(void *pool)
{
    apr_pool_destroy(pool);
    return APR_SUCCESS;
}

/* The summary of a finished export: what was downloaded, and how long
 * the first byte took from the start (the kick-off, or the first poll). */
static int export_summary(const char *job, const char *dir, dl_shared_t *sh,
                          apr_time_t started)
{
    apr_int64_t resources = 0, outcomes = 0;
    apr_off_t bytes = 0;
    int i, verified = 1, resumed = 0, data_files = 0, error_files = 0;
    int encrypted = 0, decrypted = 0;

    for (i = 0; i < sh->files->nelts; i++) {
        xfile_t *f = APR_ARRAY_IDX(sh->files, i, xfile_t *);

        if (f->is_error) {
            error_files++;
            outcomes += f->count;
            fprintf(stderr, "dpc-client: %s/%s: %" APR_INT64_T_FMT " OperationOutcome(s): "
                    "who was not exported and why, or warnings\n", dir, f->name,
                    f->count);
        }
        else {
            data_files++;
            resources += f->count;
        }
        bytes += f->bytes;
        resumed += f->resumed;
        encrypted += f->encrypted_key != NULL;
        decrypted += f->decrypted;
        if (f->encrypted_key && !f->decrypted)
            fprintf(stderr, "dpc-client: %s/%s.encrypted is encrypted: --decrypt-key "
                    "PRIVATE.pem decrypts it\n", dir, f->name);
        if (!f->sha256 || f->length < 0) {
            verified = 0;
            fprintf(stderr, "dpc-client: warning: the manifest gives no %s for "
                    "%s\n", f->sha256 ? "length" : "checksum", f->name);
        }
    }
    return print_json(json_pack("{s:s, s:i, s:I, s:i, s:I, s:I, s:i, s:b, s:i, s:i, s:I}",
                                "job", job, "files", data_files, "resources",
                                (json_int_t)resources, "error_files", error_files,
                                "outcomes", (json_int_t)outcomes,
                                "bytes", (json_int_t)bytes,
                                "resumed", resumed, "verified", verified,
                                "encrypted", encrypted, "decrypted", decrypted,
                                "first_byte_ms", (json_int_t)(sh->first_byte
                                    ? apr_time_as_msec(sh->first_byte - started) : -1)));
}

/* --decrypt-key: the ACO's RSA private key (unencrypted PEM), or none. */
static int read_decrypt_key(apr_pool_t *p, const char *path, EVP_PKEY **key)
{
    const char *err;
    char *pem;
    apr_size_t len;
    int rc;

    *key = NULL;
    if (!path)
        return EXIT_OK;
    if ((rc = read_file(p, path, MAX_KEY_FILE, &pem, &len)))
        return rc;
    if (dpc_pkey_private_from_pem(p, pem, len, key, &err))
        return fail(EXIT_FAIL, "%s: %s", path, err);
    if (EVP_PKEY_get_base_id(*key) != EVP_PKEY_RSA)
        return fail(EXIT_USAGE, "%s: --decrypt-key takes the ACO's RSA private key", path);
    return EXIT_OK;
}

static int cmd_export(apr_pool_t *p, int argc, char **argv)
{
    cmdline_t cl;
    token_state_t ts;
    dl_shared_t sh;
    dpc_http_client_t *client;
    apr_thread_t **threads;
    json_t *sb;
    const char *dir, *base, *job, *sandbox;
    apr_time_t started = apr_time_now();
    apr_status_t rv;
    int rc, parallel;
    EVP_PKEY *decrypt_key = NULL;
    char errbuf[256];

    if ((rc = parse_cmdline(p, "export", export_opts, 0, argc, argv, &cl))
        || (rc = opt_int(&cl, "export", "--parallel", 4, 1, 64, &parallel)))
        return rc;
    job = opt(&cl, "--job");
    if (!job && (!opt(&cl, "--group") || !*opt(&cl, "--group")))
        return fail(EXIT_USAGE, "export: --group ID (or --job URL) is required");
    if (job && (opt(&cl, "--group") || opt(&cl, "--type") || opt(&cl, "--since")
                || opt(&cl, "--no-partial")))
        return fail(EXIT_USAGE, "export: --job excludes --group, --type, --since and "
                    "--no-partial");
    if (!(dir = opt(&cl, "--dir")) || !*dir)
        return fail(EXIT_USAGE, "export: --dir DIR is required");
    base = opt(&cl, "--base");
    sandbox = opt(&cl, "--sandbox");
    if (!base && sandbox) {
        sb = dpc_json_pool(p, json_load_file(sandbox, 0, NULL));
        base = sandbox_str(p, sb, "base_url");
    }
    if (!base && !job)
        return fail(EXIT_USAGE, "export: missing --base (give it, or --sandbox "
                    "FILE with base_url)");
    memset(&ts, 0, sizeof(ts));
    if ((ts.token = opt(&cl, "--token")) != NULL)
        ts.fixed = 1;
    if ((!ts.fixed && (rc = get_creds(p, "export", &cl, "--token-url", &ts.cr)))
        || (rc = read_decrypt_key(p, opt(&cl, "--decrypt-key"), &decrypt_key))
        || (rc = http_client(p, &cl, &client))
        || (rc = http_client(p, &cl, &ts.client)))
        return rc;
    rv = apr_dir_make_recursive(dir, APR_FPROT_OS_DEFAULT, p);
    if (rv == APR_SUCCESS)
        rv = apr_thread_mutex_create(&ts.lock, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS)
        return fail(EXIT_FAIL, "cannot create %s: %s", dir,
                    apr_strerror(rv, errbuf, sizeof(errbuf)));
    if (apr_pool_create_unmanaged_ex(&ts.pool, NULL, NULL) != APR_SUCCESS)
        return fail(EXIT_FAIL, "out of memory");
    apr_pool_cleanup_register(p, ts.pool, destroy_pool, apr_pool_cleanup_null);
    if (!job && (rc = kick_off(p, &ts, client, &cl, base, &job)))
        return rc;
    memset(&sh, 0, sizeof(sh));
    sh.pool = p;
    sh.files = apr_array_make(p, 16, sizeof(xfile_t *));
    sh.names = apr_hash_make(p);
    sh.ts = &ts;
    sh.dir = dir;
    sh.opts.ca_file = opt(&cl, "--cacert");
    sh.opts.insecure = opt(&cl, "--insecure") != NULL;
    sh.opts.user_agent = USER_AGENT;
    sh.decrypt_key = decrypt_key;
    threads = apr_pcalloc(p, sizeof(*threads) * (apr_size_t)parallel);
    if (start_downloads(p, &sh, parallel, threads))
        return EXIT_FAIL;
    rc = follow_job(p, &ts, client, job, &sh);
    if (finish_downloads(&sh, rc != EXIT_OK, threads, parallel) || rc)
        return rc ? rc : fail(EXIT_FAIL, "export %s: not every file was downloaded and "
                              "verified", job);
    return export_summary(job, dir, &sh, started);
}

/* ====================================================================== */

typedef struct {
    const char *name;
    int (*run)(apr_pool_t *p, int argc, char **argv);
} command_t;

static const command_t commands[] = {
    { "keygen", cmd_keygen },
    { "jwt", cmd_jwt },
    { "token", cmd_token },
    { "get", cmd_get },
    { "export", cmd_export },
    { NULL, NULL }
};

/* Run one command in its own pool. */
static int run(const command_t *cmd, int argc, char **argv)
{
    apr_pool_t *p;
    int rc;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS)
        return fail(EXIT_FAIL, "out of memory");
    rc = cmd->run(p, argc, argv);
    apr_pool_destroy(p);
    if (rc == EXIT_HELP) {
        fputs(usage, stdout);
        rc = EXIT_OK;
    }
    return rc;
}

int main(int argc, char **argv)
{
    const command_t *cmd;
    int level = DPC_LOG_WARNING, i = 1, rc;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-v"))
            level = DPC_LOG_DEBUG;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return fputs(usage, stdout) < 0 ? EXIT_FAIL : EXIT_OK;
        else
            return fail(EXIT_USAGE, "unknown option '%s'", argv[i]);
    }
    if (i >= argc)
        return fail(EXIT_USAGE, "no command given");
    for (cmd = commands; cmd->name && strcmp(cmd->name, argv[i]); cmd++)
        ;
    if (!cmd->name)
        return fail(EXIT_USAGE, "unknown command '%s'", argv[i]);
    /* A server that drops the connection must give an error, not kill us
     * with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    apr_app_initialize(&argc, (const char *const **)&argv, NULL);
    dpc_log_set(dpc_log_stderr, dpc_log_stderr_level, &level);
    rc = run(cmd, argc - i, argv + i);
    apr_terminate();
    return rc;
}
