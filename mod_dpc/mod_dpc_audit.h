/* mod_dpc_audit.h: audit rows written after the response (tokens issued,
 * files downloaded). */
#ifndef MOD_DPC_AUDIT_H
#define MOD_DPC_AUDIT_H

#include <jansson.h>

#include "mod_dpc_db.h"

/* httpd's log_transaction hook: one audit row for a request whose handler
 * set the note "dpc-audit" (with "dpc-org", "dpc-credential", "dpc-job",
 * "dpc-data", "dpc-scope" as they apply).  Always DECLINED. */
int dpc_audit_log(request_rec *r);

/* Ask for one audit row of this request, written once the response is
 * sent: `action` by `actor` ("account:<email>"), for organization org (or
 * NULL), with detail (an object, taken; or NULL). */
void dpc_audit_note(request_rec *r, const char *action, const char *actor, const char *org,
                    json_t *detail);

#endif
