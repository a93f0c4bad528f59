#include "record.h"
#include "alloc.h"
#include "strtable.h"
#include "json_fields.h"
#include "strv.h"
#include "text.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char *const vs_job_state_table[VS_JOB_STATE_LAST] = {
        [VS_JOB_CREATED] = "created", [VS_JOB_QUEUED] = "queued",       [VS_JOB_RUNNING] = "running",
        [VS_JOB_SUCCESS] = "success", [VS_JOB_FAILURE] = "failure",     [VS_JOB_TIMEOUT] = "timeout",
        [VS_JOB_CANCELLED] = "cancelled", [VS_JOB_ERROR] = "error",
};
VS_STRING_TABLE(vs_job_state, vs_job_state, VS_JOB_STATE_LAST)

static const char *const vs_step_status_table[VS_STEP_STATUS_LAST] = {
        [VS_STEP_QUEUED] = "queued",   [VS_STEP_RUNNING] = "running", [VS_STEP_SUCCESS] = "success",
        [VS_STEP_FAILURE] = "failure", [VS_STEP_SKIPPED] = "skipped",
};
VS_STRING_TABLE(vs_step_status, vs_step_status, VS_STEP_STATUS_LAST)

/* result.json's "status" (vs_status names) as a job state. */
static const char *const result_state_table[VS_JOB_STATE_LAST] = {
        [VS_JOB_SUCCESS] = "success", [VS_JOB_FAILURE] = "failure", [VS_JOB_TIMEOUT] = "timeout",
        [VS_JOB_CANCELLED] = "cancelled", [VS_JOB_ERROR] = "error",
};

bool vs_job_state_finished(vs_job_state s)
{
        switch (s) {
        case VS_JOB_CREATED:
        case VS_JOB_QUEUED:
        case VS_JOB_RUNNING:
                return false;
        case VS_JOB_SUCCESS:
        case VS_JOB_FAILURE:
        case VS_JOB_TIMEOUT:
        case VS_JOB_CANCELLED:
        case VS_JOB_ERROR:
                return true;
        case VS_JOB_STATE_LAST:
                break;
        }
        return true;
}

int vs_phase_from_string(const char *s, vs_phase *ret)
{
        for (vs_phase p = 0; p < VS_PHASE_LAST; p++)
                if (s && strcmp(s, vs_phase_name(p)) == 0) {
                        *ret = p;
                        return 0;
                }
        return -1;
}

void vs_record_init(vs_job_record *r, const char *id, const char *owner, json_t *spec, int64_t now_ms)
{
        memset(r, 0, sizeof(*r));
        memcpy(r->id, id, 13);
        snprintf(r->owner, sizeof(r->owner), "%s", owner ? owner : "");
        r->state = VS_JOB_CREATED;
        r->created_ms = now_ms;
        r->queued_ms = r->started_ms = r->finished_ms = -1;
        r->spec = spec;
        r->exit_code = -1;
        for (vs_phase p = 0; p < VS_PHASE_LAST; p++)
                r->steps[p] = (vs_step){ .status = VS_STEP_QUEUED, .start_ms = -1, .end_ms = -1 };
}

void vs_record_clear(vs_job_record *r)
{
        for (vs_phase p = 0; p < VS_PHASE_LAST; p++)
                for (size_t i = 0; i < r->steps[p].ntext; i++)
                        free(r->steps[p].text[i]);
        json_decref(r->spec);
        json_decref(r->result);
        free(r->error);
        vs_container_free(r->container);
        memset(r, 0, sizeof(*r));
}

void vs_record_add_line(vs_job_record *r, vs_phase p, const char *text, size_t len)
{
        vs_step *st = &r->steps[p];

        if (st->ntext == VS_STEP_LINES_MAX) {
                free(st->text[0]);
                memmove(st->text, st->text + 1, (VS_STEP_LINES_MAX - 1) * sizeof(st->text[0]));
                st->ntext--;
        }
        st->text[st->ntext++] = vs_utf8_sanitize(text, len, VS_LINE_MAX, NULL);
}

void vs_record_set_error(vs_job_record *r, const char *msg)
{
        free(r->error);
        r->error = msg ? vs_utf8_sanitize(msg, strlen(msg), VS_RECORD_STRING_MAX, NULL) : NULL;
}

