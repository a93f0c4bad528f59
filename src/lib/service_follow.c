/* Waiting for a job and following its log.  The follower core
 * (service_follower.h) is here too: every waiter sleeps on the job's
 * condition variable (output, state changes, removal and shutdown broadcast
 * it) and wakes at least every VS_FOLLOW_WAIT_MS so that the caller can
 * notice a client that went away.  Follows are counted per job and per
 * follower; the log's last lines are read from the end of the file. */
#include "service_follower.h"
#include "alloc.h"
#include "cleanup.h"
#include "clock.h"
#include "fsutil.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void svc_deadline_in(struct timespec *ts, uint64_t ms)
{
        clock_gettime(CLOCK_REALTIME, ts);
        ts->tv_sec += (time_t)(ms / 1000);
        ts->tv_nsec += (long)(ms % 1000) * 1000000;
        if (ts->tv_nsec >= 1000000000) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000;
        }
}

/* A job that is not running does not start once the service stops. */
static bool stalled(vs_service *s, const sjob *j)
{
        return svc_stopping(s) && j->rec.state != VS_JOB_RUNNING;
}

int vs_service_wait(vs_service *s, const char *owner, const char *id, uint64_t timeout_ms, vs_error *err)
{
        sjob *j = job_get(s, owner, id, err);
        struct timespec ts;
        int r = 0;

        if (!j)
                return -1;
        svc_deadline_in(&ts, timeout_ms);
        pthread_mutex_lock(&j->lock);
        for (;;) {
                if (j->removed) {
                        r = vs_error_set(err, VS_ERR_NOT_FOUND, "job %s was deleted", id);
                        break;
                }
                if (vs_job_state_finished(j->rec.state)) {
                        r = 1;
                        break;
                }
                if (stalled(s, j)) {
                        r = vs_error_set(err, VS_ERR_SETUP, "the service is shutting down; job %s stays %s", id,
                                         vs_job_state_to_string(j->rec.state));
                        break;
                }
                if (pthread_cond_timedwait(&j->cond, &j->lock, &ts) == ETIMEDOUT)
                        break;
        }
        pthread_mutex_unlock(&j->lock);
        job_unref(j);
        return r;
}

/* ---- the follower core ------------------------------------------------------------ */

int svc_follower_open(vs_service *s, const char *owner, const char *id, bool follow, svc_follower *f,
                      vs_error *err)
{
        sowner *o = NULL;
        char who[VS_OWNER_LABEL_MAX];
        sjob *j;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        j = job_find_locked(s, owner, id, err);
        if (j && follow) {
                /* Each follow holds a connection for as long as its job
                 * lives: bounded per job and per follower. */
                o = owner_get_locked(s, owner);
                if (j->follows >= s->o.job_follows)
                        r = vs_error_set(err, VS_ERR_LIMIT, "job %s already has %u log follows open (--job-follows)",
                                         id, j->follows);
                else if (o->follows >= s->o.owner_follows)
                        r = vs_error_set(err, VS_ERR_LIMIT, "%s already has %u log follows open (--owner-follows)",
                                         owner_label(owner, who), o->follows);
                if (r == 0) {
                        j->follows++;
                        o->follows++;
                }
        }
        if (j && r == 0)
                job_ref(j);
        pthread_mutex_unlock(&s->lock);
        if (!j || r < 0)
                return -1;
        *f = (svc_follower){ .j = j, .acct = follow ? o : NULL, .follow = follow, .gone_checked_ms = vs_mono_ms() };
        if (follow)
                f->created_until_ms = vs_mono_ms() + s->o.follow_created_ms;
        return 0;
}

void svc_follower_close(vs_service *s, svc_follower *f)
{
        if (f->acct) {
                pthread_mutex_lock(&s->lock);
                f->acct->follows--;
                f->j->follows--;
                pthread_mutex_unlock(&s->lock);
        }
        job_unref(f->j);
        f->j = NULL;
        f->acct = NULL;
}

bool svc_follower_gone(svc_follower *f, bool now)
{
        uint64_t t = vs_mono_ms();

        if (!f->gone || (!now && t - f->gone_checked_ms < VS_FOLLOW_WAIT_MS))
                return false;
        f->gone_checked_ms = t;
        return f->gone(f->userdata);
}

/* Under j->lock: how long a follow may sleep now (0: its time is up, with
 * *ret why). */
