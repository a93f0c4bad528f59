/* The Engine API's requests and the parsing of its answers: one typed
 * builder per call and bounded readers of the few fields the agent needs.
 * Nothing here does I/O, so all of it is unit-tested (tests/unit/
 * test_agent.c).  spec.json is written by the host, which has checked every
 * field; the agent still refuses what it cannot pass on faithfully (a
 * missing string, a word that is not one).  dockerd is the VM's own, but
 * its answers are input all the same: every field is type- and
 * range-checked, every size bounded. */
#include "agent.h"
#include "alloc.h"
#include "cleanup.h"
#include "protocol.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The strings of the array field name appended to out, counted in *words
 * against ENGINE_WORDS_MAX. */
static int append_strings(json_t *out, const json_t *spec, const char *name, size_t from, size_t *words, vs_error *err)
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
                if (i < from)
                        continue;
                if (++*words > ENGINE_WORDS_MAX)
                        return vs_error_set(err, VS_ERR_INPUT, "spec.json: the container has more than %d words "
                                            "(env, entrypoint and cmd)", ENGINE_WORDS_MAX);
                json_array_append_new(out, vs_xjson(json_string(json_string_value(v))));
        }
        return 0;
}

static void add_mount(json_t *mounts, const char *source, const char *target, bool ro)
{
        json_array_append_new(mounts, vs_xjson(json_pack("{s:s, s:s, s:s, s:b}", "Type", "bind", "Source", source,
                                                         "Target", target, "ReadOnly", ro)));
}

/* The workspace at mount_at, a container's binds (/job/binds/N, the host's
 * copy made by prepare; ro ones read-only: their changes would not go back
 * anyway) and the VM's own engine socket at docker_socket (a Docker
 * socket's bind of /var/run/docker.sock: nested Docker without any host
 * socket).  The same mounts the docker CLI's --mount made. */
static int add_mounts(json_t *mounts, const json_t *spec, vs_error *err)
{
        const json_t *a = json_object_get(spec, "binds"), *v;
        const char *mount_at, *sock;
        size_t i;

        if (opt_string(spec, "mount_at", &mount_at, err) < 0 || opt_string(spec, "docker_socket", &sock, err) < 0)
                return -1;
        if (json_is_true(json_object_get(spec, "workspace"))) {
                if (!mount_at || mount_at[0] != '/')
                        return vs_error_set(err, VS_ERR_INPUT, "spec.json: mount_at is not an absolute path");
                add_mount(mounts, VS_JOB_MOUNT "/workspace", mount_at, false);
        }
        if (a && !json_is_null(a) && (!json_is_array(a) || json_array_size(a) > DOCKER_BINDS_MAX))
                return vs_error_set(err, VS_ERR_INPUT, "spec.json: binds is not an array of at most %d", DOCKER_BINDS_MAX);
        json_array_foreach(a, i, v) {
                const char *t = json_string_value(json_object_get(v, "target"));
                char source[64];

                if (!t || t[0] != '/' || !json_is_boolean(json_object_get(v, "ro")))
                        return vs_error_set(err, VS_ERR_INPUT, "spec.json: binds[%zu] is not {target, ro} with an absolute target", i);
                snprintf(source, sizeof(source), VS_JOB_MOUNT "/binds/%zu", i);
                add_mount(mounts, source, t, json_is_true(json_object_get(v, "ro")));
        }
        if (sock) {
                if (sock[0] != '/')
                        return vs_error_set(err, VS_ERR_INPUT, "spec.json: docker_socket is not an absolute path");
                add_mount(mounts, DOCKER_SOCK, sock, false);
        }
        return 0;
}

/* The docker CLI's mapping of an entrypoint array, kept on the wire: its
 * first word is the Entrypoint, the rest goes before the cmd; an empty one
 * is [""] (it resets the image's entrypoint, and with any Entrypoint the
 * engine drops the image's cmd as well). */
