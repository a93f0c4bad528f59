/* vmsandbox doctor: can this host run jobs?  Each check says how to fix it. */
#include "baseimage.h"
#include "cli.h"
#include "config.h"
#include "disk.h"
#include "domain.h"
#include "parse.h"
#include "qemuaccess.h"
#include "strv.h"

#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#define SPACE_WANTED (10ull << 30)

static int failures;

static void report(bool ok, const char *what, const char *detail, const char *fix)
{
        printf("%-5s %-12s %s\n", ok ? "ok" : "FAIL", what, detail);
        if (!ok) {
                failures++;
                if (fix)
                        printf("      %-12s fix: %s\n", "", fix);
        }
}

static void check_libvirt(const vs_config *cfg)
{
        virConnectPtr conn = NULL;
        vs_error err = { 0 };
        char **ours = NULL, detail[512];
        unsigned long ver = 0;

        if (vs_libvirt_connect(cfg->uri, &conn, &err) < 0) {
                report(false, "libvirt", err.msg, "systemctl start libvirtd (without systemd: virtlogd -d && libvirtd -d)");
                return;
        }
        virConnectGetVersion(conn, &ver);
        snprintf(detail, sizeof(detail), "%s reachable (QEMU %lu.%lu.%lu)", cfg->uri, ver / 1000000, ver / 1000 % 1000,
                 ver % 1000);
        report(true, "libvirt", detail, NULL);
        if (vs_domain_list_ours(conn, &ours, &err) >= 0) {
                size_t n = vs_strv_length(ours);
                snprintf(detail, sizeof(detail), n ? "%zu vmsandbox domain(s) running, e.g. %s" : "no vmsandbox domains running",
                         n, n ? ours[0] : "");
                report(true, "domains", detail, NULL);
        }
        vs_strv_free(ours);
        virConnectClose(conn);
}

static void check_base_image(const vs_config *cfg)
{
        vs_base_image img;
        vs_error err = { 0 };
        char detail[1024];

        if (vs_base_image_open(cfg->image, &img, &err) < 0) {
                report(false, "base image", err.msg, "scripts/build-base-image (as root, in the vmsandbox source tree)");
                return;
        }
        if (vs_base_image_verify(&img, &err) < 0)
                report(false, "base image", err.msg, "scripts/build-base-image --force (as root, in the vmsandbox source tree)");
        else {
                snprintf(detail, sizeof(detail), "%s intact (built %s, kernel %s)", img.dir,
                         json_string_value(json_object_get(img.manifest, "built_at")) ?: "?",
                         img.kernel_release ? img.kernel_release : "?");
                report(true, "base image", detail, NULL);
        }
        vs_base_image_clear(&img);
}

/* QEMU runs as libvirt-qemu: every directory above the state dir and the
 * base image must let it through. */
static void check_qemu_access(const vs_config *cfg)
{
        vs_error err = { 0 };
        char detail[1024];
        bool ok = vs_check_qemu_access("--state-dir", cfg->state_dir, &err) == 0;

        if (ok)
                ok = vs_check_qemu_access("base image", cfg->image, &err) == 0;
        snprintf(detail, sizeof(detail), "%s and %s reachable by " VS_QEMU_USER, cfg->state_dir, cfg->image);
        report(ok, "qemu access", ok ? detail : err.msg, ok ? NULL : "see above: QEMU must be able to traverse it");
}

static void check_space(const vs_config *cfg)
{
        struct statvfs st;
        char detail[512], a[32];
        uint64_t avail;

        if (statvfs(cfg->state_dir, &st) < 0) {
                snprintf(detail, sizeof(detail), "cannot stat %s", cfg->state_dir);
                report(false, "disk space", detail, "create it: mkdir -p -m 0711 /var/lib/vmsandbox (or run scripts/install-service)");
                return;
        }
        avail = (uint64_t)st.f_bavail * st.f_frsize;
        snprintf(detail, sizeof(detail), "%s free in %s", vs_format_size(avail, a, sizeof(a)), cfg->state_dir);
        report(avail >= SPACE_WANTED, "disk space", detail, "free space: each job needs its --disk (default 4G) plus its inputs");
}

int cmd_doctor(int argc, char **argv)
{
        vs_config cfg;
        vs_error err = { 0 };
        char why[256], detail[512];
        vs_accel accel;

        if (argc > 1) {
                bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
                fputs("Usage: vmsandbox doctor\n\nChecks libvirt, acceleration, the base image, libguestfs and disk space.\n"
                      "Exit status 0 when every check passes, 1 otherwise.\n",
                      help ? stdout : stderr);
                return help ? 0 : EXIT_USAGE;
        }
        if (vs_config_load(&cfg, &err) < 0)
                return cli_fail(&err);
        setvbuf(stdout, NULL, _IOLBF, 0); /* each verdict as soon as it is known */
        check_libvirt(&cfg);
        accel = vs_accel_resolve(cfg.accel, why, sizeof(why));
        snprintf(detail, sizeof(detail), "%s: %s", vs_accel_name(accel), why);
        report(true, "accel", detail, NULL);
        check_base_image(&cfg);
        if (vs_disk_selftest(accel, &err) < 0)
                report(false, "libguestfs", err.msg, "apt-get install libguestfs-tools linux-image-amd64; run libguestfs-test-tool");
        else
                report(true, "libguestfs", "appliance starts", NULL);
        check_qemu_access(&cfg);
        check_space(&cfg);
        vs_config_clear(&cfg);
        printf("%s\n", failures ? "some checks failed" : "all checks passed");
        return failures ? 1 : 0;
}
