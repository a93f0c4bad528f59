/* vmsandbox submit|status|logs|cancel|fetch: a client of `vmsandbox serve`,
 * so a Binder terminal can use a host-side service (docs/api.md). */
#include "cli.h"
#include "cleanup.h"
#include "fsutil.h"
#include "text.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
        char base[1024];   /* http://host:port */
        char unix_path[512];
        char auth[300];
} client;

/* --server http://HOST:PORT or unix:/path/to/socket; token from --token-file
 * or $VMSANDBOX_TOKEN. */
static int client_init(client *c, const char *server, const char *token_file, vs_error *err)
{
        _cleanup_free_ char *text = NULL;
        const char *token = getenv("VMSANDBOX_TOKEN");
        size_t len;

        memset(c, 0, sizeof(*c));
        if (!server && !(server = getenv("VMSANDBOX_SERVER")))
                return vs_error_set(err, VS_ERR_USAGE, "--server URL is required (or $VMSANDBOX_SERVER)");
        if (strncmp(server, "unix:", 5) == 0) {
                snprintf(c->unix_path, sizeof(c->unix_path), "%s", server + 5);
                snprintf(c->base, sizeof(c->base), "http://localhost");
        } else if (strncmp(server, "http://", 7) == 0 || strncmp(server, "https://", 8) == 0)
                snprintf(c->base, sizeof(c->base), "%s", server);
        else
                return vs_error_set(err, VS_ERR_USAGE, "--server %s: expected http://HOST:PORT or unix:/PATH", server);
        if (token_file) {
                if (vs_read_file(token_file, 255, &text, &len, err) < 0)
                        return -1;
                text[strcspn(text, "\r\n")] = '\0';
                token = text;
        }
        if (!token)
                return vs_error_set(err, VS_ERR_USAGE, "a token is required: --token-file FILE or $VMSANDBOX_TOKEN");
        snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", token);
        return 0;
}

typedef struct {
        FILE *out;      /* a 2xx body goes here, or into buf; any other answer into buf */
        char *buf;
        size_t len;
        CURL *h;        /* set by http(): the status is known before the first byte */
        bool checked;
} sink;

static size_t on_data(char *data, size_t size, size_t n, void *userdata)
{
        sink *s = userdata;
        size_t len = size * n;
        char *nb;

        /* An error answer is the server's JSON: it goes to the message, never
         * into the user's file or onto stdout. */
        if (s->out && !s->checked) {
                long status = 0;

                s->checked = true;
                curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
                if (status < 200 || status >= 300)
                        s->out = NULL;
        }
        if (s->out)
                return fwrite(data, 1, len, s->out) == len ? len : 0;
        if (s->len + len > (16u << 20))
                return 0;
        nb = realloc(s->buf, s->len + len + 1);
        if (!nb)
                return 0;
        memcpy(nb + s->len, data, len);
        s->buf = nb;
        s->len += len;
        s->buf[s->len] = '\0';
        return len;
}

/* One request.  Returns the HTTP status, or -1 with err set. */
static long http(client *c, const char *method, const char *path, const char *json, FILE *upload, sink *out,
                 vs_error *err)
{
        CURL *h = curl_easy_init();
        struct curl_slist *hdr = NULL;
        char url[2048];
        long status = -1;
        CURLcode rc;

        if (!h)
                return vs_error_set(err, VS_ERR_SETUP, "cannot initialise libcurl");
        snprintf(url, sizeof(url), "%s%s", c->base, path);
        hdr = curl_slist_append(hdr, c->auth);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
        out->h = h;
        out->checked = false;
        if (c->unix_path[0])
                curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
        if (json) {
                hdr = curl_slist_append(hdr, "Content-Type: application/json");
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
        } else if (upload) {
                curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(h, CURLOPT_READDATA, upload);
        } else if (strcmp(method, "POST") == 0)
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        rc = curl_easy_perform(h);
        if (rc != CURLE_OK)
                vs_error_set(err, VS_ERR_SETUP, "%s %s: %s", method, url, curl_easy_strerror(rc));
        else
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(hdr);
        curl_easy_cleanup(h);
        out->h = NULL;
        return rc == CURLE_OK ? status : -1;
}

/* Turns a non-2xx answer into an error carrying the server's message. */
static int check(long status, sink *s, vs_error *err)
{
        json_t *j;

        if (status < 0)
                return -1;
        if (status >= 200 && status < 300)
                return 0;
        j = s->buf ? json_loads(s->buf, 0, NULL) : NULL;
        vs_error_set(err, status == 404 ? VS_ERR_NOT_FOUND : status < 500 ? VS_ERR_USAGE : VS_ERR_SANDBOX,
                     "server answered %ld: %s", status,
                     json_string_value(json_object_get(json_object_get(j, "error"), "message")) ?: "no message");
        json_decref(j);
        return -1;
}

