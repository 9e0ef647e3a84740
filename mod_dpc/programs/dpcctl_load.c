/* dpcctl_load.c: `dpcctl load`, claims the operator brings.
 *
 *   dpcctl load [--strict] [--fhir stu3|r4] [--mbi BENE_ID=MBI]... FILE...
 *
 * Reading.  A FILE holds resources one per line (NDJSON; blank lines are
 * ignored), or is one JSON document, a pretty-printed resource or a Bundle
 * as a Blue Button read or search answers (a file whose first line is not
 * JSON by itself, but whose whole text is).  A Bundle's entries are its
 * resources, wherever it appears.  Each resource is checked (dpc_load.h:
 * type, id, meta.lastUpdated, FHIR version, its beneficiary); a bad one is
 * reported on stderr as "FILE:LINE: reason" ("FILE:LINE: entry N: reason"
 * for a Bundle's entry) and skipped.  --fhir forces the version instead of
 * telling it from each resource's shape.
 *
 * Beneficiaries.  Rows are keyed by MBI, which a Patient carries (its
 * current MBI identifier) and claims reach through their Patient reference,
 * whose id is the bene id.  A bene id's MBI comes from, in this order:
 * --mbi BENE_ID=MBI, the beneficiary table, the first Patient of this load
 * (in file order) with a well-formed current MBI of its own, wherever it
 * is in the files.  A Patient without a well-formed current MBI takes its
 * bene id's known MBI, or is bad; one whose current MBI differs from the
 * known one is bad, and so is an MBI that belongs to another bene id.  A
 * Coverage or ExplanationOfBenefit whose bene id has no MBI is bad.
 *
 * Versions.  A row is (mbi, fhir_version, resource_type, resource_id); one
 * already stored is replaced only by a strictly newer meta.lastUpdated, and
 * of the same row twice in a load the newest counts; the others are counted
 * stale.  A resource whose meta.lastUpdated is BFD's placeholder
 * (IGNORED_FIELD) takes its file's modification time, which is written into
 * its body.  Bodies are stored as read (an NDJSON line's bytes), or as
 * compact JSON for documents and for bodies the placeholder was replaced in.
 *
 * Files are read by threads, in parts of a few MB cut at newlines (see
 * "reading" below); a Coverage or EOB line goes through dpc_load_quick(),
 * which checks it without building it, anything else through jansson.
 *
 * Writing: one transaction, which upserts the beneficiaries, deletes the
 * rows being replaced and COPYs the new ones (binary, through dpc_copy, as
 * `dpcctl synth` does).  The lines stream: the files are read side by
 * side while what was read is written, in batches (see "streaming"
 * below); a record whose MBI is not known yet (a claim before
 * its Patient) waits for the batch that resolves it, or the end.  With
 * --strict every line is read and checked before anything is written, and
 * a bad line fails the load with nothing written.
 *
 * Output: one JSON summary line (files, lines, loaded, replaced, stale,
 * bad, beneficiaries created, written, bytes, seconds).  Exit status: 0 every line
 * loaded (or stale), DPCCTL_LOAD_SKIPPED (3) committed with bad lines
 * skipped, 1 failed (nothing written), 2 usage.
 */
#include "dpcctl_load.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <apr_allocator.h>
#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_hash.h>
#include <apr_mmap.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <apr_time.h>
#include <jansson.h>

#include "dpc_copy.h"
#include "dpc_fhir.h"
#include "dpc_load.h"
#include "dpc_mbi.h"
#include "dpc_pg.h"
#include "dpcctl_out.h"

/* MBIs per statement when reading the stored rows. */
#define LOAD_CHUNK 2000

enum { REC_NEW, REC_REPLACE, REC_STALE, REC_BAD };

typedef struct load_file {
    const char *path;
    apr_mmap_t *mm;             /* NULL for an empty file */
    const char *data;
    apr_size_t len;
    int64_t mtime_us;           /* to the millisecond, as instants print */
    int joined;                 /* lines of the parts joined so far */
} load_file;

/* A good resource.  body points into its file's mapping or the pool. */
typedef struct load_rec {
    const char *type, *id, *bene_id;
    const char *own_mbi, *own_invalid;      /* Patients */
    const char *mbi;                        /* once resolved */
    const char *body;
    apr_size_t body_len;
    int64_t lu_us;
    const char *claim_type, *service_start, *service_end, *coverage_status;
    int file, line, entry;                  /* entry: 1-based, 0 if none */
    int part;                               /* streaming: the part it was read in */
    int version;
    int state;
    int del;                    /* a row of its key is to be deleted first */
    struct load_key *key;       /* streaming: its row key */
} load_rec;

typedef struct load_bad {
    int file, line, entry;
    const char *why;
} load_bad;

/* An entry of load_bene or load_mbi: the MBI or bene id, and the place in
 * the files of the Patient that gave it. */
typedef struct load_who {
    const char *v;
    int file, line, entry;
} load_who;

typedef struct load_ctx {
    apr_pool_t *p;
    PGconn *conn;
    PGconn *ask;                /* asks about the stored state (conn, or a second one) */
    PGconn *asking;             /* the second one while it is being made */
    PostgresPollingStatusType ask_st;       /* and its last PQconnectPoll() */
    int strict, version;
    apr_hash_t *opt_mbi, *opt_owner;        /* --mbi: bene id -> MBI, MBI -> bene id */
    apr_array_header_t *files;              /* load_file */
    apr_array_header_t *recs;               /* load_rec */
    apr_array_header_t *seq;                /* indexes of recs, in the order written */
    apr_array_header_t *bad;                /* load_bad */
    apr_hash_t *db_bene, *db_mbi;           /* the beneficiary table's */
    apr_hash_t *asked_bene, *asked_mbi;     /* what the table was asked about */
    apr_hash_t *load_bene, *load_mbi;       /* this load's Patients' (load_who) */
    apr_hash_t *keys;                       /* row key -> load_rec * */
    long lines, bytes, loaded, replaced, stale, created;
    /* streaming (see "streaming" below) */
    apr_hash_t *skeys;                      /* row key -> load_key * */
    apr_array_header_t *parts;              /* load_part, in the order taken */
    apr_array_header_t *held;               /* indexes of parts taken, not given back */
    struct load_readers *readers;           /* streaming: read on while the server works */
    apr_hash_t *waiting;                    /* bene id -> apr_array of rec indexes */
    int nwaiting;                           /* records in waiting */
    apr_hash_t *upserted;                   /* MBI -> int64_t * last_updated sent */
    apr_hash_t *fetched;                    /* MBIs whose stored rows are keys */
    dpc_copy_out copy;                      /* a COPY being sent, if copy_open */
    int copy_open;
    int again;                              /* Patients met out of file order disagree */
    int whole;                              /* read everything first */
} load_ctx;

#define REC(c, i) (&APR_ARRAY_IDX((c)->recs, (i), load_rec))
/* The i-th record in the order written. */
#define SREC(c, i) REC(c, APR_ARRAY_IDX((c)->seq, (i), int))
#define FILE_AT(c, i) (&APR_ARRAY_IDX((c)->files, (i), load_file))

/* ---- arguments ---------------------------------------------------------- */

static int opt_mbi(load_ctx *c, const char *v)
{
    const char *eq = v ? strchr(v, '=') : NULL;
    const char *bene = eq ? apr_pstrmemdup(c->p, v, eq - v) : NULL;
    const char *had, *owner;

    if (!bene || !dpc_load_id_valid(bene) || !dpc_load_mbi_valid(eq + 1))
        return dpcctl_fail(DPCCTL_USAGE, "load: --mbi takes BENE_ID=MBI (a FHIR id and "
                           "a well-formed MBI), not '%s'", v ? v : "");
    had = apr_hash_get(c->opt_mbi, bene, APR_HASH_KEY_STRING);
    owner = apr_hash_get(c->opt_owner, eq + 1, APR_HASH_KEY_STRING);
    if ((had && strcmp(had, eq + 1)) || (owner && strcmp(owner, bene)))
        return dpcctl_fail(DPCCTL_USAGE, "load: --mbi %s: %s", v, had && strcmp(had, eq + 1)
                           ? "its bene id was given another MBI before"
                           : "its MBI was given to another bene id before");
    apr_hash_set(c->opt_mbi, bene, APR_HASH_KEY_STRING, eq + 1);
    apr_hash_set(c->opt_owner, eq + 1, APR_HASH_KEY_STRING, bene);
    return 0;
}

static int opt_fhir(load_ctx *c, const char *v)
{
    if (v && !strcmp(v, "stu3"))
        c->version = 3;
    else if (v && !strcmp(v, "r4"))
        c->version = 4;
    else
        return dpcctl_fail(DPCCTL_USAGE, "load: --fhir is stu3 or r4");
    return 0;
}

