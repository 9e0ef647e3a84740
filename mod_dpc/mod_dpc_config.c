/* mod_dpc_config.c: the DPC* directives.  Records and merge rules are in the
 * httpd-free dpc_config.c (unit-tested); here we parse and check. */
#include "mod_dpc_config.h"

#include <http_core.h>
#include <apr_strings.h>
#include <unistd.h>

#include "dpc_log.h"
#include "mod_dpc_ab2d.h"
#include "mod_dpc_audit.h"
#include "mod_dpc_auth.h"
#include "mod_dpc_bcda.h"
#include "mod_dpc_bcda_auth.h"
#include "mod_dpc_creds.h"
#include "mod_dpc_db.h"
#include "mod_dpc_discovery.h"
#include "mod_dpc_export.h"
#include "mod_dpc_groups.h"
#include "mod_dpc_org.h"
#include "mod_dpc_people.h"
#include "mod_dpc_status.h"
#include "mod_dpc_portal.h"

int dpc_api_configured;

/* The main server's record brings the configuration's module-wide record; a
 * virtual host's gets it from the merge. */
void *dpc_create_srv(apr_pool_t *p, server_rec *s)
{
    return dpc_srv_conf_create(p, s->is_virtual ? NULL : dpc_global_conf_create(p));
}

void *dpc_merge_srv(apr_pool_t *p, void *base, void *add)
{
    return dpc_srv_conf_merge(p, base, add);
}

void *dpc_create_dir(apr_pool_t *p, char *dir)
{
    return dpc_dir_conf_create(p, dir);
}

void *dpc_merge_dir(apr_pool_t *p, void *base, void *add)
{
    return dpc_dir_conf_merge(p, base, add);
}

/* The module-wide directives (dpc_global_conf) say how this host runs its
 * export workers: they belong outside <VirtualHost>; the rest may differ per
 * vhost. */
#define GLOBAL_ONLY_CHECK(cmd)                                              \
    do {                                                                    \
        const char *e_ = ap_check_cmd_context(cmd, GLOBAL_ONLY);            \
        if (e_)                                                             \
            return e_;                                                      \
    } while (0)

static const char *set_export_root(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    GLOBAL_ONLY_CHECK(cmd);
    dpc_global(cmd->server)->export_root = ap_server_root_relative(cmd->pool, arg);
    return NULL;
}

static const char *set_workers(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    GLOBAL_ONLY_CHECK(cmd);
    return dpc_parse_int(cmd->pool, "DPCWorkers", arg, 0, 64,
                         &dpc_global(cmd->server)->workers);
}

static const char *set_worker_db(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    GLOBAL_ONLY_CHECK(cmd);
    dpc_global(cmd->server)->worker_db = arg;
    return NULL;
}

/* DPCAuditRetention DURATION | forever */
static const char *set_audit_retention(cmd_parms *cmd, void *d, const char *arg)
{
    apr_interval_time_t *t;

    (void)d;
    /* before the record is reached: a <VirtualHost> has none of its own
     * until the merge */
    GLOBAL_ONLY_CHECK(cmd);
    t = &dpc_global(cmd->server)->audit_retention;
    if (!strcasecmp(arg, "forever")) {
        *t = 0;
        return NULL;
    }
    return dpc_parse_duration_max(cmd->pool, "DPCAuditRetention", arg, 100 * 366, t);
}

static const char *set_token_secret(cmd_parms *cmd, void *d, const char *cur,
                                    const char *prev)
{
    dpc_srv_conf *c = dpc_srv(cmd->server);

    (void)d;
    c->token_secret_file = ap_server_root_relative(cmd->pool, cur);
    c->token_secret_prev_file = prev ? ap_server_root_relative(cmd->pool, prev) : NULL;
    return NULL;
}

static const char *set_client_token_lifetime(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return dpc_parse_duration(cmd->pool, "DPCClientTokenLifetime", arg,
                              &dpc_srv(cmd->server)->client_token_lifetime);
}

