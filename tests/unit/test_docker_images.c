/* The Docker socket's image endpoints (docker_images.c) with the real docker
 * CLI and raw HTTP against the in-process server (docker_fixture.h):
 * load, images, inspect, tag, save, rmi, create, tenancy, bad names. */
#include "archive.h"
#include "docker_fixture.h"
#include "fsutil.h"
#include "parse.h"
#include "http_client.h"
#include "tests.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID_2010 "sha256:c732da56c260e5906dfe7641ccf58531957b5fa521395ae360b19fb0a7637f77"
#define ID_OCI "sha256:72cbb8094008ea35d34f9daf7b9cd7c0246cbffe6dec846e6e7bb26f90536139"
#define TAG_2010 "vmsandbox-fixture/hello:20.10"
#define TAG_OCI "vmsandbox-fixture/hello:oci"
#define FIX(f) VS_FIXTURES_DIR "/" f

static docker_fx fx;

static void setup(void)
{
        dfx_start(&fx);
}

static void teardown(void)
{
        dfx_stop(&fx);
}

/* The docker CLI's exit code, its stdout in *out (freed by the caller). */
#define CLI(sock, out, err, ...) dfx_cli(&fx, sock, out, err, __VA_ARGS__, (char *)NULL)

/* Exit 0 and stdout exactly want_out (NULL: not checked); the args end
 * with NULL. */
#define cli_ok(sock, want_out, ...) dfx_cli_expect(&fx, sock, 0, want_out, NULL, (const char *const[]){ __VA_ARGS__ })

static void load_fixture(const char *sock, const char *file, const char *line)
{
        cli_ok(sock, line, "load", "-i", file, NULL);
}

/* The store is STATE_DIR/server/images: STATE_DIR/images is where the base
 * images live with the default state dir (/var/lib/vmsandbox), and the
 * store made that 0700, which QEMU then could not traverse. */
START_TEST(store_not_in_base_images_dir)
{
        char path[128];
        struct stat st;

        snprintf(path, sizeof(path), "%s/images", fx.dir);
        ck_assert_int_eq(stat(path, &st), -1);
        snprintf(path, sizeof(path), "%s/server/images", fx.dir);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0700);
}
END_TEST

START_TEST(cli_load_images_inspect)
{
        char *body = NULL;

        load_fixture(fx.sock_a, FIX("docker-20.10.tar"), "Loaded image: " TAG_2010 "\n");
        cli_ok(fx.sock_a, TAG_2010 " c732da56c260\n", "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", NULL);
        cli_ok(fx.sock_a, ID_2010 " linux amd64 [\"/hello\"] /\n", "image", "inspect", "--format",
               "{{.Id}} {{.Os}} {{.Architecture}} {{json .Config.Cmd}} {{.Config.WorkingDir}}", TAG_2010, NULL);
        cli_ok(fx.sock_a, ID_2010 "\n", "image", "inspect", "--format", "{{.Id}}", "c732da56", NULL);
        /* the raw answer of a quiet load: Docker's JSON line */
        {
                char *data = NULL;
                size_t len = 0;
                vs_error err = { 0 };

                ck_assert_int_eq(vs_read_file(FIX("oci-layout.tar"), 1 << 20, &data, &len, &err), 0);
                ck_assert_int_eq(dfx_http(fx.sock_a, "POST", "/v1.41/images/load?quiet=1", data, len, &body, NULL), 200);
                ck_assert_str_eq(body, "{\"stream\":\"Loaded image: " TAG_OCI "\\n\"}\r\n");
                free(body);
                free(data);
        }
        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.41/images/json", NULL, 0, &body, NULL), 200);
        {
                json_error_t je;
                json_t *j = json_loads(body, 0, &je), *first;

                ck_assert_ptr_nonnull(j);
                ck_assert_uint_eq(json_array_size(j), 2);
                first = json_array_get(j, 0);
                ck_assert_str_eq(json_string_value(json_object_get(first, "Id")), ID_OCI);
                ck_assert_str_eq(json_string_value(json_array_get(json_object_get(first, "RepoTags"), 0)), TAG_OCI);
                ck_assert_int_eq(json_integer_value(json_object_get(first, "Size")), 10240);
                ck_assert_int_eq(json_integer_value(json_object_get(first, "Created")), 0);
                json_decref(j);
        }
        free(body);
        /* a reference filter, as `docker images REPO:TAG` sends it */
        cli_ok(fx.sock_a, TAG_OCI "\n", "images", "--format", "{{.Repository}}:{{.Tag}}", "vmsandbox-fixture/hello:oci", NULL);
}
END_TEST

