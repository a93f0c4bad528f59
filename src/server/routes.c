/* The job API's routes (docs/api.md). */
#include "server.h"
#include "cleanup.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUN_LOG_LINES 1000

/* "/v1/jobs/<id>[/<rest>]": copies the id, returns rest ("" or "/..."), or NULL. */
static const char *job_path(const char *url, char id[13])
{
        const char *p = url + strlen("/v1/jobs/");
        size_t n = strcspn(p, "/");

        if (strncmp(url, "/v1/jobs/", 9) != 0 || n != 12)
                return NULL;
        memcpy(id, p, 12);
        id[12] = '\0';
        return vs_store_id_valid(id) ? p + 12 : NULL;
}

bool route_is_upload(const char *method, const char *url, char id[13], char what[16])
{
        const char *rest;

        if (strcmp(method, "PUT") != 0 || !(rest = job_path(url, id)))
                return false;
        if (strcmp(rest, "/image") != 0 && strcmp(rest, "/workspace") != 0)
                return false;
        snprintf(what, 16, "%s", rest + 1);
        return true;
}

static bool query_true(struct MHD_Connection *c, const char *key)
{
        const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);

        return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/* ---- streaming responses ------------------------------------------------ */

typedef struct {
        vs_service *svc;
        char id[13];
        uint64_t offset;
        bool follow;
} log_stream;

static ssize_t log_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        log_stream *ls = cls;
        vs_error err = { 0 };
        size_t n;
        bool done;

        (void)pos;
        for (;;) {
                if (vs_service_log_read(ls->svc, NULL, ls->id, ls->offset, buf, max, ls->follow, &n, &done, &err) < 0)
                        return MHD_CONTENT_READER_END_OF_STREAM;
                if (n > 0) {
                        ls->offset += n;
                        return (ssize_t)n;
                }
                if (done)
                        return MHD_CONTENT_READER_END_OF_STREAM;
        }
}

static enum MHD_Result get_logs(server_ctx *ctx, struct MHD_Connection *c, const char *id)
{
        log_stream *ls = calloc(1, sizeof(*ls));
        struct MHD_Response *r;
        enum MHD_Result ret;
        vs_error err = { 0 };
        json_t *rec = vs_service_get(ctx->svc, NULL, id, &err);

        if (!rec) {
                free(ls);
                return respond_error(c, &err);
        }
        json_decref(rec);
        if (!ls)
                return MHD_NO;
        ls->svc = ctx->svc;
        memcpy(ls->id, id, 13);
        ls->follow = query_true(c, "follow");
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, log_read, ls, free);
        MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
        ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
}

