/* The Engine API's create body onto a job spec and the container's facts
 * (container.h).  Docker's JSON ends here: everything past this file is
 * typed. */
#include "container.h"
#include "alloc.h"
#include "cleanup.h"
#include "strv.h"
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MIB (1ull << 20)

/* ---- typed reading of the body ------------------------------------------------- */

static int type_error(const char *field, const char *want, vs_error *err)
{
        return vs_error_set(err, VS_ERR_INPUT, "%s must be %s", field, want);
}

/* dockerd decodes the body with Go's encoding/json, which takes a key that
 * names a field exactly or else case-insensitively: stevedore passes a
 * host_config list as its caller wrote it, and containerit writes "binds".
 * Two keys that fold to one name are refused (which one dockerd keeps
 * depends on their order).  Not an object: absent. */
static int field_get(json_t *o, const char *key, const char *field, json_t **ret, vs_error *err)
{
        const char *k, *found_key = NULL;
        json_t *v;

        *ret = NULL;
        if (!json_is_object(o))
                return 0;
        json_object_foreach(o, k, v) {
                if (strcasecmp(k, key) != 0)
                        continue;
                if (*ret != NULL)
                        return vs_error_set(err, VS_ERR_INPUT, "%s is given twice, as \"%.64s\" and \"%.64s\"", field,
                                            found_key, k);
                *ret = v;
                found_key = k;
        }
        return 0;
}

/* A string (null or absent: NULL), at most max bytes, valid UTF-8. */
static int get_str(json_t *o, const char *key, const char *field, size_t max, const char **ret, vs_error *err)
{
        json_t *v;

        *ret = NULL;
        if (field_get(o, key, field, &v, err) < 0)
                return -1;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return type_error(field, "a string", err);
        if (json_string_length(v) > max)
                return vs_error_set(err, VS_ERR_INPUT, "%s is longer than %zu bytes", field, max);
        if (!vs_utf8_valid(json_string_value(v), json_string_length(v)))
                return vs_error_set(err, VS_ERR_INPUT, "%s is not valid UTF-8 text without NUL", field);
        *ret = json_string_value(v);
        return 0;
}

static int get_bool(json_t *o, const char *key, const char *field, bool *ret, vs_error *err)
{
        json_t *v;

        *ret = false;
        if (field_get(o, key, field, &v, err) < 0)
                return -1;
        if (v && !json_is_null(v) && !json_is_boolean(v))
                return type_error(field, "true or false", err);
        *ret = json_is_true(v);
        return 0;
}

/* An integer of 0 or more (null or absent: 0). */
static int get_count(json_t *o, const char *key, const char *field, int64_t *ret, vs_error *err)
{
        json_t *v;

        *ret = 0;
        if (field_get(o, key, field, &v, err) < 0)
                return -1;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_integer(v))
                return type_error(field, "an integer", err);
        if (json_integer_value(v) < 0)
                return vs_error_set(err, VS_ERR_INPUT, "%s must not be negative", field);
        *ret = (int64_t)json_integer_value(v);
        return 0;
}

/* Docker's string slices: an array of strings, or one string (a one-word
 * slice).  null or absent: *ret NULL; [] an empty vector. */
static int get_words(json_t *o, const char *key, const char *field, size_t max_n, char ***ret, vs_error *err)
{
        json_t *v, *w;
        char **out;
        size_t i;

        *ret = NULL;
        if (field_get(o, key, field, &v, err) < 0)
                return -1;
        if (!v || json_is_null(v))
                return 0;
        if (json_is_string(v)) {
                if (json_string_length(v) > VS_CONTAINER_STRING_MAX ||
                    !vs_utf8_valid(json_string_value(v), json_string_length(v)))
                        return vs_error_set(err, VS_ERR_INPUT, "%s must be a string of valid UTF-8 text of at most %d bytes",
                                            field, VS_CONTAINER_STRING_MAX);
                out = vs_xcalloc(2, sizeof(*out));
                out[0] = vs_xstrdup(json_string_value(v));
                *ret = out;
                return 0;
        }
        if (!json_is_array(v))
                return type_error(field, "an array of strings", err);
        if (json_array_size(v) > max_n)
                return vs_error_set(err, VS_ERR_INPUT, "%s has more than %zu entries", field, max_n);
        out = vs_xcalloc(json_array_size(v) + 1, sizeof(*out));
        json_array_foreach(v, i, w) {
                if (!json_is_string(w) || json_string_length(w) > VS_CONTAINER_STRING_MAX ||
                    !vs_utf8_valid(json_string_value(w), json_string_length(w))) {
                        vs_strv_free(out);
                        return vs_error_set(err, VS_ERR_INPUT, "%s[%zu] must be a string of valid UTF-8 text of at most %d bytes",
                                            field, i, VS_CONTAINER_STRING_MAX);
                }
                out[i] = vs_xstrdup(json_string_value(w));
        }
        *ret = out;
        return 0;
}

