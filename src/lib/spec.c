#include "spec.h"
#include "parse.h"
#include "strv.h"
#include "tar.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vs_spec_init(vs_spec *s)
{
        memset(s, 0, sizeof(*s));
        s->memory = 1ull << 30;
        s->cpus = 1;
        s->disk = 4ull << 30;
        s->timeout_ms = 10ull * 60 * 1000;
        s->network = VS_NETWORK_NONE;
}

void vs_spec_clear(vs_spec *s)
{
        free(s->image);
        free(s->tag);
        free(s->workspace);
        free(s->mount_at);
        free(s->user);
        free(s->workdir);
        free(s->docker_socket);
        vs_strv_free(s->env);
        vs_strv_free(s->cmd);
        vs_build_free(s->build);
        vs_strv_free(s->entrypoint);
        for (size_t i = 0; i < s->n_binds; i++) {
                free(s->binds[i].host);
                free(s->binds[i].target);
        }
        free(s->binds);
        free(s->hostname);
        vs_spec_init(s);
}

int vs_spec_add_bind(vs_spec *s, const char *host, const char *target, bool rw, vs_error *err)
{
        vs_bind *b;

        if (s->n_binds >= VS_BINDS_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "more than %d binds", VS_BINDS_MAX);
        b = realloc(s->binds, (s->n_binds + 1) * sizeof(*b));
        if (!b)
                abort(); /* out of memory: the policy (alloc.h) */
        s->binds = b;
        b = &s->binds[s->n_binds++];
        *b = (vs_bind){ .host = strdup(host), .target = strdup(target), .rw = rw };
        if (!b->host || !b->target)
                abort();
        return 0;
}

const char *vs_network_name(vs_network n)
{
        switch (n) {
        case VS_NETWORK_NONE:
                return "none";
        case VS_NETWORK_NAT:
                return "nat";
        case VS_NETWORK_LAST:
                break;
        }
        return "invalid";
}

int vs_network_parse(const char *s, vs_network *ret)
{
        for (vs_network n = 0; n < VS_NETWORK_LAST; n++)
                if (strcmp(s, vs_network_name(n)) == 0) {
                        *ret = n;
                        return 0;
                }
        return -1;
}

static int env_key_valid(const char *kv)
{
        const char *eq = strchr(kv, '=');

        if (!eq || eq == kv)
                return 0;
        if (!(isalpha((unsigned char)kv[0]) || kv[0] == '_'))
                return 0;
        for (const char *p = kv; p < eq; p++)
                if (!(isalnum((unsigned char)*p) || *p == '_'))
                        return 0;
        return 1;
}

int vs_spec_add_env(vs_spec *s, const char *kv, vs_error *err)
{
        if (!env_key_valid(kv))
                return vs_error_set(err, VS_ERR_USAGE, "-e %s: expected KEY=VALUE with KEY of letters, digits and _", kv);
        if (strlen(kv) > VS_STRING_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "-e: value longer than %d bytes", VS_STRING_MAX);
        if (vs_strv_length(s->env) >= VS_ENV_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "-e: more than %d variables", VS_ENV_MAX);
        if (vs_strv_push(&s->env, kv) < 0)
                return vs_error_errno(err, VS_ERR_USAGE, errno, "-e");
        return 0;
}

int vs_spec_add_arg(vs_spec *s, const char *arg, vs_error *err)
{
        if (strlen(arg) > VS_STRING_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "command argument longer than %d bytes", VS_STRING_MAX);
        if (vs_strv_length(s->cmd) >= VS_ARGS_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "more than %d command arguments", VS_ARGS_MAX);
        if (vs_strv_push(&s->cmd, arg) < 0)
                return vs_error_errno(err, VS_ERR_USAGE, errno, "command");
        return 0;
}

