/* vmsandbox serve: the HTTP job API over libvmsandbox's service (service.h).
 * This layer only maps HTTP to library calls and errors to status codes. */
#ifndef VS_SERVER_H
#define VS_SERVER_H

#include "error.h"
#include "imagestore.h"
#include "service.h"
#include "tokens.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* A Docker-compatible socket (docs/docker-api.md): who connects acts as
 * the tenant's owner "docker:TENANT". */
typedef struct {
        const char *path;
        const char *tenant;        /* [A-Za-z0-9_.-]{1,48}; NULL: "default" */
        const char *root;          /* the tenant's own allowed root (vs_service_set_tenant_root); NULL:
                                      its containers bind no host directory */
} vs_docker_socket;

#define VS_DOCKER_SOCKETS_MAX 64
#define VS_TENANT_MAX 48

typedef struct {
        const char *listen;        /* "127.0.0.1:8765"; NULL with socket NULL: no job API */
        const char *socket;        /* unix socket path instead */
        const char *socket_group;  /* group of that socket (mode 0660); NULL: unchanged */
        const char *token_file;    /* the admin token (required with the job API) */
        const char *metrics_token_file; /* a token that reads GET /metrics only; NULL: none */
        const vs_docker_socket *docker; /* Docker-compatible sockets */
        size_t ndocker;
        long docker_gid;           /* group of the docker sockets (mode 0660); -1: unchanged */
        const char *docker_socket_dir; /* where the admin may add tenants' sockets at run time; NULL: nowhere */
        unsigned tenant_images;    /* a tenant's images in the image store; 0: the store's default */
        uint64_t tenant_image_space; /* bytes of blobs a tenant's images may hold; 0: the store's default */
        uint64_t max_body;         /* JSON bodies */
        uint64_t grace_ms;         /* SIGTERM: time running jobs get to finish */
        unsigned max_connections;  /* at once; 0: 256 */
        unsigned max_per_ip;       /* at once from one address (TCP only); 0: 64 */
        uint64_t tmp_space;        /* request bodies (image loads, build contexts) and image exports in
                                      state_dir/server/tmp at once; 0: a quarter of its filesystem */
        uint64_t owner_tmp_space;  /* the same for one owner; 0: a quarter of tmp_space, at least
                                      max_upload (and at most tmp_space) */
        unsigned owner_holds;      /* held requests (follows, waits, uploads, downloads) of one owner at
                                      once; 0: a quarter of what all may hold */
        unsigned idle_timeout_s;   /* a connection idle this long is closed (and a log follow of a job
                                      that stays created ends); 0: 60 */
        vs_service_opts service;
} vs_server_opts;

typedef struct vs_server vs_server;

/* Runs until SIGTERM/SIGINT; returns 0 after a clean drain. */
int vs_server_run(const vs_server_opts *o, vs_error *err);

/* The same without signals (tests): serving once _start returns. */
int vs_server_start(const vs_server_opts *o, vs_server **ret, vs_error *err);
/* Drains the service for grace_ms, stops the daemon, frees everything. */
void vs_server_stop(vs_server *srv, uint64_t grace_ms);
vs_service *vs_server_service(vs_server *srv);
vs_imgstore *vs_server_images(vs_server *srv);
unsigned vs_server_connections(vs_server *srv);
/* The temporary space held now and its bound (serve --tmp-space). */
void vs_server_tmp_usage(vs_server *srv, uint64_t *held, uint64_t *max);

/* ---- private to src/server ---- */

typedef enum {
        ROUTE_PUBLIC, /* no token */
        ROUTE_CLIENT, /* any token: a client token sees its own jobs, the admin token all */
        ROUTE_ADMIN,  /* the admin token only */
        ROUTE_METRICS, /* the admin token or the metrics token (--metrics-token-file) */
        ROUTE_ACCESS_LAST
} route_access;

