/* The job service behind `vmsandbox serve`: a persistent store of jobs, a
 * FIFO queue and worker threads that run at most max_jobs VMs at once within
 * a memory budget.  Thread-safe; the HTTP layer is a thin mapping onto it.
 *
 * Every call names who asks (owner): NULL is the admin, who sees every job;
 * a client token's id sees and controls only the jobs it created (others are
 * "not found").  The same owner carries the Docker socket's tenants. */
#ifndef VS_SERVICE_H
#define VS_SERVICE_H

#include "config.h"
#include "error.h"
#include "pipeline.h"
#include "record.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vs_service vs_service;

/* Runs one job to its end, as vs_job_run does (the default); tests plug in a
 * fake that needs no VM. */
typedef int (*vs_job_runner)(void *userdata, const vs_config *cfg, const vs_spec *spec, const vs_run_opts *opts,
                             json_t **ret_result, vs_error *err);

/* A container's image (vs_service_container_create): either its archive,
 * hard-linked at dest by the resolver (linked: the job runs it by id), or
 * an image the base image has preloaded (ref: the guest engine runs it by
 * that name, nothing is linked). */
typedef struct {
        char id[VS_CONTAINER_IMAGE_ID_LEN + 1];  /* "sha256:<hex>"; "" when unknown */
        bool linked;
        char ref[VS_CONTAINER_IMAGE_MAX + 1];    /* !linked */
} vs_container_image;

/* Finds image name of owner (the tenant) and links it at dest (the image
 * store's vs_imgstore_link, then the base image's preloaded images).
 * NOT_FOUND "No such image: NAME" as Docker says it. */
typedef int (*vs_image_resolver)(void *userdata, const char *owner, const char *name, const char *dest,
                                 vs_container_image *ret, vs_error *err);

typedef struct {
        const vs_config *cfg;
        unsigned max_jobs;           /* VMs at once */
        uint64_t memory_budget;      /* guest memory reserved at once, bytes */
        uint64_t max_upload;         /* bytes per upload */
        uint64_t max_disk;           /* scratch disk per job, bytes; 0: VS_DISK_MAX */
        uint64_t keep_ms;            /* finished jobs are removed this long after they ended; 0: kept */
        /* Quotas (docs/api.md "Limits"); 0 is the default named. */
        uint64_t max_state;          /* bytes of every job's files together; 0: half the state dir's filesystem */
        uint64_t owner_state;        /* the same per owner; 0: max_state / 4 */
        unsigned owner_jobs;         /* jobs one owner may store; 0: VS_OWNER_JOBS_DEFAULT */
        unsigned owner_queued;       /* jobs one owner may have queued; 0: VS_OWNER_QUEUED_DEFAULT */
        uint64_t created_ttl_ms;     /* a job never started is removed this long after it was created; 0: 1 day */
        unsigned job_follows;        /* log follows open on one job; 0: VS_JOB_FOLLOWS_DEFAULT */
        unsigned owner_follows;      /* log follows one owner may have open; 0: VS_OWNER_FOLLOWS_DEFAULT */
        uint64_t follow_created_ms;  /* a follow of a job that stays created ends after this; 0: 60 s */
        char *const *allowed_roots;  /* path references must resolve below one; NULL: none allowed */
        bool allow_network;          /* jobs may ask for "network": "nat" (refused otherwise) */
        /* Where the service's own messages go (syslog priorities); may be NULL. */
        void (*log)(void *userdata, int priority, const char *msg);
        void *log_userdata;
        vs_job_runner run;           /* NULL: vs_job_run */
        void *run_userdata;
        /* The Docker socket's images (NULL: no container can be created). */
        vs_image_resolver image_resolve;
        void *image_userdata;
} vs_service_opts;

