/* Job disks through libguestfs.  The host kernel never mounts a disk a guest
 * has written: all reads and writes go through the libguestfs appliance, and
 * every disk is opened with an explicit format (never probed).
 *
 * Every appliance runs in a child process that dropped root (privdrop.h):
 * the parent shares only the job disk (by group) and a private temporary
 * directory beside it with the child's uid, and the appliance is the fixed
 * one built by scripts/setup-host (readable by any uid). */
#ifndef VS_DISK_H
#define VS_DISK_H

#include "config.h"
#include "error.h"
#include "privdrop.h"

#include <guestfs.h>
#include <stdbool.h>
#include <stdint.h>

#define VS_DEFAULT_APPLIANCE "/var/lib/vmsandbox/appliance"
#define VS_DEFAULT_APPLIANCE_KERNEL "/var/lib/vmsandbox/appliance-kernel"

/* The kernel scripts/setup-host unpacked (dpkg-deb -x, never installed) for
 * libguestfs' appliance when the host's own is not readable in /boot:
 * DIR/version (its release), DIR/root/boot/vmlinuz-RELEASE and
 * DIR/root/{,usr/}lib/modules/RELEASE/modules.dep.  DIR is
 * $VMSANDBOX_APPLIANCE_KERNEL or VS_DEFAULT_APPLIANCE_KERNEL. */
typedef struct {
        char *dir;
        char *kernel;
        char *modules;
        char *version;
} vs_appliance_kernel;

/* 1 and *ret filled when DIR is there and complete, 0 when DIR does not
 * exist, -1 (err names what is wrong) when it is there but broken. */
int vs_appliance_kernel_find(vs_appliance_kernel *ret, vs_error *err);
void vs_appliance_kernel_clear(vs_appliance_kernel *k);
#define VS_PRELOAD_MAX 32

/* A qcow2 overlay of size bytes on the read-only qcow2 base. */
int vs_disk_create_overlay(const char *path, const char *base, uint64_t size, vs_error *err);

/* A build's inputs: the context tar -> /in/context.tar, the FROM images
 * -> /in/images/N.tar (at most VS_PRELOAD_MAX). */
typedef struct {
        int context_fd;
        const int *image_fds;
        size_t n_images;
} vs_build_inputs;

typedef struct {
        const char *job_id;      /* tags the appliance (its kernel command line); may be NULL */
        const char *spec_json;   /* text of /spec.json */
        int image_fd;            /* an open archive -> /in/image.tar, or -1 */
        char *const *preloads;   /* archive paths -> /in/preload-N.tar, or NULL */
        int workspace_fd;        /* an open host directory -> /workspace, or -1 */
        int workspace_tar_fd;    /* or an open tar, unpacked inside the appliance into /workspace, or -1 */
        const int *bind_fds;     /* a container's binds -> /binds/N: an open directory (copied as the */
        const bool *bind_files;  /* workspace is) or, bind_files[N], an open regular file */
        size_t n_binds;
        const vs_build_inputs *build; /* NULL: not a build */
} vs_job_inputs;

/* Creates the raw job disk of size bytes (allocated: a full host file
 * system fails here, not in the appliance), makes an ext4 filesystem on it
 * and writes the inputs (see protocol.h for the layout), in an unprivileged
 * child within the bound (may be NULL). */
/* 0 when the open job disk has exactly one link (checked after prepare). */
int vs_disk_check_links(int fd, const char *path, vs_error *err);
int vs_disk_prepare(const char *path, uint64_t size, const vs_job_inputs *in, vs_accel accel, const vs_bound *b,
                    vs_error *err);

/* What a child needs to start an appliance. */
typedef struct {
        vs_accel accel;
        const char *job_id;      /* may be NULL */
        const char *tmpdir;      /* libguestfs' temporary and cache directory */
        const char *appliance;   /* a fixed appliance directory, or NULL: libguestfs' own */
} vs_appliance;

/* The parent's side of one appliance phase: the identity, the private
 * temporary directory (dir/.appliance), the supplementary group for
 * /dev/kvm, the fixed appliance. */
typedef struct {
        vs_identity id;
        int dir_fd;
        char *dir, *tmp;
        const char *appliance;
        gid_t groups[1];
        size_t n_groups;
} vs_disk_phase;

int vs_disk_phase_begin(vs_disk_phase *p, const char *dir, vs_accel accel, vs_error *err);
/* Removes the temporary directory and gives the identity back; safe twice. */
void vs_disk_phase_end(vs_disk_phase *p);
/* The child's appliance settings and the child options of the phase. */
void vs_disk_phase_appliance(const vs_disk_phase *p, vs_accel accel, const char *job_id, vs_appliance *ret);
vs_child_opts vs_disk_phase_child_opts(const vs_disk_phase *p, const vs_bound *b, const int *keep, size_t n_keep);

/* Child side: launches an appliance with the disk attached read-only and
 * mounted at /. */
int vs_disk_open_ro(const char *path, const vs_appliance *a, guestfs_h **ret, vs_error *err);

/* Fills err with libguestfs' last error, prefixed by what was being done. */
int vs_disk_error(guestfs_h *g, vs_error *err, const char *what);

void vs_guestfs_closep(guestfs_h **g);
#define _cleanup_guestfs_ __attribute__((cleanup(vs_guestfs_closep)))

/* Launches an appliance on a small scratch disk, as a job would (dropped,
 * the fixed appliance): proves libguestfs works. */
int vs_disk_selftest(vs_accel accel, vs_error *err);

#endif
