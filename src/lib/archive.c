#include "archive.h"
#include "alloc.h"
#include "cleanup.h"
#include "jsonload.h"
#include "sha256.h"
#include "tar.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
        char *name;        /* canonical (vs_tar_name_canon) */
        char *linkname;    /* symlink or hard-link target, else NULL */
        uint64_t offset, size;
        char type;
        bool walked;       /* a layer already checked */
        char id[72];       /* a config's image id, once computed */
} member;

typedef struct {
        member *v;
        size_t n, cap;
} member_list;

#define MAX_LINK_HOPS 8
#define MAX_LAYER_REFS 4096 /* layer references in manifest.json, all images */
#define SHOWN_MAX 200       /* bytes of an archive-supplied name in a message */

/* A name from the archive, made printable for an error message (it ends up
 * on terminals and in JSON records). */
static char *shown(const char *s)
{
        return vs_text_for_terminal(s, strlen(s), SHOWN_MAX, NULL);
}

static void member_list_clear(member_list *l)
{
        for (size_t i = 0; i < l->n; i++) {
                free(l->v[i].name);
                free(l->v[i].linkname);
        }
        free(l->v);
        l->v = NULL;
        l->n = l->cap = 0;
}

static int member_cmp(const void *a, const void *b)
{
        return strcmp(((const member *)a)->name, ((const member *)b)->name);
}

/* Members are sorted by name once listed (members_index). */
static member *member_find(const member_list *l, const char *name)
{
        member key = { .name = (char *)name };

        return l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), member_cmp) : NULL;
}

static int member_add(member_list *l, const vs_tar_entry *e, vs_error *err)
{
        member *m;

        if (l->n >= VS_ARCHIVE_MAX_ENTRIES)
                return vs_error_set(err, VS_ERR_INPUT, "image archive has more than %d members",
                                    VS_ARCHIVE_MAX_ENTRIES);
        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 64;
                l->v = vs_xrealloc(l->v, l->cap * sizeof(*l->v));
        }
        m = &l->v[l->n++];
        *m = (member){ .name = vs_xstrdup(e->name), .offset = e->data_offset, .size = e->size, .type = e->type };
        if (e->type == '1' || e->type == '2')
                m->linkname = vs_xstrdup(e->linkname);
        return 0;
}

static bool is_regular(char type)
{
        return type == '0' || type == '7';
}

/* Sorts the members and refuses what would make the checked member differ
 * from the file the guest's `docker load` reads: two members with one name
 * (the extractor keeps the last one) and members below a non-directory (a
 * member written through a symlinked directory lands on another name). */
/* Members of a docker-save or OCI archive are at most three levels deep
 * (blobs/sha256/HEX); the parent check below costs a lookup per level, so
 * the depth is bounded to keep it linear in the archive's size. */
#define MEMBER_DEPTH_MAX 16

static int members_index(member_list *l, vs_error *err)
{
        if (l->n == 0)
                return 0; /* qsort(NULL, 0) is UB (fuzz_archive) */
        qsort(l->v, l->n, sizeof(*l->v), member_cmp);
        for (size_t i = 0; i < l->n; i++) {
                const char *name = l->v[i].name;

                if (i > 0 && strcmp(l->v[i - 1].name, name) == 0) {
                        _cleanup_free_ char *s = shown(name);
                        return vs_error_set(err, VS_ERR_INPUT, "image archive has two members named \"%s\"", s);
                }
                unsigned depth = 0;

                for (const char *slash = strchr(name, '/'); slash; slash = strchr(slash + 1, '/')) {
                        if (++depth > MEMBER_DEPTH_MAX) {
                                _cleanup_free_ char *s = shown(name);
                                return vs_error_set(err, VS_ERR_INPUT,
                                                    "image archive member \"%s\" is more than %d levels deep", s,
                                                    MEMBER_DEPTH_MAX);
                        }
                        _cleanup_free_ char *parent = vs_xstrndup(name, (size_t)(slash - name));
                        const member *p = member_find(l, parent);

                        if (p && p->type != '5') {
                                _cleanup_free_ char *s = shown(name);
                                return vs_error_set(err, VS_ERR_INPUT,
                                                    "image archive member \"%s\" is below a non-directory", s);
                        }
                }
        }
        return 0;
}

/* Where a symlink member points, as an archive name: relative to the link's
 * directory, or from the archive root when absolute (docker load resolves
 * links inside its extraction directory).  NULL when it climbs above the
 * root. */
