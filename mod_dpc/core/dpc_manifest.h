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
 * in exactly that key order.  Two additions of the IG's next version:
 * "outputOrganizedBy": "Patient" after "requiresAccessToken" when the
 * kick-off asked for organizeOutputBy (the output entries then carry no
 * "type": each file holds every type of its patients), and, at the end,
 * "link": [{"relation": "next", "url": U}] on a page of a partial
 * manifest (allowPartialManifests) that another page follows.  An
 * encrypted export (BCDA, dpc_crypt.h) also gives each encrypted file's
 * wrapped key, as BCDA did: in its entry, {"type", "url", "encryptedKey":
 * HEX}, and in a top-level "KeyMap": {"<file name>": HEX, ...} after
 * "error".
 *
 * The server builds it (dpc_manifest_build)
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
/* AB2D's names for the same two. */
#define DPC_EXT_AB2D_CHECKSUM "https://ab2d.cms.gov/checksum"
#define DPC_EXT_AB2D_FILE_LENGTH "https://ab2d.cms.gov/file_length"

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
    int human_time;             /* transactionTime as AB2D writes it:
                                 * "Mar 3, 2020, 10:47:24 PM" (UTC) */
    const char *request;        /* the kick-off's URL */
    int requires_token;         /* downloads need the bearer token */
    const char *ext_checksum;   /* the extension URLs to send (a dialect's);
                                 * both NULL: files are {"type", "url"} only */
    const char *ext_file_length;
    apr_int64_t job_id;         /* > 0: a top-level "JobID" (BCDA's) */
    const apr_array_header_t *files;    /* dpc_manifest_file_t, in order;
                                         * url, type, sha256 must be set */

    /* The IG's next version (both NULL: a manifest as above) */
    const char *organized_by;   /* "outputOrganizedBy", or NULL */
    const char *next_url;       /* the next page's URL ("link"), or NULL */
} dpc_manifest_t;

/* Files of a partial manifest's page, at most, unless DPCManifestPageSize
 * says otherwise; pages are cut from the files in the order they were
 * listed (export_file.ordinal). */
#define DPC_MANIFEST_PAGE_SIZE 100

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

/* The URL of the next page of a loaded manifest: the "url" of the "link"
 * entry whose "relation" is "next", or NULL when it has none (the last
 * page, or a manifest without pages). */
const char *dpc_manifest_next(const json_t *m);

/* Page `page` (1, 2, ...) of a job's partial manifest, given how many
 * files the job lists so far (`listed`), whether it is complete, and the
 * page size: the range of list places it shows, [*first, *first + *n),
 * and whether it links a next page (1: a next page exists or will; the
 * page is full and the job running, or files lie beyond it).  -1 when the
 * page is not one a client was given a link to (page < 1, or the page
 * before it is not yet full). */
int dpc_manifest_page(long page, long listed, int complete, long size,
                      long *first, long *n, int *has_next);

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

/* The same in AB2D's words: "50% complete" (done * 100 / total,
 * truncated; 0% when total is 0). */
const char *dpc_manifest_progress_percent(apr_pool_t *p, long done, long total);

/* An instant as AB2D's transactionTime: "Mar 3, 2020, 10:47:24 PM" (Java's
 * MEDIUM date-time style, en_US, UTC; day and hour not padded). */
const char *dpc_manifest_human_time(apr_pool_t *p, apr_time_t t);

/* The same in BCDA's words: "Pending" while no batch has been claimed,
 * then "In Progress (50%)" (done * 100 / total, truncated). */
const char *dpc_manifest_progress_words(apr_pool_t *p, long claimed, long done,
                                        long total);

#endif
