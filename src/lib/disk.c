#include "disk.h"
#include "alloc.h"
#include "cleanup.h"
#include "fsutil.h"
#include "guard.h"
#include "helper.h"
#include "io.h"
#include "parse.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define TMP_NAME ".appliance"
#define FEED_CHUNK (64u << 10)
/* Below this, a failure is reported as the host file system being full. */
#define HOST_FULL_BYTES (8ull << 20)
/* XDG_RUNTIME_DIR holds libguestfs' sockets: sun_path has 108 bytes. */
#define SOCKDIR_MAX 64

extern char **environ;

void vs_guestfs_closep(guestfs_h **g)
{
        if (*g) {
                guestfs_close(*g);
                *g = NULL;
        }
}

int vs_disk_error(guestfs_h *g, vs_error *err, const char *what)
{
        const char *msg = g ? guestfs_last_error(g) : NULL;

        return vs_error_set(err, VS_ERR_SANDBOX, "%s: %s", what, msg ? msg : "libguestfs failed");
}

/* Child side.  The library prints nothing itself: errors are read with
 * guestfs_last_error.  The appliance follows the job's acceleration choice,
 * keeps its temporary files (overlay, sockets, cache) in the phase's private
 * directory and boots the fixed appliance when there is one. */
static int handle_new(const vs_appliance *a, guestfs_h **ret, vs_error *err)
{
        char *tcg[] = { "force_tcg", NULL };
        guestfs_h *g;
        char tag[64];

        if (a->tmpdir) {
                setenv("TMPDIR", a->tmpdir, 1);
                if (strlen(a->tmpdir) <= SOCKDIR_MAX)
                        setenv("XDG_RUNTIME_DIR", a->tmpdir, 1);
                else
                        unsetenv("XDG_RUNTIME_DIR"); /* the caller's is not ours to write */
        }
        g = guestfs_create();
        if (!g)
                return vs_error_set(err, VS_ERR_SANDBOX, "cannot create a libguestfs handle");
        guestfs_set_error_handler(g, NULL, NULL);
        /* The tag on the appliance's kernel command line names the job in ps. */
        if (a->job_id)
                vs_guard_tag(tag, a->job_id);
        if (guestfs_set_backend(g, "direct") < 0 || (a->job_id && guestfs_set_append(g, tag) < 0) ||
            (a->accel == VS_ACCEL_TCG && guestfs_set_backend_settings(g, tcg) < 0) ||
            (a->tmpdir && (guestfs_set_tmpdir(g, a->tmpdir) < 0 || guestfs_set_cachedir(g, a->tmpdir) < 0)) ||
            (a->appliance && guestfs_set_path(g, a->appliance) < 0)) {
                vs_disk_error(g, err, "libguestfs set-up");
                guestfs_close(g);
                return -1;
        }
        *ret = g;
        return 0;
}

/* ---- the appliance's kernel ------------------------------------------------ */

#define RELEASE_MAX 100

