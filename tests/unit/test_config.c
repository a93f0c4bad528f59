#include "config.h"
#include "tests.h"

#include <fcntl.h>
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
        unsetenv("VMSANDBOX_URI");
        unsetenv("VMSANDBOX_IMAGE");
        unsetenv("VMSANDBOX_STATE_DIR");
        setenv("VMSANDBOX_CONFIG", path, 1);
        setenv("VMSANDBOX_ACCEL", "tcg", 1);
        ck_assert_int_eq(vs_config_load(&c, &err), 0);
        ck_assert_str_eq(c.uri, "test:///default");
        ck_assert_str_eq(c.image, "/img");
        ck_assert_int_eq(c.accel, VS_ACCEL_TCG);
        ck_assert_str_eq(c.state_dir, VS_DEFAULT_STATE);
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

START_TEST(job_disk_setting)
{
        vs_config c = { 0 };
        vs_error err = { 0 };

        ck_assert_int_eq(c.job_disk, VS_JOB_DISK_HOTPLUG); /* the default is 0 */
        ck_assert_int_eq(vs_config_set(&c, "job_disk", "boot", &err), 0);
        ck_assert_int_eq(c.job_disk, VS_JOB_DISK_BOOT);
        ck_assert_int_eq(vs_config_set(&c, "job_disk", "hotplug", &err), 0);
        ck_assert_int_eq(c.job_disk, VS_JOB_DISK_HOTPLUG);
        ck_assert_int_eq(vs_config_set(&c, "job_disk", "later", &err), -1);
        ck_assert_str_eq(err.msg, "job_disk must be hotplug or boot, not \"later\"");
        ck_assert_int_eq(c.job_disk, VS_JOB_DISK_HOTPLUG);
        unsetenv("VMSANDBOX_CONFIG");
        setenv("VMSANDBOX_CONFIG", "/dev/null", 1);
        setenv("VMSANDBOX_JOB_DISK", "boot", 1);
        ck_assert_int_eq(vs_config_load(&c, &err), 0);
        ck_assert_int_eq(c.job_disk, VS_JOB_DISK_BOOT);
        vs_config_clear(&c);
        unsetenv("VMSANDBOX_JOB_DISK");
        ck_assert_int_eq(vs_config_load(&c, &err), 0);
        ck_assert_int_eq(c.job_disk, VS_JOB_DISK_HOTPLUG);
        vs_config_clear(&c);
        unsetenv("VMSANDBOX_CONFIG");
}
END_TEST

START_TEST(accel_explicit)
{
        char why[128];

        ck_assert_int_eq(vs_accel_resolve(VS_ACCEL_TCG, why, sizeof(why)), VS_ACCEL_TCG);
        ck_assert_str_eq(why, "tcg was asked for");
        ck_assert_int_eq(vs_accel_resolve(VS_ACCEL_KVM, why, sizeof(why)), VS_ACCEL_KVM);
        ck_assert_str_eq(why, "kvm was asked for");
}
END_TEST

/* AUTO picks KVM exactly when a hardware KVM module is loaded and /dev/kvm
 * opens read-write; the test works out which of the two this host is and
 * asserts that one answer (and its reason), not "either". */
START_TEST(accel_auto_matches_host)
{
        int hw = access("/sys/module/kvm_intel", F_OK) == 0 || access("/sys/module/kvm_amd", F_OK) == 0;
        int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        int usable = fd >= 0;
        char why[128];
        vs_accel a;

        if (fd >= 0)
                close(fd);
        a = vs_accel_resolve(VS_ACCEL_AUTO, why, sizeof(why));
        if (!hw) {
                ck_assert_int_eq(a, VS_ACCEL_TCG);
                ck_assert_str_eq(why, "no hardware KVM module (kvm_intel/kvm_amd) is loaded");
        } else if (!usable) {
                ck_assert_int_eq(a, VS_ACCEL_TCG);
                ck_assert_ptr_nonnull(strstr(why, "/dev/kvm cannot be opened: "));
        } else {
                ck_assert_int_eq(a, VS_ACCEL_KVM);
                ck_assert_str_eq(why, "hardware KVM is loaded and /dev/kvm is usable");
        }
}
END_TEST

