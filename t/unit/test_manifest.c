/* test_manifest.c: unit tests of the Bulk Data manifest (dpc_manifest.h).
 *
 * Suite: manifest_suite (run by main.c).
 *
 *   build  the server's manifest, compared byte for byte with the JSON the
 *          status route has always sent (key order, extension layout),
 *          output and error files, and read back by the client's parser
 *   parse  the client's side: files, names, checksums, lengths, refusals
 *   names  dpc_manifest_file_name on good and hostile URLs
 *   status the job status words and the progress text
 */
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <jansson.h>

#include "unit.h"
#include "dpc_dialect.h"
#include "dpc_fhir.h"
#include "dpc_manifest.h"

static apr_pool_t *pool;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

#define MF_URL "https://h.example/v2/data/0f8fad5b-d9cb-469f-a165-70867728950e/"
/* written out, not DPC_EXT_*: the tests pin the URLs clients depend on */
#define MF_SUM "https://dpc.cms.gov/checksum"
#define MF_LEN "https://dpc.cms.gov/file_length"

/* ---- building ---- */

static dpc_manifest_file_t *add_file(apr_array_header_t *files, const char *type,
                                     const char *name, apr_int64_t count,
                                     apr_off_t length, const char *sha256)
{
    dpc_manifest_file_t *f = apr_array_push(files);

    memset(f, 0, sizeof(*f));
    f->url = apr_pstrcat(pool, MF_URL, name, NULL);
    f->type = type;
    f->count = count;
    f->length = length;
    f->sha256 = sha256;
    return f;
}

static dpc_manifest_t sample(apr_array_header_t *files)
{
    dpc_manifest_t m;
    const char *why;

    memset(&m, 0, sizeof(m));
    ck_assert_int_eq(dpc_instant_parse("2026-12-04T22:29:08.079Z", &m.transaction_time,
                                       &why), 0);
    m.request = "https://h.example/v2/Group/g/$export?_type=Patient";
    m.requires_token = 1;
    m.ext_checksum = dpc_dialect_dpc_v2.ext_checksum;
    m.ext_file_length = dpc_dialect_dpc_v2.ext_file_length;
    m.files = files;
    return m;
}

/* got must be want, byte for byte; a failure says where they part (the
 * whole texts are too long for a check message). */
static void same_bytes(const char *got, const char *want)
{
    size_t i = 0;

    while (got[i] && got[i] == want[i])
        i++;
    ck_assert_msg(got[i] == want[i], "differ at byte %lu: got \"%.40s\", want \"%.40s\"",
                  (unsigned long)i, got + i, want + i);
}

/* The exact bytes the status route sent before the manifest moved into the
 * core (captured from a running server, URLs shortened). */
START_TEST(build_bytes)
{
    apr_array_header_t *files = apr_array_make(pool, 4, sizeof(dpc_manifest_file_t));
    dpc_manifest_t m;
    json_t *j;

    add_file(files, "Coverage", "Coverage-1.ndjson", 490, 161384, "9d92");
    add_file(files, "OperationOutcome", "OperationOutcome-2.ndjson", 3, 1234567, "ab12");
    add_file(files, "Patient", "Patient-3.ndjson", 15, 42, "00ff");
    m = sample(files);
    ck_assert_ptr_nonnull(j = dpc_json_pool(pool, dpc_manifest_build(pool, &m)));
    same_bytes(dpc_json_pdump(pool, j),
        "{\"transactionTime\":\"2026-12-04T22:29:08.079Z\","
        "\"request\":\"https://h.example/v2/Group/g/$export?_type=Patient\","
        "\"requiresAccessToken\":true,"
        "\"output\":["
        "{\"type\":\"Coverage\",\"url\":\"" MF_URL "Coverage-1.ndjson\",\"count\":490,"
        "\"extension\":[{\"url\":\"" MF_SUM "\",\"valueString\":\"sha256:9d92\"},"
        "{\"url\":\"" MF_LEN "\",\"valueDecimal\":161384}]},"
        "{\"type\":\"Patient\",\"url\":\"" MF_URL "Patient-3.ndjson\",\"count\":15,"
        "\"extension\":[{\"url\":\"" MF_SUM "\",\"valueString\":\"sha256:00ff\"},"
        "{\"url\":\"" MF_LEN "\",\"valueDecimal\":42}]}],"
        "\"error\":["
        "{\"type\":\"OperationOutcome\",\"url\":\"" MF_URL "OperationOutcome-2.ndjson\","
        "\"count\":3,"
        "\"extension\":[{\"url\":\"" MF_SUM "\",\"valueString\":\"sha256:ab12\"},"
        "{\"url\":\"" MF_LEN "\",\"valueDecimal\":1234567}]}]}");
}
END_TEST

