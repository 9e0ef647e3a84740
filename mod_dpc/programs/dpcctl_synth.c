/* dpcctl_synth.c: `dpcctl synth`, the synthetic claims loader.
 *
 *   dpcctl synth --patients N --seed S [--offset K] [--chunk B] [--jobs J]
 *                [--skip-existing] [--out FILE [--out-beneficiary FILE]]
 *                [--format text|binary] [--dry-run]
 *
 * Loads beneficiaries K .. K+N-1 of data set S with binary COPY, B
 * beneficiaries (default 100) per transaction, over J connections at once
 * (default 2: PostgreSQL spends a core per COPY, mostly compressing with
 * lz4, so one connection leaves the second core idle).  A failure rolls
 * back its chunk, so no beneficiary is ever half loaded.  Re-running replaces:
 * each chunk deletes the claims_resource rows of its MBIs, upserts their
 * beneficiary rows and loads the claims again (--skip-existing instead
 * leaves beneficiaries already present, and their rows, alone).
 *
 * --out writes the claims_resource rows (and --out-beneficiary the
 * beneficiary rows) as COPY text, or a binary COPY stream with
 * --format binary, instead of loading: psql's \copy loads such a file, and
 * two runs with the same arguments give identical files.  --dry-run only
 * generates.  One JSON summary line goes to stdout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_allocator.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <apr_time.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "dpc_copy.h"
#include "dpc_log.h"
#include "dpc_pg.h"
#include "dpc_synth.h"
#include "dpc_synth_tpl.h"
#include "dpcctl_out.h"
#include "dpcctl_synth.h"

#define SYNTH_MAX_CHUNK 10000
#define SYNTH_MAX_JOBS 16

typedef struct synth_opts {
    uint64_t patients, seed, offset, chunk, jobs_u;
    int jobs;
    int have_patients, have_seed;
    int skip_existing, dry_run, binary;
    const char *out, *out_bene;
} synth_opts;

/* Where rows go: a COPY in progress on conn, or a file. */
typedef dpc_copy_out synth_out;

typedef struct synth_stats {
    uint64_t patients, skipped, resources, bytes;
} synth_stats;

/* ---- arguments ---------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_number_opt(const char *name, const char *val, uint64_t *out)
{
    if (!val)
        return dpcctl_fail(DPCCTL_USAGE, "synth: %s needs a value", name);
    if (parse_u64(val, out))
        return dpcctl_fail(DPCCTL_USAGE, "synth: %s must be a non-negative "
                           "integer, not '%s'", name, val);
    return 0;
}

static int parse_flag(synth_opts *o, const char *a)
{
    if (!strcmp(a, "--skip-existing"))
        o->skip_existing = 1;
    else if (!strcmp(a, "--dry-run"))
        o->dry_run = 1;
    else
        return dpcctl_fail(DPCCTL_USAGE, "synth: unknown option '%s'", a);
    return 0;
}

/* One "--name value" pair; returns 0 or an exit status. */
static int parse_pair(synth_opts *o, const char *a, const char *v)
{
    if (!strcmp(a, "--patients")) {
        o->have_patients = 1;
        return parse_number_opt(a, v, &o->patients);
    }
    if (!strcmp(a, "--seed")) {
        o->have_seed = 1;
        return parse_number_opt(a, v, &o->seed);
    }
    if (!strcmp(a, "--offset"))
        return parse_number_opt(a, v, &o->offset);
    if (!strcmp(a, "--chunk"))
        return parse_number_opt(a, v, &o->chunk);
    if (!strcmp(a, "--jobs"))
        return parse_number_opt(a, v, &o->jobs_u);
    if (!v)
        return dpcctl_fail(DPCCTL_USAGE, "synth: %s needs a value", a);
    if (!strcmp(a, "--out"))
        o->out = v;
    else if (!strcmp(a, "--out-beneficiary"))
        o->out_bene = v;
    else if (!strcmp(a, "--format") && (!strcmp(v, "text") || !strcmp(v, "binary")))
        o->binary = !strcmp(v, "binary");
    else
        return dpcctl_fail(DPCCTL_USAGE, "synth: bad option %s %s "
                           "(--format is text or binary)", a, v);
    return 0;
}

