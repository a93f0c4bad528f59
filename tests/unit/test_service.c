/* The job service without VMs: a fake runner (fake_runner.h) stands in for
 * the pipeline, so queue order, the memory budget, cancel, delete, logs and
 * restart recovery are tested exactly. */
#include "fake_runner.h"
#include "fsutil.h"
#include "parse.h"
#include "service.h"
#include "service_int.h"
#include "store.h"
#include "tarwriter.h"
#include "tests.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void limits_tests(TCase *tc);

static char state[64];
static uint64_t opt_keep_ms, opt_max_disk;
static vs_config cfg;

static void setup(void)
{
        snprintf(state, sizeof(state), "/tmp/vs-svc-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(state));
        cfg = (vs_config){ .state_dir = state };
        opt_keep_ms = opt_max_disk = 0;
        fake_reset();
}

static void teardown(void)
{
        vs_rm_rf(state);
}

static vs_service *svc_open(unsigned max_jobs, uint64_t budget)
{
        vs_service_opts o = { .cfg = &cfg, .max_jobs = max_jobs, .memory_budget = budget, .max_upload = 1 << 20,
                              .keep_ms = opt_keep_ms, .max_disk = opt_max_disk, .run = fake_run };
        vs_error err = { 0 };
        vs_service *s = NULL;

        ck_assert_msg(vs_service_open(&o, &s, &err) == 0, "%s", err.msg);
        return s;
}

static void svc_close(vs_service *s)
{
        fake_release("*");
        vs_service_drain(s, 0);
        vs_service_free(s);
}

/* A job named name running the fake ops (a NULL-terminated list). */
static void job_with_memory(vs_service *s, const char *name, const char *memory, char id[13], const char *const *ops)
{
        json_t *cmd = json_pack("[s]", "fake");
        json_t *spec;
        vs_error err = { 0 };

        for (; *ops; ops++)
                json_array_append_new(cmd, json_string(*ops));
        spec = json_pack("{s:s, s:s, s:{s:s}, s:o}", "tag", "fake:1", "memory", memory, "env", "NAME", name, "cmd", cmd);
        ck_assert_msg(vs_service_create(s, NULL, spec, id, &err) == 0, "%s", err.msg);
        json_decref(spec);
}

#define JOB(s, name, id, ...) job_with_memory(s, name, "512M", id, (const char *const[]){ __VA_ARGS__, NULL })

static void start(vs_service *s, const char *id)
{
        vs_error err = { 0 };

        ck_assert_msg(vs_service_start(s, NULL, id, &err) == 0, "%s", err.msg);
}

static void wait_done(vs_service *s, const char *id)
{
        vs_error err = { 0 };

        ck_assert_msg(vs_service_wait(s, NULL, id, 60000, &err) == 1, "%s", err.msg);
}

static json_t *get(vs_service *s, const char *id)
{
        vs_error err = { 0 };
        json_t *rec = vs_service_get(s, NULL, id, &err);

        ck_assert_msg(rec != NULL, "%s", err.msg);
        return rec;
}

static const char *status_of(json_t *rec)
{
        return json_string_value(json_object_get(rec, "status"));
}

#define ck_status(s, id, want)                                           \
        do {                                                             \
                json_t *rec_ = get(s, id);                               \
                ck_assert_str_eq(status_of(rec_), want);                 \
                json_decref(rec_);                                       \
        } while (0)

static json_int_t queue_position(vs_service *s, const char *id)
{
        json_t *rec = get(s, id), *q = json_object_get(rec, "queue_position");
        json_int_t r = json_is_integer(q) ? json_integer_value(q) : -1;

        json_decref(rec);
        return r;
}

static json_t *wait_text(json_t *rec)
{
        json_t *steps = json_object_get(rec, "steps");

        return json_object_get(json_array_get(steps, 3), "text");
}

START_TEST(fifo_order_and_queue_position)
{
        vs_service *s = svc_open(1, 8ull << 30);
        char a[13], b[13], c[13], d[13];

        JOB(s, "a", a, "block");
        JOB(s, "b", b, "block");
        JOB(s, "c", c, "block");
        JOB(s, "d", d, "block");
        start(s, a);
        fake_wait_blocked(1);
        start(s, b);
        start(s, c);
        start(s, d);
        ck_assert_int_eq(queue_position(s, a), -1);
        ck_assert_int_eq(queue_position(s, b), 0);
        ck_assert_int_eq(queue_position(s, c), 1);
        ck_assert_int_eq(queue_position(s, d), 2);
        ck_status(s, b, "queued");
        fake_release("a");
        wait_done(s, a);
        fake_release("*");
        wait_done(s, d);
        wait_done(s, c);
        wait_done(s, b);
        ck_assert_uint_eq(fake_nstarted(), 4);
        ck_assert_str_eq(fake_started(0), "a");
        ck_assert_str_eq(fake_started(1), "b");
        ck_assert_str_eq(fake_started(2), "c");
        ck_assert_str_eq(fake_started(3), "d");
        ck_assert_uint_eq(fake_max_running(), 1);
        ck_status(s, d, "success");
        svc_close(s);
}
END_TEST

START_TEST(memory_budget_keeps_fifo)
{
        vs_service *s = svc_open(4, 3ull << 30);
        char a[13], b[13], c[13], huge[13];
        vs_error err = { 0 };

        job_with_memory(s, "a", "2G", a, (const char *const[]){ "block", NULL });
        job_with_memory(s, "b", "2G", b, (const char *const[]){ "block", NULL });
        job_with_memory(s, "c", "512M", c, (const char *const[]){ "block", NULL });
        job_with_memory(s, "huge", "4G", huge, (const char *const[]){ "block", NULL });
        ck_assert_int_eq(vs_service_start(s, NULL, huge, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_CONFLICT);
        start(s, a);
        fake_wait_blocked(1);
        start(s, b);
        start(s, c);
        /* b does not fit beside a; c would, but must not overtake b. */
        ck_assert_int_eq(queue_position(s, b), 0);
        ck_assert_int_eq(queue_position(s, c), 1);
        fake_release("a");
        wait_done(s, a);
        fake_wait_blocked(2); /* b (2G) and c (512M) fit together */
        /* Two workers: which of them enters the runner first is not fixed. */
        ck_assert_uint_eq(fake_nstarted(), 3);
        ck_assert_int_eq(strcmp(fake_started(1), "b") == 0 || strcmp(fake_started(2), "b") == 0, 1);
        ck_assert_int_eq(strcmp(fake_started(1), "c") == 0 || strcmp(fake_started(2), "c") == 0, 1);
        ck_assert_uint_eq(fake_max_running(), 2);
        svc_close(s);
}
END_TEST

START_TEST(cancel_in_every_state)
{
        vs_service *s = svc_open(1, 8ull << 30);
        char run[13], queued[13], created[13];
        vs_error err = { 0 };
        json_t *rec;

        JOB(s, "run", run, "out:before\n", "block");
        JOB(s, "queued", queued, "block");
        JOB(s, "created", created, "block");
        start(s, run);
        fake_wait_blocked(1);
        start(s, queued);
        ck_assert_int_eq(vs_service_cancel(s, NULL, queued, &err), 0);
        ck_assert_int_eq(vs_service_cancel(s, NULL, created, &err), 0);
        ck_assert_int_eq(vs_service_cancel(s, NULL, run, &err), 0);
        wait_done(s, run);
        rec = get(s, run);
        ck_assert_str_eq(status_of(rec), "cancelled");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(rec, "steps"), 3), "status")),
                         "failure");
        json_decref(rec);
        rec = get(s, queued);
        ck_assert_str_eq(status_of(rec), "cancelled");
        ck_assert_str_eq(json_string_value(json_object_get(rec, "error")), "cancelled before it ran");
        json_decref(rec);
        ck_status(s, created, "cancelled");
        ck_assert_int_eq(vs_service_cancel(s, NULL, run, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_CONFLICT);
        ck_assert_uint_eq(fake_nstarted(), 1);
        svc_close(s);
}
END_TEST

