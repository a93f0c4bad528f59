/* The Docker socket's image store (imagestore.h) with the real fixtures
 * (tests/fixtures/README.md): load, lookup, tag, remove, link, export and
 * its round trip, tenancy, restart, crash leftovers, hostile index.json. */
#include "alloc.h"
#include "archive.h"
#include "fsutil.h"
#include "imagestore.h"
#include "parse.h"
#include "sha256.h"
#include "tar.h"
#include "tests.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID_2010 "sha256:c732da56c260e5906dfe7641ccf58531957b5fa521395ae360b19fb0a7637f77"
#define ID_OCI "sha256:72cbb8094008ea35d34f9daf7b9cd7c0246cbffe6dec846e6e7bb26f90536139"
#define BLOB_2010 "d8abbb204ae8f4e69862528f378a5f8281f198c867f702f07628ae8f4d89abfb"
#define BLOB_OCI "a5eb2190af183b89900f57a5a6a5a28f478c82e7f8237f5f3b3f76b8df5103c8"
#define BLOB_GZIP "e10bceaef413abe3edf6ce4f60b01d5e0b2a229bb6c8df2b5b2d59d41371194a"
#define TAG_2010 "vmsandbox-fixture/hello:20.10"
#define TAG_OCI "vmsandbox-fixture/hello:oci"
#define TAG_GZIP "vmsandbox-fixture/hello:oci-gzip"
#define LAYER_SHA "50e53b0fbde54bb5b6e6d3ebf9c4d8f7d00cb740d48fa6c567a0b1b5c0bd5ff0"
#define TA "docker:a"
#define TB "docker:b"

static char dir[] = "/tmp/vs-imgstore-XXXXXX";
static char store_dir[64];
static vs_imgstore *st;

static void open_store(void)
{
        vs_error err = { 0 };

        ck_assert_msg(vs_imgstore_open(store_dir, &st, &err) == 0, "%s", err.msg);
}

static void setup(void)
{
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(store_dir, sizeof(store_dir), "%s/images", dir);
        open_store();
}

static void teardown(void)
{
        vs_imgstore_free(st);
        st = NULL;
        ck_assert_int_eq(vs_rm_rf(dir), 0);
        strcpy(dir, "/tmp/vs-imgstore-XXXXXX");
}

static int fixture_fd(const char *name)
{
        char p[512];
        int fd;

        snprintf(p, sizeof(p), "%s/%s", VS_FIXTURES_DIR, name);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        return fd;
}

/* Loads a fixture for tenant; returns the number of lines, first in *ret. */
static size_t load(const char *tenant, const char *file, vs_image_loaded **ret)
{
        vs_error err = { 0 };
        vs_image_loaded *v = NULL;
        size_t n = 0;
        int fd = fixture_fd(file);

        ck_assert_msg(vs_imgstore_load(st, tenant, fd, &v, &n, &err) == 0, "%s: %s", file, err.msg);
        close(fd);
        if (ret)
                *ret = v;
        else
                vs_image_loaded_free(v, n);
        return n;
}

static bool blob_exists(const char *blob)
{
        char p[256];

        snprintf(p, sizeof(p), "%s/blobs/%s.tar", store_dir, blob);
        return access(p, F_OK) == 0;
}

static unsigned mode_of(const char *rel)
{
        char p[256];
        struct stat s;

        snprintf(p, sizeof(p), "%s%s%s", store_dir, rel[0] ? "/" : "", rel);
        ck_assert_int_eq(stat(p, &s), 0);
        return s.st_mode & 07777;
}

static void expect_lookup_id(const char *tenant, const char *name, const char *id)
{
        vs_error err = { 0 };
        vs_image im;

        ck_assert_msg(vs_imgstore_lookup(st, tenant, name, &im, &err) == 0, "%s: %s", name, err.msg);
        ck_assert_str_eq(im.id, id);
        vs_image_clear(&im);
}

static void expect_lookup_error(const char *tenant, const char *name, vs_error_kind kind, const char *msg)
{
        vs_error err = { 0 };
        vs_image im;

        ck_assert_int_eq(vs_imgstore_lookup(st, tenant, name, &im, &err), -1);
        ck_assert_int_eq(err.kind, kind);
        ck_assert_str_eq(err.msg, msg);
}

/* ---- names ---------------------------------------------------------------------- */

START_TEST(names_normalized)
{
        static const struct {
                const char *in, *out;
                bool tagged;
        } ok[] = {
                { "ubuntu", "ubuntu:latest", false },
                { "ubuntu:22.04", "ubuntu:22.04", true },
                { "library/ubuntu", "ubuntu:latest", false },
                { "docker.io/library/ubuntu:1", "ubuntu:1", true },
                { "index.docker.io/library/ubuntu", "ubuntu:latest", false },
                { "docker.io/o2r/muncher:v1", "o2r/muncher:v1", true },
                { "library/a/b", "library/a/b:latest", false },
                { "quay.io/a/b:x_Y.z-1", "quay.io/a/b:x_Y.z-1", true },
                { "localhost:5000/a", "localhost:5000/a:latest", false },
                { "localhost/a:1", "localhost/a:1", true },
                { "a__b.c-d---e", "a__b.c-d---e:latest", false },
                { "erc:job1", "erc:job1", true },
        };
        static const struct {
                const char *in, *msg;
        } bad[] = {
                { "", "invalid reference format" },
                { "Ubuntu", "invalid reference format: repository name must be lowercase" },
                { "a/B:1", "invalid reference format: repository name must be lowercase" },
                { "../etc", "invalid reference format" },
                { "a/../b", "invalid reference format" },
                { "a b", "invalid reference format" },
                { "a\tb", "invalid reference format" },
                { "a\x7f", "invalid reference format" },
                { "a:", "invalid reference format" },
                { "a:-x", "invalid reference format" },
                { "-a", "invalid reference format" },
                { "a-", "invalid reference format" },
                { "a___b", "invalid reference format" },
                { "a//b", "invalid reference format" },
                { "a/", "invalid reference format" },
                { "a@sha256:00", "invalid reference format: digests are not supported" },
                { "-x.io/a", "invalid reference format" },
                { "x.io:p/a", "invalid reference format" },
        };
        char out[VS_IMAGE_NAME_MAX + 1], longname[300], longtag[140];
        vs_error err = { 0 };
        bool tagged;

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                ck_assert_msg(vs_imgstore_normalize(ok[i].in, out, &tagged, &err) == 0, "%s: %s", ok[i].in, err.msg);
                ck_assert_str_eq(out, ok[i].out);
                ck_assert_int_eq(tagged, ok[i].tagged);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_msg(vs_imgstore_normalize(bad[i].in, out, &tagged, &err) == -1, "%s accepted", bad[i].in);
                ck_assert_int_eq(err.kind, VS_ERR_INPUT);
                ck_assert_str_eq(err.msg, bad[i].msg);
        }
        memset(longname, 'a', 255);
        longname[255] = '\0';
        ck_assert_int_eq(vs_imgstore_normalize(longname, out, &tagged, &err), -1); /* + ":latest" is over 255 */
        longname[255] = 'a';
        longname[256] = '\0';
        ck_assert_int_eq(vs_imgstore_normalize(longname, out, &tagged, &err), -1);
        ck_assert_str_eq(err.msg, "invalid reference format");
        memset(longtag, 'x', sizeof(longtag));
        longtag[0] = 'a', longtag[1] = ':';
        longtag[131] = '\0';
        ck_assert_int_eq(vs_imgstore_normalize(longtag, out, &tagged, &err), -1); /* a 129-byte tag */
        longtag[130] = '\0';
        ck_assert_int_eq(vs_imgstore_normalize(longtag, out, &tagged, &err), 0);
}
END_TEST

/* ---- load and lookup --------------------------------------------------------------- */

