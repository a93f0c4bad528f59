/* The HTTP layer in-process: vs_server_start on a unix socket in a temp dir
 * with the fake runner (fake_runner.h), driven with libcurl and raw sockets. */
#include "fake_runner.h"
#include "fsutil.h"
#include "http_client.h"
#include "pipeline.h"
#include "server.h"
#include "tests.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#define ADMIN "admin-token-0123456789abcdef"

static char dir[64], sock[100];
static vs_config cfg;
static unsigned short tcp_port; /* 0: the unix socket */

static void setup(void)
{
        char path[128];
        FILE *f;

        snprintf(dir, sizeof(dir), "/tmp/vs-http-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(sock, sizeof(sock), "%s/sock", dir);
        snprintf(path, sizeof(path), "%s/token", dir);
        f = fopen(path, "w");
        fputs(ADMIN "\n", f);
        fclose(f);
        cfg = (vs_config){ .state_dir = dir };
        tcp_port = 0;
        fake_reset();
}

static void teardown(void)
{
        vs_rm_rf(dir);
}

/* The server with o's limits (0: the defaults) on the unix socket, or on
 * 127.0.0.1 with o->listen set (any value: a free port is picked). */
static vs_server *srv_start_opts(vs_server_opts *o)
{
        static char listen_at[32];
        char token[128];
        vs_error err = { 0 };
        vs_server *srv = NULL;

        snprintf(token, sizeof(token), "%s/token", dir);
        o->token_file = token;
        o->max_body = 1 << 20;
        if (o->listen) {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                socklen_t len = sizeof(sa);
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

                /* A port that is free now (the kernel's pick). */
                ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
                ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
                tcp_port = ntohs(sa.sin_port);
                close(fd);
                snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%u", tcp_port);
                o->listen = listen_at;
        } else {
                o->socket = sock;
        }
        o->service.cfg = &cfg;
        o->service.memory_budget = 8ull << 30;
        o->service.max_upload = 1 << 20;
        o->service.run = fake_run;
        if (!o->service.max_jobs)
                o->service.max_jobs = 1;
        ck_assert_msg(vs_server_start(o, &srv, &err) == 0, "%s", err.msg);
        return srv;
}

static vs_server *srv_start(unsigned max_jobs, unsigned idle_s)
{
        vs_server_opts o = { .idle_timeout_s = idle_s, .service = { .max_jobs = max_jobs } };

        return srv_start_opts(&o);
}

/* METHOD path with token (NULL: none) and body (NULL: none); returns the
 * HTTP status, the body in *ret (malloc'd, "" when empty). */
static long http(const char *method, const char *path, const char *token, const char *body, char **ret)
{
        char auth[256];
        hc_request rq = { .sock = tcp_port ? NULL : sock, .port = tcp_port, .host = "localhost", .method = method,
                          .path = path, .body = body, .body_len = body ? strlen(body) : 0 };

        if (token) {
                snprintf(auth, sizeof(auth), "Bearer %s", token);
                rq.authorization = auth;
        }
        return hc_perform_text(&rq, ret, NULL);
}

static json_t *http_json(const char *method, const char *path, const char *token, const char *body, long want)
{
        char *text;
        long code = http(method, path, token, body, &text);
        json_t *j;

        ck_assert_msg(code == want, "%s %s: HTTP %ld, wanted %ld: %s", method, path, code, want, text);
        j = json_loads(text, 0, NULL);
        ck_assert_msg(j != NULL, "not JSON: %s", text);
        free(text);
        return j;
}

static void ck_status_http(const char *id, const char *want)
{
        char path[64];
        json_t *rec;

        snprintf(path, sizeof(path), "/v1/jobs/%s", id);
        rec = http_json("GET", path, ADMIN, NULL, 200);
        ck_assert_str_eq(json_string_value(json_object_get(rec, "status")), want);
        json_decref(rec);
}

static int raw_connect(void)
{
        return hc_dial(tcp_port ? NULL : sock, tcp_port);
}

/* Sends req on a new connection; returns what comes back within timeout_ms
 * (until the server closes or the time is up). */
static char *raw(const char *req, int timeout_ms)
{
        int fd = raw_connect();
        char *out;

        hc_send(fd, req);
        out = hc_read_all(fd, timeout_ms);
        close(fd);
        return out;
}

static void create_job(const char *token, const char *body, char id[13])
{
        json_t *j = http_json("POST", "/v1/jobs", token, body, 201);

        snprintf(id, 13, "%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);
}

/* Up to 5 s for the server's connection count to reach n. */
static bool connections_reach(vs_server *srv, unsigned n)
{
        for (int i = 0; i < 500; i++) {
                struct timespec ts = { 0, 10 * 1000000 };
                if (vs_server_connections(srv) == n)
                        return true;
                nanosleep(&ts, NULL);
        }
        return false;
}

/* Up to 5 s for n jobs to be queued. */
static bool queued_reach(vs_server *srv, size_t n)
{
        vs_job_state q = VS_JOB_QUEUED;

        for (int i = 0; i < 500; i++) {
                struct timespec ts = { 0, 10 * 1000000 };
                json_t *list = vs_service_list(vs_server_service(srv), NULL, &q);
                size_t have = json_array_size(list);
                json_decref(list);
                if (have == n)
                        return true;
                nanosleep(&ts, NULL);
        }
        return false;
}

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(auth_and_route_table)
{
        vs_server *srv = srv_start(1, 0);
        char *body;

        ck_assert_int_eq(http("GET", "/v1/health", NULL, NULL, NULL), 200);
        ck_assert_int_eq(http("GET", "/v1/jobs", NULL, NULL, NULL), 401);
        ck_assert_int_eq(http("GET", "/v1/jobs", "wrong-token-wrong-token", NULL, NULL), 401);
        ck_assert_int_eq(http("GET", "/v1/nothing", NULL, NULL, NULL), 401);
        ck_assert_int_eq(http("GET", "/v1/nothing", ADMIN, NULL, &body), 404);
        ck_assert_ptr_nonnull(strstr(body, "no such route"));
        free(body);
        ck_assert_int_eq(http("GET", "/v1/jobs/0123456789ab", ADMIN, NULL, &body), 404);
        ck_assert_ptr_nonnull(strstr(body, "no job 0123456789ab"));
        free(body);
        ck_assert_int_eq(http("PATCH", "/v1/jobs", ADMIN, NULL, NULL), 404);
        ck_assert_int_eq(http("GET", "/metrics", ADMIN, NULL, &body), 200);
        ck_assert_ptr_nonnull(strstr(body, "\nvmsandbox_running_vms 0\n"));
        ck_assert_ptr_nonnull(strstr(body, "\nvmsandbox_tmp_bytes 0\n"));
        ck_assert_ptr_nonnull(strstr(body, "\nvmsandbox_tmp_limit_bytes "));
        free(body);
        vs_server_stop(srv, 0);
}
END_TEST

/* Declared bodies over the limit are answered before a byte is read. */
START_TEST(too_large_answered_before_body)
{
        vs_server *srv = srv_start(1, 0);
        char id[13], req[512], *out;

        out = raw("POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " ADMIN
                  "\r\nContent-Length: 5000000\r\n\r\n", 5000);
        ck_assert_msg(strncmp(out, "HTTP/1.1 413", 12) == 0, "got: %.200s", out);
        free(out);
        create_job(ADMIN, "{\"tag\":\"fake:1\"}", id);
        snprintf(req, sizeof(req), "PUT /v1/jobs/%s/image HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " ADMIN
                                   "\r\nContent-Length: 2000000\r\n\r\n", id);
        out = raw(req, 5000);
        ck_assert_msg(strncmp(out, "HTTP/1.1 413", 12) == 0, "got: %.200s", out);
        ck_assert_ptr_nonnull(strstr(out, "upload larger than the 1048576-byte limit"));
        free(out);
        vs_server_stop(srv, 0);
}
END_TEST

START_TEST(run_sync_shape)
{
        vs_server *srv = srv_start(1, 0);
        json_t *j = http_json("POST", "/v1/run", ADMIN,
                              "{\"tag\":\"fake:1\",\"cmd\":[\"fake\",\"out:hi\\n\",\"out:there\\n\",\"exit:7\"]}", 200);

        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "success"), "StatusCode")), 7);
        ck_assert_uint_eq(json_array_size(json_object_get(j, "log")), 2);
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "log"), 1)), "there");
        json_decref(j);
        vs_server_stop(srv, 0);
}
END_TEST

