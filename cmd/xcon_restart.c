/* Restarting the engine in place (see xcon.h).  exec keeps the pid, the
 * signal mask and pending signals, and any descriptor without close-on-exec:
 * the listening sockets survive, so connections that arrive meanwhile wait in
 * their backlog and clients find the same address and port again. */
#include "xcon.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/log.h"
#include "../util/xalloc.h"

#define LOG_MODULE "xcon"

#define ENV_FDS "XCON_LISTEN_FDS"
/* How long replies in progress get to go out before their connections are
 * closed anyway (a call blocked on something else than events). */
#define QUIESCE_MS 5000

static pthread_t main_thread;
static bool requested;

static bool parse_fd(const char *s, char **end, int *fd)
{
	errno = 0;
	long v = strtol(s, end, 10);
	if (errno || *end == s || v < -1 || v > 65535)
		return false;
	*fd = (int)v;
	return true;
}

void restart_take_inherited(struct inherited_fds *inh)
{
	main_thread = pthread_self();
	*inh = (struct inherited_fds){ .present = false, .unix_fd = -1, .tcp_fd = -1 };
	const char *v = getenv(ENV_FDS);
	if (!v)
		return;
	char *end;
	int u = -1, t = -1;
	if (parse_fd(v, &end, &u) && *end == ',' && parse_fd(end + 1, &end, &t) && !*end && u >= 0)
		*inh = (struct inherited_fds){ .present = true, .unix_fd = u, .tcp_fd = t };
	else
		log_warn("ignoring malformed %s='%s'", ENV_FDS, v);
	/* Not for the programs the engine runs (curl), nor a later start. */
	unsetenv(ENV_FDS);
}

void restart_request(void *cookie)
{
	__atomic_store_n(&requested, true, __ATOMIC_RELEASE);
	pthread_kill(main_thread, SIGUSR1);
}

bool restart_requested(void)
{
	return __atomic_load_n(&requested, __ATOMIC_ACQUIRE);
}

/* This process's environment with ENV_FDS set to the sockets: built instead
 * of setenv, which is not safe while other threads might read it. */
static char **env_with(char *fds_var)
{
	extern char **environ;
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = xcalloc(n + 2, sizeof(*env));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], ENV_FDS "=", sizeof(ENV_FDS)) != 0)
			env[k++] = environ[i];
	env[k] = fds_var;
	return env;
}

int restart_exec(struct rpc_server *srv, struct engine *e, char **argv)
{
	log_info("host.restart_agent: restarting the engine in place");
	engine_interrupt(e); /* blocked event calls answer, so their replies go out too */
	if (!rpc_server_quiesce(srv, QUIESCE_MS))
		log_warn("calls still running after %d ms: their connections are closed", QUIESCE_MS);
	int unix_fd, tcp_fd;
	rpc_server_release_listeners(srv, &unix_fd, &tcp_fd);
	rpc_server_stop(srv);
	engine_close(e);
	/* Only now, with every other thread gone: the sockets must cross the
	 * exec, nothing else may. */
	int fds[] = { unix_fd, tcp_fd };
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		if (fds[i] >= 0 && fcntl(fds[i], F_SETFD, 0) < 0) {
			log_error("cannot keep listening socket %d across exec: %s", fds[i], strerror(errno));
			return 1;
		}
	}
	char *fds_var = xasprintf("%s=%d,%d", ENV_FDS, unix_fd, tcp_fd);
	char **env = env_with(fds_var);
	log_info("re-executing /proc/self/exe");
	fflush(stderr);
	execve("/proc/self/exe", argv, env);
	log_error("cannot re-execute /proc/self/exe: %s", strerror(errno));
	free(env);
	free(fds_var);
	return 1;
}