static int get_labels(json_t *o, char ***ret, vs_error *err)
{
        json_t *v, *val;
        const char *key;
        size_t n = 0;
        char **out;

        *ret = NULL;
        if (field_get(o, "Labels", "Labels", &v, err) < 0)
                return -1;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_object(v))
                return type_error("Labels", "an object of strings", err);
        if (json_object_size(v) > VS_CONTAINER_LABELS_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "Labels has more than %d entries", VS_CONTAINER_LABELS_MAX);
        out = vs_xcalloc(2 * json_object_size(v) + 1, sizeof(*out));
        json_object_foreach(v, key, val) {
                if (!json_is_string(val) || !*key || strlen(key) > VS_CONTAINER_STRING_MAX ||
                    json_string_length(val) > VS_CONTAINER_STRING_MAX || !vs_utf8_valid(key, strlen(key)) ||
                    !vs_utf8_valid(json_string_value(val), json_string_length(val))) {
                        vs_strv_free(out);
                        return vs_error_set(err, VS_ERR_INPUT,
                                            "Labels: \"%.64s\" must have a string value of valid UTF-8 text", key);
                }
                out[n++] = vs_xstrdup(key);
                out[n++] = vs_xstrdup(json_string_value(val));
        }
        *ret = out;
        return 0;
}

/* ---- the body ---------------------------------------------------------------- */

/* What is read of the body: Docker's names, typed. */
typedef struct {
        const char *image, *user, *working_dir, *hostname, *network_mode;
        char **cmd, **entrypoint, **env, **labels, **binds;
        bool tty, open_stdin, network_disabled, auto_remove;
        int64_t memory, nano_cpus, cpu_shares;
        json_t *mounts;
} docker_body;

static void docker_body_clear(docker_body *b)
{
        vs_strv_free(b->cmd);
        vs_strv_free(b->entrypoint);
        vs_strv_free(b->env);
        vs_strv_free(b->labels);
        vs_strv_free(b->binds);
}

/* HostConfig's value, else the top level's (moby's ContainerConfigWrapper). */
static int get_count2(json_t *body, json_t *hc, const char *key, int64_t *ret, vs_error *err)
{
        char field[64];
        int64_t top;

        snprintf(field, sizeof(field), "HostConfig.%s", key);
        if (get_count(hc, key, field, ret, err) < 0 || get_count(body, key, key, &top, err) < 0)
                return -1;
        if (*ret == 0)
                *ret = top;
        return 0;
}

static int read_host_config(json_t *body, docker_body *b, vs_error *err)
{
        json_t *hc;
        bool top_remove;
        const char *top_mode;

        if (field_get(body, "HostConfig", "HostConfig", &hc, err) < 0)
                return -1;
        if (hc && !json_is_null(hc) && !json_is_object(hc))
                return type_error("HostConfig", "an object", err);
        if (get_count2(body, hc, "Memory", &b->memory, err) < 0 || get_count2(body, hc, "NanoCpus", &b->nano_cpus, err) < 0 ||
            get_count2(body, hc, "CpuShares", &b->cpu_shares, err) < 0)
                return -1;
        if (get_str(hc, "NetworkMode", "HostConfig.NetworkMode", 255, &b->network_mode, err) < 0 ||
            get_str(body, "NetworkMode", "NetworkMode", 255, &top_mode, err) < 0)
                return -1;
        if (!b->network_mode || !*b->network_mode)
                b->network_mode = top_mode;
        if (get_bool(hc, "AutoRemove", "HostConfig.AutoRemove", &b->auto_remove, err) < 0 ||
            get_bool(body, "AutoRemove", "AutoRemove", &top_remove, err) < 0)
                return -1;
        b->auto_remove = b->auto_remove || top_remove;
        if (get_words(hc, "Binds", "HostConfig.Binds", VS_CONTAINER_BINDS_MAX, &b->binds, err) < 0)
                return -1;
        if (!b->binds && get_words(body, "Binds", "Binds", VS_CONTAINER_BINDS_MAX, &b->binds, err) < 0)
                return -1;
        if (field_get(hc, "Mounts", "HostConfig.Mounts", &b->mounts, err) < 0)
                return -1;
        if (b->mounts && !json_is_null(b->mounts) && !json_is_array(b->mounts))
                return type_error("HostConfig.Mounts", "an array", err);
        if (json_array_size(b->mounts) > VS_CONTAINER_BINDS_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "HostConfig.Mounts has more than %d entries", VS_CONTAINER_BINDS_MAX);
        return 0;
}

