#include "server.h"
#include "alloc.h"
#include "cleanup.h"
#include "fsutil.h"
#include "jsonload.h"
#include "parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

struct vs_server {
        server_ctx ctx;
};

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
        case VS_ERR_LIMIT:
                return 429;
        case VS_ERR_NO_SPACE:
                return 507;
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

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
        enum MHD_Result ret;

        if (!r)
                return MHD_NO;
        ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
        char *text = body ? json_dumps(body, JSON_INDENT(2)) : NULL;
        struct MHD_Response *r;

        json_decref(body);
        if (!text)
                return MHD_NO;
        r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "application/json");
        return queue(c, status, r);
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

/* An early error answer with one extra header, before any route runs. */
static enum MHD_Result respond_early(struct MHD_Connection *c, unsigned status, const char *code, const char *msg,
                                     const char *header, const char *value)
{
        _cleanup_json_ json_t *body = vs_xjson(json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
        char *text = json_dumps(body, JSON_INDENT(2));
        struct MHD_Response *r;

        if (!text)
                return MHD_NO;
        r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "application/json");
        MHD_add_response_header(r, header, value);
        return queue(c, status, r);
}

/* A 413 before the body is read: the connection closes after it, so
 * nothing more of the body is taken in. */
static enum MHD_Result respond_too_large(const request *rq, const char *msg)
{
        _cleanup_json_ json_t *body = NULL;
        struct MHD_Response *r;
        char *text;

        if (rq->l->api != ROUTE_API_DOCKER)
                return respond_early(rq->c, 413, "too_large", msg, "Connection", "close");
        body = vs_xjson(json_pack("{s:s}", "message", msg));
        text = json_dumps(body, JSON_COMPACT);
        if (!text)
                return MHD_NO;
        r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "application/json");
        MHD_add_response_header(r, "Connection", "close");
        return docker_respond(rq->c, 413, r);
}

/* 503 to a request that would hold a connection past the headroom. */
static enum MHD_Result respond_busy(struct MHD_Connection *c)
{
        return respond_early(c, 503, "busy",
                             "too many log follows, waits, uploads and downloads at once; try again later",
                             "Retry-After", "10");
}

