/* The client side of scripts/soak-fake: thousands of jobs through a running
 * soak-serve (the real service and HTTP layer, the fake runner), a seeded
 * random mix of plans, the server's RSS, heap, fds, threads and the files
 * under its state dir sampled every --sample-every jobs (at rest: the
 * clients run in rounds of that many jobs, and each round's sample is taken
 * once its jobs are over and the server's fds and threads are back), and
 * the invariants checked at the end.
 *
 *   soak-drive --pid PID --api SOCK --token-file FILE --docker SOCK
 *              --state-dir DIR [--jobs N] [--seed S] [--clients C]
 *              [--warmup W] [--sample-every K] [--samples FILE]
 *              [--mallinfo FILE] [--settle-ms MS] [--keep-finished 0|1] [--plan NAME]
 *              [--at-rest CMD] [--max-heap-growth KB]
 *
 * Plans (each job's from its own generator, seeded by --seed and its index,
 * so a seed gives the same plans; their timing is the scheduler's):
 *   follow     job API: create+start, GET logs?follow=1 (exact output), final state
 *   poll       create+start, poll the record to its final state
 *   sync       POST /v1/run (exact StatusCode and log)
 *   cancel     a blocking job cancelled when created, at once, or once running
 *   delete     DELETE when created, at once, once running, or once finished
 *   container  Docker: create, start, wait (exact StatusCode), logs (exact frames), rm
 *   kill       Docker: a blocking container, rm -f once running
 *   image      Docker: load a generated archive, tag, rmi both tags
 * Every job API or container job that is not deleted by its plan is
 * checked in its final state (status, exit code) and then deleted, so the
 * service holds no finished jobs: what grows is what the service keeps.
 * With --at-rest CMD, CMD runs (sh -c, SOAK_JOBS=jobs so far) after each
 * sample, the server still at rest (e.g. vgdb's leak_check under valgrind).
 * With --plan NAME every job after the warm-up follows that plan (to tell
 * which one makes the server grow).  With --keep-finished 1 the job API's finished jobs are kept until the end
 * instead (the service's memory per stored job; --owner-jobs bounds them).
 * After every DELETE: 404 for the job and no directory state/server/jobs/ID.
 *
 * At the end (each a failure when it does not hold): no job lost (every
 * one ended as planned or was deleted), no job, container or image but the
 * base image left, the number of files under the state dir, the server's
 * fds and threads back to their values after the warm-up (waited for up to
 * --settle-ms), and its heap in use (mallinfo2, when soak-serve answers it)
 * grown by at most HEAP_SLACK_KB plus --max-heap-growth kB (100) per 1000
 * jobs.  Exit 0 when everything held, 1 otherwise, 2 for usage. */
#include "http_client.h"
#include "sha256.h"
#include "tarwriter.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define JOBS_MAX 1000000
#define CLIENTS_MAX 32
#define WAIT_MS 60000       /* any one wait of a job for its state */
#define FAILURES_SHOWN 30
#define HEAP_SLACK_KB 256   /* heap-in-use growth allowed whatever the jobs (glibc's caches) */

typedef enum {
        PLAN_FOLLOW,
        PLAN_POLL,
        PLAN_SYNC,
        PLAN_CANCEL,
        PLAN_DELETE,
        PLAN_CONTAINER,
        PLAN_KILL,
        PLAN_IMAGE,
        PLAN_LAST
} plan_kind;

static const char *const plan_names[PLAN_LAST] = { "follow", "poll",      "sync", "cancel",
                                                  "delete", "container", "kill", "image" };
/* Weights out of 100. */
static const unsigned plan_weights[PLAN_LAST] = { 20, 14, 10, 14, 14, 14, 6, 8 };

typedef enum {
        END_NONE,     /* never reached an end: lost */
        END_FINAL,    /* ended as planned, checked, then deleted by the soak */
        END_DELETED,  /* deleted by its plan */
        END_IMAGE,    /* an image plan: loaded, tagged, removed */
        END_KEPT,     /* --keep-finished: ended as planned, checked, kept until the end */
        END_LAST
} end_kind;

typedef struct {
        plan_kind plan;
        end_kind end;
        char id[13];
} job_slot;

static struct {
        pid_t pid;
        const char *api, *docker, *state_dir, *samples_path, *mallinfo_path;
        char auth[300];
        unsigned long jobs, warmup, sample_every;
        unsigned clients;
        uint64_t seed;
        unsigned settle_ms;
        bool keep_finished;
        unsigned long heap_per_1000;  /* --max-heap-growth: kB per 1000 jobs beyond HEAP_SLACK_KB */
        const char *at_rest;       /* --at-rest: a shell command run at each sample (SOAK_JOBS=n) */
        int only;                  /* --plan: every measured job of this plan; -1: the mix */
} opt = { .jobs = 1000, .warmup = 50, .sample_every = 250, .clients = 4, .settle_ms = 10000, .only = -1, .heap_per_1000 = 100 };

