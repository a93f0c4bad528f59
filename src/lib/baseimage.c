#include "baseimage.h"
#include "cleanup.h"
#include "fsutil.h"
#include "sha256.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MANIFEST_MAX (1u << 20)
#define BUILD_HINT "build it with: sudo scripts/build-base-image"

static char *join(const char *dir, const char *name)
{
        char *p = NULL;

        return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
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
        return img->cmdline ? 0 : vs_error_errno(err, VS_ERR_SETUP, ENOMEM, "base image");
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
        *img = (vs_base_image){ 0 };
}
