/* Golden files: VS_REGENERATE_GOLDEN=1 rewrites tests/golden/ from the code. */
#include "domain_xml.h"
#include "fsutil.h"
#include "tests.h"

#include <stdlib.h>
#include <string.h>

static vs_domain_def base_def(void)
{
        return (vs_domain_def){
                .job_id = "0123456789ab",
                .accel = VS_ACCEL_TCG,
                .memory = 1ull << 30,
                .cpus = 1,
                .kernel = "/img/vmlinuz",
                .initrd = "/img/initrd.img",
                .cmdline = "root=/dev/vda rw init=/usr/local/sbin/vmsandbox-agent",
                .root_disk = "/jobs/0123456789ab/root.qcow2",
                .job_disk = "/jobs/0123456789ab/job.img",
                .channel = "/jobs/0123456789ab/progress.sock",
                .console_log = "/jobs/0123456789ab/console.log",
        };
}

static void check_golden(const char *name, const char *xml)
{
        char path[512];
        char *want = NULL;
        vs_error err = { 0 };

        snprintf(path, sizeof(path), "%s/%s", VS_GOLDEN_DIR, name);
        if (getenv("VS_REGENERATE_GOLDEN")) {
                ck_assert_int_eq(vs_write_file_atomic(path, xml, strlen(xml), 0644, &err), 0);
                return;
        }
        ck_assert_msg(vs_read_file(path, 1 << 20, &want, NULL, &err) == 0, "%s", err.msg);
        ck_assert_str_eq(xml, want);
        free(want);
}

START_TEST(tcg_no_network)
{
        vs_domain_def d = base_def();
        vs_error err = { 0 };
        char *xml = vs_domain_xml(&d, &err);

        ck_assert_ptr_nonnull(xml);
        check_golden("domain-tcg.xml", xml);
        /* What the security model rests on, asserted apart from the golden file. */
        ck_assert_ptr_null(strstr(xml, "<interface"));
        ck_assert_ptr_nonnull(strstr(xml, "type='raw'"));
        ck_assert_ptr_nonnull(strstr(xml, "type='qcow2'"));
        free(xml);
}
END_TEST

START_TEST(kvm_nat)
{
        vs_domain_def d = base_def();
        vs_error err = { 0 };
        char *xml;

        d.accel = VS_ACCEL_KVM;
        d.cpus = 4;
        d.memory = 4ull << 30;
        d.network = true;
        xml = vs_domain_xml(&d, &err);
        ck_assert_ptr_nonnull(xml);
        check_golden("domain-kvm-nat.xml", xml);
        ck_assert_ptr_nonnull(strstr(xml, "<domain type='kvm'>"));
        ck_assert_ptr_nonnull(strstr(xml, "<interface type='user'>"));
        free(xml);
}
END_TEST

START_TEST(escaping)
{
        vs_domain_def d = base_def();
        vs_error err = { 0 };
        char *xml;

        d.root_disk = "/jobs/a'b<c>&\"d/root.qcow2";
        xml = vs_domain_xml(&d, &err);
        ck_assert_ptr_nonnull(strstr(xml, "/jobs/a&apos;b&lt;c&gt;&amp;&quot;d/root.qcow2"));
        free(xml);
}
END_TEST

/* The domain of an overlapped prepare boots with its root disk only; the
 * job disk is hot-plugged later as exactly this element. */
START_TEST(hotplug_job_disk)
{
        vs_domain_def d = base_def();
        vs_error err = { 0 };
        char *xml;

        d.job_disk = NULL;
        xml = vs_domain_xml(&d, &err);
        ck_assert_ptr_nonnull(xml);
        check_golden("domain-tcg-hotplug.xml", xml);
        ck_assert_ptr_null(strstr(xml, "vdb"));
        ck_assert_ptr_null(strstr(xml, "job.img"));
        /* The default machine (pc: ACPI PCI hot-plug on its root bus): no
         * q35, which would need spare pcie-root-ports. */
        ck_assert_ptr_null(strstr(xml, "machine="));
        free(xml);
        xml = vs_job_disk_xml("/jobs/0123456789ab/job.img", &err);
        ck_assert_ptr_nonnull(xml);
        ck_assert_str_eq(xml, "    <disk type='file' device='disk'>\n"
                              "      <driver name='qemu' type='raw' cache='unsafe' discard='unmap'/>\n"
                              "      <source file='/jobs/0123456789ab/job.img'/>\n"
                              "      <target dev='vdb' bus='virtio'/>\n"
                              "    </disk>\n");
        free(xml);
        xml = vs_job_disk_xml("/j/a'b<&>", &err);
        ck_assert_ptr_nonnull(strstr(xml, "<source file='/j/a&apos;b&lt;&amp;&gt;'/>"));
        free(xml);
}
END_TEST

Suite *suite_domain_xml(void)
{
        Suite *s = suite_create("domain_xml");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, tcg_no_network);
        tcase_add_test(tc, kvm_nat);
        tcase_add_test(tc, escaping);
        tcase_add_test(tc, hotplug_job_disk);
        suite_add_tcase(s, tc);
        return s;
}
