/* vmsandbox run: flags -> vs_spec -> vs_job_run -> exit status. */
#include "cli.h"
#include "cleanup.h"
#include "config.h"
#include "parse.h"
#include "pipeline.h"
#include "spec.h"
#include "text.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
        fputs("Usage: vmsandbox run --image FILE.tar [OPTIONS] [-- CMD [ARG...]]\n"
              "       vmsandbox run --tag REPO:TAG [OPTIONS] [-- CMD [ARG...]]   (a preloaded image)\n"
              "\n"
              "Boots a fresh VM, loads the image into its Docker engine, runs the workflow\n"
              "and brings back its output, exit code, workspace and (optionally) the image.\n"
              "Without CMD the image's own entrypoint/cmd runs.\n"
              "\n"
              "  --image FILE       the workflow image: a `docker save` tarball\n"
              "  --tag REPO:TAG     which image in the archive (default: its only tag); without\n"
              "                     --image, an image preloaded in the base image\n"
              "  --workspace DIR    copied in, mounted read-write; written back after the run\n"
              "                     (to --out DIR/workspace instead when --out is given);\n"
              "                     at most 200000 entries\n"
              "  --mount-at PATH    where the workspace appears in the container (default /erc)\n"
              "  --memory SIZE      VM memory, 256M-256G (default 1G); the workflow gets\n"
              "                     all but 160M\n"
              "  --cpus N           VM vCPUs, 1-64 (default 1; more than 1 needs KVM)\n"
              "  --disk SIZE        job scratch space, 256M-2T (default 4G); must hold the\n"
              "                     archive, twice the workspace and 64M (and the archive\n"
              "                     again with --export-image)\n"
              "  --timeout DUR      wall-clock limit for the whole job, 1s-7 days, e.g. 90s,\n"
              "                     10m, 1h30m (default 10m)\n"
              "  --network MODE     none (default) or nat (outbound, host loopback included)\n"
              "  -e, --env KEY=VAL  environment variable for the workflow (repeatable, at most 256)\n"
              "  --user UID[:GID]   run the workflow as this user\n"
              "  --workdir DIR      working directory in the container\n"
              "  --export-image     write image.tar (loadable by `docker load`) into --out\n"
              "                     (needs --out)\n"
              "  --out DIR          result.json, stdout.log, stderr.log, dockerd.log (its last\n"
              "                     8M), workspace/, image.tar; DIR must not exist or be empty\n"
              "  --json             print the result record on stdout (workflow output goes to\n"
              "                     stderr); nothing when the job is refused before it starts\n"
              "  --quiet            no progress lines on stderr (one per phase, shown by\n"
              "                     default, dimmed on a terminal); errors are still printed\n"
              "  --accel MODE       auto (default), kvm or tcg\n"
              "  --base-image DIR   base image (default " VS_DEFAULT_IMAGE ")\n"
              "  -h, --help         this text\n"
              "\n"
              "SIZE: a number of bytes, or with K, M, G, T (powers of 1024): 512M, 2G.\n"
              "DUR: a number of seconds, or with ms, s, m, h: 90s, 10m, 1h30m.\n"
              "\n"
              "Exit status: the workflow's own exit code; 2 bad usage or input (nothing was\n"
              "run); 124 timeout; 125 the sandbox failed; 126/127 the command could not be\n"
              "run / was not found; 130 interrupted.\n"
              "\n"
              "Images for --tag without --image are baked into the base image by\n"
              "scripts/build-base-image --preload (see vmsandbox preload --help).\n",
              f);
}

enum { OPT_IMAGE = 256, OPT_TAG, OPT_WORKSPACE, OPT_MOUNT_AT, OPT_MEMORY, OPT_CPUS, OPT_DISK, OPT_TIMEOUT,
       OPT_NETWORK, OPT_USER, OPT_WORKDIR, OPT_EXPORT, OPT_OUT, OPT_JSON, OPT_ACCEL, OPT_BASE,
       OPT_SERVER, OPT_TOKEN, OPT_FOLLOW, OPT_QUIET };

