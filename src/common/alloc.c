#include "alloc.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

_Noreturn void vs_oom(void)
{
        /* No allocation here: the program's name (vmsandbox or
         * vmsandbox-agent) and a fixed text, written directly. */
        static const char msg[] = ": out of memory\n";
        const char *name = program_invocation_short_name;
        ssize_t r = write(STDERR_FILENO, name, strlen(name));

        r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
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
