/* libFuzzer: the HTTP API's real body path for a job spec: the server's
 * bounded loader (its body limit, depth pre-scan, duplicate keys rejected),
 * then vs_spec_from_json and vs_spec_validate as vs_service_create does;
 * an accepted spec must serialise back. */
#include "jsonload.h"
#include "spec.h"

#include <stdlib.h>
#include <string.h>

#define API_MAX_BODY (1u << 20) /* vmsandbox serve's default --max-body */

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        vs_error err;
        json_t *j = vs_json_load_bounded((const char *)data, size, API_MAX_BODY, VS_JSON_DEPTH_MAX, VS_ERR_USAGE,
                                         &err);
        vs_spec s;

        if (!j)
                return 0;
        if (vs_spec_from_json(j, &s, &err) == 0) {
                bool placeholder = !s.image && !s.tag;

                if (placeholder)
                        s.image = strdup("(upload)");
                if (vs_spec_validate(&s, &err) == 0) {
                        json_t *back = vs_spec_to_json(&s);
                        char *text = json_dumps(back, 0);

                        if (!text)
                                abort();
                        free(text);
                        json_decref(back);
                }
                vs_spec_clear(&s);
        }
        json_decref(j);
        return 0;
}
