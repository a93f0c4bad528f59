/* The collect child: an appliance reads the job disk and streams what the
 * parent asks for (collect.h lists the frames).  Runs after the privilege
 * drop; checks here only save work, the parent checks everything again. */
#include "collect.h"
#include "cleanup.h"
#include "disk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PREAD_CHUNK (1u << 20)
#define REQ_MAX (8 + VS_COLLECT_NAME_MAX + 64)

static void strv_free(char ***v)
{
        if (*v) {
                for (char **p = *v; *p; p++)
                        free(*p);
                free(*v);
        }
}

static void statns_free(struct guestfs_statns **s)
{
        if (*s)
                guestfs_free_statns(*s);
}

static void put_u32(char *p, uint32_t v)
{
        for (int i = 3; i >= 0; i--, v >>= 8)
                p[i] = (char)(v & 0xff);
}

static void put_u64(char *p, uint64_t v)
{
        for (int i = 7; i >= 0; i--, v >>= 8)
                p[i] = (char)(v & 0xff);
}

static int send_error(int chan, vs_error *err)
{
        vs_chan_write_error(chan, err);
        return 0; /* reported: the parent decides */
}

static int fail(int chan, guestfs_h *g, const char *what)
{
        vs_error err = { 0 };

        vs_disk_error(g, &err, what);
        return send_error(chan, &err);
}

/* size bytes of remote from offset from as 'd' frames, then 'E'; -1 only
 * when the channel broke. */
static int stream(int chan, guestfs_h *g, const char *remote, uint64_t from, uint64_t size)
{
        for (uint64_t off = from; off < from + size;) {
                size_t want = from + size - off < PREAD_CHUNK ? (size_t)(from + size - off) : PREAD_CHUNK;
                _cleanup_free_ char *data = NULL;
                size_t got = 0;

                data = guestfs_pread(g, remote, (int)want, (int64_t)off, &got);
                if (!data)
                        return fail(chan, g, remote);
                if (got == 0) {
                        vs_error err = { 0 };
                        vs_error_set(&err, VS_ERR_SANDBOX, "guest %s shrank while being read", remote);
                        return send_error(chan, &err);
                }
                for (size_t done = 0; done < got; done += VS_CHAN_MAX) {
                        size_t n = got - done < VS_CHAN_MAX ? got - done : VS_CHAN_MAX;
                        if (vs_chan_write(chan, 'd', data + done, n) < 0)
                                return -1;
                }
                off += got;
        }
        return vs_chan_write(chan, 'E', NULL, 0);
}

/* 'G': the whole file when it is at most max bytes, else an error.  'H'
 * (tail): the file's size, then its last max bytes at most: a log over its
 * cap keeps its end, where the failure is. */
static int serve_get(int chan, guestfs_h *g, uint64_t max, const char *remote, bool tail)
{
        _cleanup_(statns_free) struct guestfs_statns *st = NULL;
        char size[8];
        vs_error err = { 0 };

        if (guestfs_exists(g, remote) <= 0)
                return vs_chan_write(chan, 'N', NULL, 0);
        st = guestfs_lstatns(g, remote);
        if (!st)
                return fail(chan, g, remote);
        if (!S_ISREG(st->st_mode) || st->st_size < 0) {
                vs_error_set(&err, VS_ERR_SANDBOX, "guest %s is not a regular file", remote);
                return send_error(chan, &err);
        }
        if (!tail && (uint64_t)st->st_size > max) {
                vs_error_set(&err, VS_ERR_SANDBOX, "guest %s is %lld bytes, over the %llu-byte limit", remote,
                             (long long)st->st_size, (unsigned long long)max);
                return send_error(chan, &err);
        }
        put_u64(size, (uint64_t)st->st_size);
        if (vs_chan_write(chan, 'S', size, sizeof(size)) < 0)
                return -1;
        if (tail && (uint64_t)st->st_size > max)
                return stream(chan, g, remote, (uint64_t)st->st_size - max, max);
        return stream(chan, g, remote, 0, (uint64_t)st->st_size);
}

