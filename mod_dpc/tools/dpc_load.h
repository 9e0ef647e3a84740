/* dpc_load.h: what `dpcctl load` asks of one resource it reads: BFD-shaped
 * Patient, Coverage and ExplanationOfBenefit, in STU3 or R4.  Pure functions
 * of the parsed JSON (no database, no files), so they are unit-tested.
 *
 * A resource is good when it is a JSON object with a resourceType of the
 * three, an id that is a FHIR id, meta.lastUpdated that is a FHIR instant
 * (or BFD's placeholder, see below), a FHIR version that its shape tells
 * (or that the caller forces), and a beneficiary:
 *  - a Patient is the beneficiary: its id is the bene id, and its MBI is the
 *    identifier of system DPC_LOAD_MBI_SYSTEM marked current (the
 *    identifier-currency extension BFD puts on the identifier in STU3 and on
 *    its type's coding in R4); historic ones are ignored; without any
 *    currency mark, the first such identifier.  BFD's mbi-hash identifier
 *    is not an MBI.
 *  - a Coverage names it in beneficiary.reference, an ExplanationOfBenefit
 *    in patient.reference, both "Patient/<bene id>".
 *
 * The version from the shape (BFD's resources differ in these places):
 *  - ExplanationOfBenefit: insurance is an array in R4, an object in STU3;
 *  - Coverage: R4 has class, STU3 grouping;
 *  - Patient: R4 identifiers carry a type, STU3 ones never do.
 *
 * The placeholder: BFD's published endpoint samples write "IGNORED_FIELD"
 * wherever the server's value varies from run to run, meta.lastUpdated
 * included.  Such a resource is good; the loader decides the time.
 */
#ifndef DPC_LOAD_H
#define DPC_LOAD_H

#include <stdint.h>

#include <apr_pools.h>
#include <jansson.h>

#define DPC_LOAD_MBI_SYSTEM "http://hl7.org/fhir/sid/us-mbi"
#define DPC_LOAD_CURRENCY_URL \
    "https://bluebutton.cms.gov/resources/codesystem/identifier-currency"
#define DPC_LOAD_PLACEHOLDER "IGNORED_FIELD"
#define DPC_LOAD_EOB_TYPE_SYSTEM "https://bluebutton.cms.gov/resources/codesystem/eob-type"

/* What dpc_load_check() found in a good resource; strings point into the
 * JSON (valid while it lives) or into the pool. */
typedef struct dpc_load_res {
    const char *type;           /* Patient, Coverage, ExplanationOfBenefit */
    const char *id;
    int fhir_version;           /* 3 (STU3) or 4 (R4) */
    int64_t last_updated_us;    /* us since 1970 UTC; 0 when placeholder */
    int placeholder;            /* meta.lastUpdated was DPC_LOAD_PLACEHOLDER */
    const char *bene_id;        /* Patient: its id; else from the reference */
    const char *mbi;            /* Patient: its current MBI, if well-formed */
    const char *mbi_invalid;    /* Patient: a current MBI that is not one */
    /* The claims store's filter columns (sql/018_claim_columns.sql, whose
     * backfill follows the same rules): */
    const char *claim_type;     /* EOB: dpc_load_claim_type() of the first
                                 * type.coding of DPC_LOAD_EOB_TYPE_SYSTEM
                                 * whose code is one of the eight; else NULL */
    const char *service_start;  /* EOB: dpc_load_day() of billablePeriod.start */
    const char *service_end;    /* ... and of billablePeriod.end */
    const char *coverage_status;/* Coverage: its status string, else NULL */
} dpc_load_res;

/* Check resource r; version is 3 or 4 to force it, 0 to tell it from the
 * shape.  NULL when good (out filled in), else the reason, in p. */
const char *dpc_load_check(apr_pool_t *p, const json_t *r, int version,
                           dpc_load_res *out);

/* The FHIR version r's shape tells: 3, 4, or 0 when it does not. */
int dpc_load_version(const json_t *r);

/* A Patient's current MBI (see above), or NULL.  When the current
 * identifier's value is not a well-formed MBI, NULL and *invalid = the
 * value; otherwise *invalid = NULL. */
const char *dpc_load_patient_mbi(const json_t *patient, const char **invalid);

/* 1 if s is a well-formed MBI, or one of BFD's synthetic MBIs (an S
 * second, never a real beneficiary's, so taking them costs production
 * nothing; `dpcctl synth` writes them). */
int dpc_load_mbi_valid(const char *s);

/* The fast path of dpc_load_check() for the bulk of a load, one NDJSON
 * line of len bytes (not NUL-terminated): it checks that the text is JSON
 * (RFC 8259: strict grammar, well-formed UTF-8, no control characters in
 * strings, paired surrogates, no \u0000) without building it, and reads
 * only what a Coverage or an ExplanationOfBenefit needs.  Returns 1 when
 * the line is a good one (out filled in exactly as dpc_load_check() would,
 * its strings in p), else 0, and then the caller parses the line and calls dpc_load_check(),
 * which decides: every Patient and Bundle, any line that is not JSON or not
 * a good resource, escapes in the fields read, BFD's placeholder, numbers
 * jansson might refuse (over 18 digits, exponents over 2 digits). */
int dpc_load_quick(apr_pool_t *p, const char *text, apr_size_t len, int version,
                   dpc_load_res *out);

/* The claim type ("carrier", "dme", "hha", "hospice", "inpatient",
 * "outpatient", "pde", "snf") that a BFD eob-type code names, in any case
 * (BFD writes them in capitals); NULL for any other code. */
const char *dpc_load_claim_type(const char *code);

/* The "YYYY-MM-DD" of a FHIR date or dateTime s that names a whole day of
 * the calendar, in p; NULL for anything else (NULL, "2015-05", 2015-02-30). */
const char *dpc_load_day(apr_pool_t *p, const char *s);

/* 1 if s is a FHIR id: 1 to 64 of A-Z a-z 0-9 - and . */
int dpc_load_id_valid(const char *s);

#endif
