/* dpc_synth.c: see dpc_synth.h.
 *
 * Generation has two steps per beneficiary.  Planning draws everything
 * that has to be consistent across resources (identity, dates, counts,
 * per-claim keys) from a counter-based PRNG seeded by (seed, index).
 * Rendering then fills template slots; values inside a claim (codes, line
 * amounts, NPIs) are hashes of the claim's key and the slot's position, so
 * the STU3 and R4 renderings of one claim agree without storing them.
 * Only integer arithmetic is used, so output is identical on every machine.
 */
#include "dpc_synth.h"

#include <string.h>

#include <apr_strings.h>
#include <openssl/evp.h>

#include "dpc_embed.h"
#include "dpc_log.h"
#include "dpc_export_req.h"
#include "dpc_mbi.h"
#include "dpc_synth_tpl.h"

/* mod_dpc/tools/synth/templates and codes, embedded by build/embed. */
extern const dpc_embedded_file dpc_synth_files[];

/* ---- vocabulary of the templates --------------------------------------- */

#define SYNTH_VARS(X)                                                       \
    X(last_updated) X(created) X(bene_id) X(mbi) X(mbi_hash) X(mbi_start)   \
    X(mbi_hist) X(family) X(given) X(initial) X(gender) X(sex_code)         \
    X(birth_date) X(death_date) X(state) X(zip) X(ref_year) X(cov_start)    \
    X(cov_end) X(claim_id) X(from_date) X(thru_date) X(npi) X(amt)          \
    X(line_amt) X(dx_code) X(dx_display) X(dx_seq) X(proc_code)             \
    X(proc_display) X(proc_seq) X(proc_date) X(item_seq) X(item_dx_seq)     \
    X(hcpcs) X(ndc_code) X(ndc_display)
#define SYNTH_SECTIONS(X) X(item) X(dx) X(proc) X(mbi_hist) X(deceased)

#define SYNTH_ENUM_V(n) V_##n,
#define SYNTH_ENUM_S(n) S_##n,
#define SYNTH_NAME(n) #n,
enum { SYNTH_VARS(SYNTH_ENUM_V) V_COUNT };
enum { SYNTH_SECTIONS(SYNTH_ENUM_S) S_COUNT };
static const char *const var_names[] = { SYNTH_VARS(SYNTH_NAME) };
static const char *const section_names[] = { SYNTH_SECTIONS(SYNTH_NAME) };
static const dpc_tpl_vocab synth_vocab = {
    var_names, V_COUNT, section_names, S_COUNT
};

/* ---- claim types ------------------------------------------------------- */

enum { CT_CARRIER, CT_DME, CT_HHA, CT_HOSPICE, CT_INPATIENT, CT_OUTPATIENT,
       CT_PDE, CT_SNF };

/* How often each type occurs (per mille, roughly Medicare's mix: carrier
 * and Part D events dominate), how long its billable period is, and how
 * many lines / extra diagnoses / procedures it may have before the size
 * budget trims them.  period_thru: its templates' billablePeriod ends on
 * the through date (else it is the from date alone, as BFD's samples of
 * that type have it). */
typedef struct claim_shape {
    const char *name;
    int weight;
    int los_min, los_max;
    int items_max, dx_max, proc_min, proc_max;
    int period_thru;
} claim_shape;

static const claim_shape shapes[DPC_SYNTH_CLAIM_TYPES] = {
    { "carrier",    480,  0,  0, 3, 4, 0, 0, 0 },
    { "dme",         40,  0, 29, 2, 3, 0, 0, 0 },
    { "hha",         10, 29, 59, 6, 5, 0, 0, 0 },
    { "hospice",      5, 14, 89, 6, 5, 0, 0, 1 },
    { "inpatient",   15,  1, 12, 6, 8, 1, 6, 1 },
    { "outpatient",  80,  0,  1, 4, 4, 1, 2, 0 },
    { "pde",        360,  0,  0, 1, 0, 0, 0, 0 },
    { "snf",         10,  5, 40, 5, 5, 1, 3, 1 },
};

static const char coverage_parts[4] = { 'a', 'b', 'c', 'd' };

const char *dpc_synth_claim_type(int i)
{
    return (i >= 0 && i < DPC_SYNTH_CLAIM_TYPES) ? shapes[i].name : NULL;
}

/* ---- calendar (days since 1970-01-01, UTC) ---------------------------- */

