/* Job directories: modes, locks, and gc of what a dead owner left. */
#include "fsutil.h"
#include "gc.h"
#include "jobdir.h"
#include "qemuaccess.h"
#include "tests.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char state[] = "/tmp/vs-jd-XXXXXX";

static void setup(void)
{
        ck_assert_ptr_nonnull(mkdtemp(state));
}

static void teardown(void)
{
        vs_rm_rf(state);
        strcpy(state, "/tmp/vs-jd-XXXXXX");
}

static mode_t mode_of(const char *p)
{
        struct stat st;

        ck_assert_int_eq(lstat(p, &st), 0);
        return st.st_mode & 07777;
}

START_TEST(create_modes_and_remove)
{
        vs_jobdir d;
        vs_error err = { 0 };
        char p[512];
        mode_t old = umask(077); /* as in main(): the x bits must survive it */

        ck_assert_int_eq(vs_jobdir_create(state, "0123456789ab", &d, &err), 0);
        umask(old);
        snprintf(p, sizeof(p), "%s/jobs", state);
        ck_assert_uint_eq(mode_of(p), 0711);
        ck_assert_uint_eq(mode_of(d.dir), 0711);
        snprintf(p, sizeof(p), "%s/lock", d.dir);
        ck_assert_uint_eq(mode_of(p), 0600);
        ck_assert_int_ge(d.lock_fd, 0);
        snprintf(p, sizeof(p), "%s", d.dir);
        vs_jobdir_remove(&d);
        ck_assert_int_eq(access(p, F_OK), -1);
        ck_assert_int_eq(errno, ENOENT);
        ck_assert_int_eq(d.lock_fd, -1);
}
END_TEST

/* A live job's directory survives gc; a dead owner's goes, whatever it holds. */
START_TEST(gc_removes_only_dead_owners)
{
        vs_jobdir live;
        vs_error err = { 0 };
        vs_gc_stats st;
        char p[512];
        int fd;

        ck_assert_int_eq(vs_jobdir_create(state, "aaaaaaaaaaaa", &live, &err), 0);
        /* What a SIGKILLed run leaves: the directory, its lock (now free), files. */
        snprintf(p, sizeof(p), "%s/jobs/bbbbbbbbbbbb", state);
        ck_assert_int_eq(mkdir(p, 0711), 0);
        snprintf(p, sizeof(p), "%s/jobs/bbbbbbbbbbbb/lock", state);
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        close(fd);
        snprintf(p, sizeof(p), "%s/jobs/bbbbbbbbbbbb/job.img", state);
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        close(fd);

        ck_assert_int_eq(vs_gc(NULL, state, &st, &err), 0);
        ck_assert_uint_eq(st.dirs, 1);
        ck_assert_uint_eq(st.domains, 0);
        ck_assert_uint_eq(st.failed, 0);
        snprintf(p, sizeof(p), "%s/jobs/bbbbbbbbbbbb", state);
        ck_assert_int_eq(access(p, F_OK), -1);
        ck_assert_int_eq(access(live.dir, F_OK), 0);

        ck_assert_int_eq(vs_gc(NULL, state, &st, &err), 0);
        ck_assert_uint_eq(st.dirs, 0);
        vs_jobdir_remove(&live);
}
END_TEST

/* A state dir below a 0700 directory (what mktemp -d makes) is refused with
 * that directory named; once it is 0711, accepted.  Needs root and the
 * libvirt-qemu user (as on the hosts vmsandbox runs on); else skipped. */
