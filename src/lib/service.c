/* The service's core: jobs (reference-counted), the store, start and stop. */
#include "service_int.h"
#include "alloc.h"
#include "cleanup.h"
#include "fsutil.h"
#include "jobdir.h"
#include "parse.h"
#include "spec.h"
#include "store.h"
#include "strv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
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
        free(log);
        log = job_path(j, "streams.log");
        vs_streamlog_init(&j->slog, log, VS_SERVICE_LOG_LIMIT);
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
        vs_streamlog_clear(&j->slog);
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

/* ---- accounts: what each owner holds ------------------------------------------ */

sowner *owner_get_locked(vs_service *s, const char *owner)
{
        const char *id = owner ? owner : "";
        sowner *o;

        for (o = s->owners; o; o = o->next)
                if (strcmp(o->id, id) == 0)
                        return o;
        o = vs_xcalloc(1, sizeof(*o));
        snprintf(o->id, sizeof(o->id), "%s", id);
        o->next = s->owners;
        s->owners = o;
        return o;
}

/* "client <id>" or "the admin", for messages. */
const char *owner_label(const char *owner, char buf[VS_OWNER_LABEL_MAX])
{
        if (!owner || !*owner)
                return "the admin";
        snprintf(buf, VS_OWNER_LABEL_MAX, strncmp(owner, "docker:", 7) == 0 ? "Docker tenant %s" : "client %s",
                 strncmp(owner, "docker:", 7) == 0 ? owner + 7 : owner);
        return buf;
}

void job_list_locked(vs_service *s, sjob *j)
{
        j->acct = owner_get_locked(s, j->rec.owner);
        j->acct->jobs++;
        j->acct->bytes += j->bytes;
        s->bytes += j->bytes;
        s->njobs++;
        j->listed = true;
        j->next = s->jobs;
        s->jobs = j;
}

void job_unlist_locked(vs_service *s, sjob *j)
{
        for (sjob **p = &s->jobs; *p; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        break;
                }
        if (!j->listed)
                return;
        j->listed = false;
        j->acct->jobs--;
        j->acct->bytes -= j->bytes;
        s->bytes -= j->bytes;
        s->njobs--;
        j->bytes = 0;
}

#define MEASURE_MAX_ENTRIES 1000000

/* Bytes of the job's regular files, nothing followed; the temp files of
 * uploads in flight are left out (they are charged as they stream). */
static uint64_t job_measure(const sjob *j)
{
        _cleanup_closedir_ DIR *d = opendir(j->dir);
        uint64_t total = 0, entries = 0;
        struct dirent *e;

        if (!d)
                return 0;
        while ((e = readdir(d))) {
                struct stat st;
                uint64_t bytes = 0, n = 0;

                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strncmp(e->d_name, ".upload-", 8) ||
                    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISREG(st.st_mode)) {
                        total += (uint64_t)st.st_size;
                } else if (S_ISDIR(st.st_mode) && entries < MEASURE_MAX_ENTRIES) {
                        _cleanup_close_ int fd =
                                openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        /* What cannot be read is not counted: the files are the service's own. */
                        if (fd >= 0 && vs_tree_size_fd(fd, MEASURE_MAX_ENTRIES - entries, &bytes, &n, NULL) == 0) {
                                total += bytes;
                                entries += n;
                        }
                }
        }
        return total;
}

void job_account(vs_service *s, sjob *j)
{
        uint64_t bytes = job_measure(j);

        pthread_mutex_lock(&s->lock);
        if (j->listed) {
                j->acct->bytes = j->acct->bytes - j->bytes + bytes;
                s->bytes = s->bytes - j->bytes + bytes;
                j->bytes = bytes;
        }
        pthread_mutex_unlock(&s->lock);
}

/* ---- quotas -------------------------------------------------------------------- */

