/* The HTTP server, driven over real sockets: a server on a private unix
 * socket and 127.0.0.1:0 with a fake call callback, and a minimal HTTP/1.1
 * client written here so every byte on the wire is under the test's control. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../rpc/http.h"
#include "../../util/buf.h"
#include "../../util/value_sink.h"
#include "../../util/xalloc.h"

/* --- the fake engine --------------------------------------------------- */

static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fake_cv = PTHREAD_COND_INITIALIZER;
static bool fake_released;
static unsigned fake_blocked;

typedef struct value *(*fake_fn)(const struct call_ctx *ctx, const struct value *args, struct xc_error *err);

static struct value *fake_echo(const struct call_ctx *ctx, const struct value *args, struct xc_error *err)
{
	return value_copy(args);
}

static struct value *fake_ctx(const struct call_ctx *ctx, const struct value *args, struct xc_error *err)
{
	struct value *st = value_new_struct(2);
	value_struct_add(st, "trusted", value_new_bool(ctx->trusted));
	value_struct_add(st, "origin", value_new_string(ctx->origin));
	return st;
}

static struct value *fake_fail(const struct call_ctx *ctx, const struct value *args, struct xc_error *err)
{
	xc_error_set(err, XC_ERR_HANDLE_INVALID, "VM", "OpaqueRef:nope");
	return NULL;
}

static struct value *fake_broken(const struct call_ctx *ctx, const struct value *args, struct xc_error *err)
{
	return NULL; /* neither result nor error: the server must still answer */
}

static struct value *fake_block(const struct call_ctx *ctx, const struct value *args, struct xc_error *err)
{
	pthread_mutex_lock(&fake_mu);
	fake_blocked++;
	pthread_cond_broadcast(&fake_cv);
	while (!fake_released)
		pthread_cond_wait(&fake_cv, &fake_mu);
	fake_blocked--;
	pthread_mutex_unlock(&fake_mu);
	return value_new_string("released");
}

static struct value *fake_release(const struct call_ctx *ctx, const struct value *args, struct xc_error *err)
{
	pthread_mutex_lock(&fake_mu);
	fake_released = true;
	pthread_cond_broadcast(&fake_cv);
	pthread_mutex_unlock(&fake_mu);
	return value_new_string("");
}

static struct value *fake_list(const struct call_ctx *ctx, const struct value *args, struct xc_error *err)
{
	struct value *a = value_new_array(2);
	value_array_push_string(a, "VM.get_all_records");
	value_array_push_string(a, "VM.start");
	return a;
}

/* test.lazy(N[, FAIL_AT]): a lazy array of the ints 0..N-1, a thousand a
 * step, as get_all_records is; with FAIL_AT its source fails there. */
struct fake_lazy {
	long n, next, fail_at;
};
static atomic_int lazy_live; /* lazy results not yet released */

static enum value_step fake_lazy_step(void *state, struct value_sink *k)
{
	struct fake_lazy *l = state;
	if (l->next == 0)
		k->ops->array_begin(k);
	for (int i = 0; i < 1000 && l->next < l->n; i++, l->next++) {
		if (l->next == l->fail_at) {
			k->ops->array_end(k);
			return VALUE_STEP_FAILED;
		}
		k->ops->integer(k, l->next, false);
	}
	if (l->next < l->n)
		return VALUE_STEP_MORE;
	k->ops->array_end(k);
	return VALUE_STEP_DONE;
}

static void fake_lazy_release(void *state)
{
	free(state);
	atomic_fetch_sub(&lazy_live, 1);
}

static struct value *fake_lazy(const struct call_ctx *ctx, const struct value *args, struct xc_error *err)
{
	struct fake_lazy *l = xcalloc(1, sizeof(*l));
	l->n = strtol(value_str(value_array_at(args, 0)), NULL, 10);
	l->fail_at = value_len(args) > 1 ? strtol(value_str(value_array_at(args, 1)), NULL, 10) : -1;
	atomic_fetch_add(&lazy_live, 1);
	return value_new_lazy(fake_lazy_step, fake_lazy_release, l);
}

static const struct {
	const char *method;
	fake_fn fn;
} fake_methods[] = {
	{ "test.lazy", fake_lazy },
	{ "test.echo", fake_echo },
	{ "test.ctx", fake_ctx },
	{ "test.fail", fake_fail },
	{ "test.broken", fake_broken },
	{ "test.block", fake_block },
	{ "test.release", fake_release },
	{ "system.listMethods", fake_list },
};

