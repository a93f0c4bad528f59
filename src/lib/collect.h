/* Copies results out of a job disk into host directories.  The disk is
 * guest-written and hostile; it is read by a libguestfs appliance in an
 * unprivileged child (privdrop.h, collect_child.c), which streams what it
 * finds to this side over a channel of bounded frames.  The child is no more
 * trusted than the guest: every name is checked here, nothing is followed,
 * every size and count is capped here (declared sizes and the bytes that
 * really come), and files are only ever created here, by the caller's
 * identity, below the given host directory (openat, O_NOFOLLOW, O_EXCL). */
#ifndef VS_COLLECT_H
#define VS_COLLECT_H

#include "config.h"
#include "error.h"
#include "privdrop.h"

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

typedef struct vs_collect_src vs_collect_src;

/* Starts the child: its appliance opens the disk read-only.  The bound
 * (may be NULL) holds for every later call. */
int vs_collect_open(const char *disk, vs_accel accel, const char *job_id, const vs_bound *b, vs_collect_src **ret,
                    vs_error *err);
/* The same over any serve function in a child that keeps the caller's
 * identity (tests: a hostile child without an appliance). */
int vs_collect_open_with(vs_child_fn serve, void *arg, const vs_bound *b, vs_collect_src **ret, vs_error *err);
/* Ends the child (it shuts its appliance down) and gives the disk back. */
int vs_collect_close(vs_collect_src *s, vs_error *err);
/* Kills whatever is left; safe on NULL. */
void vs_collect_free(vs_collect_src *s);
#define _cleanup_collect_ __attribute__((cleanup(vs_collect_freep)))
void vs_collect_freep(vs_collect_src **s);

/* Reads a small guest file into memory; *ret is NULL when it does not exist. */
int vs_collect_read(vs_collect_src *s, const char *remote, size_t max, char **ret, size_t *ret_len, vs_error *err);

/* Copies one regular file to host_path (created, must not exist). *ret_present
 * tells whether the guest had it. */
int vs_collect_file(vs_collect_src *s, const char *remote, const char *host_path, uint64_t max, bool *ret_present,
                    vs_error *err);

/* Copies the last max bytes (at most) of a guest log to host_path (created,
 * must not exist), after a one-line note when the log was longer.
 * *ret_total: the guest file's size, 0 when it does not exist. */
int vs_collect_file_tail(vs_collect_src *s, const char *remote, const char *host_path, uint64_t max,
                         uint64_t *ret_total, vs_error *err);

/* Copies the tree below remote_dir into host_dir (which must exist, empty). */
int vs_collect_tree(vs_collect_src *s, const char *remote_dir, const char *host_dir, const vs_collect_limits *lim,
                    vs_collect_stats *ret_stats, vs_error *err);

/* True when a relative path is safe to create below a directory. */
bool vs_collect_name_ok(const char *rel);

/* The child's side (collect_child.c): serves the requests above from an
 * appliance on the disk.  arg is a vs_collect_child_arg. */
typedef struct {
        const char *disk;
        const void *appliance;   /* const vs_appliance * (disk.h) */
} vs_collect_child_arg;
int vs_collect_serve(void *arg, int chan);

/* The channel's frames.  Requests: 'G' get a file (u64 max, path), 'T' a
 * tree (u64 max entries, path), 'Q' quit.  Replies: 'R' ready, 'N' absent,
 * 'S' size (u64) then 'd' data frames and 'E'; in a tree 'D' directory (u32
 * mode, name), 'F' file (u32 mode, u64 size, name) then data and 'E', 'L'
 * link (name, NUL, target), 'O' other (skipped), and 'E' at its end; 'K'
 * quit done; 'X' an error (privdrop.h), anywhere.  Integers big-endian. */
#define VS_COLLECT_NAME_MAX 4096

#endif
