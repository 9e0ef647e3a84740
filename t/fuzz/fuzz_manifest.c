/* fuzz_manifest: the bulk data manifest dpc-client downloads by.
 *
 *   dpc_manifest_load       the status body: an object with an output array
 *   dpc_manifest_files      its output and error files: every name is a
 *   dpc_manifest_file_name  plain file name (no '/', no leading dot, only
 *                           letters, digits and "._-"), names are unique,
 *                           and a length is -1 or at least 0
 */
#include "fuzz.h"

#include <apr_lib.h>

#include "dpc_http.h"

static void check_name(const char *name)
{
    const char *c;

    FUZZ_CHECK(name && *name && *name != '.');
    for (c = name; *c; c++)
        FUZZ_CHECK(apr_isalnum(*c) || *c == '.' || *c == '_' || *c == '-');
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
    }
    else
        FUZZ_CHECK(err && !strncmp(err, "manifest: ", 10));
    fuzz_end(p);
    return 0;
}
