#include "collect.h"
#include "alloc.h"
#include "cleanup.h"
#include "disk.h"
#include "helper.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINK_MAX_LEN 4096
#define FRAME_BUF (VS_CHAN_MAX)

struct vs_collect_src {
        vs_child child;
        vs_identity self;      /* for vs_collect_open_with: the caller's own */
        vs_disk_phase phase;
        bool has_phase;
        int disk_fd;
        char buf[FRAME_BUF];
};

bool vs_collect_name_ok(const char *rel)
{
        const char *p = rel;

        if (!*rel || rel[0] == '/' || strlen(rel) > VS_COLLECT_NAME_MAX)
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

/* ---- the channel ------------------------------------------------------- */

static uint64_t get_u64(const char *p)
{
        uint64_t v = 0;

        for (int i = 0; i < 8; i++)
                v = v << 8 | (unsigned char)p[i];
        return v;
}

static uint32_t get_u32(const char *p)
{
        return (uint32_t)(unsigned char)p[0] << 24 | (uint32_t)(unsigned char)p[1] << 16 |
               (uint32_t)(unsigned char)p[2] << 8 | (uint32_t)(unsigned char)p[3];
}

static void put_u64(char *p, uint64_t v)
{
        for (int i = 7; i >= 0; i--, v >>= 8)
                p[i] = (char)(v & 0xff);
}

/* One reply frame into s->buf; an 'X' becomes the child's error. */
static int recv_reply(vs_collect_src *s, char *ret_type, size_t *ret_len, vs_error *err)
{
        if (vs_child_recv(&s->child, ret_type, s->buf, sizeof(s->buf), ret_len, err) < 0)
                return -1;
        if (*ret_type == 'X') {
                /* The collect child reads what the guest wrote: nothing it
                 * says is the caller's input error. */
                vs_child_error(s->buf, *ret_len, err);
                err->kind = VS_ERR_SANDBOX;
                return -1;
        }
        return 0;
}

static int unexpected(vs_collect_src *s, char type, vs_error *err)
{
        vs_child_kill(&s->child);
        return vs_error_set(err, VS_ERR_SANDBOX, "the collect child sent an unexpected frame (0x%02x)",
                            (unsigned char)type);
}

static int request(vs_collect_src *s, char type, uint64_t n, const char *path, vs_error *err)
{
        char req[8 + VS_COLLECT_NAME_MAX + 64];
        size_t len = strlen(path);

        if (len > sizeof(req) - 8)
                return vs_error_set(err, VS_ERR_SANDBOX, "path too long");
        put_u64(req, n);
        memcpy(req + 8, path, len);
        return vs_child_send(&s->child, type, req, 8 + len, err);
}

/* Guest names for messages: printable, capped. */
static char *shown(const char *name, size_t len)
{
        return vs_text_for_terminal(name, len, 200, NULL);
}

/* Receives exactly size bytes of 'd' frames and the 'E' after them, into fd
 * (>= 0) or into mem (size + 1 bytes). */
static int recv_data(vs_collect_src *s, uint64_t size, int fd, char *mem, const char *what, vs_error *err)
{
        uint64_t got = 0;

        for (;;) {
                char type;
                size_t len;

                if (recv_reply(s, &type, &len, err) < 0)
                        return -1;
                if (type == 'E')
                        break;
                if (type != 'd')
                        return unexpected(s, type, err);
                /* An empty frame moves nothing: a stream of them would be a
                 * loop without progress. */
                if (len == 0) {
                        vs_child_kill(&s->child);
                        return vs_error_set(err, VS_ERR_SANDBOX, "guest %s: an empty data frame", what);
                }
                if (len > size - got) {
                        vs_child_kill(&s->child);
                        return vs_error_set(err, VS_ERR_SANDBOX, "guest %s: more data than its %llu bytes", what,
                                            (unsigned long long)size);
                }
                if (mem)
                        memcpy(mem + got, s->buf, len);
                for (size_t done = 0; fd >= 0 && done < len;) {
                        ssize_t n = write(fd, s->buf + done, len - done);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                return vs_error_errno(err, VS_ERR_SANDBOX, n < 0 ? errno : EIO, "cannot write %s", what);
                        done += (size_t)n;
                }
                got += len;
        }
        if (got != size)
                return vs_error_set(err, VS_ERR_SANDBOX, "guest %s: %llu of its %llu bytes came", what,
                                    (unsigned long long)got, (unsigned long long)size);
        return 0;
}

/* Asks for one file; *ret_size is set when it exists (and is <= max). */
static int get_start(vs_collect_src *s, const char *remote, uint64_t max, bool *ret_present, uint64_t *ret_size,
                     vs_error *err)
{
        char type;
        size_t len;

        *ret_present = false;
        if (request(s, 'G', max, remote, err) < 0 || recv_reply(s, &type, &len, err) < 0)
                return -1;
        if (type == 'N')
                return 0;
        if (type != 'S' || len != 8)
                return unexpected(s, type, err);
        *ret_size = get_u64(s->buf);
        if (*ret_size > max) {
                vs_child_kill(&s->child);
                return vs_error_set(err, VS_ERR_SANDBOX, "guest %s is %llu bytes, over the %llu-byte limit", remote,
                                    (unsigned long long)*ret_size, (unsigned long long)max);
        }
        *ret_present = true;
        return 0;
}

int vs_collect_read(vs_collect_src *s, const char *remote, size_t max, char **ret, size_t *ret_len, vs_error *err)
{
        _cleanup_free_ char *data = NULL;
        uint64_t size = 0;
        bool present;

        *ret = NULL;
        if (get_start(s, remote, max, &present, &size, err) < 0)
                return -1;
        if (!present)
                return 0;
        data = vs_xmalloc((size_t)size + 1);
        if (recv_data(s, size, -1, data, remote, err) < 0)
                return -1;
        data[size] = '\0';
        if (ret_len)
                *ret_len = (size_t)size;
        *ret = TAKE_PTR(data);
        return 0;
}

int vs_collect_file(vs_collect_src *s, const char *remote, const char *host_path, uint64_t max, bool *ret_present,
                    vs_error *err)
{
        _cleanup_close_ int fd = -1;
        uint64_t size = 0;
        bool present;

        *ret_present = false;
        if (get_start(s, remote, max, &present, &size, err) < 0)
                return -1;
        if (!present)
                return 0;
        fd = open(host_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
                int e = errno;
                vs_child_kill(&s->child); /* its data would desynchronise the channel */
                return vs_error_errno(err, VS_ERR_SANDBOX, e, "cannot create %s", host_path);
        }
        if (recv_data(s, size, fd, NULL, host_path, err) < 0)
                return -1;
        *ret_present = true;
        return 0;
}

/* A log: its last max bytes at most, after a one-line note when the guest's
 * file was longer (the end is where a failure shows). */
int vs_collect_file_tail(vs_collect_src *s, const char *remote, const char *host_path, uint64_t max,
                         uint64_t *ret_total, vs_error *err)
{
        _cleanup_close_ int fd = -1;
        char type, note[160];
        uint64_t total, kept;
        size_t len;
        int n;

        *ret_total = 0;
        if (request(s, 'H', max, remote, err) < 0 || recv_reply(s, &type, &len, err) < 0)
                return -1;
        if (type == 'N')
                return 0;
        if (type != 'S' || len != 8)
                return unexpected(s, type, err);
        total = get_u64(s->buf);
        kept = total > max ? max : total;
        fd = open(host_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
                int e = errno;
                vs_child_kill(&s->child); /* its data would desynchronise the channel */
                return vs_error_errno(err, VS_ERR_SANDBOX, e, "cannot create %s", host_path);
        }
        if (total > max) {
                n = snprintf(note, sizeof(note), "[vmsandbox: the guest's log was %llu bytes; its last %llu follow]\n",
                             (unsigned long long)total, (unsigned long long)kept);
                if (write(fd, note, (size_t)n) != n) {
                        int e = errno;
                        vs_child_kill(&s->child);
                        return vs_error_errno(err, VS_ERR_SANDBOX, e, "cannot write %s", host_path);
                }
        }
        if (recv_data(s, kept, fd, NULL, remote, err) < 0)
                return -1;
        *ret_total = total;
        return 0;
}

/* ---- trees ------------------------------------------------------------- */

#define COLLECT_DEPTH_MAX 256

/* Opens the directory that will hold rel's last component, walking from root
 * without following anything. */
static int open_parent(int root, const char *rel, const char **ret_leaf)
{
        char buf[VS_COLLECT_NAME_MAX + 1];
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
        vs_collect_src *s;
        int root;
        const vs_collect_limits *lim;
        vs_collect_stats *stats;
} tree_ctx;

/* The name in a 'D'/'F' frame after its fixed fields: no NUL, checked. */
static int frame_name(vs_collect_src *s, size_t off, size_t len, char *ret, vs_error *err)
{
        size_t n = len - off;

        if (len < off || n > VS_COLLECT_NAME_MAX || memchr(s->buf + off, '\0', n)) {
                vs_child_kill(&s->child);
                return vs_error_set(err, VS_ERR_SANDBOX, "the collect child sent a bad entry");
        }
        memcpy(ret, s->buf + off, n);
        ret[n] = '\0';
        if (!vs_collect_name_ok(ret)) {
                _cleanup_free_ char *show = shown(ret, n);
                vs_child_kill(&s->child);
                return vs_error_set(err, VS_ERR_SANDBOX, "workspace has an unsafe name \"%s\"", show);
        }
        /* open_parent walks every component: the depth bounds its work. */
        size_t depth = 1;
        for (const char *c = ret; (c = strchr(c, '/')); c++)
                depth++;
        if (depth > COLLECT_DEPTH_MAX) {
                vs_child_kill(&s->child);
                return vs_error_set(err, VS_ERR_SANDBOX, "workspace has a name deeper than %d levels",
                                    COLLECT_DEPTH_MAX);
        }
        return 0;
}

static int tree_dir(tree_ctx *t, size_t len, vs_error *err)
{
        char rel[VS_COLLECT_NAME_MAX + 1];
        _cleanup_close_ int dir = -1;
        const char *leaf;
        mode_t perm;

        if (len < 4 || frame_name(t->s, 4, len, rel, err) < 0)
                return len < 4 ? unexpected(t->s, 'D', err) : -1;
        perm = get_u32(t->s->buf) & 0777;
        t->stats->dirs++;
        dir = open_parent(t->root, rel, &leaf);
        /* The guest's mode exactly (the umask aside): write-back compares and
         * copies it.  Private staging: the parent is 0700. */
        if (dir < 0 || mkdirat(dir, leaf, 0700) < 0 || fchmodat(dir, leaf, perm | 0700, 0) < 0) {
                _cleanup_free_ char *show = shown(rel, strlen(rel));
                vs_child_kill(&t->s->child);
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create directory %s", show);
        }
        return 0;
}

static int tree_file(tree_ctx *t, size_t len, vs_error *err)
{
        char rel[VS_COLLECT_NAME_MAX + 1];
        _cleanup_close_ int dir = -1, fd = -1;
        const char *leaf;
        uint64_t size;
        mode_t perm;

        if (len < 12)
                return unexpected(t->s, 'F', err);
        if (frame_name(t->s, 12, len, rel, err) < 0)
                return -1;
        perm = get_u32(t->s->buf) & 0777;
        size = get_u64(t->s->buf + 4);
        if (size > t->lim->max_bytes - t->stats->bytes) {
                vs_child_kill(&t->s->child);
                return vs_error_set(err, VS_ERR_SANDBOX, "workspace is larger than the %llu-byte limit",
                                    (unsigned long long)t->lim->max_bytes);
        }
        t->stats->bytes += size;
        t->stats->files++;
        dir = open_parent(t->root, rel, &leaf);
        fd = dir < 0 ? -1 : openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 || fchmod(fd, perm | 0600) < 0) {
                _cleanup_free_ char *show = shown(rel, strlen(rel));
                int e = errno;
                vs_child_kill(&t->s->child);
                return vs_error_errno(err, VS_ERR_SANDBOX, e, "cannot create %s", show);
        }
        return recv_data(t->s, size, fd, NULL, "a workspace file", err);
}

