#include "collect.h"
#include "cleanup.h"
#include "disk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define LINK_MAX_LEN 4096

static void guestfs_strv_free(char ***v)
{
        if (*v) {
                for (char **p = *v; *p; p++)
                        free(*p);
                free(*v);
        }
}

static void statns_free(struct guestfs_statns **s)
{
        if (*s)
                guestfs_free_statns(*s);
}

bool vs_collect_name_ok(const char *rel)
{
        const char *p = rel;

        if (!*rel || rel[0] == '/' || strlen(rel) > 4096)
                return false;
        for (;;) {
                const char *slash = strchr(p, '/');
                size_t len = slash ? (size_t)(slash - p) : strlen(p);

                if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.') || len > 255)
                        return false;
                if (!slash)
                        return true;
                p = slash + 1;
        }
}

int vs_collect_read(guestfs_h *g, const char *remote, size_t max, char **ret, size_t *ret_len, vs_error *err)
{
        _cleanup_(statns_free) struct guestfs_statns *st = NULL;
        char *data;
        size_t len;

        *ret = NULL;
        if (guestfs_exists(g, remote) <= 0)
                return 0;
        st = guestfs_lstatns(g, remote);
        if (!st)
                return vs_disk_error(g, err, remote);
        if (!S_ISREG(st->st_mode) || st->st_size < 0 || (uint64_t)st->st_size > max)
                return vs_error_set(err, VS_ERR_SANDBOX, "guest file %s is not a regular file of at most %zu bytes",
                                    remote, max);
        data = guestfs_read_file(g, remote, &len);
        if (!data)
                return vs_disk_error(g, err, remote);
        *ret = data;
        if (ret_len)
                *ret_len = len;
        return 0;
}

/* Downloads remote into fd through /dev/fd: libguestfs writes the data, the
 * host chose (and created) the file. */
static int download_fd(guestfs_h *g, const char *remote, int fd, vs_error *err)
{
        char path[64];

        snprintf(path, sizeof(path), "/dev/fd/%d", fd);
        if (guestfs_download(g, remote, path) < 0)
                return vs_disk_error(g, err, remote);
        return 0;
}

int vs_collect_file(guestfs_h *g, const char *remote, const char *host_path, uint64_t max, bool *ret_present,
                    vs_error *err)
{
        _cleanup_(statns_free) struct guestfs_statns *st = NULL;
        _cleanup_close_ int fd = -1;

        *ret_present = false;
        if (guestfs_exists(g, remote) <= 0)
                return 0;
        st = guestfs_lstatns(g, remote);
        if (!st)
                return vs_disk_error(g, err, remote);
        if (!S_ISREG(st->st_mode))
                return vs_error_set(err, VS_ERR_SANDBOX, "guest %s is not a regular file", remote);
        if ((uint64_t)st->st_size > max)
                return vs_error_set(err, VS_ERR_SANDBOX, "guest %s is %lld bytes, over the %llu-byte limit", remote,
                                    (long long)st->st_size, (unsigned long long)max);
        fd = open(host_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create %s", host_path);
        if (download_fd(g, remote, fd, err) < 0)
                return -1;
        *ret_present = true;
        return 0;
}

/* Opens the directory that will hold rel's last component, walking from root
 * without following anything. */
static int open_parent(int root, const char *rel, const char **ret_leaf)
{
        char buf[4097];
        char *p = buf, *slash;
        int fd = dup(root);

        snprintf(buf, sizeof(buf), "%s", rel);
        while (fd >= 0 && (slash = strchr(p, '/'))) {
                int next;

                *slash = '\0';
                next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                close(fd);
                fd = next;
                p = slash + 1;
        }
        *ret_leaf = rel + (p - buf);
        return fd;
}

typedef struct {
        guestfs_h *g;
        int root;
        const vs_collect_limits *lim;
        vs_collect_stats *stats;
} tree_ctx;

static int copy_entry(tree_ctx *t, const char *remote, const char *rel, vs_error *err)
{
        _cleanup_(statns_free) struct guestfs_statns *st = guestfs_lstatns(t->g, remote);
        _cleanup_close_ int dir = -1;
        const char *leaf;
        mode_t perm;

        if (!st)
                return vs_disk_error(t->g, err, remote);
        perm = (mode_t)st->st_mode & 0777;
        dir = open_parent(t->root, rel, &leaf);
        if (dir < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "workspace path %s", rel);
        if (S_ISDIR(st->st_mode)) {
                t->stats->dirs++;
                /* The guest's mode exactly (the umask aside): write-back compares
                 * and copies it.  Private staging: the parent is 0700. */
                if (mkdirat(dir, leaf, 0700) < 0 || fchmodat(dir, leaf, perm | 0700, 0) < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create directory %s", rel);
        } else if (S_ISREG(st->st_mode)) {
                _cleanup_close_ int fd = -1;

                if (st->st_size < 0 || t->stats->bytes + (uint64_t)st->st_size > t->lim->max_bytes)
                        return vs_error_set(err, VS_ERR_SANDBOX, "workspace is larger than the %llu-byte limit",
                                            (unsigned long long)t->lim->max_bytes);
                t->stats->bytes += (uint64_t)st->st_size;
                t->stats->files++;
                fd = openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0 || fchmod(fd, perm | 0600) < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create %s", rel);
                return download_fd(t->g, remote, fd, err);
        } else if (S_ISLNK(st->st_mode)) {
                _cleanup_free_ char *target = guestfs_readlink(t->g, remote);

                if (!target || strlen(target) > LINK_MAX_LEN)
                        return vs_error_set(err, VS_ERR_SANDBOX, "bad symlink %s in the workspace", rel);
                t->stats->links++;
                /* Recreated as a link, never followed by vmsandbox. */
                if (symlinkat(target, dir, leaf) < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create symlink %s", rel);
        } else
                t->stats->skipped++; /* devices, fifos, sockets stay in the guest */
        return 0;
}

int vs_collect_tree(guestfs_h *g, const char *remote_dir, const char *host_dir, const vs_collect_limits *lim,
                    vs_collect_stats *ret_stats, vs_error *err)
{
        _cleanup_(guestfs_strv_free) char **names = NULL;
        _cleanup_close_ int root = open(host_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        vs_collect_stats stats = { 0 };
        tree_ctx t = { .g = g, .lim = lim, .stats = &stats };
        size_t i;

        if (root < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot open %s", host_dir);
        t.root = root;
        names = guestfs_find(g, remote_dir);
        if (!names)
                return vs_disk_error(g, err, "listing the workspace");
        for (i = 0; names[i]; i++) {
                char remote[8192];
                /* guestfs_find answers "/name" for remote_dir/name. */
                const char *rel = names[i][0] == '/' ? names[i] + 1 : names[i];

                if (i >= lim->max_entries)
                        return vs_error_set(err, VS_ERR_SANDBOX, "workspace has more than %llu entries",
                                            (unsigned long long)lim->max_entries);
                if (!vs_collect_name_ok(rel))
                        return vs_error_set(err, VS_ERR_SANDBOX, "workspace has an unsafe name \"%.200s\"", rel);
                snprintf(remote, sizeof(remote), "%s/%s", remote_dir, rel);
                if (copy_entry(&t, remote, rel, err) < 0)
                        return -1;
        }
        *ret_stats = stats;
        return 0;
}