static const int month_start[12] = {
    0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334
};

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Leap years in [1, y), for y >= 1. */
static int leaps_before(int y)
{
    return (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400;
}

static int32_t day_number(int y, int m, int d)
{
    int32_t days = (y - 1970) * 365 + leaps_before(y) - leaps_before(1970);

    return days + month_start[m - 1] + (m > 2 && is_leap(y)) + d - 1;
}

static void civil_date(int32_t z, int *y, int *m, int *d)
{
    int yy = 1970 + z / 365, mm = 12, doy;

    while (day_number(yy, 1, 1) > z)
        yy--;
    while (day_number(yy + 1, 1, 1) <= z)
        yy++;
    doy = z - day_number(yy, 1, 1);
    while (mm > 1 && month_start[mm - 1] + (mm > 2 && is_leap(yy)) > doy)
        mm--;
    *y = yy;
    *m = mm;
    *d = doy - month_start[mm - 1] - (mm > 2 && is_leap(yy)) + 1;
}

static void put_date(dpc_sbuf *b, int32_t day)
{
    int y, m, d;

    civil_date(day, &y, &m, &d);
    dpc_sbuf_put_padded(b, (uint64_t)y, 4);
    dpc_sbuf_putc(b, '-');
    dpc_sbuf_put_padded(b, (uint64_t)m, 2);
    dpc_sbuf_putc(b, '-');
    dpc_sbuf_put_padded(b, (uint64_t)d, 2);
}

#define MS_PER_DAY INT64_C(86400000)

/* "YYYY-MM-DDTHH:MM:SS.mmm+00:00" for ms since 1970 (ms >= 0). */
static void format_instant(int64_t ms, char out[32])
{
    dpc_sbuf b = { out, 0, 32, 0 };
    int64_t rem = ms % MS_PER_DAY;

    put_date(&b, (int32_t)(ms / MS_PER_DAY));
    dpc_sbuf_putc(&b, 'T');
    dpc_sbuf_put_padded(&b, (uint64_t)(rem / 3600000), 2);
    dpc_sbuf_putc(&b, ':');
    dpc_sbuf_put_padded(&b, (uint64_t)(rem / 60000 % 60), 2);
    dpc_sbuf_putc(&b, ':');
    dpc_sbuf_put_padded(&b, (uint64_t)(rem / 1000 % 60), 2);
    dpc_sbuf_putc(&b, '.');
    dpc_sbuf_put_padded(&b, (uint64_t)(rem % 1000), 3);
    dpc_sbuf_append(&b, "+00:00", 7);   /* with the NUL */
}

/* ---- hashing and the PRNG --------------------------------------------- */

/* SplitMix64's finalizer: a strong 64-bit mixer. */
static uint64_t mix64(uint64_t z)
{
    z += UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* A value keyed by (key, tag, i): the stateless draws of rendering. */
static uint64_t hash3(uint64_t key, uint64_t tag, uint64_t i)
{
    return mix64(key ^ mix64((tag << 40) ^ i));
}

/* x in [0, n) from 64 random bits, without division. */
static uint32_t below(uint64_t bits, uint32_t n)
{
    return (uint32_t)(((bits >> 32) * (uint64_t)n) >> 32);
}

/* The planning stream: SplitMix64, one independent stream per key. */
typedef struct synth_rng {
    uint64_t s;
} synth_rng;

static uint64_t rng_next(synth_rng *r)
{
    r->s += UINT64_C(0x9E3779B97F4A7C15);
    return mix64(r->s);
}

static int rng_range(synth_rng *r, int lo, int hi)
{
    return lo + (int)below(rng_next(r), (uint32_t)(hi - lo + 1));
}

/* A 4-round Feistel network on values of 2 * half bits: a keyed bijection. */
static uint64_t feistel(uint64_t x, uint64_t key, int half)
{
    uint64_t mask = (UINT64_C(1) << half) - 1, l = x >> half, r = x & mask, t;
    int i;

    for (i = 0; i < 4; i++) {
        t = l ^ (mix64(r ^ (key + (uint64_t)i * UINT64_C(0x632BE59BD9B4E019))) & mask);
        l = r;
        r = t;
    }
    return (l << half) | r;
}

static uint64_t feistel44(uint64_t x, uint64_t key)
{
    return feistel(x, key, 22);
}

/* A keyed bijection of [0, DPC_MBI_SYNTHETIC_SPACE): walk the 40-bit
 * permutation's cycle until it lands inside the space (about 1.7 steps on
 * average). */
static uint64_t mbi_walk(uint64_t key, uint64_t n)
{
    do {
        n = feistel(n, key, 20);
    } while (n >= DPC_MBI_SYNTHETIC_SPACE);
    return n;
}

/* The MBIs the DPC guides show, which the sandbox must hold claims for:
 * beneficiary index 0 of every data set has the first (each data set
 * stays one bijection: the index that would have had it takes index 0's). */
static const char guide_mbi[] = "2SW4N00AA00";

/* The synthetic MBI number of index n (current MBIs below
 * DPC_SYNTH_MAX_INDEX, historic ones above). */
static uint64_t mbi_number(uint64_t key, uint64_t n)
{
    uint64_t pinned = (uint64_t)dpc_mbi_synthetic_number(guide_mbi), v;

    if (n == 0)
        return pinned;
    v = mbi_walk(key, n);
    return v == pinned ? mbi_walk(key, 0) : v;
}

/* ---- code lists ------------------------------------------------------- */

typedef struct code_entry {
    const char *code;
    const char *display;
    apr_size_t code_len, display_len;
} code_entry;

typedef struct code_list {
    code_entry *e;
    int n;
    apr_size_t max_code, max_display;
} code_list;

static const dpc_embedded_file *synth_file(const char *name)
{
    const dpc_embedded_file *f;

    for (f = dpc_synth_files; f->name; f++) {
        if (!strcmp(f->name, name))
            return f;
    }
    dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, APR_ENOENT,
                   DPCLOGNO(09002) "synth: %s is not embedded", name);
    return NULL;
}

/* Values are copied into JSON strings raw, so they must need no escaping. */
static int json_safe(const char *s, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\')
            return 0;
    }
    return 1;
}

static void code_add(code_list *l, const char *line, apr_size_t n)
{
    const char *tab = memchr(line, '\t', n);
    code_entry *e = &l->e[l->n++];

    e->code = line;
    e->code_len = tab ? (apr_size_t)(tab - line) : n;
    e->display = tab ? tab + 1 : "";
    e->display_len = tab ? n - e->code_len - 1 : 0;
    if (e->code_len > l->max_code)
        l->max_code = e->code_len;
    if (e->display_len > l->max_display)
        l->max_display = e->display_len;
}

