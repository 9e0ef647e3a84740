/* mod_dpc_export.h: Bulk Data export (kick-off, status, cancel) and the
 * hooks that let httpd itself serve the export files. */
#ifndef MOD_DPC_EXPORT_H
#define MOD_DPC_EXPORT_H

#include "dpc_export_req.h"
#include "mod_dpc_db.h"
#include "mod_dpc_op.h"

int dpc_op_export(request_rec *r, const dpc_call *call);
int dpc_op_job_status(request_rec *r, const dpc_call *call);
int dpc_op_job_cancel(request_rec *r, const dpc_call *call);
/* The URL of job id (a UUID, or BCDA's number) below this API. */
const char *dpc_job_url(request_rec *r, const char *id);
/* Is id a job number: 1 to 15 digits, no leading zero? */
int dpc_job_number_valid(const char *id);
/* The statement that reads a job by the id form of this dialect, in
 * *label; 0, or -1 after the refusal (404 or 400) was sent. */
int dpc_job_key(request_rec *r, const char *id, const char **label);
int dpc_data_translate(request_rec *r, const char *path);
int dpc_data_map(request_rec *r);
int dpc_data_access(request_rec *r);
int dpc_data_fixups(request_rec *r);

/* A dialect's own refusal of a kick-off parameter by its name: NULL takes
 * it, else the 400's message. */
typedef const char *dpc_param_screen(request_rec *r, const char *name);

/* The query string's kick-off parameters into k (each screened first, when
 * screen is given): 0, or -1 after the 400 OperationOutcome was sent. */
int dpc_export_query_params(request_rec *r, dpc_export_req *k, dpc_param_screen *screen);

/* The kick-off's output options (allowPartialManifests, organizeOutputBy),
 * set for the job row's defaults (sql/019_partial_manifests.sql) by the
 * start statements, DPC's and BCDA's: two parameters, after all others,
 * 'true'/'false' and the resource type or ''.  OFFSET 0 keeps the
 * subquery a scan of its own, run before the start function. */
#define DPC_SQL_OUTPUT_OPTIONS                                                      \
    "(SELECT set_config('dpc.allow_partial', %s, true),"                           \
    " set_config('dpc.organize_by', %s, true) OFFSET 0) out"

/* The two parameters of DPC_SQL_OUTPUT_OPTIONS, from the settled request. */
void dpc_export_output_args(const dpc_export_req *k, const char *args[2]);

extern const dpc_statement dpc_export_statements[];

#endif
