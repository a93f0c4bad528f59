/* The Docker Engine API's common parts (docs/docker-api.md): the headers
 * clients check, the error shape, the version prefix, and the system
 * endpoints (_ping, version, info).  Images and containers are in
 * docker_images.c, docker_containers.c and docker_streams.c. */
#include "server.h"
#include "alloc.h"
#include "cleanup.h"
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

void docker_headers(struct MHD_Response *r)
{
        MHD_add_response_header(r, "Api-Version", DOCKER_API_VERSION);
        MHD_add_response_header(r, "Docker-Experimental", "false");
        MHD_add_response_header(r, "OSType", "linux");
        MHD_add_response_header(r, "Server", "vmsandbox/" VS_VERSION " (linux)");
}

enum MHD_Result docker_respond(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
        enum MHD_Result ret;

        if (!r)
                return MHD_NO;
        docker_headers(r);
        ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

/* Compact JSON and a newline, as dockerd writes it. */
enum MHD_Result docker_respond_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        struct MHD_Response *r;
        size_t len;

        json_decref(body);
        if (!text)
                return MHD_NO;
        len = strlen(text);
        text = vs_xrealloc(text, len + 2);
        text[len++] = '\n';
        text[len] = '\0';
        r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (!r) {
                free(text);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "application/json");
        return docker_respond(c, status, r);
}

enum MHD_Result docker_respond_message(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (status >= 500 && status != 501)
                fprintf(stderr, "<3>vmsandbox: docker: %u: %s\n", status, msg);
        /* The message may quote a client's bytes: jansson refuses invalid
         * UTF-8, so it is made valid (a lost answer would hang a client). */
        return docker_respond_json(c, status, vs_xjson(json_pack("{s:o}", "message", vs_json_text(msg, strlen(msg), sizeof(msg)))));
}

enum MHD_Result docker_respond_error(struct MHD_Connection *c, const vs_error *err)
{
        return docker_respond_message(c, http_status(err->kind), "%s", err->msg);
}

int docker_strip_version(const char *url, const char **ret_rest, unsigned *ret_version)
{
        unsigned major = 0, minor = 0;
        const char *p = url + 2;
        size_t n;

        *ret_rest = url;
        *ret_version = 0;
        if (strncmp(url, "/v", 2) != 0 || p[0] < '0' || p[0] > '9')
                return 0;
        for (n = 0; *p >= '0' && *p <= '9'; p++, n++)
                major = major * 10 + (unsigned)(*p - '0');
        if (n > 2)
                return -1;
        if (*p == '.') {
                p++;
                for (n = 0; *p >= '0' && *p <= '9'; p++, n++)
                        minor = minor * 10 + (unsigned)(*p - '0');
                if (n == 0 || n > 2)
                        return -1;
        }
        if (*p != '/' && *p != '\0')
                return -1;
        *ret_rest = *p ? p : "/";
        *ret_version = major * 100 + minor;
        return 0;
}

enum MHD_Result docker_unmatched(request *rq)
{
        /* The method and path are the client's: quoted, bounded, made UTF-8. */
        return docker_respond_message(rq->c, 501, "vmsandbox does not implement %.16s %.200s", rq->method, rq->path);
}

int docker_owner(const char *tenant, char ret[VS_OWNER_MAX + 1], vs_error *err)
{
        size_t n = strlen(tenant);

        if (n == 0 || n > VS_TENANT_MAX || strspn(tenant, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                          "0123456789_.-") != n)
                return vs_error_set(err, VS_ERR_USAGE,
                                    "tenant %.60s: expected 1 to %d letters, digits, '_', '.' or '-'", tenant,
                                    VS_TENANT_MAX);
        snprintf(ret, VS_OWNER_MAX + 1, "docker:%s", tenant);
        return 0;
}

/* ---- system ------------------------------------------------------------------ */

enum MHD_Result docker_ping(server_ctx *ctx, request *rq)
{
        struct MHD_Response *r = MHD_create_response_from_buffer(2, (void *)"OK", MHD_RESPMEM_PERSISTENT);