/* A /v1/run whose start is refused (here: more memory than the budget)
 * answers the refusal and leaves no job behind (a created one stayed). */
START_TEST(run_sync_refused_leaves_no_job)
{
        vs_server *srv = srv_start(1, 0);
        json_t *j = http_json("POST", "/v1/run", ADMIN, "{\"tag\":\"fake:1\",\"memory\":\"16G\",\"cmd\":[\"fake\"]}", 409);
        const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));

        ck_assert_ptr_nonnull(msg);
        ck_assert_ptr_nonnull(strstr(msg, "asks for more memory than the service may use"));
        json_decref(j);
        j = http_json("GET", "/v1/jobs", ADMIN, NULL, 200);
        ck_assert_uint_eq(json_array_size(json_object_get(j, "jobs")), 0);
        json_decref(j);
        vs_server_stop(srv, 0);
}
END_TEST

/* A follower whose client went away ends (it used to wait forever). */
START_TEST(follow_notices_client_gone)
{
        vs_server *srv = srv_start(1, 0);
        char id[13], req[512];
        int fd;

        create_job(ADMIN, "{\"tag\":\"fake:1\"}", id);
        snprintf(req, sizeof(req), "GET /v1/jobs/%s/logs?follow=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " ADMIN
                                   "\r\n\r\n", id);
        fd = raw_connect();
        hc_send(fd, req);
        ck_assert(connections_reach(srv, 1));
        close(fd);
        ck_assert_msg(connections_reach(srv, 0), "the follower is still there");
        vs_server_stop(srv, 0);
}
END_TEST

typedef struct {
        long code;
        char *body;
} run_arg;

static void *run_thread(void *p)
{
        run_arg *a = p;

        a->code = http("POST", "/v1/run", ADMIN, "{\"tag\":\"fake:1\",\"cmd\":[\"fake\",\"out:x\\n\"]}", &a->body);
        return NULL;
}

/* Stopping ends follows and /v1/run waits of jobs that are not running
 * (they kept MHD_stop_daemon waiting forever). */
