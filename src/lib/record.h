/* The service's job record: a typed struct inside, JSON only here.
 * record.c is the one place that turns a record into JSON and back and that
 * names job states and step statuses. */
#ifndef VS_RECORD_H
#define VS_RECORD_H

#include "error.h"
#include "result.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

typedef enum {
        VS_STEP_QUEUED,
        VS_STEP_RUNNING,
        VS_STEP_SUCCESS,
        VS_STEP_FAILURE,
        VS_STEP_SKIPPED,
        VS_STEP_STATUS_LAST
} vs_step_status;

const char *vs_job_state_to_string(vs_job_state s);
int vs_job_state_from_string(const char *s, vs_job_state *ret);
const char *vs_step_status_to_string(vs_step_status s);
int vs_step_status_from_string(const char *s, vs_step_status *ret);
bool vs_job_state_finished(vs_job_state s);

#define VS_STEP_LINES_MAX 200   /* lines of text kept per step */
#define VS_LINE_MAX 4096        /* bytes per line (guest output is cut there) */
#define VS_RECORD_STRING_MAX 4096 /* error messages */
#define VS_OWNER_MAX 64         /* a client token's id (12), "docker:TENANT"; "" for the admin */

typedef struct {
        vs_step_status status;
        int64_t start_ms, end_ms;     /* -1: not yet */
        char *text[VS_STEP_LINES_MAX]; /* valid UTF-8, oldest first */
        size_t ntext;
} vs_step;

/* A container of the Docker socket (container.h): the Docker facts of its
 * job, kept in job.json under "container".  Immutable once the job is
 * listed (read under the service's lock or the job's). */
#define VS_CONTAINER_NAME_MAX 128       /* [a-zA-Z0-9][a-zA-Z0-9_.-]+, without the leading "/" */
#define VS_CONTAINER_IMAGE_MAX 255      /* an image reference as the client gave it */
#define VS_CONTAINER_IMAGE_ID_LEN 71    /* "sha256:" + 64 hex */
#define VS_CONTAINER_LABELS_MAX 256
#define VS_CONTAINER_BINDS_MAX 16       /* as given (for inspect), the Docker socket's among them */
#define VS_CONTAINER_STRING_MAX 32768   /* a label, an env entry, a word of Cmd */
#define VS_CONTAINER_ARGS_MAX 1024      /* words of Cmd, of Entrypoint (VS_ARGS_MAX) */
#define VS_CONTAINER_ENV_MAX 256        /* VS_ENV_MAX */
#define VS_CONTAINER_PATH_MAX 1024      /* VS_PATH_MAX */

#define VS_CONTAINER_ID_LEN 64         /* Docker's ids: 64 hex digits */
typedef struct {
        /* Docker's id, 64 hex digits whose first 12 are the job's id; ""
         * in records made before ids were long: the job id (12) is then
         * the container's id (vs_container_id). */
        char long_id[VS_CONTAINER_ID_LEN + 1];
        char *name;                     /* unique per tenant */
        char *image;                    /* the reference as given ("ubuntu", "sha256:...") */
        char image_id[VS_CONTAINER_IMAGE_ID_LEN + 1]; /* "sha256:<hex>"; "" when the image had none */
        char *hostname;                 /* NULL: none given */
        bool tty, open_stdin, auto_remove;
        /* The create config as given, for inspect (NULL: absent or null). */
        char **cmd;
        char **entrypoint;              /* an empty vector: reset */
        char **env;
        char *user, *working_dir;
        char **labels;                  /* key, value, key, value, ..., NULL */
        /* HostConfig */
        int64_t memory, nano_cpus, cpu_shares; /* 0: none given */
        char *network_mode;             /* NULL: none given */
        char **binds;                   /* "HOST:CONTAINER[:ro|rw]" (Mounts of type bind in that form) */
        bool bind_rw;                   /* the bind's host directory gets the container's changes back */
} vs_container;

void vs_container_free(vs_container *c);
/* The container's Docker id: long_id, or job_id for an older record. */
const char *vs_container_id(const vs_container *c, const char *job_id);
/* A deep copy (callers take it under the job's lock and use it without). */
vs_container *vs_container_copy(const vs_container *c);
/* job.json's "container" and back; read back bounded: a field of the wrong
 * type, past its bound or not valid UTF-8 is an error naming it. */
json_t *vs_container_to_json(const vs_container *c);
int vs_container_from_json(json_t *j, vs_container **ret, vs_error *err);
/* Docker's container names: [a-zA-Z0-9][a-zA-Z0-9_.-]+, at most
 * VS_CONTAINER_NAME_MAX bytes (without the leading "/"). */
bool vs_container_name_valid(const char *name);

typedef struct {
        char id[13];
        char owner[VS_OWNER_MAX + 1];
        vs_job_state state;
        int64_t created_ms, queued_ms, started_ms, finished_ms; /* -1: not yet */
        /* The spec as the client sent it (validated, server paths resolved):
         * it is parsed into a vs_spec when the job runs. */
        json_t *spec;
        bool upload_image, upload_workspace;
        vs_step steps[VS_PHASE_LAST];
        int exit_code;                /* -1: none */
        char *error;                  /* NULL: none */
        json_t *result;               /* result.json of the run; NULL before */
        vs_container *container;      /* NULL: a job of the job API */
} vs_job_record;

/* A new record in state created; takes spec. */
void vs_record_init(vs_job_record *r, const char *id, const char *owner, json_t *spec, int64_t now_ms);
void vs_record_clear(vs_job_record *r);

/* The API shape (docs/api.md); queue_position < 0 is null. */
json_t *vs_record_to_json(const vs_job_record *r, int64_t queue_position);
/* The short form in job lists. */
json_t *vs_record_summary_json(const vs_job_record *r);
/* A stored record (job.json); unknown states load as error. */
int vs_record_from_json(json_t *j, vs_job_record *ret, vs_error *err);

/* Guest or pipeline text as one line of a step: made valid UTF-8, capped. */
void vs_record_add_line(vs_job_record *r, vs_phase p, const char *text, size_t len);
void vs_record_set_error(vs_job_record *r, const char *msg);
/* A state change with its timestamp. */
void vs_record_set_state(vs_job_record *r, vs_job_state st, int64_t now_ms);
/* A pipeline phase started or ended. */
void vs_record_phase(vs_job_record *r, vs_phase p, bool start, int64_t now_ms);

/* The end of a run: the verdict from result (taken; may be NULL), the steps
 * as the result tells them.  run_error is the runner's error (NULL when it
 * reached a verdict); cancelled: a cancel was asked for. */
void vs_record_finish(vs_job_record *r, json_t *result, const char *run_error, bool cancelled, int64_t now_ms);

/* Each phase's duration in the result, -1 when the phase did not end. */
void vs_record_phase_durations(const vs_job_record *r, int64_t ret_ms[VS_PHASE_LAST]);

/* A phase name (vs_phase_name's) back to its enum. */
int vs_phase_from_string(const char *s, vs_phase *ret);

#endif
