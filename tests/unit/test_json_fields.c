/* The table-driven field readers (json_fields.h): every kind, bound, flag
 * and error, the default messages and the hook, and table order. */
#include "json_fields.h"
#include "strv.h"
#include "tests.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
        char *name;
        char id[8];
        bool on;
        int64_t n;
        char **words;
        char **pairs;
} thing;

static bool no_x(const char *s)
{
        return !strchr(s, 'x');
}

static const vs_json_field rows[] = {
        { "name", VS_JF_STRING, offsetof(thing, name), 5, 0, VS_JF_REQUIRED | VS_JF_NULLABLE, no_x, "has an x" },
        { "id", VS_JF_BUF, offsetof(thing, id), 7, 0, VS_JF_NULLABLE, NULL, NULL },
        { "on", VS_JF_BOOL, offsetof(thing, on), 0, 0, 0, NULL, NULL },
        { "n", VS_JF_COUNT, offsetof(thing, n), 0, 0, VS_JF_NULLABLE, NULL, NULL },
        { "words", VS_JF_STRV, offsetof(thing, words), 2, 3, VS_JF_NULLABLE | VS_JF_ONE_STRING, NULL, NULL },
        { "pairs", VS_JF_PAIRS, offsetof(thing, pairs), 2, 3, VS_JF_NULLABLE | VS_JF_NONEMPTY_KEYS, NULL, NULL },
};

static const vs_json_reader rd = { VS_ERR_INPUT, "t.", NULL, NULL };

static void thing_clear(thing *t)
{
        free(t->name);
        vs_strv_free(t->words);
        vs_strv_free(t->pairs);
        memset(t, 0, sizeof(*t));
}

/* Reads text into t, which starts as fill bytes (0xa5 where every row
 * must be set: a reader sets its default when the field is absent); returns
 * the error message ("" on success). */
static const char *read_fill(const char *text, thing *t, int fill)
{
        static vs_error err;
        json_error_t je;
        json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);
        int r;

        ck_assert_msg(j != NULL, "%s: %s", text, je.text);
        memset(t, fill, sizeof(*t));
        err = (vs_error){ 0 };
        r = vs_json_fields_read(j, rows, sizeof(rows) / sizeof(rows[0]), t, &rd, &err);
        json_decref(j);
        if (r == 0)
                ck_assert_int_eq(err.kind, VS_ERR_NONE);
        else
                ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        return err.msg;
}

static const char *read_text(const char *text, thing *t)
{
        return read_fill(text, t, 0xa5);
}

#define CK_REFUSED(text, want)                                        \
        do {                                                          \
                thing t_;                                             \
                const char *m_ = read_fill(text, &t_, 0);             \
                ck_assert_str_eq(m_, want);                           \
                thing_clear(&t_);                                     \
        } while (0)

START_TEST(reads_every_kind)
{
        thing t;

        ck_assert_str_eq(read_text("{\"name\":\"abcde\",\"id\":\"1234567\",\"on\":true,\"n\":9007199254740993,"
                                   "\"words\":[\"a\",\"\\u00e9\"],\"pairs\":{\"k\":\"v\",\"\":\"w\"}}", &t),
                         "t.pairs has an entry that is not a string of valid UTF-8 text"); /* VS_JF_NONEMPTY_KEYS */
        thing_clear(&t);
        ck_assert_str_eq(read_text("{\"name\":\"abcde\",\"id\":\"1234567\",\"on\":true,\"n\":9007199254740993,"
                                   "\"words\":[\"a\",\"\\u00e9\"],\"pairs\":{\"k\":\"v\",\"kk\":\"\"}}", &t), "");
        ck_assert_str_eq(t.name, "abcde");
        ck_assert_str_eq(t.id, "1234567");
        ck_assert(t.on);
        ck_assert_int_eq(t.n, 9007199254740993LL);
        ck_assert_uint_eq(vs_strv_length(t.words), 2);
        ck_assert_str_eq(t.words[0], "a");
        ck_assert_str_eq(t.words[1], "\xc3\xa9");
        ck_assert_uint_eq(vs_strv_length(t.pairs), 4);
        ck_assert_str_eq(t.pairs[0], "k");
        ck_assert_str_eq(t.pairs[1], "v");
        ck_assert_str_eq(t.pairs[2], "kk");
        ck_assert_str_eq(t.pairs[3], "");
        thing_clear(&t);
}
END_TEST