START_TEST(stop_ends_waits_of_queued_jobs)
{
        vs_server *srv = srv_start(1, 0);
        char running[13], queued[13], req[512];
        run_arg ra = { 0 };
        pthread_t t;
        double t0;
        int fd;

        create_job(ADMIN, "{\"tag\":\"fake:1\",\"env\":{\"NAME\":\"r\"},\"cmd\":[\"fake\",\"block\"]}", running);
        snprintf(req, sizeof(req), "/v1/jobs/%s/start", running);
        json_decref(http_json("POST", req, ADMIN, NULL, 202));
        fake_wait_blocked(1);
        create_job(ADMIN, "{\"tag\":\"fake:1\",\"cmd\":[\"fake\"]}", queued);
        snprintf(req, sizeof(req), "/v1/jobs/%s/start", queued);
        json_decref(http_json("POST", req, ADMIN, NULL, 202));
        snprintf(req, sizeof(req), "GET /v1/jobs/%s/logs?follow=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " ADMIN
                                   "\r\n\r\n", queued);
        fd = raw_connect();
        hc_send(fd, req);
        pthread_create(&t, NULL, run_thread, &ra);
        ck_assert(connections_reach(srv, 2));
        ck_assert(queued_reach(srv, 2)); /* the /v1/run job too */
        t0 = now_s();
        vs_server_stop(srv, 0);
        ck_assert_msg(now_s() - t0 < 3.0, "stop took %.1f s", now_s() - t0);
        pthread_join(t, NULL);
        ck_assert_int_eq(ra.code, 503);
        ck_assert_ptr_nonnull(strstr(ra.body, "shutting down"));
        free(ra.body);
        close(fd);
}
END_TEST

START_TEST(idle_timeout_spares_live_follow)
{
        vs_server *srv = srv_start(1, 1);
        char id[13], req[512], *out;
        int fd;
        struct pollfd p;

        create_job(ADMIN, "{\"tag\":\"fake:1\",\"env\":{\"NAME\":\"slow\"},\"cmd\":[\"fake\",\"block\",\"out:late\\n\"]}", id);
        snprintf(req, sizeof(req), "/v1/jobs/%s/start", id);
        json_decref(http_json("POST", req, ADMIN, NULL, 202));
        fake_wait_blocked(1);
        snprintf(req, sizeof(req), "GET /v1/jobs/%s/logs?follow=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " ADMIN
                                   "\r\n\r\n", id);
        fd = raw_connect();
        hc_send(fd, req);
        /* Longer than the 1 s idle timeout with nothing to send. */
        p = (struct pollfd){ .fd = fd, .events = POLLRDHUP };
        ck_assert_int_eq(poll(&p, 1, 2500), 0);
        fake_release("slow");
        out = hc_read_all(fd, 5000);
        ck_assert_msg(strstr(out, "late") != NULL, "got: %.300s", out);
        free(out);
        close(fd);
        vs_server_stop(srv, 0);
}
END_TEST

