#include "sha256.h"
#include "tests.h"

#include <string.h>

static void hash(const char *s, char hex[65])
{
        vs_sha256 c;

        vs_sha256_init(&c);
        vs_sha256_update(&c, s, strlen(s));
        vs_sha256_final_hex(&c, hex);
}

START_TEST(vectors)
{
        char hex[65];
        vs_sha256 c;

        hash("", hex);
        ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        hash("abc", hex);
        ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
        ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        /* a million 'a's fed in odd-sized pieces */
        vs_sha256_init(&c);
        char a[997];
        memset(a, 'a', sizeof(a));
        size_t left = 1000000;
        while (left) {
                size_t n = left < sizeof(a) ? left : sizeof(a);
                vs_sha256_update(&c, a, n);
                left -= n;
        }
        vs_sha256_final_hex(&c, hex);
        ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

Suite *suite_sha256(void)
{
        Suite *s = suite_create("sha256");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, vectors);
        suite_add_tcase(s, tc);
        return s;
}
