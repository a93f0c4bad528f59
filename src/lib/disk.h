/* Job disks through libguestfs.  The host kernel never mounts a disk a guest
 * has written: all reads and writes go through the libguestfs appliance, and
 * every disk is opened with an explicit format (never probed). */
#ifndef VS_DISK_H
#define VS_DISK_H

#include "config.h"
#include "error.h"

#include <guestfs.h>
#include <stdbool.h>
#include <stdint.h>

/* A qcow2 overlay of size bytes on the read-only qcow2 base. */
int vs_disk_create_overlay(const char *path, const char *base, uint64_t size, vs_error *err);

typedef struct {
        const char *job_id;      /* tags the appliance for the job's watchdog; may be NULL */
        const char *spec_json;   /* text of /spec.json */
        const char *image;       /* host path of the archive -> /in/image.tar, or NULL */
        char *const *preloads;   /* archives -> /in/preload-N.tar, or NULL */
        bool workspace;          /* workspace_fd (an open host directory) -> /workspace */
        int workspace_fd;
        const char *workspace_tar; /* or a tar unpacked (inside the appliance) into /workspace */
} vs_job_inputs;

/* Creates a sparse raw job disk of size bytes, makes an ext4 filesystem on it
 * and writes the inputs (see protocol.h for the layout). */
int vs_disk_prepare(const char *path, uint64_t size, const vs_job_inputs *in, vs_accel accel, vs_error *err);

/* Launches an appliance with the job disk attached read-only and mounted at /. */
int vs_disk_open_ro(const char *path, vs_accel accel, const char *job_id, guestfs_h **ret, vs_error *err);

/* Fills err with libguestfs' last error, prefixed by what was being done. */
int vs_disk_error(guestfs_h *g, vs_error *err, const char *what);

void vs_guestfs_closep(guestfs_h **g);
#define _cleanup_guestfs_ __attribute__((cleanup(vs_guestfs_closep)))

/* Launches an appliance on a small scratch disk: proves libguestfs works. */
int vs_disk_selftest(vs_accel accel, vs_error *err);

#endif