static uint64_t wait_ms_locked(const svc_follower *f, svc_follow_state *ret)
{
        uint64_t wait = VS_FOLLOW_WAIT_MS, mono = vs_mono_ms();

        /* Nothing comes before someone starts it: the follower ends rather
         * than hold its connection for ever. */
        if (f->created_until_ms && f->j->rec.state == VS_JOB_CREATED) {
                if (mono >= f->created_until_ms) {
                        *ret = SVC_FOLLOW_NOT_STARTED;
                        return 0;
                }
                if (f->created_until_ms - mono < wait)
                        wait = f->created_until_ms - mono;
        }
        if (f->until_ns) {
                int64_t t = vs_stream_now_ns();

                if (t > f->until_ns) {
                        *ret = SVC_FOLLOW_UNTIL;
                        return 0;
                }
                if ((uint64_t)(f->until_ns - t) / 1000000 + 1 < wait)
                        wait = (uint64_t)(f->until_ns - t) / 1000000 + 1;
        }
        return wait;
}

svc_follow_state svc_follower_wait_locked(vs_service *s, svc_follower *f, const uint64_t *size, uint64_t offset)
{
        sjob *j = f->j;
        struct timespec ts;
        bool timed = false; /* ts is this round's deadline */

        for (;;) {
                svc_follow_state st = SVC_FOLLOW_MORE;
                uint64_t wait;

                if (j->removed && !f->reads_after_removal)
                        return SVC_FOLLOW_DELETED;
                if (offset < *size)
                        return SVC_FOLLOW_MORE;
                if (j->removed)
                        return SVC_FOLLOW_DELETED;
                /* The worker writes the last output before it marks the
                 * job finished, under the same lock: nothing is missed. */
                if (vs_job_state_finished(j->rec.state))
                        return SVC_FOLLOW_FINISHED;
                if (!f->follow)
                        return SVC_FOLLOW_READ;
                if (stalled(s, j))
                        return SVC_FOLLOW_STOPPING;
                wait = wait_ms_locked(f, &st);
                if (wait == 0)
                        return st;
                /* One deadline a round: wake-ups that bring nothing (a
                 * broadcast for another reader) do not put it off. */
                if (!timed)
                        svc_deadline_in(&ts, wait);
                timed = true;
                if (pthread_cond_timedwait(&j->cond, &j->lock, &ts) != ETIMEDOUT)
                        continue;
                timed = false;
                if (!f->gone)
                        return SVC_FOLLOW_WAITED;
                pthread_mutex_unlock(&j->lock);
                st = svc_follower_gone(f, true) ? SVC_FOLLOW_GONE : SVC_FOLLOW_MORE;
                pthread_mutex_lock(&j->lock);
                if (st == SVC_FOLLOW_GONE)
                        return st;
        }
}

/* ---- the job API's log ---------------------------------------------------------- */

/* Output bytes of f's job from offset; with follow, sleeps until there are
 * some or the follower ends (service_follower.h), or for one round. */
static int log_read_job(vs_service *s, svc_follower *f, uint64_t offset, char *buf, size_t len, size_t *ret_n,
                        bool *ret_done)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        svc_follow_state st;
        bool done;
        ssize_t n = 0;

        pthread_mutex_lock(&f->j->lock);
        st = svc_follower_wait_locked(s, f, &f->j->log.size, offset);
        pthread_mutex_unlock(&f->j->lock);
        done = st != SVC_FOLLOW_MORE && st != SVC_FOLLOW_WAITED;
        if (st == SVC_FOLLOW_MORE) {
                /* The file is read without the lock: output goes on meanwhile. */
                path = job_path(f->j, "output.log");
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                n = fd >= 0 ? pread(fd, buf, len, (off_t)offset) : -1;
                if (n <= 0) /* shorter than recorded: what is missing will not come */
                        done = true;
        }
        *ret_n = n > 0 ? (size_t)n : 0;
        *ret_done = done;
        return 0;
}

int vs_service_log_read(vs_service *s, const char *owner, const char *id, uint64_t offset, char *buf, size_t len,
                        bool follow, size_t *ret_n, bool *ret_done, vs_error *err)
{
        /* Not counted, and without the created bound: a caller of its own. */
        svc_follower f = { .j = job_get(s, owner, id, err), .follow = follow };
        int r;

        if (!f.j)
                return -1;
        r = log_read_job(s, &f, offset, buf, len, ret_n, ret_done);
        job_unref(f.j);
        return r;
}

/* ---- followers that keep their place ----------------------------------------- */

struct vs_follow {
        svc_follower core;
        uint64_t offset;
};

