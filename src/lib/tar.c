#include "tar.h"
#include "alloc.h"
#include "cleanup.h"
#include "text.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 512
#define META_MAX (1u << 20)   /* one pax or GNU long-name payload */
#define META_CHAIN_MAX 8      /* meta headers in a row (x, g, L, K) before one entry */

void vs_tar_reader_init(vs_tar_reader *r, int fd, uint64_t base, uint64_t length)
{
        r->fd = fd;
        r->base = base;
        r->end = base + length;
        r->pos = 0;
        r->headers = 0;
        r->max_headers = VS_TAR_MAX_ENTRIES;
}

static uint64_t archive_len(const vs_tar_reader *r)
{
        return r->end - r->base;
}

static int read_exact(vs_tar_reader *r, uint64_t off, void *buf, size_t len, vs_error *err)
{
        size_t done = 0;

        if (off > archive_len(r) || len > archive_len(r) - off)
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

/* A numeric header field.  Octal: leading spaces, digits, then only spaces
 * or NULs (an all-NUL field is 0).  GNU tar stops at the first byte after the
 * digits while Go's archive/tar trims and requires the rest to be empty, and
 * a leading NUL is 0 to GNU tar but not to Go: anything on which they could
 * differ is refused.  Base-256 (first byte exactly 0x80, for values >= 8 GiB)
 * up to INT64_MAX; negative (0xff) values are refused. */
static int parse_number(const unsigned char *f, size_t len, uint64_t *ret)
{
        uint64_t v = 0;
        size_t i = 0;

        if (f[0] & 0x80) {
                if (f[0] != 0x80)
                        return -1;
                for (i = 1; i < len; i++) {
                        if (v >> 55)
                                return -1;
                        v = v << 8 | f[i];
                }
                *ret = v;
                return 0;
        }
        while (i < len && f[i] == ' ')
                i++;
        if (i < len && f[i] == '\0') {
                for (; i < len; i++)
                        if (f[i] != '\0')
                                return -1;
                *ret = 0;
                return 0;
        }
        if (i == len || f[i] < '0' || f[i] > '7')
                return -1;
        for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
                if (v >> 60)
                        return -1;
                v = v << 3 | (uint64_t)(f[i] - '0');
        }
        for (; i < len; i++)
                if (f[i] != ' ' && f[i] != '\0')
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

/* Names are never cut: a checker that looked at a truncated name would pass
 * something other than what the extractor sees. */
static int set_name(char *dst, const char *name, size_t len, vs_error *err)
{
        if (len > VS_TAR_NAME_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "tar entry name longer than %d bytes", VS_TAR_NAME_MAX);
        memcpy(dst, name, len);
        dst[len] = '\0';
        return 0;
}

/* What the meta headers before one entry said. */
typedef struct {
        bool pax;        /* an 'x' header was seen */
        bool pax_name, pax_size, pax_link;
        bool long_name, long_link;
} pending;

/* A pax "size": plain decimal, up to INT64_MAX (Go's ParseInt). */
static int parse_pax_size(const char *v, size_t len, uint64_t *ret)
{
        uint64_t n = 0;

        if (len == 0 || len > 19)
                return -1;
        for (size_t i = 0; i < len; i++) {
                if (v[i] < '0' || v[i] > '9')
                        return -1;
                n = n * 10 + (uint64_t)(v[i] - '0');
        }
        if (n > INT64_MAX)
                return -1;
        *ret = n;
        return 0;
}

static bool key_is(const char *key, size_t klen, const char *want)
{
        return klen == strlen(want) && memcmp(key, want, klen) == 0;
}

/* One pax record "k=v": path, linkpath and size are taken.  GNU.sparse.*
 * records rename or resize the entry in GNU tar and in Go: refused, as are
 * NUL bytes in path or linkpath (Go refuses them, GNU tar would cut there). */
static int pax_apply(const char *key, size_t klen, const char *val, size_t vlen, vs_tar_entry *e, pending *p,
                     vs_error *err)
{
        if (klen >= 11 && memcmp(key, "GNU.sparse.", 11) == 0)
                return vs_error_set(err, VS_ERR_INPUT, "sparse files in tar archives are not supported");
        if (key_is(key, klen, "path") || key_is(key, klen, "linkpath")) {
                bool path = klen == 4;

                if (memchr(val, '\0', vlen) || (path && vlen == 0))
                        return vs_error_set(err, VS_ERR_INPUT, "corrupt tar archive (bad pax %s)", path ? "path" : "linkpath");
                if (set_name(path ? e->name : e->linkname, val, vlen, err) < 0)
                        return -1;
                *(path ? &p->pax_name : &p->pax_link) = true;
        } else if (key_is(key, klen, "size")) {
                if (parse_pax_size(val, vlen, &e->size) < 0)
                        return vs_error_set(err, VS_ERR_INPUT, "corrupt tar archive (bad pax size)");
                p->pax_size = true;
        }
        return 0;
}

/* pax records: "<len> <key>=<value>\n", len counting the whole record. */
static int parse_pax(const char *buf, size_t len, vs_tar_entry *e, pending *p, vs_error *err)
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
                        return vs_error_set(err, VS_ERR_INPUT, "corrupt tar archive (bad pax header)");
                key = buf + off + digits + 1;
                eq = memchr(key, '=', rec - digits - 1 - 1);
                if (!eq || eq == key || buf[off + rec - 1] != '\n')
                        return vs_error_set(err, VS_ERR_INPUT, "corrupt tar archive (bad pax header)");
                val = eq + 1;
                if (pax_apply(key, (size_t)(eq - key), val, (size_t)(buf + off + rec - 1 - val), e, p, err) < 0)
                        return -1;
                off += rec;
        }
        return 0;
}

