#include "fsutil.h"
#include "alloc.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
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
                        if (mkdir(copy, mode) == 0) {
                                /* The mode asked for, whatever the umask. */
                                if (chmod(copy, mode) < 0)
                                        return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot chmod %s", copy);
                        } else if (errno != EEXIST)
                                return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot create %s", copy);
                        *p = saved;
                        if (!saved)
                                break;
                }
        }
        return 0;
}

/* ---- recursive removal ------------------------------------------------- */

/* vs_rm_rf walks with openat/unlinkat only: no path is ever longer than one
 * name, so trees deeper than PATH_MAX go too, and no symlink is followed
 * (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW).  The walk is a loop over an explicit
 * stack, not recursion.  The first RM_KEEP_OPEN levels keep their directory
 * stream open; below that a level is re-opened through ".." when the walk
 * comes back up, and its (st_dev, st_ino) must match what was recorded on the
 * way down, so a directory moved away meanwhile stops the walk instead of
 * letting it delete elsewhere.  Mount points are not crossed. */
#define RM_KEEP_OPEN 64
#define RM_MAX_DEPTH 65536

typedef struct {
        DIR *d;               /* NULL below RM_KEEP_OPEN while a child is walked */
        dev_t dev;
        ino_t ino;
        char name[256];       /* this directory's name in its parent */
} rm_level;

static int rm_fail(rm_level *st, size_t depth, int e)
{
        for (size_t i = 0; i < depth; i++)
                if (st[i].d)
                        closedir(st[i].d);
        free(st);
        errno = e;
        return -1;
}

/* Opens a directory without following a symlink and checks it is the one
 * expected (dev/ino), when expected is given. */
static DIR *rm_opendir(int parent, const char *name, const struct stat *expect, struct stat *ret)
{
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        DIR *d;

        if (fd < 0)
                return NULL;
        if (fstat(fd, &st) < 0 || (expect && (st.st_dev != expect->st_dev || st.st_ino != expect->st_ino))) {
                close(fd);
                errno = ESTALE;
                return NULL;
        }
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return NULL;
        }
        if (ret)
                *ret = st;
        return d;
}