START_TEST(build_empty)
{
    apr_array_header_t *files = apr_array_make(pool, 1, sizeof(dpc_manifest_file_t));
    dpc_manifest_t m = sample(files);
    json_t *j;

    m.requires_token = 0;
    ck_assert_ptr_nonnull(j = dpc_json_pool(pool, dpc_manifest_build(pool, &m)));
    ck_assert_str_eq(dpc_json_pdump(pool, j),
        "{\"transactionTime\":\"2026-12-04T22:29:08.079Z\","
        "\"request\":\"https://h.example/v2/Group/g/$export?_type=Patient\","
        "\"requiresAccessToken\":false,\"output\":[],\"error\":[]}");
    /* a file without its checksum cannot be described: no manifest */
    add_file(files, "Patient", "Patient-1.ndjson", 1, 1, NULL);
    ck_assert_ptr_null(dpc_manifest_build(pool, &m));
}
END_TEST

/* BCDA's form: files as {"type", "url"} only, and a top-level JobID. */
START_TEST(build_bcda)
{
    apr_array_header_t *files = apr_array_make(pool, 2, sizeof(dpc_manifest_file_t));
    dpc_manifest_t m = sample(files);
    json_t *j;

    m.ext_checksum = m.ext_file_length = NULL;
    m.job_id = 42;
    add_file(files, "Patient", "d1.ndjson", 1, 1, NULL);
    add_file(files, "OperationOutcome", "d1-error.ndjson", 1, 1, NULL);
    ck_assert_ptr_nonnull(j = dpc_json_pool(pool, dpc_manifest_build(pool, &m)));
    ck_assert_str_eq(dpc_json_pdump(pool, j),
        "{\"transactionTime\":\"2026-12-04T22:29:08.079Z\","
        "\"request\":\"https://h.example/v2/Group/g/$export?_type=Patient\","
        "\"requiresAccessToken\":true,"
        "\"output\":[{\"type\":\"Patient\",\"url\":\"" MF_URL "d1.ndjson\"}],"
        "\"error\":[{\"type\":\"OperationOutcome\",\"url\":\"" MF_URL "d1-error.ndjson\"}],"
        "\"JobID\":42}");
    ck_assert_str_eq(dpc_manifest_progress_words(pool, 0, 0, 4), "Pending");
    ck_assert_str_eq(dpc_manifest_progress_words(pool, 1, 0, 4), "In Progress (0%)");
    ck_assert_str_eq(dpc_manifest_progress_words(pool, 3, 2, 3), "In Progress (66%)");
    ck_assert_str_eq(dpc_manifest_progress_words(pool, 0, 0, 0), "Pending");
    /* AB2D's */
    ck_assert_str_eq(dpc_manifest_progress_percent(pool, 0, 4), "0% complete");
    ck_assert_str_eq(dpc_manifest_progress_percent(pool, 2, 3), "66% complete");
    ck_assert_str_eq(dpc_manifest_progress_percent(pool, 0, 0), "0% complete");
}
END_TEST

/* AB2D's transactionTime: the guide's examples, and midnight and noon. */
START_TEST(human_time)
{
    static const struct { const char *instant, *human; } cases[] = {
        { "2020-03-03T22:47:24Z", "Mar 3, 2020, 10:47:24 PM" },
        { "2020-01-29T10:28:27Z", "Jan 29, 2020, 10:28:27 AM" },
        { "2026-12-05T00:05:09Z", "Dec 5, 2026, 12:05:09 AM" },
        { "2021-07-14T12:00:00.999Z", "Jul 14, 2021, 12:00:00 PM" },
    };
    apr_array_header_t *files = apr_array_make(pool, 1, sizeof(dpc_manifest_file_t));
    dpc_manifest_t m;
    const char *why;
    apr_time_t t;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(dpc_instant_parse(cases[i].instant, &t, &why), 0);
        ck_assert_str_eq(dpc_manifest_human_time(pool, t), cases[i].human);
    }
    m = sample(files);
    m.human_time = 1;
    ck_assert_str_eq(json_string_value(json_object_get(dpc_json_pool(pool,
                     dpc_manifest_build(pool, &m)), "transactionTime")),
                     "Dec 4, 2026, 10:29:08 PM");
}
END_TEST