typedef enum {
        ROUTE_BODY_NONE,
        ROUTE_BODY_JSON,   /* kept in memory, at most max_body */
        ROUTE_BODY_UPLOAD, /* a job's upload: streamed to its file, at most max_upload */
        ROUTE_BODY_FILE,   /* streamed to an unnamed private file (rq->body_fd), at most max_upload */
        ROUTE_BODY_LAST
} route_body;

/* Which listener a route answers on. */
typedef enum {
        ROUTE_API_JOBS,    /* the job API (--listen/--socket, bearer tokens) */
        ROUTE_API_DOCKER,  /* the Docker-compatible sockets (the socket's tenant) */
        ROUTE_API_LAST
} route_api;

#define ROUTE_CAPTURES_MAX 4

typedef struct server_ctx server_ctx;
typedef struct request request;
typedef enum MHD_Result (*route_fn)(server_ctx *ctx, request *rq);

/* One row per route: a new API (the Docker socket) is new rows. */
typedef struct {
        route_api api;       /* the listener it answers on */
        const char *method;
        const char *pattern; /* "/v1/jobs/{id}/files/{path*}": {x} one segment, {x*} the rest */
        route_access access;
        route_body body;
        route_fn fn;
        const char *arg;     /* a constant for the handler: the upload's kind, a file name */
        bool holds;          /* may keep its connection long (follows, waits, uploads, downloads) */
} route_def;

/* Connections that requests of `holds` routes may take, in all, from one
 * address (TCP) and for one owner (a client token, a Docker tenant): the
 * rest is headroom that short requests, the admin and /v1/health always
 * find, and no owner takes what the others need. */
typedef struct {
        pthread_mutex_t lock;
        unsigned max, per_addr_max;   /* per_addr_max 0: no per-address count (unix socket) */
        unsigned per_owner_max;
        unsigned n;
        struct { uint32_t addr; unsigned n; } *addrs; /* per address; a slot with n 0 is free */
        size_t nslots;                /* --max-connections: no more addresses can hold at once */
        struct { char owner[VS_OWNER_MAX + 1]; unsigned n; } *owners; /* nslots of them; n 0: free */
} hold_table;

/* One listening daemon: the job API, or one Docker socket and its tenant. */
typedef struct {
        server_ctx *ctx;
        route_api api;
        char *tenant;                   /* ROUTE_API_DOCKER */
        char owner[VS_OWNER_MAX + 1];   /* ROUTE_API_DOCKER: "docker:TENANT" */
        char *path;                     /* unix socket to unlink at the end, or NULL */
        char *root;                     /* ROUTE_API_DOCKER: the tenant's root, or NULL (no binds) */
        bool runtime;                   /* added through the job API */
        bool stopping;                  /* atomic: its daemon is being stopped (hijacked streams end:
                                           MHD_stop_daemon waits for them and does not close them) */
        struct MHD_Daemon *d;
} listener;

#define LISTENERS_MAX (VS_DOCKER_SOCKETS_MAX + 1)

/* listeners.c: every daemon; pointers stay valid until listeners_stop (a
 * removed one is stopped first). */
typedef struct {
        pthread_mutex_t lock;
        listener *l[LISTENERS_MAX];
        size_t n;
        unsigned limit, per_ip, idle;
        long docker_gid;
        char *socket_dir;
        char *runtime_file;
} listener_table;

/* Bytes of the temp files in tmp_dir (ROUTE_BODY_FILE bodies, image
 * exports), in all and per owner: charged before they are written (a
 * declared length, an export's estimate) or as they grow, released when
 * the request is freed.  The admin's count in the total only. */
typedef struct {
        pthread_mutex_t lock;
        uint64_t max, per_owner_max, total;
        struct { char owner[VS_OWNER_MAX + 1]; uint64_t bytes; } *owners; /* nslots; bytes 0: free */
        size_t nslots;
} tmp_quota;

/* Charges add more bytes to rq (NO_SPACE naming the bound past it);
 * everything rq was charged goes back when it is freed. */
int tmp_charge(server_ctx *ctx, request *rq, uint64_t add, vs_error *err);
void tmp_usage(server_ctx *ctx, uint64_t *held, uint64_t *max);

