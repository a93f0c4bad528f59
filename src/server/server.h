/* vmsandbox serve: the HTTP job API over libvmsandbox's service (service.h).
 * This layer only maps HTTP to library calls and errors to status codes. */
#ifndef VS_SERVER_H
#define VS_SERVER_H

#include "error.h"
#include "service.h"
#include "tokens.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
        const char *listen;        /* "127.0.0.1:8765" */
        const char *socket;        /* unix socket path instead */
        const char *token_file;    /* the admin token */
        uint64_t max_body;         /* JSON bodies */
        uint64_t grace_ms;         /* SIGTERM: time running jobs get to finish */
        unsigned max_connections;  /* at once; 0: 256 */
        unsigned max_per_ip;       /* at once from one address (TCP only); 0: 64 */
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
unsigned vs_server_connections(vs_server *srv);

/* ---- private to src/server ---- */

typedef enum {
        ROUTE_PUBLIC, /* no token */
        ROUTE_CLIENT, /* any token: a client token sees its own jobs, the admin token all */
        ROUTE_ADMIN,  /* the admin token only */
        ROUTE_ACCESS_LAST
} route_access;

typedef enum {
        ROUTE_BODY_NONE,
        ROUTE_BODY_JSON,   /* kept in memory, at most max_body */
        ROUTE_BODY_UPLOAD, /* streamed to a file, at most max_upload */
        ROUTE_BODY_LAST
} route_body;

#define ROUTE_CAPTURES_MAX 4

typedef struct server_ctx server_ctx;
typedef struct request request;
typedef enum MHD_Result (*route_fn)(server_ctx *ctx, request *rq);

/* One row per route: a new API (the Docker socket) is new rows. */
typedef struct {
        const char *method;
        const char *pattern; /* "/v1/jobs/{id}/files/{path*}": {x} one segment, {x*} the rest */
        route_access access;
        route_body body;
        route_fn fn;
        const char *arg;     /* a constant for the handler: the upload's kind, a file name */
        bool holds;          /* may keep its connection long (follows, waits, uploads, downloads) */
} route_def;

/* Connections that requests of `holds` routes may take, in all and from one
 * address (TCP): the rest is headroom that short requests, the admin and
 * /v1/health always find. */
typedef struct {
        pthread_mutex_t lock;
        unsigned max, per_addr_max;   /* per_addr_max 0: no per-address count (unix socket) */
        unsigned n;
        struct { uint32_t addr; unsigned n; } *addrs; /* per address; a slot with n 0 is free */
        size_t nslots;                /* --max-connections: no more addresses can hold at once */
} hold_table;

struct server_ctx {
        vs_service *svc;
        vs_tokens *tokens;
        char token[256];          /* the admin token */
        size_t token_len;
        uint64_t max_body;
        uint64_t max_upload;
        const route_def *routes;  /* NULL-method terminated */
        unsigned idle_timeout_s;
        hold_table holds;
};

struct request {
        server_ctx *ctx;
        struct MHD_Connection *c;
        const route_def *route;   /* NULL: none matched */
        char *capture[ROUTE_CAPTURES_MAX];
        bool admin;
        char owner_buf[13];
        const char *owner;        /* NULL for the admin: every job */

        char *body;               /* JSON body, bounded */
        size_t body_len;
        bool too_large;
        vs_upload *upload;        /* PUT uploads stream here */
        bool upload_failed;
        vs_error upload_err;
        bool held;                /* counted in ctx->holds */
        bool held_addr;
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

/* routes.c: the job API's table; match fills rq->capture. */
extern const route_def job_api_routes[];
const route_def *route_match(const route_def *table, const char *method, const char *url, request *rq);

#endif
