#include "job.h"
#include "fsutil.h"
#include "result.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define POLL_MS 200
#define CONNECT_TRIES 50

static void save_output(vs_job *job, int stream, const char *data, size_t len)
{
        FILE *f = job->logs[stream - 1];
        uint64_t *done = &job->logged[stream - 1];
        uint64_t limit = job->opts->log_limit;

        if (!f || *done >= limit)
                return;
        if (len > limit - *done) {
                fwrite(data, 1, (size_t)(limit - *done), f);
                fprintf(f, "\n[vmsandbox: output truncated at %llu bytes]\n", (unsigned long long)limit);
                *done = limit;
                return;
        }
        fwrite(data, 1, len, f);
        *done += len;
}

/* "<phase> start|end <ms>" from the guest: passed on for progress display. */
static void on_phase(vs_job *job, const char *data, size_t len)
{
        const vs_events *ev = job->opts->events;
        char name[64], what[16];
        char buf[128];

        if (len >= sizeof(buf))
                return;
        memcpy(buf, data, len);
        buf[len] = '\0';
        if (sscanf(buf, "%63s %15s", name, what) != 2)
                return;
        if (ev && ev->phase)
                ev->phase(ev->userdata, name, true, strcmp(what, "start") == 0);
}

static void on_frame(void *userdata, char type, const char *data, size_t len)
{
        vs_job *job = userdata;
        const vs_events *ev = job->opts->events;

        switch (type) {
        case VS_FRAME_STDOUT:
        case VS_FRAME_STDERR: {
                int stream = type == VS_FRAME_STDOUT ? 1 : 2;
                save_output(job, stream, data, len);
                if (ev && ev->output)
                        ev->output(ev->userdata, stream, data, len);
                break;
        }
        case VS_FRAME_PHASE:
                on_phase(job, data, len);
                break;
        case VS_FRAME_LOG:
                if (ev && ev->message)
                        ev->message(ev->userdata, data, len);
                break;
        default:
                break; /* unknown frames from the guest are ignored */
        }
}

static int channel_connect(vs_job *job, vs_error *err)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(job->channel) >= sizeof(sa.sun_path))
                return vs_error_set(err, VS_ERR_SANDBOX, "channel path %s is too long", job->channel);
        strcpy(sa.sun_path, job->channel);
        for (int i = 0; i < CONNECT_TRIES; i++) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

                if (fd < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "socket");
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                        job->channel_fd = fd;
                        return 0;
                }
                close(fd);
                poll(NULL, 0, 100);
        }
        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot connect to the progress channel %s", job->channel);
}

/* Reads what is there; returns 0 at EOF, 1 otherwise. */
static int channel_read(vs_job *job)
{
        char buf[65536];

        for (;;) {
                ssize_t n = read(job->channel_fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return 1;
                if (n == 0)
                        return 0;
                if (vs_frame_feed(&job->frames, buf, (size_t)n, on_frame, job) < 0)
                        return 0; /* a malformed stream is dropped; the VM runs on */
        }
}

int vs_job_wait(vs_job *job, vs_error *err)
{
        const vs_events *ev = job->opts->events;
        uint64_t deadline = vs_now_ms() + job->spec->timeout_ms;
        bool open_channel = true;

        vs_frame_decoder_init(&job->frames);
        if (channel_connect(job, err) < 0)
                return -1;
        while (vs_domain_running(job->dom)) {
                struct pollfd p = { .fd = job->channel_fd, .events = POLLIN };

                if (poll(&p, open_channel ? 1 : 0, POLL_MS) > 0 && channel_read(job) == 0)
                        open_channel = false;
                if (ev && ev->cancelled && ev->cancelled(ev->userdata)) {
                        job->cancelled = true;
                        vs_domain_kill(job->dom);
                        break;
                }
                if (vs_now_ms() >= deadline) {
                        job->timed_out = true;
                        vs_domain_kill(job->dom);
                        break;
                }
        }
        if (open_channel)
                channel_read(job);
        return 0;
}
