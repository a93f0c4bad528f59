/* Child processes of the agent: the engine, modprobe, ip. */
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
        int p[2], status = 0, e = 0;
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
