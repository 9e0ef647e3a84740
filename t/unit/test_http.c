/* test_http.c: unit tests of dpc_http, the core's HTTP/1.1 client.
 *
 * Suite: http_suite (run by main.c).
 *
 *   url      dpc_url_parse on good and bad URLs
 *   form     application/x-www-form-urlencoded bodies
 *   headers  Retry-After and Content-Range
 *   parser   the response parser fed whole and byte by byte: lengths,
 *            chunked bodies, interim responses, framing errors
 *   net      real requests against a tiny server on 127.0.0.1 (a thread
 *            of this process, plain POSIX sockets and OpenSSL, so it shares
 *            no code with the client): fixed-length, chunked, 404, writes
 *            split into pieces, early close, keep-alive, timeouts, streaming
 *   tls      the same server behind TLS with a certificate made here:
 *            untrusted, trusted through ca_file, wrong name, insecure
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <apr_date.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "unit.h"
#include "dpc_http.h"
#include "dpc_log.h"

static apr_pool_t *pool;

static void setup(void)
{
    /* The client writes to sockets the server may have closed. */
    signal(SIGPIPE, SIG_IGN);
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

/* ====================================================================== */
/* URLs                                                                     */

START_TEST(url_good)
{
    dpc_url_t u;
    const char *err = NULL;

    ck_assert_int_eq(dpc_url_parse(pool, "http://example.org", &u, &err),
                     DPC_HTTP_OK);
    ck_assert_str_eq(u.scheme, "http");
    ck_assert_str_eq(u.host, "example.org");
    ck_assert_int_eq(u.port, 80);
    ck_assert_str_eq(u.path, "/");
    ck_assert_str_eq(u.host_header, "example.org");
    ck_assert_int_eq(u.is_https, 0);

    ck_assert_int_eq(dpc_url_parse(pool, "HTTPS://Sandbox.dpc.cms.gov:8443/api/v2/"
                                   "Group/1/$export?_type=Coverage#frag", &u, &err),
                     DPC_HTTP_OK);
    ck_assert_str_eq(u.scheme, "https");
    ck_assert_int_eq(u.is_https, 1);
    ck_assert_str_eq(u.host, "Sandbox.dpc.cms.gov");
    ck_assert_int_eq(u.port, 8443);
    ck_assert_str_eq(u.path, "/api/v2/Group/1/$export?_type=Coverage");
    ck_assert_str_eq(u.host_header, "Sandbox.dpc.cms.gov:8443");

    /* the default port is left out of Host; "host:" is the default port */
    ck_assert_int_eq(dpc_url_parse(pool, "https://h:443/x", &u, &err), DPC_HTTP_OK);
    ck_assert_str_eq(u.host_header, "h");
    ck_assert_int_eq(dpc_url_parse(pool, "http://h:/x", &u, &err), DPC_HTTP_OK);
    ck_assert_int_eq(u.port, 80);
    /* a query without a path */
    ck_assert_int_eq(dpc_url_parse(pool, "http://h?a=1", &u, &err), DPC_HTTP_OK);
    ck_assert_str_eq(u.path, "/?a=1");
    ck_assert_int_eq(dpc_url_parse(pool, "http://h#f", &u, &err), DPC_HTTP_OK);
    ck_assert_str_eq(u.path, "/");
    /* IPv6 literals */
    ck_assert_int_eq(dpc_url_parse(pool, "http://[::1]:8080/m", &u, &err),
                     DPC_HTTP_OK);
    ck_assert_str_eq(u.host, "::1");
    ck_assert_int_eq(u.is_ipv6, 1);
    ck_assert_int_eq(u.port, 8080);
    ck_assert_str_eq(u.host_header, "[::1]:8080");
    ck_assert_int_eq(dpc_url_parse(pool, "https://[2001:db8::7]", &u, &err),
                     DPC_HTTP_OK);
    ck_assert_str_eq(u.host_header, "[2001:db8::7]");
    ck_assert_int_eq(u.port, 443);
    ck_assert_int_eq(dpc_url_parse(pool, "http://127.0.0.1:1/", &u, &err),
                     DPC_HTTP_OK);
    ck_assert_int_eq(u.port, 1);
}
END_TEST

static const char *const bad_urls[] = {
    "", "ftp://h/", "http:/h/", "//h/", "h/x", "http://", "http:///x",
    "http://:80/", "http://user:pw@h/", "http://user@h/", "http://h:0/",
    "http://h:65536/", "http://h:8x/", "http://h:123456/", "http://h:-1/",
    "http://h/a b", "http://h/a\tb", "http://h\x01/", "http://h/\xc3\xa9",
    "http://[::1/", "http://[zz]/", "http://[::1]x/", "http://ho%73t/",
    "http://h!/", "http://h h/",
    NULL
};

START_TEST(url_bad)
{
    dpc_url_t u;
    const char *err;
    int i;

    for (i = 0; bad_urls[i]; i++) {
        err = NULL;
        ck_assert_msg(dpc_url_parse(pool, bad_urls[i], &u, &err) == DPC_HTTP_BAD_URL,
                      "accepted '%s'", bad_urls[i]);
        ck_assert_msg(err && *err, "no message for '%s'", bad_urls[i]);
    }
    ck_assert_int_eq(dpc_url_parse(pool, NULL, &u, &err), DPC_HTTP_BAD_URL);
    dpc_url_parse(pool, "http://u:secret@h/", &u, &err);
    ck_assert_ptr_null(strstr(err, "secret"));
}
END_TEST

/* ====================================================================== */
/* form bodies                                                              */

START_TEST(form_encoding)
{
    const char *kv[] = {
        "grant_type", "client_credentials",
        "scope", "system/*.*",
        "client_assertion_type",
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        NULL
    };
    const char *opt[] = { "a", "1", "b", NULL, "c", "3", NULL };
    const char *none[] = { NULL };

    ck_assert_str_eq(dpc_http_form_escape(pool, "system/*.*"), "system%2F*.*");
    ck_assert_str_eq(dpc_http_form_escape(pool, "a b&c=d~+%\xc3\xa9_-."),
                     "a+b%26c%3Dd%7E%2B%25%C3%A9_-.");
    ck_assert_str_eq(dpc_http_form_escape(pool, ""), "");
    ck_assert_str_eq(dpc_http_form_escape(pool, "\n\x7f"), "%0A%7F");
    /* exactly the body of the DPC guide's cURL example */
    ck_assert_str_eq(dpc_http_form_encode(pool, kv),
        "grant_type=client_credentials&scope=system%2F*.*&client_assertion_type="
        "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer");
    /* a NULL value ends the list */
    ck_assert_str_eq(dpc_http_form_encode(pool, opt), "a=1");
    ck_assert_str_eq(dpc_http_form_encode(pool, none), "");
}
END_TEST

