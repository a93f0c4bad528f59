/* Private to service*.c: the service and its jobs.
 *
 * Locking: s->lock guards the job list, the queue, the counters, the
 * metrics and each job's listed/deleting flags; j->lock guards the job's
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
#include "service.h"

#include <pthread.h>

#define VS_QUEUE_MAX 10000
#define VS_SERVICE_LOG_LIMIT (64ull << 20)

typedef struct sjob {
        char id[13];
        char *dir;
        uint64_t memory;           /* guest memory of the spec (immutable) */
        unsigned refs;             /* atomic */
        struct sjob *next;         /* s->jobs */
        bool deleting;             /* s->lock: no longer found */

        pthread_mutex_t lock;
        pthread_cond_t cond;       /* j->lock: output, state changes, removal, shutdown */
        vs_job_record rec;
        vs_joblog log;
        bool cancel;
        bool removed;              /* its files are going: no more saves or uploads */
} sjob;

struct vs_service {
        vs_service_opts o;
        char **roots;               /* resolved --allow-root dirs; see vs_service_root_for */
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
void job_unlist_locked(vs_service *s, sjob *j);

void *svc_worker(void *arg);

/* The longest allowed root that path (absolute) names by its letters, or NULL. */
const char *vs_service_root_for(const vs_service *s, const char *path);

static inline bool svc_stopping(vs_service *s)
{
        return __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE);
}

#endif
