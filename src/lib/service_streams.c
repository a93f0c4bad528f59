/* Readers of a job's streams.log (service_streams.h).  A reader sleeps on
 * the job's condition variable, as a log follow does (output, state
 * changes, removal and shutdown broadcast it), reads the file without the
 * job's lock, and only up to the size the writer committed under it: a
 * record being written is never seen half. */
#include "service_streams.h"
#include "service_int.h"
#include "alloc.h"
#include "cleanup.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct vs_streams_reader {
        sjob *j;                   /* a reference */
        sowner *acct;              /* a follow's account (counted); NULL otherwise */
        vs_streams_opts o;
        int fd;
        vs_stream_cursor cur;      /* cur.end: the size committed when last looked */
        size_t skip;               /* bytes of the record at the tail's start to leave out */
        uint64_t created_until_ms; /* monotonic: a follow of a job still created then ends */
        uint64_t gone_checked_ms;  /* monotonic: when opts.gone was last asked */
        vs_streams_end end;
        unsigned cut;
};

static const char *const end_names[VS_STREAMS_END_LAST] = {
        [VS_STREAMS_END_NONE] = "none",         [VS_STREAMS_END_READ] = "read",
        [VS_STREAMS_END_FINISHED] = "finished", [VS_STREAMS_END_DELETED] = "deleted",
        [VS_STREAMS_END_STOPPING] = "stopping", [VS_STREAMS_END_NOT_STARTED] = "not-started",
        [VS_STREAMS_END_UNTIL] = "until",       [VS_STREAMS_END_CORRUPT] = "corrupt",
        [VS_STREAMS_END_GONE] = "gone",
};

const char *vs_streams_end_name(vs_streams_end e)
{
        return (size_t)e < VS_STREAMS_END_LAST ? end_names[e] : NULL;
}

static void deadline_in(struct timespec *ts, uint64_t ms)
{
        clock_gettime(CLOCK_REALTIME, ts);
        ts->tv_sec += (time_t)(ms / 1000);
        ts->tv_nsec += (long)(ms % 1000) * 1000000;
        if (ts->tv_nsec >= 1000000000) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000;
        }
}

/* Counts a follow against its job and its follower, as
 * vs_service_follow_open does (the same bounds hold both kinds). */
static int count_follow_locked(vs_service *s, sjob *j, const char *owner, const char *id, sowner **ret,
                               vs_error *err)
{
        sowner *o = owner_get_locked(s, owner);
        char who[VS_OWNER_LABEL_MAX];

        if (j->follows >= s->o.job_follows)
                return vs_error_set(err, VS_ERR_LIMIT, "job %s already has %u log follows open (--job-follows)", id,
                                    j->follows);
        if (o->follows >= s->o.owner_follows)
                return vs_error_set(err, VS_ERR_LIMIT, "%s already has %u log follows open (--owner-follows)",
                                    owner_label(owner, who), o->follows);
        j->follows++;
        o->follows++;
        *ret = o;
        return 0;
}

/* Under j->lock, before the job's files are removed: the reader opens the
 * file (made empty, 0600, when the job has written nothing yet: the writer
 * appends to the same file) and keeps it, so that a job removed right
 * after it ended (AutoRemove) is still read to its last record. */
static bool open_file(vs_streams_reader *r)
{
        _cleanup_free_ char *path = job_path(r->j, "streams.log");
        struct stat st;

        r->fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (r->fd >= 0 && (fstat(r->fd, &st) < 0 || !S_ISREG(st.st_mode)))
                r->fd = vs_safe_close(r->fd);
        r->cur.fd = r->fd;
        return r->fd >= 0;
}

/* Where a tail starts: the job's index is completed and copied under its
 * lock; the file is read without it. */
