/* Running an outside program and waiting for it, as xapi runs its helpers
 * (curl for uploads): posix_spawn, so no fork of a threaded process runs
 * our code in the child. */
#ifndef XCON_SPAWN_H
#define XCON_SPAWN_H

#include <stdbool.h>

#include "error.h"

/* Asked every ~100 ms while the program runs; true stops it (SIGTERM). */
typedef bool (*spawn_cancel_fn)(void *cookie);

#define SPAWN_CANCELLED (-2)

/* Runs argv[0] (looked up in PATH) with argv, this process's environment,
 * stdin and stdout on /dev/null, a clean signal mask and dispositions, and
 * waits for it.  The start of what it writes to stderr comes back in
 * *stderr_text (caller frees; "" if nothing).  Returns its exit status
 * (0-255); SPAWN_CANCELLED once cancel said so and the program is reaped;
 * -1 with err set when it could not start or died of a signal. */
int spawn_run(const char *const argv[], spawn_cancel_fn cancel, void *cookie, char **stderr_text,
	      struct xc_error *err);

#endif
