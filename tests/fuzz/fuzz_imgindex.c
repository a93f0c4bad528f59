/* libFuzzer: the image store's index.json reader (vs_imgstore_index_parse:
 * bounded size, depth and counts, strict keys, tags in their normal form,
 * no duplicate image or tag per tenant).  What it accepts must format and
 * parse back to the same text: a store that cannot reread its own index
 * would not start again. */
#include "imagestore.h"

#include <stdlib.h>
#include <string.h>

static void free_all(vs_image *v, char **tenants, size_t n)
{
        vs_image_list_free(v, n);
        for (size_t i = 0; i < n; i++)
                free(tenants[i]);
        free(tenants);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        vs_image *v = NULL, *v2 = NULL;
        char **tenants = NULL, **tenants2 = NULL;
        size_t n = 0, n2 = 0;
        char *text, *text2;
        vs_error err;

        if (vs_imgstore_index_parse((const char *)data, size, &v, &tenants, &n, &err) < 0)
                return 0;
        text = vs_imgstore_index_format(v, tenants, n);
        if (vs_imgstore_index_parse(text, strlen(text), &v2, &tenants2, &n2, &err) < 0 || n2 != n)
                abort();
        text2 = vs_imgstore_index_format(v2, tenants2, n2);
        if (strcmp(text, text2) != 0)
                abort();
        free(text);
        free(text2);
        free_all(v, tenants, n);
        free_all(v2, tenants2, n2);
        return 0;
}