/* Absent and (where the row says) null are the defaults. */
START_TEST(absent_and_null)
{
        thing t;

        ck_assert_str_eq(read_text("{\"name\":\"a\",\"id\":null,\"n\":null,\"words\":null,\"pairs\":null}", &t), "");
        ck_assert_str_eq(t.id, "");
        ck_assert(!t.on);
        ck_assert_int_eq(t.n, 0);
        ck_assert_ptr_null(t.words);
        ck_assert_ptr_null(t.pairs);
        thing_clear(&t);
        ck_assert_str_eq(read_text("{\"name\":\"a\",\"words\":[],\"pairs\":{}}", &t), "");
        ck_assert_ptr_nonnull(t.words);
        ck_assert_ptr_null(t.words[0]);
        ck_assert_ptr_nonnull(t.pairs);
        ck_assert_ptr_null(t.pairs[0]);
        thing_clear(&t);
        /* one string is a one-word vector (VS_JF_ONE_STRING) */
        ck_assert_str_eq(read_text("{\"name\":\"a\",\"words\":\"abc\"}", &t), "");
        ck_assert_uint_eq(vs_strv_length(t.words), 1);
        ck_assert_str_eq(t.words[0], "abc");
        thing_clear(&t);
}
END_TEST

START_TEST(refusals_name_the_field)
{
        CK_REFUSED("{}", "t.name is missing");
        CK_REFUSED("{\"name\":null}", "t.name is missing");
        CK_REFUSED("{\"name\":1}", "t.name is not a string");
        CK_REFUSED("{\"name\":\"abcdef\"}", "t.name is too long");
        CK_REFUSED("{\"name\":\"a\\u0000b\"}", "t.name is not valid UTF-8 text");
        CK_REFUSED("{\"name\":\"axb\"}", "t.name has an x");
        CK_REFUSED("{\"name\":\"a\",\"id\":\"12345678\"}", "t.id is too long");
        CK_REFUSED("{\"name\":\"a\",\"on\":null}", "t.on is not true or false");
        CK_REFUSED("{\"name\":\"a\",\"on\":1}", "t.on is not true or false");
        CK_REFUSED("{\"name\":\"a\",\"n\":-1}", "t.n is not a count of 0 or more");
        CK_REFUSED("{\"name\":\"a\",\"n\":1.5}", "t.n is not a count of 0 or more");
        CK_REFUSED("{\"name\":\"a\",\"words\":{}}", "t.words is not an array");
        CK_REFUSED("{\"name\":\"a\",\"words\":[\"a\",\"b\",\"c\"]}", "t.words has too many entries");
        CK_REFUSED("{\"name\":\"a\",\"words\":[\"a\",\"abcd\"]}",
                   "t.words has an entry that is not a string of valid UTF-8 text");
        CK_REFUSED("{\"name\":\"a\",\"words\":[\"a\",2]}", "t.words has an entry that is not a string of valid UTF-8 text");
        CK_REFUSED("{\"name\":\"a\",\"words\":\"abcd\"}", "t.words has an entry that is not a string of valid UTF-8 text");
        CK_REFUSED("{\"name\":\"a\",\"pairs\":[]}", "t.pairs is not an object");
        CK_REFUSED("{\"name\":\"a\",\"pairs\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}}", "t.pairs has too many entries");
        CK_REFUSED("{\"name\":\"a\",\"pairs\":{\"abcd\":\"1\"}}",
                   "t.pairs has an entry that is not a string of valid UTF-8 text");
        CK_REFUSED("{\"name\":\"a\",\"pairs\":{\"a\":\"abcd\"}}",
                   "t.pairs has an entry that is not a string of valid UTF-8 text");
        CK_REFUSED("{\"name\":\"a\",\"pairs\":{\"a\":1}}", "t.pairs has an entry that is not a string of valid UTF-8 text");
        /* rows are looked at in table order: the first bad one is the error */
        CK_REFUSED("{\"pairs\":1,\"name\":\"axe\",\"on\":2}", "t.name has an x");
        CK_REFUSED("{\"pairs\":1,\"name\":\"a\",\"n\":-2,\"on\":2}", "t.on is not true or false");
}
END_TEST

