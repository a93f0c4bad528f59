#include "result.h"
#include "tests.h"

#include <string.h>

START_TEST(merge_good_guest)
{
        json_t *r = vs_result_new("abc");
        const char *g = "{\"state\":\"ran\",\"exit_code\":3,\"kernel\":\"6.1\",\"docker_version\":\"20.10\","
                        "\"phases\":{\"run\":{\"start_ms\":100,\"end_ms\":250},\"bogus\":{\"start_ms\":1},"
                        "\"load\":{\"start_ms\":300,\"end_ms\":200},\"save\":{\"end_ms\":9}},"
                        "\"repo_digests\":[\"a@sha256:1\"],\"extra\":\"ignored\"}";
        int code = -1;

        ck_assert_int_eq(vs_result_merge_guest(r, g, strlen(g), &code), 1);
        ck_assert_int_eq(code, 3);
        json_t *guest = json_object_get(r, "guest");
        ck_assert_str_eq(json_string_value(json_object_get(guest, "kernel")), "6.1");
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_object_get(guest, "phases"), "run"),
                                                            "duration_ms")),
                         150);
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_object_get(guest, "phases"), "run"),
                                                            "start_ms")),
                         100);
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_object_get(guest, "phases"), "run"),
                                                            "end_ms")),
                         250);
        ck_assert_str_eq(json_string_value(json_object_get(guest, "state")), "ran");
        ck_assert_str_eq(json_string_value(json_object_get(guest, "docker_version")), "20.10");
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(guest, "repo_digests"), 0)), "a@sha256:1");
        ck_assert_uint_eq(json_array_size(json_object_get(guest, "repo_digests")), 1);
        ck_assert_ptr_null(json_object_get(json_object_get(guest, "phases"), "bogus"));
        /* an end before the start is dropped; a phase without a start is not kept */
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_object_get(guest, "phases"), "load"),
                                                            "start_ms")),
                         300);
        ck_assert_ptr_null(json_object_get(json_object_get(json_object_get(guest, "phases"), "load"), "end_ms"));
        ck_assert_ptr_null(json_object_get(json_object_get(json_object_get(guest, "phases"), "load"), "duration_ms"));
        ck_assert_ptr_null(json_object_get(json_object_get(guest, "phases"), "save"));
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
        json_t *boot;
        json_int_t end;

        ck_assert_str_eq(json_string_value(json_object_get(r, "job_id")), "abc");
        ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "error");
        vs_result_phase(r, VS_PHASE_BOOT, 1);
        boot = json_object_get(json_object_get(r, "phases"), "boot");
        ck_assert(json_is_integer(json_object_get(boot, "start_ms")));
        ck_assert_ptr_null(json_object_get(boot, "duration_ms"));
        /* A start 5 s in the past: the duration must be end - start, exactly. */
        json_object_set_new(boot, "start_ms", json_integer(json_integer_value(json_object_get(boot, "start_ms")) - 5000));
        vs_result_phase(r, VS_PHASE_BOOT, 0);
        end = json_integer_value(json_object_get(boot, "end_ms"));
        ck_assert_int_ge(json_integer_value(json_object_get(boot, "duration_ms")), 5000);
        ck_assert_int_eq(json_integer_value(json_object_get(boot, "duration_ms")),
                         end - json_integer_value(json_object_get(boot, "start_ms")));
        vs_result_phase(r, VS_PHASE_COLLECT, 1);
        ck_assert_ptr_nonnull(json_object_get(json_object_get(r, "phases"), "collect"));
        ck_assert_ptr_null(json_object_get(json_object_get(r, "phases"), "wait"));

        vs_result_set_status(r, VS_STATUS_FAILURE, 7, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "failure");
        ck_assert_int_eq(json_integer_value(json_object_get(r, "exit_code")), 7);
        ck_assert(json_is_null(json_object_get(r, "error")));
        vs_result_set_status(r, VS_STATUS_TIMEOUT, -1, "took too long");
        ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "timeout");
        ck_assert(json_is_null(json_object_get(r, "exit_code")));
        ck_assert_str_eq(json_string_value(json_object_get(r, "error")), "took too long");
        vs_result_set_status(r, VS_STATUS_SUCCESS, 0, NULL);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "exit_code")), 0);
        ck_assert(json_is_integer(json_object_get(r, "exit_code")));
        json_decref(r);
}
END_TEST

/* The names are part of result.json's documented format. */
START_TEST(names)
{
        static const char *const statuses[] = { "success", "failure", "timeout", "cancelled", "error" };
        static const char *const phases[] = { "validate", "prepare", "boot", "wait", "collect", "cleanup" };

        ck_assert_int_eq(VS_STATUS_LAST, 5);
        ck_assert_int_eq(VS_PHASE_LAST, 6);
        for (vs_status s = 0; s < VS_STATUS_LAST; s++)
                ck_assert_str_eq(vs_status_name(s), statuses[s]);
        for (vs_phase p = 0; p < VS_PHASE_LAST; p++)
                ck_assert_str_eq(vs_phase_name(p), phases[p]);
        ck_assert_str_eq(vs_status_name(VS_STATUS_LAST), "invalid");
        ck_assert_str_eq(vs_phase_name(VS_PHASE_LAST), "invalid");
}
END_TEST

Suite *suite_result(void)
{
        Suite *s = suite_create("result");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, merge_good_guest);
        tcase_add_test(tc, merge_hostile_guest);
        tcase_add_test(tc, status_and_phases);
        tcase_add_test(tc, names);
        suite_add_tcase(s, tc);
        return s;
}
