/* dpc_manifest.c: see dpc_manifest.h. */
#include "dpc_manifest.h"

#include <string.h>
#include <strings.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "dpc_fhir.h"           /* dpc_json_pool, dpc_instant_format */

/* ---- building (the server) ---- */

/* An output entry of a manifest organized by a resource type carries no
 * "type" (its file holds several); error entries keep theirs. */
static json_t *untyped(json_t *e, const dpc_manifest_t *m, const dpc_manifest_file_t *f)
{
    if (e && m->organized_by && f->type && strcmp(f->type, DPC_MANIFEST_ERROR_TYPE))
        json_object_del(e, "type");
    return e;
}

static json_t *file_entry(apr_pool_t *p, const dpc_manifest_t *m,
                          const dpc_manifest_file_t *f)
{
    if (!m->ext_checksum && f->encrypted_key)
        return json_pack("{s:s, s:s, s:s}", "type", f->type, "url", f->url,
                         "encryptedKey", f->encrypted_key);
    if (!m->ext_checksum)
        return untyped(json_pack("{s:s, s:s}", "type", f->type, "url", f->url), m, f);
    return untyped(json_pack("{s:s, s:s, s:I, s:[{s:s, s:s}, {s:s, s:I}]}",
                     "type", f->type,
                     "url", f->url,
                     "count", (json_int_t)f->count,
                     "extension", "url", m->ext_checksum, "valueString",
                     f->sha256 ? apr_pstrcat(p, "sha256:", f->sha256, NULL) : NULL,
                     "url", m->ext_file_length, "valueDecimal", (json_int_t)f->length),
                   m, f);
}

/* BCDA's "KeyMap": the wrapped key of each encrypted file by its name;
 * NULL when no file is encrypted. */
static json_t *key_map(apr_pool_t *p, const dpc_manifest_t *m)
{
    json_t *km = NULL;
    int i;

    for (i = 0; i < m->files->nelts; i++) {
        const dpc_manifest_file_t *f = &APR_ARRAY_IDX(m->files, i, dpc_manifest_file_t);
        const char *name = f->encrypted_key ? dpc_manifest_file_name(p, f->url) : NULL;

        if (!name)
            continue;
        if (!km)
            km = json_object();
        json_object_set_new(km, name, json_string(f->encrypted_key));
    }
    return km;
}

json_t *dpc_manifest_build(apr_pool_t *p, const dpc_manifest_t *m)
{
    json_t *output = json_array(), *error = json_array(), *e, *km;
    int i, bad;

    for (i = 0; i < m->files->nelts; i++) {
        const dpc_manifest_file_t *f = &APR_ARRAY_IDX(m->files, i, dpc_manifest_file_t);

        if (!(e = file_entry(p, m, f))) {
            json_decref(output);
            json_decref(error);
            return NULL;
        }
        json_array_append_new(f->type && !strcmp(f->type, DPC_MANIFEST_ERROR_TYPE)
                              ? error : output, e);
    }
    e = json_pack("{s:s, s:s, s:b}", "transactionTime",
                  m->human_time ? dpc_manifest_human_time(p, m->transaction_time)
                                : dpc_instant_format(p, m->transaction_time),
                  "request", m->request, "requiresAccessToken", m->requires_token ? 1 : 0);
    if (!e) {
        json_decref(output);
        json_decref(error);
        return NULL;
    }
    if (m->organized_by)
        json_object_set_new(e, "outputOrganizedBy", json_string(m->organized_by));
    /* json_object_set_new takes the value, even when it fails */
    bad = json_object_set_new(e, "output", output);
    bad |= json_object_set_new(e, "error", error);
    if (bad) {
        json_decref(e);
        return NULL;
    }
    if ((km = key_map(p, m)))
        json_object_set_new(e, "KeyMap", km);
    if (m->job_id > 0)
        json_object_set_new(e, "JobID", json_integer((json_int_t)m->job_id));
    if (m->next_url && json_object_set_new(e, "link", json_pack("[{s:s, s:s}]", "relation",
                                                                "next", "url", m->next_url))) {
        json_decref(e);
        return NULL;
    }
    return e;
}

