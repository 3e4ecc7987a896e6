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
 *
 * Per request the body accumulates in a buffer owned by the connection, and
 * the reply is written into a second one that MHD sends in place
 * (MHD_RESPMEM_PERSISTENT): MHD never starts a connection's next request
 * before the previous reply is out, so no per-request copy or allocation of
 * the body is needed.
 */
#include "http.h"
#include "dispatch.h"
#include "http_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "../util/buf.h"
#include "../util/log.h"
#include "../util/xalloc.h"

#define LOG_MODULE "rpc.http"

#define DEFAULT_MAX_CONNECTIONS 1024
/* MHD's per-connection pool: request line, headers and the read buffer. */
#define CONNECTION_MEMORY (32 * 1024)
/* Buffers that grew past this for one big call are dropped afterwards. */
#define KEEP_BUFFER_MAX (1u << 20)

static const char page_text[] =
	"xcon: XenServer 4.1 compatible management server.\n"
	"XML-RPC: POST /  JSON-RPC: POST /jsonrpc\n";
static const char too_large_text[] = "Request body too large.\n";
static const char not_found_text[] = "Not found.\n";
static const char not_allowed_text[] = "Method not allowed.\n";
static const char not_implemented_text[] = "Not implemented.\n";

struct rpc_server {
	struct dispatch dispatch;
	struct MHD_Daemon *mhd;
	int unix_fd, tcp_fd;
	int wake_fd; /* eventfd that stops the acceptor */
	pthread_t acceptor;
	bool acceptor_running;
	char *socket_path;
	dev_t socket_dev;
	ino_t socket_ino;
	char tcp_address[INET6_ADDRSTRLEN + 8];
	unsigned tcp_port;
	/* Fixed replies, built once and shared by all connections. */
	struct MHD_Response *page, *too_large, *not_found, *not_allowed, *not_implemented;
};

/* One per connection, from MHD's connection-started notification to its
 * closed one. */
struct conn {
	struct call_ctx ctx;
	char origin[INET6_ADDRSTRLEN + 8];
	struct buf body;
	struct buf out;
	bool post; /* the current request is a POST */
};

/* --- connections ------------------------------------------------------- */

static void conn_describe(struct conn *cn, const struct sockaddr *sa)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	cn->ctx.origin = cn->origin;
	if (!sa || sa->sa_family == AF_UNIX) {
		cn->ctx.trusted = sa != NULL;
		snprintf(cn->origin, sizeof(cn->origin), "unix");
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
		snprintf(cn->origin, sizeof(cn->origin), "[%s]:%u", addr, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
		snprintf(cn->origin, sizeof(cn->origin), "%s:%u", addr, ntohs(s4->sin_port));
	}
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		struct conn *cn = xcalloc(1, sizeof(*cn));
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		conn_describe(cn, ci ? ci->client_addr : NULL);
		*socket_context = cn;
		return;
	}
	struct conn *cn = *socket_context;
	if (cn) {
		buf_free(&cn->body);
		buf_free(&cn->out);
		free(cn);
		*socket_context = NULL;
	}
}

/* --- replies ----------------------------------------------------------- */

static struct MHD_Response *fixed_response(const char *text, size_t len, const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return NULL;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
	MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, "*");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	return r;
}

static enum MHD_Result reply_out(struct MHD_Connection *c, struct conn *cn, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(cn->out.len, cn->out.data, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, "*");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* --- requests ---------------------------------------------------------- */

static bool is_jsonrpc_path(const char *url)
{
	static const char p[] = "/jsonrpc";
	return strncmp(url, p, sizeof(p) - 1) == 0 && (url[sizeof(p) - 1] == '\0' || url[sizeof(p) - 1] == '/');
}

/* Everything but POST. */
static enum MHD_Result answer_other(struct rpc_server *s, struct MHD_Connection *c, const char *url,
				    const char *method)
{
	if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0) {
		if (strcmp(url, "/") == 0)
			return MHD_queue_response(c, MHD_HTTP_OK, s->page);
		return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, s->not_found);
	}
	if (strcmp(method, MHD_HTTP_METHOD_CONNECT) == 0)
		return MHD_queue_response(c, MHD_HTTP_NOT_IMPLEMENTED, s->not_implemented);
	return MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, s->not_allowed);
}

/* First call for a POST: the headers are in, the body is not. */
static enum MHD_Result start_post(struct rpc_server *s, struct MHD_Connection *c, struct conn *cn)
{
	if (cn->body.cap > KEEP_BUFFER_MAX)
		buf_free(&cn->body);
	if (cn->out.cap > KEEP_BUFFER_MAX)
		buf_free(&cn->out); /* the previous reply has been sent */
	buf_reset(&cn->body);
	buf_reset(&cn->out);
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		unsigned long long n = strtoull(cl, NULL, 10);
		if (n > RPC_MAX_BODY)
			return MHD_queue_response(c, MHD_HTTP_CONTENT_TOO_LARGE, s->too_large);
		buf_reserve(&cn->body, (size_t)n);
	}
	return MHD_YES;
}

