/* dpc_http.c: see dpc_http.h.
 *
 * Three parts: URL and form helpers; a push parser for responses (the only
 * place that knows HTTP/1.1 message framing, so it can be tested byte by
 * byte without a network); and the transport (APR sockets, OpenSSL on the
 * socket's descriptor, one kept connection per client) with the request
 * loop that joins them.
 */
#include "dpc_http.h"
#include "dpc_b64.h"
#include "dpc_log.h"
#include "dpc_pkey.h"           /* dpc_ossl_errmsg */

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <apr_date.h>
#include <apr_lib.h>
#include <apr_poll.h>
#include <apr_portable.h>
#include <apr_strings.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Read buffer per request: large enough that a download is not dominated
 * by system calls, small enough to sit in a request pool. */
#define READ_BUF_SIZE (64 * 1024)
/* Request bodies up to this size go out in the same write as the head. */
#define COALESCE_MAX (16 * 1024)
#define DEFAULT_USER_AGENT "mod_dpc-http/1"

static dpc_http_err_e fail(dpc_http_err_e rv, const char **errmsg,
                           const char *msg)
{
    if (errmsg)
        *errmsg = msg;
    return rv;
}

static const char *apr_errmsg(apr_pool_t *p, apr_status_t rv)
{
    char buf[256];

    return apr_pstrdup(p, apr_strerror(rv, buf, sizeof(buf)));
}

