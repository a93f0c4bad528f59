/* A deadline for the parts of a job libguestfs runs (prepare, collect).
 * libguestfs has no timeout of its own; its appliance runs in a child
 * (privdrop.h) whose every wait is bounded by the deadline, and that is
 * killed with everything of its uid at the deadline.  This watchdog thread
 * is the backstop: from the deadline on it kills any appliance's qemu found
 * by the tag on its kernel command line (guestfs_set_append
 * "vmsandbox.job=<id>"), among this process's descendants only (a few
 * generations), through a pidfd opened before the check, so a recycled pid
 * is never signalled. */
#ifndef VS_GUARD_H
#define VS_GUARD_H

#include "error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        uint64_t deadline_ms;       /* vs_mono_ms() */
        char tag[64];               /* "vmsandbox.job=<id>" */
        bool running, stop, fired;
        unsigned killed;            /* appliances killed */
} vs_guard;

/* The append string for a job's appliances (also the tag matched). */
void vs_guard_tag(char buf[64], const char *job_id);

int vs_guard_start(vs_guard *g, const char *job_id, uint64_t deadline_ms, vs_error *err);
/* True once the deadline has passed (the appliance, if any, was killed). */
bool vs_guard_fired(vs_guard *g);
/* Stops the thread; safe on a guard never started. */
void vs_guard_stop(vs_guard *g);

/* Kills this process's descendants whose command line holds tag; returns
 * how many.  (The watchdog's action, exposed for tests.) */
unsigned vs_kill_tagged_children(const char *tag);

#endif
