/* dpc_auth.c: see dpc_auth.h. */
#include "dpc_auth.h"
#include "dpc_b64.h"
#include "dpc_fhir.h"

#include <string.h>

#include <openssl/evp.h>

#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>

/* Decode one form component in place: '+' is a space, %XX a byte. */
static int form_decode(char *s)
{
    char *out = s;

    for (; *s; s++) {
        if (*s == '+')
            *out++ = ' ';
        else if (*s == '%') {
            int hi = dpc_hexval(s[1]), lo = hi < 0 ? -1 : dpc_hexval(s[2]);

            if (lo < 0 || (hi == 0 && lo == 0))
                return -1;
            *out++ = (char)(hi * 16 + lo);
            s += 2;
        }
        else
            *out++ = *s;
    }
    *out = '\0';
    return 0;
}

int dpc_form_parse(apr_pool_t *p, const char *body, apr_size_t len,
                   apr_table_t **out, const char **err)
{
    char *copy, *pair, *state = NULL;

    if (memchr(body, '\0', len)) {
        *err = "the form body contains a NUL byte";
        return -1;
    }
    copy = apr_pstrmemdup(p, body, len);
    *out = apr_table_make(p, 8);
    /* Empty pairs ("&&", a trailing '&') are skipped, as HTML forms do. */
    for (pair = apr_strtok(copy, "&", &state); pair; pair = apr_strtok(NULL, "&", &state)) {
        char *eq = strchr(pair, '=');
        /* A bare name has the empty value: the NUL that ends it, inside
         * the writable copy (form_decode writes its terminator). */
        char *value = eq ? eq + 1 : pair + strlen(pair);

        if (eq)
            *eq = '\0';
        if (form_decode(pair) || form_decode(value)) {
            *err = apr_psprintf(p, "bad %%-encoding in form parameter '%s'", pair);
            return -1;
        }
        if (!*pair) {
            *err = "a form parameter has no name (expected name=value pairs joined by '&')";
            return -1;
        }
        if (apr_table_get(*out, pair)) {
            *err = apr_psprintf(p, "form parameter '%s' is given more than once", pair);
            return -1;
        }
        apr_table_setn(*out, pair, value);
    }
    return 0;
}

const char *dpc_form_redact(apr_pool_t *p, const char *s, const char *name)
{
    size_t nl = strlen(name);
    const char *pair, *end;
    char *out;

    if (!s)
        return NULL;
    out = apr_pstrdup(p, s);
    for (pair = out; pair && *pair; pair = end ? end + 1 : NULL) {
        end = strchr(pair, '&');
        if (!strncmp(pair, name, nl) && pair[nl] == '=') {
            char *v = (char *)pair + nl + 1;

            /* the value's bytes become 'x': same length, so a caller may
             * put the result where the original stood */
            while (*v && *v != '&')
                *v++ = 'x';
        }
    }
    return out;
}

static const char *const read_types[] = {
    "*", "Patient", "Coverage", "ExplanationOfBenefit", "Group", NULL
};

/* SMART v1 ".read" and the v2 permissions that only read: "r", "s" and
 * "rs" (v2 letters come in the order c, r, u, d, s). */
static int read_only_perm(const char *perm)
{
    return !strcmp(perm, "read") || !strcmp(perm, "rs") || !strcmp(perm, "r")
        || !strcmp(perm, "s");
}

static const char *check_one(apr_pool_t *p, const char *s)
{
    const char *dot, *type;
    int i;

    if (!strcmp(s, DPC_SCOPE_ALL))
        return NULL;
    if (strncmp(s, "system/", 7))
        return apr_psprintf(p, "scope '%s' is not a system scope (system/...)", s);
    dot = strrchr(s + 7, '.');
    if (!dot)
        return apr_psprintf(p, "scope '%s' is not of the form system/Type.permission", s);
    type = apr_pstrmemdup(p, s + 7, dot - (s + 7));
    for (i = 0; read_types[i]; i++)
        if (!strcmp(type, read_types[i]))
            break;
    if (!read_types[i])
        return apr_psprintf(p, "scope '%s' names a resource type this server does not "
                            "serve", s);
    if (!read_only_perm(dot + 1))
        return apr_psprintf(p, "scope '%s' is not granted: only system/*.*, and read "
                            "scopes (.read, .rs) may be requested", s);
    return NULL;
}

int dpc_scope_check(apr_pool_t *p, const char *scope, const char **granted,
                    const char **err)
{
    char *copy, *tok, *state = NULL;
    apr_hash_t *seen = apr_hash_make(p);
    const char *out = NULL;

    if (!scope || !*scope) {
        *err = "scope is required";
        return -1;
    }
    copy = apr_pstrdup(p, scope);
    for (tok = apr_strtok(copy, " ", &state); tok; tok = apr_strtok(NULL, " ", &state)) {
        if ((*err = check_one(p, tok)) != NULL)
            return -1;
        if (apr_hash_get(seen, tok, APR_HASH_KEY_STRING))
            continue;
        apr_hash_set(seen, tok, APR_HASH_KEY_STRING, tok);
        out = out ? apr_pstrcat(p, out, " ", tok, NULL) : tok;
    }
    if (!out) {
        *err = "scope is required";
        return -1;
    }
    *granted = out;
    return 0;
}