static int check_opts(const synth_opts *o)
{
    if (!o->have_patients || !o->have_seed)
        return dpcctl_fail(DPCCTL_USAGE, "synth needs --patients N and --seed S");
    if (o->chunk < 1 || o->chunk > SYNTH_MAX_CHUNK)
        return dpcctl_fail(DPCCTL_USAGE, "synth: --chunk must be 1..%d", SYNTH_MAX_CHUNK);
    if (o->offset >= DPC_SYNTH_MAX_INDEX || o->patients > DPC_SYNTH_MAX_INDEX - o->offset)
        return dpcctl_fail(DPCCTL_USAGE, "synth: --offset + --patients must stay "
                           "below %" APR_UINT64_T_FMT, (apr_uint64_t)DPC_SYNTH_MAX_INDEX);
    if (o->jobs_u < 1 || o->jobs_u > SYNTH_MAX_JOBS)
        return dpcctl_fail(DPCCTL_USAGE, "synth: --jobs must be 1..%d", SYNTH_MAX_JOBS);
    if (o->out_bene && !o->out)
        return dpcctl_fail(DPCCTL_USAGE, "synth: --out-beneficiary needs --out");
    return 0;
}

static int parse_opts(int argc, char **argv, synth_opts *o)
{
    int i, rc;

    memset(o, 0, sizeof(*o));
    o->chunk = 100;
    o->jobs_u = 2;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--skip-existing") || !strcmp(argv[i], "--dry-run"))
            rc = parse_flag(o, argv[i]);
        else if (!strncmp(argv[i], "--", 2)) {
            const char *name = argv[i];

            rc = parse_pair(o, name, i + 1 < argc ? argv[++i] : NULL);
        }
        else
            rc = dpcctl_fail(DPCCTL_USAGE, "synth: unexpected argument '%s'", argv[i]);
        if (rc)
            return rc;
    }
    rc = check_opts(o);
    o->jobs = (int)o->jobs_u;
    return rc;
}

/* ---- output ------------------------------------------------------------- */

static void encode_bene_row(dpc_sbuf *b, int binary, const dpc_synth_bene *i)
{
    dpc_copy_bene_row(b, binary, i->mbi, i->bene_id, i->last_updated, i->last_updated_us);
}

typedef struct claim_sink {
    synth_out *out;
    synth_stats *stats;
} claim_sink;

static int sink_row(void *ctx, const dpc_synth_row *r)
{
    claim_sink *s = ctx;

    s->stats->resources++;
    s->stats->bytes += r->body_len;
    if (!s->out)
        return 0;               /* --dry-run */
    dpc_copy_claim_row(&s->out->buf, s->out->binary, r);
    return dpc_copy_maybe_flush(s->out);
}

/* ---- the database ------------------------------------------------------- */

static int exec_ok(PGconn *c, const char *sql, int nparams,
                   const char *const *params, PGresult **keep)
{
    return dpcctl_exec(c, "synth", sql, nparams, params, keep);
}

/* End a COPY and collect its result. */
static int copy_end(synth_out *o)
{
    if (dpc_copy_end(o)) {
        dpcctl_fail(DPCCTL_FAIL, "synth: COPY: %s", o->error);
        return -1;
    }
    return 0;
}

/* A text array literal of one field of the chunk's beneficiaries.  MBIs,
 * bene ids and our ISO instants need no quoting inside one. */
enum { FIELD_MBI, FIELD_BENE_ID, FIELD_UPDATED };

