#include "archive.h"
#include "cleanup.h"
#include "sha256.h"
#include "tar.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
        char *name;
        uint64_t offset, size;
        char type;
} member;

typedef struct {
        member *v;
        size_t n;
} member_list;

static void member_list_clear(member_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i].name);
        free(l->v);
        l->v = NULL;
        l->n = 0;
}

static const member *member_find(const member_list *l, const char *name)
{
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->v[i].name, name) == 0)
                        return &l->v[i];
        return NULL;
}

static int member_add(member_list *l, const vs_tar_entry *e, vs_error *err)
{
        member *nv;

        if (l->n >= VS_ARCHIVE_MAX_ENTRIES)
                return vs_error_set(err, VS_ERR_INPUT, "image archive has more than %d members",
                                    VS_ARCHIVE_MAX_ENTRIES);
        nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
        if (!nv)
                return vs_error_errno(err, VS_ERR_INPUT, ENOMEM, "reading image archive");
        l->v = nv;
        l->v[l->n].name = strdup(e->name);
        if (!l->v[l->n].name)
                return vs_error_errno(err, VS_ERR_INPUT, ENOMEM, "reading image archive");
        l->v[l->n].offset = e->data_offset;
        l->v[l->n].size = e->size;
        l->v[l->n].type = e->type;
        l->n++;
        return 0;
}

