/* libFuzzer: the HTTP API's spec parser and the limits check. */
#include "spec.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        json_t *j = json_loadb((const char *)data, size, 0, NULL);
        vs_spec s;
        vs_error err;

        if (j && vs_spec_from_json(j, &s, &err) == 0) {
                vs_spec_validate(&s, &err);
                vs_spec_clear(&s);
        }
        json_decref(j);
        return 0;
}
