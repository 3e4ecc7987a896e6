/* The HTTP front of xcon: XML-RPC and JSON-RPC over HTTP/1.1.
 *
 *   POST /jsonrpc          JSON-RPC 1.0 / 2.0
 *   POST anything else     XML-RPC (/, /RPC2, /xmlrpc, ...: xapi routes every
 *                          unclaimed POST path there and clients rely on it)
 *   GET|HEAD /             a one-line page naming the server
 *   CONNECT                501 for now (the console tunnel comes later)
 *   other methods          405
 *
 * Every API outcome, failures and undecodable bodies included, is HTTP 200
 * with the protocol's own failure envelope; bodies over RPC_MAX_BODY get 413.
 * Replies carry Content-Type exactly "text/xml" or "application/json" (Xen
 * Orchestra rejects a charset suffix) and Access-Control-Allow-Origin: *.
 *
 * Each connection has its own thread, so a call that blocks (event.next,
 * event.from) holds up nothing but its own connection.  Connections on the
 * unix socket are trusted (call_ctx.trusted), TCP ones are not.
 */
#ifndef XCON_RPC_HTTP_H
#define XCON_RPC_HTTP_H

#include "../engine/engine.h"
#include "../util/error.h"
#include "../util/value.h"

#define RPC_MAX_BODY (64u << 20)
#define RPC_STREAM_STALL_SECS 60

/* Runs one API call: engine_call's contract, with an opaque cookie.  Called
 * from many threads at once. */
typedef struct value *(*rpc_call_fn)(void *cookie, const struct call_ctx *ctx, const char *method,
				   const struct value *args, struct xc_error *err);

struct rpc_server_opts {
	const char *socket_path; /* required; trusted connections */
	const char *listen;      /* "ADDR:PORT", "[IPv6]:PORT", "HOST:PORT" or NULL */
	rpc_call_fn call;
	void *cookie;
	unsigned max_connections; /* 0: 1024 */
	/* A streamed reply (a big get_all_records) holds a store snapshot; a
	 * client that reads none of it for this long is dropped, so it cannot
	 * pin the snapshot forever.  0: RPC_STREAM_STALL_SECS. */
	unsigned stream_stall_secs;
	/* Listening sockets inherited across exec (a restart, see
	 * rpc_server_release_listeners): adopted instead of bound when inherit
	 * is set; -1 for none.  An inherited TCP socket without listen is closed. */
	bool inherit;
	int unix_fd, tcp_fd;
};

struct rpc_server;

/* Creates the listeners and starts serving.  Returns NULL with err set when a
 * socket cannot be created (bad address, path in use, permissions). */
struct rpc_server *rpc_server_start(const struct rpc_server_opts *o, struct xc_error *err);

/* Stops accepting, closes every connection and waits for their threads (so
 * for any call still running), then removes the unix socket.  NULL is fine. */
void rpc_server_stop(struct rpc_server *s);

/* For a restart: stops accepting (new connections wait in the listen
 * backlog for whoever holds the sockets next), then waits up to timeout_ms
 * until every request in progress has had its reply sent.  Returns whether
 * they all did. */
bool rpc_server_quiesce(struct rpc_server *s, unsigned timeout_ms);
/* Hands the listening sockets to the caller (-1 for none): rpc_server_stop
 * then neither closes them nor removes the socket file. */
void rpc_server_release_listeners(struct rpc_server *s, int *unix_fd, int *tcp_fd);

/* The TCP port actually bound (useful with port 0), or 0 without TCP. */
unsigned rpc_server_tcp_port(const struct rpc_server *s);
/* The TCP address actually bound, "ADDR:PORT" or "[ADDR]:PORT", or NULL. */
const char *rpc_server_tcp_address(const struct rpc_server *s);

#endif
