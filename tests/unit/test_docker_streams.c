/* The Docker socket's logs and attach (docker_streams.c) against the lead's
 * fixture (docker_fixture.h: the server with two tenant sockets and the fake
 * runner): exact multiplexed frames, timestamps, tail, follow, the plain
 * attach (libcurl) and the hijacked one (a raw socket client), errors. */
#include "docker_fixture.h"
#include "fake_runner.h"
#include "fsutil.h"
#include "http_client.h"
#include "service.h"
#include "tests.h"

#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static docker_fx fx;

#define FIX(f) VS_FIXTURES_DIR "/" f
#define IMAGE "vmsandbox-fixture/hello:20.10"

static void load_image(docker_fx *f, const char *sock)
{
        char *out = NULL, *err = NULL;

        ck_assert_int_eq(dfx_cli(f, sock, &out, &err, "load", "-q", "-i", FIX("docker-20.10.tar"), NULL), 0);
        free(out), free(err);
}

static void setup(void)
{
        dfx_start(&fx);
        load_image(&fx, fx.sock_a);
}

static void teardown(void)
{
        dfx_stop(&fx);
}

/* A container of owner (as POST /containers/create makes it) running the
 * fake ops; NAME=name labels it for fake_release. */
static void container_of_owner(vs_server *srv, const char *owner, const char *name, char id[13],
                               const char *const *ops)
{
        json_t *cmd = json_pack("[s]", "fake");
        json_t *body;
        vs_error err = { 0 };
        char env[64];

        for (; *ops; ops++)
                json_array_append_new(cmd, json_string(*ops));
        snprintf(env, sizeof(env), "NAME=%s", name);
        body = json_pack("{s:s, s:o, s:[s]}", "Image", IMAGE, "Cmd", cmd, "Env", env);
        ck_assert_msg(vs_service_container_create(vs_server_service(srv), owner, NULL, body, id, &err) == 0, "%s",
                      err.msg);
        json_decref(body);
}

static void container(const char *name, char id[13], const char *const *ops)
{
        container_of_owner(fx.srv, "docker:a", name, id, ops);
}

#define CONTAINER(name, id, ...) container(name, id, (const char *const[]){ __VA_ARGS__, NULL })

static void start(const char *id)
{
        vs_error err = { 0 };

        ck_assert_msg(vs_service_start(vs_server_service(fx.srv), "docker:a", id, &err) == 0, "%s", err.msg);
}

static void wait_done(const char *id)
{
        vs_error err = { 0 };

        ck_assert_msg(vs_service_wait(vs_server_service(fx.srv), "docker:a", id, 60000, &err) == 1, "%s", err.msg);
}

typedef hc_bytes bytes;

/* One request; the body with its length (frames hold NUL bytes). */
static long http(const char *sock, const char *method, const char *path, bytes *body, bytes *headers)
{
        hc_request rq = { .sock = sock, .host = "docker", .method = method, .path = path };

        return hc_perform(&rq, body, headers);
}

static void bytes_free(bytes *b)
{
        free(b->buf);
        b->buf = NULL;
}

/* "\1\0\0\0\0\0\0\5out1\n" as "1:out1\n|": frames checked byte for byte. */
static char *unframe(const bytes *b)
{
        char *out = calloc(1, b->len * 2 + 1);
        size_t o = 0;

        for (size_t i = 0; i < b->len;) {
                const unsigned char *h = (const unsigned char *)b->buf + i;
                size_t n;
                ck_assert_msg(b->len - i >= 8, "a frame header cut at %zu of %zu", i, b->len);
                ck_assert_msg((h[0] == 1 || h[0] == 2) && !h[1] && !h[2] && !h[3], "bad frame header at %zu", i);
                n = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | h[7];
                ck_assert_msg(n > 0 && b->len - i - 8 >= n, "frame of %zu at %zu of %zu", n, i, b->len);
                o += (size_t)sprintf(out + o, "%u:", h[0]);
                memcpy(out + o, b->buf + i + 8, n);
                o += n;
                out[o++] = '|';
                i += 8 + n;
        }
        out[o] = '\0';
        return out;
}

