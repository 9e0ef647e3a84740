/* fuzz_form: the token endpoint's request body and what is read from it.
 *
 *   dpc_form_parse        application/x-www-form-urlencoded bodies
 *   dpc_http_form_encode  the client's encoder, as the round trip: a parsed
 *   dpc_http_form_escape  form encodes to a body that parses to the same
 *                         names and values
 *   dpc_scope_check       the scope parameter (and dpc_scope_can_write)
 *   dpc_label_valid       labels (?label= of tokens and keys)
 */
#include "fuzz.h"

#include <apr_tables.h>

#include "dpc_auth.h"
#include "dpc_fhir.h"
#include "dpc_http.h"

/* Encode the table again and parse the result: same pairs, same order. */
static void round_trip(apr_pool_t *p, const apr_table_t *form)
{
    const apr_array_header_t *a = apr_table_elts(form), *b;
    const char **kv = apr_pcalloc(p, (2 * (apr_size_t)a->nelts + 1) * sizeof(*kv));
    const char *body, *err;
    apr_table_t *again;
    int i;

    for (i = 0; i < a->nelts; i++) {
        const apr_table_entry_t *e = &APR_ARRAY_IDX(a, i, apr_table_entry_t);

        kv[2 * i] = e->key;
        kv[2 * i + 1] = e->val;
    }
    body = dpc_http_form_encode(p, kv);
    FUZZ_CHECK(dpc_form_parse(p, body, strlen(body), &again, &err) == 0);
    b = apr_table_elts(again);
    FUZZ_CHECK(b->nelts == a->nelts);
    for (i = 0; i < a->nelts; i++) {
        FUZZ_CHECK(!strcmp(APR_ARRAY_IDX(a, i, apr_table_entry_t).key,
                           APR_ARRAY_IDX(b, i, apr_table_entry_t).key));
        FUZZ_CHECK(!strcmp(APR_ARRAY_IDX(a, i, apr_table_entry_t).val,
                           APR_ARRAY_IDX(b, i, apr_table_entry_t).val));
    }
}

static void check_form(apr_pool_t *p, const uint8_t *data, size_t size)
{
    const apr_array_header_t *a;
    apr_table_t *form = NULL;
    const char *err = NULL, *scope, *granted, *label;
    int i;

    if (dpc_form_parse(p, (const char *)data, size, &form, &err)) {
        FUZZ_CHECK(err && *err);
        return;
    }
    a = apr_table_elts(form);
    for (i = 0; i < a->nelts; i++) {
        const apr_table_entry_t *e = &APR_ARRAY_IDX(a, i, apr_table_entry_t);

        FUZZ_CHECK(e->key && *e->key && e->val);
        /* names are unique (a repeated one is refused) */
        FUZZ_CHECK(apr_table_get(form, e->key) == e->val);
    }
    round_trip(p, form);
    /* what the token endpoint does next with two of the fields */
    if ((scope = apr_table_get(form, "scope")) != NULL
        && dpc_scope_check(p, scope, &granted, &err) == 0) {
        const char *again;

        /* the normalized scope is itself accepted, unchanged */
        FUZZ_CHECK(dpc_scope_check(p, granted, &again, &err) == 0);
        FUZZ_CHECK(!strcmp(again, granted));
        (void)dpc_scope_can_write(granted);
    }
    if ((label = apr_table_get(form, "label")) != NULL && dpc_label_valid(label, 64))
        FUZZ_CHECK(dpc_utf8_valid(label));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *s = fuzz_text(p, data, size), *granted, *err;

    check_form(p, data, size);
    /* the whole input as a scope and as a label, too */
    if (dpc_scope_check(p, s, &granted, &err) == 0)
        FUZZ_CHECK(*granted);
    if (dpc_label_valid(s, 256))
        FUZZ_CHECK(dpc_utf8_valid(s) && *s);
    fuzz_end(p);
    return 0;
}