static char *link_target(const member *m)
{
        _cleanup_free_ char *path = NULL;
        const char *slash = strrchr(m->name, '/');
        char *out, *p;

        if (m->type == '1') /* a hard link names a member */
                path = vs_xstrdup(m->linkname);
        else if (m->linkname[0] == '/' || !slash)
                path = vs_xstrdup(m->linkname);
        else
                path = vs_xasprintf("%.*s/%s", (int)(slash - m->name), m->name, m->linkname);
        vs_tar_name_canon(path);
        /* Resolve ".." lexically; the canonical form has no "." or "//". */
        out = vs_xmalloc(strlen(path) + 1);
        out[0] = '\0';
        p = path + (path[0] == '/');
        while (*p) {
                char *next = strchr(p, '/');
                size_t len = next ? (size_t)(next - p) : strlen(p);

                if (len == 2 && p[0] == '.' && p[1] == '.') {
                        char *cut = strrchr(out, '/');
                        if (!out[0]) {
                                free(out);
                                return NULL;
                        }
                        *(cut ? cut : out) = '\0';
                } else {
                        size_t o = strlen(out);
                        if (o)
                                out[o++] = '/';
                        memcpy(out + o, p, len);
                        out[o + len] = '\0';
                }
                p += len + (next != NULL);
        }
        return out;
}

/* The regular-file member a name stands for, following up to MAX_LINK_HOPS
 * links inside the archive (docker save links a layer that two images share). */
static member *member_resolve(const member_list *l, const char *what, const char *name, vs_error *err)
{
        _cleanup_free_ char *s = shown(name);
        member *m = member_find(l, name);

        if (!m) {
                vs_error_set(err, VS_ERR_INPUT, "manifest.json names %s %s, which is not in the archive", what, s);
                return NULL;
        }
        for (int hops = 0; m->type == '1' || m->type == '2'; hops++) {
                _cleanup_free_ char *target = link_target(m);

                if (hops >= MAX_LINK_HOPS || !target || !(m = member_find(l, target))) {
                        vs_error_set(err, VS_ERR_INPUT, "%s %s is a link to nothing in the archive", what, s);
                        return NULL;
                }
        }
        if (!is_regular(m->type)) {
                vs_error_set(err, VS_ERR_INPUT, "%s %s is not a regular file in the archive", what, s);
                return NULL;
        }
        return m;
}

static int read_member(int fd, const member *m, char **ret, vs_error *err)
{
        _cleanup_free_ char *buf = NULL;
        size_t done = 0;

        if (m->size > VS_ARCHIVE_MAX_JSON) {
                _cleanup_free_ char *s = shown(m->name);
                return vs_error_set(err, VS_ERR_INPUT, "image archive member %s is too large (%llu bytes)", s,
                                    (unsigned long long)m->size);
        }
        buf = vs_xmalloc(m->size + 1);
        while (done < m->size) {
                ssize_t n = pread(fd, buf + done, m->size - done, (off_t)(m->offset + done));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        _cleanup_free_ char *s = shown(m->name);
                        return vs_error_set(err, VS_ERR_INPUT, "cannot read %s from image archive", s);
                }
                done += (size_t)n;
        }
        buf[m->size] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

/* Magic numbers of the compressed layers an engine may accept (Docker's
 * DetectCompression: gzip, bzip2, xz, zstd). */
static bool compressed_magic(int fd, const member *m)
{
        static const struct {
                unsigned char b[6];
                size_t n;
        } magics[] = {
                { { 0x1f, 0x8b }, 2 },
                { { 'B', 'Z', 'h' }, 3 },
                { { 0xfd, '7', 'z', 'X', 'Z', 0x00 }, 6 },
                { { 0x28, 0xb5, 0x2f, 0xfd }, 4 },
        };
        unsigned char head[6] = { 0 };
        ssize_t n = m->size ? pread(fd, head, sizeof(head), (off_t)m->offset) : 0;

        for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
                if (n >= (ssize_t)magics[i].n && memcmp(head, magics[i].b, magics[i].n) == 0)
                        return true;
        return false;
}

