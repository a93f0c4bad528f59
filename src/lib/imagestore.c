#include "imagestore.h"
#include "alloc.h"
#include "archive.h"
#include "cleanup.h"
#include "fsutil.h"
#include "jsonload.h"
#include "parse.h"
#include "sha256.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define INDEX_VERSION 1
#define TMP_PREFIX ".tmp-"
#define SCAN_MAX 1000000        /* directory entries looked at when the store opens */
#define REMOVE_TRIES 4

typedef struct {
        char tenant[VS_IMGSTORE_TENANT_MAX + 1];
        vs_image im;
} entry;

struct vs_imgstore {
        pthread_mutex_t lock;
        char *dir, *index_path;
        int blobs_fd;           /* DIR/blobs */
        entry *v;
        size_t n;
        uint64_t gen;           /* bumped on every change of v */
        unsigned tenant_images; /* a tenant's share (vs_imgstore_set_tenant_quota) */
        uint64_t tenant_bytes;
};

/* ---- small helpers ------------------------------------------------------------ */

static char **strv_copy(char *const *v)
{
        size_t n = 0;
        char **c;

        if (!v)
                return NULL;
        while (v[n])
                n++;
        c = vs_xcalloc(n + 1, sizeof(*c));
        for (size_t i = 0; i < n; i++)
                c[i] = vs_xstrdup(v[i]);
        return c;
}

static void strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static size_t strv_len(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

static void strv_add(char ***v, const char *s)
{
        size_t n = strv_len(*v);

        *v = vs_xrealloc(*v, (n + 2) * sizeof(**v));
        (*v)[n] = vs_xstrdup(s);
        (*v)[n + 1] = NULL;
}

static bool strv_has(char *const *v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

/* Removes s from v; true when it was there. */
static bool strv_remove(char **v, const char *s)
{
        size_t n = strv_len(v);

        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i], s) == 0) {
                        free(v[i]);
                        memmove(&v[i], &v[i + 1], (n - i) * sizeof(*v));
                        return true;
                }
        return false;
}

static char *str_copy(const char *s)
{
        return s ? vs_xstrdup(s) : NULL;
}

static bool is_hex(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

static bool id_ok(const char *id)
{
        return strlen(id) == VS_IMAGE_ID_LEN && strncmp(id, "sha256:", 7) == 0 && is_hex(id + 7, 64);
}

static bool tenant_ok(const char *t)
{
        size_t n = t ? strlen(t) : 0;

        return n > 0 && n <= VS_IMGSTORE_TENANT_MAX &&
               strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") == n;
}

static int check_tenant(const char *t, vs_error *err)
{
        return tenant_ok(t) ? 0 : vs_error_set(err, VS_ERR_USAGE, "image store: invalid tenant");
}

static void config_clear(vs_image_config *c)
{
        free(c->architecture);
        free(c->os);
        free(c->created);
        free(c->user);
        free(c->working_dir);
        strv_free(c->cmd);
        strv_free(c->entrypoint);
        strv_free(c->env);
        strv_free(c->labels);
        strv_free(c->exposed_ports);
        strv_free(c->diff_ids);
        memset(c, 0, sizeof(*c));
}

void vs_image_clear(vs_image *im)
{
        config_clear(&im->config);
        strv_free(im->tags);
        memset(im, 0, sizeof(*im));
}

void vs_image_list_free(vs_image *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                vs_image_clear(&v[i]);
        free(v);
}

static void image_copy(vs_image *dst, const vs_image *src)
{
        const vs_image_config *c = &src->config;

        *dst = *src;
        dst->tags = strv_copy(src->tags);
        dst->config = (vs_image_config){
                .architecture = str_copy(c->architecture), .os = str_copy(c->os), .created = str_copy(c->created),
                .user = str_copy(c->user), .working_dir = str_copy(c->working_dir), .cmd = strv_copy(c->cmd),
                .entrypoint = strv_copy(c->entrypoint), .env = strv_copy(c->env), .labels = strv_copy(c->labels),
                .exposed_ports = strv_copy(c->exposed_ports), .diff_ids = strv_copy(c->diff_ids),
        };
        if (!dst->tags)
                dst->tags = vs_xcalloc(1, sizeof(char *));
}

void vs_image_loaded_free(vs_image_loaded *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i].ref);
        free(v);
}

void vs_image_deleted_free(vs_image_deleted *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i].untagged);
                free(v[i].deleted);
        }
        free(v);
}

static void entries_free(entry *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                vs_image_clear(&v[i].im);
        free(v);
}

static entry *entries_clone(const entry *v, size_t n)
{
        entry *c = vs_xcalloc(n + 1, sizeof(*c));

        for (size_t i = 0; i < n; i++) {
                memcpy(c[i].tenant, v[i].tenant, sizeof(c[i].tenant));
                image_copy(&c[i].im, &v[i].im);
        }
        return c;
}

/* ---- references (Docker's github.com/distribution/reference rules) ---------------- */

static bool lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* A path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool path_component_ok(const char *p, size_t n)
{
        size_t i = 0;

        if (n == 0 || !lower_alnum(p[0]))
                return false;
        while (i < n) {
                size_t j = i;

                if (lower_alnum(p[i])) {
                        i++;
                        continue;
                }
                if (p[i] == '.')
                        j = i + 1;
                else if (p[i] == '_')
                        j = i + 1 + (i + 1 < n && p[i + 1] == '_');
                else if (p[i] == '-')
                        while (j < n && p[j] == '-')
                                j++;
                else
                        return false;
                if (j >= n || !lower_alnum(p[j]))
                        return false;
                i = j;
        }
        return true;
}

/* host[:port]: components [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])? joined by '.' */
static bool domain_ok(const char *p, size_t n)
{
        const char *colon = memchr(p, ':', n);
        size_t host = colon ? (size_t)(colon - p) : n, start = 0;

        if (colon && (n - host - 1 == 0 || strspn(colon + 1, "0123456789") < n - host - 1))
                return false;
        if (host == 0)
                return false;
        for (size_t i = 0; i <= host; i++) {
                if (i < host && p[i] != '.') {
                        if (!isalnum((unsigned char)p[i]) && p[i] != '-')
                                return false;
                        continue;
                }
                if (i == start || p[start] == '-' || p[i - 1] == '-')
                        return false;
                start = i + 1;
        }
        return true;
}

/* [\w][\w.-]{0,127} */
static bool tag_ok(const char *t)
{
        size_t n = strlen(t);

        if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
                        return false;
        return true;
}

/* What every name must be before it is looked at: printable ASCII, no "..",
 * at most VS_IMAGE_NAME_MAX bytes.  Docker's message; the name is not
 * quoted (it may be anything). */
static int name_basic(const char *name, vs_error *err)
{
        size_t n = strlen(name);

        if (n == 0 || n > VS_IMAGE_NAME_MAX || strstr(name, ".."))
                return vs_error_set(err, VS_ERR_INPUT, "invalid reference format");
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)name[i] <= ' ' || (unsigned char)name[i] >= 0x7f)
                        return vs_error_set(err, VS_ERR_INPUT, "invalid reference format");
        return 0;
}

int vs_imgstore_normalize(const char *name, char ret[VS_IMAGE_NAME_MAX + 1], bool *ret_tagged, vs_error *err)
{
        const char *slash, *colon, *tag = "latest", *path;
        char buf[VS_IMAGE_NAME_MAX + 1], domain[VS_IMAGE_NAME_MAX + 1] = "docker.io";
        bool tagged = false, upper = false;
        size_t n;

        if (name_basic(name, err) < 0)
                return -1;
        if (strchr(name, '@'))
                return vs_error_set(err, VS_ERR_INPUT, "invalid reference format: digests are not supported");
        snprintf(buf, sizeof(buf), "%s", name);
        slash = strrchr(buf, '/');
        colon = strrchr(buf, ':');
        if (colon && (!slash || colon > slash)) {
                buf[colon - buf] = '\0';
                tag = colon + 1;
                tagged = true;
                if (!tag_ok(tag))
                        return vs_error_set(err, VS_ERR_INPUT, "invalid reference format");
        }
        path = buf;
        slash = strchr(buf, '/');
        if (slash) {
                size_t dl = (size_t)(slash - buf);
                bool has_upper = false;

                for (size_t i = 0; i < dl; i++)
                        has_upper |= isupper((unsigned char)buf[i]) != 0;
                if (memchr(buf, '.', dl) || memchr(buf, ':', dl) || (dl == 9 && strncmp(buf, "localhost", 9) == 0) ||
                    has_upper) {
                        if (!domain_ok(buf, dl))
                                return vs_error_set(err, VS_ERR_INPUT, "invalid reference format");
                        snprintf(domain, sizeof(domain), "%.*s", (int)dl, buf);
                        path = slash + 1;
                }
        }
        if (strcmp(domain, "index.docker.io") == 0)
                snprintf(domain, sizeof(domain), "docker.io");
        for (const char *p = path;; ) {
                size_t len = strcspn(p, "/");

                for (size_t i = 0; i < len; i++)
                        upper |= isupper((unsigned char)p[i]) != 0;
                if (!upper && !path_component_ok(p, len))
                        return vs_error_set(err, VS_ERR_INPUT, "invalid reference format");
                if (!p[len])
                        break;
                p += len + 1;
        }
        if (upper)
                return vs_error_set(err, VS_ERR_INPUT, "invalid reference format: repository name must be lowercase");
        /* The familiar form: docker.io/ and docker.io's library/ are implied. */
        if (strcmp(domain, "docker.io") == 0) {
                if (strncmp(path, "library/", 8) == 0 && !strchr(path + 8, '/'))
                        path += 8;
                n = (size_t)snprintf(ret, VS_IMAGE_NAME_MAX + 1, "%s:%s", path, tag);
        } else
                n = (size_t)snprintf(ret, VS_IMAGE_NAME_MAX + 1, "%s/%s:%s", domain, path, tag);
        if (n > VS_IMAGE_NAME_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "invalid reference format: repository name must not be more than 255 characters");
        if (ret_tagged)
                *ret_tagged = tagged;
        return 0;
}

