/* The Docker engine in the guest and the workflow's container. */
#include "agent.h"
#include "alloc.h"
#include "cleanup.h"
#include "clock.h"
#include "io.h"
#include "proc.h"
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define DOCKERD "/usr/sbin/dockerd"
#define ENGINE_WAIT_MS (300u * 1000u)
#define ENGINE_STOP_MS (120u * 1000u)
#define PING_TIMEOUT_S 2

/* One GET /_ping.  The socket has send and receive timeouts: a dockerd that
 * accepts connections (the kernel does, from listen() on) but does not
 * answer yet must not hold the start-up loop past its deadline. */
static bool engine_ping(void)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = DOCKER_SOCK };
        static const char req[] = "GET /_ping HTTP/1.0\r\n\r\n";
        struct timeval tv = { .tv_sec = PING_TIMEOUT_S };
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        char buf[256];
        ssize_t n;

        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                return false;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || vs_write_full(fd, req, sizeof(req) - 1) < 0)
                return false;
        /* HTTP/1.0: the engine closes after its answer; the status line is
         * in the first bytes. */
        n = vs_read_full(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        return strncmp(buf, "HTTP/1.", 7) == 0 && strstr(buf, " 200 ") != NULL;
}

int docker_start_engine(bool nat, pid_t *ret_pid, vs_error *err)
{
        char *none[] = { DOCKERD, "--host", "unix://" DOCKER_SOCK, "--iptables=false", "--ip6tables=false",
                         "--bridge=none", "--ip-masq=false", "--log-level=warn", NULL };
        char *withnet[] = { DOCKERD, "--host", "unix://" DOCKER_SOCK, "--log-level=warn", NULL };
        _cleanup_close_ int log = open(VS_JOB_MOUNT "/out/dockerd.log",
                                       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        uint64_t deadline = vs_mono_ms() + ENGINE_WAIT_MS;
        pid_t pid;

        if (log < 0)
                channel_log("cannot create dockerd.log (%s); dockerd logs to the console", strerror(errno));
        if (spawn_bg(nat ? withnet : none, log >= 0 ? log : STDERR_FILENO, &pid, err) < 0)
                return -1;
        while (vs_mono_ms() < deadline) {
                int status, r;

                if (engine_ping()) {
                        *ret_pid = pid;
                        return 0;
                }
                r = vs_poll_pid(pid, &status);
                if (r < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "waiting for dockerd");
                if (r > 0)
                        return vs_error_set(err, VS_ERR_SANDBOX, "dockerd exited during start-up with status %d (see dockerd.log)",
                                            vs_exit_code(status));
                poll(NULL, 0, 100);
        }
        /* Left running: the VM powers off after the error is recorded. */
        return vs_error_set(err, VS_ERR_SANDBOX, "dockerd did not answer within %u s", ENGINE_WAIT_MS / 1000);
}

int docker_stop_engine(pid_t pid, vs_error *err)
{
        uint64_t deadline = vs_mono_ms() + ENGINE_STOP_MS;
        int status, r;

        if (vs_kill_pid(pid, SIGTERM) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot stop dockerd (pid %d)", (int)pid);
        while (vs_mono_ms() < deadline) {
                r = vs_poll_pid(pid, &status);
                if (r < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "waiting for dockerd to stop");
                if (r > 0)
                        return 0;
                poll(NULL, 0, 100);
        }
        if (vs_kill_pid(pid, SIGKILL) == 0)
                vs_wait_pid(pid, &status);
        return vs_error_set(err, VS_ERR_SANDBOX, "dockerd did not stop within %u s (killed)", ENGINE_STOP_MS / 1000);
}

/* Short calls (create, start, inspect, version) are bounded; the streams
 * (load, attach, wait, build, save) last as long as their work, which the
 * host's --timeout bounds by ending the VM. */
#define CALL_TIMEOUT_S 300u

/* One request with an optional body (in memory or len bytes of body_fd),
 * the answer's status and whole body (bounded) back. */
static int engine_call(const char *method, const char *path, const char *ctype, const char *body, int body_fd,
                       uint64_t body_len, unsigned timeout_s, int *ret_status, char **ret_answer, size_t *ret_len,
                       vs_error *err)
{
        engine_conn c;
        int r, status;

        if (engine_connect(&c, DOCKER_SOCK, timeout_s, err) < 0)
                return -1;
        r = engine_send_head(&c, method, path, ctype,
                             body ? (long long)strlen(body) : body_fd >= 0 ? (long long)body_len : -1, false, err);
        if (r == 0 && body)
                r = engine_send(&c, body, strlen(body), err);
        if (r == 0 && body_fd >= 0)
                r = engine_send_fd(&c, body_fd, body_len, err);
        /* An engine that refused the body early has its answer waiting. */
        if (engine_read_head(&c, &status, r < 0 ? &(vs_error){ 0 } : err) < 0 ||
            engine_read_all(&c, ENGINE_ANSWER_MAX, ret_answer, ret_len, err) < 0) {
                engine_conn_close(&c);
                return -1;
        }
        engine_conn_close(&c);
        /* A success for a body the engine did not get whole is none. */
        if (r < 0 && status >= 200 && status <= 299)
                return -1;
        *ret_status = status;
        return 0;
}

/* A call that must answer 2xx: the engine's message otherwise. */
static int engine_ok(const char *what, const char *method, const char *path, const char *body, char **ret_answer,
                     size_t *ret_len, vs_error *err)
{
        _cleanup_free_ char *answer = NULL;
        size_t len = 0;
        int status;

        if (engine_call(method, path, body ? "application/json" : NULL, body, -1, 0, CALL_TIMEOUT_S, &status, &answer,
                        &len, err) < 0) {
                vs_error_prefix(err, "%s", what);
                return -1;
        }
        if (status < 200 || status > 299) {
                _cleanup_free_ char *m = engine_error_message(status, answer, len);
                return vs_error_set(err, VS_ERR_SANDBOX, "%s: %s", what, m);
        }
        if (ret_answer) {
                *ret_answer = TAKE_PTR(answer);
                *ret_len = len;
        }
        return 0;
}

/* A JSON message stream (load, build): each message to on_msg. */
typedef int (*msg_fn)(void *ud, engine_msg *m, vs_error *err);
typedef struct {
        msg_fn fn;
        void *ud;
} msg_sink;

static int msg_line(void *ud, const char *line, size_t len, vs_error *err)
{
        msg_sink *s = ud;
        engine_msg m;
        int r;

        if (engine_parse_msg(line, len, &m, err) < 0)
                return -1;
        r = s->fn(s->ud, &m, err);
        engine_msg_clear(&m);
        return r;
}

/* POSTs len bytes of fd to path and reads the answer: a message stream
 * when it is 200, the engine's error otherwise. */
static int engine_stream_post(const char *what, const char *path, int fd, uint64_t len, msg_fn fn, void *ud, vs_error *err)
{
        msg_sink sink = { fn, ud };
        engine_lines lines = { 0 };
        engine_conn c;
        char buf[16384];
        int r, status;
        ssize_t n;

        if (engine_connect(&c, DOCKER_SOCK, 0, err) < 0)
                return -1;
        r = engine_send_head(&c, "POST", path, "application/x-tar", (long long)len, false, err);
        if (r == 0)
                r = engine_send_fd(&c, fd, len, err);
        if (engine_read_head(&c, &status, r < 0 ? &(vs_error){ 0 } : err) < 0 || (r < 0 && status == 200))
                goto fail;
        if (status != 200) {
                _cleanup_free_ char *answer = NULL, *m = NULL;
                size_t alen = 0;

                if (engine_read_all(&c, ENGINE_ANSWER_MAX, &answer, &alen, err) < 0)
                        goto fail;
                m = engine_error_message(status, answer, alen);
                vs_error_set(err, VS_ERR_SANDBOX, "%s", m);
                goto fail;
        }
        while ((n = engine_read_body(&c, buf, sizeof(buf), err)) > 0)
                if (engine_lines_feed(&lines, buf, (size_t)n, msg_line, &sink, err) < 0)
                        goto fail;
        if (n < 0 || engine_lines_end(&lines, msg_line, &sink, err) < 0)
                goto fail;
        engine_lines_clear(&lines);
        engine_conn_close(&c);
        return 0;
fail:
        vs_error_prefix(err, "%s", what);
        engine_lines_clear(&lines);
        engine_conn_close(&c);
        return -1;
}

static int open_input(const char *path, uint64_t *ret_len, vs_error *err)
{
        struct stat st;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

        if (fd < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "%s", path);
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return vs_error_set(err, VS_ERR_INPUT, "%s is not a regular file", path);
        }
        *ret_len = (uint64_t)st.st_size;
        return fd;
}

typedef struct {
        char *loaded;
        char *error;
} load_state;

static int load_msg(void *ud, engine_msg *m, vs_error *err)
{
        load_state *st = ud;

        (void)err;
        if (m->error && !st->error)
                st->error = TAKE_PTR(m->error);
        if (m->stream && !st->loaded)
                st->loaded = docker_parse_loaded(m->stream);
        return 0;
}

int docker_load(const char *tar, char **ret_loaded, vs_error *err)
{
        load_state st = { 0 };
        _cleanup_close_ int fd = -1;
        uint64_t len;

        fd = open_input(tar, &len, err);
        if (fd < 0)
                return -1;
        if (engine_stream_post("docker load", "/images/load?quiet=1", fd, len, load_msg, &st, err) < 0) {
                free(st.loaded);
                free(st.error);
                return -1;
        }
        if (st.error) {
                vs_error_set(err, VS_ERR_SANDBOX, "docker load: %s", st.error);
                free(st.loaded);
                free(st.error);
                return -1;
        }
        *ret_loaded = st.loaded;
        return 0;
}

/* The workflow container's memory limit, from the guest's MemTotal. */
static unsigned long container_memory_kib(void)
{
        char line[256];
        unsigned long total = 0;
        FILE *f = fopen("/proc/meminfo", "re");

        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "MemTotal: %lu kB", &total) == 1)
                        break;
        fclose(f);
        return docker_container_memory_kib(total);
}