static struct value *fake_call(void *cookie, const struct call_ctx *ctx, const char *method,
			       const struct value *args, struct xc_error *err)
{
	assert_true(cookie == &fake_methods);
	for (size_t i = 0; i < ARRAY_SIZE(fake_methods); i++)
		if (strcmp(fake_methods[i].method, method) == 0)
			return fake_methods[i].fn(ctx, args, err);
	xc_error_set(err, XC_ERR_MESSAGE_METHOD_UNKNOWN, method);
	return NULL;
}

/* --- the server under test --------------------------------------------- */

static char tmpdir[64];
static char sock_path[128];
static struct rpc_server *srv;

static struct rpc_server *start(const char *path, const char *listen, struct xc_error *err)
{
	struct rpc_server_opts o = { .socket_path = path, .listen = listen, .call = fake_call,
				     .cookie = (void *)&fake_methods };
	return rpc_server_start(&o, err);
}

static int setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/xcon-test-http.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	/* A directory that does not exist yet: the server creates it. */
	snprintf(sock_path, sizeof(sock_path), "%s/run/xcon.sock", tmpdir);
	XC_AUTOERROR err = XC_ERROR_INIT;
	srv = start(sock_path, "127.0.0.1:0", &err);
	if (!srv) {
		fprintf(stderr, "start: %s\n", err.nparams ? err.params[0] : "?");
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	rpc_server_stop(srv);
	char dir[160];
	snprintf(dir, sizeof(dir), "%s/run", tmpdir);
	rmdir(dir);
	rmdir(tmpdir);
	return 0;
}

/* --- a minimal HTTP client --------------------------------------------- */

struct client {
	int fd;
	struct buf in; /* bytes received and not yet consumed */
};

struct response {
	int status;
	char head[4096];
	char *body;
	size_t body_len;
};

static struct client client_unix(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return (struct client){ .fd = fd, .in = BUF_INIT };
}

static struct client client_tcp(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)rpc_server_tcp_port(srv)),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return (struct client){ .fd = fd, .in = BUF_INIT };
}

static void client_close(struct client *c)
{
	close(c->fd);
	buf_free(&c->in);
}

static int send_all(struct client *c, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads more bytes; 0 at end of stream. */
static ssize_t fill(struct client *c)
{
	buf_reserve(&c->in, 65536);
	ssize_t n;
	do
		n = recv(c->fd, c->in.data + c->in.len, 65536, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		c->in.len += (size_t)n;
		c->in.data[c->in.len] = '\0';
	}
	return n;
}

static const char *header(const struct response *r, const char *name)
{
	static __thread char val[256];
	size_t nl = strlen(name);
	for (const char *line = strstr(r->head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
		const char *h = line + 2;
		if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
			const char *v = h + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = strcspn(v, "\r");
			snprintf(val, sizeof(val), "%.*s", (int)vl, v);
			return val;
		}
	}
	return NULL;
}

/* Waits for a whole line at off; its length, -1 at end of stream. */
static ssize_t chunk_line(struct client *c, size_t off)
{
	char *e;
	while (c->in.len <= off || !(e = strstr(c->in.data + off, "\r\n")))
		if (fill(c) <= 0)
			return -1;
	return e - (c->in.data + off);
}

/* A chunked body from start on; -1 if the stream ends before its last chunk. */
static int read_chunked(struct client *c, struct response *r, size_t start)
{
	struct buf body = BUF_INIT;
	size_t off = start;
	for (;;) {
		ssize_t ll = chunk_line(c, off);
		if (ll < 0) {
			buf_free(&body);
			return -1;
		}
		size_t n = strtoul(c->in.data + off, NULL, 16);
		off += (size_t)ll + 2;
		if (n == 0) {
			if (chunk_line(c, off) != 0) { /* no trailers, the empty line */
				buf_free(&body);
				return -1;
			}
			off += 2;
			break;
		}
		while (c->in.len < off + n + 2)
			if (fill(c) <= 0) {
				buf_free(&body);
				return -1;
			}
		assert_memory_equal(c->in.data + off + n, "\r\n", 2);
		buf_add(&body, c->in.data + off, n);
		off += n + 2;
		/* keep the client's buffer small: drop what is consumed */
		memmove(c->in.data + start, c->in.data + off, c->in.len - off);
		c->in.len -= off - start;
		c->in.data[c->in.len] = '\0';
		off = start;
	}
	r->body_len = body.len;
	r->body = buf_steal(&body, NULL);
	if (!r->body)
		r->body = xstrdup("");
	memmove(c->in.data, c->in.data + off, c->in.len - off);
	c->in.len -= off;
	c->in.data[c->in.len] = '\0';
	return 0;
}

/* Reads one response; -1 when the server closed the connection first. */
static int read_response(struct client *c, struct response *r)
{
	memset(r, 0, sizeof(*r));
	char *end;
	while (!c->in.data || !(end = strstr(c->in.data, "\r\n\r\n")))
		if (fill(c) <= 0)
			return -1;
	size_t hl = (size_t)(end - c->in.data) + 2;
	assert_true(hl < sizeof(r->head));
	memcpy(r->head, c->in.data, hl);
	r->head[hl] = '\0';
	assert_int_equal(sscanf(r->head, "HTTP/1.%*d %d", &r->status), 1);
	size_t start = hl + 2;
	const char *te = header(r, "Transfer-Encoding");
	if (te && strcasecmp(te, "chunked") == 0)
		return read_chunked(c, r, start);
	const char *cl = header(r, "Content-Length");
	size_t blen = cl ? strtoul(cl, NULL, 10) : 0;
	if (!cl && r->status >= 200) {
		while (fill(c) > 0) /* no length: the body runs to the close */
			;
		blen = c->in.len - start;
	}
	while (c->in.len < start + blen)
		if (fill(c) <= 0)
			return -1;
	r->body = xstrndup(c->in.data + start, blen);
	r->body_len = blen;
	memmove(c->in.data, c->in.data + start + blen, c->in.len - start - blen);
	c->in.len -= start + blen;
	c->in.data[c->in.len] = '\0';
	return 0;
}

static void response_free(struct response *r)
{
	free(r->body);
	r->body = NULL;
}

static void send_post(struct client *c, const char *path, const char *type, const char *body)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
		   path, type, strlen(body), body);
	assert_int_equal(send_all(c, b.data, b.len), 0);
	buf_free(&b);
}