static void job_dir(const char *id, char *buf, size_t len)
{
        snprintf(buf, len, "%s/server/jobs/%s", state, id);
}

START_TEST(delete_removes_everything)
{
        vs_service *s = svc_open(1, 8ull << 30);
        char done[13], run[13], dir[256];
        vs_error err = { 0 };
        struct stat st;

        JOB(s, "done", done, "out:x\n");
        start(s, done);
        wait_done(s, done);
        job_dir(done, dir, sizeof(dir));
        ck_assert_int_eq(stat(dir, &st), 0);
        ck_assert_int_eq(vs_service_delete(s, NULL, done, &err), 0);
        ck_assert_int_eq(stat(dir, &st), -1);
        ck_assert_int_eq(errno, ENOENT);
        ck_assert_ptr_null(vs_service_get(s, NULL, done, &err));
        ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);

        JOB(s, "run", run, "block");
        start(s, run);
        fake_wait_blocked(1);
        ck_assert_int_eq(vs_service_delete(s, NULL, run, &err), 0);
        ck_assert_uint_eq(fake_running(), 0);
        job_dir(run, dir, sizeof(dir));
        ck_assert_int_eq(stat(dir, &st), -1);
        svc_close(s);
}
END_TEST

typedef struct {
        vs_service *s;
        const char *id;
        int r;
        vs_error err;
} del_arg;

static void *del_thread(void *p)
{
        del_arg *a = p;

        a->r = vs_service_delete(a->s, NULL, a->id, &a->err);
        return NULL;
}

/* Two DELETEs of one running job: was a use-after-free and a double free. */
START_TEST(parallel_delete_of_running_job)
{
        vs_service *s = svc_open(1, 8ull << 30);
        char id[13];
        del_arg x = { s, id, 0, { 0 } }, y = { s, id, 0, { 0 } };
        pthread_t tx, ty;

        JOB(s, "run", id, "block");
        start(s, id);
        fake_wait_blocked(1);
        pthread_create(&tx, NULL, del_thread, &x);
        pthread_create(&ty, NULL, del_thread, &y);
        pthread_join(tx, NULL);
        pthread_join(ty, NULL);
        /* One removes it; the other finds it gone or going. */
        ck_assert_int_eq((x.r == 0) + (y.r == 0) >= 1, 1);
        if (x.r < 0)
                ck_assert_int_eq(x.err.kind, VS_ERR_NOT_FOUND);
        if (y.r < 0)
                ck_assert_int_eq(y.err.kind, VS_ERR_NOT_FOUND);
        ck_assert_ptr_null(vs_service_get(s, NULL, id, &x.err));
        svc_close(s);
}
END_TEST

