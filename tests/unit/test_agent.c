/* The guest agent's code that runs without a VM: the Engine API's requests
 * and the parsing of its answers (engine_api.c), the HTTP client on hostile
 * answers (engine_http.c, fed by a child over a socketpair), and child
 * processes (spawn.c): capture bounds, exit codes, a failed fork, closed
 * std fds. */
#include "agent.h"
#include "cleanup.h"
#include "io.h"
#include "protocol.h"
#include "tarwriter.h"
#include "tests.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static json_t *spec_of(const char *text)
{
        json_error_t jerr;
        json_t *j = json_loads(text, 0, &jerr);

        ck_assert_msg(j != NULL, "bad test JSON: %s", jerr.text);
        return j;
}

/* ---- engine_api.c: requests ------------------------------------------- */

static char *create_body(const char *spec_text, unsigned long memory_kib, vs_error *err)
{
        _cleanup_json_ json_t *spec = spec_of(spec_text);

        return engine_create_body(spec, memory_kib, err);
}

/* The body the docker CLI's `create` sent for the same flags: the
 * workspace bind, no swap, the user, workdir and env as given. */
START_TEST(create_body_exact)
{
        vs_error err = { 0 };
        _cleanup_free_ char *b = create_body(
                "{\"ref\":\"demo/hello:1\",\"cmd\":[\"sh\",\"-c\",\"echo hi\"],\"env\":[\"A=1\",\"B=two words\"],"
                "\"user\":\"1000:1000\",\"workdir\":\"/erc/sub\",\"mount_at\":\"/erc\",\"network\":\"none\","
                "\"workspace\":true,\"load\":true,\"export_image\":false}",
                358400, &err);

        ck_assert_str_eq(b, "{\"AttachStderr\":true,\"AttachStdout\":true,\"Cmd\":[\"sh\",\"-c\",\"echo hi\"],"
                            "\"Env\":[\"A=1\",\"B=two words\"],\"HostConfig\":{\"Memory\":367001600,"
                            "\"MemorySwap\":367001600,\"Mounts\":[{\"ReadOnly\":false,\"Source\":\"/job/workspace\","
                            "\"Target\":\"/erc\",\"Type\":\"bind\"}],\"NetworkMode\":\"none\"},\"Image\":\"demo/hello:1\","
                            "\"Tty\":false,\"User\":\"1000:1000\",\"WorkingDir\":\"/erc/sub\"}");
}
END_TEST

START_TEST(create_body_minimal_nat)
{
        vs_error err = { 0 };
        _cleanup_free_ char *b = create_body("{\"ref\":\"x:1\",\"cmd\":null,\"env\":[],\"user\":null,\"workdir\":null,"
                                             "\"mount_at\":\"/erc\",\"network\":\"nat\"}",
                                             0, &err);

        ck_assert_str_eq(b, "{\"AttachStderr\":true,\"AttachStdout\":true,\"Env\":[],\"HostConfig\":{\"Mounts\":[],"
                            "\"NetworkMode\":\"bridge\"},\"Image\":\"x:1\",\"Tty\":false}");
}
END_TEST

/* A container's binds at their targets (ro ones read-only), its hostname,
 * its terminal and the VM's engine socket. */
START_TEST(create_body_binds_hostname_tty)
{
        vs_error err = { 0 };
        _cleanup_free_ char *b = create_body(
                "{\"ref\":\"x:1\",\"network\":\"none\",\"hostname\":\"h1\",\"tty\":true,\"binds\":["
                "{\"target\":\"/erc\",\"ro\":false,\"file\":false},{\"target\":\"/erc/a.csv\",\"ro\":true,\"file\":true},"
                "{\"target\":\"/in\",\"ro\":true,\"file\":false}],\"docker_socket\":\"/var/run/docker.sock\"}",
                0, &err);
        static const char *const bad[] = {
                "{\"ref\":\"x:1\",\"binds\":[{\"target\":\"a\",\"ro\":true}]}",
                "{\"ref\":\"x:1\",\"binds\":[{\"target\":\"/a\"}]}",
                "{\"ref\":\"x:1\",\"binds\":[{\"target\":7,\"ro\":true}]}",
                "{\"ref\":\"x:1\",\"binds\":{}}",
                "{\"ref\":\"x:1\",\"binds\":[{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}]}",
        };

        ck_assert_str_eq(b, "{\"AttachStderr\":true,\"AttachStdout\":true,\"Env\":[],\"HostConfig\":{\"Mounts\":["
                            "{\"ReadOnly\":false,\"Source\":\"/job/binds/0\",\"Target\":\"/erc\",\"Type\":\"bind\"},"
                            "{\"ReadOnly\":true,\"Source\":\"/job/binds/1\",\"Target\":\"/erc/a.csv\",\"Type\":\"bind\"},"
                            "{\"ReadOnly\":true,\"Source\":\"/job/binds/2\",\"Target\":\"/in\",\"Type\":\"bind\"},"
                            "{\"ReadOnly\":false,\"Source\":\"/run/docker.sock\",\"Target\":\"/var/run/docker.sock\","
                            "\"Type\":\"bind\"}],\"NetworkMode\":\"none\"},\"Hostname\":\"h1\",\"Image\":\"x:1\",\"Tty\":true}");
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *v = create_body(bad[i], 0, &err);

                ck_assert_msg(v == NULL, "%s", bad[i]);
                ck_assert_msg(strncmp(err.msg, "spec.json: binds", 16) == 0, "%s", err.msg);
        }
}
END_TEST

/* The docker CLI's wire mapping of an entrypoint array: its first word is
 * the Entrypoint, the rest goes before the cmd; an empty one is [""]. */
