/* Waiting for a job and following its log: every waiter sleeps on the job's
 * condition variable (output, state changes, removal and shutdown broadcast
 * it) and wakes at least every VS_FOLLOW_WAIT_MS so that the caller can
 * notice a client that went away. */
#include "service_int.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

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

/* A job that is not running does not start once the service stops. */
static bool stalled(vs_service *s, const sjob *j)
{
        return svc_stopping(s) && j->rec.state != VS_JOB_RUNNING;
}

int vs_service_wait(vs_service *s, const char *owner, const char *id, uint64_t timeout_ms, vs_error *err)
{
        sjob *j = job_get(s, owner, id, err);
        struct timespec ts;
        int r = 0;

        if (!j)
                return -1;
        deadline_in(&ts, timeout_ms);
        pthread_mutex_lock(&j->lock);
        for (;;) {
                if (j->removed) {
                        r = vs_error_set(err, VS_ERR_NOT_FOUND, "job %s was deleted", id);
                        break;
                }
                if (vs_job_state_finished(j->rec.state)) {
                        r = 1;
                        break;
                }
                if (stalled(s, j)) {
                        r = vs_error_set(err, VS_ERR_SETUP, "the service is shutting down; job %s stays %s", id,
                                         vs_job_state_to_string(j->rec.state));
                        break;
                }
                if (pthread_cond_timedwait(&j->cond, &j->lock, &ts) == ETIMEDOUT)
                        break;
        }
        pthread_mutex_unlock(&j->lock);
        job_unref(j);
        return r;
}

int vs_service_log_read(vs_service *s, const char *owner, const char *id, uint64_t offset, char *buf, size_t len,
                        bool follow, size_t *ret_n, bool *ret_done, vs_error *err)
{
        sjob *j = job_get(s, owner, id, err);
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        struct timespec ts;
        bool done = false, readable = false;
        ssize_t n = 0;

        if (!j)
                return -1;
        deadline_in(&ts, VS_FOLLOW_WAIT_MS);
        pthread_mutex_lock(&j->lock);
        for (;;) {
                if (j->removed) {
                        done = true;
                        break;
                }
                if (offset < j->log.size) {
                        readable = true;
                        break;
                }
                if (vs_job_state_finished(j->rec.state) || !follow || stalled(s, j)) {
                        done = true;
                        break;
                }
                if (pthread_cond_timedwait(&j->cond, &j->lock, &ts) == ETIMEDOUT)
                        break;
        }
        pthread_mutex_unlock(&j->lock);
        if (readable) {
                /* The file is read without the lock: output goes on meanwhile. */
                path = job_path(j, "output.log");
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                n = fd >= 0 ? pread(fd, buf, len, (off_t)offset) : -1;
                if (n <= 0) /* shorter than recorded: what is missing will not come */
                        done = true;
        }
        job_unref(j);
        *ret_n = n > 0 ? (size_t)n : 0;
        *ret_done = done;
        return 0;
}
