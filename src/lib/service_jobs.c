/* The service's verbs on one job: create, upload, start, get, list, cancel,
 * delete, and its outputs. */
#include "service_int.h"
#include "alloc.h"
#include "archive.h"
#include "cleanup.h"
#include "fsutil.h"
#include "parse.h"
#include "spec.h"
#include "store.h"
#include "tar.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- create ------------------------------------------------------------------ */

const char *vs_service_root_for(const vs_service *s, const char *path)
{
        const char *best = NULL;

        for (size_t i = 0; path && path[0] == '/' && s->roots && s->roots[i]; i++) {
                size_t n = strlen(s->roots[i]);
                if (strncmp(path, s->roots[i], n) == 0 && (path[n] == '/' || path[n] == '\0' || n == 1) &&
                    (!best || n > strlen(best)))
                        best = s->roots[i];
        }
        return best;
}

/* A server-side path names, by its own letters, a place below an allowed
 * root (nothing outside is looked at: no existence oracle), and opens there
 * with no symlink and no ".." (vs_open_beneath): a directory for the
 * workspace, a regular file for the image.  The run opens it the same way
 * again (run_one), so a swap between create and start gains nothing. */
int svc_check_path(vs_service *s, const char *field, const char *label, json_t *spec, vs_error *err)
{
        const char *p = json_string_value(json_object_get(spec, field));
        const char *root = vs_service_root_for(s, p);
        bool dir = strcmp(field, "workspace") == 0;
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (!p)
                return 0;
        if (!root)
                return vs_error_set(err, VS_ERR_FORBIDDEN, "%s %.200s is not an absolute path below an allowed root",
                                    label, p);
        fd = vs_open_beneath(root, p, O_RDONLY | O_NONBLOCK, err); /* a FIFO must not block */
        if (fd < 0 || fstat(fd, &st) < 0) {
                if (fd >= 0)
                        vs_error_errno(err, VS_ERR_INPUT, errno, "%s %.200s", label, p);
                vs_error_prefix(err, "%s", label);
                return -1;
        }
        if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
                return vs_error_set(err, VS_ERR_INPUT, "%s %.200s is not a %s", label, p,
                                    dir ? "directory" : "regular file");
        return 0;
}

/* Limits are checked now (the image may still come as an upload); returns
 * the guest memory the job needs. */
int svc_check_spec(vs_service *s, json_t *spec, uint64_t *ret_memory, vs_error *err)
{
        uint64_t max_disk = s->o.max_disk ? s->o.max_disk : VS_DISK_MAX;
        char a[32], b[32];
        vs_spec sp;
        bool placeholder;
        int r;

        if (vs_spec_from_json(spec, &sp, err) < 0)
                return -1;
        placeholder = !sp.image && !sp.tag && !sp.build;
        if (placeholder)
                sp.image = vs_xstrdup("(upload)");
        r = vs_spec_validate(&sp, err);
        /* QEMU user networking lets a guest reach the host's loopback
         * services (10.0.2.2): the administrator decides. */
        if (r == 0 && sp.network == VS_NETWORK_NAT && !s->o.allow_network)
                r = vs_error_set(err, VS_ERR_FORBIDDEN,
                                 "network nat is not allowed by this service (vmsandbox serve --allow-network)");
        if (r == 0 && sp.disk > max_disk)
                r = vs_error_set(err, VS_ERR_INPUT, "disk %s is over this service's --max-disk %s",
                                 vs_format_size(sp.disk, a, sizeof(a)), vs_format_size(max_disk, b, sizeof(b)));
        *ret_memory = sp.memory;
        vs_spec_clear(&sp);
        return r;
}