/* Layer tars are walked too: a layer whose own entries escape with an
 * absolute path or ".." (names, and hard-link targets) is refused here,
 * before any engine sees it.  Symlinks inside a layer may point anywhere:
 * the guest engine resolves them inside the container's root.
 * Compressed layers (allowed in OCI layouts) cannot be walked on the host
 * and are left to the guest engine, but a compression magic alone does not
 * exempt a layer: an uncompressed tar whose first name starts with those
 * bytes (an engine that does not know that compression reads it as a plain
 * tar) is walked like any other, and only a layer whose very first header
 * is not tar is taken as compressed.  Each layer member is walked once,
 * however often manifest.json names it. */
static int check_layer(int fd, member *m, vs_error *err)
{
        bool compressed;
        vs_tar_reader r;
        vs_tar_entry e;
        int k;

        if (m->walked)
                return 0;
        m->walked = true;
        compressed = compressed_magic(fd, m);
        vs_tar_reader_init(&r, fd, m->offset, m->size);
        while ((k = vs_tar_next(&r, &e, err)) > 0)
                if (vs_tar_entry_unsafe(&e)) {
                        bool link = !vs_tar_name_unsafe(e.name);
                        _cleanup_free_ char *s = shown(m->name), *bad = shown(link ? e.linkname : e.name);

                        return vs_error_set(err, VS_ERR_INPUT, "layer %s has an unsafe entry %s\"%s\"", s,
                                            link ? "(hard link to) " : "", bad);
                }
        if (k < 0 && compressed && r.headers <= 1 && r.pos == 0)
                return 0; /* not a tar from the first byte: compressed */
        if (k < 0) {
                _cleanup_free_ char *s = shown(m->name);
                vs_error_prefix(err, "layer %s", s);
        }
        return k;
}

static int config_id(int fd, member *m, vs_error *err)
{
        _cleanup_free_ char *buf = NULL;
        vs_sha256 c;
        char hex[65];

        if (m->id[0])
                return 0;
        if (read_member(fd, m, &buf, err) < 0)
                return -1;
        vs_sha256_init(&c);
        vs_sha256_update(&c, buf, m->size);
        vs_sha256_final_hex(&c, hex);
        snprintf(m->id, sizeof(m->id), "sha256:%s", hex);
        return 0;
}

static void add_image(vs_archive_info *info, const char *ref, const char *id, size_t n_layers)
{
        vs_archive_image *im;

        info->images = vs_xrealloc(info->images, (info->n_images + 1) * sizeof(*info->images));
        im = &info->images[info->n_images++];
        im->ref = ref ? vs_xstrdup(ref) : NULL;
        snprintf(im->id, sizeof(im->id), "%s", id);
        im->n_layers = n_layers;
}

/* Strings from manifest.json have no NUL: vs_json_load_bounded refuses
 * "\u0000" (json_string_value would cut "a\u0000b" to "a" on the host while
 * the guest engine reads all of it). */
static const char *plain_string(json_t *v)
{
        return json_string_value(v);
}

/* A tag as docker writes it: printable ASCII, no spaces, bounded. */
static bool tag_ok(const char *t)
{
        size_t n = strlen(t);

        if (n == 0 || n > 255)
                return false;
        for (; *t; t++)
                if (*t <= ' ' || *t > '~')
                        return false;
        return true;
}

static int check_tags(json_t *tags, vs_archive_info *info, const char *id, size_t n_layers, vs_error *err)
{
        json_t *v;
        size_t i;

        if (!json_is_array(tags) || json_array_size(tags) == 0) {
                if (info->n_images >= VS_ARCHIVE_MAX_TAGS)
                        return vs_error_set(err, VS_ERR_INPUT, "image archive has more than %d tags", VS_ARCHIVE_MAX_TAGS);
                add_image(info, NULL, id, n_layers);
                return 0;
        }
        json_array_foreach(tags, i, v) {
                const char *t = plain_string(v);

                if (!t || !tag_ok(t))
                        return vs_error_set(err, VS_ERR_INPUT, "manifest.json has an invalid tag");
                if (info->n_images >= VS_ARCHIVE_MAX_TAGS)
                        return vs_error_set(err, VS_ERR_INPUT, "image archive has more than %d tags", VS_ARCHIVE_MAX_TAGS);
                add_image(info, t, id, n_layers);
        }
        return 0;
}

static vs_archive_member layout_member(const member *m)
{
        return (vs_archive_member){ .name = vs_xstrdup(m->name), .offset = m->offset, .size = m->size };
}

