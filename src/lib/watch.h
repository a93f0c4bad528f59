/* Watching a running job VM: its progress channel, its wall-clock limit and
 * cancellation, until it powers off.  Used by jobs and by image preloading. */
#ifndef VS_WATCH_H
#define VS_WATCH_H

#include "domain.h"
#include "error.h"
#include "frame.h"
#include "pipeline.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
        virDomainPtr dom;
        const char *channel;        /* unix socket of the progress port */
        uint64_t timeout_ms;        /* from the start of the watch */
        const vs_events *events;    /* may be NULL */
        /* Called with workflow output too, e.g. to keep logs; may be NULL. */
        void (*save)(void *userdata, int stream, const char *data, size_t len);
        void *save_userdata;

        /* results */
        bool timed_out, cancelled;

        /* private */
        int fd;
        vs_frame_decoder frames;
} vs_watch;

/* Returns when the VM is gone (destroyed on timeout or cancel). */
int vs_watch_run(vs_watch *w, vs_error *err);

#endif