START_TEST(client_tokens_see_their_own_jobs)
{
        vs_server *srv = srv_start(1, 0);
        json_t *t1 = http_json("POST", "/v1/tokens", ADMIN, NULL, 201), *t2 = http_json("POST", "/v1/tokens", ADMIN, NULL, 201);
        const char *a = json_string_value(json_object_get(t1, "token")), *b = json_string_value(json_object_get(t2, "token"));
        char id[13], path[128], tokfile[128], *text = NULL;
        size_t len;
        struct stat st;
        json_t *j;

        ck_assert_uint_eq(strlen(a), 64);
        create_job(a, "{\"tag\":\"fake:1\"}", id);
        snprintf(path, sizeof(path), "/v1/jobs/%s", id);
        j = http_json("GET", path, a, NULL, 200);
        ck_assert_str_eq(json_string_value(json_object_get(j, "owner")), json_string_value(json_object_get(t1, "id")));
        json_decref(j);
        ck_assert_int_eq(http("GET", path, b, NULL, NULL), 404);
        ck_assert_int_eq(http("DELETE", path, b, NULL, NULL), 404);
        snprintf(path, sizeof(path), "/v1/jobs/%s/cancel", id);
        ck_assert_int_eq(http("POST", path, b, NULL, NULL), 404);
        j = http_json("GET", "/v1/jobs", b, NULL, 200);
        ck_assert_uint_eq(json_array_size(json_object_get(j, "jobs")), 0);
        json_decref(j);
        j = http_json("GET", "/v1/jobs", a, NULL, 200);
        ck_assert_uint_eq(json_array_size(json_object_get(j, "jobs")), 1);
        json_decref(j);
        j = http_json("GET", "/v1/jobs", ADMIN, NULL, 200);
        ck_assert_uint_eq(json_array_size(json_object_get(j, "jobs")), 1);
        json_decref(j);
        ck_assert_int_eq(http("POST", "/v1/tokens", a, NULL, NULL), 403);
        ck_assert_int_eq(http("GET", "/metrics", a, NULL, NULL), 403);

        /* Only hashes are stored, privately. */
        snprintf(tokfile, sizeof(tokfile), "%s/server/tokens.json", dir);
        ck_assert_int_eq(stat(tokfile, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0600);
        ck_assert_int_eq(vs_read_file(tokfile, 1 << 20, &text, &len, NULL), 0);
        ck_assert_ptr_null(strstr(text, a));
        free(text);

        /* Revoked: the token no longer works; the admin still sees the job. */
        snprintf(path, sizeof(path), "/v1/tokens/%s", json_string_value(json_object_get(t1, "id")));
        json_decref(http_json("DELETE", path, ADMIN, NULL, 200));
        ck_assert_int_eq(http("GET", "/v1/jobs", a, NULL, NULL), 401);
        snprintf(path, sizeof(path), "/v1/jobs/%s", id);
        ck_assert_int_eq(http("GET", path, ADMIN, NULL, NULL), 200);
        json_decref(t1);
        json_decref(t2);
        vs_server_stop(srv, 0);
}
END_TEST

/* ---- limits: connections held, follows, quotas, /v1/run's log ------------------ */

/* GET path with token on a new connection; *head gets what came within
 * wait_ms (an answer's status line and headers; a follow's too, since MHD
 * sends them before the first chunk).  Returns the fd. */
static int raw_get(const char *path, const char *token, int wait_ms, char *head, size_t headlen)
{
        char req[512];
        int fd = raw_connect();

        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", path, token);
        hc_send(fd, req);
        hc_read_head(fd, wait_ms, head, headlen);
        return fd;
}

static void follow_path(const char *id, char *path, size_t len)
{
        snprintf(path, len, "/v1/jobs/%s/logs?follow=1", id);
}

static json_t *new_token(char tok[65], char tid[13])
{
        json_t *t = http_json("POST", "/v1/tokens", ADMIN, NULL, 201);

        snprintf(tok, 65, "%s", json_string_value(json_object_get(t, "token")));
        snprintf(tid, 13, "%s", json_string_value(json_object_get(t, "id")));
        return t;
}

static void ck_error_body(const char *body, const char *code, const char *msg)
{
        json_t *j = json_loads(body, 0, NULL), *e = json_object_get(j, "error");

        ck_assert_msg(j != NULL, "not JSON: %s", body);
        ck_assert_str_eq(json_string_value(json_object_get(e, "code")), code);
        ck_assert_str_eq(json_string_value(json_object_get(e, "message")), msg);
        json_decref(j);
}

/* 64 follows of one created job held every slot of their address for ever;
 * now a job takes 4 follows and an owner 16 (429 beyond, as JSON). */
START_TEST(follows_capped_per_job_and_owner)
{
        vs_server *srv = srv_start(1, 0);
        char tok[65], tid[13], ids[5][13], path[128], head[4096], want[160], *body;
        int fds[17], nfd = 0;
        json_t *t = new_token(tok, tid);

        for (int i = 0; i < 5; i++)
                create_job(tok, "{\"tag\":\"fake:1\"}", ids[i]);
        follow_path(ids[0], path, sizeof(path));
        for (int i = 0; i < 4; i++) {
                fds[nfd++] = raw_get(path, tok, 2000, head, sizeof(head));
                ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "follow %d: %.200s", i, head);
        }
        ck_assert_int_eq(http("GET", path, tok, NULL, &body), 429);
        snprintf(want, sizeof(want), "job %s already has 4 log follows open (--job-follows)", ids[0]);
        ck_error_body(body, "too_many", want);
        free(body);
        for (int j = 1; j < 5; j++) {
                follow_path(ids[j], path, sizeof(path));
                for (int k = 0; k < 3; k++) {
                        fds[nfd++] = raw_get(path, tok, 2000, head, sizeof(head));
                        ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "follow of %s: %.200s", ids[j], head);
                }
        }
        ck_assert_int_eq(nfd, 16);
        ck_assert(connections_reach(srv, 16));
        /* ids[1] has 3 follows: the owner's 16 are what refuses. */
        follow_path(ids[1], path, sizeof(path));
        ck_assert_int_eq(http("GET", path, tok, NULL, &body), 429);
        snprintf(want, sizeof(want), "client %s already has 16 log follows open (--owner-follows)", tid);
        ck_error_body(body, "too_many", want);
        free(body);
        /* Another follower (the admin) has its own count. */
        fds[nfd++] = raw_get(path, ADMIN, 2000, head, sizeof(head));
        ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "admin follow: %.200s", head);
        /* A follow that ends gives its place back. */
        close(fds[1]);
        ck_assert(connections_reach(srv, 16));
        follow_path(ids[0], path, sizeof(path));
        fds[1] = raw_get(path, tok, 2000, head, sizeof(head));
        ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "after a close: %.200s", head);
        for (int i = 0; i < nfd; i++)
                close(fds[i]);
        json_decref(t);
        vs_server_stop(srv, 0);
}
END_TEST

/* Nothing comes before someone starts a job: a follow of a created job ends
 * after the idle timeout instead of holding its connection for ever. */
START_TEST(follow_of_created_job_ends)
{
        vs_server *srv = srv_start(1, 1);
        char id[13], path[128], req[512], *out;
        double t0, took;
        const char *body;

        create_job(ADMIN, "{\"tag\":\"fake:1\"}", id);
        follow_path(id, path, sizeof(path));
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " ADMIN "\r\n\r\n", path);
        t0 = now_s();
        out = raw(req, 6000); /* until the server closes the idle connection */
        took = now_s() - t0;
        ck_assert_msg(strncmp(out, "HTTP/1.1 200", 12) == 0, "got: %.200s", out);
        body = strstr(out, "\r\n\r\n");
        ck_assert_ptr_nonnull(body);
        ck_assert_msg(strcmp(body, "\r\n\r\n0\r\n\r\n") == 0, "the follow did not end: %.100s", body);
        ck_assert_msg(took >= 0.9 && took < 5.0, "took %.1f s", took);
        free(out);
        ck_status_http(id, "created");
        vs_server_stop(srv, 0);
}
END_TEST

/* Held requests (follows, waits, uploads, downloads) may take 3/4 of the
 * connections, in all and from one address: /v1/health and the admin
 * always get in, also from the address that every client behind a proxy
 * shares. */