static int over_state(vs_service *s, const sowner *o, uint64_t more, vs_error *err)
{
        char a[32], b[32], who[VS_OWNER_LABEL_MAX];

        if (o->bytes + more > s->o.owner_state)
                return vs_error_set(err, VS_ERR_NO_SPACE, "%s would store %s, over its --owner-state %s",
                                    owner_label(o->id, who), vs_format_size(o->bytes + more, a, sizeof(a)),
                                    vs_format_size(s->o.owner_state, b, sizeof(b)));
        if (s->bytes + more > s->o.max_state)
                return vs_error_set(err, VS_ERR_NO_SPACE, "the service's jobs would store %s, over its --max-state %s",
                                    vs_format_size(s->bytes + more, a, sizeof(a)),
                                    vs_format_size(s->o.max_state, b, sizeof(b)));
        return 0;
}

int quota_create_locked(vs_service *s, const char *owner, vs_error *err)
{
        sowner *o = owner_get_locked(s, owner);
        char who[VS_OWNER_LABEL_MAX];

        if (o->jobs >= s->o.owner_jobs)
                return vs_error_set(err, VS_ERR_LIMIT, "%s already has %u jobs (--owner-jobs): delete some first",
                                    owner_label(o->id, who), o->jobs);
        if (s->njobs >= VS_JOBS_MAX)
                return vs_error_set(err, VS_ERR_NO_SPACE, "the service already stores %u jobs", s->njobs);
        /* Its record and spec are at most a few times VS_SPEC_JSON_MAX. */
        return over_state(s, o, VS_SPEC_JSON_MAX, err);
}

int job_list_checked(vs_service *s, sjob *j, vs_error *err)
{
        int r;

        /* Checked where the job is counted, so that parallel creates cannot
         * all pass a check made before. */
        pthread_mutex_lock(&s->lock);
        r = quota_create_locked(s, j->rec.owner, err);
        if (r == 0)
                job_list_locked(s, j);
        pthread_mutex_unlock(&s->lock);
        return r;
}

int spec_size_check(const json_t *spec, vs_error *err)
{
        size_t n = json_dumpb(spec, NULL, 0, JSON_COMPACT);

        if (n > VS_SPEC_JSON_MAX)
                return vs_error_set(err, VS_ERR_TOO_LARGE, "the job spec is %zu bytes of JSON, over the limit of %u",
                                    n, VS_SPEC_JSON_MAX);
        return 0;
}

int quota_queue_locked(vs_service *s, const char *owner, vs_error *err)
{
        const char *id = owner ? owner : "";
        unsigned n = 0;
        char who[VS_OWNER_LABEL_MAX];

        for (size_t i = 0; i < s->nqueue; i++)
                n += strcmp(s->queue[i]->rec.owner, id) == 0;
        if (n >= s->o.owner_queued)
                return vs_error_set(err, VS_ERR_LIMIT, "%s already has %u jobs queued (--owner-queued)",
                                    owner_label(id, who), n);
        return 0;
}

int quota_charge_locked(vs_service *s, sjob *j, uint64_t len, bool charge, vs_error *err)
{
        if (over_state(s, j->acct, len, err) < 0)
                return -1;
        if (charge) {
                j->acct->bytes += len;
                s->bytes += len;
        }
        return 0;
}

void vs_service_usage(vs_service *s, const char *owner, unsigned *ret_jobs, uint64_t *ret_bytes)
{
        pthread_mutex_lock(&s->lock);
        if (owner) {
                sowner *o = owner_get_locked(s, owner);
                *ret_jobs = o->jobs;
                *ret_bytes = o->bytes;
        } else {
                *ret_jobs = s->njobs;
                *ret_bytes = s->bytes;
        }
        pthread_mutex_unlock(&s->lock);
}

/* ---- uploads in flight ------------------------------------------------------------ */

vs_upload *upload_new(sjob *j, int kind, char *tmp, int fd)
{
        vs_upload *u = vs_xcalloc(1, sizeof(*u));

        u->j = j;
        u->kind = kind;
        u->tmp = tmp;
        u->fd = fd;
        return u;
}

uint64_t vs_service_upload_bytes(const vs_upload *u)
{
        return u->bytes;
}

