#include "spec.h"
#include "strv.h"
#include "tests.h"

#include <string.h>

static vs_spec valid(void)
{
        vs_spec s;

        vs_spec_init(&s);
        s.image = strdup("/tmp/x.tar");
        return s;
}

START_TEST(defaults_validate)
{
        vs_spec s = valid();
        vs_error err = { 0 };

        ck_assert_int_eq(vs_spec_validate(&s, &err), 0);
        ck_assert_uint_eq(s.memory, 1ull << 30);
        ck_assert_uint_eq(s.cpus, 1);
        ck_assert_uint_eq(s.disk, 4ull << 30);
        ck_assert_uint_eq(s.timeout_ms, 600000);
        vs_spec_clear(&s);
}
END_TEST

static void expect_invalid(vs_spec *s, const char *needle)
{
        vs_error err = { 0 };

        ck_assert_int_eq(vs_spec_validate(s, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_USAGE);
        ck_assert_msg(strstr(err.msg, needle), "\"%s\" does not name %s", err.msg, needle);
}

START_TEST(out_of_range)
{
        vs_spec s = valid();

        s.memory = 1 << 20;
        expect_invalid(&s, "--memory");
        s.memory = 1ull << 30;
        s.cpus = 0;
        expect_invalid(&s, "--cpus");
        s.cpus = 1000;
        expect_invalid(&s, "--cpus");
        s.cpus = 1;
        s.disk = 1 << 20;
        expect_invalid(&s, "--disk");
        s.disk = 4ull << 40;
        expect_invalid(&s, "--disk");
        s.disk = 4ull << 30;
        s.timeout_ms = 10;
        expect_invalid(&s, "--timeout");
        s.timeout_ms = 60000;
        s.mount_at = strdup("relative");
        expect_invalid(&s, "--mount-at");
        free(s.mount_at);
        s.mount_at = strdup("/erc/../etc");
        expect_invalid(&s, "--mount-at");
        free(s.mount_at);
        s.mount_at = strdup("/");
        expect_invalid(&s, "--mount-at");
        free(s.mount_at);
        s.mount_at = strdup("/data,readonly");
        expect_invalid(&s, "--mount-at");
        free(s.mount_at);
        s.mount_at = NULL;
        s.user = strdup("root");
        expect_invalid(&s, "--user");
        free(s.user);
        s.user = strdup("1000:");
        expect_invalid(&s, "--user");
        free(s.user);
        s.user = strdup("1000:1000");
        {
                vs_error err = { 0 };
                ck_assert_int_eq(vs_spec_validate(&s, &err), 0);
        }
        vs_spec_clear(&s);
}
END_TEST

/* The limits themselves are accepted, one past them is not. */
START_TEST(bounds_exact)
{
        vs_spec s = valid();
        vs_error err = { 0 };

        s.memory = VS_MEMORY_MIN;
        ck_assert_int_eq(vs_spec_validate(&s, &err), 0);
        s.memory = VS_MEMORY_MIN - 1;
        expect_invalid(&s, "--memory");
        s.memory = VS_MEMORY_MAX;
        ck_assert_int_eq(vs_spec_validate(&s, &err), 0);
        s.memory = VS_MEMORY_MAX + 1;
        expect_invalid(&s, "--memory");
        s.memory = 1ull << 30;
        s.cpus = VS_CPUS_MAX;
        ck_assert_int_eq(vs_spec_validate(&s, &err), 0);
        s.cpus = VS_CPUS_MAX + 1;
        expect_invalid(&s, "--cpus");
        s.cpus = 2;
        s.disk = VS_DISK_MIN;
        ck_assert_int_eq(vs_spec_validate(&s, &err), 0);
        s.disk = VS_DISK_MAX + 1;
        expect_invalid(&s, "--disk");
        s.disk = VS_DISK_MAX;
        ck_assert_int_eq(vs_spec_validate(&s, &err), 0);
        s.timeout_ms = VS_TIMEOUT_MIN_MS;
        ck_assert_int_eq(vs_spec_validate(&s, &err), 0);
        s.timeout_ms = VS_TIMEOUT_MAX_MS + 1;
        expect_invalid(&s, "--timeout");
        s.timeout_ms = VS_TIMEOUT_MAX_MS;
        ck_assert_int_eq(vs_spec_validate(&s, &err), 0);
        s.network = VS_NETWORK_LAST;
        expect_invalid(&s, "--network");
        s.network = VS_NETWORK_NAT;
        s.workdir = strdup("relative/dir");
        expect_invalid(&s, "--workdir");
        free(s.workdir);
        s.workdir = strdup("/a/../../etc");
        expect_invalid(&s, "--workdir");
        free(s.workdir);
        s.workdir = strdup("/");
        ck_assert_int_eq(vs_spec_validate(&s, &err), 0);
        s.tag = strdup("has space:1");
        expect_invalid(&s, "--tag");
        free(s.tag);
        s.tag = strdup("demo/app:1");
        ck_assert_int_eq(vs_spec_validate(&s, &err), 0);
        /* a tag alone (a preloaded image) is enough; neither is not */
        free(s.image);
        s.image = NULL;
        ck_assert_int_eq(vs_spec_validate(&s, &err), 0);
        free(s.tag);
        s.tag = NULL;
        expect_invalid(&s, "--image");
        vs_spec_clear(&s);
}
END_TEST

START_TEST(env_and_args)
{
        vs_spec s = valid();
        vs_error err = { 0 };

        ck_assert_int_eq(vs_spec_add_env(&s, "FOO=bar", &err), 0);
        ck_assert_int_eq(vs_spec_add_env(&s, "_X1=", &err), 0);
        ck_assert_int_eq(vs_spec_add_env(&s, "NOEQUALS", &err), -1);
        ck_assert_int_eq(vs_spec_add_env(&s, "1BAD=x", &err), -1);
        ck_assert_int_eq(vs_spec_add_env(&s, "BAD-KEY=x", &err), -1);
        ck_assert_int_eq(vs_spec_add_env(&s, "=x", &err), -1);
        for (int i = 2; i < VS_ENV_MAX; i++)
                ck_assert_int_eq(vs_spec_add_env(&s, "K=v", &err), 0);
        ck_assert_int_eq(vs_spec_add_env(&s, "K=v", &err), -1);
        ck_assert_int_eq(vs_spec_add_arg(&s, "echo", &err), 0);
        ck_assert_str_eq(s.cmd[0], "echo");
        vs_spec_clear(&s);
}
END_TEST

START_TEST(guest_json)
{
        vs_spec s = valid();
        vs_error err = { 0 };
        json_t *j;

        vs_spec_add_env(&s, "A=1", &err);
        vs_spec_add_arg(&s, "sh", &err);
        s.network = VS_NETWORK_NAT;
        s.export_image = true;
        j = vs_spec_guest_json(&s, "demo/app:1");
        ck_assert_str_eq(json_string_value(json_object_get(j, "ref")), "demo/app:1");
        ck_assert_str_eq(json_string_value(json_object_get(j, "network")), "nat");
        ck_assert_str_eq(json_string_value(json_object_get(j, "mount_at")), "/erc");
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "cmd"), 0)), "sh");
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "env"), 0)), "A=1");
        ck_assert(json_is_true(json_object_get(j, "export_image")));
        ck_assert(json_is_null(json_object_get(j, "user")));
        ck_assert(json_is_null(json_object_get(j, "workdir")));
        ck_assert_uint_eq(json_array_size(json_object_get(j, "cmd")), 1);
        ck_assert_uint_eq(json_array_size(json_object_get(j, "env")), 1);
        json_decref(j);
        s.user = strdup("1000:100");
        s.workdir = strdup("/data/sub");
        s.mount_at = strdup("/data");
        s.export_image = false;
        s.network = VS_NETWORK_NONE;
        j = vs_spec_guest_json(&s, "sha256:abc");
        ck_assert_str_eq(json_string_value(json_object_get(j, "ref")), "sha256:abc");
        ck_assert_str_eq(json_string_value(json_object_get(j, "user")), "1000:100");
        ck_assert_str_eq(json_string_value(json_object_get(j, "workdir")), "/data/sub");
        ck_assert_str_eq(json_string_value(json_object_get(j, "mount_at")), "/data");
        ck_assert_str_eq(json_string_value(json_object_get(j, "network")), "none");
        ck_assert(json_is_false(json_object_get(j, "export_image")));
        json_decref(j);
        vs_spec_clear(&s);
        /* no command: the image's own */
        s = valid();
        j = vs_spec_guest_json(&s, "x:1");
        ck_assert(json_is_null(json_object_get(j, "cmd")));
        json_decref(j);
        vs_spec_clear(&s);
}
END_TEST

