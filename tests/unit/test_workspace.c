/* Write-back of a collected workspace (workspace.c).  Every test compares the
 * exact statistics and the whole resulting tree (names, types, modes, owners,
 * contents, link targets), so a write-back that does a little more or a little
 * less than promised fails. */
#include "fsutil.h"
#include "tests.h"
#include "workspace.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[] = "/tmp/vs-ws-XXXXXX";
static char src[512], dst[512], outside[512];

static char *at(const char *dir, const char *rel)
{
        static char p[4][1024];
        static int i;

        i = (i + 1) % 4;
        snprintf(p[i], sizeof(p[i]), "%s/%s", dir, rel);
        return p[i];
}

/* A regular file with exactly this content and mode (umask does not apply). */
static void put_mode(const char *dir, const char *rel, const char *text, mode_t mode)
{
        vs_error err = { 0 };

        ck_assert_int_eq(vs_write_file_atomic(at(dir, rel), text, strlen(text), 0600, &err), 0);
        ck_assert_int_eq(chmod(at(dir, rel), mode), 0);
}

static void put(const char *dir, const char *rel, const char *text)
{
        put_mode(dir, rel, text, 0644);
}

static void mkdir_mode(const char *dir, const char *rel, mode_t mode)
{
        ck_assert_int_eq(mkdir(at(dir, rel), 0700), 0);
        ck_assert_int_eq(chmod(at(dir, rel), mode), 0);
}

static void link_to(const char *dir, const char *rel, const char *target)
{
        ck_assert_int_eq(symlink(target, at(dir, rel)), 0);
}

static ino_t inode_of(const char *dir, const char *rel)
{
        struct stat st;

        ck_assert_int_eq(lstat(at(dir, rel), &st), 0);
        return st.st_ino;
}

/* "uid:gid", or "-" for the test process's own ids (the tests also run
 * unprivileged, where nothing is chowned). */
static const char *owner(const struct stat *st)
{
        static char buf[64];

        if (st->st_uid == geteuid() && st->st_gid == getegid())
                return "-";
        snprintf(buf, sizeof(buf), "%u:%u", (unsigned)st->st_uid, (unsigned)st->st_gid);
        return buf;
}

/* One line per entry below dir, sorted, never following a link:
 *   "name d 0750 OWNER", "name f 0644 OWNER content", "name l OWNER -> target" */
static void dump_into(FILE *out, const char *dir, const char *prefix)
{
        struct dirent **v;
        int n = scandir(dir, &v, NULL, alphasort);

        ck_assert_int_ge(n, 0);
        for (int i = 0; i < n; i++) {
                const char *name = v[i]->d_name;
                char path[2048], rel[1024], buf[256];
                struct stat st;
                ssize_t len;

                if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
                        free(v[i]);
                        continue;
                }
                snprintf(path, sizeof(path), "%s/%s", dir, name);
                snprintf(rel, sizeof(rel), "%s%s", prefix, name);
                ck_assert_int_eq(lstat(path, &st), 0);
                if (S_ISLNK(st.st_mode)) {
                        len = readlink(path, buf, sizeof(buf) - 1);
                        ck_assert_int_ge(len, 0);
                        buf[len] = '\0';
                        fprintf(out, "%s l %s -> %s\n", rel, owner(&st), buf);
                } else if (S_ISDIR(st.st_mode)) {
                        fprintf(out, "%s d %04o %s\n", rel, (unsigned)(st.st_mode & 07777), owner(&st));
                        snprintf(rel + strlen(rel), sizeof(rel) - strlen(rel), "/");
                        dump_into(out, path, rel);
                } else {
                        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

                        ck_assert(S_ISREG(st.st_mode));
                        ck_assert_int_ge(fd, 0);
                        len = read(fd, buf, sizeof(buf) - 1);
                        close(fd);
                        ck_assert_int_ge(len, 0);
                        buf[len] = '\0';
                        fprintf(out, "%s f %04o %s %s\n", rel, (unsigned)(st.st_mode & 07777), owner(&st), buf);
                }
                free(v[i]);
        }
        free(v);
}