static int parse_args(load_ctx *c, int argc, char **argv, apr_array_header_t *paths)
{
    int i, rc = 0;

    for (i = 1; i < argc && !rc; i++) {
        if (!strcmp(argv[i], "--strict"))
            c->strict = 1;
        else if (!strcmp(argv[i], "--fhir"))
            rc = opt_fhir(c, i + 1 < argc ? argv[++i] : NULL);
        else if (!strcmp(argv[i], "--mbi"))
            rc = opt_mbi(c, i + 1 < argc ? argv[++i] : NULL);
        else if (!strncmp(argv[i], "--", 2) && argv[i][2])
            rc = dpcctl_fail(DPCCTL_USAGE, "load: unknown option '%s'", argv[i]);
        else
            APR_ARRAY_PUSH(paths, const char *) = argv[i];
    }
    if (!rc && paths->nelts == 0)
        rc = dpcctl_fail(DPCCTL_USAGE, "load needs at least one FILE");
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

/* Reading is split in parts (a file's lines, LOAD_PART_BYTES at most, cut
 * at a newline; or a whole file that may be one document), which
 * LOAD_THREADS threads take in turn (while the load writes, the thread
 * that writes: see "streaming").  A part collects its own records and
 * bad lines, numbered from its first line, in the pool of the thread that
 * reads it; they are joined afterwards in the order they were taken (a
 * file's parts in file order).  Each line is checked as soon as its end is
 * found, while its bytes are still in the cache. */
#define LOAD_PART_BYTES (4 * 1024 * 1024)
/* A file's first part is smaller: the first batch is written sooner. */
#define LOAD_FIRST_PART_BYTES (256 * 1024)
#define LOAD_THREADS 2

typedef struct load_part {
    const load_ctx *c;          /* read only while parts are read */
    int file;
    const char *s, *end;
    double at;                  /* where it starts, as a fraction of its file */
    int maybe_document;         /* the first line is not JSON by itself */
    apr_pool_t *pool;           /* the reading thread's */
    apr_array_header_t *recs, *bad;
    long lines, bytes;
    int nlines;                 /* lines in the part */
    int done;                   /* read (under the readers' lock) */
    const char *pos;            /* read up to there, once begun */
    int waiting;                /* streaming: its records that wait for an MBI */
} load_part;

static void add_bad(load_part *r, int line, int entry, const char *why)
{
    load_bad *b = apr_array_push(r->bad);

    b->file = r->file;
    b->line = line;
    b->entry = entry;
    b->why = why;
}

static int map_file(load_ctx *c, const char *path, load_file *f)
{
    apr_file_t *fd;
    apr_finfo_t fi;
    apr_mmap_t *mm;
    apr_status_t rv;
    char err[256];

    f->path = path;
    if ((rv = apr_file_open(&fd, path, APR_FOPEN_READ, 0, c->p)) != APR_SUCCESS
        || (rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_MTIME, fd)) != APR_SUCCESS)
        return dpcctl_fail(DPCCTL_FAIL, "load: %s: %s", path,
                           apr_strerror(rv, err, sizeof(err)));
    f->len = (apr_size_t)fi.size;
    f->mtime_us = fi.mtime - fi.mtime % 1000;
    f->data = "";
    if (f->len == 0)
        return 0;
    if ((rv = apr_mmap_create(&mm, fd, 0, f->len, APR_MMAP_READ, c->p)) != APR_SUCCESS)
        return dpcctl_fail(DPCCTL_FAIL, "load: %s: %s", path,
                           apr_strerror(rv, err, sizeof(err)));
    f->mm = mm;
    f->data = mm->mm;
    return 0;
}

/* A body as compact JSON.  Numbers are printed with 15 significant digits,
 * which gives back any decimal literal of up to 15 (jansson's default of 17
 * would turn 166.23 into 166.22999999999999). */
static const char *dump_body(apr_pool_t *p, const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
    const char *body = s ? apr_pstrdup(p, s) : "";

    free(s);
    return body;
}

/* A placeholder lastUpdated becomes the file's time, in the body too. */
static const char *fill_placeholder(load_part *r, json_t *v, load_rec *rec)
{
    const load_file *f = FILE_AT(r->c, r->file);

    rec->lu_us = f->mtime_us;
    json_object_set_new(json_object_get(v, "meta"), "lastUpdated",
                        json_string(dpc_instant_format(r->pool, f->mtime_us)));
    return dump_body(r->pool, v);
}

/* s, kept in the part's pool unless it is there already (pooled). */
static const char *keep(load_part *r, const char *s, int pooled)
{
    return s && !pooled ? apr_pstrdup(r->pool, s) : s;
}

/* A good resource res becomes a record; body as take_one() says.  pooled:
 * res's strings are in the part's pool (dpc_load_quick()'s), not in v. */
static void add_rec(load_part *r, int line, int entry, const dpc_load_res *res,
                    int pooled, json_t *v, const char *raw, apr_size_t raw_len)
{
    load_rec *rec = apr_array_push(r->recs);

    memset(rec, 0, sizeof(*rec));
    rec->type = !strcmp(res->type, "Patient") ? "Patient" : !strcmp(res->type, "Coverage")
                ? "Coverage" : "ExplanationOfBenefit";
    rec->id = keep(r, res->id, pooled);
    rec->bene_id = keep(r, res->bene_id, pooled);
    rec->own_mbi = keep(r, res->mbi, pooled);
    rec->own_invalid = keep(r, res->mbi_invalid, pooled);
    rec->file = r->file;
    rec->line = line;
    rec->entry = entry;
    rec->version = res->fhir_version;
    rec->lu_us = res->last_updated_us;
    rec->claim_type = res->claim_type;      /* static */
    rec->service_start = keep(r, res->service_start, pooled);
    rec->service_end = keep(r, res->service_end, pooled);
    rec->coverage_status = keep(r, res->coverage_status, pooled);
    rec->body = res->placeholder ? fill_placeholder(r, v, rec)
                : raw ? raw : dump_body(r->pool, v);
    rec->body_len = raw && !res->placeholder ? raw_len : strlen(rec->body);
    r->bytes += (long)rec->body_len;
}

/* Check one parsed resource; a good one becomes a record.  raw is its
 * line's text when the body can be stored as read, else NULL. */
static void take_one(load_part *r, int line, int entry, json_t *v, const char *raw,
                     apr_size_t raw_len)
{
    dpc_load_res res;
    const char *why = dpc_load_check(r->pool, v, r->c->version, &res);

    r->lines++;
    if (why)
        add_bad(r, line, entry, why);
    else
        add_rec(r, line, entry, &res, 0, v, raw, raw_len);
}

/* One parsed value: a resource, or a Bundle of them. */
static void take(load_part *r, int line, json_t *v, const char *raw, apr_size_t raw_len)
{
    const char *type = json_string_value(json_object_get(v, "resourceType"));
    json_t *entry;
    size_t i;

    if (!type || strcmp(type, "Bundle")) {
        take_one(r, line, 0, v, raw, raw_len);
        return;
    }
    json_array_foreach(json_object_get(v, "entry"), i, entry) {
        take_one(r, line, (int)i + 1, json_object_get(entry, "resource"), NULL, 0);
    }
}

static int blank(const char *s, apr_size_t n)
{
    for (; n; n--, s++)
        if (*s != ' ' && *s != '\t' && *s != '\r')
            return 0;
    return 1;
}

/* Most lines are claims that dpc_load_quick() takes without building
 * them; the others are parsed. */
static void read_line(load_part *r, int line, const char *s, apr_size_t n)
{
    json_error_t err;
    dpc_load_res res;
    json_t *v;

    if (dpc_load_quick(r->pool, s, n, r->c->version, &res)) {
        r->lines++;
        add_rec(r, line, 0, &res, 1, NULL, s, n);
        return;
    }
    if (!(v = json_loadb(s, n, 0, &err))) {
        r->lines++;
        add_bad(r, line, 0, apr_psprintf(r->pool, "not JSON: %s (column %d)",
                                          err.text, err.column));
        return;
    }
    take(r, line, v, s, n);
    json_decref(v);
}

/* The first non-blank line of s..end, or NULL. */
static const char *first_line(const char *s, const char *end, apr_size_t *n)
{
    const char *nl;

    for (; s < end; s = nl + 1) {
        nl = memchr(s, '\n', end - s);
        *n = (nl ? nl : end) - s;
        if (!blank(s, *n))
            return s;
        if (!nl)
            break;
    }
    return NULL;
}

/* Is the first line of the file something else than JSON by itself (so
 * the file may be one document)? */
static int maybe_document(const load_file *f)
{
    apr_size_t n;
    const char *s = first_line(f->data, f->data + f->len, &n);
    json_t *v = s ? json_loadb(s, n, 0, NULL) : NULL;

    json_decref(v);
    return s && !v;
}

/* Read part r on from where it was left, its lines up to about budget
 * bytes (a document whole); 1 once it is read. */
static int step_part(load_part *r, apr_size_t budget)
{
    const char *s = r->pos, *stop, *nl;

    if (!s) {
        /* room for a record per 4 KB at first: one allocation for most parts */
        r->recs = apr_array_make(r->pool, (int)((r->end - r->s) / 4096) + 16,
                                 sizeof(load_rec));
        r->bad = apr_array_make(r->pool, 8, sizeof(load_bad));
        s = r->pos = r->s;
        if (r->maybe_document) {
            json_t *doc = json_loadb(s, r->end - s, 0, NULL);

            if (doc) {
                take(r, 1, doc, NULL, 0);
                json_decref(doc);
                r->pos = r->end;
                return 1;
            }
        }
    }
    stop = (apr_size_t)(r->end - s) > budget ? s + budget : r->end;
    for (; s < stop; s = nl ? nl + 1 : r->end) {
        apr_size_t n;

        nl = memchr(s, '\n', r->end - s);
        n = (nl ? nl : r->end) - s;
        r->nlines++;
        if (n && s[n - 1] == '\r')
            n--;
        if (!blank(s, n))
            read_line(r, r->nlines, s, n);
    }
    r->pos = s;
    return s >= r->end;
}

static void read_part(load_part *r)
{
    step_part(r, (apr_size_t)-1);
}

