/* bench/xmlrpc_client: the load generator of `make bench` for xcon.
 *
 * A minimal HTTP/1.1 keep-alive XML-RPC client (one socket per connection,
 * TCP_NODELAY, requests built once, replies framed by Content-Length (or
 * chunked, as the engine streams a big get_all_records) and read in full but not parsed beyond what a mode needs).  Logins go over the
 * engine's unix socket (trusted, any password); the session refs are then
 * used over TCP, where the measured traffic runs.
 *
 *   xmlrpc_client -u SOCK -t HOST:PORT [-p SERVER_PID] MODE ARGS...
 *
 *   create N CONNS PREFIX MEM_BYTES REFS_FILE
 *                        VM.create N minimal VMs named PREFIX-<i> from CONNS
 *                        connections in parallel; appends their refs to REFS_FILE
 *   get REFS_FILE CONNS WARM_S SECS
 *                        VM.get_record of one VM in a loop on each of CONNS
 *                        connections; calls/s and CPU us per call
 *   getall COUNT [from]  VM.get_all_records COUNT times (after one warm-up) on
 *                        one connection; latency median/p95, reply size; with
 *                        "from", event.from(["*"], "", 0) instead (a client's
 *                        first call after connecting)
 *   events REFS_FILE SAMPLES
 *   wakeup SAMPLES            (no engine: the box's timer wake-up lateness)
 *   transfer BYTES COUNT      (no engine: BYTES over loopback TCP, COUNT times)
 *                        event.next (after event.register ["vm"]) blocked on
 *                        one connection, event.from(["vm"], token, 30.0) on
 *                        another; a third sets name_description SAMPLES times
 *                        and times until each blocked call returns the event
 *   cycle REFS_FILE N CONNS SECS
 *                        Async.VM.start then Async.VM.hard_shutdown of the
 *                        first N VMs of REFS_FILE from CONNS connections,
 *                        polling task.get_status; completed cycles/s
 *
 * Every result is one line "RESULT <mode> key=value ..." on stdout, which
 * bench/run reads; problems go to stderr and give exit status 1.  Every loop
 * is bounded by a count and a deadline; every socket has a receive timeout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define REF_LEN 46 /* "OpaqueRef:" + 36 */
#define RECV_TIMEOUT_S 60

static const char *opt_unix;
static const char *opt_tcp_host = "127.0.0.1";
static const char *opt_tcp_port;
static long opt_server_pid;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;
	fputs("xmlrpc_client: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		die("out of memory");
	return p;
}

/* ---------------------------------------------------------------- CPU use */

struct cpu_mark {
	double t, cli, srv;
};

static struct cpu_mark cpu_mark(void)
{
	struct cpu_mark m = { now_s(), proc_cpu_us(getpid()), proc_cpu_us(opt_server_pid) };
	return m;
}

/* ------------------------------------------------------------ connections */

struct conn {
	int fd;
	char *buf;
	size_t cap, len;   /* bytes held in buf */
	size_t consumed;   /* bytes of buf taken by the last reply */
	const char *body;  /* last reply body (inside buf) */
	size_t body_len;
};

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		die("socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		die("connect %s: %s", path, strerror(errno));
	return fd;
}

static int connect_tcp(void)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
	int rc = getaddrinfo(opt_tcp_host, opt_tcp_port, &hints, &ai);
	if (rc != 0)
		die("%s:%s: %s", opt_tcp_host, opt_tcp_port, gai_strerror(rc));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		die("connect %s:%s: %s", opt_tcp_host, opt_tcp_port, strerror(errno));
	freeaddrinfo(ai);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static void conn_init(struct conn *c, bool unix_socket)
{
	memset(c, 0, sizeof *c);
	c->fd = unix_socket ? connect_unix(opt_unix) : connect_tcp();
	struct timeval tv = { RECV_TIMEOUT_S, 0 };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	c->cap = 64 * 1024;
	c->buf = xmalloc(c->cap + 1);
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
}

static void send_all(struct conn *c, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("send: %s", w < 0 ? strerror(errno) : "closed");
		p += w;
		n -= (size_t)w;
	}
}

