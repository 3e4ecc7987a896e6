/* Absolute times for pthread_cond_timedwait and friends. */
#ifndef XCON_DEADLINE_H
#define XCON_DEADLINE_H

#include <time.h>

/* The time on clock clk ms milliseconds from now. */
struct timespec deadline_in_ms(clockid_t clk, unsigned ms);

#endif
