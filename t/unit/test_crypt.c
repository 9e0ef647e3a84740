/* test_crypt.c: unit tests of BCDA's encrypted files (dpc_crypt.h) and of
 * the export writer and manifest that carry them.
 *
 * Suite: crypt_suite (run by main.c).
 *
 *   keys     an ACO's key: RSA of 2048 bits or more, nothing else
 *   wrap     RSA-OAEP-SHA256 round trip; another key, another label or a
 *            damaged wrapped key never unwraps
 *   stream   AES-256-GCM round trip in pieces; a changed byte of the
 *            ciphertext or of the tag fails the tag
 *   writer   an encrypted export file: nonce || ciphertext || tag, its
 *            length and SHA-256 those of the bytes served, decrypted back by
 *            dpc_crypt_decrypt_file; a tampered or renamed file leaves no
 *            plaintext; no gzip twin with encryption
 *   manifest encryptedKey and KeyMap, written and read back
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_pools.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "unit.h"
#include "dpc_crypt.h"
#include "dpc_export.h"
#include "dpc_fhir.h"
#include "dpc_manifest.h"
#include "dpc_pkey.h"

static apr_pool_t *pool;
static char dir[64];
/* keys are slow to make: one pair of each kind for the whole suite */
static EVP_PKEY *rsa_a, *rsa_b;
static apr_pool_t *keys_pool;

static void make_keys(void)
{
    const char *err;

    apr_pool_create(&keys_pool, NULL);
    ck_assert_int_eq(dpc_pkey_generate(keys_pool, DPC_ALG_RS384, 2048, &rsa_a, &err), 0);
    ck_assert_int_eq(dpc_pkey_generate(keys_pool, DPC_ALG_RS384, 2048, &rsa_b, &err), 0);
}

static void drop_keys(void)
{
    apr_pool_destroy(keys_pool);
}

