/* The job spec from JSON (the HTTP API's shape), table-driven and bounded:
 * unknown fields, wrong types and out-of-range values are errors that name
 * the field. */
#include "parse.h"
#include "spec.h"
#include "strv.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

typedef int (*field_fn)(vs_spec *s, const char *name, json_t *v, vs_error *err);

static int type_error(const char *name, const char *want, vs_error *err)
{
        return vs_error_set(err, VS_ERR_USAGE, "field \"%s\" must be %s", name, want);
}

static int set_str(char **slot, const char *name, json_t *v, vs_error *err)
{
        if (!json_is_string(v))
                return type_error(name, "a string", err);
        if (json_string_length(v) > VS_PATH_MAX || strlen(json_string_value(v)) != json_string_length(v))
                return vs_error_set(err, VS_ERR_USAGE, "field \"%s\" is too long or has a NUL byte", name);
        free(*slot);
        *slot = strdup(json_string_value(v));
        return *slot ? 0 : vs_error_errno(err, VS_ERR_USAGE, ENOMEM, "%s", name);
}

#define STRING_FIELD(fn, member)                                                  \
        static int fn(vs_spec *s, const char *name, json_t *v, vs_error *err)     \
        {                                                                         \
                return set_str(&s->member, name, v, err);                         \
        }
STRING_FIELD(f_image, image)
STRING_FIELD(f_tag, tag)
STRING_FIELD(f_workspace, workspace)
STRING_FIELD(f_mount_at, mount_at)
STRING_FIELD(f_user, user)
STRING_FIELD(f_workdir, workdir)
STRING_FIELD(f_docker_socket, docker_socket)
STRING_FIELD(f_hostname, hostname)

/* "1G" or a byte count. */
static int size_value(const char *name, json_t *v, uint64_t *ret, vs_error *err)
{
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
                *ret = (uint64_t)json_integer_value(v);
                return 0;
        }
        if (json_is_string(v) && vs_parse_size(json_string_value(v), ret) == 0)
                return 0;
        return type_error(name, "a size such as \"2G\" or a byte count", err);
}

static int f_memory(vs_spec *s, const char *name, json_t *v, vs_error *err)
{
        return size_value(name, v, &s->memory, err);
}

static int f_disk(vs_spec *s, const char *name, json_t *v, vs_error *err)
{
        return size_value(name, v, &s->disk, err);
}

/* "10m" or seconds. */
static int f_timeout(vs_spec *s, const char *name, json_t *v, vs_error *err)
{
        if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= (json_int_t)(VS_TIMEOUT_MAX_MS / 1000)) {
                s->timeout_ms = (uint64_t)json_integer_value(v) * 1000;
                return 0;
        }
        if (json_is_string(v) && vs_parse_duration(json_string_value(v), &s->timeout_ms) == 0)
                return 0;
        return type_error(name, "a duration such as \"10m\" or seconds up to 7 days", err);
}

static int f_cpus(vs_spec *s, const char *name, json_t *v, vs_error *err)
{
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > VS_CPUS_MAX)
                return type_error(name, "an integer from 1 to 64", err);
        s->cpus = (unsigned)json_integer_value(v);
        return 0;
}

static int f_network(vs_spec *s, const char *name, json_t *v, vs_error *err)
{
        if (!json_is_string(v) || vs_network_parse(json_string_value(v), &s->network) < 0)
                return type_error(name, "\"none\" or \"nat\"", err);
        return 0;
}

static int f_export(vs_spec *s, const char *name, json_t *v, vs_error *err)
{
        if (!json_is_boolean(v))
                return type_error(name, "true or false", err);
        s->export_image = json_is_true(v);
        return 0;
}

static int f_tty(vs_spec *s, const char *name, json_t *v, vs_error *err)
{
        if (!json_is_boolean(v))
                return type_error(name, "true or false", err);
        s->tty = json_is_true(v);
        return 0;
}

/* [{"host": H, "target": T, "rw": B, "dev": N, "ino": N}, ...]; dev and
 * ino are optional (0: not pinned). */