static int tree_link(tree_ctx *t, size_t len, vs_error *err)
{
        const char *nul = memchr(t->s->buf, '\0', len);
        char rel[VS_COLLECT_NAME_MAX + 1], target[LINK_MAX_LEN + 1];
        _cleanup_close_ int dir = -1;
        size_t tlen;
        const char *leaf;

        if (!nul)
                return unexpected(t->s, 'L', err);
        tlen = len - (size_t)(nul - t->s->buf) - 1;
        if (tlen == 0 || tlen > LINK_MAX_LEN || memchr(nul + 1, '\0', tlen)) {
                vs_child_kill(&t->s->child);
                return vs_error_set(err, VS_ERR_SANDBOX, "bad symlink in the workspace");
        }
        memcpy(target, nul + 1, tlen);
        target[tlen] = '\0';
        if (frame_name(t->s, 0, (size_t)(nul - t->s->buf), rel, err) < 0)
                return -1;
        t->stats->links++;
        dir = open_parent(t->root, rel, &leaf);
        /* Recreated as a link, never followed by vmsandbox. */
        if (dir < 0 || symlinkat(target, dir, leaf) < 0) {
                _cleanup_free_ char *show = shown(rel, strlen(rel));
                vs_child_kill(&t->s->child);
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create symlink %s", show);
        }
        return 0;
}

