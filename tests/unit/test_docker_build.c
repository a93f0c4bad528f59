/* POST /build of the Docker socket (docker_build.c) with the fake runner
 * (fake_runner.h: a build's ops come from its build argument FAKE, and it
 * "builds" its first FROM image): the JSON lines, the store afterwards, the
 * errors before any VM, and the real docker CLI's classic builder. */
#include "cleanup.h"
#include "docker_fixture.h"
#include "fake_runner.h"
#include "imagestore.h"
#include "tarwriter.h"
#include "tests.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIXTURE_TAR VS_FIXTURES_DIR "/docker-20.10.tar"
#define FIXTURE_REF "vmsandbox-fixture/hello:20.10"
#define FIXTURE_ID "sha256:c732da56c260e5906dfe7641ccf58531957b5fa521395ae360b19fb0a7637f77"

static docker_fx fx;
/* A base image with nothing but its manifest: "pre/loaded:1" is preloaded. */
static void fake_base_image(void)
{
        dfx_base_image(&fx, "{\"cmdline\": \"x\", \"root_fs_mib\": 10, \"preloaded\": [{\"file\": \"p.tar\", "
                            "\"sha256\": \"00\", \"images\": [{\"id\": "
                            "\"sha256:1111111111111111111111111111111111111111111111111111111111111111\", "
                            "\"tags\": [\"pre/loaded:1\"]}]}]}");
}

static void load_fixture(const char *tenant)
{
        _cleanup_close_ int fd = open(FIXTURE_TAR, O_RDONLY | O_CLOEXEC);
        vs_image_loaded *loaded = NULL;
        size_t n = 0;
        vs_error err = { 0 };

        ck_assert_int_ge(fd, 0);
        ck_assert_msg(vs_imgstore_load(vs_server_images(fx.srv), tenant, fd, &loaded, &n, &err) == 0, "%s", err.msg);
        vs_image_loaded_free(loaded, n);
}

static void setup(void)
{
        dfx_start(&fx);
        fake_base_image();
        load_fixture("docker:a");
}

static void teardown(void)
{
        dfx_stop(&fx);
}

/* A context tar: name, content pairs, NULL-terminated. */
static char *context(size_t *ret_len, ...)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        va_list ap;

        va_start(ap, ret_len);
        for (const char *name; (name = va_arg(ap, const char *));) {
                const char *text = va_arg(ap, const char *);
                tw_file(f, name, text, strlen(text));
        }
        va_end(ap);
        tw_end(f);
        fclose(f);
        *ret_len = len;
        return buf;
}

static char *escaped(const char *s)
{
        CURL *c = curl_easy_init();
        char *e = curl_easy_escape(c, s, 0), *r = strdup(e);

        curl_free(e);
        curl_easy_cleanup(c);
        return r;
}

static long post_build(const char *sock, const char *query, const char *body, size_t len, char **ret_body)
{
        char path[2048];

        snprintf(path, sizeof(path), "/v1.41/build%s%s", query && *query ? "?" : "", query ? query : "");
        return dfx_http(sock, "POST", path, body, len, ret_body, NULL);
}

static const char *store_id(const char *tenant, const char *name)
{
        static char id[VS_IMAGE_ID_LEN + 1];
        vs_image im = { 0 };
        vs_error err = { 0 };

        if (vs_imgstore_lookup(vs_server_images(fx.srv), tenant, name, &im, &err) < 0)
                return NULL;
        snprintf(id, sizeof(id), "%s", im.id);
        vs_image_clear(&im);
        return id;
}

static size_t jobs_of(const char *owner)
{
        _cleanup_json_ json_t *list = vs_service_list(vs_server_service(fx.srv), owner, NULL);

        return json_array_size(list);
}

/* The job goes when MHD frees the answer, just after its last byte. */
static size_t jobs_left(const char *owner)
{
        for (int i = 0; i < 500 && jobs_of(owner) > 0; i++)
                usleep(10000);
        return jobs_of(owner);
}

