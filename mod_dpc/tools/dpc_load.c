/* dpc_load.c: see dpc_load.h. */
#include "dpc_load.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <apr_strings.h>

#include "dpc_fhir.h"
#include "dpc_mbi.h"

int dpc_load_id_valid(const char *s)
{
    size_t n = 0;

    for (; s && *s; s++, n++) {
        char c = *s;

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '-' || c == '.'))
            return 0;
    }
    return n >= 1 && n <= 64;
}

static const char *str_at(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

const char *dpc_load_claim_type(const char *code)
{
    static const char *const types[] = { "carrier", "dme", "hha", "hospice", "inpatient",
                                         "outpatient", "pde", "snf", NULL };
    int i;

    for (i = 0; code && types[i]; i++)
        if (!strcasecmp(code, types[i]))
            return types[i];
    return NULL;
}

const char *dpc_load_day(apr_pool_t *p, const char *s)
{
    int i, y, m, d, mdays;

    if (!s || strlen(s) < 10 || (s[10] && s[10] != 'T') || s[4] != '-' || s[7] != '-')
        return NULL;
    for (i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return NULL;
    y = atoi(s);
    m = atoi(s + 5);
    d = atoi(s + 8);
    mdays = m == 2 ? 28 + (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
            : 30 + (m != 4 && m != 6 && m != 9 && m != 11);
    if (m < 1 || m > 12 || d < 1 || d > mdays)
        return NULL;
    return apr_pstrmemdup(p, s, 10);
}

/* The filter columns of a good resource (see dpc_load_res). */
static void fill_columns(apr_pool_t *p, const json_t *r, dpc_load_res *out)
{
    const json_t *period = json_object_get(r, "billablePeriod"), *coding;
    size_t i;

    if (!strcmp(out->type, "Coverage")) {
        out->coverage_status = str_at(r, "status");
        return;
    }
    if (strcmp(out->type, "ExplanationOfBenefit"))
        return;
    json_array_foreach(json_object_get(json_object_get(r, "type"), "coding"), i, coding) {
        const char *sys = str_at(coding, "system");

        if (!out->claim_type && sys && !strcmp(sys, DPC_LOAD_EOB_TYPE_SYSTEM))
            out->claim_type = dpc_load_claim_type(str_at(coding, "code"));
    }
    out->service_start = dpc_load_day(p, str_at(period, "start"));
    out->service_end = dpc_load_day(p, str_at(period, "end"));
}

/* The identifier-currency code among an extension array, or NULL. */
static const char *currency_in(const json_t *exts)
{
    size_t i;
    json_t *e;

    json_array_foreach(exts, i, e) {
        const char *url = str_at(e, "url");

        if (url && !strcmp(url, DPC_LOAD_CURRENCY_URL))
            return str_at(json_object_get(e, "valueCoding"), "code");
    }
    return NULL;
}

/* "current", "historic", ... or NULL when the identifier has no mark: on
 * the identifier (STU3) or on a coding of its type (R4). */
static const char *currency(const json_t *ident)
{
    const char *c = currency_in(json_object_get(ident, "extension"));
    json_t *coding;
    size_t i;

    json_array_foreach(json_object_get(json_object_get(ident, "type"), "coding"), i, coding) {
        if (!c)
            c = currency_in(json_object_get(coding, "extension"));
    }
    return c;
}

int dpc_load_mbi_valid(const char *s)
{
    return dpc_mbi_valid(s) || dpc_mbi_synthetic(s);
}

const char *dpc_load_patient_mbi(const json_t *patient, const char **invalid)
{
    const char *current = NULL, *unmarked = NULL, *v;
    json_t *ident;
    size_t i;

    json_array_foreach(json_object_get(patient, "identifier"), i, ident) {
        const char *sys = str_at(ident, "system"), *cur;

        if (!sys || strcmp(sys, DPC_LOAD_MBI_SYSTEM) || !(v = str_at(ident, "value")))
            continue;
        cur = currency(ident);
        if (cur && !strcmp(cur, "current") && !current)
            current = v;
        else if (!cur && !unmarked)
            unmarked = v;
    }
    v = current ? current : unmarked;
    *invalid = v && !dpc_load_mbi_valid(v) ? v : NULL;
    return v && !*invalid ? v : NULL;
}

static int patient_version(const json_t *r)
{
    json_t *ident;
    size_t i;

    json_array_foreach(json_object_get(r, "identifier"), i, ident) {
        if (json_object_get(ident, "type"))
            return 4;
    }
    return json_array_size(json_object_get(r, "identifier")) ? 3 : 0;
}

int dpc_load_version(const json_t *r)
{
    const char *type = str_at(r, "resourceType");
    json_t *v;

    if (!type)
        return 0;
    if (!strcmp(type, "ExplanationOfBenefit")) {
        v = json_object_get(r, "insurance");
        return json_is_array(v) ? 4 : json_is_object(v) ? 3 : 0;
    }
    if (!strcmp(type, "Coverage"))
        return json_object_get(r, "class") ? 4 : json_object_get(r, "grouping") ? 3 : 0;
    if (!strcmp(type, "Patient"))
        return patient_version(r);
    return 0;
}

/* The bene id of a "Patient/<id>" reference at r.key.reference, or NULL
 * with *why set. */
static const char *patient_ref(apr_pool_t *p, const json_t *r, const char *key,
                               const char **why)
{
    const char *ref = str_at(json_object_get(r, key), "reference");

    if (!ref) {
        *why = apr_psprintf(p, "no %s.reference to its Patient", key);
        return NULL;
    }
    if (strncmp(ref, "Patient/", 8) || !dpc_load_id_valid(ref + 8)) {
        *why = apr_psprintf(p, "%s.reference \"%s\" is not Patient/<id>", key,
                            dpc_utf8_clean(p, ref));
        return NULL;
    }
    return ref + 8;
}

static const char *check_updated(apr_pool_t *p, const json_t *r, dpc_load_res *out)
{
    const char *lu = str_at(json_object_get(r, "meta"), "lastUpdated"), *why;
    apr_time_t t;

    if (!lu)
        return "no meta.lastUpdated";
    if (!strcmp(lu, DPC_LOAD_PLACEHOLDER)) {
        out->placeholder = 1;
        return NULL;
    }
    if (dpc_instant_parse(lu, &t, &why))
        return apr_psprintf(p, "meta.lastUpdated \"%s\" is not a FHIR instant: %s",
                            dpc_utf8_clean(p, lu), why);
    out->last_updated_us = t;
    return NULL;
}

static const char *check_type(apr_pool_t *p, const json_t *r, dpc_load_res *out)
{
    const char *type = str_at(r, "resourceType");

    if (!type)
        return "no resourceType";
    if (strcmp(type, "Patient") && strcmp(type, "Coverage")
        && strcmp(type, "ExplanationOfBenefit"))
        return apr_psprintf(p, "resourceType \"%s\" is not Patient, Coverage or "
                            "ExplanationOfBenefit", dpc_utf8_clean(p, type));
    out->type = type;
    out->id = str_at(r, "id");
    if (!out->id)
        return "no id";
    if (!dpc_load_id_valid(out->id))
        return apr_psprintf(p, "id \"%s\" is not a FHIR id", dpc_utf8_clean(p, out->id));
    return NULL;
}

static const char *check_bene(apr_pool_t *p, const json_t *r, dpc_load_res *out)
{
    const char *why = NULL;

    if (!strcmp(out->type, "Patient")) {
        out->bene_id = out->id;
        out->mbi = dpc_load_patient_mbi(r, &out->mbi_invalid);
        return NULL;
    }
    out->bene_id = patient_ref(p, r, !strcmp(out->type, "Coverage") ? "beneficiary"
                               : "patient", &why);
    return why;
}

const char *dpc_load_check(apr_pool_t *p, const json_t *r, int version,
                           dpc_load_res *out)
{
    const char *why;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(r))
        return "not a JSON object";
    if ((why = check_type(p, r, out)) || (why = check_updated(p, r, out))
        || (why = check_bene(p, r, out)))
        return why;
    out->fhir_version = version ? version : dpc_load_version(r);
    if (!out->fhir_version)
        return apr_psprintf(p, "cannot tell STU3 from R4 by its shape (pass --fhir)");
    fill_columns(p, r, out);
    return NULL;
}

/* ---- the fast path ------------------------------------------------------- */

/* Nesting deeper than this goes to jansson (its own limit is 2048). */
#define SCAN_MAX_DEPTH 512

typedef struct scan {
    const char *s, *end;
    int depth;
} scan;

/* The text of a value, when it is one of the keys asked for. */
typedef struct span {
    const char *s;
    apr_size_t n;
} span;

static int scan_value(scan *c, const char *const *want, span *got);

static void scan_ws(scan *c)
{
    while (c->s < c->end && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r'))
        c->s++;
}

static int hex4(const char *s, const char *end, unsigned *v)
{
    int i;

    *v = 0;
    if (end - s < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        char h = s[i];

        *v = *v << 4 | (unsigned)(h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f'
                                  ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 0x10000);
        if (*v & ~0xffffu)
            return -1;
    }
    return 0;
}

/* After a backslash: one escape; surrogates in pairs, no U+0000. */
static int scan_escape(scan *c)
{
    unsigned v, low;

    if (c->end - c->s < 2)
        return -1;
    if (strchr("\"\\/bfnrt", c->s[1]) && c->s[1]) {
        c->s += 2;
        return 0;
    }
    if (c->s[1] != 'u' || hex4(c->s + 2, c->end, &v) || v == 0 || (v >= 0xdc00 && v <= 0xdfff))
        return -1;
    c->s += 6;
    if (v < 0xd800 || v > 0xdbff)
        return 0;
    if (c->end - c->s < 6 || c->s[0] != '\\' || c->s[1] != 'u'
        || hex4(c->s + 2, c->end, &low) || low < 0xdc00 || low > 0xdfff)
        return -1;
    c->s += 6;
    return 0;
}

/* The length of the well-formed UTF-8 sequence at s (below end), or 0. */
static int utf8_len(const unsigned char *s, const unsigned char *end)
{
    unsigned cp;
    int n, i;

    n = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
        : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
    if (!n || end - s < n)
        return 0;
    cp = s[0] & (0x7f >> n);
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
        || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* The bytes of v that need a look (a quote, a backslash, a control
 * character, a byte of a multi-byte UTF-8 sequence), as a mask of their
 * high bits.  A borrow of the subtractions can mark a byte only above one
 * that matches, so the lowest marked byte is the first such byte. */
static uint64_t word_special(uint64_t v)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = ones << 7;
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');

    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v) | v) & highs;
}

/* How many plain ASCII bytes (none that word_special() marks) s..end
 * starts with; sixteen at a time with SSE2, else eight at a time where the
 * byte order allows. */
static apr_size_t plain_run(const char *s, const char *end)
{
    const char *from = s;

#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(' ');

    for (; end - s >= 16; s += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
        /* signed: below a space is a control character or a byte >= 0x80 */
        int m = _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                            _mm_cmpeq_epi8(v, bslash)),
                                               _mm_cmplt_epi8(v, space)));

        if (m)
            return (apr_size_t)(s - from) + (apr_size_t)__builtin_ctz((unsigned)m);
    }
