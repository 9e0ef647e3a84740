/* dpc_header.h: reading HTTP request header values (RFC 9110 lists). */
#ifndef DPC_HEADER_H
#define DPC_HEADER_H

#include <apr_pools.h>

/* Does the comma-separated list `value` hold `token`, compared without
 * case, ignoring each item's parameters (";...") and spaces?  NULL holds
 * nothing.  For Prefer ("respond-async", "handling=lenient") and Accept. */
int dpc_header_has(apr_pool_t *p, const char *value, const char *token);

/* May a response be sent with content coding `coding` (e.g. "gzip") to a
 * client that sent Accept-Encoding `value` (RFC 9110 12.5.3)?  The coding's
 * own entry decides if there is one, else "*" does, else it may not; an
 * entry with q=0 (or a q that is not a number) refuses.  "x-gzip" counts as
 * "gzip".  NULL (no header) allows nothing but identity. */
int dpc_header_accepts_coding(apr_pool_t *p, const char *value, const char *coding);

#endif
