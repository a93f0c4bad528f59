/* POST /build of the Docker socket (docs/docker-api.md "Builds").
 *
 * Before any VM: the body (already in an unnamed file) must be a tar with a
 * Dockerfile; its FROM images must be in the tenant's image store, preloaded
 * in the base image, or pullable (serve --allow-network).  Then a build job
 * of the service runs the classic builder in a VM of its own, and the answer
 * streams its output as the Engine API's JSON lines:
 *
 *   {"stream":"Step 1/3 : FROM busybox\n"} ...   the builder's stdout, line by line
 *   {"aux":{"ID":"sha256:..."}}                  the built image, once it is in the store
 *   {"stream":"Successfully built 0123456789ab\n"}
 *   {"stream":"Successfully tagged x:y\n"}       one per t=, after the store tagged it
 *   {"errorDetail":{"message":M},"error":M}      instead, when the build failed
 *
 * The build job is removed when the answer ends; a client that goes away
 * cancels it (as Docker cancels a build). */
#include "server.h"
#include "alloc.h"
#include "baseimage.h"
#include "build.h"
#include "cleanup.h"
#include "imagestore.h"
#include "strv.h"
#include "text.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#define BUILD_LINE_MAX (16u << 10)   /* a longer line goes out in pieces */
#define BUILD_READ_CHUNK (16u << 10)
#define BUILDARGS_JSON_MAX (256u << 10)

/* ---- the request ------------------------------------------------------------------ */

/* moby's httputils.BoolValue: anything but "", "0", "no", "false", "none". */
static bool bool_value(struct MHD_Connection *c, const char *key)
{
        const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);

        return v && *v && strcmp(v, "0") && strcasecmp(v, "no") && strcasecmp(v, "false") && strcasecmp(v, "none");
}

typedef struct {
        char ***tags;
        size_t n;
        bool too_many;
} tag_walk;

static enum MHD_Result collect_tag(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        tag_walk *w = cls;

        (void)kind;
        if (strcmp(key, "t") || !value || !*value)
                return MHD_YES;
        if (w->n++ >= VS_BUILD_TAGS_MAX) {
                w->too_many = true;
                return MHD_NO;
        }
        if (vs_strv_push(w->tags, value) < 0)
                vs_oom();
        return MHD_YES;
}

static int parse_buildargs(const char *text, vs_build *b, vs_error *err)
{
        _cleanup_json_ json_t *obj = NULL, *wrap = NULL;
        json_error_t jerr;
        vs_build *tmp;

        if (strlen(text) > BUILDARGS_JSON_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "buildargs is longer than %u bytes", BUILDARGS_JSON_MAX);
        obj = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(obj))
                return vs_error_set(err, VS_ERR_INPUT, "buildargs must be a JSON object of strings");
        wrap = vs_xjson(json_pack("{s:O}", "buildargs", obj));
        if (vs_build_from_json(wrap, &tmp, err) < 0)
                return -1;
        b->buildargs = TAKE_PTR(tmp->buildargs);
        vs_build_free(tmp);
        return 0;
}

/* The query's build options; *ret_nat: the build's network. */
static int parse_query(server_ctx *ctx, request *rq, vs_build **ret, bool *ret_nat, bool *ret_quiet, vs_error *err)
{
        struct MHD_Connection *c = rq->c;
        const char *dockerfile = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "dockerfile");
        const char *args = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "buildargs");
        const char *net = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "networkmode");
        const char *remote = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "remote");
        vs_build *b = vs_build_new();
        tag_walk w = { .tags = &b->tags };
        int r = 0;

        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_tag, &w);
        if (w.too_many)
                r = vs_error_set(err, VS_ERR_INPUT, "more than %d tags (t=)", VS_BUILD_TAGS_MAX);
        else if (remote && *remote)
                r = vs_error_set(err, VS_ERR_INPUT, "remote build contexts are not supported: send the context as the body");
        else if (net && *net && strcmp(net, "default") && strcmp(net, "bridge") && strcmp(net, "none"))
                r = vs_error_set(err, VS_ERR_INPUT, "networkmode %.64s is not supported (default, bridge or none)", net);
        if (r == 0 && dockerfile && *dockerfile)
                b->dockerfile = vs_xstrdup(dockerfile);
        if (r == 0 && args && *args)
                r = parse_buildargs(args, b, err);
        b->nocache = bool_value(c, "nocache");
        b->pull = bool_value(c, "pull");
        /* rm and forcerm: intermediate containers go with the build's VM. */
        if (r == 0)
                r = vs_build_validate(b, err);
        if (r < 0) {
                vs_build_free(b);
                if (err->kind == VS_ERR_USAGE)
                        err->kind = VS_ERR_INPUT;
                return -1;
        }
        *ret_nat = vs_service_allow_network(ctx->svc) && !(net && !strcmp(net, "none"));
        *ret_quiet = bool_value(c, "q");
        *ret = b;
        return 0;
}

