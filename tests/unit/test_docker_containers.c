/* The Docker socket's containers driven by the real docker CLI and by raw
 * HTTP against the in-process server (docker_fixture.h: fake runner, fake
 * images, tenants "a" and "b"; no VM). */
#include "docker_fixture.h"
#include "fake_runner.h"
#include "http_client.h"
#include "service.h"
#include "tests.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static docker_fx fx;

/* The containers run a real image of the store (the fake runner ignores it). */
#define IMG "vmsandbox-fixture/hello:20.10"
#define IMG_ID "sha256:c732da56c260e5906dfe7641ccf58531957b5fa521395ae360b19fb0a7637f77"

static void setup(void)
{
        const char *socks[2];

        dfx_start(&fx);
        socks[0] = fx.sock_a;
        socks[1] = fx.sock_b;
        for (int i = 0; i < 2; i++) {
                char *out = NULL, *err = NULL;
                ck_assert_int_eq(dfx_cli(&fx, socks[i], &out, &err, "load", "-q", "-i",
                                         VS_FIXTURES_DIR "/docker-20.10.tar", NULL), 0);
                free(out), free(err);
        }
}

static void teardown(void)
{
        dfx_stop(&fx);
}

#define CLI(out, err, ...) dfx_cli(&fx, fx.sock_a, out, err, __VA_ARGS__, NULL)

/* The CLI's one-line answer without its newline. */
static char *line(char *s)
{
        size_t n = strlen(s);

        if (n && s[n - 1] == '\n')
                s[n - 1] = '\0';
        return s;
}

static bool is_id(const char *s)
{
        return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static json_t *http_json(const char *sock, const char *method, const char *path, const char *body, long *ret_status)
{
        char *text = NULL;
        json_t *j;

        *ret_status = dfx_http(sock, method, path, body, body ? strlen(body) : 0, &text, NULL);
        j = json_loads(text, JSON_DECODE_ANY, NULL);
        free(text);
        return j;
}

static const char *message(json_t *j)
{
        return json_string_value(json_object_get(j, "message"));
}

START_TEST(cli_create_start_wait_inspect)
{
        char *out = NULL, *err = NULL, id[65];
        json_t *j, *c;

        ck_assert_int_eq(CLI(&out, &err, "create", "--name", "web", "-e", "A=1", "-w", "/w", "-u", "1000:100", "--label",
                             "k=v", IMG, "fake", "out:hi", "exit:3"), 0);
        ck_assert_msg(is_id(line(out)), "%s / %s", out, err);
        snprintf(id, sizeof(id), "%s", out);
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "start", "web"), 0);
        ck_assert_str_eq(out, "web\n");
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "wait", "web"), 0);
        ck_assert_str_eq(out, "3\n");
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "inspect", "web"), 0);
        j = json_loads(out, 0, NULL);
        ck_assert_msg(json_is_array(j), "%s", out);
        c = json_array_get(j, 0);
        ck_assert_str_eq(json_string_value(json_object_get(c, "Id")), id);
        ck_assert_str_eq(json_string_value(json_object_get(c, "Name")), "/web");
        ck_assert_str_eq(json_string_value(json_object_get(c, "Image")), IMG_ID);
        ck_assert_str_eq(json_string_value(json_object_get(c, "Path")), "fake");
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(c, "Args"), 1)), "exit:3");
        {
                json_t *st = json_object_get(c, "State");
                ck_assert_str_eq(json_string_value(json_object_get(st, "Status")), "exited");
                ck_assert_int_eq(json_integer_value(json_object_get(st, "ExitCode")), 3);
                ck_assert(json_is_false(json_object_get(st, "Running")));
                ck_assert_int_eq(json_integer_value(json_object_get(st, "Pid")), 0);
                ck_assert_uint_eq(strlen(json_string_value(json_object_get(st, "StartedAt"))), 30);
                ck_assert_str_ne(json_string_value(json_object_get(st, "FinishedAt")), "0001-01-01T00:00:00Z");
        }
        {
                json_t *cfg = json_object_get(c, "Config");
                ck_assert_str_eq(json_string_value(json_object_get(cfg, "Image")), IMG);
                ck_assert_str_eq(json_string_value(json_object_get(cfg, "User")), "1000:100");
                ck_assert_str_eq(json_string_value(json_object_get(cfg, "WorkingDir")), "/w");
                ck_assert_str_eq(json_string_value(json_array_get(json_object_get(cfg, "Env"), 0)), "A=1");
                ck_assert_str_eq(json_string_value(json_object_get(json_object_get(cfg, "Labels"), "k")), "v");
                ck_assert_str_eq(json_string_value(json_array_get(json_object_get(cfg, "Cmd"), 0)), "fake");
        }
        ck_assert(json_is_false(json_object_get(json_object_get(c, "HostConfig"), "AutoRemove")));
        json_decref(j);
        free(out), free(err);
        /* Its output went where the job's goes. */
        ck_assert_uint_eq(fake_nstarted(), 1);
}
END_TEST