void vs_record_set_state(vs_job_record *r, vs_job_state st, int64_t now_ms)
{
        r->state = st;
        if (st == VS_JOB_QUEUED)
                r->queued_ms = now_ms;
        if (st == VS_JOB_RUNNING)
                r->started_ms = now_ms;
        if (vs_job_state_finished(st))
                r->finished_ms = now_ms;
}

void vs_record_phase(vs_job_record *r, vs_phase p, bool start, int64_t now_ms)
{
        vs_step *st = &r->steps[p];

        if (start)
                st->start_ms = now_ms;
        else
                st->end_ms = now_ms;
        st->status = start ? VS_STEP_RUNNING : VS_STEP_SUCCESS;
}

static int64_t int_or(json_t *j, int64_t dflt)
{
        return json_is_integer(j) ? (int64_t)json_integer_value(j) : dflt;
}

/* The steps as the result tells them: phases that ended succeeded, except
 * that on an error the last phase before cleanup is the one that failed (the
 * pipeline stops there), and the wait of a timeout or cancel failed too. */
static void steps_from_result(vs_job_record *r, json_t *result, bool error)
{
        json_t *phases = json_object_get(result, "phases");
        int failed = -1;

        for (vs_phase p = 0; error && p < VS_PHASE_CLEANUP; p++)
                if (json_object_get(phases, vs_phase_name(p)))
                        failed = (int)p;
        for (vs_phase p = 0; p < VS_PHASE_LAST; p++) {
                json_t *ph = json_object_get(phases, vs_phase_name(p));
                vs_step *st = &r->steps[p];

                st->status = VS_STEP_SKIPPED;
                if (json_object_get(ph, "end_ms")) {
                        st->start_ms = int_or(json_object_get(ph, "start_ms"), -1);
                        st->end_ms = int_or(json_object_get(ph, "end_ms"), -1);
                        st->status = VS_STEP_SUCCESS;
                }
                if ((int)p == failed ||
                    (p == VS_PHASE_WAIT && (r->state == VS_JOB_TIMEOUT || r->state == VS_JOB_CANCELLED)))
                        st->status = VS_STEP_FAILURE;
        }
}

static vs_job_state state_from_result(json_t *result)
{
        int i = vs_table_lookup(result_state_table, VS_JOB_STATE_LAST,
                                json_string_value(json_object_get(result, "status")));

        return i < 0 ? VS_JOB_ERROR : (vs_job_state)i;
}

void vs_record_finish(vs_job_record *r, json_t *result, const char *run_error, bool cancelled, int64_t now_ms)
{
        json_t *code = json_object_get(result, "exit_code");
        const char *rerr = json_string_value(json_object_get(result, "error"));
        /* else what the engine said of the workflow's end (e.g. out of memory) */
        const char *gerr = json_string_value(json_object_get(json_object_get(result, "guest"), "run_error"));
        vs_job_state st = result ? state_from_result(result) : VS_JOB_ERROR;

        if (run_error && cancelled)
                st = VS_JOB_CANCELLED;
        vs_record_set_state(r, st, now_ms);
        steps_from_result(r, result, run_error != NULL);
        r->exit_code = json_is_integer(code) && json_integer_value(code) >= 0 && json_integer_value(code) <= 255
                               ? (int)json_integer_value(code)
                               : -1;
        vs_record_set_error(r, run_error ? run_error : rerr ? rerr : gerr);
        json_decref(r->result);
        r->result = result;
}

void vs_record_phase_durations(const vs_job_record *r, int64_t ret_ms[VS_PHASE_LAST])
{
        json_t *phases = json_object_get(r->result, "phases");

        for (vs_phase p = 0; p < VS_PHASE_LAST; p++)
                ret_ms[p] = int_or(json_object_get(json_object_get(phases, vs_phase_name(p)), "duration_ms"), -1);
}

/* ---- JSON ------------------------------------------------------------------ */

static json_t *ms_json(int64_t ms)
{
        return ms < 0 ? json_null() : json_integer((json_int_t)ms);
}

static json_t *opt_string(const char *s)
{
        return s ? vs_json_text(s, strlen(s), VS_RECORD_STRING_MAX) : json_null();
}

