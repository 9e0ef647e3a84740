/* dpc_config.c: see dpc_config.h. */
#include "dpc_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "dpc_manifest.h"       /* DPC_MANIFEST_PAGE_SIZE */

#define MERGE_INT(f) (add->f != DPC_UNSET ? add->f : base->f)
#define MERGE_PTR(f) (add->f ? add->f : base->f)
#define DEF(v, d) ((v) != DPC_UNSET ? (v) : (d))

dpc_global_conf *dpc_global_conf_create(apr_pool_t *p)
{
    dpc_global_conf *g = apr_pcalloc(p, sizeof(*g));

    g->workers = DPC_UNSET;
    g->audit_retention = DPC_UNSET;
    return g;
}

dpc_srv_conf *dpc_srv_conf_create(apr_pool_t *p, dpc_global_conf *g)
{
    dpc_srv_conf *c = apr_pcalloc(p, sizeof(*c));

    c->global = g;
    c->key_min_bits = DPC_UNSET;
    c->roster_cap = DPC_UNSET;
    c->attribution_days = DPC_UNSET;
    c->resources_per_file = DPC_UNSET;
    c->export_batch = DPC_UNSET;
    c->export_gzip = DPC_UNSET;
    c->synthetic_ids = DPC_UNSET;
    c->file_lifetime = DPC_UNSET;
    c->client_token_lifetime = DPC_UNSET;
    c->manifest_page_size = DPC_UNSET;
    return c;
}

dpc_srv_conf *dpc_srv_conf_merge(apr_pool_t *p, const dpc_srv_conf *base,
                                 const dpc_srv_conf *add)
{
    dpc_srv_conf *c = apr_pcalloc(p, sizeof(*c));

    c->global = base->global;
    c->token_secret_file = MERGE_PTR(token_secret_file);
    c->key_min_bits = MERGE_INT(key_min_bits);
    c->roster_cap = MERGE_INT(roster_cap);
    c->attribution_days = MERGE_INT(attribution_days);
    c->resources_per_file = MERGE_INT(resources_per_file);
    c->export_batch = MERGE_INT(export_batch);
    c->export_gzip = MERGE_INT(export_gzip);
    c->synthetic_ids = MERGE_INT(synthetic_ids);
    c->file_lifetime = MERGE_INT(file_lifetime);
    c->client_token_lifetime = MERGE_INT(client_token_lifetime);
    c->manifest_page_size = MERGE_INT(manifest_page_size);
    /* the secret files travel together: a vhost that names its own current
     * secret does not inherit the main server's previous one */
    c->token_secret_prev_file = add->token_secret_file ? add->token_secret_prev_file
                                                       : base->token_secret_prev_file;
    return c;
}

dpc_dir_conf *dpc_dir_conf_create(apr_pool_t *p, const char *path)
{
    dpc_dir_conf *c = apr_pcalloc(p, sizeof(*c));
    size_t n;

    if (path) {
        /* "/api/v2/" and "/api/v2" name the same base */
        n = strlen(path);
        while (n > 1 && path[n - 1] == '/')
            n--;
        c->base_path = apr_pstrmemdup(p, path, n);
    }
    c->portal.on = DPC_UNSET;
    c->portal.signup = DPC_UNSET;
    c->download_limit = DPC_UNSET;
    c->token_endpoint = DPC_UNSET;
    c->encrypt_files = DPC_UNSET;
    return c;
}

dpc_dir_conf *dpc_dir_conf_merge(apr_pool_t *p, const dpc_dir_conf *base,
                                 const dpc_dir_conf *add)
{
    dpc_dir_conf *c = apr_pcalloc(p, sizeof(*c));

    c->dialect = add->dialect ? add->dialect : base->dialect;
    /* The base path follows the section that set the dialect: a nested
     * <Location> without DPCAPI keeps routing relative to its parent. */
    c->base_path = add->dialect ? MERGE_PTR(base_path)
                                             : (base->base_path ? base->base_path
                                                                : add->base_path);
    c->public_url = MERGE_PTR(public_url);
    c->download_limit = MERGE_INT(download_limit);
    c->token_endpoint = MERGE_INT(token_endpoint);
    /* the portal's settings, field by field; its base follows DPCPortal */
    c->portal.on = MERGE_INT(portal.on);
    c->encrypt_files = MERGE_INT(encrypt_files);
    c->portal.base_path = add->portal.on != DPC_UNSET ? add->portal.base_path
                                                      : base->portal.base_path;
    c->portal.signup = MERGE_INT(portal.signup);
    c->portal.api = MERGE_PTR(portal.api);
    c->portal.sendmail = MERGE_PTR(portal.sendmail);
    return c;
}