/* Whether the request announces a body.  A reply queued before the body is
 * read makes MHD close the connection afterwards (it cannot skip the body),
 * so only such requests are answered from the headers alone. */
static bool has_body(struct MHD_Connection *c)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	return (cl && strtoull(cl, NULL, 10) != 0) ||
	       MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/* MHD calls this at least twice per request: once when the headers are in
 * (*req_cls still NULL), once per piece of body, and once more when the body
 * is complete (*upload_size 0). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **req_cls)
{
	struct rpc_server *s = cls;
	struct conn *cn = *req_cls;
	if (!cn) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		cn = ci ? ci->socket_context : NULL;
		if (!cn)
			return MHD_NO;
		*req_cls = cn;
		cn->post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
		if (cn->post)
			return start_post(s, c, cn);
		return has_body(c) ? answer_other(s, c, url, method) : MHD_YES;
	}
	if (!cn->post)
		return answer_other(s, c, url, method);
	if (*upload_size) {
		if (cn->body.len + *upload_size > RPC_MAX_BODY) {
			/* A chunked body that turned out too big. */
			log_debug("%s: request body over %u bytes", cn->origin, RPC_MAX_BODY);
			return MHD_queue_response(c, MHD_HTTP_CONTENT_TOO_LARGE, s->too_large);
		}
		buf_add(&cn->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	const char *body = cn->body.data ? cn->body.data : "";
	if (is_jsonrpc_path(url)) {
		dispatch_jsonrpc(&s->dispatch, &cn->ctx, body, cn->body.len, &cn->out);
		return reply_out(c, cn, "application/json");
	}
	dispatch_xmlrpc(&s->dispatch, &cn->ctx, body, cn->body.len, &cn->out);
	return reply_out(c, cn, "text/xml");
}

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

static bool make_fixed_responses(struct rpc_server *s)
{
	s->page = fixed_response(page_text, sizeof(page_text) - 1, NULL);
	s->too_large = fixed_response(too_large_text, sizeof(too_large_text) - 1, NULL);
	s->not_found = fixed_response(not_found_text, sizeof(not_found_text) - 1, NULL);
	s->not_allowed = fixed_response(not_allowed_text, sizeof(not_allowed_text) - 1, "GET, HEAD, POST");
	s->not_implemented = fixed_response(not_implemented_text, sizeof(not_implemented_text) - 1, NULL);
	return s->page && s->too_large && s->not_found && s->not_allowed && s->not_implemented;
}

static int server_open(struct rpc_server *s, const struct rpc_server_opts *o, struct xc_error *err)
{
	s->unix_fd = http_listen_unix(o->socket_path, err);
	if (s->unix_fd < 0)
		return -1;
	s->socket_path = xstrdup(o->socket_path);
	struct stat st;
	if (stat(s->socket_path, &st) == 0) {
		s->socket_dev = st.st_dev;
		s->socket_ino = st.st_ino;
	}
	if (o->listen) {
		s->tcp_fd = http_listen_tcp(o->listen, s->tcp_address, sizeof(s->tcp_address), &s->tcp_port, err);
		if (s->tcp_fd < 0)
			return -1;
	}
	if (!make_fixed_responses(s)) {
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
				  0, NULL, NULL, on_request, s,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, /* first, or MHD logs to stderr */
				  MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
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
	s->dispatch.call = o->call;
	s->dispatch.cookie = o->cookie;
	s->unix_fd = s->tcp_fd = s->wake_fd = -1;
	if (server_open(s, o, err) < 0) {
		rpc_server_stop(s);
		return NULL;
	}
	return s;
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
	if (s->acceptor_running) {
		uint64_t one = 1;
		if (write(s->wake_fd, &one, sizeof(one)) < 0)
			log_warn("cannot wake the acceptor: %s", strerror(errno));
		pthread_join(s->acceptor, NULL);
	}
	/* Refuse new connections before waiting for the open ones. */
	if (s->unix_fd >= 0)
		unlink_socket(s);
	close_fd(&s->unix_fd);
	close_fd(&s->tcp_fd);
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	close_fd(&s->wake_fd);
	struct MHD_Response *fixed[] = { s->page, s->too_large, s->not_found, s->not_allowed, s->not_implemented };
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
		if (fixed[i])
			MHD_destroy_response(fixed[i]);
	free(s->socket_path);
	free(s);
}

unsigned rpc_server_tcp_port(const struct rpc_server *s)
{
	return s ? s->tcp_port : 0;
}

const char *rpc_server_tcp_address(const struct rpc_server *s)
{
	return s && s->tcp_fd >= 0 ? s->tcp_address : NULL;
}