static int read_body(json_t *body, docker_body *b, vs_error *err)
{
        memset(b, 0, sizeof(*b));
        if (!json_is_object(body))
                return vs_error_set(err, VS_ERR_INPUT, "the container config must be a JSON object");
        if (get_str(body, "Image", "Image", VS_CONTAINER_IMAGE_MAX, &b->image, err) < 0 ||
            get_str(body, "User", "User", 255, &b->user, err) < 0 ||
            get_str(body, "WorkingDir", "WorkingDir", VS_CONTAINER_PATH_MAX, &b->working_dir, err) < 0 ||
            get_str(body, "Hostname", "Hostname", 255, &b->hostname, err) < 0 ||
            get_words(body, "Cmd", "Cmd", VS_CONTAINER_ARGS_MAX, &b->cmd, err) < 0 ||
            get_words(body, "Entrypoint", "Entrypoint", VS_CONTAINER_ARGS_MAX, &b->entrypoint, err) < 0 ||
            get_words(body, "Env", "Env", VS_CONTAINER_ENV_MAX, &b->env, err) < 0 || get_labels(body, &b->labels, err) < 0 ||
            get_bool(body, "Tty", "Tty", &b->tty, err) < 0 || get_bool(body, "OpenStdin", "OpenStdin", &b->open_stdin, err) < 0 ||
            get_bool(body, "NetworkDisabled", "NetworkDisabled", &b->network_disabled, err) < 0 ||
            read_host_config(body, b, err) < 0)
                return -1;
        if (!b->image || !*b->image)
                return vs_error_set(err, VS_ERR_INPUT, "Image is required");
        return 0;
}

/* ---- the mapping ------------------------------------------------------------- */

static int map_memory(const docker_body *b, const vs_container_policy *p, vs_spec *s, vs_error *err)
{
        uint64_t vm;

        if (b->memory == 0) {
                if (p->default_memory)
                        s->memory = p->default_memory;
                return 0;
        }
        if ((uint64_t)b->memory > VS_MEMORY_MAX - VS_CONTAINER_RESERVE)
                return vs_error_set(err, VS_ERR_INPUT, "Memory %lld is over the maximum of %llu bytes",
                                    (long long)b->memory, (unsigned long long)(VS_MEMORY_MAX - VS_CONTAINER_RESERVE));
        vm = (uint64_t)b->memory + VS_CONTAINER_RESERVE;
        vm = (vm + MIB - 1) / MIB * MIB;
        s->memory = vm < VS_MEMORY_MIN ? VS_MEMORY_MIN : vm;
        return 0;
}

static int map_cpus(const docker_body *b, vs_spec *s, vs_error *err)
{
        if (b->nano_cpus == 0)
                return 0;
        if ((uint64_t)b->nano_cpus > (uint64_t)VS_CPUS_MAX * 1000000000ull)
                return vs_error_set(err, VS_ERR_INPUT, "NanoCpus %lld is over %u CPUs", (long long)b->nano_cpus,
                                    VS_CPUS_MAX);
        s->cpus = (unsigned)(((uint64_t)b->nano_cpus + 999999999ull) / 1000000000ull);
        return 0;
}

static int map_network(const docker_body *b, const vs_container_policy *p, vs_spec *s, vs_error *err)
{
        const char *m = b->network_mode;

        s->network = VS_NETWORK_NONE;
        if (b->network_disabled || (m && strcmp(m, "none") == 0))
                return 0;
        if (m && *m && strcmp(m, "default") != 0 && strcmp(m, "bridge") != 0)
                return vs_error_set(err, VS_ERR_INPUT,
                                    "NetworkMode \"%.64s\" is not supported: a container's VM has network none, or "
                                    "bridge (NAT) when the service allows it",
                                    m);
        if (p->allow_network)
                s->network = VS_NETWORK_NAT;
        return 0;
}

