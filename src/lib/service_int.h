/* Private to service*.c: the service and its jobs.
 *
 * Locking: s->lock guards the job list, the queue, the counters, the
 * metrics, the owners' accounts and each job's listed/deleting flags, bytes
 * and follower count; j->lock guards the job's
 * record, its log and its cancel/removed flags.  Where both are taken,
 * s->lock comes first.  Per-line work (output, step lines) takes j->lock
 * only.  Jobs are reference-counted: the list holds one reference, and every
 * caller that lets go of s->lock while using a job holds its own, so a job
 * deleted meanwhile stays valid memory until the last user drops it. */
#ifndef VS_SERVICE_INT_H
#define VS_SERVICE_INT_H

#include "joblog.h"
#include "metrics.h"
#include "record.h"
#include "container.h"
#include "service.h"
#include "streamlog.h"

#include <pthread.h>

#define VS_QUEUE_MAX 10000
#define VS_SERVICE_LOG_LIMIT (64ull << 20)
/* Jobs stored at once, in all: the queue can never overflow. */
#define VS_JOBS_MAX VS_QUEUE_MAX

/* What one owner (a client token's id, "" for the admin) holds: counted so
 * that one tenant cannot take the service's disk, queue or connections.
 * Entries live as long as the service (there are at most VS_TOKENS_MAX
 * tokens, plus the owners of stored jobs). */
typedef struct sowner {
        char id[VS_OWNER_MAX + 1];
        unsigned jobs;             /* stored jobs */
        unsigned follows;          /* log follows it has open */
        uint64_t bytes;            /* its jobs' files and its uploads in flight */
        struct sowner *next;
} sowner;

typedef struct sjob {
        char id[13];
        char *dir;
        uint64_t memory;           /* guest memory of the spec (immutable) */
        unsigned refs;             /* atomic */
        struct sjob *next;         /* s->jobs */
        bool deleting;             /* s->lock: no longer found */
        bool listed;               /* s->lock: in s->jobs and counted */
        sowner *acct;              /* s->lock: its owner's account, set when listed */
        uint64_t bytes;            /* s->lock: its files as last measured */
        unsigned follows;          /* s->lock: log follows open on it */

        pthread_mutex_t lock;
        pthread_cond_t cond;       /* j->lock: output, state changes, removal, shutdown */
        vs_job_record rec;         /* rec.container is set before the job is listed and never
                                      changes: it may be read under s->lock alone */
        vs_joblog log;
        vs_streamlog slog;         /* streams.log: the same output by stream, for the Docker socket */
        bool cancel;
        bool removed;              /* its files are going: no more saves or uploads */
} sjob;

/* What a container that AutoRemove removed leaves for its waiters. */
typedef struct {
        char owner[VS_OWNER_MAX + 1];
        char id[VS_CONTAINER_ID_LEN + 1]; /* the full id (vs_container_id); its job id's 12 match too */
        int code;
        bool failed;               /* code 125: the sandbox failed */
        bool used;
        uint64_t seq;              /* the order they came in */
} ctomb;
/* Of VS_CONTAINER_TOMBSTONES, what one owner's may take from the others'. */
#define VS_CONTAINER_TOMBSTONES_PER_OWNER (VS_CONTAINER_TOMBSTONES / 4)

struct vs_service {
        vs_service_opts o;
        char **roots;               /* resolved --allow-root dirs; see vs_service_root_for */
        char **tenant_roots;        /* s->lock: owner, root, owner, root, ...: Docker tenants' own roots */
        char *root;
        pthread_mutex_t lock;
        pthread_cond_t changed;    /* s->lock: queue, running counts */
        sjob *jobs;
        sjob **queue;              /* VS_QUEUE_MAX entries */
        size_t nqueue;
        unsigned running;
        uint64_t reserved;
        int64_t last_queued_ms;
        bool stopping;             /* atomic reads; written under s->lock */
        pthread_t *workers;
        unsigned nworkers;
        bool janitor_started;
        pthread_t janitor;
        pthread_cond_t janitor_wake;
        vs_metrics metrics;
        sowner *owners;            /* s->lock */
        unsigned njobs;            /* s->lock: listed jobs */
        uint64_t bytes;            /* s->lock: every listed job's files and the uploads in flight */
        ctomb tombs[VS_CONTAINER_TOMBSTONES]; /* s->lock: a ring */
        uint64_t tomb_seq;         /* s->lock */
};

/* An upload being streamed into a created job. */
struct vs_upload {
        sjob *j;                   /* a reference */
        int kind;                  /* 0: image, 1: workspace */
        char *tmp;                 /* the 0600 file the body goes to */
        int fd;
        uint64_t bytes;            /* written */
        uint64_t charged;          /* s->lock: counted against the owner and the budget */
};

__attribute__((format(printf, 3, 4)))
void svc_log(vs_service *s, int priority, const char *fmt, ...);

