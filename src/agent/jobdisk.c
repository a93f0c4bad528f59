/* Waiting for the job disk.  The host may start the VM before the job disk
 * is written (pipeline.c: prepare and boot overlap) and hot-plug it once
 * its appliance is gone; the kernel then adds the virtio-blk device and
 * devtmpfs makes its node.  The agent polls for the node, a short sleep at
 * a time, until the bound the host put on the kernel command line (what
 * was left of the job's --timeout).  A disk attached at boot is there at
 * the first look. */
#include "agent.h"
#include "clock.h"
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t jobdisk_wait_ms(const char *cmdline)
{
        static const char key[] = VS_CMDLINE_DISK_WAIT "=";
        const char *p = cmdline;

        /* The last word that sets it counts (as for the kernel's own). */
        uint64_t ms = JOBDISK_WAIT_DEFAULT_MS;
        while (p && (p = strstr(p, key))) {
                bool word = p == cmdline || p[-1] == ' ';
                const char *v = p + sizeof(key) - 1;
                char *end;
                unsigned long long s;

                p = v;
                if (!word || *v < '0' || *v > '9')
                        continue;
                errno = 0;
                s = strtoull(v, &end, 10);
                if (errno || (*end && *end != ' ' && *end != '\n'))
                        continue;
                ms = s > JOBDISK_WAIT_MAX_MS / 1000 ? JOBDISK_WAIT_MAX_MS : s * 1000;
        }
        return ms;
}

int jobdisk_wait(const char *path, mode_t type, uint64_t timeout_ms, uint64_t *ret_waited_ms, vs_error *err)
{
        uint64_t start = vs_mono_ms();
        struct stat st;

        for (;;) {
                uint64_t now;

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
                poll(NULL, 0, (int)(timeout_ms - (now - start) < JOBDISK_POLL_MS ? timeout_ms - (now - start)
                                                                                  : JOBDISK_POLL_MS));
        }
}

int jobdisk_wait_boot(uint64_t *ret_waited_ms, vs_error *err)
{
        char cmdline[4096];
        int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, cmdline, sizeof(cmdline) - 1) : -1;

        if (fd >= 0)
                close(fd);
        cmdline[n > 0 ? n : 0] = '\0';
        return jobdisk_wait(VS_JOB_DEV, S_IFBLK, jobdisk_wait_ms(cmdline), ret_waited_ms, err);
}
