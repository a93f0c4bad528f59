/* Byte I/O on file descriptors, shared by the host and the guest agent.
 *
 * Every loop retries EINTR and short transfers, so a signal or a pipe that
 * takes a little at a time never truncates data or makes a caller report an
 * error that did not happen.  Sizes are bounded by the caller. */
#ifndef VS_IO_H
#define VS_IO_H

#include "error.h"

#include <stddef.h>
#include <sys/types.h>

/* Writes all len bytes.  0, or -1 with errno set (a write that moves
 * nothing is EIO: the loop never spins). */
int vs_write_full(int fd, const void *buf, size_t len);

/* Reads until len bytes are in or EOF: the count read (less than len only at
 * EOF), or -1 with errno set. */
ssize_t vs_read_full(int fd, void *buf, size_t len);

/* Reads fd to EOF.  The first max bytes are kept in a NUL-terminated buffer
 * (grown as data comes, at most max + 1 bytes); what comes after is read and
 * dropped, so a child writing into a pipe never blocks on it.  *ret_dropped
 * (may be NULL) counts the dropped bytes.  -1 with errno set on a read
 * error, and the out-parameters are then untouched. */
int vs_read_all(int fd, size_t max, char **ret, size_t *ret_len, size_t *ret_dropped);

/* Reads a whole regular file of at most max bytes (NUL-terminated). */
int vs_read_file(const char *path, size_t max, char **ret, size_t *ret_len, vs_error *err);

/* Writes data to path via a temp file in the same directory, fchmod to
 * exactly mode (the umask does not apply), fsync and rename(2): readers see
 * the old file or the whole new one.  The temp file never remains. */
int vs_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode, vs_error *err);

#endif
