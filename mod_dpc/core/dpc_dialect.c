/* dpc_dialect.c: see dpc_dialect.h. */
#include "dpc_dialect.h"

#include <apr_strings.h>

#include "dpc_manifest.h"
#include "dpc_meta.h"
#include "dpc_route.h"
#include "dpc_token.h"

const dpc_dialect dpc_dialect_none = {
    .name = "none",
    .title = "none",
    .fhir_version = DPC_FHIR_NONE,
    .routes = dpc_routes_none,
    .grant = DPC_GRANT_NONE,
};

/* DPC v2 and v1 share their paths, their token endpoint and grant, their
 * manifest and their CapabilityStatement's names; v2 speaks R4 and asks a
 * key upload to prove possession of the private key. */
#define DPC_DIALECT_SHARED                                                \
    .routes = dpc_routes_dpc,                                             \
    .token_path = "Token/auth",                                           \
    .grant = DPC_GRANT_JWT_ASSERTION,                                     \
    .capability_id = "dpc-capabilities",                                  \
    .capability_name = "DPCCapabilities",                                 \
    .capability_title = "Data at the Point of Care (mod_dpc)",            \
    .ext_checksum = DPC_EXT_CHECKSUM,                                     \
    .ext_file_length = DPC_EXT_FILE_LENGTH,                               \
    .access_token_seconds = DPC_ACCESS_TOKEN_LIFETIME,                    \
    .token_audience = "dpc",                                              \
    .software_name = DPC_SOFTWARE_NAME,                                   \
    .until_allowed = 1

const dpc_dialect dpc_dialect_dpc_v2 = {
    .name = "dpc-v2",
    .title = "DPC v2",
    .fhir_version = DPC_FHIR_R4,
    .fhir_release = "4.0.1",
    .key_pop_required = 1,
    .groups_per_request = 1,
    DPC_DIALECT_SHARED
};

const dpc_dialect dpc_dialect_dpc_v1 = {
    .name = "dpc-v1",
    .title = "DPC v1",
    .fhir_version = DPC_FHIR_STU3,
    .fhir_release = "3.0.2",
    .key_pop_required = 0,
    .token_params_in_url = 1,
    .attest_on_behalf_of_required = 1,
    DPC_DIALECT_SHARED
};

/* BCDA v2 and v1 share the token endpoint (/auth/token, HTTP Basic), the
 * credentials, integer job ids, "<uuid>.ndjson" files and the manifest's
 * JobID; v1 speaks STU3 and has the per-type kick-offs of the guides. */
#define DPC_DIALECT_BCDA                                                  \
    .token_path = "/auth/token",                                          \
    .grant = DPC_GRANT_BASIC,                                             \
    .capability_id = "bcda-capabilities",                                 \
    .capability_name = "BCDACapabilities",                                \
    .capability_title = "Beneficiary Claims Data API (mod_dpc)",          \
    .access_token_seconds = DPC_BCDA_ACCESS_TOKEN_LIFETIME,               \
    .token_audience = "bcda",                                             \
    .credential_lookup = 1,                                               \
    .job_id_form = DPC_JOB_ID_NUMBER,                                     \
    .file_naming = DPC_FILES_UUID,                                        \
    .progress_form = DPC_PROGRESS_WORDS,                                  \
    .manifest_job_id = 1,                                                 \
    .refuse_repeated_type = 1,                                            \
    .data_on_host = 1,                                                    \
    .software_name = "Beneficiary Claims Data API",                       \
    /* the real server ignores _until, a bug (bcda-ab2d-behaviour A6):   \
     * here it is applied */                                              \
    .until_allowed = 1

const dpc_dialect dpc_dialect_bcda_v2 = {
    .name = "bcda-v2",
    .title = "BCDA v2",
    .fhir_version = DPC_FHIR_R4,
    .fhir_release = "4.0.1",
    .routes = dpc_routes_bcda_v2,
    DPC_DIALECT_BCDA
};

