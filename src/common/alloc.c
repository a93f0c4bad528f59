#include "alloc.h"

#include <stdio.h>
#include <unistd.h>

_Noreturn void vs_oom(void)
{
        static const char msg[] = "vmsandbox: out of memory\n";
        ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);

        (void)r;
        abort();
}

char *vs_xasprintf(const char *fmt, ...)
{
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                vs_oom();
        return s;
}
