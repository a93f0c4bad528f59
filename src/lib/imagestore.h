/* The host image store of the Docker-compatible socket (docs/docker-api.md,
 * "Images"): docker-archive tars, content-addressed and shared between
 * tenants, and an index of the images each tenant has, with their tags.
 *
 *   DIR/blobs/<sha256 of the archive>.tar   0600, written by temp + fsync + rename
 *   DIR/index.json                          0600, replaced atomically
 *
 * Tags are per tenant; an image (its id is the sha256 of its config) is
 * the tenant's as long as the tenant's index entry stays, and a blob is
 * removed when no entry of any tenant refers to it.  A job keeps its image
 * by a hard link of the blob (vs_imgstore_link), so removing the image
 * never pulls it away from a container.
 *
 * Thread-safe (one mutex).  Typed data inside; JSON only in index.json,
 * read back bounded and checked (vs_imgstore_index_parse).  Names follow
 * Docker's reference rules (vs_imgstore_normalize): "repo:tag", "repo"
 * (:latest), "docker.io/library/repo", ids "sha256:<hex>", 64 hex digits,
 * or an unambiguous prefix of the id among the tenant's images. */
#ifndef VS_IMAGESTORE_H
#define VS_IMAGESTORE_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VS_IMAGE_ID_LEN 71            /* "sha256:" + 64 hex */
#define VS_IMAGE_NAME_MAX 255         /* a reference, as Docker bounds it */
#define VS_IMGSTORE_TENANT_MAX 64     /* the service's owner: "docker:TENANT" */
#define VS_IMGSTORE_MAX_IMAGES 4096   /* entries of all tenants */
#define VS_IMGSTORE_MAX_TAGS 256      /* per image */
#define VS_IMGSTORE_INDEX_MAX (64u << 20)
#define VS_IMGSTORE_STR_MAX 8192      /* a string of the config subset */
#define VS_IMGSTORE_LIST_MAX 1024     /* Cmd, Entrypoint, Env, Labels, ExposedPorts, layers */
#define VS_IMGSTORE_EXPORT_MAX 256    /* names in one export */
#define VS_IMGSTORE_TENANT_IMAGES_DEFAULT 1024 /* a quarter of VS_IMGSTORE_MAX_IMAGES */

/* What index.json keeps of an image's config json (Docker's inspect names;
 * the config itself is in the blob).  A NULL list was null or absent. */
typedef struct {
        char *architecture, *os, *created; /* created: RFC 3339 as the config has it, or NULL */
        char *user, *working_dir;          /* NULL: absent */
        char **cmd, **entrypoint, **env;   /* NULL-terminated */
        char **labels;                     /* key, value, key, value, ..., NULL */
        char **exposed_ports;              /* "80/tcp", ... */
        char **diff_ids;                   /* rootfs.diff_ids */
} vs_image_config;

typedef struct {
        char id[VS_IMAGE_ID_LEN + 1];
        char blob[65];                     /* sha256 of the archive that holds it */
        char **tags;                       /* "repo:tag" (Docker's familiar form), NULL-terminated */
        int64_t loaded;                    /* unix seconds when it came into the store (last tag time) */
        uint64_t size;                     /* bytes of its layers in the archive */
        vs_image_config config;
} vs_image;

void vs_image_clear(vs_image *im);
/* The config's Created in unix seconds (0 when it has none). */
int64_t vs_image_created_seconds(const vs_image *im);
void vs_image_list_free(vs_image *v, size_t n);

typedef struct vs_imgstore vs_imgstore;

/* Opens (creating, 0700) the store at dir: reads index.json, removes temp
 * files a crash left and blobs no entry refers to.  A malformed index, or
 * an entry whose blob is not a regular file, fails the open (SETUP). */
int vs_imgstore_open(const char *dir, vs_imgstore **ret, vs_error *err);
void vs_imgstore_free(vs_imgstore *s);

/* One tenant's share of the store, so that no tenant fills it for all: at
 * most images of its images (0: VS_IMGSTORE_TENANT_IMAGES_DEFAULT) and
 * bytes of the blobs they are in (0: an eighth of the store's filesystem,
 * as serve's --owner-state).  A blob counts in full for every tenant that
 * has an image in it.  A load past either is refused before anything
 * changes: LIMIT for the images, NO_SPACE for the bytes. */
void vs_imgstore_set_tenant_quota(vs_imgstore *s, unsigned images, uint64_t bytes);
/* What tenant holds now, as the quota counts it. */
void vs_imgstore_usage(vs_imgstore *s, const char *tenant, unsigned *ret_images, uint64_t *ret_bytes);

/* What a load answers, line by line as `docker load` prints it: one
 * "Loaded image: REF" per tag (ref set), and, only when the archive had no
 * tag at all, "Loaded image ID: ID" per image (ref NULL). */
typedef struct {
        char *ref;
        char id[VS_IMAGE_ID_LEN + 1];
} vs_image_loaded;

void vs_image_loaded_free(vs_image_loaded *v, size_t n);

