#include "agent.h"
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAPTURE_MAX (1u << 20)

static int exit_code(int status)
{
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 255;
}

static pid_t start(char *const argv[], int in_fd, int out_fd, int err_fd)
{
        pid_t pid = fork();

        if (pid != 0)
                return pid;
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        if (in_fd >= 0)
                dup2(in_fd, STDIN_FILENO);
        dup2(out_fd, STDOUT_FILENO);
        dup2(err_fd, STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
}

static int wait_for(pid_t pid)
{
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return 255;
        return exit_code(status);
}

pid_t spawn_bg(char *const argv[], int log_fd)
{
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        pid_t pid = start(argv, null, log_fd, log_fd);

        close(null);
        return pid;
}

int spawn_wait(char *const argv[], int capture, int log_fd, spawn_result *ret)
{
        int p[2] = { -1, -1 };
        pid_t pid;

        memset(ret, 0, sizeof(*ret));
        ret->status = 255;
        if (capture && pipe2(p, O_CLOEXEC) < 0)
                return -1;
        pid = spawn_bg(argv, capture ? p[1] : log_fd);
        if (capture)
                close(p[1]);
        if (pid < 0) {
                if (capture)
                        close(p[0]);
                return -1;
        }
        if (capture) {
                ret->out = malloc(CAPTURE_MAX + 1);
                for (ssize_t n = 1; n > 0 && ret->out;) {
                        char sink[4096];
                        if (ret->out_len < CAPTURE_MAX) {
                                n = read(p[0], ret->out + ret->out_len, CAPTURE_MAX - ret->out_len);
                                if (n > 0)
                                        ret->out_len += (size_t)n;
                        } else
                                n = read(p[0], sink, sizeof(sink));
                        if (n < 0 && errno == EINTR)
                                n = 1;
                }
                if (ret->out)
                        ret->out[ret->out_len] = '\0';
                close(p[0]);
        }
        ret->status = wait_for(pid);
        return 0;
}

/* Forwards both pipes as frames until both close. */
static void pump(int out, int err)
{
        struct pollfd fds[2] = { { .fd = out, .events = POLLIN }, { .fd = err, .events = POLLIN } };
        char buf[16384];
        int open_fds = 2;

        while (open_fds > 0) {
                if (poll(fds, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
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
                        channel_send(i == 0 ? VS_FRAME_STDOUT : VS_FRAME_STDERR, buf, (size_t)n);
                }
        }
}

int spawn_stream(char *const argv[], int *ret_status)
{
        int po[2], pe[2];
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        pid_t pid;

        if (pipe2(po, O_CLOEXEC) < 0)
                return -1;
        if (pipe2(pe, O_CLOEXEC) < 0) {
                close(po[0]);
                close(po[1]);
                return -1;
        }
        pid = start(argv, null, po[1], pe[1]);
        close(null);
        close(po[1]);
        close(pe[1]);
        if (pid < 0) {
                close(po[0]);
                close(pe[0]);
                return -1;
        }
        pump(po[0], pe[0]);
        *ret_status = wait_for(pid);
        return 0;
}
