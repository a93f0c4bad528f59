/* libFuzzer: text.c's sanitisers, with their promises as assertions: the
 * output is valid UTF-8 without NUL, at most max bytes, never a split
 * character, jansson always accepts it, and the terminal form has no control
 * characters but \t and \n. */
#include "text.h"

#include <stdlib.h>
#include <string.h>

static void check_terminal(const unsigned char *s, size_t len)
{
        for (size_t i = 0; i < len; i++) {
                if ((s[i] < 0x20 && s[i] != '\t' && s[i] != '\n') || s[i] == 0x7f)
                        abort();
                if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
                        abort(); /* a C1 control as UTF-8 */
        }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        size_t max, n, tn;
        char *s, *t;
        json_t *j;

        if (size < 2)
                return 0;
        max = (size_t)data[0] << 8 | data[1];
        data += 2, size -= 2;
        s = vs_utf8_sanitize((const char *)data, size, max, &n);
        if (n > max || strlen(s) != n || !vs_utf8_valid(s, n))
                abort();
        if (vs_utf8_valid((const char *)data, size) && size <= max && (n != size || memcmp(s, data, n) != 0))
                abort(); /* valid text that fits is kept as it is */
        t = vs_text_for_terminal((const char *)data, size, max, &tn);
        if (tn > max || strlen(t) != tn || !vs_utf8_valid(t, tn))
                abort();
        check_terminal((const unsigned char *)t, tn);
        j = vs_json_text((const char *)data, size, max);
        if (!j || json_string_length(j) != n)
                abort();
        json_decref(j);
        free(s);
        free(t);
        return 0;
}
