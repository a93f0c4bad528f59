/* libFuzzer: streams.log as a hostile file.  The first byte picks a tail
 * length and a stream filter; the rest is the file.  The cursor must hand
 * out only valid records and stop at the first bad one; the index walk
 * must stop at the same place; the tail read from the end through the
 * index must equal a forward count over the records. */
#include "streamlog.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];
static int wfd = -1;

typedef struct {
        uint64_t off;
        unsigned stream;
        uint32_t len;
        uint64_t data; /* file offset of the bytes */
} rec;

/* The reference: where the last n lines of the matched bytes begin. */
static void tail_forward(const unsigned char *file, const rec *v, size_t nv, uint64_t end, unsigned mask, size_t n,
                         uint64_t *ret_pos, size_t *ret_skip)
{
        size_t nl = 0, want, seen = 0;
        int last = -1;

        *ret_pos = 0;
        *ret_skip = 0;
        if (n == 0) {
                *ret_pos = end;
                return;
        }
        for (size_t i = 0; i < nv; i++)
                if (mask & (1u << v[i].stream)) {
                        for (uint32_t k = 0; k < v[i].len; k++)
                                nl += file[v[i].data + k] == '\n';
                        last = file[v[i].data + v[i].len - 1];
                }
        want = n + (last == '\n');
        if (nl < want)
                return;
        for (size_t i = 0; i < nv; i++) {
                if (!(mask & (1u << v[i].stream)))
                        continue;
                for (uint32_t k = 0; k < v[i].len; k++)
                        if (file[v[i].data + k] == '\n' && ++seen == nl - want + 1) {
                                bool at_end = k + 1 == v[i].len;
                                *ret_pos = at_end ? (i + 1 < nv ? v[i + 1].off : end) : v[i].off;
                                *ret_skip = at_end ? 0 : k + 1;
                                return;
                        }
        }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        static rec v[8192];
        size_t nv = 0, n, skip, want_skip;
        unsigned mask;
        vs_stream_cursor c;
        vs_stream_header h;
        const unsigned char *d;
        vs_streamlog l;
        uint64_t pos, want_pos, valid;
        int r, fd;

        if (size < 1)
                return 0;
        if (wfd < 0) {
                snprintf(path, sizeof(path), "/tmp/fuzz-streams-%d.log", (int)getpid());
                wfd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (wfd < 0)
                        abort();
        }
        n = data[0] >> 2;
        mask = (data[0] & 3) == 0 ? 6u : (data[0] & 3) << 1; /* both, stdout, stderr, both */
        data++, size--;
        if (ftruncate(wfd, 0) < 0 || (size && pwrite(wfd, data, size, 0) != (ssize_t)size))
                abort();

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                abort();
        vs_stream_cursor_init(&c, fd, 0, size);
        while (nv < sizeof(v) / sizeof(v[0]) && (r = vs_stream_cursor_next(&c, &h, &d)) > 0) {
                if ((h.stream != 1 && h.stream != 2) || h.len == 0 || h.len > VS_STREAM_RECORD_MAX || h.time_ns < 0)
                        abort();
                v[nv] = (rec){ c.pos - VS_STREAM_HEADER - h.len, h.stream, h.len, c.pos - h.len };
                if (memcmp(d, data + v[nv].data, h.len) != 0)
                        abort();
                nv++;
        }
        valid = c.pos;
        vs_stream_cursor_clear(&c);
        if (nv == sizeof(v) / sizeof(v[0])) { /* more records than the reference keeps */
                close(fd);
                return 0;
        }

        vs_streamlog_init(&l, path, 1ull << 30);
        vs_streamlog_index(&l);
        if (l.indexed != valid || l.corrupt != (valid != size))
                abort();
        {
                vs_stream_filter f = { mask, 0, 0 };
                if (vs_stream_tail_start(fd, l.index, l.nindex, valid, &f, n, &pos, &skip) < 0)
                        abort();
                tail_forward(data, v, nv, valid, mask, n, &want_pos, &want_skip);
                if (pos != want_pos || skip != want_skip)
                        abort();
        }
        vs_streamlog_clear(&l);
        close(fd);
        return 0;
}