        (void)ctx;
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
        MHD_add_response_header(r, "Cache-Control", "no-cache, no-store, must-revalidate");
        MHD_add_response_header(r, "Pragma", "no-cache");
        /* The classic builder: POST /build streams its JSON lines. */
        MHD_add_response_header(r, "Builder-Version", "1");
        return docker_respond(rq->c, 200, r);
}

static const char *kernel_release(struct utsname *u)
{
        return uname(u) == 0 ? u->release : "";
}

enum MHD_Result docker_version(server_ctx *ctx, request *rq)
{
        struct utsname u;
        const char *kernel = kernel_release(&u);
        json_t *details;

        (void)ctx;
        details = vs_xjson(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "ApiVersion", DOCKER_API_VERSION,
                                     "MinAPIVersion", DOCKER_API_MIN_VERSION, "Os", "linux", "Arch", "amd64",
                                     "KernelVersion", kernel, "Experimental", "false"));
        return docker_respond_json(
                rq->c, 200,
                vs_xjson(json_pack("{s:{s:s}, s:[{s:s, s:s, s:o}], s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}",
                                   "Platform", "Name", "vmsandbox (every container in its own VM)", "Components",
                                   "Name", "Engine", "Version", VS_VERSION, "Details", details, "Version", VS_VERSION,
                                   "ApiVersion", DOCKER_API_VERSION, "MinAPIVersion", DOCKER_API_MIN_VERSION, "Os",
                                   "linux", "Arch", "amd64", "KernelVersion", kernel, "GitCommit", "", "Experimental",
                                   false)));
}

/* The tenant's containers by Docker's state: jobs with container facts
 * only (a build is a job of the tenant too, but no container). */
static void count_containers(server_ctx *ctx, const char *owner, size_t *ret_all, size_t *ret_running,
                             size_t *ret_created)
{
        vs_container_info *v;
        size_t n;

        vs_service_container_list(ctx->svc, owner, &v, &n);
        *ret_all = n;
        *ret_running = *ret_created = 0;
        for (size_t i = 0; i < n; i++) {
                /* A queued container has been started: Docker would call it running. */
                if (v[i].state == VS_JOB_RUNNING || v[i].state == VS_JOB_QUEUED)
                        (*ret_running)++;
                else if (v[i].state == VS_JOB_CREATED)
                        (*ret_created)++;
        }
        vs_container_info_list_free(v, n);
}

enum MHD_Result docker_info(server_ctx *ctx, request *rq)
{
        size_t all, running, created;
        struct utsname u;
        const char *kernel = kernel_release(&u);
        struct sysinfo si;
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

        if (sysinfo(&si) < 0)
                si.totalram = 0, si.mem_unit = 1;
        /* Name is Docker's host name: not the host's (a tenant needs it not). */
        count_containers(ctx, rq->owner, &all, &running, &created);
        return docker_respond_json(
                rq->c, 200,
                vs_xjson(json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, "
                                   "s:[s], s:s, s:b}",
                                   "ID", "vmsandbox", "Containers", (json_int_t)all,
                                   "ContainersRunning", (json_int_t)running, "ContainersPaused",
                                   (json_int_t)0, "ContainersStopped",
                                   (json_int_t)(all - running - created), "Driver",
                                   "vmsandbox", "OperatingSystem", "vmsandbox " VS_VERSION " (one VM per container)",
                                   "OSType", "linux", "Architecture", "x86_64", "KernelVersion", kernel, "NCPU",
                                   (json_int_t)(ncpu > 0 ? ncpu : 1), "MemTotal",
                                   (json_int_t)((uint64_t)si.totalram * si.mem_unit), "Name", "vmsandbox", "ServerVersion",
                                   VS_VERSION, "IndexServerAddress", "https://index.docker.io/v1/", "SecurityOptions",
                                   "name=vm", "CgroupDriver", "none", "ExperimentalBuild", false)));
}

enum MHD_Result docker_no_such(server_ctx *ctx, request *rq)
{
        (void)ctx;
        return docker_respond_message(rq->c, 404, "%s %.200s not found (vmsandbox has no %ss)", rq->route->arg,
                                      rq->capture[0], rq->route->arg);
}
