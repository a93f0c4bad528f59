/* Writing a collected workspace back over the user's directory. */
#ifndef VS_WORKSPACE_H
#define VS_WORKSPACE_H

#include "error.h"

#include <stdint.h>

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

#endif
