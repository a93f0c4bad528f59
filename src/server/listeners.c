/* The daemons `serve` listens with: the job API (TCP or a unix socket) and
 * one per Docker socket, given on the command line or added at run time by
 * the admin (POST /v1/docker-sockets: DIR/TENANT.sock in --docker-socket-dir,
 * kept in state_dir/server/docker-sockets.json so that a restart brings them
 * back).  A tenant's root (the host directories its containers may bind)
 * is the service's (vs_service_set_tenant_root) while a socket of the
 * tenant is served; all sockets of one tenant have the same root. */
#include "server.h"
#include "alloc.h"
#include "cleanup.h"
#include "io.h"
#include "jsonload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <grp.h>
#include <unistd.h>

#define RUNTIME_FILE_MAX (64u << 10)

/* A unix socket at path, mode 0660 and group gid (-1: unchanged).  It is
 * bound under a umask that lets only root in, and its group and mode are set
 * before listen(): nobody else can connect in between.  Something at path
 * that is not a socket is never removed. */
static int listen_unix(const char *flag, const char *path, long gid, vs_error *err)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;
        mode_t old;
        int fd, r;

        if (path[0] != '/' || strlen(path) >= sizeof(sa.sun_path))
                return vs_error_set(err, VS_ERR_USAGE, "%s %s: expected an absolute path of at most %zu bytes", flag,
                                    path, sizeof(sa.sun_path) - 1);
        if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
                return vs_error_set(err, VS_ERR_USAGE, "%s %s: exists and is not a socket", flag, path);
        strcpy(sa.sun_path, path);
        unlink(path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot listen on %s", path);
        old = umask(0177);
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0 || (gid >= 0 && chown(path, (uid_t)-1, (gid_t)gid) < 0) || chmod(path, 0660) < 0 ||
            listen(fd, 64) < 0) {
                int e = errno;
                if (r == 0)
                        unlink(path);
                close(fd);
                return vs_error_errno(err, VS_ERR_SETUP, e, "cannot listen on %s", path);
        }
        return fd;
}

