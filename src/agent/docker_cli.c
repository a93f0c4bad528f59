/* docker's command lines and the parsing of docker's answers.  Nothing here
 * runs anything, so all of it is unit-tested (tests/unit/test_agent.c).
 * spec.json is written by the host, which has checked every field; the
 * agent still refuses what it cannot pass on faithfully (a missing string,
 * an argv past its bound) instead of running a different command. */
#include "agent.h"
#include "alloc.h"
#include "cleanup.h"
#include "protocol.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* An argv of at most DOCKER_ARGV_MAX - 1 words, allocated whole up front
 * (so it is NULL-terminated at every step and freed as a strv). */
typedef struct {
        char **v;
        size_t n;
} argv_builder;

static int push(argv_builder *b, const char *s, vs_error *err)
{
        if (b->n + 1 >= DOCKER_ARGV_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "spec.json: the docker command line has more than %u words",
                                    DOCKER_ARGV_MAX - 1);
        b->v[b->n++] = vs_xstrdup(s);
        return 0;
}

static int push2(argv_builder *b, const char *flag, const char *value, vs_error *err)
{
        return push(b, flag, err) < 0 || push(b, value, err) < 0 ? -1 : 0;
}

/* The string field name of spec, NULL when absent or null; -1 when it is
 * there with another type. */
static int opt_string(const json_t *spec, const char *name, const char **ret, vs_error *err)
{
        const json_t *v = json_object_get(spec, name);

        if (v && !json_is_null(v) && !json_is_string(v))
                return vs_error_set(err, VS_ERR_INPUT, "spec.json: %s is not a string", name);
        *ret = v ? json_string_value(v) : NULL;
        return 0;
}

/* Each string of the array field name, after flag when one is given. */
static int push_array(argv_builder *b, const json_t *spec, const char *name, const char *flag, vs_error *err)
{
        const json_t *a = json_object_get(spec, name), *v;
        size_t i;

        if (!a || json_is_null(a))
                return 0;
        if (!json_is_array(a))
                return vs_error_set(err, VS_ERR_INPUT, "spec.json: %s is not an array", name);
        json_array_foreach(a, i, v) {
                if (!json_is_string(v))
                        return vs_error_set(err, VS_ERR_INPUT, "spec.json: %s[%zu] is not a string", name, i);
                if (flag && push(b, flag, err) < 0)
                        return -1;
                if (push(b, json_string_value(v), err) < 0)
                        return -1;
        }
        return 0;
}

/* docker_socket: the VM's own engine socket bound into the container at
 * that path (a Docker socket's bind of /var/run/docker.sock: nested Docker
 * without any host socket). */
static int push_engine_socket(argv_builder *b, const json_t *spec, vs_error *err)
{
        _cleanup_free_ char *mount = NULL;
        const char *at;

        if (opt_string(spec, "docker_socket", &at, err) < 0)
                return -1;
        if (!at)
                return 0;
        if (at[0] != '/' || strchr(at, ','))
                return vs_error_set(err, VS_ERR_INPUT, "spec.json: docker_socket is not an absolute path without ','");
        mount = vs_xasprintf("type=bind,source=%s,target=%s", DOCKER_SOCK, at);
        return push2(b, "--mount", mount, err);
}

/* A container's binds: /job/binds/N (the host's copy, made by prepare) at
 * each target, readonly for ro ones (their changes would not go back
 * anyway: the container cannot make any).  Targets are checked on the host
 * (vs_spec_validate); checked again: a ',' or '"' would start another
 * field of the CSV that --mount is. */
