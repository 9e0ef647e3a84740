/* dpc_dialect.h: what an API dialect is, as data.
 *
 * A dialect (DPC v2, DPC v1, ...) is one constant descriptor: its name for
 * DPCAPI, its FHIR version, its route table, where its token endpoint is and
 * which grant it takes, whether keys need a proof of possession, and the
 * words and defaults that differ between dialects.  Code asks the
 * descriptor (`d->fhir_version == DPC_FHIR_R4`, `d->key_pop_required`)
 * instead of comparing dialect names, so a new dialect is one new
 * descriptor, its route rows and its handlers, and no test of "which
 * dialect is this" can silently take another dialect's branch.
 *
 * The descriptors are listed, in the order DPCAPI names them, in
 * dpc_dialects[]; dpc_dialect_none serves nothing (mod_dpc declines). */
#ifndef DPC_DIALECT_H
#define DPC_DIALECT_H

#include <apr_pools.h>

struct dpc_route;

/* The FHIR release a dialect speaks; also the claims store's fhir_version. */
typedef enum {
    DPC_FHIR_NONE = 0,
    DPC_FHIR_STU3 = 3,          /* 3.0.2 */
    DPC_FHIR_R4 = 4             /* 4.0.1 */
} dpc_fhir_version_t;

/* How a client gets an access token at the dialect's token endpoint. */
typedef enum {
    DPC_GRANT_NONE = 0,
    DPC_GRANT_JWT_ASSERTION,    /* SMART Backend Services: client_credentials
                                 * with a signed JWT client assertion */
    DPC_GRANT_CLIENT_SECRET,    /* client_credentials with HTTP Basic id:secret */
    DPC_GRANT_BASIC             /* BCDA: POST with HTTP Basic id:secret, no body */
} dpc_grant_t;

/* How a job's id appears in URLs. */
typedef enum {
    DPC_JOB_ID_UUID = 0,        /* Jobs/{uuid} (export_job.id) */
    DPC_JOB_ID_NUMBER           /* jobs/{integer} (export_job.number) */
} dpc_job_id_form_t;

/* How the workers name a job's files. */
typedef enum {
    DPC_FILES_TYPED = 0,        /* "<Type>-<32 hex>.ndjson" */
    DPC_FILES_UUID,             /* "<uuid>.ndjson", errors "<uuid>-error.ndjson" */
    DPC_FILES_CONTRACT          /* "<contract>_0001.ndjson", errors
                                 * "<contract>_0001_error.ndjson" (AB2D) */
} dpc_file_naming_t;

/* The wording of a running job's X-Progress header. */
typedef enum {
    DPC_PROGRESS_BATCHES = 0,   /* "50% (2 of 4 batches)" */
    DPC_PROGRESS_WORDS,         /* "Pending", then "In Progress (50%)" */
    DPC_PROGRESS_PERCENT        /* "50% complete" (AB2D) */
} dpc_progress_form_t;

/* How a manifest's transactionTime is written. */
typedef enum {
    DPC_TIME_INSTANT = 0,       /* FHIR instant, UTC */
    DPC_TIME_HUMAN              /* "Mar 3, 2020, 10:47:24 PM", UTC (AB2D) */
} dpc_time_form_t;