/* Parse "code[TAB display]" lines; '#' starts a comment line. */
static apr_status_t code_load(apr_pool_t *p, const char *name, code_list *l)
{
    const dpc_embedded_file *f = synth_file(name);
    const char *s, *end, *nl;

    if (!f)
        return APR_ENOENT;
    memset(l, 0, sizeof(*l));
    l->e = apr_pcalloc(p, sizeof(code_entry) * (f->len / 2 + 1));
    for (s = f->data, end = f->data + f->len; s < end; s = nl + 1) {
        nl = memchr(s, '\n', end - s);
        if (!nl)
            nl = end;
        if (nl == s || *s == '#')
            continue;
        code_add(l, s, nl - s);
        if (!json_safe(l->e[l->n - 1].code, l->e[l->n - 1].code_len)
            || !json_safe(l->e[l->n - 1].display, l->e[l->n - 1].display_len)) {
            dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, APR_EINVAL,
                           DPCLOGNO(09003) "synth: %s: a line needs JSON escaping", name);
            return APR_EINVAL;
        }
    }
    return l->n ? APR_SUCCESS : APR_EINVAL;
}

/* ---- plans ------------------------------------------------------------- */

typedef struct synth_claim {
    int type;
    uint64_t key;           /* the claim's own hash key */
    uint64_t claim_id;
    int32_t from, thru;     /* billable period, day numbers */
    int64_t updated_ms;
    int n_items, n_dx, n_proc;
    int factor;             /* amount scale, per mille of the sample's */
} synth_claim;

typedef struct synth_bene {
    uint64_t seed_key, key, mbi_num, bene_num;
    char mbi[DPC_MBI_LEN + 1];
    char hist[2][DPC_MBI_LEN + 1];
    int n_hist;
    char bene_id[24];
    char mbi_hash[65];
    int female, family, given, initial, state, zip2;
    int32_t birth, death, mbi_start;
    int64_t patient_ms, coverage_ms[4];
    int has_part_c;
    int drugs[6], n_drugs;
    int n_claims;
    int64_t updated_max;
} synth_bene;

typedef struct synth_tpls {
    dpc_tpl *patient;
    dpc_tpl *coverage[4];
    dpc_tpl *eob[DPC_SYNTH_CLAIM_TYPES];
} synth_tpls;

enum { COST_BASE, COST_ITEM, COST_DX, COST_PROC };

struct dpc_synth {
    apr_pool_t *pool;
    synth_tpls tpl[2];                      /* [0] STU3, [1] R4 */
    code_list dx, pcs, hcpcs, hcpcs_dme, ndc, family, female, male, states;
    apr_size_t cost[DPC_SYNTH_CLAIM_TYPES][2][4];
    dpc_sbuf body;
    synth_bene bene;
    synth_claim claims[DPC_SYNTH_MAX_CLAIMS];
};

/* Fixed key of the MBI-number -> bene-number permutation: seed-independent,
 * so one MBI has one bene id in every data set. */
#define BENE_ID_KEY UINT64_C(0x2545F4914F6CDD1D)
/* Distinct providers (NPIs) per data set. */
#define NPI_POOL 4096

/* Time window of the data: service dates and lastUpdated instants. */
#define FIRST_SERVICE_DAY day_number(2016, 1, 1)
#define LAST_SERVICE_DAY day_number(2026, 8, 31)
#define FIRST_UPDATE_DAY day_number(2019, 1, 1)
#define LAST_UPDATE_DAY day_number(2026, 10, 31)

/* BFD's convention (dpc_export_req.h): what was loaded before its load
 * date carries the marker lastUpdated, 2020-01-01T00:00:00Z.  ms. */
#define BFD_MARKER_MS (DPC_BFD_MARKER / 1000)
#define BFD_LOAD_MS (DPC_BFD_LOAD_DATE / 1000)

static int64_t bfd_loaded(int64_t ms)
{
    return ms < BFD_LOAD_MS ? BFD_MARKER_MS : ms;
}

/* A lastUpdated instant between the two days, as BFD marks it. */
static int64_t random_instant(synth_rng *r, int32_t first_day, int32_t last_day)
{
    int64_t day = rng_range(r, first_day, last_day);

    return bfd_loaded(day * MS_PER_DAY + (int64_t)below(rng_next(r), (uint32_t)MS_PER_DAY));
}

static void put_u64_str(uint64_t v, char *out)
{
    dpc_sbuf b = { out, 0, 21, 0 };

    dpc_sbuf_put_u64(&b, v);
    out[b.len] = '\0';
}

static void sha256_hex(const char *s, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    if (!EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL))
        n = 0;
    for (i = 0; i < n && i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * i] = '\0';
}