int vs_service_create(vs_service *s, const char *owner, json_t *spec, char ret_id[13], vs_error *err)
{
        _cleanup_json_ json_t *copy = vs_xjson(json_deep_copy(spec));
        _cleanup_free_ char *dir = NULL;
        vs_job_record rec;
        uint64_t memory;
        char id[13];
        sjob *j;

        if (!json_is_object(copy))
                return vs_error_set(err, VS_ERR_USAGE, "the job spec must be a JSON object");
        /* Binds are the Docker socket's containers' (checked and pinned by
         * vs_service_container_create); a job has its workspace. */
        if (json_object_get(copy, "binds"))
                return vs_error_set(err, VS_ERR_USAGE, "unknown field \"binds\"");
        if (spec_size_check(copy, err) < 0 || svc_check_spec(s, copy, &memory, err) < 0 ||
            svc_owner_path_check(s, owner, "image", json_string_value(json_object_get(copy, "image")), err) < 0 ||
            svc_owner_path_check(s, owner, "workspace", json_string_value(json_object_get(copy, "workspace")), err) < 0 ||
            svc_check_path(s, "image", "image", copy, err) < 0 || svc_check_path(s, "workspace", "workspace", copy, err) < 0)
                return -1;
        if (vs_random_id(id, err) < 0)
                return -1;
        dir = vs_xasprintf("%s/%s", s->root, id);
        if (mkdir(dir, 0700) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create the job");
        vs_record_init(&rec, id, owner, TAKE_PTR(copy), (int64_t)vs_now_ms());
        j = job_new(s, id, memory, &rec);
        job_save(s, j);
        if (job_list_checked(s, j, err) < 0) { /* over a quota: nothing is kept */
                vs_rm_rf(dir);
                job_unref(j);
                return -1;
        }
        job_account(s, j);
        memcpy(ret_id, id, 13);
        return 0;
}

/* ---- uploads ------------------------------------------------------------------- */

static int upload_kind(const char *what, vs_error *err)
{
        if (strcmp(what, "image") == 0)
                return 0;
        if (strcmp(what, "workspace") == 0)
                return 1;
        return vs_error_set(err, VS_ERR_NOT_FOUND, "no upload %.32s", what);
}

static int need_created(sjob *j, vs_error *err)
{
        if (j->removed)
                return vs_error_set(err, VS_ERR_NOT_FOUND, "no job %s", j->id);
        if (j->rec.state != VS_JOB_CREATED)
                return vs_error_set(err, VS_ERR_CONFLICT, "job %s is %s: uploads go before start", j->id,
                                    vs_job_state_to_string(j->rec.state));
        return 0;
}

int vs_service_upload_begin(vs_service *s, const char *owner, const char *id, const char *what, uint64_t declared,
                            vs_upload **ret, vs_error *err)
{
        _cleanup_free_ char *tmp = NULL;
        int kind = upload_kind(what, err);
        sjob *j;
        int fd = -1, r;

        if (kind < 0 || !(j = job_get(s, owner, id, err)))
                return -1;
        /* A declared length that cannot fit the quotas is refused at once. */
        pthread_mutex_lock(&s->lock);
        r = quota_charge_locked(s, j, declared, false, err);
        pthread_mutex_unlock(&s->lock);
        /* Made under the job's lock: a delete either removes it with the
         * directory or comes first and the upload is refused. */
        pthread_mutex_lock(&j->lock);
        if (r == 0)
                r = need_created(j, err);
        if (r == 0) {
                tmp = vs_xasprintf("%s/.upload-%s-XXXXXX", j->dir, what);
                fd = mkostemp(tmp, O_CLOEXEC);
                if (fd < 0)
                        r = vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot store the upload");
        }
        pthread_mutex_unlock(&j->lock);
        if (r < 0) {
                job_unref(j);
                return -1;
        }
        *ret = upload_new(j, kind, TAKE_PTR(tmp), fd); /* takes our reference */
        return 0;
}

/* A workspace upload must be a tar with no absolute or ".." names and no
 * hard link to such a name (the checks the image's layers get). */
static int check_workspace_tar(const char *path, vs_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "workspace upload");
        if (vs_tar_check(fd, 0, (uint64_t)st.st_size, err) < 0) {
                vs_error_prefix(err, "workspace archive");
                return -1;
        }
        return 0;
}

static int check_upload(int kind, const char *tmp, vs_error *err)
{
        vs_archive_info info;

        if (kind == 1)
                return check_workspace_tar(tmp, err);
        if (vs_archive_inspect(tmp, &info, err) < 0)
                return -1;
        vs_archive_info_clear(&info);
        return 0;
}

int vs_service_upload_end(vs_service *s, vs_upload *u, vs_error *err)
{
        _cleanup_free_ char *dest = NULL;
        sjob *j = u->j;
        int r;

        close(u->fd);
        u->fd = -1;
        r = check_upload(u->kind, u->tmp, err);
        pthread_mutex_lock(&j->lock);
        if (r == 0 || j->removed) /* a job deleted meanwhile took the file with it: not found */
                r = need_created(j, err);
        dest = job_path(j, u->kind == 0 ? "image.tar" : "workspace.tar");
        if (r == 0 && rename(u->tmp, dest) < 0)
                r = vs_error_errno(err, VS_ERR_SANDBOX, errno, "storing the upload");
        if (r == 0) {
                if (u->kind == 0)
                        j->rec.upload_image = true;
                else
                        j->rec.upload_workspace = true;
                job_save_locked(s, j);
                free(u->tmp);
                u->tmp = NULL; /* in place */
        }
        pthread_mutex_unlock(&j->lock);
        upload_settle(s, u); /* removes what was not kept, counts what was */
        return r;
}

/* ---- start, cancel, delete ------------------------------------------------------ */

