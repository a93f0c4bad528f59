#include "result.h"
#include "tests.h"

#include <string.h>

START_TEST(merge_good_guest)
{
        json_t *r = vs_result_new("abc");
        const char *g = "{\"state\":\"ran\",\"exit_code\":3,\"kernel\":\"6.1\",\"docker_version\":\"20.10\","
                        "\"phases\":{\"run\":{\"start_ms\":100,\"end_ms\":250},\"bogus\":{\"start_ms\":1}},"
                        "\"repo_digests\":[\"a@sha256:1\"],\"extra\":\"ignored\"}";
        int code = -1;

        ck_assert_int_eq(vs_result_merge_guest(r, g, strlen(g), &code), 1);
        ck_assert_int_eq(code, 3);
        json_t *guest = json_object_get(r, "guest");
        ck_assert_str_eq(json_string_value(json_object_get(guest, "kernel")), "6.1");
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_object_get(guest, "phases"), "run"),
                                                            "duration_ms")),
                         150);
        ck_assert_ptr_null(json_object_get(json_object_get(guest, "phases"), "bogus"));
        ck_assert_ptr_null(json_object_get(guest, "extra"));
        json_decref(r);
}
END_TEST

START_TEST(merge_hostile_guest)
{
        json_t *r = vs_result_new("abc");
        int code = -1;
        const char *cases[] = {
                "not json",
                "[1,2]",
                "{\"state\":\"ran\",\"exit_code\":999}",
                "{\"state\":\"ran\",\"exit_code\":-1}",
                "{\"state\":\"ran\",\"exit_code\":\"0\"}",
                "{\"state\":\"error\",\"exit_code\":0}",
                "{\"state\":\"ran\",\"state\":\"ran\",\"exit_code\":0}",
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                ck_assert_int_le(vs_result_merge_guest(r, cases[i], strlen(cases[i]), &code), 0);
        ck_assert_int_eq(code, -1);
        json_decref(r);
}
END_TEST

START_TEST(status_and_phases)
{
        json_t *r = vs_result_new("abc");

        vs_result_phase(r, VS_PHASE_BOOT, 1);
        vs_result_phase(r, VS_PHASE_BOOT, 0);
        vs_result_set_status(r, VS_STATUS_FAILURE, 7, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "failure");
        ck_assert_int_eq(json_integer_value(json_object_get(r, "exit_code")), 7);
        ck_assert(json_is_integer(json_object_get(json_object_get(json_object_get(r, "phases"), "boot"), "duration_ms")));
        for (vs_status s = 0; s < VS_STATUS_LAST; s++)
                ck_assert_str_ne(vs_status_name(s), "invalid");
        for (vs_phase p = 0; p < VS_PHASE_LAST; p++)
                ck_assert_str_ne(vs_phase_name(p), "invalid");
        json_decref(r);
}
END_TEST

Suite *suite_result(void)
{
        Suite *s = suite_create("result");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, merge_good_guest);
        tcase_add_test(tc, merge_hostile_guest);
        tcase_add_test(tc, status_and_phases);
        suite_add_tcase(s, tc);
        return s;
}
