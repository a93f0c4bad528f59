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

typedef struct {
        const vs_config *cfg;
        unsigned max_jobs;           /* VMs at once */
        uint64_t memory_budget;      /* guest memory reserved at once, bytes */
        uint64_t max_upload;         /* bytes per upload */
        uint64_t max_disk;           /* scratch disk per job, bytes; 0: VS_DISK_MAX */
        uint64_t keep_ms;            /* finished jobs are removed this long after they ended; 0: kept */
        char *const *allowed_roots;  /* path references must resolve below one; NULL: none allowed */
        bool allow_network;          /* jobs may ask for "network": "nat" (refused otherwise) */
        /* Where the service's own messages go (syslog priorities); may be NULL. */
        void (*log)(void *userdata, int priority, const char *msg);
        void *log_userdata;
        vs_job_runner run;           /* NULL: vs_job_run */
        void *run_userdata;
} vs_service_opts;

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

int vs_service_create(vs_service *s, const char *owner, json_t *spec, char ret_id[13], vs_error *err);
/* Uploads: what is "image" or "workspace".  _begin makes the file (0600) the
 * body is written to (≤ max_upload bytes); _end checks it and puts it in
 * place (or removes it). */
int vs_service_upload_begin(vs_service *s, const char *owner, const char *id, const char *what, char **ret_tmp,
                            int *ret_fd, vs_error *err);
int vs_service_upload_end(vs_service *s, const char *owner, const char *id, const char *what, const char *tmp,
                          vs_error *err);
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
/* Opens a finished job's output: "image.tar" or "workspace/<path>"; never
 * follows a symlink, never leaves the job's output directory. */
int vs_service_open_output(vs_service *s, const char *owner, const char *id, const char *rel, int *ret_fd,
                           vs_error *err);
/* The directory of a finished job's collected workspace (malloc'd). */
int vs_service_workspace_dir(vs_service *s, const char *owner, const char *id, char **ret_dir, vs_error *err);
/* Removes finished jobs that ended more than keep_ms before now_ms; returns
 * how many.  The service calls it itself (at start and then periodically). */
unsigned vs_service_expire(vs_service *s, uint64_t now_ms);
/* Prometheus text exposition (malloc'd). */
char *vs_service_metrics(vs_service *s);

#endif