const char *dpc_manifest_progress_percent(apr_pool_t *p, long done, long total)
{
    return apr_psprintf(p, "%ld%% complete", total ? done * 100 / total : 0);
}

const char *dpc_manifest_human_time(apr_pool_t *p, apr_time_t t)
{
    static const char *const months[] = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
    };
    apr_time_exp_t x;
    int h;

    if (apr_time_exp_gmt(&x, t) != APR_SUCCESS || x.tm_mon < 0 || x.tm_mon > 11)
        return dpc_instant_format(p, t);
    h = x.tm_hour % 12;
    return apr_psprintf(p, "%s %d, %d, %d:%02d:%02d %s", months[x.tm_mon], x.tm_mday,
                        x.tm_year + 1900, h ? h : 12, x.tm_min, x.tm_sec,
                        x.tm_hour < 12 ? "AM" : "PM");
}

int dpc_manifest_page(long page, long listed, int complete, long size,
                      long *first, long *n, int *has_next)
{
    if (page < 1 || size < 1 || (page > 1 && listed < (page - 1) * size))
        return -1;
    *first = (page - 1) * size;
    *n = listed - *first < size ? listed - *first : size;
    /* full: what comes next goes on the next page, if anything does */
    *has_next = *n == size && (listed > *first + size || !complete);
    return 0;
}

const char *dpc_manifest_progress_words(apr_pool_t *p, long claimed, long done,
                                        long total)
{
    if (!claimed && !done)
        return "Pending";
    return apr_psprintf(p, "In Progress (%ld%%)", total ? done * 100 / total : 0);
}

const char *dpc_manifest_progress(apr_pool_t *p, long done, long total)
{
    return apr_psprintf(p, "In Progress (%ld%%, %ld of %ld batches)", total ? done * 100 / total : 0,
                        done, total);
}

/* ---- parsing (the client) ---- */

json_t *dpc_manifest_load(apr_pool_t *p, const char *body, apr_size_t len,
                          const char **errmsg)
{
    json_error_t jerr;
    json_t *m = dpc_json_pool(p, json_loadb(body, len, 0, &jerr));

    if (json_is_object(m) && json_is_array(json_object_get(m, "output")))
        return m;
    *errmsg = apr_pstrcat(p, "the manifest is not a JSON object with an output array",
                          m ? "" : ": ", m ? "" : jerr.text, NULL);
    return NULL;
}

const char *dpc_manifest_next(const json_t *m)
{
    const json_t *l;
    size_t i;

    json_array_foreach(json_object_get(m, "link"), i, l) {
        const char *rel = json_string_value(json_object_get(l, "relation"));

        if (rel && !strcmp(rel, "next"))
            return json_string_value(json_object_get(l, "url"));
    }
    return NULL;
}

/* Where the path of an absolute http(s) URL starts (at its '/', '?', '#'
 * or end), or NULL when url is not one with a plain authority. */