START_TEST(cli_run_detached_then_wait)
{
        char *out = NULL, *err = NULL, id[65];
        int rc;

        rc = CLI(&out, &err, "run", "-d", IMG, "fake", "exit:5");
        ck_assert_msg(rc == 0, "rc %d: %s / %s", rc, out, err);
        ck_assert_msg(is_id(line(out)), "%s / %s", out, err);
        snprintf(id, sizeof(id), "%s", out);
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "wait", id), 0);
        ck_assert_str_eq(out, "5\n");
        free(out), free(err);
        /* --rm: removed once it ended, wait by its id still gets the code. */
        ck_assert_int_eq(CLI(&out, &err, "run", "-d", "--rm", IMG, "fake", "exit:6"), 0);
        snprintf(id, sizeof(id), "%s", line(out));
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "wait", id), 0);
        ck_assert_str_eq(out, "6\n");
        free(out), free(err);
        for (int i = 0; i < 200; i++) {
                long st;
                char path[128];
                json_t *j;
                snprintf(path, sizeof(path), "/containers/%s/json", id);
                j = http_json(fx.sock_a, "GET", path, NULL, &st);
                json_decref(j);
                if (st == 404)
                        break;
                usleep(10000);
        }
        ck_assert_int_eq(CLI(&out, &err, "ps", "-a", "-q", "--no-trunc"), 0);
        ck_assert_msg(strstr(out, id) == NULL, "%s", out);
        free(out), free(err);
}
END_TEST

START_TEST(cli_ps_filters)
{
        char *out = NULL, *err = NULL;

        ck_assert_int_eq(CLI(&out, &err, "create", "--name", "first", "--label", "x=1", IMG, "fake"), 0);
        free(out), free(err);
        usleep(2000);
        ck_assert_int_eq(CLI(&out, &err, "create", "--name", "second", "--label", "x=2", IMG, "fake"), 0);
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "ps", "-a", "--format", "{{.Names}} {{.State}} {{.Status}}"), 0);
        ck_assert_str_eq(out, "second created Created\nfirst created Created\n");
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "ps", "--format", "{{.Names}}"), 0);
        ck_assert_str_eq(out, "");
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "ps", "-a", "--filter", "name=fir", "--format", "{{.Names}}"), 0);
        ck_assert_str_eq(out, "first\n");
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "ps", "-a", "--filter", "label=x=2", "--format", "{{.Names}}"), 0);
        ck_assert_str_eq(out, "second\n");
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "ps", "-a", "--filter", "label=x", "--format", "{{.Names}}"), 0);
        ck_assert_str_eq(out, "second\nfirst\n");
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "start", "first"), 0);
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "wait", "first"), 0);
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "ps", "-a", "--filter", "status=exited", "--format", "{{.Names}}"), 0);
        ck_assert_str_eq(out, "first\n");
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "ps", "-a", "--filter", "status=exited", "--format", "{{.Status}}"), 0);
        ck_assert_msg(strcmp(out, "Exited (0) Less than a second ago\n") == 0 || strcmp(out, "Exited (0) 1 second ago\n") == 0,
                      "%s", out);
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "ps", "-a", "--filter", "status=bogus"), 1);
        ck_assert_msg(strstr(err, "invalid filter 'status=bogus'"), "%s", err);
        free(out), free(err);
        /* The other tenant sees none of them. */
        ck_assert_int_eq(dfx_cli(&fx, fx.sock_b, &out, &err, "ps", "-a", "-q", NULL), 0);
        ck_assert_str_eq(out, "");
        free(out), free(err);
}
END_TEST

