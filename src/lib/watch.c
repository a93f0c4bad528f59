#include "watch.h"
#include "fsutil.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define POLL_MS 200
#define CONNECT_TRIES 50

/* "<phase> start|end <ms>" from the guest: passed on for progress display. */
static void on_phase(vs_watch *w, const char *data, size_t len)
{
        char name[64], what[16], buf[128];

        if (len >= sizeof(buf) || !w->events || !w->events->phase)
                return;
        memcpy(buf, data, len);
        buf[len] = '\0';
        if (sscanf(buf, "%63s %15s", name, what) == 2)
                w->events->phase(w->events->userdata, name, true, strcmp(what, "start") == 0);
}

static void on_frame(void *userdata, char type, const char *data, size_t len)
{
        vs_watch *w = userdata;
        const vs_events *ev = w->events;

        switch (type) {
        case VS_FRAME_STDOUT:
        case VS_FRAME_STDERR: {
                int stream = type == VS_FRAME_STDOUT ? 1 : 2;
                if (w->save)
                        w->save(w->save_userdata, stream, data, len);
                if (ev && ev->output)
                        ev->output(ev->userdata, stream, data, len);
                break;
        }
        case VS_FRAME_PHASE:
                on_phase(w, data, len);
                break;
        case VS_FRAME_LOG:
                if (ev && ev->message)
                        ev->message(ev->userdata, data, len);
                break;
        default:
                break; /* unknown frames from the guest are ignored */
        }
}

static int channel_connect(vs_watch *w, vs_error *err)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(w->channel) >= sizeof(sa.sun_path))
                return vs_error_set(err, VS_ERR_SANDBOX, "channel path %s is too long", w->channel);
        strcpy(sa.sun_path, w->channel);
        for (int i = 0; i < CONNECT_TRIES; i++) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

                if (fd < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "socket");
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                        w->fd = fd;
                        return 0;
                }
                close(fd);
                poll(NULL, 0, 100);
        }
        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot connect to the progress channel %s", w->channel);
}

/* Reads what is there; returns 0 at EOF (or a malformed stream), 1 otherwise. */
static int channel_read(vs_watch *w)
{
        char buf[65536];

        for (;;) {
                ssize_t n = read(w->fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return 1;
                if (n == 0)
                        return 0;
                if (vs_frame_feed(&w->frames, buf, (size_t)n, on_frame, w) < 0)
                        return 0; /* a malformed stream is dropped; the VM runs on */
        }
}

int vs_watch_run(vs_watch *w, vs_error *err)
{
        uint64_t deadline = vs_now_ms() + w->timeout_ms;
        bool open_channel = true;

        w->fd = -1;
        vs_frame_decoder_init(&w->frames);
        if (channel_connect(w, err) < 0)
                return -1;
        while (vs_domain_running(w->dom)) {
                struct pollfd p = { .fd = w->fd, .events = POLLIN };

                if (poll(&p, open_channel ? 1 : 0, POLL_MS) > 0 && channel_read(w) == 0)
                        open_channel = false;
                if (w->events && w->events->cancelled && w->events->cancelled(w->events->userdata)) {
                        w->cancelled = true;
                        vs_domain_kill(w->dom);
                        break;
                }
                if (vs_now_ms() >= deadline) {
                        w->timed_out = true;
                        vs_domain_kill(w->dom);
                        break;
                }
        }
        if (open_channel)
                channel_read(w);
        close(w->fd);
        w->fd = -1;
        return 0;
}
