/* dpc_http.h: a small HTTP/1.1 client on APR sockets and OpenSSL.
 *
 * What the reference client and the bulk-export downloader need, and no
 * more: one request at a time per client, http:// and https:// URLs,
 * caller-supplied headers, a request body held in memory, and a response
 * body that is either collected into the pool (with a size cap) or streamed
 * to a callback (for export files).  Content-Length, chunked and
 * read-until-close framing; HEAD, 1xx, 204 and 304 have no body.  No
 * redirects, no cookies, no proxies, no content decoding: if the caller
 * sends Accept-Encoding it gets the encoded bytes as they came, which is
 * what a downloader checking a SHA-256 of the stored file wants anyway.
 *
 * Connections: one kept per client and reused for the next request to the
 * same scheme, host and port when the server allows it (HTTP/1.1, no
 * "Connection: close", body fully read).  A reused connection the server
 * has closed meanwhile is noticed before sending; an idempotent request
 * that still fails on a reused connection before any response byte is
 * retried once on a new one (RFC 9110 section 9.2.2).
 *
 * TLS: the system trust store plus an optional CA file, SNI for host
 * names, host name or IP address verification (SSL_set1_host /
 * X509_VERIFY_PARAM_set1_ip_asc), TLS 1.2 at least.  Verification can be
 * turned off for a local sandbox with a self-signed certificate only.
 *
 * Timeouts: connect_timeout bounds each TCP connect and the TLS handshake;
 * timeout bounds each wait for the socket to become readable or writable
 * (an inactivity timeout, like httpd's Timeout), not the whole transfer,
 * so a large download is never cut off while data keeps flowing.
 *
 * Errors: a dpc_http_err_e plus a human message from the request pool.
 * An HTTP error status (4xx, 5xx) is not an error here: the request
 * returns DPC_HTTP_OK and the caller reads resp->status.
 *
 * Threads: a client (and its connection) must be used by one thread at a
 * time; separate clients are independent.
 *
 * Signals: writing to a connection the peer has reset raises SIGPIPE, and
 * a library must not change process-wide signal handling, so the program
 * ignores SIGPIPE (httpd does; dpc-client and the unit tests do too).
 */
#ifndef DPC_HTTP_H
#define DPC_HTTP_H

#include <apr_errno.h>
#include <apr_network_io.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

typedef enum {
    DPC_HTTP_OK = 0,
    DPC_HTTP_BAD_URL,           /* URL not http(s)://host[:port][/path] */
    DPC_HTTP_BAD_REQUEST,       /* bad method or header from the caller */
    DPC_HTTP_RESOLVE,           /* host name does not resolve */
    DPC_HTTP_CONNECT,           /* TCP connect refused or failed */
    DPC_HTTP_TLS,               /* handshake or certificate failure */
    DPC_HTTP_TIMEOUT,           /* connect or I/O inactivity timeout */
    DPC_HTTP_IO,                /* send/receive failed, or the server closed
                                 * the connection before the response ended */
    DPC_HTTP_PROTOCOL,          /* malformed or unsupported response */
    DPC_HTTP_TOO_LARGE,         /* collected body over max_body */
    DPC_HTTP_ABORTED,           /* the body callback returned an error */
    DPC_HTTP_INTERNAL           /* out of memory, OpenSSL setup failure */
} dpc_http_err_e;

/* Limits on what a server may send before the body. */
#define DPC_HTTP_MAX_LINE 8192          /* status line, one header line */
#define DPC_HTTP_MAX_HEADERS 100        /* header fields (and trailers) */
/* Default cap on a collected (not streamed) body. */
#define DPC_HTTP_MAX_BODY_DEFAULT (16 * 1024 * 1024)
#define DPC_HTTP_TIMEOUT_DEFAULT apr_time_from_sec(60)
#define DPC_HTTP_CONNECT_TIMEOUT_DEFAULT apr_time_from_sec(10)

/* ---- URLs ---- */

