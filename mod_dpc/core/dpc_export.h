/* dpc_export.h: the export file writer.
 *
 * The export worker streams stored resource bodies (compact JSON text, one
 * per row, never re-serialized) into Bulk Data output files: NDJSON, one
 * resource per line, rotated every `per_file` resources, each published
 * atomically under an unguessable name, with its line count, byte length
 * and SHA-256 computed on the way (no second pass over the file), and
 * optionally a gzip twin ("name.ndjson.gz") of the very same bytes.
 *
 * One writer serves one job and one resource type.  Several writers may
 * share a job directory (several types, or several workers on batches of
 * one job): names are random, so they never collide.
 *
 * Publishing a part: write "name.ndjson.tmp" (and "name.ndjson.gz.tmp") in
 * the job directory itself, fsync both, close, rename the twin and then the
 * NDJSON into place (so a visible .ndjson always has its twin), fsync the
 * directory.  Any failure removes what that part left, temp or published.
 * A part with no resources is never created, so never published.
 *
 * Errors are an apr_status_t plus a message (dpc_export_writer_error())
 * that names the file, e.g. "write /srv/dpc/<job>/ExplanationOfBenefit-
 * <hex>.ndjson.tmp: No space left on device".  After an I/O error the
 * writer refuses every further write and finish; the caller then calls
 * dpc_export_writer_abort() so that nothing of the job is left or listed.
 * A refused body (empty, or holding '\n' or '\r') is not an I/O error: it
 * is not written, and the writer carries on.
 *
 * Memory is fixed per writer (a 256 KB line buffer, a 256 KB gzip output
 * buffer and zlib's ~270 KB deflate state when the twin is on), whatever
 * the export's size; only the list of published files grows, one small
 * record per file.  Everything is allocated from the pool given to
 * dpc_export_writer_create(); a writer that is neither finished nor
 * aborted when that pool is cleared is aborted then (its files removed),
 * by the process that created it only, never by a forked child.
 *
 * POSIX *at() calls on a directory descriptor held for the writer's life
 * are used instead of apr_file_*: APR has no O_NOFOLLOW, no directory
 * fsync and no renameat/unlinkat, and the writer never builds a path to
 * open.  Linux only, like the rest of the worker.
 */
#ifndef DPC_EXPORT_H
#define DPC_EXPORT_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_errno.h>
#include <apr_hash.h>
#include <openssl/evp.h>

/* Flags of dpc_export_writer_create(). */
#define DPC_EXPORT_GZIP 0x1         /* also write a gzip twin of each file */
#define DPC_EXPORT_UUID_NAMES 0x2   /* name files "<uuid>.ndjson" (BCDA), and
                                     * OperationOutcome files
                                     * "<uuid>-error.ndjson" */
#define DPC_EXPORT_WHOLE_GROUPS 0x4 /* rotate only at dpc_export_writer_group()
                                     * (organizeOutputBy: whole patients) */

/* zlib level of the gzip twin.  Measured on synthetic R4 EOBs (~17 KB,
 * t/unit/bench_export.c, 2 cores): level 1 deflates ~300 MB/s to 11.2% of
 * the NDJSON, level 6 ~125 MB/s to 6.7%.  Level 6 would cost 2.4x the CPU
 * of the costliest step of an export, on cores the worker shares with
 * PostgreSQL, to save another 4.5% of the plain size: level 1. */
#define DPC_EXPORT_GZIP_LEVEL 1

/* Size of the line buffer: one SHA-256 update, one deflate call and one
 * write(2) per 256 KB. */
#define DPC_EXPORT_BUFSIZE (256 * 1024)

/* A resource type is [A-Z][A-Za-z]*, at most this long. */
#define DPC_EXPORT_TYPE_MAX 64

/* Directory and file permissions (before the umask).  The worker runs as
 * httpd's User, which serves the files; nobody else needs to write. */
#define DPC_EXPORT_DIR_PERMS  0750
#define DPC_EXPORT_FILE_PERMS 0640

typedef struct dpc_export_writer dpc_export_writer;

/* One published output file, from the writer's pool. */
typedef struct dpc_export_file {
    const char *name;           /* "<type>-<32 hex>.ndjson" */
    const char *path;           /* dir "/" name */
    const char *type;           /* the resource type */
    apr_uint64_t count;         /* resources, i.e. lines */
    apr_uint64_t bytes;         /* length of the NDJSON, newlines included */
    const char *sha256;         /* lower-case hex SHA-256 of those bytes */
    const char *gz_name;        /* name ".gz", or NULL without the twin */
    const char *gz_path;        /* dir "/" gz_name, or NULL */
    apr_uint64_t gz_bytes;      /* length of the twin, or 0 */
    const char *encrypted_key;  /* an encrypted file's AES key, wrapped
                                 * (dpc_crypt_wrap, hex), or NULL */
} dpc_export_file;

/* Make a writer for resources of `type` into directory `dir`, created
 * (DPC_EXPORT_DIR_PERMS) if missing; its parent must exist.  `dir` must not
 * be a symbolic link.  per_file >= 1.  flags: 0 or DPC_EXPORT_GZIP.  On
 * failure *w is NULL and *why says what went wrong. */
apr_status_t dpc_export_writer_create(apr_pool_t *p, const char *dir,
                                      const char *type, apr_uint64_t per_file,
                                      int flags, dpc_export_writer **w,
                                      const char **why);