/* What the server writes, the client reads back, field for field. */
START_TEST(build_round_trip)
{
    apr_array_header_t *files = apr_array_make(pool, 4, sizeof(dpc_manifest_file_t)), *back;
    dpc_manifest_t m;
    const char *body, *err = NULL;
    json_t *j;
    int i;

    add_file(files, "ExplanationOfBenefit", "ExplanationOfBenefit-a.ndjson", 2450,
             31071807, "98259ba9");
    add_file(files, "OperationOutcome", "OperationOutcome-b.ndjson", 1, 0, "e3b0");
    add_file(files, "Patient", "Patient-c.ndjson", APR_INT64_C(4000000000),
             APR_INT64_C(9000000000000), "ffff");
    m = sample(files);
    body = dpc_json_pdump_decref(pool, dpc_manifest_build(pool, &m));
    ck_assert_ptr_nonnull(j = dpc_manifest_load(pool, body, strlen(body), &err));
    ck_assert_int_eq(dpc_manifest_files(pool, j, &back, &err), 0);
    ck_assert_int_eq(back->nelts, 3);
    /* "output" first, then "error" */
    for (i = 0; i < 3; i++) {
        const dpc_manifest_file_t *in = &APR_ARRAY_IDX(files, i == 0 ? 0 : i == 1 ? 2 : 1,
                                                       dpc_manifest_file_t);
        const dpc_manifest_file_t *out = &APR_ARRAY_IDX(back, i, dpc_manifest_file_t);

        ck_assert_str_eq(out->url, in->url);
        ck_assert_str_eq(out->type, in->type);
        ck_assert_str_eq(out->sha256, in->sha256);
        ck_assert_int_eq(out->count, in->count);
        ck_assert_int_eq(out->length, in->length);
        ck_assert_int_eq(out->is_error, i == 2);
        ck_assert_str_eq(out->name, strrchr(in->url, '/') + 1);
    }
}
END_TEST

/* ---- status ---- */

START_TEST(status_words)
{
    ck_assert_str_eq(dpc_manifest_progress(pool, 2, 4), "In Progress (50%, 2 of 4 batches)");
    ck_assert_str_eq(dpc_manifest_progress(pool, 0, 0), "In Progress (0%, 0 of 0 batches)");
    ck_assert_str_eq(dpc_manifest_progress(pool, 1, 3), "In Progress (33%, 1 of 3 batches)");
    ck_assert_str_eq(dpc_manifest_progress(pool, 7, 7), "In Progress (100%, 7 of 7 batches)");
    /* the words the database holds (sql/004_export.sql's CHECK) */
    ck_assert_str_eq(DPC_JOB_RUNNING, "running");
    ck_assert_str_eq(DPC_JOB_COMPLETED, "completed");
    ck_assert_str_eq(DPC_JOB_FAILED, "failed");
    ck_assert_str_eq(DPC_JOB_CANCELLED, "cancelled");
    ck_assert_str_eq(DPC_EXT_CHECKSUM, MF_SUM);
    ck_assert_str_eq(DPC_EXT_FILE_LENGTH, MF_LEN);
}
END_TEST

/* ---- names ---- */

