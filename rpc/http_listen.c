/* Listening sockets (see http_listen.h). */
#include "http_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../util/xalloc.h"

#define BACKLOG 128

static void close_keep_errno(int fd)
{
	int e = errno;
	close(fd);
	errno = e;
}

/* mkdir -p of the directory part of path. */
static int make_parent_dirs(const char *path)
{
	XC_AUTOFREE char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = c;
		if (!c)
			return 0;
	}
}

/* Whether a server answers on the unix socket at path. */
static int socket_is_live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return live;
}

int http_listen_unix(const char *path, struct xc_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path)) {
		xc_error_internal(err, "unix socket path too long or empty: %s", path ? path : "");
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (make_parent_dirs(path) < 0) {
		xc_error_internal(err, "cannot create the directory of %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			xc_error_internal(err, "%s exists and is not a socket", path);
			return -1;
		}
		if (socket_is_live(&sa)) {
			xc_error_internal(err, "another server is already listening on %s", path);
			return -1;
		}
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		xc_error_internal(err, "socket: %s", strerror(errno));
		return -1;
	}
	/* On Linux the socket file takes the socket inode's mode at bind, so it
	 * never exists with a looser mode, without touching the process umask
	 * (other threads are running by now). */
	if (fchmod(fd, 0600) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(fd, BACKLOG) < 0) {
		xc_error_internal(err, "cannot listen on %s: %s", path, strerror(errno));
		close_keep_errno(fd);
		return -1;
	}
	return fd;
}

/* Splits "host:port", "[v6]:port" or ":port"; host comes back empty for the
 * wildcard. */
static int split_spec(const char *spec, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon;
	const char *h = spec;
	size_t hl;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':')
			return -1;
		h = spec + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || memchr(spec, ':', (size_t)(colon - spec)))
			return -1; /* no port, or an IPv6 address without brackets */
		hl = (size_t)(colon - spec);
	}
	const char *p = colon + 1;
	size_t pl = strlen(p);
	if (hl >= hostlen || pl == 0 || pl >= portlen || strspn(p, "0123456789") != pl || atol(p) > 65535)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memcpy(port, p, pl + 1);
	return 0;
}

static void format_bound(int fd, char *bound, size_t boundlen, unsigned *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "?";
	*port = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		snprintf(bound, boundlen, "?");
		return;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
		*port = ntohs(s6->sin6_port);
		snprintf(bound, boundlen, "[%s]:%u", addr, *port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
		*port = ntohs(s4->sin_port);
		snprintf(bound, boundlen, "%s:%u", addr, *port);
	}
}

int http_listen_tcp(const char *spec, char *bound, size_t boundlen, unsigned *port, struct xc_error *err)
{
	char host[256], portstr[8];
	if (!spec || split_spec(spec, host, sizeof(host), portstr, sizeof(portstr)) < 0) {
		xc_error_internal(err, "bad listen address '%s' (expected ADDR:PORT, [IPv6]:PORT or HOST:PORT)",
				  spec ? spec : "");
		return -1;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	int rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
	if (rc != 0) {
		xc_error_internal(err, "cannot resolve %s: %s", spec, gai_strerror(rc));
		return -1;
	}
	int fd = -1, last_errno = 0;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, BACKLOG) < 0) {
			last_errno = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		xc_error_internal(err, "cannot listen on %s: %s", spec, strerror(last_errno));
		return -1;
	}
	format_bound(fd, bound, boundlen, port);
	return fd;
}

/* Whether fd is a listening stream socket of family, its address in ss. */
static int adopt(int fd, int family, struct sockaddr_storage *ss, struct xc_error *err)
{
	int type = 0, listening = 0;
	socklen_t tl = sizeof(type), ll = sizeof(listening), sl = sizeof(*ss);
	memset(ss, 0, sizeof(*ss));
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll) < 0 ||
	    getsockname(fd, (struct sockaddr *)ss, &sl) < 0 || type != SOCK_STREAM || !listening ||
	    (family == AF_UNIX) != (ss->ss_family == AF_UNIX)) {
		xc_error_internal(err, "inherited descriptor %d is not a listening %s socket", fd,
				  family == AF_UNIX ? "unix" : "TCP");
		if (fcntl(fd, F_GETFD) >= 0)
			close(fd);
		return -1;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		xc_error_internal(err, "inherited descriptor %d: %s", fd, strerror(errno));
		close_keep_errno(fd);
		return -1;
	}
	return fd;
}

int http_listen_adopt_unix(int fd, const char *path, struct xc_error *err)
{
	struct sockaddr_storage ss;
	if (adopt(fd, AF_UNIX, &ss, err) < 0)
		return -1;
	const struct sockaddr_un *su = (const struct sockaddr_un *)&ss;
	if (strncmp(su->sun_path, path, sizeof(su->sun_path)) != 0) {
		xc_error_internal(err, "inherited descriptor %d listens on %.*s, not %s", fd,
				  (int)sizeof(su->sun_path), su->sun_path, path);
		close(fd);
		return -1;
	}
	return fd;
}

int http_listen_adopt_tcp(int fd, char *bound, size_t boundlen, unsigned *port, struct xc_error *err)
{
	struct sockaddr_storage ss;
	if (adopt(fd, AF_INET, &ss, err) < 0)
		return -1;
	format_bound(fd, bound, boundlen, port);
	return fd;
}
