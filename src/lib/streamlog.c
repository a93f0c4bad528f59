#include "streamlog.h"
#include "alloc.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Two whole records: after a refill at a record's start the next one is
 * always complete in the buffer (or the file is short). */
#define CURSOR_BUF (2 * (VS_STREAM_HEADER + VS_STREAM_RECORD_MAX))

static void put_be(unsigned char *p, uint64_t v, unsigned bytes)
{
        for (unsigned i = 0; i < bytes; i++)
                p[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
}

static uint64_t get_be(const unsigned char *p, unsigned bytes)
{
        uint64_t v = 0;

        for (unsigned i = 0; i < bytes; i++)
                v = v << 8 | p[i];
        return v;
}

int64_t vs_stream_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void vs_stream_header_encode(const vs_stream_header *h, unsigned char out[VS_STREAM_HEADER])
{
        memset(out, 0, VS_STREAM_HEADER);
        out[0] = (unsigned char)h->stream;
        put_be(out + 4, h->len, 4);
        put_be(out + 8, (uint64_t)h->time_ns, 8);
}

int vs_stream_header_parse(const unsigned char in[VS_STREAM_HEADER], vs_stream_header *ret)
{
        uint64_t len = get_be(in + 4, 4), t = get_be(in + 8, 8);

        if (in[0] != VS_STREAM_STDOUT && in[0] != VS_STREAM_STDERR)
                return -1;
        if (in[1] || in[2] || in[3])
                return -1;
        if (len == 0 || len > VS_STREAM_RECORD_MAX || t > (uint64_t)INT64_MAX)
                return -1;
        *ret = (vs_stream_header){ .stream = in[0], .len = (uint32_t)len, .time_ns = (int64_t)t };
        return 0;
}

/* ---- reading ------------------------------------------------------------- */

void vs_stream_cursor_init(vs_stream_cursor *c, int fd, uint64_t pos, uint64_t end)
{
        *c = (vs_stream_cursor){ .fd = fd, .pos = pos, .end = end, .buf = vs_xmalloc(CURSOR_BUF), .buf_off = pos };
}

void vs_stream_cursor_clear(vs_stream_cursor *c)
{
        free(c->buf);
        c->buf = NULL;
        c->buf_len = 0;
}

/* Bytes of the buffer from pos on (0 when pos is outside it). */
static size_t buffered(const vs_stream_cursor *c)
{
        if (c->pos < c->buf_off || c->pos > c->buf_off + c->buf_len)
                return 0;
        return (size_t)(c->buf_off + c->buf_len - c->pos);
}

/* Fills the buffer from pos (up to end); false on a read error. */
static bool refill(vs_stream_cursor *c)
{
        size_t want = c->end - c->pos < CURSOR_BUF ? (size_t)(c->end - c->pos) : CURSOR_BUF, got = 0;

        c->buf_off = c->pos;
        c->buf_len = 0;
        while (got < want) {
                ssize_t n = pread(c->fd, c->buf + got, want - got, (off_t)(c->pos + got));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break; /* shorter than recorded: what is missing is not there */
                got += (size_t)n;
        }
        c->buf_len = got;
        return true;
}

int vs_stream_cursor_next(vs_stream_cursor *c, vs_stream_header *ret_h, const unsigned char **ret_data)
{
        vs_stream_header h;
        const unsigned char *p;

        if (c->pos >= c->end)
                return c->pos == c->end ? 0 : -1;
        if (buffered(c) < VS_STREAM_HEADER)
                refill(c);
        if (buffered(c) < VS_STREAM_HEADER)
                return -1;
        p = c->buf + (c->pos - c->buf_off);
        if (vs_stream_header_parse(p, &h) < 0)
                return -1;
        if (VS_STREAM_HEADER + (uint64_t)h.len > c->end - c->pos)
                return -1;
        if (buffered(c) < VS_STREAM_HEADER + h.len) {
                refill(c);
                if (buffered(c) < VS_STREAM_HEADER + h.len)
                        return -1;
                p = c->buf;
        }
        c->pos += VS_STREAM_HEADER + h.len;
        *ret_h = h;
        *ret_data = p + VS_STREAM_HEADER;
        return 1;
}

bool vs_stream_filter_match(const vs_stream_filter *f, const vs_stream_header *h)
{
        if (!(f->streams & (1u << h->stream)))
                return false;
        if (f->since_ns && h->time_ns < f->since_ns)
                return false;
        return !f->until_ns || h->time_ns <= f->until_ns;
}

/* Newlines in the matched records of [a, b); *last the last matched byte
 * (-1: none).  -1 on a corrupt record. */
static int segment_count(int fd, uint64_t a, uint64_t b, const vs_stream_filter *f, size_t *ret_count, int *ret_last)
{
        vs_stream_cursor c;
        vs_stream_header h;
        const unsigned char *d;
        size_t count = 0;
        int r, last = -1;

        vs_stream_cursor_init(&c, fd, a, b);
        while ((r = vs_stream_cursor_next(&c, &h, &d)) > 0) {
                if (!vs_stream_filter_match(f, &h))
                        continue;
                for (const unsigned char *p = d; (p = memchr(p, '\n', (size_t)(d + h.len - p))); p++)
                        count++;
                last = d[h.len - 1];
        }
        vs_stream_cursor_clear(&c);
        *ret_count = count;
        *ret_last = last;
        return r;
}

/* The place right after the nth (1-based) newline of the matched records of [a, b). */
static int segment_find(int fd, uint64_t a, uint64_t b, const vs_stream_filter *f, size_t nth, uint64_t *ret_pos,
                        size_t *ret_skip)
{
        vs_stream_cursor c;
        vs_stream_header h;
        const unsigned char *d;
        int r;

        vs_stream_cursor_init(&c, fd, a, b);
        while ((r = vs_stream_cursor_next(&c, &h, &d)) > 0) {
                uint64_t at = c.pos - VS_STREAM_HEADER - h.len;
                if (!vs_stream_filter_match(f, &h))
                        continue;
                for (const unsigned char *p = d; (p = memchr(p, '\n', (size_t)(d + h.len - p))); p++) {
                        if (--nth > 0)
                                continue;
                        /* A record whose last byte is the newline: the tail starts at the next one. */
                        *ret_pos = (size_t)(p + 1 - d) == h.len ? c.pos : at;
                        *ret_skip = (size_t)(p + 1 - d) == h.len ? 0 : (size_t)(p + 1 - d);
                        vs_stream_cursor_clear(&c);
                        return 0;
                }
        }
        vs_stream_cursor_clear(&c);
        return -1; /* counted before: only a file that changed under us gets here */
}

int vs_stream_tail_start(int fd, const uint32_t *index, size_t nindex, uint64_t end, const vs_stream_filter *f,
                         size_t max_lines, uint64_t *ret_pos, size_t *ret_skip)
{
        uint64_t b = end;
        size_t want = max_lines, seen = 0;
        bool last_known = false;

        if (max_lines == 0) {
                *ret_pos = end;
                *ret_skip = 0;
                return 0;
        }
        /* Segments [index[k], next start) from the last one back; equal
         * entries (a record longer than a step) make empty ones. */
        for (size_t k = nindex; k-- > 0;) {
                uint64_t a = index[k];
                size_t count;
                int last;

                if (a >= b)
                        continue;
                if (segment_count(fd, a, b, f, &count, &last) < 0)
                        return -1;
                if (!last_known && last >= 0) {
                        last_known = true;
                        if (last == '\n')
                                want++; /* the newline that ends the text starts no line */
                }
                if (seen + count >= want)
                        return segment_find(fd, a, b, f, count - (want - seen) + 1, ret_pos, ret_skip);
                seen += count;
                b = a;
        }
        *ret_pos = 0;
        *ret_skip = 0;
        return 0;
}

/* ---- writing ------------------------------------------------------------- */

void vs_streamlog_init(vs_streamlog *l, const char *path, uint64_t limit)
{
        struct stat st;

        memset(l, 0, sizeof(*l));
        l->path = vs_xstrdup(path);
        l->fd = -1;
        l->limit = limit < UINT32_MAX ? limit : UINT32_MAX - 1;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
                l->size = (uint64_t)st.st_size < l->limit ? (uint64_t)st.st_size : l->limit;
        l->full = l->size > 0 && l->size + VS_STREAM_HEADER >= l->limit;
}

void vs_streamlog_clear(vs_streamlog *l)
{
        if (l->fd >= 0)
                close(l->fd);
        free(l->path);
        free(l->index);
        memset(l, 0, sizeof(*l));
        l->fd = -1;
}

/* A record now at offset at ends at next: index entries for every step it
 * is the first record at or after. */
static void index_add(vs_streamlog *l, uint64_t at, uint64_t next)
{
        while ((uint64_t)l->nindex * VS_STREAM_INDEX_STEP <= at) {
                if (l->nindex == l->cap) {
                        l->cap = l->cap ? 2 * l->cap : 16;
                        l->index = vs_xrealloc(l->index, l->cap * sizeof(*l->index));
                }
                l->index[l->nindex++] = (uint32_t)at;
        }
        l->indexed = next;
}

static bool write_record(vs_streamlog *l, unsigned stream, const void *data, size_t len, int64_t now_ns)
{
        unsigned char hdr[VS_STREAM_HEADER];
        struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)data, len } };
        size_t total = sizeof(hdr) + len, done = 0;

        vs_stream_header_encode(&(vs_stream_header){ stream, (uint32_t)len, now_ns }, hdr);
        if (l->fd < 0)
                l->fd = open(l->path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (l->fd < 0)
                return false;
        while (done < total) {
                ssize_t w = pwritev(l->fd, iov, 2, (off_t)(l->size + done));
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0) {
                        /* Disk full: half a record would end the stream for
                         * every reader; the file keeps whole records only. */
                        if (ftruncate(l->fd, (off_t)l->size) < 0)
                                l->corrupt = true;
                        return false;
                }
                done += (size_t)w;
                for (size_t k = 0, left = (size_t)w; k < 2 && left > 0; k++) {
                        size_t n = left < iov[k].iov_len ? left : iov[k].iov_len;
                        iov[k].iov_base = (char *)iov[k].iov_base + n;
                        iov[k].iov_len -= n;
                        left -= n;
                }
        }
        if (l->indexed == l->size)
                index_add(l, l->size, l->size + total);
        l->size += total;
        return true;
}

