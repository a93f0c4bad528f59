/* Table-driven readers of a JSON object's fields (json_fields.h). */
#include "json_fields.h"
#include "alloc.h"
#include "strv.h"
#include "text.h"

#include <string.h>

static const char *const phrases[VS_JF_WHY_LAST] = {
        [VS_JF_MISSING] = "is missing",
        [VS_JF_NOT_STRING] = "is not a string",
        [VS_JF_TOO_LONG] = "is too long",
        [VS_JF_NOT_UTF8] = "is not valid UTF-8 text",
        [VS_JF_NOT_BOOL] = "is not true or false",
        [VS_JF_NOT_COUNT] = "is not a count of 0 or more",
        [VS_JF_NOT_ARRAY] = "is not an array",
        [VS_JF_NOT_OBJECT] = "is not an object",
        [VS_JF_TOO_MANY] = "has too many entries",
        [VS_JF_BAD_ENTRY] = "has an entry that is not a string of valid UTF-8 text",
        [VS_JF_INVALID] = "is not valid",
};

const char *vs_jf_phrase(const vs_json_field *f, vs_jf_why why)
{
        if (why == VS_JF_INVALID && f->invalid)
                return f->invalid;
        return (size_t)why < VS_JF_WHY_LAST ? phrases[why] : "is wrong";
}

static int refuse(const vs_json_field *f, vs_jf_why why, size_t index, const vs_json_reader *rd, vs_error *err)
{
        if (rd->error)
                return rd->error(f, why, index, rd->userdata, err);
        return vs_error_set(err, rd->kind, "%s%s %s", rd->prefix ? rd->prefix : "", f->key, vs_jf_phrase(f, why));
}

/* A string value of at most max bytes of text. */
static bool text_ok(json_t *v, size_t max)
{
        return json_is_string(v) && json_string_length(v) <= max &&
               vs_utf8_valid(json_string_value(v), json_string_length(v));
}

static int read_string(const vs_json_field *f, json_t *v, char *slot, const vs_json_reader *rd, vs_error *err)
{
        if (!json_is_string(v))
                return refuse(f, VS_JF_NOT_STRING, 0, rd, err);
        if (json_string_length(v) > f->max)
                return refuse(f, VS_JF_TOO_LONG, 0, rd, err);
        if (!vs_utf8_valid(json_string_value(v), json_string_length(v)))
                return refuse(f, VS_JF_NOT_UTF8, 0, rd, err);
        if (f->valid && !f->valid(json_string_value(v)))
                return refuse(f, VS_JF_INVALID, 0, rd, err);
        if (f->kind == VS_JF_BUF)
                memcpy(slot, json_string_value(v), json_string_length(v) + 1);
        else
                *(char **)slot = vs_xstrdup(json_string_value(v));
        return 0;
}

static int read_strv(const vs_json_field *f, json_t *v, char ***slot, const vs_json_reader *rd, vs_error *err)
{
        json_t *w;
        char **out;
        size_t i;

        if (json_is_string(v) && (f->flags & VS_JF_ONE_STRING)) {
                if (!text_ok(v, f->item_max))
                        return refuse(f, VS_JF_BAD_ENTRY, 0, rd, err);
                out = vs_xcalloc(2, sizeof(*out));
                out[0] = vs_xstrdup(json_string_value(v));
                *slot = out;
                return 0;
        }
        if (!json_is_array(v))
                return refuse(f, VS_JF_NOT_ARRAY, 0, rd, err);
        if (json_array_size(v) > f->max)
                return refuse(f, VS_JF_TOO_MANY, 0, rd, err);
        out = vs_xcalloc(json_array_size(v) + 1, sizeof(*out));
        json_array_foreach(v, i, w) {
                if (!text_ok(w, f->item_max)) {
                        vs_strv_free(out);
                        return refuse(f, VS_JF_BAD_ENTRY, i, rd, err);
                }
                out[i] = vs_xstrdup(json_string_value(w));
        }
        *slot = out;
        return 0;
}

static int read_pairs(const vs_json_field *f, json_t *v, char ***slot, const vs_json_reader *rd, vs_error *err)
{
        const char *key;
        json_t *val;
        size_t n = 0;
        char **out;

        if (!json_is_object(v))
                return refuse(f, VS_JF_NOT_OBJECT, 0, rd, err);
        if (json_object_size(v) > f->max)
                return refuse(f, VS_JF_TOO_MANY, 0, rd, err);
        out = vs_xcalloc(2 * json_object_size(v) + 1, sizeof(*out));
        json_object_foreach(v, key, val) {
                if (!text_ok(val, f->item_max) || strlen(key) > f->item_max || !vs_utf8_valid(key, strlen(key)) ||
                    (!*key && (f->flags & VS_JF_NONEMPTY_KEYS))) {
                        vs_strv_free(out);
                        return refuse(f, VS_JF_BAD_ENTRY, n / 2, rd, err);
                }
                out[n++] = vs_xstrdup(key);
                out[n++] = vs_xstrdup(json_string_value(val));
        }
        *slot = out;
        return 0;
}

static int read_one(json_t *obj, const vs_json_field *f, char *target, const vs_json_reader *rd, vs_error *err)
{
        json_t *v = json_object_get(obj, f->key);
        char *slot = target + f->offset;

        if (v && json_is_null(v) && (f->flags & VS_JF_NULLABLE))
                v = NULL;
        if (!v && (f->flags & VS_JF_REQUIRED))
                return refuse(f, VS_JF_MISSING, 0, rd, err);
        switch (f->kind) {
        case VS_JF_STRING:
                *(char **)slot = NULL;
                return v ? read_string(f, v, slot, rd, err) : 0;
        case VS_JF_BUF:
                slot[0] = '\0';
                return v ? read_string(f, v, slot, rd, err) : 0;
        case VS_JF_BOOL:
                if (v && !json_is_boolean(v))
                        return refuse(f, VS_JF_NOT_BOOL, 0, rd, err);
                *(bool *)slot = json_is_true(v);
                return 0;
        case VS_JF_COUNT:
                if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
                        return refuse(f, VS_JF_NOT_COUNT, 0, rd, err);
                *(int64_t *)slot = v ? (int64_t)json_integer_value(v) : 0;
                return 0;
        case VS_JF_STRV:
                *(char ***)slot = NULL;
                return v ? read_strv(f, v, (char ***)slot, rd, err) : 0;
        case VS_JF_PAIRS:
                *(char ***)slot = NULL;
                return v ? read_pairs(f, v, (char ***)slot, rd, err) : 0;
        }
        return refuse(f, VS_JF_INVALID, 0, rd, err);
}

int vs_json_fields_read(json_t *obj, const vs_json_field *fields, size_t n, void *target, const vs_json_reader *rd,
                        vs_error *err)
{
        for (size_t i = 0; i < n; i++)
                if (read_one(obj, &fields[i], target, rd, err) < 0)
                        return -1;
        return 0;
}
