/* The tar header walker on hand-made archives (valid checksums): what it
 * accepts must be what tar and Go's archive/tar (docker) would extract. */
#include "tar.h"
#include "tarwriter.h"
#include "tests.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
        char *buf;
        size_t len;
        FILE *f;
} mem;

static void mem_open(mem *m)
{
        m->buf = NULL;
        m->len = 0;
        m->f = open_memstream(&m->buf, &m->len);
        ck_assert_ptr_nonnull(m->f);
}

/* Walks the archive; returns the last vs_tar_next result, the entries in
 * *ret_n and the last entry in *ret_e; err gets the message. */
static uint64_t max_headers;

static int walk(mem *m, vs_tar_entry *ret_e, int *ret_n, vs_error *err)
{
        vs_tar_reader r;
        vs_tar_entry e;
        int fd, k, n = 0;

        fclose(m->f);
        fd = tw_memfd(m->buf, m->len);
        vs_tar_reader_init(&r, fd, 0, m->len);
        if (max_headers)
                r.max_headers = max_headers;
        memset(err, 0, sizeof(*err));
        while ((k = vs_tar_next(&r, &e, err)) > 0) {
                n++;
                if (ret_e)
                        *ret_e = e;
        }
        close(fd);
        free(m->buf);
        if (ret_n)
                *ret_n = n;
        return k;
}

static void expect_bad(mem *m, const char *needle)
{
        vs_error err;

        ck_assert_int_eq(walk(m, NULL, NULL, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        ck_assert_msg(strstr(err.msg, needle), "\"%s\" lacks \"%s\"", err.msg, needle);
}

/* "<len> k=v\n" with the right length (len counts itself). */
static const char *rec(const char *kv)
{
        static char buf[8][256];
        static int next;
        char *b = buf[next++ % 8];
        size_t len = strlen(kv) + 2, digits = 1;

        while (snprintf(NULL, 0, "%zu", len + digits) != (int)digits)
                digits++;
        snprintf(b, 256, "%zu %s\n", len + digits, kv);
        return b;
}

static void pax_then_file(mem *m, const char *records, const char *name, const char *data)
{
        tw_hdr hd = { .name = name, .size = strlen(data) };

        tw_meta(m->f, 'x', records, strlen(records));
        tw_entry(m->f, &hd, data, strlen(data));
        tw_end(m->f);
}

/* Regression: a record whose length is shorter than its own "<len> " prefix
 * made the key point past the record and memchr's length underflow
 * (SIGSEGV in `vmsandbox run` and `serve`). */
START_TEST(pax_record_shorter_than_prefix)
{
        static const char *const bad[] = { "1 ", "2 path=x\n", "3 a=\n", "0 path=x\n", "4 =x\n" };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                mem m;

                mem_open(&m);
                pax_then_file(&m, bad[i], "f", "data");
                expect_bad(&m, "bad pax header");
        }
}
END_TEST

START_TEST(pax_path_and_size)
{
        mem m;
        vs_tar_entry e;
        vs_error err;
        int n;

        mem_open(&m);
        pax_then_file(&m, rec("path=long"), "short", "data");
        ck_assert_int_eq(walk(&m, &e, &n, &err), 0);
        ck_assert_int_eq(n, 1);
        ck_assert_str_eq(e.name, "long");
        ck_assert_uint_eq(e.size, 4);
        ck_assert_int_eq(e.type, '0');
        ck_assert_uint_eq(e.data_offset, 1024 + 512);
}
END_TEST


static void expect_one(mem *m, vs_tar_entry *e)
{
        vs_error err;
        int n = -1;

        ck_assert_msg(walk(m, e, &n, &err) == 0, "walk failed: %s", err.msg);
        ck_assert_int_eq(n, 1);
}

START_TEST(pax_size_must_be_a_number)
{
        static const char *const bad[] = { "size=", "size=abc", "size=-1", "size=1x", "size=+1", "size= 1",
                                           "size=99999999999999999999", "size=9223372036854775808" };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                mem m;

                mem_open(&m);
                pax_then_file(&m, rec(bad[i]), "f", "data");
                expect_bad(&m, "bad pax size");
        }
}
END_TEST