/* Records what check_manifest_entry resolved (layout may be NULL). */
static void layout_add(vs_archive_layout *layout, const member *cfg, json_t *tags, member **layers, size_t n)
{
        vs_archive_entry *e;
        json_t *v;
        size_t i, k = 0;

        if (!layout)
                return;
        layout->entries = vs_xrealloc(layout->entries, (layout->n_entries + 1) * sizeof(*layout->entries));
        e = &layout->entries[layout->n_entries++];
        *e = (vs_archive_entry){ .config = layout_member(cfg), .n_layers = n };
        snprintf(e->id, sizeof(e->id), "%s", cfg->id);
        e->tags = vs_xcalloc(json_array_size(tags) + 1, sizeof(*e->tags));
        json_array_foreach(tags, i, v)
                e->tags[k++] = vs_xstrdup(json_string_value(v));
        e->layers = vs_xcalloc(n ? n : 1, sizeof(*e->layers));
        for (i = 0; i < n; i++)
                e->layers[i] = layout_member(layers[i]);
}

static int check_manifest_entry(int fd, const member_list *members, json_t *entry, vs_archive_info *info,
                                size_t *layer_refs, vs_archive_layout *layout, vs_error *err)
{
        _cleanup_free_ member **resolved = NULL;
        json_t *layers = json_object_get(entry, "Layers");
        const char *config = plain_string(json_object_get(entry, "Config"));
        member *cfg;
        json_t *v;
        size_t i;

        if (!config || !json_is_array(layers))
                return vs_error_set(err, VS_ERR_INPUT, "manifest.json entry lacks Config or Layers");
        if (!(cfg = member_resolve(members, "config", config, err)) || config_id(fd, cfg, err) < 0)
                return -1;
        resolved = vs_xcalloc(json_array_size(layers) + 1, sizeof(*resolved));
        json_array_foreach(layers, i, v) {
                const char *name = plain_string(v);
                member *m;

                if (!name)
                        return vs_error_set(err, VS_ERR_INPUT, "manifest.json has a non-string layer");
                if (++*layer_refs > MAX_LAYER_REFS)
                        return vs_error_set(err, VS_ERR_INPUT, "manifest.json names more than %d layers", MAX_LAYER_REFS);
                if (!(m = member_resolve(members, "layer", name, err)) || check_layer(fd, m, err) < 0)
                        return -1;
                resolved[i] = m;
        }
        if (check_tags(json_object_get(entry, "RepoTags"), info, cfg->id, json_array_size(layers), err) < 0)
                return -1;
        layout_add(layout, cfg, json_is_array(json_object_get(entry, "RepoTags")) ? json_object_get(entry, "RepoTags") : NULL,
                   resolved, json_array_size(layers));
        return 0;
}

static int check_manifest(int fd, const member_list *members, vs_archive_info *info, vs_archive_layout *layout,
                          vs_error *err)
{
        const member *m = member_find(members, "manifest.json");
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_t *root = NULL;
        json_t *entry;
        size_t i, layer_refs = 0;

        if (!m)
                return vs_error_set(err, VS_ERR_INPUT, "not a docker image archive: no manifest.json (make it with `docker save`)");
        if (!is_regular(m->type))
                return vs_error_set(err, VS_ERR_INPUT, "manifest.json is not a regular file in the archive");
        if (read_member(fd, m, &text, err) < 0)
                return -1;
        root = vs_json_load_bounded(text, m->size, VS_ARCHIVE_MAX_JSON, VS_JSON_DEPTH_MAX, VS_ERR_INPUT, err);
        if (!root) {
                vs_error_prefix(err, "manifest.json is not valid JSON");
                return -1;
        }
        if (!json_is_array(root) || json_array_size(root) == 0)
                return vs_error_set(err, VS_ERR_INPUT, "manifest.json is not a non-empty array");
        if (json_array_size(root) > VS_ARCHIVE_MAX_TAGS)
                return vs_error_set(err, VS_ERR_INPUT, "manifest.json has more than %d entries", VS_ARCHIVE_MAX_TAGS);
        json_array_foreach(root, i, entry) {
                if (!json_is_object(entry))
                        return vs_error_set(err, VS_ERR_INPUT, "manifest.json entry %zu is not an object", i);
                if (check_manifest_entry(fd, members, entry, info, &layer_refs, layout, err) < 0)
                        return -1;
        }
        return 0;
}

