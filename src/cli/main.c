/* vmsandbox: run a workflow image in its own throwaway micro-VM. */
#include "cli.h"
#include "cleanup.h"
#include "text.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
        fputs("Usage: vmsandbox COMMAND [OPTIONS]\n"
              "\n"
              "Runs Docker workflow images, each in its own throwaway VM with its own\n"
              "Docker engine: no host Docker socket is needed or exposed.\n"
              "\n"
              "Commands:\n"
              "  run       run a workflow image (a `docker save` tarball) in a fresh VM\n"
              "  serve     the HTTP job service (docs/api.md)\n"
              "  submit    run a job on a vmsandbox service (options of run, plus --server)\n"
              "  status, logs, cancel, fetch   a service's job\n"
              "  doctor    check that this host can run jobs, and say how to fix it\n"
              "  preload   (admin) bake images into a base image being built\n"
              "  gc        remove what a killed vmsandbox left (job dirs, their VMs)\n"
              "  version   print the version\n"
              "\n"
              "Run 'vmsandbox COMMAND --help' for a command's options.\n",
              f);
}

int cli_fail(const vs_error *err)
{
        /* Messages quote guest and server text (a result's error, a file
         * name): never a control sequence for the user's terminal. */
        _cleanup_free_ char *safe = vs_text_for_terminal(err->msg, strnlen(err->msg, sizeof(err->msg)),
                                                        sizeof(err->msg), NULL);

        fprintf(stderr, "vmsandbox: %s\n", safe);
        switch (err->kind) {
        case VS_ERR_USAGE:
        case VS_ERR_INPUT:
        case VS_ERR_SETUP:
        case VS_ERR_NOT_FOUND:
        case VS_ERR_CONFLICT:
        case VS_ERR_TOO_LARGE:
        case VS_ERR_FORBIDDEN:
        case VS_ERR_LIMIT:
        case VS_ERR_NO_SPACE:
                return EXIT_USAGE;
        case VS_ERR_TIMEOUT:
                return EXIT_TIMEOUT;
        case VS_ERR_CANCELLED:
                return EXIT_CANCELLED;
        case VS_ERR_NONE:
        case VS_ERR_SANDBOX:
        case VS_ERR_LAST:
                break;
        }
        return EXIT_SANDBOX;
}

int main(int argc, char **argv)
{
        /* Everything vmsandbox creates is private unless it says otherwise:
         * job disks hold env values (secrets), outputs hold workflow output.
         * What QEMU must reach (the job dir, 0711) is chmod'ed explicitly. */
        umask(077);
        if (argc < 2) {
                usage(stderr);
                return EXIT_USAGE;
        }
        if (strcmp(argv[1], "run") == 0)
                return cmd_run(argc - 1, argv + 1);
        if (strcmp(argv[1], "submit") == 0)
                return cmd_submit(argc - 1, argv + 1);
        if (!strcmp(argv[1], "status") || !strcmp(argv[1], "logs") || !strcmp(argv[1], "cancel") || !strcmp(argv[1], "fetch"))
                return cmd_client(argv[1], argc - 1, argv + 1);
        if (strcmp(argv[1], "serve") == 0)
                return cmd_serve(argc - 1, argv + 1);
        if (strcmp(argv[1], "preload") == 0)
                return cmd_preload(argc - 1, argv + 1);
        if (strcmp(argv[1], "gc") == 0)
                return cmd_gc(argc - 1, argv + 1);
        if (strcmp(argv[1], "doctor") == 0)
                return cmd_doctor(argc - 1, argv + 1);
        if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
                printf("vmsandbox %s\n", VS_VERSION);
                return 0;
        }
        if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                usage(stdout);
                return 0;
        }
        fprintf(stderr, "vmsandbox: unknown command \"%s\" (see vmsandbox --help)\n", argv[1]);
        return EXIT_USAGE;
}