/* The repository of a normalised "repo:tag" (the part before the tag). */
static size_t repo_len(const char *ref)
{
        const char *colon = strrchr(ref, ':');

        return colon ? (size_t)(colon - ref) : strlen(ref);
}

/* ---- the config subset ---------------------------------------------------------- */

typedef struct {
        const char *where; /* "image config" or "index.json: image N" */
        vs_error *err;
} ctx_t;

static int bad(ctx_t *c, const char *what, const char *why)
{
        return vs_error_set(c->err, VS_ERR_INPUT, "%s: %s %s", c->where, what, why);
}

static int get_str(ctx_t *c, json_t *obj, const char *key, char **out)
{
        json_t *v = json_object_get(obj, key);

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return bad(c, key, "is not a string");
        if (json_string_length(v) > VS_IMGSTORE_STR_MAX)
                return bad(c, key, "is too long");
        *out = vs_xstrdup(json_string_value(v));
        return 0;
}

static int push_str(ctx_t *c, const char *what, json_t *v, char ***out, size_t *count)
{
        if (!json_is_string(v))
                return bad(c, what, "has a non-string item");
        if (json_string_length(v) > VS_IMGSTORE_STR_MAX)
                return bad(c, what, "has an item that is too long");
        if (++*count > VS_IMGSTORE_LIST_MAX)
                return bad(c, what, "has too many items");
        strv_add(out, json_string_value(v));
        return 0;
}

/* An array of strings, or null (*out stays NULL). */
static int get_strv(ctx_t *c, json_t *obj, const char *key, char ***out)
{
        json_t *v = json_object_get(obj, key), *it;
        size_t i, count = 0;

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_array(v))
                return bad(c, key, "is not an array");
        *out = vs_xcalloc(1, sizeof(char *));
        json_array_foreach(v, i, it)
                if (push_str(c, key, it, out, &count) < 0)
                        return -1;
        return 0;
}

/* An object: its keys (and with values, "key", "value" pairs of strings). */
static int get_map(ctx_t *c, json_t *obj, const char *key, bool values, char ***out)
{
        json_t *v = json_object_get(obj, key), *it;
        const char *k;
        size_t count = 0;

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_object(v))
                return bad(c, key, "is not an object");
        *out = vs_xcalloc(1, sizeof(char *));
        json_object_foreach(v, k, it) {
                json_t *ks = vs_xjson(json_string(k));
                int r = push_str(c, key, ks, out, &count);

                json_decref(ks);
                if (r < 0 || (values && push_str(c, key, it, out, &count) < 0))
                        return -1;
        }
        return 0;
}

/* The subset of an image's config json (lowercase keys, as the image
 * config spec writes them; Config's fields are Docker's). */
static int config_from_image_json(const char *text, size_t len, vs_image_config *ret, vs_error *err)
{
        _cleanup_json_ json_t *j = vs_json_load_bounded(text, len, VS_ARCHIVE_MAX_JSON, VS_JSON_DEPTH_MAX, VS_ERR_INPUT, err);
        ctx_t c = { "image config", err };
        vs_image_config cfg = { 0 };
        json_t *conf, *rootfs;

        if (!j) {
                vs_error_prefix(err, "image config");
                return -1;
        }
        if (!json_is_object(j))
                return vs_error_set(err, VS_ERR_INPUT, "image config is not an object");
        conf = json_object_get(j, "config");
        rootfs = json_object_get(j, "rootfs");
        if ((conf && !json_is_null(conf) && !json_is_object(conf)) || (rootfs && !json_is_object(rootfs)))
                return vs_error_set(err, VS_ERR_INPUT, "image config: config or rootfs is not an object");
        if (get_str(&c, j, "architecture", &cfg.architecture) < 0 || get_str(&c, j, "os", &cfg.os) < 0 ||
            get_str(&c, j, "created", &cfg.created) < 0 || get_str(&c, conf, "User", &cfg.user) < 0 ||
            get_str(&c, conf, "WorkingDir", &cfg.working_dir) < 0 || get_strv(&c, conf, "Cmd", &cfg.cmd) < 0 ||
            get_strv(&c, conf, "Entrypoint", &cfg.entrypoint) < 0 || get_strv(&c, conf, "Env", &cfg.env) < 0 ||
            get_map(&c, conf, "Labels", true, &cfg.labels) < 0 ||
            get_map(&c, conf, "ExposedPorts", false, &cfg.exposed_ports) < 0 ||
            get_strv(&c, rootfs, "diff_ids", &cfg.diff_ids) < 0) {
                config_clear(&cfg);
                return -1;
        }
        *ret = cfg;
        return 0;
}

/* ---- index.json ------------------------------------------------------------------- */

static json_t *strv_json(char *const *v)
{
        json_t *a;

        if (!v)
                return json_null();
        a = vs_xjson(json_array());
        for (size_t i = 0; v[i]; i++)
                json_array_append_new(a, vs_xjson(json_string(v[i])));
        return a;
}

static json_t *opt_str(const char *s)
{
        return s ? vs_xjson(json_string(s)) : json_null();
}

static json_t *config_json(const vs_image_config *c)
{
        json_t *labels = json_null();

        if (c->labels) {
                labels = vs_xjson(json_object());
                for (size_t i = 0; c->labels[i] && c->labels[i + 1]; i += 2)
                        json_object_set_new(labels, c->labels[i], vs_xjson(json_string(c->labels[i + 1])));
        }
        return vs_xjson(json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "Architecture",
                                  opt_str(c->architecture), "Os", opt_str(c->os), "Created", opt_str(c->created),
                                  "User", opt_str(c->user), "WorkingDir", opt_str(c->working_dir), "Cmd",
                                  strv_json(c->cmd), "Entrypoint", strv_json(c->entrypoint), "Env", strv_json(c->env),
                                  "Labels", labels, "ExposedPorts", strv_json(c->exposed_ports), "DiffIds",
                                  strv_json(c->diff_ids)));
}

static json_t *image_json(const char *tenant, const vs_image *im)
{
        return vs_xjson(json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:o}", "tenant", tenant, "id", im->id, "blob", im->blob,
                                  "tags", strv_json(im->tags), "loaded", (json_int_t)im->loaded, "size",
                                  (json_int_t)im->size, "config", config_json(&im->config)));
}

static char *index_dump(json_t *images)
{
        _cleanup_json_ json_t *root = vs_xjson(json_pack("{s:i, s:o}", "version", INDEX_VERSION, "images", images));
        char *text = json_dumps(root, JSON_COMPACT);

        if (!text)
                vs_oom();
        return text;
}

static char *index_text(const entry *v, size_t n)
{
        json_t *images = vs_xjson(json_array());

        for (size_t i = 0; i < n; i++)
                json_array_append_new(images, image_json(v[i].tenant, &v[i].im));
        return index_dump(images);
}

char *vs_imgstore_index_format(const vs_image *v, char *const *tenants, size_t n)
{
        json_t *images = vs_xjson(json_array());

        for (size_t i = 0; i < n; i++)
                json_array_append_new(images, image_json(tenants[i], &v[i]));
        return index_dump(images);
}

static int only_keys(ctx_t *c, json_t *obj, const char *const *keys)
{
        const char *k;
        json_t *v;

        json_object_foreach(obj, k, v) {
                bool known = false;

                for (size_t i = 0; keys[i] && !known; i++)
                        known = strcmp(keys[i], k) == 0;
                if (!known)
                        return vs_error_set(c->err, VS_ERR_INPUT, "%s: unknown key", c->where);
        }
        (void)v;
        return 0;
}

static int get_int(ctx_t *c, json_t *obj, const char *key, int64_t *out)
{
        json_t *v = json_object_get(obj, key);

        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return bad(c, key, "is not a non-negative integer");
        *out = json_integer_value(v);
        return 0;
}