static const char *set_int(cmd_parms *cmd, const char *arg, int min, int max)
{
    dpc_srv_conf *c = dpc_srv(cmd->server);
    int *field = (int *)((char *)c + (apr_size_t)cmd->info);

    return dpc_parse_int(cmd->pool, cmd->cmd->name, arg, min, max, field);
}

static const char *set_key_min_bits(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return set_int(cmd, arg, 1024, 16384);
}

static const char *set_count(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return set_int(cmd, arg, 1, 10000000);
}

static const char *set_gzip(cmd_parms *cmd, void *d, int on)
{
    (void)d;
    dpc_srv(cmd->server)->export_gzip = on;
    return NULL;
}

static const char *set_synthetic_ids(cmd_parms *cmd, void *d, int on)
{
    (void)d;
    dpc_srv(cmd->server)->synthetic_ids = on;
    return NULL;
}

static const char *set_file_lifetime(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return dpc_parse_duration(cmd->pool, "DPCFileLifetime", arg,
                              &dpc_srv(cmd->server)->file_lifetime);
}

/* Every statement the handlers run, prepared with the first DPCAPI. */
static const dpc_statement *const statement_tables[] = {
    dpc_auth_statements, dpc_creds_statements, dpc_org_statements,
    dpc_people_statements, dpc_group_statements, dpc_export_statements,
    dpc_bcda_statements, dpc_bcda_auth_statements, dpc_ab2d_statements, dpc_status_statements, dpc_discovery_statements,
    dpc_portal_statements, dpc_portal_account_statements, dpc_portal_org_statements, NULL
};

static const char *set_api(cmd_parms *cmd, void *d, const char *arg)
{
    dpc_dir_conf *c = d;
    const char *err = dpc_parse_api(cmd->pool, arg, &c->dialect);

    if (err || !dpc_dialect_serves(c->dialect))
        return err;
    if (cmd->path == NULL)
        return "DPCAPI belongs in a <Location> section: its path is the API's base";
    dpc_api_configured = 1;
    return dpc_db_prepare_all(cmd, statement_tables);
}

static const char *set_public_url(cmd_parms *cmd, void *d, const char *arg)
{
    size_t n = strlen(arg);

    if (strncasecmp(arg, "https://", 8) && strncasecmp(arg, "http://", 7))
        return "DPCPublicURL must be an absolute http:// or https:// URL";
    while (n > 8 && arg[n - 1] == '/')
        n--;
    ((dpc_dir_conf *)d)->public_url = apr_pstrmemdup(cmd->pool, arg, n);
    return NULL;
}

static const char *set_download_limit(cmd_parms *cmd, void *d, const char *arg)
{
    return dpc_parse_int(cmd->pool, "DPCDownloadLimit", arg, 0, 1000000,
                         &((dpc_dir_conf *)d)->download_limit);
}

static const char *set_token_endpoint(cmd_parms *cmd, void *d, int on)
{
    if (cmd->path == NULL)
        return "DPCTokenEndpoint belongs in a <Location> section: its path is the endpoint";
    ((dpc_dir_conf *)d)->token_endpoint = on;
    return NULL;
}

/* ---- the Sandbox Portal (mod_dpc_portal*.c) ---- */

static const char *set_portal(cmd_parms *cmd, void *d, int on)
{
    dpc_dir_conf *c = d;

    if (cmd->path == NULL)
        return "DPCPortal belongs in a <Location> section: its path is the portal's base";
    c->portal.on = on;
    c->portal.base_path = c->base_path;
    if (!on)
        return NULL;
    dpc_portal_configured = 1;
    return dpc_db_prepare_all(cmd, statement_tables);
}

static const char *set_encrypt_files(cmd_parms *cmd, void *d, int on)
{
    (void)cmd;
    ((dpc_dir_conf *)d)->encrypt_files = on;
    return NULL;
}

