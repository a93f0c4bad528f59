/* Watching a running job VM: its progress channel, its wall-clock limit and
 * cancellation, until it powers off.  Used by jobs and by image preloading. */
#ifndef VS_WATCH_H
#define VS_WATCH_H

#include "domain.h"
#include "error.h"
#include "frame.h"
#include "pipeline.h"
#include "protocol.h"

#include <stdbool.h>
#include <stdint.h>

/* The VM as the watch sees it: libvirt by default (ops NULL: w->dom is
 * used); tests give their own. */
typedef struct {
        int (*running)(void *ctx); /* as vs_domain_running: 1, 0, or -1 for "lost" */
        void (*kill)(void *ctx);
        void *ctx;
} vs_vm_ops;

enum { VS_GUEST_PHASE_COUNT = sizeof((const char *[]){ VS_GUEST_PHASES_LIST }) / sizeof(const char *) };

/* A guest phase as the host saw it live (host wall-clock ms; 0: not seen). */
typedef struct {
        uint64_t start_ms, end_ms;
} vs_guest_phase_seen;

/* Bounds of one read pass of the channel: a guest that floods output gives
 * the loop back its deadline and cancel checks at least this often. */
#define VS_WATCH_PASS_BYTES (1u << 20)
#define VS_WATCH_PASS_MS 50

typedef struct {
        virDomainPtr dom;
        const vs_vm_ops *ops;       /* NULL: dom through libvirt */
        const char *channel;        /* unix socket of the progress port... */
        int channel_fd;             /* ...or, with channel NULL, a connected fd (not closed) */
        uint64_t deadline_ms;       /* vs_mono_ms() deadline; 0: timeout_ms from the start */
        uint64_t timeout_ms;
        const vs_events *events;    /* may be NULL */
        /* Called with workflow output too, e.g. to keep logs; may be NULL. */
        void (*save)(void *userdata, int stream, const char *data, size_t len);
        void *save_userdata;

        /* results */
        bool timed_out, cancelled;
        bool lost;                  /* libvirtd stopped answering for the VM */
        vs_guest_phase_seen guest[VS_GUEST_PHASE_COUNT]; /* by index in VS_GUEST_PHASES_LIST */
        int guest_current;          /* index of the phase last started, -1 for none */

        /* private */
        int fd;
        vs_frame_decoder frames;
} vs_watch;

/* Returns when the VM is gone (destroyed on timeout or cancel), or when
 * libvirtd can no longer tell (lost set: the VM may still run). */
int vs_watch_run(vs_watch *w, vs_error *err);

/* Name of guest phase i (index into vs_watch.guest), NULL past the end. */
const char *vs_guest_phase_name(int i);

#endif