/* ====================================================================== */
/* header values                                                            */

START_TEST(retry_after)
{
    apr_time_t t = apr_date_parse_http("Wed, 21 Oct 2015 07:28:00 GMT");

    ck_assert_int_eq(dpc_http_retry_after("120", 0), 120);
    ck_assert_int_eq(dpc_http_retry_after(" 5 ", 0), 5);
    ck_assert_int_eq(dpc_http_retry_after("0", 0), 0);
    ck_assert_int_eq(dpc_http_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
                                          t - apr_time_from_sec(30)), 30);
    /* a fraction of a second rounds up */
    ck_assert_int_eq(dpc_http_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
                                          t - 1500000), 2);
    ck_assert_int_eq(dpc_http_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
                                          t + apr_time_from_sec(5)), 0);
    ck_assert_int_eq(dpc_http_retry_after(NULL, 0), -1);
    ck_assert_int_eq(dpc_http_retry_after("soon", 0), -1);
    ck_assert_int_eq(dpc_http_retry_after("-5", 0), -1);
    ck_assert_int_eq(dpc_http_retry_after("5s", 0), -1);
    ck_assert_int_eq(dpc_http_retry_after("1234567890123456789012", 0), -1);
}
END_TEST

START_TEST(content_range)
{
    apr_off_t f, l, c;

    ck_assert_int_eq(dpc_http_content_range("bytes 0-99/1000", &f, &l, &c), 0);
    ck_assert_int_eq(f, 0);
    ck_assert_int_eq(l, 99);
    ck_assert_int_eq(c, 1000);
    ck_assert_int_eq(dpc_http_content_range("bytes 100-199/*", &f, &l, &c), 0);
    ck_assert_int_eq(c, -1);
    ck_assert_int_eq(dpc_http_content_range("bytes */1000", &f, &l, &c), 0);
    ck_assert_int_eq(f, -1);
    ck_assert_int_eq(l, -1);
    ck_assert_int_eq(c, 1000);
    ck_assert_int_eq(dpc_http_content_range("Bytes 9-9/10", &f, &l, &c), 0);
    ck_assert_int_eq(dpc_http_content_range("bytes 5-4/10", &f, &l, &c), -1);
    ck_assert_int_eq(dpc_http_content_range("bytes 0-10/10", &f, &l, &c), -1);
    ck_assert_int_eq(dpc_http_content_range("items 0-1/2", &f, &l, &c), -1);
    ck_assert_int_eq(dpc_http_content_range("bytes */*", &f, &l, &c), -1);
    ck_assert_int_eq(dpc_http_content_range("bytes 0-1/2x", &f, &l, &c), -1);
    ck_assert_int_eq(dpc_http_content_range("bytes0-1/2", &f, &l, &c), -1);
    ck_assert_int_eq(dpc_http_content_range(NULL, &f, &l, &c), -1);
}
END_TEST

/* ====================================================================== */
/* the response parser                                                      */

typedef struct {
    char buf[4096];
    apr_size_t len;
    int fail_after;             /* > 0: fail once this many bytes arrived */
} sink_t;

static apr_status_t sink_body(void *baton, const char *data, apr_size_t len)
{
    sink_t *s = baton;

    ck_assert_uint_le(s->len + len, sizeof(s->buf) - 1);
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    s->buf[s->len] = '\0';
    if (s->fail_after && s->len >= (apr_size_t)s->fail_after)
        return APR_EGENERAL;
    return APR_SUCCESS;
}

typedef struct {
    dpc_http_response_t resp;
    sink_t body;
    dpc_http_parser_t *ps;
    apr_size_t left_over;       /* bytes not taken after the response */
    const char *err;
} parsed_t;

/* Feed text in pieces of step bytes (0: all at once), then an end of file
 * if eof is set; the first error is returned. */
static dpc_http_err_e parse(const char *text, apr_size_t step, int head,
                            int eof, parsed_t *out)
{
    apr_size_t len = strlen(text), off = 0, n, used;
    dpc_http_err_e rv = DPC_HTTP_OK;

    memset(out, 0, sizeof(*out));
    out->ps = dpc_http_parser_create(pool, head, &out->resp, sink_body,
                                     &out->body);
    while (off < len && !dpc_http_parser_done(out->ps)) {
        n = step && step < len - off ? step : len - off;
        if ((rv = dpc_http_parser_feed(out->ps, text + off, n, &used,
                                       &out->err)) != DPC_HTTP_OK)
            return rv;
        ck_assert_uint_le(used, n);
        off += used;
    }
    out->left_over = len - off;
    if (eof)
        rv = dpc_http_parser_eof(out->ps, &out->err);
    return rv;
}

/* The same response parsed whole and byte by byte gives the same result. */
static void parse_both(const char *text, int head, int eof, parsed_t *out)
{
    parsed_t one;

    ck_assert_int_eq(parse(text, 1, head, eof, &one), DPC_HTTP_OK);
    ck_assert_int_eq(parse(text, 0, head, eof, out), DPC_HTTP_OK);
    ck_assert_int_eq(one.resp.status, out->resp.status);
    ck_assert_uint_eq(one.body.len, out->body.len);
    ck_assert_mem_eq(one.body.buf, out->body.buf, out->body.len);
    ck_assert_int_eq(dpc_http_parser_done(out->ps), 1);
}

START_TEST(parse_length)
{
    parsed_t r;

    parse_both("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
               "content-length: 5\r\nX-Multi: a\r\nX-Multi:   b  \r\n\r\nhello",
               0, 0, &r);
    ck_assert_int_eq(r.resp.status, 200);
    ck_assert_str_eq(r.resp.reason, "OK");
    ck_assert_int_eq(r.resp.minor_version, 1);
    ck_assert_str_eq(r.body.buf, "hello");
    ck_assert_str_eq(apr_table_get(r.resp.headers, "CONTENT-TYPE"), "text/plain");
    ck_assert_str_eq(apr_table_getm(pool, r.resp.headers, "x-multi"), "a,b");
    ck_assert_int_eq(dpc_http_parser_keep_alive(r.ps), 1);

    /* bare LF line ends, empty reason, no space after the code */
    parse_both("HTTP/1.1 202\nContent-Length: 0\n\n", 0, 0, &r);
    ck_assert_int_eq(r.resp.status, 202);
    ck_assert_str_eq(r.resp.reason, "");
    /* a repeated identical Content-Length is one length */
    parse_both("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n"
               "\r\nabc", 0, 0, &r);
    ck_assert_str_eq(r.body.buf, "abc");
    /* bytes after the response are left for the next one */
    ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP",
                           0, 0, 0, &r), DPC_HTTP_OK);
    ck_assert_uint_eq(r.left_over, 4);
    ck_assert_str_eq(r.body.buf, "ab");
}
END_TEST