static int parse_config(ctx_t *c, json_t *j, vs_image_config *cfg)
{
        static const char *const keys[] = { "Architecture", "Os", "Created", "User", "WorkingDir", "Cmd",
                                            "Entrypoint", "Env", "Labels", "ExposedPorts", "DiffIds", NULL };
        if (!json_is_object(j))
                return bad(c, "config", "is not an object");
        if (only_keys(c, j, keys) < 0)
                return -1;
        if (get_str(c, j, "Architecture", &cfg->architecture) < 0 || get_str(c, j, "Os", &cfg->os) < 0 ||
            get_str(c, j, "Created", &cfg->created) < 0 || get_str(c, j, "User", &cfg->user) < 0 ||
            get_str(c, j, "WorkingDir", &cfg->working_dir) < 0 || get_strv(c, j, "Cmd", &cfg->cmd) < 0 ||
            get_strv(c, j, "Entrypoint", &cfg->entrypoint) < 0 || get_strv(c, j, "Env", &cfg->env) < 0 ||
            get_map(c, j, "Labels", true, &cfg->labels) < 0 ||
            get_strv(c, j, "ExposedPorts", &cfg->exposed_ports) < 0 || get_strv(c, j, "DiffIds", &cfg->diff_ids) < 0)
                return -1;
        return 0;
}

static int parse_entry(ctx_t *c, json_t *j, char **ret_tenant, vs_image *im)
{
        static const char *const keys[] = { "tenant", "id", "blob", "tags", "loaded", "size", "config", NULL };
        const char *tenant = json_string_value(json_object_get(j, "tenant"));
        const char *id = json_string_value(json_object_get(j, "id"));
        const char *blob = json_string_value(json_object_get(j, "blob"));
        json_t *tags = json_object_get(j, "tags"), *t;
        int64_t size;
        size_t i;

        if (!json_is_object(j))
                return vs_error_set(c->err, VS_ERR_INPUT, "%s: not an object", c->where);
        if (only_keys(c, j, keys) < 0)
                return -1;
        if (!tenant || !tenant_ok(tenant))
                return bad(c, "tenant", "is not a tenant");
        if (!id || !id_ok(id))
                return bad(c, "id", "is not sha256:<64 hex digits>");
        if (!blob || strlen(blob) != 64 || !is_hex(blob, 64))
                return bad(c, "blob", "is not 64 hex digits");
        if (!json_is_array(tags) || json_array_size(tags) > VS_IMGSTORE_MAX_TAGS)
                return bad(c, "tags", "is not an array of at most 256 tags");
        if (get_int(c, j, "loaded", &im->loaded) < 0 || get_int(c, j, "size", &size) < 0)
                return -1;
        im->size = (uint64_t)size;
        snprintf(im->id, sizeof(im->id), "%s", id);
        snprintf(im->blob, sizeof(im->blob), "%s", blob);
        im->tags = vs_xcalloc(1, sizeof(char *));
        json_array_foreach(tags, i, t) {
                char norm[VS_IMAGE_NAME_MAX + 1];
                const char *s = json_string_value(t);
                bool tagged = false;
                vs_error e2;

                /* A stored tag is in its normal form already. */
                if (!s || vs_imgstore_normalize(s, norm, &tagged, &e2) < 0 || !tagged || strcmp(norm, s) != 0)
                        return bad(c, "tags", "has an invalid tag");
                if (strv_has(im->tags, s))
                        return bad(c, "tags", "has a tag twice");
                strv_add(&im->tags, s);
        }
        *ret_tenant = vs_xstrdup(tenant);
        return parse_config(c, json_object_get(j, "config"), &im->config);
}

static int str_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* No (tenant, id) twice and no tag of a tenant on two images. */
static int index_unique(vs_image *v, char **tenants, size_t n, vs_error *err)
{
        size_t nkeys = 0, cap = n;
        char **keys = vs_xcalloc(cap + 1, sizeof(*keys));
        int r = 0;

        for (size_t i = 0; i < n; i++) {
                size_t need = nkeys + 1 + strv_len(v[i].tags);

                if (need > cap) {
                        cap = need * 2;
                        keys = vs_xrealloc(keys, cap * sizeof(*keys));
                }
                keys[nkeys++] = vs_xasprintf("i %s %s", tenants[i], v[i].id);
                for (size_t k = 0; v[i].tags[k]; k++)
                        keys[nkeys++] = vs_xasprintf("t %s %s", tenants[i], v[i].tags[k]);
        }
        if (nkeys)
                qsort(keys, nkeys, sizeof(*keys), str_cmp);
        for (size_t i = 1; i < nkeys && r == 0; i++)
                if (strcmp(keys[i - 1], keys[i]) == 0)
                        r = vs_error_set(err, VS_ERR_INPUT, "index.json: %s twice for one tenant",
                                         keys[i][0] == 'i' ? "an image" : "a tag");
        for (size_t i = 0; i < nkeys; i++)
                free(keys[i]);
        free(keys);
        return r;
}

int vs_imgstore_index_parse(const char *text, size_t len, vs_image **ret, char ***ret_tenants, size_t *ret_n,
                            vs_error *err)
{
        static const char *const keys[] = { "version", "images", NULL };
        _cleanup_json_ json_t *j = vs_json_load_bounded(text, len, VS_IMGSTORE_INDEX_MAX, VS_JSON_DEPTH_MAX, VS_ERR_INPUT, err);
        ctx_t c = { "index.json", err };
        json_t *images, *it;
        vs_image *v = NULL;
        char **tenants = NULL;
        size_t i, n = 0;
        char where[64];

        if (!j) {
                vs_error_prefix(err, "index.json");
                return -1;
        }
        if (!json_is_object(j) || only_keys(&c, j, keys) < 0)
                return vs_error_set(err, VS_ERR_INPUT, "index.json: not an object of version and images");
        if (json_integer_value(json_object_get(j, "version")) != INDEX_VERSION ||
            !json_is_integer(json_object_get(j, "version")))
                return vs_error_set(err, VS_ERR_INPUT, "index.json: version is not %d", INDEX_VERSION);
        images = json_object_get(j, "images");
        if (!json_is_array(images))
                return vs_error_set(err, VS_ERR_INPUT, "index.json: images is not an array");
        if (json_array_size(images) > VS_IMGSTORE_MAX_IMAGES)
                return vs_error_set(err, VS_ERR_INPUT, "index.json: more than %d images", VS_IMGSTORE_MAX_IMAGES);
        v = vs_xcalloc(json_array_size(images) + 1, sizeof(*v));
        tenants = vs_xcalloc(json_array_size(images) + 1, sizeof(*tenants));
        json_array_foreach(images, i, it) {
                snprintf(where, sizeof(where), "index.json: image %zu", i);
                c.where = where;
                n = i + 1;
                if (parse_entry(&c, it, &tenants[i], &v[i]) < 0)
                        goto fail;
        }
        if (index_unique(v, tenants, n, err) < 0)
                goto fail;
        *ret = v;
        *ret_tenants = tenants;
        *ret_n = n;
        return 0;
fail:
        vs_image_list_free(v, n);
        strv_free(tenants);
        return -1;
}

/* ---- opening ----------------------------------------------------------------------- */

static bool blob_referenced(const entry *v, size_t n, const char *blob)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].im.blob, blob) == 0)
                        return true;
        return false;
}

static void blob_name(const char *blob, char name[70])
{
        snprintf(name, 70, "%s.tar", blob);
}

static int read_index(vs_imgstore *s, vs_error *err)
{
        _cleanup_close_ int fd = open(s->index_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        _cleanup_free_ char *text = NULL;
        vs_image *v = NULL;
        char **tenants = NULL;
        struct stat st;
        size_t n = 0;
        ssize_t got;

        if (fd < 0 && errno == ENOENT)
                return 0;
        if (fd < 0 || fstat(fd, &st) < 0)
                return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot read %s", s->index_path);
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > VS_IMGSTORE_INDEX_MAX)
                return vs_error_set(err, VS_ERR_SETUP, "%s is not a regular file of at most %u bytes", s->index_path,
                                    VS_IMGSTORE_INDEX_MAX);
        text = vs_xmalloc((size_t)st.st_size + 1);
        got = vs_read_full(fd, text, (size_t)st.st_size);
        if (got != st.st_size)
                return vs_error_errno(err, VS_ERR_SETUP, got < 0 ? errno : EIO, "cannot read %s", s->index_path);
        text[got] = '\0';
        if (vs_imgstore_index_parse(text, (size_t)got, &v, &tenants, &n, err) < 0) {
                err->kind = VS_ERR_SETUP;
                vs_error_prefix(err, "image store %s", s->dir);
                return -1;
        }
        s->v = vs_xcalloc(n + 1, sizeof(*s->v));
        for (size_t i = 0; i < n; i++) {
                snprintf(s->v[i].tenant, sizeof(s->v[i].tenant), "%s", tenants[i]);
                s->v[i].im = v[i];
        }
        s->n = n;
        free(v);
        strv_free(tenants);
        return 0;
}

