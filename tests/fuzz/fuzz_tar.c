/* libFuzzer: the tar header walker (workspace uploads, image layers) on
 * inputs whose header checksums are kept valid by the custom mutator. */
#define TAR_MUTATOR
#include "tar.h"
#include "tar_mutator.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        int fd = memfd_create("tar", MFD_CLOEXEC);
        vs_tar_reader r;
        vs_tar_entry e;
        vs_error err;
        int k;

        if (fd < 0 || write(fd, data, size) != (ssize_t)size)
                abort();
        vs_tar_reader_init(&r, fd, 0, size);
        while ((k = vs_tar_next(&r, &e, &err)) > 0) {
                /* What the walker returns is consistent: bounded names, data
                 * inside the archive, the next header after it. */
                if (strlen(e.name) > VS_TAR_NAME_MAX || strlen(e.linkname) > VS_TAR_NAME_MAX ||
                    e.data_offset + e.size > size || r.pos > size || r.pos % 512)
                        abort();
                (void)vs_tar_entry_unsafe(&e);
        }
        vs_tar_check(fd, 0, size, &err);
        close(fd);
        return 0;
}
