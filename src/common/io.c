#include "io.h"
#include "alloc.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int vs_write_full(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -1;
                if (n == 0) {
                        errno = EIO;
                        return -1;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

ssize_t vs_read_full(int fd, void *buf, size_t len)
{
        char *p = buf;
        size_t done = 0;

        while (done < len) {
                ssize_t n = read(fd, p + done, len - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -1;
                if (n == 0)
                        break;
                done += (size_t)n;
        }
        return (ssize_t)done;
}

int vs_read_all(int fd, size_t max, char **ret, size_t *ret_len, size_t *ret_dropped)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0, dropped = 0;

        for (;;) {
                char sink[4096];
                ssize_t n;

                if (len < max && len + 1 >= cap) {
                        /* Doubling from 4 KiB, never past max + 1. */
                        cap = cap ? (cap > max / 2 ? max + 1 : cap * 2) : (max < 4096 ? max + 1 : 4096);
                        buf = vs_xrealloc(buf, cap);
                }
                if (len < max)
                        n = read(fd, buf + len, (cap - 1 - len));
                else
                        n = read(fd, sink, sizeof(sink));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -1;
                if (n == 0)
                        break;
                if (len < max)
                        len += (size_t)n;
                else
                        dropped += (size_t)n;
        }
        if (!buf)
                buf = vs_xmalloc(1);
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        if (ret_dropped)
                *ret_dropped = dropped;
        return 0;
}

int vs_read_file(const char *path, size_t max, char **ret, size_t *ret_len, vs_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        ssize_t n;

        if (fd < 0 || fstat(fd, &st) < 0)
                return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot read %s", path);
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max)
                return vs_error_set(err, VS_ERR_SETUP, "%s is not a regular file of at most %zu bytes", path, max);
        buf = vs_xmalloc((size_t)st.st_size + 1);
        n = vs_read_full(fd, buf, (size_t)st.st_size);
        if (n < 0)
                return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot read %s", path);
        if ((size_t)n != (size_t)st.st_size)
                return vs_error_errno(err, VS_ERR_SETUP, EIO, "cannot read %s", path);
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = (size_t)n;
        return 0;
}

int vs_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode, vs_error *err)
{
        _cleanup_free_ char *tmp = vs_xasprintf("%s.tmp-XXXXXX", path);
        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        int e;

        if (fd < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot write %s", path);
        if (vs_write_full(fd, data, len) == 0 && fchmod(fd, mode) == 0 && fsync(fd) == 0 && rename(tmp, path) == 0)
                return 0;
        e = errno;
        unlink(tmp);
        return vs_error_errno(err, VS_ERR_SANDBOX, e, "cannot write %s", path);
}