/* RFC 9110 tchar: the characters of methods and field names. */
static int is_tchar(char c)
{
    return apr_isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* ====================================================================== */
/* URLs                                                                     */

static int is_host_char(char c)
{
    return apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static dpc_http_err_e url_port(apr_pool_t *p, const char *s, apr_size_t n,
                               apr_port_t *port, const char **errmsg)
{
    apr_size_t i;
    long v = 0;

    if (n == 0)
        return DPC_HTTP_OK;     /* "host:" means the default port */
    for (i = 0; i < n; i++) {
        if (!apr_isdigit(s[i]) || i >= 5)
            return fail(DPC_HTTP_BAD_URL, errmsg, apr_psprintf(p,
                        "invalid port '%.*s' in URL", (int)n, s));
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return fail(DPC_HTTP_BAD_URL, errmsg, apr_psprintf(p,
                    "port %ld in URL is out of range", v));
    *port = (apr_port_t)v;
    return DPC_HTTP_OK;
}

/* The host part of an authority ending at end; *rest points after it. */
static dpc_http_err_e url_host(apr_pool_t *p, const char *auth,
                               const char *end, dpc_url_t *out,
                               const char **rest, const char **errmsg)
{
    const char *q;
    unsigned char addr[16];

    if (*auth == '[') {
        q = memchr(auth, ']', (apr_size_t)(end - auth));
        if (!q)
            return fail(DPC_HTTP_BAD_URL, errmsg,
                        "unterminated IPv6 address in URL");
        out->host = apr_pstrmemdup(p, auth + 1, (apr_size_t)(q - auth - 1));
        if (inet_pton(AF_INET6, out->host, addr) != 1)
            return fail(DPC_HTTP_BAD_URL, errmsg, apr_psprintf(p,
                        "invalid IPv6 address '%s' in URL", out->host));
        out->is_ipv6 = 1;
        *rest = q + 1;
        if (*rest < end && **rest != ':')
            return fail(DPC_HTTP_BAD_URL, errmsg,
                        "unexpected characters after the IPv6 address in URL");
        return DPC_HTTP_OK;
    }
    q = memchr(auth, ':', (apr_size_t)(end - auth));
    *rest = q ? q : end;
    out->host = apr_pstrmemdup(p, auth, (apr_size_t)(*rest - auth));
    if (!*out->host)
        return fail(DPC_HTTP_BAD_URL, errmsg, "URL has no host");
    for (q = out->host; *q; q++)
        if (!is_host_char(*q))
            return fail(DPC_HTTP_BAD_URL, errmsg, apr_psprintf(p,
                        "invalid character '%c' in the host of URL", *q));
    return DPC_HTTP_OK;
}

dpc_http_err_e dpc_url_parse(apr_pool_t *p, const char *url, dpc_url_t *out,
                             const char **errmsg)
{
    const char *s, *auth, *end, *rest, *frag;
    apr_port_t default_port;
    dpc_http_err_e rv;

    memset(out, 0, sizeof(*out));
    if (!url || !*url)
        return fail(DPC_HTTP_BAD_URL, errmsg, "empty URL");
    for (s = url; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return fail(DPC_HTTP_BAD_URL, errmsg, apr_psprintf(p,
                        "URL has a space, control or non-ASCII character at "
                        "offset %ld (percent-encode it)", (long)(s - url)));
    if (!strncasecmp(url, "http://", 7)) {
        out->scheme = "http";
        auth = url + 7;
        default_port = 80;
    }
    else if (!strncasecmp(url, "https://", 8)) {
        out->scheme = "https";
        out->is_https = 1;
        auth = url + 8;
        default_port = 443;
    }
    else {
        return fail(DPC_HTTP_BAD_URL, errmsg,
                    "only http:// and https:// URLs are supported");
    }
    end = auth + strcspn(auth, "/?#");
    if (memchr(auth, '@', (apr_size_t)(end - auth)))
        return fail(DPC_HTTP_BAD_URL, errmsg,
                    "user names and passwords in URLs are not supported");
    if ((rv = url_host(p, auth, end, out, &rest, errmsg)) != DPC_HTTP_OK)
        return rv;
    out->port = default_port;
    if (rest < end && (rv = url_port(p, rest + 1, (apr_size_t)(end - rest - 1),
                                     &out->port, errmsg)) != DPC_HTTP_OK)
        return rv;
    frag = strchr(end, '#');
    out->path = frag ? apr_pstrmemdup(p, end, (apr_size_t)(frag - end)) : end;
    if (!*out->path)
        out->path = "/";
    else if (*out->path == '?')
        out->path = apr_pstrcat(p, "/", out->path, NULL);
    out->host_header = out->is_ipv6 ? apr_pstrcat(p, "[", out->host, "]", NULL)
                                    : out->host;
    if (out->port != default_port)
        out->host_header = apr_psprintf(p, "%s:%u", out->host_header,
                                        (unsigned)out->port);
    return DPC_HTTP_OK;
}

/* ====================================================================== */
/* form bodies                                                              */

static int form_safe(unsigned char c)
{
    return apr_isalnum(c) || c == '*' || c == '-' || c == '.' || c == '_';
}

const char *dpc_http_form_escape(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *c;
    apr_size_t n = 0;
    char *out, *o;

    for (c = (const unsigned char *)s; *c; c++)
        n += (form_safe(*c) || *c == ' ') ? 1 : 3;
    o = out = apr_palloc(p, n + 1);
    for (c = (const unsigned char *)s; *c; c++) {
        if (form_safe(*c)) {
            *o++ = (char)*c;
        }
        else if (*c == ' ') {
            *o++ = '+';
        }
        else {
            *o++ = '%';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        }
    }
    *o = '\0';
    return out;
}

const char *dpc_http_form_encode(apr_pool_t *p, const char *const *kv)
{
    apr_array_header_t *parts = apr_array_make(p, 8, sizeof(const char *));

    for (; kv[0] && kv[1]; kv += 2)
        APR_ARRAY_PUSH(parts, const char *) = apr_pstrcat(p,
            dpc_http_form_escape(p, kv[0]), "=", dpc_http_form_escape(p, kv[1]),
            NULL);
    return apr_array_pstrcat(p, parts, '&');
}

/* ====================================================================== */
/* header values                                                            */

/* Up to 18 decimal digits (always fits an apr_off_t); NULL if none. */
static const char *parse_off(const char *s, apr_off_t *v)
{
    int digits = 0;

    *v = 0;
    for (; apr_isdigit(*s); s++) {
        if (++digits > 18)
            return NULL;
        *v = *v * 10 + (*s - '0');
    }
    return digits ? s : NULL;
}

apr_int64_t dpc_http_retry_after(const char *value, apr_time_t now)
{
    apr_off_t secs;
    apr_time_t when;
    const char *s;

    if (!value)
        return -1;
    while (is_ows(*value))
        value++;
    if (apr_isdigit(*value)) {
        if (!(s = parse_off(value, &secs)))
            return -1;
        while (is_ows(*s))
            s++;
        return *s ? -1 : (apr_int64_t)secs;
    }
    when = apr_date_parse_http(value);
    if (when == APR_DATE_BAD)
        return -1;
    /* Round up: waiting a fraction too long is harmless, too short is not. */
    return when > now ? (when - now + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC
                      : 0;
}

int dpc_http_content_range(const char *value, apr_off_t *first,
                           apr_off_t *last, apr_off_t *complete)
{
    const char *s;

    if (!value || strncasecmp(value, "bytes", 5) || !is_ows(value[5]))
        return -1;
    for (s = value + 5; is_ows(*s); s++)
        ;
    if (*s == '*') {
        *first = *last = -1;
        s++;
    }
    else if (!(s = parse_off(s, first)) || *s != '-'
             || !(s = parse_off(s + 1, last)) || *first > *last) {
        return -1;
    }
    if (*s++ != '/')
        return -1;
    if (*s == '*') {
        if (*first < 0)         /* "bytes * / *" says nothing at all */
            return -1;
        *complete = -1;
        s++;
    }
    else if (!(s = parse_off(s, complete))
             || (*first >= 0 && *last >= *complete)) {
        return -1;
    }
    while (is_ows(*s))
        s++;
    return *s ? -1 : 0;
}

/* ====================================================================== */
/* the response parser                                                      */

typedef enum {
    PS_STATUS,                  /* status line */
    PS_HEADER,                  /* header fields */
    PS_LENGTH,                  /* Content-Length body */
    PS_CHUNK_SIZE,              /* chunk size line */
    PS_CHUNK_DATA,              /* chunk data */
    PS_CHUNK_END,               /* the CRLF after chunk data */
    PS_TRAILER,                 /* trailer fields after the last chunk */
    PS_CLOSE,                   /* body delimited by end of connection */
    PS_DONE
} ps_state_e;

struct dpc_http_parser_t {
    apr_pool_t *p;
    dpc_http_response_t *resp;
    dpc_http_parser_body_fn *body_cb;
    void *baton;
    ps_state_e st;
    int head_request;
    int headers_done;
    int pause;                  /* return to the caller after this line */
    int keep_alive;
    char *line;                 /* DPC_HTTP_MAX_LINE + 1 */
    apr_size_t line_len;
    int nfields;                /* header or trailer fields so far */
    apr_off_t remaining;        /* of the Content-Length or this chunk */
    apr_off_t expected;         /* Content-Length, or -1 */
    apr_off_t body_bytes;       /* body bytes delivered */
    apr_off_t fed;              /* bytes consumed in total */
};

dpc_http_parser_t *dpc_http_parser_create(apr_pool_t *p, int head_request,
                                          dpc_http_response_t *resp,
                                          dpc_http_parser_body_fn *body_cb,
                                          void *baton)
{
    dpc_http_parser_t *ps = apr_pcalloc(p, sizeof(*ps));

    ps->p = p;
    ps->resp = resp;
    ps->body_cb = body_cb;
    ps->baton = baton;
    ps->head_request = head_request;
    ps->expected = -1;
    ps->line = apr_palloc(p, DPC_HTTP_MAX_LINE + 1);
    if (!resp->headers)
        resp->headers = apr_table_make(p, 16);
    if (!resp->reason)
        resp->reason = "";
    return ps;
}

void dpc_http_parser_set_body_cb(dpc_http_parser_t *ps,
                                 dpc_http_parser_body_fn *body_cb, void *baton)
{
    ps->body_cb = body_cb;
    ps->baton = baton;
}

int dpc_http_parser_headers_done(const dpc_http_parser_t *ps)
{
    return ps->headers_done;
}

int dpc_http_parser_done(const dpc_http_parser_t *ps)
{
    return ps->st == PS_DONE;
}

int dpc_http_parser_keep_alive(const dpc_http_parser_t *ps)
{
    return ps->st == PS_DONE && ps->keep_alive;
}

static dpc_http_err_e protocol(const char **errmsg, const char *msg)
{
    return fail(DPC_HTTP_PROTOCOL, errmsg, msg);
}

/* Gather one line into ps->line.  1: complete (the CRLF or bare LF
 * stripped, NUL-terminated); 0: all input taken, line unfinished; -1: the
 * line is longer than DPC_HTTP_MAX_LINE. */
static int take_line(dpc_http_parser_t *ps, const char *data, apr_size_t len,
                     apr_size_t *used)
{
    const char *lf = memchr(data, '\n', len);
    apr_size_t n = lf ? (apr_size_t)(lf - data) : len;

    *used = 0;
    if (ps->line_len + n > DPC_HTTP_MAX_LINE)
        return -1;
    memcpy(ps->line + ps->line_len, data, n);
    ps->line_len += n;
    *used = lf ? n + 1 : n;
    if (!lf)
        return 0;
    if (ps->line_len && ps->line[ps->line_len - 1] == '\r')
        ps->line_len--;
    ps->line[ps->line_len] = '\0';
    return 1;
}

/* A bare CR or a NUL inside a line is how request smuggling and header
 * injection start: refuse (RFC 9112 section 2.2 allows either). */
static int line_is_clean(const dpc_http_parser_t *ps)
{
    return !memchr(ps->line, '\r', ps->line_len)
        && !memchr(ps->line, '\0', ps->line_len);
}

static dpc_http_err_e parse_status(dpc_http_parser_t *ps, const char **errmsg)
{
    const char *l = ps->line;
    dpc_http_response_t *resp = ps->resp;

    if (strncmp(l, "HTTP/1.", 7) || !apr_isdigit(l[7]) || l[8] != ' '
        || !apr_isdigit(l[9]) || !apr_isdigit(l[10]) || !apr_isdigit(l[11])
        || (l[12] != ' ' && l[12] != '\0') || l[9] == '0')
        return protocol(errmsg, apr_psprintf(ps->p,
                        "not an HTTP/1.x status line: '%.80s'", l));
    resp->minor_version = l[7] - '0';
    resp->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    resp->reason = apr_pstrdup(ps->p, l[12] ? l + 13 : "");
    ps->st = PS_HEADER;
    ps->nfields = 0;
    return DPC_HTTP_OK;
}

/* One "name: value" line; added to into (NULL: checked and dropped). */
static dpc_http_err_e parse_field(dpc_http_parser_t *ps, apr_table_t *into,
                                  const char **errmsg)
{
    const char *l = ps->line, *colon, *c, *v, *e;

    if (is_ows(*l))
        return protocol(errmsg, "obsolete line folding in a response "
                        "header is not supported");
    colon = strchr(l, ':');
    if (!colon || colon == l)
        return protocol(errmsg, apr_psprintf(ps->p,
                        "malformed response header line: '%.80s'", l));
    for (c = l; c < colon; c++)
        if (!is_tchar(*c))
            return protocol(errmsg, apr_psprintf(ps->p,
                            "invalid response header name: '%.80s'", l));
    if (++ps->nfields > DPC_HTTP_MAX_HEADERS)
        return protocol(errmsg, apr_psprintf(ps->p,
                        "more than %d response header fields",
                        DPC_HTTP_MAX_HEADERS));
    for (v = colon + 1; is_ows(*v); v++)
        ;
    for (e = l + ps->line_len; e > v && is_ows(e[-1]); e--)
        ;
    if (into)
        apr_table_addn(into, apr_pstrmemdup(ps->p, l, (apr_size_t)(colon - l)),
                       apr_pstrmemdup(ps->p, v, (apr_size_t)(e - v)));
    return DPC_HTTP_OK;
}

/* Does the comma-separated field list hold token (case-insensitively)? */
static int list_has(apr_pool_t *p, const char *list, const char *token)
{
    char *copy, *item, *last;

    if (!list)
        return 0;
    copy = apr_pstrdup(p, list);
    for (item = apr_strtok(copy, ", \t", &last); item;
         item = apr_strtok(NULL, ", \t", &last))
        if (!strcasecmp(item, token))
            return 1;
    return 0;
}

/* Content-Length, possibly repeated or a list ("5, 5"): every value must
 * be the same number (RFC 9110 section 8.6), else the framing is
 * ambiguous and the message unusable. */
static int parse_content_length(const char *v, apr_off_t *n)
{
    apr_off_t one;
    int seen = 0;

    for (;;) {
        while (is_ows(*v))
            v++;
        if (!(v = parse_off(v, &one)) || (seen && one != *n))
            return -1;
        *n = one;
        seen = 1;
        while (is_ows(*v))
            v++;
        if (!*v)
            return 0;
        if (*v++ != ',')
            return -1;
    }
}

/* The final response's headers are in: decide how its body is framed
 * (RFC 9112 section 6.3). */
static dpc_http_err_e framing(dpc_http_parser_t *ps, const char **errmsg)
{
    dpc_http_response_t *resp = ps->resp;
    const char *te, *cl;

    ps->keep_alive = resp->minor_version >= 1
        && !list_has(ps->p, apr_table_getm(ps->p, resp->headers, "Connection"),
                     "close");
    if (ps->head_request || resp->status == 204 || resp->status == 304) {
        ps->st = PS_DONE;
        return DPC_HTTP_OK;
    }
    te = apr_table_getm(ps->p, resp->headers, "Transfer-Encoding");
    cl = apr_table_getm(ps->p, resp->headers, "Content-Length");
    if (te) {
        /* Only chunked: another coding would hand the caller bytes it
         * never asked to decode. */
        while (is_ows(*te))
            te++;
        if (strncasecmp(te, "chunked", 7) || te[7 + strspn(te + 7, " \t")])
            return protocol(errmsg, apr_psprintf(ps->p,
                            "unsupported Transfer-Encoding '%s'", te));
        /* Both framings at once is what smuggling looks like: use the
         * chunked one, as RFC 9112 says, but do not reuse the connection. */
        if (cl)
            ps->keep_alive = 0;
        ps->st = PS_CHUNK_SIZE;
        return DPC_HTTP_OK;
    }
    if (cl) {
        if (parse_content_length(cl, &ps->expected))
            return protocol(errmsg, apr_psprintf(ps->p,
                            "invalid Content-Length '%.80s'", cl));
        ps->remaining = ps->expected;
        ps->st = ps->expected ? PS_LENGTH : PS_DONE;
        return DPC_HTTP_OK;
    }
    ps->keep_alive = 0;
    ps->st = PS_CLOSE;
    return DPC_HTTP_OK;
}

static dpc_http_err_e end_of_headers(dpc_http_parser_t *ps,
                                     const char **errmsg)
{
    dpc_http_response_t *resp = ps->resp;

    if (resp->status == 101)
        return protocol(errmsg, "unexpected 101 Switching Protocols");
    if (resp->status < 200) {
        /* An interim response (100 Continue, 103 Early Hints): the real
         * one follows on the same connection. */
        apr_table_clear(resp->headers);
        ps->st = PS_STATUS;
        return DPC_HTTP_OK;
    }
    ps->headers_done = 1;
    ps->pause = 1;
    return framing(ps, errmsg);
}

static dpc_http_err_e parse_chunk_size(dpc_http_parser_t *ps,
                                       const char **errmsg)
{
    const char *c = ps->line;
    apr_off_t n = 0;
    int digits = 0;

    for (; apr_isxdigit(*c); c++) {
        if (++digits > 15)      /* 2^60: keeps n * 16 inside apr_off_t */
            return protocol(errmsg, "chunk size too large");
        n = n * 16 + dpc_hexval(*c);
    }
    while (is_ows(*c))
        c++;
    /* Chunk extensions (";name=value") carry nothing we use. */
    if (!digits || (*c && *c != ';'))
        return protocol(errmsg, apr_psprintf(ps->p,
                        "malformed chunk size line '%.80s'", ps->line));
    ps->remaining = n;
    ps->nfields = 0;
    ps->st = n ? PS_CHUNK_DATA : PS_TRAILER;
    return DPC_HTTP_OK;
}

static dpc_http_err_e on_line(dpc_http_parser_t *ps, const char **errmsg)
{
    if (!line_is_clean(ps))
        return protocol(errmsg,
                        "control character (CR or NUL) inside a response line");
    switch (ps->st) {
    case PS_STATUS:
        return parse_status(ps, errmsg);
    case PS_HEADER:
        return ps->line_len ? parse_field(ps, ps->resp->headers, errmsg)
                            : end_of_headers(ps, errmsg);
    case PS_CHUNK_SIZE:
        return parse_chunk_size(ps, errmsg);
    case PS_CHUNK_END:
        if (ps->line_len)
            return protocol(errmsg, "chunk data not followed by CRLF "
                            "(chunk longer than its size)");
        ps->st = PS_CHUNK_SIZE;
        return DPC_HTTP_OK;
    case PS_TRAILER:
        if (!ps->line_len) {
            ps->st = PS_DONE;
            return DPC_HTTP_OK;
        }
        return parse_field(ps, NULL, errmsg);
    default:
        return protocol(errmsg, "parser state error");
    }
}

static dpc_http_err_e deliver(dpc_http_parser_t *ps, const char *data,
                              apr_size_t len, const char **errmsg)
{
    apr_status_t rv;

    ps->body_bytes += (apr_off_t)len;
    if (!ps->body_cb || !len)
        return DPC_HTTP_OK;
    rv = ps->body_cb(ps->baton, data, len);
    if (rv != APR_SUCCESS)
        return fail(DPC_HTTP_ABORTED, errmsg, apr_psprintf(ps->p,
                    "response body handler failed: %s", apr_errmsg(ps->p, rv)));
    return DPC_HTTP_OK;
}

/* Body bytes for the Content-Length, chunk-data and until-close states. */
static dpc_http_err_e feed_body(dpc_http_parser_t *ps, const char *data,
                                apr_size_t len, apr_size_t *used,
                                const char **errmsg)
{
    apr_size_t n = len;
    dpc_http_err_e rv;

    if (ps->st != PS_CLOSE && (apr_off_t)n > ps->remaining)
        n = (apr_size_t)ps->remaining;
    *used = 0;
    if ((rv = deliver(ps, data, n, errmsg)) != DPC_HTTP_OK)
        return rv;
    *used = n;
    if (ps->st != PS_CLOSE && (ps->remaining -= (apr_off_t)n) == 0)
        ps->st = ps->st == PS_LENGTH ? PS_DONE : PS_CHUNK_END;
    return DPC_HTTP_OK;
}

dpc_http_err_e dpc_http_parser_feed(dpc_http_parser_t *ps, const char *data,
                                    apr_size_t len, apr_size_t *used,
                                    const char **errmsg)
{
    apr_size_t off = 0, n;
    dpc_http_err_e rv = DPC_HTTP_OK;
    int r;

    while (off < len && ps->st != PS_DONE && rv == DPC_HTTP_OK) {
        if (ps->st == PS_LENGTH || ps->st == PS_CHUNK_DATA
            || ps->st == PS_CLOSE) {
            rv = feed_body(ps, data + off, len - off, &n, errmsg);
            off += n;
            continue;
        }
        r = take_line(ps, data + off, len - off, &n);
        off += n;
        if (r < 0)
            rv = protocol(errmsg, apr_psprintf(ps->p,
                          "response line longer than %d bytes",
                          DPC_HTTP_MAX_LINE));
        if (r <= 0)
            continue;
        rv = on_line(ps, errmsg);
        ps->line_len = 0;
        if (ps->pause) {
            ps->pause = 0;
            break;
        }
    }
    ps->fed += (apr_off_t)off;
    *used = off;
    return rv;
}

dpc_http_err_e dpc_http_parser_eof(dpc_http_parser_t *ps, const char **errmsg)
{
    const char *where;

    switch (ps->st) {
    case PS_DONE:
        return DPC_HTTP_OK;
    case PS_CLOSE:
        ps->st = PS_DONE;
        return DPC_HTTP_OK;
    case PS_STATUS:
        where = ps->fed ? "in the status line" : "without sending a response";
        break;
    case PS_HEADER:
        where = "in the response headers";
        break;
    case PS_LENGTH:
        where = apr_psprintf(ps->p, "after %" APR_OFF_T_FMT " of %"
                             APR_OFF_T_FMT " body bytes", ps->body_bytes,
                             ps->expected);
        break;
    default:
        where = apr_psprintf(ps->p, "in the chunked body after %"
                             APR_OFF_T_FMT " bytes", ps->body_bytes);
        break;
    }
    return fail(DPC_HTTP_IO, errmsg, apr_pstrcat(ps->p,
                "the server closed the connection ", where, NULL));
}

/* ====================================================================== */
/* connections                                                              */

typedef struct dpc_conn_t dpc_conn_t;

struct dpc_http_client_t {
    apr_pool_t *pool;
    dpc_http_options_t opts;
    SSL_CTX *ssl_ctx;           /* made at the first https request */
    dpc_conn_t *conn;           /* the kept connection, or NULL */
};

struct dpc_conn_t {
    apr_pool_t *pool;           /* a subpool of the client's; owns sock */
    dpc_http_client_t *client;
    apr_socket_t *sock;
    SSL *ssl;                   /* NULL for http:// */
    const char *origin;         /* "scheme://host:port", for reuse */
    apr_interval_time_t timeout;
    int unclean_eof;            /* TLS ended without close_notify */
};

static apr_status_t client_cleanup(void *data)
{
    dpc_http_client_t *c = data;

    /* The connection's subpool is already gone by now (APR destroys
     * subpools before running the parent's cleanups). */
    SSL_CTX_free(c->ssl_ctx);
    c->ssl_ctx = NULL;
    return APR_SUCCESS;
}

dpc_http_err_e dpc_http_client_create(apr_pool_t *p,
                                      const dpc_http_options_t *opts,
                                      dpc_http_client_t **client,
                                      const char **errmsg)
{
    dpc_http_client_t *c = apr_pcalloc(p, sizeof(*c));

    (void)errmsg;
    c->pool = p;
    if (opts)
        c->opts = *opts;
    if (c->opts.connect_timeout <= 0)
        c->opts.connect_timeout = DPC_HTTP_CONNECT_TIMEOUT_DEFAULT;
    if (c->opts.timeout <= 0)
        c->opts.timeout = DPC_HTTP_TIMEOUT_DEFAULT;
    c->opts.ca_file = c->opts.ca_file ? apr_pstrdup(p, c->opts.ca_file) : NULL;
    c->opts.user_agent = apr_pstrdup(p, c->opts.user_agent
                                        ? c->opts.user_agent
                                        : DEFAULT_USER_AGENT);
    apr_pool_cleanup_register(p, c, client_cleanup, apr_pool_cleanup_null);
    *client = c;
    return DPC_HTTP_OK;
}

/* Runs when the connection's pool goes, whoever destroys it. */
static apr_status_t conn_cleanup(void *data)
{
    dpc_conn_t *conn = data;

    SSL_free(conn->ssl);        /* does not close the descriptor */
    conn->ssl = NULL;
    if (conn->client->conn == conn)
        conn->client->conn = NULL;
    return APR_SUCCESS;
}

static void conn_close(dpc_conn_t *conn)
{
    if (!conn)
        return;
    dpc_log_perror(DPC_LOG_MARK, DPC_LOG_DEBUG, APR_SUCCESS,
                   DPCLOGNO(07001) "closing connection to %s", conn->origin);
    if (conn->ssl) {
        /* One try at a close_notify; the peer does not need to answer and
         * a failure here changes nothing. */
        ERR_clear_error();
        if (SSL_shutdown(conn->ssl) < 0)
            ERR_clear_error();
    }
    apr_pool_destroy(conn->pool);
}

void dpc_http_client_close(dpc_http_client_t *client)
{
    conn_close(client->conn);
}

static dpc_http_err_e tls_ctx(apr_pool_t *p, dpc_http_client_t *c,
                              const char **errmsg)
{
    SSL_CTX *ctx;
    dpc_http_err_e rv = DPC_HTTP_INTERNAL;

    if (c->ssl_ctx)
        return DPC_HTTP_OK;
    ERR_clear_error();
    if (!(ctx = SSL_CTX_new(TLS_client_method()))
        || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)
        || !SSL_CTX_set_default_verify_paths(ctx)) {
        fail(rv, errmsg, dpc_ossl_errmsg(p, "cannot set up TLS"));
        goto end;
    }
    if (c->opts.ca_file
        && !SSL_CTX_load_verify_locations(ctx, c->opts.ca_file, NULL)) {
        rv = fail(DPC_HTTP_TLS, errmsg, dpc_ossl_errmsg(p, apr_psprintf(p,
                  "cannot load CA file %s", c->opts.ca_file)));
        goto end;
    }
    SSL_CTX_set_verify(ctx, c->opts.insecure ? SSL_VERIFY_NONE
                                             : SSL_VERIFY_PEER, NULL);
    c->ssl_ctx = ctx;
    ctx = NULL;
    rv = DPC_HTTP_OK;
end:
    SSL_CTX_free(ctx);
    return rv;
}

/* Wait until the socket is readable or writable, as OpenSSL asked. */
static apr_status_t wait_io(dpc_conn_t *conn, int for_write,
                            apr_interval_time_t timeout)
{
    apr_pollfd_t pfd;
    apr_int32_t n;
    apr_status_t rv;

    memset(&pfd, 0, sizeof(pfd));
    pfd.p = conn->pool;
    pfd.desc_type = APR_POLL_SOCKET;
    pfd.reqevents = for_write ? APR_POLLOUT : APR_POLLIN;
    pfd.desc.s = conn->sock;
    do {
        rv = apr_poll(&pfd, 1, &n, timeout);
    } while (APR_STATUS_IS_EINTR(rv));
    return rv;
}

static dpc_http_err_e io_fail(apr_pool_t *p, apr_status_t rv,
                              const dpc_conn_t *conn, const char *what,
                              const char **errmsg)
{
    if (APR_STATUS_IS_TIMEUP(rv))
        return fail(DPC_HTTP_TIMEOUT, errmsg, apr_psprintf(p,
                    "%s %s: timed out after %" APR_TIME_T_FMT " s", what,
                    conn->origin, apr_time_sec(conn->timeout)));
    return fail(DPC_HTTP_IO, errmsg, apr_psprintf(p, "%s %s: %s", what,
                conn->origin, apr_errmsg(p, rv)));
}

/* After an SSL call failed with err: wait and return OK if OpenSSL only
 * needs the socket ready, else describe the failure. */
static dpc_http_err_e tls_retry(apr_pool_t *p, dpc_conn_t *conn, int err,
                                apr_interval_time_t timeout, const char *what,
                                const char **errmsg)
{
    apr_status_t rv;
    int saved_errno = errno;

    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        rv = wait_io(conn, err == SSL_ERROR_WANT_WRITE, timeout);
        if (rv == APR_SUCCESS)
            return DPC_HTTP_OK;
        return io_fail(p, rv, conn, what, errmsg);
    }
    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        return io_fail(p, saved_errno ? APR_FROM_OS_ERROR(saved_errno)
                                      : APR_ECONNRESET, conn, what, errmsg);
    return fail(DPC_HTTP_TLS, errmsg, dpc_ossl_errmsg(p, apr_psprintf(p,
                "%s %s", what, conn->origin)));
}

static int is_ip_literal(const dpc_url_t *u)
{
    unsigned char addr[16];

    return u->is_ipv6 || inet_pton(AF_INET, u->host, addr) == 1;
}

/* Name the peer must prove: SNI for host names only (RFC 6066 section 3
 * forbids addresses), verification against a DNS name or an IP SAN. */
static int tls_set_peer(SSL *ssl, const dpc_url_t *u, int insecure)
{
    int ip = is_ip_literal(u);

    if (!ip && !SSL_set_tlsext_host_name(ssl, u->host))
        return 0;
    if (insecure)
        return 1;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), u->host)
              : SSL_set1_host(ssl, u->host);
}

static dpc_http_err_e tls_handshake(apr_pool_t *p, dpc_conn_t *conn,
                                    const dpc_url_t *u, const char **errmsg)
{
    const dpc_http_options_t *o = &conn->client->opts;
    apr_os_sock_t fd;
    dpc_http_err_e rv;
    long vr;
    int rc;

    ERR_clear_error();
    if (!(conn->ssl = SSL_new(conn->client->ssl_ctx))
        || apr_os_sock_get(&fd, conn->sock) != APR_SUCCESS
        || !SSL_set_fd(conn->ssl, fd)
        || !tls_set_peer(conn->ssl, u, o->insecure))
        return fail(DPC_HTTP_INTERNAL, errmsg,
                    dpc_ossl_errmsg(p, "cannot set up the TLS connection"));
    for (;;) {
        ERR_clear_error();
        if ((rc = SSL_connect(conn->ssl)) == 1)
            return DPC_HTTP_OK;
        vr = SSL_get_verify_result(conn->ssl);
        if (!o->insecure && vr != X509_V_OK) {
            ERR_clear_error();
            return fail(DPC_HTTP_TLS, errmsg, apr_psprintf(p,
                        "TLS certificate of %s not accepted: %s", u->host,
                        X509_verify_cert_error_string(vr)));
        }
        rv = tls_retry(p, conn, SSL_get_error(conn->ssl, rc),
                       o->connect_timeout, "TLS handshake with", errmsg);
        if (rv != DPC_HTTP_OK)
            return rv == DPC_HTTP_IO ? DPC_HTTP_TLS : rv;
    }
}

static apr_status_t try_connect(dpc_conn_t *conn, apr_sockaddr_t *sa,
                                apr_interval_time_t timeout)
{
    apr_socket_t *s;
    apr_status_t rv;

    rv = apr_socket_create(&s, sa->family, SOCK_STREAM, APR_PROTO_TCP,
                           conn->pool);
    if (rv != APR_SUCCESS)
        return rv;
    if ((rv = apr_socket_timeout_set(s, timeout)) == APR_SUCCESS
        && (rv = apr_socket_connect(s, sa)) == APR_SUCCESS) {
        conn->sock = s;
        return APR_SUCCESS;
    }
    apr_socket_close(s);
    return rv;
}

static const char *origin_of(apr_pool_t *p, const dpc_url_t *u)
{
    return apr_psprintf(p, "%s://%s%s%s:%u", u->scheme, u->is_ipv6 ? "[" : "",
                        u->host, u->is_ipv6 ? "]" : "", (unsigned)u->port);
}

/* Resolve, connect to the first address that answers, and shake hands. */
static dpc_http_err_e conn_open(apr_pool_t *p, dpc_http_client_t *c,
                                const dpc_url_t *u, dpc_conn_t **out,
                                const char **errmsg)
{
    apr_pool_t *cp;
    dpc_conn_t *conn;
    apr_sockaddr_t *sa;
    apr_status_t rv;
    dpc_http_err_e err;

    if (u->is_https && (err = tls_ctx(p, c, errmsg)) != DPC_HTTP_OK)
        return err;
    if (apr_pool_create(&cp, c->pool) != APR_SUCCESS)
        return fail(DPC_HTTP_INTERNAL, errmsg, "out of memory");
    conn = apr_pcalloc(cp, sizeof(*conn));
    conn->pool = cp;
    conn->client = c;
    conn->origin = origin_of(cp, u);
    conn->timeout = c->opts.connect_timeout;
    apr_pool_cleanup_register(cp, conn, conn_cleanup, apr_pool_cleanup_null);
    rv = apr_sockaddr_info_get(&sa, u->host, APR_UNSPEC, u->port, 0, cp);
    if (rv != APR_SUCCESS) {
        err = fail(DPC_HTTP_RESOLVE, errmsg, apr_psprintf(p,
                   "cannot resolve %s: %s", u->host, apr_errmsg(p, rv)));
        goto fail;
    }
    for (rv = APR_EGENERAL; sa && rv != APR_SUCCESS; sa = sa->next)
        rv = try_connect(conn, sa, c->opts.connect_timeout);
    if (rv != APR_SUCCESS) {
        err = io_fail(p, rv, conn, "cannot connect to", errmsg);
        if (err == DPC_HTTP_IO)
            err = DPC_HTTP_CONNECT;
        goto fail;
    }
    apr_socket_opt_set(conn->sock, APR_TCP_NODELAY, 1);
    if (u->is_https && (err = tls_handshake(p, conn, u, errmsg)) != DPC_HTTP_OK)
        goto fail;
    dpc_log_perror(DPC_LOG_MARK, DPC_LOG_DEBUG, APR_SUCCESS,
                   DPCLOGNO(07002) "connected to %s", conn->origin);
    *out = conn;
    return DPC_HTTP_OK;
fail:
    apr_pool_destroy(cp);
    return err;
}

/* May the kept connection carry another request?  Not if the server has
 * closed it (readable at EOF) or sent bytes nobody asked for. */
static int conn_usable(dpc_conn_t *conn)
{
    apr_status_t rv = wait_io(conn, 0, 0);
    char c;
    size_t got;
    int err;

    if (APR_STATUS_IS_TIMEUP(rv))
        return 1;               /* nothing pending: still open */
    if (rv != APR_SUCCESS || !conn->ssl)
        return 0;
    /* TLS 1.3 sends records without data (session tickets, key updates)
     * whenever it likes: let OpenSSL read them and see what is left. */
    ERR_clear_error();
    if (SSL_peek_ex(conn->ssl, &c, 1, &got))
        return 0;
    err = SSL_get_error(conn->ssl, 0);
    ERR_clear_error();
    return err == SSL_ERROR_WANT_READ;
}

/* The kept connection if it fits the URL and is still open, else a new
 * one (which becomes the kept one). */
static dpc_http_err_e conn_get(apr_pool_t *p, dpc_http_client_t *c,
                               const dpc_url_t *u, apr_interval_time_t timeout,
                               dpc_conn_t **out, int *reused,
                               const char **errmsg)
{
    dpc_http_err_e rv;

    *reused = 0;
    if (c->conn && !strcasecmp(c->conn->origin, origin_of(p, u))
        && conn_usable(c->conn)) {
        *reused = 1;
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_DEBUG, APR_SUCCESS,
                       DPCLOGNO(07003) "reusing connection to %s",
                       c->conn->origin);
    }
    else {
        conn_close(c->conn);
        if ((rv = conn_open(p, c, u, &c->conn, errmsg)) != DPC_HTTP_OK)
            return rv;
    }
    c->conn->timeout = timeout;
    c->conn->unclean_eof = 0;
    apr_socket_timeout_set(c->conn->sock, timeout);
    *out = c->conn;
    return DPC_HTTP_OK;
}

