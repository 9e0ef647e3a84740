/* Unit tests of the export file writer (dpc_export.h): lines and counts,
 * SHA-256 and length against independent computations, rotation, the gzip
 * twin (inflated here), atomic publish with no temp file left, names, abort,
 * write errors (RLIMIT_FSIZE in a forked child; a temp file pulled from
 * under the writer), what the writer leaves in the page cache (mincore) and
 * job directory removal.
 *
 * Each test works in a fresh directory under $TMPDIR (or /tmp), removed in
 * teardown.  The throughput benchmark is t/unit/bench_export.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "unit.h"
#include "dpc_export.h"

#define JOB  "3f2b8c1e-7a4d-4e5f-9b6a-0c1d2e3f4a5b"
#define JOB2 "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
#define EOB  "ExplanationOfBenefit"
#define HEX32 "0123456789abcdef0123456789abcdef"

static apr_pool_t *pool;
static const char *root;        /* a fresh temporary export root */
static const char *jobdir;      /* root/JOB, made by the writer */

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    char *tpl;

    apr_pool_create(&pool, NULL);
    tpl = apr_pstrcat(pool, tmp && *tmp ? tmp : "/tmp",
                      "/dpc-export-test.XXXXXX", NULL);
    ck_assert_ptr_nonnull(mkdtemp(tpl));
    root = tpl;
    jobdir = dpc_export_job_dir(pool, root, JOB);
}

/* Remove whatever a test left (its own helper, tested below), then root. */
static void teardown(void)
{
    char *cmd = apr_psprintf(pool, "rm -rf '%s'", root);

    dpc_export_remove_dir(pool, root, JOB, NULL);
    dpc_export_remove_dir(pool, root, JOB2, NULL);
    /* Leftovers of the failure tests (links, subdirectories): a plain rm
     * on a path this file made with mkdtemp. */
    if (system(cmd) != 0)
        fprintf(stderr, "test_export: could not remove %s\n", root);
    apr_pool_destroy(pool);
}

/* ---- helpers ---- */

/* A resource body of about `size` bytes, distinct for each i. */
static const char *body(int i, apr_size_t size)
{
    const char *head = apr_psprintf(pool,
        "{\"resourceType\":\"ExplanationOfBenefit\",\"id\":\"carrier-%d\","
        "\"pad\":\"", i);
    apr_size_t hl = strlen(head), n = size > hl + 2 ? size - hl - 2 : 1, k;
    char *b = apr_palloc(pool, hl + n + 3);

    memcpy(b, head, hl);
    for (k = 0; k < n; k++)
        b[hl + k] = "abcdefghijklmnopqrstuvwxyz0123456789"[(k * 7 + (apr_size_t)i) % 36];
    memcpy(b + hl + n, "\"}", 3);
    return b;
}

static char *slurp(const char *path, apr_size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *data;

    ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
    ck_assert_int_eq(fstat(fileno(f), &st), 0);
    data = apr_palloc(pool, (apr_size_t)st.st_size + 1);
    ck_assert_uint_eq(fread(data, 1, (size_t)st.st_size, f), (size_t)st.st_size);
    fclose(f);
    data[st.st_size] = '\0';
    *len = (apr_size_t)st.st_size;
    return data;
}

/* Names in dir, in readdir order ("." and ".." left out). */
static apr_array_header_t *list_dir(const char *dir)
{
    apr_array_header_t *a = apr_array_make(pool, 8, sizeof(const char *));
    DIR *d = opendir(dir);
    struct dirent *de;

    ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            APR_ARRAY_PUSH(a, const char *) = apr_pstrdup(pool, de->d_name);
    }
    closedir(d);
    return a;
}

static int count_suffix(apr_array_header_t *names, const char *suffix)
{
    int i, n = 0;
    size_t sl = strlen(suffix);

    for (i = 0; i < names->nelts; i++) {
        const char *s = APR_ARRAY_IDX(names, i, const char *);
        size_t l = strlen(s);

        if (l >= sl && !strcmp(s + l - sl, suffix))
            n++;
    }
    return n;
}

