#include "privdrop.h"
#include "tests.h"

#include <stdlib.h>

int main(void)
{
        Suite *(*suites[])(void) = { suite_parse, suite_spec, suite_archive, suite_domain_xml, suite_frame,
                                     suite_result, suite_collect, suite_sha256, suite_workspace, suite_config,
                                     suite_tar, suite_guest_result, suite_text, suite_jsonload, suite_json_fields,
                                     suite_service, suite_http, suite_streams, suite_docker_streams,
                                     suite_fsutil, suite_watch, suite_jobdir, suite_inputs, suite_privdrop, suite_helper,
                                     suite_common, suite_agent, suite_docker, suite_baseimage, suite_imagestore, suite_docker_images, suite_build, suite_docker_build,
                                     suite_containers,
                                     suite_docker_containers, suite_serve_args, suite_jobdisk };
        SRunner *sr;
        int failed;

        /* The appliance helper of this build (not an installed one). */
        vs_helper_set_path(VS_HELPER_PATH);
        sr = srunner_create(suites[0]());

        for (size_t i = 1; i < sizeof(suites) / sizeof(suites[0]); i++)
                srunner_add_suite(sr, suites[i]());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