START_TEST(cli_kill_stop_rm)
{
        char *out = NULL, *err = NULL, id[65];

        ck_assert_int_eq(CLI(&out, &err, "run", "-d", "-e", "NAME=k1", IMG, "fake", "block"), 0);
        snprintf(id, sizeof(id), "%s", line(out));
        free(out), free(err);
        fake_wait_blocked(1);
        ck_assert_int_eq(CLI(&out, &err, "ps", "--format", "{{.ID}} {{.State}}"), 0);
        {
                char want[64];
                snprintf(want, sizeof(want), "%.12s running\n", id); /* docker ps shows 12 */
                ck_assert_str_eq(out, want);
        }
        free(out), free(err);
        /* /info: the counts of one list; the name is not the host's. */
        ck_assert_int_eq(CLI(&out, &err, "create", "--name", "c0", IMG, "fake"), 0);
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "info", "--format",
                             "{{.Containers}} {{.ContainersRunning}} {{.ContainersStopped}} {{.Name}}"),
                         0);
        ck_assert_str_eq(out, "2 1 0 vmsandbox\n");
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "rm", "c0"), 0);
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "rm", id), 1);
        ck_assert_msg(strstr(err, "You cannot remove a running container"), "%s", err);
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "kill", id), 0);
        ck_assert_str_eq(line(out), id);
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "wait", id), 0);
        ck_assert_str_eq(out, "137\n");
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "info", "--format", "{{.ContainersRunning}} {{.ContainersStopped}}"), 0);
        ck_assert_str_eq(out, "0 1\n");
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "kill", id), 1);
        ck_assert_msg(strstr(err, "is not running"), "%s", err);
        free(out), free(err);

        ck_assert_int_eq(CLI(&out, &err, "run", "-d", "--name", "s1", "-e", "NAME=s1", IMG, "fake", "block"), 0);
        free(out), free(err);
        fake_wait_blocked(1);
        ck_assert_int_eq(CLI(&out, &err, "stop", "s1"), 0);
        ck_assert_str_eq(out, "s1\n");
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "s1"), 0);
        ck_assert_str_eq(out, "exited 137\n");
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "stop", "s1"), 0); /* 304: stopped already */
        free(out), free(err);

        ck_assert_int_eq(CLI(&out, &err, "run", "-d", "--name", "f1", "-e", "NAME=f1", IMG, "fake", "block"), 0);
        free(out), free(err);
        fake_wait_blocked(1);
        ck_assert_int_eq(CLI(&out, &err, "rm", "-f", "f1", "s1", id), 0);
        {
                char want[128];
                snprintf(want, sizeof(want), "f1\ns1\n%s\n", id);
                ck_assert_str_eq(out, want);
        }
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "ps", "-a", "-q"), 0);
        ck_assert_str_eq(out, "");
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "rm", "nope"), 1);
        ck_assert_msg(strstr(err, "No such container: nope"), "%s", err);
        free(out), free(err);
}
END_TEST

