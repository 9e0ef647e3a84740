/* mod_dpc_export.h: Bulk Data export (kick-off, status, cancel) and the
 * hooks that let httpd itself serve the export files. */
#ifndef MOD_DPC_EXPORT_H
#define MOD_DPC_EXPORT_H

#include "dpc_export_req.h"
#include "mod_dpc_db.h"
#include "mod_dpc_op.h"

/* The kick-offs: Group/{id}/$export (call->what 0), and the
 * organization-wide Patient/$export and $export (their dispatch variants). */
#define DPC_EXPORT_GROUP    0
#define DPC_EXPORT_PATIENTS 1
#define DPC_EXPORT_SYSTEM   2
int dpc_op_export(request_rec *r, const dpc_call *call);
int dpc_op_job_status(request_rec *r, const dpc_call *call);
int dpc_op_job_cancel(request_rec *r, const dpc_call *call);
/* What a job is exported with, from this vhost's settings, as the four
 * arguments every export_start function ends with (batch, resources per
 * file, gzip, file lifetime in seconds), into args[0..3]. */
void dpc_export_settings(request_rec *r, const char **args);
/* The URL of job id (a UUID, or BCDA's number) below this API. */
const char *dpc_job_url(request_rec *r, const char *id);
/* Is id a job number: 1 to 15 digits, no leading zero? */
int dpc_job_number_valid(const char *id);
/* The statement that reads a job by the id form of this dialect, in
 * *label; 0, or -1 after the refusal (404 or 400) was sent. */
int dpc_job_key(request_rec *r, const char *id, const char **label);
/* For a dialect that refuses with 403 (refuse_with_403): when statement
 * `label` (n args) finds a row, the job or file the caller asked for is
 * someone else's: 1 after the 403 was sent; else 0 (send the 404). */
int dpc_not_ours(request_rec *r, ap_dbd_t *db, const char *label, const char **args, int n);
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
