/* dpc_mbi.c: see dpc_mbi.h. */
#include "dpc_mbi.h"

#include <string.h>

/* The 20 letters an MBI may use: A-Z less S, L, O, I, B and Z, which CMS
 * left out because they read like digits. */
static const char mbi_alpha[] = "ACDEFGHJKMNPQRTUVWXY";
/* Letter-or-digit positions take the digits first, then the letters. */
static const char mbi_alnum[] = "0123456789ACDEFGHJKMNPQRTUVWXY";
static const char mbi_digit[] = "0123456789";
static const char mbi_first[] = "123456789";

/* The character class of each position: its alphabet, in order. */
static const char *const mbi_class[DPC_MBI_LEN] = {
    mbi_first, mbi_alpha, mbi_alnum, mbi_digit, mbi_alpha, mbi_alnum,
    mbi_digit, mbi_alpha, mbi_alpha, mbi_digit, mbi_digit
};

static int mbi_char_ok(const char *alphabet, char c)
{
    /* c == 0 would match strchr's terminator: reject it explicitly. */
    return c != '\0' && strchr(alphabet, c) != NULL;
}

int dpc_mbi_valid(const char *s)
{
    int i;

    if (!s)
        return 0;
    for (i = 0; i < DPC_MBI_LEN; i++) {
        if (!mbi_char_ok(mbi_class[i], s[i]))
            return 0;
    }
    return s[DPC_MBI_LEN] == '\0';
}

/* Copy s to out without dashes or blanks, in upper case: 1 if it fitted. */
static int mbi_squeeze(const char *s, char out[DPC_MBI_LEN + 1])
{
    int n = 0;

    out[0] = '\0';
    if (!s)
        return 0;
    for (; *s; s++) {
        char c = *s;

        if (c == '-' || c == ' ')
            continue;
        if (n == DPC_MBI_LEN) {
            out[n] = '\0';
            return 0;           /* too long */
        }
        out[n++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    out[n] = '\0';
    return 1;
}

int dpc_mbi_normalize(const char *s, char out[DPC_MBI_LEN + 1])
{
    return mbi_squeeze(s, out) && dpc_mbi_valid(out);
}

void dpc_mbi_make(uint64_t n, char out[DPC_MBI_LEN + 1])
{
    int i;

    n %= DPC_MBI_SPACE;
    /* Mixed radix, least significant position last, so that consecutive n
     * differ in the final digits as a counter would. */
    for (i = DPC_MBI_LEN - 1; i >= 0; i--) {
        uint64_t radix = strlen(mbi_class[i]);

        out[i] = mbi_class[i][n % radix];
        n /= radix;
    }
    out[DPC_MBI_LEN] = '\0';
}

/* Luhn sum over "80840" followed by the 9 digits, doubling every other
 * digit starting from the rightmost one (the check digit's left neighbour). */
int dpc_npi_check_digit(const char *first9)
{
    char full[15];
    int i, sum = 0, dbl = 1;

    memcpy(full, "80840", 5);
    for (i = 0; i < 9; i++) {
        if (first9[i] < '0' || first9[i] > '9')
            return -1;
        full[5 + i] = first9[i];
    }
    for (i = 13; i >= 0; i--, dbl = !dbl) {
        int d = full[i] - '0';

        if (dbl) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return '0' + (10 - sum % 10) % 10;
}

int dpc_npi_valid(const char *s)
{
    int i;

    if (!s)
        return 0;
    for (i = 0; i < DPC_NPI_LEN; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
    }
    return s[DPC_NPI_LEN] == '\0' && dpc_npi_check_digit(s) == s[9];
}

void dpc_npi_make(uint64_t n, char out[DPC_NPI_LEN + 1])
{
    /* First digit 1 or 2, then 8 digits: 2 * 10^8 distinct NPIs. */
    uint64_t body = (n >> 1) % UINT64_C(100000000);
    int i;

    out[0] = (char)('1' + (n & 1));
    for (i = 8; i >= 1; i--) {
        out[i] = (char)('0' + body % 10);
        body /= 10;
    }
    out[9] = (char)dpc_npi_check_digit(out);
    out[DPC_NPI_LEN] = '\0';
}

/* ---- synthetic identifiers ---------------------------------------------- */

#define SYNTHETIC_KEY "dpc-ids-synthetic"

int dpc_mbi_synthetic(const char *s)
{
    char real[DPC_MBI_LEN + 1];

    if (!s || s[0] == '\0' || s[1] != 'S' || strlen(s) != DPC_MBI_LEN)
        return 0;
    memcpy(real, s, sizeof(real));
    real[1] = mbi_alpha[0];         /* the rest must be an MBI's form */
    return dpc_mbi_valid(real);
}

void dpc_mbi_make_synthetic(uint64_t n, char out[DPC_MBI_LEN + 1])
{
    uint64_t radix = strlen(mbi_alpha);

    /* a real MBI's number with the second position's digit 0, then 'S' */
    n %= DPC_MBI_SYNTHETIC_SPACE;
    dpc_mbi_make((n / (DPC_MBI_SPACE / 9 / radix)) * (DPC_MBI_SPACE / 9)
                 + n % (DPC_MBI_SPACE / 9 / radix), out);
    out[1] = 'S';
}

int64_t dpc_mbi_synthetic_number(const char *s)
{
    uint64_t n = 0;
    int i;

    if (!dpc_mbi_synthetic(s))
        return -1;
    for (i = 0; i < DPC_MBI_LEN; i++) {
        if (i == 1)
            continue;               /* the fixed 'S' */
        n = n * strlen(mbi_class[i]) + (uint64_t)(strchr(mbi_class[i], s[i]) - mbi_class[i]);
    }
    return (int64_t)n;
}

void dpc_ids_allow_synthetic(apr_pool_t *p)
{
    apr_pool_userdata_setn("1", SYNTHETIC_KEY, NULL, p);
}

int dpc_ids_synthetic_allowed(apr_pool_t *p)
{
    void *v = NULL;

    for (; p; p = apr_pool_parent_get(p)) {
        if (apr_pool_userdata_get(&v, SYNTHETIC_KEY, p) == APR_SUCCESS && v)
            return 1;
    }
    return 0;
}

int dpc_mbi_accept(apr_pool_t *p, const char *s, char out[DPC_MBI_LEN + 1])
{
    if (!mbi_squeeze(s, out))
        return 0;
    return dpc_mbi_valid(out) || (dpc_mbi_synthetic(out) && dpc_ids_synthetic_allowed(p));
}

int dpc_npi_accept(apr_pool_t *p, const char *s)
{
    int i;

    if (dpc_npi_valid(s))
        return 1;
    if (!s || !dpc_ids_synthetic_allowed(p))
        return 0;
    for (i = 0; i < DPC_NPI_LEN; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
    }
    return s[DPC_NPI_LEN] == '\0';
}
