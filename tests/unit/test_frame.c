#include "frame.h"
#include "tests.h"

#include <string.h>

typedef struct {
        char types[16];
        char data[16][64];
        int n;
} seen;

static void collect(void *ud, char type, const char *data, size_t len)
{
        seen *s = ud;

        if (s->n < 16) {
                s->types[s->n] = type;
                memcpy(s->data[s->n], data, len < 63 ? len : 63);
                s->data[s->n][len < 63 ? len : 63] = '\0';
                s->n++;
        }
}

static size_t frame(unsigned char *buf, char type, const char *payload)
{
        size_t len = strlen(payload);

        buf[0] = (unsigned char)type;
        buf[1] = (unsigned char)(len >> 24);
        buf[2] = (unsigned char)(len >> 16);
        buf[3] = (unsigned char)(len >> 8);
        buf[4] = (unsigned char)len;
        memcpy(buf + 5, payload, len);
        return len + 5;
}

static vs_frame_decoder d;

START_TEST(whole_and_split)
{
        unsigned char buf[256];
        size_t n = 0;
        seen s = { 0 };

        n += frame(buf + n, 'o', "hello\n");
        n += frame(buf + n, 'p', "run start 1");
        n += frame(buf + n, 'e', "");
        vs_frame_decoder_init(&d);
        /* byte by byte: every split point is exercised */
        for (size_t i = 0; i < n; i++)
                ck_assert_int_eq(vs_frame_feed(&d, buf + i, 1, collect, &s), 0);
        ck_assert_int_eq(s.n, 3);
        ck_assert_int_eq(s.types[0], 'o');
        ck_assert_str_eq(s.data[0], "hello\n");
        ck_assert_str_eq(s.data[1], "run start 1");
        ck_assert_str_eq(s.data[2], "");
}
END_TEST

START_TEST(oversize_breaks_stream)
{
        unsigned char bad[5] = { 'o', 0x7f, 0xff, 0xff, 0xff };
        unsigned char good[32];
        size_t n = frame(good, 'o', "late");
        seen s = { 0 };

        vs_frame_decoder_init(&d);
        ck_assert_int_eq(vs_frame_feed(&d, bad, sizeof(bad), collect, &s), -1);
        ck_assert_int_eq(vs_frame_feed(&d, good, n, collect, &s), -1);
        ck_assert_int_eq(s.n, 0);
}
END_TEST

START_TEST(max_frame_accepted)
{
        static unsigned char buf[VS_FRAME_HEADER + VS_FRAME_MAX];
        seen s = { 0 };

        memset(buf, 'x', sizeof(buf));
        buf[0] = 'o';
        buf[1] = 0;
        buf[2] = (unsigned char)(VS_FRAME_MAX >> 16);
        buf[3] = (unsigned char)(VS_FRAME_MAX >> 8);
        buf[4] = (unsigned char)VS_FRAME_MAX;
        vs_frame_decoder_init(&d);
        ck_assert_int_eq(vs_frame_feed(&d, buf, sizeof(buf), collect, &s), 0);
        ck_assert_int_eq(s.n, 1);
}
END_TEST

Suite *suite_frame(void)
{
        Suite *s = suite_create("frame");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, whole_and_split);
        tcase_add_test(tc, oversize_breaks_stream);
        tcase_add_test(tc, max_frame_accepted);
        suite_add_tcase(s, tc);
        return s;
}