START_TEST(parse_chunked)
{
    parsed_t r;

    parse_both("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5;ext=\"x\"\r\nhello\r\n7 \r\n, world\r\nA\r\n0123456789\r\n"
               "0\r\nX-Trailer: t\r\nDigest: abc\r\n\r\n", 0, 0, &r);
    ck_assert_str_eq(r.body.buf, "hello, world0123456789");
    ck_assert_ptr_null(apr_table_get(r.resp.headers, "X-Trailer"));
    ck_assert_int_eq(dpc_http_parser_keep_alive(r.ps), 1);

    /* upper and lower case hex, bare LF, no trailers, case of the coding */
    parse_both("HTTP/1.1 200 OK\nTransfer-Encoding:  Chunked \n\n"
               "1a\n" "abcdefghijklmnopqrstuvwxyz\n" "1A\n"
               "ABCDEFGHIJKLMNOPQRSTUVWXYZ\n0\n\n", 0, 0, &r);
    ck_assert_str_eq(r.body.buf, "abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    /* chunked wins over Content-Length, but the connection is not reused */
    parse_both("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"
               "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 0, 0, &r);
    ck_assert_str_eq(r.body.buf, "ok");
    ck_assert_int_eq(dpc_http_parser_keep_alive(r.ps), 0);
    /* leading zeros */
    parse_both("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               "0003\r\nabc\r\n000\r\n\r\n", 0, 0, &r);
    ck_assert_str_eq(r.body.buf, "abc");
}
END_TEST

static const char *const bad_chunked[] = {
    "zz\r\nhello\r\n0\r\n\r\n",               /* size not hex */
    ";ext\r\n",                               /* no size */
    "5\r\nhelloX\r\n0\r\n\r\n",               /* chunk longer than its size */
    "1000000000000000\r\n",                   /* 16 hex digits */
    "5 x\r\nhello\r\n",                       /* junk after the size */
    "-5\r\n",
    "2\r\nok\r\n0\r\nBad Trailer: x\r\n\r\n", /* malformed trailer */
    NULL
};

START_TEST(parse_chunked_bad)
{
    parsed_t r;
    const char *head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    int i;

    for (i = 0; bad_chunked[i]; i++) {
        ck_assert_msg(parse(apr_pstrcat(pool, head, bad_chunked[i], NULL), 1, 0, 0,
                            &r) == DPC_HTTP_PROTOCOL, "accepted chunked body %d", i);
        ck_assert_ptr_nonnull(r.err);
    }
    /* the connection ends inside the chunked body */
    ck_assert_int_eq(parse(apr_pstrcat(pool, head, "5\r\nhel", NULL), 0, 0, 1, &r),
                     DPC_HTTP_IO);
    ck_assert_ptr_nonnull(strstr(r.err, "chunked body after 3 bytes"));
    ck_assert_int_eq(parse(apr_pstrcat(pool, head, "5\r\nhello\r\n", NULL), 0, 0,
                           1, &r), DPC_HTTP_IO);
}
END_TEST

START_TEST(parse_no_body)
{
    parsed_t r;

    /* HEAD: the length describes the GET response, nothing follows */
    parse_both("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 1, 0, &r);
    ck_assert_uint_eq(r.body.len, 0);
    ck_assert_int_eq(dpc_http_parser_keep_alive(r.ps), 1);
    parse_both("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", 0, 0, &r);
    ck_assert_int_eq(r.resp.status, 204);
    parse_both("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
               0, 0, &r);
    ck_assert_int_eq(r.resp.status, 304);
    /* interim responses are skipped, their headers dropped */
    parse_both("HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
               "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
               "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 0, 0, &r);
    ck_assert_int_eq(r.resp.status, 201);
    ck_assert_str_eq(r.body.buf, "ok");
    ck_assert_ptr_null(apr_table_get(r.resp.headers, "X-Interim"));
    ck_assert_ptr_null(apr_table_get(r.resp.headers, "Link"));
}
END_TEST

START_TEST(parse_until_close)
{
    parsed_t r;

    parse_both("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it\n",
               0, 1, &r);
    ck_assert_str_eq(r.body.buf, "all of it\n");
    ck_assert_int_eq(dpc_http_parser_keep_alive(r.ps), 0);
    /* HTTP/1.0 and Connection: close are not kept alive */
    parse_both("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 0, 0, &r);
    ck_assert_int_eq(r.resp.minor_version, 0);
    ck_assert_int_eq(dpc_http_parser_keep_alive(r.ps), 0);
    parse_both("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\n"
               "Content-Length: 1\r\n\r\nx", 0, 0, &r);
    ck_assert_int_eq(dpc_http_parser_keep_alive(r.ps), 0);
}
END_TEST

static const char *const bad_responses[] = {
    "HTTP/2 200 OK\r\n\r\n",
    "ICY 200 OK\r\n\r\n",
    "HTTP/1.1 20 OK\r\n\r\n",
    "HTTP/1.1 099 Low\r\n\r\n",
    "HTTP/1.1 2000 OK\r\n\r\n",
    "HTTP/1.1 200OK\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
    "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
    "HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n",
    "HTTP/1.1 200 OK\r\n: empty\r\n\r\n",
    "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
    "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
    NULL
};

START_TEST(parse_bad)
{
    parsed_t r;
    apr_size_t n = DPC_HTTP_MAX_LINE + 10;
    char *longline = apr_palloc(pool, n + 64);
    apr_array_header_t *many = apr_array_make(pool, 128, sizeof(const char *));
    int i;

    for (i = 0; bad_responses[i]; i++) {
        r.err = NULL;
        ck_assert_msg(parse(bad_responses[i], 0, 0, 0, &r) == DPC_HTTP_PROTOCOL,
                      "accepted response %d", i);
        ck_assert_ptr_nonnull(r.err);
    }
    /* a header line longer than the limit, a NUL in a line */
    strcpy(longline, "HTTP/1.1 200 OK\r\nX-Long: ");
    memset(longline + strlen(longline), 'a', n);
    strcpy(longline + 26 + n, "\r\n\r\n");
    ck_assert_int_eq(parse(longline, 4096, 0, 0, &r), DPC_HTTP_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(r.err, "longer than"));
    {
        dpc_http_response_t resp;
        dpc_http_parser_t *ps;
        apr_size_t used;
        const char *err;
        static const char nul[] = "HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n";

        memset(&resp, 0, sizeof(resp));
        ps = dpc_http_parser_create(pool, 0, &resp, NULL, NULL);
        ck_assert_int_eq(dpc_http_parser_feed(ps, nul, sizeof(nul) - 1, &used,
                                              &err), DPC_HTTP_PROTOCOL);
    }
    /* too many header fields */
    APR_ARRAY_PUSH(many, const char *) = "HTTP/1.1 200 OK\r\n";
    for (i = 0; i <= DPC_HTTP_MAX_HEADERS; i++)
        APR_ARRAY_PUSH(many, const char *) = "X-Many: 1\r\n";
    APR_ARRAY_PUSH(many, const char *) = "\r\n";
    ck_assert_int_eq(parse(apr_array_pstrcat(pool, many, '\0'), 0, 0, 0, &r),
                     DPC_HTTP_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(r.err, "more than"));
}
END_TEST

START_TEST(parse_eof)
{
    parsed_t r;

    ck_assert_int_eq(parse("", 0, 0, 1, &r), DPC_HTTP_IO);
    ck_assert_ptr_nonnull(strstr(r.err, "without sending a response"));
    ck_assert_int_eq(parse("HTTP/1.1 200", 0, 0, 1, &r), DPC_HTTP_IO);
    ck_assert_ptr_nonnull(strstr(r.err, "status line"));
    ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nContent-Len", 0, 0, 1, &r),
                     DPC_HTTP_IO);
    ck_assert_ptr_nonnull(strstr(r.err, "headers"));
    ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",
                           0, 0, 1, &r), DPC_HTTP_IO);
    ck_assert_ptr_nonnull(strstr(r.err, "after 3 of 5 body bytes"));
}
END_TEST

START_TEST(parse_callback_abort)
{
    parsed_t r;
    dpc_http_response_t resp;
    dpc_http_parser_t *ps;
    sink_t sink;
    const char *err = NULL;
    const char text[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
    apr_size_t used, off = 0;
    dpc_http_err_e rv = DPC_HTTP_OK;

    (void)r;
    memset(&resp, 0, sizeof(resp));
    memset(&sink, 0, sizeof(sink));
    sink.fail_after = 4;
    ps = dpc_http_parser_create(pool, 0, &resp, sink_body, &sink);
    while (rv == DPC_HTTP_OK && off < sizeof(text) - 1) {
        rv = dpc_http_parser_feed(ps, text + off, 2, &used, &err);
        off += used;
    }
    ck_assert_int_eq(rv, DPC_HTTP_ABORTED);
    ck_assert_ptr_nonnull(err);
    ck_assert_str_eq(sink.buf, "0123");

    /* the feed stops right after the headers so the caller can choose */
    memset(&resp, 0, sizeof(resp));
    ps = dpc_http_parser_create(pool, 0, &resp, NULL, NULL);
    ck_assert_int_eq(dpc_http_parser_feed(ps, text, sizeof(text) - 1, &used, &err),
                     DPC_HTTP_OK);
    ck_assert_uint_eq(used, sizeof(text) - 1 - 10);
    ck_assert_int_eq(dpc_http_parser_headers_done(ps), 1);
    ck_assert_int_eq(dpc_http_parser_done(ps), 0);
}
END_TEST

/* ====================================================================== */
/* a tiny server                                                            */

#define SRV_MAX_REQ 8
#define SILENT "\001silent"     /* read the request, never answer */
#define HANG_UP "\001hangup"    /* read the request, close at once */

typedef struct {
    const char *const *responses;   /* one per request, NULL-terminated */
    int keep_open;              /* serve the next response on the same
                                 * connection (else close after each) */
    int split;                  /* > 0: write in pieces of this size */
    int no_read;                /* answer at once, without reading */
    SSL_CTX *ssl_ctx;           /* TLS server, or NULL */
    int lfd;
    int port;
    pthread_t thread;
    /* what the server saw, read after srv_stop() */
    int connections;
    int closed;                 /* connections closed (atomic access) */
    int nreq;
    char *req[SRV_MAX_REQ];
} srv_t;

typedef struct {
    int fd;
    SSL *ssl;
} sconn_t;

static int s_read(sconn_t *c, char *buf, int len)
{
    return c->ssl ? SSL_read(c->ssl, buf, len) : (int)read(c->fd, buf, (size_t)len);
}

static int s_write(sconn_t *c, const char *buf, int len)
{
    return c->ssl ? SSL_write(c->ssl, buf, len) : (int)write(c->fd, buf, (size_t)len);
}

/* Read one request (head and Content-Length body); 0 at end of file. */
static int srv_read_request(srv_t *s, sconn_t *c)
{
    char buf[16384], *end, *cl;
    int len = 0, n, want = -1;

    while (want < 0 || len < want) {
        if (len >= (int)sizeof(buf) - 1
            || (n = s_read(c, buf + len, (int)sizeof(buf) - 1 - len)) <= 0)
            return 0;
        len += n;
        buf[len] = '\0';
        if (want < 0 && (end = strstr(buf, "\r\n\r\n"))) {
            want = (int)(end + 4 - buf);
            if ((cl = strcasestr(buf, "\r\nContent-Length:")) && cl < end)
                want += atoi(cl + 17);
        }
    }
    if (s->nreq < SRV_MAX_REQ)
        s->req[s->nreq++] = strndup(buf, (size_t)len);
    return 1;
}

static void srv_write_response(srv_t *s, sconn_t *c, const char *resp)
{
    int len = (int)strlen(resp), off = 0, n;

    while (off < len) {
        n = s->split > 0 && s->split < len - off ? s->split : len - off;
        if (s_write(c, resp + off, n) != n)
            return;
        off += n;
        if (s->split > 0)
            usleep(300);
    }
}

/* Serve one connection; returns the index of the next response. */
static int srv_connection(srv_t *s, int fd, int next)
{
    sconn_t c = { fd, NULL };
    struct timeval tv = { 5, 0 };
    int one = 1;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (s->ssl_ctx) {
        c.ssl = SSL_new(s->ssl_ctx);
        SSL_set_fd(c.ssl, fd);
        if (SSL_accept(c.ssl) <= 0)
            goto end;           /* the client refused the certificate */
    }
    if (s->no_read) {
        srv_write_response(s, &c, s->responses[next++]);
        goto end;
    }
    while (s->responses[next] && srv_read_request(s, &c)) {
        const char *resp = s->responses[next++];

        if (!strcmp(resp, HANG_UP))
            break;
        if (!strcmp(resp, SILENT)) {
            char b[64];

            while (s_read(&c, b, sizeof(b)) > 0)
                ;               /* until the client gives up */
            break;
        }
        srv_write_response(s, &c, resp);
        if (!s->keep_open)
            break;
    }
    if (c.ssl)
        SSL_shutdown(c.ssl);
end:
    SSL_free(c.ssl);
    ERR_clear_error();
    close(fd);
    __atomic_add_fetch(&s->closed, 1, __ATOMIC_SEQ_CST);
    return next;
}

static void *srv_main(void *arg)
{
    srv_t *s = arg;
    int fd, next = 0;

    while (s->responses[next] && (fd = accept(s->lfd, NULL, NULL)) >= 0) {
        s->connections++;
        next = srv_connection(s, fd, next);
    }
    return NULL;
}

static void srv_start(srv_t *s, const char *const *responses)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);

    s->responses = responses;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s->lfd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(s->lfd, 8), 0);
    ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&sa, &sl), 0);
    s->port = ntohs(sa.sin_port);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, srv_main, s), 0);
}

