/* dpc_export.c: see dpc_export.h. */
#include "dpc_export.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <apr_strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "dpc_b64.h"
#include "dpc_crypt.h"
#include "dpc_token.h"

/* Random bytes in a file name: 128 bits, as 32 hex digits. */
#define NAME_RANDOM 16
#define NAME_HEX (2 * NAME_RANDOM)
/* "<type>-<hex>.ndjson.gz.tmp" and its NUL (longer than
 * "<uuid>-error.ndjson.gz.tmp"). */
#define NAME_MAX_LEN (DPC_EXPORT_TYPE_MAX + 1 + NAME_HEX + sizeof(".ndjson.gz.tmp"))
#define UUID_LEN 36
#define ERROR_SUFFIX "-error"
#define ERROR_TYPE "OperationOutcome"
#define CONTRACT_ERROR_SUFFIX "_error"

#define EXT_NDJSON ".ndjson"
#define EXT_GZ ".gz"
#define EXT_TMP ".tmp"

/* How often dpc_export_remove_dir() empties the directory again when a
 * writer still busy in it adds a file between the sweep and the rmdir. */
#define REMOVE_PASSES 3

typedef enum {
    W_OPEN = 0,                 /* accepting writes */
    W_FINISHED,                 /* finish succeeded: files listed */
    W_FAILED,                   /* an I/O error: refuses writes and finish */
    W_ABORTED                   /* everything removed */
} writer_state;

/* How far a file's writeback has been started, and up to where its pages
 * have been dropped from the page cache (see writeback()). */
typedef struct writeback_state {
    apr_uint64_t started, dropped;
} writeback_state;

/* The part being written.  Names live here, not in the pool, so a long
 * export allocates nothing per part until it is published. */
typedef struct export_part {
    int fd, gz_fd;              /* -1 when closed */
    int tmp_exists, gz_tmp_exists;  /* what the error path must unlink */
    int published, gz_published;
    char name[NAME_MAX_LEN];        /* "<type>-<hex>.ndjson" */
    char tmp[NAME_MAX_LEN];
    char gz_name[NAME_MAX_LEN];
    char gz_tmp[NAME_MAX_LEN];
    apr_uint64_t count, bytes, gz_bytes;
    writeback_state wb, gz_wb;
} export_part;

struct dpc_export_writer {
    apr_pool_t *pool;
    pid_t pid;                  /* the process that owns the files */
    const char *dir;
    const char *type;
    apr_uint64_t per_file;
    int gzip;
    int uuid_names;             /* DPC_EXPORT_UUID_NAMES */
    int whole_groups;           /* DPC_EXPORT_WHOLE_GROUPS */
    char stem[UUID_LEN + 1];    /* the next part's uuid, or "" */
    dpc_export_namer *namer;    /* names each part, or NULL */
    void *namer_ctx;
    int dir_fd;                 /* the job directory, held open */
    writer_state state;
    apr_status_t status;        /* the error that failed the writer */
    const char *error;
    apr_uint64_t total;
    export_part part;
    int part_open;
    unsigned char *buf;         /* DPC_EXPORT_BUFSIZE bytes of NDJSON */
    apr_size_t used;
    unsigned char *zbuf;        /* DPC_EXPORT_BUFSIZE bytes of gzip output */
    z_stream z;
    int z_ready;                /* deflateInit2 done: deflateEnd owed */
    EVP_MD_CTX *md;
    apr_array_header_t *files;  /* dpc_export_file */
    EVP_PKEY *enc_pub;          /* encrypt parts for this key, or NULL */
    dpc_crypt_stream *crypt;    /* with enc_pub */
    unsigned char fkey[DPC_CRYPT_KEY_LEN];  /* the open part's AES key */
};

/* ---------------------------------------------------------------------- */
/* names                                                                    */

/* [A-Z][A-Za-z]*, 1 to DPC_EXPORT_TYPE_MAX characters: FHIR resource type
 * names are letters only, so a type can never carry '/', '.' or '-'. */
static int type_valid_n(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > DPC_EXPORT_TYPE_MAX || !(s[0] >= 'A' && s[0] <= 'Z'))
        return 0;
    for (i = 1; i < n; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')))
            return 0;
    }
    return 1;
}

int dpc_export_type_valid(const char *type)
{
    return type && type_valid_n(type, strnlen(type, DPC_EXPORT_TYPE_MAX + 1));
}

const char *const dpc_export_types[] = {
    "Patient", "Coverage", "ExplanationOfBenefit", NULL
};

int dpc_export_type_exported(const char *type)
{
    int i;

    for (i = 0; type && dpc_export_types[i]; i++)
        if (!strcmp(type, dpc_export_types[i]))
            return 1;
    return 0;
}

/* Only lower-case hex: the writer makes nothing else, so a name differing
 * in case is not ours. */
static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* A lower-case UUID in the first 36 characters of s. */
static int lower_uuid_at(const char *s)
{
    int i;

    for (i = 0; i < UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        }
        else if (!is_lower_hex(s[i]))
            return 0;       /* also stops at the NUL */
    }
    return 1;
}

