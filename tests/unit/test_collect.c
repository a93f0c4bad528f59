#include "collect.h"
#include "tests.h"

START_TEST(names)
{
        ck_assert(vs_collect_name_ok("a"));
        ck_assert(vs_collect_name_ok("a/b/c.txt"));
        ck_assert(vs_collect_name_ok("..hidden/x"));
        ck_assert(!vs_collect_name_ok(""));
        ck_assert(!vs_collect_name_ok("/etc/passwd"));
        ck_assert(!vs_collect_name_ok("../x"));
        ck_assert(!vs_collect_name_ok("a/../../x"));
        ck_assert(!vs_collect_name_ok("a/./b"));
        ck_assert(!vs_collect_name_ok("a//b"));
        ck_assert(!vs_collect_name_ok("a/"));
}
END_TEST

Suite *suite_collect(void)
{
        Suite *s = suite_create("collect");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, names);
        suite_add_tcase(s, tc);
        return s;
}