static char *dump(const char *dir)
{
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);

        dump_into(f, dir, "");
        fclose(f);
        return text;
}

static void expect_tree(const char *dir, const char *want)
{
        char *got = dump(dir);

        ck_assert_msg(strcmp(got, want) == 0, "tree of %s:\n%s\nwanted:\n%s", dir, got, want);
        free(got);
}

static void sync_expect(uint64_t written, uint64_t deleted, uint64_t unchanged)
{
        vs_sync_stats st = { 0 };
        vs_error err = { 0 };

        ck_assert_msg(vs_workspace_sync(src, dst, &st, &err) == 0, "%s", err.msg);
        ck_assert_msg(st.written == written && st.deleted == deleted && st.unchanged == unchanged,
                      "written %llu deleted %llu unchanged %llu, wanted %llu %llu %llu",
                      (unsigned long long)st.written, (unsigned long long)st.deleted,
                      (unsigned long long)st.unchanged, (unsigned long long)written,
                      (unsigned long long)deleted, (unsigned long long)unchanged);
}

static void setup(void)
{
        umask(022);
        ck_assert_ptr_nonnull(mkdtemp(root));
        snprintf(src, sizeof(src), "%s/src", root);
        snprintf(dst, sizeof(dst), "%s/dst", root);
        snprintf(outside, sizeof(outside), "%s/outside", root);
        ck_assert_int_eq(mkdir(src, 0755), 0);
        ck_assert_int_eq(mkdir(dst, 0755), 0);
        ck_assert_int_eq(mkdir(outside, 0755), 0);
}

static void teardown(void)
{
        vs_rm_rf(root);
        strcpy(root, "/tmp/vs-ws-XXXXXX");
}

/* New, changed, unchanged and deleted files: exact counts, the unchanged
 * file keeps its inode, a changed one is a new file (temp file + rename:
 * a hard link to the old one elsewhere keeps the old content), the modes
 * come from the collected tree, and no temp file is left. */
START_TEST(new_changed_deleted)
{
        ino_t same, changed;

        put(dst, "same.txt", "same");
        put(dst, "changed.txt", "old");
        put(dst, "gone.txt", "bye");
        mkdir_mode(dst, "olddir", 0755);
        put(dst, "olddir/x", "x");
        ck_assert_int_eq(link(at(dst, "changed.txt"), at(outside, "hardlink")), 0);
        put(src, "same.txt", "same");
        put_mode(src, "changed.txt", "new", 0600);
        mkdir_mode(src, "sub", 0750);
        put_mode(src, "sub/new.txt", "fresh", 0666);
        same = inode_of(dst, "same.txt");
        changed = inode_of(dst, "changed.txt");

        sync_expect(3, 2, 1); /* changed.txt, sub, sub/new.txt; gone.txt, olddir; same.txt */
        expect_tree(dst, "changed.txt f 0600 - new\n"
                         "same.txt f 0644 - same\n"
                         "sub d 0750 -\n"
                         "sub/new.txt f 0666 - fresh\n");
        ck_assert_uint_eq(inode_of(dst, "same.txt"), same);
        ck_assert_uint_ne(inode_of(dst, "changed.txt"), changed);
        expect_tree(outside, "hardlink f 0644 - old\n");
}
END_TEST

/* Same content but another mode is a change; set-id bits are not carried
 * over; an existing directory takes the collected directory's mode. */
START_TEST(modes_written_back)
{
        put_mode(dst, "script.sh", "#!/bin/sh\n", 0644);
        put_mode(src, "script.sh", "#!/bin/sh\n", 0755);
        put_mode(src, "suid", "x", 06755);
        mkdir_mode(dst, "keep", 0755);
        mkdir_mode(src, "keep", 0700);
        put(dst, "keep/a", "a");
        put(src, "keep/a", "a");
        sync_expect(2, 0, 1); /* script.sh, suid; keep/a */
        expect_tree(dst, "keep d 0700 -\n"
                         "keep/a f 0644 - a\n"
                         "script.sh f 0755 - #!/bin/sh\n\n"
                         "suid f 0755 - x\n");
}
END_TEST

