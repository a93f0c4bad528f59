/* vmsandbox doctor: can this host run jobs?  Each check says how to fix it. */
#include "alloc.h"
#include "baseimage.h"
#include "cleanup.h"
#include "cli.h"
#include "config.h"
#include "disk.h"
#include "domain.h"
#include "parse.h"
#include "qemuaccess.h"
#include "strv.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

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

/* The base image, its kernel and the agent are x86-64, and the domains
 * are x86_64 guests: another host architecture could only emulate them. */
static void check_host(void)
{
        struct utsname u;
        char detail[256];

        if (uname(&u) < 0) {
                report(false, "host", "uname failed", NULL);
                return;
        }
        snprintf(detail, sizeof(detail), "%s, Linux %s%s", u.machine, u.release,
                 strcmp(u.machine, "x86_64") == 0 ? "" : ": vmsandbox's base image and VMs are x86-64 only");
        report(strcmp(u.machine, "x86_64") == 0, "host", detail, "run vmsandbox on an x86-64 host");
}

/* The kernel libguestfs' appliance is built with (scripts/setup-host): the
 * host's own when /boot and /lib/modules have it, else one unpacked from a
 * package (never installed) in VS_DEFAULT_APPLIANCE_KERNEL. */
static void check_appliance_kernel(void)
{
        const char *fix = "scripts/setup-host --appliance (as root, in the vmsandbox source tree: it unpacks a kernel "
                          "package, it installs none)";
        char detail[1536], boot[400], dep[400];
        const char *app = getenv("VMSANDBOX_APPLIANCE");
        _cleanup_free_ char *fixed = NULL;
        vs_appliance_kernel k;
        vs_error err = { 0 };
        struct utsname u;
        int r = vs_appliance_kernel_find(&k, &err);

        if (r != 0) {
                if (r > 0)
                        snprintf(detail, sizeof(detail), "%s, unpacked in %s (not installed)", k.version, k.dir);
                report(r > 0, "appl. kernel", r > 0 ? detail : err.msg, fix);
                vs_appliance_kernel_clear(&k);
                return;
        }
        uname(&u);
        snprintf(boot, sizeof(boot), "/boot/vmlinuz-%s", u.release);
        snprintf(dep, sizeof(dep), "/lib/modules/%s/modules.dep", u.release);
        if (access(boot, R_OK) == 0 && access(dep, R_OK) == 0) {
                snprintf(detail, sizeof(detail), "the host's own, %s", boot);
                report(true, "appl. kernel", detail, NULL);
                return;
        }
        fixed = vs_xasprintf("%s/kernel", app && *app ? app : VS_DEFAULT_APPLIANCE);
        if (access(fixed, R_OK) == 0) {
                /* Jobs work; only a rebuild of the appliance needs a kernel. */
                snprintf(detail, sizeof(detail), "%s (%s is not readable: the next scripts/setup-host unpacks one)", fixed,
                         boot);
                report(true, "appl. kernel", detail, NULL);
                return;
        }
        snprintf(detail, sizeof(detail), "none for libguestfs' appliance: %s or %s is missing or unreadable, and there is no %s",
                 boot, dep, fixed);
        report(false, "appl. kernel", detail, fix);
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
                char fix[600];
                snprintf(detail, sizeof(detail), "cannot stat %s", cfg->state_dir);
                snprintf(fix, sizeof(fix), "create it: install -d -m 0711 %s (or run scripts/install-service)", cfg->state_dir);
                report(false, "disk space", detail, fix);
                return;
        }
        avail = (uint64_t)st.f_bavail * st.f_frsize;
        snprintf(detail, sizeof(detail), "%s free in %s", vs_format_size(avail, a, sizeof(a)), cfg->state_dir);
        report(avail >= SPACE_WANTED, "disk space", detail, "free space: each job needs its --disk (default 4G) plus its inputs");
}

/* ---- the service's configuration (doctor serve FLAGS) -------------------- */

/* The admin token: a regular file of ours, nobody else may read or write
 * it, at least 16 characters on its first line (what serve insists on). */
static void check_token(const char *flag, const char *path)
{
        const char *what = strcmp(flag, "--token-file") == 0 ? "token" : "metrics token";
        char detail[1024], fix[1024], buf[300];
        struct stat st;
        int fd;
        ssize_t n;

        if (!path) {
                report(false, what, "no --token-file", "give --token-file FILE (scripts/install-service makes /etc/vmsandbox/token)");
                return;
        }
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                snprintf(detail, sizeof(detail), "%s %s: %s", flag, path, fd < 0 ? strerror(errno) : "not a regular file");
                snprintf(fix, sizeof(fix), "(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > %s)", path);
                report(false, what, detail, fix);
                if (fd >= 0)
                        close(fd);
                return;
        }
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        if (st.st_uid != geteuid() || (st.st_mode & 077)) {
                snprintf(detail, sizeof(detail), "%s %s is mode %04o, owner %u: others may read or change the token", flag,
                         path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
                snprintf(fix, sizeof(fix), "chown %u %s && chmod 0600 %s", (unsigned)geteuid(), path, path);
                report(false, what, detail, fix);
        } else if (strlen(buf) < 16) {
                snprintf(detail, sizeof(detail), "%s %s: its first line is shorter than 16 characters", flag, path);
                report(false, what, detail, "write a longer token: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'");
        } else {
                snprintf(detail, sizeof(detail), "%s mode %04o, owner %u", path, (unsigned)(st.st_mode & 07777),
                         (unsigned)st.st_uid);
                report(true, what, detail, NULL);
        }
}

