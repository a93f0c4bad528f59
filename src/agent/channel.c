#include "agent.h"
#include "protocol.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int channel_fd = -1;

/* virtio-serial ports show up as /sys/class/virtio-ports/vportNpM/name;
 * there is no udev here, so find ours by name. */
int channel_open(void)
{
        DIR *d = opendir("/sys/class/virtio-ports");
        struct dirent *e;

        if (!d)
                return -1;
        while ((e = readdir(d))) {
                char path[512], name[128] = "";
                FILE *f;

                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
                f = fopen(path, "re");
                if (!f)
                        continue;
                if (fgets(name, sizeof(name), f))
                        name[strcspn(name, "\n")] = '\0';
                fclose(f);
                if (strcmp(name, VS_CHANNEL_NAME) == 0) {
                        snprintf(path, sizeof(path), "/dev/%s", e->d_name);
                        channel_fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
                        break;
                }
        }
        closedir(d);
        return channel_fd < 0 ? -1 : 0;
}

static void write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;
                p += n;
                len -= (size_t)n;
        }
}

void channel_send(char type, const void *data, size_t len)
{
        while (len > 0) {
                size_t chunk = len > VS_FRAME_MAX ? VS_FRAME_MAX : len;
                unsigned char h[VS_FRAME_HEADER] = { (unsigned char)type, (unsigned char)(chunk >> 24),
                                                     (unsigned char)(chunk >> 16), (unsigned char)(chunk >> 8),
                                                     (unsigned char)chunk };
                if (channel_fd >= 0) {
                        write_all(channel_fd, h, sizeof(h));
                        write_all(channel_fd, data, chunk);
                }
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

uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Records a phase boundary in result.json and tells the host at once. */
void phase_mark(json_t *phases, const char *name, int start)
{
        uint64_t t = now_ms();
        char msg[128];
        json_t *p = json_object_get(phases, name);
        int n;

        if (!p) {
                p = json_object();
                json_object_set_new(phases, name, p);
        }
        json_object_set_new(p, start ? "start_ms" : "end_ms", json_integer((json_int_t)t));
        n = snprintf(msg, sizeof(msg), "%s %s %llu", name, start ? "start" : "end", (unsigned long long)t);
        channel_send(VS_FRAME_PHASE, msg, (size_t)n);
}
