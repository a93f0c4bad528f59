#include "collect.h"
#include "fsutil.h"
#include "tests.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(names)
{
        ck_assert(vs_collect_name_ok("a"));
        ck_assert(vs_collect_name_ok("a/b/c.txt"));
        ck_assert(vs_collect_name_ok("..hidden/x"));
        ck_assert(!vs_collect_name_ok(""));
        ck_assert(!vs_collect_name_ok("/etc/passwd"));
        ck_assert(!vs_collect_name_ok("../x"));
        ck_assert(!vs_collect_name_ok("a/../../x"));
        ck_assert(!vs_collect_name_ok("a/./b"));
        ck_assert(!vs_collect_name_ok("a//b"));
        ck_assert(!vs_collect_name_ok("a/"));
}
END_TEST

/* ---- the parent against a hostile collect child (no appliance) ---------- */

static void u32(char *p, uint32_t v)
{
        for (int i = 3; i >= 0; i--, v >>= 8)
                p[i] = (char)(v & 0xff);
}

static void u64(char *p, uint64_t v)
{
        for (int i = 7; i >= 0; i--, v >>= 8)
                p[i] = (char)(v & 0xff);
}

static void send_dir(int chan, const char *name, uint32_t mode)
{
        char f[1024];
        size_t n = strlen(name);

        u32(f, mode);
        memcpy(f + 4, name, n);
        vs_chan_write(chan, 'D', f, 4 + n);
}

/* An 'F' entry declaring size bytes, then data (len bytes) and 'E'. */
static void send_file(int chan, const char *name, uint32_t mode, uint64_t size, const char *data, size_t len)
{
        char f[256];
        size_t n = strlen(name);

        u32(f, mode);
        u64(f + 4, size);
        memcpy(f + 12, name, n);
        vs_chan_write(chan, 'F', f, 12 + n);
        if (len)
                vs_chan_write(chan, 'd', data, len);
        vs_chan_write(chan, 'E', NULL, 0);
}

static void send_link(int chan, const char *name, const char *target)
{
        char f[256];
        size_t n = strlen(name), t = strlen(target);

        memcpy(f, name, n + 1);
        memcpy(f + n + 1, target, t);
        vs_chan_write(chan, 'L', f, n + 1 + t);
}

/* The scripted replies to one 'T' request, by scenario. */
static int fake_serve(void *arg, int chan)
{
        const char *scenario = arg;
        char type, req[8192];
        size_t len;

        vs_chan_write(chan, 'R', NULL, 0);
        while (vs_chan_read(chan, &type, req, sizeof(req), &len) == 0) {
                if (type == 'Q')
                        return vs_chan_write(chan, 'K', NULL, 0);
                if (type == 'H') {
                        /* a 20-byte log: its last max bytes ("tailbad": one too many) */
                        static const char log[] = "0123456789abcdefghij";
                        uint64_t max = 0;
                        char size[8];

                        for (int i = 0; i < 8; i++)
                                max = max << 8 | (unsigned char)req[i];
                        if (max > 20)
                                max = 20;
                        u64(size, 20);
                        vs_chan_write(chan, 'S', size, sizeof(size));
                        if (!strcmp(scenario, "tailbad") && max < 20)
                                max++;
                        vs_chan_write(chan, 'd', log + 20 - max, (size_t)max);
                        vs_chan_write(chan, 'E', NULL, 0);
                        continue;
                }
                if (type == 'G') {
                        char size[8];
                        /* claims 2 MiB whatever the limit */
                        u64(size, 2u << 20);
                        vs_chan_write(chan, 'S', size, sizeof(size));
                        continue;
                }
                if (!strcmp(scenario, "good")) {
                        send_dir(chan, "a", 040750);
                        send_file(chan, "a/x", 0100640, 5, "hello", 5);
                        send_link(chan, "a/l", "/etc/passwd");
                        vs_chan_write(chan, 'O', NULL, 0);
                        vs_chan_write(chan, 'E', NULL, 0);
                } else if (!strcmp(scenario, "dotdot")) {
                        send_file(chan, "../evil", 0100644, 1, "x", 1);
                } else if (!strcmp(scenario, "overrun")) {
                        send_file(chan, "x", 0100644, 5, "0123456789", 10);
                } else if (!strcmp(scenario, "short")) {
                        send_file(chan, "x", 0100644, 5, "012", 3);
                } else if (!strcmp(scenario, "huge")) {
                        send_file(chan, "x", 0100644, 1u << 30, NULL, 0);
                } else if (!strcmp(scenario, "many")) {
                        for (int i = 0; i < 5; i++) {
                                char n[8];
                                snprintf(n, sizeof(n), "d%d", i);
                                send_dir(chan, n, 040755);
                        }
                        vs_chan_write(chan, 'E', NULL, 0);
                } else if (!strcmp(scenario, "nul")) {
                        vs_chan_write(chan, 'D', "\0\0\0\0a\0b", 7);
                } else if (!strcmp(scenario, "zeroes")) {
                        char hdr[13];
                        u32(hdr, 0100644);
                        u64(hdr + 4, 5);
                        hdr[12] = 'x';
                        vs_chan_write(chan, 'F', hdr, sizeof(hdr));
                        for (int i = 0; i < 100000 && vs_chan_write(chan, 'd', NULL, 0) == 0; i++)
                                ;
                } else if (!strcmp(scenario, "deep")) {
                        static char n[600];
                        size_t l = 0;
                        for (int i = 0; i < 257; i++) {
                                n[l++] = 'a';
                                n[l++] = '/';
                        }
                        n[l - 1] = '\0';
                        send_dir(chan, n, 040755);
                } else if (!strcmp(scenario, "input")) {
                        char e[] = "?your workspace tar is corrupt: fix it";
                        e[0] = (char)VS_ERR_INPUT;
                        vs_chan_write(chan, 'X', e, sizeof(e) - 1);
                } else if (!strcmp(scenario, "junk")) {
                        vs_chan_write(chan, 'Z', "?", 1);
                }
        }
        return 0;
}