static void check_dir(const char *what, const char *path, const char *fix)
{
        char detail[1024];
        struct stat st;
        bool ok;

        errno = 0;
        ok = stat(path, &st) == 0 && S_ISDIR(st.st_mode);

        snprintf(detail, sizeof(detail), "%s %s %s", what, path, ok ? "exists" : errno == ENOENT ? "does not exist" : "is not a directory");
        report(ok, what + 2, detail, fix);
}

static void check_service(const cli_serve_args *a)
{
        char fix[1024];

        if (a->o.listen || a->o.socket)
                check_token("--token-file", a->o.token_file);
        if (a->o.metrics_token_file)
                check_token("--metrics-token-file", a->o.metrics_token_file);
        snprintf(fix, sizeof(fix), "install -d -m 0711 %s (or run scripts/install-service)", a->cfg.state_dir);
        check_dir("--state-dir", a->cfg.state_dir, fix);
        for (size_t i = 0; a->roots && a->roots[i]; i++) {
                snprintf(fix, sizeof(fix), "install -d -m 0755 %s, or drop the --allow-root", a->roots[i]);
                check_dir("--allow-root", a->roots[i], fix);
        }
        if (a->o.socket && a->o.socket_group) {
                char detail[512];
                bool ok = getgrnam(a->o.socket_group) != NULL;
                snprintf(detail, sizeof(detail), "--socket-group %s %s", a->o.socket_group, ok ? "exists" : "does not exist");
                snprintf(fix, sizeof(fix), "groupadd --system %s", a->o.socket_group);
                report(ok, "socket group", detail, fix);
        }
}

static void doctor_usage(FILE *f)
{
        fputs("Usage: vmsandbox doctor [serve SERVE-FLAGS...]\n"
              "\n"
              "Checks libvirt, acceleration, the base image, libguestfs and its appliance's\n"
              "kernel (the host's own or one setup-host unpacked), QEMU's access to the\n"
              "state directory and the base image, and disk space.  With `serve` and the\n"
              "service's flags (as in its unit's ExecStart), also the service's configuration:\n"
              "the token file (0600, ours, >= 16 characters), --state-dir, every --allow-root,\n"
              "the --socket-group; the state directory checked is the service's.\n"
              "Exit status 0 when every check passes, 1 otherwise, 2 for bad flags.\n",
              f);
}

int cmd_doctor(int argc, char **argv)
{
        cli_serve_args sa;
        bool service = false;
        vs_config cfg, *c = &cfg;
        vs_error err = { 0 };
        char why[256], detail[512];
        vs_accel accel;

        if (argc > 1 && strcmp(argv[1], "serve") == 0) {
                int r = cli_parse_serve_args(argc - 1, argv + 1, &sa);
                if (r != 0)
                        return r < 0 ? 0 : r;
                service = true;
                c = &sa.cfg;
        } else if (argc > 1) {
                bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
                doctor_usage(help ? stdout : stderr);
                return help ? 0 : EXIT_USAGE;
        } else if (vs_config_load(&cfg, &err) < 0)
                return cli_fail(&err);
        setvbuf(stdout, NULL, _IOLBF, 0); /* each verdict as soon as it is known */
        check_host();
        check_libvirt(c);
        accel = vs_accel_resolve(c->accel, why, sizeof(why));
        snprintf(detail, sizeof(detail), "%s: %s", vs_accel_name(accel), why);
        report(true, "accel", detail, NULL);
        check_base_image(c);
        if (vs_disk_selftest(accel, &err) < 0)
                report(false, "libguestfs", err.msg, "apt-get install libguestfs-tools; scripts/setup-host --appliance; run libguestfs-test-tool");
        else
                report(true, "libguestfs", "appliance starts", NULL);
        check_appliance_kernel();
        if (service)
                check_service(&sa);
        check_qemu_access(c);
        check_space(c);
        if (service)
                cli_serve_args_clear(&sa);
        else
                vs_config_clear(&cfg);
        printf("%s\n", failures ? "some checks failed" : "all checks passed");
        return failures ? 1 : 0;
}
