/* The Docker socket's common parts: listeners and tenants, the version
 * prefix, headers, errors, and the system endpoints, with the real docker
 * CLI (docker_fixture.h). */
#include "docker_fixture.h"
#include "fake_runner.h"
#include "fsutil.h"
#include "tests.h"

#include <fcntl.h>
#include <unistd.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

static docker_fx fx;

static void setup(void)
{
        dfx_start(&fx);
}

static void teardown(void)
{
        dfx_stop(&fx);
}

START_TEST(version_prefix_parsed)
{
        const char *rest;
        unsigned v;

        ck_assert_int_eq(docker_strip_version("/v1.41/containers/json", &rest, &v), 0);
        ck_assert_str_eq(rest, "/containers/json");
        ck_assert_uint_eq(v, 141);
        ck_assert_int_eq(docker_strip_version("/v1.25", &rest, &v), 0);
        ck_assert_str_eq(rest, "/");
        ck_assert_uint_eq(v, 125);
        ck_assert_int_eq(docker_strip_version("/_ping", &rest, &v), 0);
        ck_assert_str_eq(rest, "/_ping");
        ck_assert_uint_eq(v, 0);
        ck_assert_int_eq(docker_strip_version("/version", &rest, &v), 0); /* "v" then a letter: no prefix */
        ck_assert_str_eq(rest, "/version");
        ck_assert_int_eq(docker_strip_version("/v1/x", &rest, &v), 0);
        ck_assert_uint_eq(v, 100);
        ck_assert_int_eq(docker_strip_version("/v1.x/ping", &rest, &v), -1);
        ck_assert_int_eq(docker_strip_version("/v1.412/ping", &rest, &v), -1);
        ck_assert_int_eq(docker_strip_version("/v123.1/ping", &rest, &v), -1);
        ck_assert_int_eq(docker_strip_version("/v1.41x", &rest, &v), -1);
        ck_assert_int_eq(docker_strip_version("/v1./ping", &rest, &v), -1);
}
END_TEST

START_TEST(tenant_names_checked)
{
        char owner[VS_OWNER_MAX + 1];
        vs_error err = { 0 };

        ck_assert_int_eq(docker_owner("pod-1.a_b", owner, &err), 0);
        ck_assert_str_eq(owner, "docker:pod-1.a_b");
        ck_assert_int_eq(docker_owner("", owner, &err), -1);
        ck_assert_int_eq(docker_owner("a/b", owner, &err), -1);
        ck_assert_int_eq(docker_owner("a:b", owner, &err), -1);
        ck_assert_int_eq(docker_owner("0123456789012345678901234567890123456789012345678", owner, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "tenant"));
}
END_TEST

/* Both sockets exist, 0660, and answer _ping with Docker's headers. */
START_TEST(ping_headers)
{
        char *body, *headers;
        struct stat st;

        ck_assert_int_eq(stat(fx.sock_a, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0660);
        ck_assert(S_ISSOCK(st.st_mode));
        ck_assert_int_eq(dfx_http(fx.sock_b, "GET", "/_ping", NULL, 0, &body, &headers), 200);
        ck_assert_str_eq(body, "OK");
        ck_assert_ptr_nonnull(strstr(headers, "Api-Version: 1.41\r\n"));
        ck_assert_ptr_nonnull(strstr(headers, "Docker-Experimental: false\r\n"));
        ck_assert_ptr_nonnull(strstr(headers, "OSType: linux\r\n"));
        ck_assert_ptr_nonnull(strstr(headers, "Server: vmsandbox/"));
        free(body);
        free(headers);
        ck_assert_int_eq(dfx_http(fx.sock_a, "HEAD", "/v1.30/_ping", NULL, 0, &body, &headers), 200);
        ck_assert_str_eq(body, "");
        ck_assert_ptr_nonnull(strstr(headers, "Api-Version: 1.41\r\n"));
        free(body);
        free(headers);
}
END_TEST

/* The job API's routes are not on a Docker socket, and the reverse. */
START_TEST(apis_apart)
{
        char *body;
        json_t *j;

        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1/health", NULL, 0, &body, NULL), 400);
        ck_assert_ptr_nonnull(strstr(body, "too old"));
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.41/v1/jobs", NULL, 0, &body, NULL), 501);
        j = json_loads(body, 0, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(j, "message")),
                         "vmsandbox does not implement GET /v1/jobs");
        json_decref(j);
        free(body);
}
END_TEST

