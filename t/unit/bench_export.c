/* bench_export.c: throughput of the export writer (dpc_export.h) with and
 * without the gzip twin, beside `sha256sum` and `gzip -1` of the very same
 * NDJSON file, run back to back and interleaved in each round.  Not built
 * by default; from a configured build tree:
 *
 *   make libdpccore.la
 *   ./libtool --mode=link gcc -O2 -Imod_dpc $(pkg-config --cflags apr-1) \
 *       -o t/unit/bench-export t/unit/bench_export.c libdpccore.la
 *   t/unit/bench-export [MB [ROUNDS]]        (defaults 512 and 5)
 *
 * Input: R4 ExplanationOfBenefit bodies from the synthetic generator
 * (dpc_synth.h, seed 1; ~17 KB each, compact JSON), 64 MB of them held in
 * memory and written round-robin until MB megabytes are out, as the worker
 * would copy rows from libpq.  Files go to $BENCH_DIR (or $TMPDIR, /tmp)
 * and are removed after each round.  Each round runs:
 *
 *   writer         dpc_export_write of every body, then finish (one part:
 *                  flush, fsync, rename, fsync of the directory)
 *   sha256sum      of the file the writer just made (read into the page
 *                  cache first, untimed: the writer leaves none of it there)
 *   openssl dgst   -sha256 of the same file (SHA-NI, like the writer)
 *   writer+gz      the same with DPC_EXPORT_GZIP (level DPC_EXPORT_GZIP_LEVEL)
 *   gzip -1        gzip -1 -c of the same file > /dev/null
 *   zlib -1, -6    deflate of the 64 MB in memory, no I/O: how the level
 *                  choice was made (speed and size)
 *   SHA-256 mem    EVP SHA-256 of the 64 MB in memory: the writer's ceiling
 *   writer+enc     the same with BCDA's encryption (dpc_export_writer_encrypt
 *                  for an RSA-2048 key: AES-256-GCM as it streams)
 *   GCM mem        AES-256-GCM (dpc_crypt) of the 64 MB in memory
 *
 * MB/s are of uncompressed NDJSON (MB = 10^6 bytes); median [min-max]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "dpc_crypt.h"
#include "dpc_export.h"
#include "dpc_pkey.h"
#include "dpc_synth.h"

#define ARENA (64u * 1024 * 1024)
#define MAX_ROUNDS 15
#define JOB "00000000-0000-4000-8000-0000000be4c1"

enum { M_WRITER, M_WRITE_ONLY, M_SHA256SUM, M_OPENSSL, M_WRITER_GZ, M_GZIP1,
       M_ZLIB1, M_ZLIB6, M_SHA_MEM, M_WRITER_ENC, M_GCM_MEM, M_COUNT };
static const char *labels[M_COUNT] = {
    "writer (incl. fsync)", "writer, writes only", "sha256sum",
    "openssl dgst -sha256",
    "writer+gz (incl. fsync)", "gzip -1", "zlib -1 in memory",
    "zlib -6 in memory", "SHA-256 in memory", "writer+enc (incl. fsync)",
    "AES-256-GCM in memory"
};

typedef struct corpus {
    char *data;                 /* bodies back to back */
    apr_size_t used;
    apr_array_header_t *offs;   /* apr_size_t start of each body */
    apr_array_header_t *lens;   /* apr_size_t length of each body */
} corpus;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int keep_eob(void *ctx, const dpc_synth_row *row)
{
    corpus *c = ctx;

    if (row->fhir_version != 4 || strcmp(row->resource_type, "ExplanationOfBenefit"))
        return 0;
    if (c->used + row->body_len > ARENA)
        return 1;               /* full: stop */
    memcpy(c->data + c->used, row->body, row->body_len);
    APR_ARRAY_PUSH(c->offs, apr_size_t) = c->used;
    APR_ARRAY_PUSH(c->lens, apr_size_t) = row->body_len;
    c->used += row->body_len;
    return 0;
}

static void load_corpus(apr_pool_t *p, corpus *c)
{
    dpc_synth *g;
    uint64_t i;

    c->data = apr_palloc(p, ARENA);
    c->used = 0;
    c->offs = apr_array_make(p, 4096, sizeof(apr_size_t));
    c->lens = apr_array_make(p, 4096, sizeof(apr_size_t));
    if (dpc_synth_create(p, &g) != APR_SUCCESS) {
        fprintf(stderr, "bench-export: dpc_synth_create failed\n");
        exit(1);
    }
    for (i = 0; dpc_synth_beneficiary(g, 1, i, keep_eob, c) == 0; i++)
        ;
}