static void plan_identity(synth_bene *b, uint64_t seed, uint64_t index)
{
    int i;

    b->seed_key = mix64(seed ^ UINT64_C(0xD1B54A32D192ED03));
    b->key = hash3(b->seed_key, 1, index);
    b->mbi_num = mbi_number(b->seed_key, index);
    dpc_mbi_make_synthetic(b->mbi_num, b->mbi);
    b->bene_num = feistel44(b->mbi_num, BENE_ID_KEY);
    /* negative, as BFD's synthetic beneficiaries' ids are */
    b->bene_id[0] = '-';
    put_u64_str(b->bene_num + 1, b->bene_id + 1);
    /* Historic MBIs come from the upper half of the index space, so they
     * never equal a current MBI of the same data set. */
    b->n_hist = (int)below(hash3(b->key, 2, 0), 100);
    b->n_hist = b->n_hist < 3 ? 2 : b->n_hist < 15 ? 1 : 0;
    for (i = 0; i < b->n_hist; i++)
        dpc_mbi_make_synthetic(mbi_number(b->seed_key, DPC_SYNTH_MAX_INDEX * 2 + index * 2 + i),
                               b->hist[i]);
    b->mbi_hash[0] = '\0';      /* computed when rendering */
}

static void plan_person(dpc_synth *g, synth_bene *b, synth_rng *r)
{
    int i;

    b->female = rng_range(r, 0, 99) < 55;
    b->family = rng_range(r, 0, g->family.n - 1);
    b->given = rng_range(r, 0, (b->female ? g->female.n : g->male.n) - 1);
    b->initial = rng_range(r, 0, 19);
    b->state = rng_range(r, 0, g->states.n - 1);
    b->zip2 = rng_range(r, 0, 99);
    b->birth = rng_range(r, day_number(1925, 1, 1), day_number(1959, 12, 31));
    b->death = rng_range(r, 0, 99) < 2
               ? rng_range(r, FIRST_UPDATE_DAY, day_number(2026, 6, 30)) : 0;
    b->mbi_start = rng_range(r, day_number(2018, 4, 1), day_number(2020, 1, 31));
    b->patient_ms = random_instant(r, FIRST_UPDATE_DAY, LAST_UPDATE_DAY);
    b->n_drugs = rng_range(r, 2, 6);
    for (i = 0; i < b->n_drugs; i++)
        b->drugs[i] = rng_range(r, 0, g->ndc.n - 1);
}

static void plan_coverage(synth_bene *b, synth_rng *r)
{
    int i;

    b->has_part_c = rng_range(r, 0, 99) < 30;
    for (i = 0; i < 4; i++)
        b->coverage_ms[i] = random_instant(r, FIRST_UPDATE_DAY, LAST_UPDATE_DAY);
}

static int pick_claim_type(synth_rng *r)
{
    int x = rng_range(r, 0, 999), t;

    for (t = 0; t < DPC_SYNTH_CLAIM_TYPES - 1; t++) {
        if (x < shapes[t].weight)
            return t;
        x -= shapes[t].weight;
    }
    return t;
}

/* Upper bound of a claim's larger rendering (STU3 or R4). */
static apr_size_t claim_cost(const dpc_synth *g, const synth_claim *c)
{
    apr_size_t worst = 0, n;
    int v;

    for (v = 0; v < 2; v++) {
        const apr_size_t *k = g->cost[c->type][v];

        n = k[COST_BASE] + c->n_items * k[COST_ITEM] + c->n_dx * k[COST_DX]
            + c->n_proc * k[COST_PROC];
        if (n > worst)
            worst = n;
    }
    return worst;
}

/* Draw the counts, then trim lines first (the biggest part), then extra
 * diagnoses, then procedures, until the body fits DPC_SYNTH_MAX_BODY. */
static void plan_counts(const dpc_synth *g, synth_claim *c, synth_rng *r)
{
    const claim_shape *s = &shapes[c->type];
    /* The smaller of two draws: most claims have few lines. */
    int a = rng_range(r, 1, s->items_max), b2 = rng_range(r, 1, s->items_max);

    c->n_items = a < b2 ? a : b2;
    c->n_dx = rng_range(r, 0, s->dx_max);
    c->n_proc = rng_range(r, s->proc_min, s->proc_max);
    while (claim_cost(g, c) > DPC_SYNTH_MAX_BODY) {
        if (c->n_items > 1)
            c->n_items--;
        else if (c->n_dx > 0)
            c->n_dx--;
        else if (c->n_proc > s->proc_min)
            c->n_proc--;
        else
            break;
    }
}

static int64_t claim_updated(int32_t thru, synth_rng *r)
{
    int64_t ms = (int64_t)(thru + rng_range(r, 14, 120)) * MS_PER_DAY
                 + (int64_t)below(rng_next(r), (uint32_t)MS_PER_DAY);

    /* Older claims were loaded when the store started: BFD's marker date */
    if (ms > (int64_t)(LAST_UPDATE_DAY + 1) * MS_PER_DAY - 1)
        ms = (int64_t)LAST_UPDATE_DAY * MS_PER_DAY;
    return bfd_loaded(ms);
}

static void plan_claim(const dpc_synth *g, const synth_bene *b, int k,
                       synth_claim *c, synth_rng *r)
{
    const claim_shape *s;

    c->type = pick_claim_type(r);
    s = &shapes[c->type];
    c->key = hash3(b->key, 3, (uint64_t)k);
    c->claim_id = b->bene_num * 1000 + (uint64_t)k + 1;
    c->from = rng_range(r, FIRST_SERVICE_DAY, LAST_SERVICE_DAY);
    c->thru = c->from + rng_range(r, s->los_min, s->los_max);
    c->updated_ms = claim_updated(c->thru, r);
    c->factor = rng_range(r, 350, 2850);
    plan_counts(g, c, r);
}

/* About 5% have no claims; the rest 1 + three uniform draws (mean ~86), a
 * bell-shaped spread without floating point. */
