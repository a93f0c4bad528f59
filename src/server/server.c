#include "server.h"
#include "cleanup.h"
#include "fsutil.h"
#include "jsonload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

unsigned http_status(vs_error_kind kind)
{
        switch (kind) {
        case VS_ERR_USAGE:
        case VS_ERR_INPUT:
                return 400;
        case VS_ERR_FORBIDDEN:
                return 403;
        case VS_ERR_NOT_FOUND:
                return 404;
        case VS_ERR_CONFLICT:
                return 409;
        case VS_ERR_TOO_LARGE:
                return 413;
        case VS_ERR_SETUP:
                return 503;
        case VS_ERR_TIMEOUT:
        case VS_ERR_CANCELLED:
        case VS_ERR_SANDBOX:
        case VS_ERR_NONE:
        case VS_ERR_LAST:
                break;
        }
        return 500;
}

enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
        char *text = json_dumps(body, JSON_INDENT(2));
        struct MHD_Response *r;
        enum MHD_Result ret;

        json_decref(body);
        if (!text)
                return MHD_NO;
        r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "application/json");
        ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

enum MHD_Result respond_code(struct MHD_Connection *c, unsigned status, const char *code, const char *msg)
{
        if (status >= 500)
                fprintf(stderr, "<3>vmsandbox: %u %s: %s\n", status, code, msg);
        return respond_json(c, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

enum MHD_Result respond_error(struct MHD_Connection *c, const vs_error *err)
{
        return respond_code(c, http_status(err->kind), vs_error_kind_name(err->kind), err->msg);
}

/* Bearer token, compared in constant time. */
static bool authorized(server_ctx *ctx, struct MHD_Connection *c)
{
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        unsigned char diff = 0;
        size_t len;

        if (!h || strncmp(h, "Bearer ", 7) != 0)
                return false;
        h += 7;
        len = strlen(h);
        for (size_t i = 0; i < ctx->token_len; i++)
                diff |= (unsigned char)(ctx->token[i] ^ (i < len ? h[i] : 0));
        return diff == 0 && len == ctx->token_len;
}

static void request_free(request *rq)
{
        if (rq->upload_fd >= 0)
                close(rq->upload_fd);
        if (rq->upload_tmp)
                unlink(rq->upload_tmp); /* an upload that did not complete */
        free(rq->upload_tmp);
        free(rq->body);
        free(rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe)
{
        (void)cls, (void)c, (void)toe;
        if (*req_cls)
                request_free(*req_cls);
        *req_cls = NULL;
}

static void take_body(server_ctx *ctx, request *rq, const char *data, size_t len)
{
        char *nb;

        if (rq->too_large || rq->body_len + len > ctx->max_body) {
                rq->too_large = true;
                return;
        }
        nb = realloc(rq->body, rq->body_len + len + 1);
        if (!nb) {
                rq->too_large = true;
                return;
        }
        memcpy(nb + rq->body_len, data, len);
        rq->body = nb;
        rq->body_len += len;
        rq->body[rq->body_len] = '\0';
}

static void take_upload(server_ctx *ctx, request *rq, const char *data, size_t len)
{
        if (rq->upload_failed)
                return;
        if (rq->uploaded + len > ctx->max_upload) {
                rq->upload_failed = true;
                vs_error_set(&rq->upload_err, VS_ERR_TOO_LARGE, "upload larger than the %llu-byte limit",
                             (unsigned long long)ctx->max_upload);
                return;
        }
        while (len > 0) {
                ssize_t n = write(rq->upload_fd, data, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        rq->upload_failed = true;
                        vs_error_errno(&rq->upload_err, VS_ERR_SANDBOX, errno, "storing the upload");
                        return;
                }
                data += n;
                len -= (size_t)n;
                rq->uploaded += (uint64_t)n;
        }
}

static enum MHD_Result start_request(server_ctx *ctx, struct MHD_Connection *c, const char *method, const char *url,
                                     void **req_cls)
{
        request *rq = calloc(1, sizeof(*rq));
        char id[13], what[16];
        vs_error err = { 0 };

        if (!rq)
                return MHD_NO;
        rq->upload_fd = -1;
        *req_cls = rq;
        if (strcmp(url, "/v1/health") == 0)
                return MHD_YES;
        if (!authorized(ctx, c))
                return respond_code(c, 401, "unauthorized", "a valid bearer token is required");
        if (route_is_upload(method, url, id, what)) {
                if (vs_service_upload_begin(ctx->svc, NULL, id, what, &rq->upload_tmp, &rq->upload_fd, &err) < 0)
                        return respond_error(c, &err);
        }
        return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
        server_ctx *ctx = cls;
        request *rq = *req_cls;

        (void)version;
        if (!rq)
                return start_request(ctx, c, method, url, req_cls);
        if (*upload_data_size > 0) {
                if (rq->upload_fd >= 0)
                        take_upload(ctx, rq, upload_data, *upload_data_size);
                else
                        take_body(ctx, rq, upload_data, *upload_data_size);
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (rq->too_large)
                return respond_code(c, 413, "too_large", "request body over the limit");
        if (rq->upload_failed)
                return respond_error(c, &rq->upload_err);
        if (rq->upload_fd >= 0) {
                close(rq->upload_fd);
                rq->upload_fd = -1;
        }
        return route(ctx, c, method, url, rq);
}

static int read_token(const char *path, server_ctx *ctx, vs_error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len;

        if (!path)
                return vs_error_set(err, VS_ERR_USAGE, "--token-file is required: every route but /v1/health needs a bearer token");
        if (vs_read_file(path, sizeof(ctx->token) - 1, &text, &len, err) < 0)
                return -1;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
                len--;
        if (len < 16)
                return vs_error_set(err, VS_ERR_USAGE, "the token in %s is shorter than 16 characters", path);
        memcpy(ctx->token, text, len);
        ctx->token_len = len;
        return 0;
}

static int listen_unix(const char *path, vs_error *err)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return vs_error_set(err, VS_ERR_USAGE, "--socket path is too long");
        strcpy(sa.sun_path, path);
        unlink(path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 || listen(fd, 64) < 0) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                return vs_error_errno(err, VS_ERR_SETUP, e, "cannot listen on %s", path);
        }
        return fd;
}

static int parse_listen(const char *spec, struct sockaddr_in *sa, vs_error *err)
{
        char host[64];
        const char *colon = strrchr(spec, ':');
        char *end;
        unsigned long port;

        if (!colon || (size_t)(colon - spec) >= sizeof(host))
                return vs_error_set(err, VS_ERR_USAGE, "--listen %s: expected ADDRESS:PORT", spec);
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        port = strtoul(colon + 1, &end, 10);
        if (*end || port == 0 || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
                return vs_error_set(err, VS_ERR_USAGE, "--listen %s: expected an IPv4 ADDRESS:PORT", spec);
        sa->sin_family = AF_INET;
        sa->sin_port = htons((uint16_t)port);
        return 0;
}

static struct MHD_Daemon *start_daemon(const vs_server_opts *o, server_ctx *ctx, vs_error *err)
{
        const unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
        struct MHD_Daemon *d;
        struct sockaddr_in sa = { 0 };

        if (o->socket) {
                int fd = listen_unix(o->socket, err);
                if (fd < 0)
                        return NULL;
                d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, ctx, MHD_OPTION_LISTEN_SOCKET, fd,
                                     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                                     (unsigned)600, MHD_OPTION_END);
        } else {
                if (parse_listen(o->listen, &sa, err) < 0)
                        return NULL;
                d = MHD_start_daemon(flags, ntohs(sa.sin_port), NULL, NULL, on_request, ctx, MHD_OPTION_SOCK_ADDR, &sa,
                                     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                                     (unsigned)600, MHD_OPTION_END);
        }
        if (!d)
                vs_error_set(err, VS_ERR_SETUP, "cannot listen on %s (in use?)", o->socket ? o->socket : o->listen);
        return d;
}

/* journald reads "<N>" priority prefixes on stderr lines. */
static void log_stderr(void *userdata, int priority, const char *msg)
{
        (void)userdata;
        fprintf(stderr, "<%d>vmsandbox: %s\n", priority, msg);
}

int vs_server_run(const vs_server_opts *o, vs_error *err)
{
        server_ctx ctx = { .max_body = o->max_body, .max_upload = o->service.max_upload };
        struct MHD_Daemon *d;
        sigset_t set;
        int sig;

        if (read_token(o->token_file, &ctx, err) < 0)
                return -1;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit: signals come to sigwait */
        signal(SIGPIPE, SIG_IGN);
        vs_service_opts so = o->service;

        so.log = log_stderr;
        if (vs_service_open(&so, &ctx.svc, err) < 0)
                return -1;
        d = start_daemon(o, &ctx, err);
        if (!d) {
                vs_service_drain(ctx.svc, 0);
                vs_service_free(ctx.svc);
                return -1;
        }
        fprintf(stderr, "<6>vmsandbox: serving on %s (max %u VMs, %llu MiB guest memory)\n",
                o->socket ? o->socket : o->listen, o->service.max_jobs,
                (unsigned long long)(o->service.memory_budget >> 20));
        sigwait(&set, &sig);
        fprintf(stderr, "<6>vmsandbox: %s: draining (running jobs get %llu s)\n", strsignal(sig),
                (unsigned long long)(o->grace_ms / 1000));
        MHD_quiesce_daemon(d);
        vs_service_drain(ctx.svc, o->grace_ms);
        MHD_stop_daemon(d);
        vs_service_free(ctx.svc);
        if (o->socket)
                unlink(o->socket);
        fprintf(stderr, "<6>vmsandbox: stopped\n");
        return 0;
}

/* Depth and size are bounded before jansson sees the text. */
json_t *parse_body(const request *rq, vs_error *err)
{
        return vs_json_load_bounded(rq->body, rq->body_len, (size_t)-1, VS_JSON_DEPTH_MAX, VS_ERR_USAGE, err);
}