static const char *set_portal_signup(cmd_parms *cmd, void *d, int on)
{
    (void)cmd;
    ((dpc_dir_conf *)d)->portal.signup = on;
    return NULL;
}

static const char *set_portal_api(cmd_parms *cmd, void *d, const char *arg)
{
    size_t n = strlen(arg);

    if (arg[0] != '/' && strncasecmp(arg, "https://", 8) && strncasecmp(arg, "http://", 7))
        return "DPCPortalAPI is the DPC v2 API's base: a path (/api/v2) or an absolute "
               "http(s):// URL";
    while (n > 1 && arg[n - 1] == '/')
        n--;
    ((dpc_dir_conf *)d)->portal.api = apr_pstrmemdup(cmd->pool, arg, n);
    return NULL;
}

static const char *set_portal_sendmail(cmd_parms *cmd, void *d, const char *arg)
{
    (void)cmd;
    ((dpc_dir_conf *)d)->portal.sendmail = arg;
    return NULL;
}

const command_rec dpc_cmds[] = {
    AP_INIT_TAKE1("DPCExportRoot", set_export_root, NULL, RSRC_CONF,
                  "directory where export workers write NDJSON files"),
    AP_INIT_TAKE1("DPCWorkers", set_workers, NULL, RSRC_CONF,
                  "number of export worker processes httpd starts (0-64, default 1)"),
    AP_INIT_TAKE1("DPCWorkerDatabase", set_worker_db, NULL, RSRC_CONF,
                  "libpq conninfo the export workers connect with (same database "
                  "as DBDParams)"),
    AP_INIT_TAKE1("DPCAuditRetention", set_audit_retention, NULL, RSRC_CONF,
                  "how long audit rows are kept (e.g. 2190d), or forever (the default)"),
    AP_INIT_TAKE12("DPCTokenSecretFile", set_token_secret, NULL, RSRC_CONF,
                   "file holding the secret (>= 32 bytes) that signs access tokens, "
                   "and optionally the previous one, still accepted during a rotation"),
    AP_INIT_TAKE1("DPCClientTokenLifetime", set_client_token_lifetime, NULL, RSRC_CONF,
                  "default and longest lifetime of a client token (default 365d)"),
    AP_INIT_TAKE1("DPCKeyMinBits", set_key_min_bits,
                  (void *)APR_OFFSETOF(dpc_srv_conf, key_min_bits), RSRC_CONF,
                  "smallest RSA public key accepted, in bits (default 4096)"),
    AP_INIT_TAKE1("DPCRosterCap", set_count,
                  (void *)APR_OFFSETOF(dpc_srv_conf, roster_cap), RSRC_CONF,
                  "most patients on one roster or Group (default 5000)"),
    AP_INIT_TAKE1("DPCAttributionDays", set_count,
                  (void *)APR_OFFSETOF(dpc_srv_conf, attribution_days), RSRC_CONF,
                  "days an attested roster membership lasts (default 90)"),
    AP_INIT_TAKE1("DPCResourcesPerFile", set_count,
                  (void *)APR_OFFSETOF(dpc_srv_conf, resources_per_file), RSRC_CONF,
                  "resources in one export file before a new one starts "
                  "(default 100000)"),
    AP_INIT_TAKE1("DPCManifestPageSize", set_count,
                  (void *)APR_OFFSETOF(dpc_srv_conf, manifest_page_size), RSRC_CONF,
                  "files on one page of a partial manifest (allowPartialManifests; "
                  "default 100)"),
    AP_INIT_TAKE1("DPCExportBatch", set_count,
                  (void *)APR_OFFSETOF(dpc_srv_conf, export_batch), RSRC_CONF,
                  "beneficiaries in one batch of export work a worker claims "
                  "(default 200)"),
    AP_INIT_FLAG("DPCSyntheticIdentifiers", set_synthetic_ids, NULL, RSRC_CONF,
                 "On (a sandbox): accept synthetic MBIs (an S in the second "
                 "position) and NPIs without a valid check digit (default Off)"),
    AP_INIT_FLAG("DPCExportGzip", set_gzip, NULL, RSRC_CONF,
                 "On: workers also write a gzip twin of each export file, served "
                 "to clients that accept gzip (default Off)"),
    AP_INIT_TAKE1("DPCFileLifetime", set_file_lifetime, NULL, RSRC_CONF,
                  "how long export files stay downloadable (default 24h)"),
    AP_INIT_TAKE1("DPCAPI", set_api, NULL, ACCESS_CONF,
                  "API dialect served below this <Location>: dpc-v2, dpc-v1 or none"),
    AP_INIT_TAKE1("DPCPublicURL", set_public_url, NULL, ACCESS_CONF,
                  "this <Location>'s base URL as clients see it (behind a proxy)"),
    AP_INIT_FLAG("DPCTokenEndpoint", set_token_endpoint, NULL, ACCESS_CONF,
                 "On: a POST to this <Location>'s own path is its dialect's token "
                 "request (default Off)"),
    AP_INIT_TAKE1("DPCDownloadLimit", set_download_limit, NULL, ACCESS_CONF,
                  "full downloads of each export file below this <Location>; 0: "
                  "unlimited (default: the dialect's: AB2D 1, the others 0)"),
    AP_INIT_FLAG("DPCPortal", set_portal, NULL, ACCESS_CONF,
                 "On: serve the Sandbox Portal below this <Location> (default Off)"),
    AP_INIT_FLAG("DPCEncryptFiles", set_encrypt_files, NULL, ACCESS_CONF,
                 "On: a BCDA export's data files are encrypted for the ACO's registered "
                 "RSA key, and a kick-off without one is refused (default: the "
                 "dialect's, On for bcda-v1, Off for bcda-v2)"),
    AP_INIT_FLAG("DPCPortalSignup", set_portal_signup, NULL, ACCESS_CONF,
                 "On: anyone may sign up for a new team (sandbox only; default Off)"),
    AP_INIT_TAKE1("DPCPortalAPI", set_portal_api, NULL, ACCESS_CONF,
                  "the DPC v2 API's base the portal's pages name (default /api/v2)"),
    AP_INIT_TAKE1("DPCPortalSendmail", set_portal_sendmail, NULL, RSRC_CONF | ACCESS_CONF,
                  "shell command that mails an invite read on its standard input "
                  "(headers, blank line, body), e.g. \"/usr/sbin/sendmail -t -i\" "
                  "(default: none; the link is shown and logged)"),
    { NULL }
};

