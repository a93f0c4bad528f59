/* Small file-system helpers for host-side paths the library creates itself.
 * Whole-file reads and atomic writes (io.h) and the clocks (clock.h) are in
 * src/common, shared with the guest agent; included here for the callers. */
#ifndef VS_FSUTIL_H
#define VS_FSUTIL_H

#include "clock.h"
#include "error.h"
#include "io.h"

#include <stddef.h>
#include <stdint.h>

/* Creates path and its missing parents; those it creates get exactly mode
 * (chmod after mkdir: the umask does not apply). */
int vs_mkdir_p(const char *path, unsigned mode, vs_error *err);
/* Removes a tree without following symlinks or crossing mount points, with
 * openat/unlinkat only (no depth limit from PATH_MAX, no recursion); missing
 * is not an error.  -1 with errno set when something could not be removed. */
int vs_rm_rf(const char *path);
/* The same for the entry name in the directory dirfd. */
int vs_rm_rf_at(int dirfd, const char *name);
/* 12 random hex digits. */
int vs_random_id(char id[13], vs_error *err);

#define VS_TREE_MAX_DEPTH 1024
/* Sum of regular file sizes below an open directory (nothing followed);
 * counting stops past max_entries (*ret_entries is then max_entries + 1). */
int vs_tree_size_fd(int dir, uint64_t max_entries, uint64_t *ret_bytes, uint64_t *ret_entries, vs_error *err);

/* Opens path (absolute and starting with root, or relative to root) with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_XDEV) from an fd of root: no symlink, "..", or mount point can
 * lead outside root, whatever is swapped in the tree meanwhile.  flags are
 * open(2) flags (O_CLOEXEC is added).  Returns the fd, or -1 with err set
 * (VS_ERR_FORBIDDEN when the path leaves the root). */
int vs_open_beneath(const char *root, const char *path, int flags, vs_error *err);

#endif
