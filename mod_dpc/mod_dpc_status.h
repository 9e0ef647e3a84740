/* mod_dpc_status.h: mod_dpc's section of mod_status's /server-status. */
#ifndef MOD_DPC_STATUS_H
#define MOD_DPC_STATUS_H

#include "mod_dpc_db.h"

/* mod_status's status_hook: the export figures as an HTML table, or as
 * "key: value" lines with AP_STATUS_SHORT (?auto). */
int dpc_status_hook(request_rec *r, int flags);

extern const dpc_statement dpc_status_statements[];

#endif