typedef struct {
        int fd;
        pid_t pid;
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

static void tar_free(void *cls)
{
        tar_stream *ts = cls;

        close(ts->fd);
        kill(ts->pid, SIGTERM);
        waitpid(ts->pid, NULL, 0);
        free(ts);
}

/* The collected workspace (host-created files) as a tar made by tar(1). */
static enum MHD_Result get_workspace(server_ctx *ctx, struct MHD_Connection *c, const char *id)
{
        _cleanup_free_ char *dir = NULL;
        vs_error err = { 0 };
        struct MHD_Response *r;
        enum MHD_Result ret;
        tar_stream *ts;
        int p[2];

        if (vs_service_workspace_dir(ctx->svc, NULL, id, &dir, &err) < 0)
                return respond_error(c, &err);
        if (pipe2(p, O_CLOEXEC) < 0 || !(ts = calloc(1, sizeof(*ts))))
                return MHD_NO;
        ts->fd = p[0];
        ts->pid = fork();
        if (ts->pid == 0) {
                dup2(p[1], STDOUT_FILENO);
                execlp("tar", "tar", "-C", dir, "--numeric-owner", "-cf", "-", ".", (char *)NULL);
                _exit(127);
        }
        close(p[1]);
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, tar_read, ts, tar_free);
        MHD_add_response_header(r, "Content-Type", "application/x-tar");
        ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result get_output_file(server_ctx *ctx, struct MHD_Connection *c, const char *id, const char *rel,
                                       const char *type)
{
        vs_error err = { 0 };
        struct MHD_Response *r;
        enum MHD_Result ret;
        struct stat st;
        int fd;

        if (vs_service_open_output(ctx->svc, NULL, id, rel, &fd, &err) < 0)
                return respond_error(c, &err);
        if (fstat(fd, &st) < 0) {
                close(fd);
                return MHD_NO;
        }
        r = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
        MHD_add_response_header(r, "Content-Type", type);
        ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
}

/* ---- job routes --------------------------------------------------------- */

/* The body's spec becomes a created job. */
static int create_from_body(server_ctx *ctx, request *rq, char id[13], vs_error *err)
{
        json_t *spec = parse_body(rq, err);
        int r;

        if (!spec)
                return -1;
        r = vs_service_create(ctx->svc, NULL, spec, id, err);
        json_decref(spec);
        return r;
}

static enum MHD_Result create_job(server_ctx *ctx, struct MHD_Connection *c, request *rq, bool start)
{
        vs_error err = { 0 };
        char id[13];

        if (create_from_body(ctx, rq, id, &err) < 0)
                return respond_error(c, &err);
        if (start && vs_service_start(ctx->svc, NULL, id, &err) < 0) {
                vs_service_delete(ctx->svc, NULL, id, NULL);
                return respond_error(c, &err);
        }
        return respond_json(c, 201, vs_service_get(ctx->svc, NULL, id, &err));
}

static json_t *log_lines(server_ctx *ctx, const char *id)
{
        json_t *lines = json_array();
        char *all = NULL, buf[65536];
        size_t len = 0, n;
        uint64_t off = 0;
        bool done = false;
        FILE *f = open_memstream(&all, &len);

        while (f && !done && vs_service_log_read(ctx->svc, NULL, id, off, buf, sizeof(buf), false, &n, &done, NULL) == 0 && n > 0) {
                fwrite(buf, 1, n, f);
                off += n;
        }
        if (f)
                fclose(f);
        for (char *line = all, *nl; line && *line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                json_array_append_new(lines, json_stringn_nocheck(line, nl ? (size_t)(nl - line) : strlen(line)));
                if (json_array_size(lines) > RUN_LOG_LINES)
                        json_array_remove(lines, 0);
        }
        free(all);
        return lines;
}

/* nbo2rproxy's synchronous shape. */
static enum MHD_Result run_sync(server_ctx *ctx, struct MHD_Connection *c, request *rq)
{
        vs_error err = { 0 };
        const char *status;
        json_t *rec;
        char id[13];

        if (create_from_body(ctx, rq, id, &err) < 0)
                return respond_error(c, &err);
        if (vs_service_start(ctx->svc, NULL, id, &err) < 0 || vs_service_wait(ctx->svc, NULL, id, UINT64_MAX / 2, &err) < 0)
                return respond_error(c, &err);
        rec = vs_service_get(ctx->svc, NULL, id, &err);
        if (!rec)
                return respond_error(c, &err);
        status = json_string_value(json_object_get(rec, "status"));
        if (status && (strcmp(status, "success") == 0 || strcmp(status, "failure") == 0)) {
                json_t *body = json_pack("{s:{s:O}, s:o, s:s}", "success", "StatusCode", json_object_get(rec, "exit_code"),
                                         "log", log_lines(ctx, id), "id", id);
                json_decref(rec);
                return respond_json(c, 200, body);
        }
        json_t *body = json_pack("{s:{s:s, s:s}, s:o, s:s}", "error", "code", status ? status : "error", "message",
                                 json_string_value(json_object_get(rec, "error")) ?: "the job failed", "log",
                                 log_lines(ctx, id), "id", id);
        json_decref(rec);
        return respond_json(c, 500, body);
}

static enum MHD_Result list_jobs(server_ctx *ctx, struct MHD_Connection *c)
{
        const char *filter = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "status");
        vs_job_state st;

        if (filter && vs_job_state_from_string(filter, &st) < 0)
                return respond_code(c, 400, "bad_request", "unknown status filter");
        return respond_json(c, 200, json_pack("{s:o}", "jobs", vs_service_list(ctx->svc, NULL, filter ? &st : NULL)));
}