static void fill(struct conn *c, size_t want)
{
	if (want > c->cap) {
		size_t cap = c->cap;
		while (cap < want)
			cap *= 2;
		c->buf = xrealloc(c->buf, cap + 1);
		c->cap = cap;
	}
	while (c->len < want) {
		size_t room = c->cap - c->len;
		ssize_t r = recv(c->fd, c->buf + c->len, room, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("recv: %s", errno == EAGAIN ? "timed out" : strerror(errno));
		if (r == 0)
			die("connection closed by the server");
		c->len += (size_t)r;
	}
}

/* The offset of the CRLF ending the line at off, reading as needed. */
static size_t line_end(struct conn *c, size_t off)
{
	for (;;) {
		c->buf[c->len] = 0;
		char *e = c->len > off ? strstr(c->buf + off, "\r\n") : NULL;
		if (e)
			return (size_t)(e - c->buf);
		if (c->len - off > 64)
			die("bad chunk header");
		fill(c, c->len + 1);
	}
}

/* A chunked body from hlen on, joined in place. */
static void read_chunked(struct conn *c, size_t hlen)
{
	size_t w = hlen, r = hlen;
	for (;;) {
		size_t e = line_end(c, r);
		char *end;
		unsigned long long n = strtoull(c->buf + r, &end, 16);
		if (end == c->buf + r)
			die("bad chunk size");
		r = e + 2;
		if (n == 0) {
			e = line_end(c, r); /* no trailers: the empty line */
			if (e != r)
				die("chunk trailers");
			r += 2;
			break;
		}
		fill(c, r + n + 2);
		memmove(c->buf + w, c->buf + r, n);
		w += n;
		r += n + 2;
	}
	if (c->len != r)
		die("unexpected bytes after a reply");
	c->body = c->buf + hlen;
	c->body_len = w - hlen;
	c->buf[w] = 0;
	c->consumed = c->len;
}

/* Reads one reply; c->body/c->body_len point at its body (NUL-terminated). */
static void read_reply(struct conn *c)
{
	/* drop the previous reply */
	if (c->consumed) {
		memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
		c->len -= c->consumed;
		c->consumed = 0;
	}
	char *eoh = NULL;
	for (int i = 0; i < 1000 && !eoh; i++) {
		c->buf[c->len] = 0;
		eoh = strstr(c->buf, "\r\n\r\n");
		if (!eoh) {
			if (c->len >= c->cap)
				die("reply headers too long");
			fill(c, c->len + 1);
		}
	}
	if (!eoh)
		die("no end of reply headers");
	size_t hlen = (size_t)(eoh - c->buf) + 4;
	if (strncmp(c->buf, "HTTP/1.1 200", 12) != 0 && strncmp(c->buf, "HTTP/1.0 200", 12) != 0)
		die("unexpected reply: %.80s", c->buf);
	const char *te = strcasestr(c->buf, "\r\nTransfer-Encoding: chunked");
	if (te && te < eoh) {
		read_chunked(c, hlen);
		return;
	}
	const char *cl = strcasestr(c->buf, "\r\nContent-Length:");
	if (!cl || cl > eoh)
		die("reply without Content-Length");
	size_t blen = strtoull(cl + 17, NULL, 10);
	fill(c, hlen + blen);
	c->body = c->buf + hlen;
	c->body_len = blen;
	c->consumed = hlen + blen;
	/* a NUL after the body for the string searches; the byte it overwrites
	 * (if any: we never pipeline) is restored by nobody, so keep it safe */
	if (c->len == c->consumed)
		c->buf[c->len] = 0;
	else
		die("unexpected bytes after a reply");
}

static bool reply_ok(const struct conn *c)
{
	size_t n = c->body_len < 200 ? c->body_len : 200;
	return memmem(c->body, n, "<value>Success</value>", 22) != NULL;
}

/* The text of the Value member of a Success reply when it is a plain string
 * ("<name>Value</name><value>TEXT</value>"), copied into out. */
static bool reply_string(const struct conn *c, char *out, size_t outsz)
{
	const char *p = strstr(c->body, "<name>Value</name><value>");
	if (!p)
		return false;
	p += 25;
	if (strncmp(p, "<string>", 8) == 0)
		p += 8;
	const char *e = strchr(p, '<');
	if (!e || (size_t)(e - p) >= outsz)
		return false;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = 0;
	return true;
}

static const char *reply_error(const struct conn *c)
{
	static _Thread_local char msg[400];
	const char *p = strstr(c->body, "ErrorDescription");
	snprintf(msg, sizeof msg, "%.380s", p ? p : c->body);
	return msg;
}

/* ----------------------------------------------------------------- calls */

struct req {
	char *data;
	size_t len;
};

/* A whole HTTP request for method(params...), each param an XML <value>. */
static struct req build_call(const char *method, int nparams, ...)
{
	size_t cap = 1024, blen = 0;
	char *body = xmalloc(cap);
	va_list ap;
	va_start(ap, nparams);
	blen += (size_t)snprintf(body, cap, "<?xml version=\"1.0\"?><methodCall><methodName>%s</methodName><params>",
				 method);
	for (int i = 0; i < nparams; i++) {
		const char *v = va_arg(ap, const char *);
		size_t need = blen + strlen(v) + 64;
		if (need > cap) {
			cap = need * 2;
			body = xrealloc(body, cap);
		}
		blen += (size_t)snprintf(body + blen, cap - blen, "<param>%s</param>", v);
	}
	va_end(ap);
	if (blen + 64 > cap)
		body = xrealloc(body, cap = blen + 64);
	blen += (size_t)snprintf(body + blen, cap - blen, "</params></methodCall>");
	struct req r;
	r.data = xmalloc(blen + 256);
	r.len = (size_t)snprintf(r.data, blen + 256,
				 "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: text/xml\r\nContent-Length: %zu\r\n\r\n",
				 opt_tcp_host, blen);
	memcpy(r.data + r.len, body, blen);
	r.len += blen;
	free(body);
	return r;
}

static void call(struct conn *c, const struct req *r)
{
	send_all(c, r->data, r->len);
	read_reply(c);
}

static char *strv(const char *s)
{
	char *out;
	if (asprintf(&out, "<value>%s</value>", s) < 0)
		die("out of memory");
	return out;
}

/* A session over the unix socket (trusted: any password). */
static void login(char out[REF_LEN + 1])
{
	struct conn c;
	conn_init(&c, true);
	struct req r = build_call("session.login_with_password", 2, "<value>root</value>", "<value>bench</value>");
	call(&c, &r);
	if (!reply_ok(&c) || !reply_string(&c, out, REF_LEN + 1))
		die("login failed: %s", reply_error(&c));
	free(r.data);
	conn_close(&c);
}

static char **read_refs(const char *file, size_t *n)
{
	FILE *f = fopen(file, "r");
	if (!f)
		die("%s: %s", file, strerror(errno));
	size_t cap = 1024, k = 0;
	char **v = xmalloc(cap * sizeof *v);
	char line[128];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (strncmp(line, "OpaqueRef:", 10) != 0)
			continue;
		if (k == cap)
			v = xrealloc(v, (cap *= 2) * sizeof *v);
		v[k++] = strdup(line);
	}
	fclose(f);
	*n = k;
	if (!k)
		die("%s: no refs", file);
	return v;
}

