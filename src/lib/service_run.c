/* The service's workers: FIFO within the memory budget, one job at a time
 * each, and the pipeline's events into the job's record and log. */
#include "service_int.h"
#include "alloc.h"
#include "cleanup.h"
#include "fsutil.h"
#include "spec.h"

#include <stdio.h>
#include <string.h>

typedef struct {
        vs_service *s;
        sjob *j;
} run_ctx;

/* Per-line work takes the job's lock only, never the service's. */
static void ev_phase(void *userdata, const char *name, bool guest, bool start)
{
        run_ctx *c = userdata;
        sjob *j = c->j;
        vs_phase p;

        pthread_mutex_lock(&j->lock);
        if (guest) {
                char msg[96];
                int n = snprintf(msg, sizeof(msg), "guest %.40s %s", name, start ? "started" : "done");
                vs_record_add_line(&j->rec, VS_PHASE_WAIT, msg, (size_t)n);
        } else if (vs_phase_from_string(name, &p) == 0) {
                vs_record_phase(&j->rec, p, start, (int64_t)vs_now_ms());
                job_save_locked(c->s, j);
        }
        pthread_mutex_unlock(&j->lock);
}

/* Output goes to output.log (bounded) and, line by line, into the wait
 * step; with its stream and time to streams.log (bounded the same). */
static void ev_output(void *userdata, int stream, const char *data, size_t len)
{
        run_ctx *c = userdata;
        sjob *j = c->j;
        bool cut;

        pthread_mutex_lock(&j->lock);
        vs_joblog_append(&j->log, &j->rec, VS_PHASE_WAIT, data, len);
        cut = vs_streamlog_append(&j->slog, (unsigned)stream, data, len, vs_stream_now_ns());
        pthread_cond_broadcast(&j->cond);
        pthread_mutex_unlock(&j->lock);
        if (cut)
                svc_log(c->s, 4, "job %s: streams.log reached its limit; later output is not kept there", j->id);
}

static void ev_message(void *userdata, const char *text, size_t len)
{
        sjob *j = ((run_ctx *)userdata)->j;

        pthread_mutex_lock(&j->lock);
        vs_record_add_line(&j->rec, VS_PHASE_WAIT, text, len);
        pthread_mutex_unlock(&j->lock);
}

static bool ev_cancelled(void *userdata)
{
        sjob *j = ((run_ctx *)userdata)->j;
        bool r;

        pthread_mutex_lock(&j->lock);
        r = j->cancel;
        pthread_mutex_unlock(&j->lock);
        return r;
}

/* The spec to run: the stored one, with the uploads in place. */
static json_t *run_spec(sjob *j, const char *img, bool *ret_ws, bool *ret_img)
{
        json_t *specj;

        /* rec.container never changes once listed. */
        pthread_mutex_lock(&j->lock);
        specj = vs_xjson(json_deep_copy(j->rec.spec));
        if (j->rec.upload_image)
                json_object_set_new(specj, "image", vs_xjson(json_string(img)));
        *ret_ws = j->rec.upload_workspace;
        *ret_img = j->rec.upload_image;
        pthread_mutex_unlock(&j->lock);
        return specj;
}

