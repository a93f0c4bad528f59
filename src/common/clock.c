#include "clock.h"

#include <time.h>

static uint64_t clock_ms(clockid_t id)
{
        struct timespec ts;

        /* Cannot fail for these clocks with a valid pointer. */
        clock_gettime(id, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t vs_now_ms(void)
{
        return clock_ms(CLOCK_REALTIME);
}

uint64_t vs_mono_ms(void)
{
        return clock_ms(CLOCK_MONOTONIC);
}
