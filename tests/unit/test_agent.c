/* The guest agent's code that runs without a VM: docker command lines and
 * the parsing of docker's answers (docker_cli.c), and child processes
 * (spawn.c): capture bounds, exit codes, a failed fork, closed std fds. */
#include "agent.h"
#include "cleanup.h"
#include "protocol.h"
#include "tarwriter.h"
#include "tests.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static json_t *spec_of(const char *text)
{
        json_error_t jerr;
        json_t *j = json_loads(text, 0, &jerr);

        ck_assert_msg(j != NULL, "bad test JSON: %s", jerr.text);
        return j;
}

static char *joined(char **v)
{
        size_t len = 1;
        char *s;

        for (char **p = v; *p; p++)
                len += strlen(*p) + 3;
        s = calloc(1, len);
        for (char **p = v; *p; p++) {
                strcat(s, p == v ? "" : " ");
                strcat(s, "[");
                strcat(s, *p);
                strcat(s, "]");
        }
        return s;
}

START_TEST(create_argv_exact)
{
        _cleanup_json_ json_t *spec = spec_of(
                "{\"ref\":\"demo/hello:1\",\"cmd\":[\"sh\",\"-c\",\"echo hi\"],\"env\":[\"A=1\",\"B=two words\"],"
                "\"user\":\"1000:1000\",\"workdir\":\"/erc/sub\",\"mount_at\":\"/erc\",\"network\":\"none\","
                "\"workspace\":true,\"load\":true,\"export_image\":false}");
        _cleanup_strv_ char **argv = NULL;
        _cleanup_free_ char *s = NULL;
        vs_error err = { 0 };

        ck_assert_int_eq(docker_create_argv(spec, 358400, &argv, &err), 0);
        s = joined(argv);
        ck_assert_str_eq(s, "[/usr/bin/docker] [create] [--name=vmsandbox-job] [--network=none] [--memory=358400k] "
                            "[--memory-swap=358400k] [--user] [1000:1000] "
                            "[--workdir] [/erc/sub] [--env] [A=1] [--env] [B=two words] [--mount] "
                            "[type=bind,source=/job/workspace,target=/erc] [--] [demo/hello:1] [sh] [-c] [echo hi]");
}
END_TEST

START_TEST(create_argv_minimal_nat)
{
        _cleanup_json_ json_t *spec = spec_of("{\"ref\":\"x:1\",\"cmd\":null,\"env\":[],\"user\":null,\"workdir\":null,"
                                              "\"mount_at\":\"/erc\",\"network\":\"nat\"}");
        _cleanup_strv_ char **argv = NULL;
        _cleanup_free_ char *s = NULL;
        vs_error err = { 0 };

        ck_assert_int_eq(docker_create_argv(spec, 0, &argv, &err), 0);
        s = joined(argv);
        ck_assert_str_eq(s, "[/usr/bin/docker] [create] [--name=vmsandbox-job] [--network=bridge] [--] [x:1]");
}
END_TEST

/* A container's binds at their targets (ro ones readonly), its hostname
 * and its terminal: the engine in the VM gets them as docker run would. */
START_TEST(create_argv_binds_hostname_tty)
{
        _cleanup_json_ json_t *spec = spec_of(
                "{\"ref\":\"x:1\",\"network\":\"none\",\"hostname\":\"h1\",\"tty\":true,\"binds\":["
                "{\"target\":\"/erc\",\"ro\":false,\"file\":false},{\"target\":\"/erc/a.csv\",\"ro\":true,\"file\":true},"
                "{\"target\":\"/in\",\"ro\":true,\"file\":false}],\"docker_socket\":\"/var/run/docker.sock\"}");
        _cleanup_strv_ char **argv = NULL;
        _cleanup_free_ char *s = NULL;
        vs_error err = { 0 };
        static const char *const bad[] = {
                "{\"ref\":\"x:1\",\"binds\":[{\"target\":\"/a,source=/etc\",\"ro\":true}]}",
                "{\"ref\":\"x:1\",\"binds\":[{\"target\":\"/a\\\"b\",\"ro\":true}]}",
                "{\"ref\":\"x:1\",\"binds\":[{\"target\":\"a\",\"ro\":true}]}",
                "{\"ref\":\"x:1\",\"binds\":[{\"target\":\"/a\"}]}",
                "{\"ref\":\"x:1\",\"binds\":{}}",
        };

        ck_assert_int_eq(docker_create_argv(spec, 0, &argv, &err), 0);
        s = joined(argv);
        ck_assert_str_eq(s, "[/usr/bin/docker] [create] [--name=vmsandbox-job] [--network=none] "
                            "[--mount] [type=bind,source=/job/binds/0,target=/erc] "
                            "[--mount] [type=bind,source=/job/binds/1,target=/erc/a.csv,readonly] "
                            "[--mount] [type=bind,source=/job/binds/2,target=/in,readonly] "
                            "[--hostname] [h1] [--tty] "
                            "[--mount] [type=bind,source=/run/docker.sock,target=/var/run/docker.sock] [--] [x:1]");
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                _cleanup_json_ json_t *b = spec_of(bad[i]);
                _cleanup_strv_ char **v = NULL;

                ck_assert_msg(docker_create_argv(b, 0, &v, &err) == -1, "%s", bad[i]);
                ck_assert_msg(strncmp(err.msg, "spec.json: binds", 16) == 0, "%s", err.msg);
        }
}
END_TEST