int vs_collect_tree(vs_collect_src *s, const char *remote_dir, const char *host_dir, const vs_collect_limits *lim,
                    vs_collect_stats *ret_stats, vs_error *err)
{
        _cleanup_close_ int root = open(host_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        vs_collect_stats stats = { 0 };
        tree_ctx t = { .s = s, .lim = lim, .stats = &stats };

        if (root < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot open %s", host_dir);
        t.root = root;
        if (request(s, 'T', lim->max_entries, remote_dir, err) < 0)
                return -1;
        for (uint64_t entries = 0;; entries++) {
                char type;
                size_t len;
                int r;

                if (recv_reply(s, &type, &len, err) < 0)
                        return -1;
                if (type == 'E')
                        break;
                if (entries >= lim->max_entries) {
                        vs_child_kill(&s->child);
                        return vs_error_set(err, VS_ERR_SANDBOX, "workspace has more than %llu entries",
                                            (unsigned long long)lim->max_entries);
                }
                switch (type) {
                case 'D':
                        r = tree_dir(&t, len, err);
                        break;
                case 'F':
                        r = tree_file(&t, len, err);
                        break;
                case 'L':
                        r = tree_link(&t, len, err);
                        break;
                case 'O':
                        stats.skipped++; /* devices, fifos, sockets stay in the guest */
                        r = 0;
                        break;
                default:
                        r = unexpected(s, type, err);
                        break;
                }
                if (r < 0)
                        return -1;
        }
        *ret_stats = stats;
        return 0;
}

/* ---- the child's life ---------------------------------------------------- */

static int wait_ready(vs_collect_src *s, vs_error *err)
{
        char type;
        size_t len;

        if (recv_reply(s, &type, &len, err) < 0)
                return -1;
        return type == 'R' ? 0 : unexpected(s, type, err);
}

int vs_collect_open_with(vs_child_fn serve, void *arg, const vs_bound *b, vs_collect_src **ret, vs_error *err)
{
        vs_collect_src *s = vs_xmalloc(sizeof(*s));
        vs_child_opts o = { .id = &s->self, .bound = b };

        s->self = (vs_identity){ .drop = false, .uid = getuid(), .gid = getgid(), .lock_fd = -1 };
        s->has_phase = false;
        s->disk_fd = -1;
        if (vs_child_start(&s->child, &o, serve, arg, err) < 0 || wait_ready(s, err) < 0) {
                vs_collect_free(s);
                return -1;
        }
        *ret = s;
        return 0;
}

int vs_collect_open(const char *disk, vs_accel accel, const char *job_id, const vs_bound *b, vs_collect_src **ret,
                    vs_error *err)
{
        _cleanup_free_ char *copy = vs_xstrdup(disk);
        vs_collect_src *s = vs_xmalloc(sizeof(*s));
        vs_helper_args arg;
        struct stat st;

        s->has_phase = false;
        s->disk_fd = -1;
        s->child.ended = true;
        if (vs_disk_phase_begin(&s->phase, dirname(copy), accel, err) < 0) {
                free(s);
                return -1;
        }
        s->has_phase = true;
        /* The disk the guest wrote: the child's group may read it, for this
         * phase only (libvirt gave it back to root after the VM). */
        s->disk_fd = open(disk, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (s->disk_fd < 0 || fstat(s->disk_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                vs_error_errno(err, VS_ERR_SANDBOX, s->disk_fd < 0 ? errno : EINVAL, "cannot open the job disk %s", disk);
                vs_collect_free(s);
                return -1;
        }
        if (vs_identity_share_fd(&s->phase.id, s->disk_fd, 0640, err) < 0) {
                vs_collect_free(s);
                return -1;
        }
        vs_helper_args_init(&arg, VS_HELPER_COLLECT);
        vs_disk_phase_appliance(&s->phase, accel, job_id, &arg.app);
        arg.disk = disk;
        vs_child_opts o = vs_disk_phase_child_opts(&s->phase, b, NULL, 0);
        if (vs_helper_start(&s->child, &o, &arg, err) < 0 || wait_ready(s, err) < 0) {
                vs_collect_free(s);
                return -1;
        }
        *ret = s;
        return 0;
}

int vs_collect_close(vs_collect_src *s, vs_error *err)
{
        char type;
        size_t len;
        int r;

        r = vs_child_send(&s->child, 'Q', NULL, 0, err);
        if (r == 0)
                r = recv_reply(s, &type, &len, err);
        if (r == 0 && type != 'K')
                r = unexpected(s, type, err);
        if (r == 0)
                r = vs_child_end(&s->child, err);
        vs_collect_free(s);
        return r;
}

void vs_collect_free(vs_collect_src *s)
{
        if (!s)
                return;
        vs_child_kill(&s->child);
        if (s->disk_fd >= 0) {
                vs_error e;
                vs_identity_unshare_fd(&s->phase.id, s->disk_fd, &e);
                close(s->disk_fd);
        }
        if (s->has_phase)
                vs_disk_phase_end(&s->phase);
        free(s);
}

void vs_collect_freep(vs_collect_src **s)
{
        vs_collect_free(*s);
        *s = NULL;
}
