/* The job service behind `vmsandbox serve`: a persistent store of jobs, a
 * FIFO queue and worker threads that run at most max_jobs VMs at once within
 * a memory budget.  Thread-safe; the HTTP layer is a thin mapping onto it. */
#ifndef VS_SERVICE_H
#define VS_SERVICE_H

#include "config.h"
#include "error.h"
#include "pipeline.h"

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
        char *const *allowed_roots;  /* path references must resolve below one; NULL: none allowed */
        /* Where the service's own messages go (syslog priorities); may be NULL. */
        void (*log)(void *userdata, int priority, const char *msg);
        void *log_userdata;
        vs_job_runner run;           /* NULL: vs_job_run */
        void *run_userdata;
} vs_service_opts;

typedef enum {
        VS_JOB_CREATED,
        VS_JOB_QUEUED,
        VS_JOB_RUNNING,
        VS_JOB_SUCCESS,
        VS_JOB_FAILURE,
        VS_JOB_TIMEOUT,
        VS_JOB_CANCELLED,
        VS_JOB_ERROR,
        VS_JOB_STATE_LAST
} vs_job_state;

const char *vs_job_state_name(vs_job_state s);
int vs_job_state_parse(const char *s, vs_job_state *ret);

/* Defaults from the host: one VM per CPU, all memory but 1 GiB. */
void vs_service_defaults(unsigned *ret_max_jobs, uint64_t *ret_memory_budget);

/* Loads every stored job: queued ones are queued again, running ones (their
 * VM died with the previous process) are marked error; starts the workers. */
int vs_service_open(const vs_service_opts *o, vs_service **ret, vs_error *err);
/* Stops taking jobs, lets running ones finish for grace_ms, then cancels the
 * rest and waits for the workers.  Queries still work afterwards. */
void vs_service_drain(vs_service *s, uint64_t grace_ms);
void vs_service_free(vs_service *s);

int vs_service_create(vs_service *s, json_t *spec, char ret_id[13], vs_error *err);
/* Uploads: what is "image" or "workspace".  The body is written to the path
 * from _begin (≤ max_upload bytes), then checked and put in place by _end. */
int vs_service_upload_begin(vs_service *s, const char *id, const char *what, char **ret_tmp, vs_error *err);
int vs_service_upload_end(vs_service *s, const char *id, const char *what, const char *tmp, vs_error *err);
int vs_service_start(vs_service *s, const char *id, vs_error *err);
/* A copy of the job record; NULL with err (not found). */
json_t *vs_service_get(vs_service *s, const char *id, vs_error *err);
json_t *vs_service_list(vs_service *s, const vs_job_state *filter);
/* Cancels a job that has not finished (its VM is destroyed); the record and
 * any output stay.  A finished job cannot be cancelled (CONFLICT). */
int vs_service_cancel(vs_service *s, const char *id, vs_error *err);
/* Cancels if needed, then removes the job and all its data. */
int vs_service_delete(vs_service *s, const char *id, vs_error *err);
/* Blocks until the job has finished (for the synchronous /v1/run). */
int vs_service_wait(vs_service *s, const char *id, vs_error *err);
/* Output bytes from offset.  With follow, waits (≤ 1 s per call) for more
 * while the job runs.  *ret_done once the job ended and all was read. */
int vs_service_log_read(vs_service *s, const char *id, uint64_t offset, char *buf, size_t len, bool follow,
                        size_t *ret_n, bool *ret_done, vs_error *err);
/* Opens a finished job's output: "image.tar" or "workspace/<path>"; never
 * follows a symlink, never leaves the job's output directory. */
int vs_service_open_output(vs_service *s, const char *id, const char *rel, int *ret_fd, vs_error *err);
/* The directory of a finished job's collected workspace (malloc'd). */
int vs_service_workspace_dir(vs_service *s, const char *id, char **ret_dir, vs_error *err);
/* Prometheus text exposition. */
char *vs_service_metrics(vs_service *s);

#endif
