#include "fake_runner.h"
#include "alloc.h"
#include "archive.h"
#include "result.h"
#include "strv.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/stat.h>

#define FAKE_MAX 256

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static char *started[FAKE_MAX];
static size_t nstarted, running, max_running, blocked;
static char *released[FAKE_MAX];
static size_t nreleased;

void fake_reset(void)
{
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < nstarted; i++)
                free(started[i]);
        for (size_t i = 0; i < nreleased; i++)
                free(released[i]);
        nstarted = running = max_running = blocked = nreleased = 0;
        pthread_mutex_unlock(&lock);
}

static void wait_for(size_t *counter, size_t n)
{
        pthread_mutex_lock(&lock);
        while (*counter < n)
                pthread_cond_wait(&changed, &lock);
        pthread_mutex_unlock(&lock);
}

void fake_wait_started(size_t n)
{
        wait_for(&nstarted, n);
}

void fake_wait_blocked(size_t n)
{
        wait_for(&blocked, n);
}

const char *fake_started(size_t i)
{
        const char *r;

        pthread_mutex_lock(&lock);
        r = i < nstarted ? started[i] : NULL;
        pthread_mutex_unlock(&lock);
        return r;
}

size_t fake_nstarted(void)
{
        size_t n;

        pthread_mutex_lock(&lock);
        n = nstarted;
        pthread_mutex_unlock(&lock);
        return n;
}

size_t fake_running(void)
{
        size_t n;

        pthread_mutex_lock(&lock);
        n = running;
        pthread_mutex_unlock(&lock);
        return n;
}

size_t fake_max_running(void)
{
        size_t n;

        pthread_mutex_lock(&lock);
        n = max_running;
        pthread_mutex_unlock(&lock);
        return n;
}

void fake_release(const char *name)
{
        pthread_mutex_lock(&lock);
        if (nreleased < FAKE_MAX)
                released[nreleased++] = vs_xstrdup(name);
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&lock);
}

static bool is_released(const char *name)
{
        for (size_t i = 0; i < nreleased; i++)
                if (strcmp(released[i], "*") == 0 || strcmp(released[i], name) == 0)
                        return true;
        return false;
}

static const char *label(const vs_spec *spec)
{
        for (char **e = spec->env; e && *e; e++)
                if (strncmp(*e, "NAME=", 5) == 0)
                        return *e + 5;
        return "";
}

static bool cancelled(const vs_run_opts *opts)
{
        const vs_events *ev = opts->events;

        return ev && ev->cancelled && ev->cancelled(ev->userdata);
}

/* Waits for a release, checking for cancel as the pipeline does (it polls). */
static bool block(const vs_run_opts *opts, const char *name)
{
        bool ok = true;

        pthread_mutex_lock(&lock);
        blocked++;
        pthread_cond_broadcast(&changed);
        while (!is_released(name)) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 5 * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                pthread_mutex_unlock(&lock);
                if (cancelled(opts)) {
                        ok = false;
                        pthread_mutex_lock(&lock);
                        break;
                }
                pthread_mutex_lock(&lock);
                pthread_cond_timedwait(&changed, &lock, &ts);
        }
        blocked--;
        pthread_mutex_unlock(&lock);
        return ok;
}

static void phase(const vs_run_opts *opts, json_t *result, vs_phase p, bool start)
{
        const vs_events *ev = opts->events;

        vs_result_phase(result, p, start);
        if (ev && ev->phase)
                ev->phase(ev->userdata, vs_phase_name(p), false, start);
}

static void output_to(const vs_run_opts *opts, int stream, const char *data, size_t len)
{
        const vs_events *ev = opts->events;

        if (ev && ev->output)
                ev->output(ev->userdata, stream, data, len);
}

static void output(const vs_run_opts *opts, const char *data, size_t len)
{
        output_to(opts, 1, data, len);
}

static void repeat(const vs_run_opts *opts, const char *arg)
{
        char *hex;
        unsigned long n = strtoul(arg, &hex, 10);
        char bytes[256];
        size_t len = 0;

        for (hex++; hex[0] && hex[1] && len < sizeof(bytes); hex += 2) {
                unsigned v;
                sscanf(hex, "%2x", &v);
                bytes[len++] = (char)v;
        }
        for (unsigned long i = 0; i < n; i++)
                output(opts, bytes, len);
}