/* The entrypoint: null is the image's, [] a reset, words as given; in the
 * guest's JSON, the API's JSON and back. */
START_TEST(entrypoint_json)
{
        static const struct {
                const char *json;
                int words; /* -1: NULL */
                const char *first;
                const char *guest;
        } cases[] = {
                { "{\"entrypoint\": null}", -1, NULL, "null" },
                { "{}", -1, NULL, "null" },
                { "{\"entrypoint\": []}", 0, NULL, "[]" },
                { "{\"entrypoint\": [\"\"]}", 1, "", "[\"\"]" },
                { "{\"entrypoint\": [\"/bin/sh\", \"-c\"]}", 2, "/bin/sh", "[\"/bin/sh\", \"-c\"]" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *in = json_loads(cases[i].json, 0, NULL), *g, *api, *want = json_loads(cases[i].guest, JSON_DECODE_ANY, NULL);
                vs_spec s, back;
                vs_error err = { 0 };

                ck_assert_int_eq(vs_spec_from_json(in, &s, &err), 0);
                if (cases[i].words < 0) {
                        ck_assert_ptr_null(s.entrypoint);
                } else {
                        ck_assert_uint_eq(vs_strv_length(s.entrypoint), (size_t)cases[i].words);
                        if (cases[i].first)
                                ck_assert_str_eq(s.entrypoint[0], cases[i].first);
                }
                g = vs_spec_guest_json(&s, "x:1");
                ck_assert_msg(json_equal(json_object_get(g, "entrypoint"), want), "case %zu", i);
                api = vs_spec_to_json(&s);
                ck_assert_int_eq(vs_spec_from_json(api, &back, &err), 0);
                ck_assert_uint_eq(back.entrypoint == NULL, s.entrypoint == NULL);
                ck_assert_uint_eq(vs_strv_length(back.entrypoint), vs_strv_length(s.entrypoint));
                for (size_t k = 0; s.entrypoint && s.entrypoint[k]; k++)
                        ck_assert_str_eq(back.entrypoint[k], s.entrypoint[k]);
                vs_spec_clear(&s);
                vs_spec_clear(&back);
                json_decref(in);
                json_decref(g);
                json_decref(api);
                json_decref(want);
        }
}
END_TEST

START_TEST(docker_socket_json)
{
        json_t *in = json_pack("{s:s}", "docker_socket", "/var/run/docker.sock"), *g, *api;
        vs_spec s, back;
        vs_error err = { 0 };

        ck_assert_int_eq(vs_spec_from_json(in, &s, &err), 0);
        s.image = strdup("/x.tar");
        ck_assert_int_eq(vs_spec_validate(&s, &err), 0);
        g = vs_spec_guest_json(&s, "x:1");
        ck_assert_str_eq(json_string_value(json_object_get(g, "docker_socket")), "/var/run/docker.sock");
        api = vs_spec_to_json(&s);
        ck_assert_int_eq(vs_spec_from_json(api, &back, &err), 0);
        ck_assert_str_eq(back.docker_socket, "/var/run/docker.sock");
        free(s.docker_socket);
        s.docker_socket = strdup("/a,b");
        ck_assert_int_eq(vs_spec_validate(&s, &err), -1);
        ck_assert_str_eq(err.msg, "docker_socket must be an absolute path other than / without '..', ':' or ','");
        vs_spec_clear(&s);
        vs_spec_clear(&back);
        json_decref(g);
        json_decref(api);
        json_decref(in);
        vs_spec_init(&s);
        g = vs_spec_guest_json(&s, "x:1");
        ck_assert(json_is_null(json_object_get(g, "docker_socket")));
        json_decref(g);
}
END_TEST

START_TEST(entrypoint_rejects)
{
        static const struct {
                const char *json, *msg;
        } cases[] = {
                { "{\"entrypoint\": \"/bin/sh\"}", "field \"entrypoint\" must be an array of strings or null" },
                { "{\"entrypoint\": [\"sh\", 1]}", "field \"entrypoint\" must be an array of strings without NUL bytes" },
                { "{\"entrypoint\": [\"a\\u0000b\"]}", "field \"entrypoint\" must be an array of strings without NUL bytes" },
        };
        json_t *big = json_pack("{s:[]}", "entrypoint");
        vs_spec s;
        vs_error err = { 0 };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *in = json_loads(cases[i].json, JSON_ALLOW_NUL, NULL);
                ck_assert_ptr_nonnull(in);
                ck_assert_int_eq(vs_spec_from_json(in, &s, &err), -1);
                ck_assert_str_eq(err.msg, cases[i].msg);
                json_decref(in);
        }
        for (int i = 0; i < VS_ARGS_MAX; i++)
                json_array_append_new(json_object_get(big, "entrypoint"), json_string("w"));
        ck_assert_int_eq(vs_spec_from_json(big, &s, &err), 0);
        ck_assert_uint_eq(vs_strv_length(s.entrypoint), VS_ARGS_MAX);
        vs_spec_clear(&s);
        json_array_append_new(json_object_get(big, "entrypoint"), json_string("w"));
        ck_assert_int_eq(vs_spec_from_json(big, &s, &err), -1);
        ck_assert_str_eq(err.msg, "field \"entrypoint\" has more than 1024 words");
        json_decref(big);
}
END_TEST

