#include "parse.h"
#include "tests.h"

#include <errno.h>

START_TEST(sizes)
{
        uint64_t v;

        ck_assert_int_eq(vs_parse_size("4096", &v), 0);
        ck_assert_uint_eq(v, 4096);
        ck_assert_int_eq(vs_parse_size("512M", &v), 0);
        ck_assert_uint_eq(v, 512ull << 20);
        ck_assert_int_eq(vs_parse_size("1g", &v), 0);
        ck_assert_uint_eq(v, 1ull << 30);
        ck_assert_int_eq(vs_parse_size("2GiB", &v), 0);
        ck_assert_uint_eq(v, 2ull << 30);
        ck_assert_int_eq(vs_parse_size("1T", &v), 0);
        ck_assert_uint_eq(v, 1ull << 40);
        ck_assert_int_eq(vs_parse_size("0", &v), 0);
        ck_assert_uint_eq(v, 0);
        ck_assert_int_eq(vs_parse_size("3k", &v), 0);
        ck_assert_uint_eq(v, 3072);
        ck_assert_int_eq(vs_parse_size("7MB", &v), 0);
        ck_assert_uint_eq(v, 7ull << 20);
        ck_assert_int_eq(vs_parse_size("5b", &v), 0);
        ck_assert_uint_eq(v, 5);
        /* the largest value that fits, and one unit shift past it */
        ck_assert_int_eq(vs_parse_size("16777215T", &v), 0);
        ck_assert_uint_eq(v, 16777215ull << 40);
        ck_assert_int_eq(vs_parse_size("16777216T", &v), -1);
        ck_assert_int_eq(errno, ERANGE);
}
END_TEST

START_TEST(bad_sizes)
{
        uint64_t v = 7;

        ck_assert_int_eq(vs_parse_size("", &v), -1);
        ck_assert_int_eq(vs_parse_size("G", &v), -1);
        ck_assert_int_eq(vs_parse_size("-1G", &v), -1);
        ck_assert_int_eq(vs_parse_size("1.5G", &v), -1);
        ck_assert_int_eq(vs_parse_size("12X", &v), -1);
        ck_assert_int_eq(vs_parse_size("99999999999999999999", &v), -1);
        ck_assert_int_eq(errno, ERANGE);
        ck_assert_int_eq(vs_parse_size("99999999999T", &v), -1);
        ck_assert_int_eq(errno, ERANGE);
        ck_assert_uint_eq(v, 7); /* untouched on failure */
}
END_TEST

START_TEST(durations)
{
        uint64_t ms;

        ck_assert_int_eq(vs_parse_duration("90", &ms), 0);
        ck_assert_uint_eq(ms, 90000);
        ck_assert_int_eq(vs_parse_duration("90s", &ms), 0);
        ck_assert_uint_eq(ms, 90000);
        ck_assert_int_eq(vs_parse_duration("10m", &ms), 0);
        ck_assert_uint_eq(ms, 600000);
        ck_assert_int_eq(vs_parse_duration("1h30m", &ms), 0);
        ck_assert_uint_eq(ms, 5400000);
        ck_assert_int_eq(vs_parse_duration("500ms", &ms), 0);
        ck_assert_uint_eq(ms, 500);
        ck_assert_int_eq(vs_parse_duration("2h", &ms), 0);
        ck_assert_uint_eq(ms, 7200000);
        ck_assert_int_eq(vs_parse_duration("1m30s", &ms), 0);
        ck_assert_uint_eq(ms, 90000);
        ck_assert_int_eq(vs_parse_duration("0", &ms), 0);
        ck_assert_uint_eq(ms, 0);
}
END_TEST

START_TEST(bad_durations)
{
        uint64_t ms = 3;

        ck_assert_int_eq(vs_parse_duration("", &ms), -1);
        ck_assert_int_eq(vs_parse_duration("m", &ms), -1);
        ck_assert_int_eq(vs_parse_duration("10x", &ms), -1);
        ck_assert_int_eq(vs_parse_duration("1h30", &ms), -1);
        ck_assert_int_eq(vs_parse_duration("-5s", &ms), -1);
        ck_assert_int_eq(vs_parse_duration("99999999999999999h", &ms), -1);
        ck_assert_uint_eq(ms, 3);
}
END_TEST

START_TEST(format)
{
        char buf[32];

        ck_assert_str_eq(vs_format_size(100, buf, sizeof(buf)), "100");
        ck_assert_str_eq(vs_format_size(1023, buf, sizeof(buf)), "1023");
        ck_assert_str_eq(vs_format_size(1024, buf, sizeof(buf)), "1K");
        ck_assert_str_eq(vs_format_size(256ull << 20, buf, sizeof(buf)), "256M");
        ck_assert_str_eq(vs_format_size(1536ull << 20, buf, sizeof(buf)), "1.5G");
        ck_assert_str_eq(vs_format_size(2ull << 40, buf, sizeof(buf)), "2T");
        /* T is the largest unit */
        ck_assert_str_eq(vs_format_size(2048ull << 40, buf, sizeof(buf)), "2048T");
}
END_TEST

Suite *suite_parse(void)
{
        Suite *s = suite_create("parse");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, sizes);
        tcase_add_test(tc, bad_sizes);
        tcase_add_test(tc, durations);
        tcase_add_test(tc, bad_durations);
        tcase_add_test(tc, format);
        suite_add_tcase(s, tc);
        return s;
}
