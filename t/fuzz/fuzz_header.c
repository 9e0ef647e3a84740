/* fuzz_header: request and response header values.
 *
 * The input is "value\0token" (no NUL: the value alone, token "gzip").
 *   dpc_header_has              Accept, Prefer (respond-async,
 *                               handling=lenient)
 *   dpc_header_accepts_coding   Accept-Encoding against the token and gzip
 *   dpc_http_retry_after        Retry-After (client)
 *   dpc_http_content_range      Content-Range of ranged downloads (client):
 *                               a parsed range is ordered and inside the
 *                               complete length
 */
#include "fuzz.h"

#include "dpc_header.h"
#include "dpc_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *value, *token;
    apr_off_t first, last, complete;
    apr_int64_t delay;

    fuzz_split(p, data, size, &value, &token);
    if (!*token)
        token = "gzip";
    (void)dpc_header_has(p, value, token);
    (void)dpc_header_has(p, value, "respond-async");
    (void)dpc_header_has(p, value, "handling=lenient");
    (void)dpc_header_accepts_coding(p, value, token);
    (void)dpc_header_accepts_coding(p, value, "gzip");
    FUZZ_CHECK(!dpc_header_has(p, NULL, token));
    delay = dpc_http_retry_after(value, apr_time_from_sec(1700000000));
    FUZZ_CHECK(delay >= -1);
    if (dpc_http_content_range(value, &first, &last, &complete) == 0) {
        FUZZ_CHECK((first == -1) == (last == -1));
        FUZZ_CHECK(first == -1 || (first >= 0 && first <= last));
        FUZZ_CHECK(complete >= -1);
        FUZZ_CHECK(complete == -1 || last < complete);
        FUZZ_CHECK(first != -1 || complete != -1);
    }
    fuzz_end(p);
    return 0;
}