static int check_blobs(vs_imgstore *s, vs_error *err)
{
        for (size_t i = 0; i < s->n; i++) {
                struct stat st;
                char name[70];

                blob_name(s->v[i].im.blob, name);
                if (fstatat(s->blobs_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        return vs_error_set(err, VS_ERR_SETUP, "image store %s: the blob of image %s is missing", s->dir,
                                            s->v[i].im.id);
        }
        return 0;
}

/* What a crash leaves: temp files, blobs that never got (or lost) their
 * index entry.  Other names are left alone (never trusted either). */
static void sweep(vs_imgstore *s)
{
        int dfd = fcntl(s->blobs_fd, F_DUPFD_CLOEXEC, 0);
        _cleanup_closedir_ DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        _cleanup_closedir_ DIR *top = opendir(s->dir);
        struct dirent *de;
        unsigned seen = 0;

        if (!d && dfd >= 0)
                close(dfd);
        while (d && (de = readdir(d)) && seen++ < SCAN_MAX) {
                char blob[65];
                bool is_blob = strlen(de->d_name) == 68 && is_hex(de->d_name, 64) && strcmp(de->d_name + 64, ".tar") == 0;

                snprintf(blob, sizeof(blob), "%.64s", de->d_name);
                if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 ||
                    (is_blob && !blob_referenced(s->v, s->n, blob)))
                        unlinkat(s->blobs_fd, de->d_name, 0);
        }
        seen = 0;
        while (top && (de = readdir(top)) && seen++ < SCAN_MAX)
                if (strncmp(de->d_name, "index.json.tmp-", 15) == 0)
                        unlinkat(dirfd(top), de->d_name, 0);
}

int vs_imgstore_open(const char *dir, vs_imgstore **ret, vs_error *err)
{
        vs_imgstore *s = vs_xcalloc(1, sizeof(*s));

        s->dir = vs_xstrdup(dir);
        s->index_path = vs_xasprintf("%s/index.json", dir);
        s->blobs_fd = -1;
        pthread_mutex_init(&s->lock, NULL);
        /* The modes are set through fds opened without following a link: a
         * symlink put at DIR (or DIR/blobs) is refused, never chmod'ed through. */
        {
                _cleanup_close_ int dfd = -1;

                if (vs_mkdir_p(dir, 0700, err) < 0 ||
                    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fchmod(dfd, 0700) < 0 ||
                    (mkdirat(dfd, "blobs", 0700) < 0 && errno != EEXIST) ||
                    (s->blobs_fd = openat(dfd, "blobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
                    fchmod(s->blobs_fd, 0700) < 0) {
                        if (!err->msg[0])
                                vs_error_errno(err, VS_ERR_SETUP, errno, "cannot make the image store %s", dir);
                        vs_imgstore_free(s);
                        return -1;
                }
        }
        if (read_index(s, err) < 0 || check_blobs(s, err) < 0) {
                vs_imgstore_free(s);
                return -1;
        }
        sweep(s);
        vs_imgstore_set_tenant_quota(s, 0, 0);
        *ret = s;
        return 0;
}

void vs_imgstore_set_tenant_quota(vs_imgstore *s, unsigned images, uint64_t bytes)
{
        struct statvfs fs;

        if (!bytes)
                bytes = statvfs(s->dir, &fs) == 0 && fs.f_blocks > 0 ? (uint64_t)fs.f_blocks * fs.f_frsize / 8
                                                                     : 8ull << 30;
        pthread_mutex_lock(&s->lock);
        s->tenant_images = images ? images : VS_IMGSTORE_TENANT_IMAGES_DEFAULT;
        s->tenant_bytes = bytes;
        pthread_mutex_unlock(&s->lock);
}

/* Under the lock: tenant's images in v and the bytes of the distinct blobs
 * they are in (a blob's size from its file; one that is gone counts 0). */
static void usage_locked(const vs_imgstore *s, const entry *v, size_t n, const char *tenant, unsigned *ret_images,
                         uint64_t *ret_bytes)
{
        unsigned images = 0;
        uint64_t bytes = 0;

        for (size_t i = 0; i < n; i++) {
                bool seen = false;
                char name[70];
                struct stat st;

                if (strcmp(v[i].tenant, tenant) != 0)
                        continue;
                images++;
                for (size_t k = 0; k < i && !seen; k++)
                        seen = strcmp(v[k].tenant, tenant) == 0 && strcmp(v[k].im.blob, v[i].im.blob) == 0;
                blob_name(v[i].im.blob, name);
                if (!seen && fstatat(s->blobs_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        bytes += (uint64_t)st.st_size;
        }
        *ret_images = images;
        *ret_bytes = bytes;
}

void vs_imgstore_usage(vs_imgstore *s, const char *tenant, unsigned *ret_images, uint64_t *ret_bytes)
{
        pthread_mutex_lock(&s->lock);
        usage_locked(s, s->v, s->n, tenant, ret_images, ret_bytes);
        pthread_mutex_unlock(&s->lock);
}

void vs_imgstore_free(vs_imgstore *s)
{
        if (!s)
                return;
        entries_free(s->v, s->n);
        if (s->blobs_fd >= 0)
                close(s->blobs_fd);
        pthread_mutex_destroy(&s->lock);
        free(s->dir);
        free(s->index_path);
        free(s);
}

/* Writes v as the index and makes it the store's (v is taken either way). */
static int commit(vs_imgstore *s, entry *v, size_t n, vs_error *err)
{
        _cleanup_free_ char *text = index_text(v, n);

        /* Never write an index that read_index refuses at the next start:
         * one tenant's images would keep serve from starting for everyone. */
        if (strlen(text) > VS_IMGSTORE_INDEX_MAX) {
                entries_free(v, n);
                return vs_error_set(err, VS_ERR_LIMIT, "the image store's index would be over %u bytes",
                                    (unsigned)VS_IMGSTORE_INDEX_MAX);
        }
        if (vs_write_file_atomic(s->index_path, text, strlen(text), 0600, err) < 0) {
                entries_free(v, n);
                return -1;
        }
        entries_free(s->v, s->n);
        s->v = v;
        s->n = n;
        s->gen++;
        return 0;
}

/* After a commit: the blob goes when no entry of any tenant refers to it. */
static void drop_blob_if_unused(vs_imgstore *s, const char *blob)
{
        char name[70];

        if (blob_referenced(s->v, s->n, blob))
                return;
        blob_name(blob, name);
        unlinkat(s->blobs_fd, name, 0);
}

/* ---- finding --------------------------------------------------------------------- */

static entry *find_id(entry *v, size_t n, const char *tenant, const char *id)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].tenant, tenant) == 0 && strcmp(v[i].im.id, id) == 0)
                        return &v[i];
        return NULL;
}

static entry *find_tag(entry *v, size_t n, const char *tenant, const char *ref)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].tenant, tenant) == 0 && strv_has(v[i].im.tags, ref))
                        return &v[i];
        return NULL;
}

/* The one image of the tenant whose id's hex starts with prefix. */
static entry *find_prefix(entry *v, size_t n, const char *tenant, const char *prefix)
{
        size_t len = strlen(prefix);
        entry *hit = NULL;

        if (len == 0 || len > 64 || !is_hex(prefix, len))
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].tenant, tenant) == 0 && strncmp(v[i].im.id + 7, prefix, len) == 0) {
                        if (hit)
                                return NULL; /* ambiguous: Docker answers "No such image" */
                        hit = &v[i];
                }
        return hit;
}

/* Docker's GetImage: an id, then a tag, then an id prefix.  *ret_by_id
 * when the name named the id (rmi's rules differ). */
static entry *find(vs_imgstore *s, const char *tenant, const char *name, bool *ret_by_id, vs_error *err)
{
        char norm[VS_IMAGE_NAME_MAX + 1], id[VS_IMAGE_ID_LEN + 1];
        bool tagged = false;
        entry *e;

        *ret_by_id = true;
        if (name_basic(name, err) < 0)
                return NULL;
        if (strlen(name) == 64 && is_hex(name, 64)) {
                snprintf(id, sizeof(id), "sha256:%s", name);
                if ((e = find_id(s->v, s->n, tenant, id)))
                        return e;
                vs_error_set(err, VS_ERR_NOT_FOUND, "No such image: %s", id);
                return NULL;
        }
        if (strncmp(name, "sha256:", 7) == 0 && is_hex(name + 7, strlen(name + 7))) {
                if ((e = find_prefix(s->v, s->n, tenant, name + 7)))
                        return e;
                vs_error_set(err, VS_ERR_NOT_FOUND, "No such image: %s", name);
                return NULL;
        }
        if (strchr(name, '@')) {
                vs_error_set(err, VS_ERR_NOT_FOUND, "No such image: %s", name);
                return NULL;
        }
        if (vs_imgstore_normalize(name, norm, &tagged, err) < 0)
                return NULL;
        *ret_by_id = false;
        if ((e = find_tag(s->v, s->n, tenant, norm)))
                return e;
        *ret_by_id = true;
        if (!tagged && (e = find_prefix(s->v, s->n, tenant, name)))
                return e;
        vs_error_set(err, VS_ERR_NOT_FOUND, "No such image: %s", norm);
        return NULL;
}

