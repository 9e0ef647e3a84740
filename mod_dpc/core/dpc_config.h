/* dpc_config.h: mod_dpc's configuration records, with create/merge/get kept
 * free of httpd so the merge rules are unit-tested on their own.
 *
 * create marks every field unset, merge takes `add` where it is set and `base`
 * otherwise, and the typed getters apply the defaults.  The directive table
 * that fills these lives in mod_dpc_config.c.
 */
#ifndef DPC_CONFIG_H
#define DPC_CONFIG_H

#include <apr_pools.h>
#include <apr_time.h>

#include "dpc_dialect.h"

#define DPC_UNSET (-1)

/* Module-wide settings: one record per httpd configuration, set in the main
 * server only (the directives are GLOBAL_ONLY) and shared by every server's
 * dpc_srv_conf through its `global` pointer, so no virtual host has a copy
 * of its own to be read by mistake. */
typedef struct dpc_global_conf {
    const char *export_root;        /* DPCExportRoot */
    int workers;                    /* DPCWorkers: forked export workers */
    const char *worker_db;          /* DPCWorkerDatabase: libpq conninfo */
    apr_interval_time_t audit_retention; /* DPCAuditRetention; 0: forever */
} dpc_global_conf;

/* Per-server settings (RSRC_CONF): what may differ per virtual host, merged
 * into virtual hosts. */
typedef struct dpc_srv_conf {
    dpc_global_conf *global;        /* the configuration's module-wide record */
    const char *token_secret_file;  /* DPCTokenSecretFile */
    int key_min_bits;               /* DPCKeyMinBits */
    int roster_cap;                 /* DPCRosterCap */
    int attribution_days;           /* DPCAttributionDays */
    /* the export settings a kick-off writes on its job row (the workers
     * read them from there): these may differ per virtual host */
    int resources_per_file;         /* DPCResourcesPerFile */
    int export_batch;               /* DPCExportBatch */
    int export_gzip;                /* DPCExportGzip: also write gzip twins */
    int synthetic_ids;              /* DPCSyntheticIdentifiers: accept synthetic
                                     * MBIs and NPIs (a sandbox) */
    apr_interval_time_t file_lifetime;   /* DPCFileLifetime */
    apr_interval_time_t client_token_lifetime; /* DPCClientTokenLifetime */
    int manifest_page_size;         /* DPCManifestPageSize: files on a page of
                                     * a partial manifest */
    const char *token_secret_prev_file;  /* DPCTokenSecretFile's second file */

    /* Runtime state, not configuration: never merged. */
    int dbd_prepared;                    /* statements given to mod_dbd */
    const unsigned char *secret;         /* loaded in post_config */
    apr_size_t secret_len;
    const unsigned char *secret_prev;
    apr_size_t secret_prev_len;
} dpc_srv_conf;

/* The Sandbox Portal's settings (DPCPortal*), per <Location>. */
typedef struct dpc_portal_conf {
    int on;                         /* DPCPortal On|Off */
    const char *base_path;          /* the <Location> that said DPCPortal On */
    int signup;                     /* DPCPortalSignup On|Off */
    const char *api;                /* DPCPortalAPI: the DPC v2 API's base */
    const char *sendmail;           /* DPCPortalSendmail: mails invites */
} dpc_portal_conf;

/* Per-<Location> settings. */
typedef struct dpc_dir_conf {
    const dpc_dialect *dialect;     /* DPCAPI; NULL: not set here */
    const char *base_path;          /* the <Location> path, from create */
    const char *public_url;         /* DPCPublicURL: base URL as clients see it */
    dpc_portal_conf portal;         /* DPCPortal* */
    int download_limit;             /* DPCDownloadLimit; DPC_UNSET */
    int token_endpoint;             /* DPCTokenEndpoint; DPC_UNSET */
    int encrypt_files;              /* DPCEncryptFiles (BCDA) */
} dpc_dir_conf;