START_TEST(unknown_route_is_501)
{
        char *body, *headers;
        json_t *j;

        ck_assert_int_eq(dfx_http(fx.sock_a, "POST", "/v1.41/containers/x/exec", "{}", 2, &body, &headers), 501);
        ck_assert_ptr_nonnull(strstr(headers, "Api-Version: 1.41\r\n"));
        j = json_loads(body, 0, NULL);
        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(json_string_value(json_object_get(j, "message")),
                         "vmsandbox does not implement POST /containers/x/exec");
        json_decref(j);
        free(body);
        free(headers);
        /* A path of invalid UTF-8 still gets an answer (made valid). */
        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.41/x%ff%fe", NULL, 0, &body, NULL), 501);
        j = json_loads(body, 0, NULL);
        ck_assert_ptr_nonnull(j);
        ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "message")), "\xef\xbf\xbd"));
        json_decref(j);
        free(body);
}
END_TEST

/* docker inspect NAME asks every kind in turn: those vmsandbox has none of
 * are "not found" (a 501 would end the search with an error). */
START_TEST(no_networks_volumes_plugins)
{
        static const char *paths[] = { "/v1.41/networks/x", "/v1.41/volumes/x", "/v1.41/plugins/x/json" };
        char *body;

        for (size_t i = 0; i < 3; i++) {
                ck_assert_int_eq(dfx_http(fx.sock_a, "GET", paths[i], NULL, 0, &body, NULL), 404);
                ck_assert_ptr_nonnull(strstr(body, " x not found"));
                free(body);
        }
}
END_TEST

START_TEST(api_version_bounds)
{
        char *body;
        json_t *j;

        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.99/version", NULL, 0, &body, NULL), 400);
        j = json_loads(body, 0, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(j, "message")),
                         "client version 1.99 is too new. Maximum supported API version is 1.41");
        json_decref(j);
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.24/version", NULL, 0, &body, NULL), 400);
        ck_assert_ptr_nonnull(strstr(body, "Minimum supported API version is 1.25"));
        free(body);
        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.25/version", NULL, 0, &body, NULL), 200);
        free(body);
}
END_TEST

/* What o2r-muncher reads from /version. */
START_TEST(version_fields)
{
        char *body;
        json_t *j;

        ck_assert_int_eq(dfx_http(fx.sock_a, "GET", "/v1.41/version", NULL, 0, &body, NULL), 200);
        j = json_loads(body, 0, NULL);
        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(json_string_value(json_object_get(j, "ApiVersion")), "1.41");
        ck_assert_str_eq(json_string_value(json_object_get(j, "MinAPIVersion")), "1.25");
        ck_assert_str_eq(json_string_value(json_object_get(j, "Version")), VS_VERSION);
        ck_assert_str_eq(json_string_value(json_object_get(j, "Os")), "linux");
        ck_assert_str_eq(json_string_value(json_object_get(j, "Arch")), "amd64");
        ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_object_get(j, "Platform"), "Name")),
                                     "vmsandbox"));
        json_decref(j);
        free(body);
}
END_TEST

/* The real CLI negotiates the version and prints the server's. */
START_TEST(cli_version)
{
        char *out, *err;

        ck_assert_int_eq(dfx_cli(&fx, fx.sock_a, &out, &err, "version", "--format",
                                 "{{.Server.Version}} {{.Server.APIVersion}} {{.Server.Os}}/{{.Server.Arch}}", NULL),
                         0);
        ck_assert_str_eq(out, VS_VERSION " 1.41 linux/amd64\n");
        free(out);
        free(err);
        ck_assert_int_eq(dfx_cli(&fx, fx.sock_b, &out, &err, "info", "--format",
                                 "{{.Containers}} {{.OSType}} {{.Driver}}", NULL),
                         0);
        ck_assert_str_eq(out, "0 linux vmsandbox\n");
        free(out);
        free(err);
}
END_TEST

/* ---- sockets added at run time ------------------------------------------------ */

#define ADMIN "admin-token-0123456789abcdef"

static char rdir[64];