/* ---- the FROM images ---------------------------------------------------------------- */

/* Which FROM images the store gives the build (into *ret_store, in order);
 * the others must be preloaded or pullable.  pull=1 with network pulls
 * anyway: nothing is injected then. */
static int resolve_images(server_ctx *ctx, request *rq, char *const *images, const vs_build *b, bool nat,
                          char ***ret_store, vs_error *err)
{
        _cleanup_(vs_base_image_clear) vs_base_image base = { 0 };
        bool have_base = false;

        *ret_store = NULL;
        for (size_t i = 0; images[i]; i++) {
                char name[VS_IMAGE_NAME_MAX + 1];
                bool tagged;
                vs_image im = { 0 };
                vs_error e = { 0 };

                if (b->pull && nat)
                        continue;
                if (vs_imgstore_lookup(ctx->images, rq->owner, images[i], &im, &e) == 0) {
                        vs_image_clear(&im);
                        if (vs_strv_length(*ret_store) >= VS_BUILD_IMAGES_MAX)
                                return vs_error_set(err, VS_ERR_INPUT, "a build may use at most %d images of the store",
                                                    VS_BUILD_IMAGES_MAX);
                        if (vs_strv_push(ret_store, images[i]) < 0)
                                vs_oom();
                        continue;
                }
                if (e.kind != VS_ERR_NOT_FOUND) {
                        *err = e;
                        vs_error_prefix(err, "FROM %.64s", images[i]);
                        return -1;
                }
                if (!have_base) {
                        if (vs_base_image_open(vs_service_config(ctx->svc)->image, &base, err) < 0)
                                return -1;
                        have_base = true;
                }
                if (vs_imgstore_normalize(images[i], name, &tagged, &e) == 0 &&
                    (vs_base_image_preloaded(&base, name) || vs_base_image_preloaded(&base, images[i])))
                        continue;
                if (!nat)
                        return vs_error_set(err, VS_ERR_NOT_FOUND,
                                            "FROM %.64s: no such image in the store and pulls need serve --allow-network",
                                            images[i]);
        }
        return 0;
}

/* ---- the build job --------------------------------------------------------------------- */

static json_t *build_spec(const vs_build *b, bool nat)
{
        return vs_xjson(json_pack("{s:o, s:s}", "build", vs_build_to_json(b), "network", nat ? "nat" : "none"));
}

/* A FROM image as the guest's engine must find it: exported from the store
 * with the name the Dockerfile gives as its tag (a blob keeps the tags it
 * was loaded with; a tag added since, e.g. by `docker tag`, is in the store
 * only).  Written 0600 into the job's directory. */
