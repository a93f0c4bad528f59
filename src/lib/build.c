/* Image builds: the request, the Dockerfile's FROM lines, the context. */
#include "build.h"
#include "alloc.h"
#include "cleanup.h"
#include "strv.h"
#include "tar.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BUILDARG_VALUE_MAX 32768

vs_build *vs_build_new(void)
{
        return vs_xcalloc(1, sizeof(vs_build));
}

void vs_build_free(vs_build *b)
{
        if (!b)
                return;
        free(b->dockerfile);
        vs_strv_free(b->tags);
        vs_strv_free(b->buildargs);
        free(b);
}

static char **strv_copy(char *const *v)
{
        char **r = NULL;

        for (size_t i = 0; v && v[i]; i++)
                if (vs_strv_push(&r, v[i]) < 0)
                        vs_oom();
        return r;
}

vs_build *vs_build_copy(const vs_build *b)
{
        vs_build *c = vs_build_new();

        c->dockerfile = b->dockerfile ? vs_xstrdup(b->dockerfile) : NULL;
        c->tags = strv_copy(b->tags);
        c->buildargs = strv_copy(b->buildargs);
        c->nocache = b->nocache;
        c->pull = b->pull;
        return c;
}

/* ---- the request --------------------------------------------------------------- */

bool vs_build_ref_valid(const char *ref)
{
        size_t len = strlen(ref);
        const char *colon = strrchr(ref, ':'), *slash = strrchr(ref, '/');
        const char *tag = colon && (!slash || colon > slash) ? colon : NULL;

        if (len == 0 || len > VS_BUILD_REF_MAX || strstr(ref, "..") || strchr("./:@-", ref[0]))
                return false;
        for (const char *p = ref; *p; p++) {
                bool lower = islower((unsigned char)*p) || isdigit((unsigned char)*p) || strchr("._/:@-", *p);
                /* Repository names are lower case; a tag may have capitals. */
                if (!lower && !(tag && p > tag && isupper((unsigned char)*p)))
                        return false;
        }
        return true;
}