static const char *bene_array(apr_pool_t *p, const dpc_synth_bene *b, int n,
                              int field)
{
    dpc_sbuf s = { 0 };
    const char *lit;
    int i;

    dpc_sbuf_putc(&s, '{');
    for (i = 0; i < n; i++) {
        const char *v = field == FIELD_MBI ? b[i].mbi
                        : field == FIELD_BENE_ID ? b[i].bene_id : b[i].last_updated;

        if (i)
            dpc_sbuf_putc(&s, ',');
        dpc_sbuf_append(&s, v, strlen(v));
    }
    dpc_sbuf_putc(&s, '}');
    lit = s.failed ? NULL : apr_pstrmemdup(p, s.data, s.len);
    dpc_sbuf_free(&s);
    return lit;
}

/* Replace mode drops the chunk's claims through the primary key
 * (fhir_version leads it, so both versions are named). */
static int delete_claims(PGconn *c, const char *mbis)
{
    const char *params[1] = { mbis };

    return exec_ok(c, "DELETE FROM claims_resource WHERE fhir_version IN (3, 4) "
                   "AND mbi = ANY($1::text[])", 1, params, NULL);
}

/* Beneficiaries are upserted, never deleted: deleting one would fire the
 * ON DELETE CASCADE check, which has no index on claims_resource.mbi to use
 * and scans the table once per beneficiary.  In skip mode the rows already
 * there stay, and RETURNING tells which ones are new. */
static int upsert_benes(PGconn *c, apr_pool_t *p, const dpc_synth_bene *b, int n,
                        int skip_existing, char *skip)
{
    const char *params[3];
    PGresult *res;
    int i, j;

    params[0] = bene_array(p, b, n, FIELD_MBI);
    params[1] = bene_array(p, b, n, FIELD_BENE_ID);
    params[2] = bene_array(p, b, n, FIELD_UPDATED);
    if (!params[0] || !params[1] || !params[2]
        || exec_ok(c, skip_existing
                   ? "INSERT INTO beneficiary (mbi, bene_id, last_updated) SELECT * "
                     "FROM unnest($1::text[], $2::text[], $3::timestamptz[]) "
                     "ON CONFLICT (mbi) DO NOTHING RETURNING mbi"
                   : "INSERT INTO beneficiary (mbi, bene_id, last_updated) SELECT * "
                     "FROM unnest($1::text[], $2::text[], $3::timestamptz[]) "
                     "ON CONFLICT (mbi) DO UPDATE SET bene_id = excluded.bene_id, "
                     "last_updated = excluded.last_updated RETURNING mbi",
                   3, params, &res))
        return -1;
    for (j = 0; j < n; j++)
        skip[j] = 1;
    for (i = 0; i < PQntuples(res); i++) {
        for (j = 0; j < n; j++) {
            if (!strcmp(PQgetvalue(res, i, 0), b[j].mbi))
                skip[j] = 0;
        }
    }
    PQclear(res);
    return 0;
}

/* ---- one chunk ---------------------------------------------------------- */

/* What the workers share: the next chunk to hand out, and whether any
 * worker failed (then the others stop after their current chunk). */
typedef struct synth_shared {
    const synth_opts *opts;
    apr_thread_mutex_t *lock;
    uint64_t next;
    int failed;
} synth_shared;

/* One worker: its own generator, connection and buffers. */
typedef struct synth_run {
    synth_shared *sh;
    const synth_opts *opts;
    dpc_synth *gen;
    apr_pool_t *pool;           /* the worker's */
    apr_pool_t *scratch;        /* cleared after every chunk */
    synth_out out;              /* claims_resource rows */
    synth_out bene_out;         /* beneficiary rows (files only) */
    synth_stats stats;
    dpc_synth_bene *info;       /* the chunk's beneficiaries */
    char *skip;
    int own_conn;
    int rc;
} synth_run;

static int chunk_info(synth_run *r, uint64_t first, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        r->skip[i] = 0;
        if (dpc_synth_bene_info(r->gen, r->opts->seed, first + i, &r->info[i]))
            return dpcctl_fail(DPCCTL_FAIL, "synth: bad beneficiary index");
    }
    return 0;
}

static void chunk_bene_rows(synth_run *r, synth_out *o, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        if (!r->skip[i])
            encode_bene_row(&o->buf, o->binary, &r->info[i]);
    }
}