/* Wake a server blocked in accept (Linux returns EINVAL after shutdown),
 * wait for it, and make the requests it saw pool strings. */
static void srv_stop(srv_t *s)
{
    int i;

    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    for (i = 0; i < s->nreq; i++) {
        char *copy = apr_pstrdup(pool, s->req[i]);

        free(s->req[i]);
        s->req[i] = copy;
    }
}

static const char *srv_url(srv_t *s, const char *scheme, const char *host,
                           const char *path)
{
    return apr_psprintf(pool, "%s://%s:%d%s", scheme, host, s->port, path);
}

static dpc_http_client_t *client_with(const dpc_http_options_t *o)
{
    dpc_http_client_t *c = NULL;
    const char *err;

    ck_assert_int_eq(dpc_http_client_create(pool, o, &c, &err), DPC_HTTP_OK);
    return c;
}

static dpc_http_err_e get(dpc_http_client_t *c, const char *url,
                          dpc_http_response_t *resp, const char **err)
{
    dpc_http_request_t req;

    memset(&req, 0, sizeof(req));
    req.url = url;
    return dpc_http_request(pool, c, &req, resp, err);
}

/* ====================================================================== */
/* requests over the network                                                */

START_TEST(net_fixed_length)
{
    static const char *const rs[] = {
        "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
        "Content-Length: 15\r\nX-Progress: 50%\r\n\r\n{\"ok\": \"yes\"}\r\n",
        NULL
    };
    srv_t s = { 0 };
    dpc_http_request_t req;
    dpc_http_response_t resp;
    const char *err = NULL;

    srv_start(&s, rs);
    memset(&req, 0, sizeof(req));
    req.url = srv_url(&s, "http", "127.0.0.1", "/api/v2/Jobs/1?x=%20y");
    req.headers = apr_table_make(pool, 4);
    apr_table_set(req.headers, "Accept", "application/fhir+json");
    apr_table_set(req.headers, "Prefer", "respond-async");
    apr_table_set(req.headers, "Authorization", "Bearer abc");
    ck_assert_int_eq(dpc_http_request(pool, client_with(NULL), &req, &resp, &err),
                     DPC_HTTP_OK);
    srv_stop(&s);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_uint_eq(resp.body_len, 15);
    ck_assert_str_eq(resp.body, "{\"ok\": \"yes\"}\r\n");
    ck_assert_str_eq(apr_table_get(resp.headers, "x-progress"), "50%");
    ck_assert_int_eq(resp.reused, 0);
    ck_assert_int_eq(s.nreq, 1);
    ck_assert_msg(!strncmp(s.req[0], "GET /api/v2/Jobs/1?x=%20y HTTP/1.1\r\n", 36),
                  "request line: %s", s.req[0]);
    ck_assert_ptr_nonnull(strstr(s.req[0], apr_psprintf(pool,
                          "\r\nHost: 127.0.0.1:%d\r\n", s.port)));
    ck_assert_ptr_nonnull(strstr(s.req[0], "\r\nAccept: application/fhir+json\r\n"));
    ck_assert_ptr_nonnull(strstr(s.req[0], "\r\nPrefer: respond-async\r\n"));
    ck_assert_ptr_nonnull(strstr(s.req[0], "\r\nAuthorization: Bearer abc\r\n"));
    ck_assert_ptr_nonnull(strstr(s.req[0], "\r\nUser-Agent: "));
    ck_assert_ptr_null(strstr(s.req[0], "Content-Length"));
}
END_TEST