static int inject_image(server_ctx *ctx, const char *owner, const char *name, const char *path, vs_error *err)
{
        const char *names[1] = { name };
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        int r;

        if (fd < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create %s", path);
        r = vs_imgstore_export(ctx->images, owner, names, 1, fd, err);
        if (close(fd) < 0 && r == 0)
                r = vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot write %s", path);
        if (r < 0)
                unlink(path);
        return r;
}

/* Created, given its inputs and started; removed again on any error. */
static int start_build(server_ctx *ctx, request *rq, const vs_build *b, bool nat, char *const *store_images,
                       char id[13], vs_error *err)
{
        _cleanup_json_ json_t *spec = build_spec(b, nat);
        int r;

        if (vs_service_create(ctx->svc, rq->owner, spec, id, err) < 0)
                return -1;
        r = vs_service_build_context(ctx->svc, rq->owner, id, rq->body_fd, err);
        for (size_t i = 0; r == 0 && store_images && store_images[i]; i++) {
                _cleanup_free_ char *path = NULL;

                r = vs_service_build_image_path(ctx->svc, rq->owner, id, i, &path, err);
                if (r == 0)
                        r = inject_image(ctx, rq->owner, store_images[i], path, err);
        }
        if (r == 0)
                r = vs_service_start(ctx->svc, rq->owner, id, err);
        if (r < 0)
                vs_service_delete(ctx->svc, rq->owner, id, NULL);
        return r;
}

/* ---- the answer ------------------------------------------------------------------------- */

typedef struct {
        server_ctx *ctx;
        struct MHD_Connection *c;
        vs_follow *f;
        char id[13];
        char owner[VS_OWNER_MAX + 1];
        vs_build *b;
        bool quiet;
        char line[BUILD_LINE_MAX];   /* the builder's output not yet cut into a line */
        size_t line_len;
        char *held;                  /* a "Successfully built X" line, held until the id is known */
        char *out;                   /* JSON lines not yet sent */
        size_t out_len, out_off;
        bool finished;               /* the last line is in out */
} build_stream;

static void emit(build_stream *bs, json_t *msg)
{
        _cleanup_free_ char *text = json_dumps(msg, JSON_COMPACT);
        size_t n;

        json_decref(msg);
        if (!text)
                vs_oom();
        n = strlen(text);
        /* dockerd's stream formatter ends every message with \r\n, and
         * stevedore (containerit's client) splits the body on exactly that. */
        bs->out = vs_xrealloc(bs->out, bs->out_len + n + 2);
        memcpy(bs->out + bs->out_len, text, n);
        bs->out_len += n;
        bs->out[bs->out_len++] = '\r';
        bs->out[bs->out_len++] = '\n';
}

static void emit_stream(build_stream *bs, const char *s, size_t len)
{
        emit(bs, vs_xjson(json_pack("{s:o}", "stream", vs_json_text(s, len, BUILD_LINE_MAX + 1))));
}

/* code: the builder's exit status when it failed (the docker CLI exits
 * with it, as with a RUN step's code from Docker), 0 for none. */
static void emit_error(build_stream *bs, const char *msg, int code)
{
        json_t *detail = vs_xjson(json_pack("{s:o}", "message", vs_json_text(msg, strlen(msg), VS_RECORD_STRING_MAX)));

        if (code > 0)
                json_object_set_new(detail, "code", json_integer(code));
        emit(bs, vs_xjson(json_pack("{s:o, s:o}", "errorDetail", detail, "error",
                                    vs_json_text(msg, strlen(msg), VS_RECORD_STRING_MAX))));
}

static void flush_held(build_stream *bs)
{
        if (bs->held) {
                emit_stream(bs, bs->held, strlen(bs->held));
                free(bs->held);
                bs->held = NULL;
        }
}

/* One line of the builder's (with its \n): the classic builder's own
 * "Successfully built" comes again, from the store's id, at the end; the
 * guest CLI's "Sending build context" is its own, not the engine's (the
 * client prints its own). */
static void take_line(build_stream *bs, const char *s, size_t len)
{
        static const char built[] = "Successfully built ", sending[] = "Sending build context to Docker daemon";

        if (len >= sizeof(sending) - 1 && !strncmp(s, sending, sizeof(sending) - 1))
                return;
        flush_held(bs);
        if (bs->quiet)
                return;
        if (len > sizeof(built) - 1 && !strncmp(s, built, sizeof(built) - 1)) {
                bs->held = vs_xstrndup(s, len);
                return;
        }
        emit_stream(bs, s, len);
}

static void take_output(build_stream *bs, const char *data, size_t len)
{
        while (len > 0) {
                const char *nl = memchr(data, '\n', len);
                size_t n = nl ? (size_t)(nl - data) + 1 : len;
                size_t room = sizeof(bs->line) - bs->line_len;

                if (n > room)
                        n = room;
                memcpy(bs->line + bs->line_len, data, n);
                bs->line_len += n;
                data += n;
                len -= n;
                if (bs->line[bs->line_len - 1] == '\n' || bs->line_len == sizeof(bs->line)) {
                        take_line(bs, bs->line, bs->line_len);
                        bs->line_len = 0;
                }
        }
}

static const char *guest_string(const json_t *rec, const char *key)
{
        return json_string_value(json_object_get(json_object_get(json_object_get(rec, "result"), "guest"), key));
}

/* The built image into the tenant's store, then its tags. */
static int store_image(build_stream *bs, const char *image_id, char (*tags)[VS_IMAGE_NAME_MAX + 1], vs_error *err)
{
        vs_image_loaded *loaded = NULL;
        size_t n = 0;
        bool found = false;
        int fd, r;

        if (vs_service_open_output(bs->ctx->svc, bs->owner, bs->id, "image.tar", &fd, err) < 0) {
                vs_error_prefix(err, "the built image");
                return -1;
        }
        r = vs_imgstore_load(bs->ctx->images, bs->owner, fd, &loaded, &n, err);
        close(fd);
        if (r < 0) {
                vs_error_prefix(err, "storing the built image");
                return -1;
        }
        for (size_t i = 0; i < n; i++)
                found = found || !strcmp(loaded[i].id, image_id);
        vs_image_loaded_free(loaded, n);
        if (!found)
                return vs_error_set(err, VS_ERR_SANDBOX, "the built image's archive does not hold %s", image_id);
        for (size_t i = 0; bs->b->tags && bs->b->tags[i]; i++) {
                bool tagged;
                if (vs_imgstore_tag(bs->ctx->images, bs->owner, image_id, bs->b->tags[i], err) < 0 ||
                    vs_imgstore_normalize(bs->b->tags[i], tags[i], &tagged, err) < 0) {
                        vs_error_prefix(err, "tagging %.64s", bs->b->tags[i]);
                        return -1;
                }
        }
        return 0;
}

/* The job has ended: its verdict as the last lines. */
static void finish(build_stream *bs)
{
        _cleanup_json_ json_t *rec = NULL;
        char(*tags)[VS_IMAGE_NAME_MAX + 1] = vs_xcalloc(VS_BUILD_TAGS_MAX, sizeof(*tags));
        const char *state, *image_id, *msg;
        json_int_t code;
        char shortid[13];
        vs_error err = { 0 };

        if (bs->line_len)
                take_line(bs, bs->line, bs->line_len);
        bs->line_len = 0;
        rec = vs_service_get(bs->ctx->svc, bs->owner, bs->id, &err);
        state = json_string_value(json_object_get(rec, "status"));
        image_id = guest_string(rec, "image_id");
        if (!rec) {
                flush_held(bs);
                emit_error(bs, err.msg, 0);
        } else if (state && !strcmp(state, "success") && image_id && strlen(image_id) == VS_IMAGE_ID_LEN) {
                if (store_image(bs, image_id, tags, &err) < 0) {
                        flush_held(bs);
                        emit_error(bs, err.msg, 0);
                } else {
                        snprintf(shortid, sizeof(shortid), "%.12s", image_id + 7);
                        if (bs->held && strncmp(bs->held + 19, shortid, 12) == 0) {
                                free(bs->held); /* the same id: said once, below */
                                bs->held = NULL;
                        }
                        flush_held(bs);
                        emit(bs, vs_xjson(json_pack("{s:{s:s}}", "aux", "ID", image_id)));
                        if (bs->quiet) {
                                char line[VS_IMAGE_ID_LEN + 2];
                                snprintf(line, sizeof(line), "%s\n", image_id);
                                emit_stream(bs, line, strlen(line));
                        } else {
                                char line[64 + VS_IMAGE_NAME_MAX];
                                snprintf(line, sizeof(line), "Successfully built %s\n", shortid);
                                emit_stream(bs, line, strlen(line));
                                for (size_t i = 0; bs->b->tags && bs->b->tags[i]; i++) {
                                        snprintf(line, sizeof(line), "Successfully tagged %s\n", tags[i]);
                                        emit_stream(bs, line, strlen(line));
                                }
                        }
                }
        } else {
                flush_held(bs);
                msg = guest_string(rec, "run_error");
                if (!msg)
                        msg = json_string_value(json_object_get(rec, "error"));
                if (!msg)
                        msg = state && !strcmp(state, "success") ? "the build reported no image id" : "the build failed";
                code = json_integer_value(json_object_get(rec, "exit_code"));
                emit_error(bs, msg, state && !strcmp(state, "failure") && code > 0 && code < 256 ? (int)code : 0);
        }
        free(tags);
        bs->finished = true;
}

static ssize_t build_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        build_stream *bs = cls;

        (void)pos;
        for (;;) {
                char chunk[BUILD_READ_CHUNK];
                size_t n;
                bool done;

                if (bs->out_off < bs->out_len) {
                        size_t k = bs->out_len - bs->out_off < max ? bs->out_len - bs->out_off : max;
                        memcpy(buf, bs->out + bs->out_off, k);
                        bs->out_off += k;
                        if (bs->out_off == bs->out_len)
                                bs->out_off = bs->out_len = 0;
                        return (ssize_t)k;
                }
                if (bs->finished)
                        return MHD_CONTENT_READER_END_OF_STREAM;
                if (vs_service_follow_read(bs->ctx->svc, bs->f, chunk, sizeof(chunk), &n, &done) < 0)
                        done = true;
                if (n > 0) {
                        take_output(bs, chunk, n);
                        continue;
                }
                if (done) {
                        finish(bs);
                        continue;
                }
                if (client_gone(bs->c))
                        return MHD_CONTENT_READER_END_WITH_ERROR;
        }
}

