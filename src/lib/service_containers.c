/* Containers of the Docker socket: jobs with Docker facts (container.h).
 * Creation maps the Engine API's config onto a spec and links the image
 * into the job's directory; lookup is Docker's (id, name, id prefix);
 * names are unique per owner; AutoRemove removes a finished container and
 * leaves its exit code for late waiters. */
#include "service_int.h"
#include "alloc.h"
#include "cleanup.h"
#include "fsutil.h"
#include "spec.h"
#include "store.h"
#include "strv.h"
#include "parse.h"
#include "workspace.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ---- tenants' roots ------------------------------------------------------------- */

static bool is_tenant(const char *owner)
{
        return owner && strncmp(owner, "docker:", 7) == 0;
}

/* Whether path, absolute, has a "." or ".." component (empty ones are
 * harmless: the kernel reads "//" as "/"). */
static bool has_dot_component(const char *path)
{
        for (const char *c = path; *c;) {
                size_t n;

                while (*c == '/')
                        c++;
                n = strcspn(c, "/");
                if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return true;
                c += n;
        }
        return false;
}

/* Whether path is root or below it, by letters. */
static bool below(const char *root, const char *path)
{
        size_t n = strlen(root);

        return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0' || strcmp(root, "/") == 0);
}

/* Under s->lock: the index of owner's root in s->tenant_roots, or -1. */
static ssize_t tenant_root_at_locked(const vs_service *s, const char *owner)
{
        for (size_t i = 0; s->tenant_roots && s->tenant_roots[i]; i += 2)
                if (strcmp(s->tenant_roots[i], owner) == 0)
                        return (ssize_t)i;
        return -1;
}

char *vs_service_tenant_root(vs_service *s, const char *owner)
{
        char *r = NULL;
        ssize_t i;

        pthread_mutex_lock(&s->lock);
        i = tenant_root_at_locked(s, owner);
        if (i >= 0)
                r = vs_xstrdup(s->tenant_roots[i + 1]);
        pthread_mutex_unlock(&s->lock);
        return r;
}

/* The root as a tenant's: clean, below an allowed root, a directory that
 * opens there with no symlink, "..", or mount point on the way (the same
 * open as a bind's, so a root that is a link to /etc is refused). */
static int tenant_root_check(vs_service *s, const char *root, char **ret, vs_error *err)
{
        _cleanup_free_ char *clean = NULL;
        _cleanup_close_ int fd = -1;
        const char *allowed;
        size_t n = strlen(root);
        struct stat st;

        if (root[0] != '/' || n >= PATH_MAX || has_dot_component(root))
                return vs_error_set(err, VS_ERR_INPUT, "root %.300s: expected an absolute path without \".\" or \"..\"",
                                    root);
        while (n > 1 && root[n - 1] == '/')
                n--;
        clean = vs_xstrndup(root, n);
        allowed = vs_service_root_for(s, clean);
        if (!allowed)
                return vs_error_set(err, VS_ERR_FORBIDDEN, "root %.300s is not below an allowed root (--allow-root)",
                                    clean);
        fd = vs_open_beneath(allowed, clean, O_RDONLY | O_DIRECTORY, err);
        if (fd < 0 || fstat(fd, &st) < 0) {
                if (fd >= 0)
                        vs_error_errno(err, VS_ERR_INPUT, errno, "%.300s", clean);
                vs_error_prefix(err, "root");
                return -1;
        }
        *ret = TAKE_PTR(clean);
        return 0;
}

