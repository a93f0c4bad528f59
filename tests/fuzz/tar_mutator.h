/* A libFuzzer custom mutator for tar input (tar walking, docker archives).
 * Random bytes never pass a header checksum, so every mutation is followed
 * by recomputing the checksum of each header block: the chain of headers
 * from offset 0, the chains inside members that are tars themselves (layers
 * of a docker archive, to depth 2), and any 512-aligned block with a ustar
 * magic.  Besides libFuzzer's own byte mutations it edits header fields
 * (size, type, names, link names, magic) and inserts pax and GNU long-name
 * headers with records that matter (path, size, linkpath, GNU.sparse.*).
 * Define TAR_MUTATOR in exactly one harness file before including it. */
#ifndef VS_TAR_MUTATOR_H
#define VS_TAR_MUTATOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

#define TM_BLOCK 512

static uint64_t tm_rng(uint64_t *s)
{
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

/* Loose size parse (the mutator must keep walking what the parser refuses). */
static uint64_t tm_size(const uint8_t *h)
{
        uint64_t v = 0;

        if (h[124] & 0x80) {
                for (int i = 125; i < 136; i++)
                        v = v << 8 | h[i];
                return v;
        }
        for (int i = 124; i < 136; i++)
                if (h[i] >= '0' && h[i] <= '7')
                        v = v << 3 | (uint64_t)(h[i] - '0');
        return v;
}

static void tm_checksum(uint8_t *h)
{
        unsigned sum = 0;
        char buf[8];

        memset(h + 148, ' ', 8);
        for (int i = 0; i < TM_BLOCK; i++)
                sum += h[i];
        snprintf(buf, sizeof(buf), "%06o", sum & 0777777);
        memcpy(h + 148, buf, 7); /* six digits, NUL, and the space left there */
}

static int tm_zero(const uint8_t *h)
{
        for (int i = 0; i < TM_BLOCK; i++)
                if (h[i])
                        return 0;
        return 1;
}

static void tm_fix_chain(uint8_t *data, size_t start, size_t end, int depth)
{
        size_t off = start;

        for (int n = 0; n < 4096 && off + TM_BLOCK <= end; n++) {
                uint8_t *h = data + off;
                uint64_t size;

                if (tm_zero(h))
                        return;
                tm_checksum(h);
                size = tm_size(h);
                if (size > end - off - TM_BLOCK)
                        return;
                if (depth < 2 && (h[156] == '0' || h[156] == '\0') && size >= 2 * TM_BLOCK)
                        tm_fix_chain(data, off + TM_BLOCK, off + TM_BLOCK + (size_t)size, depth + 1);
                off += TM_BLOCK + ((size_t)size + TM_BLOCK - 1) / TM_BLOCK * TM_BLOCK;
        }
}

static void tm_fix(uint8_t *data, size_t size)
{
        for (size_t off = 0; off + TM_BLOCK <= size; off += TM_BLOCK)
                if (memcmp(data + off + 257, "ustar", 5) == 0)
                        tm_checksum(data + off);
        tm_fix_chain(data, 0, size, 0);
}

/* Offsets of up to 64 header blocks (ustar magic) to pick from. */
static size_t tm_headers(const uint8_t *data, size_t size, size_t *offs)
{
        size_t n = 0;

        for (size_t off = 0; off + TM_BLOCK <= size && n < 64; off += TM_BLOCK)
                if (memcmp(data + off + 257, "ustar", 5) == 0 || off == 0)
                        offs[n++] = off;
        return n;
}

static const char *const tm_names[] = {
        "..", "../x", "/etc/passwd", "./", "a/../../b", "manifest.json", "a//b/./c/", "././@LongLink",
        "x/", "", "blobs/sha256/0", "l1/layer.tar", "../l1/layer.tar", "/l1/layer.tar", "cfg.json",
};
static const char tm_types[] = "0125673xgLKSXN\0";
static const char *const tm_records[] = {
        "path=../../x", "path=manifest.json", "path=", "size=0", "size=512", "size=-1", "size=abc",
        "size=99999999999999999999", "size=9223372036854775807", "linkpath=../../etc", "linkpath=/",
        "GNU.sparse.name=x", "comment=x", "path=l1/layer.tar", "linkpath=l1/layer.tar", "size=1024",
};

static void tm_put_name(uint8_t *dst, size_t max, const char *s)
{
        memset(dst, 0, max);
        memcpy(dst, s, strnlen(s, max));
}

/* Edits one field of a header. */
static void tm_edit_header(uint8_t *h, uint64_t *rs)
{
        char buf[16];

        switch (tm_rng(rs) % 7) {
        case 0:
                snprintf(buf, sizeof(buf), "%011llo", (unsigned long long)(tm_rng(rs) % 4096));
                memcpy(h + 124, buf, 12);
                break;
        case 1:
                h[124] = 0x80;
                for (int i = 125; i < 136; i++)
                        h[i] = i < 133 ? 0 : (uint8_t)tm_rng(rs);
                break;
        case 2:
                h[156] = (uint8_t)tm_types[tm_rng(rs) % (sizeof(tm_types) - 1)];
                break;
        case 3:
                tm_put_name(h, 100, tm_names[tm_rng(rs) % (sizeof(tm_names) / sizeof(tm_names[0]))]);
                break;
        case 4:
                tm_put_name(h + 157, 100, tm_names[tm_rng(rs) % (sizeof(tm_names) / sizeof(tm_names[0]))]);
                break;
        case 5:
                tm_put_name(h + 345, 155, tm_names[tm_rng(rs) % (sizeof(tm_names) / sizeof(tm_names[0]))]);
                break;
        default:
                memcpy(h + 257, tm_rng(rs) & 1 ? "ustar\0" "00" : "ustar  \0", 8);
                break;
        }
}

/* Inserts a meta header (+ payload) before the header at off. */
static size_t tm_insert_meta(uint8_t *data, size_t size, size_t max_size, size_t off, uint64_t *rs)
{
        uint8_t blk[2 * TM_BLOCK] = { 0 };
        char payload[TM_BLOCK];
        size_t plen = 0, total;
        int type = (int)(tm_rng(rs) % 4);

        if (type < 2) { /* x or g: one to three records */
                for (int i = 0, n = 1 + (int)(tm_rng(rs) % 3); i < n; i++) {
                        const char *kv = tm_records[tm_rng(rs) % (sizeof(tm_records) / sizeof(tm_records[0]))];
                        size_t len = strlen(kv) + 2, d = 1;

                        while ((size_t)snprintf(NULL, 0, "%zu", len + d) != d)
                                d++;
                        if (tm_rng(rs) % 8 == 0) /* a wrong record length */
                                len = (size_t)(tm_rng(rs) % (len + d)) - d;
                        plen += (size_t)snprintf(payload + plen, sizeof(payload) - plen, "%zu %s\n", len + d, kv);
                        if (plen >= sizeof(payload))
                                plen = sizeof(payload) - 1;
                }
        } else {
                const char *n = tm_names[tm_rng(rs) % (sizeof(tm_names) / sizeof(tm_names[0]))];
                plen = strlen(n) + 1;
                memcpy(payload, n, plen);
        }
        total = 2 * TM_BLOCK;
        if (size + total > max_size || off > size)
                return size;
        memcpy(blk, "././@PaxHeader", 14);
        snprintf((char *)blk + 100, 8, "%07o", 0644);
        snprintf((char *)blk + 124, 12, "%011zo", plen);
        blk[156] = (uint8_t)"xgLK"[type];
        memcpy(blk + 257, type < 2 ? "ustar\0" "00" : "ustar  \0", 8);
        memcpy(blk + TM_BLOCK, payload, plen);
        memmove(data + off + total, data + off, size - off);
        memcpy(data + off, blk, total);
        return size + total;
}

#ifdef TAR_MUTATOR
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
        uint64_t rs = seed * 0x9e3779b97f4a7c15ull + 1;
        size_t offs[64], n;

        switch (tm_rng(&rs) % 4) {
        case 0:
        case 1:
                size = LLVMFuzzerMutate(data, size, max_size);
                break;
        case 2:
                n = tm_headers(data, size, offs);
                if (n)
                        tm_edit_header(data + offs[tm_rng(&rs) % n], &rs);
                else
                        size = LLVMFuzzerMutate(data, size, max_size);
                break;
        default:
                n = tm_headers(data, size, offs);
                size = tm_insert_meta(data, size, max_size, n ? offs[tm_rng(&rs) % n] : 0, &rs);
                break;
        }
        tm_fix(data, size);
        return size;
}
#endif

#endif