static int exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static const char *sha256_hex(const char *data, apr_size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    char *hex = apr_palloc(pool, 2 * EVP_MAX_MD_SIZE + 1);

    ck_assert_int_eq(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
    for (i = 0; i < n; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    return hex;
}

/* Inflate a gzip file's bytes (zlib, independently of the writer). */
static char *gunzip(const char *gz, apr_size_t gzlen, apr_size_t cap,
                    apr_size_t *outlen)
{
    z_stream z;
    char *out = apr_palloc(pool, cap + 1);
    int zr;

    memset(&z, 0, sizeof(z));
    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)gz;
    z.avail_in = (uInt)gzlen;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    zr = inflate(&z, Z_FINISH);
    ck_assert_int_eq(zr, Z_STREAM_END);
    ck_assert_uint_eq(z.avail_in, 0);       /* nothing after the trailer */
    *outlen = z.total_out;
    inflateEnd(&z);
    return out;
}

static dpc_export_writer *make(const char *dir, apr_uint64_t per_file, int flags)
{
    dpc_export_writer *w = NULL;
    const char *why = NULL;
    apr_status_t rv = dpc_export_writer_create(pool, dir, EOB, per_file, flags,
                                               &w, &why);

    ck_assert_msg(rv == APR_SUCCESS, "create: %s", why ? why : "?");
    return w;
}

static void put(dpc_export_writer *w, const char *b)
{
    apr_status_t rv = dpc_export_write(w, b, strlen(b));

    ck_assert_msg(rv == APR_SUCCESS, "write: %s", dpc_export_writer_error(w));
}

static apr_array_header_t *finish(dpc_export_writer *w)
{
    apr_array_header_t *files = NULL;
    apr_status_t rv = dpc_export_writer_finish(w, &files);

    ck_assert_msg(rv == APR_SUCCESS, "finish: %s", dpc_export_writer_error(w));
    ck_assert_ptr_nonnull(files);
    return files;
}

static dpc_export_file *file_at(apr_array_header_t *files, int i)
{
    return &APR_ARRAY_IDX(files, i, dpc_export_file);
}

/* A published file's record against the file itself. */
static const char *check_file(const dpc_export_file *f, int gz)
{
    apr_size_t len, lines = 0, k;
    char *data = slurp(f->path, &len);

    ck_assert_str_eq(f->path, apr_pstrcat(pool, jobdir, "/", f->name, NULL));
    ck_assert(dpc_export_name_valid(f->name));
    ck_assert_str_eq(f->type, EOB);
    ck_assert_uint_eq(f->bytes, len);
    ck_assert_str_eq(f->sha256, sha256_hex(data, len));
    for (k = 0; k < len; k++)
        lines += data[k] == '\n';
    ck_assert_uint_eq(lines, f->count);
    ck_assert(len > 0 && data[len - 1] == '\n');
    if (gz) {
        apr_size_t gzlen, plain;
        char *z;

        ck_assert_str_eq(f->gz_name, apr_pstrcat(pool, f->name, ".gz", NULL));
        ck_assert(dpc_export_name_valid(f->gz_name));
        z = slurp(f->gz_path, &gzlen);
        ck_assert_uint_eq(f->gz_bytes, gzlen);
        z = gunzip(z, gzlen, len + 1, &plain);
        ck_assert_uint_eq(plain, len);
        ck_assert(memcmp(z, data, len) == 0);
    }
    else {
        ck_assert_ptr_null(f->gz_name);
        ck_assert_ptr_null(f->gz_path);
        ck_assert_uint_eq(f->gz_bytes, 0);
    }
    return data;
}

/* ---- lines, counts, checksums ---- */

START_TEST(test_lines_and_counts)
{
    dpc_export_writer *w = make(jobdir, 100, 0);
    const char *expect = "";
    apr_array_header_t *files;
    const char *data;
    int i;

    for (i = 0; i < 5; i++) {
        const char *b = body(i, 50 + (apr_size_t)i * 300);

        put(w, b);
        expect = apr_pstrcat(pool, expect, b, "\n", NULL);
    }
    ck_assert_uint_eq(dpc_export_writer_count(w), 5);
    files = finish(w);
    ck_assert_int_eq(files->nelts, 1);
    ck_assert_uint_eq(file_at(files, 0)->count, 5);
    data = check_file(file_at(files, 0), 0);
    ck_assert_str_eq(data, expect);
    ck_assert_ptr_null(dpc_export_writer_error(w));
}
END_TEST

/* BCDA's names: "<uuid>.ndjson" for data; an error file named after the
 * data file it sits beside ("<uuid>-error.ndjson"); a stem names one part
 * only, and must be a lower-case uuid. */
START_TEST(test_uuid_names)
{
    dpc_export_writer *w = make(jobdir, 2, DPC_EXPORT_UUID_NAMES), *e = NULL;
    apr_array_header_t *files;
    const char *why = NULL, *stem;
    int i;

    for (i = 0; i < 3; i++)
        put(w, body(i, 40));
    stem = apr_pstrmemdup(pool, dpc_export_writer_part_name(w), 36);
    ck_assert_int_eq(dpc_export_writer_create(pool, jobdir, "OperationOutcome", 10,
                                              DPC_EXPORT_UUID_NAMES, &e, &why), APR_SUCCESS);
    ck_assert_int_eq(dpc_export_writer_stem(e, "0C527D2E-2E8A-4808-B11D-0FA06BAF8254"),
                     APR_EINVAL);
    ck_assert_int_eq(dpc_export_writer_stem(e, stem), APR_SUCCESS);
    put(e, body(9, 40));
    files = finish(w);
    ck_assert_int_eq(files->nelts, 2);
    for (i = 0; i < 2; i++) {
        ck_assert(dpc_export_name_valid(file_at(files, i)->name));
        ck_assert_uint_eq(strlen(file_at(files, i)->name), 36 + strlen(".ndjson"));
    }
    ck_assert_str_ne(file_at(files, 0)->name, file_at(files, 1)->name);
    files = finish(e);
    ck_assert_str_eq(file_at(files, 0)->name, apr_pstrcat(pool, stem, "-error.ndjson", NULL));
    /* without the flag there is no stem to set */
    ck_assert_int_eq(dpc_export_writer_stem(make(jobdir, 2, 0), stem), APR_EINVAL);
}
END_TEST

/* A namer for the test: "Z0000_000N", counting (and "_error" for
 * OperationOutcomes); "bad" once *ctx reaches 3. */
static const char *count_names(void *ctx, const char *type, apr_pool_t *p)
{
    int *n = ctx;

    if (++*n >= 3)
        return "bad/../name";
    return apr_psprintf(p, "Z0000_%04d%s", *n, strcmp(type, "OperationOutcome") ? ""
                        : "_error");
}

/* AB2D's names come from the namer, one call a part; a name that is not
 * a contract's fails the writer. */
START_TEST(test_contract_names)
{
    dpc_export_writer *w = make(jobdir, 2, 0);
    apr_array_header_t *files;
    int n = 0;

    dpc_export_writer_namer(w, count_names, &n);
    put(w, body(1, 40));
    put(w, body(2, 40));
    put(w, body(3, 40));
    files = finish(w);
    ck_assert_int_eq(files->nelts, 2);
    ck_assert_str_eq(file_at(files, 0)->name, "Z0000_0001.ndjson");
    ck_assert_str_eq(file_at(files, 1)->name, "Z0000_0002.ndjson");
    w = make(jobdir, 1, 0);
    dpc_export_writer_namer(w, count_names, &n);
    ck_assert_int_ne(dpc_export_write(w, body(4, 40), 40), APR_SUCCESS);
    ck_assert_ptr_nonnull(dpc_export_writer_error(w));
}
END_TEST

/* The digest sha256sum prints for the same two lines (computed with
 * coreutils, not OpenSSL): the writer's digest is of the file's bytes. */
START_TEST(test_sha256_known)
{
    dpc_export_writer *w = make(jobdir, 10, 0);
    apr_array_header_t *files;

    put(w, "{\"resourceType\":\"Patient\",\"id\":\"1\"}");
    put(w, "{\"resourceType\":\"Patient\",\"id\":\"2\"}");
    files = finish(w);
    ck_assert_int_eq(files->nelts, 1);
    ck_assert_str_eq(file_at(files, 0)->sha256,
        "7f1637374955905f3808366ac414811b251c8d8d6b83b82a18d9d853fe9110d3");
    ck_assert_uint_eq(file_at(files, 0)->bytes, 72);
    check_file(file_at(files, 0), 0);
}
END_TEST

/* Bodies larger than the 256 KB buffer, mixed with small ones. */
START_TEST(test_large_bodies)
{
    dpc_export_writer *w = make(jobdir, 1000, DPC_EXPORT_GZIP);
    apr_size_t sizes[] = { 10, 700 * 1024, 17000, DPC_EXPORT_BUFSIZE - 1,
                           DPC_EXPORT_BUFSIZE, 3 };
    const char *expect = "";
    apr_array_header_t *files;
    size_t i;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        const char *b = body((int)i, sizes[i]);

        put(w, b);
        expect = apr_pstrcat(pool, expect, b, "\n", NULL);
    }
    files = finish(w);
    ck_assert_int_eq(files->nelts, 1);
    ck_assert_str_eq(check_file(file_at(files, 0), 1), expect);
}
END_TEST