static json_t *steps_json(const vs_job_record *r)
{
        json_t *steps = vs_xjson(json_array());

        for (vs_phase p = 0; p < VS_PHASE_LAST; p++) {
                const vs_step *st = &r->steps[p];
                json_t *text = vs_xjson(json_array());

                for (size_t i = 0; i < st->ntext; i++)
                        json_array_append_new(text, vs_json_text(st->text[i], strlen(st->text[i]), VS_LINE_MAX));
                json_array_append_new(steps, vs_xjson(json_pack("{s:s, s:s, s:o, s:o, s:o}", "name", vs_phase_name(p),
                                                                "status", vs_step_status_to_string(st->status),
                                                                "start", ms_json(st->start_ms), "end",
                                                                ms_json(st->end_ms), "text", text)));
        }
        return steps;
}

/* The record as JSON.  Spec and result are deep copies: the answer leaves the
 * job's lock and goes to another thread, and jansson's reference counts are
 * no licence to share a tree across threads. */
json_t *vs_record_to_json(const vs_job_record *r, int64_t queue_position)
{
        return vs_xjson(json_pack(
                "{s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:{s:b, s:b}, s:o, s:o, s:o, s:o, s:o}", "id", r->id,
                "owner", r->owner, "status", vs_job_state_to_string(r->state), "created_ms", (json_int_t)r->created_ms,
                "queued_ms", ms_json(r->queued_ms), "started_ms", ms_json(r->started_ms), "finished_ms",
                ms_json(r->finished_ms), "queue_position", ms_json(queue_position), "spec", vs_xjson(json_deep_copy(r->spec)), "uploads",
                "image", r->upload_image, "workspace", r->upload_workspace, "steps", steps_json(r), "exit_code",
                r->exit_code < 0 ? json_null() : json_integer(r->exit_code), "error", opt_string(r->error), "result",
                r->result ? vs_xjson(json_deep_copy(r->result)) : json_null(), "container",
                r->container ? vs_container_to_json(r->container) : json_null()));
}

json_t *vs_record_summary_json(const vs_job_record *r)
{
        return vs_xjson(json_pack("{s:s, s:s, s:s, s:I, s:o, s:o}", "id", r->id, "owner", r->owner, "status",
                                  vs_job_state_to_string(r->state),
                                  "created_ms", (json_int_t)r->created_ms, "exit_code",
                                  r->exit_code < 0 ? json_null() : json_integer(r->exit_code), "error",
                                  opt_string(r->error)));
}

static void steps_from_json(vs_job_record *r, json_t *steps)
{
        json_t *st;
        size_t i;

        json_array_foreach(steps, i, st)
        {
                vs_phase p;
                vs_step *s;
                json_t *line;
                size_t k;

                if (vs_phase_from_string(json_string_value(json_object_get(st, "name")), &p) < 0)
                        continue;
                s = &r->steps[p];
                if (vs_step_status_from_string(json_string_value(json_object_get(st, "status")), &s->status) < 0)
                        s->status = VS_STEP_SKIPPED;
                s->start_ms = int_or(json_object_get(st, "start"), -1);
                s->end_ms = int_or(json_object_get(st, "end"), -1);
                json_array_foreach(json_object_get(st, "text"), k, line) if (json_is_string(line))
                        vs_record_add_line(r, p, json_string_value(line), json_string_length(line));
        }
}

int vs_record_from_json(json_t *j, vs_job_record *ret, vs_error *err)
{
        const char *id = json_string_value(json_object_get(j, "id"));
        json_t *spec = json_object_get(j, "spec"), *uploads = json_object_get(j, "uploads");
        json_t *code = json_object_get(j, "exit_code"), *result = json_object_get(j, "result"), *container;
        vs_job_record r;

        if (!id || strlen(id) != 12 || !json_is_object(spec))
                return vs_error_set(err, VS_ERR_SANDBOX, "job record without an id or spec");
        vs_record_init(&r, id, json_string_value(json_object_get(j, "owner")), json_incref(spec),
                       int_or(json_object_get(j, "created_ms"), 0));
        if (vs_job_state_from_string(json_string_value(json_object_get(j, "status")), &r.state) < 0)
                r.state = VS_JOB_ERROR;
        r.queued_ms = int_or(json_object_get(j, "queued_ms"), -1);
        r.started_ms = int_or(json_object_get(j, "started_ms"), -1);
        r.finished_ms = int_or(json_object_get(j, "finished_ms"), -1);
        r.upload_image = json_is_true(json_object_get(uploads, "image"));
        r.upload_workspace = json_is_true(json_object_get(uploads, "workspace"));
        steps_from_json(&r, json_object_get(j, "steps"));
        r.exit_code = json_is_integer(code) ? (int)json_integer_value(code) : -1;
        vs_record_set_error(&r, json_string_value(json_object_get(j, "error")));
        r.result = json_is_object(result) ? json_incref(result) : NULL;
        container = json_object_get(j, "container");
        if (container && !json_is_null(container) && vs_container_from_json(container, &r.container, err) < 0) {
                vs_record_clear(&r);
                return -1;
        }
        *ret = r;
        return 0;
}