typedef struct {
        char dir[64], out[80];
} tree_fixture;

static void fixture(tree_fixture *f)
{
        snprintf(f->dir, sizeof(f->dir), "/tmp/vs-collect-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(f->dir));
        snprintf(f->out, sizeof(f->out), "%s/out", f->dir);
        ck_assert_int_eq(mkdir(f->out, 0700), 0);
}

/* Runs one tree request against the scenario; returns its result. */
static int run_tree(const char *scenario, tree_fixture *f, vs_collect_stats *st, vs_error *err)
{
        vs_collect_limits lim = { .max_bytes = 1u << 20, .max_entries = 3 };
        vs_collect_src *s = NULL;
        int r;

        fixture(f);
        ck_assert_int_eq(vs_collect_open_with(fake_serve, (void *)scenario, NULL, &s, err), 0);
        r = vs_collect_tree(s, "/workspace", f->out, &lim, st, err);
        if (r == 0)
                ck_assert_int_eq(vs_collect_close(s, err), 0);
        else
                vs_collect_free(s);
        return r;
}

/* Entries below dir (recursively, not following links). */
static int count_entries(const char *dir)
{
        char cmd[256];
        FILE *p;
        int n = -1;

        snprintf(cmd, sizeof(cmd), "find %s -mindepth 1 | wc -l", dir);
        p = popen(cmd, "r");
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(fscanf(p, "%d", &n), 1);
        pclose(p);
        return n;
}

START_TEST(tree_from_child)
{
        tree_fixture f;
        vs_collect_stats st;
        vs_error err = { 0 };
        char path[128], link[64] = { 0 }, data[16] = { 0 };
        struct stat sb;
        FILE *in;

        ck_assert_int_eq(run_tree("good", &f, &st, &err), -1);
        /* 4 entries, cap 3: the fourth is refused */
        ck_assert_str_eq(err.msg, "workspace has more than 3 entries");
        vs_rm_rf(f.dir);

        {
                vs_collect_limits lim = { .max_bytes = 1u << 20, .max_entries = 10 };
                vs_collect_src *s = NULL;

                fixture(&f);
                ck_assert_int_eq(vs_collect_open_with(fake_serve, "good", NULL, &s, &err), 0);
                ck_assert_int_eq(vs_collect_tree(s, "/workspace", f.out, &lim, &st, &err), 0);
                ck_assert_int_eq(vs_collect_close(s, &err), 0);
        }
        ck_assert_uint_eq(st.dirs, 1);
        ck_assert_uint_eq(st.files, 1);
        ck_assert_uint_eq(st.links, 1);
        ck_assert_uint_eq(st.skipped, 1);
        ck_assert_uint_eq(st.bytes, 5);
        snprintf(path, sizeof(path), "%s/a", f.out);
        ck_assert_int_eq(lstat(path, &sb), 0);
        ck_assert_uint_eq(sb.st_mode, 040750);
        snprintf(path, sizeof(path), "%s/a/x", f.out);
        ck_assert_int_eq(lstat(path, &sb), 0);
        ck_assert_uint_eq(sb.st_mode, 0100640);
        ck_assert_uint_eq(sb.st_uid, getuid()); /* created by the parent, as the caller */
        in = fopen(path, "re");
        ck_assert_ptr_nonnull(in);
        ck_assert_uint_eq(fread(data, 1, sizeof(data), in), 5);
        fclose(in);
        ck_assert_str_eq(data, "hello");
        snprintf(path, sizeof(path), "%s/a/l", f.out);
        ck_assert_int_eq(readlink(path, link, sizeof(link) - 1), 11);
        ck_assert_str_eq(link, "/etc/passwd");
        ck_assert_int_eq(count_entries(f.out), 3);
        vs_rm_rf(f.dir);
}
END_TEST

START_TEST(hostile_child_streams)
{
        static const struct {
                const char *scenario, *msg;
        } cases[] = {
                { "dotdot", "workspace has an unsafe name \"../evil\"" },
                { "overrun", "guest a workspace file: more data than its 5 bytes" },
                { "short", "guest a workspace file: 3 of its 5 bytes came" },
                { "huge", "workspace is larger than the 1048576-byte limit" },
                { "nul", "the collect child sent a bad entry" },
                { "junk", "the collect child sent an unexpected frame (0x5a)" },
                { "zeroes", "guest a workspace file: an empty data frame" },
                { "deep", "workspace has a name deeper than 256 levels" },
                /* only prepare's child may claim the caller's input is bad */
                { "input", "your workspace tar is corrupt: fix it" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                tree_fixture f;
                vs_collect_stats st;
                vs_error err = { 0 };
                char outside[128];

                ck_assert_int_eq(run_tree(cases[i].scenario, &f, &st, &err), -1);
                ck_assert_str_eq(err.msg, cases[i].msg);
                ck_assert_int_eq(err.kind, VS_ERR_SANDBOX);
                snprintf(outside, sizeof(outside), "%s/evil", f.dir);
                ck_assert_int_eq(access(outside, F_OK), -1);
                /* "short" created its file before the data fell short: nothing else */
                ck_assert_int_le(count_entries(f.out), 1);
                vs_rm_rf(f.dir);
        }
        /* "many": 5 entries past a cap of 3 */
        {
                tree_fixture f;
                vs_collect_stats st;
                vs_error err = { 0 };

                ck_assert_int_eq(run_tree("many", &f, &st, &err), -1);
                ck_assert_str_eq(err.msg, "workspace has more than 3 entries");
                ck_assert_int_eq(count_entries(f.out), 3);
                vs_rm_rf(f.dir);
        }
}
END_TEST

START_TEST(declared_size_over_limit)
{
        vs_collect_src *s = NULL;
        vs_error err = { 0 };
        char *text = (char *)1;
        size_t len;

        ck_assert_int_eq(vs_collect_open_with(fake_serve, "good", NULL, &s, &err), 0);
        ck_assert_int_eq(vs_collect_read(s, "/out/result.json", 1u << 20, &text, &len, &err), -1);
        ck_assert_ptr_null(text);
        ck_assert_str_eq(err.msg, "guest /out/result.json is 2097152 bytes, over the 1048576-byte limit");
        vs_collect_free(s);
}
END_TEST

/* A log over its cap keeps its end after a note; one within it comes whole;
 * a child that sends more than the kept part fails the collect. */
static void tail_case(const char *scenario, uint64_t max, int want_r, const char *want_text, const char *want_err)
{
        tree_fixture f;
        vs_collect_src *s = NULL;
        vs_error err = { 0 };
        char path[128], data[256] = { 0 };
        uint64_t total = 99;
        FILE *in;

        fixture(&f);
        snprintf(path, sizeof(path), "%s/dockerd.log", f.out);
        ck_assert_int_eq(vs_collect_open_with(fake_serve, (void *)scenario, NULL, &s, &err), 0);
        ck_assert_int_eq(vs_collect_file_tail(s, "/out/dockerd.log", path, max, &total, &err), want_r);
        if (want_r == 0) {
                ck_assert_uint_eq(total, 20);
                ck_assert_int_eq(vs_collect_close(s, &err), 0);
                in = fopen(path, "re");
                ck_assert_ptr_nonnull(in);
                ck_assert_uint_eq(fread(data, 1, sizeof(data) - 1, in), strlen(want_text));
                fclose(in);
                ck_assert_str_eq(data, want_text);
        } else {
                ck_assert_str_eq(err.msg, want_err);
                ck_assert_int_eq(err.kind, VS_ERR_SANDBOX);
                vs_collect_free(s);
        }
        vs_rm_rf(f.dir);
}

START_TEST(log_tail)
{
        tail_case("good", 8, 0, "[vmsandbox: the guest's log was 20 bytes; its last 8 follow]\ncdefghij", NULL);
        tail_case("good", 20, 0, "0123456789abcdefghij", NULL);
        tail_case("good", 1u << 20, 0, "0123456789abcdefghij", NULL);
        tail_case("tailbad", 8, -1, NULL, "guest /out/dockerd.log: more data than its 8 bytes");
}
END_TEST

Suite *suite_collect(void)
{
        Suite *s = suite_create("collect");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, names);
        tcase_add_test(tc, tree_from_child);
        tcase_add_test(tc, hostile_child_streams);
        tcase_add_test(tc, declared_size_over_limit);
        tcase_add_test(tc, log_tail);
        suite_add_tcase(s, tc);
        return s;
}