static dpc_http_err_e conn_write(apr_pool_t *p, dpc_conn_t *conn,
                                 const char *data, apr_size_t len,
                                 const char **errmsg)
{
    apr_size_t n;
    apr_status_t rv;
    dpc_http_err_e err;

    while (len > 0) {
        n = len;
        if (!conn->ssl) {
            if ((rv = apr_socket_send(conn->sock, data, &n)) != APR_SUCCESS)
                return io_fail(p, rv, conn, "cannot send the request to",
                               errmsg);
        }
        else {
            ERR_clear_error();
            if (!SSL_write_ex(conn->ssl, data, len, &n)) {
                err = tls_retry(p, conn, SSL_get_error(conn->ssl, 0),
                                conn->timeout, "cannot send the request to",
                                errmsg);
                if (err != DPC_HTTP_OK)
                    return err;
                continue;
            }
        }
        data += n;
        len -= n;
    }
    return DPC_HTTP_OK;
}

/* Read what is there (waiting up to the timeout): *n > 0 bytes, or 0 at
 * the end of the connection. */
static dpc_http_err_e conn_read(apr_pool_t *p, dpc_conn_t *conn, char *buf,
                                apr_size_t size, apr_size_t *n,
                                const char **errmsg)
{
    apr_status_t rv;
    dpc_http_err_e err;
    int e;

    if (!conn->ssl) {
        *n = size;
        rv = apr_socket_recv(conn->sock, buf, n);
        if (rv == APR_EOF || (rv == APR_SUCCESS && *n == 0)) {
            *n = 0;
            return DPC_HTTP_OK;
        }
        return rv == APR_SUCCESS ? DPC_HTTP_OK
            : io_fail(p, rv, conn, "cannot read the response from", errmsg);
    }
    for (;;) {
        ERR_clear_error();
        if (SSL_read_ex(conn->ssl, buf, size, n))
            return DPC_HTTP_OK;
        *n = 0;
        e = SSL_get_error(conn->ssl, 0);
        if (e == SSL_ERROR_ZERO_RETURN)
            return DPC_HTTP_OK;
        /* OpenSSL 3 reports a close without close_notify as an error; the
         * message framing still tells a truncated response apart. */
        if (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error())
                                  == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            conn->unclean_eof = 1;
            return DPC_HTTP_OK;
        }
        err = tls_retry(p, conn, e, conn->timeout,
                        "cannot read the response from", errmsg);
        if (err != DPC_HTTP_OK)
            return err;
    }
}

