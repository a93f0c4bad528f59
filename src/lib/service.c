/* The service's core: jobs (reference-counted), the store, start and stop. */
#include "service_int.h"
#include "alloc.h"
#include "cleanup.h"
#include "fsutil.h"
#include "jobdir.h"
#include "spec.h"
#include "store.h"
#include "strv.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void vs_service_defaults(unsigned *ret_max_jobs, uint64_t *ret_memory_budget)
{
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        uint64_t mem = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);

        *ret_max_jobs = cpus > 0 ? (unsigned)cpus : 1;
        *ret_memory_budget = mem > (2ull << 30) ? mem - (1ull << 30) : mem / 2;
}

/* The library prints nothing: messages go to the front end's log function. */
void svc_log(vs_service *s, int priority, const char *fmt, ...)
{
        char msg[1200];
        va_list ap;

        if (!s->o.log)
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        s->o.log(s->o.log_userdata, priority, msg);
}

bool vs_service_stopping(vs_service *s)
{
        return svc_stopping(s);
}

/* ---- jobs ------------------------------------------------------------------ */

char *job_path(const sjob *j, const char *name)
{
        return vs_xasprintf("%s/%s", j->dir, name);
}

sjob *job_new(vs_service *s, const char *id, uint64_t memory, vs_job_record *rec)
{
        sjob *j = vs_xcalloc(1, sizeof(*j));
        _cleanup_free_ char *log = NULL;

        memcpy(j->id, id, 13);
        j->dir = vs_xasprintf("%s/%s", s->root, id);
        j->memory = memory;
        j->refs = 1; /* the list's */
        pthread_mutex_init(&j->lock, NULL);
        pthread_cond_init(&j->cond, NULL);
        j->rec = *rec;
        log = job_path(j, "output.log");
        vs_joblog_init(&j->log, log, VS_SERVICE_LOG_LIMIT);
        return j;
}

void job_ref(sjob *j)
{
        __atomic_add_fetch(&j->refs, 1, __ATOMIC_RELAXED);
}

