#include "baseimage.h"
#include "alloc.h"
#include "cleanup.h"
#include "fsutil.h"
#include "sha256.h"

#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MANIFEST_MAX (1u << 20)
#define BUILD_HINT "build it with: scripts/build-base-image (as root, in the vmsandbox source tree)"

static char *join(const char *dir, const char *name)
{
        char *p = NULL;

        return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

static bool id_ok(const char *id)
{
        return id && strlen(id) == 71 && strncmp(id, "sha256:", 7) == 0 &&
               strspn(id + 7, "0123456789abcdef") == 64;
}

/* "preloaded": [{"file", "sha256", "images": [{"id", "tags": [...]}]}];
 * manifests written before images were recorded have none. */
static int read_preloaded(vs_base_image *img, const char *path, vs_error *err)
{
        json_t *list = json_object_get(img->manifest, "preloaded"), *archive, *images, *e, *tags, *t;
        size_t i, k, m, n;

        if (!list)
                return 0;
        if (!json_is_array(list))
                return vs_error_set(err, VS_ERR_SETUP, "%s: \"preloaded\" is not a list", path);
        json_array_foreach(list, i, archive) {
                images = json_object_get(archive, "images");
                json_array_foreach(images, k, e) {
                        const char *id = json_string_value(json_object_get(e, "id"));
                        vs_preloaded_image *p;

                        tags = json_object_get(e, "tags");
                        if (!id_ok(id) || !json_is_array(tags) || json_array_size(tags) > 256)
                                return vs_error_set(err, VS_ERR_SETUP, "%s: a malformed preloaded image", path);
                        if (img->n_preloaded == VS_PRELOADED_MAX)
                                return vs_error_set(err, VS_ERR_SETUP, "%s: more than %d preloaded images", path,
                                                    VS_PRELOADED_MAX);
                        img->preloaded = vs_xrealloc(img->preloaded, (img->n_preloaded + 1) * sizeof(*img->preloaded));
                        p = &img->preloaded[img->n_preloaded++];
                        snprintf(p->id, sizeof(p->id), "%s", id);
                        p->tags = vs_xcalloc(json_array_size(tags) + 1, sizeof(char *));
                        n = 0;
                        json_array_foreach(tags, m, t) {
                                const char *tag = json_string_value(t);
                                if (!tag || strlen(tag) == 0 || strlen(tag) > 255)
                                        return vs_error_set(err, VS_ERR_SETUP, "%s: a malformed preloaded tag", path);
                                p->tags[n++] = vs_xstrdup(tag);
                        }
                }
        }
        return 0;
}

const vs_preloaded_image *vs_base_image_preloaded(const vs_base_image *img, const char *name)
{
        for (size_t i = 0; i < img->n_preloaded; i++) {
                if (strcmp(img->preloaded[i].id, name) == 0)
                        return &img->preloaded[i];
                for (char **t = img->preloaded[i].tags; *t; t++)
                        if (strcmp(*t, name) == 0)
                                return &img->preloaded[i];
        }
        return NULL;
}

static int read_manifest(vs_base_image *img, vs_error *err)
{
        _cleanup_free_ char *path = join(img->dir, "manifest.json");
        _cleanup_free_ char *text = NULL;
        json_error_t jerr;
        vs_sha256 c;
        size_t len;
        json_int_t mib;

        if (!path)
                return vs_error_errno(err, VS_ERR_SETUP, ENOMEM, "base image");
        if (vs_read_file(path, MANIFEST_MAX, &text, &len, err) < 0)
                return -1;
        vs_sha256_init(&c);
        vs_sha256_update(&c, text, len);
        vs_sha256_final_hex(&c, img->manifest_sha256);
        img->manifest = json_loadb(text, len, 0, &jerr);
        if (!img->manifest)
                return vs_error_set(err, VS_ERR_SETUP, "%s: %s", path, jerr.text);
        if (json_unpack_ex(img->manifest, &jerr, 0, "{s:s, s:I}", "cmdline", &(const char *){ NULL }, "root_fs_mib",
                           &mib) < 0 || mib <= 0)
                return vs_error_set(err, VS_ERR_SETUP, "%s lacks cmdline or root_fs_mib; rebuild the base image", path);
        img->cmdline = strdup(json_string_value(json_object_get(img->manifest, "cmdline")));
        img->root_bytes = (uint64_t)mib << 20;
        if (json_is_string(json_object_get(img->manifest, "kernel_release")))
                img->kernel_release = strdup(json_string_value(json_object_get(img->manifest, "kernel_release")));
        if (!img->cmdline)
                return vs_error_errno(err, VS_ERR_SETUP, ENOMEM, "base image");
        return read_preloaded(img, path, err);
}

int vs_base_image_open(const char *path, vs_base_image *ret, vs_error *err)
{
        vs_base_image img = { 0 };
        char resolved[PATH_MAX];
        char **files[] = { &img.root, &img.kernel, &img.initrd };
        const char *names[] = { "root.qcow2", "vmlinuz", "initrd.img" };

        if (!realpath(path, resolved)) {
                if (errno == ENOENT)
                        return vs_error_set(err, VS_ERR_SETUP, "base image %s is missing; " BUILD_HINT, path);
                return vs_error_errno(err, VS_ERR_SETUP, errno, "base image %s", path);
        }
        img.dir = strdup(resolved);
        if (!img.dir)
                return vs_error_errno(err, VS_ERR_SETUP, ENOMEM, "base image");
        for (size_t i = 0; i < 3; i++) {
                *files[i] = join(img.dir, names[i]);
                if (!*files[i] || access(*files[i], R_OK) < 0) {
                        vs_error_set(err, VS_ERR_SETUP, "base image %s has no readable %s; " BUILD_HINT, path, names[i]);
                        vs_base_image_clear(&img);
                        return -1;
                }
        }
        if (read_manifest(&img, err) < 0) {
                vs_base_image_clear(&img);
                return -1;
        }
        *ret = img;
        return 0;
}

int vs_base_image_verify(const vs_base_image *img, vs_error *err)
{
        json_t *artifacts = json_object_get(img->manifest, "artifacts");
        const char *name;
        json_t *want;

        if (!json_is_object(artifacts) || json_object_size(artifacts) == 0)
                return vs_error_set(err, VS_ERR_SETUP, "manifest.json of %s lists no artifacts", img->dir);
        json_object_foreach(artifacts, name, want) {
                _cleanup_free_ char *path = join(img->dir, name);
                char hex[65];

                if (!path || strchr(name, '/'))
                        return vs_error_set(err, VS_ERR_SETUP, "manifest.json names a bad artifact \"%s\"", name);
                if (vs_sha256_file(path, hex) < 0)
                        return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot hash %s", path);
                if (!json_is_string(want) || strcmp(hex, json_string_value(want)) != 0)
                        return vs_error_set(err, VS_ERR_SETUP, "%s does not match its sha256 in manifest.json", path);
        }
        return 0;
}

void vs_base_image_clear(vs_base_image *img)
{
        free(img->dir);
        free(img->root);
        free(img->kernel);
        free(img->initrd);
        free(img->cmdline);
        free(img->kernel_release);
        json_decref(img->manifest);
        for (size_t i = 0; i < img->n_preloaded; i++) {
                for (char **t = img->preloaded[i].tags; t && *t; t++)
                        free(*t);
                free(img->preloaded[i].tags);
        }
        free(img->preloaded);
        *img = (vs_base_image){ 0 };
}
