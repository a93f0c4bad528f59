/* The Docker socket's output streams (docs/docker-api.md "Logs and
 * attach"): GET /containers/{id}/logs and POST /containers/{id}/attach,
 * over the service's stream readers (service_streams.h).
 *
 * Without a Tty, every piece goes out as one of Docker's multiplexed frames
 * (8 bytes {stream, 0, 0, 0, u32 BE size}, then size bytes); with a Tty the
 * bytes go out raw.  Timestamps are Docker's (RFC 3339, nanoseconds, UTC,
 * and a space) at the start of every line of a stream.
 *
 * attach answers in two forms: a long-lived 200 (dockerode, docker-py
 * without hijacking) and, when the client asks for `Upgrade: tcp` (the
 * docker CLI), 101 and the stream on the raw socket.  The client's stdin is
 * read and thrown away, a bounded piece at a time: vmsandbox has no live
 * input into a container. */
#include "server.h"
#include "alloc.h"
#include "service_streams.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

/* Payload of one frame at most (Docker's own copier uses 32 KiB). */
#define FRAME_MAX (32u << 10)
/* "2006-01-02T15:04:05.000000000Z " */
#define TS_LEN 31
/* What a hijacked connection reads of the client's stdin per look. */
#define STDIN_PIECE (16u << 10)

typedef struct {
        vs_service *svc;
        struct MHD_Connection *c;  /* the plain form: its client_gone */
        const listener *l;         /* the socket it came on */
        int sock;                  /* the hijacked form: the raw socket; -1 otherwise */
        bool stdin_closed;         /* the client shut its sending side */
        unsigned send_timeout_s;   /* a hijacked client that reads nothing this long is dropped */
        vs_streams_reader *r;
        unsigned refs;             /* the request's, and the upgrade handler's while it runs */
        unsigned want;             /* streams to pass on (attach may ask for none) */
        bool tty, timestamps;
        bool line_start[3];        /* per stream: the next byte begins a line */
        vs_streams_chunk chunk;    /* the record being sent */
        size_t used;               /* of chunk */
        bool have;                 /* chunk holds bytes not sent yet */
        unsigned char out[8 + FRAME_MAX];
        size_t out_len, out_pos;
} stream_out;

/* ---- the request's parameters -------------------------------------------------- */

/* Docker's booleans: absent, "", "0", "no", "false" and "none" are false. */
static bool docker_bool(struct MHD_Connection *c, const char *key)
{
        const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
        static const char *const no[] = { "", "0", "no", "false", "none" };

        if (!v)
                return false;
        for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
                if (strcasecmp(v, no[i]) == 0)
                        return false;
        return true;
}

/* since/until as the CLI sends them: unix seconds with up to nine decimals
 * ("1733170000.123456789"); absent, empty or 0 is no bound. */
static int docker_time(struct MHD_Connection *c, const char *key, int64_t *ret_ns)
{
        const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key), *p;
        int64_t sec = 0, frac = 0;
        int digits = 0;

        *ret_ns = 0;
        if (!v || !*v)
                return 0;
        for (p = v; *p >= '0' && *p <= '9'; p++, digits++)
                if (digits >= 10)
                        return -1; /* past the year 2286 */
                else
                        sec = sec * 10 + (*p - '0');
        if (digits == 0 || sec > INT64_MAX / 1000000000 - 1)
                return -1;
        if (*p == '.') {
                int n = 0;
                for (p++; *p >= '0' && *p <= '9' && n < 9; p++, n++)
                        frac = frac * 10 + (*p - '0');
                if (n == 0)
                        return -1;
                for (; n < 9; n++)
                        frac *= 10;
        }
        if (*p)
                return -1;
        *ret_ns = sec * 1000000000 + frac;
        return 0;
}

/* tail: "all" (or absent) is everything, as is a negative count. */
static int docker_tail(struct MHD_Connection *c, long long *ret)
{
        const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "tail");
        char *end;
        long long n;

        *ret = -1;
        if (!v || !*v || strcmp(v, "all") == 0)
                return 0;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno || *end || end == v)
                return -1;
        *ret = n < 0 ? -1 : n;
        return 0;
}

