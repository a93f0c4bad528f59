/* Private to the pipeline: the state of one running job. */
#ifndef VS_JOB_H
#define VS_JOB_H

#include "archive.h"
#include "baseimage.h"
#include "build.h"
#include "domain.h"
#include "guard.h"
#include "jobdir.h"
#include "pipeline.h"
#include "watch.h"

#include <stdio.h>
#include <sys/stat.h>

typedef struct {
        const vs_config *cfg;
        const vs_spec *spec;
        const vs_run_opts *opts;
        vs_accel accel;
        char accel_why[256];
        char id[13];
        vs_jobdir dir;
        /* Inputs are opened once at validation and used only through these
         * fds afterwards (/proc/self/fd/N for libraries that want a path):
         * swapping a path for a symlink later changes nothing. */
        int workspace_fd;        /* spec->workspace, O_DIRECTORY; -1 for none */
        struct stat workspace_st;
        int workspace_tar_fd;    /* opts->workspace_tar; -1 for none */
        int image_fd;            /* spec->image; -1 for none */
        char image_path[32], workspace_tar_path[32];
        int context_fd;          /* a build's opts->build_context; -1 for none */
        uint64_t context_bytes;
        int image_fds[VS_BUILD_IMAGES_MAX]; /* a build's FROM images, n_images of them */
        size_t n_images;
        uint64_t images_bytes;
        /* A container's binds (spec->binds): each opened once at validation
         * (vs_bind_open), copied in and, rw, written back through its fd. */
        struct {
                int fd;
                struct stat st;  /* at validation: the write-back checks it again */
                uint64_t bytes;
                char *stage;     /* where a rw bind is collected; NULL: not yet */
        } binds[VS_BINDS_MAX];
        size_t n_binds;          /* opened so far */
        uint64_t binds_bytes;
        bool has_workspace;      /* a directory or a tar was given */
        uint64_t workspace_bytes;
        vs_base_image base;
        vs_archive_info archive;
        char *ref, *image_id;

        char *out_tmp;           /* output staged beside out_dir, renamed at the end */
        char *ws_stage;          /* where the collected workspace lands */

        virConnectPtr conn;
        virDomainPtr dom;
        int channel_fd;          /* the progress channel, connected at boot (hot-plug), or -1 */
        vs_watch watch;
        FILE *logs[2];           /* stdout.log, stderr.log in out_tmp */
        uint64_t logged[2];

        /* --timeout bounds the whole job from the start of prepare: the VM
         * through the watch, libguestfs (prepare, collect) through the guard. */
        uint64_t deadline_ms;    /* vs_mono_ms() */
        vs_guard guard;
        vs_phase timeout_phase;  /* where the deadline struck */

        bool timed_out, cancelled, ran;
        /* What the overlapped prepare found of its VM (pipeline.c). */
        enum { VS_VM_GONE_NO, VS_VM_GONE_STOPPED, VS_VM_GONE_LOST } vm_gone;
        int exit_code;
        json_t *result;
} vs_job;

#endif
