/* jsonload.c: the bounded loader for untrusted JSON, exact errors. */
#include "jsonload.h"
#include "tests.h"

#include <stdlib.h>
#include <string.h>

static void expect_refused(const char *text, size_t len, size_t max_len, int depth, const char *want)
{
        vs_error err = { 0 };
        json_t *j = vs_json_load_bounded(text, len, max_len, depth, VS_ERR_INPUT, &err);

        ck_assert_ptr_null(j);
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        ck_assert_str_eq(err.msg, want);
}

static char *nested(int levels)
{
        char *s = malloc((size_t)levels * 2 + 1);

        for (int i = 0; i < levels; i++) {
                s[i] = '[';
                s[levels * 2 - 1 - i] = ']';
        }
        s[levels * 2] = '\0';
        return s;
}

START_TEST(depth_counts_structure_only)
{
        ck_assert_int_eq(vs_json_depth("", 0), 0);
        ck_assert_int_eq(vs_json_depth("1", 1), 0);
        ck_assert_int_eq(vs_json_depth("[]", 2), 1);
        ck_assert_int_eq(vs_json_depth("[{},[{}]]", 9), 3);
        ck_assert_int_eq(vs_json_depth("{\"a\":\"[[[[\"}", 12), 1);
        ck_assert_int_eq(vs_json_depth("[\"\\\"[[[\"]", 10), 1); /* an escaped quote does not end the string */
        ck_assert_int_eq(vs_json_depth("[\"\\\\\",[[]]]", 12), 3); /* an escaped backslash does */
}
END_TEST

START_TEST(depth_limit_exact)
{
        vs_error err = { 0 };
        char *ok = nested(VS_JSON_DEPTH_MAX), *deep = nested(VS_JSON_DEPTH_MAX + 1), *huge = nested(100000);
        json_t *j = vs_json_load_bounded(ok, strlen(ok), 1 << 20, VS_JSON_DEPTH_MAX, VS_ERR_USAGE, &err);

        ck_assert_ptr_nonnull(j);
        json_decref(j);
        expect_refused(deep, strlen(deep), 1 << 20, VS_JSON_DEPTH_MAX, "JSON nested deeper than 32 levels");
        expect_refused(huge, strlen(huge), 1 << 20, VS_JSON_DEPTH_MAX, "JSON nested deeper than 32 levels");
        free(ok);
        free(deep);
        free(huge);
}
END_TEST

START_TEST(duplicates_and_nul_refused)
{
        static const char nul[] = "{\"a\":1,\0\"b\":2}"; /* jansson stops at the NUL */

        expect_refused("{\"a\":1,\"a\":2}", 13, 100, 8,
                       "malformed JSON: duplicate object key near '\"a\"' (line 1)");
        expect_refused(nul, sizeof(nul) - 1, 100, 8, "malformed JSON: string or '}' expected near end of file (line 1)");
        expect_refused("{\"a\":\"\\u0000\"}", 14, 100, 8,
                       "malformed JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"\\u0000\"' (line 1)");
}
END_TEST

START_TEST(size_cap_and_empty)
{
        vs_error err = { 0 };
        json_t *j = vs_json_load_bounded("[1,2,3,4]", 9, 9, 8, VS_ERR_INPUT, &err);

        ck_assert_ptr_nonnull(j);
        ck_assert_uint_eq(json_array_size(j), 4);
        json_decref(j);
        expect_refused("[1,2,3,45]", 10, 9, 8, "JSON document larger than 9 bytes");
        expect_refused("", 0, 9, 8, "a JSON document is required");
        expect_refused(NULL, 5, 9, 8, "a JSON document is required");
        expect_refused("{\"a\":", 5, 9, 8, "malformed JSON: unexpected token near end of file (line 1)");
}
END_TEST

Suite *suite_jsonload(void)
{
        Suite *s = suite_create("jsonload");
        TCase *tc = tcase_create("jsonload");

        tcase_add_test(tc, depth_counts_structure_only);
        tcase_add_test(tc, depth_limit_exact);
        tcase_add_test(tc, duplicates_and_nul_refused);
        tcase_add_test(tc, size_cap_and_empty);
        suite_add_tcase(s, tc);
        return s;
}
