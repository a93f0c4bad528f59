#include "workspace.h"
#include "cleanup.h"
#include "fsutil.h"
#include "io.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
        uid_t uid;
        gid_t gid;
        bool chown;
        vs_sync_stats stats;
        vs_error *err;
} sync_ctx;

/* Removal is fd-relative and never follows a symlink (fsutil.c). */
static int rm_at(int dir, const char *name)
{
        return vs_rm_rf_at(dir, name);
}

static bool same_content(int a, int b)
{
        char ba[65536], bb[65536];

        for (;;) {
                ssize_t na = read(a, ba, sizeof(ba)), nb;
                if (na < 0)
                        return false;
                nb = read(b, bb, (size_t)na ? (size_t)na : 1);
                if (nb != na || memcmp(ba, bb, (size_t)na) != 0)
                        return false;
                if (na == 0)
                        return true;
        }
}

static int copy_fd(int from, int to)
{
        char buf[65536];
        ssize_t n;

        while ((n = read(from, buf, sizeof(buf))) > 0)
                for (ssize_t off = 0; off < n;) {
                        ssize_t w = write(to, buf + off, (size_t)(n - off));
                        if (w < 0)
                                return -1;
                        off += w;
                }
        return n < 0 ? -1 : 0;
}

/* New entries get the directory owner's uid/gid, always through an fd of
 * the entry itself: by name, a hard link swapped in by a local user would
 * have its (root-owned) target chowned. */
static void own_fd(sync_ctx *c, int fd)
{
        if (c->chown)
                (void)!fchown(fd, c->uid, c->gid);
}

static void own_link(sync_ctx *c, int dir, const char *name)
{
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (!c->chown)
                return;
        fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode))
                (void)!fchownat(fd, "", c->uid, c->gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
}

