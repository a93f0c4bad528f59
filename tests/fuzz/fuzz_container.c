/* libFuzzer: the Engine API's create body (vs_container_from_docker: typed
 * fields, bounds, binds, the mapping onto a spec).  What it accepts must
 * survive job.json: the facts written and read back (vs_container_from_json)
 * give the same JSON, and the spec passes its own validation round trip. */
#include "container.h"
#include "jsonload.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        static char *const roots[] = { (char *)"/srv", NULL };
        vs_container_policy p = { .roots = roots, .allow_network = size % 2 == 0 };
        vs_container *c = NULL, *back = NULL;
        json_t *body, *j, *j2, *sj;
        vs_spec spec, spec2;
        vs_error err;

        body = vs_json_load_bounded((const char *)data, size, 1 << 20, VS_JSON_DEPTH_MAX, VS_ERR_INPUT, &err);
        if (!body)
                return 0;
        if (vs_container_from_docker(body, &p, &spec, &c, &err) < 0) {
                json_decref(body);
                return 0;
        }
        c->name = strdup("fuzz");
        j = vs_container_to_json(c);
        if (vs_container_from_json(j, &back, &err) < 0)
                abort();
        j2 = vs_container_to_json(back);
        if (!json_equal(j, j2))
                abort();
        sj = vs_spec_to_json(&spec);
        if (vs_spec_from_json(sj, &spec2, &err) < 0)
                abort();
        vs_spec_clear(&spec2);
        json_decref(sj);
        json_decref(j);
        json_decref(j2);
        vs_container_free(c);
        vs_container_free(back);
        vs_spec_clear(&spec);
        json_decref(body);
        return 0;
}