typedef struct {
    const char *scheme;         /* "http" or "https" (lower case) */
    const char *host;           /* name or address; IPv6 without brackets */
    apr_port_t port;            /* explicit, or 80 / 443 */
    const char *path;           /* "/path?query" (at least "/"), no fragment */
    const char *host_header;    /* Host field: host, [v6], plus ":port" when
                                 * not the scheme's default */
    int is_https;
    int is_ipv6;                /* host was a [bracketed] IPv6 literal */
} dpc_url_t;

/* Parse an absolute http or https URL.  Refused, with a message saying
 * why: other schemes, user:password@ (credentials never go in URLs here),
 * an empty or ill-formed host, a port outside 1-65535, and any control
 * character, space or non-ASCII byte (they must be percent-encoded).  A
 * fragment is dropped; a missing path becomes "/". */
dpc_http_err_e dpc_url_parse(apr_pool_t *p, const char *url, dpc_url_t *out,
                             const char **errmsg);

/* ---- form bodies (application/x-www-form-urlencoded) ---- */

/* Percent-encode one name or value the WHATWG URL standard's way: ASCII
 * letters, digits and "*-._" stay, space becomes '+', every other byte
 * %XX (upper-case hex). */
const char *dpc_http_form_escape(apr_pool_t *p, const char *s);

/* "n1=v1&n2=v2..." from a NULL-terminated list of name, value, name,
 * value...; a NULL value ends the list too (so optional trailing fields
 * can be left out). */
const char *dpc_http_form_encode(apr_pool_t *p, const char *const *kv);

/* ---- the client ---- */

typedef struct {
    const char *ca_file;        /* extra trusted CAs (PEM), or NULL */
    int insecure;               /* skip certificate verification: local
                                 * sandbox with a self-signed cert only */
    apr_interval_time_t connect_timeout; /* <= 0: the default (10 s) */
    apr_interval_time_t timeout;         /* <= 0: the default (60 s) */
    const char *user_agent;     /* NULL: "mod_dpc-http/1" */
} dpc_http_options_t;

typedef struct dpc_http_client_t dpc_http_client_t;

/* A client living in p: its TLS context (made at the first https request,
 * so a bad ca_file is reported then) and kept connection are released
 * when p is cleared or destroyed.  opts may be NULL (all defaults); it is
 * copied. */
dpc_http_err_e dpc_http_client_create(apr_pool_t *p,
                                      const dpc_http_options_t *opts,
                                      dpc_http_client_t **client,
                                      const char **errmsg);

/* Close the kept connection, if any (the next request opens a new one). */
void dpc_http_client_close(dpc_http_client_t *client);

typedef struct dpc_http_response_t dpc_http_response_t;

/* Receives a streamed body piece by piece.  resp already has the status
 * and headers.  Anything but APR_SUCCESS stops the transfer: the request
 * returns DPC_HTTP_ABORTED and the connection is closed. */
typedef apr_status_t dpc_http_body_fn(void *baton,
                                      const dpc_http_response_t *resp,
                                      const char *data, apr_size_t len);

typedef struct {
    const char *method;         /* "GET", "POST", ...; NULL means GET */
    const char *url;
    apr_table_t *headers;       /* extra request headers, or NULL.  Host,
                                 * Content-Length and Transfer-Encoding are
                                 * the client's own and refused here; a
                                 * User-Agent given here replaces the
                                 * default one. */
    const char *body;           /* request body, or NULL */
    apr_size_t body_len;
    apr_interval_time_t timeout;/* <= 0: the client's */
    apr_size_t max_body;        /* cap on a collected body; 0: 16 MiB */
    /* Streaming: when body_cb is set, the body of a 2xx response goes to
     * it instead of being collected.  Other statuses are still collected
     * into resp->body so the caller can report the server's error (an
     * OperationOutcome, say) rather than write it into a data file. */
    dpc_http_body_fn *body_cb;
    void *body_baton;
} dpc_http_request_t;

