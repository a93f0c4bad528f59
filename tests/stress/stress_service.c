/* Stress: N client threads hammer one running job with every verb (get,
 * list, cancel, delete, start, wait, log follow, counted follows, log tail,
 * uploads into a created job, metrics, expiry of created jobs) while it
 * streams output, with the fake runner (no VM).  Built for ASan and TSan:
 *
 *   cmake -S . -B build-asan -DVS_SANITIZE=ON && cmake --build build-asan --target stress-service
 *   build-asan/tests/stress-service [ROUNDS] [THREADS]
 *   cmake -S . -B build-tsan -DVS_TSAN=ON && cmake --build build-tsan --target stress-service
 *   build-tsan/tests/stress-service [ROUNDS] [THREADS]
 *
 * Exits 0 when every call answered success or an expected error (not found,
 * conflict, a follow limit) and nothing is left behind, the accounts of jobs
 * and bytes included; the sanitizers fail it otherwise. */
#include "fake_runner.h"
#include "fsutil.h"
#include "service.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPS_PER_THREAD 150

typedef enum {
        V_GET, V_LIST, V_CANCEL, V_DELETE, V_START, V_WAIT, V_FOLLOW, V_RELEASE,
        V_COUNTED, V_TAIL, V_UPLOAD, V_METRICS, V_EXPIRE, V_LAST
} verb;
static const char *const verb_names[V_LAST] = { "get",     "list", "cancel", "delete", "start",   "wait",  "follow",
                                                "release", "counted", "tail", "upload", "metrics", "expire" };

static vs_service *svc;
static char job[13], other[13], spare[13], name[32];
static atomic_ulong counts[V_LAST], unexpected;

static bool expected(const vs_error *err)
{
        return err->kind == VS_ERR_NOT_FOUND || err->kind == VS_ERR_CONFLICT || err->kind == VS_ERR_LIMIT;
}

static void check(int r, const vs_error *err, verb v)
{
        if (r < 0 && !expected(err)) {
                fprintf(stderr, "%s: unexpected error %s: %s\n", verb_names[v], vs_error_kind_name(err->kind), err->msg);
                atomic_fetch_add(&unexpected, 1);
        }
}

static void follow(void)
{
        char buf[4096];
        uint64_t off = 0;
        size_t n;
        bool done = false;
        vs_error err = { 0 };

        for (int i = 0; i < 4 && !done; i++) {
                int r = vs_service_log_read(svc, NULL, job, off, buf, sizeof(buf), true, &n, &done, &err);
                check(r, &err, V_FOLLOW);
                if (r < 0)
                        return;
                off += n;
        }
}

/* A follow as the HTTP layer makes it: counted (per job, per follower). */
static void counted_follow(void)
{
        char buf[4096];
        size_t n;
        bool done = false;
        vs_error err = { 0 };
        vs_follow *f;

        if (vs_service_follow_open(svc, NULL, job, true, &f, &err) < 0) {
                check(-1, &err, V_COUNTED);
                return;
        }
        for (int i = 0; i < 3 && !done; i++)
                vs_service_follow_read(svc, f, buf, sizeof(buf), &n, &done);
        vs_service_follow_close(svc, f);
}

/* An empty tar (two zero blocks) into the created job, kept or dropped. */
static void upload(unsigned x)
{
        static const char zeros[512];
        vs_error err = { 0 };
        vs_upload *u;

        if (vs_service_upload_begin(svc, NULL, x & 1 ? spare : job, "workspace", 1024, &u, &err) < 0) {
                check(-1, &err, V_UPLOAD);
                return;
        }
        for (int i = 0; i < 2; i++)
                check(vs_service_upload_write(svc, u, zeros, sizeof(zeros), &err), &err, V_UPLOAD);
        if (x & 2)
                vs_service_upload_abort(svc, u);
        else
                check(vs_service_upload_end(svc, u, &err), &err, V_UPLOAD);
}

static void do_verb(verb v, unsigned x)
{
        vs_error err = { 0 };
        json_t *j;

        switch (v) {
        case V_GET:
                j = vs_service_get(svc, NULL, job, &err);
                check(j ? 0 : -1, &err, v);
                json_decref(j);
                break;
        case V_LIST:
                json_decref(vs_service_list(svc, NULL, NULL));
                break;
        case V_CANCEL:
                check(vs_service_cancel(svc, NULL, job, &err), &err, v);
                break;
        case V_DELETE:
                check(vs_service_delete(svc, NULL, job, &err), &err, v);
                break;
        case V_START:
                check(vs_service_start(svc, NULL, job, &err), &err, v);
                check(vs_service_start(svc, NULL, other, &err), &err, v);
                break;
        case V_WAIT:
                check(vs_service_wait(svc, NULL, job, 5, &err) < 0 ? -1 : 0, &err, v);
                break;
        case V_FOLLOW:
                follow();
                break;
        case V_RELEASE:
                fake_release(name);
                break;
        case V_COUNTED:
                counted_follow();
                break;
        case V_TAIL:
                j = vs_service_log_tail(svc, NULL, job, 50, &err);
                check(j ? 0 : -1, &err, v);
                json_decref(j);
                break;
        case V_UPLOAD:
                upload(x);
                break;
        case V_METRICS:
                free(vs_service_metrics(svc));
                break;
        case V_EXPIRE:
                vs_service_expire(svc, vs_now_ms());
                break;
        case V_LAST:
                break;
        }
        atomic_fetch_add(&counts[v], 1);
}

