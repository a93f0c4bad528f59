/* Hand-made tar bytes for the parser tests: every header gets a valid
 * checksum, so a test reaches the code behind the checksum check. */
#ifndef VS_TARWRITER_H
#define VS_TARWRITER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
        TW_USTAR,   /* "ustar\0" "00": the prefix field is used */
        TW_GNU,     /* "ustar  \0": old GNU, no prefix field */
        TW_V7,      /* no magic */
        TW_STAR,    /* "ustar\0" with the "tar\0" trailer of star (131-byte prefix) */
} tw_format;

typedef struct {
        const char *name;      /* up to 100 bytes */
        const char *prefix;    /* ustar prefix, up to 155 bytes */
        const char *linkname;  /* up to 100 bytes */
        char type;             /* typeflag, 0 means '0' */
        uint64_t size;         /* size field (octal) */
        const unsigned char *raw_size; /* 12 bytes put verbatim in the size field */
        tw_format format;
} tw_hdr;

/* Fills the 512-byte header block h (checksum included). */
void tw_header_block(unsigned char h[512], const tw_hdr *hd);
/* Recomputes the checksum of a header block. */
void tw_checksum(unsigned char h[512]);
void tw_header(FILE *f, const tw_hdr *hd);
/* Pads the stream with zeros after a payload of len bytes. */
void tw_pad(FILE *f, size_t len);
/* A meta entry (type 'x', 'g', 'L', 'K') with its payload, padded. */
void tw_meta(FILE *f, char type, const void *payload, size_t len);
/* A file entry of any type with data, padded. */
void tw_entry(FILE *f, const tw_hdr *hd, const void *data, size_t len);

/* Writes len bytes to a new memfd and returns it (for vs_tar_reader). */
int tw_memfd(const void *data, size_t len);

#endif