START_TEST(cli_tag_save_rmi)
{
        char *out = NULL, *errs = NULL, path[160], cmd[256];
        vs_archive_info info;
        vs_error err = { 0 };

        load_fixture(fx.sock_a, FIX("oci-layout.tar"), "Loaded image: " TAG_OCI "\n");
        cli_ok(fx.sock_a, "", "tag", TAG_OCI, "erc:job1", NULL);
        /* one row per tag; the CLI's order of the rows of one image varies */
        ck_assert_int_eq(CLI(fx.sock_a, &out, &errs, "images", "--format", "{{.Repository}}:{{.Tag}}"), 0);
        ck_assert_msg(strcmp(out, TAG_OCI "\nerc:job1\n") == 0 || strcmp(out, "erc:job1\n" TAG_OCI "\n") == 0, "%s", out);
        free(out);
        free(errs);
        snprintf(path, sizeof(path), "%s/saved.tar", fx.dir);
        cli_ok(fx.sock_a, "", "save", "-o", path, "erc:job1", NULL);
        snprintf(cmd, sizeof(cmd), "tar -tf %s > %s/saved.list", path, fx.dir);
        ck_assert_int_eq(system(cmd), 0);
        ck_assert_int_eq(vs_archive_inspect(path, &info, &err), 0);
        ck_assert_uint_eq(info.n_images, 1);
        ck_assert_str_eq(info.images[0].ref, "erc:job1");
        ck_assert_str_eq(info.images[0].id, ID_OCI);
        vs_archive_info_clear(&info);
        /* saved by id: no tags */
        cli_ok(fx.sock_a, "", "save", "-o", path, ID_OCI, NULL);
        ck_assert_int_eq(vs_archive_inspect(path, &info, &err), 0);
        ck_assert_ptr_null(info.images[0].ref);
        vs_archive_info_clear(&info);
        /* an image named twice is saved once: docker save of both tags */
        cli_ok(fx.sock_a, "", "save", "-o", path, "erc:job1", TAG_OCI, NULL);
        ck_assert_int_eq(vs_archive_inspect(path, &info, &err), 0);
        ck_assert_uint_eq(info.n_images, 2);
        vs_archive_info_clear(&info);

        cli_ok(fx.sock_a, "Untagged: erc:job1\n", "rmi", "erc:job1", NULL);
        cli_ok(fx.sock_a, "Untagged: " TAG_OCI "\nDeleted: " ID_OCI "\n", "rmi", TAG_OCI, NULL);
        cli_ok(fx.sock_a, "", "images", "-q", NULL);
        ck_assert_int_eq(CLI(fx.sock_a, &out, &errs, "rmi", TAG_OCI), 1);
        ck_assert_str_eq(errs, "Error response from daemon: No such image: " TAG_OCI "\n");
        free(out);
        free(errs);
}
END_TEST

