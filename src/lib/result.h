/* result.json: what happened to one job, with timings and provenance. */
#ifndef VS_RESULT_H
#define VS_RESULT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
        VS_PHASE_VALIDATE,
        VS_PHASE_PREPARE,
        VS_PHASE_BOOT,
        VS_PHASE_WAIT,
        VS_PHASE_COLLECT,
        VS_PHASE_CLEANUP,
        VS_PHASE_LAST
} vs_phase;

typedef enum {
        VS_STATUS_SUCCESS,   /* the workflow exited 0 */
        VS_STATUS_FAILURE,   /* the workflow exited non-zero */
        VS_STATUS_TIMEOUT,   /* killed at --timeout */
        VS_STATUS_CANCELLED, /* SIGINT/SIGTERM or an API cancel */
        VS_STATUS_ERROR,     /* the sandbox failed; see "error" */
        VS_STATUS_LAST
} vs_status;

const char *vs_phase_name(vs_phase p);
const char *vs_status_name(vs_status s);

json_t *vs_result_new(const char *job_id);
void vs_result_phase(json_t *result, vs_phase p, int start);
void vs_result_set_status(json_t *result, vs_status s, int exit_code, const char *error);

/* Takes the guest's result.json (untrusted): only known fields of the right
 * type and bounded size are copied into result["guest"] and the top level.
 * Returns the guest's state: 1 when the workflow ran (exit_code set). */
int vs_result_merge_guest(json_t *result, const char *text, size_t len, int *ret_exit_code);

#endif