static vs_server *runtime_server(bool with_dir)
{
        static char jobs_sock[96], tokfile[96], sockdir[96], allowed[96];
        static char *rootv[2];
        static vs_config rcfg;
        vs_server_opts o = { .max_body = 1 << 20, .docker_gid = -1 };
        vs_server *srv = NULL;
        vs_error err = { 0 };
        FILE *f;

        snprintf(jobs_sock, sizeof(jobs_sock), "%s/jobs.sock", rdir);
        snprintf(tokfile, sizeof(tokfile), "%s/token", rdir);
        snprintf(sockdir, sizeof(sockdir), "%s/socks", rdir);
        snprintf(allowed, sizeof(allowed), "%s/allowed", rdir);
        mkdir(sockdir, 0755);
        mkdir(allowed, 0700);
        rootv[0] = allowed;
        f = fopen(tokfile, "w");
        fputs(ADMIN "\n", f);
        fclose(f);
        rcfg = (vs_config){ .state_dir = rdir };
        o.socket = jobs_sock;
        o.token_file = tokfile;
        o.docker_socket_dir = with_dir ? sockdir : NULL;
        o.service.cfg = &rcfg;
        o.service.max_jobs = 1;
        o.service.memory_budget = 8ull << 30;
        o.service.max_upload = 1 << 20;
        o.service.run = fake_run;
        o.service.allowed_roots = rootv;
        ck_assert_msg(vs_server_start(&o, &srv, &err) == 0, "%s", err.msg);
        return srv;
}

/* The job API over its unix socket, with the admin token. */
static long admin_http(const char *method, const char *path, const char *body, char **ret)
{
        char sockp[96];

        snprintf(sockp, sizeof(sockp), "%s/jobs.sock", rdir);
        return dfx_http_auth(sockp, method, path, body, body ? strlen(body) : 0, "Bearer " ADMIN, ret);
}

START_TEST(runtime_sockets)
{
        vs_server *srv;
        char path[128], file[128], *body;
        struct stat st;
        json_t *j;
        int fd;

        snprintf(rdir, sizeof(rdir), "/tmp/vs-dsock-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(rdir));
        srv = runtime_server(true);
        ck_assert_int_eq(admin_http("POST", "/v1/docker-sockets", "{\"tenant\": \"pod1\"}", &body), 201);
        j = json_loads(body, 0, NULL);
        snprintf(path, sizeof(path), "%s/socks/pod1.sock", rdir);
        ck_assert_str_eq(json_string_value(json_object_get(j, "path")), path);
        json_decref(j);
        free(body);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0660);
        ck_assert_int_eq(dfx_http(path, "GET", "/_ping", NULL, 0, &body, NULL), 200);
        free(body);
        /* Again: conflict; a bad name: 400; without the token: 401. */
        ck_assert_int_eq(admin_http("POST", "/v1/docker-sockets", "{\"tenant\": \"pod1\"}", &body), 409);
        free(body);
        ck_assert_int_eq(admin_http("POST", "/v1/docker-sockets", "{\"tenant\": \"../x\"}", &body), 400);
        free(body);
        snprintf(file, sizeof(file), "%s/jobs.sock", rdir);
        ck_assert_int_eq(dfx_http(file, "POST", "/v1/docker-sockets", "{\"tenant\": \"p\"}", 15, &body, NULL), 401);
        free(body);
        /* Something that is not a socket is never replaced. */
        snprintf(file, sizeof(file), "%s/socks/pod2.sock", rdir);
        fd = open(file, O_CREAT | O_WRONLY, 0600);
        ck_assert_int_eq(write(fd, "keep", 4), 4);
        close(fd);
        ck_assert_int_eq(admin_http("POST", "/v1/docker-sockets", "{\"tenant\": \"pod2\"}", &body), 400);
        ck_assert_ptr_nonnull(strstr(body, "is not a socket"));
        free(body);
        ck_assert_int_eq(stat(file, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_int_eq(admin_http("GET", "/v1/docker-sockets", NULL, &body), 200);
        j = json_loads(body, 0, NULL);
        ck_assert_uint_eq(json_array_size(json_object_get(j, "sockets")), 1);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "sockets"), 0), "tenant")),
                         "pod1");
        json_decref(j);
        free(body);

        /* A restart brings it back. */
        vs_server_stop(srv, 1000);
        ck_assert_int_ne(stat(path, &st), 0);
        srv = runtime_server(true);
        ck_assert_int_eq(dfx_http(path, "GET", "/_ping", NULL, 0, &body, NULL), 200);
        free(body);
        ck_assert_int_eq(admin_http("DELETE", "/v1/docker-sockets/pod1", NULL, &body), 200);
        free(body);
        ck_assert_int_ne(stat(path, &st), 0);
        ck_assert_int_eq(admin_http("DELETE", "/v1/docker-sockets/pod1", NULL, &body), 404);
        free(body);
        vs_server_stop(srv, 1000);
        /* Removed for good: not back after a restart; without the dir, refused. */
        srv = runtime_server(false);
        ck_assert_int_ne(stat(path, &st), 0);
        ck_assert_int_eq(admin_http("POST", "/v1/docker-sockets", "{\"tenant\": \"pod3\"}", &body), 409);
        ck_assert_ptr_nonnull(strstr(body, "--docker-socket-dir"));
        free(body);
        vs_server_stop(srv, 1000);
        vs_rm_rf(rdir);
}
END_TEST