/* ---- rotation ---- */

START_TEST(test_rotation)
{
    dpc_export_writer *w = make(jobdir, 3, 0);
    apr_uint64_t want[] = { 3, 3, 3, 1 };
    const char *expect = "", *got = "";
    apr_array_header_t *files, *names;
    int i;

    for (i = 0; i < 10; i++) {
        const char *b = body(i, 100 + (apr_size_t)i);

        put(w, b);
        expect = apr_pstrcat(pool, expect, b, "\n", NULL);
    }
    files = finish(w);
    ck_assert_int_eq(files->nelts, 4);
    for (i = 0; i < 4; i++) {
        ck_assert_uint_eq(file_at(files, i)->count, want[i]);
        got = apr_pstrcat(pool, got, check_file(file_at(files, i), 0), NULL);
        if (i > 0)
            ck_assert_str_ne(file_at(files, i)->name, file_at(files, i - 1)->name);
    }
    /* In order, nothing lost or repeated. */
    ck_assert_str_eq(got, expect);
    names = list_dir(jobdir);
    ck_assert_int_eq(names->nelts, 4);
    for (i = 0; i < names->nelts; i++)
        ck_assert(dpc_export_name_valid(APR_ARRAY_IDX(names, i, const char *)));
}
END_TEST

/* A count that is a multiple of per_file leaves no empty last part. */
START_TEST(test_rotation_exact)
{
    dpc_export_writer *w = make(jobdir, 3, DPC_EXPORT_GZIP);
    apr_array_header_t *files;
    int i;

    for (i = 0; i < 6; i++)
        put(w, body(i, 64));
    /* Both parts are published by the writes themselves. */
    ck_assert_int_eq(count_suffix(list_dir(jobdir), ".ndjson"), 2);
    files = finish(w);
    ck_assert_int_eq(files->nelts, 2);
    ck_assert_int_eq(list_dir(jobdir)->nelts, 4);
    check_file(file_at(files, 0), 1);
    check_file(file_at(files, 1), 1);
    /* finish again: the same list, nothing new. */
    ck_assert_ptr_eq(finish(w), files);
    ck_assert_int_eq(dpc_export_write(w, "{}", 2), APR_EINVAL);
}
END_TEST

/* ---- gzip twin ---- */

START_TEST(test_gzip_twin)
{
    dpc_export_writer *w = make(jobdir, 250, DPC_EXPORT_GZIP);
    apr_array_header_t *files;
    int i;

    /* ~2.5 MB: many buffer flushes and gzip output drains per part. */
    for (i = 0; i < 600; i++)
        put(w, body(i, 1000 + (apr_size_t)(i * 37) % 7000));
    files = finish(w);
    ck_assert_int_eq(files->nelts, 3);
    for (i = 0; i < 3; i++) {
        check_file(file_at(files, i), 1);
        /* The twin is worth having: smaller than the NDJSON. */
        ck_assert(file_at(files, i)->gz_bytes < file_at(files, i)->bytes);
    }
    ck_assert_int_eq(count_suffix(list_dir(jobdir), ".ndjson.gz"), 3);
}
END_TEST

