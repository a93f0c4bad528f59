#include "jsonload.h"

#include <stdbool.h>
#include <string.h>

int vs_json_depth(const char *text, size_t len)
{
        int depth = 0, max = 0;
        bool in_str = false;

        for (size_t i = 0; i < len; i++) {
                char ch = text[i];

                if (in_str) {
                        if (ch == '\\')
                                i++;
                        else if (ch == '"')
                                in_str = false;
                } else if (ch == '"')
                        in_str = true;
                else if (ch == '{' || ch == '[')
                        max = ++depth > max ? depth : max;
                else if (ch == '}' || ch == ']')
                        depth--;
        }
        return max;
}

json_t *vs_json_load_bounded(const char *text, size_t len, size_t max_len, int max_depth, vs_error_kind kind,
                             vs_error *err)
{
        json_error_t jerr;
        json_t *j;

        if (!text || len == 0) {
                vs_error_set(err, kind, "a JSON document is required");
                return NULL;
        }
        if (len > max_len) {
                vs_error_set(err, kind, "JSON document larger than %zu bytes", max_len);
                return NULL;
        }
        /* jansson recurses once per level: bound it before it sees the text. */
        if (vs_json_depth(text, len) > max_depth) {
                vs_error_set(err, kind, "JSON nested deeper than %d levels", max_depth);
                return NULL;
        }
        j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
                vs_error_set(err, kind, "malformed JSON: %s (line %d)", jerr.text, jerr.line);
        return j;
}