/* ---------------------------------------------------------------- create */

struct create_job {
	pthread_t th;
	const char *session, *prefix, *mem;
	long from, to;  /* names prefix-from .. prefix-(to-1) */
	char **refs;    /* out, to-from entries */
};

static void *create_main(void *arg)
{
	struct create_job *j = arg;
	struct conn c;
	conn_init(&c, false);
	char *sv = strv(j->session);
	for (long i = j->from; i < j->to; i++) {
		char rec[1024];
		snprintf(rec, sizeof rec,
			 "<value><struct>"
			 "<member><name>name_label</name><value>%s-%ld</value></member>"
			 "<member><name>memory_static_max</name><value>%s</value></member>"
			 "<member><name>memory_dynamic_max</name><value>%s</value></member>"
			 "<member><name>memory_dynamic_min</name><value>%s</value></member>"
			 "<member><name>memory_static_min</name><value>%s</value></member>"
			 "<member><name>VCPUs_max</name><value>1</value></member>"
			 "<member><name>VCPUs_at_startup</name><value>1</value></member>"
			 "</struct></value>",
			 j->prefix, i, j->mem, j->mem, j->mem, j->mem);
		struct req r = build_call("VM.create", 2, sv, rec);
		call(&c, &r);
		free(r.data);
		char ref[REF_LEN + 1];
		if (!reply_ok(&c) || !reply_string(&c, ref, sizeof ref))
			die("VM.create %s-%ld: %s", j->prefix, i, reply_error(&c));
		j->refs[i - j->from] = strdup(ref);
	}
	free(sv);
	conn_close(&c);
	return NULL;
}

static int mode_create(int argc, char **argv)
{
	if (argc != 5)
		die("usage: create N CONNS PREFIX MEM_BYTES REFS_FILE");
	long n = atol(argv[0]), conns = atol(argv[1]);
	if (n < 1 || n > 1000000 || conns < 1 || conns > 64)
		die("create: bad N or CONNS");
	char session[REF_LEN + 1];
	login(session);
	struct create_job *jobs = calloc((size_t)conns, sizeof *jobs);
	double t0 = now_s();
	for (long k = 0; k < conns; k++) {
		struct create_job *j = &jobs[k];
		j->session = session;
		j->prefix = argv[2];
		j->mem = argv[3];
		j->from = n * k / conns;
		j->to = n * (k + 1) / conns;
		j->refs = xmalloc((size_t)(j->to - j->from + 1) * sizeof *j->refs);
		pthread_create(&j->th, NULL, create_main, j);
	}
	for (long k = 0; k < conns; k++)
		pthread_join(jobs[k].th, NULL);
	double dt = now_s() - t0;
	FILE *f = fopen(argv[4], "a");
	if (!f)
		die("%s: %s", argv[4], strerror(errno));
	for (long k = 0; k < conns; k++)
		for (long i = 0; i < jobs[k].to - jobs[k].from; i++)
			fprintf(f, "%s\n", jobs[k].refs[i]);
	fclose(f);
	printf("RESULT create n=%ld conns=%ld secs=%.3f rate=%.0f\n", n, conns, dt, (double)n / dt);
	return 0;
}

/* ------------------------------------------------------------------- get */

static atomic_bool stop_flag;

struct get_job {
	pthread_t th;
	const char *session, *vm;
	atomic_ulong calls;
	atomic_ulong failures;
	size_t reply_bytes;
};