/* ---- nothing to publish, bad bodies, no temp files ---- */

START_TEST(test_empty_writer)
{
    dpc_export_writer *w = make(jobdir, 3, DPC_EXPORT_GZIP);
    apr_array_header_t *files = finish(w);
    struct stat st;

    ck_assert_int_eq(files->nelts, 0);
    ck_assert_int_eq(list_dir(jobdir)->nelts, 0);
    /* The job directory was made, owner and group only. */
    ck_assert_int_eq(lstat(jobdir, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(st.st_mode & 027, 0);
}
END_TEST

START_TEST(test_bad_bodies)
{
    dpc_export_writer *w = make(jobdir, 10, 0);
    apr_array_header_t *files;
    apr_size_t len;

    ck_assert_int_eq(dpc_export_write(w, "{\"a\":\n1}", 8), APR_EINVAL);
    ck_assert_ptr_nonnull(dpc_export_writer_error(w));
    ck_assert_int_eq(dpc_export_write(w, "{\"a\":\r1}", 8), APR_EINVAL);
    ck_assert_int_eq(dpc_export_write(w, "{}\n", 3), APR_EINVAL);
    ck_assert_int_eq(dpc_export_write(w, "", 0), APR_EINVAL);
    ck_assert_int_eq(dpc_export_write(w, NULL, 0), APR_EINVAL);
    /* Nothing was started for them. */
    ck_assert_int_eq(list_dir(jobdir)->nelts, 0);
    /* The writer carries on: a refused body is not an I/O error. */
    put(w, "{\"a\":1}");
    ck_assert_int_eq(dpc_export_write(w, "{\"b\":\n2}", 8), APR_EINVAL);
    put(w, "{\"a\":2}");
    files = finish(w);
    ck_assert_int_eq(files->nelts, 1);
    ck_assert_uint_eq(file_at(files, 0)->count, 2);
    ck_assert_str_eq(slurp(file_at(files, 0)->path, &len), "{\"a\":1}\n{\"a\":2}\n");
}
END_TEST

START_TEST(test_no_temp_files)
{
    dpc_export_writer *w = make(jobdir, 4, DPC_EXPORT_GZIP);
    apr_array_header_t *names;
    struct stat st;
    int i;

    for (i = 0; i < 9; i++)
        put(w, body(i, 500));
    /* Mid-export: two parts published, the third still a temp pair. */
    names = list_dir(jobdir);
    ck_assert_int_eq(count_suffix(names, ".tmp"), 2);
    ck_assert_int_eq(count_suffix(names, ".ndjson"), 2);
    finish(w);
    names = list_dir(jobdir);
    ck_assert_int_eq(names->nelts, 6);
    ck_assert_int_eq(count_suffix(names, ".tmp"), 0);
    for (i = 0; i < names->nelts; i++) {
        const char *n = APR_ARRAY_IDX(names, i, const char *);

        ck_assert_msg(dpc_export_name_valid(n), "%s", n);
        /* Not readable or writable by others. */
        ck_assert_int_eq(stat(apr_pstrcat(pool, jobdir, "/", n, NULL), &st), 0);
        ck_assert_int_eq(st.st_mode & 037, 0);
    }
}
END_TEST

/* ---- names ---- */

START_TEST(test_names)
{
    static const char *good[] = {
        EOB "-" HEX32 ".ndjson",
        EOB "-" HEX32 ".ndjson.gz",
        "Patient-ffffffffffffffffffffffffffffffff.ndjson",
        "P-00000000000000000000000000000000.ndjson",
        "OperationOutcome-" HEX32 ".ndjson",
        /* uuid names (BCDA) */
        "0c527d2e-2e8a-4808-b11d-0fa06baf8254.ndjson",
        "0c527d2e-2e8a-4808-b11d-0fa06baf8254.ndjson.gz",
        "0c527d2e-2e8a-4808-b11d-0fa06baf8254-error.ndjson",
        "0c527d2e-2e8a-4808-b11d-0fa06baf8254-error.ndjson.gz",
        /* contract names (AB2D) */
        "Z0000_0001.ndjson", "Z0000_0001.ndjson.gz", "S1234_0012_error.ndjson",
        "Z0010_123456789.ndjson",
    };
    static const char *bad[] = {
        "", "Patient", "Patient-", "-" HEX32 ".ndjson",
        "Patient-" HEX32,
        "Patient-" HEX32 ".ndjson.tmp",
        "Patient-" HEX32 ".ndjson.gz.tmp",
        "Patient-" HEX32 ".json",
        "Patient-" HEX32 ".NDJSON",
        "Patient-" HEX32 ".ndjson ",
        "Patient-" HEX32 ".ndjson\n",
        "Patient-" HEX32 ".ndjson/",
        "Patient-" HEX32 ".ndjson.gz.gz",
        "Patient-0123456789ABCDEF0123456789abcdef.ndjson",      /* upper hex */
        "Patient-0123456789abcdef0123456789abcde.ndjson",       /* 31 digits */
        "Patient-0123456789abcdef0123456789abcdef0.ndjson",     /* 33 */
        "Patient-0123456789abcdeg0123456789abcdef.ndjson",
        "patient-" HEX32 ".ndjson",
        "Pat1ent-" HEX32 ".ndjson",
        "Pa-tient-" HEX32 ".ndjson",
        "../Patient-" HEX32 ".ndjson",
        "..", ".", "/etc/passwd",
        "a/Patient-" HEX32 ".ndjson",
        "Patient/../-" HEX32 ".ndjson",
        "Patient-" HEX32 ".ndjson/../../x",
        "Patient%2f-" HEX32 ".ndjson",
        "0C527D2E-2E8A-4808-B11D-0FA06BAF8254.ndjson",          /* upper case */
        "0c527d2e-2e8a-4808-b11d-0fa06baf825.ndjson",           /* short */
        "0c527d2e2e8a4808b11d0fa06baf8254ab.ndjson",             /* no dashes */
        "0c527d2e-2e8a-4808-b11d-0fa06baf8254-err.ndjson",
        "0c527d2e-2e8a-4808-b11d-0fa06baf8254-error.ndjson.tmp",
        "0c527d2e-2e8a-4808-b11d-0fa06baf8254.ndjson/../x",
        "0c527d2e-2e8a-4808-b11d-0fa06baf8254",
        "Z0000_001.ndjson", "Z000_0001.ndjson", "z0000_0001.ndjson", "ZZ000_0001.ndjson",
        "Z0000_0001-error.ndjson", "Z0000_0001_err.ndjson", "Z0000_0001.ndjson.tmp",
        "Z0000_1234567890.ndjson", "Z0000_0001.ndjson/../x", "Z0000_/../0001.ndjson",
        /* 65 letters of type */
        "Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-"
            HEX32 ".ndjson",
    };
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(dpc_export_name_valid(good[i]), "good: %s", good[i]);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!dpc_export_name_valid(bad[i]), "bad: %s", bad[i]);
    ck_assert(!dpc_export_name_valid(NULL));
    /* 64 letters is the most. */
    ck_assert(dpc_export_name_valid(
        "Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-"
        HEX32 ".ndjson"));
    /* A NUL inside ends the name: what follows it is not seen. */
    ck_assert(!dpc_export_name_valid("Patient-" HEX32 "\0.ndjson"));

    ck_assert(dpc_export_type_valid(EOB));
    ck_assert(dpc_export_type_valid("Coverage"));
    ck_assert(!dpc_export_type_valid(""));
    ck_assert(!dpc_export_type_valid(NULL));
    ck_assert(!dpc_export_type_valid("coverage"));
    ck_assert(!dpc_export_type_valid("Cover-age"));
    ck_assert(!dpc_export_type_valid("Cover/age"));
    ck_assert(!dpc_export_type_valid("../Coverage"));

    ck_assert_str_eq(dpc_export_job_dir(pool, "/srv/x", JOB), "/srv/x/" JOB);
    ck_assert_ptr_null(dpc_export_job_dir(pool, "/srv/x", "../" JOB));
    ck_assert_ptr_null(dpc_export_job_dir(pool, "/srv/x", JOB "/.."));
    ck_assert_ptr_null(dpc_export_job_dir(pool, "/srv/x", ".."));
    ck_assert_ptr_null(dpc_export_job_dir(pool, "", JOB));
}
END_TEST

/* ---- create ---- */

START_TEST(test_create_errors)
{
    dpc_export_writer *w = (dpc_export_writer *)1;
    const char *why = NULL;
    const char *real = apr_pstrcat(pool, root, "/real", NULL);
    const char *link = apr_pstrcat(pool, root, "/link", NULL);

    ck_assert_int_eq(dpc_export_writer_create(pool, jobdir, EOB, 0, 0, &w, &why),
                     APR_EINVAL);
    ck_assert_ptr_null(w);
    ck_assert_ptr_nonnull(why);
    ck_assert_int_eq(dpc_export_writer_create(pool, jobdir, "Explanation/Of", 3,
                                              0, &w, &why), APR_EINVAL);
    ck_assert_int_eq(dpc_export_writer_create(pool, jobdir, EOB, 3, 0x80, &w,
                                              &why), APR_EINVAL);
    ck_assert_int_eq(dpc_export_writer_create(pool, "", EOB, 3, 0, &w, &why),
                     APR_EINVAL);
    /* A missing parent is not made: the export root must exist. */
    ck_assert_int_eq(dpc_export_writer_create(pool,
        apr_pstrcat(pool, root, "/no/such", NULL), EOB, 3, 0, &w, &why),
        APR_ENOENT);
    ck_assert_ptr_nonnull(strstr(why, "/no/such"));
    ck_assert_ptr_null(w);
    /* A symbolic link as the job directory is refused. */
    ck_assert_int_eq(mkdir(real, 0750), 0);
    ck_assert_int_eq(symlink(real, link), 0);
    ck_assert_int_ne(dpc_export_writer_create(pool, link, EOB, 3, 0, &w, &why),
                     APR_SUCCESS);
    ck_assert_ptr_null(w);
    ck_assert_ptr_nonnull(strstr(why, link));
    /* An existing directory is fine (several writers share a job's). */
    make(real, 3, 0);
    make(real, 3, DPC_EXPORT_GZIP);
}
END_TEST

/* ---- abort ---- */

START_TEST(test_abort)
{
    dpc_export_writer *w = make(jobdir, 3, DPC_EXPORT_GZIP);
    dpc_export_writer *other = make(jobdir, 3, 0);
    apr_array_header_t *files;
    int i;

    for (i = 0; i < 8; i++)
        put(w, body(i, 300));
    put(other, body(99, 300));
    /* 2 published pairs, 1 temp pair, and another writer's temp file. */
    ck_assert_int_eq(list_dir(jobdir)->nelts, 7);
    ck_assert_int_eq(dpc_export_writer_abort(w), APR_SUCCESS);
    /* Only the other writer's file is left: abort removes its own. */
    ck_assert_int_eq(list_dir(jobdir)->nelts, 1);
    ck_assert_int_eq(dpc_export_write(w, "{}", 2), APR_EINVAL);
    ck_assert_int_ne(dpc_export_writer_finish(w, &files), APR_SUCCESS);
    ck_assert_int_eq(dpc_export_writer_abort(w), APR_SUCCESS);  /* again: no-op */

    /* Abort after finish removes the published files too. */
    files = finish(other);
    ck_assert_int_eq(files->nelts, 1);
    ck_assert(exists(file_at(files, 0)->path));
    ck_assert_int_eq(dpc_export_writer_abort(other), APR_SUCCESS);
    ck_assert_int_eq(list_dir(jobdir)->nelts, 0);
}
END_TEST

/* A writer whose pool goes away unfinished is aborted; a finished one's
 * files stay. */
START_TEST(test_pool_cleanup)
{
    apr_pool_t *sub;
    dpc_export_writer *w;
    const char *why;
    apr_array_header_t *files;

    apr_pool_create(&sub, pool);
    ck_assert_int_eq(dpc_export_writer_create(sub, jobdir, EOB, 3,
                                              DPC_EXPORT_GZIP, &w, &why), 0);
    for (int i = 0; i < 7; i++)
        put(w, body(i, 200));
    ck_assert_int_eq(list_dir(jobdir)->nelts, 6);
    apr_pool_destroy(sub);
    ck_assert_int_eq(list_dir(jobdir)->nelts, 0);

    apr_pool_create(&sub, pool);
    ck_assert_int_eq(dpc_export_writer_create(sub, jobdir, EOB, 3, 0, &w, &why), 0);
    for (int i = 0; i < 4; i++)
        put(w, body(i, 200));
    ck_assert_int_eq(dpc_export_writer_finish(w, &files), APR_SUCCESS);
    apr_pool_destroy(sub);
    ck_assert_int_eq(list_dir(jobdir)->nelts, 2);
}
END_TEST

/* A forked child clearing its copy of the pool leaves the parent's files. */
START_TEST(test_pool_cleanup_child)
{
    apr_pool_t *sub;
    dpc_export_writer *w;
    const char *why;
    int status = 0;
    pid_t pid;

    apr_pool_create(&sub, pool);
    ck_assert_int_eq(dpc_export_writer_create(sub, jobdir, EOB, 3, 0, &w, &why), 0);
    for (int i = 0; i < 4; i++)
        put(w, body(i, 200));
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        apr_pool_destroy(sub);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(list_dir(jobdir)->nelts, 2);   /* 1 published, 1 temp */
    put(w, body(5, 200));
    ck_assert_int_eq(finish(w)->nelts, 2);
    apr_pool_destroy(sub);
}
END_TEST

/* ---- write errors ---- */

/* In a child limited to FSIZE bytes per file (SIGXFSZ ignored, so write(2)
 * fails with EFBIG as it would with ENOSPC): the error names the file,
 * nothing half-written stays, later writes are refused, abort clears the
 * rest.  Returns a failure step number, 0 on success. */
#define FSIZE (300 * 1024)
static int efbig_child(void)
{
    struct rlimit rl = { FSIZE, FSIZE };
    dpc_export_writer *w;
    apr_array_header_t *names, *files;
    apr_status_t rv = APR_SUCCESS;
    const char *why, *err;
    int i;

    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 1;
    if (dpc_export_writer_create(pool, jobdir, EOB, 20, DPC_EXPORT_GZIP, &w, &why))
        return 2;
    /* Two parts of ~200 KB fit and are published. */
    for (i = 0; i < 40; i++) {
        const char *b = body(i, 10000);

        if (dpc_export_write(w, b, strlen(b)))
            return 3;
    }
    /* The third, of 20 x 20 KB, cannot fit. */
    for (i = 0; i < 20 && rv == APR_SUCCESS; i++) {
        const char *b = body(i, 20000);

        rv = dpc_export_write(w, b, strlen(b));
    }
    if (rv != APR_FROM_OS_ERROR(EFBIG))
        return 4;
    err = dpc_export_writer_error(w);
    if (!err || !strstr(err, ".ndjson.tmp") || !strstr(err, jobdir)
        || !strstr(err, "File too large"))
        return 5;
    names = list_dir(jobdir);
    if (count_suffix(names, ".tmp") != 0 || names->nelts != 4)
        return 6;
    if (dpc_export_write(w, "{}", 2) != rv)
        return 7;
    if (dpc_export_writer_finish(w, &files) != rv || files != NULL)
        return 8;
    if (dpc_export_writer_abort(w) != APR_SUCCESS)
        return 9;
    return list_dir(jobdir)->nelts == 0 ? 0 : 10;
}

START_TEST(test_write_error_efbig)
{
    int status = 0;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(efbig_child());
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "child died: status %d", status);
    ck_assert_msg(WEXITSTATUS(status) == 0, "failed at step %d",
                  WEXITSTATUS(status));
    ck_assert_int_eq(list_dir(jobdir)->nelts, 0);
}
END_TEST