/* Exit code and error text of the finished container, from the engine. */
static int container_exit(int *ret_exit, char **ret_run_error, vs_error *err)
{
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        bool oom;

        if (engine_ok("the finished container", "GET", "/containers/" DOCKER_CONTAINER "/json", NULL, &out, &len, err) < 0)
                return -1;
        if (engine_parse_container(out, len, ret_exit, &oom, ret_run_error, err) < 0)
                return -1;
        if (oom) {
                free(*ret_run_error);
                *ret_run_error = vs_xasprintf("the workflow ran out of memory: its limit is %lu MiB of the VM's RAM "
                                              "(--memory)", container_memory_kib() / 1024);
        }
        return 0;
}

static void out_frame(void *ud, char type, const char *data, size_t len)
{
        (void)ud;
        channel_send(type, data, len);
}

/* The attach stream to the host until the container's output ends: raw
 * with a tty (all of it stdout), else demultiplexed. */
static int pump_attach(engine_conn *c, bool tty, vs_error *err)
{
        engine_mux mux = { 0 };
        char buf[16384];
        ssize_t n;

        while ((n = engine_read_body(c, buf, sizeof(buf), err)) > 0) {
                if (tty)
                        channel_send(VS_FRAME_STDOUT, buf, (size_t)n);
                else if (engine_mux_feed(&mux, buf, (size_t)n, out_frame, NULL, err) < 0)
                        return -1;
        }
        return n < 0 ? -1 : engine_mux_end(&mux, err);
}