START_TEST(file_names)
{
    static const char *const bad[] = {
        "ftp://h/a", "https://h/dir/", "https://h/a%2Fb", "https://h", "https://h?x=a",
        "https:///a", "https://u@h/a", "https://h/a b", "https://h/caf\xc3\xa9",
        "https://h/.hidden", "https://h/x/..", "//h/a", "a", "", "https://h/#frag",
        NULL
    };
    int i;

    for (i = 0; bad[i]; i++)
        ck_assert_msg(!dpc_manifest_file_name(pool, bad[i]), "%s", bad[i]);
    ck_assert_ptr_null(dpc_manifest_file_name(pool, NULL));
    ck_assert_str_eq(dpc_manifest_file_name(pool, "https://h/x/a_b-1.ndjson?q=/"),
                     "a_b-1.ndjson");
    ck_assert_str_eq(dpc_manifest_file_name(pool, "HTTP://h:8080/a.ndjson#f/g"),
                     "a.ndjson");
    ck_assert_str_eq(dpc_manifest_file_name(pool, "https://[::1]:8443/v2/data/j/P-1.ndjson"),
                     "P-1.ndjson");
    ck_assert_str_eq(dpc_manifest_file_name(pool, "http://h/a..b"), "a..b");
}
END_TEST

/* ---- parsing ---- */

START_TEST(manifest_files)
{
    static const char body[] =
        "{\"transactionTime\":\"2024-01-02T03:04:05.000Z\",\"requiresAccessToken\":true,"
        "\"output\":[{\"type\":\"Patient\",\"url\":\"" MF_URL "Patient-a.ndjson\",\"count\":3,"
        "\"extension\":[{\"url\":\"" MF_SUM "\",\"valueString\":\"sha256:abc\"},"
        "{\"url\":\"" MF_LEN "\",\"valueDecimal\":1234}]}],"
        "\"error\":[{\"type\":\"OperationOutcome\",\"url\":\"" MF_URL "OO-b.ndjson?x=1\"}]}";
    const dpc_manifest_file_t *f;
    apr_array_header_t *files;
    const char *err = NULL;
    json_t *m;

    ck_assert_ptr_nonnull(m = dpc_manifest_load(pool, body, sizeof(body) - 1, &err));
    ck_assert_int_eq(dpc_manifest_files(pool, m, &files, &err), 0);
    ck_assert_int_eq(files->nelts, 2);
    f = &APR_ARRAY_IDX(files, 0, dpc_manifest_file_t);
    ck_assert_str_eq(f->name, "Patient-a.ndjson");
    ck_assert_str_eq(f->sha256, "abc");
    ck_assert_int_eq(f->length, 1234);
    ck_assert_int_eq(f->count, 3);
    ck_assert_int_eq(f->is_error, 0);
    f = &APR_ARRAY_IDX(files, 1, dpc_manifest_file_t);
    ck_assert_str_eq(f->name, "OO-b.ndjson");
    ck_assert_ptr_null(f->sha256);
    ck_assert_int_eq(f->length, -1);
    ck_assert_int_eq(f->is_error, 1);
}
END_TEST

/* Each body is a manifest whose files are refused, with this message. */
static void manifest_refused(const char *body, const char *why)
{
    apr_array_header_t *files;
    const char *err = NULL;
    json_t *m;

    ck_assert_ptr_nonnull(m = dpc_manifest_load(pool, body, strlen(body), &err));
    ck_assert_int_eq(dpc_manifest_files(pool, m, &files, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, why));
}

START_TEST(manifest_bad)
{
    const char *err = NULL;

    ck_assert_ptr_null(dpc_manifest_load(pool, "[]", 2, &err));
    ck_assert_str_eq(err, "the manifest is not a JSON object with an output array");
    ck_assert_ptr_null(dpc_manifest_load(pool, "{\"output\":{}}", 13, &err));
    ck_assert_ptr_null(dpc_manifest_load(pool, "{", 1, &err));
    ck_assert_ptr_nonnull(strstr(err, "output array: "));
    manifest_refused("{\"output\":[{}]}", "manifest: output 0 has no url");
    manifest_refused("{\"output\":[],\"error\":[{\"url\":\"" MF_URL ".hidden\"}]}",
                     "no usable file name");
    manifest_refused("{\"output\":[{\"url\":\"" MF_URL "a\"},{\"url\":\"" MF_URL "b/a\"}]}",
                     "two files named a");
    ck_assert_ptr_null(dpc_manifest_file_name(pool, "ftp://h/a"));
    ck_assert_ptr_null(dpc_manifest_file_name(pool, "https://h/dir/"));
    ck_assert_ptr_null(dpc_manifest_file_name(pool, "https://h/a%2Fb"));
    ck_assert_str_eq(dpc_manifest_file_name(pool, "https://h/x/a_b-1.ndjson?q=/"),
                     "a_b-1.ndjson");
}
END_TEST

