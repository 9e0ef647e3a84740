/* dpc_synth_tpl.h: the template engine behind the synthetic data generator.
 *
 * A template is JSON text with placeholders.  It is compiled once into a
 * program of literal segments and slots, and rendered many times by
 * appending into a reusable buffer: no JSON tree is built or serialized on
 * the hot path.
 *
 * Syntax (outside and inside JSON strings alike):
 *   {{name}} {{name:ARG}}   a slot: the host appends its value, raw; ARG is a
 *                           signed decimal with up to 2 fraction digits, kept
 *                           as hundredths (so "30" is 3000, "84.5" is 8450)
 *   {{#name}}...{{/name}}   a section repeated count times, nothing between
 *   {{*name}}...{{/name}}   a section repeated count times, joined with ","
 *   {{#name:ARG}}           sections take an ARG too (passed to the count)
 * Whitespace outside JSON strings is dropped when compiling, so templates
 * can be indented for people and still render compact JSON.
 *
 * While a section renders, pos[section] is its iteration (0-based); after
 * it, pos[section] is its count; before it, 0.  Slots read pos to index
 * repeated data, so "{{dx_code:2}}" after two fixed entries can mean "entry
 * 2 + pos".
 */
#ifndef DPC_SYNTH_TPL_H
#define DPC_SYNTH_TPL_H

#include <stdint.h>
#include <string.h>

#include <apr_pools.h>

/* Section ids are small: pos[] is a fixed array of this size. */
#define DPC_TPL_MAX_SECTIONS 16

/* A growable byte buffer.  Appends never fail loudly: on allocation failure
 * `failed` is set and later appends do nothing, so a render checks once. */
typedef struct dpc_sbuf {
    char *data;
    apr_size_t len;
    apr_size_t cap;
    int failed;
} dpc_sbuf;

/* Make room for n more bytes; 0 on success, -1 (and failed set) if not. */
int dpc_sbuf_grow(dpc_sbuf *b, apr_size_t n);
void dpc_sbuf_free(dpc_sbuf *b);

static inline int dpc_sbuf_reserve(dpc_sbuf *b, apr_size_t n)
{
    if (b->cap - b->len >= n)
        return 0;
    return dpc_sbuf_grow(b, n);
}

static inline void dpc_sbuf_append(dpc_sbuf *b, const char *s, apr_size_t n)
{
    if (dpc_sbuf_reserve(b, n) == 0) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
    }
}

static inline void dpc_sbuf_putc(dpc_sbuf *b, char c)
{
    if (dpc_sbuf_reserve(b, 1) == 0)
        b->data[b->len++] = c;
}

/* Append an unsigned decimal. */
void dpc_sbuf_put_u64(dpc_sbuf *b, uint64_t v);
/* Append v / 100 with exactly 2 decimals ("12.50", "0.07"); v may be < 0. */
void dpc_sbuf_put_cents(dpc_sbuf *b, int64_t v);
/* Append v zero-padded to width digits (v must fit). */
void dpc_sbuf_put_padded(dpc_sbuf *b, uint64_t v, int width);

/* The names a template may use; ids are indexes in these arrays.  Sections
 * must number at most DPC_TPL_MAX_SECTIONS. */
typedef struct dpc_tpl_vocab {
    const char *const *vars;
    int nvars;
    const char *const *sections;
    int nsections;
} dpc_tpl_vocab;

typedef struct dpc_tpl dpc_tpl;

/* Append the value of slot `var` with argument `arg` (hundredths). */
typedef void dpc_tpl_slot_fn(void *ctx, int var, int64_t arg, const int *pos,
                             dpc_sbuf *out);
/* How many times section `sec` (with its `arg`) renders. */
typedef int dpc_tpl_count_fn(void *ctx, int sec, int64_t arg, const int *pos);

/* Compile text (len bytes) into *out, allocated from p.  Errors (unknown
 * name, unbalanced section, unterminated placeholder) are logged with the
 * template name and byte offset and give APR_EINVAL. */
apr_status_t dpc_tpl_compile(apr_pool_t *p, const char *name,
                             const char *text, apr_size_t len,
                             const dpc_tpl_vocab *vocab, dpc_tpl **out);

/* Append the rendering to out; returns 0, or -1 if out ran out of memory. */
int dpc_tpl_render(const dpc_tpl *t, dpc_tpl_slot_fn *slot,
                   dpc_tpl_count_fn *count, void *ctx, dpc_sbuf *out);

/* Size bound of one rendering, for keeping resources under a size limit:
 * the bytes outside sections plus, per section id, the bytes of one
 * iteration (nested sections' bytes count toward the innermost one).  Slot
 * widths come from width(ctx, var, arg), which must be an upper bound. */
typedef apr_size_t dpc_tpl_width_fn(void *ctx, int var, int64_t arg);
void dpc_tpl_cost(const dpc_tpl *t, dpc_tpl_width_fn *width, void *ctx,
                  apr_size_t *base, apr_size_t per_section[DPC_TPL_MAX_SECTIONS]);

/* Whether the template uses variable var / section sec anywhere. */
int dpc_tpl_uses_var(const dpc_tpl *t, int var);
int dpc_tpl_uses_section(const dpc_tpl *t, int sec);

const char *dpc_tpl_name(const dpc_tpl *t);

#endif