static int add_command(json_t *body, const json_t *spec, vs_error *err)
{
        const json_t *ep = json_object_get(spec, "entrypoint");
        json_t *cmd = vs_xjson(json_array());
        json_t *env = vs_xjson(json_array());
        size_t words = 0;

        json_object_set_new(body, "Env", env);
        if (append_strings(env, spec, "env", 0, &words, err) < 0) {
                json_decref(cmd);
                return -1;
        }
        if (ep && !json_is_null(ep)) {
                json_t *first = vs_xjson(json_array());

                json_object_set_new(body, "Entrypoint", first);
                if (!json_is_array(ep)) {
                        json_decref(cmd);
                        return vs_error_set(err, VS_ERR_INPUT, "spec.json: entrypoint is not an array");
                }
                if (append_strings(cmd, spec, "entrypoint", 1, &words, err) < 0) {
                        json_decref(cmd);
                        return -1;
                }
                words++;
                json_array_append_new(first, vs_xjson(json_string(json_array_size(ep) ? json_string_value(json_array_get(ep, 0)) : "")));
        }
        if (append_strings(cmd, spec, "cmd", 0, &words, err) < 0) {
                json_decref(cmd);
                return -1;
        }
        if (json_array_size(cmd))
                json_object_set_new(body, "Cmd", cmd);
        else
                json_decref(cmd);
        return 0;
}

char *engine_create_body(const json_t *spec, unsigned long memory_kib, vs_error *err)
{
        _cleanup_json_ json_t *body = vs_xjson(json_object());
        json_t *host = vs_xjson(json_object()), *mounts = vs_xjson(json_array());
        const char *user, *workdir, *network, *ref, *hostname;
        char *text;

        json_object_set_new(host, "Mounts", mounts);
        if (opt_string(spec, "user", &user, err) < 0 || opt_string(spec, "workdir", &workdir, err) < 0 ||
            opt_string(spec, "network", &network, err) < 0 || opt_string(spec, "ref", &ref, err) < 0 ||
            opt_string(spec, "hostname", &hostname, err) < 0) {
                json_decref(host);
                return NULL;
        }
        if (!ref) {
                json_decref(host);
                vs_error_set(err, VS_ERR_INPUT, "spec.json: no image reference");
                return NULL;
        }
        json_object_set_new(body, "Image", vs_xjson(json_string(ref)));
        json_object_set_new(body, "HostConfig", host);
        if (hostname)
                json_object_set_new(body, "Hostname", vs_xjson(json_string(hostname)));
        if (user)
                json_object_set_new(body, "User", vs_xjson(json_string(user)));
        if (workdir)
                json_object_set_new(body, "WorkingDir", vs_xjson(json_string(workdir)));
        json_object_set_new(body, "Tty", json_boolean(json_is_true(json_object_get(spec, "tty"))));
        json_object_set_new(body, "AttachStdout", json_true());
        json_object_set_new(body, "AttachStderr", json_true());
        if (add_command(body, spec, err) < 0 || add_mounts(mounts, spec, err) < 0)
                return NULL;
        json_object_set_new(host, "NetworkMode", vs_xjson(json_string(network && !strcmp(network, "nat") ? "bridge" : "none")));
        if (memory_kib) {
                /* MemorySwap = Memory: no swap */
                json_object_set_new(host, "Memory", json_integer((json_int_t)memory_kib * 1024));
                json_object_set_new(host, "MemorySwap", json_integer((json_int_t)memory_kib * 1024));
        }
        text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                vs_oom();
        return text;
}

/* RFC 3986 unreserved bytes pass, '/' and ':' too where keep_path. */
static char *pct_encode(const char *s, bool keep_path)
{
        size_t n = strlen(s);
        char *out = vs_xmalloc(3 * n + 1), *o = out;

        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (isalnum(*p) || strchr("-._~", *p) || (keep_path && (*p == '/' || *p == ':')))
                        *o++ = (char)*p;
                else
                        o += sprintf(o, "%%%02X", *p);
        }
        *o = '\0';
        return out;
}

char *engine_image_path(const char *ref, const char *what)
{
        _cleanup_free_ char *enc = pct_encode(ref, true);

        return vs_xasprintf("/images/%s/%s", enc, what);
}

