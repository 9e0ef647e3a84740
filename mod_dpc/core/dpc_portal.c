/* dpc_portal.c: see dpc_portal.h. */
#include "dpc_portal.h"

#include <stdarg.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_md5.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "dpc_b64.h"
#include "dpc_token.h"

/* ---- HTML ------------------------------------------------------------------ */

static const char *entity(char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    default:
        return NULL;
    }
}

const char *dpc_html_escape(apr_pool_t *p, const char *s)
{
    apr_size_t n = 0;
    const char *c, *e;
    char *out, *o;

    if (!s)
        return "";
    for (c = s; *c; c++)
        n += (e = entity(*c)) ? strlen(e) : 1;
    if (n == (apr_size_t)(c - s))
        return s;
    o = out = apr_palloc(p, n + 1);
    for (c = s; *c; c++) {
        if ((e = entity(*c)) != NULL) {
            memcpy(o, e, strlen(e));
            o += strlen(e);
        }
        else
            *o++ = *c;
    }
    *o = '\0';
    return out;
}

char *dpc_html_fmt(apr_pool_t *p, const char *fmt, ...)
{
    apr_array_header_t *parts = apr_array_make(p, 16, sizeof(const char *));
    const char *f = fmt, *start = fmt;
    va_list ap;

    va_start(ap, fmt);
    for (; *f; f++) {
        const char *piece;

        if (*f != '%' || !strchr("srdu%", f[1]))
            continue;
        APR_ARRAY_PUSH(parts, const char *) = apr_pstrmemdup(p, start, (apr_size_t)(f - start));
        f++;
        switch (*f) {
        case 's':
            piece = dpc_html_escape(p, va_arg(ap, const char *));
            break;
        case 'r':
            piece = va_arg(ap, const char *);
            piece = piece ? piece : "";
            break;
        case 'd':
            piece = apr_itoa(p, va_arg(ap, int));
            break;
        case 'u':
            piece = apr_psprintf(p, "%u", va_arg(ap, unsigned));
            break;
        default:
            piece = "%";
            break;
        }
        APR_ARRAY_PUSH(parts, const char *) = piece;
        start = f + 1;
    }
    va_end(ap);
    APR_ARRAY_PUSH(parts, const char *) = start;
    return apr_array_pstrcat(p, parts, '\0');
}

/* ---- CSRF ------------------------------------------------------------------ */

#define CSRF_BYTES 32
#define CSRF_LABEL "dpc-portal-csrf"

static int b64url_shaped(const char *s, apr_size_t len)
{
    apr_size_t i;

    if (!s || strlen(s) != len)
        return 0;
    for (i = 0; i < len; i++)
        if (!apr_isalnum(s[i]) && s[i] != '-' && s[i] != '_')
            return 0;
    return 1;
}

static apr_status_t random_b64url(apr_pool_t *p, const char **out)
{
    unsigned char b[CSRF_BYTES];
    apr_status_t rv;

    if ((rv = dpc_random_bytes(b, sizeof(b))) != APR_SUCCESS)
        return rv;
    *out = dpc_b64url_encode(p, b, sizeof(b));
    return APR_SUCCESS;
}

apr_status_t dpc_csrf_nonce(apr_pool_t *p, const char **nonce)
{
    return random_b64url(p, nonce);
}

int dpc_csrf_nonce_valid(const char *s)
{
    return b64url_shaped(s, DPC_CSRF_NONCE_LEN);
}

const char *dpc_csrf_token(apr_pool_t *p, const unsigned char *secret,
                           apr_size_t secret_len, const char *nonce)
{
    unsigned char mac[32];
    size_t maclen = 0;
    char *data;
    apr_size_t n;

    if (!secret || !secret_len || !dpc_csrf_nonce_valid(nonce))
        return NULL;
    n = sizeof(CSRF_LABEL) + DPC_CSRF_NONCE_LEN;   /* the label's NUL separates */
    data = apr_palloc(p, n);
    memcpy(data, CSRF_LABEL, sizeof(CSRF_LABEL));
    memcpy(data + sizeof(CSRF_LABEL), nonce, DPC_CSRF_NONCE_LEN);
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, secret_len,
                   (const unsigned char *)data, n, mac, sizeof(mac), &maclen)
        || maclen != sizeof(mac))
        return NULL;
    return dpc_b64url_encode(p, mac, sizeof(mac));
}

