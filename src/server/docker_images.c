/* The Docker Engine API's image endpoints (docs/docker-api.md, "Images")
 * over the service's image store (imagestore.h): load, save, inspect, list,
 * tag, remove, and create (no pulls).  A request acts for the socket's
 * tenant (rq->owner); JSON only here, at the edge. */
#include "server.h"
#include "alloc.h"
#include "baseimage.h"
#include "cleanup.h"
#include "imagestore.h"
#include "jsonload.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FILTERS_MAX (64u << 10)

static const char *query(request *rq, const char *key)
{
        return MHD_lookup_connection_value(rq->c, MHD_GET_ARGUMENT_KIND, key);
}

/* Docker's JSON messages end in "\r\n" (its streamformatter). */
static void add_line(char **buf, size_t *len, json_t *msg)
{
        char *text = json_dumps(msg, JSON_COMPACT);
        size_t n;

        json_decref(msg);
        if (!text)
                vs_oom();
        n = strlen(text);
        *buf = vs_xrealloc(*buf, *len + n + 3);
        memcpy(*buf + *len, text, n);
        memcpy(*buf + *len + n, "\r\n", 3);
        *len += n + 2;
        free(text);
}

static enum MHD_Result respond_lines(request *rq, char *buf, size_t len)
{
        struct MHD_Response *r = MHD_create_response_from_buffer(len, buf ? buf : (char *)"", buf ? MHD_RESPMEM_MUST_FREE
                                                                                                  : MHD_RESPMEM_PERSISTENT);

        if (!r) {
                free(buf);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "application/json");
        return docker_respond(rq->c, 200, r);
}

/* POST /images/load: the body was streamed to an unnamed file (the store
 * links it in).  `quiet` or not, the answer is the lines Docker ends with
 * (there is no layer-by-layer progress to show). */
enum MHD_Result docker_image_load(server_ctx *ctx, request *rq)
{
        vs_image_loaded *v = NULL;
        vs_error err = { 0 };
        char *buf = NULL;
        size_t n = 0, len = 0;

        if (vs_imgstore_load(ctx->images, rq->owner, rq->body_fd, &v, &n, &err) < 0)
                return docker_respond_error(rq->c, &err);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *line = v[i].ref ? vs_xasprintf("Loaded image: %s\n", v[i].ref)
                                                     : vs_xasprintf("Loaded image ID: %s\n", v[i].id);
                add_line(&buf, &len, vs_xjson(json_pack("{s:s}", "stream", line)));
        }
        vs_image_loaded_free(v, n);
        return respond_lines(rq, buf, len);
}

/* ---- save -------------------------------------------------------------------------- */

static enum MHD_Result send_export(server_ctx *ctx, request *rq, const char *const *names, size_t n)
{
        vs_error err = { 0 };
        struct MHD_Response *r;
        struct stat st;
        uint64_t want;
        int fd;

        /* The temp file counts against the tenant's temporary space (and
         * the service's) from before it is written until the answer ends. */
        if (vs_imgstore_export_bytes(ctx->images, rq->owner, names, n, &want, &err) < 0 ||
            tmp_charge(ctx, rq, want, &err) < 0)
                return docker_respond_error(rq->c, &err);
        fd = open(ctx->tmp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        /* Written whole before the answer: an error is still an error
         * status, never a cut archive. */
        if (fd < 0) {
                vs_error_errno(&err, VS_ERR_SANDBOX, errno, "cannot make the image archive");
                return docker_respond_error(rq->c, &err);
        }
        if (vs_imgstore_export(ctx->images, rq->owner, names, n, fd, &err) < 0) {
                close(fd);
                if (err.kind == VS_ERR_SANDBOX && (err.errno_value == ENOSPC || err.errno_value == EDQUOT))
                        err.kind = VS_ERR_NO_SPACE;
                return docker_respond_error(rq->c, &err);
        }
        if (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
                close(fd);
                return MHD_NO;
        }
        if ((uint64_t)st.st_size > rq->tmp_charged &&
            tmp_charge(ctx, rq, (uint64_t)st.st_size - rq->tmp_charged, &err) < 0) {
                close(fd);
                return docker_respond_error(rq->c, &err);
        }
        r = MHD_create_response_from_fd64((uint64_t)st.st_size, fd); /* takes fd */
        if (!r) {
                close(fd);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "application/x-tar");
        return docker_respond(rq->c, 200, r);
}

typedef struct {
        const char *v[VS_IMGSTORE_EXPORT_MAX];
        size_t n;
        bool over;
} name_list;

static enum MHD_Result collect_names(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        name_list *l = cls;

        (void)kind;
        if (strcmp(key, "names") != 0 || !value)
                return MHD_YES;
        if (l->n == VS_IMGSTORE_EXPORT_MAX) {
                l->over = true;
                return MHD_NO;
        }
        l->v[l->n++] = value;
        return MHD_YES;
}

/* GET /images/get?names=a&names=b */
enum MHD_Result docker_images_get(server_ctx *ctx, request *rq)
{
        name_list l = { .n = 0 };