static int tail_place(vs_streams_reader *r, uint64_t *ret_end)
{
        sjob *j = r->j;
        _cleanup_free_ uint32_t *index = NULL;
        size_t nindex;
        uint64_t end, pos;
        size_t skip;

        pthread_mutex_lock(&j->lock);
        vs_streamlog_index(&j->slog);
        end = j->slog.indexed < j->slog.size ? j->slog.indexed : j->slog.size;
        nindex = j->slog.nindex;
        index = vs_xmalloc((nindex ? nindex : 1) * sizeof(*index));
        if (nindex)
                memcpy(index, j->slog.index, nindex * sizeof(*index));
        pthread_mutex_unlock(&j->lock);
        *ret_end = end;
        if (end == 0)
                return 0;
        if (vs_stream_tail_start(r->fd, index, nindex, end, &r->o.filter, (size_t)r->o.tail, &pos, &skip) < 0)
                return -1;
        r->cur.pos = r->cur.buf_off = pos;
        r->skip = skip;
        return 0;
}

int vs_service_streams_open(vs_service *s, const char *owner, const char *id, const vs_streams_opts *o,
                            vs_streams_reader **ret, vs_error *err)
{
        vs_streams_reader *r;
        sowner *acct = NULL;
        uint64_t end = 0;
        sjob *j;
        int rc = 0;

        if (!(o->filter.streams & (1u << VS_STREAM_STDOUT | 1u << VS_STREAM_STDERR)))
                return vs_error_set(err, VS_ERR_INPUT, "no stream asked for: stdout, stderr or both");
        pthread_mutex_lock(&s->lock);
        j = job_find_locked(s, owner, id, err);
        if (j && o->follow)
                rc = count_follow_locked(s, j, owner, id, &acct, err);
        if (j && rc == 0)
                job_ref(j);
        pthread_mutex_unlock(&s->lock);
        if (!j || rc < 0)
                return -1;
        r = vs_xcalloc(1, sizeof(*r));
        r->j = j;
        r->acct = acct;
        r->o = *o;
        r->fd = -1;
        r->gone_checked_ms = vs_mono_ms();
        if (o->follow)
                r->created_until_ms = vs_mono_ms() + s->o.follow_created_ms;
        vs_stream_cursor_init(&r->cur, -1, 0, 0);
        pthread_mutex_lock(&j->lock);
        if (j->removed)
                r->end = VS_STREAMS_END_DELETED;
        else if (!open_file(r))
                r->end = VS_STREAMS_END_CORRUPT;
        if (o->only_new)
                r->cur.pos = r->cur.buf_off = j->slog.size;
        pthread_mutex_unlock(&j->lock);
        if (r->end == VS_STREAMS_END_NONE && !o->only_new && o->tail >= 0 && tail_place(r, &end) < 0)
                r->end = VS_STREAMS_END_CORRUPT;
        *ret = r;
        return 0;
}

/* Asks opts.gone at most every VS_FOLLOW_WAIT_MS (it may poll a socket). */
static bool reader_gone(vs_streams_reader *r, bool now)
{
        uint64_t t = vs_mono_ms();

        if (!r->o.gone || (!now && t - r->gone_checked_ms < VS_FOLLOW_WAIT_MS))
                return false;
        r->gone_checked_ms = t;
        return r->o.gone(r->o.userdata);
}

/* Under j->lock: how long a follow may sleep now (0: its time is up). */
static uint64_t wait_ms_locked(vs_streams_reader *r, vs_streams_end *ret_end)
{
        uint64_t wait = VS_FOLLOW_WAIT_MS, mono = vs_mono_ms();
        int64_t t = vs_stream_now_ns();

        if (r->created_until_ms && r->j->rec.state == VS_JOB_CREATED) {
                if (mono >= r->created_until_ms) {
                        *ret_end = VS_STREAMS_END_NOT_STARTED;
                        return 0;
                }
                if (r->created_until_ms - mono < wait)
                        wait = r->created_until_ms - mono;
        }
        if (r->o.filter.until_ns) {
                if (t > r->o.filter.until_ns) {
                        *ret_end = VS_STREAMS_END_UNTIL;
                        return 0;
                }
                if ((uint64_t)(r->o.filter.until_ns - t) / 1000000 + 1 < wait)
                        wait = (uint64_t)(r->o.filter.until_ns - t) / 1000000 + 1;
        }
        return wait;
}

