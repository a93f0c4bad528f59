#include "docker_fixture.h"
#include "fake_runner.h"
#include "fsutil.h"
#include "http_client.h"
#include "tests.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

const char *dfx_docker_cli(void)
{
        const char *p = getenv("VS_DOCKER_CLI");

        return p && *p ? p : "/usr/local/bin/docker";
}

void dfx_start(docker_fx *fx)
{
        dfx_start_limits(fx, 0, 0, 0);
}

void dfx_start_limits(docker_fx *fx, unsigned owner_holds, uint64_t tmp_space, uint64_t owner_tmp_space)
{
        static vs_docker_socket socks[2];
        vs_server_opts o = { .max_body = 1 << 20, .docker_gid = -1, .owner_holds = owner_holds,
                             .tmp_space = tmp_space, .owner_tmp_space = owner_tmp_space };
        vs_error err = { 0 };

        memset(fx, 0, sizeof(*fx));
        snprintf(fx->dir, sizeof(fx->dir), "/tmp/vs-docker-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(fx->dir));
        snprintf(fx->roots, sizeof(fx->roots), "%s/roots", fx->dir);
        ck_assert_int_eq(mkdir(fx->roots, 0700), 0);
        snprintf(fx->sock_a, sizeof(fx->sock_a), "%s/a.sock", fx->dir);
        snprintf(fx->sock_b, sizeof(fx->sock_b), "%s/b.sock", fx->dir);
        socks[0] = (vs_docker_socket){ fx->sock_a, "a", fx->roots };
        socks[1] = (vs_docker_socket){ fx->sock_b, "b", NULL };
        fx->cfg = (vs_config){ .state_dir = fx->dir };
        fake_reset();
        o.docker = socks;
        o.ndocker = 2;
        o.service.cfg = &fx->cfg;
        o.service.max_jobs = 2;
        o.service.memory_budget = 64ull << 30;
        o.service.max_upload = 64 << 20;
        o.service.run = fake_run;
        {
                static char *roots[2];
                roots[0] = fx->roots;
                o.service.allowed_roots = roots;
        }
        ck_assert_msg(vs_server_start(&o, &fx->srv, &err) == 0, "%s", err.msg);
}

void dfx_stop(docker_fx *fx)
{
        fake_release("*");
        vs_server_stop(fx->srv, 1000);
        fx->srv = NULL;
        vs_rm_rf(fx->dir);
}

static char *slurp(const char *path)
{
        FILE *f = fopen(path, "r");
        char *buf = NULL;
        size_t len = 0, n;
        char chunk[4096];

        ck_assert_ptr_nonnull(f);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
                buf = realloc(buf, len + n + 1);
                memcpy(buf + len, chunk, n);
                len += n;
        }
        fclose(f);
        if (!buf)
                buf = calloc(1, 1);
        buf[len] = '\0';
        return buf;
}

int dfx_cli(const docker_fx *fx, const char *sock, char **ret_out, char **ret_err, ...)
{
        const char *args[63];
        size_t n = 0;
        va_list ap;

        va_start(ap, ret_err);
        for (const char *a; (a = va_arg(ap, const char *)) && n < 62;)
                args[n++] = a;
        va_end(ap);
        args[n] = NULL;
        return dfx_cli_argv(fx, sock, ret_out, ret_err, args);
}

void dfx_cli_expect(const docker_fx *fx, const char *sock, int rc, const char *want_out, const char *want_err,
                    const char *const *args)
{
        char *out, *err;
        int got = dfx_cli_argv(fx, sock, &out, &err, args);

        ck_assert_msg(got == rc, "docker %s %s: exit %d, not %d: %s", args[0], args[0] && args[1] ? args[1] : "", got,
                      rc, err);
        if (want_out)
                ck_assert_str_eq(out, want_out);
        if (want_err)
                ck_assert_str_eq(err, want_err);
        free(out);
        free(err);
}

void dfx_put_file(const char *dir, const char *name, const char *text)
{
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
}

void dfx_base_image(docker_fx *fx, const char *manifest)
{
        snprintf(fx->base, sizeof(fx->base), "%s/base", fx->dir);
        ck_assert_int_eq(mkdir(fx->base, 0700), 0);
        dfx_put_file(fx->base, "root.qcow2", "");
        dfx_put_file(fx->base, "vmlinuz", "");
        dfx_put_file(fx->base, "initrd.img", "");
        dfx_put_file(fx->base, "manifest.json", manifest);
        fx->cfg.image = fx->base;
}

int dfx_cli_argv(const docker_fx *fx, const char *sock, char **ret_out, char **ret_err, const char *const *args)
{
        char host[128], config[128], out[128], errp[128];
        char *argv[64], *envp[8];
        posix_spawn_file_actions_t fa;
        size_t n = 0;
        pid_t pid;
        int status = 0;
        struct timespec t0, t;

        snprintf(host, sizeof(host), "DOCKER_HOST=unix://%s", sock);
        snprintf(config, sizeof(config), "DOCKER_CONFIG=%s/docker-config", fx->dir);
        snprintf(out, sizeof(out), "%s/cli.out", fx->dir);
        snprintf(errp, sizeof(errp), "%s/cli.err", fx->dir);
        envp[0] = host;
        envp[1] = config;
        envp[2] = (char *)"PATH=/usr/local/bin:/usr/bin:/bin";
        envp[3] = (char *)"HOME=/nonexistent";
        envp[4] = (char *)"DOCKER_CLI_HINTS=false";
        /* As a user of the CLI 28 without buildx does: docker build takes
         * the classic builder's POST /build (else it asks for buildx). */
        envp[5] = (char *)"DOCKER_BUILDKIT=0";
        envp[6] = NULL;
        argv[n++] = (char *)dfx_docker_cli();
        for (size_t i = 0; args[i] && n < 63; i++)
                argv[n++] = (char *)args[i];
        argv[n] = NULL;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ck_assert_msg(posix_spawn(&pid, argv[0], &fa, NULL, argv, envp) == 0, "cannot run %s", argv[0]);
        posix_spawn_file_actions_destroy(&fa);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid)
                        break;
                clock_gettime(CLOCK_MONOTONIC, &t);
                if (t.tv_sec - t0.tv_sec > 60) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        status = -1;
                        break;
                }
                usleep(10000);
        }
        if (ret_out)
                *ret_out = slurp(out);
        if (ret_err)
                *ret_err = slurp(errp);
        if (status == -1)
                return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

long dfx_http(const char *sock, const char *method, const char *path, const char *body, size_t body_len,
              char **ret_body, char **ret_headers)
{
        hc_request rq = { .sock = sock, .host = "docker", .method = method, .path = path, .body = body,
                          .body_len = body_len, .content_type = "application/json" };

        return hc_perform_text(&rq, ret_body, ret_headers);
}

long dfx_http_auth(const char *sock, const char *method, const char *path, const char *body, size_t body_len,
                   const char *authorization, char **ret_body)
{
        hc_request rq = { .sock = sock, .host = "docker", .method = method, .path = path, .body = body,
                          .body_len = body_len, .content_type = "application/json", .authorization = authorization };

        return hc_perform_text(&rq, ret_body, NULL);
}