/* A symlink in the user's directory is replaced, never written through,
 * even when what it points to already has the collected content. */
START_TEST(symlink_not_followed)
{
        char *s = NULL;

        put(outside, "precious.txt", "precious");
        put(outside, "same.txt", "same");
        link_to(dst, "result.txt", at(outside, "precious.txt"));
        link_to(dst, "same.txt", at(outside, "same.txt"));
        put(src, "result.txt", "from the guest");
        put(src, "same.txt", "same");

        sync_expect(2, 0, 0);
        expect_tree(dst, "result.txt f 0644 - from the guest\n"
                         "same.txt f 0644 - same\n");
        s = dump(outside);
        ck_assert_str_eq(s, "precious.txt f 0644 - precious\n"
                            "same.txt f 0644 - same\n");
        free(s);
}
END_TEST

/* Symlinks from the guest are written back as symlinks with their target
 * verbatim (absolute, dangling, a loop, a link to a directory), never
 * resolved on either side; an identical link is unchanged, a retargeted one
 * rewritten. */
START_TEST(symlinks_written_back_as_links)
{
        link_to(dst, "same", "target-a");
        link_to(dst, "retarget", "target-a");
        put(dst, "was-file", "file");
        mkdir_mode(src, "dir", 0755);
        put(src, "dir/f", "f");
        link_to(src, "same", "target-a");
        link_to(src, "retarget", "target-b");
        link_to(src, "passwd", "/etc/passwd");
        link_to(src, "loop", "loop");
        link_to(src, "to-dir", "dir");
        link_to(src, "up", "../../outside");
        link_to(src, "was-file", "/etc/shadow");

        /* dir, dir/f, retarget, passwd, loop, to-dir, up, was-file; same */
        sync_expect(8, 0, 1);
        expect_tree(dst, "dir d 0755 -\n"
                         "dir/f f 0644 - f\n"
                         "loop l - -> loop\n"
                         "passwd l - -> /etc/passwd\n"
                         "retarget l - -> target-b\n"
                         "same l - -> target-a\n"
                         "to-dir l - -> dir\n"
                         "up l - -> ../../outside\n"
                         "was-file l - -> /etc/shadow\n");
        expect_tree(outside, "");
}
END_TEST

/* A file where the user had a directory and the other way round; a
 * directory where the user had a symlink to a directory elsewhere: the link
 * is replaced, the directory it pointed to is not touched. */
START_TEST(file_directory_swaps)
{
        mkdir_mode(dst, "was-dir", 0755);
        put(dst, "was-dir/inner", "inner");
        mkdir_mode(dst, "was-dir/deeper", 0755);
        put(dst, "was-file", "file");
        mkdir_mode(outside, "victim", 0755);
        put(outside, "victim/keep", "keep");
        link_to(dst, "was-link", at(outside, "victim"));
        put(src, "was-dir", "now a file");
        mkdir_mode(src, "was-file", 0750);
        put(src, "was-file/inner", "now a dir");
        mkdir_mode(src, "was-link", 0755);
        put(src, "was-link/keep", "from the guest");
        put(src, "was-link/new", "new");

        /* was-dir; was-file, was-file/inner; was-link, was-link/keep, was-link/new */
        sync_expect(6, 0, 0);
        expect_tree(dst, "was-dir f 0644 - now a file\n"
                         "was-file d 0750 -\n"
                         "was-file/inner f 0644 - now a dir\n"
                         "was-link d 0755 -\n"
                         "was-link/keep f 0644 - from the guest\n"
                         "was-link/new f 0644 - new\n");
        expect_tree(outside, "victim d 0755 -\n"
                             "victim/keep f 0644 - keep\n");
}
END_TEST