START_TEST(qemu_access_names_the_blocking_dir)
{
        vs_error err = { 0 };
        char sub[512], want[600];

        if (geteuid() != 0 || !getpwnam(VS_QEMU_USER))
                return;
        ck_assert_int_eq(chmod(state, 0700), 0);
        snprintf(sub, sizeof(sub), "%s/state/not-yet", state);
        ck_assert_int_eq(vs_check_qemu_access("--state-dir", sub, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_SETUP);
        snprintf(want, sizeof(want), "%s is mode 0700", state);
        ck_assert_ptr_nonnull(strstr(err.msg, want));
        snprintf(want, sizeof(want), "fix: chmod o+x %s ", state);
        ck_assert_ptr_nonnull(strstr(err.msg, want));
        ck_assert_int_eq(chmod(state, 0711), 0);
        ck_assert_int_eq(vs_check_qemu_access("--state-dir", sub, &err), 0);
}
END_TEST

/* Two owners create job directories while each create's gc_stale runs: a
 * live directory is never taken for a dead owner's (it used to be, in the
 * window between creating its lock and flock-ing it). */
#define RACE_ROUNDS 1500

static void *create_many(void *arg)
{
        char id[13];
        uintptr_t lost = 0;

        for (int i = 0; i < RACE_ROUNDS; i++) {
                vs_jobdir d;
                vs_error err = { 0 };

                snprintf(id, sizeof(id), "%c%011d", (char)(uintptr_t)arg, i);
                if (vs_jobdir_create(state, id, &d, &err) < 0)
                        return (void *)(uintptr_t)-1;
                /* a moment of life, as a job's prepare would have */
                for (volatile int k = 0; k < 2000; k++)
                        ;
                if (access(d.dir, F_OK) < 0 || access(d.job_disk, F_OK) == 0)
                        lost++;
                vs_jobdir_remove(&d);
        }
        return (void *)lost;
}

START_TEST(concurrent_create_never_collected)
{
        pthread_t a, b;
        void *la, *lb;

        ck_assert_int_eq(pthread_create(&a, NULL, create_many, (void *)(uintptr_t)'a'), 0);
        ck_assert_int_eq(pthread_create(&b, NULL, create_many, (void *)(uintptr_t)'b'), 0);
        pthread_join(a, &la);
        pthread_join(b, &lb);
        ck_assert_uint_eq((uintptr_t)la, 0);
        ck_assert_uint_eq((uintptr_t)lb, 0);
}
END_TEST

/* What a set-up that crashed before its rename left: removed once old. */
START_TEST(gc_removes_old_tmp_only)
{
        char p[512], q[512];
        struct timespec old[2] = { { .tv_sec = 1 }, { .tv_sec = 1 } };
        vs_jobdir live;
        vs_error err = { 0 };

        ck_assert_int_eq(vs_jobdir_create(state, "aaaaaaaaaaaa", &live, &err), 0);
        snprintf(p, sizeof(p), "%s/jobs/.tmp-bbbbbbbbbbbb", state);
        snprintf(q, sizeof(q), "%s/jobs/.tmp-cccccccccccc", state);
        ck_assert_int_eq(mkdir(p, 0700), 0);
        ck_assert_int_eq(mkdir(q, 0700), 0);
        ck_assert_int_eq(utimensat(AT_FDCWD, p, old, 0), 0);
        vs_jobdir_gc(state);
        ck_assert_int_eq(access(p, F_OK), -1);
        ck_assert_int_eq(access(q, F_OK), 0); /* young: maybe being set up */
        ck_assert_int_eq(access(live.dir, F_OK), 0);
        vs_jobdir_remove(&live);
}
END_TEST

Suite *suite_jobdir(void)
{
        Suite *s = suite_create("jobdir");
        TCase *tc = tcase_create("jobdir");

        tcase_add_checked_fixture(tc, setup, teardown);
        /* the race test makes 3000 directories: slow on a loaded machine */
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, create_modes_and_remove);
        tcase_add_test(tc, gc_removes_only_dead_owners);
        tcase_add_test(tc, concurrent_create_never_collected);
        tcase_add_test(tc, gc_removes_old_tmp_only);
        tcase_add_test(tc, qemu_access_names_the_blocking_dir);
        suite_add_tcase(s, tc);
        return s;
}
