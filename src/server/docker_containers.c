/* The Engine API's containers (docs/docker-api.md "Containers"): each is a
 * job of the service (service.h's vs_service_container_*); this file only
 * maps requests onto those calls and typed answers onto Docker's JSON
 * (shapes from moby's api/swagger.yaml).  Logs and attach are in
 * docker_streams.c. */
#include "server.h"
#include "alloc.h"
#include "baseimage.h"
#include "cleanup.h"
#include "clock.h"
#include "container.h"
#include "jsonload.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long POST /stop waits for the VM to be gone before it answers. */
#define STOP_WAIT_MS 60000

static const char *query(request *rq, const char *key)
{
        return MHD_lookup_connection_value(rq->c, MHD_GET_ARGUMENT_KIND, key);
}

/* The container the path names (by id, name or id prefix), or an answer. */
static bool find(server_ctx *ctx, request *rq, char id[13], enum MHD_Result *ret)
{
        vs_error err = { 0 };

        if (vs_service_container_find(ctx->svc, rq->owner, rq->capture[0], id, &err) == 0)
                return true;
        *ret = docker_respond_error(rq->c, &err);
        return false;
}

static enum MHD_Result respond_empty(request *rq, unsigned status)
{
        return docker_respond(rq->c, status, MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT));
}

/* RFC 3339 with nanoseconds, UTC, as Docker writes times; Go's zero time
 * for "never". */
static json_t *rfc3339(int64_t ms)
{
        char buf[64];
        struct tm tm;
        time_t t = (time_t)(ms / 1000);

        if (ms < 0 || !gmtime_r(&t, &tm))
                return vs_xjson(json_string("0001-01-01T00:00:00Z"));
        snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03d000000Z", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
        return vs_xjson(json_string(buf));
}

static json_t *strv_json(char *const *v)
{
        json_t *a;

        if (!v)
                return json_null();
        a = vs_xjson(json_array());
        for (size_t i = 0; v[i]; i++)
                json_array_append_new(a, vs_json_text(v[i], strlen(v[i]), VS_CONTAINER_STRING_MAX));
        return a;
}

static json_t *labels_json(char *const *kv)
{
        json_t *o = vs_xjson(json_object());

        for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
                json_object_set_new(o, kv[i], vs_json_text(kv[i + 1], strlen(kv[i + 1]), VS_CONTAINER_STRING_MAX));
        return o;
}

static json_t *str_or_empty(const char *s)
{
        return vs_json_text(s ? s : "", s ? strlen(s) : 0, VS_CONTAINER_STRING_MAX);
}

/* ---- create, start ------------------------------------------------------------- */

enum MHD_Result docker_container_create(server_ctx *ctx, request *rq)
{
        _cleanup_json_ json_t *body = NULL;
        vs_error err = { 0 };
        vs_container_info info = { 0 };
        char id[13], full[VS_CONTAINER_ID_LEN + 1];

        body = vs_json_load_bounded(rq->body ? rq->body : "", rq->body_len, (size_t)-1, VS_JSON_DEPTH_MAX, VS_ERR_INPUT,
                                    &err);
        if (!body)
                return docker_respond_message(rq->c, 400, "invalid JSON in the container config: %s", err.msg);
        if (vs_service_container_create(ctx->svc, rq->owner, query(rq, "name"), body, id, &err) < 0)
                return docker_respond_error(rq->c, &err);
        /* Docker's id is the long one; a container removed meanwhile (a
         * racing rm -f) keeps the job's in the answer. */
        if (vs_service_container_info(ctx->svc, rq->owner, id, &info, NULL) == 0)
                snprintf(full, sizeof(full), "%s", info.full_id);
        else
                snprintf(full, sizeof(full), "%s", id);
        vs_container_info_clear(&info);
        return docker_respond_json(rq->c, 201, vs_xjson(json_pack("{s:s, s:[]}", "Id", full, "Warnings")));
}

enum MHD_Result docker_container_start(server_ctx *ctx, request *rq)
{
        enum MHD_Result ret;
        vs_error err = { 0 };
        vs_job_state st;
        char id[13];

