/* A minimal, bounded tar header reader (ustar, GNU long names, pax path/size).
 * It never extracts anything: it walks headers so archives can be checked
 * before they are handed to a guest. */
#ifndef VS_TAR_H
#define VS_TAR_H

#include "error.h"

#include <stdint.h>

#define VS_TAR_NAME_MAX 4096

typedef struct {
        char name[VS_TAR_NAME_MAX + 1]; /* leading "./" removed */
        char type;                      /* ustar typeflag; '0' for regular files */
        uint64_t size;
        uint64_t data_offset;           /* absolute offset of the data in the file */
} vs_tar_entry;

typedef struct {
        int fd;
        uint64_t base;   /* where this archive starts in fd */
        uint64_t end;    /* where it ends */
        uint64_t pos;    /* next header, relative to base */
} vs_tar_reader;

void vs_tar_reader_init(vs_tar_reader *r, int fd, uint64_t base, uint64_t length);

/* Returns 1 with *e filled, 0 at the end of the archive, -1 on a malformed archive. */
int vs_tar_next(vs_tar_reader *r, vs_tar_entry *e, vs_error *err);

/* True when the name is absolute or has a ".." component. */
int vs_tar_name_unsafe(const char *name);

#endif
