/* Copies results out of a job disk (opened read-only by vs_disk_open_ro) into
 * host directories.  The disk is guest-written and hostile: every name is
 * checked, nothing is followed, every size and count is capped, and files
 * are only ever created below the given host directory (openat, O_NOFOLLOW). */
#ifndef VS_COLLECT_H
#define VS_COLLECT_H

#include "error.h"

#include <guestfs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
        uint64_t max_bytes;     /* total file bytes */
        uint64_t max_entries;   /* files + directories + links */
} vs_collect_limits;

typedef struct {
        uint64_t bytes, files, dirs, links, skipped;
} vs_collect_stats;

/* Reads a small guest file into memory; *ret is NULL when it does not exist. */
int vs_collect_read(guestfs_h *g, const char *remote, size_t max, char **ret, size_t *ret_len, vs_error *err);

/* Copies one regular file to host_path (created, must not exist). *ret_present
 * tells whether the guest had it. */
int vs_collect_file(guestfs_h *g, const char *remote, const char *host_path, uint64_t max, bool *ret_present,
                    vs_error *err);

/* Copies the tree below remote_dir into host_dir (which must exist, empty). */
int vs_collect_tree(guestfs_h *g, const char *remote_dir, const char *host_dir, const vs_collect_limits *lim,
                    vs_collect_stats *ret_stats, vs_error *err);

/* True when a relative path is safe to create below a directory. */
bool vs_collect_name_ok(const char *rel);

#endif