static void ck_message(const bytes *b, const char *want)
{
        json_t *j = json_loads(b->buf, 0, NULL);

        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(json_string_value(json_object_get(j, "message")), want);
        json_decref(j);
}

#define ck_frames(b, want)                                 \
        do {                                               \
                char *got_ = unframe(b);                   \
                ck_assert_str_eq(got_, want);              \
                free(got_);                                \
        } while (0)

static char path[512];

static const char *pathf(const char *fmt, const char *id)
{
        snprintf(path, sizeof(path), fmt, id);
        return path;
}

START_TEST(logs_frames_streams_tail)
{
        char id[13];
        bytes b, h;

        CONTAINER("x", id, "out:out1\n", "err:err1\n", "out:out2\n", "exit:3");
        start(id);
        wait_done(id);
        ck_assert_int_eq(http(fx.sock_a, "GET", pathf("/v1.41/containers/%s/logs?stdout=1&stderr=1", id), &b, &h), 200);
        ck_frames(&b, "1:out1\n|2:err1\n|1:out2\n|");
        ck_assert_uint_eq(b.len, 3 * 8 + 15);
        ck_assert_ptr_nonnull(strstr(h.buf, "Content-Type: application/vnd.docker.raw-stream\r\n"));
        ck_assert_ptr_nonnull(strstr(h.buf, "Api-Version: 1.41\r\n"));
        bytes_free(&b), bytes_free(&h);
        ck_assert_int_eq(http(fx.sock_a, "GET", pathf("/containers/%s/logs?stderr=true", id), &b, &h), 200);
        ck_frames(&b, "2:err1\n|");
        bytes_free(&b), bytes_free(&h);
        ck_assert_int_eq(http(fx.sock_a, "GET", pathf("/containers/%s/logs?stdout=1&stderr=1&tail=2", id), &b, &h), 200);
        ck_frames(&b, "2:err1\n|1:out2\n|");
        bytes_free(&b), bytes_free(&h);
        ck_assert_int_eq(http(fx.sock_a, "GET", pathf("/containers/%s/logs?stdout=1&tail=1", id), &b, &h), 200);
        ck_frames(&b, "1:out2\n|");
        bytes_free(&b), bytes_free(&h);
        ck_assert_int_eq(http(fx.sock_a, "GET", pathf("/containers/%s/logs?stdout=1&stderr=1&tail=all", id), &b, &h), 200);
        ck_frames(&b, "1:out1\n|2:err1\n|1:out2\n|");
        bytes_free(&b), bytes_free(&h);
        ck_assert_int_eq(http(fx.sock_a, "GET", pathf("/containers/%s/logs?stdout=1&stderr=1&tail=0", id), &b, &h), 200);
        ck_assert_uint_eq(b.len, 0);
        bytes_free(&b), bytes_free(&h);
        /* follow of an ended container: what is there, then the end */
        ck_assert_int_eq(http(fx.sock_a, "GET", pathf("/containers/%s/logs?stdout=1&follow=1", id), &b, &h), 200);
        ck_frames(&b, "1:out1\n|1:out2\n|");
        bytes_free(&b), bytes_free(&h);
}
END_TEST

/* Checks each timestamp (RFC 3339, nine decimals, UTC, a space; within
 * [t0, t1]) in unframe()'s text and writes it as "T ". */