int vs_service_follow_open(vs_service *s, const char *owner, const char *id, bool follow, vs_follow **ret,
                           vs_error *err)
{
        svc_follower core;

        if (svc_follower_open(s, owner, id, follow, &core, err) < 0)
                return -1;
        *ret = vs_xcalloc(1, sizeof(**ret));
        (*ret)->core = core;
        return 0;
}

int vs_service_follow_read(vs_service *s, vs_follow *f, char *buf, size_t len, size_t *ret_n, bool *ret_done)
{
        int r = log_read_job(s, &f->core, f->offset, buf, len, ret_n, ret_done);

        f->offset += *ret_n;
        return r;
}

void vs_service_follow_close(vs_service *s, vs_follow *f)
{
        if (!f)
                return;
        svc_follower_close(s, &f->core);
        free(f);
}

/* ---- the last lines -------------------------------------------------------------- */

#define TAIL_BLOCK (64u << 10)

/* Where the last max_lines lines of fd[0..size) begin: found by scanning
 * backwards for newlines (a newline that ends the file ends the last line
 * and starts none). */
static uint64_t tail_start(int fd, uint64_t size, size_t max_lines, char *block)
{
        uint64_t end = size, found = 0;
        char last;

        if (size == 0 || max_lines == 0)
                return size;
        if (pread(fd, &last, 1, (off_t)(size - 1)) == 1 && last == '\n')
                end--;
        while (end > 0) {
                uint64_t from = end > TAIL_BLOCK ? end - TAIL_BLOCK : 0;
                ssize_t n = pread(fd, block, (size_t)(end - from), (off_t)from);
                const char *p;
                size_t left;

                if (n != (ssize_t)(end - from))
                        return 0; /* shorter than recorded: read it all (forward) */
                for (left = (size_t)n; left > 0 && (p = memrchr(block, '\n', left)); left = (size_t)(p - block))
                        if (++found == max_lines)
                                return from + (uint64_t)(p - block) + 1;
                end = from;
        }
        return 0;
}

typedef struct {
        json_t *lines;
        char line[VS_LINE_MAX + 4]; /* enough for the sanitiser's cut at VS_LINE_MAX */
        size_t len;
} tail_lines;

static void tail_take(tail_lines *t, const char *p, size_t n)
{
        size_t room = sizeof(t->line) - t->len;

        if (n > room)
                n = room; /* the rest of an over-long line is cut off anyway */
        memcpy(t->line + t->len, p, n);
        t->len += n;
}

static void tail_end_line(tail_lines *t)
{
        json_array_append_new(t->lines, vs_json_text(t->line, t->len, VS_LINE_MAX));
        t->len = 0;
}

json_t *vs_service_log_tail(vs_service *s, const char *owner, const char *id, size_t max_lines, vs_error *err)
{
        sjob *j = job_get(s, owner, id, err);
        _cleanup_free_ char *path = NULL, *block = NULL;
        _cleanup_close_ int fd = -1;
        tail_lines *t;
        struct stat st;
        uint64_t size, off;
        json_t *lines;
        bool open_line = false;

        if (!j)
                return NULL;
        pthread_mutex_lock(&j->lock);
        size = j->removed ? 0 : j->log.size;
        pthread_mutex_unlock(&j->lock);
        path = job_path(j, "output.log");
        job_unref(j);
        t = vs_xcalloc(1, sizeof(*t));
        t->lines = vs_xjson(json_array());
        fd = size > 0 ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
        if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_size < size)
                size = (uint64_t)st.st_size; /* shorter than recorded */
        block = vs_xmalloc(TAIL_BLOCK);
        for (off = fd >= 0 ? tail_start(fd, size, max_lines, block) : size; off < size && json_array_size(t->lines) < max_lines;) {
                size_t want = size - off > TAIL_BLOCK ? TAIL_BLOCK : (size_t)(size - off);
                ssize_t n = pread(fd, block, want, (off_t)off);
                const char *p = block, *end, *nl;

                if (n <= 0)
                        break;
                for (end = block + n; p < end && json_array_size(t->lines) < max_lines; p = nl + 1) {
                        nl = memchr(p, '\n', (size_t)(end - p));
                        tail_take(t, p, (size_t)((nl ? nl : end) - p));
                        open_line = !nl;
                        if (!nl)
                                break;
                        tail_end_line(t);
                }
                off += (uint64_t)n;
        }
        if (open_line && json_array_size(t->lines) < max_lines)
                tail_end_line(t);
        lines = t->lines;
        free(t);
        return lines;
}
