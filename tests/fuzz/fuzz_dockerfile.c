/* libFuzzer: a client's Dockerfile as POST /build reads it on the host
 * (vs_dockerfile_images, with build arguments that its ARGs may take): no
 * crash, no leak, and what it accepts holds only valid references, never
 * "scratch", at most one per stage. */
#include "build.h"
#include "strv.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        char *args[] = { "TAG=1.36", "BASE=busybox", "EMPTY=", NULL };
        char **images = NULL;
        vs_error err;

        if (vs_dockerfile_images((const char *)data, size, args, &images, &err) < 0)
                return 0;
        if (vs_strv_length(images) > VS_DOCKERFILE_FROMS_MAX)
                abort();
        for (size_t i = 0; images[i]; i++)
                if (!vs_build_ref_valid(images[i]) || !strcasecmp(images[i], "scratch"))
                        abort();
        vs_strv_free(images);
        return 0;
}
