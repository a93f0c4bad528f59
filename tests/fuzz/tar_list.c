/* tar-list FILE...: what vs_tar_next reads, one entry per line as
 * "<type> <name>" (or "ERROR <message>"), for differential checks against
 * other tar readers (tests/fuzz/tar-diff). */
#include "tar.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* GNU tar's --quoting-style=escape in the C locale. */
static void put_escaped(const char *s)
{
        static const char letters[] = "\a\b\t\n\v\f\r";
        static const char names[] = "abtnvfr";

        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                const char *l = *p ? strchr(letters, *p) : NULL;

                if (*p == '\\')
                        fputs("\\\\", stdout);
                else if (l)
                        printf("\\%c", names[l - letters]);
                else if (*p < 0x20 || *p >= 0x7f)
                        printf("\\%03o", *p);
                else
                        putchar(*p);
        }
}

int main(int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
                vs_tar_reader r;
                vs_tar_entry e;
                vs_error err;
                struct stat st;
                int k;

                if (fd < 0 || fstat(fd, &st) < 0) {
                        perror(argv[i]);
                        return 1;
                }
                vs_tar_reader_init(&r, fd, 0, (uint64_t)st.st_size);
                while ((k = vs_tar_next(&r, &e, &err)) > 0)
                {
                        printf("%c ", e.type);
                        put_escaped(e.name);
                        putchar('\n');
                }
                if (k < 0)
                        printf("ERROR %s\n", err.msg);
                close(fd);
        }
        return 0;
}