static int upload_file(client *c, const char *id, const char *what, const char *path, vs_error *err)
{
        FILE *f = fopen(path, "rbe");
        sink s = { 0 };
        char p[128];
        long st;

        if (!f)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "cannot read %s", path);
        snprintf(p, sizeof(p), "/v1/jobs/%s/%s", id, what);
        st = http(c, "PUT", p, NULL, f, &s, err);
        fclose(f);
        int r = check(st, &s, err);
        free(s.buf);
        return r;
}

/* The workspace goes up as a tar made by tar(1), streamed from a pipe. */
static int upload_workspace(client *c, const char *id, const char *dir, vs_error *err)
{
        int p[2], status;
        pid_t pid;
        FILE *f;
        sink s = { 0 };
        char path[128];
        long st;

        if (pipe2(p, O_CLOEXEC) < 0)
                return vs_error_errno(err, VS_ERR_SETUP, errno, "pipe");
        pid = fork();
        if (pid < 0) {
                int e = errno;
                close(p[0]);
                close(p[1]);
                return vs_error_errno(err, VS_ERR_SETUP, e, "fork");
        }
        if (pid == 0) {
                if (dup2(p[1], STDOUT_FILENO) < 0)
                        _exit(127);
                execlp("tar", "tar", "-C", dir, "-cf", "-", ".", (char *)NULL);
                _exit(127);
        }
        close(p[1]);
        f = fdopen(p[0], "rb");
        if (!f) {
                close(p[0]);
                kill(pid, SIGTERM); /* pid > 0: our own child */
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                        ;
                return vs_error_errno(err, VS_ERR_SETUP, ENOMEM, "fdopen");
        }
        snprintf(path, sizeof(path), "/v1/jobs/%s/workspace", id);
        st = http(c, "PUT", path, NULL, f, &s, err);
        fclose(f);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        int r = check(st, &s, err);
        free(s.buf);
        if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
                r = vs_error_set(err, VS_ERR_INPUT, "tar of workspace %s failed", dir);
        return r;
}

static int get_json(client *c, const char *path, json_t **ret, vs_error *err)
{
        sink s = { 0 };
        long st = http(c, "GET", path, NULL, NULL, &s, err);
        int r = check(st, &s, err);

        *ret = r == 0 && s.buf ? json_loads(s.buf, 0, NULL) : NULL;
        free(s.buf);
        return r == 0 && !*ret ? vs_error_set(err, VS_ERR_SANDBOX, "the server's answer is not JSON") : r;
}

/* The merged output (followed or not), or one collected log (stream). */
static int stream_logs(client *c, const char *id, bool follow, const char *stream, vs_error *err)
{
        sink s = { .out = stdout };
        char path[128];

        if (stream)
                snprintf(path, sizeof(path), "/v1/jobs/%s/logs?stream=%s", id, stream);
        else
                snprintf(path, sizeof(path), "/v1/jobs/%s/logs%s", id, follow ? "?follow=1" : "");
        return check(http(c, "GET", path, NULL, NULL, &s, err), &s, err);
}

/* Exit status as `vmsandbox run` would give it. */
static int job_exit(json_t *rec)
{
        const char *st = json_string_value(json_object_get(rec, "status"));

        if (st && (!strcmp(st, "success") || !strcmp(st, "failure")))
                return (int)json_integer_value(json_object_get(rec, "exit_code"));
        if (st && !strcmp(st, "timeout")) {
                /* where it was and what to raise, as `run` says it */
                const char *e = json_string_value(json_object_get(rec, "error")) ?: "the job ran past --timeout and was stopped";
                _cleanup_free_ char *safe = vs_text_for_terminal(e, strlen(e), 4096, NULL);

                fprintf(stderr, "vmsandbox: %s\n", safe);
                return EXIT_TIMEOUT;
        }
        if (st && !strcmp(st, "cancelled"))
                return EXIT_CANCELLED;
        {
                const char *e = json_string_value(json_object_get(rec, "error")) ?: "no verdict";
                _cleanup_free_ char *safe_st = vs_text_for_terminal(st ? st : "?", strlen(st ? st : "?"), 64, NULL);
                _cleanup_free_ char *safe = vs_text_for_terminal(e, strlen(e), 4096, NULL);

                fprintf(stderr, "vmsandbox: job %s: %s\n", safe_st, safe);
        }
        return EXIT_SANDBOX;
}

