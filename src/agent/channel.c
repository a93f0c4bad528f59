/* The progress port to the host: frames of protocol.h. */
#include "agent.h"
#include "alloc.h"
#include "cleanup.h"
#include "clock.h"
#include "io.h"
#include "protocol.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int channel_fd = -1;

/* The name file of one port; "" when it cannot be read. */
static void port_name(const char *port, char *name, size_t len)
{
        char path[512];
        _cleanup_fclose_ FILE *f = NULL;

        name[0] = '\0';
        snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", port);
        f = fopen(path, "re");
        if (f && fgets(name, (int)len, f))
                name[strcspn(name, "\n")] = '\0';
}

/* virtio-serial ports show up as /sys/class/virtio-ports/vportNpM/name;
 * there is no udev here, so find ours by name. */
int channel_open(vs_error *err)
{
        _cleanup_closedir_ DIR *d = opendir("/sys/class/virtio-ports");
        struct dirent *e;

        if (!d)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "no virtio-serial ports");
        while ((e = readdir(d))) {
                char name[128], path[512];

                if (e->d_name[0] == '.')
                        continue;
                port_name(e->d_name, name, sizeof(name));
                if (strcmp(name, VS_CHANNEL_NAME) != 0)
                        continue;
                snprintf(path, sizeof(path), "/dev/%s", e->d_name);
                channel_fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
                if (channel_fd < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot open %s", path);
                return 0;
        }
        return vs_error_set(err, VS_ERR_SANDBOX, "no virtio-serial port named %s", VS_CHANNEL_NAME);
}

/* A frame that could not be written whole leaves the host's reader in the
 * middle of one: nothing sent after it could be framed right, so the
 * channel is closed (the host then sees EOF) and the console says why. */
static void channel_write(const void *buf, size_t len)
{
        if (channel_fd < 0 || vs_write_full(channel_fd, buf, len) == 0)
                return;
        fprintf(stderr, AGENT_LOG_PREFIX "progress channel: %s; no more live output\n", strerror(errno));
        channel_fd = vs_safe_close(channel_fd);
}

void channel_send(char type, const void *data, size_t len)
{
        while (len > 0 && channel_fd >= 0) {
                size_t chunk = len > VS_FRAME_MAX ? VS_FRAME_MAX : len;
                unsigned char h[VS_FRAME_HEADER] = { (unsigned char)type, (unsigned char)(chunk >> 24),
                                                     (unsigned char)(chunk >> 16), (unsigned char)(chunk >> 8),
                                                     (unsigned char)chunk };

                channel_write(h, sizeof(h));
                channel_write(data, chunk);
                data = (const char *)data + chunk;
                len -= chunk;
        }
}

void channel_log(const char *fmt, ...)
{
        char buf[2048];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t)n >= sizeof(buf))
                n = sizeof(buf) - 1;
        fprintf(stderr, AGENT_LOG_PREFIX "%s\n", buf); /* the serial console */
        channel_send(VS_FRAME_LOG, buf, (size_t)n);
}

/* Records a phase boundary in result.json and tells the host at once. */
void phase_mark(json_t *phases, const char *name, bool start)
{
        uint64_t t = vs_now_ms();
        char msg[128];
        json_t *p = json_object_get(phases, name);
        int n;

        if (!p) {
                p = vs_xjson(json_object());
                json_object_set_new(phases, name, p);
        }
        json_object_set_new(p, start ? "start_ms" : "end_ms", json_integer((json_int_t)t));
        n = snprintf(msg, sizeof(msg), "%s %s %llu", name, start ? "start" : "end", (unsigned long long)t);
        channel_send(VS_FRAME_PHASE, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
}
