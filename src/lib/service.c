#include "service.h"
#include "archive.h"
#include "cleanup.h"
#include "fsutil.h"
#include "jobdir.h"
#include "pipeline.h"
#include "spec.h"
#include "store.h"
#include "strv.h"
#include "tar.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_LIMIT (64ull << 20)
#define STEP_LINES_MAX 200
#define LINE_MAX_LEN 4096
#define QUEUE_MAX 10000

static const double buckets[] = { 1, 5, 15, 30, 60, 120, 300, 600, 1800 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

typedef struct sjob {
        char id[13];
        char *dir;
        json_t *record;
        vs_job_state state;
        bool cancel;
        uint64_t memory;
        uint64_t log_size;
        char line[LINE_MAX_LEN];
        size_t line_len;
        struct sjob *next;
} sjob;

struct vs_service {
        vs_service_opts o;
        char **roots;
        char *root;
        pthread_mutex_t lock;
        pthread_cond_t changed;
        sjob *jobs;
        sjob *queue[QUEUE_MAX];
        size_t nqueue;
        unsigned running;
        uint64_t reserved;
        bool stopping;
        pthread_t *workers;
        unsigned nworkers;
        uint64_t hist[6][NBUCKETS + 1];
        double hist_sum[6];
};

static const char *const step_names[] = { "validate", "prepare", "boot", "wait", "collect", "cleanup" };
#define NSTEPS (sizeof(step_names) / sizeof(step_names[0]))

const char *vs_job_state_name(vs_job_state st)
{
        switch (st) {
        case VS_JOB_CREATED:
                return "created";
        case VS_JOB_QUEUED:
                return "queued";
        case VS_JOB_RUNNING:
                return "running";
        case VS_JOB_SUCCESS:
                return "success";
        case VS_JOB_FAILURE:
                return "failure";
        case VS_JOB_TIMEOUT:
                return "timeout";
        case VS_JOB_CANCELLED:
                return "cancelled";
        case VS_JOB_ERROR:
                return "error";
        case VS_JOB_STATE_LAST:
                break;
        }
        return "invalid";
}

int vs_job_state_parse(const char *str, vs_job_state *ret)
{
        for (vs_job_state st = 0; st < VS_JOB_STATE_LAST; st++)
                if (strcmp(str, vs_job_state_name(st)) == 0) {
                        *ret = st;
                        return 0;
                }
        return -1;
}

static bool finished(vs_job_state st)
{
        return st >= VS_JOB_SUCCESS;
}

void vs_service_defaults(unsigned *ret_max_jobs, uint64_t *ret_memory_budget)
{
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        uint64_t mem = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);

        *ret_max_jobs = cpus > 0 ? (unsigned)cpus : 1;
        *ret_memory_budget = mem > (2ull << 30) ? mem - (1ull << 30) : mem / 2;
}

/* ---- records ------------------------------------------------------------ */

static char *job_path(const sjob *j, const char *name)
{
        char *p = NULL;

        return asprintf(&p, "%s/%s", j->dir, name) < 0 ? NULL : p;
}

static json_t *new_steps(void)
{
        json_t *steps = json_array();

        for (size_t i = 0; i < NSTEPS; i++)
                json_array_append_new(steps, json_pack("{s:s, s:s, s:n, s:n, s:[]}", "name", step_names[i], "status",
                                                       "queued", "start", "end", "text"));
        return steps;
}

static json_t *step(sjob *j, const char *name)
{
        json_t *steps = json_object_get(j->record, "steps"), *st;
        size_t i;

        json_array_foreach(steps, i, st) if (strcmp(json_string_value(json_object_get(st, "name")), name) == 0) return st;
        return NULL;
}

static void set_state(sjob *j, vs_job_state st)
{
        j->state = st;
        json_object_set_new(j->record, "status", json_string(vs_job_state_name(st)));
        if (st == VS_JOB_RUNNING)
                json_object_set_new(j->record, "started_ms", json_integer((json_int_t)vs_now_ms()));
        if (finished(st))
                json_object_set_new(j->record, "finished_ms", json_integer((json_int_t)vs_now_ms()));
}

/* The library prints nothing: messages go to the front end's log function. */
__attribute__((format(printf, 3, 4)))
static void svc_log(vs_service *s, int priority, const char *fmt, ...)
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

static void save(vs_service *s, sjob *j)
{
        vs_error err = { 0 };

        if (vs_store_save(j->dir, j->record, &err) < 0)
                svc_log(s, 3, "job %s: %s", j->id, err.msg);
}