/* ---- a container's Docker facts ------------------------------------------------ */

static char **strv_copy(char *const *v)
{
        size_t n = 0;
        char **c;

        if (!v)
                return NULL;
        while (v[n])
                n++;
        c = vs_xcalloc(n + 1, sizeof(*c));
        for (size_t i = 0; i < n; i++)
                c[i] = vs_xstrdup(v[i]);
        return c;
}

static char *str_copy(const char *s)
{
        return s ? vs_xstrdup(s) : NULL;
}

void vs_container_free(vs_container *c)
{
        if (!c)
                return;
        free(c->name);
        free(c->image);
        free(c->hostname);
        vs_strv_free(c->cmd);
        vs_strv_free(c->entrypoint);
        vs_strv_free(c->env);
        free(c->user);
        free(c->working_dir);
        vs_strv_free(c->labels);
        free(c->network_mode);
        vs_strv_free(c->binds);
        free(c);
}

const char *vs_container_id(const vs_container *c, const char *job_id)
{
        return c && c->long_id[0] ? c->long_id : job_id;
}

vs_container *vs_container_copy(const vs_container *c)
{
        vs_container *d;

        if (!c)
                return NULL;
        d = vs_xcalloc(1, sizeof(*d));
        *d = *c;
        d->name = str_copy(c->name);
        d->image = str_copy(c->image);
        d->hostname = str_copy(c->hostname);
        d->cmd = strv_copy(c->cmd);
        d->entrypoint = strv_copy(c->entrypoint);
        d->env = strv_copy(c->env);
        d->user = str_copy(c->user);
        d->working_dir = str_copy(c->working_dir);
        d->labels = strv_copy(c->labels);
        d->network_mode = str_copy(c->network_mode);
        d->binds = strv_copy(c->binds);
        return d;
}

static json_t *strv_or_null(char *const *v)
{
        json_t *a;

        if (!v)
                return json_null();
        a = vs_xjson(json_array());
        for (size_t i = 0; v[i]; i++)
                json_array_append_new(a, vs_json_text(v[i], strlen(v[i]), VS_CONTAINER_STRING_MAX));
        return a;
}

static json_t *labels_json(char *const *kv)
{
        json_t *o;

        if (!kv)
                return json_null();
        o = vs_xjson(json_object());
        for (size_t i = 0; kv[i] && kv[i + 1]; i += 2)
                json_object_set_new(o, kv[i], vs_json_text(kv[i + 1], strlen(kv[i + 1]), VS_CONTAINER_STRING_MAX));
        return o;
}

static json_t *text_or_null(const char *s)
{
        return s ? vs_json_text(s, strlen(s), VS_CONTAINER_STRING_MAX) : json_null();
}

json_t *vs_container_to_json(const vs_container *c)
{
        return vs_xjson(json_pack(
                "{s:s, s:o, s:o, s:s, s:o, s:b, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:o, s:o, s:b}",
                "long_id", c->long_id, "name", text_or_null(c->name), "image", text_or_null(c->image), "image_id", c->image_id, "hostname",
                text_or_null(c->hostname), "tty", c->tty, "open_stdin", c->open_stdin, "auto_remove", c->auto_remove,
                "cmd", strv_or_null(c->cmd), "entrypoint", strv_or_null(c->entrypoint), "env", strv_or_null(c->env),
                "user", text_or_null(c->user), "working_dir", text_or_null(c->working_dir), "labels",
                labels_json(c->labels), "memory", (json_int_t)c->memory, "nano_cpus", (json_int_t)c->nano_cpus,
                "cpu_shares", (json_int_t)c->cpu_shares, "network_mode", text_or_null(c->network_mode), "binds",
                strv_or_null(c->binds), "bind_rw", c->bind_rw));
}

