/* The job disk's arrival.  The host may start the VM before the job disk is
 * written (pipeline.c: prepare and boot overlap) and hot-plug it once its
 * appliance is gone; the kernel then adds the virtio-blk device and devtmpfs
 * makes its node.  The agent polls for the node, a short sleep at a time,
 * until the bound the host put on the kernel command line (what was left of
 * the job's --timeout).  A disk attached at boot is there at the first look.
 *
 * Meanwhile the engine starts (main.c), when the command line names the
 * job's network.  Its log, /job/out/dockerd.log, then lives on the root file
 * system's /job/out, under the mount point (jobdisk_stage_log); the job
 * disk, once mounted, hides it, and jobdisk_keep_log copies it onto the job
 * disk at the end, through a directory fd opened before the mount. */
#include "agent.h"
#include "cleanup.h"
#include "clock.h"
#include "io.h"
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The value of the last whole word "key=VALUE" (as for the kernel's own
 * parameters, the last one counts); NULL when there is none. */
static const char *cmdline_value(const char *cmdline, const char *key, size_t *ret_len)
{
        size_t klen = strlen(key);
        const char *found = NULL;

        for (const char *p = cmdline; p && (p = strstr(p, key)); p += klen) {
                if ((p != cmdline && p[-1] != ' ') || p[klen] != '=')
                        continue;
                found = p + klen + 1;
                *ret_len = strcspn(found, " \n");
        }
        return found;
}

uint64_t jobdisk_wait_ms(const char *cmdline)
{
        size_t len = 0;
        const char *v = cmdline_value(cmdline, VS_CMDLINE_DISK_WAIT, &len);
        char digits[24];
        char *end;
        unsigned long long s;

        if (!v || len == 0 || len >= sizeof(digits) || strspn(v, "0123456789") != len)
                return JOBDISK_WAIT_DEFAULT_MS;
        memcpy(digits, v, len);
        digits[len] = '\0';
        errno = 0;
        s = strtoull(digits, &end, 10);
        if (errno)
                return JOBDISK_WAIT_DEFAULT_MS;
        return s > JOBDISK_WAIT_MAX_MS / 1000 ? JOBDISK_WAIT_MAX_MS : s * 1000;
}

int jobdisk_net(const char *cmdline, bool *ret_nat)
{
        size_t len = 0;
        const char *v = cmdline_value(cmdline, VS_CMDLINE_NET, &len);

        if (v && len == 3 && strncmp(v, "nat", 3) == 0)
                *ret_nat = true;
        else if (v && len == 4 && strncmp(v, "none", 4) == 0)
                *ret_nat = false;
        else
                return 0;
        return 1;
}

void jobdisk_boot_read(jobdisk_boot *ret)
{
        char cmdline[4096];
        int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? vs_read_full(fd, cmdline, sizeof(cmdline) - 1) : -1;

        if (fd >= 0)
                close(fd);
        cmdline[n > 0 ? n : 0] = '\0';
        *ret = (jobdisk_boot){ .wait_ms = jobdisk_wait_ms(cmdline) };
        ret->net_known = jobdisk_net(cmdline, &ret->nat) == 1;
}

int jobdisk_wait(const char *path, mode_t type, uint64_t timeout_ms, uint64_t *ret_waited_ms, vs_error *err)
{
        uint64_t start = vs_mono_ms();
        struct stat st;

        for (;;) {
                uint64_t now, left;

                if (stat(path, &st) == 0) {
                        if ((st.st_mode & S_IFMT) != type)
                                return vs_error_set(err, VS_ERR_SANDBOX, "%s is there but not the job disk's kind of file",
                                                    path);
                        if (ret_waited_ms)
                                *ret_waited_ms = vs_mono_ms() - start;
                        return 0;
                }
                if (errno != ENOENT)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "%s", path);
                now = vs_mono_ms();
                if (now - start >= timeout_ms)
                        return vs_error_set(err, VS_ERR_SANDBOX,
                                            "the job disk %s did not come within %llu s (the host did not attach it)",
                                            path, (unsigned long long)(timeout_ms / 1000));
                left = timeout_ms - (now - start);
                poll(NULL, 0, (int)(left < JOBDISK_POLL_MS ? left : JOBDISK_POLL_MS));
        }
}

static int stage_fd = -1;

int jobdisk_stage_log(vs_error *err)
{
        if (mkdir(VS_JOB_MOUNT, 0755) < 0 && errno != EEXIST)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "mkdir " VS_JOB_MOUNT);
        if (mkdir(VS_JOB_MOUNT "/out", 0700) < 0 && errno != EEXIST)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "mkdir " VS_JOB_MOUNT "/out");
        stage_fd = open(VS_JOB_MOUNT "/out", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (stage_fd < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "open " VS_JOB_MOUNT "/out");
        return 0;
}

int jobdisk_copy_tail(int src_dir, const char *name, const char *dest, uint64_t max, vs_error *err)
{
        _cleanup_close_ int in = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int out = -1;
        char buf[65536];
        struct stat st;
        uint64_t left;

        if (in < 0)
                return errno == ENOENT ? 0 : vs_error_errno(err, VS_ERR_SANDBOX, errno, "%s", name);
        if (fstat(in, &st) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "%s", name);
        if ((uint64_t)st.st_size > max && lseek(in, st.st_size - (off_t)max, SEEK_SET) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "%s", name);
        out = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "%s", dest);
        for (left = max; left > 0;) {
                ssize_t n = read(in, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "%s", name);
                if (n == 0)
                        break;
                if (vs_write_full(out, buf, (size_t)n) < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "%s", dest);
                left -= (uint64_t)n;
        }
        return 0;
}

void jobdisk_keep_log(void)
{
        vs_error err = { 0 };

        if (stage_fd < 0)
                return;
        if (jobdisk_copy_tail(stage_fd, "dockerd.log", VS_JOB_MOUNT "/out/dockerd.log", JOBDISK_LOG_MAX, &err) < 0)
                channel_log("dockerd.log: %s", err.msg);
}