/* Docker's messages and statuses for what is not there or not a name. */
START_TEST(errors_as_docker)
{
        char *body = NULL, *out = NULL, *errs = NULL;

        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.41/images/nothere/json", NULL, 0, &body, NULL), 404);
        ck_assert_str_eq(body, "{\"message\":\"No such image: nothere:latest\"}\n");
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.41/images/..%2F..%2Fetc/json", NULL, 0, &body, NULL), 400);
        ck_assert_str_eq(body, "{\"message\":\"invalid reference format\"}\n");
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_a, "DELETE", "/v1.41/images/Upper", NULL, 0, &body, NULL), 400);
        ck_assert_str_eq(body, "{\"message\":\"invalid reference format: repository name must be lowercase\"}\n");
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.41/images/x/history", NULL, 0, &body, NULL), 501);
        ck_assert_str_eq(body, "{\"message\":\"vmsandbox does not implement GET /images/x/history\"}\n");
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_a, "POST", "/v1.41/images/load", "not a tar", 9, &body, NULL), 400);
        ck_assert_ptr_nonnull(strstr(body, "image upload"));
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.41/images/get", NULL, 0, &body, NULL), 400);
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.41/images/json?filters=%7B%22x%22%3A%7B%7D%7D", NULL, 0, &body,
                                  NULL), 400);
        ck_assert_str_eq(body, "{\"message\":\"invalid filter 'x'\"}\n");
        free(body);
        ck_assert_int_eq(CLI(fx.sock_a, &out, &errs, "image", "inspect", "nothere:1"), 1);
        ck_assert_ptr_nonnull(strstr(errs, "No such image: nothere:1"));
        free(out);
        free(errs);
        ck_assert_int_eq(CLI(fx.sock_a, &out, &errs, "tag", "nothere:1", "x:1"), 1);
        ck_assert_str_eq(errs, "Error response from daemon: No such image: nothere:1\n");
        free(out);
        free(errs);
}
END_TEST

/* No pulls: a clear 4xx, and an image the tenant has is "up to date". */
START_TEST(create_without_pulls)
{
        char *body = NULL, *out = NULL, *errs = NULL;

        ck_assert_int_eq(dfx_http(fx.sock_a, "POST", "/v1.41/images/create?fromImage=busybox&tag=1.36", NULL, 0, &body,
                                  NULL), 403);
        ck_assert_str_eq(body, "{\"message\":\"vmsandbox does not pull images: pulls are not enabled on this socket; "
                               "load busybox:1.36 with `docker load` (POST /images/load)\"}\n");
        free(body);
        load_fixture(fx.sock_a, FIX("docker-20.10.tar"), "Loaded image: " TAG_2010 "\n");
        ck_assert_int_eq(dfx_http(fx.sock_a, "POST", "/v1.41/images/create?fromImage=vmsandbox-fixture/hello&tag=20.10",
                                  NULL, 0, &body, NULL), 200);
        ck_assert_str_eq(body, "{\"status\":\"Status: Image is up to date for " TAG_2010 "\"}\r\n");
        free(body);
        ck_assert_int_eq(CLI(fx.sock_a, &out, &errs, "pull", "busybox"), 1);
        ck_assert_ptr_nonnull(strstr(errs, "pulls are not enabled"));
        free(out);
        free(errs);
        ck_assert_int_eq(dfx_http(fx.sock_a, "POST", "/v1.41/images/create?fromSrc=-", NULL, 0, &body, NULL), 501);
        free(body);
}
END_TEST

/* An image preloaded into the base image counts as present (by the tag
 * manifest.json records, in any spelling, or by id); others still 403. */
