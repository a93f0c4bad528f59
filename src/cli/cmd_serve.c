/* vmsandbox serve: flags -> vs_server_run. */
#include "cli.h"
#include "alloc.h"
#include "config.h"
#include "fsutil.h"
#include "parse.h"
#include "qemuaccess.h"
#include "server.h"
#include "strv.h"

#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
        fputs("Usage: vmsandbox serve [--listen ADDR:PORT | --socket PATH] --token-file FILE [OPTIONS]\n"
              "       vmsandbox serve --docker-socket PATH[:TENANT[:ROOT]]... [OPTIONS]\n"
              "\n"
              "The HTTP job service (docs/api.md): every job in its own VM, at most\n"
              "--max-jobs at once, jobs kept under --state-dir across restarts; and/or\n"
              "Docker-compatible sockets (docs/docker-api.md): every container a job.\n"
              "\n"
              "  --listen ADDR:PORT   TCP address of the job API (default 127.0.0.1:8765,\n"
              "                       unless only --docker-socket is given)\n"
              "  --socket PATH        a unix socket instead of TCP (mode 0660)\n"
              "  --socket-group GROUP group of that socket: who may connect (default: root's)\n"
              "  --token-file FILE    bearer token clients must send (required with the job API)\n"
              "  --metrics-token-file FILE\n"
              "                       a second token that reads GET /metrics and nothing else\n"
              "                       (for a Prometheus scraper; >= 16 characters, not the admin's)\n"
              "  --docker-socket PATH[:TENANT[:ROOT]]\n"
              "                       a Docker Engine API socket (mode 0660); a client on it\n"
              "                       sees only TENANT's containers and images (default tenant\n"
              "                       \"default\"; repeatable, one socket per tenant); its\n"
              "                       binds must be below ROOT, itself below an --allow-root\n"
              "                       (without ROOT the tenant binds no host directory)\n"
              "  --docker-group GROUP group of the Docker sockets (default: root's)\n"
              "  --tenant-images N    images one Docker tenant may keep in the image store\n"
              "                       (default 1024)\n"
              "  --tenant-image-space SIZE\n"
              "                       bytes of archives one Docker tenant's images may hold\n"
              "                       (default: an eighth of --state-dir's filesystem)\n"
              "  --docker-socket-dir DIR\n"
              "                       the admin may add tenants' sockets DIR/TENANT.sock at run\n"
              "                       time (POST /v1/docker-sockets); they survive restarts\n"
              "  --max-jobs N         VMs at once (default: one per CPU)\n"
              "  --memory-budget SIZE guest memory at once (default: host memory - 1G)\n"
              "  --max-upload SIZE    largest image or workspace upload (default 16G)\n"
              "  --max-disk SIZE      largest scratch disk a job may ask for (default 64G)\n"
              "  --keep DUR           remove finished jobs this long after they ended (default: keep)\n"
              "  --expire-created DUR remove jobs never started this long after they were\n"
              "                       created (default 1d)\n"
              "  --max-state SIZE     all jobs' files together: uploads, records, logs, outputs\n"
              "                       (default: half the size of --state-dir's filesystem)\n"
              "  --owner-state SIZE   the same for one client token or the admin\n"
              "                       (default: a quarter of --max-state)\n"
              "  --owner-jobs N       jobs one owner may store, in any state (default 1000)\n"
              "  --owner-queued N     jobs one owner may have queued (default 100)\n"
              "  --owner-follows N    log follows one owner may have open (default 16)\n"
              "  --job-follows N      log follows open on one job (default 4)\n"
              "  --max-connections N  clients at once (default 256); follows, waits, uploads\n"
              "                       and downloads may hold three quarters of them\n"
              "  --max-per-ip N       clients at once from one address, TCP (default 64);\n"
              "                       the same three quarters for held requests\n"
              "  --tmp-space SIZE     request bodies (docker load, build contexts) and image\n"
              "                       exports in temp files at once (default: a quarter of\n"
              "                       --state-dir's filesystem)\n"
              "  --owner-tmp-space SIZE\n"
              "                       the same for one client token or Docker tenant (default:\n"
              "                       a quarter of --tmp-space, at least --max-upload)\n"
              "  --owner-holds N      held requests of one client token or Docker tenant at\n"
              "                       once (default: a quarter of what all may hold)\n"
              "  --idle-timeout DUR   close a connection idle this long, and end a log follow\n"
              "                       of a job that stays created (default 60s)\n"
              "  --allow-root DIR     server-side paths in specs, and Docker tenants' ROOTs, must\n"
              "                       be below DIR (repeatable)\n"
              "  --allow-network      let jobs ask for \"network\": \"nat\" (refused with 403 otherwise)\n"
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

static int parse_count(const char *s, unsigned long max, unsigned *ret)
{
        char *end;
        unsigned long v = strtoul(s, &end, 10);

        if (*s == '\0' || *end || v == 0 || v > max)
                return -1;
        *ret = (unsigned)v;
        return 0;
}

/* A duration as vs_parse_duration reads it, or whole days ("7d"). */
static int parse_keep(const char *s, uint64_t *ret_ms)
{
        size_t n = strlen(s);
        char *end;
        unsigned long long d;

        if (n < 2 || s[n - 1] != 'd')
                return vs_parse_duration(s, ret_ms);
        d = strtoull(s, &end, 10);
        if (end != s + n - 1 || d == 0 || d > 3650)
                return -1;
        *ret_ms = d * 24 * 3600 * 1000;
        return 0;
}

/* PATH[:TENANT[:ROOT]] (copied: argv stays as given, for ps): PATH ends
 * at the first ':', TENANT at the next, ROOT (absolute) is the rest; the
 * tenant and the root are checked when the socket is made. */
static int parse_docker_socket(const char *arg, vs_docker_socket *ret)
{
        const char *c1 = strchr(arg, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

        ret->path = c1 ? vs_xstrndup(arg, (size_t)(c1 - arg)) : vs_xstrdup(arg);
        ret->tenant = c1 ? (c2 ? vs_xstrndup(c1 + 1, (size_t)(c2 - c1 - 1)) : vs_xstrdup(c1 + 1)) : NULL;
        ret->root = c2 ? vs_xstrdup(c2 + 1) : NULL;
        return arg[0] == '/' && (!c2 || c2[1] == '/') ? 0 : -1;
}

/* The flags of serve into a->o (also for `vmsandbox doctor serve FLAGS`):
 * 0, or an exit status after the message (-1: --help was printed). */
int cli_parse_serve_args(int argc, char **argv, cli_serve_args *a)
{
        static const struct option options[] = {
                { "listen", required_argument, NULL, 'l' },        { "socket", required_argument, NULL, 's' },
                { "token-file", required_argument, NULL, 't' },    { "max-jobs", required_argument, NULL, 'j' },
                { "memory-budget", required_argument, NULL, 'm' }, { "max-upload", required_argument, NULL, 'u' },
                { "allow-root", required_argument, NULL, 'a' },    { "state-dir", required_argument, NULL, 'd' },
                { "grace", required_argument, NULL, 'g' },         { "help", no_argument, NULL, 'h' },
                { "max-disk", required_argument, NULL, 'D' },      { "keep", required_argument, NULL, 'k' },
                { "max-connections", required_argument, NULL, 'C' }, { "max-per-ip", required_argument, NULL, 'P' },
                { "idle-timeout", required_argument, NULL, 'I' },
                { "allow-network", no_argument, NULL, 'N' },
                { "max-state", required_argument, NULL, 'S' },     { "owner-state", required_argument, NULL, 'O' },
                { "owner-jobs", required_argument, NULL, 'J' },    { "owner-queued", required_argument, NULL, 'Q' },
                { "owner-follows", required_argument, NULL, 'F' }, { "job-follows", required_argument, NULL, 'f' },
                { "expire-created", required_argument, NULL, 'E' },
                { "docker-socket", required_argument, NULL, 'X' }, { "docker-group", required_argument, NULL, 'G' },
                { "docker-socket-dir", required_argument, NULL, 'K' },
                { "socket-group", required_argument, NULL, 'g' + 256 },
                { "metrics-token-file", required_argument, NULL, 'M' },
                { "tenant-images", required_argument, NULL, 'i' + 256 },
                { "owner-holds", required_argument, NULL, 'h' + 256 },
                { "tmp-space", required_argument, NULL, 't' + 256 },
                { "owner-tmp-space", required_argument, NULL, 'o' + 256 },
                { "tenant-image-space", required_argument, NULL, 's' + 256 },
                { NULL, 0, NULL, 0 },
        };
        vs_error err = { 0 };
        char *end;
        int opt;

        a->o = (vs_server_opts){ .max_body = 1 << 20, .grace_ms = 60000, .docker_gid = -1 };
        a->roots = NULL;
        if (vs_config_load(&a->cfg, &err) < 0)
                return cli_fail(&err);
        vs_service_defaults(&a->o.service.max_jobs, &a->o.service.memory_budget);
        a->o.service.max_upload = 16ull << 30;
        a->o.service.max_disk = 64ull << 30;
        a->o.service.created_ttl_ms = VS_CREATED_TTL_DEFAULT_MS; /* the other limits: 0 is the service's default */
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (opt) {
                case 'l': a->o.listen = optarg; break;
                case 's': a->o.socket = optarg; break;
                case 't': a->o.token_file = optarg; break;
                case 'M': a->o.metrics_token_file = optarg; break;
                case 'j':
                        a->o.service.max_jobs = (unsigned)strtoul(optarg, &end, 10);
                        if (*end || a->o.service.max_jobs == 0 || a->o.service.max_jobs > 256)
                                return bad("--max-jobs", optarg);
                        break;
                case 'm':
                        if (vs_parse_size(optarg, &a->o.service.memory_budget) < 0)
                                return bad("--memory-budget", optarg);
                        break;
                case 'u':
                        if (vs_parse_size(optarg, &a->o.service.max_upload) < 0)
                                return bad("--max-upload", optarg);
                        break;
                case 'a': vs_strv_push(&a->roots, optarg); break;
                case 'N': a->o.service.allow_network = true; break;
                case 'd': vs_config_set(&a->cfg, "state_dir", optarg, &err); break;
                case 'g':
                        if (vs_parse_duration(optarg, &a->o.grace_ms) < 0)
                                return bad("--grace", optarg);
                        break;
                case 'D':
                        if (vs_parse_size(optarg, &a->o.service.max_disk) < 0 || a->o.service.max_disk == 0)
                                return bad("--max-disk", optarg);
                        break;
                case 'k':
                        if (parse_keep(optarg, &a->o.service.keep_ms) < 0 || a->o.service.keep_ms == 0)
                                return bad("--keep", optarg);
                        break;
                case 'C':
                        if (parse_count(optarg, 100000, &a->o.max_connections) < 0)
                                return bad("--max-connections", optarg);
                        break;
                case 'P':
                        if (parse_count(optarg, 100000, &a->o.max_per_ip) < 0)
                                return bad("--max-per-ip", optarg);
                        break;
                case 'I': {
                        uint64_t ms;
                        if (vs_parse_duration(optarg, &ms) < 0 || ms < 1000 || ms > 24ull * 3600 * 1000)
                                return bad("--idle-timeout", optarg);
                        a->o.idle_timeout_s = (unsigned)(ms / 1000);
                        break;
                }
                case 'S':
                        if (vs_parse_size(optarg, &a->o.service.max_state) < 0 || a->o.service.max_state == 0)
                                return bad("--max-state", optarg);
                        break;
                case 'O':
                        if (vs_parse_size(optarg, &a->o.service.owner_state) < 0 || a->o.service.owner_state == 0)
                                return bad("--owner-state", optarg);
                        break;
                case 'J':
                        if (parse_count(optarg, 10000, &a->o.service.owner_jobs) < 0)
                                return bad("--owner-jobs", optarg);
                        break;
                case 'Q':
                        if (parse_count(optarg, 10000, &a->o.service.owner_queued) < 0)
                                return bad("--owner-queued", optarg);
                        break;
                case 'F':
                        if (parse_count(optarg, 100000, &a->o.service.owner_follows) < 0)
                                return bad("--owner-follows", optarg);
                        break;
                case 'f':
                        if (parse_count(optarg, 100000, &a->o.service.job_follows) < 0)
                                return bad("--job-follows", optarg);
                        break;
                case 'E':
                        if (parse_keep(optarg, &a->o.service.created_ttl_ms) < 0 || a->o.service.created_ttl_ms == 0)
                                return bad("--expire-created", optarg);
                        break;
                case 'X':
                        if (a->o.ndocker == VS_DOCKER_SOCKETS_MAX || parse_docker_socket(optarg, &a->docker[a->o.ndocker]) < 0)
                                return bad("--docker-socket", optarg);
                        a->o.ndocker++;
                        break;
                case 'K':
                        if (optarg[0] != '/')
                                return bad("--docker-socket-dir", optarg);
                        a->o.docker_socket_dir = optarg;
                        break;
                case 'G': {
                        struct group *g = getgrnam(optarg);
                        if (!g) {
                                fprintf(stderr, "vmsandbox: --docker-group %s: no such group\n", optarg);
                                return EXIT_USAGE;
                        }
                        a->o.docker_gid = (long)g->gr_gid;
                        break;
                }
                case 'g' + 256: a->o.socket_group = optarg; break;
                case 't' + 256:
                        if (vs_parse_size(optarg, &a->o.tmp_space) < 0 || a->o.tmp_space == 0)
                                return bad("--tmp-space", optarg);
                        break;
                case 'o' + 256:
                        if (vs_parse_size(optarg, &a->o.owner_tmp_space) < 0 || a->o.owner_tmp_space == 0)
                                return bad("--owner-tmp-space", optarg);
                        break;
                case 'h' + 256:
                        if (parse_count(optarg, 100000, &a->o.owner_holds) < 0)
                                return bad("--owner-holds", optarg);
                        break;
                case 'i' + 256:
                        if (parse_count(optarg, VS_IMGSTORE_MAX_IMAGES, &a->o.tenant_images) < 0)
                                return bad("--tenant-images", optarg);
                        break;
                case 's' + 256:
                        if (vs_parse_size(optarg, &a->o.tenant_image_space) < 0 || a->o.tenant_image_space == 0)
                                return bad("--tenant-image-space", optarg);
                        break;
                case 'h': usage(stdout); return -1;
                default: return bad(argv[optind - 1], NULL);
                }
        }
        if (optind < argc)
                return bad("unexpected argument", argv[optind]);
        if (a->o.socket_group && !a->o.socket) {
                fprintf(stderr, "vmsandbox: --socket-group needs --socket\n");
                return EXIT_USAGE;
        }
        if (!a->o.listen && !a->o.socket && a->o.ndocker == 0)
                a->o.listen = "127.0.0.1:8765";
        a->o.docker = a->docker;
        a->o.service.cfg = &a->cfg;
        a->o.service.allowed_roots = a->roots;
        return 0;
}

void cli_serve_args_clear(cli_serve_args *a)
{
        for (size_t i = 0; i < a->o.ndocker; i++) { /* parse_docker_socket's copies */
                free((char *)a->docker[i].path);
                free((char *)a->docker[i].tenant);
                a->docker[i] = (vs_docker_socket){ 0 };
        }
        a->o.ndocker = 0;
        vs_strv_free(a->roots);
        a->roots = NULL;
        vs_config_clear(&a->cfg);
}

/* Every job's VM files live below the state dir, so QEMU's user must be
 * able to traverse it: a missing one is made 0711 (not 0700), and one it
 * cannot reach stops serve at start instead of failing every job. */
static int prepare_state_dir(const char *dir, vs_error *err)
{
        if (vs_check_qemu_access("--state-dir", dir, err) < 0)
                return -1; /* checked first: nothing is made where it would not work */
        return vs_mkdir_p(dir, 0711, err);
}

int cmd_serve(int argc, char **argv)
{
        cli_serve_args a;
        vs_error err = { 0 };
        int r = cli_parse_serve_args(argc, argv, &a);

        if (r != 0)
                return r < 0 ? 0 : r;
        r = prepare_state_dir(a.cfg.state_dir, &err);
        if (r == 0)
                r = vs_server_run(&a.o, &err);
        cli_serve_args_clear(&a);
        return r < 0 ? cli_fail(&err) : 0;
}
