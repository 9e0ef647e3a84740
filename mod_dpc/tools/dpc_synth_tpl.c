/* dpc_synth_tpl.c: see dpc_synth_tpl.h. */
#include "dpc_synth_tpl.h"

#include <stdlib.h>

#include <apr_strings.h>
#include <apr_tables.h>

#include "dpc_log.h"

#define TPL_MAX_DEPTH 8

enum { OP_LIT, OP_SLOT, OP_BEGIN, OP_END };

typedef struct tpl_op {
    uint8_t kind;
    uint8_t join;       /* BEGIN: join iterations with ',' */
    int16_t id;         /* SLOT: variable; BEGIN/END: section */
    uint32_t a;         /* LIT: offset in lits; BEGIN: its END; END: its BEGIN */
    uint32_t n;         /* LIT: length */
    int64_t arg;        /* SLOT/BEGIN: argument in hundredths */
} tpl_op;

struct dpc_tpl {
    const char *name;
    const char *lits;
    const tpl_op *ops;
    int nops;
};

/* ---- buffer ------------------------------------------------------------ */

int dpc_sbuf_grow(dpc_sbuf *b, apr_size_t n)
{
    apr_size_t cap = b->cap ? b->cap : 4096;
    char *data;

    if (b->failed)
        return -1;
    while (cap - b->len < n)
        cap *= 2;
    data = realloc(b->data, cap);
    if (!data) {
        b->failed = 1;
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

void dpc_sbuf_free(dpc_sbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void dpc_sbuf_put_u64(dpc_sbuf *b, uint64_t v)
{
    char tmp[20];
    int i = sizeof(tmp);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    dpc_sbuf_append(b, tmp + i, sizeof(tmp) - i);
}

void dpc_sbuf_put_cents(dpc_sbuf *b, int64_t v)
{
    uint64_t u;

    if (v < 0) {
        dpc_sbuf_putc(b, '-');
        u = (uint64_t)0 - (uint64_t)v;
    }
    else {
        u = (uint64_t)v;
    }
    dpc_sbuf_put_u64(b, u / 100);
    dpc_sbuf_putc(b, '.');
    dpc_sbuf_put_padded(b, u % 100, 2);
}

void dpc_sbuf_put_padded(dpc_sbuf *b, uint64_t v, int width)
{
    char tmp[20];
    int i;

    if (width > (int)sizeof(tmp))
        width = sizeof(tmp);
    for (i = width - 1; i >= 0; i--) {
        tmp[i] = (char)('0' + v % 10);
        v /= 10;
    }
    dpc_sbuf_append(b, tmp, width);
}

/* ---- compiler ---------------------------------------------------------- */

typedef struct tpl_compiler {
    apr_pool_t *pool;
    const char *name;
    const char *text;
    apr_size_t len;
    const dpc_tpl_vocab *vocab;
    apr_array_header_t *ops;    /* of tpl_op */
    dpc_sbuf lits;
    apr_size_t lit_start;       /* start of the literal being collected */
    int stack[TPL_MAX_DEPTH];   /* indexes of open BEGIN ops */
    int depth;
} tpl_compiler;

static apr_status_t tpl_error(tpl_compiler *c, apr_size_t at, const char *what)
{
    dpc_log_perror(DPC_LOG_MARK, DPC_LOG_ERR, APR_EINVAL,
                   DPCLOGNO(09001) "synth template %s, byte %lu: %s",
                   c->name, (unsigned long)at, what);
    return APR_EINVAL;
}

static tpl_op *tpl_push(tpl_compiler *c, int kind)
{
    tpl_op *op = apr_array_push(c->ops);

    memset(op, 0, sizeof(*op));
    op->kind = (uint8_t)kind;
    return op;
}

/* Close the literal collected since the last placeholder, if any. */
static void tpl_flush_literal(tpl_compiler *c)
{
    tpl_op *op;

    if (c->lits.len == c->lit_start)
        return;
    op = tpl_push(c, OP_LIT);
    op->a = (uint32_t)c->lit_start;
    op->n = (uint32_t)(c->lits.len - c->lit_start);
    c->lit_start = c->lits.len;
}

static int tpl_lookup(const char *const *names, int n, const char *s,
                      apr_size_t len)
{
    int i;

    for (i = 0; i < n; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return i;
    }
    return -1;
}

/* Parse "[-]digits[.d[d]]" into hundredths; 0 on success. */
static int tpl_parse_arg(const char *s, apr_size_t len, int64_t *out)
{
    apr_size_t i = 0;
    int64_t whole = 0, frac = 0;
    int neg = 0, fdigits = 0, digits = 0;

    if (i < len && s[i] == '-') {
        neg = 1;
        i++;
    }
    for (; i < len && s[i] >= '0' && s[i] <= '9' && digits < 15; i++, digits++)
        whole = whole * 10 + (s[i] - '0');
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9' && fdigits < 2; i++)
            frac = frac * 10 + (s[i] - '0'), fdigits++;
    }
    if (i != len || digits == 0)
        return -1;
    if (fdigits == 1)
        frac *= 10;
    *out = (whole * 100 + frac) * (neg ? -1 : 1);
    return 0;
}

static int tpl_is_name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
}

static apr_status_t tpl_open_section(tpl_compiler *c, apr_size_t at, int join,
                                     int id, int64_t arg)
{
    tpl_op *op;

    if (c->depth == TPL_MAX_DEPTH)
        return tpl_error(c, at, "sections nested too deeply");
    op = tpl_push(c, OP_BEGIN);
    op->id = (int16_t)id;
    op->join = (uint8_t)join;
    op->arg = arg;
    c->stack[c->depth++] = c->ops->nelts - 1;
    return APR_SUCCESS;
}

static apr_status_t tpl_close_section(tpl_compiler *c, apr_size_t at, int id)
{
    tpl_op *ops, *op;
    int begin;

    if (c->depth == 0)
        return tpl_error(c, at, "section closed but none is open");
    begin = c->stack[--c->depth];
    ops = (tpl_op *)c->ops->elts;
    if (ops[begin].id != id)
        return tpl_error(c, at, "section closed out of order");
    op = tpl_push(c, OP_END);
    op->id = (int16_t)id;
    op->a = (uint32_t)begin;
    ((tpl_op *)c->ops->elts)[begin].a = (uint32_t)(c->ops->nelts - 1);
    return APR_SUCCESS;
}

/* One placeholder: s points after "{{", len is its length before "}}". */
static apr_status_t tpl_placeholder(tpl_compiler *c, apr_size_t at,
                                    const char *s, apr_size_t len)
{
    char mark = (len && (s[0] == '#' || s[0] == '*' || s[0] == '/')) ? s[0] : 0;
    apr_size_t nlen, start = mark ? 1 : 0;
    int64_t arg = 0;
    int id;
    tpl_op *op;

    for (nlen = 0; start + nlen < len && tpl_is_name_char(s[start + nlen]); nlen++)
        ;
    if (nlen == 0)
        return tpl_error(c, at, "placeholder without a name");
    if (start + nlen < len) {
        if (s[start + nlen] != ':' || mark == '/'
            || tpl_parse_arg(s + start + nlen + 1, len - start - nlen - 1, &arg))
            return tpl_error(c, at, "bad placeholder argument");
    }
    id = mark ? tpl_lookup(c->vocab->sections, c->vocab->nsections, s + start, nlen)
              : tpl_lookup(c->vocab->vars, c->vocab->nvars, s + start, nlen);
    if (id < 0)
        return tpl_error(c, at, apr_psprintf(c->pool, "unknown %s '%.*s'",
                                             mark ? "section" : "variable",
                                             (int)nlen, s + start));
    tpl_flush_literal(c);
    if (mark == '/')
        return tpl_close_section(c, at, id);
    if (mark)
        return tpl_open_section(c, at, mark == '*', id, arg);
    op = tpl_push(c, OP_SLOT);
    op->id = (int16_t)id;
    op->arg = arg;
    return APR_SUCCESS;
}

/* Copy one byte of JSON text, dropping whitespace outside strings. */
static void tpl_json_byte(tpl_compiler *c, char ch, int *in_string, int *escaped)
{
    if (*in_string) {
        if (*escaped)
            *escaped = 0;
        else if (ch == '\\')
            *escaped = 1;
        else if (ch == '"')
            *in_string = 0;
    }
    else if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') {
        return;
    }
    else if (ch == '"') {
        *in_string = 1;
    }
    dpc_sbuf_putc(&c->lits, ch);
}

