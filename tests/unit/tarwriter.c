#include "sha256.h"
#include "tests.h"

#include <stdlib.h>
#include <string.h>

static void header(FILE *f, const char *name, size_t size, char type)
{
        unsigned char h[512] = { 0 };
        unsigned sum = 0;

        strncpy((char *)h, name, 100);
        snprintf((char *)h + 100, 8, "%07o", type == '5' ? 0755 : 0644);
        snprintf((char *)h + 108, 8, "%07o", 0);
        snprintf((char *)h + 116, 8, "%07o", 0);
        snprintf((char *)h + 124, 12, "%011zo", size);
        snprintf((char *)h + 136, 12, "%011o", 0);
        h[156] = (unsigned char)type;
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        memset(h + 148, ' ', 8);
        for (int i = 0; i < 512; i++)
                sum += h[i];
        snprintf((char *)h + 148, 8, "%06o", sum);
        fwrite(h, 1, 512, f);
}

void tw_file(FILE *f, const char *name, const void *data, size_t len)
{
        static const char zero[512];

        header(f, name, len, '0');
        fwrite(data, 1, len, f);
        if (len % 512)
                fwrite(zero, 1, 512 - len % 512, f);
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