static job_slot *slots;
static atomic_ulong next_job;
static unsigned long phase_end;
static atomic_uint failures;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *samples;
static struct timespec t_start;
static unsigned long mallinfo_seq;

static void failf(unsigned long i, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(unsigned long i, const char *fmt, ...)
{
        va_list ap;
        char msg[300];
        unsigned n = atomic_fetch_add(&failures, 1);

        if (n >= FAILURES_SHOWN)
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        for (char *p = msg; *p; p++) /* bodies on one line */
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        pthread_mutex_lock(&out_lock);
        fprintf(stderr, "soak: job %lu (%s): %s\n", i, i < opt.warmup + opt.jobs ? plan_names[slots[i].plan] : "-",
                msg);
        pthread_mutex_unlock(&out_lock);
}

/* ---- randomness: splitmix64, one stream per job ---- */

static uint64_t mix(uint64_t *s)
{
        uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static unsigned below(uint64_t *s, unsigned n)
{
        return (unsigned)(mix(s) % n);
}

static plan_kind pick_plan(uint64_t *s)
{
        unsigned r = below(s, 100), acc = 0;

        for (plan_kind p = 0; p < PLAN_LAST; p++) {
                acc += plan_weights[p];
                if (r < acc)
                        return p;
        }
        return PLAN_POLL;
}

/* ---- the server's process ---- */

static long status_field(const char *key)
{
        char path[64], line[256];
        size_t klen = strlen(key);
        long v = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%ld/status", (long)opt.pid);
        f = fopen(path, "r");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
                        v = strtol(line + klen + 1, NULL, 10);
                        break;
                }
        fclose(f);
        return v;
}

static long count_fds(void)
{
        char path[64];
        DIR *d;
        struct dirent *e;
        long n = 0;

        snprintf(path, sizeof(path), "/proc/%ld/fd", (long)opt.pid);
        d = opendir(path);
        if (!d)
                return -1;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static long nfiles;
static int count_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
        (void)p, (void)st, (void)type;
        if (ftw->level > 0)
                nfiles++;
        return 0;
}

/* Entries (files and directories) below the state dir; one thread at a time. */
static long count_files(void)
{
        nfiles = 0;
        if (nftw(opt.state_dir, count_one, 16, FTW_PHYS) != 0)
                return -1;
        return nfiles;
}

/* The server's heap in use (bytes), through soak-serve --mallinfo; -1
 * without it or when no answer came within 2 s. */
static long long heap_in_use(void)
{
        struct timespec ts = { 0, 2 * 1000 * 1000 };

        if (!opt.mallinfo_path)
                return -1;
        mallinfo_seq++;
        if (kill(opt.pid, SIGUSR1) != 0)
                return -1;
        for (int i = 0; i < 1000; i++) {
                unsigned long seq;
                long long in_use;
                FILE *f = fopen(opt.mallinfo_path, "r");
                int n = f ? fscanf(f, "%lu %lld", &seq, &in_use) : 0;

                if (f)
                        fclose(f);
                if (n == 2 && seq >= mallinfo_seq)
                        return in_use;
                nanosleep(&ts, NULL);
        }
        return -1;
}

typedef struct {
        long rss_kb, fds, threads, files;
        long long heap;
} probe;

static probe take_probe(void)
{
        probe p = { status_field("VmRSS"), count_fds(), status_field("Threads"), count_files(), heap_in_use() };
        return p;
}

static double seconds(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)(t.tv_sec - t_start.tv_sec) + (double)(t.tv_nsec - t_start.tv_nsec) / 1e9;
}

/* For the slope of RSS and heap over jobs (least squares). */
static struct {
        double n, sx, sy, sxx, sxy, sh, sxh;
} fit;

static void sample(unsigned long jobs_done, const probe *p)
{
        double x = (double)jobs_done;

        fprintf(samples, "%lu\t%.1f\t%ld\t%lld\t%ld\t%ld\t%ld\n", jobs_done, seconds(), p->rss_kb,
                p->heap < 0 ? -1 : p->heap / 1024, p->fds, p->threads, p->files);
        fflush(samples);
        fit.n++, fit.sx += x, fit.sy += (double)p->rss_kb, fit.sxx += x * x, fit.sxy += x * (double)p->rss_kb;
        fit.sh += (double)(p->heap / 1024), fit.sxh += x * (double)(p->heap / 1024);
}

static double slope(double sy, double sxy)
{
        double d = fit.n * fit.sxx - fit.sx * fit.sx;

        return d > 0 ? (fit.n * sxy - fit.sx * sy) / d : 0;
}

/* ---- HTTP ---- */

typedef struct {
        long status;
        char *body;
        size_t len;
} resp;

static long call(bool docker, const char *method, const char *path, const char *body, size_t len,
                 const char *content_type, resp *r)
{
        hc_request rq = { .sock = docker ? opt.docker : opt.api, .host = docker ? "docker" : "localhost",
                          .method = method, .path = path, .authorization = docker ? NULL : opt.auth,
                          .body = body, .body_len = len, .content_type = content_type };
        hc_bytes b = { 0 };

        r->status = hc_perform(&rq, &b, NULL);
        r->body = b.buf;
        r->len = b.len;
        return r->status;
}

