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
static int walk(mem *m, vs_tar_entry *ret_e, int *ret_n, vs_error *err)
{
        vs_tar_reader r;
        vs_tar_entry e;
        int fd, k, n = 0;

        fclose(m->f);
        fd = tw_memfd(m->buf, m->len);
        vs_tar_reader_init(&r, fd, 0, m->len);
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
        pax_then_file(&m, "13 path=long\n", "short", "data");
        ck_assert_int_eq(walk(&m, &e, &n, &err), 0);
        ck_assert_int_eq(n, 1);
        ck_assert_str_eq(e.name, "long");
        ck_assert_uint_eq(e.size, 4);
        ck_assert_int_eq(e.type, '0');
        ck_assert_uint_eq(e.data_offset, 1024 + 512);
}
END_TEST

Suite *suite_tar(void)
{
        Suite *s = suite_create("tar");
        TCase *tc = tcase_create("tar");

        tcase_add_test(tc, pax_record_shorter_than_prefix);
        tcase_add_test(tc, pax_path_and_size);
        suite_add_tcase(s, tc);
        return s;
}