        if (!find(ctx, rq, id, &ret))
                return ret;
        if (vs_service_state(ctx->svc, rq->owner, id, &st, &err) < 0)
                return docker_respond_error(rq->c, &err);
        if (st == VS_JOB_QUEUED || st == VS_JOB_RUNNING)
                return respond_empty(rq, 304); /* started already, as Docker answers */
        if (st != VS_JOB_CREATED)
                return docker_respond_message(rq->c, 409,
                                              "container %s has exited: vmsandbox runs a container once (its VM is "
                                              "gone); create a new one",
                                              id);
        if (vs_service_start(ctx->svc, rq->owner, id, &err) < 0)
                return docker_respond_error(rq->c, &err);
        return respond_empty(rq, 204);
}

/* ---- wait ---------------------------------------------------------------------- */

/* Sleeps in the service (never spins), looking at the client between
 * sleeps: one that went away ends the wait, the container goes on. */
static int wait_for(server_ctx *ctx, request *rq, vs_container_waiter *w, vs_wait_condition cond, uint64_t max_ms,
                    int *ret_code, char **ret_error, vs_error *err)
{
        uint64_t waited = 0;
        int r;

        MHD_set_connection_option(rq->c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)0);
        while ((r = vs_service_container_wait(ctx->svc, w, cond, VS_FOLLOW_WAIT_MS, ret_code, ret_error, err)) == 0) {
                waited += VS_FOLLOW_WAIT_MS;
                if (client_gone(rq->c) || (max_ms && waited >= max_ms))
                        break;
        }
        MHD_set_connection_option(rq->c, MHD_CONNECTION_OPTION_TIMEOUT, ctx->idle_timeout_s);
        return r;
}

/* Docker answers a wait with its headers at once and the body when the
 * condition holds (the docker CLI's run starts the container only once
 * the wait's headers have come), so the body comes from a reader that
 * sleeps in the service. */
typedef struct {
        server_ctx *ctx;
        struct MHD_Connection *c;
        vs_container_waiter *w;
        vs_wait_condition cond;
        char *body;
        size_t len, sent;
} wait_stream;

static char *wait_body(int code, const char *error)
{
        json_t *j = vs_xjson(json_pack("{s:i, s:o}", "StatusCode", code, "Error",
                                       error ? vs_xjson(json_pack("{s:o}", "Message",
                                                                  vs_json_text(error, strlen(error), 4096)))
                                             : json_null()));
        char *text = json_dumps(j, JSON_COMPACT);
        char *out;

        json_decref(j);
        if (!text)
                vs_oom();
        out = vs_xasprintf("%s\n", text);
        free(text);
        return out;
}

static ssize_t wait_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        wait_stream *ws = cls;
        _cleanup_free_ char *error = NULL;
        vs_error err = { 0 };
        int code = 0, r;

        (void)pos;
        while (!ws->body) {
                r = vs_service_container_wait(ws->ctx->svc, ws->w, ws->cond, VS_FOLLOW_WAIT_MS, &code, &error, &err);
                if (r < 0)
                        ws->body = wait_body(125, err.msg);
                else if (r > 0)
                        ws->body = wait_body(code, error);
                else if (client_gone(ws->c))
                        return MHD_CONTENT_READER_END_WITH_ERROR; /* the container goes on */
                if (ws->body)
                        ws->len = strlen(ws->body);
        }
        if (ws->sent == ws->len)
                return MHD_CONTENT_READER_END_OF_STREAM;
        if (max > ws->len - ws->sent)
                max = ws->len - ws->sent;
        memcpy(buf, ws->body + ws->sent, max);
        ws->sent += max;
        return (ssize_t)max;
}

static void wait_free(void *cls)
{
        wait_stream *ws = cls;

        vs_service_container_wait_close(ws->w);
        free(ws->body);
        free(ws);
}

enum MHD_Result docker_container_wait(server_ctx *ctx, request *rq)
{
        vs_container_waiter *w = NULL;
        struct MHD_Response *r;
        vs_wait_condition cond;
        vs_error err = { 0 };
        wait_stream *ws;