static bool arg_name_valid(const char *s, size_t len)
{
        if (len == 0 || len > 255 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
                        return false;
        return true;
}

/* A context path: relative, canonical enough to find in the tar. */
static bool context_path_valid(const char *p)
{
        size_t len = strlen(p);

        if (len == 0 || len > 1024 || vs_tar_name_unsafe(p))
                return false;
        for (const char *c = p; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                        return false;
        return true;
}

int vs_build_validate(const vs_build *b, vs_error *err)
{
        if (b->dockerfile && !context_path_valid(b->dockerfile))
                return vs_error_set(err, VS_ERR_USAGE,
                                    "build.dockerfile must be a relative path inside the context without \"..\"");
        if (vs_strv_length(b->tags) > VS_BUILD_TAGS_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "build.tags: more than %d tags", VS_BUILD_TAGS_MAX);
        for (size_t i = 0; b->tags && b->tags[i]; i++)
                if (!vs_build_ref_valid(b->tags[i]))
                        return vs_error_set(err, VS_ERR_USAGE, "build.tags[%zu] \"%.64s\" is not a valid image reference",
                                            i, b->tags[i]);
        if (vs_strv_length(b->buildargs) > VS_BUILD_ARGS_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "build.buildargs: more than %d arguments", VS_BUILD_ARGS_MAX);
        for (size_t i = 0; b->buildargs && b->buildargs[i]; i++) {
                const char *kv = b->buildargs[i], *eq = strchr(kv, '=');
                if (!eq || !arg_name_valid(kv, (size_t)(eq - kv)))
                        return vs_error_set(err, VS_ERR_USAGE, "build.buildargs: \"%.64s\" is not NAME=VALUE", kv);
                if (strlen(eq + 1) > BUILDARG_VALUE_MAX)
                        return vs_error_set(err, VS_ERR_USAGE, "build.buildargs: the value of %.*s is longer than %d bytes",
                                            (int)(eq - kv), kv, BUILDARG_VALUE_MAX);
        }
        return 0;
}

static int field_error(const char *name, const char *want, vs_error *err)
{
        return vs_error_set(err, VS_ERR_USAGE, "field \"build.%s\" must be %s", name, want);
}

static bool plain_string(const json_t *v, size_t max)
{
        return json_is_string(v) && json_string_length(v) <= max &&
               strlen(json_string_value(v)) == json_string_length(v);
}

static int j_tags(vs_build *b, const json_t *v, vs_error *err)
{
        const json_t *t;
        size_t i;

        if (!json_is_array(v) || json_array_size(v) > VS_BUILD_TAGS_MAX)
                return field_error("tags", "an array of at most 32 strings", err);
        json_array_foreach(v, i, t) {
                if (!plain_string(t, VS_BUILD_REF_MAX))
                        return field_error("tags", "an array of image references", err);
                if (vs_strv_push(&b->tags, json_string_value(t)) < 0)
                        vs_oom();
        }
        return 0;
}

static int j_buildargs(vs_build *b, const json_t *v, vs_error *err)
{
        const char *key;
        const json_t *val;

        if (!json_is_object(v) || json_object_size(v) > VS_BUILD_ARGS_MAX)
                return field_error("buildargs", "an object of at most 256 string values", err);
        json_object_foreach((json_t *)v, key, val) {
                _cleanup_free_ char *kv = NULL;

                if (json_is_null(val)) /* Docker: "use the environment's": there is none */
                        continue;
                if (!plain_string(val, BUILDARG_VALUE_MAX) || !arg_name_valid(key, strlen(key)))
                        return field_error("buildargs", "an object of NAME: string values", err);
                kv = vs_xasprintf("%s=%s", key, json_string_value(val));
                if (vs_strv_push(&b->buildargs, kv) < 0)
                        vs_oom();
        }
        return 0;
}

int vs_build_from_json(const json_t *obj, vs_build **ret, vs_error *err)
{
        vs_build *b;
        const char *key;
        json_t *v;

        if (!json_is_object(obj))
                return vs_error_set(err, VS_ERR_USAGE, "field \"build\" must be an object");
        b = vs_build_new();
        json_object_foreach((json_t *)obj, key, v) {
                int r = 0;

                if (!strcmp(key, "dockerfile")) {
                        if (!plain_string(v, 1024))
                                r = field_error("dockerfile", "a string", err);
                        else
                                b->dockerfile = vs_xstrdup(json_string_value(v));
                } else if (!strcmp(key, "tags"))
                        r = j_tags(b, v, err);
                else if (!strcmp(key, "buildargs"))
                        r = j_buildargs(b, v, err);
                else if (!strcmp(key, "nocache") || !strcmp(key, "pull")) {
                        if (!json_is_boolean(v))
                                r = field_error(key, "true or false", err);
                        else if (key[0] == 'n')
                                b->nocache = json_is_true(v);
                        else
                                b->pull = json_is_true(v);
                } else
                        r = vs_error_set(err, VS_ERR_USAGE, "unknown field \"build.%.64s\"", key);
                if (r < 0) {
                        vs_build_free(b);
                        return -1;
                }
        }
        *ret = b;
        return 0;
}

static json_t *strv_json(char *const *v)
{
        json_t *a = vs_xjson(json_array());

        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, vs_xjson(json_string(v[i])));
        return a;
}

json_t *vs_build_to_json(const vs_build *b)
{
        json_t *args = vs_xjson(json_object());

        for (size_t i = 0; b->buildargs && b->buildargs[i]; i++) {
                const char *eq = strchr(b->buildargs[i], '=');
                _cleanup_free_ char *k = vs_xstrndup(b->buildargs[i], (size_t)(eq - b->buildargs[i]));
                json_object_set_new(args, k, vs_xjson(json_string(eq + 1)));
        }
        return vs_xjson(json_pack("{s:s, s:o, s:o, s:b, s:b}", "dockerfile", vs_build_dockerfile(b), "tags",
                                  strv_json(b->tags), "buildargs", args, "nocache", b->nocache, "pull", b->pull));
}

json_t *vs_build_guest_json(const vs_build *b)
{
        return vs_xjson(json_pack("{s:s, s:o, s:b, s:b}", "dockerfile", vs_build_dockerfile(b), "buildargs",
                                  strv_json(b->buildargs), "nocache", b->nocache, "pull", b->pull));
}

/* ---- the Dockerfile's FROM lines ----------------------------------------------- */

typedef struct {
        char *name;
        char *value;
} meta_arg;

typedef struct {
        const char *text;
        size_t len, pos;
        unsigned lineno;        /* of the last physical line read */
        char escape;
        meta_arg args[VS_BUILD_ARGS_MAX];
        size_t nargs;
        char *stages[VS_DOCKERFILE_FROMS_MAX];
        size_t nstages;
        char **images;
        char *const *buildargs;
} df_parser;

static void df_clear(df_parser *p)
{
        for (size_t i = 0; i < p->nargs; i++) {
                free(p->args[i].name);
                free(p->args[i].value);
        }
        for (size_t i = 0; i < p->nstages; i++)
                free(p->stages[i]);
        vs_strv_free(p->images);
}

/* The next physical line (without \n and a trailing \r), or false at the end. */
static bool next_line(df_parser *p, const char **ret, size_t *ret_len, vs_error *err, int *ret_r)
{
        const char *s = p->text + p->pos, *nl;
        size_t n;

        *ret_r = 0;
        if (p->pos >= p->len)
                return false;
        if (++p->lineno > VS_DOCKERFILE_LINES_MAX) {
                *ret_r = vs_error_set(err, VS_ERR_INPUT, "Dockerfile: more than %d lines", VS_DOCKERFILE_LINES_MAX);
                return false;
        }
        nl = memchr(s, '\n', p->len - p->pos);
        n = nl ? (size_t)(nl - s) : p->len - p->pos;
        p->pos += n + (nl ? 1 : 0);
        if (n && s[n - 1] == '\r')
                n--;
        *ret = s;
        *ret_len = n;
        return true;
}

static size_t skip_space(const char *s, size_t len, size_t i)
{
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
                i++;
        return i;
}

/* "# escape=`" at the top of the file (before anything else). */
static void parse_directives(df_parser *p)
{
        for (;;) {
                size_t save = p->pos, n, i;
                unsigned save_line = p->lineno;
                const char *s;
                vs_error e = { 0 };
                int r;

                if (!next_line(p, &s, &n, &e, &r))
                        return;
                i = skip_space(s, n, 0);
                if (i < n && s[i] == '#') {
                        i = skip_space(s, n, i + 1);
                        if (n - i >= 7 && !strncasecmp(s + i, "escape", 6)) {
                                size_t j = skip_space(s, n, i + 6);
                                if (j < n && s[j] == '=') {
                                        j = skip_space(s, n, j + 1);
                                        if (j < n && (s[j] == '`' || s[j] == '\\'))
                                                p->escape = s[j];
                                        continue;
                                }
                        }
                        /* other directives (syntax=, check=) are not ours */
                        if (memchr(s + i, '=', n - i))
                                continue;
                }
                p->pos = save; /* not a directive: the instructions start here */
                p->lineno = save_line;
                return;
        }
}

/* One instruction, continuations joined, comments and blank lines skipped:
 * 1 with *ret (malloc'd), 0 at the end, -1 on error. */
static int next_instruction(df_parser *p, char **ret, unsigned *ret_line, vs_error *err)
{
        _cleanup_free_ char *buf = NULL;
        size_t blen = 0;
        bool cont = false;
        const char *s;
        size_t n;
        int r;

        while (next_line(p, &s, &n, err, &r)) {
                size_t i = skip_space(s, n, 0), end = n;

                if (i == n || s[i] == '#')
                        continue; /* blank or comment, also inside a continuation */
                if (!cont)
                        *ret_line = p->lineno;
                while (end > i && (s[end - 1] == ' ' || s[end - 1] == '\t'))
                        end--;
                cont = end > i && s[end - 1] == p->escape;
                if (cont)
                        end--;
                if (blen + (end - i) > VS_DOCKERFILE_LINE_MAX)
                        return vs_error_set(err, VS_ERR_INPUT, "Dockerfile line %u: the instruction is longer than %d bytes",
                                            *ret_line, VS_DOCKERFILE_LINE_MAX);
                buf = vs_xrealloc(buf, blen + (end - i) + 1);
                memcpy(buf + blen, s + i, end - i);
                blen += end - i;
                buf[blen] = '\0';
                if (!cont) {
                        *ret = TAKE_PTR(buf);
                        return 1;
                }
        }
        if (r < 0)
                return -1;
        if (buf) { /* a continuation at the end of the file ends the instruction */
                *ret = TAKE_PTR(buf);
                return 1;
        }
        return 0;
}

static const char *arg_lookup(const df_parser *p, const char *name, size_t len)
{
        for (size_t i = p->nargs; i-- > 0;)
                if (strlen(p->args[i].name) == len && !strncmp(p->args[i].name, name, len))
                        return p->args[i].value;
        return NULL;
}

/* Appends len bytes to *out (bounded by VS_DOCKERFILE_LINE_MAX). */
static int out_add(char **out, size_t *olen, const char *s, size_t len, unsigned line, vs_error *err)
{
        if (*olen + len > VS_DOCKERFILE_LINE_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "Dockerfile line %u: longer than %d bytes after substitution", line,
                                    VS_DOCKERFILE_LINE_MAX);
        *out = vs_xrealloc(*out, *olen + len + 1);
        memcpy(*out + *olen, s, len);
        *olen += len;
        (*out)[*olen] = '\0';
        return 0;
}

/* $X, ${X}, ${X:-word}, ${X:+word} (word itself substituted, one level:
 * bounded) from the meta ARGs; an escaped $ stays a $. */
static int substitute(const df_parser *p, const char *s, size_t len, unsigned line, int depth, char **ret,
                      vs_error *err)
{
        _cleanup_free_ char *out = vs_xstrdup("");
        size_t olen = 0, i = 0;

        while (i < len) {
                const char *val = NULL;
                size_t nstart, nlen;

                if (s[i] == p->escape && i + 1 < len && s[i + 1] == '$') {
                        if (out_add(&out, &olen, "$", 1, line, err) < 0)
                                return -1;
                        i += 2;
                        continue;
                }
                if (s[i] != '$' || i + 1 >= len) {
                        if (out_add(&out, &olen, s + i, 1, line, err) < 0)
                                return -1;
                        i++;
                        continue;
                }
                if (s[i + 1] == '{') {
                        const char *close = memchr(s + i + 2, '}', len - i - 2);
                        size_t inner, oplen;

                        if (!close)
                                return vs_error_set(err, VS_ERR_INPUT, "Dockerfile line %u: missing '}' in a substitution",
                                                    line);
                        nstart = i + 2;
                        inner = (size_t)(close - (s + nstart));
                        for (nlen = 0; nlen < inner && (isalnum((unsigned char)s[nstart + nlen]) || s[nstart + nlen] == '_');)
                                nlen++;
                        if (!arg_name_valid(s + nstart, nlen))
                                return vs_error_set(err, VS_ERR_INPUT, "Dockerfile line %u: bad substitution", line);
                        val = arg_lookup(p, s + nstart, nlen);
                        oplen = inner - nlen;
                        if (oplen) {
                                const char *op = s + nstart + nlen;
                                _cleanup_free_ char *word = NULL;
                                bool set = val && *val;

                                if (oplen < 2 || op[0] != ':' || (op[1] != '-' && op[1] != '+') || depth > 0)
                                        return vs_error_set(err, VS_ERR_INPUT,
                                                            "Dockerfile line %u: unsupported substitution in a FROM or ARG "
                                                            "(only $X, ${X}, ${X:-word}, ${X:+word})",
                                                            line);
                                if (substitute(p, op + 2, oplen - 2, line, depth + 1, &word, err) < 0)
                                        return -1;
                                if ((op[1] == '-' && !set) || (op[1] == '+' && set)) {
                                        if (out_add(&out, &olen, word, strlen(word), line, err) < 0)
                                                return -1;
                                        i = (size_t)(close - s) + 1;
                                        continue;
                                }
                                if (op[1] == '+')
                                        val = NULL;
                        }
                        i = (size_t)(close - s) + 1;
                } else {
                        nstart = i + 1;
                        for (nlen = 0; nstart + nlen < len && (isalnum((unsigned char)s[nstart + nlen]) || s[nstart + nlen] == '_');)
                                nlen++;
                        if (!arg_name_valid(s + nstart, nlen)) { /* "$" before a non-name: itself */
                                if (out_add(&out, &olen, "$", 1, line, err) < 0)
                                        return -1;
                                i++;
                                continue;
                        }
                        val = arg_lookup(p, s + nstart, nlen);
                        i = nstart + nlen;
                }
                if (val && out_add(&out, &olen, val, strlen(val), line, err) < 0)
                        return -1;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static const char *buildarg_value(const df_parser *p, const char *name, size_t len)
{
        for (size_t i = 0; p->buildargs && p->buildargs[i]; i++)
                if (!strncmp(p->buildargs[i], name, len) && p->buildargs[i][len] == '=')
                        return p->buildargs[i] + len + 1;
        return NULL;
}

/* The next whitespace-separated word of s from *i. */
static bool next_word(const char *s, size_t *i, const char **ret, size_t *ret_len)
{
        size_t len = strlen(s), j = skip_space(s, len, *i), k = j;

        while (k < len && s[k] != ' ' && s[k] != '\t')
                k++;
        *i = k;
        *ret = s + j;
        *ret_len = k - j;
        return k > j;
}

/* ARG NAME[=default] ... before the first FROM: a meta argument. */
static int parse_meta_arg(df_parser *p, const char *rest, unsigned line, vs_error *err)
{
        const char *w;
        size_t i = 0, wl;

        while (next_word(rest, &i, &w, &wl)) {
                const char *eq = memchr(w, '=', wl);
                size_t nl = eq ? (size_t)(eq - w) : wl;
                const char *given = buildarg_value(p, w, nl);
                _cleanup_free_ char *value = NULL;

                if (!arg_name_valid(w, nl))
                        return vs_error_set(err, VS_ERR_INPUT, "Dockerfile line %u: ARG needs NAME[=VALUE]", line);
                if (p->nargs == VS_BUILD_ARGS_MAX)
                        return vs_error_set(err, VS_ERR_INPUT, "Dockerfile: more than %d ARGs before FROM",
                                            VS_BUILD_ARGS_MAX);
                if (given)
                        value = vs_xstrdup(given);
                else if (eq) {
                        const char *v = eq + 1;
                        size_t vl = wl - nl - 1;
                        if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0])
                                v++, vl -= 2;
                        if (substitute(p, v, vl, line, 0, &value, err) < 0)
                                return -1;
                } else
                        value = vs_xstrdup("");
                p->args[p->nargs].name = vs_xstrndup(w, nl);
                p->args[p->nargs++].value = TAKE_PTR(value);
        }
        return 0;
}

static bool is_stage(const df_parser *p, const char *name)
{
        for (size_t i = 0; i < p->nstages; i++)
                if (p->stages[i] && !strcasecmp(p->stages[i], name))
                        return true;
        return false;
}

/* FROM [--flag=...]... IMAGE [AS name] */
static int parse_from(df_parser *p, const char *rest, unsigned line, vs_error *err)
{
        _cleanup_free_ char *image = NULL, *name = NULL;
        const char *w;
        size_t i = 0, wl;
        bool stage;

        if (p->nstages == VS_DOCKERFILE_FROMS_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "Dockerfile: more than %d FROM instructions",
                                    VS_DOCKERFILE_FROMS_MAX);
        while (next_word(rest, &i, &w, &wl) && wl > 2 && w[0] == '-' && w[1] == '-')
                ;
        if (wl == 0 || (w[0] == '-' && w[1] == '-'))
                return vs_error_set(err, VS_ERR_INPUT, "Dockerfile line %u: FROM needs an image", line);
        if (substitute(p, w, wl, line, 0, &image, err) < 0)
                return -1;
        if (!image[0])
                return vs_error_set(err, VS_ERR_INPUT, "Dockerfile line %u: the FROM image is empty after substitution",
                                    line);
        /* An earlier stage's name (checked before this stage's own is
         * recorded) or scratch: no image. */
        stage = is_stage(p, image) || !strcasecmp(image, "scratch");
        if (next_word(rest, &i, &w, &wl)) {
                if (wl != 2 || strncasecmp(w, "as", 2) || !next_word(rest, &i, &w, &wl))
                        return vs_error_set(err, VS_ERR_INPUT, "Dockerfile line %u: FROM IMAGE [AS NAME] expected", line);
                name = vs_xstrndup(w, wl);
                if (next_word(rest, &i, &w, &wl))
                        return vs_error_set(err, VS_ERR_INPUT, "Dockerfile line %u: FROM IMAGE [AS NAME] expected", line);
        }
        p->stages[p->nstages++] = TAKE_PTR(name);
        if (stage)
                return 0;
        if (!vs_build_ref_valid(image))
                return vs_error_set(err, VS_ERR_INPUT, "Dockerfile line %u: FROM %.64s is not a valid image reference",
                                    line, image);
        for (size_t k = 0; p->images && p->images[k]; k++)
                if (!strcmp(p->images[k], image))
                        return 0;
        if (vs_strv_push(&p->images, image) < 0)
                vs_oom();
        return 0;
}

int vs_dockerfile_images(const char *text, size_t len, char *const *buildargs, char ***ret_images, vs_error *err)
{
        df_parser p = { .text = text, .len = len, .escape = '\\', .buildargs = buildargs };
        bool seen_from = false;
        unsigned line = 0;
        int r;

        if (len > VS_DOCKERFILE_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "the Dockerfile is larger than %u bytes", VS_DOCKERFILE_MAX);
        if (memchr(text, '\0', len))
                return vs_error_set(err, VS_ERR_INPUT, "the Dockerfile has a NUL byte");
        parse_directives(&p);
        for (;;) {
                _cleanup_free_ char *ins = NULL;
                size_t kl;

                r = next_instruction(&p, &ins, &line, err);
                if (r <= 0)
                        break;
                kl = strcspn(ins, " \t");
                if (kl == 4 && !strncasecmp(ins, "FROM", 4)) {
                        seen_from = true;
                        r = parse_from(&p, ins + kl, line, err);
                } else if (kl == 3 && !strncasecmp(ins, "ARG", 3) && !seen_from)
                        r = parse_meta_arg(&p, ins + kl, line, err);
                else if (!seen_from)
                        r = vs_error_set(err, VS_ERR_INPUT, "Dockerfile line %u: %.*s before the first FROM "
                                                            "(only ARG may come first)", line, (int)(kl > 32 ? 32 : kl), ins);
                if (r < 0)
                        break;
        }
        if (r == 0 && !seen_from)
                r = vs_error_set(err, VS_ERR_INPUT, "the Dockerfile has no FROM instruction");
        if (r == 0) {
                *ret_images = p.images ? p.images : vs_xcalloc(1, sizeof(char *));
                p.images = NULL;
        }
        df_clear(&p);
        return r < 0 ? -1 : 0;
}

/* ---- the context ----------------------------------------------------------------- */

int vs_build_context_dockerfile(int fd, uint64_t len, const char *path, char **ret_text, size_t *ret_len,
                                vs_error *err)
{
        _cleanup_free_ char *want = NULL, *text = NULL;
        unsigned char magic[6] = { 0 };
        vs_tar_reader r;
        vs_tar_entry *e = vs_xmalloc(sizeof(*e));
        bool found = false, regular = false;
        uint64_t off = 0, size = 0;
        int n;

        if (!context_path_valid(path)) {
                free(e);
                return vs_error_set(err, VS_ERR_INPUT, "dockerfile %.64s is not a relative path inside the context", path);
        }
        if (pread(fd, magic, sizeof(magic), 0) >= 3 &&
            ((magic[0] == 0x1f && magic[1] == 0x8b) || !memcmp(magic, "BZh", 3) || !memcmp(magic, "\xfd" "7zXZ", 5) ||
             !memcmp(magic, "\x28\xb5\x2f\xfd", 4))) {
                free(e);
                return vs_error_set(err, VS_ERR_INPUT, "the build context is compressed: send an uncompressed tar");
        }
        if (vs_tar_check(fd, 0, len, err) < 0) {
                free(e);
                vs_error_prefix(err, "the build context is not a usable tar");
                return -1;
        }
        want = vs_xstrdup(path);
        vs_tar_name_canon(want);
        vs_tar_reader_init(&r, fd, 0, len);
        while ((n = vs_tar_next(&r, e, err)) == 1)
                if (!strcmp(e->name, want)) {
                        found = true;
                        regular = e->type == '0' || e->type == '\0' || e->type == '7';
                        off = e->data_offset;
                        size = e->size;
                }
        free(e);
        if (n < 0) {
                vs_error_prefix(err, "the build context is not a usable tar");
                return -1;
        }
        if (!found)
                return vs_error_set(err, VS_ERR_INPUT, "Cannot locate specified Dockerfile: %.200s", path);
        if (!regular)
                return vs_error_set(err, VS_ERR_INPUT, "the Dockerfile %.200s is not a regular file in the context", path);
        if (size > VS_DOCKERFILE_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "the Dockerfile is larger than %u bytes", VS_DOCKERFILE_MAX);
        text = vs_xmalloc((size_t)size + 1);
        for (size_t done = 0; done < size;) {
                ssize_t got = pread(fd, text + done, (size_t)size - done, (off_t)(off + done));
                if (got < 0 && errno == EINTR)
                        continue;
                if (got <= 0)
                        return vs_error_errno(err, VS_ERR_INPUT, got < 0 ? errno : EIO, "reading the Dockerfile");
                done += (size_t)got;
        }
        text[size] = '\0';
        *ret_text = TAKE_PTR(text);
        *ret_len = (size_t)size;
        return 0;
}