int dpc_csrf_check(apr_pool_t *p, const unsigned char *secret, apr_size_t secret_len,
                   const char *nonce, const char *token)
{
    const char *want = dpc_csrf_token(p, secret, secret_len, nonce);

    if (!want || !token || strlen(token) != strlen(want))
        return 0;
    return CRYPTO_memcmp(want, token, strlen(want)) == 0;
}

/* ---- what people type ------------------------------------------------------ */

static int email_char_ok(char c)
{
    return (unsigned char)c > 0x20 && c != 0x7f && !strchr("\"'<>(),;:\\[]", c);
}

const char *dpc_portal_email(apr_pool_t *p, const char *s, const char **err)
{
    const char *at, *c;
    char *e;
    apr_size_t n;

    if (!s)
        s = "";
    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    e = apr_pstrmemdup(p, s, n);
    for (c = e; *c; c++)
        if (!email_char_ok(*c)) {
            *err = "an email address has no spaces, quotes, brackets or commas";
            return NULL;
        }
    at = strchr(e, '@');
    if (n < 3 || n > 254 || !at || at == e || strchr(at + 1, '@') || !at[1]
        || !strchr(at + 1, '.') || at[strlen(at) - 1] == '.') {
        *err = "enter an email address such as name@example.org";
        return NULL;
    }
    for (n = 0; e[n]; n++)
        e[n] = (char)apr_tolower(e[n]);
    return e;
}

int dpc_portal_password_ok(const char *pw, const char **err)
{
    apr_size_t n = pw ? strlen(pw) : 0, i;

    if (n < DPC_PORTAL_PASSWORD_MIN || n > DPC_PORTAL_PASSWORD_MAX) {
        *err = "a password has 12 to 128 characters";
        return 0;
    }
    for (i = 0; i < n; i++)
        if ((unsigned char)pw[i] < 0x20 || pw[i] == 0x7f) {
            *err = "a password has no control characters";
            return 0;
        }
    return 1;
}

/* ---- secrets --------------------------------------------------------------- */

apr_status_t dpc_portal_password_hash(apr_pool_t *p, const char *pw, const char **hash)
{
    unsigned char salt[16];
    char out[128];
    apr_status_t rv;

    if ((rv = dpc_random_bytes(salt, sizeof(salt))) != APR_SUCCESS)
        return rv;
    rv = apr_bcrypt_encode(pw, DPC_PORTAL_BCRYPT_COST, salt, sizeof(salt), out, sizeof(out));
    if (rv == APR_SUCCESS)
        *hash = apr_pstrdup(p, out);
    return rv;
}

apr_status_t dpc_portal_npi(char out[DPC_NPI_LEN + 1])
{
    unsigned char b[8];
    uint64_t n = 0;
    apr_status_t rv;
    int i;

    if ((rv = dpc_random_bytes(b, sizeof(b))) != APR_SUCCESS)
        return rv;
    for (i = 0; i < 8; i++)
        n = (n << 8) | b[i];
    dpc_npi_make(n, out);
    return APR_SUCCESS;
}

apr_status_t dpc_portal_invite_token(apr_pool_t *p, const char **token)
{
    return random_b64url(p, token);
}

int dpc_portal_invite_token_valid(const char *s)
{
    return b64url_shaped(s, DPC_CSRF_NONCE_LEN);
}

/* ---- sign-in slowdown -------------------------------------------------------- */

int dpc_portal_login_wait(int failures, apr_int64_t since_last)
{
    apr_int64_t wait;
    int extra = failures - DPC_PORTAL_FREE_FAILURES;

    if (extra < 0)
        return 0;
    /* 1, 2, 4, ... seconds after the free failures, capped */
    wait = extra >= 10 ? DPC_PORTAL_WAIT_MAX : (apr_int64_t)1 << extra;
    if (wait > DPC_PORTAL_WAIT_MAX)
        wait = DPC_PORTAL_WAIT_MAX;
    if (since_last < 0)
        since_last = 0;
    return since_last >= wait ? 0 : (int)(wait - since_last);
}