static const struct option options[] = {
        { "image", required_argument, NULL, OPT_IMAGE },
        { "tag", required_argument, NULL, OPT_TAG },
        { "workspace", required_argument, NULL, OPT_WORKSPACE },
        { "mount-at", required_argument, NULL, OPT_MOUNT_AT },
        { "memory", required_argument, NULL, OPT_MEMORY },
        { "cpus", required_argument, NULL, OPT_CPUS },
        { "disk", required_argument, NULL, OPT_DISK },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "network", required_argument, NULL, OPT_NETWORK },
        { "env", required_argument, NULL, 'e' },
        { "user", required_argument, NULL, OPT_USER },
        { "workdir", required_argument, NULL, OPT_WORKDIR },
        { "export-image", no_argument, NULL, OPT_EXPORT },
        { "out", required_argument, NULL, OPT_OUT },
        { "json", no_argument, NULL, OPT_JSON },
        { "quiet", no_argument, NULL, OPT_QUIET },
        { "accel", required_argument, NULL, OPT_ACCEL },
        { "base-image", required_argument, NULL, OPT_BASE },
        { "server", required_argument, NULL, OPT_SERVER },
        { "token-file", required_argument, NULL, OPT_TOKEN },
        { "follow", no_argument, NULL, OPT_FOLLOW },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
};


static int set_string(char **slot, const char *v, vs_error *err)
{
        free(*slot);
        *slot = strdup(v);
        return *slot ? 0 : vs_error_set(err, VS_ERR_USAGE, "out of memory");
}

static int parse_cpus(const char *v, unsigned *ret, vs_error *err)
{
        char *end;
        unsigned long n = strtoul(v, &end, 10);

        if (*v == '\0' || *end != '\0' || n == 0 || n > VS_CPUS_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "--cpus %s: expected a number from 1 to %u", v, VS_CPUS_MAX);
        *ret = (unsigned)n;
        return 0;
}

static int parse_option(run_args *a, int opt, const char *v, vs_error *err)
{
        vs_spec *s = &a->spec;

        switch (opt) {
        case OPT_IMAGE:
                return set_string(&s->image, v, err);
        case OPT_TAG:
                return set_string(&s->tag, v, err);
        case OPT_WORKSPACE:
                return set_string(&s->workspace, v, err);
        case OPT_MOUNT_AT:
                return set_string(&s->mount_at, v, err);
        case OPT_USER:
                return set_string(&s->user, v, err);
        case OPT_WORKDIR:
                return set_string(&s->workdir, v, err);
        case OPT_MEMORY:
                return vs_parse_size(v, &s->memory) < 0
                               ? vs_error_set(err, VS_ERR_USAGE, "--memory %s: expected a size such as 512M or 2G", v)
                               : 0;
        case OPT_DISK:
                return vs_parse_size(v, &s->disk) < 0
                               ? vs_error_set(err, VS_ERR_USAGE, "--disk %s: expected a size such as 4G", v)
                               : 0;
        case OPT_TIMEOUT:
                return vs_parse_duration(v, &s->timeout_ms) < 0
                               ? vs_error_set(err, VS_ERR_USAGE, "--timeout %s: expected a duration such as 90s, 10m or 1h", v)
                               : 0;
        case OPT_CPUS:
                return parse_cpus(v, &s->cpus, err);
        case OPT_NETWORK:
                return vs_network_parse(v, &s->network) < 0
                               ? vs_error_set(err, VS_ERR_USAGE, "--network %s: expected none or nat", v)
                               : 0;
        case 'e':
                return vs_spec_add_env(s, v, err);
        case OPT_EXPORT:
                s->export_image = true;
                return 0;
        case OPT_OUT:
                a->out = v;
                return 0;
        case OPT_JSON:
                a->json = true;
                return 0;
        case OPT_QUIET:
                a->quiet = true;
                return 0;
        case OPT_ACCEL:
                a->host_flag = "--accel";
                return vs_config_set(&a->cfg, "accel", v, err);
        case OPT_BASE:
                a->host_flag = "--base-image";
                return vs_config_set(&a->cfg, "image", v, err);
        case OPT_SERVER:
                a->server = v;
                return 0;
        case OPT_TOKEN:
                a->token_file = v;
                return 0;
        case OPT_FOLLOW:
                a->follow = true;
                return 0;
        default:
                return vs_error_set(err, VS_ERR_USAGE, "unknown option (see vmsandbox run --help)");
        }
}