static sjob *find(vs_service *s, const char *id)
{
        for (sjob *j = s->jobs; j; j = j->next)
                if (strcmp(j->id, id) == 0)
                        return j;
        return NULL;
}

static sjob *find_or_err(vs_service *s, const char *id, vs_error *err)
{
        sjob *j = vs_store_id_valid(id) ? find(s, id) : NULL;

        if (!j)
                vs_error_set(err, VS_ERR_NOT_FOUND, "no job %.64s", id);
        return j;
}

static void job_free(sjob *j)
{
        json_decref(j->record);
        free(j->dir);
        free(j);
}

static void unlink_job(vs_service *s, sjob *j)
{
        for (sjob **p = &s->jobs; *p; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        return;
                }
}

/* ---- path references ---------------------------------------------------- */

/* A server-side path must resolve (symlinks included) below an allowed root. */
static int check_path(vs_service *s, const char *field, json_t *spec, vs_error *err)
{
        const char *p = json_string_value(json_object_get(spec, field));
        char resolved[PATH_MAX];

        if (!p)
                return 0;
        if (!realpath(p, resolved))
                return vs_error_errno(err, VS_ERR_INPUT, errno, "%s %s", field, p);
        for (size_t i = 0; s->roots && s->roots[i]; i++) {
                size_t n = strlen(s->roots[i]);
                if (strncmp(resolved, s->roots[i], n) == 0 && (resolved[n] == '/' || resolved[n] == '\0' || n == 1)) {
                        json_object_set_new(spec, field, json_string(resolved));
                        return 0;
                }
        }
        return vs_error_set(err, VS_ERR_FORBIDDEN, "%s %s is outside the allowed roots", field, p);
}

/* Limits are checked now; the image may still come as an upload. */
static int check_spec(json_t *spec, vs_spec *ret, vs_error *err)
{
        vs_spec sp;
        bool placeholder;
        int r;

        if (vs_spec_from_json(spec, &sp, err) < 0)
                return -1;
        placeholder = !sp.image && !sp.tag;
        if (placeholder)
                sp.image = strdup("(upload)");
        r = vs_spec_validate(&sp, err);
        if (placeholder) {
                free(sp.image);
                sp.image = NULL;
        }
        if (r < 0 || !ret)
                vs_spec_clear(&sp);
        else
                *ret = sp;
        return r;
}

/* ---- create, upload, start ------------------------------------------------ */

int vs_service_create(vs_service *s, json_t *spec, char ret_id[13], vs_error *err)
{
        _cleanup_free_ sjob *j = calloc(1, sizeof(*j));
        json_t *copy = json_deep_copy(spec);
        vs_spec sp;

        if (!j || !copy)
                return json_decref(copy), vs_error_errno(err, VS_ERR_SANDBOX, ENOMEM, "job");
        if (check_spec(copy, &sp, err) < 0 || check_path(s, "image", copy, err) < 0 ||
            check_path(s, "workspace", copy, err) < 0) {
                json_decref(copy);
                return -1;
        }
        j->memory = sp.memory;
        vs_spec_clear(&sp);
        if (vs_random_id(j->id, err) < 0 || asprintf(&j->dir, "%s/%s", s->root, j->id) < 0 || mkdir(j->dir, 0700) < 0) {
                json_decref(copy);
                free(j->dir);
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create the job");
        }
        j->record = json_pack("{s:s, s:s, s:I, s:o, s:{s:b, s:b}, s:o, s:n, s:n, s:n}", "id", j->id, "status", "created",
                              "created_ms", (json_int_t)vs_now_ms(), "spec", copy, "uploads", "image", 0, "workspace",
                              0, "steps", new_steps(), "exit_code", "error", "result");
        pthread_mutex_lock(&s->lock);
        j->next = s->jobs;
        s->jobs = j;
        save(s, j);
        memcpy(ret_id, j->id, 13);
        j = NULL;
        pthread_mutex_unlock(&s->lock);
        return 0;
}

static int upload_kind(const char *what, vs_error *err)
{
        if (strcmp(what, "image") == 0)
                return 0;
        if (strcmp(what, "workspace") == 0)
                return 1;
        return vs_error_set(err, VS_ERR_NOT_FOUND, "no upload %s", what);
}