static enum MHD_Result job_route(server_ctx *ctx, struct MHD_Connection *c, const char *method, const char *id,
                                 const char *rest, request *rq)
{
        vs_error err = { 0 };

        if (strcmp(method, "GET") == 0 && *rest == '\0') {
                json_t *rec = vs_service_get(ctx->svc, NULL, id, &err);
                return rec ? respond_json(c, 200, rec) : respond_error(c, &err);
        }
        if (strcmp(method, "DELETE") == 0 && *rest == '\0')
                return vs_service_delete(ctx->svc, NULL, id, &err) < 0 ? respond_error(c, &err)
                                                                 : respond_json(c, 200, json_pack("{s:s}", "deleted", id));
        if (strcmp(method, "POST") == 0 && strcmp(rest, "/cancel") == 0)
                return vs_service_cancel(ctx->svc, NULL, id, &err) < 0 ? respond_error(c, &err)
                                                                 : respond_json(c, 202, vs_service_get(ctx->svc, NULL, id, &err));
        if (strcmp(method, "POST") == 0 && strcmp(rest, "/start") == 0)
                return vs_service_start(ctx->svc, NULL, id, &err) < 0 ? respond_error(c, &err)
                                                                : respond_json(c, 202, vs_service_get(ctx->svc, NULL, id, &err));
        if (strcmp(method, "PUT") == 0 && (strcmp(rest, "/image") == 0 || strcmp(rest, "/workspace") == 0)) {
                int r = vs_service_upload_end(ctx->svc, NULL, id, rest + 1, rq->upload_tmp, &err);
                free(rq->upload_tmp);
                rq->upload_tmp = NULL; /* renamed or removed by the service */
                return r < 0 ? respond_error(c, &err)
                             : respond_json(c, 200, json_pack("{s:s, s:s, s:I}", "id", id, "uploaded", rest + 1,
                                                              "bytes", (json_int_t)rq->uploaded));
        }
        if (strcmp(method, "GET") == 0 && strcmp(rest, "/logs") == 0)
                return get_logs(ctx, c, id);
        if (strcmp(method, "GET") == 0 && strcmp(rest, "/workspace") == 0)
                return get_workspace(ctx, c, id);
        if (strcmp(method, "GET") == 0 && strcmp(rest, "/image") == 0)
                return get_output_file(ctx, c, id, "image.tar", "application/x-tar");
        if (strcmp(method, "GET") == 0 && strncmp(rest, "/files/", 7) == 0) {
                char rel[4200];
                snprintf(rel, sizeof(rel), "workspace/%s", rest + 7);
                return get_output_file(ctx, c, id, rel, "application/octet-stream");
        }
        return respond_code(c, 404, "not_found", "no such route");
}

enum MHD_Result route(server_ctx *ctx, struct MHD_Connection *c, const char *method, const char *url, request *rq)
{
        char id[13];
        const char *rest;
        char *text;

        if (strcmp(url, "/v1/health") == 0 && strcmp(method, "GET") == 0)
                return respond_json(c, 200, json_pack("{s:s}", "status", "ok"));
        if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0) {
                struct MHD_Response *r;
                enum MHD_Result ret;

                if (!(text = vs_service_metrics(ctx->svc)))
                        return MHD_NO;
                r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
                MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
                ret = MHD_queue_response(c, 200, r);
                MHD_destroy_response(r);
                return ret;
        }
        if (strcmp(url, "/v1/jobs") == 0 && strcmp(method, "POST") == 0)
                return create_job(ctx, c, rq, query_true(c, "start"));
        if (strcmp(url, "/v1/jobs") == 0 && strcmp(method, "GET") == 0)
                return list_jobs(ctx, c);
        if (strcmp(url, "/v1/run") == 0 && strcmp(method, "POST") == 0)
                return run_sync(ctx, c, rq);
        if ((rest = job_path(url, id)))
                return job_route(ctx, c, method, id, rest, rq);
        if (strncmp(url, "/v1/jobs/", 9) == 0)
                return respond_code(c, 404, "not_found", "no such job");
        return respond_code(c, 404, "not_found", "no such route");
}
