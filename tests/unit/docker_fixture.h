/* The Docker-compatible socket in-process, for unit tests: vs_server_start
 * with the fake runner (fake_runner.h) and two Docker sockets (tenants "a"
 * and "b"), driven by the real docker CLI and by raw HTTP (libcurl). */
#ifndef VS_DOCKER_FIXTURE_H
#define VS_DOCKER_FIXTURE_H

#include "server.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
        char dir[64];          /* state dir; allowed root: dir/roots (tenant a's root; b has none) */
        char roots[96];
        char sock_a[96], sock_b[96];
        char base[96];         /* dfx_base_image's */
        vs_config cfg;
        vs_server *srv;
} docker_fx;

/* The docker CLI the tests run: $VS_DOCKER_CLI or /usr/local/bin/docker. */
const char *dfx_docker_cli(void);

void dfx_start(docker_fx *fx);
/* The same with serve's --owner-holds, --tmp-space and --owner-tmp-space
 * (0: their defaults). */
void dfx_start_limits(docker_fx *fx, unsigned owner_holds, uint64_t tmp_space, uint64_t owner_tmp_space);
void dfx_stop(docker_fx *fx);

/* Runs the docker CLI against sock with args (NULL-terminated); returns its
 * exit status (-1: killed after 60 s); *ret_out and *ret_err (may be NULL)
 * get its stdout and stderr (malloc'd). */
int dfx_cli(const docker_fx *fx, const char *sock, char **ret_out, char **ret_err, ...)
        __attribute__((sentinel));
/* The same with the args as a NULL-terminated array (at most 62). */
int dfx_cli_argv(const docker_fx *fx, const char *sock, char **ret_out, char **ret_err, const char *const *args);
/* Runs the CLI with args: exit status rc, stdout and stderr exactly
 * want_out and want_err (NULL: not checked). */
void dfx_cli_expect(const docker_fx *fx, const char *sock, int rc, const char *want_out, const char *want_err,
                    const char *const *args);
#define DFX_CLI_EXPECT(fx, sock, rc, want_out, want_err, ...) \
        dfx_cli_expect(fx, sock, rc, want_out, want_err, (const char *const[]){ __VA_ARGS__, NULL })

/* dir/name with text (asserted). */
void dfx_put_file(const char *dir, const char *name, const char *text);
/* A base image of empty files and manifest (manifest.json's text) in
 * fx->base, made the service's (fx->cfg.image): what it preloads counts. */
void dfx_base_image(docker_fx *fx, const char *manifest);
/* One HTTP request on sock; returns the status, the body in *ret_body and
 * the header block in *ret_headers (both malloc'd, may be NULL). */
long dfx_http(const char *sock, const char *method, const char *path, const char *body, size_t body_len,
              char **ret_body, char **ret_headers);

/* The same with an Authorization header (NULL: none). */
long dfx_http_auth(const char *sock, const char *method, const char *path, const char *body, size_t body_len,
                   const char *authorization, char **ret_body);

#endif
