#include "guard.h"
#include "cleanup.h"
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RESCAN_MS 200

void vs_guard_tag(char buf[64], const char *job_id)
{
        snprintf(buf, 64, "vmsandbox.job=%s", job_id);
}

#define ANCESTRY_MAX 4

static int parent_of(int pid)
{
        char path[64], buf[1024];
        _cleanup_fclose_ FILE *st = NULL;
        int ppid = 0;

        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        st = fopen(path, "re");
        /* "pid (comm) state ppid": comm may hold anything; scan from the last ')'. */
        if (!st || !fgets(buf, sizeof(buf), st) || !strrchr(buf, ')') ||
            sscanf(strrchr(buf, ')') + 1, " %*c %d", &ppid) != 1)
                return 0;
        return ppid;
}

/* A descendant of this process (the appliance's qemu is a child of the
 * privilege-dropped child, privdrop.h) within a few generations. */
static bool is_descendant(int pid)
{
        for (int i = 0; i < ANCESTRY_MAX && pid > 1; i++) {
                pid = parent_of(pid);
                if (pid == getpid())
                        return true;
        }
        return false;
}

/* Whether pid descends from us and its command line holds tag. */
static bool proc_matches(int pid, const char *tag)
{
        char path[64], buf[8192];
        _cleanup_close_ int fd = -1;
        ssize_t n;

        if (!is_descendant(pid))
                return false;
        snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        for (ssize_t i = 0; i < n;) {
                size_t len = strlen(buf + i);
                if (strstr(buf + i, tag))
                        return true;
                i += (ssize_t)len + 1;
        }
        return false;
}

unsigned vs_kill_tagged_children(const char *tag)
{
        _cleanup_closedir_ DIR *d = opendir("/proc");
        struct dirent *e;
        unsigned killed = 0;

        if (!d)
                return 0;
        while ((e = readdir(d))) {
                char *end;
                long pid = strtol(e->d_name, &end, 10);
                int pfd;

                if (*end || pid <= 1 || pid == getpid())
                        continue;
                /* The pidfd pins the process: the check below and the signal
                 * are about the same one. */
                pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
                if (pfd < 0)
                        continue;
                if (proc_matches((int)pid, tag) && syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0) == 0)
                        killed++;
                close(pfd);
        }
        return killed;
}

static void *watchdog(void *arg)
{
        vs_guard *g = arg;

        pthread_mutex_lock(&g->lock);
        while (!g->stop) {
                uint64_t now = vs_mono_ms();
                uint64_t until = g->fired ? now + RESCAN_MS : g->deadline_ms;
                struct timespec ts = { .tv_sec = (time_t)(until / 1000), .tv_nsec = (long)(until % 1000) * 1000000 };

                if (!g->fired && now >= g->deadline_ms) {
                        g->fired = true;
                        continue;
                }
                if (g->fired) {
                        /* Until stopped: an appliance launched after the deadline
                         * goes the same way. */
                        pthread_mutex_unlock(&g->lock);
                        unsigned k = vs_kill_tagged_children(g->tag);
                        pthread_mutex_lock(&g->lock);
                        g->killed += k;
                }
                if (!g->stop)
                        pthread_cond_timedwait(&g->cond, &g->lock, &ts);
        }
        pthread_mutex_unlock(&g->lock);
        return NULL;
}

int vs_guard_start(vs_guard *g, const char *job_id, uint64_t deadline_ms, vs_error *err)
{
        pthread_condattr_t ca;
        int r;

        *g = (vs_guard){ .deadline_ms = deadline_ms };
        vs_guard_tag(g->tag, job_id);
        pthread_mutex_init(&g->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&g->cond, &ca);
        pthread_condattr_destroy(&ca);
        r = pthread_create(&g->thread, NULL, watchdog, g);
        if (r != 0) {
                pthread_cond_destroy(&g->cond);
                pthread_mutex_destroy(&g->lock);
                return vs_error_errno(err, VS_ERR_SANDBOX, r, "cannot start the job's watchdog");
        }
        g->running = true;
        return 0;
}

bool vs_guard_fired(vs_guard *g)
{
        bool f;

        if (!g->running)
                return false;
        pthread_mutex_lock(&g->lock);
        f = g->fired || vs_mono_ms() >= g->deadline_ms;
        pthread_mutex_unlock(&g->lock);
        return f;
}

void vs_guard_stop(vs_guard *g)
{
        if (!g->running)
                return;
        pthread_mutex_lock(&g->lock);
        g->stop = true;
        pthread_cond_signal(&g->cond);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->thread, NULL);
        pthread_cond_destroy(&g->cond);
        pthread_mutex_destroy(&g->lock);
        g->running = false;
}