/* file:NAME:TEXT: out/NAME (as the pipeline collects stdout.log, stderr.log,
 * dockerd.log) holds TEXT. */
static void out_file(const vs_run_opts *opts, const char *arg)
{
        const char *colon = strchr(arg, ':');
        char *name, *path;
        FILE *f;

        if (!opts->out_dir || !colon || (mkdir(opts->out_dir, 0700) < 0 && errno != EEXIST))
                return;
        name = vs_xstrndup(arg, (size_t)(colon - arg));
        path = vs_xasprintf("%s/%s", opts->out_dir, name);
        f = fopen(path, "w");
        if (f) {
                fputs(colon + 1, f);
                fclose(f);
        }
        free(path);
        free(name);
}

/* Runs the ops; returns false when the job was cancelled. */
static bool run_ops(const vs_spec *spec, char **ops, const vs_run_opts *opts, int *exit_code, bool *fail,
                    const char **guest_error, const char **timeout)
{
        for (char **a = ops; a && *a; a++) {
                if (strncmp(*a, "guest_error:", 12) == 0)
                        *guest_error = *a + 12;
                if (strncmp(*a, "out:", 4) == 0)
                        output(opts, *a + 4, strlen(*a + 4));
                else if (strncmp(*a, "err:", 4) == 0)
                        output_to(opts, 2, *a + 4, strlen(*a + 4));
                else if (strncmp(*a, "timeout:", 8) == 0)
                        *timeout = *a + 8;
                else if (strncmp(*a, "file:", 5) == 0)
                        out_file(opts, *a + 5);
                else if (strncmp(*a, "sleep:", 6) == 0)
                        usleep((useconds_t)strtoul(*a + 6, NULL, 10) * 1000);
                else if (strncmp(*a, "rep:", 4) == 0)
                        repeat(opts, *a + 4);
                else if (strcmp(*a, "block") == 0 && !block(opts, label(spec)))
                        return false;
                else if (strncmp(*a, "exit:", 5) == 0)
                        *exit_code = atoi(*a + 5);
                else if (strcmp(*a, "error") == 0)
                        *fail = true;
        }
        return true;
}

static char last_image_root[4096], last_workspace_root[4096], last_bind_roots[4096];
static json_t *last_spec;
static bool last_write_back;

json_t *fake_last_spec(void)
{
        json_t *j;

        pthread_mutex_lock(&lock);
        j = last_spec ? json_deep_copy(last_spec) : NULL;
        pthread_mutex_unlock(&lock);
        return j;
}

bool fake_last_write_back(void)
{
        bool r;

        pthread_mutex_lock(&lock);
        r = last_write_back;
        pthread_mutex_unlock(&lock);
        return r;
}

const char *fake_last_image_root(void)
{
        return last_image_root;
}

const char *fake_last_workspace_root(void)
{
        return last_workspace_root;
}

const char *fake_last_bind_roots(void)
{
        return last_bind_roots;
}

/* A build's ops: its build argument FAKE, split at '|'. */
static char **build_ops(const vs_spec *spec)
{
        char **ops = NULL;

        for (char **a = spec->build->buildargs; a && *a; a++)
                if (strncmp(*a, "FAKE=", 5) == 0) {
                        char *copy = vs_xstrdup(*a + 5), *save = NULL;
                        for (char *t = strtok_r(copy, "|", &save); t; t = strtok_r(NULL, "|", &save))
                                vs_strv_push(&ops, t);
                        free(copy);
                }
        return ops;
}

/* What a build saw, then the builder's last line; the built image is the
 * first FROM image's archive (copied to out/image.tar). */
static void fake_build(const vs_run_opts *opts, json_t *result, bool ok)
{
        size_t n = vs_strv_length(opts->build_images);
        struct stat st;
        char line[256];
        vs_archive_info info;
        vs_error e = { 0 };

        snprintf(line, sizeof(line), "context %lld bytes, %zu images\n",
                 stat(opts->build_context, &st) == 0 ? (long long)st.st_size : -1LL, n);
        output(opts, line, strlen(line));
        if (!ok || n == 0 || vs_archive_inspect(opts->build_images[0], &info, &e) < 0)
                return;
        if (opts->out_dir && mkdir(opts->out_dir, 0700) == 0) {
                char *dest = vs_xasprintf("%s/image.tar", opts->out_dir), *cmd = NULL;
                cmd = vs_xasprintf("cp '%s' '%s'", opts->build_images[0], dest);
                if (system(cmd) == 0)
                        json_object_set_new(json_object_get(result, "guest"), "image_id",
                                            json_string(info.images[0].id));
                free(cmd);
                free(dest);
        }
        snprintf(line, sizeof(line), "Successfully built %.12s\n", info.images[0].id + 7);
        output(opts, line, strlen(line));
        vs_archive_info_clear(&info);
}

