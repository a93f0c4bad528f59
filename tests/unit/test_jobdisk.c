/* The agent's wait for a hot-plugged job disk (agent/jobdisk.c), without a
 * VM: its bound from the kernel command line, a node that appears late, one
 * that never does, and one of the wrong kind. */
#include "agent.h"
#include "clock.h"
#include "io.h"
#include "protocol.h"
#include "tests.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(wait_bound_from_cmdline)
{
        ck_assert_uint_eq(jobdisk_wait_ms("root=/dev/vda rw init=/x " VS_CMDLINE_DISK_WAIT "=42"), 42000);
        ck_assert_uint_eq(jobdisk_wait_ms(VS_CMDLINE_DISK_WAIT "=7 quiet\n"), 7000);
        ck_assert_uint_eq(jobdisk_wait_ms(VS_CMDLINE_DISK_WAIT "=0"), 0);
        /* The last one counts, a bad one too (then the default). */
        ck_assert_uint_eq(jobdisk_wait_ms(VS_CMDLINE_DISK_WAIT "=5 " VS_CMDLINE_DISK_WAIT "=9"), 9000);
        ck_assert_uint_eq(jobdisk_wait_ms(VS_CMDLINE_DISK_WAIT "=5 " VS_CMDLINE_DISK_WAIT "=9x"), JOBDISK_WAIT_DEFAULT_MS);
        /* Absent, not a whole word, or not a number: the default. */
        ck_assert_uint_eq(jobdisk_wait_ms("root=/dev/vda"), JOBDISK_WAIT_DEFAULT_MS);
        ck_assert_uint_eq(jobdisk_wait_ms(""), JOBDISK_WAIT_DEFAULT_MS);
        ck_assert_uint_eq(jobdisk_wait_ms("x" VS_CMDLINE_DISK_WAIT "=3"), JOBDISK_WAIT_DEFAULT_MS);
        ck_assert_uint_eq(jobdisk_wait_ms(VS_CMDLINE_DISK_WAIT "=-3"), JOBDISK_WAIT_DEFAULT_MS);
        ck_assert_uint_eq(jobdisk_wait_ms(VS_CMDLINE_DISK_WAIT "="), JOBDISK_WAIT_DEFAULT_MS);
        /* Capped (a huge value cannot overflow into a short wait). */
        ck_assert_uint_eq(jobdisk_wait_ms(VS_CMDLINE_DISK_WAIT "=18446744073709551615"), JOBDISK_WAIT_MAX_MS);
        ck_assert_uint_eq(jobdisk_wait_ms(VS_CMDLINE_DISK_WAIT "=99999999999999999999"), JOBDISK_WAIT_DEFAULT_MS);
}
END_TEST

START_TEST(net_from_cmdline)
{
        bool nat = true;

        ck_assert_int_eq(jobdisk_net("root=/dev/vda " VS_CMDLINE_NET "=none quiet", &nat), 1);
        ck_assert(!nat);
        ck_assert_int_eq(jobdisk_net(VS_CMDLINE_NET "=none " VS_CMDLINE_NET "=nat\n", &nat), 1);
        ck_assert(nat);
        /* Absent or anything else: not known (the agent then waits for the
         * spec before it starts the engine). */
        nat = true;
        ck_assert_int_eq(jobdisk_net("root=/dev/vda", &nat), 0);
        ck_assert_int_eq(jobdisk_net(VS_CMDLINE_NET "=nats", &nat), 0);
        ck_assert_int_eq(jobdisk_net(VS_CMDLINE_NET "=", &nat), 0);
        ck_assert_int_eq(jobdisk_net("x" VS_CMDLINE_NET "=nat", &nat), 0);
        ck_assert_int_eq(jobdisk_net(VS_CMDLINE_NET "x=nat", &nat), 0);
        ck_assert(nat); /* untouched */
}
END_TEST

