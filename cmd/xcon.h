/* What cmd/xcon.c shares with cmd/xcon_restart.c: the engine's restart in
 * place (host.restart_agent). */
#ifndef XCON_CMD_XCON_H
#define XCON_CMD_XCON_H

#include <stdbool.h>

#include "../engine/engine.h"
#include "../rpc/http.h"

/* Listening sockets handed over by the image that re-executed us. */
struct inherited_fds {
	bool present;
	int unix_fd, tcp_fd; /* -1: none */
};

/* Reads and removes XCON_LISTEN_FDS ("UNIXFD,TCPFD"; a malformed value is
 * ignored with a warning and the sockets are bound anew), and remembers the
 * calling thread as the one restart_request wakes.  Call from main before
 * any thread exists: it changes the environment. */
void restart_take_inherited(struct inherited_fds *inh);

/* engine_opts.restart: asks the main thread (SIGUSR1, which it sigwaits
 * for) to restart; returns at once. */
void restart_request(void *cookie);
/* Whether a SIGUSR1 came from restart_request rather than from outside. */
bool restart_requested(void);

/* The restart itself, on the main thread: stops accepting, lets replies in
 * progress go out (the restart_agent one first of all), closes the
 * listeners' connections and the engine as at SIGTERM, and re-executes
 * /proc/self/exe with argv and the listening sockets.  Returns only if the
 * exec failed: the exit status (1). */
int restart_exec(struct rpc_server *srv, struct engine *e, char **argv);

#endif
