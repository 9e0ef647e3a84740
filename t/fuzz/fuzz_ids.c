/* fuzz_ids: the identifiers and small values read out of URLs, query
 * strings and bodies.
 *
 *   dpc_mbi_valid, dpc_mbi_normalize          MBIs (?identifier=, members)
 *   dpc_npi_valid, dpc_npi_check_digit        NPIs
 *   dpc_instant_parse (+ dpc_instant_format)  FHIR instants (_since,
 *                                             Provenance.recorded): a parsed
 *                                             instant formats to text that
 *                                             parses to it, to the ms
 *   dpc_birth_date_check                      birthDate
 *   dpc_utf8_valid, dpc_utf8_clean, dpc_utf8_seq
 *   dpc_uuid_is_valid                         ids in paths
 *   dpc_export_name_valid, dpc_export_type_valid, dpc_export_job_dir
 *                                             export file names in
 *                                             /data/{job}/{file}
 *   dpc_job_split_types                       _type lists
 *   dpc_job_problem_line                      error lines quoting them
 */
#include "fuzz.h"

#include <apr_lib.h>

#include "dpc_export.h"
#include "dpc_fhir.h"
#include "dpc_job.h"
#include "dpc_mbi.h"
#include "dpc_res.h"
#include "dpc_token.h"

static void mbi_npi(const char *s)
{
    char out[DPC_MBI_LEN + 1];
    int valid = dpc_mbi_valid(s), cd;

    FUZZ_CHECK(!valid || strlen(s) == DPC_MBI_LEN);
    if (dpc_mbi_normalize(s, out)) {
        FUZZ_CHECK(dpc_mbi_valid(out));
        FUZZ_CHECK(!valid || !strcmp(out, s));
    }
    FUZZ_CHECK(strlen(out) <= DPC_MBI_LEN);
    if (dpc_npi_valid(s)) {
        FUZZ_CHECK(strlen(s) == DPC_NPI_LEN);
        FUZZ_CHECK(dpc_npi_check_digit(s) == s[9]);
    }
    cd = dpc_npi_check_digit(s);
    FUZZ_CHECK(cd == -1 || (cd >= '0' && cd <= '9'));
}

static void instants(apr_pool_t *p, const char *s)
{
    apr_time_t t, t2;
    const char *why, *text;

    if (dpc_instant_parse(s, &t, &why)) {
        FUZZ_CHECK(why != NULL);
        return;
    }
    FUZZ_CHECK(why == NULL);
    if (t < 0)
        return;     /* before 1970: formatting is not defined for it */
    text = dpc_instant_format(p, t);
    FUZZ_CHECK(dpc_instant_parse(text, &t2, &why) == 0);
    FUZZ_CHECK(t2 == t - t % 1000);
    (void)dpc_birth_date_check(s, t, &why);
}

static void text(apr_pool_t *p, const char *s)
{
    const char *clean = dpc_utf8_clean(p, s);

    FUZZ_CHECK(dpc_utf8_valid(clean));
    FUZZ_CHECK(!dpc_utf8_valid(s) || clean == s);
    if (*s)
        FUZZ_CHECK(dpc_utf8_seq((const unsigned char *)s) <= 4);
}

static void export_names(apr_pool_t *p, const char *s)
{
    const char **types, *bad, *dir, *line;
    int n, i;

    if (dpc_export_name_valid(s))
        FUZZ_CHECK(!strchr(s, '/') && !strstr(s, "..") && strlen(s) > 40);
    if (dpc_export_type_valid(s))
        FUZZ_CHECK(apr_isupper(*s) && strlen(s) <= DPC_EXPORT_TYPE_MAX);
    if ((dir = dpc_export_job_dir(p, "/srv/dpc", s)) != NULL)
        FUZZ_CHECK(dpc_uuid_is_valid(s) && !strncmp(dir, "/srv/dpc/", 9));
    n = dpc_job_split_types(p, s, &types, &bad);
    for (i = 0; i < n; i++)
        FUZZ_CHECK(dpc_export_type_valid(types[i]));
    FUZZ_CHECK(n != -1 || bad != NULL);
    if ((line = dpc_job_problem_line(p, "ignored", s)) != NULL) {
        json_t *v = json_loads(line, 0, NULL);

        FUZZ_CHECK(json_is_object(v) && !strchr(line, '\n'));
        json_decref(v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *s = fuzz_text(p, data, size), *why;

    mbi_npi(s);
    instants(p, s);
    (void)dpc_birth_date_check(s, apr_time_from_sec(1700000000), &why);
    text(p, s);
    if (dpc_uuid_is_valid(s))
        FUZZ_CHECK(strlen(s) == 36);
    export_names(p, s);
    fuzz_end(p);
    return 0;
}