char *engine_build_path(const json_t *build, bool nat, vs_error *err)
{
        const json_t *args = json_object_get(build, "buildargs"), *v;
        _cleanup_json_ json_t *map = vs_xjson(json_object());
        _cleanup_free_ char *df = NULL, *argtext = NULL, *argenc = NULL;
        const char *dockerfile;
        size_t i;

        if (!json_is_object(build)) {
                vs_error_set(err, VS_ERR_INPUT, "spec.json: build is not an object");
                return NULL;
        }
        if (opt_string(build, "dockerfile", &dockerfile, err) < 0)
                return NULL;
        if (!dockerfile || !*dockerfile) {
                vs_error_set(err, VS_ERR_INPUT, "spec.json: build.dockerfile is missing");
                return NULL;
        }
        if (args && !json_is_null(args) && !json_is_array(args)) {
                vs_error_set(err, VS_ERR_INPUT, "spec.json: buildargs is not an array");
                return NULL;
        }
        if (json_array_size(args) > ENGINE_WORDS_MAX) {
                vs_error_set(err, VS_ERR_INPUT, "spec.json: more than %d buildargs", ENGINE_WORDS_MAX);
                return NULL;
        }
        /* --build-arg K=V is {"K":"V"}; K alone (no value in the agent's
         * environment, as the CLI had none) is {"K":null}. */
        json_array_foreach(args, i, v) {
                const char *s = json_string_value(v), *eq;
                _cleanup_free_ char *k = NULL;

                if (!s) {
                        vs_error_set(err, VS_ERR_INPUT, "spec.json: buildargs[%zu] is not a string", i);
                        return NULL;
                }
                eq = strchr(s, '=');
                k = eq ? vs_xstrndup(s, (size_t)(eq - s)) : vs_xstrdup(s);
                json_object_set_new(map, k, eq ? vs_xjson(json_string(eq + 1)) : json_null());
        }
        df = pct_encode(dockerfile, false);
        argtext = json_dumps(map, JSON_COMPACT | JSON_SORT_KEYS);
        if (!argtext)
                vs_oom();
        argenc = pct_encode(argtext, false);
        /* version=1: the classic builder, whose output the host turns back
         * into the Engine API's JSON lines (docs/docker-api.md); with nat
         * the RUN steps get the engine's default bridge. */
        return vs_xasprintf("/build?version=1&dockerfile=%s&forcerm=1&rm=1%s%s%s%s%s", df, nat ? "" : "&networkmode=none",
                            json_is_true(json_object_get(build, "nocache")) ? "&nocache=1" : "",
                            json_is_true(json_object_get(build, "pull")) ? "&pull=1" : "",
                            json_object_size(map) ? "&buildargs=" : "", json_object_size(map) ? argenc : "");
}

/* The JSON object of an answer, or NULL. */
static json_t *answer_object(const char *body, size_t len)
{
        json_t *j;

        if (len > ENGINE_ANSWER_MAX)
                return NULL;
        j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
        if (j && !json_is_object(j)) {
                json_decref(j);
                return NULL;
        }
        return j;
}

/* A string field of at most max bytes, or NULL. */
static const char *bounded_string(const json_t *o, const char *name, size_t max)
{
        const json_t *v = json_object_get(o, name);

        return json_is_string(v) && json_string_length(v) <= max ? json_string_value(v) : NULL;
}

char *engine_error_message(int status, const char *body, size_t len)
{
        _cleanup_json_ json_t *j = answer_object(body, len);
        const char *m = bounded_string(j, "message", ENGINE_MESSAGE_MAX);

        if (m && *m)
                return docker_clean_text(m, strlen(m));
        if (len && memchr(body, '\0', len) == NULL) {
                _cleanup_free_ char *t = docker_clean_text(body, len < 512 ? len : 512);
                if (*t)
                        return vs_xasprintf("status %d: %s", status, t);
        }
        return vs_xasprintf("status %d", status);
}