int cli_parse_run_args(int argc, char **argv, run_args *a, vs_error *err)
{
        int opt;

        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+he:", options, NULL)) != -1) {
                if (opt == 'h') {
                        if (a->help)
                                a->help(stdout);
                        else
                                usage(stdout);
                        exit(0);
                }
                if (opt == '?' || opt == ':')
                        return vs_error_set(err, VS_ERR_USAGE, "%s: %s (see vmsandbox run --help)", argv[optind - 1],
                                            optopt ? "missing value" : "unknown option");
                if (parse_option(a, opt, optarg, err) < 0)
                        return -1;
        }
        for (int i = optind; i < argc; i++)
                if (vs_spec_add_arg(&a->spec, argv[i], err) < 0)
                        return -1;
        if (!a->spec.image && !a->spec.tag)
                return vs_error_set(err, VS_ERR_USAGE,
                                    "--image FILE.tar is required, or --tag of a preloaded image (see vmsandbox run --help)");
        return 0;
}

static int exit_status(json_t *result)
{
        const char *status = json_string_value(json_object_get(result, "status"));

        if (status && strcmp(status, "timeout") == 0)
                return EXIT_TIMEOUT;
        if (status && strcmp(status, "cancelled") == 0)
                return EXIT_CANCELLED;
        if (json_is_integer(json_object_get(result, "exit_code")))
                return (int)json_integer_value(json_object_get(result, "exit_code"));
        return EXIT_SANDBOX;
}

/* What the engine said about the workflow's end (out of memory, say), as the
 * guest reported it: guest text, so made safe for the terminal. */
static void print_run_error(json_t *result)
{
        const char *e = json_string_value(json_object_get(json_object_get(result, "guest"), "run_error"));
        _cleanup_free_ char *safe = NULL;

        if (!e || !*e)
                return;
        safe = vs_text_for_terminal(e, strlen(e), 1024, NULL);
        fprintf(stderr, "vmsandbox: %s\n", safe);
}

int cmd_run(int argc, char **argv)
{
        run_args a = { 0 };
        vs_error err = { 0 };
        cli_progress progress;
        vs_run_opts opts;
        json_t *result = NULL;
        int r, code;

        vs_spec_init(&a.spec);
        if (vs_config_load(&a.cfg, &err) < 0 || cli_parse_run_args(argc, argv, &a, &err) < 0) {
                code = cli_fail(&err);
                goto out;
        }
        if (a.server || a.token_file || a.follow) {
                vs_error_set(&err, VS_ERR_USAGE, "--server, --token-file and --follow belong to vmsandbox submit");
                code = cli_fail(&err);
                goto out;
        }
        signal(SIGPIPE, SIG_IGN);
        cli_gc_quiet(&a.cfg); /* what a killed run left */
        cli_progress_init(&progress, a.json, a.quiet);
        opts = (vs_run_opts){ .out_dir = a.out,
                              .write_back = !a.out, /* with --out the workspace goes there only */
                              .log_limit = VS_LOG_LIMIT_DEFAULT,
                              .events = cli_progress_events(&progress) };
        r = vs_job_run(&a.cfg, &a.spec, &opts, &result, &err);
        if (a.json && result && json_object_get(json_object_get(result, "phases"), "prepare"))
                json_dumpf(result, stdout, JSON_INDENT(2)), putchar('\n');
        if (r < 0)
                code = cli_fail(&err);
        else {
                code = exit_status(result);
                if (code == EXIT_TIMEOUT)
                        fprintf(stderr, "vmsandbox: %s\n",
                                json_string_value(json_object_get(result, "error"))
                                        ?: "the job ran past --timeout and was stopped");
                else if (code == EXIT_CANCELLED)
                        fprintf(stderr, "vmsandbox: interrupted; the VM was destroyed\n");
                else
                        print_run_error(result);
        }
out:
        json_decref(result);
        vs_spec_clear(&a.spec);
        vs_config_clear(&a.cfg);
        return code;
}