/* Reads a meta entry's (pax or GNU long name) payload into a bounded buffer. */
static int read_meta(vs_tar_reader *r, uint64_t off, uint64_t size, char **ret, vs_error *err)
{
        _cleanup_free_ char *buf = NULL;

        if (size > META_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "tar extended header too large (%llu bytes)",
                                    (unsigned long long)size);
        buf = vs_xmalloc(size + 1);
        if (read_exact(r, off, buf, size, err) < 0)
                return -1;
        buf[size] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

/* A global pax header ('g'): Go's archive/tar (docker) ignores it, GNU tar
 * (libguestfs' tar-in) applies it to every later entry.  Only records that
 * change nothing checked here (comment=, mtime= ...) are accepted. */
static int global_pax(const char *buf, size_t len, vs_error *err)
{
        vs_tar_entry scratch;
        pending p = { 0 };

        if (parse_pax(buf, len, &scratch, &p, err) < 0)
                return -1;
        if (p.pax_name || p.pax_size || p.pax_link)
                return vs_error_set(err, VS_ERR_INPUT, "a global pax header sets path, linkpath or size");
        return 0;
}

/* x, g, L or K.  Go lets a GNU long name beat a pax path, GNU tar the other
 * way round; two headers of one kind are merged differently too: refused. */
static int meta_entry(vs_tar_reader *r, char type, uint64_t data, uint64_t size, vs_tar_entry *e, pending *p,
                      vs_error *err)
{
        _cleanup_free_ char *meta = NULL;

        if (read_meta(r, data, size, &meta, err) < 0)
                return -1;
        switch (type) {
        case 'x':
                if (p->pax)
                        return vs_error_set(err, VS_ERR_INPUT, "two pax headers for one tar entry");
                p->pax = true;
                if (parse_pax(meta, size, e, p, err) < 0)
                        return -1;
                break;
        case 'g':
                return global_pax(meta, size, err);
        case 'L':
        case 'K': {
                bool name = type == 'L';
                size_t len = strnlen(meta, size);

                if (name ? p->long_name : p->long_link)
                        return vs_error_set(err, VS_ERR_INPUT, "two GNU long %s headers for one tar entry",
                                            name ? "name" : "link");
                /* Go cuts a long name at its first NUL, GNU tar does not
                 * (found by tests/fuzz/tar-diff): only trailing NULs. */
                for (size_t i = len; i < size; i++)
                        if (meta[i] != '\0')
                                return vs_error_set(err, VS_ERR_INPUT, "NUL inside a GNU long %s", name ? "name" : "link");
                /* Without a NUL inside its size, GNU tar reads the name on
                 * into the block's padding up to a NUL there, Go stops at the
                 * size (tar-diff again): the padding must start with NUL. */
                if (len == size && size % 512 != 0) {
                        char pad;
                        if (read_exact(r, data + size, &pad, 1, err) < 0)
                                return -1;
                        if (pad != '\0')
                                return vs_error_set(err, VS_ERR_INPUT, "GNU long %s runs on past its size",
                                                    name ? "name" : "link");
                }
                /* Go ignores an empty long name, GNU tar uses it. */
                if (len == 0)
                        return vs_error_set(err, VS_ERR_INPUT, "empty GNU long %s", name ? "name" : "link");
                if (set_name(name ? e->name : e->linkname, meta, len, err) < 0)
                        return -1;
                *(name ? &p->long_name : &p->long_link) = true;
                break;
        }
        default:
                break;
        }
        if ((p->long_name && p->pax_name) || (p->long_link && p->pax_link))
                return vs_error_set(err, VS_ERR_INPUT, "tar entry has both a pax and a GNU long %s",
                                    p->long_name && p->pax_name ? "name" : "link");
        return 0;
}

/* The name from the header itself.  The ustar prefix field is read only for
 * the exact POSIX magic "ustar\0" (old GNU headers keep times there).  With
 * star's "tar\0" trailer Go reads a 131-byte prefix and GNU tar 155 bytes:
 * a prefix longer than 130 bytes is ambiguous then. */
static int header_name(const unsigned char *h, vs_tar_entry *e, vs_error *err)
{
        char full[155 + 1 + 100];
        size_t plen = strnlen((const char *)h + 345, 155), nlen = strnlen((const char *)h, 100);

        if (memcmp(h + 257, "ustar\0", 6) != 0 || plen == 0)
                return set_name(e->name, (const char *)h, nlen, err);
        if (plen > 130 && memcmp(h + 508, "tar\0", 4) == 0)
                return vs_error_set(err, VS_ERR_INPUT, "ambiguous tar header (star trailer with a long prefix)");
        memcpy(full, h + 345, plen);
        full[plen] = '/';
        memcpy(full + plen + 1, h, nlen);
        return set_name(e->name, full, plen + 1 + nlen, err);
}

static bool header_only(char type)
{
        return type >= '1' && type <= '6';
}

/* The entry proper (not a meta header). */
static int finish_entry(vs_tar_reader *r, const unsigned char *h, uint64_t data, uint64_t raw_size,
                        vs_tar_entry *e, const pending *p, vs_error *err)
{
        size_t nlen;

        if (!p->pax_name && !p->long_name && header_name(h, e, err) < 0)
                return -1;
        if (!p->pax_link && !p->long_link)
                set_name(e->linkname, (const char *)h + 157, strnlen((const char *)h + 157, 100), err);
        if (!p->pax_size)
                e->size = raw_size;
        e->type = h[156] ? (char)h[156] : '0';
        /* Go reads no data for link, device, directory and fifo entries
         * whatever the size says, GNU tar skips it (but for directories), and
         * Go turns an old-style ('\0') entry named "x/" into a directory
         * without data: a size there would hide headers from one reader. */
        nlen = strlen(e->name);
        if ((header_only(e->type) || (nlen > 0 && e->name[nlen - 1] == '/')) && (e->size != 0 || raw_size != 0))
                return vs_error_set(err, VS_ERR_INPUT, "corrupt tar archive (data on a %s entry)",
                                    header_only(e->type) ? "link, device or directory" : "directory");
        if (e->type != '1' && e->type != '2')
                e->linkname[0] = '\0';
        if (e->size > archive_len(r) - data || (e->size + BLOCK - 1) / BLOCK * BLOCK > archive_len(r) - data)
                return vs_error_set(err, VS_ERR_INPUT, "truncated tar archive");
        e->data_offset = r->base + data;
        r->pos = data + (e->size + BLOCK - 1) / BLOCK * BLOCK;
        vs_tar_name_canon(e->name);
        return 1;
}

int vs_tar_next(vs_tar_reader *r, vs_tar_entry *e, vs_error *err)
{
        pending p = { 0 };
        unsigned metas = 0;

        for (;;) {
                unsigned char h[BLOCK];
                uint64_t size, data;
                char type;

                if (archive_len(r) - r->pos < BLOCK) {
                        if (p.pax || p.long_name || p.long_link)
                                return vs_error_set(err, VS_ERR_INPUT, "truncated tar archive (ends after an extended header)");
                        return r->pos == 0 ? vs_error_set(err, VS_ERR_INPUT, "not a tar archive (too short)") : 0;
                }
                if (++r->headers > r->max_headers)
                        return vs_error_set(err, VS_ERR_INPUT, "tar archive has more than %llu entries",
                                            (unsigned long long)r->max_headers);
                if (read_exact(r, r->pos, h, BLOCK, err) < 0)
                        return -1;
                if (all_zero(h)) {
                        if (p.pax || p.long_name || p.long_link)
                                return vs_error_set(err, VS_ERR_INPUT, "corrupt tar archive (ends after an extended header)");
                        return 0;
                }
                if (!checksum_ok(h))
                        return vs_error_set(err, VS_ERR_INPUT, "%s",
                                            r->pos == 0 ? "not a tar archive (bad header checksum)"
                                                        : "corrupt tar archive (bad header checksum)");
                if (parse_number(h + 124, 12, &size) < 0)
                        return vs_error_set(err, VS_ERR_INPUT, "corrupt tar archive (bad size field)");
                data = r->pos + BLOCK;
                type = h[156] ? (char)h[156] : '0';
                switch (type) {
                case 'x':
                case 'g':
                case 'L':
                case 'K':
                        if (++metas > META_CHAIN_MAX)
                                return vs_error_set(err, VS_ERR_INPUT, "more than %d extended headers for one tar entry",
                                                    META_CHAIN_MAX);
                        if (size > archive_len(r) - data ||
                            (size + BLOCK - 1) / BLOCK * BLOCK > archive_len(r) - data)
                                return vs_error_set(err, VS_ERR_INPUT, "truncated tar archive");
                        if (meta_entry(r, type, data, size, e, &p, err) < 0)
                                return -1;
                        r->pos = data + (size + BLOCK - 1) / BLOCK * BLOCK;
                        continue;
                case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
                        return finish_entry(r, h, data, size, e, &p, err);
                default:
                        /* GNU tar reads 'X' as pax, 'N' as old long names, 'S'
                         * as sparse; Go as plain files: refused. */
                        return vs_error_set(err, VS_ERR_INPUT, "unsupported tar entry type 0x%02x",
                                            (unsigned char)type);
                }
        }
}

void vs_tar_name_canon(char *name)
{
        char *out = name;
        const char *p = name;

        if (*p == '/')
                *out++ = *p++;
        while (*p) {
                const char *slash = strchr(p, '/');
                size_t len = slash ? (size_t)(slash - p) : strlen(p);

                if (len > 0 && !(len == 1 && p[0] == '.')) {
                        if (out > name && out[-1] != '/')
                                *out++ = '/';
                        memmove(out, p, len);
                        out += len;
                }
                p += len;
                while (*p == '/')
                        p++;
        }
        *out = '\0';
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

int vs_tar_entry_unsafe(const vs_tar_entry *e)
{
        return vs_tar_name_unsafe(e->name) || (e->type == '1' && vs_tar_name_unsafe(e->linkname));
}

int vs_tar_check(int fd, uint64_t base, uint64_t length, vs_error *err)
{
        vs_tar_reader r;
        vs_tar_entry e;
        int k;

        vs_tar_reader_init(&r, fd, base, length);
        while ((k = vs_tar_next(&r, &e, err)) > 0)
                if (vs_tar_entry_unsafe(&e)) {
                        bool link = !vs_tar_name_unsafe(e.name);
                        const char *bad = link ? e.linkname : e.name;
                        _cleanup_free_ char *shown = vs_text_for_terminal(bad, strlen(bad), 200, NULL);

                        return vs_error_set(err, VS_ERR_INPUT, "unsafe entry %s\"%s\"", link ? "(hard link to) " : "",
                                            shown);
                }
        return k;
}