START_TEST(pax_size_moves_the_next_header)
{
        tw_hdr f = { .name = "f", .size = 0 }, g = { .name = "g" };
        static const char data[600];
        mem m;
        vs_tar_entry e;
        vs_error err;
        int n;

        mem_open(&m);
        tw_meta(m.f, 'x', "12 size=600\n", 12);
        tw_header(m.f, &f);
        fwrite(data, 1, sizeof(data), m.f);
        tw_pad(m.f, sizeof(data));
        tw_entry(m.f, &g, NULL, 0);
        tw_end(m.f);
        ck_assert_int_eq(walk(&m, &e, &n, &err), 0);
        ck_assert_int_eq(n, 2);
        ck_assert_str_eq(e.name, "g");
        ck_assert_uint_eq(e.data_offset, 1024 + 512 + 1024 + 512);
}
END_TEST

static char *repeat(char c, size_t n)
{
        char *s = malloc(n + 1);

        memset(s, c, n);
        s[n] = '\0';
        return s;
}

/* Regression: names over VS_TAR_NAME_MAX were cut, and the cut name was what
 * got checked for ".." while the extractor saw the whole one. */
START_TEST(over_long_pax_path_refused)
{
        char *name = repeat('a', VS_TAR_NAME_MAX + 10), r[VS_TAR_NAME_MAX + 64];
        mem m;

        memcpy(name + VS_TAR_NAME_MAX - 1, "/../../x", 8);
        snprintf(r, sizeof(r), "%zu path=%s\n", strlen(name) + 11, name);
        mem_open(&m);
        pax_then_file(&m, r, "f", "data");
        expect_bad(&m, "longer than 4096 bytes");
        free(name);
}
END_TEST

START_TEST(over_long_gnu_name_refused)
{
        char *name = repeat('b', VS_TAR_NAME_MAX + 1);
        tw_hdr f = { .name = "f", .format = TW_GNU };
        mem m;

        mem_open(&m);
        tw_meta(m.f, 'L', name, strlen(name) + 1);
        tw_entry(m.f, &f, NULL, 0);
        tw_end(m.f);
        expect_bad(&m, "longer than 4096 bytes");
        free(name);
}
END_TEST

START_TEST(gnu_long_name_and_link)
{
        char *name = repeat('n', 300), *target = repeat('t', 200);
        tw_hdr f = { .name = "short", .type = '2', .linkname = "short-target", .format = TW_GNU };
        mem m;
        vs_tar_entry e;

        memcpy(name, "dir/", 4);
        mem_open(&m);
        tw_meta(m.f, 'L', name, strlen(name) + 1);
        tw_meta(m.f, 'K', target, strlen(target) + 1);
        tw_entry(m.f, &f, NULL, 0);
        tw_end(m.f);
        expect_one(&m, &e);
        ck_assert_str_eq(e.name, name);
        ck_assert_str_eq(e.linkname, target);
        ck_assert_int_eq(e.type, '2');
        free(name);
        free(target);
}
END_TEST

/* Go lets a GNU long name win over a pax path, GNU tar the pax path. */
START_TEST(pax_path_and_gnu_long_name_conflict)
{
        tw_hdr f = { .name = "f" };
        mem m;

        mem_open(&m);
        tw_meta(m.f, 'x', "13 path=safe\n", 13);
        tw_meta(m.f, 'L', "../../etc/cron.d/x", 19);
        tw_entry(m.f, &f, NULL, 0);
        tw_end(m.f);
        expect_bad(&m, "both a pax and a GNU long name");
}
END_TEST