static int plan_claim_count(synth_rng *r)
{
    if (rng_range(r, 0, 99) < 5)
        return 0;
    return 1 + rng_range(r, 0, 59) + rng_range(r, 0, 59) + rng_range(r, 0, 49);
}

static void plan_bene(dpc_synth *g, uint64_t seed, uint64_t index)
{
    synth_bene *b = &g->bene;
    synth_rng r;
    int k, i;

    plan_identity(b, seed, index);
    r.s = b->key;
    plan_person(g, b, &r);
    plan_coverage(b, &r);
    b->n_claims = plan_claim_count(&r);
    b->updated_max = b->patient_ms;
    for (i = 0; i < 4; i++) {
        if ((i != 2 || b->has_part_c) && b->coverage_ms[i] > b->updated_max)
            b->updated_max = b->coverage_ms[i];
    }
    for (k = 0; k < b->n_claims; k++) {
        plan_claim(g, b, k, &g->claims[k], &r);
        if (g->claims[k].updated_ms > b->updated_max)
            b->updated_max = g->claims[k].updated_ms;
    }
}

/* ---- rendering: slot values -------------------------------------------- */

typedef struct render_ctx {
    dpc_synth *g;
    const synth_bene *b;
    const synth_claim *c;       /* NULL outside claims */
    int part;                   /* coverage part index */
    const char *updated;        /* the resource's lastUpdated text */
} render_ctx;

static void put_str(dpc_sbuf *out, const char *s)
{
    dpc_sbuf_append(out, s, strlen(s));
}

static int year_of_ms(int64_t ms)
{
    int y, m, d;

    civil_date((int32_t)(ms / MS_PER_DAY), &y, &m, &d);
    return y;
}

/* Parts A and B start the month of the 65th birthday; D no earlier than
 * 2006, when Part D began; coverage runs to the end of the year it was last
 * updated in. */
static int32_t coverage_start(const synth_bene *b, int part)
{
    int y, m, d;
    int32_t start;

    civil_date(b->birth, &y, &m, &d);
    start = day_number(y + 65, m, 1);
    if (part == 3 && start < day_number(2006, 1, 1))
        start = day_number(2006, 1, 1);
    return start;
}

static void slot_person(const render_ctx *x, int var, dpc_sbuf *out)
{
    const synth_bene *b = x->b;
    const code_list *given = b->female ? &x->g->female : &x->g->male;

    switch (var) {
    case V_family:
        dpc_sbuf_append(out, x->g->family.e[b->family].code,
                        x->g->family.e[b->family].code_len);
        break;
    case V_given:
        dpc_sbuf_append(out, given->e[b->given].code, given->e[b->given].code_len);
        break;
    case V_initial:
        dpc_sbuf_putc(out, "ABCDEFGHJKLMNPRSTUVW"[b->initial]);
        break;
    case V_gender:
        put_str(out, b->female ? "female" : "male");
        break;
    case V_sex_code:        /* SNOMED CT: female / male */
        put_str(out, b->female ? "248152002" : "248153007");
        break;
    case V_state:
        dpc_sbuf_append(out, x->g->states.e[b->state].code,
                        x->g->states.e[b->state].code_len);
        break;
    default:                /* V_zip */
        dpc_sbuf_append(out, x->g->states.e[b->state].display, 3);
        dpc_sbuf_put_padded(out, (uint64_t)b->zip2, 2);
        break;
    }
}

static void slot_bene(const render_ctx *x, int var, const int *pos, dpc_sbuf *out)
{
    const synth_bene *b = x->b;

    switch (var) {
    case V_last_updated:
    case V_created:
        put_str(out, x->updated);
        break;
    case V_bene_id:
        put_str(out, b->bene_id);
        break;
    case V_mbi:
        put_str(out, b->mbi);
        break;
    case V_mbi_hash:
        put_str(out, b->mbi_hash);
        break;
    case V_mbi_start:
        put_date(out, b->mbi_start);
        break;
    case V_mbi_hist:
        put_str(out, b->hist[pos[S_mbi_hist] & 1]);
        break;
    case V_birth_date:
        put_date(out, b->birth);
        break;
    case V_death_date:
        put_date(out, b->death);
        break;
    case V_ref_year:
        dpc_sbuf_put_u64(out, (uint64_t)year_of_ms(b->patient_ms));
        break;
    case V_cov_start:
        put_date(out, coverage_start(b, x->part));
        break;
    case V_cov_end:
        put_date(out, day_number(year_of_ms(b->coverage_ms[x->part]), 12, 31));
        break;
    default:
        slot_person(x, var, out);
        break;
    }
}

static const code_entry *pick(const code_list *l, uint64_t bits)
{
    return &l->e[below(bits, (uint32_t)l->n)];
}

/* Diagnosis i of a claim: consecutive entries from a random start, so the
 * diagnoses of one claim are distinct. */
static const code_entry *claim_dx(const render_ctx *x, int64_t i)
{
    const code_list *l = &x->g->dx;

    return &l->e[(below(hash3(x->c->key, 10, 0), (uint32_t)l->n) + i) % l->n];
}

static const code_entry *claim_proc(const render_ctx *x, int64_t i)
{
    const code_list *l = &x->g->pcs;

    return &l->e[(below(hash3(x->c->key, 11, 0), (uint32_t)l->n) + i) % l->n];
}

/* Part D events draw from the beneficiary's few regular drugs. */
static const code_entry *claim_ndc(const render_ctx *x, int line)
{
    uint64_t h = hash3(x->c->key, 12, (uint64_t)line);

    if (x->c->type == CT_PDE)
        return &x->g->ndc.e[x->b->drugs[below(h, (uint32_t)x->b->n_drugs)]];
    return pick(&x->g->ndc, h);
}

