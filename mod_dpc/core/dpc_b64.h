/* dpc_b64.h: binary-to-text encodings used by the auth code.
 *
 * Two base64 flavours with different strictness, on purpose:
 *
 *  - base64url without padding (RFC 7515 section 2, "Base64url Encoding"),
 *    as used in JWS.  Decoding is strict: no '=', no '+' or '/', no
 *    whitespace, no length of 4n+1, and the unused low bits of the last
 *    character must be zero.  A token therefore has exactly one encoding,
 *    so two byte-different tokens can never carry the same signed content.
 *
 *  - standard base64 (RFC 4648 section 4) for material pasted by people:
 *    the key proof-of-possession signature made with
 *    `openssl dgst -sha256 -sign key.pem snippet.txt | base64`, which wraps
 *    lines at 76 characters, or Ruby's Base64.encode64 (60).  Decoding skips
 *    ASCII whitespace anywhere and accepts the input with or without its
 *    trailing '=' padding, but rejects '=' anywhere else and any other
 *    character outside the alphabet.
 *
 * Decoders return APR_SUCCESS or APR_EINVAL and never a partial result.
 * Decoded buffers carry one extra NUL byte after *outlen so that decoded
 * JSON can be handed to string functions; the NUL is not counted.
 */
#ifndef DPC_B64_H
#define DPC_B64_H

#include <apr_pools.h>
#include <apr_errno.h>

/* Length of the unpadded base64url encoding of len bytes. */
apr_size_t dpc_b64url_encoded_len(apr_size_t len);

/* Encode len bytes as unpadded base64url; NUL-terminated, from p. */
char *dpc_b64url_encode(apr_pool_t *p, const unsigned char *data,
                        apr_size_t len);

/* Strictly decode inlen characters of unpadded base64url (see above). */
apr_status_t dpc_b64url_decode(apr_pool_t *p, const char *in, apr_size_t inlen,
                               unsigned char **out, apr_size_t *outlen);

/* Encode len bytes as padded standard base64 on one line, from p. */
char *dpc_b64_encode(apr_pool_t *p, const unsigned char *data, apr_size_t len);

/* Decode standard base64, tolerating whitespace and missing padding. */
apr_status_t dpc_b64_decode(apr_pool_t *p, const char *in, apr_size_t inlen,
                            unsigned char **out, apr_size_t *outlen);

/* Lower-case hex of len bytes, from p. */
char *dpc_hex_encode(apr_pool_t *p, const unsigned char *data, apr_size_t len);

/* The value of one hex digit (either case), or -1. */
int dpc_hexval(int c);

#endif
