/* The job API (docs/api.md): its route table and handlers. */
#include "server.h"
#include "alloc.h"
#include "cleanup.h"
#include "store.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUN_LOG_LINES 1000

/* ---- matching ---------------------------------------------------------------- */

/* Matches url against pattern segment by segment; captures go to rq. */
static bool match(const char *pattern, const char *url, request *rq)
{
        const char *p = pattern, *u = url;
        size_t ncap = 0;

        while (*p && *u) {
                size_t plen = strcspn(p, "/"), ulen = strcspn(u, "/");

                if (*p == '{' && ncap < ROUTE_CAPTURES_MAX) {
                        bool rest = plen >= 3 && p[plen - 2] == '*';
                        size_t take = rest ? strlen(u) : ulen;
                        if (take == 0)
                                return false;
                        rq->capture[ncap++] = vs_xstrndup(u, take);
                        u += take;
                } else {
                        if (plen != ulen || strncmp(p, u, plen) != 0)
                                return false;
                        u += ulen;
                }
                p += plen;
                if (*p != *u)
                        return false;
                if (*p == '/')
                        p++, u++;
        }
        return *p == '\0' && *u == '\0';
}

static void drop_captures(request *rq)
{
        for (size_t i = 0; i < ROUTE_CAPTURES_MAX; i++) {
                free(rq->capture[i]);
                rq->capture[i] = NULL;
        }
}

const route_def *route_match(const route_def *table, route_api api, const char *method, const char *url,
                             request *rq)
{
        for (const route_def *r = table; r->method; r++) {
                if (r->api == api && strcmp(r->method, method) == 0 && match(r->pattern, url, rq))
                        return r;
                drop_captures(rq);
        }
        return NULL;
}

bool query_true(struct MHD_Connection *c, const char *key)
{
        const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);

        return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/* ---- streaming responses ------------------------------------------------------ */

/* A follow or a /v1/run wait may be quiet for long: MHD's idle timeout
 * would cut it at the next chunk.  These handlers notice a client that went
 * away themselves (client_gone).  The connection gets its timeout back when
 * the wait is over (a follow's connection closes after it). */
static void no_idle_timeout(struct MHD_Connection *c)
{
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)0);
}

static void idle_timeout_again(server_ctx *ctx, struct MHD_Connection *c)
{
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, ctx->idle_timeout_s);
}

typedef struct {
        vs_service *svc;
        struct MHD_Connection *c;
        vs_follow *f;
} log_stream;

/* Blocks in the service's follow (which sleeps) until there is output, the
 * job ends, the service stops or the client has gone. */
static ssize_t log_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        log_stream *ls = cls;
        size_t n;
        bool done;

        (void)pos;
        for (;;) {
                if (vs_service_follow_read(ls->svc, ls->f, buf, max, &n, &done) < 0)
                        return MHD_CONTENT_READER_END_OF_STREAM;
                if (n > 0)
                        return (ssize_t)n;
                if (done)
                        return MHD_CONTENT_READER_END_OF_STREAM;
                if (client_gone(ls->c))
                        return MHD_CONTENT_READER_END_WITH_ERROR;
        }
}

static void log_stream_free(void *cls)
{
        log_stream *ls = cls;

        vs_service_follow_close(ls->svc, ls->f);
        free(ls);
}

/* The most of one stream's log an answer sends: its end (the pipeline caps
 * stdout.log and stderr.log at the job's log limit, dockerd.log at 8 MiB). */
#define STREAM_LOG_MAX (64ull << 20)

static const char *const stream_logs[][2] = {
        { "stdout", "stdout.log" },
        { "stderr", "stderr.log" },
        { "dockerd", "dockerd.log" },
};

/* ?stream=stdout|stderr|dockerd: that log of a finished job, as collected
 * into its out/ (409 before it finished, 404 for a job that has none), its
 * last STREAM_LOG_MAX bytes (X-Vmsandbox-Skipped-Bytes says how many came
 * before). */
