/* fuzz_http: what the client (dpc-client, the export downloader) reads from
 * a server, and the URLs it is given.
 *
 *   dpc_http_parser_*  the response parser.  The first input byte picks
 *                      HEAD or not and the size of the pieces the rest is
 *                      fed in (as a socket would deliver it), then EOF.
 *                      The parser always makes progress, never hands out
 *                      more body than it was fed, and a finished response
 *                      has a status in 100-999
 *   dpc_url_parse      the whole input as a URL: a parsed URL's parts are
 *                      sane and scheme://host_header path parses the same
 */
#include "fuzz.h"

#include "dpc_http.h"

typedef struct {
    apr_size_t body;
} sink_t;

static apr_status_t count_body(void *baton, const char *data, apr_size_t len)
{
    sink_t *s = baton;

    FUZZ_CHECK(data != NULL || len == 0);
    s->body += len;
    return APR_SUCCESS;
}

static void parse_response(apr_pool_t *p, const uint8_t *data, size_t size)
{
    dpc_http_response_t resp;
    dpc_http_parser_t *ps;
    sink_t sink = { 0 };
    const char *in = (const char *)data + 1, *err = NULL;
    apr_size_t left = size - 1, piece = (data[0] >> 1) + 1, used;
    dpc_http_err_e rc = DPC_HTTP_OK;
    int stalled = 0;

    memset(&resp, 0, sizeof(resp));
    ps = dpc_http_parser_create(p, data[0] & 1, &resp, count_body, &sink);
    while (left && !dpc_http_parser_done(ps)) {
        apr_size_t n = left < piece ? left : piece;

        rc = dpc_http_parser_feed(ps, in, n, &used, &err);
        if (rc != DPC_HTTP_OK)
            break;
        FUZZ_CHECK(used <= n);
        /* fewer bytes taken only at the end of the headers or of the
         * response, and never twice in a row with nothing taken */
        stalled = used == 0 ? stalled + 1 : 0;
        FUZZ_CHECK(stalled < 2);
        in += used;
        left -= used;
    }
    if (rc == DPC_HTTP_OK && !dpc_http_parser_done(ps))
        rc = dpc_http_parser_eof(ps, &err);
    FUZZ_CHECK(rc == DPC_HTTP_OK || err != NULL);
    FUZZ_CHECK(sink.body <= size);
    if (rc == DPC_HTTP_OK && dpc_http_parser_done(ps)) {
        FUZZ_CHECK(resp.status >= 100 && resp.status <= 999);
        FUZZ_CHECK(resp.headers != NULL && resp.reason != NULL);
        (void)dpc_http_parser_keep_alive(ps);
    }
}

static void parse_url(apr_pool_t *p, const char *s)
{
    dpc_url_t u, again;
    const char *err;

    if (dpc_url_parse(p, s, &u, &err) != DPC_HTTP_OK) {
        FUZZ_CHECK(err != NULL);
        return;
    }
    FUZZ_CHECK(!strcmp(u.scheme, "http") || !strcmp(u.scheme, "https"));
    FUZZ_CHECK(*u.host && u.port > 0 && u.path[0] == '/' && !strchr(u.path, '#'));
    FUZZ_CHECK(dpc_url_parse(p, apr_pstrcat(p, u.scheme, "://", u.host_header, u.path, NULL),
                             &again, &err) == DPC_HTTP_OK);
    FUZZ_CHECK(!strcmp(again.host, u.host) && again.port == u.port);
    FUZZ_CHECK(!strcmp(again.path, u.path) && again.is_ipv6 == u.is_ipv6);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();

    if (size)
        parse_response(p, data, size);
    parse_url(p, fuzz_text(p, data, size));
    fuzz_end(p);
    return 0;
}