/* Attached before start (as docker start --attach does), so no output is
 * lost; 101 (upgraded) or 200 both carry the stream. */
static int attach(engine_conn *c, vs_error *err)
{
        int status;

        if (engine_connect(c, DOCKER_SOCK, CALL_TIMEOUT_S, err) < 0)
                return -1;
        if (engine_send_head(c, "POST", "/containers/" DOCKER_CONTAINER "/attach?stream=1&stdout=1&stderr=1", NULL, -1,
                             true, err) < 0 ||
            engine_read_head(c, &status, err) < 0)
                goto fail;
        if (status != 101 && status != 200) {
                _cleanup_free_ char *answer = NULL, *m = NULL;
                size_t len = 0;

                if (engine_read_all(c, ENGINE_ANSWER_MAX, &answer, &len, err) == 0) {
                        m = engine_error_message(status, answer, len);
                        vs_error_set(err, VS_ERR_SANDBOX, "%s", m);
                }
                goto fail;
        }
        /* The stream lasts as long as the workflow. */
        struct timeval none = { 0 };
        if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none)) < 0) {
                vs_error_errno(err, VS_ERR_SANDBOX, errno, "the attach stream");
                goto fail;
        }
        return 0;
fail:
        vs_error_prefix(err, "attaching to the container");
        engine_conn_close(c);
        return -1;
}