static enum MHD_Result get_stream_log(server_ctx *ctx, request *rq, const char *stream)
{
        const char *file = NULL;
        char msg[128], skipped[32];
        vs_error err = { 0 };
        struct MHD_Response *r;
        enum MHD_Result ret;
        struct stat st;
        uint64_t off;
        int fd;

        for (size_t i = 0; i < sizeof(stream_logs) / sizeof(stream_logs[0]); i++)
                if (strcmp(stream, stream_logs[i][0]) == 0)
                        file = stream_logs[i][1];
        if (!file) {
                /* The client's bytes, as valid UTF-8: else the JSON error
                 * cannot be made and the client gets no answer. */
                _cleanup_free_ char *name = vs_utf8_sanitize(stream, strlen(stream), 32, NULL);

                snprintf(msg, sizeof(msg), "no stream \"%s\": stdout, stderr or dockerd", name);
                return respond_code(rq->c, 404, "not_found", msg);
        }
        if (query_true(rq->c, "follow"))
                return respond_code(rq->c, 400, "bad_request", "follow=1 is for the merged log, not a stream's");
        if (vs_service_open_output(ctx->svc, rq->owner, rq->capture[0], file, &fd, &err) < 0) {
                if (err.kind == VS_ERR_NOT_FOUND && strncmp(err.msg, "no job", 6) != 0) {
                        snprintf(msg, sizeof(msg), "job %s has no %s log", rq->capture[0], stream);
                        return respond_code(rq->c, 404, "not_found", msg);
                }
                return respond_error(rq->c, &err);
        }
        if (fstat(fd, &st) < 0) {
                close(fd);
                return MHD_NO;
        }
        off = (uint64_t)st.st_size > STREAM_LOG_MAX ? (uint64_t)st.st_size - STREAM_LOG_MAX : 0;
        r = MHD_create_response_from_fd_at_offset64((uint64_t)st.st_size - off, fd, off); /* takes fd */
        if (!r) {
                close(fd);
                return MHD_NO;
        }
        snprintf(skipped, sizeof(skipped), "%llu", (unsigned long long)off);
        MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
        MHD_add_response_header(r, "X-Vmsandbox-Skipped-Bytes", skipped);
        ret = MHD_queue_response(rq->c, 200, r);
        MHD_destroy_response(r);
        return ret;
}

/* A follow is counted (per job, per follower: 429 beyond) from here until
 * its stream is freed. */
static enum MHD_Result get_logs(server_ctx *ctx, request *rq)
{
        const char *stream = MHD_lookup_connection_value(rq->c, MHD_GET_ARGUMENT_KIND, "stream");
        vs_error err = { 0 };
        bool follow = query_true(rq->c, "follow");
        struct MHD_Response *r;
        enum MHD_Result ret;
        log_stream *ls;
        vs_follow *f;

        if (stream)
                return get_stream_log(ctx, rq, stream);
        if (vs_service_follow_open(ctx->svc, rq->owner, rq->capture[0], follow, &f, &err) < 0)
                return respond_error(rq->c, &err);
        ls = vs_xcalloc(1, sizeof(*ls));
        ls->svc = ctx->svc;
        ls->c = rq->c;
        ls->f = f;
        if (follow)
                no_idle_timeout(rq->c);
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, log_read, ls, log_stream_free);
        if (!r) {
                log_stream_free(ls);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
        if (follow) /* its connection had no idle timeout: it ends with the follow */
                MHD_add_response_header(r, "Connection", "close");
        ret = MHD_queue_response(rq->c, 200, r);
        MHD_destroy_response(r);
        return ret;
}

typedef struct {
        int fd;
        pid_t pid; /* > 0 always: a failed fork never makes a stream */
} tar_stream;