/* Found by fuzzing: a file_length of 1e300 was cast to apr_off_t, which is
 * undefined behaviour (UBSan: "outside the range of representable values").
 * Lengths that are not a whole number of bytes fitting apr_off_t are unknown. */
static apr_off_t manifest_length_of(const char *value)
{
    const char *body = apr_psprintf(pool, "{\"output\":[{\"url\":\"" MF_URL "a\","
                                    "\"extension\":[{\"url\":\"" MF_LEN "\","
                                    "\"valueDecimal\":%s}]}]}", value);
    apr_array_header_t *files;
    const char *err = NULL;
    json_t *m;

    ck_assert_ptr_nonnull(m = dpc_manifest_load(pool, body, strlen(body), &err));
    ck_assert_int_eq(dpc_manifest_files(pool, m, &files, &err), 0);
    return APR_ARRAY_IDX(files, 0, dpc_manifest_file_t).length;
}

START_TEST(manifest_length_range)
{
    ck_assert_int_eq(manifest_length_of("1e300"), -1);
    ck_assert_int_eq(manifest_length_of("-1e300"), -1);
    ck_assert_int_eq(manifest_length_of("9223372036854775808.0"), -1);
    ck_assert_int_eq(manifest_length_of("12.5"), -1);
    ck_assert_int_eq(manifest_length_of("-3"), -1);
    ck_assert_int_eq(manifest_length_of("\"12\""), -1);
    ck_assert_int_eq(manifest_length_of("1234.0"), 1234);
    ck_assert_int_eq(manifest_length_of("9223372036854775807"), APR_INT64_MAX);
    ck_assert_int_eq(manifest_length_of("0"), 0);
}
END_TEST

/* ---- partial manifests and organized output (the IG's next version) ---- */

/* A page: the files so far and a link to the next page, at the end; an
 * organized manifest says by what and its output entries have no type
 * (its error entries keep theirs); the client reads the link back. */
START_TEST(build_page)
{
    apr_array_header_t *files = apr_array_make(pool, 2, sizeof(dpc_manifest_file_t)), *back;
    dpc_manifest_t m = sample(files);
    const char *body, *err = NULL;
    json_t *j;

    m.ext_checksum = m.ext_file_length = NULL;
    m.organized_by = "Patient";
    m.next_url = "https://h.example/v2/Jobs/j?page=2";
    add_file(files, "Patient", "Patient-1.ndjson", 1, 1, NULL);
    add_file(files, "OperationOutcome", "OperationOutcome-2.ndjson", 1, 1, NULL);
    body = dpc_json_pdump_decref(pool, dpc_manifest_build(pool, &m));
    ck_assert_str_eq(body,
        "{\"transactionTime\":\"2026-12-04T22:29:08.079Z\","
        "\"request\":\"https://h.example/v2/Group/g/$export?_type=Patient\","
        "\"requiresAccessToken\":true,\"outputOrganizedBy\":\"Patient\","
        "\"output\":[{\"url\":\"" MF_URL "Patient-1.ndjson\"}],"
        "\"error\":[{\"type\":\"OperationOutcome\",\"url\":\"" MF_URL
        "OperationOutcome-2.ndjson\"}],"
        "\"link\":[{\"relation\":\"next\",\"url\":\"https://h.example/v2/Jobs/j?page=2\"}]}");
    ck_assert_ptr_nonnull(j = dpc_manifest_load(pool, body, strlen(body), &err));
    ck_assert_str_eq(dpc_manifest_next(j), "https://h.example/v2/Jobs/j?page=2");
    ck_assert_int_eq(dpc_manifest_files(pool, j, &back, &err), 0);
    ck_assert_int_eq(back->nelts, 2);
    ck_assert_ptr_null(APR_ARRAY_IDX(back, 0, dpc_manifest_file_t).type);
    /* no link, or links of other relations: no next page */
    m.next_url = NULL;
    m.organized_by = NULL;
    body = dpc_json_pdump_decref(pool, dpc_manifest_build(pool, &m));
    ck_assert_ptr_null(strstr(body, "link"));
    ck_assert_ptr_null(strstr(body, "outputOrganizedBy"));
    ck_assert_ptr_nonnull(strstr(body, "{\"type\":\"Patient\""));
    ck_assert_ptr_null(dpc_manifest_next(dpc_manifest_load(pool, body, strlen(body), &err)));
    body = "{\"output\":[],\"link\":[{\"relation\":\"self\",\"url\":\"https://a/1\"},"
           "{\"relation\":\"next\",\"url\":\"https://a/2\"}]}";
    ck_assert_str_eq(dpc_manifest_next(dpc_manifest_load(pool, body, strlen(body), &err)),
                     "https://a/2");
    body = "{\"output\":[],\"link\":{\"relation\":\"next\",\"url\":\"https://a/2\"}}";
    ck_assert_ptr_null(dpc_manifest_next(dpc_manifest_load(pool, body, strlen(body), &err)));
}
END_TEST