/* ====================================================================== */
/* requests                                                                 */

/* Collects a response body in the request pool, up to max bytes. */
typedef struct {
    apr_pool_t *p;
    char *buf;
    apr_size_t len, cap, max;
    int too_large;
} collect_t;

static apr_status_t collect_body(void *baton, const char *data, apr_size_t len)
{
    collect_t *c = baton;
    apr_size_t cap;
    char *nb;

    if (len > c->max - c->len) {
        c->too_large = 1;
        return APR_ENOSPC;
    }
    if (c->len + len + 1 > c->cap) {
        for (cap = c->cap ? c->cap : 4096; cap < c->len + len + 1; cap *= 2)
            if (cap > APR_SIZE_MAX / 2) {
                cap = c->len + len + 1;
                break;
            }
        nb = apr_palloc(c->p, cap);
        if (c->len)
            memcpy(nb, c->buf, c->len);
        c->buf = nb;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, len);
    c->len += len;
    return APR_SUCCESS;
}

/* Hands a 2xx body to the caller's callback. */
typedef struct {
    const dpc_http_request_t *req;
    dpc_http_response_t *resp;
} stream_t;

static apr_status_t stream_body(void *baton, const char *data, apr_size_t len)
{
    stream_t *s = baton;
    apr_status_t rv = s->req->body_cb(s->req->body_baton, s->resp, data, len);

    if (rv == APR_SUCCESS)
        s->resp->streamed += (apr_off_t)len;
    return rv;
}

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *lines;
    const char *err;
    int has_user_agent;
} head_t;