        MHD_get_connection_values(rq->c, MHD_GET_ARGUMENT_KIND, collect_names, &l);
        if (l.over)
                return docker_respond_message(rq->c, 400, "more than %d names in one save", VS_IMGSTORE_EXPORT_MAX);
        if (l.n == 0)
                return docker_respond_message(rq->c, 400, "no image names given (names=)");
        return send_export(ctx, rq, l.v, l.n);
}

/* ---- inspect and list -------------------------------------------------------------- */

static json_t *strv_or_null(char *const *v)
{
        json_t *a;

        if (!v)
                return json_null();
        a = vs_xjson(json_array());
        for (size_t i = 0; v[i]; i++)
                json_array_append_new(a, vs_json_text(v[i], strlen(v[i]), VS_IMGSTORE_STR_MAX));
        return a;
}

static json_t *labels_json(const vs_image_config *c)
{
        json_t *o;

        if (!c->labels)
                return json_null();
        o = vs_xjson(json_object());
        for (size_t i = 0; c->labels[i] && c->labels[i + 1]; i += 2)
                json_object_set_new(o, c->labels[i], vs_json_text(c->labels[i + 1], strlen(c->labels[i + 1]),
                                                                   VS_IMGSTORE_STR_MAX));
        return o;
}

static json_t *config_json(const vs_image_config *c)
{
        json_t *j = vs_xjson(json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:o, s:o, s:s, s:n, s:s, s:o, s:n, s:o}",
                                       "Hostname", "", "Domainname", "", "User", c->user ? c->user : "", "AttachStdin",
                                       false, "AttachStdout", false, "AttachStderr", false, "Tty", false, "OpenStdin",
                                       false, "StdinOnce", false, "Env", strv_or_null(c->env), "Cmd",
                                       strv_or_null(c->cmd), "Image", "", "Volumes", "WorkingDir",
                                       c->working_dir ? c->working_dir : "", "Entrypoint", strv_or_null(c->entrypoint),
                                       "OnBuild", "Labels", labels_json(c)));

        if (c->exposed_ports) {
                json_t *ports = vs_xjson(json_object());

                for (size_t i = 0; c->exposed_ports[i]; i++)
                        json_object_set_new(ports, c->exposed_ports[i], vs_xjson(json_object()));
                json_object_set_new(j, "ExposedPorts", ports);
        }
        return j;
}