/* One entry of a tree; 1 when an error was reported (the tree ends). */
static int serve_entry(int chan, guestfs_h *g, const char *remote, const char *rel)
{
        _cleanup_(statns_free) struct guestfs_statns *st = guestfs_lstatns(g, remote);
        char frame[12 + VS_COLLECT_NAME_MAX + 1];
        size_t rlen = strlen(rel);
        int r;

        if (!st)
                return fail(chan, g, remote) < 0 ? -1 : 1;
        put_u32(frame, (uint32_t)st->st_mode);
        if (S_ISDIR(st->st_mode)) {
                memcpy(frame + 4, rel, rlen);
                return vs_chan_write(chan, 'D', frame, 4 + rlen);
        }
        if (S_ISREG(st->st_mode)) {
                put_u64(frame + 4, st->st_size < 0 ? 0 : (uint64_t)st->st_size);
                memcpy(frame + 12, rel, rlen);
                if (vs_chan_write(chan, 'F', frame, 12 + rlen) < 0)
                        return -1;
                return stream(chan, g, remote, 0, st->st_size < 0 ? 0 : (uint64_t)st->st_size);
        }
        if (S_ISLNK(st->st_mode)) {
                _cleanup_free_ char *target = guestfs_readlink(g, remote);
                _cleanup_free_ char *buf = NULL;
                size_t tlen;

                if (!target)
                        return fail(chan, g, remote) < 0 ? -1 : 1;
                tlen = strlen(target);
                if (tlen > 4096) {
                        vs_error err = { 0 };
                        vs_error_set(&err, VS_ERR_SANDBOX, "bad symlink in the workspace");
                        return send_error(chan, &err) < 0 ? -1 : 1;
                }
                buf = malloc(rlen + 1 + tlen);
                if (!buf)
                        return -1;
                memcpy(buf, rel, rlen + 1);
                memcpy(buf + rlen + 1, target, tlen);
                r = vs_chan_write(chan, 'L', buf, rlen + 1 + tlen);
                return r;
        }
        return vs_chan_write(chan, 'O', NULL, 0);
}

static int serve_tree(int chan, guestfs_h *g, uint64_t max_entries, const char *dir)
{
        _cleanup_(strv_free) char **names = guestfs_find(g, dir);
        char remote[2 * VS_COLLECT_NAME_MAX + 64];

        if (!names)
                return fail(chan, g, "listing the workspace");
        /* One past the cap, so that the parent sees the cap exceeded. */
        for (uint64_t i = 0; names[i] && i <= max_entries; i++) {
                const char *rel = names[i][0] == '/' ? names[i] + 1 : names[i];
                int r;

                if (!vs_collect_name_ok(rel)) {
                        vs_error err = { 0 };
                        vs_error_set(&err, VS_ERR_SANDBOX, "workspace has an unsafe name \"%.200s\"", rel);
                        return send_error(chan, &err);
                }
                snprintf(remote, sizeof(remote), "%s/%s", dir, rel);
                r = serve_entry(chan, g, remote, rel);
                if (r != 0)
                        return r < 0 ? -1 : 0;
        }
        return vs_chan_write(chan, 'E', NULL, 0);
}

int vs_collect_serve(void *arg, int chan)
{
        const vs_collect_child_arg *a = arg;
        _cleanup_guestfs_ guestfs_h *g = NULL;
        vs_error err = { 0 };
        char req[REQ_MAX + 1];

        if (vs_disk_open_ro(a->disk, a->appliance, &g, &err) < 0) {
                vs_chan_write_error(chan, &err);
                return -1;
        }
        if (vs_chan_write(chan, 'R', NULL, 0) < 0)
                return -1;
        for (;;) {
                char type;
                size_t len;
                int r;

                if (vs_chan_read(chan, &type, req, REQ_MAX, &len) < 0)
                        return -1;
                if (type == 'Q')
                        break;
                if (len < 8)
                        return -1;
                req[len] = '\0';
                if (strlen(req + 8) != len - 8)
                        return -1;
                uint64_t n = 0;
                for (int i = 0; i < 8; i++)
                        n = n << 8 | (unsigned char)req[i];
                if (type == 'G' || type == 'H')
                        r = serve_get(chan, g, n, req + 8, type == 'H');
                else if (type == 'T')
                        r = serve_tree(chan, g, n, req + 8);
                else
                        return -1;
                if (r < 0)
                        return -1;
        }
        if (guestfs_shutdown(g) < 0) {
                vs_disk_error(g, &err, "closing the job disk");
                vs_chan_write_error(chan, &err);
                return -1;
        }
        return vs_chan_write(chan, 'K', NULL, 0);
}