int dpc_scope_can_write(const char *granted)
{
    const char *s = granted;
    size_t n = strlen(DPC_SCOPE_ALL);

    while (s && (s = strstr(s, DPC_SCOPE_ALL)) != NULL) {
        if ((s == granted || s[-1] == ' ') && (s[n] == '\0' || s[n] == ' '))
            return 1;
        s += n;
    }
    return 0;
}

int dpc_label_valid(const char *label, apr_size_t max)
{
    const unsigned char *s = (const unsigned char *)label;
    apr_size_t n = 0;
    int visible = 0, len;

    if (!label)
        return 0;
    for (; *s; s += len, n++) {
        if (*s < 0x20 || *s == 0x7f || !(len = dpc_utf8_seq(s)))
            return 0;
        visible |= *s != ' ';
    }
    return visible && n <= max;
}

struct dpc_revocations {
    apr_pool_t *parent;
    apr_pool_t *pool;            /* holds ids; replaced at each refresh */
    apr_thread_mutex_t *lock;
    apr_hash_t *ids;             /* id -> id */
    apr_time_t refreshed;
};

dpc_revocations *dpc_revocations_create(apr_pool_t *p)
{
    dpc_revocations *rv = apr_pcalloc(p, sizeof(*rv));

    rv->parent = p;
    apr_pool_create(&rv->pool, p);
    apr_thread_mutex_create(&rv->lock, APR_THREAD_MUTEX_DEFAULT, p);
    rv->ids = apr_hash_make(rv->pool);
    return rv;
}

int dpc_revocations_stale(dpc_revocations *rv, apr_time_t now,
                          apr_interval_time_t interval)
{
    int stale;

    apr_thread_mutex_lock(rv->lock);
    stale = now - rv->refreshed >= interval;
    apr_thread_mutex_unlock(rv->lock);
    return stale;
}

void dpc_revocations_set(dpc_revocations *rv, apr_time_t now,
                         const apr_array_header_t *ids)
{
    apr_pool_t *fresh, *old;
    apr_hash_t *h;
    int i;

    /* build the new list outside the lock, then swap */
    apr_pool_create(&fresh, rv->parent);
    h = apr_hash_make(fresh);
    for (i = 0; ids && i < ids->nelts; i++) {
        const char *id = apr_pstrdup(fresh, APR_ARRAY_IDX(ids, i, const char *));

        apr_hash_set(h, id, APR_HASH_KEY_STRING, id);
    }
    apr_thread_mutex_lock(rv->lock);
    old = rv->pool;
    rv->pool = fresh;
    rv->ids = h;
    rv->refreshed = now;
    apr_thread_mutex_unlock(rv->lock);
    apr_pool_destroy(old);
}

int dpc_revocations_has(dpc_revocations *rv, const char *id)
{
    int has;

    if (!id)
        return 0;
    apr_thread_mutex_lock(rv->lock);
    has = apr_hash_get(rv->ids, id, APR_HASH_KEY_STRING) != NULL;
    apr_thread_mutex_unlock(rv->lock);
    return has;
}

struct dpc_keycache {
    apr_pool_t *parent, *pool;
    apr_thread_mutex_t *lock;
    apr_hash_t *keys;            /* id -> cached_key */
    int max;
};

typedef struct cached_key {
    const char *pem;
    EVP_PKEY *pkey;
} cached_key;

static apr_status_t free_pkey(void *k)
{
    EVP_PKEY_free(k);
    return APR_SUCCESS;
}

dpc_keycache *dpc_keycache_create(apr_pool_t *p, int max_entries)
{
    dpc_keycache *kc = apr_pcalloc(p, sizeof(*kc));

    kc->parent = p;
    kc->max = max_entries;
    apr_pool_create(&kc->pool, p);
    apr_thread_mutex_create(&kc->lock, APR_THREAD_MUTEX_DEFAULT, p);
    kc->keys = apr_hash_make(kc->pool);
    return kc;
}

EVP_PKEY *dpc_keycache_get(dpc_keycache *kc, const char *id, const char *pem)
{
    cached_key *c;
    EVP_PKEY *k = NULL;

    apr_thread_mutex_lock(kc->lock);
    c = apr_hash_get(kc->keys, id, APR_HASH_KEY_STRING);
    if (c && !strcmp(c->pem, pem) && EVP_PKEY_up_ref(c->pkey))
        k = c->pkey;
    apr_thread_mutex_unlock(kc->lock);
    return k;
}

void dpc_keycache_put(dpc_keycache *kc, const char *id, const char *pem, EVP_PKEY *pkey)
{
    cached_key *c;

    if (!EVP_PKEY_up_ref(pkey))
        return;
    apr_thread_mutex_lock(kc->lock);
    if ((int)apr_hash_count(kc->keys) >= kc->max) {
        /* Full: start over.  Requests still using a key hold their own
         * reference, so clearing is safe. */
        apr_pool_clear(kc->pool);
        kc->keys = apr_hash_make(kc->pool);
    }
    c = apr_palloc(kc->pool, sizeof(*c));
    c->pem = apr_pstrdup(kc->pool, pem);
    c->pkey = pkey;
    apr_pool_cleanup_register(kc->pool, pkey, free_pkey, apr_pool_cleanup_null);
    apr_hash_set(kc->keys, apr_pstrdup(kc->pool, id), APR_HASH_KEY_STRING, c);
    apr_thread_mutex_unlock(kc->lock);
}