static void submit_usage(FILE *f)
{
        fputs("Usage: vmsandbox submit --server URL [--token-file F] [--follow] RUN-OPTIONS [-- CMD [ARG...]]\n"
              "\n"
              "Submits a job to `vmsandbox serve` with the options of `vmsandbox run`\n"
              "(--image and --workspace are uploaded) and prints its id.  With --follow,\n"
              "streams its output and exits with its exit status, as `run` does.\n"
              "URL: http://HOST:PORT or unix:/PATH; the token may also come from $VMSANDBOX_TOKEN.\n",
              f);
}

static int submit(run_args *a, vs_error *err)
{
        client c;
        json_t *spec, *rec = NULL;
        char *text, id[13], path[128];
        sink s = { 0 };
        long st;
        int r;

        if (client_init(&c, a->server, a->token_file, err) < 0)
                return -1;
        spec = vs_spec_to_json(&a->spec);
        json_object_del(spec, "image"); /* local files are uploaded */
        json_object_del(spec, "workspace");
        text = json_dumps(spec, JSON_COMPACT);
        json_decref(spec);
        st = http(&c, "POST", "/v1/jobs", text, NULL, &s, err);
        free(text);
        r = check(st, &s, err);
        rec = r == 0 ? json_loads(s.buf, 0, NULL) : NULL;
        free(s.buf);
        if (r < 0 || !json_is_string(json_object_get(rec, "id"))) {
                json_decref(rec);
                return r < 0 ? -1 : vs_error_set(err, VS_ERR_SANDBOX, "the server's answer has no job id");
        }
        snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(rec, "id")));
        json_decref(rec);
        if ((a->spec.image && upload_file(&c, id, "image", a->spec.image, err) < 0) ||
            (a->spec.workspace && upload_workspace(&c, id, a->spec.workspace, err) < 0))
                return -1;
        snprintf(path, sizeof(path), "/v1/jobs/%s/start", id);
        s = (sink){ 0 };
        r = check(http(&c, "POST", path, NULL, NULL, &s, err), &s, err);
        free(s.buf);
        if (r < 0)
                return -1;
        if (!a->follow) {
                printf("%s\n", id);
                return 0;
        }
        fprintf(stderr, "vmsandbox: job %s\n", id);
        if (stream_logs(&c, id, true, NULL, err) < 0)
                return -1;
        snprintf(path, sizeof(path), "/v1/jobs/%s", id);
        if (get_json(&c, path, &rec, err) < 0)
                return -1;
        r = job_exit(rec);
        json_decref(rec);
        return r;
}

int cmd_submit(int argc, char **argv)
{
        run_args a = { .help = submit_usage };
        vs_error err = { 0 };
        int r;

        /* No config file: a client needs nothing of this host's set-up, and
         * on a service's host /etc/vmsandbox is root's alone (0700). */
        vs_spec_init(&a.spec);
        a.cfg = (vs_config){ .accel = VS_ACCEL_AUTO };
        if (cli_parse_run_args(argc, argv, &a, &err) < 0)
                r = cli_fail(&err);
        else if (a.out || a.json || a.quiet)
                r = cli_fail(&(vs_error){ .kind = VS_ERR_USAGE,
                                          .msg = "--out, --json and --quiet belong to run; use fetch and status" });
        else if (a.host_flag) {
                vs_error_set(&err, VS_ERR_USAGE, "%s belongs to run: the service chooses the acceleration and the base image",
                             a.host_flag);
                r = cli_fail(&err);
        }
        else if ((r = submit(&a, &err)) < 0)
                r = cli_fail(&err);
        vs_spec_clear(&a.spec);
        vs_config_clear(&a.cfg);
        return r;
}

static int save_to(client *c, const char *path, const char *dir, const char *name, bool optional, vs_error *err)
{
        _cleanup_free_ char *file = NULL;
        sink s = { 0 };
        long st;
        int r;

        if (asprintf(&file, "%s/%s", dir, name) < 0 || !(s.out = fopen(file, "wxe")))
                return vs_error_errno(err, VS_ERR_USAGE, errno, "cannot create %s", file ? file : name);
        FILE *f = s.out;
        st = http(c, "GET", path, NULL, NULL, &s, err);
        if (fclose(f) != 0 && st >= 200 && st < 300) {
                free(s.buf);
                return vs_error_errno(err, VS_ERR_USAGE, errno, "cannot write %s", file);
        }
        if (optional && (st == 404 || st == 409)) {
                free(s.buf);
                unlink(file);
                return 0;
        }
        r = check(st, &s, err); /* a failed connection keeps http()'s error */
        free(s.buf);
        if (r < 0)
                unlink(file);
        return r;
}