static void post(struct client *c, const char *path, const char *type, const char *body, struct response *r)
{
	send_post(c, path, type, body);
	assert_int_equal(read_response(c, r), 0);
}

#define XML_CALL(m, params) \
	"<?xml version=\"1.0\"?><methodCall><methodName>" m "</methodName><params>" params "</params></methodCall>"
#define XML_OK_HEAD \
	"<?xml version=\"1.0\"?><methodResponse><params><param><value><struct>" \
	"<member><name>Status</name><value>Success</value></member><member><name>Value</name>"
#define XML_OK_TAIL "</member></struct></value></param></params></methodResponse>"
#define XML_OK(v) XML_OK_HEAD v XML_OK_TAIL

static void assert_xml_reply(const struct response *r, const char *body)
{
	assert_int_equal(r->status, 200);
	assert_string_equal(header(r, "Content-Type"), "text/xml");
	assert_string_equal(header(r, "Access-Control-Allow-Origin"), "*");
	assert_string_equal(r->body, body);
}

static void assert_json_reply(const struct response *r, const char *body)
{
	assert_int_equal(r->status, 200);
	assert_string_equal(header(r, "Content-Type"), "application/json");
	assert_string_equal(header(r, "Access-Control-Allow-Origin"), "*");
	assert_string_equal(r->body, body);
}

/* --- tests ------------------------------------------------------------- */

static void test_get_page(void **state)
{
	struct client c = client_tcp();
	struct response r;
	const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(send_all(&c, req, sizeof(req) - 1), 0);
	assert_int_equal(read_response(&c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "xcon"));
	response_free(&r);
	const char other[] = "GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(send_all(&c, other, sizeof(other) - 1), 0);
	assert_int_equal(read_response(&c, &r), 0);
	assert_int_equal(r.status, 404);
	response_free(&r);
	client_close(&c);
}

static void test_xmlrpc_keepalive(void **state)
{
	struct client c = client_unix();
	struct response r;
	post(&c, "/RPC2", "text/xml", XML_CALL("test.echo", "<param><value><i4>42</i4></value></param>"), &r);
	assert_xml_reply(&r, XML_OK("<value><array><data><value>42</value></data></array></value>"));
	response_free(&r);
	/* Second call on the same connection. */
	post(&c, "/", "text/xml", XML_CALL("test.echo", "<param><value>a&amp;b</value></param>"), &r);
	assert_xml_reply(&r, XML_OK("<value><array><data><value>a&amp;b</value></data></array></value>"));
	response_free(&r);
	client_close(&c);
}