static char *scratch_path(char dir[64])
{
        char *p = NULL;

        strcpy(dir, "/tmp/vs-test-jobdisk-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_ge(asprintf(&p, "%s/vdb", dir), 0);
        return p;
}

START_TEST(wait_sees_a_late_node)
{
        char dir[64];
        char *path = scratch_path(dir);
        vs_error err = { 0 };
        uint64_t waited = 0;
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                usleep(300 * 1000);
                _exit(open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600) < 0);
        }
        ck_assert_msg(jobdisk_wait(path, S_IFREG, 10000, &waited, &err) == 0, "%s", err.msg);
        ck_assert_uint_ge(waited, 250);
        ck_assert_uint_lt(waited, 3000);
        waitpid(pid, NULL, 0);
        /* There at once: no wait. */
        ck_assert_int_eq(jobdisk_wait(path, S_IFREG, 0, &waited, &err), 0);
        ck_assert_uint_lt(waited, JOBDISK_POLL_MS);
        /* There, but not of the kind asked for. */
        ck_assert_int_eq(jobdisk_wait(path, S_IFBLK, 1000, NULL, &err), -1);
        ck_assert_str_eq(err.msg + strlen(dir), "/vdb is there but not the job disk's kind of file");
        unlink(path);
        rmdir(dir);
        free(path);
}
END_TEST

START_TEST(wait_gives_up_at_its_bound)
{
        char dir[64];
        char *path = scratch_path(dir);
        vs_error err = { 0 };
        uint64_t t0 = vs_mono_ms(), took;

        ck_assert_int_eq(jobdisk_wait(path, S_IFBLK, 2000, NULL, &err), -1);
        took = vs_mono_ms() - t0;
        ck_assert_uint_ge(took, 2000);
        ck_assert_uint_lt(took, 2000 + 3 * JOBDISK_POLL_MS + 500);
        ck_assert_str_eq(err.msg + strlen("the job disk ") + strlen(dir), "/vdb did not come within 2 s (the host did not attach it)");
        ck_assert_int_eq(strncmp(err.msg, "the job disk ", 13), 0);
        rmdir(dir);
        free(path);
}
END_TEST

/* dockerd.log from before the disk: its last max bytes onto the disk. */
START_TEST(copy_tail_keeps_the_end)
{
        char dir[64];
        char *path = scratch_path(dir), *dest = NULL, *got = NULL;
        vs_error err = { 0 };
        size_t len = 0;
        int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

        ck_assert_int_ge(asprintf(&dest, "%s/dest.log", dir), 0);
        ck_assert_int_eq(vs_write_file_atomic(path, "0123456789", 10, 0600, &err), 0);
        ck_assert_int_eq(jobdisk_copy_tail(dfd, "vdb", dest, 4, &err), 0);
        ck_assert_int_eq(vs_read_file(dest, 100, &got, &len, &err), 0);
        ck_assert_uint_eq(len, 4);
        ck_assert_str_eq(got, "6789");
        free(got);
        ck_assert_int_eq(jobdisk_copy_tail(dfd, "vdb", dest, 100, &err), 0);
        ck_assert_int_eq(vs_read_file(dest, 100, &got, &len, &err), 0);
        ck_assert_str_eq(got, "0123456789");
        free(got);
        /* No log: nothing to do, dest untouched. */
        ck_assert_int_eq(jobdisk_copy_tail(dfd, "absent", dest, 100, &err), 0);
        ck_assert_int_eq(vs_read_file(dest, 100, &got, &len, &err), 0);
        ck_assert_str_eq(got, "0123456789");
        free(got);
        close(dfd);
        unlink(dest);
        unlink(path);
        rmdir(dir);
        free(dest);
        free(path);
}
END_TEST

Suite *suite_jobdisk(void)
{
        Suite *s = suite_create("jobdisk");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, wait_bound_from_cmdline);
        tcase_add_test(tc, net_from_cmdline);
        tcase_add_test(tc, copy_tail_keeps_the_end);
        tcase_add_test(tc, wait_sees_a_late_node);
        tcase_add_test(tc, wait_gives_up_at_its_bound);
        suite_add_tcase(s, tc);
        return s;
}