        if (vs_wait_condition_parse(query(rq, "condition"), &cond) < 0)
                return docker_respond_message(rq->c, 400, "invalid condition: \"%.64s\"", query(rq, "condition"));
        if (vs_service_container_wait_open(ctx->svc, rq->owner, rq->capture[0], &w, &err) < 0)
                return docker_respond_error(rq->c, &err);
        ws = vs_xcalloc(1, sizeof(*ws));
        *ws = (wait_stream){ .ctx = ctx, .c = rq->c, .w = w, .cond = cond };
        /* Quiet until the end: the reader watches the client itself. */
        MHD_set_connection_option(rq->c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)0);
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, wait_read, ws, wait_free);
        if (!r) {
                wait_free(ws);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "application/json");
        return docker_respond(rq->c, 200, r);
}

/* ---- kill, stop, remove, resize ------------------------------------------------- */

enum MHD_Result docker_container_kill(server_ctx *ctx, request *rq)
{
        enum MHD_Result ret;
        vs_error err = { 0 };
        vs_job_state st;
        char id[13];

        if (!find(ctx, rq, id, &ret))
                return ret;
        if (vs_service_state(ctx->svc, rq->owner, id, &st, &err) < 0)
                return docker_respond_error(rq->c, &err);
        if (st != VS_JOB_QUEUED && st != VS_JOB_RUNNING)
                return docker_respond_message(rq->c, 409, "Cannot kill container: %s: Container %s is not running",
                                              rq->capture[0], id);
        /* Every signal ends the VM: the container exits 137 (SIGKILL). */
        if (vs_service_cancel(ctx->svc, rq->owner, id, &err) < 0)
                return docker_respond_error(rq->c, &err);
        return respond_empty(rq, 204);
}

enum MHD_Result docker_container_stop(server_ctx *ctx, request *rq)
{
        vs_container_waiter *w = NULL;
        _cleanup_free_ char *error = NULL;
        enum MHD_Result ret;
        vs_error err = { 0 };
        vs_job_state st;
        char id[13];
        int code, r;

        if (!find(ctx, rq, id, &ret))
                return ret;
        if (vs_service_state(ctx->svc, rq->owner, id, &st, &err) < 0)
                return docker_respond_error(rq->c, &err);
        if (st != VS_JOB_QUEUED && st != VS_JOB_RUNNING)
                return respond_empty(rq, 304); /* not running: Docker's "not modified" */
        if (vs_service_container_wait_open(ctx->svc, rq->owner, id, &w, &err) < 0)
                return docker_respond_error(rq->c, &err);
        /* No SIGTERM first: the VM is destroyed at once (docs). */
        if (vs_service_cancel(ctx->svc, rq->owner, id, &err) < 0 && err.kind != VS_ERR_CONFLICT) {
                vs_service_container_wait_close(w);
                return docker_respond_error(rq->c, &err);
        }
        r = wait_for(ctx, rq, w, VS_WAIT_NOT_RUNNING, STOP_WAIT_MS, &code, &error, &err);
        vs_service_container_wait_close(w);
        if (r < 0)
                return docker_respond_error(rq->c, &err);
        if (r == 0 && client_gone(rq->c))
                return MHD_NO;
        return respond_empty(rq, 204);
}

enum MHD_Result docker_container_remove(server_ctx *ctx, request *rq)
{
        enum MHD_Result ret;
        vs_error err = { 0 };
        char id[13];

        if (!find(ctx, rq, id, &ret))
                return ret;
        /* v (volumes) has nothing to remove: a container has none. */
        if (vs_service_container_remove(ctx->svc, rq->owner, id, query_true(rq->c, "force"), &err) < 0)
                return docker_respond_error(rq->c, &err);
        return respond_empty(rq, 204);
}

enum MHD_Result docker_container_resize(server_ctx *ctx, request *rq)
{
        enum MHD_Result ret;
        char id[13];