struct server_ctx {
        vs_service *svc;
        vs_tokens *tokens;
        char token[256];          /* the admin token */
        size_t token_len;
        char metrics_token[256];  /* reads /metrics and nothing else; empty: none */
        size_t metrics_token_len;
        uint64_t max_body;
        uint64_t max_upload;
        const route_def *routes;  /* NULL-method terminated */
        unsigned idle_timeout_s;
        hold_table holds;
        char *tmp_dir;            /* state_dir/server/tmp: ROUTE_BODY_FILE bodies (unnamed) */
        tmp_quota tmp;
        listener_table listeners;
        const vs_config *cfg;     /* the service's (the base image: its preloaded images) */
        vs_imgstore *images;      /* state_dir/images: the Docker sockets' images */
        /* Whether a container uses an image (DELETE /images); NULL: none does. */
        vs_imgstore_in_use_fn image_in_use;
        void *image_in_use_userdata;
};

struct request {
        server_ctx *ctx;
        const listener *l;
        struct MHD_Connection *c;
        const char *method;
        const char *path;         /* the URL path, after a Docker /vX.Y prefix */
        unsigned api_version;     /* Docker: 100 * major + minor asked for (141); 0: none given */
        const route_def *route;   /* NULL: none matched */
        char *capture[ROUTE_CAPTURES_MAX];
        bool admin;
        bool metrics_only;        /* the metrics token: ROUTE_METRICS routes only */
        char owner_buf[VS_OWNER_MAX + 1];
        const char *owner;        /* NULL for the admin: every job */

        char *body;               /* JSON body, bounded */
        size_t body_len;
        bool too_large;
        vs_upload *upload;        /* PUT uploads stream here */
        bool upload_failed;
        vs_error upload_err;
        int body_fd;              /* ROUTE_BODY_FILE: the body, at offset 0 when the route runs; -1 */
        uint64_t body_fd_len;
        void (*on_free)(void *arg); /* called when the request is freed (what a handler left to it) */
        void *on_free_arg;
        bool held;                /* counted in ctx->holds */
        bool held_addr;
        bool held_owner;
        uint64_t tmp_charged;     /* bytes of tmp_quota this request holds */
        uint32_t addr;
};

enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, json_t *body);
enum MHD_Result respond_error(struct MHD_Connection *c, const vs_error *err);
enum MHD_Result respond_code(struct MHD_Connection *c, unsigned status, const char *code, const char *msg);
unsigned http_status(vs_error_kind kind);
/* True when the client closed its end (checked between waits). */
bool client_gone(struct MHD_Connection *c);

/* A request's JSON body, bounded in size and depth. */
json_t *parse_body(const request *rq, vs_error *err);

/* server.c: MHD's callbacks (cls: the listener). */
enum MHD_Result server_on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls);
void server_on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe);

/* listeners.c */
int listeners_start(server_ctx *ctx, const vs_server_opts *o, unsigned limit, unsigned per_ip, unsigned idle,
                    vs_error *err);
void listeners_quiesce(server_ctx *ctx);
void listeners_stop(server_ctx *ctx);
unsigned listeners_connections(server_ctx *ctx);
/* The admin's: a socket DIR/TENANT.sock (*ret_path, malloc'd) for tenant,
 * with root (NULL: none) as the tenant's allowed root; CONFLICT without
 * --docker-socket-dir, when it is served already, or when another socket
 * of the tenant has another root. */
int listeners_add_docker(server_ctx *ctx, const char *tenant, const char *root, char **ret_path, vs_error *err);
int listeners_remove_tenant(server_ctx *ctx, const char *tenant, vs_error *err);
json_t *listeners_docker_json(server_ctx *ctx);

/* routes.c: the one route table (both APIs); match fills rq->capture. */
extern const route_def api_routes[];
const route_def *route_match(const route_def *table, route_api api, const char *method, const char *url,
                             request *rq);
bool query_true(struct MHD_Connection *c, const char *key);

