/* Child processes of the agent: the engine, docker commands, modprobe, ip. */
#include "agent.h"
#include "alloc.h"
#include "cleanup.h"
#include "io.h"
#include "proc.h"
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* In the child, before exec: async-signal-safe calls only.  Sources with a
 * number below 3 (PID 1 may start with 0-2 closed, and then /dev/null or a
 * pipe gets one of them) are first lifted above 2, so that no dup2 onto
 * 0..2 overwrites a source not yet moved; dup2 clears FD_CLOEXEC on the
 * copy.  Any failure ends the child with 127, as a failed exec does. */
static _Noreturn void child_exec(char *const argv[], int in_fd, int out_fd, int err_fd)
{
        int fds[3] = { in_fd, out_fd, err_fd };
        sigset_t none;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int i = 0; i < 3; i++)
                if (fds[i] >= 0 && fds[i] < 3 && (fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)) < 0)
                        _exit(127);
        for (int i = 0; i < 3; i++)
                if (fds[i] >= 0 && dup2(fds[i], i) < 0)
                        _exit(127);
        execv(argv[0], argv);
        _exit(127);
}

/* stdin is in_fd, or /dev/null for -1. */
static int start_in(char *const argv[], int in_fd, int out_fd, int err_fd, pid_t *ret_pid, vs_error *err)
{
        _cleanup_close_ int null = in_fd >= 0 ? -1 : open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        pid_t pid;

        if (in_fd < 0 && null < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot open /dev/null for %s", argv[0]);
        pid = fork();
        if (pid < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot start %s", argv[0]);
        if (pid == 0)
                child_exec(argv, in_fd >= 0 ? in_fd : null, out_fd, err_fd);
        *ret_pid = pid;
        return 0;
}

static int start(char *const argv[], int out_fd, int err_fd, pid_t *ret_pid, vs_error *err)
{
        return start_in(argv, -1, out_fd, err_fd, ret_pid, err);
}

static int reap(const char *what, pid_t pid, int *ret_status, vs_error *err)
{
        int status;

        if (vs_wait_pid(pid, &status) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "waiting for %s", what);
        *ret_status = vs_exit_code(status);
        return 0;
}

int spawn_bg(char *const argv[], int log_fd, pid_t *ret_pid, vs_error *err)
{
        return start(argv, log_fd, log_fd, ret_pid, err);
}

int spawn_wait(char *const argv[], bool capture, int log_fd, spawn_result *ret, vs_error *err)
{
        _cleanup_close_ int rd = -1, wr = -1;
        _cleanup_free_ char *out = NULL;
        size_t out_len = 0;
        int p[2], status, e = 0;
        pid_t pid;

        if (capture) {
                if (pipe2(p, O_CLOEXEC) < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot start %s", argv[0]);
                rd = p[0];
                wr = p[1];
        }
        if (start(argv, capture ? wr : log_fd, log_fd, &pid, err) < 0)
                return -1;
        if (capture) {
                wr = vs_safe_close(wr);
                if (vs_read_all(rd, SPAWN_CAPTURE_MAX, &out, &out_len, NULL) < 0)
                        e = errno;
                /* The child is reaped whatever happened to the pipe: closing
                 * it first makes a child still writing get EPIPE. */
                rd = vs_safe_close(rd);
        }
        if (reap(argv[0], pid, &status, err) < 0)
                return -1;
        if (e)
                return vs_error_errno(err, VS_ERR_SANDBOX, e, "reading the output of %s", argv[0]);
        *ret = (spawn_result){ .out = TAKE_PTR(out), .out_len = out_len, .status = status };
        return 0;
}

/* The last SPAWN_TAIL_MAX bytes written to it. */
typedef struct {
        char buf[SPAWN_TAIL_MAX];
        size_t len;
} tail_buf;

static void tail_add(tail_buf *t, const char *data, size_t n)
{
        if (n >= SPAWN_TAIL_MAX) {
                memcpy(t->buf, data + n - SPAWN_TAIL_MAX, SPAWN_TAIL_MAX);
                t->len = SPAWN_TAIL_MAX;
                return;
        }
        if (t->len + n > SPAWN_TAIL_MAX) {
                size_t drop = t->len + n - SPAWN_TAIL_MAX;
                memmove(t->buf, t->buf + drop, t->len - drop);
                t->len -= drop;
        }
        memcpy(t->buf + t->len, data, n);
        t->len += n;
}

/* Forwards both pipes as frames until both close (stderr into keep instead
 * when it is given).  Whatever ends the loop, the pipes are closed on
 * return, so a child still writing gets EPIPE instead of blocking forever
 * while spawn_stream waits for it. */
static void pump(int out, int err, tail_buf *keep)
{
        struct pollfd fds[2] = { { .fd = out, .events = POLLIN }, { .fd = err, .events = POLLIN } };
        char buf[16384];
        int open_fds = 2;

        while (open_fds > 0) {
                if (poll(fds, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        channel_log("poll on the workflow's output: %s", strerror(errno));
                        break;
                }
                for (int i = 0; i < 2; i++) {
                        ssize_t n;

                        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        n = read(fds[i].fd, buf, sizeof(buf));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0) {
                                close(fds[i].fd);
                                fds[i].fd = -1;
                                open_fds--;
                                continue;
                        }
                        if (i == 1 && keep)
                                tail_add(keep, buf, (size_t)n);
                        else
                                channel_send(i == 0 ? VS_FRAME_STDOUT : VS_FRAME_STDERR, buf, (size_t)n);
                }
        }
        for (int i = 0; i < 2; i++)
                if (fds[i].fd >= 0)
                        close(fds[i].fd);
}

static int stream(char *const argv[], int in_fd, int *ret_status, tail_buf *keep, vs_error *err)
{
        _cleanup_close_ int out_rd = -1, out_wr = -1, err_rd = -1, err_wr = -1;
        int po[2], pe[2];
        pid_t pid;

        if (pipe2(po, O_CLOEXEC) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot start %s", argv[0]);
        out_rd = po[0];
        out_wr = po[1];
        if (pipe2(pe, O_CLOEXEC) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot start %s", argv[0]);
        err_rd = pe[0];
        err_wr = pe[1];
        if (start_in(argv, in_fd, out_wr, err_wr, &pid, err) < 0)
                return -1;
        out_wr = vs_safe_close(out_wr);
        err_wr = vs_safe_close(err_wr);
        pump(TAKE_FD(out_rd), TAKE_FD(err_rd), keep);
        return reap(argv[0], pid, ret_status, err);
}

int spawn_stream(char *const argv[], int *ret_status, vs_error *err)
{
        return stream(argv, -1, ret_status, NULL, err);
}

int spawn_stream_keep_err(char *const argv[], int in_fd, int *ret_status, char **ret_tail, vs_error *err)
{
        tail_buf *t = vs_xcalloc(1, sizeof(*t));
        int r = stream(argv, in_fd, ret_status, t, err);

        if (r == 0) {
                *ret_tail = vs_xmalloc(t->len + 1);
                memcpy(*ret_tail, t->buf, t->len);
                (*ret_tail)[t->len] = '\0';
        }
        free(t);
        return r;
}