static bool release_ok(const char *v)
{
        size_t n = strlen(v);

        if (n == 0 || n > RELEASE_MAX || v[0] < '0' || v[0] > '9')
                return false;
        return strspn(v, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+_~-") == n;
}

void vs_appliance_kernel_clear(vs_appliance_kernel *k)
{
        free(k->dir);
        free(k->kernel);
        free(k->modules);
        free(k->version);
        *k = (vs_appliance_kernel){ 0 };
}

int vs_appliance_kernel_find(vs_appliance_kernel *ret, vs_error *err)
{
        const char *env = getenv("VMSANDBOX_APPLIANCE_KERNEL");
        vs_appliance_kernel k = { .dir = vs_xstrdup(env && *env ? env : VS_DEFAULT_APPLIANCE_KERNEL) };
        _cleanup_free_ char *vpath = NULL, *text = NULL, *dep = NULL;
        struct stat st;
        size_t len;

        if (stat(k.dir, &st) < 0 && errno == ENOENT) {
                vs_appliance_kernel_clear(&k);
                return 0;
        }
        vpath = vs_xasprintf("%s/version", k.dir);
        if (vs_read_file(vpath, RELEASE_MAX + 2, &text, &len, err) < 0)
                goto broken;
        text[strcspn(text, "\n")] = '\0';
        if (!release_ok(text)) {
                vs_error_set(err, VS_ERR_SETUP, "%s: not a kernel release", vpath);
                goto broken;
        }
        k.version = vs_xstrdup(text);
        k.kernel = vs_xasprintf("%s/root/boot/vmlinuz-%s", k.dir, k.version);
        k.modules = vs_xasprintf("%s/root/lib/modules/%s", k.dir, k.version);
        if (access(k.modules, F_OK) < 0) {
                free(k.modules);
                k.modules = vs_xasprintf("%s/root/usr/lib/modules/%s", k.dir, k.version);
        }
        dep = vs_xasprintf("%s/modules.dep", k.modules);
        if (access(k.kernel, R_OK) < 0 || access(dep, R_OK) < 0) {
                vs_error_errno(err, VS_ERR_SETUP, errno, "%s or %s", k.kernel, dep);
                goto broken;
        }
        *ret = k;
        return 1;
broken:
        vs_error_prefix(err, "the appliance kernel in %s (run scripts/setup-host again)", k.dir);
        vs_appliance_kernel_clear(&k);
        return -1;
}

/* ---- the parent's side of a phase -------------------------------------- */

static bool fixed_appliance(const char *dir)
{
        static const char *const files[] = { "README.fixed", "kernel", "initrd", "root" };
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        for (size_t i = 0; fd >= 0 && i < sizeof(files) / sizeof(files[0]); i++)
                if (faccessat(fd, files[i], R_OK, 0) < 0)
                        return false;
        return fd >= 0;
}

int vs_disk_phase_begin(vs_disk_phase *p, const char *dir, vs_accel accel, vs_error *err)
{
        const char *app = getenv("VMSANDBOX_APPLIANCE");
        int tmp;

        *p = (vs_disk_phase){ .id = { .lock_fd = -1 }, .dir_fd = -1 };
        app = app && *app ? app : VS_DEFAULT_APPLIANCE;
        p->appliance = fixed_appliance(app) ? app : NULL;
        if (vs_identity_acquire(&p->id, err) < 0)
                return -1;
        /* libguestfs would build its own appliance in a cache the dropped uid
         * could write, and so poison for the next job of that uid: never. */
        if (p->id.drop && !p->appliance) {
                vs_identity_release(&p->id);
                return vs_error_set(err, VS_ERR_SETUP,
                                    "no libguestfs appliance in %s (kernel, initrd, root, README.fixed): run "
                                    "scripts/setup-host",
                                    app);
        }
        p->dir = vs_xstrdup(dir);
        p->tmp = vs_xasprintf("%s/" TMP_NAME, p->dir);
        p->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (p->dir_fd < 0) {
                vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot open %s", dir);
                vs_disk_phase_end(p);
                return -1;
        }
        tmp = vs_identity_mkdir(&p->id, p->dir_fd, TMP_NAME, err);
        if (tmp < 0) {
                vs_disk_phase_end(p);
                return -1;
        }
        close(tmp);
        if (accel == VS_ACCEL_KVM && p->id.drop) {
                struct group gr, *grr = NULL;
                char buf[4096];

                if (getgrnam_r("kvm", &gr, buf, sizeof(buf), &grr) == 0 && grr)
                        p->groups[p->n_groups++] = grr->gr_gid;
        }
        return 0;
}

void vs_disk_phase_end(vs_disk_phase *p)
{
        /* The sweep first: nothing of the uid writes below tmp any more. */
        vs_identity_release(&p->id);
        if (p->dir_fd >= 0) {
                vs_rm_rf_at(p->dir_fd, TMP_NAME);
                close(p->dir_fd);
        }
        p->dir_fd = -1;
        free(p->dir);
        free(p->tmp);
        p->dir = p->tmp = NULL;
}

void vs_disk_phase_appliance(const vs_disk_phase *p, vs_accel accel, const char *job_id, vs_appliance *ret)
{
        *ret = (vs_appliance){ .accel = accel, .job_id = job_id, .tmpdir = p->tmp, .appliance = p->appliance };
}

vs_child_opts vs_disk_phase_child_opts(const vs_disk_phase *p, const vs_bound *b, const int *keep, size_t n_keep)
{
        return (vs_child_opts){ .id = &p->id,
                                .bound = b,
                                .keep_fds = keep,
                                .n_keep = n_keep,
                                .extra_groups = p->groups,
                                .n_extra = p->n_groups };
}

/* A failed phase on a file system that is (nearly) full says so first. */
static void prefix_if_full(const vs_disk_phase *p, vs_error *err)
{
        struct statvfs sv;

        if (err->errno_value == ENOSPC || err->errno_value == EDQUOT)
                return; /* the message says so already */
        if (p->dir_fd >= 0 && fstatvfs(p->dir_fd, &sv) == 0 &&
            (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize < HOST_FULL_BYTES)
                vs_error_prefix(err, "the host file system of %s is full", p->dir);
}

static int wait_child(pid_t pid, int *ret_status)
{
        /* pid comes from a successful posix_spawn: always > 0 here. */
        while (waitpid(pid, ret_status, 0) < 0)
                if (errno != EINTR)
                        return -1;
        return 0;
}

/* libguestfs' disk-create cannot size an overlay beyond its backing file, so
 * qemu-img is run directly (no shell; formats of both layers explicit). */
int vs_disk_create_overlay(const char *path, const char *base, uint64_t size, vs_error *err)
{
        char size_arg[32];
        char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", (char *)base, (char *)path,
                         size_arg, NULL };
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int status, r;

        snprintf(size_arg, sizeof(size_arg), "%llu", (unsigned long long)size);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        r = posix_spawnp(&pid, "qemu-img", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return vs_error_errno(err, VS_ERR_SETUP, r, "cannot run qemu-img (apt-get install qemu-utils)");
        if (wait_child(pid, &status) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "waiting for qemu-img");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return vs_error_set(err, VS_ERR_SANDBOX, "qemu-img could not create the root overlay %s", path);
        /* The guest's root writes land here: owner only (libvirt chowns it to
         * libvirt-qemu for the VM's life). */
        if (chmod(path, 0600) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot chmod %s", path);
        return 0;
}

/* ---- prepare ----------------------------------------------------------- */

/* The workspace goes in as a tar stream made by tar(1) running in the open
 * directory (posix_spawn fchdir to the fd): the directory is never looked up
 * by name again, so a path swapped for a symlink after validation cannot
 * bring /etc or /root into the job.  tar does not follow symlinks below it
 * (no -h).  tar runs as the caller (it reads the caller's files); the
 * dropped child only gets the read end of its pipe, given to its uid (a pipe
 * reopened through /dev/fd is permission-checked like a file). */
static int spawn_workspace_tar(const vs_identity *id, int dir_fd, pid_t *ret_pid, int *ret_fd, vs_error *err)
{
        char *argv[] = { "tar", "--create", "--file=-", "--numeric-owner", ".", NULL };
        posix_spawn_file_actions_t fa;
        int p[2], r;

        if (pipe2(p, O_CLOEXEC) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "copying the workspace in");
        if (id->drop && fchown(p[0], id->uid, id->gid) < 0) {
                r = errno;
                close(p[0]);
                close(p[1]);
                return vs_error_errno(err, VS_ERR_SANDBOX, r, "copying the workspace in");
        }
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
        posix_spawn_file_actions_addfchdir_np(&fa, dir_fd);
        r = posix_spawnp(ret_pid, "tar", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        if (r != 0) {
                close(p[0]);
                return vs_error_errno(err, VS_ERR_SETUP, r, "cannot run tar to copy the workspace in");
        }
        *ret_fd = p[0];
        return 0;
}

/* Child side: copies an open input file into the appliance through a pipe of
 * this uid, fed by a forked copier (the input's fd is readable, a reopen of
 * it would not be).  The copier reads from offset 0 with pread. */
static int feed(guestfs_h *g, int src, const char *remote, bool untar, vs_error *err)
{
        char from[64];
        int p[2], r, status;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "pipe");
        pid = fork();
        if (pid < 0) {
                r = errno;
                close(p[0]);
                close(p[1]);
                return vs_error_errno(err, VS_ERR_SANDBOX, r, "fork");
        }
        if (pid == 0) {
                static char buf[FEED_CHUNK];
                off_t off = 0;
                ssize_t n;

                close(p[0]);
                while ((n = pread(src, buf, sizeof(buf), off)) != 0) {
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                _exit(1);
                        for (ssize_t done = 0; done < n;) {
                                ssize_t w = write(p[1], buf + done, (size_t)(n - done));
                                if (w < 0 && errno == EINTR)
                                        continue;
                                if (w <= 0)
                                        _exit(2);
                                done += w;
                        }
                        off += n;
                }
                _exit(0);
        }
        close(p[1]);
        snprintf(from, sizeof(from), "/dev/fd/%d", p[0]);
        r = untar ? (guestfs_mkdir(g, remote) < 0 || guestfs_tar_in(g, from, remote) < 0)
                  : guestfs_upload(g, from, remote) < 0;
        close(p[0]); /* a copier still writing gets EPIPE and ends */
        status = wait_child(pid, &status) < 0 ? -1 : status;
        if (r)
                return vs_disk_error(g, err, untar ? "unpacking the workspace archive" : "copying an archive in");
        if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return vs_error_set(err, VS_ERR_INPUT, "could not read the input for %s", remote);
        return 0;
}

/* A build's context and FROM images go in as they are: the guest's engine
 * reads them (the host checked the context's names, the store the images). */
static int build_in(guestfs_h *g, const vs_helper_args *a, vs_error *err)
{
        if (feed(g, a->context_fd, "/in/context.tar", false, err) < 0)
                return -1;
        if (guestfs_mkdir(g, "/in/images") < 0)
                return vs_disk_error(g, err, "writing the build's images");
        for (size_t i = 0; i < a->n_build_images; i++) {
                char remote[64];
                snprintf(remote, sizeof(remote), "/in/images/%zu.tar", i);
                if (feed(g, a->build_image_fds[i], remote, false, err) < 0)
                        return -1;
        }
        return 0;
}

/* A container's binds: /binds/N, a directory from its tar pipe (made by
 * tar in the open host directory, as the workspace's) or a file copied. */
static int binds_in(guestfs_h *g, const vs_helper_args *a, vs_error *err)
{
        if (guestfs_mkdir(g, "/binds") < 0)
                return vs_disk_error(g, err, "copying the binds in");
        for (size_t i = 0; i < a->n_binds; i++) {
                char remote[32], from[32];

                snprintf(remote, sizeof(remote), "/binds/%zu", i);
                if (a->bind_files[i]) {
                        if (feed(g, a->bind_fds[i], remote, false, err) < 0)
                                return -1;
                        continue;
                }
                snprintf(from, sizeof(from), "/dev/fd/%d", a->bind_fds[i]);
                if (guestfs_mkdir(g, remote) < 0 || guestfs_tar_in(g, from, remote) < 0)
                        return vs_disk_error(g, err, "copying a bind in");
        }
        return 0;
}

static int prepare_in_appliance(const vs_helper_args *a, const char *spec, size_t spec_len, vs_error *err)
{
        _cleanup_guestfs_ guestfs_h *g = NULL;

        if (handle_new(&a->app, &g, err) < 0)
                return -1;
        if (guestfs_add_drive_opts(g, a->disk, GUESTFS_ADD_DRIVE_OPTS_FORMAT, "raw", -1) < 0 || guestfs_launch(g) < 0)
                return vs_disk_error(g, err, "starting libguestfs");
        if (guestfs_mkfs_opts(g, "ext4", "/dev/sda", GUESTFS_MKFS_OPTS_LABEL, "vmsandbox-job", -1) < 0 ||
            guestfs_mount(g, "/dev/sda", "/") < 0)
                return vs_disk_error(g, err, "formatting the job disk");
        if (guestfs_mkdir(g, "/in") < 0 || guestfs_mkdir(g, "/out") < 0 ||
            guestfs_write(g, "/spec.json", spec, spec_len) < 0)
                return vs_disk_error(g, err, "writing the job spec");
        if (a->image_fd >= 0 && feed(g, a->image_fd, "/in/image.tar", false, err) < 0)
                return -1;
        for (size_t i = 0; i < a->n_preloads; i++) {
                char remote[64];
                snprintf(remote, sizeof(remote), "/in/preload-%zu.tar", i);
                if (feed(g, a->preload_fds[i], remote, false, err) < 0)
                        return -1;
        }
        if (a->ws_pipe >= 0) {
                char from[64];
                snprintf(from, sizeof(from), "/dev/fd/%d", a->ws_pipe);
                if (guestfs_mkdir(g, "/workspace") < 0 || guestfs_tar_in(g, from, "/workspace") < 0)
                        return vs_disk_error(g, err, "copying the workspace in");
        }
        if (a->context_fd >= 0 && build_in(g, a, err) < 0)
                return -1;
        if (a->n_binds && binds_in(g, a, err) < 0)
                return -1;
        /* An uploaded tar is unpacked by the appliance, never on the host. */
        if (a->ws_tar_fd >= 0 && feed(g, a->ws_tar_fd, "/workspace", true, err) < 0)
                return -1;
        if (guestfs_shutdown(g) < 0)
                return vs_disk_error(g, err, "closing the job disk");
        return 0;
}

/* The spec (env values: secrets) comes over the channel, never in argv,
 * which every user can read in /proc. */
static int read_spec(int chan, char **ret, size_t *ret_len, vs_error *err)
{
        _cleanup_free_ char *spec = NULL, *buf = vs_xmalloc(VS_CHAN_MAX);
        size_t used = 0;

        for (;;) {
                char type;
                size_t len;

                if (vs_chan_read(chan, &type, buf, VS_CHAN_MAX, &len) < 0 || type != 'J')
                        return vs_error_set(err, VS_ERR_SANDBOX, "the job spec did not come whole");
                if (len == 0)
                        break;
                if (used + len > VS_HELPER_SPEC_MAX)
                        return vs_error_set(err, VS_ERR_SANDBOX, "the job spec is over %u bytes", VS_HELPER_SPEC_MAX);
                spec = vs_xrealloc(spec, used + len + 1);
                memcpy(spec + used, buf, len);
                used += len;
        }
        *ret = spec ? TAKE_PTR(spec) : vs_xstrdup("");
        *ret_len = used;
        return 0;
}

int vs_disk_prepare_serve(const vs_helper_args *a)
{
        _cleanup_free_ char *spec = NULL;
        vs_error err = { 0 };
        size_t len = 0;

        if (read_spec(a->chan, &spec, &len, &err) < 0 || prepare_in_appliance(a, spec, len, &err) < 0) {
                vs_chan_write_error(a->chan, &err);
                return -1;
        }
        return vs_chan_write(a->chan, 'K', NULL, 0);
}

/* The job disk is allocated up front (fallocate): the guest gets the space
 * it was promised, and a host file system without room fails here, at once,
 * instead of pausing the appliance (or later the VM) on ENOSPC.  File
 * systems without fallocate get a sparse file. */
static int create_disk(const char *path, uint64_t size, vs_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        char a[32];
        int r;

        if (fd < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create the job disk %s", path);
        r = fallocate(fd, 0, 0, (off_t)size);
        if (r < 0 && (errno == EOPNOTSUPP || errno == ENOSYS))
                r = ftruncate(fd, (off_t)size);
        if (r < 0) {
                int e = errno;
                /* Nothing half-made stays (the job directory is root's: the
                 * name is the file just created). */
                unlink(path);
                if (e == ENOSPC || e == EDQUOT)
                        return vs_error_errno(err, VS_ERR_SANDBOX, e,
                                              "the host file system of %s has no room for the %s job disk", path,
                                              vs_format_size(size, a, sizeof(a)));
                return vs_error_errno(err, VS_ERR_SANDBOX, e, "cannot size the job disk %s", path);
        }
        return TAKE_FD(fd);
}

static int open_preloads(char *const *paths, vs_helper_args *a, vs_error *err)
{
        for (size_t i = 0; paths && paths[i]; i++) {
                if (i >= VS_PRELOAD_MAX)
                        return vs_error_set(err, VS_ERR_USAGE, "at most %d preload archives", VS_PRELOAD_MAX);
                a->preload_fds[i] = open(paths[i], O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (a->preload_fds[i] < 0)
                        return vs_error_errno(err, VS_ERR_INPUT, errno, "cannot open %s", paths[i]);
                a->n_preloads = i + 1;
        }
        return 0;
}

/* Sends the spec in frames of at most VS_CHAN_MAX, then an empty one. */
static int send_spec(vs_child *c, const char *spec, vs_error *err)
{
        size_t len = strlen(spec);

        if (len > VS_HELPER_SPEC_MAX)
                return vs_error_set(err, VS_ERR_SANDBOX, "the job spec is over %u bytes", VS_HELPER_SPEC_MAX);
        for (size_t off = 0; off < len; off += VS_CHAN_MAX) {
                size_t n = len - off < VS_CHAN_MAX ? len - off : VS_CHAN_MAX;
                if (vs_child_send(c, 'J', spec + off, n, err) < 0)
                        return -1;
        }
        return vs_child_send(c, 'J', NULL, 0, err);
}

/* Runs the child that fills the disk; 0 when it said so and exited 0. */
static int run_prepare_child(vs_disk_phase *p, const vs_helper_args *a, const char *spec, const vs_bound *b,
                             vs_error *err)
{
        int keep[3 * VS_PRELOAD_MAX + VS_BINDS_MAX + 5];
        size_t n = 0;
        vs_child c;
        char type, msg[1100];
        size_t len;
        int r;

        if (a->image_fd >= 0)
                keep[n++] = a->image_fd;
        if (a->ws_tar_fd >= 0)
                keep[n++] = a->ws_tar_fd;
        if (a->ws_pipe >= 0)
                keep[n++] = a->ws_pipe;
        for (size_t i = 0; i < a->n_preloads; i++)
                keep[n++] = a->preload_fds[i];
        if (a->context_fd >= 0)
                keep[n++] = a->context_fd;
        for (size_t i = 0; i < a->n_build_images; i++)
                keep[n++] = a->build_image_fds[i];
        for (size_t i = 0; i < a->n_binds; i++)
                keep[n++] = a->bind_fds[i];
        vs_child_opts o = vs_disk_phase_child_opts(p, b, keep, n);
        if (vs_helper_start(&c, &o, a, err) < 0)
                return -1;
        r = send_spec(&c, spec, err);
        if (r == 0)
                r = vs_child_recv(&c, &type, msg, sizeof(msg), &len, err);
        if (r == 0 && type == 'X')
                r = vs_child_error(msg, len, err);
        else if (r == 0 && type != 'K')
                r = vs_error_set(err, VS_ERR_SANDBOX, "the prepare child sent an unexpected frame");
        if (r < 0) {
                vs_child_kill(&c);
                return -1;
        }
        return vs_child_end(&c, err);
}

/* While prepare fills it, the disk is writable by the phase's group, which
 * may then hard-link it elsewhere on the file system (protected_hardlinks
 * allows it to a writer): such a link would keep spec.json's secrets past
 * the job.  Checked through the fd after the phase. */
int vs_disk_check_links(int fd, const char *path, vs_error *err)
{
        struct stat st;

        if (fstat(fd, &st) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot stat the job disk %s", path);
        if (st.st_nlink != 1)
                return vs_error_set(err, VS_ERR_SANDBOX,
                                    "the job disk %s has %ju hard links after prepare (a link made by the appliance "
                                    "child?): refusing the job",
                                    path, (uintmax_t)st.st_nlink);
        return 0;
}

/* The tar that fed one directory in: 0 when it read the whole tree.  On
 * failure it is killed first (not reaped yet: still our child). */
static int reap_tar(pid_t tar, bool failed, const char *what, vs_error *err)
{
        int status;

        if (tar <= 0)
                return 0;
        if (failed)
                kill(tar, SIGKILL);
        if (wait_child(tar, &status) < 0)
                status = -1;
        if (!failed && (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0))
                return vs_error_set(err, VS_ERR_INPUT, "tar could not read the whole %s (exit status %d)", what,
                                    status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return 0;
}

int vs_disk_prepare(const char *path, uint64_t size, const vs_job_inputs *in, vs_accel accel, const vs_bound *b,
                    vs_error *err)
{
        _cleanup_free_ char *copy = vs_xstrdup(path);
        _cleanup_close_ int disk = -1;
        vs_helper_args a;
        vs_disk_phase p;
        pid_t tar = -1, bind_tars[VS_BINDS_MAX];
        int r;

        if (in->build && in->build->n_images > VS_PRELOAD_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "a build takes at most %d images", VS_PRELOAD_MAX);
        if (in->n_binds > VS_BINDS_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "at most %d binds", VS_BINDS_MAX);
        if (vs_disk_phase_begin(&p, dirname(copy), accel, err) < 0)
                return -1;
        vs_helper_args_init(&a, VS_HELPER_PREPARE);
        vs_disk_phase_appliance(&p, accel, in->job_id, &a.app);
        a.disk = path;
        a.image_fd = in->image_fd;
        a.ws_tar_fd = in->workspace_tar_fd;
        if (in->build) {
                a.context_fd = in->build->context_fd;
                for (size_t i = 0; i < in->build->n_images; i++)
                        a.build_image_fds[i] = in->build->image_fds[i];
                a.n_build_images = in->build->n_images;
        }
        disk = create_disk(path, size, err);
        /* The job disk will hold spec.json (env values: secrets) and what the
         * workflow writes: the child's group may write it while it fills it,
         * then it is root's, 0600 again (libvirt's dynamic ownership chowns
         * it to libvirt-qemu while the VM runs and back afterwards). */
        r = disk < 0 || vs_identity_share_fd(&p.id, disk, 0660, err) < 0 ? -1 : 0;
        if (r == 0)
                r = open_preloads(in->preloads, &a, err);
        if (r == 0 && in->workspace_fd >= 0)
                r = spawn_workspace_tar(&p.id, in->workspace_fd, &tar, &a.ws_pipe, err);
        /* A directory bind goes in as the workspace does (a tar in its fd); a
         * file as it is (the child reads the fd). */
        for (size_t i = 0; i < in->n_binds; i++) {
                bind_tars[i] = -1;
                a.bind_files[i] = in->bind_files[i];
                a.bind_fds[i] = in->bind_files[i] ? in->bind_fds[i] : -1;
                if (r == 0 && !in->bind_files[i])
                        r = spawn_workspace_tar(&p.id, in->bind_fds[i], &bind_tars[i], &a.bind_fds[i], err);
                a.n_binds = i + 1;
        }
        if (r == 0)
                r = run_prepare_child(&p, &a, in->spec_json, b, err);
        if (r < 0)
                prefix_if_full(&p, err);
        if (a.ws_pipe >= 0)
                close(a.ws_pipe); /* the child's copy is gone: a tar still writing gets EPIPE */
        for (size_t i = 0; i < a.n_binds; i++)
                if (!a.bind_files[i] && a.bind_fds[i] >= 0)
                        close(a.bind_fds[i]);
        if (reap_tar(tar, r < 0, "workspace", err) < 0)
                r = -1;
        for (size_t i = 0; i < a.n_binds; i++)
                if (reap_tar(bind_tars[i], r < 0, "bind", err) < 0)
                        r = -1;
        for (size_t i = 0; i < a.n_preloads; i++)
                close(a.preload_fds[i]);
        if (disk >= 0) {
                vs_error e2;
                if (vs_identity_unshare_fd(&p.id, disk, r < 0 ? &e2 : err) < 0)
                        r = -1;
                if (r == 0)
                        r = vs_disk_check_links(disk, path, err);
        }
        vs_disk_phase_end(&p);
        return r;
}

/* ---- read-only opening (collect's child) --------------------------------- */

int vs_disk_open_ro(const char *path, const vs_appliance *a, guestfs_h **ret, vs_error *err)
{
        _cleanup_guestfs_ guestfs_h *g = NULL;

        if (handle_new(a, &g, err) < 0)
                return -1;
        if (guestfs_add_drive_opts(g, path, GUESTFS_ADD_DRIVE_OPTS_FORMAT, "raw", GUESTFS_ADD_DRIVE_OPTS_READONLY, 1,
                                   -1) < 0 ||
            guestfs_launch(g) < 0)
                return vs_disk_error(g, err, "starting libguestfs");
        if (guestfs_mount_ro(g, "/dev/sda", "/") < 0)
                return vs_disk_error(g, err, "mounting the job disk read-only");
        *ret = TAKE_PTR(g);
        return 0;
}

/* ---- doctor ------------------------------------------------------------ */

int vs_disk_selftest_serve(const vs_helper_args *a)
{
        _cleanup_guestfs_ guestfs_h *g = NULL;
        vs_error err = { 0 };
        int chan = a->chan;
        int r = handle_new(&a->app, &g, &err);

        if (r == 0 && (guestfs_add_drive_scratch(g, 16 << 20, -1) < 0 || guestfs_launch(g) < 0 || guestfs_shutdown(g) < 0))
                r = vs_disk_error(g, &err, "libguestfs appliance");
        if (r < 0) {
                vs_chan_write_error(chan, &err);
                return -1;
        }
        return vs_chan_write(chan, 'K', NULL, 0);
}

int vs_disk_selftest(vs_accel accel, vs_error *err)
{
        char dir[] = "/tmp/vmsandbox-selftest-XXXXXX";
        vs_helper_args a;
        vs_disk_phase p;
        vs_child c;
        char type, msg[1100];
        size_t len;
        int r;

        /* 0711: the dropped child reaches its directory inside by name. */
        if (!mkdtemp(dir) || chmod(dir, 0711) < 0)
                return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot create a directory in /tmp");
        if (vs_disk_phase_begin(&p, dir, accel, err) < 0) {
                rmdir(dir);
                return -1;
        }
        vs_helper_args_init(&a, VS_HELPER_SELFTEST);
        vs_disk_phase_appliance(&p, accel, NULL, &a.app);
        vs_child_opts o = vs_disk_phase_child_opts(&p, NULL, NULL, 0);
        r = vs_helper_start(&c, &o, &a, err);
        if (r == 0) {
                r = vs_child_recv(&c, &type, msg, sizeof(msg), &len, err);
                if (r == 0 && type == 'X')
                        r = vs_child_error(msg, len, err);
                if (r < 0)
                        vs_child_kill(&c);
                else
                        r = vs_child_end(&c, err);
        }
        vs_disk_phase_end(&p);
        rmdir(dir);
        return r;
}