int vs_imgstore_lookup(vs_imgstore *s, const char *tenant, const char *name, vs_image *ret, vs_error *err)
{
        bool by_id;
        entry *e;

        if (check_tenant(tenant, err) < 0)
                return -1;
        pthread_mutex_lock(&s->lock);
        e = find(s, tenant, name, &by_id, err);
        if (e)
                image_copy(ret, &e->im);
        pthread_mutex_unlock(&s->lock);
        return e ? 0 : -1;
}

/* RFC 3339 to unix seconds (fractions and offsets read); -1 when it is not. */
static int64_t rfc3339_seconds(const char *s)
{
        struct tm tm = { 0 };
        const char *p;
        int64_t t;
        int off = 0;

        if (!s || !(p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
                return -1;
        if (*p == '.')
                for (p++; *p >= '0' && *p <= '9'; p++)
                        ;
        if (*p == '+' || *p == '-') {
                int hh, mm;
                if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
                        return -1;
                off = (hh * 60 + mm) * 60 * (*p == '+' ? 1 : -1);
        } else if (*p != 'Z')
                return -1;
        t = (int64_t)timegm(&tm);
        return t - off;
}

int64_t vs_image_created_seconds(const vs_image *im)
{
        int64_t t = rfc3339_seconds(im->config.created);

        return t < 0 ? 0 : t;
}

static int newest_first(const void *a, const void *b)
{
        const vs_image *x = a, *y = b;
        int64_t cx = vs_image_created_seconds(x), cy = vs_image_created_seconds(y);

        if (cx != cy)
                return cx > cy ? -1 : 1;
        if (x->loaded != y->loaded)
                return x->loaded > y->loaded ? -1 : 1;
        return strcmp(x->id, y->id);
}

int vs_imgstore_list(vs_imgstore *s, const char *tenant, vs_image **ret, size_t *ret_n, vs_error *err)
{
        vs_image *v;
        size_t n = 0;

        if (check_tenant(tenant, err) < 0)
                return -1;
        pthread_mutex_lock(&s->lock);
        v = vs_xcalloc(s->n + 1, sizeof(*v));
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->v[i].tenant, tenant) == 0)
                        image_copy(&v[n++], &s->v[i].im);
        pthread_mutex_unlock(&s->lock);
        qsort(v, n, sizeof(*v), newest_first);
        *ret = v;
        *ret_n = n;
        return 0;
}

/* ---- tagging -------------------------------------------------------------------- */

/* A tag Docker would create: a reference with no digest, not a 64-hex
 * repository, not the "sha256" repository. */
static int new_tag(const char *newref, char norm[VS_IMAGE_NAME_MAX + 1], vs_error *err)
{
        const char *colon = strrchr(newref, ':'), *slash = strrchr(newref, '/');
        size_t rl = colon && (!slash || colon > slash) ? (size_t)(colon - newref) : strlen(newref);

        if (rl == 64 && is_hex(newref, 64))
                return vs_error_set(err, VS_ERR_INPUT,
                                    "invalid repository name (%.64s), cannot specify 64-byte hexadecimal strings", newref);
        if (vs_imgstore_normalize(newref, norm, NULL, err) < 0)
                return -1;
        if (strncmp(norm, "sha256:", 7) == 0)
                return vs_error_set(err, VS_ERR_INPUT, "refusing to create an ambiguous tag using digest algorithm as name");
        return 0;
}

/* Puts ref on e (in the clone v), moving it from the tenant's other image. */
static void move_tag(entry *v, size_t n, entry *e, const char *ref)
{
        for (size_t i = 0; i < n; i++)
                if (&v[i] != e && strcmp(v[i].tenant, e->tenant) == 0)
                        strv_remove(v[i].im.tags, ref);
        if (!strv_has(e->im.tags, ref))
                strv_add(&e->im.tags, ref);
}

