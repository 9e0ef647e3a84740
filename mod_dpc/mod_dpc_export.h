/* mod_dpc_export.h: Bulk Data export (kick-off, status, cancel) and the
 * hooks that let httpd itself serve the export files. */
#ifndef MOD_DPC_EXPORT_H
#define MOD_DPC_EXPORT_H

#include "mod_dpc_db.h"
#include "mod_dpc_op.h"

int dpc_op_export(request_rec *r, const dpc_call *call);
int dpc_op_job_status(request_rec *r, const dpc_call *call);
int dpc_op_job_cancel(request_rec *r, const dpc_call *call);
int dpc_data_translate(request_rec *r, const char *path);
int dpc_data_map(request_rec *r);
int dpc_data_access(request_rec *r);
int dpc_data_fixups(request_rec *r);

extern const dpc_statement dpc_export_statements[];

#endif