static int sync_file(sync_ctx *c, int src, int dst, const char *name, const struct stat *sst)
{
        _cleanup_close_ int in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int old = openat(dst, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        _cleanup_close_ int out = -1;
        struct stat dst_st;
        char tmp[64];

        if (in < 0)
                return vs_error_errno(c->err, VS_ERR_SANDBOX, errno, "cannot read collected %s", name);
        if (old >= 0 && fstat(old, &dst_st) == 0 && S_ISREG(dst_st.st_mode) && dst_st.st_size == sst->st_size &&
            (dst_st.st_mode & 07777) == (sst->st_mode & 07777) && same_content(in, old)) {
                c->stats.unchanged++;
                return 0;
        }
        if (lseek(in, 0, SEEK_SET) < 0)
                return vs_error_errno(c->err, VS_ERR_SANDBOX, errno, "%s", name);
        snprintf(tmp, sizeof(tmp), ".vmsandbox-tmp-%d", (int)getpid());
        out = openat(dst, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, sst->st_mode & 0777);
        if (out < 0)
                return vs_error_errno(c->err, VS_ERR_SANDBOX, errno, "cannot write %s", name);
        own_fd(c, out);
        if (copy_fd(in, out) < 0 || fchmod(out, sst->st_mode & 0777) < 0) {
                unlinkat(dst, tmp, 0);
                return vs_error_errno(c->err, VS_ERR_SANDBOX, errno, "cannot write %s", name);
        }
        if (old >= 0 && S_ISDIR(dst_st.st_mode))
                rm_at(dst, name);
        if (renameat(dst, tmp, dst, name) < 0) {
                unlinkat(dst, tmp, 0);
                return vs_error_errno(c->err, VS_ERR_SANDBOX, errno, "cannot replace %s", name);
        }
        c->stats.written++;
        return 0;
}

static int sync_link(sync_ctx *c, int src, int dst, const char *name)
{
        char target[4097], cur[4097];
        ssize_t n = readlinkat(src, name, target, sizeof(target) - 1), m;

        if (n < 0)
                return vs_error_errno(c->err, VS_ERR_SANDBOX, errno, "cannot read link %s", name);
        target[n] = '\0';
        m = readlinkat(dst, name, cur, sizeof(cur) - 1);
        if (m == n && memcmp(cur, target, (size_t)n) == 0) {
                c->stats.unchanged++;
                return 0;
        }
        if (rm_at(dst, name) < 0 || symlinkat(target, dst, name) < 0)
                return vs_error_errno(c->err, VS_ERR_SANDBOX, errno, "cannot create link %s", name);
        own_link(c, dst, name);
        c->stats.written++;
        return 0;
}

static int sync_tree(sync_ctx *c, int src, int dst);

static int sync_subdir(sync_ctx *c, int src, int dst, const char *name, const struct stat *sst)
{
        struct stat dst_st;
        _cleanup_close_ int s = -1, d = -1;

        if (fstatat(dst, name, &dst_st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(dst_st.st_mode))
                rm_at(dst, name);
        bool created = mkdirat(dst, name, sst->st_mode & 0777) == 0;

        if (created)
                c->stats.written++;
        else if (errno != EEXIST)
                return vs_error_errno(c->err, VS_ERR_SANDBOX, errno, "cannot create directory %s", name);
        s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s < 0 || d < 0)
                return vs_error_errno(c->err, VS_ERR_SANDBOX, errno, "cannot open directory %s", name);
        if (created)
                own_fd(c, d);
        fchmod(d, sst->st_mode & 0777);
        return sync_tree(c, s, d);
}

/* A listing of its own of an open directory: re-opened through "." (not
 * dup()ed, which shares the offset: a listing of the caller's fd read to
 * its end before would see nothing, see fsutil.c tree_walk). */
static DIR *list_dir(int fd)
{
        int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = own >= 0 ? fdopendir(own) : NULL;

        if (!d && own >= 0) {
                int e = errno;
                close(own);
                errno = e;
        }
        return d;
}

/* Entries of dst that src does not have are deleted. */
static int delete_missing(sync_ctx *c, int src, int dst)
{
        DIR *d = list_dir(dst);
        struct dirent *e;
        int r = 0;

        if (!d)
                return vs_error_errno(c->err, VS_ERR_SANDBOX, errno, "cannot list the workspace");
        while ((e = readdir(d)) && r == 0) {
                struct stat st;

                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                        continue;
                if (fstatat(src, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
                        continue;
                if (rm_at(dst, e->d_name) < 0)
                        r = vs_error_errno(c->err, VS_ERR_SANDBOX, errno, "cannot delete %s", e->d_name);
                else
                        c->stats.deleted++;
        }
        closedir(d);
        return r;
}

static int sync_tree(sync_ctx *c, int src, int dst)
{
        DIR *d = list_dir(src);
        struct dirent *e;
        int r = 0;

        if (!d)
                return vs_error_errno(c->err, VS_ERR_SANDBOX, errno, "cannot list the collected workspace");
        while ((e = readdir(d)) && r == 0) {
                struct stat st;

                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                        continue;
                if (fstatat(src, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        r = vs_error_errno(c->err, VS_ERR_SANDBOX, errno, "%s", e->d_name);
                else if (S_ISDIR(st.st_mode))
                        r = sync_subdir(c, src, dst, e->d_name, &st);
                else if (S_ISREG(st.st_mode))
                        r = sync_file(c, src, dst, e->d_name, &st);
                else if (S_ISLNK(st.st_mode))
                        r = sync_link(c, src, dst, e->d_name);
        }
        closedir(d);
        return r < 0 ? r : delete_missing(c, src, dst);
}

int vs_workspace_sync_fd(const char *src, int dst, vs_sync_stats *ret_stats, vs_error *err)
{
        _cleanup_close_ int s = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        sync_ctx c = { .err = err };
        struct stat st;

        if (s < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot open %s", src);
        if (fstat(dst, &st) < 0 || !S_ISDIR(st.st_mode))
                return vs_error_errno(err, VS_ERR_SANDBOX, errno ? errno : ENOTDIR, "workspace is not a directory");
        c.chown = geteuid() == 0;
        c.uid = st.st_uid;
        c.gid = st.st_gid;
        if (sync_tree(&c, s, dst) < 0)
                return -1;
        *ret_stats = c.stats;
        return 0;
}

int vs_workspace_sync(const char *src, const char *dst, vs_sync_stats *ret_stats, vs_error *err)
{
        _cleanup_close_ int d = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (d < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot open workspace %s", dst);
        return vs_workspace_sync_fd(src, d, ret_stats, err);
}

int vs_bind_open(const char *root, const vs_bind *b, uint64_t max_entries, int *ret_fd, struct stat *ret_st,
                 uint64_t *ret_bytes, uint64_t *ret_entries, vs_error *err)
{
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (!root)
                return vs_error_set(err, VS_ERR_FORBIDDEN, "bind source %.300s is not below an allowed root (--allow-root)",
                                    b->host);
        fd = vs_open_beneath(root, b->host, O_RDONLY | O_NONBLOCK, err);
        if (fd < 0) {
                vs_error_prefix(err, "bind source"); /* the message names the path */
                return -1;
        }
        if (fstat(fd, &st) < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "bind source %.300s", b->host);
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return vs_error_set(err, VS_ERR_INPUT, "bind source %.300s is not a directory or a regular file", b->host);
        /* A bound file is read, and written back in place, as root: a hard
         * link into the root of a file elsewhere would be too. */
        if (S_ISREG(st.st_mode) && st.st_nlink != 1)
                return vs_error_set(err, VS_ERR_INPUT, "bind source %.300s has %ju hard links: a bound file must have one",
                                    b->host, (uintmax_t)st.st_nlink);
        if ((b->dev || b->ino) && ((uint64_t)st.st_dev != b->dev || (uint64_t)st.st_ino != b->ino))
                return vs_error_set(err, VS_ERR_INPUT, "bind source %.300s is another file than when the container was created",
                                    b->host);
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "bind source %.300s", b->host);
        if (S_ISREG(st.st_mode)) {
                *ret_bytes = (uint64_t)st.st_size;
                *ret_entries = 1;
        } else if (vs_tree_size_fd(fd, max_entries, ret_bytes, ret_entries, err) < 0) {
                vs_error_prefix(err, "bind source %.300s", b->host);
                return -1;
        }
        *ret_st = st;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int vs_bind_write_file(const char *src, int dst, vs_error *err)
{
        _cleanup_close_ int s = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), d = -1;
        char path[64], buf[65536];
        struct stat st;
        ssize_t n;

        if (s < 0 || fstat(s, &st) < 0 || !S_ISREG(st.st_mode))
                return vs_error_errno(err, VS_ERR_SANDBOX, errno ? errno : EINVAL, "cannot read the collected %s", src);
        /* The same inode as dst, open for writing: the magic link is never a
         * name that can be swapped. */
        snprintf(path, sizeof(path), "/proc/self/fd/%d", dst);
        d = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (d < 0 || ftruncate(d, 0) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot write the bound file back");
        while ((n = read(s, buf, sizeof(buf))) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 || vs_write_full(d, buf, (size_t)n) < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot write the bound file back");
        }
        /* Root's write leaves set-id bits alone (another writer's would
         * clear them): the guest's content must not run with them. */
        if (fstat(d, &st) < 0 || ((st.st_mode & (S_ISUID | S_ISGID)) && fchmod(d, st.st_mode & 0777) < 0) ||
            fsync(d) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot write the bound file back");
        return 0;
}