int vs_service_upload_begin(vs_service *s, const char *id, const char *what, char **ret_tmp, vs_error *err)
{
        int r = upload_kind(what, err);
        sjob *j;

        if (r < 0)
                return -1;
        pthread_mutex_lock(&s->lock);
        j = find_or_err(s, id, err);
        if (j && j->state != VS_JOB_CREATED)
                r = vs_error_set(err, VS_ERR_CONFLICT, "job %s is %s: uploads go before start", id, vs_job_state_name(j->state));
        else if (j && asprintf(ret_tmp, "%s/.upload-%s-%llx", j->dir, what, (unsigned long long)vs_now_ms()) < 0)
                r = vs_error_errno(err, VS_ERR_SANDBOX, ENOMEM, "upload");
        pthread_mutex_unlock(&s->lock);
        return j ? r : -1;
}

/* A workspace upload must be a tar with no absolute or ".." names. */
static int check_workspace_tar(const char *path, vs_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        vs_tar_reader r;
        vs_tar_entry e;
        struct stat st;
        int k;

        if (fd < 0 || fstat(fd, &st) < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "workspace upload");
        vs_tar_reader_init(&r, fd, 0, (uint64_t)st.st_size);
        while ((k = vs_tar_next(&r, &e, err)) > 0)
                if (vs_tar_name_unsafe(e.name))
                        return vs_error_set(err, VS_ERR_INPUT, "workspace archive has an unsafe entry \"%.200s\"", e.name);
        if (k < 0)
                vs_error_prefix(err, "workspace upload");
        return k;
}

int vs_service_upload_end(vs_service *s, const char *id, const char *what, const char *tmp, vs_error *err)
{
        int kind = upload_kind(what, err);
        vs_archive_info info;
        _cleanup_free_ char *dest = NULL;
        sjob *j;
        int r = 0;

        if (kind < 0)
                return -1;
        if (kind == 0 && vs_archive_inspect(tmp, &info, err) == 0)
                vs_archive_info_clear(&info);
        else if (kind == 0)
                r = -1;
        if (kind == 1)
                r = check_workspace_tar(tmp, err);
        pthread_mutex_lock(&s->lock);
        j = find_or_err(s, id, err);
        if (r == 0 && !j)
                r = -1;
        if (r == 0 && j->state != VS_JOB_CREATED)
                r = vs_error_set(err, VS_ERR_CONFLICT, "job %s is %s: uploads go before start", id, vs_job_state_name(j->state));
        if (r == 0 && !(dest = job_path(j, kind == 0 ? "image.tar" : "workspace.tar")))
                r = vs_error_errno(err, VS_ERR_SANDBOX, ENOMEM, "upload");
        if (r == 0 && rename(tmp, dest) < 0)
                r = vs_error_errno(err, VS_ERR_SANDBOX, errno, "storing the upload");
        if (r == 0) {
                json_object_set_new(json_object_get(j->record, "uploads"), what, json_true());
                save(s, j);
        }
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
                unlink(tmp);
        return r;
}