/* create, attach, start, the output to its end, wait, inspect: create's
 * failure is an error ("the engine could not create the container"), the
 * rest is the workflow's own result, which the engine's record of the
 * container tells (container_exit). */
int docker_run(const json_t *spec, int *ret_exit, char **ret_run_error, vs_error *err)
{
        _cleanup_free_ char *body = engine_create_body(spec, container_memory_kib(), err);
        _cleanup_free_ char *start_error = NULL;
        bool tty = json_is_true(json_object_get(spec, "tty"));
        engine_conn c;
        vs_error serr = { 0 };

        if (!body || engine_ok("docker create", "POST", "/containers/create?name=" DOCKER_CONTAINER, body, NULL, NULL, err) < 0)
                return -1;
        if (attach(&c, err) < 0)
                return -1;
        if (engine_ok("docker start", "POST", "/containers/" DOCKER_CONTAINER "/start", NULL, NULL, NULL, &serr) < 0) {
                /* Not started (e.g. no such executable): nothing will come
                 * on the stream; the record says how it ended. */
                start_error = vs_xstrdup(serr.msg);
                engine_conn_close(&c);
        } else {
                _cleanup_free_ char *waited = NULL;
                vs_error perr = { 0 };
                size_t wlen = 0;
                int wstatus;

                if (pump_attach(&c, tty, &perr) < 0)
                        channel_log("the workflow's output: %s", perr.msg);
                engine_conn_close(&c);
                if (engine_call("POST", "/containers/" DOCKER_CONTAINER "/wait?condition=not-running", NULL, NULL, -1, 0, 0,
                                &wstatus, &waited, &wlen, &perr) < 0)
                        channel_log("waiting for the container: %s", perr.msg);
        }
        if (container_exit(ret_exit, ret_run_error, err) < 0)
                return -1;
        if (start_error && !*ret_run_error)
                *ret_run_error = TAKE_PTR(start_error);
        return 0;
}

