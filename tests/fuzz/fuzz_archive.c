/* libFuzzer: docker-archive checks (manifest.json, config, every layer) on
 * inputs whose header checksums are kept valid by the custom mutator. */
#define TAR_MUTATOR
#include "archive.h"
#include "tar_mutator.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        int fd = memfd_create("archive", MFD_CLOEXEC);
        char path[64];
        vs_archive_info info;
        vs_error err;

        if (fd < 0 || write(fd, data, size) != (ssize_t)size)
                abort();
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (vs_archive_inspect(path, &info, &err) == 0) {
                char *ref, *id;

                if (vs_archive_pick(&info, NULL, &ref, &id, &err) == 0) {
                        free(ref);
                        free(id);
                }
                vs_archive_info_clear(&info);
        }
        close(fd);
        return 0;
}