static int push_binds(argv_builder *b, const json_t *spec, vs_error *err)
{
        const json_t *a = json_object_get(spec, "binds"), *v;
        size_t i;

        if (!a || json_is_null(a))
                return 0;
        if (!json_is_array(a) || json_array_size(a) > DOCKER_BINDS_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "spec.json: binds is not an array of at most %d", DOCKER_BINDS_MAX);
        json_array_foreach(a, i, v) {
                const char *t = json_string_value(json_object_get(v, "target"));
                _cleanup_free_ char *mount = NULL;

                if (!t || t[0] != '/' || strpbrk(t, ",\"\n") || !json_is_boolean(json_object_get(v, "ro")))
                        return vs_error_set(err, VS_ERR_INPUT, "spec.json: binds[%zu] is not {target, ro} with an absolute target without ',' or '\"'", i);
                mount = vs_xasprintf("type=bind,source=%s/binds/%zu,target=%s%s", VS_JOB_MOUNT, i, t,
                                     json_is_true(json_object_get(v, "ro")) ? ",readonly" : "");
                if (push2(b, "--mount", mount, err) < 0)
                        return -1;
        }
        return 0;
}

/* Hostname and Tty of the container's create config. */
static int push_terminal(argv_builder *b, const json_t *spec, vs_error *err)
{
        const char *h;

        if (opt_string(spec, "hostname", &h, err) < 0)
                return -1;
        if (h && push2(b, "--hostname", h, err) < 0)
                return -1;
        if (json_is_true(json_object_get(spec, "tty")) && push(b, "--tty", err) < 0)
                return -1;
        return 0;
}

/* The image reference, after the entrypoint's first word as --entrypoint
 * and before the rest of it: how the docker CLI maps an entrypoint array
 * (an --entrypoint also drops the image's cmd, as the Engine API does for
 * a container created with an Entrypoint).  An empty array resets the
 * image's entrypoint: --entrypoint "". */
static int push_entrypoint(argv_builder *b, const json_t *spec, const char *ref, vs_error *err)
{
        const json_t *a = json_object_get(spec, "entrypoint"), *v;
        size_t i;

        if (!a || json_is_null(a))
                return push2(b, "--", ref, err);
        if (!json_is_array(a))
                return vs_error_set(err, VS_ERR_INPUT, "spec.json: entrypoint is not an array");
        json_array_foreach(a, i, v)
                if (!json_is_string(v))
                        return vs_error_set(err, VS_ERR_INPUT, "spec.json: entrypoint[%zu] is not a string", i);
        if (push2(b, "--entrypoint", json_array_size(a) ? json_string_value(json_array_get(a, 0)) : "", err) < 0 ||
            push2(b, "--", ref, err) < 0)
                return -1;
        for (i = 1; i < json_array_size(a); i++)
                if (push(b, json_string_value(json_array_get(a, i)), err) < 0)
                        return -1;
        return 0;
}

/* docker create, then start -a (docker.c): the split tells "the engine could
 * not create the container" (an error) from "the workflow exited 125". */
unsigned long docker_container_memory_kib(unsigned long total_kib)
{
        if (total_kib == 0)
                return 0;
        return total_kib > DOCKER_ENGINE_RESERVE_KIB + DOCKER_CONTAINER_MIN_KIB ? total_kib - DOCKER_ENGINE_RESERVE_KIB
                                                                               : DOCKER_CONTAINER_MIN_KIB;
}

