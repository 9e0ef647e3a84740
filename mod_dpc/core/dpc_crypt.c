/* dpc_crypt.c: see dpc_crypt.h. */
#include "dpc_crypt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <apr_strings.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "dpc_b64.h"
#include "dpc_token.h"

/* Read and write buffer of dpc_crypt_decrypt_file. */
#define FILE_BUF (256 * 1024)

struct dpc_crypt_stream {
    EVP_CIPHER_CTX *ctx;
};

/* Set *why to "what: <OpenSSL's first error>" (the queue drained). */
static apr_status_t ossl_fail(apr_pool_t *p, const char **why, const char *what)
{
    if (why)
        *why = dpc_ossl_errmsg(p, what);
    else
        ERR_clear_error();
    return APR_EGENERAL;
}

dpc_pkey_err_e dpc_crypt_aco_key(apr_pool_t *p, const char *pem, apr_size_t len,
                                 dpc_pkey_t **key, const char **why)
{
    dpc_pkey_err_e rv = dpc_pkey_from_pem(p, pem, len, key, why);

    if (rv != DPC_PKEY_OK)
        return rv;
    if (strcmp((*key)->kty, "RSA")) {
        *why = apr_psprintf(p, "an %s key: an ACO's key must be RSA (2048 bits or more), "
                            "for RSA-OAEP", (*key)->kty);
        *key = NULL;
        return DPC_PKEY_UNSUPPORTED;
    }
    if ((rv = dpc_pkey_check(p, *key, DPC_CRYPT_RSA_MIN_BITS, why)) != DPC_PKEY_OK)
        *key = NULL;
    return rv;
}

/* An RSA-OAEP context on pkey for encryption (enc) or decryption, with
 * SHA-256, MGF1-SHA256 and label; NULL on failure. */
static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *pkey, int enc, const char *label)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    size_t n = strlen(label);
    unsigned char *l;

    if (!ctx)
        return NULL;
    if ((enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) <= 0
        || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0
        || EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) <= 0
        || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) <= 0
        || !(l = OPENSSL_memdup(label, n ? n : 1)))
        goto fail;
    /* set0: the context owns l from here */
    if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l, (int)n) <= 0) {
        OPENSSL_free(l);
        goto fail;
    }
    return ctx;
fail:
    EVP_PKEY_CTX_free(ctx);
    return NULL;
}

apr_status_t dpc_crypt_wrap(apr_pool_t *p, EVP_PKEY *pub, const unsigned char *key,
                            apr_size_t klen, const char *label, const char **hex,
                            const char **why)
{
    EVP_PKEY_CTX *ctx = oaep_ctx(pub, 1, label);
    unsigned char *out;
    size_t outlen = 0;
    apr_status_t rv = APR_SUCCESS;

    if (!ctx)
        return ossl_fail(p, why, "RSA-OAEP setup");
    if (EVP_PKEY_encrypt(ctx, NULL, &outlen, key, klen) <= 0
        || !(out = apr_palloc(p, outlen))
        || EVP_PKEY_encrypt(ctx, out, &outlen, key, klen) <= 0)
        rv = ossl_fail(p, why, "RSA-OAEP wrap of a file key");
    else
        *hex = dpc_hex_encode(p, out, outlen);
    EVP_PKEY_CTX_free(ctx);
    return rv;
}

/* Lower- or upper-case hex into bytes from p; -1 if it is not hex. */
static apr_ssize_t unhex(apr_pool_t *p, const char *hex, unsigned char **out)
{
    apr_size_t n = strlen(hex), i;
    int hi, lo;

    if (n == 0 || n % 2)
        return -1;
    *out = apr_palloc(p, n / 2);
    for (i = 0; i < n / 2; i++) {
        if ((hi = dpc_hexval(hex[2 * i])) < 0 || (lo = dpc_hexval(hex[2 * i + 1])) < 0)
            return -1;
        (*out)[i] = (unsigned char)(hi << 4 | lo);
    }
    return (apr_ssize_t)(n / 2);
}

apr_status_t dpc_crypt_unwrap(apr_pool_t *p, EVP_PKEY *priv, const char *hex,
                              const char *label, unsigned char key[DPC_CRYPT_KEY_LEN],
                              const char **why)
{
    EVP_PKEY_CTX *ctx;
    unsigned char *in, out[1024];
    apr_ssize_t inlen = unhex(p, hex ? hex : "", &in);
    size_t outlen = sizeof(out);
    apr_status_t rv = APR_SUCCESS;

    if (inlen < 0) {
        *why = "the encrypted key is not hex";
        return APR_EINVAL;
    }
    if (EVP_PKEY_get_size(priv) > (int)sizeof(out) || !(ctx = oaep_ctx(priv, 0, label)))
        return ossl_fail(p, why, "RSA-OAEP setup");
    if (EVP_PKEY_decrypt(ctx, out, &outlen, in, (size_t)inlen) <= 0
        || outlen != DPC_CRYPT_KEY_LEN) {
        ERR_clear_error();
        *why = apr_psprintf(p, "the file key does not unwrap with this private key and "
                            "the label \"%s\" (another ACO's key, or a renamed file?)",
                            label);
        rv = APR_EGENERAL;
    }
    else
        memcpy(key, out, DPC_CRYPT_KEY_LEN);
    OPENSSL_cleanse(out, sizeof(out));
    EVP_PKEY_CTX_free(ctx);
    return rv;
}