static void check_headroom(bool tcp)
{
        /* One token holds all six and asks for more: its own share is not what
         * this checks. */
        vs_server_opts o = { .listen = tcp ? "tcp" : NULL, .max_per_ip = 8, .max_connections = tcp ? 32 : 8,
                             .owner_holds = 8 };
        vs_server *srv = srv_start_opts(&o);
        char tok[65], tid[13], ids[3][13], path[128], head[4096];
        int fds[8], nfd = 0;
        json_t *t = new_token(tok, tid), *list;

        for (int i = 0; i < 3; i++)
                create_job(tok, "{\"tag\":\"fake:1\"}", ids[i]);
        for (int i = 0; i < 6; i++) {
                follow_path(ids[i / 3], path, sizeof(path));
                fds[nfd++] = raw_get(path, tok, 2000, head, sizeof(head));
                ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "follow %d: %.200s", i, head);
        }
        ck_assert(connections_reach(srv, 6));
        follow_path(ids[2], path, sizeof(path));
        for (int i = 0; i < 2; i++) {
                int fd = raw_get(path, tok, 2000, head, sizeof(head));
                ck_assert_msg(strncmp(head, "HTTP/1.1 503", 12) == 0, "held request %d: %.300s", 7 + i, head);
                ck_assert_ptr_nonnull(strstr(head, "Retry-After: 10\r\n"));
                close(fd);
        }
        ck_assert(connections_reach(srv, 6));
        ck_assert_int_eq(http("GET", "/v1/health", NULL, NULL, NULL), 200);
        /* MHD counts a finished connection until its thread has closed it:
         * each short request waits for the previous one to be gone (with
         * --max-per-ip 8 only two fit beside the six follows). */
        ck_assert(connections_reach(srv, 6));
        list = http_json("GET", "/v1/jobs", ADMIN, NULL, 200);
        ck_assert_uint_eq(json_array_size(json_object_get(list, "jobs")), 3);
        json_decref(list);
        ck_assert(connections_reach(srv, 6));
        /* A short request of the client itself gets in too. */
        ck_assert_int_eq(http("GET", "/v1/jobs", tok, NULL, NULL), 200);
        close(fds[0]);
        ck_assert(connections_reach(srv, 5));
        fds[0] = raw_get(path, tok, 2000, head, sizeof(head));
        ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "after a close: %.200s", head);
        for (int i = 0; i < nfd; i++)
                close(fds[i]);
        json_decref(t);
        vs_server_stop(srv, 0);
}

START_TEST(headroom_unix_socket)
{
        check_headroom(false);
}
END_TEST

START_TEST(headroom_per_address)
{
        check_headroom(true);
}
END_TEST

/* Counts are 429, storage 507, a spec over 64 KiB 413 — each before the
 * body of an upload is read. */
START_TEST(quotas_answer_429_507_413)
{
        vs_server_opts o = { .service = { .owner_jobs = 2, .max_state = 512 << 10, .owner_state = 1 << 20 } };
        vs_server *srv = srv_start_opts(&o);
        char tok[65], tid[13], id[13], req[512], want[200], *body, *out, *big;
        json_t *t = new_token(tok, tid);
        size_t n = 0;

        create_job(tok, "{\"tag\":\"fake:1\"}", id);
        create_job(tok, "{\"tag\":\"fake:1\"}", id);
        ck_assert_int_eq(http("POST", "/v1/jobs", tok, "{\"tag\":\"fake:1\"}", &body), 429);
        snprintf(want, sizeof(want), "client %s already has 2 jobs (--owner-jobs): delete some first", tid);
        ck_error_body(body, "too_many", want);
        free(body);

        snprintf(req, sizeof(req), "PUT /v1/jobs/%s/image HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                                   "Content-Length: 600000\r\n\r\n", id, tok);
        out = raw(req, 5000);
        ck_assert_msg(strncmp(out, "HTTP/1.1 507", 12) == 0, "got: %.200s", out);
        ck_assert_ptr_nonnull(strstr(out, "\"no_space\""));
        ck_assert_msg(strstr(out, "over its --max-state 512K") != NULL, "got: %s", out);
        free(out);

        big = malloc(200000);
        n += (size_t)snprintf(big, 200000, "{\"tag\":\"fake:1\",\"env\":{");
        for (int i = 0; i < 3; i++) {
                n += (size_t)snprintf(big + n, 200000 - n, "%s\"K%d\":\"", i ? "," : "", i);
                memset(big + n, 'v', 30000);
                n += 30000;
                n += (size_t)snprintf(big + n, 200000 - n, "\"");
        }
        snprintf(big + n, 200000 - n, "}}");
        ck_assert_int_eq(http("POST", "/v1/jobs", ADMIN, big, &body), 413);
        ck_error_body(body, "too_large", "the job spec is 90048 bytes of JSON, over the limit of 65536");
        free(body);
        free(big);
        json_decref(t);
        vs_server_stop(srv, 0);
}
END_TEST

/* /v1/run's log: the last 1000 lines, NUL bytes kept as U+FFFD (the whole
 * rest of the log used to be dropped after one), a last line without \n. */
START_TEST(run_log_tail_keeps_nul)
{
        vs_server *srv = srv_start(1, 0);
        json_t *j = http_json("POST", "/v1/run", ADMIN,
                              "{\"tag\":\"fake:1\",\"cmd\":[\"fake\",\"rep:1500:780a\",\"rep:1:6100620a\",\"out:end\"]}",
                              200);
        json_t *log = json_object_get(j, "log");

        ck_assert_uint_eq(json_array_size(log), 1000);
        ck_assert_str_eq(json_string_value(json_array_get(log, 0)), "x");
        ck_assert_str_eq(json_string_value(json_array_get(log, 997)), "x");
        ck_assert_str_eq(json_string_value(json_array_get(log, 998)), "a\xef\xbf\xbd" "b");
        ck_assert_str_eq(json_string_value(json_array_get(log, 999)), "end");
        json_decref(j);
        vs_server_stop(srv, 0);
}
END_TEST

/* 8 Mi empty lines: the log was assembled by removing the first of 1001
 * lines 8 million times (seconds of a request thread); now it is read from
 * the end.  Measured: the time /v1/run takes beyond the job's own run. */
START_TEST(run_log_of_many_lines_is_quick)
{
        vs_server *srv = srv_start(1, 0);
        char cmd[700];
        double t0, took, ran;
        json_t *j, *rec;
        char path[64];
        size_t n;

        n = (size_t)snprintf(cmd, sizeof(cmd), "{\"tag\":\"fake:1\",\"cmd\":[\"fake\",\"rep:32768:");
        for (int i = 0; i < 256; i++)
                n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, "0a");
        snprintf(cmd + n, sizeof(cmd) - n, "\",\"out:last\"]}");
        t0 = now_s();
        j = http_json("POST", "/v1/run", ADMIN, cmd, 200);
        took = now_s() - t0;
        ck_assert_uint_eq(json_array_size(json_object_get(j, "log")), 1000);
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "log"), 998)), "");
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "log"), 999)), "last");
        snprintf(path, sizeof(path), "/v1/jobs/%s", json_string_value(json_object_get(j, "id")));
        rec = http_json("GET", path, ADMIN, NULL, 200);
        ran = (double)(json_integer_value(json_object_get(rec, "finished_ms")) -
                       json_integer_value(json_object_get(rec, "created_ms"))) / 1000.0;
        ck_assert_msg(took - ran < 0.5, "/v1/run took %.2f s, the job %.2f s", took, ran);
        json_decref(rec);
        json_decref(j);
        vs_server_stop(srv, 0);
}
END_TEST