int vs_spec_set_entrypoint(vs_spec *s, char *const *words, size_t n, vs_error *err)
{
        char **v;

        if (n > VS_ARGS_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "entrypoint: more than %d words", VS_ARGS_MAX);
        for (size_t i = 0; i < n; i++)
                if (strlen(words[i]) > VS_STRING_MAX)
                        return vs_error_set(err, VS_ERR_USAGE, "entrypoint word longer than %d bytes", VS_STRING_MAX);
        v = calloc(n + 1, sizeof(*v));
        if (!v)
                return vs_error_errno(err, VS_ERR_USAGE, ENOMEM, "entrypoint");
        for (size_t i = 0; i < n; i++)
                if (!(v[i] = strdup(words[i]))) {
                        vs_strv_free(v);
                        return vs_error_errno(err, VS_ERR_USAGE, ENOMEM, "entrypoint");
                }
        vs_strv_free(s->entrypoint);
        s->entrypoint = v;
        return 0;
}

/* A guest path: absolute, no "..", no NUL tricks, bounded. */
static int guest_path_valid(const char *p)
{
        const char *c;

        if (p[0] != '/' || strlen(p) > VS_PATH_MAX)
                return 0;
        for (c = p; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == ':' || *c == ',')
                        return 0;
        return !vs_tar_name_unsafe(p + 1);
}

static int user_valid(const char *u)
{
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(u, &end, 10);
        if (end == u || errno || v > 0x7fffffff || !isdigit((unsigned char)u[0]))
                return 0;
        if (*end == '\0')
                return 1;
        if (*end != ':' || !isdigit((unsigned char)end[1]))
                return 0;
        u = end + 1;
        v = strtoul(u, &end, 10);
        return !errno && *end == '\0' && v <= 0x7fffffff;
}

/* A hostname: letters, digits, '.', '-' and '_', starting with a letter
 * or digit (what the engine's --hostname takes). */
static int hostname_valid(const char *h)
{
        if (!isalnum((unsigned char)h[0]) || strlen(h) > VS_HOSTNAME_MAX)
                return 0;
        return strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == strlen(h);
}

int vs_spec_validate_hostname(const vs_spec *s, vs_error *err)
{
        if (s->hostname && !hostname_valid(s->hostname))
                return vs_error_set(err, VS_ERR_USAGE, "hostname \"%.64s\" must be letters, digits, '.', '-' and '_' (at most %d)",
                                    s->hostname, VS_HOSTNAME_MAX);
        return 0;
}

/* Two guest paths that are one (a trailing '/' aside). */
/* A "." component: "/a/." would be "/a" twice for the guest's engine. */
static bool has_dot_component(const char *p)
{
        for (const char *c = strstr(p, "/."); c; c = strstr(c + 1, "/."))
                if (c[2] == '/' || c[2] == '\0')
                        return true;
        return false;
}

static bool same_guest_path(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);

        while (la > 1 && a[la - 1] == '/')
                la--;
        while (lb > 1 && b[lb - 1] == '/')
                lb--;
        return la == lb && strncmp(a, b, la) == 0;
}

/* Binds: host paths absolute, targets guest paths (not /, no '"': the
 * engine's --mount is CSV) and no target twice, nor the workspace's or
 * the engine socket's. */
int vs_spec_validate_binds(const vs_spec *s, vs_error *err)
{
        if (s->n_binds > VS_BINDS_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "more than %d binds", VS_BINDS_MAX);
        for (size_t i = 0; i < s->n_binds; i++) {
                const vs_bind *b = &s->binds[i];

                if (!b->host || b->host[0] != '/' || strlen(b->host) > VS_PATH_MAX)
                        return vs_error_set(err, VS_ERR_USAGE, "bind %zu: the host path must be absolute", i);
                if (!guest_path_valid(b->target) || strcmp(b->target, "/") == 0 || strchr(b->target, '"') ||
                    has_dot_component(b->target))
                        return vs_error_set(err, VS_ERR_USAGE,
                                            "bind %.300s: the container path must be absolute, not /, without '.', '..', ':', ',' or '\"'",
                                            b->target);
                if ((s->workspace && same_guest_path(b->target, s->mount_at ? s->mount_at : "/erc")) ||
                    (s->docker_socket && same_guest_path(b->target, s->docker_socket)))
                        return vs_error_set(err, VS_ERR_USAGE, "Duplicate mount point: %.300s", b->target);
                for (size_t k = 0; k < i; k++)
                        if (same_guest_path(b->target, s->binds[k].target))
                                return vs_error_set(err, VS_ERR_USAGE, "Duplicate mount point: %.300s", b->target);
        }
        return 0;
}