static ssize_t tar_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        tar_stream *ts = cls;
        ssize_t n;

        (void)pos;
        do
                n = read(ts->fd, buf, max);
        while (n < 0 && errno == EINTR);
        return n > 0 ? n : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void reap(pid_t pid)
{
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

static void tar_free(void *cls)
{
        tar_stream *ts = cls;

        close(ts->fd);
        /* Only ever our own child: kill(-1 or 0, ...) would signal every
         * process we may signal (as root: the whole host). */
        if (ts->pid > 0) {
                kill(ts->pid, SIGTERM);
                reap(ts->pid);
        }
        free(ts);
}

/* tar(1) of dir into a pipe; the child gets the default signal state (the
 * server blocks SIGTERM and ignores SIGPIPE, and both are inherited). */
static int tar_spawn(const char *dir, tar_stream **ret, vs_error *err)
{
        sigset_t none;
        int p[2];
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "pipe");
        pid = fork();
        if (pid < 0) {
                int e = errno;
                close(p[0]);
                close(p[1]);
                return vs_error_errno(err, VS_ERR_SANDBOX, e, "fork");
        }
        if (pid == 0) {
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                signal(SIGPIPE, SIG_DFL);
                if (dup2(p[1], STDOUT_FILENO) < 0)
                        _exit(127);
                execlp("tar", "tar", "-C", dir, "--numeric-owner", "-cf", "-", ".", (char *)NULL);
                _exit(127);
        }
        close(p[1]);
        *ret = vs_xcalloc(1, sizeof(**ret));
        (*ret)->fd = p[0];
        (*ret)->pid = pid;
        return 0;
}

/* The collected workspace (host-created files) as a tar made by tar(1). */
static enum MHD_Result get_workspace(server_ctx *ctx, request *rq)
{
        _cleanup_free_ char *dir = NULL;
        vs_error err = { 0 };
        struct MHD_Response *r;
        enum MHD_Result ret;
        tar_stream *ts = NULL;