#define METRICS "metrics-token-0123456789abcdef"

static void put_token_file(const char *name, const char *token, char *path, size_t len)
{
        FILE *f;

        snprintf(path, len, "%s/%s", dir, name);
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "%s\n", token);
        ck_assert_int_eq(fclose(f), 0);
}

/* --metrics-token-file: that token reads /metrics (as the admin's does) and
 * nothing else, neither admin routes nor jobs (it is no owner, so it must
 * not be taken for the admin); client tokens still may not read /metrics;
 * the text names no job and no owner; the admin's own token is refused as
 * the metrics token. */
START_TEST(metrics_token_reads_metrics_only)
{
        char mfile[128], id[13], path[64], tok[65], tid[13], *body;
        vs_server_opts o = { 0 };
        vs_error err = { 0 };
        vs_server *srv;
        json_t *t;

        put_token_file("metrics-token", METRICS, mfile, sizeof(mfile));
        o.metrics_token_file = mfile;
        srv = srv_start_opts(&o);
        t = new_token(tok, tid);
        create_job(tok, "{\"tag\":\"fake:1\",\"cmd\":[\"fake\",\"out:hi\\n\"]}", id);
        snprintf(path, sizeof(path), "/v1/jobs/%s/start", id);
        ck_assert_int_eq(http("POST", path, tok, NULL, NULL), 202);
        fake_wait_started(1);

        ck_assert_int_eq(http("GET", "/metrics", METRICS, NULL, &body), 200);
        ck_assert_ptr_nonnull(strstr(body, "# TYPE vmsandbox_jobs gauge\n"));
        ck_assert_ptr_null(strstr(body, id));
        ck_assert_ptr_null(strstr(body, tid));
        free(body);
        ck_assert_int_eq(http("GET", "/metrics", ADMIN, NULL, NULL), 200);
        ck_assert_int_eq(http("GET", "/metrics", tok, NULL, NULL), 403);
        ck_assert_int_eq(http("GET", "/metrics", NULL, NULL, NULL), 401);
        ck_assert_int_eq(http("GET", "/metrics", METRICS "x", NULL, NULL), 401);
        snprintf(path, sizeof(path), "/v1/jobs/%s", id);
        ck_assert_int_eq(http("GET", path, METRICS, NULL, &body), 403);
        ck_error_body(body, "forbidden", "the metrics token reads GET /metrics only");
        free(body);
        ck_assert_int_eq(http("GET", "/v1/jobs", METRICS, NULL, NULL), 403);
        ck_assert_int_eq(http("DELETE", path, METRICS, NULL, NULL), 403);
        ck_assert_int_eq(http("GET", "/v1/tokens", METRICS, NULL, NULL), 403);
        ck_assert_int_eq(http("POST", "/v1/tokens", METRICS, NULL, NULL), 403);
        ck_assert_int_eq(http("GET", "/v1/health", METRICS, NULL, NULL), 200);
        json_decref(t);
        vs_server_stop(srv, 0);

        /* The admin's token as the metrics token: refused at start. */
        o = (vs_server_opts){ .socket = sock, .max_body = 1 << 20, .service = { .cfg = &cfg, .run = fake_run, .max_jobs = 1,
                                                                                 .memory_budget = 8ull << 30 } };
        put_token_file("token", ADMIN, path, sizeof(path));
        o.token_file = path;
        o.metrics_token_file = path;
        ck_assert_int_eq(vs_server_start(&o, &srv, &err), -1);
        ck_assert_str_eq(err.msg, "--metrics-token-file holds the admin token: give it a token of its own");
}
END_TEST

/* Runs `vmsandbox VERB --server (this one) ARGS` (VS_CLI_PATH; ARGS are
 * shell words); its output (stdout, and stderr too with "2>&1" in args) into
 * out; returns the exit status (-1: not exited). */