#define VS_OWNER_JOBS_DEFAULT 1000
#define VS_OWNER_QUEUED_DEFAULT 100
#define VS_JOB_FOLLOWS_DEFAULT 4
#define VS_OWNER_FOLLOWS_DEFAULT 16
#define VS_CREATED_TTL_DEFAULT_MS (24ull * 3600 * 1000)
#define VS_FOLLOW_CREATED_DEFAULT_MS 60000
/* A job's spec as JSON, at most (it is kept in memory and in job.json). */
#define VS_SPEC_JSON_MAX (64u << 10)

/* Defaults from the host: one VM per CPU, all memory but 1 GiB. */
void vs_service_defaults(unsigned *ret_max_jobs, uint64_t *ret_memory_budget);

/* Loads every stored job: queued ones are queued again in the order they
 * were started, running ones (their VM died with the previous process) are
 * marked error; starts the workers. */
int vs_service_open(const vs_service_opts *o, vs_service **ret, vs_error *err);
/* Stops taking jobs and ends every wait and follow of a job that is not
 * running; lets running jobs finish for grace_ms, then cancels the rest and
 * waits for the workers.  Queries still work afterwards. */
void vs_service_drain(vs_service *s, uint64_t grace_ms);
void vs_service_free(vs_service *s);
bool vs_service_stopping(vs_service *s);

/* A spec over VS_SPEC_JSON_MAX is TOO_LARGE; an owner at its job quota or
 * the service at VS_JOBS_MAX is LIMIT; an owner at its byte quota or the
 * service at max_state is NO_SPACE. */
int vs_service_create(vs_service *s, const char *owner, json_t *spec, char ret_id[13], vs_error *err);
/* Uploads: what is "image" or "workspace".  _begin makes the file (0600) the
 * body is written to; declared (0: unknown) is the length the client
 * announced, refused at once when it cannot fit.  _write stores a piece:
 * TOO_LARGE past max_upload, NO_SPACE past the owner's quota or max_state
 * (counted as it streams).  _end checks the file and puts it in place (or
 * removes it); _abort removes it.  Both free the upload. */
typedef struct vs_upload vs_upload;
int vs_service_upload_begin(vs_service *s, const char *owner, const char *id, const char *what, uint64_t declared,
                            vs_upload **ret, vs_error *err);
int vs_service_upload_write(vs_service *s, vs_upload *u, const char *data, size_t len, vs_error *err);
uint64_t vs_service_upload_bytes(const vs_upload *u);
int vs_service_upload_end(vs_service *s, vs_upload *u, vs_error *err);
void vs_service_upload_abort(vs_service *s, vs_upload *u);
/* A created build job's inputs (service_build.c): the context from fd
 * (hard-linked when it is an unnamed O_TMPFILE on the state dir's file
 * system, else copied; NO_SPACE past the quotas), and the path where the
 * i-th FROM image's archive goes (the caller links the store's blob there,
 * in order from 0). */
int vs_service_build_context(vs_service *s, const char *owner, const char *id, int fd, vs_error *err);
int vs_service_build_image_path(vs_service *s, const char *owner, const char *id, size_t i, char **ret_path,
                                vs_error *err);
/* What a build needs to know of the service: its configuration (the base
 * image) and whether jobs may have network (--allow-network). */
const vs_config *vs_service_config(const vs_service *s);
bool vs_service_allow_network(const vs_service *s);
int vs_service_start(vs_service *s, const char *owner, const char *id, vs_error *err);
/* The job record (docs/api.md); NULL with err (not found). */
json_t *vs_service_get(vs_service *s, const char *owner, const char *id, vs_error *err);
/* The job's state, typed (callers never parse status strings). */
int vs_service_state(vs_service *s, const char *owner, const char *id, vs_job_state *ret_state, vs_error *err);
/* Summaries of the jobs owner may see, optionally of one state. */
json_t *vs_service_list(vs_service *s, const char *owner, const vs_job_state *filter);
/* Cancels a job that has not finished (its VM is destroyed); the record and
 * any output stay.  A finished job cannot be cancelled (CONFLICT). */
