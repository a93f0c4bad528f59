/* A minimal, bounded tar header reader (ustar, pax, GNU long names/links).
 * It never extracts anything: it walks headers so archives can be checked
 * before they are handed to a guest.
 *
 * What it accepts must mean the same to every extractor that later sees the
 * archive (Go's archive/tar in the guest's docker, GNU tar in libguestfs):
 * constructs that those readers interpret differently are refused rather than
 * guessed at (see the comments in tar.c). */
#ifndef VS_TAR_H
#define VS_TAR_H

#include "error.h"

#include <stdint.h>

#define VS_TAR_NAME_MAX 4096          /* longer names and link targets are refused, never cut */
#define VS_TAR_MAX_ENTRIES 1000000u   /* entries (meta headers included) in one archive */

typedef struct {
        /* Canonical: no leading "./", no empty or "." components, no trailing
         * '/'; a leading '/' is kept (vs_tar_name_unsafe refuses it). */
        char name[VS_TAR_NAME_MAX + 1];
        char linkname[VS_TAR_NAME_MAX + 1]; /* link target as written ('1', '2'), else "" */
        char type;                      /* ustar typeflag; '0' for regular files */
        uint64_t size;
        uint64_t data_offset;           /* absolute offset of the data in the file */
} vs_tar_entry;

typedef struct {
        int fd;
        uint64_t base;     /* where this archive starts in fd */
        uint64_t end;      /* where it ends */
        uint64_t pos;      /* next header, relative to base */
        uint64_t headers;  /* headers read so far */
        uint64_t max_headers; /* VS_TAR_MAX_ENTRIES unless lowered */
} vs_tar_reader;

void vs_tar_reader_init(vs_tar_reader *r, int fd, uint64_t base, uint64_t length);

/* Returns 1 with *e filled, 0 at the end of the archive, -1 on a malformed
 * archive (or one this reader refuses as ambiguous). */
int vs_tar_next(vs_tar_reader *r, vs_tar_entry *e, vs_error *err);

/* True when the name is absolute or has a ".." component. */
int vs_tar_name_unsafe(const char *name);

/* True when the entry's name is unsafe, or it is a hard link whose target is
 * (a hard link names another member of the same archive). */
int vs_tar_entry_unsafe(const vs_tar_entry *e);

/* Rewrites name in place into the canonical form described above. */
void vs_tar_name_canon(char *name);

/* Walks the whole archive and fails on the first unsafe entry; the error
 * quotes the name made printable. */
int vs_tar_check(int fd, uint64_t base, uint64_t length, vs_error *err);

#endif