/* A temp file pulled from under the writer: its rename fails, the twin
 * already renamed is taken back, and nothing is listed. */
START_TEST(test_publish_error)
{
    dpc_export_writer *w = make(jobdir, 2, DPC_EXPORT_GZIP);
    apr_array_header_t *names, *files = NULL;
    const char *tmp = NULL, *put_rv;
    apr_status_t rv;
    int i;

    put(w, body(1, 100));
    names = list_dir(jobdir);
    for (i = 0; i < names->nelts; i++) {
        const char *n = APR_ARRAY_IDX(names, i, const char *);

        if (!strstr(n, ".gz"))
            tmp = n;
    }
    ck_assert_ptr_nonnull(tmp);
    ck_assert_int_eq(unlink(apr_pstrcat(pool, jobdir, "/", tmp, NULL)), 0);
    put_rv = body(2, 100);
    rv = dpc_export_write(w, put_rv, strlen(put_rv));
    ck_assert_int_eq(rv, APR_ENOENT);
    ck_assert_ptr_nonnull(strstr(dpc_export_writer_error(w), "rename"));
    ck_assert_ptr_nonnull(strstr(dpc_export_writer_error(w), tmp));
    ck_assert_int_eq(list_dir(jobdir)->nelts, 0);
    ck_assert_int_eq(dpc_export_writer_finish(w, &files), APR_ENOENT);
    ck_assert_ptr_null(files);
}
END_TEST