int docker_create_argv(const json_t *spec, unsigned long memory_kib, char ***ret_argv, vs_error *err)
{
        _cleanup_strv_ char **v = vs_xcalloc(DOCKER_ARGV_MAX, sizeof(*v));
        _cleanup_free_ char *mount = NULL;
        argv_builder b = { .v = v };
        const char *user, *workdir, *network, *mount_at, *ref;

        if (opt_string(spec, "user", &user, err) < 0 || opt_string(spec, "workdir", &workdir, err) < 0 ||
            opt_string(spec, "network", &network, err) < 0 || opt_string(spec, "mount_at", &mount_at, err) < 0 ||
            opt_string(spec, "ref", &ref, err) < 0)
                return -1;
        if (!ref)
                return vs_error_set(err, VS_ERR_INPUT, "spec.json: no image reference");
        if (push2(&b, DOCKER, "create", err) < 0 || push(&b, "--name=" DOCKER_CONTAINER, err) < 0 ||
            push(&b, network && !strcmp(network, "nat") ? "--network=bridge" : "--network=none", err) < 0)
                return -1;
        if (memory_kib) {
                _cleanup_free_ char *mem = vs_xasprintf("--memory=%luk", memory_kib);
                _cleanup_free_ char *swap = vs_xasprintf("--memory-swap=%luk", memory_kib); /* = memory: no swap */
                if (push(&b, mem, err) < 0 || push(&b, swap, err) < 0)
                        return -1;
        }
        if (user && push2(&b, "--user", user, err) < 0)
                return -1;
        if (workdir && push2(&b, "--workdir", workdir, err) < 0)
                return -1;
        if (push_array(&b, spec, "env", "--env", err) < 0)
                return -1;
        if (json_is_true(json_object_get(spec, "workspace"))) {
                /* A ',' would start another --mount field (source=...). */
                if (!mount_at || mount_at[0] != '/' || strchr(mount_at, ','))
                        return vs_error_set(err, VS_ERR_INPUT, "spec.json: mount_at is not an absolute path without ','");
                mount = vs_xasprintf("type=bind,source=%s/workspace,target=%s", VS_JOB_MOUNT, mount_at);
                if (push2(&b, "--mount", mount, err) < 0)
                        return -1;
        }
        if (push_binds(&b, spec, err) < 0 || push_terminal(&b, spec, err) < 0 || push_engine_socket(&b, spec, err) < 0 ||
            push_entrypoint(&b, spec, ref, err) < 0 ||
            push_array(&b, spec, "cmd", NULL, err) < 0)
                return -1;
        *ret_argv = TAKE_PTR(v);
        return 0;
}

int docker_parse_exit(const char *out, int *ret_exit, bool *ret_oom, char **ret_error, vs_error *err)
{
        const char *p = out;
        long code = 0;
        bool oom = false;
        size_t len;

        /* Digits only: atoi() made garbage (or nothing) exit code 0, i.e. a
         * success that never happened. */
        if (!isdigit((unsigned char)*p))
                return vs_error_set(err, VS_ERR_SANDBOX, "docker inspect gave no exit code");
        for (; isdigit((unsigned char)*p); p++) {
                code = code * 10 + (*p - '0');
                if (code > 255)
                        return vs_error_set(err, VS_ERR_SANDBOX, "docker inspect gave an exit code over 255");
        }
        if (*p != ' ')
                return vs_error_set(err, VS_ERR_SANDBOX, "docker inspect gave no exit code");
        p++;
        if (!strncmp(p, "true ", 5))
                oom = true;
        else if (strncmp(p, "false ", 6))
                return vs_error_set(err, VS_ERR_SANDBOX, "docker inspect gave no OOMKilled");
        p += oom ? 5 : 6;
        len = strcspn(p, "\n");
        *ret_exit = (int)code;
        *ret_oom = oom;
        *ret_error = len ? vs_xstrndup(p, len) : NULL;
        return 0;
}

char *docker_parse_loaded(const char *out)
{
        static const char *const prefixes[] = { "Loaded image: ", "Loaded image ID: " };

        for (const char *line = out; *line; line += strcspn(line, "\n"), line += *line == '\n') {
                size_t len = strcspn(line, "\n");

                for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
                        size_t plen = strlen(prefixes[i]);
                        if (len > plen && !strncmp(line, prefixes[i], plen))
                                return vs_xstrndup(line + plen, len - plen);
                }
        }
        return NULL;
}

/* Digits only, at most 2^31-1 (what the host's --user check accepts). */
static int parse_id(const char *s, size_t len, unsigned long *ret)
{
        unsigned long v = 0;

        if (len == 0 || len > 10)
                return -1;
        for (size_t i = 0; i < len; i++) {
                if (!isdigit((unsigned char)s[i]))
                        return -1;
                v = v * 10 + (unsigned long)(s[i] - '0');
        }
        if (v > 0x7fffffff)
                return -1;
        *ret = v;
        return 0;
}