static char *strip_timestamps(const char *s, time_t t0, time_t t1)
{
        char *out = calloc(1, strlen(s) + 1), *o = out;
        bool at_line = false, line_start[3] = { true, true, true };
        int stream = 0;

        for (const char *p = s; *p;) {
                if (p == s || p[-1] == '|') {
                        stream = p[0] - '0';
                        memcpy(o, p, 2), o += 2, p += 2;
                        at_line = line_start[stream]; /* a stream's line goes on across frames */
                } else if (at_line) {
                        struct tm tm = { 0 };
                        time_t t;
                        ck_assert_msg(sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                                             &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6, "no timestamp at %s", p);
                        ck_assert(p[4] == '-' && p[7] == '-' && p[10] == 'T' && p[13] == ':' && p[16] == ':');
                        ck_assert(p[19] == '.' && p[29] == 'Z' && p[30] == ' ');
                        for (int k = 20; k < 29; k++)
                                ck_assert(p[k] >= '0' && p[k] <= '9');
                        tm.tm_year -= 1900;
                        tm.tm_mon -= 1;
                        t = timegm(&tm);
                        ck_assert_msg(t >= t0 && t <= t1, "timestamp %.31s outside [%lld, %lld]", p, (long long)t0,
                                      (long long)t1);
                        memcpy(o, "T ", 2), o += 2, p += 31;
                        at_line = false;
                } else {
                        if (*p != '|')
                                line_start[stream] = *p == '\n';
                        at_line = *p == '\n' && p[1] != '|';
                        *o++ = *p++;
                }
        }
        return out;
}

START_TEST(logs_timestamps)
{
        char id[13], *got, *plain;
        bytes b, h;
        time_t t0 = time(NULL), t1;

        CONTAINER("x", id, "out:a\nb\n", "err:c\n", "out:d", "out:e\n");
        start(id);
        wait_done(id);
        t1 = time(NULL);
        ck_assert_int_eq(http(fx.sock_a, "GET", pathf("/containers/%s/logs?stdout=1&stderr=1&timestamps=1", id), &b, &h),
                         200);
        got = unframe(&b);
        plain = strip_timestamps(got, t0, t1);
        ck_assert_str_eq(plain, "1:T a\nT b\n|2:T c\n|1:T d|1:e\n|"); /* "e\n" goes on d's line */
        free(got);
        free(plain);
        bytes_free(&b), bytes_free(&h);
}
END_TEST

START_TEST(logs_errors)
{
        char id[13];
        bytes b, h;

        CONTAINER("x", id, "out:x\n");
        ck_assert_int_eq(http(fx.sock_a, "GET", "/containers/0123456789ab/logs?stdout=1", &b, &h), 404);
        ck_message(&b, "No such container: 0123456789ab");
        bytes_free(&b), bytes_free(&h);
        ck_assert_int_eq(http(fx.sock_a, "GET", "/containers/nope/logs?stdout=1", &b, &h), 404);
        ck_message(&b, "No such container: nope");
        bytes_free(&b), bytes_free(&h);
        /* another tenant's container does not exist on this socket */
        ck_assert_int_eq(http(fx.sock_b, "GET", pathf("/containers/%s/logs?stdout=1", id), &b, &h), 404);
        ck_message(&b, pathf("No such container: %s", id));
        bytes_free(&b), bytes_free(&h);
        ck_assert_int_eq(http(fx.sock_a, "GET", pathf("/containers/%s/logs", id), &b, &h), 400);
        ck_message(&b, "Bad parameters: you must choose at least one stream");
        bytes_free(&b), bytes_free(&h);
        ck_assert_int_eq(http(fx.sock_a, "GET", pathf("/containers/%s/logs?stdout=1&tail=ten", id), &b, &h), 400);
        ck_message(&b, "invalid tail: expected a number of lines or \"all\"");
        bytes_free(&b), bytes_free(&h);
        ck_assert_int_eq(http(fx.sock_a, "GET", pathf("/containers/%s/logs?stdout=1&since=1e9", id), &b, &h), 400);
        ck_message(&b, "invalid since: expected unix seconds[.nanoseconds]");
        bytes_free(&b), bytes_free(&h);
        ck_assert_int_eq(http(fx.sock_a, "GET", pathf("/containers/%s/logs?stdout=1&until=99999999999", id), &b, &h),
                         400);
        bytes_free(&b), bytes_free(&h);
        ck_assert_int_eq(http(fx.sock_a, "POST", "/containers/0123456789ab/attach?stream=1&stdout=1", &b, &h), 404);
        ck_message(&b, "No such container: 0123456789ab");
        bytes_free(&b), bytes_free(&h);
}
END_TEST