static void *get_main(void *arg)
{
	struct get_job *j = arg;
	struct conn c;
	conn_init(&c, false);
	char *sv = strv(j->session), *vv = strv(j->vm);
	struct req r = build_call("VM.get_record", 2, sv, vv);
	/* bounded: stop_flag, or 10 million calls */
	for (unsigned long i = 0; i < 10000000 && !atomic_load_explicit(&stop_flag, memory_order_relaxed); i++) {
		call(&c, &r);
		if (!reply_ok(&c)) {
			if (atomic_fetch_add(&j->failures, 1) == 0)
				fprintf(stderr, "xmlrpc_client: VM.get_record failed: %s\n", reply_error(&c));
		}
		j->reply_bytes = c.body_len;
		atomic_fetch_add_explicit(&j->calls, 1, memory_order_relaxed);
	}
	free(r.data);
	free(sv);
	free(vv);
	conn_close(&c);
	return NULL;
}

static int mode_get(int argc, char **argv)
{
	if (argc != 4)
		die("usage: get REFS_FILE CONNS WARM_S SECS");
	size_t nrefs;
	char **refs = read_refs(argv[0], &nrefs);
	long conns = atol(argv[1]);
	double warm = atof(argv[2]), secs = atof(argv[3]);
	if (conns < 1 || conns > 64 || warm < 0 || warm > 60 || secs <= 0 || secs > 120)
		die("get: bad CONNS, WARM_S or SECS");
	char session[REF_LEN + 1];
	login(session);
	struct get_job *jobs = calloc((size_t)conns, sizeof *jobs);
	for (long k = 0; k < conns; k++) {
		jobs[k].session = session;
		jobs[k].vm = refs[(size_t)k % nrefs];
		pthread_create(&jobs[k].th, NULL, get_main, &jobs[k]);
	}
	sleep_s(warm);
	struct counters all = { jobs, sizeof *jobs, offsetof(struct get_job, calls), conns };
	unsigned long c0 = counters_sum(&all);
	struct cpu_mark m0 = cpu_mark();
	double wrate[WINDOWS];
	rate_windows(secs, m0.t, c0, &all, wrate);
	struct cpu_mark m1 = cpu_mark();
	unsigned long c1 = counters_sum(&all);
	atomic_store(&stop_flag, true);
	unsigned long fails = 0, total = 0;
	for (long k = 0; k < conns; k++) {
		pthread_join(jobs[k].th, NULL);
		fails += atomic_load(&jobs[k].failures);
		total += atomic_load(&jobs[k].calls);
	}
	double calls = (double)(c1 - c0), dt = m1.t - m0.t;
	if (calls < 1)
		die("get: no call completed in the window");
	printf("RESULT get conns=%ld calls=%.0f secs=%.3f rate=%.0f rate_min=%.0f rate_max=%.0f rate_all=%.0f cli_us=%.1f "
	       "srv_us=%.1f reply_bytes=%zu failures=%lu total_calls=%lu\n",
	       conns, calls, dt, wrate[WINDOWS / 2], wrate[0], wrate[WINDOWS - 1], calls / dt, (m1.cli - m0.cli) / calls,
	       m0.srv >= 0 ? (m1.srv - m0.srv) / calls : -1.0, jobs[0].reply_bytes, fails, total);
	return fails ? 1 : 0;
}

/* ---------------------------------------------------------------- getall */

static int mode_getall(int argc, char **argv)
{
	if (argc != 1 && !(argc == 2 && strcmp(argv[1], "from") == 0))
		die("usage: getall COUNT [from]");
	long count = atol(argv[0]);
	if (count < 1 || count > 1000)
		die("getall: bad COUNT");
	/* "from": what XenCenter and Xen Orchestra call on connect instead */
	bool from = argc == 2;
	const char *what = from ? "event.from" : "VM.get_all_records";
	char session[REF_LEN + 1];
	login(session);
	struct conn c;
	conn_init(&c, false);
	char *sv = strv(session);
	struct req r = from ? build_call("event.from", 4, sv,
					 "<value><array><data><value>*</value></data></array></value>",
					 "<value></value>", "<value><double>0</double></value>")
			    : build_call("VM.get_all_records", 1, sv);
	call(&c, &r); /* warm-up */
	if (!reply_ok(&c))
		die("%s: %s", what, reply_error(&c));
	double *lat = xmalloc((size_t)count * sizeof *lat);
	struct cpu_mark m0 = cpu_mark();
	long done = 0;
	/* bounded: COUNT calls, but no more than 45 s once 3 are in */
	for (long i = 0; i < count && (i < 3 || now_s() - m0.t < 45); i++) {
		double t0 = now_s();
		call(&c, &r);
		lat[i] = (now_s() - t0) * 1e3;
		if (!reply_ok(&c))
			die("%s: %s", what, reply_error(&c));
		done++;
	}
	struct cpu_mark m1 = cpu_mark();
	count = done;
	/* how many records: the VM refs as struct keys, or the snapshots */
	const char *mark = from ? "<member><name>snapshot</name>" : "<member><name>OpaqueRef:";
	size_t records = 0;
	for (const char *p = c.body; (p = strstr(p, mark)) != NULL; p += strlen(mark))
		records++;
	qsort(lat, (size_t)count, sizeof *lat, cmp_double);
	printf("RESULT %s count=%ld records=%zu bytes=%zu p50_ms=%.1f p95_ms=%.1f min_ms=%.1f max_ms=%.1f "
	       "cli_us=%.0f srv_us=%.0f\n",
	       from ? "getall_from" : "getall", count, records, c.body_len, pct(lat, (size_t)count, 50), pct(lat, (size_t)count, 95), lat[0],
	       lat[count - 1], (m1.cli - m0.cli) / (double)count,
	       m0.srv >= 0 ? (m1.srv - m0.srv) / (double)count : -1.0);
	free(r.data);
	free(sv);
	conn_close(&c);
	return 0;
}