/* The runtime file of many tenants (longer than 64 bytes: it was read
 * with the socket count as its byte bound, and then ignored whole) comes
 * back after a restart. */
START_TEST(runtime_file_many_tenants)
{
        vs_server *srv;
        char body[128], path[128], *answer;
        struct stat st;

        snprintf(rdir, sizeof(rdir), "/tmp/vs-dsock-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(rdir));
        srv = runtime_server(true);
        for (int i = 0; i < 12; i++) {
                snprintf(body, sizeof(body), "{\"tenant\": \"notebook-pod-%02d\"}", i);
                ck_assert_int_eq(admin_http("POST", "/v1/docker-sockets", body, &answer), 201);
                free(answer);
        }
        vs_server_stop(srv, 1000);
        srv = runtime_server(true);
        for (int i = 0; i < 12; i++) {
                snprintf(path, sizeof(path), "%s/socks/notebook-pod-%02d.sock", rdir, i);
                ck_assert_msg(stat(path, &st) == 0 && S_ISSOCK(st.st_mode), "%s not restored", path);
        }
        vs_server_stop(srv, 1000);
        vs_rm_rf(rdir);
}
END_TEST

/* The tenant's root given with its socket reaches the service, is listed,
 * persisted and restored; a bad one is refused with nothing left; a
 * docker-sockets.json of the format before roots (a list of names) still
 * loads, those tenants without a root. */
static json_t *socket_of(const char *tenant)
{
        char *body;
        json_t *j, *e, *found = NULL;
        size_t i;

        ck_assert_int_eq(admin_http("GET", "/v1/docker-sockets", NULL, &body), 200);
        j = json_loads(body, 0, NULL);
        free(body);
        json_array_foreach(json_object_get(j, "sockets"), i, e)
                if (strcmp(json_string_value(json_object_get(e, "tenant")), tenant) == 0)
                        found = json_incref(e);
        json_decref(j);
        return found;
}

static void add_refused(const char *body, long status, const char *want, const char *sock)
{
        char *answer, path[128];
        json_t *j;
        struct stat st;

        ck_assert_int_eq(admin_http("POST", "/v1/docker-sockets", body, &answer), status);
        j = json_loads(answer, 0, NULL);
        ck_assert_msg(j && strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "message")), want) == 0, "%s",
                      answer);
        json_decref(j);
        free(answer);
        snprintf(path, sizeof(path), "%s/socks/%s.sock", rdir, sock);
        ck_assert_int_ne(stat(path, &st), 0);
}