static int run_cli(const char *verb, const char *args, char *out, size_t outlen)
{
        char cmd[2048];
        size_t n;
        FILE *p;
        int status;

        snprintf(cmd, sizeof(cmd), "'%s' %s --server 'unix:%s' %s", VS_CLI_PATH, verb, sock, args);
        p = popen(cmd, "r");
        ck_assert_ptr_nonnull(p);
        n = fread(out, 1, outlen - 1, p);
        out[n] = '\0';
        status = pclose(p);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void ck_stream(const char *id, const char *stream, const char *token, long want, const char *want_body)
{
        char path[128];
        char *body;

        snprintf(path, sizeof(path), "/v1/jobs/%s/logs?stream=%s", id, stream);
        ck_assert_int_eq(http("GET", path, token, NULL, &body), want);
        ck_assert_str_eq(body, want_body);
        free(body);
}

/* ?stream=stdout|stderr|dockerd: each log a finished job's out/ holds,
 * exactly; the owner's (404 for another client, as every job route), 409
 * while the job runs, 404 for an unknown stream, job or a log the job does
 * not have; a log over 64 MiB sends its last 64 MiB and says how much it
 * skipped. */
START_TEST(logs_by_stream)
{
        vs_server *srv = srv_start(1, 0);
        char a[65], aid[13], b[65], bid[13], id[13], id2[13], id3[13], path[256], head[4096], *body;
        json_t *ta = new_token(a, aid), *tb = new_token(b, bid), *j;
        int fd;

        j = http_json("POST", "/v1/run", a,
                      "{\"tag\":\"fake:1\",\"cmd\":[\"fake\",\"out:merged\\n\",\"file:stdout.log:the stdout\\n\","
                      "\"file:stderr.log:the stderr\\n\",\"file:dockerd.log:dockerd said\\n\"]}", 200);
        snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);
        ck_stream(id, "stdout", a, 200, "the stdout\n");
        ck_stream(id, "stderr", a, 200, "the stderr\n");
        ck_stream(id, "dockerd", ADMIN, 200, "dockerd said\n");
        snprintf(path, sizeof(path), "/v1/jobs/%s/logs", id);
        ck_assert_int_eq(http("GET", path, a, NULL, &body), 200);
        ck_assert_str_eq(body, "merged\n");
        free(body);
        snprintf(path, sizeof(path), "/v1/jobs/%s/logs?stream=nope", id);
        ck_assert_int_eq(http("GET", path, a, NULL, &body), 404);
        ck_error_body(body, "not_found", "no stream \"nope\": stdout, stderr or dockerd");
        free(body);
        /* Not UTF-8: still a 404 with a message (it was no answer at all). */
        snprintf(path, sizeof(path), "/v1/jobs/%s/logs?stream=%%FFx", id);
        ck_assert_int_eq(http("GET", path, a, NULL, &body), 404);
        ck_error_body(body, "not_found", "no stream \"\xef\xbf\xbdx\": stdout, stderr or dockerd");
        free(body);
        snprintf(path, sizeof(path), "/v1/jobs/%s/logs?stream=stdout&follow=1", id);
        ck_assert_int_eq(http("GET", path, a, NULL, NULL), 400);
        snprintf(path, sizeof(path), "/v1/jobs/%s/logs?stream=stdout", id);
        ck_assert_int_eq(http("GET", path, b, NULL, &body), 404);
        snprintf(path, sizeof(path), "no job %s", id);
        ck_error_body(body, "not_found", path);
        free(body);
        ck_assert_int_eq(http("GET", "/v1/jobs/0123456789ab/logs?stream=stdout", ADMIN, NULL, NULL), 404);

        /* The CLI: vmsandbox logs ID --stream S, with the client's token. */
        char tokfile[128], args[512], out[4096];
        put_token_file("client-token", a, tokfile, sizeof(tokfile));
        snprintf(args, sizeof(args), "%s --stream dockerd --token-file '%s' 2>/dev/null", id, tokfile);
        ck_assert_int_eq(run_cli("logs", args, out, sizeof(out)), 0);
        ck_assert_str_eq(out, "dockerd said\n");
        snprintf(args, sizeof(args), "%s --stream stderr --token-file '%s' 2>/dev/null", id, tokfile);
        ck_assert_int_eq(run_cli("logs", args, out, sizeof(out)), 0);
        ck_assert_str_eq(out, "the stderr\n");
        snprintf(args, sizeof(args), "%s --stream console --token-file '%s' 2>&1", id, tokfile);
        ck_assert_int_eq(run_cli("logs", args, out, sizeof(out)), 2);
        ck_assert_str_eq(out, "vmsandbox: --stream console: not stdout, stderr or dockerd\n");
        snprintf(args, sizeof(args), "%s --stream stderr --follow --token-file '%s' 2>&1", id, tokfile);
        ck_assert_int_eq(run_cli("logs", args, out, sizeof(out)), 2);
        ck_assert_str_eq(out, "vmsandbox: --stream belongs to logs, without --follow (a stream is served once the job "
                              "ended)\n");

        /* A job with no dockerd.log (its output has no such file). */
        j = http_json("POST", "/v1/run", a, "{\"tag\":\"fake:1\",\"cmd\":[\"fake\",\"file:stdout.log:x\"]}", 200);
        snprintf(id2, sizeof(id2), "%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);
        snprintf(path, sizeof(path), "/v1/jobs/%s/logs?stream=dockerd", id2);
        ck_assert_int_eq(http("GET", path, a, NULL, &body), 404);
        snprintf(path, sizeof(path), "job %s has no dockerd log", id2);
        ck_error_body(body, "not_found", path);
        free(body);

        /* Running: 409. */
        create_job(a, "{\"tag\":\"fake:1\",\"cmd\":[\"fake\",\"block\"],\"env\":[\"NAME=streamlog\"]}", id3);
        snprintf(path, sizeof(path), "/v1/jobs/%s/start", id3);
        ck_assert_int_eq(http("POST", path, a, NULL, NULL), 202);
        fake_wait_blocked(1);
        snprintf(path, sizeof(path), "/v1/jobs/%s/logs?stream=stderr", id3);
        ck_assert_int_eq(http("GET", path, a, NULL, NULL), 409);
        fake_release("streamlog");

        /* Bounded: a 70 MiB stdout.log (sparse) sends its last 64 MiB (the
         * head says so; the body is not read: 64 MiB is slow under ASan). */
        snprintf(path, sizeof(path), "%s/server/jobs/%s/out/stdout.log", dir, id);
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pwrite(fd, "END\n", 4, (70 << 20) - 4), 4);
        close(fd);
        snprintf(path, sizeof(path), "/v1/jobs/%s/logs?stream=stdout", id);
        fd = raw_get(path, a, 5000, head, sizeof(head));
        close(fd);
        ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "%s", head);
        ck_assert_msg(strcasestr(head, "\r\nContent-Length: 67108864\r\n") != NULL, "%s", head);
        ck_assert_msg(strstr(head, "\r\nX-Vmsandbox-Skipped-Bytes: 6291456\r\n") != NULL, "%s", head);
        json_decref(ta);
        json_decref(tb);
        vs_server_stop(srv, 0);
}
END_TEST