START_TEST(net_chunked_split)
{
    static const char *const rs[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n",
        NULL
    };
    int split;

    /* whole, then in 1- and 7-byte writes with pauses between them */
    for (split = 0; split < 3; split++) {
        srv_t s = { 0 };
        dpc_http_response_t resp;
        const char *err = NULL;

        s.split = split == 0 ? 0 : split == 1 ? 1 : 7;
        srv_start(&s, rs);
        ck_assert_int_eq(get(client_with(NULL), srv_url(&s, "http", "127.0.0.1",
                             "/"), &resp, &err), DPC_HTTP_OK);
        srv_stop(&s);
        ck_assert_int_eq(resp.status, 200);
        ck_assert_str_eq(resp.body, "Wikipedia in\r\n\r\nchunks.");
    }
}
END_TEST

typedef struct {
    sink_t sink;
    int calls;
    int status_seen;
} stream_sink_t;

static apr_status_t stream_cb(void *baton, const dpc_http_response_t *resp,
                              const char *data, apr_size_t len)
{
    stream_sink_t *s = baton;

    s->calls++;
    s->status_seen = resp->status;
    return sink_body(&s->sink, data, len);
}

START_TEST(net_404_and_streaming)
{
    static const char *const rs[] = {
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/fhir+json\r\n"
        "Content-Length: 28\r\n\r\n{\"resourceType\":\"Operation\"}",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
        NULL
    };
    srv_t s = { 0 };
    dpc_http_client_t *c = client_with(NULL);
    dpc_http_request_t req;
    dpc_http_response_t resp;
    stream_sink_t ss;
    const char *err = NULL;

    s.keep_open = 1;
    srv_start(&s, rs);
    memset(&req, 0, sizeof(req));
    memset(&ss, 0, sizeof(ss));
    req.url = srv_url(&s, "http", "127.0.0.1", "/data/x.ndjson");
    req.body_cb = stream_cb;
    req.body_baton = &ss;
    /* an error status is collected, not streamed */
    ck_assert_int_eq(dpc_http_request(pool, c, &req, &resp, &err), DPC_HTTP_OK);
    ck_assert_int_eq(resp.status, 404);
    ck_assert_str_eq(resp.body, "{\"resourceType\":\"Operation\"}");
    ck_assert_int_eq(ss.calls, 0);
    /* a 2xx body is streamed, on the same connection */
    ck_assert_int_eq(dpc_http_request(pool, c, &req, &resp, &err), DPC_HTTP_OK);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_int_eq(resp.reused, 1);
    ck_assert_str_eq(resp.body, "");
    ck_assert_int_eq(resp.streamed, 10);
    ck_assert_str_eq(ss.sink.buf, "0123456789");
    ck_assert_int_eq(ss.status_seen, 200);
    /* a callback failure aborts and closes */
    memset(&ss, 0, sizeof(ss));
    ss.sink.fail_after = 1;
    ck_assert_int_eq(dpc_http_request(pool, c, &req, &resp, &err),
                     DPC_HTTP_ABORTED);
    srv_stop(&s);
    ck_assert_int_eq(s.connections, 1);
}
END_TEST