START_TEST(runtime_socket_roots)
{
        vs_server *srv;
        char file[128], root[128], body[512], want[512], *answer, *r;
        json_t *j;
        FILE *f;

        snprintf(rdir, sizeof(rdir), "/tmp/vs-dsock-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(rdir));
        snprintf(file, sizeof(file), "%s/server", rdir);
        ck_assert_int_eq(mkdir(file, 0700), 0);
        snprintf(file, sizeof(file), "%s/server/docker-sockets.json", rdir);
        f = fopen(file, "w");
        fputs("[\"old1\"]", f);
        fclose(f);
        srv = runtime_server(true);
        j = socket_of("old1");
        ck_assert_ptr_nonnull(j);
        ck_assert(json_is_null(json_object_get(j, "root")));
        ck_assert_str_eq(json_string_value(json_object_get(j, "added")), "api");
        json_decref(j);
        snprintf(file, sizeof(file), "%s/socks/old1.sock", rdir);
        ck_assert_int_eq(dfx_http(file, "GET", "/_ping", NULL, 0, &answer, NULL), 200);
        free(answer);

        snprintf(root, sizeof(root), "%s/allowed/pod1", rdir);
        ck_assert_int_eq(mkdir(root, 0700), 0);
        snprintf(body, sizeof(body), "{\"tenant\": \"pod1\", \"root\": \"%s\"}", root);
        ck_assert_int_eq(admin_http("POST", "/v1/docker-sockets", body, &answer), 201);
        j = json_loads(answer, 0, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(j, "root")), root);
        json_decref(j);
        free(answer);
        r = vs_service_tenant_root(vs_server_service(srv), "docker:pod1");
        ck_assert_str_eq(r, root);
        free(r);
        ck_assert_ptr_null(vs_service_tenant_root(vs_server_service(srv), "docker:old1"));

        snprintf(want, sizeof(want), "socket %s/socks/pod2.sock: root /etc is not below an allowed root (--allow-root)",
                 rdir);
        add_refused("{\"tenant\": \"pod2\", \"root\": \"/etc\"}", 403, want, "pod2");
        snprintf(body, sizeof(body), "{\"tenant\": \"pod2\", \"root\": \"%s/../x\"}", root);
        snprintf(want, sizeof(want), "socket %s/socks/pod2.sock: root %s/../x: expected an absolute path without \".\" or \"..\"",
                 rdir, root);
        add_refused(body, 400, want, "pod2");
        add_refused("{\"tenant\": \"pod2\", \"root\": 5}", 400, "expected {\"tenant\": NAME, \"root\": DIR} (root optional)",
                    "pod2");
        add_refused("{\"tenant\": \"pod2\", \"root\": \"/x\", \"more\": 1}", 400,
                    "expected {\"tenant\": NAME, \"root\": DIR} (root optional)", "pod2");
        ck_assert_ptr_null(vs_service_tenant_root(vs_server_service(srv), "docker:pod2"));

        /* Kept in the file, both forms read back after a restart. */
        vs_server_stop(srv, 1000);
        srv = runtime_server(true);
        j = socket_of("pod1");
        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(json_string_value(json_object_get(j, "root")), root);
        json_decref(j);
        j = socket_of("old1");
        ck_assert_ptr_nonnull(j);
        json_decref(j);
        r = vs_service_tenant_root(vs_server_service(srv), "docker:pod1");
        ck_assert_str_eq(r, root);
        free(r);
        /* The root goes with the tenant's socket. */
        ck_assert_int_eq(admin_http("DELETE", "/v1/docker-sockets/pod1", NULL, &answer), 200);
        free(answer);
        ck_assert_ptr_null(vs_service_tenant_root(vs_server_service(srv), "docker:pod1"));
        vs_server_stop(srv, 1000);
        vs_rm_rf(rdir);
}
END_TEST

Suite *suite_docker(void)
{
        Suite *s = suite_create("docker");
        TCase *t = tcase_create("pure");
        TCase *n = tcase_create("server");
        TCase *r;

        tcase_add_test(t, version_prefix_parsed);
        tcase_add_test(t, tenant_names_checked);
        suite_add_tcase(s, t);
        tcase_add_checked_fixture(n, setup, teardown);
        tcase_set_timeout(n, 120);
        tcase_add_test(n, ping_headers);
        tcase_add_test(n, apis_apart);
        tcase_add_test(n, unknown_route_is_501);
        tcase_add_test(n, api_version_bounds);
        tcase_add_test(n, no_networks_volumes_plugins);
        tcase_add_test(n, version_fields);
        tcase_add_test(n, cli_version);
        suite_add_tcase(s, n);
        r = tcase_create("runtime");
        tcase_set_timeout(r, 60);
        tcase_add_test(r, runtime_sockets);
        tcase_add_test(r, runtime_socket_roots);
        tcase_add_test(r, runtime_file_many_tenants);
        suite_add_tcase(s, r);
        return s;
}
