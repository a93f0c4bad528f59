/* Untrusted text (guest output, guest messages, client strings) made safe to
 * keep in JSON records and to print on a terminal. */
#ifndef VS_TEXT_H
#define VS_TEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Copies s[0..len) as valid UTF-8 of at most max bytes: every invalid or
 * truncated sequence (and NUL) becomes U+FFFD, and a character is never split
 * at the cap.  Returns a malloc'd NUL-terminated string (never NULL: aborts
 * on OOM); *ret_len (may be NULL) gets its length. */
char *vs_utf8_sanitize(const char *s, size_t len, size_t max, size_t *ret_len);

/* A JSON string of the sanitised text: jansson never refuses it. */
json_t *vs_json_text(const char *s, size_t len, size_t max);

/* True if s[0..len) is valid UTF-8 without NUL. */
bool vs_utf8_valid(const char *s, size_t len);

/* For a terminal: returns a malloc'd copy of s[0..len) (sanitised as above)
 * in which C0 controls but \t and \n, DEL and C1 controls (U+0080..U+009F)
 * are shown as '?', so that a guest cannot move the cursor, retitle the
 * window or hide text in the user's terminal. */
char *vs_text_for_terminal(const char *s, size_t len, size_t max, size_t *ret_len);

#endif
