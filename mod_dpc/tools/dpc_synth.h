/* dpc_synth.h: the deterministic synthetic claims-data generator.
 *
 * Beneficiary `index` of data set `seed` is a pure function of (seed, index):
 * it does not depend on how many beneficiaries are generated, in what order,
 * or on what machine (integer arithmetic only), so "same seed, same bytes"
 * holds and data sets can be extended with a higher index range.
 *
 * Each beneficiary has a synthetic MBI in BFD's form (an S in the second
 * position, which no real MBI has; index 0 has the DPC guides' 2SW4N00AA00)
 * and a negative bene id, as BFD's synthetic data has, a Patient, Coverage for parts A,
 * B and D (C for some), and on average ~80 ExplanationOfBenefit claims of
 * the eight Blue Button claim types (about 5% have none), each in STU3
 * (fhir_version 3) and R4 (fhir_version 4).  Resources are rendered from the
 * templates in mod_dpc/tools/synth/templates (derived from the Blue Button sample
 * resources, field for field) as compact JSON of at most 25,000 bytes.
 *
 * Ids: Patient id = bene id; Coverage "part-X-<bene id>"; EOB
 * "<type>-<claim id>" with claim id = bene number * 1000 + claim number, so
 * claim ids are unique wherever MBIs are.  MBIs are a keyed permutation of
 * the index (unique within a seed); the bene id is a fixed permutation of
 * the MBI's number, so the same MBI always has the same bene id.
 *
 * A generator is not thread-safe: use one per thread.
 */
#ifndef DPC_SYNTH_H
#define DPC_SYNTH_H

#include <stdint.h>

#include <apr_pools.h>

/* Beneficiary indexes must be below this (the synthetic MBI space is
 * ~6.5e11, and historic MBIs use the upper half). */
#define DPC_SYNTH_MAX_INDEX (UINT64_C(1) << 37)
/* Upper bound of a body's size, by construction. */
#define DPC_SYNTH_MAX_BODY 25000
/* At most this many claims per beneficiary (claim ids reserve 3 digits). */
#define DPC_SYNTH_MAX_CLAIMS 999

typedef struct dpc_synth dpc_synth;

/* One row of claims_resource.  Pointers are valid during the sink call. */
typedef struct dpc_synth_row {
    const char *mbi;
    const char *bene_id;
    int fhir_version;               /* 3 (STU3) or 4 (R4) */
    const char *resource_type;      /* Patient, Coverage, ExplanationOfBenefit */
    const char *resource_id;
    const char *last_updated;       /* "2023-04-05T12:34:56.789+00:00" */
    int64_t last_updated_us;        /* the same instant, us since 1970 UTC */
    const char *claim_type;         /* "carrier" .. "snf" for EOBs, else NULL */
    const char *service_start;      /* EOBs: billablePeriod "YYYY-MM-DD", else NULL */
    const char *service_end;
    const char *coverage_status;    /* Coverage: its status, else NULL */
    const char *body;               /* compact JSON, not NUL-terminated */
    apr_size_t body_len;
} dpc_synth_row;

/* Called for each row; a non-zero return stops the beneficiary and is
 * returned by dpc_synth_beneficiary(). */
typedef int dpc_synth_sink_fn(void *ctx, const dpc_synth_row *row);

/* A beneficiary's row of the beneficiary table, and its size. */
typedef struct dpc_synth_bene {
    char mbi[12];
    char bene_id[24];
    char last_updated[32];          /* the latest of its resources' */
    int64_t last_updated_us;
    int claims;                     /* EOBs per FHIR version */
    int resources;                  /* rows it emits, both versions */
} dpc_synth_bene;

/* Compile the templates and load the code lists once; everything is
 * allocated from p and released with it. */
apr_status_t dpc_synth_create(apr_pool_t *p, dpc_synth **out);

/* Describe beneficiary `index` of data set `seed` without rendering it. */
apr_status_t dpc_synth_bene_info(dpc_synth *g, uint64_t seed, uint64_t index,
                                 dpc_synth_bene *out);

/* Render every row of beneficiary `index` into sink: Patient, Coverage, then
 * claims, each in version 3 then 4.  Returns 0, the sink's non-zero value,
 * or -1 on a bad index or memory exhaustion (logged). */
int dpc_synth_beneficiary(dpc_synth *g, uint64_t seed, uint64_t index,
                          dpc_synth_sink_fn *sink, void *ctx);

/* The eight claim types, in a fixed order ("carrier", "dme", "hha",
 * "hospice", "inpatient", "outpatient", "pde", "snf"). */
#define DPC_SYNTH_CLAIM_TYPES 8
const char *dpc_synth_claim_type(int i);

#endif