int vs_imgstore_tag(vs_imgstore *s, const char *tenant, const char *name, const char *newref, vs_error *err)
{
        char norm[VS_IMAGE_NAME_MAX + 1];
        bool by_id;
        entry *e, *v;
        int r = -1;

        if (check_tenant(tenant, err) < 0 || new_tag(newref, norm, err) < 0)
                return -1;
        pthread_mutex_lock(&s->lock);
        e = find(s, tenant, name, &by_id, err);
        if (e && !strv_has(e->im.tags, norm) && strv_len(e->im.tags) >= VS_IMGSTORE_MAX_TAGS)
                vs_error_set(err, VS_ERR_LIMIT, "image %s has %d tags already", e->im.id, VS_IMGSTORE_MAX_TAGS);
        else if (e) {
                v = entries_clone(s->v, s->n);
                e = &v[e - s->v];
                move_tag(v, s->n, e, norm);
                e->im.loaded = (int64_t)time(NULL);
                r = commit(s, v, s->n, err);
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

/* ---- loading ------------------------------------------------------------------------ */

typedef struct {
        vs_image im;     /* tags: normalised */
} loaded_image;

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
        size_t done = 0;

        while (done < len) {
                ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                done += (size_t)n;
        }
        return 0;
}

/* The images of a checked archive, one per config (tags merged), with
 * their config subset read from the same fd and checked against the id. */
static int archive_images(int fd, const vs_archive_info *info, const vs_archive_layout *lay, vs_image **ret,
                          size_t *ret_n, vs_error *err)
{
        vs_image *v = vs_xcalloc(lay->n_entries + 1, sizeof(*v));
        size_t n = 0;

        for (size_t i = 0; i < lay->n_entries; i++) {
                const vs_archive_entry *ae = &lay->entries[i];
                vs_image *im = NULL;

                for (size_t k = 0; k < n && !im; k++)
                        if (strcmp(v[k].id, ae->id) == 0)
                                im = &v[k];
                if (!im) {
                        _cleanup_free_ char *text = vs_xmalloc(ae->config.size + 1);
                        char hex[65];
                        vs_sha256 c;

                        im = &v[n++];
                        snprintf(im->id, sizeof(im->id), "%s", ae->id);
                        snprintf(im->blob, sizeof(im->blob), "%s", info->sha256);
                        im->tags = vs_xcalloc(1, sizeof(char *));
                        for (size_t k = 0; k < ae->n_layers; k++)
                                im->size += ae->layers[k].size;
                        if (pread_full(fd, text, ae->config.size, ae->config.offset) < 0) {
                                vs_error_errno(err, VS_ERR_INPUT, errno ? errno : EIO, "cannot read the image config");
                                goto fail;
                        }
                        text[ae->config.size] = '\0';
                        vs_sha256_init(&c);
                        vs_sha256_update(&c, text, ae->config.size);
                        vs_sha256_final_hex(&c, hex);
                        if (strcmp(hex, ae->id + 7) != 0) {
                                vs_error_set(err, VS_ERR_INPUT, "the image archive changed while it was read");
                                goto fail;
                        }
                        if (config_from_image_json(text, ae->config.size, &im->config, err) < 0)
                                goto fail;
                }
                for (char **t = ae->tags; *t; t++) {
                        char norm[VS_IMAGE_NAME_MAX + 1];
                        bool tagged = false;

                        if (vs_imgstore_normalize(*t, norm, &tagged, err) < 0 || !tagged) {
                                vs_error_set(err, VS_ERR_INPUT, "manifest.json has an invalid tag (RepoTags need repo:tag)");
                                goto fail;
                        }
                        if (!strv_has(im->tags, norm))
                                strv_add(&im->tags, norm);
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
fail:
        vs_image_list_free(v, n);
        return -1;
}

/* The archive's bytes as blobs/.tmp-*: an unnamed file (st_nlink 0, only
 * the caller has it) is linked in, anything else copied and hashed again
 * (a named file could change after it was checked). */
static int stage_blob(vs_imgstore *s, int fd, const vs_archive_info *info, char tmp[32], vs_error *err)
{
        static __thread unsigned char buf[1 << 16];
        char rnd[13], proc[64];
        struct stat st;
        uint64_t off = 0;
        vs_sha256 c;
        char hex[65];
        int out;

        if (vs_random_id(rnd, err) < 0)
                return -1;
        snprintf(tmp, 32, TMP_PREFIX "%s", rnd);
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (fstat(fd, &st) == 0 && st.st_nlink == 0 && (uint64_t)st.st_size == info->size &&
            linkat(AT_FDCWD, proc, s->blobs_fd, tmp, AT_SYMLINK_FOLLOW) == 0) {
                if (fchmod(fd, 0600) == 0 && fsync(fd) == 0)
                        return 0;
                unlinkat(s->blobs_fd, tmp, 0);
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot store the image");
        }
        out = openat(s->blobs_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (out < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot store the image");
        vs_sha256_init(&c);
        while (off < info->size) {
                size_t want = info->size - off < sizeof(buf) ? (size_t)(info->size - off) : sizeof(buf);

                if (pread_full(fd, buf, want, off) < 0) {
                        vs_error_set(err, VS_ERR_INPUT, "the image archive shrank while it was stored");
                        goto fail;
                }
                vs_sha256_update(&c, buf, want);
                if (vs_write_full(out, buf, want) < 0) {
                        vs_error_errno(err, errno == ENOSPC || errno == EDQUOT ? VS_ERR_NO_SPACE : VS_ERR_SANDBOX, errno,
                                       "cannot store the image");
                        goto fail;
                }
                off += want;
        }
        vs_sha256_final_hex(&c, hex);
        if (strcmp(hex, info->sha256) != 0) {
                vs_error_set(err, VS_ERR_INPUT, "the image archive changed while it was stored");
                goto fail;
        }
        if (fchmod(out, 0600) < 0 || fsync(out) < 0) {
                vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot store the image");
                goto fail;
        }
        close(out);
        return 0;
fail:
        close(out);
        unlinkat(s->blobs_fd, tmp, 0);
        return -1;
}

/* Docker's lines: a line per tag, or when the archive has no tag at all,
 * a line per image id. */
static void loaded_lines(const vs_image *v, size_t n, vs_image_loaded **ret, size_t *ret_n)
{
        size_t tags = 0, k = 0;
        vs_image_loaded *out;

        for (size_t i = 0; i < n; i++)
                tags += strv_len(v[i].tags);
        out = vs_xcalloc((tags ? tags : n) + 1, sizeof(*out));
        for (size_t i = 0; i < n; i++) {
                for (size_t t = 0; v[i].tags[t]; t++) {
                        out[k].ref = vs_xstrdup(v[i].tags[t]);
                        snprintf(out[k++].id, sizeof(out[0].id), "%s", v[i].id);
                }
                if (!tags)
                        snprintf(out[k++].id, sizeof(out[0].id), "%s", v[i].id);
        }
        *ret = out;
        *ret_n = k;
}

/* Under the lock: the archive's images into the tenant's; the staged blob
 * (tmp, may be "") is put in place when an entry refers to it. */
/* Under the lock: whether tenant may add `add` images that are in blob
 * (blob_bytes long) within its share. */
static int quota_check_locked(const vs_imgstore *s, const char *tenant, size_t add, const char *blob,
                              uint64_t blob_bytes, vs_error *err)
{
        unsigned images;
        uint64_t bytes;
        char a[32], b[32], c[32];
        bool has_blob = false;

        if (add == 0)
                return 0; /* only tags move: nothing new is held */
        usage_locked(s, s->v, s->n, tenant, &images, &bytes);
        if (images + add > s->tenant_images)
                return vs_error_set(err, VS_ERR_LIMIT,
                                    "tenant %.64s has %u images in the image store, its share is %u (serve --tenant-images)",
                                    tenant, images, s->tenant_images);
        for (size_t i = 0; i < s->n && !has_blob; i++)
                has_blob = strcmp(s->v[i].tenant, tenant) == 0 && strcmp(s->v[i].im.blob, blob) == 0;
        if (!has_blob && (blob_bytes > s->tenant_bytes || bytes > s->tenant_bytes - blob_bytes))
                return vs_error_set(err, VS_ERR_NO_SPACE,
                                    "tenant %.64s's share of the image store is used up: it holds %s of %s, this archive "
                                    "is %s (serve --tenant-image-space)",
                                    tenant, vs_format_size(bytes, a, sizeof(a)),
                                    vs_format_size(s->tenant_bytes, b, sizeof(b)), vs_format_size(blob_bytes, c, sizeof(c)));
        return 0;
}

static int load_commit(vs_imgstore *s, const char *tenant, vs_image *imgs, size_t n, const char *blob,
                       uint64_t blob_bytes, const char *tmp, vs_error *err)
{
        size_t add = 0, total;
        entry *v;
        char name[70];

        for (size_t i = 0; i < n; i++)
                add += !find_id(s->v, s->n, tenant, imgs[i].id);
        if (s->n + add > VS_IMGSTORE_MAX_IMAGES)
                return vs_error_set(err, VS_ERR_LIMIT, "the image store holds %d images already", VS_IMGSTORE_MAX_IMAGES);
        if (quota_check_locked(s, tenant, add, blob, blob_bytes, err) < 0)
                return -1;
        for (size_t i = 0; i < n; i++) {
                const entry *old = find_id(s->v, s->n, tenant, imgs[i].id);
                size_t have = old ? strv_len(old->im.tags) : 0;

                for (size_t t = 0; imgs[i].tags[t]; t++)
                        have += !old || !strv_has(old->im.tags, imgs[i].tags[t]);
                if (have > VS_IMGSTORE_MAX_TAGS)
                        return vs_error_set(err, VS_ERR_LIMIT, "image %s would have more than %d tags", imgs[i].id,
                                            VS_IMGSTORE_MAX_TAGS);
        }
        v = entries_clone(s->v, s->n);
        v = vs_xrealloc(v, (s->n + add + 1) * sizeof(*v));
        total = s->n;
        for (size_t i = 0; i < n; i++) {
                entry *e = find_id(v, total, tenant, imgs[i].id);

                if (!e) {
                        e = &v[total++];
                        memset(e, 0, sizeof(*e));
                        snprintf(e->tenant, sizeof(e->tenant), "%s", tenant);
                        image_copy(&e->im, &imgs[i]);
                        strv_free(e->im.tags);
                        e->im.tags = vs_xcalloc(1, sizeof(char *));
                }
                e->im.loaded = (int64_t)time(NULL);
                for (size_t t = 0; imgs[i].tags[t]; t++)
                        move_tag(v, total, e, imgs[i].tags[t]);
        }
        blob_name(blob, name);
        if (tmp[0] && blob_referenced(v, total, blob)) {
                if (renameat(s->blobs_fd, tmp, s->blobs_fd, name) < 0 || fsync(s->blobs_fd) < 0) {
                        entries_free(v, total);
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot store the image");
                }
        }
        if (commit(s, v, total, err) < 0) {
                if (tmp[0] && !blob_referenced(s->v, s->n, blob))
                        unlinkat(s->blobs_fd, name, 0);
                return -1;
        }
        return 0;
}

int vs_imgstore_load(vs_imgstore *s, const char *tenant, int fd, vs_image_loaded **ret, size_t *ret_n, vs_error *err)
{
        vs_archive_info info = { 0 };
        vs_archive_layout lay = { 0 };
        vs_image *imgs = NULL;
        size_t n = 0;
        char tmp[32] = "";
        uint64_t blob_bytes;
        struct stat st;
        bool have;
        int r = -1;

        if (check_tenant(tenant, err) < 0)
                return -1;
        if (fstat(fd, &st) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot read the upload");
        blob_bytes = (uint64_t)st.st_size;
        if (vs_archive_inspect_layout_fd(fd, "upload", &info, &lay, err) < 0)
                return -1;
        if (archive_images(fd, &info, &lay, &imgs, &n, err) < 0)
                goto out;
        for (int tries = 0; tries < 2; tries++) {
                pthread_mutex_lock(&s->lock);
                have = blob_referenced(s->v, s->n, info.sha256);
                if (have || tmp[0]) {
                        r = load_commit(s, tenant, imgs, n, info.sha256, blob_bytes, have ? "" : tmp, err);
                        pthread_mutex_unlock(&s->lock);
                        break;
                }
                pthread_mutex_unlock(&s->lock);
                /* Staged outside the lock: a big archive takes a while. */
                if (stage_blob(s, fd, &info, tmp, err) < 0)
                        goto out;
        }
        if (r == 0)
                loaded_lines(imgs, n, ret, ret_n);
out:
        if (tmp[0])
                unlinkat(s->blobs_fd, tmp, 0); /* renamed away when it was used */
        vs_image_list_free(imgs, n);
        vs_archive_layout_clear(&lay);
        vs_archive_info_clear(&info);
        return r;
}

/* ---- removing --------------------------------------------------------------------- */

static void deleted_add(vs_image_deleted **v, size_t *n, const char *untagged, const char *deleted)
{
        *v = vs_xrealloc(*v, (*n + 1) * sizeof(**v));
        (*v)[(*n)++] = (vs_image_deleted){ .untagged = str_copy(untagged), .deleted = str_copy(deleted) };
}

/* Removes entry idx from v (n entries). */
static void entry_drop(entry *v, size_t *n, size_t idx)
{
        vs_image_clear(&v[idx].im);
        memmove(&v[idx], &v[idx + 1], (*n - idx - 1) * sizeof(*v));
        (*n)--;
}

/* Docker's ImageDelete (daemon/images/image_delete.go) on one image, with
 * the container use found before (use 0, 1 stopped, 2 running). */
static int remove_locked(vs_imgstore *s, size_t idx, const char *name, bool by_id, bool force, int use,
                         const char *cid, vs_image_deleted **ret, size_t *ret_n, vs_error *err)
{
        const vs_image *im = &s->v[idx].im;
        size_t ntags = strv_len(im->tags), n = s->n;
        const char *shortid = im->id + 7;
        char norm[VS_IMAGE_NAME_MAX + 1], blob[65];
        vs_image_deleted *items = NULL;
        size_t nitems = 0;
        bool delete = true;
        entry *v;

        if (!by_id) {
                if (vs_imgstore_normalize(name, norm, NULL, err) < 0)
                        return -1;
                if (!force && ntags == 1 && use)
                        return vs_error_set(err, VS_ERR_CONFLICT,
                                            "conflict: unable to remove repository reference \"%s\" (must force) - "
                                            "container %.12s is using its referenced image %.12s", name, cid, shortid);
                /* The last tag goes; the image stays (untagged) while a container uses it. */
                delete = ntags == 1 && !(use == 2 || (use == 1 && !force));
        } else if (ntags > 1 && !force)
                return vs_error_set(err, VS_ERR_CONFLICT,
                                    "conflict: unable to delete %.12s (must be forced) - image is referenced in one or "
                                    "more repositories", shortid);
        else if (use == 2)
                return vs_error_set(err, VS_ERR_CONFLICT,
                                    "conflict: unable to delete %.12s (cannot be forced) - image is being used by "
                                    "running container %.12s", shortid, cid);
        else if (use == 1 && !force)
                return vs_error_set(err, VS_ERR_CONFLICT,
                                    "conflict: unable to delete %.12s (must be forced) - image is being used by "
                                    "stopped container %.12s", shortid, cid);
        v = entries_clone(s->v, s->n);
        if (!by_id) {
                strv_remove(v[idx].im.tags, norm);
                deleted_add(&items, &nitems, norm, NULL);
        } else
                for (size_t t = 0; im->tags[t]; t++)
                        deleted_add(&items, &nitems, im->tags[t], NULL);
        if (delete) {
                deleted_add(&items, &nitems, NULL, im->id);
                snprintf(blob, sizeof(blob), "%s", im->blob);
                entry_drop(v, &n, idx);
        }
        if (commit(s, v, n, err) < 0) {
                vs_image_deleted_free(items, nitems);
                return -1;
        }
        if (delete)
                drop_blob_if_unused(s, blob);
        *ret = items;
        *ret_n = nitems;
        return 0;
}

int vs_imgstore_remove(vs_imgstore *s, const char *tenant, const char *name, bool force, vs_imgstore_in_use_fn in_use,
                       void *userdata, vs_image_deleted **ret, size_t *ret_n, vs_error *err)
{
        if (check_tenant(tenant, err) < 0)
                return -1;
        for (int tries = 0; tries < REMOVE_TRIES; tries++) {
                char id[VS_IMAGE_ID_LEN + 1], cid[65] = "";
                bool by_id;
                uint64_t gen;
                entry *e;
                int use = 0, r;

                pthread_mutex_lock(&s->lock);
                e = find(s, tenant, name, &by_id, err);
                if (e)
                        snprintf(id, sizeof(id), "%s", e->im.id);
                gen = s->gen;
                pthread_mutex_unlock(&s->lock);
                if (!e)
                        return -1;
                /* Asked without the lock: the predicate takes the service's. */
                if (in_use)
                        use = in_use(userdata, tenant, id, cid);
                cid[sizeof(cid) - 1] = '\0';
                pthread_mutex_lock(&s->lock);
                if (s->gen != gen) { /* changed meanwhile: look again */
                        pthread_mutex_unlock(&s->lock);
                        continue;
                }
                e = find(s, tenant, name, &by_id, err);
                r = !e ? -1 : remove_locked(s, (size_t)(e - s->v), name, by_id, force, use, cid, ret, ret_n, err);
                pthread_mutex_unlock(&s->lock);
                return r;
        }
        return vs_error_set(err, VS_ERR_CONFLICT, "the image store changed while %s was removed; try again", name);
}

/* ---- linking --------------------------------------------------------------------- */

int vs_imgstore_link(vs_imgstore *s, const char *tenant, const char *name, const char *dest_path,
                     char ret_id[VS_IMAGE_ID_LEN + 1], vs_error *err)
{
        char blob[70];
        bool by_id;
        entry *e;
        int r = 0;

        if (check_tenant(tenant, err) < 0)
                return -1;
        pthread_mutex_lock(&s->lock);
        e = find(s, tenant, name, &by_id, err);
        if (!e)
                r = -1;
        else {
                blob_name(e->im.blob, blob);
                if (linkat(s->blobs_fd, blob, AT_FDCWD, dest_path, 0) < 0)
                        r = vs_error_errno(err, errno == EEXIST ? VS_ERR_CONFLICT : VS_ERR_SANDBOX, errno,
                                           "cannot link image %s to %s", e->im.id, dest_path);
                else
                        snprintf(ret_id, VS_IMAGE_ID_LEN + 1, "%s", e->im.id);
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

/* ---- exporting -------------------------------------------------------------------- */

typedef struct {
        char id[VS_IMAGE_ID_LEN + 1];
        char blob[65];
        char **refs;            /* the tags this export puts in RepoTags */
        char **diff_ids;
        char *created;
        int fd;                 /* of the blob (opened under the lock) */
} export_item;

static void export_items_free(export_item *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                strv_free(v[i].refs);
                strv_free(v[i].diff_ids);
                free(v[i].created);
                if (v[i].fd >= 0)
                        close(v[i].fd);
        }
        free(v);
}

static export_item *export_add(export_item **v, size_t *n, const entry *e)
{
        for (size_t i = 0; i < *n; i++)
                if (strcmp((*v)[i].id, e->im.id) == 0)
                        return &(*v)[i];
        *v = vs_xrealloc(*v, (*n + 1) * sizeof(**v));
        export_item *it = &(*v)[(*n)++];
        *it = (export_item){ .fd = -1, .refs = vs_xcalloc(1, sizeof(char *)), .diff_ids = strv_copy(e->im.config.diff_ids),
                             .created = str_copy(e->im.config.created) };
        snprintf(it->id, sizeof(it->id), "%s", e->im.id);
        snprintf(it->blob, sizeof(it->blob), "%s", e->im.blob);
        return it;
}

/* moby's save (image/tarexport/save.go parseNames): "repo:tag" that tag,
 * a bare "repo" every tag of the repository (or an id prefix), an id no
 * tag.  Under the lock. */
static int export_select(vs_imgstore *s, const char *tenant, const char *name, export_item **v, size_t *n,
                         vs_error *err)
{
        char norm[VS_IMAGE_NAME_MAX + 1];
        bool tagged = false, by_id, any = false;
        entry *e;

        if (name_basic(name, err) < 0)
                return -1;
        if (!(strlen(name) == 64 && is_hex(name, 64)) && strncmp(name, "sha256:", 7) != 0 && !strchr(name, '@')) {
                if (vs_imgstore_normalize(name, norm, &tagged, err) < 0)
                        return -1;
                if (!tagged) {
                        size_t rl = repo_len(norm);

                        for (size_t i = 0; i < s->n; i++) {
                                if (strcmp(s->v[i].tenant, tenant) != 0)
                                        continue;
                                for (size_t t = 0; s->v[i].im.tags[t]; t++)
                                        if (repo_len(s->v[i].im.tags[t]) == rl && strncmp(s->v[i].im.tags[t], norm, rl) == 0) {
                                                export_item *it = export_add(v, n, &s->v[i]);
                                                if (!strv_has(it->refs, s->v[i].im.tags[t]))
                                                        strv_add(&it->refs, s->v[i].im.tags[t]);
                                                any = true;
                                        }
                        }
                        if (any)
                                return 0;
                }
        }
        if (!(e = find(s, tenant, name, &by_id, err)))
                return -1;
        export_item *it = export_add(v, n, e);
        if (!by_id && !strv_has(it->refs, norm))
                strv_add(&it->refs, norm);
        return 0;
}

/* A ustar header; names here are short (at most 100 bytes). */
static int tar_header(int out, const char *name, char type, uint64_t size, unsigned mode, vs_error *err)
{
        unsigned char h[512] = { 0 };
        unsigned sum = 0;

        snprintf((char *)h, 100, "%s", name);
        snprintf((char *)h + 100, 8, "%07o", mode);
        snprintf((char *)h + 108, 8, "%07o", 0);
        snprintf((char *)h + 116, 8, "%07o", 0);
        if (size < 077777777777ull)
                snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
        else { /* base-256, as GNU tar and Go write sizes of 8 GiB and more */
                h[124] = 0x80;
                for (int i = 0; i < 8; i++)
                        h[135 - i] = (unsigned char)(size >> (8 * i));
        }
        snprintf((char *)h + 136, 12, "%011o", 0);
        memset(h + 148, ' ', 8);
        h[156] = (unsigned char)type;
        memcpy(h + 257, "ustar\0" "00", 8);
        for (int i = 0; i < 512; i++)
                sum += h[i];
        snprintf((char *)h + 148, 8, "%06o", sum);
        h[155] = ' ';
        if (vs_write_full(out, h, sizeof(h)) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot write the image archive");
        return 0;
}

static int tar_pad(int out, uint64_t size, vs_error *err)
{
        static const unsigned char zero[512];
        size_t pad = (size_t)((512 - size % 512) % 512);

        if (pad && vs_write_full(out, zero, pad) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot write the image archive");
        return 0;
}

static int tar_file(int out, const char *name, const char *data, size_t len, vs_error *err)
{
        if (tar_header(out, name, '0', len, 0644, err) < 0)
                return -1;
        if (vs_write_full(out, data, len) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot write the image archive");
        return tar_pad(out, len, err);
}

/* A member of the blob, copied. */
static int tar_copy(int out, const char *name, int in, const vs_archive_member *m, vs_error *err)
{
        static __thread unsigned char buf[1 << 16];
        uint64_t off = 0;

        if (tar_header(out, name, '0', m->size, 0644, err) < 0)
                return -1;
        while (off < m->size) {
                size_t want = m->size - off < sizeof(buf) ? (size_t)(m->size - off) : sizeof(buf);

                if (pread_full(in, buf, want, m->offset + off) < 0)
                        return vs_error_set(err, VS_ERR_SANDBOX, "cannot read the stored image");
                if (vs_write_full(out, buf, want) < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot write the image archive");
                off += want;
        }
        return tar_pad(out, m->size, err);
}

static void hex_of(const char *text, char hex[65])
{
        vs_sha256 c;

        vs_sha256_init(&c);
        vs_sha256_update(&c, text, strlen(text));
        vs_sha256_final_hex(&c, hex);
}

/* One image's members: <id>.json, then <dir>/ per layer, where dir is a
 * v1-style id of the layer's chain (the parent's dir and the layer's diff
 * id; its member in the blob when the config has no such diff id).  A dir
 * already written by an earlier image is not written again. */
static int export_image(int out, const export_item *it, const vs_archive_entry *ae, char ***dirs_written,
                        json_t *manifest, char top[65], vs_error *err)
{
        char name[128], parent[65] = "";
        json_t *layers = vs_xjson(json_array());
        json_t *tags = strv_len(it->refs) ? strv_json(it->refs) : json_null();

        json_array_append_new(manifest, vs_xjson(json_pack("{s:s+, s:o, s:o}", "Config", it->id + 7, ".json",
                                                           "RepoTags", tags, "Layers", layers)));
        snprintf(name, sizeof(name), "%s.json", it->id + 7);
        if (tar_copy(out, name, it->fd, &ae->config, err) < 0)
                return -1;
        for (size_t i = 0; i < ae->n_layers; i++) {
                bool known = strv_len(it->diff_ids) == ae->n_layers;
                _cleanup_free_ char *seed = known ? vs_xasprintf("%s\n%s", parent, it->diff_ids[i])
                                                  : vs_xasprintf("%s\n%s\n%llu", parent, it->blob,
                                                                 (unsigned long long)ae->layers[i].offset);
                _cleanup_free_ char *v1 = NULL;
                char dir[65];

                hex_of(seed, dir);
                snprintf(name, sizeof(name), "%s/layer.tar", dir);
                json_array_append_new(layers, vs_xjson(json_string(name)));
                if (!strv_has(*dirs_written, dir)) {
                        strv_add(dirs_written, dir);
                        v1 = parent[0] ? vs_xasprintf("{\"id\":\"%s\",\"parent\":\"%s\",\"created\":\"%s\"}", dir, parent,
                                                      "1970-01-01T00:00:00Z")
                                       : vs_xasprintf("{\"id\":\"%s\",\"created\":\"%s\"}", dir, "1970-01-01T00:00:00Z");
                        snprintf(name, sizeof(name), "%s/", dir);
                        if (tar_header(out, name, '5', 0, 0755, err) < 0)
                                return -1;
                        snprintf(name, sizeof(name), "%s/VERSION", dir);
                        if (tar_file(out, name, "1.0", 3, err) < 0)
                                return -1;
                        snprintf(name, sizeof(name), "%s/json", dir);
                        if (tar_file(out, name, v1, strlen(v1), err) < 0)
                                return -1;
                        snprintf(name, sizeof(name), "%s/layer.tar", dir);
                        if (tar_copy(out, name, it->fd, &ae->layers[i], err) < 0)
                                return -1;
                }
                snprintf(parent, sizeof(parent), "%s", dir);
        }
        snprintf(top, 65, "%s", parent);
        return 0;
}

/* The blob is checked again (its hash names it: a changed blob fails) and
 * its layout found for the image. */
static int export_layout(export_item *it, vs_archive_info *info, vs_archive_layout *lay, const vs_archive_entry **ret,
                         vs_error *err)
{
        if (vs_archive_inspect_layout_fd(it->fd, "in the store", info, lay, err) < 0)
                return -1;
        if (strcmp(info->sha256, it->blob) != 0)
                return vs_error_set(err, VS_ERR_SANDBOX, "the stored blob of image %s has changed", it->id);
        for (size_t i = 0; i < lay->n_entries; i++)
                if (strcmp(lay->entries[i].id, it->id) == 0) {
                        *ret = &lay->entries[i];
                        return 0;
                }
        return vs_error_set(err, VS_ERR_SANDBOX, "the stored blob of image %s does not hold it", it->id);
}

static int export_write(int out, export_item *v, size_t n, vs_error *err)
{
        _cleanup_json_ json_t *manifest = vs_xjson(json_array()), *repos = vs_xjson(json_object());
        _cleanup_strv_ char **dirs = vs_xcalloc(1, sizeof(char *));
        _cleanup_free_ char *mtext = NULL, *rtext = NULL;
        static const unsigned char zero[1024];

        for (size_t i = 0; i < n; i++) {
                vs_archive_info info = { 0 };
                vs_archive_layout lay = { 0 };
                const vs_archive_entry *ae = NULL;
                char top[65];
                int r = export_layout(&v[i], &info, &lay, &ae, err);

                if (r == 0)
                        r = export_image(out, &v[i], ae, &dirs, manifest, top, err);
                vs_archive_layout_clear(&lay);
                vs_archive_info_clear(&info);
                if (r < 0)
                        return -1;
                for (size_t t = 0; v[i].refs[t]; t++) {
                        _cleanup_free_ char *repo = vs_xstrndup(v[i].refs[t], repo_len(v[i].refs[t]));
                        json_t *tags = json_object_get(repos, repo);

                        if (!tags)
                                json_object_set_new(repos, repo, tags = vs_xjson(json_object()));
                        json_object_set_new(tags, v[i].refs[t] + strlen(repo) + 1, vs_xjson(json_string(top)));
                }
        }
        mtext = json_dumps(manifest, JSON_COMPACT);
        rtext = json_dumps(repos, JSON_COMPACT);
        if (!mtext || !rtext)
                vs_oom();
        if (tar_file(out, "manifest.json", mtext, strlen(mtext), err) < 0 ||
            (json_object_size(repos) && tar_file(out, "repositories", rtext, strlen(rtext), err) < 0))
                return -1;
        if (vs_write_full(out, zero, sizeof(zero)) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot write the image archive");
        return 0;
}

int vs_imgstore_export_bytes(vs_imgstore *s, const char *tenant, const char *const *names, size_t n_names,
                             uint64_t *ret, vs_error *err)
{
        export_item *v = NULL;
        uint64_t bytes = 0;
        size_t n = 0;
        int r = 0;

        if (check_tenant(tenant, err) < 0)
                return -1;
        if (n_names == 0 || n_names > VS_IMGSTORE_EXPORT_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "name 1 to %d images to export", VS_IMGSTORE_EXPORT_MAX);
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < n_names && r == 0; i++)
                r = export_select(s, tenant, names[i], &v, &n, err);
        for (size_t i = 0; i < n && r == 0; i++) {
                bool seen = false;
                char name[70];
                struct stat st;

                for (size_t k = 0; k < i && !seen; k++)
                        seen = strcmp(v[k].blob, v[i].blob) == 0;
                blob_name(v[i].blob, name);
                bytes += 64u << 10;
                if (!seen && fstatat(s->blobs_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        bytes += (uint64_t)st.st_size;
        }
        pthread_mutex_unlock(&s->lock);
        export_items_free(v, n);
        if (r == 0)
                *ret = bytes;
        return r;
}

int vs_imgstore_export(vs_imgstore *s, const char *tenant, const char *const *names, size_t n_names, int out_fd,
                       vs_error *err)
{
        export_item *v = NULL;
        size_t n = 0;
        int r = 0;

        if (check_tenant(tenant, err) < 0)
                return -1;
        if (n_names == 0 || n_names > VS_IMGSTORE_EXPORT_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "name 1 to %d images to export", VS_IMGSTORE_EXPORT_MAX);
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < n_names && r == 0; i++)
                r = export_select(s, tenant, names[i], &v, &n, err);
        /* Opened under the lock: an rmi afterwards cannot take the bytes away. */
        for (size_t i = 0; i < n && r == 0; i++) {
                char name[70];

                blob_name(v[i].blob, name);
                v[i].fd = openat(s->blobs_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (v[i].fd < 0)
                        r = vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot open the blob of image %s", v[i].id);
        }
        pthread_mutex_unlock(&s->lock);
        if (r == 0)
                r = export_write(out_fd, v, n, err);
        export_items_free(v, n);
        return r;
}
