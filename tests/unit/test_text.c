/* text.c: UTF-8 sanitising and terminal-safe text, exact bytes. */
#include "text.h"
#include "tests.h"

#include <stdlib.h>
#include <string.h>

#define FFFD "\xef\xbf\xbd"

static void expect_sanitized(const char *in, size_t len, size_t max, const char *want)
{
        size_t n = 12345;
        char *out = vs_utf8_sanitize(in, len, max, &n);

        ck_assert_uint_eq(n, strlen(want));
        ck_assert_mem_eq(out, want, n + 1);
        ck_assert(vs_utf8_valid(out, n));
        free(out);
}

static void expect_terminal(const char *in, size_t len, size_t max, const char *want)
{
        size_t n = 12345;
        char *out = vs_text_for_terminal(in, len, max, &n);

        ck_assert_uint_eq(n, strlen(want));
        ck_assert_mem_eq(out, want, n + 1);
        free(out);
}

#define S(lit) lit, sizeof(lit) - 1

START_TEST(valid_text_kept)
{
        expect_sanitized(S("plain ascii\t\n"), 100, "plain ascii\t\n");
        expect_sanitized(S("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"), 100,
                         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");
        expect_sanitized("", 0, 10, "");
        expect_sanitized(S("\xed\x9f\xbf\xee\x80\x80"), 10, "\xed\x9f\xbf\xee\x80\x80"); /* U+D7FF, U+E000 */
}
END_TEST

START_TEST(invalid_sequences_replaced)
{
        /* overlong '/' in two and three bytes, overlong NUL */
        expect_sanitized(S("\xc0\xaf"), 100, FFFD FFFD);
        expect_sanitized(S("\xe0\x80\xaf"), 100, FFFD FFFD FFFD);
        expect_sanitized(S("\xf0\x80\x80\xaf"), 100, FFFD FFFD FFFD FFFD);
        expect_sanitized(S("\xc1\xbf"), 100, FFFD FFFD);
        /* UTF-16 surrogates */
        expect_sanitized(S("\xed\xa0\x80"), 100, FFFD FFFD FFFD);
        expect_sanitized(S("\xed\xbf\xbf"), 100, FFFD FFFD FFFD);
        /* above U+10FFFF, and bytes that never start a sequence */
        expect_sanitized(S("\xf4\x90\x80\x80"), 100, FFFD FFFD FFFD FFFD);
        expect_sanitized(S("\xf5\x80\x80\x80"), 100, FFFD FFFD FFFD FFFD);
        expect_sanitized(S("\xff\xfe"), 100, FFFD FFFD);
        /* a lone continuation byte, a lead byte followed by ASCII */
        expect_sanitized(S("a\x80z"), 100, "a" FFFD "z");
        expect_sanitized(S("\xe2(x"), 100, FFFD "(x");
}
END_TEST

START_TEST(truncated_and_nul)
{
        expect_sanitized(S("ok\xe2\x82"), 100, "ok" FFFD FFFD);
        expect_sanitized(S("ok\xf0\x9f\x98"), 100, "ok" FFFD FFFD FFFD);
        expect_sanitized(S("a\0b"), 100, "a" FFFD "b");
        ck_assert(!vs_utf8_valid(S("a\0b")));
        ck_assert(!vs_utf8_valid(S("ok\xe2\x82")));
        ck_assert(vs_utf8_valid(S("ok\xe2\x82\xac")));
}
END_TEST

/* The cap counts output bytes and never splits a character (nor U+FFFD). */
START_TEST(cap_on_character_boundary)
{
        expect_sanitized(S("ab\xe2\x82\xac"), 4, "ab");
        expect_sanitized(S("ab\xe2\x82\xac"), 5, "ab\xe2\x82\xac");
        expect_sanitized(S("ab\xe2\x82\xac" "c"), 5, "ab\xe2\x82\xac");
        expect_sanitized(S("\xf0\x9f\x98\x80"), 3, "");
        expect_sanitized(S("\xff"), 2, "");
        expect_sanitized(S("\xff"), 3, FFFD);
        expect_sanitized(S("a\xff"), 3, "a");
        expect_sanitized(S("abcdef"), 3, "abc");
        expect_sanitized(S("abc"), 0, "");
}
END_TEST

START_TEST(terminal_controls)
{
        expect_terminal(S("\x1b[31mred\x1b[0m"), 100, "?[31mred?[0m");
        expect_terminal(S("\x1b]0;title\x07"), 100, "?]0;title?");
        expect_terminal(S("C1 CSI \xc2\x9b" "2J, NEL \xc2\x85"), 100, "C1 CSI ?2J, NEL ?");
        expect_terminal(S("del\x7f cr\r bs\b"), 100, "del? cr? bs?");
        expect_terminal(S("tab\tnl\n"), 100, "tab\tnl\n");
        expect_terminal(S("\xc2\xa0nbsp \xc3\xa9"), 100, "\xc2\xa0nbsp \xc3\xa9");
        /* a raw 0x9b byte is invalid UTF-8: U+FFFD, not a CSI */
        expect_terminal(S("\x9b" "2J"), 100, FFFD "2J");
        expect_terminal(S("\0x"), 100, FFFD "x");
        expect_terminal(S("\x1b\x1b\x1b"), 2, "??");
}
END_TEST

START_TEST(json_text_always_serialises)
{
        json_t *j = vs_json_text(S("bad \xff\xfe utf-8 \xe2\x82"), 64);
        char *dump;

        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(json_string_value(j), "bad " FFFD FFFD " utf-8 " FFFD FFFD);
        dump = json_dumps(j, JSON_ENCODE_ANY);
        ck_assert_str_eq(dump, "\"bad " FFFD FFFD " utf-8 " FFFD FFFD "\"");
        free(dump);
        json_decref(j);
        j = vs_json_text(S("\xc3\xa9\xc3\xa9"), 3);
        ck_assert_str_eq(json_string_value(j), "\xc3\xa9");
        json_decref(j);
}
END_TEST

Suite *suite_text(void)
{
        Suite *s = suite_create("text");
        TCase *tc = tcase_create("text");

        tcase_add_test(tc, valid_text_kept);
        tcase_add_test(tc, invalid_sequences_replaced);
        tcase_add_test(tc, truncated_and_nul);
        tcase_add_test(tc, cap_on_character_boundary);
        tcase_add_test(tc, terminal_controls);
        tcase_add_test(tc, json_text_always_serialises);
        suite_add_tcase(s, tc);
        return s;
}