static int parse_listen(const char *spec, struct sockaddr_in *sa, vs_error *err)
{
        char host[64];
        const char *colon = strrchr(spec, ':');
        char *end;
        unsigned long port;

        if (!colon || (size_t)(colon - spec) >= sizeof(host))
                return vs_error_set(err, VS_ERR_USAGE, "--listen %s: expected ADDRESS:PORT", spec);
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        port = strtoul(colon + 1, &end, 10);
        if (*end || port == 0 || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
                return vs_error_set(err, VS_ERR_USAGE, "--listen %s: expected an IPv4 ADDRESS:PORT", spec);
        sa->sin_family = AF_INET;
        sa->sin_port = htons((uint16_t)port);
        return 0;
}

/* Bounds on clients: connections at once (in all and per address) and an
 * idle timeout.  A log follow or /v1/run that waits inside a handler is not
 * idle: MHD counts the timeout only while it waits for the client.  Docker
 * sockets may upgrade a connection (attach's hijack). */
static int start_daemon(listener_table *t, listener *l, int fd, const struct sockaddr_in *sa, vs_error *err)
{
        unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;

        if (l->api == ROUTE_API_DOCKER)
                flags |= MHD_ALLOW_UPGRADE;
        if (fd >= 0)
                l->d = MHD_start_daemon(flags, 0, NULL, NULL, server_on_request, l, MHD_OPTION_LISTEN_SOCKET, fd,
                                        MHD_OPTION_NOTIFY_COMPLETED, server_on_completed, NULL,
                                        MHD_OPTION_CONNECTION_TIMEOUT, t->idle, MHD_OPTION_CONNECTION_LIMIT,
                                        t->limit, MHD_OPTION_END);
        else
                l->d = MHD_start_daemon(flags, ntohs(sa->sin_port), NULL, NULL, server_on_request, l,
                                        MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_NOTIFY_COMPLETED, server_on_completed,
                                        NULL, MHD_OPTION_CONNECTION_TIMEOUT, t->idle, MHD_OPTION_CONNECTION_LIMIT,
                                        t->limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT, t->per_ip, MHD_OPTION_END);
        if (!l->d) {
                if (fd >= 0)
                        close(fd);
                return vs_error_set(err, VS_ERR_SETUP, "cannot listen on %s (in use?)", l->path ? l->path : "TCP");
        }
        return 0;
}

static void listener_free(listener *l)
{
        if (!l)
                return;
        __atomic_store_n(&l->stopping, true, __ATOMIC_RELEASE);
        if (l->d)
                MHD_stop_daemon(l->d);
        if (l->path && l->d)
                unlink(l->path);
        free(l->path);
        free(l->tenant);
        free(l->root);
        free(l);
}

/* Under t->lock. */
static bool path_in_use_locked(const listener_table *t, const char *path)
{
        for (size_t i = 0; i < t->n; i++)
                if (t->l[i]->path && strcmp(t->l[i]->path, path) == 0)
                        return true;
        return false;
}

/* Under t->lock: the first Docker listener of tenant, or NULL. */
static listener *tenant_listener_locked(const listener_table *t, const char *tenant)
{
        for (size_t i = 0; i < t->n; i++)
                if (t->l[i]->api == ROUTE_API_DOCKER && strcmp(t->l[i]->tenant, tenant) == 0)
                        return t->l[i];
        return NULL;
}

static bool same_root(const char *a, const char *b)
{
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Under t->lock: l's root becomes its tenant's, unless another socket of
 * the tenant has given it already (the same one: else CONFLICT). */
static int tenant_root_locked(server_ctx *ctx, const listener *l, const char *flag, const char *path, bool *ret_set,
                              vs_error *err)
{
        const listener *other = tenant_listener_locked(&ctx->listeners, l->tenant);

        *ret_set = false;
        if (other && !same_root(other->root, l->root))
                return vs_error_set(err, VS_ERR_CONFLICT, "%s %s: tenant %s has %s%s already (its socket %s)", flag, path,
                                    l->tenant, other->root ? "the root " : "no root", other->root ? other->root : "",
                                    other->path);
        if (other || !l->root)
                return 0;
        if (vs_service_set_tenant_root(ctx->svc, l->owner, l->root, err) < 0) {
                vs_error_prefix(err, "%s %s", flag, path);
                return -1;
        }
        *ret_set = true;
        return 0;
}

/* A Docker socket for tenant at path, with the tenant's root (NULL:
 * none); runtime: added through the job API (and kept in the runtime
 * file). */
static int add_docker(server_ctx *ctx, const char *flag, const char *path, const char *tenant, const char *root,
                      bool runtime, vs_error *err)
{
        listener_table *t = &ctx->listeners;
        listener *l = vs_xcalloc(1, sizeof(*l));
        bool root_set = false;
        int fd, r = 0;

        l->ctx = ctx;
        l->api = ROUTE_API_DOCKER;
        l->runtime = runtime;
        l->tenant = vs_xstrdup(tenant ? tenant : "default");
        if (root) {
                size_t n = strlen(root);
                while (n > 1 && root[n - 1] == '/')
                        n--;
                l->root = vs_xstrndup(root, n);
        }
        if (docker_owner(l->tenant, l->owner, err) < 0) {
                listener_free(l);
                return -1;
        }
        pthread_mutex_lock(&t->lock);
        if (t->n == LISTENERS_MAX)
                r = vs_error_set(err, VS_ERR_LIMIT, "at most %d Docker sockets", VS_DOCKER_SOCKETS_MAX);
        else if (path_in_use_locked(t, path))
                r = vs_error_set(err, VS_ERR_CONFLICT, "%s is already served", path);
        else if (tenant_root_locked(ctx, l, flag, path, &root_set, err) < 0)
                r = -1;
        else if ((fd = listen_unix(flag, path, t->docker_gid, err)) < 0)
                r = -1;
        else {
                l->path = vs_xstrdup(path);
                if (start_daemon(t, l, fd, NULL, err) < 0) {
                        unlink(path);
                        r = -1;
                } else {
                        t->l[t->n++] = l;
                        l = NULL;
                }
        }
        if (r < 0 && root_set)
                vs_service_set_tenant_root(ctx->svc, l->owner, NULL, &(vs_error){ 0 });
        pthread_mutex_unlock(&t->lock);
        listener_free(l);
        return r;
}

/* ---- the runtime file ------------------------------------------------------------ */

/* Under t->lock: the tenants whose sockets were added at run time,
 * [{"tenant": T, "root": R}, ...] ("root" only when it has one), replaced
 * atomically. */
static int save_runtime_locked(listener_table *t, vs_error *err)
{
        _cleanup_json_ json_t *list = vs_xjson(json_array());
        _cleanup_free_ char *text = NULL;

        for (size_t i = 0; i < t->n; i++) {
                json_t *e;
                if (!t->l[i]->runtime)
                        continue;
                e = vs_xjson(json_pack("{s:s}", "tenant", t->l[i]->tenant));
                if (t->l[i]->root)
                        json_object_set_new(e, "root", vs_xjson(json_string(t->l[i]->root)));
                json_array_append_new(list, e);
        }
        text = json_dumps(list, JSON_INDENT(2));
        if (!text)
                return vs_error_set(err, VS_ERR_SANDBOX, "cannot write %s", t->runtime_file);
        return vs_write_file_atomic(t->runtime_file, text, strlen(text), 0600, err);
}

/* One entry of the runtime file: {"tenant": T[, "root": R]}, or a bare
 * "T" as the file was before tenants had roots. */
static bool runtime_entry(json_t *e, const char **ret_tenant, const char **ret_root)
{
        json_t *root;

        *ret_root = NULL;
        if (json_is_string(e)) {
                *ret_tenant = json_string_value(e);
                return true;
        }
        root = json_object_get(e, "root");
        *ret_tenant = json_string_value(json_object_get(e, "tenant"));
        *ret_root = json_string_value(root);
        return json_is_object(e) && *ret_tenant && (!root || *ret_root) &&
               json_object_size(e) == (size_t)(root ? 2 : 1);
}

/* Brings back the sockets the admin added before a restart; one that cannot
 * be served again is logged and dropped from the file. */
static void load_runtime(server_ctx *ctx)
{
        listener_table *t = &ctx->listeners;
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_t *list = NULL;
        vs_error err = { 0 };
        size_t len, i;
        json_t *e;

        if (vs_read_file(t->runtime_file, RUNTIME_FILE_MAX, &text, &len, &err) < 0) {
                if (err.errno_value != ENOENT)
                        fprintf(stderr, "<4>vmsandbox: %s\n", err.msg);
                return;
        }
        list = vs_json_load_bounded(text, len, RUNTIME_FILE_MAX, 4, VS_ERR_INPUT, &err);
        if (!json_is_array(list)) {
                fprintf(stderr, "<4>vmsandbox: %s: not a list of sockets, ignored\n", t->runtime_file);
                return;
        }
        json_array_foreach(list, i, e) {
                const char *tenant, *root;
                _cleanup_free_ char *path = NULL;
                vs_error aerr = { 0 };

                if (!runtime_entry(e, &tenant, &root) || !t->socket_dir) {
                        fprintf(stderr, "<4>vmsandbox: %s: %s: dropped\n", t->runtime_file,
                                !runtime_entry(e, &tenant, &root) ? "malformed entry"
                                                                  : "a tenant's socket, but no --docker-socket-dir");
                        continue;
                }
                path = vs_xasprintf("%s/%s.sock", t->socket_dir, tenant);
                if (add_docker(ctx, "docker socket", path, tenant, root, true, &aerr) < 0)
                        fprintf(stderr, "<4>vmsandbox: Docker socket of tenant %.60s not restored: %s\n", tenant,
                                aerr.msg);
        }
        pthread_mutex_lock(&t->lock);
        if (save_runtime_locked(t, &err) < 0)
                fprintf(stderr, "<4>vmsandbox: %s\n", err.msg);
        pthread_mutex_unlock(&t->lock);
}

/* ---- the table --------------------------------------------------------------------- */

int listeners_start(server_ctx *ctx, const vs_server_opts *o, unsigned limit, unsigned per_ip, unsigned idle,
                    vs_error *err)
{
        listener_table *t = &ctx->listeners;

        pthread_mutex_init(&t->lock, NULL);
        t->limit = limit;
        t->per_ip = per_ip;
        t->idle = idle;
        t->docker_gid = o->docker_gid;
        t->socket_dir = o->docker_socket_dir ? vs_xstrdup(o->docker_socket_dir) : NULL;
        t->runtime_file = vs_xasprintf("%s/server/docker-sockets.json", o->service.cfg->state_dir);
        if (o->listen || o->socket) {
                listener *l = vs_xcalloc(1, sizeof(*l));
                struct sockaddr_in sa = { 0 };
                int fd = -1;

                l->ctx = ctx;
                l->api = ROUTE_API_JOBS;
                long gid = -1;

                if (o->socket && o->socket_group) {
                        struct group *g = getgrnam(o->socket_group);
                        if (!g) {
                                listener_free(l);
                                return vs_error_set(err, VS_ERR_USAGE, "--socket-group %s: no such group", o->socket_group);
                        }
                        gid = (long)g->gr_gid;
                }
                if ((o->socket && (fd = listen_unix("--socket", o->socket, gid, err)) < 0) ||
                    (!o->socket && parse_listen(o->listen, &sa, err) < 0)) {
                        listener_free(l);
                        return -1;
                }
                l->path = o->socket ? vs_xstrdup(o->socket) : NULL;
                if (start_daemon(t, l, fd, &sa, err) < 0) {
                        if (l->path)
                                unlink(l->path);
                        listener_free(l);
                        return -1;
                }
                t->l[t->n++] = l;
        }
        for (size_t i = 0; i < o->ndocker; i++)
                if (add_docker(ctx, "--docker-socket", o->docker[i].path, o->docker[i].tenant, o->docker[i].root, false,
                               err) < 0)
                        return -1;
        load_runtime(ctx);
        return 0;
}

void listeners_quiesce(server_ctx *ctx)
{
        listener_table *t = &ctx->listeners;

        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < t->n; i++)
                MHD_quiesce_daemon(t->l[i]->d);
        pthread_mutex_unlock(&t->lock);
}

void listeners_stop(server_ctx *ctx)
{
        listener_table *t = &ctx->listeners;

        if (!t->runtime_file)
                return; /* never started */
        for (size_t i = 0; i < t->n; i++)
                listener_free(t->l[i]);
        t->n = 0;
        free(t->runtime_file);
        t->runtime_file = NULL;
        free(t->socket_dir);
        t->socket_dir = NULL;
        pthread_mutex_destroy(&t->lock);
}

unsigned listeners_connections(server_ctx *ctx)
{
        listener_table *t = &ctx->listeners;
        unsigned n = 0;

        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < t->n; i++) {
                const union MHD_DaemonInfo *di = MHD_get_daemon_info(t->l[i]->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
                n += di ? di->num_connections : 0;
        }
        pthread_mutex_unlock(&t->lock);
        return n;
}

int listeners_add_docker(server_ctx *ctx, const char *tenant, const char *root, char **ret_path, vs_error *err)
{
        listener_table *t = &ctx->listeners;
        char owner[VS_OWNER_MAX + 1];
        _cleanup_free_ char *path = NULL;
        int r;

        if (!t->socket_dir)
                return vs_error_set(err, VS_ERR_CONFLICT,
                                    "Docker sockets are added at run time only with serve --docker-socket-dir DIR");
        if (docker_owner(tenant, owner, err) < 0)
                return -1;
        path = vs_xasprintf("%s/%s.sock", t->socket_dir, tenant);
        if (add_docker(ctx, "socket", path, tenant, root, true, err) < 0)
                return -1;
        *ret_path = TAKE_PTR(path);
        pthread_mutex_lock(&t->lock);
        r = save_runtime_locked(t, err);
        pthread_mutex_unlock(&t->lock);
        return r;
}

/* Stops the tenant's runtime sockets (their streams end); its containers
 * and images stay. */
int listeners_remove_tenant(server_ctx *ctx, const char *tenant, vs_error *err)
{
        listener_table *t = &ctx->listeners;
        listener *gone[LISTENERS_MAX];
        size_t ngone = 0, keep = 0;
        bool configured = false;
        int r;

        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < t->n; i++) {
                listener *l = t->l[i];
                bool match = l->api == ROUTE_API_DOCKER && strcmp(l->tenant, tenant) == 0;
                if (match && l->runtime)
                        gone[ngone++] = l;
                else
                        t->l[keep++] = l;
                configured |= match && !l->runtime;
        }
        t->n = keep;
        /* The tenant's root goes with its last socket. */
        if (ngone > 0 && !tenant_listener_locked(t, tenant))
                vs_service_set_tenant_root(ctx->svc, gone[0]->owner, NULL, &(vs_error){ 0 });
        r = ngone > 0 ? save_runtime_locked(t, err) : 0;
        pthread_mutex_unlock(&t->lock);
        /* Stopping waits for the daemon's connections: outside the lock. */
        for (size_t i = 0; i < ngone; i++)
                listener_free(gone[i]);
        if (ngone == 0)
                return vs_error_set(err, configured ? VS_ERR_CONFLICT : VS_ERR_NOT_FOUND,
                                    configured ? "tenant %s's socket is on the command line: restart without it"
                                               : "no Docker socket of tenant %s was added at run time",
                                    tenant);
        return r;
}

json_t *listeners_docker_json(server_ctx *ctx)
{
        listener_table *t = &ctx->listeners;
        json_t *list = vs_xjson(json_array());

        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < t->n; i++)
                if (t->l[i]->api == ROUTE_API_DOCKER)
                        json_array_append_new(list, vs_xjson(json_pack("{s:s, s:s, s:s?, s:s}", "path", t->l[i]->path,
                                                                       "tenant", t->l[i]->tenant, "root",
                                                                       t->l[i]->root, "added",
                                                                       t->l[i]->runtime ? "api" : "command line")));
        pthread_mutex_unlock(&t->lock);
        return list;
}
