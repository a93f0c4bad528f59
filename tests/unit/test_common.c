/* src/common: the I/O loops (EINTR, short transfers, bounds), whole-file
 * helpers, and the pid guards of proc.h. */
#include "io.h"
#include "proc.h"
#include "tests.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_alarm(int sig)
{
        (void)sig;
}

/* SIGALRM every millisecond, without SA_RESTART: a blocking read or write
 * that is not retried returns EINTR. */
static void interrupts_on(void)
{
        struct sigaction sa = { .sa_handler = on_alarm };
        struct itimerval it = { .it_interval = { 0, 1000 }, .it_value = { 0, 1000 } };

        sigemptyset(&sa.sa_mask);
        ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
        ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static void interrupts_off(void)
{
        struct itimerval it = { 0 };

        setitimer(ITIMER_REAL, &it, NULL);
        signal(SIGALRM, SIG_DFL);
}

/* A child that writes text in two halves, 50 ms apart, then exits. */
static pid_t slow_writer(int fd, const char *text)
{
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                size_t half = strlen(text) / 2;
                usleep(50 * 1000);
                if (write(fd, text, half) != (ssize_t)half)
                        _exit(1);
                usleep(50 * 1000);
                _exit(write(fd, text + half, strlen(text) - half) == (ssize_t)(strlen(text) - half) ? 0 : 1);
        }
        return pid;
}

static int reap(pid_t pid)
{
        int status;

        while (waitpid(pid, &status, 0) < 0)
                ck_assert_int_eq(errno, EINTR);
        return status;
}

START_TEST(read_full_survives_signals_and_short_reads)
{
        int p[2];
        char buf[32] = "";
        pid_t pid;

        ck_assert_int_eq(pipe(p), 0);
        pid = slow_writer(p[1], "0123456789");
        close(p[1]);
        interrupts_on();
        ck_assert_int_eq(vs_read_full(p[0], buf, 10), 10);
        interrupts_off();
        ck_assert_str_eq(buf, "0123456789");
        /* At EOF: what is there, then 0. */
        ck_assert_int_eq(vs_read_full(p[0], buf, sizeof(buf)), 0);
        close(p[0]);
        ck_assert_int_eq(reap(pid), 0);
}
END_TEST

/* 4 MiB into a pipe whose reader takes 64 KiB at a time with pauses: the
 * writer blocks, is interrupted, and is left with partial writes. */