int fake_run(void *userdata, const vs_config *cfg, const vs_spec *spec, const vs_run_opts *opts, json_t **ret_result,
             vs_error *err)
{
        json_t *result = vs_result_new("fake");
        int exit_code = 0;
        bool fail = false, ok;
        const char *guest_error = NULL, *timeout = NULL;
        char **ops = NULL;

        (void)userdata, (void)cfg;
        pthread_mutex_lock(&lock);
        if (nstarted < FAKE_MAX)
                started[nstarted++] = vs_xstrdup(label(spec));
        snprintf(last_image_root, sizeof(last_image_root), "%s", opts->image_root ? opts->image_root : "");
        snprintf(last_workspace_root, sizeof(last_workspace_root), "%s",
                 opts->workspace_root ? opts->workspace_root : "");
        last_bind_roots[0] = '\0';
        for (size_t i = 0; i < spec->n_binds; i++) {
                size_t n = strlen(last_bind_roots);
                snprintf(last_bind_roots + n, sizeof(last_bind_roots) - n, "%s%s", i ? "," : "",
                         opts->bind_roots && opts->bind_roots[i] ? opts->bind_roots[i] : "(none)");
        }
        json_decref(last_spec);
        last_spec = vs_spec_to_json(spec);
        last_write_back = opts->write_back;
        if (++running > max_running)
                max_running = running;
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&lock);

        for (vs_phase p = VS_PHASE_VALIDATE; p < VS_PHASE_WAIT; p++) {
                phase(opts, result, p, true);
                phase(opts, result, p, false);
        }
        phase(opts, result, VS_PHASE_WAIT, true);
        ops = spec->build ? build_ops(spec) : NULL;
        ok = run_ops(spec, spec->build ? ops : spec->cmd ? spec->cmd + 1 : NULL, opts, &exit_code, &fail, &guest_error, &timeout);
        if (spec->build)
                fake_build(opts, result, ok && !fail && exit_code == 0);
        phase(opts, result, VS_PHASE_WAIT, false);
        if (ok && !fail) {
                phase(opts, result, VS_PHASE_COLLECT, true);
                phase(opts, result, VS_PHASE_COLLECT, false);
        }
        phase(opts, result, VS_PHASE_CLEANUP, true);
        phase(opts, result, VS_PHASE_CLEANUP, false);
        if (!ok)
                vs_result_set_status(result, VS_STATUS_CANCELLED, -1, "the job was cancelled");
        else if (timeout) {
                /* a guest phase: the deadline passed in wait; else the host phase named */
                vs_phase p = VS_PHASE_WAIT;
                for (vs_phase q = 0; q < VS_PHASE_LAST; q++)
                        if (strcmp(timeout, vs_phase_name(q)) == 0)
                                p = q;
                char *msg = vs_timeout_message(spec->timeout_ms, p, p == VS_PHASE_WAIT ? timeout : NULL);
                vs_result_set_status(result, VS_STATUS_TIMEOUT, -1, msg);
                free(msg);
        } else if (fail)
                vs_result_set_status(result, VS_STATUS_ERROR, -1, "fake sandbox failure");
        else
                vs_result_set_status(result, exit_code == 0 ? VS_STATUS_SUCCESS : VS_STATUS_FAILURE, exit_code, NULL);
        if (guest_error) /* as result.c copies the agent's run_error */
                json_object_set_new(json_object_get(result, "guest"), "run_error", json_string(guest_error));

        pthread_mutex_lock(&lock);
        running--;
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&lock);
        vs_strv_free(ops);
        *ret_result = result;
        if (fail)
                return vs_error_set(err, VS_ERR_SANDBOX, "fake sandbox failure");
        return 0;
}