static int f_binds(vs_spec *s, const char *name, json_t *v, vs_error *err)
{
        json_t *b;
        size_t i;

        if (!json_is_array(v))
                return type_error(name, "an array of binds", err);
        if (json_array_size(v) > VS_BINDS_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "field \"%s\" has more than %d binds", name, VS_BINDS_MAX);
        json_array_foreach(v, i, b) {
                json_t *host = json_object_get(b, "host"), *target = json_object_get(b, "target"),
                       *rw = json_object_get(b, "rw"), *dev = json_object_get(b, "dev"), *ino = json_object_get(b, "ino");

                if (!json_is_object(b) || json_object_size(b) != 3u + !!dev + !!ino || !json_is_string(host) ||
                    !json_is_string(target) || !json_is_boolean(rw) || (dev && !json_is_integer(dev)) ||
                    (ino && !json_is_integer(ino)) || json_string_length(host) > VS_PATH_MAX ||
                    json_string_length(target) > VS_PATH_MAX ||
                    strlen(json_string_value(host)) != json_string_length(host) ||
                    strlen(json_string_value(target)) != json_string_length(target))
                        return vs_error_set(err, VS_ERR_USAGE,
                                            "field \"%s\"[%zu] must be {\"host\", \"target\", \"rw\"[, \"dev\", \"ino\"]}", name, i);
                if (vs_spec_add_bind(s, json_string_value(host), json_string_value(target), json_is_true(rw), err) < 0)
                        return -1;
                s->binds[s->n_binds - 1].dev = (uint64_t)json_integer_value(dev);
                s->binds[s->n_binds - 1].ino = (uint64_t)json_integer_value(ino);
        }
        return 0;
}

static int f_env(vs_spec *s, const char *name, json_t *v, vs_error *err)
{
        const char *key;
        json_t *val;
        size_t i;

        if (json_is_array(v)) {
                json_array_foreach(v, i, val) {
                        if (!json_is_string(val))
                                return type_error(name, "an array of \"KEY=VALUE\" strings", err);
                        if (vs_spec_add_env(s, json_string_value(val), err) < 0)
                                return -1;
                }
                return 0;
        }
        if (!json_is_object(v))
                return type_error(name, "an object or an array of \"KEY=VALUE\" strings", err);
        json_object_foreach(v, key, val) {
                char *kv = NULL;
                int r;

                if (!json_is_string(val))
                        return type_error(name, "an object of string values", err);
                if (asprintf(&kv, "%s=%s", key, json_string_value(val)) < 0)
                        return vs_error_errno(err, VS_ERR_USAGE, ENOMEM, "env");
                r = vs_spec_add_env(s, kv, err);
                free(kv);
                if (r < 0)
                        return -1;
        }
        return 0;
}

static int f_cmd(vs_spec *s, const char *name, json_t *v, vs_error *err)
{
        json_t *arg;
        size_t i;

        if (json_is_null(v))
                return 0;
        if (!json_is_array(v))
                return type_error(name, "an array of strings", err);
        json_array_foreach(v, i, arg) {
                if (!json_is_string(arg))
                        return type_error(name, "an array of strings", err);
                if (vs_spec_add_arg(s, json_string_value(arg), err) < 0)
                        return -1;
        }
        return 0;
}

static int f_build(vs_spec *s, const char *name, json_t *v, vs_error *err)
{
        (void)name;
        vs_build_free(s->build);
        s->build = NULL;
        return vs_build_from_json(v, &s->build, err);
}

/* null: the image's; [] (or [""]): reset; otherwise the words. */
static int f_entrypoint(vs_spec *s, const char *name, json_t *v, vs_error *err)
{
        char *words[VS_ARGS_MAX];
        json_t *w;
        size_t i;

        if (json_is_null(v)) {
                vs_strv_free(s->entrypoint);
                s->entrypoint = NULL;
                return 0;
        }
        if (!json_is_array(v))
                return type_error(name, "an array of strings or null", err);
        if (json_array_size(v) > VS_ARGS_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "field \"%s\" has more than %d words", name, VS_ARGS_MAX);
        json_array_foreach(v, i, w) {
                if (!json_is_string(w) || strlen(json_string_value(w)) != json_string_length(w))
                        return type_error(name, "an array of strings without NUL bytes", err);
                words[i] = (char *)json_string_value(w);
        }
        return vs_spec_set_entrypoint(s, words, json_array_size(v), err);
}