/* "<uuid>[-error].ndjson[.gz]" */
static int uuid_name_valid(const char *name)
{
    const char *s = name + UUID_LEN;

    if (!lower_uuid_at(name))
        return 0;
    if (!strncmp(s, ERROR_SUFFIX, sizeof(ERROR_SUFFIX) - 1))
        s += sizeof(ERROR_SUFFIX) - 1;
    return !strcmp(s, EXT_NDJSON) || !strcmp(s, EXT_NDJSON EXT_GZ);
}

/* "<contract>_<4 or more digits>[_error].ndjson[.gz]": a contract is a
 * capital letter and four digits (AB2D's "Z0000_0001.ndjson"). */
static int contract_name_valid(const char *name)
{
    const char *s = name + 6;
    size_t n = strspn(s, "0123456789");
    int i;

    if (!(name[0] >= 'A' && name[0] <= 'Z') || name[5] != '_')
        return 0;
    for (i = 1; i < 5; i++)
        if (!(name[i] >= '0' && name[i] <= '9'))
            return 0;
    if (n < 4 || n > 9)
        return 0;
    s += n;
    if (!strncmp(s, CONTRACT_ERROR_SUFFIX, sizeof(CONTRACT_ERROR_SUFFIX) - 1))
        s += sizeof(CONTRACT_ERROR_SUFFIX) - 1;
    return !strcmp(s, EXT_NDJSON) || !strcmp(s, EXT_NDJSON EXT_GZ);
}

int dpc_export_name_valid(const char *name)
{
    const char *dash, *s;
    int i;

    if (!name)
        return 0;
    if (strlen(name) > 6 && name[5] == '_')
        return contract_name_valid(name);
    if (is_lower_hex(name[0]))      /* a type starts with [A-Z] */
        return uuid_name_valid(name);
    /* The type has no '-', so the first one ends it. */
    dash = strchr(name, '-');
    if (!dash)
        return 0;
    if (!type_valid_n(name, (size_t)(dash - name)))
        return 0;
    s = dash + 1;
    for (i = 0; i < NAME_HEX; i++) {
        if (!is_lower_hex(s[i]))
            return 0;       /* also stops at the NUL */
    }
    s += NAME_HEX;
    return !strcmp(s, EXT_NDJSON) || !strcmp(s, EXT_NDJSON EXT_GZ);
}

const char *dpc_export_job_dir(apr_pool_t *p, const char *root,
                               const char *job_id)
{
    if (!root || !*root || !dpc_uuid_is_valid(job_id))
        return NULL;
    return apr_pstrcat(p, root, "/", job_id, NULL);
}

/* ---------------------------------------------------------------------- */
/* errors                                                                   */

static const char *errstr(apr_pool_t *p, apr_status_t rv)
{
    char buf[256];

    return apr_pstrdup(p, apr_strerror(rv, buf, sizeof(buf)));
}

/* Fail the writer with rv: "<what> <dir>/<file>: <reason>". */
static apr_status_t writer_fail(dpc_export_writer *w, apr_status_t rv,
                                const char *what, const char *file)
{
    w->state = W_FAILED;
    w->status = rv;
    w->error = apr_psprintf(w->pool, "%s %s/%s: %s", what, w->dir, file,
                            errstr(w->pool, rv));
    return rv;
}

static apr_status_t os_error(void)
{
    return APR_FROM_OS_ERROR(errno);
}

/* ---------------------------------------------------------------------- */
/* low-level I/O                                                            */

/* write(2) all of it, through EINTR and short writes. */
static apr_status_t write_full(int fd, const unsigned char *data, apr_size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return os_error();
        }
        data += n;
        len -= (apr_size_t)n;
    }
    return APR_SUCCESS;
}

static int open_new(int dir_fd, const char *name)
{
    return openat(dir_fd, name,
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  DPC_EXPORT_FILE_PERMS);
}

/* unlinkat, where a name already gone is fine. */
static apr_status_t unlink_quiet(int dir_fd, const char *name)
{
    if (unlinkat(dir_fd, name, 0) != 0 && errno != ENOENT)
        return os_error();
    return APR_SUCCESS;
}

static void close_quiet(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* close(2) and report its error: on NFS and some others, a deferred write
 * error surfaces only here. */
static apr_status_t close_checked(int *fd)
{
    int r = close(*fd);

    *fd = -1;
    return r != 0 && errno != EINTR ? os_error() : APR_SUCCESS;
}

/* ---------------------------------------------------------------------- */
/* the current part                                                         */

/* Close and unlink whatever the part left, temp or already published.  The
 * first unlink failure is returned; the rest are still tried. */
static apr_status_t part_discard(dpc_export_writer *w)
{
    export_part *pt = &w->part;
    apr_status_t rv = APR_SUCCESS, r;

    if (!w->part_open)
        return APR_SUCCESS;
    close_quiet(&pt->fd);
    close_quiet(&pt->gz_fd);
    if (pt->tmp_exists && (r = unlink_quiet(w->dir_fd, pt->tmp)) && !rv)
        rv = r;
    if (pt->gz_tmp_exists && (r = unlink_quiet(w->dir_fd, pt->gz_tmp)) && !rv)
        rv = r;
    if (pt->published && (r = unlink_quiet(w->dir_fd, pt->name)) && !rv)
        rv = r;
    if (pt->gz_published && (r = unlink_quiet(w->dir_fd, pt->gz_name)) && !rv)
        rv = r;
    w->part_open = 0;
    w->used = 0;
    return rv;
}

/* Fail the writer and remove the part's files: no partial file stays. */
static apr_status_t part_fail(dpc_export_writer *w, apr_status_t rv,
                              const char *what, const char *file)
{
    writer_fail(w, rv, what, file);
    part_discard(w);
    return rv;
}

static void hex_into(char *out, const unsigned char *b, apr_size_t n)
{
    static const char digits[] = "0123456789abcdef";
    apr_size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 0xf];
    }
    out[2 * n] = '\0';
}