static int chunk_claim_rows(synth_run *r, synth_out *o, uint64_t first, int n)
{
    claim_sink s = { o, &r->stats };
    int i;

    for (i = 0; i < n; i++) {
        if (r->skip[i]) {
            r->stats.skipped++;
            continue;
        }
        r->stats.patients++;
        if (dpc_synth_beneficiary(r->gen, r->opts->seed, first + i, sink_row, &s))
            return dpcctl_fail(DPCCTL_FAIL, "synth: %s",
                               o && o->error ? o->error : "generation failed");
    }
    return 0;
}

static int chunk_copy(synth_run *r, uint64_t first, int n)
{
    if (exec_ok(r->out.conn, "COPY claims_resource (" DPC_COPY_CLAIM_COLUMNS ") FROM STDIN"
                " (FORMAT binary)", 0, NULL, NULL))
        return -1;
    dpc_copy_header(&r->out.buf);
    if (chunk_claim_rows(r, &r->out, first, n))
        return -1;
    dpc_copy_trailer(&r->out.buf);
    return copy_end(&r->out);
}

/* One transaction: the chunk's beneficiaries first (the claims' foreign key
 * needs them), then their claims. */
static int chunk_load(synth_run *r, uint64_t first, int n)
{
    PGconn *c = r->out.conn;
    const char *mbis = bene_array(r->scratch, r->info, n, FIELD_MBI);

    if (!mbis || exec_ok(c, "BEGIN", 0, NULL, NULL))
        return -1;
    if ((!r->opts->skip_existing && delete_claims(c, mbis))
        || upsert_benes(c, r->scratch, r->info, n, r->opts->skip_existing, r->skip)
        || chunk_copy(r, first, n)
        || exec_ok(c, "COMMIT", 0, NULL, NULL)) {
        PQclear(PQexec(c, "ROLLBACK"));
        return -1;
    }
    return 0;
}

static int chunk_write(synth_run *r, uint64_t first, int n)
{
    if (r->bene_out.file) {
        chunk_bene_rows(r, &r->bene_out, n);
        if (dpc_copy_flush(&r->bene_out))
            return dpcctl_fail(DPCCTL_FAIL, "synth: %s: %s", r->opts->out_bene,
                               r->bene_out.error);
    }
    return chunk_claim_rows(r, r->out.file ? &r->out : NULL, first, n);
}

/* ---- workers ------------------------------------------------------------ */

static int next_chunk(synth_shared *sh, uint64_t *first, int *n)
{
    uint64_t end = sh->opts->offset + sh->opts->patients;
    int more;

    apr_thread_mutex_lock(sh->lock);
    more = !sh->failed && sh->next < end;
    if (more) {
        *first = sh->next;
        *n = (int)(end - sh->next < sh->opts->chunk ? end - sh->next : sh->opts->chunk);
        sh->next += *n;
    }
    apr_thread_mutex_unlock(sh->lock);
    return more;
}

static void mark_failed(synth_run *r, uint64_t first)
{
    apr_thread_mutex_lock(r->sh->lock);
    r->sh->failed = 1;
    apr_thread_mutex_unlock(r->sh->lock);
    if (r->out.conn)
        dpcctl_fail(DPCCTL_FAIL, "synth: the chunk from beneficiary %" APR_UINT64_T_FMT
                    " was rolled back; other chunks are whole (run again to "
                    "complete the set)", (apr_uint64_t)first);
}

static int run_worker(synth_run *r)
{
    uint64_t first;
    int n;

    while (next_chunk(r->sh, &first, &n)) {
        if (chunk_info(r, first, n)
            || (r->out.conn ? chunk_load(r, first, n) : chunk_write(r, first, n))) {
            mark_failed(r, first);
            return DPCCTL_FAIL;
        }
        apr_pool_clear(r->scratch);
    }
    return DPCCTL_OK;
}

static void *APR_THREAD_FUNC worker_thread(apr_thread_t *t, void *data)
{
    synth_run *r = data;

    (void)t;
    r->rc = run_worker(r);
    return NULL;
}

