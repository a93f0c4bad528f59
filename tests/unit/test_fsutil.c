/* fsutil: removal past PATH_MAX, opening below a root, write-back into a
 * directory whose path was swapped for a symlink. */
#include "alloc.h"
#include "fsutil.h"
#include "tests.h"
#include "workspace.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[] = "/tmp/vs-fs-XXXXXX";

static void setup(void)
{
        ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void)
{
        vs_rm_rf(root);
        strcpy(root, "/tmp/vs-fs-XXXXXX");
}

static void put_at(int dir, const char *name, const char *text)
{
        int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
}

static char *path(const char *rel)
{
        static char buf[2][1024];
        static int which;

        which ^= 1;
        snprintf(buf[which], sizeof(buf[which]), "%s/%s", root, rel);
        return buf[which];
}

/* A chain of directories "d/d/d/..." far longer than PATH_MAX, a file in
 * each level: vs_rm_rf removes it all (nftw left it behind). */
START_TEST(rm_rf_deeper_than_path_max)
{
        int levels = PATH_MAX, fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat st;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(mkdirat(fd, "tree", 0755), 0);
        for (int i = 0, cur = openat(fd, "tree", O_RDONLY | O_DIRECTORY | O_CLOEXEC); i < levels; i++) {
                int next;

                ck_assert_int_ge(cur, 0);
                put_at(cur, "f", "x");
                ck_assert_int_eq(mkdirat(cur, "d", 0755), 0);
                next = openat(cur, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                close(cur);
                cur = next;
                if (i == levels - 1)
                        close(cur);
        }
        close(fd);
        ck_assert_int_eq(vs_rm_rf(path("tree")), 0);
        ck_assert_int_eq(lstat(path("tree"), &st), -1);
        ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* A symlink inside the tree is removed, its target left alone. */
START_TEST(rm_rf_does_not_follow)
{
        struct stat st;

        ck_assert_int_eq(mkdir(path("keep"), 0755), 0);
        ck_assert_int_eq(mkdir(path("tree"), 0755), 0);
        {
                int k = open(path("keep"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                put_at(k, "precious", "p");
                close(k);
        }
        ck_assert_int_eq(symlink(path("keep"), path("tree/link")), 0);
        ck_assert_int_eq(vs_rm_rf(path("tree")), 0);
        ck_assert_int_eq(lstat(path("tree"), &st), -1);
        ck_assert_int_eq(stat(path("keep/precious"), &st), 0);
        ck_assert_int_eq(vs_rm_rf(path("missing")), 0);
}
END_TEST

START_TEST(open_beneath_refuses_escapes)
{
        vs_error err = { 0 };
        char *r = vs_xstrdup(path("root"));
        int fd;

        ck_assert_int_eq(mkdir(r, 0755), 0);
        ck_assert_int_eq(mkdir(path("root/ws"), 0755), 0);
        ck_assert_int_eq(symlink("/etc", path("root/etc")), 0);
        ck_assert_int_eq(symlink("ws", path("root/inner")), 0);

        fd = vs_open_beneath(r, path("root/ws"), O_RDONLY | O_DIRECTORY, &err);
        ck_assert_int_ge(fd, 0);
        close(fd);
        fd = vs_open_beneath(r, "ws", O_RDONLY | O_DIRECTORY, &err);
        ck_assert_int_ge(fd, 0);
        close(fd);
        /* A symlink out of the root, one inside it, "..", another root. */
        ck_assert_int_eq(vs_open_beneath(r, path("root/etc"), O_RDONLY | O_DIRECTORY, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_FORBIDDEN);
        ck_assert_int_eq(vs_open_beneath(r, path("root/inner"), O_RDONLY | O_DIRECTORY, &err), -1);
        ck_assert_int_eq(vs_open_beneath(r, path("root/ws/../../"), O_RDONLY | O_DIRECTORY, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_FORBIDDEN);
        ck_assert_int_eq(vs_open_beneath(r, "/etc", O_RDONLY | O_DIRECTORY, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_FORBIDDEN);
        /* A prefix that is not a path component. */
        ck_assert_int_eq(vs_open_beneath(r, path("rootx"), O_RDONLY | O_DIRECTORY, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_FORBIDDEN);
        free(r);
}
END_TEST

/* The user's workspace is opened, then its path is swapped for a symlink to
 * another directory (standing for /etc): write-back through the fd lands in
 * the original directory and never touches the symlink's target. */
START_TEST(write_back_into_swapped_dir)
{
        vs_sync_stats st;
        vs_error err = { 0 };
        struct stat sb;
        int ws, victim, stage;

        ck_assert_int_eq(mkdir(path("ws"), 0755), 0);
        ck_assert_int_eq(mkdir(path("victim"), 0755), 0);
        ck_assert_int_eq(mkdir(path("stage"), 0755), 0);
        victim = open(path("victim"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        put_at(victim, "passwd", "root:x:0:0");
        stage = open(path("stage"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        put_at(stage, "result.txt", "42");
        ws = open(path("ws"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(ws, 0);

        ck_assert_int_eq(rename(path("ws"), path("ws.moved")), 0);
        ck_assert_int_eq(symlink(path("victim"), path("ws")), 0);

        ck_assert_int_eq(vs_workspace_sync_fd(path("stage"), ws, &st, &err), 0);
        ck_assert_uint_eq(st.written, 1);
        ck_assert_int_eq(stat(path("ws.moved/result.txt"), &sb), 0);
        ck_assert_int_eq(fstatat(victim, "passwd", &sb, 0), 0); /* not deleted as "missing from the stage" */
        ck_assert_int_eq(fstatat(victim, "result.txt", &sb, 0), -1);
        close(ws);
        close(victim);
        close(stage);
}
END_TEST

/* The pipeline measures the workspace through its fd (vs_tree_size_fd) and
 * later writes back into the same fd.  Directory streams made from dup()s of
 * one fd share its offset: the size walk left it at the end, and the
 * write-back's listing of the workspace then saw no entries, so nothing
 * removed in the guest was removed on the host (run.sh vm_workspace_back). */
START_TEST(write_back_after_size_walk_deletes)
{
        vs_sync_stats st;
        vs_error err = { 0 };
        struct stat sb;
        uint64_t bytes = 0, n = 0;
        int ws, stage;

        ck_assert_int_eq(mkdir(path("ws"), 0755), 0);
        ck_assert_int_eq(mkdir(path("stage"), 0755), 0);
        ws = open(path("ws"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(ws, 0);
        put_at(ws, "keep.txt", "k");
        put_at(ws, "del.txt", "bye");
        stage = open(path("stage"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        put_at(stage, "keep.txt", "k");
        ck_assert_int_eq(vs_tree_size_fd(ws, 100, &bytes, &n, &err), 0);
        ck_assert_uint_eq(bytes, 4);
        ck_assert_uint_eq(n, 2);
        /* Measured twice (the service measures too): the same answer. */
        ck_assert_int_eq(vs_tree_size_fd(ws, 100, &bytes, &n, &err), 0);
        ck_assert_uint_eq(bytes, 4);
        ck_assert_uint_eq(n, 2);
        ck_assert_int_eq(vs_workspace_sync_fd(path("stage"), ws, &st, &err), 0);
        ck_assert_uint_eq(st.deleted, 1);
        ck_assert_int_eq(fstatat(ws, "del.txt", &sb, AT_SYMLINK_NOFOLLOW), -1);
        ck_assert_int_eq(fstatat(ws, "keep.txt", &sb, AT_SYMLINK_NOFOLLOW), 0);
        close(ws);
        close(stage);
}
END_TEST

START_TEST(mkdir_p_mode_ignores_umask)
{
        struct stat sb;
        vs_error err = { 0 };
        mode_t old = umask(077);

        ck_assert_int_eq(vs_mkdir_p(path("a/b"), 0711, &err), 0);
        umask(old);
        ck_assert_int_eq(stat(path("a/b"), &sb), 0);
        ck_assert_uint_eq(sb.st_mode & 07777, 0711);
        ck_assert_int_eq(stat(path("a"), &sb), 0);
        ck_assert_uint_eq(sb.st_mode & 07777, 0711);
}
END_TEST

Suite *suite_fsutil(void)
{
        Suite *s = suite_create("fsutil");
        TCase *tc = tcase_create("fsutil");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, rm_rf_deeper_than_path_max);
        tcase_add_test(tc, rm_rf_does_not_follow);
        tcase_add_test(tc, open_beneath_refuses_escapes);
        tcase_add_test(tc, write_back_into_swapped_dir);
        tcase_add_test(tc, mkdir_p_mode_ignores_umask);
        tcase_add_test(tc, write_back_after_size_walk_deletes);
        suite_add_tcase(s, tc);
        return s;
}