START_TEST(two_pax_headers_refused)
{
        tw_hdr f = { .name = "f" };
        mem m;

        mem_open(&m);
        tw_meta(m.f, 'x', "10 path=a\n", 10);
        tw_meta(m.f, 'x', "10 path=b\n", 10);
        tw_entry(m.f, &f, NULL, 0);
        tw_end(m.f);
        expect_bad(&m, "two pax headers");
}
END_TEST

/* Regression: "ok\0/../../x" was checked as "ok". */
START_TEST(pax_path_with_nul_refused)
{
        static const char rec[] = "20 path=ok\0/../../x\n";
        tw_hdr f = { .name = "f" };
        mem m;

        mem_open(&m);
        tw_meta(m.f, 'x', rec, sizeof(rec) - 1);
        tw_entry(m.f, &f, NULL, 0);
        tw_end(m.f);
        expect_bad(&m, "bad pax path");
}
END_TEST

/* GNU tar applies a global header's path to every later entry. */
START_TEST(global_pax_path_refused)
{
        tw_hdr f = { .name = "f" };
        mem m;

        mem_open(&m);
        tw_meta(m.f, 'g', rec("path=../../x"), strlen(rec("path=../../x")));
        tw_entry(m.f, &f, NULL, 0);
        tw_end(m.f);
        expect_bad(&m, "global pax header sets path");
}
END_TEST

START_TEST(global_pax_comment_ignored)
{
        const char *r = rec("comment=0123456789012345678901234567890123456789");
        tw_hdr f = { .name = "f", .size = 1 };
        mem m;
        vs_tar_entry e;

        mem_open(&m);
        tw_meta(m.f, 'g', r, strlen(r));
        tw_entry(m.f, &f, "x", 1);
        tw_end(m.f);
        expect_one(&m, &e);
        ck_assert_str_eq(e.name, "f");
        ck_assert_uint_eq(e.size, 1);
}
END_TEST

START_TEST(sparse_refused)
{
        tw_hdr f = { .name = "f" }, s = { .name = "s", .type = 'S', .format = TW_GNU };
        mem m;

        mem_open(&m);
        pax_then_file(&m, rec("GNU.sparse.name=../../x"), "f", "data");
        expect_bad(&m, "sparse files");
        mem_open(&m);
        tw_entry(m.f, &s, NULL, 0);
        tw_entry(m.f, &f, NULL, 0);
        tw_end(m.f);
        expect_bad(&m, "unsupported tar entry type 0x53");
}
END_TEST

/* Regression: a symlink with a size hid the next block from the checker,
 * while Go's archive/tar reads no data for links and takes that block as
 * the next header. */
START_TEST(data_on_a_link_refused)
{
        tw_hdr l = { .name = "link", .type = '2', .linkname = "x", .size = 512 }, evil = { .name = "../../evil" };
        unsigned char hidden[512];
        mem m;

        tw_header_block(hidden, &evil);
        mem_open(&m);
        tw_entry(m.f, &l, hidden, sizeof(hidden));
        tw_end(m.f);
        expect_bad(&m, "data on a link, device or directory");
}
END_TEST

/* Go turns an old-style entry named "d/" into a directory without data. */
START_TEST(data_on_a_slash_entry_refused)
{
        tw_hdr d = { .name = "d/", .type = '\0', .size = 512 };
        unsigned char h[512];
        mem m;

        tw_header_block(h, &d);
        h[156] = '\0';
        tw_checksum(h);
        mem_open(&m);
        fwrite(h, 1, 512, m.f);
        fwrite(h, 1, 512, m.f);
        tw_end(m.f);
        expect_bad(&m, "data on a directory");
}
END_TEST

/* Regression: old GNU headers keep atime/ctime where ustar has its prefix;
 * reading it as a prefix turned "/etc/passwd" into "<junk>//etc/passwd". */