/* The uuid form of 16 random bytes' hex: 8-4-4-4-12, version 4. */
static void uuid_of_hex(char *out, char *hex)
{
    hex[12] = '4';
    hex[16] = "89ab"[dpc_hexval(hex[16]) & 3];
    apr_snprintf(out, UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
                 hex + 16, hex + 20);
}

/* The part's names; -1 when the namer gave none, or one not valid. */
static int part_names(const dpc_export_writer *w, export_part *pt, const char *type,
                      char *hex)
{
    char uuid[UUID_LEN + 1];
    const char *stem;

    if (w->namer) {
        if (!(stem = w->namer(w->namer_ctx, type, w->pool)))
            return -1;
        apr_snprintf(pt->name, sizeof(pt->name), "%s" EXT_NDJSON, stem);
        if (!contract_name_valid(pt->name))
            return -1;
    }
    else if (w->uuid_names) {
        if (w->stem[0])
            memcpy(uuid, w->stem, sizeof(uuid));
        else
            uuid_of_hex(uuid, hex);
        apr_snprintf(pt->name, sizeof(pt->name), "%s%s" EXT_NDJSON, uuid,
                     strcmp(type, ERROR_TYPE) ? "" : ERROR_SUFFIX);
    }
    else
        apr_snprintf(pt->name, sizeof(pt->name), "%s-%s" EXT_NDJSON, type, hex);
    apr_snprintf(pt->tmp, sizeof(pt->tmp), "%s" EXT_TMP, pt->name);
    apr_snprintf(pt->gz_name, sizeof(pt->gz_name), "%s" EXT_GZ, pt->name);
    apr_snprintf(pt->gz_tmp, sizeof(pt->gz_tmp), "%s" EXT_TMP, pt->gz_name);
    return 0;
}

/* Write the bytes of an encrypted file that are not ciphertext (the
 * nonce, the tag): hashed and counted like the rest. */
static apr_status_t part_put_raw(dpc_export_writer *w, const unsigned char *b,
                                 apr_size_t n)
{
    export_part *pt = &w->part;
    apr_status_t rv;

    if (EVP_DigestUpdate(w->md, b, n) != 1)
        return part_fail(w, APR_EGENERAL, "SHA-256 of", pt->tmp);
    if ((rv = write_full(pt->fd, b, n)) != APR_SUCCESS)
        return part_fail(w, rv, "write", pt->tmp);
    pt->bytes += n;
    return APR_SUCCESS;
}

/* A new encrypted part: a fresh key and nonce, the nonce first. */
static apr_status_t part_crypt_begin(dpc_export_writer *w)
{
    unsigned char nonce[DPC_CRYPT_NONCE_LEN];

    if (dpc_crypt_encrypt_begin(w->crypt, w->fkey, nonce) != APR_SUCCESS)
        return part_fail(w, APR_EGENERAL, "AES-256-GCM setup for", w->part.tmp);
    return part_put_raw(w, nonce, sizeof(nonce));
}

/* An encrypted part's end: the tag last. */
static apr_status_t part_crypt_end(dpc_export_writer *w)
{
    unsigned char tag[DPC_CRYPT_TAG_LEN];

    if (dpc_crypt_encrypt_end(w->crypt, tag) != APR_SUCCESS)
        return part_fail(w, APR_EGENERAL, "AES-256-GCM tag of", w->part.tmp);
    return part_put_raw(w, tag, sizeof(tag));
}

static apr_status_t part_open(dpc_export_writer *w)
{
    export_part *pt = &w->part;
    unsigned char rnd[NAME_RANDOM];
    char hex[NAME_HEX + 1];
    apr_status_t rv;

    memset(pt, 0, sizeof(*pt));
    pt->fd = pt->gz_fd = -1;
    w->part_open = 1;
    w->used = 0;
    if ((rv = dpc_random_bytes(rnd, sizeof(rnd))) != APR_SUCCESS)
        return part_fail(w, rv, "random name for", w->type);
    hex_into(hex, rnd, sizeof(rnd));
    if (part_names(w, pt, w->type, hex))
        return part_fail(w, APR_EGENERAL, "no name for a part of", w->type);
    w->stem[0] = '\0';         /* the stem names one part */

    /* O_EXCL: a temp name is ours alone, even if another writer drew the
     * same 128 bits. */
    if ((pt->fd = open_new(w->dir_fd, pt->tmp)) < 0)
        return part_fail(w, os_error(), "create", pt->tmp);
    pt->tmp_exists = 1;
    if (w->gzip) {
        if ((pt->gz_fd = open_new(w->dir_fd, pt->gz_tmp)) < 0)
            return part_fail(w, os_error(), "create", pt->gz_tmp);
        pt->gz_tmp_exists = 1;
        if (deflateReset(&w->z) != Z_OK)
            return part_fail(w, APR_EGENERAL, "deflateReset for", pt->gz_tmp);
    }
    if (EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1)
        return part_fail(w, APR_EGENERAL, "SHA-256 init for", pt->tmp);
    return w->enc_pub ? part_crypt_begin(w) : APR_SUCCESS;
}

