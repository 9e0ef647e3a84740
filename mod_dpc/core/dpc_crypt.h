/* dpc_crypt.h: BCDA's encrypted export files, both ways.
 *
 * The scheme is the one BCDA used from 2018 to 2020 (and its published
 * decryptors read):
 *  - each file has its own random 32-byte AES-256 key and 12-byte nonce;
 *  - the file is  nonce (12) || AES-256-GCM ciphertext || tag (16), with no
 *    additional authenticated data, the whole file one GCM message;
 *  - the AES key is wrapped for the ACO's RSA public key with RSA-OAEP,
 *    SHA-256 as both the OAEP hash and the MGF1 hash, and the file's base
 *    name ("<uuid>.ndjson") as the OAEP label, so a renamed file does not
 *    decrypt; the manifest gives the wrapped key in lower-case hex.
 *
 * The writer encrypts as it streams (dpc_crypt_stream: the ciphertext is as
 * long as the plaintext, so it goes through the writer's own buffers); the
 * client decrypts as it streams (dpc_crypt_decrypt_file), holding back the
 * last 16 bytes, and keeps the plaintext only when the tag checks.
 *
 * Memory: OpenSSL objects handed out are freed by a cleanup of the pool
 * they were made in.  Errors: APR_EGENERAL (or the I/O error) plus a
 * message from the pool; no function leaves entries on the thread's OpenSSL
 * error queue.  httpd-free: the worker, dpcctl and dpc-client use it. */
#ifndef DPC_CRYPT_H
#define DPC_CRYPT_H

#include <apr_pools.h>
#include <apr_errno.h>
#include <openssl/evp.h>

#include "dpc_pkey.h"

#define DPC_CRYPT_KEY_LEN 32        /* AES-256 */
#define DPC_CRYPT_NONCE_LEN 12
#define DPC_CRYPT_TAG_LEN 16
/* An ACO's key: RSA of at least this many bits (BCDA's rule). */
#define DPC_CRYPT_RSA_MIN_BITS 2048

/* Parse and check an ACO's public key: one PEM public key, RSA, 2048 to
 * 16384 bits, valid.  DPC_PKEY_OK, or an error with a message that says
 * what is wrong ("an EC key: ACO keys must be RSA", "RSA key of 1024 bits
 * is below the minimum of 2048 bits"). */
dpc_pkey_err_e dpc_crypt_aco_key(apr_pool_t *p, const char *pem, apr_size_t len,
                                 dpc_pkey_t **key, const char **why);

/* Wrap `key` (klen bytes) for the RSA public key pub with RSA-OAEP-SHA256
 * (MGF1-SHA256) and `label` (a file's base name) as the OAEP label: *hex is
 * the lower-case hex of the result (512 digits for a 2048-bit key). */
apr_status_t dpc_crypt_wrap(apr_pool_t *p, EVP_PKEY *pub, const unsigned char *key,
                            apr_size_t klen, const char *label, const char **hex,
                            const char **why);

/* The reverse, with the private key: the 32-byte AES key into key.  A wrong
 * private key, a wrong label or a damaged hex all fail the same way. */
apr_status_t dpc_crypt_unwrap(apr_pool_t *p, EVP_PKEY *priv, const char *hex,
                              const char *label, unsigned char key[DPC_CRYPT_KEY_LEN],
                              const char **why);

/* A streaming AES-256-GCM context, reusable for one file after another. */
typedef struct dpc_crypt_stream dpc_crypt_stream;

apr_status_t dpc_crypt_stream_create(apr_pool_t *p, dpc_crypt_stream **s,
                                     const char **why);

/* Start encrypting a new file: a fresh random key and nonce, returned so
 * that the caller writes the nonce first and wraps the key. */
apr_status_t dpc_crypt_encrypt_begin(dpc_crypt_stream *s,
                                     unsigned char key[DPC_CRYPT_KEY_LEN],
                                     unsigned char nonce[DPC_CRYPT_NONCE_LEN]);

/* Start decrypting a file with its key and nonce. */
apr_status_t dpc_crypt_decrypt_begin(dpc_crypt_stream *s,
                                     const unsigned char key[DPC_CRYPT_KEY_LEN],
                                     const unsigned char nonce[DPC_CRYPT_NONCE_LEN]);

/* Encrypt or decrypt len bytes of in into out (len bytes; in == out is
 * allowed). */
apr_status_t dpc_crypt_update(dpc_crypt_stream *s, const unsigned char *in,
                              apr_size_t len, unsigned char *out);

/* End an encryption: the tag to write after the ciphertext. */
apr_status_t dpc_crypt_encrypt_end(dpc_crypt_stream *s, unsigned char tag[DPC_CRYPT_TAG_LEN]);

/* End a decryption: APR_SUCCESS only when tag is the file's tag (the
 * plaintext given out so far is then authentic), else APR_EGENERAL. */
apr_status_t dpc_crypt_decrypt_end(dpc_crypt_stream *s,
                                   const unsigned char tag[DPC_CRYPT_TAG_LEN]);

/* Decrypt the file at in_path, as downloaded, into out_path: the key is
 * unwrapped from hex with priv and label (the name the manifest gives the
 * file), the plaintext streamed into "out_path.tmp" and renamed to out_path
 * only once the tag checks; on any failure nothing is left at out_path or
 * its temp name, and *why says what failed ("... the file was altered or is
 * not the one the key was made for" for a bad tag). */
apr_status_t dpc_crypt_decrypt_file(apr_pool_t *p, EVP_PKEY *priv, const char *hex,
                                    const char *label, const char *in_path,
                                    const char *out_path, const char **why);

#endif