/* A second connection with the first one's parameters. */
static PGconn *clone_conn(apr_pool_t *p, PGconn *c)
{
    const char *err;
    PGconn *n = dpc_pg_connect_like(p, c, &err);

    if (!n)
        dpcctl_fail(DPCCTL_FAIL, "synth: another connection: %s", err);
    return n;
}

/* Each worker allocates from its own allocator, never shared between
 * threads (the pool is a root pool, destroyed by worker_done()). */
static int worker_init(synth_run *r, synth_shared *sh)
{
    apr_allocator_t *alloc;

    memset(r, 0, sizeof(*r));
    r->sh = sh;
    r->opts = sh->opts;
    if (apr_allocator_create(&alloc) != APR_SUCCESS
        || apr_pool_create_ex(&r->pool, NULL, NULL, alloc) != APR_SUCCESS)
        return dpcctl_fail(DPCCTL_FAIL, "synth: out of memory");
    apr_allocator_owner_set(alloc, r->pool);
    apr_pool_tag(r->pool, "dpcctl_synth_worker");
    apr_pool_create(&r->scratch, r->pool);
    r->info = apr_pcalloc(r->pool, sizeof(*r->info) * r->opts->chunk);
    r->skip = apr_pcalloc(r->pool, r->opts->chunk);
    if (dpc_synth_create(r->pool, &r->gen) != APR_SUCCESS)
        return dpcctl_fail(DPCCTL_FAIL, "synth: cannot set up the generator "
                           "(see the log above)");
    return 0;
}

static void worker_done(synth_run *r)
{
    if (r->own_conn && r->out.conn)
        PQfinish(r->out.conn);
    dpc_sbuf_free(&r->out.buf);
    dpc_sbuf_free(&r->bene_out.buf);
    if (r->pool)
        apr_pool_destroy(r->pool);
    r->pool = NULL;
}

/* ---- files -------------------------------------------------------------- */

static int open_out(synth_out *o, const char *path, int binary)
{
    o->binary = binary;
    if (!path)
        return 0;
    o->file = fopen(path, "wb");
    if (!o->file)
        return dpcctl_fail(DPCCTL_FAIL, "synth: %s: %s", path, strerror(errno));
    if (binary)
        dpc_copy_header(&o->buf);
    return 0;
}

static int close_out(synth_out *o, const char *path, int ok)
{
    int rc = 0;

    if (o->file) {
        if (ok && o->binary)
            dpc_copy_trailer(&o->buf);
        if (ok && dpc_copy_flush(o))
            rc = dpcctl_fail(DPCCTL_FAIL, "synth: %s: %s", path, o->error);
        if (fclose(o->file) != 0 && ok && !rc)
            rc = dpcctl_fail(DPCCTL_FAIL, "synth: %s: %s", path, strerror(errno));
        o->file = NULL;
    }
    return rc;
}

/* ---- the command -------------------------------------------------------- */

/* Like dpcctl_print(), with 6 significant digits rather than 17. */
static void print_json(json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;

    if (s)
        puts(s);
    free(s);
    json_decref(v);
}

static void print_summary(const synth_opts *o, const synth_stats *st, int jobs,
                          const char *mode, apr_time_t took)
{
    double secs = (double)took / APR_USEC_PER_SEC;

    print_json(json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:i, s:f, s:f, s:f}",
                         "patients", (json_int_t)st->patients,
                         "skipped", (json_int_t)st->skipped,
                         "resources", (json_int_t)st->resources,
                         "bytes", (json_int_t)st->bytes,
                         "seed", (json_int_t)o->seed,
                         "offset", (json_int_t)o->offset,
                         "mode", mode, "jobs", jobs,
                         "seconds", secs,
                         "resources_per_second", secs > 0 ? st->resources / secs : 0.0,
                         "mb_per_second", secs > 0 ? st->bytes / 1e6 / secs : 0.0));
}