static bool root_holds(char *const *roots, const char *path)
{
        for (size_t i = 0; roots && roots[i]; i++) {
                size_t n = strlen(roots[i]);
                if (strncmp(path, roots[i], n) == 0 && (path[n] == '/' || path[n] == '\0' || n == 1))
                        return true;
        }
        return false;
}

static bool option_ignored(const char *o)
{
        static const char *const ignored[] = { "z", "Z", "private", "rprivate", "shared", "rshared", "slave",
                                               "rslave", "nocopy", "consistent", "cached", "delegated" };

        for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
                if (strcmp(o, ignored[i]) == 0)
                        return true;
        return false;
}

static int parse_options(const char *bind, const char *opts, bool *ret_rw, vs_error *err)
{
        _cleanup_free_ char *copy = vs_xstrdup(opts);
        char *save = NULL;
        int modes = 0;

        *ret_rw = true;
        for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
                if (strcmp(o, "ro") == 0 || strcmp(o, "rw") == 0) {
                        *ret_rw = o[1] == 'w';
                        modes++;
                } else if (!option_ignored(o)) {
                        return vs_error_set(err, VS_ERR_INPUT, "invalid mode: %.64s (in the bind %.300s)", o, bind);
                }
        }
        if (modes > 1)
                return vs_error_set(err, VS_ERR_INPUT, "invalid mode: %.64s (in the bind %.300s)", opts, bind);
        return 0;
}

