/* Builds (build.c): the Dockerfile's FROM images, the context's Dockerfile,
 * the build object of the spec and its JSON. */
#include "build.h"
#include "cleanup.h"
#include "spec.h"
#include "strv.h"
#include "tarwriter.h"
#include "tests.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The FROM images of text joined by ',' ("" for none), or "ERR: msg". */
static char *images_of(const char *text, char *const *buildargs)
{
        _cleanup_strv_ char **v = NULL;
        vs_error err = { 0 };
        char *s;

        if (vs_dockerfile_images(text, strlen(text), buildargs, &v, &err) < 0) {
                s = malloc(strlen(err.msg) + 8);
                sprintf(s, "ERR: %s", err.msg);
                return s;
        }
        s = calloc(1, 4096);
        for (size_t i = 0; v[i]; i++) {
                if (i)
                        strcat(s, ",");
                strcat(s, v[i]);
        }
        return s;
}

#define EXPECT_IMAGES(text, args, want)                                   \
        do {                                                              \
                _cleanup_free_ char *got_ = images_of(text, args);        \
                ck_assert_str_eq(got_, want);                             \
        } while (0)

START_TEST(from_images_exact)
{
        EXPECT_IMAGES("FROM busybox\nRUN echo hi\n", NULL, "busybox");
        /* comments, blank lines, case, CRLF, flags, stages, scratch, duplicates */
        EXPECT_IMAGES("# a comment\n\n  from --platform=linux/amd64 golang:1.21 AS Build\r\n"
                      "RUN go build \\\n  -o /x\n"
                      "FROM scratch\n"
                      "COPY --from=build /x /x\n"
                      "FROM build AS again\n"
                      "FROM debian:12\n"
                      "FROM golang:1.21\n"
                      "FROM registry.example.org:5000/team/tool@sha256:0123\n",
                      NULL, "golang:1.21,debian:12,registry.example.org:5000/team/tool@sha256:0123");
        /* a stage may only be referred to after it was named */
        EXPECT_IMAGES("FROM later\nFROM alpine AS later\nFROM later\n", NULL, "later,alpine");
        /* continuation inside FROM, with a comment line in between */
        EXPECT_IMAGES("FROM \\\n# inside\n  busybox:1.36 \\\n  AS b\nFROM b\n", NULL, "busybox:1.36");
        /* only scratch */
        EXPECT_IMAGES("FROM scratch\nCOPY x /x\n", NULL, "");
        /* a continuation at the very end ends the instruction */
        EXPECT_IMAGES("FROM busybox \\", NULL, "busybox");
}
END_TEST

START_TEST(from_args_substituted)
{
        char *args[] = { "TAG=3.19", "UNUSED=x", NULL };

        EXPECT_IMAGES("ARG TAG=3.18\nARG BASE=alpine\nFROM ${BASE}:$TAG\n", NULL, "alpine:3.18");
        EXPECT_IMAGES("ARG TAG=3.18\nARG BASE=alpine\nFROM ${BASE}:$TAG\n", args, "alpine:3.19");
        /* a default may use an earlier ARG; quotes around a value */
        EXPECT_IMAGES("ARG V=1\nARG IMG=\"repo/x:v${V}\"\nFROM $IMG\n", NULL, "repo/x:v1");
        /* :- and :+ */
        EXPECT_IMAGES("ARG T\nFROM busybox:${T:-latest}\n", NULL, "busybox:latest");
        EXPECT_IMAGES("ARG T=musl\nFROM busybox${T:+-}${T}\n", NULL, "busybox-musl");
        EXPECT_IMAGES("ARG T\nFROM busybox${T:+-x}\n", NULL, "busybox");
        /* a build arg of an ARG without default; ARG after FROM does not count */
        EXPECT_IMAGES("ARG TAG\nFROM alpine:$TAG\nARG TAG=9\nFROM alpine:${TAG}\n", args, "alpine:3.19");
        /* a build arg for a name never declared is not substituted */
        EXPECT_IMAGES("FROM busybox$UNUSED\n", args, "busybox");
        /* several ARGs on one line */
        EXPECT_IMAGES("ARG A=x B=y\nFROM $A/$B\n", NULL, "x/y");
        /* escaped $: the name is kept, and then not a valid reference */
        EXPECT_IMAGES("ARG A=x\nFROM a\\$A\n", NULL, "ERR: Dockerfile line 2: FROM a$A is not a valid image reference");
}
END_TEST