int vs_service_upload_write(vs_service *s, vs_upload *u, const char *data, size_t len, vs_error *err)
{
        int r;

        if (u->fd < 0)
                return vs_error_set(err, VS_ERR_SANDBOX, "the upload is closed");
        if (u->bytes + len > s->o.max_upload)
                return vs_error_set(err, VS_ERR_TOO_LARGE, "upload larger than the %llu-byte limit",
                                    (unsigned long long)s->o.max_upload);
        /* Counted before it is written: the budget holds at every moment. */
        pthread_mutex_lock(&s->lock);
        r = quota_charge_locked(s, u->j, len, true, err);
        if (r == 0)
                u->charged += len;
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
                return -1;
        while (len > 0) {
                ssize_t n = write(u->fd, data, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "storing the upload");
                data += n;
                len -= (size_t)n;
                u->bytes += (uint64_t)n;
        }
        return 0;
}

void upload_settle(vs_service *s, vs_upload *u)
{
        if (u->fd >= 0)
                close(u->fd);
        if (u->tmp)
                unlink(u->tmp); /* nothing when it was put in place */
        pthread_mutex_lock(&s->lock);
        /* Charges stay with the owner until the upload settles, whether or
         * not the job is still listed; the file, if kept, is measured now. */
        u->j->acct->bytes -= u->charged;
        s->bytes -= u->charged;
        u->charged = 0;
        pthread_mutex_unlock(&s->lock);
        job_account(s, u->j);
        job_unref(u->j);
        free(u->tmp);
        free(u);
}

void vs_service_upload_abort(vs_service *s, vs_upload *u)
{
        if (u)
                upload_settle(s, u);
}

/* ---- snapshots of the list ------------------------------------------------------- */

sjob **jobs_snapshot(vs_service *s, const char *owner, size_t *ret_n)
{
        sjob **v;
        size_t n = 0;

        pthread_mutex_lock(&s->lock);
        v = vs_xcalloc(s->njobs + 1, sizeof(*v));
        for (sjob *j = s->jobs; j && n < s->njobs; j = j->next) {
                if (j->deleting || (owner && strcmp(j->rec.owner, owner) != 0))
                        continue;
                job_ref(j);
                v[n++] = j;
        }
        pthread_mutex_unlock(&s->lock);
        *ret_n = n;
        return v;
}

