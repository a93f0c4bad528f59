#include "fake_images.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void fake_image_id(const char *name, char ret[VS_CONTAINER_IMAGE_ID_LEN + 1])
{
        vs_sha256 c;
        char hex[65];

        vs_sha256_init(&c);
        vs_sha256_update(&c, name, strlen(name));
        vs_sha256_final_hex(&c, hex);
        snprintf(ret, VS_CONTAINER_IMAGE_ID_LEN + 1, "sha256:%s", hex);
}

int fake_image_resolve(void *userdata, const char *owner, const char *name, const char *dest, vs_container_image *ret,
                       vs_error *err)
{
        int fd;

        (void)userdata, (void)owner;
        memset(ret, 0, sizeof(*ret));
        if (strncmp(name, "missing", 7) == 0)
                return vs_error_set(err, VS_ERR_NOT_FOUND, "No such image: %s", name);
        if (strncmp(name, "preloaded/", 10) == 0) {
                snprintf(ret->ref, sizeof(ret->ref), "%s", name);
                return 0;
        }
        fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "fake image %s", dest);
        if (write(fd, name, strlen(name)) != (ssize_t)strlen(name)) {
                close(fd);
                return vs_error_set(err, VS_ERR_SANDBOX, "fake image: short write");
        }
        close(fd);
        fake_image_id(name, ret->id);
        ret->linked = true;
        return 0;
}