static int add_header(void *baton, const char *name, const char *value)
{
    head_t *h = baton;
    const char *c;

    for (c = name; *c && is_tchar(*c); c++)
        ;
    if (!*name || *c) {
        h->err = apr_psprintf(h->p, "invalid request header name '%s'", name);
        return 0;
    }
    if (strpbrk(value, "\r\n")) {
        h->err = apr_psprintf(h->p, "request header %s has a line break",
                              name);
        return 0;
    }
    if (!strcasecmp(name, "Host") || !strcasecmp(name, "Content-Length")
        || !strcasecmp(name, "Transfer-Encoding")) {
        h->err = apr_psprintf(h->p, "request header %s is set by the HTTP "
                              "client itself", name);
        return 0;
    }
    if (!strcasecmp(name, "User-Agent"))
        h->has_user_agent = 1;
    APR_ARRAY_PUSH(h->lines, const char *) =
        apr_pstrcat(h->p, name, ": ", value, "\r\n", NULL);
    return 1;
}

static int method_has_body(const char *m)
{
    return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
}

/* RFC 9110 section 9.2.2: only these may be sent twice on our own. */
static int method_idempotent(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PUT")
        || !strcmp(m, "DELETE") || !strcmp(m, "OPTIONS");
}

/* The request line and header block, ending with the empty line. */
static dpc_http_err_e build_head(apr_pool_t *p, const dpc_http_client_t *c,
                                 const dpc_http_request_t *req,
                                 const char *method, const dpc_url_t *u,
                                 const char **out, const char **errmsg)
{
    head_t h;
    const char *m;

    for (m = method; *m && is_tchar(*m); m++)
        ;
    if (!*method || *m || m - method > 32)
        return fail(DPC_HTTP_BAD_REQUEST, errmsg, apr_psprintf(p,
                    "invalid request method '%s'", method));
    h.p = p;
    h.lines = apr_array_make(p, 16, sizeof(const char *));
    h.err = NULL;
    h.has_user_agent = 0;
    APR_ARRAY_PUSH(h.lines, const char *) = apr_pstrcat(p, method, " ", u->path,
        " HTTP/1.1\r\nHost: ", u->host_header, "\r\n", NULL);
    if (req->headers && !apr_table_do(add_header, &h, req->headers, NULL))
        return fail(DPC_HTTP_BAD_REQUEST, errmsg, h.err);
    if (!h.has_user_agent)
        APR_ARRAY_PUSH(h.lines, const char *) =
            apr_pstrcat(p, "User-Agent: ", c->opts.user_agent, "\r\n", NULL);
    if (req->body || method_has_body(method))
        APR_ARRAY_PUSH(h.lines, const char *) = apr_psprintf(p,
            "Content-Length: %" APR_SIZE_T_FMT "\r\n",
            req->body ? req->body_len : 0);
    APR_ARRAY_PUSH(h.lines, const char *) = "\r\n";
    *out = apr_array_pstrcat(p, h.lines, '\0');
    return DPC_HTTP_OK;
}