/* ---- page cache ---- */

/* How many of the file's pages are in the page cache; its size too. */
static size_t resident_pages(const char *path, size_t *total, off_t *size)
{
    long pg = sysconf(_SC_PAGESIZE);
    int fd = open(path, O_RDONLY);
    struct stat st;
    unsigned char *vec;
    void *map;
    size_t n, i, r = 0;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    n = ((size_t)st.st_size + (size_t)pg - 1) / (size_t)pg;
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(map, MAP_FAILED);
    vec = apr_palloc(pool, n);
    ck_assert_int_eq(mincore(map, (size_t)st.st_size, vec), 0);
    for (i = 0; i < n; i++)
        r += vec[i] & 1;
    munmap(map, (size_t)st.st_size);
    close(fd);
    *total = n;
    *size = st.st_size;
    return r;
}

/* Does this file system drop a file's clean pages when asked (tmpfs and
 * ramfs keep them: they are the file)?  A small file, written, synced and
 * dropped. */
static int drops_pages(void)
{
    const char *path = apr_pstrcat(pool, root, "/probe", NULL);
    char buf[65536];
    size_t resident, total;
    off_t size;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

    ck_assert_int_ge(fd, 0);
    memset(buf, 'x', sizeof(buf));
    ck_assert_int_eq(write(fd, buf, sizeof(buf)), (int)sizeof(buf));
    ck_assert_int_eq(fsync(fd), 0);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    resident = resident_pages(path, &total, &size);
    unlink(path);
    return resident < total;
}