static void add_stats(synth_stats *sum, const synth_stats *s)
{
    sum->patients += s->patients;
    sum->skipped += s->skipped;
    sum->resources += s->resources;
    sum->bytes += s->bytes;
}

/* --out / --dry-run: one worker, in index order, so files are reproducible. */
static int write_rows(synth_shared *sh, synth_stats *sum)
{
    const synth_opts *o = sh->opts;
    synth_run r;
    int rc = worker_init(&r, sh);

    if (!rc)
        rc = open_out(&r.out, o->out, o->binary);
    if (!rc)
        rc = open_out(&r.bene_out, o->out_bene, o->binary);
    if (!rc)
        rc = run_worker(&r);
    if (close_out(&r.out, o->out, rc == 0) | close_out(&r.bene_out, o->out_bene, rc == 0))
        rc = DPCCTL_FAIL;
    add_stats(sum, &r.stats);
    worker_done(&r);
    return rc;
}

static int start_worker(synth_run *r, int i, PGconn *conn, apr_pool_t *p,
                        apr_thread_t **t)
{
    r->out.binary = 1;          /* loads always use binary COPY */
    r->out.conn = i ? clone_conn(p, conn) : conn;
    r->own_conn = i > 0;
    if (!r->out.conn)
        return DPCCTL_FAIL;
    if (apr_thread_create(t, NULL, worker_thread, r, p) != APR_SUCCESS)
        return dpcctl_fail(DPCCTL_FAIL, "synth: cannot start a thread");
    return 0;
}

/* Load with `jobs` connections, each taking the next chunk in turn. */
static int load_rows(synth_shared *sh, PGconn *conn, apr_pool_t *p, synth_stats *sum)
{
    int jobs = sh->opts->jobs, started = 0, rc = 0, i;
    synth_run *runs = apr_pcalloc(p, sizeof(*runs) * jobs);
    apr_thread_t **threads = apr_pcalloc(p, sizeof(*threads) * jobs);
    apr_status_t ignored;

    for (i = 0; i < jobs && !rc; i++) {
        rc = worker_init(&runs[i], sh);
        if (!rc)
            rc = start_worker(&runs[i], i, conn, p, &threads[i]);
        if (!rc)
            started++;
        else {
            apr_thread_mutex_lock(sh->lock);
            sh->failed = 1;     /* the started workers stop after their chunk */
            apr_thread_mutex_unlock(sh->lock);
        }
    }
    for (i = 0; i < started; i++) {
        apr_thread_join(&ignored, threads[i]);
        rc |= runs[i].rc;
        add_stats(sum, &runs[i].stats);
    }
    for (i = 0; i < jobs; i++)
        worker_done(&runs[i]);
    return rc ? DPCCTL_FAIL : DPCCTL_OK;
}

int dpcctl_synth(PGconn *conn, int argc, char **argv)
{
    synth_opts opts;
    synth_shared sh;
    synth_stats sum;
    apr_pool_t *p;
    apr_time_t start = apr_time_now();
    int loading, rc = parse_opts(argc, argv, &opts);

    if (rc)
        return rc;
    loading = !opts.out && !opts.dry_run;
    if (loading && !conn)
        return dpcctl_fail(DPCCTL_USAGE, "synth: loading needs a database "
                           "(--db or DPC_DB), or pass --out FILE / --dry-run");
    memset(&sh, 0, sizeof(sh));
    memset(&sum, 0, sizeof(sum));
    sh.opts = &opts;
    sh.next = opts.offset;
    apr_pool_create(&p, NULL);
    apr_thread_mutex_create(&sh.lock, APR_THREAD_MUTEX_DEFAULT, p);
    rc = loading ? load_rows(&sh, conn, p, &sum) : write_rows(&sh, &sum);
    if (rc == 0)
        print_summary(&opts, &sum, loading ? opts.jobs : 1,
                      !loading ? (opts.out ? "out" : "dry-run")
                      : opts.skip_existing ? "skip" : "replace",
                      apr_time_now() - start);
    apr_pool_destroy(p);
    return rc;
}
