/* libFuzzer: the progress-frame decoder on arbitrary guest bytes, fed in
 * pieces whose sizes the input chooses (the first byte). */
#include "frame.h"

#include <stdlib.h>

static size_t frames;

static void sink(void *u, char type, const char *data, size_t len)
{
        (void)u, (void)type, (void)data;
        if (len > VS_FRAME_MAX)
                abort();
        frames++;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        static vs_frame_decoder d;
        size_t piece, off = 1;

        if (size == 0)
                return 0;
        piece = (size_t)data[0] + 1;
        vs_frame_decoder_init(&d);
        while (off < size) {
                size_t n = size - off < piece ? size - off : piece;
                vs_frame_feed(&d, data + off, n, sink, NULL);
                off += n;
        }
        return 0;
}