static void test_routing(void **state)
{
	struct client c = client_tcp();
	struct response r;
	static const char *const xml_paths[] = { "/", "/RPC2", "/xmlrpc", "/jsonrpcx", "/anything/else" };
	for (size_t i = 0; i < ARRAY_SIZE(xml_paths); i++) {
		post(&c, xml_paths[i], "text/xml", XML_CALL("test.echo", ""), &r);
		assert_xml_reply(&r, XML_OK("<value><array><data></data></array></value>"));
		response_free(&r);
	}
	static const char *const json_paths[] = { "/jsonrpc", "/jsonrpc/", "/jsonrpc?x=1" };
	for (size_t i = 0; i < ARRAY_SIZE(json_paths); i++) {
		post(&c, json_paths[i], "application/json",
		     "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":[1,\"x\"],\"id\":0}", &r);
		assert_json_reply(&r, "{\"jsonrpc\":\"2.0\",\"result\":[1,\"x\"],\"id\":0}");
		response_free(&r);
	}
	post(&c, "/jsonrpc", "application/json", "{\"method\":\"test.echo\",\"params\":[true],\"id\":\"a\"}", &r);
	assert_json_reply(&r, "{\"result\":[true],\"error\":null,\"id\":\"a\"}");
	response_free(&r);
	client_close(&c);
}

static void test_failures(void **state)
{
	struct client c = client_tcp();
	struct response r;
	post(&c, "/", "text/xml", XML_CALL("test.fail", ""), &r);
	assert_xml_reply(&r, "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct>"
			     "<member><name>Status</name><value>Failure</value></member>"
			     "<member><name>ErrorDescription</name><value><array><data><value>HANDLE_INVALID</value>"
			     "<value>VM</value><value>OpaqueRef:nope</value></data></array></value></member>"
			     "</struct></value></param></params></methodResponse>");
	response_free(&r);
	post(&c, "/", "text/xml", XML_CALL("no.such", ""), &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "<value>MESSAGE_METHOD_UNKNOWN</value><value>no.such</value>"));
	response_free(&r);
	post(&c, "/", "text/xml", XML_CALL("test.broken", ""), &r);
	assert_non_null(strstr(r.body, "<value>INTERNAL_ERROR</value>"));
	response_free(&r);
	post(&c, "/jsonrpc", "application/json", "{\"method\":\"test.fail\",\"params\":[],\"id\":5}", &r);
	assert_json_reply(&r, "{\"result\":null,\"error\":[\"HANDLE_INVALID\",\"VM\",\"OpaqueRef:nope\"],\"id\":5}");
	response_free(&r);
	post(&c, "/jsonrpc", "application/json", "{\"jsonrpc\":\"2.0\",\"method\":\"test.fail\",\"id\":5}", &r);
	assert_json_reply(&r, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,\"message\":\"HANDLE_INVALID\","
			      "\"data\":[\"VM\",\"OpaqueRef:nope\"]},\"id\":5}");
	response_free(&r);
	client_close(&c);
}

static void test_list_methods_bare(void **state)
{
	struct client c = client_unix();
	struct response r;
	post(&c, "/", "text/xml", XML_CALL("system.listMethods", ""), &r);
	assert_xml_reply(&r, "<?xml version=\"1.0\"?><methodResponse><params><param><value><array><data>"
			     "<value>VM.get_all_records</value><value>VM.start</value></data></array></value>"
			     "</param></params></methodResponse>");
	response_free(&r);
	post(&c, "/jsonrpc", "application/json", "{\"jsonrpc\":\"2.0\",\"method\":\"system.listMethods\",\"id\":1}", &r);
	assert_json_reply(&r, "{\"jsonrpc\":\"2.0\",\"result\":[\"VM.get_all_records\",\"VM.start\"],\"id\":1}");
	response_free(&r);
	client_close(&c);
}

