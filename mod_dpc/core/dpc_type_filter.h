/* dpc_type_filter.h: a kick-off's _typeFilter, from the request to the SQL
 * the workers run.
 *
 * A _typeFilter value is a comma-separated list of FHIR search queries,
 * "Type?name=value&name=value".  Queries of one type are ORed (the IG); the
 * parameters of one query are ANDed; the comma-separated values of one
 * parameter are ORed (FHIR search); a parameter repeated in one query is
 * ANDed (service-date=ge2020-01-01&service-date=lt2021-01-01 is a range).
 * A comma inside a value cannot be told from the list's own comma, so a
 * comma starts a new query only where the text after it is "Type?"; the
 * names and values of a query may also be percent-encoded once more.
 *
 * What can be filtered (the claims store keeps it in columns filled at
 * load, sql/018_claim_columns.sql, so no export parses a body):
 *   ExplanationOfBenefit?type=       the claim types carrier, dme, hha,
 *                                    hospice, inpatient, outpatient, pde,
 *                                    snf (any case; "system|code" with
 *                                    BFD's eob-type system, or none)
 *   ExplanationOfBenefit?service-date=  [ge|gt|le|lt|eq]YYYY-MM-DD against
 *                                    the billablePeriod, as FHIR compares a
 *                                    Period: ge/gt its end, le/lt its start,
 *                                    eq both within the day (a claim
 *                                    without the date compared matches no
 *                                    such value)
 *   Coverage?status=                 active, cancelled, draft,
 *                                    entered-in-error
 * Anything else (another parameter, _include, _sort, a modifier, a Patient
 * query) is not supported; a value of the wrong form is invalid.  Without
 * lenient handling either refuses the request; with it, the parameter is
 * dropped (its query keeps the others: a query left with none matches every
 * resource of its type) and a note names it.
 *
 * The filter travels on the job row as JSON text:
 *   {"ExplanationOfBenefit": [{"type": [["carrier", "pde"]],
 *                              "service-date": [["ge2020-01-01"], ["lt2021-01-01"]]}],
 *    "Coverage": [{"status": [["active"]]}]}
 * (per type its ORed queries; per parameter its ANDed value lists), and the
 * worker turns it into SQL with dpc_type_filter_sql(), which checks every
 * value again: only this module's own words and dates reach the SQL text. */
#ifndef DPC_TYPE_FILTER_H
#define DPC_TYPE_FILTER_H

#include <apr_pools.h>
#include <apr_tables.h>

typedef struct dpc_type_filter dpc_type_filter;

/* An empty filter, in p. */
dpc_type_filter *dpc_type_filter_make(apr_pool_t *p);

/* Take one _typeFilter value.  NULL when taken; else the refusal's message
 * (UTF-8, naming the query and the parameter), with *unsupported 1 for a
 * filter this server does not have, 0 for one of the wrong form.  With
 * lenient nothing is refused: each parameter dropped adds a note to notes
 * (const char *: "_typeFilter=<query>: <why>"). */
const char *dpc_type_filter_take(dpc_type_filter *f, const char *value, int lenient,
                                 apr_array_header_t *notes, int *unsupported);

/* Settle the filter against the types the export writes (const char *):
 * a query of a type not among them is refused (message returned), or under
 * lenient dropped with a note. */
const char *dpc_type_filter_settle(dpc_type_filter *f, const apr_array_header_t *types,
                                   int lenient, apr_array_header_t *notes);

/* The filter as the job row keeps it (JSON text, in p), or NULL when it
 * filters nothing. */
const char *dpc_type_filter_json(apr_pool_t *p, const dpc_type_filter *f);

/* The worker's side: the statement that reads a batch, in p.  select is
 * "SELECT ... FROM claims_resource r WHERE <the batch's conditions>",
 * which may be extended with AND.  With a filter, it reads the types
 * without a query, and, joined by UNION ALL, each filtered type with its
 * queries ORed: a part whose WHERE names its type and tests the columns,
 * so that ExplanationOfBenefit's part reads through the claims store's
 * index of claim type and billable period (claims_resource_eob_filter)
 * and fetches only the claims that match.  select itself when json is NULL
 * or empty; NULL when the stored text is not a filter this module writes
 * (the job is then failed, not exported unfiltered). */
const char *dpc_type_filter_sql(apr_pool_t *p, const char *json, const char *select);

#endif
