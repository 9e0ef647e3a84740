/* fuzz_b64: the two base64 decoders and the hex digit reader.
 *
 *   dpc_b64url_decode  strict unpadded base64url (JWT parts, access
 *                      tokens): whatever decodes re-encodes to exactly the
 *                      input, so a token has one spelling
 *   dpc_b64_decode     lenient standard base64 (key signatures): decode,
 *                      encode, decode gives the same bytes
 *   dpc_hexval         every byte
 */
#include "fuzz.h"

#include "dpc_b64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *s = (const char *)data;
    unsigned char *out, *again;
    apr_size_t len, len2, i;
    const char *enc;

    if (dpc_b64url_decode(p, s, size, &out, &len) == APR_SUCCESS) {
        FUZZ_CHECK(out[len] == '\0');
        FUZZ_CHECK(dpc_b64url_encoded_len(len) == size);
        enc = dpc_b64url_encode(p, out, len);
        FUZZ_CHECK(strlen(enc) == size && !memcmp(enc, s, size));
    }
    if (dpc_b64_decode(p, s, size, &out, &len) == APR_SUCCESS) {
        FUZZ_CHECK(out[len] == '\0' && len <= size);
        enc = dpc_b64_encode(p, out, len);
        FUZZ_CHECK(dpc_b64_decode(p, enc, strlen(enc), &again, &len2) == APR_SUCCESS);
        FUZZ_CHECK(len2 == len && !memcmp(again, out, len));
    }
    for (i = 0; i < size; i++) {
        int v = dpc_hexval(data[i]);

        FUZZ_CHECK(v >= -1 && v <= 15);
    }
    (void)dpc_hex_encode(p, data, size);
    fuzz_end(p);
    return 0;
}