START_TEST(build_streams_json_lines)
{
        size_t len;
        _cleanup_free_ char *ctx = context(&len, "Dockerfile", "FROM " FIXTURE_REF "\nCOPY x /x\n", "x", "x\n", NULL);
        _cleanup_free_ char *args = escaped("{\"FAKE\":\"out:Sending build context to Docker daemon  3.072kB\\r\\r\\n|"
                                            "out:Step 1/2 : FROM " FIXTURE_REF "\\n|out: ---> c732da56c260\\n\"}");
        _cleanup_free_ char *query = NULL, *body = NULL;

        ck_assert_int_gt(asprintf(&query, "t=built:1&t=other&buildargs=%s&rm=1&forcerm=1", args), 0);
        ck_assert_int_eq(post_build(fx.sock_a, query, ctx, len, &body), 200);
        ck_assert_str_eq(body, "{\"stream\":\"Step 1/2 : FROM " FIXTURE_REF "\\n\"}\r\n"
                               "{\"stream\":\" ---> c732da56c260\\n\"}\r\n"
                               "{\"stream\":\"context 3072 bytes, 1 images\\n\"}\r\n"
                               "{\"aux\":{\"ID\":\"" FIXTURE_ID "\"}}\r\n"
                               "{\"stream\":\"Successfully built c732da56c260\\n\"}\r\n"
                               "{\"stream\":\"Successfully tagged built:1\\n\"}\r\n"
                               "{\"stream\":\"Successfully tagged other:latest\\n\"}\r\n");
        ck_assert_str_eq(store_id("docker:a", "built:1"), FIXTURE_ID);
        ck_assert_str_eq(store_id("docker:a", "other:latest"), FIXTURE_ID);
        ck_assert_ptr_null(store_id("docker:b", "built:1"));
        ck_assert_uint_eq(fake_nstarted(), 1);
        ck_assert_uint_eq(jobs_left("docker:a"), 0); /* the build job went with the answer */
}
END_TEST

START_TEST(build_quiet_and_dockerfile)
{
        size_t len;
        _cleanup_free_ char *ctx = context(&len, "sub/Build.df", "FROM " FIXTURE_REF "\n", NULL);
        _cleanup_free_ char *body = NULL;

        ck_assert_int_eq(post_build(fx.sock_a, "q=1&dockerfile=sub/Build.df&t=q:1", ctx, len, &body), 200);
        ck_assert_str_eq(body, "{\"aux\":{\"ID\":\"" FIXTURE_ID "\"}}\r\n"
                               "{\"stream\":\"" FIXTURE_ID "\\n\"}\r\n");
        ck_assert_str_eq(store_id("docker:a", "q:1"), FIXTURE_ID);
}
END_TEST

START_TEST(build_failure_is_an_error_line)
{
        size_t len;
        _cleanup_free_ char *ctx = context(&len, "Dockerfile", "FROM " FIXTURE_REF "\nRUN false\n", NULL);
        _cleanup_free_ char *args = escaped("{\"FAKE\":\"out:Step 2/2 : RUN false\\n|exit:1|guest_error:The command "
                                            "'/bin/sh -c false' returned a non-zero code: 1\"}");
        _cleanup_free_ char *query = NULL, *body = NULL;

        ck_assert_int_gt(asprintf(&query, "t=never:1&buildargs=%s", args), 0);
        ck_assert_int_eq(post_build(fx.sock_a, query, ctx, len, &body), 200);
        ck_assert_str_eq(body, "{\"stream\":\"Step 2/2 : RUN false\\n\"}\r\n"
                               "{\"stream\":\"context 2048 bytes, 1 images\\n\"}\r\n"
                               "{\"errorDetail\":{\"message\":\"The command '/bin/sh -c false' returned a non-zero code: "
                               "1\",\"code\":1},\"error\":\"The command '/bin/sh -c false' returned a non-zero code: 1\"}\r\n");
        ck_assert_ptr_null(store_id("docker:a", "never:1"));
        ck_assert_uint_eq(jobs_left("docker:a"), 0);
}
END_TEST

/* A preloaded FROM needs nothing from the store: the build runs with no
 * image injected (the fake then exports nothing: an error line). */
START_TEST(build_from_preloaded)
{
        size_t len;
        _cleanup_free_ char *ctx = context(&len, "Dockerfile", "ARG V=1\nFROM pre/loaded:$V\n", NULL);
        _cleanup_free_ char *body = NULL;

        ck_assert_int_eq(post_build(fx.sock_a, "t=x", ctx, len, &body), 200);
        ck_assert_str_eq(body, "{\"stream\":\"context 2048 bytes, 0 images\\n\"}\r\n"
                               "{\"errorDetail\":{\"message\":\"the build reported no image id\"},"
                               "\"error\":\"the build reported no image id\"}\r\n");
}
END_TEST

static void expect_refused(const char *sock, const char *query, const char *body, size_t len, long status,
                           const char *message)
{
        _cleanup_free_ char *answer = NULL;
        _cleanup_json_ json_t *j = NULL;

        ck_assert_int_eq(post_build(sock, query, body, len, &answer), status);
        j = json_loads(answer, 0, NULL);
        ck_assert_msg(j != NULL, "not JSON: %s", answer);
        ck_assert_str_eq(json_string_value(json_object_get(j, "message")), message);
}

