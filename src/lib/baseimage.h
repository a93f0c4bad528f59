/* The read-only base image a job VM boots from (scripts/build-base-image). */
#ifndef VS_BASEIMAGE_H
#define VS_BASEIMAGE_H

#include "error.h"

#include <jansson.h>
#include <stdint.h>

/* An image the base image's engine has already (build-base-image
 * --preload): jobs may run it without an archive. */
typedef struct {
        char id[72];          /* "sha256:<hex>" */
        char **tags;          /* NULL-terminated */
} vs_preloaded_image;

#define VS_PRELOADED_MAX 256

typedef struct {
        char *dir;            /* the resolved, versioned directory */
        char *root, *kernel, *initrd;
        char *cmdline;
        char *kernel_release;
        uint64_t root_bytes;  /* size of the root filesystem */
        char manifest_sha256[65];
        json_t *manifest;
        vs_preloaded_image *preloaded; /* from manifest.json "preloaded"[].images */
        size_t n_preloaded;
} vs_base_image;

/* Resolves the (symlinked) image directory once, so a rebuild switching the
 * link mid-job does not change what this job uses. */
int vs_base_image_open(const char *path, vs_base_image *ret, vs_error *err);
/* Re-hashes every artifact against manifest.json (slow: reads the image). */
int vs_base_image_verify(const vs_base_image *img, vs_error *err);
void vs_base_image_clear(vs_base_image *img);
/* The preloaded image with this tag (exactly as recorded, "repo:tag") or
 * id ("sha256:<hex>"), or NULL. */
const vs_preloaded_image *vs_base_image_preloaded(const vs_base_image *img, const char *name);

#endif