/* Empty directories are created and deleted like anything else; a deleted
 * directory counts once however much it held; deleting a symlink removes
 * the link, not what it points to. */
START_TEST(empty_directories)
{
        ino_t kept;

        mkdir_mode(dst, "kept-empty", 0755);
        mkdir_mode(dst, "gone-empty", 0755);
        mkdir_mode(dst, "gone-full", 0755);
        mkdir_mode(dst, "gone-full/a", 0755);
        put(dst, "gone-full/a/b", "b");
        put(dst, "gone-full/c", "c");
        mkdir_mode(outside, "victim", 0755);
        put(outside, "victim/keep", "keep");
        link_to(dst, "gone-link", at(outside, "victim"));
        mkdir_mode(src, "kept-empty", 0755);
        mkdir_mode(src, "new-empty", 0700);
        mkdir_mode(src, "new-empty-tree", 0755);
        mkdir_mode(src, "new-empty-tree/leaf", 0711);
        kept = inode_of(dst, "kept-empty");

        sync_expect(3, 3, 0); /* new-empty, new-empty-tree, leaf; gone-empty, gone-full, gone-link */
        expect_tree(dst, "kept-empty d 0755 -\n"
                         "new-empty d 0700 -\n"
                         "new-empty-tree d 0755 -\n"
                         "new-empty-tree/leaf d 0711 -\n");
        ck_assert_uint_eq(inode_of(dst, "kept-empty"), kept);
        expect_tree(outside, "victim d 0755 -\n"
                             "victim/keep f 0644 - keep\n");
}
END_TEST

/* Running as root, every entry the write-back creates (files, directories,
 * symlinks, replaced files) gets the owner of the user's directory; what it
 * leaves alone keeps its own owner. */
START_TEST(new_entries_get_the_workspace_owner)
{
        if (geteuid() != 0) {
                fprintf(stderr, "new_entries_get_the_workspace_owner: needs root, not run\n");
                return;
        }
        ck_assert_int_eq(chown(dst, 4321, 8765), 0);
        put(dst, "same.txt", "same");          /* root-owned and unchanged: stays root's */
        put(dst, "changed.txt", "old");
        ck_assert_int_eq(chown(at(dst, "changed.txt"), 1111, 1111), 0);
        mkdir_mode(dst, "old-dir", 0755);      /* exists in both: not re-owned */
        put(src, "same.txt", "same");
        put(src, "changed.txt", "new");
        put(src, "new.txt", "new");
        mkdir_mode(src, "old-dir", 0755);
        mkdir_mode(src, "new-dir", 0755);
        put(src, "new-dir/f", "f");
        link_to(src, "link", "new.txt");

        sync_expect(5, 0, 1);
        expect_tree(dst, "changed.txt f 0644 4321:8765 new\n"
                         "link l 4321:8765 -> new.txt\n"
                         "new-dir d 0755 4321:8765\n"
                         "new-dir/f f 0644 4321:8765 f\n"
                         "new.txt f 0644 4321:8765 new\n"
                         "old-dir d 0755 -\n"
                         "same.txt f 0644 - same\n");
}
END_TEST

/* Into an open directory: a path swapped for a symlink after the open
 * changes nothing, the write-back goes into the directory that was opened. */
START_TEST(sync_into_open_directory)
{
        char moved[1024];
        vs_sync_stats st = { 0 };
        vs_error err = { 0 };
        int fd;

        put(src, "f", "f");
        fd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        snprintf(moved, sizeof(moved), "%s/moved", root);
        ck_assert_int_eq(rename(dst, moved), 0);
        ck_assert_int_eq(symlink(outside, dst), 0);
        ck_assert_msg(vs_workspace_sync_fd(src, fd, &st, &err) == 0, "%s", err.msg);
        close(fd);
        ck_assert_uint_eq(st.written, 1);
        expect_tree(moved, "f f 0644 - f\n");
        expect_tree(outside, "");
}
END_TEST

