#include "archive.h"
#include "fsutil.h"
#include "sha256.h"
#include "tar.h"
#include "tarwriter.h"
#include "tests.h"

#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

static char dir[] = "/tmp/vs-archive-XXXXXX";

static void setup(void)
{
        ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        ck_assert_int_eq(system(cmd), 0);
        strcpy(dir, "/tmp/vs-archive-XXXXXX");
}

static void expect_error(const char *path, const char *needle)
{
        vs_archive_info info;
        vs_error err = { 0 };

        ck_assert_int_eq(vs_archive_inspect(path, &info, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        ck_assert_msg(strstr(err.msg, needle), "\"%s\" lacks \"%s\"", err.msg, needle);
}

START_TEST(good_archive)
{
        char *p = tw_image(dir, NULL);
        vs_archive_info info;
        vs_error err = { 0 };
        char *ref, *id;

        ck_assert_int_eq(vs_archive_inspect(p, &info, &err), 0);
        ck_assert_uint_eq(info.n_images, 1);
        ck_assert_str_eq(info.images[0].ref, "demo/app:1");
        ck_assert_uint_eq(info.images[0].n_layers, 1);
        ck_assert_int_eq(strncmp(info.images[0].id, "sha256:", 7), 0);
        ck_assert_uint_eq(strlen(info.sha256), 64);
        ck_assert_int_eq(vs_archive_pick(&info, NULL, &ref, &id, &err), 0);
        ck_assert_str_eq(ref, "demo/app:1");
        free(ref);
        free(id);
        ck_assert_int_eq(vs_archive_pick(&info, "demo/other:2", &ref, &id, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "demo/app:1"));
        vs_archive_info_clear(&info);
        free(p);
}
END_TEST

START_TEST(several_tags_need_choice)
{
        tw_image_opts o = { .manifest = "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"a:1\",\"b:2\"],\"Layers\":[\"l1/layer.tar\"]}]" };
        char *p = tw_image(dir, &o);
        vs_archive_info info;
        vs_error err = { 0 };
        char *ref, *id;

        ck_assert_int_eq(vs_archive_inspect(p, &info, &err), 0);
        ck_assert_int_eq(vs_archive_pick(&info, NULL, &ref, &id, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "a:1, b:2"));
        ck_assert_int_eq(vs_archive_pick(&info, "b:2", &ref, &id, &err), 0);
        ck_assert_str_eq(ref, "b:2");
        free(ref);
        free(id);
        vs_archive_info_clear(&info);
        free(p);
}
END_TEST

START_TEST(untagged_runs_by_id)
{
        tw_image_opts o = { .manifest = "[{\"Config\":\"cfg.json\",\"RepoTags\":null,\"Layers\":[\"l1/layer.tar\"]}]" };
        char *p = tw_image(dir, &o);
        vs_archive_info info;
        vs_error err = { 0 };
        char *ref, *id;

        ck_assert_int_eq(vs_archive_inspect(p, &info, &err), 0);
        ck_assert_int_eq(vs_archive_pick(&info, NULL, &ref, &id, &err), 0);
        ck_assert_str_eq(ref, id);
        ck_assert_int_eq(strncmp(ref, "sha256:", 7), 0);
        free(ref);
        free(id);
        vs_archive_info_clear(&info);
        free(p);
}
END_TEST

START_TEST(bad_archives)
{
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/missing.tar", dir);
        expect_error(path, "cannot open");
        snprintf(path, sizeof(path), "%s/text.tar", dir);
        f = fopen(path, "w");
        for (int i = 0; i < 100; i++)
                fputs("this is not a tar archive at all\n", f);
        fclose(f);
        expect_error(path, "not a tar archive");
        snprintf(path, sizeof(path), "%s/nomanifest.tar", dir);
        f = fopen(path, "w");
        tw_file(f, "hello.txt", "hi", 2);
        tw_end(f);
        fclose(f);
        expect_error(path, "no manifest.json");
        snprintf(path, sizeof(path), "%s/empty.tar", dir);
        f = fopen(path, "w");
        tw_end(f);
        fclose(f);
        expect_error(path, "image archive is empty");
        expect_error(dir, "not a regular file");
}
END_TEST

START_TEST(missing_members)
{
        tw_image_opts no_layer = { .omit_layer = 1 };
        tw_image_opts no_config = { .omit_config = 1 };
        tw_image_opts bad_json = { .manifest = "[{\"Config\": " };
        char *p;

        p = tw_image(dir, &no_layer);
        expect_error(p, "names layer l1/layer.tar, which is not in the archive");
        free(p);
        p = tw_image(dir, &no_config);
        expect_error(p, "names config cfg.json");
        free(p);
        p = tw_image(dir, &bad_json);
        expect_error(p, "not valid JSON");
        free(p);
}
END_TEST

START_TEST(unsafe_layer_entries)
{
        tw_image_opts abs = { .layer_entry = "/etc/passwd" };
        tw_image_opts dotdot = { .layer_entry = "usr/../../escape" };
        char *p;

        p = tw_image(dir, &abs);
        expect_error(p, "unsafe entry \"/etc/passwd\"");
        free(p);
        p = tw_image(dir, &dotdot);
        expect_error(p, "unsafe entry \"usr/../../escape\"");
        free(p);
}
END_TEST

START_TEST(truncated)
{
        char *p = tw_image(dir, NULL);

        ck_assert_int_eq(truncate(p, 1000), 0);
        expect_error(p, "truncated");
        free(p);
}
END_TEST

START_TEST(names)
{
        ck_assert(vs_tar_name_unsafe("/abs"));
        ck_assert(vs_tar_name_unsafe(".."));
        ck_assert(vs_tar_name_unsafe("a/../b"));
        ck_assert(vs_tar_name_unsafe("a/.."));
        ck_assert(!vs_tar_name_unsafe("a/..b"));
        ck_assert(!vs_tar_name_unsafe("..a/b"));
        ck_assert(!vs_tar_name_unsafe("a/b/c"));
}
END_TEST

static const char config_json[] = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{}}";

/* A layer tar holding one file named entry. */
static char *make_layer(const char *entry, size_t *ret_len)
{
        char *buf = NULL;
        FILE *f = open_memstream(&buf, ret_len);

        tw_file(f, entry, "hi\n", 3);
        tw_end(f);
        fclose(f);
        return buf;
}

static char *new_path(void)
{
        static int n;
        char *p;

        ck_assert_int_ge(asprintf(&p, "%s/crafted-%d.tar", dir, n++), 0);
        return p;
}

static void put_layer(FILE *f, const char *name, const char *entry)
{
        size_t len;
        char *l = make_layer(entry, &len);

        tw_file(f, name, l, len);
        free(l);
}

static void put_manifest(FILE *f, const char *manifest)
{
        tw_file(f, "manifest.json", manifest, strlen(manifest));
}

#define ONE_LAYER "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"a:1\"],\"Layers\":[\"l1/layer.tar\"]}]"

/* An image archive of exactly members members: the image's three, the rest
 * empty files (512-byte headers: 51 MB at the bound), on a memfd. */
static int archive_of_members(size_t members)
{
        char *buf = NULL, name[32];
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        int fd;

        ck_assert_ptr_nonnull(f);
        tw_file(f, "cfg.json", config_json, strlen(config_json));
        put_layer(f, "l1/layer.tar", "bin/ok");
        for (size_t i = 3; i < members; i++) {
                snprintf(name, sizeof(name), "filler-%06zu", i);
                tw_header(f, &(tw_hdr){ .name = name, .size = 0 });
        }
        put_manifest(f, ONE_LAYER);
        tw_end(f);
        fclose(f);
        fd = tw_memfd(buf, len);
        free(buf);
        ck_assert_int_ge(fd, 0);
        return fd;
}

/* VS_ARCHIVE_MAX_ENTRIES: 100 000 members pass, 100 001 are refused. */
START_TEST(member_count_bounded)
{
        vs_archive_info info;
        vs_error err = { 0 };
        int fd = archive_of_members(VS_ARCHIVE_MAX_ENTRIES);

        ck_assert_msg(vs_archive_inspect_fd(fd, "at-bound.tar", &info, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(info.n_images, 1);
        ck_assert_str_eq(info.images[0].ref, "a:1");
        vs_archive_info_clear(&info);
        close(fd);
        fd = archive_of_members(VS_ARCHIVE_MAX_ENTRIES + 1);
        ck_assert_int_eq(vs_archive_inspect_fd(fd, "over.tar", &info, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        ck_assert_str_eq(err.msg, "image over.tar: image archive has more than 100000 members");
        close(fd);
}
END_TEST

/* Regression: with two members of one name the host checked the first and
 * docker load (which extracts, so the last one wins) used the second. */
START_TEST(duplicate_members_refused)
{
        char *p = new_path();
        FILE *f = fopen(p, "w");

        tw_file(f, "cfg.json", config_json, strlen(config_json));
        put_layer(f, "l1/layer.tar", "bin/ok");
        put_manifest(f, ONE_LAYER);
        put_layer(f, "./l1//layer.tar", "../../etc/cron.d/x");
        tw_end(f);
        fclose(f);
        expect_error(p, "two members named \"l1/layer.tar\"");
        free(p);
}
END_TEST

/* Regression: "l1" a symlink to "l2": the checked member l1/layer.tar is
 * written through the link to l2/layer.tar, which a later unchecked member
 * of that name overwrites. */
START_TEST(member_below_symlink_refused)
{
        char *p = new_path();
        FILE *f = fopen(p, "w");

        tw_file(f, "cfg.json", config_json, strlen(config_json));
        tw_entry(f, &(tw_hdr){ .name = "l1", .type = '2', .linkname = "l2" }, NULL, 0);
        put_layer(f, "l1/layer.tar", "bin/ok");
        tw_dir(f, "l2/");
        put_layer(f, "l2/layer.tar", "../../etc/cron.d/x");
        put_manifest(f, ONE_LAYER);
        tw_end(f);
        fclose(f);
        expect_error(p, "member \"l1/layer.tar\" is below a non-directory");
        free(p);
}
END_TEST

/* docker save links a layer that two images share; the link is followed
 * (it used to be walked as a 0-byte tar and refused), and what it points to
 * is checked. */
START_TEST(linked_layers_followed)
{
        static const char manifest[] =
                "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"a:1\"],\"Layers\":[\"l1/layer.tar\",\"l2/layer.tar\",\"l3/layer.tar\"]}]";
        vs_archive_info info;
        vs_error err = { 0 };
        char *p = new_path();
        FILE *f = fopen(p, "w");

        tw_file(f, "cfg.json", config_json, strlen(config_json));
        tw_dir(f, "l1/");
        put_layer(f, "l1/layer.tar", "bin/ok");
        tw_dir(f, "l2/");
        tw_entry(f, &(tw_hdr){ .name = "l2/layer.tar", .type = '2', .linkname = "../l1/layer.tar" }, NULL, 0);
        tw_dir(f, "l3/");
        tw_entry(f, &(tw_hdr){ .name = "l3/layer.tar", .type = '1', .linkname = "l1/layer.tar" }, NULL, 0);
        put_manifest(f, manifest);
        tw_end(f);
        fclose(f);
        ck_assert_msg(vs_archive_inspect(p, &info, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(info.n_images, 1);
        ck_assert_uint_eq(info.images[0].n_layers, 3);
        vs_archive_info_clear(&info);
        free(p);
}
END_TEST

START_TEST(linked_layer_target_checked)
{
        static const char manifest[] = "[{\"Config\":\"cfg.json\",\"Layers\":[\"l2/layer.tar\"]}]";
        static const char *const escapes[] = { "../../x", "/l9/layer.tar", "nowhere" };
        char *p;
        FILE *f;

        p = new_path();
        f = fopen(p, "w");
        tw_file(f, "cfg.json", config_json, strlen(config_json));
        put_layer(f, "l1/layer.tar", "/etc/passwd");
        tw_entry(f, &(tw_hdr){ .name = "l2/layer.tar", .type = '2', .linkname = "/l1/layer.tar" }, NULL, 0);
        put_manifest(f, manifest);
        tw_end(f);
        fclose(f);
        expect_error(p, "layer l1/layer.tar has an unsafe entry \"/etc/passwd\"");
        free(p);
        for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
                p = new_path();
                f = fopen(p, "w");
                tw_file(f, "cfg.json", config_json, strlen(config_json));
                tw_entry(f, &(tw_hdr){ .name = "l2/layer.tar", .type = '2', .linkname = escapes[i] }, NULL, 0);
                put_manifest(f, manifest);
                tw_end(f);
                fclose(f);
                expect_error(p, "layer l2/layer.tar is a link to nothing in the archive");
                free(p);
        }
}
END_TEST

START_TEST(layer_references_bounded)
{
        size_t n = 4097, cap = n * 16 + 128, off;
        char *manifest = malloc(cap);
        char *p = new_path();
        FILE *f = fopen(p, "w");

        off = (size_t)snprintf(manifest, cap, "[{\"Config\":\"cfg.json\",\"Layers\":[");
        for (size_t i = 0; i < n; i++)
                off += (size_t)snprintf(manifest + off, cap - off, "%s\"l1/layer.tar\"", i ? "," : "");
        snprintf(manifest + off, cap - off, "]}]");
        tw_file(f, "cfg.json", config_json, strlen(config_json));
        put_layer(f, "l1/layer.tar", "bin/ok");
        put_manifest(f, manifest);
        tw_end(f);
        fclose(f);
        expect_error(p, "manifest.json names more than 4096 layers");
        free(manifest);
        free(p);
}
END_TEST

static void manifest_error(const char *manifest, const char *needle)
{
        char *p = new_path();
        FILE *f = fopen(p, "w");

        tw_file(f, "cfg.json", config_json, strlen(config_json));
        put_layer(f, "l1/layer.tar", "bin/ok");
        put_manifest(f, manifest);
        tw_end(f);
        fclose(f);
        expect_error(p, needle);
        free(p);
}

/* Regression: tags with spaces or escape sequences reached terminals and
 * `docker run`; a deep manifest went to jansson unbounded.  ("\u0000" was
 * and is refused by the loader.) */
START_TEST(manifest_strings_and_depth)
{
        char deep[256];
        size_t off;

        manifest_error("[{\"Config\":\"cfg.json\",\"Layers\":[\"l1/layer.tar\\u0000x\"]}]",
                       "\\u0000 is not allowed");
        manifest_error("[{\"Config\":\"cfg.json\",\"Layers\":[\"l1/layer.tar\",7]}]",
                       "manifest.json has a non-string layer");
        manifest_error("[{\"Config\":\"cfg.json\",\"RepoTags\":[\"a b:1\"],\"Layers\":[\"l1/layer.tar\"]}]",
                       "manifest.json has an invalid tag");
        manifest_error("[{\"Config\":\"cfg.json\",\"RepoTags\":[\"\\u001b[2Ja:1\"],\"Layers\":[\"l1/layer.tar\"]}]",
                       "manifest.json has an invalid tag");
        manifest_error("[{\"Config\":\"cfg.json\",\"Layers\":[\"l1/layer.tar\"],\"Config\":\"x\"}]", "not valid JSON");
        off = (size_t)snprintf(deep, sizeof(deep), "[{\"Config\":\"cfg.json\",\"Layers\":[\"l1/layer.tar\"],\"X\":");
        for (int i = 0; i < 40; i++)
                deep[off++] = '[';
        for (int i = 0; i < 40; i++)
                deep[off++] = ']';
        snprintf(deep + off, sizeof(deep) - off, "}]");
        manifest_error(deep, "nested deeper than 32 levels");
}
END_TEST

START_TEST(unsafe_names_shown_printable)
{
        tw_image_opts esc = { .layer_entry = "\x1b[2J/../x" };
        char *p = tw_image(dir, &esc);

        expect_error(p, "layer l1/layer.tar has an unsafe entry \"?[2J/../x\"");
        free(p);
}
END_TEST

/* Checked and hashed through one descriptor: the path may be gone. */
START_TEST(inspect_by_fd)
{
        char *p = tw_image(dir, NULL);
        vs_archive_info by_path, by_fd;
        vs_error err = { 0 };
        int fd = open(p, O_RDONLY | O_CLOEXEC);

        char want[65];

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(vs_sha256_file(p, want), 0);
        ck_assert_int_eq(vs_archive_inspect(p, &by_path, &err), 0);
        ck_assert_str_eq(by_path.sha256, want);
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_msg(vs_archive_inspect_fd(fd, "upload", &by_fd, &err) == 0, "%s", err.msg);
        ck_assert_str_eq(by_fd.sha256, by_path.sha256);
        ck_assert_uint_eq(by_fd.size, by_path.size);
        ck_assert_str_eq(by_fd.images[0].id, by_path.images[0].id);
        vs_archive_info_clear(&by_path);
        vs_archive_info_clear(&by_fd);
        close(fd);
        free(p);
}
END_TEST

static char *image_with_layer(const void *layer, size_t len)
{
        char *p = new_path();
        FILE *f = fopen(p, "w");

        tw_file(f, "cfg.json", config_json, strlen(config_json));
        tw_file(f, "l1/layer.tar", layer, len);
        put_manifest(f, ONE_LAYER);
        tw_end(f);
        fclose(f);
        return p;
}

/* Regression: a layer was taken as compressed (and not walked) when it began
 * with 1f 8b or 28 b5 2f fd; an uncompressed tar whose first name begins
 * with those bytes went unchecked, and an engine that does not detect that
 * compression (Docker only takes 1f 8b 08 as gzip) extracts it as a tar. */
START_TEST(compression_magic_does_not_exempt_a_tar)
{
        static const char *const firsts[] = { "\x1f\x8b" "evil", "\x1f\x8b\x08" "evil", "\x28\xb5\x2f\xfd" "evil",
                                              "BZh9" "evil" };

        for (size_t i = 0; i < sizeof(firsts) / sizeof(firsts[0]); i++) {
                char *layer = NULL, *p;
                size_t len = 0;
                FILE *f = open_memstream(&layer, &len);

                tw_file(f, firsts[i], "x", 1);
                tw_file(f, "../../etc/cron.d/x", "x", 1);
                tw_end(f);
                fclose(f);
                p = image_with_layer(layer, len);
                expect_error(p, "layer l1/layer.tar has an unsafe entry \"../../etc/cron.d/x\"");
                free(p);
                free(layer);
        }
}
END_TEST

START_TEST(compressed_layers_left_to_the_guest)
{
        unsigned char gz[700], zst[40];
        vs_archive_info info;
        vs_error err = { 0 };
        char *p;

        for (size_t i = 0; i < sizeof(gz); i++)
                gz[i] = (unsigned char)(i * 37 + 11);
        memcpy(gz, "\x1f\x8b\x08\x00", 4);
        p = image_with_layer(gz, sizeof(gz));
        ck_assert_msg(vs_archive_inspect(p, &info, &err) == 0, "%s", err.msg);
        vs_archive_info_clear(&info);
        free(p);
        memset(zst, 0, sizeof(zst));
        memcpy(zst, "\x28\xb5\x2f\xfd", 4);
        p = image_with_layer(zst, sizeof(zst));
        ck_assert_msg(vs_archive_inspect(p, &info, &err) == 0, "%s", err.msg);
        vs_archive_info_clear(&info);
        free(p);
        memcpy(gz, "\x1e\x8b\x08\x00", 4); /* no magic: must be a tar */
        p = image_with_layer(gz, sizeof(gz));
        expect_error(p, "layer l1/layer.tar: not a tar archive (bad header checksum)");
        free(p);
}
END_TEST

/* A member 17 directories deep is refused (the parent check costs a lookup
 * per level: 4000-byte names of "a/a/..." made it quadratic); 16 is fine. */
START_TEST(member_depth_bounded)
{
        char *p = new_path(), deep[64] = "", name[80];
        FILE *f = fopen(p, "w");

        for (int i = 0; i < 16; i++)
                strcat(deep, "d/");
        snprintf(name, sizeof(name), "%sok", deep);
        tw_file(f, "cfg.json", config_json, strlen(config_json));
        tw_file(f, name, "x", 1);
        snprintf(name, sizeof(name), "%sd/deep", deep);
        tw_file(f, name, "x", 1);
        put_layer(f, "l1/layer.tar", "bin/ok");
        put_manifest(f, ONE_LAYER);
        tw_end(f);
        fclose(f);
        expect_error(p, "d/d/deep\" is more than 16 levels deep");
        free(p);
}
END_TEST

/* Symlinks between members are followed at most 8 hops (MAX_LINK_HOPS): a
 * chain of 8 resolves, one of 9 names nothing; so does a link that climbs
 * above the archive root, even to a name that exists. */
START_TEST(link_chains_bounded)
{
        for (int len = 8; len <= 9; len++) {
                char manifest[128], name[32], target[32];
                char *p = new_path();
                FILE *f = fopen(p, "w");
                vs_archive_info info;
                vs_error err = { 0 };

                tw_file(f, "cfg.json", config_json, strlen(config_json));
                put_layer(f, "l0/layer.tar", "bin/ok");
                for (int i = 1; i <= len; i++) {
                        snprintf(name, sizeof(name), "l%d/layer.tar", i);
                        snprintf(target, sizeof(target), "../l%d/layer.tar", i - 1);
                        tw_entry(f, &(tw_hdr){ .name = name, .type = '2', .linkname = target }, NULL, 0);
                }
                snprintf(manifest, sizeof(manifest), "[{\"Config\":\"cfg.json\",\"Layers\":[\"l%d/layer.tar\"]}]", len);
                put_manifest(f, manifest);
                tw_end(f);
                fclose(f);
                if (len == 8) {
                        ck_assert_msg(vs_archive_inspect(p, &info, &err) == 0, "%s", err.msg);
                        ck_assert_uint_eq(info.images[0].n_layers, 1);
                        vs_archive_info_clear(&info);
                } else {
                        expect_error(p, "layer l9/layer.tar is a link to nothing in the archive");
                }
                free(p);
        }
}
END_TEST

START_TEST(link_above_root_names_nothing)
{
        static const char manifest[] = "[{\"Config\":\"cfg.json\",\"Layers\":[\"l2/layer.tar\"]}]";
        char *p = new_path();
        FILE *f = fopen(p, "w");

        tw_file(f, "cfg.json", config_json, strlen(config_json));
        put_layer(f, "l1/layer.tar", "bin/ok");
        tw_entry(f, &(tw_hdr){ .name = "l2/layer.tar", .type = '2', .linkname = "../../l1/layer.tar" }, NULL, 0);
        put_manifest(f, manifest);
        tw_end(f);
        fclose(f);
        expect_error(p, "layer l2/layer.tar is a link to nothing in the archive");
        free(p);
}
END_TEST

/* manifest.json and configs are read whole, so their size is bounded
 * (VS_ARCHIVE_MAX_JSON, 4 MiB). */
START_TEST(manifest_size_bounded)
{
        size_t n = (4u << 20) + 1;
        char *big = malloc(n + 1);
        static const char head[] = "[{\"Config\":\"cfg.json\",\"Layers\":[\"l1/layer.tar\"]}]";

        memset(big, ' ', n);
        memcpy(big, head, strlen(head));
        big[n] = '\0';
        manifest_error(big, "image archive member manifest.json is too large (4194305 bytes)");
        free(big);
}
END_TEST

/* A layer that starts as a tar (its first name merely begins with a gzip
 * magic) and then breaks is a broken tar, not a compressed layer. */
START_TEST(tar_with_magic_name_then_garbage_refused)
{
        unsigned char junk[512];
        char *layer = NULL, *p;
        size_t len = 0;
        FILE *f = open_memstream(&layer, &len);

        memset(junk, 'A', sizeof(junk));
        tw_file(f, "\x1f\x8b\x08" "evil", "x", 1);
        fwrite(junk, 1, sizeof(junk), f);
        tw_end(f);
        fclose(f);
        p = image_with_layer(layer, len);
        expect_error(p, "layer l1/layer.tar: corrupt tar archive (bad header checksum)");
        free(p);
        free(layer);
}
END_TEST

/* Tags up to 255 bytes; at most 256 manifest entries (256 images). */
START_TEST(tag_and_entry_bounds)
{
        char tag[300], manifest[512], *many, *p;
        size_t cap = 300 * 64, off;
        vs_archive_info info;
        vs_error err = { 0 };
        FILE *f;

        memset(tag, 'a', 253);
        memcpy(tag + 253, ":1", 3);
        snprintf(manifest, sizeof(manifest), "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"%s\"],\"Layers\":[\"l1/layer.tar\"]}]", tag);
        p = new_path();
        f = fopen(p, "w");
        tw_file(f, "cfg.json", config_json, strlen(config_json));
        put_layer(f, "l1/layer.tar", "bin/ok");
        put_manifest(f, manifest);
        tw_end(f);
        fclose(f);
        ck_assert_msg(vs_archive_inspect(p, &info, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(strlen(info.images[0].ref), 255);
        vs_archive_info_clear(&info);
        free(p);
        memset(tag, 'a', 254);
        memcpy(tag + 254, ":1", 3);
        snprintf(manifest, sizeof(manifest), "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"%s\"],\"Layers\":[\"l1/layer.tar\"]}]", tag);
        manifest_error(manifest, "manifest.json has an invalid tag");

        many = malloc(cap);
        for (int n = 256; n <= 257; n++) {
                off = (size_t)snprintf(many, cap, "[");
                for (int i = 0; i < n; i++)
                        off += (size_t)snprintf(many + off, cap - off, "%s{\"Config\":\"cfg.json\",\"Layers\":[\"l1/layer.tar\"]}",
                                                i ? "," : "");
                snprintf(many + off, cap - off, "]");
                if (n == 257) {
                        manifest_error(many, "manifest.json has more than 256 entries");
                        break;
                }
                p = new_path();
                f = fopen(p, "w");
                tw_file(f, "cfg.json", config_json, strlen(config_json));
                put_layer(f, "l1/layer.tar", "bin/ok");
                put_manifest(f, many);
                tw_end(f);
                fclose(f);
                ck_assert_msg(vs_archive_inspect(p, &info, &err) == 0, "%s", err.msg);
                ck_assert_uint_eq(info.n_images, 256);
                vs_archive_info_clear(&info);
                free(p);
        }
        free(many);
}
END_TEST

/* What manifest.json names must be a regular file (or a link to one). */
START_TEST(named_members_must_be_files)
{
        char *p = new_path();
        FILE *f = fopen(p, "w");

        tw_file(f, "cfg.json", config_json, strlen(config_json));
        tw_dir(f, "l1/");
        put_manifest(f, "[{\"Config\":\"cfg.json\",\"Layers\":[\"l1\"]}]");
        tw_end(f);
        fclose(f);
        expect_error(p, "layer l1 is not a regular file in the archive");
        free(p);
}
END_TEST

/* ---- tar.c bounds that the archive check relies on -------------------------- */

/* The first vs_tar_next result on the bytes (len of them), err filled. */
static int first_entry(const void *bytes, size_t len, vs_tar_entry *e, vs_error *err)
{
        vs_tar_reader r;
        int fd = tw_memfd(bytes, len), k;

        vs_tar_reader_init(&r, fd, 0, len);
        k = vs_tar_next(&r, e, err);
        close(fd);
        return k;
}

/* An entry whose data fits but whose padding to 512 bytes does not is
 * truncated: refused at that entry, not after it. */
START_TEST(tar_padding_must_fit)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        vs_tar_entry e;
        vs_error err = { 0 };

        tw_header(f, &(tw_hdr){ .name = "f", .size = 3 });
        fwrite("abc", 1, 3, f);
        fclose(f);
        ck_assert_int_eq(first_entry(buf, len, &e, &err), -1);
        ck_assert_str_eq(err.msg, "truncated tar archive");
        /* the data and all but one byte of its padding */
        char *padded = calloc(1, 512 + 511);
        ck_assert_ptr_nonnull(padded);
        memcpy(padded, buf, len);
        ck_assert_int_eq(first_entry(padded, 512 + 511, &e, &err), -1);
        ck_assert_str_eq(err.msg, "truncated tar archive");
        free(padded);
        free(buf);
}
END_TEST

/* One pax or GNU long-name payload is at most 1 MiB; a GNU long name or
 * link must not be empty (Go ignores it, GNU tar uses it). */
START_TEST(tar_meta_bounds)
{
        size_t big = (1u << 20) + 1;
        char *payload = calloc(1, big), *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        vs_tar_entry e;
        vs_error err = { 0 };

        memset(payload, 'a', big - 1);
        tw_meta(f, 'L', payload, big);
        tw_file(f, "f", "x", 1);
        tw_end(f);
        fclose(f);
        ck_assert_int_eq(first_entry(buf, len, &e, &err), -1);
        ck_assert_str_eq(err.msg, "tar extended header too large (1048577 bytes)");
        free(buf);
        free(payload);
        for (char type = 'K'; type; type = type == 'K' ? 'L' : 0) {
                buf = NULL;
                f = open_memstream(&buf, &len);
                tw_meta(f, type, "\0", 1);
                tw_entry(f, &(tw_hdr){ .name = "f", .type = '2', .linkname = "t" }, NULL, 0);
                tw_end(f);
                fclose(f);
                ck_assert_int_eq(first_entry(buf, len, &e, &err), -1);
                ck_assert_str_eq(err.msg, type == 'L' ? "empty GNU long name" : "empty GNU long link");
                free(buf);
        }
}
END_TEST

/* Real archives (tests/fixtures, scripts/make-fixtures): what Docker 20.10's
 * `docker save` and skopeo's OCI layouts actually write is accepted, with
 * the exact tag, image id, layer count, size and hash. */
typedef struct {
        const char *file, *ref, *id, *sha256;
        uint64_t size;
        const char *layer; /* the layer member; walked unless compressed */
        int compressed;
} real_archive;

static const real_archive reals[] = {
        { "docker-20.10.tar", "vmsandbox-fixture/hello:20.10",
          "sha256:c732da56c260e5906dfe7641ccf58531957b5fa521395ae360b19fb0a7637f77",
          "d8abbb204ae8f4e69862528f378a5f8281f198c867f702f07628ae8f4d89abfb", 17920,
          "6323cee86db34da0fd548ada7a0562c46d0473dcdb74dc3e658a389c98cff348/layer.tar", 0 },
        { "oci-layout.tar", "vmsandbox-fixture/hello:oci",
          "sha256:72cbb8094008ea35d34f9daf7b9cd7c0246cbffe6dec846e6e7bb26f90536139",
          "a5eb2190af183b89900f57a5a6a5a28f478c82e7f8237f5f3b3f76b8df5103c8", 20480,
          "blobs/sha256/50e53b0fbde54bb5b6e6d3ebf9c4d8f7d00cb740d48fa6c567a0b1b5c0bd5ff0", 0 },
        { "oci-layout-gzip.tar", "vmsandbox-fixture/hello:oci-gzip",
          "sha256:72cbb8094008ea35d34f9daf7b9cd7c0246cbffe6dec846e6e7bb26f90536139",
          "e10bceaef413abe3edf6ce4f60b01d5e0b2a229bb6c8df2b5b2d59d41371194a", 10240,
          "blobs/sha256/15efd5f19dabb663434a28e80edc4499d88c8118663f7705f4c48580ad9587c9", 1 },
};

static char *fixture(const char *name)
{
        char *p;

        ck_assert_int_ge(asprintf(&p, "%s/%s", VS_FIXTURES_DIR, name), 0);
        return p;
}

START_TEST(real_archives_accepted)
{
        const real_archive *a = &reals[_i];
        char *p = fixture(a->file), *ref = NULL, *id = NULL, want[65];
        vs_archive_info info;
        vs_error err = { 0 };

        ck_assert_msg(vs_archive_inspect(p, &info, &err) == 0, "%s: %s", a->file, err.msg);
        ck_assert_uint_eq(info.n_images, 1);
        ck_assert_str_eq(info.images[0].ref, a->ref);
        ck_assert_str_eq(info.images[0].id, a->id);
        ck_assert_uint_eq(info.images[0].n_layers, 1);
        ck_assert_uint_eq(info.size, a->size);
        ck_assert_str_eq(info.sha256, a->sha256);
        ck_assert_int_eq(vs_sha256_file(p, want), 0);
        ck_assert_str_eq(info.sha256, want);
        ck_assert_msg(vs_archive_pick(&info, NULL, &ref, &id, &err) == 0, "%s", err.msg);
        ck_assert_str_eq(ref, a->ref);
        ck_assert_str_eq(id, a->id);
        free(ref);
        free(id);
        vs_archive_info_clear(&info);
        free(p);
}
END_TEST

/* A container of the Docker socket runs its image by id; the layout names
 * the members that manifest.json resolves to. */
START_TEST(real_pick_by_id_and_layout)
{
        const real_archive *a = &reals[_i];
        char *p = fixture(a->file), *ref = NULL, *id = NULL;
        vs_archive_info info;
        vs_archive_layout lay;
        vs_error err = { 0 };
        int fd = open(p, O_RDONLY | O_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        ck_assert_msg(vs_archive_inspect_layout_fd(fd, p, &info, &lay, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(vs_archive_pick(&info, a->id, &ref, &id, &err), 0);
        ck_assert_str_eq(ref, a->id);
        ck_assert_str_eq(id, a->id);
        free(ref);
        free(id);
        ck_assert_int_eq(vs_archive_pick(&info, "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                                         &ref, &id, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "is not in the image archive"));
        ck_assert_uint_eq(lay.n_entries, 1);
        ck_assert_str_eq(lay.entries[0].id, a->id);
        ck_assert_str_eq(lay.entries[0].tags[0], a->ref);
        ck_assert_ptr_null(lay.entries[0].tags[1]);
        ck_assert_uint_eq(lay.entries[0].config.size, 313);
        ck_assert_uint_eq(lay.entries[0].n_layers, 1);
        ck_assert_str_eq(lay.entries[0].layers[0].name, a->layer);
        ck_assert_uint_eq(lay.entries[0].layers[0].size, a->compressed ? 556 : 10240);
        vs_archive_layout_clear(&lay);
        vs_archive_info_clear(&info);
        close(fd);
        free(p);
}
END_TEST

/* The real layers are walked: one byte of the layer's first header changed
 * (its checksum no longer matches) makes the archive fail, naming the layer;
 * the gzip layer is not walked, so the same change passes. */
START_TEST(real_layers_walked)
{
        const real_archive *a = &reals[_i];
        char *p = fixture(a->file), *copy = new_path(), *data = NULL;
        size_t len = 0;
        vs_error err = { 0 };
        vs_tar_reader r;
        vs_tar_entry e;
        uint64_t at = 0;
        int fd = open(p, O_RDONLY | O_CLOEXEC), k;

        ck_assert_int_ge(fd, 0);
        vs_tar_reader_init(&r, fd, 0, a->size);
        while ((k = vs_tar_next(&r, &e, &err)) > 0)
                if (strcmp(e.name, a->layer) == 0)
                        at = e.data_offset;
        ck_assert_int_eq(k, 0);
        ck_assert_uint_gt(at, 0);
        close(fd);
        ck_assert_int_eq(vs_read_file(p, 1 << 20, &data, &len, &err), 0);
        ck_assert_uint_eq(len, a->size);
        data[at + (a->compressed ? 100 : 0)] ^= 0x20; /* gzip: a byte of the compressed stream */
        ck_assert_int_eq(vs_write_file_atomic(copy, data, len, 0600, &err), 0);
        if (a->compressed) {
                vs_archive_info info;

                ck_assert_msg(vs_archive_inspect(copy, &info, &err) == 0, "%s", err.msg);
                vs_archive_info_clear(&info);
        } else {
                char want[256];

                snprintf(want, sizeof(want), "layer %s: not a tar archive (bad header checksum)", a->layer);
                expect_error(copy, want);
        }
        free(data);
        free(copy);
        free(p);
}
END_TEST

/* skopeo's OCI layout alone has index.json but no manifest.json: refused
 * with the documented message (docs/cli.md: OCI layouts with manifest.json). */
START_TEST(real_oci_without_manifest_refused)
{
        char *p = fixture("oci-archive-no-manifest.tar");

        expect_error(p, "not a docker image archive: no manifest.json (make it with `docker save`)");
        free(p);
}
END_TEST

Suite *suite_archive(void)
{
        Suite *s = suite_create("archive");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, good_archive);
        tcase_add_test(tc, several_tags_need_choice);
        tcase_add_test(tc, untagged_runs_by_id);
        tcase_add_test(tc, bad_archives);
        tcase_add_test(tc, missing_members);
        tcase_add_test(tc, unsafe_layer_entries);
        tcase_add_test(tc, truncated);
        tcase_add_test(tc, names);
        tcase_add_test(tc, duplicate_members_refused);
        tcase_add_test(tc, member_below_symlink_refused);
        tcase_add_test(tc, member_depth_bounded);
        tcase_add_test(tc, linked_layers_followed);
        tcase_add_test(tc, linked_layer_target_checked);
        tcase_add_test(tc, layer_references_bounded);
        tcase_add_test(tc, manifest_strings_and_depth);
        tcase_add_test(tc, unsafe_names_shown_printable);
        tcase_add_test(tc, inspect_by_fd);
        tcase_add_test(tc, compression_magic_does_not_exempt_a_tar);
        tcase_add_test(tc, compressed_layers_left_to_the_guest);
        tcase_add_test(tc, link_chains_bounded);
        tcase_add_test(tc, link_above_root_names_nothing);
        tcase_add_test(tc, manifest_size_bounded);
        tcase_add_test(tc, tar_with_magic_name_then_garbage_refused);
        tcase_add_test(tc, tag_and_entry_bounds);
        tcase_add_test(tc, named_members_must_be_files);
        tcase_add_test(tc, tar_padding_must_fit);
        tcase_add_test(tc, tar_meta_bounds);
        suite_add_tcase(s, tc);
        /* 51 MB of headers twice: 1 s, more under ASan. */
        tc = tcase_create("bounds");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, member_count_bounded);
        suite_add_tcase(s, tc);
        tc = tcase_create("real");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_loop_test(tc, real_archives_accepted, 0, sizeof(reals) / sizeof(reals[0]));
        tcase_add_loop_test(tc, real_pick_by_id_and_layout, 0, sizeof(reals) / sizeof(reals[0]));
        tcase_add_loop_test(tc, real_layers_walked, 0, sizeof(reals) / sizeof(reals[0]));
        tcase_add_test(tc, real_oci_without_manifest_refused);
        suite_add_tcase(s, tc);
        return s;
}