/* Cut file i into parts. */
static void add_parts(load_ctx *c, int i, apr_array_header_t *parts)
{
    const load_file *f = FILE_AT(c, i);
    const char *s = f->data, *end = f->data + f->len, *cut;
    int doc = maybe_document(f);
    apr_size_t size;

    do {
        load_part *r = apr_array_push(parts);

        memset(r, 0, sizeof(*r));
        r->c = c;
        r->file = i;
        r->maybe_document = doc;
        r->s = s;
        r->at = f->len ? (double)(s - f->data) / (double)f->len : 0;
        size = s == f->data ? LOAD_FIRST_PART_BYTES : LOAD_PART_BYTES;
        cut = doc || (apr_size_t)(end - s) <= size ? NULL
              : memchr(s + size, '\n', end - s - size);
        r->end = s = cut ? cut + 1 : end;
    } while (s < end);
}

/* One reading thread. */
typedef struct load_reader {
    struct load_readers *all;
    apr_pool_t *pool;           /* a root pool of its own allocator */
} load_reader;

/* What the reading threads share: they take the parts in order (next) and
 * mark each one done under lock, signalling cond; next at the end makes
 * them stop.  Without threads (a streaming load), the loading thread
 * reads the parts itself (read_some()), with the pool of rd[0], and with
 * ahead no part more than ahead past the ones it has taken (taken), so
 * that reading keeps the pace of the writing. */
typedef struct load_readers {
    apr_array_header_t *parts;
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *cond;
    int next;
    int ahead, taken;
    int threads, started, joined;
    load_reader rd[LOAD_THREADS];
    apr_thread_t *t[LOAD_THREADS];
} load_readers;

#define PART(a, i) (&APR_ARRAY_IDX((a)->parts, (i), load_part))

static void *APR_THREAD_FUNC reader_thread(apr_thread_t *t, void *data)
{
    load_reader *rd = data;
    load_readers *all = rd->all;
    int i;

    (void)t;
    for (;;) {
        apr_thread_mutex_lock(all->lock);
        i = all->next < all->parts->nelts ? all->next++ : -1;
        apr_thread_mutex_unlock(all->lock);
        if (i < 0)
            return NULL;
        PART(all, i)->pool = rd->pool;
        read_part(PART(all, i));
        apr_thread_mutex_lock(all->lock);
        PART(all, i)->done = 1;
        apr_thread_cond_broadcast(all->cond);
        apr_thread_mutex_unlock(all->lock);
    }
}

/* Without threads, the load reads on in the next part itself, at most
 * ahead parts past those taken, up to about budget bytes; 0 when there is
 * nothing to read now. */
static int read_some(load_readers *all, apr_size_t budget)
{
    load_part *r;

    if (all->threads || all->next >= all->parts->nelts
        || (all->ahead && all->next >= all->taken + all->ahead))
        return 0;
    r = PART(all, all->next);
    r->pool = all->rd[0].pool;
    if (step_part(r, budget)) {
        r->done = 1;
        all->next++;
    }
    return 1;
}

/* Wait until part i is read (without threads: read it), and take it. */
static void wait_part(load_readers *all, int i)
{
    while (!PART(all, i)->done && read_some(all, (apr_size_t)-1))
        ;
    apr_thread_mutex_lock(all->lock);
    while (!PART(all, i)->done)
        apr_thread_cond_wait(all->cond, all->lock);
    all->taken = i + 1;
    apr_thread_cond_broadcast(all->cond);
    apr_thread_mutex_unlock(all->lock);
}

/* Is part i read? */
static int part_read(load_readers *all, int i)
{
    int done;

    apr_thread_mutex_lock(all->lock);
    done = PART(all, i)->done;
    apr_thread_mutex_unlock(all->lock);
    return done;
}

/* Wait for the threads (once; then again says the same); with stop, they
 * take no more parts.  0 when every part was read. */
static int join_readers(load_readers *all, int stop)
{
    apr_status_t ignored;
    int i;

    apr_thread_mutex_lock(all->lock);
    if (stop)
        all->next = all->parts->nelts + 1;
    apr_thread_cond_broadcast(all->cond);
    apr_thread_mutex_unlock(all->lock);
    for (i = 0; i < all->started && all->threads && !all->joined; i++)
        apr_thread_join(&ignored, all->t[i]);
    all->joined = 1;
    if (all->started < all->threads || all->next < all->parts->nelts)
        return dpcctl_fail(DPCCTL_FAIL, "load: cannot start the reading threads");
    return 0;
}

static apr_status_t destroy_pool(void *p)
{
    apr_pool_destroy(p);
    return APR_SUCCESS;
}

/* Start the readers on parts, ahead parts at most ahead of those taken (0:
 * all of them); their pools go with c->p (after everything that points
 * into them).  Every start is followed by join_readers(). */
static void start_readers(load_ctx *c, load_readers *all, apr_array_header_t *parts,
                          int threads, int ahead)
{
    apr_allocator_t *alloc;
    int i;

    memset(all, 0, sizeof(*all));
    all->parts = parts;
    all->threads = threads;
    all->ahead = ahead;
    json_object_seed(0);        /* before jansson is used in threads */
    apr_thread_mutex_create(&all->lock, APR_THREAD_MUTEX_DEFAULT, c->p);
    apr_thread_cond_create(&all->cond, c->p);
    for (i = 0; i < (threads ? threads : 1); i++) {
        all->rd[i].all = all;
        if (apr_allocator_create(&alloc) != APR_SUCCESS
            || apr_pool_create_ex(&all->rd[i].pool, NULL, NULL, alloc) != APR_SUCCESS)
            break;
        apr_allocator_owner_set(alloc, all->rd[i].pool);
        apr_pool_cleanup_register(c->p, all->rd[i].pool, destroy_pool, apr_pool_cleanup_null);
        if (threads && apr_thread_create(&all->t[i], NULL, reader_thread, &all->rd[i], c->p)
            != APR_SUCCESS)
            break;
        all->started++;
    }
}

/* Part i's records and bad lines after those joined so far, numbered in
 * its file (a file's parts come in order). */
static void join_part(load_ctx *c, const apr_array_header_t *parts, int i)
{
    const load_part *r = &APR_ARRAY_IDX(parts, i, load_part);
    load_file *f = FILE_AT(c, r->file);
    int j;

    for (j = 0; j < r->recs->nelts; j++) {
        load_rec *rec = apr_array_push(c->recs);

        *rec = APR_ARRAY_IDX(r->recs, j, load_rec);
        rec->line += f->joined;
        rec->part = i;
    }
    for (j = 0; j < r->bad->nelts; j++) {
        load_bad *b = apr_array_push(c->bad);

        *b = APR_ARRAY_IDX(r->bad, j, load_bad);
        b->line += f->joined;
        b->why = apr_pstrdup(c->p, b->why);     /* outlives the reader's pool */
    }
    f->joined += r->nlines;
    c->lines += r->lines;
    c->bytes += r->bytes;
}

/* Read every part, then join them. */
static int read_parts(load_ctx *c, apr_array_header_t *parts)
{
    load_readers all;
    int i;

    start_readers(c, &all, parts, LOAD_THREADS, 0);
    if (join_readers(&all, 0))
        return -1;
    for (i = 0; i < parts->nelts; i++)
        join_part(c, parts, i);
    return 0;
}

/* ---- the database ------------------------------------------------------- */

static int db_ok(load_ctx *c, const char *sql, int n, const char *const *params,
                 PGresult **keep)
{
    return dpcctl_exec(c->conn, "load", sql, n, params, keep);
}

/* A question about what was stored before the load, on c->ask. */
static int db_ask(load_ctx *c, const char *sql, int n, const char *const *params,
                  PGresult **keep)
{
    return dpcctl_exec(c->ask, "load", sql, n, params, keep);
}

/* s into a, unless seen has it (which then does). */
static void push_unique(apr_array_header_t *a, apr_hash_t *seen, const char *s)
{
    if (s && !apr_hash_get(seen, s, APR_HASH_KEY_STRING)) {
        apr_hash_set(seen, s, APR_HASH_KEY_STRING, s);
        APR_ARRAY_PUSH(a, const char *) = s;
    }
}

static int chunk(int left)
{
    return left < LOAD_CHUNK ? left : LOAD_CHUNK;
}

/* Remember the stored beneficiaries of res (bene_id, mbi rows) both ways,
 * in c->db_bene and c->db_mbi; res is cleared. */
static void take_stored_benes(load_ctx *c, PGresult *res)
{
    int i;

    for (i = 0; i < PQntuples(res); i++) {
        const char *bene = apr_pstrdup(c->p, PQgetvalue(res, i, 0));
        const char *mbi = apr_pstrdup(c->p, PQgetvalue(res, i, 1));

        apr_hash_set(c->db_bene, bene, APR_HASH_KEY_STRING, mbi);
        apr_hash_set(c->db_mbi, mbi, APR_HASH_KEY_STRING, bene);
    }
    PQclear(res);
}
/* Ask the beneficiary table about the bene ids and MBIs of benes and mbis
 * (each asked once in a load: see ask_recs()). */
static int ask_table(load_ctx *c, const apr_array_header_t *benes,
                     const apr_array_header_t *mbis)
{
    const char *params[2];
    PGresult *res;
    int b = 0, m = 0, nb, nm;

    for (; b < benes->nelts || m < mbis->nelts; b += nb, m += nm) {
        nb = chunk(benes->nelts - b);
        nm = chunk(mbis->nelts - m);
        params[0] = dpc_pg_text_array(c->p, (const char *const *)benes->elts + b, nb);
        params[1] = dpc_pg_text_array(c->p, (const char *const *)mbis->elts + m, nm);
        if (db_ask(c, "SELECT bene_id, mbi FROM beneficiary WHERE bene_id = ANY($1::text[])"
                   " OR mbi = ANY($2::text[])", 2, params, &res))
            return -1;
        take_stored_benes(c, res);
    }
    return 0;
}