/* ---------------------------------------------------------------- wakeup */

/* The box's own floor for any latency: how late a thread that sleeps 0.5 ms
 * wakes up, with no engine involved.  On a shared VM the tail comes from the
 * hypervisor and the neighbours (it stays under SCHED_FIFO), and no event
 * path can beat it. */
static int mode_wakeup(int argc, char **argv)
{
	if (argc != 1)
		die("usage: wakeup SAMPLES");
	long n = atol(argv[0]);
	if (n < 1 || n > 1000000)
		die("wakeup: bad SAMPLES");
	double *late = calloc((size_t)n, sizeof(double));
	long over = 0;
	for (long i = 0; i < n; i++) {
		double t = now_s();
		sleep_s(0.0005);
		late[i] = (now_s() - t) * 1e3 - 0.5;
		over += late[i] > 2.0;
	}
	qsort(late, (size_t)n, sizeof(double), cmp_double);
	printf("RESULT wakeup samples=%ld late_p50_ms=%.3f late_p90_ms=%.3f late_p99_ms=%.3f late_max_ms=%.3f over_2ms=%ld\n",
	       n, pct(late, (size_t)n, 50), pct(late, (size_t)n, 90), pct(late, (size_t)n, 99), late[n - 1], over);
	free(late);
	return 0;
}

/* A loopback TCP transfer of a reply's size with no engine: a sender and a
 * receiver thread, buffers allocated and touched once, the receiver reading
 * 1 MB at a time as the bench client does.  The box's own floor under
 * get_all_records. */
struct xfer {
	int fd;
	size_t bytes;
	char *buf;
};

static void *xfer_recv(void *arg)
{
	struct xfer *x = arg;
	size_t got = 0;
	while (got < x->bytes) {
		ssize_t r = recv(x->fd, x->buf, 1 << 20, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("transfer: recv: %s", r < 0 ? strerror(errno) : "closed");
		got += (size_t)r;
	}
	return NULL;
}

static int mode_transfer(int argc, char **argv)
{
	if (argc != 2)
		die("usage: transfer BYTES COUNT");
	size_t bytes = strtoull(argv[0], NULL, 10);
	long n = atol(argv[1]);
	if (bytes < 1 || n < 1 || n > 10000)
		die("transfer: bad BYTES or COUNT");
	char *out = malloc(bytes), *in = malloc(1 << 20);
	memset(out, 'x', bytes);
	memset(in, 0, 1 << 20);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sa;
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 1) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) < 0)
		die("transfer: listen: %s", strerror(errno));
	double *ms = calloc((size_t)n, sizeof(double));
	for (long i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof sa) < 0)
			die("transfer: connect: %s", strerror(errno));
		struct xfer x = { accept(ls, NULL, NULL), bytes, in };
		if (x.fd < 0)
			die("transfer: accept: %s", strerror(errno));
		struct timeval tv = { 30, 0 };
		setsockopt(x.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		pthread_t th;
		double t = now_s();
		pthread_create(&th, NULL, xfer_recv, &x);
		for (size_t off = 0; off < bytes;) {
			ssize_t w = send(c, out + off, bytes - off, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				die("transfer: send: %s", strerror(errno));
			off += (size_t)w;
		}
		pthread_join(th, NULL);
		ms[i] = (now_s() - t) * 1e3;
		close(c);
		close(x.fd);
	}
	close(ls);
	qsort(ms, (size_t)n, sizeof(double), cmp_double);
	printf("RESULT transfer bytes=%zu count=%ld p50_ms=%.1f p95_ms=%.1f min_ms=%.1f max_ms=%.1f\n", bytes, n,
	       pct(ms, (size_t)n, 50), pct(ms, (size_t)n, 95), ms[0], ms[n - 1]);
	free(ms);
	free(out);
	free(in);
	return 0;
}

/* ---------------------------------------------------------------- events */

#define MARK "xcbench-ev-"

struct ev_waiter {
	pthread_t th;
	bool use_from;          /* event.from, else event.register + event.next */
	char session[REF_LEN + 1];
	long samples;
	double *seen_at;        /* per sample: when the call that returned it came back */
	atomic_long last_seen;  /* highest sample index seen so far, -1 none */
	atomic_bool ready;      /* registered / has a token: the first change may go */
	unsigned long calls;
};

/* Largest sample number in a reply's marks, or -1. */
static long max_mark(const char *body)
{
	long best = -1;
	for (const char *p = body; (p = strstr(p, MARK)) != NULL;) {
		p += sizeof MARK - 1;
		long v = strtol(p, NULL, 10);
		if (v > best)
			best = v;
	}
	return best;
}