static int hook_calls;

static int hook(const vs_json_field *f, vs_jf_why why, size_t index, void *userdata, vs_error *err)
{
        hook_calls++;
        return vs_error_set(err, VS_ERR_USAGE, "%s %s[%zu]: %s (%d)", (const char *)userdata, f->key, index,
                            vs_jf_phrase(f, why), (int)why);
}

/* Reads text with the hook into t (starting as fill bytes); returns the
 * message. */
static const char *hook_read(const char *text, thing *t, int fill)
{
        static vs_error err;
        vs_json_reader own = { VS_ERR_INPUT, "ignored.", hook, (void *)"body:" };
        json_t *j = json_loads(text, 0, NULL);

        ck_assert_ptr_nonnull(j);
        err = (vs_error){ 0 };
        memset(t, fill, sizeof(*t));
        ck_assert_int_eq(vs_json_fields_read(j, rows, sizeof(rows) / sizeof(rows[0]), t, &own, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_USAGE);
        json_decref(j);
        return err.msg;
}

/* A hook says what the errors say, with the entry's index. */
START_TEST(error_hook_and_index)
{
        vs_json_reader own = { VS_ERR_INPUT, "ignored.", hook, (void *)"body:" };
        vs_error err = { 0 };
        json_t *j;
        thing t;

        hook_calls = 0;
        ck_assert_str_eq(hook_read("{\"name\":\"a\",\"words\":[\"a\",\"b\"],\"pairs\":{\"a\":\"1\",\"b\":2}}", &t, 0xa5),
                         "body: pairs[1]: has an entry that is not a string of valid UTF-8 text (9)");
        ck_assert_int_eq(hook_calls, 1);
        /* the rows before the bad one are set, the bad one is not */
        ck_assert_str_eq(t.name, "a");
        ck_assert_uint_eq(vs_strv_length(t.words), 2);
        ck_assert_ptr_null(t.pairs);
        thing_clear(&t);
        ck_assert_str_eq(hook_read("{\"name\":\"a\",\"words\":[\"a\",\"b\",\"c\"]}", &t, 0),
                         "body: words[0]: has too many entries (8)");
        thing_clear(&t);
        ck_assert_str_eq(hook_read("{\"name\":\"a\",\"words\":[\"a\",\"bbbb\"]}", &t, 0),
                         "body: words[1]: has an entry that is not a string of valid UTF-8 text (9)");
        thing_clear(&t);
        /* a key that is not UTF-8 (jansson's parser lets none through) */
        j = json_pack("{s:s, s:{}}", "name", "a", "pairs");
        json_object_set_new_nocheck(json_object_get(j, "pairs"), "\xff", json_string("1"));
        memset(&t, 0, sizeof(t));
        ck_assert_int_eq(vs_json_fields_read(j, rows, sizeof(rows) / sizeof(rows[0]), &t, &own, &err), -1);
        ck_assert_str_eq(err.msg, "body: pairs[0]: has an entry that is not a string of valid UTF-8 text (9)");
        thing_clear(&t);
        json_decref(j);
        /* not an object: an empty one (here: name is missing) */
        j = json_loads("[1]", 0, NULL);
        ck_assert_int_eq(vs_json_fields_read(j, rows, sizeof(rows) / sizeof(rows[0]), &t, &rd, &err), -1);
        ck_assert_str_eq(err.msg, "t.name is missing");
        json_decref(j);
}
END_TEST

Suite *suite_json_fields(void)
{
        Suite *s = suite_create("json_fields");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, reads_every_kind);
        tcase_add_test(tc, absent_and_null);
        tcase_add_test(tc, refusals_name_the_field);
        tcase_add_test(tc, error_hook_and_index);
        suite_add_tcase(s, tc);
        return s;
}