int docker_parse_user(const char *user, uid_t *ret_uid, gid_t *ret_gid, vs_error *err)
{
        const char *colon = strchr(user, ':');
        unsigned long uid, gid;

        /* strtoul() took a name such as "alice" for uid 0: the workspace then
         * went to root. */
        if (parse_id(user, colon ? (size_t)(colon - user) : strlen(user), &uid) < 0 ||
            (colon && parse_id(colon + 1, strlen(colon + 1), &gid) < 0))
                return vs_error_set(err, VS_ERR_INPUT, "spec.json: user \"%.64s\" is not UID or UID:GID", user);
        *ret_uid = (uid_t)uid;
        *ret_gid = colon ? (gid_t)gid : (gid_t)uid;
        return 0;
}

int docker_build_argv(const json_t *build, bool nat, const char *iidfile, char ***ret_argv, vs_error *err)
{
        _cleanup_strv_ char **v = vs_xcalloc(DOCKER_ARGV_MAX, sizeof(*v));
        argv_builder b = { .v = v };
        const char *dockerfile;

        if (!json_is_object(build))
                return vs_error_set(err, VS_ERR_INPUT, "spec.json: build is not an object");
        if (opt_string(build, "dockerfile", &dockerfile, err) < 0)
                return -1;
        if (!dockerfile || !*dockerfile)
                return vs_error_set(err, VS_ERR_INPUT, "spec.json: build.dockerfile is missing");
        if (push2(&b, DOCKER, "build", err) < 0 || push2(&b, "--file", dockerfile, err) < 0 ||
            push2(&b, "--iidfile", iidfile, err) < 0 || push(&b, "--force-rm", err) < 0)
                return -1;
        /* With nat the RUN steps get the engine's default bridge. */
        if (!nat && push(&b, "--network=none", err) < 0)
                return -1;
        if (json_is_true(json_object_get(build, "nocache")) && push(&b, "--no-cache", err) < 0)
                return -1;
        if (json_is_true(json_object_get(build, "pull")) && push(&b, "--pull", err) < 0)
                return -1;
        if (push_array(&b, build, "buildargs", "--build-arg", err) < 0)
                return -1;
        if (push(&b, "-", err) < 0)
                return -1;
        *ret_argv = TAKE_PTR(v);
        return 0;
}

char *docker_parse_iid(const char *text)
{
        size_t n = strlen(text);

        if (n && text[n - 1] == '\n')
                n--;
        if (n != 71 || strncmp(text, "sha256:", 7))
                return NULL;
        for (size_t i = 7; i < n; i++)
                if (!isdigit((unsigned char)text[i]) && !(text[i] >= 'a' && text[i] <= 'f'))
                        return NULL;
        return vs_xstrndup(text, n);
}

/* The length of the UTF-8 sequence at s (at most len bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t len)
{
        size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;

        if (n == 0 || n > len)
                return 0;
        for (size_t i = 1; i < n; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
        /* overlong 3/4-byte forms, surrogates, past U+10FFFF */
        if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (n == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
            (n == 4 && s[0] == 0xf0 && s[1] < 0x90) || (n == 4 && s[0] == 0xf4 && s[1] >= 0x90))
                return 0;
        return n;
}

char *docker_clean_text(const char *s, size_t len)
{
        const unsigned char *u = (const unsigned char *)s;
        char *out = vs_xmalloc(len + 1);
        size_t o = 0;

        while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
                len--;
        for (size_t i = 0; i < len;) {
                size_t n = u[i] >= 0x80 ? utf8_len(u + i, len - i) : 1;

                if (u[i] >= 0x80 && n) {
                        memcpy(out + o, s + i, n);
                        o += n;
                        i += n;
                        continue;
                }
                out[o++] = (u[i] < 0x20 && u[i] != '\n' && u[i] != '\t') || u[i] >= 0x7f ? '?' : s[i];
                i++;
        }
        out[o] = '\0';
        return out;
}
