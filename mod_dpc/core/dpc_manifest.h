/* dpc_manifest.h: the Bulk Data manifest, both ways, and a job's status.
 *
 * The manifest is a completed export's status body (Bulk Data IG v2):
 *
 *   {"transactionTime": INSTANT, "request": URL, "requiresAccessToken": true,
 *    "output": [FILE...], "error": [FILE...]}
 *   FILE: {"type": T, "url": U, "count": N,
 *          "extension": [{"url": DPC_EXT_CHECKSUM, "valueString": "sha256:HEX"},
 *                        {"url": DPC_EXT_FILE_LENGTH, "valueDecimal": BYTES}]}
 *
 * in exactly that key order.  An encrypted export (BCDA, dpc_crypt.h) also
 * gives each encrypted file's wrapped key, as BCDA did: in its entry,
 * {"type", "url", "encryptedKey": HEX}, and in a top-level
 * "KeyMap": {"<file name>": HEX, ...} after "error".  The server builds it (dpc_manifest_build)
 * from plain data, so its glue only turns database rows into a list of
 * dpc_manifest_file_t; dpc-client parses it (dpc_manifest_load,
 * dpc_manifest_files) into the same records.  The extension URLs are
 * defined here; a dialect's descriptor points at the ones it sends. */
#ifndef DPC_MANIFEST_H
#define DPC_MANIFEST_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <jansson.h>

/* The manifest's extensions on each file: its SHA-256 and its length. */
#define DPC_EXT_CHECKSUM "https://dpc.cms.gov/checksum"
#define DPC_EXT_FILE_LENGTH "https://dpc.cms.gov/file_length"

/* Files of this type (OperationOutcomes: who could not be exported, and
 * why) are listed under "error"; every other type under "output". */
#define DPC_MANIFEST_ERROR_TYPE "OperationOutcome"

/* A job's status words, as export_job.status holds them. */
#define DPC_JOB_RUNNING   "running"     /* 202 with progress */
#define DPC_JOB_COMPLETED "completed"   /* 200 with the manifest (or 410) */
#define DPC_JOB_FAILED    "failed"      /* 500 with the reason */
#define DPC_JOB_CANCELLED "cancelled"   /* 404: gone for the client */

/* One file a manifest lists, from the pool.  Built from: url, type, count,
 * length, sha256 (is_error and name are not read).  Parsed into: every
 * field, type NULL when absent. */
typedef struct {
    const char *url;
    const char *name;           /* dpc_manifest_file_name() of url */
    const char *type;           /* the resource type */
    const char *sha256;         /* hex digest (the checksum extension's
                                 * "sha256:" value), or NULL */
    apr_off_t length;           /* the file_length extension, or -1 */
    apr_int64_t count;          /* "count", 0 when absent */
    int is_error;               /* listed under "error", not "output" */
    const char *encrypted_key;  /* hex wrapped AES key of an encrypted
                                 * file ("encryptedKey", else the KeyMap's
                                 * entry for name), or NULL: a plain file */
} dpc_manifest_file_t;

/* What the server says of a completed export. */
typedef struct {
    apr_time_t transaction_time;
    const char *request;        /* the kick-off's URL */
    int requires_token;         /* downloads need the bearer token */
    const char *ext_checksum;   /* the extension URLs to send (a dialect's);
                                 * both NULL: files are {"type", "url"} only */
    const char *ext_file_length;
    apr_int64_t job_id;         /* > 0: a top-level "JobID" (BCDA's) */
    const apr_array_header_t *files;    /* dpc_manifest_file_t, in order;
                                         * url, type, sha256 must be set */
} dpc_manifest_t;

/* The manifest as JSON: a new reference, the caller's to release.  Each
 * file goes under "error" if its type is DPC_MANIFEST_ERROR_TYPE, else
 * under "output", keeping its order.  NULL if jansson fails (out of
 * memory, or a NULL url, type or sha256). */
json_t *dpc_manifest_build(apr_pool_t *p, const dpc_manifest_t *m);

/* Parse a manifest body: a JSON object with an "output" array.  The object
 * (tied to p), or NULL with *errmsg "the manifest is not a JSON object with
 * an output array", plus jansson's reason when it is not JSON at all. */
json_t *dpc_manifest_load(apr_pool_t *p, const char *body, apr_size_t len,
                          const char **errmsg);

/* Every file a loaded manifest lists, "output" then "error", as an array of
 * dpc_manifest_file_t.  Refused, with *errmsg starting "manifest: ": an
 * entry without a string url, a url without a usable file name, and two
 * entries with the same file name.  The extensions are read at
 * DPC_EXT_CHECKSUM and DPC_EXT_FILE_LENGTH. */
int dpc_manifest_files(apr_pool_t *p, const json_t *m, apr_array_header_t **files,
                       const char **errmsg);

/* A local file name for a download URL: the last segment of the path of an
 * http:// or https:// URL (any case), query and fragment cut off, made only
 * of letters, digits and "._-" and not starting with a dot, so it stays
 * inside the download directory.  NULL when the URL has none, or is not
 * such a URL (another scheme, no host, user@ in the authority, a space,
 * control or non-ASCII byte anywhere).  The host and port are not checked
 * further: fetching the URL does that. */
const char *dpc_manifest_file_name(apr_pool_t *p, const char *url);

/* A running job's progress, for the X-Progress header: the guides' words
 * first, then the numbers: "In Progress (50%, 2 of 4 batches)"; 0% when
 * total is 0. */
const char *dpc_manifest_progress(apr_pool_t *p, long done, long total);

/* The same in BCDA's words: "Pending" while no batch has been claimed,
 * then "In Progress (50%)" (done * 100 / total, truncated). */
const char *dpc_manifest_progress_words(apr_pool_t *p, long claimed, long done,
                                        long total);

#endif