#endif
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; end - s >= 8; s += 8) {
        uint64_t w, m;

        memcpy(&w, s, 8);
        if ((m = word_special(w)) != 0)
            return (apr_size_t)(s - from) + (apr_size_t)(__builtin_ctzll(m) >> 3);
    }
#endif
    while (s < end && (unsigned char)*s >= 0x20 && (unsigned char)*s < 0x80 && *s != '"'
           && *s != '\\')
        s++;
    return (apr_size_t)(s - from);
}

static int scan_string(scan *c)
{
    for (c->s++; c->s < c->end;) {
        unsigned char ch;
        int n;

        c->s += plain_run(c->s, c->end);
        if (c->s >= c->end)
            break;
        ch = (unsigned char)*c->s;

        if (ch == '"') {
            c->s++;
            return 0;
        }
        if (ch < 0x20 || (ch == '\\' && scan_escape(c)))
            return -1;
        if (ch == '\\')
            continue;
        n = ch < 0x80 ? 1 : utf8_len((const unsigned char *)c->s, (const unsigned char *)c->end);
        if (!n)
            return -1;
        c->s += n;
    }
    return -1;
}

/* Digits from s; their count. */
static int digits(scan *c)
{
    const char *from = c->s;

    while (c->s < c->end && *c->s >= '0' && *c->s <= '9')
        c->s++;
    return (int)(c->s - from);
}