static int read_member(int fd, const member *m, char **ret, vs_error *err)
{
        _cleanup_free_ char *buf = NULL;
        size_t done = 0;

        if (m->size > VS_ARCHIVE_MAX_JSON)
                return vs_error_set(err, VS_ERR_INPUT, "image archive member %s is too large (%llu bytes)",
                                    m->name, (unsigned long long)m->size);
        buf = malloc(m->size + 1);
        if (!buf)
                return vs_error_errno(err, VS_ERR_INPUT, ENOMEM, "reading %s", m->name);
        while (done < m->size) {
                ssize_t n = pread(fd, buf + done, m->size - done, (off_t)(m->offset + done));
                if (n <= 0)
                        return vs_error_set(err, VS_ERR_INPUT, "cannot read %s from image archive", m->name);
                done += (size_t)n;
        }
        buf[m->size] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

/* Layer tars are walked too: a layer member whose own entries escape with an
 * absolute path or ".." is refused here, before any engine sees it.
 * Compressed layers (allowed in OCI layouts) are left to the guest engine. */
static int check_layer(int fd, const member *m, vs_error *err)
{
        static const unsigned char gzip[2] = { 0x1f, 0x8b }, zstd[4] = { 0x28, 0xb5, 0x2f, 0xfd };
        unsigned char magic[4] = { 0 };
        vs_tar_reader r;
        vs_tar_entry e;
        int k;

        if (m->size >= 4 && pread(fd, magic, 4, (off_t)m->offset) == 4 &&
            (memcmp(magic, gzip, 2) == 0 || memcmp(magic, zstd, 4) == 0))
                return 0;
        vs_tar_reader_init(&r, fd, m->offset, m->size);
        while ((k = vs_tar_next(&r, &e, err)) > 0)
                if (vs_tar_name_unsafe(e.name))
                        return vs_error_set(err, VS_ERR_INPUT, "layer %s has an unsafe entry \"%s\"", m->name,
                                            e.name);
        if (k < 0)
                vs_error_prefix(err, "layer %s", m->name);
        return k;
}

static int config_id(int fd, const member_list *members, const char *config, char id[72], vs_error *err)
{
        _cleanup_free_ char *buf = NULL;
        const member *m = member_find(members, config);
        vs_sha256 c;
        char hex[65];

        if (!m)
                return vs_error_set(err, VS_ERR_INPUT, "manifest.json names config %s, which is not in the archive",
                                    config);
        if (read_member(fd, m, &buf, err) < 0)
                return -1;
        vs_sha256_init(&c);
        vs_sha256_update(&c, buf, m->size);
        vs_sha256_final_hex(&c, hex);
        snprintf(id, 72, "sha256:%s", hex);
        return 0;
}

static int add_image(vs_archive_info *info, const char *ref, const char *id, size_t n_layers, vs_error *err)
{
        vs_archive_image *nv;

        if (info->n_images >= VS_ARCHIVE_MAX_TAGS)
                return vs_error_set(err, VS_ERR_INPUT, "image archive has more than %d tags", VS_ARCHIVE_MAX_TAGS);
        nv = realloc(info->images, (info->n_images + 1) * sizeof(*nv));
        if (!nv)
                return vs_error_errno(err, VS_ERR_INPUT, ENOMEM, "reading manifest.json");
        info->images = nv;
        nv[info->n_images].ref = ref ? strdup(ref) : NULL;
        snprintf(nv[info->n_images].id, sizeof(nv->id), "%s", id);
        nv[info->n_images].n_layers = n_layers;
        info->n_images++;
        return 0;
}

static int check_manifest_entry(int fd, const member_list *members, json_t *entry, vs_archive_info *info,
                                vs_error *err)
{
        json_t *config = json_object_get(entry, "Config");
        json_t *layers = json_object_get(entry, "Layers");
        json_t *tags = json_object_get(entry, "RepoTags");
        json_t *v;
        size_t i;
        char id[72];

        if (!json_is_string(config) || !json_is_array(layers))
                return vs_error_set(err, VS_ERR_INPUT, "manifest.json entry lacks Config or Layers");
        if (config_id(fd, members, json_string_value(config), id, err) < 0)
                return -1;
        json_array_foreach(layers, i, v) {
                const member *m;

                if (!json_is_string(v))
                        return vs_error_set(err, VS_ERR_INPUT, "manifest.json has a non-string layer");
                m = member_find(members, json_string_value(v));
                if (!m)
                        return vs_error_set(err, VS_ERR_INPUT, "manifest.json names layer %s, which is not in the archive",
                                            json_string_value(v));
                if (check_layer(fd, m, err) < 0)
                        return -1;
        }
        if (json_is_array(tags) && json_array_size(tags) > 0) {
                json_array_foreach(tags, i, v) {
                        if (!json_is_string(v))
                                return vs_error_set(err, VS_ERR_INPUT, "manifest.json has a non-string tag");
                        if (add_image(info, json_string_value(v), id, json_array_size(layers), err) < 0)
                                return -1;
                }
                return 0;
        }
        return add_image(info, NULL, id, json_array_size(layers), err);
}

static int check_manifest(int fd, const member_list *members, vs_archive_info *info, vs_error *err)
{
        const member *m = member_find(members, "manifest.json");
        _cleanup_free_ char *text = NULL;
        json_error_t jerr;
        json_t *root, *entry;
        size_t i;
        int r = 0;

        if (!m)
                return vs_error_set(err, VS_ERR_INPUT, "not a docker image archive: no manifest.json (make it with `docker save`)");
        if (read_member(fd, m, &text, err) < 0)
                return -1;
        root = json_loadb(text, m->size, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return vs_error_set(err, VS_ERR_INPUT, "manifest.json is not valid JSON: %s (line %d)", jerr.text, jerr.line);
        if (!json_is_array(root) || json_array_size(root) == 0)
                r = vs_error_set(err, VS_ERR_INPUT, "manifest.json is not a non-empty array");
        json_array_foreach(root, i, entry) {
                if (r < 0)
                        break;
                if (!json_is_object(entry))
                        r = vs_error_set(err, VS_ERR_INPUT, "manifest.json entry %zu is not an object", i);
                else
                        r = check_manifest_entry(fd, members, entry, info, err);
        }
        json_decref(root);
        return r;
}

static int list_members(int fd, uint64_t size, member_list *members, vs_error *err)
{
        vs_tar_reader r;
        vs_tar_entry e;
        int k;

        vs_tar_reader_init(&r, fd, 0, size);
        while ((k = vs_tar_next(&r, &e, err)) > 0) {
                if (vs_tar_name_unsafe(e.name))
                        return vs_error_set(err, VS_ERR_INPUT, "image archive has an unsafe entry \"%s\"", e.name);
                if (member_add(members, &e, err) < 0)
                        return -1;
        }
        return k;
}

int vs_archive_inspect(const char *path, vs_archive_info *ret, vs_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        member_list members = { 0 };
        vs_archive_info info = { 0 };
        struct stat st;
        int r;

        if (fd < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "cannot open image %s", path);
        if (fstat(fd, &st) < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "cannot stat image %s", path);
        if (!S_ISREG(st.st_mode))
                return vs_error_set(err, VS_ERR_INPUT, "image %s is not a regular file", path);
        info.size = (uint64_t)st.st_size;
        r = list_members(fd, info.size, &members, err);
        if (r == 0 && members.n == 0)
                r = vs_error_set(err, VS_ERR_INPUT, "image archive is empty");
        if (r == 0)
                r = check_manifest(fd, &members, &info, err);
        if (r == 0 && vs_sha256_file(path, info.sha256) < 0)
                r = vs_error_errno(err, VS_ERR_INPUT, errno, "cannot hash %s", path);
        member_list_clear(&members);
        if (r < 0) {
                vs_error_prefix(err, "image %s", path);
                vs_archive_info_clear(&info);
                return -1;
        }
        *ret = info;
        return 0;
}

void vs_archive_info_clear(vs_archive_info *info)
{
        for (size_t i = 0; i < info->n_images; i++)
                free(info->images[i].ref);
        free(info->images);
        info->images = NULL;
        info->n_images = 0;
}

static int list_tags(const vs_archive_info *info, char *buf, size_t len)
{
        size_t off = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < info->n_images && off < len; i++)
                off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
                                        info->images[i].ref ? info->images[i].ref : info->images[i].id);
        return 0;
}

int vs_archive_pick(const vs_archive_info *info, const char *want, char **ret_ref, char **ret_id, vs_error *err)
{
        const vs_archive_image *pick = NULL;
        char tags[768];

        list_tags(info, tags, sizeof(tags));
        if (want) {
                for (size_t i = 0; i < info->n_images && !pick; i++)
                        if (info->images[i].ref && strcmp(info->images[i].ref, want) == 0)
                                pick = &info->images[i];
                if (!pick)
                        return vs_error_set(err, VS_ERR_INPUT, "tag %s is not in the image archive (it has: %s)", want,
                                            tags);
        } else {
                if (info->n_images != 1)
                        return vs_error_set(err, VS_ERR_USAGE,
                                            "the image archive has %zu tags; choose one with --tag (%s)",
                                            info->n_images, tags);
                pick = &info->images[0];
        }
        *ret_ref = strdup(pick->ref ? pick->ref : pick->id);
        *ret_id = strdup(pick->id);
        if (!*ret_ref || !*ret_id)
                return vs_error_errno(err, VS_ERR_INPUT, ENOMEM, "picking image");
        return 0;
}