START_TEST(create_body_entrypoint)
{
        static const struct {
                const char *entrypoint, *fields;
        } cases[] = {
                { "null", "\"Cmd\":[\"a\",\"b\"],\"Env\"" },
                { "[\"/bin/sh\"]", "\"Cmd\":[\"a\",\"b\"],\"Entrypoint\":[\"/bin/sh\"],\"Env\"" },
                { "[\"/bin/sh\", \"-c\", \"echo $0 $1\"]",
                  "\"Cmd\":[\"-c\",\"echo $0 $1\",\"a\",\"b\"],\"Entrypoint\":[\"/bin/sh\"],\"Env\"" },
                { "[]", "\"Cmd\":[\"a\",\"b\"],\"Entrypoint\":[\"\"],\"Env\"" },
                { "[\"\"]", "\"Cmd\":[\"a\",\"b\"],\"Entrypoint\":[\"\"],\"Env\"" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char text[256], want[512];
                vs_error err = { 0 };
                _cleanup_free_ char *b = NULL;

                snprintf(text, sizeof(text), "{\"ref\":\"x:1\",\"cmd\":[\"a\",\"b\"],\"entrypoint\":%s}", cases[i].entrypoint);
                snprintf(want, sizeof(want), "{\"AttachStderr\":true,\"AttachStdout\":true,%s:[],\"HostConfig\":{\"Mounts\":[],"
                                             "\"NetworkMode\":\"none\"},\"Image\":\"x:1\",\"Tty\":false}",
                         cases[i].fields);
                b = create_body(text, 0, &err);
                ck_assert_str_eq(b, want);
        }
        /* an entrypoint alone: no Cmd (the engine drops the image's) */
        vs_error err = { 0 };
        _cleanup_free_ char *only = create_body("{\"ref\":\"x:1\",\"entrypoint\":[\"/bin/true\"]}", 0, &err);
        ck_assert_str_eq(only, "{\"AttachStderr\":true,\"AttachStdout\":true,\"Entrypoint\":[\"/bin/true\"],\"Env\":[],"
                               "\"HostConfig\":{\"Mounts\":[],\"NetworkMode\":\"none\"},\"Image\":\"x:1\",\"Tty\":false}");
}
END_TEST

/* A word that is not a string used to end argv early (a NULL in the
 * middle); in a body it would be dropped: refused either way. */
START_TEST(create_body_refuses_what_it_cannot_pass)
{
        static const struct {
                const char *spec, *msg;
        } cases[] = {
                { "{\"ref\":\"x:1\",\"cmd\":[\"sh\",7,\"rm -rf /erc\"]}", "spec.json: cmd[1] is not a string" },
                { "{\"ref\":\"x:1\",\"env\":[\"A=1\",null]}", "spec.json: env[1] is not a string" },
                { "{\"ref\":\"x:1\",\"env\":\"A=1\"}", "spec.json: env is not an array" },
                { "{\"cmd\":[\"true\"]}", "spec.json: no image reference" },
                { "{\"ref\":5}", "spec.json: ref is not a string" },
                { "{\"ref\":\"x:1\",\"user\":1000}", "spec.json: user is not a string" },
                { "{\"ref\":\"x:1\",\"hostname\":[]}", "spec.json: hostname is not a string" },
                { "{\"ref\":\"x:1\",\"workspace\":true,\"mount_at\":\"erc\"}", "spec.json: mount_at is not an absolute path" },
                { "{\"ref\":\"x:1\",\"workspace\":true}", "spec.json: mount_at is not an absolute path" },
                { "{\"ref\":\"x:1\",\"entrypoint\":\"sh\"}", "spec.json: entrypoint is not an array" },
                { "{\"ref\":\"x:1\",\"docker_socket\":\"s\"}", "spec.json: docker_socket is not an absolute path" },
                { "{\"ref\":\"x:1\",\"docker_socket\":7}", "spec.json: docker_socket is not a string" },
                { "{\"ref\":\"x:1\",\"entrypoint\":[\"sh\",null]}", "spec.json: entrypoint[1] is not a string" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                vs_error err = { 0 };
                char *b = create_body(cases[i].spec, 0, &err);

                ck_assert_msg(b == NULL, "%s", cases[i].spec);
                ck_assert_str_eq(err.msg, cases[i].msg);
        }
}
END_TEST

/* Past ENGINE_WORDS_MAX words (env + entrypoint + cmd): an error, not a
 * silently shortened command. */
START_TEST(create_body_bound)
{
        _cleanup_json_ json_t *spec = spec_of("{\"ref\":\"x:1\",\"env\":[\"A=1\"],\"entrypoint\":[\"sh\",\"-c\"]}");
        json_t *cmd = json_array();
        _cleanup_free_ char *b = NULL;
        vs_error err = { 0 };

        json_object_set_new(spec, "cmd", cmd);
        for (int i = 0; i < ENGINE_WORDS_MAX - 3; i++)
                json_array_append_new(cmd, json_string("a"));
        b = engine_create_body(spec, 0, &err);
        ck_assert_ptr_nonnull(b);
        json_array_append_new(cmd, json_string("one too many"));
        ck_assert_ptr_null(engine_create_body(spec, 0, &err));
        ck_assert_str_eq(err.msg, "spec.json: the container has more than 2047 words (env, entrypoint and cmd)");
}
END_TEST

START_TEST(build_path_exact)
{
        _cleanup_json_ json_t *b = spec_of("{\"dockerfile\":\"sub/Dockerfile.x\",\"buildargs\":[\"A=1\",\"B=two words\",\"C\"],"
                                           "\"nocache\":true,\"pull\":true}");
        _cleanup_json_ json_t *plain = spec_of("{\"dockerfile\":\"Dockerfile\",\"buildargs\":[],\"nocache\":false,"
                                               "\"pull\":false}");
        vs_error err = { 0 };
        _cleanup_free_ char *p = engine_build_path(b, false, &err);
        _cleanup_free_ char *q = engine_build_path(plain, true, &err);

        ck_assert_str_eq(p, "/build?version=1&dockerfile=sub%2FDockerfile.x&forcerm=1&rm=1&networkmode=none&nocache=1&pull=1"
                            "&buildargs=%7B%22A%22%3A%221%22%2C%22B%22%3A%22two%20words%22%2C%22C%22%3Anull%7D");
        ck_assert_str_eq(q, "/build?version=1&dockerfile=Dockerfile&forcerm=1&rm=1");
}
END_TEST

START_TEST(build_path_refuses_what_it_cannot_pass)
{
        static const struct {
                const char *json, *msg;
        } bad[] = {
                { "[]", "spec.json: build is not an object" },
                { "{}", "spec.json: build.dockerfile is missing" },
                { "{\"dockerfile\":\"\"}", "spec.json: build.dockerfile is missing" },
                { "{\"dockerfile\":1}", "spec.json: dockerfile is not a string" },
                { "{\"dockerfile\":\"D\",\"buildargs\":{\"A\":\"1\"}}", "spec.json: buildargs is not an array" },
                { "{\"dockerfile\":\"D\",\"buildargs\":[1]}", "spec.json: buildargs[0] is not a string" },
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                _cleanup_json_ json_t *b = spec_of(bad[i].json);
                vs_error err = { 0 };

                ck_assert_ptr_null(engine_build_path(b, false, &err));
                ck_assert_str_eq(err.msg, bad[i].msg);
        }
}
END_TEST

/* A reference with bytes that would end the path or start a query. */
START_TEST(image_path_encoded)
{
        _cleanup_free_ char *a = engine_image_path("registry:5000/demo/hello:1", "json");
        _cleanup_free_ char *b = engine_image_path("a b?c#d%e", "get");

        ck_assert_str_eq(a, "/images/registry:5000/demo/hello:1/json");
        ck_assert_str_eq(b, "/images/a%20b%3Fc%23d%25e/get");
}
END_TEST

/* ---- engine_api.c: answers -------------------------------------------- */

#define S(lit) lit, sizeof(lit) - 1

/* A missing or garbled exit code used to be exit code 0: a success. */
START_TEST(parse_container)
{
        static const struct {
                const char *body;
                int code;
                const char *error; /* NULL: none; "!": refused */
                bool oom;
        } cases[] = {
                { "{\"State\":{\"ExitCode\":0,\"OOMKilled\":false,\"Error\":\"\"}}", 0, NULL, false },
                { "{\"State\":{\"ExitCode\":3,\"OOMKilled\":false}}", 3, NULL, false },
                { "{\"State\":{\"ExitCode\":137,\"OOMKilled\":true,\"Error\":null}}", 137, NULL, true },
                { "{\"State\":{\"ExitCode\":127,\"OOMKilled\":false,\"Error\":\"exec: \\\"/no/such\\\": not found\\n\"}}", 127,
                  "exec: \"/no/such\": not found", false },
                { "{\"State\":{\"ExitCode\":255,\"OOMKilled\":false,\"Error\":\"a\\u0001b\"}}", 255, "a?b", false },
                { "", 0, "!", false },
                { "[]", 0, "!", false },
                { "{\"message\":\"No such container\"}", 0, "!", false },
                { "{\"State\":{\"ExitCode\":\"0\",\"OOMKilled\":false}}", 0, "!", false },
                { "{\"State\":{\"ExitCode\":0}}", 0, "!", false },
                { "{\"State\":{\"ExitCode\":0,\"OOMKilled\":\"no\"}}", 0, "!", false },
                { "{\"State\":{\"ExitCode\":256,\"OOMKilled\":false}}", 0, "!", false },
                { "{\"State\":{\"ExitCode\":-1,\"OOMKilled\":false}}", 0, "!", false },
                { "{\"State\":{\"ExitCode\":0.5,\"OOMKilled\":false}}", 0, "!", false },
                { "{\"State\":{\"ExitCode\":0,\"OOMKilled\":false,\"Error\":7}}", 0, "!", false },
                { "{\"State\":{\"ExitCode\":0,\"OOMKilled\":false,\"ExitCode\":1}}", 0, "!", false },
                { "{\"State\":{\"ExitCode\":0,\"OOMKilled\":false}", 0, "!", false }, /* truncated */
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int code = -7;
                bool oom = !cases[i].oom;
                char *error = (char *)"untouched";
                vs_error err = { 0 };
                int r = engine_parse_container(cases[i].body, strlen(cases[i].body), &code, &oom, &error, &err);

                if (cases[i].error && !strcmp(cases[i].error, "!")) {
                        ck_assert_msg(r == -1, "accepted %s", cases[i].body);
                        ck_assert_int_eq(code, -7);
                        ck_assert_ptr_eq(error, (char *)"untouched");
                        ck_assert_int_eq(err.kind, VS_ERR_SANDBOX);
                        continue;
                }
                ck_assert_msg(r == 0, "%s: %s", cases[i].body, err.msg);
                ck_assert_int_eq(code, cases[i].code);
                ck_assert_int_eq(oom, cases[i].oom);
                if (cases[i].error)
                        ck_assert_str_eq(error, cases[i].error);
                else
                        ck_assert_ptr_null(error);
                free(error);
        }
}
END_TEST

/* An answer past ENGINE_ANSWER_MAX is not parsed at all. */
START_TEST(parse_container_oversized)
{
        const char *rec = "{\"State\":{\"ExitCode\":0,\"OOMKilled\":false}}";
        size_t n = ENGINE_ANSWER_MAX + 1;
        _cleanup_free_ char *big = malloc(n);
        char *error = NULL;
        int code = -7;
        bool oom;
        vs_error err = { 0 };

        memset(big, ' ', n);
        memcpy(big, rec, strlen(rec));
        ck_assert_int_eq(engine_parse_container(big, n - 1, &code, &oom, &error, &err), 0);
        ck_assert_int_eq(code, 0);
        ck_assert_int_eq(engine_parse_container(big, n, &code, &oom, &error, &err), -1);
}
END_TEST

START_TEST(parse_image_and_version)
{
        const char *id = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        char good[256], nodig[256];
        char *iid = NULL;
        json_t *d = NULL;
        _cleanup_free_ char *v = NULL, *v2 = NULL;
        static const char *const bad[] = {
                "{\"Id\":\"sha256:0123\"}",
                "{\"Id\":7}",
                "{}",
                "not json",
                "{\"Id\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"RepoDigests\":[7]}",
                "{\"Id\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"RepoDigests\":\"x\"}",
        };

        snprintf(good, sizeof(good), "{\"Id\":\"%s\",\"RepoDigests\":[\"demo@sha256:ab\"]}", id);
        snprintf(nodig, sizeof(nodig), "{\"Id\":\"%s\",\"RepoDigests\":null}", id);
        ck_assert_int_eq(engine_parse_image(good, strlen(good), &iid, &d), 0);
        ck_assert_str_eq(iid, id);
        ck_assert_uint_eq(json_array_size(d), 1);
        ck_assert_str_eq(json_string_value(json_array_get(d, 0)), "demo@sha256:ab");
        free(iid);
        json_decref(d);
        ck_assert_int_eq(engine_parse_image(nodig, strlen(nodig), &iid, &d), 0);
        ck_assert_uint_eq(json_array_size(d), 0);
        free(iid);
        json_decref(d);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                iid = (char *)"untouched";
                ck_assert_msg(engine_parse_image(bad[i], strlen(bad[i]), &iid, &d) == -1, "%s", bad[i]);
                ck_assert_ptr_eq(iid, (char *)"untouched");
        }
        v = engine_parse_version(S("{\"Version\":\"20.10.24+dfsg1\",\"ApiVersion\":\"1.41\"}"));
        ck_assert_str_eq(v, "20.10.24+dfsg1");
        ck_assert_ptr_null(engine_parse_version(S("{\"Version\":\"20.10\\n<b>\"}")));
        ck_assert_ptr_null(engine_parse_version(S("{\"Version\":\"\"}")));
        ck_assert_ptr_null(engine_parse_version(S("{\"Version\":1}")));
        ck_assert_ptr_null(engine_parse_version(S("{\"Version\":\"0123456789012345678901234567890123456789012345678901234567890123x\"}")));
        v2 = engine_parse_version(S("{\"Version\":\"0123456789012345678901234567890123456789012345678901234567890123\"}"));
        ck_assert_ptr_nonnull(v2);
}
END_TEST

START_TEST(error_message)
{
        _cleanup_free_ char *a = engine_error_message(404, S("{\"message\":\"No such image: x:1\"}\n"));
        _cleanup_free_ char *b = engine_error_message(500, S("plain\x01text\n"));
        _cleanup_free_ char *c = engine_error_message(502, S(""));
        _cleanup_free_ char *d = engine_error_message(400, S("{\"message\":7}"));
        _cleanup_free_ char *e = engine_error_message(409, S("{\"message\":\"bad\\u001b[31m\"}"));

        ck_assert_str_eq(a, "No such image: x:1");
        ck_assert_str_eq(b, "status 500: plain?text");
        ck_assert_str_eq(c, "status 502");
        ck_assert_str_eq(d, "status 400: {\"message\":7}");
        ck_assert_str_eq(e, "bad?[31m");
}
END_TEST

START_TEST(parse_msg)
{
        engine_msg m = { 0 };
        vs_error err = { 0 };
        const char *aux = "{\"aux\":{\"ID\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}}";
        static const char *const bad[] = {
                "not json",
                "[1]",
                "{\"stream\":7}",
                "{\"error\":{}}",
                "{\"errorDetail\":\"x\"}",
                "{\"errorDetail\":{\"code\":\"1\"}}",
                "{\"aux\":{\"ID\":\"sha256:zz\"}}",
                "{\"aux\":[]}",
                "{\"stream\":\"a\",\"stream\":\"b\"}",
                "{\"stream\":\"Loaded image: x\"",
        };

        ck_assert_int_eq(engine_parse_msg(S("{\"stream\":\"Loaded image: demo/hello:1\\n\"}"), &m, &err), 0);
        ck_assert_str_eq(m.stream, "Loaded image: demo/hello:1\n");
        ck_assert_ptr_null(m.error);
        engine_msg_clear(&m);
        ck_assert_int_eq(engine_parse_msg(S("{\"errorDetail\":{\"code\":3,\"message\":\"x\"},\"error\":\"The command returned 3\\n\"}"),
                                          &m, &err), 0);
        ck_assert_str_eq(m.error, "The command returned 3");
        ck_assert_int_eq(m.code, 3);
        engine_msg_clear(&m);
        ck_assert_int_eq(engine_parse_msg(S("{\"errorDetail\":{\"code\":999},\"error\":\"e\"}"), &m, &err), 0);
        ck_assert_int_eq(m.code, 1);
        engine_msg_clear(&m);
        ck_assert_int_eq(engine_parse_msg(S("{\"error\":\"open /x: no such file\"}"), &m, &err), 0);
        ck_assert_int_eq(m.code, 1);
        engine_msg_clear(&m);
        ck_assert_int_eq(engine_parse_msg(aux, strlen(aux), &m, &err), 0);
        ck_assert_str_eq(m.aux_id, "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        engine_msg_clear(&m);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                m.stream = (char *)"untouched";
                ck_assert_msg(engine_parse_msg(bad[i], strlen(bad[i]), &m, &err) == -1, "%s", bad[i]);
                ck_assert_ptr_eq(m.stream, (char *)"untouched");
                m.stream = NULL;
        }
}
END_TEST

static int collect_line(void *ud, const char *line, size_t len, vs_error *err)
{
        char *acc = ud;

        (void)err;
        strcat(acc, "[");
        strncat(acc, line, len);
        strcat(acc, "]");
        return 0;
}

/* Lines split across reads are joined; empty ones skipped; one past the
 * cap is an error, not an allocation without end. */
START_TEST(lines_split_and_bounded)
{
        engine_lines l = { 0 };
        char acc[256] = "";
        vs_error err = { 0 };
        _cleanup_free_ char *big = malloc(ENGINE_MSG_LINE_MAX + 1);

        ck_assert_int_eq(engine_lines_feed(&l, S("{\"a\"\n\n{\"b"), collect_line, acc, &err), 0);
        ck_assert_int_eq(engine_lines_feed(&l, S("\":1}\n{\"c"), collect_line, acc, &err), 0);
        ck_assert_str_eq(acc, "[{\"a\"][{\"b\":1}]");
        ck_assert_int_eq(engine_lines_end(&l, collect_line, acc, &err), 0);
        ck_assert_str_eq(acc, "[{\"a\"][{\"b\":1}][{\"c]");
        engine_lines_clear(&l);

        memset(big, 'x', ENGINE_MSG_LINE_MAX + 1);
        acc[0] = '\0';
        ck_assert_int_eq(engine_lines_feed(&l, big, ENGINE_MSG_LINE_MAX - 1, collect_line, acc, &err), 0);
        ck_assert_int_eq(engine_lines_feed(&l, big, 1, collect_line, acc, &err), 0);
        ck_assert_int_eq(engine_lines_feed(&l, big, 1, collect_line, acc, &err), -1);
        ck_assert_str_eq(err.msg, "the engine's message stream has a line over 1048576 bytes");
        engine_lines_clear(&l);
}
END_TEST

typedef struct {
        char out[256];
} mux_acc;

static void collect_frame(void *ud, char type, const char *data, size_t len)
{
        mux_acc *a = ud;
        size_t n = strlen(a->out);

        snprintf(a->out + n, sizeof(a->out) - n, "%c:%.*s|", type, (int)len, data);
}

/* stdout and stderr apart, frames split anywhere (even inside a header),
 * an empty frame passed over. */
START_TEST(mux_frames)
{
        static const char stream[] = "\x01\0\0\0\0\0\0\x03out"
                                     "\x02\0\0\0\0\0\0\x04" "err\n"
                                     "\x01\0\0\0\0\0\0\0"
                                     "\x01\0\0\0\0\0\0\x02" "ok";
        vs_error err = { 0 };

        for (size_t split = 0; split < sizeof(stream) - 1; split++) {
                engine_mux m = { 0 };
                mux_acc a = { "" };

                ck_assert_int_eq(engine_mux_feed(&m, stream, split, collect_frame, &a, &err), 0);
                ck_assert_int_eq(engine_mux_feed(&m, stream + split, sizeof(stream) - 1 - split, collect_frame, &a, &err), 0);
                ck_assert_int_eq(engine_mux_end(&m, &err), 0);
                /* pieces may come apart at the split; joined they are exact */
                char joined_out[64] = "", joined_err[64] = "";
                for (char *p = a.out; *p;) {
                        char t = p[0];
                        char *bar = strchr(p + 2, '|');
                        strncat(t == VS_FRAME_STDOUT ? joined_out : joined_err, p + 2, (size_t)(bar - p - 2));
                        p = bar + 1;
                }
                ck_assert_str_eq(joined_out, "outok");
                ck_assert_str_eq(joined_err, "err\n");
        }
}
END_TEST

START_TEST(mux_hostile)
{
        static const struct {
                const char *data;
                size_t len;
                const char *msg; /* of feed, or of end when feed passes */
        } cases[] = {
                { "\x01\0\0\0\x00\x10\x00\x01", 8, "the engine's output stream has a frame of 1048577 bytes (over 1048576)" },
                { "\x01\0\0\0\xff\xff\xff\xff", 8, "the engine's output stream has a frame of 4294967295 bytes (over 1048576)" },
                { "\x03\0\0\0\0\0\0\x01" "e", 9, "the engine's output stream has a bad frame header" },
                { "\x00\0\0\0\0\0\0\x01" "e", 9, "the engine's output stream has a bad frame header" },
                { "\x01\0\x01\0\0\0\0\x01" "e", 9, "the engine's output stream has a bad frame header" },
                { "\x01\0\0\0\0\0\0\x05" "abc", 11, "the engine's output stream ends inside a frame" },
                { "\x01\0\0\0", 4, "the engine's output stream ends inside a frame" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                engine_mux m = { 0 };
                mux_acc a = { "" };
                vs_error err = { 0 };
                int r = engine_mux_feed(&m, cases[i].data, cases[i].len, collect_frame, &a, &err);

                if (r == 0)
                        ck_assert_int_eq(engine_mux_end(&m, &err), -1);
                ck_assert_str_eq(err.msg, cases[i].msg);
        }
        /* exactly at the cap: passed on */
        engine_mux m = { 0 };
        mux_acc a = { "" };
        vs_error err = { 0 };
        ck_assert_int_eq(engine_mux_feed(&m, "\x02\0\0\0\x00\x10\x00\x00", 8, collect_frame, &a, &err), 0);
        ck_assert_uint_eq(m.left, ENGINE_MUX_FRAME_MAX);
}
END_TEST

/* ---- engine_http.c ---------------------------------------------------- */

START_TEST(parse_head)
{
        static const struct {
                const char *head;
                int status, mode;
                unsigned long long length;
                const char *msg; /* NULL: accepted */
        } cases[] = {
                { "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n", 200, ENGINE_BODY_LENGTH, 12, NULL },
                { "HTTP/1.1 200 OK\r\ncontent-length:0\r\n", 200, ENGINE_BODY_LENGTH, 0, NULL },
                { "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n", 200, ENGINE_BODY_CHUNKED, 0, NULL },
                { "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n", 101, ENGINE_BODY_CLOSE, 0, NULL },
                { "HTTP/1.1 204 No Content\r\n", 204, ENGINE_BODY_NONE, 0, NULL },
                { "HTTP/1.0 404 Not Found\r\n", 404, ENGINE_BODY_CLOSE, 0, NULL },
                { "HTTP/1.1 500\r\n", 500, ENGINE_BODY_CLOSE, 0, NULL },
                { "HTTP/2 200 OK\r\n", 0, 0, 0, "the engine's answer has no HTTP status line" },
                { "HTTP/1.1 20x OK\r\n", 0, 0, 0, "the engine's answer has no HTTP status line" },
                { "HTTP/1.1 099 Odd\r\n", 0, 0, 0, "the engine's answer has no HTTP status line" },
                { "HTTP/1.1 2000 OK\r\n", 0, 0, 0, "the engine's answer has no HTTP status line" },
                { "garbage\r\n", 0, 0, 0, "the engine's answer has no HTTP status line" },
                { "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n", 0, 0, 0, "the engine's answer has a bad Content-Length" },
                { "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n", 0, 0, 0, "the engine's answer has a bad Content-Length" },
                { "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n", 0, 0, 0,
                  "the engine's answer has a bad Content-Length" },
                { "HTTP/1.1 200 OK\r\nContent-Length: 1099511627777\r\n", 0, 0, 0, "the engine's answer has a bad Content-Length" },
                { "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n", 0, 0, 0,
                  "the engine's answer has a bad Content-Length" },
                { "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n", 0, 0, 0,
                  "the engine's answer has an unknown Transfer-Encoding" },
                { "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n", 0, 0, 0,
                  "the engine's answer has both Content-Length and chunks" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                engine_head h = { .status = -7 };
                vs_error err = { 0 };
                int r = engine_parse_head(cases[i].head, strlen(cases[i].head), &h, &err);

                if (cases[i].msg) {
                        ck_assert_msg(r == -1, "accepted %s", cases[i].head);
                        ck_assert_str_eq(err.msg, cases[i].msg);
                        ck_assert_int_eq(h.status, -7);
                        continue;
                }
                ck_assert_msg(r == 0, "%s: %s", cases[i].head, err.msg);
                ck_assert_int_eq(h.status, cases[i].status);
                ck_assert_int_eq(h.mode, cases[i].mode);
                ck_assert_uint_eq(h.length, cases[i].length);
        }
}
END_TEST

/* An engine_conn reading what a child writes (then closes). */
static pid_t answer_conn(const char *data, size_t len, engine_conn *c)
{
        int sv[2];
        pid_t pid;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(sv[0]);
                signal(SIGPIPE, SIG_DFL);
                (void)!vs_write_full(sv[1], data, len);
                _exit(0);
        }
        close(sv[1]);
        engine_conn_init(c, sv[0]);
        c->timeout_s = 5;
        return pid;
}

/* The whole answer's status and body (cap max), or -1 and err. */
static int answer_read(const char *data, size_t len, size_t max, int *ret_status, char **ret_body, size_t *ret_len,
                       vs_error *err)
{
        engine_conn c;
        pid_t pid = answer_conn(data, len, &c);
        int r = engine_read_head(&c, ret_status, err);

        if (r == 0)
                r = engine_read_all(&c, max, ret_body, ret_len, err);
        engine_conn_close(&c);
        waitpid(pid, NULL, 0);
        return r;
}

START_TEST(read_bodies)
{
        static const struct {
                const char *answer;
                int status;
                const char *body;
        } cases[] = {
                { "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloIGNORED", 200, "hello" },
                { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\nX-T: 1\r\n\r\n",
                  200, "hello!" },
                { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", 200, "0123456789" },
                { "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n{\"message\":\"no\"}", 404, "{\"message\":\"no\"}" },
                { "HTTP/1.1 204 No Content\r\n\r\nstray", 204, "" },
                { "HTTP/1.1 101 UPGRADED\r\n\r\n\x01\0\0\0\0\0\0\x01x", 101, "\x01" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                _cleanup_free_ char *body = NULL;
                size_t len = 0;
                int status = 0;
                vs_error err = { 0 };

                ck_assert_msg(answer_read(cases[i].answer, strlen(cases[i].answer), 1024, &status, &body, &len, &err) == 0,
                              "%s: %s", cases[i].answer, err.msg);
                ck_assert_int_eq(status, cases[i].status);
                ck_assert_str_eq(body, cases[i].body);
        }
}
END_TEST

/* Answers an engine must never give: each an error, never a hang, an
 * overrun or a body made up. */
START_TEST(read_hostile)
{
        static const struct {
                const char *answer;
                const char *msg;
        } cases[] = {
                { "", "the engine closed the connection without an answer" },
                { "HTTP/1.1 200 OK\r\nContent-Le", "the engine's answer ended in its head" },
                { "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "the engine's answer is truncated (5 bytes missing)" },
                { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "the engine's chunked answer is truncated" },
                { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello", "the engine's chunked answer is truncated" },
                { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "the engine's chunked answer is truncated" },
                { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n",
                  "the engine's chunked answer has a chunk longer than its size" },
                { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "the engine's chunked answer has a bad chunk size" },
                { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n", "the engine's chunked answer has a bad chunk size" },
                { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40000001\r\n",
                  "the engine's chunked answer has a bad chunk size" },
                { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
                  "the engine's chunked answer has a bad chunk size" },
                { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1"
                  "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
                  "0000000000000000000000000000000\r\n",
                  "the engine's chunked answer has a line over 127 bytes" },
                { "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n", "the engine's answer is truncated (2000 bytes missing)" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *body = (char *)"untouched";
                size_t len = 0;
                int status = 0;
                vs_error err = { 0 };

                ck_assert_msg(answer_read(cases[i].answer, strlen(cases[i].answer), 1024, &status, &body, &len, &err) == -1,
                              "accepted %s", cases[i].answer);
                ck_assert_str_eq(err.msg, cases[i].msg);
                ck_assert_ptr_eq(body, (char *)"untouched");
        }
}
END_TEST

/* A head past the buffer, a body past the caller's cap (sent whole by a
 * child, chunked or not), and 40 trailer lines: errors. */
START_TEST(read_oversized)
{
        size_t n = 3 * sizeof(((engine_conn *)0)->buf);
        _cleanup_free_ char *big = malloc(n + 256);
        char *body = (char *)"untouched";
        size_t len = 0;
        int status = 0;
        vs_error err = { 0 };
        int off;

        off = sprintf(big, "HTTP/1.1 200 OK\r\nX: ");
        memset(big + off, 'a', n - (size_t)off);
        ck_assert_int_eq(answer_read(big, n, 1024, &status, &body, &len, &err), -1);
        ck_assert_str_eq(err.msg, "the engine's answer has a head over 16384 bytes");

        off = sprintf(big, "HTTP/1.1 200 OK\r\n\r\n");
        memset(big + off, 'b', n - (size_t)off);
        ck_assert_int_eq(answer_read(big, n, 4096, &status, &body, &len, &err), -1);
        ck_assert_str_eq(err.msg, "the engine's answer is over 4096 bytes");
        ck_assert_int_eq(answer_read(big, (size_t)off + 4096, 4096, &status, &body, &len, &err), 0);
        ck_assert_uint_eq(len, 4096);
        free(body);
        body = (char *)"untouched";
        /* a body that ends between the cap and the buffer's next size */
        ck_assert_int_eq(answer_read(big, (size_t)off + 6000, 5000, &status, &body, &len, &err), -1);
        ck_assert_str_eq(err.msg, "the engine's answer is over 5000 bytes");

        off = sprintf(big, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n");
        memset(big + off, 'c', 0x2000);
        memcpy(big + off + 0x2000, "\r\n0\r\n\r\n", 7);
        ck_assert_int_eq(answer_read(big, (size_t)off + 0x2000 + 7, 0x1fff, &status, &body, &len, &err), -1);
        ck_assert_str_eq(err.msg, "the engine's answer is over 8191 bytes");
        ck_assert_int_eq(answer_read(big, (size_t)off + 0x2000 + 7, 0x2000, &status, &body, &len, &err), 0);
        ck_assert_uint_eq(len, 0x2000);
        free(body);
        body = (char *)"untouched";

        off = sprintf(big, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
        for (int i = 0; i < 40; i++)
                off += sprintf(big + off, "T: %d\r\n", i);
        off += sprintf(big + off, "\r\n");
        ck_assert_int_eq(answer_read(big, (size_t)off, 1024, &status, &body, &len, &err), -1);
        ck_assert_str_eq(err.msg, "the engine's chunked answer has over 32 trailer lines");
}
END_TEST

/* What goes on the wire: one head, a Content-Length for a body, close or
 * upgrade. */
START_TEST(send_head)
{
        int sv[2];
        engine_conn c;
        char buf[512];
        ssize_t n;
        vs_error err = { 0 };

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        engine_conn_init(&c, sv[0]);
        ck_assert_int_eq(engine_send_head(&c, "POST", "/images/load?quiet=1", "application/x-tar", 1234, false, &err), 0);
        ck_assert_int_eq(engine_send_head(&c, "POST", "/containers/x/attach?stream=1", NULL, -1, true, &err), 0);
        engine_conn_close(&c);
        n = read(sv[1], buf, sizeof(buf) - 1);
        ck_assert_int_gt(n, 0);
        buf[n] = '\0';
        ck_assert_str_eq(buf, "POST /images/load?quiet=1 HTTP/1.1\r\nHost: docker\r\nUser-Agent: vmsandbox-agent\r\n"
                              "Content-Type: application/x-tar\r\nContent-Length: 1234\r\nConnection: close\r\n\r\n"
                              "POST /containers/x/attach?stream=1 HTTP/1.1\r\nHost: docker\r\nUser-Agent: vmsandbox-agent\r\n"
                              "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
        close(sv[1]);
}
END_TEST

/* The container's limit: the VM's RAM less the engine's 160 MiB, never
 * under 64 MiB; no limit when MemTotal is unknown. */
START_TEST(container_memory)
{
        ck_assert_uint_eq(docker_container_memory_kib(0), 0);
        ck_assert_uint_eq(docker_container_memory_kib(480000), 480000 - 160 * 1024);
        ck_assert_uint_eq(docker_container_memory_kib(160 * 1024 + 64 * 1024 + 1), 64 * 1024 + 1);
        ck_assert_uint_eq(docker_container_memory_kib(100000), 64 * 1024);
}
END_TEST

START_TEST(parse_loaded)
{
        char *s;

        s = docker_parse_loaded("Loaded image: demo/hello:1\n");
        ck_assert_str_eq(s, "demo/hello:1");
        free(s);
        s = docker_parse_loaded("noise\nLoaded image ID: sha256:abc\nLoaded image: b:2\n");
        ck_assert_str_eq(s, "sha256:abc");
        free(s);
        s = docker_parse_loaded("Loaded image: last-line-no-newline");
        ck_assert_str_eq(s, "last-line-no-newline");
        free(s);
        ck_assert_ptr_null(docker_parse_loaded(""));
        ck_assert_ptr_null(docker_parse_loaded("Loaded image: \n"));
        ck_assert_ptr_null(docker_parse_loaded("something else\n"));
}
END_TEST

/* strtoul() took "alice" for uid 0: the workspace went to root. */
START_TEST(parse_user)
{
        static const char *const bad[] = { "alice", "", ":", "1000:", ":1000", "1000:abc", "10x", "-1",
                                           "2147483648", "1000:2147483648", "99999999999", "1000:1000:1", " 1000" };
        uid_t uid = 5;
        gid_t gid = 5;
        vs_error err = { 0 };

        ck_assert_int_eq(docker_parse_user("1000", &uid, &gid, &err), 0);
        ck_assert_uint_eq(uid, 1000);
        ck_assert_uint_eq(gid, 1000);
        ck_assert_int_eq(docker_parse_user("0:50", &uid, &gid, &err), 0);
        ck_assert_uint_eq(uid, 0);
        ck_assert_uint_eq(gid, 50);
        ck_assert_int_eq(docker_parse_user("2147483647:2147483647", &uid, &gid, &err), 0);
        ck_assert_uint_eq(uid, 2147483647u);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uid = 5;
                gid = 5;
                ck_assert_msg(docker_parse_user(bad[i], &uid, &gid, &err) == -1, "accepted \"%s\"", bad[i]);
                ck_assert_uint_eq(uid, 5);
                ck_assert_uint_eq(gid, 5);
        }
        ck_assert_str_eq(err.msg, "spec.json: user \" 1000\" is not UID or UID:GID");
}
END_TEST

START_TEST(parse_iid)
{
        const char *id = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        _cleanup_free_ char *a = docker_parse_iid(id);
        _cleanup_free_ char *nl = NULL;
        char buf[80];

        ck_assert_str_eq(a, id);
        snprintf(buf, sizeof(buf), "%s\n", id);
        nl = docker_parse_iid(buf);
        ck_assert_str_eq(nl, id);
        ck_assert_ptr_null(docker_parse_iid(""));
        ck_assert_ptr_null(docker_parse_iid("sha256:0123"));
        ck_assert_ptr_null(docker_parse_iid("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
        ck_assert_ptr_null(docker_parse_iid("sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
        snprintf(buf, sizeof(buf), "%s\n\n", id);
        ck_assert_ptr_null(docker_parse_iid(buf));
        snprintf(buf, sizeof(buf), "%sa", id); /* 65 hex digits */
        ck_assert_ptr_null(docker_parse_iid(buf));
}
END_TEST

START_TEST(clean_text)
{
        const char *msg = "The command '/bin/sh -c exit 3' returned a non-zero code: 3\n\n";
        _cleanup_free_ char *a = docker_clean_text(msg, strlen(msg));
        _cleanup_free_ char *b = docker_clean_text("caf\xc3\xa9 \xff\x01x\ty\r\nz\xe2\x82", 16);
        _cleanup_free_ char *c = docker_clean_text("\xed\xa0\x80|\xe0\x80\x80", 7);

        ck_assert_str_eq(a, "The command '/bin/sh -c exit 3' returned a non-zero code: 3");
        ck_assert_str_eq(b, "caf\xc3\xa9 ??x\ty?\nz??");
        ck_assert_str_eq(c, "???|???");
}
END_TEST

/* ---- spawn.c --------------------------------------------------------- */

static char log_path[] = "/tmp/vs-agent-log-XXXXXX";
static int log_fd = -1;

static void log_setup(void)
{
        strcpy(log_path, "/tmp/vs-agent-log-XXXXXX");
        log_fd = mkostemp(log_path, O_CLOEXEC);
        ck_assert_int_ge(log_fd, 0);
}

static void log_teardown(void)
{
        close(log_fd);
        unlink(log_path);
}

static char *log_text(void)
{
        static char buf[4096];
        ssize_t n = pread(log_fd, buf, sizeof(buf) - 1, 0);

        ck_assert_int_ge(n, 0);
        buf[n] = '\0';
        return buf;
}

START_TEST(spawn_capture_stdout_stderr_to_log)
{
        char *argv[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL };
        spawn_result r;
        vs_error err = { 0 };

        ck_assert_int_eq(spawn_wait(argv, true, log_fd, &r, &err), 0);
        ck_assert_str_eq(r.out, "out\n");
        ck_assert_uint_eq(r.out_len, 4);
        ck_assert_int_eq(r.status, 3);
        ck_assert_str_eq(log_text(), "err\n");
        free(r.out);
}
END_TEST

START_TEST(spawn_capture_bounded_and_drained)
{
        char *argv[] = { "/bin/sh", "-c", "head -c 3000000 /dev/zero; echo finished >&2", NULL };
        spawn_result r;
        vs_error err = { 0 };

        ck_assert_int_eq(spawn_wait(argv, true, log_fd, &r, &err), 0);
        ck_assert_uint_eq(r.out_len, SPAWN_CAPTURE_MAX);
        ck_assert_int_eq(r.status, 0); /* not killed by SIGPIPE */
        ck_assert_str_eq(log_text(), "finished\n");
        free(r.out);
}
END_TEST

START_TEST(spawn_status_codes)
{
        char *killed[] = { "/bin/sh", "-c", "kill -9 $$", NULL };
        char *missing[] = { "/no/such/program", NULL };
        char *in[] = { "/bin/sh", "-c", "read x; echo \"read=$?\"", NULL };
        spawn_result r;
        vs_error err = { 0 };

        ck_assert_int_eq(spawn_wait(killed, false, log_fd, &r, &err), 0);
        ck_assert_int_eq(r.status, 137);
        ck_assert_ptr_null(r.out);
        ck_assert_int_eq(spawn_wait(missing, false, log_fd, &r, &err), 0);
        ck_assert_int_eq(r.status, 127);
        /* stdin is /dev/null: read sees EOF (1), not a closed fd (2). */
        ck_assert_int_eq(spawn_wait(in, true, log_fd, &r, &err), 0);
        ck_assert_str_eq(r.out, "read=1\n");
        free(r.out);
}
END_TEST

/* fork() fails (no processes left for this user): an error naming the
 * program, no pid, nothing signalled or waited for. */
START_TEST(spawn_fork_failure_is_an_error)
{
        pid_t pid = fork();
        int status;

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                char *argv[] = { "/bin/true", NULL };
                struct rlimit none = { 0, 0 };
                spawn_result r = { .status = 42 };
                vs_error err = { 0 };
                pid_t bg = -7;

                /* root is not bound by RLIMIT_NPROC: become nobody first */
                if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
                        _exit(10);
                if (setrlimit(RLIMIT_NPROC, &none) < 0)
                        _exit(11);
                if (spawn_wait(argv, true, STDERR_FILENO, &r, &err) != -1 || r.status != 42)
                        _exit(12);
                if (strcmp(err.msg, "cannot start /bin/true: Resource temporarily unavailable") != 0)
                        _exit(13);
                if (spawn_bg(argv, STDERR_FILENO, &bg, &err) != -1 || bg != -7)
                        _exit(14);
                _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* PID 1 may start with fds 0-2 closed; then /dev/null and the capture pipe
 * get those numbers, and a dup2 onto 0..2 must not overwrite (or leave
 * close-on-exec) a source that is still to be moved. */
START_TEST(spawn_with_std_fds_closed)
{
        pid_t pid = fork();
        int status;

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                char *argv[] = { "/bin/sh", "-c", "read x; echo \"read=$?\"", NULL };
                spawn_result r;
                vs_error err = { 0 };

                close(0);
                close(1);
                close(2);
                if (spawn_wait(argv, true, -1, &r, &err) < 0)
                        _exit(10);
                _exit(r.status == 0 && r.out && !strcmp(r.out, "read=1\n") ? 0 : 11);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

Suite *suite_agent(void)
{
        Suite *s = suite_create("agent");
        TCase *api = tcase_create("engine_api");
        TCase *http = tcase_create("engine_http");
        TCase *sp = tcase_create("spawn");

        tcase_add_test(api, create_body_exact);
        tcase_add_test(api, create_body_minimal_nat);
        tcase_add_test(api, create_body_binds_hostname_tty);
        tcase_add_test(api, create_body_entrypoint);
        tcase_add_test(api, create_body_refuses_what_it_cannot_pass);
        tcase_add_test(api, create_body_bound);
        tcase_add_test(api, build_path_exact);
        tcase_add_test(api, build_path_refuses_what_it_cannot_pass);
        tcase_add_test(api, image_path_encoded);
        tcase_add_test(api, parse_container);
        tcase_add_test(api, parse_container_oversized);
        tcase_add_test(api, parse_image_and_version);
        tcase_add_test(api, error_message);
        tcase_add_test(api, parse_msg);
        tcase_add_test(api, lines_split_and_bounded);
        tcase_add_test(api, mux_frames);
        tcase_add_test(api, mux_hostile);
        tcase_add_test(api, container_memory);
        tcase_add_test(api, parse_loaded);
        tcase_add_test(api, parse_user);
        tcase_add_test(api, parse_iid);
        tcase_add_test(api, clean_text);
        suite_add_tcase(s, api);
        tcase_set_timeout(http, 30);
        tcase_add_test(http, parse_head);
        tcase_add_test(http, read_bodies);
        tcase_add_test(http, read_hostile);
        tcase_add_test(http, read_oversized);
        tcase_add_test(http, send_head);
        suite_add_tcase(s, http);
        tcase_add_checked_fixture(sp, log_setup, log_teardown);
        tcase_set_timeout(sp, 60);
        tcase_add_test(sp, spawn_capture_stdout_stderr_to_log);
        tcase_add_test(sp, spawn_capture_bounded_and_drained);
        tcase_add_test(sp, spawn_status_codes);
        tcase_add_test(sp, spawn_fork_failure_is_an_error);
        tcase_add_test(sp, spawn_with_std_fds_closed);
        suite_add_tcase(s, sp);
        return s;
}