START_TEST(logs_since_until)
{
        char id[13];
        bytes b, h;
        char q[256];
        time_t now = time(NULL);

        CONTAINER("x", id, "out:a\n", "err:b\n");
        start(id);
        wait_done(id);
        snprintf(q, sizeof(q), "/containers/%s/logs?stdout=1&stderr=1&since=%lld.5", id, (long long)now + 2);
        ck_assert_int_eq(http(fx.sock_a, "GET", q, &b, &h), 200);
        ck_assert_uint_eq(b.len, 0);
        bytes_free(&b), bytes_free(&h);
        snprintf(q, sizeof(q), "/containers/%s/logs?stdout=1&stderr=1&since=%lld&until=%lld.999999999", id,
                 (long long)now - 2, (long long)now + 2);
        ck_assert_int_eq(http(fx.sock_a, "GET", q, &b, &h), 200);
        ck_frames(&b, "1:a\n|2:b\n|");
        bytes_free(&b), bytes_free(&h);
        snprintf(q, sizeof(q), "/containers/%s/logs?stdout=1&stderr=1&until=%lld", id, (long long)now - 2);
        ck_assert_int_eq(http(fx.sock_a, "GET", q, &b, &h), 200);
        ck_assert_uint_eq(b.len, 0);
        bytes_free(&b), bytes_free(&h);
}
END_TEST

typedef struct {
        const char *method;
        char path[256];
        long code;
        bytes body, headers;
} req_arg;

static void *req_thread(void *p)
{
        req_arg *a = p;

        a->code = http(fx.sock_a, a->method, a->path, &a->body, &a->headers);
        return NULL;
}

/* logs -f of a running container: the output as it comes, and the end
 * when the container ends. */
START_TEST(logs_follow_ends_with_container)
{
        char id[13];
        req_arg a = { .method = "GET" };
        pthread_t t;

        CONTAINER("f", id, "out:before\n", "block", "err:after\n", "exit:3");
        start(id);
        fake_wait_blocked(1);
        snprintf(a.path, sizeof(a.path), "/containers/%s/logs?stdout=1&stderr=1&follow=1", id);
        ck_assert_int_eq(pthread_create(&t, NULL, req_thread, &a), 0);
        usleep(400000);
        fake_release("f");
        pthread_join(t, NULL);
        ck_assert_int_eq(a.code, 200);
        ck_frames(&a.body, "1:before\n|2:after\n|");
        bytes_free(&a.body), bytes_free(&a.headers);
}
END_TEST

/* The plain attach (dockerode, docker-py): attach before start, a 200 that
 * streams until the container ends. */
START_TEST(attach_plain_before_start)
{
        char id[13];
        req_arg a = { .method = "POST" };
        pthread_t t;

        CONTAINER("p", id, "out:out1\n", "err:err1\n", "exit:3");
        snprintf(a.path, sizeof(a.path), "/v1.41/containers/%s/attach?stream=1&stdout=1&stderr=1", id);
        ck_assert_int_eq(pthread_create(&t, NULL, req_thread, &a), 0);
        usleep(300000);
        start(id);
        pthread_join(t, NULL);
        ck_assert_int_eq(a.code, 200);
        ck_frames(&a.body, "1:out1\n|2:err1\n|");
        ck_assert_ptr_nonnull(strstr(a.headers.buf, "Content-Type: application/vnd.docker.raw-stream\r\n"));
        bytes_free(&a.body), bytes_free(&a.headers);
        /* logs=1 without stream: the replay alone; stdout only */
        snprintf(a.path, sizeof(a.path), "/containers/%s/attach?logs=1&stdout=1", id);
        req_thread(&a);
        ck_assert_int_eq(a.code, 200);
        ck_frames(&a.body, "1:out1\n|");
        bytes_free(&a.body), bytes_free(&a.headers);
        /* neither logs nor a running container: nothing */
        snprintf(a.path, sizeof(a.path), "/containers/%s/attach?stream=1&stdout=1&stderr=1", id);
        req_thread(&a);
        ck_assert_int_eq(a.code, 200);
        ck_assert_uint_eq(a.body.len, 0);
        bytes_free(&a.body), bytes_free(&a.headers);
}
END_TEST