static double cpu_seconds(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_seconds(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Follows a job's log for about `secs` as the HTTP layer does; returns the
 * number of calls made, and the thread's CPU time. */
static unsigned follow_for(vs_service *s, const char *id, double secs, double *ret_cpu, bool *ret_done)
{
        double t0 = wall_seconds(), c0 = cpu_seconds();
        unsigned calls = 0;
        char buf[256];
        size_t n;
        bool done = false;
        vs_error err = { 0 };

        while (!done && wall_seconds() - t0 < secs && calls < 1000000) {
                ck_assert_int_eq(vs_service_log_read(s, NULL, id, 0, buf, sizeof(buf), true, &n, &done, &err), 0);
                calls++;
        }
        *ret_cpu = cpu_seconds() - c0;
        *ret_done = done;
        return calls;
}

START_TEST(follow_of_created_job_sleeps)
{
        vs_service *s = svc_open(1, 8ull << 30);
        char id[13];
        double cpu;
        bool done;
        unsigned calls;

        JOB(s, "idle", id, "out:x\n");
        calls = follow_for(s, id, 0.6, &cpu, &done);
        ck_assert_msg(!done, "a follow of a created job ended");
        ck_assert_msg(calls <= 3, "%u calls in 0.6 s: the follower spins", calls);
        ck_assert_msg(cpu < 0.05, "%.3f s of CPU in 0.6 s of following", cpu);
        svc_close(s);
}
END_TEST

/* A log file shorter than its recorded size (truncated behind the
 * service's back) must end a follow, not spin on it. */
START_TEST(follow_of_short_log_ends)
{
        vs_service *s = svc_open(1, 8ull << 30);
        char id[13], path[300];
        double cpu;
        bool done;
        unsigned calls;

        JOB(s, "short", id, "out:hello\n");
        start(s, id);
        wait_done(s, id);
        snprintf(path, sizeof(path), "%s/server/jobs/%s/output.log", state, id);
        ck_assert_int_eq(truncate(path, 0), 0);
        calls = follow_for(s, id, 0.6, &cpu, &done);
        ck_assert_msg(done, "%u calls, still not done", calls);
        ck_assert_uint_le(calls, 2);
        svc_close(s);
}
END_TEST

static json_t *load_record(const char *id)
{
        char dir[256];
        vs_error err = { 0 };
        json_t *rec;

        job_dir(id, dir, sizeof(dir));
        rec = vs_store_load(dir, &err);
        ck_assert_msg(rec != NULL, "%s", err.msg);
        return rec;
}

/* Output that is not UTF-8 used to make the record unserialisable. */
START_TEST(non_utf8_output_keeps_record)
{
        vs_service *s = svc_open(1, 8ull << 30);
        char id[13];
        json_t *rec, *text;
        char *dump;

        JOB(s, "bin", id, "out:ok\n", "rep:1:fffe0a", "exit:3");
        start(s, id);
        wait_done(s, id);
        rec = get(s, id);
        dump = json_dumps(rec, 0);
        ck_assert_ptr_nonnull(dump);
        free(dump);
        text = wait_text(rec);
        ck_assert_uint_eq(json_array_size(text), 2);
        ck_assert_str_eq(json_string_value(json_array_get(text, 0)), "ok");
        ck_assert_str_eq(json_string_value(json_array_get(text, 1)), "\xef\xbf\xbd\xef\xbf\xbd");
        ck_assert_int_eq(json_integer_value(json_object_get(rec, "exit_code")), 3);
        json_decref(rec);
        rec = load_record(id);
        ck_assert_str_eq(status_of(rec), "failure");
        json_decref(rec);
        svc_close(s);
}
END_TEST

/* What the engine said of the workflow's end (the agent's run_error, e.g.
 * out of memory) becomes the job's error; a host error would win over it. */
START_TEST(guest_run_error_is_job_error)
{
        vs_service *s = svc_open(1, 8ull << 30);
        char id[13];
        json_t *rec;

        JOB(s, "oom", id, "guest_error:the workflow ran out of memory", "exit:137");
        start(s, id);
        wait_done(s, id);
        rec = get(s, id);
        ck_assert_str_eq(status_of(rec), "failure");
        ck_assert_int_eq(json_integer_value(json_object_get(rec, "exit_code")), 137);
        ck_assert_str_eq(json_string_value(json_object_get(rec, "error")), "the workflow ran out of memory");
        json_decref(rec);
        svc_close(s);
}
END_TEST

/* A two-byte character across the 4096-byte line cap: the line is cut at the
 * character boundary and the character starts the next line. */
START_TEST(line_cap_splits_at_character)
{
        vs_service *s = svc_open(1, 8ull << 30);
        char id[13], want[4096];
        json_t *rec, *text;

        JOB(s, "long", id, "rep:4095:61", "rep:1:c3a90a");
        start(s, id);
        wait_done(s, id);
        rec = load_record(id);
        text = wait_text(rec);
        memset(want, 'a', 4095);
        want[4095] = '\0';
        ck_assert_uint_eq(json_array_size(text), 2);
        ck_assert_str_eq(json_string_value(json_array_get(text, 0)), want);
        ck_assert_str_eq(json_string_value(json_array_get(text, 1)), "\xc3\xa9");
        json_decref(rec);
        svc_close(s);
}
END_TEST

/* Queued jobs come back in the order they were started (not created);
 * a job that was running when the service died is marked lost. */
START_TEST(restart_requeues_and_marks_lost)
{
        vs_service *s = svc_open(1, 8ull << 30);
        char a[13], b[13], c[13], dir[256];
        vs_error err = { 0 };
        json_t *rec;

        JOB(s, "c", c, "block");
        JOB(s, "b", b, "block");
        JOB(s, "a", a, "block");
        start(s, a);
        fake_wait_blocked(1);
        start(s, b);
        start(s, c);
        vs_service_drain(s, 0); /* a is cancelled; b and c stay queued */
        vs_service_free(s);
        ck_assert_uint_eq(fake_nstarted(), 1);

        /* As if the service had died while a ran. */
        rec = load_record(a);
        json_object_set_new(rec, "status", json_string("running"));
        job_dir(a, dir, sizeof(dir));
        ck_assert_int_eq(vs_store_save(dir, rec, &err), 0);
        json_decref(rec);

        fake_reset();
        s = svc_open(1, 8ull << 30);
        fake_wait_blocked(1);
        ck_assert_str_eq(fake_started(0), "b");
        ck_assert_int_eq(queue_position(s, c), 0);
        rec = get(s, a);
        ck_assert_str_eq(status_of(rec), "error");
        ck_assert_str_eq(json_string_value(json_object_get(rec, "error")),
                         "lost: the service stopped while the job ran; its VM was destroyed");
        json_decref(rec);
        fake_release("*");
        wait_done(s, b);
        wait_done(s, c);
        ck_assert_str_eq(fake_started(1), "c");
        svc_close(s);
}
END_TEST

/* --keep: finished jobs older than keep are removed with all their files;
 * unfinished ones stay however old. */
START_TEST(expire_removes_old_finished_jobs)
{
        vs_service *s;
        char done[13], created[13], dir[256];
        vs_error err = { 0 };
        struct stat st;
        json_t *rec;
        int64_t finished;

        opt_keep_ms = 3600 * 1000;
        s = svc_open(1, 8ull << 30);
        JOB(s, "done", done, "out:x\n");
        JOB(s, "created", created, "out:x\n");
        start(s, done);
        wait_done(s, done);
        rec = get(s, done);
        finished = json_integer_value(json_object_get(rec, "finished_ms"));
        json_decref(rec);
        ck_assert_uint_eq(vs_service_expire(s, (uint64_t)finished + 3600 * 1000 - 1), 0);
        ck_assert_uint_eq(vs_service_expire(s, (uint64_t)finished + 3600 * 1000), 1);
        ck_assert_ptr_null(vs_service_get(s, NULL, done, &err));
        job_dir(done, dir, sizeof(dir));
        ck_assert_int_eq(stat(dir, &st), -1);
        ck_assert_uint_eq(vs_service_expire(s, (uint64_t)finished + 100ull * 24 * 3600 * 1000), 0);
        ck_status(s, created, "created");
        svc_close(s);
}
END_TEST

START_TEST(max_disk_refused_at_create)
{
        vs_service *s;
        json_t *spec = json_pack("{s:s, s:s}", "tag", "fake:1", "disk", "8G");
        vs_error err = { 0 };
        char id[13];

        opt_max_disk = 4ull << 30;
        s = svc_open(1, 8ull << 30);
        ck_assert_int_eq(vs_service_create(s, NULL, spec, id, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        ck_assert_str_eq(err.msg, "disk 8G is over this service's --max-disk 4G");
        json_object_set_new(spec, "disk", json_string("4G"));
        ck_assert_int_eq(vs_service_create(s, NULL, spec, id, &err), 0);
        json_decref(spec);
        svc_close(s);
}
END_TEST

/* A job is visible only to its owner and the admin (NULL). */
START_TEST(owners_see_their_own_jobs)
{
        vs_service *s = svc_open(1, 8ull << 30);
        json_t *spec = json_pack("{s:s}", "tag", "fake:1"), *list;
        vs_error err = { 0 };
        char id[13];

        ck_assert_int_eq(vs_service_create(s, "aaaaaaaaaaaa", spec, id, &err), 0);
        ck_assert_ptr_null(vs_service_get(s, "bbbbbbbbbbbb", id, &err));
        ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
        ck_assert_int_eq(vs_service_start(s, "bbbbbbbbbbbb", id, &err), -1);
        ck_assert_int_eq(vs_service_delete(s, "bbbbbbbbbbbb", id, &err), -1);
        list = vs_service_list(s, "bbbbbbbbbbbb", NULL);
        ck_assert_uint_eq(json_array_size(list), 0);
        json_decref(list);
        list = vs_service_list(s, "aaaaaaaaaaaa", NULL);
        ck_assert_uint_eq(json_array_size(list), 1);
        json_decref(list);
        ck_status(s, id, "created"); /* the admin */
        ck_assert_int_eq(vs_service_delete(s, "aaaaaaaaaaaa", id, &err), 0);
        json_decref(spec);
        svc_close(s);
}
END_TEST

/* Server-side paths: named below an allowed root by their letters, opened
 * there without symlinks; the run is given the same root to open them again.
 * A symlink whose target is not UTF-8 used to abort the service. */
static vs_error_kind create_at(vs_service *s, const char *field, const char *path, char id[13], vs_error *err)
{
        json_t *spec = json_pack("{s:s, s:s, s:[s]}", "tag", "fake:1", field, path, "cmd", "fake");
        int r = vs_service_create(s, NULL, spec, id, err);

        json_decref(spec);
        return r == 0 ? VS_ERR_NONE : err->kind;
}

START_TEST(paths_below_allowed_roots)
{
        char root[] = "/tmp/vs-roots-XXXXXX", p[256], q[256], id[13];
        char *const roots[] = { root, NULL };
        vs_service_opts o = { .cfg = &cfg, .max_jobs = 1, .memory_budget = 8ull << 30, .max_upload = 1 << 20,
                              .allowed_roots = roots, .run = fake_run };
        vs_service *s = NULL;
        vs_error err = { 0 };
        json_t *spec;

        ck_assert_ptr_nonnull(mkdtemp(root));
        ck_assert_msg(vs_service_open(&o, &s, &err) == 0, "%s", err.msg);

        snprintf(p, sizeof(p), "%s/w\xff", root);
        ck_assert_int_eq(mkdir(p, 0700), 0);
        snprintf(q, sizeof(q), "%s/link", root);
        ck_assert_int_eq(symlink("w\xff", q), 0);
        ck_assert_msg(create_at(s, "workspace", q, id, &err) == VS_ERR_FORBIDDEN, "%s", err.msg);
        ck_assert_msg(strstr(err.msg, "symlink"), "%s", err.msg);

        snprintf(p, sizeof(p), "%s/pipe.tar", root);
        ck_assert_int_eq(mkfifo(p, 0600), 0);
        ck_assert_int_eq(create_at(s, "image", p, id, &err), VS_ERR_INPUT);
        ck_assert_str_eq(err.msg + strlen(err.msg) - strlen("is not a regular file"), "is not a regular file");

        ck_assert_int_eq(create_at(s, "workspace", "/etc", id, &err), VS_ERR_FORBIDDEN);
        ck_assert_str_eq(err.msg, "workspace /etc is not an absolute path below an allowed root");
        snprintf(p, sizeof(p), "%s/../etc", root);
        ck_assert_int_eq(create_at(s, "workspace", p, id, &err), VS_ERR_FORBIDDEN);
        snprintf(p, sizeof(p), "%s/nothing", root);
        ck_assert_int_eq(create_at(s, "workspace", p, id, &err), VS_ERR_INPUT);

        snprintf(p, sizeof(p), "%s/ws", root);
        ck_assert_int_eq(mkdir(p, 0700), 0);
        ck_assert_int_eq(create_at(s, "workspace", p, id, &err), VS_ERR_NONE);
        start(s, id);
        wait_done(s, id);
        ck_assert_str_eq(fake_last_workspace_root(), root);
        ck_assert_str_eq(fake_last_image_root(), "");

        snprintf(p, sizeof(p), "%s/img.tar", root);
        close(open(p, O_WRONLY | O_CREAT | O_EXCL, 0600));
        spec = json_pack("{s:s, s:[s]}", "image", p, "cmd", "fake");
        ck_assert_msg(vs_service_create(s, NULL, spec, id, &err) == 0, "%s", err.msg);
        json_decref(spec);
        start(s, id);
        wait_done(s, id);
        ck_assert_str_eq(fake_last_image_root(), root);
        ck_assert_str_eq(fake_last_workspace_root(), "");
        svc_close(s);
        vs_rm_rf(root);
}
END_TEST

/* A workspace upload with a hard link to "../" is refused as the image's
 * layers are (it used to be checked by name only); a plain one is stored. */
static int upload_workspace(vs_service *s, const char *id, const tw_hdr *link, vs_error *err)
{
        char *buf = NULL;
        size_t len = 0;
        vs_upload *u;
        int r;
        FILE *f = open_memstream(&buf, &len);

        ck_assert_ptr_nonnull(f);
        tw_entry(f, &(tw_hdr){ .name = "data.csv", .size = 4 }, "1,2\n", 4);
        if (link)
                tw_entry(f, link, NULL, 0);
        tw_end(f);
        fclose(f);
        ck_assert_msg(vs_service_upload_begin(s, NULL, id, "workspace", 0, &u, err) == 0, "%s", err->msg);
        ck_assert_msg(vs_service_upload_write(s, u, buf, len, err) == 0, "%s", err->msg);
        r = vs_service_upload_end(s, u, err);
        free(buf);
        return r;
}

START_TEST(workspace_upload_hard_link_refused)
{
        vs_service *s = svc_open(1, 8ull << 30);
        vs_error err = { 0 };
        char id[13];

        JOB(s, "ws", id, "out:x\n");
        ck_assert_int_eq(upload_workspace(s, id, &(tw_hdr){ .name = "passwd", .type = '1',
                                                            .linkname = "../../etc/passwd" }, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        ck_assert_str_eq(err.msg, "workspace archive: unsafe entry (hard link to) \"../../etc/passwd\"");
        ck_assert_int_eq(upload_workspace(s, id, NULL, &err), 0);
        svc_close(s);
}
END_TEST

/* ---- --memory-budget (tests9) ------------------------------------------------ */

/* A metrics line's value ("name value"), or -1. */
static long long metric(vs_service *s, const char *name)
{
        char *text = vs_service_metrics(s), *line;
        long long v = -1;
        size_t n = strlen(name);

        for (line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
                if (strncmp(line, name, n) == 0 && line[n] == ' ')
                        v = atoll(line + n + 1);
        free(text);
        return v;
}

/* Jobs that would exceed the budget wait in the queue even with workers
 * free; what runs reserves exactly its memory. */
START_TEST(memory_budget_queues_with_free_workers)
{
        vs_service *s = svc_open(4, 1ull << 30);
        char a[13], b[13], c[13];
        struct timespec window = { 0, 200 * 1000 * 1000 };

        JOB(s, "a", a, "block");
        JOB(s, "b", b, "block");
        JOB(s, "c", c, "block");
        start(s, a);
        start(s, b);
        fake_wait_blocked(2);
        start(s, c);
        /* Two of four workers are idle: give them time to (wrongly) take c. */
        nanosleep(&window, NULL);
        ck_assert_uint_eq(fake_nstarted(), 2);
        ck_status(s, c, "queued");
        ck_assert_int_eq(queue_position(s, c), 0);
        ck_assert_int_eq(metric(s, "vmsandbox_memory_reserved_bytes"), 1ll << 30);
        ck_assert_int_eq(metric(s, "vmsandbox_running_vms"), 2);
        ck_assert_int_eq(metric(s, "vmsandbox_queue_length"), 1);
        fake_release("b");
        wait_done(s, b);
        fake_wait_blocked(2); /* c took b's place */
        ck_assert_str_eq(fake_started(2), "c");
        ck_assert_int_eq(queue_position(s, c), -1);
        fake_release("*");
        wait_done(s, a);
        wait_done(s, c);
        ck_assert_uint_eq(fake_max_running(), 2);
        /* A worker gives the memory back just after the record says the job
         * ended: polled, bounded. */
        for (int i = 0; i < 500 && metric(s, "vmsandbox_memory_reserved_bytes") != 0; i++)
                nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
        ck_assert_int_eq(metric(s, "vmsandbox_memory_reserved_bytes"), 0);
        svc_close(s);
}
END_TEST

/* A job of exactly the budget runs; one byte more is refused at start (409
 * conflict over HTTP) and stays created, and the queue goes on. */
START_TEST(job_larger_than_budget_refused)
{
        vs_service *s = svc_open(2, 1ull << 30);
        char fits[13], over[13], after[13], want[128];
        vs_error err = { 0 };

        job_with_memory(s, "fits", "1G", fits, (const char *const[]){ "out:fits\n", NULL });
        job_with_memory(s, "over", "1073741825", over, (const char *const[]){ "out:over\n", NULL });
        JOB(s, "after", after, "out:after\n");
        start(s, fits);
        wait_done(s, fits);
        ck_status(s, fits, "success");
        ck_assert_int_eq(vs_service_start(s, NULL, over, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_CONFLICT);
        snprintf(want, sizeof(want), "job %s asks for more memory than the service may use", over);
        ck_assert_str_eq(err.msg, want);
        ck_status(s, over, "created");
        ck_assert_int_eq(queue_position(s, over), -1);
        start(s, after);
        wait_done(s, after);
        ck_assert_uint_eq(fake_nstarted(), 2);
        ck_assert_str_eq(fake_started(0), "fits");
        ck_assert_str_eq(fake_started(1), "after");
        ck_status(s, over, "created");
        svc_close(s);
}
END_TEST

/* docs/api.md: after a restart with a smaller --memory-budget, a queued job
 * that no longer fits is marked error rather than blocking the queue; the
 * jobs behind it run. */
START_TEST(restart_with_smaller_budget)
{
        vs_service *s = svc_open(1, 8ull << 30);
        char a[13], big[13], small[13];
        json_t *rec;

        JOB(s, "a", a, "block");
        job_with_memory(s, "big", "2G", big, (const char *const[]){ "out:big\n", NULL });
        JOB(s, "small", small, "out:small\n");
        start(s, a);
        fake_wait_blocked(1);
        start(s, big);
        start(s, small);
        vs_service_drain(s, 0); /* a is cancelled; big and small stay queued */
        vs_service_free(s);

        fake_reset();
        s = svc_open(1, 1ull << 30);
        wait_done(s, small);
        rec = get(s, big);
        ck_assert_str_eq(status_of(rec), "error");
        ck_assert_str_eq(json_string_value(json_object_get(rec, "error")),
                         "the job asks for more memory than --memory-budget");
        json_decref(rec);
        ck_status(s, small, "success");
        ck_assert_uint_eq(fake_nstarted(), 1);
        ck_assert_str_eq(fake_started(0), "small");
        svc_close(s);
}
END_TEST

/* "network": "nat" only where the administrator allowed it. */
START_TEST(network_needs_allow_network)
{
        vs_service_opts o = { .cfg = &cfg, .max_jobs = 1, .memory_budget = 8ull << 30, .max_upload = 1 << 20,
                              .run = fake_run };
        json_t *spec = json_pack("{s:s, s:s, s:[s]}", "tag", "fake:1", "network", "nat", "cmd", "fake");
        vs_service *s = NULL;
        vs_error err = { 0 };
        char id[13];

        ck_assert_msg(vs_service_open(&o, &s, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(vs_service_create(s, NULL, spec, id, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_FORBIDDEN);
        ck_assert_str_eq(err.msg, "network nat is not allowed by this service (vmsandbox serve --allow-network)");
        svc_close(s);
        o.allow_network = true;
        ck_assert_msg(vs_service_open(&o, &s, &err) == 0, "%s", err.msg);
        ck_assert_msg(vs_service_create(s, NULL, spec, id, &err) == 0, "%s", err.msg);
        svc_close(s);
        json_decref(spec);
}
END_TEST

Suite *suite_service(void)
{
        Suite *s = suite_create("service");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, setup, teardown);
        limits_tests(tc);
        tcase_add_test(tc, fifo_order_and_queue_position);
        tcase_add_test(tc, memory_budget_keeps_fifo);
        tcase_add_test(tc, cancel_in_every_state);
        tcase_add_test(tc, delete_removes_everything);
        tcase_add_test(tc, parallel_delete_of_running_job);
        tcase_add_test(tc, follow_of_created_job_sleeps);
        tcase_add_test(tc, follow_of_short_log_ends);
        tcase_add_test(tc, non_utf8_output_keeps_record);
        tcase_add_test(tc, line_cap_splits_at_character);
        tcase_add_test(tc, guest_run_error_is_job_error);
        tcase_add_test(tc, restart_requeues_and_marks_lost);
        tcase_add_test(tc, expire_removes_old_finished_jobs);
        tcase_add_test(tc, max_disk_refused_at_create);
        tcase_add_test(tc, owners_see_their_own_jobs);
        tcase_add_test(tc, paths_below_allowed_roots);
        tcase_add_test(tc, workspace_upload_hard_link_refused);
        tcase_add_test(tc, network_needs_allow_network);
        suite_add_tcase(s, tc);
        tc = tcase_create("budget");
        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, memory_budget_queues_with_free_workers);
        tcase_add_test(tc, job_larger_than_budget_refused);
        tcase_add_test(tc, restart_with_smaller_budget);
        suite_add_tcase(s, tc);
        return s;
}

/* ---- limits: quotas, expiry of created jobs, the log's tail, the lock of a GET ---- */
/* (one block; registered by limits_tests() from suite_service) */

static vs_service *svc_open_with(vs_service_opts o)
{
        vs_error err = { 0 };
        vs_service *s = NULL;

        o.cfg = &cfg;
        o.max_jobs = o.max_jobs ? o.max_jobs : 1;
        o.memory_budget = 8ull << 30;
        o.max_upload = o.max_upload ? o.max_upload : 1 << 20;
        o.run = fake_run;
        ck_assert_msg(vs_service_open(&o, &s, &err) == 0, "%s", err.msg);
        return s;
}

static void owned_job(vs_service *s, const char *owner, const char *name, char id[13], const char *op)
{
        json_t *spec = json_pack("{s:s, s:s, s:{s:s}, s:[s, s]}", "tag", "fake:1", "memory", "256M", "env", "NAME", name,
                                 "cmd", "fake", op);
        vs_error err = { 0 };

        ck_assert_msg(vs_service_create(s, owner, spec, id, &err) == 0, "%s", err.msg);
        json_decref(spec);
}

/* Bytes of the regular files below path (what the accounts must say). */
static uint64_t du(const char *path)
{
        uint64_t bytes = 0, entries = 0;
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return 0;
        ck_assert_int_eq(vs_tree_size_fd(fd, 100000, &bytes, &entries, NULL), 0);
        close(fd);
        return bytes;
}

static uint64_t usage_bytes(vs_service *s, const char *owner, unsigned *ret_jobs)
{
        unsigned jobs;
        uint64_t bytes;

        vs_service_usage(s, owner, &jobs, &bytes);
        if (ret_jobs)
                *ret_jobs = jobs;
        return bytes;
}

#define OWNER_A "aaaaaaaaaaaa"
#define OWNER_B "bbbbbbbbbbbb"

/* One tenant could store any number of jobs and fill the whole queue. */
START_TEST(owner_job_and_queue_quotas)
{
        vs_service *s = svc_open_with((vs_service_opts){ .owner_jobs = 4, .owner_queued = 2 });
        json_t *spec = json_pack("{s:s}", "tag", "fake:1");
        char a[4][13], b[13], id[13];
        vs_error err = { 0 };
        unsigned jobs;

        owned_job(s, OWNER_A, "a0", a[0], "block");
        for (int i = 1; i < 4; i++)
                owned_job(s, OWNER_A, "a", a[i], "out:x\n");
        ck_assert_int_eq(vs_service_create(s, OWNER_A, spec, id, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_LIMIT);
        ck_assert_str_eq(err.msg, "client " OWNER_A " already has 4 jobs (--owner-jobs): delete some first");
        ck_assert_str_eq(vs_error_kind_name(err.kind), "too_many");
        owned_job(s, OWNER_B, "b", b, "out:x\n"); /* another owner's own count */
        usage_bytes(s, OWNER_A, &jobs);
        ck_assert_uint_eq(jobs, 4);

        ck_assert_int_eq(vs_service_start(s, OWNER_A, a[0], &err), 0);
        fake_wait_blocked(1);
        ck_assert_int_eq(vs_service_start(s, OWNER_A, a[1], &err), 0);
        ck_assert_int_eq(vs_service_start(s, OWNER_A, a[2], &err), 0);
        ck_assert_int_eq(vs_service_start(s, OWNER_A, a[3], &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_LIMIT);
        ck_assert_str_eq(err.msg, "client " OWNER_A " already has 2 jobs queued (--owner-queued)");
        /* The admin starting it counts for the job's owner too. */
        ck_assert_int_eq(vs_service_start(s, NULL, a[3], &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_LIMIT);
        ck_assert_int_eq(vs_service_start(s, OWNER_B, b, &err), 0);
        ck_status(s, a[3], "created");

        /* A deleted job gives both places back. */
        ck_assert_int_eq(vs_service_delete(s, OWNER_A, a[1], &err), 0);
        ck_assert_int_eq(vs_service_start(s, OWNER_A, a[3], &err), 0);
        ck_assert_int_eq(vs_service_create(s, OWNER_A, spec, id, &err), 0);
        usage_bytes(s, OWNER_A, &jobs);
        ck_assert_uint_eq(jobs, 4);
        json_decref(spec);
        svc_close(s);
}
END_TEST

/* Uploads count as they stream, against the owner's quota and the
 * service's budget; what is not kept is given back; a job's bytes are its
 * files, measured again when it changes. */
START_TEST(state_budget_counts_uploads)
{
        vs_service *s = svc_open_with((vs_service_opts){ .max_state = 2 << 20, .owner_state = 600 << 10 });
        char id[13], dir[256], want[300], a1[32], a2[32], chunk[100 << 10];
        vs_error err = { 0 };
        struct stat st;
        vs_upload *u;
        uint64_t base;
        unsigned jobs;
        int i;

        memset(chunk, 'z', sizeof(chunk));
        owned_job(s, OWNER_A, "up", id, "out:x\n");
        job_dir(id, dir, sizeof(dir));
        base = du(dir);
        ck_assert_uint_gt(base, 100);
        ck_assert_uint_eq(usage_bytes(s, OWNER_A, &jobs), base);
        ck_assert_uint_eq(jobs, 1);
        ck_assert_uint_eq(usage_bytes(s, NULL, NULL), base);

        /* A declared length that cannot fit: refused before a byte. */
        ck_assert_int_eq(vs_service_upload_begin(s, OWNER_A, id, "workspace", 700 << 10, &u, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_NO_SPACE);
        snprintf(want, sizeof(want), "client " OWNER_A " would store %s, over its --owner-state 600K",
                 vs_format_size(base + (700 << 10), a1, sizeof(a1)));
        ck_assert_str_eq(err.msg, want);

        ck_assert_int_eq(vs_service_upload_begin(s, OWNER_A, id, "workspace", 0, &u, &err), 0);
        for (i = 0; i < 10; i++) {
                if (vs_service_upload_write(s, u, chunk, sizeof(chunk), &err) < 0)
                        break;
                ck_assert_uint_eq(usage_bytes(s, OWNER_A, NULL), base + (uint64_t)(i + 1) * sizeof(chunk));
        }
        ck_assert_int_eq(i, 5); /* 6 x 100K would pass 600K */
        ck_assert_int_eq(err.kind, VS_ERR_NO_SPACE);
        snprintf(want, sizeof(want), "client " OWNER_A " would store %s, over its --owner-state 600K",
                 vs_format_size(base + 6 * sizeof(chunk), a2, sizeof(a2)));
        ck_assert_str_eq(err.msg, want);
        ck_assert_uint_eq(vs_service_upload_bytes(u), 5 * sizeof(chunk));
        vs_service_upload_abort(s, u);
        ck_assert_uint_eq(usage_bytes(s, OWNER_A, NULL), base);
        ck_assert_uint_eq(du(dir), base); /* the temp file is gone */

        /* A kept upload (a valid, empty tar) is the job's from now on. */
        ck_assert_int_eq(vs_service_upload_begin(s, OWNER_A, id, "workspace", 0, &u, &err), 0);
        memset(chunk, 0, 1024);
        ck_assert_int_eq(vs_service_upload_write(s, u, chunk, 1024, &err), 0);
        ck_assert_msg(vs_service_upload_end(s, u, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(usage_bytes(s, OWNER_A, NULL), du(dir));
        snprintf(want, sizeof(want), "%s/job.json", dir);
        ck_assert_int_eq(stat(want, &st), 0);
        ck_assert_uint_eq(du(dir), (uint64_t)st.st_size + 1024); /* job.json and workspace.tar */

        /* The service's budget counts every owner. */
        ck_assert_int_eq(vs_service_upload_begin(s, OWNER_B, id, "image", 0, &u, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND); /* not B's job */
        ck_assert_int_eq(vs_service_delete(s, OWNER_A, id, &err), 0);
        ck_assert_uint_eq(usage_bytes(s, OWNER_A, &jobs), 0);
        ck_assert_uint_eq(jobs, 0);
        ck_assert_uint_eq(usage_bytes(s, NULL, &jobs), 0);
        ck_assert_uint_eq(jobs, 0);
        svc_close(s);
}
END_TEST

START_TEST(max_state_refuses_create_and_upload)
{
        vs_service *s = svc_open_with((vs_service_opts){ .max_state = 250 << 10, .owner_state = 1 << 30 });
        json_t *spec = json_pack("{s:s}", "tag", "fake:1");
        char id[13], other[13], chunk[100 << 10];
        vs_error err = { 0 };
        vs_upload *u;
        int i;

        memset(chunk, 'z', sizeof(chunk));
        owned_job(s, OWNER_A, "a", id, "out:x\n");
        owned_job(s, OWNER_B, "b", other, "out:x\n");
        ck_assert_int_eq(vs_service_upload_begin(s, OWNER_B, other, "image", 0, &u, &err), 0);
        for (i = 0; i < 5 && vs_service_upload_write(s, u, chunk, sizeof(chunk), &err) == 0; i++)
                ;
        ck_assert_int_eq(i, 2);
        ck_assert_int_eq(err.kind, VS_ERR_NO_SPACE);
        ck_assert_msg(strstr(err.msg, "over its --max-state 250K") != NULL, "%s", err.msg);
        /* B's upload in flight leaves no room for A's new job either. */
        ck_assert_int_eq(vs_service_create(s, OWNER_A, spec, id, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_NO_SPACE);
        ck_assert_msg(strstr(err.msg, "over its --max-state 250K") != NULL, "%s", err.msg);
        vs_service_upload_abort(s, u);
        ck_assert_int_eq(vs_service_create(s, OWNER_A, spec, id, &err), 0);
        json_decref(spec);
        svc_close(s);
}
END_TEST

/* Created jobs nobody starts were kept for ever (--keep removes finished
 * jobs only). */
START_TEST(created_jobs_expire)
{
        vs_service *s = svc_open_with((vs_service_opts){ .created_ttl_ms = 3600 * 1000 });
        char created[13], ran[13], queued[13], block[13], dir[256];
        vs_error err = { 0 };
        struct stat st;
        json_t *rec;
        int64_t t;

        owned_job(s, NULL, "block", block, "block");
        owned_job(s, NULL, "c", created, "out:x\n");
        owned_job(s, NULL, "r", ran, "out:x\n");
        owned_job(s, NULL, "q", queued, "out:x\n");
        start(s, ran);
        wait_done(s, ran);
        start(s, block);
        fake_wait_blocked(1);
        start(s, queued);
        rec = get(s, queued);
        t = json_integer_value(json_object_get(rec, "created_ms"));
        json_decref(rec);
        rec = get(s, created);
        ck_assert_int_le(json_integer_value(json_object_get(rec, "created_ms")), t);
        t = json_integer_value(json_object_get(rec, "created_ms"));
        json_decref(rec);
        ck_assert_uint_eq(vs_service_expire(s, (uint64_t)t + 3600 * 1000 - 1), 0);
        ck_assert_uint_eq(vs_service_expire(s, (uint64_t)t + 3600 * 1000 + 60000), 1);
        ck_assert_ptr_null(vs_service_get(s, NULL, created, &err));
        job_dir(created, dir, sizeof(dir));
        ck_assert_int_eq(stat(dir, &st), -1);
        /* Started jobs stay, however old (without --keep). */
        ck_assert_uint_eq(vs_service_expire(s, (uint64_t)t + 100ull * 24 * 3600 * 1000), 0);
        ck_status(s, ran, "success");
        ck_status(s, queued, "queued");
        ck_status(s, block, "running");
        svc_close(s);
}
END_TEST

/* The accounts after a restart are what is on disk, outputs included. */
START_TEST(accounts_measured_at_start)
{
        vs_service *s = svc_open_with((vs_service_opts){ 0 });
        char a[13], b[13], root[256];
        unsigned jobs;
        uint64_t bytes;

        owned_job(s, OWNER_A, "a", a, "rep:1000:780a");
        owned_job(s, OWNER_B, "b", b, "out:x\n");
        ck_assert_int_eq(vs_service_start(s, OWNER_A, a, NULL), 0);
        wait_done(s, a);
        snprintf(root, sizeof(root), "%s/server/jobs", state);
        /* Measured by the worker just after the job ended. */
        for (int i = 0; i < 500 && usage_bytes(s, NULL, NULL) != du(root); i++)
                nanosleep(&(struct timespec){ 0, 10 * 1000000 }, NULL);
        bytes = usage_bytes(s, NULL, &jobs);
        ck_assert_uint_eq(jobs, 2);
        ck_assert_uint_eq(bytes, du(root));
        ck_assert_uint_gt(usage_bytes(s, OWNER_A, NULL), 2000); /* output.log */
        svc_close(s);
        s = svc_open_with((vs_service_opts){ 0 });
        ck_assert_uint_eq(usage_bytes(s, NULL, &jobs), bytes);
        ck_assert_uint_eq(jobs, 2);
        usage_bytes(s, OWNER_B, &jobs);
        ck_assert_uint_eq(jobs, 1);
        svc_close(s);
}
END_TEST

static json_t *tail(vs_service *s, const char *id, size_t n)
{
        vs_error err = { 0 };
        json_t *t = vs_service_log_tail(s, NULL, id, n, &err);

        ck_assert_msg(t != NULL, "%s", err.msg);
        return t;
}

/* The last lines, read from the end: across 64 KiB blocks, long lines cut
 * at 4096 bytes, a last line without \n, empty lines kept. */
START_TEST(log_tail_reads_from_the_end)
{
        vs_service *s = svc_open_with((vs_service_opts){ 0 });
        const char *ops[44];
        char id[13], nl[13], empty[13], a4096[4097];
        json_t *t;
        int k = 0;

        for (int i = 0; i < 20; i++) {
                ops[k++] = "rep:5000:61";
                ops[k++] = "out:\n";
        }
        ops[k++] = "rep:3:620a";
        ops[k++] = "out:c";
        ops[k] = NULL;
        job_with_memory(s, "t", "256M", id, ops);
        JOB(s, "nl", nl, "out:x\n\n");
        JOB(s, "empty", empty, "exit:0");
        start(s, id);
        start(s, nl);
        start(s, empty);
        wait_done(s, id);
        wait_done(s, nl);
        wait_done(s, empty);
        memset(a4096, 'a', 4096);
        a4096[4096] = '\0';

        t = tail(s, id, 5);
        ck_assert_uint_eq(json_array_size(t), 5);
        ck_assert_str_eq(json_string_value(json_array_get(t, 0)), a4096);
        ck_assert_str_eq(json_string_value(json_array_get(t, 1)), "b");
        ck_assert_str_eq(json_string_value(json_array_get(t, 3)), "b");
        ck_assert_str_eq(json_string_value(json_array_get(t, 4)), "c");
        json_decref(t);
        t = tail(s, id, 1000);
        ck_assert_uint_eq(json_array_size(t), 24);
        ck_assert_str_eq(json_string_value(json_array_get(t, 0)), a4096);
        json_decref(t);
        t = tail(s, id, 0);
        ck_assert_uint_eq(json_array_size(t), 0);
        json_decref(t);
        t = tail(s, nl, 10);
        ck_assert_uint_eq(json_array_size(t), 2);
        ck_assert_str_eq(json_string_value(json_array_get(t, 0)), "x");
        ck_assert_str_eq(json_string_value(json_array_get(t, 1)), "");
        json_decref(t);
        t = tail(s, nl, 1);
        ck_assert_uint_eq(json_array_size(t), 1);
        ck_assert_str_eq(json_string_value(json_array_get(t, 0)), "");
        json_decref(t);
        t = tail(s, empty, 10);
        ck_assert_uint_eq(json_array_size(t), 0);
        json_decref(t);
        svc_close(s);
}
END_TEST

typedef struct {
        vs_service *s;
        const char *id;
        int what; /* 0 get, 1 list, 2 metrics, 3 get/state/create of others */
        bool done;
        pthread_mutex_t *m;
        pthread_cond_t *c;
} call_arg;

static void *call_thread(void *p)
{
        call_arg *a = p;
        vs_error err = { 0 };
        json_t *spec = json_pack("{s:s}", "tag", "fake:1");
        vs_job_state st;
        char id[13];

        switch (a->what) {
        case 0: json_decref(vs_service_get(a->s, NULL, a->id, &err)); break;
        case 1: json_decref(vs_service_list(a->s, NULL, NULL)); break;
        case 2: free(vs_service_metrics(a->s)); break;
        default:
                json_decref(vs_service_get(a->s, NULL, a->id, &err));
                vs_service_state(a->s, NULL, a->id, &st, &err);
                vs_service_create(a->s, NULL, spec, id, &err);
                break;
        }
        json_decref(spec);
        pthread_mutex_lock(a->m);
        a->done = true;
        pthread_cond_broadcast(a->c);
        pthread_mutex_unlock(a->m);
        return NULL;
}

/* A job busy under its own lock (a GET building its megabytes of record,
 * output being appended) used to hold the service's lock hostage: a GET
 * built its record under s->lock, and list and metrics waited for each
 * job's lock while they held it. */
START_TEST(busy_job_stalls_nobody)
{
        vs_service *s = svc_open_with((vs_service_opts){ 0 });
        pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
        pthread_cond_t c = PTHREAD_COND_INITIALIZER;
        char busy[13], other[13];
        call_arg args[4];
        pthread_t t[4];
        struct timespec ts;
        vs_error err = { 0 };
        sjob *j;
        bool others_done;

        owned_job(s, NULL, "busy", busy, "out:x\n");
        owned_job(s, NULL, "other", other, "out:x\n");
        j = job_get(s, NULL, busy, &err);
        ck_assert_ptr_nonnull(j);
        pthread_mutex_lock(&j->lock);
        for (int i = 0; i < 4; i++) {
                args[i] = (call_arg){ s, i < 3 ? busy : other, i, false, &m, &c };
                if (i == 3) /* the others are waiting for the busy job by now */
                        nanosleep(&(struct timespec){ 0, 200 * 1000000 }, NULL);
                pthread_create(&t[i], NULL, call_thread, &args[i]);
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 3;
        pthread_mutex_lock(&m);
        while (!args[3].done && pthread_cond_timedwait(&c, &m, &ts) == 0)
                ;
        others_done = args[3].done;
        ck_assert_int_eq(args[0].done || args[1].done || args[2].done, 0);
        pthread_mutex_unlock(&m);
        pthread_mutex_unlock(&j->lock);
        for (int i = 0; i < 4; i++)
                pthread_join(t[i], NULL);
        job_unref(j);
        ck_assert_msg(others_done, "a request on another job waited for the busy one");
        svc_close(s);
}
END_TEST

static void limits_tests(TCase *tc)
{
        tcase_add_test(tc, owner_job_and_queue_quotas);
        tcase_add_test(tc, state_budget_counts_uploads);
        tcase_add_test(tc, max_state_refuses_create_and_upload);
        tcase_add_test(tc, created_jobs_expire);
        tcase_add_test(tc, accounts_measured_at_start);
        tcase_add_test(tc, log_tail_reads_from_the_end);
        tcase_add_test(tc, busy_job_stalls_nobody);
}
