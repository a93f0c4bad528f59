/* vmsandbox serve: flags -> vs_server_run. */
#include "cli.h"
#include "config.h"
#include "parse.h"
#include "server.h"
#include "strv.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
        fputs("Usage: vmsandbox serve [--listen ADDR:PORT | --socket PATH] --token-file FILE [OPTIONS]\n"
              "\n"
              "The HTTP job service (docs/api.md): every job in its own VM, at most\n"
              "--max-jobs at once, jobs kept under --state-dir across restarts.\n"
              "\n"
              "  --listen ADDR:PORT   TCP address (default 127.0.0.1:8765)\n"
              "  --socket PATH        a unix socket instead of TCP\n"
              "  --token-file FILE    bearer token clients must send (required)\n"
              "  --max-jobs N         VMs at once (default: one per CPU)\n"
              "  --memory-budget SIZE guest memory at once (default: host memory - 1G)\n"
              "  --max-upload SIZE    largest image or workspace upload (default 16G)\n"
              "  --allow-root DIR     server-side paths in specs must be below DIR (repeatable)\n"
              "  --state-dir DIR      default /var/lib/vmsandbox\n"
              "  --grace DUR          on SIGTERM, how long running jobs may finish (default 60s)\n"
              "  -h, --help           this text\n",
              f);
}

static int bad(const char *flag, const char *v)
{
        fprintf(stderr, "vmsandbox: %s %s: bad value (see vmsandbox serve --help)\n", flag, v ? v : "");
        return EXIT_USAGE;
}

int cmd_serve(int argc, char **argv)
{
        static const struct option options[] = {
                { "listen", required_argument, NULL, 'l' },        { "socket", required_argument, NULL, 's' },
                { "token-file", required_argument, NULL, 't' },    { "max-jobs", required_argument, NULL, 'j' },
                { "memory-budget", required_argument, NULL, 'm' }, { "max-upload", required_argument, NULL, 'u' },
                { "allow-root", required_argument, NULL, 'a' },    { "state-dir", required_argument, NULL, 'd' },
                { "grace", required_argument, NULL, 'g' },         { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        vs_server_opts o = { .listen = "127.0.0.1:8765", .max_body = 1 << 20, .grace_ms = 60000 };
        char **roots = NULL;
        vs_config cfg;
        vs_error err = { 0 };
        char *end;
        int opt, r;

        if (vs_config_load(&cfg, &err) < 0)
                return cli_fail(&err);
        vs_service_defaults(&o.service.max_jobs, &o.service.memory_budget);
        o.service.max_upload = 16ull << 30;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (opt) {
                case 'l': o.listen = optarg; break;
                case 's': o.socket = optarg; break;
                case 't': o.token_file = optarg; break;
                case 'j':
                        o.service.max_jobs = (unsigned)strtoul(optarg, &end, 10);
                        if (*end || o.service.max_jobs == 0 || o.service.max_jobs > 256)
                                return bad("--max-jobs", optarg);
                        break;
                case 'm':
                        if (vs_parse_size(optarg, &o.service.memory_budget) < 0)
                                return bad("--memory-budget", optarg);
                        break;
                case 'u':
                        if (vs_parse_size(optarg, &o.service.max_upload) < 0)
                                return bad("--max-upload", optarg);
                        break;
                case 'a': vs_strv_push(&roots, optarg); break;
                case 'd': vs_config_set(&cfg, "state_dir", optarg, &err); break;
                case 'g':
                        if (vs_parse_duration(optarg, &o.grace_ms) < 0)
                                return bad("--grace", optarg);
                        break;
                case 'h': usage(stdout); return 0;
                default: return bad(argv[optind - 1], NULL);
                }
        }
        if (optind < argc)
                return bad("unexpected argument", argv[optind]);
        o.service.cfg = &cfg;
        o.service.allowed_roots = roots;
        r = vs_server_run(&o, &err);
        vs_strv_free(roots);
        vs_config_clear(&cfg);
        return r < 0 ? cli_fail(&err) : 0;
}
