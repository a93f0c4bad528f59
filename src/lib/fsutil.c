#include "fsutil.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int vs_mkdir_p(const char *path, unsigned mode, vs_error *err)
{
        _cleanup_free_ char *copy = strdup(path);

        if (!copy)
                return vs_error_errno(err, VS_ERR_SETUP, ENOMEM, "mkdir %s", path);
        for (char *p = copy + 1; ; p++) {
                if (*p == '/' || *p == '\0') {
                        char saved = *p;
                        *p = '\0';
                        if (mkdir(copy, mode) < 0 && errno != EEXIST)
                                return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot create %s", copy);
                        *p = saved;
                        if (!saved)
                                break;
                }
        }
        return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st, (void)ftw;
        if (flag == FTW_DP)
                rmdir(path);
        else
                unlink(path);
        return 0;
}

int vs_rm_rf(const char *path)
{
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -1;
        return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int vs_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode, vs_error *err)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        const char *p = data;

        if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, ENOMEM, "writing %s", path);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot write %s", path);
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;
                        unlink(tmp);
                        return vs_error_errno(err, VS_ERR_SANDBOX, e, "cannot write %s", path);
                }
                p += n;
                len -= (size_t)n;
        }
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0) {
                int e = errno;
                unlink(tmp);
                return vs_error_errno(err, VS_ERR_SANDBOX, e, "cannot write %s", path);
        }
        return 0;
}

int vs_read_file(const char *path, size_t max, char **ret, size_t *ret_len, vs_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0)
                return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot read %s", path);
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max)
                return vs_error_set(err, VS_ERR_SETUP, "%s is not a regular file of at most %zu bytes", path, max);
        buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return vs_error_errno(err, VS_ERR_SETUP, ENOMEM, "reading %s", path);
        while (len < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return vs_error_errno(err, VS_ERR_SETUP, n < 0 ? errno : EIO, "cannot read %s", path);
                len += (size_t)n;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int vs_random_id(char id[13], vs_error *err)
{
        unsigned char b[6];

        if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "getrandom");
        for (int i = 0; i < 6; i++)
                snprintf(id + 2 * i, 3, "%02x", b[i]);
        return 0;
}

uint64_t vs_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static __thread uint64_t tree_bytes, tree_entries;

static int tree_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)path, (void)ftw;
        tree_entries++;
        if (flag == FTW_F && S_ISREG(st->st_mode))
                tree_bytes += (uint64_t)st->st_size;
        return flag == FTW_DNR || flag == FTW_NS ? -1 : 0;
}

int vs_tree_size(const char *dir, uint64_t *ret_bytes, uint64_t *ret_entries, vs_error *err)
{
        tree_bytes = tree_entries = 0;
        if (nftw(dir, tree_one, 32, FTW_PHYS) != 0)
                return vs_error_set(err, VS_ERR_INPUT, "workspace %s has entries that cannot be read", dir);
        *ret_bytes = tree_bytes;
        *ret_entries = tree_entries;
        return 0;
}