int vs_spec_validate(const vs_spec *s, vs_error *err)
{
        char a[32], b[32];

        if (s->build && (s->image || s->tag || s->cmd || s->workspace))
                return vs_error_set(err, VS_ERR_USAGE, "a build takes no image, tag, command or workspace");
        if (s->build && vs_build_validate(s->build, err) < 0)
                return -1;
        if (!s->build && !s->image && !s->tag)
                return vs_error_set(err, VS_ERR_USAGE, "--image FILE.tar is required (or --tag of an image preloaded in the base image)");
        if (s->memory < VS_MEMORY_MIN || s->memory > VS_MEMORY_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "--memory must be between %s and %s",
                                    vs_format_size(VS_MEMORY_MIN, a, sizeof(a)),
                                    vs_format_size(VS_MEMORY_MAX, b, sizeof(b)));
        if (s->cpus < 1 || s->cpus > VS_CPUS_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "--cpus must be between 1 and %u", VS_CPUS_MAX);
        if (s->disk < VS_DISK_MIN || s->disk > VS_DISK_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "--disk must be between %s and %s",
                                    vs_format_size(VS_DISK_MIN, a, sizeof(a)), vs_format_size(VS_DISK_MAX, b, sizeof(b)));
        if (s->timeout_ms < VS_TIMEOUT_MIN_MS || s->timeout_ms > VS_TIMEOUT_MAX_MS)
                return vs_error_set(err, VS_ERR_USAGE, "--timeout must be between 1s and 7 days");
        if (s->network >= VS_NETWORK_LAST)
                return vs_error_set(err, VS_ERR_USAGE, "--network must be none or nat");
        if (s->mount_at && (!guest_path_valid(s->mount_at) || strcmp(s->mount_at, "/") == 0))
                return vs_error_set(err, VS_ERR_USAGE, "--mount-at must be an absolute path other than / without '..', ':' or ','");
        if (s->workdir && !guest_path_valid(s->workdir))
                return vs_error_set(err, VS_ERR_USAGE, "--workdir must be an absolute path without '..'");
        if (s->docker_socket && (!guest_path_valid(s->docker_socket) || strcmp(s->docker_socket, "/") == 0))
                return vs_error_set(err, VS_ERR_USAGE, "docker_socket must be an absolute path other than / without '..', ':' or ','");
        if (s->user && !user_valid(s->user))
                return vs_error_set(err, VS_ERR_USAGE, "--user must be UID or UID:GID (numbers)");
        if (vs_spec_validate_hostname(s, err) < 0 || vs_spec_validate_binds(s, err) < 0)
                return -1;
        if (s->build && (s->n_binds || s->hostname || s->tty))
                return vs_error_set(err, VS_ERR_USAGE, "a build takes no binds, hostname or tty");
        if (s->tag && (strlen(s->tag) > 512 || strchr(s->tag, ' ')))
                return vs_error_set(err, VS_ERR_USAGE, "--tag is not a valid image reference");
        return 0;
}

static json_t *strv_json(char *const *v)
{
        json_t *a = json_array();

        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

json_t *vs_spec_guest_json(const vs_spec *s, const char *ref)
{
        if (s->build)
                return json_pack("{s:o, s:s, s:b}", "build", vs_build_guest_json(s->build), "network",
                                 vs_network_name(s->network), "export_image", true);
        return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:s, s:b, s:o, s:b}",
                         "ref", ref,
                         "docker_socket", s->docker_socket ? json_string(s->docker_socket) : json_null(),
                         "cmd", s->cmd ? strv_json(s->cmd) : json_null(),
                         "entrypoint", s->entrypoint ? strv_json(s->entrypoint) : json_null(),
                         "env", strv_json(s->env),
                         "user", s->user ? json_string(s->user) : json_null(),
                         "workdir", s->workdir ? json_string(s->workdir) : json_null(),
                         "mount_at", s->mount_at ? s->mount_at : "/erc",
                         "network", vs_network_name(s->network),
                         "export_image", s->export_image,
                         "hostname", s->hostname ? json_string(s->hostname) : json_null(),
                         "tty", s->tty);
}