START_TEST(http_errors)
{
        char body[512], want[512];
        long st;
        json_t *j;

        j = http_json(fx.sock_a, "GET", "/v1.41/containers/nope/json", NULL, &st);
        ck_assert_int_eq(st, 404);
        ck_assert_str_eq(message(j), "No such container: nope");
        json_decref(j);
        j = http_json(fx.sock_a, "POST", "/containers/create", "{\"Image\": ", &st);
        ck_assert_int_eq(st, 400);
        ck_assert_msg(strncmp(message(j), "invalid JSON in the container config: ", 38) == 0, "%s", message(j));
        json_decref(j);
        j = http_json(fx.sock_a, "POST", "/containers/create", "{\"Image\":\"" IMG "\",\"HostConfig\":{\"Binds\":[\"/etc:/erc\"]}}",
                      &st);
        ck_assert_int_eq(st, 400);
        ck_assert_str_eq(message(j), "bind source /etc is not below an allowed root (--allow-root)");
        json_decref(j);
        j = http_json(fx.sock_a, "POST", "/containers/create", "{\"Image\":\"missing:1\"}", &st);
        ck_assert_int_eq(st, 404);
        ck_assert_str_eq(message(j), "No such image: missing:1");
        json_decref(j);
        j = http_json(fx.sock_a, "POST", "/containers/create?name=dup", "{\"Image\":\"" IMG "\"}", &st);
        ck_assert_int_eq(st, 201);
        ck_assert_uint_eq(json_array_size(json_object_get(j, "Warnings")), 0);
        snprintf(want, sizeof(want),
                 "Conflict. The container name \"/dup\" is already in use by container \"%s\". You have to remove (or "
                 "rename) that container to be able to reuse that name.",
                 json_string_value(json_object_get(j, "Id")));
        json_decref(j);
        j = http_json(fx.sock_a, "POST", "/containers/create?name=dup", "{\"Image\":\"" IMG "\"}", &st);
        ck_assert_int_eq(st, 409);
        ck_assert_str_eq(message(j), want);
        json_decref(j);
        /* The other tenant: the name is free there, the container unknown. */
        j = http_json(fx.sock_b, "GET", "/containers/dup/json", NULL, &st);
        ck_assert_int_eq(st, 404);
        ck_assert_str_eq(message(j), "No such container: dup");
        json_decref(j);
        j = http_json(fx.sock_b, "POST", "/containers/create?name=dup", "{\"Image\":\"" IMG "\"}", &st);
        ck_assert_int_eq(st, 201);
        json_decref(j);
        j = http_json(fx.sock_a, "POST", "/containers/dup/wait?condition=whenever", NULL, &st);
        ck_assert_int_eq(st, 400);
        ck_assert_str_eq(message(j), "invalid condition: \"whenever\"");
        json_decref(j);
        j = http_json(fx.sock_a, "POST", "/containers/dup/resize?h=40&w=80", NULL, &st);
        ck_assert_int_eq(st, 200);
        json_decref(j);
        j = http_json(fx.sock_a, "POST", "/containers/nope/resize?h=40&w=80", NULL, &st);
        ck_assert_int_eq(st, 404);
        json_decref(j);
        snprintf(body, sizeof(body), "{\"Image\":\"" IMG "\",\"HostConfig\":{\"Binds\":[\"%s/a:/a\",\"%s/b:/a\"]}}", fx.roots,
                 fx.roots);
        j = http_json(fx.sock_a, "POST", "/containers/create", body, &st);
        ck_assert_int_eq(st, 400);
        ck_assert_str_eq(message(j), "Duplicate mount point: /a");
        json_decref(j);
        /* Several binds: each must be there, and the one that is not is named. */
        snprintf(body, sizeof(body), "{\"Image\":\"" IMG "\",\"HostConfig\":{\"Binds\":[\"%s:/a:ro\",\"%s/nope:/b\"]}}",
                 fx.roots, fx.roots);
        j = http_json(fx.sock_a, "POST", "/containers/create", body, &st);
        ck_assert_int_eq(st, 400);
        {
                char nope[512];
                snprintf(nope, sizeof(nope), "bind source: %s/nope: No such file or directory", fx.roots);
                ck_assert_str_eq(message(j), nope);
        }
        json_decref(j);
        snprintf(body, sizeof(body), "{\"Image\":\"" IMG "\",\"HostConfig\":{\"Binds\":[\"%s:/a:ro\",\"/srv/x:/b\"]}}",
                 fx.roots);
        j = http_json(fx.sock_a, "POST", "/containers/create", body, &st);
        ck_assert_int_eq(st, 400);
        ck_assert_str_eq(message(j), "bind source /srv/x is not below an allowed root (--allow-root)");
        json_decref(j);
        /* A created container: not-running holds at once (Docker's). */
        j = http_json(fx.sock_a, "POST", "/containers/dup/wait", NULL, &st);
        ck_assert_int_eq(st, 200);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "StatusCode")), 0);
        ck_assert(json_is_null(json_object_get(j, "Error")));
        json_decref(j);
        /* Start twice: 304. */
        ck_assert_int_eq(dfx_http(fx.sock_a, "POST", "/containers/dup/start", NULL, 0, NULL, NULL), 204);
        j = http_json(fx.sock_a, "POST", "/containers/dup/wait?condition=next-exit", NULL, &st);
        ck_assert_int_eq(st, 200);
        json_decref(j);
        ck_assert_int_eq(dfx_http(fx.sock_a, "POST", "/containers/dup/start", NULL, 0, NULL, NULL), 409);
}
END_TEST