START_TEST(net_early_close)
{
    static const char *const short_body[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", NULL
    };
    static const char *const nothing[] = { "", NULL };
    static const char *const half_head[] = { "HTTP/1.1 200 OK\r\nContent-", NULL };
    srv_t s = { 0 }, s2 = { 0 }, s3 = { 0 };
    dpc_http_response_t resp;
    const char *err = NULL;

    srv_start(&s, short_body);
    ck_assert_int_eq(get(client_with(NULL), srv_url(&s, "http", "127.0.0.1", "/"),
                         &resp, &err), DPC_HTTP_IO);
    srv_stop(&s);
    ck_assert_msg(strstr(err, "after 5 of 100 body bytes") != NULL, "%s", err);

    srv_start(&s2, nothing);
    ck_assert_int_eq(get(client_with(NULL), srv_url(&s2, "http", "127.0.0.1", "/"),
                         &resp, &err), DPC_HTTP_IO);
    srv_stop(&s2);
    ck_assert_msg(strstr(err, "without sending a response") != NULL, "%s", err);

    srv_start(&s3, half_head);
    ck_assert_int_eq(get(client_with(NULL), srv_url(&s3, "http", "127.0.0.1", "/"),
                         &resp, &err), DPC_HTTP_IO);
    srv_stop(&s3);
    ck_assert_msg(strstr(err, "headers") != NULL, "%s", err);
}
END_TEST

START_TEST(net_keep_alive)
{
    static const char *const rs[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",   /* HEAD */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nc",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nd",
        NULL
    };
    static const char *const expect[] = { "a", "", "b", "c", "d" };
    static const int reused[] = { 0, 1, 1, 1, 0 };
    srv_t s = { 0 };
    dpc_http_client_t *c = client_with(NULL);
    dpc_http_request_t req;
    dpc_http_response_t resp;
    const char *err = NULL;
    int i;

    s.keep_open = 1;
    srv_start(&s, rs);
    memset(&req, 0, sizeof(req));
    req.url = srv_url(&s, "http", "127.0.0.1", "/");
    for (i = 0; i < 5; i++) {
        req.method = i == 1 ? "HEAD" : "GET";
        ck_assert_int_eq(dpc_http_request(pool, c, &req, &resp, &err), DPC_HTTP_OK);
        ck_assert_int_eq(resp.status, 200);
        ck_assert_str_eq(resp.body, expect[i]);
        ck_assert_int_eq(resp.reused, reused[i]);
    }
    srv_stop(&s);
    ck_assert_int_eq(s.connections, 2);
    ck_assert_int_eq(s.nreq, 5);
    ck_assert_int_eq(strncmp(s.req[1], "HEAD / HTTP/1.1\r\n", 17), 0);
}
END_TEST

/* Debug messages of the client, for tests that check which path it took. */
static char logged[4096];

static void log_capture(void *baton, const char *file, int line, int level,
                        apr_status_t rv, const char *msg)
{
    (void)baton;
    (void)file;
    (void)line;
    (void)level;
    (void)rv;
    apr_cpystrn(logged + strlen(logged), msg, sizeof(logged) - strlen(logged));
    apr_cpystrn(logged + strlen(logged), "\n", sizeof(logged) - strlen(logged));
}

/* The server closes a connection it did not say it would close: the next
 * request notices (or fails on it and is retried) and opens a new one. */
START_TEST(net_server_closed_idle)
{
    static const char *const rs[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb",
        NULL
    };
    srv_t s = { 0 };
    dpc_http_client_t *c = client_with(NULL);
    dpc_http_response_t resp;
    const char *err = NULL;
    const char *url;
    int i;

    srv_start(&s, rs);
    url = srv_url(&s, "http", "127.0.0.1", "/");
    dpc_log_set(log_capture, NULL, NULL);
    ck_assert_int_eq(get(c, url, &resp, &err), DPC_HTTP_OK);
    ck_assert_str_eq(resp.body, "a");
    for (i = 0; i < 2000 && !__atomic_load_n(&s.closed, __ATOMIC_SEQ_CST); i++)
        usleep(1000);
    usleep(2000);               /* and the FIN is on its way */
    ck_assert_int_eq(get(c, url, &resp, &err), DPC_HTTP_OK);
    dpc_log_set(NULL, NULL, NULL);
    ck_assert_str_eq(resp.body, "b");
    ck_assert_int_eq(resp.reused, 0);
    srv_stop(&s);
    ck_assert_int_eq(s.connections, 2);
    /* seen closed before sending: no retry was needed */
    ck_assert_ptr_nonnull(strstr(logged, "DPC07001: closing connection"));
    ck_assert_ptr_null(strstr(logged, "DPC07004"));
}
END_TEST