/* A timeout's verdict names the limit, where the job was and the flag to
 * raise, for every phase; the job record carries it, and `vmsandbox submit
 * --follow` prints it (it said nothing before) and exits 124 as run does. */
START_TEST(timeout_names_phase_and_flag)
{
        static const struct {
                uint64_t ms;
                vs_phase phase;
                const char *guest, *want;
        } cases[] = {
                { 600000, VS_PHASE_WAIT, "load",
                  "the job ran past --timeout 10m while the guest was in load (loading the image); raise --timeout" },
                { 40000, VS_PHASE_WAIT, "run",
                  "the job ran past --timeout 40s while the guest was in run (running the workflow); raise --timeout" },
                { 7200000, VS_PHASE_WAIT, "engine-ready",
                  "the job ran past --timeout 2h while the guest was in engine-ready (starting the Docker engine); raise --timeout" },
                { 1500, VS_PHASE_WAIT, "save",
                  "the job ran past --timeout 1500ms while the guest was in save (saving the image for --export-image); raise --timeout" },
                { 60000, VS_PHASE_WAIT, NULL,
                  "the job ran past --timeout 1m before the guest reported a phase (booting: see console_tail); raise --timeout" },
                { 60000, VS_PHASE_PREPARE, NULL,
                  "the job ran past --timeout 1m while preparing the job disk (copying the image and workspace in); raise --timeout" },
                { 60000, VS_PHASE_BOOT, NULL, "the job ran past --timeout 1m while starting the VM; raise --timeout" },
                { 60000, VS_PHASE_COLLECT, NULL,
                  "the job ran past --timeout 1m while collecting the outputs from the job disk; raise --timeout" },
        };
        const char *want = cases[0].want;
        char tokfile[128], cmd[512], out[8192];
        vs_server *srv;
        json_t *j;
        int status;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *m = vs_timeout_message(cases[i].ms, cases[i].phase, cases[i].guest);
                ck_assert_str_eq(m, cases[i].want);
                free(m);
        }

        srv = srv_start(1, 0);
        j = http_json("POST", "/v1/run", ADMIN, "{\"tag\":\"fake:1\",\"timeout\":600,\"cmd\":[\"fake\",\"timeout:load\"]}", 500);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "timeout");
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "message")), want);
        ck_status_http(json_string_value(json_object_get(j, "id")), "timeout");
        json_decref(j);

        /* The CLI, as a client of this server (stderr into the pipe). */
        snprintf(tokfile, sizeof(tokfile), "%s/token", dir);
        snprintf(cmd, sizeof(cmd), "--token-file '%s' --tag fake:1 --timeout 10m --follow -- fake timeout:load 2>&1", tokfile);
        status = run_cli("submit", cmd, out, sizeof(out));
        ck_assert_msg(status == 124, "exit %d: %s", status, out);
        char line[512];
        snprintf(line, sizeof(line), "vmsandbox: %s\n", want);
        ck_assert_msg(strstr(out, line) != NULL, "no \"%s\" in: %s", want, out);
        vs_server_stop(srv, 0);
}
END_TEST

Suite *suite_http(void)
{
        Suite *s = suite_create("http");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, auth_and_route_table);
        tcase_add_test(tc, too_large_answered_before_body);
        tcase_add_test(tc, run_sync_shape);
        tcase_add_test(tc, run_sync_refused_leaves_no_job);
        tcase_add_test(tc, follow_notices_client_gone);
        tcase_add_test(tc, stop_ends_waits_of_queued_jobs);
        tcase_add_test(tc, idle_timeout_spares_live_follow);
        tcase_add_test(tc, client_tokens_see_their_own_jobs);
        tcase_add_test(tc, follows_capped_per_job_and_owner);
        tcase_add_test(tc, follow_of_created_job_ends);
        tcase_add_test(tc, headroom_unix_socket);
        tcase_add_test(tc, headroom_per_address);
        tcase_add_test(tc, quotas_answer_429_507_413);
        tcase_add_test(tc, run_log_tail_keeps_nul);
        tcase_add_test(tc, run_log_of_many_lines_is_quick);
        tcase_add_test(tc, metrics_token_reads_metrics_only);
        tcase_add_test(tc, logs_by_stream);
        tcase_add_test(tc, timeout_names_phase_and_flag);
        suite_add_tcase(s, tc);
        return s;
}