static const struct {
        const char *name;
        field_fn fn;
} fields[] = {
        { "image", f_image },       { "tag", f_tag },         { "workspace", f_workspace },
        { "mount_at", f_mount_at }, { "memory", f_memory },   { "cpus", f_cpus },
        { "disk", f_disk },         { "timeout", f_timeout }, { "network", f_network },
        { "env", f_env },           { "user", f_user },       { "workdir", f_workdir },
        { "export_image", f_export }, { "cmd", f_cmd },         { "build", f_build },
        { "entrypoint", f_entrypoint },
        { "docker_socket", f_docker_socket },
        { "binds", f_binds },       { "hostname", f_hostname }, { "tty", f_tty },
};

int vs_spec_from_json(json_t *obj, vs_spec *ret, vs_error *err)
{
        vs_spec s;
        const char *key;
        json_t *v;

        if (!json_is_object(obj))
                return vs_error_set(err, VS_ERR_USAGE, "the job spec must be a JSON object");
        vs_spec_init(&s);
        json_object_foreach(obj, key, v) {
                size_t i;

                for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                        if (strcmp(key, fields[i].name) == 0)
                                break;
                if (i == sizeof(fields) / sizeof(fields[0])) {
                        vs_spec_clear(&s);
                        return vs_error_set(err, VS_ERR_USAGE, "unknown field \"%.64s\"", key);
                }
                if (fields[i].fn(&s, key, v, err) < 0) {
                        vs_spec_clear(&s);
                        return -1;
                }
        }
        *ret = s;
        return 0;
}

static json_t *strv_array(char *const *v)
{
        json_t *a = json_array();

        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

json_t *vs_spec_to_json(const vs_spec *s)
{
        json_t *j = json_pack("{s:I, s:i, s:I, s:s, s:b, s:o}", "memory", (json_int_t)s->memory, "cpus",
                              (int)s->cpus, "disk", (json_int_t)s->disk, "network", vs_network_name(s->network),
                              "export_image", s->export_image, "env", strv_array(s->env));
        char t[32];

        snprintf(t, sizeof(t), "%llums", (unsigned long long)s->timeout_ms);
        json_object_set_new(j, "timeout", json_string(t));
        if (s->image)
                json_object_set_new(j, "image", json_string(s->image));
        if (s->tag)
                json_object_set_new(j, "tag", json_string(s->tag));
        if (s->workspace)
                json_object_set_new(j, "workspace", json_string(s->workspace));
        if (s->mount_at)
                json_object_set_new(j, "mount_at", json_string(s->mount_at));
        if (s->user)
                json_object_set_new(j, "user", json_string(s->user));
        if (s->workdir)
                json_object_set_new(j, "workdir", json_string(s->workdir));
        if (s->cmd)
                json_object_set_new(j, "cmd", strv_array(s->cmd));
        if (s->build)
                json_object_set_new(j, "build", vs_build_to_json(s->build));
        if (s->entrypoint)
                json_object_set_new(j, "entrypoint", strv_array(s->entrypoint));
        if (s->docker_socket)
                json_object_set_new(j, "docker_socket", json_string(s->docker_socket));
        if (s->n_binds) {
                json_t *a = json_array();
                for (size_t i = 0; i < s->n_binds; i++) {
                        const vs_bind *b = &s->binds[i];
                        json_t *o = json_pack("{s:s, s:s, s:b}", "host", b->host, "target", b->target, "rw", b->rw);
                        if (b->dev || b->ino) {
                                json_object_set_new(o, "dev", json_integer((json_int_t)b->dev));
                                json_object_set_new(o, "ino", json_integer((json_int_t)b->ino));
                        }
                        json_array_append_new(a, o);
                }
                json_object_set_new(j, "binds", a);
        }
        if (s->hostname)
                json_object_set_new(j, "hostname", json_string(s->hostname));
        if (s->tty)
                json_object_set_new(j, "tty", json_true());
        return j;
}