/* Which places of the list a page shows, and when it links the next. */
START_TEST(pages)
{
    long first = -1, n = -1;
    int next = -1;

    /* running, nothing listed yet: page 1 is empty, no link */
    ck_assert_int_eq(dpc_manifest_page(1, 0, 0, 10, &first, &n, &next), 0);
    ck_assert_int_eq(first, 0); ck_assert_int_eq(n, 0); ck_assert_int_eq(next, 0);
    /* running, 7 of 10: no link yet */
    ck_assert_int_eq(dpc_manifest_page(1, 7, 0, 10, &first, &n, &next), 0);
    ck_assert_int_eq(n, 7); ck_assert_int_eq(next, 0);
    /* running, page full: the link, though page 2 is still empty */
    ck_assert_int_eq(dpc_manifest_page(1, 10, 0, 10, &first, &n, &next), 0);
    ck_assert_int_eq(n, 10); ck_assert_int_eq(next, 1);
    ck_assert_int_eq(dpc_manifest_page(2, 10, 0, 10, &first, &n, &next), 0);
    ck_assert_int_eq(first, 10); ck_assert_int_eq(n, 0); ck_assert_int_eq(next, 0);
    /* complete with exactly a page: no link */
    ck_assert_int_eq(dpc_manifest_page(1, 10, 1, 10, &first, &n, &next), 0);
    ck_assert_int_eq(next, 0);
    /* complete, 25: pages of 10, 10 and 5 */
    ck_assert_int_eq(dpc_manifest_page(2, 25, 1, 10, &first, &n, &next), 0);
    ck_assert_int_eq(first, 10); ck_assert_int_eq(n, 10); ck_assert_int_eq(next, 1);
    ck_assert_int_eq(dpc_manifest_page(3, 25, 1, 10, &first, &n, &next), 0);
    ck_assert_int_eq(first, 20); ck_assert_int_eq(n, 5); ck_assert_int_eq(next, 0);
    /* pages nobody was linked to */
    ck_assert_int_eq(dpc_manifest_page(4, 25, 1, 10, &first, &n, &next), -1);
    ck_assert_int_eq(dpc_manifest_page(3, 19, 0, 10, &first, &n, &next), -1);
    ck_assert_int_eq(dpc_manifest_page(0, 25, 1, 10, &first, &n, &next), -1);
    ck_assert_int_eq(dpc_manifest_page(1, 25, 1, 0, &first, &n, &next), -1);
}
END_TEST

Suite *manifest_suite(void)
{
    Suite *s = suite_create("manifest");
    TCase *tc = tcase_create("manifest");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, build_bytes);
    tcase_add_test(tc, build_empty);
    tcase_add_test(tc, build_bcda);
    tcase_add_test(tc, build_round_trip);
    tcase_add_test(tc, human_time);
    tcase_add_test(tc, status_words);
    tcase_add_test(tc, file_names);
    tcase_add_test(tc, manifest_files);
    tcase_add_test(tc, manifest_bad);
    tcase_add_test(tc, manifest_length_range);
    tcase_add_test(tc, build_page);
    tcase_add_test(tc, pages);
    suite_add_tcase(s, tc);
    return s;
}