static int scan_number(scan *c)
{
    int n;

    if (c->s < c->end && *c->s == '-')
        c->s++;
    if (c->s < c->end && *c->s == '0')
        c->s++;
    else if ((n = digits(c)) < 1 || n > 18)
        return -1;
    if (c->s < c->end && *c->s == '.' && (c->s++, digits(c) < 1))
        return -1;
    if (c->s < c->end && (*c->s == 'e' || *c->s == 'E')) {
        c->s++;
        if (c->s < c->end && (*c->s == '+' || *c->s == '-'))
            c->s++;
        if ((n = digits(c)) < 1 || n > 2)
            return -1;
    }
    return 0;
}

static int scan_literal(scan *c, const char *word)
{
    apr_size_t n = strlen(word);

    if ((apr_size_t)(c->end - c->s) < n || memcmp(c->s, word, n))
        return -1;
    c->s += n;
    return 0;
}

/* Remember the value at from..c->s if key (kn bytes) is one of want. */
static void catch_key(const char *k, apr_size_t kn, const char *from, const scan *c,
                      const char *const *want, span *got)
{
    int i;

    for (i = 0; want && want[i]; i++) {
        if (strlen(want[i]) == kn && !memcmp(want[i], k, kn)) {
            got[i].s = from;
            got[i].n = (apr_size_t)(c->s - from);
        }
    }
}