int vs_container_parse_bind(const char *bind, char **ret_host, char **ret_target, bool *ret_rw, vs_error *err)
{
        const char *c1 = strchr(bind, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        _cleanup_free_ char *host = NULL, *target = NULL;
        bool rw = true;

        if (!c1 || c1 == bind || c1[1] == '\0' || (c2 && (c2 == c1 + 1 || strchr(c2 + 1, ':'))))
                return vs_error_set(err, VS_ERR_INPUT, "invalid bind %.300s: expected HOST:CONTAINER[:ro|rw]", bind);
        host = vs_xstrndup(bind, (size_t)(c1 - bind));
        target = c2 ? vs_xstrndup(c1 + 1, (size_t)(c2 - c1 - 1)) : vs_xstrdup(c1 + 1);
        if (host[0] != '/')
                return vs_error_set(err, VS_ERR_INPUT,
                                    "bind %.300s: named volumes are not supported, the source must be an absolute host path",
                                    bind);
        if (target[0] != '/')
                return vs_error_set(err, VS_ERR_INPUT, "bind %.300s: the container path must be absolute", bind);
        if (c2 && parse_options(bind, c2 + 1, &rw, err) < 0)
                return -1;
        *ret_host = TAKE_PTR(host);
        *ret_target = TAKE_PTR(target);
        *ret_rw = rw;
        return 0;
}

/* A Mounts entry of type bind in the Binds form. */
static int mount_as_bind(json_t *m, size_t i, char **ret, vs_error *err)
{
        const char *type, *src, *dst;
        bool ro;
        char field[64];

        if (!json_is_object(m))
                return vs_error_set(err, VS_ERR_INPUT, "HostConfig.Mounts[%zu] must be an object", i);
        snprintf(field, sizeof(field), "HostConfig.Mounts[%zu]", i);
        if (get_str(m, "Type", field, 32, &type, err) < 0 || get_str(m, "Source", field, VS_CONTAINER_PATH_MAX, &src, err) < 0 ||
            get_str(m, "Target", field, VS_CONTAINER_PATH_MAX, &dst, err) < 0 || get_bool(m, "ReadOnly", field, &ro, err) < 0)
                return -1;
        if (!type || strcmp(type, "bind") != 0)
                return vs_error_set(err, VS_ERR_INPUT,
                                    "HostConfig.Mounts[%zu]: type \"%.32s\" is not supported (only bind: a host directory copied in)",
                                    i, type ? type : "");
        if (!src || !dst || !*src || !*dst || strchr(src, ':') || strchr(dst, ':'))
                return vs_error_set(err, VS_ERR_INPUT, "HostConfig.Mounts[%zu]: a bind needs a Source and a Target without ':'", i);
        *ret = vs_xasprintf("%s:%s%s", src, dst, ro ? ":ro" : "");
        return 0;
}

/* Binds and the binds of Mounts, in one list (as the facts keep them). */
static int collect_binds(docker_body *b, char ***ret, vs_error *err)
{
        _cleanup_strv_ char **all = NULL;
        json_t *m;
        size_t i;

        for (i = 0; b->binds && b->binds[i]; i++)
                vs_strv_push(&all, b->binds[i]);
        json_array_foreach(b->mounts, i, m) {
                _cleanup_free_ char *one = NULL;
                if (mount_as_bind(m, i, &one, err) < 0)
                        return -1;
                vs_strv_push(&all, one);
        }
        if (vs_strv_length(all) > VS_CONTAINER_BINDS_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "more than %d binds", VS_CONTAINER_BINDS_MAX);
        *ret = TAKE_PTR(all);
        return 0;
}

/* A bind of Docker's own socket gives the container the VM's engine
 * (containerit and other clients that run Docker from a container). */
static bool is_engine_socket(const char *host)
{
        return strcmp(host, "/var/run/docker.sock") == 0 || strcmp(host, "/run/docker.sock") == 0;
}

/* The engine-socket bind of binds (at most one) into s; *ret_rest the others. */
static int map_engine_socket(char *const *binds, vs_spec *s, char ***ret_rest, vs_error *err)
{
        _cleanup_strv_ char **rest = NULL;

        for (size_t i = 0; binds && binds[i]; i++) {
                _cleanup_free_ char *host = NULL, *target = NULL;
                bool rw;

                if (vs_container_parse_bind(binds[i], &host, &target, &rw, err) < 0)
                        return -1;
                if (!is_engine_socket(host)) {
                        vs_strv_push(&rest, binds[i]);
                        continue;
                }
                if (s->docker_socket)
                        return vs_error_set(err, VS_ERR_INPUT, "more than one bind of the Docker socket (%.200s)", binds[i]);
                if (strcmp(target, "/") == 0 || strchr(target, ','))
                        return vs_error_set(err, VS_ERR_INPUT, "bind %.300s: the container path must not be / or have ','",
                                            binds[i]);
                s->docker_socket = TAKE_PTR(target);
        }
        *ret_rest = TAKE_PTR(rest);
        return 0;
}

/* Every bind but the engine socket's: a host path below a root (by its
 * letters; the service opens it below that root), copied in at its target;
 * rw ones are written back.  Targets are checked by vs_spec_validate (no
 * target twice: Docker's "Duplicate mount point"); targets nested in
 * another bind's are fine, as in Docker (o2r-muncher binds ro files into
 * its rw /erc).  Two rw binds of one host directory, or of one inside
 * the other, would write back over each other: refused. */

/* "/a//b/" and "/a/b" name one directory (the service opens either): one
 * spelling, so that the letters host_nested compares say what they open. */
static void squeeze_slashes(char *path)
{
        char *w = path;

        for (const char *r = path; *r; r++)
                if (*r != '/' || w == path || w[-1] != '/')
                        *w++ = *r;
        while (w > path + 1 && w[-1] == '/')
                w--;
        *w = '\0';
}

static bool host_nested(const char *a0, const char *b0)
{
        _cleanup_free_ char *a = vs_xstrdup(a0), *b = vs_xstrdup(b0);
        size_t n;

        squeeze_slashes(a);
        squeeze_slashes(b);
        n = strlen(a);
        return strncmp(a, b, n) == 0 && (b[n] == '/' || b[n] == '\0' || n == 1);
}

static int map_binds(char *const *binds, const vs_container_policy *p, vs_spec *s, vs_error *err)
{
        for (size_t i = 0; binds && binds[i]; i++) {
                _cleanup_free_ char *host = NULL, *target = NULL;
                bool rw;

                if (vs_container_parse_bind(binds[i], &host, &target, &rw, err) < 0)
                        return -1;
                if (!root_holds(p->roots, host))
                        return vs_error_set(err, VS_ERR_INPUT, "bind source %.300s is not below an allowed root (--allow-root)",
                                            host);
                if (strcmp(target, "/") == 0)
                        return vs_error_set(err, VS_ERR_INPUT, "bind %.300s: the container path must not be /", binds[i]);
                for (size_t k = 0; rw && k < s->n_binds; k++)
                        if (s->binds[k].rw && (host_nested(host, s->binds[k].host) || host_nested(s->binds[k].host, host)))
                                return vs_error_set(err, VS_ERR_INPUT,
                                                    "binds of %.300s and %.300s: two rw binds of overlapping host "
                                                    "directories would write back over each other",
                                                    s->binds[k].host, host);
                if (vs_spec_add_bind(s, host, target, rw, err) < 0)
                        return -1;
        }
        return vs_spec_validate_binds(s, err);
}

/* Docker's User is a name or an id; a VM's container runs by number (the
 * workspace's files are given to it on the way back). */
static int map_user(const char *user, vs_spec *s, vs_error *err)
{
        const char *c;

        if (!user || !*user)
                return 0;
        for (c = user; isdigit((unsigned char)*c); c++)
                ;
        if (c == user || (*c && (*c != ':' || !c[1] || strspn(c + 1, "0123456789") != strlen(c + 1))) ||
            strlen(user) > 21)
                return vs_error_set(err, VS_ERR_INPUT, "User \"%.64s\": vmsandbox runs a container as a numeric UID or UID:GID",
                                    user);
        s->user = vs_xstrdup(user);
        return 0;
}

static int map_env(char *const *env, vs_spec *s, vs_error *err)
{
        for (size_t i = 0; env && env[i]; i++)
                if (vs_spec_add_env(s, env[i], err) < 0)
                        return vs_error_set(err, VS_ERR_INPUT, "Env \"%.64s\": expected KEY=VALUE with KEY of letters, digits and _",
                                            env[i]);
        return 0;
}

static int map_words(const docker_body *b, vs_spec *s, vs_error *err)
{
        for (size_t i = 0; b->cmd && b->cmd[i]; i++)
                if (vs_spec_add_arg(s, b->cmd[i], err) < 0)
                        return -1;
        if (b->entrypoint)
                return vs_spec_set_entrypoint(s, b->entrypoint, vs_strv_length(b->entrypoint), err);
        return 0;
}

static int map_workdir(const char *wd, vs_spec *s, vs_error *err)
{
        if (!wd || !*wd)
                return 0;
        if (wd[0] != '/')
                return vs_error_set(err, VS_ERR_INPUT, "WorkingDir \"%.200s\" must be an absolute path", wd);
        s->workdir = vs_xstrdup(wd);
        return 0;
}

/* Docker takes any hostname up to 255 bytes; the engine in the VM gets it
 * as --hostname (checked by vs_spec_validate's rules, said here in
 * Docker's field name). */
static int map_hostname(const char *h, vs_spec *s, vs_error *err)
{
        if (!h || !*h)
                return 0;
        s->hostname = vs_xstrdup(h);
        if (vs_spec_validate_hostname(s, err) < 0)
                return vs_error_set(err, VS_ERR_INPUT, "Hostname \"%.64s\": letters, digits, '.', '-' and '_' only", h);
        return 0;
}

static vs_container *facts_of(docker_body *b, char **binds)
{
        vs_container *c = vs_xcalloc(1, sizeof(*c));

        c->image = vs_xstrdup(b->image);
        c->hostname = b->hostname && *b->hostname ? vs_xstrdup(b->hostname) : NULL;
        c->tty = b->tty;
        c->open_stdin = b->open_stdin;
        c->auto_remove = b->auto_remove;
        c->cmd = TAKE_PTR(b->cmd);
        c->entrypoint = TAKE_PTR(b->entrypoint);
        c->env = TAKE_PTR(b->env);
        c->user = b->user && *b->user ? vs_xstrdup(b->user) : NULL;
        c->working_dir = b->working_dir && *b->working_dir ? vs_xstrdup(b->working_dir) : NULL;
        c->labels = TAKE_PTR(b->labels);
        c->memory = b->memory;
        c->nano_cpus = b->nano_cpus;
        c->cpu_shares = b->cpu_shares;
        c->network_mode = b->network_mode && *b->network_mode ? vs_xstrdup(b->network_mode) : NULL;
        c->binds = binds; /* copied in as the spec's binds: bind_rw (the workspace's write-back of old records) stays false */
        return c;
}

static int map_all(docker_body *b, const vs_container_policy *p, char *const *binds, vs_spec *s, vs_error *err)
{
        _cleanup_strv_ char **rest = NULL; /* the binds but the engine's socket */

        if (map_memory(b, p, s, err) < 0 || map_cpus(b, s, err) < 0 || map_network(b, p, s, err) < 0 ||
            map_engine_socket(binds, s, &rest, err) < 0 || map_binds(rest, p, s, err) < 0 ||
            map_user(b->user, s, err) < 0 || map_env(b->env, s, err) < 0 || map_words(b, s, err) < 0 ||
            map_workdir(b->working_dir, s, err) < 0 || map_hostname(b->hostname, s, err) < 0)
                return -1;
        s->tty = b->tty;
        if (p->max_disk && p->max_disk < s->disk)
                s->disk = p->max_disk;
        s->timeout_ms = p->timeout_ms ? p->timeout_ms : VS_TIMEOUT_MAX_MS;
        return 0;
}

int vs_container_from_docker(json_t *body, const vs_container_policy *p, vs_spec *ret_spec, vs_container **ret_c,
                             vs_error *err)
{
        docker_body b;
        _cleanup_strv_ char **binds = NULL;
        vs_spec s;
        int r;

        vs_spec_init(&s);
        r = read_body(body, &b, err);
        if (r == 0)
                r = collect_binds(&b, &binds, err);
        if (r == 0)
                r = map_all(&b, p, binds, &s, err);
        if (r < 0) {
                vs_spec_clear(&s);
                docker_body_clear(&b);
                if (err)
                        err->kind = VS_ERR_INPUT;
                return -1;
        }
        *ret_c = facts_of(&b, TAKE_PTR(binds));
        docker_body_clear(&b);
        *ret_spec = s;
        return 0;
}

/* ---- Docker's view of a state --------------------------------------------------- */

const char *vs_container_status(vs_job_state st)
{
        switch (st) {
        case VS_JOB_CREATED:
                return "created";
        case VS_JOB_QUEUED:
        case VS_JOB_RUNNING:
                return "running";
        case VS_JOB_SUCCESS:
        case VS_JOB_FAILURE:
        case VS_JOB_TIMEOUT:
        case VS_JOB_CANCELLED:
        case VS_JOB_ERROR:
        case VS_JOB_STATE_LAST:
                break;
        }
        return "exited";
}

int vs_container_exit_code(vs_job_state st, int exit_code, bool *ret_failed)
{
        *ret_failed = false;
        switch (st) {
        case VS_JOB_CREATED:
        case VS_JOB_QUEUED:
        case VS_JOB_RUNNING:
                return 0;
        case VS_JOB_TIMEOUT:
        case VS_JOB_CANCELLED:
                return 137;
        case VS_JOB_SUCCESS:
        case VS_JOB_FAILURE:
        case VS_JOB_ERROR:
        case VS_JOB_STATE_LAST:
                break;
        }
        if (exit_code >= 0 && exit_code <= 255)
                return exit_code;
        *ret_failed = true;
        return 125;
}

/* ---- list filters and the words of `docker ps` ----------------------------------- */

void vs_container_filters_clear(vs_container_filters *f)
{
        vs_strv_free(f->name);
        vs_strv_free(f->id);
        vs_strv_free(f->label);
        vs_strv_free(f->status);
        memset(f, 0, sizeof(*f));
}

static const char *const docker_states[] = { "created", "restarting", "running", "removing", "paused", "exited", "dead" };

/* One key's values: ["a","b"] or, as the Go client sends them,
 * {"a":true,"b":true}.  An empty list is no filter. */
static int filter_values(const char *key, json_t *v, char ***slot, vs_error *err)
{
        const char *k;
        json_t *x;
        size_t i;

        if (json_is_array(v)) {
                if (json_array_size(v) > VS_CONTAINER_FILTER_VALUES)
                        return vs_error_set(err, VS_ERR_INPUT, "filter %s has more than %d values", key, VS_CONTAINER_FILTER_VALUES);
                json_array_foreach(v, i, x) {
                        if (!json_is_string(x))
                                return vs_error_set(err, VS_ERR_INPUT, "filter %s: values must be strings", key);
                        vs_strv_push(slot, json_string_value(x));
                }
                return 0;
        }
        if (!json_is_object(v))
                return vs_error_set(err, VS_ERR_INPUT, "filter %s: expected a list of values", key);
        if (json_object_size(v) > VS_CONTAINER_FILTER_VALUES)
                return vs_error_set(err, VS_ERR_INPUT, "filter %s has more than %d values", key, VS_CONTAINER_FILTER_VALUES);
        /* Go's filters take the keys whatever the values say. */
        json_object_foreach(v, k, x)
                vs_strv_push(slot, k);
        return 0;
}

static int check_states(char *const *status, vs_error *err)
{
        for (size_t i = 0; status && status[i]; i++) {
                size_t k;
                for (k = 0; k < sizeof(docker_states) / sizeof(docker_states[0]); k++)
                        if (strcmp(status[i], docker_states[k]) == 0)
                                break;
                if (k == sizeof(docker_states) / sizeof(docker_states[0]))
                        return vs_error_set(err, VS_ERR_INPUT,
                                            "invalid filter 'status=%.64s'", status[i]);
        }
        return 0;
}

int vs_container_filters_parse(json_t *f, vs_container_filters *ret, vs_error *err)
{
        vs_container_filters out = { 0 };
        const char *key;
        json_t *v;

        memset(ret, 0, sizeof(*ret));
        if (!f || json_is_null(f))
                return 0;
        if (!json_is_object(f))
                return vs_error_set(err, VS_ERR_INPUT, "filters must be a JSON object");
        json_object_foreach(f, key, v) {
                char ***slot = !strcmp(key, "name")     ? &out.name
                               : !strcmp(key, "id")     ? &out.id
                               : !strcmp(key, "label")  ? &out.label
                               : !strcmp(key, "status") ? &out.status
                                                        : NULL;
                if (!slot) {
                        vs_container_filters_clear(&out);
                        return vs_error_set(err, VS_ERR_INPUT, "invalid filter '%.64s'", key);
                }
                if (filter_values(key, v, slot, err) < 0) {
                        vs_container_filters_clear(&out);
                        return -1;
                }
        }
        if (check_states(out.status, err) < 0) {
                vs_container_filters_clear(&out);
                return -1;
        }
        *ret = out;
        return 0;
}

static bool any(char *const *values, bool (*hit)(const char *value, const void *ctx), const void *ctx)
{
        if (!values)
                return true;
        for (size_t i = 0; values[i]; i++)
                if (hit(values[i], ctx))
                        return true;
        return false;
}

/* Docker matches names as a regular expression against "/name"; a plain
 * substring is what clients send. */
static bool name_hit(const char *v, const void *ctx)
{
        const char *name = ctx;

        if (v[0] == '/') /* "/x" can only match where "/name" starts */
                return strncmp(name, v + 1, strlen(v + 1)) == 0;
        return strstr(name, v) != NULL;
}

static bool id_hit(const char *v, const void *ctx)
{
        return strncmp(ctx, v, strlen(v)) == 0;
}

static bool label_hit(const char *v, const void *ctx)
{
        char *const *labels = ctx;
        const char *eq = strchr(v, '=');
        size_t klen = eq ? (size_t)(eq - v) : strlen(v);

        for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2)
                if (strlen(labels[i]) == klen && strncmp(labels[i], v, klen) == 0 &&
                    (!eq || strcmp(labels[i + 1], eq + 1) == 0))
                        return true;
        return false;
}

