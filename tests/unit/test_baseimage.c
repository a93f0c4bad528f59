/* The base image's manifest: what it says was preloaded. */
#include "baseimage.h"
#include "fsutil.h"
#include "tests.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ID_A "sha256:523b9d7d90edbf95940ea8606d1e455fd7ef5fa1bbda56ef9dd1683358e79592"
#define ID_B "sha256:0000000000000000000000000000000000000000000000000000000000000001"

static char dir[64];

static void put(const char *name, const char *text)
{
        char path[128];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
}

static void image_with(const char *preloaded)
{
        char manifest[2048];

        snprintf(dir, sizeof(dir), "/tmp/vs-base-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        put("root.qcow2", "");
        put("vmlinuz", "");
        put("initrd.img", "");
        snprintf(manifest, sizeof(manifest), "{\"cmdline\": \"x\", \"root_fs_mib\": 10%s%s}", preloaded ? ", \"preloaded\": " : "",
                 preloaded ? preloaded : "");
        put("manifest.json", manifest);
}

START_TEST(preloaded_found_by_tag_and_id)
{
        vs_base_image img;
        vs_error err = { 0 };
        const vs_preloaded_image *p;

        image_with("[{\"file\": \"h.tar\", \"sha256\": \"x\", \"images\": [{\"id\": \"" ID_A "\", \"tags\": [\"a/b:1\", \"c:2\"]}]},"
                   " {\"file\": \"u.tar\", \"images\": [{\"id\": \"" ID_B "\", \"tags\": []}]}]");
        ck_assert_msg(vs_base_image_open(dir, &img, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(img.n_preloaded, 2);
        p = vs_base_image_preloaded(&img, "c:2");
        ck_assert_ptr_nonnull(p);
        ck_assert_str_eq(p->id, ID_A);
        ck_assert_ptr_eq(vs_base_image_preloaded(&img, "a/b:1"), p);
        ck_assert_ptr_eq(vs_base_image_preloaded(&img, ID_A), p);
        ck_assert_str_eq(vs_base_image_preloaded(&img, ID_B)->id, ID_B);
        ck_assert_ptr_null(vs_base_image_preloaded(&img, "a/b"));
        ck_assert_ptr_null(vs_base_image_preloaded(&img, "c:3"));
        vs_base_image_clear(&img);
        vs_rm_rf(dir);
}
END_TEST

/* Manifests from before images were recorded, and none preloaded. */
START_TEST(preloaded_absent)
{
        vs_base_image img;
        vs_error err = { 0 };

        image_with("[{\"file\": \"h.tar\", \"sha256\": \"x\"}]");
        ck_assert_msg(vs_base_image_open(dir, &img, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(img.n_preloaded, 0);
        ck_assert_ptr_null(vs_base_image_preloaded(&img, "h:latest"));
        vs_base_image_clear(&img);
        vs_rm_rf(dir);
        image_with(NULL);
        ck_assert_msg(vs_base_image_open(dir, &img, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(img.n_preloaded, 0);
        vs_base_image_clear(&img);
        vs_rm_rf(dir);
}
END_TEST

START_TEST(preloaded_malformed)
{
        static const char *bad[] = {
                "{}",
                "[{\"images\": [{\"id\": \"sha256:12\", \"tags\": []}]}]",
                "[{\"images\": [{\"id\": \"" ID_A "\", \"tags\": \"a:1\"}]}]",
                "[{\"images\": [{\"id\": \"" ID_A "\", \"tags\": [\"\"]}]}]",
                "[{\"images\": [{\"id\": \"" ID_A "\", \"tags\": [7]}]}]",
                "[{\"images\": [{\"tags\": []}]}]",
        };
        vs_base_image img;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                vs_error err = { 0 };
                image_with(bad[i]);
                ck_assert_msg(vs_base_image_open(dir, &img, &err) < 0, "accepted %s", bad[i]);
                ck_assert_int_eq(err.kind, VS_ERR_SETUP);
                ck_assert_ptr_nonnull(strstr(err.msg, "preloaded"));
                vs_rm_rf(dir);
        }
}
END_TEST

Suite *suite_baseimage(void)
{
        Suite *s = suite_create("baseimage");
        TCase *t = tcase_create("preloaded");

        tcase_add_test(t, preloaded_found_by_tag_and_id);
        tcase_add_test(t, preloaded_absent);
        tcase_add_test(t, preloaded_malformed);
        suite_add_tcase(s, t);
        return s;
}
