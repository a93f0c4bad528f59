#include "text.h"
#include "alloc.h"

#include <stdint.h>
#include <string.h>

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid.
 * Overlong forms, surrogates and code points above U+10FFFF are invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n, uint32_t *ret_cp)
{
        uint32_t cp;
        size_t len;

        if (p[0] < 0x80) {
                *ret_cp = p[0];
                return p[0] ? 1 : 0;
        }
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                len = 2, cp = p[0] & 0x1f;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                len = 3, cp = p[0] & 0x0f;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                len = 4, cp = p[0] & 0x07;
        else
                return 0;
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret_cp = cp;
        return len;
}

bool vs_utf8_valid(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s;
        uint32_t cp;

        for (size_t i = 0; i < len;) {
                size_t n = utf8_seq(p + i, len - i, &cp);
                if (!n)
                        return false;
                i += n;
        }
        return true;
}

static char *sanitize(const char *s, size_t len, size_t max, bool terminal, size_t *ret_len)
{
        const unsigned char *p = (const unsigned char *)s;
        /* Each input byte becomes at most 3 output bytes; the output is capped. */
        size_t cap = len <= max / 3 ? len * 3 : max;
        char *out = vs_xmalloc(cap + 1);
        size_t o = 0;

        for (size_t i = 0; i < len;) {
                uint32_t cp = 0;
                size_t n = utf8_seq(p + i, len - i, &cp);
                const char *emit = (const char *)p + i;
                size_t elen = n;

                if (!n) {
                        emit = replacement, elen = 3, n = 1;
                } else if (terminal && ((cp < 0x20 && cp != '\t' && cp != '\n') || cp == 0x7f ||
                                        (cp >= 0x80 && cp <= 0x9f))) {
                        emit = "?", elen = 1;
                }
                if (o + elen > cap)
                        break;
                memcpy(out + o, emit, elen);
                o += elen;
                i += n;
        }
        out[o] = '\0';
        if (ret_len)
                *ret_len = o;
        return out;
}

char *vs_utf8_sanitize(const char *s, size_t len, size_t max, size_t *ret_len)
{
        return sanitize(s, len, max, false, ret_len);
}

char *vs_text_for_terminal(const char *s, size_t len, size_t max, size_t *ret_len)
{
        return sanitize(s, len, max, true, ret_len);
}

json_t *vs_json_text(const char *s, size_t len, size_t max)
{
        size_t n;
        char *t = vs_utf8_sanitize(s, len, max, &n);
        json_t *j = vs_xjson(json_stringn(t, n));

        free(t);
        return j;
}