static void put_code(dpc_sbuf *out, const code_entry *e, int display)
{
    if (display)
        dpc_sbuf_append(out, e->display, e->display_len);
    else
        dpc_sbuf_append(out, e->code, e->code_len);
}

static void put_npi(const render_ctx *x, int64_t role, dpc_sbuf *out)
{
    char npi[DPC_NPI_LEN + 1];
    uint64_t provider = below(hash3(x->c->key, 13, (uint64_t)role), NPI_POOL);

    dpc_npi_make(mix64(x->b->seed_key ^ (provider + 1)), npi);
    dpc_sbuf_append(out, npi, DPC_NPI_LEN);
}

/* Sample amount (hundredths) scaled by the claim's or the line's factor. */
static void put_amount(const render_ctx *x, int64_t sample, int line,
                       dpc_sbuf *out)
{
    int64_t factor = line < 0 ? (int64_t)x->c->factor
                     : (int64_t)(350 + below(hash3(x->c->key, 14, (uint64_t)line), 2501));

    dpc_sbuf_put_cents(out, sample * factor / 1000);
}

/* i: the entry's index before pos (the slot's argument, in units). */
static void slot_codes(const render_ctx *x, int var, int64_t i,
                       const int *pos, dpc_sbuf *out)
{
    const synth_claim *c = x->c;

    switch (var) {
    case V_dx_code:
    case V_dx_display:
        put_code(out, claim_dx(x, i + pos[S_dx]), var == V_dx_display);
        break;
    case V_proc_code:
    case V_proc_display:
        put_code(out, claim_proc(x, i + pos[S_proc]), var == V_proc_display);
        break;
    case V_hcpcs:
        put_code(out, pick(c->type == CT_DME ? &x->g->hcpcs_dme : &x->g->hcpcs,
                           hash3(c->key, 15, (uint64_t)pos[S_item])), 0);
        break;
    default:                /* V_ndc_code, V_ndc_display */
        put_code(out, claim_ndc(x, pos[S_item]), var == V_ndc_display);
        break;
    }
}

static void slot_claim(const render_ctx *x, int var, int64_t arg,
                       const int *pos, dpc_sbuf *out)
{
    const synth_claim *c = x->c;

    switch (var) {
    case V_claim_id:
        dpc_sbuf_put_u64(out, c->claim_id);
        break;
    case V_from_date:
        put_date(out, c->from + (int32_t)(arg / 100));
        break;
    case V_thru_date:
        put_date(out, c->thru + (int32_t)(arg / 100));
        break;
    case V_proc_date:
        put_date(out, c->from + (int32_t)below(hash3(c->key, 16, (uint64_t)pos[S_proc]),
                                               (uint32_t)(c->thru - c->from + 1)));
        break;
    case V_npi:
        put_npi(x, arg / 100, out);
        break;
    case V_amt:
        put_amount(x, arg, -1, out);
        break;
    case V_line_amt:
        put_amount(x, arg, pos[S_item], out);
        break;
    case V_dx_seq:
        dpc_sbuf_put_u64(out, (uint64_t)(arg / 100 + pos[S_dx]));
        break;
    case V_proc_seq:
        dpc_sbuf_put_u64(out, (uint64_t)(arg / 100 + pos[S_proc]));
        break;
    case V_item_seq:
        dpc_sbuf_put_u64(out, (uint64_t)(arg / 100 + pos[S_item]));
        break;
    case V_item_dx_seq:     /* one of the principal + extra diagnoses */
        dpc_sbuf_put_u64(out, 1 + below(hash3(c->key, 17, (uint64_t)pos[S_item]),
                                        (uint32_t)(1 + c->n_dx)));
        break;
    default:
        slot_codes(x, var, arg / 100, pos, out);
        break;
    }
}

static void synth_slot(void *ctx, int var, int64_t arg, const int *pos,
                       dpc_sbuf *out)
{
    const render_ctx *x = ctx;

    if (var < V_claim_id)
        slot_bene(x, var, pos, out);
    else if (x->c)
        slot_claim(x, var, arg, pos, out);
    /* a claim variable outside a claim renders empty (rejected at create) */
}

static int synth_count(void *ctx, int sec, int64_t arg, const int *pos)
{
    const render_ctx *x = ctx;

    (void)arg;
    (void)pos;
    switch (sec) {
    case S_item:
        return x->c ? x->c->n_items : 0;
    case S_dx:
        return x->c ? x->c->n_dx : 0;
    case S_proc:
        return x->c ? x->c->n_proc : 0;
    case S_mbi_hist:
        return x->b->n_hist;
    default:                /* S_deceased */
        return x->b->death != 0;
    }
}

/* ---- rendering: rows --------------------------------------------------- */

typedef struct row_out {
    dpc_synth_sink_fn *sink;
    void *sink_ctx;
    dpc_synth_row row;
} row_out;

static int emit(dpc_synth *g, const dpc_tpl *t, render_ctx *x, int version,
                int64_t updated_ms, row_out *o)
{
    char updated[32];

    format_instant(updated_ms, updated);
    x->updated = updated;
    g->body.len = 0;
    if (dpc_tpl_render(t, synth_slot, synth_count, x, &g->body)) {
        dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, APR_ENOMEM,
                       DPCLOGNO(09004) "synth: rendering %s", dpc_tpl_name(t));
        return -1;
    }
    o->row.fhir_version = version;
    o->row.last_updated = updated;
    o->row.last_updated_us = updated_ms * 1000;
    o->row.body = g->body.data;
    o->row.body_len = g->body.len;
    return o->sink(o->sink_ctx, &o->row);
}