int engine_parse_container(const char *body, size_t len, int *ret_exit, bool *ret_oom, char **ret_error, vs_error *err)
{
        _cleanup_json_ json_t *j = answer_object(body, len);
        const json_t *state = json_object_get(j, "State");
        const json_t *code = json_object_get(state, "ExitCode"), *oom = json_object_get(state, "OOMKilled");
        const json_t *e = json_object_get(state, "Error");

        if (!j)
                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's container record is not a JSON object");
        /* An exit code that is missing or out of range is no success. */
        if (!json_is_integer(code) || json_integer_value(code) < 0 || json_integer_value(code) > 255)
                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's container record has no exit code from 0 to 255");
        if (!json_is_boolean(oom))
                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's container record has no OOMKilled");
        if (e && !json_is_null(e) && (!json_is_string(e) || json_string_length(e) > ENGINE_MESSAGE_MAX))
                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's container record has a bad Error");
        *ret_exit = (int)json_integer_value(code);
        *ret_oom = json_is_true(oom);
        *ret_error = json_string_length(e) ? docker_clean_text(json_string_value(e), json_string_length(e)) : NULL;
        return 0;
}

int engine_parse_image(const char *body, size_t len, char **ret_id, json_t **ret_digests)
{
        _cleanup_json_ json_t *j = answer_object(body, len);
        const json_t *d = json_object_get(j, "RepoDigests"), *v;
        const char *id = bounded_string(j, "Id", 71);
        _cleanup_free_ char *iid = id ? docker_parse_iid(id) : NULL;
        size_t i;

        if (!iid || (d && !json_is_null(d) && (!json_is_array(d) || json_array_size(d) > ENGINE_DIGESTS_MAX)))
                return -1;
        json_array_foreach(d, i, v)
                if (!json_is_string(v) || json_string_length(v) > ENGINE_REF_MAX)
                        return -1;
        *ret_id = TAKE_PTR(iid);
        *ret_digests = json_is_array(d) ? json_deep_copy(d) : vs_xjson(json_array());
        if (!*ret_digests)
                vs_oom();
        return 0;
}

char *engine_parse_version(const char *body, size_t len)
{
        _cleanup_json_ json_t *j = answer_object(body, len);
        const char *v = bounded_string(j, "Version", 64);

        if (!v || !*v)
                return NULL;
        for (const char *p = v; *p; p++)
                if (!isalnum((unsigned char)*p) && !strchr(".-+~_", *p))
                        return NULL;
        return vs_xstrdup(v);
}

void engine_msg_clear(engine_msg *m)
{
        free(m->stream);
        free(m->error);
        free(m->aux_id);
        *m = (engine_msg){ 0 };
}

int engine_parse_msg(const char *line, size_t len, engine_msg *ret, vs_error *err)
{
        _cleanup_json_ json_t *j = answer_object(line, len);
        const json_t *stream = json_object_get(j, "stream"), *e = json_object_get(j, "error");
        const json_t *detail = json_object_get(j, "errorDetail"), *aux = json_object_get(j, "aux");
        const json_t *code = json_object_get(detail, "code"), *id = json_object_get(aux, "ID");
        engine_msg m = { 0 };

        if (!j)
                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's message is not a JSON object");
        if ((stream && !json_is_string(stream)) || (e && !json_is_string(e)) || (detail && !json_is_object(detail)) ||
            (code && !json_is_integer(code)) || (aux && !json_is_object(aux)) || (id && !json_is_string(id)))
                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's message has a field of the wrong type");
        if (e && json_string_length(e) > ENGINE_MESSAGE_MAX)
                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's message has an error over %d bytes", ENGINE_MESSAGE_MAX);
        if (stream)
                m.stream = vs_xstrndup(json_string_value(stream), json_string_length(stream));
        if (e) {
                m.error = docker_clean_text(json_string_value(e), json_string_length(e));
                /* The docker CLI's status for a failed build: the code, or 1. */
                m.code = code && json_integer_value(code) > 0 && json_integer_value(code) <= 255 ? (int)json_integer_value(code) : 1;
        }
        if (id) {
                m.aux_id = docker_parse_iid(json_string_value(id));
                if (!m.aux_id) {
                        engine_msg_clear(&m);
                        return vs_error_set(err, VS_ERR_SANDBOX, "the engine's message has a bad image id");
                }
        }
        *ret = m;
        return 0;
}