/* Write `total` bytes of bodies (whole bodies, round-robin) with one
 * writer; times[0] all, times[1] the writes alone.  Leaves the file. */
static const dpc_export_file *run_writer(apr_pool_t *p, const corpus *c,
                                         const char *dir, int flags, EVP_PKEY *enc,
                                         apr_uint64_t total, double *t_all,
                                         double *t_write, apr_uint64_t *bytes)
{
    dpc_export_writer *w;
    apr_array_header_t *files;
    const char *why;
    apr_uint64_t out = 0;
    double t0, t1;
    int i = 0;

    if (dpc_export_writer_create(p, dir, "ExplanationOfBenefit", UINT64_MAX,
                                 flags, &w, &why) != APR_SUCCESS) {
        fprintf(stderr, "bench-export: %s\n", why);
        exit(1);
    }
    if (enc && dpc_export_writer_encrypt(w, enc) != APR_SUCCESS) {
        fprintf(stderr, "bench-export: %s\n", dpc_export_writer_error(w));
        exit(1);
    }
    t0 = now();
    while (out < total) {
        apr_size_t len = APR_ARRAY_IDX(c->lens, i, apr_size_t);

        if (dpc_export_write(w, c->data + APR_ARRAY_IDX(c->offs, i, apr_size_t),
                             len) != APR_SUCCESS) {
            fprintf(stderr, "bench-export: %s\n", dpc_export_writer_error(w));
            exit(1);
        }
        out += len + 1;
        i = (i + 1) % c->lens->nelts;
    }
    t1 = now();
    if (dpc_export_writer_finish(w, &files) != APR_SUCCESS || files->nelts != 1) {
        fprintf(stderr, "bench-export: %s\n", dpc_export_writer_error(w));
        exit(1);
    }
    *t_all = now() - t0;
    *t_write = t1 - t0;
    *bytes = out;
    return &APR_ARRAY_IDX(files, 0, dpc_export_file);
}

static double run_cmd(const char *cmd)
{
    double t0 = now();

    if (system(cmd) != 0) {
        fprintf(stderr, "bench-export: failed: %s\n", cmd);
        exit(1);
    }
    return now() - t0;
}

/* deflate the corpus at `level` in memory; returns seconds, sets *zlen. */
static double run_zlib(const corpus *c, int level, apr_size_t *zlen)
{
    static unsigned char out[256 * 1024];
    z_stream z;
    double t0 = now();

    memset(&z, 0, sizeof(z));
    deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)c->data;
    z.avail_in = (uInt)c->used;
    *zlen = 0;
    for (;;) {
        int zr;

        z.next_out = out;
        z.avail_out = sizeof(out);
        zr = deflate(&z, Z_FINISH);
        *zlen += sizeof(out) - z.avail_out;
        if (zr == Z_STREAM_END)
            break;
    }
    deflateEnd(&z);
    return now() - t0;
}

static double run_sha_mem(const corpus *c)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    double t0 = now();

    EVP_Digest(c->data, c->used, md, NULL, EVP_sha256(), NULL);
    return now() - t0;
}