static dpc_http_err_e send_request(apr_pool_t *p, dpc_conn_t *conn,
                                   const dpc_http_request_t *req,
                                   const char *head, const char **errmsg)
{
    apr_size_t hlen = strlen(head), blen = req->body ? req->body_len : 0;
    dpc_http_err_e rv;
    char *both;

    /* A small body rides in the same segment as the head. */
    if (blen && blen <= COALESCE_MAX) {
        both = apr_palloc(p, hlen + blen);
        memcpy(both, head, hlen);
        memcpy(both + hlen, req->body, blen);
        return conn_write(p, conn, both, hlen + blen, errmsg);
    }
    if ((rv = conn_write(p, conn, head, hlen, errmsg)) != DPC_HTTP_OK || !blen)
        return rv;
    return conn_write(p, conn, req->body, blen, errmsg);
}

/* Feed one buffer of input; at the end of the headers choose where the
 * body goes.  *extra is set if bytes follow the end of the response. */
static dpc_http_err_e feed_all(dpc_http_parser_t *ps,
                               const dpc_http_request_t *req, stream_t *st,
                               const char *buf, apr_size_t n, int *extra,
                               const char **errmsg)
{
    apr_size_t off = 0, used;
    int had_headers;
    dpc_http_err_e rv;

    while (off < n && !dpc_http_parser_done(ps)) {
        had_headers = dpc_http_parser_headers_done(ps);
        rv = dpc_http_parser_feed(ps, buf + off, n - off, &used, errmsg);
        if (rv != DPC_HTTP_OK)
            return rv;
        off += used;
        if (!had_headers && dpc_http_parser_headers_done(ps) && req->body_cb
            && st->resp->status >= 200 && st->resp->status < 300)
            dpc_http_parser_set_body_cb(ps, stream_body, st);
    }
    *extra = off < n;
    return DPC_HTTP_OK;
}