/* The server drops a kept connection just as a request arrives on it: an
 * idempotent request is sent again on a new connection, a POST is not
 * (the server may have acted on it). */
START_TEST(net_retry_idempotent)
{
    static const char *const rs[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na",
        HANG_UP,
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc",
        HANG_UP,
        NULL
    };
    srv_t s = { 0 };
    dpc_http_client_t *c = client_with(NULL);
    dpc_http_request_t req;
    dpc_http_response_t resp;
    const char *err = NULL;

    s.keep_open = 1;
    srv_start(&s, rs);
    memset(&req, 0, sizeof(req));
    req.url = srv_url(&s, "http", "127.0.0.1", "/");
    ck_assert_int_eq(dpc_http_request(pool, c, &req, &resp, &err), DPC_HTTP_OK);
    ck_assert_str_eq(resp.body, "a");
    ck_assert_int_eq(dpc_http_request(pool, c, &req, &resp, &err), DPC_HTTP_OK);
    ck_assert_str_eq(resp.body, "b");
    ck_assert_int_eq(resp.reused, 0);
    ck_assert_int_eq(dpc_http_request(pool, c, &req, &resp, &err), DPC_HTTP_OK);
    ck_assert_str_eq(resp.body, "c");
    ck_assert_int_eq(resp.reused, 1);
    req.method = "POST";
    ck_assert_int_eq(dpc_http_request(pool, c, &req, &resp, &err), DPC_HTTP_IO);
    ck_assert_msg(strstr(err, "without sending a response") != NULL, "%s", err);
    srv_stop(&s);
    ck_assert_int_eq(s.connections, 2);
    ck_assert_int_eq(s.nreq, 5);
}
END_TEST

START_TEST(net_post_form)
{
    static const char *const rs[] = {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2"
        "\r\n\r\n{}",
        "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        NULL
    };
    const char *kv[] = { "scope", "system/*.*", "client_assertion", "a.b.c", NULL };
    srv_t s = { 0 };
    dpc_http_client_t *c = client_with(NULL);
    dpc_http_request_t req;
    dpc_http_response_t resp;
    const char *err = NULL, *body = dpc_http_form_encode(pool, kv);

    s.keep_open = 1;
    srv_start(&s, rs);
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = srv_url(&s, "http", "127.0.0.1", "/api/v2/Token/auth");
    req.headers = apr_table_make(pool, 2);
    apr_table_set(req.headers, "Content-Type", "application/x-www-form-urlencoded");
    apr_table_set(req.headers, "User-Agent", "test-agent/1");
    req.body = body;
    req.body_len = strlen(body);
    ck_assert_int_eq(dpc_http_request(pool, c, &req, &resp, &err), DPC_HTTP_OK);
    ck_assert_str_eq(resp.body, "{}");
    /* POST without a body still says Content-Length: 0 */
    req.body = NULL;
    req.headers = NULL;
    ck_assert_int_eq(dpc_http_request(pool, c, &req, &resp, &err), DPC_HTTP_OK);
    ck_assert_int_eq(resp.status, 201);
    srv_stop(&s);
    ck_assert_int_eq(s.nreq, 2);
    ck_assert_ptr_nonnull(strstr(s.req[0], apr_psprintf(pool,
                          "\r\nContent-Length: %d\r\n", (int)strlen(body))));
    ck_assert_ptr_nonnull(strstr(s.req[0], "\r\nUser-Agent: test-agent/1\r\n"));
    ck_assert_ptr_nonnull(strstr(s.req[0], apr_pstrcat(pool, "\r\n\r\n", body,
                                                       NULL)));
    ck_assert_ptr_nonnull(strstr(s.req[1], "\r\nContent-Length: 0\r\n"));
}
END_TEST

START_TEST(net_limits_and_timeouts)
{
    static const char *const big[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", NULL
    };
    static const char *const silent[] = { SILENT, NULL };
    srv_t s = { 0 }, s2 = { 0 };
    dpc_http_options_t o;
    dpc_http_request_t req;
    dpc_http_response_t resp;
    const char *err = NULL;
    apr_time_t t0;

    srv_start(&s, big);
    memset(&req, 0, sizeof(req));
    req.url = srv_url(&s, "http", "127.0.0.1", "/");
    req.max_body = 4;
    ck_assert_int_eq(dpc_http_request(pool, client_with(NULL), &req, &resp, &err),
                     DPC_HTTP_TOO_LARGE);
    srv_stop(&s);

    memset(&o, 0, sizeof(o));
    o.timeout = apr_time_from_msec(200);
    srv_start(&s2, silent);
    t0 = apr_time_now();
    ck_assert_int_eq(get(client_with(&o), srv_url(&s2, "http", "127.0.0.1", "/"),
                         &resp, &err), DPC_HTTP_TIMEOUT);
    ck_assert_int_lt(apr_time_now() - t0, apr_time_from_sec(3));
    srv_stop(&s2);
}
END_TEST

START_TEST(net_connect_errors)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    dpc_http_response_t resp;
    dpc_http_request_t req;
    const char *err = NULL;

    /* a port just released: nothing listens there */
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    port = ntohs(sa.sin_port);
    close(fd);
    ck_assert_int_eq(get(client_with(NULL), apr_psprintf(pool,
                         "http://127.0.0.1:%d/", port), &resp, &err),
                     DPC_HTTP_CONNECT);
    ck_assert_ptr_nonnull(strstr(err, "cannot connect"));
    ck_assert_int_eq(get(client_with(NULL), "http://no-such-host.invalid/",
                         &resp, &err), DPC_HTTP_RESOLVE);
    ck_assert_int_eq(get(client_with(NULL), "gopher://h/", &resp, &err),
                     DPC_HTTP_BAD_URL);
    /* request headers the client owns, or that would inject lines */
    memset(&req, 0, sizeof(req));
    req.url = "http://127.0.0.1:1/";
    req.headers = apr_table_make(pool, 2);
    apr_table_set(req.headers, "Host", "evil");
    ck_assert_int_eq(dpc_http_request(pool, client_with(NULL), &req, &resp, &err),
                     DPC_HTTP_BAD_REQUEST);
    apr_table_clear(req.headers);
    apr_table_set(req.headers, "X-A", "a\r\nX-Injected: 1");
    ck_assert_int_eq(dpc_http_request(pool, client_with(NULL), &req, &resp, &err),
                     DPC_HTTP_BAD_REQUEST);
    apr_table_clear(req.headers);
    apr_table_set(req.headers, "Bad Name", "1");
    ck_assert_int_eq(dpc_http_request(pool, client_with(NULL), &req, &resp, &err),
                     DPC_HTTP_BAD_REQUEST);
    req.headers = NULL;
    req.method = "GET /x";
    ck_assert_int_eq(dpc_http_request(pool, client_with(NULL), &req, &resp, &err),
                     DPC_HTTP_BAD_REQUEST);
}
END_TEST