static int emit_patient(dpc_synth *g, render_ctx *x, row_out *o)
{
    int v, rc = 0;

    o->row.resource_type = "Patient";
    o->row.resource_id = x->b->bene_id;
    o->row.claim_type = NULL;
    for (v = 0; v < 2 && !rc; v++)
        rc = emit(g, g->tpl[v].patient, x, 3 + v, x->b->patient_ms, o);
    return rc;
}

static int emit_coverage(dpc_synth *g, render_ctx *x, row_out *o)
{
    char id[48];
    int part, v, rc = 0;

    o->row.resource_type = "Coverage";
    o->row.resource_id = id;
    o->row.claim_type = NULL;
    o->row.coverage_status = "active";      /* as the templates say */
    for (part = 0; part < 4 && !rc; part++) {
        if (part == 2 && !x->b->has_part_c)
            continue;
        apr_snprintf(id, sizeof(id), "part-%c-%s", coverage_parts[part], x->b->bene_id);
        x->part = part;
        for (v = 0; v < 2 && !rc; v++)
            rc = emit(g, g->tpl[v].coverage[part], x, 3 + v, x->b->coverage_ms[part], o);
    }
    return rc;
}

/* "YYYY-MM-DD" of a day number into out[11]. */
static void format_day(int32_t day, char out[11])
{
    dpc_sbuf b = { out, 0, 11, 0 };

    put_date(&b, day);
    out[10] = '\0';
}

static int emit_claims(dpc_synth *g, render_ctx *x, row_out *o)
{
    char id[48], start[11], end[11];
    int k, v, rc = 0;

    o->row.resource_type = "ExplanationOfBenefit";
    o->row.resource_id = id;
    o->row.coverage_status = NULL;
    o->row.service_start = start;
    o->row.service_end = end;
    for (k = 0; k < x->b->n_claims && !rc; k++) {
        const synth_claim *c = &g->claims[k];

        x->c = c;
        o->row.claim_type = shapes[c->type].name;
        format_day(c->from, start);
        format_day(shapes[c->type].period_thru ? c->thru : c->from, end);
        apr_snprintf(id, sizeof(id), "%s-%" APR_UINT64_T_FMT,
                     shapes[c->type].name, (apr_uint64_t)c->claim_id);
        for (v = 0; v < 2 && !rc; v++)
            rc = emit(g, g->tpl[v].eob[c->type], x, 3 + v, c->updated_ms, o);
    }
    x->c = NULL;
    return rc;
}

static int check_index(uint64_t index)
{
    if (index < DPC_SYNTH_MAX_INDEX)
        return 0;
    dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, APR_EINVAL,
                   DPCLOGNO(09005) "synth: beneficiary index %" APR_UINT64_T_FMT
                   " is too large", (apr_uint64_t)index);
    return -1;
}

int dpc_synth_beneficiary(dpc_synth *g, uint64_t seed, uint64_t index,
                          dpc_synth_sink_fn *sink, void *ctx)
{
    render_ctx x;
    row_out o;
    int rc;

    if (check_index(index))
        return -1;
    plan_bene(g, seed, index);
    sha256_hex(g->bene.mbi, g->bene.mbi_hash);
    memset(&x, 0, sizeof(x));
    x.g = g;
    x.b = &g->bene;
    memset(&o, 0, sizeof(o));
    o.sink = sink;
    o.sink_ctx = ctx;
    o.row.mbi = g->bene.mbi;
    o.row.bene_id = g->bene.bene_id;
    rc = emit_patient(g, &x, &o);
    if (!rc)
        rc = emit_coverage(g, &x, &o);
    if (!rc)
        rc = emit_claims(g, &x, &o);
    return rc;
}

apr_status_t dpc_synth_bene_info(dpc_synth *g, uint64_t seed, uint64_t index,
                                 dpc_synth_bene *out)
{
    const synth_bene *b = &g->bene;

    if (check_index(index))
        return APR_EINVAL;
    plan_bene(g, seed, index);
    memcpy(out->mbi, b->mbi, sizeof(out->mbi));
    apr_cpystrn(out->bene_id, b->bene_id, sizeof(out->bene_id));
    format_instant(b->updated_max, out->last_updated);
    out->last_updated_us = b->updated_max * 1000;
    out->claims = b->n_claims;
    out->resources = 2 * (1 + 3 + b->has_part_c + b->n_claims);
    return APR_SUCCESS;
}

/* ---- setup ------------------------------------------------------------- */

/* Upper bound of a slot's width, for the size budget. */
static apr_size_t synth_width(void *ctx, int var, int64_t arg)
{
    const dpc_synth *g = ctx;

    switch (var) {
    case V_amt:
    case V_line_amt: {      /* the sample amount at the largest factor */
        char tmp[32];
        dpc_sbuf b = { tmp, 0, sizeof(tmp), 0 };

        dpc_sbuf_put_cents(&b, (arg < 0 ? -arg : arg) * 2850 / 1000);
        return b.len + (arg < 0);
    }
    case V_dx_code:
        return g->dx.max_code;
    case V_dx_display:
        return g->dx.max_display;
    case V_proc_code:
        return g->pcs.max_code;
    case V_proc_display:
        return g->pcs.max_display;
    case V_ndc_display:
        return g->ndc.max_display;
    case V_last_updated:
    case V_created:
        return 29;
    case V_mbi_hash:
        return 64;
    case V_family:
        return g->family.max_code;
    case V_given:
        return g->female.max_code > g->male.max_code ? g->female.max_code
                                                     : g->male.max_code;
    case V_claim_id:
    case V_bene_id:
        return 20;
    default:                /* dates, NPIs, MBIs, HCPCS, NDCs, numbers */
        return 11;
    }
}

