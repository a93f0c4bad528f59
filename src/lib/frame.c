#include "frame.h"

#include <stdint.h>
#include <string.h>

void vs_frame_decoder_init(vs_frame_decoder *d)
{
        d->have = 0;
        d->broken = false;
}

static size_t frame_length(const unsigned char *h)
{
        return (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | h[4];
}

int vs_frame_feed(vs_frame_decoder *d, const void *data, size_t len, vs_frame_fn fn, void *userdata)
{
        const unsigned char *p = data;

        while (len > 0 && !d->broken) {
                size_t need = VS_FRAME_HEADER, take;

                if (d->have >= VS_FRAME_HEADER) {
                        size_t body = frame_length(d->buf);
                        if (body > VS_FRAME_MAX) {
                                d->broken = true;
                                break;
                        }
                        need += body;
                }
                take = need - d->have < len ? need - d->have : len;
                memcpy(d->buf + d->have, p, take);
                d->have += take;
                p += take;
                len -= take;
                if (d->have == VS_FRAME_HEADER && frame_length(d->buf) > VS_FRAME_MAX) {
                        d->broken = true;
                        break;
                }
                if (d->have >= VS_FRAME_HEADER && d->have == VS_FRAME_HEADER + frame_length(d->buf)) {
                        fn(userdata, (char)d->buf[0], (const char *)d->buf + VS_FRAME_HEADER, d->have - VS_FRAME_HEADER);
                        d->have = 0;
                }
        }
        return d->broken ? -1 : 0;
}