/* Stream a file to disk as it is written, and keep little of it in memory.
 * Once `done` bytes are WRITEBACK_STEP past ws->started, writeback of those
 * bytes is started (asynchronously), so that the disk works while the
 * stream goes on and the fsync that publishes the part has little left to
 * wait for.  The step before that one, written back by now, is then dropped
 * from the page cache: an export writes each byte once and a client
 * downloads it later, so keeping gigabytes of it cached would only push out
 * the database's pages, and the same few megabytes of page cache are
 * reused instead of fresh memory for every step (which a virtual machine
 * that returns freed memory to its host pays for again on each use).
 * Advisory: a write error is found again by the fsync. */
#define WRITEBACK_STEP (2 * 1024 * 1024)

static void writeback(int fd, writeback_state *ws, apr_uint64_t done)
{
#ifdef SYNC_FILE_RANGE_WRITE
    if (done - ws->started < WRITEBACK_STEP)
        return;
    (void)sync_file_range(fd, (off_t)ws->started, (off_t)(done - ws->started),
                          SYNC_FILE_RANGE_WRITE);
#ifdef POSIX_FADV_DONTNEED
    /* pages still under writeback are skipped, not waited for */
    if (ws->started > ws->dropped) {
        (void)posix_fadvise(fd, (off_t)ws->dropped,
                            (off_t)(ws->started - ws->dropped), POSIX_FADV_DONTNEED);
        ws->dropped = ws->started;
    }
#endif
    ws->started = done;
#else
    (void)fd, (void)ws, (void)done;
#endif
}

/* After the fsync: nothing of the file need stay cached. */
static void drop_cached(int fd)
{
#ifdef POSIX_FADV_DONTNEED
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
#else
    (void)fd;
#endif
}

/* Write out the gzip output buffer. */
static apr_status_t gz_drain(dpc_export_writer *w)
{
    apr_size_t n = DPC_EXPORT_BUFSIZE - w->z.avail_out;
    apr_status_t rv;

    if (n == 0)
        return APR_SUCCESS;
    if ((rv = write_full(w->part.gz_fd, w->zbuf, n)) != APR_SUCCESS)
        return part_fail(w, rv, "write", w->part.gz_tmp);
    w->part.gz_bytes += n;
    writeback(w->part.gz_fd, &w->part.gz_wb, w->part.gz_bytes);
    w->z.next_out = w->zbuf;
    w->z.avail_out = DPC_EXPORT_BUFSIZE;
    return APR_SUCCESS;
}

/* Run deflate over the pending input (or to the end of the stream with
 * Z_FINISH), draining the output buffer whenever it fills. */
static apr_status_t gz_deflate(dpc_export_writer *w, int flush)
{
    apr_status_t rv;
    int zr;

    for (;;) {
        if (w->z.avail_out == 0 && (rv = gz_drain(w)) != APR_SUCCESS)
            return rv;
        zr = deflate(&w->z, flush);
        if (zr == Z_STREAM_END)
            return gz_drain(w);
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return part_fail(w, APR_EGENERAL, "deflate for", w->part.gz_tmp);
        /* Z_NO_FLUSH is done once all input is taken and output space
         * remains; Z_FINISH only ends at Z_STREAM_END. */
        if (flush == Z_NO_FLUSH && w->z.avail_in == 0 && w->z.avail_out > 0)
            return APR_SUCCESS;
    }
}

/* Hash, compress and write the line buffer: every byte passes each stage
 * once, in 256 KB steps. */
static apr_status_t part_flush(dpc_export_writer *w)
{
    export_part *pt = &w->part;
    apr_status_t rv;

    if (w->used == 0)
        return APR_SUCCESS;
    /* in place: the hash and the file get the bytes served */
    if (w->crypt && dpc_crypt_update(w->crypt, w->buf, w->used, w->buf) != APR_SUCCESS)
        return part_fail(w, APR_EGENERAL, "AES-256-GCM encryption of", pt->tmp);
    if (EVP_DigestUpdate(w->md, w->buf, w->used) != 1)
        return part_fail(w, APR_EGENERAL, "SHA-256 of", pt->tmp);
    if (w->gzip) {
        w->z.next_in = w->buf;
        w->z.avail_in = (uInt)w->used;
        if ((rv = gz_deflate(w, Z_NO_FLUSH)) != APR_SUCCESS)
            return rv;
    }
    if ((rv = write_full(pt->fd, w->buf, w->used)) != APR_SUCCESS)
        return part_fail(w, rv, "write", pt->tmp);
    pt->bytes += w->used;
    writeback(pt->fd, &pt->wb, pt->bytes);
    w->used = 0;
    return APR_SUCCESS;
}

