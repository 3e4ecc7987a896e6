/* The listening sockets of the HTTP server: the local unix socket and the
 * optional TCP address.  Both are created here rather than by
 * libmicrohttpd so that the server accepts connections itself and knows which
 * ones are trusted (see http.c). */
#ifndef XCON_RPC_HTTP_LISTEN_H
#define XCON_RPC_HTTP_LISTEN_H

#include <stddef.h>

#include "../util/error.h"

/* Listens on a unix socket at path (non-blocking, close-on-exec).  Missing
 * parent directories are created; the socket file gets mode 0600; a stale
 * socket file is replaced, but a path where a server still answers, or that
 * is not a socket, is refused.  Returns the fd, or -1 with err set. */
int http_listen_unix(const char *path, struct xc_error *err);

/* Listens on "ADDR:PORT": an IPv4 address, "[IPv6]", a host name, or
 * nothing (":PORT", every address).  Port 0 picks a free port.  Writes the
 * bound address as "ADDR:PORT" ("[ADDR]:PORT" for IPv6) into bound and the
 * port into *port.  Returns the fd, or -1 with err set. */
int http_listen_tcp(const char *spec, char *bound, size_t boundlen, unsigned *port, struct xc_error *err);

/* Takes over a listening socket inherited across exec (the engine's restart,
 * cmd/xcon.c): checks that fd listens on the unix socket at path, or on TCP,
 * and makes it close-on-exec and non-blocking again.  The TCP one reports
 * its address as http_listen_tcp does.  Returns fd, or -1 with err set (fd
 * is closed then). */
int http_listen_adopt_unix(int fd, const char *path, struct xc_error *err);
int http_listen_adopt_tcp(int fd, char *bound, size_t boundlen, unsigned *port, struct xc_error *err);

#endif
