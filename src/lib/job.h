/* Private to the pipeline: the state of one running job. */
#ifndef VS_JOB_H
#define VS_JOB_H

#include "archive.h"
#include "baseimage.h"
#include "domain.h"
#include "jobdir.h"
#include "pipeline.h"
#include "watch.h"

#include <stdio.h>

typedef struct {
        const vs_config *cfg;
        const vs_spec *spec;
        const vs_run_opts *opts;
        vs_accel accel;
        char accel_why[256];
        char id[13];
        vs_jobdir dir;
        char *workspace;         /* realpath of spec->workspace */
        bool has_workspace;      /* a directory or a tar was given */
        uint64_t workspace_bytes;
        vs_base_image base;
        vs_archive_info archive;
        char *ref, *image_id;

        char *out_tmp;           /* output staged beside out_dir, renamed at the end */
        char *ws_stage;          /* where the collected workspace lands */

        virConnectPtr conn;
        virDomainPtr dom;
        vs_watch watch;
        FILE *logs[2];           /* stdout.log, stderr.log in out_tmp */
        uint64_t logged[2];

        bool timed_out, cancelled, ran;
        int exit_code;
        json_t *result;
} vs_job;

#endif