START_TEST(write_full_survives_signals_and_short_writes)
{
        enum { TOTAL = 4 << 20 };
        char *data = malloc(TOTAL);
        int p[2], status;
        pid_t pid;

        ck_assert_ptr_nonnull(data);
        for (size_t i = 0; i < TOTAL; i++)
                data[i] = (char)(i * 7);
        ck_assert_int_eq(pipe(p), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                static char got[65536];
                size_t total = 0, bad = 0;
                ssize_t n;

                close(p[1]);
                while ((n = read(p[0], got, sizeof(got))) > 0) {
                        for (ssize_t i = 0; i < n; i++)
                                bad += got[i] != (char)((total + (size_t)i) * 7);
                        total += (size_t)n;
                        usleep(200);
                }
                _exit(total == TOTAL && bad == 0 ? 0 : 1);
        }
        close(p[0]);
        interrupts_on();
        ck_assert_int_eq(vs_write_full(p[1], data, TOTAL), 0);
        interrupts_off();
        close(p[1]);
        status = reap(pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        free(data);
}
END_TEST

START_TEST(write_full_reports_errors)
{
        int p[2];

        ck_assert_int_eq(pipe(p), 0);
        close(p[0]);
        signal(SIGPIPE, SIG_IGN);
        errno = 0;
        ck_assert_int_eq(vs_write_full(p[1], "x", 1), -1);
        ck_assert_int_eq(errno, EPIPE);
        close(p[1]);
        ck_assert_int_eq(vs_write_full(-1, "x", 1), -1);
        ck_assert_int_eq(errno, EBADF);
}
END_TEST

/* 3 MiB from a child into a pipe, kept up to 1 MiB: the rest is drained (the
 * child ends normally, not of SIGPIPE or blocked), the count of dropped
 * bytes is exact, and the buffer is NUL-terminated. */
START_TEST(read_all_keeps_max_and_drains)
{
        enum { MAX = 1 << 20, TOTAL = 3 << 20 };
        char *out = NULL;
        size_t len = 0, dropped = 0;
        int p[2], status;
        pid_t pid;

        ck_assert_int_eq(pipe(p), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                static char block[65536];
                close(p[0]);
                memset(block, 'a', sizeof(block));
                for (size_t i = 0; i < TOTAL / sizeof(block); i++)
                        if (vs_write_full(p[1], block, sizeof(block)) < 0)
                                _exit(1);
                _exit(0);
        }
        close(p[1]);
        interrupts_on();
        ck_assert_int_eq(vs_read_all(p[0], MAX, &out, &len, &dropped), 0);
        interrupts_off();
        close(p[0]);
        status = reap(pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        ck_assert_uint_eq(len, MAX);
        ck_assert_uint_eq(dropped, TOTAL - MAX);
        ck_assert_int_eq(out[MAX - 1], 'a');
        ck_assert_int_eq(out[MAX], '\0');
        free(out);
}
END_TEST

static int text_fd(const char *text)
{
        int p[2];

        ck_assert_int_eq(pipe(p), 0);
        ck_assert_int_eq(vs_write_full(p[1], text, strlen(text)), 0);
        close(p[1]);
        return p[0];
}

START_TEST(read_all_small_and_empty)
{
        char *out = NULL;
        size_t len = 99, dropped = 99;
        int fd = text_fd("hello world");

        ck_assert_int_eq(vs_read_all(fd, 5, &out, &len, &dropped), 0);
        close(fd);
        ck_assert_str_eq(out, "hello");
        ck_assert_uint_eq(len, 5);
        ck_assert_uint_eq(dropped, 6);
        free(out);
        fd = text_fd("");
        ck_assert_int_eq(vs_read_all(fd, 5, &out, &len, NULL), 0);
        close(fd);
        ck_assert_str_eq(out, "");
        ck_assert_uint_eq(len, 0);
        free(out);
        fd = text_fd("abc");
        ck_assert_int_eq(vs_read_all(fd, 0, &out, &len, &dropped), 0);
        close(fd);
        ck_assert_str_eq(out, "");
        ck_assert_uint_eq(dropped, 3);
        free(out);
        /* A read error: -1, out-parameters untouched. */
        out = (char *)"untouched";
        ck_assert_int_eq(vs_read_all(-1, 5, &out, &len, NULL), -1);
        ck_assert_int_eq(errno, EBADF);
        ck_assert_str_eq(out, "untouched");
}
END_TEST

static unsigned entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        unsigned n = 0;

        ck_assert_ptr_nonnull(d);
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

/* The atomic write gives exactly the mode asked for whatever the umask,
 * replaces the old content whole and leaves no temp file; a write that
 * cannot happen leaves nothing either. */
START_TEST(write_file_atomic_mode_and_no_temp)
{
        char dir[] = "/tmp/vs-io-XXXXXX", path[64], bad[160];
        vs_error err = { 0 };
        struct stat st;
        char *text = NULL;
        size_t len = 0;
        mode_t old;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/result.json", dir);
        old = umask(0);
        ck_assert_int_eq(vs_write_file_atomic(path, "first", 5, 0600, &err), 0);
        ck_assert_int_eq(vs_write_file_atomic(path, "second", 6, 0600, &err), 0);
        umask(old);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        ck_assert_int_eq(vs_read_file(path, 64, &text, &len, &err), 0);
        ck_assert_str_eq(text, "second");
        ck_assert_uint_eq(len, 6);
        free(text);
        ck_assert_uint_eq(entries(dir), 1);
        /* Too large for max: refused, with the limit named. */
        ck_assert_int_eq(vs_read_file(path, 5, &text, &len, &err), -1);
        snprintf(bad, sizeof(bad), "%s is not a regular file of at most 5 bytes", path);
        ck_assert_str_eq(err.msg, bad);
        /* Into a directory that does not exist: an error, nothing made. */
        snprintf(bad, sizeof(bad), "%s/none/x", dir);
        ck_assert_int_eq(vs_write_file_atomic(bad, "x", 1, 0600, &err), -1);
        ck_assert_int_eq(err.errno_value, ENOENT);
        ck_assert_uint_eq(entries(dir), 1);
        unlink(path);
        rmdir(dir);
}
END_TEST

/* pid -1, 0 and 1 never reach kill(2): kill(-1, sig) would signal every
 * process we may signal.  Signal 0 only checks, so a missing guard makes
 * this test fail (kill(-1, 0) succeeds) without sending anything. */
START_TEST(kill_refuses_pids_below_2)
{
        pid_t bad[] = { -1, 0, 1, -12345 };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                errno = 0;
                ck_assert_int_eq(vs_kill_pid(bad[i], 0), -1);
                ck_assert_int_eq(errno, EINVAL);
        }
        ck_assert_int_eq(vs_kill_pid(getpid(), 0), 0);
}
END_TEST

/* waitpid(-1) would reap whichever child ends first: refused, and the
 * child is still there to be reaped by its own pid. */
START_TEST(wait_refuses_pids_below_2)
{
        int status = -1;
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                _exit(7);
        usleep(20 * 1000);
        ck_assert_int_eq(vs_wait_pid(-1, &status), -1);
        ck_assert_int_eq(errno, EINVAL);
        ck_assert_int_eq(vs_poll_pid(0, &status), -1);
        ck_assert_int_eq(errno, EINVAL);
        ck_assert_int_eq(status, -1);
        ck_assert_int_eq(vs_wait_pid(pid, &status), 0);
        ck_assert_int_eq(vs_exit_code(status), 7);
}
END_TEST

START_TEST(poll_and_exit_codes)
{
        int p[2], status = -1;
        char c = 'x';
        pid_t pid;

        ck_assert_int_eq(pipe(p), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(p[1]);
                _exit(read(p[0], &c, 1) == 1 ? 3 : 4); /* waits for the parent */
        }
        close(p[0]);
        ck_assert_int_eq(vs_poll_pid(pid, &status), 0); /* still running */
        ck_assert_int_eq(status, -1);
        ck_assert_int_eq(write(p[1], &c, 1), 1);
        close(p[1]);
        interrupts_on();
        ck_assert_int_eq(vs_wait_pid(pid, &status), 0);
        interrupts_off();
        ck_assert_int_eq(vs_exit_code(status), 3);
        ck_assert_int_eq(vs_poll_pid(pid, &status), -1); /* reaped: no such child */
        ck_assert_int_eq(errno, ECHILD);

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                raise(SIGKILL);
                _exit(0);
        }
        ck_assert_int_eq(vs_wait_pid(pid, &status), 0);
        ck_assert_int_eq(vs_exit_code(status), 128 + SIGKILL);
}
END_TEST

Suite *suite_common(void)
{
        Suite *s = suite_create("common");
        TCase *tc = tcase_create("common");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, read_full_survives_signals_and_short_reads);
        tcase_add_test(tc, write_full_survives_signals_and_short_writes);
        tcase_add_test(tc, write_full_reports_errors);
        tcase_add_test(tc, read_all_keeps_max_and_drains);
        tcase_add_test(tc, read_all_small_and_empty);
        tcase_add_test(tc, write_file_atomic_mode_and_no_temp);
        tcase_add_test(tc, kill_refuses_pids_below_2);
        tcase_add_test(tc, wait_refuses_pids_below_2);
        tcase_add_test(tc, poll_and_exit_codes);
        suite_add_tcase(s, tc);
        return s;
}
