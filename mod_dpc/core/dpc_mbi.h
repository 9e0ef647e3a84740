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

#endif