/* What the table says of --mbi's bene ids and MBIs. */
static int ask_opt(load_ctx *c)
{
    apr_array_header_t *benes = apr_array_make(c->p, 8, sizeof(const char *));
    apr_array_header_t *mbis = apr_array_make(c->p, 8, sizeof(const char *));
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(c->p, c->opt_mbi); hi; hi = apr_hash_next(hi)) {
        push_unique(benes, c->asked_bene, apr_hash_this_key(hi));
        push_unique(mbis, c->asked_mbi, apr_hash_this_val(hi));
    }
    return ask_table(c, benes, mbis);
}

/* What the table says of the bene ids and Patient MBIs of the records
 * from..to-1 that it was not asked about before.  Each is asked about the
 * first time the load meets it, before any record of it is resolved or
 * written, so the answer is the table's before the load. */
static int ask_recs(load_ctx *c, int from, int to)
{
    apr_array_header_t *benes = apr_array_make(c->p, 64, sizeof(const char *));
    apr_array_header_t *mbis = apr_array_make(c->p, 64, sizeof(const char *));
    int i;

    for (i = from; i < to; i++) {
        push_unique(benes, c->asked_bene, REC(c, i)->bene_id);
        push_unique(mbis, c->asked_mbi, REC(c, i)->own_mbi);
    }
    return ask_table(c, benes, mbis);
}

/* ---- beneficiaries ------------------------------------------------------ */

/* --mbi must agree with the beneficiary table: it names MBIs for bene ids
 * the table does not know, it does not move them. */
static int check_opt_mbi(load_ctx *c)
{
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(c->p, c->opt_mbi); hi; hi = apr_hash_next(hi)) {
        const char *bene = apr_hash_this_key(hi), *mbi = apr_hash_this_val(hi);
        const char *had = apr_hash_get(c->db_bene, bene, APR_HASH_KEY_STRING);
        const char *owner = apr_hash_get(c->db_mbi, mbi, APR_HASH_KEY_STRING);

        if (had && strcmp(had, mbi))
            return dpcctl_fail(DPCCTL_FAIL, "load: --mbi %s=%s: bene id %s is MBI %s in "
                               "the database", bene, mbi, bene, had);
        if (owner && strcmp(owner, bene))
            return dpcctl_fail(DPCCTL_FAIL, "load: --mbi %s=%s: MBI %s belongs to bene "
                               "id %s in the database", bene, mbi, mbi, owner);
    }
    return 0;
}

static void rec_bad(load_ctx *c, load_rec *r, const char *why)
{
    load_bad *b = apr_array_push(c->bad);

    r->state = REC_BAD;
    b->file = r->file;
    b->line = r->line;
    b->entry = r->entry;
    b->why = apr_psprintf(c->p, "%s %s: %s", r->type, r->id, why);
}

/* The value of key in h (a load_who's); *who the load_who, if asked for. */
static const char *who_get(apr_hash_t *h, const char *key, const load_who **who)
{
    const load_who *w = apr_hash_get(h, key, APR_HASH_KEY_STRING);

    if (who)
        *who = w;
    return w ? w->v : NULL;
}

/* The first Patient to give key a value keeps it. */
static void who_set(load_ctx *c, apr_hash_t *h, const char *key, const char *v,
                    const load_rec *r)
{
    load_who *w;

    if (apr_hash_get(h, key, APR_HASH_KEY_STRING))
        return;
    w = apr_palloc(c->p, sizeof(*w));
    w->v = v;
    w->file = r->file;
    w->line = r->line;
    w->entry = r->entry;
    apr_hash_set(h, key, APR_HASH_KEY_STRING, w);
}

/* The MBI bene is known by so far, and where from; *who the Patient of
 * this load it comes from, or NULL. */
static const char *known_by(load_ctx *c, const char *bene, const char **from,
                            const load_who **who)
{
    const char *m;

    *who = NULL;
    if ((m = apr_hash_get(c->opt_mbi, bene, APR_HASH_KEY_STRING)))
        *from = "--mbi";
    else if ((m = apr_hash_get(c->db_bene, bene, APR_HASH_KEY_STRING)))
        *from = "the database";
    else if ((m = who_get(c->load_bene, bene, who)))
        *from = "another Patient of this load";
    return m;
}

static const char *known_mbi(load_ctx *c, const char *bene, const char **from)
{
    const load_who *who;

    return known_by(c, bene, from, &who);
}

/* The bene id that mbi belongs to, if any; *who as known_by() says. */
static const char *mbi_owner(load_ctx *c, const char *mbi, const load_who **who)
{
    const char *b = apr_hash_get(c->opt_owner, mbi, APR_HASH_KEY_STRING);

    *who = NULL;
    if (!b)
        b = apr_hash_get(c->db_mbi, mbi, APR_HASH_KEY_STRING);
    return b ? b : who_get(c->load_mbi, mbi, who);
}

/* Is Patient r before the one w in the files? */
static int before_who(const load_rec *r, const load_who *w)
{
    return r->file != w->file ? r->file < w->file : r->line != w->line ? r->line < w->line
           : r->entry < w->entry;
}

/* The MBI of Patient r, or NULL with the reason in *why.  Should the reason
 * be a Patient later in the files than r (which a streaming load may meet
 * first), the load is to start over in file order (c->again). */
static const char *patient_mbi(load_ctx *c, const load_rec *r, const char **why)
{
    const char *from = NULL, *mbi, *owner, *known;
    const load_who *by, *who = NULL;

    known = known_by(c, r->bene_id, &from, &by);
    mbi = r->own_mbi ? r->own_mbi : known;
    *why = NULL;
    if (r->own_mbi && known && strcmp(known, r->own_mbi)) {
        *why = apr_psprintf(c->p, "its current MBI is %s, but bene id %s is MBI %s (%s)",
                            r->own_mbi, r->bene_id, known, from);
        who = by;
    }
    else if (!mbi)
        *why = r->own_invalid
               ? apr_psprintf(c->p, "its current MBI \"%s\" is not a well-formed MBI "
                              "(give one with --mbi %s=MBI)",
                              dpc_utf8_clean(c->p, r->own_invalid), r->bene_id)
               : apr_psprintf(c->p, "no current MBI (identifier system %s; give one "
                              "with --mbi %s=MBI)", DPC_LOAD_MBI_SYSTEM, r->bene_id);
    else if ((owner = mbi_owner(c, mbi, &who)) && strcmp(owner, r->bene_id))
        *why = apr_psprintf(c->p, "MBI %s belongs to bene id %s", mbi, owner);
    if (*why && who && before_who(r, who))
        c->again = 1;
    return *why ? NULL : mbi;
}

static void resolve_patient(load_ctx *c, load_rec *r)
{
    const char *why;

    if (!(r->mbi = patient_mbi(c, r, &why))) {
        rec_bad(c, r, why);
        return;
    }
    who_set(c, c->load_bene, r->bene_id, r->mbi, r);
    who_set(c, c->load_mbi, r->mbi, r->bene_id, r);
}

/* Patients with their own MBI first, so that the others (an STU3 Patient
 * with only BFD's mbi-hash) find it whatever the file order; then claims. */
static void resolve(load_ctx *c)
{
    const char *from;
    int i, pass;

    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < c->recs->nelts; i++) {
            load_rec *r = REC(c, i);

            if (r->type[0] == 'P' && (r->own_mbi != NULL) == (pass == 0))
                resolve_patient(c, r);
        }
    }
    for (i = 0; i < c->recs->nelts; i++) {
        load_rec *r = REC(c, i);

        if (r->type[0] != 'P' && !(r->mbi = known_mbi(c, r->bene_id, &from)))
            rec_bad(c, r, apr_psprintf(c->p, "Patient/%s is neither in this load nor in "
                                       "the database", r->bene_id));
    }
}

/* ---- versions ----------------------------------------------------------- */

/* The length of a row's key, "mbi|version|type|id" (version 3 or 4: one
 * digit). */
static apr_size_t key_len(const char *mbi, const char *type, const char *id)
{
    return strlen(mbi) + strlen(type) + strlen(id) + 5;
}

/* The key into k (key_len() + 1 bytes), built by hand: a load makes one
 * for every row. */
static void key_into(char *k, const char *mbi, int version, const char *type,
                     const char *id)
{
    apr_size_t m = strlen(mbi), t = strlen(type);

    memcpy(k, mbi, m);
    k += m;
    *k++ = '|';
    *k++ = (char)('0' + version % 10);
    *k++ = '|';
    memcpy(k, type, t);
    k += t;
    *k++ = '|';
    strcpy(k, id);
}

static const char *row_key(apr_pool_t *p, const char *mbi, int version, const char *type,
                           const char *id)
{
    char *k = apr_palloc(p, key_len(mbi, type, id) + 1);

    key_into(k, mbi, version, type, id);
    return k;
}

/* Of the same row twice in the load, the newest stays (the first of equals). */
static void dedupe(load_ctx *c)
{
    int i;

    for (i = 0; i < c->recs->nelts; i++) {
        load_rec *r = REC(c, i), *old;
        const char *key;

        if (r->state == REC_BAD)
            continue;
        key = row_key(c->p, r->mbi, r->version, r->type, r->id);
        old = apr_hash_get(c->keys, key, APR_HASH_KEY_STRING);
        if (old && old->lu_us >= r->lu_us) {
            r->state = REC_STALE;
            continue;
        }
        if (old)
            old->state = REC_STALE;
        apr_hash_set(c->keys, key, APR_HASH_KEY_STRING, r);
    }
}