/* AutoRemove as dockerode's run does it: create, start, wait (removed). */
START_TEST(http_auto_remove_wait)
{
        char path[160];
        long st;
        json_t *j;
        const char *id;
        char idbuf[65];

        j = http_json(fx.sock_a, "POST", "/containers/create",
                      "{\"Image\":\"" IMG "\",\"Cmd\":[\"fake\",\"exit:9\"],\"HostConfig\":{\"AutoRemove\":true}}", &st);
        ck_assert_int_eq(st, 201);
        id = json_string_value(json_object_get(j, "Id"));
        snprintf(idbuf, sizeof(idbuf), "%s", id);
        json_decref(j);
        snprintf(path, sizeof(path), "/containers/%s/start", idbuf);
        ck_assert_int_eq(dfx_http(fx.sock_a, "POST", path, NULL, 0, NULL, NULL), 204);
        snprintf(path, sizeof(path), "/containers/%s/wait?condition=removed", idbuf);
        j = http_json(fx.sock_a, "POST", path, NULL, &st);
        ck_assert_int_eq(st, 200);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "StatusCode")), 9);
        json_decref(j);
        /* Again, now that it is surely gone. */
        j = http_json(fx.sock_a, "POST", path, NULL, &st);
        ck_assert_int_eq(st, 200);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "StatusCode")), 9);
        json_decref(j);
        snprintf(path, sizeof(path), "/containers/%s/json", idbuf);
        j = http_json(fx.sock_a, "GET", path, NULL, &st);
        ck_assert_int_eq(st, 404);
        json_decref(j);
        /* Not for the other tenant. */
        snprintf(path, sizeof(path), "/containers/%s/wait", idbuf);
        j = http_json(fx.sock_b, "POST", path, NULL, &st);
        ck_assert_int_eq(st, 404);
        json_decref(j);
}
END_TEST

/* A waiter whose client leaves: the connection is let go (no spinning
 * thread left behind), the container goes on. */
START_TEST(http_wait_client_gone)
{
        char *out = NULL, *err = NULL, id[65], cmd[512];
        int rc;

        ck_assert_int_eq(CLI(&out, &err, "run", "-d", "-e", "NAME=g1", IMG, "fake", "block"), 0);
        snprintf(id, sizeof(id), "%s", line(out));
        free(out), free(err);
        fake_wait_blocked(1);
        snprintf(cmd, sizeof(cmd), "curl -s -m 1 --unix-socket %s -X POST http://d/containers/%s/wait >/dev/null 2>&1",
                 fx.sock_a, id);
        rc = system(cmd);
        ck_assert_int_eq(WEXITSTATUS(rc), 28); /* curl's timeout: the wait held */
        for (int i = 0; i < 300 && vs_server_connections(fx.srv) > 0; i++)
                usleep(10000);
        ck_assert_uint_eq(vs_server_connections(fx.srv), 0);
        fake_release("g1");
        ck_assert_int_eq(CLI(&out, &err, "wait", id), 0);
        ck_assert_str_eq(out, "0\n");
        free(out), free(err);
}
END_TEST

/* The image comes from the tenant's store: hard-linked into the job (rmi
 * cannot pull it away; while a container uses it, rmi is refused as
 * Docker refuses it) and run by its id. */
START_TEST(store_image_linked)
{
        char *out = NULL, *err = NULL, id[65], path[256];
        json_t *spec;
        struct stat st;

        ck_assert_int_eq(CLI(&out, &err, "create", "--name", "u1", IMG, "fake", "exit:0"), 0);
        snprintf(id, sizeof(id), "%s", line(out));
        free(out), free(err);
        /* The job (and its directory) is named by the id's first 12. */
        snprintf(path, sizeof(path), "%s/server/jobs/%.12s/image.tar", fx.dir, id);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_ge(st.st_nlink, 2);
        ck_assert_int_eq(CLI(&out, &err, "rmi", IMG), 1);
        ck_assert_msg(strstr(err, "conflict") || strstr(err, "Conflict"), "%s", err);
        id[12] = '\0'; /* Docker names the container by its short id here */
        ck_assert_msg(strstr(err, id), "%s", err);
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "start", "u1"), 0);
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "wait", "u1"), 0);
        ck_assert_str_eq(out, "0\n");
        free(out), free(err);
        spec = fake_last_spec();
        ck_assert_str_eq(json_string_value(json_object_get(spec, "tag")), IMG_ID);
        ck_assert_str_eq(json_string_value(json_object_get(spec, "image")), path);
        json_decref(spec);
        /* Once it is gone the image may go; the container keeps nothing. */
        ck_assert_int_eq(CLI(&out, &err, "rm", "u1"), 0);
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "rmi", IMG), 0);
        free(out), free(err);
        ck_assert_int_eq(CLI(&out, &err, "create", IMG), 1);
        free(out), free(err);
}
END_TEST

