#include "tar.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 512
#define PAX_MAX (1u << 20)

void vs_tar_reader_init(vs_tar_reader *r, int fd, uint64_t base, uint64_t length)
{
        r->fd = fd;
        r->base = base;
        r->end = base + length;
        r->pos = 0;
}

static int read_exact(vs_tar_reader *r, uint64_t off, void *buf, size_t len, vs_error *err)
{
        size_t done = 0;

        if (r->base + off + len > r->end)
                return vs_error_set(err, VS_ERR_INPUT, "truncated tar archive");
        while (done < len) {
                ssize_t n = pread(r->fd, (char *)buf + done, len - done, (off_t)(r->base + off + done));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return vs_error_errno(err, VS_ERR_INPUT, errno, "cannot read archive");
                if (n == 0)
                        return vs_error_set(err, VS_ERR_INPUT, "truncated tar archive");
                done += (size_t)n;
        }
        return 0;
}

/* Octal, or GNU base-256 for sizes >= 8 GiB. */
static int parse_number(const unsigned char *f, size_t len, uint64_t *ret)
{
        uint64_t v = 0;
        size_t i = 0;

        if (f[0] & 0x80) {
                for (i = 1; i < len; i++) {
                        if (v >> 56)
                                return -1;
                        v = (v << 8) | f[i];
                }
                *ret = v;
                return 0;
        }
        while (i < len && f[i] == ' ')
                i++;
        for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
                if (v >> 61)
                        return -1;
                v = (v << 3) | (uint64_t)(f[i] - '0');
        }
        if (i < len && f[i] != ' ' && f[i] != '\0')
                return -1;
        *ret = v;
        return 0;
}

static int checksum_ok(const unsigned char *h)
{
        uint64_t want;
        unsigned long sum = 0;

        if (parse_number(h + 148, 8, &want) < 0)
                return 0;
        for (int i = 0; i < BLOCK; i++)
                sum += (i >= 148 && i < 156) ? ' ' : h[i];
        return sum == want;
}

static int all_zero(const unsigned char *h)
{
        for (int i = 0; i < BLOCK; i++)
                if (h[i])
                        return 0;
        return 1;
}

static void set_name(vs_tar_entry *e, const char *name, size_t len)
{
        if (len > VS_TAR_NAME_MAX)
                len = VS_TAR_NAME_MAX;
        memcpy(e->name, name, len);
        e->name[len] = '\0';
}

/* pax records: "<len> <key>=<value>\n".  Only path and size matter here. */
static int parse_pax(const char *buf, size_t len, vs_tar_entry *e, int *have_name, int *have_size)
{
        size_t off = 0;

        while (off < len) {
                size_t rec = 0, digits = 0;
                const char *key, *eq, *val;

                /* "<len> " in plain decimal; len counts the whole record, its
                 * own prefix included, so it must leave room for "k=\n". */
                while (off + digits < len && buf[off + digits] >= '0' && buf[off + digits] <= '9' && rec <= len) {
                        rec = rec * 10 + (size_t)(buf[off + digits] - '0');
                        digits++;
                }
                if (digits == 0 || off + digits >= len || buf[off + digits] != ' ' || rec > len - off ||
                    rec < digits + 1 + 3)
                        return -1;
                key = buf + off + digits + 1;
                eq = memchr(key, '=', rec - digits - 1 - 1);
                if (!eq || eq == key || buf[off + rec - 1] != '\n')
                        return -1;
                val = eq + 1;
                if ((size_t)(eq - key) == 4 && memcmp(key, "path", 4) == 0) {
                        set_name(e, val, (size_t)(buf + off + rec - 1 - val));
                        *have_name = 1;
                } else if ((size_t)(eq - key) == 4 && memcmp(key, "size", 4) == 0) {
                        e->size = strtoull(val, NULL, 10);
                        *have_size = 1;
                }
                off += rec;
        }
        return 0;
}

static void strip_dot_slash(vs_tar_entry *e)
{
        size_t skip = 0;

        while (e->name[skip] == '.' && e->name[skip + 1] == '/')
                skip += 2;
        if (skip)
                memmove(e->name, e->name + skip, strlen(e->name + skip) + 1);
}

