#include "disk.h"
#include "cleanup.h"
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>

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

/* The library prints nothing itself: errors are read with guestfs_last_error.
 * The appliance follows the job's acceleration choice. */
static int handle_new(vs_accel accel, const char *job_id, guestfs_h **ret, vs_error *err)
{
        guestfs_h *g = guestfs_create();
        char *tcg[] = { "force_tcg", NULL };
        char tag[64];

        if (!g)
                return vs_error_set(err, VS_ERR_SANDBOX, "cannot create a libguestfs handle");
        guestfs_set_error_handler(g, NULL, NULL);
        /* The tag on the appliance's kernel command line lets the job's
         * watchdog (guard.h) find and kill this appliance at the deadline. */
        if (job_id)
                vs_guard_tag(tag, job_id);
        if (guestfs_set_backend(g, "direct") < 0 || (job_id && guestfs_set_append(g, tag) < 0) ||
            (accel == VS_ACCEL_TCG && guestfs_set_backend_settings(g, tcg) < 0)) {
                vs_disk_error(g, err, "libguestfs set-up");
                guestfs_close(g);
                return -1;
        }
        *ret = g;
        return 0;
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

/* The workspace goes in as a tar stream made by tar(1) running in the open
 * directory (posix_spawn fchdir to the fd): the directory is never looked up
 * by name again, so a path swapped for a symlink after validation cannot
 * bring /etc or /root into the job.  tar does not follow symlinks below it
 * (no -h).  The appliance unpacks the stream (guestfs_tar_in). */
static int inject_workspace(guestfs_h *g, int dir_fd, vs_error *err)
{
        char *argv[] = { "tar", "--create", "--file=-", "--numeric-owner", ".", NULL };
        posix_spawn_file_actions_t fa;
        char from[64];
        int p[2], r, status;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "copying the workspace in");
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
        posix_spawn_file_actions_addfchdir_np(&fa, dir_fd);
        r = posix_spawnp(&pid, "tar", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        if (r != 0) {
                close(p[0]);
                return vs_error_errno(err, VS_ERR_SETUP, r, "cannot run tar to copy the workspace in");
        }
        snprintf(from, sizeof(from), "/dev/fd/%d", p[0]);
        r = guestfs_mkdir(g, "/workspace") < 0 || guestfs_tar_in(g, from, "/workspace") < 0 ? -1 : 0;
        if (r < 0)
                vs_disk_error(g, err, "copying the workspace in");
        close(p[0]); /* a tar still writing gets EPIPE and ends */
        if (wait_child(pid, &status) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "waiting for tar");
        if (r < 0)
                return -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return vs_error_set(err, VS_ERR_INPUT, "tar could not read the whole workspace (exit status %d)",
                                    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return 0;
}

int vs_disk_prepare(const char *path, uint64_t size, const vs_job_inputs *in, vs_accel accel, vs_error *err)
{
        _cleanup_guestfs_ guestfs_h *g = NULL;

        if (handle_new(accel, in->job_id, &g, err) < 0)
                return -1;
        if (guestfs_disk_create(g, path, "raw", (int64_t)size, -1) < 0)
                return vs_disk_error(g, err, "creating the job disk");
        /* The job disk will hold spec.json (env values: secrets) and what the
         * workflow writes: owner only.  libvirt's dynamic ownership chowns it
         * to libvirt-qemu while the VM runs and back afterwards. */
        if (chmod(path, 0600) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot chmod %s", path);
        if (guestfs_add_drive_opts(g, path, GUESTFS_ADD_DRIVE_OPTS_FORMAT, "raw", -1) < 0 || guestfs_launch(g) < 0)
                return vs_disk_error(g, err, "starting libguestfs");
        if (guestfs_mkfs_opts(g, "ext4", "/dev/sda", GUESTFS_MKFS_OPTS_LABEL, "vmsandbox-job", -1) < 0 ||
            guestfs_mount(g, "/dev/sda", "/") < 0)
                return vs_disk_error(g, err, "formatting the job disk");
        if (guestfs_mkdir(g, "/in") < 0 || guestfs_mkdir(g, "/out") < 0 ||
            guestfs_write(g, "/spec.json", in->spec_json, strlen(in->spec_json)) < 0)
                return vs_disk_error(g, err, "writing the job spec");
        if (in->image && guestfs_upload(g, in->image, "/in/image.tar") < 0)
                return vs_disk_error(g, err, "copying the image archive in");
        for (size_t i = 0; in->preloads && in->preloads[i]; i++) {
                char remote[64];
                snprintf(remote, sizeof(remote), "/in/preload-%zu.tar", i);
                if (guestfs_upload(g, in->preloads[i], remote) < 0)
                        return vs_disk_error(g, err, "copying a preload archive in");
        }
        if (in->workspace && inject_workspace(g, in->workspace_fd, err) < 0)
                return -1;
        /* An uploaded tar is unpacked by the appliance, never on the host. */
        if (in->workspace_tar && (guestfs_mkdir(g, "/workspace") < 0 || guestfs_tar_in(g, in->workspace_tar, "/workspace") < 0))
                return vs_disk_error(g, err, "unpacking the workspace archive");
        if (guestfs_shutdown(g) < 0)
                return vs_disk_error(g, err, "closing the job disk");
        return 0;
}

int vs_disk_open_ro(const char *path, vs_accel accel, const char *job_id, guestfs_h **ret, vs_error *err)
{
        _cleanup_guestfs_ guestfs_h *g = NULL;

        if (handle_new(accel, job_id, &g, err) < 0)
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

int vs_disk_selftest(vs_accel accel, vs_error *err)
{
        _cleanup_guestfs_ guestfs_h *g = NULL;

        if (handle_new(accel, NULL, &g, err) < 0)
                return -1;
        if (guestfs_add_drive_scratch(g, 16 << 20, -1) < 0 || guestfs_launch(g) < 0)
                return vs_disk_error(g, err, "libguestfs appliance");
        return guestfs_shutdown(g) < 0 ? vs_disk_error(g, err, "libguestfs appliance") : 0;
}