int vs_service_set_tenant_root(vs_service *s, const char *owner, const char *root, vs_error *err)
{
        _cleanup_free_ char *clean = NULL;
        size_t n;
        ssize_t i;

        if (!is_tenant(owner) || strlen(owner) > VS_OWNER_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "%.80s is not a Docker tenant", owner ? owner : "(admin)");
        if (root && tenant_root_check(s, root, &clean, err) < 0)
                return -1;
        pthread_mutex_lock(&s->lock);
        i = tenant_root_at_locked(s, owner);
        n = vs_strv_length(s->tenant_roots);
        if (i >= 0 && clean) {
                free(s->tenant_roots[i + 1]);
                s->tenant_roots[i + 1] = TAKE_PTR(clean);
        } else if (i >= 0) {
                free(s->tenant_roots[i]);
                free(s->tenant_roots[i + 1]);
                memmove(s->tenant_roots + i, s->tenant_roots + i + 2, (n - (size_t)i - 1) * sizeof(char *));
        } else if (clean && n / 2 >= VS_TENANT_ROOTS_MAX) {
                pthread_mutex_unlock(&s->lock);
                return vs_error_set(err, VS_ERR_LIMIT, "at most %d tenants have roots", VS_TENANT_ROOTS_MAX);
        } else if (clean) {
                vs_strv_push(&s->tenant_roots, owner);
                vs_strv_push(&s->tenant_roots, clean);
        }
        pthread_mutex_unlock(&s->lock);
        return 0;
}

int svc_owner_path_check(vs_service *s, const char *owner, const char *label, const char *path, vs_error *err)
{
        _cleanup_free_ char *root = NULL;

        if (!path || !is_tenant(owner))
                return 0;
        root = vs_service_tenant_root(s, owner);
        /* A tenant without a root of its own binds nothing: the service's
         * roots hold every tenant's directories. */
        if (!root)
                return vs_error_set(err, VS_ERR_INPUT,
                                    "%s %.300s: tenant %.48s has no allowed root, so it binds no host directory "
                                    "(serve --docker-socket PATH:TENANT:ROOT, or \"root\" in POST /v1/docker-sockets)",
                                    label, path, owner + 7);
        if (has_dot_component(path))
                return vs_error_set(err, VS_ERR_INPUT, "%s %.300s: a path with \".\" or \"..\" is not allowed", label,
                                    path);
        if (!below(root, path))
                return vs_error_set(err, VS_ERR_INPUT, "%s %.300s is not below tenant %.48s's root %.300s", label, path,
                                    owner + 7, root);
        return 0;
}

/* ---- create ------------------------------------------------------------------ */

/* Under s->lock: the listed container of owner named name. */
static sjob *find_name_locked(vs_service *s, const char *owner, const char *name)
{
        for (sjob *j = s->jobs; j; j = j->next)
                if (!j->deleting && j->rec.container && strcmp(j->rec.owner, owner ? owner : "") == 0 &&
                    strcmp(j->rec.container->name, name) == 0)
                        return j;
        return NULL;
}

/* The name is checked and the job counted in one hold of the lock: two
 * creates of one name cannot both pass. */
static int list_container_checked(vs_service *s, sjob *j, vs_error *err)
{
        sjob *other;
        int r;

        pthread_mutex_lock(&s->lock);
        other = find_name_locked(s, j->rec.owner, j->rec.container->name);
        if (other)
                r = vs_error_set(err, VS_ERR_CONFLICT,
                                 "Conflict. The container name \"/%s\" is already in use by container \"%s\". You have "
                                 "to remove (or rename) that container to be able to reuse that name.",
                                 j->rec.container->name, vs_container_id(other->rec.container, other->id));
        else
                r = quota_create_locked(s, j->rec.owner, err);
        if (r == 0)
                job_list_locked(s, j);
        pthread_mutex_unlock(&s->lock);
        return r;
}

