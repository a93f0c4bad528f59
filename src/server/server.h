/* vmsandbox serve: the HTTP job API over libvmsandbox's service (service.h).
 * This layer only maps HTTP to library calls and errors to status codes. */
#ifndef VS_SERVER_H
#define VS_SERVER_H

#include "error.h"
#include "service.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
        const char *listen;     /* "127.0.0.1:8765" */
        const char *socket;     /* unix socket path instead */
        const char *token_file;
        uint64_t max_body;      /* JSON bodies */
        uint64_t grace_ms;      /* SIGTERM: time running jobs get to finish */
        vs_service_opts service;
} vs_server_opts;

/* Runs until SIGTERM/SIGINT; returns 0 after a clean drain. */
int vs_server_run(const vs_server_opts *o, vs_error *err);

/* ---- private to src/server ---- */

typedef struct {
        vs_service *svc;
        char token[256];
        size_t token_len;
        uint64_t max_body;
        uint64_t max_upload;
} server_ctx;

typedef struct {
        char *body;                 /* JSON body, bounded */
        size_t body_len;
        bool too_large;
        int upload_fd;              /* PUT uploads stream here */
        char *upload_tmp;
        uint64_t uploaded;
        bool upload_failed;
        vs_error upload_err;
} request;

enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, json_t *body);
enum MHD_Result respond_error(struct MHD_Connection *c, const vs_error *err);
enum MHD_Result respond_code(struct MHD_Connection *c, unsigned status, const char *code, const char *msg);
unsigned http_status(vs_error_kind kind);

/* A request's JSON body, bounded in size and depth. */
json_t *parse_body(const request *rq, vs_error *err);

/* routes.c */
enum MHD_Result route(server_ctx *ctx, struct MHD_Connection *c, const char *method, const char *url, request *rq);
/* True when the route takes a streamed upload body (PUT image/workspace). */
bool route_is_upload(const char *method, const char *url, char id[13], char what[16]);

#endif