/* The distinct MBIs of the rows to write. */
static apr_array_header_t *load_mbis(load_ctx *c)
{
    apr_array_header_t *a = apr_array_make(c->p, 64, sizeof(const char *));
    apr_hash_t *seen = apr_hash_make(c->p);
    int i;

    for (i = 0; i < c->recs->nelts; i++) {
        if (REC(c, i)->state == REC_NEW)
            push_unique(a, seen, REC(c, i)->mbi);
    }
    return a;
}

/* The stored rows of the MBIs $1: their keys and lastUpdated in
 * microseconds, which both ways of loading compare against. */
static const char stored_sql[] =
    "SELECT mbi, fhir_version, resource_type, resource_id, (extract(epoch"
    " FROM last_updated) * 1000000)::bigint FROM claims_resource"
    " WHERE mbi = ANY($1::text[])";

/* Compare with the stored rows of n MBIs from mbis[0]: older ones are to
 * be replaced, the others make ours stale. */
static int against_stored(load_ctx *c, const char *const *mbis, int n)
{
    const char *param = dpc_pg_text_array(c->p, mbis, n);
    PGresult *res;
    int i;

    if (db_ok(c, stored_sql, 1, &param, &res))
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        load_rec *r = apr_hash_get(c->keys, row_key(c->p, PQgetvalue(res, i, 0),
                                                    atoi(PQgetvalue(res, i, 1)),
                                                    PQgetvalue(res, i, 2),
                                                    PQgetvalue(res, i, 3)),
                                   APR_HASH_KEY_STRING);

        if (r) {
            r->state = r->lu_us > strtoll(PQgetvalue(res, i, 4), NULL, 10)
                       ? REC_REPLACE : REC_STALE;
            r->del = r->state == REC_REPLACE;
        }
    }
    PQclear(res);
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

/* The functions below take the records in the order written (c->seq),
 * from..to-1. */

/* A text[] literal of one field of the records from..to-1 whose key's
 * stored row is to be deleted. */
enum { F_MBI, F_VERSION, F_TYPE, F_ID };

static const char *rec_array(load_ctx *c, int from, int to, int field)
{
    apr_array_header_t *a = apr_array_make(c->p, 64, sizeof(const char *));
    int i;

    for (i = from; i < to; i++) {
        load_rec *r = SREC(c, i);

        if (!r->del)
            continue;
        APR_ARRAY_PUSH(a, const char *) = field == F_MBI ? r->mbi : field == F_TYPE
            ? r->type : field == F_ID ? r->id : r->version == 3 ? "3" : "4";
    }
    return dpc_pg_text_array(c->p, (const char *const *)a->elts, a->nelts);
}

static int delete_replaced(load_ctx *c, int from, int to)
{
    const char *params[4];
    int i, n = 0;

    for (i = from; i < to; i++)
        n += SREC(c, i)->del;
    if (!n)
        return 0;
    params[0] = rec_array(c, from, to, F_MBI);
    params[1] = rec_array(c, from, to, F_VERSION);
    params[2] = rec_array(c, from, to, F_TYPE);
    params[3] = rec_array(c, from, to, F_ID);
    return db_ok(c, "DELETE FROM claims_resource c USING unnest($1::text[],"
                 " $2::text[]::smallint[], $3::text[], $4::text[]) AS d (mbi, v, t, i)"
                 " WHERE c.mbi = d.mbi AND c.fhir_version = d.v AND c.resource_type = d.t"
                 " AND c.resource_id = d.i", 4, params, NULL);
}

/* The latest good record of each MBI among from..to-1, but those whose
 * beneficiary row this load has already sent as recent. */
static apr_hash_t *latest_benes(load_ctx *c, int from, int to)
{
    apr_hash_t *latest = apr_hash_make(c->p);
    int i;

    for (i = from; i < to; i++) {
        load_rec *r = SREC(c, i), *l;
        const int64_t *sent;

        if (r->state == REC_BAD)
            continue;
        l = apr_hash_get(latest, r->mbi, APR_HASH_KEY_STRING);
        sent = apr_hash_get(c->upserted, r->mbi, APR_HASH_KEY_STRING);
        if ((!l || l->lu_us < r->lu_us) && (!sent || *sent < r->lu_us))
            apr_hash_set(latest, r->mbi, APR_HASH_KEY_STRING, r);
    }
    return latest;
}

/* Beneficiary rows of the records from..to-1: created when missing,
 * last_updated the latest of its rows' otherwise.  Counts the created ones
 * (a row this load sent before is never created again). */
static int upsert_benes(load_ctx *c, int from, int to)
{
    apr_hash_t *latest = latest_benes(c, from, to), *again = apr_hash_make(c->p);
    apr_array_header_t *m = apr_array_make(c->p, 64, sizeof(const char *));
    apr_array_header_t *b = apr_array_make(c->p, 64, sizeof(const char *));
    apr_array_header_t *t = apr_array_make(c->p, 64, sizeof(const char *));
    apr_hash_index_t *hi;
    const char *params[3];
    PGresult *res;
    int i;

    for (hi = apr_hash_first(c->p, latest); hi; hi = apr_hash_next(hi)) {
        load_rec *r = apr_hash_this_val(hi);
        int64_t *sent = apr_hash_get(c->upserted, r->mbi, APR_HASH_KEY_STRING);

        if (sent)
            apr_hash_set(again, r->mbi, APR_HASH_KEY_STRING, r);
        else
            apr_hash_set(c->upserted, r->mbi, APR_HASH_KEY_STRING,
                         sent = apr_palloc(c->p, sizeof(*sent)));
        *sent = r->lu_us;
        APR_ARRAY_PUSH(m, const char *) = r->mbi;
        APR_ARRAY_PUSH(b, const char *) = r->bene_id;
        APR_ARRAY_PUSH(t, const char *) = apr_psprintf(c->p, "%" APR_INT64_T_FMT,
                                                       (apr_int64_t)r->lu_us);
    }
    if (!m->nelts)
        return 0;
    params[0] = dpc_pg_text_array(c->p, (const char *const *)m->elts, m->nelts);
    params[1] = dpc_pg_text_array(c->p, (const char *const *)b->elts, b->nelts);
    params[2] = dpc_pg_text_array(c->p, (const char *const *)t->elts, t->nelts);
    if (db_ok(c, "INSERT INTO beneficiary (mbi, bene_id, last_updated) SELECT m, b,"
              " timestamptz 'epoch' + u * interval '1 microsecond' FROM unnest($1::text[],"
              " $2::text[], $3::text[]::bigint[]) AS x (m, b, u) ON CONFLICT (mbi) DO UPDATE"
              " SET last_updated = greatest(beneficiary.last_updated, excluded.last_updated)"
              " RETURNING mbi, xmax = 0", 3, params, &res))
        return -1;
    for (i = 0; i < PQntuples(res); i++)
        c->created += PQgetvalue(res, i, 1)[0] == 't'
                      && !apr_hash_get(again, PQgetvalue(res, i, 0), APR_HASH_KEY_STRING);
    PQclear(res);
    return 0;
}

static int to_copy(const load_rec *r)
{
    return r->state == REC_NEW || r->state == REC_REPLACE;
}

/* A streaming load reads on while the server has all the COPY data it can
 * take, or works through the end of a COPY, a little at a time: the server
 * drains its socket (a few hundred KB) in under a millisecond. */
#define LOAD_IDLE_BYTES (32 * 1024)

static int idle_read(void *all)
{
    return read_some(all, LOAD_IDLE_BYTES);
}

/* Rows in the order of the table's keys (mbi, fhir_version, resource_type,
 * resource_id), byte for byte. */
static int cmp_row(const void *a, const void *b)
{
    const load_rec *x = *(load_rec *const *)a, *y = *(load_rec *const *)b;
    int d = strcmp(x->mbi, y->mbi);

    if (!d)
        d = x->version - y->version;
    if (!d)
        d = strcmp(x->type, y->type);
    return d ? d : strcmp(x->id, y->id);
}

/* Start the COPY of the records from..to-1 that are new or replace a row
 * and send them, in key order (none: no COPY); copy_end() reads its
 * result, copy_abort() when the load fails.  Meanwhile the server works
 * through what was sent. */
static int copy_send(load_ctx *c, int from, int to)
{
    dpc_copy_out *o = &c->copy;
    apr_array_header_t *rows = apr_array_make(c->p, to - from + 1, sizeof(load_rec *));
    int i;

    for (i = from; i < to; i++) {
        if (to_copy(SREC(c, i)))
            APR_ARRAY_PUSH(rows, load_rec *) = SREC(c, i);
    }
    if (!rows->nelts)
        return 0;
    /* in key order, the server's index inserts find their pages in turn
     * (1% faster over build/bench-load's files, 9 interleaved rounds) */
    qsort(rows->elts, rows->nelts, sizeof(load_rec *), cmp_row);
    memset(o, 0, sizeof(*o));
    o->conn = c->conn;
    o->binary = 1;
    if (db_ok(c, "COPY claims_resource (" DPC_COPY_CLAIM_COLUMNS ") FROM STDIN"
              " (FORMAT binary)", 0, NULL, NULL))
        return -1;
    c->copy_open = 1;
    if (c->readers && PQsetnonblocking(c->conn, 1) == 0) {
        o->idle = idle_read;
        o->idle_ctx = c->readers;
    }
    dpc_copy_header(&o->buf);
    for (i = 0; i < rows->nelts && !o->error; i++) {
        load_rec *r = APR_ARRAY_IDX(rows, i, load_rec *);
        dpc_synth_row row;

        memset(&row, 0, sizeof(row));
        row.mbi = r->mbi;
        row.fhir_version = r->version;
        row.resource_type = r->type;
        row.resource_id = r->id;
        row.last_updated_us = r->lu_us;
        row.body = r->body;
        row.body_len = r->body_len;
        row.claim_type = r->claim_type;
        row.service_start = r->service_start;
        row.service_end = r->service_end;
        row.coverage_status = r->coverage_status;
        dpc_copy_claim_row(&o->buf, 1, &row);
        dpc_copy_maybe_flush(o);
    }
    dpc_copy_trailer(&o->buf);
    /* all of it to the server now: it finishes the COPY (its foreign key
     * checks too) while the next batch is made ready */
    dpc_copy_send_end(o);
    return 0;                   /* an error is copy_end()'s to tell */
}

