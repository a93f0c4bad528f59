/* collect-tail DISK HOST_FILE MAX: the host side and the real libguestfs
 * child of vs_collect_file_tail on a job disk made by the caller (run.sh:
 * a raw ext4 image with /out/dockerd.log).  Prints the guest file's size;
 * exit 0, or 1 with the error on stderr.  Boots a libguestfs appliance: run
 * it under the VM lock, as the integration suites. */
#include "collect.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
        vs_bound bound = { 0 };
        vs_collect_src *s = NULL;
        vs_error err = { 0 };
        uint64_t total = 0;
        char why[256];
        vs_accel accel;

        if (argc != 4) {
                fprintf(stderr, "usage: collect-tail DISK HOST_FILE MAX\n");
                return 2;
        }
        accel = vs_accel_resolve(VS_ACCEL_AUTO, why, sizeof(why));
        if (vs_collect_open(argv[1], accel, "0123456789ab", &bound, &s, &err) < 0) {
                fprintf(stderr, "collect-tail: %s\n", err.msg);
                return 1;
        }
        if (vs_collect_file_tail(s, "/out/dockerd.log", argv[2], strtoull(argv[3], NULL, 10), &total, &err) < 0) {
                vs_collect_free(s); /* the child and the appliance go too */
                fprintf(stderr, "collect-tail: %s\n", err.msg);
                return 1;
        }
        if (vs_collect_close(s, &err) < 0) {
                fprintf(stderr, "collect-tail: %s\n", err.msg);
                return 1;
        }
        printf("%llu\n", (unsigned long long)total);
        return 0;
}
