#include "config.h"
#include "tests.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(env_overrides_file)
{
        char path[] = "/tmp/vs-conf-XXXXXX";
        int fd = mkstemp(path);
        const char *text = "# comment\nuri = test:///default\naccel = kvm\nimage=/img\n";
        vs_config c;
        vs_error err = { 0 };

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        setenv("VMSANDBOX_CONFIG", path, 1);
        setenv("VMSANDBOX_ACCEL", "tcg", 1);
        ck_assert_int_eq(vs_config_load(&c, &err), 0);
        ck_assert_str_eq(c.uri, "test:///default");
        ck_assert_str_eq(c.image, "/img");
        ck_assert_int_eq(c.accel, VS_ACCEL_TCG);
        vs_config_clear(&c);
        unsetenv("VMSANDBOX_ACCEL");
        unsetenv("VMSANDBOX_CONFIG");
        unlink(path);
}
END_TEST

START_TEST(bad_values)
{
        char path[] = "/tmp/vs-conf-XXXXXX";
        int fd = mkstemp(path);
        const char *text = "accel = fast\n";
        vs_config c;
        vs_error err = { 0 };

        ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        setenv("VMSANDBOX_CONFIG", path, 1);
        ck_assert_int_eq(vs_config_load(&c, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, ":1: accel must be auto, kvm or tcg"));
        unsetenv("VMSANDBOX_CONFIG");
        unlink(path);
}
END_TEST

START_TEST(accel_explicit)
{
        char why[128];

        ck_assert_int_eq(vs_accel_resolve(VS_ACCEL_TCG, why, sizeof(why)), VS_ACCEL_TCG);
        ck_assert_int_eq(vs_accel_resolve(VS_ACCEL_KVM, why, sizeof(why)), VS_ACCEL_KVM);
        vs_accel a = vs_accel_resolve(VS_ACCEL_AUTO, why, sizeof(why));
        ck_assert(a == VS_ACCEL_TCG || a == VS_ACCEL_KVM);
        ck_assert_uint_gt(strlen(why), 0);
}
END_TEST

Suite *suite_config(void)
{
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, env_overrides_file);
        tcase_add_test(tc, bad_values);
        tcase_add_test(tc, accel_explicit);
        suite_add_tcase(s, tc);
        return s;
}
