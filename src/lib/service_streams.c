/* Readers of a job's streams.log (service_streams.h).  A reader is a
 * follower (service_follower.h: it waits as a log follow does), reads the
 * file without the job's lock, and only up to the size the writer
 * committed under it: a record being written is never seen half. */
#include "service_streams.h"
#include "service_follower.h"
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
        svc_follower f;            /* f.j: the job; f.gone: opts.gone */
        vs_streams_opts o;
        int fd;
        vs_stream_cursor cur;      /* cur.end: the size committed when last looked */
        size_t skip;               /* bytes of the record at the tail's start to leave out */
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

/* Under j->lock, before the job's files are removed: the reader opens the
 * file (made empty, 0600, when the job has written nothing yet: the writer
 * appends to the same file) and keeps it, so that a job removed right
 * after it ended (AutoRemove) is still read to its last record. */
static bool open_file(vs_streams_reader *r)
{
        _cleanup_free_ char *path = job_path(r->f.j, "streams.log");
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
        sjob *j = r->f.j;
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
        svc_follower f;
        uint64_t end = 0;
        sjob *j;

        if (!(o->filter.streams & (1u << VS_STREAM_STDOUT | 1u << VS_STREAM_STDERR)))
                return vs_error_set(err, VS_ERR_INPUT, "no stream asked for: stdout, stderr or both");
        if (svc_follower_open(s, owner, id, o->follow, &f, err) < 0)
                return -1;
        /* The reader keeps streams.log open (open_file). */
        f.reads_after_removal = true;
        f.until_ns = o->filter.until_ns;
        f.gone = o->gone;
        f.userdata = o->userdata;
        j = f.j;
        r = vs_xcalloc(1, sizeof(*r));
        r->f = f;
        r->o = *o;
        r->fd = -1;
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

static const vs_streams_end end_of[] = {
        [SVC_FOLLOW_MORE] = VS_STREAMS_END_NONE,         [SVC_FOLLOW_WAITED] = VS_STREAMS_END_NONE,
        [SVC_FOLLOW_READ] = VS_STREAMS_END_READ,         [SVC_FOLLOW_FINISHED] = VS_STREAMS_END_FINISHED,
        [SVC_FOLLOW_DELETED] = VS_STREAMS_END_DELETED,   [SVC_FOLLOW_STOPPING] = VS_STREAMS_END_STOPPING,
        [SVC_FOLLOW_NOT_STARTED] = VS_STREAMS_END_NOT_STARTED, [SVC_FOLLOW_UNTIL] = VS_STREAMS_END_UNTIL,
        [SVC_FOLLOW_GONE] = VS_STREAMS_END_GONE,
};

/* Sleeps until the committed size passes the reader's place (true) or the
 * reader ends (false, r->end set).  The file stays readable through the
 * reader's fd after a removal: what was written is read first. */
static bool wait_more(vs_service *s, vs_streams_reader *r)
{
        sjob *j = r->f.j;
        svc_follow_state st;

        pthread_mutex_lock(&j->lock);
        do /* WAITED: only without a gone hook, which a stream asks no one */
                st = svc_follower_wait_locked(s, &r->f, &j->slog.size, r->cur.pos);
        while (st == SVC_FOLLOW_WAITED);
        r->cut = j->slog.cut;
        if (st == SVC_FOLLOW_MORE)
                r->cur.end = j->slog.size;
        pthread_mutex_unlock(&j->lock);
        r->end = end_of[st];
        return r->end == VS_STREAMS_END_NONE;
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
                        if (r->o.follow && svc_follower_gone(&r->f, false))
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
        vs_stream_cursor_clear(&r->cur);
        vs_safe_close(r->fd);
        svc_follower_close(s, &r->f);
        free(r);
}