START_TEST(from_escape_directive)
{
        EXPECT_IMAGES("# escape=`\nFROM mcr.example.com/windows:ltsc `\n  AS w\nRUN dir c:\\\nFROM w\n", NULL,
                      "mcr.example.com/windows:ltsc");
        /* a directive after an instruction is a comment */
        EXPECT_IMAGES("FROM a\n# escape=`\nFROM b `\n", NULL, "ERR: Dockerfile line 3: FROM IMAGE [AS NAME] expected");
        /* the default escape with a syntax directive before it */
        EXPECT_IMAGES("# syntax=docker/dockerfile:1\n# escape=\\\nFROM a \\\n AS s\n", NULL, "a");
}
END_TEST

START_TEST(from_errors)
{
        EXPECT_IMAGES("", NULL, "ERR: the Dockerfile has no FROM instruction");
        EXPECT_IMAGES("# only a comment\nARG X=1\n", NULL, "ERR: the Dockerfile has no FROM instruction");
        EXPECT_IMAGES("RUN true\nFROM a\n", NULL, "ERR: Dockerfile line 1: RUN before the first FROM (only ARG may come first)");
        EXPECT_IMAGES("FROM\n", NULL, "ERR: Dockerfile line 1: FROM needs an image");
        EXPECT_IMAGES("FROM --platform=x\n", NULL, "ERR: Dockerfile line 1: FROM needs an image");
        EXPECT_IMAGES("FROM a AS\n", NULL, "ERR: Dockerfile line 1: FROM IMAGE [AS NAME] expected");
        EXPECT_IMAGES("FROM a b\n", NULL, "ERR: Dockerfile line 1: FROM IMAGE [AS NAME] expected");
        EXPECT_IMAGES("FROM a AS b c\n", NULL, "ERR: Dockerfile line 1: FROM IMAGE [AS NAME] expected");
        EXPECT_IMAGES("ARG T\nFROM $T\n", NULL, "ERR: Dockerfile line 2: the FROM image is empty after substitution");
        EXPECT_IMAGES("\n\nFROM ${T\n", NULL, "ERR: Dockerfile line 3: missing '}' in a substitution");
        EXPECT_IMAGES("FROM ${T%%x}\n", NULL,
                      "ERR: Dockerfile line 1: unsupported substitution in a FROM or ARG (only $X, ${X}, ${X:-word}, ${X:+word})");
        EXPECT_IMAGES("FROM ${1x}\n", NULL, "ERR: Dockerfile line 1: bad substitution");
        EXPECT_IMAGES("FROM Busybox\n", NULL, "ERR: Dockerfile line 1: FROM Busybox is not a valid image reference");
        EXPECT_IMAGES("FROM ../x\n", NULL, "ERR: Dockerfile line 1: FROM ../x is not a valid image reference");
        EXPECT_IMAGES("ARG 9=1\nFROM a\n", NULL, "ERR: Dockerfile line 1: ARG needs NAME[=VALUE]");
}
END_TEST