int dpc_conf_workers(const dpc_global_conf *g) { return DEF(g->workers, 1); }
apr_interval_time_t dpc_conf_audit_retention(const dpc_global_conf *g)
{
    return DEF(g->audit_retention, 0);
}
int dpc_conf_key_min_bits(const dpc_srv_conf *c) { return DEF(c->key_min_bits, 4096); }
int dpc_conf_roster_cap(const dpc_srv_conf *c) { return DEF(c->roster_cap, 5000); }
int dpc_conf_attribution_days(const dpc_srv_conf *c) { return DEF(c->attribution_days, 90); }
int dpc_conf_resources_per_file(const dpc_srv_conf *c)
{
    return DEF(c->resources_per_file, 100000);
}
int dpc_conf_export_batch(const dpc_srv_conf *c) { return DEF(c->export_batch, 200); }

int dpc_conf_manifest_page_size(const dpc_srv_conf *c)
{
    return DEF(c->manifest_page_size, DPC_MANIFEST_PAGE_SIZE);
}
int dpc_conf_export_gzip(const dpc_srv_conf *c) { return DEF(c->export_gzip, 0); }
int dpc_conf_synthetic_ids(const dpc_srv_conf *c) { return DEF(c->synthetic_ids, 0); }
apr_interval_time_t dpc_conf_file_lifetime(const dpc_srv_conf *c)
{
    return DEF(c->file_lifetime, apr_time_from_sec(24 * 3600));
}
apr_interval_time_t dpc_conf_client_token_lifetime(const dpc_srv_conf *c)
{
    return DEF(c->client_token_lifetime, apr_time_from_sec(365 * 86400));
}
const dpc_dialect *dpc_conf_dialect(const dpc_dir_conf *c)
{
    return c->dialect ? c->dialect : &dpc_dialect_none;
}

int dpc_conf_download_limit(const dpc_dir_conf *c)
{
    return DEF(c->download_limit, dpc_conf_dialect(c)->download_limit);
}

int dpc_conf_token_endpoint(const dpc_dir_conf *c)
{
    return DEF(c->token_endpoint, 0);
}

int dpc_conf_portal(const dpc_dir_conf *c)
{
    return DEF(c->portal.on, 0) && c->portal.base_path;
}
int dpc_conf_portal_signup(const dpc_dir_conf *c) { return DEF(c->portal.signup, 0); }
int dpc_conf_encrypt_files(const dpc_dir_conf *c)
{
    return DEF(c->encrypt_files, dpc_conf_dialect(c)->encrypt_files_default);
}

const char *dpc_conf_portal_api(const dpc_dir_conf *c)
{
    return c->portal.api ? c->portal.api : "/api/v2";
}

const char *dpc_parse_api(apr_pool_t *p, const char *arg, const dpc_dialect **out)
{
    const dpc_dialect *d = dpc_dialect_find(arg);

    if (!d)
        return apr_pstrcat(p, "DPCAPI must be one of: ", dpc_dialect_names(p), NULL);
    *out = d;
    return NULL;
}

const char *dpc_parse_int(apr_pool_t *p, const char *name, const char *arg,
                          int min, int max, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < min || v > max)
        return apr_psprintf(p, "%s must be a whole number from %d to %d, not '%s'",
                            name, min, max, arg);
    *out = (int)v;
    return NULL;
}

const char *dpc_parse_duration_max(apr_pool_t *p, const char *name, const char *arg,
                                   apr_int64_t max_days, apr_interval_time_t *out)
{
    char *end;
    long long v;
    long long mult = 1;

    errno = 0;
    v = strtoll(arg, &end, 10);
    if (!errno && end != arg && v > 0) {
        if (!strcmp(end, "") || !strcmp(end, "s"))
            mult = 1;
        else if (!strcmp(end, "m"))
            mult = 60;
        else if (!strcmp(end, "h"))
            mult = 3600;
        else if (!strcmp(end, "d"))
            mult = 86400;
        else
            mult = 0;
        if (mult && v <= max_days * 86400 / mult) {
            *out = apr_time_from_sec(v * mult);
            return NULL;
        }
    }
    return apr_psprintf(p, "%s must be a positive duration such as 90s, 15m, 24h "
                        "or 7d (at most %" APR_INT64_T_FMT " days), not '%s'", name,
                        max_days, arg);
}

const char *dpc_parse_duration(apr_pool_t *p, const char *name, const char *arg,
                               apr_interval_time_t *out)
{
    return dpc_parse_duration_max(p, name, arg, 365, out);
}
