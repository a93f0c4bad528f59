/* Checks a `docker save` archive (docker-archive, or OCI layout with the
 * docker manifest.json) before it goes anywhere near a VM. */
#ifndef VS_ARCHIVE_H
#define VS_ARCHIVE_H

#include "error.h"

#include <stddef.h>
#include <stdint.h>

#define VS_ARCHIVE_MAX_ENTRIES 100000     /* outer archive members */
#define VS_ARCHIVE_MAX_JSON (4u << 20)     /* manifest.json, config json */
#define VS_ARCHIVE_MAX_TAGS 256

typedef struct {
        char *ref;          /* "repo:tag" or NULL when untagged */
        char id[72];        /* "sha256:<hex of config json>" */
        size_t n_layers;
} vs_archive_image;

typedef struct {
        char sha256[65];    /* of the whole archive file */
        uint64_t size;
        vs_archive_image *images; /* one per RepoTag (or one untagged) */
        size_t n_images;
} vs_archive_info;

int vs_archive_inspect(const char *path, vs_archive_info *ret, vs_error *err);
/* The same on an open descriptor (label names it in messages): everything,
 * the sha256 included, is read from fd, so a caller that opened the image
 * once can check it and use it without going back to the path. */
int vs_archive_inspect_fd(int fd, const char *label, vs_archive_info *ret, vs_error *err);
void vs_archive_info_clear(vs_archive_info *info);

/* Where an image's config and layers are in a checked archive: the
 * regular-file members that manifest.json names (links followed). */
typedef struct {
        char *name;
        uint64_t offset, size;
} vs_archive_member;

typedef struct {
        char id[72];               /* "sha256:<hex of config json>" */
        char **tags;               /* RepoTags as written, NULL-terminated (empty when untagged) */
        vs_archive_member config;
        vs_archive_member *layers; /* in manifest order */
        size_t n_layers;
} vs_archive_entry;

typedef struct {
        vs_archive_entry *entries; /* one per manifest.json entry */
        size_t n_entries;
} vs_archive_layout;

/* vs_archive_inspect_fd, also returning the layout it checked (the image
 * store copies members from it without walking the archive again). */
int vs_archive_inspect_layout_fd(int fd, const char *label, vs_archive_info *ret, vs_archive_layout *ret_layout,
                                 vs_error *err);
void vs_archive_layout_clear(vs_archive_layout *l);

/* Chooses what to run: the requested tag or image id "sha256:<hex>" (must
 * be in the archive), else the only image.  *ret_ref is "repo:tag" or the image id; *ret_id the image id. */
int vs_archive_pick(const vs_archive_info *info, const char *want, char **ret_ref, char **ret_id,
                    vs_error *err);

#endif