/* Docker's CLI mapping of an entrypoint array: --entrypoint FIRST, then
 * the rest before the cmd; an empty one (and [""]) is --entrypoint "". */
START_TEST(create_argv_entrypoint)
{
        static const struct {
                const char *entrypoint, *argv;
        } cases[] = {
                { "null", "[/usr/bin/docker] [create] [--name=vmsandbox-job] [--network=none] [--] [x:1] [a] [b]" },
                { "[\"/bin/sh\"]", "[/usr/bin/docker] [create] [--name=vmsandbox-job] [--network=none] [--entrypoint] "
                                  "[/bin/sh] [--] [x:1] [a] [b]" },
                { "[\"/bin/sh\", \"-c\", \"echo $0 $1\"]",
                  "[/usr/bin/docker] [create] [--name=vmsandbox-job] [--network=none] [--entrypoint] [/bin/sh] [--] "
                  "[x:1] [-c] [echo $0 $1] [a] [b]" },
                { "[]", "[/usr/bin/docker] [create] [--name=vmsandbox-job] [--network=none] [--entrypoint] [] [--] [x:1] "
                        "[a] [b]" },
                { "[\"\"]", "[/usr/bin/docker] [create] [--name=vmsandbox-job] [--network=none] [--entrypoint] [] [--] "
                            "[x:1] [a] [b]" },
                { "[\"--help\"]", "[/usr/bin/docker] [create] [--name=vmsandbox-job] [--network=none] [--entrypoint] "
                                 "[--help] [--] [x:1] [a] [b]" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char text[256];
                _cleanup_json_ json_t *spec = NULL;
                _cleanup_strv_ char **argv = NULL;
                _cleanup_free_ char *s = NULL;
                vs_error err = { 0 };

                snprintf(text, sizeof(text), "{\"ref\":\"x:1\",\"cmd\":[\"a\",\"b\"],\"entrypoint\":%s}",
                         cases[i].entrypoint);
                spec = spec_of(text);
                ck_assert_int_eq(docker_create_argv(spec, 0, &argv, &err), 0);
                s = joined(argv);
                ck_assert_str_eq(s, cases[i].argv);
        }
}
END_TEST

/* The VM's own engine socket in the container (a bind of docker.sock). */
START_TEST(create_argv_engine_socket)
{
        _cleanup_json_ json_t *spec = spec_of("{\"ref\":\"x:1\",\"docker_socket\":\"/var/run/docker.sock\"}");
        _cleanup_strv_ char **argv = NULL;
        _cleanup_free_ char *s = NULL;
        vs_error err = { 0 };

        ck_assert_int_eq(docker_create_argv(spec, 0, &argv, &err), 0);
        s = joined(argv);
        ck_assert_str_eq(s, "[/usr/bin/docker] [create] [--name=vmsandbox-job] [--network=none] [--mount] "
                            "[type=bind,source=/run/docker.sock,target=/var/run/docker.sock] [--] [x:1]");
}
END_TEST

/* A word that is not a string used to end argv early (a NULL in the
 * middle): the container then ran a shorter command than asked. */
START_TEST(create_argv_refuses_what_it_cannot_pass)
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
                { "{\"ref\":\"x:1\",\"workspace\":true,\"mount_at\":\"/erc,source=/\"}",
                  "spec.json: mount_at is not an absolute path without ','" },
                { "{\"ref\":\"x:1\",\"workspace\":true}", "spec.json: mount_at is not an absolute path without ','" },
                { "{\"ref\":\"x:1\",\"entrypoint\":\"sh\"}", "spec.json: entrypoint is not an array" },
                { "{\"ref\":\"x:1\",\"docker_socket\":\"/s,source=/\"}",
                  "spec.json: docker_socket is not an absolute path without ','" },
                { "{\"ref\":\"x:1\",\"docker_socket\":7}", "spec.json: docker_socket is not a string" },
                { "{\"ref\":\"x:1\",\"entrypoint\":[\"sh\",null]}", "spec.json: entrypoint[1] is not a string" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                _cleanup_json_ json_t *spec = spec_of(cases[i].spec);
                char **argv = (char **)"untouched";
                vs_error err = { 0 };

                ck_assert_int_eq(docker_create_argv(spec, 0, &argv, &err), -1);
                ck_assert_str_eq(err.msg, cases[i].msg);
                ck_assert_ptr_eq(argv, (char **)"untouched");
        }
}
END_TEST