static void run_one(vs_service *s, sjob *j)
{
        _cleanup_free_ char *out = job_path(j, "out"), *ws = job_path(j, "workspace.tar"),
                            *img = job_path(j, "image.tar");
        _cleanup_json_ json_t *specj = NULL;
        _cleanup_free_ char *build_context = NULL;
        _cleanup_strv_ char **build_images = NULL;
        json_t *result = NULL;
        run_ctx ctx = { s, j };
        vs_events ev = { ev_phase, ev_output, ev_message, ev_cancelled, &ctx };
        vs_run_opts opts = { .out_dir = out, .log_limit = VS_SERVICE_LOG_LIMIT, .events = &ev };
        int64_t durations[VS_PHASE_LAST];
        vs_error err = { 0 };
        bool has_ws, has_img;
        const char *bind_roots[VS_BINDS_MAX] = { 0 };
        bool parsed = false;
        vs_spec spec;
        int r;

        specj = run_spec(j, img, &has_ws, &has_img);
        if (has_ws)
                opts.workspace_tar = ws;
        /* A container's rw bind: its host directory gets the changes back. */
        opts.write_back = j->rec.container && j->rec.container->bind_rw;
        /* Server-side paths are opened below the root that admitted them,
         * as at create (a path swapped for a symlink since is refused). */
        if (!has_ws)
                opts.workspace_root = vs_service_root_for(s, json_string_value(json_object_get(specj, "workspace")));
        if (!has_img)
                opts.image_root = vs_service_root_for(s, json_string_value(json_object_get(specj, "image")));
        if (json_object_get(specj, "build"))
                svc_build_opts(j, &opts, &build_context, &build_images);
        vs_rm_rf(out); /* a run the previous process lost */
        /* A tenant's root may have changed since create: checked again. */
        r = has_ws ? 0 : svc_owner_path_check(s, j->rec.owner, "bind source",
                                              json_string_value(json_object_get(specj, "workspace")), &err);
        if (r == 0 && !has_img)
                r = svc_owner_path_check(s, j->rec.owner, "image", json_string_value(json_object_get(specj, "image")),
                                         &err);
        if (r == 0)
                r = vs_spec_from_json(specj, &spec, &err);
        parsed = r == 0;
        /* A container's binds: each below its tenant's root (again) and
         * opened below the service's root that admits it (none now: refused
         * by the run, VS_ERR_FORBIDDEN). */
        for (size_t i = 0; r == 0 && i < spec.n_binds && i < VS_BINDS_MAX; i++) {
                r = svc_owner_path_check(s, j->rec.owner, "bind source", spec.binds[i].host, &err);
                bind_roots[i] = vs_service_root_for(s, spec.binds[i].host);
        }
        opts.bind_roots = bind_roots;
        if (r == 0)
                r = s->o.run ? s->o.run(s->o.run_userdata, s->o.cfg, &spec, &opts, &result, &err)
                             : vs_job_run(s->o.cfg, &spec, &opts, &result, &err);
        if (parsed)
                vs_spec_clear(&spec);

        pthread_mutex_lock(&j->lock);
        vs_joblog_finish(&j->log, &j->rec, VS_PHASE_WAIT);
        vs_streamlog_finish(&j->slog);
        vs_record_finish(&j->rec, result, r < 0 ? err.msg : NULL, j->cancel, (int64_t)vs_now_ms());
        vs_record_phase_durations(&j->rec, durations);
        job_save_locked(s, j);
        pthread_cond_broadcast(&j->cond);
        pthread_mutex_unlock(&j->lock);

        pthread_mutex_lock(&s->lock);
        vs_metrics_observe(&s->metrics, durations);
        pthread_mutex_unlock(&s->lock);
}

/* FIFO with a memory budget: the head waits until its memory fits. */
static sjob *next_job_locked(vs_service *s)
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

void *svc_worker(void *arg)
{
        vs_service *s = arg;
        sjob *j;

        pthread_mutex_lock(&s->lock);
        while ((j = next_job_locked(s))) {
                job_ref(j);
                s->reserved += j->memory;
                s->running++;
                pthread_mutex_lock(&j->lock);
                vs_record_set_state(&j->rec, VS_JOB_RUNNING, (int64_t)vs_now_ms());
                pthread_cond_broadcast(&j->cond);
                pthread_mutex_unlock(&j->lock);
                pthread_mutex_unlock(&s->lock);

                job_save(s, j);
                run_one(s, j);
                job_account(s, j); /* its output counts from now on */
                container_finished(s, j); /* AutoRemove */

                pthread_mutex_lock(&s->lock);
                s->reserved -= j->memory;
                s->running--;
                pthread_cond_broadcast(&s->changed);
                job_unref(j);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
}
