/* The HTTP server (see http.h), on libmicrohttpd.
 *
 * Shape: one acceptor thread polls the listening sockets (http_listen.c) and
 * hands each new connection to a single MHD daemon with MHD_add_connection;
 * MHD gives every connection its own thread.  Accepting ourselves, instead of
 * giving MHD the listening sockets, keeps trust a property of where the
 * connection came from (a unix peer address means the local socket), and is
 * the seam where the console tunnel will go: MHD only lets a handler take
 * over a socket after a 101 reply, while xapi's CONNECT /console answers 200,
 * so that request has to be recognised before MHD sees the connection.
 * Requests themselves are handled in http_request.c.
 */
#include "http_priv.h"
#include "http_listen.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../util/deadline.h"
#include "../util/log.h"
#include "../util/xalloc.h"

#define LOG_MODULE "rpc.http"

#define DEFAULT_MAX_CONNECTIONS 1024
/* MHD's per-connection pool: request line, headers and the read buffer.
 * MHD clears it for every request, so bigger is slower. */
#define CONNECTION_MEMORY (16 * 1024)

/* MHD reports client misbehaviour (resets, garbage) here as much as its own
 * trouble, so it goes to the debug level.  Connections handed over with
 * MHD_add_connection are of unknown type to MHD 0.9.75, so on the unix socket
 * it tries (and fails) to set TCP options for every reply; those messages are
 * expected and dropped (the failed calls themselves cost ~0.2 us). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	static const char *const expected[] = { "Setting TCP_", "Failed to push the data" };
	if (log_threshold < LOG_DEBUG)
		return;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	for (size_t i = 0; i < ARRAY_SIZE(expected); i++)
		if (strncmp(msg, expected[i], strlen(expected[i])) == 0)
			return;
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_debug("libmicrohttpd: %s", msg);
}

/* --- accepting --------------------------------------------------------- */

static void accept_one(struct rpc_server *s, int lfd)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len = sizeof(ss);
	int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			log_warn("accept: %s", strerror(errno));
			poll(NULL, 0, 100); /* let connections close instead of spinning */
		}
		return;
	}
	if (lfd == s->unix_fd) {
		/* A client socket without a name comes back as a bare family;
		 * MHD gets a full address, and the family is what marks trust. */
		ss.ss_family = AF_UNIX;
		len = sizeof(struct sockaddr_un);
	}
	if (MHD_add_connection(s->mhd, fd, (struct sockaddr *)&ss, len) != MHD_YES)
		log_warn("cannot serve a new connection: %s", strerror(errno)); /* MHD closed it */
}

static void *acceptor_main(void *arg)
{
	struct rpc_server *s = arg;
	struct pollfd p[3] = {
		{ .fd = s->wake_fd, .events = POLLIN },
		{ .fd = s->unix_fd, .events = POLLIN },
		{ .fd = s->tcp_fd, .events = POLLIN },
	};
	nfds_t n = s->tcp_fd >= 0 ? 3 : 2;
	for (;;) {
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			return NULL;
		}
		if (p[0].revents)
			return NULL;
		for (nfds_t i = 1; i < n; i++)
			if (p[i].revents & POLLIN)
				accept_one(s, p[i].fd);
	}
}