void jobs_release(sjob **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                job_unref(v[i]);
        free(v);
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

/* Finished jobs --keep after they ended; jobs never started
 * --expire-created after they were created.  Under j->lock. */
static bool expired_locked(vs_service *s, const sjob *j, uint64_t now_ms)
{
        const vs_job_record *r = &j->rec;

        if (s->o.keep_ms && vs_job_state_finished(r->state) && r->finished_ms >= 0 &&
            (uint64_t)r->finished_ms + s->o.keep_ms <= now_ms)
                return true;
        return s->o.created_ttl_ms && r->state == VS_JOB_CREATED && r->created_ms >= 0 &&
               (uint64_t)r->created_ms + s->o.created_ttl_ms <= now_ms;
}

/* Records are looked at without the service's lock (a job busy under its
 * own lock must not stall every request); the chosen ones are checked again
 * under both locks before they are taken off the list (a start may have
 * come meanwhile). */
unsigned vs_service_expire(vs_service *s, uint64_t now_ms)
{
        size_t n, ngone = 0;
        unsigned removed = 0;
        sjob **v, **gone;
        bool *created;

        if (!s->o.keep_ms && !s->o.created_ttl_ms)
                return 0;
        v = jobs_snapshot(s, NULL, &n);
        gone = vs_xcalloc(n + 1, sizeof(*gone));
        created = vs_xcalloc(n + 1, sizeof(*created));
        for (size_t i = 0; i < n; i++) {
                bool old;
                pthread_mutex_lock(&v[i]->lock);
                old = expired_locked(s, v[i], now_ms);
                pthread_mutex_unlock(&v[i]->lock);
                if (old)
                        gone[ngone++] = v[i];
        }
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < ngone; i++) {
                sjob *j = gone[i];
                bool old;
                pthread_mutex_lock(&j->lock);
                old = !j->deleting && j->listed && expired_locked(s, j, now_ms);
                created[i] = j->rec.state == VS_JOB_CREATED;
                pthread_mutex_unlock(&j->lock);
                if (old) {
                        j->deleting = true;
                        job_unlist_locked(s, j);
                } else {
                        gone[i] = NULL;
                }
        }
        pthread_mutex_unlock(&s->lock);
        for (size_t i = 0; i < ngone; i++) {
                if (!gone[i])
                        continue;
                svc_log(s, 6, "job %s expired (%s)", gone[i]->id, created[i] ? "--expire-created" : "--keep");
                job_remove_files(gone[i]);
                job_unref(gone[i]); /* the list's */
                removed++;
        }
        free(created);
        free(gone);
        jobs_release(v, n);
        return removed;
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
        uint64_t every = 60000;

        if (s->o.keep_ms && s->o.keep_ms / 10 < every)
                every = s->o.keep_ms / 10;
        if (s->o.created_ttl_ms && s->o.created_ttl_ms / 10 < every)
                every = s->o.created_ttl_ms / 10;
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

        size_t n;
        sjob **v;

        if (!f)
                vs_oom();
        /* States are read job by job without the service's lock. */
        v = jobs_snapshot(s, NULL, &n);
        for (size_t i = 0; i < n; i++) {
                pthread_mutex_lock(&v[i]->lock);
                g.jobs[v[i]->rec.state]++;
                pthread_mutex_unlock(&v[i]->lock);
        }
        jobs_release(v, n);
        pthread_mutex_lock(&s->lock);
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
        j->bytes = job_measure(j);
        job_list_locked(s, j); /* before the workers start: nobody else looks */
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

/* Limits left 0 get their defaults (service.h). */
static void apply_defaults(vs_service_opts *o)
{
        struct statvfs fs;

        if (!o->max_state)
                o->max_state = statvfs(o->cfg->state_dir, &fs) == 0 && fs.f_blocks > 0
                                       ? (uint64_t)fs.f_blocks * fs.f_frsize / 2
                                       : 64ull << 30;
        if (!o->owner_state)
                o->owner_state = o->max_state / 4;
        if (!o->owner_jobs)
                o->owner_jobs = VS_OWNER_JOBS_DEFAULT;
        if (!o->owner_queued)
                o->owner_queued = VS_OWNER_QUEUED_DEFAULT;
        if (!o->job_follows)
                o->job_follows = VS_JOB_FOLLOWS_DEFAULT;
        if (!o->owner_follows)
                o->owner_follows = VS_OWNER_FOLLOWS_DEFAULT;
        if (!o->follow_created_ms)
                o->follow_created_ms = VS_FOLLOW_CREATED_DEFAULT_MS;
}

static void log_limits(vs_service *s)
{
        char a[32], b[32], c[32];

        svc_log(s, 6, "%u jobs stored, %s of %s --max-state; per owner: %s, %u jobs, %u queued, %u log follows",
                s->njobs, vs_format_size(s->bytes, a, sizeof(a)), vs_format_size(s->o.max_state, b, sizeof(b)),
                vs_format_size(s->o.owner_state, c, sizeof(c)), s->o.owner_jobs, s->o.owner_queued,
                s->o.owner_follows);
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
        apply_defaults(&s->o); /* the state dir exists now: its filesystem sizes --max-state */
        s->queue = vs_xcalloc(VS_QUEUE_MAX, sizeof(s->queue[0]));
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->changed, NULL);
        pthread_cond_init(&s->janitor_wake, NULL);
        vs_jobdir_gc(o->cfg->state_dir); /* VM files of a previous process that died */
        vs_store_each(s->root, load_one, s);
        requeue(s);
        containers_recover(s); /* AutoRemove that the previous process did not finish */
        vs_service_expire(s, vs_now_ms());
        log_limits(s); /* before any thread runs */
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
        if (o->keep_ms || o->created_ttl_ms)
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
        while (s->owners) {
                sowner *o = s->owners;
                s->owners = o->next;
                free(o);
        }
        free(s->queue);
        free(s->root);
        vs_strv_free(s->roots);
        vs_strv_free(s->tenant_roots);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->changed);
        pthread_cond_destroy(&s->janitor_wake);
        free(s);
}
