/* Requests (see http.h for the routes): per-connection state, routing,
 * bodies and replies.
 *
 * Per request the body accumulates in a buffer owned by the connection, and
 * the reply is written into a second one that MHD sends in place
 * (MHD_RESPMEM_PERSISTENT): MHD never starts a connection's next request
 * before the previous reply is out, so neither buffer is allocated or copied
 * per request.
 *
 * A reply whose result is lazy (get_all_records) and runs past STREAM_AFTER
 * bytes is streamed instead: chunked, each piece written into the same
 * buffer as MHD asks for more, so encoding overlaps sending and a reply of
 * 50 MB never exists whole.  Smaller ones keep their Content-Length.
 */
#include "http_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../util/buf.h"
#include "../util/log.h"
#include "../util/xalloc.h"

#define LOG_MODULE "rpc.http"

/* Buffers that grew past this for one big call are dropped afterwards. */
#define KEEP_BUFFER_MAX (1u << 20)
/* A lazy result is streamed once its reply passes this, in pieces of about
 * the same size.  With a step of the source (ALL_RECORDS_BATCH records,
 * ~80 KB) on top, the buffer stays under 512 KB: heap memory that is
 * reused, not a fresh mapping (cmd/xcon.c's mmap threshold is 1 MB) whose
 * pages must be faulted in for every reply. */
#define STREAM_AFTER (256u << 10)
#define STREAM_PIECE STREAM_AFTER

static const char page_text[] =
	"xcon: XenServer 4.1 compatible management server.\n"
	"XML-RPC: POST /  JSON-RPC: POST /jsonrpc\n";
static const char too_large_text[] = "Request body too large.\n";
static const char not_found_text[] = "Not found.\n";
static const char not_allowed_text[] = "Method not allowed.\n";
static const char not_implemented_text[] = "Not implemented.\n";

/* One per connection, from MHD's connection-started notification to its
 * closed one. */
struct conn {
	struct call_ctx ctx;
	char origin[INET6_ADDRSTRLEN + 8];
	struct buf body;
	struct buf out;
	struct reply reply; /* writes into out */
	size_t sent;        /* streaming: bytes of out already handed to MHD */
	bool post;          /* the current request is a POST */
};

/* --- connections ------------------------------------------------------- */

static void conn_describe(struct conn *cn, const struct sockaddr *sa)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	cn->ctx.origin = cn->origin;
	if (!sa) {
		snprintf(cn->origin, sizeof(cn->origin), "unknown");
	} else if (sa->sa_family == AF_UNIX) {
		cn->ctx.trusted = true; /* only the local socket yields unix peers */
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

void http_request_notify(void *cls, struct MHD_Connection *c, void **socket_context,
			 enum MHD_ConnectionNotificationCode code)
{
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		struct conn *cn = xcalloc(1, sizeof(*cn));
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		conn_describe(cn, ci ? ci->client_addr : NULL);
		cn->reply.out = &cn->out;
		*socket_context = cn;
		return;
	}
	struct conn *cn = *socket_context;
	if (cn) {
		reply_clear(&cn->reply);
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

/* Queues r (NULL: MHD could not make it) as a 200 reply of the given type. */
static enum MHD_Result queue_ok(struct MHD_Connection *c, struct MHD_Response *r, const char *type)
{
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, "*");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* MHD's pull for a streamed reply: what is left of the current piece, then
 * the next piece, until the result and its envelope are out. */
static ssize_t stream_read(void *cls, uint64_t pos, char *dst, size_t max)
{
	struct conn *cn = cls;
	while (cn->sent == cn->out.len) {
		if (!cn->reply.d.v)
			return MHD_CONTENT_READER_END_OF_STREAM;
		buf_reset(&cn->out);
		cn->sent = 0;
		while (cn->out.len < STREAM_PIECE) {
			enum value_step st = reply_step(&cn->reply);
			if (st == VALUE_STEP_DONE)
				break;
			if (st == VALUE_STEP_FAILED) {
				/* Headers and part of the body are out: all a client
				 * can be told now is that the reply is cut short. */
				log_error("%s: a streamed reply failed; closing the connection", cn->origin);
				return MHD_CONTENT_READER_END_WITH_ERROR;
			}
		}
	}
	size_t n = cn->out.len - cn->sent;
	if (n > max)
		n = max;
	memcpy(dst, cn->out.data + cn->sent, n);
	cn->sent += n;
	return (ssize_t)n;
}

/* Sends the dispatched reply: whole if it is (or turns out small enough),
 * else streamed. */
static enum MHD_Result reply_send(struct rpc_server *s, struct MHD_Connection *c, struct conn *cn,
				  const char *type)
{
	while (cn->reply.d.v && cn->out.len < STREAM_AFTER) {
		if (reply_step(&cn->reply) == VALUE_STEP_FAILED)
			reply_fail(&cn->reply);
	}
	if (!cn->reply.d.v)
		return queue_ok(c, MHD_create_response_from_buffer(cn->out.len, cn->out.data, MHD_RESPMEM_PERSISTENT),
				type);
	cn->sent = 0;
	/* Back to no timeout at the next request (start_post): a call such as
	 * event.next may rightly keep a connection quiet for long. */
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, s->stream_stall_secs);
	return queue_ok(c, MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_PIECE, stream_read, cn, NULL),
			type);
}