static int start_check(vs_service *s, sjob *j, vs_error *err)
{
        const vs_job_record *rec = &j->rec;

        if (rec->state != VS_JOB_CREATED)
                return vs_error_set(err, VS_ERR_CONFLICT, "job %s is already %s", j->id, vs_job_state_to_string(rec->state));
        if (!rec->upload_image && !json_object_get(rec->spec, "image") && !json_object_get(rec->spec, "tag") &&
            !json_object_get(rec->spec, "build"))
                return vs_error_set(err, VS_ERR_CONFLICT, "job %s has no image: upload one or name it in the spec", j->id);
        if (j->memory > s->o.memory_budget)
                return vs_error_set(err, VS_ERR_CONFLICT, "job %s asks for more memory than the service may use", j->id);
        if (s->nqueue >= VS_QUEUE_MAX)
                return vs_error_set(err, VS_ERR_CONFLICT, "the queue is full (%d jobs)", VS_QUEUE_MAX);
        if (s->stopping)
                return vs_error_set(err, VS_ERR_SETUP, "the service is shutting down");
        return quota_queue_locked(s, rec->owner, err);
}

int vs_service_start(vs_service *s, const char *owner, const char *id, vs_error *err)
{
        int64_t now = (int64_t)vs_now_ms();
        sjob *j;
        int r;

        pthread_mutex_lock(&s->lock);
        j = job_find_locked(s, owner, id, err);
        if (!j) {
                pthread_mutex_unlock(&s->lock);
                return -1;
        }
        pthread_mutex_lock(&j->lock);
        r = start_check(s, j, err);
        if (r == 0) {
                /* Strictly increasing: the queue order survives a restart. */
                s->last_queued_ms = now > s->last_queued_ms ? now : s->last_queued_ms + 1;
                s->queue[s->nqueue++] = j;
                vs_record_set_state(&j->rec, VS_JOB_QUEUED, s->last_queued_ms);
                job_save_locked(s, j);
                pthread_cond_broadcast(&j->cond);
                pthread_cond_broadcast(&s->changed);
        }
        pthread_mutex_unlock(&j->lock);
        pthread_mutex_unlock(&s->lock);
        return r;
}

int vs_service_cancel(vs_service *s, const char *owner, const char *id, vs_error *err)
{
        sjob *j;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        j = job_find_locked(s, owner, id, err);
        if (!j) {
                pthread_mutex_unlock(&s->lock);
                return -1;
        }
        pthread_mutex_lock(&j->lock);
        if (vs_job_state_finished(j->rec.state)) {
                r = vs_error_set(err, VS_ERR_CONFLICT, "job %s has already finished (%s)", id,
                                 vs_job_state_to_string(j->rec.state));
        } else if (j->rec.state == VS_JOB_RUNNING) {
                j->cancel = true; /* the worker destroys the VM and records the verdict */
        } else {
                queue_remove_locked(s, j);
                vs_record_set_state(&j->rec, VS_JOB_CANCELLED, (int64_t)vs_now_ms());
                vs_record_set_error(&j->rec, "cancelled before it ran");
                job_save_locked(s, j);
                pthread_cond_broadcast(&j->cond);
        }
        pthread_mutex_unlock(&j->lock);
        pthread_mutex_unlock(&s->lock);
        return r;
}

int vs_service_delete(vs_service *s, const char *owner, const char *id, vs_error *err)
{
        sjob *j;

        pthread_mutex_lock(&s->lock);
        j = job_find_locked(s, owner, id, err);
        if (!j) {
                pthread_mutex_unlock(&s->lock);
                return -1;
        }
        /* From here on nobody else finds it: a second DELETE is a 404. */
        j->deleting = true;
        queue_remove_locked(s, j);
        job_ref(j);
        pthread_mutex_unlock(&s->lock);

        /* A running job: its VM is destroyed by the pipeline's cancel path. */
        pthread_mutex_lock(&j->lock);
        j->cancel = true;
        while (j->rec.state == VS_JOB_RUNNING)
                pthread_cond_wait(&j->cond, &j->lock);
        pthread_mutex_unlock(&j->lock);

        pthread_mutex_lock(&s->lock);
        job_unlist_locked(s, j);
        pthread_mutex_unlock(&s->lock);
        job_remove_files(j);
        job_unref(j); /* ours */
        job_unref(j); /* the list's */
        return 0;
}

/* ---- queries --------------------------------------------------------------------- */

static int64_t queue_index_locked(vs_service *s, const sjob *j)
{
        for (size_t i = 0; i < s->nqueue; i++)
                if (s->queue[i] == j)
                        return (int64_t)i;
        return -1;
}