static void *ev_main(void *arg)
{
	struct ev_waiter *w = arg;
	struct conn c;
	conn_init(&c, false);
	char *sv = strv(w->session);
	const char *classes = "<value><array><data><value>vm</value></data></array></value>";
	char token[256] = "";
	struct req next = { 0 };
	if (w->use_from) {
		/* a token for "now": event.from with "" returns every current object
		 * of the classes, so ask for the one pool (tokens are global) */
		struct req r = build_call("event.from", 4, sv, "<value><array><data><value>pool</value></data></array></value>",
					  "<value></value>", "<value><double>0</double></value>");
		call(&c, &r);
		free(r.data);
		if (!reply_ok(&c))
			die("event.from: %s", reply_error(&c));
	} else {
		struct req r = build_call("event.register", 2, sv, classes);
		call(&c, &r);
		free(r.data);
		if (!reply_ok(&c))
			die("event.register: %s", reply_error(&c));
		next = build_call("event.next", 1, sv);
	}
	atomic_store(&w->ready, true);
	double deadline = now_s() + 180;
	while (atomic_load(&w->last_seen) < w->samples - 1 && !atomic_load(&stop_flag) && now_s() < deadline) {
		if (w->use_from) {
			const char *t = strstr(c.body, "<name>token</name><value>");
			if (!t)
				die("event.from reply without a token");
			t += 25;
			size_t n = strcspn(t, "<");
			if (n >= sizeof token)
				die("token too long");
			memcpy(token, t, n);
			token[n] = 0;
			char tv[300];
			snprintf(tv, sizeof tv, "<value>%s</value>", token);
			struct req r = build_call("event.from", 4, sv, classes, tv, "<value><double>30.0</double></value>");
			call(&c, &r);
			free(r.data);
		} else {
			call(&c, &next);
		}
		double t = now_s();
		w->calls++;
		if (!reply_ok(&c))
			die("%s: %s", w->use_from ? "event.from" : "event.next", reply_error(&c));
		long m = max_mark(c.body);
		long prev = atomic_load(&w->last_seen);
		if (m > prev && m < w->samples) {
			for (long i = prev + 1; i <= m; i++)
				w->seen_at[i] = t;
			atomic_store(&w->last_seen, m);
		}
	}
	free(next.data);
	free(sv);
	conn_close(&c);
	return NULL;
}

static int mode_events(int argc, char **argv)
{
	if (argc != 2)
		die("usage: events REFS_FILE SAMPLES");
	size_t nrefs;
	char **refs = read_refs(argv[0], &nrefs);
	long samples = atol(argv[1]);
	if (samples < 1 || samples > 100000)
		die("events: bad SAMPLES");
	struct ev_waiter w[2];
	memset(w, 0, sizeof w);
	for (int k = 0; k < 2; k++) {
		w[k].use_from = k == 1;
		w[k].samples = samples;
		w[k].seen_at = calloc((size_t)samples, sizeof(double));
		atomic_store(&w[k].last_seen, -1);
		login(w[k].session);
		pthread_create(&w[k].th, NULL, ev_main, &w[k]);
	}
	for (int i = 0; i < 500 && !(atomic_load(&w[0].ready) && atomic_load(&w[1].ready)); i++)
		sleep_s(0.01);
	if (!(atomic_load(&w[0].ready) && atomic_load(&w[1].ready)))
		die("events: the waiters did not start");
	sleep_s(0.3); /* let both blocking calls reach the engine */
	char session[REF_LEN + 1];
	login(session);
	struct conn c;
	conn_init(&c, false);
	char *sv = strv(session), *vv = strv(refs[0]);
	double *sent = calloc((size_t)samples, sizeof(double));
	double *acked = calloc((size_t)samples, sizeof(double));
	double *lat[2] = { calloc((size_t)samples, sizeof(double)), calloc((size_t)samples, sizeof(double)) };
	double *setl = calloc((size_t)samples, sizeof(double));
	long done = 0, lost = 0;
	unsigned seed = (unsigned)getpid();
	double give_up = now_s() + 120; /* the whole run, however slow the box */
	for (long i = 0; i < samples && now_s() < give_up; i++) {
		char desc[128];
		snprintf(desc, sizeof desc, "<value>" MARK "%ld</value>", i);
		struct req r = build_call("VM.set_name_description", 3, sv, vv, desc);
		sent[i] = now_s();
		call(&c, &r);
		acked[i] = now_s();
		free(r.data);
		if (!reply_ok(&c))
			die("VM.set_name_description: %s", reply_error(&c));
		/* wait (bounded) for both blocked calls to return this change */
		double deadline = acked[i] + 5.0;
		while ((atomic_load(&w[0].last_seen) < i || atomic_load(&w[1].last_seen) < i) && now_s() < deadline)
			sleep_s(0.00005);
		if (atomic_load(&w[0].last_seen) < i || atomic_load(&w[1].last_seen) < i) {
			lost++;
			fprintf(stderr, "xmlrpc_client: sample %ld: no event within 5 s (next %ld, from %ld)\n", i,
				atomic_load(&w[0].last_seen), atomic_load(&w[1].last_seen));
			if (lost > 3)
				break;
			continue;
		}
		done++;
		/* a short random pause so the blocked calls are back in the engine */
		sleep_s(0.0005 + (double)(rand_r(&seed) % 1000) / 1e6);
	}
	atomic_store(&stop_flag, true);
	/* wake the waiters: one more change, then they see stop_flag */
	{
		char desc[128];
		snprintf(desc, sizeof desc, "<value>" MARK "%ld</value>", samples + 1);
		struct req r = build_call("VM.set_name_description", 3, sv, vv, desc);
		call(&c, &r);
		free(r.data);
	}
	for (int k = 0; k < 2; k++)
		pthread_join(w[k].th, NULL);
	long n = 0;
	for (long i = 0; i < samples; i++) {
		if (w[0].seen_at[i] == 0 || w[1].seen_at[i] == 0)
			continue;
		lat[0][n] = (w[0].seen_at[i] - sent[i]) * 1e3;
		lat[1][n] = (w[1].seen_at[i] - sent[i]) * 1e3;
		setl[n] = (acked[i] - sent[i]) * 1e3;
		n++;
	}
	if (n == 0)
		die("events: no sample completed");
	long over[2] = { 0, 0 };
	for (long i = 0; i < n; i++)
		for (int k = 0; k < 2; k++)
			over[k] += lat[k][i] > 2.0;
	for (int k = 0; k < 2; k++)
		qsort(lat[k], (size_t)n, sizeof(double), cmp_double);
	qsort(setl, (size_t)n, sizeof(double), cmp_double);
	printf("RESULT events samples=%ld lost=%ld next_p50_ms=%.3f next_p90_ms=%.3f next_p99_ms=%.3f next_max_ms=%.3f "
	       "next_over_2ms=%ld from_p50_ms=%.3f from_p90_ms=%.3f from_p99_ms=%.3f from_max_ms=%.3f from_over_2ms=%ld "
	       "set_p50_ms=%.3f set_p90_ms=%.3f set_p99_ms=%.3f next_calls=%lu from_calls=%lu\n",
	       n, lost, pct(lat[0], (size_t)n, 50), pct(lat[0], (size_t)n, 90), pct(lat[0], (size_t)n, 99),
	       lat[0][n - 1], over[0], pct(lat[1], (size_t)n, 50), pct(lat[1], (size_t)n, 90),
	       pct(lat[1], (size_t)n, 99), lat[1][n - 1], over[1], pct(setl, (size_t)n, 50), pct(setl, (size_t)n, 90),
	       pct(setl, (size_t)n, 99), w[0].calls, w[1].calls);
	free(sv);
	free(vv);
	conn_close(&c);
	return lost ? 1 : 0;
}