/* Append one resource (len bytes of body, then '\n'), opening a new part
 * first if needed and publishing the part once it holds per_file
 * resources.  APR_EINVAL for an empty body or one holding '\n' or '\r'
 * (nothing written); any other error is an I/O error, after which the
 * writer is failed. */
apr_status_t dpc_export_write(dpc_export_writer *w, const char *body,
                              apr_size_t len);

/* Publish the last part, if it holds any resource, and return every file
 * this writer published, in order, as an array of dpc_export_file (empty
 * when no resource was written).  May be called again: it returns the same
 * array.  Fails, publishing nothing more, on a failed writer. */
apr_status_t dpc_export_writer_finish(dpc_export_writer *w,
                                      apr_array_header_t **files);

/* Remove the open part's temp files and every file the writer published
 * (finished or not), for a job that failed or was cancelled.  The writer
 * accepts nothing afterwards.  Missing files are not an error; the first
 * other failure is returned (and the rest still attempted). */
apr_status_t dpc_export_writer_abort(dpc_export_writer *w);

/* The message of the writer's last error, or NULL. */
const char *dpc_export_writer_error(const dpc_export_writer *w);

/* Resources written so far, over all parts. */
apr_uint64_t dpc_export_writer_count(const dpc_export_writer *w);

/* The resource type the writer was made for. */
const char *dpc_export_writer_type(const dpc_export_writer *w);

/* Is `type` usable as a resource type in file names: [A-Z][A-Za-z]*, at
 * most DPC_EXPORT_TYPE_MAX characters? */
int dpc_export_type_valid(const char *type);

/* The resource types an export writes (the claims store's), in the order
 * chosen when a kick-off names none; ended by NULL. */
extern const char *const dpc_export_types[];

/* Is `type` one of dpc_export_types[]? */
int dpc_export_type_exported(const char *type);

/* Name the writer's next part after `uuid` (a lower-case UUID, such as
 * the uuid of a data file the error file describes) instead of a random
 * one; only with DPC_EXPORT_UUID_NAMES.  APR_EINVAL if it is not one. */
apr_status_t dpc_export_writer_stem(dpc_export_writer *w, const char *uuid);

/* Who names a writer's parts: the stem of the next part of `type`
 * ("Z0000_0001", or "Z0000_0001_error" for OperationOutcomes: a contract,
 * '_', 4 to 9 digits), from p, or NULL (the part fails). */
typedef const char *dpc_export_namer(void *ctx, const char *type, apr_pool_t *p);

/* Name every part the writer opens from now on with fn (AB2D's files,
 * numbered in their job), instead of random or uuid names. */
void dpc_export_writer_namer(dpc_export_writer *w, dpc_export_namer *fn, void *ctx);
/* With DPC_EXPORT_WHOLE_GROUPS, resources come in groups (a patient's,
 * the Patient first) that never straddle two files: dpc_export_write()
 * does not rotate, and this, called before the first resource of each
 * group, publishes the part once it holds per_file resources or more (a
 * group larger than per_file makes a larger file).  Without the flag it
 * does nothing.  Errors as dpc_export_write()'s. */
apr_status_t dpc_export_writer_group(dpc_export_writer *w);
/* Encrypt every part of this writer for the RSA public key pub, as
 * dpc_crypt.h describes (nonce || AES-256-GCM ciphertext || tag, each part
 * with its own key, wrapped with the part's name as label into
 * dpc_export_file.encrypted_key), as the bytes stream.  The file's count
 * is its resources; bytes and sha256 describe the encrypted file, the
 * bytes served.  Call it before the first write; a writer with a gzip twin
 * is refused (APR_EINVAL): ciphertext does not compress.  pub must
 * outlive the writer. */
apr_status_t dpc_export_writer_encrypt(dpc_export_writer *w, EVP_PKEY *pub);

/* The name of the part being written (not yet published), or NULL. */
const char *dpc_export_writer_part_name(const dpc_export_writer *w);

/* Is `name` exactly a name the writer publishes: "<type>-<32 lower-case
 * hex>.ndjson", "<uuid>.ndjson", "<uuid>-error.ndjson" (UUIDs in lower
 * case), "Z0000_0001.ndjson", "Z0000_0001_error.ndjson", or any of them
 * with ".gz"?  No '/', no "..", no temp names,
 * nothing else; so root "/" job "/" name never leaves the job directory. */
int dpc_export_name_valid(const char *name);

/* "<root>/<job_id>", or NULL unless job_id is a UUID (dpc_uuid_is_valid()). */
const char *dpc_export_job_dir(apr_pool_t *p, const char *root,
                               const char *job_id);

/* Delete the job directory root/job_id and everything in it, for expiry or
 * cancellation.  root must be an absolute path (it may itself be a
 * symbolic link, as configured); job_id must be a UUID.  Nothing below root
 * is followed: a job_id that is a symbolic link is refused, and links in
 * the directory are removed, not followed.  A subdirectory (never made by
 * the writer) is refused and left.  A directory already gone is success.
 * On failure *why says what (why may be NULL). */
apr_status_t dpc_export_remove_dir(apr_pool_t *p, const char *root,
                                   const char *job_id, const char **why);

/* Remove from the job directory root/job_id every file whose name is not a
 * key of keep: what batches interrupted by a killed or disconnected worker
 * left (temp files, parts published but never recorded), once the job is
 * complete and every name it lists is known.  *removed counts them.  The
 * same rules as dpc_export_remove_dir: nothing is followed. */
apr_status_t dpc_export_prune_dir(apr_pool_t *p, const char *root, const char *job_id,
                                  apr_hash_t *keep, int *removed, const char **why);

#endif
