/* JSON from an untrusted peer (an API client, a guest): the text is bounded in
 * size and nesting depth before jansson sees it, and duplicate keys are
 * rejected, so that two readers can never disagree on what a document says. */
#ifndef VS_JSONLOAD_H
#define VS_JSONLOAD_H

#include "error.h"

#include <jansson.h>
#include <stddef.h>

#define VS_JSON_DEPTH_MAX 32

/* Parses text[0..len) (NUL bytes inside are an error).  On failure returns
 * NULL and sets err with the given kind and a one-line reason. */
json_t *vs_json_load_bounded(const char *text, size_t len, size_t max_len, int max_depth, vs_error_kind kind,
                             vs_error *err);

/* The deepest nesting of objects and arrays in text, strings skipped. */
int vs_json_depth(const char *text, size_t len);

#endif