const dpc_dialect dpc_dialect_bcda_v1 = {
    .name = "bcda-v1",
    .title = "BCDA v1",
    .fhir_version = DPC_FHIR_STU3,
    .fhir_release = "3.0.1",
    .routes = dpc_routes_bcda_v1,
    .encrypt_files_default = 1,
    DPC_DIALECT_BCDA
};

/* AB2D v2 and v1 share everything but the FHIR release (and, once the
 * kick-off parser has it, v2's _until): Basic client credentials at the
 * guide's token path with scope clientCreds, tokens of an hour, job uuids
 * at Job/{id}/$status, "<contract>_0001.ndjson" files downloaded once. */
#define DPC_DIALECT_AB2D                                                  \
    .token_path = "/oauth2/aus2r7y3gdaFMKBol297/v1/token",                \
    .grant = DPC_GRANT_BASIC,                                             \
    .capability_id = "ab2d-capabilities",                                 \
    .capability_name = "AB2DCapabilities",                                \
    .capability_title = "Claims Data to Part D Sponsors (mod_dpc)",       \
    .ext_checksum = DPC_EXT_AB2D_CHECKSUM,                                \
    .ext_file_length = DPC_EXT_AB2D_FILE_LENGTH,                          \
    .access_token_seconds = DPC_AB2D_ACCESS_TOKEN_LIFETIME,               \
    .token_audience = "ab2d",                                             \
    .credential_lookup = 1,                                               \
    .job_id_form = DPC_JOB_ID_UUID,                                       \
    .file_naming = DPC_FILES_CONTRACT,                                    \
    .progress_form = DPC_PROGRESS_PERCENT,                                \
    .refuse_repeated_type = 1,                                            \
    .software_name = "AB2D",                                              \
    .token_scope = "clientCreds",                                         \
    .token_params_in_url = 1,                                             \
    .refuse_with_403 = 1,                                              \
    .job_path = "Job/%s/$status",                                         \
    .file_path = "Job/%s/file/",                                          \
    .transaction_time_form = DPC_TIME_HUMAN,                              \
    .status_retry_after = 5,                                              \
    .download_limit = 1

const dpc_dialect dpc_dialect_ab2d_v2 = {
    .name = "ab2d-v2",
    .title = "AB2D v2",
    .fhir_version = DPC_FHIR_R4,
    .fhir_release = "4.0.1",
    .routes = dpc_routes_ab2d,
    .until_allowed = 1,
    DPC_DIALECT_AB2D
};

const dpc_dialect dpc_dialect_ab2d_v1 = {
    .name = "ab2d-v1",
    .title = "AB2D v1",
    .fhir_version = DPC_FHIR_STU3,
    .fhir_release = "3.0.1",
    .routes = dpc_routes_ab2d,
    DPC_DIALECT_AB2D
};

const dpc_dialect *const dpc_dialects[] = {
    &dpc_dialect_none, &dpc_dialect_dpc_v2, &dpc_dialect_dpc_v1,
    &dpc_dialect_bcda_v2, &dpc_dialect_bcda_v1,
    &dpc_dialect_ab2d_v2, &dpc_dialect_ab2d_v1, NULL
};

const dpc_dialect *dpc_dialect_find(const char *name)
{
    int i;

    for (i = 0; name && dpc_dialects[i]; i++)
        if (!strcasecmp(name, dpc_dialects[i]->name))
            return dpc_dialects[i];
    return NULL;
}

int dpc_dialect_serves(const dpc_dialect *d)
{
    return d && d->fhir_version != DPC_FHIR_NONE;
}

const char *dpc_dialect_names(apr_pool_t *p)
{
    const char *out = NULL;
    int i;

    /* serving dialects first, "none" last: the order the README gives */
    for (i = 1; dpc_dialects[i]; i++)
        out = out ? apr_pstrcat(p, out, ", ", dpc_dialects[i]->name, NULL) : dpc_dialects[i]->name;
    return out ? apr_pstrcat(p, out, ", ", dpc_dialects[0]->name, NULL) : dpc_dialects[0]->name;
}