static int scan_member(scan *c, const char *const *want, span *got)
{
    const char *k = c->s + 1, *from;
    apr_size_t kn;

    if (c->s >= c->end || *c->s != '"' || scan_string(c))
        return -1;
    kn = (apr_size_t)(c->s - 1 - k);
    /* a key spelled with escapes could be one we want: jansson decides */
    if (want && memchr(k, '\\', kn))
        return -1;
    scan_ws(c);
    if (c->s >= c->end || *c->s != ':')
        return -1;
    c->s++;
    scan_ws(c);
    from = c->s;
    if (scan_value(c, NULL, NULL))
        return -1;
    catch_key(k, kn, from, c, want, got);
    return 0;
}

/* An object or array; want (keys of this object) only for objects. */
static int scan_container(scan *c, const char *const *want, span *got)
{
    char close = *c->s == '{' ? '}' : ']';

    if (++c->depth > SCAN_MAX_DEPTH)
        return -1;
    c->s++;
    scan_ws(c);
    if (c->s < c->end && *c->s == close) {
        c->s++;
        c->depth--;
        return 0;
    }
    for (;;) {
        if (close == '}' ? scan_member(c, want, got) : scan_value(c, NULL, NULL))
            return -1;
        scan_ws(c);
        if (c->s < c->end && *c->s == ',') {
            c->s++;
            scan_ws(c);
            continue;
        }
        if (c->s >= c->end || *c->s != close)
            return -1;
        c->s++;
        c->depth--;
        return 0;
    }
}

static int scan_value(scan *c, const char *const *want, span *got)
{
    if (c->s >= c->end)
        return -1;
    switch (*c->s) {
    case '{':
    case '[':
        return scan_container(c, want, got);
    case '"':
        return scan_string(c);
    case 't':
        return scan_literal(c, "true");
    case 'f':
        return scan_literal(c, "false");
    case 'n':
        return scan_literal(c, "null");
    default:
        return scan_number(c);
    }
}

