/* vmsandbox preload: the admin step behind build-base-image --preload. */
#include "cli.h"
#include "config.h"
#include "parse.h"
#include "preload.h"
#include "strv.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
        fputs("Usage: vmsandbox preload --root ROOT.qcow2 --kernel FILE --initrd FILE --cmdline TEXT\n"
              "                         [--timeout DUR] ARCHIVE.tar...\n"
              "\n"
              "Loads docker-archives into the Docker engine of a base image that is being\n"
              "built (boots its root disk writable once).  Called by\n"
              "scripts/build-base-image --preload; not for published images.\n",
              f);
}

int cmd_preload(int argc, char **argv)
{
        static const struct option options[] = {
                { "root", required_argument, NULL, 'r' },    { "kernel", required_argument, NULL, 'k' },
                { "initrd", required_argument, NULL, 'i' },  { "cmdline", required_argument, NULL, 'c' },
                { "timeout", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        vs_preload_opts o = { .timeout_ms = 60ull * 60 * 1000 };
        vs_config cfg;
        vs_error err = { 0 };
        cli_progress progress;
        int opt, r;

        opterr = 0;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (opt) {
                case 'r': o.root = optarg; break;
                case 'k': o.kernel = optarg; break;
                case 'i': o.initrd = optarg; break;
                case 'c': o.cmdline = optarg; break;
                case 't':
                        if (vs_parse_duration(optarg, &o.timeout_ms) < 0) {
                                fprintf(stderr, "vmsandbox: --timeout %s: expected a duration such as 30m\n", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case 'h': usage(stdout); return 0;
                default:
                        fprintf(stderr, "vmsandbox: %s: unknown option or missing value (see vmsandbox preload --help)\n",
                                argv[optind - 1]);
                        return EXIT_USAGE;
                }
        }
        if (!o.root || !o.kernel || !o.initrd || !o.cmdline || optind >= argc) {
                fprintf(stderr, "vmsandbox: preload needs --root, --kernel, --initrd, --cmdline and archives\n");
                return EXIT_USAGE;
        }
        o.archives = argv + optind;
        if (vs_config_load(&cfg, &err) < 0)
                return cli_fail(&err);
        cli_progress_init(&progress, false, false);
        o.events = cli_progress_events(&progress);
        r = vs_preload(&cfg, &o, &err);
        vs_config_clear(&cfg);
        return r < 0 ? cli_fail(&err) : 0;
}