/* The one place that knows what a container is to this file: the job the
 * path names for owner (by id, name or id prefix, as Docker looks them up)
 * and its Tty flag (the record's Docker facts). */
static int container_of(server_ctx *ctx, request *rq, char ret_id[13], bool *ret_tty, vs_error *err)
{
        vs_container_info info = { 0 };

        if (vs_service_container_find(ctx->svc, rq->owner, rq->capture[0], ret_id, err) < 0 ||
            vs_service_container_info(ctx->svc, rq->owner, ret_id, &info, err) < 0)
                return -1;
        *ret_tty = info.c && info.c->tty;
        vs_container_info_clear(&info);
        return 0;
}

/* A container gone between the lookup and the reader's open. */
static enum MHD_Result no_such_container(request *rq)
{
        return docker_respond_message(rq->c, 404, "No such container: %.200s", rq->capture[0]);
}

/* API 1.42 named the multiplexed form; before it, both forms are raw-stream. */
static const char *stream_type(const request *rq, bool tty)
{
        unsigned v = rq->api_version ? rq->api_version : DOCKER_API_NUM;

        return !tty && v >= 142 ? "application/vnd.docker.multiplexed-stream" : "application/vnd.docker.raw-stream";
}

/* ---- the stream ---------------------------------------------------------------- */

static void stream_unref(stream_out *so)
{
        if (!so || __atomic_sub_fetch(&so->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        vs_service_streams_close(so->svc, so->r);
        free(so);
}

static void stream_unref_cb(void *so)
{
        stream_unref(so);
}

/* Record times are 0..2^63 ns: years 1970..2262, four digits. */
static void timestamp(int64_t ns, char out[TS_LEN])
{
        time_t sec = (time_t)(ns / 1000000000);
        char text[80];
        struct tm tm;

        gmtime_r(&sec, &tm);
        snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(ns % 1000000000));
        memcpy(out, text, TS_LEN);
}

/* The next piece of output into so->out (a frame, or raw bytes with a Tty):
 * false at the end of the stream. */
static bool next_piece(stream_out *so)
{
        unsigned char *pay = so->out + (so->tty ? 0 : 8);
        size_t n = 0;
        unsigned s;

        while (!so->have) {
                if (vs_service_streams_next(so->svc, so->r, &so->chunk) != 1)
                        return false;
                so->used = 0;
                so->have = so->want & (1u << so->chunk.stream);
        }
        s = so->chunk.stream;
        while (so->used < so->chunk.len && n < FRAME_MAX) {
                const unsigned char *p = so->chunk.data + so->used, *nl;
                size_t left = so->chunk.len - so->used, take;

                if (so->timestamps && so->line_start[s]) {
                        char ts[TS_LEN];
                        if (FRAME_MAX - n < TS_LEN + 1)
                                break;
                        timestamp(so->chunk.time_ns, ts);
                        memcpy(pay + n, ts, TS_LEN);
                        n += TS_LEN;
                }
                nl = memchr(p, '\n', left);
                take = nl ? (size_t)(nl - p) + 1 : left;
                if (take > FRAME_MAX - n)
                        take = FRAME_MAX - n;
                memcpy(pay + n, p, take);
                n += take;
                so->used += take;
                so->line_start[s] = pay[n - 1] == '\n';
        }
        if (so->used == so->chunk.len)
                so->have = false;
        if (!so->tty) {
                so->out[0] = (unsigned char)s;
                so->out[1] = so->out[2] = so->out[3] = 0;
                so->out[4] = (unsigned char)(n >> 24);
                so->out[5] = (unsigned char)(n >> 16);
                so->out[6] = (unsigned char)(n >> 8);
                so->out[7] = (unsigned char)n;
        }
        so->out_len = n + (so->tty ? 0 : 8);
        so->out_pos = 0;
        return true;
}

/* The plain form: MHD asks for bytes; this blocks in the reader (which
 * sleeps) until there are some or the stream ends. */
static ssize_t plain_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        stream_out *so = cls;
        size_t n;

        (void)pos;
        if (so->out_pos == so->out_len && !next_piece(so))
                return vs_service_streams_end(so->r) == VS_STREAMS_END_GONE ? MHD_CONTENT_READER_END_WITH_ERROR
                                                                          : MHD_CONTENT_READER_END_OF_STREAM;
        n = so->out_len - so->out_pos < max ? so->out_len - so->out_pos : max;
        memcpy(buf, so->out + so->out_pos, n);
        so->out_pos += n;
        return (ssize_t)n;
}