/* Read and parse one response.  *got counts the bytes received, so the
 * caller can tell "closed before answering" (retryable) apart. */
static dpc_http_err_e read_response(apr_pool_t *p, dpc_conn_t *conn,
                                    const dpc_http_request_t *req,
                                    const char *method,
                                    dpc_http_response_t *resp, apr_size_t *got,
                                    int *keep_alive, const char **errmsg)
{
    collect_t col = { p, NULL, 0, 0, 0, 0 };
    stream_t st = { req, resp };
    dpc_http_parser_t *ps;
    char *buf = apr_palloc(p, READ_BUF_SIZE);
    apr_size_t n;
    int extra = 0;
    dpc_http_err_e rv = DPC_HTTP_OK;

    col.max = req->max_body ? req->max_body : DPC_HTTP_MAX_BODY_DEFAULT;
    memset(resp, 0, sizeof(*resp));
    ps = dpc_http_parser_create(p, !strcmp(method, "HEAD"), resp,
                                collect_body, &col);
    *got = 0;
    while (rv == DPC_HTTP_OK && !dpc_http_parser_done(ps)) {
        if ((rv = conn_read(p, conn, buf, READ_BUF_SIZE, &n, errmsg)))
            break;
        *got += n;
        if (n == 0 && ps->st == PS_CLOSE && conn->unclean_eof)
            rv = fail(DPC_HTTP_IO, errmsg, apr_psprintf(p, "TLS connection to"
                      " %s ended without close_notify: the response body may "
                      "be truncated", conn->origin));
        else if (n == 0)
            rv = dpc_http_parser_eof(ps, errmsg);
        else
            rv = feed_all(ps, req, &st, buf, n, &extra, errmsg);
    }
    if (rv == DPC_HTTP_ABORTED && col.too_large)
        rv = fail(DPC_HTTP_TOO_LARGE, errmsg, apr_psprintf(p,
                  "response body larger than %" APR_SIZE_T_FMT " bytes",
                  col.max));
    if (col.buf)
        col.buf[col.len] = '\0';
    resp->body = col.buf ? col.buf : "";
    resp->body_len = col.len;
    *keep_alive = rv == DPC_HTTP_OK && !extra && !conn->unclean_eof
                  && dpc_http_parser_keep_alive(ps);
    return rv;
}

