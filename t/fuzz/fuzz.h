/* fuzz.h: what every libFuzzer harness of t/fuzz shares.
 *
 * A harness defines LLVMFuzzerTestOneInput() and gets from here one APR
 * pool, made at the first input and cleared after each one (so nothing an
 * input allocates outlives it, and a leak shows up as growth LeakSanitizer
 * reports), the input as a NUL-terminated copy, and FUZZ_CHECK() for the
 * invariants it asserts: a failed check prints where and aborts, which
 * libFuzzer reports as a crash with the input that caused it. */
#ifndef DPC_FUZZ_H
#define DPC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#define FUZZ_CHECK(cond)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,        \
                    __LINE__, #cond);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The pool inputs allocate from: created once, cleared by fuzz_end(). */
static inline apr_pool_t *fuzz_pool(void)
{
    static apr_pool_t *p;

    if (!p) {
        apr_initialize();
        if (apr_pool_create(&p, NULL) != APR_SUCCESS)
            abort();
    }
    return p;
}

/* The input as a string: a copy with a NUL after size bytes (it may hold
 * NULs of its own, which C-string parsers then stop at). */
static inline char *fuzz_text(apr_pool_t *p, const uint8_t *data, size_t size)
{
    return apr_pstrmemdup(p, (const char *)data, size);
}

static inline void fuzz_end(apr_pool_t *p)
{
    apr_pool_clear(p);
}

/* Split the input at its first NUL byte: the part before in *a, after in
 * *b (empty when there is none).  For harnesses taking two strings. */
static inline void fuzz_split(apr_pool_t *p, const uint8_t *data, size_t size,
                       const char **a, const char **b)
{
    const uint8_t *nul = memchr(data, '\0', size);

    *a = apr_pstrmemdup(p, (const char *)data, nul ? (size_t)(nul - data) : size);
    *b = nul ? apr_pstrmemdup(p, (const char *)nul + 1, size - (size_t)(nul - data) - 1) : "";
}

#endif
