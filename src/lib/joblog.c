#include "joblog.h"
#include "alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void vs_joblog_init(vs_joblog *l, const char *path, uint64_t limit)
{
        struct stat st;

        memset(l, 0, sizeof(*l));
        l->path = vs_xstrdup(path);
        l->fd = -1;
        l->limit = limit;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
                l->size = (uint64_t)st.st_size;
}

void vs_joblog_clear(vs_joblog *l)
{
        if (l->fd >= 0)
                close(l->fd);
        free(l->path);
        memset(l, 0, sizeof(*l));
        l->fd = -1;
}

size_t vs_utf8_cut(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s;

        for (size_t back = 1; back <= 3 && back <= len; back++) {
                unsigned char b = p[len - back];
                size_t need;

                if ((b & 0xc0) == 0x80)
                        continue; /* a continuation byte: look further back */
                need = b >= 0xf0 && b <= 0xf7 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
                if (b >= 0xf8)
                        need = 1; /* not a lead byte: invalid, sanitised later */
                return need > back ? len - back : len;
        }
        return len;
}

static void write_file(vs_joblog *l, const char *data, size_t len)
{
        size_t n = len < l->limit - l->size ? len : (size_t)(l->limit - l->size);

        if (n == 0)
                return;
        if (l->fd < 0)
                l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        while (l->fd >= 0 && n > 0) {
                ssize_t w = write(l->fd, data, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return; /* disk full: the log stops, the job goes on */
                l->size += (uint64_t)w;
                data += w;
                n -= (size_t)w;
        }
}

void vs_joblog_append(vs_joblog *l, vs_job_record *rec, vs_phase p, const char *data, size_t len)
{
        if (l->size < l->limit)
                write_file(l, data, len);
        for (size_t i = 0; i < len; i++) {
                if (data[i] == '\n') {
                        vs_record_add_line(rec, p, l->line, l->line_len);
                        l->line_len = 0;
                        continue;
                }
                if (l->line_len == sizeof(l->line)) {
                        size_t cut = vs_utf8_cut(l->line, l->line_len);
                        vs_record_add_line(rec, p, l->line, cut);
                        memmove(l->line, l->line + cut, l->line_len - cut);
                        l->line_len -= cut;
                }
                l->line[l->line_len++] = data[i];
        }
}

void vs_joblog_finish(vs_joblog *l, vs_job_record *rec, vs_phase p)
{
        if (l->line_len)
                vs_record_add_line(rec, p, l->line, l->line_len);
        l->line_len = 0;
        if (l->fd >= 0)
                close(l->fd);
        l->fd = -1;
}