static int dial(const char *sock)
{
        return hc_dial(sock, 0);
}

/* Sends the docker CLI's hijack request; returns the response head. */
static char *hijack(int fd, const char *id, const char *query)
{
        char req[512], *head = calloc(1, 4096);
        size_t n = 0;
        int len = snprintf(req, sizeof(req),
                           "POST /v1.41/containers/%s/attach?%s HTTP/1.1\r\nHost: docker\r\n"
                           "User-Agent: Docker-Client/28\r\nContent-Type: text/plain\r\n"
                           "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
                           id, query);

        ck_assert_int_eq(write(fd, req, (size_t)len), len);
        while (n < 4095 && !strstr(head, "\r\n\r\n")) {
                ssize_t r = read(fd, head + n, 1); /* byte by byte: nothing of the stream is taken */
                ck_assert_int_eq(r, 1);
                n++;
        }
        return head;
}

static bytes read_to_eof(int fd)
{
        bytes b = { calloc(1, 1), 0 };
        char buf[4096];
        ssize_t n;

        while ((n = read(fd, buf, sizeof(buf))) > 0)
                hc_on_bytes(buf, 1, (size_t)n, &b);
        return b;
}

/* The docker CLI's form: 101, then the frames on the raw socket; stdin
 * the client sends (and its half-close) is read and dropped. */
START_TEST(attach_hijack_before_start)
{
        char id[13], *head;
        int fd;
        bytes b;

        CONTAINER("h", id, "out:out1\n", "block", "err:err1\n", "exit:3");
        fd = dial(fx.sock_a);
        head = hijack(fd, id, "stream=1&stdout=1&stderr=1");
        ck_assert_msg(strncmp(head, "HTTP/1.1 101 ", 13) == 0, "%s", head);
        ck_assert_ptr_nonnull(strcasestr(head, "\r\nUpgrade: tcp\r\n"));
        ck_assert_ptr_nonnull(strcasestr(head, "\r\nConnection: Upgrade\r\n"));
        ck_assert_ptr_nonnull(strstr(head, "\r\nContent-Type: application/vnd.docker.raw-stream\r\n"));
        ck_assert_ptr_nonnull(strstr(head, "\r\nApi-Version: 1.41\r\n"));
        free(head);
        ck_assert_int_eq(write(fd, "typed stdin\n", 12), 12);
        ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
        start(id);
        fake_wait_blocked(1);
        usleep(700000); /* the reader looks at the client at least once meanwhile */
        fake_release("h");
        b = read_to_eof(fd);
        ck_frames(&b, "1:out1\n|2:err1\n|");
        bytes_free(&b);
        close(fd);
        /* attach with logs=1 to the ended container: the replay, then EOF */
        fd = dial(fx.sock_a);
        head = hijack(fd, id, "stream=1&logs=1&stderr=1");
        ck_assert_msg(strncmp(head, "HTTP/1.1 101 ", 13) == 0, "%s", head);
        free(head);
        b = read_to_eof(fd);
        ck_frames(&b, "2:err1\n|");
        bytes_free(&b);
        close(fd);
        /* a missing container: 404 before any upgrade */
        fd = dial(fx.sock_a);
        head = hijack(fd, "0123456789ab", "stream=1&stdout=1");
        ck_assert_msg(strncmp(head, "HTTP/1.1 404 ", 13) == 0, "%s", head);
        free(head);
        close(fd);
}
END_TEST

/* A hijacking client that goes away ends its stream: its follow and its
 * connection are given back while the container still runs. */
