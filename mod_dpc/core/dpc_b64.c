/* dpc_b64.c: see dpc_b64.h.
 *
 * Our own small codec rather than OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock:
 * those have no base64url mode, silently accept (and count) padding, and do
 * not check the unused trailing bits, all of which the JWS code must reject.
 */
#include "dpc_b64.h"

#include <string.h>

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of c in the given alphabet (0..63), or -1. Branchy but clear; the
 * inputs are public (tokens, signatures), so timing does not matter here. */
static int sextet(const char *alphabet, unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (unsigned char)alphabet[62])
        return 62;
    if (c == (unsigned char)alphabet[63])
        return 63;
    return -1;
}

static char *encode(apr_pool_t *p, const char *alphabet, int pad,
                    const unsigned char *in, apr_size_t len)
{
    apr_size_t full = len / 3, rest = len % 3, i;
    apr_size_t outlen = full * 4 + (rest ? (pad ? 4 : rest + 1) : 0);
    char *out = apr_palloc(p, outlen + 1), *o = out;

    for (i = 0; i < full; i++, in += 3) {
        apr_uint32_t v = ((apr_uint32_t)in[0] << 16) | (in[1] << 8) | in[2];
        *o++ = alphabet[(v >> 18) & 63];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = alphabet[(v >> 6) & 63];
        *o++ = alphabet[v & 63];
    }
    if (rest) {
        apr_uint32_t v = (apr_uint32_t)in[0] << 16;
        if (rest == 2)
            v |= in[1] << 8;
        *o++ = alphabet[(v >> 18) & 63];
        *o++ = alphabet[(v >> 12) & 63];
        if (rest == 2)
            *o++ = alphabet[(v >> 6) & 63];
        else if (pad)
            *o++ = '=';
        if (pad)
            *o++ = '=';
    }
    *o = '\0';
    return out;
}

/* Decode n alphabet characters (no padding, no whitespace).  Rejects a
 * length of 4k+1 (cannot encode whole bytes) and non-zero unused bits in
 * the last character, so every byte string has exactly one encoding. */
static apr_status_t decode(apr_pool_t *p, const char *alphabet,
                           const char *in, apr_size_t n,
                           unsigned char **out, apr_size_t *outlen)
{
    apr_size_t rest = n % 4, len, i;
    apr_uint32_t acc = 0;
    int bits = 0;
    unsigned char *buf, *o;

    if (rest == 1)
        return APR_EINVAL;
    len = (n / 4) * 3 + (rest ? rest - 1 : 0);
    buf = o = apr_palloc(p, len + 1);
    for (i = 0; i < n; i++) {
        int v = sextet(alphabet, (unsigned char)in[i]);
        if (v < 0)
            return APR_EINVAL;
        acc = (acc << 6) | (apr_uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)               /* leftover bits must be zero */
        return APR_EINVAL;
    *o = '\0';
    *out = buf;
    *outlen = len;
    return APR_SUCCESS;
}

apr_size_t dpc_b64url_encoded_len(apr_size_t len)
{
    return (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0);
}

char *dpc_b64url_encode(apr_pool_t *p, const unsigned char *data,
                        apr_size_t len)
{
    return encode(p, b64url_alphabet, 0, data, len);
}

apr_status_t dpc_b64url_decode(apr_pool_t *p, const char *in, apr_size_t inlen,
                               unsigned char **out, apr_size_t *outlen)
{
    return decode(p, b64url_alphabet, in, inlen, out, outlen);
}

char *dpc_b64_encode(apr_pool_t *p, const unsigned char *data, apr_size_t len)
{
    return encode(p, b64_alphabet, 1, data, len);
}

static int is_b64_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'
           || c == '\v';
}

apr_status_t dpc_b64_decode(apr_pool_t *p, const char *in, apr_size_t inlen,
                            unsigned char **out, apr_size_t *outlen)
{
    char *compact = apr_palloc(p, inlen + 1);
    apr_size_t n = 0, pad = 0, i;

    for (i = 0; i < inlen; i++) {
        char c = in[i];
        if (is_b64_space(c))
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad)                /* data after padding */
            return APR_EINVAL;
        compact[n++] = c;
    }
    /* Padding is optional, but when present it must be exactly what the
     * length calls for: "xx==" or "xxx=". */
    if (pad && (pad > 2 || (n + pad) % 4 != 0))
        return APR_EINVAL;
    return decode(p, b64_alphabet, compact, n, out, outlen);
}

char *dpc_hex_encode(apr_pool_t *p, const unsigned char *data, apr_size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char *out = apr_palloc(p, len * 2 + 1);
    apr_size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}

int dpc_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