/* ---- the stream ---- */

static apr_status_t stream_cleanup(void *data)
{
    dpc_crypt_stream *s = data;

    EVP_CIPHER_CTX_free(s->ctx);
    s->ctx = NULL;
    return APR_SUCCESS;
}

apr_status_t dpc_crypt_stream_create(apr_pool_t *p, dpc_crypt_stream **out,
                                     const char **why)
{
    dpc_crypt_stream *s = apr_pcalloc(p, sizeof(*s));

    if (!(s->ctx = EVP_CIPHER_CTX_new())) {
        *why = "out of memory for a cipher context";
        return APR_ENOMEM;
    }
    apr_pool_cleanup_register(p, s, stream_cleanup, apr_pool_cleanup_null);
    *out = s;
    return APR_SUCCESS;
}

/* Initialize for AES-256-GCM with a 12-byte nonce (GCM's default IV
 * length) in the given direction. */
static apr_status_t stream_begin(dpc_crypt_stream *s, int enc, const unsigned char *key,
                                 const unsigned char *nonce)
{
    if (EVP_CipherInit_ex(s->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1
        || EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_SET_IVLEN, DPC_CRYPT_NONCE_LEN,
                               NULL) != 1
        || EVP_CipherInit_ex(s->ctx, NULL, NULL, key, nonce, enc) != 1) {
        ERR_clear_error();
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

apr_status_t dpc_crypt_encrypt_begin(dpc_crypt_stream *s,
                                     unsigned char key[DPC_CRYPT_KEY_LEN],
                                     unsigned char nonce[DPC_CRYPT_NONCE_LEN])
{
    apr_status_t rv;

    if ((rv = dpc_random_bytes(key, DPC_CRYPT_KEY_LEN)) != APR_SUCCESS
        || (rv = dpc_random_bytes(nonce, DPC_CRYPT_NONCE_LEN)) != APR_SUCCESS)
        return rv;
    return stream_begin(s, 1, key, nonce);
}

apr_status_t dpc_crypt_decrypt_begin(dpc_crypt_stream *s,
                                     const unsigned char key[DPC_CRYPT_KEY_LEN],
                                     const unsigned char nonce[DPC_CRYPT_NONCE_LEN])
{
    return stream_begin(s, 0, key, nonce);
}

apr_status_t dpc_crypt_update(dpc_crypt_stream *s, const unsigned char *in,
                              apr_size_t len, unsigned char *out)
{
    int n;

    /* EVP lengths are int: feed at most 1 GB a call */
    while (len > 0) {
        int step = len > (1u << 30) ? (1 << 30) : (int)len;

        if (EVP_CipherUpdate(s->ctx, out, &n, in, step) != 1 || n != step) {
            ERR_clear_error();
            return APR_EGENERAL;
        }
        in += step;
        out += step;
        len -= (apr_size_t)step;
    }
    return APR_SUCCESS;
}

apr_status_t dpc_crypt_encrypt_end(dpc_crypt_stream *s, unsigned char tag[DPC_CRYPT_TAG_LEN])
{
    unsigned char rest[32];
    int n = 0;

    if (EVP_CipherFinal_ex(s->ctx, rest, &n) != 1 || n != 0
        || EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_GET_TAG, DPC_CRYPT_TAG_LEN, tag) != 1) {
        ERR_clear_error();
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

apr_status_t dpc_crypt_decrypt_end(dpc_crypt_stream *s,
                                   const unsigned char tag[DPC_CRYPT_TAG_LEN])
{
    unsigned char rest[32], t[DPC_CRYPT_TAG_LEN];
    int n = 0;

    memcpy(t, tag, sizeof(t));
    if (EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_SET_TAG, DPC_CRYPT_TAG_LEN, t) != 1
        || EVP_CipherFinal_ex(s->ctx, rest, &n) != 1 || n != 0) {
        ERR_clear_error();
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

/* ---- a whole file ---- */

typedef struct {
    apr_pool_t *p;
    FILE *in, *out;
    const char *in_path, *tmp;
    dpc_crypt_stream *s;
    unsigned char *buf;         /* FILE_BUF + DPC_CRYPT_TAG_LEN bytes */
    const char **why;
} decrypt_job;

static apr_status_t io_fail(decrypt_job *j, const char *what, const char *path)
{
    apr_status_t rv = errno ? APR_FROM_OS_ERROR(errno) : APR_EGENERAL;
    char buf[256];

    *j->why = apr_psprintf(j->p, "%s %s: %s", what, path, apr_strerror(rv, buf, sizeof(buf)));
    return rv;
}

/* Stream the ciphertext after the nonce through the cipher into the temp
 * file, always keeping the last DPC_CRYPT_TAG_LEN bytes read back: at the
 * end they are the tag. */
static apr_status_t decrypt_body(decrypt_job *j, unsigned char tag[DPC_CRYPT_TAG_LEN])
{
    apr_size_t held = 0, n;

    for (;;) {
        n = fread(j->buf + held, 1, FILE_BUF + DPC_CRYPT_TAG_LEN - held, j->in);
        held += n;
        if (held > DPC_CRYPT_TAG_LEN) {
            apr_size_t out = held - DPC_CRYPT_TAG_LEN;

            if (dpc_crypt_update(j->s, j->buf, out, j->buf) != APR_SUCCESS) {
                *j->why = "AES-256-GCM decryption failed";
                return APR_EGENERAL;
            }
            if (fwrite(j->buf, 1, out, j->out) != out)
                return io_fail(j, "write", j->tmp);
            memmove(j->buf, j->buf + out, DPC_CRYPT_TAG_LEN);
            held = DPC_CRYPT_TAG_LEN;
        }
        if (n == 0)
            break;
    }
    if (ferror(j->in))
        return io_fail(j, "read", j->in_path);
    if (held < DPC_CRYPT_TAG_LEN) {
        *j->why = apr_psprintf(j->p, "%s is too short to be an encrypted file", j->in_path);
        return APR_EGENERAL;
    }
    memcpy(tag, j->buf, DPC_CRYPT_TAG_LEN);
    return APR_SUCCESS;
}

/* Everything after the files are open: nonce, body, tag, flush. */
static apr_status_t decrypt_stream(decrypt_job *j, const unsigned char *key)
{
    unsigned char nonce[DPC_CRYPT_NONCE_LEN], tag[DPC_CRYPT_TAG_LEN];
    apr_status_t rv;

    if (fread(nonce, 1, sizeof(nonce), j->in) != sizeof(nonce)) {
        *j->why = apr_psprintf(j->p, "%s is too short to be an encrypted file", j->in_path);
        return APR_EGENERAL;
    }
    if (dpc_crypt_decrypt_begin(j->s, key, nonce) != APR_SUCCESS) {
        *j->why = "AES-256-GCM setup failed";
        return APR_EGENERAL;
    }
    if ((rv = decrypt_body(j, tag)) != APR_SUCCESS)
        return rv;
    if (dpc_crypt_decrypt_end(j->s, tag) != APR_SUCCESS) {
        *j->why = apr_psprintf(j->p, "%s: the GCM tag does not match: the file was altered "
                               "or is not the one the key was made for", j->in_path);
        return APR_EGENERAL;
    }
    if (fflush(j->out) != 0 || fsync(fileno(j->out)) != 0)
        return io_fail(j, "write", j->tmp);
    return APR_SUCCESS;
}

apr_status_t dpc_crypt_decrypt_file(apr_pool_t *p, EVP_PKEY *priv, const char *hex,
                                    const char *label, const char *in_path,
                                    const char *out_path, const char **why)
{
    unsigned char key[DPC_CRYPT_KEY_LEN];
    decrypt_job j;
    apr_status_t rv;

    memset(&j, 0, sizeof(j));
    j.p = p;
    j.why = why;
    j.in_path = in_path;
    j.tmp = apr_pstrcat(p, out_path, ".tmp", NULL);
    if ((rv = dpc_crypt_unwrap(p, priv, hex, label, key, why)) != APR_SUCCESS)
        return rv;
    if ((rv = dpc_crypt_stream_create(p, &j.s, why)) != APR_SUCCESS)
        goto end;
    j.buf = apr_palloc(p, FILE_BUF + DPC_CRYPT_TAG_LEN);
    errno = 0;
    if (!(j.in = fopen(in_path, "rb"))) {
        rv = io_fail(&j, "open", in_path);
        goto end;
    }
    if (!(j.out = fopen(j.tmp, "wbx"))) {
        rv = io_fail(&j, "create", j.tmp);
        goto end;
    }
    rv = decrypt_stream(&j, key);
end:
    OPENSSL_cleanse(key, sizeof(key));
    if (j.in)
        fclose(j.in);
    if (j.out && fclose(j.out) != 0 && rv == APR_SUCCESS)
        rv = io_fail(&j, "close", j.tmp);
    if (rv == APR_SUCCESS && rename(j.tmp, out_path) != 0)
        rv = io_fail(&j, "rename", j.tmp);
    if (rv != APR_SUCCESS && j.out)
        unlink(j.tmp);      /* no unauthenticated plaintext stays */
    return rv;
}