START_TEST(accel_names)
{
        vs_accel a = VS_ACCEL_LAST;

        ck_assert_int_eq(vs_accel_parse("auto", &a), 0);
        ck_assert_int_eq(a, VS_ACCEL_AUTO);
        ck_assert_int_eq(vs_accel_parse("kvm", &a), 0);
        ck_assert_int_eq(a, VS_ACCEL_KVM);
        ck_assert_int_eq(vs_accel_parse("tcg", &a), 0);
        ck_assert_int_eq(a, VS_ACCEL_TCG);
        ck_assert_int_eq(vs_accel_parse("KVM", &a), -1);
        ck_assert_int_eq(a, VS_ACCEL_TCG); /* untouched on failure */
        ck_assert_str_eq(vs_accel_name(VS_ACCEL_LAST), "invalid");
}
END_TEST

static char *write_conf(const char *text)
{
        char path[] = "/tmp/vs-conf-XXXXXX";
        int fd = mkstemp(path);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        return strdup(path);
}

/* Built-in defaults < file < environment, key by key: a key the file does
 * not set keeps its default, an empty variable does not override. */
START_TEST(precedence)
{
        char *path = write_conf("state_dir = /from/file\n  image=/file/img  # trailing comment\n\n");
        vs_config c;
        vs_error err = { 0 };

        unsetenv("VMSANDBOX_URI");
        unsetenv("VMSANDBOX_ACCEL");
        unsetenv("VMSANDBOX_STATE_DIR");
        setenv("VMSANDBOX_CONFIG", path, 1);
        setenv("VMSANDBOX_IMAGE", "/env/img", 1);
        setenv("VMSANDBOX_STATE_DIR", "", 1);
        ck_assert_int_eq(vs_config_load(&c, &err), 0);
        ck_assert_str_eq(c.uri, VS_DEFAULT_URI);
        ck_assert_str_eq(c.image, "/env/img");
        ck_assert_str_eq(c.state_dir, "/from/file");
        ck_assert_int_eq(c.accel, VS_ACCEL_AUTO);
        ck_assert_int_eq(vs_config_set(&c, "uri", "test:///flag", &err), 0);
        ck_assert_str_eq(c.uri, "test:///flag");
        ck_assert_int_eq(vs_config_set(&c, "colour", "red", &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "unknown setting \"colour\""));
        vs_config_clear(&c);
        ck_assert_ptr_null(c.uri);

        /* an invalid environment value names the variable */
        setenv("VMSANDBOX_ACCEL", "warp", 1);
        ck_assert_int_eq(vs_config_load(&c, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "$VMSANDBOX_ACCEL"));
        unsetenv("VMSANDBOX_ACCEL");
        unsetenv("VMSANDBOX_IMAGE");
        unsetenv("VMSANDBOX_STATE_DIR");
        unsetenv("VMSANDBOX_CONFIG");
        unlink(path);
        free(path);
}
END_TEST

/* A named config file that does not exist is an error; bad lines name file:line. */
START_TEST(file_errors)
{
        char *path = write_conf("uri = a\nno equals sign here\n");
        vs_config c;
        vs_error err = { 0 };

        setenv("VMSANDBOX_CONFIG", "/nonexistent/vmsandbox.conf", 1);
        ck_assert_int_eq(vs_config_load(&c, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/vmsandbox.conf"));
        setenv("VMSANDBOX_CONFIG", path, 1);
        ck_assert_int_eq(vs_config_load(&c, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, ":2: expected key = value"));
        unsetenv("VMSANDBOX_CONFIG");
        unlink(path);
        free(path);
}
END_TEST

Suite *suite_config(void)
{
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, env_overrides_file);
        tcase_add_test(tc, bad_values);
        tcase_add_test(tc, accel_explicit);
        tcase_add_test(tc, job_disk_setting);
        tcase_add_test(tc, accel_auto_matches_host);
        tcase_add_test(tc, accel_names);
        tcase_add_test(tc, precedence);
        tcase_add_test(tc, file_errors);
        suite_add_tcase(s, tc);
        return s;
}
