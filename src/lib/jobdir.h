/* The host-side directory of one running VM: its overlay, job disk, progress
 * socket and console log.  A live owner holds an flock on its "lock" file;
 * directories whose owner died (kill -9) are removed by the next job. */
#ifndef VS_JOBDIR_H
#define VS_JOBDIR_H

#include "error.h"

typedef struct {
        char id[13];
        char *dir, *root_disk, *job_disk, *channel, *console;
        int lock_fd;
} vs_jobdir;

/* Creates state_dir/jobs/<id> (0711: qemu reaches files by name); id is
 * 12 hex digits (vs_random_id). */
int vs_jobdir_create(const char *state_dir, const char *id, vs_jobdir *ret, vs_error *err);
/* Removes the directories of dead owners under state_dir/jobs. */
void vs_jobdir_gc(const char *state_dir);
/* The same, counting directories removed and those that could not be. */
void vs_jobdir_gc_counted(const char *state_dir, unsigned *ret_removed, unsigned *ret_failed);
/* Removes the directory and everything in it, then drops the lock. */
void vs_jobdir_remove(vs_jobdir *d);

#endif