static void test_malformed_bodies(void **state)
{
	struct client c = client_tcp();
	struct response r;
	post(&c, "/RPC2", "text/xml", "<methodCall><oops", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Type"), "text/xml");
	assert_non_null(strstr(r.body, "<value>Failure</value>"));
	assert_non_null(strstr(r.body, "<value>XMLRPC_UNMARSHAL_FAILURE</value><value>methodCall</value>"));
	response_free(&r);
	post(&c, "/", "text/xml", "", &r);
	assert_non_null(strstr(r.body, "<value>XMLRPC_UNMARSHAL_FAILURE</value>"));
	response_free(&r);
	post(&c, "/jsonrpc", "application/json", "{\"method\":", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Type"), "application/json");
	assert_non_null(strstr(r.body, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":\"Parse error\",\"data\":["));
	assert_non_null(strstr(r.body, "]},\"id\":null}"));
	response_free(&r);
	post(&c, "/jsonrpc", "application/json", "{\"method\":\"test.echo\",\"params\":[]}", &r);
	assert_non_null(strstr(r.body, "\"code\":-32600"));
	response_free(&r);
	/* The connection still works. */
	post(&c, "/", "text/xml", XML_CALL("test.echo", ""), &r);
	assert_xml_reply(&r, XML_OK("<value><array><data></data></array></value>"));
	response_free(&r);
	client_close(&c);
}

static void assert_server_serves(void)
{
	struct client c = client_tcp();
	struct response r;
	post(&c, "/", "text/xml", XML_CALL("test.echo", ""), &r);
	assert_int_equal(r.status, 200);
	response_free(&r);
	client_close(&c);
}

static void test_too_large(void **state)
{
	struct client c = client_tcp();
	struct response r;
	const char req[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 67108865\r\n\r\n";
	assert_int_equal(send_all(&c, req, sizeof(req) - 1), 0);
	assert_int_equal(read_response(&c, &r), 0);
	assert_int_equal(r.status, 413);
	response_free(&r);
	client_close(&c);

	/* Chunked, so the size only shows while reading. */
	c = client_tcp();
	const char chunked[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n";
	assert_int_equal(send_all(&c, chunked, sizeof(chunked) - 1), 0);
	size_t chunk = 1u << 20;
	char *data = xmalloc(chunk);
	memset(data, 'x', chunk);
	char head[32];
	int n = snprintf(head, sizeof(head), "%zx\r\n", chunk);
	for (unsigned i = 0; i < 80; i++)
		if (send_all(&c, head, (size_t)n) < 0 || send_all(&c, data, chunk) < 0 || send_all(&c, "\r\n", 2) < 0)
			break; /* the server gave up on us: fine */
	free(data);
	if (read_response(&c, &r) == 0) {
		assert_int_equal(r.status, 413);
		response_free(&r);
	}
	client_close(&c);
	assert_server_serves();
}

static void test_other_methods(void **state)
{
	static const struct {
		const char *req;
		int status;
	} cases[] = {
		{ "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405 },
		{ "DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n", 405 },
		{ "OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n", 405 },
		{ "CONNECT /console?ref=OpaqueRef:x HTTP/1.0\r\n\r\n", 501 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct client c = client_tcp();
		struct response r;
		assert_int_equal(send_all(&c, cases[i].req, strlen(cases[i].req)), 0);
		assert_int_equal(read_response(&c, &r), 0);
		assert_int_equal(r.status, cases[i].status);
		if (r.status == 405)
			assert_string_equal(header(&r, "Allow"), "GET, HEAD, POST");
		response_free(&r);
		client_close(&c);
	}
}

static void test_garbage_request(void **state)
{
	static const char *const junk[] = {
		"\x01\x02\x03 garbage\r\n\r\n",
		"GET\r\n\r\n",
		"POST / HTTP/9.9\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: banana\r\n\r\n",
		"\r\n\r\n\r\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(junk); i++) {
		struct client c = client_tcp();
		struct response r;
		send_all(&c, junk[i], strlen(junk[i]));
		shutdown(c.fd, SHUT_WR);
		if (read_response(&c, &r) == 0) { /* an error status, or nothing */
			assert_true(r.status >= 400);
			response_free(&r);
		}
		client_close(&c);
	}
	assert_server_serves();
}

static void test_http10_closes(void **state)
{
	struct client c = client_tcp();
	struct response r;
	const char body[] = XML_CALL("test.echo", "");
	char req[512];
	int n = snprintf(req, sizeof(req), "POST / HTTP/1.0\r\nContent-Length: %zu\r\n\r\n%s", sizeof(body) - 1, body);
	assert_int_equal(send_all(&c, req, (size_t)n), 0);
	assert_int_equal(read_response(&c, &r), 0);
	assert_xml_reply(&r, XML_OK("<value><array><data></data></array></value>"));
	response_free(&r);
	assert_int_equal(fill(&c), 0);
	client_close(&c);
}

/* The body test.lazy(n) should answer, in XML-RPC or JSON. */
static char *lazy_expected(long n, bool json)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, json ? "{\"jsonrpc\":\"2.0\",\"result\":[" : XML_OK_HEAD "<value><array><data>");
	for (long i = 0; i < n; i++) {
		if (json)
			buf_printf(&b, i ? ",%ld" : "%ld", i);
		else
			buf_printf(&b, "<value>%ld</value>", i);
	}
	buf_adds(&b, json ? "],\"id\":7}" : "</data></array></value>" XML_OK_TAIL);
	return buf_steal(&b, NULL);
}

static void lazy_call(struct client *c, long n, long fail_at, bool json)
{
	char body[256];
	if (json)
		snprintf(body, sizeof(body),
			 "{\"jsonrpc\":\"2.0\",\"method\":\"test.lazy\",\"params\":[\"%ld\",\"%ld\"],\"id\":7}", n,
			 fail_at);
	else
		snprintf(body, sizeof(body),
			 XML_CALL("test.lazy", "<param><value>%ld</value></param><param><value>%ld</value></param>"), n,
			 fail_at);
	send_post(c, json ? "/jsonrpc" : "/", json ? "application/json" : "text/xml", body);
}

static void wait_lazy_released(void)
{
	for (int i = 0; i < 500 && atomic_load(&lazy_live); i++)
		usleep(10000);
	assert_int_equal(atomic_load(&lazy_live), 0);
}

/* A small lazy result is sent whole with its length; a big one streams
 * chunked, byte for byte the same reply, on a connection that stays usable;
 * both protocols; every lazy result is released. */
static void test_lazy_results_stream(void **state)
{
	struct client c = client_unix();
	struct response r;
	for (int json = 0; json < 2; json++) {
		long sizes[] = { 10, 200000 }; /* ~2.6 MB in XML, past the 256 KB streaming mark */
		for (int i = 0; i < 2; i++) {
			lazy_call(&c, sizes[i], -1, json);
			assert_int_equal(read_response(&c, &r), 0);
			assert_int_equal(r.status, 200);
			bool streamed = header(&r, "Transfer-Encoding") != NULL;
			assert_int_equal(streamed, i == 1);
			assert_int_equal(header(&r, "Content-Length") != NULL, i == 0);
			char *want = lazy_expected(sizes[i], json);
			assert_int_equal(r.body_len, strlen(want));
			assert_true(strcmp(r.body, want) == 0);
			free(want);
			response_free(&r);
		}
	}
	post(&c, "/", "text/xml", XML_CALL("test.echo", ""), &r);
	assert_xml_reply(&r, XML_OK("<value><array><data></data></array></value>"));
	response_free(&r);
	client_close(&c);
	wait_lazy_released();
}

/* HTTP/1.0 knows no chunks: a big lazy result runs to the close instead. */
static void test_lazy_http10(void **state)
{
	struct client c = client_tcp();
	struct response r;
	char body[256], req[512];
	snprintf(body, sizeof(body), XML_CALL("test.lazy", "<param><value>200000</value></param>"));
	int n = snprintf(req, sizeof(req), "POST / HTTP/1.0\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
	assert_int_equal(send_all(&c, req, (size_t)n), 0);
	assert_int_equal(read_response(&c, &r), 0);
	assert_null(header(&r, "Transfer-Encoding"));
	char *want = lazy_expected(200000, false);
	assert_true(strcmp(r.body, want) == 0);
	free(want);
	response_free(&r);
	client_close(&c);
	wait_lazy_released();
}

/* A source that fails before anything is sent gives a proper failure
 * reply; one that fails mid-stream cuts the connection (the client cannot
 * mistake the reply for whole), and one whose client goes away mid-stream
 * is released; the server serves on. */
static void test_lazy_failures(void **state)
{
	struct client c = client_tcp();
	struct response r;
	lazy_call(&c, 200000, 5000, false);
	assert_int_equal(read_response(&c, &r), 0);
	assert_non_null(strstr(r.body, "<value>Failure</value>"));
	assert_non_null(strstr(r.body, "INTERNAL_ERROR"));
	response_free(&r);
	lazy_call(&c, 200000, 5000, true);
	assert_int_equal(read_response(&c, &r), 0);
	assert_non_null(strstr(r.body, "\"message\":\"INTERNAL_ERROR\""));
	assert_non_null(strstr(r.body, "\"id\":7"));
	response_free(&r);

	lazy_call(&c, 400000, 150000, false);
	assert_int_equal(read_response(&c, &r), -1);
	client_close(&c);

	c = client_tcp();
	lazy_call(&c, 4000000, -1, false);
	assert_true(fill(&c) > 0);
	client_close(&c);
	wait_lazy_released();
	assert_server_serves();
}

/* A client that reads nothing of a stream for the stall time is dropped,
 * and its lazy result (in the engine: a store snapshot) released. */
static void test_stalled_stream_is_dropped(void **state)
{
	char path[200];
	snprintf(path, sizeof(path), "%s/stall.sock", tmpdir);
	struct rpc_server_opts o = { .socket_path = path, .call = fake_call, .cookie = (void *)&fake_methods,
				     .stream_stall_secs = 1 };
	XC_AUTOERROR err = XC_ERROR_INIT;
	struct rpc_server *s2 = rpc_server_start(&o, &err);
	assert_non_null(s2);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	struct client c = { .fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), .in = BUF_INIT };
	assert_int_equal(connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	lazy_call(&c, 4000000, -1, false);
	usleep(300000);
	assert_int_equal(atomic_load(&lazy_live), 1); /* stuck mid-stream, not finished */
	wait_lazy_released();
	struct response r;
	assert_int_equal(read_response(&c, &r), -1); /* what was sent, then the close */
	client_close(&c);
	rpc_server_stop(s2);
}

static void test_trust(void **state)
{
	struct client u = client_unix();
	struct client t = client_tcp();
	struct response r;
	post(&u, "/", "text/xml", XML_CALL("test.ctx", ""), &r);
	assert_xml_reply(&r, XML_OK("<value><struct><member><name>trusted</name><value><boolean>1</boolean></value>"
				    "</member><member><name>origin</name><value>unix</value></member></struct></value>"));
	response_free(&r);
	post(&t, "/jsonrpc", "application/json", "{\"jsonrpc\":\"2.0\",\"method\":\"test.ctx\",\"id\":1}", &r);
	assert_non_null(strstr(r.body, "\"trusted\":false"));
	assert_non_null(strstr(r.body, "\"origin\":\"127.0.0.1:"));
	response_free(&r);
	client_close(&u);
	client_close(&t);
}

static void test_blocking_call_blocks_only_itself(void **state)
{
	fake_released = false;
	struct client a = client_tcp();
	struct client b = client_unix();
	struct response r;
	send_post(&a, "/", "text/xml", XML_CALL("test.block", ""));
	pthread_mutex_lock(&fake_mu);
	while (fake_blocked == 0)
		pthread_cond_wait(&fake_cv, &fake_mu);
	pthread_mutex_unlock(&fake_mu);
	/* a is stuck in the engine; b is served meanwhile, several times. */
	for (int i = 0; i < 3; i++) {
		post(&b, "/", "text/xml", XML_CALL("test.echo", ""), &r);
		assert_xml_reply(&r, XML_OK("<value><array><data></data></array></value>"));
		response_free(&r);
	}
	struct pollfd p = { .fd = a.fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 0), 0); /* still no answer on a */
	post(&b, "/", "text/xml", XML_CALL("test.release", ""), &r);
	response_free(&r);
	assert_int_equal(read_response(&a, &r), 0);
	assert_xml_reply(&r, XML_OK("<value>released</value>"));
	response_free(&r);
	client_close(&a);
	client_close(&b);
}

static void test_socket_file(void **state)
{
	struct stat st;
	assert_int_equal(stat(sock_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	/* A second server on a live socket is refused and leaves it alone. */
	XC_AUTOERROR err = XC_ERROR_INIT;
	assert_null(start(sock_path, NULL, &err));
	assert_int_equal(err.code, XC_ERR_INTERNAL_ERROR);
	assert_non_null(strstr(err.params[0], "already listening"));
	assert_server_serves();
	struct client u = client_unix();
	client_close(&u);

	/* A stale socket file (its server died) is replaced. */
	char stale[160];
	snprintf(stale, sizeof(stale), "%s/stale.sock", tmpdir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, stale);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	struct rpc_server *s2 = start(stale, NULL, &err);
	assert_non_null(s2);
	assert_null(rpc_server_tcp_address(s2));
	assert_int_equal(rpc_server_tcp_port(s2), 0);
	rpc_server_stop(s2);
	assert_int_equal(stat(stale, &st), -1); /* removed on stop */

	/* A path that is not a socket is never deleted. */
	char plain[160];
	snprintf(plain, sizeof(plain), "%s/plain", tmpdir);
	FILE *f = fopen(plain, "w");
	fclose(f);
	assert_null(start(plain, NULL, &err));
	assert_int_equal(stat(plain, &st), 0);
	unlink(plain);

	/* Bad listen addresses. */
	static const char *const bad[] = { "nonsense", "1.2.3.4", "::1:80", "127.0.0.1:99999", "[::1]80", "256.1.1.1:80" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char p[160];
		snprintf(p, sizeof(p), "%s/bad.sock", tmpdir);
		assert_null(start(p, bad[i], &err));
		assert_int_equal(err.code, XC_ERR_INTERNAL_ERROR);
		assert_int_equal(stat(p, &st), -1); /* cleaned up */
	}
	const char *addr = rpc_server_tcp_address(srv);
	assert_non_null(addr);
	assert_true(strncmp(addr, "127.0.0.1:", 10) == 0);
	assert_int_equal((unsigned)atoi(addr + 10), rpc_server_tcp_port(srv));
}

static void test_expect_continue(void **state)
{
	struct client c = client_unix();
	struct response r;
	const char body[] = XML_CALL("test.echo", "<param><value>big</value></param>");
	char head[256];
	int n = snprintf(head, sizeof(head), "POST /RPC2 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
			 "Content-Length: %zu\r\n\r\n", sizeof(body) - 1);
	assert_int_equal(send_all(&c, head, (size_t)n), 0);
	assert_int_equal(read_response(&c, &r), 0);
	assert_int_equal(r.status, 100);
	response_free(&r);
	assert_int_equal(send_all(&c, body, sizeof(body) - 1), 0);
	assert_int_equal(read_response(&c, &r), 0);
	assert_xml_reply(&r, XML_OK("<value><array><data><value>big</value></data></array></value>"));
	response_free(&r);
	client_close(&c);
}

/* Stopping does not wait for idle keep-alive connections: they are closed. */
static void test_stop_with_idle_connections(void **state)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/idle.sock", tmpdir);
	XC_AUTOERROR err = XC_ERROR_INIT;
	struct rpc_server *s2 = start(path, NULL, &err);
	assert_non_null(s2);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	struct client c = { .fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), .in = BUF_INIT };
	assert_int_equal(connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct response r;
	post(&c, "/", "text/xml", XML_CALL("test.echo", ""), &r);
	response_free(&r);
	rpc_server_stop(s2);
	assert_true(fill(&c) <= 0); /* closed by the server */
	client_close(&c);
	struct stat st;
	assert_int_equal(stat(path, &st), -1);
}

/* A restart in place: replies in progress go out, the listening sockets
 * change hands, and a connection made meanwhile is served by the next
 * server. */
static void test_handover(void **state)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/handover.sock", tmpdir);
	XC_AUTOERROR err = XC_ERROR_INIT;
	struct rpc_server_opts o = { .socket_path = path, .listen = "127.0.0.1:0", .call = fake_call,
				     .cookie = (void *)&fake_methods };
	struct rpc_server *s2 = rpc_server_start(&o, &err);
	assert_non_null(s2);
	unsigned port = rpc_server_tcp_port(s2);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);

	fake_released = false;
	struct client a = { .fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), .in = BUF_INIT };
	assert_int_equal(connect(a.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	send_post(&a, "/", "text/xml", XML_CALL("test.block", ""));
	pthread_mutex_lock(&fake_mu);
	while (fake_blocked == 0)
		pthread_cond_wait(&fake_cv, &fake_mu);
	pthread_mutex_unlock(&fake_mu);
	assert_false(rpc_server_quiesce(s2, 50)); /* a's call is still running */
	pthread_mutex_lock(&fake_mu);
	fake_released = true;
	pthread_cond_broadcast(&fake_cv);
	pthread_mutex_unlock(&fake_mu);
	assert_true(rpc_server_quiesce(s2, 10000));
	struct response r;
	assert_int_equal(read_response(&a, &r), 0); /* sent before quiesce returned */
	assert_xml_reply(&r, XML_OK("<value>released</value>"));
	response_free(&r);

	/* Nobody accepts now: a new connection waits in the backlog. */
	struct client b = { .fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), .in = BUF_INIT };
	assert_int_equal(connect(b.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	send_post(&b, "/", "text/xml", XML_CALL("test.echo", ""));
	int ufd, tfd;
	rpc_server_release_listeners(s2, &ufd, &tfd);
	assert_true(ufd >= 0 && tfd >= 0);
	rpc_server_stop(s2);
	struct stat st;
	assert_int_equal(stat(path, &st), 0); /* the socket file stays with the sockets */
	assert_true(fill(&a) <= 0);            /* open connections are closed */
	client_close(&a);

	/* Something that is not a listening socket is refused (and closed). */
	int notsock = open("/dev/null", O_RDONLY | O_CLOEXEC);
	o.inherit = true;
	o.unix_fd = notsock;
	o.tcp_fd = -1;
	assert_null(rpc_server_start(&o, &err));
	assert_non_null(strstr(err.params[0], "not a listening unix socket"));
	assert_int_equal(fcntl(notsock, F_GETFD), -1);

	o.unix_fd = ufd;
	o.tcp_fd = tfd;
	struct rpc_server *s3 = rpc_server_start(&o, &err);
	assert_non_null(s3);
	assert_int_equal(rpc_server_tcp_port(s3), port);
	assert_true(fcntl(ufd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(read_response(&b, &r), 0); /* b waited for the new server */
	assert_xml_reply(&r, XML_OK("<value><array><data></data></array></value>"));
	response_free(&r);
	client_close(&b);
	rpc_server_stop(s3);
	assert_int_equal(stat(path, &st), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_page),
		cmocka_unit_test(test_handover),
		cmocka_unit_test(test_xmlrpc_keepalive),
		cmocka_unit_test(test_routing),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_list_methods_bare),
		cmocka_unit_test(test_malformed_bodies),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_other_methods),
		cmocka_unit_test(test_garbage_request),
		cmocka_unit_test(test_http10_closes),
		cmocka_unit_test(test_lazy_results_stream),
		cmocka_unit_test(test_lazy_http10),
		cmocka_unit_test(test_lazy_failures),
		cmocka_unit_test(test_stalled_stream_is_dropped),
		cmocka_unit_test(test_trust),
		cmocka_unit_test(test_blocking_call_blocks_only_itself),
		cmocka_unit_test(test_socket_file),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_stop_with_idle_connections),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
