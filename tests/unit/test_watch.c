/* watch.c against a socketpair and a fake VM: no libvirt, no guest. */
#include "fsutil.h"
#include "tests.h"
#include "watch.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fcntl_nonblock(int fd)
{
        int fl = fcntl(fd, F_GETFL);

        return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

typedef struct {
        atomic_bool alive;
        atomic_bool lost; /* libvirtd gone: the state is unknown */
        atomic_int kills;
} fake_vm;

static int fake_running(void *ctx)
{
        fake_vm *vm = ctx;

        if (atomic_load(&vm->lost))
                return -1;
        return atomic_load(&vm->alive);
}

static void fake_kill(void *ctx)
{
        fake_vm *vm = ctx;

        atomic_fetch_add(&vm->kills, 1);
        atomic_store(&vm->alive, false);
}

static size_t frame(char *buf, char type, const char *data, size_t len)
{
        buf[0] = type;
        buf[1] = (char)(len >> 24);
        buf[2] = (char)(len >> 16);
        buf[3] = (char)(len >> 8);
        buf[4] = (char)len;
        memcpy(buf + 5, data, len);
        return len + 5;
}

typedef struct {
        int fd;
        atomic_bool stop;
} flooder;

/* A guest running `while :; do echo; done`: newline frames, never a pause. */
static void *flood(void *arg)
{
        flooder *f = arg;
        static char buf[65536];
        size_t n = 0;

        while (n + 6 <= sizeof(buf))
                n += frame(buf + n, VS_FRAME_STDOUT, "\n", 1);
        while (!atomic_load(&f->stop))
                if (write(f->fd, buf, n) < 0)
                        break;
        return NULL;
}

static uint64_t seen_bytes;

/* Costs the reader a little per frame so that the writer stays ahead and
 * the socket is never empty (the case that used to starve the deadline). */
static void count_output(void *userdata, int stream, const char *data, size_t len)
{
        volatile unsigned x = 0;

        (void)userdata, (void)stream;
        for (int i = 0; i < 200; i++)
                x += (unsigned)data[0] + (unsigned)i;
        seen_bytes += len;
}

static int cancel_after_calls;

static bool cancel_soon(void *userdata)
{
        (void)userdata;
        return --cancel_after_calls <= 0;
}

static void run_flood(vs_watch *w, uint64_t *ret_elapsed)
{
        int sv[2];
        fake_vm vm = { .alive = true };
        vs_vm_ops ops = { .running = fake_running, .kill = fake_kill, .ctx = &vm };
        flooder f = { .stop = false };
        pthread_t t;
        vs_error err = { 0 };
        uint64_t t0;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(fcntl_nonblock(sv[0]), 0);
        f.fd = sv[1];
        ck_assert_int_eq(pthread_create(&t, NULL, flood, &f), 0);
        w->ops = &ops;
        w->channel_fd = sv[0];
        w->save = count_output;
        seen_bytes = 0;
        t0 = vs_mono_ms();
        ck_assert_int_eq(vs_watch_run(w, &err), 0);
        *ret_elapsed = vs_mono_ms() - t0;
        atomic_store(&f.stop, true);
        close(sv[0]); /* the writer's next write fails: it ends */
        pthread_join(t, NULL);
        close(sv[1]);
        ck_assert_int_eq(atomic_load(&vm.kills), 1);
        ck_assert_uint_gt(seen_bytes, 0);
}

START_TEST(flood_times_out_promptly)
{
        vs_watch w = { .timeout_ms = 300 };
        uint64_t elapsed;

        run_flood(&w, &elapsed);
        ck_assert(w.timed_out);
        ck_assert(!w.cancelled);
        ck_assert_uint_ge(elapsed, 300);
        ck_assert_uint_lt(elapsed, 300 + 4 * VS_WATCH_PASS_MS + 500);
}
END_TEST

START_TEST(flood_cancel_promptly)
{
        vs_events ev = { .cancelled = cancel_soon };
        vs_watch w = { .timeout_ms = 600000, .events = &ev };
        uint64_t elapsed;

        cancel_after_calls = 3;
        run_flood(&w, &elapsed);
        ck_assert(w.cancelled);
        ck_assert(!w.timed_out);
        ck_assert_uint_lt(elapsed, 2000);
}
END_TEST

static char got[256];
static size_t got_len;

static void keep_output(void *userdata, int stream, const char *data, size_t len)
{
        (void)userdata;
        if (stream == 1 && got_len + len < sizeof(got)) {
                memcpy(got + got_len, data, len);
                got_len += len;
        }
}

/* Output and phases that arrive just before power-off are all delivered;
 * the phase the guest was in is known. */
START_TEST(phases_and_output_kept)
{
        int sv[2];
        fake_vm vm = { .alive = true };
        vs_vm_ops ops = { .running = fake_running, .kill = fake_kill, .ctx = &vm };
        vs_watch w = { .timeout_ms = 600000, .ops = &ops, .save = keep_output };
        vs_error err = { 0 };
        char buf[256];
        size_t n = 0;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(fcntl_nonblock(sv[0]), 0);
        n += frame(buf + n, VS_FRAME_PHASE, "engine-ready start 1", 20);
        n += frame(buf + n, VS_FRAME_PHASE, "engine-ready end 2", 18);
        n += frame(buf + n, VS_FRAME_PHASE, "load start 3", 12);
        n += frame(buf + n, VS_FRAME_STDOUT, "hello", 5);
        ck_assert_int_eq(write(sv[1], buf, n), (ssize_t)n);
        close(sv[1]);
        atomic_store(&vm.alive, false); /* powered off before the watch looked */
        got_len = 0;
        w.channel_fd = sv[0];
        ck_assert_int_eq(vs_watch_run(&w, &err), 0);
        close(sv[0]);
        ck_assert(!w.timed_out && !w.cancelled);
        ck_assert_int_eq(atomic_load(&vm.kills), 0);
        ck_assert_uint_eq(got_len, 5);
        ck_assert_int_eq(memcmp(got, "hello", 5), 0);
        ck_assert_str_eq(vs_guest_phase_name(w.guest_current), "load");
        ck_assert_uint_gt(w.guest[0].start_ms, 0);
        ck_assert_uint_ge(w.guest[0].end_ms, w.guest[0].start_ms);
        ck_assert_uint_gt(w.guest[1].start_ms, 0);
        ck_assert_uint_eq(w.guest[1].end_ms, 0);
        ck_assert_uint_eq(w.guest[2].start_ms, 0);
}
END_TEST

/* libvirtd stops answering (restarted): the watch ends at once with lost
 * set, neither timed out nor cancelled, and kills nothing (it cannot). */
START_TEST(lost_libvirt_ends_watch)
{
        int sv[2];
        fake_vm vm = { .alive = true, .lost = true };
        vs_vm_ops ops = { .running = fake_running, .kill = fake_kill, .ctx = &vm };
        vs_watch w = { .timeout_ms = 600000, .ops = &ops };
        vs_error err = { 0 };
        uint64_t t0;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(fcntl_nonblock(sv[0]), 0);
        w.channel_fd = sv[0];
        t0 = vs_mono_ms();
        ck_assert_int_eq(vs_watch_run(&w, &err), 0);
        ck_assert_uint_lt(vs_mono_ms() - t0, 1000);
        close(sv[0]);
        close(sv[1]);
        ck_assert(w.lost);
        ck_assert(!w.timed_out && !w.cancelled);
        ck_assert_int_eq(atomic_load(&vm.kills), 0);
}
END_TEST

Suite *suite_watch(void)
{
        Suite *s = suite_create("watch");
        TCase *tc = tcase_create("watch");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, flood_times_out_promptly);
        tcase_add_test(tc, lost_libvirt_ends_watch);
        tcase_add_test(tc, flood_cancel_promptly);
        tcase_add_test(tc, phases_and_output_kept);
        suite_add_tcase(s, tc);
        return s;
}
