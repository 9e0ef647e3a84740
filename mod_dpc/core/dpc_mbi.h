/* dpc_mbi.h: Medicare Beneficiary Identifiers and National Provider
 * Identifiers: format checks and deterministic generation.
 *
 * An MBI is 11 characters, by position (1-based):
 *   1 digit 1-9; 2, 5, 8, 9 letter; 3, 6 letter or digit; 4, 7, 10, 11 digit;
 * where "letter" is A-Z without S, L, O, I, B, Z (20 letters).  That gives
 * DPC_MBI_SPACE distinct MBIs, which dpc_mbi_make() numbers in mixed radix.
 *
 * An NPI is 10 digits whose last digit is the Luhn check digit of the first 9
 * prefixed with "80840" (the ISO health-industry prefix), as CMS specifies.
 */
#ifndef DPC_MBI_H
#define DPC_MBI_H

#include <stdint.h>

#include <apr_pools.h>

/* 9*20*30*10*20*30*10*20*20*10*10: the number of well-formed MBIs. */
#define DPC_MBI_SPACE UINT64_C(12960000000000)
#define DPC_MBI_LEN 11
#define DPC_NPI_LEN 10

/* 1 if s is exactly a well-formed MBI in upper case, else 0. */
int dpc_mbi_valid(const char *s);

/* Copy s to out without dashes or blanks and in upper case, as people type
 * MBIs ("1eg4-te5-mk73"); return 1 if the result is a valid MBI, else 0 (out
 * then holds whatever fitted, NUL-terminated). */
int dpc_mbi_normalize(const char *s, char out[DPC_MBI_LEN + 1]);

/* The MBI numbered n mod DPC_MBI_SPACE; distinct n below the space give
 * distinct MBIs.  out is NUL-terminated. */
void dpc_mbi_make(uint64_t n, char out[DPC_MBI_LEN + 1]);

/* 1 if s is 10 digits with a correct check digit, else 0. */
int dpc_npi_valid(const char *s);

/* A valid NPI derived from n; its first digit is 1 or 2, as issued NPIs'
 * are.  out is NUL-terminated. */
void dpc_npi_make(uint64_t n, char out[DPC_NPI_LEN + 1]);

/* The check digit ('0'-'9') for the first 9 digits of an NPI, or -1 if they
 * are not 9 digits. */
int dpc_npi_check_digit(const char *first9);

/* ---- synthetic identifiers (a sandbox) ---- */

/* BFD's synthetic MBIs have an S in the second position, a letter no real
 * MBI has, so one can never be a real beneficiary's; the rest is an MBI's
 * form.  There are DPC_MBI_SYNTHETIC_SPACE of them. */
#define DPC_MBI_SYNTHETIC_SPACE (DPC_MBI_SPACE / 20)

/* 1 if s is exactly a well-formed synthetic MBI in upper case, else 0. */
int dpc_mbi_synthetic(const char *s);

/* The synthetic MBI numbered n mod DPC_MBI_SYNTHETIC_SPACE (distinct n
 * below it give distinct MBIs); its number back (-1 if s is none). */
void dpc_mbi_make_synthetic(uint64_t n, char out[DPC_MBI_LEN + 1]);
int64_t dpc_mbi_synthetic_number(const char *s);

/* Mark a pool: identifiers checked with it (or a subpool) may be synthetic
 * (DPCSyntheticIdentifiers On, a sandbox); production leaves it unmarked,
 * and stays strict. */
void dpc_ids_allow_synthetic(apr_pool_t *p);
int dpc_ids_synthetic_allowed(apr_pool_t *p);

/* The checks every resource and roster uses: dpc_mbi_normalize, also
 * taking a synthetic MBI where p allows it; dpc_npi_valid, also taking ten
 * digits without a valid check digit (the guides' sample NPIs) where p
 * allows it. */
int dpc_mbi_accept(apr_pool_t *p, const char *s, char out[DPC_MBI_LEN + 1]);
int dpc_npi_accept(apr_pool_t *p, const char *s);

#endif