START_TEST(create_preloaded_present)
{
        char *body = NULL;

        dfx_base_image(&fx, "{\"cmdline\": \"x\", \"root_fs_mib\": 10, \"preloaded\": [{\"file\": \"r.tar\", "
                            "\"images\": [{\"id\": \"" ID_OCI "\", \"tags\": [\"rocker/r-ver:4\"]}]}]}");
        ck_assert_int_eq(dfx_http(fx.sock_b, "POST", "/v1.41/images/create?fromImage=docker.io/rocker/r-ver&tag=4", NULL, 0,
                                  &body, NULL), 200);
        ck_assert_str_eq(body, "{\"status\":\"Status: Image is up to date for rocker/r-ver:4\"}\r\n");
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_b, "POST", "/v1.41/images/create?fromImage=" ID_OCI, NULL, 0, &body, NULL), 200);
        ck_assert_str_eq(body, "{\"status\":\"Status: Image is up to date for " ID_OCI "\"}\r\n");
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_b, "POST", "/v1.41/images/create?fromImage=rocker/r-ver&tag=3", NULL, 0, &body,
                                  NULL), 403);
        free(body);
        fx.cfg.image = NULL;
}
END_TEST

/* One tenant's images are not another's: absent from lists, 404 by tag,
 * id and prefix, not taggable, savable or removable. */
START_TEST(tenants_apart)
{
        char *body = NULL, *out = NULL, *errs = NULL, path[160];

        load_fixture(fx.sock_a, FIX("docker-20.10.tar"), "Loaded image: " TAG_2010 "\n");
        cli_ok(fx.sock_b, "", "images", "-q", NULL);
        ck_assert_int_eq(dfx_http(fx.sock_b, "GET", "/v1.41/images/" ID_2010 "/json", NULL, 0, &body, NULL), 404);
        ck_assert_str_eq(body, "{\"message\":\"No such image: " ID_2010 "\"}\n");
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_b, "GET", "/v1.41/images/c732/json", NULL, 0, &body, NULL), 404);
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_b, "POST", "/v1.41/images/" TAG_2010 "/tag?repo=mine&tag=1", NULL, 0, &body,
                                  NULL), 404);
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_b, "DELETE", "/v1.41/images/" ID_2010 "?force=1", NULL, 0, &body, NULL), 404);
        free(body);
        snprintf(path, sizeof(path), "%s/b.tar", fx.dir);
        ck_assert_int_eq(CLI(fx.sock_b, &out, &errs, "save", "-o", path, TAG_2010), 1);
        ck_assert_ptr_nonnull(strstr(errs, "No such image: " TAG_2010));
        free(out);
        free(errs);
        cli_ok(fx.sock_a, TAG_2010 "\n", "images", "--format", "{{.Repository}}:{{.Tag}}", NULL);
}
END_TEST

/* A name with '/' as several segments or URL-encoded; the tag endpoint's
 * repo and tag; the single-image save endpoint; GET /images/get with two
 * names. */
START_TEST(names_with_slashes)
{
        char *body = NULL;
        vs_archive_info info;
        vs_error err = { 0 };
        char path[160];

        load_fixture(fx.sock_a, FIX("docker-20.10.tar"), "Loaded image: " TAG_2010 "\n");
        load_fixture(fx.sock_a, FIX("oci-layout.tar"), "Loaded image: " TAG_OCI "\n");
        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.41/images/vmsandbox-fixture%2Fhello:20.10/json", NULL, 0, &body,
                                  NULL), 200);
        ck_assert_ptr_nonnull(strstr(body, "\"Id\":\"" ID_2010 "\""));
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_a, "POST", "/v1.41/images/vmsandbox-fixture/hello:20.10/tag?repo=o2r/erc:x&tag=y",
                                  NULL, 0, &body, NULL), 201);
        ck_assert_str_eq(body, "");
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.41/images/o2r/erc:y/json", NULL, 0, &body, NULL), 200);
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_a, "POST", "/v1.41/images/o2r/erc:y/tag", NULL, 0, &body, NULL), 400);
        free(body);
        /* the first member of the archive is the config, <id>.json */
        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.41/images/o2r/erc:y/get", NULL, 0, &body, NULL), 200);
        ck_assert_str_eq(body, "c732da56c260e5906dfe7641ccf58531957b5fa521395ae360b19fb0a7637f77.json");
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.41/images/get?names=o2r/erc:y&names=" TAG_OCI, NULL, 0, &body,
                                  NULL), 200);
        free(body);
        /* the CLI writes the archive to a file: two images */
        snprintf(path, sizeof(path), "%s/two.tar", fx.dir);
        cli_ok(fx.sock_a, "", "save", "-o", path, "o2r/erc:y", TAG_OCI, NULL);
        ck_assert_int_eq(vs_archive_inspect(path, &info, &err), 0);
        ck_assert_uint_eq(info.n_images, 2);
        ck_assert_str_eq(info.images[0].ref, "o2r/erc:y");
        ck_assert_str_eq(info.images[0].id, ID_2010);
        ck_assert_str_eq(info.images[1].ref, TAG_OCI);
        vs_archive_info_clear(&info);
        ck_assert_int_eq(dfx_http(fx.sock_a, "DELETE", "/v1.41/images/o2r/erc:y", NULL, 0, &body, NULL), 200);
        ck_assert_str_eq(body, "[{\"Untagged\":\"o2r/erc:y\"}]\n");
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_a, "DELETE", "/v1.41/images/c732da56c260", NULL, 0, &body, NULL), 200);
        ck_assert_str_eq(body, "[{\"Untagged\":\"" TAG_2010 "\"},{\"Deleted\":\"" ID_2010 "\"}]\n");
        free(body);
}
END_TEST