/* The "}}" closing a placeholder that starts at s, before limit. */
static const char *tpl_find_close(const char *s, const char *limit)
{
    for (; s + 1 < limit; s++) {
        if (s[0] == '}' && s[1] == '}')
            return s;
    }
    return NULL;
}

static apr_status_t tpl_scan(tpl_compiler *c)
{
    int in_string = 0, escaped = 0;
    apr_size_t i = 0;
    apr_status_t rv;

    while (i < c->len) {
        if (c->text[i] == '{' && i + 1 < c->len && c->text[i + 1] == '{') {
            const char *end = tpl_find_close(c->text + i + 2,
                                             c->text + c->len);

            if (!end)
                return tpl_error(c, i, "unterminated placeholder");
            rv = tpl_placeholder(c, i, c->text + i + 2, end - (c->text + i + 2));
            if (rv != APR_SUCCESS)
                return rv;
            i = end - c->text + 2;
            continue;
        }
        tpl_json_byte(c, c->text[i++], &in_string, &escaped);
    }
    if (c->depth)
        return tpl_error(c, c->len, "section left open");
    if (in_string)
        return tpl_error(c, c->len, "string left open");
    tpl_flush_literal(c);
    return c->lits.failed ? APR_ENOMEM : APR_SUCCESS;
}