/* Checks the docker-archive open at fd with vs_archive_inspect_fd, stores
 * its bytes once (an unnamed temp file, st_nlink 0, is linked in, anything
 * else copied and hashed again), and adds each of its images to the
 * tenant's with their RepoTags; a tag that was on another of the tenant's
 * images moves (that image keeps its id, untagged).  INPUT for a bad
 * archive, LIMIT past VS_IMGSTORE_MAX_IMAGES. */
int vs_imgstore_load(vs_imgstore *s, const char *tenant, int fd, vs_image_loaded **ret, size_t *ret_n,
                     vs_error *err);

/* The tenant's image named name (a copy).  INPUT for a malformed name (too
 * long, control characters, "..", not a reference), NOT_FOUND "No such
 * image: NAME" (Docker's words, the name in its familiar form). */
int vs_imgstore_lookup(vs_imgstore *s, const char *tenant, const char *name, vs_image *ret, vs_error *err);

/* Every image of the tenant, newest (config Created, then loaded) first. */
int vs_imgstore_list(vs_imgstore *s, const char *tenant, vs_image **ret, size_t *ret_n, vs_error *err);

/* Tags the tenant's image name as newref ("repo[:tag]", :latest when no
 * tag), moving the tag from another image of the tenant.  INPUT for a
 * newref Docker would refuse (uppercase, a 64-hex repository name, a
 * digest, a bad tag). */
int vs_imgstore_tag(vs_imgstore *s, const char *tenant, const char *name, const char *newref, vs_error *err);

/* Whether a stored container uses an image: 0 no, 1 a stopped container,
 * 2 a running one (ret_container gets its id, NUL-terminated).  Called
 * without the store's lock held (it may take the service's). */
typedef int (*vs_imgstore_in_use_fn)(void *userdata, const char *tenant, const char *image_id,
                                     char ret_container[65]);

/* One line of DELETE /images's answer: exactly one of the two is set. */
typedef struct {
        char *untagged; /* "repo:tag" */
        char *deleted;  /* "sha256:..." */
} vs_image_deleted;

void vs_image_deleted_free(vs_image_deleted *v, size_t n);

/* Docker's rmi: a tag of an image that has others only untags; the last
 * tag, or the image by id, removes the image (and its blob when no entry
 * of any tenant refers to it).  CONFLICT, in Docker's words, for an image
 * that a container uses (unless force; a running container even then),
 * and for an image by id that has tags in several repositories (unless
 * force).  in_use may be NULL (nothing uses images). */
int vs_imgstore_remove(vs_imgstore *s, const char *tenant, const char *name, bool force, vs_imgstore_in_use_fn in_use,
                       void *userdata, vs_image_deleted **ret, size_t *ret_n, vs_error *err);

/* Hard-links the blob of the tenant's image name to dest_path (same
 * filesystem; must not exist), so that a job keeps it whatever rmi does;
 * ret_id gets the image id the job runs it by. */
int vs_imgstore_link(vs_imgstore *s, const char *tenant, const char *name, const char *dest_path,
                     char ret_id[VS_IMAGE_ID_LEN + 1], vs_error *err);

/* Writes a docker-archive in the legacy `docker save` layout to out_fd:
 * <id>.json configs, <dir>/{VERSION,json,layer.tar} per layer,
 * manifest.json and repositories, whatever layout the stored blob has.
 * RepoTags as moby's save names them: a "repo:tag" puts that tag, a bare
 * "repo" every tag of that repository, an id none. */
int vs_imgstore_export(vs_imgstore *s, const char *tenant, const char *const *names, size_t n_names, int out_fd,
                       vs_error *err);

/* About the bytes vs_imgstore_export writes for names (the blobs of the
 * images they name, each once, plus 64 KiB per image for the legacy
 * layout's headers and metadata): what a caller reserves before it writes
 * the export to a temp file (and tops up after, by what it really took).
 * Errors as vs_imgstore_export's. */
int vs_imgstore_export_bytes(vs_imgstore *s, const char *tenant, const char *const *names, size_t n_names,
                             uint64_t *ret, vs_error *err);

/* ---- parts exposed for tests and the fuzz harness ---- */

/* Docker's reference rules: name in its familiar form with a tag
 * ("ubuntu:latest", "quay.io/a/b:1") into ret; *ret_tagged tells whether
 * the name had a tag.  INPUT "invalid reference format" when it is not a
 * reference (a digest "@sha256:" is one, and refused here too). */
int vs_imgstore_normalize(const char *name, char ret[VS_IMAGE_NAME_MAX + 1], bool *ret_tagged, vs_error *err);

/* index.json's text into images and their tenants (parallel arrays);
 * everything bounded and checked.  INPUT with one line on anything else. */
int vs_imgstore_index_parse(const char *text, size_t len, vs_image **ret, char ***ret_tenants, size_t *ret_n,
                            vs_error *err);
/* The other way (malloc'd): what vs_imgstore_open reads back. */
char *vs_imgstore_index_format(const vs_image *v, char *const *tenants, size_t n);

#endif
