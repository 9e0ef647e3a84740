/* Unit tests of the Sandbox Portal's core (dpc_portal.c): escaping, the
 * HTML formatter, CSRF tokens, input checks, bcrypt hashes, generated NPIs,
 * invite tokens and the sign-in slowdown. */
#include <string.h>

#include <apr_md5.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "dpc_mbi.h"
#include "dpc_portal.h"
#include "unit.h"

static apr_pool_t *pool;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";

START_TEST(escape_every_special)
{
    ck_assert_str_eq(dpc_html_escape(pool, "<a href=\"x\">'&'</a>"),
                     "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    ck_assert_str_eq(dpc_html_escape(pool, "plain"), "plain");
    ck_assert_str_eq(dpc_html_escape(pool, NULL), "");
}
END_TEST

START_TEST(fmt_escapes_by_default)
{
    const char *inner = dpc_html_fmt(pool, "<b>%s</b>", "<i>");

    ck_assert_str_eq(inner, "<b>&lt;i&gt;</b>");
    ck_assert_str_eq(dpc_html_fmt(pool, "<p>%r %d%% %u %s</p>", inner, -3, 7u, NULL),
                     "<p><b>&lt;i&gt;</b> -3% 7 </p>");
    /* anything else after % is text */
    ck_assert_str_eq(dpc_html_fmt(pool, "100%x"), "100%x");
}
END_TEST

START_TEST(csrf_token_round_trip)
{
    const char *nonce, *other, *tok;

    ck_assert_int_eq(dpc_csrf_nonce(pool, &nonce), APR_SUCCESS);
    ck_assert(dpc_csrf_nonce_valid(nonce));
    ck_assert_int_eq(dpc_csrf_nonce(pool, &other), APR_SUCCESS);
    ck_assert_str_ne(nonce, other);
    tok = dpc_csrf_token(pool, secret, 32, nonce);
    ck_assert_ptr_nonnull(tok);
    ck_assert(dpc_csrf_check(pool, secret, 32, nonce, tok));
    /* another browser's nonce, another secret, a changed token, nothing */
    ck_assert(!dpc_csrf_check(pool, secret, 32, other, tok));
    ck_assert(!dpc_csrf_check(pool, (const unsigned char *)"another secret of thirty-two b.", 32,
                              nonce, tok));
    ck_assert(!dpc_csrf_check(pool, secret, 32, nonce, apr_pstrcat(pool, tok, "A", NULL)));
    ck_assert(!dpc_csrf_check(pool, secret, 32, nonce, ""));
    ck_assert(!dpc_csrf_check(pool, secret, 32, nonce, NULL));
    ck_assert(!dpc_csrf_check(pool, secret, 32, NULL, tok));
    ck_assert(!dpc_csrf_nonce_valid("short"));
    ck_assert_ptr_null(dpc_csrf_token(pool, secret, 32, "not/a+nonce"));
}
END_TEST

START_TEST(email_rules)
{
    const char *err = NULL;

    ck_assert_str_eq(dpc_portal_email(pool, "  Ann@Example.ORG ", &err), "ann@example.org");
    ck_assert_ptr_null(dpc_portal_email(pool, "ann", &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(dpc_portal_email(pool, "ann@example", &err));
    ck_assert_ptr_null(dpc_portal_email(pool, "@example.org", &err));
    ck_assert_ptr_null(dpc_portal_email(pool, "a@b@example.org", &err));
    ck_assert_ptr_null(dpc_portal_email(pool, "a b@example.org", &err));
    ck_assert_ptr_null(dpc_portal_email(pool, "a\"<x>@example.org", &err));
    ck_assert_ptr_null(dpc_portal_email(pool, "a@example.org.", &err));
    ck_assert_ptr_null(dpc_portal_email(pool, NULL, &err));
}
END_TEST

START_TEST(password_rules)
{
    const char *err = NULL;

    ck_assert(dpc_portal_password_ok("twelve chars", &err));
    ck_assert(!dpc_portal_password_ok("eleven char", &err));
    ck_assert(!dpc_portal_password_ok("twelve\tchars", &err));
    ck_assert(!dpc_portal_password_ok(NULL, &err));
}
END_TEST

START_TEST(bcrypt_httpd_verifies)
{
    const char *h1, *h2;

    ck_assert_int_eq(dpc_portal_password_hash(pool, "correct horse battery", &h1), APR_SUCCESS);
    ck_assert_int_eq(dpc_portal_password_hash(pool, "correct horse battery", &h2), APR_SUCCESS);
    ck_assert(!strncmp(h1, "$2y$10$", 7));
    ck_assert_str_ne(h1, h2);   /* salted */
    ck_assert_int_eq(apr_password_validate("correct horse battery", h1), APR_SUCCESS);
    ck_assert_int_ne(apr_password_validate("correct horse batterY", h1), APR_SUCCESS);
}
END_TEST

START_TEST(npi_generated_valid)
{
    char a[DPC_NPI_LEN + 1], b[DPC_NPI_LEN + 1];
    int i;

    for (i = 0; i < 100; i++) {
        ck_assert_int_eq(dpc_portal_npi(a), APR_SUCCESS);
        ck_assert_int_eq(strlen(a), 10);
        ck_assert(dpc_npi_valid(a));
    }
    ck_assert_int_eq(dpc_portal_npi(b), APR_SUCCESS);
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(invite_tokens)
{
    const char *t;

    ck_assert_int_eq(dpc_portal_invite_token(pool, &t), APR_SUCCESS);
    ck_assert(dpc_portal_invite_token_valid(t));
    ck_assert(!dpc_portal_invite_token_valid("../../etc/passwd"));
    ck_assert(!dpc_portal_invite_token_valid(NULL));
}
END_TEST

START_TEST(login_wait_doubles)
{
    ck_assert_int_eq(dpc_portal_login_wait(0, 0), 0);
    ck_assert_int_eq(dpc_portal_login_wait(DPC_PORTAL_FREE_FAILURES - 1, 0), 0);
    ck_assert_int_eq(dpc_portal_login_wait(DPC_PORTAL_FREE_FAILURES, 0), 1);
    ck_assert_int_eq(dpc_portal_login_wait(DPC_PORTAL_FREE_FAILURES + 3, 0), 8);
    ck_assert_int_eq(dpc_portal_login_wait(DPC_PORTAL_FREE_FAILURES + 3, 5), 3);
    ck_assert_int_eq(dpc_portal_login_wait(DPC_PORTAL_FREE_FAILURES + 3, 8), 0);
    ck_assert_int_eq(dpc_portal_login_wait(1000, 0), DPC_PORTAL_WAIT_MAX);
    ck_assert_int_eq(dpc_portal_login_wait(1000, -5), DPC_PORTAL_WAIT_MAX);
}
END_TEST

Suite *portal_suite(void)
{
    Suite *s = suite_create("portal");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, escape_every_special);
    tcase_add_test(tc, fmt_escapes_by_default);
    tcase_add_test(tc, csrf_token_round_trip);
    tcase_add_test(tc, email_rules);
    tcase_add_test(tc, password_rules);
    tcase_add_test(tc, bcrypt_httpd_verifies);
    tcase_add_test(tc, npi_generated_valid);
    tcase_add_test(tc, invite_tokens);
    tcase_add_test(tc, login_wait_doubles);
    suite_add_tcase(s, tc);
    return s;
}
