/* `vmsandbox serve` without VMs, for scripts/soak-fake: the same flags
 * (src/cli/cmd_serve.c is compiled in), the same vs_server_run, with the
 * unit tests' fake runner (tests/unit/fake_runner.h) as the job runner.
 *
 *   soak-serve [--mallinfo FILE] SERVE-FLAGS...
 *
 * --mallinfo FILE: on every SIGUSR1 a thread of its own writes glibc's
 * mallinfo2() of the process to FILE (replaced atomically), one line:
 *   SEQ IN_USE ARENA MMAP FREE      (SEQ counts the signals; bytes)
 * so that the soak can tell bytes the program holds from what the
 * allocator keeps of what was freed. */
#include "cli.h"
#include "fake_runner.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const vs_error *err)
{
        fprintf(stderr, "soak-serve: %s\n", err->msg);
        return 1;
}

static const char *mallinfo_path;

static void write_mallinfo(unsigned long seq)
{
        char tmp[4096];
        struct mallinfo2 mi = mallinfo2();
        FILE *f;

        snprintf(tmp, sizeof(tmp), "%s.tmp", mallinfo_path);
        f = fopen(tmp, "w");
        if (!f)
                return;
        fprintf(f, "%lu %zu %zu %zu %zu\n", seq, mi.uordblks + mi.hblkhd, mi.arena, mi.hblkhd, mi.fordblks);
        if (fclose(f) == 0)
                rename(tmp, mallinfo_path);
}

static void *mallinfo_thread(void *arg)
{
        sigset_t *set = arg;
        unsigned long seq = 0;
        int sig;

        while (sigwait(set, &sig) == 0)
                write_mallinfo(++seq);
        return NULL;
}

int main(int argc, char **argv)
{
        static sigset_t usr1;
        cli_serve_args a;
        vs_error err = { 0 };
        pthread_t t;
        int r;

        if (argc > 2 && strcmp(argv[1], "--mallinfo") == 0) {
                mallinfo_path = argv[2];
                argv[2] = argv[0];
                argv += 2;
                argc -= 2;
                /* Blocked before any thread exists: every thread inherits it. */
                sigemptyset(&usr1);
                sigaddset(&usr1, SIGUSR1);
                pthread_sigmask(SIG_BLOCK, &usr1, NULL);
                if (pthread_create(&t, NULL, mallinfo_thread, &usr1) != 0) {
                        fprintf(stderr, "soak-serve: cannot start the mallinfo thread\n");
                        return 1;
                }
                pthread_detach(t);
        }
        r = cli_parse_serve_args(argc, argv, &a);
        if (r != 0)
                return r < 0 ? 0 : r;
        a.o.service.run = fake_run;
        r = vs_server_run(&a.o, &err);
        cli_serve_args_clear(&a);
        fake_reset();
        return r < 0 ? cli_fail(&err) : 0;
}