int vs_service_cancel(vs_service *s, const char *owner, const char *id, vs_error *err);
/* Cancels if needed, then removes the job and all its files.  A job that is
 * being deleted is already "not found". */
int vs_service_delete(vs_service *s, const char *owner, const char *id, vs_error *err);
/* Waits up to timeout_ms for the job to finish: 1 when it has, 0 when not
 * yet, -1 with err when it is gone or the service stops before it ran. */
int vs_service_wait(vs_service *s, const char *owner, const char *id, uint64_t timeout_ms, vs_error *err);
/* Output bytes from offset.  With follow, sleeps (≤ VS_FOLLOW_WAIT_MS per
 * call) until there is more, the job ends or the service stops.  *ret_done
 * once nothing more will come. */
#define VS_FOLLOW_WAIT_MS 500
int vs_service_log_read(vs_service *s, const char *owner, const char *id, uint64_t offset, char *buf, size_t len,
                        bool follow, size_t *ret_n, bool *ret_done, vs_error *err);
/* A reader of one job's log that keeps its place (the HTTP layer's).  A
 * follower counts against job_follows and owner_follows (LIMIT beyond);
 * it ends when the job ends, is deleted, or the service stops before the
 * job ran, and when the job stays created for follow_created_ms. */
typedef struct vs_follow vs_follow;
int vs_service_follow_open(vs_service *s, const char *owner, const char *id, bool follow, vs_follow **ret,
                           vs_error *err);
/* As vs_service_log_read from the reader's place. */
int vs_service_follow_read(vs_service *s, vs_follow *f, char *buf, size_t len, size_t *ret_n, bool *ret_done);
void vs_service_follow_close(vs_service *s, vs_follow *f);
/* The last max_lines lines of the job's log as a JSON array of strings:
 * split at \n, each made valid UTF-8 (NUL and invalid bytes are U+FFFD) and
 * cut at VS_LINE_MAX bytes; a last line without \n counts.  Reads from the
 * end of the file: time and memory are bounded by max_lines, not by the
 * log's size. */
json_t *vs_service_log_tail(vs_service *s, const char *owner, const char *id, size_t max_lines, vs_error *err);
/* Opens a finished job's output: "image.tar" or "workspace/<path>"; never
 * follows a symlink, never leaves the job's output directory. */
int vs_service_open_output(vs_service *s, const char *owner, const char *id, const char *rel, int *ret_fd,
                           vs_error *err);
/* The directory of a finished job's collected workspace (malloc'd). */
int vs_service_workspace_dir(vs_service *s, const char *owner, const char *id, char **ret_dir, vs_error *err);
/* Removes finished jobs that ended more than keep_ms before now_ms; returns
 * how many.  The service calls it itself (at start and then periodically). */
unsigned vs_service_expire(vs_service *s, uint64_t now_ms);
/* What owner (NULL: the whole service) stores: jobs, and bytes of their
 * files plus uploads in flight, as the quotas count them. */
void vs_service_usage(vs_service *s, const char *owner, unsigned *ret_jobs, uint64_t *ret_bytes);
/* Prometheus text exposition (malloc'd). */
char *vs_service_metrics(vs_service *s);

/* ---- containers of the Docker socket (container.h, docs/docker-api.md) ----
 * A container is a job with Docker facts (record.h's vs_container); the
 * job verbs above work on it by its id. */

/* A Docker tenant's own allowed root (docs/docker-api.md "Sockets,
 * tenants and access"): the host directories its containers bind must be
 * below it.  owner "docker:TENANT"; root an absolute path with no "." or
 * ".." component (trailing "/" dropped), below one of the service's
 * allowed roots and opened there as a directory with no symlink on the way
 * (vs_open_beneath); NULL takes the tenant's root away.  A tenant without a
 * root binds no host directory; owners that are no Docker tenant (client
 * tokens, the admin) keep the service's roots.  INPUT (FORBIDDEN for a
 * root outside the allowed roots or behind a symlink) naming the root and
 * the reason; LIMIT past VS_TENANT_ROOTS_MAX tenants. */