int vs_service_start(vs_service *s, const char *id, vs_error *err)
{
        sjob *j;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        j = find_or_err(s, id, err);
        if (!j)
                r = -1;
        else if (j->state != VS_JOB_CREATED)
                r = vs_error_set(err, VS_ERR_CONFLICT, "job %s is already %s", id, vs_job_state_name(j->state));
        else if (!json_is_true(json_object_get(json_object_get(j->record, "uploads"), "image")) &&
                 !json_object_get(json_object_get(j->record, "spec"), "image") &&
                 !json_object_get(json_object_get(j->record, "spec"), "tag"))
                r = vs_error_set(err, VS_ERR_CONFLICT, "job %s has no image: upload one or name it in the spec", id);
        else if (j->memory > s->o.memory_budget)
                r = vs_error_set(err, VS_ERR_CONFLICT, "job %s asks for more memory than the service may use", id);
        else if (s->nqueue >= QUEUE_MAX)
                r = vs_error_set(err, VS_ERR_CONFLICT, "the queue is full (%d jobs)", QUEUE_MAX);
        else if (s->stopping)
                r = vs_error_set(err, VS_ERR_CONFLICT, "the service is shutting down");
        if (r == 0) {
                s->queue[s->nqueue++] = j;
                set_state(j, VS_JOB_QUEUED);
                save(s, j);
                pthread_cond_broadcast(&s->changed);
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

/* ---- running ------------------------------------------------------------ */

static void add_line(sjob *j, const char *stepname, const char *text, size_t len)
{
        json_t *lines = json_object_get(step(j, stepname), "text");

        if (!lines)
                return;
        if (json_array_size(lines) >= STEP_LINES_MAX)
                json_array_remove(lines, 0);
        json_array_append_new(lines, json_stringn_nocheck(text, len));
}

typedef struct {
        vs_service *s;
        sjob *j;
} run_ctx;

static void ev_phase(void *userdata, const char *name, bool guest, bool start)
{
        run_ctx *c = userdata;
        json_t *st;

        pthread_mutex_lock(&c->s->lock);
        if (guest) {
                char msg[96];
                int n = snprintf(msg, sizeof(msg), "guest %s %s", name, start ? "started" : "done");
                add_line(c->j, "wait", msg, (size_t)n);
        } else if ((st = step(c->j, name))) {
                json_object_set_new(st, start ? "start" : "end", json_integer((json_int_t)vs_now_ms()));
                json_object_set_new(st, "status", json_string(start ? "running" : "success"));
                save(c->s, c->j);
        }
        pthread_mutex_unlock(&c->s->lock);
}

/* Output goes to output.log (bounded) and, line by line, into the wait step. */
static void ev_output(void *userdata, int stream, const char *data, size_t len)
{
        run_ctx *c = userdata;
        sjob *j = c->j;
        _cleanup_free_ char *path = job_path(j, "output.log");
        FILE *f;

        (void)stream;
        pthread_mutex_lock(&c->s->lock);
        if (path && j->log_size < LOG_LIMIT && (f = fopen(path, "ae"))) {
                size_t n = len < LOG_LIMIT - j->log_size ? len : (size_t)(LOG_LIMIT - j->log_size);
                j->log_size += fwrite(data, 1, n, f);
                fclose(f);
        }
        for (size_t i = 0; i < len; i++) {
                if (data[i] == '\n' || j->line_len == sizeof(j->line)) {
                        add_line(j, "wait", j->line, j->line_len);
                        j->line_len = 0;
                        if (data[i] == '\n')
                                continue;
                }
                j->line[j->line_len++] = data[i];
        }
        pthread_cond_broadcast(&c->s->changed);
        pthread_mutex_unlock(&c->s->lock);
}

static void ev_message(void *userdata, const char *text, size_t len)
{
        run_ctx *c = userdata;

        pthread_mutex_lock(&c->s->lock);
        add_line(c->j, "wait", text, len);
        pthread_mutex_unlock(&c->s->lock);
}

static bool ev_cancelled(void *userdata)
{
        run_ctx *c = userdata;
        bool r;

        pthread_mutex_lock(&c->s->lock);
        r = c->j->cancel;
        pthread_mutex_unlock(&c->s->lock);
        return r;
}

static vs_job_state state_from_result(json_t *result)
{
        const char *st = json_string_value(json_object_get(result, "status"));
        vs_job_state js;

        return st && vs_job_state_parse(st, &js) == 0 && finished(js) ? js : VS_JOB_ERROR;
}

static void record_metrics(vs_service *s, json_t *result)
{
        json_t *phases = json_object_get(result, "phases");

        for (size_t i = 0; i < NSTEPS; i++) {
                json_t *d = json_object_get(json_object_get(phases, step_names[i]), "duration_ms");
                double secs;
                size_t b = 0;

                if (!json_is_integer(d))
                        continue;
                secs = (double)json_integer_value(d) / 1000.0;
                while (b < NBUCKETS && secs > buckets[b])
                        b++;
                s->hist[i][b]++;
                s->hist_sum[i] += secs;
        }
}

/* The steps as the result tells them: phases that ended succeeded, except
 * that on an error the last phase before cleanup is the one that failed (the
 * pipeline stops there), and the wait of a timeout or cancel failed too. */
static void set_steps(sjob *j, json_t *result, bool error)
{
        json_t *phases = json_object_get(result, "phases");
        const char *verdict = json_string_value(json_object_get(result, "status"));
        int failed = -1;

        for (size_t i = 0; error && i + 1 < NSTEPS; i++)
                if (json_object_get(phases, step_names[i]))
                        failed = (int)i;
        for (size_t i = 0; i < NSTEPS; i++) {
                json_t *st = step(j, step_names[i]), *ph = json_object_get(phases, step_names[i]);
                const char *status = "skipped";

                if (json_object_get(ph, "end_ms")) {
                        json_object_set(st, "start", json_object_get(ph, "start_ms"));
                        json_object_set(st, "end", json_object_get(ph, "end_ms"));
                        status = "success";
                }
                if ((int)i == failed ||
                    (i == 3 && verdict && (!strcmp(verdict, "timeout") || !strcmp(verdict, "cancelled"))))
                        status = "failure";
                json_object_set_new(st, "status", json_string(status));
        }
}

/* Runs one job with the service lock released. */
static void run_one(vs_service *s, sjob *j)
{
        _cleanup_free_ char *out = job_path(j, "out"), *ws = job_path(j, "workspace.tar"), *img = job_path(j, "image.tar");
        json_t *specj, *uploads, *result = NULL;
        run_ctx ctx = { s, j };
        vs_events ev = { ev_phase, ev_output, ev_message, ev_cancelled, &ctx };
        vs_run_opts opts = { .out_dir = out, .log_limit = LOG_LIMIT, .events = &ev };
        vs_spec spec;
        vs_error err = { 0 };
        int r;

        pthread_mutex_lock(&s->lock);
        specj = json_deep_copy(json_object_get(j->record, "spec"));
        uploads = json_object_get(j->record, "uploads");
        if (json_is_true(json_object_get(uploads, "image")))
                json_object_set_new(specj, "image", json_string(img));
        if (json_is_true(json_object_get(uploads, "workspace")))
                opts.workspace_tar = ws;
        pthread_mutex_unlock(&s->lock);

        if (out)
                vs_rm_rf(out); /* a run the previous process lost */
        r = vs_spec_from_json(specj, &spec, &err);
        json_decref(specj);
        if (r == 0) {
                r = s->o.run ? s->o.run(s->o.run_userdata, s->o.cfg, &spec, &opts, &result, &err)
                             : vs_job_run(s->o.cfg, &spec, &opts, &result, &err);
                vs_spec_clear(&spec);
        }

        pthread_mutex_lock(&s->lock);
        if (j->line_len)
                add_line(j, "wait", j->line, j->line_len);
        set_steps(j, result, r < 0);
        set_state(j, result ? state_from_result(result) : VS_JOB_ERROR);
        if (r < 0 && j->cancel)
                set_state(j, VS_JOB_CANCELLED);
        json_object_set_new(j->record, "exit_code", json_incref(json_object_get(result, "exit_code")) ?: json_null());
        json_object_set_new(j->record, "error", r < 0 ? json_string(err.msg) : json_incref(json_object_get(result, "error")) ?: json_null());
        json_object_set_new(j->record, "result", result ? result : json_null());
        if (result)
                record_metrics(s, result);
        save(s, j);
        pthread_mutex_unlock(&s->lock);
}

/* FIFO with a memory budget: the head waits until its memory fits. */
static sjob *next_job(vs_service *s)
{
        while (!s->stopping) {
                if (s->nqueue > 0 && s->reserved + s->queue[0]->memory <= s->o.memory_budget) {
                        sjob *j = s->queue[0];
                        memmove(s->queue, s->queue + 1, (s->nqueue - 1) * sizeof(s->queue[0]));
                        s->nqueue--;
                        return j;
                }
                pthread_cond_wait(&s->changed, &s->lock);
        }
        return NULL;
}

static void *worker(void *arg)
{
        vs_service *s = arg;
        sjob *j;

        pthread_mutex_lock(&s->lock);
        while ((j = next_job(s))) {
                s->reserved += j->memory;
                s->running++;
                set_state(j, VS_JOB_RUNNING);
                save(s, j);
                pthread_mutex_unlock(&s->lock);
                run_one(s, j);
                pthread_mutex_lock(&s->lock);
                s->reserved -= j->memory;
                s->running--;
                pthread_cond_broadcast(&s->changed);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

/* ---- queries ------------------------------------------------------------ */

json_t *vs_service_get(vs_service *s, const char *id, vs_error *err)
{
        json_t *copy = NULL;
        sjob *j;

        pthread_mutex_lock(&s->lock);
        j = find_or_err(s, id, err);
        if (j) {
                copy = json_deep_copy(j->record);
                json_object_set_new(copy, "queue_position", json_null());
                for (size_t i = 0; i < s->nqueue; i++)
                        if (s->queue[i] == j)
                                json_object_set_new(copy, "queue_position", json_integer((json_int_t)i));
        }
        pthread_mutex_unlock(&s->lock);
        return copy;
}

json_t *vs_service_list(vs_service *s, const vs_job_state *filter)
{
        json_t *list = json_array();

        pthread_mutex_lock(&s->lock);
        for (sjob *j = s->jobs; j; j = j->next)
                if (!filter || *filter == j->state)
                        json_array_append_new(list, json_pack("{s:s, s:s, s:O, s:O, s:O}", "id", j->id, "status",
                                                              vs_job_state_name(j->state), "created_ms",
                                                              json_object_get(j->record, "created_ms"), "exit_code",
                                                              json_object_get(j->record, "exit_code"), "error",
                                                              json_object_get(j->record, "error")));
        pthread_mutex_unlock(&s->lock);
        return list;
}

static void dequeue(vs_service *s, sjob *j)
{
        for (size_t i = 0; i < s->nqueue; i++)
                if (s->queue[i] == j) {
                        memmove(s->queue + i, s->queue + i + 1, (s->nqueue - i - 1) * sizeof(s->queue[0]));
                        s->nqueue--;
                        return;
                }
}

int vs_service_cancel(vs_service *s, const char *id, vs_error *err)
{
        sjob *j;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        j = find_or_err(s, id, err);
        if (!j)
                r = -1;
        else if (finished(j->state))
                r = vs_error_set(err, VS_ERR_CONFLICT, "job %s has already finished (%s)", id, vs_job_state_name(j->state));
        else if (j->state == VS_JOB_RUNNING)
                j->cancel = true; /* the worker destroys the VM and records the verdict */
        else {
                dequeue(s, j);
                set_state(j, VS_JOB_CANCELLED);
                json_object_set_new(j->record, "error", json_string("cancelled before it ran"));
                save(s, j);
                pthread_cond_broadcast(&s->changed);
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

int vs_service_delete(vs_service *s, const char *id, vs_error *err)
{
        sjob *j;

        pthread_mutex_lock(&s->lock);
        j = find_or_err(s, id, err);
        if (!j) {
                pthread_mutex_unlock(&s->lock);
                return -1;
        }
        dequeue(s, j);
        /* A running job: its VM is destroyed by the pipeline's cancel path. */
        j->cancel = true;
        while (j->state == VS_JOB_RUNNING)
                pthread_cond_wait(&s->changed, &s->lock);
        unlink_job(s, j);
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->lock);
        vs_rm_rf(j->dir);
        job_free(j);
        return 0;
}

int vs_service_wait(vs_service *s, const char *id, vs_error *err)
{
        sjob *j;

        pthread_mutex_lock(&s->lock);
        while ((j = find_or_err(s, id, err)) && !finished(j->state))
                pthread_cond_wait(&s->changed, &s->lock);
        pthread_mutex_unlock(&s->lock);
        return j ? 0 : -1;
}

static void deadline_in(struct timespec *ts, long ms)
{
        clock_gettime(CLOCK_REALTIME, ts);
        ts->tv_sec += ms / 1000;
        ts->tv_nsec += (ms % 1000) * 1000000;
        if (ts->tv_nsec >= 1000000000) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000;
        }
}

int vs_service_log_read(vs_service *s, const char *id, uint64_t offset, char *buf, size_t len, bool follow,
                        size_t *ret_n, bool *ret_done, vs_error *err)
{
        struct timespec ts;
        sjob *j;
        int r = 0;

        *ret_n = 0;
        *ret_done = false;
        deadline_in(&ts, 1000);
        pthread_mutex_lock(&s->lock);
        for (;;) {
                j = find_or_err(s, id, err);
                if (!j) {
                        r = -1;
                        break;
                }
                if (offset < j->log_size) {
                        _cleanup_free_ char *path = job_path(j, "output.log");
                        _cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
                        ssize_t n = fd >= 0 ? pread(fd, buf, len, (off_t)offset) : -1;
                        *ret_n = n > 0 ? (size_t)n : 0;
                        break;
                }
                if (finished(j->state) || j->state == VS_JOB_CREATED || !follow) {
                        *ret_done = finished(j->state) || !follow;
                        break;
                }
                if (pthread_cond_timedwait(&s->changed, &s->lock, &ts) == ETIMEDOUT)
                        break;
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

static int finished_job_dir(vs_service *s, const char *id, char **ret_out, vs_error *err)
{
        sjob *j;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        j = find_or_err(s, id, err);
        if (!j)
                r = -1;
        else if (!finished(j->state))
                r = vs_error_set(err, VS_ERR_CONFLICT, "job %s is %s: its output comes when it has finished", id,
                                 vs_job_state_name(j->state));
        else if (!(*ret_out = job_path(j, "out")))
                r = vs_error_errno(err, VS_ERR_SANDBOX, ENOMEM, "output");
        pthread_mutex_unlock(&s->lock);
        return r;
}

int vs_service_open_output(vs_service *s, const char *id, const char *rel, int *ret_fd, vs_error *err)
{
        _cleanup_free_ char *out = NULL, *copy = strdup(rel);
        _cleanup_close_ int dir = -1;
        struct stat st;
        char *save = NULL, *part, *next;
        int fd;

        if (!copy)
                return vs_error_errno(err, VS_ERR_SANDBOX, ENOMEM, "output");
        if (vs_tar_name_unsafe(rel) || !*rel)
                return vs_error_set(err, VS_ERR_NOT_FOUND, "no such file");
        if (finished_job_dir(s, id, &out, err) < 0)
                return -1;
        dir = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
                return vs_error_set(err, VS_ERR_NOT_FOUND, "job %s has no output", id);
        /* Walk component by component: no symlink is ever followed. */
        for (part = strtok_r(copy, "/", &save); part; part = next) {
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

int vs_service_workspace_dir(vs_service *s, const char *id, char **ret_dir, vs_error *err)
{
        _cleanup_free_ char *out = NULL;
        struct stat st;

        if (finished_job_dir(s, id, &out, err) < 0)
                return -1;
        if (asprintf(ret_dir, "%s/workspace", out) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, ENOMEM, "workspace");
        if (lstat(*ret_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                free(*ret_dir);
                *ret_dir = NULL;
                return vs_error_set(err, VS_ERR_NOT_FOUND, "job %s has no workspace", id);
        }
        return 0;
}

char *vs_service_metrics(vs_service *s)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        unsigned counts[VS_JOB_STATE_LAST] = { 0 };

        if (!f)
                return NULL;
        pthread_mutex_lock(&s->lock);
        for (sjob *j = s->jobs; j; j = j->next)
                counts[j->state]++;
        fputs("# HELP vmsandbox_jobs Jobs in the store by state.\n# TYPE vmsandbox_jobs gauge\n", f);
        for (vs_job_state st = 0; st < VS_JOB_STATE_LAST; st++)
                fprintf(f, "vmsandbox_jobs{state=\"%s\"} %u\n", vs_job_state_name(st), counts[st]);
        fprintf(f, "# HELP vmsandbox_queue_length Jobs waiting for a VM.\n# TYPE vmsandbox_queue_length gauge\n"
                   "vmsandbox_queue_length %zu\n",
                s->nqueue);
        fprintf(f, "# HELP vmsandbox_running_vms Job VMs running now.\n# TYPE vmsandbox_running_vms gauge\n"
                   "vmsandbox_running_vms %u\n",
                s->running);
        fprintf(f, "# HELP vmsandbox_memory_reserved_bytes Guest memory reserved by running jobs.\n"
                   "# TYPE vmsandbox_memory_reserved_bytes gauge\nvmsandbox_memory_reserved_bytes %llu\n",
                (unsigned long long)s->reserved);
        fputs("# HELP vmsandbox_phase_seconds Duration of job phases.\n# TYPE vmsandbox_phase_seconds histogram\n", f);
        for (size_t i = 0; i < NSTEPS; i++) {
                uint64_t cum = 0;
                for (size_t b = 0; b <= NBUCKETS; b++) {
                        cum += s->hist[i][b];
                        if (b < NBUCKETS)
                                fprintf(f, "vmsandbox_phase_seconds_bucket{phase=\"%s\",le=\"%g\"} %llu\n", step_names[i],
                                        buckets[b], (unsigned long long)cum);
                        else
                                fprintf(f, "vmsandbox_phase_seconds_bucket{phase=\"%s\",le=\"+Inf\"} %llu\n",
                                        step_names[i], (unsigned long long)cum);
                }
                fprintf(f, "vmsandbox_phase_seconds_sum{phase=\"%s\"} %g\n", step_names[i], s->hist_sum[i]);
                fprintf(f, "vmsandbox_phase_seconds_count{phase=\"%s\"} %llu\n", step_names[i], (unsigned long long)cum);
        }
        pthread_mutex_unlock(&s->lock);
        fclose(f);
        return buf;
}

/* ---- open and close ----------------------------------------------------- */

typedef struct {
        vs_service *s;
} load_ctx;

static void load_one(void *userdata, const char *id)
{
        vs_service *s = ((load_ctx *)userdata)->s;
        vs_error err = { 0 };
        sjob *j = calloc(1, sizeof(*j));
        const char *status;
        vs_spec sp;

        if (!j)
                return;
        memcpy(j->id, id, 13);
        if (asprintf(&j->dir, "%s/%s", s->root, id) < 0 || !(j->record = vs_store_load(j->dir, &err))) {
                svc_log(s, 4, "skipping job %s: %s", id, err.msg);
                free(j->dir);
                free(j);
                return;
        }
        status = json_string_value(json_object_get(j->record, "status"));
        if (!status || vs_job_state_parse(status, &j->state) < 0)
                j->state = VS_JOB_ERROR;
        if (vs_spec_from_json(json_object_get(j->record, "spec"), &sp, &err) == 0) {
                j->memory = sp.memory;
                vs_spec_clear(&sp);
        }
        {
                _cleanup_free_ char *log = job_path(j, "output.log");
                struct stat st;
                if (log && stat(log, &st) == 0)
                        j->log_size = (uint64_t)st.st_size;
        }
        if (j->state == VS_JOB_RUNNING) {
                /* Its VM went with the previous process (libvirt autodestroy). */
                set_state(j, VS_JOB_ERROR);
                json_object_set_new(j->record, "error",
                                    json_string("lost: the service stopped while the job ran; its VM was destroyed"));
                save(s, j);
        }
        j->next = s->jobs;
        s->jobs = j;
}

static int by_created(const void *a, const void *b)
{
        json_int_t x = json_integer_value(json_object_get((*(sjob *const *)a)->record, "created_ms"));
        json_int_t y = json_integer_value(json_object_get((*(sjob *const *)b)->record, "created_ms"));

        return x < y ? -1 : x > y;
}

static void requeue(vs_service *s)
{
        for (sjob *j = s->jobs; j; j = j->next)
                if (j->state == VS_JOB_QUEUED && s->nqueue < QUEUE_MAX)
                        s->queue[s->nqueue++] = j;
        qsort(s->queue, s->nqueue, sizeof(s->queue[0]), by_created);
}

int vs_service_open(const vs_service_opts *o, vs_service **ret, vs_error *err)
{
        vs_service *s = calloc(1, sizeof(*s));
        load_ctx ctx = { s };

        if (!s)
                return vs_error_errno(err, VS_ERR_SETUP, ENOMEM, "service");
        s->o = *o;
        for (size_t i = 0; o->allowed_roots && o->allowed_roots[i]; i++) {
                char resolved[PATH_MAX];
                if (!realpath(o->allowed_roots[i], resolved)) {
                        vs_error_errno(err, VS_ERR_SETUP, errno, "allowed root %s", o->allowed_roots[i]);
                        vs_strv_free(s->roots);
                        free(s);
                        return -1;
                }
                vs_strv_push(&s->roots, resolved);
        }
        if (vs_store_init(o->cfg->state_dir, &s->root, err) < 0) {
                vs_strv_free(s->roots);
                free(s);
                return -1;
        }
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->changed, NULL);
        vs_jobdir_gc(o->cfg->state_dir); /* VM files of a previous process that died */
        vs_store_each(s->root, load_one, &ctx);
        requeue(s);
        s->nworkers = o->max_jobs ? o->max_jobs : 1;
        s->workers = calloc(s->nworkers, sizeof(pthread_t));
        for (unsigned i = 0; s->workers && i < s->nworkers; i++)
                pthread_create(&s->workers[i], NULL, worker, s);
        *ret = s;
        return 0;
}

void vs_service_drain(vs_service *s, uint64_t grace_ms)
{
        struct timespec ts;

        deadline_in(&ts, (long)grace_ms);
        pthread_mutex_lock(&s->lock);
        s->stopping = true; /* queued jobs stay queued on disk for the next start */
        pthread_cond_broadcast(&s->changed);
        while (s->running > 0 && pthread_cond_timedwait(&s->changed, &s->lock, &ts) != ETIMEDOUT)
                ;
        for (sjob *j = s->jobs; j; j = j->next)
                if (j->state == VS_JOB_RUNNING)
                        j->cancel = true;
        pthread_mutex_unlock(&s->lock);
        for (unsigned i = 0; s->workers && i < s->nworkers; i++)
                pthread_join(s->workers[i], NULL);
        free(s->workers);
        s->workers = NULL;
}

void vs_service_free(vs_service *s)
{
        while (s->jobs) {
                sjob *j = s->jobs;
                s->jobs = j->next;
                job_free(j);
        }
        free(s->root);
        vs_strv_free(s->roots);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->changed);
        free(s);
}