/* A module-wide record, every field unset. */
dpc_global_conf *dpc_global_conf_create(apr_pool_t *p);
/* A server record, every field unset, pointing at g: the main server's
 * create passes a new dpc_global_conf, a virtual host's NULL (its merge
 * gives it the main server's). */
dpc_srv_conf *dpc_srv_conf_create(apr_pool_t *p, dpc_global_conf *g);
/* add's settings where set, else base's; `global` is always base's (the
 * main server's). */
dpc_srv_conf *dpc_srv_conf_merge(apr_pool_t *p, const dpc_srv_conf *base,
                                 const dpc_srv_conf *add);
dpc_dir_conf *dpc_dir_conf_create(apr_pool_t *p, const char *path);
dpc_dir_conf *dpc_dir_conf_merge(apr_pool_t *p, const dpc_dir_conf *base,
                                 const dpc_dir_conf *add);

/* Typed getters: the value if set, else the default. */
int dpc_conf_workers(const dpc_global_conf *g);           /* 1 */
/* How long audit rows are kept; 0: forever (the default). */
apr_interval_time_t dpc_conf_audit_retention(const dpc_global_conf *g);
int dpc_conf_key_min_bits(const dpc_srv_conf *c);         /* 4096 */
int dpc_conf_roster_cap(const dpc_srv_conf *c);           /* 5000 */
int dpc_conf_attribution_days(const dpc_srv_conf *c);     /* 90 */
int dpc_conf_resources_per_file(const dpc_srv_conf *c);   /* 100000 */
int dpc_conf_export_batch(const dpc_srv_conf *c);         /* 200 */
int dpc_conf_manifest_page_size(const dpc_srv_conf *c);   /* DPC_MANIFEST_PAGE_SIZE */
int dpc_conf_export_gzip(const dpc_srv_conf *c);          /* 0 (Off) */
int dpc_conf_synthetic_ids(const dpc_srv_conf *c);        /* 0 (Off) */
apr_interval_time_t dpc_conf_file_lifetime(const dpc_srv_conf *c); /* 24 h */
apr_interval_time_t dpc_conf_client_token_lifetime(const dpc_srv_conf *c); /* 365 d */
const dpc_dialect *dpc_conf_dialect(const dpc_dir_conf *c); /* none */
/* Full downloads allowed of each export file; 0: unlimited.  Default: the
 * dialect's (AB2D 1, the others 0). */
int dpc_conf_download_limit(const dpc_dir_conf *c);
/* Is this <Location>'s own path its dialect's token endpoint (beside the
 * one its route table names)?  Default 0. */
int dpc_conf_token_endpoint(const dpc_dir_conf *c);
int dpc_conf_portal(const dpc_dir_conf *c);               /* 0 (Off) */
int dpc_conf_portal_signup(const dpc_dir_conf *c);        /* 0 (Off) */
const char *dpc_conf_portal_api(const dpc_dir_conf *c);   /* "/api/v2" */
/* Are a kick-off's files encrypted for the ACO's key?  DPCEncryptFiles,
 * else the dialect's default (dpc_dialect.encrypt_files_default). */
int dpc_conf_encrypt_files(const dpc_dir_conf *c);

/* Directive values, parsed strictly.  Each returns NULL on success or an
 * error message (from p) naming the allowed values. */
const char *dpc_parse_api(apr_pool_t *p, const char *arg, const dpc_dialect **out);
const char *dpc_parse_int(apr_pool_t *p, const char *name, const char *arg,
                          int min, int max, int *out);
/* "30", "30s", "15m", "24h", "7d": at most a year */
const char *dpc_parse_duration(apr_pool_t *p, const char *name, const char *arg,
                               apr_interval_time_t *out);
/* The same, at most max_days. */
const char *dpc_parse_duration_max(apr_pool_t *p, const char *name, const char *arg,
                                   apr_int64_t max_days, apr_interval_time_t *out);

#endif