/* The result of the COPY copy_send() started, if any. */
static int copy_end(load_ctx *c)
{
    int rc;

    if (!c->copy_open)
        return 0;
    c->copy_open = 0;
    rc = dpc_copy_end(&c->copy);
    if (c->copy.idle)
        PQsetnonblocking(c->conn, 0);
    if (rc)
        dpcctl_fail(DPCCTL_FAIL, "load: COPY: %s", c->copy.error);
    dpc_sbuf_free(&c->copy.buf);
    return rc;
}

/* Done with the COPY copy_send() started, if any, as the load failed (it
 * is rolled back). */
static void copy_abort(load_ctx *c)
{
    if (!c->copy_open)
        return;
    c->copy_open = 0;
    if (!c->copy.error)
        c->copy.error = "aborted";
    dpc_copy_end(&c->copy);
    if (c->copy.idle)
        PQsetnonblocking(c->conn, 0);
    dpc_sbuf_free(&c->copy.buf);
}

static int compare_stored(load_ctx *c)
{
    apr_array_header_t *mbis = load_mbis(c);
    int i;

    for (i = 0; i < mbis->nelts; i += LOAD_CHUNK) {
        if (against_stored(c, (const char *const *)mbis->elts + i, chunk(mbis->nelts - i)))
            return -1;
    }
    return 0;
}

/* One transaction; the stored rows are read inside it, so what they say
 * holds until the commit (a concurrent load of the same rows fails on the
 * primary key rather than losing a newer version). */
static int write_all(load_ctx *c)
{
    int i, n = c->recs->nelts;

    for (i = 0; i < n; i++)
        APR_ARRAY_PUSH(c->seq, int) = i;
    if (db_ok(c, "BEGIN", 0, NULL, NULL))
        return -1;
    if (compare_stored(c) || upsert_benes(c, 0, n) || delete_replaced(c, 0, n)
        || copy_send(c, 0, n) || copy_end(c) || db_ok(c, "COMMIT", 0, NULL, NULL)) {
        copy_abort(c);
        PQclear(PQexec(c->conn, "ROLLBACK"));
        return -1;
    }
    return 0;
}

/* ---- the command -------------------------------------------------------- */

static int cmp_bad(const void *a, const void *b)
{
    const load_bad *x = a, *y = b;

    return x->file != y->file ? x->file - y->file : x->line != y->line
           ? x->line - y->line : x->entry - y->entry;
}

static void report_bad(load_ctx *c)
{
    int i;

    qsort(c->bad->elts, c->bad->nelts, sizeof(load_bad), cmp_bad);
    for (i = 0; i < c->bad->nelts; i++) {
        const load_bad *b = &APR_ARRAY_IDX(c->bad, i, load_bad);

        if (b->entry)
            fprintf(stderr, "%s:%d: entry %d: %s\n", FILE_AT(c, b->file)->path, b->line,
                    b->entry, b->why);
        else
            fprintf(stderr, "%s:%d: %s\n", FILE_AT(c, b->file)->path, b->line, b->why);
    }
}

static void count(load_ctx *c)
{
    int i;

    for (i = 0; i < c->recs->nelts; i++) {
        int s = REC(c, i)->state;

        c->loaded += s == REC_NEW;
        c->replaced += s == REC_REPLACE;
        c->stale += s == REC_STALE;
    }
}

static void summary(load_ctx *c, int written, apr_time_t took)
{
    char *s;
    json_t *v = json_pack("{s:i, s:I, s:I, s:I, s:I, s:i, s:I, s:b, s:I, s:f}",
                           "files", c->files->nelts, "lines", (json_int_t)c->lines,
                           "loaded", (json_int_t)c->loaded,
                           "replaced", (json_int_t)c->replaced,
                           "stale", (json_int_t)c->stale, "bad", c->bad->nelts,
                           "beneficiaries", (json_int_t)c->created, "written", written,
                           "bytes", (json_int_t)c->bytes,
                           "seconds", (double)took / APR_USEC_PER_SEC);

    s = v ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    if (s)
        puts(s);
    free(s);
    json_decref(v);
}

/* ---- streaming ----------------------------------------------------------
 *
 * The load as a pipeline, so that reading the lines overlaps the server's
 * work on them.  The parts are read from the first on (see the end of this
 * comment), and this thread takes them in order, in batches, inside one
 * transaction.
 * For each batch it
 *  1. asks the beneficiary table about the bene ids and Patient MBIs met
 *     for the first time (ask_recs());
 *  2. resolves the batch's records in file order: a Patient with an MBI of
 *     its own as resolve_patient() does; any other record takes its bene
 *     id's known MBI (a Patient through resolve_patient()), or, while none
 *     is known, waits for it;
 *  3. each Patient resolved releases into the batch the records waiting
 *     for its bene id, which now take its MBI;
 *  4. decides each row against the load so far and the stored row (read
 *     when a batch first has its MBI), upserts the beneficiaries, deletes
 *     the rows being replaced and sends the COPY, which the server works
 *     through while this thread gathers the next batch.
 * At the end the records still waiting are resolved as resolve() does
 * (their MBI is known now, or they are bad) and written last.
 *
 * It writes what the read-everything-first path (load_whole) writes:
 *  - a bene id's MBI, once known, is the one resolve() gives it: --mbi and
 *    the table come first, and were asked before any record of the bene
 *    id was resolved; then the first Patient in the files with a good MBI
 *    of its own, and the batches come in file order;
 *  - a Patient with an MBI of its own is checked against every Patient
 *    before it in the files and no later one, as in resolve()'s first
 *    pass; one without only takes the known MBI, as in its second, once
 *    there is one;
 *  - of the same row twice, the newest stays (of equals, the first in the
 *    files): one in a later batch that wins deletes the row an earlier
 *    batch wrote, which is then counted stale;
 *  - the stored rows of an MBI are read when a batch first has it, before
 *    the load writes any of its rows.
 * Claims before their Patient (a Blue Button bulk export's Coverage and
 * ExplanationOfBenefit files named before its Patient file) load the same,
 * with less overlap: they wait, and so do the pages of their part, which
 * are given back once none of its records waits.  --strict loads go the
 * other way, as nothing may be written before every line is checked.
 *
 * This thread reads the parts itself (read_some()), no reading thread: a
 * little at a time while the server has all the COPY data it can take or
 * works through the end of a COPY (the COPY goes in nonblocking mode, with
 * idle_read() as dpc_copy's idle work), and whole when it waits for one.
 * It checks 1.24 GB in about 0.7 s of a processor, faster than a server
 * stores them.  Reading threads beside it took processor time from the
 * server: woken by the server draining its socket, this thread was often
 * put on the server's processor while a reader held the other one, and
 * preempted the server (about 100 ms over build/bench-load's files, in
 * perf; 10 ms reading here).  A reload that finds every row stale is then
 * read by one thread, not two (1.1 s instead of 0.7 s for 1.24 GB). */

/* stream_load()'s answer when the load must start over. */
#define LOAD_AGAIN (-2)

/* A batch waits for one part (the server starts soon), each next one for
 * twice as much up to LOAD_WAIT_BYTES, and takes besides every part read
 * by then, up to LOAD_BATCH_BYTES: it never waits long for the readers
 * while the server has nothing to do, and grows large once they run ahead
 * (each batch costs a few round trips). */
#define LOAD_WAIT_BYTES (8 * 1024 * 1024)
#define LOAD_BATCH_BYTES (128 * 1024 * 1024)

/* How far (in parts) the reading goes ahead of the writing: 64 MB.  Read
 * all at once, beside the first COPYs, the files slowed the writing (the
 * server waited for rows); at the writing's pace the load was 1 to 4%
 * faster in three interleaved comparisons (build/bench-load's files; 8 or
 * 4 parts were no faster). */
#define LOAD_AHEAD_PARTS 16

/* A row key of the load. */
typedef struct load_key {
    int best;                   /* index of its newest record so far, or -1 */
    int stored;                 /* a row was stored before the load */
    int in_table;               /* a row of the key is in the table now */
    int64_t stored_us;          /* the stored row's last_updated */
} load_key;

/* The load_key of a row, made (nothing stored) if the load has none yet,
 * in one allocation with its key. */
static load_key *get_key(load_ctx *c, const char *mbi, int version, const char *type,
                         const char *id)
{
    apr_size_t len = key_len(mbi, type, id);
    char stack[256], *key = len < sizeof(stack) ? stack : apr_palloc(c->p, len + 1);
    load_key *k;

    key_into(key, mbi, version, type, id);
    if ((k = apr_hash_get(c->skeys, key, len)))
        return k;
    k = apr_palloc(c->p, sizeof(*k) + len + 1);
    memset(k, 0, sizeof(*k));
    k->best = -1;
    memcpy(k + 1, key, len + 1);
    apr_hash_set(c->skeys, k + 1, len, k);
    return k;
}