START_TEST(attach_hijack_client_gone)
{
        char id[13], *head;
        unsigned base;
        int fd;
        struct timespec t0, t;

        CONTAINER("g", id, "out:x\n", "block");
        start(id);
        fake_wait_blocked(1);
        base = vs_server_connections(fx.srv);
        for (int round = 0; round < 5; round++) { /* more than --job-follows (4) */
                fd = dial(fx.sock_a);
                head = hijack(fd, id, "stream=1&stdout=1&stderr=1&logs=1");
                ck_assert_msg(strncmp(head, "HTTP/1.1 101 ", 13) == 0, "round %d: %s", round, head);
                free(head);
                {
                        char frame[10];
                        size_t got = 0;
                        while (got < sizeof(frame)) {
                                ssize_t n = read(fd, frame + got, sizeof(frame) - got);
                                ck_assert_int_gt(n, 0);
                                got += (size_t)n;
                        }
                        ck_assert_mem_eq(frame, "\1\0\0\0\0\0\0\2x\n", 10);
                }
                close(fd);
                clock_gettime(CLOCK_MONOTONIC, &t0);
                for (;;) {
                        if (vs_server_connections(fx.srv) <= base)
                                break;
                        clock_gettime(CLOCK_MONOTONIC, &t);
                        ck_assert_msg(t.tv_sec - t0.tv_sec < 3, "round %d: the connection stays", round);
                        usleep(20000);
                }
        }
        fake_release("g");
        wait_done(id);
}
END_TEST

/* ---- the real docker CLI (needs the containers' create, start, inspect, wait) ---- */


/* The CLI's exit code; its stdout and stderr in *out and *err (freed by the caller). */
static int cli(char **out, char **err, const char *const *args)
{
        return dfx_cli_argv(&fx, fx.sock_a, out, err, args);
}

#define CLI(out, err, ...) cli(out, err, (const char *const[]){ __VA_ARGS__, NULL })
#define CLI_EXPECT(rc, out, err, ...) DFX_CLI_EXPECT(&fx, fx.sock_a, rc, out, err, __VA_ARGS__)

/* Each line of a CLI's output with its timestamp checked and written "T ". */
static char *strip_timestamps_raw(const char *s, time_t t0, time_t t1)
{
        size_t n = strlen(s), k = 0;
        char *framed = calloc(1, n + 4), *plain, *out = calloc(1, n + 1);

        /* as one frame of stream 1 for strip_timestamps, then without "1:" and "|" */
        snprintf(framed, n + 4, "1:%s|", s);
        plain = strip_timestamps(framed, t0, t1);
        k = strlen(plain);
        memcpy(out, plain + 2, k - 3);
        free(framed);
        free(plain);
        return out;
}

/* A container made with `docker create`; its id (full, as the CLI prints it) in id. */
static void cli_create(char *id, size_t idlen, const char *const *ops)
{
        const char *a[16] = { "create", IMAGE, "fake" };
        char *out, *err;
        size_t n = 3;

        for (; *ops && n < 15; ops++)
                a[n++] = *ops;
        ck_assert_int_eq(cli(&out, &err, a), 0);
        ck_assert_uint_gt(strlen(out), 1);
        out[strcspn(out, "\n")] = '\0';
        snprintf(id, idlen, "%s", out);
        free(out);
        free(err);
}

/* docker logs: stdout and stderr apart, --tail, --timestamps. */
START_TEST(cli_logs)
{
        char id[80], *out, *err;
        time_t t0 = time(NULL), t1;

        cli_create(id, sizeof(id), (const char *const[]){ "out:out1\n", "err:err1\n", "out:out2\n", "exit:3", NULL });
        CLI_EXPECT(0, NULL, NULL, "start", id);
        CLI_EXPECT(0, "3\n", NULL, "wait", id);
        t1 = time(NULL);
        CLI_EXPECT(0, "out1\nout2\n", "err1\n", "logs", id);
        CLI_EXPECT(0, "out2\n", "", "logs", "--tail", "1", id);
        CLI_EXPECT(0, "out2\n", "err1\n", "logs", "--tail", "2", id);
        ck_assert_int_eq(CLI(&out, &err, "logs", "--timestamps", id), 0);
        {
                char *o = strip_timestamps_raw(out, t0, t1), *e = strip_timestamps_raw(err, t0, t1);
                ck_assert_str_eq(o, "T out1\nT out2\n");
                ck_assert_str_eq(e, "T err1\n");
                free(o);
                free(e);
        }
        free(out);
        free(err);
}
END_TEST