/* The members of object text s..s+n named in want (NULL-terminated) into
 * got (zeroed first); -1 unless it is exactly one JSON object. */
static int scan_object(const char *s, apr_size_t n, const char *const *want, span *got,
                       int nwant)
{
    scan c = { s, s + n, 0 };

    memset(got, 0, sizeof(*got) * nwant);
    scan_ws(&c);
    if (c.s >= c.end || *c.s != '{' || scan_value(&c, want, got))
        return -1;
    scan_ws(&c);
    return c.s == c.end ? 0 : -1;
}

/* The text of the string value v, without its quotes, in *s and *n: 1;
 * 0 when v is absent or no string; -1 when it has escapes (jansson
 * decides).  The fast path reads most strings this way, uncopied. */
static int plain_span(const span *v, const char **s, apr_size_t *n)
{
    if (!v->s || v->n < 2 || v->s[0] != '"')
        return 0;
    if (memchr(v->s, '\\', v->n))
        return -1;
    *s = v->s + 1;
    *n = v->n - 2;
    return 1;
}

/* Is the string value v, without escapes, word? */
static int span_is(const span *v, const char *word)
{
    const char *s;
    apr_size_t n;

    return plain_span(v, &s, &n) == 1 && n == strlen(word) && !memcmp(s, word, n);
}

/* The string value v, without escapes, copied; NULL otherwise. */
static const char *plain_string(apr_pool_t *p, const span *v)
{
    const char *s;
    apr_size_t n;

    return plain_span(v, &s, &n) == 1 ? apr_pstrmemdup(p, s, n) : NULL;
}

/* The string value v, without escapes, into buf (size bytes): buf, or NULL
 * when it is no such string or does not fit. */
