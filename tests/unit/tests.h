#ifndef VS_TESTS_H
#define VS_TESTS_H

#include <check.h>
#include <stddef.h>
#include <stdio.h>

Suite *suite_parse(void);
Suite *suite_spec(void);
Suite *suite_archive(void);
Suite *suite_domain_xml(void);
Suite *suite_jobdisk(void);
Suite *suite_frame(void);
Suite *suite_result(void);
Suite *suite_collect(void);
Suite *suite_sha256(void);
Suite *suite_workspace(void);
Suite *suite_config(void);
Suite *suite_tar(void);
Suite *suite_guest_result(void);
Suite *suite_text(void);
Suite *suite_jsonload(void);
Suite *suite_json_fields(void);
Suite *suite_service(void);
Suite *suite_http(void);
Suite *suite_streams(void);
Suite *suite_docker_streams(void);
Suite *suite_fsutil(void);
Suite *suite_watch(void);
Suite *suite_helper(void);
Suite *suite_jobdir(void);
Suite *suite_inputs(void);
Suite *suite_privdrop(void);
Suite *suite_common(void);
Suite *suite_agent(void);
Suite *suite_docker(void);
Suite *suite_build(void);
Suite *suite_docker_build(void);
Suite *suite_baseimage(void);
Suite *suite_imagestore(void);
Suite *suite_docker_images(void);
Suite *suite_containers(void);
Suite *suite_docker_containers(void);
Suite *suite_serve_args(void);

/* tarwriter.c: builds ustar archives for the archive tests. */
void tw_file(FILE *f, const char *name, const void *data, size_t len);
void tw_dir(FILE *f, const char *name);
void tw_end(FILE *f);
/* A docker-archive with one layer; fields may be overridden. */
typedef struct {
        const char *manifest;    /* NULL: a correct one */
        const char *layer_entry; /* name of the file inside the layer; NULL: "bin/hello" */
        int omit_layer;
        int omit_config;
} tw_image_opts;
char *tw_image(const char *dir, const tw_image_opts *o);

#endif
