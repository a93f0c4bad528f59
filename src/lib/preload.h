/* Baking docker-archives into a base image (scripts/build-base-image
 * --preload): the image's own root disk is booted writable once, its engine
 * loads the archives and stops cleanly.  Jobs then find those images (and
 * their layers) already in their engine. */
#ifndef VS_PRELOAD_H
#define VS_PRELOAD_H

#include "config.h"
#include "error.h"
#include "pipeline.h"

typedef struct {
        const char *root;          /* root.qcow2 of an image being built (not yet published) */
        const char *kernel, *initrd, *cmdline;
        char *const *archives;     /* docker-archives, NULL-terminated */
        uint64_t timeout_ms;
        const vs_events *events;   /* may be NULL */
} vs_preload_opts;

int vs_preload(const vs_config *cfg, const vs_preload_opts *o, vs_error *err);

#endif