/* A tenant's binds stay below its own root (fixture: a's root is
 * fx.roots, b has none): b, although fx.roots is the service's
 * --allow-root, binds no host directory at all; a path with ".." below
 * a's root is refused by its letters (it would resolve below the service's
 * root, outside a's). */
START_TEST(http_binds_below_tenant_root)
{
        char ws[160], body[512], want[512];
        long st;
        json_t *j;

        snprintf(ws, sizeof(ws), "%s/ws", fx.roots);
        ck_assert_int_eq(mkdir(ws, 0700), 0);
        snprintf(body, sizeof(body), "{\"Image\":\"" IMG "\",\"HostConfig\":{\"Binds\":[\"%s:/erc\"]}}", ws);
        j = http_json(fx.sock_b, "POST", "/containers/create", body, &st);
        ck_assert_int_eq(st, 400);
        snprintf(want, sizeof(want),
                 "bind source %s: tenant b has no allowed root, so it binds no host directory (serve --docker-socket "
                 "PATH:TENANT:ROOT, or \"root\" in POST /v1/docker-sockets)",
                 ws);
        ck_assert_str_eq(message(j), want);
        json_decref(j);
        snprintf(body, sizeof(body), "{\"Image\":\"" IMG "\",\"HostConfig\":{\"Binds\":[\"%s/../ws:/erc\"]}}", ws);
        j = http_json(fx.sock_a, "POST", "/containers/create", body, &st);
        ck_assert_int_eq(st, 400);
        snprintf(want, sizeof(want), "bind source %s/../ws: a path with \".\" or \"..\" is not allowed", ws);
        ck_assert_str_eq(message(j), want);
        json_decref(j);
        /* Nothing of the refused ones is listed. */
        j = http_json(fx.sock_b, "GET", "/containers/json?all=1", NULL, &st);
        ck_assert_int_eq(st, 200);
        ck_assert_uint_eq(json_array_size(j), 0);
        json_decref(j);
        snprintf(body, sizeof(body), "{\"Image\":\"" IMG "\",\"HostConfig\":{\"Binds\":[\"%s:/erc\"]}}", ws);
        j = http_json(fx.sock_a, "POST", "/containers/create", body, &st);
        ck_assert_int_eq(st, 201);
        json_decref(j);
}
END_TEST

/* Held requests are counted per tenant (--owner-holds 2 here): a third
 * wait of tenant a is 429, tenant b still gets in, and a's slot comes
 * back when one of its waits goes away. */
static int held_wait(const char *sock, const char *ref, char *head, size_t headlen)
{
        char req[256];
        int fd = hc_dial(sock, 0);

        snprintf(req, sizeof(req),
                 "POST /containers/%s/wait?condition=next-exit HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n", ref);
        hc_send(fd, req);
        hc_read_head(fd, 5000, head, headlen);
        return fd;
}

