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

/* One progress line: "vmsandbox: [  12.3s] TEXT", dimmed on a terminal.
 * TEXT may come from the guest: control sequences become '?'. */
static void progress_line(const cli_progress *p, const char *prefix, const char *text, size_t len)
{
        _cleanup_free_ char *safe = NULL;
        size_t n = 0;

        if (p->mode == CLI_PROGRESS_QUIET)
                return;
        safe = vs_text_for_terminal(text, len, PROGRESS_TEXT_MAX, &n);
        fprintf(stderr, "%svmsandbox: [%6.1fs] %s%.*s%s\n", p->mode == CLI_PROGRESS_TTY ? "\033[2m" : "",
                now_s() - p->start, prefix, (int)n, safe, p->mode == CLI_PROGRESS_TTY ? "\033[0m" : "");
}

/* A host phase that starts while another runs says so: prepare and boot
 * overlap (the VM boots while its job disk is written). */
static void on_phase(void *userdata, const char *name, bool guest, bool start)
{
        cli_progress *p = userdata;
        char text[64];
        int n;

        if (guest) {
                if (start)
                        progress_line(p, "guest ", name, strlen(name));
                return;
        }
        if (!start) {
                if (strcmp(p->open_phase, name) == 0)
                        p->open_phase[0] = '\0';
                return;
        }
        if (p->open_phase[0])
                n = snprintf(text, sizeof(text), "%s (alongside %s)", name, p->open_phase);
        else {
                n = snprintf(text, sizeof(text), "%s", name);
                snprintf(p->open_phase, sizeof(p->open_phase), "%s", name);
        }
        progress_line(p, "", text, n > 0 && (size_t)n < sizeof(text) ? (size_t)n : strlen(text));
}

static void on_output(void *userdata, int stream, const char *data, size_t len)
{
        cli_progress *p = userdata;

        /* With --json, stdout carries only the result record. */
        write_all(stream == 1 && !p->json ? STDOUT_FILENO : STDERR_FILENO, data, len);
}

static void on_message(void *userdata, const char *text, size_t len)
{
        progress_line(userdata, "guest: ", text, len);
}

static bool on_cancelled(void *userdata)
{
        cli_progress *p = userdata;

        (void)p;
        return interrupted != 0;
}

static vs_events events;


void cli_progress_init(cli_progress *p, bool json, bool quiet)
{
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        p->mode = quiet ? CLI_PROGRESS_QUIET : isatty(STDERR_FILENO) ? CLI_PROGRESS_TTY : CLI_PROGRESS_PLAIN;
        p->json = json;
        p->start = now_s();
        p->open_phase[0] = '\0';
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