/* Copy bytes into the line buffer, flushing it each time it fills. */
static apr_status_t part_put(dpc_export_writer *w, const char *data,
                             apr_size_t len)
{
    apr_status_t rv;

    while (len > 0) {
        apr_size_t room = DPC_EXPORT_BUFSIZE - w->used;
        apr_size_t n = len < room ? len : room;

        memcpy(w->buf + w->used, data, n);
        w->used += n;
        data += n;
        len -= n;
        if (w->used == DPC_EXPORT_BUFSIZE && (rv = part_flush(w)) != APR_SUCCESS)
            return rv;
    }
    return APR_SUCCESS;
}

/* Flush, end the gzip stream, fsync and close both files. */
static apr_status_t part_complete(dpc_export_writer *w)
{
    export_part *pt = &w->part;
    apr_status_t rv;

    if ((rv = part_flush(w)) != APR_SUCCESS)
        return rv;
    if (w->crypt && (rv = part_crypt_end(w)) != APR_SUCCESS)
        return rv;
    if (w->gzip) {
        w->z.next_in = NULL;
        w->z.avail_in = 0;
        if ((rv = gz_deflate(w, Z_FINISH)) != APR_SUCCESS)
            return rv;
        if (fsync(pt->gz_fd) != 0)
            return part_fail(w, os_error(), "fsync", pt->gz_tmp);
        drop_cached(pt->gz_fd);
        if ((rv = close_checked(&pt->gz_fd)) != APR_SUCCESS)
            return part_fail(w, rv, "close", pt->gz_tmp);
    }
    if (fsync(pt->fd) != 0)
        return part_fail(w, os_error(), "fsync", pt->tmp);
    drop_cached(pt->fd);
    if ((rv = close_checked(&pt->fd)) != APR_SUCCESS)
        return part_fail(w, rv, "close", pt->tmp);
    return APR_SUCCESS;
}

/* Rename the twin, then the NDJSON, into place, and make the new names
 * durable with one fsync of the directory. */
static apr_status_t part_rename(dpc_export_writer *w)
{
    export_part *pt = &w->part;

    if (w->gzip) {
        if (renameat(w->dir_fd, pt->gz_tmp, w->dir_fd, pt->gz_name) != 0)
            return part_fail(w, os_error(), "rename", pt->gz_tmp);
        pt->gz_tmp_exists = 0;
        pt->gz_published = 1;
    }
    if (renameat(w->dir_fd, pt->tmp, w->dir_fd, pt->name) != 0)
        return part_fail(w, os_error(), "rename", pt->tmp);
    pt->tmp_exists = 0;
    pt->published = 1;
    if (fsync(w->dir_fd) != 0)
        return part_fail(w, os_error(), "fsync directory of", pt->name);
    return APR_SUCCESS;
}

static void part_record(dpc_export_writer *w, const char *sha_hex,
                        const char *wrapped)
{
    export_part *pt = &w->part;
    dpc_export_file *f = apr_array_push(w->files);

    memset(f, 0, sizeof(*f));
    f->name = apr_pstrdup(w->pool, pt->name);
    f->path = apr_pstrcat(w->pool, w->dir, "/", pt->name, NULL);
    f->type = w->type;
    f->count = pt->count;
    f->bytes = pt->bytes;
    f->sha256 = apr_pstrdup(w->pool, sha_hex);
    f->encrypted_key = wrapped;
    if (w->gzip) {
        f->gz_name = apr_pstrdup(w->pool, pt->gz_name);
        f->gz_path = apr_pstrcat(w->pool, w->dir, "/", pt->gz_name, NULL);
        f->gz_bytes = pt->gz_bytes;
    }
}

/* Finish the current part and list it. */
static apr_status_t part_publish(dpc_export_writer *w)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    unsigned int mdlen = 0;
    const char *wrapped = NULL, *why;
    apr_status_t rv;

    if ((rv = part_complete(w)) != APR_SUCCESS)
        return rv;
    if (EVP_DigestFinal_ex(w->md, md, &mdlen) != 1)
        return part_fail(w, APR_EGENERAL, "SHA-256 of", w->part.tmp);
    hex_into(hex, md, mdlen);
    if (w->enc_pub) {
        /* the label is the name the file is published and served under */
        rv = dpc_crypt_wrap(w->pool, w->enc_pub, w->fkey, sizeof(w->fkey),
                            w->part.name, &wrapped, &why);
        OPENSSL_cleanse(w->fkey, sizeof(w->fkey));
        if (rv != APR_SUCCESS)
            return part_fail(w, rv, "wrap the key of", w->part.tmp);
    }
    if ((rv = part_rename(w)) != APR_SUCCESS)
        return rv;
    part_record(w, hex, wrapped);
    w->part_open = 0;
    return APR_SUCCESS;
}

/* ---------------------------------------------------------------------- */
/* the writer                                                               */

/* Unlink every published file; the first failure is returned and kept. */
static apr_status_t remove_published(dpc_export_writer *w)
{
    apr_status_t rv = APR_SUCCESS, r;
    int i;

    for (i = 0; i < w->files->nelts; i++) {
        dpc_export_file *f = &APR_ARRAY_IDX(w->files, i, dpc_export_file);

        /* The NDJSON first: a visible .ndjson always has its twin. */
        if ((r = unlink_quiet(w->dir_fd, f->name)) != APR_SUCCESS && !rv) {
            rv = r;
            w->error = apr_psprintf(w->pool, "unlink %s: %s", f->path,
                                    errstr(w->pool, r));
        }
        if (f->gz_name && (r = unlink_quiet(w->dir_fd, f->gz_name)) != APR_SUCCESS
            && !rv) {
            rv = r;
            w->error = apr_psprintf(w->pool, "unlink %s: %s", f->gz_path,
                                    errstr(w->pool, r));
        }
    }
    return rv;
}

