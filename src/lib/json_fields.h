/* Bounded, typed readers of a JSON object's fields, driven by a table:
 * each row names a key, what its value must be (a string of at most N
 * bytes of valid UTF-8 text, true/false, a count, a bounded array of such
 * strings, an object of them) and where in a struct it goes.  The rows are
 * read in table order and the first bad one is the error.  What the errors
 * say is the caller's: a prefix and the default phrases, or a hook.
 * record.c reads a job record's container with it (container.c and
 * imagestore.c read their own JSON the same way: see docs/architecture.md). */
#ifndef VS_JSON_FIELDS_H
#define VS_JSON_FIELDS_H

#include "error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
        VS_JF_STRING, /* char *: a copy (absent: NULL) of at most max bytes */
        VS_JF_BUF,    /* char[max + 1]: the same, copied in ("" when absent) */
        VS_JF_BOOL,   /* bool: true or false (absent: false) */
        VS_JF_COUNT,  /* int64_t: an integer of 0 or more (absent: 0) */
        VS_JF_STRV,   /* char **: an array of at most max strings of at most item_max bytes (absent: NULL) */
        VS_JF_PAIRS,  /* char **: an object of at most max string values, as key, value, ..., NULL (absent: NULL) */
} vs_jf_kind;

#define VS_JF_REQUIRED      0x1u /* absent is an error (VS_JF_MISSING) */
#define VS_JF_NULLABLE      0x2u /* null is absent (else null is a value of the wrong type) */
#define VS_JF_ONE_STRING    0x4u /* STRV: one string is a one-entry vector (Docker's string slices) */
#define VS_JF_NONEMPTY_KEYS 0x8u /* PAIRS: an empty key is a bad entry */

/* Why a field is refused. */
typedef enum {
        VS_JF_MISSING,
        VS_JF_NOT_STRING,
        VS_JF_TOO_LONG,
        VS_JF_NOT_UTF8,    /* not valid UTF-8 text, or a NUL byte */
        VS_JF_NOT_BOOL,
        VS_JF_NOT_COUNT,
        VS_JF_NOT_ARRAY,
        VS_JF_NOT_OBJECT,
        VS_JF_TOO_MANY,    /* more than max entries */
        VS_JF_BAD_ENTRY,   /* an entry (or a key) that is not a string of at most item_max bytes of text */
        VS_JF_INVALID,     /* the row's valid hook said no */
        VS_JF_WHY_LAST
} vs_jf_why;

typedef struct {
        const char *key;
        vs_jf_kind kind;
        size_t offset;               /* of the member in the target (offsetof) */
        size_t max;                  /* STRING, BUF: bytes; STRV, PAIRS: entries */
        size_t item_max;             /* STRV, PAIRS: bytes of an entry, and of a key */
        unsigned flags;              /* VS_JF_* */
        bool (*valid)(const char *); /* STRING, BUF: a present value must pass (NULL: any) */
        const char *invalid;         /* the phrase of VS_JF_INVALID ("is not a container name") */
} vs_json_field;

typedef struct {
        vs_error_kind kind;          /* of the errors */
        const char *prefix;          /* before the key: "job record: container." */
        /* NULL: "<prefix><key> <phrase>" (vs_jf_phrase); else it sets err
         * and returns -1 (index: the entry of an array or object, else 0). */
        int (*error)(const vs_json_field *f, vs_jf_why why, size_t index, void *userdata, vs_error *err);
        void *userdata;
} vs_json_reader;

/* "is missing", "is too long", ...; the row's own phrase for INVALID. */
const char *vs_jf_phrase(const vs_json_field *f, vs_jf_why why);

/* Reads the n rows of fields from obj (an object; NULL or another value
 * reads as an empty one) into target.  On an error the rows before the bad
 * one are set (the caller frees them, as after a success); the bad one is
 * not. */
int vs_json_fields_read(json_t *obj, const vs_json_field *fields, size_t n, void *target, const vs_json_reader *rd,
                        vs_error *err);

#endif
