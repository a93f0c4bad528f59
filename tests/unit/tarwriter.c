#include "sha256.h"
#include "tarwriter.h"
#include "tests.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void tw_checksum(unsigned char h[512])
{
        unsigned sum = 0;

        memset(h + 148, ' ', 8);
        for (int i = 0; i < 512; i++)
                sum += h[i];
        snprintf((char *)h + 148, 8, "%06o", sum);
}

static void put(unsigned char *dst, size_t max, const char *s)
{
        if (s)
                memcpy(dst, s, strnlen(s, max));
}

void tw_header_block(unsigned char h[512], const tw_hdr *hd)
{
        char type = hd->type ? hd->type : '0';

        memset(h, 0, 512);
        put(h, 100, hd->name);
        snprintf((char *)h + 100, 8, "%07o", type == '5' ? 0755 : 0644);
        snprintf((char *)h + 108, 8, "%07o", 0);
        snprintf((char *)h + 116, 8, "%07o", 0);
        if (hd->raw_size)
                memcpy(h + 124, hd->raw_size, 12);
        else
                snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)hd->size);
        snprintf((char *)h + 136, 12, "%011o", 0);
        h[156] = (unsigned char)type;
        put(h + 157, 100, hd->linkname);
        switch (hd->format) {
        case TW_USTAR:
        case TW_STAR:
                memcpy(h + 257, "ustar", 6);
                memcpy(h + 263, "00", 2);
                put(h + 345, 155, hd->prefix);
                if (hd->format == TW_STAR)
                        memcpy(h + 508, "tar", 4);
                break;
        case TW_GNU:
                memcpy(h + 257, "ustar  ", 8);
                put(h + 345, 155, hd->prefix); /* atime etc. in old GNU: junk for a prefix reader */
                break;
        case TW_V7:
                break;
        }
        tw_checksum(h);
}

void tw_header(FILE *f, const tw_hdr *hd)
{
        unsigned char h[512];

        tw_header_block(h, hd);
        fwrite(h, 1, 512, f);
}

void tw_pad(FILE *f, size_t len)
{
        static const char zero[512];

        if (len % 512)
                fwrite(zero, 1, 512 - len % 512, f);
}

void tw_entry(FILE *f, const tw_hdr *hd, const void *data, size_t len)
{
        tw_header(f, hd);
        if (len)
                fwrite(data, 1, len, f);
        tw_pad(f, len);
}

void tw_meta(FILE *f, char type, const void *payload, size_t len)
{
        tw_hdr hd = { .name = type == 'L' || type == 'K' ? "././@LongLink" : "PaxHeaders/x", .type = type,
                      .size = len, .format = type == 'L' || type == 'K' ? TW_GNU : TW_USTAR };

        tw_entry(f, &hd, payload, len);
}

int tw_memfd(const void *data, size_t len)
{
        int fd = memfd_create("tar", MFD_CLOEXEC);

        if (fd < 0 || write(fd, data, len) != (ssize_t)len)
                abort();
        return fd;
}

static void header(FILE *f, const char *name, size_t size, char type)
{
        tw_hdr hd = { .name = name, .size = size, .type = type };

        tw_header(f, &hd);
}

void tw_file(FILE *f, const char *name, const void *data, size_t len)
{
        header(f, name, len, '0');
        fwrite(data, 1, len, f);
        tw_pad(f, len);
}

void tw_dir(FILE *f, const char *name)
{
        header(f, name, 0, '5');
}

void tw_end(FILE *f)
{
        static const char zero[1024];

        fwrite(zero, 1, sizeof(zero), f);
}
char *tw_image(const char *dir, const tw_image_opts *o)
{
        char *path = NULL, *layer = NULL, manifest[1024];
        size_t layer_len = 0;
        FILE *lf = open_memstream(&layer, &layer_len);
        FILE *f;
        const char *config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{}}";

        tw_file(lf, o && o->layer_entry ? o->layer_entry : "bin/hello", "hi\n", 3);
        tw_end(lf);
        fclose(lf);
        if (asprintf(&path, "%s/image-%d.tar", dir, rand()) < 0)
                return NULL;
        f = fopen(path, "w");
        if (!(o && o->omit_config))
                tw_file(f, "cfg.json", config, strlen(config));
        if (!(o && o->omit_layer)) {
                tw_dir(f, "l1/");
                tw_file(f, "l1/layer.tar", layer, layer_len);
        }
        snprintf(manifest, sizeof(manifest), "%s",
                 o && o->manifest ? o->manifest
                                  : "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"demo/app:1\"],\"Layers\":[\"l1/layer.tar\"]}]");
        tw_file(f, "manifest.json", manifest, strlen(manifest));
        tw_end(f);
        fclose(f);
        free(layer);
        return path;
}