/* Reads a meta entry's (pax or GNU long name) payload into a bounded buffer. */
static int read_meta(vs_tar_reader *r, uint64_t off, uint64_t size, char **ret, vs_error *err)
{
        char *buf;

        if (size > PAX_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "tar extended header too large (%llu bytes)",
                                    (unsigned long long)size);
        buf = malloc(size + 1);
        if (!buf)
                return vs_error_errno(err, VS_ERR_INPUT, ENOMEM, "reading tar header");
        if (read_exact(r, off, buf, size, err) < 0) {
                free(buf);
                return -1;
        }
        buf[size] = '\0';
        *ret = buf;
        return 0;
}

int vs_tar_next(vs_tar_reader *r, vs_tar_entry *e, vs_error *err)
{
        int have_name = 0, have_size = 0;

        for (;;) {
                unsigned char h[BLOCK];
                uint64_t size, data;
                char *meta = NULL;

                if (r->base + r->pos + BLOCK > r->end)
                        return r->pos == 0 ? vs_error_set(err, VS_ERR_INPUT, "not a tar archive (too short)") : 0;
                if (read_exact(r, r->pos, h, BLOCK, err) < 0)
                        return -1;
                if (all_zero(h))
                        return 0;
                if (!checksum_ok(h))
                        return vs_error_set(err, VS_ERR_INPUT, "%s",
                                            r->pos == 0 ? "not a tar archive (bad header checksum)"
                                                        : "corrupt tar archive (bad header checksum)");
                if (parse_number(h + 124, 12, &size) < 0)
                        return vs_error_set(err, VS_ERR_INPUT, "corrupt tar archive (bad size field)");
                data = r->pos + BLOCK;
                if (size > r->end - r->base)
                        return vs_error_set(err, VS_ERR_INPUT, "truncated tar archive");
                r->pos = data + ((size + BLOCK - 1) / BLOCK) * BLOCK;

                if (h[156] == 'x' || h[156] == 'L') {
                        if (read_meta(r, data, size, &meta, err) < 0)
                                return -1;
                        if (h[156] == 'L') {
                                set_name(e, meta, strnlen(meta, size));
                                have_name = 1;
                        } else if (parse_pax(meta, size, e, &have_name, &have_size) < 0) {
                                free(meta);
                                return vs_error_set(err, VS_ERR_INPUT, "corrupt tar archive (bad pax header)");
                        }
                        free(meta);
                        continue;
                }
                if (h[156] == 'g')
                        continue;
                if (!have_name) {
                        char full[256 + 101];
                        size_t plen = strnlen((char *)h + 345, 155), nlen = strnlen((char *)h, 100);
                        int ustar = memcmp(h + 257, "ustar", 5) == 0;

                        if (ustar && plen > 0) {
                                memcpy(full, h + 345, plen);
                                full[plen] = '/';
                                memcpy(full + plen + 1, h, nlen);
                                set_name(e, full, plen + 1 + nlen);
                        } else
                                set_name(e, (char *)h, nlen);
                }
                e->type = h[156] ? (char)h[156] : '0';
                e->data_offset = r->base + data;
                if (!have_size)
                        e->size = size;
                if (e->size > r->end - r->base)
                        return vs_error_set(err, VS_ERR_INPUT, "truncated tar archive");
                r->pos = data + ((e->size + BLOCK - 1) / BLOCK) * BLOCK;
                if (r->base + r->pos > r->end)
                        return vs_error_set(err, VS_ERR_INPUT, "truncated tar archive");
                strip_dot_slash(e);
                return 1;
        }
}

int vs_tar_name_unsafe(const char *name)
{
        const char *p = name;

        if (name[0] == '/')
                return 1;
        while (*p) {
                const char *slash = strchr(p, '/');
                size_t len = slash ? (size_t)(slash - p) : strlen(p);
                if (len == 2 && p[0] == '.' && p[1] == '.')
                        return 1;
                if (!slash)
                        break;
                p = slash + 1;
        }
        return 0;
}
