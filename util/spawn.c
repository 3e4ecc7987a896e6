/* Outside programs (see spawn.h). */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "xalloc.h"

#define STDERR_KEEP 4096
#define POLL_MS 100

extern char **environ;

static int start(const char *const argv[], int err_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	/* The engine blocks SIGTERM/SIGINT in every thread and ignores SIGPIPE;
	 * a child inheriting that could not be stopped or would miss EPIPE. */
	sigset_t none, dflt;
	sigemptyset(&none);
	sigemptyset(&dflt);
	sigaddset(&dflt, SIGPIPE);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dflt);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	int rc = posix_spawnp(pid, argv[0], &fa, &at, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return rc;
}

/* Reads what is there; false at end of file. */
static bool drain(int fd, struct buf *b)
{
	char chunk[1024];
	ssize_t n = read(fd, chunk, sizeof(chunk));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n > 0 && b->len < STDERR_KEEP)
		buf_add(b, chunk, (size_t)n < STDERR_KEEP - b->len ? (size_t)n : STDERR_KEEP - b->len);
	return n > 0;
}

int spawn_run(const char *const argv[], spawn_cancel_fn cancel, void *cookie, char **stderr_text,
	      struct xc_error *err)
{
	*stderr_text = NULL;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		xc_error_internal(err, "pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid;
	int rc = start(argv, p[1], &pid);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		xc_error_internal(err, "cannot run %s: %s", argv[0], strerror(rc));
		return -1;
	}
	struct buf out = BUF_INIT;
	bool cancelled = false;
	for (;;) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		int n = poll(&pf, 1, POLL_MS);
		if (n > 0 && !drain(p[0], &out))
			break;
		if (!cancelled && cancel && cancel(cookie)) {
			cancelled = true;
			kill(pid, SIGTERM);
		}
	}
	close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	*stderr_text = buf_steal(&out, NULL);
	if (cancelled)
		return SPAWN_CANCELLED;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	xc_error_internal(err, "%s died of signal %d", argv[0], WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -1;
}