static int check_dir(apr_pool_t *p, server_rec *s, const char *what, const char *path)
{
    apr_finfo_t fi;
    apr_status_t rv = apr_stat(&fi, path, APR_FINFO_TYPE, p);

    if (rv != APR_SUCCESS || fi.filetype != APR_DIR) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, DPCLOGNO(00101)
                     "%s %s is not a directory", what, path);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

int dpc_config_check(apr_pool_t *p, server_rec *s)
{
    const dpc_global_conf *c = dpc_global(s);

    if (dpc_conf_workers(c) > 0 && !c->worker_db) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, DPCLOGNO(00102)
                     "DPCWorkerDatabase is required (the libpq conninfo of the "
                     "database in DBDParams), or set DPCWorkers 0 to run no workers "
                     "on this host");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (dpc_conf_workers(c) > 0 && !c->export_root) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, DPCLOGNO(00103)
                     "DPCExportRoot is required when DPCWorkers is above 0");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (c->export_root && check_dir(p, s, "DPCExportRoot", c->export_root) != OK)
        return HTTP_INTERNAL_SERVER_ERROR;
    /* the portal's CSRF tokens are keyed with the access-token secret too */
    return dpc_api_configured || dpc_portal_configured
           ? dpc_auth_load_secrets(s->process->pconf, s) : OK;
}