static apr_status_t load_template(dpc_synth *g, const char *version,
                                  const char *what, dpc_tpl **out)
{
    const char *name = apr_psprintf(g->pool, "%s-%s.json", version, what);
    const dpc_embedded_file *f = synth_file(name);

    if (!f)
        return APR_ENOENT;
    return dpc_tpl_compile(g->pool, name, f->data, f->len, &synth_vocab, out);
}

static apr_status_t load_version(dpc_synth *g, int v)
{
    const char *version = v ? "r4" : "stu3";
    synth_tpls *t = &g->tpl[v];
    apr_status_t rv;
    int i;

    rv = load_template(g, version, "patient", &t->patient);
    for (i = 0; i < 4 && rv == APR_SUCCESS; i++)
        rv = load_template(g, version, apr_psprintf(g->pool, "coverage-part-%c",
                                                    coverage_parts[i]),
                           &t->coverage[i]);
    for (i = 0; i < DPC_SYNTH_CLAIM_TYPES && rv == APR_SUCCESS; i++)
        rv = load_template(g, version, apr_psprintf(g->pool, "eob-%s", shapes[i].name),
                           &t->eob[i]);
    return rv;
}

static apr_status_t load_codes(dpc_synth *g)
{
    apr_pool_t *p = g->pool;
    apr_status_t rv = code_load(p, "icd10cm.tsv", &g->dx);

    if (rv == APR_SUCCESS)
        rv = code_load(p, "icd10pcs.tsv", &g->pcs);
    if (rv == APR_SUCCESS)
        rv = code_load(p, "hcpcs.tsv", &g->hcpcs);
    if (rv == APR_SUCCESS)
        rv = code_load(p, "hcpcs-dme.tsv", &g->hcpcs_dme);
    if (rv == APR_SUCCESS)
        rv = code_load(p, "ndc.tsv", &g->ndc);
    if (rv == APR_SUCCESS)
        rv = code_load(p, "names-family.txt", &g->family);
    if (rv == APR_SUCCESS)
        rv = code_load(p, "names-female.txt", &g->female);
    if (rv == APR_SUCCESS)
        rv = code_load(p, "names-male.txt", &g->male);
    if (rv == APR_SUCCESS)
        rv = code_load(p, "states.tsv", &g->states);
    return rv;
}

/* Claim variables only make sense in claim templates; and a joined
 * procedure list must never render empty. */
static apr_status_t check_templates(const dpc_synth *g)
{
    int v, i, var;

    for (v = 0; v < 2; v++) {
        for (i = 0; i < 5; i++) {
            const dpc_tpl *t = i ? g->tpl[v].coverage[i - 1] : g->tpl[v].patient;

            for (var = V_claim_id; var < V_COUNT; var++) {
                if (dpc_tpl_uses_var(t, var))
                    goto bad;
            }
        }
        for (i = 0; i < DPC_SYNTH_CLAIM_TYPES; i++) {
            if (dpc_tpl_uses_section(g->tpl[v].eob[i], S_proc) && shapes[i].proc_min < 1)
                goto bad;
        }
    }
    return APR_SUCCESS;
bad:
    dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, APR_EINVAL,
                   DPCLOGNO(09006) "synth: a template uses a claim variable outside "
                   "a claim, or a procedure list that may be empty");
    return APR_EINVAL;
}

static void compute_costs(dpc_synth *g)
{
    apr_size_t per[DPC_TPL_MAX_SECTIONS];
    int t, v;

    for (t = 0; t < DPC_SYNTH_CLAIM_TYPES; t++) {
        for (v = 0; v < 2; v++) {
            apr_size_t *k = g->cost[t][v];

            dpc_tpl_cost(g->tpl[v].eob[t], synth_width, g, &k[COST_BASE], per);
            k[COST_ITEM] = per[S_item];
            k[COST_DX] = per[S_dx];
            k[COST_PROC] = per[S_proc];
        }
    }
}

static apr_status_t synth_cleanup(void *data)
{
    dpc_synth *g = data;

    dpc_sbuf_free(&g->body);
    return APR_SUCCESS;
}

apr_status_t dpc_synth_create(apr_pool_t *p, dpc_synth **out)
{
    dpc_synth *g = apr_pcalloc(p, sizeof(*g));
    apr_status_t rv;

    g->pool = p;
    apr_pool_cleanup_register(p, g, synth_cleanup, apr_pool_cleanup_null);
    rv = load_codes(g);
    if (rv == APR_SUCCESS)
        rv = load_version(g, 0);
    if (rv == APR_SUCCESS)
        rv = load_version(g, 1);
    if (rv == APR_SUCCESS)
        rv = check_templates(g);
    if (rv != APR_SUCCESS)
        return rv;
    compute_costs(g);
    *out = g;
    return dpc_sbuf_grow(&g->body, 64 * 1024) ? APR_ENOMEM : APR_SUCCESS;
}
