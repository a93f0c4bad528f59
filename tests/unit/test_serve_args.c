/* The flags of `vmsandbox serve` (src/cli/cmd_serve.c): what
 * cli_parse_serve_args allocates, cli_serve_args_clear frees. */
#include "cli.h"
#include "tests.h"

#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmd_serve.c's cmd_serve reports through cli_fail, which lives in
 * src/cli/main.c beside main(): a stand-in for the link. */
int cli_fail(const vs_error *err)
{
        (void)err;
        return 1;
}

/* The Docker sockets' paths and tenants are copies (argv stays as given):
 * clear frees them and leaves nothing behind (a leak LeakSanitizer showed
 * in scripts/soak-fake under ASan: soak-serve exited 1). */
START_TEST(serve_args_clear_frees_docker_sockets)
{
        char *argv[] = { "serve", "--docker-socket", "/tmp/vs-x.sock:t1", "--docker-socket", "/tmp/vs-y.sock",
                         "--state-dir", "/tmp/vs-serve-args", NULL };
        cli_serve_args a;

        optind = 0;
        ck_assert_int_eq(cli_parse_serve_args(7, argv, &a), 0);
        ck_assert_uint_eq(a.o.ndocker, 2);
        ck_assert_ptr_eq(a.o.docker, a.docker);
        ck_assert_str_eq(a.docker[0].path, "/tmp/vs-x.sock");
        ck_assert_str_eq(a.docker[0].tenant, "t1");
        ck_assert_str_eq(a.docker[1].path, "/tmp/vs-y.sock");
        ck_assert_ptr_null(a.docker[1].tenant);
        cli_serve_args_clear(&a);
        ck_assert_uint_eq(a.o.ndocker, 0);
        ck_assert_ptr_null(a.docker[0].path);
        ck_assert_ptr_null(a.docker[0].tenant);
        ck_assert_ptr_null(a.docker[1].path);
}
END_TEST

/* A state dir QEMU's user cannot reach stops serve at start, and nothing is
 * made there (before, serve made it 0700 and every job failed at boot). */
START_TEST(serve_refuses_unreachable_state_dir)
{
        char dir[] = "/tmp/vs-serve-state-XXXXXX", state[64], sock[64];
        struct stat st;

        if (geteuid() != 0 || !getpwnam("libvirt-qemu"))
                return; /* the check runs as QEMU's user: root, with libvirt installed (CI) */
        ck_assert_ptr_nonnull(mkdtemp(dir)); /* 0700 */
        snprintf(state, sizeof(state), "%s/state", dir);
        snprintf(sock, sizeof(sock), "%s/d.sock", dir);
        char *argv[] = { "serve", "--docker-socket", sock, "--state-dir", state, NULL };
        optind = 0;
        ck_assert_int_eq(cmd_serve(5, argv), 1);
        ck_assert_int_eq(stat(state, &st), -1);
        ck_assert_int_eq(stat(sock, &st), -1);
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

Suite *suite_serve_args(void)
{
        Suite *s = suite_create("serve_args");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, serve_args_clear_frees_docker_sockets);
        tcase_add_test(tc, serve_refuses_unreachable_state_dir);
        suite_add_tcase(s, tc);
        return s;
}