apr_status_t dpc_export_writer_abort(dpc_export_writer *w)
{
    apr_status_t rv, r;

    if (w->state == W_ABORTED)
        return APR_SUCCESS;
    rv = part_discard(w);
    if (rv != APR_SUCCESS)
        w->error = apr_psprintf(w->pool, "unlink a temp file in %s: %s",
                                w->dir, errstr(w->pool, rv));
    r = remove_published(w);
    if (!rv)
        rv = r;
    /* Make the removals durable too: a crash must not bring back a file
     * the job no longer lists. */
    if (fsync(w->dir_fd) != 0 && !rv) {
        rv = os_error();
        w->error = apr_psprintf(w->pool, "fsync %s: %s", w->dir,
                                errstr(w->pool, rv));
    }
    w->state = W_ABORTED;
    w->status = rv ? rv : APR_EINVAL;
    return rv;
}

/* Pool cleanup: release descriptors and zlib/OpenSSL state; a writer left
 * unfinished is aborted, so a job whose pool dies leaves no file.  Only in
 * the process that made it: a forked child clearing its copy of the pool
 * must not delete files its parent is still writing. */
static apr_status_t writer_cleanup(void *data)
{
    dpc_export_writer *w = data;

    if (w->state != W_FINISHED && w->state != W_ABORTED && w->pid == getpid())
        dpc_export_writer_abort(w);
    close_quiet(&w->part.fd);
    close_quiet(&w->part.gz_fd);
    close_quiet(&w->dir_fd);
    if (w->z_ready) {
        deflateEnd(&w->z);
        w->z_ready = 0;
    }
    if (w->md) {
        EVP_MD_CTX_free(w->md);
        w->md = NULL;
    }
    OPENSSL_cleanse(w->fkey, sizeof(w->fkey));
    return APR_SUCCESS;
}

/* fsync the parent of a directory we just made, so its entry survives a
 * crash as the files inside it will. */
