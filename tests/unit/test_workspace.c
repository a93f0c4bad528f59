#include "fsutil.h"
#include "tests.h"
#include "workspace.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[] = "/tmp/vs-ws-XXXXXX";
static char src[512], dst[512];

static void put(const char *dir, const char *rel, const char *text)
{
        char p[1024];
        vs_error err = { 0 };

        snprintf(p, sizeof(p), "%s/%s", dir, rel);
        ck_assert_int_eq(vs_write_file_atomic(p, text, strlen(text), 0644, &err), 0);
}

static char *get(const char *dir, const char *rel)
{
        char p[1024], *data = NULL;
        vs_error err = { 0 };

        snprintf(p, sizeof(p), "%s/%s", dir, rel);
        return vs_read_file(p, 1 << 20, &data, NULL, &err) == 0 ? data : NULL;
}

static void setup(void)
{
        ck_assert_ptr_nonnull(mkdtemp(root));
        snprintf(src, sizeof(src), "%s/src", root);
        snprintf(dst, sizeof(dst), "%s/dst", root);
        ck_assert_int_eq(mkdir(src, 0755), 0);
        ck_assert_int_eq(mkdir(dst, 0755), 0);
}

static void teardown(void)
{
        vs_rm_rf(root);
        strcpy(root, "/tmp/vs-ws-XXXXXX");
}

START_TEST(new_changed_deleted)
{
        char p[1024], *s;
        vs_sync_stats st;
        vs_error err = { 0 };

        put(dst, "same.txt", "same");
        put(dst, "changed.txt", "old");
        put(dst, "gone.txt", "bye");
        snprintf(p, sizeof(p), "%s/olddir", dst);
        mkdir(p, 0755);
        put(dst, "olddir/x", "x");
        put(src, "same.txt", "same");
        put(src, "changed.txt", "new");
        snprintf(p, sizeof(p), "%s/sub", src);
        mkdir(p, 0755);
        put(src, "sub/new.txt", "fresh");

        ck_assert_int_eq(vs_workspace_sync(src, dst, &st, &err), 0);
        ck_assert_str_eq((s = get(dst, "changed.txt")), "new");
        free(s);
        ck_assert_str_eq((s = get(dst, "sub/new.txt")), "fresh");
        free(s);
        ck_assert_ptr_null(get(dst, "gone.txt"));
        ck_assert_ptr_null(get(dst, "olddir/x"));
        ck_assert_uint_eq(st.deleted, 2);
        ck_assert_uint_ge(st.unchanged, 1);
}
END_TEST

/* A symlink in the user's directory is replaced, never written through. */
START_TEST(symlink_not_followed)
{
        char link[1024], outside[1024], *s;
        vs_sync_stats st;
        vs_error err = { 0 };

        snprintf(outside, sizeof(outside), "%s/outside.txt", root);
        put(root, "outside.txt", "precious");
        snprintf(link, sizeof(link), "%s/result.txt", dst);
        ck_assert_int_eq(symlink(outside, link), 0);
        put(src, "result.txt", "from the guest");

        ck_assert_int_eq(vs_workspace_sync(src, dst, &st, &err), 0);
        ck_assert_str_eq((s = get(root, "outside.txt")), "precious");
        free(s);
        ck_assert_str_eq((s = get(dst, "result.txt")), "from the guest");
        free(s);
        struct stat sb;
        ck_assert_int_eq(lstat(link, &sb), 0);
        ck_assert(S_ISREG(sb.st_mode));
}
END_TEST

Suite *suite_workspace(void)
{
        Suite *s = suite_create("workspace");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, new_changed_deleted);
        tcase_add_test(tc, symlink_not_followed);
        suite_add_tcase(s, tc);
        return s;
}