bool client_gone(struct MHD_Connection *c)
{
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct pollfd p;

        if (!ci)
                return false;
        p = (struct pollfd){ .fd = ci->connect_fd, .events = POLLRDHUP };
        return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* ---- who is asking ------------------------------------------------------------ */

/* The admin token (--token-file) or a client token (tokens.h); compared in
 * constant time, so timing tells nothing about a token's prefix. */
static bool identify(server_ctx *ctx, request *rq)
{
        const char *h = MHD_lookup_connection_value(rq->c, MHD_HEADER_KIND, "Authorization");
        size_t len;

        if (!h || strncmp(h, "Bearer ", 7) != 0)
                return false;
        h += 7;
        len = strlen(h);
        if (len == ctx->token_len && vs_secure_equal(h, ctx->token, len)) {
                rq->admin = true;
                rq->owner = NULL;
                return true;
        }
        /* Never an owner: a metrics token reaches no job (start_request). */
        if (ctx->metrics_token_len && len == ctx->metrics_token_len && vs_secure_equal(h, ctx->metrics_token, len)) {
                rq->metrics_only = true;
                return true;
        }
        if (ctx->tokens && vs_tokens_lookup(ctx->tokens, h, len, rq->owner_buf)) {
                rq->owner = rq->owner_buf;
                return true;
        }
        return false;
}

/* ---- connections held long --------------------------------------------------- */

/* A follow, a /v1/run wait, an upload or a download may keep its connection
 * for as long as a job runs or a client reads: without a bound, such
 * requests take every connection slot (MHD's --max-connections, and the
 * --max-per-ip of an address that all clients behind a proxy share) and
 * nobody, the admin included, gets in.  They may take three quarters of
 * each; the admin's requests are counted but never refused. */
static void hold_init(hold_table *h, unsigned limit, unsigned per_ip, unsigned per_owner, bool tcp)
{
        unsigned reserve = limit / 4 ? limit / 4 : 1, ip_reserve = per_ip / 4 ? per_ip / 4 : 1;

        pthread_mutex_init(&h->lock, NULL);
        h->max = limit > reserve ? limit - reserve : 1;
        h->per_addr_max = !tcp ? 0 : per_ip > ip_reserve ? per_ip - ip_reserve : 1;
        h->per_owner_max = per_owner ? per_owner : h->max / 4 ? h->max / 4 : 1;
        h->nslots = limit;
        h->addrs = tcp ? vs_xcalloc(limit, sizeof(*h->addrs)) : NULL;
        h->owners = vs_xcalloc(limit, sizeof(*h->owners));
}

static void hold_free(hold_table *h)
{
        pthread_mutex_destroy(&h->lock);
        free(h->addrs);
        free(h->owners);
}

/* Under h->lock: the slot of owner, else a free one, else nslots. */
static size_t hold_owner_slot_locked(const hold_table *h, const char *owner)
{
        size_t slot = h->nslots;

        for (size_t i = 0; i < h->nslots; i++) {
                if (h->owners[i].n > 0 && strcmp(h->owners[i].owner, owner) == 0)
                        return i;
                if (h->owners[i].n == 0 && slot == h->nslots)
                        slot = i;
        }
        return slot;
}

typedef enum {
        HOLD_OK,
        HOLD_BUSY,      /* over what all may hold, or an address: 503 */
        HOLD_OWNER,     /* over the owner's share: 429 */
        HOLD_LAST
} hold_verdict;

/* Counts rq in, or says which bound it is over. */
static hold_verdict hold_take(hold_table *h, request *rq)
{
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(rq->c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        bool per_addr = h->per_addr_max && ci && ci->client_addr && ci->client_addr->sa_family == AF_INET;
        uint32_t a = per_addr ? ((const struct sockaddr_in *)ci->client_addr)->sin_addr.s_addr : 0;
        size_t slot = h->nslots, oslot;
        bool ok, owner_ok = true;

        pthread_mutex_lock(&h->lock);
        ok = rq->admin || h->n < h->max;
        /* The admin's requests have no owner (rq->owner NULL). */
        oslot = rq->owner ? hold_owner_slot_locked(h, rq->owner) : h->nslots;
        if (ok && rq->owner)
                ok = owner_ok = oslot < h->nslots && h->owners[oslot].n < h->per_owner_max;
        for (size_t i = 0; per_addr && i < h->nslots; i++) {
                if (h->addrs[i].n > 0 && h->addrs[i].addr == a) {
                        slot = i;
                        break;
                }
                if (h->addrs[i].n == 0 && slot == h->nslots)
                        slot = i;
        }
        if (ok && slot < h->nslots && h->addrs[slot].n > 0 && h->addrs[slot].addr == a)
                ok = rq->admin || h->addrs[slot].n < h->per_addr_max;
        if (ok) {
                h->n++;
                rq->held = true;
                if (rq->owner) {
                        snprintf(h->owners[oslot].owner, sizeof(h->owners[oslot].owner), "%s", rq->owner);
                        h->owners[oslot].n++;
                        rq->held_owner = true;
                }
                if (slot < h->nslots) { /* no free slot: more holds than connections cannot be */
                        h->addrs[slot].addr = a;
                        h->addrs[slot].n++;
                        rq->held_addr = true;
                        rq->addr = a;
                }
        }
        pthread_mutex_unlock(&h->lock);
        return ok ? HOLD_OK : owner_ok ? HOLD_BUSY : HOLD_OWNER;
}

static void hold_release(hold_table *h, request *rq)
{
        if (!rq->held)
                return;
        pthread_mutex_lock(&h->lock);
        h->n--;
        for (size_t i = 0; rq->held_addr && i < h->nslots; i++)
                if (h->addrs[i].n > 0 && h->addrs[i].addr == rq->addr) {
                        h->addrs[i].n--;
                        break;
                }
        if (rq->held_owner) {
                size_t i = hold_owner_slot_locked(h, rq->owner);
                if (i < h->nslots && h->owners[i].n > 0 && strcmp(h->owners[i].owner, rq->owner) == 0)
                        h->owners[i].n--;
        }
        pthread_mutex_unlock(&h->lock);
        rq->held = false;
}

/* ---- temp files ------------------------------------------------------------------ */

static void tmp_init(tmp_quota *q, unsigned slots)
{
        pthread_mutex_init(&q->lock, NULL);
        q->nslots = slots;
        q->owners = vs_xcalloc(slots, sizeof(*q->owners));
}

/* The bounds, once tmp_dir exists: its filesystem sizes the defaults. */
static void tmp_bounds(tmp_quota *q, const char *dir, const vs_server_opts *o)
{
        struct statvfs fs;

        q->max = o->tmp_space;
        if (!q->max)
                q->max = statvfs(dir, &fs) == 0 && fs.f_blocks > 0 ? (uint64_t)fs.f_blocks * fs.f_frsize / 4
                                                                   : 16ull << 30;
        q->per_owner_max = o->owner_tmp_space;
        if (!q->per_owner_max) {
                q->per_owner_max = q->max / 4 > o->service.max_upload ? q->max / 4 : o->service.max_upload;
                if (q->per_owner_max > q->max)
                        q->per_owner_max = q->max;
        }
}

static void tmp_free(tmp_quota *q)
{
        if (!q->owners)
                return;
        pthread_mutex_destroy(&q->lock);
        free(q->owners);
}

/* Under q->lock: owner's slot, else a free one, else nslots. */
static size_t tmp_slot_locked(const tmp_quota *q, const char *owner)
{
        size_t slot = q->nslots;

        for (size_t i = 0; i < q->nslots; i++) {
                if (q->owners[i].bytes > 0 && strcmp(q->owners[i].owner, owner) == 0)
                        return i;
                if (q->owners[i].bytes == 0 && slot == q->nslots)
                        slot = i;
        }
        return slot;
}

int tmp_charge(server_ctx *ctx, request *rq, uint64_t add, vs_error *err)
{
        tmp_quota *q = &ctx->tmp;
        char a[32], b[32], c[32];
        size_t slot;
        int r = 0;

        if (add == 0)
                return 0;
        pthread_mutex_lock(&q->lock);
        slot = rq->owner ? tmp_slot_locked(q, rq->owner) : q->nslots;
        if (add > q->max || q->total > q->max - add)
                r = vs_error_set(err, VS_ERR_NO_SPACE,
                                 "the service's temporary space is used up: %s of %s held, %s more asked for (serve "
                                 "--tmp-space)",
                                 vs_format_size(q->total, a, sizeof(a)), vs_format_size(q->max, b, sizeof(b)),
                                 vs_format_size(add, c, sizeof(c)));
        else if (rq->owner && (slot == q->nslots || add > q->per_owner_max ||
                               q->owners[slot].bytes > q->per_owner_max - add))
                r = vs_error_set(err, VS_ERR_NO_SPACE,
                                 "%s%s's temporary space is used up: %s of %s held, %s more asked for (serve "
                                 "--owner-tmp-space)",
                                 rq->l->api == ROUTE_API_DOCKER ? "tenant " : "client ",
                                 rq->l->api == ROUTE_API_DOCKER ? rq->l->tenant : rq->owner,
                                 vs_format_size(slot < q->nslots ? q->owners[slot].bytes : 0, a, sizeof(a)),
                                 vs_format_size(q->per_owner_max, b, sizeof(b)), vs_format_size(add, c, sizeof(c)));
        if (r == 0) {
                q->total += add;
                if (rq->owner) {
                        snprintf(q->owners[slot].owner, sizeof(q->owners[slot].owner), "%s", rq->owner);
                        q->owners[slot].bytes += add;
                }
                rq->tmp_charged += add;
        }
        pthread_mutex_unlock(&q->lock);
        return r;
}

void tmp_usage(server_ctx *ctx, uint64_t *held, uint64_t *max)
{
        pthread_mutex_lock(&ctx->tmp.lock);
        *held = ctx->tmp.total;
        *max = ctx->tmp.max;
        pthread_mutex_unlock(&ctx->tmp.lock);
}

static void tmp_release(tmp_quota *q, request *rq)
{
        if (!rq->tmp_charged)
                return;
        pthread_mutex_lock(&q->lock);
        q->total -= rq->tmp_charged;
        if (rq->owner) {
                size_t slot = tmp_slot_locked(q, rq->owner);
                if (slot < q->nslots && q->owners[slot].bytes >= rq->tmp_charged &&
                    strcmp(q->owners[slot].owner, rq->owner) == 0)
                        q->owners[slot].bytes -= rq->tmp_charged;
        }
        pthread_mutex_unlock(&q->lock);
        rq->tmp_charged = 0;
}

/* ---- request lifecycle ----------------------------------------------------------- */

static void request_free(request *rq)
{
        if (rq->on_free)
                rq->on_free(rq->on_free_arg);
        vs_service_upload_abort(rq->ctx->svc, rq->upload); /* an upload that did not complete */
        hold_release(&rq->ctx->holds, rq);
        if (rq->body_fd >= 0)
                close(rq->body_fd);
        rq->body_fd = -1;
        tmp_release(&rq->ctx->tmp, rq); /* the body is gone (or the store's now) */
        for (size_t i = 0; i < ROUTE_CAPTURES_MAX; i++)
                free(rq->capture[i]);
        free(rq->body);
        free(rq);
}

void server_on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe)
{
        (void)cls, (void)c, (void)toe;
        if (*req_cls)
                request_free(*req_cls);
        *req_cls = NULL;
}

static void take_body(server_ctx *ctx, request *rq, const char *data, size_t len)
{
        if (rq->too_large || rq->body_len + len > ctx->max_body) {
                rq->too_large = true;
                return;
        }
        rq->body = vs_xrealloc(rq->body, rq->body_len + len + 1);
        memcpy(rq->body + rq->body_len, data, len);
        rq->body_len += len;
        rq->body[rq->body_len] = '\0';
}

/* A piece of an upload: -1 when it is over a limit (the quotas, the size):
 * reading stops there.  A failure to store it is answered at the end. */
static int take_upload(server_ctx *ctx, request *rq, const char *data, size_t len)
{
        if (rq->upload_failed)
                return 0;
        if (vs_service_upload_write(ctx->svc, rq->upload, data, len, &rq->upload_err) < 0) {
                if (rq->upload_err.kind != VS_ERR_SANDBOX)
                        return -1;
                rq->upload_failed = true;
        }
        return 0;
}

/* A piece of a ROUTE_BODY_FILE body: -1 past max_upload or when it cannot
 * be stored (reading stops; the answer is 413 or 507). */
static int take_file(server_ctx *ctx, request *rq, const char *data, size_t len)
{
        if (rq->body_fd_len + len > ctx->max_upload) {
                rq->too_large = true;
                return -1;
        }
        /* A chunked body is charged as it grows (a declared one at start). */
        if (rq->body_fd_len + len > rq->tmp_charged &&
            tmp_charge(ctx, rq, rq->body_fd_len + len - rq->tmp_charged, &rq->upload_err) < 0) {
                rq->upload_failed = true;
                return -1;
        }
        if (vs_write_full(rq->body_fd, data, len) < 0) {
                vs_error_errno(&rq->upload_err, errno == ENOSPC || errno == EDQUOT ? VS_ERR_NO_SPACE : VS_ERR_SANDBOX,
                               errno, "cannot store the request body");
                rq->upload_failed = true;
                return -1;
        }
        rq->body_fd_len += len;
        return 0;
}

/* The Content-Length the client announced; 0 when none (chunked). */
static uint64_t declared_length(struct MHD_Connection *c)
{
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        char *end;
        unsigned long long n;

        if (!cl)
                return 0;
        errno = 0;
        n = strtoull(cl, &end, 10);
        return errno == ERANGE || *end != '\0' ? UINT64_MAX : n;
}

/* Content-Length over the limit: refused before a byte of the body is read. */
static bool declared_too_large(struct MHD_Connection *c, uint64_t max)
{
        return declared_length(c) > max;
}

/* The body kinds that need something before the first byte arrives. */
static enum MHD_Result start_body(server_ctx *ctx, request *rq)
{
        struct MHD_Connection *c = rq->c;
        vs_error err = { 0 };
        char msg[96];

        switch (rq->route->body) {
        case ROUTE_BODY_JSON:
                if (declared_too_large(c, ctx->max_body))
                        return respond_too_large(rq, "request body over the limit");
                break;
        case ROUTE_BODY_UPLOAD:
        case ROUTE_BODY_FILE:
                snprintf(msg, sizeof(msg), "upload larger than the %llu-byte limit", (unsigned long long)ctx->max_upload);
                if (declared_too_large(c, ctx->max_upload))
                        return respond_too_large(rq, msg);
                if (rq->route->body == ROUTE_BODY_FILE) {
                        /* A declared length over the temp quota: 507 before the body is read. */
                        if (tmp_charge(ctx, rq, declared_length(c), &err) < 0)
                                return rq->l->api == ROUTE_API_DOCKER ? docker_respond_error(c, &err)
                                                                      : respond_error(c, &err);
                        rq->body_fd = open(ctx->tmp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
                        if (rq->body_fd < 0) {
                                vs_error_errno(&err, VS_ERR_SANDBOX, errno, "cannot store the request body");
                                return rq->l->api == ROUTE_API_DOCKER ? docker_respond_error(c, &err)
                                                                      : respond_error(c, &err);
                        }
                        break;
                }
                /* A declared length over a quota: 507 before the body is read. */
                if (vs_service_upload_begin(ctx->svc, rq->owner, rq->capture[0], rq->route->arg, declared_length(c),
                                            &rq->upload, &err) < 0)
                        return respond_error(c, &err);
                break;
        case ROUTE_BODY_NONE:
        case ROUTE_BODY_LAST:
                break;
        }
        return MHD_YES;
}

/* A Docker socket: no token; who connects is the socket's tenant (its file
 * mode and group are the access control). */
static enum MHD_Result start_docker(server_ctx *ctx, request *rq, const char *url)
{
        if (docker_strip_version(url, &rq->path, &rq->api_version) < 0)
                return docker_respond_message(rq->c, 400, "malformed API version in %.64s", url);
        if (rq->api_version && rq->api_version > DOCKER_API_NUM)
                return docker_respond_message(rq->c, 400,
                                              "client version %u.%u is too new. Maximum supported API version is "
                                              DOCKER_API_VERSION, rq->api_version / 100, rq->api_version % 100);
        if (rq->api_version && rq->api_version < DOCKER_API_MIN_NUM)
                return docker_respond_message(rq->c, 400,
                                              "client version %u.%u is too old. Minimum supported API version is "
                                              DOCKER_API_MIN_VERSION ", please upgrade your client to a newer version",
                                              rq->api_version / 100, rq->api_version % 100);
        rq->owner = rq->l->owner;
        rq->route = route_match(ctx->routes, ROUTE_API_DOCKER, rq->method, rq->path, rq);
        if (!rq->route)
                return docker_unmatched(rq);
        switch (rq->route->holds ? hold_take(&ctx->holds, rq) : HOLD_OK) {
        case HOLD_OK:
        case HOLD_LAST:
                break;
        case HOLD_BUSY:
                return docker_respond_message(rq->c, 503, "too many streams, waits, uploads and downloads at once; "
                                                          "try again later");
        case HOLD_OWNER:
                return docker_respond_message(rq->c, 429, "tenant %s has %u streams, waits, uploads and downloads "
                                                          "open, its share (serve --owner-holds); try again later",
                                              rq->l->tenant, ctx->holds.per_owner_max);
        }
        return start_body(ctx, rq);
}

static enum MHD_Result start_request(const listener *l, struct MHD_Connection *c, const char *method,
                                     const char *url, void **req_cls)
{
        server_ctx *ctx = l->ctx;
        request *rq = vs_xcalloc(1, sizeof(*rq));
        bool identified;

        rq->ctx = ctx;
        rq->l = l;
        rq->c = c;
        rq->method = method;
        rq->path = url;
        rq->body_fd = -1;
        *req_cls = rq;
        if (l->api == ROUTE_API_DOCKER)
                return start_docker(ctx, rq, url);
        identified = identify(ctx, rq);
        rq->route = route_match(ctx->routes, ROUTE_API_JOBS, method, url, rq);
        if (rq->route && rq->route->access == ROUTE_PUBLIC)
                return MHD_YES;
        if (!identified)
                return respond_code(c, 401, "unauthorized", "a valid bearer token is required");
        if (!rq->route)
                return respond_code(c, 404, "not_found", "no such route");
        if (rq->metrics_only && rq->route->access != ROUTE_METRICS)
                return respond_code(c, 403, "forbidden", "the metrics token reads GET /metrics only");
        if (rq->route->access == ROUTE_ADMIN && !rq->admin)
                return respond_code(c, 403, "forbidden", "this route needs the admin token");
        if (rq->route->access == ROUTE_METRICS && !rq->admin && !rq->metrics_only)
                return respond_code(c, 403, "forbidden", "this route needs the admin or the metrics token");
        switch (rq->route->holds ? hold_take(&ctx->holds, rq) : HOLD_OK) {
        case HOLD_OK:
        case HOLD_LAST:
                break;
        case HOLD_BUSY:
                return respond_busy(c);
        case HOLD_OWNER:
                return respond_early(c, 429, "limit",
                                     "this token has as many log follows, waits, uploads and downloads open as it may "
                                     "(serve --owner-holds); try again later",
                                     "Retry-After", "10");
        }
        return start_body(ctx, rq);
}

enum MHD_Result server_on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
        const listener *l = cls;
        server_ctx *ctx = l->ctx;
        request *rq = *req_cls;

        (void)version;
        if (!rq)
                return start_request(l, c, method, url, req_cls);
        if (*upload_data_size > 0) {
                /* A chunked upload past a limit or quota: stop reading, close. */
                if (rq->upload && take_upload(ctx, rq, upload_data, *upload_data_size) < 0)
                        return MHD_NO;
                if (rq->body_fd >= 0 && take_file(ctx, rq, upload_data, *upload_data_size) < 0)
                        return MHD_NO;
                /* A chunked body past the limit: stop reading, close. */
                if (!rq->upload && rq->body_fd < 0 &&
                    (take_body(ctx, rq, upload_data, *upload_data_size), rq->too_large))
                        return MHD_NO;
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (rq->too_large)
                return respond_too_large(rq, "request body over the limit");
        if (rq->upload_failed)
                return l->api == ROUTE_API_DOCKER ? docker_respond_error(c, &rq->upload_err)
                                                  : respond_error(c, &rq->upload_err);
        if (rq->body_fd >= 0 && lseek(rq->body_fd, 0, SEEK_SET) < 0)
                return MHD_NO;
        return rq->route->fn(ctx, rq);
}

/* ---- setup --------------------------------------------------------------------- */

/* A token file's first line (>= 16 characters) into buf (256 bytes). */
static int read_token_into(const char *path, char *buf, size_t *ret_len, vs_error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len;

        if (vs_read_file(path, 255, &text, &len, err) < 0)
                return -1;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
                len--;
        if (len < 16)
                return vs_error_set(err, VS_ERR_USAGE, "the token in %s is shorter than 16 characters", path);
        memcpy(buf, text, len);
        *ret_len = len;
        return 0;
}

static int read_token(const vs_server_opts *o, server_ctx *ctx, vs_error *err)
{
        if (!o->token_file)
                return vs_error_set(err, VS_ERR_USAGE, "--token-file is required: every route but /v1/health needs a bearer token");
        if (read_token_into(o->token_file, ctx->token, &ctx->token_len, err) < 0 ||
            (o->metrics_token_file &&
             read_token_into(o->metrics_token_file, ctx->metrics_token, &ctx->metrics_token_len, err) < 0))
                return -1;
        if (ctx->metrics_token_len == ctx->token_len && vs_secure_equal(ctx->token, ctx->metrics_token, ctx->token_len))
                return vs_error_set(err, VS_ERR_USAGE, "--metrics-token-file holds the admin token: give it a token of its own");
        return 0;
}

/* journald reads "<N>" priority prefixes on stderr lines. */
static void log_stderr(void *userdata, int priority, const char *msg)
{
        (void)userdata;
        fprintf(stderr, "<%d>vmsandbox: %s\n", priority, msg);
}

static void server_free(vs_server *srv)
{
        if (srv->ctx.svc)
                vs_service_free(srv->ctx.svc);
        vs_tokens_free(srv->ctx.tokens);
        hold_free(&srv->ctx.holds);
        tmp_free(&srv->ctx.tmp);
        vs_imgstore_free(srv->ctx.images);
        free(srv->ctx.tmp_dir);
        free(srv);
}


/* A private directory for request bodies (unnamed files in it). */
static int make_tmp_dir(server_ctx *ctx, const vs_server_opts *o, const char *state_dir, vs_error *err)
{
        ctx->tmp_dir = vs_xasprintf("%s/server/tmp", state_dir);
        if (vs_mkdir_p(ctx->tmp_dir, 0700, err) < 0)
                return -1;
        tmp_bounds(&ctx->tmp, ctx->tmp_dir, o);
        return 0;
}

/* The Docker sockets' image store, beside the server's jobs and tmp_dir
 * (uploads are linked in from there: the same filesystem).  Not
 * STATE_DIR/images: with the default state dir that is where the base
 * images live, and the store makes its directory 0700. */
static int open_images(server_ctx *ctx, const vs_server_opts *o, const char *state_dir, vs_error *err)
{
        _cleanup_free_ char *dir = vs_xasprintf("%s/server/images", state_dir);

        if (vs_imgstore_open(dir, &ctx->images, err) < 0)
                return -1;
        vs_imgstore_set_tenant_quota(ctx->images, o->tenant_images, o->tenant_image_space);
        return 0;
}

int vs_server_start(const vs_server_opts *o, vs_server **ret, vs_error *err)
{
        vs_server *srv = vs_xcalloc(1, sizeof(*srv));
        vs_service_opts so = o->service;
        unsigned limit = o->max_connections ? o->max_connections : 256;
        unsigned per_ip = o->max_per_ip ? o->max_per_ip : 64;
        unsigned idle = o->idle_timeout_s ? o->idle_timeout_s : 60;
        bool jobs = o->listen || o->socket;

        srv->ctx.max_body = o->max_body;
        srv->ctx.max_upload = o->service.max_upload;
        srv->ctx.idle_timeout_s = idle;
        srv->ctx.routes = api_routes;
        srv->ctx.cfg = o->service.cfg;
        /* A TCP listener counts per address; the unix sockets do not. */
        hold_init(&srv->ctx.holds, limit, per_ip, o->owner_holds, jobs && !o->socket);
        tmp_init(&srv->ctx.tmp, limit);
        if (!so.log)
                so.log = log_stderr;
        /* A follow of a job nobody starts ends as an idle connection would. */
        if (!so.follow_created_ms)
                so.follow_created_ms = (uint64_t)idle * 1000;
        /* Containers of the Docker sockets run the store's images. */
        if (!so.image_resolve) {
                so.image_resolve = docker_image_resolve;
                so.image_userdata = &srv->ctx;
        }
        srv->ctx.image_in_use = docker_image_in_use;
        srv->ctx.image_in_use_userdata = &srv->ctx;
        if (!jobs && o->ndocker == 0) {
                vs_error_set(err, VS_ERR_USAGE, "nothing to serve: give --listen, --socket or --docker-socket");
                server_free(srv);
                return -1;
        }
        if ((jobs && read_token(o, &srv->ctx, err) < 0) ||
            vs_tokens_open(o->service.cfg->state_dir, &srv->ctx.tokens, err) < 0 ||
            make_tmp_dir(&srv->ctx, o, o->service.cfg->state_dir, err) < 0 ||
            open_images(&srv->ctx, o, o->service.cfg->state_dir, err) < 0 ||
            vs_service_open(&so, &srv->ctx.svc, err) < 0) {
                server_free(srv);
                return -1;
        }
        if (listeners_start(&srv->ctx, o, limit, per_ip, idle, err) < 0) {
                listeners_stop(&srv->ctx);
                server_free(srv);
                return -1;
        }
        *ret = srv;
        return 0;
}

/* Shutdown ends: the drain ends every follow and wait of a job that is not
 * running at once, and running jobs within grace_ms (then they are
 * cancelled); so MHD_stop_daemon finds every handler returning. */
void vs_server_stop(vs_server *srv, uint64_t grace_ms)
{
        listeners_quiesce(&srv->ctx);
        vs_service_drain(srv->ctx.svc, grace_ms);
        listeners_stop(&srv->ctx);
        server_free(srv);
}

vs_service *vs_server_service(vs_server *srv)
{
        return srv->ctx.svc;
}

vs_imgstore *vs_server_images(vs_server *srv)
{
        return srv->ctx.images;
}

unsigned vs_server_connections(vs_server *srv)
{
        return listeners_connections(&srv->ctx);
}

void vs_server_tmp_usage(vs_server *srv, uint64_t *held, uint64_t *max)
{
        tmp_usage(&srv->ctx, held, max);
}

int vs_server_run(const vs_server_opts *o, vs_error *err)
{
        vs_server *srv;
        sigset_t set;
        int sig;

        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit: signals come to sigwait */
        signal(SIGPIPE, SIG_IGN);
        if (vs_server_start(o, &srv, err) < 0)
                return -1;
        if (o->socket || o->listen)
                fprintf(stderr, "<6>vmsandbox: job API on %s\n", o->socket ? o->socket : o->listen);
        for (size_t i = 0; i < o->ndocker; i++)
                fprintf(stderr, "<6>vmsandbox: Docker API on %s (tenant %s)\n", o->docker[i].path,
                        o->docker[i].tenant ? o->docker[i].tenant : "default");
        fprintf(stderr, "<6>vmsandbox: serving (max %u VMs, %llu MiB guest memory)\n", o->service.max_jobs,
                (unsigned long long)(o->service.memory_budget >> 20));
        sigwait(&set, &sig);
        fprintf(stderr, "<6>vmsandbox: %s: draining (running jobs get %llu s)\n", strsignal(sig),
                (unsigned long long)(o->grace_ms / 1000));
        vs_server_stop(srv, o->grace_ms);
        fprintf(stderr, "<6>vmsandbox: stopped\n");
        return 0;
}

/* Depth and size are bounded before jansson sees the text. */
json_t *parse_body(const request *rq, vs_error *err)
{
        return vs_json_load_bounded(rq->body, rq->body_len, (size_t)-1, VS_JSON_DEPTH_MAX, VS_ERR_USAGE, err);
}