void job_unref(sjob *j)
{
        if (!j || __atomic_sub_fetch(&j->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        vs_record_clear(&j->rec);
        vs_joblog_clear(&j->log);
        pthread_mutex_destroy(&j->lock);
        pthread_cond_destroy(&j->cond);
        free(j->dir);
        free(j);
}

sjob *job_find_locked(vs_service *s, const char *owner, const char *id, vs_error *err)
{
        if (vs_store_id_valid(id))
                for (sjob *j = s->jobs; j; j = j->next)
                        /* Another owner's job does not exist for this caller. */
                        if (!j->deleting && strcmp(j->id, id) == 0 && (!owner || strcmp(j->rec.owner, owner) == 0))
                                return j;
        vs_error_set(err, VS_ERR_NOT_FOUND, "no job %.64s", id);
        return NULL;
}

sjob *job_get(vs_service *s, const char *owner, const char *id, vs_error *err)
{
        sjob *j;

        pthread_mutex_lock(&s->lock);
        j = job_find_locked(s, owner, id, err);
        if (j)
                job_ref(j);
        pthread_mutex_unlock(&s->lock);
        return j;
}

void job_save_locked(vs_service *s, sjob *j)
{
        _cleanup_json_ json_t *json = NULL;
        vs_error err = { 0 };

        if (j->removed)
                return;
        json = vs_record_to_json(&j->rec, -1);
        if (vs_store_save(j->dir, json, &err) < 0)
                svc_log(s, 3, "job %s: %s", j->id, err.msg);
}

void job_save(vs_service *s, sjob *j)
{
        pthread_mutex_lock(&j->lock);
        job_save_locked(s, j);
        pthread_mutex_unlock(&j->lock);
}

void queue_remove_locked(vs_service *s, sjob *j)
{
        for (size_t i = 0; i < s->nqueue; i++)
                if (s->queue[i] == j) {
                        memmove(s->queue + i, s->queue + i + 1, (s->nqueue - i - 1) * sizeof(s->queue[0]));
                        s->nqueue--;
                        return;
                }
}

void job_unlist_locked(vs_service *s, sjob *j)
{
        for (sjob **p = &s->jobs; *p; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        return;
                }
}

void job_remove_files(sjob *j)
{
        pthread_mutex_lock(&j->lock);
        j->removed = true;
        pthread_cond_broadcast(&j->cond); /* followers end */
        pthread_mutex_unlock(&j->lock);
        vs_rm_rf(j->dir);
}

/* ---- retention --------------------------------------------------------------- */

unsigned vs_service_expire(vs_service *s, uint64_t now_ms)
{
        sjob *gone[64];
        unsigned n = 0, total = 0;

        if (!s->o.keep_ms)
                return 0;
        do {
                n = 0;
                pthread_mutex_lock(&s->lock);
                for (sjob *j = s->jobs; j && n < sizeof(gone) / sizeof(gone[0]); j = j->next) {
                        bool old;
                        pthread_mutex_lock(&j->lock);
                        old = vs_job_state_finished(j->rec.state) && j->rec.finished_ms >= 0 &&
                              (uint64_t)j->rec.finished_ms + s->o.keep_ms <= now_ms;
                        pthread_mutex_unlock(&j->lock);
                        if (old && !j->deleting) {
                                j->deleting = true;
                                gone[n++] = j;
                        }
                }
                for (unsigned i = 0; i < n; i++)
                        job_unlist_locked(s, gone[i]);
                pthread_mutex_unlock(&s->lock);
                for (unsigned i = 0; i < n; i++) {
                        svc_log(s, 6, "job %s expired (--keep)", gone[i]->id);
                        job_remove_files(gone[i]);
                        job_unref(gone[i]);
                }
                total += n;
        } while (n == sizeof(gone) / sizeof(gone[0]));
        return total;
}

static void deadline_in(struct timespec *ts, uint64_t ms)
{
        clock_gettime(CLOCK_REALTIME, ts);
        ts->tv_sec += (time_t)(ms / 1000);
        ts->tv_nsec += (long)(ms % 1000) * 1000000;
        if (ts->tv_nsec >= 1000000000) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000;
        }
}

static void *janitor(void *arg)
{
        vs_service *s = arg;
        uint64_t every = s->o.keep_ms / 10;

        if (every < 1000)
                every = 1000;
        if (every > 60000)
                every = 60000;
        pthread_mutex_lock(&s->lock);
        while (!s->stopping) {
                struct timespec ts;
                deadline_in(&ts, every);
                pthread_cond_timedwait(&s->janitor_wake, &s->lock, &ts);
                if (s->stopping)
                        break;
                pthread_mutex_unlock(&s->lock);
                vs_service_expire(s, vs_now_ms());
                pthread_mutex_lock(&s->lock);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

/* ---- metrics ------------------------------------------------------------------ */

char *vs_service_metrics(vs_service *s)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        vs_metrics_gauges g = { 0 };

        if (!f)
                vs_oom();
        pthread_mutex_lock(&s->lock);
        for (sjob *j = s->jobs; j; j = j->next) {
                pthread_mutex_lock(&j->lock);
                g.jobs[j->rec.state]++;
                pthread_mutex_unlock(&j->lock);
        }
        g.queue_length = s->nqueue;
        g.running = s->running;
        g.memory_reserved = s->reserved;
        vs_metrics_write(&s->metrics, &g, f);
        pthread_mutex_unlock(&s->lock);
        fclose(f);
        return buf;
}

/* ---- open and close ----------------------------------------------------------- */

static uint64_t spec_memory(json_t *spec)
{
        vs_spec sp;
        uint64_t m;

        if (vs_spec_from_json(spec, &sp, NULL) < 0)
                return UINT64_MAX;
        m = sp.memory;
        vs_spec_clear(&sp);
        return m;
}

/* A stored job as the new process finds it. */
static void recover(vs_service *s, sjob *j)
{
        switch (j->rec.state) {
        case VS_JOB_RUNNING:
                /* Its VM went with the previous process (libvirt autodestroy). */
                vs_record_set_state(&j->rec, VS_JOB_ERROR, (int64_t)vs_now_ms());
                vs_record_set_error(&j->rec, "lost: the service stopped while the job ran; its VM was destroyed");
                job_save_locked(s, j);
                break;
        case VS_JOB_QUEUED:
                if (j->memory > s->o.memory_budget) {
                        /* It would block the head of the queue forever. */
                        vs_record_set_state(&j->rec, VS_JOB_ERROR, (int64_t)vs_now_ms());
                        vs_record_set_error(&j->rec, "the job asks for more memory than --memory-budget");
                        job_save_locked(s, j);
                }
                break;
        case VS_JOB_CREATED:
        case VS_JOB_SUCCESS:
        case VS_JOB_FAILURE:
        case VS_JOB_TIMEOUT:
        case VS_JOB_CANCELLED:
        case VS_JOB_ERROR:
        case VS_JOB_STATE_LAST:
                break;
        }
}

static void load_one(void *userdata, const char *id)
{
        vs_service *s = userdata;
        _cleanup_free_ char *dir = vs_xasprintf("%s/%s", s->root, id);
        _cleanup_json_ json_t *json = NULL;
        vs_error err = { 0 };
        vs_job_record rec;
        sjob *j;

        json = vs_store_load(dir, &err);
        if (!json || vs_record_from_json(json, &rec, &err) < 0) {
                svc_log(s, 4, "skipping job %s: %s", id, err.msg);
                return;
        }
        if (strcmp(rec.id, id) != 0) {
                vs_record_clear(&rec);
                svc_log(s, 4, "skipping job %s: its record names another id", id);
                return;
        }
        j = job_new(s, id, spec_memory(rec.spec), &rec);
        recover(s, j);
        j->next = s->jobs;
        s->jobs = j;
}

static int by_queued(const void *a, const void *b)
{
        const vs_job_record *x = &(*(sjob *const *)a)->rec, *y = &(*(sjob *const *)b)->rec;

        if (x->queued_ms != y->queued_ms)
                return x->queued_ms < y->queued_ms ? -1 : 1;
        return x->created_ms < y->created_ms ? -1 : x->created_ms > y->created_ms;
}

static void requeue(vs_service *s)
{
        for (sjob *j = s->jobs; j; j = j->next)
                if (j->rec.state == VS_JOB_QUEUED && s->nqueue < VS_QUEUE_MAX)
                        s->queue[s->nqueue++] = j;
        qsort(s->queue, s->nqueue, sizeof(s->queue[0]), by_queued);
        if (s->nqueue)
                s->last_queued_ms = s->queue[s->nqueue - 1]->rec.queued_ms;
}

static int resolve_roots(vs_service *s, char *const *roots, vs_error *err)
{
        for (size_t i = 0; roots && roots[i]; i++) {
                char resolved[PATH_MAX];
                if (!realpath(roots[i], resolved))
                        return vs_error_errno(err, VS_ERR_SETUP, errno, "allowed root %s", roots[i]);
                if (roots[i][0] != '/')
                        return vs_error_set(err, VS_ERR_SETUP, "allowed root %s is not an absolute path", roots[i]);
                /* Clients may spell a path with the root as given or as it
                 * resolves; either way the open happens below the root's fd. */
                vs_strv_push(&s->roots, resolved);
                size_t n = strlen(roots[i]);
                while (n > 1 && roots[i][n - 1] == '/')
                        n--;
                if (strlen(resolved) != n || strncmp(resolved, roots[i], n) != 0) {
                        _cleanup_free_ char *given = vs_xstrndup(roots[i], n);
                        vs_strv_push(&s->roots, given);
                }
        }
        return 0;
}

int vs_service_open(const vs_service_opts *o, vs_service **ret, vs_error *err)
{
        vs_service *s = vs_xcalloc(1, sizeof(*s));

        s->o = *o;
        if (resolve_roots(s, o->allowed_roots, err) < 0 || vs_store_init(o->cfg->state_dir, &s->root, err) < 0) {
                vs_strv_free(s->roots);
                free(s);
                return -1;
        }
        s->queue = vs_xcalloc(VS_QUEUE_MAX, sizeof(s->queue[0]));
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->changed, NULL);
        pthread_cond_init(&s->janitor_wake, NULL);
        vs_jobdir_gc(o->cfg->state_dir); /* VM files of a previous process that died */
        vs_store_each(s->root, load_one, s);
        requeue(s);
        vs_service_expire(s, vs_now_ms());
        s->nworkers = o->max_jobs ? o->max_jobs : 1;
        s->workers = vs_xcalloc(s->nworkers, sizeof(pthread_t));
        for (unsigned i = 0; i < s->nworkers; i++)
                if (pthread_create(&s->workers[i], NULL, svc_worker, s) != 0) {
                        s->nworkers = i;
                        break;
                }
        if (s->nworkers == 0) {
                vs_service_free(s);
                return vs_error_set(err, VS_ERR_SETUP, "cannot start worker threads");
        }
        if (o->keep_ms)
                s->janitor_started = pthread_create(&s->janitor, NULL, janitor, s) == 0;
        *ret = s;
        return 0;
}

/* Every waiter and follower looks again (and sees the service stopping). */
static void wake_all_jobs_locked(vs_service *s)
{
        for (sjob *j = s->jobs; j; j = j->next) {
                pthread_mutex_lock(&j->lock);
                pthread_cond_broadcast(&j->cond);
                pthread_mutex_unlock(&j->lock);
        }
}

void vs_service_drain(vs_service *s, uint64_t grace_ms)
{
        struct timespec ts;

        deadline_in(&ts, grace_ms);
        pthread_mutex_lock(&s->lock);
        __atomic_store_n(&s->stopping, true, __ATOMIC_RELEASE); /* queued jobs stay queued on disk */
        pthread_cond_broadcast(&s->changed);
        pthread_cond_broadcast(&s->janitor_wake);
        wake_all_jobs_locked(s);
        while (s->running > 0 && pthread_cond_timedwait(&s->changed, &s->lock, &ts) != ETIMEDOUT)
                ;
        for (sjob *j = s->jobs; j; j = j->next) {
                pthread_mutex_lock(&j->lock);
                if (j->rec.state == VS_JOB_RUNNING)
                        j->cancel = true;
                pthread_mutex_unlock(&j->lock);
        }
        pthread_mutex_unlock(&s->lock);
        for (unsigned i = 0; s->workers && i < s->nworkers; i++)
                pthread_join(s->workers[i], NULL);
        free(s->workers);
        s->workers = NULL;
        if (s->janitor_started)
                pthread_join(s->janitor, NULL);
        s->janitor_started = false;
}

void vs_service_free(vs_service *s)
{
        if (s->workers)
                vs_service_drain(s, 0);
        while (s->jobs) {
                sjob *j = s->jobs;
                s->jobs = j->next;
                job_unref(j);
        }
        free(s->queue);
        free(s->root);
        vs_strv_free(s->roots);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->changed);
        pthread_cond_destroy(&s->janitor_wake);
        free(s);
}