START_TEST(network_names)
{
        vs_network n;

        ck_assert_int_eq(vs_network_parse("nat", &n), 0);
        ck_assert_int_eq(n, VS_NETWORK_NAT);
        ck_assert_int_eq(vs_network_parse("host", &n), -1);
}
END_TEST

START_TEST(from_json)
{
        /* Every value differs from vs_spec_init's default, so a field the
         * parser drops cannot go unnoticed. */
        json_t *j = json_loads("{\"image\":\"/srv/a.tar\",\"memory\":\"2G\",\"cpus\":3,\"disk\":1073741824,"
                               "\"timeout\":90,\"network\":\"nat\",\"env\":{\"A\":\"1\"},\"cmd\":[\"sh\",\"-c\",\"x\"],"
                               "\"export_image\":true,\"user\":\"1000\",\"tag\":\"demo/app:1\","
                               "\"workspace\":\"/srv/ws\",\"mount_at\":\"/data\",\"workdir\":\"/data/sub\"}",
                               0, NULL);
        vs_spec s;
        vs_error err = { 0 };

        ck_assert_ptr_nonnull(j);
        ck_assert_int_eq(vs_spec_from_json(j, &s, &err), 0);
        ck_assert_str_eq(s.image, "/srv/a.tar");
        ck_assert_str_eq(s.tag, "demo/app:1");
        ck_assert_str_eq(s.workspace, "/srv/ws");
        ck_assert_str_eq(s.mount_at, "/data");
        ck_assert_str_eq(s.workdir, "/data/sub");
        ck_assert_str_eq(s.user, "1000");
        ck_assert_uint_eq(s.memory, 2ull << 30);
        ck_assert_uint_eq(s.cpus, 3);
        ck_assert_uint_eq(s.disk, 1ull << 30);
        ck_assert_uint_eq(s.timeout_ms, 90000);
        ck_assert_int_eq(s.network, VS_NETWORK_NAT);
        ck_assert_str_eq(s.env[0], "A=1");
        ck_assert_ptr_null(s.env[1]);
        ck_assert_str_eq(s.cmd[0], "sh");
        ck_assert_str_eq(s.cmd[1], "-c");
        ck_assert_str_eq(s.cmd[2], "x");
        ck_assert_ptr_null(s.cmd[3]);
        ck_assert(s.export_image);
        ck_assert_int_eq(vs_spec_validate(&s, &err), 0);
        vs_spec_clear(&s);
        json_decref(j);
}
END_TEST