START_TEST(from_bounds)
{
        vs_error err = { 0 };
        char **v = NULL;
        size_t big = VS_DOCKERFILE_MAX + 1;
        char *text = malloc(big + 1);

        /* size */
        memset(text, '\n', big);
        ck_assert_int_eq(vs_dockerfile_images(text, big, NULL, &v, &err), -1);
        ck_assert_str_eq(err.msg, "the Dockerfile is larger than 1048576 bytes");
        /* lines */
        ck_assert_int_eq(vs_dockerfile_images(text, VS_DOCKERFILE_LINES_MAX + 1, NULL, &v, &err), -1);
        ck_assert_str_eq(err.msg, "Dockerfile: more than 20000 lines");
        /* one instruction, continuations joined: 7000 lines of 10 bytes each */
        strcpy(text, "FROM a\nRUN ");
        for (size_t i = 0, at = strlen(text); i < 7000; i++, at += 12)
                memcpy(text + at, "xxxxxxxxxx\\\n", 13);
        strcat(text, "x\n");
        ck_assert_int_eq(vs_dockerfile_images(text, strlen(text), NULL, &v, &err), -1);
        ck_assert_str_eq(err.msg, "Dockerfile line 2: the instruction is longer than 65536 bytes");
        /* stages */
        text[0] = '\0';
        for (int i = 0; i <= VS_DOCKERFILE_FROMS_MAX; i++)
                strcat(text, "FROM a\n");
        ck_assert_int_eq(vs_dockerfile_images(text, strlen(text), NULL, &v, &err), -1);
        ck_assert_str_eq(err.msg, "Dockerfile: more than 64 FROM instructions");
        /* NUL */
        ck_assert_int_eq(vs_dockerfile_images("FROM a\0b", 8, NULL, &v, &err), -1);
        ck_assert_str_eq(err.msg, "the Dockerfile has a NUL byte");
        ck_assert_ptr_null(v);
        free(text);
}
END_TEST

/* ---- the context ---- */

static int context_fd(void (*fill)(FILE *))
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        int fd;

        fill(f);
        fclose(f);
        fd = tw_memfd(buf, len);
        free(buf);
        return fd;
}

static void ctx_plain(FILE *f)
{
        tw_dir(f, "./");
        tw_file(f, "./Dockerfile", "FROM old\n", 9);
        tw_file(f, "./hello.txt", "hi\n", 3);
        tw_dir(f, "./sub/");
        tw_file(f, "./sub/Build.df", "FROM sub\n", 9);
        tw_file(f, "Dockerfile", "FROM busybox\nCOPY hello.txt /\n", 30); /* the last one counts */
        tw_dir(f, "dir.df/");
        tw_end(f);
}

static void ctx_unsafe(FILE *f)
{
        tw_file(f, "Dockerfile", "FROM a\n", 7);
        tw_file(f, "../escape", "x", 1);
        tw_end(f);
}

static void ctx_big(FILE *f)
{
        char *big = calloc(1, VS_DOCKERFILE_MAX + 1);
        tw_file(f, "Dockerfile", big, VS_DOCKERFILE_MAX + 1);
        tw_end(f);
        free(big);
}

static uint64_t fd_len(int fd)
{
        return (uint64_t)lseek(fd, 0, SEEK_END);
}

START_TEST(context_dockerfile_found)
{
        _cleanup_close_ int fd = context_fd(ctx_plain);
        _cleanup_free_ char *text = NULL, *sub = NULL;
        vs_error err = { 0 };
        size_t len;

        ck_assert_int_eq(vs_build_context_dockerfile(fd, fd_len(fd), "Dockerfile", &text, &len, &err), 0);
        ck_assert_str_eq(text, "FROM busybox\nCOPY hello.txt /\n");
        ck_assert_uint_eq(len, 30);
        ck_assert_int_eq(vs_build_context_dockerfile(fd, fd_len(fd), "./sub//Build.df", &sub, &len, &err), 0);
        ck_assert_str_eq(sub, "FROM sub\n");
}
END_TEST