static void rfc3339(int64_t t, char buf[32])
{
        time_t tt = (time_t)t;
        struct tm tm;

        gmtime_r(&tt, &tm);
        strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *tags_json(const vs_image *im)
{
        json_t *a = vs_xjson(json_array());

        for (size_t i = 0; im->tags[i]; i++)
                json_array_append_new(a, vs_xjson(json_string(im->tags[i])));
        return a;
}

static json_t *inspect_json(const vs_image *im)
{
        char last_tag[32];
        json_t *diff = strv_or_null(im->config.diff_ids);

        rfc3339(im->loaded, last_tag);
        if (json_is_null(diff)) {
                json_decref(diff);
                diff = vs_xjson(json_array());
        }
        return vs_xjson(json_pack("{s:s, s:o, s:[], s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:o, s:s, s:s, s:I, s:I, "
                                  "s:{s:n, s:s}, s:{s:s, s:o}, s:{s:s}}",
                                  "Id", im->id, "RepoTags", tags_json(im), "RepoDigests", "Parent", "", "Comment", "",
                                  "Created", im->config.created ? im->config.created : "0001-01-01T00:00:00Z",
                                  "Container", "", "ContainerConfig", config_json(&im->config), "DockerVersion", "",
                                  "Author", "", "Config", config_json(&im->config), "Architecture",
                                  im->config.architecture ? im->config.architecture : "", "Os",
                                  im->config.os ? im->config.os : "", "Size", (json_int_t)im->size, "VirtualSize",
                                  (json_int_t)im->size, "GraphDriver", "Data", "Name", "vmsandbox", "RootFS", "Type",
                                  "layers", "Layers", diff, "Metadata", "LastTagTime", last_tag));
}

static enum MHD_Result image_inspect(server_ctx *ctx, request *rq, const char *name)
{
        vs_error err = { 0 };
        vs_image im;
        json_t *j;

        if (vs_imgstore_lookup(ctx->images, rq->owner, name, &im, &err) < 0)
                return docker_respond_error(rq->c, &err);
        j = inspect_json(&im);
        vs_image_clear(&im);
        return docker_respond_json(rq->c, 200, j);
}

/* `filters` of GET /images/json: reference (a glob on repo or repo:tag; the
 * RepoTags shown are the matching ones), dangling, label (key or key=value). */
typedef struct {
        json_t *reference, *dangling, *label; /* objects of "value": true, or NULL */
} image_filters;

static int parse_filters(request *rq, json_t **ret_root, image_filters *f, vs_error *err)
{
        const char *text = query(rq, "filters");
        json_t *root, *v;
        const char *k;

        *f = (image_filters){ 0 };
        *ret_root = NULL;
        if (!text || !*text)
                return 0;
        root = vs_json_load_bounded(text, strlen(text), FILTERS_MAX, 4, VS_ERR_INPUT, err);
        if (!root)
                return -1;
        *ret_root = root;
        if (!json_is_object(root))
                return vs_error_set(err, VS_ERR_INPUT, "filters is not a JSON object");
        json_object_foreach(root, k, v) {
                json_t **slot = strcmp(k, "reference") == 0 ? &f->reference
                                : strcmp(k, "dangling") == 0 ? &f->dangling
                                : strcmp(k, "label") == 0 ? &f->label : NULL;
                if (!slot)
                        return vs_error_set(err, VS_ERR_INPUT, "invalid filter '%.64s'", k);
                /* {"k":{"v":true}}, or the old ["v"] form */
                if (!json_is_object(v) && !json_is_array(v))
                        return vs_error_set(err, VS_ERR_INPUT, "filter %s is not an object", k);
                *slot = v;
        }
        return 0;
}

/* The values of a filter, whichever form it came in. */
static size_t filter_values(json_t *f, const char **out, size_t max)
{
        size_t n = 0, i;
        const char *k;
        json_t *v;

        if (json_is_array(f)) {
                json_array_foreach(f, i, v)
                        if (json_is_string(v) && n < max)
                                out[n++] = json_string_value(v);
        } else
                json_object_foreach(f, k, v)
                        if (n < max)
                                out[n++] = k;
        return n;
}

static bool label_match(const vs_image *im, const char *want)
{
        const char *eq = strchr(want, '=');
        size_t kl = eq ? (size_t)(eq - want) : strlen(want);

        for (size_t i = 0; im->config.labels && im->config.labels[i] && im->config.labels[i + 1]; i += 2)
                if (strlen(im->config.labels[i]) == kl && strncmp(im->config.labels[i], want, kl) == 0 &&
                    (!eq || strcmp(im->config.labels[i + 1], eq + 1) == 0))
                        return true;
        return false;
}

/* The summary of im, or NULL when the filters leave it out. */
static json_t *summary_json(const vs_image *im, const image_filters *f)
{
        const char *vals[32];
        size_t nv;
        json_t *tags = vs_xjson(json_array()), *digests = vs_xjson(json_array());
        bool dangling = !im->tags[0];

        if (f->dangling) {
                nv = filter_values(f->dangling, vals, 32);
                for (size_t i = 0; i < nv; i++)
                        if ((strcmp(vals[i], "true") == 0 || strcmp(vals[i], "1") == 0) != dangling)
                                goto skip;
        }
        nv = f->label ? filter_values(f->label, vals, 32) : 0;
        for (size_t i = 0; i < nv; i++)
                if (!label_match(im, vals[i]))
                        goto skip;
        nv = f->reference ? filter_values(f->reference, vals, 32) : 0;
        for (size_t t = 0; im->tags[t]; t++) {
                bool keep = nv == 0;
                _cleanup_free_ char *repo = vs_xstrndup(im->tags[t], strrchr(im->tags[t], ':') - im->tags[t]);

                for (size_t i = 0; i < nv && !keep; i++)
                        keep = fnmatch(vals[i], im->tags[t], FNM_PATHNAME) == 0 || fnmatch(vals[i], repo, FNM_PATHNAME) == 0;
                if (keep)
                        json_array_append_new(tags, vs_xjson(json_string(im->tags[t])));
        }
        if (nv && json_array_size(tags) == 0)
                goto skip;
        if (dangling) { /* as API 1.41 shows an untagged image */
                json_array_append_new(tags, vs_xjson(json_string("<none>:<none>")));
                json_array_append_new(digests, vs_xjson(json_string("<none>@<none>")));
        }
        return vs_xjson(json_pack("{s:I, s:I, s:s, s:o, s:s, s:o, s:o, s:I, s:I, s:I}", "Containers", (json_int_t)-1,
                                  "Created", (json_int_t)vs_image_created_seconds(im), "Id", im->id, "Labels",
                                  labels_json(&im->config), "ParentId", "", "RepoDigests", digests, "RepoTags", tags,
                                  "SharedSize", (json_int_t)-1, "Size", (json_int_t)im->size, "VirtualSize",
                                  (json_int_t)im->size));
skip:
        json_decref(tags);
        json_decref(digests);
        return NULL;
}

/* GET /images/json */
enum MHD_Result docker_images_list(server_ctx *ctx, request *rq)
{
        _cleanup_json_ json_t *froot = NULL;
        image_filters f;
        vs_error err = { 0 };
        vs_image *v;
        size_t n;
        json_t *out;

        if (parse_filters(rq, &froot, &f, &err) < 0 || vs_imgstore_list(ctx->images, rq->owner, &v, &n, &err) < 0)
                return docker_respond_error(rq->c, &err);
        out = vs_xjson(json_array());
        for (size_t i = 0; i < n; i++) {
                json_t *s = summary_json(&v[i], &f);
                if (s)
                        json_array_append_new(out, s);
        }
        vs_image_list_free(v, n);
        return docker_respond_json(rq->c, 200, out);
}

/* ---- one image: /images/{name*}/json, /get, /tag; DELETE /images/{name*} ---------- */

/* Splits "NAME/SUFFIX" (a name may have '/'s): the suffix, or NULL. */
static const char *split_suffix(char *capture)
{
        char *slash = strrchr(capture, '/');

        if (!slash)
                return NULL;
        *slash = '\0';
        return slash + 1;
}

static enum MHD_Result image_tag(server_ctx *ctx, request *rq, const char *name)
{
        const char *repo = query(rq, "repo"), *tag = query(rq, "tag");
        _cleanup_free_ char *newref = NULL;
        vs_error err = { 0 };
        struct MHD_Response *r;

        if (!repo || !*repo)
                return docker_respond_message(rq->c, 400, "repository name must have at least one component");
        if (tag && *tag) {
                const char *colon = strrchr(repo, ':'), *slash = strrchr(repo, '/');
                size_t rl = colon && (!slash || colon > slash) ? (size_t)(colon - repo) : strlen(repo);
                newref = vs_xasprintf("%.*s:%s", (int)rl, repo, tag);
        } else
                newref = vs_xstrdup(repo);
        if (vs_imgstore_tag(ctx->images, rq->owner, name, newref, &err) < 0)
                return docker_respond_error(rq->c, &err);
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        return docker_respond(rq->c, 201, r);
}

enum MHD_Result docker_image_get(server_ctx *ctx, request *rq)
{
        const char *suffix = split_suffix(rq->capture[0]);

        if (suffix && strcmp(suffix, "json") == 0)
                return image_inspect(ctx, rq, rq->capture[0]);
        if (suffix && strcmp(suffix, "get") == 0) {
                const char *names[] = { rq->capture[0] };
                return send_export(ctx, rq, names, 1);
        }
        return docker_unmatched(rq);
}

enum MHD_Result docker_image_post(server_ctx *ctx, request *rq)
{
        const char *suffix = split_suffix(rq->capture[0]);

        if (suffix && strcmp(suffix, "tag") == 0)
                return image_tag(ctx, rq, rq->capture[0]);
        return docker_unmatched(rq);
}

enum MHD_Result docker_image_delete(server_ctx *ctx, request *rq)
{
        vs_image_deleted *v = NULL;
        vs_error err = { 0 };
        size_t n = 0;
        json_t *out;

        if (vs_imgstore_remove(ctx->images, rq->owner, rq->capture[0], query_true(rq->c, "force"), ctx->image_in_use,
                               ctx->image_in_use_userdata, &v, &n, &err) < 0)
                return docker_respond_error(rq->c, &err);
        out = vs_xjson(json_array());
        for (size_t i = 0; i < n; i++)
                json_array_append_new(out, vs_xjson(v[i].untagged ? json_pack("{s:s}", "Untagged", v[i].untagged)
                                                                  : json_pack("{s:s}", "Deleted", v[i].deleted)));
        vs_image_deleted_free(v, n);
        return docker_respond_json(rq->c, 200, out);
}

/* An image preloaded into the base image (by its recorded "repo:tag" or
 * id): every job's engine has it already. */
static bool preloaded(server_ctx *ctx, const char *norm, const char *name)
{
        vs_base_image img;
        vs_error err = { 0 };
        bool found;

        if (!ctx->cfg || !ctx->cfg->image || vs_base_image_open(ctx->cfg->image, &img, &err) < 0)
                return false;
        found = vs_base_image_preloaded(&img, norm) || vs_base_image_preloaded(&img, name);
        vs_base_image_clear(&img);
        return found;
}

static enum MHD_Result up_to_date(request *rq, const char *ref)
{
        _cleanup_free_ char *line = vs_xasprintf("Status: Image is up to date for %s", ref);
        char *buf = NULL;
        size_t len = 0;

        add_line(&buf, &len, vs_xjson(json_pack("{s:s}", "status", line)));
        return respond_lines(rq, buf, len);
}

/* POST /images/create: vmsandbox pulls nothing.  An image already in the
 * tenant's store, or preloaded into the base image, is answered as Docker
 * answers a pull of what it has. */
enum MHD_Result docker_image_create(server_ctx *ctx, request *rq)
{
        const char *from = query(rq, "fromImage"), *tag = query(rq, "tag");
        _cleanup_free_ char *name = NULL;
        char norm[VS_IMAGE_NAME_MAX + 1];
        vs_error err = { 0 };
        vs_image im;

        if (query(rq, "fromSrc"))
                return docker_respond_message(rq->c, 501, "vmsandbox does not implement image import (fromSrc)");
        if (!from || !*from)
                return docker_respond_message(rq->c, 400, "fromImage is required");
        name = tag && *tag ? vs_xasprintf(strncmp(tag, "sha256:", 7) == 0 ? "%s@%s" : "%s:%s", from, tag)
                           : vs_xstrdup(from);
        if (vs_imgstore_lookup(ctx->images, rq->owner, name, &im, &err) == 0) {
                if (vs_imgstore_normalize(name, norm, NULL, &err) < 0)
                        snprintf(norm, sizeof(norm), "%s", im.id);
                vs_image_clear(&im);
                return up_to_date(rq, norm);
        }
        if (err.kind == VS_ERR_INPUT)
                return docker_respond_error(rq->c, &err);
        if (vs_imgstore_normalize(name, norm, NULL, &err) < 0)
                snprintf(norm, sizeof(norm), "%.200s", name);
        if (preloaded(ctx, norm, name))
                return up_to_date(rq, norm);
        return docker_respond_message(rq->c, 403,
                                      "vmsandbox does not pull images: pulls are not enabled on this socket; "
                                      "load %s with `docker load` (POST /images/load)", norm);
}
