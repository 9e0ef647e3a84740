/* fuzz_manifest: the bulk data manifest dpc-client downloads by.
 *
 *   dpc_manifest_load       the status body: an object with an output array
 *   dpc_manifest_files      its output and error files: every name is a
 *   dpc_manifest_file_name  plain file name (no '/', no leading dot, only
 *                           letters, digits and "._-"), names are unique,
 *                           and a length is -1 or at least 0
 *   dpc_manifest_build      what was read, built again and read back,
 *                           lists the same files by url
 */
#include "fuzz.h"

#include <apr_lib.h>

#include "dpc_fhir.h"
#include "dpc_manifest.h"

static void check_name(const char *name)
{
    const char *c;

    FUZZ_CHECK(name && *name && *name != '.');
    for (c = name; *c; c++)
        FUZZ_CHECK(apr_isalnum(*c) || *c == '.' || *c == '_' || *c == '-');
}

/* Build a manifest of the files read (a missing type or checksum filled
 * in), read it back: the same urls, each once, in output-then-error order. */
static void round_trip(apr_pool_t *p, apr_array_header_t *files)
{
    dpc_manifest_t m;
    apr_array_header_t *back;
    const char *body, *err = NULL;
    json_t *j;
    int i, k, n = 0;

    for (i = 0; i < files->nelts; i++) {
        dpc_manifest_file_t *f = &APR_ARRAY_IDX(files, i, dpc_manifest_file_t);

        if (!f->type)
            f->type = "Patient";
        if (!f->sha256)
            f->sha256 = "";
    }
    memset(&m, 0, sizeof(m));
    m.request = "https://h/$export";
    m.ext_checksum = DPC_EXT_CHECKSUM;
    m.ext_file_length = DPC_EXT_FILE_LENGTH;
    m.files = files;
    FUZZ_CHECK((j = dpc_manifest_build(p, &m)) != NULL);
    body = dpc_json_pdump_decref(p, j);
    FUZZ_CHECK((j = dpc_manifest_load(p, body, strlen(body), &err)) != NULL);
    FUZZ_CHECK(dpc_manifest_files(p, j, &back, &err) == 0);
    FUZZ_CHECK(back->nelts == files->nelts);
    for (k = 0; k < 2; k++)         /* output, then error */
        for (i = 0; i < files->nelts; i++) {
            const dpc_manifest_file_t *f = &APR_ARRAY_IDX(files, i, dpc_manifest_file_t);

            if ((strcmp(f->type, DPC_MANIFEST_ERROR_TYPE) == 0) != k)
                continue;
            FUZZ_CHECK(!strcmp(APR_ARRAY_IDX(back, n, dpc_manifest_file_t).url, f->url));
            FUZZ_CHECK(!strcmp(APR_ARRAY_IDX(back, n, dpc_manifest_file_t).sha256, f->sha256));
            n++;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    apr_array_header_t *files;
    const char *err = NULL, *name;
    json_t *m;
    int i, j;

    if ((name = dpc_manifest_file_name(p, fuzz_text(p, data, size))) != NULL)
        check_name(name);
    if (!(m = dpc_manifest_load(p, (const char *)data, size, &err))) {
        FUZZ_CHECK(err != NULL);
        fuzz_end(p);
        return 0;
    }
    if (dpc_manifest_files(p, m, &files, &err) == 0) {
        for (i = 0; i < files->nelts; i++) {
            const dpc_manifest_file_t *f = &APR_ARRAY_IDX(files, i, dpc_manifest_file_t);

            check_name(f->name);
            FUZZ_CHECK(f->url && f->length >= -1);
            for (j = 0; j < i; j++)
                FUZZ_CHECK(strcmp(APR_ARRAY_IDX(files, j, dpc_manifest_file_t).name, f->name));
        }
        round_trip(p, files);
    }
    else
        FUZZ_CHECK(err && !strncmp(err, "manifest: ", 10));
    fuzz_end(p);
    return 0;
}
