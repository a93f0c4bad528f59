/* One job, phase by phase: validate -> prepare -> boot -> wait -> collect ->
 * cleanup.  Cleanup runs on every path: no domain, overlay or job disk
 * outlives vs_job_run, and output appears all at once or not at all. */
#ifndef VS_PIPELINE_H
#define VS_PIPELINE_H

#include "config.h"
#include "error.h"
#include "result.h"
#include "spec.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
        /* A phase starts or ends; guest phases have guest = true. */
        void (*phase)(void *userdata, const char *name, bool guest, bool start);
        /* Workflow output as it arrives; stream is 1 (stdout) or 2 (stderr). */
        void (*output)(void *userdata, int stream, const char *data, size_t len);
        /* A line from the guest agent. */
        void (*message)(void *userdata, const char *text, size_t len);
        /* Polled a few times a second: true ends the job (VM destroyed). */
        bool (*cancelled)(void *userdata);
        void *userdata;
} vs_events;

#define VS_LOG_LIMIT_DEFAULT (64ull << 20)

typedef struct {
        const char *out_dir;     /* result.json, logs, workspace/, image.tar; NULL for none */
        bool write_back;         /* write the collected workspace back to spec->workspace (a
                                    directory; with out_dir it is in out_dir/workspace too) */
        const char *workspace_tar; /* instead of spec->workspace: a tar of it (HTTP uploads) */
        /* When set, spec->workspace is opened below this directory only
         * (vs_open_beneath: no symlink, "..", or mount point out of it); the
         * service passes the --allow-root the path was admitted under. */
        const char *workspace_root;
        /* The same for spec->image (NULL for an upload in the service's own
         * job directory). */
        const char *image_root;
        /* spec->binds[i].host is opened below bind_roots[i] (the root that
         * admitted it; a NULL entry: refused).  NULL: below "/" (no roots). */
        const char *const *bind_roots;
        /* A build (spec->build): its context tar (checked again here) and the
         * docker-archives of its FROM images (NULL-terminated, may be NULL). */
        const char *build_context;
        char *const *build_images;
        uint64_t log_limit;      /* bytes kept per output stream in out_dir */
        const vs_events *events; /* may be NULL */
} vs_run_opts;

/* Runs a job to its end.  Returns 0 when the job reached a verdict (success,
 * failure, timeout, cancelled: see result["status"]), -1 with err set when it
 * could not be run or the sandbox failed.  *ret_result is set either way once
 * validation has started. */
int vs_job_run(const vs_config *cfg, const vs_spec *spec, const vs_run_opts *opts, json_t **ret_result,
               vs_error *err);

/* A timeout's verdict (result.json's and the job record's "error"): the
 * limit, the flag to raise and where the job was: the host phase, and in
 * VS_PHASE_WAIT the guest's phase (engine-ready, load, run, save; NULL:
 * none reported yet), e.g. "the job ran past --timeout 10m while the guest
 * was in load (loading the image); raise --timeout".  Malloc'd. */
char *vs_timeout_message(uint64_t timeout_ms, vs_phase phase, const char *guest_phase);

#endif