START_TEST(build_refused_before_any_vm)
{
        size_t len, len2, len3;
        _cleanup_free_ char *ok = context(&len, "Dockerfile", "FROM " FIXTURE_REF "\n", NULL);
        _cleanup_free_ char *missing = context(&len2, "Dockerfile", "FROM nothere:1\n", NULL);
        _cleanup_free_ char *bad = context(&len3, "Dockerfile", "FROM\n", NULL);
        const char text[] = "FROM busybox\nthis is a Dockerfile, not a tar: the context must be one";

        expect_refused(fx.sock_a, NULL, text, sizeof(text) - 1, 400,
                       "the build context is not a usable tar: not a tar archive (too short)");
        expect_refused(fx.sock_a, NULL, ok, 0, 400, "the build context is empty: send a tar of it as the body");
        expect_refused(fx.sock_a, "dockerfile=Nope", ok, len, 400, "Cannot locate specified Dockerfile: Nope");
        expect_refused(fx.sock_a, NULL, missing, len2, 404,
                       "FROM nothere:1: no such image in the store and pulls need serve --allow-network");
        /* tenant b has no such image either: the store is per tenant */
        expect_refused(fx.sock_b, NULL, ok, len, 404,
                       "FROM " FIXTURE_REF ": no such image in the store and pulls need serve --allow-network");
        expect_refused(fx.sock_a, NULL, bad, len3, 400, "Dockerfile line 1: FROM needs an image");
        expect_refused(fx.sock_a, "buildargs=%5B1%5D", ok, len, 400, "buildargs must be a JSON object of strings");
        expect_refused(fx.sock_a, "networkmode=host", ok, len, 400,
                       "networkmode host is not supported (default, bridge or none)");
        expect_refused(fx.sock_a, "t=Bad:1", ok, len, 400, "build.tags[0] \"Bad:1\" is not a valid image reference");
        expect_refused(fx.sock_a, "remote=https://example.org/x.git", ok, len, 400,
                       "remote build contexts are not supported: send the context as the body");
        ck_assert_uint_eq(fake_nstarted(), 0);
        ck_assert_uint_eq(jobs_of(NULL), 0);
}
END_TEST

/* The docker CLI 28 (DOCKER_BUILDKIT=0, as its users without buildx run
 * it) tars a directory and prints the classic builder's lines. */
START_TEST(docker_cli_build)
{
        char dir[128];
        _cleanup_free_ char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL;
        int rc;

        snprintf(dir, sizeof(dir), "%s/ctx", fx.dir);
        ck_assert_int_eq(mkdir(dir, 0700), 0);
        dfx_put_file(dir, "Dockerfile", "FROM " FIXTURE_REF "\nCOPY hello.txt /\n");
        dfx_put_file(dir, "hello.txt", "hi\n");
        rc = dfx_cli(&fx, fx.sock_a, &out, &err, "build", "-t", "cli/built:1", "--build-arg",
                     "FAKE=out:Step 1/2 : FROM " FIXTURE_REF "\n", dir, NULL);
        ck_assert_msg(rc == 0, "rc %d: %s %s", rc, out, err);
        ck_assert_ptr_nonnull(strstr(out, "Step 1/2 : FROM " FIXTURE_REF "\n"));
        ck_assert_ptr_nonnull(strstr(out, "Successfully built c732da56c260\nSuccessfully tagged cli/built:1\n"));
        ck_assert_str_eq(store_id("docker:a", "cli/built:1"), FIXTURE_ID);

        rc = dfx_cli(&fx, fx.sock_a, &out2, &err2, "build", "--build-arg",
                     "FAKE=exit:2|guest_error:The command '/bin/sh -c exit 2' returned a non-zero code: 2", dir, NULL);
        ck_assert_int_eq(rc, 2);
        ck_assert_ptr_nonnull(strstr(err2, "The command '/bin/sh -c exit 2' returned a non-zero code: 2"));
}
END_TEST

Suite *suite_docker_build(void)
{
        Suite *s = suite_create("docker_build");
        TCase *tc = tcase_create("http");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, build_streams_json_lines);
        tcase_add_test(tc, build_quiet_and_dockerfile);
        tcase_add_test(tc, build_failure_is_an_error_line);
        tcase_add_test(tc, build_from_preloaded);
        tcase_add_test(tc, build_refused_before_any_vm);
        tcase_add_test(tc, docker_cli_build);
        suite_add_tcase(s, tc);
        return s;
}