void engine_lines_clear(engine_lines *l)
{
        free(l->buf);
        *l = (engine_lines){ 0 };
}

int engine_lines_feed(engine_lines *l, const char *data, size_t n, engine_line_fn fn, void *ud, vs_error *err)
{
        while (n > 0) {
                const char *nl = memchr(data, '\n', n);
                size_t take = nl ? (size_t)(nl - data) : n;

                if (l->len + take > ENGINE_MSG_LINE_MAX)
                        return vs_error_set(err, VS_ERR_SANDBOX, "the engine's message stream has a line over %d bytes",
                                            ENGINE_MSG_LINE_MAX);
                if (l->len + take > l->cap) {
                        l->cap = l->len + take > 2 * l->cap ? l->len + take : 2 * l->cap;
                        l->buf = vs_xrealloc(l->buf, l->cap);
                }
                memcpy(l->buf + l->len, data, take);
                l->len += take;
                data += take;
                n -= take;
                if (!nl)
                        break;
                data++, n--;
                if (l->len && fn(ud, l->buf, l->len, err) < 0)
                        return -1;
                l->len = 0;
        }
        return 0;
}

int engine_lines_end(engine_lines *l, engine_line_fn fn, void *ud, vs_error *err)
{
        if (l->len == 0)
                return 0;
        if (fn(ud, l->buf, l->len, err) < 0)
                return -1;
        l->len = 0;
        return 0;
}

/* The multiplexed stream of a container without a tty: frames of an
 * 8-byte header (stream 1 stdout or 2 stderr, three zero bytes, a 4-byte
 * big-endian length) and the payload, handed to fn piece by piece as it
 * comes (a frame is never held whole). */
int engine_mux_feed(engine_mux *m, const char *data, size_t n, engine_out_fn fn, void *ud, vs_error *err)
{
        while (n > 0) {
                if (m->left == 0) {
                        size_t take = 8 - m->hlen < n ? 8 - m->hlen : n;

                        memcpy(m->hdr + m->hlen, data, take);
                        m->hlen += take;
                        data += take;
                        n -= take;
                        if (m->hlen < 8)
                                break;
                        m->hlen = 0;
                        m->stream = m->hdr[0];
                        m->left = (uint32_t)m->hdr[4] << 24 | (uint32_t)m->hdr[5] << 16 | (uint32_t)m->hdr[6] << 8 | m->hdr[7];
                        if ((m->stream != 1 && m->stream != 2) || m->hdr[1] || m->hdr[2] || m->hdr[3])
                                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's output stream has a bad frame header");
                        if (m->left > ENGINE_MUX_FRAME_MAX)
                                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's output stream has a frame of %u bytes "
                                                    "(over %u)", (unsigned)m->left, (unsigned)ENGINE_MUX_FRAME_MAX);
                        continue;
                }
                size_t take = m->left < n ? m->left : n;
                fn(ud, m->stream == 1 ? VS_FRAME_STDOUT : VS_FRAME_STDERR, data, take);
                m->left -= (uint32_t)take;
                data += take;
                n -= take;
        }
        return 0;
}

int engine_mux_end(const engine_mux *m, vs_error *err)
{
        if (m->hlen || m->left)
                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's output stream ends inside a frame");
        return 0;
}

/* Memory kept for the kernel, dockerd, containerd and the agent (agent.h). */
unsigned long docker_container_memory_kib(unsigned long total_kib)
{
        if (total_kib == 0)
                return 0;
        return total_kib > DOCKER_ENGINE_RESERVE_KIB + DOCKER_CONTAINER_MIN_KIB ? total_kib - DOCKER_ENGINE_RESERVE_KIB
                                                                               : DOCKER_CONTAINER_MIN_KIB;
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