/* A published file is not left in the page cache (the writer drops each
 * written-back step as it goes, and the rest after the fsync): just
 * written, all of it would be.  Read back, it is cached again, which shows
 * that mincore sees this file system's cache at all. */
START_TEST(test_page_cache_dropped)
{
    dpc_export_writer *w;
    apr_array_header_t *files;
    size_t resident, total;
    off_t size;
    int i;

    if (!drops_pages()) {
        fprintf(stderr, "test_page_cache_dropped: skipped, the file system "
                "under %s keeps dropped pages (tmpfs?)\n", root);
        return;
    }
    w = make(jobdir, 1000, 0);
    for (i = 0; i < 80; i++)            /* 10 MB: several writeback steps */
        put(w, body(i, 128 * 1024));
    files = finish(w);
    ck_assert_int_eq(files->nelts, 1);
    resident = resident_pages(file_at(files, 0)->path, &total, &size);
    ck_assert_int_ge(size, 10 * 1024 * 1024);
    ck_assert_msg(resident * 4 < total, "%zu of %zu pages still cached",
                  resident, total);
    check_file(file_at(files, 0), 0);   /* whole, and now read back */
    resident = resident_pages(file_at(files, 0)->path, &total, &size);
    ck_assert_msg(resident * 4 > total * 3, "read back, only %zu of %zu pages "
                  "are cached: mincore does not see this cache", resident, total);
}
END_TEST

/* ---- removing a job directory ---- */