static void *client(void *arg)
{
        unsigned seed = (unsigned)(uintptr_t)arg;

        for (int i = 0; i < OPS_PER_THREAD; i++) {
                unsigned x = (unsigned)rand_r(&seed) % 100;
                /* Mostly reads; deletes and cancels rare enough that the job
                 * usually lives through many of them. */
                verb v = x < 20 ? V_GET : x < 30 ? V_LIST : x < 40 ? V_FOLLOW : x < 48 ? V_COUNTED : x < 54 ? V_TAIL
                       : x < 62 ? V_UPLOAD : x < 66 ? V_METRICS : x < 69 ? V_EXPIRE : x < 78 ? V_WAIT
                       : x < 88 ? V_START : x < 94 ? V_CANCEL : x < 97 ? V_RELEASE : V_DELETE;
                do_verb(v, (unsigned)rand_r(&seed));
        }
        return NULL;
}

static void make_job(const char *label, const char *const *ops, char id[13])
{
        json_t *cmd = json_pack("[s]", "fake"), *spec;
        vs_error err = { 0 };

        for (; *ops; ops++)
                json_array_append_new(cmd, json_string(*ops));
        spec = json_pack("{s:s, s:s, s:{s:s}, s:o}", "tag", "fake:1", "memory", "256M", "env", "NAME", label, "cmd", cmd);
        if (vs_service_create(svc, NULL, spec, id, &err) < 0) {
                fprintf(stderr, "create: %s\n", err.msg);
                exit(1);
        }
        json_decref(spec);
}

int main(int argc, char **argv)
{
        int rounds = argc > 1 ? atoi(argv[1]) : 10, nthreads = argc > 2 ? atoi(argv[2]) : 8;
        char state[] = "/tmp/vs-stress-XXXXXX";
        vs_config cfg = { .state_dir = state };
        /* Created jobs expire after 300 ms: expiry races every verb. */
        vs_service_opts o = { .cfg = &cfg, .max_jobs = 2, .memory_budget = 4ull << 30, .max_upload = 1 << 20,
                              .created_ttl_ms = 300, .run = fake_run };
        pthread_t *t = calloc((size_t)nthreads, sizeof(*t));
        vs_error err = { 0 };
        json_t *left;
        size_t nleft;
        unsigned jobs_counted;
        uint64_t bytes_counted;

        if (!mkdtemp(state) || vs_service_open(&o, &svc, &err) < 0) {
                fprintf(stderr, "setup: %s\n", err.msg);
                return 1;
        }
        for (int r = 0; r < rounds; r++) {
                snprintf(name, sizeof(name), "round%d", r);
                make_job(name, (const char *const[]){ "rep:300:6f75742d6c696e650a", "block", "rep:300:6d6f72650a", NULL }, job);
                make_job("other", (const char *const[]){ "out:x\n", NULL }, other);
                make_job("spare", (const char *const[]){ "out:x\n", NULL }, spare);
                vs_service_start(svc, NULL, job, &err);
                for (int i = 0; i < nthreads; i++)
                        pthread_create(&t[i], NULL, client, (void *)(uintptr_t)(r * 1000 + i + 1));
                for (int i = 0; i < nthreads; i++)
                        pthread_join(t[i], NULL);
                fake_release(name);
                vs_service_delete(svc, NULL, job, &err);
                vs_service_wait(svc, NULL, other, 60000, &err);
                vs_service_delete(svc, NULL, other, &err);
                vs_service_delete(svc, NULL, spare, &err);
        }
        left = vs_service_list(svc, NULL, NULL);
        nleft = json_array_size(left);
        json_decref(left);
        vs_service_usage(svc, NULL, &jobs_counted, &bytes_counted);
        vs_service_drain(svc, 0);
        vs_service_free(svc);
        for (verb v = 0; v < V_LAST; v++)
                printf("%s=%lu ", verb_names[v], atomic_load(&counts[v]));
        printf("\nrounds=%d threads=%d unexpected=%lu jobs_left=%zu runner_running=%zu counted: jobs=%u bytes=%llu\n",
               rounds, nthreads, atomic_load(&unexpected), nleft, fake_running(), jobs_counted,
               (unsigned long long)bytes_counted);
        vs_rm_rf(state);
        free(t);
        fake_reset();
        return unexpected == 0 && nleft == 0 && fake_running() == 0 && jobs_counted == 0 && bytes_counted == 0 ? 0 : 1;
}