/* docker.c: the Docker Engine API's common parts.  Every answer on a Docker
 * socket carries Api-Version, Docker-Experimental, OSType and Server. */
#define DOCKER_API_VERSION "1.41"
#define DOCKER_API_MIN_VERSION "1.25"
#define DOCKER_API_NUM 141u
#define DOCKER_API_MIN_NUM 125u
void docker_headers(struct MHD_Response *r);
/* Queues r (destroyed here) with the Docker headers. */
enum MHD_Result docker_respond(struct MHD_Connection *c, unsigned status, struct MHD_Response *r);
enum MHD_Result docker_respond_json(struct MHD_Connection *c, unsigned status, json_t *body);
/* {"message": msg}: how the Engine API answers errors. */
enum MHD_Result docker_respond_message(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
enum MHD_Result docker_respond_error(struct MHD_Connection *c, const vs_error *err);
/* Parses a "/v1.41/..." prefix: the rest of the path in *ret_rest and the
 * version (141) in *ret_version; no prefix: the path and 0.  -1 for a
 * malformed version. */
int docker_strip_version(const char *url, const char **ret_rest, unsigned *ret_version);
/* The answer to a request no row matches: 501 naming it, or 404 for a
 * known path with another method. */
enum MHD_Result docker_unmatched(request *rq);
/* The tenant's owner string: "docker:TENANT". */
int docker_owner(const char *tenant, char ret[VS_OWNER_MAX + 1], vs_error *err);
enum MHD_Result docker_ping(server_ctx *ctx, request *rq);
enum MHD_Result docker_version(server_ctx *ctx, request *rq);
enum MHD_Result docker_info(server_ctx *ctx, request *rq);
/* 404 for an object of a kind vmsandbox has none of (route arg: the kind). */
enum MHD_Result docker_no_such(server_ctx *ctx, request *rq);
/* docker_images.c: the image endpoints over ctx->images. */
enum MHD_Result docker_image_load(server_ctx *ctx, request *rq);
enum MHD_Result docker_images_get(server_ctx *ctx, request *rq);
enum MHD_Result docker_images_list(server_ctx *ctx, request *rq);
enum MHD_Result docker_image_create(server_ctx *ctx, request *rq);
enum MHD_Result docker_image_get(server_ctx *ctx, request *rq);    /* /images/{name*}/json and /get */
enum MHD_Result docker_image_post(server_ctx *ctx, request *rq);   /* /images/{name*}/tag */
enum MHD_Result docker_image_delete(server_ctx *ctx, request *rq);
/* docker_build.c: POST /build (docs/docker-api.md "Builds"). */
enum MHD_Result docker_build(server_ctx *ctx, request *rq);
/* docker_containers.c */
enum MHD_Result docker_container_create(server_ctx *ctx, request *rq);
enum MHD_Result docker_container_list(server_ctx *ctx, request *rq);
enum MHD_Result docker_container_inspect(server_ctx *ctx, request *rq);
enum MHD_Result docker_container_start(server_ctx *ctx, request *rq);
enum MHD_Result docker_container_wait(server_ctx *ctx, request *rq);
enum MHD_Result docker_container_kill(server_ctx *ctx, request *rq);
enum MHD_Result docker_container_stop(server_ctx *ctx, request *rq);
enum MHD_Result docker_container_remove(server_ctx *ctx, request *rq);
enum MHD_Result docker_container_resize(server_ctx *ctx, request *rq);
/* The service's image resolver (userdata: the server_ctx) and the store's
 * in-use check, as vs_server_start wires them. */
int docker_image_resolve(void *userdata, const char *owner, const char *name, const char *dest,
                         vs_container_image *ret, vs_error *err);
int docker_image_in_use(void *userdata, const char *tenant, const char *image_id, char ret_container[65]);
/* docker_streams.c: a container's output (logs, attach in both forms). */
enum MHD_Result docker_logs(server_ctx *ctx, request *rq);
enum MHD_Result docker_attach(server_ctx *ctx, request *rq);

#endif