static int fetch_into(client *c, const char *id, const char *out, vs_error *err)
{
        char path[128];

        snprintf(path, sizeof(path), "/v1/jobs/%s", id);
        if (save_to(c, path, out, "job.json", false, err) < 0)
                return -1;
        snprintf(path, sizeof(path), "/v1/jobs/%s/logs", id);
        if (save_to(c, path, out, "output.log", false, err) < 0)
                return -1;
        snprintf(path, sizeof(path), "/v1/jobs/%s/workspace", id);
        if (save_to(c, path, out, "workspace.tar", true, err) < 0)
                return -1;
        snprintf(path, sizeof(path), "/v1/jobs/%s/image", id);
        return save_to(c, path, out, "image.tar", true, err);
}

/* --out is made here (it must not exist) and removed again when the fetch
 * fails: nothing half-fetched is left behind. */
static int fetch(client *c, const char *id, const char *out, vs_error *err)
{
        if (!out)
                return vs_error_set(err, VS_ERR_USAGE, "fetch needs --out DIR");
        if (mkdir(out, 0700) < 0)
                return vs_error_errno(err, VS_ERR_USAGE, errno, "--out %s", out);
        if (fetch_into(c, id, out, err) < 0) {
                vs_rm_rf(out);
                return -1;
        }
        return 0;
}

static void client_usage(FILE *f)
{
        fputs("Usage: vmsandbox status|logs|cancel|fetch ID --server URL [--token-file F]\n"
              "         [--follow | --stream stdout|stderr|dockerd (logs)] [--out DIR (fetch)]\n"
              "\n"
              "  status  the job record as JSON\n"
              "  logs    the job's output; --follow streams it until the job ends; --stream\n"
              "          one log of a finished job: stdout, stderr or dockerd (its engine)\n"
              "  cancel  cancel a queued or running job (its VM is destroyed)\n"
              "  fetch   job.json, output.log, workspace.tar and image.tar into a new --out DIR\n",
              f);
}

int cmd_client(const char *verb, int argc, char **argv)
{
        static const struct option options[] = {
                { "server", required_argument, NULL, 's' }, { "token-file", required_argument, NULL, 't' },
                { "follow", no_argument, NULL, 'f' },       { "out", required_argument, NULL, 'o' },
                { "stream", required_argument, NULL, 'S' },
                { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
        };
        const char *server = NULL, *token = NULL, *out = NULL, *stream = NULL;
        bool follow = false;
        vs_error err = { 0 };
        client c;
        char path[128];
        int opt, r = 0;

        opterr = 0;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (opt) {
                case 's': server = optarg; break;
                case 't': token = optarg; break;
                case 'f': follow = true; break;
                case 'o': out = optarg; break;
                case 'S': stream = optarg; break;
                case 'h': client_usage(stdout); return 0;
                default:
                        fprintf(stderr, "vmsandbox: %s: unknown option or missing value\n", argv[optind - 1]);
                        return EXIT_USAGE;
                }
        }
        if (optind != argc - 1 || strlen(argv[optind]) != 12) {
                fprintf(stderr, "vmsandbox: %s needs one job ID (12 hex digits)\n", verb);
                return EXIT_USAGE;
        }
        if (stream && strcmp(stream, "stdout") != 0 && strcmp(stream, "stderr") != 0 && strcmp(stream, "dockerd") != 0) {
                fprintf(stderr, "vmsandbox: --stream %.32s: not stdout, stderr or dockerd\n", stream);
                return EXIT_USAGE;
        }
        if (stream && (strcmp(verb, "logs") != 0 || follow)) {
                fprintf(stderr, "vmsandbox: --stream belongs to logs, without --follow (a stream is served once the job ended)\n");
                return EXIT_USAGE;
        }
        if (client_init(&c, server, token, &err) < 0)
                return cli_fail(&err);
        if (strcmp(verb, "status") == 0) {
                json_t *rec;
                snprintf(path, sizeof(path), "/v1/jobs/%s", argv[optind]);
                if ((r = get_json(&c, path, &rec, &err)) == 0) {
                        json_dumpf(rec, stdout, JSON_INDENT(2));
                        putchar('\n');
                        json_decref(rec);
                }
        } else if (strcmp(verb, "logs") == 0)
                r = stream_logs(&c, argv[optind], follow, stream, &err);
        else if (strcmp(verb, "cancel") == 0) {
                sink s = { 0 };
                snprintf(path, sizeof(path), "/v1/jobs/%s/cancel", argv[optind]);
                r = check(http(&c, "POST", path, NULL, NULL, &s, &err), &s, &err);
                free(s.buf);
        } else
                r = fetch(&c, argv[optind], out, &err);
        return r < 0 ? cli_fail(&err) : 0;
}
