/* libFuzzer: merging an arbitrary guest result.json into a result; the
 * merged record must always serialise (a record that cannot be saved is a
 * lost job). */
#include "protocol.h"
#include "result.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        json_t *r = vs_result_new("fuzz");
        int code = -1;
        char *text;

        if (size > VS_RESULT_MAX)
                size = VS_RESULT_MAX;
        if (vs_result_merge_guest(r, (const char *)data, size, &code) == 1 && (code < 0 || code > 255))
                abort();
        text = json_dumps(r, 0);
        if (!text)
                abort();
        free(text);
        json_decref(r);
        return 0;
}
