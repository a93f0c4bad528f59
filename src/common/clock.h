/* Clocks, shared by the host and the guest agent. */
#ifndef VS_CLOCK_H
#define VS_CLOCK_H

#include <stdint.h>

/* Wall-clock milliseconds since the epoch: for records and phase stamps. */
uint64_t vs_now_ms(void);
/* Monotonic milliseconds: for deadlines (a wall clock can jump). */
uint64_t vs_mono_ms(void);

#endif
