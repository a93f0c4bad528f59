/* A job runner for the service's unit tests: no VM, driven by the job's cmd.
 *
 *   cmd = ["fake", OP, ...] with OP one of
 *     out:TEXT        output TEXT (stdout)
 *     err:TEXT        output TEXT on stderr
 *     sleep:MS        wait MS milliseconds
 *     rep:N:HEX       output the bytes HEX, N times
 *     block           wait until fake_release(NAME) or the job is cancelled
 *     exit:N          the verdict: exit code N (default 0)
 *     error           fail as a sandbox error would
 *     guest_error:TEXT  the guest's run_error in the result (e.g. out of memory)
 *     timeout:PHASE   the verdict: a timeout in PHASE (a guest phase such as load, or a host phase)
 *     file:NAME:TEXT  out/NAME holds TEXT (as collected: stdout.log, stderr.log, dockerd.log)
 *   env NAME=label names the job for fake_started().
 * A build (spec->build) takes its ops from the build argument FAKE
 * ("out:Step 1/2 : FROM x\n|exit:1"), prints "context N bytes, M images",
 * and, when it succeeds with a FROM image, "exports" that image (its archive
 * as out/image.tar, its id as the guest's image_id) and prints
 * "Successfully built <id>" as the classic builder does. */
#ifndef VS_FAKE_RUNNER_H
#define VS_FAKE_RUNNER_H

#include "config.h"
#include "pipeline.h"

#include <stdbool.h>
#include <stddef.h>

int fake_run(void *userdata, const vs_config *cfg, const vs_spec *spec, const vs_run_opts *opts, json_t **ret_result,
             vs_error *err);

void fake_reset(void);
/* Blocks until n jobs have started (they may have ended since). */
void fake_wait_started(size_t n);
/* Blocks until n jobs are inside "block". */
void fake_wait_blocked(size_t n);
/* The label of the i-th job that started, or NULL. */
const char *fake_started(size_t i);
size_t fake_nstarted(void);
/* Jobs running in the runner now, and the most at once so far. */
size_t fake_running(void);
size_t fake_max_running(void);
/* Lets a blocked job (by NAME) go on; "*" releases every job from now on. */
void fake_release(const char *name);
/* The allowed roots the last run was given for its image and workspace
 * ("" for none). */
const char *fake_last_image_root(void);
const char *fake_last_workspace_root(void);
/* The roots of the last run's binds, comma-separated ("(none)": NULL). */
const char *fake_last_bind_roots(void);
/* The spec the last run was given (vs_spec_to_json, a copy) and its
 * opts->write_back. */
json_t *fake_last_spec(void);
bool fake_last_write_back(void);

#endif