/* The build job goes with the answer: cancelled when the client left. */
static void build_stream_free(void *cls)
{
        build_stream *bs = cls;

        vs_service_follow_close(bs->ctx->svc, bs->f);
        vs_service_delete(bs->ctx->svc, bs->owner, bs->id, NULL);
        vs_build_free(bs->b);
        free(bs->held);
        free(bs->out);
        free(bs);
}

enum MHD_Result docker_build(server_ctx *ctx, request *rq)
{
        _cleanup_free_ char *dockerfile = NULL;
        _cleanup_strv_ char **images = NULL, **store_images = NULL;
        vs_build *b = NULL;
        vs_error err = { 0 };
        struct MHD_Response *r;
        build_stream *bs;
        bool nat, quiet;
        size_t dlen;
        vs_follow *f;
        char id[13];

        if (!ctx->images)
                return docker_respond_message(rq->c, 503, "this service has no image store (no Docker socket at start)");
        if (parse_query(ctx, rq, &b, &nat, &quiet, &err) < 0)
                return docker_respond_error(rq->c, &err);
        if (rq->body_fd < 0 || rq->body_fd_len == 0)
                vs_error_set(&err, VS_ERR_INPUT, "the build context is empty: send a tar of it as the body");
        else if (vs_build_context_dockerfile(rq->body_fd, rq->body_fd_len, vs_build_dockerfile(b), &dockerfile, &dlen,
                                             &err) == 0 &&
                 vs_dockerfile_images(dockerfile, dlen, b->buildargs, &images, &err) == 0 &&
                 resolve_images(ctx, rq, images, b, nat, &store_images, &err) == 0 &&
                 start_build(ctx, rq, b, nat, store_images, id, &err) == 0) {
                if (vs_service_follow_open(ctx->svc, rq->owner, id, true, &f, &err) == 0)
                        goto stream;
                vs_service_delete(ctx->svc, rq->owner, id, NULL);
        }
        vs_build_free(b);
        return docker_respond_error(rq->c, &err);

stream:
        bs = vs_xcalloc(1, sizeof(*bs));
        bs->ctx = ctx;
        bs->c = rq->c;
        bs->f = f;
        memcpy(bs->id, id, sizeof(id));
        snprintf(bs->owner, sizeof(bs->owner), "%s", rq->owner ? rq->owner : "");
        bs->b = b;
        bs->quiet = quiet;
        /* A build is quiet for long (loading, a slow RUN): no idle timeout;
         * build_read notices a client that left. */
        MHD_set_connection_option(rq->c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)0);
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, build_read, bs, build_stream_free);
        if (!r) {
                build_stream_free(bs);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "application/json");
        MHD_add_response_header(r, "Connection", "close");
        return docker_respond(rq->c, 200, r);
}
