/* Writing a collected workspace back over the user's directory. */
#ifndef VS_WORKSPACE_H
#define VS_WORKSPACE_H

#include "error.h"
#include "spec.h"

#include <stdint.h>
#include <sys/stat.h>

typedef struct {
        uint64_t written, deleted, unchanged;
} vs_sync_stats;

/* Makes dst match src: new and changed files are written (via a temp file and
 * rename), entries missing from src are deleted.  Nothing is followed: a
 * symlink in dst is replaced, never written through.  New entries get dst's
 * owner when running as root. */
int vs_workspace_sync(const char *src, const char *dst, vs_sync_stats *ret_stats, vs_error *err);
/* The same into an open directory: dst is never looked up by name again, so
 * a path swapped for a symlink (to /etc, /root) after it was opened changes
 * nothing; below it every step is openat(O_NOFOLLOW). */
int vs_workspace_sync_fd(const char *src, int dst, vs_sync_stats *ret_stats, vs_error *err);

/* A container's bind (spec.h's vs_bind): its host path opened below root
 * (vs_open_beneath: no symlink, "..", or mount point out of it; NULL root:
 * none admits it, VS_ERR_FORBIDDEN), a directory or a regular file (a FIFO
 * does not block the open), and, pinned (dev/ino), the same file as at
 * create.  *ret_bytes: its regular files' bytes; *ret_entries: entries
 * (a file is one), past max_entries counting stops (then max_entries + 1).
 * Errors name the host path.  The fd is the copy-in's and the
 * write-back's: the path is not looked up again. */
int vs_bind_open(const char *root, const vs_bind *b, uint64_t max_entries, int *ret_fd, struct stat *ret_st,
                 uint64_t *ret_bytes, uint64_t *ret_entries, vs_error *err);

/* A collected file (src) written into the open file dst (a rw bind of a
 * file): dst is reopened through its fd for writing, truncated and
 * filled; its name is never looked up. */
int vs_bind_write_file(const char *src, int dst, vs_error *err);

#endif