static void setup(void)
{
    apr_pool_create(&pool, NULL);
    strcpy(dir, "/tmp/dpc-crypt-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];

    apr_pool_destroy(pool);
    /* a directory this file made with mkdtemp */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The public half of k as a PEM, and parsed as an ACO's key. */
static dpc_pkey_err_e aco_key_of(EVP_PKEY *k, const char **why)
{
    const char *pem, *err;
    dpc_pkey_t *key;

    ck_assert_int_eq(dpc_pkey_public_pem(pool, k, &pem, &err), 0);
    return dpc_crypt_aco_key(pool, pem, strlen(pem), &key, why);
}

START_TEST(keys)
{
    const char *why = NULL;
    EVP_PKEY *small, *ec;
    dpc_pkey_t *key;

    ck_assert_int_eq(aco_key_of(rsa_a, &why), DPC_PKEY_OK);
    /* dpc_pkey_generate makes no key this small */
    ck_assert_ptr_nonnull(small = dpc_pkey_pool_own(pool, EVP_RSA_gen(1024)));
    ck_assert_int_eq(aco_key_of(small, &why), DPC_PKEY_TOO_SMALL);
    ck_assert_str_eq(why, "RSA key of 1024 bits is below the minimum of 2048 bits");
    ck_assert_int_eq(dpc_pkey_generate(pool, DPC_ALG_ES384, 0, &ec, &why), 0);
    ck_assert_int_eq(aco_key_of(ec, &why), DPC_PKEY_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(why, "must be RSA"));
    ck_assert_int_ne(dpc_crypt_aco_key(pool, "not a key", 9, &key, &why), DPC_PKEY_OK);
    ck_assert_ptr_null(key);
}
END_TEST

START_TEST(wrap)
{
    unsigned char key[DPC_CRYPT_KEY_LEN], back[DPC_CRYPT_KEY_LEN];
    const char *label = "0c527d2e-2e8a-4808-b11d-0fa06baf8254.ndjson", *hex, *why;
    char *bad;

    memset(key, 0x5a, sizeof(key));
    key[0] = 1;
    ck_assert_int_eq(dpc_crypt_wrap(pool, rsa_a, key, sizeof(key), label, &hex, &why), 0);
    ck_assert_uint_eq(strlen(hex), 512);     /* 256 bytes for RSA-2048, hex */
    ck_assert_int_eq(dpc_crypt_unwrap(pool, rsa_a, hex, label, back, &why), 0);
    ck_assert_mem_eq(back, key, sizeof(key));
    /* randomized padding: the same key wraps differently each time */
    {
        const char *again;

        ck_assert_int_eq(dpc_crypt_wrap(pool, rsa_a, key, sizeof(key), label, &again, &why), 0);
        ck_assert_str_ne(again, hex);
    }
    ck_assert_int_ne(dpc_crypt_unwrap(pool, rsa_b, hex, label, back, &why), 0);
    ck_assert_ptr_nonnull(strstr(why, "does not unwrap"));
    ck_assert_int_ne(dpc_crypt_unwrap(pool, rsa_a, hex, "renamed.ndjson", back, &why), 0);
    bad = apr_pstrdup(pool, hex);
    bad[10] = bad[10] == '0' ? '1' : '0';
    ck_assert_int_ne(dpc_crypt_unwrap(pool, rsa_a, bad, label, back, &why), 0);
    ck_assert_int_eq(dpc_crypt_unwrap(pool, rsa_a, "xyz", label, back, &why), APR_EINVAL);
}
END_TEST

/* Encrypt plain (n bytes) in pieces of 7 into ct, tag. */
static void encrypt_pieces(dpc_crypt_stream *s, const unsigned char *plain, apr_size_t n,
                           unsigned char *ct, unsigned char *key, unsigned char *nonce,
                           unsigned char *tag)
{
    apr_size_t i;

    ck_assert_int_eq(dpc_crypt_encrypt_begin(s, key, nonce), 0);
    for (i = 0; i < n; i += 7)
        ck_assert_int_eq(dpc_crypt_update(s, plain + i, n - i < 7 ? n - i : 7, ct + i), 0);
    ck_assert_int_eq(dpc_crypt_encrypt_end(s, tag), 0);
}

START_TEST(stream)
{
    unsigned char key[DPC_CRYPT_KEY_LEN], nonce[DPC_CRYPT_NONCE_LEN], tag[DPC_CRYPT_TAG_LEN];
    unsigned char plain[100], ct[100], back[100];
    dpc_crypt_stream *s;
    const char *why;

    memset(plain, 'x', sizeof(plain));
    ck_assert_int_eq(dpc_crypt_stream_create(pool, &s, &why), 0);
    encrypt_pieces(s, plain, sizeof(plain), ct, key, nonce, tag);
    ck_assert_mem_ne(ct, plain, sizeof(plain));
    ck_assert_int_eq(dpc_crypt_decrypt_begin(s, key, nonce), 0);
    ck_assert_int_eq(dpc_crypt_update(s, ct, sizeof(ct), back), 0);
    ck_assert_int_eq(dpc_crypt_decrypt_end(s, tag), 0);
    ck_assert_mem_eq(back, plain, sizeof(plain));
    /* one bit of the ciphertext */
    ct[50] ^= 1;
    ck_assert_int_eq(dpc_crypt_decrypt_begin(s, key, nonce), 0);
    ck_assert_int_eq(dpc_crypt_update(s, ct, sizeof(ct), back), 0);
    ck_assert_int_ne(dpc_crypt_decrypt_end(s, tag), 0);
    ct[50] ^= 1;
    /* one bit of the tag */
    tag[15] ^= 0x80;
    ck_assert_int_eq(dpc_crypt_decrypt_begin(s, key, nonce), 0);
    ck_assert_int_eq(dpc_crypt_update(s, ct, sizeof(ct), back), 0);
    ck_assert_int_ne(dpc_crypt_decrypt_end(s, tag), 0);
}
END_TEST

/* An encrypted writer's one file holding n resources; its record. */
static const dpc_export_file *write_encrypted(int n, const char **lines)
{
    dpc_export_writer *w;
    apr_array_header_t *files;
    const char *why, *all = "";
    int i;

    ck_assert_int_eq(dpc_export_writer_create(pool, dir, "Patient", 100000,
                                              DPC_EXPORT_UUID_NAMES, &w, &why), 0);
    ck_assert_int_eq(dpc_export_writer_encrypt(w, rsa_a), 0);
    for (i = 0; i < n; i++) {
        const char *body = apr_psprintf(pool, "{\"resourceType\":\"Patient\",\"id\":\"p%d\"}", i);

        ck_assert_int_eq(dpc_export_write(w, body, strlen(body)), 0);
        all = apr_pstrcat(pool, all, body, "\n", NULL);
    }
    ck_assert_int_eq(dpc_export_writer_finish(w, &files), 0);
    ck_assert_int_eq(files->nelts, 1);
    *lines = all;
    return &APR_ARRAY_IDX(files, 0, dpc_export_file);
}

/* The contents of path ("" for none), and its length in *len. */
static const char *slurp(const char *path, apr_size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = apr_palloc(pool, 1 << 20);

    *len = 0;
    if (!f)
        return NULL;
    *len = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[*len] = '\0';
    return buf;
}

static const char *sha256_hex(const char *data, apr_size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    char *hex = apr_palloc(pool, 65);

    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (i = 0; i < n; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    return hex;
}

START_TEST(writer)
{
    const char *plain, *why, *cipher, *out = apr_pstrcat(pool, dir, "/plain", NULL);
    const dpc_export_file *f = write_encrypted(3000, &plain);
    apr_size_t clen, olen;

    ck_assert_ptr_nonnull(f->encrypted_key);
    ck_assert_int_eq(f->count, 3000);
    cipher = slurp(f->path, &clen);
    /* the record describes the bytes served: nonce, ciphertext, tag */
    ck_assert_uint_eq(clen, strlen(plain) + DPC_CRYPT_NONCE_LEN + DPC_CRYPT_TAG_LEN);
    ck_assert_uint_eq(f->bytes, clen);
    ck_assert_str_eq(f->sha256, sha256_hex(cipher, clen));
    ck_assert_ptr_null(strstr(cipher + DPC_CRYPT_NONCE_LEN, "resourceType"));
    ck_assert_ptr_null(f->gz_name);
    ck_assert_int_eq(dpc_crypt_decrypt_file(pool, rsa_a, f->encrypted_key, f->name, f->path,
                                            out, &why), 0);
    ck_assert_str_eq(slurp(out, &olen), plain);
    ck_assert_int_eq(access(apr_pstrcat(pool, out, ".tmp", NULL), F_OK), -1);
    unlink(out);
    /* another ACO's key, a renamed file: refused before any output */
    ck_assert_int_ne(dpc_crypt_decrypt_file(pool, rsa_b, f->encrypted_key, f->name, f->path,
                                            out, &why), 0);
    ck_assert_int_ne(dpc_crypt_decrypt_file(pool, rsa_a, f->encrypted_key, "x.ndjson",
                                            f->path, out, &why), 0);
    ck_assert_int_eq(access(out, F_OK), -1);
}
END_TEST

/* Change one byte of the file at path, at off from its start (or from
 * its end when off < 0). */
static void flip(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    int c;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, off, off < 0 ? SEEK_END : SEEK_SET), 0);
    c = fgetc(f);
    ck_assert_int_eq(fseek(f, off, off < 0 ? SEEK_END : SEEK_SET), 0);
    fputc(c ^ 0x01, f);
    fclose(f);
}

START_TEST(writer_tampered)
{
    const char *plain, *why = NULL, *out = apr_pstrcat(pool, dir, "/plain", NULL);
    const dpc_export_file *f = write_encrypted(2000, &plain);
    long where[] = { 0, 20000, -1 };    /* nonce, ciphertext, tag */
    int i;

    for (i = 0; i < 3; i++) {
        flip(f->path, where[i]);
        ck_assert_int_ne(dpc_crypt_decrypt_file(pool, rsa_a, f->encrypted_key, f->name,
                                                f->path, out, &why), 0);
        ck_assert_ptr_nonnull(strstr(why, "tag does not match"));
        /* no plaintext is left, neither the file nor its temp */
        ck_assert_int_eq(access(out, F_OK), -1);
        ck_assert_int_eq(access(apr_pstrcat(pool, out, ".tmp", NULL), F_OK), -1);
        flip(f->path, where[i]);
    }
    ck_assert_int_eq(dpc_crypt_decrypt_file(pool, rsa_a, f->encrypted_key, f->name, f->path,
                                            out, &why), 0);
}
END_TEST

START_TEST(writer_no_gzip)
{
    dpc_export_writer *w;
    const char *why;

    ck_assert_int_eq(dpc_export_writer_create(pool, dir, "Patient", 10,
                                              DPC_EXPORT_GZIP | DPC_EXPORT_UUID_NAMES,
                                              &w, &why), 0);
    ck_assert_int_eq(dpc_export_writer_encrypt(w, rsa_a), APR_EINVAL);
    /* nor once resources are written in the plain */
    ck_assert_int_eq(dpc_export_writer_create(pool, dir, "Patient", 10,
                                              DPC_EXPORT_UUID_NAMES, &w, &why), 0);
    ck_assert_int_eq(dpc_export_write(w, "{}", 2), 0);
    ck_assert_int_eq(dpc_export_writer_encrypt(w, rsa_a), APR_EINVAL);
}
END_TEST

#define URL "https://h.example/data/42/"
START_TEST(manifest)
{
    apr_array_header_t *files = apr_array_make(pool, 2, sizeof(dpc_manifest_file_t)), *back;
    dpc_manifest_file_t *f;
    dpc_manifest_t m;
    const char *err;
    json_t *j;

    memset(&m, 0, sizeof(m));
    m.transaction_time = apr_time_from_sec(1);
    m.request = "https://h.example/api/v1/Patient/$export";
    m.requires_token = 1;
    m.job_id = 42;
    m.files = files;
    f = apr_array_push(files);
    memset(f, 0, sizeof(*f));
    f->type = "Patient";
    f->url = URL "a.ndjson";
    f->sha256 = "00";
    f->encrypted_key = "6c49";
    f = apr_array_push(files);
    memset(f, 0, sizeof(*f));
    f->type = "OperationOutcome";
    f->url = URL "a-error.ndjson";
    f->sha256 = "00";
    ck_assert_ptr_nonnull(j = dpc_json_pool(pool, dpc_manifest_build(pool, &m)));
    ck_assert_str_eq(dpc_json_pdump(pool, j),
        "{\"transactionTime\":\"1970-01-01T00:00:01.000Z\","
        "\"request\":\"https://h.example/api/v1/Patient/$export\","
        "\"requiresAccessToken\":true,"
        "\"output\":[{\"type\":\"Patient\",\"url\":\"" URL "a.ndjson\","
        "\"encryptedKey\":\"6c49\"}],"
        "\"error\":[{\"type\":\"OperationOutcome\",\"url\":\"" URL "a-error.ndjson\"}],"
        "\"KeyMap\":{\"a.ndjson\":\"6c49\"},\"JobID\":42}");
    ck_assert_int_eq(dpc_manifest_files(pool, j, &back, &err), 0);
    ck_assert_str_eq(APR_ARRAY_IDX(back, 0, dpc_manifest_file_t).encrypted_key, "6c49");
    ck_assert_ptr_null(APR_ARRAY_IDX(back, 1, dpc_manifest_file_t).encrypted_key);
    /* 2018's manifests: the KeyMap only */
    json_object_del(json_array_get(json_object_get(j, "output"), 0), "encryptedKey");
    ck_assert_int_eq(dpc_manifest_files(pool, j, &back, &err), 0);
    ck_assert_str_eq(APR_ARRAY_IDX(back, 0, dpc_manifest_file_t).encrypted_key, "6c49");
}
END_TEST

Suite *crypt_suite(void)
{
    Suite *s = suite_create("crypt");
    TCase *tc = tcase_create("crypt");

    tcase_add_unchecked_fixture(tc, make_keys, drop_keys);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, keys);
    tcase_add_test(tc, wrap);
    tcase_add_test(tc, stream);
    tcase_add_test(tc, writer);
    tcase_add_test(tc, writer_tampered);
    tcase_add_test(tc, writer_no_gzip);
    tcase_add_test(tc, manifest);
    suite_add_tcase(s, tc);
    return s;
}