/* Sizes and durations in their string and number forms. */
START_TEST(from_json_units)
{
        json_t *j = json_loads("{\"memory\":805306368,\"disk\":\"3G\",\"timeout\":\"1h30m\",\"env\":[\"B=2\",\"C=\"]}", 0,
                               NULL);
        vs_spec s;
        vs_error err = { 0 };

        ck_assert_int_eq(vs_spec_from_json(j, &s, &err), 0);
        ck_assert_uint_eq(s.memory, 768ull << 20);
        ck_assert_uint_eq(s.disk, 3ull << 30);
        ck_assert_uint_eq(s.timeout_ms, 5400000);
        ck_assert_str_eq(s.env[0], "B=2");
        ck_assert_str_eq(s.env[1], "C=");
        ck_assert_ptr_null(s.env[2]);
        /* absent fields keep their defaults */
        ck_assert_uint_eq(s.cpus, 1);
        ck_assert_int_eq(s.network, VS_NETWORK_NONE);
        ck_assert(!s.export_image);
        ck_assert_ptr_null(s.image);
        ck_assert_ptr_null(s.cmd);
        vs_spec_clear(&s);
        json_decref(j);
}
END_TEST

START_TEST(from_json_rejects)
{
        const char *cases[][2] = {
                { "[]", "must be a JSON object" },
                { "{\"image\":\"a\",\"bogus\":1}", "unknown field \"bogus\"" },
                { "{\"image\":5}", "field \"image\" must be a string" },
                { "{\"memory\":\"lots\"}", "field \"memory\"" },
                { "{\"memory\":-5}", "field \"memory\"" },
                { "{\"cpus\":0}", "field \"cpus\"" },
                { "{\"cpus\":\"2\"}", "field \"cpus\"" },
                { "{\"timeout\":99999999999}", "field \"timeout\"" },
                { "{\"network\":\"host\"}", "field \"network\"" },
                { "{\"env\":[1]}", "field \"env\"" },
                { "{\"env\":{\"1X\":\"y\"}}", "KEY=VALUE" },
                { "{\"cmd\":\"sh\"}", "field \"cmd\"" },
                { "{\"export_image\":\"yes\"}", "field \"export_image\"" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *j = json_loads(cases[i][0], 0, NULL);
                vs_spec s;
                vs_error err = { 0 };

                ck_assert_ptr_nonnull(j);
                ck_assert_int_eq(vs_spec_from_json(j, &s, &err), -1);
                ck_assert_msg(strstr(err.msg, cases[i][1]), "%s: \"%s\" lacks \"%s\"", cases[i][0], err.msg,
                              cases[i][1]);
                json_decref(j);
        }
}
END_TEST

/* Every field of vs_spec, each set to a value other than its default, must
 * come back unchanged through the API JSON (the service stores specs so). */
START_TEST(json_round_trip)
{
        vs_spec a, b;
        vs_error err = { 0 };
        json_t *j;

        vs_spec_init(&a);
        a.image = strdup("/srv/img.tar");
        a.tag = strdup("demo/app:2");
        a.workspace = strdup("/srv/ws");
        a.mount_at = strdup("/data");
        a.memory = 3ull << 30;
        a.cpus = 5;
        a.disk = 7ull << 30;
        a.timeout_ms = 1500;
        a.network = VS_NETWORK_NAT;
        a.user = strdup("7:8");
        a.workdir = strdup("/data/sub");
        a.export_image = true;
        ck_assert_int_eq(vs_spec_add_env(&a, "K=v=w", &err), 0);
        ck_assert_int_eq(vs_spec_add_env(&a, "EMPTY=", &err), 0);
        ck_assert_int_eq(vs_spec_add_arg(&a, "echo", &err), 0);
        ck_assert_int_eq(vs_spec_add_arg(&a, "two words", &err), 0);
        ck_assert_int_eq(vs_spec_validate(&a, &err), 0);
        j = vs_spec_to_json(&a);
        ck_assert_int_eq(vs_spec_from_json(j, &b, &err), 0);
        ck_assert_str_eq(b.image, "/srv/img.tar");
        ck_assert_str_eq(b.tag, "demo/app:2");
        ck_assert_str_eq(b.workspace, "/srv/ws");
        ck_assert_str_eq(b.mount_at, "/data");
        ck_assert_uint_eq(b.memory, 3ull << 30);
        ck_assert_uint_eq(b.cpus, 5);
        ck_assert_uint_eq(b.disk, 7ull << 30);
        ck_assert_uint_eq(b.timeout_ms, 1500);
        ck_assert_int_eq(b.network, VS_NETWORK_NAT);
        ck_assert_str_eq(b.user, "7:8");
        ck_assert_str_eq(b.workdir, "/data/sub");
        ck_assert(b.export_image);
        ck_assert_str_eq(b.env[0], "K=v=w");
        ck_assert_str_eq(b.env[1], "EMPTY=");
        ck_assert_ptr_null(b.env[2]);
        ck_assert_str_eq(b.cmd[0], "echo");
        ck_assert_str_eq(b.cmd[1], "two words");
        ck_assert_ptr_null(b.cmd[2]);
        json_decref(j);
        vs_spec_clear(&b);

        /* ... and the defaults and absent optional fields come back as such. */
        vs_spec_clear(&a);
        j = vs_spec_to_json(&a);
        ck_assert_int_eq(vs_spec_from_json(j, &b, &err), 0);
        ck_assert_ptr_null(b.image);
        ck_assert_ptr_null(b.tag);
        ck_assert_ptr_null(b.workspace);
        ck_assert_ptr_null(b.mount_at);
        ck_assert_ptr_null(b.user);
        ck_assert_ptr_null(b.workdir);
        ck_assert_ptr_null(b.cmd);
        ck_assert(b.env == NULL || b.env[0] == NULL);
        ck_assert_uint_eq(b.memory, 1ull << 30);
        ck_assert_uint_eq(b.cpus, 1);
        ck_assert_uint_eq(b.disk, 4ull << 30);
        ck_assert_uint_eq(b.timeout_ms, 600000);
        ck_assert_int_eq(b.network, VS_NETWORK_NONE);
        ck_assert(!b.export_image);
        json_decref(j);
        vs_spec_clear(&b);
}
END_TEST

Suite *suite_spec(void)
{
        Suite *s = suite_create("spec");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, defaults_validate);
        tcase_add_test(tc, out_of_range);
        tcase_add_test(tc, bounds_exact);
        tcase_add_test(tc, env_and_args);
        tcase_add_test(tc, guest_json);
        tcase_add_test(tc, entrypoint_json);
        tcase_add_test(tc, entrypoint_rejects);
        tcase_add_test(tc, docker_socket_json);
        tcase_add_test(tc, network_names);
        tcase_add_test(tc, from_json);
        tcase_add_test(tc, from_json_units);
        tcase_add_test(tc, from_json_rejects);
        tcase_add_test(tc, json_round_trip);
        suite_add_tcase(s, tc);
        return s;
}