START_TEST(gnu_header_has_no_prefix)
{
        tw_hdr f = { .name = "/etc/passwd", .prefix = "14761234567", .format = TW_GNU };
        mem m;
        vs_tar_entry e;

        mem_open(&m);
        tw_entry(m.f, &f, NULL, 0);
        tw_end(m.f);
        expect_one(&m, &e);
        ck_assert_str_eq(e.name, "/etc/passwd");
        ck_assert_int_eq(vs_tar_name_unsafe(e.name), 1);
}
END_TEST

START_TEST(ustar_prefix)
{
        tw_hdr f = { .name = "file", .prefix = "some/dir" };
        mem m;
        vs_tar_entry e;

        mem_open(&m);
        tw_entry(m.f, &f, NULL, 0);
        tw_end(m.f);
        expect_one(&m, &e);
        ck_assert_str_eq(e.name, "some/dir/file");
}
END_TEST

START_TEST(star_long_prefix_refused)
{
        char *prefix = repeat('p', 140);
        tw_hdr f = { .name = "file", .prefix = prefix, .format = TW_STAR };
        mem m;

        memcpy(prefix + 126, "/..", 3);
        mem_open(&m);
        tw_entry(m.f, &f, NULL, 0);
        tw_end(m.f);
        expect_bad(&m, "ambiguous tar header");
        free(prefix);
}
END_TEST

START_TEST(unknown_types_refused)
{
        static const char types[] = "XNVMDA";

        for (size_t i = 0; types[i]; i++) {
                tw_hdr f = { .name = "f", .type = types[i] };
                mem m;
                char want[64];

                mem_open(&m);
                tw_entry(m.f, &f, NULL, 0);
                tw_end(m.f);
                snprintf(want, sizeof(want), "unsupported tar entry type 0x%02x", types[i]);
                expect_bad(&m, want);
        }
}
END_TEST

static void one_with_size_field(const unsigned char raw[12], mem *m)
{
        tw_hdr f = { .name = "f", .raw_size = raw };
        static const char data[1024];

        mem_open(m);
        tw_header(m->f, &f);
        fwrite(data, 1, sizeof(data), m->f);
        tw_end(m->f);
}

