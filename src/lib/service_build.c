/* Build jobs of the service (build.h, docs/docker-api.md "Builds"): a job
 * whose spec has a "build" object gets its inputs as files of its
 * directory instead of uploads, before it is started:
 *
 *   context.tar     the build context (the HTTP body, checked by the caller)
 *   images/N.tar    the FROM images' docker-archives (hard links of the
 *                   image store's blobs, made by the caller at the path
 *                   vs_service_build_image_path gives)
 *
 * The worker hands them to the pipeline (svc_build_opts). */
#include "service_int.h"
#include "alloc.h"
#include "build.h"
#include "cleanup.h"
#include "io.h"
#include "strv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONTEXT_NAME "context.tar"
#define IMAGES_DIR "images"

/* Under j->lock: a created build job that is still there. */
static int need_created_build(const sjob *j, vs_error *err)
{
        if (j->removed)
                return vs_error_set(err, VS_ERR_NOT_FOUND, "no job %s", j->id);
        if (!json_is_object(json_object_get(j->rec.spec, "build")))
                return vs_error_set(err, VS_ERR_CONFLICT, "job %s is not a build", j->id);
        if (j->rec.state != VS_JOB_CREATED)
                return vs_error_set(err, VS_ERR_CONFLICT, "job %s is %s: build inputs go before start", j->id,
                                    vs_job_state_to_string(j->rec.state));
        return 0;
}

/* Copies fd (from offset 0) into a new file at dest, 0600. */
static int copy_into(int fd, const char *dest, vs_error *err)
{
        _cleanup_close_ int out = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        char *buf;
        off_t off = 0;
        int r = 0;

        if (out < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot store the build context");
        buf = vs_xmalloc(64 * 1024);
        for (;;) {
                ssize_t n = pread(fd, buf, 64 * 1024, off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 || (n > 0 && vs_write_full(out, buf, (size_t)n) < 0)) {
                        r = vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot store the build context");
                        break;
                }
                if (n == 0)
                        break;
                off += n;
        }
        free(buf);
        if (r < 0)
                unlink(dest);
        return r;
}

int vs_service_build_context(vs_service *s, const char *owner, const char *id, int fd, vs_error *err)
{
        _cleanup_free_ char *dest = NULL, *from = NULL;
        struct stat st;
        sjob *j = job_get(s, owner, id, err);
        int r;

        if (!j)
                return -1;
        r = fstat(fd, &st) < 0 ? vs_error_errno(err, VS_ERR_SANDBOX, errno, "the build context") : 0;
        if (r == 0) {
                pthread_mutex_lock(&s->lock);
                r = quota_charge_locked(s, j, (uint64_t)st.st_size, false, err);
                pthread_mutex_unlock(&s->lock);
        }
        pthread_mutex_lock(&j->lock);
        if (r == 0)
                r = need_created_build(j, err);
        if (r == 0) {
                dest = job_path(j, CONTEXT_NAME);
                from = vs_xasprintf("/proc/self/fd/%d", fd);
                /* An unnamed O_TMPFILE (the server's ROUTE_BODY_FILE body) on
                 * the same file system gets a name; anything else is copied. */
                if (st.st_nlink != 0 || linkat(AT_FDCWD, from, AT_FDCWD, dest, AT_SYMLINK_FOLLOW) < 0)
                        r = copy_into(fd, dest, err);
                else if (chmod(dest, 0600) < 0)
                        r = vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot store the build context");
        }
        pthread_mutex_unlock(&j->lock);
        if (r == 0)
                job_account(s, j);
        job_unref(j);
        return r;
}

int vs_service_build_image_path(vs_service *s, const char *owner, const char *id, size_t i, char **ret_path,
                                vs_error *err)
{
        _cleanup_free_ char *dir = NULL;
        sjob *j;
        int r;

        if (i >= VS_BUILD_IMAGES_MAX)
                return vs_error_set(err, VS_ERR_LIMIT, "a build takes at most %d FROM images", VS_BUILD_IMAGES_MAX);
        j = job_get(s, owner, id, err);
        if (!j)
                return -1;
        pthread_mutex_lock(&j->lock);
        r = need_created_build(j, err);
        if (r == 0) {
                dir = job_path(j, IMAGES_DIR);
                if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                        r = vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create %s", dir);
                else
                        *ret_path = vs_xasprintf("%s/%zu.tar", dir, i);
        }
        pthread_mutex_unlock(&j->lock);
        job_unref(j);
        return r;
}

void svc_build_opts(sjob *j, vs_run_opts *opts, char **ret_context, char ***ret_images)
{
        *ret_context = job_path(j, CONTEXT_NAME);
        *ret_images = NULL;
        /* images/0.tar, 1.tar, ... as the caller made them, in order. */
        for (size_t i = 0; i < VS_BUILD_IMAGES_MAX; i++) {
                _cleanup_free_ char *p = vs_xasprintf("%s/" IMAGES_DIR "/%zu.tar", j->dir, i);
                struct stat st;

                if (lstat(p, &st) < 0)
                        break;
                if (vs_strv_push(ret_images, p) < 0)
                        vs_oom();
        }
        opts->build_context = *ret_context;
        opts->build_images = *ret_images;
}

const vs_config *vs_service_config(const vs_service *s)
{
        return s->o.cfg;
}

bool vs_service_allow_network(const vs_service *s)
{
        return s->o.allow_network;
}
