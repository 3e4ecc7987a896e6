/* Shared by http.c (the server) and http_request.c (requests); not part of
 * rpc/'s interface. */
#ifndef XCON_RPC_HTTP_PRIV_H
#define XCON_RPC_HTTP_PRIV_H

#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "dispatch.h"
#include "http.h"

/* Fixed replies, built once and shared by all connections. */
struct http_fixed {
	struct MHD_Response *page, *too_large, *not_found, *not_allowed, *not_implemented;
};

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
	struct http_fixed fixed;
	unsigned stream_stall_secs;
	/* Requests between their first handler call and their reply being
	 * sent (or given up), for rpc_server_quiesce. */
	pthread_mutex_t busy_lock;
	pthread_cond_t idle;
	unsigned busy;
};

/* Builds the fixed replies; false if MHD could not. */
bool http_request_fixed_create(struct http_fixed *f);
void http_request_fixed_destroy(struct http_fixed *f);

/* MHD_OPTION_NOTIFY_CONNECTION: the per-connection state (cls unused). */
void http_request_notify(void *cls, struct MHD_Connection *c, void **socket_context,
			 enum MHD_ConnectionNotificationCode code);

/* MHD_OPTION_NOTIFY_COMPLETED: a request's reply is out (or it was given up);
 * cls is the struct rpc_server. */
void http_request_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			    enum MHD_RequestTerminationCode toe);

/* MHD's access handler; cls is the struct rpc_server. */
enum MHD_Result http_request_handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				    const char *version, const char *upload, size_t *upload_size,
				    void **req_cls);

#endif