/* Every stored row of n MBIs from mbis[0], as keys of the load. */
static int fetch_stored(load_ctx *c, const char *const *mbis, int n)
{
    const char *param = dpc_pg_text_array(c->p, mbis, n);
    PGresult *res;
    int i;

    if (db_ask(c, stored_sql, 1, &param, &res))
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        load_key *k = get_key(c, PQgetvalue(res, i, 0), atoi(PQgetvalue(res, i, 1)),
                              PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));

        k->stored = k->in_table = 1;
        k->stored_us = strtoll(PQgetvalue(res, i, 4), NULL, 10);
    }
    PQclear(res);
    return 0;
}

/* The stored rows of the MBIs of the records from..to-1 not fetched yet:
 * fetched before this load writes any row of theirs, so that all of them
 * were there before it.  Only an MBI the beneficiary table had can have
 * stored rows (their foreign key), and every MBI of the load was asked
 * about (ask_opt(), ask_recs()): the others are not fetched. */
static int stored_rows(load_ctx *c, int from, int to)
{
    apr_array_header_t *mbis = apr_array_make(c->p, 64, sizeof(const char *));
    int i;

    for (i = from; i < to; i++) {
        load_rec *r = SREC(c, i);

        if (r->state != REC_BAD && apr_hash_get(c->db_mbi, r->mbi, APR_HASH_KEY_STRING))
            push_unique(mbis, c->fetched, r->mbi);
    }
    for (i = 0; i < mbis->nelts; i += LOAD_CHUNK) {
        if (fetch_stored(c, (const char *const *)mbis->elts + i, chunk(mbis->nelts - i)))
            return -1;
    }
    return 0;
}

/* The key of each good record from..to-1. */
static void stream_keys(load_ctx *c, int from, int to)
{
    int i;

    for (i = from; i < to; i++) {
        load_rec *r = SREC(c, i);

        if (r->state != REC_BAD)
            r->key = get_key(c, r->mbi, r->version, r->type, r->id);
    }
}

/* Is a earlier than b in the files? */
static int rec_before(const load_rec *a, const load_rec *b)
{
    return a->file != b->file ? a->file < b->file : a->line != b->line ? a->line < b->line
           : a->entry < b->entry;
}

/* Decide the records from..to-1, as dedupe() and against_stored() do
 * together: the newest of a key stays (of equals, the first in the
 * files), and is new, replaces the stored row if strictly newer, or is
 * stale.  A record to write whose key has a row in the table deletes it
 * first. */
static void stream_decide(load_ctx *c, int from, int to)
{
    int i;

    for (i = from; i < to; i++) {
        int at = APR_ARRAY_IDX(c->seq, i, int);
        load_rec *r = REC(c, at);
        load_key *k = r->key;
        load_rec *o = k && k->best >= 0 ? REC(c, k->best) : NULL;

        if (r->state == REC_BAD)
            continue;
        if (o && (o->lu_us > r->lu_us || (o->lu_us == r->lu_us && rec_before(o, r)))) {
            r->state = REC_STALE;
            continue;
        }
        if (o)
            o->state = REC_STALE;
        k->best = at;
        r->state = !k->stored ? REC_NEW : r->lu_us > k->stored_us ? REC_REPLACE : REC_STALE;
    }
    for (i = from; i < to; i++) {
        load_rec *r = SREC(c, i);

        if (to_copy(r)) {
            r->del = r->key->in_table;
            r->key->in_table = 1;
        }
    }
}

#define CPART(c, i) (&APR_ARRAY_IDX((c)->parts, (i), load_part))

/* Record i waits for its bene id's MBI (and so does its part's text). */
static void wait_for(load_ctx *c, int i)
{
    const char *bene = REC(c, i)->bene_id;
    apr_array_header_t *a = apr_hash_get(c->waiting, bene, APR_HASH_KEY_STRING);

    if (!a) {
        a = apr_array_make(c->p, 4, sizeof(int));
        apr_hash_set(c->waiting, bene, APR_HASH_KEY_STRING, a);
    }
    APR_ARRAY_PUSH(a, int) = i;
    c->nwaiting++;
    CPART(c, REC(c, i)->part)->waiting++;
}

/* Record i in a batch: resolved and written with it, or bad, or waiting.
 * A Patient resolved brings in the records that wait for its bene id. */
static void stream_resolve(load_ctx *c, int i)
{
    load_rec *r = REC(c, i);
    apr_array_header_t *w;
    const char *src;
    int j;

    if (r->type[0] == 'P' && (r->own_mbi || known_mbi(c, r->bene_id, &src))) {
        resolve_patient(c, r);
        if (r->state == REC_BAD)
            return;
    }
    else if (r->type[0] == 'P' || !(r->mbi = known_mbi(c, r->bene_id, &src))) {
        wait_for(c, i);
        return;
    }
    APR_ARRAY_PUSH(c->seq, int) = i;
    if (r->type[0] != 'P' || !(w = apr_hash_get(c->waiting, r->bene_id, APR_HASH_KEY_STRING)))
        return;
    apr_hash_set(c->waiting, r->bene_id, APR_HASH_KEY_STRING, NULL);
    c->nwaiting -= w->nelts;
    for (j = 0; j < w->nelts; j++) {
        CPART(c, REC(c, APR_ARRAY_IDX(w, j, int))->part)->waiting--;
        stream_resolve(c, APR_ARRAY_IDX(w, j, int));
    }
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* The records still waiting at the end, as resolve() would: the Patients
 * (which take the known MBI or are bad), then the others. */
static void resolve_waiting(load_ctx *c)
{
    apr_array_header_t *all = apr_array_make(c->p, c->nwaiting + 1, sizeof(int));
    apr_hash_index_t *hi;
    const char *src;
    int i, pass;

    for (hi = apr_hash_first(c->p, c->waiting); hi; hi = apr_hash_next(hi))
        apr_array_cat(all, apr_hash_this_val(hi));
    qsort(all->elts, all->nelts, sizeof(int), cmp_int);
    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < all->nelts; i++) {
            int at = APR_ARRAY_IDX(all, i, int);
            load_rec *r = REC(c, at);

            if ((r->type[0] == 'P') != (pass == 0))
                continue;
            if (pass == 0)
                resolve_patient(c, r);
            else if (!(r->mbi = known_mbi(c, r->bene_id, &src)))
                rec_bad(c, r, apr_psprintf(c->p, "Patient/%s is neither in this load nor "
                                           "in the database", r->bene_id));
            if (r->state != REC_BAD)
                APR_ARRAY_PUSH(c->seq, int) = at;
            CPART(c, r->part)->waiting--;
        }
    }
    c->waiting = apr_hash_make(c->p);
    c->nwaiting = 0;
}

/* Decide the records seq[from..] (their stored rows asked on c->ask). */
static int stream_decide_all(load_ctx *c, int from)
{
    int to = c->seq->nelts;

    if (stored_rows(c, from, to))
        return -1;
    stream_keys(c, from, to);
    stream_decide(c, from, to);
    return 0;
}

/* Write the records seq[from..], decided: their beneficiaries, the rows
 * they replace, and their COPY, which is left open. */
static int stream_send(load_ctx *c, int from)
{
    int to = c->seq->nelts;

    return upsert_benes(c, from, to) || delete_replaced(c, from, to)
           || copy_send(c, from, to) ? -1 : 0;
}

/* A span of a file, [s, e). */
typedef struct load_span {
    const char *s, *e;
} load_span;

static int cmp_span(const void *a, const void *b)
{
    const load_span *x = a, *y = b;

    return (x->s > y->s) - (x->s < y->s);
}

/* Give back the pages of the parts taken whose every record was sent (none
 * waits): the kernel unmaps them now, while the server works, rather than
 * all at the end; a file's parts next to each other go in one call (each
 * makes the processors drop their stale translations).  (madvise, not
 * munmap: the holes munmap leaves would take the allocator's next blocks,
 * which the mapping's own munmap at the end would then take away.) */
static void drop_parts(load_ctx *c)
{
    apr_array_header_t *spans = apr_array_make(c->p, c->held->nelts + 1, sizeof(load_span));
    long page = sysconf(_SC_PAGESIZE);
    int i, kept = 0;

    for (i = 0; i < c->held->nelts; i++) {
        int at = APR_ARRAY_IDX(c->held, i, int);
        load_span *sp;

        if (CPART(c, at)->waiting) {
            APR_ARRAY_IDX(c->held, kept++, int) = at;
            continue;
        }
        sp = apr_array_push(spans);
        sp->s = CPART(c, at)->s;
        sp->e = CPART(c, at)->end;
    }
    c->held->nelts = kept;
    qsort(spans->elts, spans->nelts, sizeof(load_span), cmp_span);
    for (i = 0; page > 0 && i < spans->nelts; i++) {
        const load_span *sp = &APR_ARRAY_IDX(spans, i, load_span);
        uintptr_t s = (uintptr_t)sp->s, e = (uintptr_t)sp->e;

        while (i + 1 < spans->nelts && APR_ARRAY_IDX(spans, i + 1, load_span).s == (const char *)e)
            e = (uintptr_t)APR_ARRAY_IDX(spans, ++i, load_span).e;
        s = (s + page - 1) / page * page;
        e = e / page * page;
        if (e > s)
            madvise((void *)s, e - s, MADV_DONTNEED);
    }
}

/* Every record was sent (its COPY may still be open): join the threads,
 * destroy their pools (the records' strings) and unmap the files while the
 * server works through the last rows, rather than after the commit.  What
 * the load still reads of its records, their states, is in c->p. */