/* Past DOCKER_ARGV_MAX words: an error, not a silently shortened command. */
START_TEST(create_argv_bound)
{
        _cleanup_json_ json_t *spec = spec_of("{\"ref\":\"x:1\"}");
        json_t *cmd = json_array();
        _cleanup_strv_ char **argv = NULL;
        vs_error err = { 0 };

        json_object_set_new(spec, "cmd", cmd);
        /* 6 fixed words ([docker create --name --network -- ref]) + cmd fill
         * DOCKER_ARGV_MAX - 1 exactly. */
        for (int i = 0; i < DOCKER_ARGV_MAX - 1 - 6; i++)
                json_array_append_new(cmd, json_string("a"));
        ck_assert_int_eq(docker_create_argv(spec, 0, &argv, &err), 0);
        ck_assert_ptr_null(argv[DOCKER_ARGV_MAX - 1]);
        ck_assert_str_eq(argv[DOCKER_ARGV_MAX - 2], "a");
        json_array_append_new(cmd, json_string("one too many"));
        ck_assert_int_eq(docker_create_argv(spec, 0, &argv, &err), -1);
        ck_assert_str_eq(err.msg, "spec.json: the docker command line has more than 2047 words");
}
END_TEST

/* atoi() made a garbled or empty answer exit code 0: a success. */
START_TEST(parse_exit)
{
        static const struct {
                const char *out;
                int code;
                const char *error; /* NULL: none; "!": refused */
                bool oom;
        } cases[] = {
                { "0 false \n", 0, NULL, false },
                { "3 false \n", 3, NULL, false },
                { "137 true \n", 137, NULL, true },
                { "127 false OCI runtime exec failed: exec: \"/no/such\": not found\n", 127,
                  "OCI runtime exec failed: exec: \"/no/such\": not found", false },
                { "255 false x", 255, "x", false },
                { "", 0, "!", false },
                { "\n", 0, "!", false },
                { "Error: No such object\n", 0, "!", false },
                { "12\n", 0, "!", false },
                { "0 \n", 0, "!", false },      /* no OOMKilled field */
                { "0 maybe \n", 0, "!", false },
                { "256 false \n", 0, "!", false },
                { "-1 false \n", 0, "!", false },
                { "99999999999999999999 false \n", 0, "!", false },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int code = -7;
                bool oom = !cases[i].oom;
                char *error = (char *)"untouched";
                vs_error err = { 0 };
                int r = docker_parse_exit(cases[i].out, &code, &oom, &error, &err);

                if (cases[i].error && !strcmp(cases[i].error, "!")) {
                        ck_assert_msg(r == -1, "accepted %s", cases[i].out);
                        ck_assert_int_eq(code, -7);
                        ck_assert_ptr_eq(error, (char *)"untouched");
                        ck_assert_int_eq(err.kind, VS_ERR_SANDBOX);
                        continue;
                }
                ck_assert_int_eq(r, 0);
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
                if (spawn_stream(argv, &r.status, &err) != -1 || r.status != 42)
                        _exit(15);
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

/* Without a progress channel the frames go nowhere; the child's output is
 * still drained (more than a pipe holds) and its status returned. */
START_TEST(spawn_stream_drains_without_channel)
{
        char *argv[] = { "/bin/sh", "-c", "head -c 1000000 /dev/zero; head -c 1000000 /dev/zero >&2; exit 4", NULL };
        int status = -1;
        vs_error err = { 0 };

        ck_assert_int_eq(spawn_stream(argv, &status, &err), 0);
        ck_assert_int_eq(status, 4);
}
END_TEST


START_TEST(build_argv_exact)
{
        _cleanup_json_ json_t *b = spec_of("{\"dockerfile\":\"sub/Dockerfile.x\",\"buildargs\":[\"A=1\",\"B=two words\"],"
                                           "\"nocache\":true,\"pull\":true}");
        _cleanup_json_ json_t *plain = spec_of("{\"dockerfile\":\"Dockerfile\",\"buildargs\":[],\"nocache\":false,"
                                               "\"pull\":false}");
        _cleanup_strv_ char **argv = NULL, **argv2 = NULL;
        _cleanup_free_ char *s = NULL, *s2 = NULL;
        vs_error err = { 0 };

        ck_assert_int_eq(docker_build_argv(b, false, DOCKER_BUILD_IIDFILE, &argv, &err), 0);
        s = joined(argv);
        ck_assert_str_eq(s, "[/usr/bin/docker] [build] [--file] [sub/Dockerfile.x] [--iidfile] [/job/out/image.id] "
                            "[--force-rm] [--network=none] [--no-cache] [--pull] [--build-arg] [A=1] [--build-arg] "
                            "[B=two words] [-]");
        ck_assert_int_eq(docker_build_argv(plain, true, "/x/iid", &argv2, &err), 0);
        s2 = joined(argv2);
        ck_assert_str_eq(s2, "[/usr/bin/docker] [build] [--file] [Dockerfile] [--iidfile] [/x/iid] [--force-rm] [-]");
}
END_TEST

START_TEST(build_argv_refuses_what_it_cannot_pass)
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
                char **argv = NULL;
                vs_error err = { 0 };

                ck_assert_int_eq(docker_build_argv(b, false, "/i", &argv, &err), -1);
                ck_assert_str_eq(err.msg, bad[i].msg);
                ck_assert_ptr_null(argv);
        }
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

/* The builder's stdin is the context; its stdout is streamed and its
 * stderr kept (the last SPAWN_TAIL_MAX bytes), not streamed. */
START_TEST(spawn_keep_err_tail)
{
        char *argv[] = { "/bin/sh", "-c", "head -c 3 >&2; head -c 100000 /dev/zero | tr '\\0' e >&2; echo END >&2; exit 3",
                         NULL };
        _cleanup_close_ int in = tw_memfd("abcdef", 6);
        _cleanup_free_ char *tail = NULL;
        int status = -1;
        vs_error err = { 0 };

        ck_assert_int_eq(spawn_stream_keep_err(argv, in, &status, &tail, &err), 0);
        ck_assert_int_eq(status, 3);
        ck_assert_uint_eq(strlen(tail), SPAWN_TAIL_MAX);
        ck_assert_str_eq(tail + SPAWN_TAIL_MAX - 5, "eEND\n");
        ck_assert_int_eq(tail[0], 'e');
}
END_TEST

Suite *suite_agent(void)
{
        Suite *s = suite_create("agent");
        TCase *cli = tcase_create("docker_cli");
        TCase *sp = tcase_create("spawn");

        tcase_add_test(cli, create_argv_exact);
        tcase_add_test(cli, create_argv_minimal_nat);
        tcase_add_test(cli, create_argv_binds_hostname_tty);
        tcase_add_test(cli, create_argv_entrypoint);
        tcase_add_test(cli, create_argv_engine_socket);
        tcase_add_test(cli, create_argv_refuses_what_it_cannot_pass);
        tcase_add_test(cli, create_argv_bound);
        tcase_add_test(cli, parse_exit);
        tcase_add_test(cli, container_memory);
        tcase_add_test(cli, parse_loaded);
        tcase_add_test(cli, parse_user);
        tcase_add_test(cli, build_argv_exact);
        tcase_add_test(cli, build_argv_refuses_what_it_cannot_pass);
        tcase_add_test(cli, parse_iid);
        tcase_add_test(cli, clean_text);
        suite_add_tcase(s, cli);
        tcase_add_checked_fixture(sp, log_setup, log_teardown);
        tcase_set_timeout(sp, 60);
        tcase_add_test(sp, spawn_capture_stdout_stderr_to_log);
        tcase_add_test(sp, spawn_capture_bounded_and_drained);
        tcase_add_test(sp, spawn_status_codes);
        tcase_add_test(sp, spawn_fork_failure_is_an_error);
        tcase_add_test(sp, spawn_with_std_fds_closed);
        tcase_add_test(sp, spawn_stream_drains_without_channel);
        tcase_add_test(sp, spawn_keep_err_tail);
        suite_add_tcase(s, sp);
        return s;
}