int vs_rm_rf_at(int parent, const char *name)
{
        rm_level *st = NULL;
        size_t depth = 0, cap = 0;
        struct stat top, s;

        if (fstatat(parent, name, &top, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -1;
        if (!S_ISDIR(top.st_mode))
                return unlinkat(parent, name, 0) < 0 && errno != ENOENT ? -1 : 0;
        if (strlen(name) >= sizeof(st->name)) {
                errno = ENAMETOOLONG;
                return -1;
        }
        cap = 16;
        st = vs_xcalloc(cap, sizeof(*st));
        st[0].d = rm_opendir(parent, name, &top, NULL);
        if (!st[0].d)
                return rm_fail(st, 0, errno);
        st[0].dev = top.st_dev;
        st[0].ino = top.st_ino;
        snprintf(st[0].name, sizeof(st[0].name), "%s", name);
        depth = 1;
        while (depth > 0) {
                rm_level *cur = &st[depth - 1];
                int fd = dirfd(cur->d);
                struct dirent *e;
                bool descended = false;

                errno = 0;
                while (!descended && (e = readdir(cur->d))) {
                        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                                continue;
                        if (fstatat(fd, e->d_name, &s, AT_SYMLINK_NOFOLLOW) < 0) {
                                if (errno == ENOENT)
                                        continue;
                                return rm_fail(st, depth, errno);
                        }
                        if (!S_ISDIR(s.st_mode)) {
                                if (unlinkat(fd, e->d_name, 0) < 0 && errno != ENOENT)
                                        return rm_fail(st, depth, errno);
                                continue;
                        }
                        if (s.st_dev != st[0].dev)
                                return rm_fail(st, depth, EXDEV); /* a mount point: never crossed */
                        if (depth >= RM_MAX_DEPTH)
                                return rm_fail(st, depth, ELOOP);
                        if (depth == cap) {
                                cap *= 2;
                                st = vs_xrealloc(st, cap * sizeof(*st)); /* cap <= RM_MAX_DEPTH */
                                cur = &st[depth - 1];
                        }
                        st[depth] = (rm_level){ .dev = s.st_dev, .ino = s.st_ino };
                        snprintf(st[depth].name, sizeof(st[depth].name), "%s", e->d_name);
                        st[depth].d = rm_opendir(fd, e->d_name, &s, NULL);
                        if (!st[depth].d)
                                return rm_fail(st, depth, errno);
                        if (depth - 1 >= RM_KEEP_OPEN) {
                                closedir(cur->d);
                                cur->d = NULL;
                        }
                        depth++;
                        descended = true;
                }
                if (descended)
                        continue;
                if (errno != 0)
                        return rm_fail(st, depth, errno);
                /* cur is empty now: remove it from its parent. */
                if (depth == 1) {
                        closedir(cur->d);
                        cur->d = NULL;
                        free(st);
                        return unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -1 : 0;
                }
                if (!st[depth - 2].d) {
                        struct stat want = { .st_dev = st[depth - 2].dev, .st_ino = st[depth - 2].ino };
                        st[depth - 2].d = rm_opendir(fd, "..", &want, NULL);
                        if (!st[depth - 2].d)
                                return rm_fail(st, depth, errno);
                }
                closedir(cur->d);
                cur->d = NULL;
                depth--;
                if (unlinkat(dirfd(st[depth - 1].d), st[depth].name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                        return rm_fail(st, depth, errno);
        }
        free(st);
        return 0;
}

int vs_rm_rf(const char *path)
{
        _cleanup_free_ char *copy = vs_xstrdup(path);
        _cleanup_close_ int parent = -1;
        char *slash;
        const char *leaf;

        /* Trailing slashes name the same entry. */
        for (size_t n = strlen(copy); n > 1 && copy[n - 1] == '/'; n--)
                copy[n - 1] = '\0';
        slash = strrchr(copy, '/');
        if (!slash) {
                parent = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                leaf = copy;
        } else {
                *slash = '\0';
                parent = open(slash == copy ? "/" : copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                leaf = slash + 1;
        }
        if (parent < 0)
                return errno == ENOENT ? 0 : -1;
        if (!*leaf || !strcmp(leaf, ".") || !strcmp(leaf, "..")) {
                errno = EINVAL;
                return -1;
        }
        return vs_rm_rf_at(parent, leaf);
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

/* Counts below an open directory, fd-relative and without following
 * anything; recursion depth is bounded by max_depth.  The directory is
 * re-opened through "." rather than dup()ed: a dup shares the caller's
 * file offset, so the walk would start wherever an earlier reader left it
 * and leave it at the end for the next one (the write-back then listed an
 * empty workspace and deleted nothing). */
static int tree_walk(int dir, unsigned depth, uint64_t *bytes, uint64_t *entries, uint64_t max_entries)
{
        DIR *d;
        struct dirent *e;
        int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

        if (fd < 0)
                return -1;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -1;
        }
        while (r == 0 && (e = readdir(d))) {
                struct stat st;

                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                        continue;
                if (++*entries > max_entries)
                        break;
                if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -1;
                } else if (S_ISREG(st.st_mode)) {
                        *bytes += (uint64_t)st.st_size;
                } else if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub = -1;

                        if (depth >= VS_TREE_MAX_DEPTH) {
                                errno = ELOOP;
                                r = -1;
                                break;
                        }
                        sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        r = sub < 0 ? -1 : tree_walk(sub, depth + 1, bytes, entries, max_entries);
                }
        }
        closedir(d);
        return r;
}

int vs_tree_size_fd(int dir, uint64_t max_entries, uint64_t *ret_bytes, uint64_t *ret_entries, vs_error *err)
{
        uint64_t bytes = 0, entries = 0;

        if (tree_walk(dir, 0, &bytes, &entries, max_entries) < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "workspace has entries that cannot be read");
        *ret_bytes = bytes;
        *ret_entries = entries;
        return 0;
}

/* ---- opening below a root ---------------------------------------------- */

int vs_open_beneath(const char *root, const char *path, int flags, vs_error *err)
{
        struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC | O_NOCTTY),
                                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
                                           RESOLVE_NO_XDEV };
        _cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        size_t n = strlen(root);
        const char *rel = path;
        long fd;

        if (rfd < 0)
                return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot open the allowed root %s", root);
        while (n > 1 && root[n - 1] == '/')
                n--;
        /* An absolute path must start with the root; what follows is resolved
         * by the kernel below the root's fd, never by name from "/". */
        if (path[0] == '/') {
                if (strcmp(root, "/") == 0)
                        rel = path + 1;
                else if (strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0'))
                        rel = path + n;
                else
                        return vs_error_set(err, VS_ERR_FORBIDDEN, "%s is outside the allowed root %s", path, root);
                while (*rel == '/')
                        rel++;
        }
        if (!*rel)
                rel = ".";
        do
                fd = syscall(SYS_openat2, rfd, rel, &how, sizeof(how));
        while (fd < 0 && errno == EINTR);
        if (fd < 0) {
                if (errno == EXDEV || errno == ELOOP)
                        return vs_error_errno(err, VS_ERR_FORBIDDEN, errno,
                                              "%s: a symlink, \"..\" or mount point leads outside %s or is not allowed",
                                              path, root);
                return vs_error_errno(err, VS_ERR_INPUT, errno, "%s", path);
        }
        return (int)fd;
}