static void release_reading(load_ctx *c, load_readers *all)
{
    int i;

    join_readers(all, 0);
    for (i = 0; i < LOAD_THREADS; i++) {
        if (all->rd[i].pool)
            apr_pool_cleanup_run(c->p, all->rd[i].pool, destroy_pool);
        all->rd[i].pool = NULL;
    }
    for (i = 0; i < c->files->nelts; i++) {
        if (FILE_AT(c, i)->mm)
            apr_mmap_delete(FILE_AT(c, i)->mm);
        FILE_AT(c, i)->mm = NULL;
        FILE_AT(c, i)->data = NULL;
    }
}

/* The second connection, for the questions asked while a COPY runs (they
 * are about what was stored before the load, which it sees as well as the
 * load's transaction does, and is all it sees).  It is made while the load
 * goes on, for a load of more than a batch or two: until it is there, or
 * without it (the server may refuse one connection more), the load asks on
 * its own connection, between its COPYs. */
#define LOAD_ASK_BYTES (2 * LOAD_WAIT_BYTES)

/* How long a second connection still being made when the load ends may
 * take to be made, so that it is ended as the server expects (closed half
 * made, it leaves "could not receive data from client" in the server's
 * log). */
#define LOAD_ASK_END_MS 2000

static apr_status_t finish_ask(void *data)
{
    load_ctx *c = data;

    if (c->asking) {
        dpc_pg_connect_wait(c->asking, &c->ask_st, LOAD_ASK_END_MS);
        PQfinish(c->asking);
    }
    else if (c->ask != c->conn)
        PQfinish(c->ask);
    c->asking = NULL;
    c->ask = c->conn;
    return APR_SUCCESS;
}

static void ask_start(load_ctx *c)
{
    apr_size_t bytes = 0;
    int i;

    for (i = 0; i < c->files->nelts; i++)
        bytes += FILE_AT(c, i)->len;
    if (bytes <= LOAD_ASK_BYTES || !(c->asking = dpc_pg_connect_start_like(c->p, c->conn)))
        return;
    c->ask_st = PGRES_POLLING_WRITING;
    apr_pool_cleanup_register(c->p, c, finish_ask, apr_pool_cleanup_null);
}

/* Is the second connection made (then it is c->ask)? */
static void ask_poll(load_ctx *c)
{
    ConnStatusType st;

    if (!c->asking || (st = dpc_pg_connect_wait(c->asking, &c->ask_st, 0))
        == CONNECTION_STARTED)
        return;
    if (st == CONNECTION_OK)
        c->ask = c->asking;
    else
        PQfinish(c->asking);
    c->asking = NULL;
}

/* The parts, batch after batch, each written while the reading goes on;
 * then the records that waited.  A batch is gathered, asked about,
 * resolved and decided while the server works through the COPY of the one
 * before (unless c->ask is c->conn), then written.  0, -1 or LOAD_AGAIN. */
static int stream_parts(load_ctx *c, load_readers *all)
{
    apr_size_t want = LOAD_FIRST_PART_BYTES;
    int next = 0;

    while (next < all->parts->nelts) {
        apr_size_t bytes = 0;
        int recs = c->recs->nelts, from = c->seq->nelts, i;

        while (next < all->parts->nelts
               && (bytes < want || (bytes < LOAD_BATCH_BYTES && part_read(all, next)))) {
            load_part *r = PART(all, next);

            wait_part(all, next);
            join_part(c, all->parts, next);
            APR_ARRAY_PUSH(c->held, int) = next++;
            bytes += r->end - r->s;
        }
        ask_poll(c);
        if ((c->ask == c->conn && copy_end(c)) || ask_recs(c, recs, c->recs->nelts))
            return -1;
        for (i = recs; i < c->recs->nelts; i++)
            stream_resolve(c, i);
        if (c->again)
            return LOAD_AGAIN;
        if ((c->ask == c->conn && copy_end(c)) || stream_decide_all(c, from)
            || copy_end(c) || stream_send(c, from))
            return -1;
        drop_parts(c);          /* sent (copied) */
        want = want < LOAD_WAIT_BYTES ? want * 2 : want;
    }
    if (c->nwaiting) {
        int from = c->seq->nelts;

        resolve_waiting(c);
        if ((c->ask == c->conn && copy_end(c)) || stream_decide_all(c, from)
            || copy_end(c) || stream_send(c, from))
            return -1;
    }
    release_reading(c, all);
    return copy_end(c);
}

static int cmp_part(const void *a, const void *b)
{
    const load_part *x = a, *y = b;

    return x->at != y->at ? (x->at < y->at ? -1 : 1) : x->file != y->file
           ? x->file - y->file : (x->s > y->s) - (x->s < y->s);
}

/* The load the streaming way: DPCCTL_OK (bad lines may have been skipped),
 * DPCCTL_FAIL (nothing written) or LOAD_AGAIN (nothing written, nothing
 * said). */
static int stream_load(load_ctx *c, apr_array_header_t *parts)
{
    load_readers all;
    int rc;

    /* the files side by side: a claim meets its Patient sooner */
    qsort(parts->elts, parts->nelts, sizeof(load_part), cmp_part);
    c->parts = parts;
    c->held = apr_array_make(c->p, 64, sizeof(int));
    start_readers(c, &all, parts, 0, LOAD_AHEAD_PARTS);
    ask_start(c);
    if (ask_opt(c) || check_opt_mbi(c) || db_ok(c, "BEGIN", 0, NULL, NULL)) {
        join_readers(&all, 1);
        return DPCCTL_FAIL;
    }
    c->readers = &all;
    rc = all.started < (all.threads ? all.threads : 1) ? -1 : stream_parts(c, &all);
    c->readers = NULL;
    if (join_readers(&all, rc != 0) && !rc)
        rc = -1;
    copy_abort(c);
    if (!rc && db_ok(c, "COMMIT", 0, NULL, NULL))
        rc = -1;
    if (rc)
        PQclear(PQexec(c->conn, "ROLLBACK"));
    if (rc == LOAD_AGAIN)
        return LOAD_AGAIN;
    report_bad(c);
    return rc ? DPCCTL_FAIL : DPCCTL_OK;
}

/* Map the files and cut them into parts. */
static int map_all(load_ctx *c, apr_array_header_t *paths, apr_array_header_t *parts)
{
    int i;

    for (i = 0; i < paths->nelts; i++) {
        load_file *f = apr_array_push(c->files);

        if (map_file(c, APR_ARRAY_IDX(paths, i, const char *), f))
            return DPCCTL_FAIL;
    }
    for (i = 0; i < paths->nelts; i++)
        add_parts(c, i, parts);
    return DPCCTL_OK;
}

/* The load the read-everything-first way: every line is read and checked,
 * then one transaction writes.  DPCCTL_OK or DPCCTL_FAIL. */
static int load_whole(load_ctx *c, apr_array_header_t *parts, apr_time_t start)
{
    if (read_parts(c, parts) || ask_opt(c) || check_opt_mbi(c)
        || ask_recs(c, 0, c->recs->nelts))
        return DPCCTL_FAIL;
    resolve(c);
    dedupe(c);
    report_bad(c);
    if (c->strict && c->bad->nelts) {
        summary(c, 0, apr_time_now() - start);
        return dpcctl_fail(DPCCTL_FAIL, "load: %d bad line(s) and --strict: nothing "
                           "written", c->bad->nelts);
    }
    return write_all(c) ? DPCCTL_FAIL : DPCCTL_OK;
}

static int run_load(load_ctx *c, apr_array_header_t *paths, apr_time_t start)
{
    apr_array_header_t *parts = apr_array_make(c->p, 16, sizeof(load_part));
    int rc = map_all(c, paths, parts);

    if (!rc)
        rc = c->strict || c->whole ? load_whole(c, parts, start) : stream_load(c, parts);
    if (rc)
        return rc;
    count(c);
    summary(c, 1, apr_time_now() - start);
    return c->bad->nelts ? DPCCTL_LOAD_SKIPPED : DPCCTL_OK;
}

/* One run of the command; whole: read everything first. */
static int load_once(PGconn *conn, int argc, char **argv, int whole, apr_time_t start)
{
    apr_array_header_t *paths;
    load_ctx c;
    int rc;

    memset(&c, 0, sizeof(c));
    apr_pool_create(&c.p, NULL);
    c.conn = c.ask = conn;
    c.whole = whole;
    c.opt_mbi = apr_hash_make(c.p);
    c.opt_owner = apr_hash_make(c.p);
    c.db_bene = apr_hash_make(c.p);
    c.db_mbi = apr_hash_make(c.p);
    c.asked_bene = apr_hash_make(c.p);
    c.asked_mbi = apr_hash_make(c.p);
    c.load_bene = apr_hash_make(c.p);
    c.load_mbi = apr_hash_make(c.p);
    c.keys = apr_hash_make(c.p);
    c.skeys = apr_hash_make(c.p);
    c.waiting = apr_hash_make(c.p);
    c.upserted = apr_hash_make(c.p);
    c.fetched = apr_hash_make(c.p);
    c.files = apr_array_make(c.p, 8, sizeof(load_file));
    c.recs = apr_array_make(c.p, 1024, sizeof(load_rec));
    c.seq = apr_array_make(c.p, 1024, sizeof(int));
    c.bad = apr_array_make(c.p, 8, sizeof(load_bad));
    paths = apr_array_make(c.p, 8, sizeof(const char *));
    rc = parse_args(&c, argc, argv, paths);
    if (!rc)
        rc = run_load(&c, paths, start);
    apr_pool_destroy(c.p);
    return rc;
}

int dpcctl_load(PGconn *conn, int argc, char **argv)
{
    apr_time_t start = apr_time_now();
    int rc = load_once(conn, argc, argv, 0, start);

    return rc == LOAD_AGAIN ? load_once(conn, argc, argv, 1, start) : rc;
}