static long api(const char *method, const char *path, const char *json, resp *r)
{
        return call(false, method, path, json, json ? strlen(json) : 0, "application/json", r);
}

static long dock(const char *method, const char *path, const char *json, resp *r)
{
        return call(true, method, path, json, json ? strlen(json) : 0, "application/json", r);
}

static void resp_free(resp *r)
{
        free(r->body);
        r->body = NULL;
}

static json_t *resp_json(const resp *r)
{
        return json_loadb(r->body, r->len, 0, NULL);
}

static void sleep_ms(unsigned ms)
{
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

/* ---- the job API ---- */

/* The spec of a job: the fake runner's ops, a preloaded tag (never read). */
static char *spec_of(const char *ops)
{
        char *s = NULL;

        if (asprintf(&s, "{\"tag\":\"soak:1\",\"cmd\":[\"fake\",%s]}", ops) < 0)
                abort();
        return s;
}

static bool job_create(unsigned long i, const char *ops, bool start, char id[13])
{
        char *spec = spec_of(ops);
        resp r;
        json_t *j;
        const char *v;
        bool ok = false;

        api("POST", start ? "/v1/jobs?start=1" : "/v1/jobs", spec, &r);
        j = resp_json(&r);
        v = j ? json_string_value(json_object_get(j, "id")) : NULL;
        if (r.status == 201 && v && strlen(v) == 12) {
                memcpy(id, v, 13);
                memcpy(slots[i].id, v, 13);
                ok = true;
        } else {
                failf(i, "create: HTTP %ld %.200s", r.status, r.body);
        }
        json_decref(j);
        resp_free(&r);
        free(spec);
        return ok;
}

/* The job's status ("gone" for a 404), exit code in *ret_code. */
static void job_status(const char *id, char status[16], long *ret_code)
{
        char path[64];
        resp r;
        json_t *j;
        const char *s;

        snprintf(path, sizeof(path), "/v1/jobs/%s", id);
        api("GET", path, NULL, &r);
        j = r.status == 200 ? resp_json(&r) : NULL;
        s = j ? json_string_value(json_object_get(j, "status")) : NULL;
        snprintf(status, 16, "%s", r.status == 404 ? "gone" : s ? s : "?");
        if (ret_code) {
                json_t *c = j ? json_object_get(j, "exit_code") : NULL;
                *ret_code = json_is_integer(c) ? (long)json_integer_value(c) : -1;
        }
        json_decref(j);
        resp_free(&r);
}

static bool is_final(const char *s)
{
        return strcmp(s, "success") == 0 || strcmp(s, "failure") == 0 || strcmp(s, "timeout") == 0 ||
               strcmp(s, "cancelled") == 0 || strcmp(s, "error") == 0 || strcmp(s, "gone") == 0 ||
               strcmp(s, "?") == 0;
}

/* Polls until the job's status is want (or, want NULL, final); false after WAIT_MS. */
static bool job_wait(const char *id, const char *want, char status[16], long *ret_code)
{
        for (unsigned waited = 0; waited < WAIT_MS; waited += 2) {
                job_status(id, status, ret_code);
                if (want ? strcmp(status, want) == 0 : is_final(status))
                        return true;
                if (want && is_final(status))
                        return false;
                sleep_ms(2);
        }
        return false;
}

/* Nothing of a deleted job may be left: 404, and no directory. */
static void check_gone(unsigned long i, const char *id)
{
        char path[4200], status[16];
        struct stat st;

        job_status(id, status, NULL);
        if (strcmp(status, "gone") != 0)
                failf(i, "job %s deleted, still %s", id, status);
        snprintf(path, sizeof(path), "%s/server/jobs/%s", opt.state_dir, id);
        if (lstat(path, &st) == 0 || errno != ENOENT)
                failf(i, "job %s deleted, %s is still there", id, path);
}

static void job_delete(unsigned long i, const char *id, end_kind end)
{
        char path[64], want[64];
        resp r;

        snprintf(path, sizeof(path), "/v1/jobs/%s", id);
        snprintf(want, sizeof(want), "{\"deleted\": \"%s\"}", id);
        api("DELETE", path, NULL, &r);
        if (r.status != 200 || !strstr(r.body, id))
                failf(i, "DELETE %s: HTTP %ld %.200s", id, r.status, r.body);
        else
                slots[i].end = end;
        resp_free(&r);
        check_gone(i, id);
}

/* The final state as planned, then deleted by the soak. */
static void job_expect(unsigned long i, const char *id, const char *want, long want_code)
{
        char status[16];
        long code;

        if (!job_wait(id, NULL, status, &code)) {
                failf(i, "job %s not final after %d ms: %s", id, WAIT_MS, status);
                return;
        }
        if (strcmp(status, want) != 0 || (want_code >= 0 && code != want_code)) {
                failf(i, "job %s ended %s (exit %ld), not %s (exit %ld)", id, status, code, want, want_code);
                return;
        }
        if (opt.keep_finished && i >= opt.warmup) /* the warm-up keeps none: the files invariant holds */
                slots[i].end = END_KEPT;
        else
                job_delete(i, id, END_FINAL);
}

/* The ops of a short job and its expected output, status and exit code. */
typedef struct {
        char ops[160];
        char out[64];
        const char *status;
        long code;
} short_job;

static void short_ops(uint64_t *rng, unsigned long i, short_job *sj)
{
        unsigned e = below(rng, 5) == 0 ? 1 + below(rng, 3) : 0;

        snprintf(sj->out, sizeof(sj->out), "soak %lu", i);
        snprintf(sj->ops, sizeof(sj->ops), "\"out:%s\\n\",\"sleep:%u\",\"exit:%u\"", sj->out, below(rng, 20), e);
        sj->status = e ? "failure" : "success";
        sj->code = e;
}

static void plan_follow(uint64_t *rng, unsigned long i)
{
        short_job sj;
        char id[13], path[96], want[80];
        resp r;

        short_ops(rng, i, &sj);
        if (!job_create(i, sj.ops, true, id))
                return;
        snprintf(path, sizeof(path), "/v1/jobs/%s/logs?follow=1", id);
        snprintf(want, sizeof(want), "%s\n", sj.out);
        api("GET", path, NULL, &r);
        if (r.status != 200 || r.len != strlen(want) || memcmp(r.body, want, r.len) != 0)
                failf(i, "follow %s: HTTP %ld, %zu bytes %.100s", id, r.status, r.len, r.body);
        resp_free(&r);
        job_expect(i, id, sj.status, sj.code);
}

static void plan_poll(uint64_t *rng, unsigned long i)
{
        short_job sj;
        char id[13];

        short_ops(rng, i, &sj);
        if (job_create(i, sj.ops, true, id))
                job_expect(i, id, sj.status, sj.code);
}

static void plan_sync(uint64_t *rng, unsigned long i)
{
        short_job sj;
        char *spec, want[80];
        resp r;
        json_t *j, *log;
        const char *id;

        short_ops(rng, i, &sj);
        spec = spec_of(sj.ops);
        api("POST", "/v1/run", spec, &r);
        free(spec);
        j = resp_json(&r);
        id = j ? json_string_value(json_object_get(j, "id")) : NULL;
        log = j ? json_object_get(j, "log") : NULL;
        snprintf(want, sizeof(want), "%s", sj.out);
        if (id && strlen(id) == 12)
                memcpy(slots[i].id, id, 13);
        if (r.status != 200 || !id || strlen(id) != 12 ||
            json_integer_value(json_object_get(json_object_get(j, "success"), "StatusCode")) != sj.code ||
            json_array_size(log) != 1 || strcmp(json_string_value(json_array_get(log, 0)) ?: "", want) != 0)
                failf(i, "/v1/run: HTTP %ld %.200s", r.status, r.body);
        else
                job_expect(i, slots[i].id, sj.status, sj.code);
        json_decref(j);
        resp_free(&r);
}

static void plan_cancel(uint64_t *rng, unsigned long i)
{
        unsigned when = below(rng, 3); /* 0 created, 1 at once, 2 once running */
        char id[13], path[64], status[16];
        resp r;

        if (!job_create(i, "\"out:c\\n\",\"block\"", when != 0, id))
                return;
        if (when == 2 && !job_wait(id, "running", status, NULL)) {
                failf(i, "job %s never ran: %s", id, status);
                return;
        }
        snprintf(path, sizeof(path), "/v1/jobs/%s/cancel", id);
        api("POST", path, NULL, &r);
        if (r.status != 202)
                failf(i, "cancel %s: HTTP %ld %.200s", id, r.status, r.body);
        resp_free(&r);
        job_expect(i, id, "cancelled", -1);
}

static void plan_delete(uint64_t *rng, unsigned long i)
{
        unsigned when = below(rng, 4); /* 0 created, 1 at once, 2 once running, 3 once finished */
        char id[13], status[16];
        short_job sj;

        short_ops(rng, i, &sj);
        if (!job_create(i, when == 3 || when == 0 ? sj.ops : "\"out:d\\n\",\"block\"", when != 0, id))
                return;
        if (when == 2 && !job_wait(id, "running", status, NULL)) {
                failf(i, "job %s never ran: %s", id, status);
                return;
        }
        if (when == 3 && !job_wait(id, sj.status, status, NULL)) {
                failf(i, "job %s ended %s, not %s", id, status, sj.status);
                return;
        }
        job_delete(i, id, END_DELETED);
}

/* ---- the Docker socket ---- */

#define BASE_IMAGE "soak/base:1"

static bool container_create(unsigned long i, const char *cmd, char id[13])
{
        char body[300], path[64];
        resp r;
        json_t *j;
        const char *v;
        bool ok = false;

        snprintf(body, sizeof(body), "{\"Image\":\"" BASE_IMAGE "\",\"Cmd\":[\"fake\",%s]}", cmd);
        snprintf(path, sizeof(path), "/v1.41/containers/create?name=soak-%lu", i);
        dock("POST", path, body, &r);
        j = resp_json(&r);
        v = j ? json_string_value(json_object_get(j, "Id")) : NULL;
        /* Docker's 64 hex digits; the first 12 are the job's id, which the
         * job API and the container endpoints both take. */
        if (r.status == 201 && v && strlen(v) == 64 && strspn(v, "0123456789abcdef") == 64) {
                memcpy(id, v, 12);
                id[12] = '\0';
                memcpy(slots[i].id, id, 13);
                ok = true;
        } else {
                failf(i, "containers/create: HTTP %ld %.200s", r.status, r.body);
        }
        json_decref(j);
        resp_free(&r);
        return ok;
}

static bool container_verb(unsigned long i, const char *method, const char *id, const char *verb, long want,
                           resp *ret)
{
        char path[96];
        resp r;

        snprintf(path, sizeof(path), "/v1.41/containers/%s%s", id, verb);
        dock(method, path, NULL, &r);
        if (r.status != want) {
                failf(i, "%s %s: HTTP %ld, not %ld: %.200s", method, path, r.status, want, r.body);
                resp_free(&r);
                return false;
        }
        if (ret)
                *ret = r;
        else
                resp_free(&r);
        return true;
}

static void container_removed(unsigned long i, const char *id, const char *how)
{
        if (container_verb(i, "DELETE", id, how, 204, NULL))
                slots[i].end = slots[i].plan == PLAN_KILL ? END_DELETED : END_FINAL;
        container_verb(i, "GET", id, "/json", 404, NULL);
        check_gone(i, id);
}

static void plan_container(uint64_t *rng, unsigned long i)
{
        unsigned e = below(rng, 4) == 0 ? 1 + below(rng, 3) : 0;
        char cmd[120], id[13], out[40], want[64], wait_body[64];
        resp r;
        size_t n;

        snprintf(out, sizeof(out), "hello %lu\n", i);
        snprintf(cmd, sizeof(cmd), "\"out:hello %lu\\n\",\"sleep:%u\",\"exit:%u\"", i, below(rng, 20), e);
        if (!container_create(i, cmd, id) || !container_verb(i, "POST", id, "/start", 204, NULL))
                return;
        if (!container_verb(i, "POST", id, "/wait", 200, &r))
                return;
        snprintf(wait_body, sizeof(wait_body), "\"StatusCode\":%u", e);
        if (!strstr(r.body, wait_body))
                failf(i, "wait %s: %.200s, not %s", id, r.body, wait_body);
        resp_free(&r);
        if (!container_verb(i, "GET", id, "/logs?stdout=1&stderr=1", 200, &r))
                return;
        /* One stdout frame: stream 1, three zero bytes, the length big-endian. */
        n = strlen(out);
        memset(want, 0, 8);
        want[0] = 1;
        want[7] = (char)n;
        memcpy(want + 8, out, n);
        if (r.len != 8 + n || memcmp(r.body, want, 8 + n) != 0)
                failf(i, "logs %s: %zu bytes, not the frame of %zu", id, r.len, n);
        resp_free(&r);
        container_removed(i, id, "");
}

static void plan_kill(uint64_t *rng, unsigned long i)
{
        char id[13], status[16];

        (void)rng;
        if (!container_create(i, "\"out:k\\n\",\"block\"", id) || !container_verb(i, "POST", id, "/start", 204, NULL))
                return;
        if (!job_wait(id, "running", status, NULL)) {
                failf(i, "container %s never ran: %s", id, status);
                return;
        }
        container_removed(i, id, "?force=1");
}

/* A docker-archive of one layer holding one file whose text names n. */
static char *make_archive(unsigned long n, const char *tag, size_t *ret_len)
{
        char *layer = NULL, *config = NULL, *manifest = NULL, *out = NULL, text[64], lhex[65], chex[65];
        char lname[80], cname[80];
        size_t llen = 0, olen = 0;
        static const char zeros[1024];
        FILE *f;
        vs_sha256 c;

        snprintf(text, sizeof(text), "soak image %lu\n", n);
        f = open_memstream(&layer, &llen);
        tw_entry(f, &(tw_hdr){ .name = "soak", .size = strlen(text) }, text, strlen(text));
        fwrite(zeros, 1, sizeof(zeros), f);
        fclose(f);
        vs_sha256_init(&c);
        vs_sha256_update(&c, layer, llen);
        vs_sha256_final_hex(&c, lhex);
        if (asprintf(&config,
                     "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/soak\"]},"
                     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\"]}}",
                     lhex) < 0)
                abort();
        vs_sha256_init(&c);
        vs_sha256_update(&c, config, strlen(config));
        vs_sha256_final_hex(&c, chex);
        snprintf(lname, sizeof(lname), "%s/layer.tar", lhex);
        snprintf(cname, sizeof(cname), "%s.json", chex);
        if (asprintf(&manifest, "[{\"Config\":\"%s\",\"RepoTags\":[\"%s\"],\"Layers\":[\"%s\"]}]", cname, tag, lname) <
            0)
                abort();
        f = open_memstream(&out, &olen);
        tw_entry(f, &(tw_hdr){ .name = "manifest.json", .size = strlen(manifest) }, manifest, strlen(manifest));
        tw_entry(f, &(tw_hdr){ .name = cname, .size = strlen(config) }, config, strlen(config));
        tw_entry(f, &(tw_hdr){ .name = lname, .size = llen }, layer, llen);
        fwrite(zeros, 1, sizeof(zeros), f);
        fclose(f);
        free(layer), free(config), free(manifest);
        *ret_len = olen;
        return out;
}

static bool image_load(unsigned long i, unsigned long n, const char *tag)
{
        size_t len;
        char *tar = make_archive(n, tag, &len), want[160];
        resp r;
        bool ok;

        call(true, "POST", "/v1.41/images/load?quiet=1", tar, len, "application/x-tar", &r);
        snprintf(want, sizeof(want), "Loaded image: %s", tag);
        ok = r.status == 200 && strstr(r.body, want);
        if (!ok)
                failf(i, "images/load %s: HTTP %ld %.200s", tag, r.status, r.body);
        resp_free(&r);
        free(tar);
        return ok;
}

static bool image_rmi(unsigned long i, const char *name, const char *want)
{
        char path[160];
        resp r;
        bool ok;

        snprintf(path, sizeof(path), "/v1.41/images/%s", name);
        dock("DELETE", path, NULL, &r);
        ok = r.status == 200 && strstr(r.body, want);
        if (!ok)
                failf(i, "DELETE %s: HTTP %ld %.200s, not with %s", path, r.status, r.body, want);
        resp_free(&r);
        return ok;
}

static void plan_image(uint64_t *rng, unsigned long i)
{
        char tag[64], path[160], other[64];
        resp r;

        (void)rng;
        snprintf(tag, sizeof(tag), "soak/img-%lu:1", i);
        snprintf(other, sizeof(other), "soak/tag-%lu:x", i);
        if (!image_load(i, i + 1, tag))
                return;
        snprintf(path, sizeof(path), "/v1.41/images/%s/tag?repo=soak/tag-%lu&tag=x", tag, i);
        dock("POST", path, NULL, &r);
        if (r.status != 201)
                failf(i, "tag: HTTP %ld %.200s", r.status, r.body);
        resp_free(&r);
        if (image_rmi(i, other, "\"Untagged\"") && image_rmi(i, tag, "\"Deleted\""))
                slots[i].end = END_IMAGE;
}

/* ---- the run ---- */

typedef void (*plan_fn)(uint64_t *rng, unsigned long i);
static const plan_fn plan_fns[PLAN_LAST] = { plan_follow, plan_poll, plan_sync, plan_cancel,
                                             plan_delete, plan_container, plan_kill, plan_image };

static void *client(void *arg)
{
        (void)arg;
        for (;;) {
                unsigned long i = atomic_load(&next_job);
                uint64_t rng;

                do
                        if (i >= phase_end)
                                return NULL;
                while (!atomic_compare_exchange_weak(&next_job, &i, i + 1));
                rng = opt.seed * 0x100000001b3ull + i;
                (void)pick_plan(&rng); /* the plan's own draws come after its pick (main) */
                plan_fns[slots[i].plan](&rng, i);
        }
}

static void run_phase(unsigned long end)
{
        pthread_t t[CLIENTS_MAX];

        phase_end = end;
        for (unsigned c = 0; c < opt.clients; c++)
                if (pthread_create(&t[c], NULL, client, NULL) != 0) {
                        fprintf(stderr, "soak: cannot start a client thread\n");
                        exit(1);
                }
        for (unsigned c = 0; c < opt.clients; c++)
                pthread_join(t[c], NULL);
}

/* A probe once the server is at rest: no job in flight, and its fds and
 * threads back to want's (connection threads end a moment after their
 * client closed), or after --settle-ms. */
static probe probe_at_rest(const probe *want)
{
        probe p;

        for (unsigned waited = 0;; waited += 20) {
                p = take_probe();
                if ((p.fds == want->fds && p.threads == want->threads) || waited >= opt.settle_ms)
                        return p;
                sleep_ms(20);
        }
}

static size_t json_count(bool docker, const char *path, const char *array_key)
{
        resp r;
        json_t *j;
        size_t n;

        call(docker, "GET", path, NULL, 0, NULL, &r);
        j = resp_json(&r);
        n = json_array_size(array_key ? json_object_get(j, array_key) : j);
        if (r.status != 200 || !j)
                n = (size_t)-1;
        json_decref(j);
        resp_free(&r);
        return n;
}

static int usage(void)
{
        fputs("usage: soak-drive --pid PID --api SOCK --token-file FILE --docker SOCK --state-dir DIR\n"
              "       [--jobs N] [--seed S] [--clients C] [--warmup W] [--sample-every K]\n"
              "       [--samples FILE] [--mallinfo FILE] [--settle-ms MS] [--keep-finished 0|1]\n"
              "       [--at-rest CMD] [--max-heap-growth KB] [--plan follow|poll|sync|cancel|delete|container|kill|image]\n",
              stderr);
        return 2;
}

static int read_token(const char *path)
{
        char tok[257];
        FILE *f = fopen(path, "r");
        size_t n;

        if (!f)
                return -1;
        n = fread(tok, 1, sizeof(tok) - 1, f);
        fclose(f);
        while (n && (tok[n - 1] == '\n' || tok[n - 1] == ' '))
                n--;
        tok[n] = '\0';
        snprintf(opt.auth, sizeof(opt.auth), "Bearer %s", tok);
        return n ? 0 : -1;
}

static int parse_args(int argc, char **argv)
{
        bool have_seed = false;

        for (int i = 1; i < argc; i++) {
                const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                char *end = NULL;

                if (!v)
                        return usage();
                i++;
                if (strcmp(k, "--pid") == 0)
                        opt.pid = (pid_t)strtol(v, &end, 10);
                else if (strcmp(k, "--api") == 0)
                        opt.api = v;
                else if (strcmp(k, "--docker") == 0)
                        opt.docker = v;
                else if (strcmp(k, "--state-dir") == 0)
                        opt.state_dir = v;
                else if (strcmp(k, "--samples") == 0)
                        opt.samples_path = v;
                else if (strcmp(k, "--plan") == 0) {
                        for (plan_kind p = 0; p < PLAN_LAST; p++)
                                if (strcmp(v, plan_names[p]) == 0)
                                        opt.only = (int)p;
                        if (opt.only < 0)
                                return usage();
                } else if (strcmp(k, "--at-rest") == 0)
                        opt.at_rest = v;
                else if (strcmp(k, "--keep-finished") == 0)
                        opt.keep_finished = strcmp(v, "1") == 0;
                else if (strcmp(k, "--mallinfo") == 0)
                        opt.mallinfo_path = v;
                else if (strcmp(k, "--token-file") == 0) {
                        if (read_token(v) < 0) {
                                fprintf(stderr, "soak: cannot read the token in %s\n", v);
                                return 2;
                        }
                } else if (strcmp(k, "--jobs") == 0)
                        opt.jobs = strtoul(v, &end, 10);
                else if (strcmp(k, "--warmup") == 0)
                        opt.warmup = strtoul(v, &end, 10);
                else if (strcmp(k, "--sample-every") == 0)
                        opt.sample_every = strtoul(v, &end, 10);
                else if (strcmp(k, "--clients") == 0)
                        opt.clients = (unsigned)strtoul(v, &end, 10);
                else if (strcmp(k, "--max-heap-growth") == 0)
                        opt.heap_per_1000 = strtoul(v, &end, 10);
                else if (strcmp(k, "--settle-ms") == 0)
                        opt.settle_ms = (unsigned)strtoul(v, &end, 10);
                else if (strcmp(k, "--seed") == 0) {
                        opt.seed = strtoull(v, &end, 10);
                        have_seed = true;
                } else
                        return usage();
                if (end && (*end || end == v)) {
                        fprintf(stderr, "soak: %s %s: not a number\n", k, v);
                        return 2;
                }
        }
        if (opt.pid < 2 || !opt.api || !opt.docker || !opt.state_dir || !opt.auth[0] || opt.jobs == 0 ||
            opt.jobs > JOBS_MAX || opt.warmup > JOBS_MAX || opt.sample_every == 0 || opt.clients == 0 ||
            opt.clients > CLIENTS_MAX)
                return usage();
        if (!have_seed)
                opt.seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
        return 0;
}

int main(int argc, char **argv)
{
        unsigned long total, lost = 0, ends[END_LAST] = { 0 }, plans[PLAN_LAST] = { 0 };
        probe first, base, last;
        size_t njobs, ncont, nimg;
        int r = parse_args(argc, argv);

        if (r)
                return r;
        total = opt.warmup + opt.jobs;
        slots = calloc(total, sizeof(*slots));
        if (!slots)
                return 1;
        for (unsigned long i = 0; i < total; i++) {
                uint64_t rng = opt.seed * 0x100000001b3ull + i;
                slots[i].plan = pick_plan(&rng);
                if (opt.only >= 0 && i >= opt.warmup)
                        slots[i].plan = (plan_kind)opt.only;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        samples = opt.samples_path ? fopen(opt.samples_path, "w") : fopen("/dev/null", "w");
        if (!samples) {
                fprintf(stderr, "soak: cannot write %s\n", opt.samples_path);
                return 2;
        }
        printf("soak: seed %" PRIu64 ", %lu jobs after %lu of warm-up, %u clients\n", opt.seed, opt.jobs, opt.warmup,
               opt.clients);
        fflush(stdout);
        clock_gettime(CLOCK_MONOTONIC, &t_start);
        first = take_probe();
        if (!image_load(0, 0, BASE_IMAGE))
                return 1;
        run_phase(opt.warmup);
        base = probe_at_rest(&first);
        fprintf(samples, "jobs\tseconds\trss_kB\theap_kB\tfds\tthreads\tfiles\n");
        sample(0, &base);
        /* In rounds of --sample-every jobs, each sampled at rest: no job in
         * flight, so that what the server holds is what it keeps. */
        for (unsigned long end = opt.warmup; end < total;) {
                probe p;

                end = end + opt.sample_every < total ? end + opt.sample_every : total;
                run_phase(end);
                p = probe_at_rest(&base);
                sample(end - opt.warmup, &p);
                if (opt.at_rest) {
                        char n[32];
                        snprintf(n, sizeof(n), "%lu", end - opt.warmup);
                        setenv("SOAK_JOBS", n, 1);
                        if (system(opt.at_rest) != 0)
                                fprintf(stderr, "soak: --at-rest failed after %s jobs\n", n);
                }
        }

        /* Invariants. */
        for (unsigned long i = 0; i < total; i++) {
                plans[slots[i].plan]++;
                ends[slots[i].end]++;
                if (slots[i].end == END_NONE && lost++ < FAILURES_SHOWN)
                        fprintf(stderr, "soak: job %lu (%s) %s did not end as planned\n", i,
                                plan_names[slots[i].plan], slots[i].id[0] ? slots[i].id : "(no id)");
        }
        njobs = json_count(false, "/v1/jobs", "jobs");
        ncont = json_count(true, "/v1.41/containers/json?all=1", NULL);
        nimg = json_count(true, "/v1.41/images/json", NULL);
        if (lost)
                failf(total, "%lu jobs did not end as planned", lost);
        if (njobs != ends[END_KEPT])
                failf(total, "%zd jobs left in the service, not %lu", (ssize_t)njobs, ends[END_KEPT]);
        if (opt.keep_finished) { /* their RSS was the point; now they go */
                probe kept = take_probe();
                printf("  with %lu finished jobs kept: RSS %ld kB, heap in use %lld kB\n", ends[END_KEPT],
                       kept.rss_kb, kept.heap / 1024);
                for (unsigned long i = 0; i < total; i++)
                        if (slots[i].end == END_KEPT)
                                job_delete(i, slots[i].id, END_KEPT);
        }
        if (ncont != 0)
                failf(total, "%zd containers left", (ssize_t)ncont);
        if (nimg != 1)
                failf(total, "%zd images, not the base image only", (ssize_t)nimg);
        last = probe_at_rest(&base);
        if (last.fds != base.fds)
                failf(total, "server fds %ld after the warm-up, %ld at the end", base.fds, last.fds);
        if (last.threads != base.threads)
                failf(total, "server threads %ld after the warm-up, %ld at the end", base.threads, last.threads);
        if (last.heap > 0 && base.heap > 0) { /* mallinfo2 answered (not under ASan or valgrind) */
                long long allowed = HEAP_SLACK_KB + (long long)(opt.heap_per_1000 * opt.jobs / 1000);
                if ((last.heap - base.heap) / 1024 > allowed)
                        failf(total, "server heap in use grew by %lld kB over %lu jobs (at most %lld kB)",
                              (last.heap - base.heap) / 1024, opt.jobs, allowed);
        }
        if (last.files != base.files)
                failf(total, "%ld files under the state dir after the warm-up, %ld at the end", base.files,
                      last.files);
        image_rmi(total, BASE_IMAGE, "\"Deleted\"");

        printf("soak: %lu jobs in %.0f s (seed %" PRIu64 ")\n", total, seconds(), opt.seed);
        printf("  plans:");
        for (plan_kind p = 0; p < PLAN_LAST; p++)
                printf(" %s %lu", plan_names[p], plans[p]);
        printf("\n  ends: final %lu, deleted %lu, image %lu, kept %lu, lost %lu\n", ends[END_FINAL],
               ends[END_DELETED], ends[END_IMAGE], ends[END_KEPT], lost);
        printf("  left: %zd jobs, %zd containers, %zd images (the base)\n", (ssize_t)njobs, (ssize_t)ncont,
               (ssize_t)nimg);
        printf("  server fds %ld -> %ld (warm) -> %ld, threads %ld -> %ld -> %ld, files %ld -> %ld -> %ld\n",
               first.fds, base.fds, last.fds, first.threads, base.threads, last.threads, first.files, base.files,
               last.files);
        printf("  server RSS %ld kB -> %ld kB (warm) -> %ld kB: %+.0f kB per 1000 jobs (least squares over %.0f "
               "samples)\n",
               first.rss_kb, base.rss_kb, last.rss_kb, slope(fit.sy, fit.sxy) * 1000, fit.n);
        if (opt.mallinfo_path)
                printf("  server heap in use %lld kB -> %lld kB (warm) -> %lld kB: %+.0f kB per 1000 jobs\n",
                       first.heap / 1024, base.heap / 1024, last.heap / 1024, slope(fit.sh, fit.sxh) * 1000);
        printf("  failures: %u\n", atomic_load(&failures));
        fclose(samples);
        free(slots);
        curl_global_cleanup();
        return atomic_load(&failures) ? 1 : 0;
}