        if (vs_service_workspace_dir(ctx->svc, rq->owner, rq->capture[0], &dir, &err) < 0 ||
            tar_spawn(dir, &ts, &err) < 0)
                return respond_error(rq->c, &err);
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, tar_read, ts, tar_free);
        if (!r) {
                tar_free(ts);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "application/x-tar");
        ret = MHD_queue_response(rq->c, 200, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result send_output_file(server_ctx *ctx, request *rq, const char *rel, const char *type)
{
        vs_error err = { 0 };
        struct MHD_Response *r;
        enum MHD_Result ret;
        struct stat st;
        int fd;

        if (vs_service_open_output(ctx->svc, rq->owner, rq->capture[0], rel, &fd, &err) < 0)
                return respond_error(rq->c, &err);
        if (fstat(fd, &st) < 0) {
                close(fd);
                return MHD_NO;
        }
        r = MHD_create_response_from_fd64((uint64_t)st.st_size, fd); /* takes fd */
        if (!r) {
                close(fd);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", type);
        ret = MHD_queue_response(rq->c, 200, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result get_image(server_ctx *ctx, request *rq)
{
        return send_output_file(ctx, rq, "image.tar", "application/x-tar");
}

static enum MHD_Result get_file(server_ctx *ctx, request *rq)
{
        _cleanup_free_ char *rel = vs_xasprintf("workspace/%s", rq->capture[1]);

        return send_output_file(ctx, rq, rel, "application/octet-stream");
}

/* ---- job routes ------------------------------------------------------------------ */

/* The body's spec becomes a created job. */
static int create_from_body(server_ctx *ctx, request *rq, char id[13], vs_error *err)
{
        _cleanup_json_ json_t *spec = parse_body(rq, err);

        if (!spec)
                return -1;
        return vs_service_create(ctx->svc, rq->owner, spec, id, err);
}

static enum MHD_Result respond_record(server_ctx *ctx, request *rq, unsigned status, const char *id)
{
        vs_error err = { 0 };
        json_t *rec = vs_service_get(ctx->svc, rq->owner, id, &err);

        return rec ? respond_json(rq->c, status, rec) : respond_error(rq->c, &err);
}

static enum MHD_Result create_job(server_ctx *ctx, request *rq)
{
        vs_error err = { 0 };
        char id[13];

        if (create_from_body(ctx, rq, id, &err) < 0)
                return respond_error(rq->c, &err);
        if (query_true(rq->c, "start") && vs_service_start(ctx->svc, rq->owner, id, &err) < 0) {
                vs_service_delete(ctx->svc, rq->owner, id, NULL);
                return respond_error(rq->c, &err);
        }
        return respond_record(ctx, rq, 201, id);
}

/* The last RUN_LOG_LINES lines, read from the end of the log. */
static json_t *log_lines(server_ctx *ctx, request *rq, const char *id)
{
        json_t *lines = vs_service_log_tail(ctx->svc, rq->owner, id, RUN_LOG_LINES, NULL);

        return lines ? lines : vs_xjson(json_array());
}

/* Waits for the end, noticing a client that went away (the job goes on and
 * stays in the store) and a service that stops before the job ran (503). */
static int wait_job(server_ctx *ctx, request *rq, const char *id, vs_error *err)
{
        int r;

        no_idle_timeout(rq->c);
        while ((r = vs_service_wait(ctx->svc, rq->owner, id, VS_FOLLOW_WAIT_MS, err)) == 0)
                if (client_gone(rq->c))
                        return 0;
        idle_timeout_again(ctx, rq->c);
        return r;
}

/* nbo2rproxy's synchronous shape. */
static enum MHD_Result run_sync(server_ctx *ctx, request *rq)
{
        vs_error err = { 0 };
        json_t *rec, *body;
        vs_job_state st;
        char id[13];
        bool ran;
        int r;

        if (create_from_body(ctx, rq, id, &err) < 0)
                return respond_error(rq->c, &err);
        if (vs_service_start(ctx->svc, rq->owner, id, &err) < 0) {
                /* The client gets the refusal and no job it never asked to
                 * keep (it has no id to delete it by). */
                vs_error e2 = { 0 };
                vs_service_delete(ctx->svc, rq->owner, id, &e2);
                return respond_error(rq->c, &err);
        }
        r = wait_job(ctx, rq, id, &err);
        if (r == 0)
                return MHD_NO; /* nobody to answer */
        if (r < 0 || vs_service_state(ctx->svc, rq->owner, id, &st, &err) < 0 ||
            !(rec = vs_service_get(ctx->svc, rq->owner, id, &err)))
                return respond_error(rq->c, &err);
        ran = st == VS_JOB_SUCCESS || st == VS_JOB_FAILURE; /* the workflow ran, whatever its exit code */
        if (ran)
                body = json_pack("{s:{s:O}, s:o, s:s}", "success", "StatusCode", json_object_get(rec, "exit_code"), "log",
                                 log_lines(ctx, rq, id), "id", id);
        else
                body = json_pack("{s:{s:s, s:s}, s:o, s:s}", "error", "code", vs_job_state_to_string(st), "message",
                                 json_string_value(json_object_get(rec, "error")) ?: "the job failed", "log",
                                 log_lines(ctx, rq, id), "id", id);
        json_decref(rec);
        return respond_json(rq->c, ran ? 200 : 500, body);
}

static enum MHD_Result list_jobs(server_ctx *ctx, request *rq)
{
        const char *filter = MHD_lookup_connection_value(rq->c, MHD_GET_ARGUMENT_KIND, "status");
        vs_job_state st;

        if (filter && vs_job_state_from_string(filter, &st) < 0)
                return respond_code(rq->c, 400, "bad_request", "unknown status filter");
        return respond_json(rq->c, 200, json_pack("{s:o}", "jobs", vs_service_list(ctx->svc, rq->owner, filter ? &st : NULL)));
}

static enum MHD_Result get_job(server_ctx *ctx, request *rq)
{
        return respond_record(ctx, rq, 200, rq->capture[0]);
}

static enum MHD_Result delete_job(server_ctx *ctx, request *rq)
{
        vs_error err = { 0 };

        if (vs_service_delete(ctx->svc, rq->owner, rq->capture[0], &err) < 0)
                return respond_error(rq->c, &err);
        return respond_json(rq->c, 200, json_pack("{s:s}", "deleted", rq->capture[0]));
}

static enum MHD_Result cancel_job(server_ctx *ctx, request *rq)
{
        vs_error err = { 0 };

        if (vs_service_cancel(ctx->svc, rq->owner, rq->capture[0], &err) < 0)
                return respond_error(rq->c, &err);
        return respond_record(ctx, rq, 202, rq->capture[0]);
}

static enum MHD_Result start_job(server_ctx *ctx, request *rq)
{
        vs_error err = { 0 };

        if (vs_service_start(ctx->svc, rq->owner, rq->capture[0], &err) < 0)
                return respond_error(rq->c, &err);
        return respond_record(ctx, rq, 202, rq->capture[0]);
}

static enum MHD_Result put_upload(server_ctx *ctx, request *rq)
{
        vs_error err = { 0 };
        uint64_t bytes = vs_service_upload_bytes(rq->upload);
        int r = vs_service_upload_end(ctx->svc, rq->upload, &err);

        rq->upload = NULL; /* put in place or removed by the service */
        if (r < 0)
                return respond_error(rq->c, &err);
        return respond_json(rq->c, 200, json_pack("{s:s, s:s, s:I}", "id", rq->capture[0], "uploaded", rq->route->arg,
                                                  "bytes", (json_int_t)bytes));
}

/* ---- service routes ---------------------------------------------------------------- */

static enum MHD_Result health(server_ctx *ctx, request *rq)
{
        (void)ctx;
        return respond_json(rq->c, 200, json_pack("{s:s}", "status", "ok"));
}

static enum MHD_Result metrics(server_ctx *ctx, request *rq)
{
        char *svc = vs_service_metrics(ctx->svc), *text;
        uint64_t held, max;
        struct MHD_Response *r;
        enum MHD_Result ret;

        /* The service's gauges, then the server's own: its temporary space. */
        tmp_usage(ctx, &held, &max);
        text = vs_xasprintf("%s# HELP vmsandbox_tmp_bytes Request bodies and image exports held in temporary files.\n"
                     "# TYPE vmsandbox_tmp_bytes gauge\nvmsandbox_tmp_bytes %llu\n"
                     "# HELP vmsandbox_tmp_limit_bytes The bound on them (serve --tmp-space).\n"
                     "# TYPE vmsandbox_tmp_limit_bytes gauge\nvmsandbox_tmp_limit_bytes %llu\n",
                     svc, (unsigned long long)held, (unsigned long long)max);
        free(svc);
        r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (!r) {
                free(text);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
        ret = MHD_queue_response(rq->c, 200, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result create_token(server_ctx *ctx, request *rq)
{
        char token[VS_TOKEN_LEN + 1], id[13];
        vs_error err = { 0 };

        if (vs_tokens_create(ctx->tokens, token, id, &err) < 0)
                return respond_error(rq->c, &err);
        return respond_json(rq->c, 201, json_pack("{s:s, s:s}", "token", token, "id", id));
}

static enum MHD_Result list_tokens(server_ctx *ctx, request *rq)
{
        return respond_json(rq->c, 200, json_pack("{s:o}", "tokens", vs_tokens_list(ctx->tokens)));
}

static enum MHD_Result revoke_token(server_ctx *ctx, request *rq)
{
        vs_error err = { 0 };

        if (vs_tokens_revoke(ctx->tokens, rq->capture[0], &err) < 0)
                return respond_error(rq->c, &err);
        return respond_json(rq->c, 200, json_pack("{s:s}", "revoked", rq->capture[0]));
}

/* The admin's tenant sockets (docs/docker-api.md). */
static enum MHD_Result add_docker_socket(server_ctx *ctx, request *rq)
{
        _cleanup_json_ json_t *body = NULL;
        _cleanup_free_ char *path = NULL;
        vs_error err = { 0 };
        const char *tenant, *root;
        json_t *rootj;

        body = parse_body(rq, &err);
        if (!body)
                return respond_error(rq->c, &err);
        tenant = json_string_value(json_object_get(body, "tenant"));
        rootj = json_object_get(body, "root");
        root = json_string_value(rootj);
        if (!json_is_object(body) || !tenant || (rootj && !root) || json_object_size(body) != (rootj ? 2u : 1u))
                return respond_code(rq->c, 400, "usage", "expected {\"tenant\": NAME, \"root\": DIR} (root optional)");
        if (listeners_add_docker(ctx, tenant, root, &path, &err) < 0)
                return respond_error(rq->c, &err);
        return respond_json(rq->c, 201, json_pack("{s:s, s:s, s:s?}", "tenant", tenant, "path", path, "root", root));
}

static enum MHD_Result list_docker_sockets(server_ctx *ctx, request *rq)
{
        return respond_json(rq->c, 200, json_pack("{s:o}", "sockets", listeners_docker_json(ctx)));
}

static enum MHD_Result remove_docker_socket(server_ctx *ctx, request *rq)
{
        vs_error err = { 0 };

        if (listeners_remove_tenant(ctx, rq->capture[0], &err) < 0)
                return respond_error(rq->c, &err);
        return respond_json(rq->c, 200, json_pack("{s:s}", "removed", rq->capture[0]));
}

#define JOBS ROUTE_API_JOBS
#define DOCKER ROUTE_API_DOCKER

/* holds: the request may keep its connection long (counted against the
 * connection headroom, server.c).  The job API's rows, then the Docker
 * Engine API's (docs/docker-api.md; on the Docker sockets only, after the
 * /vX.Y prefix; access is the socket's, so ROUTE_PUBLIC). */
const route_def api_routes[] = {
        { JOBS, "GET", "/v1/health", ROUTE_PUBLIC, ROUTE_BODY_NONE, health, NULL, false },
        { JOBS, "GET", "/metrics", ROUTE_METRICS, ROUTE_BODY_NONE, metrics, NULL, false },
        { JOBS, "POST", "/v1/tokens", ROUTE_ADMIN, ROUTE_BODY_NONE, create_token, NULL, false },
        { JOBS, "GET", "/v1/tokens", ROUTE_ADMIN, ROUTE_BODY_NONE, list_tokens, NULL, false },
        { JOBS, "DELETE", "/v1/tokens/{token}", ROUTE_ADMIN, ROUTE_BODY_NONE, revoke_token, NULL, false },
        { JOBS, "POST", "/v1/docker-sockets", ROUTE_ADMIN, ROUTE_BODY_JSON, add_docker_socket, NULL, false },
        { JOBS, "GET", "/v1/docker-sockets", ROUTE_ADMIN, ROUTE_BODY_NONE, list_docker_sockets, NULL, false },
        { JOBS, "DELETE", "/v1/docker-sockets/{tenant}", ROUTE_ADMIN, ROUTE_BODY_NONE, remove_docker_socket, NULL, false },
        { JOBS, "POST", "/v1/jobs", ROUTE_CLIENT, ROUTE_BODY_JSON, create_job, NULL, false },
        { JOBS, "GET", "/v1/jobs", ROUTE_CLIENT, ROUTE_BODY_NONE, list_jobs, NULL, false },
        { JOBS, "POST", "/v1/run", ROUTE_CLIENT, ROUTE_BODY_JSON, run_sync, NULL, true },
        { JOBS, "GET", "/v1/jobs/{id}", ROUTE_CLIENT, ROUTE_BODY_NONE, get_job, NULL, false },
        { JOBS, "DELETE", "/v1/jobs/{id}", ROUTE_CLIENT, ROUTE_BODY_NONE, delete_job, NULL, false },
        { JOBS, "POST", "/v1/jobs/{id}/cancel", ROUTE_CLIENT, ROUTE_BODY_NONE, cancel_job, NULL, false },
        { JOBS, "POST", "/v1/jobs/{id}/start", ROUTE_CLIENT, ROUTE_BODY_NONE, start_job, NULL, false },
        { JOBS, "PUT", "/v1/jobs/{id}/image", ROUTE_CLIENT, ROUTE_BODY_UPLOAD, put_upload, "image", true },
        { JOBS, "PUT", "/v1/jobs/{id}/workspace", ROUTE_CLIENT, ROUTE_BODY_UPLOAD, put_upload, "workspace", true },
        { JOBS, "GET", "/v1/jobs/{id}/logs", ROUTE_CLIENT, ROUTE_BODY_NONE, get_logs, NULL, true },
        { JOBS, "GET", "/v1/jobs/{id}/workspace", ROUTE_CLIENT, ROUTE_BODY_NONE, get_workspace, NULL, true },
        { JOBS, "GET", "/v1/jobs/{id}/image", ROUTE_CLIENT, ROUTE_BODY_NONE, get_image, NULL, true },
        { JOBS, "GET", "/v1/jobs/{id}/files/{path*}", ROUTE_CLIENT, ROUTE_BODY_NONE, get_file, NULL, true },

        { DOCKER, "GET", "/_ping", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_ping, NULL, false },
        { DOCKER, "HEAD", "/_ping", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_ping, NULL, false },
        { DOCKER, "GET", "/version", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_version, NULL, false },
        { DOCKER, "GET", "/info", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_info, NULL, false },
        /* No networks, volumes or plugins: every name is "not found" (docker inspect asks for each type). */
        { DOCKER, "GET", "/networks/{name}", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_no_such, "network", false },
        { DOCKER, "GET", "/volumes/{name}", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_no_such, "volume", false },
        { DOCKER, "GET", "/plugins/{name}/json", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_no_such, "plugin", false },
        /* containers (docker_containers.c) */
        { DOCKER, "POST", "/containers/create", ROUTE_PUBLIC, ROUTE_BODY_JSON, docker_container_create, NULL, false },
        { DOCKER, "GET", "/containers/json", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_container_list, NULL, false },
        { DOCKER, "GET", "/containers/{id}/json", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_container_inspect, NULL, false },
        { DOCKER, "POST", "/containers/{id}/start", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_container_start, NULL, false },
        { DOCKER, "POST", "/containers/{id}/wait", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_container_wait, NULL, true },
        { DOCKER, "POST", "/containers/{id}/kill", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_container_kill, NULL, false },
        { DOCKER, "POST", "/containers/{id}/stop", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_container_stop, NULL, true },
        { DOCKER, "DELETE", "/containers/{id}", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_container_remove, NULL, true },
        { DOCKER, "POST", "/containers/{id}/resize", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_container_resize, NULL, false },
        /* a container's output (docker_streams.c) */
        { DOCKER, "GET", "/containers/{id}/logs", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_logs, NULL, true },
        { DOCKER, "POST", "/containers/{id}/attach", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_attach, NULL, true },
        /* images (docker_images.c): the fixed paths first, then a name that
         * may have '/'s ({name*}, its last segment the verb) */
        { DOCKER, "GET", "/images/json", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_images_list, NULL, false },
        { DOCKER, "GET", "/images/get", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_images_get, NULL, true },
        { DOCKER, "POST", "/images/load", ROUTE_PUBLIC, ROUTE_BODY_FILE, docker_image_load, NULL, true },
        { DOCKER, "POST", "/images/create", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_image_create, NULL, false },
        { DOCKER, "GET", "/images/{name*}", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_image_get, NULL, true },
        { DOCKER, "POST", "/images/{name*}", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_image_post, NULL, false },
        { DOCKER, "DELETE", "/images/{name*}", ROUTE_PUBLIC, ROUTE_BODY_NONE, docker_image_delete, NULL, false },
        { DOCKER, "POST", "/build", ROUTE_PUBLIC, ROUTE_BODY_FILE, docker_build, NULL, true },
        { JOBS, NULL, NULL, ROUTE_PUBLIC, ROUTE_BODY_NONE, NULL, NULL, false },
};