/* A tenant past its share of the store: 429 for the image count, 507 for
 * the bytes, Docker's error shape; the other tenant loads on. */
START_TEST(tenant_share_statuses)
{
        char *data = NULL, *body = NULL;
        size_t len = 0;
        vs_error err = { 0 };
        json_t *j;

        ck_assert_int_eq(vs_read_file(FIX("oci-layout.tar"), 1 << 20, &data, &len, &err), 0);
        load_fixture(fx.sock_a, FIX("docker-20.10.tar"), "Loaded image: " TAG_2010 "\n");
        vs_imgstore_set_tenant_quota(vs_server_images(fx.srv), 1, 0);
        ck_assert_int_eq(dfx_http(fx.sock_a, "POST", "/v1.41/images/load?quiet=1", data, len, &body, NULL), 429);
        j = json_loads(body, 0, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(j, "message")),
                         "tenant docker:a has 1 images in the image store, its share is 1 (serve --tenant-images)");
        json_decref(j);
        free(body);
        vs_imgstore_set_tenant_quota(vs_server_images(fx.srv), 10, 1000);
        ck_assert_int_eq(dfx_http(fx.sock_a, "POST", "/v1.41/images/load?quiet=1", data, len, &body, NULL), 507);
        free(body);
        /* The docker CLI prints it. */
        DFX_CLI_EXPECT(&fx, fx.sock_b, 1, "",
                       "Error response from daemon: tenant docker:b's share of the image store is used up: it holds 0 "
                       "of 1000, this archive is 17.5K (serve --tenant-image-space)\n",
                       "load", "-i", FIX("docker-20.10.tar"));
        /* a's images do not count for b. */
        vs_imgstore_set_tenant_quota(vs_server_images(fx.srv), 1, 0);
        load_fixture(fx.sock_b, FIX("oci-layout.tar"), "Loaded image: " TAG_OCI "\n");
        free(data);
}
END_TEST

/* Temp files (load bodies, exports) count against the tenant's temporary
 * space and the service's: a declared body over either is 507 before it
 * is read; what a request held comes back when it ends. */
