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
#define DRAIN_MS 5000

static const char *const guest_phases[] = { VS_GUEST_PHASES_LIST };

const char *vs_guest_phase_name(int i)
{
        return i >= 0 && i < VS_GUEST_PHASE_COUNT ? guest_phases[i] : NULL;
}

static void note_phase(vs_watch *w, const char *name, bool start)
{
        for (int i = 0; i < VS_GUEST_PHASE_COUNT; i++)
                if (strcmp(name, guest_phases[i]) == 0) {
                        uint64_t now = vs_now_ms();
                        if (start) {
                                w->guest[i] = (vs_guest_phase_seen){ .start_ms = now };
                                w->guest_current = i;
                        } else if (w->guest[i].start_ms) {
                                w->guest[i].end_ms = now;
                                if (w->guest_current == i)
                                        w->guest_current = -1;
                        }
                        return;
                }
}

/* "<phase> start|end <ms>" from the guest: kept for the result and passed on
 * for progress display. */
static void on_phase(vs_watch *w, const char *data, size_t len)
{
        char name[64], what[16], buf[128];

        if (len >= sizeof(buf))
                return;
        memcpy(buf, data, len);
        buf[len] = '\0';
        if (sscanf(buf, "%63s %15s", name, what) != 2)
                return;
        note_phase(w, name, strcmp(what, "start") == 0);
        if (w->events && w->events->phase)
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

        if (!w->channel) {
                w->fd = w->channel_fd;
                return w->fd >= 0 ? 0 : vs_error_set(err, VS_ERR_SANDBOX, "no progress channel");
        }
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

/* Reads what is there, but at most VS_WATCH_PASS_BYTES or VS_WATCH_PASS_MS
 * per call, so that a guest writing without pause cannot keep the loop from
 * its deadline and cancel checks.  Returns 0 at EOF (or a malformed
 * stream), 1 when nothing more is there for now, 2 when the pass ended on its
 * bounds with more to read. */
static int channel_read(vs_watch *w)
{
        char buf[65536];
        uint64_t until = vs_mono_ms() + VS_WATCH_PASS_MS;
        size_t total = 0;

        while (total < VS_WATCH_PASS_BYTES) {
                ssize_t n = read(w->fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return 1;
                if (n == 0)
                        return 0;
                if (vs_frame_feed(&w->frames, buf, (size_t)n, on_frame, w) < 0)
                        return 0; /* a malformed stream is dropped; the VM runs on */
                total += (size_t)n;
                if (vs_mono_ms() >= until)
                        return 2;
        }
        return 2;
}

static bool vm_running(vs_watch *w)
{
        int r = w->ops ? w->ops->running(w->ops->ctx) : vs_domain_running(w->dom);

        if (r < 0)
                w->lost = true;
        return r == 1;
}

static void vm_kill(vs_watch *w)
{
        if (w->ops)
                w->ops->kill(w->ops->ctx);
        else
                vs_domain_kill(w->dom);
}

/* True when the watch must end now: cancelled or past the deadline. */
static bool must_stop(vs_watch *w, uint64_t deadline)
{
        if (w->events && w->events->cancelled && w->events->cancelled(w->events->userdata)) {
                w->cancelled = true;
                return true;
        }
        if (vs_mono_ms() >= deadline) {
                w->timed_out = true;
                return true;
        }
        return false;
}

int vs_watch_run(vs_watch *w, vs_error *err)
{
        uint64_t deadline = w->deadline_ms ? w->deadline_ms : vs_mono_ms() + w->timeout_ms;
        bool open_channel = true;

        w->fd = -1;
        w->lost = false;
        w->guest_current = -1;
        memset(w->guest, 0, sizeof(w->guest));
        vs_frame_decoder_init(&w->frames);
        if (channel_connect(w, err) < 0)
                return -1;
        while (vm_running(w)) {
                struct pollfd p = { .fd = w->fd, .events = POLLIN };
                uint64_t now = vs_mono_ms();
                int wait = deadline > now ? (int)(deadline - now < POLL_MS ? deadline - now : POLL_MS) : 0;

                if (poll(&p, open_channel ? 1 : 0, wait) > 0 && channel_read(w) == 0)
                        open_channel = false;
                if (must_stop(w, deadline)) {
                        vm_kill(w);
                        break;
                }
        }
        /* What the guest wrote before it powered off: a finite buffer now,
         * still read under a bound of its own. */
        if (open_channel && !w->timed_out && !w->cancelled && !w->lost) {
                uint64_t until = vs_mono_ms() + DRAIN_MS;
                while (channel_read(w) == 2 && vs_mono_ms() < until)
                        ;
        }
        if (w->channel)
                close(w->fd);
        w->fd = -1;
        return 0;
}