typedef struct {
        const char *const *args;
        int rc;
        char *out, *err;
} cli_arg;

static void *cli_thread(void *p)
{
        cli_arg *a = p;

        a->rc = cli(&a->out, &a->err, a->args);
        return NULL;
}

/* docker logs -f of a running container ends when the container ends. */
START_TEST(cli_logs_follow)
{
        char id[80];
        const char *args[4] = { "logs", "-f", id, NULL };
        cli_arg a = { args, -1, NULL, NULL };
        pthread_t t;

        cli_create(id, sizeof(id), (const char *const[]){ "out:before\n", "block", "err:after\n", "exit:3", NULL });
        CLI_EXPECT(0, NULL, NULL, "start", id);
        fake_wait_blocked(1);
        ck_assert_int_eq(pthread_create(&t, NULL, cli_thread, &a), 0);
        usleep(700000);
        fake_release("*");
        pthread_join(t, NULL);
        ck_assert_msg(a.rc == 0, "docker logs -f: exit %d: %s", a.rc, a.err);
        ck_assert_str_eq(a.out, "before\n");
        ck_assert_str_eq(a.err, "after\n");
        free(a.out);
        free(a.err);
}
END_TEST

/* docker run without -d: create, attach (the hijack), start, wait; the
 * CLI's exit status is the container's; attach to a missing container. */
START_TEST(cli_run_attached)
{
        CLI_EXPECT(3, "out1\n", "err1\n", "run", IMAGE, "fake", "out:out1\n", "err:err1\n", "exit:3");
        CLI_EXPECT(0, "x\ny\n", "", "run", "--rm", IMAGE, "fake", "out:x\n", "out:y\n");
        CLI_EXPECT(1, "", "Error response from daemon: No such container: nope\n", "attach", "nope");
        CLI_EXPECT(1, "", "Error response from daemon: No such container: nope\n", "logs", "nope");
}
END_TEST

/* A container with a Tty: its logs and attach are the raw bytes. */
START_TEST(tty_is_raw)
{
        char id[13];
        bytes b, h;
        json_t *body = json_pack("{s:s, s:b, s:[s,s,s]}", "Image", IMAGE, "Tty", 1, "Cmd", "fake", "out:out1\n",
                                 "err:err1\n");
        vs_error err = { 0 };

        ck_assert_msg(vs_service_container_create(vs_server_service(fx.srv), "docker:a", NULL, body, id, &err) == 0,
                      "%s", err.msg);
        json_decref(body);
        start(id);
        wait_done(id);
        ck_assert_int_eq(http(fx.sock_a, "GET", pathf("/containers/%s/logs?stdout=1&stderr=1", id), &b, &h), 200);
        ck_assert_uint_eq(b.len, 10);
        ck_assert_mem_eq(b.buf, "out1\nerr1\n", 10);
        ck_assert_ptr_nonnull(strstr(h.buf, "Content-Type: application/vnd.docker.raw-stream\r\n"));
        bytes_free(&b), bytes_free(&h);
        CLI_EXPECT(0, "out1\nerr1\n", "", "logs", id);
}
END_TEST

/* A job API request with the admin token (for the runtime sockets). */
static long admin(const char *sock, const char *method, const char *where, const char *body, bytes *ret)
{
        hc_request rq = { .sock = sock, .host = "localhost", .method = method, .path = where,
                          .authorization = "Bearer 0123456789abcdef0123", .body = body,
                          .body_len = body ? strlen(body) : 0, .content_type = "application/json" };

        return hc_perform(&rq, ret, NULL);
}

/* Removing a tenant's socket at run time ends its hijacked streams (MHD
 * waits for them and does not close them itself) while the container runs
 * on; the admin's request does not wait for the container. */