        if (!find(ctx, rq, id, &ret))
                return ret;
        return respond_empty(rq, 200); /* accepted: a VM's output has no terminal to size */
}

/* ---- inspect, list -------------------------------------------------------------- */

/* Docker's Path and Args: the entrypoint's first word, or the cmd's. */
static void path_args(const vs_container *c, const char **ret_path, json_t **ret_args)
{
        char *const *first = c->entrypoint && c->entrypoint[0] ? c->entrypoint : c->cmd;
        json_t *args = vs_xjson(json_array());

        *ret_path = first && first[0] ? first[0] : "";
        for (size_t i = first && first[0] ? 1 : 0; first && first[i]; i++)
                json_array_append_new(args, vs_json_text(first[i], strlen(first[i]), VS_CONTAINER_STRING_MAX));
        if (first == c->entrypoint)
                for (size_t i = 0; c->cmd && c->cmd[i]; i++)
                        json_array_append_new(args, vs_json_text(c->cmd[i], strlen(c->cmd[i]), VS_CONTAINER_STRING_MAX));
        *ret_args = args;
}

static json_t *state_json(const vs_container_info *i)
{
        bool failed, running = i->state == VS_JOB_QUEUED || i->state == VS_JOB_RUNNING;
        int code = vs_container_exit_code(i->state, i->exit_code, &failed);

        return vs_xjson(json_pack("{s:s, s:b, s:b, s:b, s:b, s:b, s:i, s:i, s:o, s:o, s:o}", "Status",
                                  vs_container_status(i->state), "Running", running, "Paused", false, "Restarting",
                                  false, "OOMKilled", false, "Dead", false, "Pid", 0, "ExitCode", code, "Error",
                                  str_or_empty(vs_job_state_finished(i->state) ? i->error : NULL), "StartedAt",
                                  rfc3339(i->started_ms), "FinishedAt", rfc3339(i->finished_ms)));
}

static const char *network_mode(const vs_container *c)
{
        return c->network_mode ? c->network_mode : "default";
}

static json_t *host_config_json(const vs_container *c)
{
        return vs_xjson(json_pack("{s:o, s:s, s:b, s:I, s:I, s:I, s:I, s:{s:s, s:i}, s:{s:s, s:{}}, s:{}, s:b}", "Binds",
                                  strv_json(c->binds), "NetworkMode", network_mode(c), "AutoRemove", c->auto_remove,
                                  "Memory", (json_int_t)c->memory, "NanoCpus", (json_int_t)c->nano_cpus, "CpuShares",
                                  (json_int_t)c->cpu_shares, "MemorySwap", (json_int_t)0, "RestartPolicy", "Name",
                                  "no", "MaximumRetryCount", 0, "LogConfig", "Type", "json-file", "Config",
                                  "PortBindings", "Privileged", false));
}

static json_t *config_json(const vs_container *c)
{
        return vs_xjson(json_pack("{s:o, s:s, s:o, s:b, s:b, s:b, s:b, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:n, s:n}",
                                  "Hostname", str_or_empty(c->hostname), "Domainname", "", "User", str_or_empty(c->user),
                                  "AttachStdin", false, "AttachStdout", true, "AttachStderr", true, "Tty", c->tty,
                                  "OpenStdin", c->open_stdin, "StdinOnce", false, "Env", strv_json(c->env), "Cmd",
                                  strv_json(c->cmd), "Image", vs_json_text(c->image, strlen(c->image), 4096),
                                  "WorkingDir", str_or_empty(c->working_dir), "Entrypoint", strv_json(c->entrypoint),
                                  "Labels", labels_json(c->labels), "Volumes", "OnBuild"));
}

/* The binds as Docker's Mounts show them. */
static json_t *mounts_json(const vs_container *c)
{
        json_t *a = vs_xjson(json_array());

        for (size_t i = 0; c->binds && c->binds[i]; i++) {
                _cleanup_free_ char *host = NULL, *target = NULL;
                bool rw;

                if (vs_container_parse_bind(c->binds[i], &host, &target, &rw, NULL) < 0)
                        continue;
                json_array_append_new(a, vs_xjson(json_pack("{s:s, s:o, s:o, s:s, s:b, s:s}", "Type", "bind", "Source",
                                                            str_or_empty(host), "Destination", str_or_empty(target),
                                                            "Mode", rw ? "" : "ro", "RW", rw, "Propagation",
                                                            "rprivate")));
        }
        return a;
}

