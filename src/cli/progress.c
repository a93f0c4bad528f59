#include "cli.h"
#include "cleanup.h"
#include "pipeline.h"
#include "text.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_TEXT_MAX 1024

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
        interrupted = sig;
}

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_all(int fd, const char *data, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, data, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;
                data += n;
                len -= (size_t)n;
        }
}

static void on_phase(void *userdata, const char *name, bool guest, bool start)
{
        cli_progress *p = userdata;

        _cleanup_free_ char *safe = NULL;

        if (!p->tty || !start)
                return;
        /* Guest phase names come from the guest: no control sequences. */
        safe = vs_text_for_terminal(name, strlen(name), PROGRESS_TEXT_MAX, NULL);
        fprintf(stderr, "\033[2mvmsandbox: [%6.1fs] %s%s\033[0m\n", now_s() - p->start, guest ? "guest " : "", safe);
}

static void on_output(void *userdata, int stream, const char *data, size_t len)
{
        cli_progress *p = userdata;

        /* With --json, stdout carries only the result record. */
        write_all(stream == 1 && !p->json ? STDOUT_FILENO : STDERR_FILENO, data, len);
}

static void on_message(void *userdata, const char *text, size_t len)
{
        cli_progress *p = userdata;

        _cleanup_free_ char *safe = NULL;
        size_t n = 0;

        if (!p->tty)
                return;
        /* Agent messages are guest text: terminal controls become '?'. */
        safe = vs_text_for_terminal(text, len, PROGRESS_TEXT_MAX, &n);
        fprintf(stderr, "\033[2mvmsandbox: [%6.1fs] guest: %.*s\033[0m\n", now_s() - p->start, (int)n, safe);
}

static bool on_cancelled(void *userdata)
{
        cli_progress *p = userdata;

        (void)p;
        return interrupted != 0;
}

static vs_events events;


void cli_progress_init(cli_progress *p, bool json)
{
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        p->tty = isatty(STDERR_FILENO);
        p->json = json;
        p->start = now_s();
}

const vs_events *cli_progress_events(cli_progress *p)
{
        events = (vs_events){ .phase = on_phase,
                              .output = on_output,
                              .message = on_message,
                              .cancelled = on_cancelled,
                              .userdata = p };
        return &events;
}
