/* Image builds (the Docker socket's POST /build, docs/docker-api.md): what a
 * build asks for, the Dockerfile's FROM lines and the build context.
 *
 * A build is a job of the service like any other, with no workflow image:
 * its inputs are the context (an uploaded tar, checked here) and the
 * docker-archives of the FROM images that the host's image store has; the
 * guest agent loads those, runs Docker's classic builder on the context and
 * saves the image it built, which the job always exports. */
#ifndef VS_BUILD_H
#define VS_BUILD_H

#include "error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VS_BUILD_TAGS_MAX 32
#define VS_BUILD_ARGS_MAX 256
#define VS_BUILD_REF_MAX 255          /* an image reference (tag, FROM image) */
#define VS_BUILD_IMAGES_MAX 32        /* FROM images injected into one build */
#define VS_DOCKERFILE_MAX (1u << 20)  /* bytes of the Dockerfile read on the host */
#define VS_DOCKERFILE_LINES_MAX 20000 /* physical lines */
#define VS_DOCKERFILE_LINE_MAX 65536  /* bytes of one instruction, continuations joined */
#define VS_DOCKERFILE_FROMS_MAX 64    /* FROM instructions (stages) */
#define VS_DOCKERFILE_DEFAULT "Dockerfile"

typedef struct {
        char *dockerfile;     /* path inside the context; NULL: "Dockerfile" */
        char **tags;          /* NULL-terminated, may be NULL */
        char **buildargs;     /* "KEY=VALUE", NULL-terminated, may be NULL */
        bool nocache;
        bool pull;            /* always look for a newer FROM image (needs network) */
} vs_build;

vs_build *vs_build_new(void);
void vs_build_free(vs_build *b);
vs_build *vs_build_copy(const vs_build *b);
static inline const char *vs_build_dockerfile(const vs_build *b)
{
        return b->dockerfile ? b->dockerfile : VS_DOCKERFILE_DEFAULT;
}

/* Bounds and shapes; the error names the field ("build.tags[1]: ..."). */
int vs_build_validate(const vs_build *b, vs_error *err);
/* An image reference as a tag or FROM image may name it: 1..255 bytes of
 * [a-z0-9._/:@-] and upper case after the last ':' only, not starting with
 * a separator, no "..". */
bool vs_build_ref_valid(const char *ref);

/* The spec's "build" object: {"dockerfile": S, "tags": [S], "buildargs":
 * {K: V} (null values are skipped), "nocache": B, "pull": B}; unknown
 * fields and wrong types are errors naming the field. */
int vs_build_from_json(const json_t *obj, vs_build **ret, vs_error *err);
json_t *vs_build_to_json(const vs_build *b);
/* The guest's "build" object: dockerfile, buildargs as ["K=V"], nocache,
 * pull (tags are the host store's, not the guest's). */
json_t *vs_build_guest_json(const vs_build *b);

/* The images that the Dockerfile's FROM lines name, in order, each once:
 * not "scratch", not an earlier stage (FROM x AS name), after substituting
 * $X / ${X} / ${X:-word} / ${X:+word} from the ARGs declared before the
 * first FROM (a build argument "X=V" of buildargs overrides its default).
 * Parser directives (# escape=`), comments and line continuations are
 * Docker's.  Bounded: VS_DOCKERFILE_MAX bytes, _LINES_MAX lines, _LINE_MAX
 * per instruction, _FROMS_MAX stages; the error names the line.
 * *ret_images is NULL-terminated (empty: FROM scratch only). */
int vs_dockerfile_images(const char *text, size_t len, char *const *buildargs, char ***ret_images, vs_error *err);

/* The build context: fd (len bytes from offset 0) must be an uncompressed
 * tar that vs_tar_check accepts; the Dockerfile at path (relative to the
 * context root, no "..") must be a regular file in it of at most
 * VS_DOCKERFILE_MAX bytes (the last entry of that name counts, as in an
 * extraction).  *ret_text is NUL-terminated, *ret_len its length.  Errors
 * are VS_ERR_INPUT. */
int vs_build_context_dockerfile(int fd, uint64_t len, const char *path, char **ret_text, size_t *ret_len,
                                vs_error *err);

#endif