#define VS_TENANT_ROOTS_MAX 1024
int vs_service_set_tenant_root(vs_service *s, const char *owner, const char *root, vs_error *err);
/* The tenant's root (malloc'd), or NULL. */
char *vs_service_tenant_root(vs_service *s, const char *owner);

/* POST /containers/create: body (the Engine API's create config) mapped by
 * vs_container_from_docker under the service's --allow-root and network
 * policy, the image resolved and linked into the job's directory, the
 * job created.  name NULL: one is made ("vs_" + id); else
 * [a-zA-Z0-9][a-zA-Z0-9_.-]+ (a leading "/" is dropped), unique among
 * owner's containers: CONFLICT in Docker's words otherwise. */
int vs_service_container_create(vs_service *s, const char *owner, const char *name, json_t *body, char ret_id[13],
                                vs_error *err);
/* A container of owner by full id, by name (with or without "/"), or by a
 * unique prefix of its id, as Docker looks them up.  NOT_FOUND "No such
 * container: REF"; INPUT for a prefix that several ids share. */
int vs_service_container_find(vs_service *s, const char *owner, const char *ref, char ret_id[13], vs_error *err);

/* What inspect and list show of one container: typed copies. */
typedef struct {
        char id[13];                  /* the job's */
        char full_id[VS_CONTAINER_ID_LEN + 1]; /* Docker's (vs_container_id) */
        vs_job_state state;
        int exit_code;                /* -1: none */
        char *error;                  /* the job's error, or NULL */
        int64_t created_ms, started_ms, finished_ms; /* -1: not yet; started: queued (Docker's start) */
        vs_container *c;
} vs_container_info;

void vs_container_info_clear(vs_container_info *i);
void vs_container_info_list_free(vs_container_info *v, size_t n);
int vs_service_container_info(vs_service *s, const char *owner, const char *id, vs_container_info *ret, vs_error *err);
/* Every container of owner, newest first. */
void vs_service_container_list(vs_service *s, const char *owner, vs_container_info **ret, size_t *ret_n);

/* Waiting as POST /containers/{id}/wait does.  _open finds the container
 * (or, for one that AutoRemove removed, what it left for its waiters);
 * the waiter keeps the container's record, so a removal while it waits
 * is seen, with the exit code.  _wait sleeps at most timeout_ms: 1 when
 * the condition holds (*ret_code the exit code, *ret_error the reason of a
 * sandbox failure or NULL), 0 not yet, -1 when the service stops first. */
typedef enum {
        VS_WAIT_NOT_RUNNING, /* not running now: created (at once) or exited */
        VS_WAIT_NEXT_EXIT,   /* exited (a container runs once: an exited one at once) */
        VS_WAIT_REMOVED,     /* removed (after it exited) */
        VS_WAIT_CONDITION_LAST
} vs_wait_condition;

int vs_wait_condition_parse(const char *s, vs_wait_condition *ret);
typedef struct vs_container_waiter vs_container_waiter;
int vs_service_container_wait_open(vs_service *s, const char *owner, const char *id, vs_container_waiter **ret,
                                   vs_error *err);
int vs_service_container_wait(vs_service *s, vs_container_waiter *w, vs_wait_condition cond, uint64_t timeout_ms,
                              int *ret_code, char **ret_error, vs_error *err);
void vs_service_container_wait_close(vs_container_waiter *w);

/* Whether a container of owner uses image_id (DELETE /images): 0 none, 1
 * a stopped one, 2 a running (or queued) one; ret_id gets one of them. */
int vs_service_container_image_use(vs_service *s, const char *owner, const char *image_id, char ret_id[13]);

/* DELETE /containers/{id}: CONFLICT for a running (or queued) container
 * unless force, which stops it first. */
int vs_service_container_remove(vs_service *s, const char *owner, const char *id, bool force, vs_error *err);

#endif
