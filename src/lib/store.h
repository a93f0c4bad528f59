/* Job records on disk for the service: state_dir/server/jobs/<id>/job.json,
 * always replaced atomically (temp file + rename), so a crash at any point
 * leaves either the old or the new record. */
#ifndef VS_STORE_H
#define VS_STORE_H

#include "error.h"

#include <jansson.h>

/* Steps keep 200 lines of up to 4 KiB each (escaped, up to 6 times that). */
#define VS_JOB_RECORD_MAX (16u << 20)

/* state_dir/server/jobs, created 0700. */
int vs_store_init(const char *state_dir, char **ret_root, vs_error *err);
int vs_store_save(const char *job_dir, json_t *record, vs_error *err);
json_t *vs_store_load(const char *job_dir, vs_error *err);
/* Calls fn for each job directory name (12 hex digits) under root. */
int vs_store_each(const char *root, void (*fn)(void *userdata, const char *id), void *userdata);
int vs_store_id_valid(const char *id);

#endif