/* --- start and stop ---------------------------------------------------- */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int server_open(struct rpc_server *s, const struct rpc_server_opts *o, struct xc_error *err)
{
	s->unix_fd = o->inherit && o->unix_fd >= 0 ? http_listen_adopt_unix(o->unix_fd, o->socket_path, err)
						  : http_listen_unix(o->socket_path, err);
	if (s->unix_fd < 0)
		return -1;
	s->socket_path = xstrdup(o->socket_path);
	struct stat st;
	if (stat(s->socket_path, &st) == 0) {
		s->socket_dev = st.st_dev;
		s->socket_ino = st.st_ino;
	}
	bool tcp_inherited = o->inherit && o->tcp_fd >= 0;
	if (tcp_inherited && !o->listen)
		close(o->tcp_fd);
	if (o->listen) {
		s->tcp_fd = tcp_inherited
				    ? http_listen_adopt_tcp(o->tcp_fd, s->tcp_address, sizeof(s->tcp_address), &s->tcp_port, err)
				    : http_listen_tcp(o->listen, s->tcp_address, sizeof(s->tcp_address), &s->tcp_port, err);
		if (s->tcp_fd < 0)
			return -1;
	}
	if (!http_request_fixed_create(&s->fixed)) {
		xc_error_internal(err, "cannot create HTTP responses");
		return -1;
	}
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		xc_error_internal(err, "eventfd: %s", strerror(errno));
		return -1;
	}
	unsigned max = o->max_connections ? o->max_connections : DEFAULT_MAX_CONNECTIONS;
	s->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD |
				  MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_USE_ERROR_LOG,
				  0, NULL, NULL, http_request_handle, s,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, /* first, or MHD logs to stderr */
				  MHD_OPTION_NOTIFY_CONNECTION, http_request_notify, NULL,
				  MHD_OPTION_NOTIFY_COMPLETED, http_request_completed, s,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
				  MHD_OPTION_CONNECTION_LIMIT, max,
				  /* No idle timeout: event.next may rightly block for hours. */
				  MHD_OPTION_CONNECTION_TIMEOUT, 0u,
				  MHD_OPTION_END);
	if (!s->mhd) {
		xc_error_internal(err, "cannot start the HTTP server");
		return -1;
	}
	int rc = pthread_create(&s->acceptor, NULL, acceptor_main, s);
	if (rc != 0) {
		xc_error_internal(err, "cannot start the acceptor thread: %s", strerror(rc));
		return -1;
	}
	s->acceptor_running = true;
	return 0;
}

struct rpc_server *rpc_server_start(const struct rpc_server_opts *o, struct xc_error *err)
{
	struct rpc_server *s = xcalloc(1, sizeof(*s));
	s->stream_stall_secs = o->stream_stall_secs ? o->stream_stall_secs : RPC_STREAM_STALL_SECS;
	s->dispatch.call = o->call;
	s->dispatch.cookie = o->cookie;
	s->unix_fd = s->tcp_fd = s->wake_fd = -1;
	pthread_mutex_init(&s->busy_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->idle, &ca);
	pthread_condattr_destroy(&ca);
	if (server_open(s, o, err) < 0) {
		rpc_server_stop(s);
		return NULL;
	}
	return s;
}

/* The acceptor polls the listening sockets: stopped before they change hands
 * or close. */
static void stop_acceptor(struct rpc_server *s)
{
	if (!s->acceptor_running)
		return;
	uint64_t one = 1;
	if (write(s->wake_fd, &one, sizeof(one)) < 0)
		log_warn("cannot wake the acceptor: %s", strerror(errno));
	pthread_join(s->acceptor, NULL);
	s->acceptor_running = false;
}

/* Removes the socket file unless something else has replaced it since. */
static void unlink_socket(const struct rpc_server *s)
{
	struct stat st;
	if (s->socket_path && lstat(s->socket_path, &st) == 0 && st.st_dev == s->socket_dev &&
	    st.st_ino == s->socket_ino)
		unlink(s->socket_path);
}

void rpc_server_stop(struct rpc_server *s)
{
	if (!s)
		return;
	stop_acceptor(s);
	/* Refuse new connections before waiting for the open ones. */
	if (s->unix_fd >= 0)
		unlink_socket(s);
	close_fd(&s->unix_fd);
	close_fd(&s->tcp_fd);
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	close_fd(&s->wake_fd);
	http_request_fixed_destroy(&s->fixed);
	free(s->socket_path);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->busy_lock);
	free(s);
}

bool rpc_server_quiesce(struct rpc_server *s, unsigned timeout_ms)
{
	stop_acceptor(s);
	struct timespec until = deadline_in_ms(CLOCK_MONOTONIC, timeout_ms);
	pthread_mutex_lock(&s->busy_lock);
	while (s->busy && pthread_cond_timedwait(&s->idle, &s->busy_lock, &until) != ETIMEDOUT)
		;
	bool idle = s->busy == 0;
	pthread_mutex_unlock(&s->busy_lock);
	return idle;
}

void rpc_server_release_listeners(struct rpc_server *s, int *unix_fd, int *tcp_fd)
{
	stop_acceptor(s);
	*unix_fd = s->unix_fd;
	*tcp_fd = s->tcp_fd;
	s->unix_fd = s->tcp_fd = -1;
}

unsigned rpc_server_tcp_port(const struct rpc_server *s)
{
	return s ? s->tcp_port : 0;
}

const char *rpc_server_tcp_address(const struct rpc_server *s)
{
	return s && s->tcp_fd >= 0 ? s->tcp_address : NULL;
}