static const char *span_into(const span *v, char *buf, apr_size_t size)
{
    const char *s;
    apr_size_t n;

    if (plain_span(v, &s, &n) != 1 || n >= size)
        return NULL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

/* The string member key of object v into buf (see span_into()), or NULL
 * (v absent or no object, no such member, escapes, too long). */
static const char *member_into(const span *v, const char *key, char *buf, apr_size_t size)
{
    const char *want[2] = { key, NULL };
    span got[1];

    if (!v->s || scan_object(v->s, v->n, want, got, 1))
        return NULL;
    return span_into(&got[0], buf, size);
}

/* The member key of object v (empty when v is absent or no object); -1
 * when v has a key spelled with escapes (jansson decides). */
static int member_span(const span *v, const char *key, span *out)
{
    const char *want[2] = { key, NULL };

    memset(out, 0, sizeof(*out));
    if (!v->s || v->s[0] != '{')
        return 0;
    return scan_object(v->s, v->n, want, out, 1);
}

/* The string v as str_at() would read it (NULL when absent or not a
 * string), copied; -1 when it has escapes (jansson decides). */
static int quick_str(apr_pool_t *p, const span *v, const char **out)
{
    *out = NULL;
    if (!v->s || v->s[0] != '"')
        return 0;
    *out = plain_string(p, v);
    return *out ? 0 : -1;
}

/* One coding of type.coding: its claim type when its system is BFD's
 * eob-type; -1 when jansson must decide. */
static int quick_coding(const span *coding, const char **type)
{
    span sys, code;
    const char *s;
    apr_size_t n;
    char buf[16];               /* longer than any of the eight codes */

    if (member_span(coding, "system", &sys) || member_span(coding, "code", &code)
        || plain_span(&sys, &s, &n) < 0 || plain_span(&code, &s, &n) < 0)
        return -1;
    if (span_is(&sys, DPC_LOAD_EOB_TYPE_SYSTEM))
        *type = dpc_load_claim_type(span_into(&code, buf, sizeof(buf)));
    return 0;
}

/* fill_columns()'s claim type from the text of an EOB's type. */
static int quick_claim_type(const span *type, const char **out)
{
    span coding, item;
    scan c;

    *out = NULL;
    if (member_span(type, "coding", &coding))
        return -1;
    if (!coding.s || coding.s[0] != '[')
        return 0;
    c.s = coding.s + 1;
    c.end = coding.s + coding.n - 1;
    c.depth = 0;
    for (scan_ws(&c); c.s < c.end && !*out;) {
        item.s = c.s;
        if (scan_value(&c, NULL, NULL))
            return -1;
        item.n = (apr_size_t)(c.s - item.s);
        if (quick_coding(&item, out))
            return -1;
        scan_ws(&c);
        if (c.s < c.end && *c.s == ',')
            c.s++;
        scan_ws(&c);
    }
    return 0;
}

enum { Q_TYPE, Q_ID, Q_META, Q_INSURANCE, Q_CLASS, Q_GROUPING, Q_BENEFICIARY, Q_PATIENT,
       Q_CTYPE, Q_PERIOD, Q_STATUS, Q_N };

/* fill_columns() from the text; 0, or -1 when jansson must decide. */
static int quick_columns(apr_pool_t *p, const span *top, int eob, dpc_load_res *out)
{
    span start, end;
    const char *s_start, *s_end;

    if (!eob)
        return quick_str(p, &top[Q_STATUS], &out->coverage_status);
    if (quick_claim_type(&top[Q_CTYPE], &out->claim_type)
        || member_span(&top[Q_PERIOD], "start", &start) || member_span(&top[Q_PERIOD], "end", &end)
        || quick_str(p, &start, &s_start) || quick_str(p, &end, &s_end))
        return -1;
    out->service_start = dpc_load_day(p, s_start);
    out->service_end = dpc_load_day(p, s_end);
    return 0;
}

static int quick_version(const span *top, int eob)
{
    if (eob)
        return !top[Q_INSURANCE].s ? 0 : top[Q_INSURANCE].s[0] == '[' ? 4
               : top[Q_INSURANCE].s[0] == '{' ? 3 : 0;
    return top[Q_CLASS].s ? 4 : top[Q_GROUPING].s ? 3 : 0;
}

int dpc_load_quick(apr_pool_t *p, const char *text, apr_size_t len, int version,
                   dpc_load_res *out)
{
    static const char *const want[Q_N + 1] = { "resourceType", "id", "meta", "insurance",
        "class", "grouping", "beneficiary", "patient", "type", "billablePeriod", "status",
        NULL };
    span top[Q_N];
    const char *lu, *ref;
    char lu_buf[64], ref_buf[80];   /* an instant; "Patient/" and a FHIR id */
    apr_time_t t;
    int eob;

    memset(out, 0, sizeof(*out));
    if (scan_object(text, len, want, top, Q_N))
        return 0;
    eob = span_is(&top[Q_TYPE], "ExplanationOfBenefit");
    if (!eob && !span_is(&top[Q_TYPE], "Coverage"))
        return 0;
    out->type = eob ? "ExplanationOfBenefit" : "Coverage";
    out->id = plain_string(p, &top[Q_ID]);
    lu = member_into(&top[Q_META], "lastUpdated", lu_buf, sizeof(lu_buf));
    ref = member_into(&top[eob ? Q_PATIENT : Q_BENEFICIARY], "reference", ref_buf,
                      sizeof(ref_buf));
    out->fhir_version = version ? version : quick_version(top, eob);
    if (!out->id || !dpc_load_id_valid(out->id) || !lu || !strcmp(lu, DPC_LOAD_PLACEHOLDER)
        || dpc_instant_parse(lu, &t, &lu) || !ref || strncmp(ref, "Patient/", 8)
        || !dpc_load_id_valid(ref + 8) || !out->fhir_version)
        return 0;
    if (quick_columns(p, top, eob, out))
        return 0;
    out->last_updated_us = t;
    out->bene_id = apr_pstrdup(p, ref + 8);
    return 1;
}