/* The record (megabytes, with deep copies) is built under the job's own
 * lock, not the service's: a client asking for it again and again stalls
 * no other request.  The queue position is taken under the service's lock
 * just before; a job that was started or taken by a worker meanwhile is
 * looked at again. */
json_t *vs_service_get(vs_service *s, const char *owner, const char *id, vs_error *err)
{
        for (int tries = 0;; tries++) {
                int64_t pos = -1;
                json_t *json = NULL;
                sjob *j;

                pthread_mutex_lock(&s->lock);
                j = job_find_locked(s, owner, id, err);
                if (j) {
                        job_ref(j);
                        pos = queue_index_locked(s, j);
                }
                pthread_mutex_unlock(&s->lock);
                if (!j)
                        return NULL;
                pthread_mutex_lock(&j->lock);
                if (j->rec.state != VS_JOB_QUEUED)
                        pos = -1;
                if (pos >= 0 || j->rec.state != VS_JOB_QUEUED || tries == 2)
                        json = vs_record_to_json(&j->rec, pos);
                pthread_mutex_unlock(&j->lock);
                job_unref(j);
                if (json)
                        return json;
        }
}

int vs_service_state(vs_service *s, const char *owner, const char *id, vs_job_state *ret_state, vs_error *err)
{
        sjob *j = job_get(s, owner, id, err);

        if (!j)
                return -1;
        pthread_mutex_lock(&j->lock);
        *ret_state = j->rec.state;
        pthread_mutex_unlock(&j->lock);
        job_unref(j);
        return 0;
}

json_t *vs_service_list(vs_service *s, const char *owner, const vs_job_state *filter)
{
        json_t *list = vs_xjson(json_array());
        size_t n;
        sjob **v = jobs_snapshot(s, owner, &n);

        /* Job by job under each one's own lock, not the service's. */
        for (size_t i = 0; i < n; i++) {
                pthread_mutex_lock(&v[i]->lock);
                if (!filter || *filter == v[i]->rec.state)
                        json_array_append_new(list, vs_record_summary_json(&v[i]->rec));
                pthread_mutex_unlock(&v[i]->lock);
        }
        jobs_release(v, n);
        return list;
}

/* ---- outputs ----------------------------------------------------------------------- */

static int finished_out_dir(vs_service *s, const char *owner, const char *id, char **ret_out, vs_error *err)
{
        sjob *j = job_get(s, owner, id, err);
        int r = 0;

        if (!j)
                return -1;
        pthread_mutex_lock(&j->lock);
        if (!vs_job_state_finished(j->rec.state))
                r = vs_error_set(err, VS_ERR_CONFLICT, "job %s is %s: its output comes when it has finished", id,
                                 vs_job_state_to_string(j->rec.state));
        pthread_mutex_unlock(&j->lock);
        if (r == 0)
                *ret_out = job_path(j, "out");
        job_unref(j);
        return r;
}

int vs_service_open_output(vs_service *s, const char *owner, const char *id, const char *rel, int *ret_fd,
                           vs_error *err)
{
        _cleanup_free_ char *out = NULL, *copy = vs_xstrdup(rel);
        _cleanup_close_ int dir = -1;
        struct stat st;
        char *save = NULL, *part, *next;

        if (vs_tar_name_unsafe(rel) || !*rel)
                return vs_error_set(err, VS_ERR_NOT_FOUND, "no such file");
        if (finished_out_dir(s, owner, id, &out, err) < 0)
                return -1;
        dir = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dir < 0)
                return vs_error_set(err, VS_ERR_NOT_FOUND, "job %s has no output", id);
        /* Walk component by component: no symlink is ever followed. */
        for (part = strtok_r(copy, "/", &save); part; part = next) {
                int fd;
                next = strtok_r(NULL, "/", &save);
                fd = openat(dir, part, (next ? O_DIRECTORY : 0) | O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
                if (fd < 0)
                        return vs_error_set(err, VS_ERR_NOT_FOUND, "no such file %.200s", rel);
                close(dir);
                dir = fd;
        }
        if (fstat(dir, &st) < 0 || !S_ISREG(st.st_mode))
                return vs_error_set(err, VS_ERR_NOT_FOUND, "%.200s is not a file", rel);
        *ret_fd = TAKE_FD(dir);
        return 0;
}

int vs_service_workspace_dir(vs_service *s, const char *owner, const char *id, char **ret_dir, vs_error *err)
{
        _cleanup_free_ char *out = NULL, *dir = NULL;
        struct stat st;

        if (finished_out_dir(s, owner, id, &out, err) < 0)
                return -1;
        dir = vs_xasprintf("%s/workspace", out);
        if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return vs_error_set(err, VS_ERR_NOT_FOUND, "job %s has no workspace", id);
        *ret_dir = TAKE_PTR(dir);
        return 0;
}