static const char *url_path(const char *url)
{
    const char *s, *auth, *end;

    for (s = url; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return NULL;
    if (!strncasecmp(url, "http://", 7))
        auth = url + 7;
    else if (!strncasecmp(url, "https://", 8))
        auth = url + 8;
    else
        return NULL;
    end = auth + strcspn(auth, "/?#");
    if (end == auth || memchr(auth, '@', (apr_size_t)(end - auth)))
        return NULL;
    return end;
}

const char *dpc_manifest_file_name(apr_pool_t *p, const char *url)
{
    const char *path, *s, *e, *c;

    if (!url || !(path = url_path(url)))
        return NULL;
    e = path + strcspn(path, "?#");
    for (s = e; s > path && s[-1] != '/'; s--)
        ;
    if (s == e || *s == '.')
        return NULL;
    for (c = s; c < e; c++)
        if (!apr_isalnum(*c) && *c != '.' && *c != '_' && *c != '-')
            return NULL;
    return apr_pstrmemdup(p, s, (apr_size_t)(e - s));
}

/* The value of f's extension with this url: valueString, and valueDecimal
 * into *num when num is not NULL. */
static const char *ext_value(const json_t *f, const char *url, json_t **num)
{
    json_t *e;
    size_t i;

    json_array_foreach(json_object_get(f, "extension"), i, e) {
        if (!json_is_string(json_object_get(e, "url"))
            || strcmp(json_string_value(json_object_get(e, "url")), url))
            continue;
        if (num)
            *num = json_object_get(e, "valueDecimal");
        return json_string_value(json_object_get(e, "valueString"));
    }
    if (num)
        *num = NULL;
    return NULL;
}

/* A file_length value: a whole number of bytes that fits an apr_off_t,
 * else -1 (unknown).  A decimal such as 1e300 must not reach the cast,
 * whose result would be undefined. */
static apr_off_t manifest_length(const json_t *num)
{
    double d;

    if (json_is_integer(num))
        return json_integer_value(num) >= 0 ? (apr_off_t)json_integer_value(num) : -1;
    if (!json_is_real(num))
        return -1;
    d = json_real_value(num);
    /* 2^63 is exact as a double; anything below it converts */
    return d >= 0 && d < 9223372036854775808.0 && d == (double)(apr_int64_t)d
        ? (apr_off_t)d : -1;
}

/* An entry's wrapped key: its "encryptedKey", else the KeyMap's entry for
 * its name (the manifests of 2018 had only the KeyMap); NULL for none. */
static const char *encrypted_key(apr_pool_t *p, const json_t *m, const json_t *o,
                                 const char *name)
{
    const char *k = json_string_value(json_object_get(o, "encryptedKey"));

    if (!k || !*k)
        k = json_string_value(json_object_get(json_object_get(m, "KeyMap"), name));
    return k && *k ? apr_pstrdup(p, k) : NULL;
}

/* Is f's name already among the files before it? */
static int name_taken(const apr_array_header_t *files, const dpc_manifest_file_t *f)
{
    int j;

    for (j = 0; j < files->nelts - 1; j++)
        if (!strcmp(APR_ARRAY_IDX(files, j, dpc_manifest_file_t).name, f->name))
            return 1;
    return 0;
}

/* Add the entries of one of the manifest's arrays ("output" or "error":
 * both are files to fetch and verify the same way). */
static int manifest_list(apr_pool_t *p, const json_t *m, const char *key,
                         apr_array_header_t *files, const char **errmsg)
{
    dpc_manifest_file_t *f;
    json_t *o, *num;
    const char *sum;
    size_t i;

    json_array_foreach(json_object_get(m, key), i, o) {
        f = apr_array_push(files);
        memset(f, 0, sizeof(*f));
        f->is_error = !strcmp(key, "error");
        if (!json_is_string(json_object_get(o, "url"))) {
            *errmsg = apr_psprintf(p, "manifest: %s %lu has no url", key, (unsigned long)i);
            return -1;
        }
        f->url = apr_pstrdup(p, json_string_value(json_object_get(o, "url")));
        if (!(f->name = dpc_manifest_file_name(p, f->url))) {
            *errmsg = apr_psprintf(p, "manifest: no usable file name in %s", f->url);
            return -1;
        }
        if (name_taken(files, f)) {
            *errmsg = apr_psprintf(p, "manifest: two files named %s", f->name);
            return -1;
        }
        if (json_is_string(json_object_get(o, "type")))
            f->type = apr_pstrdup(p, json_string_value(json_object_get(o, "type")));
        f->count = json_integer_value(json_object_get(o, "count"));
        sum = ext_value(o, DPC_EXT_CHECKSUM, NULL);
        if (sum && !strncmp(sum, "sha256:", 7))
            f->sha256 = apr_pstrdup(p, sum + 7);
        ext_value(o, DPC_EXT_FILE_LENGTH, &num);
        f->length = manifest_length(num);
        f->encrypted_key = encrypted_key(p, m, o, f->name);
    }
    return 0;
}

int dpc_manifest_files(apr_pool_t *p, const json_t *m, apr_array_header_t **files,
                       const char **errmsg)
{
    apr_array_header_t *a = apr_array_make(p, 8, sizeof(dpc_manifest_file_t));

    if (manifest_list(p, m, "output", a, errmsg) || manifest_list(p, m, "error", a, errmsg))
        return -1;
    *files = a;
    return 0;
}