/* ----------------------------------------------------------------- cycle */

struct cycle_job {
	pthread_t th;
	const char *session;
	char **vms;
	size_t nvms;
	double deadline;
	unsigned long cycles, calls, failures;
	double busy_s; /* sum of cycle durations */
	char unsupported[512];
};

/* Runs one Async call and waits for its task; true on success. */
static bool run_task(struct cycle_job *j, struct conn *c, const struct req *r, const char *what, const char *sv)
{
	call(c, r);
	j->calls++;
	char task[REF_LEN + 1];
	if (!reply_ok(c) || !reply_string(c, task, sizeof task)) {
		snprintf(j->unsupported, sizeof j->unsupported, "%s: %s", what, reply_error(c));
		return false;
	}
	char *tv = strv(task);
	struct req st = build_call("task.get_status", 2, sv, tv);
	double wait = 0.00005, give_up = now_s() + 30;
	char status[64] = "pending";
	/* bounded: 30 s per task */
	while (now_s() < give_up) {
		call(c, &st);
		j->calls++;
		if (!reply_ok(c) || !reply_string(c, status, sizeof status))
			die("task.get_status: %s", reply_error(c));
		if (strcmp(status, "pending") != 0)
			break;
		sleep_s(wait);
		if (wait < 0.002)
			wait *= 2;
	}
	bool ok = strcmp(status, "success") == 0;
	if (!ok && j->failures++ < 3) {
		struct req ge = build_call("task.get_error_info", 2, sv, tv);
		call(c, &ge);
		fprintf(stderr, "xmlrpc_client: %s task %s: %.300s\n", what, status, c->body);
		free(ge.data);
	}
	struct req d = build_call("task.destroy", 2, sv, tv);
	call(c, &d);
	j->calls++;
	free(d.data);
	free(st.data);
	free(tv);
	return ok;
}