static bool plain_gone(void *cls)
{
        return client_gone(((stream_out *)cls)->c);
}

/* MHD does not close an upgraded socket when its daemon stops (a tenant's
 * socket removed at run time): it waits for the handler, which ends. */
static bool listener_stopping(const stream_out *so)
{
        return __atomic_load_n(&so->l->stopping, __ATOMIC_ACQUIRE);
}

/* The hijacked form: a client that closed the socket is gone; one that
 * only shut its sending side (stdin at its end) still reads.  What it
 * sends is read and dropped, STDIN_PIECE at a time. */
static bool hijack_gone(void *cls)
{
        stream_out *so = cls;
        struct pollfd p = { .fd = so->sock, .events = so->stdin_closed ? 0 : POLLIN };
        char scratch[STDIN_PIECE];
        ssize_t n;

        if (listener_stopping(so))
                return true;
        if (poll(&p, 1, 0) < 0)
                return errno != EINTR;
        if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
                return true;
        if (!(p.revents & POLLIN))
                return false;
        n = recv(so->sock, scratch, sizeof(scratch), MSG_DONTWAIT);
        if (n == 0)
                so->stdin_closed = true;
        return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

static bool send_all(int sock, const unsigned char *p, size_t len)
{
        while (len > 0) {
                ssize_t n = send(sock, p, len, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return false; /* gone, or not reading for the send timeout */
                p += n;
                len -= (size_t)n;
        }
        return true;
}

/* MHD hands over the socket once the 101 is sent; in thread-per-connection
 * mode this runs in the connection's own thread and may block. */
static void hijacked(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra_in, size_t extra_in_size,
                     MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
        stream_out *so = cls;
        struct timeval tv = { .tv_sec = so->send_timeout_s };

        (void)c, (void)req_cls, (void)extra_in, (void)extra_in_size; /* extra_in: early stdin, dropped */
        __atomic_add_fetch(&so->refs, 1, __ATOMIC_ACQ_REL);
        so->sock = sock;
        /* A client that stops reading ends its stream rather than hold a thread. */
        setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        while (!listener_stopping(so) && next_piece(so))
                if (!send_all(sock, so->out, so->out_len))
                        break;
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        stream_unref(so);
}

static stream_out *stream_new(server_ctx *ctx, vs_streams_reader *r, unsigned want, bool tty, bool timestamps)
{
        stream_out *so = vs_xcalloc(1, sizeof(*so));

        so->svc = ctx->svc;
        so->sock = -1;
        so->send_timeout_s = ctx->idle_timeout_s ? ctx->idle_timeout_s : 60;
        so->r = r;
        so->refs = 1;
        so->want = want;
        so->tty = tty;
        so->timestamps = timestamps;
        so->line_start[1] = so->line_start[2] = true;
        return so;
}

/* Opens the reader with the gone check of the form that will carry it. */
static int open_reader(server_ctx *ctx, request *rq, const char *id, vs_streams_opts *o, stream_out **ret,
                       unsigned want, bool tty, bool timestamps, bool hijack, vs_error *err)
{
        vs_streams_reader *r;
        stream_out *so = stream_new(ctx, NULL, want, tty, timestamps);

        so->c = rq->c;
        so->l = rq->l;
        o->gone = hijack ? hijack_gone : plain_gone;
        o->userdata = so;
        if (vs_service_streams_open(ctx->svc, rq->owner, id, o, &r, err) < 0) {
                free(so);
                return -1;
        }
        so->r = r;
        *ret = so;
        return 0;
}

/* A long-lived 200 whose body is the stream. */
static enum MHD_Result respond_plain(request *rq, stream_out *so, const char *type, bool follow)
{
        struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, plain_read, so,
                                                                   stream_unref_cb);

        if (!r) {
                stream_unref(so);
                return MHD_NO;
        }
        /* A follow may be quiet for long: it notices a client gone itself. */
        if (follow)
                MHD_set_connection_option(rq->c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)0);
        MHD_add_response_header(r, "Content-Type", type);
        if (follow)
                MHD_add_response_header(r, "Connection", "close");
        return docker_respond(rq->c, 200, r);
}