/* Sleeps until the committed size passes the reader's place (true) or the
 * reader ends (false, r->end set). */
static bool wait_more(vs_service *s, vs_streams_reader *r)
{
        sjob *j = r->j;
        struct timespec ts;
        vs_streams_end end = VS_STREAMS_END_NONE;

        pthread_mutex_lock(&j->lock);
        for (;;) {
                uint64_t wait;

                r->cut = j->slog.cut;
                /* The file stays readable through the reader's fd after a
                 * removal: what was written is read first. */
                if (r->cur.pos < j->slog.size) {
                        r->cur.end = j->slog.size;
                        break;
                }
                if (j->removed) {
                        end = VS_STREAMS_END_DELETED;
                        break;
                }
                /* The worker writes the last record before it marks the
                 * job finished, under the same lock: nothing is missed. */
                if (vs_job_state_finished(j->rec.state)) {
                        end = VS_STREAMS_END_FINISHED;
                        break;
                }
                if (!r->o.follow) {
                        end = VS_STREAMS_END_READ;
                        break;
                }
                if (svc_stopping(s) && j->rec.state != VS_JOB_RUNNING) {
                        end = VS_STREAMS_END_STOPPING;
                        break;
                }
                wait = wait_ms_locked(r, &end);
                if (wait == 0)
                        break;
                deadline_in(&ts, wait);
                if (pthread_cond_timedwait(&j->cond, &j->lock, &ts) == ETIMEDOUT) {
                        bool gone;
                        pthread_mutex_unlock(&j->lock);
                        gone = reader_gone(r, true);
                        pthread_mutex_lock(&j->lock);
                        if (gone) {
                                end = VS_STREAMS_END_GONE;
                                break;
                        }
                }
        }
        pthread_mutex_unlock(&j->lock);
        r->end = end;
        return end == VS_STREAMS_END_NONE;
}

int vs_service_streams_next(vs_service *s, vs_streams_reader *r, vs_streams_chunk *ret)
{
        while (r->end == VS_STREAMS_END_NONE) {
                vs_stream_header h;
                const unsigned char *d;
                size_t skip;
                int n;

                if (r->cur.pos >= r->cur.end && !wait_more(s, r))
                        break;
                n = vs_stream_cursor_next(&r->cur, &h, &d);
                if (n < 0) {
                        r->end = VS_STREAMS_END_CORRUPT;
                        break;
                }
                if (n == 0)
                        continue;
                if (r->o.filter.until_ns && h.time_ns > r->o.filter.until_ns) {
                        r->end = VS_STREAMS_END_UNTIL; /* times never go back within a file */
                        break;
                }
                skip = r->skip;
                r->skip = 0;
                if (!vs_stream_filter_match(&r->o.filter, &h) || skip >= h.len) {
                        /* Records the reader skips come as fast as they are
                         * written: a reader that went away is noticed here too. */
                        if (r->o.follow && reader_gone(r, false))
                                r->end = VS_STREAMS_END_GONE;
                        continue;
                }
                *ret = (vs_streams_chunk){ h.stream, h.time_ns, d + skip, h.len - skip };
                return 1;
        }
        return 0;
}

vs_streams_end vs_service_streams_end(const vs_streams_reader *r)
{
        return r->end;
}

unsigned vs_service_streams_cut(const vs_streams_reader *r)
{
        return r->cut;
}

void vs_service_streams_close(vs_service *s, vs_streams_reader *r)
{
        if (!r)
                return;
        if (r->acct) {
                pthread_mutex_lock(&s->lock);
                r->acct->follows--;
                r->j->follows--;
                pthread_mutex_unlock(&s->lock);
        }
        vs_stream_cursor_clear(&r->cur);
        vs_safe_close(r->fd);
        job_unref(r->j);
        free(r);
}