static bool status_hit(const char *v, const void *ctx)
{
        return strcmp(v, ctx) == 0;
}

/* Values of one key: any; keys: all; and every label value must match. */
bool vs_container_filters_match(const vs_container_filters *f, const char *id, const vs_container *c, vs_job_state st)
{
        if (!any(f->name, name_hit, c->name) || !any(f->id, id_hit, id) ||
            !any(f->status, status_hit, vs_container_status(st)))
                return false;
        for (size_t i = 0; f->label && f->label[i]; i++)
                if (!label_hit(f->label[i], c->labels))
                        return false;
        return true;
}

/* go-units' HumanDuration, as `docker ps` shows ages. */
void vs_container_human_duration(int64_t seconds, char *buf, size_t len)
{
        int64_t minutes = seconds / 60, hours = (seconds + 1800) / 3600;

        if (seconds < 1)
                snprintf(buf, len, "Less than a second");
        else if (seconds == 1)
                snprintf(buf, len, "1 second");
        else if (seconds < 60)
                snprintf(buf, len, "%lld seconds", (long long)seconds);
        else if (minutes == 1)
                snprintf(buf, len, "About a minute");
        else if (minutes < 60)
                snprintf(buf, len, "%lld minutes", (long long)minutes);
        else if (hours == 1)
                snprintf(buf, len, "About an hour");
        else if (hours < 48)
                snprintf(buf, len, "%lld hours", (long long)hours);
        else if (hours < 24 * 7 * 2)
                snprintf(buf, len, "%lld days", (long long)(hours / 24));
        else if (hours < 24 * 30 * 2)
                snprintf(buf, len, "%lld weeks", (long long)(hours / 24 / 7));
        else if (hours < 24 * 365 * 2)
                snprintf(buf, len, "%lld months", (long long)(hours / 24 / 30));
        else
                snprintf(buf, len, "%lld years", (long long)(hours / 24 / 365));
}