struct dpc_http_response_t {
    int status;                 /* 100-999 */
    const char *reason;         /* reason phrase, possibly "" */
    int minor_version;          /* HTTP/1.x */
    apr_table_t *headers;       /* case-insensitive; repeated fields are
                                 * separate entries; trailers of a chunked
                                 * body are not included */
    const char *body;           /* collected body, NUL-terminated (the NUL
                                 * is not counted); "" when none or streamed */
    apr_size_t body_len;
    apr_off_t streamed;         /* bytes handed to body_cb */
    int reused;                 /* answered on a kept-alive connection */
};

/* Send one request and read the whole response.  Everything in *resp is
 * allocated from p. */
dpc_http_err_e dpc_http_request(apr_pool_t *p, dpc_http_client_t *client,
                                const dpc_http_request_t *req,
                                dpc_http_response_t *resp,
                                const char **errmsg);

/* ---- response headers the bulk data flow reads ---- */

/* Retry-After (RFC 9110 section 10.2.3): delay-seconds, or an HTTP-date
 * taken relative to now.  Returns the delay in seconds (0 for a date in
 * the past), or -1 when value is NULL or malformed. */
apr_int64_t dpc_http_retry_after(const char *value, apr_time_t now);

/* Content-Range of a 206 or 416 response: "bytes first-last/complete" or
 * "bytes star-slash-complete" (first/last then -1), complete "*" meaning
 * unknown (-1).  Returns 0, or -1 when malformed or first > last. */
int dpc_http_content_range(const char *value, apr_off_t *first,
                           apr_off_t *last, apr_off_t *complete);

/* ---- the response parser, exposed for tests and other transports ---- */

/* A push parser: feed it bytes as they arrive, in pieces of any size, and
 * it fills in a response and hands body bytes (de-chunked) to a callback.
 * dpc_http_request() is a socket loop around it. */
typedef apr_status_t dpc_http_parser_body_fn(void *baton, const char *data,
                                             apr_size_t len);

typedef struct dpc_http_parser_t dpc_http_parser_t;

/* head_request: the request was HEAD, so no body whatever the headers say.
 * resp is filled in as the status line and headers arrive; body_cb may be
 * NULL (body dropped); it is called only after the headers are complete,
 * and the caller may switch the callback then with
 * dpc_http_parser_set_body_cb() (dpc_http_request does, to stream 2xx). */
dpc_http_parser_t *dpc_http_parser_create(apr_pool_t *p, int head_request,
                                          dpc_http_response_t *resp,
                                          dpc_http_parser_body_fn *body_cb,
                                          void *baton);

void dpc_http_parser_set_body_cb(dpc_http_parser_t *ps,
                                 dpc_http_parser_body_fn *body_cb,
                                 void *baton);

/* Consume up to len bytes; *used says how many were taken.  Fewer than
 * len are taken in two cases: right after the final response's headers
 * are complete, so the caller can look at them (status, Content-Type) and
 * pick where the body goes before feeding the rest; and once the response
 * is complete, the rest belonging to whatever follows.  Errors:
 * DPC_HTTP_PROTOCOL with a message, or DPC_HTTP_ABORTED when the body
 * callback failed (the message carries its status). */
dpc_http_err_e dpc_http_parser_feed(dpc_http_parser_t *ps, const char *data,
                                    apr_size_t len, apr_size_t *used,
                                    const char **errmsg);

/* The connection reached end of file: completes a read-until-close body,
 * and is an error (DPC_HTTP_IO, saying where) anywhere else before the end
 * of the response. */
dpc_http_err_e dpc_http_parser_eof(dpc_http_parser_t *ps, const char **errmsg);

/* Have the headers been read (the body may still follow)? */
int dpc_http_parser_headers_done(const dpc_http_parser_t *ps);
/* Is the response complete? */
int dpc_http_parser_done(const dpc_http_parser_t *ps);
/* May the connection carry another request after this response?  True
 * for a complete HTTP/1.1 response with a length or chunked framing and
 * no "Connection: close". */
int dpc_http_parser_keep_alive(const dpc_http_parser_t *ps);

#endif