bool vs_streamlog_append(vs_streamlog *l, unsigned stream, const void *data, size_t len, int64_t now_ns)
{
        const char *p = data;
        bool was_full = l->full;

        if (stream != VS_STREAM_STDOUT && stream != VS_STREAM_STDERR)
                stream = VS_STREAM_STDOUT;
        if (now_ns < l->last_ns)
                now_ns = l->last_ns; /* the wall clock stepped back: the file stays ordered */
        while (len > 0) {
                size_t n = len < VS_STREAM_RECORD_MAX ? len : VS_STREAM_RECORD_MAX;
                if (l->full || VS_STREAM_HEADER + n > l->limit - l->size || !write_record(l, stream, p, n, now_ns)) {
                        l->full = true;
                        l->cut |= 1u << stream;
                        break;
                }
                l->last_ns = now_ns;
                p += n;
                len -= n;
        }
        return l->full && !was_full;
}

void vs_streamlog_finish(vs_streamlog *l)
{
        if (l->fd >= 0)
                close(l->fd);
        l->fd = -1;
}

void vs_streamlog_index(vs_streamlog *l)
{
        _cleanup_close_ int fd = -1;
        vs_stream_cursor c;
        vs_stream_header h;
        const unsigned char *d;
        struct stat st;
        int r;

        if (l->corrupt || l->indexed >= l->size)
                return;
        fd = open(l->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                l->corrupt = true;
                return;
        }
        vs_stream_cursor_init(&c, fd, l->indexed, l->size);
        while ((r = vs_stream_cursor_next(&c, &h, &d)) > 0)
                index_add(l, c.pos - VS_STREAM_HEADER - h.len, c.pos);
        if (r < 0)
                l->corrupt = true;
        vs_stream_cursor_clear(&c);
}
