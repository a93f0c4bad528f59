/* SHA-256 (FIPS 180-4), for provenance hashes of archives and base images. */
#ifndef VS_SHA256_H
#define VS_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
        uint32_t h[8];
        uint64_t length;      /* bytes hashed so far */
        uint8_t block[64];
        size_t used;
} vs_sha256;

void vs_sha256_init(vs_sha256 *c);
void vs_sha256_update(vs_sha256 *c, const void *data, size_t len);
/* Writes 64 lowercase hex digits plus NUL into hex. */
void vs_sha256_final_hex(vs_sha256 *c, char hex[65]);

/* Hashes a whole file; returns -1 with errno on failure. */
int vs_sha256_file(const char *path, char hex[65]);

#endif