apr_status_t dpc_tpl_compile(apr_pool_t *p, const char *name,
                             const char *text, apr_size_t len,
                             const dpc_tpl_vocab *vocab, dpc_tpl **out)
{
    tpl_compiler c;
    dpc_tpl *t;
    apr_status_t rv;

    memset(&c, 0, sizeof(c));
    c.pool = p;
    c.name = name;
    c.text = text;
    c.len = len;
    c.vocab = vocab;
    c.ops = apr_array_make(p, 256, sizeof(tpl_op));
    rv = tpl_scan(&c);
    if (rv == APR_SUCCESS) {
        t = apr_pcalloc(p, sizeof(*t));
        t->name = apr_pstrdup(p, name);
        t->lits = apr_pmemdup(p, c.lits.data ? c.lits.data : "", c.lits.len + 1);
        t->ops = (const tpl_op *)c.ops->elts;
        t->nops = c.ops->nelts;
        *out = t;
    }
    dpc_sbuf_free(&c.lits);
    return rv;
}

/* ---- renderer ---------------------------------------------------------- */

typedef struct tpl_frame {
    int begin;
    int count;
} tpl_frame;

int dpc_tpl_render(const dpc_tpl *t, dpc_tpl_slot_fn *slot,
                   dpc_tpl_count_fn *count, void *ctx, dpc_sbuf *out)
{
    int pos[DPC_TPL_MAX_SECTIONS] = { 0 };
    tpl_frame stack[TPL_MAX_DEPTH];
    int depth = 0, i = 0;

    while (i < t->nops) {
        const tpl_op *op = &t->ops[i];

        switch (op->kind) {
        case OP_LIT:
            dpc_sbuf_append(out, t->lits + op->a, op->n);
            i++;
            break;
        case OP_SLOT:
            slot(ctx, op->id, op->arg, pos, out);
            i++;
            break;
        case OP_BEGIN:
            pos[op->id] = 0;
            stack[depth].begin = i;
            stack[depth].count = count(ctx, op->id, op->arg, pos);
            if (stack[depth].count <= 0) {
                i = op->a + 1;      /* skip the body; pos stays 0 */
                break;
            }
            depth++;
            i++;
            break;
        default:                    /* OP_END */
            if (++pos[op->id] < stack[depth - 1].count) {
                if (t->ops[op->a].join)
                    dpc_sbuf_putc(out, ',');
                i = op->a + 1;
            }
            else {
                depth--;            /* pos now holds the count */
                i++;
            }
            break;
        }
    }
    return out->failed ? -1 : 0;
}

/* ---- introspection ----------------------------------------------------- */

void dpc_tpl_cost(const dpc_tpl *t, dpc_tpl_width_fn *width, void *ctx,
                  apr_size_t *base, apr_size_t per_section[DPC_TPL_MAX_SECTIONS])
{
    int stack[TPL_MAX_DEPTH];
    int depth = 0, i;

    *base = 0;
    memset(per_section, 0, sizeof(apr_size_t) * DPC_TPL_MAX_SECTIONS);
    for (i = 0; i < t->nops; i++) {
        const tpl_op *op = &t->ops[i];
        apr_size_t *acc = depth ? &per_section[stack[depth - 1]] : base;

        if (op->kind == OP_LIT)
            *acc += op->n;
        else if (op->kind == OP_SLOT)
            *acc += width(ctx, op->id, op->arg);
        else if (op->kind == OP_BEGIN) {
            stack[depth++] = op->id;
            per_section[op->id] += op->join;    /* the ',' between items */
        }
        else
            depth--;
    }
}

int dpc_tpl_uses_var(const dpc_tpl *t, int var)
{
    int i;

    for (i = 0; i < t->nops; i++) {
        if (t->ops[i].kind == OP_SLOT && t->ops[i].id == var)
            return 1;
    }
    return 0;
}

int dpc_tpl_uses_section(const dpc_tpl *t, int sec)
{
    int i;

    for (i = 0; i < t->nops; i++) {
        if (t->ops[i].kind == OP_BEGIN && t->ops[i].id == sec)
            return 1;
    }
    return 0;
}

const char *dpc_tpl_name(const dpc_tpl *t)
{
    return t->name;
}