START_TEST(size_fields)
{
        static const unsigned char b256_one[12] = { 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
        static const unsigned char b256_high[12] = { 0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
        static const unsigned char b256_neg[12] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
        static const unsigned char b256_huge[12] = { 0x80, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0 };
        static const unsigned char nul_first[12] = "\0" "0000001000";
        static const unsigned char gap[12] = "00001 00000";
        static const unsigned char spaces[12] = "   0000012 ";
        static const unsigned char all_nul[12] = { 0 };
        static const unsigned char *const bad[] = { b256_high, b256_neg, b256_huge, nul_first, gap };
        vs_tar_entry e;
        mem m;

        one_with_size_field(b256_one, &m);
        expect_one(&m, &e);
        ck_assert_uint_eq(e.size, 1);
        one_with_size_field(spaces, &m);
        expect_one(&m, &e);
        ck_assert_uint_eq(e.size, 10);
        one_with_size_field(all_nul, &m);
        expect_one(&m, &e);
        ck_assert_uint_eq(e.size, 0);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                one_with_size_field(bad[i], &m);
                expect_bad(&m, "bad size field");
        }
}
END_TEST

START_TEST(meta_chain_bounded)
{
        tw_hdr f = { .name = "f" };
        mem m;

        mem_open(&m);
        for (int i = 0; i < 9; i++)
                tw_meta(m.f, 'g', "12 comment=\n", 12);
        tw_entry(m.f, &f, NULL, 0);
        tw_end(m.f);
        expect_bad(&m, "more than 8 extended headers");
}
END_TEST

START_TEST(ends_after_extended_header)
{
        mem m;

        mem_open(&m);
        tw_meta(m.f, 'x', "10 path=a\n", 10);
        tw_end(m.f);
        expect_bad(&m, "ends after an extended header");
        mem_open(&m);
        tw_meta(m.f, 'L', "name", 5);
        expect_bad(&m, "ends after an extended header");
}
END_TEST

START_TEST(truncated)
{
        tw_hdr f = { .name = "f", .size = 4096 };
        static const char data[100];
        mem m;

        mem_open(&m);
        tw_header(m.f, &f);
        fwrite(data, 1, sizeof(data), m.f);
        expect_bad(&m, "truncated tar archive");
        mem_open(&m);
        f.size = 10;
        tw_header(m.f, &f);
        fwrite(data, 1, 10, m.f); /* no padding */
        expect_bad(&m, "truncated tar archive");
}
END_TEST

START_TEST(entry_count_bounded)
{
        mem m;
        vs_error err;
        int n;

        mem_open(&m);
        for (int i = 0; i < 4; i++) {
                tw_hdr f = { .name = "f" };
                tw_entry(m.f, &f, NULL, 0);
        }
        tw_end(m.f);
        max_headers = 3;
        ck_assert_int_eq(walk(&m, NULL, &n, &err), -1);
        max_headers = 0;
        ck_assert_int_eq(n, 3);
        ck_assert_str_eq(err.msg, "tar archive has more than 3 entries");
}
END_TEST

START_TEST(empty_archive_is_the_end)
{
        mem m;
        vs_error err;
        int n;

        mem_open(&m);
        tw_end(m.f);
        ck_assert_int_eq(walk(&m, NULL, &n, &err), 0);
        ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(canonical_names)
{
        static const char *const cases[][2] = {
                { "./a//b/./c/", "a/b/c" }, { "./", "" }, { ".", "" }, { "/abs//x", "/abs/x" },
                { "././x", "x" }, { "a/../b", "a/../b" }, { "..", ".." }, { "//x", "/x" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char buf[64];

                snprintf(buf, sizeof(buf), "%s", cases[i][0]);
                vs_tar_name_canon(buf);
                ck_assert_str_eq(buf, cases[i][1]);
        }
}
END_TEST

static int check_bytes(mem *m, vs_error *err)
{
        int fd, r;

        fclose(m->f);
        fd = tw_memfd(m->buf, m->len);
        memset(err, 0, sizeof(*err));
        r = vs_tar_check(fd, 0, m->len, err);
        close(fd);
        free(m->buf);
        return r;
}

START_TEST(check_names_and_hard_links)
{
        tw_hdr sym = { .name = "etc-link", .type = '2', .linkname = "/etc" };
        tw_hdr hard = { .name = "h", .type = '1', .linkname = "../../etc/shadow" };
        tw_hdr esc = { .name = "\x1b]0;owned\x07/../x" };
        tw_hdr rel = { .name = "bin/sh", .type = '2', .linkname = "../lib/x" };
        vs_error err;
        mem m;

        mem_open(&m);
        tw_entry(m.f, &sym, NULL, 0);
        tw_entry(m.f, &rel, NULL, 0);
        tw_end(m.f);
        ck_assert_int_eq(check_bytes(&m, &err), 0);

        mem_open(&m);
        tw_entry(m.f, &hard, NULL, 0);
        tw_end(m.f);
        ck_assert_int_eq(check_bytes(&m, &err), -1);
        ck_assert_str_eq(err.msg, "unsafe entry (hard link to) \"../../etc/shadow\"");

        mem_open(&m);
        tw_meta(m.f, 'x', rec("linkpath=/etc"), strlen(rec("linkpath=/etc")));
        hard.linkname = "fine";
        tw_entry(m.f, &hard, NULL, 0);
        tw_end(m.f);
        ck_assert_int_eq(check_bytes(&m, &err), -1);
        ck_assert_str_eq(err.msg, "unsafe entry (hard link to) \"/etc\"");

        mem_open(&m);
        tw_entry(m.f, &esc, NULL, 0);
        tw_end(m.f);
        ck_assert_int_eq(check_bytes(&m, &err), -1);
        ck_assert_str_eq(err.msg, "unsafe entry \"?]0;owned?/../x\"");
}
END_TEST

/* Regression (tests/fuzz/tar-diff): a long name without a NUL inside its
 * size: GNU tar reads on into the block's padding up to a NUL there ("ok"
 * + "/../x" here), Go stops at the size.  Refused unless the padding starts
 * with NUL. */
static void long_name_padded(mem *m, const char *pad)
{
        tw_hdr f = { .name = "f", .format = TW_GNU };

        mem_open(m);
        tw_header(m->f, &(tw_hdr){ .name = "././@LongLink", .type = 'L', .size = 2, .format = TW_GNU });
        fwrite("ok", 1, 2, m->f);
        fwrite(pad, 1, strlen(pad), m->f);
        tw_pad(m->f, 2 + strlen(pad));
        tw_entry(m->f, &f, NULL, 0);
        tw_end(m->f);
}

START_TEST(gnu_long_name_past_size_refused)
{
        vs_error err = { 0 };
        mem m;

        long_name_padded(&m, "/../x");
        expect_bad(&m, "GNU long name runs on past its size");
        long_name_padded(&m, "");
        ck_assert_int_eq(check_bytes(&m, &err), 0);
}
END_TEST

/* Regression (tests/fuzz/tar-diff): GNU tar reads a long name past a NUL
 * that Go and the walker stop at. */
START_TEST(nul_inside_gnu_long_name_refused)
{
        static const char name[] = "ok\0/../../etc/x";
        tw_hdr f = { .name = "f", .format = TW_GNU };
        mem m;

        mem_open(&m);
        tw_meta(m.f, 'L', name, sizeof(name));
        tw_entry(m.f, &f, NULL, 0);
        tw_end(m.f);
        expect_bad(&m, "NUL inside a GNU long name");
}
END_TEST

Suite *suite_tar(void)
{
        Suite *s = suite_create("tar");
        TCase *tc = tcase_create("tar");

        tcase_add_test(tc, pax_record_shorter_than_prefix);
        tcase_add_test(tc, pax_path_and_size);
        tcase_add_test(tc, pax_size_must_be_a_number);
        tcase_add_test(tc, pax_size_moves_the_next_header);
        tcase_add_test(tc, over_long_pax_path_refused);
        tcase_add_test(tc, over_long_gnu_name_refused);
        tcase_add_test(tc, gnu_long_name_and_link);
        tcase_add_test(tc, pax_path_and_gnu_long_name_conflict);
        tcase_add_test(tc, two_pax_headers_refused);
        tcase_add_test(tc, pax_path_with_nul_refused);
        tcase_add_test(tc, global_pax_path_refused);
        tcase_add_test(tc, global_pax_comment_ignored);
        tcase_add_test(tc, sparse_refused);
        tcase_add_test(tc, data_on_a_link_refused);
        tcase_add_test(tc, data_on_a_slash_entry_refused);
        tcase_add_test(tc, gnu_header_has_no_prefix);
        tcase_add_test(tc, ustar_prefix);
        tcase_add_test(tc, star_long_prefix_refused);
        tcase_add_test(tc, unknown_types_refused);
        tcase_add_test(tc, size_fields);
        tcase_add_test(tc, meta_chain_bounded);
        tcase_add_test(tc, ends_after_extended_header);
        tcase_add_test(tc, truncated);
        tcase_add_test(tc, entry_count_bounded);
        tcase_add_test(tc, empty_archive_is_the_end);
        tcase_add_test(tc, canonical_names);
        tcase_add_test(tc, check_names_and_hard_links);
        tcase_add_test(tc, nul_inside_gnu_long_name_refused);
        tcase_add_test(tc, gnu_long_name_past_size_refused);
        suite_add_tcase(s, tc);
        return s;
}
