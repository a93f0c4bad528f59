/* Guest set-up (mounts, modules, root fs, network) and power-off. */
#include "agent.h"
#include "cleanup.h"
#include "io.h"
#include "protocol.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

static void mount_one(const char *src, const char *target, const char *type, unsigned long flags,
                      const char *data)
{
        if (mkdir(target, 0755) < 0 && errno != EEXIST)
                fprintf(stderr, AGENT_LOG_PREFIX "mkdir %s: %s\n", target, strerror(errno));
        if (mount(src, target, type, flags, data) < 0 && errno != EBUSY)
                fprintf(stderr, AGENT_LOG_PREFIX "mount %s on %s: %s\n", type, target, strerror(errno));
}

void system_mount_basics(void)
{
        const unsigned long nosuid = MS_NOSUID | MS_NODEV | MS_NOEXEC;

        mount_one("proc", "/proc", "proc", nosuid, NULL);
        mount_one("sysfs", "/sys", "sysfs", nosuid, NULL);
        mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
        mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=620,ptmxmode=666");
        mount_one("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
        mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
        mount_one("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
        mount_one("cgroup2", "/sys/fs/cgroup", "cgroup2", nosuid, NULL);
        if (mount(NULL, "/", NULL, MS_REMOUNT, NULL) < 0)
                fprintf(stderr, AGENT_LOG_PREFIX "remount / rw: %s\n", strerror(errno));
}

void system_load_modules(const char *const *mods)
{
        char *argv[32] = { "/sbin/modprobe", "-a" };
        size_t n = 2;
        spawn_result r;
        vs_error err = { 0 };

        for (; *mods && n < 31; mods++)
                argv[n++] = (char *)*mods;
        argv[n] = NULL;
        if (spawn_wait(argv, false, STDERR_FILENO, &r, &err) < 0)
                fprintf(stderr, AGENT_LOG_PREFIX "%s\n", err.msg);
        else if (r.status != 0)
                fprintf(stderr, AGENT_LOG_PREFIX "modprobe failed with status %d\n", r.status);
}

int system_mount_job(vs_error *err)
{
        if (mkdir(VS_JOB_MOUNT, 0755) < 0 && errno != EEXIST)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "mkdir " VS_JOB_MOUNT);
        if (mount(VS_JOB_DEV, VS_JOB_MOUNT, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "mount job disk " VS_JOB_DEV);
        /* What the agent writes there (result.json, dockerd.log, image.tar)
         * is for the host only. */
        if (mkdir(VS_JOB_MOUNT "/out", 0700) < 0 && errno != EEXIST)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "mkdir " VS_JOB_MOUNT "/out");
        return 0;
}

/* The host gives the root overlay room beyond the base filesystem (the job's
 * --disk); an online resize makes it usable for image layers. */
void system_grow_root(void)
{
        char *argv[] = { "/sbin/resize2fs", "/dev/vda", NULL };
        spawn_result r;
        vs_error err = { 0 };

        /* stdout captured and dropped: resize2fs is chatty on success. */
        if (spawn_wait(argv, true, STDERR_FILENO, &r, &err) < 0) {
                channel_log("%s; the root filesystem keeps its size", err.msg);
                return;
        }
        free(r.out);
        if (r.status != 0)
                channel_log("resize2fs /dev/vda failed (status %d); the root filesystem keeps its size", r.status);
}

static int run_ip(char *const argv[], vs_error *err)
{
        spawn_result r;

        if (spawn_wait(argv, false, STDERR_FILENO, &r, err) < 0)
                return -1;
        if (r.status != 0)
                return vs_error_set(err, VS_ERR_SANDBOX, "ip %s %s %s failed with status %d", argv[1], argv[2],
                                    argv[3] ? argv[3] : "", r.status);
        return 0;
}

/* The job's one NIC, whatever it is called (the initramfs' udev may have
 * renamed eth0, e.g. to ens2): the first interface backed by a device.
 * Polled for at most 10 s. */
static int find_nic(char *name, size_t len, vs_error *err)
{
        for (int i = 0; i < 100; i++) {
                _cleanup_closedir_ DIR *d = opendir("/sys/class/net");
                struct dirent *e;

                while (d && (e = readdir(d))) {
                        char dev[300];

                        snprintf(dev, sizeof(dev), "/sys/class/net/%s/device", e->d_name);
                        if (e->d_name[0] != '.' && strlen(e->d_name) < len && access(dev, F_OK) == 0) {
                                memcpy(name, e->d_name, strlen(e->d_name) + 1);
                                return 0;
                        }
                }
                usleep(100 * 1000);
        }
        return vs_error_set(err, VS_ERR_SANDBOX, "no network interface appeared within 10 s");
}

/* Loopback always; with nat, QEMU user networking's fixed addresses. */
int system_network_up(bool nat, vs_error *err)
{
        static const char resolv[] = "nameserver 10.0.2.3\n";
        char nic[64];
        char *lo[] = { "/sbin/ip", "link", "set", "lo", "up", NULL };
        char *up[] = { "/sbin/ip", "link", "set", nic, "up", NULL };
        char *addr[] = { "/sbin/ip", "addr", "add", "10.0.2.15/24", "dev", nic, NULL };
        char *route[] = { "/sbin/ip", "route", "add", "default", "via", "10.0.2.2", NULL };

        if (run_ip(lo, err) < 0)
                return -1;
        if (!nat)
                return 0;
        if (find_nic(nic, sizeof(nic), err) < 0)
                return -1;
        if (run_ip(up, err) < 0 || run_ip(addr, err) < 0 || run_ip(route, err) < 0)
                return -1;
        return vs_write_file_atomic("/etc/resolv.conf", resolv, sizeof(resolv) - 1, 0644, err);
}

_Noreturn void system_poweroff(void)
{
        sync();
        if (umount2(VS_JOB_MOUNT, 0) < 0 && errno != EINVAL)
                fprintf(stderr, AGENT_LOG_PREFIX "umount " VS_JOB_MOUNT ": %s\n", strerror(errno));
        sync();
        reboot(RB_POWER_OFF);
        /* Only reached if the kernel refused: the host's timeout ends the VM. */
        fprintf(stderr, AGENT_LOG_PREFIX "power-off failed: %s\n", strerror(errno));
        for (;;)
                pause();
}