START_TEST(tmp_space_bounded)
{
        char *data = NULL, *body = NULL, req[256];
        size_t len = 0;
        vs_error err = { 0 };
        json_t *j;
        int fd;
        long st = 0;

        dfx_stop(&fx); /* the suite's fixture, with the default bounds */
        dfx_start_limits(&fx, 0, 30000, 20000);
        ck_assert_int_eq(vs_read_file(FIX("docker-20.10.tar"), 1 << 20, &data, &len, &err), 0);
        ck_assert_uint_eq(len, 17920);
        /* b's load is announced and held: 17920 of the 30000 in all. */
        fd = hc_dial(fx.sock_b, 0);
        snprintf(req, sizeof(req), "POST /images/load HTTP/1.1\r\nHost: d\r\nContent-Length: %zu\r\n\r\n", len);
        hc_send(fd, req);
        /* Once b's headers are in, a's body of 12081 bytes does not fit
         * beside it (507); 12080 does.  The wait is on the server's count:
         * a probe in flight would itself hold space and could turn b away. */
        {
                char *probe = calloc(1, 12081), want[256], x[32], y[32], z[32];
                uint64_t held = 0, max = 0;

                for (int i = 0; i < 500 && held != len; i++) {
                        if (i)
                                usleep(10000);
                        vs_server_tmp_usage(fx.srv, &held, &max);
                }
                ck_assert_uint_eq(held, len);
                ck_assert_uint_eq(max, 30000);
                st = dfx_http(fx.sock_a, "POST", "/v1.41/images/load?quiet=1", probe, 12081, &body, NULL);
                ck_assert_int_eq(st, 507);
                snprintf(want, sizeof(want),
                         "the service's temporary space is used up: %s of %s held, %s more asked for (serve --tmp-space)",
                         vs_format_size(17920, x, sizeof(x)), vs_format_size(30000, y, sizeof(y)),
                         vs_format_size(12081, z, sizeof(z)));
                j = json_loads(body, 0, NULL);
                ck_assert_str_eq(json_string_value(json_object_get(j, "message")), want);
                json_decref(j);
                free(body);
                /* 12080 fits (a bad archive, 400). */
                ck_assert_int_eq(dfx_http(fx.sock_a, "POST", "/v1.41/images/load?quiet=1", probe, 12080, &body, NULL), 400);
                free(body);
                free(probe);
        }
        hc_send(fd, ""); /* nothing more: close, and b's bytes come back */
        close(fd);
        {
                uint64_t held = len, max;

                for (int i = 0; i < 500 && held != 0; i++) {
                        usleep(10000);
                        vs_server_tmp_usage(fx.srv, &held, &max);
                }
                ck_assert_uint_eq(held, 0);
        }
        ck_assert_int_eq(dfx_http(fx.sock_a, "POST", "/v1.41/images/load?quiet=1", data, len, &body, NULL), 200);
        free(body);
        /* An export of 17920 bytes of blob and 64 KiB for its layout: over
         * the tenant's 20000 (and within 200000 in all). */
        dfx_stop(&fx);
        dfx_start_limits(&fx, 0, 200000, 20000);
        load_fixture(fx.sock_a, FIX("docker-20.10.tar"), "Loaded image: " TAG_2010 "\n");
        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.41/images/" TAG_2010 "/get", NULL, 0, &body, NULL), 507);
        j = json_loads(body, 0, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(j, "message")),
                         "tenant a's temporary space is used up: 0 of 19.5K held, 81.5K more asked for (serve "
                         "--owner-tmp-space)");
        json_decref(j);
        free(body);
        free(data);
}
END_TEST

Suite *suite_docker_images(void)
{
        Suite *s = suite_create("docker_images");
        TCase *tc = tcase_create("docker_images");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, store_not_in_base_images_dir);
        tcase_add_test(tc, cli_load_images_inspect);
        tcase_add_test(tc, cli_tag_save_rmi);
        tcase_add_test(tc, errors_as_docker);
        tcase_add_test(tc, create_without_pulls);
        tcase_add_test(tc, create_preloaded_present);
        tcase_add_test(tc, tenants_apart);
        tcase_add_test(tc, tenant_share_statuses);
        tcase_add_test(tc, tmp_space_bounded);
        tcase_add_test(tc, names_with_slashes);
        suite_add_tcase(s, tc);
        return s;
}