static int name_of(const char *given, const char *id, char **ret, vs_error *err)
{
        if (!given || !*given) {
                *ret = vs_xasprintf("vs_%s", id);
                return 0;
        }
        if (given[0] == '/')
                given++;
        if (!vs_container_name_valid(given))
                return vs_error_set(err, VS_ERR_INPUT, "Invalid container name (%.200s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                                    given);
        *ret = vs_xstrdup(given);
        return 0;
}

static int resolve_image(vs_service *s, const char *owner, const char *name, const char *dir,
                         vs_container_image *ret, vs_error *err)
{
        _cleanup_free_ char *dest = vs_xasprintf("%s/image.tar", dir);

        memset(ret, 0, sizeof(*ret));
        if (!s->o.image_resolve)
                return vs_error_set(err, VS_ERR_NOT_FOUND, "No such image: %.255s", name);
        if (s->o.image_resolve(s->o.image_userdata, owner, name, dest, ret, err) < 0)
                return -1;
        ret->id[sizeof(ret->id) - 1] = ret->ref[sizeof(ret->ref) - 1] = '\0';
        if (ret->linked ? !ret->id[0] : !ret->ref[0])
                return vs_error_set(err, VS_ERR_SANDBOX, "image %.255s: the image store named nothing to run", name);
        return 0;
}

/* Every bind opened now, below the root that admits it, as the run will
 * open it again: a directory or a regular file; its identity (dev/ino)
 * goes into the spec, so that the run copies in and writes back the same
 * file, not whatever the path names by then.  Their bytes together are
 * bounded (VS_BINDS_BYTES_MAX, and the job disk holds each twice). */
#define BINDS_MAX_ENTRIES 200000ull
static int check_binds(vs_service *s, const char *owner, vs_spec *sp, vs_error *err)
{
        uint64_t total = 0, entries = 0;
        char a[32], b[32];

        for (size_t i = 0; i < sp->n_binds; i++) {
                vs_bind *bd = &sp->binds[i];
                _cleanup_close_ int fd = -1;
                uint64_t bytes, n;
                struct stat st;

                /* A tenant binds below its own root only. */
                if (svc_owner_path_check(s, owner, "bind source", bd->host, err) < 0 ||
                    vs_bind_open(vs_service_root_for(s, bd->host), bd, BINDS_MAX_ENTRIES - entries, &fd, &st, &bytes, &n,
                                 err) < 0)
                        return -1;
                bd->dev = (uint64_t)st.st_dev;
                bd->ino = (uint64_t)st.st_ino;
                total += bytes;
                entries += n;
                if (entries > BINDS_MAX_ENTRIES)
                        return vs_error_set(err, VS_ERR_INPUT, "binds: more than %llu entries together (at %.300s)",
                                            BINDS_MAX_ENTRIES, bd->host);
                /* The job disk holds each bind twice (in, and back out). */
                uint64_t limit = sp->disk / 2 - (32ull << 20);
                if (limit > VS_BINDS_BYTES_MAX)
                        limit = VS_BINDS_BYTES_MAX;
                if (total > limit)
                        return vs_error_set(err, VS_ERR_INPUT, "binds: %s together (at %.300s), over the limit of %s",
                                            vs_format_size(total, a, sizeof(a)), bd->host, vs_format_size(limit, b, sizeof(b)));
        }
        return 0;
}

/* Docker's 64 hex digits: the job's 12, then 52 random ones. */
static int long_id_of(const char *job_id, char ret[VS_CONTAINER_ID_LEN + 1], vs_error *err)
{
        memcpy(ret, job_id, 12);
        for (size_t at = 12; at < VS_CONTAINER_ID_LEN; at += 12) {
                char more[13];
                if (vs_random_id(more, err) < 0)
                        return -1;
                memcpy(ret + at, more, VS_CONTAINER_ID_LEN - at < 12 ? VS_CONTAINER_ID_LEN - at : 12);
        }
        ret[VS_CONTAINER_ID_LEN] = '\0';
        return 0;
}

int vs_service_container_create(vs_service *s, const char *owner, const char *name, json_t *body, char ret_id[13],
                                vs_error *err)
{
        vs_container_policy pol = { .roots = s->roots, .allow_network = s->o.allow_network, .max_disk = s->o.max_disk };
        _cleanup_json_ json_t *spec = NULL;
        _cleanup_free_ char *dir = NULL, *cname = NULL;
        vs_container *facts = NULL;
        vs_container_image im;
        vs_job_record rec;
        uint64_t memory;
        vs_spec sp;
        char id[13];
        sjob *j;

        if (vs_random_id(id, err) < 0 || name_of(name, id, &cname, err) < 0)
                return -1;
        if (vs_container_from_docker(body, &pol, &sp, &facts, err) < 0)
                return -1;
        if (check_binds(s, owner, &sp, err) < 0) {
                vs_spec_clear(&sp);
                vs_container_free(facts);
                return -1;
        }
        spec = vs_spec_to_json(&sp);
        vs_spec_clear(&sp);
        /* Limits and the bind's directory (below the tenant's own root, then
         * opened below the service's) before anything is made. */
        if (spec_size_check(spec, err) < 0 || svc_check_spec(s, spec, &memory, err) < 0 ||
            svc_owner_path_check(s, owner, "bind source", json_string_value(json_object_get(spec, "workspace")), err) < 0 ||
            svc_check_path(s, "workspace", "bind source", spec, err) < 0) {
                vs_container_free(facts);
                return -1;
        }
        dir = vs_xasprintf("%s/%s", s->root, id);
        if (mkdir(dir, 0700) < 0) {
                vs_container_free(facts);
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create the container");
        }
        if (resolve_image(s, owner, facts->image, dir, &im, err) < 0) {
                vs_rm_rf(dir);
                vs_container_free(facts);
                return -1;
        }
        json_object_set_new(spec, "tag", vs_xjson(json_string(im.linked ? im.id : im.ref)));
        snprintf(facts->image_id, sizeof(facts->image_id), "%s", im.id);
        if (long_id_of(id, facts->long_id, err) < 0) {
                vs_rm_rf(dir);
                vs_container_free(facts);
                return -1;
        }
        facts->name = TAKE_PTR(cname);
        vs_record_init(&rec, id, owner, TAKE_PTR(spec), (int64_t)vs_now_ms());
        rec.container = facts;
        rec.upload_image = im.linked;
        j = job_new(s, id, memory, &rec);
        job_save(s, j);
        if (list_container_checked(s, j, err) < 0) { /* a name in use, a quota: nothing is kept */
                vs_rm_rf(dir);
                job_unref(j);
                return -1;
        }
        job_account(s, j);
        memcpy(ret_id, id, 13);
        return 0;
}

/* ---- lookup ------------------------------------------------------------------ */

static bool is_hex(const char *p)
{
        for (; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

/* Under s->lock: a listed container of owner (NULL: any). */
static bool visible_locked(const sjob *j, const char *owner)
{
        return !j->deleting && j->rec.container && (!owner || strcmp(j->rec.owner, owner) == 0);
}

/* Docker's lookup: the full id (or, for every container, its job id: the
 * id of records made before ids were long), the name, then a prefix of
 * the full id that is unique among the owner's containers. */
int vs_service_container_find(vs_service *s, const char *owner, const char *ref, char ret_id[13], vs_error *err)
{
        const char *name = ref[0] == '/' ? ref + 1 : ref;
        size_t n = strlen(ref), matches = 0;
        sjob *found = NULL;

        pthread_mutex_lock(&s->lock);
        for (sjob *j = s->jobs; j && !found; j = j->next)
                if (visible_locked(j, owner) &&
                    (strcmp(j->id, ref) == 0 || strcmp(vs_container_id(j->rec.container, j->id), ref) == 0))
                        found = j;
        for (sjob *j = s->jobs; j && !found; j = j->next)
                if (visible_locked(j, owner) && strcmp(j->rec.container->name, name) == 0)
                        found = j;
        if (!found && n > 0 && n < VS_CONTAINER_ID_LEN && is_hex(ref))
                for (sjob *j = s->jobs; j; j = j->next)
                        if (visible_locked(j, owner) && strncmp(vs_container_id(j->rec.container, j->id), ref, n) == 0) {
                                found = j;
                                matches++;
                        }
        if (found && matches <= 1)
                memcpy(ret_id, found->id, 13);
        pthread_mutex_unlock(&s->lock);
        if (matches > 1)
                return vs_error_set(err, VS_ERR_INPUT, "multiple IDs found with provided prefix: %.64s", ref);
        if (!found)
                return vs_error_set(err, VS_ERR_NOT_FOUND, "No such container: %.200s", ref);
        return 0;
}

/* ---- inspect and list ---------------------------------------------------------- */

void vs_container_info_clear(vs_container_info *i)
{
        free(i->error);
        vs_container_free(i->c);
        memset(i, 0, sizeof(*i));
}

void vs_container_info_list_free(vs_container_info *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                vs_container_info_clear(&v[i]);
        free(v);
}

/* Under j->lock. */
static void info_of(const sjob *j, vs_container_info *ret)
{
        const vs_job_record *r = &j->rec;

        memset(ret, 0, sizeof(*ret));
        memcpy(ret->id, r->id, 13);
        snprintf(ret->full_id, sizeof(ret->full_id), "%s", vs_container_id(r->container, r->id));
        ret->state = r->state;
        ret->exit_code = r->exit_code;
        ret->error = r->error ? vs_xstrdup(r->error) : NULL;
        ret->created_ms = r->created_ms;
        /* Docker's start is the queueing: a queued container is running. */
        ret->started_ms = r->queued_ms >= 0 ? r->queued_ms : r->started_ms;
        ret->finished_ms = r->finished_ms;
        ret->c = vs_container_copy(r->container);
}

int vs_service_container_info(vs_service *s, const char *owner, const char *id, vs_container_info *ret, vs_error *err)
{
        sjob *j = job_get(s, owner, id, err);
        int r = 0;

        if (!j)
                return -1;
        pthread_mutex_lock(&j->lock);
        if (!j->rec.container)
                r = vs_error_set(err, VS_ERR_NOT_FOUND, "No such container: %.64s", id);
        else
                info_of(j, ret);
        pthread_mutex_unlock(&j->lock);
        job_unref(j);
        return r;
}

static int newest_first(const void *a, const void *b)
{
        const vs_container_info *x = a, *y = b;

        if (x->created_ms != y->created_ms)
                return x->created_ms > y->created_ms ? -1 : 1;
        return strcmp(x->id, y->id);
}

void vs_service_container_list(vs_service *s, const char *owner, vs_container_info **ret, size_t *ret_n)
{
        size_t n, k = 0;
        sjob **v = jobs_snapshot(s, owner, &n);
        vs_container_info *out = vs_xcalloc(n + 1, sizeof(*out));

        for (size_t i = 0; i < n; i++) {
                pthread_mutex_lock(&v[i]->lock);
                if (v[i]->rec.container)
                        info_of(v[i], &out[k++]);
                pthread_mutex_unlock(&v[i]->lock);
        }
        jobs_release(v, n);
        qsort(out, k, sizeof(*out), newest_first);
        *ret = out;
        *ret_n = k;
}

/* ---- wait ------------------------------------------------------------------- */

static const char *const wait_condition_table[VS_WAIT_CONDITION_LAST] = {
        [VS_WAIT_NOT_RUNNING] = "not-running",
        [VS_WAIT_NEXT_EXIT] = "next-exit",
        [VS_WAIT_REMOVED] = "removed",
};

int vs_wait_condition_parse(const char *s, vs_wait_condition *ret)
{
        if (!s || !*s) {
                *ret = VS_WAIT_NOT_RUNNING;
                return 0;
        }
        for (int i = 0; i < VS_WAIT_CONDITION_LAST; i++)
                if (strcmp(s, wait_condition_table[i]) == 0) {
                        *ret = (vs_wait_condition)i;
                        return 0;
                }
        return -1;
}

struct vs_container_waiter {
        sjob *j;           /* a reference; NULL: a tombstone */
        ctomb tomb;
};

static bool tomb_find_locked(vs_service *s, const char *owner, const char *id, ctomb *ret)
{
        for (size_t i = 0; i < VS_CONTAINER_TOMBSTONES; i++) {
                const ctomb *t = &s->tombs[i];
                if (t->used && (strcmp(t->id, id) == 0 || (strlen(id) == 12 && strncmp(t->id, id, 12) == 0)) &&
                    (!owner || strcmp(t->owner, owner) == 0)) {
                        *ret = *t;
                        return true;
                }
        }
        return false;
}

static bool tomb_get(vs_service *s, const char *owner, const char *id, ctomb *ret)
{
        bool found;

        pthread_mutex_lock(&s->lock);
        found = tomb_find_locked(s, owner, id, ret);
        pthread_mutex_unlock(&s->lock);
        return found;
}

int vs_service_container_wait_open(vs_service *s, const char *owner, const char *id, vs_container_waiter **ret,
                                   vs_error *err)
{
        vs_container_waiter *w = vs_xcalloc(1, sizeof(*w));
        char full[13];

        /* A container that AutoRemove took is found by its full id only
         * (the id create answered; its name is free again), and looked
         * for again after a miss: it may have gone between the looks. */
        if (!tomb_get(s, owner, id, &w->tomb) &&
            (vs_service_container_find(s, owner, id, full, err) < 0 || !(w->j = job_get(s, owner, full, err))) &&
            !tomb_get(s, owner, id, &w->tomb)) {
                free(w);
                return -1;
        }
        *ret = w;
        return 0;
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

/* Under j->lock: does cond hold? */
static bool condition_met(const sjob *j, vs_wait_condition cond)
{
        vs_job_state st = j->rec.state;

        switch (cond) {
        case VS_WAIT_NOT_RUNNING:
                return st == VS_JOB_CREATED || vs_job_state_finished(st);
        case VS_WAIT_NEXT_EXIT:
                return vs_job_state_finished(st);
        case VS_WAIT_REMOVED:
                return j->removed;
        case VS_WAIT_CONDITION_LAST:
                break;
        }
        return true;
}

int vs_service_container_wait(vs_service *s, vs_container_waiter *w, vs_wait_condition cond, uint64_t timeout_ms,
                              int *ret_code, char **ret_error, vs_error *err)
{
        struct timespec ts;
        sjob *j = w->j;
        bool failed = false;
        int r = 0;

        *ret_error = NULL;
        if (!j) {
                *ret_code = w->tomb.code;
                if (w->tomb.failed)
                        *ret_error = vs_xstrdup("the sandbox failed before the container exited");
                return 1;
        }
        deadline_in(&ts, timeout_ms);
        pthread_mutex_lock(&j->lock);
        for (;;) {
                /* A job removed before it ran (a delete of a created one)
                 * ends every condition: it will never exit otherwise. */
                if (condition_met(j, cond) || j->removed) {
                        *ret_code = vs_container_exit_code(j->rec.state, j->rec.exit_code, &failed);
                        if (failed)
                                *ret_error = vs_xstrdup(j->rec.error ? j->rec.error : "the sandbox failed");
                        r = 1;
                        break;
                }
                if (svc_stopping(s) && j->rec.state != VS_JOB_RUNNING) {
                        r = vs_error_set(err, VS_ERR_SETUP, "the service is shutting down; container %s stays %s",
                                         j->id, vs_container_status(j->rec.state));
                        break;
                }
                if (pthread_cond_timedwait(&j->cond, &j->lock, &ts) == ETIMEDOUT)
                        break;
        }
        pthread_mutex_unlock(&j->lock);
        return r;
}

void vs_service_container_wait_close(vs_container_waiter *w)
{
        if (!w)
                return;
        job_unref(w->j);
        free(w);
}

int vs_service_container_image_use(vs_service *s, const char *owner, const char *image_id, char ret_id[13])
{
        size_t n;
        sjob **v = jobs_snapshot(s, owner, &n);
        int use = 0;

        for (size_t i = 0; i < n && use < 2; i++) {
                int u;
                pthread_mutex_lock(&v[i]->lock);
                u = !v[i]->rec.container || strcmp(v[i]->rec.container->image_id, image_id) != 0 ? 0
                    : vs_job_state_finished(v[i]->rec.state) || v[i]->rec.state == VS_JOB_CREATED ? 1
                                                                                                : 2;
                pthread_mutex_unlock(&v[i]->lock);
                if (u > use) {
                        use = u;
                        memcpy(ret_id, v[i]->id, 13);
                }
        }
        jobs_release(v, n);
        return use;
}

/* ---- remove, AutoRemove ---------------------------------------------------------- */

int vs_service_container_remove(vs_service *s, const char *owner, const char *id, bool force, vs_error *err)
{
        vs_job_state st;

        if (vs_service_state(s, owner, id, &st, err) < 0)
                return -1;
        if (!force && (st == VS_JOB_QUEUED || st == VS_JOB_RUNNING))
                return vs_error_set(err, VS_ERR_CONFLICT,
                                    "You cannot remove a running container %s. Stop the container before attempting "
                                    "removal or force remove",
                                    id);
        return vs_service_delete(s, owner, id, err);
}

/* Under s->lock: the slot owner's new tombstone goes to: a free one;
 * else, when owner has its share, its own oldest; else the oldest of the
 * owner that has the most.  One tenant's AutoRemove containers do not push
 * out the exit codes that other tenants' late waiters need. */
static size_t tomb_slot_locked(const vs_service *s, const char *owner)
{
        size_t mine = 0, own_oldest = VS_CONTAINER_TOMBSTONES, victim = 0, most = 0;

        for (size_t i = 0; i < VS_CONTAINER_TOMBSTONES; i++)
                if (!s->tombs[i].used)
                        return i;
        for (size_t i = 0; i < VS_CONTAINER_TOMBSTONES; i++) {
                const ctomb *t = &s->tombs[i];
                size_t n = 0;

                if (strcmp(t->owner, owner) == 0) {
                        mine++;
                        if (own_oldest == VS_CONTAINER_TOMBSTONES || t->seq < s->tombs[own_oldest].seq)
                                own_oldest = i;
                }
                for (size_t k = 0; k < VS_CONTAINER_TOMBSTONES; k++)
                        n += strcmp(s->tombs[k].owner, t->owner) == 0;
                if (n > most || (n == most && t->seq < s->tombs[victim].seq)) {
                        most = n;
                        victim = i;
                }
        }
        return mine >= VS_CONTAINER_TOMBSTONES_PER_OWNER ? own_oldest : victim;
}

void container_finished(vs_service *s, sjob *j)
{
        ctomb t = { .used = true };
        bool gone = false;

        if (!j->rec.container || !j->rec.container->auto_remove)
                return;
        pthread_mutex_lock(&j->lock);
        snprintf(t.owner, sizeof(t.owner), "%s", j->rec.owner);
        snprintf(t.id, sizeof(t.id), "%s", vs_container_id(j->rec.container, j->id));
        t.code = vs_container_exit_code(j->rec.state, j->rec.exit_code, &t.failed);
        pthread_mutex_unlock(&j->lock);
        /* The tombstone is there before the job leaves the list: a waiter
         * always finds one or the other. */
        pthread_mutex_lock(&s->lock);
        if (!j->deleting && j->listed) {
                t.seq = ++s->tomb_seq;
                s->tombs[tomb_slot_locked(s, t.owner)] = t;
                j->deleting = true;
                queue_remove_locked(s, j);
                job_unlist_locked(s, j);
                gone = true;
        }
        pthread_mutex_unlock(&s->lock);
        if (!gone)
                return; /* a delete came first */
        svc_log(s, 6, "container %s removed (AutoRemove)", j->id);
        job_remove_files(j);
        job_unref(j); /* the list's; the worker holds its own */
}

void containers_recover(vs_service *s)
{
        sjob *j, *next;

        for (j = s->jobs; j; j = next) {
                next = j->next; /* container_finished unlists j */
                if (vs_job_state_finished(j->rec.state)) {
                        job_ref(j);
                        container_finished(s, j);
                        job_unref(j);
                }
        }
}