bool http_request_fixed_create(struct http_fixed *f)
{
	f->page = fixed_response(page_text, sizeof(page_text) - 1, NULL);
	f->too_large = fixed_response(too_large_text, sizeof(too_large_text) - 1, NULL);
	f->not_found = fixed_response(not_found_text, sizeof(not_found_text) - 1, NULL);
	f->not_allowed = fixed_response(not_allowed_text, sizeof(not_allowed_text) - 1, "GET, HEAD, POST");
	f->not_implemented = fixed_response(not_implemented_text, sizeof(not_implemented_text) - 1, NULL);
	return f->page && f->too_large && f->not_found && f->not_allowed && f->not_implemented;
}

void http_request_fixed_destroy(struct http_fixed *f)
{
	struct MHD_Response *all[] = { f->page, f->too_large, f->not_found, f->not_allowed, f->not_implemented };
	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		if (all[i])
			MHD_destroy_response(all[i]);
	memset(f, 0, sizeof(*f));
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
			return MHD_queue_response(c, MHD_HTTP_OK, s->fixed.page);
		return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, s->fixed.not_found);
	}
	if (strcmp(method, MHD_HTTP_METHOD_CONNECT) == 0)
		return MHD_queue_response(c, MHD_HTTP_NOT_IMPLEMENTED, s->fixed.not_implemented);
	return MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, s->fixed.not_allowed);
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
	reply_clear(&cn->reply);
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		unsigned long long n = strtoull(cl, NULL, 10);
		if (n > RPC_MAX_BODY)
			return MHD_queue_response(c, MHD_HTTP_CONTENT_TOO_LARGE, s->fixed.too_large);
		/* Room for the announced body, but not a promise of 64 MiB. */
		buf_reserve(&cn->body, (size_t)(n < KEEP_BUFFER_MAX ? n : KEEP_BUFFER_MAX));
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

void http_request_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			    enum MHD_RequestTerminationCode toe)
{
	struct rpc_server *s = cls;
	struct conn *cn = *req_cls;
	if (!cn)
		return; /* never counted: refused before it had a connection state */
	*req_cls = NULL;
	reply_clear(&cn->reply); /* a stream cut short still holds its read transaction */
	pthread_mutex_lock(&s->busy_lock);
	if (--s->busy == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->busy_lock);
}

/* MHD calls this at least twice per request: once when the headers are in
 * (*req_cls still NULL), once per piece of body, and once more when the body
 * is complete (*upload_size 0). */
enum MHD_Result http_request_handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
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
		pthread_mutex_lock(&s->busy_lock);
		s->busy++;
		pthread_mutex_unlock(&s->busy_lock);
		cn->post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
		if (cn->post)
			return start_post(s, c, cn);
		return has_body(c) ? answer_other(s, c, url, method) : MHD_YES;
	}
	if (!cn->post)
		return answer_other(s, c, url, method);
	if (*upload_size) {
		if (cn->body.len + *upload_size > RPC_MAX_BODY) {
			/* A chunked body that turned out too big.  MHD 0.9.75 will
			 * not queue a reply before the body is complete, so in
			 * practice this closes the connection without a 413. */
			log_debug("%s: request body over %u bytes", cn->origin, RPC_MAX_BODY);
			return MHD_queue_response(c, MHD_HTTP_CONTENT_TOO_LARGE, s->fixed.too_large);
		}
		buf_add(&cn->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	const char *body = cn->body.data ? cn->body.data : "";
	if (is_jsonrpc_path(url)) {
		dispatch_jsonrpc(&s->dispatch, &cn->ctx, body, cn->body.len, &cn->reply);
		return reply_send(s, c, cn, "application/json");
	}
	dispatch_xmlrpc(&s->dispatch, &cn->ctx, body, cn->body.len, &cn->reply);
	return reply_send(s, c, cn, "text/xml");
}