static json_t *inspect_json(const vs_container_info *i)
{
        const vs_container *c = i->c;
        _cleanup_free_ char *name = vs_xasprintf("/%s", c->name);
        const char *path;
        json_t *args;

        path_args(c, &path, &args);
        return vs_xjson(json_pack(
                "{s:s, s:o, s:o, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:o, s:i, s:s, s:s, s:s, s:s, s:s, s:n, s:o, "
                "s:{s:{}, s:s}, s:o, s:o, s:{s:{}, s:{}, s:s, s:s}}",
                "Id", i->full_id, "Created", rfc3339(i->created_ms), "Path", str_or_empty(path), "Args", args, "State",
                state_json(i), "Image", c->image_id, "ResolvConfPath", "", "HostnamePath", "", "HostsPath", "",
                "LogPath", "", "Name", str_or_empty(name), "RestartCount", 0, "Driver", "vmsandbox", "Platform",
                "linux", "MountLabel", "", "ProcessLabel", "", "AppArmorProfile", "", "ExecIDs", "HostConfig",
                host_config_json(c), "GraphDriver", "Data", "Name", "vmsandbox", "Mounts", mounts_json(c), "Config",
                config_json(c), "NetworkSettings", "Ports", "Networks", "IPAddress", "", "MacAddress", ""));
}

enum MHD_Result docker_container_inspect(server_ctx *ctx, request *rq)
{
        vs_container_info info;
        enum MHD_Result ret;
        vs_error err = { 0 };
        char id[13];
        json_t *j;

        if (!find(ctx, rq, id, &ret))
                return ret;
        if (vs_service_container_info(ctx->svc, rq->owner, id, &info, &err) < 0)
                return docker_respond_error(rq->c, &err);
        j = inspect_json(&info);
        vs_container_info_clear(&info);
        return docker_respond_json(rq->c, 200, j);
}

/* "Up 5 seconds", "Exited (0) 2 minutes ago", "Created". */
static json_t *status_words(const vs_container_info *i, int64_t now_ms)
{
        char age[64], buf[128];
        bool failed;

        if (i->state == VS_JOB_CREATED)
                return vs_xjson(json_string("Created"));
        if (!vs_job_state_finished(i->state)) {
                vs_container_human_duration((now_ms - i->started_ms) / 1000, age, sizeof(age));
                snprintf(buf, sizeof(buf), "Up %s", age);
        } else {
                vs_container_human_duration((now_ms - i->finished_ms) / 1000, age, sizeof(age));
                snprintf(buf, sizeof(buf), "Exited (%d) %s ago", vs_container_exit_code(i->state, i->exit_code, &failed),
                         age);
        }
        return vs_xjson(json_string(buf));
}

static json_t *command_words(const vs_container *c)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        bool first = true;
        json_t *j;

        if (!f)
                vs_oom();
        for (int part = 0; part < 2; part++)
                for (char *const *w = part ? c->cmd : c->entrypoint; w && *w; w++) {
                        fprintf(f, "%s%s", first ? "" : " ", *w);
                        first = false;
                }
        fclose(f);
        j = vs_json_text(buf, len, 4096);
        free(buf);
        return j;
}

static json_t *summary_json(const vs_container_info *i, int64_t now_ms)
{
        const vs_container *c = i->c;
        _cleanup_free_ char *name = vs_xasprintf("/%s", c->name);

        return vs_xjson(json_pack("{s:s, s:[o], s:o, s:s, s:o, s:I, s:[], s:o, s:s, s:o, s:{s:s}, s:{s:{}}, s:o}", "Id",
                                  i->full_id, "Names", str_or_empty(name), "Image",
                                  vs_json_text(c->image, strlen(c->image), 4096), "ImageID", c->image_id, "Command",
                                  command_words(c), "Created", (json_int_t)(i->created_ms / 1000), "Ports", "Labels",
                                  labels_json(c->labels), "State", vs_container_status(i->state), "Status",
                                  status_words(i, now_ms), "HostConfig", "NetworkMode", network_mode(c),
                                  "NetworkSettings", "Networks", "Mounts", mounts_json(c)));
}