START_TEST(load_and_lookup)
{
        vs_image_loaded *lines;
        vs_error err = { 0 };
        vs_image im;

        ck_assert_uint_eq(load(TA, "docker-20.10.tar", &lines), 1);
        ck_assert_str_eq(lines[0].ref, TAG_2010);
        ck_assert_str_eq(lines[0].id, ID_2010);
        vs_image_loaded_free(lines, 1);
        ck_assert(blob_exists(BLOB_2010));
        ck_assert_uint_eq(mode_of(""), 0700);
        ck_assert_uint_eq(mode_of("blobs"), 0700);
        ck_assert_uint_eq(mode_of("blobs/" BLOB_2010 ".tar"), 0600);
        ck_assert_uint_eq(mode_of("index.json"), 0600);

        ck_assert_int_eq(vs_imgstore_lookup(st, TA, TAG_2010, &im, &err), 0);
        ck_assert_str_eq(im.id, ID_2010);
        ck_assert_str_eq(im.blob, BLOB_2010);
        ck_assert_str_eq(im.tags[0], TAG_2010);
        ck_assert_ptr_null(im.tags[1]);
        ck_assert_uint_eq(im.size, 10240);
        ck_assert_str_eq(im.config.architecture, "amd64");
        ck_assert_str_eq(im.config.os, "linux");
        ck_assert_str_eq(im.config.created, "1970-01-01T00:00:00Z");
        ck_assert_str_eq(im.config.working_dir, "/");
        ck_assert_str_eq(im.config.cmd[0], "/hello");
        ck_assert_ptr_null(im.config.cmd[1]);
        ck_assert_ptr_null(im.config.entrypoint);
        ck_assert_ptr_null(im.config.env);
        ck_assert_ptr_null(im.config.user);
        ck_assert_ptr_null(im.config.labels);
        ck_assert_str_eq(im.config.diff_ids[0], "sha256:" LAYER_SHA);
        ck_assert_ptr_null(im.config.diff_ids[1]);
        ck_assert_int_eq(vs_image_created_seconds(&im), 0);
        vs_image_clear(&im);

        expect_lookup_id(TA, "docker.io/vmsandbox-fixture/hello:20.10", ID_2010);
        expect_lookup_id(TA, ID_2010, ID_2010);
        expect_lookup_id(TA, ID_2010 + 7, ID_2010);
        expect_lookup_id(TA, "c732da56c260", ID_2010);
        expect_lookup_id(TA, "sha256:c732", ID_2010);
        expect_lookup_id(TA, "c", ID_2010); /* Docker takes any unambiguous prefix */
        expect_lookup_error(TA, "vmsandbox-fixture/hello", VS_ERR_NOT_FOUND, "No such image: vmsandbox-fixture/hello:latest");
        expect_lookup_error(TA, "docker.io/library/nothere", VS_ERR_NOT_FOUND, "No such image: nothere:latest");
        expect_lookup_error(TA, "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                            VS_ERR_NOT_FOUND, "No such image: sha256:0000000000000000000000000000000000000000000000000000000000000000");
        expect_lookup_error(TA, "0000000000000000000000000000000000000000000000000000000000000000", VS_ERR_NOT_FOUND,
                            "No such image: sha256:0000000000000000000000000000000000000000000000000000000000000000");
        expect_lookup_error(TA, "d", VS_ERR_NOT_FOUND, "No such image: d:latest");
        expect_lookup_error(TA, "x@sha256:ab", VS_ERR_NOT_FOUND, "No such image: x@sha256:ab");
        expect_lookup_error(TA, "../../etc/passwd", VS_ERR_INPUT, "invalid reference format");
        expect_lookup_error(TA, "a\nb", VS_ERR_INPUT, "invalid reference format");
        expect_lookup_error(TA, "vmsandbox-fixture/Hello:20.10", VS_ERR_INPUT,
                            "invalid reference format: repository name must be lowercase");
        /* Docker takes a first component with capitals for a registry */
        expect_lookup_error(TA, "Vmsandbox-fixture/hello:20.10", VS_ERR_NOT_FOUND,
                            "No such image: Vmsandbox-fixture/hello:20.10");
        ck_assert_int_eq(vs_imgstore_lookup(st, "bad tenant", TAG_2010, &im, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_USAGE);
}
END_TEST

/* The same id from another archive (the gzip OCI layout has the OCI
 * layout's config): one entry, both tags, the first blob kept; the second
 * archive is not stored (no entry refers to it). An ambiguous prefix is
 * "No such image". */
START_TEST(same_id_other_archive)
{
        vs_image im;
        vs_error err = { 0 };

        load(TA, "oci-layout.tar", NULL);
        load(TA, "oci-layout-gzip.tar", NULL);
        ck_assert_int_eq(vs_imgstore_lookup(st, TA, TAG_GZIP, &im, &err), 0);
        ck_assert_str_eq(im.id, ID_OCI);
        ck_assert_str_eq(im.blob, BLOB_OCI);
        ck_assert_str_eq(im.tags[0], TAG_OCI);
        ck_assert_str_eq(im.tags[1], TAG_GZIP);
        vs_image_clear(&im);
        ck_assert(blob_exists(BLOB_OCI));
        ck_assert(!blob_exists(BLOB_GZIP));
        load(TA, "docker-20.10.tar", NULL);
        expect_lookup_id(TA, "7", ID_OCI);
        expect_lookup_id(TA, "c", ID_2010);
        /* no image id starts with a digit other than 7 here; none with "e" */
        expect_lookup_error(TA, "e", VS_ERR_NOT_FOUND, "No such image: e:latest");
}
END_TEST

/* A tag on another image of the tenant moves: the old image keeps its id,
 * untagged. An archive's load lines are Docker's. */
START_TEST(load_moves_tags)
{
        vs_error err = { 0 };
        vs_image im;

        load(TA, "docker-20.10.tar", NULL);
        ck_assert_int_eq(vs_imgstore_tag(st, TA, TAG_2010, "erc:job1", &err), 0);
        ck_assert_int_eq(vs_imgstore_tag(st, TA, TAG_2010, "vmsandbox-fixture/hello:oci", &err), 0);
        load(TA, "oci-layout.tar", NULL);
        ck_assert_int_eq(vs_imgstore_lookup(st, TA, ID_2010, &im, &err), 0);
        ck_assert_str_eq(im.tags[0], TAG_2010);
        ck_assert_str_eq(im.tags[1], "erc:job1");
        ck_assert_ptr_null(im.tags[2]);
        vs_image_clear(&im);
        expect_lookup_id(TA, TAG_OCI, ID_OCI);
}
END_TEST

/* Two images in one archive; with a tag only the tag lines, without any
 * tag one "Loaded image ID" line per image. */
static char *two_image_archive(const char *tags1, const char *tags2)
{
        static const char c1[] = "{\"os\":\"linux\",\"config\":{\"Env\":[\"A=1\"],\"Labels\":{\"k\":\"v\"}}}";
        static const char c2[] = "{\"os\":\"linux\",\"config\":{\"Entrypoint\":[\"/x\"],\"User\":\"1000\"}}";
        char *path = NULL, *layer = NULL, manifest[512];
        size_t layer_len = 0;
        FILE *lf = open_memstream(&layer, &layer_len), *f;

        tw_file(lf, "bin/hello", "hi\n", 3);
        tw_end(lf);
        fclose(lf);
        ck_assert_int_ge(asprintf(&path, "%s/two-%d.tar", dir, rand()), 0);
        f = fopen(path, "w");
        tw_file(f, "c1.json", c1, strlen(c1));
        tw_file(f, "c2.json", c2, strlen(c2));
        tw_dir(f, "l1/");
        tw_file(f, "l1/layer.tar", layer, layer_len);
        snprintf(manifest, sizeof(manifest),
                 "[{\"Config\":\"c1.json\",\"RepoTags\":%s,\"Layers\":[\"l1/layer.tar\"]},"
                 "{\"Config\":\"c2.json\",\"RepoTags\":%s,\"Layers\":[\"l1/layer.tar\",\"l1/layer.tar\"]}]",
                 tags1, tags2);
        tw_file(f, "manifest.json", manifest, strlen(manifest));
        tw_end(f);
        fclose(f);
        free(layer);
        return path;
}

static size_t load_path(const char *tenant, const char *path, vs_image_loaded **ret, vs_error *err)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t n = 0;
        int r;

        ck_assert_int_ge(fd, 0);
        r = vs_imgstore_load(st, tenant, fd, ret, &n, err);
        close(fd);
        return r < 0 ? (size_t)-1 : n;
}

START_TEST(load_lines_as_docker)
{
        char *tagged = two_image_archive("[\"m/one:1\",\"m/one:2\"]", "null");
        char *untagged = two_image_archive("[]", "null");
        vs_image_loaded *lines;
        vs_error err = { 0 };
        vs_image im;

        ck_assert_uint_eq(load_path(TA, tagged, &lines, &err), 2);
        ck_assert_str_eq(lines[0].ref, "m/one:1");
        ck_assert_str_eq(lines[1].ref, "m/one:2");
        ck_assert_str_eq(lines[0].id, lines[1].id);
        vs_image_loaded_free(lines, 2);
        ck_assert_uint_eq(load_path(TB, untagged, &lines, &err), 2);
        ck_assert_ptr_null(lines[0].ref);
        ck_assert_ptr_null(lines[1].ref);
        ck_assert_str_ne(lines[0].id, lines[1].id);
        ck_assert_int_eq(vs_imgstore_lookup(st, TB, lines[1].id, &im, &err), 0);
        ck_assert_str_eq(im.config.entrypoint[0], "/x");
        ck_assert_str_eq(im.config.user, "1000");
        ck_assert_uint_eq(im.size, 2 * 2048);
        ck_assert_ptr_null(im.tags[0]);
        vs_image_clear(&im);
        ck_assert_int_eq(vs_imgstore_lookup(st, TB, lines[0].id, &im, &err), 0);
        ck_assert_str_eq(im.config.env[0], "A=1");
        ck_assert_str_eq(im.config.labels[0], "k");
        ck_assert_str_eq(im.config.labels[1], "v");
        ck_assert_ptr_null(im.config.labels[2]);
        vs_image_clear(&im);
        vs_image_loaded_free(lines, 2);
        free(tagged);
        free(untagged);
}
END_TEST

/* A bad archive is refused and leaves nothing in the store; a RepoTags
 * entry without a tag is refused as Docker's load refuses it. */
START_TEST(bad_archives_leave_nothing)
{
        char *notag = two_image_archive("[\"m/one\"]", "null");
        char *bad = NULL, blobs[128];
        vs_image_loaded *lines = NULL;
        vs_error err = { 0 };
        vs_image *all;
        size_t n;
        FILE *f;

        ck_assert_uint_eq(load_path(TA, notag, &lines, &err), (size_t)-1);
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        ck_assert_str_eq(err.msg, "manifest.json has an invalid tag (RepoTags need repo:tag)");
        ck_assert_int_ge(asprintf(&bad, "%s/bad.tar", dir), 0);
        f = fopen(bad, "w");
        fputs("not a tar at all", f);
        fclose(f);
        ck_assert_uint_eq(load_path(TA, bad, &lines, &err), (size_t)-1);
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        ck_assert_ptr_nonnull(strstr(err.msg, "image upload"));
        ck_assert_int_eq(vs_imgstore_list(st, TA, &all, &n, &err), 0);
        ck_assert_uint_eq(n, 0);
        vs_image_list_free(all, n);
        snprintf(blobs, sizeof(blobs), "%s/blobs", store_dir);
        ck_assert_int_eq(rmdir(blobs), 0); /* empty: no temp file, no blob */
        free(notag);
        free(bad);
}
END_TEST

/* An unnamed temp file (how the HTTP layer gets uploads) is linked in, not
 * copied: the blob is its inode. */
START_TEST(unnamed_upload_linked)
{
        int src = fixture_fd("docker-20.10.tar"), fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        char buf[17920], p[256];
        vs_image_loaded *lines;
        vs_error err = { 0 };
        struct stat a, b;
        size_t n;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(read(src, buf, sizeof(buf)), (ssize_t)sizeof(buf));
        ck_assert_int_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
        ck_assert_int_eq(vs_imgstore_load(st, TA, fd, &lines, &n, &err), 0);
        vs_image_loaded_free(lines, n);
        snprintf(p, sizeof(p), "%s/blobs/%s.tar", store_dir, BLOB_2010);
        ck_assert_int_eq(fstat(fd, &a), 0);
        ck_assert_int_eq(stat(p, &b), 0);
        ck_assert_uint_eq(a.st_ino, b.st_ino);
        ck_assert_uint_eq(b.st_mode & 07777, 0600);
        close(fd);
        close(src);
}
END_TEST

/* ---- list and tag -------------------------------------------------------------------- */

START_TEST(list_and_tag)
{
        vs_error err = { 0 };
        vs_image *all, im;
        size_t n;

        load(TA, "docker-20.10.tar", NULL);
        load(TA, "oci-layout.tar", NULL);
        ck_assert_int_eq(vs_imgstore_list(st, TA, &all, &n, &err), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(all[0].id, ID_OCI); /* same Created: the later load first */
        ck_assert_str_eq(all[1].id, ID_2010);
        vs_image_list_free(all, n);
        ck_assert_int_eq(vs_imgstore_list(st, TB, &all, &n, &err), 0);
        ck_assert_uint_eq(n, 0);
        vs_image_list_free(all, n);

        ck_assert_int_eq(vs_imgstore_tag(st, TA, "c732", "erc", &err), 0);
        expect_lookup_id(TA, "erc:latest", ID_2010);
        ck_assert_int_eq(vs_imgstore_tag(st, TA, TAG_OCI, "docker.io/library/erc:latest", &err), 0);
        expect_lookup_id(TA, "erc", ID_OCI);
        ck_assert_int_eq(vs_imgstore_lookup(st, TA, ID_2010, &im, &err), 0);
        ck_assert_str_eq(im.tags[0], TAG_2010);
        ck_assert_ptr_null(im.tags[1]);
        vs_image_clear(&im);
        ck_assert_int_eq(vs_imgstore_tag(st, TA, TAG_OCI, "Erc:1", &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        ck_assert_str_eq(err.msg, "invalid reference format: repository name must be lowercase");
        ck_assert_int_eq(vs_imgstore_tag(st, TA, TAG_OCI, ID_2010 + 7, &err), -1);
        ck_assert_str_eq(err.msg, "invalid repository name (c732da56c260e5906dfe7641ccf58531957b5fa521395ae360b19fb0a7637f77), "
                                  "cannot specify 64-byte hexadecimal strings");
        ck_assert_int_eq(vs_imgstore_tag(st, TA, TAG_OCI, "sha256:x", &err), -1);
        ck_assert_str_eq(err.msg, "refusing to create an ambiguous tag using digest algorithm as name");
        ck_assert_int_eq(vs_imgstore_tag(st, TA, "nothere", "x:1", &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
        ck_assert_str_eq(err.msg, "No such image: nothere:latest");
}
END_TEST

/* ---- remove ---------------------------------------------------------------------- */

typedef struct {
        int use;
        const char *cid;
        unsigned calls;
} use_fx;

static int use_pred(void *ud, const char *tenant, const char *id, char ret[65])
{
        use_fx *u = ud;

        ck_assert_str_eq(tenant, TA);
        ck_assert_str_eq(id, ID_2010);
        u->calls++;
        snprintf(ret, 65, "%s", u->cid);
        return u->use;
}

static void expect_items(vs_image_deleted *v, size_t n, const char *const *want)
{
        size_t i = 0;

        for (; want[i]; i++) {
                ck_assert_uint_lt(i, n);
                if (strncmp(want[i], "U ", 2) == 0) {
                        ck_assert_ptr_null(v[i].deleted);
                        ck_assert_str_eq(v[i].untagged, want[i] + 2);
                } else {
                        ck_assert_ptr_null(v[i].untagged);
                        ck_assert_str_eq(v[i].deleted, want[i] + 2);
                }
        }
        ck_assert_uint_eq(i, n);
        vs_image_deleted_free(v, n);
}

static int rmi(const char *tenant, const char *name, bool force, use_fx *u, vs_image_deleted **v, size_t *n,
               vs_error *err)
{
        return vs_imgstore_remove(st, tenant, name, force, u ? use_pred : NULL, u, v, n, err);
}

START_TEST(remove_as_docker)
{
        vs_image_deleted *v;
        vs_error err = { 0 };
        size_t n;

        load(TA, "docker-20.10.tar", NULL);
        ck_assert_int_eq(vs_imgstore_tag(st, TA, TAG_2010, "erc:job1", &err), 0);
        /* a tag of an image with two: only untagged */
        ck_assert_int_eq(rmi(TA, "erc:job1", false, NULL, &v, &n, &err), 0);
        expect_items(v, n, (const char *const[]){ "U erc:job1", NULL });
        ck_assert(blob_exists(BLOB_2010));
        /* by id with tags in two repositories: must be forced */
        ck_assert_int_eq(vs_imgstore_tag(st, TA, TAG_2010, "erc:job1", &err), 0);
        ck_assert_int_eq(rmi(TA, "c732da56c260", false, NULL, &v, &n, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_CONFLICT);
        ck_assert_str_eq(err.msg, "conflict: unable to delete c732da56c260 (must be forced) - image is referenced in one "
                                  "or more repositories");
        ck_assert_int_eq(rmi(TA, "c732da56c260", true, NULL, &v, &n, &err), 0);
        expect_items(v, n, (const char *const[]){ "U " TAG_2010, "U erc:job1", "D " ID_2010, NULL });
        ck_assert(!blob_exists(BLOB_2010));
        expect_lookup_error(TA, ID_2010, VS_ERR_NOT_FOUND, "No such image: " ID_2010);
        /* the last tag removes the image */
        load(TA, "docker-20.10.tar", NULL);
        ck_assert_int_eq(rmi(TA, "docker.io/" TAG_2010, false, NULL, &v, &n, &err), 0);
        expect_items(v, n, (const char *const[]){ "U " TAG_2010, "D " ID_2010, NULL });
        ck_assert(!blob_exists(BLOB_2010));
        ck_assert_int_eq(rmi(TA, TAG_2010, false, NULL, &v, &n, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
        ck_assert_str_eq(err.msg, "No such image: " TAG_2010);
        ck_assert_int_eq(rmi(TA, "../x", false, NULL, &v, &n, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
}
END_TEST

START_TEST(remove_in_use)
{
        use_fx stopped = { 1, "abcdef1234567890", 0 }, running = { 2, "0123456789abcdef", 0 };
        vs_image_deleted *v;
        vs_error err = { 0 };
        vs_image im;
        size_t n;

        load(TA, "docker-20.10.tar", NULL);
        ck_assert_int_eq(rmi(TA, TAG_2010, false, &stopped, &v, &n, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_CONFLICT);
        ck_assert_str_eq(err.msg, "conflict: unable to remove repository reference \"" TAG_2010 "\" (must force) - "
                                  "container abcdef123456 is using its referenced image c732da56c260");
        ck_assert_uint_eq(stopped.calls, 1);
        ck_assert_int_eq(rmi(TA, ID_2010, false, &stopped, &v, &n, &err), -1);
        ck_assert_str_eq(err.msg, "conflict: unable to delete c732da56c260 (must be forced) - image is being used by "
                                  "stopped container abcdef123456");
        ck_assert_int_eq(rmi(TA, ID_2010, true, &running, &v, &n, &err), -1);
        ck_assert_str_eq(err.msg, "conflict: unable to delete c732da56c260 (cannot be forced) - image is being used by "
                                  "running container 0123456789ab");
        /* forced by tag while a container runs: untagged, the image stays */
        ck_assert_int_eq(rmi(TA, TAG_2010, true, &running, &v, &n, &err), 0);
        expect_items(v, n, (const char *const[]){ "U " TAG_2010, NULL });
        ck_assert_int_eq(vs_imgstore_lookup(st, TA, ID_2010, &im, &err), 0);
        ck_assert_ptr_null(im.tags[0]);
        vs_image_clear(&im);
        ck_assert(blob_exists(BLOB_2010));
        /* by id once it stopped, forced */
        ck_assert_int_eq(rmi(TA, ID_2010, true, &stopped, &v, &n, &err), 0);
        expect_items(v, n, (const char *const[]){ "D " ID_2010, NULL });
        /* forced by its only tag with a stopped container: removed */
        load(TA, "docker-20.10.tar", NULL);
        ck_assert_int_eq(rmi(TA, TAG_2010, true, &stopped, &v, &n, &err), 0);
        expect_items(v, n, (const char *const[]){ "U " TAG_2010, "D " ID_2010, NULL });
}
END_TEST

/* ---- tenancy -------------------------------------------------------------------- */

START_TEST(tenants_apart)
{
        const char *names[] = { TAG_2010 };
        char link[256], id[VS_IMAGE_ID_LEN + 1];
        vs_image_deleted *v;
        vs_error err = { 0 };
        vs_image *all;
        size_t n;
        int out;

        load(TA, "docker-20.10.tar", NULL);
        expect_lookup_error(TB, TAG_2010, VS_ERR_NOT_FOUND, "No such image: " TAG_2010);
        expect_lookup_error(TB, ID_2010, VS_ERR_NOT_FOUND, "No such image: " ID_2010);
        expect_lookup_error(TB, "c732", VS_ERR_NOT_FOUND, "No such image: c732:latest");
        ck_assert_int_eq(vs_imgstore_tag(st, TB, TAG_2010, "mine:1", &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
        ck_assert_int_eq(rmi(TB, ID_2010, true, NULL, &v, &n, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
        snprintf(link, sizeof(link), "%s/job-image.tar", dir);
        ck_assert_int_eq(vs_imgstore_link(st, TB, ID_2010, link, id, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
        ck_assert_int_eq(access(link, F_OK), -1);
        out = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        ck_assert_int_eq(vs_imgstore_export(st, TB, names, 1, out, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
        ck_assert_int_eq(lseek(out, 0, SEEK_END), 0);
        close(out);
        ck_assert_int_eq(vs_imgstore_list(st, TB, &all, &n, &err), 0);
        ck_assert_uint_eq(n, 0);
        vs_image_list_free(all, n);
        /* a's image by a tag b gives: still a's only */
        ck_assert_int_eq(vs_imgstore_tag(st, TA, TAG_2010, "shared:1", &err), 0);
        expect_lookup_error(TB, "shared:1", VS_ERR_NOT_FOUND, "No such image: shared:1");

        /* both have it: one blob, kept while one of them has the image */
        load(TB, "docker-20.10.tar", NULL);
        ck_assert_int_eq(rmi(TA, ID_2010, true, NULL, &v, &n, &err), 0);
        expect_items(v, n, (const char *const[]){ "U " TAG_2010, "U shared:1", "D " ID_2010, NULL });
        ck_assert(blob_exists(BLOB_2010));
        expect_lookup_id(TB, TAG_2010, ID_2010);
        expect_lookup_error(TA, TAG_2010, VS_ERR_NOT_FOUND, "No such image: " TAG_2010);
        ck_assert_int_eq(rmi(TB, TAG_2010, false, NULL, &v, &n, &err), 0);
        expect_items(v, n, (const char *const[]){ "U " TAG_2010, "D " ID_2010, NULL });
        ck_assert(!blob_exists(BLOB_2010));
}
END_TEST

/* ---- link ------------------------------------------------------------------------- */

START_TEST(link_survives_rmi)
{
        char link[256], id[VS_IMAGE_ID_LEN + 1], hex[65];
        vs_image_deleted *v;
        vs_error err = { 0 };
        struct stat s;
        size_t n;

        load(TA, "oci-layout.tar", NULL);
        snprintf(link, sizeof(link), "%s/image.tar", dir);
        ck_assert_int_eq(vs_imgstore_link(st, TA, TAG_OCI, link, id, &err), 0);
        ck_assert_str_eq(id, ID_OCI);
        ck_assert_int_eq(stat(link, &s), 0);
        ck_assert_uint_eq(s.st_nlink, 2);
        ck_assert_int_eq(vs_imgstore_link(st, TA, TAG_OCI, link, id, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_CONFLICT);
        ck_assert_int_eq(rmi(TA, TAG_OCI, false, NULL, &v, &n, &err), 0);
        expect_items(v, n, (const char *const[]){ "U " TAG_OCI, "D " ID_OCI, NULL });
        ck_assert(!blob_exists(BLOB_OCI));
        ck_assert_int_eq(stat(link, &s), 0);
        ck_assert_uint_eq(s.st_nlink, 1);
        ck_assert_int_eq(vs_sha256_file(link, hex), 0);
        ck_assert_str_eq(hex, BLOB_OCI);
}
END_TEST

/* ---- restart and crash leftovers ------------------------------------------------------ */

static void touch(const char *rel)
{
        char p[256];
        FILE *f;

        snprintf(p, sizeof(p), "%s/%s", store_dir, rel);
        f = fopen(p, "w");
        ck_assert_ptr_nonnull(f);
        fputs("x", f);
        fclose(f);
}

static bool exists(const char *rel)
{
        char p[256];

        snprintf(p, sizeof(p), "%s/%s", store_dir, rel);
        return access(p, F_OK) == 0;
}

START_TEST(reopen_and_sweep)
{
        vs_error err = { 0 };
        vs_image im;

        load(TA, "docker-20.10.tar", NULL);
        load(TB, "oci-layout.tar", NULL);
        ck_assert_int_eq(vs_imgstore_tag(st, TA, ID_2010, "erc:job1", &err), 0);
        vs_imgstore_free(st);
        touch("blobs/.tmp-0123456789ab");
        touch("blobs/" BLOB_GZIP ".tar");
        touch("index.json.tmp-AbCdEf");
        touch("blobs/keep.me");
        open_store();
        ck_assert(!exists("blobs/.tmp-0123456789ab"));
        ck_assert(!exists("blobs/" BLOB_GZIP ".tar"));
        ck_assert(!exists("index.json.tmp-AbCdEf"));
        ck_assert(exists("blobs/keep.me"));
        ck_assert(blob_exists(BLOB_2010));
        ck_assert(blob_exists(BLOB_OCI));
        ck_assert_int_eq(vs_imgstore_lookup(st, TA, "erc:job1", &im, &err), 0);
        ck_assert_str_eq(im.id, ID_2010);
        ck_assert_str_eq(im.tags[0], TAG_2010);
        ck_assert_str_eq(im.config.cmd[0], "/hello");
        ck_assert_str_eq(im.config.diff_ids[0], "sha256:" LAYER_SHA);
        vs_image_clear(&im);
        expect_lookup_id(TB, TAG_OCI, ID_OCI);
        expect_lookup_error(TB, "erc:job1", VS_ERR_NOT_FOUND, "No such image: erc:job1");
}
END_TEST

/* index.json is read back at most VS_IMGSTORE_INDEX_MAX bytes: a commit
 * that would write more is refused (LIMIT, the sockets' 429) and leaves
 * the store as it was, so that serve still starts.  A config is at most
 * VS_ARCHIVE_MAX_JSON (4 MiB), but each tenant's entry keeps its own copy
 * of the config subset: four images of 1024 Env items of ~3.9 KB (~4 MB
 * each in the index) loaded by four tenants fit (~64 MB), and one more
 * image does not. */
static char *big_env_archive(int first, int count)
{
        char *path = NULL, *layer = NULL, manifest[4096] = "[";
        size_t layer_len = 0, cap = 1024 * 3900 + 256;
        char *config = vs_xmalloc(cap);
        FILE *lf = open_memstream(&layer, &layer_len), *f;

        tw_file(lf, "bin/hello", "hi\n", 3);
        tw_end(lf);
        fclose(lf);
        ck_assert_int_ge(asprintf(&path, "%s/big-%d.tar", dir, first), 0);
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        tw_dir(f, "l1/");
        tw_file(f, "l1/layer.tar", layer, layer_len);
        for (int i = first; i < first + count; i++) {
                char name[32];
                size_t n = (size_t)snprintf(config, cap, "{\"os\":\"linux\",\"config\":{\"Env\":[");

                for (int k = 0; k < 1024; k++) {
                        n += (size_t)snprintf(config + n, cap - n, "%s\"V%d_%d=", k ? "," : "", i, k);
                        memset(config + n, 'x', 3880);
                        n += 3880;
                        config[n++] = '"';
                }
                n += (size_t)snprintf(config + n, cap - n, "]}}");
                snprintf(name, sizeof(name), "c%d.json", i);
                tw_file(f, name, config, n);
                snprintf(manifest + strlen(manifest), sizeof(manifest) - strlen(manifest),
                         "%s{\"Config\":\"c%d.json\",\"RepoTags\":[\"big/x:%d\"],\"Layers\":[\"l1/layer.tar\"]}",
                         i > first ? "," : "", i, i);
        }
        strcat(manifest, "]");
        tw_file(f, "manifest.json", manifest, strlen(manifest));
        tw_end(f);
        fclose(f);
        free(layer);
        free(config);
        return path;
}

static size_t vs_strv_len_test(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

static size_t dir_entries(const char *rel)
{
        char p[256];
        size_t n = 0;
        DIR *d;
        struct dirent *e;

        snprintf(p, sizeof(p), "%s/%s", store_dir, rel);
        d = opendir(p);
        ck_assert_ptr_nonnull(d);
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

START_TEST(index_bound_refused)
{
        char *four = big_env_archive(0, 4), *one = big_env_archive(4, 1), p[256];
        vs_image_loaded *lines = NULL;
        vs_error err = { 0 };
        vs_image *v;
        size_t n;
        struct stat before, after;

        static const char *const tenants[] = { TA, TB, "docker:c", "docker:d" };

        for (size_t t = 0; t < 4; t++) {
                ck_assert_msg(load_path(tenants[t], four, &lines, &err) == 4, "%s", err.msg);
                vs_image_loaded_free(lines, 4);
        }
        snprintf(p, sizeof(p), "%s/index.json", store_dir);
        ck_assert_int_eq(stat(p, &before), 0);
        ck_assert_uint_gt((uint64_t)before.st_size, 60ull << 20);
        ck_assert_uint_le((uint64_t)before.st_size, VS_IMGSTORE_INDEX_MAX);

        lines = NULL;
        ck_assert_uint_eq(load_path(TA, one, &lines, &err), (size_t)-1);
        ck_assert_ptr_null(lines);
        ck_assert_int_eq(err.kind, VS_ERR_LIMIT);
        ck_assert_str_eq(err.msg, "the image store's index would be over 67108864 bytes");
        /* Nothing changed: the index, the tenant's images, the blobs (the
         * new archive's is gone again). */
        ck_assert_int_eq(stat(p, &after), 0);
        ck_assert_int_eq(after.st_size, before.st_size);
        ck_assert_int_eq(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
        ck_assert_int_eq(vs_imgstore_list(st, TA, &v, &n, &err), 0);
        ck_assert_uint_eq(n, 4);
        vs_image_list_free(v, n);
        ck_assert_uint_eq(dir_entries("blobs"), 1);
        expect_lookup_error(TA, "big/x:4", VS_ERR_NOT_FOUND, "No such image: big/x:4");
        /* What still fits goes on (a tag is a commit too). */
        ck_assert_msg(vs_imgstore_tag(st, TA, "big/x:0", "more:1", &err) == 0, "%s", err.msg);
        /* The store opens again: serve starts. */
        vs_imgstore_free(st);
        st = NULL;
        open_store();
        {
                vs_image im;
                ck_assert_int_eq(vs_imgstore_lookup(st, TA, "more:1", &im, &err), 0);
                ck_assert_str_eq(im.tags[0], "big/x:0");
                ck_assert_uint_eq(vs_strv_len_test(im.config.env), 1024);
                vs_image_clear(&im);
        }
        free(four);
        free(one);
}
END_TEST

/* A tenant's share of the store: images and bytes of the blobs they are
 * in; past it a load is refused before anything changes, the other
 * tenants load on; a blob two tenants share counts for both; what only
 * moves tags needs no share. */
static uint64_t fixture_size(const char *name)
{
        struct stat sb;
        int fd = fixture_fd(name);

        ck_assert_int_eq(fstat(fd, &sb), 0);
        close(fd);
        return (uint64_t)sb.st_size;
}

START_TEST(tenant_share)
{
        uint64_t s2010 = fixture_size("docker-20.10.tar"), soci = fixture_size("oci-layout.tar");
        vs_image_loaded *lines = NULL;
        vs_error err = { 0 };
        unsigned images;
        uint64_t bytes;
        char path[512], want[512], a[32], b[32], c[32];

        /* One image each. */
        vs_imgstore_set_tenant_quota(st, 1, 0);
        load(TA, "docker-20.10.tar", NULL);
        load(TA, "docker-20.10.tar", NULL); /* again: nothing new */
        snprintf(path, sizeof(path), "%s/oci-layout.tar", VS_FIXTURES_DIR);
        ck_assert_uint_eq(load_path(TA, path, &lines, &err), (size_t)-1);
        ck_assert_int_eq(err.kind, VS_ERR_LIMIT);
        ck_assert_str_eq(err.msg, "tenant docker:a has 1 images in the image store, its share is 1 (serve --tenant-images)");
        ck_assert(!blob_exists(BLOB_OCI));
        load(TB, "oci-layout.tar", NULL);
        vs_imgstore_usage(st, TA, &images, &bytes);
        ck_assert_uint_eq(images, 1);
        ck_assert_uint_eq(bytes, s2010);

        /* Bytes: room for the 20.10 archive and one byte. */
        vs_imgstore_set_tenant_quota(st, 100, s2010 + 1);
        ck_assert_uint_eq(load_path(TA, path, &lines, &err), (size_t)-1);
        ck_assert_int_eq(err.kind, VS_ERR_NO_SPACE);
        snprintf(want, sizeof(want),
                 "tenant docker:a's share of the image store is used up: it holds %s of %s, this archive is %s (serve "
                 "--tenant-image-space)",
                 vs_format_size(s2010, a, sizeof(a)), vs_format_size(s2010 + 1, b, sizeof(b)),
                 vs_format_size(soci, c, sizeof(c)));
        ck_assert_str_eq(err.msg, want);
        expect_lookup_error(TA, TAG_OCI, VS_ERR_NOT_FOUND, "No such image: " TAG_OCI);
        ck_assert(blob_exists(BLOB_OCI)); /* b's, untouched */
        /* The blob b has counts for a as well when a loads it... */
        vs_imgstore_set_tenant_quota(st, 100, s2010 + soci);
        load(TA, "oci-layout.tar", NULL);
        vs_imgstore_usage(st, TA, &images, &bytes);
        ck_assert_uint_eq(images, 2);
        ck_assert_uint_eq(bytes, s2010 + soci);
        vs_imgstore_usage(st, TB, &images, &bytes);
        ck_assert_uint_eq(images, 1);
        ck_assert_uint_eq(bytes, soci);
        /* ...and tags move within a full share. */
        load(TA, "docker-20.10.tar", NULL);
        /* Two images in one blob: it counts once. */
        vs_imgstore_set_tenant_quota(st, 100, 0);
        {
                char *two = two_image_archive("[\"t:1\"]", "[\"t:2\"]");
                struct stat sb;

                ck_assert_uint_eq(load_path(TA, two, &lines, &err), 2);
                vs_image_loaded_free(lines, 2);
                ck_assert_int_eq(stat(two, &sb), 0);
                vs_imgstore_usage(st, TA, &images, &bytes);
                ck_assert_uint_eq(images, 4);
                ck_assert_uint_eq(bytes, s2010 + soci + (uint64_t)sb.st_size);
                free(two);
        }
        vs_imgstore_usage(st, "docker:none", &images, &bytes);
        ck_assert_uint_eq(images, 0);
        ck_assert_uint_eq(bytes, 0);
}
END_TEST

/* The store's directories get their modes through fds opened without
 * following links: a symlink at the store's path is refused, and what it
 * points to is neither chmod'ed nor filled. */
START_TEST(store_path_symlink_refused)
{
        char other[128], link[128], blobs[160];
        vs_imgstore *s2 = NULL;
        vs_error err = { 0 };
        struct stat sb;

        snprintf(other, sizeof(other), "%s/other", dir);
        snprintf(link, sizeof(link), "%s/link", dir);
        snprintf(blobs, sizeof(blobs), "%s/blobs", other);
        ck_assert_int_eq(mkdir(other, 0755), 0);
        ck_assert_int_eq(chmod(other, 0755), 0);
        ck_assert_int_eq(symlink(other, link), 0);
        ck_assert_int_eq(vs_imgstore_open(link, &s2, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_SETUP);
        ck_assert_int_eq(stat(other, &sb), 0);
        ck_assert_uint_eq(sb.st_mode & 07777, 0755);
        ck_assert_int_ne(access(blobs, F_OK), 0);
}
END_TEST

static void write_index(const char *text)
{
        char p[256];
        FILE *f;

        snprintf(p, sizeof(p), "%s/index.json", store_dir);
        f = fopen(p, "w");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
}

#define E1 "{\"tenant\":\"docker:a\",\"id\":\"" ID_2010 "\",\"blob\":\"" BLOB_2010 "\",\"tags\":[\"a:1\"],\"loaded\":1,\"size\":2,\"config\":{}}"
#define E1_TAGS(t) "{\"tenant\":\"docker:a\",\"id\":\"" ID_2010 "\",\"blob\":\"" BLOB_2010 "\",\"tags\":" t ",\"loaded\":1,\"size\":2,\"config\":{}}"
#define E1_CONFIG(c) "{\"tenant\":\"docker:a\",\"id\":\"" ID_2010 "\",\"blob\":\"" BLOB_2010 "\",\"tags\":[],\"loaded\":1,\"size\":2,\"config\":" c "}"
#define IDX(e) "{\"version\":1,\"images\":[" e "]}"

START_TEST(hostile_index_refused)
{
        static const struct {
                const char *text, *msg;
        } cases[] = {
                { "", "index.json: a JSON document is required" },
                { "{", "index.json: malformed JSON" },
                { "[]", "index.json: not an object of version and images" },
                { "{\"version\":1,\"images\":[],\"x\":1}", "index.json: not an object of version and images" },
                { "{\"version\":2,\"images\":[]}", "index.json: version is not 1" },
                { "{\"version\":\"1\",\"images\":[]}", "index.json: version is not 1" },
                { "{\"version\":1,\"images\":{}}", "index.json: images is not an array" },
                { "{\"version\":1,\"version\":1,\"images\":[]}", "index.json: malformed JSON" },
                { IDX("1"), "index.json: image 0: not an object" },
                { IDX("{\"tenant\":\"docker:a\",\"id\":\"" ID_2010 "\",\"blob\":\"" BLOB_2010 "\",\"tags\":[],\"loaded\":1,\"size\":2,\"config\":{},\"more\":1}"),
                  "index.json: image 0: unknown key" },
                { IDX("{\"tenant\":\"docker:a b\",\"id\":\"" ID_2010 "\",\"blob\":\"" BLOB_2010 "\",\"tags\":[],\"loaded\":1,\"size\":2,\"config\":{}}"),
                  "index.json: image 0: tenant is not a tenant" },
                { IDX("{\"tenant\":\"docker:a\",\"id\":\"sha256:C732\",\"blob\":\"" BLOB_2010 "\",\"tags\":[],\"loaded\":1,\"size\":2,\"config\":{}}"),
                  "index.json: image 0: id is not sha256:<64 hex digits>" },
                { IDX("{\"tenant\":\"docker:a\",\"id\":\"" ID_2010 "\",\"blob\":\"../../etc/passwd\",\"tags\":[],\"loaded\":1,\"size\":2,\"config\":{}}"),
                  "index.json: image 0: blob is not 64 hex digits" },
                { IDX(E1_TAGS("[\"A:1\"]")), "index.json: image 0: tags has an invalid tag" },
                { IDX(E1_TAGS("[\"a\"]")), "index.json: image 0: tags has an invalid tag" },
                { IDX(E1_TAGS("[\"docker.io/library/a:1\"]")), "index.json: image 0: tags has an invalid tag" },
                { IDX(E1_TAGS("[\"a:1\",\"a:1\"]")), "index.json: image 0: tags has a tag twice" },
                { IDX(E1_TAGS("\"a:1\"")), "index.json: image 0: tags is not an array of at most 256 tags" },
                { IDX(E1_TAGS("[1]")), "index.json: image 0: tags has an invalid tag" },
                { IDX("{\"tenant\":\"docker:a\",\"id\":\"" ID_2010 "\",\"blob\":\"" BLOB_2010 "\",\"tags\":[],\"loaded\":-1,\"size\":2,\"config\":{}}"),
                  "index.json: image 0: loaded is not a non-negative integer" },
                { IDX(E1_CONFIG("[]")), "index.json: image 0: config is not an object" },
                { IDX(E1_CONFIG("{\"Cmd\":\"sh\"}")), "index.json: image 0: Cmd is not an array" },
                { IDX(E1_CONFIG("{\"Env\":[1]}")), "index.json: image 0: Env has a non-string item" },
                { IDX(E1_CONFIG("{\"Labels\":{\"a\":1}}")), "index.json: image 0: Labels has a non-string item" },
                { IDX(E1_CONFIG("{\"User\":{}}")), "index.json: image 0: User is not a string" },
                { IDX(E1_CONFIG("{\"Volumes\":{}}")), "index.json: image 0: unknown key" },
                { IDX(E1 "," E1), "index.json: an image twice for one tenant" },
                { IDX(E1 "," "{\"tenant\":\"docker:a\",\"id\":\"" ID_OCI "\",\"blob\":\"" BLOB_2010 "\",\"tags\":[\"a:1\"],\"loaded\":1,\"size\":2,\"config\":{}}"),
                  "index.json: a tag twice for one tenant" },
                { IDX(E1_CONFIG("{\"Cmd\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}")),
                  "index.json: JSON nested deeper than 32 levels" },
                { "{\"version\":1,\"images\":[\"\\u0000\"]}", "index.json: malformed JSON" },
        };
        vs_error err = { 0 };
        vs_imgstore *s2;

        load(TA, "docker-20.10.tar", NULL); /* the blob the cases name exists */
        vs_imgstore_free(st);
        st = NULL;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                write_index(cases[i].text);
                memset(&err, 0, sizeof(err));
                ck_assert_msg(vs_imgstore_open(store_dir, &s2, &err) == -1, "case %zu accepted", i);
                ck_assert_int_eq(err.kind, VS_ERR_SETUP);
                ck_assert_msg(strstr(err.msg, cases[i].msg), "case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].msg);
                ck_assert_ptr_nonnull(strstr(err.msg, "image store "));
        }
        /* well-formed, but the blob is gone */
        write_index(IDX("{\"tenant\":\"docker:a\",\"id\":\"" ID_OCI "\",\"blob\":\"" BLOB_OCI "\",\"tags\":[],\"loaded\":1,\"size\":2,\"config\":{}}"));
        ck_assert_int_eq(vs_imgstore_open(store_dir, &s2, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "the blob of image " ID_OCI " is missing"));
        /* and the good one opens */
        write_index(IDX(E1));
        open_store();
        expect_lookup_id(TA, "a:1", ID_2010);
}
END_TEST

/* ---- export ------------------------------------------------------------------------ */

typedef struct {
        const char *file, *tag, *id, *blob;
} fixture_t;

static const fixture_t fixtures[] = {
        { "docker-20.10.tar", TAG_2010, ID_2010, BLOB_2010 },
        { "oci-layout.tar", TAG_OCI, ID_OCI, BLOB_OCI },
        { "oci-layout-gzip.tar", TAG_GZIP, ID_OCI, BLOB_GZIP },
};

/* Exports names to a file; returns its path (malloc'd). */
static char *export_to_file(const char *tenant, const char *const *names, size_t n)
{
        vs_error err = { 0 };
        char *p = NULL;
        int fd;

        ck_assert_int_ge(asprintf(&p, "%s/export-%d.tar", dir, rand()), 0);
        fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_msg(vs_imgstore_export(st, tenant, names, n, fd, &err) == 0, "%s", err.msg);
        close(fd);
        return p;
}

/* The member names of a tar, as GNU tar lists them, one a line. */
static char *tar_list(const char *path)
{
        char cmd[512], *out = NULL;
        size_t len = 0;
        FILE *p, *m = open_memstream(&out, &len);
        int c;

        snprintf(cmd, sizeof(cmd), "tar -tf %s", path);
        p = popen(cmd, "r");
        ck_assert_ptr_nonnull(p);
        while ((c = fgetc(p)) != EOF)
                fputc(c, m);
        ck_assert_int_eq(pclose(p), 0);
        fclose(m);
        return out;
}

/* The layer.tar member of an export, hashed. */
static void member_sha(const char *path, const char *name, char hex[65])
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat s;
        vs_tar_reader r;
        vs_tar_entry e;
        vs_error err = { 0 };
        bool found = false;

        ck_assert_int_eq(fstat(fd, &s), 0);
        vs_tar_reader_init(&r, fd, 0, (uint64_t)s.st_size);
        while (vs_tar_next(&r, &e, &err) > 0)
                if (strcmp(e.name, name) == 0) {
                        char *buf = malloc(e.size + 1);
                        vs_sha256 c;

                        ck_assert_int_eq(pread(fd, buf, e.size, (off_t)e.data_offset), (ssize_t)e.size);
                        vs_sha256_init(&c);
                        vs_sha256_update(&c, buf, e.size);
                        vs_sha256_final_hex(&c, hex);
                        free(buf);
                        found = true;
                }
        close(fd);
        ck_assert_msg(found, "%s not in %s", name, path);
}

/* inspect -> export -> inspect: same id, same layers (byte for byte), the
 * tag named; the legacy layout (<id>.json, <dir>/layer.tar, repositories)
 * whatever the stored layout; GNU tar reads it. */
START_TEST(export_round_trip)
{
        const fixture_t *fx = &fixtures[_i];
        const char *by_tag[] = { fx->tag }, *by_id[] = { fx->id };
        char *p, *listing, want[512], in_hex[65], out_hex[65], layer[80];
        vs_archive_info info, orig;
        vs_archive_layout lay, olay;
        vs_error err = { 0 };
        int fd;

        load(TA, fx->file, NULL);
        p = export_to_file(TA, by_tag, 1);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        ck_assert_msg(vs_archive_inspect_layout_fd(fd, p, &info, &lay, &err) == 0, "%s", err.msg);
        close(fd);
        ck_assert_uint_eq(info.n_images, 1);
        ck_assert_str_eq(info.images[0].id, fx->id);
        ck_assert_str_eq(info.images[0].ref, fx->tag);
        ck_assert_uint_eq(info.images[0].n_layers, 1);
        snprintf(want, sizeof(want), "%s.json", fx->id + 7);
        ck_assert_str_eq(lay.entries[0].config.name, want);
        ck_assert_uint_eq(strlen(lay.entries[0].layers[0].name), 64 + strlen("/layer.tar"));
        ck_assert_str_eq(lay.entries[0].layers[0].name + 64, "/layer.tar");
        snprintf(layer, sizeof(layer), "%s", lay.entries[0].layers[0].name);
        /* the layer bytes are the original's */
        fd = fixture_fd(fx->file);
        ck_assert_int_eq(vs_archive_inspect_layout_fd(fd, fx->file, &orig, &olay, &err), 0);
        close(fd);
        snprintf(want, sizeof(want), "%s/%s", VS_FIXTURES_DIR, fx->file);
        member_sha(want, olay.entries[0].layers[0].name, in_hex);
        member_sha(p, layer, out_hex);
        ck_assert_str_eq(in_hex, out_hex);
        ck_assert_uint_eq(lay.entries[0].layers[0].size, olay.entries[0].layers[0].size);
        listing = tar_list(p);
        layer[64] = '\0';
        snprintf(want, sizeof(want), "%s.json\n%s/\n%s/VERSION\n%s/json\n%s/layer.tar\nmanifest.json\nrepositories\n",
                 fx->id + 7, layer, layer, layer, layer);
        ck_assert_str_eq(listing, want);
        free(listing);
        vs_archive_layout_clear(&lay);
        vs_archive_info_clear(&info);
        vs_archive_layout_clear(&olay);
        vs_archive_info_clear(&orig);
        free(p);

        /* by id: no RepoTags (moby's save), no repositories */
        p = export_to_file(TA, by_id, 1);
        ck_assert_int_eq(vs_archive_inspect(p, &info, &err), 0);
        ck_assert_uint_eq(info.n_images, 1);
        ck_assert_str_eq(info.images[0].id, fx->id);
        ck_assert_ptr_null(info.images[0].ref);
        vs_archive_info_clear(&info);
        listing = tar_list(p);
        ck_assert_ptr_null(strstr(listing, "repositories"));
        free(listing);
        free(p);
}
END_TEST

/* A bare repository saves every tag of it; the same image named twice is
 * in the archive once; a layer two images share is written once. */
START_TEST(export_by_repository)
{
        const char *names[] = { "vmsandbox-fixture/hello", TAG_2010, "erc:x" };
        char *p, *listing;
        vs_archive_info info;
        vs_error err = { 0 };

        load(TA, "docker-20.10.tar", NULL);
        load(TA, "oci-layout.tar", NULL);
        ck_assert_int_eq(vs_imgstore_tag(st, TA, TAG_OCI, "erc:x", &err), 0);
        p = export_to_file(TA, names, 3);
        ck_assert_int_eq(vs_archive_inspect(p, &info, &err), 0);
        ck_assert_uint_eq(info.n_images, 3);
        ck_assert_str_eq(info.images[0].ref, TAG_2010);
        ck_assert_str_eq(info.images[0].id, ID_2010);
        ck_assert_str_eq(info.images[1].ref, TAG_OCI);
        ck_assert_str_eq(info.images[1].id, ID_OCI);
        ck_assert_str_eq(info.images[2].ref, "erc:x");
        ck_assert_str_eq(info.images[2].id, ID_OCI);
        vs_archive_info_clear(&info);
        /* both configs name the same diff id: one layer directory */
        listing = tar_list(p);
        {
                size_t layers = 0;
                for (const char *q = listing; (q = strstr(q, "/layer.tar\n")); q++)
                        layers++;
                ck_assert_uint_eq(layers, 1);
        }
        free(listing);
        free(p);
}
END_TEST

/* ---- threads ---------------------------------------------------------------------- */

static void *tagger(void *arg)
{
        long k = (long)arg;
        vs_error err = { 0 };
        char tag[32];

        for (int i = 0; i < 40; i++) {
                vs_image im;

                snprintf(tag, sizeof(tag), "t%ld:%d", k, i);
                ck_assert_int_eq(vs_imgstore_tag(st, TA, TAG_2010, tag, &err), 0);
                ck_assert_int_eq(vs_imgstore_lookup(st, TA, tag, &im, &err), 0);
                vs_image_clear(&im);
        }
        return NULL;
}

START_TEST(concurrent_tags)
{
        pthread_t t[4];
        vs_error err = { 0 };
        vs_image im;

        load(TA, "docker-20.10.tar", NULL);
        for (long i = 0; i < 4; i++)
                ck_assert_int_eq(pthread_create(&t[i], NULL, tagger, (void *)i), 0);
        for (int i = 0; i < 4; i++)
                pthread_join(t[i], NULL);
        ck_assert_int_eq(vs_imgstore_lookup(st, TA, TAG_2010, &im, &err), 0);
        {
                size_t n = 0;
                while (im.tags[n])
                        n++;
                ck_assert_uint_eq(n, 161);
        }
        vs_image_clear(&im);
        vs_imgstore_free(st);
        open_store();
        expect_lookup_id(TA, "t3:39", ID_2010);
}
END_TEST

Suite *suite_imagestore(void)
{
        Suite *s = suite_create("imagestore");
        TCase *tc = tcase_create("imagestore"), *big;

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, names_normalized);
        tcase_add_test(tc, load_and_lookup);
        tcase_add_test(tc, same_id_other_archive);
        tcase_add_test(tc, load_moves_tags);
        tcase_add_test(tc, load_lines_as_docker);
        tcase_add_test(tc, bad_archives_leave_nothing);
        tcase_add_test(tc, unnamed_upload_linked);
        tcase_add_test(tc, list_and_tag);
        tcase_add_test(tc, remove_as_docker);
        tcase_add_test(tc, remove_in_use);
        tcase_add_test(tc, tenants_apart);
        tcase_add_test(tc, link_survives_rmi);
        tcase_add_test(tc, reopen_and_sweep);
        tcase_add_test(tc, hostile_index_refused);
        tcase_add_test(tc, tenant_share);
        tcase_add_test(tc, store_path_symlink_refused);
        tcase_add_loop_test(tc, export_round_trip, 0, sizeof(fixtures) / sizeof(fixtures[0]));
        tcase_add_test(tc, export_by_repository);
        tcase_add_test(tc, concurrent_tags);
        suite_add_tcase(s, tc);
        /* ~200 MB of index written (and fsynced) on the way to the bound. */
        big = tcase_create("index_bound");
        tcase_add_checked_fixture(big, setup, teardown);
        tcase_set_timeout(big, 300);
        tcase_add_test(big, index_bound_refused);
        suite_add_tcase(s, big);
        return s;
}