START_TEST(attach_hijack_ends_with_its_socket)
{
        char dir[64], tok[96], api[96], sockdir[96], id[13], *head;
        vs_config cfg;
        vs_server_opts o = { .max_body = 1 << 20, .docker_gid = -1 };
        vs_server *srv;
        vs_error err = { 0 };
        bytes b;
        json_t *j;
        char tsock[256];
        int fd;
        FILE *f;
        struct timespec t0, t1;
        vs_job_state st;

        snprintf(dir, sizeof(dir), "/tmp/vs-dstreams-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(tok, sizeof(tok), "%s/token", dir);
        snprintf(api, sizeof(api), "%s/api.sock", dir);
        snprintf(sockdir, sizeof(sockdir), "%s/tenants", dir);
        ck_assert_int_eq(mkdir(sockdir, 0700), 0);
        f = fopen(tok, "w");
        fputs("0123456789abcdef0123\n", f);
        fclose(f);
        cfg = (vs_config){ .state_dir = dir };
        o.socket = api;
        o.token_file = tok;
        o.docker_socket_dir = sockdir;
        o.service.cfg = &cfg;
        o.service.max_jobs = 1;
        o.service.memory_budget = 64ull << 30;
        o.service.max_upload = 1 << 20;
        o.service.run = fake_run;
        ck_assert_msg(vs_server_start(&o, &srv, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(admin(api, "POST", "/v1/docker-sockets", "{\"tenant\": \"t\"}", &b), 201);
        j = json_loads(b.buf, 0, NULL);
        snprintf(tsock, sizeof(tsock), "%s", json_string_value(json_object_get(j, "path")));
        json_decref(j);
        bytes_free(&b);
        {
                docker_fx tfx = { 0 };
                snprintf(tfx.dir, sizeof(tfx.dir), "%s", dir);
                load_image(&tfx, tsock);
                container_of_owner(srv, "docker:t", "r", id, (const char *const[]){ "out:x\n", "block", NULL });
                ck_assert_int_eq(vs_service_start(vs_server_service(srv), "docker:t", id, &err), 0);
        }
        fake_wait_blocked(1);
        fd = dial(tsock);
        head = hijack(fd, id, "stream=1&stdout=1&logs=1");
        ck_assert_msg(strncmp(head, "HTTP/1.1 101 ", 13) == 0, "%s", head);
        free(head);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_assert_int_eq(admin(api, "DELETE", "/v1/docker-sockets/t", NULL, &b), 200);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        bytes_free(&b);
        ck_assert_msg((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 2000,
                      "the removal waited for the stream");
        b = read_to_eof(fd);
        ck_frames(&b, "1:x\n|");
        bytes_free(&b);
        close(fd);
        ck_assert_int_eq(vs_service_state(vs_server_service(srv), "docker:t", id, &st, &err), 0);
        ck_assert_int_eq(st, VS_JOB_RUNNING);
        fake_release("*");
        vs_server_stop(srv, 1000);
        vs_rm_rf(dir);
}
END_TEST

Suite *suite_docker_streams(void)
{
        Suite *s = suite_create("docker_streams");
        TCase *n = tcase_create("server"), *r = tcase_create("runtime-socket");

        tcase_add_checked_fixture(n, setup, teardown);
        tcase_set_timeout(n, 120);
        tcase_add_test(n, logs_frames_streams_tail);
        tcase_add_test(n, logs_timestamps);
        tcase_add_test(n, logs_errors);
        tcase_add_test(n, logs_since_until);
        tcase_add_test(n, logs_follow_ends_with_container);
        tcase_add_test(n, attach_plain_before_start);
        tcase_add_test(n, attach_hijack_before_start);
        tcase_add_test(n, attach_hijack_client_gone);
        tcase_add_test(n, tty_is_raw);
        tcase_add_test(n, cli_logs);
        tcase_add_test(n, cli_logs_follow);
        tcase_add_test(n, cli_run_attached);
        suite_add_tcase(s, n);
        tcase_add_test(r, attach_hijack_ends_with_its_socket);
        tcase_set_timeout(r, 60);
        suite_add_tcase(s, r);
        return s;
}