START_TEST(test_remove_dir)
{
    dpc_export_writer *w = make(jobdir, 2, DPC_EXPORT_GZIP);
    const char *outside = apr_pstrcat(pool, root, "/outside", NULL);
    const char *why = NULL;
    int i, fd;

    for (i = 0; i < 5; i++)
        put(w, body(i, 100));
    finish(w);
    /* A stray file, and a link to a file outside: the link goes, its
     * target stays. */
    fd = open(apr_pstrcat(pool, jobdir, "/stray.ndjson.tmp", NULL),
              O_CREAT | O_WRONLY, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    fd = open(outside, O_CREAT | O_WRONLY, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(symlink(outside, apr_pstrcat(pool, jobdir, "/lnk", NULL)), 0);

    ck_assert_int_eq(dpc_export_remove_dir(pool, root, JOB, &why), APR_SUCCESS);
    ck_assert_ptr_null(why);
    ck_assert(!exists(jobdir));
    ck_assert(exists(outside));
    /* Already gone: success (expiry and cancel may both try). */
    ck_assert_int_eq(dpc_export_remove_dir(pool, root, JOB, &why), APR_SUCCESS);
}
END_TEST

/* A completed job's directory keeps what the job lists, and loses what an
 * interrupted batch left: a temp file, a part published but not recorded. */
START_TEST(test_prune_dir)
{
    dpc_export_writer *w = make(jobdir, 2, DPC_EXPORT_GZIP);
    apr_hash_t *keep = apr_hash_make(pool);
    apr_array_header_t *files;
    const char *why = NULL;
    int i, fd, removed = -1;

    for (i = 0; i < 5; i++)
        put(w, body(i, 100));
    files = finish(w);
    ck_assert_int_gt(files->nelts, 1);
    for (i = 0; i < files->nelts; i++) {
        apr_hash_set(keep, file_at(files, i)->name, APR_HASH_KEY_STRING, "");
        apr_hash_set(keep, file_at(files, i)->gz_name, APR_HASH_KEY_STRING, "");
    }
    fd = open(apr_pstrcat(pool, jobdir, "/Patient-0123.ndjson.tmp", NULL),
              O_CREAT | O_WRONLY, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    fd = open(apr_pstrcat(pool, jobdir, "/Patient-4567.ndjson", NULL), O_CREAT | O_WRONLY, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);

    ck_assert_int_eq(dpc_export_prune_dir(pool, root, JOB, keep, &removed, &why), APR_SUCCESS);
    ck_assert_ptr_null(why);
    ck_assert_int_eq(removed, 2);
    ck_assert(!exists(apr_pstrcat(pool, jobdir, "/Patient-0123.ndjson.tmp", NULL)));
    ck_assert(!exists(apr_pstrcat(pool, jobdir, "/Patient-4567.ndjson", NULL)));
    for (i = 0; i < files->nelts; i++) {
        ck_assert(exists(file_at(files, i)->path));
        ck_assert(exists(file_at(files, i)->gz_path));
    }
    /* nothing more to do; a job without a directory is fine; a bad id is not */
    ck_assert_int_eq(dpc_export_prune_dir(pool, root, JOB, keep, &removed, &why), APR_SUCCESS);
    ck_assert_int_eq(removed, 0);
    ck_assert_int_eq(dpc_export_prune_dir(pool, root, JOB2, keep, &removed, &why), APR_SUCCESS);
    ck_assert_int_eq(dpc_export_prune_dir(pool, root, "../x", keep, &removed, &why), APR_EINVAL);
}
END_TEST

START_TEST(test_remove_dir_refuses)
{
    const char *victim = apr_pstrcat(pool, root, "/victim", NULL);
    const char *vfile = apr_pstrcat(pool, victim, "/keep", NULL);
    const char *why = NULL;
    int fd;

    ck_assert_int_eq(dpc_export_remove_dir(pool, root, "../victim", &why), APR_EINVAL);
    ck_assert_ptr_nonnull(why);
    ck_assert_int_eq(dpc_export_remove_dir(pool, root, "", &why), APR_EINVAL);
    ck_assert_int_eq(dpc_export_remove_dir(pool, root, NULL, &why), APR_EINVAL);
    ck_assert_int_eq(dpc_export_remove_dir(pool, root, "victim", &why), APR_EINVAL);
    ck_assert_int_eq(dpc_export_remove_dir(pool, root, JOB "/..", &why), APR_EINVAL);
    ck_assert_int_eq(dpc_export_remove_dir(pool, "relative", JOB, &why), APR_EINVAL);
    ck_assert_int_eq(dpc_export_remove_dir(pool, NULL, JOB, &why), APR_EINVAL);

    /* A job id that is a link to a directory elsewhere: refused, untouched. */
    ck_assert_int_eq(mkdir(victim, 0700), 0);
    fd = open(vfile, O_CREAT | O_WRONLY, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(symlink(victim, apr_pstrcat(pool, root, "/" JOB2, NULL)), 0);
    ck_assert_int_ne(dpc_export_remove_dir(pool, root, JOB2, &why), APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(why, JOB2));
    ck_assert(exists(vfile));
    ck_assert_int_eq(unlink(apr_pstrcat(pool, root, "/" JOB2, NULL)), 0);

    /* A subdirectory is not ours: refused and left. */
    ck_assert_int_eq(mkdir(jobdir, 0750), 0);
    ck_assert_int_eq(mkdir(apr_pstrcat(pool, jobdir, "/sub", NULL), 0750), 0);
    ck_assert_int_ne(dpc_export_remove_dir(pool, root, JOB, &why), APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(why, "sub"));
    ck_assert(exists(jobdir));
    ck_assert_int_eq(rmdir(apr_pstrcat(pool, jobdir, "/sub", NULL)), 0);
}
END_TEST

Suite *export_suite(void)
{
    Suite *s = suite_create("export");
    TCase *tc = tcase_create("writer");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_lines_and_counts);
    tcase_add_test(tc, test_uuid_names);
    tcase_add_test(tc, test_contract_names);
    tcase_add_test(tc, test_sha256_known);
    tcase_add_test(tc, test_large_bodies);
    tcase_add_test(tc, test_rotation);
    tcase_add_test(tc, test_rotation_exact);
    tcase_add_test(tc, test_gzip_twin);
    tcase_add_test(tc, test_empty_writer);
    tcase_add_test(tc, test_bad_bodies);
    tcase_add_test(tc, test_no_temp_files);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_create_errors);
    tcase_add_test(tc, test_abort);
    tcase_add_test(tc, test_pool_cleanup);
    tcase_add_test(tc, test_pool_cleanup_child);
    tcase_add_test(tc, test_write_error_efbig);
    tcase_add_test(tc, test_publish_error);
    tcase_add_test(tc, test_page_cache_dropped);
    tcase_add_test(tc, test_remove_dir);
    tcase_add_test(tc, test_remove_dir_refuses);
    tcase_add_test(tc, test_prune_dir);
    suite_add_tcase(s, tc);
    return s;
}
