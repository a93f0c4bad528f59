/* The job's inputs as vs_job_run opens them in validate, before any VM or
 * libvirt: paths below an allowed root (the service's --allow-root) never
 * follow a symlink, and an image that is not a regular file (a FIFO would
 * block the open forever) is refused at once. */
#include "tests.h"
#include "fsutil.h"
#include "pipeline.h"
#include "preload.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char *root, *state;

static void setup(void)
{
        snprintf(dir, sizeof(dir), "/tmp/vs-inputs-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_ne(asprintf(&root, "%s/root", dir), -1);
        ck_assert_int_ne(asprintf(&state, "%s/state", dir), -1);
        ck_assert_int_eq(mkdir(root, 0700), 0);
        ck_assert_int_eq(mkdir(state, 0700), 0);
}

static void teardown(void)
{
        vs_rm_rf(dir);
        free(root);
        free(state);
}

static char *at(const char *name)
{
        char *p;

        ck_assert_int_ne(asprintf(&p, "%s/%s", root, name), -1);
        return p;
}

/* Runs a job of image (and workspace) with the given roots; returns the
 * error kind (the run must fail in validate) and its message in msg. */
static vs_error_kind run(const char *image, const char *workspace, bool roots, char *msg, size_t len)
{
        vs_config cfg = { .uri = (char *)"test:///nonexistent", .image = (char *)"/nonexistent", .state_dir = state };
        vs_run_opts opts = { .log_limit = 1 << 20 };
        vs_spec spec;
        vs_error err = { 0 };
        json_t *result = NULL;
        int r;

        vs_spec_init(&spec);
        spec.image = strdup(image);
        spec.workspace = workspace ? strdup(workspace) : NULL;
        if (roots) {
                opts.image_root = root;
                opts.workspace_root = root;
        }
        r = vs_job_run(&cfg, &spec, &opts, &result, &err);
        ck_assert_int_lt(r, 0);
        snprintf(msg, len, "%.*s", (int)(len - 1), err.msg);
        json_decref(result);
        vs_spec_clear(&spec);
        return err.kind;
}

START_TEST(fifo_image_refused_without_blocking)
{
        char *fifo = at("pipe.tar"), msg[1024];

        ck_assert_int_eq(mkfifo(fifo, 0600), 0);
        /* Check's per-test timeout fails this if the open blocks. */
        ck_assert_int_eq(run(fifo, NULL, false, msg, sizeof(msg)), VS_ERR_INPUT);
        ck_assert_msg(strstr(msg, "is not a regular file"), "%s", msg);
        ck_assert_int_eq(run(fifo, NULL, true, msg, sizeof(msg)), VS_ERR_INPUT);
        ck_assert_msg(strstr(msg, "is not a regular file"), "%s", msg);
        free(fifo);
}
END_TEST

/* A workspace (or image) that became a symlink to a host directory since
 * the service checked it is refused below the root: nothing of /etc is
 * walked or read. */
START_TEST(symlink_below_root_refused)
{
        char *ws = at("ws"), *img = at("img.tar"), *real = at("real.tar"), msg[1024];
        int fd;

        ck_assert_int_eq(symlink("/etc", ws), 0);
        fd = open(real, O_WRONLY | O_CREAT | O_EXCL, 0600);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(symlink(real, img), 0);
        ck_assert_int_eq(run(real, ws, true, msg, sizeof(msg)), VS_ERR_FORBIDDEN);
        ck_assert_msg(strstr(msg, "ws") && strstr(msg, "symlink"), "%s", msg);
        ck_assert_int_eq(run(img, NULL, true, msg, sizeof(msg)), VS_ERR_FORBIDDEN);
        ck_assert_msg(strstr(msg, "symlink"), "%s", msg);
        /* ".." out of the root, spelled with the root's own prefix */
        free(ws);
        ck_assert_int_ne(asprintf(&ws, "%s/../", root), -1);
        ck_assert_int_eq(run(real, ws, true, msg, sizeof(msg)), VS_ERR_FORBIDDEN);
        /* without a root (the CLI) the user's own symlink is followed */
        ck_assert_int_ne(run(img, NULL, false, msg, sizeof(msg)), VS_ERR_FORBIDDEN);
        free(ws);
        free(img);
        free(real);
}
END_TEST

/* preload's --timeout is bounded as run's is: 0 meant no deadline at all. */
START_TEST(preload_timeout_bounded)
{
        char *const archives[] = { "/nonexistent.tar", NULL };
        vs_config cfg = { .uri = "test:///nonexistent", .state_dir = state, .accel = VS_ACCEL_TCG };
        uint64_t bad[] = { 0, 999, VS_TIMEOUT_MAX_MS + 1 };
        vs_error err = { 0 };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                vs_preload_opts o = { .root = "/nonexistent.qcow2", .kernel = "k", .initrd = "i", .cmdline = "c",
                                      .archives = archives, .timeout_ms = bad[i] };
                ck_assert_int_eq(vs_preload(&cfg, &o, &err), -1);
                ck_assert_int_eq(err.kind, VS_ERR_USAGE);
                ck_assert_str_eq(err.msg, "--timeout must be between 1s and 7 days");
        }
}
END_TEST

Suite *suite_inputs(void)
{
        Suite *s = suite_create("inputs");
        TCase *tc = tcase_create("inputs");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, fifo_image_refused_without_blocking);
        tcase_add_test(tc, symlink_below_root_refused);
        tcase_add_test(tc, preload_timeout_bounded);
        suite_add_tcase(s, tc);
        return s;
}