START_TEST(http_holds_per_tenant)
{
        const char *socks[2];
        char head[4096];
        int fds[3];
        bool back = false;

        dfx_start_limits(&fx, 2, 0, 0);
        socks[0] = fx.sock_a;
        socks[1] = fx.sock_b;
        for (int i = 0; i < 2; i++) {
                char *out = NULL, *err = NULL;
                ck_assert_int_eq(dfx_cli(&fx, socks[i], &out, &err, "load", "-q", "-i",
                                         VS_FIXTURES_DIR "/docker-20.10.tar", NULL), 0);
                free(out), free(err);
                ck_assert_msg(dfx_cli(&fx, socks[i], &out, &err, "create", "--name", "w1", IMG, "fake", NULL) == 0, "%s",
                              err);
                free(out), free(err);
        }
        for (int i = 0; i < 2; i++) {
                fds[i] = held_wait(fx.sock_a, "w1", head, sizeof(head));
                ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "wait %d: %.300s", i, head);
        }
        {
                long st;
                json_t *j = http_json(fx.sock_a, "POST", "/containers/w1/wait?condition=next-exit", NULL, &st);

                ck_assert_int_eq(st, 429);
                ck_assert_str_eq(message(j), "tenant a has 2 streams, waits, uploads and downloads open, its share "
                                             "(serve --owner-holds); try again later");
                json_decref(j);
        }
        fds[2] = held_wait(fx.sock_b, "w1", head, sizeof(head));
        ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "tenant b: %.300s", head);
        close(fds[0]);
        for (int i = 0; i < 50 && !back; i++) {
                fds[0] = held_wait(fx.sock_a, "w1", head, sizeof(head));
                back = strncmp(head, "HTTP/1.1 200", 12) == 0;
                if (!back) {
                        close(fds[0]);
                        usleep(100000);
                }
        }
        ck_assert_msg(back, "a's slot did not come back: %.300s", head);
        for (int i = 0; i < 3; i++)
                close(fds[i]);
        dfx_stop(&fx);
}
END_TEST

/* A build is a job of the tenant but no container: absent from
 * /containers/json (all=1 too) and not counted by /info. */
START_TEST(build_jobs_not_containers)
{
        vs_service *svc = vs_server_service(fx.srv);
        json_t *spec = json_pack("{s:s, s:o}", "tag", "x:1", "env", json_pack("[s]", "NAME=build-like"));
        char job[13];
        vs_error e = { 0 };
        long st;
        json_t *j;

        ck_assert_msg(vs_service_create(svc, "docker:a", spec, job, &e) == 0, "%s", e.msg);
        json_decref(spec);
        j = http_json(fx.sock_a, "POST", "/containers/create?name=real", "{\"Image\":\"" IMG "\"}", &st);
        ck_assert_int_eq(st, 201);
        json_decref(j);
        j = http_json(fx.sock_a, "GET", "/containers/json?all=1", NULL, &st);
        ck_assert_int_eq(st, 200);
        ck_assert_uint_eq(json_array_size(j), 1);
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(json_array_get(j, 0), "Names"), 0)), "/real");
        json_decref(j);
        j = http_json(fx.sock_a, "GET", "/info", NULL, &st);
        ck_assert_int_eq(st, 200);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "Containers")), 1);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "ContainersStopped")), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "ContainersRunning")), 0);
        json_decref(j);
        /* Running, the build still does not count. */
        ck_assert_int_eq(vs_service_start(svc, "docker:a", job, &e), 0);
        j = http_json(fx.sock_a, "GET", "/info", NULL, &st);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "Containers")), 1);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "ContainersRunning")), 0);
        json_decref(j);
        j = http_json(fx.sock_a, "GET", "/containers/json", NULL, &st);
        ck_assert_uint_eq(json_array_size(j), 0);
        json_decref(j);
}
END_TEST

Suite *suite_docker_containers(void)
{
        Suite *s = suite_create("docker_containers");
        TCase *t = tcase_create("cli");

        tcase_add_checked_fixture(t, setup, teardown);
        tcase_set_timeout(t, 120);
        tcase_add_test(t, cli_create_start_wait_inspect);
        tcase_add_test(t, cli_run_detached_then_wait);
        tcase_add_test(t, cli_ps_filters);
        tcase_add_test(t, cli_kill_stop_rm);
        tcase_add_test(t, http_errors);
        tcase_add_test(t, http_binds_below_tenant_root);
        tcase_add_test(t, http_auto_remove_wait);
        tcase_add_test(t, http_wait_client_gone);
        tcase_add_test(t, store_image_linked);
        tcase_add_test(t, build_jobs_not_containers);
        suite_add_tcase(s, t);
        t = tcase_create("holds");
        tcase_set_timeout(t, 120);
        tcase_add_test(t, http_holds_per_tenant);
        suite_add_tcase(s, t);
        return s;
}