static apr_status_t sync_parent(apr_pool_t *p, const char *dir)
{
    const char *slash = strrchr(dir, '/');
    const char *parent;
    int fd;
    apr_status_t rv = APR_SUCCESS;

    if (!slash)
        parent = ".";
    else if (slash == dir)
        parent = "/";
    else
        parent = apr_pstrmemdup(p, dir, (apr_size_t)(slash - dir));
    if ((fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return os_error();
    if (fsync(fd) != 0)
        rv = os_error();
    close(fd);
    return rv;
}

/* Make dir if missing and open it, refusing a symbolic link. */
static apr_status_t open_job_dir(apr_pool_t *p, const char *dir, int *fd,
                                 const char **why)
{
    apr_status_t rv;

    if (mkdir(dir, DPC_EXPORT_DIR_PERMS) == 0) {
        if ((rv = sync_parent(p, dir)) != APR_SUCCESS) {
            *why = apr_psprintf(p, "fsync the parent of %s: %s", dir,
                                errstr(p, rv));
            return rv;
        }
    }
    else if (errno != EEXIST) {
        rv = os_error();
        *why = apr_psprintf(p, "mkdir %s: %s", dir, errstr(p, rv));
        return rv;
    }
    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*fd < 0) {
        rv = os_error();
        *why = apr_psprintf(p, "open directory %s: %s", dir, errstr(p, rv));
        return rv;
    }
    return APR_SUCCESS;
}

static apr_status_t writer_init_state(dpc_export_writer *w, const char **why)
{
    w->buf = apr_palloc(w->pool, DPC_EXPORT_BUFSIZE);
    if (!(w->md = EVP_MD_CTX_new())) {
        *why = "out of memory for a SHA-256 context";
        return APR_ENOMEM;
    }
    if (w->gzip) {
        w->zbuf = apr_palloc(w->pool, DPC_EXPORT_BUFSIZE);
        /* windowBits 15 + 16: a gzip header and trailer, not zlib's. */
        if (deflateInit2(&w->z, DPC_EXPORT_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK) {
            *why = "out of memory for a deflate stream";
            return APR_ENOMEM;
        }
        w->z_ready = 1;
        w->z.next_out = w->zbuf;
        w->z.avail_out = DPC_EXPORT_BUFSIZE;
    }
    return APR_SUCCESS;
}

apr_status_t dpc_export_writer_create(apr_pool_t *p, const char *dir,
                                      const char *type, apr_uint64_t per_file,
                                      int flags, dpc_export_writer **out,
                                      const char **why)
{
    dpc_export_writer *w;
    const char *dummy;
    apr_status_t rv;

    *out = NULL;
    if (!why)
        why = &dummy;
    if (!dir || !*dir || !dpc_export_type_valid(type) || per_file < 1
        || (flags & ~(DPC_EXPORT_GZIP | DPC_EXPORT_UUID_NAMES | DPC_EXPORT_WHOLE_GROUPS))) {
        *why = "export writer: a directory, a resource type ([A-Z][A-Za-z]*) "
               "and at least one resource per file are required";
        return APR_EINVAL;
    }
    w = apr_pcalloc(p, sizeof(*w));
    w->pool = p;
    w->pid = getpid();
    w->dir = apr_pstrdup(p, dir);
    w->type = apr_pstrdup(p, type);
    w->per_file = per_file;
    w->gzip = (flags & DPC_EXPORT_GZIP) != 0;
    w->uuid_names = (flags & DPC_EXPORT_UUID_NAMES) != 0;
    w->whole_groups = (flags & DPC_EXPORT_WHOLE_GROUPS) != 0;
    w->dir_fd = w->part.fd = w->part.gz_fd = -1;
    w->files = apr_array_make(p, 4, sizeof(dpc_export_file));
    /* Registered first so that every path below releases what it got; the
     * writer has published nothing yet, so its abort removes nothing. */
    apr_pool_cleanup_register(p, w, writer_cleanup, apr_pool_cleanup_null);
    if ((rv = open_job_dir(p, w->dir, &w->dir_fd, why)) != APR_SUCCESS
        || (rv = writer_init_state(w, why)) != APR_SUCCESS) {
        w->state = W_ABORTED;
        return rv;
    }
    *out = w;
    return APR_SUCCESS;
}

/* Why the writer takes no more writes. */
static apr_status_t writer_refuses(dpc_export_writer *w)
{
    switch (w->state) {
    case W_OPEN:
        return APR_SUCCESS;
    case W_FINISHED:
        w->error = "export writer: already finished";
        return APR_EINVAL;
    case W_ABORTED:
        w->error = "export writer: aborted";
        return APR_EINVAL;
    case W_FAILED:
    default:
        return w->status;       /* its message stays */
    }
}

apr_status_t dpc_export_write(dpc_export_writer *w, const char *body,
                              apr_size_t len)
{
    apr_status_t rv;

    if ((rv = writer_refuses(w)) != APR_SUCCESS)
        return rv;
    /* One resource per line: a raw newline would split it in two. */
    if (!body || len == 0 || memchr(body, '\n', len) || memchr(body, '\r', len)) {
        w->error = !body || len == 0 ? "export: empty resource body refused"
                            : "export: resource body with a line break refused";
        return APR_EINVAL;
    }
    if (!w->part_open && (rv = part_open(w)) != APR_SUCCESS)
        return rv;
    if ((rv = part_put(w, body, len)) != APR_SUCCESS
        || (rv = part_put(w, "\n", 1)) != APR_SUCCESS)
        return rv;
    w->part.count++;
    w->total++;
    if (w->part.count >= w->per_file && !w->whole_groups)
        return part_publish(w);
    return APR_SUCCESS;
}

apr_status_t dpc_export_writer_finish(dpc_export_writer *w,
                                      apr_array_header_t **files)
{
    apr_status_t rv;

    *files = NULL;
    if (w->state == W_FINISHED) {
        *files = w->files;
        return APR_SUCCESS;
    }
    if ((rv = writer_refuses(w)) != APR_SUCCESS)
        return rv;
    /* A part is opened by its first resource, so an open one is never
     * empty; test the count anyway, since publishing none is the rule. */
    if (w->part_open) {
        rv = w->part.count > 0 ? part_publish(w) : part_discard(w);
        if (rv != APR_SUCCESS)
            return rv;
    }
    w->state = W_FINISHED;
    *files = w->files;
    return APR_SUCCESS;
}

apr_status_t dpc_export_writer_encrypt(dpc_export_writer *w, EVP_PKEY *pub)
{
    const char *why;
    apr_status_t rv;

    if (!pub || w->gzip || w->total || w->part_open || w->state != W_OPEN) {
        w->error = "export writer: encryption is set before the first write, "
                   "and never with a gzip twin";
        return APR_EINVAL;
    }
    if ((rv = dpc_crypt_stream_create(w->pool, &w->crypt, &why)) != APR_SUCCESS) {
        w->error = why;
        return rv;
    }
    w->enc_pub = pub;
    return APR_SUCCESS;
}

const char *dpc_export_writer_error(const dpc_export_writer *w)
{
    return w ? w->error : NULL;
}

apr_uint64_t dpc_export_writer_count(const dpc_export_writer *w)
{
    return w->total;
}

const char *dpc_export_writer_type(const dpc_export_writer *w)
{
    return w->type;
}

/* ---------------------------------------------------------------------- */
/* removing a job directory                                                 */

/* Unlink every entry of the directory open at fd (links themselves, never
 * their targets).  A subdirectory is refused: the writer makes none. */
static apr_status_t empty_dir(apr_pool_t *p, int fd, const char *path,
                              apr_hash_t *keep, int *removed, const char **why)
{
    struct dirent *de;
    apr_status_t rv = APR_SUCCESS;
    DIR *d = NULL;
    int dfd = dup(fd);

    /* fdopendir takes the descriptor: give it a copy. */
    if (dfd < 0 || !(d = fdopendir(dfd))) {
        rv = os_error();
        if (dfd >= 0)
            close(dfd);
        *why = apr_psprintf(p, "read directory %s: %s", path, errstr(p, rv));
        return rv;
    }
    rewinddir(d);
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")
            || (keep && apr_hash_get(keep, de->d_name, APR_HASH_KEY_STRING)))
            continue;
        if (unlinkat(fd, de->d_name, 0) == 0) {
            if (removed)
                (*removed)++;
        }
        else if (errno != ENOENT) {
            rv = os_error();
            *why = apr_psprintf(p, "unlink %s/%s: %s", path, de->d_name,
                                errstr(p, rv));
            break;
        }
        errno = 0;
    }
    if (!rv && errno != 0) {
        rv = os_error();
        *why = apr_psprintf(p, "read directory %s: %s", path, errstr(p, rv));
    }
    closedir(d);
    return rv;
}

