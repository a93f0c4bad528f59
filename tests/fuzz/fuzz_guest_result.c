/* libFuzzer: merging an arbitrary guest result.json into a result. */
#include "result.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        json_t *r = vs_result_new("fuzz");
        int code = -1;

        vs_result_merge_guest(r, (const char *)data, size, &code);
        json_decref(r);
        return 0;
}
