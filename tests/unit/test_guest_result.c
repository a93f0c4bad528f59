/* vs_result_merge_guest on hostile guest result.json, and guest/archive text
 * in the host's result record: exact values. */
#include "result.h"
#include "tests.h"

#include <stdlib.h>
#include <string.h>

static json_t *guest_of(json_t *r)
{
        return json_object_get(r, "guest");
}

static int merge(json_t *r, const char *text, int *code)
{
        return vs_result_merge_guest(r, text, strlen(text), code);
}

/* Regression: end_ms - start_ms overflowed (UB) for start_ms near INT64_MIN;
 * found by fuzz_guest_result once the library was instrumented. */
START_TEST(phase_times_cannot_overflow)
{
        json_t *r = vs_result_new("j");
        json_t *phases;
        int code = -1;

        ck_assert_int_eq(merge(r, "{\"state\":\"ran\",\"exit_code\":3,\"phases\":{"
                                  "\"load\":{\"start_ms\":-9223372036854775807,\"end_ms\":9223372036854775807},"
                                  "\"run\":{\"start_ms\":10,\"end_ms\":9223372036854775807},"
                                  "\"save\":{\"start_ms\":20,\"end_ms\":19}}}",
                               &code),
                         1);
        ck_assert_int_eq(code, 3);
        phases = json_object_get(guest_of(r), "phases");
        ck_assert_uint_eq(json_object_size(phases), 2);
        ck_assert_ptr_null(json_object_get(phases, "load"));
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(phases, "run"), "duration_ms")),
                         9223372036854775807LL - 10);
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(phases, "save"), "start_ms")), 20);
        ck_assert_ptr_null(json_object_get(json_object_get(phases, "save"), "duration_ms"));
        json_decref(r);
}
END_TEST

/* Regression: a guest string over the cap was dropped, losing the guest's
 * error; it is now cut at the cap on a character boundary. */
START_TEST(long_guest_string_capped_on_character)
{
        size_t n = 5000;
        char *text = malloc(n * 2 + 64), *p;
        json_t *r = vs_result_new("j");
        const char *err;
        int code = -1;

        p = text + sprintf(text, "{\"state\":\"error\",\"error\":\"x");
        for (size_t i = 0; i < n; i++)
                p += sprintf(p, "\xc3\xa9");
        strcpy(p, "\"}");
        ck_assert_int_eq(merge(r, text, &code), 0);
        ck_assert_int_eq(code, -1);
        err = json_string_value(json_object_get(guest_of(r), "error"));
        ck_assert_ptr_nonnull(err);
        ck_assert_uint_eq(strlen(err), 4095); /* "x" + 2047 two-byte characters */
        ck_assert_int_eq(err[0], 'x');
        ck_assert_int_eq(memcmp(err + 4093, "\xc3\xa9", 2), 0);
        json_decref(r);
        free(text);
}
END_TEST

/* The guest's result goes through the bounded loader: too deep, duplicate
 * keys, NUL escapes and non-objects are refused as a whole. */
START_TEST(hostile_documents_refused)
{
        static const char *const bad[] = {
                "{\"state\":\"ran\",\"state\":\"error\"}",
                "{\"state\":\"r\\u0000an\"}",
                "[1]",
                "",
                "{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_t *r = vs_result_new("j");
                int code = -1;

                ck_assert_msg(merge(r, bad[i], &code) == -1, "accepted %s", bad[i]);
                ck_assert_int_eq(code, -1);
                ck_assert_uint_eq(json_object_size(guest_of(r)), 0);
                json_decref(r);
        }
}
END_TEST

START_TEST(exit_code_only_when_ran)
{
        static const struct {
                const char *doc;
                int ran, code;
        } cases[] = {
                { "{\"state\":\"ran\",\"exit_code\":0}", 1, 0 },
                { "{\"state\":\"ran\",\"exit_code\":255}", 1, 255 },
                { "{\"state\":\"ran\",\"exit_code\":256}", 0, -1 },
                { "{\"state\":\"ran\",\"exit_code\":-1}", 0, -1 },
                { "{\"state\":\"ran\",\"exit_code\":\"0\"}", 0, -1 },
                { "{\"state\":\"error\",\"exit_code\":0}", 0, -1 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *r = vs_result_new("j");
                int code = -1;

                ck_assert_int_eq(merge(r, cases[i].doc, &code), cases[i].ran);
                ck_assert_int_eq(code, cases[i].code);
                json_decref(r);
        }
}
END_TEST

START_TEST(known_fields_only)
{
        json_t *r = vs_result_new("j");
        json_t *g, *d;
        int code = -1;

        ck_assert_int_eq(merge(r, "{\"state\":\"ran\",\"exit_code\":1,\"kernel\":\"6.1\",\"docker_version\":7,"
                                  "\"image_id\":\"sha256:ab\",\"evil\":\"x\",\"repo_digests\":[\"a@sha256:1\",2,\"b\"]}",
                               &code),
                         1);
        g = guest_of(r);
        ck_assert_str_eq(json_string_value(json_object_get(g, "state")), "ran");
        ck_assert_str_eq(json_string_value(json_object_get(g, "kernel")), "6.1");
        ck_assert_str_eq(json_string_value(json_object_get(g, "image_id")), "sha256:ab");
        ck_assert_ptr_null(json_object_get(g, "docker_version"));
        ck_assert_ptr_null(json_object_get(g, "evil"));
        d = json_object_get(g, "repo_digests");
        ck_assert_uint_eq(json_array_size(d), 2);
        ck_assert_str_eq(json_string_value(json_array_get(d, 0)), "a@sha256:1");
        ck_assert_str_eq(json_string_value(json_array_get(d, 1)), "b");
        json_decref(r);
}
END_TEST

/* Regression: an error text with invalid UTF-8 (a name quoted from an
 * archive) made json_string fail, and "error" silently stayed null. */
START_TEST(status_error_text_sanitised)
{
        json_t *r = vs_result_new("j");
        char *dump;

        vs_result_set_status(r, VS_STATUS_ERROR, -1, "bad entry \"\xff\x1b\"");
        ck_assert_str_eq(json_string_value(json_object_get(r, "error")), "bad entry \"\xef\xbf\xbd\x1b\"");
        ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "error");
        ck_assert(json_is_null(json_object_get(r, "exit_code")));
        dump = json_dumps(r, 0);
        ck_assert_ptr_nonnull(dump);
        free(dump);
        json_decref(r);
}
END_TEST

Suite *suite_guest_result(void)
{
        Suite *s = suite_create("guest_result");
        TCase *tc = tcase_create("guest_result");

        tcase_add_test(tc, phase_times_cannot_overflow);
        tcase_add_test(tc, long_guest_string_capped_on_character);
        tcase_add_test(tc, hostile_documents_refused);
        tcase_add_test(tc, exit_code_only_when_ran);
        tcase_add_test(tc, known_fields_only);
        tcase_add_test(tc, status_error_text_sanitised);
        suite_add_tcase(s, tc);
        return s;
}