static void *cycle_main(void *arg)
{
	struct cycle_job *j = arg;
	struct conn c;
	conn_init(&c, false);
	char *sv = strv(j->session);
	struct req *start = xmalloc(j->nvms * sizeof *start), *stop = xmalloc(j->nvms * sizeof *stop);
	for (size_t i = 0; i < j->nvms; i++) {
		char *vv = strv(j->vms[i]);
		start[i] = build_call("Async.VM.start", 4, sv, vv, "<value><boolean>0</boolean></value>",
				      "<value><boolean>0</boolean></value>");
		stop[i] = build_call("Async.VM.hard_shutdown", 2, sv, vv);
		free(vv);
	}
	/* bounded: the deadline, or 10 million cycles */
	for (size_t k = 0; k < 10000000 && now_s() < j->deadline && !j->unsupported[0]; k++) {
		size_t i = k % j->nvms;
		double t0 = now_s();
		bool ok = run_task(j, &c, &start[i], "Async.VM.start", sv);
		if (j->unsupported[0])
			break;
		/* shut down even after a failed start, in case it half-happened */
		ok = run_task(j, &c, &stop[i], "Async.VM.hard_shutdown", sv) && ok;
		if (j->unsupported[0])
			break;
		if (ok) {
			j->cycles++;
			j->busy_s += now_s() - t0;
		}
		if (j->failures > 50)
			break;
	}
	for (size_t i = 0; i < j->nvms; i++) {
		free(start[i].data);
		free(stop[i].data);
	}
	free(start);
	free(stop);
	free(sv);
	conn_close(&c);
	return NULL;
}

static int mode_cycle(int argc, char **argv)
{
	if (argc != 4)
		die("usage: cycle REFS_FILE N CONNS SECS");
	size_t nrefs;
	char **refs = read_refs(argv[0], &nrefs);
	long n = atol(argv[1]), conns = atol(argv[2]);
	double secs = atof(argv[3]);
	if (n < 1 || (size_t)n > nrefs || conns < 1 || conns > 64 || conns > n || secs <= 0 || secs > 300)
		die("cycle: bad N, CONNS or SECS");
	char session[REF_LEN + 1];
	login(session);
	struct cycle_job *jobs = calloc((size_t)conns, sizeof *jobs);
	struct cpu_mark m0 = cpu_mark();
	double deadline = m0.t + secs;
	for (long k = 0; k < conns; k++) {
		struct cycle_job *j = &jobs[k];
		j->session = session;
		j->deadline = deadline;
		j->vms = xmalloc((size_t)n * sizeof *j->vms);
		for (long i = k; i < n; i += conns)
			j->vms[j->nvms++] = refs[i];
		pthread_create(&j->th, NULL, cycle_main, j);
	}
	unsigned long cycles = 0, calls = 0, failures = 0;
	double busy = 0;
	const char *unsupported = NULL;
	for (long k = 0; k < conns; k++) {
		pthread_join(jobs[k].th, NULL);
		cycles += jobs[k].cycles;
		calls += jobs[k].calls;
		failures += jobs[k].failures;
		busy += jobs[k].busy_s;
		if (jobs[k].unsupported[0] && !unsupported)
			unsupported = jobs[k].unsupported;
	}
	struct cpu_mark m1 = cpu_mark();
	double dt = m1.t - m0.t;
	if (unsupported && cycles == 0) {
		printf("RESULT cycle unsupported=1\n");
		fprintf(stderr, "xmlrpc_client: cycle: %s\n", unsupported);
		return 0;
	}
	printf("RESULT cycle conns=%ld vms=%ld cycles=%lu secs=%.3f rate=%.1f cycle_ms=%.2f calls_per_cycle=%.1f "
	       "srv_us_per_cycle=%.0f cli_us_per_cycle=%.0f failures=%lu\n",
	       conns, n, cycles, dt, (double)cycles / dt, cycles ? busy / (double)cycles * 1e3 : 0.0,
	       cycles ? (double)calls / (double)cycles : 0.0,
	       cycles && m0.srv >= 0 ? (m1.srv - m0.srv) / (double)cycles : -1.0,
	       cycles ? (m1.cli - m0.cli) / (double)cycles : -1.0, failures);
	return failures ? 1 : 0;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "u:t:p:")) != -1) {
		switch (c) {
		case 'u': opt_unix = optarg; break;
		case 't': {
			char *colon = strrchr(optarg, ':');
			if (!colon)
				die("-t HOST:PORT");
			*colon = 0;
			opt_tcp_host = optarg;
			opt_tcp_port = colon + 1;
			break;
		}
		case 'p': opt_server_pid = atol(optarg); break;
		default: die("usage: xmlrpc_client -u SOCK -t HOST:PORT [-p PID] MODE ARGS...");
		}
	}
	if (!opt_unix || !opt_tcp_port || optind >= argc)
		die("usage: xmlrpc_client -u SOCK -t HOST:PORT [-p PID] MODE ARGS...");
	const char *mode = argv[optind];
	int rest = argc - optind - 1;
	char **args = argv + optind + 1;
	if (strcmp(mode, "create") == 0)
		return mode_create(rest, args);
	if (strcmp(mode, "get") == 0)
		return mode_get(rest, args);
	if (strcmp(mode, "getall") == 0)
		return mode_getall(rest, args);
	if (strcmp(mode, "events") == 0)
		return mode_events(rest, args);
	if (strcmp(mode, "cycle") == 0)
		return mode_cycle(rest, args);
	if (strcmp(mode, "wakeup") == 0)
		return mode_wakeup(rest, args);
	if (strcmp(mode, "transfer") == 0)
		return mode_transfer(rest, args);
	die("unknown mode %s", mode);
}