/* Empty job_id (open at dir_fd) and remove it from root, again if a busy
 * writer added a file in between. */
static apr_status_t remove_job_dir(apr_pool_t *p, int root_fd, int dir_fd,
                                   const char *job_id, const char *path,
                                   const char **why)
{
    apr_status_t rv;
    int pass;

    for (pass = 0; pass < REMOVE_PASSES; pass++) {
        if ((rv = empty_dir(p, dir_fd, path, NULL, NULL, why)) != APR_SUCCESS)
            return rv;
        if (unlinkat(root_fd, job_id, AT_REMOVEDIR) == 0 || errno == ENOENT)
            return APR_SUCCESS;
        if (errno != ENOTEMPTY && errno != EEXIST)
            break;
    }
    rv = os_error();
    *why = apr_psprintf(p, "rmdir %s: %s", path, errstr(p, rv));
    return rv;
}

apr_status_t dpc_export_remove_dir(apr_pool_t *p, const char *root,
                                   const char *job_id, const char **why)
{
    const char *path, *dummy;
    int root_fd = -1, dir_fd = -1;
    apr_status_t rv = APR_SUCCESS;

    if (!why)
        why = &dummy;
    *why = NULL;
    if (!root || root[0] != '/' || !(path = dpc_export_job_dir(p, root, job_id))) {
        *why = "remove export directory: an absolute export root and a job "
               "UUID are required";
        return APR_EINVAL;
    }
    /* root is the administrator's own setting and may be a link; nothing
     * under it is followed. */
    if ((root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rv = os_error();
        *why = apr_psprintf(p, "open export root %s: %s", root, errstr(p, rv));
        goto end;
    }
    dir_fd = openat(root_fd, job_id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir_fd < 0) {
        if (errno == ENOENT)
            goto end;           /* already gone: expiry and cancel may race */
        rv = os_error();
        *why = apr_psprintf(p, "open job directory %s: %s", path, errstr(p, rv));
        goto end;
    }
    if ((rv = remove_job_dir(p, root_fd, dir_fd, job_id, path, why)) != APR_SUCCESS)
        goto end;
    if (fsync(root_fd) != 0) {
        rv = os_error();
        *why = apr_psprintf(p, "fsync export root %s: %s", root, errstr(p, rv));
    }
end:
    if (dir_fd >= 0)
        close(dir_fd);
    if (root_fd >= 0)
        close(root_fd);
    return rv;
}

apr_status_t dpc_export_prune_dir(apr_pool_t *p, const char *root, const char *job_id,
                                  apr_hash_t *keep, int *removed, const char **why)
{
    const char *path, *dummy;
    int dir_fd;
    apr_status_t rv;

    if (!why)
        why = &dummy;
    *why = NULL;
    *removed = 0;
    if (!root || root[0] != '/' || !(path = dpc_export_job_dir(p, root, job_id))) {
        *why = "prune export directory: an absolute export root and a job UUID "
               "are required";
        return APR_EINVAL;
    }
    dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir_fd < 0) {
        if (errno == ENOENT)
            return APR_SUCCESS;     /* a job of no files, or already removed */
        rv = os_error();
        *why = apr_psprintf(p, "open job directory %s: %s", path, errstr(p, rv));
        return rv;
    }
    rv = empty_dir(p, dir_fd, path, keep, removed, why);
    close(dir_fd);
    return rv;
}

apr_status_t dpc_export_writer_stem(dpc_export_writer *w, const char *uuid)
{
    if (!w->uuid_names || !uuid || strlen(uuid) != UUID_LEN || !lower_uuid_at(uuid))
        return APR_EINVAL;
    memcpy(w->stem, uuid, UUID_LEN + 1);
    return APR_SUCCESS;
}

void dpc_export_writer_namer(dpc_export_writer *w, dpc_export_namer *fn, void *ctx)
{
    w->namer = fn;
    w->namer_ctx = ctx;
}

const char *dpc_export_writer_part_name(const dpc_export_writer *w)
{
    return w->part_open && w->state == W_OPEN ? w->part.name : NULL;
}

apr_status_t dpc_export_writer_group(dpc_export_writer *w)
{
    apr_status_t rv;

    if (!w->whole_groups)
        return APR_SUCCESS;
    if ((rv = writer_refuses(w)) != APR_SUCCESS)
        return rv;
    if (w->part_open && w->part.count >= w->per_file)
        return part_publish(w);
    return APR_SUCCESS;
}