static double run_gcm_mem(apr_pool_t *p, corpus *c)
{
    unsigned char key[DPC_CRYPT_KEY_LEN], nonce[DPC_CRYPT_NONCE_LEN], tag[DPC_CRYPT_TAG_LEN];
    unsigned char *out = apr_palloc(p, c->used);
    dpc_crypt_stream *s;
    const char *why;
    double t0;

    if (dpc_crypt_stream_create(p, &s, &why) != APR_SUCCESS) {
        fprintf(stderr, "bench-export: %s\n", why);
        exit(1);
    }
    t0 = now();
    if (dpc_crypt_encrypt_begin(s, key, nonce) != APR_SUCCESS
        || dpc_crypt_update(s, (unsigned char *)c->data, c->used, out) != APR_SUCCESS
        || dpc_crypt_encrypt_end(s, tag) != APR_SUCCESS) {
        fprintf(stderr, "bench-export: AES-256-GCM failed\n");
        exit(1);
    }
    return now() - t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void report(int m, double *mbs, int rounds)
{
    qsort(mbs, (size_t)rounds, sizeof(double), cmp_double);
    printf("  %-26s %8.0f MB/s  [%.0f-%.0f]\n", labels[m], mbs[rounds / 2],
           mbs[0], mbs[rounds - 1]);
}

int main(int argc, char **argv)
{
    double mbs[M_COUNT][MAX_ROUNDS];
    apr_uint64_t total, bytes = 0;
    apr_size_t z1 = 0, z6 = 0;
    const char *base, *dir, *why;
    apr_pool_t *p;
    corpus c;
    EVP_PKEY *rsa;
    int rounds, r, m;
    apr_uint64_t gz_bytes = 0, enc_bytes = 0;

    total = (argc > 1 ? strtoull(argv[1], NULL, 10) : 512) * 1000000ULL;
    rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (rounds < 1 || rounds > MAX_ROUNDS || total == 0) {
        fprintf(stderr, "usage: bench-export [MB [ROUNDS<=%d]]\n", MAX_ROUNDS);
        return 2;
    }
    apr_initialize();
    apr_pool_create(&p, NULL);
    base = getenv("BENCH_DIR") ? getenv("BENCH_DIR")
         : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    base = apr_pstrcat(p, base, "/bench-export.XXXXXX", NULL);
    if (!mkdtemp((char *)base)) {
        perror("mkdtemp");
        return 1;
    }
    dir = dpc_export_job_dir(p, base, JOB);
    load_corpus(p, &c);
    if (dpc_pkey_generate(p, DPC_ALG_RS384, 2048, &rsa, &why) != DPC_PKEY_OK) {
        fprintf(stderr, "bench-export: %s\n", why);
        return 1;
    }
    printf("corpus: %d R4 EOBs, %.1f MB, mean %.0f bytes; %llu MB per run, "
           "%d rounds, gzip twin level %d\n", c.lens->nelts, c.used / 1e6,
           (double)c.used / c.lens->nelts, (unsigned long long)(total / 1000000),
           rounds, DPC_EXPORT_GZIP_LEVEL);

    for (r = 0; r < rounds; r++) {
        apr_pool_t *rp;
        const dpc_export_file *f;
        double t_all, t_write;
        char *cmd, *warm;

        apr_pool_create(&rp, p);
        f = run_writer(rp, &c, dir, 0, NULL, total, &t_all, &t_write, &bytes);
        mbs[M_WRITER][r] = bytes / 1e6 / t_all;
        mbs[M_WRITE_ONLY][r] = bytes / 1e6 / t_write;
        /* the writer leaves nothing cached: read it in, untimed, so that
         * the baselines hash from memory */
        warm = apr_psprintf(rp, "cat '%s' > /dev/null", f->path);
        run_cmd(warm);
        cmd = apr_psprintf(rp, "sha256sum '%s' > /dev/null", f->path);
        mbs[M_SHA256SUM][r] = bytes / 1e6 / run_cmd(cmd);
        cmd = apr_psprintf(rp, "openssl dgst -sha256 '%s' > /dev/null", f->path);
        mbs[M_OPENSSL][r] = bytes / 1e6 / run_cmd(cmd);
        cmd = apr_psprintf(rp, "gzip -1 -c '%s' > /dev/null", f->path);
        /* the writer's twin next, then gzip -1 of the same plain file */
        f = run_writer(rp, &c, dir, DPC_EXPORT_GZIP, NULL, total, &t_all, &t_write,
                       &bytes);
        mbs[M_WRITER_GZ][r] = bytes / 1e6 / t_all;
        gz_bytes = f->gz_bytes;
        run_cmd(warm);
        mbs[M_GZIP1][r] = bytes / 1e6 / run_cmd(cmd);
        mbs[M_ZLIB1][r] = c.used / 1e6 / run_zlib(&c, 1, &z1);
        mbs[M_ZLIB6][r] = c.used / 1e6 / run_zlib(&c, 6, &z6);
        mbs[M_SHA_MEM][r] = c.used / 1e6 / run_sha_mem(&c);
        /* the plain NDJSON's bytes: the encrypted file has 28 more */
        run_writer(rp, &c, dir, DPC_EXPORT_UUID_NAMES, rsa, total, &t_all, &t_write,
                   &enc_bytes);
        mbs[M_WRITER_ENC][r] = bytes / 1e6 / t_all;
        mbs[M_GCM_MEM][r] = c.used / 1e6 / run_gcm_mem(rp, &c);
        if (dpc_export_remove_dir(rp, base, JOB, &why) != APR_SUCCESS) {
            fprintf(stderr, "bench-export: %s\n", why);
            return 1;
        }
        apr_pool_destroy(rp);   /* finished writers: files already removed */
    }
    printf("results (%llu bytes of NDJSON per file run):\n",
           (unsigned long long)bytes);
    for (m = 0; m < M_COUNT; m++)
        report(m, mbs[m], rounds);
    printf("gzip twin: %.1f%% of the NDJSON; zlib -1 %.1f%%, zlib -6 %.1f%% "
           "of the corpus\n", 100.0 * gz_bytes / bytes, 100.0 * z1 / c.used,
           100.0 * z6 / c.used);
    rmdir(base);
    apr_terminate();
    return 0;
}
