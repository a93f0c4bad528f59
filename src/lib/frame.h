/* Decoder for the agent's progress frames (see protocol.h).  The guest is
 * hostile: lengths are bounded and a bad frame ends the stream. */
#ifndef VS_FRAME_H
#define VS_FRAME_H

#include "protocol.h"

#include <stdbool.h>
#include <stddef.h>

typedef void (*vs_frame_fn)(void *userdata, char type, const char *data, size_t len);

typedef struct {
        unsigned char buf[VS_FRAME_HEADER + VS_FRAME_MAX];
        size_t have;
        bool broken;
} vs_frame_decoder;

void vs_frame_decoder_init(vs_frame_decoder *d);

/* Feeds bytes; calls fn once per complete frame.  Returns -1 (and ignores all
 * further input) once a frame announces more than VS_FRAME_MAX bytes. */
int vs_frame_feed(vs_frame_decoder *d, const void *data, size_t len, vs_frame_fn fn, void *userdata);

#endif