START_TEST(context_refused)
{
        _cleanup_close_ int fd = context_fd(ctx_plain), unsafe = context_fd(ctx_unsafe), big = context_fd(ctx_big);
        _cleanup_close_ int notar = tw_memfd("this is not a tar archive, just text that is long enough", 56);
        _cleanup_close_ int gz = tw_memfd("\x1f\x8b\x08\x00\x00\x00\x00\x00", 8);
        char *text = NULL;
        vs_error err = { 0 };
        size_t len;

        ck_assert_int_eq(vs_build_context_dockerfile(fd, fd_len(fd), "Dockerfile.missing", &text, &len, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        ck_assert_str_eq(err.msg, "Cannot locate specified Dockerfile: Dockerfile.missing");
        ck_assert_int_eq(vs_build_context_dockerfile(fd, fd_len(fd), "dir.df", &text, &len, &err), -1);
        ck_assert_str_eq(err.msg, "the Dockerfile dir.df is not a regular file in the context");
        ck_assert_int_eq(vs_build_context_dockerfile(fd, fd_len(fd), "../Dockerfile", &text, &len, &err), -1);
        ck_assert_str_eq(err.msg, "dockerfile ../Dockerfile is not a relative path inside the context");
        ck_assert_int_eq(vs_build_context_dockerfile(fd, fd_len(fd), "/Dockerfile", &text, &len, &err), -1);
        ck_assert_int_eq(vs_build_context_dockerfile(gz, 8, "Dockerfile", &text, &len, &err), -1);
        ck_assert_str_eq(err.msg, "the build context is compressed: send an uncompressed tar");
        ck_assert_int_eq(vs_build_context_dockerfile(notar, 56, "Dockerfile", &text, &len, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        ck_assert_ptr_nonnull(strstr(err.msg, "the build context is not a usable tar: "));
        ck_assert_int_eq(vs_build_context_dockerfile(unsafe, fd_len(unsafe), "Dockerfile", &text, &len, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "the build context is not a usable tar: "));
        ck_assert_ptr_nonnull(strstr(err.msg, "../escape"));
        ck_assert_int_eq(vs_build_context_dockerfile(big, fd_len(big), "Dockerfile", &text, &len, &err), -1);
        ck_assert_str_eq(err.msg, "the Dockerfile is larger than 1048576 bytes");
        ck_assert_ptr_null(text);
}
END_TEST

/* ---- the request and its JSON ---- */

static json_t *json_of(const char *text)
{
        json_t *j = json_loads(text, 0, NULL);
        ck_assert_ptr_nonnull(j);
        return j;
}

static char *dump(json_t *j)
{
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(j);
        return s;
}

START_TEST(build_json_round_trip)
{
        _cleanup_json_ json_t *in = json_of("{\"dockerfile\":\"sub/D\",\"tags\":[\"a/b:1\",\"c\"],"
                                            "\"buildargs\":{\"X\":\"1 2\",\"GONE\":null},\"nocache\":true,\"pull\":false}");
        _cleanup_free_ char *out = NULL, *guest = NULL, *def = NULL;
        vs_build *b = NULL, *c;
        vs_error err = { 0 };

        ck_assert_int_eq(vs_build_from_json(in, &b, &err), 0);
        ck_assert_int_eq(vs_build_validate(b, &err), 0);
        c = vs_build_copy(b);
        out = dump(vs_build_to_json(c));
        ck_assert_str_eq(out, "{\"buildargs\":{\"X\":\"1 2\"},\"dockerfile\":\"sub/D\",\"nocache\":true,\"pull\":false,"
                              "\"tags\":[\"a/b:1\",\"c\"]}");
        guest = dump(vs_build_guest_json(c));
        ck_assert_str_eq(guest, "{\"buildargs\":[\"X=1 2\"],\"dockerfile\":\"sub/D\",\"nocache\":true,\"pull\":false}");
        vs_build_free(b);
        vs_build_free(c);
        b = vs_build_new();
        def = dump(vs_build_to_json(b));
        ck_assert_str_eq(def, "{\"buildargs\":{},\"dockerfile\":\"Dockerfile\",\"nocache\":false,\"pull\":false,\"tags\":[]}");
        vs_build_free(b);
}
END_TEST

static void expect_json_error(const char *text, const char *msg)
{
        _cleanup_json_ json_t *in = json_of(text);
        vs_build *b = NULL;
        vs_error err = { 0 };
        int r = vs_build_from_json(in, &b, &err);

        if (r == 0) {
                r = vs_build_validate(b, &err);
                vs_build_free(b);
        }
        ck_assert_int_eq(r, -1);
        ck_assert_int_eq(err.kind, VS_ERR_USAGE);
        ck_assert_str_eq(err.msg, msg);
}

START_TEST(build_json_refused)
{
        expect_json_error("[]", "field \"build\" must be an object");
        expect_json_error("{\"context\":\"x\"}", "unknown field \"build.context\"");
        expect_json_error("{\"dockerfile\":1}", "field \"build.dockerfile\" must be a string");
        expect_json_error("{\"dockerfile\":\"../D\"}",
                          "build.dockerfile must be a relative path inside the context without \"..\"");
        expect_json_error("{\"tags\":\"a\"}", "field \"build.tags\" must be an array of at most 32 strings");
        expect_json_error("{\"tags\":[\"ok\",\"Bad\"]}", "build.tags[1] \"Bad\" is not a valid image reference");
        expect_json_error("{\"buildargs\":{\"1X\":\"v\"}}", "field \"build.buildargs\" must be an object of NAME: string values");
        expect_json_error("{\"buildargs\":{\"X\":1}}", "field \"build.buildargs\" must be an object of NAME: string values");
        expect_json_error("{\"nocache\":\"yes\"}", "field \"build.nocache\" must be true or false");
}
END_TEST

START_TEST(refs_checked)
{
        ck_assert(vs_build_ref_valid("busybox"));
        ck_assert(vs_build_ref_valid("registry.example.org:5000/a/b-c_d.e:Tag-1.X"));
        ck_assert(vs_build_ref_valid("a@sha256:0123abcd"));
        ck_assert(!vs_build_ref_valid(""));
        ck_assert(!vs_build_ref_valid("Upper/case:x"));
        ck_assert(!vs_build_ref_valid("a..b"));
        ck_assert(!vs_build_ref_valid("-a"));
        ck_assert(!vs_build_ref_valid("a b"));
        ck_assert(!vs_build_ref_valid("a\nb"));
}
END_TEST

START_TEST(spec_of_a_build)
{
        _cleanup_json_ json_t *in = json_of("{\"build\":{\"tags\":[\"x:1\"],\"buildargs\":{\"K\":\"secret\"}},"
                                            "\"network\":\"none\",\"memory\":\"2G\"}");
        _cleanup_json_ json_t *with_image = json_of("{\"build\":{},\"image\":\"/x.tar\"}");
        _cleanup_free_ char *api = NULL, *guest = NULL;
        _cleanup_json_ json_t *apij = NULL;
        vs_error err = { 0 };
        vs_spec s;

        ck_assert_int_eq(vs_spec_from_json(in, &s, &err), 0);
        ck_assert_int_eq(vs_spec_validate(&s, &err), 0);
        ck_assert_ptr_nonnull(s.build);
        guest = dump(vs_spec_guest_json(&s, NULL));
        ck_assert_str_eq(guest, "{\"build\":{\"buildargs\":[\"K=secret\"],\"dockerfile\":\"Dockerfile\",\"nocache\":false,"
                                "\"pull\":false},\"export_image\":true,\"network\":\"none\"}");
        apij = vs_spec_to_json(&s);
        api = json_dumps(json_object_get(apij, "build"), JSON_COMPACT | JSON_SORT_KEYS);
        ck_assert_str_eq(api, "{\"buildargs\":{\"K\":\"secret\"},\"dockerfile\":\"Dockerfile\",\"nocache\":false,"
                              "\"pull\":false,\"tags\":[\"x:1\"]}");
        vs_spec_clear(&s);
        ck_assert_int_eq(vs_spec_from_json(with_image, &s, &err), 0);
        ck_assert_int_eq(vs_spec_validate(&s, &err), -1);
        ck_assert_str_eq(err.msg, "a build takes no image, tag, command or workspace");
        vs_spec_clear(&s);
}
END_TEST

Suite *suite_build(void)
{
        Suite *s = suite_create("build");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, from_images_exact);
        tcase_add_test(tc, from_args_substituted);
        tcase_add_test(tc, from_escape_directive);
        tcase_add_test(tc, from_errors);
        tcase_add_test(tc, from_bounds);
        tcase_add_test(tc, context_dockerfile_found);
        tcase_add_test(tc, context_refused);
        tcase_add_test(tc, build_json_round_trip);
        tcase_add_test(tc, build_json_refused);
        tcase_add_test(tc, refs_checked);
        tcase_add_test(tc, spec_of_a_build);
        suite_add_tcase(s, tc);
        return s;
}