int docker_save(const char *ref, const char *dest, vs_error *err)
{
        _cleanup_free_ char *path = engine_image_path(ref, "get");
        _cleanup_close_ int out = -1;
        engine_conn c;
        char buf[65536];
        int status;
        ssize_t n;

        if (engine_connect(&c, DOCKER_SOCK, 0, err) < 0)
                return -1;
        if (engine_send_head(&c, "GET", path, NULL, -1, false, err) < 0 || engine_read_head(&c, &status, err) < 0)
                goto fail;
        if (status != 200) {
                _cleanup_free_ char *answer = NULL, *m = NULL;
                size_t len = 0;

                if (engine_read_all(&c, ENGINE_ANSWER_MAX, &answer, &len, err) == 0) {
                        m = engine_error_message(status, answer, len);
                        vs_error_set(err, VS_ERR_SANDBOX, "%s", m);
                }
                goto fail;
        }
        out = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (out < 0) {
                vs_error_errno(err, VS_ERR_SANDBOX, errno, "%s", dest);
                goto fail;
        }
        while ((n = engine_read_body(&c, buf, sizeof(buf), err)) > 0)
                if (vs_write_full(out, buf, (size_t)n) < 0) {
                        vs_error_errno(err, VS_ERR_SANDBOX, errno, "writing %s", dest);
                        goto fail;
                }
        if (n < 0)
                goto fail;
        engine_conn_close(&c);
        if (fsync(out) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "writing %s", dest);
        return 0;
fail:
        vs_error_prefix(err, "docker save");
        engine_conn_close(&c);
        if (out >= 0)
                unlink(dest);
        return -1;
}

typedef struct {
        char *id;
        char *error;
        int code;
} build_state;

/* The builder's output lines go to the host as stdout (the host turns them
 * back into the Engine API's JSON lines, docs/docker-api.md). */
static int build_msg(void *ud, engine_msg *m, vs_error *err)
{
        build_state *st = ud;

        (void)err;
        if (m->stream)
                channel_send(VS_FRAME_STDOUT, m->stream, strlen(m->stream));
        if (m->aux_id) {
                free(st->id);
                st->id = TAKE_PTR(m->aux_id);
        }
        if (m->error && !st->error) {
                st->error = TAKE_PTR(m->error);
                st->code = m->code;
        }
        return 0;
}

/* Builds the spec's "build" from /job/in/context.tar with the classic
 * builder: *ret_exit is the docker CLI's status for it (0, or the error's
 * code), *ret_id the built image when 0, *ret_build_error the engine's
 * error text when not. */
int docker_build(const json_t *spec, bool nat, int *ret_exit, char **ret_id, char **ret_build_error, vs_error *err)
{
        _cleanup_free_ char *path = engine_build_path(json_object_get(spec, "build"), nat, err);
        _cleanup_close_ int ctx = -1;
        build_state st = { 0 };
        uint64_t len;

        if (!path)
                return -1;
        ctx = open_input(VS_JOB_MOUNT "/in/context.tar", &len, err);
        if (ctx < 0) {
                vs_error_prefix(err, "the build context");
                return -1;
        }
        if (engine_stream_post("docker build", path, ctx, len, build_msg, &st, err) < 0) {
                free(st.id);
                free(st.error);
                return -1;
        }
        if (st.error) {
                free(st.id);
                *ret_exit = st.code;
                *ret_id = NULL;
                *ret_build_error = st.error;
                return 0;
        }
        if (!st.id)
                return vs_error_set(err, VS_ERR_SANDBOX, "docker build gave no image id");
        *ret_exit = 0;
        *ret_id = st.id;
        *ret_build_error = NULL;
        return 0;
}

/* The engine's version and the image's id and digests; an image that is
 * not there is an answer, not an error: the caller reports it. */
void docker_describe(const char *ref, json_t *result)
{
        _cleanup_free_ char *path = engine_image_path(ref, "json");
        _cleanup_free_ char *v = NULL, *img = NULL, *id = NULL, *version = NULL;
        size_t vlen = 0, ilen = 0;
        json_t *digests = NULL;
        vs_error err = { 0 };

        if (engine_ok("docker version", "GET", "/version", NULL, &v, &vlen, &err) == 0)
                version = engine_parse_version(v, vlen);
        if (version)
                json_object_set_new(result, "docker_version", vs_xjson(json_string(version)));
        if (engine_ok("docker image inspect", "GET", path, NULL, &img, &ilen, &err) == 0 &&
            engine_parse_image(img, ilen, &id, &digests) == 0) {
                json_object_set_new(result, "image_id", vs_xjson(json_string(id)));
                json_object_set_new(result, "repo_digests", digests);
        }
}
