#include "archive.h"
#include "tar.h"
#include "tests.h"

#include <stdlib.h>
#include <string.h>
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
        suite_add_tcase(s, tc);
        return s;
}