/* The caller's fd may have been read to its end already (a listing shares
 * the offset of a dup): the write-back still lists the whole directory and
 * deletes what the collected tree lacks (with fdopendir(dup(fd)) it saw no
 * entries and deleted nothing). */
START_TEST(sync_fd_read_to_end_before)
{
        vs_sync_stats st = { 0 };
        vs_error err = { 0 };
        struct dirent *e;
        DIR *d;
        int fd, n = 0;

        put(src, "keep", "k");
        put(dst, "keep", "k");
        put(dst, "gone1", "1");
        put(dst, "gone2", "2");
        fd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        d = fdopendir(dup(fd));
        ck_assert_ptr_nonnull(d);
        while ((e = readdir(d)))
                n++;
        closedir(d);
        ck_assert_int_eq(n, 5); /* ".", "..", keep, gone1, gone2: the shared offset is at the end */
        ck_assert_msg(vs_workspace_sync_fd(src, fd, &st, &err) == 0, "%s", err.msg);
        close(fd);
        ck_assert_uint_eq(st.deleted, 2);
        ck_assert_uint_eq(st.unchanged, 1);
        expect_tree(dst, "keep f 0644 - k\n");
}
END_TEST

/* Only files, directories and symlinks are written back: a fifo in the
 * collected tree is skipped (not created, not counted) and the user's entry
 * of that name is left as it was. */
START_TEST(special_files_skipped)
{
        ck_assert_int_eq(mkfifo(at(src, "fifo"), 0644), 0);
        ck_assert_int_eq(mkfifo(at(src, "fifo-over-file"), 0644), 0);
        put(dst, "fifo-over-file", "mine");
        put(src, "f", "f");
        sync_expect(1, 0, 0);
        expect_tree(dst, "f f 0644 - f\n"
                         "fifo-over-file f 0644 - mine\n");
}
END_TEST

/* Failures are reported (-1, a message naming what failed) and leave
 * *ret_stats untouched. */
START_TEST(errors_reported)
{
        vs_sync_stats st = { .written = 7, .deleted = 8, .unchanged = 9 };
        vs_error err = { 0 };
        int fd;

        put(root, "a-file", "x");
        ck_assert_int_eq(vs_workspace_sync(at(root, "missing"), dst, &st, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "cannot open"));
        ck_assert_int_eq(vs_workspace_sync(src, at(root, "missing"), &st, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "cannot open workspace"));
        ck_assert_int_eq(vs_workspace_sync(src, at(root, "a-file"), &st, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "cannot open workspace"));
        fd = open(at(root, "a-file"), O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(vs_workspace_sync_fd(src, fd, &st, &err), -1);
        close(fd);
        ck_assert_ptr_nonnull(strstr(err.msg, "workspace is not a directory"));
        link_to(root, "src-link", src);
        ck_assert_int_eq(vs_workspace_sync(at(root, "src-link"), dst, &st, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "cannot open"));
        ck_assert(st.written == 7 && st.deleted == 8 && st.unchanged == 9);
}
END_TEST

Suite *suite_workspace(void)
{
        Suite *s = suite_create("workspace");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, new_changed_deleted);
        tcase_add_test(tc, modes_written_back);
        tcase_add_test(tc, symlink_not_followed);
        tcase_add_test(tc, symlinks_written_back_as_links);
        tcase_add_test(tc, file_directory_swaps);
        tcase_add_test(tc, empty_directories);
        tcase_add_test(tc, new_entries_get_the_workspace_owner);
        tcase_add_test(tc, sync_into_open_directory);
        tcase_add_test(tc, sync_fd_read_to_end_before);
        tcase_add_test(tc, special_files_skipped);
        tcase_add_test(tc, errors_reported);
        suite_add_tcase(s, tc);
        return s;
}