bool vs_container_name_valid(const char *name)
{
        size_t n = strlen(name);

        if (n < 2 || n > VS_CONTAINER_NAME_MAX || !isalnum((unsigned char)name[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i]))
                        return false;
        return true;
}

static bool image_id_valid(const char *id)
{
        if (!*id)
                return true;
        if (strncmp(id, "sha256:", 7) != 0 || strlen(id) != VS_CONTAINER_IMAGE_ID_LEN)
                return false;
        for (const char *p = id + 7; *p; p++)
                if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
                        return false;
        return true;
}

static bool long_id_valid(const char *id)
{
        return !*id || (strlen(id) == VS_CONTAINER_ID_LEN && strspn(id, "0123456789abcdef") == VS_CONTAINER_ID_LEN);
}

static bool name_valid(const char *name)
{
        return vs_container_name_valid(name);
}

#define C_STR(key, member, max, flags) \
        { key, VS_JF_STRING, offsetof(vs_container, member), max, 0, VS_JF_NULLABLE | (flags), NULL, NULL }
#define C_STRV(key, member, max_n) \
        { key, VS_JF_STRV, offsetof(vs_container, member), max_n, VS_CONTAINER_STRING_MAX, VS_JF_NULLABLE, NULL, NULL }
#define C_BOOL(key, member) { key, VS_JF_BOOL, offsetof(vs_container, member), 0, 0, 0, NULL, NULL }
#define C_COUNT(key, member) { key, VS_JF_COUNT, offsetof(vs_container, member), 0, 0, 0, NULL, NULL }

/* job.json's "container", in the order its errors are looked for. */
static const vs_json_field container_fields[] = {
        { "long_id", VS_JF_BUF, offsetof(vs_container, long_id), VS_CONTAINER_ID_LEN, 0, VS_JF_NULLABLE, long_id_valid,
          "is not a container id" },
        { "name", VS_JF_STRING, offsetof(vs_container, name), VS_CONTAINER_NAME_MAX, 0,
          VS_JF_REQUIRED | VS_JF_NULLABLE, name_valid, "is not a container name" },
        C_STR("image", image, VS_CONTAINER_IMAGE_MAX, VS_JF_REQUIRED),
        { "image_id", VS_JF_BUF, offsetof(vs_container, image_id), VS_CONTAINER_IMAGE_ID_LEN, 0, VS_JF_NULLABLE,
          image_id_valid, "is not an image id" },
        C_STR("hostname", hostname, 255, 0),
        C_BOOL("tty", tty),
        C_BOOL("open_stdin", open_stdin),
        C_BOOL("auto_remove", auto_remove),
        C_STRV("cmd", cmd, VS_CONTAINER_ARGS_MAX),
        C_STRV("entrypoint", entrypoint, VS_CONTAINER_ARGS_MAX),
        C_STRV("env", env, VS_CONTAINER_ENV_MAX),
        C_STR("user", user, 255, 0),
        C_STR("working_dir", working_dir, VS_CONTAINER_PATH_MAX, 0),
        { "labels", VS_JF_PAIRS, offsetof(vs_container, labels), VS_CONTAINER_LABELS_MAX, VS_CONTAINER_STRING_MAX,
          VS_JF_NULLABLE, NULL, NULL },
        C_COUNT("memory", memory),
        C_COUNT("nano_cpus", nano_cpus),
        C_COUNT("cpu_shares", cpu_shares),
        C_STR("network_mode", network_mode, 255, 0),
        C_STRV("binds", binds, VS_CONTAINER_BINDS_MAX),
        C_BOOL("bind_rw", bind_rw),
};

static const vs_json_reader container_reader = { VS_ERR_SANDBOX, "job record: container.", NULL, NULL };

int vs_container_from_json(json_t *j, vs_container **ret, vs_error *err)
{
        vs_container *c;

        if (!json_is_object(j))
                return vs_error_set(err, VS_ERR_SANDBOX, "job record: container is not an object");
        c = vs_xcalloc(1, sizeof(*c));
        if (vs_json_fields_read(j, container_fields, sizeof(container_fields) / sizeof(container_fields[0]), c,
                                &container_reader, err) < 0) {
                vs_container_free(c);
                return -1;
        }
        *ret = c;
        return 0;
}