static int list_members(int fd, uint64_t size, member_list *members, vs_error *err)
{
        vs_tar_reader r;
        vs_tar_entry e;
        int k;

        vs_tar_reader_init(&r, fd, 0, size);
        while ((k = vs_tar_next(&r, &e, err)) > 0) {
                if (vs_tar_entry_unsafe(&e)) {
                        bool link = !vs_tar_name_unsafe(e.name);
                        _cleanup_free_ char *bad = shown(link ? e.linkname : e.name);

                        return vs_error_set(err, VS_ERR_INPUT, "image archive has an unsafe entry %s\"%s\"",
                                            link ? "(hard link to) " : "", bad);
                }
                if (member_add(members, &e, err) < 0)
                        return -1;
        }
        return k < 0 ? k : members_index(members, err);
}

/* The hash is taken from the same descriptor and the same bytes that were
 * checked (hashing by path again would let the file change in between). */
static int hash_fd(int fd, uint64_t size, char hex[65], vs_error *err)
{
        static __thread unsigned char buf[1 << 16];
        uint64_t off = 0;
        vs_sha256 c;

        vs_sha256_init(&c);
        while (off < size) {
                size_t want = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
                ssize_t n = pread(fd, buf, want, (off_t)off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return vs_error_errno(err, VS_ERR_INPUT, errno, "cannot hash the archive");
                if (n == 0)
                        return vs_error_set(err, VS_ERR_INPUT, "the archive shrank while it was checked");
                vs_sha256_update(&c, buf, (size_t)n);
                off += (uint64_t)n;
        }
        vs_sha256_final_hex(&c, hex);
        return 0;
}

int vs_archive_inspect_layout_fd(int fd, const char *label, vs_archive_info *ret, vs_archive_layout *ret_layout,
                                 vs_error *err)
{
        member_list members = { 0 };
        vs_archive_info info = { 0 };
        vs_archive_layout layout = { 0 };
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "cannot stat image %s", label);
        if (!S_ISREG(st.st_mode))
                return vs_error_set(err, VS_ERR_INPUT, "image %s is not a regular file", label);
        info.size = (uint64_t)st.st_size;
        r = list_members(fd, info.size, &members, err);
        if (r == 0 && members.n == 0)
                r = vs_error_set(err, VS_ERR_INPUT, "image archive is empty");
        if (r == 0)
                r = check_manifest(fd, &members, &info, ret_layout ? &layout : NULL, err);
        if (r == 0)
                r = hash_fd(fd, info.size, info.sha256, err);
        member_list_clear(&members);
        if (r < 0) {
                vs_error_prefix(err, "image %s", label);
                vs_archive_info_clear(&info);
                vs_archive_layout_clear(&layout);
                return -1;
        }
        *ret = info;
        if (ret_layout)
                *ret_layout = layout;
        return 0;
}

int vs_archive_inspect_fd(int fd, const char *label, vs_archive_info *ret, vs_error *err)
{
        return vs_archive_inspect_layout_fd(fd, label, ret, NULL, err);
}

void vs_archive_layout_clear(vs_archive_layout *l)
{
        for (size_t i = 0; i < l->n_entries; i++) {
                vs_archive_entry *e = &l->entries[i];

                for (char **t = e->tags; t && *t; t++)
                        free(*t);
                free(e->tags);
                free(e->config.name);
                for (size_t k = 0; k < e->n_layers; k++)
                        free(e->layers[k].name);
                free(e->layers);
        }
        free(l->entries);
        l->entries = NULL;
        l->n_entries = 0;
}

int vs_archive_inspect(const char *path, vs_archive_info *ret, vs_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        if (fd < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "cannot open image %s", path);
        return vs_archive_inspect_fd(fd, path, ret, err);
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
        bool by_id = false;
        char tags[768];

        list_tags(info, tags, sizeof(tags));
        if (want) {
                for (size_t i = 0; i < info->n_images && !pick; i++)
                        if (info->images[i].ref && strcmp(info->images[i].ref, want) == 0)
                                pick = &info->images[i];
                /* An image id (a container of the Docker socket runs its image by id). */
                for (size_t i = 0; i < info->n_images && !pick && strncmp(want, "sha256:", 7) == 0; i++)
                        if (strcmp(info->images[i].id, want) == 0) {
                                pick = &info->images[i];
                                by_id = true;
                        }
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
        *ret_ref = vs_xstrdup(pick->ref && !by_id ? pick->ref : pick->id);
        *ret_id = vs_xstrdup(pick->id);
        return 0;
}
