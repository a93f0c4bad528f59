/* libFuzzer: the progress-frame decoder on arbitrary guest bytes. */
#include "frame.h"

static void sink(void *u, char type, const char *data, size_t len)
{
        (void)u, (void)type, (void)data, (void)len;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        static vs_frame_decoder d;
        size_t half = size / 2;

        vs_frame_decoder_init(&d);
        vs_frame_feed(&d, data, half, sink, NULL);
        vs_frame_feed(&d, data + half, size - half, sink, NULL);
        return 0;
}
