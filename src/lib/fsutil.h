/* Small file-system helpers for host-side paths the library creates itself. */
#ifndef VS_FSUTIL_H
#define VS_FSUTIL_H

#include "error.h"

#include <stddef.h>
#include <stdint.h>

int vs_mkdir_p(const char *path, unsigned mode, vs_error *err);
/* Removes a tree without following symlinks; missing is not an error. */
int vs_rm_rf(const char *path);
/* Writes data to path via a temp file in the same directory and rename(2). */
int vs_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode, vs_error *err);
/* Reads a whole (small) file, at most max bytes. */
int vs_read_file(const char *path, size_t max, char **ret, size_t *ret_len, vs_error *err);
/* 12 random hex digits. */
int vs_random_id(char id[13], vs_error *err);
/* Wall-clock milliseconds since the epoch. */
uint64_t vs_now_ms(void);
/* Sum of regular file sizes below dir (symlinks not followed); -1 on error. */
int vs_tree_size(const char *dir, uint64_t *ret_bytes, uint64_t *ret_entries, vs_error *err);

#endif