typedef struct dpc_dialect {
    const char *name;               /* DPCAPI's argument: "dpc-v2" */
    const char *title;              /* for people: "DPC v2" */
    dpc_fhir_version_t fhir_version;
    const char *fhir_release;       /* the CapabilityStatement's "4.0.1" */
    const struct dpc_route *routes; /* ended by a NULL pattern */

    /* The token endpoint: below the base ("Token/auth"), or, starting with
     * '/', a path of its own on the host. */
    const char *token_path;
    dpc_grant_t grant;
    int key_pop_required;           /* a key upload must prove possession */
    /* The token endpoint also takes its parameters in the URL when the
     * body is empty (the DPC v1 guide's curl sends them so); the form body
     * stays the documented way. */
    int token_params_in_url;
    /* A roster write's attestation (X-Provenance) must name the provider
     * in agent.onBehalfOf (DPC v1's guide); without it (DPC v2's guide)
     * the members' ext-attributedProvider say who, and an onBehalfOf that
     * is given is still checked against them. */
    int attest_on_behalf_of_required;
    /* POST Group makes a new Group every time (DPC v2's guide: "a new
     * Group for every export request"), whose members each name their own
     * practitioner by NPI (registered on first use); otherwise one roster
     * per practitioner, registered first (DPC v1). */
    int groups_per_request;

    /* The CapabilityStatement's id, name and title. */
    const char *capability_id, *capability_name, *capability_title;
    /* The manifest's extension URLs for an output file's checksum and
     * length (dpc_manifest.h defines them: DPC_EXT_*). */
    const char *ext_checksum, *ext_file_length;
    /* Access tokens issued at the token endpoint live this long. */
    int access_token_seconds;
    /* Whose tokens these are: an access token carries its issuing
     * dialect's audience, and the bearer check accepts only its own (a DPC
     * token is refused by BCDA routes, and the other way round). */
    const char *token_audience;
    /* The bearer check looks the credential up on every request (it may be
     * rotated, expired or bound to addresses: BCDA's client secrets). */
    int credential_lookup;

    /* Exports: the job id's form, the files' names, the progress header,
     * whether the manifest has BCDA's top-level "JobID", whether a
     * kick-off refuses a repeated _type, and the software's name and
     * version for /_version and the CapabilityStatement. */
    dpc_job_id_form_t job_id_form;
    dpc_file_naming_t file_naming;
    dpc_progress_form_t progress_form;
    int manifest_job_id;
    int refuse_repeated_type;
    /* Downloads are at /data/{job}/{file} on the host (BCDA: a <Location
     * /data> with this dialect), not below the API's base. */
    int data_on_host;
    const char *software_name;

    /* ---- what AB2D differs in ---- */
    /* The token endpoint requires grant_type=client_credentials and this
     * scope (in the URL or a form body), and its answer names the scope
     * and says "Bearer"; NULL: BCDA's (no parameters, "bearer"). */
    const char *token_scope;
    /* A bearer token that is invalid, expired, disabled or another API's
     * is refused with 403 (401 stays for no token at all), and so is
     * another organization's job or file (not 404); 0: 401 and 404. */
    int refuse_with_403;
    /* Job URLs below the base: "Job/%s/$status"; the files of a job at
     * "Job/%s/file/{name}" (file_path's %s is the job).  NULL: Jobs/{id}
     * (or BCDA's jobs/{n}), files at /data/{job}/{name}. */
    const char *job_path, *file_path;
    dpc_time_form_t transaction_time_form;
    /* The status answer's Retry-After in seconds (0: 2). */
    int status_retry_after;
    /* Downloads of each file, DPCDownloadLimit's default (0: unlimited). */
    int download_limit;
    /* Kick-offs take _until (the Bulk Data IG's next version; AB2D v2). */
    int until_allowed;
    /* BCDA's encrypted files: DPCEncryptFiles' default where a <Location>
     * does not say (on for BCDA v1, whose guides say "All data files are
     * encrypted"; off for v2, as BCDA was when it retired encryption). */
    int encrypt_files_default;
} dpc_dialect;

extern const dpc_dialect dpc_dialect_none;
extern const dpc_dialect dpc_dialect_dpc_v2;
extern const dpc_dialect dpc_dialect_dpc_v1;
extern const dpc_dialect dpc_dialect_bcda_v2;
extern const dpc_dialect dpc_dialect_bcda_v1;
extern const dpc_dialect dpc_dialect_ab2d_v2;
extern const dpc_dialect dpc_dialect_ab2d_v1;

/* Every dialect DPCAPI knows, "none" first, ended by NULL. */
extern const dpc_dialect *const dpc_dialects[];

/* The dialect named (case-insensitive), or NULL. */
const dpc_dialect *dpc_dialect_find(const char *name);

/* Does it serve requests (is it not dpc_dialect_none)? */
int dpc_dialect_serves(const dpc_dialect *d);

/* "dpc-v2, dpc-v1, none": the names DPCAPI accepts, for error messages. */
const char *dpc_dialect_names(apr_pool_t *p);

#endif