enum MHD_Result docker_container_list(server_ctx *ctx, request *rq)
{
        const char *ftext = query(rq, "filters");
        _cleanup_json_ json_t *fjson = NULL;
        vs_container_filters f = { 0 };
        vs_container_info *v;
        vs_error err = { 0 };
        int64_t now = (int64_t)vs_now_ms();
        json_t *out;
        bool all = query_true(rq->c, "all");
        size_t n;

        if (ftext && *ftext) {
                fjson = vs_json_load_bounded(ftext, strlen(ftext), 64 << 10, 4, VS_ERR_INPUT, &err);
                if (!fjson)
                        return docker_respond_message(rq->c, 400, "invalid filters: %s", err.msg);
        }
        if (vs_container_filters_parse(fjson, &f, &err) < 0)
                return docker_respond_error(rq->c, &err);
        /* Without all only running ones, unless a status is asked for. */
        all = all || f.status;
        out = vs_xjson(json_array());
        vs_service_container_list(ctx->svc, rq->owner, &v, &n);
        for (size_t i = 0; i < n; i++) {
                bool running = v[i].state == VS_JOB_QUEUED || v[i].state == VS_JOB_RUNNING;
                if ((all || running) && vs_container_filters_match(&f, v[i].full_id, v[i].c, v[i].state))
                        json_array_append_new(out, summary_json(&v[i], now));
        }
        vs_container_info_list_free(v, n);
        vs_container_filters_clear(&f);
        return docker_respond_json(rq->c, 200, out);
}

/* ---- images of containers --------------------------------------------------------- */

/* The service's vs_image_resolver on a Docker socket: the tenant's store
 * first (the blob hard-linked into the job: rmi cannot pull it away), then
 * the images the base image has preloaded (run by id, nothing linked). */
int docker_image_resolve(void *userdata, const char *owner, const char *name, const char *dest,
                         vs_container_image *ret, vs_error *err)
{
        server_ctx *ctx = userdata;
        char id[VS_IMAGE_ID_LEN + 1], norm[VS_IMAGE_NAME_MAX + 1];
        const vs_preloaded_image *p = NULL;
        vs_error serr = { 0 };
        vs_base_image img;

        memset(ret, 0, sizeof(*ret));
        if (vs_imgstore_link(ctx->images, owner, name, dest, id, &serr) == 0) {
                snprintf(ret->id, sizeof(ret->id), "%s", id);
                ret->linked = true;
                return 0;
        }
        if (serr.kind != VS_ERR_NOT_FOUND || !ctx->cfg || !ctx->cfg->image ||
            vs_base_image_open(ctx->cfg->image, &img, NULL) < 0) {
                *err = serr;
                return -1;
        }
        if (vs_imgstore_normalize(name, norm, NULL, NULL) == 0)
                p = vs_base_image_preloaded(&img, norm);
        if (!p)
                p = vs_base_image_preloaded(&img, name);
        if (p) {
                snprintf(ret->id, sizeof(ret->id), "%s", p->id);
                snprintf(ret->ref, sizeof(ret->ref), "%s", p->id);
        }
        vs_base_image_clear(&img);
        if (!p) {
                *err = serr;
                return -1;
        }
        return 0;
}

/* ctx->image_in_use for DELETE /images: the tenant's containers by image id. */
int docker_image_in_use(void *userdata, const char *tenant, const char *image_id, char ret_container[65])
{
        server_ctx *ctx = userdata;
        char id[13];
        int r = vs_service_container_image_use(ctx->svc, tenant, image_id, id);

        if (r > 0)
                snprintf(ret_container, 65, "%s", id);
        return r;
}
