#include "agent.h"
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
        mkdir(target, 0755);
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

        for (; *mods && n < 31; mods++)
                argv[n++] = (char *)*mods;
        argv[n] = NULL;
        if (spawn_wait(argv, 0, STDERR_FILENO, &r) < 0 || r.status != 0)
                fprintf(stderr, AGENT_LOG_PREFIX "modprobe failed\n");
}

int system_mount_job(void)
{
        mkdir(VS_JOB_MOUNT, 0755);
        if (mount(VS_JOB_DEV, VS_JOB_MOUNT, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0) {
                fprintf(stderr, AGENT_LOG_PREFIX "mount job disk: %s\n", strerror(errno));
                return -1;
        }
        mkdir(VS_JOB_MOUNT "/out", 0755);
        return 0;
}

/* The host gives the root overlay room beyond the base filesystem (the job's
 * --disk); an online resize makes it usable for image layers. */
void system_grow_root(void)
{
        char *argv[] = { "/sbin/resize2fs", "/dev/vda", NULL };
        spawn_result r;

        if (spawn_wait(argv, 1, STDERR_FILENO, &r) < 0 || r.status != 0)
                channel_log("resize2fs /dev/vda failed (status %d); the root filesystem keeps its size", r.status);
        free(r.out);
}

static int run_ip(char *const argv[])
{
        spawn_result r;

        if (spawn_wait(argv, 0, STDERR_FILENO, &r) < 0 || r.status != 0) {
                channel_log("%s %s %s failed", argv[1], argv[2], argv[3] ? argv[3] : "");
                return -1;
        }
        return 0;
}

/* The job's one NIC, whatever it is called (the initramfs' udev may have
 * renamed eth0, e.g. to ens2): the first interface backed by a device. */
static int find_nic(char *name, size_t len)
{
        for (int i = 0; i < 100; i++) {
                DIR *d = opendir("/sys/class/net");
                struct dirent *e;
                int found = 0;

                while (d && !found && (e = readdir(d))) {
                        char dev[300];
                        snprintf(dev, sizeof(dev), "/sys/class/net/%s/device", e->d_name);
                        if (e->d_name[0] != '.' && strlen(e->d_name) < len && access(dev, F_OK) == 0) {
                                memcpy(name, e->d_name, strlen(e->d_name) + 1);
                                found = 1;
                        }
                }
                if (d)
                        closedir(d);
                if (found)
                        return 0;
                usleep(100 * 1000);
        }
        channel_log("no network interface appeared within 10 s");
        return -1;
}

/* Loopback always; with nat, QEMU user networking's fixed addresses. */
int system_network_up(int nat)
{
        char nic[64];
        char *lo[] = { "/sbin/ip", "link", "set", "lo", "up", NULL };
        char *up[] = { "/sbin/ip", "link", "set", nic, "up", NULL };
        char *addr[] = { "/sbin/ip", "addr", "add", "10.0.2.15/24", "dev", nic, NULL };
        char *route[] = { "/sbin/ip", "route", "add", "default", "via", "10.0.2.2", NULL };
        FILE *f;

        if (run_ip(lo) < 0)
                return -1;
        if (!nat)
                return 0;
        if (find_nic(nic, sizeof(nic)) < 0)
                return -1;
        if (run_ip(up) < 0 || run_ip(addr) < 0 || run_ip(route) < 0)
                return -1;
        f = fopen("/etc/resolv.conf", "we");
        if (f) {
                fputs("nameserver 10.0.2.3\n", f);
                fclose(f);
        }
        return 0;
}

void system_poweroff(void)
{
        sync();
        umount2(VS_JOB_MOUNT, 0);
        sync();
        reboot(RB_POWER_OFF);
        for (;;)
                pause();
}
