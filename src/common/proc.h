/* Child processes, shared by the host and the guest agent.
 *
 * A pid that did not come from a successful fork must never reach kill(2) or
 * waitpid(2): kill(-1, sig) signals every process the caller may signal (as
 * root: the whole host, or every process of the guest), kill(0, sig) the
 * caller's whole process group, and waitpid(-1) reaps whichever child ends
 * first.  These wrappers refuse any pid below 2 with EINVAL, so that an
 * unchecked -1 or 0 fails loudly instead. */
#ifndef VS_PROC_H
#define VS_PROC_H

#include <sys/types.h>

/* kill(pid, sig) of one process; -1 with errno EINVAL for pid < 2. */
int vs_kill_pid(pid_t pid, int sig);

/* Waits for the child pid to end (EINTR retried): 0 with *ret_status set,
 * or -1 with errno set (EINVAL for pid < 2). */
int vs_wait_pid(pid_t pid, int *ret_status);

/* Like vs_wait_pid without blocking: 1 when pid has ended (*ret_status set),
 * 0 while it runs, -1 with errno set. */
int vs_poll_pid(pid_t pid, int *ret_status);

/* A wait status as one exit code, the shell's way: the exit code, 128 plus
 * the signal for a child killed by one, 255 for anything else. */
int vs_exit_code(int status);

#endif
