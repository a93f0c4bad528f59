#include "proc.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

int vs_kill_pid(pid_t pid, int sig)
{
        if (pid < 2) {
                errno = EINVAL;
                return -1;
        }
        return kill(pid, sig);
}

static int wait_pid(pid_t pid, int *ret_status, int flags)
{
        int status;
        pid_t r;

        if (pid < 2) {
                errno = EINVAL;
                return -1;
        }
        do
                r = waitpid(pid, &status, flags);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return -1;
        if (r == 0)
                return 0;
        *ret_status = status;
        return 1;
}

int vs_wait_pid(pid_t pid, int *ret_status)
{
        return wait_pid(pid, ret_status, 0) < 0 ? -1 : 0;
}

int vs_poll_pid(pid_t pid, int *ret_status)
{
        return wait_pid(pid, ret_status, WNOHANG);
}

int vs_exit_code(int status)
{
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 255;
}