/* ====================================================================== */
/* TLS                                                                      */

typedef struct {
    SSL_CTX *ctx;
    const char *ca_file;        /* the certificate, PEM, for ca_file */
} tls_srv_t;

/* A self-signed P-256 certificate for the given subjectAltName and a
 * server context using it; the certificate is also written to a file. */
static void tls_make(tls_srv_t *t, const char *san)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    X509_EXTENSION *ext;
    X509V3_CTX v3;
    char path[] = "/tmp/dpc-test-ca-XXXXXX";
    int fd;
    FILE *f;

    ck_assert_ptr_nonnull(key);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"dpc unit test", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    ck_assert_ptr_nonnull(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);

    t->ctx = SSL_CTX_new(TLS_server_method());
    ck_assert_int_eq(SSL_CTX_use_certificate(t->ctx, x), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey(t->ctx, key), 1);
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    PEM_write_X509(f, x);
    fclose(f);
    t->ca_file = apr_pstrdup(pool, path);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void tls_free(tls_srv_t *t)
{
    SSL_CTX_free(t->ctx);
    unlink(t->ca_file);
}

/* One GET to a TLS server with these options; the status of the call. */
static dpc_http_err_e tls_get(tls_srv_t *t, const char *host,
                              const dpc_http_options_t *o, const char **err)
{
    static const char *const rs[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain",
        NULL
    };
    srv_t s = { 0 };
    dpc_http_client_t *c = client_with(o);
    dpc_http_response_t resp;
    const char *url;
    dpc_http_err_e rv;

    s.ssl_ctx = t->ctx;
    s.keep_open = 1;
    srv_start(&s, rs);
    url = srv_url(&s, "https", host, "/");
    rv = get(c, url, &resp, err);
    if (rv == DPC_HTTP_OK) {
        ck_assert_str_eq(resp.body, "secure");
        ck_assert_int_eq(get(c, url, &resp, err), DPC_HTTP_OK);
        ck_assert_str_eq(resp.body, "again");
        ck_assert_int_eq(resp.reused, 1);
    }
    dpc_http_client_close(c);
    srv_stop(&s);
    return rv;
}

START_TEST(tls_verify)
{
    tls_srv_t t;
    dpc_http_options_t o;
    const char *err = NULL;

    tls_make(&t, "IP:127.0.0.1, DNS:localhost");
    memset(&o, 0, sizeof(o));
    /* not in the system trust store */
    ck_assert_int_eq(tls_get(&t, "127.0.0.1", &o, &err), DPC_HTTP_TLS);
    ck_assert_msg(strstr(err, "not accepted") != NULL, "%s", err);
    /* trusted through ca_file, by address and by name */
    o.ca_file = t.ca_file;
    ck_assert_msg(tls_get(&t, "127.0.0.1", &o, &err) == DPC_HTTP_OK, "%s", err);
    ck_assert_msg(tls_get(&t, "localhost", &o, &err) == DPC_HTTP_OK, "%s", err);
    /* a CA file that does not exist */
    o.ca_file = "/nonexistent/ca.pem";
    ck_assert_int_eq(tls_get(&t, "127.0.0.1", &o, &err), DPC_HTTP_TLS);
    ck_assert_ptr_nonnull(strstr(err, "CA file"));
    tls_free(&t);
}
END_TEST

START_TEST(tls_wrong_name)
{
    tls_srv_t t;
    dpc_http_options_t o;
    const char *err = NULL;

    tls_make(&t, "DNS:dpc.example.org");
    memset(&o, 0, sizeof(o));
    o.ca_file = t.ca_file;
    ck_assert_int_eq(tls_get(&t, "127.0.0.1", &o, &err), DPC_HTTP_TLS);
    ck_assert_msg(strstr(err, "mismatch") != NULL, "%s", err);
    /* insecure: the local sandbox with a self-signed certificate */
    o.ca_file = NULL;
    o.insecure = 1;
    ck_assert_msg(tls_get(&t, "127.0.0.1", &o, &err) == DPC_HTTP_OK, "%s", err);
    tls_free(&t);
}
END_TEST

START_TEST(tls_to_plain_server)
{
    static const char *const rs[] = {
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", NULL
    };
    srv_t s = { 0 };
    dpc_http_response_t resp;
    const char *err = NULL;

    s.no_read = 1;
    srv_start(&s, rs);
    ck_assert_int_eq(get(client_with(NULL), srv_url(&s, "https", "127.0.0.1", "/"),
                         &resp, &err), DPC_HTTP_TLS);
    srv_stop(&s);
    ck_assert_ptr_nonnull(err);
}
END_TEST

Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc;

    tc = tcase_create("url");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, url_good);
    tcase_add_test(tc, url_bad);
    tcase_add_test(tc, form_encoding);
    tcase_add_test(tc, retry_after);
    tcase_add_test(tc, content_range);
    suite_add_tcase(s, tc);

    tc = tcase_create("parser");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, parse_length);
    tcase_add_test(tc, parse_chunked);
    tcase_add_test(tc, parse_chunked_bad);
    tcase_add_test(tc, parse_no_body);
    tcase_add_test(tc, parse_until_close);
    tcase_add_test(tc, parse_bad);
    tcase_add_test(tc, parse_eof);
    tcase_add_test(tc, parse_callback_abort);
    suite_add_tcase(s, tc);

    tc = tcase_create("net");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, net_fixed_length);
    tcase_add_test(tc, net_chunked_split);
    tcase_add_test(tc, net_404_and_streaming);
    tcase_add_test(tc, net_early_close);
    tcase_add_test(tc, net_keep_alive);
    tcase_add_test(tc, net_server_closed_idle);
    tcase_add_test(tc, net_retry_idempotent);
    tcase_add_test(tc, net_post_form);
    tcase_add_test(tc, net_limits_and_timeouts);
    tcase_add_test(tc, net_connect_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("tls");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, tls_verify);
    tcase_add_test(tc, tls_wrong_name);
    tcase_add_test(tc, tls_to_plain_server);
    suite_add_tcase(s, tc);
    return s;
}