/* One attempt: connection, request out, response in.  *retryable when it
 * failed on a reused connection before any response byte arrived. */
static dpc_http_err_e exchange(apr_pool_t *p, dpc_http_client_t *c,
                               const dpc_http_request_t *req,
                               const dpc_url_t *u, const char *method,
                               const char *head, apr_interval_time_t timeout,
                               dpc_http_response_t *resp, int *retryable,
                               const char **errmsg)
{
    dpc_conn_t *conn;
    apr_size_t got = 0;
    int reused, keep = 0;
    dpc_http_err_e rv;

    *retryable = 0;
    if ((rv = conn_get(p, c, u, timeout, &conn, &reused, errmsg)))
        return rv;
    rv = send_request(p, conn, req, head, errmsg);
    if (rv == DPC_HTTP_OK)
        rv = read_response(p, conn, req, method, resp, &got, &keep, errmsg);
    *retryable = reused && got == 0 && rv == DPC_HTTP_IO;
    if (rv == DPC_HTTP_OK)
        resp->reused = reused;
    /* A caller that said "Connection: close" gets it closed. */
    if (req->headers && list_has(p, apr_table_getm(p, req->headers,
                                                   "Connection"), "close"))
        keep = 0;
    if (rv != DPC_HTTP_OK || !keep)
        conn_close(conn);
    return rv;
}

dpc_http_err_e dpc_http_request(apr_pool_t *p, dpc_http_client_t *client,
                                const dpc_http_request_t *req,
                                dpc_http_response_t *resp,
                                const char **errmsg)
{
    const char *method = req->method ? req->method : "GET", *head;
    apr_interval_time_t timeout = req->timeout > 0 ? req->timeout
                                                   : client->opts.timeout;
    dpc_url_t u;
    dpc_http_err_e rv;
    int retryable;

    memset(resp, 0, sizeof(*resp));
    resp->body = "";
    if ((rv = dpc_url_parse(p, req->url, &u, errmsg)) != DPC_HTTP_OK
        || (rv = build_head(p, client, req, method, &u, &head, errmsg)))
        return rv;
    rv = exchange(p, client, req, &u, method, head, timeout, resp, &retryable,
                  errmsg);
    if (rv != DPC_HTTP_OK && retryable && method_idempotent(method)) {
        /* The server closed the idle connection as we reused it. */
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_DEBUG, APR_SUCCESS,
                       DPCLOGNO(07004) "retrying %s %s on a new connection "
                       "(%s)", method, req->url, *errmsg);
        rv = exchange(p, client, req, &u, method, head, timeout, resp,
                      &retryable, errmsg);
    }
    return rv;
}