sjob *job_new(vs_service *s, const char *id, uint64_t memory, vs_job_record *rec);
void job_ref(sjob *j);
void job_unref(sjob *j);
/* Under s->lock: the job id that owner may see, or NULL with err. */
sjob *job_find_locked(vs_service *s, const char *owner, const char *id, vs_error *err);
/* The same, taking s->lock and a reference. */
sjob *job_get(vs_service *s, const char *owner, const char *id, vs_error *err);
/* Under j->lock: job.json from the record (nothing once removed). */
void job_save_locked(vs_service *s, sjob *j);
void job_save(vs_service *s, sjob *j);
char *job_path(const sjob *j, const char *name);
void queue_remove_locked(vs_service *s, sjob *j);
/* After j left the list (deleting set, unlisted): files gone, references dropped. */
void job_remove_files(sjob *j);
/* "client <id>" or "the admin" (NULL or ""), for messages. */
#define VS_OWNER_LABEL_MAX (VS_OWNER_MAX + 24)
const char *owner_label(const char *owner, char buf[VS_OWNER_LABEL_MAX]);
/* The account of owner (NULL: the admin's, ""), made when missing. */
sowner *owner_get_locked(vs_service *s, const char *owner);
/* Puts a new or loaded job in the list and counts it (and its bytes) for
 * its owner and the service; unlisting takes all of it back. */
void job_list_locked(vs_service *s, sjob *j);
void job_unlist_locked(vs_service *s, sjob *j);
/* Measures the job's files (uploads in flight excluded: they are counted
 * as they stream) and updates its owner's and the service's bytes. */
void job_account(vs_service *s, sjob *j);

/* Quotas (docs/api.md "Limits"): may owner store one more job?  Its job
 * count is VS_ERR_LIMIT; all jobs (VS_JOBS_MAX) and bytes VS_ERR_NO_SPACE. */
int quota_create_locked(vs_service *s, const char *owner, vs_error *err);
/* Lists j when quota_create_locked allows it (under s->lock, taken here). */
int job_list_checked(vs_service *s, sjob *j, vs_error *err);
/* A spec over VS_SPEC_JSON_MAX bytes of JSON is VS_ERR_TOO_LARGE. */
int spec_size_check(const json_t *spec, vs_error *err);
/* May owner queue one more job?  VS_ERR_LIMIT otherwise. */
int quota_queue_locked(vs_service *s, const char *owner, vs_error *err);
/* Is there room for len more bytes of j's owner?  Counts them when there
 * is (charge), else VS_ERR_NO_SPACE naming the owner's quota or the
 * service's --max-state. */
int quota_charge_locked(vs_service *s, sjob *j, uint64_t len, bool charge, vs_error *err);

/* References to every listed job owner may see (NULL: all), taken under
 * s->lock and used without it. */
sjob **jobs_snapshot(vs_service *s, const char *owner, size_t *ret_n);
void jobs_release(sjob **v, size_t n);

vs_upload *upload_new(sjob *j, int kind, char *tmp, int fd);
/* The end of an upload, kept or not: what it charged is given back and the
 * job's files measured again; frees u (and its reference). */
void upload_settle(vs_service *s, vs_upload *u);

void *svc_worker(void *arg);
/* A build job's inputs for the pipeline (paths malloc'd into the two). */
void svc_build_opts(sjob *j, vs_run_opts *opts, char **ret_context, char ***ret_images);

/* service_jobs.c: a spec's limits and the service's policy (returns the
 * job's guest memory); a server-side path of spec[field] below an allowed
 * root, label naming it in errors. */
int svc_check_spec(vs_service *s, json_t *spec, uint64_t *ret_memory, vs_error *err);
int svc_check_path(vs_service *s, const char *field, const char *label, json_t *spec, vs_error *err);

/* service_containers.c: called by the worker after a job's verdict was
 * saved; a container with AutoRemove is removed (its waiters keep the
 * exit code). */
void container_finished(vs_service *s, sjob *j);
/* At open, before any thread: finished containers with AutoRemove (the
 * previous process ended before it removed them, or their run was lost)
 * are removed as container_finished does. */
void containers_recover(vs_service *s);

/* The longest allowed root that path (absolute) names by its letters, or NULL. */
const char *vs_service_root_for(const vs_service *s, const char *path);
/* A Docker tenant (owner "docker:T") may name host paths below its own
 * root only (vs_service_set_tenant_root), by letters with no "." or ".."
 * component; the open below the service's root then has no symlink
 * either.  Other owners: 0 (the service's roots apply).  INPUT naming
 * label, path and the reason. */
int svc_owner_path_check(vs_service *s, const char *owner, const char *label, const char *path, vs_error *err);

static inline bool svc_stopping(vs_service *s)
{
        return __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE);
}

#endif