/* ---- the routes ------------------------------------------------------------------ */

enum MHD_Result docker_logs(server_ctx *ctx, request *rq)
{
        vs_streams_opts o = { .tail = -1 };
        bool out = docker_bool(rq->c, "stdout"), errs = docker_bool(rq->c, "stderr"), tty;
        vs_job_state st;
        vs_error err = { 0 };
        stream_out *so;
        char id[13];

        if (!out && !errs)
                return docker_respond_message(rq->c, 400, "Bad parameters: you must choose at least one stream");
        if (docker_time(rq->c, "since", &o.filter.since_ns) < 0)
                return docker_respond_message(rq->c, 400, "invalid since: expected unix seconds[.nanoseconds]");
        if (docker_time(rq->c, "until", &o.filter.until_ns) < 0)
                return docker_respond_message(rq->c, 400, "invalid until: expected unix seconds[.nanoseconds]");
        if (docker_tail(rq->c, &o.tail) < 0)
                return docker_respond_message(rq->c, 400, "invalid tail: expected a number of lines or \"all\"");
        if (container_of(ctx, rq, id, &tty, &err) < 0)
                return docker_respond_error(rq->c, &err);
        o.filter.streams = (out ? 1u << VS_STREAM_STDOUT : 0) | (errs ? 1u << VS_STREAM_STDERR : 0);
        /* As dockerd: a container that is not running (created, ended) is
         * not followed, its logs are what is there. */
        o.follow = docker_bool(rq->c, "follow") && vs_service_state(ctx->svc, rq->owner, id, &st, &err) == 0 &&
                   (st == VS_JOB_QUEUED || st == VS_JOB_RUNNING);
        if (open_reader(ctx, rq, id, &o, &so, o.filter.streams, tty, docker_bool(rq->c, "timestamps"), false, &err) < 0)
                return err.kind == VS_ERR_NOT_FOUND ? no_such_container(rq) : docker_respond_error(rq->c, &err);
        return respond_plain(rq, so, stream_type(rq, tty), o.follow);
}

/* The docker CLI's form: `Upgrade: tcp` (dockerd takes any Upgrade header). */
static bool wants_hijack(struct MHD_Connection *c)
{
        return MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upgrade") != NULL;
}

enum MHD_Result docker_attach(server_ctx *ctx, request *rq)
{
        bool stream = docker_bool(rq->c, "stream"), logs = docker_bool(rq->c, "logs"), hijack = wants_hijack(rq->c);
        unsigned want = (docker_bool(rq->c, "stdout") ? 1u << VS_STREAM_STDOUT : 0) |
                        (docker_bool(rq->c, "stderr") ? 1u << VS_STREAM_STDERR : 0);
        /* Both streams are read even when none is asked for: the stream
         * then only tells when the container ends. */
        vs_streams_opts o = { .filter = { 1u << VS_STREAM_STDOUT | 1u << VS_STREAM_STDERR, 0, 0 },
                              .follow = stream, .only_new = !logs, .tail = -1 };
        vs_error err = { 0 };
        struct MHD_Response *r;
        stream_out *so;
        char id[13];
        bool tty;

        if (container_of(ctx, rq, id, &tty, &err) < 0)
                return docker_respond_error(rq->c, &err);
        if (open_reader(ctx, rq, id, &o, &so, want, tty, false, hijack, &err) < 0)
                return err.kind == VS_ERR_NOT_FOUND ? no_such_container(rq) : docker_respond_error(rq->c, &err);
        if (!hijack)
                return respond_plain(rq, so, stream_type(rq, tty), stream);
        r = MHD_create_response_for_upgrade(hijacked, so);
        if (!r) {
                stream_unref(so);
                return MHD_NO;
        }
        /* The request owns the stream until the upgrade runs (a client
         * that leaves before the 101 never gets there). */
        rq->on_free = stream_unref_cb;
        rq->on_free_arg = so;
        MHD_add_response_header(r, "Content-Type", stream_type(rq, tty));
        MHD_add_response_header(r, "Upgrade", "tcp");
        return docker_respond(rq->c, 101, r);
}
